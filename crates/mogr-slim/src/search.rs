//! A bounded search for the lowest setting whose score meets a target.
//!
//! The setting `x` is a number where a higher value means a closer, larger encoding (a
//! quality, or the log of a colour count). Scores rise with `x`, roughly linearly and with
//! some noise. The search steps from a start by the estimated slope, then narrows the bracket
//! between the highest failing and the lowest passing setting by interpolation, and stops when
//! a pass is close enough to the target, the bracket is narrow, or the evaluations run out.

/// One evaluated setting.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// The setting.
    pub x: f32,
    /// Its score.
    pub score: f64,
}

/// Where and how hard a [`Search`] looks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Plan {
    /// The lowest setting tried.
    pub lo: f32,
    /// The highest setting tried.
    pub hi: f32,
    /// The first setting tried (clamped to `lo..=hi`).
    pub start: f32,
    /// Expected score points per unit of the setting (at least 0.05).
    pub slope: f64,
    /// The search stops once the bracket is narrower than this.
    pub x_tolerance: f32,
    /// At most this many evaluations.
    pub max_evals: usize,
}

impl Plan {
    /// A palette-size search: `x` is log2 of the colour count (2..=256 colours), starting
    /// from the most colours, about 8 score points per doubling.
    pub fn palette(max_evals: usize) -> Plan {
        Plan {
            lo: 1.0,
            hi: 8.0,
            start: 8.0,
            slope: 8.0,
            x_tolerance: 0.25,
            max_evals,
        }
    }
}

/// A search in progress: feed it scores, ask it where to look next.
#[derive(Debug, Clone)]
pub struct Search {
    lo: f32,
    hi: f32,
    target: f64,
    start: f32,
    slope: f64,
    x_tolerance: f32,
    max_evals: usize,
    score_tolerance: f64,
    points: Vec<Point>,
}

/// Score within this much above the target counts as landed (the default).
const SCORE_TOLERANCE: f64 = 0.4;
/// The longest step taken from a single side of the bracket, as a share of the range.
const MAX_STEP_SHARE: f32 = 0.15;

impl Search {
    /// A search, following `plan`, for the lowest setting scoring at least `target`.
    pub fn new(plan: Plan, target: f64) -> Search {
        Search {
            lo: plan.lo,
            hi: plan.hi,
            target,
            start: plan.start.clamp(plan.lo, plan.hi),
            slope: plan.slope.max(0.05),
            x_tolerance: plan.x_tolerance,
            max_evals: plan.max_evals,
            score_tolerance: SCORE_TOLERANCE,
            points: Vec::new(),
        }
    }

    /// This search, landing when a pass is within `tolerance` of the target (default 0.4).
    #[must_use]
    pub fn with_score_tolerance(mut self, tolerance: f64) -> Search {
        self.score_tolerance = tolerance.max(0.01);
        self
    }

    /// Records the score of setting `x`.
    pub fn record(&mut self, x: f32, score: f64) {
        self.points.push(Point { x, score });
        self.update_slope();
    }

    /// The points evaluated so far.
    pub fn points(&self) -> &[Point] {
        &self.points
    }

    /// The slope seen so far (score points per unit of `x`).
    pub fn slope(&self) -> f64 {
        self.slope
    }

    /// The lowest setting that passed.
    pub fn best(&self) -> Option<Point> {
        self.points
            .iter()
            .filter(|p| p.score >= self.target)
            .min_by(|a, b| a.x.total_cmp(&b.x))
            .copied()
    }

    fn highest_fail(&self) -> Option<Point> {
        self.points
            .iter()
            // Fails, NaN included.
            .filter(|p| p.score < self.target || p.score.is_nan())
            .max_by(|a, b| a.x.total_cmp(&b.x))
            .copied()
    }

    fn update_slope(&mut self) {
        let n = self.points.len();
        if n < 2 {
            return;
        }
        let (a, b) = (self.points[n - 2], self.points[n - 1]);
        let dx = f64::from(b.x - a.x);
        if dx.abs() > 1e-3 && a.score.is_finite() && b.score.is_finite() {
            let s = (b.score - a.score) / dx;
            if s > 0.0 {
                self.slope = s.clamp(0.05, 20.0);
            }
        }
    }

    fn max_step(&self) -> f32 {
        ((self.hi - self.lo) * MAX_STEP_SHARE).max(self.x_tolerance)
    }

    /// The next setting to evaluate, or `None` when the search is over.
    pub fn next(&self) -> Option<f32> {
        if self.points.is_empty() {
            return Some(self.start);
        }
        if self.points.len() >= self.max_evals {
            return None;
        }
        let (pass, fail) = (self.best(), self.highest_fail());
        let next = match (pass, fail) {
            (Some(p), _) if p.score - self.target <= self.score_tolerance => return None,
            (Some(p), Some(f)) => {
                let width = p.x - f.x;
                if width <= self.x_tolerance {
                    return None;
                }
                // Aim a little above the target, inside the bracket.
                let aim = self.target + self.score_tolerance / 2.0;
                let t = if p.score > f.score && f.score.is_finite() {
                    ((aim - f.score) / (p.score - f.score)) as f32
                } else {
                    0.5
                };
                f.x + width * t.clamp(0.2, 0.8)
            }
            (Some(p), None) => {
                if p.x <= self.lo + 1e-3 {
                    return None;
                }
                let step =
                    ((p.score - self.target - self.score_tolerance / 2.0) / self.slope) as f32;
                p.x - step.clamp(self.x_tolerance, self.max_step())
            }
            (None, Some(f)) => {
                if f.x >= self.hi - 1e-3 {
                    return None;
                }
                let gap = if f.score.is_finite() {
                    self.target - f.score
                } else {
                    10.0
                };
                // Overshooting a little costs bytes; falling short again costs a round.
                let step = ((gap + 2.0 * self.score_tolerance) / self.slope) as f32;
                f.x + step.clamp(self.x_tolerance, self.max_step())
            }
            (None, None) => return None,
        };
        let next = next.clamp(self.lo, self.hi);
        // Never the same point twice.
        if self.points.iter().any(|p| (p.x - next).abs() < 1e-3) {
            return None;
        }
        Some(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(f: impl Fn(f32) -> f64, target: f64) -> (Option<Point>, usize) {
        let plan = Plan {
            lo: 20.0,
            hi: 98.0,
            start: 75.0,
            slope: 0.7,
            x_tolerance: 0.5,
            max_evals: 8,
        };
        let mut s = Search::new(plan, target);
        while let Some(x) = s.next() {
            s.record(x, f(x));
        }
        (s.best(), s.points().len())
    }

    #[test]
    fn lands_near_the_target_on_a_linear_curve() {
        let (best, n) = run(|x| 30.0 + f64::from(x) * 0.65, 80.0);
        let best = best.unwrap();
        assert!(best.score >= 80.0 && best.score < 80.6, "{best:?}");
        assert!(n <= 4, "{n} evaluations");
    }

    #[test]
    fn reports_nothing_when_even_the_top_fails() {
        let (best, n) = run(|_| 50.0, 80.0);
        assert!(best.is_none());
        assert!(n <= 8);
    }

    #[test]
    fn stops_at_the_bottom_when_everything_passes() {
        let (best, _) = run(|_| 95.0, 80.0);
        assert_eq!(best.unwrap().x, 20.0);
    }

    #[test]
    fn bounded_on_a_noisy_curve() {
        let (best, n) = run(
            |x| 20.0 + f64::from(x) * 0.7 + if (x as i32) % 2 == 0 { 1.5 } else { -1.5 },
            80.0,
        );
        assert!(n <= 8);
        assert!(best.unwrap().score >= 80.0);
    }
}
