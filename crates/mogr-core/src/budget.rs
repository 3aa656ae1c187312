//! Memory estimates: an upper bound on the bytes one stage holds at its peak, computed from
//! the header alone, so that a per-request budget ([`Limits::max_memory_bytes`]) is checked
//! before any large allocation.
//!
//! The figures are bytes per pixel, measured as peak resident memory of whole processes
//! (C encoders included) on photographs from 0.5 to 24 MP, with about a fifth added; the
//! test `tests/memory_budget.rs` runs stages in child processes and checks that every
//! measured peak stays under its estimate. A budget below an estimate refuses the stage with
//! a [`LimitKind::Memory`](crate::LimitKind::Memory) error before anything is decoded.
//!
//! [`Limits::max_memory_bytes`]: crate::Limits::max_memory_bytes

use crate::codecs::png;
use crate::format::ImageFormat;
use crate::frames::FramePick;
use crate::probe::Probe;

/// Bytes every stage may use whatever the image: code, tables, small buffers.
pub const BASE: u64 = 24 << 20;

/// Pixels of one frame.
pub(crate) fn frame_pixels(probe: &Probe) -> u64 {
    u64::from(probe.width) * u64::from(probe.height)
}

/// Bytes to hold `input` decoded, keeping `held` composed frames (animations compose on a
/// canvas the decoder keeps besides).
pub fn decode(input: &[u8], probe: &Probe, held: u64) -> u64 {
    let px = frame_pixels(probe);
    let per_pixel = match probe.format {
        ImageFormat::Jpeg => return jpeg_decode(input, px),
        // 16-bit PNGs are decoded at 16 bits, then converted.
        ImageFormat::Png if png::bit_depth(input) > 8 => 12,
        ImageFormat::Png | ImageFormat::Bmp | ImageFormat::Webp => 5,
        // libheif's decoders (dav1d, libde265) work on threads of their own, whose
        // allocations may land in glibc arenas of their own: a 3.4 MP AVIF's decode peaked
        // at 45 MB in 25 runs of 26 and at 55.9 MB in the other (8 bytes per pixel gave
        // 52.6 MB).
        ImageFormat::Heif | ImageFormat::Avif => 10,
        // The LZW indices, the frame in RGBA and the canvas it is composed on.
        ImageFormat::Gif => 10,
        ImageFormat::Json => 4,
    };
    let canvas = if probe.frames > 1 { 8 * px } else { 0 };
    per_pixel * px * held.max(1) + canvas
}

/// Bytes to decode a JPEG of `px` pixels. Subsampled YCbCr goes through mogr's exact
/// reconstruction: every coefficient (2 bytes per sample) and one plane, then the planes
/// and the RGB output. Lossless files (jpeg-decoder) hold each sample as a 16-bit value
/// in several copies on the way to 8 bits. The rest goes to zune-jpeg: its output and a
/// little more.
fn jpeg_decode(input: &[u8], px: u64) -> u64 {
    let samples = jpeg_samples(input);
    let header = crate::codecs::jpeg::markers::read_header(input).ok();
    let lossless = header
        .as_ref()
        .is_some_and(|h| h.precision != 8 || h.is_lossless());
    let subsampled = header.as_ref().is_some_and(|h| {
        let first = h.components.first().map(|c| (c.h, c.v));
        h.components.iter().any(|c| Some((c.h, c.v)) != first)
    });
    let arithmetic = header.as_ref().is_some_and(|h| h.is_arithmetic_dct());
    let per_pixel = if lossless {
        10.0 * samples
    } else if subsampled || arithmetic {
        2.0 * samples + 2.5
    } else {
        4.0
    };
    (per_pixel * px as f64) as u64
}

/// Whether `input`'s decoded pixels may carry alpha, read from its header: a PNG with an
/// alpha colour type or a `tRNS` chunk, a WebP that declares alpha, a BMP that is not
/// 24-bit, a GIF with a graphic control block that sets a transparent index, a HEIF or AVIF
/// that names an alpha auxiliary image. Encoders that keep alpha (WebP) code a fourth plane
/// for it. A byte pattern met by chance inside compressed data only makes it say yes.
pub fn may_have_alpha(input: &[u8], probe: &Probe) -> bool {
    match probe.format {
        ImageFormat::Jpeg | ImageFormat::Json => false,
        ImageFormat::Png => png::may_have_alpha(input),
        ImageFormat::Webp => crate::codecs::webp::read_header(input).map_or(true, |h| h.alpha),
        // The bits per pixel of the info header.
        ImageFormat::Bmp => input.get(28..30) != Some(&[24, 0]),
        ImageFormat::Gif => memchr::memmem::find_iter(input, &[0x21, 0xF9, 0x04])
            .any(|at| input.get(at + 3).is_some_and(|flags| flags & 1 == 1)),
        ImageFormat::Heif | ImageFormat::Avif => [&b"hevc:2015:auxid:1"[..], b"auxiliary:alpha"]
            .iter()
            .any(|urn| memchr::memmem::find(input, urn).is_some()),
    }
}

/// Bytes an encoder to `target` uses per pixel of output, beyond the decoded input, for
/// pixels with `alpha` or without.
pub fn encode_per_pixel(target: ImageFormat, alpha: bool) -> u64 {
    match target {
        // libwebp codes alpha losslessly (VP8L), with its hash chains and histograms.
        ImageFormat::Webp if alpha => 22,
        // Two passes: the coefficients of the first pass (2 bytes per sample: 6 per pixel at
        // 4:4:4, used from quality 90 up) and the symbols and bytes of the second.
        ImageFormat::Jpeg => 9,
        ImageFormat::Png => 5,
        ImageFormat::Bmp => 8,
        ImageFormat::Webp => 9,
        ImageFormat::Gif => 18,
        ImageFormat::Heif => 27,
        ImageFormat::Avif => 29,
        ImageFormat::Json => 0,
    }
}

/// Peak bytes of a decode-and-encode stage from `input` (described by `probe`) to `target`,
/// keeping the frames `pick` selects.
pub(crate) fn transcode(input: &[u8], probe: &Probe, target: ImageFormat, pick: FramePick) -> u64 {
    let held = pick.count(probe.frames.max(1) as usize) as u64;
    let encode = encode_per_pixel(target, may_have_alpha(input, probe));
    BASE + decode(input, probe, held) + encode * frame_pixels(probe) * held
}

/// Peak bytes of JPEG-to-JPEG requantization in the DCT domain (coefficients in, tokens and
/// bytes out; no pixels): 2 bytes per coefficient, `samples` coefficients per pixel (1.5 at
/// 4:2:0, 3 at 4:4:4), and about as much again for the symbols, the output and the chroma
/// made when 4:4:4 becomes 4:2:0.
pub(crate) fn requantize(probe: &Probe, samples: f64) -> u64 {
    BASE + (4.0 * samples.max(1.0) * frame_pixels(probe) as f64) as u64
}

/// Peak bytes of requantization in bands (`requant::requantize_in_bands`): no coefficients
/// are held whole, only the recorded symbols of the output (4 bytes each: about one per
/// byte of the input's entropy-coded data, and at least two per output block, 1.5 blocks
/// per 64 pixels at 4:2:0 and up to 3 at 4:4:4) and the output itself, about as large as
/// the input at most; the bands in flight are a few rows.
pub(crate) fn requantize_in_bands(probe: &Probe, input_len: usize) -> u64 {
    let blocks = 3.0 * frame_pixels(probe) as f64 / 64.0;
    BASE + 9 * input_len as u64 + (8.0 * blocks) as u64
}

/// Peak bytes of reading `ImageInfo` (headers and the first frame, for the mean colour).
/// A JPEG is decoded at 1/8 scale, which holds little for a baseline file and every
/// coefficient (2 bytes per sample) for a progressive one; a lossless one at full size.
pub(crate) fn info(input: &[u8], probe: &Probe) -> u64 {
    // Lossless and arithmetic-coded files are decoded at full size.
    let lossless = crate::codecs::jpeg::markers::read_header(input)
        .is_ok_and(|h| h.is_lossless() || h.is_arithmetic_dct());
    if probe.format == ImageFormat::Jpeg && !lossless {
        let per_pixel = if probe.progressive {
            2.0 * jpeg_samples(input) + 0.5
        } else {
            1.0
        };
        return BASE + (per_pixel * frame_pixels(probe) as f64) as u64;
    }
    BASE + decode(input, probe, 1)
}

/// Samples per pixel of a JPEG from its frame header: 1.5 at 4:2:0, 3 at 4:4:4, 4 for
/// CMYK; 4 (the most) when the header cannot be read.
pub(crate) fn jpeg_samples(input: &[u8]) -> f64 {
    let Ok(header) = crate::codecs::jpeg::markers::read_header(input) else {
        return 4.0;
    };
    let (hmax, vmax) = header.components.iter().fold((1, 1), |(h, v), c| {
        (h.max(u32::from(c.h)), v.max(u32::from(c.v)))
    });
    let samples: u32 = header
        .components
        .iter()
        .map(|c| u32::from(c.h) * u32::from(c.v))
        .sum();
    f64::from(samples.max(1)) / f64::from(hmax * vmax)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(format: ImageFormat, width: u32, height: u32, frames: u32) -> Probe {
        Probe::plain(format, width, height, frames)
    }

    #[test]
    fn estimates_grow_with_pixels_frames_and_encoder() {
        let small = probe(ImageFormat::Jpeg, 100, 100, 1);
        let big = probe(ImageFormat::Jpeg, 6000, 4000, 1);
        let to = |p: &Probe, f| transcode(&[], p, f, FramePick::First(1));
        assert!(to(&small, ImageFormat::Webp) < to(&big, ImageFormat::Webp));
        assert!(to(&big, ImageFormat::Webp) < to(&big, ImageFormat::Avif));
        // 24 MP to WebP: 24 M x (4 + 9) bytes over the base.
        assert_eq!(to(&big, ImageFormat::Webp), BASE + 24_000_000 * 13);
        // An animation holding 10 of its 40 frames costs less than holding all 40.
        let anim = probe(ImageFormat::Gif, 500, 500, 40);
        let ten = transcode(&[], &anim, ImageFormat::Gif, FramePick::cgif(10, 40));
        let all = transcode(&[], &anim, ImageFormat::Gif, FramePick::All);
        assert!(ten * 3 < all, "{ten} vs {all}");
        assert!(requantize(&big, 1.5) < to(&big, ImageFormat::Jpeg));
        assert!(requantize(&big, 1.5) < requantize(&big, 3.0));
        // In bands, a 24 MP file of 6 MB: its symbols and output, not its coefficients.
        assert!(requantize_in_bands(&big, 6 << 20) * 2 < requantize(&big, 3.0));
    }
}
