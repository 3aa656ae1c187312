//! Stopping long work: a deadline and a cancellation flag, checked between units of work.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{Error, StopReason};

/// When to stop: a deadline, flags another thread can raise, both, or neither (the
/// default). Checked between stages of a rule and between the encodes of an `imageSlim`
/// search; a single encode runs to its end.
///
/// ```
/// use std::sync::{atomic::{AtomicBool, Ordering}, Arc};
/// use std::time::Duration;
/// let client_gone = Arc::new(AtomicBool::new(false));
/// let stop = mogr_core::Stop::never().after(Duration::from_secs(5)).when(client_gone.clone());
/// assert!(stop.check().is_ok());
/// client_gone.store(true, Ordering::Relaxed);
/// assert!(stop.check().is_err());
/// ```
#[derive(Debug, Clone, Default)]
pub struct Stop {
    deadline: Option<Instant>,
    flags: Vec<Arc<AtomicBool>>,
}

impl Stop {
    /// Never stops.
    pub fn never() -> Stop {
        Stop::default()
    }

    /// Also stops once `deadline` has passed (the earlier deadline wins).
    #[must_use]
    pub fn at(mut self, deadline: Instant) -> Stop {
        self.deadline = Some(self.deadline.map_or(deadline, |d| d.min(deadline)));
        self
    }

    /// Also stops once `limit` has passed from now. A limit too far to represent (such as
    /// `Duration::MAX`) sets no deadline.
    #[must_use]
    pub fn after(self, limit: Duration) -> Stop {
        match Instant::now().checked_add(limit) {
            Some(deadline) => self.at(deadline),
            None => self,
        }
    }

    /// Also stops once `flag` is set.
    #[must_use]
    pub fn when(mut self, flag: Arc<AtomicBool>) -> Stop {
        self.flags.push(flag);
        self
    }

    /// Stops when either stops: the earlier deadline and every flag of both.
    #[must_use]
    pub fn and(mut self, other: &Stop) -> Stop {
        if let Some(d) = other.deadline {
            self = self.at(d);
        }
        self.flags.extend(other.flags.iter().cloned());
        self
    }

    /// The time left before the deadline (zero once it passed); `None` without a deadline.
    /// For a codec library that takes a time limit of its own (oxipng's `timeout`).
    pub fn remaining(&self) -> Option<Duration> {
        self.deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
    }

    /// `Err(Error::Stopped)` when it is time to stop.
    pub fn check(&self) -> Result<(), Error> {
        if self.flags.iter().any(|f| f.load(Ordering::Relaxed)) {
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
        assert!(Stop::never().after(Duration::MAX).check().is_ok());
        let both = Stop::never()
            .after(Duration::from_secs(3600))
            .and(&Stop::never().when(flag.clone()));
        assert!(both.check().is_err(), "the other's flag is set");
        let past = Stop::never().at(Instant::now());
        assert!(matches!(
            past.check(),
            Err(Error::Stopped {
                reason: StopReason::DeadlinePassed
            })
        ));
    }
}
