//! Cloud-object-store image processing for any Rust service: the `imageMogr2` rule language
//! and `imageSlim`, through one call.
//!
//! ```
//! # let jpeg = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/images/jpeg/pil-flower.jpg")).unwrap();
//! // `jpeg` holds a JPEG upload whose estimated quality is 75.
//! let out = mogr::process(&jpeg, "imageMogr2/quality/60/interlace/1").unwrap();
//! assert_eq!(out.format, mogr::ImageFormat::Jpeg);
//! assert_eq!(out.quality, Some(60));
//! assert!(out.bytes.len() < jpeg.len());
//!
//! // quality/q never raises quality: min(75, 90) = 75, so the input comes back untouched.
//! let out = mogr::process(&jpeg, "imageMogr2/quality/90").unwrap();
//! assert_eq!(out.returned, Some(mogr::Returned::Unchanged));
//! assert_eq!(out.bytes, jpeg);
//! ```
//!
//! # Rules
//! A rule is one or more stages joined by `|` (at most 10), each applied to the output of the
//! one before (see [`mogr_parse`] for the grammar). Rules copied from a download URL are
//! accepted as they are: a leading `?`, signature parameters (`q-sign-algorithm=...&`) and
//! percent escapes (`%21` for `!`, `%7C` for `|`, `%2F` for `/`).
//!
//! | stage | meaning |
//! | --- | --- |
//! | `imageMogr2/<param>/<value>/...` | re-encode with the parameters below |
//! | `imageSlim` | the smallest file in the same format that looks the same (SSIMULACRA2 >= 80 by default, [`Processor::with_slim_threshold`]); [`Output::slim_flag`] is the service's `X-Slimflag` |
//! | `imageInfo` | no image: the input's `ImageInfo` as JSON ([`ImageFormat::Json`]); last stage only |
//!
//! `imageMogr2` parameters, each at most once, in any order:
//!
//! | parameter | value | effect |
//! | --- | --- | --- |
//! | `quality/<q>` | 0..=100, optional `!` | output quality = min(input quality, q); `quality/q!` exactly q |
//! | `rquality/<r>` | 0..=100 | output quality = input quality x r / 100 (rounded half up, at least 1) |
//! | `lquality/<l>` | 0..=100 | a floor applied last: max(quality, l); may join `quality` or `rquality` |
//! | `format/<f>` | `jpg`/`jpeg`, `yjpeg`, `png`, `bmp`, `gif`, `webp`, `heif`/`heic`, `avif`, `tpg` | output format (default: the input's). `yjpeg` is a standard progressive JPEG that looks at least as good as `jpg` at the same rule, in fewer bytes; `tpg` is parsed and refused as unsupported; `heif`/`avif` need the `heif` feature |
//! | `cgif/<n>` | `1`, or 2..=100 | GIF output: `1` keeps the first 30 frames; `n` keeps n evenly spaced frames, the total duration unchanged (each kept frame shows for the frames dropped after it); colours are reduced too |
//! | `interlace/<m>` | `0` or `1` | `1`: progressive JPEG output; ignored for other outputs |
//! | `ignore-error/1` | `1` | on a limits error, an out-of-range value or an unsupported output format, return the input unchanged ([`Returned::IgnoredError`]) |
//!
//! Quality applies to JPEG, WebP (lossy), HEIF and AVIF outputs; PNG, BMP and GIF ignore it.
//!
//! # Quality
//! One function, [`quality::output_quality`], decides the output quality for every encoder:
//! `quality/q` gives min(input, q), `quality/q!` exactly q, `rquality/r` input x r / 100
//! (rounded half up, at least 1), `lquality/l` a floor applied last; with no quality parameter
//! the input's quality is kept. JPEG input quality is estimated from its quantization tables
//! and agrees with ImageMagick's `%Q` wherever ImageMagick's method finds a match (elsewhere it
//! is the quality of the nearest libjpeg-scaled tables, never ImageMagick's fallback 92).
//! Where the input has no quality, the output format's default stands in for it
//! ([`quality::default_quality`]: 75 for JPEG and WebP, 50 for HEIF and AVIF). When the
//! result is the input's own quality, the format is unchanged and nothing else asks for a
//! re-encode, the input bytes come back as they are ([`Returned::Unchanged`]), borrowed:
//! [`Output::bytes`] is then the caller's own buffer, not a copy.
//!
//! # Errors and `ignore-error/1`
//! Every failure is an [`Error`]. A stage carrying `ignore-error/1` turns exactly these kinds
//! into a success that returns the input byte for byte ([`Returned::IgnoredError`]): limits
//! errors, out-of-range values, and an output format this build does not produce (such as
//! `tpg`, or HEIF without the `heif` feature). Syntax errors and undecodable input stay
//! errors. [`Error::kind`] gives the one mapping to an HTTP status, a CLI exit code and the
//! `UploadResult` code:
//!
//! ```
//! let err = mogr::process(b"not an image", "imageMogr2/quality/60").unwrap_err();
//! assert_eq!(err.kind(), mogr::ErrorKind::InvalidImage);
//! assert_eq!(err.kind().http_status(), 415);
//! ```
//!
//! # Limits, memory and time
//! A [`Processor`] holds [`Limits`] (the service's: 32 MiB input, 30,000 px per side, 250 MP
//! counting all frames, 300 frames, 100 progressive scans), checked from the header before
//! anything large is allocated; an optional memory budget, checked against each stage's peak
//! estimated from the header ([`Processor::with_memory_budget`]); and a deadline or a cancel
//! flag ([`Processor::with_deadline`], [`Processor::with_cancel_flag`], or per call
//! [`Processor::process_with`]) checked between stages and between the encodes of a search.
//!
//! # In an async service
//! The work is CPU-bound and blocking (tens of milliseconds for a photo, seconds for
//! `imageSlim` on a large PNG): never call it on an async executor's threads. Run it with
//! `tokio::task::spawn_blocking` or on a dedicated pool, and bound how many run at once (a
//! semaphore with as many permits as cores). Give each request a deadline, and raise a
//! cancel flag when its client goes away ([`Processor::process_with`] with a [`Stop`]).
//! `examples/serve.rs` shows the pattern with axum, including handing back an unchanged
//! input without a copy:
//!
//! ```no_run
//! # async fn handler(processor: std::sync::Arc<mogr::Processor>, upload: Vec<u8>) {
//! let body = tokio::task::spawn_blocking(move || {
//!     let out = processor.process(&upload, "imageMogr2/format/webp")?;
//!     // The input comes back as it is: hand back the upload buffer itself.
//!     Ok::<_, mogr::Error>(if out.input_returned() { drop(out); upload } else { out.into_bytes() })
//! })
//! .await;
//! # }
//! ```
//!
//! Threads mogr starts itself: JPEG decoding (jpeg-decoder) and `imageSlim` on PNG (oxipng)
//! run parts of their work on rayon's global pool, one thread per core unless bounded with
//! `RAYON_NUM_THREADS` or `rayon::ThreadPoolBuilder::build_global`. The rest are scoped
//! threads that end with the call (nothing outlives a call): JPEG pixel reconstruction (up
//! to four bands from a megapixel up), JPEG requantization and GIF writing (two each), and
//! `imageSlim`: each SSIMULACRA2 score of an image of 64K pixels or more (two: the channels
//! are split, the score is the same), the JPEG search's 4:4:4 start encode beside its 4:2:0
//! one, and the PNG search's second candidate family.
//!
//! # Features
//! - `sse41` (default): libwebp built with SSE4.1 (x86-64 CPUs since 2008); leave it out for
//!   SSE2-only machines.
//! - `heif`: HEIF and AVIF through the system libheif 1.17+ (LGPL, linked dynamically) and its
//!   codec plugins. Without it [`ImageFormat::can_decode`] and [`ImageFormat::can_encode`]
//!   are false for them and they fail with [`Error::NotCompiled`].
//! - `ops`: persistent processing on upload (`Pic-Operations`, the `UploadResult`): [`ops`].
//!
//! # Build profile
//! Codec code is hot: a debug build of the codec crates is about 20 times slower. Build
//! dependencies optimized in your dev profile:
//!
//! ```toml
//! [profile.dev.package."*"]
//! opt-level = 3
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub use mogr_core::{
    quality, Error, ErrorKind, FormatName, ImageFormat, LimitKind, Limits, ServiceCode, Stop,
    StopReason, XmlWriter,
};
pub use mogr_core::{ImageInfo, Metadata};
pub use mogr_parse::{self as rule, ParseError, Pipeline};
pub use mogr_slim::{SlimFlag, SlimOptions};
#[cfg(feature = "ops")]
#[cfg_attr(docsrs, doc(cfg(feature = "ops")))]
pub use ops::{process_operations, PicOperations, Styles, UploadResult};

#[cfg(feature = "ops")]
#[cfg_attr(docsrs, doc(cfg(feature = "ops")))]
pub mod ops;

use std::borrow::Cow;

use mogr_core::{DecodeCache, Probe};
use mogr_parse::{Format, Stage};

/// Why the input bytes were returned as they are.
#[derive(Debug)]
#[non_exhaustive]
pub enum Returned {
    /// Nothing would change: same format, same quality, nothing else to re-encode for.
    Unchanged,
    /// A stage with `ignore-error/1` failed with this error, which `ignore-error` covers.
    IgnoredError(Error),
    /// `imageSlim` gave nothing smaller that looks the same ([`SlimFlag::Original`]).
    NothingSmaller,
    /// An encoder failed during the `imageSlim` search ([`SlimFlag::Failed`]): the image is
    /// returned as it came to that stage, and this is the error.
    SlimFailed(Error),
}

impl PartialEq for Returned {
    /// Two `IgnoredError`s are equal when their messages are.
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Returned::Unchanged, Returned::Unchanged) => true,
            (Returned::IgnoredError(a), Returned::IgnoredError(b))
            | (Returned::SlimFailed(a), Returned::SlimFailed(b)) => a.to_string() == b.to_string(),
            (Returned::NothingSmaller, Returned::NothingSmaller) => true,
            _ => false,
        }
    }
}

/// The result of [`process`]. It borrows the input: when the input comes back unchanged
/// ([`Output::returned`]), `bytes` is the input itself, not a copy.
#[derive(Debug)]
#[non_exhaustive]
pub struct Output<'a> {
    /// The output file (`Cow::Borrowed` input when it is returned as it is).
    pub bytes: Cow<'a, [u8]>,
    /// Its format.
    pub format: ImageFormat,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Frames (1 for still images).
    pub frames: u32,
    /// The output's quality: the one used to encode, or the input's estimate when the input
    /// bytes are returned; `None` where the format has none.
    pub quality: Option<u8>,
    /// `Some` when the input bytes were returned as they are, with the reason.
    pub returned: Option<Returned>,
    /// The `imageSlim` outcome (`X-Slimflag`) when the rule has an `imageSlim` stage.
    pub slim_flag: Option<SlimFlag>,
}

impl<'a> Output<'a> {
    /// Whether the output is the input, byte for byte.
    pub fn input_returned(&self) -> bool {
        self.returned.is_some()
    }

    /// The output file as an owned buffer (a copy only when it is the input itself).
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes.into_owned()
    }

    fn from_probe(bytes: Cow<'a, [u8]>, probe: Probe, returned: Option<Returned>) -> Output<'a> {
        Output {
            bytes,
            format: probe.format,
            width: probe.width,
            height: probe.height,
            frames: probe.frames,
            quality: probe.quality,
            returned,
            slim_flag: None,
        }
    }
}

/// Reusable settings for [`Processor::process`]: limits, metadata policy, memory budget,
/// deadline and `imageSlim` options.
///
/// `Processor` is `Send + Sync`; build one at start-up and share it across threads.
///
/// ```
/// # let jpeg = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/images/jpeg/pil-flower.jpg")).unwrap();
/// use std::time::Duration;
/// let processor = mogr::Processor::new()
///     .with_limits(mogr::Limits::default().with_max_side(10_000))
///     .with_metadata(mogr::Metadata::Strip)
///     .with_memory_budget(512 << 20)
///     .with_deadline(Duration::from_secs(10));
/// let out = processor.process(&jpeg, "imageMogr2/format/webp/quality/70").unwrap();
/// assert_eq!(out.format, mogr::ImageFormat::Webp);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Processor {
    options: mogr_core::Options,
    slim: SlimOptions,
    deadline: Option<std::time::Duration>,
    cancel: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

impl Processor {
    /// A processor with the defaults: the service's limits ([`Limits::default`]) and all
    /// metadata kept ([`Metadata::Keep`]).
    pub fn new() -> Processor {
        Processor::default()
    }

    /// Replaces the limits.
    #[must_use]
    pub fn with_limits(mut self, limits: Limits) -> Processor {
        self.options.limits = limits;
        self
    }

    /// Sets which metadata re-encoded outputs keep.
    #[must_use]
    pub fn with_metadata(mut self, metadata: Metadata) -> Processor {
        self.options.metadata = metadata;
        self
    }

    /// Bounds the memory of each call: every stage's peak is estimated from the image's
    /// header before anything is decoded (see [`mogr_core::budget`]), and a stage whose
    /// estimate exceeds `bytes` fails with a [`LimitKind::Memory`] limits error (which
    /// `ignore-error/1` covers, like the other limits). Sets [`Limits::max_memory_bytes`].
    #[must_use]
    pub fn with_memory_budget(mut self, bytes: u64) -> Processor {
        self.options.limits.max_memory_bytes = bytes;
        self
    }

    /// Gives each call at most `limit` of work: checked before every stage, before each
    /// animation frame decoded or written as GIF, inside a still WebP encode (libwebp's
    /// progress hook), and before every step of an `imageSlim` or `yjpeg` search, where a
    /// step that would end past the deadline (judged by the step before it) is not started.
    /// One JPEG encode, one animated WebP encode and one HEIF/AVIF encode run to their end.
    /// Past it the call fails with [`Error::Stopped`].
    #[must_use]
    pub fn with_deadline(mut self, limit: std::time::Duration) -> Processor {
        self.deadline = Some(limit);
        self
    }

    /// Stops calls when `flag` is set (from another thread), at the same points as
    /// [`Processor::with_deadline`], with [`Error::Stopped`].
    #[must_use]
    pub fn with_cancel_flag(
        mut self,
        flag: std::sync::Arc<std::sync::atomic::AtomicBool>,
    ) -> Processor {
        self.cancel = Some(flag);
        self
    }

    /// This processor's own stop for a call starting now, joined with the caller's.
    fn stop(&self, call: &Stop) -> Stop {
        let mut stop = Stop::never().and(call);
        if let Some(d) = self.deadline {
            stop = stop.after(d);
        }
        if let Some(f) = &self.cancel {
            stop = stop.when(f.clone());
        }
        stop
    }

    /// Sets the SSIMULACRA2 score `imageSlim` outputs must reach (default 80).
    #[must_use]
    pub fn with_slim_threshold(mut self, threshold: f64) -> Processor {
        self.slim = self.slim.with_threshold(threshold);
        self
    }

    /// Replaces the `imageSlim` settings.
    #[must_use]
    pub fn with_slim_options(mut self, slim: SlimOptions) -> Processor {
        self.slim = slim;
        self
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.options.limits
    }

    /// Parses `rule` and applies it to `input`; see the crate docs.
    pub fn process<'a>(&self, input: &'a [u8], rule: &str) -> Result<Output<'a>, Error> {
        self.process_with(input, rule, &Stop::never())
    }

    /// As [`Processor::process`], also stopping when `stop` says so: a per-call deadline or
    /// cancellation (a request whose client went away) without a processor of its own. The
    /// processor's own deadline and cancel flag still apply.
    ///
    /// ```
    /// use std::sync::{atomic::AtomicBool, Arc};
    /// let cancelled = Arc::new(AtomicBool::new(true));
    /// let stop = mogr::Stop::never().when(cancelled);
    /// let err = mogr::Processor::new()
    ///     .process_with(b"any input", "imageMogr2/quality/60", &stop)
    ///     .unwrap_err();
    /// assert_eq!(err.kind(), mogr::ErrorKind::Stopped);
    /// ```
    pub fn process_with<'a>(
        &self,
        input: &'a [u8],
        rule: &str,
        stop: &Stop,
    ) -> Result<Output<'a>, Error> {
        let pipeline = mogr_parse::parse(rule)?;
        self.run(input, &pipeline, None, stop)
    }

    /// Applies a parsed (not necessarily validated) pipeline to `input`.
    pub fn process_pipeline<'a>(
        &self,
        input: &'a [u8],
        pipeline: &Pipeline,
    ) -> Result<Output<'a>, Error> {
        self.run(input, pipeline, None, &Stop::never())
    }

    /// [`Processor::process`] sharing decoded pixels of `input` with other rules through
    /// `cache` (persistent processing).
    #[cfg(feature = "ops")]
    fn process_cached<'a>(
        &self,
        input: &'a [u8],
        rule: &str,
        cache: &DecodeCache,
    ) -> Result<Output<'a>, Error> {
        let pipeline = mogr_parse::parse(rule)?;
        self.run(input, &pipeline, Some(cache), &Stop::never())
    }

    fn run<'a>(
        &self,
        input: &'a [u8],
        pipeline: &Pipeline,
        cache: Option<&DecodeCache>,
        call_stop: &Stop,
    ) -> Result<Output<'a>, Error> {
        for stage in &pipeline.stages {
            if let Stage::Mogr(params) = stage {
                if let Err(e) = params.validate() {
                    return self.ignore_or_fail(input, stage, Error::Rule(e));
                }
            }
        }
        let stop = self.stop(call_stop);
        // The stop reaches inside the stages: checked per frame decoded or written.
        let options = self.options.clone().with_stop(stop.clone());
        // The bytes a stage made, once any stage changed them (the input is never copied),
        // and the facts about the bytes as they stand.
        let mut changed: Option<Vec<u8>> = None;
        let mut current: Option<Probe> = None;
        let mut all_unchanged = true;
        let mut slim: Option<(SlimFlag, Option<Returned>)> = None;
        for stage in &pipeline.stages {
            stop.check()?;
            let bytes = changed.as_deref().unwrap_or(input);
            let result = match stage {
                Stage::Mogr(params) if params.format == Some(Format::Yjpeg) => {
                    mogr_slim::yjpeg(bytes, params, &options)
                }
                Stage::Mogr(params) => {
                    // The cache holds the original input's pixels: first stage only.
                    let cache = cache.filter(|_| changed.is_none());
                    match cache {
                        Some(c) => c.apply(bytes, params, &options),
                        None => mogr_core::apply(bytes, params, &options),
                    }
                }
                // The grammar only allows it last: report on the image as it stands.
                Stage::Info => {
                    let info = self.info(bytes)?;
                    return Ok(Output {
                        bytes: Cow::Owned(info.to_json().into_bytes()),
                        format: ImageFormat::Json,
                        width: info.width,
                        height: info.height,
                        frames: info.frame_count,
                        quality: None,
                        returned: None,
                        slim_flag: None,
                    });
                }
                Stage::Slim => {
                    let slimmed = mogr_slim::slim(bytes, &options, &self.slim);
                    match slimmed {
                        Ok(s) => {
                            let compressed = s.flag == SlimFlag::Compressed;
                            slim = Some(match (s.flag, s.error) {
                                (SlimFlag::Compressed, _) => (s.flag, None),
                                (SlimFlag::Failed, Some(e)) => {
                                    (s.flag, Some(Returned::SlimFailed(e)))
                                }
                                _ => (s.flag, Some(Returned::NothingSmaller)),
                            });
                            all_unchanged &= !compressed;
                            if compressed {
                                let made = s.bytes.into_owned();
                                current = Some(mogr_core::probe(&made, &Limits::none())?);
                                changed = Some(made);
                            } else if current.is_none() {
                                current = Some(mogr_core::probe(bytes, &Limits::none())?);
                            }
                            continue;
                        }
                        Err(e) => Err(e),
                    }
                }
                other => Err(Error::Unsupported {
                    what: format!("stage {other:?}"),
                }),
            };
            match result {
                Ok(encoded) => {
                    all_unchanged &= encoded.unchanged;
                    current = Some(encoded.probe);
                    if !encoded.unchanged {
                        changed = Some(encoded.bytes.into_owned());
                    }
                }
                Err(e) => return self.ignore_or_fail(input, stage, e),
            }
        }
        let probe = current.ok_or_else(|| Error::Unsupported {
            what: "empty pipeline".into(),
        })?;
        let bytes = changed.map_or(Cow::Borrowed(input), Cow::Owned);
        let (slim_flag, slim_returned) = slim.map_or((None, None), |(f, r)| (Some(f), r));
        let returned = match slim_returned {
            Some(r) if all_unchanged => Some(r),
            _ => all_unchanged.then_some(Returned::Unchanged),
        };
        let mut out = Output::from_probe(bytes, probe, returned);
        out.slim_flag = slim_flag;
        Ok(out)
    }

    /// Facts about an image (`ImageInfo`): headers, and the first frame for `Ave`.
    pub fn info(&self, input: &[u8]) -> Result<ImageInfo, Error> {
        mogr_core::info(input, &self.options.limits)
    }

    /// Returns the input unchanged when `stage` carries `ignore-error/1` and the error is one
    /// it covers; otherwise fails with `error`.
    fn ignore_or_fail<'a>(
        &self,
        input: &'a [u8],
        stage: &Stage,
        error: Error,
    ) -> Result<Output<'a>, Error> {
        if !(stage.ignores_errors() && error.is_ignorable()) {
            return Err(error);
        }
        // The header is read again with no limits, only to describe what is returned. An
        // image past what even its decoder's own caps allow (a HEIF declaring 65535x65535)
        // is returned all the same, described by its format alone (sides 0).
        let returned = Some(Returned::IgnoredError(error));
        match mogr_core::probe(input, &Limits::none()) {
            Ok(probe) => Ok(Output::from_probe(Cow::Borrowed(input), probe, returned)),
            Err(e) => {
                let Some(format) = ImageFormat::sniff(input) else {
                    return Err(e);
                };
                Ok(Output {
                    bytes: Cow::Borrowed(input),
                    format,
                    width: 0,
                    height: 0,
                    frames: 1,
                    quality: None,
                    returned,
                    slim_flag: None,
                })
            }
        }
    }
}

/// Facts about an image with the default [`Processor`]; see [`ImageInfo`].
///
/// ```
/// # let jpeg = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/images/jpeg/pil-flower.jpg")).unwrap();
/// let info = mogr::info(&jpeg).unwrap();
/// assert_eq!((info.format, info.width, info.height, info.quality), (mogr::ImageFormat::Jpeg, 480, 360, Some(75)));
/// assert!(info.to_json().starts_with(r#"{"Format":"jpg","Width":480"#));
/// ```
pub fn info(input: &[u8]) -> Result<ImageInfo, Error> {
    Processor::default().info(input)
}

/// Applies `rule` to `input` with the default [`Processor`].
///
/// ```
/// let err = mogr::process(b"not an image", "imageMogr2/quality/80").unwrap_err();
/// assert!(matches!(err, mogr::Error::Decode { .. }));
/// ```
pub fn process<'a>(input: &'a [u8], rule: &str) -> Result<Output<'a>, Error> {
    Processor::default().process(input, rule)
}
