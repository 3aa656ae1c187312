//! The typed rule AST and its canonical `Display`.

use std::fmt;

/// An output format named by `format/<name>`.
///
/// Names are case-insensitive when parsed; `jpeg` is `jpg` and `heic` is `heif`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// JPEG with the IJG standard tables (`jpg`, `jpeg`).
    Jpg,
    /// JPEG with the strongest size optimisations (`yjpeg`).
    Yjpeg,
    /// PNG (`png`).
    Png,
    /// BMP (`bmp`).
    Bmp,
    /// GIF (`gif`).
    Gif,
    /// WebP (`webp`).
    Webp,
    /// HEIF with HEVC (`heif`, `heic`).
    Heif,
    /// AVIF (`avif`).
    Avif,
    /// Tencent's proprietary TPG (`tpg`): parsed, never encodable.
    Tpg,
}

impl Format {
    /// Every format, in canonical order.
    pub const ALL: [Format; 9] = [
        Format::Jpg,
        Format::Yjpeg,
        Format::Png,
        Format::Bmp,
        Format::Gif,
        Format::Webp,
        Format::Heif,
        Format::Avif,
        Format::Tpg,
    ];

    /// The canonical lowercase name (`jpg`, `yjpeg`, `png`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Format::Jpg => "jpg",
            Format::Yjpeg => "yjpeg",
            Format::Png => "png",
            Format::Bmp => "bmp",
            Format::Gif => "gif",
            Format::Webp => "webp",
            Format::Heif => "heif",
            Format::Avif => "avif",
            Format::Tpg => "tpg",
        }
    }

    /// Looks a format up by name, case-insensitively, accepting the aliases `jpeg` and `heic`.
    pub fn from_name(name: &str) -> Option<Format> {
        let lower = name.to_ascii_lowercase();
        match lower.as_str() {
            "jpeg" => Some(Format::Jpg),
            "heic" => Some(Format::Heif),
            other => Format::ALL.into_iter().find(|f| f.name() == other),
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A number as written in a rule, with the byte offset where it was written.
///
/// Equality compares only the number, so that an AST parsed from a rule equals the AST parsed
/// from its canonical form. A digit run too long to fit saturates to `u64::MAX`, which no
/// parameter accepts, so validation reports it as out of range.
#[derive(Debug, Clone, Copy)]
pub struct Value {
    /// The number.
    pub value: u64,
    /// 0-based byte offset of the number in the original rule string.
    pub offset: usize,
}

impl Value {
    /// A value with no known position (offset 0), for building ASTs by hand.
    pub fn new(value: u64) -> Value {
        Value { value, offset: 0 }
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}
impl Eq for Value {}

/// The quality parameter of an `imageMogr2` stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quality {
    /// `quality/<q>`: min(input quality, q); with `!` (`force`) exactly q.
    Absolute {
        /// The quality number.
        value: Value,
        /// Whether `!` followed the number.
        force: bool,
    },
    /// `rquality/<r>`: input quality x r / 100.
    Relative(Value),
}

/// The parameters of one `imageMogr2` stage; each is given at most once.
///
/// Parameters may be added in any release: build one from [`MogrParams::default`] with the
/// `with_` methods (or by setting fields), not with a struct literal.
///
/// ```
/// use mogr_parse::{Format, MogrParams};
/// let p = MogrParams::default().with_format(Format::Webp).with_quality(75, false);
/// assert_eq!(p.to_string(), "imageMogr2/format/webp/quality/75");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MogrParams {
    /// `format/<name>`: the output format; `None` keeps the input's.
    pub format: Option<Format>,
    /// `quality/<q>[!]` or `rquality/<r>`.
    pub quality: Option<Quality>,
    /// `lquality/<l>`: a floor applied after `quality`/`rquality`.
    pub lquality: Option<Value>,
    /// `cgif/<n>`: GIF frame reduction.
    pub cgif: Option<Value>,
    /// `interlace/<0|1>`: progressive JPEG output.
    pub interlace: Option<Value>,
    /// `ignore-error/1`.
    pub ignore_error: Option<Value>,
}

impl MogrParams {
    /// With `format/<format>`.
    #[must_use]
    pub fn with_format(mut self, format: Format) -> MogrParams {
        self.format = Some(format);
        self
    }

    /// With `quality/<q>` (`quality/<q>!` when `force`).
    #[must_use]
    pub fn with_quality(mut self, q: u64, force: bool) -> MogrParams {
        self.quality = Some(Quality::Absolute {
            value: Value::new(q),
            force,
        });
        self
    }

    /// With `rquality/<r>`.
    #[must_use]
    pub fn with_rquality(mut self, r: u64) -> MogrParams {
        self.quality = Some(Quality::Relative(Value::new(r)));
        self
    }

    /// With `lquality/<l>`.
    #[must_use]
    pub fn with_lquality(mut self, l: u64) -> MogrParams {
        self.lquality = Some(Value::new(l));
        self
    }

    /// With `cgif/<n>`.
    #[must_use]
    pub fn with_cgif(mut self, n: u64) -> MogrParams {
        self.cgif = Some(Value::new(n));
        self
    }

    /// With `interlace/<0|1>`.
    #[must_use]
    pub fn with_interlace(mut self, progressive: bool) -> MogrParams {
        self.interlace = Some(Value::new(u64::from(progressive)));
        self
    }

    /// With `ignore-error/1`.
    #[must_use]
    pub fn with_ignore_error(mut self) -> MogrParams {
        self.ignore_error = Some(Value::new(1));
        self
    }

    /// Whether the stage carries `ignore-error/1` (the value 1 exactly).
    pub fn ignores_errors(&self) -> bool {
        self.ignore_error.is_some_and(|v| v.value == 1)
    }

    /// Whether `interlace/1` asks for progressive output.
    pub fn progressive(&self) -> bool {
        self.interlace.is_some_and(|v| v.value == 1)
    }
}

/// One stage of a pipeline. Stages may be added in any release.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Stage {
    /// `imageMogr2/...`.
    Mogr(MogrParams),
    /// `imageSlim`: perceptual smart compression.
    Slim,
    /// `imageInfo`: report image information.
    Info,
}

impl Stage {
    /// The `ignore-error/1` flag of this stage (only `imageMogr2` stages carry one).
    pub fn ignores_errors(&self) -> bool {
        matches!(self, Stage::Mogr(p) if p.ignores_errors())
    }
}

/// A rule: stages applied left to right, each to the output of the one before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pipeline {
    /// The stages, at least one and at most [`crate::MAX_STAGES`].
    pub stages: Vec<Stage>,
}

impl Pipeline {
    /// Whether any stage carries `ignore-error/1`.
    pub fn ignores_errors(&self) -> bool {
        self.stages.iter().any(Stage::ignores_errors)
    }
}

impl fmt::Display for MogrParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("imageMogr2")?;
        if let Some(format) = self.format {
            write!(f, "/format/{format}")?;
        }
        match self.quality {
            Some(Quality::Absolute { value, force }) => write!(
                f,
                "/quality/{}{}",
                value.value,
                if force { "!" } else { "" }
            )?,
            Some(Quality::Relative(value)) => write!(f, "/rquality/{}", value.value)?,
            None => {}
        }
        let rest = [
            ("lquality", self.lquality),
            ("cgif", self.cgif),
            ("interlace", self.interlace),
            ("ignore-error", self.ignore_error),
        ];
        for (name, value) in rest {
            if let Some(v) = value {
                write!(f, "/{name}/{}", v.value)?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stage::Mogr(p) => p.fmt(f),
            Stage::Slim => f.write_str("imageSlim"),
            Stage::Info => f.write_str("imageInfo"),
        }
    }
}

impl fmt::Display for Pipeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, stage) in self.stages.iter().enumerate() {
            if i > 0 {
                f.write_str("|")?;
            }
            stage.fmt(f)?;
        }
        Ok(())
    }
}
