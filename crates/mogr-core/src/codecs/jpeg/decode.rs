//! JPEG to pixels, through `jpeg-decoder`.

use super::markers::JpegHeader;
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
    decode_scaled(data, header, false)
}

/// As [`decode`]; with `eighth`, at one eighth of the size in each direction (each pixel
/// the mean of an 8x8 block, from its DC coefficient: no full IDCT, no upsampling), which
/// is all a mean colour needs.
pub fn decode_scaled(data: &[u8], header: &JpegHeader<'_>, eighth: bool) -> Result<Bitmap, Error> {
    let mut decoder = jpeg_decoder::Decoder::new(data);
    if eighth {
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
    let (layout, data) = match info.pixel_format {
        jpeg_decoder::PixelFormat::L8 => (Layout::Gray, samples),
        jpeg_decoder::PixelFormat::L16 => (
            Layout::Gray,
            samples.chunks_exact(2).map(|s| s[0]).collect(),
        ),
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
