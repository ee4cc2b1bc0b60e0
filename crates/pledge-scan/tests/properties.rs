//! Properties of the scanner: generated card numbers and IBANs checked against models
//! written here independently of the crate's checks, and the invariants of every
//! finding on arbitrary text.

use pledge_scan::{Kind, Scanner, classify_column};
use proptest::prelude::*;

/// The Luhn check digit for `body`, by the textbook rule: double every second digit
/// from the right of the full number, subtract 9 from doubles above 9.
fn luhn_digit(body: &[u8]) -> u8 {
    let mut total = 0u32;
    for (pos, d) in body.iter().rev().enumerate() {
        let v = u32::from(*d);
        total += if pos % 2 == 0 {
            let x = v * 2;
            if x > 9 { x - 9 } else { x }
        } else {
            v
        };
    }
    ((10 - total % 10) % 10) as u8
}

/// `n mod 97` of a long decimal string, by long division.
fn mod97(decimal: &str) -> u32 {
    decimal
        .bytes()
        .fold(0u32, |r, b| (r * 10 + u32::from(b - b'0')) % 97)
}

/// An IBAN of `country` with a numeric `bban`: check digits `98 - (bban country 00 mod 97)`,
/// letters as 10..35.
fn make_iban(country: &str, bban: &str) -> String {
    let letters: String = country
        .bytes()
        .map(|c| (u32::from(c - b'A') + 10).to_string())
        .collect();
    let check = 98 - mod97(&format!("{bban}{letters}00"));
    format!("{country}{check:02}{bban}")
}

fn digits(n: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(0u8..10, n)
}

fn text_of(ds: &[u8]) -> String {
    ds.iter().map(|d| char::from(b'0' + d)).collect()
}

fn kinds(text: &str) -> Vec<(Kind, String)> {
    Scanner::shared()
        .scan_text(text)
        .into_iter()
        .map(|f| (f.kind, text[f.span].to_string()))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn generated_visa_and_mastercard_numbers_are_found(body in digits(14), mc in any::<bool>(), sep in prop::sample::select(vec!["", " ", "-"])) {
        let mut number = if mc { vec![2, 2, 2, 1 + body[0] % 9] } else { vec![4] };
        number.extend_from_slice(&body[..15 - number.len()]);
        number.push(luhn_digit(&number));
        let plain = text_of(&number);
        let shown = if sep.is_empty() {
            plain.clone()
        } else {
            plain.as_bytes().chunks(4).map(|c| std::str::from_utf8(c).unwrap_or_default()).collect::<Vec<_>>().join(sep)
        };
        let text = format!("my card is {shown}, thanks");
        prop_assert!(kinds(&text).contains(&(Kind::PaymentCard, shown.clone())), "{text}");
        // Any one digit changed breaks the check (Luhn catches every single-digit error).
        let mut wrong = number.clone();
        wrong[7] = (wrong[7] + 1) % 10;
        let text = format!("my card is {}, thanks", text_of(&wrong));
        prop_assert!(!kinds(&text).iter().any(|(k, _)| *k == Kind::PaymentCard), "{text}");
    }

    #[test]
    fn generated_ibans_are_found_compact_and_grouped(
        country in prop::sample::select(vec![("DE", 18usize), ("FR", 23), ("DK", 14), ("BE", 12), ("PL", 24), ("IT", 23)]),
        raw in digits(24),
        grouped in any::<bool>(),
    ) {
        let (code, len) = country;
        // Italy's BBAN starts with a letter; use a numeric one of the same length for the
        // others and an `X` there.
        let mut bban = text_of(&raw[..len]);
        if code == "IT" {
            bban.replace_range(0..1, "X");
        }
        let iban = if code == "IT" {
            // X counts as 33.
            let numeric = format!("33{}", &bban[1..]);
            let check = 98 - mod97(&format!("{numeric}{}{}00", 18, 29));
            format!("IT{check:02}{bban}")
        } else {
            make_iban(code, &bban)
        };
        let shown = if grouped {
            iban.as_bytes().chunks(4).map(|c| std::str::from_utf8(c).unwrap_or_default()).collect::<Vec<_>>().join(" ")
        } else {
            iban.clone()
        };
        let text = format!("IBAN: {shown}.");
        prop_assert!(kinds(&text).contains(&(Kind::Iban, shown.clone())), "{text}");
        let mut wrong = iban.into_bytes();
        let k = wrong.len() - 3;
        wrong[k] = if wrong[k] == b'9' { b'0' } else { wrong[k] + 1 };
        let wrong = String::from_utf8(wrong).unwrap_or_default();
        let wrong_text = format!("IBAN: {wrong}.");
        prop_assert!(!kinds(&wrong_text).iter().any(|(k, _)| *k == Kind::Iban), "{}", wrong_text);
    }

    #[test]
    fn dashed_ssns_follow_the_area_rules(area in 0u32..1000, group in 0u32..100, serial in 0u32..10000) {
        let ssn = format!("{area:03}-{group:02}-{serial:04}");
        let valid = area != 0 && area != 666 && area < 900 && group != 0 && serial != 0
            && !matches!((area, group, serial), (78, 5, 1120) | (219, 9, 9999) | (123, 45, 6789));
        let found = kinds(&format!("SSN {ssn}")).contains(&(Kind::UsSsn, ssn.clone()));
        prop_assert_eq!(found, valid, "{}", ssn);
    }

    #[test]
    fn findings_are_in_bounds_on_boundaries_and_sorted(text in "\\PC{0,200}") {
        for findings in [Scanner::shared().scan_text(&text), Scanner::shared().scan_value(&text)] {
            let mut last_start = 0;
            for f in &findings {
                prop_assert!(f.span.start < f.span.end && f.span.end <= text.len());
                prop_assert!(text.is_char_boundary(f.span.start) && text.is_char_boundary(f.span.end));
                prop_assert!(f.span.start >= last_start);
                prop_assert!((0.0..=1.0).contains(&f.confidence));
                prop_assert!(!f.evidence.is_empty());
                last_start = f.span.start;
            }
            // Findings other than special-category words do not overlap.
            let plain: Vec<_> = findings.iter().filter(|f| !matches!(f.kind, Kind::Special(_))).collect();
            for w in plain.windows(2) {
                prop_assert!(w[0].span.end <= w[1].span.start, "{:?}", w);
            }
        }
    }

    #[test]
    fn digit_heavy_text_never_panics(text in "[0-9 +()./:@A-Za-z-]{0,80}") {
        let _ = Scanner::shared().scan_text(&text);
        let _ = Scanner::shared().scan_value(&text);
    }

    #[test]
    fn any_string_never_panics(text in any::<String>()) {
        for f in Scanner::shared().scan_text(&text).into_iter().chain(Scanner::shared().scan_value(&text)) {
            prop_assert!(text.get(f.span.clone()).is_some());
        }
    }

    #[test]
    fn column_classification_never_panics(name in "\\PC{0,30}", ty in "\\PC{0,12}", samples in prop::collection::vec("\\PC{0,60}", 0..8)) {
        if let Some(c) = classify_column(&name, &ty, &samples) {
            prop_assert!((0.0..=1.0).contains(&c.confidence));
            prop_assert!(!c.evidence.is_empty());
        }
    }
}

#[test]
fn the_models_agree_with_known_numbers() {
    assert_eq!(
        luhn_digit(&[4, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]),
        1
    );
    assert_eq!(
        make_iban("DE", "370400440532013000"),
        "DE89370400440532013000"
    );
}

/// Every category the crate returns is a category of the declaration's taxonomy. Read
/// from the taxonomy's source, so that this crate needs no dependency on the language.
#[test]
fn categories_are_the_taxonomys() {
    let taxonomy = include_str!("../../pledge-lang/src/taxonomy.rs");
    let known = |c: &str| taxonomy.contains(&format!("\"{c}\""));
    let kinds = Kind::ALL;
    let specials = pledge_scan::Special::ALL.map(Kind::Special);
    for k in kinds.into_iter().chain(specials) {
        if let Some(c) = k.category() {
            assert!(
                known(c),
                "{k:?} maps to {c}, which the taxonomy does not have"
            );
        }
    }
    for c in pledge_scan::column::name_categories() {
        assert!(
            known(c),
            "the column dictionary uses {c}, which the taxonomy does not have"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Structured data between characters of any script keeps its exact span.
    #[test]
    fn structured_data_among_other_scripts_keeps_its_span(
        before in "[\\p{Han}\\p{Greek}\\p{Cyrillic}éøß ]{0,12}",
        after in "[\\p{Han}\\p{Greek}\\p{Cyrillic}éøß ]{0,12}",
        which in 0usize..4,
    ) {
        let (kind, data) = [
            (Kind::Email, "jane.doe@example.org"),
            (Kind::Iban, "GB82WEST12345698765432"),
            (Kind::IpAddress, "2001:db8::1"),
            (Kind::Url, "https://example.com/a?b=c"),
        ][which];
        let text = format!("{before} {data} {after}");
        let found = Scanner::shared().scan_text(&text);
        let start = before.len() + 1;
        prop_assert!(
            found.iter().any(|f| f.kind == kind && f.span == (start..start + data.len())),
            "{:?} in {:?}: {:?}", kind, text, found
        );
    }
}

/// Long and repetitive inputs take linear time: each of these would take minutes if a
/// recogniser were quadratic.
#[test]
fn long_repetitive_texts_scan_in_linear_time() {
    let n = 100_000;
    let texts = [
        format!("http://a.b{}", ".".repeat(n)),
        "x@example.org ".repeat(n / 10),
        "1 ".repeat(n),
        "a:".repeat(n),
        "Mary Smith ".repeat(n / 10),
        "+45 32 12 34 56, ".repeat(n / 10),
        "diabetes ".repeat(n / 10),
        "(".repeat(n),
    ];
    for t in &texts {
        let found = Scanner::shared().scan_text(t);
        assert!(found.len() <= t.len());
        let _ = Scanner::shared().scan_value(t);
    }
}
