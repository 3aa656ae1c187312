//! The one error type of mogr: what went wrong, in terms a caller can act on.

use crate::format::ImageFormat;

/// Everything that can go wrong while processing an image.
///
/// Variants a caller can act on: a bad rule ([`Error::Rule`]), an input over a configured
/// limit ([`Error::Limits`], HTTP 413 in a service), an output format or operation mogr cannot
/// produce ([`Error::Unsupported`]), an input that cannot be decoded ([`Error::Decode`]) and an
/// encoder failure ([`Error::Encode`]).
///
/// [`Error::kind`] classes it for a service (HTTP status) or a script (exit code), and
/// [`Error::is_ignorable`] says whether `ignore-error/1` turns it into a returned input.
///
/// ```
/// use mogr_core::{Error, ErrorKind, LimitKind};
/// let limits = mogr_core::Limits::default().with_max_input_bytes(4);
/// let err = mogr_core::probe(b"GIF89a....", &limits).unwrap_err();
/// assert!(matches!(err, Error::Limits { kind: LimitKind::InputBytes { found: 10, limit: 4 }, .. }));
/// assert_eq!(err.kind(), ErrorKind::TooLarge);
/// assert!(err.is_ignorable());
/// assert_eq!(err.to_string(), "unknown input exceeds a limit: input is 10 bytes, the limit is 4");
/// ```
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
    /// The format's codec is not compiled into this build: a cargo feature of mogr is off
    /// (HEIF and AVIF need `heif`). [`ImageFormat::can_decode`] and
    /// [`ImageFormat::can_encode`] tell beforehand. `ignore-error/1` covers it, as it
    /// covers an unsupported output format.
    #[error("{} support is not compiled in (feature `{feature}` of mogr)", .format.name().to_ascii_uppercase())]
    NotCompiled {
        /// The format asked for (to decode or to encode).
        format: ImageFormat,
        /// The cargo feature that brings it.
        feature: &'static str,
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
        /// Why: the deadline passed, or the work was cancelled.
        reason: StopReason,
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
    /// The class of this error, from which every outward code comes: the HTTP status
    /// ([`ErrorKind::http_status`]), the CLI's exit code ([`ErrorKind::exit_code`]) and the
    /// `UploadResult` code ([`ErrorKind::service_code`]).
    ///
    /// ```
    /// use mogr_core::{Error, ErrorKind, StopReason};
    /// let e = Error::Stopped { reason: StopReason::DeadlinePassed };
    /// assert_eq!(e.kind(), ErrorKind::Stopped);
    /// assert_eq!((e.kind().http_status(), e.kind().exit_code()), (503, 1));
    /// ```
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Rule(_) => ErrorKind::InvalidRule,
            Error::Limits { .. } => ErrorKind::TooLarge,
            Error::Unsupported { .. } | Error::NotCompiled { .. } => ErrorKind::Unsupported,
            Error::Decode { .. } => ErrorKind::InvalidImage,
            Error::Stopped { .. } => ErrorKind::Stopped,
            Error::Encode { .. } => ErrorKind::EncodeFailed,
        }
    }

    /// Whether `ignore-error/1` covers this error: limits, out-of-range values and an
    /// unsupported output format (syntax errors and undecodable input are not covered).
    pub fn is_ignorable(&self) -> bool {
        match self {
            Error::Rule(e) => e.is_out_of_range(),
            Error::Limits { .. } | Error::Unsupported { .. } | Error::NotCompiled { .. } => true,
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

/// Why work stopped early ([`Error::Stopped`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum StopReason {
    /// The deadline passed.
    #[error("deadline passed")]
    DeadlinePassed,
    /// The cancellation flag was raised.
    #[error("cancelled")]
    Cancelled,
}

/// The class of an [`Error`] (see [`Error::kind`]): the one place that maps errors to the
/// codes a service or a script reports.
///
/// | kind | HTTP | exit | `UploadResult` code |
/// | --- | --- | --- | --- |
/// | `InvalidRule` | 400 | 2 | `InvalidArgument` |
/// | `TooLarge` | 413 | 1 | `ImageTooLarge` |
/// | `Unsupported` | 400 | 1 | `UnsupportedFormat` |
/// | `InvalidImage` | 415 | 1 | `InvalidImage` |
/// | `Stopped` | 503 | 1 | `ProcessFailed` |
/// | `EncodeFailed` | 500 | 1 | `ProcessFailed` |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A malformed rule or an out-of-range value ([`Error::Rule`]).
    InvalidRule,
    /// An input over a limit ([`Error::Limits`]).
    TooLarge,
    /// An output format or operation this build does not produce ([`Error::Unsupported`],
    /// [`Error::NotCompiled`]).
    Unsupported,
    /// An input that cannot be decoded ([`Error::Decode`]).
    InvalidImage,
    /// The deadline passed or the work was cancelled ([`Error::Stopped`]).
    Stopped,
    /// An encoder failed ([`Error::Encode`]).
    EncodeFailed,
}

impl ErrorKind {
    /// The HTTP status a service answers with (see the table above).
    pub fn http_status(self) -> u16 {
        match self {
            ErrorKind::InvalidRule | ErrorKind::Unsupported => 400,
            ErrorKind::TooLarge => 413,
            ErrorKind::InvalidImage => 415,
            ErrorKind::Stopped => 503,
            ErrorKind::EncodeFailed => 500,
        }
    }

    /// The exit code of the `mogr` CLI: 2 for a bad rule (as for bad usage), else 1.
    pub fn exit_code(self) -> u8 {
        match self {
            ErrorKind::InvalidRule => 2,
            _ => 1,
        }
    }

    /// The `Code` of a failed object in the service's `UploadResult`.
    pub fn service_code(self) -> ServiceCode {
        match self {
            ErrorKind::InvalidRule => ServiceCode::InvalidArgument,
            ErrorKind::TooLarge => ServiceCode::ImageTooLarge,
            ErrorKind::Unsupported => ServiceCode::UnsupportedFormat,
            ErrorKind::InvalidImage => ServiceCode::InvalidImage,
            ErrorKind::Stopped | ErrorKind::EncodeFailed => ServiceCode::ProcessFailed,
        }
    }
}

/// A failure code of the service's `UploadResult` (persistent processing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ServiceCode {
    /// A bad rule, fileid or style.
    InvalidArgument,
    /// The image is over a limit.
    ImageTooLarge,
    /// The output format is not produced.
    UnsupportedFormat,
    /// The image cannot be decoded.
    InvalidImage,
    /// Anything else: an encoder failed, the work was stopped, a result was not stored.
    ProcessFailed,
}

impl ServiceCode {
    /// The code as the service writes it, e.g. `ImageTooLarge`.
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceCode::InvalidArgument => "InvalidArgument",
            ServiceCode::ImageTooLarge => "ImageTooLarge",
            ServiceCode::UnsupportedFormat => "UnsupportedFormat",
            ServiceCode::InvalidImage => "InvalidImage",
            ServiceCode::ProcessFailed => "ProcessFailed",
        }
    }
}

impl std::fmt::Display for ServiceCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_mapping_gives_every_outward_code() {
        let rule = Error::Rule(mogr_parse::parse("imageMogr2/qualty/5").unwrap_err());
        let limits = Error::Limits {
            format: FormatName(None),
            kind: LimitKind::Frames {
                found: 400,
                limit: 300,
            },
        };
        let unsupported = Error::Unsupported {
            what: "output format tpg".into(),
        };
        let not_compiled = Error::NotCompiled {
            format: ImageFormat::Avif,
            feature: "heif",
        };
        let decode = Error::decode(ImageFormat::Png, "truncated");
        let stopped = Error::Stopped {
            reason: StopReason::Cancelled,
        };
        let encode = Error::Encode {
            format: FormatName(Some(ImageFormat::Webp)),
            message: "libwebp".into(),
            source: None,
        };
        let table = [
            (rule, 400, 2, "InvalidArgument"),
            (limits, 413, 1, "ImageTooLarge"),
            (unsupported, 400, 1, "UnsupportedFormat"),
            (not_compiled, 400, 1, "UnsupportedFormat"),
            (decode, 415, 1, "InvalidImage"),
            (stopped, 503, 1, "ProcessFailed"),
            (encode, 500, 1, "ProcessFailed"),
        ];
        for (e, status, exit, code) in table {
            let k = e.kind();
            assert_eq!(
                (k.http_status(), k.exit_code(), k.service_code().as_str()),
                (status, exit, code),
                "{e}"
            );
        }
    }
}
