//! Failures that pass and failures that stay, and when to try again.
//!
//! A fault of the outside world (a database that restarts, a lock, a full disk, a timeout)
//! may be gone in a minute: the work is tried again later, with a growing delay. A fault of
//! the request or the set-up (an identity that names two people, a declared column the
//! database lacks, a missing key) comes back every time: trying again only hides it, so it
//! goes to a person. [`Transience`] is that verdict; the shells decide it from their errors
//! (by the codes the databases give, through the tables here), and [`Backoff`] computes the
//! schedule of retries. Pure: the random number and "now" are parameters.

use serde::Serialize;

/// Whether trying the same thing again later may succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Transience {
    /// The outside world failed (connection, lock, timeout, I/O): retry later.
    Transient,
    /// The request or the set-up is wrong: retrying gives the same answer; a person acts.
    Permanent,
}

impl Transience {
    pub fn as_str(self) -> &'static str {
        match self {
            Transience::Transient => "transient",
            Transience::Permanent => "permanent",
        }
    }

    /// A SQLSTATE (PostgreSQL, and MariaDB/MySQL's general category): connection
    /// exceptions (class 08), serialization failures and deadlocks (40001, 40P01), lack of
    /// resources (class 53: disk full, out of memory, too many connections), operator
    /// intervention (class 57: shutdown, cannot connect now, but not 57014, a cancelled
    /// statement, which counts as a timeout and is transient too), lock not available
    /// (55P03), and system errors (class 58: I/O) pass. Everything else (syntax, a
    /// missing table or column, a type error, a violated constraint, no privilege) stays.
    pub fn of_sqlstate(state: &str) -> Transience {
        let transient = matches!(
            state.get(..2),
            Some("08") | Some("53") | Some("57") | Some("58")
        ) || matches!(state, "40001" | "40P01" | "55P03" | "HYT00" | "HYT01");
        if transient {
            Transience::Transient
        } else {
            Transience::Permanent
        }
    }

    /// A MariaDB/MySQL error number, more precise than its SQLSTATE (which is often the
    /// catch-all `HY000`): lock wait timeouts and deadlocks (1205, 1213), too many
    /// connections (1040, 1203), server gone or lost (2002, 2003, 2006, 2013), a server
    /// shutting down (1053), a full disk or table (1021, 1114), out of memory (1037, 1038),
    /// and a read-only server during failover (1290, 1836) pass. `None` for the rest: the
    /// SQLSTATE decides.
    pub fn of_mysql_error(number: u16) -> Option<Transience> {
        match number {
            1021 | 1037 | 1038 | 1040 | 1053 | 1114 | 1203 | 1205 | 1213 | 1290 | 1836 | 2002
            | 2003 | 2006 | 2013 => Some(Transience::Transient),
            _ => None,
        }
    }

    /// An SQLite result code (primary or extended): busy and locked (5, 6), out of memory
    /// (7), I/O errors (10), a full disk (13), a file that cannot be opened now (14) and
    /// protocol errors of locking (15) pass; errors of the statement, constraints, type
    /// mismatches, a read-only or corrupt file stay.
    pub fn of_sqlite_code(code: i32) -> Transience {
        match code & 0xff {
            5 | 6 | 7 | 10 | 13 | 14 | 15 => Transience::Transient,
            _ => Transience::Permanent,
        }
    }
}

/// The schedule of retries after transient failures: the first after `first_secs`, each
/// later one twice as long as the one before, at most `max_secs`; each shortened at random
/// by up to `jitter_percent` so that jobs that failed together do not come back together;
/// none once `budget_secs` have passed since the first failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub first_secs: i64,
    pub max_secs: i64,
    pub budget_secs: i64,
    pub jitter_percent: u8,
}

impl Default for Backoff {
    /// 5 s, doubling to 10 minutes, for 6 hours; 20 % jitter.
    fn default() -> Self {
        Backoff {
            first_secs: 5,
            max_secs: 600,
            budget_secs: 6 * 3600,
            jitter_percent: 20,
        }
    }
}

impl Backoff {
    /// The delay before retry `retry` (1 is the retry after the first failure), without
    /// jitter, in seconds: `first_secs · 2^(retry-1)`, at most `max_secs`, at least 1.
    pub fn base_delay(&self, retry: u32) -> i64 {
        let first = self.first_secs.max(1);
        let max = self.max_secs.max(first);
        let doublings = retry.saturating_sub(1).min(62);
        first.saturating_mul(1_i64 << doublings).clamp(1, max)
    }

    /// The delay with jitter: `random` is a uniformly random number the shell drew. The
    /// result lies in `[base · (1 - jitter), base]`, rounded up to whole seconds, and is
    /// never below one second.
    pub fn delay(&self, retry: u32, random: u32) -> i64 {
        let base_ms = i128::from(self.base_delay(retry)) * 1000;
        let percent = i128::from(self.jitter_percent.min(100));
        let cut = base_ms * percent * i128::from(random) / (100 * (1_i128 << 32));
        let ms = base_ms - cut;
        // At most `max_secs`, which is an i64: the division brings it back in range.
        i64::try_from((ms + 999) / 1000).map_or(i64::MAX, |s| s.max(1))
    }

    /// When to try again after a transient failure at `now`, for a job that first failed
    /// (in this run of failures) at `first_failed_at` and has had `retry - 1` retries; `None`
    /// when that time would be past the budget: then the job is given up to staff.
    pub fn next_attempt(
        &self,
        retry: u32,
        first_failed_at: i64,
        now: i64,
        random: u32,
    ) -> Option<i64> {
        let at = now.saturating_add(self.delay(retry, random));
        (at <= first_failed_at.saturating_add(self.budget_secs.max(0))).then_some(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_default_schedule_doubles_from_five_seconds_to_ten_minutes() {
        let b = Backoff::default();
        let delays: Vec<i64> = (1..=10).map(|n| b.base_delay(n)).collect();
        assert_eq!(delays, [5, 10, 20, 40, 80, 160, 320, 600, 600, 600]);
        // With no randomness drawn the delay is the base; with the most, 20 % shorter.
        assert_eq!(b.delay(8, 0), 600);
        assert_eq!(b.delay(8, u32::MAX), 481);
        // Six hours of retries: about 42 attempts, not five in a fraction of a second.
        let (mut now, mut retry) = (0, 1);
        while let Some(at) = b.next_attempt(retry, 0, now, 0) {
            now = at;
            retry += 1;
        }
        assert_eq!(retry, 42);
        assert!(now <= 6 * 3600 && now > 6 * 3600 - 600, "{now}");
    }

    #[test]
    fn codes_are_classified() {
        use Transience::*;
        for (state, want) in [
            ("08006", Transient),
            ("40001", Transient),
            ("40P01", Transient),
            ("53100", Transient),
            ("57P01", Transient),
            ("57P03", Transient),
            ("42P01", Permanent),
            ("42703", Permanent),
            ("22P02", Permanent),
            ("23505", Permanent),
            ("42501", Permanent),
        ] {
            assert_eq!(Transience::of_sqlstate(state), want, "{state}");
        }
        assert_eq!(Transience::of_mysql_error(1213), Some(Transient));
        assert_eq!(Transience::of_mysql_error(1146), None);
        // SQLITE_BUSY, SQLITE_IOERR_WRITE (extended), SQLITE_FULL; SQLITE_ERROR, a constraint.
        assert_eq!(Transience::of_sqlite_code(5), Transient);
        assert_eq!(Transience::of_sqlite_code(778), Transient);
        assert_eq!(Transience::of_sqlite_code(13), Transient);
        assert_eq!(Transience::of_sqlite_code(1), Permanent);
        assert_eq!(Transience::of_sqlite_code(2067), Permanent);
    }

    fn backoff() -> impl Strategy<Value = Backoff> {
        (1i64..120, 1i64..7200, 0i64..100_000, 0u8..=100).prop_map(
            |(first_secs, max_secs, budget_secs, jitter_percent)| Backoff {
                first_secs,
                max_secs,
                budget_secs,
                jitter_percent,
            },
        )
    }

    proptest! {
        /// The base schedule never shrinks and stays within [first, max]; the jittered delay
        /// lies within the jitter's share below the base; the next attempt is in the future
        /// and within the budget, or there is none.
        #[test]
        fn the_schedule_keeps_its_bounds(
            b in backoff(),
            retry in 1u32..200,
            random in any::<u32>(),
            first_failed_at in 0i64..4_000_000_000,
            since in 0i64..200_000,
        ) {
            let base = b.base_delay(retry);
            let max = b.max_secs.max(b.first_secs);
            prop_assert!(base >= b.first_secs.min(max) && base <= max);
            prop_assert!(b.base_delay(retry + 1) >= base);
            let d = b.delay(retry, random);
            let floor = base * 1000 * (100 - i64::from(b.jitter_percent)) / 100;
            prop_assert!(d >= 1 && d <= base, "{d} > {base}");
            prop_assert!(d * 1000 >= floor, "{d} below the jitter floor of {base}");
            let now = first_failed_at + since;
            match b.next_attempt(retry, first_failed_at, now, random) {
                Some(at) => {
                    prop_assert!(at > now);
                    prop_assert!(at <= first_failed_at + b.budget_secs);
                    prop_assert_eq!(at, now + d);
                }
                None => prop_assert!(now + d > first_failed_at + b.budget_secs),
            }
        }
    }
}
