//! The `imageMogr2` rule language: rule string to typed AST, with byte-offset errors.
//!
//! `mogr-parse` knows nothing of pixels. It turns a rule such as
//! `imageMogr2/format/webp/quality/75!/interlace/1|imageSlim` into a [`Pipeline`] in two
//! layers:
//!
//! 1. [`parse`] checks the *syntax*: stage and parameter names, the shape of every value,
//!    repeated and conflicting parameters, empty stages, at most [`MAX_STAGES`] stages, at most
//!    [`MAX_RULE_LEN`] bytes. A well-formed number outside its range is still recorded, so a
//!    caller can tell that `imageMogr2/quality/150/ignore-error/1` carries `ignore-error`.
//! 2. [`Pipeline::validate`] checks *ranges* (`quality` 0..=100, `cgif` 1..=100, ...). Its
//!    errors are the only rule errors that `ignore-error/1` covers.
//!
//! [`parse_validated`] does both. A rule copied from a download URL is accepted as is: with or
//! without a leading `?`, with percent escapes (`%21`, `%7C`, `%2F`, ...) and with other
//! `&`-separated `key=value` parameters (such as `q-sign-algorithm=...`), which are ignored.
//! Error offsets always point into the string the caller passed.
//!
//! The AST's `Display` prints the canonical rule, and `parse(&ast.to_string()) == Ok(ast)`
//! for every AST.
//!
//! ```
//! use mogr_parse::{parse, parse_validated, Format, Quality, Stage};
//!
//! let rule = parse_validated("?q-sign-algorithm=sha1&imageMogr2/quality/75%21/format/WEBP/").unwrap();
//! let Stage::Mogr(params) = &rule.stages[0] else { unreachable!() };
//! assert_eq!(params.format, Some(Format::Webp));
//! assert!(matches!(params.quality, Some(Quality::Absolute { force: true, .. })));
//! assert_eq!(rule.to_string(), "imageMogr2/format/webp/quality/75!");
//!
//! // Out of range is a validation error, reported with its byte offset.
//! let rule = parse("imageMogr2/quality/150/ignore-error/1").unwrap();
//! assert!(rule.ignores_errors());
//! let err = rule.validate().unwrap_err();
//! assert_eq!(err.to_string(), "invalid rule at byte 19: quality must be 0..=100, found 150");
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod ast;
mod error;
mod grammar;

pub use ast::{Format, MogrParams, Pipeline, Quality, Stage, Value};
pub use error::{ErrorKind, ParseError, Printable};

/// Longest rule string accepted, in bytes.
pub const MAX_RULE_LEN: usize = 4096;

/// Most stages a pipeline may have.
pub const MAX_STAGES: usize = 10;

/// Stage keywords, used to recognise a rule written as a URL parameter key (`imageSlim=`).
const STAGE_KEYWORDS: [&str; 3] = ["imageMogr2", "imageSlim", "imageInfo"];

/// Parses the syntax of a rule (see the crate docs); ranges are checked by
/// [`Pipeline::validate`].
pub fn parse(input: &str) -> Result<Pipeline, ParseError> {
    if input.len() > MAX_RULE_LEN {
        return Err(ParseError::new(0, ErrorKind::TooLong { len: input.len() }));
    }
    let (start, part) = rule_part(input)?;
    let (decoded, map) = percent_decode(part, start);
    let at = |i: usize| map[i];
    grammar::parse_pipeline(&decoded, &at)
}

/// Parses a rule and validates its ranges: [`parse`] then [`Pipeline::validate`].
pub fn parse_validated(input: &str) -> Result<Pipeline, ParseError> {
    let pipeline = parse(input)?;
    pipeline.validate()?;
    Ok(pipeline)
}

impl std::str::FromStr for Pipeline {
    type Err = ParseError;

    /// Same as [`parse_validated`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_validated(s)
    }
}

impl Pipeline {
    /// Checks every value against its range, reporting the first one outside it.
    ///
    /// Ranges: `quality`, `rquality`, `lquality` 0..=100; `cgif` 1..=100; `interlace` 0..=1;
    /// `ignore-error` 1.
    pub fn validate(&self) -> Result<(), ParseError> {
        for stage in &self.stages {
            if let Stage::Mogr(p) = stage {
                p.validate()?;
            }
        }
        Ok(())
    }
}

impl MogrParams {
    /// Checks this stage's values against their ranges (see [`Pipeline::validate`]).
    pub fn validate(&self) -> Result<(), ParseError> {
        let (qname, qvalue) = match self.quality {
            Some(Quality::Absolute { value, .. }) => ("quality", Some(value)),
            Some(Quality::Relative(value)) => ("rquality", Some(value)),
            None => ("quality", None),
        };
        let checks = [
            (qname, qvalue, 0, 100),
            ("lquality", self.lquality, 0, 100),
            ("cgif", self.cgif, 1, 100),
            ("interlace", self.interlace, 0, 1),
            ("ignore-error", self.ignore_error, 1, 1),
        ];
        // Report the value that comes first in the string.
        let mut worst: Option<ParseError> = None;
        for (name, value, min, max) in checks {
            let Some(v) = value else { continue };
            if (min..=max).contains(&v.value) {
                continue;
            }
            if worst.as_ref().is_some_and(|w| w.offset <= v.offset) {
                continue;
            }
            let kind = ErrorKind::OutOfRange {
                name,
                found: v.value,
                min,
                max,
            };
            worst = Some(ParseError::new(v.offset, kind));
        }
        worst.map_or(Ok(()), Err)
    }
}

/// Finds the one part of `input` that is a rule; returns its offset and text.
///
/// Leading and trailing whitespace is trimmed and one leading `?` removed. Of the rest's
/// `&`-separated parts, `key=value` parts are URL parameters and ignored, except a key that is
/// itself a rule with an empty value (`imageMogr2/quality/60=`, the form used to sign
/// processing parameters). Exactly one part must remain.
fn rule_part(input: &str) -> Result<(usize, &str), ParseError> {
    let trimmed_start = input.trim_start();
    let mut start = input.len() - trimmed_start.len();
    let mut s = trimmed_start.trim_end();
    if let Some(rest) = s.strip_prefix('?') {
        s = rest;
        start += 1;
    }
    let mut found: Option<(usize, &str)> = None;
    let mut offset = start;
    for part in s.split('&') {
        let here = offset;
        offset += part.len() + 1;
        let names_stage = |key: &str| STAGE_KEYWORDS.iter().any(|k| key.starts_with(k));
        let candidate = match part.split_once('=') {
            None if part.is_empty() => None,
            None => Some(part),
            // A rule used as a signed parameter's key, with an empty value.
            Some((key, "")) if names_stage(key) => Some(key),
            // A rule with a stray `=`: parse it whole so the error points at the `=`.
            Some((key, _)) if names_stage(key) => Some(part),
            Some(_) => None,
        };
        if let Some(text) = candidate {
            if found.is_some() {
                return Err(ParseError::new(here, ErrorKind::MultipleRules));
            }
            found = Some((here, text));
        }
    }
    found.ok_or_else(|| ParseError::new(start, ErrorKind::NoRule))
}

/// Decodes `%XX` escapes that stand for ASCII characters; any other `%` is kept as is (and
/// becomes a syntax error where it stands). Returns the decoded text and, for each decoded
/// byte (and one past the end), its offset in the original string.
fn percent_decode(part: &str, start: usize) -> (String, Vec<usize>) {
    let bytes = part.as_bytes();
    let mut out = String::with_capacity(part.len());
    let mut map = Vec::with_capacity(part.len() + 1);
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| part.get(i + 1..i + 3))
            .flatten()
            .filter(|hex| hex.bytes().all(|b| b.is_ascii_hexdigit()))
            .and_then(|hex| u8::from_str_radix(hex, 16).ok())
            .filter(u8::is_ascii);
        let char_len = part[i..].chars().next().map_or(1, char::len_utf8);
        match escaped {
            Some(b) => {
                out.push(char::from(b));
                map.push(start + i);
                i += 3;
            }
            None => {
                out.push_str(&part[i..i + char_len]);
                map.extend((0..char_len).map(|k| start + i + k));
                i += char_len;
            }
        }
    }
    map.push(start + bytes.len());
    (out, map)
}
