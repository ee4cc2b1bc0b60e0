//! Properties of the cron parser and its next-fire computation, checked against a brute-force
//! walk minute by minute.

use pledge_domain::cron::Schedule;
use pledge_lang::time::CivilTime;
use proptest::prelude::*;

/// One field: `*`, a value, a range, a list or a step, within `min..=max`.
fn field(min: u32, max: u32) -> impl Strategy<Value = String> {
    let value = min..=max;
    prop_oneof![
        Just("*".to_string()),
        value.clone().prop_map(|v| v.to_string()),
        (value.clone(), value.clone()).prop_map(|(a, b)| format!("{}-{}", a.min(b), a.max(b))),
        (1..=max.max(2)).prop_map(|s| format!("*/{s}")),
        (value.clone(), value.clone(), 1..=5u32).prop_map(|(a, b, s)| format!(
            "{}-{}/{s}",
            a.min(b),
            a.max(b)
        )),
        proptest::collection::vec(value, 1..4).prop_map(|vs| vs
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",")),
    ]
}

fn expression() -> impl Strategy<Value = String> {
    (
        field(0, 59),
        field(0, 23),
        field(1, 28),
        field(1, 12),
        field(0, 7),
    )
        .prop_map(|(m, h, dom, mon, dow)| format!("{m} {h} {dom} {mon} {dow}"))
}

/// Instants from 2000 to 2060.
fn instant() -> impl Strategy<Value = i64> {
    946_684_800i64..2_871_763_200
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// The next fire time is later, on a whole minute, and matches.
    #[test]
    fn next_is_later_and_matches(expr in expression(), t in instant()) {
        let s: Schedule = expr.parse().unwrap();
        // Days 1-28 exist in every month: every generated schedule fires within a few years.
        let n = s.next_after(t).unwrap();
        prop_assert!(n > t);
        prop_assert_eq!(n % 60, 0);
        prop_assert!(s.matches(CivilTime::from_unix(n)), "{} at {}", expr, CivilTime::from_unix(n));
    }

    /// No minute between the instant and the next fire time matches (walked minute by minute
    /// for schedules that fire at least daily).
    #[test]
    fn nothing_is_skipped(m in field(0, 59), h in field(0, 23), t in instant()) {
        let s: Schedule = format!("{m} {h} * * *").parse().unwrap();
        let n = s.next_after(t).unwrap();
        let mut minute = t.div_euclid(60) * 60 + 60;
        while minute < n {
            prop_assert!(!s.matches(CivilTime::from_unix(minute)), "{} {} skipped {}", m, h, CivilTime::from_unix(minute));
            minute += 60;
        }
    }

    /// Fire times chain: the one after a fire time is the next one.
    #[test]
    fn fire_times_chain(expr in expression(), t in instant()) {
        let s: Schedule = expr.parse().unwrap();
        let first = s.next_after(t).unwrap();
        let second = s.next_after(first).unwrap();
        prop_assert!(second > first);
        prop_assert_eq!(s.next_after(first - 1), Some(first));
    }

    /// Any text parses or fails with an error; never a panic.
    #[test]
    fn parsing_never_panics(text in "[0-9a-z*/,@ -]{0,30}") {
        let _ = text.parse::<Schedule>();
    }

    /// Names and numbers mean the same.
    #[test]
    fn names_equal_numbers(month in 1u32..=12, dow in 0u32..=6) {
        const MONTHS: [&str; 12] = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
        const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
        let by_name: Schedule = format!("0 0 * {} {}", MONTHS[month as usize - 1], DAYS[dow as usize]).parse().unwrap();
        let by_number: Schedule = format!("0 0 * {month} {dow}").parse().unwrap();
        for t in [0i64, 1_000_000_000, 2_000_000_000] {
            prop_assert_eq!(by_name.next_after(t), by_number.next_after(t));
        }
    }
}
