//! WebP, HEIF and AVIF: a quality search in the same format (animated WebP scored frame by
//! frame). A lossless WebP may come back lossy: the format stays WebP and the look stays
//! above the threshold.

use mogr_core::raster::{self, EncodeSettings};
use mogr_core::transcode::Options;
use mogr_core::{Error, ImageFormat, Stop};

use crate::metric::FrameReferences;
use crate::search::Search;
use crate::Found;

/// Quality range searched, and the start.
const Q_RANGE: (f32, f32) = (5.0, 98.0);

/// Decodes the input (errors are the input's), then searches.
pub(crate) fn slim(
    input: &[u8],
    format: ImageFormat,
    options: &Options,
    threshold: f64,
    stop: &Stop,
) -> Result<Result<Found, Error>, Error> {
    // Oriented: the candidates carry no EXIF block, so their pixels hold the orientation.
    let raster = raster::decode(input, format, options.limits.max_frames, true)?;
    let references = match FrameReferences::new(&raster) {
        Ok(r) => r,
        Err(e) => return Ok(Err(e)),
    };
    let (start, evals) = match format {
        ImageFormat::Webp => (75.0, 7),
        // HEIF and AVIF encodes are slow: fewer, and from a lower start (their scale is
        // steeper at the low end).
        _ => (60.0, 5),
    };
    let mut found = Found::new(threshold);
    let mut s = Search::new(Q_RANGE.0, Q_RANGE.1, threshold, start, 0.7, 1.0, evals);
    let result = (|| {
        while let Some(x) = s.next() {
            stop.check()?;
            let q = x.round() as u8;
            let settings = EncodeSettings {
                quality: Some(q),
                progressive: false,
            };
            let bytes = raster::encode(&raster, format, settings)?;
            found.encodes += 1;
            let decoded = raster::decode(&bytes, format, options.limits.max_frames, false)?;
            let score = references.score(&decoded)?;
            s.record(f32::from(q), score);
            found.offer(bytes, score);
        }
        Ok(())
    })();
    Ok(result.map(|()| found))
}
