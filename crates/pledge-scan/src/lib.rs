//! Detection of personal data: text in, findings out.
//!
//! `pledge-scan` belongs to the pure core: it does no I/O and reads no clock. A caller (the
//! `pledge scan` command, a test, a benchmark) samples a database or reads a file and hands
//! the text over; the crate answers with [`Finding`]s: what kind of personal data, where
//! (a byte span of the input, always on character boundaries), how sure, and why
//! ([`Evidence`]: a pattern, a checksum, a dictionary, context words).
//!
//! Two entry points read text:
//! - [`Scanner::scan_text`] for prose (a free-text column, a document, a log line): shapes
//!   that are ambiguous on their own (bare digits, a lone capitalised word) need context.
//! - [`Scanner::scan_value`] for one cell of a column: the whole value is the unit, so a
//!   value of twelve bare digits may be a phone number, a lone `SMITH` a family name.
//!
//! [`classify_column`] puts a column's name, SQL type and sample values together into a
//! data category of the declaration's taxonomy (`contact.email`, `identity.name`, ...).
//!
//! No recogniser uses regular expressions: each is a small hand-written scanner over the
//! bytes of the input, with the validity rules of its kind (see `docs/scan.md`).

mod check;
pub mod column;
mod dates;
mod dict;
mod names;
mod patterns;
mod special;
mod text;

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::OnceLock;

pub use column::{Classification, classify_column};
pub use special::Special;

/// What a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// An e-mail address.
    Email,
    /// A telephone number, international (`+45 ...`) or national form.
    Phone,
    /// A payment card number of a known brand with a valid Luhn digit.
    PaymentCard,
    /// An IBAN of the right length for its country with a valid mod-97 check.
    Iban,
    /// An IPv4 or IPv6 address.
    IpAddress,
    /// A US Social Security number.
    UsSsn,
    /// A date (or a date and time, a weekday, a year in prose).
    Date,
    /// A date with words of birth around it.
    DateOfBirth,
    /// A URL with a scheme or `www.`.
    Url,
    /// A postal code (a distinctive shape, or digits after a place or a context word).
    PostalCode,
    /// A street address (house number and a street word).
    StreetAddress,
    /// A French social security number (NIR) with a valid key.
    FrNir,
    /// A Danish CPR number with a valid date.
    DkCpr,
    /// A UK National Insurance number.
    UkNino,
    /// A German tax identification number (Steuer-IdNr) with a valid check digit.
    DeTaxId,
    /// A person's name (given and family names from dictionaries, capitalisation, titles).
    PersonName,
    /// A place: a city, a country, a US state.
    Place,
    /// A word of a special category of personal data (GDPR Art. 9).
    Special(Special),
}

impl Kind {
    /// Every kind but the special categories (see [`Special::ALL`]).
    pub const ALL: [Kind; 17] = [
        Kind::Email,
        Kind::Phone,
        Kind::PaymentCard,
        Kind::Iban,
        Kind::IpAddress,
        Kind::UsSsn,
        Kind::Date,
        Kind::DateOfBirth,
        Kind::Url,
        Kind::PostalCode,
        Kind::StreetAddress,
        Kind::FrNir,
        Kind::DkCpr,
        Kind::UkNino,
        Kind::DeTaxId,
        Kind::PersonName,
        Kind::Place,
    ];

    /// The data category of the declaration's taxonomy this kind is evidence of
    /// (`pledge_lang::taxonomy`), `None` when the kind alone says nothing about a person
    /// (a date, a URL).
    pub fn category(self) -> Option<&'static str> {
        Some(match self {
            Kind::Email => "contact.email",
            Kind::Phone => "contact.phone",
            Kind::PaymentCard => "financial.card",
            Kind::Iban => "financial.bank_account",
            Kind::IpAddress => "online.ip_address",
            Kind::UsSsn | Kind::FrNir | Kind::DkCpr | Kind::UkNino | Kind::DeTaxId => {
                "identity.government_id"
            }
            Kind::DateOfBirth => "identity.date_of_birth",
            Kind::PostalCode | Kind::StreetAddress => "contact.address",
            Kind::PersonName => "identity.name",
            Kind::Place => "location.approximate",
            Kind::Special(s) => s.category(),
            Kind::Date | Kind::Url => return None,
        })
    }

    /// A short stable name (`email`, `phone`, `special.health`, ...), for reports.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Email => "email",
            Kind::Phone => "phone",
            Kind::PaymentCard => "payment_card",
            Kind::Iban => "iban",
            Kind::IpAddress => "ip_address",
            Kind::UsSsn => "us_ssn",
            Kind::Date => "date",
            Kind::DateOfBirth => "date_of_birth",
            Kind::Url => "url",
            Kind::PostalCode => "postal_code",
            Kind::StreetAddress => "street_address",
            Kind::FrNir => "fr_nir",
            Kind::DkCpr => "dk_cpr",
            Kind::UkNino => "uk_nino",
            Kind::DeTaxId => "de_tax_id",
            Kind::PersonName => "person_name",
            Kind::Place => "place",
            Kind::Special(s) => s.category(),
        }
    }

    /// Which kind wins when two findings overlap: checksums over patterns, long shapes
    /// over short ones, structure over dictionaries.
    fn rank(self) -> u8 {
        match self {
            Kind::Email => 100,
            Kind::Url => 95,
            Kind::Iban => 90,
            Kind::PaymentCard => 86,
            Kind::FrNir => 85,
            Kind::DeTaxId => 84,
            Kind::DkCpr => 82,
            Kind::IpAddress => 80,
            Kind::UsSsn => 78,
            Kind::UkNino => 76,
            Kind::DateOfBirth => 72,
            Kind::Date => 70,
            Kind::Phone => 60,
            Kind::PostalCode => 50,
            Kind::StreetAddress => 45,
            Kind::PersonName => 40,
            Kind::Place => 38,
            Kind::Special(_) => 10,
        }
    }
}

/// Why a finding was made. A finding carries one or more.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Evidence {
    /// The text has the shape of the kind (named: `"ipv4"`, `"dashed"`, ...).
    Pattern(&'static str),
    /// A check digit or validity rule holds (named: `"luhn"`, `"mod97"`, ...).
    Checksum(&'static str),
    /// A word is in a dictionary (`"given_names"`, `"family_names"`, `"places"`, ...).
    Dictionary(&'static str),
    /// A context word near the text (the word as listed: `"phone"`, `"born"`, ...).
    Context(&'static str),
}

/// One piece of personal data found in a text.
#[derive(Clone, Debug, PartialEq)]
pub struct Finding {
    /// What it is.
    pub kind: Kind,
    /// Where, in bytes of the text handed over; always on character boundaries.
    pub span: Range<usize>,
    /// How sure, from 0 to 1.
    pub confidence: f32,
    /// Why.
    pub evidence: Vec<Evidence>,
}

impl Finding {
    /// The taxonomy's category this finding is evidence of ([`Kind::category`]).
    pub fn category(&self) -> Option<&'static str> {
        self.kind.category()
    }

    pub(crate) fn new(kind: Kind, span: Range<usize>, confidence: f32, evidence: Evidence) -> Self {
        Finding {
            kind,
            span,
            confidence,
            evidence: vec![evidence],
        }
    }

    pub(crate) fn with(mut self, evidence: Evidence) -> Self {
        self.evidence.push(evidence);
        self
    }

    pub(crate) fn boost(mut self, by: f32, evidence: Evidence) -> Self {
        self.confidence = (self.confidence + by).min(0.99);
        self.evidence.push(evidence);
        self
    }
}

/// How a text is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Prose: ambiguous shapes need context.
    Text,
    /// One cell of a column: the whole value is the unit.
    Value,
}

/// The recognisers with their dictionaries, built once (10 to 20 ms: some 80,000 words
/// hashed) and shared.
pub struct Scanner {
    dict: dict::Dictionaries,
}

impl std::fmt::Debug for Scanner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scanner").finish_non_exhaustive()
    }
}

impl Default for Scanner {
    fn default() -> Self {
        Self::new()
    }
}

impl Scanner {
    /// Builds the dictionaries (names, places, keywords) embedded in the crate.
    pub fn new() -> Self {
        Scanner {
            dict: dict::Dictionaries::load(),
        }
    }

    /// The scanner shared by the process, built on first use.
    pub fn shared() -> &'static Scanner {
        static SHARED: OnceLock<Scanner> = OnceLock::new();
        SHARED.get_or_init(Scanner::new)
    }

    /// The personal data in a text of prose, sorted by position, not overlapping (except
    /// special-category words, which are reported beside what they overlap).
    pub fn scan_text(&self, text: &str) -> Vec<Finding> {
        self.scan(text, Mode::Text)
    }

    /// The personal data in one value of a column (a cell), sorted by position.
    pub fn scan_value(&self, value: &str) -> Vec<Finding> {
        self.scan(value, Mode::Value)
    }

    fn scan(&self, text: &str, mode: Mode) -> Vec<Finding> {
        let mut found = Vec::new();
        patterns::scan(text, mode, &mut found);
        dates::scan(text, mode, &mut found);
        names::scan(&self.dict, text, mode, &mut found);
        let mut kept = resolve(found);
        let mut specials = Vec::new();
        special::scan(&self.dict, text, &mut specials);
        // A keyword that is part of a name or a place (`Christian`, `Church Street`) is not
        // one.
        let covering: Vec<&Finding> = kept
            .iter()
            .filter(|k| {
                matches!(
                    k.kind,
                    Kind::PersonName | Kind::Place | Kind::StreetAddress | Kind::Email | Kind::Url
                )
            })
            .collect();
        specials.retain(|s| !overlaps_any(&covering, &s.span));
        kept.extend(specials);
        kept.sort_by_key(|f| (f.span.start, f.span.end));
        kept
    }
}

/// Keeps, of overlapping findings, the one of the highest rank (then confidence, then
/// length); the result is sorted by position.
fn resolve(mut found: Vec<Finding>) -> Vec<Finding> {
    if found.len() <= 1 {
        return found;
    }
    found.sort_by(|a, b| {
        b.kind
            .rank()
            .cmp(&a.kind.rank())
            .then(b.confidence.total_cmp(&a.confidence))
            .then((b.span.end - b.span.start).cmp(&(a.span.end - a.span.start)))
            .then(a.span.start.cmp(&b.span.start))
    });
    // The kept spans by start: they never overlap, so a new span overlaps one of them
    // exactly when it overlaps the last one that starts before its end.
    let mut taken: BTreeMap<usize, usize> = BTreeMap::new();
    let mut kept: Vec<Finding> = Vec::with_capacity(found.len());
    for f in found {
        let clash = taken
            .range(..f.span.end)
            .next_back()
            .is_some_and(|(_, &end)| end > f.span.start);
        if !clash {
            taken.insert(f.span.start, f.span.end);
            kept.push(f);
        }
    }
    kept.sort_by_key(|f| f.span.start);
    kept
}

/// Whether `span` overlaps any of `sorted` (by start, not overlapping each other).
fn overlaps_any(sorted: &[&Finding], span: &Range<usize>) -> bool {
    let after = sorted.partition_point(|k| k.span.start < span.end);
    after > 0 && sorted[after - 1].span.end > span.start
}
