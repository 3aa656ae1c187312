//! Perceptual smart compression (`imageSlim`) and `format/yjpeg` for
//! [mogr](https://docs.rs/mogr).
//!
//! `imageSlim` keeps the input's format and returns the smallest encoding that stays visually
//! the same as the input: its SSIMULACRA2 score against the decoded input must reach a
//! threshold, 80 by default ("not noticeable by an average viewer"). mogr computes the metric
//! itself, streaming rows through the metric's six scales, so that it holds a few KB per pixel
//! of width whatever the height (whole-image implementations hold about 50 bytes per pixel
//! per image); its scores equal libjxl's. Per format:
//!
//! - JPEG: mozjpeg-class encoding (`mozjpeg-rs`: trellis quantization, MS-SSIM-tuned tables,
//!   optimized Huffman tables, 4:2:0 or 4:4:4, baseline or progressive, whichever is
//!   smaller), searched over a fractional quality; images over 1.2 MP are searched on 32
//!   tiles of 128x128 first, then one full-size encode measures how far the whole image
//!   scores from its tiles and the search finishes at full size. Each candidate is encoded
//!   as two bands of rows on two threads whose coefficients are joined (the whole image's,
//!   block for block), and the output is written from those coefficients with a scan per
//!   component (one interleaved scan when smaller). Metadata (EXIF with its orientation, ICC, XMP, IPTC, comments)
//!   is kept as [`Options::metadata`](mogr_core::Options) says.
//! - PNG: palettes of the fewest colours that pass (median cut refined by k-means in Oklab,
//!   premultiplied by alpha when there is alpha, the colours weighted by pixel count and,
//!   in a second family, by smoothness; remapped without dithering, and with
//!   Floyd–Steinberg error diffusion at half and full strength, lowered on edges and
//!   texture; each dithered result also at the lowest strength that still passes at its
//!   colour count), posterization, and lossless `oxipng`; the smallest that passes. A
//!   palette result is also written with its entries in lightness order, which PNG's
//!   filters predict on dithered images. The output is the same from run to run.
//! - GIF: frame-optimized re-encoding with the exact colours, then fewer palette colours.
//! - WebP, HEIF, AVIF: a quality search in the same format.
//!
//! An APNG or a HEIF/AVIF image sequence is returned as it is (mogr writes neither).
//!
//! Searches aim a little above the threshold, so that other SSIMULACRA2 implementations and
//! decoders agree that outputs pass: [`METRIC_MARGIN`] (PNG, GIF), [`LOSSY_MARGIN`] (WebP,
//! HEIF, AVIF), [`DECODER_MARGIN`] (JPEG). Where either image is not opaque, it is scored
//! composed over grey 127 and over 128, each truncated to 8 bits as ImageMagick flattens
//! (`-background gray50 -alpha remove`, `-background '#808080' -flatten`), and the lower
//! score counts.
//!
//! Animations are scored frame by frame (up to 16 frames spread over the animation; the worst
//! counts). Images over 4 MP are scored on full-resolution 512x512 tiles spread over them
//! (about 4 MP of them), which bounds the metric's time. Every search is bounded: JPEG makes
//! at most [`MAX_PROXY_EVALS`] tile encodes and
//! [`MAX_FULL_EVALS`] full-size encodes (at most `MAX_PROXY_EVALS + MAX_FULL_EVALS` for images
//! searched at full size), plus one progressive re-encode; PNG at
//! most 67 scored quantizations (per weighting, 8 for the first dithering strength and 9
//! for each other, and 2 strength trims for each dithered one; 4 posterizations and 3
//! bisected steps) and 21 oxipng runs (a quick one per setting found, then two per palette
//! and one per posterization within 3% of the smallest, and the lossless one); GIF 6
//! encodes; WebP 7; HEIF and AVIF 5.
//!
//! The result is never larger than the input; its [`SlimFlag`] is the service's `X-Slimflag`.
//!
//! ```
//! use mogr_slim::{slim, SlimFlag, SlimOptions};
//! use mogr_core::Options;
//!
//! // A 64x64 gradient as a high-quality JPEG.
//! let pixels: Vec<u8> = (0..64 * 64).flat_map(|i| [(i % 64 * 4) as u8, (i / 64 * 4) as u8, 90]).collect();
//! let mut input = Vec::new();
//! jpeg_encoder::Encoder::new(&mut input, 98)
//!     .encode(&pixels, 64, 64, jpeg_encoder::ColorType::Rgb)
//!     .unwrap();
//! let out = slim(&input, &Options::default(), &SlimOptions::default()).unwrap();
//! assert!(out.bytes.len() <= input.len());
//! if out.flag == SlimFlag::Compressed {
//!     assert!(out.score.unwrap() >= 80.0);
//! }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod gif;
mod jpeg;
mod lossy;
pub mod metric;
mod pace;
mod png;
pub mod proxy;
mod quant;
pub mod search;
mod ssim2;
#[cfg(test)]
mod testing;
mod yjpeg;

use mogr_core::{Error, FramePick, ImageFormat, Limits, Options, Probe, Raster};

pub use yjpeg::apply as yjpeg;

/// Default threshold: a SSIMULACRA2 score of at least 80 counts as visually the same.
pub const DEFAULT_THRESHOLD: f64 = 80.0;

/// How far above the threshold JPEG searches aim, so that outputs also pass when decoded by
/// libjpeg-turbo (seen: scores 0.01 to 0.03 apart from mogr's own decoder).
pub const DECODER_MARGIN: f64 = 0.05;

/// How far above the threshold the PNG and GIF searches (palettes, dithering) aim, so that
/// outputs also pass when scored by other SSIMULACRA2 implementations: `ssimulacra2_rs` (the
/// reference scripts' scorer) scored 22 opaque PNG outputs from 0.08 below mogr's score to
/// 0.14 above (one output mogr scored 80.055 scored 79.978 there).
pub const METRIC_MARGIN: f64 = 0.1;

/// How far above the threshold the WebP, HEIF and AVIF searches aim, for the same reason as
/// [`METRIC_MARGIN`]: `ssimulacra2_rs` scored 24 of their outputs from 0.047 below mogr's
/// score to 0.11 above. (A whole 0.1 cost up to 12% on a HEIF whose coarse quality search
/// then took the next step up.) JPEG aims [`DECODER_MARGIN`] above: measured with
/// libjpeg-turbo decoding and `ssimulacra2_rs` together, its outputs scored from 0.033 below
/// mogr's score to 0.12 above.
pub const LOSSY_MARGIN: f64 = 0.05;

/// Tile (proxy) encodes a JPEG search makes at most.
pub const MAX_PROXY_EVALS: usize = 7;
/// Full-size encodes a JPEG search makes at most after its tile search.
pub const MAX_FULL_EVALS: usize = 4;

/// Settings of the smart compression.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct SlimOptions {
    /// The SSIMULACRA2 score an output must reach against the input. Default 80.
    pub threshold: f64,
}

impl Default for SlimOptions {
    fn default() -> Self {
        SlimOptions {
            threshold: DEFAULT_THRESHOLD,
        }
    }
}

impl SlimOptions {
    /// These options with another threshold (SSIMULACRA2; 90 is near-lossless, 70 is
    /// visibly compressed).
    #[must_use]
    pub fn with_threshold(mut self, threshold: f64) -> SlimOptions {
        self.threshold = threshold;
        self
    }
}

/// What `imageSlim` made of an input.
#[derive(Debug)]
#[non_exhaustive]
pub struct Slimmed<'a> {
    /// The output: smaller than the input with [`SlimFlag::Compressed`], else the input
    /// itself (borrowed, not copied).
    pub bytes: std::borrow::Cow<'a, [u8]>,
    /// The format (always the input's).
    pub format: ImageFormat,
    /// The outcome, as `X-Slimflag`.
    pub flag: SlimFlag,
    /// The output's score when compressed.
    pub score: Option<f64>,
    /// The encoder error that stopped the search ([`SlimFlag::Failed`]).
    pub error: Option<Error>,
    /// Encodes (or quantizations) the search made.
    pub encodes: u32,
}

/// How a format's search ended, once its input decoded (an input that does not decode is an
/// `Err` of the search function: the input's fault, not the encoders').
#[derive(Debug)]
pub(crate) enum Searched {
    /// The search ran to its end; it may have found nothing that passes.
    Done(Found),
    /// An encoder or the metric failed during the search ([`SlimFlag::Failed`]), or the
    /// search was stopped ([`Error::Stopped`]).
    Failed(Error),
}

impl From<Result<Found, Error>> for Searched {
    fn from(result: Result<Found, Error>) -> Searched {
        match result {
            Ok(found) => Searched::Done(found),
            Err(e) => Searched::Failed(e),
        }
    }
}

/// The smallest passing encoding a search found.
#[derive(Debug)]
pub(crate) struct Found {
    pub best: Option<(Vec<u8>, f64)>,
    pub encodes: u32,
    threshold: f64,
    /// The cost the best encoding was kept for.
    best_cost: usize,
}

impl Found {
    pub fn new(threshold: f64) -> Found {
        Found {
            best: None,
            encodes: 0,
            threshold,
            best_cost: usize::MAX,
        }
    }

    /// Keeps `bytes` when it passes and is the smallest so far.
    pub fn offer(&mut self, bytes: Vec<u8>, score: f64) {
        let cost = bytes.len();
        self.offer_at(bytes, score, cost);
    }

    /// Keeps `bytes` when it passes and its `cost` is the lowest so far: a format whose
    /// encodings carry different metadata compares them by the bytes of their pixels.
    pub fn offer_at(&mut self, bytes: Vec<u8>, score: f64, cost: usize) {
        if score >= self.threshold && cost < self.best_cost {
            self.best = Some((bytes, score));
            self.best_cost = cost;
        }
    }
}

/// `imageSlim`: the smallest encoding of `input`, in its own format, that scores at least
/// `slim.threshold`. Undecodable input and limits are errors; an encoder failing during the
/// search gives [`SlimFlag::Failed`] with the input and the error. [`Options::stop`] is
/// checked before each encode: a deadline or cancellation is an [`Error::Stopped`].
pub fn slim<'a>(
    input: &'a [u8],
    options: &Options,
    slim: &SlimOptions,
) -> Result<Slimmed<'a>, Error> {
    let stop = &options.stop;
    let probe = mogr_core::probe(input, &options.limits)?;
    let admitted = probe
        .admit(&options.limits, memory_estimate(input, &probe))?
        .until(stop);
    let threshold = slim.threshold;
    let searched = match probe.format {
        ImageFormat::Jpeg => {
            let source = jpeg::Source::new(input, &admitted, options)?;
            // Aimed a hair above the threshold: other decoders (libjpeg-turbo's IDCT and
            // upsampling) see slightly different pixels than ours.
            let aim = threshold + DECODER_MARGIN;
            let scans = jpeg::Scans::Smallest;
            jpeg::search(&source, None, aim, scans, jpeg::Precision::Fast, stop).into()
        }
        // An APNG or a HEIF/AVIF image sequence: mogr writes neither animated PNG nor image
        // sequences, and a still would lose the animation; it is returned as it is (flag 2)
        // once it is known to decode.
        ImageFormat::Png | ImageFormat::Heif | ImageFormat::Avif if probe.frames > 1 => {
            mogr_core::validate(input, &options.limits, stop)?;
            Searched::Done(Found::new(threshold))
        }
        ImageFormat::Png => {
            let aim = threshold + METRIC_MARGIN;
            png::slim(input, &admitted, options, aim, stop)?
        }
        ImageFormat::Gif => gif::slim(input, &admitted, threshold + METRIC_MARGIN, stop)?,
        ImageFormat::Webp | ImageFormat::Heif | ImageFormat::Avif => {
            lossy::slim(input, &admitted, threshold + LOSSY_MARGIN, stop)?
        }
        // BMP is uncompressed by nature (and JSON is not an image): nothing to search; the
        // input, returned as it is, must decode all the same.
        _ => {
            mogr_core::validate(input, &options.limits, stop)?;
            Searched::Done(Found::new(threshold))
        }
    };
    if let Searched::Failed(e @ Error::Stopped { .. }) = searched {
        return Err(e);
    }
    Ok(outcome(input, probe.format, searched))
}

/// Decodes one of a search's own candidates (made here from an admitted input, so no
/// limits apply), every frame, orientation as stored.
pub(crate) fn decode_candidate(bytes: &[u8]) -> Result<Raster, Error> {
    let limits = Limits::none();
    let admitted = mogr_core::probe(bytes, &limits)?.admit(&limits, 0)?;
    mogr_core::decode(bytes, &admitted, FramePick::All, false)
}

/// Peak bytes an `imageSlim` search (or a `yjpeg` one) on `input` may hold, estimated from
/// its header like [`mogr_core::budget`]: the decoded frames, the perceptual metric's rows,
/// and the candidates.
pub fn memory_estimate(input: &[u8], probe: &Probe) -> u64 {
    // imageSlim on a PNG searches its two lossy families on two threads.
    estimate(
        input,
        probe,
        probe.format == ImageFormat::Png,
        probe.format == ImageFormat::Jpeg,
    )
}

/// Peak bytes of a `yjpeg` search (one JPEG search, whatever the input format).
pub(crate) fn yjpeg_estimate(input: &[u8], probe: &Probe) -> u64 {
    estimate(input, probe, false, true)
}

/// [`memory_estimate`], with `two_candidates` when two searches run at once, and
/// `jpeg_search` when the search writes JPEG (its start encodes 4:2:0 and 4:4:4 at once, at
/// full size up to [`proxy::FULL_SIZE_PIXELS`], else on the tiles).
fn estimate(input: &[u8], probe: &Probe, two_candidates: bool, jpeg_search: bool) -> u64 {
    use mogr_core::budget;
    let px = u64::from(probe.width) * u64::from(probe.height);
    let frames = u64::from(probe.frames.max(1));
    let decoded = budget::decode(input, probe, frames);
    // SSIMULACRA2 streams rows through its scales: a few KB per pixel of width for each score
    // running at once (PNG's two searches score on two threads); large images' samples of
    // tiles are read in place.
    let scorers = if two_candidates { 2 } else { 1 };
    let metric = scorers * metric::BYTES_PER_WIDTH * u64::from(probe.width);
    let encoder = match probe.format {
        ImageFormat::Heif | ImageFormat::Avif | ImageFormat::Webp => {
            budget::encode_per_pixel(probe.format, budget::may_have_alpha(input, probe))
                * px
                * frames
        }
        _ => 12 * px * frames,
    };
    // Each search holds its candidate's encoding and decoded pixels (PNG: also the remapped
    // image) while it is scored.
    let candidates = if frames == 1 { scorers * 10 * px } else { 0 };
    let start = if jpeg_search {
        12 * px.min(proxy::FULL_SIZE_PIXELS)
    } else {
        0
    };
    // A JPEG search encodes each candidate as two bands on two threads: the bands'
    // coefficients and their joined copy (up to 6 bytes per pixel each, at 4:4:4) are held
    // while the candidate's pixels are made, and the second thread's allocations stay in
    // an allocator arena of its own.
    let bands = if jpeg_search { 6 * px } else { 0 };
    budget::BASE + decoded + metric + encoder + candidates + start + bands
}

/// The result of a search as the service reports it: the smallest passing encoding when it
/// is smaller than the input (flag 1), else the input (flag 2), or the input with the error
/// when the search failed (flag 0).
fn outcome(input: &[u8], format: ImageFormat, searched: Searched) -> Slimmed<'_> {
    let unchanged = |flag, error, encodes| Slimmed {
        bytes: std::borrow::Cow::Borrowed(input),
        format,
        flag,
        score: None,
        error,
        encodes,
    };
    match searched {
        Searched::Failed(e) => unchanged(SlimFlag::Failed, Some(e), 0),
        Searched::Done(found) => match found.best {
            Some((bytes, score)) if bytes.len() < input.len() => Slimmed {
                bytes: std::borrow::Cow::Owned(bytes),
                format,
                flag: SlimFlag::Compressed,
                score: Some(score),
                error: None,
                encodes: found.encodes,
            },
            _ => unchanged(SlimFlag::Original, None, found.encodes),
        },
    }
}

/// The outcome of `imageSlim`, as the service's `X-Slimflag` header reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SlimFlag {
    /// 0: an encoder failed during the search; the input is returned and the error reported.
    Failed,
    /// 1: compressed: the output is smaller and meets the threshold.
    Compressed,
    /// 2: nothing smaller met the threshold; the input bytes are returned unchanged.
    Original,
}

impl SlimFlag {
    /// The header value: 0, 1 or 2.
    pub fn header_value(self) -> u8 {
        match self {
            SlimFlag::Failed => 0,
            SlimFlag::Compressed => 1,
            SlimFlag::Original => 2,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_have_the_header_values() {
        let v: Vec<u8> = [SlimFlag::Failed, SlimFlag::Compressed, SlimFlag::Original]
            .iter()
            .map(|f| f.header_value())
            .collect();
        assert_eq!(v, [0, 1, 2]);
    }

    #[test]
    fn a_failed_search_returns_the_input_with_its_error() {
        let err = Error::Encode {
            format: mogr_core::FormatName(Some(ImageFormat::Png)),
            message: "boom".into(),
            source: None,
        };
        let out = outcome(b"input", ImageFormat::Png, Searched::Failed(err));
        assert_eq!(out.flag, SlimFlag::Failed);
        assert_eq!(&*out.bytes, b"input");
        assert!(out.error.unwrap().to_string().contains("boom"));
    }

    #[test]
    fn a_larger_result_is_never_returned() {
        let mut found = Found::new(80.0);
        found.offer(vec![0; 10], 95.0);
        let out = outcome(b"input", ImageFormat::Png, Searched::Done(found));
        assert_eq!((out.flag, &*out.bytes), (SlimFlag::Original, &b"input"[..]));
    }

    #[test]
    fn found_keeps_the_smallest_passing() {
        let mut f = Found::new(80.0);
        f.offer(vec![0; 50], 81.0);
        f.offer(vec![0; 30], 79.9);
        f.offer(vec![0; 40], f64::NAN);
        f.offer(vec![0; 45], 80.0);
        assert_eq!(f.best.map(|(b, s)| (b.len(), s)), Some((45, 80.0)));
    }
}
