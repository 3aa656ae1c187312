//! HEIF (HEVC) and AVIF (AV1) through the system libheif (LGPL, linked dynamically), behind
//! the `heif` cargo feature. Decoding takes the primary image, alpha kept, 10- and 12-bit
//! reduced to 8 bits by libheif. Encoding (libheif's x265 and aom plugins) is in `heif_encode`.

use libheif_rs::{ColorSpace, CompressionFormat, HeifContext, LibHeif, RgbChroma};

use crate::error::Error;
use crate::format::ImageFormat;
use crate::pixels::{Bitmap, Layout, Raster};

fn decode_err(format: ImageFormat) -> impl Fn(libheif_rs::HeifError) -> Error {
    move |e| Error::decode(format, format!("libheif: {e}"))
}

/// `data` as libheif can read it: an AVIF sequence branded only `avis` is read through a copy
/// that names the still-image brands (see `bmff::with_still_brands`). An image sequence with no still image (its pictures are track samples only) is refused
/// with a message that says so.
fn readable(data: &[u8], format: ImageFormat) -> Result<std::borrow::Cow<'_, [u8]>, Error> {
    use super::bmff;
    if bmff::sequence_frames(data).is_some() && !bmff::has_still(data) {
        return Err(Error::decode(
            format,
            "an image sequence without a still image (no `meta` box) is not supported: \
             mogr reads HEIF and AVIF through libheif's still-image API",
        ));
    }
    Ok(bmff::with_still_brands(data).map_or(std::borrow::Cow::Borrowed(data), Into::into))
}

/// Width, height and whether the primary image has alpha, from the container's boxes.
pub(crate) fn read_header(data: &[u8], format: ImageFormat) -> Result<(u32, u32, bool), Error> {
    let data = readable(data, format)?;
    let ctx = HeifContext::read_from_bytes(&data).map_err(decode_err(format))?;
    let handle = ctx.primary_image_handle().map_err(decode_err(format))?;
    Ok((handle.width(), handle.height(), handle.has_alpha_channel()))
}

/// Decodes the primary image to 8-bit RGB or RGBA, with its ICC profile when it has one.
pub(crate) fn decode(data: &[u8], format: ImageFormat) -> Result<Raster, Error> {
    let lib = LibHeif::new();
    let data = readable(data, format)?;
    let ctx = HeifContext::read_from_bytes(&data).map_err(decode_err(format))?;
    let handle = ctx.primary_image_handle().map_err(decode_err(format))?;
    let alpha = handle.has_alpha_channel();
    let chroma = if alpha {
        RgbChroma::Rgba
    } else {
        RgbChroma::Rgb
    };
    let image = lib
        .decode(&handle, ColorSpace::Rgb(chroma), None)
        .map_err(decode_err(format))?;
    let planes = image.planes();
    let plane = planes
        .interleaved
        .ok_or_else(|| Error::decode(format, "libheif returned no interleaved plane"))?;
    // The limits were checked on the header's size; a coded image of another size is refused
    // rather than passed on.
    if (plane.width, plane.height) != (handle.width(), handle.height()) {
        return Err(Error::decode(
            format,
            format!(
                "the coded image is {}x{}, its header says {}x{}",
                plane.width,
                plane.height,
                handle.width(),
                handle.height()
            ),
        ));
    }
    let (w, h) = (plane.width as usize, plane.height as usize);
    let (layout, channels) = if alpha {
        (Layout::Rgba, 4)
    } else {
        (Layout::Rgb, 3)
    };
    let row = w * channels;
    let mut pixels = Vec::with_capacity(row * h);
    for y in 0..h {
        let start = y * plane.stride;
        let line = plane
            .data
            .get(start..start + row)
            .ok_or_else(|| Error::decode(format, "libheif plane shorter than its size"))?;
        pixels.extend_from_slice(line);
    }
    let icc = handle.color_profile_raw().map(|p| p.data);
    let bitmap = Bitmap {
        width: w as u32,
        height: h as u32,
        layout,
        data: pixels,
    };
    Ok(Raster::still(bitmap, icc))
}

/// libheif's compression format for `format`.
pub(crate) fn codec_of(format: ImageFormat) -> CompressionFormat {
    if format == ImageFormat::Avif {
        CompressionFormat::Av1
    } else {
        CompressionFormat::Hevc
    }
}

/// Whether the libheif loaded at run time has a decoder plugin for `format`'s codec.
pub(crate) fn has_decoder(format: ImageFormat) -> bool {
    !LibHeif::new()
        .decoder_descriptors(1, Some(codec_of(format)))
        .is_empty()
}

/// Whether the libheif loaded at run time has an encoder plugin for `format`'s codec.
pub(crate) fn has_encoder(format: ImageFormat) -> bool {
    !LibHeif::new()
        .encoder_descriptors(1, Some(codec_of(format)), None)
        .is_empty()
}
