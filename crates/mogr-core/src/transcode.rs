//! One `imageMogr2` stage: bytes in, bytes out.

use mogr_parse::{Format, MogrParams};

use crate::budget;
use crate::codecs::jpeg::{decode, encode, estimate, markers, requant};
use crate::codecs::{bmp, gif, png, webp};
use crate::error::Error;
use crate::format::ImageFormat;
use crate::limits::Limits;
use crate::quality;
use crate::raster::{self, FramePick};

pub use crate::codecs::jpeg::encode::Metadata;

/// Settings that apply to every stage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    /// Input limits. Default: [`Limits::default`], the service's own.
    pub limits: Limits,
    /// Which metadata re-encoded outputs keep. Default: [`Metadata::Keep`].
    pub metadata: Metadata,
}

/// Facts about an image read from its header, without decoding pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    /// The container format.
    pub format: ImageFormat,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Frames (1 for still images).
    pub frames: u32,
    /// Estimated quality, where the format has one.
    pub quality: Option<u8>,
    /// Whether the image is progressive/interlaced.
    pub progressive: bool,
}

impl Probe {
    /// A probe of a format that has no quality estimate, not progressive.
    pub fn plain(format: ImageFormat, width: u32, height: u32, frames: u32) -> Probe {
        Probe {
            format,
            width,
            height,
            frames,
            quality: None,
            progressive: false,
        }
    }
}

/// The result of one stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// The output file.
    pub bytes: Vec<u8>,
    /// Facts about the output.
    pub probe: Probe,
    /// True when the input bytes were returned as they are because nothing would change.
    pub unchanged: bool,
}

/// Reads an input's header: format, dimensions, frames and quality; checks the limits.
pub fn probe(input: &[u8], limits: &Limits) -> Result<Probe, Error> {
    limits.check_input_size(input.len())?;
    let format = ImageFormat::sniff(input).ok_or_else(|| Error::Decode {
        format: crate::error::FormatName(None),
        message: if input.is_empty() {
            "empty input".into()
        } else {
            "not a recognised image format".into()
        },
        source: None,
    })?;
    match format {
        ImageFormat::Jpeg => {
            let header = markers::read_header(input)?;
            let probe = jpeg_probe(&header);
            limits.check_dimensions(format, probe.width, probe.height, 1)?;
            if header.is_progressive() {
                let stop_after = limits.max_scans.saturating_add(1);
                limits.check_scans(markers::count_scans(input, stop_after))?;
            }
            Ok(probe)
        }
        ImageFormat::Webp => {
            let h = webp::read_header(input)?;
            limits.check_dimensions(format, h.width, h.height, h.frames)?;
            Ok(Probe {
                format,
                width: h.width,
                height: h.height,
                frames: h.frames,
                quality: if h.lossy {
                    webp::estimate_quality(input)
                } else {
                    None
                },
                progressive: false,
            })
        }
        ImageFormat::Png | ImageFormat::Bmp | ImageFormat::Gif => {
            let (width, height, frames) = match format {
                ImageFormat::Png => png::read_size(input).map(|(w, h)| (w, h, 1))?,
                ImageFormat::Bmp => bmp::read_size(input).map(|(w, h)| (w, h, 1))?,
                _ => gif::read_header(input, limits.max_frames)?,
            };
            limits.check_dimensions(format, width, height, frames)?;
            Ok(Probe::plain(format, width, height, frames))
        }
        ImageFormat::Heif | ImageFormat::Avif => heif_probe(input, format, limits),
        ImageFormat::Json => Err(Error::decode(format, "JSON is not an image")),
    }
}

#[cfg(feature = "heif")]
fn heif_probe(input: &[u8], format: ImageFormat, limits: &Limits) -> Result<Probe, Error> {
    let (width, height, _) = crate::codecs::heif::read_header(input, format)?;
    limits.check_dimensions(format, width, height, 1)?;
    Ok(Probe::plain(format, width, height, 1))
}

#[cfg(not(feature = "heif"))]
fn heif_probe(_: &[u8], format: ImageFormat, _: &Limits) -> Result<Probe, Error> {
    Err(format
        .not_compiled()
        .unwrap_or_else(|| Error::decode(format, "no decoder")))
}

fn jpeg_probe(header: &markers::JpegHeader<'_>) -> Probe {
    Probe {
        format: ImageFormat::Jpeg,
        width: header.width,
        height: header.height,
        frames: 1,
        quality: estimate::estimate_quality(&header.qtables),
        progressive: header.is_progressive(),
    }
}

/// Applies one `imageMogr2` stage (already validated) to `input`.
///
/// The output quality comes from [`quality::output_quality`]. When it equals the input's own
/// quality, the output format is the input's, and no other parameter asks for a re-encode
/// (an `interlace` value different from the input's), the input bytes are returned as they
/// are: no generation loss, never a larger file.
pub fn apply(input: &[u8], params: &MogrParams, options: &Options) -> Result<Encoded, Error> {
    apply_with(input, params, options, None)
}

/// The decoded pixels of one input, kept for the stages that need them, so that several
/// rules applied to the same input decode it once (persistent processing).
#[derive(Debug, Default)]
pub struct DecodeCache {
    raster: std::cell::OnceCell<crate::pixels::Raster>,
}

impl DecodeCache {
    /// An empty cache, for one input.
    pub fn new() -> DecodeCache {
        DecodeCache::default()
    }

    /// Whether the input has been decoded.
    pub fn is_filled(&self) -> bool {
        self.raster.get().is_some()
    }
}

/// As [`apply`], taking the input's decoded pixels from `cache` (which must only ever see
/// this `input`) and filling it on first use.
pub fn apply_with(
    input: &[u8],
    params: &MogrParams,
    options: &Options,
    cache: Option<&DecodeCache>,
) -> Result<Encoded, Error> {
    let probe = probe(input, &options.limits)?;
    let target = match params.format {
        None => probe.format,
        Some(Format::Jpg | Format::Yjpeg) => ImageFormat::Jpeg,
        Some(Format::Png) => ImageFormat::Png,
        Some(Format::Bmp) => ImageFormat::Bmp,
        Some(Format::Gif) => ImageFormat::Gif,
        Some(Format::Webp) => ImageFormat::Webp,
        Some(Format::Heif) => ImageFormat::Heif,
        Some(Format::Avif) => ImageFormat::Avif,
        Some(other) => {
            return Err(Error::Unsupported {
                what: format!("output format {other}"),
            })
        }
    };
    if let Some(e) = target.not_compiled() {
        return Err(e);
    }
    if probe.format == ImageFormat::Jpeg && target == ImageFormat::Jpeg {
        return jpeg_to_jpeg(input, params, options, probe);
    }
    // A lossless WebP stays lossless when no quality parameter asks otherwise.
    let keep_lossless = target == ImageFormat::Webp
        && probe.format == ImageFormat::Webp
        && probe.quality.is_none()
        && params.quality.is_none()
        && params.lquality.is_none();
    let q = match target {
        ImageFormat::Jpeg => Some(quality::output_quality(
            probe.quality,
            params,
            quality::DEFAULT_JPEG,
        )),
        ImageFormat::Webp if !keep_lossless => Some(quality::output_quality(
            probe.quality,
            params,
            quality::DEFAULT_WEBP,
        )),
        ImageFormat::Heif => Some(quality::output_quality(
            probe.quality,
            params,
            quality::DEFAULT_HEIF,
        )),
        ImageFormat::Avif => Some(quality::output_quality(
            probe.quality,
            params,
            quality::DEFAULT_AVIF,
        )),
        _ => None,
    };
    let cgif = params
        .cgif
        .filter(|_| target == ImageFormat::Gif)
        .map(|v| v.value as usize);
    // Nothing to do: same format, and the same quality, or none asked of an input that has
    // none (a HEIF at its own unknown quality is not re-encoded at the default).
    let quality_asked = params.quality.is_some() || params.lquality.is_some();
    let same_quality = q == probe.quality || (probe.quality.is_none() && !quality_asked);
    if target == probe.format && same_quality && cgif.is_none() {
        return Ok(Encoded {
            bytes: input.to_vec(),
            probe,
            unchanged: true,
        });
    }
    let pick = frame_pick(target, cgif, &probe);
    let estimate = budget::transcode(input, &probe, target, pick);
    options.limits.check_memory(probe.format, estimate)?;
    let max_frames = options.limits.max_frames;
    let decode = || raster::decode(input, probe.format, max_frames, true);
    let raster = match cache {
        // A cache holds every frame: fill it only when every frame is needed anyway.
        Some(c) if pick.count(probe.frames as usize) >= probe.frames as usize || c.is_filled() => {
            let mut r = match c.raster.get() {
                Some(r) => r.clone(),
                None => {
                    let r = decode()?;
                    let _ = c.raster.set(r.clone());
                    r
                }
            };
            r.frames = raster::pick_frames(std::mem::take(&mut r.frames), pick);
            r
        }
        _ => raster::decode_frames(input, probe.format, max_frames, pick, true)?,
    };
    let settings = raster::EncodeSettings {
        quality: q,
        progressive: params.progressive(),
    };
    let bytes = raster::encode(&raster, target, settings)?;
    // A GIF that kept every frame and did not get smaller: the input is better.
    let all_kept = raster.frames.len() as u32 == probe.frames;
    if target == ImageFormat::Gif
        && probe.format == ImageFormat::Gif
        && all_kept
        && bytes.len() >= input.len()
    {
        return Ok(Encoded {
            bytes: input.to_vec(),
            probe,
            unchanged: true,
        });
    }
    // libwebp may merge identical consecutive frames: count what the file holds.
    let frames = match target {
        ImageFormat::Gif => raster.frames.len() as u32,
        ImageFormat::Webp => webp::read_header(&bytes)?.frames,
        _ => 1,
    };
    Ok(Encoded {
        bytes,
        probe: Probe {
            format: target,
            width: raster.first().width,
            height: raster.first().height,
            frames,
            quality: q,
            progressive: target == ImageFormat::Jpeg && params.progressive(),
        },
        unchanged: false,
    })
}

/// Which frames a stage to `target` holds: the first for a still format, the selected ones
/// for `cgif`, every frame for an animated output.
fn frame_pick(target: ImageFormat, cgif: Option<usize>, probe: &Probe) -> FramePick {
    match (target, cgif) {
        (ImageFormat::Gif, Some(n)) => FramePick::cgif(n, probe.frames as usize),
        (ImageFormat::Gif | ImageFormat::Webp, None) => FramePick::All,
        _ => FramePick::First(1),
    }
}

/// JPEG to JPEG: DCT-domain requantization where the layout fits, else decode and encode.
fn jpeg_to_jpeg(
    input: &[u8],
    params: &MogrParams,
    options: &Options,
    probe: Probe,
) -> Result<Encoded, Error> {
    let target = ImageFormat::Jpeg;
    let header = markers::read_header(input)?;
    let q = quality::output_quality(probe.quality, params, quality::DEFAULT_JPEG);
    let progressive = params.progressive();
    let same_format = matches!(params.format, None | Some(Format::Jpg));
    let interlace_kept = params.interlace.is_none() || progressive == probe.progressive;
    if same_format && interlace_kept && Some(q) == probe.quality {
        let strips = header
            .segments
            .iter()
            .any(|s| !options.metadata.keeps(s.kind()) && is_metadata(s.kind()));
        if !strips {
            return Ok(Encoded {
                bytes: input.to_vec(),
                probe,
                unchanged: true,
            });
        }
        // Only metadata to drop: do it without re-encoding (an orientation survives).
        let mut bytes = markers::without_segments(input, |k| options.metadata.keeps(k))?;
        if let Some(o) = options.metadata.lost_orientation(&header.segments) {
            let segment = markers::Segment {
                marker: 0xE1,
                payload: crate::codecs::jpeg::exif::orientation_only(o),
            };
            bytes = encode::splice_segments(bytes, &[segment]);
        }
        return Ok(Encoded {
            bytes,
            probe,
            unchanged: false,
        });
    }
    let cmyk = header.components.len() == 4;
    let segments = options.metadata.select(&header.segments, cmyk);
    let (width, height) = (header.width, header.height);
    // DCT-domain requantization where the layout already fits; the pixel path otherwise,
    // and also when the coefficient decoder gives up (it handles fewer kinds of damage).
    let eligible = requant::eligible(&header, q);
    if eligible {
        options
            .limits
            .check_memory(target, budget::requantize(&probe))?;
    }
    let requantized = eligible
        .then(|| requant::requantize(input, q, progressive, header.density, &segments).ok())
        .flatten();
    let bytes = match requantized {
        Some(bytes) => bytes,
        None => {
            let estimate = budget::transcode(input, &probe, target, FramePick::First(1));
            options.limits.check_memory(target, estimate)?;
            let bitmap = decode::decode(input, &header)?;
            let settings = encode::JpegSettings {
                quality: q,
                progressive,
                density: header.density,
                segments,
            };
            encode::encode(bitmap, &settings)?
        }
    };
    Ok(Encoded {
        bytes,
        probe: Probe {
            format: target,
            width,
            height,
            frames: 1,
            quality: Some(q.clamp(1, 100)),
            progressive,
        },
        unchanged: false,
    })
}

/// Segments that carry metadata (as opposed to what decoders need, like JFIF and Adobe).
fn is_metadata(kind: markers::SegmentKind) -> bool {
    !matches!(
        kind,
        markers::SegmentKind::Jfif | markers::SegmentKind::Adobe
    )
}

#[cfg(test)]
mod cache_tests {
    use super::*;

    #[test]
    fn a_cache_is_filled_once_and_gives_the_same_output() {
        use image::ImageEncoder;
        // A 16x16 PNG made here, converted twice through one cache.
        let pixels: Vec<u8> = (0..16 * 16 * 3).map(|i| (i * 7) as u8).collect();
        let mut png = Vec::new();
        image::codecs::png::PngEncoder::new(&mut png)
            .write_image(&pixels, 16, 16, image::ExtendedColorType::Rgb8)
            .unwrap();
        let params = |rule: &str| match mogr_parse::parse(rule).unwrap().stages.remove(0) {
            mogr_parse::Stage::Mogr(p) => p,
            _ => unreachable!(),
        };
        let cache = DecodeCache::new();
        let options = Options::default();
        assert!(!cache.is_filled());
        let a = apply_with(
            &png,
            &params("imageMogr2/format/bmp"),
            &options,
            Some(&cache),
        )
        .unwrap();
        assert!(cache.is_filled());
        let b = apply_with(
            &png,
            &params("imageMogr2/format/bmp"),
            &options,
            Some(&cache),
        )
        .unwrap();
        let plain = apply(&png, &params("imageMogr2/format/bmp"), &options).unwrap();
        assert_eq!(a.bytes, plain.bytes);
        assert_eq!(b.bytes, plain.bytes);
    }
}
