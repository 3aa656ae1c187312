//! HEIF (HEVC) and AVIF (AV1) through the system libheif (LGPL, linked dynamically), behind
//! the `heif` cargo feature. Decoding takes the primary image, alpha kept, 10- and 12-bit
//! reduced to 8 bits by libheif; encoding uses libheif's x265 (HEIF) and aom (AVIF) plugins.

use libheif_rs::{
    Channel, ColorProfileRaw, ColorSpace, CompressionFormat, EncoderQuality, HeifContext, Image,
    LibHeif, RgbChroma,
};

use crate::error::{Error, FormatName};
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

/// Encodes a bitmap as HEIF (HEVC) or AVIF (AV1) at `quality` (1..=100).
pub(crate) fn encode(
    bitmap: &Bitmap,
    icc: Option<&[u8]>,
    format: ImageFormat,
    quality: u8,
) -> Result<Vec<u8>, Error> {
    let fail = |e: libheif_rs::HeifError| Error::Encode {
        format: FormatName(Some(format)),
        message: format!("libheif: {e}"),
        source: None,
    };
    // The pixels are copied into libheif's plane row by row; grey is expanded on the way.
    let (chroma, channels) = match bitmap.layout {
        Layout::Rgba => (RgbChroma::Rgba, 4),
        Layout::Rgb | Layout::Gray => (RgbChroma::Rgb, 3),
    };
    let (w, h) = (bitmap.width, bitmap.height);
    let mut image = Image::new(w, h, ColorSpace::Rgb(chroma)).map_err(fail)?;
    image
        .create_plane(Channel::Interleaved, w, h, 8)
        .map_err(fail)?;
    {
        let planes = image.planes_mut();
        let plane = planes.interleaved.ok_or_else(|| Error::Encode {
            format: FormatName(Some(format)),
            message: "libheif gave no interleaved plane".into(),
            source: None,
        })?;
        let row = w as usize * channels;
        let src_row = w as usize * bitmap.layout.channels();
        for (y, line) in bitmap.data.chunks_exact(src_row).enumerate() {
            let out = &mut plane.data[y * plane.stride..y * plane.stride + row];
            if bitmap.layout == Layout::Gray {
                for (o, &g) in out.chunks_exact_mut(3).zip(line) {
                    o.fill(g);
                }
            } else {
                out.copy_from_slice(line);
            }
        }
    }
    if let Some(icc) = icc {
        let profile = ColorProfileRaw::new(libheif_rs::color_profile_types::PROF, icc.to_vec());
        // A profile libheif will not take is dropped rather than failing the image.
        let _ = image.set_color_profile_raw(&profile);
    }
    let lib = LibHeif::new();
    let mut encoder = lib.encoder_for_format(codec_of(format)).map_err(fail)?;
    encoder
        .set_quality(EncoderQuality::Lossy(quality.clamp(1, 100)))
        .map_err(fail)?;
    if format == ImageFormat::Avif {
        // aom's intra block copy (for screen content) hashes every block position of the
        // frame: on palette-like pictures (a GIF's dithering) it took 3.5x the memory and 6x
        // the time for a file a few percent smaller. Older plugins without the parameter
        // are left as they are.
        let _ = encoder.set_parameter_value(
            "enable-intrabc",
            libheif_rs::EncoderParameterValue::Bool(false),
        );
    }
    let mut ctx = HeifContext::new().map_err(fail)?;
    ctx.encode_image(&image, &mut encoder, None).map_err(fail)?;
    ctx.write_to_bytes().map_err(fail)
}

fn codec_of(format: ImageFormat) -> CompressionFormat {
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
