//! GIF: the header reader (size and frame count by scanning blocks, without decoding
//! pixels, and the loop count) here; the palette in `palette.rs`; the frame-difference
//! writer in `writer.rs`.

use crate::error::Error;
use crate::format::ImageFormat;

mod compose;
mod lzw;
mod palette;
mod writer;

pub(crate) use compose::frames;

/// The tests' random numbers: a xorshift generator from `seed`, whose calls give a number
/// below their argument.
#[cfg(test)]
fn test_random(seed: u64) -> impl FnMut(u64) -> u64 {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    move |n: u64| {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s % n
    }
}

pub use writer::{encode, encode_with_colors};

fn bad(m: &str) -> Error {
    Error::decode(ImageFormat::Gif, m)
}

/// Bytes of the colour table that a packed-fields byte (the logical screen's or an image
/// descriptor's) announces: 0 when its table flag is clear.
fn table_len(flags: u8) -> usize {
    if flags & 0x80 != 0 {
        3 << ((flags & 7) + 1)
    } else {
        0
    }
}

/// Skips a chain of data sub-blocks starting at `pos`; returns the position after the
/// terminating zero-length block.
fn skip_sub_blocks(data: &[u8], mut pos: usize) -> Result<usize, Error> {
    loop {
        let len = usize::from(
            *data
                .get(pos)
                .ok_or_else(|| bad("truncated data sub-blocks"))?,
        );
        pos += 1 + len;
        if len == 0 {
            return Ok(pos);
        }
    }
}

/// What a GIF's blocks say before any frame is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GifHeader {
    /// The logical screen: the size of every decoded frame (frames are cropped to it).
    pub width: u32,
    /// See `width`.
    pub height: u32,
    /// Image descriptors counted (at most `max_frames + 1`).
    pub frames: u32,
    /// The largest extent any frame reaches (at least the screen): what the decoder
    /// allocates for one frame before cropping it, checked against the limits too.
    pub extent: (u32, u32),
}

/// The logical screen size, the number of frames (image descriptors) and their extent.
///
/// Frames are counted by walking the block structure, so a file declaring thousands of
/// frames is measured before any of them is decoded. Counting stops at `max_frames + 1`
/// (enough to report an over-limit file). A file cut short after at least one complete
/// frame counts the frames it has.
pub fn read_header(data: &[u8], max_frames: u32) -> Result<GifHeader, Error> {
    let lsd = data.get(6..13).ok_or_else(|| bad("truncated header"))?;
    let w = u32::from(u16::from_le_bytes([lsd[0], lsd[1]]));
    let h = u32::from(u16::from_le_bytes([lsd[2], lsd[3]]));
    let mut pos = 13 + table_len(lsd[4]);
    let mut frames = 0u32;
    let (mut max_w, mut max_h) = (w, h);
    while frames <= max_frames {
        let Some(&block) = data.get(pos) else { break };
        match block {
            0x3B => break,
            0x21 => {
                // Extension: label, then sub-blocks.
                pos = match skip_sub_blocks(data, pos + 2) {
                    Ok(p) => p,
                    Err(_) if frames > 0 => break,
                    Err(e) => return Err(e),
                };
            }
            0x2C => {
                let d = data
                    .get(pos + 1..pos + 10)
                    .ok_or_else(|| bad("truncated image descriptor"))?;
                let (x, y) = (
                    u32::from(u16::from_le_bytes([d[0], d[1]])),
                    u32::from(u16::from_le_bytes([d[2], d[3]])),
                );
                let (fw, fh) = (
                    u32::from(u16::from_le_bytes([d[4], d[5]])),
                    u32::from(u16::from_le_bytes([d[6], d[7]])),
                );
                // Frames may reach past the logical screen; decoders grow the canvas.
                max_w = max_w.max(x + fw);
                max_h = max_h.max(y + fh);
                pos += 10 + table_len(d[8]);
                pos += 1; // LZW minimum code size
                match skip_sub_blocks(data, pos) {
                    Ok(p) => {
                        pos = p;
                        frames += 1;
                    }
                    // A cut-short last frame: decoders show what arrived.
                    Err(_) => {
                        frames += 1;
                        break;
                    }
                }
            }
            _ if frames > 0 => break, // trailing garbage after complete frames
            _ => return Err(bad("unknown block before the first image")),
        }
    }
    if frames == 0 {
        return Err(bad("no image in the file"));
    }
    // Frames that reach past the logical screen are cropped to it by the decoder (the image
    // is the screen's size, as `info` reports), after being decoded at their own size.
    if w == 0 || h == 0 {
        return Err(bad("zero width or height"));
    }
    Ok(GifHeader {
        width: w,
        height: h,
        frames,
        extent: (w.max(max_w), h.max(max_h)),
    })
}

/// `data` as browsers read it, for the `image` crate's decoder, which refuses both: without
/// the extension blocks GIF89a does not define (labels other than graphic control,
/// comment, plain text and application), which browsers skip; and with a greyscale global
/// colour table (index i is grey level i; browsers use a default table of their own) when
/// there is none and some frame has no local table either. Borrowed when nothing needs
/// changing, or when the block structure cannot be walked (the decoder then reports it).
pub(crate) fn normalized(data: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    use std::borrow::Cow;
    let Some(lsd) = data.get(6..13) else {
        return Cow::Borrowed(data);
    };
    let has_global = lsd[4] & 0x80 != 0;
    let mut pos = 13 + table_len(lsd[4]);
    let mut unknown: Vec<(usize, usize)> = Vec::new();
    let mut needs_palette = false;
    while let Some(&block) = data.get(pos) {
        match block {
            0x21 => {
                let Some(&label) = data.get(pos + 1) else {
                    break;
                };
                let Ok(end) = skip_sub_blocks(data, pos + 2) else {
                    break;
                };
                if !matches!(label, 0xF9 | 0xFE | 0x01 | 0xFF) {
                    unknown.push((pos, end));
                }
                pos = end;
            }
            0x2C => {
                let Some(d) = data.get(pos + 1..pos + 10) else {
                    break;
                };
                pos += 10 + table_len(d[8]);
                needs_palette |= d[8] & 0x80 == 0 && !has_global;
                let Ok(end) = skip_sub_blocks(data, pos + 1) else {
                    break;
                };
                pos = end;
            }
            _ => break,
        }
    }
    if unknown.is_empty() && !needs_palette {
        return Cow::Borrowed(data);
    }
    let mut out = Vec::with_capacity(data.len() + 768);
    let mut from = 0;
    if needs_palette {
        out.extend_from_slice(&data[..10]);
        out.push((lsd[4] & 0x70) | 0x80 | 7);
        out.extend_from_slice(&data[11..13]);
        out.extend((0..=255u8).flat_map(|v| [v, v, v]));
        from = 13;
    }
    for (start, end) in unknown {
        out.extend_from_slice(&data[from..start]);
        from = end;
    }
    out.extend_from_slice(&data[from..]);
    Cow::Owned(out)
}

/// The NETSCAPE2.0 loop count (0 = forever), if the file has one.
pub fn loop_count(data: &[u8]) -> Option<u16> {
    let at = data
        .windows(14)
        .position(|w| w.starts_with(b"\x21\xFF\x0BNETSCAPE2.0"))?;
    let sub = data.get(at + 14..at + 18)?;
    (sub[0] == 3 && sub[1] == 1).then(|| u16::from_le_bytes([sub[2], sub[3]]))
}
