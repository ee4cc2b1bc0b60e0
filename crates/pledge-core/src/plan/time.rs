//! Civil (calendar) time for computing when holds and retention periods end. The core never
//! reads the clock: the shell passes "now" in.

use crate::types::IsoDuration;
use std::fmt;

/// A UTC date and time to the second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct CivilTime {
    pub year: i32,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

impl CivilTime {
    /// From seconds since 1970-01-01T00:00:00Z.
    pub fn from_unix(secs: i64) -> Self {
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        CivilTime {
            year,
            month,
            day,
            hour: (rem / 3600) as u32,
            minute: (rem % 3600 / 60) as u32,
            second: (rem % 60) as u32,
        }
    }

    pub fn to_unix(self) -> i64 {
        days_from_civil(self.year, self.month, self.day) * 86_400
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second)
    }

    /// The time `d` earlier. Years and months move the calendar (clamping the day: 31 March
    /// minus one month is 28 or 29 February); weeks, days and smaller units are exact.
    pub fn minus(self, d: &IsoDuration) -> Self {
        let months_back = i64::from(d.years) * 12 + i64::from(d.months);
        let total = i64::from(self.year) * 12 + i64::from(self.month - 1) - months_back;
        let year = total.div_euclid(12) as i32;
        let month = total.rem_euclid(12) as u32 + 1;
        let day = self.day.min(days_in_month(year, month));
        let shifted = CivilTime {
            year,
            month,
            day,
            ..self
        };
        let exact = i64::from(d.weeks) * 7 * 86_400
            + i64::from(d.days) * 86_400
            + i64::from(d.hours) * 3600
            + i64::from(d.minutes) * 60
            + i64::from(d.seconds);
        CivilTime::from_unix(shifted.to_unix() - exact)
    }
}

impl fmt::Display for CivilTime {
    /// `YYYY-MM-DD HH:MM:SS`: compares correctly as text and is understood by PostgreSQL,
    /// MariaDB and SQLite.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

// Howard Hinnant's algorithms for the proleptic Gregorian calendar.
fn days_from_civil(y: i32, m: u32, d: u32) -> i64 {
    let y = i64::from(y) - i64::from(m <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i32, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y as i32, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t(s: &str) -> CivilTime {
        let n: Vec<u32> = s
            .split(['-', ' ', ':'])
            .map(|p| p.parse().unwrap())
            .collect();
        CivilTime {
            year: n[0] as i32,
            month: n[1],
            day: n[2],
            hour: n[3],
            minute: n[4],
            second: n[5],
        }
    }

    #[test]
    fn periods_move_the_calendar() {
        let now = t("2026-03-31 12:00:00");
        assert_eq!(
            now.minus(&"P5Y".parse().unwrap()).to_string(),
            "2021-03-31 12:00:00"
        );
        assert_eq!(
            now.minus(&"P1M".parse().unwrap()).to_string(),
            "2026-02-28 12:00:00"
        );
        assert_eq!(
            now.minus(&"P13M".parse().unwrap()).to_string(),
            "2025-02-28 12:00:00"
        );
        assert_eq!(
            now.minus(&"P1DT12H".parse().unwrap()).to_string(),
            "2026-03-30 00:00:00"
        );
        assert_eq!(
            t("2024-02-29 00:00:00")
                .minus(&"P1Y".parse().unwrap())
                .to_string(),
            "2023-02-28 00:00:00"
        );
    }

    proptest! {
        #[test]
        fn unix_round_trips(secs in -5_000_000_000i64..5_000_000_000) {
            prop_assert_eq!(CivilTime::from_unix(secs).to_unix(), secs);
        }
    }
}
