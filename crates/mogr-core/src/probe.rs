//! The probe of an upload: what its header says (format, size, frames, quality), checked
//! against the limits before anything is decoded; and the rule-to-format mapping.

use mogr_parse::Format;

use crate::codecs::jpeg::{estimate, markers};
use crate::codecs::{bmp, gif, png, webp};
use crate::error::Error;
use crate::format::ImageFormat;
use crate::limits::Limits;

/// Facts about an image read from its header, without decoding pixels. Only [`probe`] makes
/// one (the header passed the limits it was given); [`Probe::admit`] turns it into the
/// [`Admitted`] that decoding needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
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
    pub(crate) fn plain(format: ImageFormat, width: u32, height: u32, frames: u32) -> Probe {
        Probe {
            format,
            width,
            height,
            frames,
            quality: None,
            progressive: false,
        }
    }

    /// The same facts for the first frame alone (what a stage that keeps one frame of an
    /// animation holds).
    pub fn first_frame(&self) -> Probe {
        Probe { frames: 1, ..*self }
    }

    /// The one gate of every stage: checks the header's facts against `limits` (sides,
    /// frames, pixels) and the stage's peak memory, `estimate` bytes (from the header, see
    /// [`crate::budget`]), against [`Limits::max_memory_bytes`]. Decoding takes the
    /// [`Admitted`] it returns, so no stage decodes what it has not checked.
    pub fn admit(&self, limits: &Limits, estimate: u64) -> Result<Admitted, Error> {
        limits.check_dimensions(self.format, self.width, self.height, self.frames)?;
        limits.check_memory(self.format, estimate)?;
        Ok(Admitted {
            probe: *self,
            max_frames: limits.max_frames,
            stop: crate::Stop::never(),
        })
    }
}

/// An input admitted to one stage by [`Probe::admit`]: what [`crate::decode`] needs.
#[derive(Debug, Clone)]
pub struct Admitted {
    probe: Probe,
    max_frames: u32,
    stop: crate::Stop,
}

impl Admitted {
    /// Decoding stops (with [`Error::Stopped`]) when `stop` says so, checked before each
    /// frame of an animation.
    #[must_use]
    pub fn until(mut self, stop: &crate::Stop) -> Admitted {
        self.stop = stop.clone();
        self
    }

    /// When decoding stops.
    pub(crate) fn stop(&self) -> &crate::Stop {
        &self.stop
    }

    /// The input's facts.
    pub fn probe(&self) -> &Probe {
        &self.probe
    }

    /// The most frames a decode reads.
    pub(crate) fn max_frames(&self) -> u32 {
        self.max_frames
    }
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
                // An APNG counts its frames (acTL) against the limits.
                ImageFormat::Png => {
                    let frames = png::animation(input).map_or(1, |(n, _)| n);
                    png::read_size(input).map(|(w, h)| (w, h, frames))?
                }
                ImageFormat::Bmp => bmp::read_size(input).map(|(w, h)| (w, h, 1))?,
                _ => {
                    let h = gif::read_header(input, limits.max_frames)?;
                    let (ew, eh) = h.extent;
                    limits.check_dimensions(format, ew, eh, h.frames)?;
                    (h.width, h.height, h.frames)
                }
            };
            limits.check_dimensions(format, width, height, frames)?;
            Ok(Probe::plain(format, width, height, frames))
        }
        ImageFormat::Heif | ImageFormat::Avif => heif_probe(input, format, limits),
        ImageFormat::Json => Err(Error::decode(format, "JSON is not an image")),
    }
}

/// How far an HEVC/AV1 coded picture may exceed the size its HEIF/AVIF item declares: the
/// padding to whole coding blocks (HEVC's largest coding tree unit, AV1's superblock: 64).
#[cfg(feature = "heif")]
const CODING_PADDING: u32 = 64;

#[cfg(feature = "heif")]
fn heif_probe(input: &[u8], format: ImageFormat, limits: &Limits) -> Result<Probe, Error> {
    // What the container declares is checked before libheif reads it (a size past libheif's
    // own cap would otherwise be its decode error, not a limits error), frames included: an
    // image sequence counts its samples.
    use crate::codecs::bmff;
    let frames = bmff::sequence_frames(input).map_or(1, |n| n.max(1));
    let declared = bmff::largest_extents(input);
    if let Some((w, h)) = declared {
        limits.check_dimensions(format, w, h, frames)?;
    }
    // What the decoder will allocate for: the coded size in the HEVC/AV1 configuration. It
    // may exceed the declared size by the padding to whole coding blocks (at most 64 px),
    // never more.
    if let Some((cw, ch)) = bmff::largest_coded(input) {
        limits.check_dimensions(format, cw, ch, frames)?;
        let (dw, dh) = declared.unwrap_or((0, 0));
        if cw > dw.saturating_add(CODING_PADDING) || ch > dh.saturating_add(CODING_PADDING) {
            return Err(Error::decode(
                format,
                format!(
                    "the coded image is {cw}x{ch}, larger than the {dw}x{dh} its header declares"
                ),
            ));
        }
    }
    let (width, height, _) = crate::codecs::heif::read_header(input, format)?;
    limits.check_dimensions(format, width, height, frames)?;
    Ok(Probe::plain(format, width, height, frames))
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

/// The output format of a stage whose rule says `format` (`None`: the input's own), for an
/// input in `input`. `tpg` is an [`Error::Unsupported`] output format; `yjpeg` is too here,
/// since it is a search over JPEG encodings that `mogr-slim` runs (`mogr::process` routes
/// it there), not one encode; HEIF and AVIF without the `heif` feature are
/// [`Error::NotCompiled`].
pub(crate) fn output_format(
    format: Option<Format>,
    input: ImageFormat,
) -> Result<ImageFormat, Error> {
    let target = match format {
        None => input,
        Some(Format::Jpg) => ImageFormat::Jpeg,
        Some(Format::Png) => ImageFormat::Png,
        Some(Format::Bmp) => ImageFormat::Bmp,
        Some(Format::Gif) => ImageFormat::Gif,
        Some(Format::Webp) => ImageFormat::Webp,
        Some(Format::Heif) => ImageFormat::Heif,
        Some(Format::Avif) => ImageFormat::Avif,
        Some(Format::Yjpeg) => {
            return Err(Error::Unsupported {
                what: "format/yjpeg in a single encode (it is mogr-slim's search)".into(),
            })
        }
        Some(other) => {
            return Err(Error::Unsupported {
                what: format!("output format {other}"),
            })
        }
    };
    match target.not_compiled() {
        Some(e) => Err(e),
        None => Ok(target),
    }
}
