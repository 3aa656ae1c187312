//! GIF: re-encoded with frame optimization (changed rectangles, one global palette, the
//! exact colours when they fit), then with fewer palette colours while every scored frame
//! still meets the threshold.

use mogr_core::{Admitted, EncodeSettings, Error, FramePick, ImageFormat, Stop};

use crate::metric::FrameReferences;
use crate::search::{Plan, Search};
use crate::{Found, Searched};

/// Decodes the input (errors are the input's), then searches.
pub(crate) fn slim(
    input: &[u8],
    admitted: &Admitted,
    threshold: f64,
    stop: &Stop,
) -> Result<Searched, Error> {
    let raster = mogr_core::decode(input, admitted, FramePick::All, false)?;
    let references = match FrameReferences::new(&raster) {
        Ok(r) => r,
        Err(e) => return Ok(Searched::Failed(e)),
    };
    let mut found = Found::new(threshold);
    // x is log2 of the palette size, 1..=8 (2..=255 colours).
    let plan = Plan::palette(6);
    let mut s = Search::new(plan, threshold);
    let result = (|| {
        let mut tried = Vec::new();
        while let Some(x) = s.next() {
            let colors = (2f32.powf(x).round() as usize).min(255);
            if tried.contains(&colors) {
                break; // neighbouring settings round to the same palette size
            }
            tried.push(colors);
            stop.check()?;
            let settings = EncodeSettings::default().with_gif_colors(colors);
            let bytes = mogr_core::encode(&raster, ImageFormat::Gif, settings, stop)?;
            found.encodes += 1;
            let decoded = crate::decode_candidate(&bytes)?;
            let score = references.score(&decoded)?;
            s.record(x, score);
            found.offer(bytes, score);
        }
        Ok(())
    })();
    Ok(result.map(|()| found).into())
}
