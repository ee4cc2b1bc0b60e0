//! Who a request is about. One request is one person: every identity it names (an identity
//! kind and a value, such as `email=ana@example.com`) must be that person's, and the engine
//! checks that they all find the same rows. A batch is a list of people, each checked on its
//! own, read from a file in one of the formats [`parse_batch`] takes.
//!
//! Pure: callers hand in the text; nothing here reads a file.

use pledge_lang::types::IdentityKind;
use std::fmt;
use thiserror::Error;

/// One person's identities: at least one, each kind once, no empty value, in kind order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identities(Vec<(IdentityKind, String)>);

/// Where a record of a batch file is, for messages: a line, or the position of an item of a
/// JSON array.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    Line(usize),
    Item(usize),
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Position::Line(n) => write!(f, "line {n}"),
            Position::Item(n) => write!(f, "item {n}"),
        }
    }
}

/// One person of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub at: Position,
    pub identities: Identities,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PeopleError {
    #[error("no identity given: name the person, e.g. email=ana@example.com")]
    Empty,
    #[error("`{0}` is not KIND=VALUE (e.g. email=ana@example.com)")]
    NotPair(String),
    #[error("identity kind `{kind}`: {message}")]
    Kind { kind: String, message: String },
    #[error("identity `{0}` has no value")]
    NoValue(IdentityKind),
    #[error(
        "two different values for `{0}`: one request is one person (for several people, give a batch file with --identities)"
    )]
    TwoValues(IdentityKind),
    #[error("{at}: {source}")]
    At {
        at: Position,
        #[source]
        source: Box<PeopleError>,
    },
    #[error("{at}: {message}")]
    Format { at: Position, message: String },
    #[error("the batch names no one")]
    NoRecords,
}

impl Identities {
    /// One person from kind-value pairs. The same pair twice counts once; two values of one
    /// kind are refused: they cannot both be one person's.
    pub fn new(
        pairs: impl IntoIterator<Item = (IdentityKind, String)>,
    ) -> Result<Self, PeopleError> {
        let mut out: Vec<(IdentityKind, String)> = Vec::new();
        for (kind, value) in pairs {
            if value.trim().is_empty() {
                return Err(PeopleError::NoValue(kind));
            }
            match out.iter().find(|(k, _)| *k == kind) {
                Some((_, v)) if *v == value => {}
                Some(_) => return Err(PeopleError::TwoValues(kind)),
                None => out.push((kind, value)),
            }
        }
        if out.is_empty() {
            return Err(PeopleError::Empty);
        }
        // In kind order, so that the same person reads the same from any format.
        out.sort();
        Ok(Identities(out))
    }

    /// One person from `KIND=VALUE` texts (the command line's `-i`).
    pub fn from_pairs<S: AsRef<str>>(texts: &[S]) -> Result<Self, PeopleError> {
        let pairs = texts
            .iter()
            .map(|t| pair(t.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        Identities::new(pairs)
    }

    pub fn pairs(&self) -> &[(IdentityKind, String)] {
        &self.0
    }

    /// The value given for `kind`, if any.
    pub fn get(&self, kind: &IdentityKind) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == kind)
            .map(|(_, v)| v.as_str())
    }
}

/// `KIND=VALUE`, both trimmed.
pub fn pair(text: &str) -> Result<(IdentityKind, String), PeopleError> {
    let Some((kind, value)) = text.split_once('=') else {
        return Err(PeopleError::NotPair(text.to_string()));
    };
    let kind = parse_kind(kind.trim())?;
    let value = value.trim();
    if value.is_empty() {
        return Err(PeopleError::NoValue(kind));
    }
    Ok((kind, value.to_string()))
}

fn parse_kind(text: &str) -> Result<IdentityKind, PeopleError> {
    text.parse()
        .map_err(|e: pledge_lang::types::ParseError| PeopleError::Kind {
            kind: text.to_string(),
            message: e.to_string(),
        })
}

/// The identities of every kind the people of a batch give, each kind with its values (what
/// the planner takes as the seeds of a request).
pub fn by_kind<'a>(
    people: impl IntoIterator<Item = &'a Identities>,
) -> Vec<(IdentityKind, Vec<String>)> {
    let mut out: Vec<(IdentityKind, Vec<String>)> = Vec::new();
    for person in people {
        for (kind, value) in person.pairs() {
            match out.iter_mut().find(|(k, _)| k == kind) {
                Some((_, values)) => values.push(value.clone()),
                None => out.push((kind.clone(), vec![value.clone()])),
            }
        }
    }
    out
}

/// Read a batch: one person per record, in one of these formats, told apart by the first
/// character or line that is not blank or a `#` comment:
///
/// - lines of `KIND=VALUE[,KIND=VALUE...]`: a comma followed by `KIND=` starts the next
///   identity of the same person (any other comma belongs to the value);
/// - a JSON array of objects, `[{"email": "ana@example.com", "customer_id": 5}, ...]`;
/// - JSON lines, one such object per line;
/// - CSV (RFC 4180) whose header row names the identity kinds; an empty field means the
///   person is not named by that kind. A first line without `=` is taken as a CSV header.
pub fn parse_batch(text: &str) -> Result<Vec<Record>, PeopleError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'));
    let records = match first {
        None => Vec::new(),
        Some(l) if l.starts_with('[') => json_array(text)?,
        Some(l) if l.starts_with('{') => json_lines(text)?,
        Some(l) if l.contains('=') => lines(text)?,
        Some(_) => csv(text)?,
    };
    if records.is_empty() {
        return Err(PeopleError::NoRecords);
    }
    Ok(records)
}

fn at(at: Position) -> impl Fn(PeopleError) -> PeopleError {
    move |e| PeopleError::At {
        at,
        source: Box::new(e),
    }
}

fn lines(text: &str) -> Result<Vec<Record>, PeopleError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let position = Position::Line(i + 1);
        out.push(Record {
            at: position,
            identities: line_identities(line).map_err(at(position))?,
        });
    }
    Ok(out)
}

/// `KIND=VALUE[,KIND=VALUE...]`.
fn line_identities(line: &str) -> Result<Identities, PeopleError> {
    let mut parts: Vec<String> = Vec::new();
    for piece in line.split(',') {
        let starts_pair = piece
            .split_once('=')
            .is_some_and(|(k, _)| k.trim().parse::<IdentityKind>().is_ok());
        match parts.last_mut() {
            Some(last) if !starts_pair => {
                last.push(',');
                last.push_str(piece);
            }
            _ => parts.push(piece.to_string()),
        }
    }
    Identities::from_pairs(&parts)
}

fn json_object(value: serde_json::Value) -> Result<Identities, PeopleError> {
    let serde_json::Value::Object(map) = value else {
        return Err(PeopleError::NotPair(
            "a record that is not a JSON object".into(),
        ));
    };
    let mut pairs = Vec::new();
    for (k, v) in map {
        let kind = parse_kind(&k)?;
        let value = match v {
            serde_json::Value::String(s) => s,
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Bool(b) => b.to_string(),
            // Not named by this kind.
            serde_json::Value::Null => continue,
            _ => {
                return Err(PeopleError::Kind {
                    kind: k,
                    message: "the value must be a string or a number".into(),
                });
            }
        };
        pairs.push((kind, value));
    }
    Identities::new(pairs)
}

fn json_array(text: &str) -> Result<Vec<Record>, PeopleError> {
    let items: Vec<serde_json::Value> =
        serde_json::from_str(text).map_err(|e| PeopleError::Format {
            at: Position::Line(e.line()),
            message: format!("not a JSON array of objects: {e}"),
        })?;
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let position = Position::Item(i + 1);
            Ok(Record {
                at: position,
                identities: json_object(item).map_err(at(position))?,
            })
        })
        .collect()
}

fn json_lines(text: &str) -> Result<Vec<Record>, PeopleError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let position = Position::Line(i + 1);
        let value: serde_json::Value =
            serde_json::from_str(line).map_err(|e| PeopleError::Format {
                at: position,
                message: format!("not a JSON object: {e}"),
            })?;
        out.push(Record {
            at: position,
            identities: json_object(value).map_err(at(position))?,
        });
    }
    Ok(out)
}

/// The rows of an RFC 4180 text, each with the line it starts on. Unquoted fields are
/// trimmed; blank lines and lines starting with `#` outside quotes are skipped.
fn csv_rows(text: &str) -> Result<Vec<(usize, Vec<String>)>, PeopleError> {
    let mut rows = Vec::new();
    let mut chars = text.chars().peekable();
    let mut line = 1;
    while chars.peek().is_some() {
        let start = line;
        // Skip blank and comment lines.
        if matches!(chars.peek(), Some('\n' | '\r')) {
            if chars.next() == Some('\n') {
                line += 1;
            }
            continue;
        }
        if chars.peek() == Some(&'#') {
            for c in chars.by_ref() {
                if c == '\n' {
                    line += 1;
                    break;
                }
            }
            continue;
        }
        let mut fields = Vec::new();
        let mut field = String::new();
        let mut quoted = false;
        loop {
            match chars.next() {
                None => {
                    fields.push(finish(field, quoted));
                    break;
                }
                Some('"') if field.trim().is_empty() && !quoted => {
                    field.clear();
                    quoted = true;
                    // A quoted field: up to the closing quote, `""` an escaped quote.
                    loop {
                        match chars.next() {
                            None => {
                                return Err(PeopleError::Format {
                                    at: Position::Line(start),
                                    message: "a quoted field is not closed".into(),
                                });
                            }
                            Some('"') if chars.peek() == Some(&'"') => {
                                chars.next();
                                field.push('"');
                            }
                            Some('"') => break,
                            Some(c) => {
                                if c == '\n' {
                                    line += 1;
                                }
                                field.push(c);
                            }
                        }
                    }
                }
                Some(',') => {
                    fields.push(finish(std::mem::take(&mut field), quoted));
                    quoted = false;
                }
                Some('\n') => {
                    line += 1;
                    fields.push(finish(field, quoted));
                    break;
                }
                Some('\r') => {}
                Some(c) if quoted => {
                    if !c.is_whitespace() {
                        return Err(PeopleError::Format {
                            at: Position::Line(start),
                            message: "text after a quoted field".into(),
                        });
                    }
                }
                Some(c) => field.push(c),
            }
        }
        rows.push((start, fields));
    }
    Ok(rows)
}

fn finish(field: String, quoted: bool) -> String {
    if quoted {
        field
    } else {
        field.trim().to_string()
    }
}

fn csv(text: &str) -> Result<Vec<Record>, PeopleError> {
    let mut rows = csv_rows(text)?.into_iter();
    let Some((header_line, header)) = rows.next() else {
        return Ok(Vec::new());
    };
    let kinds = header
        .iter()
        .map(|k| parse_kind(k))
        .collect::<Result<Vec<_>, _>>()
        .map_err(at(Position::Line(header_line)))?;
    let mut out = Vec::new();
    for (line, fields) in rows {
        let position = Position::Line(line);
        if fields.len() != kinds.len() {
            return Err(PeopleError::Format {
                at: position,
                message: format!(
                    "{} fields where the header names {} identity kinds",
                    fields.len(),
                    kinds.len()
                ),
            });
        }
        let pairs = kinds
            .iter()
            .cloned()
            .zip(fields)
            .filter(|(_, v)| !v.is_empty());
        out.push(Record {
            at: position,
            identities: Identities::new(pairs).map_err(at(position))?,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn kind(s: &str) -> IdentityKind {
        s.parse().unwrap()
    }

    fn person(pairs: &[(&str, &str)]) -> Identities {
        Identities::new(pairs.iter().map(|(k, v)| (kind(k), v.to_string()))).unwrap()
    }

    #[test]
    fn one_kind_per_line_still_reads() {
        let got = parse_batch("# people\nemail=a@x.org\n\nemail = b@x.org \n").unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].at, Position::Line(2));
        assert_eq!(got[1].identities, person(&[("email", "b@x.org")]));
    }

    #[test]
    fn several_kinds_per_line_and_commas_in_values() {
        let got =
            parse_batch("email=a@x.org,customer_id=5\nname=Smith, John,email=j@x.org\n").unwrap();
        assert_eq!(
            got[0].identities,
            person(&[("email", "a@x.org"), ("customer_id", "5")])
        );
        assert_eq!(
            got[1].identities,
            person(&[("name", "Smith, John"), ("email", "j@x.org")])
        );
    }

    #[test]
    fn json_array_json_lines_and_csv() {
        let want = vec![
            person(&[("email", "a@x.org"), ("customer_id", "5")]),
            person(&[("email", "b@x.org")]),
        ];
        let array = parse_batch(r#"[{"email": "a@x.org", "customer_id": 5}, {"email": "b@x.org", "customer_id": null}]"#).unwrap();
        let jsonl = parse_batch(
            "{\"email\": \"a@x.org\", \"customer_id\": \"5\"}\n{\"email\": \"b@x.org\"}\n",
        )
        .unwrap();
        let csv = parse_batch("email,customer_id\na@x.org,5\n\"b@x.org\",\n").unwrap();
        for got in [&array, &jsonl, &csv] {
            assert_eq!(
                got.iter().map(|r| r.identities.clone()).collect::<Vec<_>>(),
                want
            );
        }
        assert_eq!(array[1].at, Position::Item(2));
        assert_eq!(csv[1].at, Position::Line(3));
    }

    #[test]
    fn bad_records_are_named_by_position() {
        let e = parse_batch("email=a@x.org\nemail=b@x.org,email=c@x.org\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "line 2: two different values for `email`: one request is one person (for several people, give a batch file with --identities)"
        );
        let e = parse_batch("email,phone\na@x.org\n").unwrap_err();
        assert!(e.to_string().starts_with("line 2: 1 fields"), "{e}");
        assert_eq!(parse_batch("# nothing\n"), Err(PeopleError::NoRecords));
        assert!(matches!(
            Identities::from_pairs(&["email=a", "email=b"]),
            Err(PeopleError::TwoValues(_))
        ));
        assert!(Identities::from_pairs(&["email=a", "email=a"]).is_ok());
    }

    fn kinds() -> impl Strategy<Value = IdentityKind> {
        prop::sample::select(vec!["email", "customer_id", "phone", "user-id"]).prop_map(kind)
    }

    /// People whose values survive every format: no surrounding blanks, no line breaks.
    fn people(value: &'static str) -> impl Strategy<Value = Vec<Identities>> {
        prop::collection::vec(
            prop::collection::vec((kinds(), value), 1..4).prop_filter_map("a person", |pairs| {
                let mut seen = Vec::new();
                let pairs: Vec<_> = pairs
                    .into_iter()
                    .filter(|(k, _)| {
                        let new = !seen.contains(k);
                        seen.push(k.clone());
                        new
                    })
                    .collect();
                Identities::new(pairs).ok()
            }),
            1..6,
        )
    }

    fn csv_field(v: &str) -> String {
        format!("\"{}\"", v.replace('"', "\"\""))
    }

    proptest! {
        #[test]
        fn never_panics(text in "\\PC{0,200}") {
            let _ = parse_batch(&text);
        }

        #[test]
        fn lines_round_trip(people in people("[a-zA-Z0-9@.]([a-zA-Z0-9@.+_ -]{0,6}[a-zA-Z0-9@.])?")) {
            let text: String = people.iter().map(|p| {
                p.pairs().iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",") + "\n"
            }).collect();
            let got: Vec<Identities> = parse_batch(&text).unwrap().into_iter().map(|r| r.identities).collect();
            prop_assert_eq!(got, people);
        }

        #[test]
        fn json_and_csv_round_trip(people in people("[^\\x00-\\x1f\"\\\\]{0,8}[a-zA-Z0-9,=\"]")) {
            let jsonl: String = people.iter().map(|p| {
                let map: serde_json::Map<String, serde_json::Value> = p.pairs().iter()
                    .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.clone()))).collect();
                serde_json::Value::Object(map).to_string() + "\n"
            }).collect();
            let got: Vec<Identities> = parse_batch(&jsonl).unwrap().into_iter().map(|r| r.identities).collect();
            prop_assert_eq!(&got, &people);

            let mut header: Vec<IdentityKind> = Vec::new();
            for p in &people {
                for (k, _) in p.pairs() {
                    if !header.contains(k) { header.push(k.clone()); }
                }
            }
            let mut csv = header.iter().map(ToString::to_string).collect::<Vec<_>>().join(",") + "\r\n";
            for p in &people {
                let fields: Vec<String> = header.iter().map(|k| p.get(k).map(csv_field).unwrap_or_default()).collect();
                csv.push_str(&fields.join(","));
                csv.push_str("\r\n");
            }
            let got: Vec<Vec<(IdentityKind, String)>> = parse_batch(&csv).unwrap().into_iter().map(|r| {
                let mut pairs = r.identities.pairs().to_vec();
                pairs.sort();
                pairs
            }).collect();
            let want: Vec<Vec<(IdentityKind, String)>> = people.iter().map(|p| {
                let mut pairs = p.pairs().to_vec();
                pairs.sort();
                pairs
            }).collect();
            prop_assert_eq!(got, want);
        }
    }
}
