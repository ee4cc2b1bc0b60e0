//! Dates: ISO 8601 dates and timestamps, numeric day-month-year forms, dates with month
//! names in English, French, German and Danish, and in prose weekdays and years. A date
//! with words of birth before it (`born`, `DOB`, `geboren`, `né le`, `født`, ...) is a
//! date of birth.

use crate::check::valid_date;
use crate::text::{context, ends_word, starts_word};
use crate::{Evidence, Finding, Kind, Mode};

const BIRTH_WORDS: &[&str] = &[
    "born",
    "birth",
    "birthday",
    "dob",
    "d.o.b",
    "date of birth",
    "birthdate",
    "geboren",
    "geb",
    "geburtsdatum",
    "geburtstag",
    "né",
    "née",
    "naissance",
    "né le",
    "født",
    "fødselsdato",
    "fødselsdag",
    "fødd",
];

const MONTHS: &[(&str, u32)] = &[
    ("january", 1),
    ("february", 2),
    ("march", 3),
    ("april", 4),
    ("may", 5),
    ("june", 6),
    ("july", 7),
    ("august", 8),
    ("september", 9),
    ("october", 10),
    ("november", 11),
    ("december", 12),
    ("jan", 1),
    ("feb", 2),
    ("mar", 3),
    ("apr", 4),
    ("jun", 6),
    ("jul", 7),
    ("aug", 8),
    ("sep", 9),
    ("sept", 9),
    ("oct", 10),
    ("nov", 11),
    ("dec", 12),
    ("janvier", 1),
    ("février", 2),
    ("fevrier", 2),
    ("mars", 3),
    ("avril", 4),
    ("mai", 5),
    ("juin", 6),
    ("juillet", 7),
    ("août", 8),
    ("aout", 8),
    ("septembre", 9),
    ("octobre", 10),
    ("novembre", 11),
    ("décembre", 12),
    ("decembre", 12),
    ("januar", 1),
    ("februar", 2),
    ("märz", 3),
    ("maerz", 3),
    ("juni", 6),
    ("juli", 7),
    ("oktober", 10),
    ("dezember", 12),
    ("marts", 3),
    ("maj", 5),
    ("okt", 10),
    ("dez", 12),
];

const WEEKDAYS: &[&str] = &[
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "montag",
    "dienstag",
    "mittwoch",
    "donnerstag",
    "freitag",
    "samstag",
    "sonntag",
    "lundi",
    "mardi",
    "mercredi",
    "jeudi",
    "vendredi",
    "samedi",
    "dimanche",
    "mandag",
    "tirsdag",
    "onsdag",
    "torsdag",
    "fredag",
    "lørdag",
    "søndag",
];

pub fn scan(text: &str, mode: Mode, out: &mut Vec<Finding>) {
    let bytes = text.as_bytes();
    let mut i = 0;
    let before = out.len();
    while i < bytes.len() {
        if !starts_word(bytes, i) {
            i += 1;
            continue;
        }
        let found = if bytes[i].is_ascii_digit() {
            numeric(bytes, i, mode).or_else(|| day_month_name(text, i))
        } else if bytes[i].is_ascii_alphabetic() {
            month_name_first(text, i).or_else(|| weekday(text, i, mode))
        } else {
            None
        };
        match found {
            Some(f) => {
                i = f.span.end;
                out.push(f);
            }
            None => {
                // Skip the rest of the word.
                let in_word = crate::text::is_word(bytes[i]);
                i += 1;
                while in_word && i < bytes.len() && crate::text::is_word(bytes[i]) {
                    i += 1;
                }
            }
        }
    }
    for f in &mut out[before..] {
        if let Some(w) = context(text, f.span.start, f.span.end, 32, 0, BIRTH_WORDS) {
            f.kind = Kind::DateOfBirth;
            f.confidence = (f.confidence + 0.2).min(0.95);
            f.evidence.push(Evidence::Context(w));
        }
    }
}

fn digits_at(bytes: &[u8], i: usize, max: usize) -> (u32, usize) {
    let mut n = 0u32;
    let mut j = i;
    while j < bytes.len() && j - i < max && bytes[j].is_ascii_digit() {
        n = n * 10 + u32::from(bytes[j] - b'0');
        j += 1;
    }
    (n, j - i)
}

/// `yyyy-mm-dd` with an optional time, `dd/mm/yyyy`, `mm/dd/yyyy`, `dd.mm.yyyy`,
/// `dd-mm-yyyy`; a year alone in prose.
fn numeric(bytes: &[u8], i: usize, mode: Mode) -> Option<Finding> {
    // Digits after `948-` or `1.2.` belong to another number.
    if i >= 2 && matches!(bytes[i - 1], b'.' | b'-' | b'/' | b':') && bytes[i - 2].is_ascii_digit()
    {
        return None;
    }
    let (a, la) = digits_at(bytes, i, 5);
    let sep = *bytes.get(i + la)?;
    if la == 4 && (sep == b'-' || sep == b'/') {
        let (m, lm) = digits_at(bytes, i + 5, 3);
        if lm == 2 && bytes.get(i + 7) == Some(&sep) {
            let (d, ld) = digits_at(bytes, i + 8, 3);
            if ld == 2 && valid_date(a, m, d) {
                let end = time(bytes, i + 10);
                if ends_word(bytes, end) {
                    return Some(Finding::new(
                        Kind::Date,
                        i..end,
                        0.9,
                        Evidence::Pattern("yyyy-mm-dd"),
                    ));
                }
            }
        }
        return None;
    }
    if (1..=2).contains(&la) && matches!(sep, b'/' | b'.' | b'-') {
        let (b, lb) = digits_at(bytes, i + la + 1, 3);
        if (1..=2).contains(&lb) && bytes.get(i + la + 1 + lb) == Some(&sep) {
            let ys = i + la + 2 + lb;
            let (y, ly) = digits_at(bytes, ys, 5);
            let end = ys + ly;
            if ly == 4
                && ends_word(bytes, end)
                && !(sep == b'.' && bytes.get(end) == Some(&b'.'))
                && (valid_date(y, b, a) || valid_date(y, a, b))
            {
                let end = time(bytes, end);
                return Some(Finding::new(
                    Kind::Date,
                    i..end,
                    0.8,
                    Evidence::Pattern("dd/mm/yyyy"),
                ));
            }
        }
        return None;
    }
    if la == 4 && mode == Mode::Text && (1900..=2099).contains(&a) && ends_word(bytes, i + 4) {
        // A year in prose, unless it is part of a longer number or a price.
        if !matches!(sep, b'.' | b',' | b'-' | b'/' | b':')
            || !bytes.get(i + 5).is_some_and(u8::is_ascii_digit)
        {
            return Some(Finding::new(
                Kind::Date,
                i..i + 4,
                0.3,
                Evidence::Pattern("year"),
            ));
        }
    }
    None
}

/// An optional time after a date: ` hh:mm[:ss[.ffffff]]` or `Thh:mm...`, and a zone
/// `Z`, `+hh`, `+hh:mm`.
fn time(bytes: &[u8], end: usize) -> usize {
    if !matches!(bytes.get(end), Some(b' ' | b'T')) {
        return end;
    }
    let (h, lh) = digits_at(bytes, end + 1, 3);
    if lh != 2 || h > 24 || bytes.get(end + 3) != Some(&b':') {
        return end;
    }
    let (mi, lm) = digits_at(bytes, end + 4, 3);
    if lm != 2 || mi > 59 {
        return end;
    }
    let mut j = end + 6;
    if bytes.get(j) == Some(&b':') {
        let (_, ls) = digits_at(bytes, j + 1, 3);
        if ls == 2 {
            j += 3;
            if bytes.get(j) == Some(&b'.') {
                let (_, lf) = digits_at(bytes, j + 1, 9);
                if lf > 0 {
                    j += 1 + lf;
                }
            }
        }
    }
    match bytes.get(j) {
        Some(b'Z') => j += 1,
        Some(b'+' | b'-') => {
            let (_, lz) = digits_at(bytes, j + 1, 3);
            if lz == 2 {
                j += 3;
                if bytes.get(j) == Some(&b':') && digits_at(bytes, j + 1, 3).1 == 2 {
                    j += 3;
                }
            }
        }
        _ => {}
    }
    j
}

/// The month named by the word at `i`, with the word's end.
fn month_at(text: &str, i: usize) -> Option<(u32, usize)> {
    let bytes = text.as_bytes();
    let mut j = i;
    while j < bytes.len() && crate::text::is_word(bytes[j]) {
        j += 1;
    }
    let word = text.get(i..j)?;
    if word.len() > 9 || word.len() < 3 {
        return None;
    }
    let lower = word.to_lowercase();
    let &(_, m) = MONTHS.iter().find(|(name, _)| *name == lower)?;
    let mut end = j;
    if bytes.get(end) == Some(&b'.') && lower.len() <= 4 {
        end += 1;
    }
    Some((m, end))
}

fn skip_spaces(bytes: &[u8], mut j: usize) -> usize {
    while bytes.get(j) == Some(&b' ') {
        j += 1;
    }
    j
}

/// `13 March 1956`, `13. März 1956`, `13 mars 1956`, `13 March`.
fn day_month_name(text: &str, i: usize) -> Option<Finding> {
    let bytes = text.as_bytes();
    let (d, ld) = digits_at(bytes, i, 3);
    if !(1..=2).contains(&ld) || !(1..=31).contains(&d) {
        return None;
    }
    let mut j = i + ld;
    if bytes.get(j) == Some(&b'.') {
        j += 1;
    }
    let j2 = skip_spaces(bytes, j);
    if j2 == j || !bytes.get(j2).is_some_and(u8::is_ascii_alphabetic) {
        return None;
    }
    let (m, end) = month_at(text, j2)?;
    let k = skip_spaces(bytes, end);
    let (y, ly) = digits_at(bytes, k, 5);
    if ly == 4 && k > end && ends_word(bytes, k + 4) {
        if valid_date(y, m, d) {
            return Some(Finding::new(
                Kind::Date,
                i..k + 4,
                0.85,
                Evidence::Pattern("d month yyyy"),
            ));
        }
        return None;
    }
    valid_date(2000, m, d)
        .then(|| Finding::new(Kind::Date, i..end, 0.6, Evidence::Pattern("d month")))
}

/// `March 13, 1956`, `March 1956`, `March 13`.
fn month_name_first(text: &str, i: usize) -> Option<Finding> {
    let bytes = text.as_bytes();
    if !bytes[i].is_ascii_uppercase() {
        return None;
    }
    let (m, end) = month_at(text, i)?;
    let k = skip_spaces(bytes, end);
    if k == end {
        return None;
    }
    let (n, ln) = digits_at(bytes, k, 5);
    if ln == 4 && ends_word(bytes, k + 4) {
        return Some(Finding::new(
            Kind::Date,
            i..k + 4,
            0.7,
            Evidence::Pattern("month yyyy"),
        ));
    }
    if (1..=2).contains(&ln) && valid_date(2000, m, n) {
        let mut e = k + ln;
        for suffix in [&b"st"[..], b"nd", b"rd", b"th"] {
            if bytes.len() >= e + 2 && bytes[e..e + 2].eq_ignore_ascii_case(suffix) {
                e += 2;
                break;
            }
        }
        if !ends_word(bytes, e) {
            return None;
        }
        let mut c = e;
        if bytes.get(c) == Some(&b',') {
            c += 1;
        }
        let y = skip_spaces(bytes, c);
        let (_, ly) = digits_at(bytes, y, 5);
        if ly == 4 && y > e && ends_word(bytes, y + 4) {
            return Some(Finding::new(
                Kind::Date,
                i..y + 4,
                0.85,
                Evidence::Pattern("month d, yyyy"),
            ));
        }
        return Some(Finding::new(
            Kind::Date,
            i..e,
            0.6,
            Evidence::Pattern("month d"),
        ));
    }
    None
}

/// A weekday's name, in prose only.
fn weekday(text: &str, i: usize, mode: Mode) -> Option<Finding> {
    if mode != Mode::Text {
        return None;
    }
    let bytes = text.as_bytes();
    let mut j = i;
    while j < bytes.len() && crate::text::is_word(bytes[j]) {
        j += 1;
    }
    let word = text.get(i..j)?;
    if !(5..=10).contains(&word.len()) {
        return None;
    }
    let lower = word.to_lowercase();
    WEEKDAYS
        .contains(&lower.as_str())
        .then(|| Finding::new(Kind::Date, i..j, 0.5, Evidence::Pattern("weekday")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dates(text: &str, mode: Mode) -> Vec<(Kind, &str)> {
        let mut out = Vec::new();
        scan(text, mode, &mut out);
        out.iter()
            .map(|f| (f.kind, &text[f.span.clone()]))
            .collect()
    }

    #[test]
    fn iso_and_timestamps() {
        assert_eq!(
            dates("2022-02-17 14:29:37.165114+00", Mode::Value),
            vec![(Kind::Date, "2022-02-17 14:29:37.165114+00")]
        );
        assert_eq!(
            dates("1962-02-18 00:00:00", Mode::Value),
            vec![(Kind::Date, "1962-02-18 00:00:00")]
        );
        assert!(dates("2022-02-30", Mode::Value).is_empty());
    }

    #[test]
    fn numeric_and_named_months() {
        assert_eq!(
            dates("on 2/10/1985.", Mode::Text),
            vec![(Kind::Date, "2/10/1985")]
        );
        assert_eq!(
            dates("13.03.1956", Mode::Text),
            vec![(Kind::Date, "13.03.1956")]
        );
        assert_eq!(
            dates("13 March 1956", Mode::Text),
            vec![(Kind::Date, "13 March 1956")]
        );
        assert_eq!(
            dates("March 13, 1956", Mode::Text),
            vec![(Kind::Date, "March 13, 1956")]
        );
        assert_eq!(
            dates("le 3 août 1990", Mode::Text),
            vec![(Kind::Date, "3 août 1990")]
        );
        assert!(dates("may I", Mode::Text).is_empty());
    }

    #[test]
    fn a_year_inside_another_number_is_not_one() {
        assert!(dates("Phone: 201-948-1927", Mode::Text).is_empty());
    }

    #[test]
    fn years_and_weekdays_in_prose_only() {
        assert_eq!(
            dates("founded in 1977.", Mode::Text),
            vec![(Kind::Date, "1977")]
        );
        assert!(dates("2023", Mode::Value).is_empty());
        assert_eq!(
            dates("on Thursday", Mode::Text),
            vec![(Kind::Date, "Thursday")]
        );
    }

    #[test]
    fn dates_of_birth_by_context() {
        assert_eq!(
            dates("born on 13 March 1956", Mode::Text),
            vec![(Kind::DateOfBirth, "13 March 1956")]
        );
        assert_eq!(
            dates("Geburtsdatum: 13.03.1956", Mode::Text),
            vec![(Kind::DateOfBirth, "13.03.1956")]
        );
        assert_eq!(
            dates("née le 3 août 1990", Mode::Text),
            vec![(Kind::DateOfBirth, "3 août 1990")]
        );
    }
}
