//! The nom grammar: a (decoded) rule string to a [`Pipeline`], syntax only.
//!
//! Positions are tracked as byte indices into the decoded string and mapped back to the
//! original string by the caller's offset map.

use nom::bytes::complete::{take_while, take_while1};
use nom::character::complete::{char, digit1};
use nom::combinator::{all_consuming, opt};
use nom::{IResult, Parser};

use crate::ast::{Format, MogrParams, Pipeline, Quality, Stage, Value};
use crate::error::{ErrorKind, ParseError};
use crate::MAX_STAGES;

/// A name: stage keywords and parameter names (`imageMogr2`, `ignore-error`).
fn name(i: &str) -> IResult<&str, &str> {
    take_while1(|c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_').parse(i)
}

/// Everything up to the next `/` or `|`: the token of one value.
fn value_token(i: &str) -> IResult<&str, &str> {
    take_while(|c: char| c != '/' && c != '|').parse(i)
}

/// A digit run as a saturating number: bounded, never panics.
fn number(i: &str) -> IResult<&str, u64> {
    digit1
        .map(|d: &str| {
            d.bytes().fold(0u64, |acc, b| {
                acc.saturating_mul(10).saturating_add(u64::from(b - b'0'))
            })
        })
        .parse(i)
}

/// `<digits>` with an optional `!`.
fn quality_value(i: &str) -> IResult<&str, (u64, bool)> {
    all_consuming((number, opt(char('!')).map(|o| o.is_some()))).parse(i)
}

/// `<digits>`, nothing else.
fn plain_value(i: &str) -> IResult<&str, u64> {
    all_consuming(number).parse(i)
}

/// A format name made of ASCII letters.
fn format_value(i: &str) -> IResult<&str, &str> {
    all_consuming(take_while1(|c: char| c.is_ascii_alphanumeric())).parse(i)
}

/// The parameters of `imageMogr2`, in the order the canonical form prints them.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Param {
    Format,
    Quality,
    Rquality,
    Lquality,
    Cgif,
    Interlace,
    IgnoreError,
}

impl Param {
    fn from_name(name: &str) -> Option<Param> {
        Some(match name {
            "format" => Param::Format,
            "quality" => Param::Quality,
            "rquality" => Param::Rquality,
            "lquality" => Param::Lquality,
            "cgif" => Param::Cgif,
            "interlace" => Param::Interlace,
            "ignore-error" => Param::IgnoreError,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Param::Format => "format",
            Param::Quality => "quality",
            Param::Rquality => "rquality",
            Param::Lquality => "lquality",
            Param::Cgif => "cgif",
            Param::Interlace => "interlace",
            Param::IgnoreError => "ignore-error",
        }
    }
}

/// Parses the decoded rule `src`; `at` maps a decoded index to an original offset.
pub(crate) fn parse_pipeline(
    src: &str,
    at: &dyn Fn(usize) -> usize,
) -> Result<Pipeline, ParseError> {
    let mut p = Cursor { src, at };
    p.pipeline()
}

struct Cursor<'a> {
    src: &'a str,
    at: &'a dyn Fn(usize) -> usize,
}

impl<'a> Cursor<'a> {
    fn pos(&self, rest: &str) -> usize {
        self.src.len() - rest.len()
    }

    fn err(&self, rest: &str, kind: ErrorKind) -> ParseError {
        ParseError::new((self.at)(self.pos(rest)), kind)
    }

    fn unexpected(&self, rest: &str, expected: &'static str) -> ParseError {
        let found = rest.chars().next().map(String::from).unwrap_or_default();
        self.err(rest, ErrorKind::Unexpected { found, expected })
    }

    fn pipeline(&mut self) -> Result<Pipeline, ParseError> {
        let mut stages = Vec::new();
        let mut rest = self.src;
        loop {
            if stages.len() == MAX_STAGES {
                return Err(self.err(rest, ErrorKind::TooManyStages { max: MAX_STAGES }));
            }
            let (after, stage) = self.stage(rest)?;
            if stage == Stage::Info && after.starts_with('|') {
                return Err(self.err(rest, ErrorKind::InfoNotLast));
            }
            stages.push(stage);
            match after.strip_prefix('|') {
                Some(next) => rest = next,
                None if after.is_empty() => return Ok(Pipeline { stages }),
                None => return Err(self.unexpected(after, "`|`, `/` or the end of the rule")),
            }
        }
    }

    fn stage(&self, rest: &'a str) -> Result<(&'a str, Stage), ParseError> {
        if rest.is_empty() || rest.starts_with('|') {
            return Err(self.err(rest, ErrorKind::EmptyStage));
        }
        let Ok((after, keyword)) = name(rest) else {
            return Err(self.unexpected(rest, "imageMogr2, imageSlim or imageInfo"));
        };
        match keyword {
            "imageMogr2" => self.mogr_params(after).map(|(r, p)| (r, Stage::Mogr(p))),
            "imageSlim" => Ok((self.trailing_slash(after), Stage::Slim)),
            "imageInfo" => Ok((self.trailing_slash(after), Stage::Info)),
            other => Err(self.err(
                rest,
                ErrorKind::UnknownStage {
                    found: other.to_string(),
                },
            )),
        }
    }

    /// Accepts one `/` that ends a stage.
    fn trailing_slash(&self, rest: &'a str) -> &'a str {
        match rest.strip_prefix('/') {
            Some(r) if r.is_empty() || r.starts_with('|') => r,
            _ => rest,
        }
    }

    fn mogr_params(&self, mut rest: &'a str) -> Result<(&'a str, MogrParams), ParseError> {
        let mut params = MogrParams::default();
        let mut seen: Vec<Param> = Vec::new();
        loop {
            if rest.is_empty() || rest.starts_with('|') {
                return Ok((rest, params));
            }
            let Some(after_slash) = rest.strip_prefix('/') else {
                return Err(self.unexpected(rest, "`/`, `|` or the end of the rule"));
            };
            if after_slash.is_empty() || after_slash.starts_with('|') {
                // One trailing `/` after the last value.
                return Ok((after_slash, params));
            }
            let (after_name, key) = name(after_slash).unwrap_or((after_slash, ""));
            let param = Param::from_name(key);
            let ends_name = after_name.is_empty() || after_name.starts_with(['/', '|']);
            let Some(param) = param.filter(|_| ends_name) else {
                if key.is_empty() && after_slash.starts_with('/') {
                    return Err(self.unexpected(after_slash, "an imageMogr2 parameter name"));
                }
                if param.is_some() {
                    return Err(self.unexpected(after_name, "`/` and a value"));
                }
                let (_, whole) = value_token(after_slash).unwrap_or((after_slash, key));
                return Err(self.err(
                    after_slash,
                    ErrorKind::UnknownParameter {
                        found: whole.to_string(),
                    },
                ));
            };
            if seen.contains(&param) {
                return Err(self.err(
                    after_slash,
                    ErrorKind::RepeatedParameter { name: param.name() },
                ));
            }
            let conflict = match param {
                Param::Quality => Some(Param::Rquality),
                Param::Rquality => Some(Param::Quality),
                _ => None,
            };
            if let Some(other) = conflict.filter(|o| seen.contains(o)) {
                return Err(self.err(
                    after_slash,
                    ErrorKind::ConflictingParameters {
                        name: param.name(),
                        other: other.name(),
                    },
                ));
            }
            seen.push(param);
            let Some(value_start) = after_name.strip_prefix('/') else {
                return Err(self.err(after_name, ErrorKind::MissingValue { name: param.name() }));
            };
            let (after_value, token) =
                value_token(value_start).unwrap_or((value_start, &value_start[..0]));
            if token.is_empty() {
                return Err(self.err(value_start, ErrorKind::MissingValue { name: param.name() }));
            }
            self.set_param(&mut params, param, token, value_start)?;
            rest = after_value;
        }
    }

    fn set_param(
        &self,
        params: &mut MogrParams,
        param: Param,
        token: &str,
        at: &str,
    ) -> Result<(), ParseError> {
        let value = |v: u64| Value {
            value: v,
            offset: (self.at)(self.pos(at)),
        };
        let invalid = |expected: &'static str| {
            self.err(
                at,
                ErrorKind::InvalidValue {
                    name: param.name(),
                    found: token.to_string(),
                    expected,
                },
            )
        };
        match param {
            Param::Format => {
                let Ok((_, fmt_name)) = format_value(token) else {
                    return Err(invalid("a format name"));
                };
                let Some(format) = Format::from_name(fmt_name) else {
                    return Err(self.err(
                        at,
                        ErrorKind::UnknownFormat {
                            found: token.to_string(),
                        },
                    ));
                };
                params.format = Some(format);
            }
            Param::Quality => {
                let Ok((_, (v, force))) = quality_value(token) else {
                    return Err(invalid("a number 0..=100, optionally followed by `!`"));
                };
                params.quality = Some(Quality::Absolute {
                    value: value(v),
                    force,
                });
            }
            _ => {
                let expected = match param {
                    Param::Cgif => "a number 1..=100",
                    Param::Interlace => "0 or 1",
                    Param::IgnoreError => "1",
                    _ => "a number 0..=100",
                };
                let Ok((_, v)) = plain_value(token) else {
                    return Err(invalid(expected));
                };
                let v = Some(value(v));
                match param {
                    Param::Rquality => params.quality = v.map(Quality::Relative),
                    Param::Lquality => params.lquality = v,
                    Param::Cgif => params.cgif = v,
                    Param::Interlace => params.interlace = v,
                    _ => params.ignore_error = v,
                }
            }
        }
        Ok(())
    }
}
