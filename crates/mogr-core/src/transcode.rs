//! One `imageMogr2` stage: bytes in, bytes out.

use std::borrow::Cow;

use mogr_parse::{Format, MogrParams};

use crate::probe::{output_format, probe, Probe};

use crate::budget;
use crate::codecs::jpeg::{encode, markers, requant};
use crate::codecs::webp;
use crate::error::Error;
use crate::format::ImageFormat;
use crate::frames::FramePick;
use crate::limits::Limits;
use crate::quality;

use crate::metadata::Metadata;
use crate::stop::Stop;

/// Settings that apply to every stage. Build from [`Options::default`] with the `with_`
/// methods; settings may be added in any release.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Options {
    /// Input limits. Default: [`Limits::default`], the service's own.
    pub limits: Limits,
    /// Which metadata re-encoded outputs keep. Default: [`Metadata::Keep`].
    pub metadata: Metadata,
    /// When to stop: checked before each frame decoded or written by mogr's own code, and
    /// before each encode. Default: [`Stop::never`].
    pub stop: Stop,
}

impl Options {
    /// With these limits.
    #[must_use]
    pub fn with_limits(mut self, limits: Limits) -> Options {
        self.limits = limits;
        self
    }

    /// With this stop (a deadline or a cancel flag).
    #[must_use]
    pub fn with_stop(mut self, stop: Stop) -> Options {
        self.stop = stop;
        self
    }

    /// With this metadata policy.
    #[must_use]
    pub fn with_metadata(mut self, metadata: Metadata) -> Options {
        self.metadata = metadata;
        self
    }
}

/// The result of one stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded<'a> {
    /// The output file: the input itself, borrowed, when the stage leaves it unchanged.
    pub bytes: Cow<'a, [u8]>,
    /// Facts about the output.
    pub probe: Probe,
    /// True when the input bytes were returned as they are because nothing would change.
    pub unchanged: bool,
}

/// Applies one `imageMogr2` stage (already validated) to `input`.
///
/// The output quality comes from [`quality::output_quality`]. When it equals the input's own
/// quality, the output format is the input's, and no other parameter asks for a re-encode
/// (an `interlace` value different from the input's), the input bytes are returned as they
/// are: no generation loss, never a larger file.
pub fn apply<'a>(
    input: &'a [u8],
    params: &MogrParams,
    options: &Options,
) -> Result<Encoded<'a>, Error> {
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

    /// As [`apply`], taking the input's decoded pixels from this cache (which must only
    /// ever see this `input`) and filling it on first use.
    pub fn apply<'a>(
        &self,
        input: &'a [u8],
        params: &MogrParams,
        options: &Options,
    ) -> Result<Encoded<'a>, Error> {
        apply_with(input, params, options, Some(self))
    }
}

/// As [`apply`], taking the input's decoded pixels from `cache` (which must only ever see
/// this `input`) and filling it on first use.
pub(crate) fn apply_with<'a>(
    input: &'a [u8],
    params: &MogrParams,
    options: &Options,
    cache: Option<&DecodeCache>,
) -> Result<Encoded<'a>, Error> {
    let probe = probe(input, &options.limits)?;
    let target = output_format(params.format, probe.format)?;
    if probe.format == ImageFormat::Jpeg && target == ImageFormat::Jpeg {
        return jpeg_to_jpeg(input, params, options, probe);
    }
    // A lossless WebP stays lossless when no quality parameter asks otherwise.
    let keep_lossless = target == ImageFormat::Webp
        && probe.format == ImageFormat::Webp
        && probe.quality.is_none()
        && params.quality.is_none()
        && params.lquality.is_none();
    let q = if keep_lossless {
        None
    } else {
        quality::for_format(probe.quality, params, target)
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
        // Returned as it is: it must decode all the same.
        crate::validate::validate(input, &options.limits, &options.stop)?;
        return Ok(Encoded {
            bytes: Cow::Borrowed(input),
            probe,
            unchanged: true,
        });
    }
    let pick = FramePick::for_output(target, cgif, probe.frames);
    let estimate = budget::transcode(input, &probe, target, pick);
    let admitted = probe.admit(&options.limits, estimate)?.until(&options.stop);
    let decode = || crate::decode::decode(input, &admitted, FramePick::All, true);
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
            r.frames = crate::frames::pick_frames(std::mem::take(&mut r.frames), pick);
            r
        }
        _ => crate::decode::decode(input, &admitted, pick, true)?,
    };
    let settings = crate::encode::EncodeSettings {
        quality: q,
        progressive: params.progressive(),
        ..Default::default()
    };
    let kept = raster.frames.len() as u32;
    let (width, height) = (raster.first().width, raster.first().height);
    let bytes = crate::encode::encode_owned(raster, target, settings, &options.stop)?;
    // A GIF that kept every frame and did not get smaller: the input is better.
    let all_kept = kept == probe.frames;
    if target == ImageFormat::Gif
        && probe.format == ImageFormat::Gif
        && all_kept
        && bytes.len() >= input.len()
    {
        return Ok(Encoded {
            bytes: Cow::Borrowed(input),
            probe,
            unchanged: true,
        });
    }
    // libwebp may merge identical consecutive frames: count what the file holds.
    let frames = match target {
        ImageFormat::Gif => kept,
        ImageFormat::Webp => webp::read_header(&bytes)?.frames,
        _ => 1,
    };
    Ok(Encoded {
        bytes: Cow::Owned(bytes),
        probe: Probe {
            format: target,
            width,
            height,
            frames,
            quality: q,
            progressive: target == ImageFormat::Jpeg && params.progressive(),
        },
        unchanged: false,
    })
}

/// JPEG to JPEG: DCT-domain requantization where the layout fits, else decode and encode.
fn jpeg_to_jpeg<'a>(
    input: &'a [u8],
    params: &MogrParams,
    options: &Options,
    probe: Probe,
) -> Result<Encoded<'a>, Error> {
    let target = ImageFormat::Jpeg;
    let header = markers::read_header(input)?;
    let q = quality::output_quality(probe.quality, params, quality::DEFAULT_JPEG);
    let progressive = params.progressive();
    let same_format = matches!(params.format, None | Some(Format::Jpg));
    let interlace_kept = params.interlace.is_none() || progressive == probe.progressive;
    if same_format && interlace_kept && Some(q) == probe.quality {
        // Returned as it is, or with segments dropped: its scans must decode all the same.
        crate::validate::validate(input, &options.limits, &options.stop)?;
        let strips = header
            .segments
            .iter()
            .any(|s| !options.metadata.keeps(s.kind()) && crate::metadata::is_metadata(s.kind()));
        if !strips {
            return Ok(Encoded {
                bytes: Cow::Borrowed(input),
                probe,
                unchanged: true,
            });
        }
        // Only metadata to drop: do it without re-encoding (an orientation survives).
        let mut bytes = markers::without_segments(input, |k| options.metadata.keeps(k))?;
        if let Some(o) = options.metadata.lost_orientation(&header.segments) {
            let segment = markers::Segment {
                marker: markers::code::APP1,
                payload: crate::codecs::jpeg::exif::orientation_only(o),
            };
            bytes = encode::splice_segments(bytes, &[segment]);
        }
        return Ok(Encoded {
            bytes: Cow::Owned(bytes),
            probe,
            unchanged: false,
        });
    }
    let cmyk = header.components.len() == 4;
    let segments = options.metadata.select(&header.segments, cmyk);
    let (width, height) = (header.width, header.height);
    // DCT-domain requantization where the layout already fits; the pixel path otherwise,
    // and also when the coefficient decoder gives up (it handles fewer kinds of damage).
    let requantized = if requant::eligible(&header, q) {
        // In bands when the file allows (the usual case); else the whole frame, admitted
        // for its own memory before it is decoded.
        let banded = if progressive {
            Ok(None)
        } else {
            probe.admit(
                &options.limits,
                budget::requantize_in_bands(&probe, input.len()),
            )?;
            requant::requantize_in_bands(input, q, header.density, &segments)
        };
        match banded {
            Ok(Some(bytes)) => Some(bytes),
            Ok(None) => {
                let samples = budget::jpeg_samples(input);
                probe.admit(&options.limits, budget::requantize(&probe, samples))?;
                requant::requantize_whole(input, q, progressive, header.density, &segments).ok()
            }
            Err(_) => None, // damage the pixel path may get through
        }
    } else {
        None
    };
    let bytes = match requantized {
        Some(bytes) => bytes,
        None => {
            let estimate = budget::transcode(input, &probe, target, FramePick::First(1));
            let admitted = probe.admit(&options.limits, estimate)?.until(&options.stop);
            let mut still = crate::decode::decode(input, &admitted, FramePick::First(1), false)?;
            let bitmap = still.frames.swap_remove(0).bitmap;
            let settings = encode::JpegSettings {
                quality: q,
                progressive,
                density: header.density,
                segments,
            };
            encode::encode_owned(bitmap, &settings)?
        }
    };
    Ok(Encoded {
        bytes: Cow::Owned(bytes),
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
