//! What differs between PostgreSQL, MariaDB/MySQL and SQLite: how values are read back,
//! cast and compared, and which of the engines' own features the executor may use. This is
//! the one place that knows which engine it is: everything else is written once,
//! generically, in `exec.rs` and `retain.rs`, asking the trait.

use crate::Error;
use pledge_plan::{ColumnSchema, Value, ValueKind};
use sea_query::{
    Alias, Expr, MysqlQueryBuilder, PostgresQueryBuilder, QueryBuilder, SqliteQueryBuilder,
};
use sqlx::{Row, TypeInfo, ValueRef};

/// One SQL engine, as the executor needs it.
pub(crate) trait Dialect: sqlx::Database {
    type Builder: QueryBuilder;
    fn builder() -> Self::Builder;
    fn rows_affected(result: &Self::QueryResult) -> u64;

    /// The expression that reads `column` in a form [`Dialect::decode`] understands.
    fn read(table: &str, column: &ColumnSchema) -> Expr;

    /// A value bound for comparison with, or assignment to, `column`.
    fn bind(column: Option<&ColumnSchema>, value: &Value) -> Expr {
        let _ = column;
        Expr::val(to_sea(value))
    }

    /// A timestamp cut-off compared with a date or time column.
    fn timestamp(cutoff: &str) -> Expr;

    /// `column` generalised to the first day of its year (or, with `month`, of its month),
    /// as a value of the column's own type. Text columns are taken as ISO 8601 text.
    fn truncate(table: &str, column: Option<&ColumnSchema>, month: bool) -> Expr;

    /// Whether a DELETE may not read its own table in a subquery (MySQL's error 1093).
    const SELF_REFERENCE_NEEDS_DERIVED_TABLE: bool = false;

    /// Turns off compilation of statements to machine code, and back on (PostgreSQL's
    /// `jit`): Pledge's statements over a batch carry thousands of bound values, and
    /// compiling one costs far more than running it (68 s for the pseudonym update of 10,000
    /// people at scale, against 0.3 s to run it). The first opens a transaction with it off,
    /// the other two are for a session (a retention sweep).
    const NO_JIT: Option<NoJit> = None;

    /// Whether a batch with many identity values reads them from a temporary table of seeds
    /// (one join) instead of an `IN` list per statement.
    const SEED_TABLE: bool = false;

    /// Whether a table can have inheritance children whose rows show in its own scans, so
    /// that a statement on the parent must name its own rows (`tableoid`).
    const TABLE_INHERITANCE: bool = false;

    /// Whether the pseudonyms of a text column are looked up in a JSON object
    /// (`jsonb ->> column`, a binary search) instead of a `CASE` with a branch per value.
    const JSON_LOOKUP: bool = false;

    fn decode(row: &Self::Row, index: usize) -> Result<Value, Error>;
}

/// The statements that turn statement compilation off and on (see [`Dialect::NO_JIT`]).
pub(crate) struct NoJit {
    /// Opens a transaction with compilation off for it, in one round trip (two statements of
    /// the simple protocol).
    pub begin: &'static str,
    pub in_session: &'static str,
    pub reset: &'static str,
}

pub(crate) fn col(table: &str, column: &str) -> Expr {
    Expr::col((Alias::new(table), Alias::new(column)))
}

pub(crate) fn to_sea(value: &Value) -> sea_query::Value {
    match value {
        Value::Null => sea_query::Value::String(None),
        Value::Bool(b) => sea_query::Value::Bool(Some(*b)),
        Value::Int(i) => sea_query::Value::BigInt(Some(*i)),
        Value::Float(f) => sea_query::Value::Double(Some(*f)),
        Value::Text(t) => sea_query::Value::String(Some(t.clone())),
        Value::Bytes(b) => sea_query::Value::Bytes(Some(b.clone())),
    }
}

/// The kind of a column from the type name the database reports.
pub(crate) fn kind_of(sql_type: &str) -> ValueKind {
    let t = sql_type.to_ascii_lowercase();
    let has = |s: &str| t.contains(s);
    if t == "tinyint(1)" || t == "boolean" || t == "bool" {
        ValueKind::Bool
    } else if has("int") || has("serial") {
        ValueKind::Integer
    } else if has("numeric") || has("decimal") || has("money") {
        ValueKind::Decimal
    } else if has("double") || has("real") || has("float") {
        ValueKind::Float
    } else if has("char")
        || has("text")
        || has("clob")
        || has("enum")
        || t == "set"
        || t == "string"
    {
        ValueKind::Text
    } else if has("bytea") || has("blob") || has("binary") {
        ValueKind::Bytes
    } else if has("date") || has("time") || t == "year" || has("interval") {
        ValueKind::Temporal
    } else {
        ValueKind::Other
    }
}

/// An ISO 8601 date in a text column cut to its year or month: `template` has `{n}` for the
/// characters kept and `{tail}` for what completes the date.
fn text_truncate(table: &str, c: &ColumnSchema, month: bool, template: &str) -> Expr {
    let (n, tail) = if month { ("7", "-01") } else { ("4", "-01-01") };
    Expr::cust_with_expr(
        template.replace("{n}", n).replace("{tail}", tail),
        col(table, &c.name),
    )
}

fn decode_error(index: usize, e: impl std::fmt::Display) -> Error {
    Error::Decode(format!("column {index}: {e}"))
}

impl Dialect for sqlx::Postgres {
    type Builder = PostgresQueryBuilder;
    const NO_JIT: Option<NoJit> = Some(NoJit {
        begin: "BEGIN; SET LOCAL jit = off",
        in_session: "SET jit = off",
        reset: "RESET jit",
    });
    const SEED_TABLE: bool = true;
    const TABLE_INHERITANCE: bool = true;
    const JSON_LOOKUP: bool = true;
    fn builder() -> PostgresQueryBuilder {
        PostgresQueryBuilder
    }

    fn rows_affected(result: &sqlx::postgres::PgQueryResult) -> u64 {
        result.rows_affected()
    }

    fn read(table: &str, column: &ColumnSchema) -> Expr {
        let cast = match column.kind {
            ValueKind::Integer => "BIGINT",
            ValueKind::Float => "DOUBLE PRECISION",
            ValueKind::Bool => return col(table, &column.name),
            ValueKind::Bytes => return col(table, &column.name),
            ValueKind::Text | ValueKind::Decimal | ValueKind::Temporal | ValueKind::Other => "TEXT",
        };
        Expr::cust_with_expr(format!("CAST($1 AS {cast})"), col(table, &column.name))
    }

    fn bind(column: Option<&ColumnSchema>, value: &Value) -> Expr {
        // PostgreSQL does not compare or assign text to numeric or date columns implicitly.
        match (column, value) {
            (Some(c), Value::Text(_))
                if matches!(
                    c.kind,
                    ValueKind::Decimal | ValueKind::Temporal | ValueKind::Other
                ) =>
            {
                Expr::cust_with_values(format!("CAST($1 AS {})", c.sql_type), [to_sea(value)])
            }
            _ => Expr::val(to_sea(value)),
        }
    }

    fn timestamp(cutoff: &str) -> Expr {
        Expr::cust_with_values("CAST($1 AS TIMESTAMP)", [cutoff])
    }

    fn truncate(table: &str, column: Option<&ColumnSchema>, month: bool) -> Expr {
        let Some(c) = column else {
            return Expr::cust("NULL");
        };
        let unit = if month { "month" } else { "year" };
        if c.kind == ValueKind::Temporal {
            Expr::cust_with_expr(
                format!(
                    "CAST(date_trunc('{unit}', CAST($1 AS TIMESTAMP)) AS {})",
                    c.sql_type
                ),
                col(table, &c.name),
            )
        } else {
            text_truncate(table, c, month, "SUBSTR($1, 1, {n}) || '{tail}'")
        }
    }

    fn decode(row: &sqlx::postgres::PgRow, index: usize) -> Result<Value, Error> {
        let raw = row.try_get_raw(index).map_err(|e| decode_error(index, e))?;
        if raw.is_null() {
            return Ok(Value::Null);
        }
        let name = raw.type_info().name().to_string();
        let value = match name.as_str() {
            "INT8" => Value::Int(row.try_get(index).map_err(|e| decode_error(index, e))?),
            "INT4" => Value::Int(
                row.try_get::<i32, _>(index)
                    .map_err(|e| decode_error(index, e))?
                    .into(),
            ),
            "INT2" => Value::Int(
                row.try_get::<i16, _>(index)
                    .map_err(|e| decode_error(index, e))?
                    .into(),
            ),
            "FLOAT8" => Value::Float(row.try_get(index).map_err(|e| decode_error(index, e))?),
            "FLOAT4" => Value::Float(
                row.try_get::<f32, _>(index)
                    .map_err(|e| decode_error(index, e))?
                    .into(),
            ),
            "BOOL" => Value::Bool(row.try_get(index).map_err(|e| decode_error(index, e))?),
            "BYTEA" => Value::Bytes(row.try_get(index).map_err(|e| decode_error(index, e))?),
            _ => Value::Text(row.try_get(index).map_err(|e| decode_error(index, e))?),
        };
        Ok(value)
    }
}

impl Dialect for sqlx::MySql {
    type Builder = MysqlQueryBuilder;
    fn builder() -> MysqlQueryBuilder {
        MysqlQueryBuilder
    }

    fn rows_affected(result: &sqlx::mysql::MySqlQueryResult) -> u64 {
        result.rows_affected()
    }
    const SELF_REFERENCE_NEEDS_DERIVED_TABLE: bool = true;

    fn read(table: &str, column: &ColumnSchema) -> Expr {
        let cast = match column.kind {
            ValueKind::Integer | ValueKind::Bool => "SIGNED",
            ValueKind::Float => "DOUBLE",
            ValueKind::Bytes => return col(table, &column.name),
            ValueKind::Text | ValueKind::Decimal | ValueKind::Temporal | ValueKind::Other => "CHAR",
        };
        Expr::cust_with_expr(format!("CAST(? AS {cast})"), col(table, &column.name))
    }

    fn timestamp(cutoff: &str) -> Expr {
        Expr::cust_with_values("CAST(? AS DATETIME)", [cutoff])
    }

    fn truncate(table: &str, column: Option<&ColumnSchema>, month: bool) -> Expr {
        let Some(c) = column else {
            return Expr::cust("NULL");
        };
        if c.kind == ValueKind::Temporal {
            let format = if month { "%Y-%m-01" } else { "%Y-01-01" };
            Expr::cust_with_expr(
                format!("CAST(DATE_FORMAT(?, '{format}') AS DATE)"),
                col(table, &c.name),
            )
        } else {
            text_truncate(table, c, month, "CONCAT(SUBSTR(?, 1, {n}), '{tail}')")
        }
    }

    fn decode(row: &sqlx::mysql::MySqlRow, index: usize) -> Result<Value, Error> {
        let raw = row.try_get_raw(index).map_err(|e| decode_error(index, e))?;
        if raw.is_null() {
            return Ok(Value::Null);
        }
        let name = raw.type_info().name().to_string();
        let value = match name.as_str() {
            "BIGINT" | "INT" | "SMALLINT" | "TINYINT" | "MEDIUMINT" => {
                Value::Int(row.try_get(index).map_err(|e| decode_error(index, e))?)
            }
            "DOUBLE" | "FLOAT" => {
                Value::Float(row.try_get(index).map_err(|e| decode_error(index, e))?)
            }
            "BLOB" | "VARBINARY" | "BINARY" | "TINYBLOB" | "MEDIUMBLOB" | "LONGBLOB" => {
                Value::Bytes(row.try_get(index).map_err(|e| decode_error(index, e))?)
            }
            _ => Value::Text(row.try_get(index).map_err(|e| decode_error(index, e))?),
        };
        Ok(value)
    }
}

impl Dialect for sqlx::Sqlite {
    type Builder = SqliteQueryBuilder;
    fn builder() -> SqliteQueryBuilder {
        SqliteQueryBuilder
    }

    fn rows_affected(result: &sqlx::sqlite::SqliteQueryResult) -> u64 {
        result.rows_affected()
    }

    fn read(table: &str, column: &ColumnSchema) -> Expr {
        // SQLite values carry their own type; read them as stored.
        col(table, &column.name)
    }

    fn timestamp(cutoff: &str) -> Expr {
        // Dates are stored as ISO 8601 text, which orders correctly as text.
        Expr::val(cutoff)
    }

    fn truncate(table: &str, column: Option<&ColumnSchema>, month: bool) -> Expr {
        // Dates are ISO 8601 text here whatever the declared type.
        match column {
            Some(c) => text_truncate(table, c, month, "SUBSTR(?, 1, {n}) || '{tail}'"),
            None => Expr::cust("NULL"),
        }
    }

    fn decode(row: &sqlx::sqlite::SqliteRow, index: usize) -> Result<Value, Error> {
        let raw = row.try_get_raw(index).map_err(|e| decode_error(index, e))?;
        if raw.is_null() {
            return Ok(Value::Null);
        }
        let name = raw.type_info().name().to_string();
        let value = match name.as_str() {
            "INTEGER" => Value::Int(row.try_get(index).map_err(|e| decode_error(index, e))?),
            "REAL" => Value::Float(row.try_get(index).map_err(|e| decode_error(index, e))?),
            "BLOB" => Value::Bytes(row.try_get(index).map_err(|e| decode_error(index, e))?),
            _ => Value::Text(row.try_get(index).map_err(|e| decode_error(index, e))?),
        };
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_names_map_to_kinds() {
        for (name, kind) in [
            ("integer", ValueKind::Integer),
            ("INTEGER", ValueKind::Integer),
            ("bigint", ValueKind::Integer),
            ("character varying", ValueKind::Text),
            ("NVARCHAR(40)", ValueKind::Text),
            ("numeric", ValueKind::Decimal),
            ("NUMERIC(10,2)", ValueKind::Decimal),
            ("timestamp without time zone", ValueKind::Temporal),
            ("DATETIME", ValueKind::Temporal),
            ("double precision", ValueKind::Float),
            ("bytea", ValueKind::Bytes),
            ("boolean", ValueKind::Bool),
            ("jsonb", ValueKind::Other),
        ] {
            assert_eq!(kind_of(name), kind, "{name}");
        }
    }
}
