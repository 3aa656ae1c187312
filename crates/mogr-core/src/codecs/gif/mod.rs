//! GIF: the header reader (size and frame count by scanning blocks, without decoding
//! pixels, and the loop count) here; the palette in `palette.rs`; the frame-difference
//! writer in `writer.rs`.

use crate::error::Error;
use crate::format::ImageFormat;

mod palette;
mod writer;

pub use writer::{encode, encode_with_colors};

fn bad(m: &str) -> Error {
    Error::decode(ImageFormat::Gif, m)
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

/// The logical screen size and the number of frames (image descriptors).
///
/// Frames are counted by walking the block structure, so a file declaring thousands of
/// frames is measured before any of them is decoded. Counting stops at `max_frames + 1`
/// (enough to report an over-limit file). A file cut short after at least one complete
/// frame counts the frames it has.
pub fn read_header(data: &[u8], max_frames: u32) -> Result<(u32, u32, u32), Error> {
    let lsd = data.get(6..13).ok_or_else(|| bad("truncated header"))?;
    let w = u32::from(u16::from_le_bytes([lsd[0], lsd[1]]));
    let h = u32::from(u16::from_le_bytes([lsd[2], lsd[3]]));
    let mut pos = 13;
    if lsd[4] & 0x80 != 0 {
        pos += 3 << ((lsd[4] & 7) + 1);
    }
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
                pos += 10;
                if d[8] & 0x80 != 0 {
                    pos += 3 << ((d[8] & 7) + 1);
                }
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
    // Decoders grow the canvas to frames that reach past the logical screen: limits apply to
    // the largest extent.
    let (w, h) = (w.max(max_w), h.max(max_h));
    if w == 0 || h == 0 {
        return Err(bad("zero width or height"));
    }
    Ok((w, h, frames))
}

/// The NETSCAPE2.0 loop count (0 = forever), if the file has one.
pub fn loop_count(data: &[u8]) -> Option<u16> {
    let at = data
        .windows(14)
        .position(|w| w.starts_with(b"\x21\xFF\x0BNETSCAPE2.0"))?;
    let sub = data.get(at + 14..at + 18)?;
    (sub[0] == 3 && sub[1] == 1).then(|| u16::from_le_bytes([sub[2], sub[3]]))
}
