//! Which frames of an animation a stage keeps: the one home of the `cgif` policy. Decided
//! from the header's frame count before any frame is decoded ([`FramePick`]), applied while
//! decoding ([`crate::decode::decode_frames`]) or to frames already composed
//! ([`pick_frames`]).

use crate::format::ImageFormat;
use crate::pixels::Frame;

/// Which frames of an animation a stage keeps, decided from the header's frame count before
/// any frame is decoded, so that frames a stage drops are never held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FramePick {
    /// Every frame (up to the frame limit).
    All,
    /// The first `n` frames (at least one).
    First(usize),
    /// `n` frames of `total`: those at `floor(i * total / n)` for i in 0..n, each shown for
    /// its own delay plus the delays of the dropped frames after it (`cgif`).
    Spaced {
        /// Frames kept.
        n: usize,
        /// Frames in the animation.
        total: usize,
    },
}

impl FramePick {
    /// The frames a stage writing `target` holds: for `cgif/n` (`cgif`, only when the
    /// output is GIF) the frames [`FramePick::cgif`] selects, every frame for an animated
    /// output (GIF, WebP), the first frame for a still format.
    pub fn for_output(target: ImageFormat, cgif: Option<usize>, frames: u32) -> FramePick {
        match (target, cgif) {
            (ImageFormat::Gif, Some(n)) => FramePick::cgif(n, frames as usize),
            (ImageFormat::Gif | ImageFormat::Webp, None) => FramePick::All,
            _ => FramePick::First(1),
        }
    }

    /// `cgif/n` on an animation of `total` frames: `n == 1` keeps the first 30 frames, as
    /// the service documents; `n` in 2..=100 keeps `n` evenly spaced frames with the total
    /// duration unchanged; an animation with no more than `n` frames keeps them all.
    pub fn cgif(n: usize, total: usize) -> FramePick {
        match n {
            1 => FramePick::First(30),
            _ if n == 0 || total <= n => FramePick::All,
            _ => FramePick::Spaced { n, total },
        }
    }

    /// How many frames of an animation of `total` this pick keeps.
    pub fn count(&self, total: usize) -> usize {
        match *self {
            FramePick::All => total,
            FramePick::First(n) => total.min(n.max(1)),
            FramePick::Spaced { n, total: t } => n.min(t).min(total),
        }
    }

    pub(crate) fn capacity(&self) -> usize {
        match *self {
            FramePick::All => 0,
            FramePick::First(n) | FramePick::Spaced { n, .. } => n.clamp(1, 128),
        }
    }

    /// Whether frame `idx` is kept.
    pub fn keeps(&self, idx: usize) -> bool {
        match *self {
            FramePick::All => true,
            FramePick::First(n) => idx < n.max(1),
            FramePick::Spaced { n, total } => {
                // The smallest i with floor(i * total / n) >= idx.
                let i = (idx * n).div_ceil(total);
                i < n && i * total / n == idx
            }
        }
    }

    /// Whether no frame from `idx` on is needed (not even for its delay).
    pub(crate) fn done(&self, idx: usize) -> bool {
        matches!(*self, FramePick::First(n) if idx >= n.max(1))
    }
}

/// `cgif` frame selection on frames already composed (`F` of them); see
/// [`FramePick::cgif`]. [`decode`](crate::decode()) does the same while decoding, without holding the
/// dropped frames.
pub fn select_frames(frames: Vec<Frame>, n: usize) -> Vec<Frame> {
    let pick = FramePick::cgif(n, frames.len());
    pick_frames(frames, pick)
}

/// The frames `pick` keeps from frames already composed, delays summed as
/// [`decode`](crate::decode()) does.
pub fn pick_frames(frames: Vec<Frame>, pick: FramePick) -> Vec<Frame> {
    let mut out: Vec<Frame> = Vec::with_capacity(pick.count(frames.len()));
    for (idx, frame) in frames.into_iter().enumerate() {
        if pick.keeps(idx) {
            out.push(frame);
        } else if !pick.done(idx) {
            if let Some(last) = out.last_mut() {
                last.delay_ms += frame.delay_ms;
            }
        }
    }
    out
}
