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

/// Bit depth per channel from IHDR (a palette image's entries are 8-bit).
pub fn bit_depth(data: &[u8]) -> u8 {
    match (data.get(24), data.get(25)) {
        (Some(_), Some(3)) => 8,
        (Some(&d), _) => d,
        _ => 8,
    }
}

/// Dots per inch from the pHYs chunk when its unit is the metre, rounded.
pub fn dpi(data: &[u8]) -> Option<(u32, u32)> {
    let mut pos = 8;
    while pos + 12 <= data.len() {
        let len =
            u32::from_be_bytes([data[pos], data[pos + 1], data[pos + 2], data[pos + 3]]) as usize;
        let kind = &data[pos + 4..pos + 8];
        if kind == b"IDAT" || kind == b"IEND" {
            return None;
        }
        if kind == b"pHYs" && len == 9 {
            let p = data.get(pos + 8..pos + 17)?;
            let x = u32::from_be_bytes([p[0], p[1], p[2], p[3]]);
            let y = u32::from_be_bytes([p[4], p[5], p[6], p[7]]);
            return (p[8] == 1).then(|| {
                (
                    (f64::from(x) * 0.0254).round() as u32,
                    (f64::from(y) * 0.0254).round() as u32,
                )
            });
        }
        pos = pos.checked_add(12 + len)?;
    }
    None
}
