//! The Pledge engine's own state: API keys, rights requests and their events, jobs claimed
//! with leases, exports, and the hash-chained audit log. On SQLite (a file, the default) or
//! PostgreSQL (for several replicas), through one code path over sqlx's `Any` driver.
//!
//! Invariant: every state change goes through one transaction that also appends its audit
//! record, so the log and the state cannot disagree. The audit log is append-only (a
//! trigger refuses UPDATE and DELETE) and hash-chained (see [`audit`]).

pub mod audit;
pub mod browse;
mod chain;
pub mod checkpoint;
pub mod forward;
mod intake;
mod jobs;
mod keys;
pub mod ledger;
mod links;
mod migrate;
pub mod notices;
pub mod notify;
mod public;
mod requests;
pub mod staff;
mod upkeep;

pub use jobs::{Job, JobFailure, JobStatus};
pub use keys::{ApiKey, ROLES, Role};
pub use public::{PERSON, PublicSecrets, VerificationError, VerificationPolicy};
pub use requests::{NewRequest, ProvedBy, RequestEvent, RequestFilter, RequestRecord};
pub use upkeep::{Expiry, LinkRefusal, Recovery, SealedExport, StoredExport};

use audit::{AuditRecord, Verification, Walker};
use pledge_domain::workflow::{self, Regime, State, Transition, TransitionError};
use pledge_lang::rights::Right;
use pledge_lang::time::CivilTime;
use serde::Serialize;
use serde_json::{Value, json};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{Any, AnyPool, Row, Transaction};
use std::str::FromStr;
use std::time::Duration;
use thiserror::Error;

/// What can go wrong in the store.
#[derive(Debug, Error)]
pub enum Error {
    #[error("store URL `{0}` is not sqlite:... or postgres://...")]
    BadUrl(String),
    #[error("the store's database failed: {0}")]
    Database(#[from] sqlx::Error),
    #[error("the store holds a value it cannot read: {0}")]
    Corrupt(String),
    #[error("no request `{0}`")]
    UnknownRequest(String),
    #[error("no API key `{0}`")]
    UnknownKey(String),
    #[error(transparent)]
    Transition(#[from] TransitionError),
    #[error("the request changed meanwhile (it is now {0}); read it again")]
    Conflict(State),
    #[error("cannot draw random bytes: {0}")]
    Random(String),
    #[error(transparent)]
    Verification(#[from] VerificationError),
    #[error("request `{0}` has no export (or it expired)")]
    NoExport(String),
    #[error("{0}")]
    Link(LinkRefusal),
    #[error("the export cannot be opened: {0}")]
    Sealed(String),
    #[error("the write of this request was interrupted; nothing was recorded, send it again")]
    Interrupted,
    #[error("{0}")]
    NotForwarded(String),
    #[error(transparent)]
    Staff(#[from] staff::StaffError),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

pub use pledge_plan::retry::Transience;

impl Error {
    /// Whether the same call may succeed later: the database failing (a lost connection, a
    /// pool timeout, a lock, a deadlock, a full disk, I/O) may, as may an interrupted
    /// write; a wrong request, a conflict with a concurrent change or a corrupt value will
    /// not by itself. A `match` without a catch-all on purpose: a new variant must say
    /// which it is.
    pub fn transience(&self) -> Transience {
        match self {
            Error::Database(e) => sqlx_transience(e),
            Error::Interrupted | Error::Random(_) => Transience::Transient,
            Error::BadUrl(_)
            | Error::Corrupt(_)
            | Error::UnknownRequest(_)
            | Error::UnknownKey(_)
            | Error::Transition(_)
            | Error::Conflict(_)
            | Error::Verification(_)
            | Error::NoExport(_)
            | Error::Link(_)
            | Error::Sealed(_)
            | Error::NotForwarded(_)
            | Error::Staff(_) => Transience::Permanent,
        }
    }

    /// [`Error::transience`] is transient.
    pub fn retryable(&self) -> bool {
        self.transience() == Transience::Transient
    }
}

/// The transience of an error of the store's database, by the driver's error kind and the
/// database's code (SQLSTATE on PostgreSQL, the result code on SQLite).
fn sqlx_transience(e: &sqlx::Error) -> Transience {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::BeginFailed
        | sqlx::Error::InvalidSavePointStatement => Transience::Transient,
        sqlx::Error::Database(db) => {
            if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                Transience::of_sqlite_code(db.code().and_then(|c| c.parse().ok()).unwrap_or(1))
            } else {
                db.code()
                    .map_or(Transience::Permanent, |s| Transience::of_sqlstate(&s))
            }
        }
        _ => Transience::Permanent,
    }
}

/// Which database holds the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The store.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// Intake waiting for its group commit (see `intake.rs`).
    intake: std::sync::Arc<intake::IntakeQueue>,
    /// The last failure of the write probe, until a probe succeeds: `(when, error)`.
    last_write_error: std::sync::Arc<std::sync::Mutex<Option<(i64, String)>>>,
}

pub(crate) const REQUEST_COLUMNS: &str = "id, kind, regime, state, identities, changes, proved_by, needs_approval, received_at, due_at, confirm_by, extension_reason, denial_reason, result, updated_at, language";

impl Store {
    /// Opens (and creates, for SQLite) the store at `url` and brings its schema up to date.
    /// `sqlite:pledge-store.db`, `sqlite::memory:`, `postgres://...`.
    pub async fn open(url: &str) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let (backend, url) = if let Some(rest) = url.strip_prefix("sqlite:") {
            let mut u = format!("sqlite:{rest}");
            if !rest.contains("mode=") && !rest.contains(":memory:") {
                u.push_str(if rest.contains('?') {
                    "&mode=rwc"
                } else {
                    "?mode=rwc"
                });
            }
            (Backend::Sqlite, u)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (Backend::Postgres, url.to_string())
        } else {
            return Err(Error::BadUrl(url.to_string()));
        };
        let memory = url.contains(":memory:");
        let options = AnyPoolOptions::new()
            // One connection for an in-memory SQLite: each connection would be its own database.
            .max_connections(if memory {
                1
            } else if backend == Backend::Sqlite {
                4
            } else {
                10
            })
            .min_connections(if memory { 1 } else { 0 })
            .idle_timeout(if memory {
                None
            } else {
                Some(Duration::from_secs(600))
            })
            .max_lifetime(if memory {
                None
            } else {
                Some(Duration::from_secs(1800))
            })
            // A write that fails on a full disk (or any I/O error) may make SQLite roll its
            // transaction back by itself; the driver's own ROLLBACK, queued when the
            // transaction is dropped, then fails ("no transaction is active") and the driver
            // still counts the transaction open, so every later `BEGIN` on that connection
            // is refused ("non-zero transaction depth") until a restart. On release, such a
            // connection is flushed and, if the driver still counts a transaction, closed:
            // the pool opens a fresh one, and the store writes again once space is back.
            // (Not for an in-memory store: closing its one connection would lose it.)
            .after_release(move |conn, _| {
                Box::pin(async move {
                    use sqlx::Connection as _;
                    if memory || !conn.is_in_transaction() {
                        return Ok(true);
                    }
                    // Runs after the ROLLBACK the dropped transaction queued.
                    sqlx::query("SELECT 1").execute(&mut *conn).await?;
                    Ok(!conn.is_in_transaction())
                })
            })
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        sqlx::query("PRAGMA busy_timeout = 10000")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA synchronous = NORMAL")
                            .execute(&mut *conn)
                            .await?;
                    }
                    Ok(())
                })
            });
        let pool = options.connect(&url).await?;
        if backend == Backend::Sqlite && !memory {
            sqlx::query("PRAGMA journal_mode = WAL")
                .fetch_optional(&pool)
                .await?;
        }
        let store = Store {
            pool,
            backend,
            intake: Default::default(),
            last_write_error: Default::default(),
        };
        migrate::run(&store.pool, backend).await?;
        Ok(store)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").fetch_one(&self.pool).await?;
        Ok(())
    }

    /// Whether the store can write: one write transaction, as every state change needs (the
    /// row of `store_probe` gets `now`). On SQLite the row is rewritten with 64 KiB of
    /// fresh random padding, more than a state change writes: on a full disk a small write
    /// can still land in space a failed one left allocated in the write-ahead log, so a
    /// probe that small would pass while real writes fail (and padding that does not change
    /// is not written again at all). A failure is remembered for
    /// [`Store::last_write_error`] until a probe succeeds.
    pub async fn probe_write(&self, now: i64) -> Result<()> {
        let sql = match self.backend {
            Backend::Sqlite => {
                "UPDATE store_probe SET at = $1, pad = randomblob(65536) WHERE id = 1"
            }
            Backend::Postgres => "UPDATE store_probe SET at = $1 WHERE id = 1",
        };
        let result = async {
            let mut tx = self.begin().await?;
            sqlx::query(sql).bind(now).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok::<_, Error>(())
        }
        .await;
        let mut last = self
            .last_write_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match &result {
            Ok(()) => *last = None,
            Err(e) => *last = Some((now, e.to_string())),
        }
        result
    }

    /// The last failed write probe, `(when, error)`, unless a later one succeeded.
    pub fn last_write_error(&self) -> Option<(i64, String)> {
        self.last_write_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// A write transaction. On SQLite it takes the write lock at once (`BEGIN IMMEDIATE`),
    /// so two transactions that read then write wait for each other instead of failing.
    async fn begin(&self) -> Result<Transaction<'static, Any>> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    /// Appends an audit record inside `tx`, through the one chain append
    /// ([`chain::append`]), so two transactions cannot fork the chain.
    async fn audit(
        &self,
        tx: &mut Transaction<'static, Any>,
        at: i64,
        actor: &str,
        action: &str,
        request_id: Option<&str>,
        detail: Value,
    ) -> Result<()> {
        let entry = intake::AuditEntry {
            at,
            actor: actor.to_string(),
            action: action.to_string(),
            request_id: request_id.map(str::to_string),
            detail,
        };
        self.audit_many(tx, vec![entry]).await
    }

    // ------------------------------------------------------------------------------------
    // Audit log

    /// Records after `after_seq`, oldest first.
    pub async fn audit_records(&self, after_seq: i64, limit: i64) -> Result<Vec<AuditRecord>> {
        let rows = sqlx::query(
            "SELECT seq, at, actor, action, request_id, detail, prev_hash, hash FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(after_seq)
        .bind(limit.clamp(1, 10_000))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(audit_from_row).collect()
    }

    /// Walks the whole chain, in pages, and names the first broken record.
    pub async fn verify_audit(&self) -> Result<Verification> {
        self.verify_audit_after(None).await
    }

    /// Walks the chain after record `seq`, trusting `head` as that record's hash (a walk
    /// done before verified it), or from the first record when `None`: `records` counts
    /// the records walked now.
    pub async fn verify_audit_after(&self, from: Option<(i64, &str)>) -> Result<Verification> {
        let (mut walker, mut after) = match from {
            Some((seq, head)) => (Walker::starting_at(seq + 1, head), seq),
            None => (Walker::default(), 0),
        };
        'pages: loop {
            let page = self.audit_records(after, 5000).await?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            for r in &page {
                if !walker.push(r) {
                    break 'pages;
                }
            }
        }
        Ok(walker.finish())
    }

    /// Runs one statement outside the API, for tests that play the tamperer.
    #[doc(hidden)]
    pub async fn execute_raw(&self, sql: &str) -> Result<u64> {
        Ok(sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
            .execute(&self.pool)
            .await?
            .rows_affected())
    }
}

fn random_hex(bytes: usize) -> Result<String> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| Error::Random(e.to_string()))?;
    Ok(audit::hex(&buf))
}

pub(crate) fn pairs_json(pairs: &[(String, String)]) -> String {
    Value::Array(pairs.iter().map(|(k, v)| json!([k, v])).collect()).to_string()
}

pub(crate) fn pairs_from_json(text: &str) -> Result<Vec<(String, String)>> {
    serde_json::from_str(text).map_err(|e| Error::Corrupt(format!("pairs {text:?}: {e}")))
}

fn parse<T: FromStr>(s: &str) -> Result<T> {
    s.parse()
        .map_err(|_| Error::Corrupt(format!("unexpected value `{s}`")))
}

impl chain::ChainRow for AuditRecord {
    const TABLE: &'static str = "audit_log";
    const COLUMNS: &'static [&'static str] = &[
        "seq",
        "at",
        "actor",
        "action",
        "request_id",
        "detail",
        "prev_hash",
        "hash",
    ];
    const LOCK: chain::Lock = chain::Lock::AuditLog;
    fn bind<'q>(&self, q: chain::AnyQuery<'q>) -> chain::AnyQuery<'q> {
        q.bind(self.seq)
            .bind(self.at)
            .bind(self.actor.clone())
            .bind(self.action.clone())
            .bind(self.request_id.clone())
            .bind(self.detail_text.clone())
            .bind(self.prev_hash.clone())
            .bind(self.hash.clone())
    }
}

pub(crate) fn audit_from_row(r: &AnyRow) -> Result<AuditRecord> {
    let detail: String = r.try_get("detail")?;
    Ok(AuditRecord {
        seq: r.try_get("seq")?,
        at: r.try_get("at")?,
        actor: r.try_get("actor")?,
        action: r.try_get("action")?,
        request_id: r.try_get("request_id")?,
        // A detail that is not JSON any more was edited: shown as text; the hash will not match.
        detail: serde_json::from_str(&detail).unwrap_or_else(|_| Value::String(detail.clone())),
        detail_text: detail,
        prev_hash: r.try_get("prev_hash")?,
        hash: r.try_get("hash")?,
    })
}
