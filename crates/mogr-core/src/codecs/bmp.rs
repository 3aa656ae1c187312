//! BMP: header reading, and OS/2 2.x headers rewritten for the decoder.

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
    } else if size == 16 || size >= 40 {
        // BITMAPINFOHEADER and its successors, and OS/2 2.x (16 or 64 bytes): 32-bit sizes.
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

/// `data` with an OS/2 2.x info header (16 or 64 bytes, which the `image` crate's decoder
/// refuses) rewritten as the 40-byte Windows header it extends: the first 40 bytes of a
/// 64-byte header are laid out the same (the rest is OS/2's halftoning and units, which no
/// decoder applies), a 16-byte one holds only the sizes, planes and depth. The pixel-data
/// offset follows the change. Borrowed for every other file, and for OS/2 compressions
/// (Huffman 1D, RLE24) that the Windows codes would misname.
pub(crate) fn normalized(data: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    use std::borrow::Cow;
    let word = |at: usize| {
        data.get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let (Some(size), Some(offset)) = (word(14), word(10)) else {
        return Cow::Borrowed(data);
    };
    if !matches!(size, 16 | 64) || data.len() < 14 + size as usize {
        return Cow::Borrowed(data);
    }
    let compression = if size == 64 { word(30).unwrap_or(0) } else { 0 };
    if matches!(compression, 3 | 4) {
        return Cow::Borrowed(data);
    }
    let mut header = [0u8; 40];
    header[..size.min(40) as usize].copy_from_slice(&data[14..14 + size.min(40) as usize]);
    header[..4].copy_from_slice(&40u32.to_le_bytes());
    let mut out = Vec::with_capacity(data.len() + 24);
    out.extend_from_slice(&data[..14]);
    out.extend_from_slice(&header);
    out.extend_from_slice(&data[14 + size as usize..]);
    // The file size and the pixel-data offset move by the header's change in length.
    let moved = |v: u32| (i64::from(v) + 40 - i64::from(size)).clamp(0, i64::from(u32::MAX)) as u32;
    let file_size = u32::try_from(out.len()).unwrap_or(u32::MAX);
    out[2..6].copy_from_slice(&file_size.to_le_bytes());
    out[10..14].copy_from_slice(&moved(offset).to_le_bytes());
    Cow::Owned(out)
}
