//! Values read from and written to application databases.

use serde::{Serialize, Serializer};
use std::fmt;

/// One database value. Decimals and dates travel as text so nothing is lost on the way.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
    Bytes(Vec<u8>),
}

impl Value {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str(""),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::Text(s) => f.write_str(s),
            Value::Bytes(b) => {
                for byte in b {
                    write!(f, "{byte:02x}")?;
                }
                Ok(())
            }
        }
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => s.serialize_none(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(i) => s.serialize_i64(*i),
            Value::Float(x) => s.serialize_f64(*x),
            Value::Text(t) => s.serialize_str(t),
            Value::Bytes(_) => s.collect_str(self),
        }
    }
}

/// Rows of one table, as read for an access or portability request.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TableRows {
    pub table: String,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
    /// Set for rows that are not the person's but mention them ("records that mention you").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mention: Option<MentionRows>,
}

/// How the rows of a [`TableRows`] mention the person.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MentionRows {
    /// The mentioning columns: the person's role in the row, by the column's name.
    pub via: Vec<String>,
    /// The table of the person's rows they refer to.
    pub mentioned: String,
}
