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
        ImageFormat::Jpeg => 4,
        // 16-bit PNGs are decoded at 16 bits, then converted.
        ImageFormat::Png if png::bit_depth(input) > 8 => 12,
        ImageFormat::Png | ImageFormat::Bmp | ImageFormat::Webp => 5,
        ImageFormat::Heif | ImageFormat::Avif => 8,
        ImageFormat::Gif | ImageFormat::Json => 4,
    };
    let canvas = if probe.frames > 1 { 8 * px } else { 0 };
    per_pixel * px * held.max(1) + canvas
}

/// Bytes an encoder to `target` uses per pixel of output, beyond the decoded input.
pub fn encode_per_pixel(target: ImageFormat) -> u64 {
    match target {
        ImageFormat::Jpeg => 6,
        ImageFormat::Png => 5,
        ImageFormat::Bmp => 8,
        ImageFormat::Webp => 9,
        ImageFormat::Gif => 18,
        ImageFormat::Heif => 25,
        ImageFormat::Avif => 29,
        ImageFormat::Json => 0,
    }
}

/// Peak bytes of a decode-and-encode stage from `input` (described by `probe`) to `target`,
/// keeping the frames `pick` selects.
pub(crate) fn transcode(input: &[u8], probe: &Probe, target: ImageFormat, pick: FramePick) -> u64 {
    let held = pick.count(probe.frames.max(1) as usize) as u64;
    BASE + decode(input, probe, held) + encode_per_pixel(target) * frame_pixels(probe) * held
}

/// Peak bytes of JPEG-to-JPEG requantization in the DCT domain (coefficients in, tokens and
/// bytes out; no pixels).
pub(crate) fn requantize(probe: &Probe) -> u64 {
    BASE + 5 * frame_pixels(probe)
}

/// Peak bytes of reading `ImageInfo` (headers and the first frame, for the mean colour).
pub(crate) fn info(input: &[u8], probe: &Probe) -> u64 {
    BASE + decode(input, probe, 1)
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
        assert!(requantize(&big) < to(&big, ImageFormat::Jpeg));
    }
}
