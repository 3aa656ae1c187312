//! Pixels to JPEG, through `jpeg-encoder`, with metadata spliced in from the input.

use super::entropy_decode::{decode_coefficients, Coefficients};
use super::entropy_encode::{write, WriteSettings};
use super::markers::{Density, Segment};
use crate::error::Error;
use crate::format::ImageFormat;
use crate::pixels::{Bitmap, Layout};

/// How to encode a JPEG.
#[derive(Debug, Clone)]
pub struct JpegSettings<'a> {
    /// Quality 0..=100 (0 is treated as 1), applied to the IJG standard tables.
    pub quality: u8,
    /// Progressive (SOF2) instead of baseline (SOF0).
    pub progressive: bool,
    /// JFIF density to write.
    pub density: Option<Density>,
    /// Metadata segments to write after the JFIF header, in order.
    pub segments: Vec<Segment<'a>>,
}

/// Chroma subsampling used at a quality: 4:2:0 below 90, 4:4:4 from 90 up.
pub fn subsampling_for(quality: u8) -> jpeg_encoder::SamplingFactor {
    if quality < 90 {
        jpeg_encoder::SamplingFactor::F_2_2
    } else {
        jpeg_encoder::SamplingFactor::F_1_1
    }
}

/// Encodes `bitmap` (alpha is composed over white) with the IJG standard tables scaled by
/// libjpeg's formula, so that the output's estimated quality is exactly `settings.quality`.
/// Huffman tables are always optimized; grey stays grey.
///
/// The pixels are borrowed: only RGBA input is copied (composed over white). Use
/// [`encode_owned`] when the pixels are not needed afterwards: it frees them before the
/// second pass, so that an encode holds about the decoded image once.
pub fn encode(bitmap: &Bitmap, settings: &JpegSettings<'_>) -> Result<Vec<u8>, Error> {
    let composed;
    let bitmap = if bitmap.layout == Layout::Rgba {
        composed = bitmap.over_white();
        &composed
    } else {
        bitmap
    };
    let baseline = baseline(bitmap, settings.quality)?;
    optimize(baseline, settings)
}

/// As [`encode`], consuming the pixels: alpha is composed over white in place, and the
/// pixels are freed once the first pass has coded them.
pub fn encode_owned(bitmap: Bitmap, settings: &JpegSettings<'_>) -> Result<Vec<u8>, Error> {
    let bitmap = bitmap.without_alpha();
    let baseline = baseline(&bitmap, settings.quality)?;
    drop(bitmap);
    optimize(baseline, settings)
}

/// The first pass: `jpeg-encoder`'s interleaved baseline with the standard Huffman tables,
/// which codes one row of MCUs at a time (its optimizing and progressive modes first
/// convert the whole image to planes and keep every block: three times the pixels' memory).
fn baseline(bitmap: &Bitmap, quality: u8) -> Result<Vec<u8>, Error> {
    let (w, h) = (
        u16::try_from(bitmap.width).map_err(|_| too_large())?,
        u16::try_from(bitmap.height).map_err(|_| too_large())?,
    );
    let quality = quality.clamp(1, 100);
    let mut out = Vec::with_capacity(bitmap.data.len() / 8 + 1024);
    let mut encoder = jpeg_encoder::Encoder::new(&mut out, quality);
    encoder.set_sampling_factor(subsampling_for(quality));
    let color = match bitmap.layout {
        Layout::Gray => jpeg_encoder::ColorType::Luma,
        Layout::Rgb => jpeg_encoder::ColorType::Rgb,
        Layout::Rgba => jpeg_encoder::ColorType::Rgba,
    };
    encoder
        .encode(&bitmap.data, w, h, color)
        .map_err(|e| Error::encode_with(ImageFormat::Jpeg, "jpeg-encoder failed", e))?;
    Ok(out)
}

/// The second pass, in the DCT domain: the baseline's coefficients, kept as they are,
/// written with optimal Huffman tables (progressive if asked), the density and metadata.
fn optimize(baseline: Vec<u8>, settings: &JpegSettings<'_>) -> Result<Vec<u8>, Error> {
    let coeffs = decode_coefficients(&baseline)?;
    drop(baseline);
    write_coefficients(&coeffs, settings, true)
}

/// Writes coefficients (as [`decode_coefficients`] reads them, or as
/// [`stack`](super::entropy_decode::stack) joins them) as a JPEG file: their own tables,
/// optimal Huffman tables, libjpeg's progressive script or a baseline scan per component
/// (`scan_per_component`: each with its own tables, smaller but for the smallest images)
/// or one interleaved scan, the density and metadata of `settings` (its quality is not
/// used). The file decodes to the coefficients as they are.
pub fn write_coefficients(
    coeffs: &Coefficients,
    settings: &JpegSettings<'_>,
    scan_per_component: bool,
) -> Result<Vec<u8>, Error> {
    let mut tables = Vec::new();
    for comp in &coeffs.components {
        let slot = usize::from(comp.tq);
        if tables.len() <= slot {
            tables.resize(slot + 1, [1u16; 64]);
        }
        tables[slot] = comp
            .table
            .ok_or_else(|| encode_error("a component has no quantization table"))?;
    }
    let write_settings = WriteSettings {
        progressive: settings.progressive,
        scan_per_component,
        tables: &tables,
        density: settings.density.filter(|d| d.x > 0 && d.y > 0),
        segments: &settings.segments,
    };
    Ok(write(coeffs, &write_settings))
}

fn too_large() -> Error {
    encode_error("JPEG sides are limited to 65,535 pixels")
}

fn encode_error(message: &str) -> Error {
    Error::Encode {
        format: crate::error::FormatName(Some(ImageFormat::Jpeg)),
        message: message.into(),
        source: None,
    }
}

/// Inserts metadata segments after SOI and the encoder's JFIF APP0 header.
pub fn splice_segments(encoded: Vec<u8>, segments: &[Segment<'_>]) -> Vec<u8> {
    if segments.is_empty() {
        return encoded;
    }
    let mut at = 2;
    if encoded.get(2..4) == Some(&[0xFF, super::markers::code::APP0]) {
        let len = usize::from(u16::from_be_bytes([encoded[4], encoded[5]]));
        at = 4 + len;
    }
    let extra: usize = segments.iter().map(|s| s.payload.len() + 4).sum();
    let mut out = Vec::with_capacity(encoded.len() + extra);
    out.extend_from_slice(&encoded[..at]);
    for s in segments {
        // Segments come from a parsed file, so each payload fits in a 16-bit length.
        let len = (s.payload.len() + 2) as u16;
        out.extend_from_slice(&[0xFF, s.marker]);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(s.payload);
    }
    out.extend_from_slice(&encoded[at..]);
    out
}
