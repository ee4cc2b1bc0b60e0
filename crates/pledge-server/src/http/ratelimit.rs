//! Token buckets keyed by a string (a client address, an e-mail address), in this
//! process's memory: each replica limits on its own, so N replicas allow N times the rate.
//! Time is a parameter (unix seconds), so the buckets are plain arithmetic.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
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
    /// When it was last used, in calls to its shard: the order of eviction.
    used: u64,
}

#[derive(Debug, Default)]
struct Shard {
    buckets: HashMap<String, Bucket>,
    calls: u64,
}

/// Buckets of one limit, in a fixed-size table: at most [`Limiter::capacity`] keys, spread
/// over shards (each its own lock) by a keyed hash, so a flood of distinct keys neither grows
/// memory nor makes one lock everyone's bottleneck. A new key in a full shard first drops the
/// buckets that are full again (forgetting them changes nothing); when none is, the least
/// recently used sixteenth of the shard goes, in one pass, so the cost per new key stays
/// constant. A key that is being limited and keeps calling is always among the most recently
/// used, so it stays limited however many other keys come.
#[derive(Debug)]
pub struct Limiter {
    rate: Rate,
    per_shard: usize,
    hasher: RandomState,
    shards: Vec<Mutex<Shard>>,
}

/// Keys kept per limit by default: a few MiB at most.
pub const DEFAULT_CAPACITY: usize = 65_536;

const EPSILON: f64 = 1e-6;

impl Limiter {
    pub fn new(rate: Rate) -> Self {
        Limiter::with_capacity(rate, DEFAULT_CAPACITY)
    }

    /// A limiter that keeps at most `capacity` keys (at least one).
    pub fn with_capacity(rate: Rate, capacity: usize) -> Self {
        let capacity = capacity.max(1);
        let shards = capacity.div_ceil(1024).clamp(1, 64);
        let per_shard = (capacity / shards).max(1);
        Limiter {
            rate,
            per_shard,
            hasher: RandomState::new(),
            shards: (0..shards).map(|_| Mutex::new(Shard::default())).collect(),
        }
    }

    /// The most keys this limiter keeps.
    pub fn capacity(&self) -> usize {
        self.per_shard * self.shards.len()
    }

    /// The keys kept now.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(s).buckets.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `key` has no whole token left at `now` (nothing is taken).
    pub fn exhausted(&self, key: &str, now: i64) -> bool {
        let burst = f64::from(self.rate.burst.max(1));
        let index = (self.hasher.hash_one(key) % self.shards.len() as u64) as usize;
        lock(&self.shards[index])
            .buckets
            .get(key)
            .is_some_and(|b| refill(*b, now, self.rate.per_sec(), burst) < 1.0 - EPSILON)
    }

    /// Takes one token for `key` at `now`; when none is left, the seconds until there is
    /// one (for `Retry-After`).
    pub fn take(&self, key: &str, now: i64) -> Result<(), u64> {
        let burst = f64::from(self.rate.burst.max(1));
        let per_sec = self.rate.per_sec();
        // The remainder is below the number of shards, which is a usize.
        let index = (self.hasher.hash_one(key) % self.shards.len() as u64) as usize;
        let mut shard = lock(&self.shards[index]);
        shard.calls += 1;
        let used = shard.calls;
        if !shard.buckets.contains_key(key) && shard.buckets.len() >= self.per_shard {
            evict(&mut shard.buckets, now, per_sec, burst);
        }
        let bucket = shard.buckets.entry(key.to_string()).or_insert(Bucket {
            tokens: burst,
            at: now,
            used,
        });
        let tokens = refill(*bucket, now, per_sec, burst);
        // Float sums of refills may land a hair under a whole token.
        if tokens >= 1.0 - EPSILON {
            *bucket = Bucket {
                tokens: (tokens - 1.0).max(0.0),
                at: now,
                used,
            };
            Ok(())
        } else {
            *bucket = Bucket {
                tokens,
                at: now,
                used,
            };
            if per_sec <= 0.0 {
                return Err(3600);
            }
            // Whole seconds, rounded up, at least one.
            let wait = ((1.0 - tokens) / per_sec - EPSILON).ceil();
            Err(if wait < 1.0 { 1 } else { wait as u64 })
        }
    }
}

/// A poisoned lock only means another thread panicked mid-update of plain numbers: the
/// table is still usable.
fn lock(m: &Mutex<Shard>) -> std::sync::MutexGuard<'_, Shard> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Makes room in a full shard: drops the buckets that are full again; if none is, the least
/// recently used sixteenth (at least one).
fn evict(buckets: &mut HashMap<String, Bucket>, now: i64, per_sec: f64, burst: f64) {
    let before = buckets.len();
    buckets.retain(|_, b| refill(*b, now, per_sec, burst) < burst - EPSILON);
    if buckets.len() < before {
        return;
    }
    let mut uses: Vec<u64> = buckets.values().map(|b| b.used).collect();
    let n = (uses.len() / 16).max(1);
    if n > uses.len() {
        return;
    }
    let (_, &mut cut, _) = uses.select_nth_unstable(n - 1);
    buckets.retain(|_, b| b.used > cut);
}

/// The key a client address is limited under: an IPv4 address as it is, an IPv6 address by
/// its /64 (the smallest network a site is given: one host rotates through all of it), an
/// IPv4-mapped IPv6 address as its IPv4 address. Text that is no address (a proxy header
/// gone wrong) is kept as it is, cut to 64 bytes.
pub fn client_key(address: &str) -> String {
    match address.trim().parse::<IpAddr>() {
        Ok(ip) => ip_key(ip),
        Err(_) => address.chars().take(64).collect(),
    }
}

/// [`client_key`] of a parsed address.
pub fn ip_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
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

    #[test]
    fn ipv6_is_limited_per_64_and_ipv4_per_address() {
        assert_eq!(client_key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(
            client_key("2001:db8:1:2:ffff:ffff:ffff:ffff"),
            client_key("2001:db8:1:2::7")
        );
        assert_ne!(client_key("2001:db8:1:2::1"), client_key("2001:db8:1:3::1"));
        assert_eq!(client_key("192.0.2.7"), "192.0.2.7");
        assert_ne!(client_key("192.0.2.7"), client_key("192.0.2.8"));
        assert_eq!(client_key("::ffff:192.0.2.7"), "192.0.2.7");
        assert_eq!(client_key("unknown"), "unknown");
        assert_eq!(client_key(&"x".repeat(500)).len(), 64);
    }

    #[test]
    fn a_flood_of_new_keys_stays_within_the_capacity() {
        let l = Limiter::with_capacity(Rate::per_hour(2, 1), 5000);
        for i in 0..50_000 {
            let _ = l.take(&format!("flood-{i}"), 1000);
        }
        assert!(l.len() <= l.capacity(), "{} > {}", l.len(), l.capacity());
        assert!(l.capacity() <= 5000);
    }

    /// What the table is checked against: one unbounded map of the same buckets.
    #[derive(Default)]
    struct Model {
        buckets: HashMap<String, Bucket>,
    }

    impl Model {
        fn take(&mut self, rate: Rate, key: &str, now: i64) -> bool {
            let burst = f64::from(rate.burst.max(1));
            let b = self.buckets.entry(key.to_string()).or_insert(Bucket {
                tokens: burst,
                at: now,
                used: 0,
            });
            let t = refill(*b, now, rate.per_sec(), burst);
            let ok = t >= 1.0 - EPSILON;
            *b = Bucket {
                tokens: if ok { (t - 1.0).max(0.0) } else { t },
                at: now,
                used: 0,
            };
            ok
        }
    }

    proptest::proptest! {
        /// Never more keys than the capacity; a key that keeps calling is limited exactly as
        /// an unbounded table would limit it, whatever the other keys do.
        #[test]
        fn the_table_is_bounded_and_a_caller_that_keeps_calling_stays_limited(
            capacity in 2usize..40,
            burst in 1u32..4,
            per_hour in 0u32..7200,
            steps in proptest::collection::vec((0u32..200, 0i64..3), 1..400),
        ) {
            let rate = Rate::per_hour(burst, per_hour);
            let l = Limiter::with_capacity(rate, capacity);
            let mut model = Model::default();
            let mut now = 1_000;
            for (other, dt) in steps {
                now += dt;
                // The persistent caller calls between any two calls of the others.
                let expected = model.take(rate, "caller", now);
                proptest::prop_assert_eq!(l.take("caller", now).is_ok(), expected, "at {}", now);
                let _ = l.take(&format!("other-{other}"), now);
                proptest::prop_assert!(l.len() <= l.capacity());
                proptest::prop_assert!(l.capacity() <= capacity.max(1));
            }
        }
    }
}
