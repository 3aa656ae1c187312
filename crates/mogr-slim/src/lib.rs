//! Perceptual smart compression (`imageSlim`) for [mogr](https://docs.rs/mogr).
//!
//! `imageSlim` keeps the input's format and returns the smallest encoding that stays visually
//! the same as the input, judged by a perceptual score against a threshold. This crate holds
//! the outcome as the service reports it ([`SlimFlag`], the `X-Slimflag` header) and the rule
//! every search ends with ([`choose`]): the smallest candidate that meets the threshold, and
//! never a file larger than the input.
//!
//! ```
//! use mogr_slim::{choose, Candidate, SlimFlag, DEFAULT_THRESHOLD};
//!
//! let input = vec![0u8; 1000];
//! let candidates = vec![
//!     Candidate { bytes: vec![1; 600], score: 85.0 },
//!     Candidate { bytes: vec![2; 400], score: 70.0 }, // smaller, but looks different
//! ];
//! let pick = choose(&input, candidates, DEFAULT_THRESHOLD);
//! assert_eq!(pick.flag, SlimFlag::Compressed);
//! assert_eq!(pick.bytes.len(), 600);
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

/// Default threshold: a SSIMULACRA2 score of at least 80 counts as visually the same.
pub const DEFAULT_THRESHOLD: f64 = 80.0;

/// The outcome of `imageSlim`, as the service's `X-Slimflag` header reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SlimFlag {
    /// 0: compression failed; the input is returned and the error reported.
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

/// One encoding tried by a search, with its perceptual score against the input.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// The encoded file.
    pub bytes: Vec<u8>,
    /// Its perceptual score against the decoded input (higher is closer).
    pub score: f64,
}

/// What a search settled on.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    /// The output bytes: a candidate, or the input itself.
    pub bytes: Vec<u8>,
    /// The outcome.
    pub flag: SlimFlag,
    /// The chosen candidate's score; `None` when the input is returned.
    pub score: Option<f64>,
}

/// Picks the smallest candidate that scores at least `threshold` and is strictly smaller than
/// `input`; when there is none, returns the input bytes with [`SlimFlag::Original`].
/// A score that is not a number never passes.
pub fn choose(
    input: &[u8],
    candidates: impl IntoIterator<Item = Candidate>,
    threshold: f64,
) -> Choice {
    let best = candidates
        .into_iter()
        .filter(|c| c.score >= threshold && c.bytes.len() < input.len())
        .min_by_key(|c| c.bytes.len());
    match best {
        Some(c) => Choice {
            score: Some(c.score),
            bytes: c.bytes,
            flag: SlimFlag::Compressed,
        },
        None => Choice {
            bytes: input.to_vec(),
            flag: SlimFlag::Original,
            score: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_larger_than_the_input() {
        let input = vec![0u8; 100];
        let c = vec![Candidate {
            bytes: vec![1; 100],
            score: 99.0,
        }];
        let pick = choose(&input, c, DEFAULT_THRESHOLD);
        assert_eq!(pick.flag, SlimFlag::Original);
        assert_eq!(pick.bytes, input);
        assert_eq!(pick.flag.header_value(), 2);
    }

    #[test]
    fn nan_scores_never_pass() {
        let c = vec![Candidate {
            bytes: vec![1; 10],
            score: f64::NAN,
        }];
        assert_eq!(
            choose(&[0; 100], c, DEFAULT_THRESHOLD).flag,
            SlimFlag::Original
        );
    }

    #[test]
    fn smallest_passing_candidate_wins() {
        let c = vec![
            Candidate {
                bytes: vec![1; 50],
                score: 81.0,
            },
            Candidate {
                bytes: vec![2; 30],
                score: 80.0,
            },
            Candidate {
                bytes: vec![3; 10],
                score: 79.9,
            },
        ];
        let pick = choose(&[0; 100], c, DEFAULT_THRESHOLD);
        assert_eq!((pick.bytes.len(), pick.score), (30, Some(80.0)));
        assert_eq!(pick.flag.header_value(), 1);
    }
}
