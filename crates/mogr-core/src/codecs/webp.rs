//! WebP: container parsing (dimensions, frames, lossy or lossless) and quality estimation.

use crate::error::Error;
use crate::error::FormatName;
use crate::format::ImageFormat;
use crate::pixels::Raster;

/// Facts from a WebP's RIFF chunks, read without decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebpHeader {
    /// Canvas width.
    pub width: u32,
    /// Canvas height.
    pub height: u32,
    /// Frames (ANMF chunks; 1 for a still image).
    pub frames: u32,
    /// Whether the (first) image is lossy VP8 rather than lossless VP8L.
    pub lossy: bool,
    /// Whether the image declares alpha.
    pub alpha: bool,
}

fn bad(message: &str) -> Error {
    Error::decode(ImageFormat::Webp, message)
}

fn le24(b: &[u8]) -> u32 {
    u32::from(b[0]) | u32::from(b[1]) << 8 | u32::from(b[2]) << 16
}

/// Iterates over RIFF chunks: (fourcc, payload).
fn chunks(mut data: &[u8]) -> impl Iterator<Item = Result<(&[u8], &[u8]), Error>> {
    std::iter::from_fn(move || {
        if data.is_empty() {
            return None;
        }
        if data.len() < 8 {
            data = &[];
            return Some(Err(bad("truncated chunk header")));
        }
        let fourcc = &data[..4];
        let size = u32::from_le_bytes([data[4], data[5], data[6], data[7]]) as usize;
        let Some(payload) = data.get(8..8 + size) else {
            data = &[];
            return Some(Err(bad("chunk runs past the end of the file")));
        };
        let padded = (8 + size + (size & 1)).min(data.len());
        data = &data[padded..];
        Some(Ok((fourcc, payload)))
    })
}

/// Width and height of a VP8 or VP8L bitstream, and whether it is lossy.
fn bitstream_size(fourcc: &[u8], p: &[u8]) -> Result<(u32, u32, bool), Error> {
    match fourcc {
        b"VP8 " => {
            if p.len() < 10 || p[3..6] != [0x9D, 0x01, 0x2A] {
                return Err(bad("VP8 frame without a key-frame start code"));
            }
            let w = u32::from(u16::from_le_bytes([p[6], p[7]]) & 0x3FFF);
            let h = u32::from(u16::from_le_bytes([p[8], p[9]]) & 0x3FFF);
            Ok((w, h, true))
        }
        b"VP8L" => {
            if p.len() < 5 || p[0] != 0x2F {
                return Err(bad("VP8L bitstream without its signature"));
            }
            let bits = u32::from_le_bytes([p[1], p[2], p[3], p[4]]);
            Ok(((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1, false))
        }
        _ => Err(bad("unexpected chunk where an image was expected")),
    }
}

/// The bytes the RIFF header says the file holds (its length field plus 8), at most the
/// whole input: what the header was read from, and so what a decoder is given, so that
/// what is counted and what is decoded are the same bytes (a frame appended after the RIFF
/// length is never decoded).
pub(crate) fn riff_bounded(data: &[u8]) -> &[u8] {
    match data.get(4..8) {
        Some(b) => {
            let riff_len = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
            &data[..riff_len
                .saturating_add(8)
                .clamp(12.min(data.len()), data.len())]
        }
        None => data,
    }
}

/// Reads a WebP's chunks up to what is needed for dimensions, frames and lossiness.
pub fn read_header(data: &[u8]) -> Result<WebpHeader, Error> {
    if data.len() < 12 || &data[..4] != b"RIFF" || &data[8..12] != b"WEBP" {
        return Err(bad("not a RIFF WEBP file"));
    }
    let body = &riff_bounded(data)[12..];
    let mut canvas: Option<(u32, u32, bool)> = None;
    let mut first: Option<(u32, u32, bool)> = None;
    let mut frames = 0u32;
    for chunk in chunks(body) {
        let (fourcc, p) = chunk?;
        match fourcc {
            b"VP8X" => {
                if p.len() < 10 {
                    return Err(bad("truncated VP8X chunk"));
                }
                canvas = Some((le24(&p[4..7]) + 1, le24(&p[7..10]) + 1, p[0] & 0x10 != 0));
            }
            b"ANMF" => {
                frames = frames.saturating_add(1);
                if first.is_none() {
                    let inner = p.get(16..).ok_or_else(|| bad("truncated ANMF chunk"))?;
                    for sub in chunks(inner) {
                        let (cc, sp) = sub?;
                        if cc == b"VP8 " || cc == b"VP8L" {
                            first = Some(bitstream_size(cc, sp)?);
                            break;
                        }
                    }
                }
            }
            b"VP8 " | b"VP8L" if first.is_none() => first = Some(bitstream_size(fourcc, p)?),
            _ => {}
        }
    }
    let (w, h, lossy) = first.ok_or_else(|| bad("no image data"))?;
    let (width, height, alpha) = match canvas {
        Some((cw, ch, alpha)) => (cw, ch, alpha),
        None => (w, h, !lossy && w > 0), // VP8L may carry alpha; decoding tells for sure
    };
    if width == 0 || height == 0 {
        return Err(bad("zero width or height"));
    }
    Ok(WebpHeader {
        width,
        height,
        frames: frames.max(1),
        lossy,
        alpha,
    })
}

/// Estimates the quality (0..=100) of a lossy WebP from its first VP8 frame header, by the
/// method of libwebp's `extras/quality_estimate.c`: the quantizer index of the first segment
/// (or the base index), mapped linearly to 0..=100 and corrected for the power law below 80.
/// `None` for lossless or unparsable input. Like libwebp's, it is a rough estimate.
pub fn estimate_quality(data: &[u8]) -> Option<u8> {
    let start = data.windows(3).position(|w| w == [0x9D, 0x01, 0x2A])? + 3;
    let mut bits = Bits {
        data,
        pos: (start + 4) * 8,
    };
    bits.take(2)?; // colour space, clamping
    let mut q: Option<i32> = None;
    if bits.take(1)? == 1 {
        // Segmentation.
        let update_map = bits.take(1)?;
        if bits.take(1)? == 1 {
            let absolute = bits.take(1)?;
            let mut first_q = 0i32;
            for s in 0..4 {
                if bits.take(1)? == 1 {
                    let mut v = bits.take(7)? as i32;
                    if bits.take(1)? == 1 {
                        v = -v;
                    }
                    if s == 0 {
                        first_q = v;
                    }
                }
            }
            if absolute == 1 {
                q = Some(first_q);
            }
            for _ in 0..4 {
                bits.skip_if_flag(7)?; // filter strengths
            }
        }
        if update_map == 1 {
            for _ in 0..3 {
                bits.skip_if_flag(8)?;
            }
        }
    }
    bits.take(1 + 6 + 3)?; // filter type, level, sharpness
    if bits.take(1)? == 1 && bits.take(1)? == 1 {
        for _ in 0..8 {
            bits.skip_if_flag(6)?;
        }
    }
    bits.take(2)?; // partitions
    let base_q = bits.take(7)? as i32;
    for _ in 0..5 {
        bits.skip_if_flag(5)?;
    }
    let q = q.unwrap_or(base_q);
    let mut quality = (127 - q) * 100 / 127;
    if quality < 80 {
        quality = ((f64::from(quality) / 80.0).powf(1.0 / 0.38) * 80.0) as i32;
    }
    Some(quality.clamp(0, 100) as u8)
}

/// Header bits read MSB first as plain bits: the header's bits are coded at probability 1/2,
/// which the estimate (like libwebp's) takes as raw bits.
struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Bits<'_> {
    fn take(&mut self, n: usize) -> Option<u32> {
        let mut v = 0u32;
        for _ in 0..n {
            let byte = *self.data.get(self.pos >> 3)?;
            v = (v << 1) | u32::from((byte >> (7 - (self.pos & 7))) & 1);
            self.pos += 1;
        }
        Some(v)
    }

    fn skip_if_flag(&mut self, n: usize) -> Option<()> {
        if self.take(1)? == 1 {
            self.take(n)?;
        }
        Some(())
    }
}

/// The ANIM chunk's loop count (0 = forever), for animated files.
pub fn loop_count(data: &[u8]) -> Option<u16> {
    let body = data.get(12..)?;
    chunks(body).map_while(Result::ok).find_map(|(fourcc, p)| {
        (fourcc == b"ANIM" && p.len() >= 6).then(|| u16::from_le_bytes([p[4], p[5]]))
    })
}

/// Sets the duration of the last ANMF frame so that all frames add up to `total_ms`
/// (libwebp's animation encoder guesses the last frame's duration). Frame durations are
/// 24-bit fields; the last one is clamped to fit. Returns false when there is no ANMF chunk.
pub fn set_last_frame_duration(data: &mut [u8], total_ms: u32) -> bool {
    let mut pos = 12;
    let mut last: Option<usize> = None;
    let mut others: u32 = 0;
    while pos + 8 <= data.len() {
        let size = u32::from_le_bytes([data[pos + 4], data[pos + 5], data[pos + 6], data[pos + 7]])
            as usize;
        if &data[pos..pos + 4] == b"ANMF" && pos + 8 + 16 <= data.len() {
            if let Some(prev) = last {
                others += le24(&data[prev + 12..prev + 15]);
            }
            last = Some(pos + 8);
        }
        pos += 8 + size + (size & 1);
    }
    let Some(at) = last else { return false };
    let d = total_ms.saturating_sub(others).min(0xFF_FFFF);
    data[at + 12..at + 15].copy_from_slice(&d.to_le_bytes()[..3]);
    true
}

fn chunk(fourcc: &[u8; 4], payload: &[u8]) -> Vec<u8> {
    let mut c = Vec::with_capacity(8 + payload.len() + 1);
    c.extend_from_slice(fourcc);
    c.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    c.extend_from_slice(payload);
    if payload.len() % 2 == 1 {
        c.push(0);
    }
    c
}

/// Adds an ICC profile (an ICCP chunk, flagged in VP8X) to a WebP file written by libwebp.
/// A simple file (one VP8 or VP8L chunk) gets the extended VP8X header it then needs.
pub fn with_icc(data: &[u8], icc: &[u8]) -> Result<Vec<u8>, Error> {
    let header = read_header(data)?;
    let body = &data[12..];
    let iccp = chunk(b"ICCP", icc);
    let mut out = b"RIFF\0\0\0\0WEBP".to_vec();
    if body.starts_with(b"VP8X") && body.len() >= 18 {
        let mut vp8x = body[..18].to_vec();
        vp8x[8] |= 0x20;
        out.extend_from_slice(&vp8x);
        out.extend_from_slice(&iccp);
        out.extend_from_slice(&body[18..]);
    } else {
        // A VP8L stream says in its header whether it uses alpha.
        let alpha = body.starts_with(b"VP8L") && body.len() >= 13 && (body[12] >> 4) & 1 == 1;
        let mut p = vec![0x20 | if alpha { 0x10 } else { 0 }, 0, 0, 0];
        p.extend_from_slice(&(header.width - 1).to_le_bytes()[..3]);
        p.extend_from_slice(&(header.height - 1).to_le_bytes()[..3]);
        out.extend_from_slice(&chunk(b"VP8X", &p));
        out.extend_from_slice(&iccp);
        out.extend_from_slice(body);
    }
    let riff = (out.len() - 8) as u32;
    out[4..8].copy_from_slice(&riff.to_le_bytes());
    Ok(out)
}

/// The payload of a WebP's EXIF chunk, if any (a TIFF structure, with or without the
/// `Exif\0\0` prefix some writers add).
pub fn exif(data: &[u8]) -> Option<&[u8]> {
    chunks(data.get(12..)?)
        .map_while(Result::ok)
        .find_map(|(fourcc, p)| (fourcc == b"EXIF").then_some(p))
}

/// The ICC profile in a WebP's ICCP chunk, if any.
pub fn icc_profile(data: &[u8]) -> Option<Vec<u8>> {
    chunks(data.get(12..)?)
        .map_while(Result::ok)
        .find_map(|(fourcc, p)| (fourcc == b"ICCP").then(|| p.to_vec()))
}

/// An animated WebP: every composed frame at its time, the loop count kept; lossy at
/// `quality`, lossless when it is `None`.
pub(crate) fn encode_animated(raster: &Raster, quality: Option<u8>) -> Result<Vec<u8>, Error> {
    let fail = |message: String| Error::Encode {
        format: FormatName(Some(ImageFormat::Webp)),
        message,
        source: None,
    };
    let first = raster.first();
    let mut config = ::webp::WebPConfig::new().map_err(|_| fail("libwebp configuration".into()))?;
    match quality {
        Some(q) => config.quality = f32::from(q),
        None => config.lossless = 1,
    }
    let rgba: Vec<Vec<u8>> = raster.frames.iter().map(|f| f.bitmap.to_rgba()).collect();
    let mut enc = ::webp::AnimEncoder::new(first.width, first.height, &config);
    enc.set_loop_count(i32::from(raster.loop_count.unwrap_or(0)));
    let mut t: i64 = 0;
    for (frame, pixels) in raster.frames.iter().zip(&rgba) {
        let timestamp =
            i32::try_from(t).map_err(|_| fail("animation longer than 24 days".into()))?;
        enc.add_frame(::webp::AnimFrame::from_rgba(
            pixels,
            frame.bitmap.width,
            frame.bitmap.height,
            timestamp,
        ));
        t += i64::from(frame.delay_ms);
    }
    let mem = enc
        .try_encode()
        .map_err(|e| fail(format!("libwebp: {e:?}")))?;
    let mut out = mem.to_vec();
    let total = u32::try_from(t).unwrap_or(u32::MAX);
    if !set_last_frame_duration(&mut out, total) {
        return Err(fail("libwebp wrote no animation frames".into()));
    }
    Ok(out)
}
