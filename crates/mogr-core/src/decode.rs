//! Decoding any supported input to a [`Raster`]: one `match` on the format, codec details
//! in `codecs/`.

use std::io::Cursor;

use image::{AnimationDecoder, ImageDecoder};

use crate::codecs::jpeg::{decode as jpeg_decode, exif, markers};
use crate::codecs::{bmp, gif, png, webp};
use crate::error::{Error, FormatName};
use crate::format::ImageFormat;
use crate::frames::FramePick;
use crate::pixels::{Bitmap, Frame, Layout, Raster};
use crate::probe::Admitted;

/// Bytes any one decode may allocate, on top of the header checks.
const MAX_ALLOC: u64 = 1 << 31;

fn image_err(format: ImageFormat) -> impl Fn(image::ImageError) -> Error {
    move |e| match e {
        image::ImageError::Limits(_) => Error::Limits {
            format: FormatName(Some(format)),
            kind: crate::LimitKind::Pixels {
                found: u64::MAX,
                limit: MAX_ALLOC,
            },
        },
        other => Error::decode_with(format, "corrupt or truncated data", other),
    }
}

/// A 16-bit sample as 8 bits, `floor(v * 255 / 65535)`: as ImageMagick reduces the samples
/// of an opaque pixel (`-depth 8`, which is how the reference scripts make the 8-bit image
/// they score against). The `image` crate's rounding put about half the samples of a 16-bit
/// noise image one level above ImageMagick's, and a slimmed result that mogr scored 80.15
/// scored 79.90 against ImageMagick's reference.
fn sample8(v: u16) -> u8 {
    (v / 257) as u8
}

/// A translucent 16-bit pixel as 8 bits: colour and alpha rounded. The reference scripts
/// compose such a pixel over grey at 16 bits and then take the 8-bit floor of the result;
/// rounded samples, composed and truncated at 8 bits (as the metric composes them), come
/// nearest to that (flooring them first biased the composite down: a soft shadow's slimmed
/// result scored 80.36 by mogr and 79.65 by the scripts).
fn translucent8(p: [u16; 4]) -> [u8; 4] {
    if p[3] == u16::MAX {
        return p.map(sample8);
    }
    p.map(|v| ((u32::from(v) + 128) / 257) as u8)
}

/// 8-bit pixels from any `image` buffer: grey stays grey, alpha is kept, 16 bits become 8
/// ([`sample8`], [`translucent8`]).
fn bitmap_from(img: image::DynamicImage) -> Bitmap {
    use image::DynamicImage as D;
    let (width, height) = (img.width(), img.height());
    let color = img.color();
    let eight = |v: &[u16]| -> Vec<u8> { v.iter().map(|&s| sample8(s)).collect() };
    // RGBA pixels from 16-bit samples of `n` channels, `rgba` picking them.
    let rgba8 = |v: &[u16], n: usize, rgba: fn(&[u16]) -> [u16; 4]| -> Vec<u8> {
        v.chunks_exact(n)
            .flat_map(|p| translucent8(rgba(p)))
            .collect()
    };
    let sixteen = match &img {
        D::ImageLuma16(b) => Some((Layout::Gray, eight(b.as_raw()))),
        D::ImageRgb16(b) => Some((Layout::Rgb, eight(b.as_raw()))),
        D::ImageRgba16(b) => Some((
            Layout::Rgba,
            rgba8(b.as_raw(), 4, |p| [p[0], p[1], p[2], p[3]]),
        )),
        D::ImageLumaA16(b) => Some((
            Layout::Rgba,
            rgba8(b.as_raw(), 2, |p| [p[0], p[0], p[0], p[1]]),
        )),
        _ => None,
    };
    if let Some((layout, data)) = sixteen {
        return Bitmap {
            width,
            height,
            layout,
            data,
        };
    }
    let (layout, data) = if color.has_alpha() {
        (Layout::Rgba, img.into_rgba8().into_raw())
    } else if color.has_color() {
        (Layout::Rgb, img.into_rgb8().into_raw())
    } else {
        (Layout::Gray, img.into_luma8().into_raw())
    };
    Bitmap {
        width,
        height,
        layout,
        data,
    }
}

fn limited<D: ImageDecoder>(mut decoder: D, format: ImageFormat) -> Result<D, Error> {
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(MAX_ALLOC);
    decoder.set_limits(limits).map_err(image_err(format))?;
    Ok(decoder)
}

/// Composes the frames of an animation one at a time, keeping only those `pick` selects
/// (the others are dropped as soon as they are composed, their delays added to the kept
/// frame before them), so memory holds the kept frames and one canvas, not the whole
/// animation.
fn frames_from<'a>(
    frames: image::Frames<'a>,
    admitted: &Admitted,
    pick: FramePick,
) -> Result<Vec<Frame>, Error> {
    let format = admitted.probe().format;
    let mut out: Vec<Frame> = Vec::with_capacity(pick.capacity());
    for (idx, frame) in frames.take(admitted.max_frames() as usize).enumerate() {
        if pick.done(idx) {
            break;
        }
        admitted.stop().check()?;
        let frame = frame.map_err(image_err(format))?;
        let (num, den) = frame.delay().numer_denom_ms();
        let delay_ms = num.checked_div(den).unwrap_or(0);
        if !pick.keeps(idx) {
            if let Some(last) = out.last_mut() {
                last.delay_ms += delay_ms;
            }
            continue;
        }
        let buffer = frame.into_buffer();
        let (width, height) = buffer.dimensions();
        out.push(Frame {
            bitmap: Bitmap {
                width,
                height,
                layout: Layout::Rgba,
                data: buffer.into_raw(),
            },
            delay_ms,
        });
    }
    if out.is_empty() {
        return Err(Error::decode(format, "no frames"));
    }
    Ok(out)
}

/// Decodes `input`, admitted to the stage by [`Probe::admit`](crate::Probe::admit), to
/// composed frames: those `pick` selects from an animation (at most the limits' frame count;
/// a still has one frame, always kept).
///
/// JPEG and WebP input gets its EXIF orientation applied when `orient` is set (for outputs
/// that do not carry the input's EXIF block, which would otherwise show it the wrong way up).
///
/// Animations: GIF, animated WebP and APNG give every frame, composed, with its delay. A
/// HEIF/AVIF image sequence gives its primary image only: the libheif this builds on (1.19)
/// has no sequence API (an AVIF branded only `avis` is read the same way, through a copy that
/// names the still-image brands libheif asks for), and a sequence with no still image (no
/// `meta` box: its pictures are only track samples) is refused with a message naming that.
pub fn decode(
    input: &[u8],
    admitted: &Admitted,
    pick: FramePick,
    orient: bool,
) -> Result<Raster, Error> {
    let format = admitted.probe().format;
    admitted.stop().check()?;
    match format {
        ImageFormat::Jpeg => {
            let header = markers::read_header(input)?;
            let mut bitmap = jpeg_decode::decode(input, &header)?;
            let icc = crate::icc::from_jpeg(&header);
            if orient {
                let o = header
                    .segments
                    .iter()
                    .find(|s| s.kind() == markers::SegmentKind::Exif)
                    .and_then(|s| exif::orientation(s.payload))
                    .unwrap_or(1);
                bitmap = bitmap.oriented(o);
            }
            Ok(Raster::still(bitmap, icc))
        }
        ImageFormat::Png => {
            let input = png::without_oversized_icc(input);
            let mut d = limited(
                image::codecs::png::PngDecoder::new(Cursor::new(&*input))
                    .map_err(image_err(format))?,
                format,
            )?;
            let icc = d.icc_profile().ok().flatten();
            // An APNG: every frame composed (dispose and blend ops applied), with its delay.
            let animation = png::animation(&input).filter(|_| admitted.probe().frames > 1);
            if let Some((_, plays)) = animation {
                let apng = d.apng().map_err(image_err(format))?;
                let frames = frames_from(apng.into_frames(), admitted, pick)?;
                let loop_count = (frames.len() > 1).then(|| plays.min(u32::from(u16::MAX)) as u16);
                return Ok(Raster {
                    frames,
                    loop_count,
                    icc,
                });
            }
            let img = image::DynamicImage::from_decoder(d).map_err(image_err(format))?;
            Ok(Raster::still(bitmap_from(img), icc))
        }
        ImageFormat::Bmp => {
            let input = bmp::normalized(input);
            let d = limited(
                image::codecs::bmp::BmpDecoder::new(Cursor::new(&*input))
                    .map_err(image_err(format))?,
                format,
            )?;
            let img = image::DynamicImage::from_decoder(d).map_err(image_err(format))?;
            Ok(Raster::still(bitmap_from(img), None))
        }
        ImageFormat::Gif => {
            let input = gif::normalized(input);
            let frames = gif::frames(
                &input,
                admitted.max_frames() as usize,
                pick,
                admitted.stop(),
            )?;
            let loop_count = (frames.len() > 1).then(|| gif::loop_count(&input).unwrap_or(1));
            Ok(Raster {
                frames,
                loop_count,
                icc: None,
            })
        }
        ImageFormat::Webp => {
            let input = webp::riff_bounded(input);
            let mut d = limited(
                image::codecs::webp::WebPDecoder::new(Cursor::new(input))
                    .map_err(image_err(format))?,
                format,
            )?;
            let icc = d.icc_profile().ok().flatten();
            // A WebP's EXIF chunk may carry an orientation as a JPEG's APP1 does; no
            // output keeps the chunk, so it is applied whenever `orient` is set.
            let o = if orient {
                webp::exif(input).and_then(exif::orientation).unwrap_or(1)
            } else {
                1
            };
            if d.has_animation() {
                let frames = frames_from(d.into_frames(), admitted, pick)?
                    .into_iter()
                    .map(|f| Frame {
                        bitmap: f.bitmap.oriented(o),
                        ..f
                    })
                    .collect();
                let loop_count = Some(webp::loop_count(input).unwrap_or(0));
                return Ok(Raster {
                    frames,
                    loop_count,
                    icc,
                });
            }
            let img = image::DynamicImage::from_decoder(d).map_err(image_err(format))?;
            Ok(Raster::still(bitmap_from(img).oriented(o), icc))
        }
        #[cfg(feature = "heif")]
        ImageFormat::Heif | ImageFormat::Avif => crate::codecs::heif::decode(input, format),
        #[allow(unreachable_patterns)]
        other => Err(other
            .not_compiled()
            .unwrap_or_else(|| Error::decode(other, "not an image format"))),
    }
}
