//! `format/yjpeg`: the look `format/jpg` would have at the same rule, in fewer bytes.

use mogr_core::{Encoded, Error, FramePick, ImageFormat, JpegMetadata, Limits, Options};
use mogr_parse::{Format, MogrParams};

use crate::jpeg::{self, Source};
use crate::metric::Reference;

/// Applies an `imageMogr2` stage whose output format is `yjpeg`: makes what `format/jpg`
/// would make, scores it against the input's pixels, and returns the smallest mozjpeg-class
/// encoding that scores at least as well (the `jpg` file itself when none is smaller).
/// Progressive unless the rule says `interlace/0`. When `jpg` would return the input
/// unchanged (a JPEG at its own quality), so does `yjpeg`: no generation loss.
pub fn apply<'a>(
    input: &'a [u8],
    params: &MogrParams,
    options: &Options,
) -> Result<Encoded<'a>, Error> {
    let stop = &options.stop;
    let mut as_jpg = params.clone();
    as_jpg.format = Some(Format::Jpg);
    let plain = mogr_core::apply(input, &as_jpg, options)?;
    if plain.unchanged {
        return Ok(plain);
    }
    // The search's own estimate (only the first frame of an animation is read).
    let probe = mogr_core::probe(input, &options.limits)?.first_frame();
    let admitted = probe
        .admit(&options.limits, crate::yjpeg_estimate(input, &probe))?
        .until(stop);
    // The input's pixels as the jpg output shows them: as stored for a JPEG (its EXIF block
    // travels along), oriented and over white for other formats.
    let format = probe.format;
    let bitmap = if format == ImageFormat::Jpeg {
        Source::new(input, &admitted, options)?.bitmap
    } else {
        mogr_core::decode(input, &admitted, FramePick::First(1), true)?
            .first()
            .clone()
            .without_alpha()
    };
    // Metadata and density exactly as the jpg output carries them.
    let source = Source {
        bitmap,
        meta: JpegMetadata::all(&plain.bytes)?,
    };
    let reference = Reference::new(&source.bitmap)?;
    let target = reference.score(&jpeg::decode_candidate(&plain.bytes)?)?;
    let scans = if params.interlace.is_none_or(|v| v.value == 1) {
        jpeg::Scans::Progressive
    } else {
        jpeg::Scans::Baseline
    };
    let found = jpeg::search(
        &source,
        Some(&reference),
        target,
        scans,
        jpeg::Precision::Fine,
        stop,
    )?;
    match found.best {
        Some((bytes, _)) if bytes.len() < plain.bytes.len() => {
            let probe = mogr_core::probe(&bytes, &Limits::none())?;
            Ok(Encoded {
                bytes: std::borrow::Cow::Owned(bytes),
                probe,
                unchanged: false,
            })
        }
        _ => Ok(plain),
    }
}
