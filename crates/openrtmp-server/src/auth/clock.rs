//! The authoriser's time source. The breaker ([`super::breaker`]) and the brute-force
//! counts ([`super::brute`]) are sans-IO and take `now`; this is where `now` comes from:
//! the monotonic clock in the server, a clock the tests move by hand, so that a cooldown or
//! a block ends when a test says so and never because a busy machine was slow.
//!
//! (The HTTP timeout still reads the real clock; the governor limiter inside the
//! brute-force counts runs on the `now` passed in.)

#[cfg(test)]
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Where `now` comes from.
#[derive(Debug, Clone, Default)]
pub(crate) enum Clock {
    /// [`Instant::now`].
    #[default]
    System,
    /// Stands still until [`Clock::advance`].
    #[cfg(test)]
    Manual(Arc<Mutex<Instant>>),
}

impl Clock {
    pub(crate) fn now(&self) -> Instant {
        match self {
            Clock::System => Instant::now(),
            #[cfg(test)]
            Clock::Manual(now) => *now.lock().unwrap_or_else(std::sync::PoisonError::into_inner),
        }
    }

    /// A clock that starts at the real now and moves only when told.
    #[cfg(test)]
    pub(crate) fn manual() -> Clock {
        Clock::Manual(Arc::new(Mutex::new(Instant::now())))
    }

    /// Moves a manual clock (and every clone of it) forward.
    #[cfg(test)]
    pub(crate) fn advance(&self, by: std::time::Duration) {
        match self {
            Clock::System => panic!("the system clock cannot be advanced"),
            Clock::Manual(now) => {
                *now.lock().unwrap_or_else(std::sync::PoisonError::into_inner) += by
            }
        }
    }
}
