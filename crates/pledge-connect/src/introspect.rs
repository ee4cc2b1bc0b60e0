//! Reading the live schema: tables, columns, primary keys and foreign keys.

use crate::Error;
use crate::dialect::kind_of;
use pledge_core::plan::{ColumnSchema, ForeignKey, SchemaGraph, TableSchema};
use sqlx::Row;
use std::collections::BTreeMap;

fn query_error(what: &str) -> impl Fn(sqlx::Error) -> Error + '_ {
    move |source| Error::Query {
        sql: what.to_string(),
        source,
    }
}

#[derive(Default)]
struct Builder {
    tables: BTreeMap<String, TableSchema>,
}

impl Builder {
    fn table(&mut self, name: &str) -> &mut TableSchema {
        self.tables
            .entry(name.to_string())
            .or_insert_with(|| TableSchema {
                name: name.to_string(),
                columns: Vec::new(),
                primary_key: Vec::new(),
                foreign_keys: Vec::new(),
            })
    }

    fn column(
        &mut self,
        table: &str,
        name: String,
        sql_type: String,
        nullable: bool,
        max_length: Option<i64>,
    ) {
        let kind = kind_of(&sql_type);
        self.table(table).columns.push(ColumnSchema {
            name,
            sql_type,
            nullable,
            kind,
            max_length: max_length.and_then(|m| u32::try_from(m).ok()),
        });
    }

    fn finish(self) -> SchemaGraph {
        SchemaGraph {
            tables: self.tables.into_values().collect(),
        }
    }
}

const PG_COLUMNS: &str = "SELECT c.relname::text, a.attname::text, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull,
        CASE WHEN a.atttypmod > 4 AND t.typcategory = 'S' THEN (a.atttypmod - 4)::bigint END
    FROM pg_attribute a
    JOIN pg_class c ON c.oid = a.attrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_type t ON t.oid = a.atttypid
    WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
      AND NOT c.relispartition
    ORDER BY c.relname, a.attnum";

const PG_KEYS: &str = "SELECT src.relname::text, con.contype::text,
        ARRAY(SELECT att.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(num, ord)
              JOIN pg_attribute att ON att.attrelid = con.conrelid AND att.attnum = k.num ORDER BY k.ord),
        dst.relname::text,
        ARRAY(SELECT att.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(num, ord)
              JOIN pg_attribute att ON att.attrelid = con.confrelid AND att.attnum = k.num ORDER BY k.ord)
    FROM pg_constraint con
    JOIN pg_class src ON src.oid = con.conrelid
    JOIN pg_namespace n ON n.oid = src.relnamespace
    LEFT JOIN pg_class dst ON dst.oid = con.confrelid
    WHERE n.nspname = $1 AND con.contype IN ('p', 'f') AND NOT src.relispartition
    ORDER BY src.relname, con.conname";

pub(crate) async fn postgres(
    conn: &mut sqlx::PgConnection,
    schema: &str,
) -> Result<SchemaGraph, Error> {
    let mut b = Builder::default();
    let rows = sqlx::query(PG_COLUMNS)
        .bind(schema)
        .fetch_all(&mut *conn)
        .await
        .map_err(query_error("reading PostgreSQL columns"))?;
    for r in rows {
        let table: String = r.get(0);
        b.column(&table, r.get(1), r.get(2), r.get(3), r.get(4));
    }
    let rows = sqlx::query(PG_KEYS)
        .bind(schema)
        .fetch_all(&mut *conn)
        .await
        .map_err(query_error("reading PostgreSQL keys"))?;
    for r in rows {
        let table: String = r.get(0);
        let kind: String = r.get(1);
        let columns: Vec<String> = r.get(2);
        if kind == "p" {
            b.table(&table).primary_key = columns;
        } else {
            let ref_table: Option<String> = r.get(3);
            let ref_columns: Vec<String> = r.get(4);
            if let Some(ref_table) = ref_table {
                b.table(&table).foreign_keys.push(ForeignKey {
                    columns,
                    ref_table,
                    ref_columns,
                });
            }
        }
    }
    Ok(b.finish())
}

const MYSQL_COLUMNS: &str = "SELECT CAST(TABLE_NAME AS CHAR), CAST(COLUMN_NAME AS CHAR), CAST(COLUMN_TYPE AS CHAR),
        IS_NULLABLE = 'YES', CAST(CHARACTER_MAXIMUM_LENGTH AS SIGNED)
    FROM information_schema.COLUMNS c
    WHERE TABLE_SCHEMA = DATABASE()
      AND EXISTS (SELECT 1 FROM information_schema.TABLES t
                  WHERE t.TABLE_SCHEMA = c.TABLE_SCHEMA AND t.TABLE_NAME = c.TABLE_NAME AND t.TABLE_TYPE = 'BASE TABLE')
    ORDER BY TABLE_NAME, ORDINAL_POSITION";

const MYSQL_KEYS: &str = "SELECT CAST(TABLE_NAME AS CHAR), CAST(CONSTRAINT_NAME AS CHAR), CAST(COLUMN_NAME AS CHAR),
        CAST(REFERENCED_TABLE_NAME AS CHAR), CAST(REFERENCED_COLUMN_NAME AS CHAR)
    FROM information_schema.KEY_COLUMN_USAGE
    WHERE TABLE_SCHEMA = DATABASE() AND (CONSTRAINT_NAME = 'PRIMARY' OR REFERENCED_TABLE_NAME IS NOT NULL)
    ORDER BY TABLE_NAME, CONSTRAINT_NAME, ORDINAL_POSITION";

pub(crate) async fn mysql(conn: &mut sqlx::MySqlConnection) -> Result<SchemaGraph, Error> {
    let mut b = Builder::default();
    let rows = sqlx::query(MYSQL_COLUMNS)
        .fetch_all(&mut *conn)
        .await
        .map_err(query_error("reading MariaDB/MySQL columns"))?;
    for r in rows {
        let table: String = r.get(0);
        let nullable: i64 = r.get(3);
        b.column(&table, r.get(1), r.get(2), nullable != 0, r.get(4));
    }
    let rows = sqlx::query(MYSQL_KEYS)
        .fetch_all(&mut *conn)
        .await
        .map_err(query_error("reading MariaDB/MySQL keys"))?;
    // Foreign keys come one column per row; gather them by constraint.
    let mut fks: BTreeMap<(String, String), ForeignKey> = BTreeMap::new();
    for r in rows {
        let table: String = r.get(0);
        let constraint: String = r.get(1);
        let column: String = r.get(2);
        let ref_table: Option<String> = r.get(3);
        let ref_column: Option<String> = r.get(4);
        match (constraint.as_str(), ref_table, ref_column) {
            ("PRIMARY", _, _) => b.table(&table).primary_key.push(column),
            (_, Some(ref_table), Some(ref_column)) => {
                let fk = fks
                    .entry((table, constraint))
                    .or_insert_with(|| ForeignKey {
                        columns: Vec::new(),
                        ref_table,
                        ref_columns: Vec::new(),
                    });
                fk.columns.push(column);
                fk.ref_columns.push(ref_column);
            }
            _ => {}
        }
    }
    for ((table, _), fk) in fks {
        b.table(&table).foreign_keys.push(fk);
    }
    Ok(b.finish())
}

pub(crate) async fn sqlite(conn: &mut sqlx::SqliteConnection) -> Result<SchemaGraph, Error> {
    let mut b = Builder::default();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(query_error("listing SQLite tables"))?;
    for table in &tables {
        let columns = sqlx::query(
            r#"SELECT name, type, "notnull", pk FROM pragma_table_info(?) ORDER BY cid"#,
        )
        .bind(table)
        .fetch_all(&mut *conn)
        .await
        .map_err(query_error("reading SQLite columns"))?;
        let mut pk: Vec<(i64, String)> = Vec::new();
        for r in columns {
            let name: String = r.get(0);
            let sql_type: String = r.get(1);
            let not_null: i64 = r.get(2);
            let pk_position: i64 = r.get(3);
            if pk_position > 0 {
                pk.push((pk_position, name.clone()));
            }
            b.column(
                table,
                name,
                sql_type,
                not_null == 0 && pk_position == 0,
                None,
            );
        }
        pk.sort();
        b.table(table).primary_key = pk.into_iter().map(|(_, n)| n).collect();
    }
    for table in &tables {
        let rows = sqlx::query(
            r#"SELECT id, "table", "from", "to" FROM pragma_foreign_key_list(?) ORDER BY id, seq"#,
        )
        .bind(table)
        .fetch_all(&mut *conn)
        .await
        .map_err(query_error("reading SQLite foreign keys"))?;
        let mut fks: BTreeMap<i64, ForeignKey> = BTreeMap::new();
        for r in rows {
            let id: i64 = r.get(0);
            let ref_table: String = r.get(1);
            let from: String = r.get(2);
            let to: Option<String> = r.get(3);
            let fk = fks.entry(id).or_insert_with(|| ForeignKey {
                columns: Vec::new(),
                ref_table: ref_table.clone(),
                ref_columns: Vec::new(),
            });
            fk.columns.push(from);
            // Without a column list the key refers to the primary key.
            if let Some(to) = to {
                fk.ref_columns.push(to);
            }
        }
        for mut fk in fks.into_values() {
            if fk.ref_columns.is_empty() {
                fk.ref_columns = b.table(&fk.ref_table).primary_key.clone();
            }
            b.table(table).foreign_keys.push(fk);
        }
    }
    Ok(b.finish())
}
