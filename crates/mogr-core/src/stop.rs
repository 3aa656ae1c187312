//! Stopping long work: a deadline and a cancellation flag, checked between units of work.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::error::{Error, StopReason};

/// When to stop: a deadline, a flag another thread can raise, both, or neither (the
/// default). Checked between stages of a rule and between the encodes of an `imageSlim`
/// search; a single encode runs to its end.
#[derive(Debug, Clone, Default)]
pub struct Stop {
    deadline: Option<Instant>,
    flag: Option<Arc<AtomicBool>>,
}

impl Stop {
    /// Never stops.
    pub fn never() -> Stop {
        Stop::default()
    }

    /// Stops once `deadline` has passed.
    pub fn at(mut self, deadline: Instant) -> Stop {
        self.deadline = Some(deadline);
        self
    }

    /// Stops once `flag` is set.
    pub fn when(mut self, flag: Arc<AtomicBool>) -> Stop {
        self.flag = Some(flag);
        self
    }

    /// `Err(Error::Stopped)` when it is time to stop.
    pub fn check(&self) -> Result<(), Error> {
        if self
            .flag
            .as_ref()
            .is_some_and(|f| f.load(Ordering::Relaxed))
        {
            return Err(Error::Stopped {
                reason: StopReason::Cancelled,
            });
        }
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(Error::Stopped {
                reason: StopReason::DeadlinePassed,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stops_on_the_flag_and_the_deadline() {
        assert!(Stop::never().check().is_ok());
        let flag = Arc::new(AtomicBool::new(false));
        let s = Stop::never().when(flag.clone());
        assert!(s.check().is_ok());
        flag.store(true, Ordering::Relaxed);
        assert!(matches!(
            s.check(),
            Err(Error::Stopped {
                reason: StopReason::Cancelled
            })
        ));
        let past = Stop::never().at(Instant::now());
        assert!(matches!(
            past.check(),
            Err(Error::Stopped {
                reason: StopReason::DeadlinePassed
            })
        ));
    }
}
