//! Typed parse and validation errors, each with a byte offset.

use std::fmt;

/// A rule that could not be parsed or validated.
///
/// `Display` reads like `invalid rule at byte 19: quality must be 0..=100, found 150`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid rule at byte {offset}: {kind}")]
#[non_exhaustive]
pub struct ParseError {
    /// 0-based byte offset, in the original string, of the offending token.
    pub offset: usize,
    /// What was wrong.
    pub kind: ErrorKind,
}

impl ParseError {
    pub(crate) fn new(offset: usize, kind: ErrorKind) -> ParseError {
        ParseError { offset, kind }
    }

    /// Whether this is a validation error (a well-formed value outside its range), the only
    /// kind of rule error that `ignore-error/1` covers.
    pub fn is_out_of_range(&self) -> bool {
        matches!(self.kind, ErrorKind::OutOfRange { .. })
    }
}

/// What was wrong with a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The rule string is longer than [`crate::MAX_RULE_LEN`] bytes.
    TooLong {
        /// Length of the input in bytes.
        len: usize,
    },
    /// Nothing in the input is a rule (only URL parameters, or nothing at all).
    NoRule,
    /// More than one `&`-separated part of a URL query looks like a rule.
    MultipleRules,
    /// A stage is empty (`||`, or a leading or trailing `|`).
    EmptyStage,
    /// More than [`crate::MAX_STAGES`] stages.
    TooManyStages {
        /// The limit.
        max: usize,
    },
    /// `imageInfo` followed by another stage (it reports on the image and must come last).
    InfoNotLast,
    /// A stage name that is not `imageMogr2`, `imageSlim` or `imageInfo`.
    UnknownStage {
        /// The name found.
        found: String,
    },
    /// An `imageMogr2` parameter name that does not exist (such as `thumbnail`).
    UnknownParameter {
        /// The name found.
        found: String,
    },
    /// A parameter given twice in one stage.
    RepeatedParameter {
        /// The parameter.
        name: &'static str,
    },
    /// Two parameters that exclude each other (`quality` and `rquality`).
    ConflictingParameters {
        /// The later parameter, the one reported.
        name: &'static str,
        /// The earlier one it conflicts with.
        other: &'static str,
    },
    /// A parameter with no value after it.
    MissingValue {
        /// The parameter.
        name: &'static str,
    },
    /// A value of the wrong shape (non-digits, a stray `!`, ...).
    InvalidValue {
        /// The parameter.
        name: &'static str,
        /// The value found.
        found: String,
        /// What the parameter takes.
        expected: &'static str,
    },
    /// A `format` value that names no known format.
    UnknownFormat {
        /// The name found.
        found: String,
    },
    /// A character or token where something else was expected (whitespace, trailing garbage).
    Unexpected {
        /// What was found.
        found: String,
        /// What was expected there.
        expected: &'static str,
    },
    /// A well-formed number outside its parameter's range (a validation error).
    OutOfRange {
        /// The parameter.
        name: &'static str,
        /// The number found (`u64::MAX` for a digit run too long to fit).
        found: u64,
        /// Smallest accepted value.
        min: u64,
        /// Largest accepted value.
        max: u64,
    },
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::TooLong { len } => write!(
                f,
                "rule is {len} bytes long, the limit is {}",
                crate::MAX_RULE_LEN
            ),
            ErrorKind::NoRule => {
                f.write_str("no rule found, expected imageMogr2/..., imageSlim or imageInfo")
            }
            ErrorKind::MultipleRules => {
                f.write_str("more than one rule in the query, expected exactly one")
            }
            ErrorKind::EmptyStage => {
                f.write_str("empty stage, expected imageMogr2/..., imageSlim or imageInfo")
            }
            ErrorKind::TooManyStages { max } => write!(f, "more than {max} stages"),
            ErrorKind::InfoNotLast => f.write_str("imageInfo must be the last stage"),
            ErrorKind::UnknownStage { found } => {
                write!(
                    f,
                    "unknown operation `{}`, expected imageMogr2, imageSlim or imageInfo",
                    Printable(found)
                )?;
                did_you_mean(f, found, &["imageMogr2", "imageSlim", "imageInfo"])
            }
            ErrorKind::UnknownParameter { found } => {
                if NOT_IMPLEMENTED.contains(&found.as_str()) {
                    return write!(
                        f,
                        "`{found}` is an imageMogr2 parameter that mogr does not implement \
                         (it implements {})",
                        PARAMETERS.join(", ")
                    );
                }
                write!(f, "unknown imageMogr2 parameter `{}`", Printable(found))?;
                did_you_mean(f, found, PARAMETERS)
            }
            ErrorKind::RepeatedParameter { name } => write!(f, "{name} is given more than once"),
            ErrorKind::ConflictingParameters { name, other } => {
                write!(f, "{name} cannot be combined with {other}")
            }
            ErrorKind::MissingValue { name } => write!(f, "{name} needs a value"),
            ErrorKind::InvalidValue {
                name,
                found,
                expected,
            } => write!(f, "{name} must be {expected}, found `{}`", Printable(found)),
            ErrorKind::UnknownFormat { found } => {
                write!(
                    f,
                    "unknown format `{}`, expected one of {}",
                    Printable(found),
                    FORMATS.join(", ")
                )?;
                did_you_mean(f, found, FORMATS)
            }
            ErrorKind::Unexpected { found, expected } => {
                write!(f, "expected {expected}, found `{}`", Printable(found))
            }
            ErrorKind::OutOfRange {
                name,
                found,
                min,
                max,
            } => {
                if *found == u64::MAX {
                    write!(
                        f,
                        "{name} must be {min}..={max}, found a number too large to fit"
                    )
                } else {
                    write!(f, "{name} must be {min}..={max}, found {found}")
                }
            }
        }
    }
}

/// The `imageMogr2` parameters mogr implements.
const PARAMETERS: &[&str] = &[
    "format",
    "quality",
    "rquality",
    "lquality",
    "cgif",
    "interlace",
    "ignore-error",
];

/// `imageMogr2` parameters of the cloud service that mogr does not implement (scaling,
/// cropping, rotation, filters): named as such in the error rather than as a typo.
const NOT_IMPLEMENTED: &[&str] = &[
    "thumbnail",
    "crop",
    "cut",
    "scrop",
    "iradius",
    "rradius",
    "rotate",
    "auto-orient",
    "gravity",
    "blur",
    "sharpen",
    "strip",
    "size-limit",
    "bright",
    "contrast",
    "pad",
    "color",
    "minisize",
    "dx",
    "dy",
];

/// The `format` values.
const FORMATS: &[&str] = &[
    "jpg", "jpeg", "yjpeg", "png", "bmp", "gif", "webp", "heif", "heic", "avif", "tpg",
];

/// Appends "; did you mean `x`?" when one of `known` is close to `found` (an edit or two
/// away, ignoring case), the closest first.
fn did_you_mean(f: &mut fmt::Formatter<'_>, found: &str, known: &[&str]) -> fmt::Result {
    let lower = found.to_ascii_lowercase();
    let best = known
        .iter()
        .map(|k| {
            (
                strsim::damerau_levenshtein(&lower, &k.to_ascii_lowercase()),
                *k,
            )
        })
        .filter(|&(d, k)| d > 0 && d <= 2.min(k.len() / 2) || (d == 0 && k != found))
        .min_by_key(|&(d, _)| d);
    match best {
        Some((_, k)) => write!(f, "; did you mean `{k}`?"),
        None => Ok(()),
    }
}

/// User text shown in a message, with control characters escaped (`\u{7}`, `\n`, ...) so
/// that an error message echoing a rule or a key never carries raw control bytes into a
/// terminal, a log line or a document.
///
/// ```
/// assert_eq!(mogr_parse::Printable("a\u{7}b\nc").to_string(), "a\\u{7}b\\nc");
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Printable<'a>(pub &'a str);

impl fmt::Display for Printable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            if c.is_control() {
                write!(f, "{}", c.escape_default())?;
            } else {
                fmt::Write::write_char(f, c)?;
            }
        }
        Ok(())
    }
}
