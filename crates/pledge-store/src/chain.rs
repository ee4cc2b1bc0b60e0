//! The one way to append to a hash chain (the audit log, the consent ledger), and the
//! PostgreSQL advisory locks the store takes, by name.
//!
//! An append must never fork a chain: two transactions that both read the head and both
//! write `seq + 1` would leave two records claiming the same predecessor. So the head is
//! read under a lock that serialises appenders: on SQLite the write lock every write
//! transaction takes at `BEGIN IMMEDIATE`; on PostgreSQL a transaction-scoped advisory lock
//! per chain ([`Lock::AuditLog`], [`Lock::ConsentLedger`]), released at commit or rollback.
//! The rows are then numbered on from the head, each hashed over its predecessor's hash,
//! and written with multi-row INSERTs.

use crate::audit::{Chained, GENESIS};
use crate::{Backend, Result};
use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, Row, Transaction};

/// The PostgreSQL advisory locks of the store. The numbers are arbitrary but fixed: two
/// Pledge replicas on one database must agree on them, so they never change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lock {
    /// Serialises appends to the audit log (held to the end of the transaction).
    AuditLog,
    /// Serialises migrations of replicas that start together (held by the session).
    Migrations,
    /// Serialises appends to the consent ledger (held to the end of the transaction).
    ConsentLedger,
}

impl Lock {
    pub(crate) const fn id(self) -> i64 {
        match self {
            Lock::AuditLog => 7_071_955,
            Lock::Migrations => 7_071_956,
            Lock::ConsentLedger => 7_071_957,
        }
    }
}

/// A query with its arguments, as sqlx's `Any` driver builds it.
pub(crate) type AnyQuery<'q> = Query<'q, Any, AnyArguments>;

/// A row of a hash chain as it is written.
pub(crate) trait ChainRow: Chained {
    /// The chain's table.
    const TABLE: &'static str;
    /// Its columns, in the order [`ChainRow::bind`] binds them.
    const COLUMNS: &'static [&'static str];
    /// The advisory lock that serialises appenders on PostgreSQL.
    const LOCK: Lock;
    /// Binds the row's values, one per column.
    fn bind<'q>(&self, q: AnyQuery<'q>) -> AnyQuery<'q>;
}

/// Rows per INSERT: well under SQLite's 32,766 parameters for the widest chain row, and
/// big enough that a burst is a handful of statements.
const ROWS_PER_INSERT: usize = 64;

/// Appends one row per entry to the chain of `R`, inside `tx`: takes the chain's lock, reads
/// its head, numbers the rows on from it (`make(seq, prev_hash, entry)` builds and hashes
/// each) and inserts them. Returns the rows written, in order.
pub(crate) async fn append<R, E>(
    backend: Backend,
    tx: &mut Transaction<'static, Any>,
    entries: impl IntoIterator<Item = E>,
    mut make: impl FnMut(i64, String, E) -> R,
) -> Result<Vec<R>>
where
    R: ChainRow,
{
    let mut entries = entries.into_iter().peekable();
    if entries.peek().is_none() {
        return Ok(Vec::new());
    }
    lock(backend, tx, R::LOCK).await?;
    let head = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT seq, hash FROM {} ORDER BY seq DESC LIMIT 1",
        R::TABLE
    )))
    .fetch_optional(&mut **tx)
    .await?;
    let (mut seq, mut prev) = match head {
        Some(row) => (row.try_get::<i64, _>(0)?, row.try_get::<String, _>(1)?),
        None => (0, GENESIS.to_string()),
    };
    let rows: Vec<R> = entries
        .map(|e| {
            seq += 1;
            let row = make(seq, std::mem::take(&mut prev), e);
            prev = row.hash().to_string();
            row
        })
        .collect();
    let columns = R::COLUMNS.join(", ");
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let sql = format!(
            "INSERT INTO {} ({columns}) VALUES {}",
            R::TABLE,
            values(backend, R::COLUMNS.len(), chunk.len(), "")
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for r in chunk {
            q = r.bind(q);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(rows)
}

/// Takes a transaction-scoped advisory lock on PostgreSQL. On SQLite the transaction holds
/// the database's write lock already (`BEGIN IMMEDIATE`), which serialises every writer.
pub(crate) async fn lock(
    backend: Backend,
    tx: &mut Transaction<'static, Any>,
    lock: Lock,
) -> Result<()> {
    if backend == Backend::Postgres {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT pg_advisory_xact_lock({})::text",
            lock.id()
        )))
        .fetch_one(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Takes (`take`) or releases a session-scoped advisory lock on PostgreSQL, held by `conn`
/// until released or the connection closes. Nothing on SQLite, whose writers are
/// serialised by its write lock.
pub(crate) async fn session_lock(
    backend: Backend,
    conn: &mut sqlx::AnyConnection,
    lock: Lock,
    take: bool,
) -> Result<()> {
    if backend == Backend::Postgres {
        let function = if take {
            "pg_advisory_lock"
        } else {
            "pg_advisory_unlock"
        };
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {function}({})::text",
            lock.id()
        )))
        .fetch_one(&mut *conn)
        .await?;
    }
    Ok(())
}

/// The placeholders of a multi-row VALUES list: `rows` rows of `columns` parameters, each
/// row followed by `suffix` (literal values, e.g. `, 'queued', 0`).
///
/// SQLite binds a numbered parameter (`$7`) by searching the statement's list of parameter
/// names, once per parameter: with hundreds of them that search was most of an append. Its
/// anonymous `?` parameters are bound by position, so SQLite gets those; PostgreSQL needs
/// `$1, $2, ...`.
pub(crate) fn values(backend: Backend, columns: usize, rows: usize, suffix: &str) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(rows * (columns * 5 + suffix.len() + 4));
    let mut n = 0;
    for row in 0..rows {
        if row > 0 {
            out.push_str(", ");
        }
        out.push('(');
        for c in 0..columns {
            n += 1;
            if c > 0 {
                out.push_str(", ");
            }
            match backend {
                Backend::Sqlite => out.push('?'),
                // Writing to a String cannot fail.
                Backend::Postgres => {
                    let _ = write!(out, "${n}");
                }
            }
        }
        out.push_str(suffix);
        out.push(')');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_number_on_across_rows_on_postgres() {
        assert_eq!(values(Backend::Postgres, 2, 2, ""), "($1, $2), ($3, $4)");
        assert_eq!(values(Backend::Postgres, 1, 2, ", 0"), "($1, 0), ($2, 0)");
    }

    #[test]
    fn placeholders_are_positional_on_sqlite() {
        assert_eq!(values(Backend::Sqlite, 2, 2, ""), "(?, ?), (?, ?)");
        assert_eq!(values(Backend::Sqlite, 1, 2, ", 0"), "(?, 0), (?, 0)");
    }

    #[test]
    fn lock_ids_are_distinct() {
        let ids = [
            Lock::AuditLog.id(),
            Lock::Migrations.id(),
            Lock::ConsentLedger.id(),
        ];
        for (i, a) in ids.iter().enumerate() {
            assert!(ids[i + 1..].iter().all(|b| b != a));
        }
    }
}
