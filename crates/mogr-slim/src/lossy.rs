//! WebP, HEIF and AVIF: a quality search in the same format (animated WebP scored frame by
//! frame). A lossless WebP may come back lossy: the format stays WebP and the look stays
//! above the threshold.

use mogr_core::{Admitted, EncodeSettings, Error, FramePick, ImageFormat, Stop};

use crate::metric::FrameReferences;
use crate::pace::Pace;
use crate::search::{Plan, Search};
use crate::{Found, Searched};

/// Quality range searched, and the start.
const Q_RANGE: (f32, f32) = (5.0, 98.0);

/// Decodes the input (errors are the input's), then searches.
pub(crate) fn slim(
    input: &[u8],
    admitted: &Admitted,
    threshold: f64,
    stop: &Stop,
) -> Result<Searched, Error> {
    let format = admitted.probe().format;
    // Oriented: the candidates carry no EXIF block, so their pixels hold the orientation.
    let raster = mogr_core::decode(input, admitted, FramePick::All, true)?;
    let references = match FrameReferences::new(&raster) {
        Ok(r) => r,
        Err(e) => return Ok(Searched::Failed(e)),
    };
    let (start, evals) = match format {
        ImageFormat::Webp => (75.0, 7),
        // HEIF and AVIF encodes are slow: fewer, and from a lower start (their scale is
        // steeper at the low end).
        _ => (60.0, 5),
    };
    let mut found = Found::new(threshold);
    let plan = Plan {
        lo: Q_RANGE.0,
        hi: Q_RANGE.1,
        start,
        slope: 0.7,
        x_tolerance: 1.0,
        max_evals: evals,
    };
    let mut s = Search::new(plan, threshold);
    // HEIF and AVIF encodes cannot be stopped part way: an encode that would end past the
    // deadline, judged by the one before, is not started.
    let pace = Pace::default();
    let result = (|| {
        while let Some(x) = s.next() {
            let q = x.round() as u8;
            let (bytes, score) = pace.step(stop, || {
                let settings = EncodeSettings::default().with_quality(q);
                let bytes = mogr_core::encode(&raster, format, settings, stop)?;
                let decoded = crate::decode_candidate(&bytes)?;
                Ok((bytes, references.score(&decoded)?))
            })?;
            found.encodes += 1;
            s.record(f32::from(q), score);
            found.offer(bytes, score);
        }
        Ok(())
    })();
    Ok(result.map(|()| found).into())
}
