//! Steps that are not started when they cannot end before the deadline.
//!
//! A search step (a quantization and its score, an oxipng pass) runs in a library that
//! offers no way to stop it part way. Checking the stop before each step bounds the overrun
//! by one step, which is seconds on a large image. [`Pace`] also remembers how long the
//! last step of a kind took, and refuses to start the next one when less time than that is
//! left: the search could not finish before the deadline anyway, and the request gets its
//! [`Error::Stopped`] now instead of one step late.

use std::cell::Cell;
use std::time::{Duration, Instant};

use mogr_core::{Error, Stop, StopReason};

/// The pace of one kind of step.
#[derive(Debug, Default)]
pub(crate) struct Pace {
    last: Cell<Option<Duration>>,
}

impl Pace {
    /// Runs `step` unless it is time to stop or the time left is less than the last step
    /// of this kind took.
    pub(crate) fn step<T>(
        &self,
        stop: &Stop,
        step: impl FnOnce() -> Result<T, Error>,
    ) -> Result<T, Error> {
        stop.check()?;
        if let (Some(last), Some(left)) = (self.last.get(), stop.remaining()) {
            if left < last {
                return Err(Error::Stopped {
                    reason: StopReason::DeadlinePassed,
                });
            }
        }
        let start = Instant::now();
        let out = step();
        self.last.set(Some(start.elapsed()));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_longer_than_the_time_left_is_not_started() {
        let stop = Stop::never().after(Duration::from_millis(1000));
        let pace = Pace::default();
        // The first step has no pace to go by, and takes 600 ms.
        pace.step(&stop, || {
            std::thread::sleep(Duration::from_millis(600));
            Ok(())
        })
        .unwrap();
        // At most 400 ms are left: a step like the last would end past the deadline.
        let mut ran = false;
        let second = pace.step(&stop, || {
            ran = true;
            Ok(())
        });
        assert!(matches!(second, Err(Error::Stopped { .. })));
        assert!(!ran);
        // Without a deadline every step runs.
        let free = Pace::default();
        for _ in 0..3 {
            free.step(&Stop::never(), || Ok(())).unwrap();
        }
    }
}
