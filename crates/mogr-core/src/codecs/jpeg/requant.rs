//! JPEG to JPEG in the DCT domain: entropy-decode the coefficients, rescale them from the
//! input's quantization tables to the IJG tables at the output quality, entropy-encode.
//!
//! No IDCT, colour conversion, resampling or FDCT, and so no pixel-domain rounding: faster
//! than a decode and re-encode, and closer to the input. It applies when the input already
//! has the layout the output wants (grey, or YCbCr with 4:2:0 below quality 90 and 4:4:4
//! from 90 up, 8-bit, Huffman-coded); [`eligible`] says when.

use super::coeffs::decode_coefficients;
use super::entropy::{write, WriteSettings};
use super::estimate::{scaled_table, IJG_CHROMA, IJG_LUMA};
use super::markers::{Density, JpegHeader, Segment, ZIGZAG};
use crate::error::Error;
use crate::format::ImageFormat;

/// Whether `header` can be requantized to `quality` without changing its layout.
pub fn eligible(header: &JpegHeader<'_>, quality: u8) -> bool {
    if header.precision != 8 || !matches!(header.sof, 0xC0..=0xC2) {
        return false;
    }
    match header.components.len() {
        1 => true,
        3 => {
            // An Adobe transform of 0, or components named R, G, B, mean RGB, not YCbCr.
            let rgb = header.adobe_transform == Some(0)
                || header
                    .components
                    .iter()
                    .map(|c| c.id)
                    .eq([b'R', b'G', b'B']);
            let layout_fits = if quality < 90 {
                header.is_420()
            } else {
                header.components.iter().all(|c| c.h == 1 && c.v == 1)
            };
            !rgb && layout_fits
        }
        _ => false,
    }
}

/// Requantizes `input` to the IJG tables at `quality` (1..=100); see the module docs.
pub fn requantize(
    input: &[u8],
    quality: u8,
    progressive: bool,
    density: Option<Density>,
    segments: &[Segment<'_>],
) -> Result<Vec<u8>, Error> {
    let mut coeffs = decode_coefficients(input)?;
    let tables = [
        scaled_table(&IJG_LUMA, quality, true),
        scaled_table(&IJG_CHROMA, quality, true),
    ];
    for (i, comp) in coeffs.components.iter_mut().enumerate() {
        let old = comp
            .table
            .ok_or_else(|| Error::decode(ImageFormat::Jpeg, "a component has no scan"))?;
        let slot = usize::from(i > 0);
        let new = &tables[slot];
        // Per zigzag position: old step and new step.
        let from: [i32; 64] = std::array::from_fn(|k| i32::from(old[ZIGZAG[k]]));
        let to: [u32; 64] = std::array::from_fn(|k| u32::from(new[ZIGZAG[k]].clamp(1, 255)));
        // Division by multiplication: floor(n / d) == (n * (2^40 / d + 1)) >> 40 exactly
        // while n * d < 2^40, which holds for n < 2^32 and d <= 255.
        let recip: [u64; 64] = std::array::from_fn(|k| (1u64 << 40) / u64::from(to[k]) + 1);
        for (block, end) in comp.blocks.iter_mut().zip(comp.ends.iter_mut()) {
            let mut last = 0;
            let n_coefs = usize::from(*end).min(64);
            for (k, coef) in block.iter_mut().enumerate().take(n_coefs) {
                // Branch-free: a zero stays zero through the arithmetic.
                let v = i32::from(*coef) * from[k];
                // Round half away from zero; 1023 keeps every value (and DC difference)
                // inside baseline Huffman categories.
                let n = u64::from(v.unsigned_abs() + to[k] / 2);
                let q = ((n * recip[k]) >> 40).min(1023) as i32;
                *coef = (q * v.signum()) as i16;
                last = if q != 0 { k + 1 } else { last };
            }
            *end = last as u8;
        }
        comp.tq = slot as u8;
    }
    let settings = WriteSettings {
        progressive,
        tables: if coeffs.components.len() == 1 {
            &tables[..1]
        } else {
            &tables
        },
        density,
        segments,
    };
    Ok(write(&coeffs, &settings))
}
