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

/// The first second jiff (and so Pledge) counts, in year -9999.
fn min() -> CivilTime {
    // Computed once: `to_jiff` clamps against it on every conversion.
    static MIN: std::sync::OnceLock<CivilTime> = std::sync::OnceLock::new();
    *MIN.get_or_init(|| {
        CivilTime::from_jiff(jiff::tz::TimeZone::UTC.to_datetime(jiff::Timestamp::MIN))
    })
}

/// The last second jiff (and so Pledge) counts, in year 9999.
fn max() -> CivilTime {
    static MAX: std::sync::OnceLock<CivilTime> = std::sync::OnceLock::new();
    *MAX.get_or_init(|| {
        CivilTime::from_jiff(jiff::tz::TimeZone::UTC.to_datetime(jiff::Timestamp::MAX))
    })
}

impl CivilTime {
    /// From seconds since 1970-01-01T00:00:00Z. Before year -9999 or after 9999 (a period
    /// of millennia added to now) it is the first or last second of that range.
    pub fn from_unix(secs: i64) -> Self {
        match jiff::Timestamp::from_second(secs) {
            Ok(ts) => CivilTime::from_jiff(jiff::tz::TimeZone::UTC.to_datetime(ts)),
            Err(_) if secs < 0 => min(),
            Err(_) => max(),
        }
    }

    pub fn to_unix(self) -> i64 {
        jiff::tz::TimeZone::UTC
            .to_timestamp(self.to_jiff())
            .map_or(0, jiff::Timestamp::as_second)
    }

    /// The jiff value: fields out of range (a value built by hand) are clamped to it.
    fn to_jiff(self) -> jiff::civil::DateTime {
        let clamped = self.clamp(min(), max());
        let year = i16::try_from(clamped.year).unwrap_or(9999);
        let month = i8::try_from(clamped.month.clamp(1, 12)).unwrap_or(1);
        let first = jiff::civil::Date::new(year, month, 1).unwrap_or(jiff::civil::Date::MAX);
        let day = i8::try_from(clamped.day)
            .unwrap_or(1)
            .clamp(1, first.days_in_month());
        jiff::civil::DateTime::new(
            year,
            month,
            day,
            i8::try_from(clamped.hour.min(23)).unwrap_or(0),
            i8::try_from(clamped.minute.min(59)).unwrap_or(0),
            i8::try_from(clamped.second.min(59)).unwrap_or(0),
            0,
        )
        .unwrap_or(jiff::civil::DateTime::MAX)
    }

    fn from_jiff(dt: jiff::civil::DateTime) -> Self {
        // jiff's fields are in range by construction: none of these conversions can fail.
        let field = |v: i8| u32::try_from(v).unwrap_or(0);
        CivilTime {
            year: i32::from(dt.year()),
            month: field(dt.month()),
            day: field(dt.day()),
            hour: field(dt.hour()),
            minute: field(dt.minute()),
            second: field(dt.second()),
        }
    }

    /// The time `months` calendar months later (earlier when negative), the day clamped to
    /// the month's last (31 January plus one month is 28 or 29 February); past the range
    /// of years, its end.
    fn plus_months(self, months: i64) -> Self {
        let span = jiff::Span::new().try_months(months);
        match span.and_then(|span| self.to_jiff().checked_add(span)) {
            Ok(dt) => CivilTime::from_jiff(dt),
            Err(_) if months < 0 => min(),
            Err(_) => max(),
        }
    }

    /// The time `d` earlier. Years and months move the calendar (clamping the day: 31 March
    /// minus one month is 28 or 29 February); weeks, days and smaller units are exact.
    pub fn minus(self, d: &IsoDuration) -> Self {
        let shifted = self.plus_months(-calendar_months(d));
        CivilTime::from_unix(shifted.to_unix().saturating_sub(exact_seconds(d)))
    }

    /// The time `d` later: the mirror of [`CivilTime::minus`]. Years and months move the
    /// calendar and clamp the day (31 January plus one month is 28 or 29 February, the rule
    /// of Regulation 1182/71 Art. 3(2)(c) for periods in months); smaller units are exact.
    pub fn plus(self, d: &IsoDuration) -> Self {
        let shifted = self.plus_months(calendar_months(d));
        CivilTime::from_unix(shifted.to_unix().saturating_add(exact_seconds(d)))
    }

    /// The day of the week, 1 (Monday) to 7 (Sunday), ISO 8601.
    pub fn weekday(self) -> u32 {
        u32::try_from(self.to_jiff().weekday().to_monday_one_offset()).unwrap_or(1)
    }

    /// The same time `n` business days later: Saturdays and Sundays are skipped (public
    /// holidays, which differ per state, are not). A start on a weekend counts from Monday.
    pub fn plus_business_days(self, n: u32) -> Self {
        let mut t = self;
        let mut left = n;
        while left > 0 {
            t = CivilTime::from_unix(t.to_unix() + 86_400);
            if t.weekday() <= 5 {
                left -= 1;
            }
        }
        t
    }

    /// `YYYY-MM-DDTHH:MM:SSZ` (RFC 3339, UTC), for APIs.
    pub fn to_rfc3339(self) -> String {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }

    /// `YYYY-MM-DD`: the day, as pages, messages and digests show it.
    pub fn to_date_string(self) -> String {
        format!("{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl std::str::FromStr for CivilTime {
    type Err = crate::types::ParseError;

    /// `YYYY-MM-DD HH:MM:SS` (or with `T` between date and time, and an optional `Z`), the
    /// form [`CivilTime`] prints.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad =
            || crate::types::ParseError(format!("`{s}` is not a time (write YYYY-MM-DD HH:MM:SS)"));
        let fields: Vec<u32> = s
            .trim_end_matches('Z')
            .split(['-', ' ', 'T', ':'])
            .map(|p| p.parse().map_err(|_| bad()))
            .collect::<Result<_, _>>()?;
        let [year, month, day, hour, minute, second] = fields[..] else {
            return Err(bad());
        };
        let date: crate::types::Date = format!("{year:04}-{month:02}-{day:02}")
            .parse()
            .map_err(|_| bad())?;
        if hour > 23 || minute > 59 || second > 59 {
            return Err(bad());
        }
        Ok(CivilTime {
            year: i32::from(date.year),
            month,
            day,
            hour,
            minute,
            second,
        })
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

/// The years and months of `d`, in months: the part that moves the calendar.
fn calendar_months(d: &IsoDuration) -> i64 {
    i64::from(d.years) * 12 + i64::from(d.months)
}

/// The weeks, days, hours, minutes and seconds of `d`, in seconds: the exact part.
fn exact_seconds(d: &IsoDuration) -> i64 {
    i64::from(d.weeks) * 7 * 86_400
        + i64::from(d.days) * 86_400
        + i64::from(d.hours) * 3600
        + i64::from(d.minutes) * 60
        + i64::from(d.seconds)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t(s: &str) -> CivilTime {
        s.parse().unwrap()
    }

    /// An independent model of the proleptic Gregorian calendar (Howard Hinnant's
    /// `civil_from_days`), to check the conversions jiff does for us.
    fn model_from_unix(secs: i64) -> CivilTime {
        let z = secs.div_euclid(86_400) + 719_468;
        let rem = secs.rem_euclid(86_400);
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = (yoe + era * 400 + i64::from(month <= 2)) as i32;
        CivilTime {
            year,
            month,
            day,
            hour: (rem / 3600) as u32,
            minute: (rem % 3600 / 60) as u32,
            second: (rem % 60) as u32,
        }
    }

    /// The model's days in a month, for the clamping rule.
    fn model_days_in_month(year: i32, month: u32) -> u32 {
        match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
            _ => 28,
        }
    }

    #[test]
    fn millennia_saturate_at_the_end_of_the_range() {
        assert_eq!(CivilTime::from_unix(i64::MAX), max());
        assert_eq!(CivilTime::from_unix(i64::MIN), min());
        assert_eq!(max().year, 9999);
        assert_eq!(CivilTime::from_unix(max().to_unix()), max());
        let far = IsoDuration {
            years: 100_000,
            ..IsoDuration::days(0)
        };
        assert_eq!(t("2026-01-01 00:00:00").plus(&far), max());
        assert_eq!(t("2026-01-01 00:00:00").minus(&far), min());
    }

    #[test]
    fn times_parse_as_they_print() {
        assert_eq!(t("2026-03-31T12:00:05Z").to_string(), "2026-03-31 12:00:05");
        for bad in [
            "2026-02-30 00:00:00",
            "2026-01-01 24:00:00",
            "2026-01-01",
            "noon",
        ] {
            assert!(bad.parse::<CivilTime>().is_err(), "{bad}");
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

    #[test]
    fn plus_moves_the_calendar_and_clamps() {
        let p = |s: &str| -> IsoDuration { s.parse().unwrap() };
        assert_eq!(
            t("2026-01-31 09:30:00").plus(&p("P1M")).to_string(),
            "2026-02-28 09:30:00"
        );
        assert_eq!(
            t("2028-01-31 09:30:00").plus(&p("P1M")).to_string(),
            "2028-02-29 09:30:00"
        );
        assert_eq!(
            t("2026-01-31 00:00:00").plus(&p("P3M")).to_string(),
            "2026-04-30 00:00:00"
        );
        assert_eq!(
            t("2026-11-15 00:00:00").plus(&p("P2M")).to_string(),
            "2027-01-15 00:00:00"
        );
        assert_eq!(
            t("2026-12-20 23:00:00").plus(&p("P45D")).to_string(),
            "2027-02-03 23:00:00"
        );
        assert_eq!(
            t("2026-03-30 00:00:00").plus(&p("P1DT12H")).to_string(),
            "2026-03-31 12:00:00"
        );
    }

    #[test]
    fn weekdays_and_business_days() {
        // 2026-11-20 is a Friday.
        assert_eq!(t("2026-11-20 10:00:00").weekday(), 5);
        assert_eq!(t("2026-11-22 10:00:00").weekday(), 7);
        assert_eq!(t("1970-01-01 00:00:00").weekday(), 4);
        assert_eq!(
            t("2026-11-20 10:00:00").plus_business_days(1).to_string(),
            "2026-11-23 10:00:00"
        );
        // Ten business days are two weeks, from any weekday.
        assert_eq!(
            t("2026-11-18 10:00:00").plus_business_days(10).to_string(),
            "2026-12-02 10:00:00"
        );
        // From a Saturday: Monday is the first business day.
        assert_eq!(
            t("2026-11-21 10:00:00").plus_business_days(1).to_string(),
            "2026-11-23 10:00:00"
        );
        assert_eq!(
            t("2026-11-18 10:00:00").to_rfc3339(),
            "2026-11-18T10:00:00Z"
        );
    }

    proptest! {
        #[test]
        fn plus_exact_units_inverts_minus(secs in -2_000_000_000i64..5_000_000_000, days in 0u32..1000, hours in 0u32..48) {
            let d = IsoDuration { days, hours, ..IsoDuration::days(0) };
            let at = CivilTime::from_unix(secs);
            prop_assert_eq!(at.plus(&d).minus(&d), at);
        }

        #[test]
        fn plus_months_never_goes_back(secs in 0i64..5_000_000_000, months in 0u32..40) {
            let d = IsoDuration { months, ..IsoDuration::days(0) };
            let at = CivilTime::from_unix(secs);
            prop_assert!(at.plus(&d) >= at);
            prop_assert!(at.plus(&d).day <= at.day);
        }

        #[test]
        fn business_days_land_on_weekdays(secs in 0i64..5_000_000_000, n in 1u32..30) {
            let at = CivilTime::from_unix(secs);
            let later = at.plus_business_days(n);
            prop_assert!(later.weekday() <= 5);
            // n business days take at least n and at most n + 2 * (n / 5 + 1) + 2 calendar days.
            let days = (later.to_unix() - at.to_unix()) / 86_400;
            prop_assert!(days >= i64::from(n));
            prop_assert!(days <= i64::from(n) + 2 * (i64::from(n) / 5 + 1) + 2);
        }

        #[test]
        fn unix_round_trips(secs in -5_000_000_000i64..5_000_000_000) {
            prop_assert_eq!(CivilTime::from_unix(secs).to_unix(), secs);
        }

        /// jiff's calendar agrees with the independent model, over 10,000 years.
        #[test]
        fn the_calendar_agrees_with_the_model(secs in -62_000_000_000i64..253_000_000_000) {
            prop_assert_eq!(CivilTime::from_unix(secs), model_from_unix(secs));
        }

        /// Months move the calendar as the model says: same day, clamped to the month.
        #[test]
        fn months_clamp_as_the_model_says(secs in -2_000_000_000i64..5_000_000_000, months in 0u32..400) {
            let at = CivilTime::from_unix(secs);
            let later = at.plus(&IsoDuration { months, ..IsoDuration::days(0) });
            let total = i64::from(at.year) * 12 + i64::from(at.month - 1) + i64::from(months);
            let (year, month) = (total.div_euclid(12) as i32, total.rem_euclid(12) as u32 + 1);
            let day = at.day.min(model_days_in_month(year, month));
            prop_assert_eq!(later, CivilTime { year, month, day, ..at });
        }
    }
}
