//! ICC profiles: reassembled from a JPEG's APP2 chunks, split into them for JPEG output,
//! and applied to the pixels (to sRGB) for outputs that cannot carry a profile.

use crate::codecs::jpeg::markers;
use crate::pixels::{Layout, Raster};

/// The ICC profile of a JPEG, reassembled from its APP2 chunks in sequence order.
pub(crate) fn from_jpeg(header: &markers::JpegHeader<'_>) -> Option<Vec<u8>> {
    let mut chunks: Vec<(u8, &[u8])> = header
        .segments
        .iter()
        .filter(|s| s.kind() == markers::SegmentKind::Icc && s.payload.len() > 14)
        .map(|s| (s.payload[12], &s.payload[14..]))
        .collect();
    if chunks.is_empty() || header.components.len() == 4 {
        return None; // none, or a CMYK profile that does not describe our RGB pixels
    }
    chunks.sort_by_key(|c| c.0);
    Some(
        chunks
            .into_iter()
            .flat_map(|c| c.1.iter().copied())
            .collect(),
    )
}

/// The raster with its pixels converted to sRGB through its ICC profile, for outputs that
/// cannot carry a profile (GIF, BMP). Without a profile, or with one moxcms cannot use (grey,
/// CMYK, malformed), the pixels stay as they are.
pub(crate) fn to_srgb(raster: &Raster) -> std::borrow::Cow<'_, Raster> {
    use std::borrow::Cow;
    let Some(icc) = raster.icc.as_deref() else {
        return Cow::Borrowed(raster);
    };
    let Ok(profile) = moxcms::ColorProfile::new_from_slice(icc) else {
        return Cow::Borrowed(raster);
    };
    let srgb = moxcms::ColorProfile::new_srgb();
    let mut out = raster.clone();
    for frame in &mut out.frames {
        let layout = match frame.bitmap.layout {
            Layout::Rgb => moxcms::Layout::Rgb,
            Layout::Rgba => moxcms::Layout::Rgba,
            Layout::Gray => return Cow::Borrowed(raster),
        };
        let Ok(transform) = profile.create_transform_8bit(
            layout,
            &srgb,
            layout,
            moxcms::TransformOptions::default(),
        ) else {
            return Cow::Borrowed(raster);
        };
        let mut converted = vec![0u8; frame.bitmap.data.len()];
        if transform
            .transform(&frame.bitmap.data, &mut converted)
            .is_err()
        {
            return Cow::Borrowed(raster);
        }
        frame.bitmap.data = converted;
    }
    out.icc = None;
    Cow::Owned(out)
}

/// An ICC profile split into APP2 `ICC_PROFILE` payloads (at most 255 chunks).
pub(crate) fn app2_payloads(icc: &[u8]) -> Vec<Vec<u8>> {
    const CHUNK: usize = 65_519;
    let count = icc.len().div_ceil(CHUNK);
    if count == 0 || count > 255 {
        return Vec::new();
    }
    icc.chunks(CHUNK)
        .enumerate()
        .map(|(i, part)| {
            let mut p = b"ICC_PROFILE\0".to_vec();
            p.extend_from_slice(&[i as u8 + 1, count as u8]);
            p.extend_from_slice(part);
            p
        })
        .collect()
}
