//! Encoding a [`Raster`] to any output format: one `match` on the format, codec details in
//! `codecs/`.

use crate::codecs::jpeg::{encode as jpeg_encode, markers};
use crate::codecs::{gif, webp, webp_encode};
use crate::error::{Error, FormatName};
use crate::format::ImageFormat;
use crate::icc;
use crate::pixels::{Bitmap, Layout, Raster};
use crate::stop::Stop;

/// The largest width or height a WebP can hold.
const WEBP_MAX_SIDE: u32 = 16383;

/// How to encode a raster. Build it from [`EncodeSettings::default`] with the `with_`
/// methods; fields may be added in any release.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EncodeSettings {
    /// Quality for lossy outputs (JPEG, lossy WebP, HEIF, AVIF); `None` asks WebP for
    /// lossless and the other lossy formats for their default quality. Default: `None`.
    pub quality: Option<u8>,
    /// Progressive JPEG. Default: `false`.
    pub progressive: bool,
    /// GIF: at most this many palette colours (2..=255) besides the transparent one.
    /// Default: `None`, 255.
    pub gif_colors: Option<usize>,
}

impl EncodeSettings {
    /// With this quality (see [`EncodeSettings::quality`]).
    #[must_use]
    pub fn with_quality(mut self, quality: u8) -> EncodeSettings {
        self.quality = Some(quality);
        self
    }

    /// With progressive JPEG output, or not.
    #[must_use]
    pub fn with_progressive(mut self, progressive: bool) -> EncodeSettings {
        self.progressive = progressive;
        self
    }

    /// With at most `colors` GIF palette colours.
    #[must_use]
    pub fn with_gif_colors(mut self, colors: usize) -> EncodeSettings {
        self.gif_colors = Some(colors);
        self
    }
}

fn encode_err(format: ImageFormat) -> impl Fn(image::ImageError) -> Error {
    move |e| Error::encode_with(format, "encoder failed", e)
}

/// Encodes `raster` as `target`. Still formats take the first frame; alpha goes over white
/// where the format has none (JPEG, BMP).
///
/// `stop` is checked before the encode and, for a GIF, before each frame; a single libwebp,
/// libjpeg-class or libheif encode (an animated WebP included) runs to its end.
///
/// A raster that disagrees with itself ([`Raster::malformed`]: no frames, a side of zero,
/// samples that do not fill the size) is an [`Error::Encode`], never a panic.
pub fn encode(
    raster: &Raster,
    target: ImageFormat,
    settings: EncodeSettings,
    stop: &Stop,
) -> Result<Vec<u8>, Error> {
    well_formed(raster, target)?;
    stop.check()?;
    use image::ImageEncoder;
    let first = raster.first();
    let mut out = Vec::new();
    match target {
        ImageFormat::Jpeg => {
            return with_jpeg_settings(raster.icc.as_deref(), settings, |js| {
                jpeg_encode::encode(first, js)
            })
        }
        ImageFormat::Png => {
            let mut enc = image::codecs::png::PngEncoder::new(&mut out);
            if let Some(icc) = &raster.icc {
                // An unsupported profile is dropped rather than failing the image.
                let _ = enc.set_icc_profile(icc.clone());
            }
            enc.write_image(
                &first.data,
                first.width,
                first.height,
                color_type(first.layout),
            )
            .map_err(encode_err(target))?;
        }
        ImageFormat::Bmp => {
            // Borrowed unless a colour conversion or alpha needs new pixels; the output
            // is reserved whole (rows padded to 4 bytes), so it is never reallocated.
            let srgb = icc::to_srgb(raster);
            let composed;
            let rgb = match srgb.first() {
                b if b.layout == Layout::Rgba => {
                    composed = b.over_white();
                    &composed
                }
                b => b,
            };
            let row = (rgb.width as usize * 3).div_ceil(4) * 4;
            out.reserve_exact(row * rgb.height as usize + 1078);
            image::codecs::bmp::BmpEncoder::new(&mut out)
                .write_image(&rgb.data, rgb.width, rgb.height, color_type(rgb.layout))
                .map_err(encode_err(target))?;
        }
        ImageFormat::Gif => {
            let colors = settings.gif_colors.unwrap_or(255);
            return gif::encode_with_colors(&icc::to_srgb(raster), colors, stop);
        }
        ImageFormat::Webp => {
            // WebP cannot hold a side over 16383 px: a limits error (which ignore-error/1
            // covers) rather than libwebp's bare "bad dimension".
            let side = first.width.max(first.height);
            if side > WEBP_MAX_SIDE {
                return Err(Error::Limits {
                    format: FormatName(Some(target)),
                    kind: crate::LimitKind::Side {
                        found: side.into(),
                        limit: WEBP_MAX_SIDE.into(),
                    },
                });
            }
            // libwebp merges identical consecutive frames (their durations added) and writes
            // nothing when every frame is the same: such an animation is one still picture.
            let all_same = raster.frames.windows(2).all(|w| w[0].bitmap == w[1].bitmap);
            if raster.frames.len() > 1 && !all_same {
                let out = webp::encode_animated(raster, settings.quality)?;
                return match &raster.icc {
                    Some(icc) => webp::with_icc(&out, icc),
                    None => Ok(out),
                };
            }
            let rgba;
            let pixels = match first.layout {
                Layout::Gray => {
                    rgba = Bitmap {
                        data: first.to_rgba(),
                        layout: Layout::Rgba,
                        ..*first
                    };
                    &rgba
                }
                _ => first,
            };
            let mem = webp_encode::encode(pixels, settings.quality, stop)?;
            out = mem;
            if let Some(icc) = &raster.icc {
                out = webp::with_icc(&out, icc)?;
            }
        }
        #[cfg(feature = "heif")]
        ImageFormat::Heif | ImageFormat::Avif => {
            let q = settings
                .quality
                .or(crate::quality::default_quality(target))
                .unwrap_or(crate::quality::DEFAULT_HEIF);
            return crate::codecs::heif_encode::encode(
                first,
                raster.icc.as_deref(),
                target,
                q,
                stop,
            );
        }
        #[allow(unreachable_patterns)]
        other => {
            return Err(other.not_compiled().unwrap_or_else(|| Error::Unsupported {
                what: format!("output format {other}"),
            }))
        }
    }
    Ok(out)
}

/// As [`encode`], consuming the raster, so that an encoder that works in two passes (JPEG)
/// frees the pixels after the first.
pub(crate) fn encode_owned(
    mut raster: Raster,
    target: ImageFormat,
    settings: EncodeSettings,
    stop: &Stop,
) -> Result<Vec<u8>, Error> {
    if target != ImageFormat::Jpeg {
        return encode(&raster, target, settings, stop);
    }
    well_formed(&raster, target)?;
    stop.check()?;
    let icc = raster.icc.take();
    let first = raster.frames.swap_remove(0).bitmap;
    drop(raster);
    with_jpeg_settings(icc.as_deref(), settings, |js| {
        jpeg_encode::encode_owned(first, js)
    })
}

/// An encode error naming what is wrong with a raster that disagrees with itself.
fn well_formed(raster: &Raster, target: ImageFormat) -> Result<(), Error> {
    match raster.malformed() {
        None => Ok(()),
        Some(message) => Err(Error::Encode {
            format: FormatName(Some(target)),
            message,
            source: None,
        }),
    }
}

/// Calls `f` with the JPEG settings: the ICC profile (if any) as APP2 segments.
fn with_jpeg_settings<T>(
    icc: Option<&[u8]>,
    settings: EncodeSettings,
    f: impl FnOnce(&jpeg_encode::JpegSettings<'_>) -> T,
) -> T {
    let icc_payloads = icc.map(icc::app2_payloads).unwrap_or_default();
    let segments = icc_payloads
        .iter()
        .map(|p| markers::Segment {
            marker: markers::code::APP2,
            payload: p,
        })
        .collect();
    let js = jpeg_encode::JpegSettings {
        quality: settings.quality.unwrap_or(crate::quality::DEFAULT_JPEG),
        progressive: settings.progressive,
        density: None,
        segments,
    };
    f(&js)
}

fn color_type(layout: Layout) -> image::ExtendedColorType {
    match layout {
        Layout::Gray => image::ExtendedColorType::L8,
        Layout::Rgb => image::ExtendedColorType::Rgb8,
        Layout::Rgba => image::ExtendedColorType::Rgba8,
    }
}
