//! A serde deserializer over [`Node`] trees. Every error is tied to the span of the value (or
//! key) it is about, unknown keys and variants come with a "did you mean", and [`Spanned`]
//! values receive the place they were written.

use crate::node::{Key, Node, NodeKind};
use crate::source::{Span, Spanned};
use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};
use std::fmt;

/// An error while turning a tree into the declaration model.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodeError {
    pub span: Option<Span>,
    pub message: String,
    pub help: Option<String>,
}

impl DecodeError {
    pub fn new(message: impl Into<String>) -> Self {
        DecodeError {
            span: None,
            message: message.into(),
            help: None,
        }
    }

    pub fn at(span: Span, message: impl Into<String>) -> Self {
        DecodeError {
            span: Some(span),
            message: message.into(),
            help: None,
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Attach a span unless a more precise (inner) one is already there.
    fn located(mut self, span: Span) -> Self {
        self.span.get_or_insert(span);
        self
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DecodeError {}

impl de::Error for DecodeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DecodeError::new(msg.to_string())
    }

    fn invalid_type(unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        DecodeError::new(format!(
            "expected {exp}, found {}",
            describe_unexpected(unexp)
        ))
    }

    fn invalid_value(unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        DecodeError::new(format!(
            "expected {exp}, found {}",
            describe_unexpected(unexp)
        ))
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        let error = DecodeError::new(format!("unknown key `{field}`"));
        match did_you_mean(field, expected.iter().copied()) {
            Some(s) => error.with_help(format!("did you mean `{s}`?")),
            None => error.with_help(format!("expected one of {}", list(expected))),
        }
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        let error = DecodeError::new(format!("unknown value `{variant}`"));
        let all = format!("expected one of {}", list(expected));
        match did_you_mean(variant, expected.iter().copied()) {
            Some(s) => error.with_help(format!("did you mean `{s}`? ({all})")),
            None => error.with_help(all),
        }
    }

    fn missing_field(field: &'static str) -> Self {
        DecodeError::new(format!("missing key `{field}`"))
    }

    fn duplicate_field(field: &'static str) -> Self {
        DecodeError::new(format!("key `{field}` is given twice"))
    }
}

fn describe_unexpected(unexp: de::Unexpected<'_>) -> String {
    match unexp {
        de::Unexpected::Str(s) => format!("the string \"{s}\""),
        de::Unexpected::Map => "a table".into(),
        de::Unexpected::Seq => "a list".into(),
        de::Unexpected::Unit => "nothing (null)".into(),
        other => other.to_string(),
    }
}

fn list(items: &[&str]) -> String {
    items
        .iter()
        .map(|s| format!("`{s}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The closest candidate to a misspelt word, if one is close enough to be a likely typo.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score > 0.82)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// Deserialize a `T` from a node.
pub fn from_node<'de, T: de::Deserialize<'de>>(node: &Node) -> Result<T, DecodeError> {
    let (result, mut typos) = from_node_recovering(node);
    match result {
        // A typo recovered from is still an error for this caller.
        Ok(_) if !typos.is_empty() => Err(typos.remove(0)),
        other => other,
    }
}

std::thread_local! {
    /// The unknown keys met while one [`from_node_recovering`] runs (serde's visitors give
    /// a deserializer no other way to hand back more than one error).
    static TYPOS: std::cell::RefCell<Vec<DecodeError>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Deserialize a `T` from a node, going on past unknown keys so that one run reports every
/// typo: a key close to one the table takes and does not have (`categries`) is read as that
/// key, any other unknown key is skipped. Returns the result and the unknown keys, each an
/// error with its "did you mean"; the result is what the declaration would be with the
/// typos corrected.
pub fn from_node_recovering<'de, T: de::Deserialize<'de>>(
    node: &Node,
) -> (Result<T, DecodeError>, Vec<DecodeError>) {
    let outer = TYPOS.with(|t| std::mem::take(&mut *t.borrow_mut()));
    let result = T::deserialize(NodeDeserializer(node)).map_err(|e| e.located(node.span));
    let typos = TYPOS.with(|t| std::mem::replace(&mut *t.borrow_mut(), outer));
    (result, typos)
}

pub struct NodeDeserializer<'a>(pub &'a Node);

impl<'de> de::Deserializer<'de> for NodeDeserializer<'_> {
    type Error = DecodeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        let node = self.0;
        let result = match &node.kind {
            NodeKind::Null => visitor.visit_unit(),
            NodeKind::Bool(b) => visitor.visit_bool(*b),
            NodeKind::Int(i) => visitor.visit_i64(*i),
            NodeKind::Float(f) => visitor.visit_f64(*f),
            NodeKind::Str(s) => visitor.visit_str(s),
            NodeKind::Seq(items) => visitor.visit_seq(SeqAccess {
                items: items.iter(),
            }),
            NodeKind::Map(entries) => visitor.visit_map(MapAccess {
                all: entries,
                entries: entries.iter(),
                value: None,
                fields: None,
                recovered: Vec::new(),
            }),
        };
        result.map_err(|e| e.located(node.span))
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        match self.0.kind {
            NodeKind::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        if name == SPANNED_NAME {
            return visitor.visit_map(SpannedAccess {
                node: self.0,
                step: 0,
            });
        }
        if !matches!(self.0.kind, NodeKind::Map(_)) {
            let message = format!("expected a table, found {}", self.0.kind.describe());
            let error = DecodeError::at(self.0.span, message);
            return Err(if fields.is_empty() {
                error
            } else {
                error.with_help(format!(
                    "a table with keys such as {}",
                    list(&fields[..fields.len().min(4)])
                ))
            });
        }
        let NodeKind::Map(entries) = &self.0.kind else {
            return self.deserialize_any(visitor);
        };
        visitor
            .visit_map(MapAccess {
                all: entries,
                entries: entries.iter(),
                value: None,
                fields: Some(fields),
                recovered: Vec::new(),
            })
            .map_err(|e| e.located(self.0.span))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        let node = self.0;
        let result = match &node.kind {
            NodeKind::Str(s) => visitor.visit_enum(s.as_str().into_deserializer()),
            NodeKind::Map(entries) if entries.len() == 1 => {
                let (key, value) = &entries[0];
                visitor.visit_enum(EnumAccess { key, value })
            }
            other => Err(DecodeError::new(format!(
                "expected one of {}, found {}",
                list(variants),
                other.describe()
            ))),
        };
        result.map_err(|e| e.located(node.span))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map identifier ignored_any
    }
}

struct SeqAccess<'a> {
    items: std::slice::Iter<'a, Node>,
}

impl<'de> de::SeqAccess<'de> for SeqAccess<'_> {
    type Error = DecodeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DecodeError> {
        match self.items.next() {
            None => Ok(None),
            Some(node) => seed
                .deserialize(NodeDeserializer(node))
                .map(Some)
                .map_err(|e| e.located(node.span)),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct MapAccess<'a> {
    /// Every entry of the table, to tell whether a key a typo resembles is given too.
    all: &'a [(Key, Node)],
    entries: std::slice::Iter<'a, (Key, Node)>,
    value: Option<&'a Node>,
    /// The keys the struct being read takes (none for a map of arbitrary keys).
    fields: Option<&'static [&'static str]>,
    /// Keys read in place of typos so far (each stands in for one typo only).
    recovered: Vec<&'static str>,
}

impl<'de> de::MapAccess<'de> for MapAccess<'_> {
    type Error = DecodeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DecodeError> {
        loop {
            let Some((key, value)) = self.entries.next() else {
                return Ok(None);
            };
            let Some(fields) = self.fields.filter(|f| !f.contains(&key.name.as_str())) else {
                self.value = Some(value);
                return seed
                    .deserialize(KeyDeserializer(key))
                    .map(Some)
                    .map_err(|e| e.located(key.span));
            };
            // An unknown key: recorded, then read as the key it resembles when the table
            // lacks that one, else skipped, so the rest of the table is still checked.
            let error = <DecodeError as de::Error>::unknown_field(&key.name, fields);
            TYPOS.with(|t| t.borrow_mut().push(error.located(key.span)));
            let given = |name: &str| self.all.iter().any(|(k, _)| k.name == name);
            if let Some(meant) = did_you_mean(&key.name, fields.iter().copied())
                .filter(|meant| !given(meant) && !self.recovered.contains(meant))
            {
                self.recovered.push(meant);
                self.value = Some(value);
                return seed
                    .deserialize(meant.into_deserializer())
                    .map(Some)
                    .map_err(|e: DecodeError| e.located(key.span));
            }
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, DecodeError> {
        let node = self
            .value
            .take()
            .ok_or_else(|| DecodeError::new("a value was asked for before its key"))?;
        seed.deserialize(NodeDeserializer(node))
            .map_err(|e| e.located(node.span))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

/// Keys deserialize as strings, but keep their span for `Spanned<String>` map keys.
struct KeyDeserializer<'a>(&'a Key);

impl<'de> de::Deserializer<'de> for KeyDeserializer<'_> {
    type Error = DecodeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        visitor.visit_str(&self.0.name)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        if name == SPANNED_NAME {
            let node = Node {
                span: self.0.span,
                kind: NodeKind::Str(self.0.name.clone()),
            };
            return visitor.visit_map(SpannedAccess {
                node: &node,
                step: 0,
            });
        }
        self.deserialize_any(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        visitor.visit_newtype_struct(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string option
        bytes byte_buf unit unit_struct seq tuple tuple_struct map enum identifier ignored_any
    }
}

struct EnumAccess<'a> {
    key: &'a Key,
    value: &'a Node,
}

impl<'de, 'a> de::EnumAccess<'de> for EnumAccess<'a> {
    type Error = DecodeError;
    type Variant = NodeDeserializer<'a>;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Self::Variant), DecodeError> {
        let variant = seed
            .deserialize(KeyDeserializer(self.key))
            .map_err(|e| e.located(self.key.span))?;
        Ok((variant, NodeDeserializer(self.value)))
    }
}

impl<'de> de::VariantAccess<'de> for NodeDeserializer<'_> {
    type Error = DecodeError;

    fn unit_variant(self) -> Result<(), DecodeError> {
        match self.0.kind {
            NodeKind::Null => Ok(()),
            _ => Err(DecodeError::at(self.0.span, "this value takes no settings")),
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<T::Value, DecodeError> {
        seed.deserialize(self)
    }

    fn tuple_variant<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        de::Deserializer::deserialize_seq(self, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        de::Deserializer::deserialize_struct(self, "", fields, visitor)
    }
}

// `Spanned<T>` asks for this struct name; only this deserializer answers with the span.
const SPANNED_NAME: &str = "$pledge::Spanned";
const SPANNED_FIELDS: &[&str] = &["$file", "$start", "$end", "$value"];

struct SpannedAccess<'a> {
    node: &'a Node,
    step: usize,
}

impl<'de> de::MapAccess<'de> for SpannedAccess<'_> {
    type Error = DecodeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DecodeError> {
        match SPANNED_FIELDS.get(self.step) {
            Some(name) => seed.deserialize((*name).into_deserializer()).map(Some),
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, DecodeError> {
        let span = self.node.span;
        let step = self.step;
        self.step += 1;
        match step {
            0 => seed.deserialize(span.file.0.into_deserializer()),
            1 => seed.deserialize(span.start.into_deserializer()),
            2 => seed.deserialize(span.end.into_deserializer()),
            _ => seed.deserialize(NodeDeserializer(self.node)),
        }
    }
}

impl<'de, T: de::Deserialize<'de>> de::Deserialize<'de> for Spanned<T> {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SpannedVisitor<T>(std::marker::PhantomData<T>);

        impl<'de, T: de::Deserialize<'de>> Visitor<'de> for SpannedVisitor<T> {
            type Value = Spanned<T>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a value with its location")
            }

            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Spanned<T>, A::Error> {
                fn expect_key<'de, A: de::MapAccess<'de>>(
                    map: &mut A,
                    name: &str,
                ) -> Result<(), A::Error> {
                    match map.next_key::<String>()? {
                        Some(k) if k == name => Ok(()),
                        _ => Err(de::Error::custom(
                            "a located value is read only from a declaration",
                        )),
                    }
                }
                expect_key(&mut map, "$file")?;
                let file: u32 = map.next_value()?;
                expect_key(&mut map, "$start")?;
                let start: u32 = map.next_value()?;
                expect_key(&mut map, "$end")?;
                let end: u32 = map.next_value()?;
                expect_key(&mut map, "$value")?;
                let value: T = map.next_value()?;
                let span = Span {
                    file: crate::source::FileId(file),
                    start,
                    end,
                };
                Ok(Spanned::new(span, value))
            }
        }

        deserializer.deserialize_struct(
            SPANNED_NAME,
            SPANNED_FIELDS,
            SpannedVisitor(std::marker::PhantomData),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::parse;
    use crate::source::{FileId, SourceFile};
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Person {
        name: Spanned<String>,
        #[serde(default)]
        age: Option<u8>,
        kind: Kind,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "snake_case", deny_unknown_fields)]
    enum Kind {
        Customer,
        Employee { since: u16 },
    }

    fn decode(text: &str) -> (SourceFile, Result<Person, DecodeError>) {
        let file = SourceFile::new("t.toml", text);
        let node = parse(FileId(0), &file).unwrap();
        let result = from_node(&node);
        (file, result)
    }

    #[test]
    fn spanned_values_know_where_they_were_written() {
        let (file, person) = decode("name = \"Ana\"\nkind = \"customer\"\n");
        let person = person.unwrap();
        assert_eq!(person.name.value, "Ana");
        assert_eq!(person.age, None);
        assert_eq!(file.line_col(person.name.span.start), (1, 8));
        assert_eq!(person.kind, Kind::Customer);
    }

    #[test]
    fn struct_variants_read_from_single_key_tables() {
        let (_, person) = decode("name = \"Ana\"\nkind = { employee = { since = 2020 } }\n");
        assert_eq!(person.unwrap().kind, Kind::Employee { since: 2020 });
    }

    #[test]
    fn unknown_keys_suggest_the_closest() {
        let (file, person) = decode("nmae = \"Ana\"\nkind = \"customer\"\n");
        let error = person.unwrap_err();
        assert_eq!(error.message, "unknown key `nmae`");
        assert_eq!(error.help.as_deref(), Some("did you mean `name`?"));
        assert_eq!(file.line_col(error.span.unwrap().start), (1, 1));
    }

    #[test]
    fn wrong_types_point_at_the_value() {
        let (file, person) = decode("name = \"Ana\"\nage = 300\nkind = \"customer\"\n");
        let error = person.unwrap_err();
        assert!(error.message.contains("u8"), "{}", error.message);
        assert_eq!(file.line_col(error.span.unwrap().start), (2, 7));
    }

    #[test]
    fn unknown_variants_suggest_the_closest() {
        let (file, person) = decode("name = \"Ana\"\nkind = \"custmer\"\n");
        let error = person.unwrap_err();
        assert_eq!(error.message, "unknown value `custmer`");
        assert!(error.help.unwrap().starts_with("did you mean `customer`?"));
        assert_eq!(file.line_col(error.span.unwrap().start), (2, 8));
    }
}
