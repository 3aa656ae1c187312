//! PNG: header reading (size, depth, alpha, density, APNG animation control).

use crate::error::Error;
use crate::format::ImageFormat;

/// Width and height from the IHDR chunk, with its CRC and fields checked.
pub(crate) fn read_size(data: &[u8]) -> Result<(u32, u32), Error> {
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
pub(crate) fn bit_depth(data: &[u8]) -> u8 {
    match (data.get(24), data.get(25)) {
        (Some(_), Some(3)) => 8,
        (Some(&d), _) => d,
        _ => 8,
    }
}

/// Whether the PNG may decode with alpha: an alpha colour type (4, 6) or a `tRNS` chunk
/// before the image data.
pub(crate) fn may_have_alpha(data: &[u8]) -> bool {
    if matches!(data.get(25), Some(4 | 6)) {
        return true;
    }
    let mut pos = 8;
    while pos + 8 <= data.len() {
        let len =
            u32::from_be_bytes([data[pos], data[pos + 1], data[pos + 2], data[pos + 3]]) as usize;
        match &data[pos + 4..pos + 8] {
            b"tRNS" => return true,
            b"IDAT" | b"IEND" => return false,
            _ => pos = pos.saturating_add(12).saturating_add(len),
        }
    }
    false
}

/// An APNG's animation control (`acTL`, before the image data): the number of frames and
/// of plays (0 = forever). `None` for a still PNG, and for an `acTL` declaring no frame.
pub(crate) fn animation(data: &[u8]) -> Option<(u32, u32)> {
    let mut pos = 8;
    while pos + 8 <= data.len() {
        let len =
            u32::from_be_bytes([data[pos], data[pos + 1], data[pos + 2], data[pos + 3]]) as usize;
        match &data[pos + 4..pos + 8] {
            b"acTL" => {
                let body = data.get(pos + 8..pos + 16)?;
                let frames = u32::from_be_bytes([body[0], body[1], body[2], body[3]]);
                let plays = u32::from_be_bytes([body[4], body[5], body[6], body[7]]);
                return (frames > 0).then_some((frames, plays));
            }
            b"IDAT" | b"IEND" => return None,
            _ => pos = pos.saturating_add(12).saturating_add(len),
        }
    }
    None
}

/// Dots per inch from the pHYs chunk when its unit is the metre, rounded.
pub(crate) fn dpi(data: &[u8]) -> Option<(u32, u32)> {
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

/// The largest ICC profile read from a PNG, inflated. A larger `iCCP` chunk is dropped before
/// decoding: deflate makes it a bomb otherwise (200 KB inflating to 200 MB, decoded before
/// the first pixel row).
pub(crate) const MAX_ICC_BYTES: usize = 4 << 20;

/// `data` without an `iCCP` chunk whose profile inflates past [`MAX_ICC_BYTES`] (borrowed,
/// unchanged, when there is none). Malformed chunks are left for the decoder to report.
pub(crate) fn without_oversized_icc(data: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    let mut pos = 8;
    while let Some(head) = data.get(pos..pos + 8) {
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let end = pos.saturating_add(12).saturating_add(len);
        let Some(body) = data
            .get(pos + 8..pos + 8 + len)
            .filter(|_| end <= data.len())
        else {
            break;
        };
        match &head[4..8] {
            b"iCCP" => {
                // Name (1-79 bytes), NUL, compression method, zlib stream.
                let stream = body
                    .iter()
                    .position(|&b| b == 0)
                    .and_then(|nul| body.get(nul + 2..));
                let oversized = stream.is_some_and(|z| {
                    miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(z, MAX_ICC_BYTES)
                        .is_err_and(|e| {
                            e.status == miniz_oxide::inflate::TINFLStatus::HasMoreOutput
                        })
                });
                if oversized {
                    let mut out = Vec::with_capacity(data.len() - (end - pos));
                    out.extend_from_slice(&data[..pos]);
                    out.extend_from_slice(&data[end..]);
                    return out.into();
                }
                break;
            }
            b"IDAT" | b"IEND" => break,
            _ => pos = end,
        }
    }
    data.into()
}

#[cfg(test)]
mod icc_tests {
    use super::*;

    fn chunk(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut c = (body.len() as u32).to_be_bytes().to_vec();
        c.extend_from_slice(kind);
        c.extend_from_slice(body);
        c.extend_from_slice(&[0, 0, 0, 0]); // CRC not checked here
        c
    }

    #[test]
    fn an_icc_bomb_is_dropped_and_a_real_profile_kept() {
        let mut head = b"\x89PNG\r\n\x1a\n".to_vec();
        head.extend(chunk(b"IHDR", &[0, 0, 0, 1, 0, 0, 0, 1, 8, 2, 0, 0, 0]));
        let tail = chunk(b"IEND", &[]);
        let iccp = |profile: &[u8]| {
            let mut body = b"icc\0\0".to_vec();
            body.extend(miniz_oxide::deflate::compress_to_vec_zlib(profile, 9));
            chunk(b"iCCP", &body)
        };
        let small = [head.clone(), iccp(&[7; 3000]), tail.clone()].concat();
        assert!(matches!(
            without_oversized_icc(&small),
            std::borrow::Cow::Borrowed(_)
        ));
        let bomb = [
            head.clone(),
            iccp(&vec![0; MAX_ICC_BYTES + 1]),
            tail.clone(),
        ]
        .concat();
        assert_eq!(
            &*without_oversized_icc(&bomb),
            [head, tail].concat().as_slice()
        );
    }
}
