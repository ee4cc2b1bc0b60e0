//! A person's identities against the declared tables of one dataset: for each table that
//! declares any of them, the columns they are looked up in and the values, typed as those
//! columns hold them. What the one-person check of the connectors runs on: in each such
//! table, every identity must find the same rows, and at most one.

use super::{ColumnSchema, PlanError, SchemaGraph, Value, ValueKind};
use crate::people::{Identities, Position};
use pledge_lang::model::{Dataset, Table};
use pledge_lang::types::IdentityKind;
use serde::Serialize;

/// One identity looked up in one column.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Probe {
    pub kind: IdentityKind,
    pub column: String,
    pub value: Value,
}

/// The identities of a person that one declared table declares.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TableProbes {
    pub table: String,
    pub probes: Vec<Probe>,
}

/// A person, ready to be checked in one dataset.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Person {
    /// Where the person is in a batch file, for messages.
    #[serde(skip)]
    pub at: Option<Position>,
    /// Every declared table with an identity column for any of the person's identities.
    pub tables: Vec<TableProbes>,
}

/// The person's identities in every declared table of `dataset` that declares one of them.
/// An identity whose value the column's type cannot hold (`customer_id=abc` on an integer
/// key) is refused here, before any statement runs.
pub fn person(
    dataset: &Dataset,
    schema: &SchemaGraph,
    identities: &Identities,
    at: Option<Position>,
) -> Result<Person, PlanError> {
    let mut tables = Vec::new();
    for t in &dataset.tables {
        let mut probes = Vec::new();
        for (kind, text) in identities.pairs() {
            if let Some((column, value)) = identity_value(t, schema, kind, text)? {
                probes.push(Probe {
                    kind: kind.clone(),
                    column,
                    value,
                });
            }
        }
        if !probes.is_empty() {
            tables.push(TableProbes {
                table: t.name.value.clone(),
                probes,
            });
        }
    }
    Ok(Person { at, tables })
}

/// The one person a request names, in `dataset`: every value of every kind of
/// `request.identities` is an identity of that person (two values of one kind cannot both
/// find the person's row, so the check refuses them).
pub fn request_person(
    dataset: &Dataset,
    schema: &SchemaGraph,
    request: &super::Request,
) -> Result<Person, PlanError> {
    let mut tables = Vec::new();
    for t in &dataset.tables {
        let mut probes = Vec::new();
        for (kind, values) in &request.identities {
            for text in values {
                if let Some((column, value)) = identity_value(t, schema, kind, text)? {
                    probes.push(Probe {
                        kind: kind.clone(),
                        column,
                        value,
                    });
                }
            }
        }
        if !probes.is_empty() {
            tables.push(TableProbes {
                table: t.name.value.clone(),
                probes,
            });
        }
    }
    Ok(Person { at: None, tables })
}

/// The column of `table` that identity `kind` is looked up in, with `text` as a value of
/// that column's type; `None` when the table does not declare the kind.
pub(crate) fn identity_value(
    table: &Table,
    schema: &SchemaGraph,
    kind: &IdentityKind,
    text: &str,
) -> Result<Option<(String, Value)>, PlanError> {
    let Some(column) = table.identity.get(kind) else {
        return Ok(None);
    };
    let schema_column = schema.table(&table.name).and_then(|ts| ts.column(column));
    let value =
        typed_identity(text, schema_column).map_err(|expected| PlanError::IdentityType {
            kind: kind.to_string(),
            table: table.name.value.clone(),
            column: column.value.clone(),
            expected: expected.to_string(),
        })?;
    Ok(Some((column.value.clone(), value)))
}

/// An identity's text as a value of its column, or what the column expects.
fn typed_identity(text: &str, column: Option<&ColumnSchema>) -> Result<Value, &'static str> {
    let Some(column) = column else {
        return Ok(Value::Text(text.to_string()));
    };
    let t = text.trim();
    match column.kind {
        ValueKind::Integer => t.parse().map(Value::Int).map_err(|_| "an integer"),
        ValueKind::Float => t
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(Value::Float)
            .ok_or("a number"),
        // Exact numbers travel as text, to keep their digits.
        ValueKind::Decimal => {
            let numeric = !t.is_empty()
                && t.chars()
                    .all(|c| c.is_ascii_digit() || matches!(c, '+' | '-' | '.' | 'e' | 'E'))
                && t.parse::<f64>().is_ok_and(f64::is_finite);
            if numeric {
                Ok(Value::Text(t.to_string()))
            } else {
                Err("a decimal number")
            }
        }
        ValueKind::Bool => match t {
            "true" | "1" => Ok(Value::Bool(true)),
            "false" | "0" => Ok(Value::Bool(false)),
            _ => Err("true or false"),
        },
        _ => Ok(Value::Text(text.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(kind: ValueKind) -> ColumnSchema {
        ColumnSchema {
            name: "c".into(),
            sql_type: "t".into(),
            nullable: false,
            kind,
            max_length: None,
        }
    }

    #[test]
    fn identity_values_take_their_column_type() {
        let int = column(ValueKind::Integer);
        assert_eq!(typed_identity("5", Some(&int)), Ok(Value::Int(5)));
        assert_eq!(typed_identity("abc", Some(&int)), Err("an integer"));
        let dec = column(ValueKind::Decimal);
        assert_eq!(
            typed_identity("1.50", Some(&dec)),
            Ok(Value::Text("1.50".into()))
        );
        assert_eq!(typed_identity("inf", Some(&dec)), Err("a decimal number"));
        let text = column(ValueKind::Text);
        assert_eq!(
            typed_identity(" a ", Some(&text)),
            Ok(Value::Text(" a ".into()))
        );
        assert_eq!(typed_identity("x", None), Ok(Value::Text("x".into())));
    }
}
