//! JPEG to pixels: mogr's own reconstruction (bit for bit libjpeg's) for subsampled YCbCr
//! and arithmetic-coded files, `zune-jpeg` for the other 8-bit Huffman-coded grey and YCbCr
//! files (its fastest decoder), `jpeg-decoder` for the rest (CMYK/YCCK, RGB-coded,
//! lossless) and for files the others refuse.

use super::entropy_decode::Coefficients;
use super::markers::{code, JpegHeader};
use crate::error::Error;
use crate::format::ImageFormat;
use crate::pixels::{Bitmap, Layout};

/// Decodes a JPEG whose header has already passed the limits.
///
/// Grey stays grey; YCbCr and RGB give RGB; CMYK and YCCK (Adobe) give RGB by the usual
/// inverted-Adobe formula `R = (255 - C) * (255 - K) / 255` on ink amounts, without ICC
/// colour management; 12/16-bit samples are reduced to 8 bits. MPO files give their first
/// image.
pub fn decode(data: &[u8], header: &JpegHeader<'_>) -> Result<Bitmap, Error> {
    supported(header)?;
    if let Some(bitmap) = decode_exact(data, header) {
        return Ok(bitmap);
    }
    match decode_zune(data, header) {
        Some(bitmap) => Ok(bitmap),
        None => decode_scaled(data, header, false),
    }
}

/// The pixels of coefficients (as [`decode_coefficients`](super::entropy_decode::decode_coefficients)
/// reads them, or as [`stack`](super::entropy_decode::stack) joins them), reconstructed as
/// `djpeg` does, bit for bit: grey or YCbCr, any whole-number sampling.
pub fn from_coefficients(c: Coefficients) -> Result<Bitmap, Error> {
    super::reconstruct::to_bitmap(c).ok_or_else(|| {
        Error::decode(
            ImageFormat::Jpeg,
            "the coefficients are not grey or YCbCr with whole-number sampling",
        )
    })
}

/// Refuses, with a message that names it, a coding process no decoder here implements
/// (rather than calling the file corrupt): lossy DCT with more than 8 bits per sample,
/// hierarchical (differential) frames, arithmetic-coded lossless.
fn supported(header: &JpegHeader<'_>) -> Result<(), Error> {
    let unsupported = match header.sof {
        0xC1 | 0xC2 | 0xC9 | 0xCA if header.precision != 8 => format!(
            "{}-bit lossy JPEG is not supported (8-bit samples only; lossless up to 16 bits)",
            header.precision
        ),
        0xC5..=0xC7 | 0xCD..=0xCF => "hierarchical JPEG is not supported".to_string(),
        0xCB => "arithmetic-coded lossless JPEG is not supported".to_string(),
        _ => return Ok(()),
    };
    Err(Error::decode(ImageFormat::Jpeg, unsupported))
}

/// mogr's own reconstruction ([`super::reconstruct`], bit for bit what `djpeg` gives) for
/// arithmetic-coded grey and YCbCr files, and for 8-bit Huffman-coded YCbCr files with a
/// subsampled component: `zune-jpeg` differs from
/// libjpeg at the edges of subsampled components (the last column or row, and every pixel
/// of an image whose chroma is 1 or 2 samples wide). `None` for other layouts and for
/// files the strict coefficient decoder refuses (truncated data): those go on to the
/// decoders below, which fill what is missing.
fn decode_exact(data: &[u8], header: &JpegHeader<'_>) -> Option<Bitmap> {
    let subsampled = header
        .components
        .iter()
        .any(|c| header.components.iter().any(|o| o.h != c.h || o.v != c.v));
    let rgb_coded =
        header.adobe_transform == Some(0) || header.components.iter().map(|c| c.id).eq(*b"RGB");
    // Arithmetic-coded files (neither zune-jpeg nor jpeg-decoder reads them) come here
    // whatever their sampling.
    let arithmetic = header.is_arithmetic_dct();
    let huffman = matches!(header.sof, code::SOF0..=code::SOF2);
    let layout_fits = if arithmetic {
        header.components.len() == 1 || (header.components.len() == 3 && !rgb_coded)
    } else {
        subsampled && !rgb_coded && header.components.len() == 3
    };
    if !layout_fits || header.precision != 8 || !(arithmetic || huffman) {
        return None;
    }
    let coefficients = super::entropy_decode::decode_coefficients(data).ok()?;
    super::reconstruct::to_bitmap(coefficients)
        .filter(|b| b.width == header.width && b.height == header.height)
}

/// `zune-jpeg` on the layouts it decodes like libjpeg: 8-bit, Huffman-coded (baseline,
/// extended or progressive), grey or YCbCr. `None` for other layouts and for anything it
/// refuses, which then goes to `jpeg-decoder`. Strict mode: a truncated or damaged file is
/// refused here (lenient, it fills missing data with grey, even for a file with no scan
/// data at all) and `jpeg-decoder` decides.
fn decode_zune(data: &[u8], header: &JpegHeader<'_>) -> Option<Bitmap> {
    use zune_jpeg::zune_core::{
        bytestream::ZCursor, colorspace::ColorSpace, options::DecoderOptions,
    };
    if header.precision != 8 || !matches!(header.sof, code::SOF0..=code::SOF2) {
        return None;
    }
    // zune-jpeg 0.5 decodes sequential files whose components come in separate scans
    // wrongly (measured: mean error 140 of 255): those go to jpeg-decoder.
    let interleaved = first_scan_components(data) == Some(header.components.len());
    if header.sof != 0xC2 && header.components.len() > 1 && !interleaved {
        return None;
    }
    let rgb_coded =
        header.adobe_transform == Some(0) || header.components.iter().map(|c| c.id).eq(*b"RGB");
    let (layout, colorspace) = match header.components.len() {
        1 => (Layout::Gray, ColorSpace::Luma),
        3 if !rgb_coded => (Layout::Rgb, ColorSpace::RGB),
        _ => return None,
    };
    let (width, height) = (header.width, header.height);
    let options = DecoderOptions::default()
        .jpeg_set_out_colorspace(colorspace)
        .set_max_width(width as usize)
        .set_max_height(height as usize)
        .set_strict_mode(true);
    let mut decoder = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(data), options);
    let pixels = decoder.decode().ok()?;
    let info = decoder.info()?;
    let expected = width as usize * height as usize * layout.channels();
    (u32::from(info.width) == width && u32::from(info.height) == height && pixels.len() == expected)
        .then_some(Bitmap {
            width,
            height,
            layout,
            data: pixels,
        })
}

/// As [`decode`]; with `eighth`, at one eighth of the size in each direction (each pixel
/// the mean of an 8x8 block, from its DC coefficient: no full IDCT, no upsampling), which
/// is all a mean colour needs.
pub fn decode_scaled(data: &[u8], header: &JpegHeader<'_>, eighth: bool) -> Result<Bitmap, Error> {
    supported(header)?;
    let mut decoder = jpeg_decoder::Decoder::new(data);
    // jpeg-decoder scales DCT-coded files only; a lossless one comes out at full size.
    let lossless = header.is_lossless();
    if eighth && !lossless {
        let side = |v: u32| u16::try_from(v.div_ceil(4)).unwrap_or(u16::MAX).max(1);
        decoder
            .scale(side(header.width), side(header.height))
            .map_err(|e| {
                Error::decode_with(ImageFormat::Jpeg, "corrupt or truncated JPEG data", e)
            })?;
    }
    // A bound on what the decoder may allocate: the output plus working planes for 4
    // components at 2 bytes per sample, all derived from the (already limited) header.
    let pixels = header.width as usize * header.height as usize;
    decoder.set_max_decoding_buffer_size(pixels.saturating_mul(8).max(1 << 16));
    let samples = decoder
        .decode()
        .map_err(|e| Error::decode_with(ImageFormat::Jpeg, "corrupt or truncated JPEG data", e))?;
    let info = decoder
        .info()
        .ok_or_else(|| Error::decode(ImageFormat::Jpeg, "no frame header"))?;
    let (width, height) = (u32::from(info.width), u32::from(info.height));
    // Lossless files may hold 2 to 16 bits per sample: jpeg-decoder gives them as they are
    // (native-endian `u16` above 8 bits, whatever `pixel_format` says for colour).
    let samples = to_eight_bits(samples, header.precision);
    let (layout, data) = match info.pixel_format {
        jpeg_decoder::PixelFormat::L8 | jpeg_decoder::PixelFormat::L16 => (Layout::Gray, samples),
        jpeg_decoder::PixelFormat::RGB24 => (Layout::Rgb, samples),
        jpeg_decoder::PixelFormat::CMYK32 => (Layout::Rgb, cmyk_to_rgb(&samples)),
    };
    let expected = width as usize * height as usize * layout.channels();
    if data.len() != expected {
        return Err(Error::decode(
            ImageFormat::Jpeg,
            "decoder returned a short image",
        ));
    }
    Ok(Bitmap {
        width,
        height,
        layout,
        data,
    })
}

/// Samples of `precision` bits (as jpeg-decoder returns them: one byte each up to 8 bits,
/// a native-endian `u16` above) to 8 bits, scaled by the precision's full range
/// (`v * 255 / (2^precision - 1)`, rounded), as a 16-bit reader scales a PGM whose maxval
/// is `2^precision - 1`: a 12-bit sample of 4095 is white, not the low byte of 4095.
fn to_eight_bits(samples: Vec<u8>, precision: u8) -> Vec<u8> {
    let max = (1u32 << precision.clamp(1, 16)) - 1;
    let scale = |v: u32| ((v.min(max) * 255 + max / 2) / max) as u8;
    match precision {
        8 => samples,
        9.. => samples
            .chunks_exact(2)
            .map(|s| scale(u32::from(u16::from_ne_bytes([s[0], s[1]]))))
            .collect(),
        _ => samples.into_iter().map(|v| scale(u32::from(v))).collect(),
    }
}

/// How many components the first scan holds (all of them in an interleaved file).
fn first_scan_components(data: &[u8]) -> Option<usize> {
    use super::markers::{code, Marker, Markers};
    for marker in Markers::after_soi(data) {
        match marker.ok()? {
            Marker::Segment {
                code: code::SOS,
                payload,
                ..
            } => return payload.first().map(|&n| usize::from(n)),
            Marker::Segment { .. } => {}
            Marker::Bare { .. } => return None,
        }
    }
    None
}

/// Ink amounts (0 = no ink) to RGB.
fn cmyk_to_rgb(cmyk: &[u8]) -> Vec<u8> {
    cmyk.chunks_exact(4)
        .flat_map(|p| {
            let k = 255 - u32::from(p[3]);
            let channel = |c: u8| (((255 - u32::from(c)) * k + 127) / 255) as u8;
            [channel(p[0]), channel(p[1]), channel(p[2])]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codecs::jpeg::markers::read_header;

    #[test]
    fn zune_takes_the_common_layouts_and_agrees_with_jpeg_decoder() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/images/jpeg");
        let mut taken = 0;
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let data = std::fs::read(entry.path()).unwrap();
            let header = read_header(&data).unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(fast) = decode_zune(&data, &header) else {
                // Only the layouts routed away on purpose may be refused.
                let non_interleaved =
                    header.components.len() > 1 && first_scan_components(&data) == Some(1);
                assert!(
                    header.components.len() == 4 || non_interleaved,
                    "{name}: refused"
                );
                continue;
            };
            let reference = decode_scaled(&data, &header, false).unwrap();
            assert_eq!(fast.layout, reference.layout, "{name}");
            let diff = fast
                .data
                .iter()
                .zip(&reference.data)
                .map(|(a, b)| f64::from(a.abs_diff(*b)))
                .sum::<f64>()
                / fast.data.len() as f64;
            assert!(diff < 1.0, "{name}: mean difference {diff}");
            taken += 1;
        }
        assert!(taken >= 8, "{taken}");
    }
}
