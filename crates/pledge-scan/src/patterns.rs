//! The recognisers of shapes and check digits: e-mail, URL, IP, payment card, IBAN,
//! telephone, US SSN, FR NIR, DK CPR, UK NINO, DE Steuer-IdNr, postal codes of a
//! distinctive shape. Each walks the bytes once; spans start and end on ASCII bytes, so
//! always on character boundaries.

use crate::check;
use crate::text::{context, ends_word, is_word, starts_word};
use crate::{Evidence, Finding, Kind, Mode};

pub fn scan(text: &str, mode: Mode, out: &mut Vec<Finding>) {
    let bytes = text.as_bytes();
    emails(bytes, out);
    urls(text, bytes, out);
    ipv6(text, bytes, out);
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b.is_ascii_digit() && starts_word(bytes, i) {
            numbers(text, bytes, i, mode, out);
            // Skip the rest of this run of digits: every recogniser started here.
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            continue;
        }
        if b.is_ascii_alphabetic() && starts_word(bytes, i) {
            iban(bytes, i, out);
            nino(bytes, i, out);
            postal_letters(bytes, i, mode, out);
            while i < bytes.len() && is_word(bytes[i]) {
                i += 1;
            }
            continue;
        }
        if (b == b'+' || b == b'(') && bytes.get(i + 1).is_some_and(u8::is_ascii_digit) {
            let before_ok = i == 0 || !is_word(bytes[i - 1]);
            if before_ok {
                phone(text, bytes, i, mode, out);
            }
        }
        i += 1;
    }
}

/// The recognisers that start on a digit.
fn numbers(text: &str, bytes: &[u8], i: usize, mode: Mode, out: &mut Vec<Finding>) {
    // A digit right after `.`, `-` or `/` and a digit continues another number.
    if i >= 2 && matches!(bytes[i - 1], b'.' | b'-' | b'/' | b':') && bytes[i - 2].is_ascii_digit()
    {
        return;
    }
    ipv4(bytes, i, out);
    cards(bytes, i, out);
    ssn(text, bytes, i, mode, out);
    nir(bytes, i, out);
    cpr(text, bytes, i, mode, out);
    de_tax_id(text, bytes, i, mode, out);
    phone(text, bytes, i, mode, out);
    postal_digits(bytes, i, mode, out);
}

// ---------------------------------------------------------------- e-mail and URL

fn is_local(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"._%+-'!#$&*=?^`{|}~/".contains(&b)
}

fn is_host(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'.'
}

/// `local@domain.tld`: the local part of the usual characters, a domain of two labels or
/// more, a top-level label of letters.
fn emails(bytes: &[u8], out: &mut Vec<Finding>) {
    let mut from = 0;
    while let Some(at) = bytes[from..]
        .iter()
        .position(|&b| b == b'@')
        .map(|p| p + from)
    {
        from = at + 1;
        let mut start = at;
        while start > 0 && is_local(bytes[start - 1]) {
            start -= 1;
        }
        while start < at && matches!(bytes[start], b'.' | b'\'' | b'`' | b'/' | b'-') {
            start += 1;
        }
        if start == at {
            continue;
        }
        let mut end = at + 1;
        while end < bytes.len() && is_host(bytes[end]) {
            end += 1;
        }
        while end > at + 1 && matches!(bytes[end - 1], b'.' | b'-') {
            end -= 1;
        }
        let domain = &bytes[at + 1..end];
        let Some(dot) = domain.iter().rposition(|&b| b == b'.') else {
            continue;
        };
        let tld = &domain[dot + 1..];
        let labels_ok = domain.split(|&b| b == b'.').all(|l| !l.is_empty());
        if tld.len() >= 2 && tld.iter().all(u8::is_ascii_alphabetic) && labels_ok {
            out.push(Finding::new(
                Kind::Email,
                start..end,
                0.95,
                Evidence::Pattern("local@domain"),
            ));
            from = end;
        }
    }
}

fn starts_with_ci(bytes: &[u8], i: usize, what: &[u8]) -> bool {
    bytes.len() >= i + what.len() && bytes[i..i + what.len()].eq_ignore_ascii_case(what)
}

/// `http://`, `https://`, `ftp://` or `www.` and a host with a dot, up to white space;
/// trailing punctuation is left out. The domain of an e-mail address is not a URL.
fn urls(text: &str, bytes: &[u8], out: &mut Vec<Finding>) {
    let mut i = 0;
    while i + 4 <= bytes.len() {
        let b = bytes[i] | 0x20;
        if (b != b'h' && b != b'w' && b != b'f') || !starts_word(bytes, i) {
            i += 1;
            continue;
        }
        let host_from = if starts_with_ci(bytes, i, b"https://") {
            i + 8
        } else if starts_with_ci(bytes, i, b"http://") {
            i + 7
        } else if starts_with_ci(bytes, i, b"ftp://") {
            i + 6
        } else if starts_with_ci(bytes, i, b"www.")
            && (i == 0 || !matches!(bytes[i - 1], b'@' | b'.' | b'/'))
        {
            i
        } else {
            i += 1;
            continue;
        };
        let mut host_end = host_from;
        while host_end < bytes.len() && (is_host(bytes[host_end]) || bytes[host_end] == b':') {
            host_end += 1;
        }
        let host = &bytes[host_from..host_end];
        let has_dot = host.contains(&b'.') && host.first().is_some_and(u8::is_ascii_alphanumeric);
        if !has_dot {
            i = host_end.max(i + 1);
            continue;
        }
        let mut end = host_end;
        while end < bytes.len()
            && !bytes[end].is_ascii_whitespace()
            && !b"<>\"{}|\\^`".contains(&bytes[end])
            && bytes[end] >= 0x20
        {
            end += 1;
        }
        // White space outside ASCII (a no-break space) ends the URL too. `end` stopped on
        // an ASCII byte or the end of the text, so it is a character boundary.
        if let Some(ws) = text[i..end].find(|c: char| c.is_whitespace()) {
            end = i + ws;
        }
        // Trailing punctuation belongs to the sentence, a closing bracket only if unopened.
        let mut opens = bytes[i..end].iter().filter(|&&b| b == b'(').count();
        let mut closes = bytes[i..end].iter().filter(|&&b| b == b')').count();
        while let Some(&last) = bytes[..end].last() {
            if b".,;:!?'*".contains(&last) || (last == b')' && closes > opens) || (last == b']') {
                end -= 1;
                match last {
                    b')' => closes -= 1,
                    b'(' => opens -= 1,
                    _ => {}
                }
            } else {
                break;
            }
        }
        out.push(Finding::new(
            Kind::Url,
            i..end,
            0.9,
            Evidence::Pattern("scheme or www"),
        ));
        i = end.max(i + 1);
    }
}

// ---------------------------------------------------------------- IP addresses

/// Four decimal octets of at most 255, not inside a longer dotted number.
fn ipv4(bytes: &[u8], i: usize, out: &mut Vec<Finding>) {
    let mut j = i;
    for part in 0..4 {
        let from = j;
        while j < bytes.len() && bytes[j].is_ascii_digit() && j - from < 4 {
            j += 1;
        }
        let len = j - from;
        if len == 0 || len > 3 || check::number(&bytes[from..j]).is_none_or(|n| n > 255) {
            return;
        }
        if part < 3 {
            if bytes.get(j) != Some(&b'.') {
                return;
            }
            j += 1;
        }
    }
    let dotted_on = bytes.get(j) == Some(&b'.') && bytes.get(j + 1).is_some_and(u8::is_ascii_digit);
    if !ends_word(bytes, j) || dotted_on {
        return;
    }
    out.push(Finding::new(
        Kind::IpAddress,
        i..j,
        0.9,
        Evidence::Pattern("ipv4"),
    ));
}

/// Runs of hexadecimal digits and colons (with a dotted IPv4 tail) that the standard
/// library reads as an IPv6 address.
fn ipv6(text: &str, bytes: &[u8], out: &mut Vec<Finding>) {
    let mut from = 0;
    while let Some(c) = bytes[from..]
        .iter()
        .position(|&b| b == b':')
        .map(|p| p + from)
    {
        let mut start = c;
        while start > 0 && (bytes[start - 1].is_ascii_hexdigit() || bytes[start - 1] == b':') {
            start -= 1;
        }
        let mut end = c;
        while end < bytes.len()
            && (bytes[end].is_ascii_hexdigit() || bytes[end] == b':' || bytes[end] == b'.')
        {
            end += 1;
        }
        while end > c && bytes[end - 1] == b'.' {
            end -= 1;
        }
        from = end.max(c + 1);
        let colons = bytes[start..end].iter().filter(|&&b| b == b':').count();
        if colons < 2 || !starts_word(bytes, start) || !ends_word(bytes, end) {
            continue;
        }
        let hexes = bytes[start..end]
            .iter()
            .filter(|b| b.is_ascii_hexdigit())
            .count();
        if hexes < 2 {
            continue;
        }
        if text[start..end].parse::<std::net::Ipv6Addr>().is_ok() {
            out.push(Finding::new(
                Kind::IpAddress,
                start..end,
                0.9,
                Evidence::Pattern("ipv6"),
            ));
        }
    }
}

// ---------------------------------------------------------------- digit groups

/// Digits in groups: `digits` without separators, the end of each group, the separator.
struct Groups {
    digits: [u8; 24],
    len: usize,
    /// (end in `digits`, end in bytes) of each group.
    ends: [(usize, usize); 12],
    count: usize,
    same_separator: bool,
}

/// Reads digits from `i`, in groups joined by one of `seps` (the same one each time), up
/// to 24 digits and 12 groups.
fn groups(bytes: &[u8], i: usize, seps: &[u8]) -> Groups {
    let mut g = Groups {
        digits: [0; 24],
        len: 0,
        ends: [(0, 0); 12],
        count: 0,
        same_separator: true,
    };
    let mut sep: Option<u8> = None;
    let mut j = i;
    loop {
        while j < bytes.len() && bytes[j].is_ascii_digit() {
            if g.len == g.digits.len() {
                return g;
            }
            g.digits[g.len] = bytes[j];
            g.len += 1;
            j += 1;
        }
        g.ends[g.count] = (g.len, j);
        g.count += 1;
        if g.count == g.ends.len() {
            return g;
        }
        let Some(&s) = bytes.get(j) else { return g };
        if !seps.contains(&s) || !bytes.get(j + 1).is_some_and(u8::is_ascii_digit) {
            return g;
        }
        if sep.is_some_and(|p| p != s) {
            g.same_separator = false;
        }
        sep = Some(s);
        j += 1;
    }
}

// ---------------------------------------------------------------- payment cards

/// The brand whose issuer ranges and lengths a card number fits.
fn card_brand(d: &[u8]) -> Option<&'static str> {
    let n = d.len();
    let p = |k: usize| check::number(&d[..k.min(n)]).unwrap_or(0);
    let (p1, p2, p3, p4, p6) = (p(1), p(2), p(3), p(4), p(6));
    let brand = if p1 == 4 && matches!(n, 13 | 16 | 19) {
        "visa"
    } else if ((51..=55).contains(&p2) || (2221..=2720).contains(&p4)) && n == 16 {
        "mastercard"
    } else if matches!(p2, 34 | 37) && n == 15 {
        "amex"
    } else if ((300..=305).contains(&p3) || p4 == 3095 || matches!(p2, 36 | 38 | 39))
        && (14..=19).contains(&n)
    {
        "diners"
    } else if p2 == 35 && (16..=19).contains(&n) {
        // JCB's ranges are 3528-3589; the rest of 35 is unassigned, and generators (and
        // typists) use it: a Luhn-valid 35 number is read as JCB.
        "jcb"
    } else if matches!(p4, 2131 | 1800) && n == 15 {
        "jcb"
    } else if (p4 == 6011
        || (644..=649).contains(&p3)
        || p2 == 65
        || (622126..=622925).contains(&p6))
        && (16..=19).contains(&n)
    {
        "discover"
    } else if p2 == 62 && (16..=19).contains(&n) {
        "unionpay"
    } else if (2200..=2204).contains(&p4) && (16..=19).contains(&n) {
        "mir"
    } else if p4 == 5019 && n == 16 {
        "dankort"
    } else if (p2 == 50 || (56..=69).contains(&p2) || p4 == 6390 || p4 == 604)
        && (12..=19).contains(&n)
    {
        // 0604 (Laser, read as 604 by the four first digits) and 6390 are Maestro's too.
        "maestro"
    } else if p4 == 9792 && n == 16 {
        "troy"
    } else if p1 == 1 && n == 15 {
        "uatp"
    } else {
        return None;
    };
    if p4 == 604 && d[0] != b'0' {
        return None;
    }
    Some(brand)
}

/// 12 to 19 digits, compact or in groups joined by one space or dash each, of a known
/// brand, with a valid Luhn digit. Every prefix of whole groups is tried, so a card
/// number followed by another number is still found.
fn cards(bytes: &[u8], i: usize, out: &mut Vec<Finding>) {
    let g = groups(bytes, i, b" -");
    if !g.same_separator {
        return;
    }
    for k in (0..g.count).rev() {
        let (n, end) = g.ends[k];
        if !(12..=19).contains(&n) || !ends_word(bytes, end) {
            continue;
        }
        let d = &g.digits[..n];
        if let Some(brand) = card_brand(d)
            && check::luhn(d)
        {
            out.push(
                Finding::new(Kind::PaymentCard, i..end, 0.9, Evidence::Checksum("luhn"))
                    .with(Evidence::Pattern(brand)),
            );
            return;
        }
    }
}

// ---------------------------------------------------------------- IBAN

/// A country code, two check digits and the country's length of letters and digits,
/// compact or in groups of four, with a valid mod-97 remainder.
fn iban(bytes: &[u8], i: usize, out: &mut Vec<Finding>) {
    if bytes.len() < i + 4
        || !bytes[i + 1].is_ascii_alphabetic()
        || !bytes[i + 2].is_ascii_digit()
        || !bytes[i + 3].is_ascii_digit()
    {
        return;
    }
    let Some(len) = check::iban_length([bytes[i], bytes[i + 1]]) else {
        return;
    };
    let mut buf = [0u8; 34];
    let mut n = 0;
    let mut j = i;
    while n < len && j < bytes.len() {
        let b = bytes[j];
        if b.is_ascii_alphanumeric() {
            buf[n] = b;
            n += 1;
            j += 1;
        } else if b == b' ' && n % 4 == 0 && bytes.get(j + 1).is_some_and(u8::is_ascii_alphanumeric)
        {
            j += 1;
        } else {
            break;
        }
    }
    if n != len || !ends_word(bytes, j) || !check::iban_mod97(&buf[..n]) {
        return;
    }
    out.push(
        Finding::new(Kind::Iban, i..j, 0.95, Evidence::Checksum("mod97"))
            .with(Evidence::Pattern("country length")),
    );
}

// ---------------------------------------------------------------- telephone numbers

const PHONE_WORDS: &[&str] = &[
    "phone",
    "telephone",
    "tel",
    "tlf",
    "telefon",
    "telefonnummer",
    "téléphone",
    "fax",
    "mobile",
    "mobil",
    "cell",
    "call",
    "ring",
    "desk",
    "office",
    "handy",
    "portable",
    "contact",
    "reach",
    "whatsapp",
    "sms",
    "answering",
    "messages",
    "registered",
    "numéro",
    "nummer",
];

/// Words of identifiers that are not telephone numbers.
const OTHER_NUMBER_WORDS: &[&str] = &[
    "license",
    "licence",
    "passport",
    "account",
    "order",
    "invoice",
    "ticket",
    "policy",
    "serial",
    "isbn",
    "tracking",
    "reference",
    "ref",
    "customer",
    "member",
    "membership",
];

/// A telephone number: `+` and a country code (or `00`), or a national number in groups
/// (spaces, dashes, dots, an area code in brackets, a `(0)` trunk prefix), 7 to 15
/// digits, with an extension (`x123`) kept. Bare digits count only after a telephone
/// word in prose, and as 10 to 12 digits alone in a column value.
fn phone(text: &str, bytes: &[u8], i: usize, mode: Mode, out: &mut Vec<Finding>) {
    let mut j = i;
    let plus = bytes[j] == b'+';
    if plus {
        j += 1;
    }
    let mut digits = 0usize;
    let mut first_digits = [0u8; 3];
    let mut group_lens = [0usize; 10];
    let mut paren = [false; 10];
    let mut groups_n = 0;
    let mut dots = 0;
    let mut other_seps = 0;
    let mut end;
    loop {
        let in_paren = bytes.get(j) == Some(&b'(');
        if in_paren {
            j += 1;
        }
        let from = j;
        while j < bytes.len() && bytes[j].is_ascii_digit() {
            if digits < 3 {
                first_digits[digits] = bytes[j];
            }
            digits += 1;
            j += 1;
        }
        if j == from || digits > 15 {
            return;
        }
        if in_paren {
            if bytes.get(j) != Some(&b')') {
                return;
            }
            j += 1;
        }
        group_lens[groups_n] = j - from;
        paren[groups_n] = in_paren;
        groups_n += 1;
        end = j;
        if groups_n == group_lens.len() {
            break;
        }
        // A separator: one space, dash or dot, or a bracket straight after a group.
        let next = bytes.get(j).copied();
        match next {
            Some(b' ' | b'-' | b'.')
                if bytes
                    .get(j + 1)
                    .is_some_and(|&b| b.is_ascii_digit() || b == b'(') =>
            {
                if next == Some(b'.') {
                    dots += 1;
                } else {
                    other_seps += 1;
                }
                j += 1;
            }
            Some(b'(') if in_paren || plus => {}
            Some(b) if b.is_ascii_digit() && in_paren => {}
            _ => break,
        }
    }
    if !(7..=15).contains(&digits) || !ends_word(bytes, end) {
        // An extension straight after the number (`...-4508x769`) is a word byte.
        if !(7..=15).contains(&digits) {
            return;
        }
    }
    let mut ext_end = end;
    if bytes.get(end).is_some_and(|&b| b == b'x' || b == b'X') {
        let mut k = end + 1;
        while k < bytes.len() && bytes[k].is_ascii_digit() {
            k += 1;
        }
        if k > end + 1 && k - end <= 6 {
            ext_end = k;
        }
    }
    if !ends_word(bytes, ext_end) {
        return;
    }
    // Every group after the first has two digits or more, unless it is the `(0)` trunk.
    for g in 1..groups_n {
        if group_lens[g] < 2 && !(paren[g] && group_lens[g] == 1) {
            return;
        }
    }
    if groups_n == 2 && other_seps == 0 && dots > 0 {
        return; // a decimal number
    }
    // Postal codes of two groups: 94043-1351, 01310-200, 1234-567.
    if groups_n == 2
        && !plus
        && matches!((group_lens[0], group_lens[1]), (5, 4) | (5, 3) | (4, 3))
        && bytes.get(i + group_lens[0]) == Some(&b'-')
    {
        return;
    }
    let digits_only: Vec<u8> = bytes[i..end]
        .iter()
        .copied()
        .filter(u8::is_ascii_digit)
        .collect();
    if digits == 13
        && (first_digits.starts_with(b"978") || first_digits.starts_with(b"979"))
        && check::ean13(&digits_only)
    {
        return; // an ISBN
    }
    let near = context(text, i, ext_end, 40, 14, PHONE_WORDS);
    let international = plus || (first_digits.starts_with(b"00") && digits >= 10);
    // Digits before a capitalised word are a house number (`17151 2450 Crown St`).
    let before_word = bytes.get(ext_end) == Some(&b' ')
        && bytes.get(ext_end + 1).is_some_and(u8::is_ascii_uppercase)
        && bytes.get(ext_end + 2).is_some_and(u8::is_ascii_alphabetic);
    if !international && before_word {
        return;
    }
    // A range of years (`1980-1990`) is not a number to call.
    let year = |from: usize| {
        check::number(&digits_only[from..from + 4]).is_some_and(|y| (1900..=2099).contains(&y))
    };
    if groups_n == 2 && group_lens[0] == 4 && group_lens[1] == 4 && year(0) && year(4) {
        return;
    }
    // After the word of another identifier (`license number is 2270-66-1551`) and no
    // telephone word, digits are that identifier.
    if !international
        && near.is_none()
        && context(text, i, ext_end, 40, 0, OTHER_NUMBER_WORDS).is_some()
    {
        return;
    }
    // Two groups alone are as often a house number and a street number, a postal code,
    // or an amount: in prose they need a telephone word.
    if !international && groups_n == 2 && near.is_none() && mode == Mode::Text {
        return;
    }
    let finding = if international && digits >= 8 {
        let f = Finding::new(
            Kind::Phone,
            i..ext_end,
            0.8,
            Evidence::Pattern("international"),
        );
        // The national number's length for the country code, as a boost only: real data
        // writes the trunk 0 inside the number often enough (`+91 0124 ...`).
        let trunk = (1..groups_n)
            .filter(|&g| paren[g] && group_lens[g] == 1)
            .count();
        let skip = if plus { 0 } else { 2 };
        Some(
            match country_lengths(&digits_only[skip.min(digits_only.len())..]) {
                Some((cc, min, max)) if (min..=max).contains(&(digits - skip - cc - trunk)) => {
                    f.boost(0.1, Evidence::Checksum("country code and length"))
                }
                _ => f,
            },
        )
    } else if groups_n >= 2 {
        Some(Finding::new(
            Kind::Phone,
            i..ext_end,
            0.55,
            Evidence::Pattern("national groups"),
        ))
    } else if near.is_some() {
        Some(Finding::new(
            Kind::Phone,
            i..ext_end,
            0.5,
            Evidence::Pattern("bare digits"),
        ))
    } else if mode == Mode::Value && (10..=12).contains(&digits) && i == 0 && ext_end == bytes.len()
    {
        Some(Finding::new(
            Kind::Phone,
            i..ext_end,
            0.4,
            Evidence::Pattern("bare digits"),
        ))
    } else {
        None
    };
    if let Some(mut f) = finding {
        if let Some(w) = near {
            f = f.boost(0.3, Evidence::Context(w));
        }
        out.push(f);
    }
}

/// Country calling codes (ITU-T E.164, prefix-free) with the shortest and longest
/// national number: the countries Pledge's users and their customers are most often
/// from. Not the whole numbering plan (that is libphonenumber's metadata, which this
/// crate does without, see docs/scan.md).
const COUNTRY_CODES: &[(u16, usize, usize)] = &[
    (1, 10, 10),
    (7, 10, 10),
    (20, 9, 10),
    (27, 9, 9),
    (30, 10, 10),
    (31, 9, 9),
    (32, 8, 9),
    (33, 9, 9),
    (34, 9, 9),
    (36, 8, 9),
    (39, 6, 11),
    (40, 9, 9),
    (41, 9, 9),
    (43, 4, 13),
    (44, 9, 10),
    (45, 8, 8),
    (46, 7, 10),
    (47, 8, 8),
    (48, 9, 9),
    (49, 6, 13),
    (51, 8, 9),
    (52, 10, 10),
    (53, 8, 8),
    (54, 10, 10),
    (55, 10, 11),
    (56, 9, 9),
    (57, 10, 10),
    (58, 10, 10),
    (60, 9, 10),
    (61, 9, 9),
    (62, 9, 12),
    (63, 10, 10),
    (64, 8, 10),
    (65, 8, 8),
    (66, 9, 9),
    (81, 9, 10),
    (82, 9, 10),
    (84, 9, 10),
    (86, 10, 11),
    (90, 10, 10),
    (91, 10, 10),
    (92, 10, 10),
    (93, 9, 9),
    (94, 9, 9),
    (95, 8, 10),
    (98, 10, 10),
    (212, 9, 9),
    (213, 9, 9),
    (216, 8, 8),
    (234, 10, 10),
    (254, 9, 9),
    (298, 6, 6),
    (299, 6, 6),
    (351, 9, 9),
    (352, 6, 11),
    (353, 7, 9),
    (354, 7, 7),
    (356, 8, 8),
    (357, 8, 8),
    (358, 6, 11),
    (359, 8, 9),
    (370, 8, 8),
    (371, 8, 8),
    (372, 7, 8),
    (380, 9, 9),
    (385, 8, 9),
    (386, 8, 8),
    (420, 9, 9),
    (421, 9, 9),
    (423, 7, 7),
    (966, 9, 9),
    (971, 8, 9),
    (972, 8, 9),
];

/// The country code at the start of `digits` with its length and the national number's
/// shortest and longest length.
fn country_lengths(digits: &[u8]) -> Option<(usize, usize, usize)> {
    (1..=3).find_map(|n| {
        let code = check::number(digits.get(..n)?)?;
        COUNTRY_CODES
            .iter()
            .find(|(c, _, _)| u64::from(*c) == code)
            .map(|&(_, min, max)| (n, min, max))
    })
}

// ---------------------------------------------------------------- US SSN

const SSN_WORDS: &[&str] = &["ssn", "social security", "social", "ss#", "ssn#"];

/// `AAA-GG-SSSS` (or with spaces) with a valid area, group and serial; nine bare digits
/// after an SSN word in prose, or alone in a column value.
fn ssn(text: &str, bytes: &[u8], i: usize, mode: Mode, out: &mut Vec<Finding>) {
    let g = groups(bytes, i, b"- ");
    let lens: Vec<usize> = (0..g.count)
        .map(|k| g.ends[k].0 - if k == 0 { 0 } else { g.ends[k - 1].0 })
        .collect();
    let d = &g.digits[..g.len];
    let (end, evidence, confidence) =
        if lens.len() >= 3 && lens[..3] == [3, 2, 4] && g.same_separator {
            (g.ends[2].1, Evidence::Pattern("AAA-GG-SSSS"), 0.85)
        } else if lens.first() == Some(&9) {
            let end = g.ends[0].1;
            let near = context(text, i, end, 30, 0, SSN_WORDS);
            match (near, mode) {
                (Some(w), _) => (end, Evidence::Context(w), 0.7),
                (None, Mode::Value) if i == 0 && end == bytes.len() => {
                    (end, Evidence::Pattern("nine digits"), 0.35)
                }
                _ => return,
            }
        } else {
            return;
        };
    if !ends_word(bytes, end) || d.len() < 9 {
        return;
    }
    let num = |a: usize, b: usize| check::number(&d[a..b]).unwrap_or(0) as u32;
    if !check::us_ssn(num(0, 3), num(3, 5), num(5, 9)) {
        return;
    }
    out.push(
        Finding::new(Kind::UsSsn, i..end, confidence, evidence)
            .with(Evidence::Checksum("area group serial")),
    );
}

// ---------------------------------------------------------------- EU national identifiers

/// The French NIR: 15 characters, compact or as `1 84 12 76 451 089 46`, with a valid key.
fn nir(bytes: &[u8], i: usize, out: &mut Vec<Finding>) {
    let mut buf = [0u8; 15];
    let mut n = 0;
    let mut j = i;
    let mut spaced = false;
    while n < 15 && j < bytes.len() {
        let b = bytes[j];
        if b.is_ascii_digit() || (n == 6 && matches!(b, b'A' | b'B' | b'a' | b'b')) {
            buf[n] = b;
            n += 1;
            j += 1;
        } else if b == b' '
            && matches!(n, 1 | 3 | 5 | 7 | 10 | 13)
            && bytes.get(j + 1).is_some_and(u8::is_ascii_alphanumeric)
        {
            spaced = true;
            j += 1;
        } else {
            break;
        }
    }
    if n == 15 && ends_word(bytes, j) && check::fr_nir(&buf) {
        let shape = if spaced { "spaced NIR" } else { "compact NIR" };
        out.push(
            Finding::new(Kind::FrNir, i..j, 0.9, Evidence::Checksum("nir key"))
                .with(Evidence::Pattern(shape)),
        );
    }
}

const CPR_WORDS: &[&str] = &["cpr", "cpr-nr", "cprnr", "personnummer", "cpr-nummer"];

/// The Danish CPR number: `ddmmyy-ssss` with a valid date; ten bare digits after a CPR
/// word, or in a column value when the old modulus 11 also holds.
fn cpr(text: &str, bytes: &[u8], i: usize, mode: Mode, out: &mut Vec<Finding>) {
    let g = groups(bytes, i, b"-");
    let mut buf = [0u8; 10];
    let (end, dashed) = match g.count {
        _ if g.ends[0] == (10, i + 10) => (i + 10, false),
        c if c >= 2 && g.ends[0] == (6, i + 6) && g.ends[1].0 == 10 => (g.ends[1].1, true),
        _ => return,
    };
    if !ends_word(bytes, end) {
        return;
    }
    buf.copy_from_slice(&g.digits[..10]);
    let Some(modulus) = check::dk_cpr(&buf) else {
        return;
    };
    let near = context(text, i, end, 30, 0, CPR_WORDS);
    let mut f = match (dashed, near, mode) {
        (true, _, _) => Finding::new(Kind::DkCpr, i..end, 0.6, Evidence::Pattern("ddmmyy-ssss")),
        (false, Some(_), _) => {
            Finding::new(Kind::DkCpr, i..end, 0.6, Evidence::Pattern("ddmmyyssss"))
        }
        (false, None, Mode::Value) if modulus && i == 0 && end == bytes.len() => {
            Finding::new(Kind::DkCpr, i..end, 0.35, Evidence::Pattern("ddmmyyssss"))
        }
        _ => return,
    };
    f = f.with(Evidence::Checksum("valid date"));
    if modulus {
        f = f.boost(0.2, Evidence::Checksum("modulus 11"));
    }
    if let Some(w) = near {
        f = f.boost(0.2, Evidence::Context(w));
    }
    out.push(f);
}

const DE_TAX_WORDS: &[&str] = &[
    "steuer-id",
    "steuerid",
    "steuer-idnr",
    "idnr",
    "identifikationsnummer",
    "steueridentifikationsnummer",
    "tax id",
    "tin",
    "steuernummer",
];

/// The German Steuer-IdNr: eleven digits (or `12 345 678 901`) passing its digit rules and
/// ISO 7064 check; compact ones only after a tax word, since eleven digits are common.
fn de_tax_id(text: &str, bytes: &[u8], i: usize, _mode: Mode, out: &mut Vec<Finding>) {
    let g = groups(bytes, i, b" ");
    let lens: Vec<usize> = (0..g.count)
        .map(|k| g.ends[k].0 - if k == 0 { 0 } else { g.ends[k - 1].0 })
        .collect();
    let (end, spaced) = if lens.first() == Some(&11) {
        (g.ends[0].1, false)
    } else if lens.len() >= 4 && lens[..4] == [2, 3, 3, 3] {
        (g.ends[3].1, true)
    } else {
        return;
    };
    if !ends_word(bytes, end) || !check::de_tax_id(&g.digits[..11]) {
        return;
    }
    let near = context(text, i, end, 40, 0, DE_TAX_WORDS);
    if near.is_none() && !spaced {
        return;
    }
    let mut f = Finding::new(
        Kind::DeTaxId,
        i..end,
        0.7,
        Evidence::Checksum("iso 7064 mod 11,10"),
    );
    if let Some(w) = near {
        f = f.boost(0.2, Evidence::Context(w));
    }
    out.push(f);
}

/// The UK National Insurance number: two letters of the allowed prefixes, six digits
/// (or three pairs), a suffix A to D; upper case.
fn nino(bytes: &[u8], i: usize, out: &mut Vec<Finding>) {
    if bytes.len() < i + 9 || !bytes[i].is_ascii_uppercase() || !bytes[i + 1].is_ascii_uppercase() {
        return;
    }
    if !check::uk_nino_prefix(bytes[i], bytes[i + 1]) {
        return;
    }
    let mut j = i + 2;
    let mut digits = 0;
    while digits < 6 && j < bytes.len() {
        if bytes[j].is_ascii_digit() {
            digits += 1;
            j += 1;
        } else if bytes[j] == b' ' && digits % 2 == 0 {
            j += 1;
        } else {
            return;
        }
    }
    if digits != 6 {
        return;
    }
    if bytes.get(j) == Some(&b' ') {
        j += 1;
    }
    if !bytes.get(j).is_some_and(|b| matches!(b, b'A'..=b'D')) || !ends_word(bytes, j + 1) {
        return;
    }
    out.push(
        Finding::new(Kind::UkNino, i..j + 1, 0.8, Evidence::Pattern("AA999999A"))
            .with(Evidence::Checksum("prefix rules")),
    );
}

// ---------------------------------------------------------------- postal codes

const POSTAL_WORDS: &[&str] = &[
    "zip",
    "zipcode",
    "postal",
    "postcode",
    "post code",
    "plz",
    "postleitzahl",
    "code postal",
    "cp",
    "postnummer",
    "postnr",
];

/// Postal codes that start with a digit and have a shape of their own: US ZIP+4
/// (`94043-1351`), Brazil (`01310-200`), Portugal (`1234-567`), the Netherlands
/// (`7412 SL`). Plain digits count only after a postal word; after a place name they are
/// found by the place recogniser.
fn postal_digits(bytes: &[u8], i: usize, mode: Mode, out: &mut Vec<Finding>) {
    let g = groups(bytes, i, b"-");
    let first = g.ends[0].0;
    let shaped = if g.count == 2 {
        let second = g.ends[1].0 - first;
        match (first, second) {
            (5, 4) => Some((g.ends[1].1, "zip+4")),
            (5, 3) => Some((g.ends[1].1, "nnnnn-nnn")),
            (4, 3) => Some((g.ends[1].1, "nnnn-nnn")),
            _ => None,
        }
    } else {
        None
    };
    let dutch = g.count == 1
        && first == 4
        && bytes.get(g.ends[0].1) == Some(&b' ')
        && bytes.len() >= g.ends[0].1 + 3
        && bytes[g.ends[0].1 + 1].is_ascii_uppercase()
        && bytes[g.ends[0].1 + 2].is_ascii_uppercase()
        && ends_word(bytes, g.ends[0].1 + 3);
    let (end, shape) = match (shaped, dutch) {
        (Some(s), _) => s,
        (None, true) => (g.ends[0].1 + 3, "nnnn AA"),
        _ => {
            let end = g.ends[0].1;
            if g.count == 1 && (4..=6).contains(&first) && ends_word(bytes, end) {
                let text = std::str::from_utf8(&bytes[..end]).unwrap_or("");
                if let Some(w) = crate::text::find_word(text, i.saturating_sub(24), i, POSTAL_WORDS)
                {
                    out.push(Finding::new(
                        Kind::PostalCode,
                        i..end,
                        0.6,
                        Evidence::Context(w),
                    ));
                }
            }
            return;
        }
    };
    if !ends_word(bytes, end) {
        return;
    }
    let confidence = if mode == Mode::Value { 0.6 } else { 0.45 };
    out.push(Finding::new(
        Kind::PostalCode,
        i..end,
        confidence,
        Evidence::Pattern(shape),
    ));
}

/// Postal codes that start with a letter: Canada (`T5K 2N1`) and the United Kingdom
/// (`SW1A 1AA`, `M1 1AE`), upper case.
fn postal_letters(bytes: &[u8], i: usize, mode: Mode, out: &mut Vec<Finding>) {
    let up = |k: usize| bytes.get(k).is_some_and(u8::is_ascii_uppercase);
    let dig = |k: usize| bytes.get(k).is_some_and(u8::is_ascii_digit);
    let confidence = if mode == Mode::Value { 0.6 } else { 0.45 };
    // Canada: A9A 9A9 (or without the space).
    if up(i) && dig(i + 1) && up(i + 2) {
        let k = if bytes.get(i + 3) == Some(&b' ') {
            i + 4
        } else {
            i + 3
        };
        if dig(k) && up(k + 1) && dig(k + 2) && ends_word(bytes, k + 3) {
            out.push(Finding::new(
                Kind::PostalCode,
                i..k + 3,
                confidence,
                Evidence::Pattern("A9A 9A9"),
            ));
            return;
        }
    }
    // United Kingdom: an outward code of 2 to 4 (A9, A99, AA9, AA99, A9A, AA9A), a space,
    // an inward code 9AA.
    let mut k = i;
    if !up(k) {
        return;
    }
    k += 1;
    if up(k) {
        k += 1;
    }
    if !dig(k) {
        return;
    }
    k += 1;
    if dig(k) || up(k) {
        k += 1;
    }
    if bytes.get(k) != Some(&b' ') {
        return;
    }
    k += 1;
    if dig(k) && up(k + 1) && up(k + 2) && ends_word(bytes, k + 3) {
        out.push(Finding::new(
            Kind::PostalCode,
            i..k + 3,
            confidence,
            Evidence::Pattern("UK postcode"),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str, mode: Mode) -> Vec<(Kind, &str)> {
        let mut out = Vec::new();
        scan(text, mode, &mut out);
        out.iter()
            .map(|f| (f.kind, &text[f.span.clone()]))
            .collect()
    }

    fn kinds_full(text: &str) -> Vec<Finding> {
        let mut out = Vec::new();
        scan(text, Mode::Text, &mut out);
        out.into_iter().filter(|f| f.kind == Kind::Phone).collect()
    }

    fn has(text: &str, kind: Kind, what: &str) -> bool {
        kinds(text, Mode::Text).contains(&(kind, what))
            || kinds(text, Mode::Value).contains(&(kind, what))
    }

    #[test]
    fn emails_and_not_their_domain_as_url() {
        assert_eq!(
            kinds("write to Jane.Doe+x@mail.example.org.", Mode::Text),
            vec![(Kind::Email, "Jane.Doe+x@mail.example.org")]
        );
        assert!(kinds("a@b", Mode::Text).is_empty());
        assert!(
            kinds("user@www.example.com", Mode::Text)
                .iter()
                .all(|(k, _)| *k == Kind::Email)
        );
    }

    #[test]
    fn urls_with_scheme_or_www() {
        assert!(has(
            "see https://www.DigitalFairs.se/, then",
            Kind::Url,
            "https://www.DigitalFairs.se/"
        ));
        assert!(has("(www.example.com)", Kind::Url, "www.example.com"));
        assert!(!has("http://localhost", Kind::Url, "http://localhost"));
        assert!(has(
            "see https://fr.example.org/café.",
            Kind::Url,
            "https://fr.example.org/café"
        ));
        assert!(has(
            "https://example.org/a\u{a0}next",
            Kind::Url,
            "https://example.org/a"
        ));
    }

    #[test]
    fn ip_addresses() {
        assert!(has("from 192.168.1.20.", Kind::IpAddress, "192.168.1.20"));
        assert!(!has("1.2.3.456", Kind::IpAddress, "1.2.3.456"));
        assert!(!has("version 1.2.3.4.5", Kind::IpAddress, "1.2.3.4"));
        assert!(has(
            "6e40:4041:c617:e898:c11:40d2:c669:2eb4",
            Kind::IpAddress,
            "6e40:4041:c617:e898:c11:40d2:c669:2eb4"
        ));
        assert!(has("fe80::1 is local", Kind::IpAddress, "fe80::1"));
        assert!(!has("at 12:20:39", Kind::IpAddress, "12:20:39"));
    }

    #[test]
    fn cards_of_every_brand_with_luhn() {
        for card in [
            "4111111111111111",
            "2221000000000009",
            "5555555555554444",
            "378282246310005",
            "30569309025904",
            "3530111333300000",
            "6011111111111117",
            "4253 526 875 167",
            "2242-1075-6199-9373",
            "180012010473087",
            "639044730179",
        ] {
            let luhn_ok = check::luhn(&card.bytes().filter(u8::is_ascii_digit).collect::<Vec<_>>());
            assert_eq!(has(card, Kind::PaymentCard, card), luhn_ok, "{card}");
        }
        assert!(!has(
            "4111111111111112",
            Kind::PaymentCard,
            "4111111111111112"
        ));
        assert!(!has(
            "9111111111111111",
            Kind::PaymentCard,
            "9111111111111111"
        ));
    }

    #[test]
    fn ibans_compact_grouped_and_lower_case() {
        assert!(has(
            "IBAN GB82WEST12345698765432.",
            Kind::Iban,
            "GB82WEST12345698765432"
        ));
        assert!(has(
            "GB82 WEST 1234 5698 7654 32 is mine",
            Kind::Iban,
            "GB82 WEST 1234 5698 7654 32"
        ));
        assert!(has(
            "gb82west12345698765432",
            Kind::Iban,
            "gb82west12345698765432"
        ));
        assert!(!has(
            "GB82WEST12345698765433",
            Kind::Iban,
            "GB82WEST12345698765433"
        ));
        assert!(!has(
            "GB82WEST1234569876543",
            Kind::Iban,
            "GB82WEST1234569876543"
        ));
    }

    #[test]
    fn phones_international_national_and_bare() {
        let intl = kinds_full("+45 32 12 34 56");
        assert!(intl.iter().any(|f| {
            f.evidence
                .contains(&Evidence::Checksum("country code and length"))
        }));
        let odd = kinds_full("+45 32 12 34 56 78");
        assert!(odd.iter().all(|f| {
            !f.evidence
                .contains(&Evidence::Checksum("country code and length"))
        }));
        for p in [
            "+1-984-182-0190",
            "+41 (0)85 806 98 67",
            "0496 46 46 70",
            "(579)888-3058",
            "+1 (650) 253-0000",
            "03.93.92.16.85",
            "345-899-3560x4587",
            "+447700 921 916",
        ] {
            assert!(has(p, Kind::Phone, p), "{p}");
        }
        assert!(has("Fax: 9498777106", Kind::Phone, "9498777106"));
        assert!(
            !kinds("9498777106 items", Mode::Text)
                .iter()
                .any(|(k, _)| *k == Kind::Phone)
        );
        assert!(kinds("876295323994", Mode::Value).contains(&(Kind::Phone, "876295323994")));
        assert!(!has("978-1-86966-530-2", Kind::Phone, "978-1-86966-530-2"));
        assert!(!has("12.99", Kind::Phone, "12.99"));
        assert!(!has("8210 111 ST NW", Kind::Phone, "8210 111"));
        assert!(!has("B-Sides 1980-1990", Kind::Phone, "1980-1990"));
        assert!(!has(
            "my driver's license number is 2270-66-1551",
            Kind::Phone,
            "2270-66-1551"
        ));
    }

    #[test]
    fn ssn_valid_areas_only() {
        assert!(has("SSN: 460-89-9847", Kind::UsSsn, "460-89-9847"));
        assert!(!has("666-89-9847", Kind::UsSsn, "666-89-9847"));
        assert!(!has("912-89-9847", Kind::UsSsn, "912-89-9847"));
        assert!(!has("460-00-9847", Kind::UsSsn, "460-00-9847"));
        assert!(kinds("242821146", Mode::Value).contains(&(Kind::UsSsn, "242821146")));
        assert!(
            !kinds("242821146 bytes", Mode::Text)
                .iter()
                .any(|(k, _)| *k == Kind::UsSsn)
        );
    }

    #[test]
    fn national_identifiers() {
        let body = 1_841_276_451_089u64;
        let nir = format!("{body}{:02}", 97 - body % 97);
        assert!(has(&nir, Kind::FrNir, &nir));
        let spaced = format!("1 84 12 76 451 089 {:02}", 97 - body % 97);
        assert!(has(&spaced, Kind::FrNir, &spaced));
        assert!(has("CPR 070761-4285", Kind::DkCpr, "070761-4285"));
        assert!(!has("310290-4285", Kind::DkCpr, "310290-4285"));
        assert!(has(
            "NI number AB 12 34 56 C",
            Kind::UkNino,
            "AB 12 34 56 C"
        ));
        assert!(!has("GB123456A", Kind::UkNino, "GB123456A"));
        assert!(has("Steuer-ID: 86095742719", Kind::DeTaxId, "86095742719"));
        assert!(!has("Steuer-ID: 86095742718", Kind::DeTaxId, "86095742718"));
    }

    #[test]
    fn postal_codes_of_a_distinctive_shape() {
        assert!(has("T5K 2N1", Kind::PostalCode, "T5K 2N1"));
        assert!(has("SW1A 1AA", Kind::PostalCode, "SW1A 1AA"));
        assert!(has("94043-1351", Kind::PostalCode, "94043-1351"));
        assert!(has("zip 60611", Kind::PostalCode, "60611"));
    }
}
