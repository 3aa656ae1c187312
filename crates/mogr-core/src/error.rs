//! The one error type of mogr: what went wrong, in terms a caller can act on.

use crate::format::ImageFormat;

/// Everything that can go wrong while processing an image.
///
/// Variants a caller can act on: a bad rule ([`Error::Rule`]), an input over a configured
/// limit ([`Error::Limits`], HTTP 413 in a service), an output format or operation mogr cannot
/// produce ([`Error::Unsupported`]), an input that cannot be decoded ([`Error::Decode`]) and an
/// encoder failure ([`Error::Encode`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The rule string is malformed, or a value is out of range.
    #[error(transparent)]
    Rule(#[from] mogr_parse::ParseError),
    /// The input exceeds one of the [`crate::Limits`], found from its header.
    #[error("{format} input exceeds a limit: {kind}")]
    Limits {
        /// The input's format (`None` when the size check came first).
        format: FormatName,
        /// Which limit, with the value found and the limit.
        kind: LimitKind,
    },
    /// An output format or operation that mogr does not produce.
    #[error("unsupported {what}")]
    Unsupported {
        /// What is unsupported, e.g. `output format tpg`.
        what: String,
    },
    /// The input could not be decoded: unknown format, corrupt, truncated or empty.
    #[error("cannot decode {format} input: {message}")]
    Decode {
        /// The input's format, when it was recognised.
        format: FormatName,
        /// What was wrong, for a person.
        message: String,
        /// The decoder's own error, when there is one.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// The work was stopped before it finished: the caller's deadline passed, or its
    /// cancellation flag was raised (see [`crate::Stop`]).
    #[error("stopped: {reason}")]
    Stopped {
        /// `deadline passed` or `cancelled`.
        reason: &'static str,
    },
    /// The encoder failed.
    #[error("cannot encode {format}: {message}")]
    Encode {
        /// The output format.
        format: FormatName,
        /// What went wrong.
        message: String,
        /// The encoder's own error.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

impl Error {
    /// Whether `ignore-error/1` covers this error: limits, out-of-range values and an
    /// unsupported output format (syntax errors and undecodable input are not covered).
    pub fn is_ignorable(&self) -> bool {
        match self {
            Error::Rule(e) => e.is_out_of_range(),
            Error::Limits { .. } | Error::Unsupported { .. } => true,
            _ => false,
        }
    }

    pub(crate) fn decode(format: ImageFormat, message: impl Into<String>) -> Error {
        Error::Decode {
            format: FormatName(Some(format)),
            message: message.into(),
            source: None,
        }
    }

    pub(crate) fn decode_with<E>(
        format: ImageFormat,
        message: impl Into<String>,
        source: E,
    ) -> Error
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        Error::Decode {
            format: FormatName(Some(format)),
            message: message.into(),
            source: Some(Box::new(source)),
        }
    }

    pub(crate) fn encode_with<E>(
        format: ImageFormat,
        message: impl Into<String>,
        source: E,
    ) -> Error
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        Error::Encode {
            format: FormatName(Some(format)),
            message: message.into(),
            source: Some(Box::new(source)),
        }
    }
}

/// An optional format, displayed as its name or `unknown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FormatName(pub Option<ImageFormat>);

impl std::fmt::Display for FormatName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(format) => f.write_str(format.name()),
            None => f.write_str("unknown"),
        }
    }
}

/// Which limit an input exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LimitKind {
    /// Input size in bytes.
    #[error("input is {found} bytes, the limit is {limit}")]
    InputBytes {
        /// Bytes found.
        found: u64,
        /// The limit.
        limit: u64,
    },
    /// Width or height in pixels.
    #[error("a side is {found} pixels, the limit is {limit}")]
    Side {
        /// Longest side found.
        found: u64,
        /// The limit.
        limit: u64,
    },
    /// Width x height x frames.
    #[error("{found} pixels in all frames, the limit is {limit}")]
    Pixels {
        /// Pixels found.
        found: u64,
        /// The limit.
        limit: u64,
    },
    /// Scans of a progressive JPEG.
    #[error("{found} or more progressive scans, the limit is {limit}")]
    Scans {
        /// Scans counted (counting stops just past the limit).
        found: u64,
        /// The limit.
        limit: u64,
    },
    /// Estimated peak memory of a stage, in bytes ([`crate::Limits::max_memory_bytes`]).
    #[error("processing needs an estimated {found} bytes of memory, the budget is {limit}")]
    Memory {
        /// Bytes estimated from the header.
        found: u64,
        /// The budget.
        limit: u64,
    },
    /// Frames of an animation.
    #[error("{found} frames, the limit is {limit}")]
    Frames {
        /// Frames found.
        found: u64,
        /// The limit.
        limit: u64,
    },
}
