//! Check digits and validity rules, on ASCII digits and letters. Each function takes the
//! characters without separators and never panics on other input (it returns `false`).

/// The Luhn (mod 10) check of payment cards: doubling every second digit from the right.
pub fn luhn(digits: &[u8]) -> bool {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let mut sum = 0u32;
    for (i, d) in digits.iter().rev().enumerate() {
        let mut v = u32::from(d - b'0');
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum.is_multiple_of(10)
}

/// The length of an IBAN for its country (ISO 13616 registry), `None` for a country
/// without IBANs.
pub fn iban_length(country: [u8; 2]) -> Option<usize> {
    let c = [
        country[0].to_ascii_uppercase(),
        country[1].to_ascii_uppercase(),
    ];
    let len = match &c {
        b"NO" => 15,
        b"BE" => 16,
        b"DK" | b"FI" | b"FO" | b"GL" | b"NL" | b"SD" | b"FK" => 18,
        b"MK" | b"SI" => 19,
        b"AT" | b"BA" | b"EE" | b"KZ" | b"LT" | b"LU" | b"XK" | b"MN" => 20,
        b"CH" | b"HR" | b"LI" | b"LV" => 21,
        b"BG" | b"BH" | b"CR" | b"DE" | b"GB" | b"GE" | b"IE" | b"ME" | b"RS" | b"VA" => 22,
        b"AE" | b"GI" | b"IL" | b"IQ" | b"OM" | b"SO" | b"TL" => 23,
        b"AD" | b"CZ" | b"ES" | b"MD" | b"PK" | b"RO" | b"SA" | b"SE" | b"SK" | b"TN" | b"VG" => 24,
        b"LY" | b"PT" | b"ST" => 25,
        b"IS" | b"TR" => 26,
        b"BI" | b"DJ" | b"FR" | b"GR" | b"IT" | b"MC" | b"MR" | b"SM" => 27,
        b"AL" | b"AZ" | b"BY" | b"CY" | b"DO" | b"GT" | b"HN" | b"HU" | b"LB" | b"NI" | b"PL"
        | b"SV" => 28,
        b"BR" | b"EG" | b"PS" | b"QA" | b"UA" => 29,
        b"JO" | b"KW" | b"MU" | b"YE" => 30,
        b"MT" | b"SC" => 31,
        b"LC" => 32,
        b"RU" => 33,
        _ => return None,
    };
    Some(len)
}

/// The ISO 7064 MOD 97-10 check of an IBAN (letters and digits, no spaces, any case):
/// the four first characters moved to the end, letters as 10..35, the number mod 97 is 1.
pub fn iban_mod97(iban: &[u8]) -> bool {
    if iban.len() < 5 || !iban.iter().all(u8::is_ascii_alphanumeric) {
        return false;
    }
    let mut rem = 0u32;
    for &c in iban[4..].iter().chain(&iban[..4]) {
        let c = c.to_ascii_uppercase();
        if c.is_ascii_digit() {
            rem = (rem * 10 + u32::from(c - b'0')) % 97;
        } else {
            let v = u32::from(c - b'A') + 10;
            rem = (rem * 100 + v) % 97;
        }
    }
    rem == 1
}

/// The numeric value of ASCII digits, `None` past `u64` or on a non-digit.
pub fn number(digits: &[u8]) -> Option<u64> {
    let mut n = 0u64;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    Some(n)
}

/// A French social security number (NIR): 13 characters (sex, year, month, department
/// with `2A`/`2B` for Corsica, commune, order) and a key of two digits, `97 - n mod 97`.
pub fn fr_nir(nir: &[u8]) -> bool {
    if nir.len() != 15 {
        return false;
    }
    if !matches!(nir[0], b'1' | b'2' | b'3' | b'4' | b'7' | b'8') {
        return false;
    }
    let month = match number(&nir[3..5]) {
        Some(m) => m,
        None => return false,
    };
    if !(1..=12).contains(&month) && !(20..=42).contains(&month) && !(50..=99).contains(&month) {
        return false;
    }
    let mut body = [0u8; 13];
    body.copy_from_slice(&nir[..13]);
    // Corsica: the department 2A counts as 19, 2B as 18, in the key's computation.
    let corsica = match body[6].to_ascii_uppercase() {
        b'A' if body[5] == b'2' => 1_000_000,
        b'B' if body[5] == b'2' => 2_000_000,
        _ => 0,
    };
    if corsica != 0 {
        body[6] = b'0';
    }
    let (Some(n), Some(key)) = (number(&body), number(&nir[13..])) else {
        return false;
    };
    let n = n - corsica;
    key == 97 - n % 97
}

/// Whether day/month/year is a date of the Gregorian calendar.
pub fn valid_date(year: u32, month: u32, day: u32) -> bool {
    let leap = (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&day)
}

/// A Danish CPR number (`ddmmyy` and four digits): whether the date is valid, with the
/// century read from the seventh digit, and whether the old modulus 11 check holds
/// (not guaranteed since 2007, so only a hint).
pub fn dk_cpr(cpr: &[u8]) -> Option<bool> {
    if cpr.len() != 10 || !cpr.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let d = |i: usize| u32::from(cpr[i] - b'0');
    let day = d(0) * 10 + d(1);
    let month = d(2) * 10 + d(3);
    let yy = d(4) * 10 + d(5);
    let century = match (d(6), yy) {
        (0..=3, _) => 1900,
        (4 | 9, 0..=36) => 2000,
        (4 | 9, _) => 1900,
        (5..=8, 0..=57) => 2000,
        (5..=8, _) => 1800,
        _ => return None,
    };
    if !valid_date(century + yy, month, day) {
        return None;
    }
    const W: [u32; 10] = [4, 3, 2, 7, 6, 5, 4, 3, 2, 1];
    let sum: u32 = (0..10).map(|i| d(i) * W[i]).sum();
    Some(sum.is_multiple_of(11))
}

/// A German tax identification number (Steuer-IdNr): eleven digits, the first not 0,
/// in the first ten one digit twice or three times (not three in a row) and the others
/// at most once, and the last the ISO 7064 MOD 11,10 check digit of the first ten.
pub fn de_tax_id(id: &[u8]) -> bool {
    if id.len() != 11 || !id.iter().all(u8::is_ascii_digit) || id[0] == b'0' {
        return false;
    }
    let mut counts = [0u8; 10];
    for &c in &id[..10] {
        counts[usize::from(c - b'0')] += 1;
    }
    let repeated: Vec<u8> = counts.iter().copied().filter(|&n| n > 1).collect();
    if repeated.len() != 1 || repeated[0] > 3 {
        return false;
    }
    if repeated[0] == 3 && id[..10].windows(3).any(|w| w[0] == w[1] && w[1] == w[2]) {
        return false;
    }
    let mut product = 10u32;
    for &c in &id[..10] {
        let mut sum = (u32::from(c - b'0') + product) % 10;
        if sum == 0 {
            sum = 10;
        }
        product = (sum * 2) % 11;
    }
    let check = (11 - product) % 10;
    u32::from(id[10] - b'0') == check
}

/// A UK National Insurance number's two letters: not D, F, I, Q, U, V first; not D, F,
/// I, O, Q, U, V second; and not one of the prefixes never issued.
pub fn uk_nino_prefix(a: u8, b: u8) -> bool {
    let a = a.to_ascii_uppercase();
    let b = b.to_ascii_uppercase();
    if !a.is_ascii_uppercase() || !b.is_ascii_uppercase() {
        return false;
    }
    if b"DFIQUV".contains(&a) || b"DFIOQUV".contains(&b) {
        return false;
    }
    !matches!(
        &[a, b],
        b"BG" | b"GB" | b"KN" | b"NK" | b"NT" | b"TN" | b"ZZ"
    )
}

/// A US Social Security number's parts: area not 000, 666 or 900-999, group not 00,
/// serial not 0000, and not one of the numbers known from advertising.
pub fn us_ssn(area: u32, group: u32, serial: u32) -> bool {
    if area == 0 || area == 666 || area >= 900 || group == 0 || serial == 0 {
        return false;
    }
    !matches!(
        (area, group, serial),
        (78, 5, 1120) | (219, 9, 9999) | (123, 45, 6789)
    )
}

/// The ISBN-13 / EAN-13 check (weights 1 and 3).
pub fn ean13(digits: &[u8]) -> bool {
    if digits.len() != 13 || !digits.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .enumerate()
        .map(|(i, d)| u32::from(d - b'0') * if i % 2 == 0 { 1 } else { 3 })
        .sum();
    sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_accepts_known_numbers_and_rejects_a_changed_digit() {
        assert!(luhn(b"4111111111111111"));
        assert!(luhn(b"2221000000000009"));
        assert!(luhn(b"378282246310005"));
        assert!(!luhn(b"4111111111111112"));
        assert!(!luhn(b""));
        assert!(!luhn(b"41x1"));
    }

    #[test]
    fn iban_checks_the_remainder_and_knows_lengths() {
        assert!(iban_mod97(b"GB82WEST12345698765432"));
        assert!(iban_mod97(b"gb82west12345698765432"));
        assert!(iban_mod97(b"DE89370400440532013000"));
        assert!(!iban_mod97(b"GB82WEST12345698765433"));
        assert_eq!(iban_length(*b"GB"), Some(22));
        assert_eq!(iban_length(*b"no"), Some(15));
        assert_eq!(iban_length(*b"US"), None);
    }

    #[test]
    fn nir_key_and_corsica() {
        // 1 84 12 76 451 089, key 97 - (1841276451089 mod 97).
        let body = 1_841_276_451_089u64;
        let key = 97 - body % 97;
        let nir = format!("{body}{key:02}");
        assert!(fr_nir(nir.as_bytes()));
        let wrong = format!("{body}{:02}", (key + 1) % 100);
        assert!(!fr_nir(wrong.as_bytes()));
        // Corsica 2A: computed with 19 in place of 2A (n - 1,000,000).
        let corsican = 2_690_220_012_345u64 - 1_000_000;
        let key = 97 - corsican % 97;
        let nir = format!("269022A012345{key:02}");
        assert!(fr_nir(nir.as_bytes()));
    }

    #[test]
    fn cpr_dates_and_modulus() {
        // 070761-4285: the classic example that passes modulus 11.
        assert_eq!(dk_cpr(b"0707614285"), Some(true));
        assert_eq!(dk_cpr(b"0707614286"), Some(false));
        assert_eq!(dk_cpr(b"3102901234"), None); // 31 February
        // 29 February 1900 (seventh digit 1: 1900, not a leap year) and 2000 (digit 4).
        assert_eq!(dk_cpr(b"2902001234"), None);
        assert!(dk_cpr(b"2902004234").is_some());
    }

    #[test]
    fn de_tax_id_check_digit() {
        assert!(de_tax_id(b"86095742719"));
        assert!(!de_tax_id(b"86095742718"));
        assert!(!de_tax_id(b"01234567890"));
        assert!(!de_tax_id(b"12345678901")); // no repeated digit
    }

    #[test]
    fn nino_prefixes() {
        assert!(uk_nino_prefix(b'A', b'B'));
        assert!(!uk_nino_prefix(b'G', b'B'));
        assert!(!uk_nino_prefix(b'D', b'A'));
        assert!(!uk_nino_prefix(b'A', b'O'));
    }

    #[test]
    fn ssn_areas() {
        assert!(us_ssn(123, 45, 6788));
        assert!(!us_ssn(666, 12, 1234));
        assert!(!us_ssn(900, 12, 1234));
        assert!(!us_ssn(0, 12, 1234));
        assert!(!us_ssn(78, 5, 1120));
    }
}
