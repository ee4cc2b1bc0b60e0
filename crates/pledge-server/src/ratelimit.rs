//! Token buckets keyed by a string (a client address, an e-mail address), in this
//! process's memory: each replica limits on its own, so N replicas allow N times the rate.
//! Time is a parameter (unix seconds), so the buckets are plain arithmetic.

use std::collections::HashMap;
use std::sync::Mutex;

/// A burst and a sustained rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// Calls allowed at once, with a full bucket.
    pub burst: u32,
    /// Calls allowed per hour once the burst is spent.
    pub per_hour: u32,
}

impl Rate {
    pub const fn per_hour(burst: u32, per_hour: u32) -> Self {
        Rate { burst, per_hour }
    }

    fn per_sec(self) -> f64 {
        f64::from(self.per_hour) / 3600.0
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: i64,
}

/// Buckets of one limit. Keys whose bucket is full again are forgotten when the map grows,
/// so a flood of distinct keys cannot grow it without bound.
#[derive(Debug)]
pub struct Limiter {
    rate: Rate,
    buckets: Mutex<HashMap<String, Bucket>>,
}

/// Above this many keys, full buckets are dropped before a new key is added.
const PRUNE_ABOVE: usize = 100_000;

const EPSILON: f64 = 1e-6;

impl Limiter {
    pub fn new(rate: Rate) -> Self {
        Limiter {
            rate,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `key` at `now`; when none is left, the seconds until there is
    /// one (for `Retry-After`).
    pub fn take(&self, key: &str, now: i64) -> Result<(), u64> {
        let burst = f64::from(self.rate.burst.max(1));
        let per_sec = self.rate.per_sec();
        // A poisoned lock only means another thread panicked mid-update of plain numbers:
        // the map is still usable.
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() > PRUNE_ABOVE && !buckets.contains_key(key) {
            buckets.retain(|_, b| refill(*b, now, per_sec, burst) < burst);
        }
        let bucket = buckets.entry(key.to_string()).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        let tokens = refill(*bucket, now, per_sec, burst);
        // Float sums of refills may land a hair under a whole token.
        if tokens >= 1.0 - EPSILON {
            *bucket = Bucket {
                tokens: (tokens - 1.0).max(0.0),
                at: now,
            };
            Ok(())
        } else {
            *bucket = Bucket { tokens, at: now };
            if per_sec <= 0.0 {
                return Err(3600);
            }
            // Whole seconds, rounded up, at least one.
            let wait = ((1.0 - tokens) / per_sec - EPSILON).ceil();
            Err(if wait < 1.0 { 1 } else { wait as u64 })
        }
    }
}

fn refill(b: Bucket, now: i64, per_sec: f64, burst: f64) -> f64 {
    let elapsed = (now - b.at).max(0) as f64;
    (b.tokens + elapsed * per_sec).min(burst)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_the_sustained_rate() {
        let l = Limiter::new(Rate::per_hour(3, 60)); // one a minute
        for _ in 0..3 {
            assert_eq!(l.take("a", 1000), Ok(()));
        }
        assert_eq!(l.take("a", 1000), Err(60));
        assert_eq!(l.take("a", 1030), Err(30));
        assert_eq!(l.take("a", 1060), Ok(()));
        assert_eq!(l.take("a", 1060), Err(60));
        // Other keys are not affected.
        assert_eq!(l.take("b", 1060), Ok(()));
    }

    #[test]
    fn refill_stops_at_the_burst() {
        let l = Limiter::new(Rate::per_hour(2, 3600));
        assert_eq!(l.take("a", 0), Ok(()));
        for _ in 0..2 {
            assert_eq!(l.take("a", 100_000), Ok(()));
        }
        assert_eq!(l.take("a", 100_000), Err(1));
    }

    #[test]
    fn a_clock_going_back_refills_nothing() {
        let l = Limiter::new(Rate::per_hour(1, 1));
        assert_eq!(l.take("a", 500), Ok(()));
        assert!(l.take("a", 100).is_err());
    }
}
