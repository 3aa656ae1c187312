//! Whether an input decodes, checked without keeping its pixels where the format allows.
//!
//! A rule that has nothing to do (`format/png` of a PNG, `quality/50` of a JPEG already at
//! or below 50, `imageSlim` of a BMP) returns its input as it is. The output of a successful
//! call must always be a file that decodes, so that input is checked first: a corrupt file
//! is a decode error, as it is for every rule that decodes.

use std::io::Cursor;

use crate::codecs::jpeg::{entropy_decode, markers};
use crate::error::Error;
use crate::format::ImageFormat;
use crate::limits::Limits;
use crate::probe::probe;
use crate::stop::Stop;

/// Checks that `input` decodes as mogr decodes it:
///
/// - JPEG: every scan's entropy-coded data, to the end (the coefficients, not the pixels;
///   what mogr's strict coefficient decoder refuses is then decoded as any rule decodes it,
///   leniently where the pixel decoders are);
/// - PNG: every chunk's CRC, the header's values and every row inflated and unfiltered, one
///   row at a time;
/// - GIF: every frame's LZW data, one frame at a time;
/// - WebP, BMP, HEIF and AVIF: the first frame decoded (for HEIF/AVIF a full HEVC/AV1
///   decode: the container alone does not show a coded picture libheif refuses).
///
/// The limits apply as for any stage, the memory estimate included; `stop` is checked
/// between frames and every few hundred rows.
pub fn validate(input: &[u8], limits: &Limits, stop: &Stop) -> Result<(), Error> {
    let probe = probe(input, limits)?;
    let px = u64::from(probe.width) * u64::from(probe.height);
    // The input itself, then: every coefficient (2 bytes per sample, and its end) or a
    // whole decode when the strict coefficient decoder refuses (JPEG); the decoder's rows
    // and inflate window (PNG); one indexed frame (GIF); the first frame (the others).
    let base = crate::budget::BASE + input.len() as u64;
    let estimate = match probe.format {
        ImageFormat::Jpeg => {
            let coefficients = (2.2 * crate::budget::jpeg_samples(input) * px as f64) as u64;
            base + coefficients.max(crate::budget::decode(input, &probe, 1))
        }
        ImageFormat::Png => base + (1 << 20) + 32 * u64::from(probe.width),
        ImageFormat::Gif => base + 2 * px,
        _ => crate::budget::info(input, &probe),
    };
    let admitted = probe.admit(limits, estimate)?.until(stop);
    stop.check()?;
    let format = probe.format;
    match format {
        ImageFormat::Jpeg => {
            if entropy_decode::decode_coefficients(input).is_ok() {
                return Ok(());
            }
            let header = markers::read_header(input)?;
            crate::codecs::jpeg::decode::decode(input, &header).map(drop)
        }
        ImageFormat::Png => png_rows(input, stop),
        ImageFormat::Gif => gif_frames(input, limits, px, stop),
        _ => {
            let first = crate::frames::FramePick::First(1);
            crate::decode::decode(input, &admitted, first, false).map(drop)
        }
    }
}

fn png_rows(input: &[u8], stop: &Stop) -> Result<(), Error> {
    let corrupt =
        |e: png::DecodingError| Error::decode_with(ImageFormat::Png, "corrupt PNG data", e);
    let input = crate::codecs::png::without_oversized_icc(input);
    let mut decoder = png::Decoder::new(Cursor::new(&*input));
    decoder.ignore_checksums(false);
    decoder.set_ignore_text_chunk(true);
    // Rows are read one at a time: the decoder's own cap (64 MiB) only bounds its buffers.
    decoder.set_limits(png::Limits { bytes: 1 << 30 });
    let mut reader = decoder.read_info().map_err(corrupt)?;
    let mut rows = 0u32;
    while reader.next_row().map_err(corrupt)?.is_some() {
        rows += 1;
        if rows.is_multiple_of(256) {
            stop.check()?;
        }
    }
    // The chunks after the image data, their CRCs and IEND.
    reader.finish().map_err(corrupt)
}

fn gif_frames(input: &[u8], limits: &Limits, px: u64, stop: &Stop) -> Result<(), Error> {
    let corrupt =
        |e: gif::DecodingError| Error::decode_with(ImageFormat::Gif, "corrupt GIF data", e);
    let mut options = gif::DecodeOptions::new();
    options.set_color_output(gif::ColorOutput::Indexed);
    // As decoding does: extension blocks GIF89a does not define are skipped.
    options.allow_unknown_blocks(true);
    // A frame may be larger than the screen, but not larger than the pixel limit.
    let cap = px.max(1).max(limits.max_pixels.min(u64::from(u32::MAX)));
    options.set_memory_limit(gif::MemoryLimit::Bytes(
        std::num::NonZeroU64::new(cap).unwrap_or(std::num::NonZeroU64::MIN),
    ));
    // As decoding does: a file without any colour table gets the default one.
    let input = crate::codecs::gif::normalized(input);
    let mut decoder = options.read_info(Cursor::new(&*input)).map_err(corrupt)?;
    let mut frames = 0u32;
    while decoder.read_next_frame().map_err(corrupt)?.is_some() {
        frames += 1;
        if frames > limits.max_frames {
            return Err(Error::decode(
                ImageFormat::Gif,
                "more frames than its header pass counted",
            ));
        }
        stop.check()?;
    }
    if frames == 0 {
        return Err(Error::decode(ImageFormat::Gif, "no image data"));
    }
    Ok(())
}
