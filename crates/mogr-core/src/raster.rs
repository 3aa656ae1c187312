//! Decoding any supported input to a [`Raster`] and encoding a raster to any output: one
//! `match` per direction, codec details in `codecs/`.

use std::io::Cursor;

use image::{AnimationDecoder, ImageDecoder};

use crate::codecs::jpeg::{decode as jpeg_decode, encode as jpeg_encode, exif, markers};
use crate::codecs::{gif, png, webp};
use crate::error::{Error, FormatName};
use crate::format::ImageFormat;
use crate::pixels::{Bitmap, Frame, Layout, Raster};

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

/// 8-bit pixels from any `image` buffer: grey stays grey, alpha is kept, 16 bits become 8.
fn bitmap_from(img: image::DynamicImage) -> Bitmap {
    let (width, height) = (img.width(), img.height());
    let color = img.color();
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
    format: ImageFormat,
    max: u32,
    pick: FramePick,
) -> Result<Vec<Frame>, Error> {
    let mut out: Vec<Frame> = Vec::with_capacity(pick.capacity());
    for (idx, frame) in frames.take(max as usize).enumerate() {
        if pick.done(idx) {
            break;
        }
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

/// Which frames of an animation a stage keeps, decided from the header's frame count before
/// any frame is decoded, so that frames a stage drops are never held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FramePick {
    /// Every frame (up to the frame limit).
    All,
    /// The first `n` frames (at least one).
    First(usize),
    /// `n` frames of `total`: those at `floor(i * total / n)` for i in 0..n, each shown for
    /// its own delay plus the delays of the dropped frames after it (`cgif`).
    Spaced {
        /// Frames kept.
        n: usize,
        /// Frames in the animation.
        total: usize,
    },
}

impl FramePick {
    /// `cgif/n` on an animation of `total` frames: `n == 1` keeps the first 30 frames, as
    /// the service documents; `n` in 2..=100 keeps `n` evenly spaced frames with the total
    /// duration unchanged; an animation with no more than `n` frames keeps them all.
    pub fn cgif(n: usize, total: usize) -> FramePick {
        match n {
            1 => FramePick::First(30),
            _ if n == 0 || total <= n => FramePick::All,
            _ => FramePick::Spaced { n, total },
        }
    }

    /// How many frames of an animation of `total` this pick keeps.
    pub fn count(&self, total: usize) -> usize {
        match *self {
            FramePick::All => total,
            FramePick::First(n) => total.min(n.max(1)),
            FramePick::Spaced { n, total: t } => n.min(t).min(total),
        }
    }

    fn capacity(&self) -> usize {
        match *self {
            FramePick::All => 0,
            FramePick::First(n) | FramePick::Spaced { n, .. } => n.clamp(1, 128),
        }
    }

    /// Whether frame `idx` is kept.
    pub fn keeps(&self, idx: usize) -> bool {
        match *self {
            FramePick::All => true,
            FramePick::First(n) => idx < n.max(1),
            FramePick::Spaced { n, total } => {
                // The smallest i with floor(i * total / n) >= idx.
                let i = (idx * n).div_ceil(total);
                i < n && i * total / n == idx
            }
        }
    }

    /// Whether no frame from `idx` on is needed (not even for its delay).
    fn done(&self, idx: usize) -> bool {
        matches!(*self, FramePick::First(n) if idx >= n.max(1))
    }
}

/// Decodes `input` (whose header has passed the limits) to composed frames.
///
/// JPEG and WebP input gets its EXIF orientation applied when `orient` is set (for outputs
/// that do not carry the input's EXIF block, which would otherwise show it the wrong way up).
pub fn decode(
    input: &[u8],
    format: ImageFormat,
    max_frames: u32,
    orient: bool,
) -> Result<Raster, Error> {
    decode_frames(input, format, max_frames, FramePick::All, orient)
}

/// As [`decode`], keeping only the frames `pick` selects from an animation (stills have
/// one frame, always kept).
pub fn decode_frames(
    input: &[u8],
    format: ImageFormat,
    max_frames: u32,
    pick: FramePick,
    orient: bool,
) -> Result<Raster, Error> {
    match format {
        ImageFormat::Jpeg => {
            let header = markers::read_header(input)?;
            let mut bitmap = jpeg_decode::decode(input, &header)?;
            let icc = icc_from_jpeg(&header);
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
            let img = image::DynamicImage::from_decoder(d).map_err(image_err(format))?;
            Ok(Raster::still(bitmap_from(img), icc))
        }
        ImageFormat::Bmp => {
            let d = limited(
                image::codecs::bmp::BmpDecoder::new(Cursor::new(input))
                    .map_err(image_err(format))?,
                format,
            )?;
            let img = image::DynamicImage::from_decoder(d).map_err(image_err(format))?;
            Ok(Raster::still(bitmap_from(img), None))
        }
        ImageFormat::Gif => {
            let d = limited(
                image::codecs::gif::GifDecoder::new(Cursor::new(input))
                    .map_err(image_err(format))?,
                format,
            )?;
            let frames = frames_from(d.into_frames(), format, max_frames, pick)?;
            let loop_count = (frames.len() > 1).then(|| gif::loop_count(input).unwrap_or(1));
            Ok(Raster {
                frames,
                loop_count,
                icc: None,
            })
        }
        ImageFormat::Webp => {
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
                let frames = frames_from(d.into_frames(), format, max_frames, pick)?
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

/// The ICC profile of a JPEG, reassembled from its APP2 chunks in sequence order.
fn icc_from_jpeg(header: &markers::JpegHeader<'_>) -> Option<Vec<u8>> {
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

/// How to encode a raster.
#[derive(Debug, Clone, Copy)]
pub struct EncodeSettings {
    /// Quality for lossy outputs (JPEG, lossy WebP); `None` asks WebP for lossless.
    pub quality: Option<u8>,
    /// Progressive JPEG.
    pub progressive: bool,
}

fn encode_err(format: ImageFormat) -> impl Fn(image::ImageError) -> Error {
    move |e| Error::encode_with(format, "encoder failed", e)
}

/// Encodes `raster` as `target`. Still formats take the first frame; alpha goes over white
/// where the format has none (JPEG, BMP).
pub fn encode(
    raster: &Raster,
    target: ImageFormat,
    settings: EncodeSettings,
) -> Result<Vec<u8>, Error> {
    use image::ImageEncoder;
    let first = raster.first();
    let mut out = Vec::new();
    match target {
        ImageFormat::Jpeg => {
            let icc_payloads = raster
                .icc
                .as_deref()
                .map(icc_app2_payloads)
                .unwrap_or_default();
            let segments = icc_payloads
                .iter()
                .map(|p| markers::Segment {
                    marker: 0xE2,
                    payload: p,
                })
                .collect();
            let js = jpeg_encode::JpegSettings {
                quality: settings.quality.unwrap_or(crate::quality::DEFAULT_JPEG),
                progressive: settings.progressive,
                density: None,
                segments,
            };
            return jpeg_encode::encode(first.clone(), &js);
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
            let rgb = to_srgb(raster).first().clone().without_alpha();
            image::codecs::bmp::BmpEncoder::new(&mut out)
                .write_image(&rgb.data, rgb.width, rgb.height, color_type(rgb.layout))
                .map_err(encode_err(target))?;
        }
        ImageFormat::Gif => return gif::encode(&to_srgb(raster)),
        ImageFormat::Webp => {
            if raster.frames.len() > 1 {
                let out = encode_animated_webp(raster, settings.quality)?;
                return match &raster.icc {
                    Some(icc) => webp::with_icc(&out, icc),
                    None => Ok(out),
                };
            }
            let rgba;
            let enc = match first.layout {
                Layout::Rgb => ::webp::Encoder::from_rgb(&first.data, first.width, first.height),
                _ => {
                    rgba = first.to_rgba();
                    ::webp::Encoder::from_rgba(&rgba, first.width, first.height)
                }
            };
            let (lossless, q) = match settings.quality {
                Some(q) => (false, f32::from(q)),
                None => (true, 75.0),
            };
            let mem = enc.encode_simple(lossless, q).map_err(|e| Error::Encode {
                format: FormatName(Some(target)),
                message: format!("libwebp: {e:?}"),
                source: None,
            })?;
            out.extend_from_slice(&mem);
            if let Some(icc) = &raster.icc {
                out = webp::with_icc(&out, icc)?;
            }
        }
        #[cfg(feature = "heif")]
        ImageFormat::Heif | ImageFormat::Avif => {
            let q = settings.quality.unwrap_or(crate::quality::DEFAULT_HEIF);
            return crate::codecs::heif::encode(first, raster.icc.as_deref(), target, q);
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

/// An animated WebP: every composed frame at its time, the loop count kept; lossy at
/// `quality`, lossless when it is `None`.
fn encode_animated_webp(raster: &Raster, quality: Option<u8>) -> Result<Vec<u8>, Error> {
    let fail = |message: String| Error::Encode {
        format: FormatName(Some(ImageFormat::Webp)),
        message,
        source: None,
    };
    let first = raster.first();
    let mut config = ::webp::WebPConfig::new().map_err(|_| fail("libwebp configuration".into()))?;
    match quality {
        Some(q) => config.quality = f32::from(q),
        None => config.lossless = 1,
    }
    let rgba: Vec<Vec<u8>> = raster.frames.iter().map(|f| f.bitmap.to_rgba()).collect();
    let mut enc = ::webp::AnimEncoder::new(first.width, first.height, &config);
    enc.set_loop_count(i32::from(raster.loop_count.unwrap_or(0)));
    let mut t: i64 = 0;
    for (frame, pixels) in raster.frames.iter().zip(&rgba) {
        let timestamp =
            i32::try_from(t).map_err(|_| fail("animation longer than 24 days".into()))?;
        enc.add_frame(::webp::AnimFrame::from_rgba(
            pixels,
            frame.bitmap.width,
            frame.bitmap.height,
            timestamp,
        ));
        t += i64::from(frame.delay_ms);
    }
    let mem = enc
        .try_encode()
        .map_err(|e| fail(format!("libwebp: {e:?}")))?;
    let mut out = mem.to_vec();
    let total = u32::try_from(t).unwrap_or(u32::MAX);
    if !webp::set_last_frame_duration(&mut out, total) {
        return Err(fail("libwebp wrote no animation frames".into()));
    }
    Ok(out)
}

/// The raster with its pixels converted to sRGB through its ICC profile, for outputs that
/// cannot carry a profile (GIF, BMP). Without a profile, or with one moxcms cannot use (grey,
/// CMYK, malformed), the pixels stay as they are.
fn to_srgb(raster: &Raster) -> std::borrow::Cow<'_, Raster> {
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
fn icc_app2_payloads(icc: &[u8]) -> Vec<Vec<u8>> {
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

/// `cgif` frame selection on frames already composed (`F` of them); see
/// [`FramePick::cgif`]. [`decode_frames`] does the same while decoding, without holding the
/// dropped frames.
pub fn select_frames(frames: Vec<Frame>, n: usize) -> Vec<Frame> {
    let pick = FramePick::cgif(n, frames.len());
    pick_frames(frames, pick)
}

/// The frames `pick` keeps from frames already composed, delays summed as
/// [`decode_frames`] does.
pub fn pick_frames(frames: Vec<Frame>, pick: FramePick) -> Vec<Frame> {
    let mut out: Vec<Frame> = Vec::with_capacity(pick.count(frames.len()));
    for (idx, frame) in frames.into_iter().enumerate() {
        if pick.keeps(idx) {
            out.push(frame);
        } else if !pick.done(idx) {
            if let Some(last) = out.last_mut() {
                last.delay_ms += frame.delay_ms;
            }
        }
    }
    out
}

fn color_type(layout: Layout) -> image::ExtendedColorType {
    match layout {
        Layout::Gray => image::ExtendedColorType::L8,
        Layout::Rgb => image::ExtendedColorType::Rgb8,
        Layout::Rgba => image::ExtendedColorType::Rgba8,
    }
}
