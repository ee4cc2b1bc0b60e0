//! Reading the live schema: tables, columns, primary keys and foreign keys.

use crate::Error;
use crate::dialect::kind_of;
use pledge_plan::{ColumnSchema, ForeignKey, SchemaGraph, TableSchema};
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
                ..TableSchema::default()
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

/// Every table of the schema: plain tables, partitioned tables and their partitions, with
/// what decides how they are folded (see [`Hierarchy`]).
const PG_RELATIONS: &str = "SELECT c.oid::bigint, c.relname::text, c.relkind::text, c.relispartition,
        ARRAY(SELECT i.inhparent::bigint FROM pg_inherits i WHERE i.inhrelid = c.oid ORDER BY i.inhseqno),
        EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0
                AND NOT a.attisdropped AND a.attinhcount = 0),
        ARRAY(SELECT kn.nspname::text || '.' || k.relname::text FROM pg_inherits i
              JOIN pg_class k ON k.oid = i.inhrelid JOIN pg_namespace kn ON kn.oid = k.relnamespace
              WHERE i.inhparent = c.oid AND k.relnamespace <> c.relnamespace AND NOT k.relispartition ORDER BY 1)
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = $1 AND c.relkind IN ('r', 'p')
    ORDER BY c.relname";

const PG_COLUMNS: &str =
    "SELECT c.oid::bigint, a.attname::text, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull,
        CASE WHEN a.atttypmod > 4 AND t.typcategory = 'S' THEN (a.atttypmod - 4)::bigint END
    FROM pg_attribute a
    JOIN pg_class c ON c.oid = a.attrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_type t ON t.oid = a.atttypid
    WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
    ORDER BY c.relname, a.attnum";

/// Primary keys and foreign keys of every table of the schema, partitions included: the
/// partitions' keys count for their parent. `dst` is the referenced table (its oid, and its
/// name for a table of another schema).
const PG_KEYS: &str = "SELECT con.conrelid::bigint, con.contype::text,
        ARRAY(SELECT att.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(num, ord)
              JOIN pg_attribute att ON att.attrelid = con.conrelid AND att.attnum = k.num ORDER BY k.ord),
        con.confrelid::bigint, dst.relname::text,
        ARRAY(SELECT att.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(num, ord)
              JOIN pg_attribute att ON att.attrelid = con.confrelid AND att.attnum = k.num ORDER BY k.ord)
    FROM pg_constraint con
    JOIN pg_class src ON src.oid = con.conrelid
    JOIN pg_namespace n ON n.oid = src.relnamespace
    LEFT JOIN pg_class dst ON dst.oid = con.confrelid
    WHERE n.nspname = $1 AND con.contype IN ('p', 'f')
    ORDER BY src.relname, con.conname";

/// A table of the PostgreSQL catalog (`pg_class` with relkind `r` or `p`).
struct Relation {
    name: String,
    /// relkind `p`: a partitioned table, which holds no rows of its own.
    partitioned: bool,
    partition: bool,
    /// Its inheritance parents (for a partition: the partitioned table), in order.
    parents: Vec<i64>,
    /// It has a column that no parent gives it.
    own_columns: bool,
    /// Inheritance children in other schemas, `schema.table` (partitions elsewhere are
    /// reached through their parent like any partition).
    children_elsewhere: Vec<String>,
}

/// How the relations of a schema fold into the tables the planner sees.
///
/// - A partition (at any depth) folds into its partitioned parent: statements on the parent
///   reach every partition.
/// - An inheritance child folds into its parent when every child of that parent can fold: each
///   has that one parent, adds no column of its own, and folds its own children. Statements on
///   the parent reach them too (PostgreSQL includes children unless `ONLY` is said).
/// - Otherwise every child of that parent is a table of its own, and the parent's statements
///   are limited to its own rows (`TableSchema::children`), so no row is reached twice.
struct Hierarchy {
    relations: BTreeMap<i64, Relation>,
    children: BTreeMap<i64, Vec<i64>>,
}

impl Hierarchy {
    fn new(relations: BTreeMap<i64, Relation>) -> Self {
        let mut children: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
        for (oid, r) in &relations {
            for p in &r.parents {
                if relations.contains_key(p) {
                    children.entry(*p).or_default().push(*oid);
                }
            }
        }
        Hierarchy {
            relations,
            children,
        }
    }

    fn children(&self, oid: i64) -> &[i64] {
        self.children.get(&oid).map_or(&[], Vec::as_slice)
    }

    /// Whether every inheritance child of `oid` folds into it.
    fn folds_children(&self, oid: i64) -> bool {
        self.relations
            .get(&oid)
            .is_some_and(|r| r.children_elsewhere.is_empty())
            && self.children(oid).iter().all(|c| {
                let child = &self.relations[c];
                child.parents.len() == 1 && !child.own_columns && self.folds_children(*c)
            })
    }

    /// The relation `oid` folds into, if any.
    fn folds_into(&self, oid: i64) -> Option<i64> {
        let r = self.relations.get(&oid)?;
        match r.parents.as_slice() {
            [p] if self.relations.contains_key(p) && (r.partition || self.folds_children(*p)) => {
                Some(*p)
            }
            _ => None,
        }
    }

    /// The table whose statements reach the rows of `oid`: itself, or the table it folds into.
    fn root(&self, mut oid: i64) -> i64 {
        // Inheritance has no cycles (PostgreSQL refuses them); the bound is a guard only.
        for _ in 0..=self.relations.len() {
            match self.folds_into(oid) {
                Some(p) => oid = p,
                None => break,
            }
        }
        oid
    }

    fn name(&self, oid: i64) -> &str {
        &self.relations[&oid].name
    }
}

pub(crate) async fn postgres(
    conn: &mut sqlx::PgConnection,
    schema: &str,
) -> Result<SchemaGraph, Error> {
    let rows = sqlx::query(PG_RELATIONS)
        .bind(schema)
        .fetch_all(&mut *conn)
        .await
        .map_err(query_error("reading PostgreSQL tables"))?;
    let relations = rows
        .into_iter()
        .map(|r| {
            let kind: String = r.get(2);
            let relation = Relation {
                name: r.get(1),
                partitioned: kind == "p",
                partition: r.get(3),
                parents: r.get(4),
                own_columns: r.get(5),
                children_elsewhere: r.get(6),
            };
            (r.get::<i64, _>(0), relation)
        })
        .collect();
    let h = Hierarchy::new(relations);
    let mut b = Builder::default();
    let oids: Vec<i64> = h.relations.keys().copied().collect();
    for &oid in &oids {
        let root = h.root(oid);
        let r = &h.relations[&oid];
        b.table(h.name(root));
        if root != oid {
            b.table(h.name(root)).partitions.push(r.name.clone());
        } else if !r.partitioned && !h.folds_children(oid) {
            let mut children: Vec<String> = h
                .children(oid)
                .iter()
                .map(|c| h.name(*c).to_string())
                .collect();
            children.extend(r.children_elsewhere.iter().cloned());
            b.table(&r.name).children = children;
        }
    }
    let rows = sqlx::query(PG_COLUMNS)
        .bind(schema)
        .fetch_all(&mut *conn)
        .await
        .map_err(query_error("reading PostgreSQL columns"))?;
    for r in rows {
        let oid: i64 = r.get(0);
        if h.relations.contains_key(&oid) && h.root(oid) == oid {
            b.column(h.name(oid), r.get(1), r.get(2), r.get(3), r.get(4));
        }
    }
    let rows = sqlx::query(PG_KEYS)
        .bind(schema)
        .fetch_all(&mut *conn)
        .await
        .map_err(query_error("reading PostgreSQL keys"))?;
    // Primary keys of partitions, for a partitioned table that has none of its own.
    let mut partition_keys: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for r in rows {
        let oid: i64 = r.get(0);
        if !h.relations.contains_key(&oid) {
            continue;
        }
        let root = h.root(oid);
        let kind: String = r.get(1);
        let columns: Vec<String> = r.get(2);
        if kind == "p" {
            if root == oid {
                b.table(h.name(oid)).primary_key = columns;
            } else {
                partition_keys.insert(oid, columns);
            }
            continue;
        }
        let ref_oid: i64 = r.get(3);
        let ref_table = if h.relations.contains_key(&ref_oid) {
            Some(h.name(h.root(ref_oid)).to_string())
        } else {
            r.get::<Option<String>, _>(4)
        };
        let Some(ref_table) = ref_table else {
            continue;
        };
        let fk = ForeignKey {
            columns,
            ref_table,
            ref_columns: r.get(5),
        };
        // A key declared on the parent is copied to every partition (and a key that refers
        // to a partitioned table to every partition it refers to): one edge each.
        let table = b.table(h.name(root));
        if !table.foreign_keys.contains(&fk) {
            table.foreign_keys.push(fk);
        }
    }
    for (&oid, r) in &h.relations {
        if !r.partitioned || h.root(oid) != oid || !b.table(&r.name).primary_key.is_empty() {
            continue;
        }
        // Without a key of its own, a partitioned table has its partitions' key when every
        // partition that holds rows has the same one.
        let mut leaves = Vec::new();
        let mut stack = h.children(oid).to_vec();
        while let Some(c) = stack.pop() {
            if h.relations[&c].partitioned {
                stack.extend_from_slice(h.children(c));
            } else {
                leaves.push(c);
            }
        }
        let mut keys = leaves.iter().map(|c| partition_keys.get(c));
        if let Some(Some(first)) = keys.next()
            && keys.all(|k| k == Some(first))
        {
            b.table(&r.name).primary_key = first.clone();
        }
    }
    inherit_foreign_keys(&mut b);
    for t in b.tables.values_mut() {
        t.partitions.sort();
        t.children.sort();
    }
    Ok(b.finish())
}

/// An inheritance child of its own holds its parents' columns, but PostgreSQL does not copy
/// their foreign keys to it. Its rows' values mean what the parent's do, so the child gets the
/// parent's foreign keys (transitively) as well as its own: a child row that names a customer
/// is found, and guards the customer's deletion, like a parent row.
fn inherit_foreign_keys(b: &mut Builder) {
    let parents: Vec<(String, Vec<String>)> = b
        .tables
        .values()
        .filter(|t| !t.children.is_empty())
        .map(|t| (t.name.clone(), t.children.clone()))
        .collect();
    // Every pass hands keys one level down; the hierarchy is no deeper than it has tables.
    for _ in 0..parents.len() {
        let mut changed = false;
        for (parent, children) in &parents {
            let keys = b.tables[parent].foreign_keys.clone();
            for child in children {
                let Some(child) = b.tables.get_mut(child) else {
                    continue; // in another schema
                };
                for fk in &keys {
                    if !child.foreign_keys.contains(fk) {
                        child.foreign_keys.push(fk.clone());
                        changed = true;
                    }
                }
            }
        }
        if !changed {
            break;
        }
    }
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

/// The partitions of partitioned tables (and their subpartitions), which are not tables of
/// their own: `information_schema.TABLES` lists a partitioned table once.
const MYSQL_PARTITIONS: &str =
    "SELECT CAST(TABLE_NAME AS CHAR), CAST(PARTITION_NAME AS CHAR), CAST(SUBPARTITION_NAME AS CHAR)
    FROM information_schema.PARTITIONS
    WHERE TABLE_SCHEMA = DATABASE() AND PARTITION_NAME IS NOT NULL
    ORDER BY TABLE_NAME, PARTITION_ORDINAL_POSITION, SUBPARTITION_ORDINAL_POSITION";

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
    let rows = sqlx::query(MYSQL_PARTITIONS)
        .fetch_all(&mut *conn)
        .await
        .map_err(query_error("reading MariaDB/MySQL partitions"))?;
    for r in rows {
        let table: String = r.get(0);
        let Some(t) = b.tables.get_mut(&table) else {
            continue;
        };
        for name in [r.get::<Option<String>, _>(1), r.get(2)]
            .into_iter()
            .flatten()
        {
            if !t.partitions.contains(&name) {
                t.partitions.push(name);
            }
        }
    }
    Ok(b.finish())
}

/// The tables of a SQLite database, read in two statements over every table at once (the
/// pragma table functions joined to `sqlite_master`): a request's process pays for each
/// statement, and a schema of a hundred tables would otherwise cost two hundred.
const SQLITE_COLUMNS: &str = r#"SELECT m.name, p.name, p.type, p."notnull", p.pk
    FROM sqlite_master m JOIN pragma_table_info(m.name) p
    WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'
    ORDER BY m.name, p.cid"#;

const SQLITE_KEYS: &str = r#"SELECT m.name, f.id, f."table", f."from", f."to"
    FROM sqlite_master m JOIN pragma_foreign_key_list(m.name) f
    WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'
    ORDER BY m.name, f.id, f.seq"#;

pub(crate) async fn sqlite(conn: &mut sqlx::SqliteConnection) -> Result<SchemaGraph, Error> {
    let mut b = Builder::default();
    let rows = sqlx::query(SQLITE_COLUMNS)
        .fetch_all(&mut *conn)
        .await
        .map_err(query_error("reading SQLite columns"))?;
    // Per table, the primary key's columns by their position in the key.
    let mut keys: BTreeMap<String, Vec<(i64, String)>> = BTreeMap::new();
    for r in rows {
        let table: String = r.get(0);
        let name: String = r.get(1);
        let sql_type: String = r.get(2);
        let not_null: i64 = r.get(3);
        let pk_position: i64 = r.get(4);
        let pk = keys.entry(table.clone()).or_default();
        if pk_position > 0 {
            pk.push((pk_position, name.clone()));
        }
        b.column(
            &table,
            name,
            sql_type,
            not_null == 0 && pk_position == 0,
            None,
        );
    }
    for (table, mut pk) in keys {
        pk.sort();
        b.table(&table).primary_key = pk.into_iter().map(|(_, n)| n).collect();
    }
    let rows = sqlx::query(SQLITE_KEYS)
        .fetch_all(&mut *conn)
        .await
        .map_err(query_error("reading SQLite foreign keys"))?;
    // (table, key id) → the key, its columns in order.
    let mut fks: BTreeMap<(String, i64), ForeignKey> = BTreeMap::new();
    for r in rows {
        let table: String = r.get(0);
        let id: i64 = r.get(1);
        let ref_table: String = r.get(2);
        let from: String = r.get(3);
        let to: Option<String> = r.get(4);
        let fk = fks.entry((table, id)).or_insert_with(|| ForeignKey {
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
    for ((table, _), mut fk) in fks {
        if fk.ref_columns.is_empty() {
            fk.ref_columns = b.table(&fk.ref_table).primary_key.clone();
        }
        b.table(&table).foreign_keys.push(fk);
    }
    Ok(b.finish())
}

// ----------------------------------------------------------------------------------------
// Fingerprints: one cheap query whose answer changes whenever what the functions above
// read changes (a table, column, type, nullability, key, partition or inheritance added,
// dropped or altered), so that a schema read once is read again only when it must be.

/// Every relation, column, constraint and inheritance link of the schema, each as text,
/// hashed on the server in a stable order.
const PG_FINGERPRINT: &str = "SELECT md5(COALESCE(string_agg(x, '|' ORDER BY x), '')) FROM (
    SELECT 'r' || c.oid::text || ':' || c.relname::text || ':' || c.relkind::text || ':' || c.relispartition::text AS x
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1
    UNION ALL
    SELECT 'a' || a.attrelid::text || ':' || a.attnum::text || ':' || a.attname::text || ':'
           || a.atttypid::text || ':' || a.atttypmod::text || ':' || a.attnotnull::text
      FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
      JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = $1 AND a.attnum > 0 AND NOT a.attisdropped
    UNION ALL
    SELECT 'k' || con.oid::text || ':' || con.conrelid::text || ':' || con.contype::text || ':'
           || COALESCE(con.conkey::text, '') || ':' || con.confrelid::text || ':' || COALESCE(con.confkey::text, '')
      FROM pg_constraint con JOIN pg_namespace n ON n.oid = con.connamespace WHERE n.nspname = $1
    UNION ALL
    SELECT 'i' || i.inhrelid::text || ':' || i.inhparent::text || ':' || i.inhseqno::text
      FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid OR c.oid = i.inhparent
      JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1
) s";

pub(crate) async fn postgres_fingerprint(
    conn: &mut sqlx::PgConnection,
    schema: &str,
) -> Result<String, Error> {
    sqlx::query_scalar(PG_FINGERPRINT)
        .bind(schema)
        .fetch_one(&mut *conn)
        .await
        .map_err(query_error("reading the PostgreSQL schema's fingerprint"))
}

/// The columns, keys and partitions of the connection's database, hashed on the server.
const MYSQL_FINGERPRINT: &str = "SELECT CAST(MD5(COALESCE(GROUP_CONCAT(x ORDER BY x SEPARATOR '|'), '')) AS CHAR) FROM (
    SELECT CONCAT_WS(':', 'c', TABLE_NAME, COLUMN_NAME, ORDINAL_POSITION, COLUMN_TYPE, IS_NULLABLE, COLUMN_KEY) AS x
      FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE()
    UNION ALL
    SELECT CONCAT_WS(':', 't', TABLE_NAME, TABLE_TYPE, COALESCE(CREATE_OPTIONS, ''))
      FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()
    UNION ALL
    SELECT CONCAT_WS(':', 'k', TABLE_NAME, CONSTRAINT_NAME, COLUMN_NAME, ORDINAL_POSITION,
           COALESCE(REFERENCED_TABLE_NAME, ''), COALESCE(REFERENCED_COLUMN_NAME, ''))
      FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = DATABASE()
    UNION ALL
    SELECT CONCAT_WS(':', 'p', TABLE_NAME, COALESCE(PARTITION_NAME, ''), COALESCE(SUBPARTITION_NAME, ''))
      FROM information_schema.PARTITIONS WHERE TABLE_SCHEMA = DATABASE() AND PARTITION_NAME IS NOT NULL
) s";

pub(crate) async fn mysql_fingerprint(conn: &mut sqlx::MySqlConnection) -> Result<String, Error> {
    // GROUP_CONCAT stops at 1,024 bytes by default: a longer schema would hash its start.
    sqlx::query("SET SESSION group_concat_max_len = 4294967295")
        .execute(&mut *conn)
        .await
        .map_err(query_error("setting group_concat_max_len"))?;
    sqlx::query_scalar(MYSQL_FINGERPRINT)
        .fetch_one(&mut *conn)
        .await
        .map_err(query_error("reading the MariaDB schema's fingerprint"))
}

/// SQLite counts every change to the schema in the database file's header.
pub(crate) async fn sqlite_fingerprint(conn: &mut sqlx::SqliteConnection) -> Result<String, Error> {
    let version: i64 = sqlx::query_scalar("PRAGMA schema_version")
        .fetch_one(&mut *conn)
        .await
        .map_err(query_error("reading the SQLite schema version"))?;
    Ok(version.to_string())
}
