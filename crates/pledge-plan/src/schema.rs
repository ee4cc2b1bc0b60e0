//! The shape of an application database as the planner sees it: tables, columns, primary
//! keys and foreign keys. Connectors read it from the live database; the declaration adds
//! relations the database does not declare.

use serde::Serialize;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SchemaGraph {
    pub tables: Vec<TableSchema>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TableSchema {
    pub name: String,
    pub columns: Vec<ColumnSchema>,
    pub primary_key: Vec<String>,
    pub foreign_keys: Vec<ForeignKey>,
    /// The partitions of a partitioned table, at any depth, and the inheritance children
    /// folded into it (PostgreSQL children that add no columns of their own). They are not
    /// tables of their own here: statements on this table reach their rows, and their keys
    /// count as this table's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub partitions: Vec<String>,
    /// PostgreSQL inheritance children that are tables of their own here (they add columns,
    /// or inherit from more than one table). Their rows also show in this table's scans, so
    /// every statement on this table is limited to its own rows.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ColumnSchema {
    pub name: String,
    /// The type as the database names it, e.g. `character varying`, `INTEGER`.
    pub sql_type: String,
    pub nullable: bool,
    pub kind: ValueKind,
    /// The longest text the column takes, where the database limits it.
    pub max_length: Option<u32>,
}

/// How a column's values are read and written: the connector decodes each kind natively and
/// reads anything else as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueKind {
    Integer,
    Float,
    /// Exact numbers (NUMERIC, DECIMAL), carried as text to keep their precision.
    Decimal,
    Text,
    Bool,
    Bytes,
    /// Dates and times, carried as ISO 8601 text.
    Temporal,
    /// Anything else (JSON, UUID, arrays, ...), carried as text.
    Other,
}

impl ValueKind {
    pub fn is_text_like(self) -> bool {
        matches!(self, ValueKind::Text | ValueKind::Other)
    }
}

/// `table.columns` reference `ref_table.ref_columns`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ForeignKey {
    pub columns: Vec<String>,
    pub ref_table: String,
    pub ref_columns: Vec<String>,
}

impl SchemaGraph {
    pub fn table(&self, name: &str) -> Option<&TableSchema> {
        self.tables.iter().find(|t| t.name == name)
    }

    /// The table that `name` is a partition (or folded inheritance child) of.
    pub fn partition_parent(&self, name: &str) -> Option<&TableSchema> {
        self.tables
            .iter()
            .find(|t| t.partitions.iter().any(|p| p == name))
    }

    /// Every foreign key pointing at `table`, as (referencing table, key).
    pub fn references_to<'a>(
        &'a self,
        table: &'a str,
    ) -> impl Iterator<Item = (&'a TableSchema, &'a ForeignKey)> + 'a {
        self.tables
            .iter()
            .flat_map(|t| t.foreign_keys.iter().map(move |fk| (t, fk)))
            .filter(move |(_, fk)| fk.ref_table == table)
    }
}

impl TableSchema {
    pub fn column(&self, name: &str) -> Option<&ColumnSchema> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// Whether the column takes part in the primary key or a foreign key: such columns are
    /// never masked, or rows would lose their links.
    pub fn is_key_column(&self, name: &str) -> bool {
        self.primary_key.iter().any(|c| c == name)
            || self
                .foreign_keys
                .iter()
                .any(|fk| fk.columns.iter().any(|c| c == name))
    }
}
