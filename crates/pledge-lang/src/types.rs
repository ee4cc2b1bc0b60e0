//! Newtypes for the values of a declaration. Each is parsed once, at the edge, and is valid
//! from then on: an `IsoDuration` is a duration, a `CountryCode` is a country.

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;
use thiserror::Error;

/// Why a value could not be parsed into its type. The message reads as a sentence fragment
/// after "invalid <type>:".
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{0}")]
pub struct ParseError(pub String);

/// Implements `Display`, `FromStr`-based `Deserialize`, `Serialize` as a string and a JSON
/// Schema of type string for a newtype that holds its canonical text form.
macro_rules! string_newtype {
    ($name:ident, $what:literal, $schema:expr) => {
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                text.parse().map_err(|e: ParseError| {
                    serde::de::Error::custom(format!("invalid {}: {}", $what, e))
                })
            }
        }

        impl JsonSchema for $name {
            fn schema_name() -> Cow<'static, str> {
                stringify!($name).into()
            }
            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                $schema
            }
        }
    };
}

/// Declares an identifier newtype: lower-case letters, digits, `_` and `-`; dots separate
/// levels where `dotted` is true.
macro_rules! id_newtype {
    ($(#[$doc:meta])* $name:ident, $what:literal, dotted: $dotted:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl FromStr for $name {
            type Err = ParseError;
            fn from_str(s: &str) -> Result<Self, ParseError> {
                parse_identifier(s, $dotted).map(|s| $name(s.to_string()))
            }
        }

        string_newtype!(
            $name,
            $what,
            json_schema!({
                "type": "string",
                "pattern": if $dotted { DOTTED_ID_PATTERN } else { ID_PATTERN },
                "description": concat!("Identifier of a ", $what, ".")
            })
        );
    };
}

const ID_PATTERN: &str = "^[a-z0-9][a-z0-9_-]{0,63}$";
const DOTTED_ID_PATTERN: &str = "^[a-z0-9][a-z0-9_-]*(\\.[a-z0-9][a-z0-9_-]*)*$";

fn parse_identifier(s: &str, dotted: bool) -> Result<&str, ParseError> {
    if s.is_empty() {
        return Err(ParseError("an identifier cannot be empty".into()));
    }
    if s.len() > 64 {
        return Err(ParseError(format!("`{s}` is longer than 64 characters")));
    }
    let segment_ok = |segment: &str| {
        let mut chars = segment.chars();
        let first_ok = chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        first_ok
            && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
    };
    let ok = if dotted {
        s.split('.').all(segment_ok)
    } else {
        segment_ok(s)
    };
    if !ok {
        let allowed = if dotted {
            "lower-case letters, digits, `_` and `-`, in parts separated by `.`"
        } else {
            "lower-case letters, digits, `_` and `-`"
        };
        return Err(ParseError(format!(
            "`{s}` may only contain {allowed}, starting with a letter or digit"
        )));
    }
    Ok(s)
}

id_newtype!(
    /// Identifier of a purpose (processing activity), e.g. `newsletter`.
    PurposeId, "purpose", dotted: false);
id_newtype!(
    /// Identifier of a group of data subjects, e.g. `customers`.
    SubjectId, "data subject group", dotted: false);
id_newtype!(
    /// Identifier of a recipient, e.g. `aws`.
    RecipientId, "recipient", dotted: false);
id_newtype!(
    /// Identifier of a transfer to a third country, e.g. `us-hosting`.
    TransferId, "transfer", dotted: false);
id_newtype!(
    /// Identifier of a dataset (an application database), e.g. `app`.
    DatasetId, "dataset", dotted: false);
id_newtype!(
    /// A data category: a built-in one such as `contact.email`, or a custom one under a
    /// built-in parent such as `behavior.purchase.loyalty_tier`.
    CategoryId, "data category", dotted: true);
id_newtype!(
    /// The name of a kind of identity a person is found by in a dataset: `email`, `phone`,
    /// `customer_id`, ...
    IdentityKind, "identity kind", dotted: false);

impl CategoryId {
    /// The category one level up, if any: `contact.email` → `contact`.
    pub fn parent(&self) -> Option<CategoryId> {
        self.0
            .rsplit_once('.')
            .map(|(p, _)| CategoryId(p.to_string()))
    }

    /// Whether `self` is `other` or lies below it.
    pub fn is_within(&self, other: &CategoryId) -> bool {
        self.0 == other.0
            || (self.0.starts_with(&other.0) && self.0.as_bytes().get(other.0.len()) == Some(&b'.'))
    }
}

/// An ISO 8601 duration such as `P5Y`, `P13M`, `P30D` or `PT12H`. Years and months are kept
/// as written, because "5 years" is a legal period, not a number of seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct IsoDuration {
    pub years: u32,
    pub months: u32,
    pub weeks: u32,
    pub days: u32,
    pub hours: u32,
    pub minutes: u32,
    pub seconds: u32,
}

impl IsoDuration {
    pub const fn days(days: u32) -> Self {
        IsoDuration {
            years: 0,
            months: 0,
            weeks: 0,
            days,
            hours: 0,
            minutes: 0,
            seconds: 0,
        }
    }

    pub const fn months(months: u32) -> Self {
        IsoDuration {
            months,
            ..Self::days(0)
        }
    }

    /// Length in days, counting a year as 365.25 days and a month as 30.44: for comparing
    /// periods, never for computing deadlines.
    pub fn approx_days(&self) -> f64 {
        f64::from(self.years) * 365.25
            + f64::from(self.months) * 30.436_875
            + f64::from(self.weeks) * 7.0
            + f64::from(self.days)
            + (f64::from(self.hours)
                + f64::from(self.minutes) / 60.0
                + f64::from(self.seconds) / 3600.0)
                / 24.0
    }

    pub fn is_zero(&self) -> bool {
        *self == IsoDuration::default()
    }

    /// Plain English: "5 years", "13 months", "1 year and 6 months".
    pub fn to_words(&self) -> String {
        let parts: Vec<String> = [
            (self.years, "year"),
            (self.months, "month"),
            (self.weeks, "week"),
            (self.days, "day"),
            (self.hours, "hour"),
            (self.minutes, "minute"),
            (self.seconds, "second"),
        ]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n} {unit}{}", if *n == 1 { "" } else { "s" }))
        .collect();
        match parts.as_slice() {
            [] => "no time".to_string(),
            [one] => one.clone(),
            [init @ .., last] => format!("{} and {last}", init.join(", ")),
        }
    }
}

impl FromStr for IsoDuration {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, ParseError> {
        let bad = || {
            ParseError(format!(
                "`{s}` is not an ISO 8601 duration (write e.g. `P5Y` for five years, `P13M` for thirteen months, `P30D` for thirty days, `PT12H` for twelve hours)"
            ))
        };
        let rest = s.strip_prefix('P').ok_or_else(bad)?;
        if rest.is_empty() || rest == "T" {
            return Err(bad());
        }
        let mut duration = IsoDuration::default();
        let mut in_time = false;
        let mut number = String::new();
        let mut last_rank = 0;
        for c in rest.chars() {
            if c.is_ascii_digit() {
                number.push(c);
                continue;
            }
            if c == 'T' {
                if in_time || !number.is_empty() {
                    return Err(bad());
                }
                in_time = true;
                continue;
            }
            let value: u32 = number.parse().map_err(|_| bad())?;
            number.clear();
            let (slot, rank) = match (in_time, c) {
                (false, 'Y') => (&mut duration.years, 1),
                (false, 'M') => (&mut duration.months, 2),
                (false, 'W') => (&mut duration.weeks, 3),
                (false, 'D') => (&mut duration.days, 4),
                (true, 'H') => (&mut duration.hours, 5),
                (true, 'M') => (&mut duration.minutes, 6),
                (true, 'S') => (&mut duration.seconds, 7),
                _ => return Err(bad()),
            };
            // Units must come in order and only once: `P1M1Y` is not a duration.
            if rank <= last_rank {
                return Err(bad());
            }
            last_rank = rank;
            *slot = value;
        }
        if !number.is_empty() {
            return Err(bad());
        }
        Ok(duration)
    }
}

impl fmt::Display for IsoDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_zero() {
            return f.write_str("P0D");
        }
        f.write_str("P")?;
        for (n, unit) in [
            (self.years, 'Y'),
            (self.months, 'M'),
            (self.weeks, 'W'),
            (self.days, 'D'),
        ] {
            if n > 0 {
                write!(f, "{n}{unit}")?;
            }
        }
        if self.hours + self.minutes + self.seconds > 0 {
            f.write_str("T")?;
            for (n, unit) in [(self.hours, 'H'), (self.minutes, 'M'), (self.seconds, 'S')] {
                if n > 0 {
                    write!(f, "{n}{unit}")?;
                }
            }
        }
        Ok(())
    }
}

impl Serialize for IsoDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for IsoDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse()
            .map_err(|e: ParseError| serde::de::Error::custom(format!("invalid duration: {e}")))
    }
}

impl JsonSchema for IsoDuration {
    fn schema_name() -> Cow<'static, str> {
        "IsoDuration".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": "^P(?!$)(\\d+Y)?(\\d+M)?(\\d+W)?(\\d+D)?(T(?=\\d)(\\d+H)?(\\d+M)?(\\d+S)?)?$",
            "description": "An ISO 8601 duration, e.g. P5Y (five years), P13M, P30D, PT12H."
        })
    }
}

/// An ISO 3166-1 alpha-2 country code, upper case (`DK`, `US`). `EU` is accepted for the
/// European Union as a whole, as privacy notices often say "within the EU". `ZZ` (the
/// user-assigned code that Unicode CLDR uses for an unknown region) stands for a country the
/// notice does not name, as in "countries outside the EU/EEA".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CountryCode([u8; 2]);

impl CountryCode {
    pub fn as_str(&self) -> &str {
        // Only ASCII upper-case letters are ever stored (see `from_str`).
        std::str::from_utf8(&self.0).unwrap_or("??")
    }

    /// The English short name: "Denmark", "United States".
    pub fn name(&self) -> &'static str {
        match self.as_str() {
            "EU" => return "European Union",
            UNNAMED => return "an unnamed country",
            _ => {}
        }
        crate::countries::COUNTRIES
            .iter()
            .find(|(code, _)| *code == self.as_str())
            .map_or("unknown country", |(_, name)| name)
    }

    /// Whether this is `ZZ`: a country the notice does not name.
    pub fn is_unnamed(&self) -> bool {
        self.as_str() == UNNAMED
    }
}

/// The code for a country a notice does not name.
const UNNAMED: &str = "ZZ";

impl CountryCode {
    /// The name as it reads inside a sentence: "the United States", "Denmark".
    pub fn in_prose(&self) -> String {
        const WITH_ARTICLE: &[&str] = &[
            "AE", "BS", "CD", "CF", "CG", "DO", "EU", "FO", "GB", "GM", "KM", "KY", "MH", "MV",
            "NL", "PH", "SB", "SC", "TC", "US", "VA", "VG", "VI",
        ];
        if WITH_ARTICLE.contains(&self.as_str()) {
            format!("the {}", self.name())
        } else {
            self.name().to_string()
        }
    }
}

impl FromStr for CountryCode {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let upper = s.to_ascii_uppercase();
        let known = upper == "EU"
            || upper == UNNAMED
            || crate::countries::COUNTRIES
                .iter()
                .any(|(code, _)| *code == upper);
        if s.len() != 2 || !known {
            let hint = crate::countries::COUNTRIES
                .iter()
                .find(|(_, name)| name.eq_ignore_ascii_case(s))
                .map(|(code, _)| format!(" (for {s}, write `{code}`)"))
                .unwrap_or_default();
            return Err(ParseError(format!(
                "`{s}` is not an ISO 3166-1 alpha-2 country code{hint}"
            )));
        }
        let b = upper.as_bytes();
        Ok(CountryCode([b[0], b[1]]))
    }
}

impl fmt::Display for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for CountryCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for CountryCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse()
            .map_err(|e: ParseError| serde::de::Error::custom(format!("invalid country: {e}")))
    }
}

impl JsonSchema for CountryCode {
    fn schema_name() -> Cow<'static, str> {
        "CountryCode".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": "^[A-Z]{2}$",
            "description": "ISO 3166-1 alpha-2 country code (EU for the European Union, ZZ for a country the notice does not name)."
        })
    }
}

/// An e-mail address: a bare addr-spec (RFC 5321 `local@domain`), nothing around it. No
/// display name, angle brackets, comments, quoted local parts, whitespace or control
/// characters; a dot-atom local part of at most 64 bytes and a domain of dot-separated labels
/// (letters, digits, hyphens; at most 63 bytes each, with a dot in it), 254 bytes in all.
/// Letters beyond ASCII are kept (internationalised addresses).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

/// The longest address that fits in an SMTP path (RFC 5321 4.5.3.1.3, less the brackets).
pub const EMAIL_MAX_LEN: usize = 254;

impl FromStr for Email {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        if email_shape(s) {
            Ok(Email(s.to_string()))
        } else {
            // The input is not echoed whole: it may be long, or carry control characters.
            let shown: String = s
                .chars()
                .take(64)
                .map(|c| if c.is_control() { '\u{fffd}' } else { c })
                .collect();
            Err(ParseError(format!(
                "`{shown}` is not an e-mail address: give only the address, as name@example.com"
            )))
        }
    }
}

/// Whether `s` is a bare addr-spec of the shape [`Email`] accepts.
fn email_shape(s: &str) -> bool {
    if s.len() > EMAIL_MAX_LEN {
        return false;
    }
    let Some((local, domain)) = s.rsplit_once('@') else {
        return false;
    };
    // RFC 5322 atext, plus letters and digits beyond ASCII.
    let atext = |c: char| {
        c.is_ascii_alphanumeric()
            || "!#$%&'*+-/=?^_`{|}~".contains(c)
            || (!c.is_ascii() && c.is_alphanumeric())
    };
    let label = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| {
                c.is_ascii_alphanumeric() || c == '-' || (!c.is_ascii() && c.is_alphanumeric())
            })
    };
    local.len() <= 64
        && local
            .split('.')
            .all(|atom| !atom.is_empty() && atom.chars().all(atext))
        && domain.contains('.')
        && domain.split('.').all(label)
}

string_newtype!(
    Email,
    "e-mail address",
    json_schema!({"type": "string", "format": "email"})
);

/// An absolute `http` or `https` URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Url(String);

impl FromStr for Url {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let rest = s
            .strip_prefix("https://")
            .or_else(|| s.strip_prefix("http://"));
        match rest {
            Some(host) if !host.is_empty() && !s.chars().any(char::is_whitespace) => {
                Ok(Url(s.to_string()))
            }
            _ => Err(ParseError(format!(
                "`{s}` is not an absolute URL (it must start with https:// or http://)"
            ))),
        }
    }
}

string_newtype!(
    Url,
    "URL",
    json_schema!({"type": "string", "format": "uri"})
);

/// A calendar date, `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Date {
    pub year: u16,
    pub month: u8,
    pub day: u8,
}

impl FromStr for Date {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let bad = || ParseError(format!("`{s}` is not a date (write YYYY-MM-DD)"));
        let mut parts = s.splitn(3, '-');
        let (Some(y), Some(m), Some(d)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad());
        };
        if y.len() != 4 || m.len() != 2 || d.len() != 2 {
            return Err(bad());
        }
        let year: u16 = y.parse().map_err(|_| bad())?;
        let month: u8 = m.parse().map_err(|_| bad())?;
        let day: u8 = d.parse().map_err(|_| bad())?;
        // The calendar's own rules (months, leap years) are jiff's.
        if jiff::civil::Date::new(
            i16::try_from(year).map_err(|_| bad())?,
            i8::try_from(month).map_err(|_| bad())?,
            i8::try_from(day).map_err(|_| bad())?,
        )
        .is_err()
        {
            return Err(bad());
        }
        Ok(Date { year, month, day })
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl Serialize for Date {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse()
            .map_err(|e: ParseError| serde::de::Error::custom(format!("invalid date: {e}")))
    }
}

impl JsonSchema for Date {
    fn schema_name() -> Cow<'static, str> {
        "Date".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "string", "format": "date"})
    }
}

/// The name of an environment variable that holds a secret (a connection string). The
/// declaration names it; it never holds the secret itself.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EnvVarName(String);

impl FromStr for EnvVarName {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        if s.contains("://") || s.contains('@') {
            return Err(ParseError(
                "this looks like a connection string; name the environment variable that holds it instead (e.g. `APP_DATABASE_URL`), so that no secret is committed".into(),
            ));
        }
        let valid = !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            && !s.starts_with(|c: char| c.is_ascii_digit());
        if valid {
            Ok(EnvVarName(s.to_string()))
        } else {
            Err(ParseError(format!(
                "`{s}` is not an environment variable name (upper-case letters, digits and `_`)"
            )))
        }
    }
}

string_newtype!(
    EnvVarName,
    "environment variable name",
    json_schema!({"type": "string", "pattern": "^[A-Z_][A-Z0-9_]*$"})
);

/// `table.column` in a dataset.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ColumnRef {
    pub table: String,
    pub column: String,
}

impl FromStr for ColumnRef {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        match s.rsplit_once('.') {
            Some((table, column)) if !table.is_empty() && !column.is_empty() => Ok(ColumnRef {
                table: table.to_string(),
                column: column.to_string(),
            }),
            _ => Err(ParseError(format!("`{s}` is not `table.column`"))),
        }
    }
}

impl fmt::Display for ColumnRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.table, self.column)
    }
}

impl Serialize for ColumnRef {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ColumnRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(|e: ParseError| {
            serde::de::Error::custom(format!("invalid column reference: {e}"))
        })
    }
}

impl JsonSchema for ColumnRef {
    fn schema_name() -> Cow<'static, str> {
        "ColumnRef".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "string", "pattern": "^.+\\..+$", "description": "table.column"})
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn durations_parse_and_print_canonically() {
        for (text, words) in [
            ("P5Y", "5 years"),
            ("P13M", "13 months"),
            ("P1Y6M", "1 year and 6 months"),
            ("P30D", "30 days"),
            ("PT12H", "12 hours"),
            ("P1DT2H", "1 day and 2 hours"),
        ] {
            let d: IsoDuration = text.parse().unwrap();
            assert_eq!(d.to_string(), text);
            assert_eq!(d.to_words(), words);
        }
    }

    #[test]
    fn malformed_durations_are_refused() {
        for bad in [
            "", "P", "PT", "5Y", "P5", "P1M1Y", "P1Y1Y", "PT5D", "P-1D", "P1.5Y", "P5y",
        ] {
            assert!(bad.parse::<IsoDuration>().is_err(), "{bad} parsed");
        }
    }

    #[test]
    fn country_codes_suggest_the_code_for_a_name() {
        assert_eq!("dk".parse::<CountryCode>().unwrap().as_str(), "DK");
        assert_eq!("US".parse::<CountryCode>().unwrap().name(), "United States");
        let err = "Denmark".parse::<CountryCode>().unwrap_err();
        assert!(err.0.contains("write `DK`"), "{err}");
        assert!("XX".parse::<CountryCode>().is_err());
    }

    #[test]
    fn zz_stands_for_an_unnamed_country() {
        let zz: CountryCode = "ZZ".parse().unwrap();
        assert!(zz.is_unnamed());
        assert_eq!(zz.in_prose(), "an unnamed country");
        assert!(!"US".parse::<CountryCode>().unwrap().is_unnamed());
    }

    #[test]
    fn identifiers_refuse_upper_case_and_spaces() {
        assert!("newsletter".parse::<PurposeId>().is_ok());
        assert!("News letter".parse::<PurposeId>().is_err());
        assert!("contact.email".parse::<CategoryId>().is_ok());
        assert!("contact..email".parse::<CategoryId>().is_err());
        assert!("contact.email".parse::<PurposeId>().is_err());
    }

    #[test]
    fn categories_nest() {
        let email: CategoryId = "contact.email".parse().unwrap();
        let contact: CategoryId = "contact".parse().unwrap();
        let contacts: CategoryId = "contacts".parse().unwrap();
        assert!(email.is_within(&contact));
        assert!(!contacts.is_within(&contact));
        assert_eq!(email.parent(), Some(contact));
    }

    #[test]
    fn dates_are_calendar_dates() {
        assert!("2024-02-29".parse::<Date>().is_ok());
        assert!("2023-02-29".parse::<Date>().is_err());
        assert!("2023-13-01".parse::<Date>().is_err());
    }

    #[test]
    fn secrets_are_not_env_var_names() {
        assert!("APP_DATABASE_URL".parse::<EnvVarName>().is_ok());
        let err = "postgres://u:p@h/db".parse::<EnvVarName>().unwrap_err();
        assert!(err.0.contains("connection string"));
    }

    #[test]
    fn e_mail_addresses_are_bare_addr_specs() {
        for good in [
            "ana@example.com",
            "luisg@embraer.com.br",
            "first.last+tag@sub.example.co.uk",
            "o'brien@example.ie",
            "jörg@bücher.example",
            "x@a-b.example",
        ] {
            assert!(good.parse::<Email>().is_ok(), "{good}");
        }
        let long_local = format!("{}@example.com", "a".repeat(65));
        let long_label = format!("a@{}.com", "b".repeat(64));
        let long_total = format!("a@{}.com", vec!["c".repeat(60); 5].join("."));
        for bad in [
            "Evil <attacker@evil.test>",
            "Evil<attacker@evil.test>",
            "<attacker@evil.test>",
            "attacker@evil.test (comment)",
            "attacker(comment)@evil.test",
            "\"quoted local\"@example.com",
            "a@b@example.com",
            "a@example.com\r\nBcc: x@evil.test",
            "a@example.com\n",
            "a\u{0}@example.com",
            ".a@example.com",
            "a..b@example.com",
            "a.@example.com",
            "a@example",
            "a@.example.com",
            "a@example..com",
            "a@-example.com",
            "a@example.com.",
            "a@exa_mple.com",
            "a@[127.0.0.1]",
            "a,b@example.com",
            "a;b@example.com",
            "@example.com",
            "a@",
            "",
            long_local.as_str(),
            long_label.as_str(),
            long_total.as_str(),
        ] {
            assert!(bad.parse::<Email>().is_err(), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn any_duration_round_trips(y in 0u32..100, mo in 0u32..24, d in 0u32..400, h in 0u32..48) {
            let d = IsoDuration { years: y, months: mo, days: d, hours: h, ..IsoDuration::default() };
            let text = d.to_string();
            prop_assert_eq!(text.parse::<IsoDuration>().unwrap(), d);
        }

        #[test]
        fn duration_parser_never_panics(s in "\\PC{0,12}") {
            let _ = s.parse::<IsoDuration>();
        }

        #[test]
        fn e_mail_parsing_never_panics_and_refuses_brackets_spaces_and_controls(s in "\\PC{0,80}|[ -~\t\r\n<>]{0,40}") {
            if let Ok(email) = s.parse::<Email>() {
                prop_assert!(!email.as_str().chars().any(|c| c == '<' || c == '>' || c.is_whitespace() || c.is_control()));
                prop_assert!(email.as_str().len() <= EMAIL_MAX_LEN);
                prop_assert_eq!(email.as_str().matches('@').count(), 1);
            }
        }

        #[test]
        fn wrapping_a_valid_address_is_refused(local in "[a-z0-9]{1,10}", domain in "[a-z]{1,10}\\.[a-z]{2,4}", name in "[A-Za-z]{0,8}", wrap in 0usize..5) {
            let addr = format!("{local}@{domain}");
            prop_assert!(addr.parse::<Email>().is_ok());
            let wrapped = match wrap {
                0 => format!("{name} <{addr}>"),
                1 => format!("{name}<{addr}>"),
                2 => format!("{addr} ({name})"),
                3 => format!("{addr}\r\n"),
                _ => format!(" {addr}"),
            };
            prop_assert!(wrapped.parse::<Email>().is_err(), "{:?}", wrapped);
        }
    }
}

/// A pseudonymous subject: the application's user id, or a random id given to an anonymous
/// visitor. 1 to 128 printable ASCII characters without spaces; never an e-mail address in
/// clear (the caller chooses, Pledge does not look inside).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubjectRef(String);

impl SubjectRef {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for SubjectRef {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        if s.is_empty() || s.len() > 128 || !s.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ParseError(format!(
                "`{}` is not a subject id: 1 to 128 printable ASCII characters without spaces",
                s.chars().take(140).collect::<String>()
            )));
        }
        Ok(SubjectRef(s.to_string()))
    }
}

impl fmt::Display for SubjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for SubjectRef {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// How the rows of a declared table name their person in the consent ledger: the table's
/// `consent_subject`, text with `{identity_kind}` placeholders filled from the row's identity
/// columns, e.g. `{customer_id}` or `customer-{customer_id}` when the application prefixes
/// its user ids. `{{` and `}}` stand for braces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectTemplate {
    parts: Vec<TemplatePart>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum TemplatePart {
    Text(String),
    Kind(IdentityKind),
}

impl SubjectTemplate {
    /// The identity kinds it is made of, in order.
    pub fn kinds(&self) -> impl Iterator<Item = &IdentityKind> {
        self.parts.iter().filter_map(|p| match p {
            TemplatePart::Kind(k) => Some(k),
            TemplatePart::Text(_) => None,
        })
    }

    /// The subject id of a row whose identity of kind `k` is `value(k)`; `None` when one is
    /// missing (a NULL column), an error when the result is not a subject id.
    pub fn render(
        &self,
        value: impl Fn(&IdentityKind) -> Option<String>,
    ) -> Option<Result<SubjectRef, ParseError>> {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                TemplatePart::Text(t) => out.push_str(t),
                TemplatePart::Kind(k) => out.push_str(&value(k)?),
            }
        }
        Some(out.parse())
    }
}

impl FromStr for SubjectTemplate {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let mut parts = Vec::new();
        let mut text = String::new();
        let mut chars = s.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    text.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    text.push('}');
                }
                '{' => {
                    let mut name = String::new();
                    let mut closed = false;
                    for c in chars.by_ref() {
                        if c == '}' {
                            closed = true;
                            break;
                        }
                        name.push(c);
                    }
                    if !closed {
                        return Err(ParseError(format!(
                            "`{s}` has a `{{` without its `}}`: write `{{{{` for a brace"
                        )));
                    }
                    let kind: IdentityKind = name.parse().map_err(|e| {
                        ParseError(format!(
                            "`{{{name}}}` in `{s}` does not name an identity kind: {e}"
                        ))
                    })?;
                    if !text.is_empty() {
                        parts.push(TemplatePart::Text(std::mem::take(&mut text)));
                    }
                    parts.push(TemplatePart::Kind(kind));
                }
                '}' => {
                    return Err(ParseError(format!(
                        "`{s}` has a `}}` without its `{{`: write `}}}}` for a brace"
                    )));
                }
                c => text.push(c),
            }
        }
        if !text.is_empty() {
            parts.push(TemplatePart::Text(text));
        }
        if !parts.iter().any(|p| matches!(p, TemplatePart::Kind(_))) {
            return Err(ParseError(format!(
                "`{s}` names no identity column: write e.g. `{{customer_id}}` or `customer-{{customer_id}}`"
            )));
        }
        Ok(SubjectTemplate { parts })
    }
}
