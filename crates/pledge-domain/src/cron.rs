//! Cron expressions for the server's scheduled tasks (the retention sweep, maintenance):
//! the five classic fields (minute, hour, day of month, month, day of week), with `*`,
//! ranges `a-b`, lists `a,b`, steps `*/n` and `a-b/n`, month and weekday names, and the
//! `@hourly`, `@daily`, `@weekly`, `@monthly`, `@yearly` shorthands. Times are UTC.
//!
//! Pure: [`Schedule::next_after`] is handed the instant and returns the next one; the shell
//! owns the clock and the sleeping.

use pledge_lang::time::CivilTime;
use std::fmt;
use std::str::FromStr;
use thiserror::Error;

/// A cron expression that did not parse.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("cron expression `{text}`: {why}")]
pub struct CronError {
    pub text: String,
    pub why: String,
}

/// A parsed schedule. Each field is a bit set of the values it allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    minutes: u64,
    hours: u64,
    days_of_month: u64,
    months: u64,
    /// Bit 0 is Sunday, 6 Saturday (7 in the text is Sunday too).
    days_of_week: u64,
    /// Whether the day-of-month and day-of-week fields were `*`: cron's rule is that when
    /// both are restricted a day matches if either does, otherwise the restricted one decides.
    any_day_of_month: bool,
    any_day_of_week: bool,
    text: String,
}

/// One field's range, and the names it accepts (index 0 is the field's minimum value).
struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const MINUTE: Field = Field {
    name: "minute",
    min: 0,
    max: 59,
    names: &[],
};
const HOUR: Field = Field {
    name: "hour",
    min: 0,
    max: 23,
    names: &[],
};
const DAY_OF_MONTH: Field = Field {
    name: "day of month",
    min: 1,
    max: 31,
    names: &[],
};
const MONTH: Field = Field {
    name: "month",
    min: 1,
    max: 12,
    names: &[
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ],
};
const DAY_OF_WEEK: Field = Field {
    name: "day of week",
    min: 0,
    max: 7,
    names: &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
};

/// How far ahead [`Schedule::next_after`] looks. A valid expression can match rarely (29
/// February on a Monday comes every 28 years at most); one that names a day no month has
/// (`0 0 31 2 *`) never matches.
const HORIZON_YEARS: i32 = 29;

impl FromStr for Schedule {
    type Err = CronError;

    fn from_str(text: &str) -> Result<Self, CronError> {
        let error = |why: String| CronError {
            text: text.to_string(),
            why,
        };
        let trimmed = text.trim();
        let expanded = match trimmed.to_ascii_lowercase().as_str() {
            "@hourly" => "0 * * * *".to_string(),
            "@daily" | "@midnight" => "0 0 * * *".to_string(),
            "@weekly" => "0 0 * * 0".to_string(),
            "@monthly" => "0 0 1 * *".to_string(),
            "@yearly" | "@annually" => "0 0 1 1 *".to_string(),
            other if other.starts_with('@') => {
                return Err(error(format!(
                    "unknown shorthand `{other}`: @hourly, @daily, @weekly, @monthly or @yearly"
                )));
            }
            _ => trimmed.to_string(),
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        let [minute, hour, dom, month, dow] = fields.as_slice() else {
            return Err(error(format!(
                "needs 5 fields (minute hour day-of-month month day-of-week), found {}",
                fields.len()
            )));
        };
        let mut days_of_week = parse_field(dow, &DAY_OF_WEEK).map_err(error)?;
        // 7 is Sunday as well as 0.
        if days_of_week & (1 << 7) != 0 {
            days_of_week = (days_of_week & !(1 << 7)) | 1;
        }
        Ok(Schedule {
            minutes: parse_field(minute, &MINUTE).map_err(error)?,
            hours: parse_field(hour, &HOUR).map_err(error)?,
            days_of_month: parse_field(dom, &DAY_OF_MONTH).map_err(error)?,
            months: parse_field(month, &MONTH).map_err(error)?,
            days_of_week,
            any_day_of_month: dom.starts_with('*'),
            any_day_of_week: dow.starts_with('*'),
            text: trimmed.to_string(),
        })
    }
}

fn parse_field(text: &str, field: &Field) -> Result<u64, String> {
    let mut set = 0u64;
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => {
                let step: u32 =
                    s.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                        format!("{}: step `{s}` is not a number above 0", field.name)
                    })?;
                (r, Some(step))
            }
            None => (part, None),
        };
        let (low, high) = if range == "*" {
            (field.min, field.max)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a, field)?, value(b, field)?)
        } else {
            let v = value(range, field)?;
            // `5/15` runs from 5 to the field's end, as in Vixie cron.
            (v, if step.is_some() { field.max } else { v })
        };
        if low > high {
            return Err(format!(
                "{}: range `{range}` runs backwards ({low} > {high})",
                field.name
            ));
        }
        let step = step.unwrap_or(1);
        let mut v = low;
        while v <= high {
            set |= 1 << v;
            v += step;
        }
    }
    Ok(set)
}

fn value(text: &str, field: &Field) -> Result<u32, String> {
    let lower = text.to_ascii_lowercase();
    if let Some(i) = field.names.iter().position(|n| *n == lower) {
        return Ok(field.min + i as u32);
    }
    let v: u32 = text.parse().map_err(|_| {
        if field.names.is_empty() {
            format!("{}: `{text}` is not a number", field.name)
        } else {
            format!(
                "{}: `{text}` is neither a number nor one of {}",
                field.name,
                field.names.join(", ")
            )
        }
    })?;
    if v < field.min || v > field.max {
        return Err(format!(
            "{}: {v} is outside {}-{}",
            field.name, field.min, field.max
        ));
    }
    Ok(v)
}

impl Schedule {
    /// Whether the minute starting at `t` (seconds are ignored) is one the schedule fires at.
    pub fn matches(&self, t: CivilTime) -> bool {
        self.months & (1 << t.month) != 0
            && self.day_matches(t)
            && self.hours & (1 << t.hour) != 0
            && self.minutes & (1 << t.minute) != 0
    }

    fn day_matches(&self, t: CivilTime) -> bool {
        let dom = self.days_of_month & (1 << t.day) != 0;
        let dow = self.days_of_week & (1 << (t.weekday() % 7)) != 0;
        match (self.any_day_of_month, self.any_day_of_week) {
            (false, false) => dom || dow,
            (true, false) => dow,
            (false, true) => dom,
            (true, true) => true,
        }
    }

    /// The first time the schedule fires strictly after `after` (Unix seconds, UTC), on a
    /// whole minute; `None` if it never fires in the next 29 years.
    pub fn next_after(&self, after: i64) -> Option<i64> {
        let start = after.div_euclid(60) * 60 + 60;
        let mut t = CivilTime::from_unix(start);
        let limit_year = t.year + HORIZON_YEARS;
        // Each step jumps to the start of the next month, day, hour or minute that could
        // match, so the loop runs at most a few hundred times per year looked at.
        while t.year <= limit_year {
            if self.months & (1 << t.month) == 0 {
                let (year, month) = if t.month == 12 {
                    (t.year + 1, 1)
                } else {
                    (t.year, t.month + 1)
                };
                t = CivilTime {
                    year,
                    month,
                    day: 1,
                    hour: 0,
                    minute: 0,
                    second: 0,
                };
            } else if !self.day_matches(t) {
                t = start_of_day(CivilTime::from_unix(start_of_day(t).to_unix() + 86_400));
            } else if self.hours & (1 << t.hour) == 0 {
                let hour_start = CivilTime {
                    minute: 0,
                    second: 0,
                    ..t
                };
                t = CivilTime::from_unix(hour_start.to_unix() + 3600);
            } else if self.minutes & (1 << t.minute) == 0 {
                t = CivilTime::from_unix(t.to_unix() + 60);
            } else {
                return Some(t.to_unix());
            }
        }
        None
    }

    /// The expression as written (trimmed).
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

fn start_of_day(t: CivilTime) -> CivilTime {
    CivilTime {
        hour: 0,
        minute: 0,
        second: 0,
        ..t
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> i64 {
        s.parse::<CivilTime>().expect("a test time").to_unix()
    }

    fn next(expr: &str, after: &str) -> Option<String> {
        let s: Schedule = expr.parse().expect("a test expression");
        s.next_after(at(after))
            .map(|t| CivilTime::from_unix(t).to_string())
    }

    #[test]
    fn next_fire_times() {
        let cases = [
            ("*/15 * * * *", "2026-11-22 09:00:00", "2026-11-22 09:15:00"),
            ("*/15 * * * *", "2026-11-22 09:14:59", "2026-11-22 09:15:00"),
            ("0 3 * * *", "2026-11-22 03:00:00", "2026-11-23 03:00:00"),
            ("30 2 * * sun", "2026-11-22 09:00:00", "2026-11-29 02:30:00"),
            ("30 2 * * 7", "2026-11-22 09:00:00", "2026-11-29 02:30:00"),
            (
                "0 0 1 jan-mar/2 *",
                "2026-11-22 09:00:00",
                "2027-01-01 00:00:00",
            ),
            ("0 0 29 2 *", "2026-11-22 09:00:00", "2028-02-29 00:00:00"),
            // Both day fields restricted: either matches (the 1st, or a Friday).
            ("0 12 1 * fri", "2026-11-22 09:00:00", "2026-11-27 12:00:00"),
            (
                "5/20 8-9 * * mon-fri",
                "2026-11-21 10:00:00",
                "2026-11-23 08:05:00",
            ),
            ("@daily", "2026-12-31 23:59:00", "2027-01-01 00:00:00"),
            ("@hourly", "2026-11-22 09:00:01", "2026-11-22 10:00:00"),
        ];
        for (expr, after, want) in cases {
            assert_eq!(
                next(expr, after).as_deref(),
                Some(want),
                "{expr} after {after}"
            );
        }
        assert_eq!(next("0 0 31 2 *", "2026-01-01 00:00:00"), None);
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            ("* * * *", "needs 5 fields"),
            ("60 * * * *", "minute: 60 is outside 0-59"),
            ("* 5-2 * * *", "hour: range `5-2` runs backwards"),
            ("* * 0 * *", "day of month: 0 is outside 1-31"),
            (
                "* * * foo *",
                "month: `foo` is neither a number nor one of jan",
            ),
            ("*/0 * * * *", "minute: step `0` is not a number above 0"),
            ("@often", "unknown shorthand"),
        ];
        for (expr, want) in cases {
            let e = expr.parse::<Schedule>().expect_err(expr);
            assert!(e.to_string().contains(want), "{expr}: {e}");
        }
    }
}
