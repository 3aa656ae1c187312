//! PNG: header reading.

use crate::error::Error;
use crate::format::ImageFormat;

/// Width and height from the IHDR chunk, with its CRC and fields checked.
pub fn read_size(data: &[u8]) -> Result<(u32, u32), Error> {
    let bad = |m: &str| Error::decode(ImageFormat::Png, m);
    let ihdr = data
        .get(8..33)
        .ok_or_else(|| bad("truncated before IHDR"))?;
    if &ihdr[4..8] != b"IHDR" || u32::from_be_bytes([ihdr[0], ihdr[1], ihdr[2], ihdr[3]]) != 13 {
        return Err(bad("first chunk is not a 13-byte IHDR"));
    }
    let w = u32::from_be_bytes([ihdr[8], ihdr[9], ihdr[10], ihdr[11]]);
    let h = u32::from_be_bytes([ihdr[12], ihdr[13], ihdr[14], ihdr[15]]);
    if w == 0 || h == 0 || w > i32::MAX as u32 || h > i32::MAX as u32 {
        return Err(bad("invalid width or height"));
    }
    Ok((w, h))
}
