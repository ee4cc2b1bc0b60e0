//! The CLI's "now": the server's one clock ([`pledge_server::Clock`]), read here and passed
//! on as a value. The core takes time as a value.

use pledge_lang::time::CivilTime;
use pledge_lang::types::Date;

/// Seconds since 1970-01-01T00:00:00Z.
pub fn now_unix() -> i64 {
    pledge_server::Clock::system().now()
}

/// The current UTC time, to the second.
pub fn now() -> CivilTime {
    CivilTime::from_unix(now_unix())
}

/// Today's date (UTC).
pub fn today() -> Date {
    let t = now();
    Date {
        // In range by construction: a year of this era, month 1-12, day 1-31.
        year: u16::try_from(t.year).unwrap_or(u16::MAX),
        month: u8::try_from(t.month).unwrap_or(1),
        day: u8::try_from(t.day).unwrap_or(1),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn today_is_a_plausible_date() {
        let today = super::today();
        assert!(today.year >= 2024 && (1..=12).contains(&today.month));
    }
}
