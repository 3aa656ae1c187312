//! BMP: header reading.

use crate::error::Error;
use crate::format::ImageFormat;

/// Width and height from the DIB header (a negative height means top-down rows).
pub(crate) fn read_size(data: &[u8]) -> Result<(u32, u32), Error> {
    let bad = |m: &str| Error::decode(ImageFormat::Bmp, m);
    let dib = data.get(14..26).ok_or_else(|| bad("truncated header"))?;
    let size = u32::from_le_bytes([dib[0], dib[1], dib[2], dib[3]]);
    let (w, h) = if size == 12 {
        // OS/2 BITMAPCOREHEADER: 16-bit sizes.
        (
            i64::from(u16::from_le_bytes([dib[4], dib[5]])),
            i64::from(u16::from_le_bytes([dib[6], dib[7]])),
        )
    } else if size >= 40 {
        (
            i64::from(i32::from_le_bytes([dib[4], dib[5], dib[6], dib[7]])),
            i64::from(i32::from_le_bytes([dib[8], dib[9], dib[10], dib[11]])),
        )
    } else {
        return Err(bad("unknown DIB header size"));
    };
    let (w, h) = (w, h.abs());
    if w <= 0 || h == 0 || w > i64::from(u32::MAX) || h > i64::from(u32::MAX) {
        return Err(bad("invalid width or height"));
    }
    Ok((w as u32, h as u32))
}
