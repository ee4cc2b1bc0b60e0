//! A format-neutral document tree with spans. TOML and YAML (and JSON, read as YAML) are
//! parsed into [`Node`]s first, so that decoding, error reporting and merging are written once.

use crate::source::{FileId, Format, SourceFile, Span};
use saphyr::{LoadableYamlNode, MarkedYaml, Scalar, YamlData};

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub span: Span,
    pub kind: NodeKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// Strings, and TOML dates and times in their RFC 3339 text form.
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Key, Node)>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    pub name: String,
    pub span: Span,
}

impl NodeKind {
    /// How a value of this kind is named in error messages.
    pub fn describe(&self) -> &'static str {
        match self {
            NodeKind::Null => "nothing (null)",
            NodeKind::Bool(_) => "a boolean",
            NodeKind::Int(_) => "an integer",
            NodeKind::Float(_) => "a number",
            NodeKind::Str(_) => "a string",
            NodeKind::Seq(_) => "a list",
            NodeKind::Map(_) => "a table",
        }
    }
}

/// A syntax error: the document could not be read as TOML or YAML at all.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError {
    pub span: Span,
    pub message: String,
}

/// Parse one file into a tree. TOML parsing recovers, so several syntax errors may come back;
/// YAML stops at the first.
pub fn parse(file_id: FileId, file: &SourceFile) -> Result<Node, Vec<SyntaxError>> {
    match file.format() {
        Format::Toml => parse_toml(file_id, &file.text),
        Format::Yaml | Format::Json => parse_yaml(file_id, &file.text),
    }
}

fn parse_toml(file: FileId, text: &str) -> Result<Node, Vec<SyntaxError>> {
    let (table, errors) = toml::de::DeTable::parse_recoverable(text);
    if !errors.is_empty() {
        return Err(errors
            .into_iter()
            .map(|e| SyntaxError {
                span: Span::new(file, e.span().unwrap_or(0..0)),
                message: first_line(e.message()),
            })
            .collect());
    }
    let span = Span::new(file, 0..text.len());
    Ok(Node {
        span,
        kind: toml_table(file, table.into_inner()),
    })
}

fn first_line(message: &str) -> String {
    message.trim().lines().next().unwrap_or("").to_string()
}

fn toml_table(file: FileId, table: toml::de::DeTable<'_>) -> NodeKind {
    NodeKind::Map(
        table
            .into_iter()
            .map(|(key, value)| {
                let key = Key {
                    span: Span::new(file, key.span()),
                    name: key.into_inner().into_owned(),
                };
                (key, toml_value(file, value))
            })
            .collect(),
    )
}

fn toml_value(file: FileId, value: toml::Spanned<toml::de::DeValue<'_>>) -> Node {
    use toml::de::DeValue;
    let span = Span::new(file, value.span());
    let kind = match value.into_inner() {
        DeValue::String(s) => NodeKind::Str(s.into_owned()),
        DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
            Ok(n) => NodeKind::Int(n),
            Err(_) => NodeKind::Str(i.as_str().to_string()),
        },
        DeValue::Float(f) => match f.as_str().replace('_', "").parse::<f64>() {
            Ok(n) => NodeKind::Float(n),
            Err(_) => NodeKind::Str(f.as_str().to_string()),
        },
        DeValue::Boolean(b) => NodeKind::Bool(b),
        DeValue::Datetime(d) => NodeKind::Str(d.to_string()),
        DeValue::Array(items) => {
            NodeKind::Seq(items.into_iter().map(|v| toml_value(file, v)).collect())
        }
        DeValue::Table(t) => toml_table(file, t),
    };
    Node { span, kind }
}

fn parse_yaml(file: FileId, text: &str) -> Result<Node, Vec<SyntaxError>> {
    let offsets = CharOffsets::new(text);
    let docs = MarkedYaml::load_from_str(text).map_err(|e| {
        let at = offsets.byte(e.marker().index());
        vec![SyntaxError {
            span: Span::new(file, at..at),
            message: e.info().to_string(),
        }]
    })?;
    let mut docs = docs.into_iter();
    let Some(root) = docs.next() else {
        // An empty YAML file is an empty declaration, as an empty TOML file is.
        return Ok(Node {
            span: Span::new(file, 0..0),
            kind: NodeKind::Map(Vec::new()),
        });
    };
    if let Some(extra) = docs.next() {
        let at = offsets.byte(extra.span.start.index());
        return Err(vec![SyntaxError {
            span: Span::new(file, at..at),
            message: "a declaration file holds one YAML document; split the others into files of their own".into(),
        }]);
    }
    let mut errors = Vec::new();
    let node = yaml_node(file, &offsets, &root, &mut errors);
    if errors.is_empty() {
        Ok(node)
    } else {
        Err(errors)
    }
}

fn yaml_node(
    file: FileId,
    offsets: &CharOffsets,
    yaml: &MarkedYaml<'_>,
    errors: &mut Vec<SyntaxError>,
) -> Node {
    let span = Span::new(
        file,
        offsets.byte(yaml.span.start.index())..offsets.byte(yaml.span.end.index()),
    );
    let kind = match &yaml.data {
        YamlData::Value(scalar) => match scalar {
            Scalar::Null => NodeKind::Null,
            Scalar::Boolean(b) => NodeKind::Bool(*b),
            Scalar::Integer(i) => NodeKind::Int(*i),
            Scalar::FloatingPoint(f) => NodeKind::Float(f.into_inner()),
            Scalar::String(s) => NodeKind::Str(s.to_string()),
        },
        YamlData::Representation(text, _, _) => NodeKind::Str(text.to_string()),
        YamlData::Sequence(items) => NodeKind::Seq(
            items
                .iter()
                .map(|item| yaml_node(file, offsets, item, errors))
                .collect(),
        ),
        YamlData::Mapping(map) => NodeKind::Map(
            map.iter()
                .map(|(k, v)| {
                    let key = yaml_node(file, offsets, k, errors);
                    let name = match key.kind {
                        NodeKind::Str(s) => s,
                        NodeKind::Int(i) => i.to_string(),
                        NodeKind::Bool(b) => b.to_string(),
                        other => {
                            errors.push(SyntaxError {
                                span: key.span,
                                message: format!(
                                    "a key must be a string, found {}",
                                    other.describe()
                                ),
                            });
                            String::new()
                        }
                    };
                    (
                        Key {
                            name,
                            span: key.span,
                        },
                        yaml_node(file, offsets, v, errors),
                    )
                })
                .collect(),
        ),
        YamlData::Tagged(_, inner) => return yaml_node(file, offsets, inner, errors),
        YamlData::Alias(_) | YamlData::BadValue => {
            errors.push(SyntaxError {
                span,
                message: "YAML aliases and anchors are not supported in a declaration: write the value out"
                    .into(),
            });
            NodeKind::Null
        }
    };
    Node { span, kind }
}

/// The YAML parser counts characters; spans count bytes.
struct CharOffsets {
    /// Byte offset of each character, present only when the text is not ASCII.
    bytes: Option<Vec<usize>>,
    len: usize,
}

impl CharOffsets {
    fn new(text: &str) -> Self {
        let bytes = (!text.is_ascii()).then(|| text.char_indices().map(|(i, _)| i).collect());
        CharOffsets {
            bytes,
            len: text.len(),
        }
    }

    fn byte(&self, char_index: usize) -> usize {
        match &self.bytes {
            None => char_index.min(self.len),
            Some(b) => b.get(char_index).copied().unwrap_or(self.len),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tree with every span zeroed, to compare content across formats.
    fn kinds(node: &Node) -> Node {
        let kind = match &node.kind {
            NodeKind::Map(entries) => NodeKind::Map(
                entries
                    .iter()
                    .map(|(k, v)| {
                        (
                            Key {
                                name: k.name.clone(),
                                span: Span::default(),
                            },
                            kinds(v),
                        )
                    })
                    .collect(),
            ),
            NodeKind::Seq(items) => NodeKind::Seq(items.iter().map(kinds).collect()),
            other => other.clone(),
        };
        Node {
            span: Span::default(),
            kind,
        }
    }

    #[test]
    fn toml_and_yaml_give_the_same_tree() {
        let toml = SourceFile::new(
            "a.toml",
            "name = \"x\"\ncount = 3\non = true\nlist = [1.5]\nday = 2024-01-02\n",
        );
        let yaml = SourceFile::new(
            "a.yaml",
            "name: x\ncount: 3\non: true\nlist: [1.5]\nday: '2024-01-02'\n",
        );
        let t = parse(FileId(0), &toml).unwrap();
        let y = parse(FileId(0), &yaml).unwrap();
        assert_eq!(kinds(&t), kinds(&y));
    }

    #[test]
    fn toml_spans_point_at_values() {
        let file = SourceFile::new("a.toml", "[controller]\nname = \"Acme\"\n");
        let root = parse(FileId(0), &file).unwrap();
        let NodeKind::Map(entries) = &root.kind else {
            panic!()
        };
        let NodeKind::Map(inner) = &entries[0].1.kind else {
            panic!()
        };
        let (key, value) = &inner[0];
        assert_eq!(
            &file.text[key.span.start as usize..key.span.end as usize],
            "name"
        );
        assert_eq!(
            &file.text[value.span.start as usize..value.span.end as usize],
            "\"Acme\""
        );
    }

    #[test]
    fn yaml_spans_count_bytes_after_non_ascii_text() {
        let file = SourceFile::new("a.yaml", "a: é\nb: x\n");
        let root = parse(FileId(0), &file).unwrap();
        let NodeKind::Map(entries) = &root.kind else {
            panic!()
        };
        let (key, _) = &entries[1];
        assert_eq!(
            &file.text[key.span.start as usize..key.span.end as usize],
            "b"
        );
    }

    #[test]
    fn syntax_errors_are_located() {
        let file = SourceFile::new("a.toml", "a = 1\nb = \n");
        let errors = parse(FileId(0), &file).unwrap_err();
        assert_eq!(file.line_col(errors[0].span.start).0, 2);
    }
}
