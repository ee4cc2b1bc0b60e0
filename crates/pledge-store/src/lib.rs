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
pub mod ledger;
mod links;
mod migrate;
pub mod notify;
mod public;
pub mod staff;
mod upkeep;

pub use public::{PERSON, PublicSecrets, VerificationError, VerificationPolicy};
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

/// The roles an API key can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything, including keys.
    Admin,
    /// Requests, their personal data, approvals, exports, the audit log.
    PrivacyOfficer,
    /// Requests and their status; never personal data or exports.
    SupportAgent,
    /// An application: takes requests in (each waits for approval), records consent and
    /// asks for decisions; never personal data.
    Service,
    /// A monitoring system: reads `/metrics`, nothing else.
    Metrics,
}

pub const ROLES: [Role; 5] = [
    Role::Admin,
    Role::PrivacyOfficer,
    Role::SupportAgent,
    Role::Service,
    Role::Metrics,
];

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::PrivacyOfficer => "privacy_officer",
            Role::SupportAgent => "support_agent",
            Role::Service => "service",
            Role::Metrics => "metrics",
        }
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        ROLES
            .iter()
            .copied()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown role `{s}`: admin, privacy_officer, support_agent, service or metrics"
                )
            })
    }
}

/// An API key as stored: never the key itself, only its SHA-256.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApiKey {
    pub id: String,
    pub role: Role,
    pub label: Option<String>,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// How a request's identities were proved to be the person's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProvedBy {
    /// The person confirmed the `email` identity with the code or link sent there (public
    /// intake): the only identity such a request names.
    EmailCode,
    /// Staff took the request in with their key, having checked the person out of band.
    Staff,
    /// A service took it in with its key (the application, for a signed-in user).
    Service,
}

impl ProvedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            ProvedBy::EmailCode => "email_code",
            ProvedBy::Staff => "staff",
            ProvedBy::Service => "service",
        }
    }
}

impl FromStr for ProvedBy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        [ProvedBy::EmailCode, ProvedBy::Staff, ProvedBy::Service]
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| format!("unknown proof `{s}`: email_code, staff or service"))
    }
}

/// A new request.
#[derive(Debug, Clone)]
pub struct NewRequest {
    pub kind: Right,
    pub regime: Regime,
    /// identity kind → value, e.g. `("email", "ana@example.com")`.
    pub identities: Vec<(String, String)>,
    /// For rectification: `(column or table.column, new value)`.
    pub changes: Vec<(String, String)>,
    /// Whether a privacy officer approves before it runs.
    pub needs_approval: bool,
    /// Staff intake of a person already known: verification skipped.
    pub verified: bool,
    /// How the identities are (or, before verification, will be) proved.
    pub proved_by: ProvedBy,
    pub received_at: i64,
}

/// A request as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RequestRecord {
    pub id: String,
    pub kind: Right,
    pub regime: Regime,
    pub state: State,
    pub identities: Vec<(String, String)>,
    pub changes: Vec<(String, String)>,
    /// How the identities were proved; `None` for requests taken in before it was recorded.
    pub proved_by: Option<ProvedBy>,
    pub needs_approval: bool,
    pub received_at: i64,
    pub due_at: i64,
    pub confirm_by: Option<i64>,
    pub extension_reason: Option<String>,
    pub denial_reason: Option<String>,
    /// What the execution did (per dataset, steps and row counts), once it ran.
    pub result: Option<Value>,
    pub updated_at: i64,
}

impl RequestRecord {
    fn workflow(&self) -> workflow::Request {
        workflow::Request {
            regime: self.regime,
            right: self.kind,
            state: self.state,
            received_at: CivilTime::from_unix(self.received_at),
            due_at: CivilTime::from_unix(self.due_at),
            extension_reason: self.extension_reason.clone(),
        }
    }
}

/// One entry of a request's history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RequestEvent {
    pub at: i64,
    pub from_state: Option<State>,
    pub to_state: State,
    pub actor: String,
    pub reason: Option<String>,
}

/// Which requests to list.
#[derive(Debug, Clone, Default)]
pub struct RequestFilter {
    /// Open requests due before this time (unix seconds).
    pub due_before: Option<i64>,
    /// Open requests whose deadline passed at this time.
    pub overdue_at: Option<i64>,
    pub state: Option<State>,
    pub limit: Option<i64>,
}

/// A job claimed by a worker.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: i64,
    pub request_id: String,
    pub attempts: i64,
    pub owner: String,
    /// When the current run of transient failures began (none: the last attempt did not
    /// fail, or this is the first): the retry budget counts from here.
    pub first_failed_at: Option<i64>,
}

/// What becomes of a job whose attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobFailure<'a> {
    /// A transient fault: back to the queue, not claimed before `at`; the request stays in
    /// progress, showing what it waits for.
    Retry { error: &'a str, at: i64 },
    /// A permanent fault, or a transient one that outlasted its budget: the job stops and
    /// the request moves to `needs_action`, with `reason` for staff.
    NeedsAction { reason: &'a str },
}

/// Where a request's job stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobStatus {
    /// `queued`, `running`, `done`, or `failed` (stopped for staff).
    pub state: String,
    /// Claims so far (a retry after staff fixed the cause starts again from 0).
    pub attempts: i64,
    /// The last failure, for staff.
    pub error: Option<String>,
    /// A job waiting to be retried is not claimed before this time.
    pub not_before: Option<i64>,
    /// When the current run of transient failures began.
    pub first_failed_at: Option<i64>,
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

pub(crate) const REQUEST_COLUMNS: &str = "id, kind, regime, state, identities, changes, proved_by, needs_approval, received_at, due_at, confirm_by, extension_reason, denial_reason, result, updated_at";

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
    // API keys

    /// Creates a key with `role`. Returns the record and the key itself, which is not stored
    /// anywhere and cannot be shown again.
    pub async fn create_key(
        &self,
        role: Role,
        label: Option<&str>,
        actor: &str,
        now: i64,
    ) -> Result<(ApiKey, String)> {
        let id = format!("key_{}", random_hex(6)?);
        let secret = format!("pledge_{}", random_hex(24)?);
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO api_keys (id, hash, role, label, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&id)
        .bind(audit::sha256_hex(secret.as_bytes()))
        .bind(role.as_str())
        .bind(label)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        self.audit(
            &mut tx,
            now,
            actor,
            "key.created",
            None,
            json!({"key": id, "role": role.as_str(), "label": label}),
        )
        .await?;
        tx.commit().await?;
        Ok((
            ApiKey {
                id,
                role,
                label: label.map(str::to_string),
                created_at: now,
                revoked_at: None,
            },
            secret,
        ))
    }

    pub async fn list_keys(&self) -> Result<Vec<ApiKey>> {
        let rows = sqlx::query(
            "SELECT id, role, label, created_at, revoked_at FROM api_keys ORDER BY created_at, id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(key_from_row).collect()
    }

    /// Revokes a key; it stops working at once. Revoking twice is not an error.
    pub async fn revoke_key(&self, id: &str, actor: &str, now: i64) -> Result<ApiKey> {
        let mut tx = self.begin().await?;
        let done =
            sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        let row = sqlx::query(
            "SELECT id, role, label, created_at, revoked_at FROM api_keys WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| Error::UnknownKey(id.to_string()))?;
        if done.rows_affected() > 0 {
            self.audit(&mut tx, now, actor, "key.revoked", None, json!({"key": id}))
                .await?;
        }
        let key = key_from_row(&row)?;
        tx.commit().await?;
        Ok(key)
    }

    /// The live key whose SHA-256 is the hash of `secret`.
    pub async fn authenticate(&self, secret: &str) -> Result<Option<ApiKey>> {
        let row = sqlx::query(
            "SELECT id, role, label, created_at, revoked_at FROM api_keys WHERE hash = $1 AND revoked_at IS NULL",
        )
        .bind(audit::sha256_hex(secret.as_bytes()))
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(key_from_row).transpose()
    }

    // ------------------------------------------------------------------------------------
    // Requests

    /// Inserts a request in `state` with its first event, its job when it is in progress,
    /// and its audit record, inside `tx`.
    async fn insert_request(
        &self,
        tx: &mut Transaction<'static, Any>,
        new: NewRequest,
        state: State,
        actor: &str,
    ) -> Result<RequestRecord> {
        let id = format!("req_{}", random_hex(10)?);
        let received = CivilTime::from_unix(new.received_at);
        let deadlines = workflow::deadlines(new.regime, new.kind, received);
        let record = RequestRecord {
            id: id.clone(),
            kind: new.kind,
            regime: new.regime,
            state,
            identities: new.identities,
            changes: new.changes,
            proved_by: Some(new.proved_by),
            needs_approval: new.needs_approval,
            received_at: new.received_at,
            due_at: deadlines.due.to_unix(),
            confirm_by: deadlines.confirm_by.map(CivilTime::to_unix),
            extension_reason: None,
            denial_reason: None,
            result: None,
            updated_at: new.received_at,
        };
        sqlx::query(
            "INSERT INTO requests (id, kind, regime, state, identities, changes, needs_approval, received_at, due_at, confirm_by, updated_at, proved_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(&record.id)
        .bind(record.kind.as_str())
        .bind(record.regime.as_str())
        .bind(record.state.as_str())
        .bind(pairs_json(&record.identities))
        .bind(pairs_json(&record.changes))
        .bind(i64::from(record.needs_approval))
        .bind(record.received_at)
        .bind(record.due_at)
        .bind(record.confirm_by)
        .bind(record.updated_at)
        .bind(record.proved_by.map(ProvedBy::as_str))
        .execute(&mut **tx)
        .await?;
        self.event(tx, &id, record.received_at, None, state, actor, None)
            .await?;
        if state == State::InProgress {
            self.enqueue(tx, &id, record.received_at).await?;
        }
        self.audit(
            tx,
            record.received_at,
            actor,
            "request.created",
            Some(&id),
            json!({
                "kind": record.kind.as_str(),
                "regime": record.regime.as_str(),
                "state": state.as_str(),
                "due_at": record.due_at,
                // The identities themselves are personal data: the log keeps their hash.
                "identities_sha256": audit::sha256_hex(pairs_json(&record.identities).as_bytes()),
            }),
        )
        .await?;
        Ok(record)
    }

    #[allow(clippy::too_many_arguments)]
    async fn event(
        &self,
        tx: &mut Transaction<'static, Any>,
        request_id: &str,
        at: i64,
        from: Option<State>,
        to: State,
        actor: &str,
        reason: Option<&str>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO request_events (request_id, at, from_state, to_state, actor, reason) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(request_id)
        .bind(at)
        .bind(from.map(State::as_str))
        .bind(to.as_str())
        .bind(actor)
        .bind(reason)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    async fn enqueue(
        &self,
        tx: &mut Transaction<'static, Any>,
        request_id: &str,
        now: i64,
    ) -> Result<()> {
        // One job per request, and a request in progress always has it queued or running:
        // approving twice does not run it twice (the second approval is refused), but a job
        // that ended is queued afresh when the request enters in_progress again: stopped
        // for staff (`failed`) and retried after they fixed the cause, or `done` and sent
        // back from awaiting_external to run again (every write of a run is idempotent).
        sqlx::query(
            "INSERT INTO jobs (request_id, state, attempts, created_at) VALUES ($1, 'queued', 0, $2) ON CONFLICT (request_id) DO UPDATE SET state = 'queued', attempts = 0, error = NULL, not_before = NULL, first_failed_at = NULL, lease_owner = NULL, lease_until = NULL, finished_at = NULL WHERE jobs.state IN ('failed', 'done')",
        )
        .bind(request_id)
        .bind(now)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    pub async fn get_request(&self, id: &str) -> Result<RequestRecord> {
        let sql = format!("SELECT {REQUEST_COLUMNS} FROM requests WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| Error::UnknownRequest(id.to_string()))?;
        request_from_row(&row)
    }

    pub async fn request_events(&self, id: &str) -> Result<Vec<RequestEvent>> {
        let rows = sqlx::query(
            "SELECT at, from_state, to_state, actor, reason FROM request_events WHERE request_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(RequestEvent {
                    at: r.try_get("at")?,
                    from_state: r
                        .try_get::<Option<String>, _>("from_state")?
                        .map(|s| parse(&s))
                        .transpose()?,
                    to_state: parse(&r.try_get::<String, _>("to_state")?)?,
                    actor: r.try_get("actor")?,
                    reason: r.try_get("reason")?,
                })
            })
            .collect()
    }

    /// Requests by deadline, soonest first.
    pub async fn list_requests(&self, filter: &RequestFilter) -> Result<Vec<RequestRecord>> {
        let mut sql = format!("SELECT {REQUEST_COLUMNS} FROM requests WHERE 1 = 1");
        let mut n = 0;
        let mut next = || {
            n += 1;
            n
        };
        let open = " AND state NOT IN ('completed', 'denied', 'cancelled')";
        if filter.due_before.is_some() {
            sql.push_str(&format!(" AND due_at <= ${}{open}", next()));
        }
        if filter.overdue_at.is_some() {
            sql.push_str(&format!(" AND due_at < ${}{open}", next()));
        }
        if filter.state.is_some() {
            sql.push_str(&format!(" AND state = ${}", next()));
        }
        sql.push_str(&format!(" ORDER BY due_at, id LIMIT ${}", next()));
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        if let Some(t) = filter.due_before {
            q = q.bind(t);
        }
        if let Some(t) = filter.overdue_at {
            q = q.bind(t);
        }
        if let Some(s) = filter.state {
            q = q.bind(s.as_str());
        }
        q = q.bind(filter.limit.unwrap_or(1000).clamp(1, 10_000));
        let rows = q.fetch_all(&self.pool).await?;
        rows.iter().map(request_from_row).collect()
    }

    /// Applies `transition` if the workflow allows it from the request's current state: the
    /// state, the event, the job (when it becomes in progress) and the audit record in one
    /// transaction. A concurrent change in between makes this fail with [`Error::Conflict`].
    pub async fn transition(
        &self,
        id: &str,
        transition: &Transition,
        actor: &str,
        now: i64,
    ) -> Result<RequestRecord> {
        let mut tx = self.begin().await?;
        let record = self
            .transition_in(&mut tx, id, transition, actor, now)
            .await?;
        tx.commit().await?;
        Ok(record)
    }

    /// [`Store::transition`] inside `tx`; the person is told of the steps that matter
    /// (verified, extended, denied) through the outbox, in the same transaction.
    async fn transition_in(
        &self,
        tx: &mut Transaction<'static, Any>,
        id: &str,
        transition: &Transition,
        actor: &str,
        now: i64,
    ) -> Result<RequestRecord> {
        let sql = format!("SELECT {REQUEST_COLUMNS} FROM requests WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?
            .ok_or_else(|| Error::UnknownRequest(id.to_string()))?;
        let mut record = request_from_row(&row)?;
        let applied = workflow::apply(&record.workflow(), transition)?;
        let (extension, denial) = match applied.to {
            State::Extended => (applied.reason.clone(), record.denial_reason.clone()),
            State::Denied => (record.extension_reason.clone(), applied.reason.clone()),
            _ => (
                record.extension_reason.clone(),
                record.denial_reason.clone(),
            ),
        };
        let due_at = applied.due_at.to_unix();
        let done = sqlx::query(
            "UPDATE requests SET state = $1, due_at = $2, extension_reason = $3, denial_reason = $4, updated_at = $5 WHERE id = $6 AND state = $7",
        )
        .bind(applied.to.as_str())
        .bind(due_at)
        .bind(&extension)
        .bind(&denial)
        .bind(now)
        .bind(id)
        .bind(applied.from.as_str())
        .execute(&mut **tx)
        .await?;
        if done.rows_affected() != 1 {
            return Err(Error::Conflict(record.state));
        }
        self.event(
            tx,
            id,
            now,
            Some(applied.from),
            applied.to,
            actor,
            applied.reason.as_deref(),
        )
        .await?;
        if applied.to == State::InProgress {
            self.enqueue(tx, id, now).await?;
        }
        self.audit(
            tx,
            now,
            actor,
            "request.transition",
            Some(id),
            json!({
                "from": applied.from.as_str(),
                "to": applied.to.as_str(),
                "reason": applied.reason,
                "due_at": due_at,
            }),
        )
        .await?;
        record.state = applied.to;
        record.due_at = due_at;
        record.extension_reason = extension;
        record.denial_reason = denial;
        record.updated_at = now;
        if let Some(event) = notify::Event::for_state(applied.to) {
            self.notify(tx, &record, event, json!({}), now).await?;
        }
        if applied.to == State::Completed {
            // Completed by hand (from needs_action): the person is told, as by a worker.
            let has_export = sqlx::query("SELECT 1 AS one FROM exports WHERE request_id = $1")
                .bind(id)
                .fetch_optional(&mut **tx)
                .await?
                .is_some();
            self.notify_completed(tx, id, has_export, false, now)
                .await?;
        }
        Ok(record)
    }

    /// Records that `actor` read personal data of a request (its identities, its export).
    pub async fn record_read(
        &self,
        request_id: &str,
        actor: &str,
        what: &str,
        now: i64,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        self.audit(
            &mut tx,
            now,
            actor,
            "request.read",
            Some(request_id),
            json!({ "what": what }),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    // ------------------------------------------------------------------------------------
    // Jobs

    /// Claims the oldest job that is queued (and not waiting for a retry time still to
    /// come), or running under a lease that expired (its worker died), for `lease_secs`. PostgreSQL: `FOR UPDATE SKIP LOCKED`, so replicas
    /// never wait for each other; SQLite: one conditional UPDATE under the write lock.
    pub async fn claim_job(&self, owner: &str, lease_secs: i64, now: i64) -> Result<Option<Job>> {
        let pick = match self.backend {
            Backend::Postgres => {
                "SELECT id FROM jobs WHERE (state = 'queued' AND (not_before IS NULL OR not_before <= $3)) OR (state = 'running' AND lease_until < $3) ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED"
            }
            Backend::Sqlite => {
                "SELECT id FROM jobs WHERE (state = 'queued' AND (not_before IS NULL OR not_before <= $3)) OR (state = 'running' AND lease_until < $3) ORDER BY id LIMIT 1"
            }
        };
        let sql = format!(
            "UPDATE jobs SET state = 'running', lease_owner = $1, lease_until = $2, attempts = attempts + 1 WHERE id = ({pick}) RETURNING id, request_id, attempts, first_failed_at"
        );
        let mut tx = self.begin().await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(owner)
            .bind(now + lease_secs)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else {
            tx.commit().await?;
            return Ok(None);
        };
        let job = Job {
            id: row.try_get("id")?,
            request_id: row.try_get("request_id")?,
            attempts: row.try_get("attempts")?,
            owner: owner.to_string(),
            first_failed_at: row.try_get("first_failed_at")?,
        };
        self.audit(
            &mut tx,
            now,
            owner,
            "job.claimed",
            Some(&job.request_id),
            json!({"job": job.id, "attempt": job.attempts}),
        )
        .await?;
        tx.commit().await?;
        Ok(Some(job))
    }

    /// Extends the lease of a job this worker still holds. False if it lost the lease.
    pub async fn renew_lease(&self, job: &Job, lease_secs: i64, now: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE jobs SET lease_until = $1 WHERE id = $2 AND lease_owner = $3 AND state = 'running'",
        )
        .bind(now + lease_secs)
        .bind(job.id)
        .bind(&job.owner)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Finishes a job: the job is done, the request completed with its result (and export,
    /// for access and portability), the event and the audit record, in one transaction and
    /// only if this worker still holds the lease; otherwise nothing changes and false is
    /// returned (the worker that took over finishes it).
    /// With `forward_to` (recipients that hold data no dataset reaches), the request waits
    /// in `awaiting_external` for their callbacks instead of completing, and the forwards
    /// are queued in this transaction.
    pub async fn complete_job(
        &self,
        job: &Job,
        result: &Value,
        export: Option<&SealedExport>,
        forward_to: &[String],
        now: i64,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "UPDATE jobs SET state = 'done', finished_at = $1, error = NULL, not_before = NULL, first_failed_at = NULL WHERE id = $2 AND lease_owner = $3 AND state = 'running'",
        )
        .bind(now)
        .bind(job.id)
        .bind(&job.owner)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        let state: String = sqlx::query("SELECT state FROM requests WHERE id = $1")
            .bind(&job.request_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| Error::UnknownRequest(job.request_id.clone()))?
            .try_get("state")?;
        let from: State = parse(&state)?;
        let mut forwards = !forward_to.is_empty() && from.can_move_to(State::AwaitingExternal);
        if forwards {
            // Queued (again, for those that failed); a request run again after every
            // recipient already reported done does not wait for reports that never come.
            self.queue_forwards(&mut tx, &job.request_id, forward_to, now)
                .await?;
            let open: i64 = sqlx::query(
                "SELECT COUNT(*) AS n FROM forwards WHERE request_id = $1 AND state <> 'done'",
            )
            .bind(&job.request_id)
            .fetch_one(&mut *tx)
            .await?
            .try_get("n")?;
            forwards = open > 0;
        }
        let completes = !forwards && from.can_move_to(State::Completed);
        sqlx::query("UPDATE requests SET result = $1, updated_at = $2 WHERE id = $3")
            .bind(result.to_string())
            .bind(now)
            .bind(&job.request_id)
            .execute(&mut *tx)
            .await?;
        if completes {
            sqlx::query("UPDATE requests SET state = 'completed' WHERE id = $1")
                .bind(&job.request_id)
                .execute(&mut *tx)
                .await?;
            let no_data_held = result.get("no_data_held") == Some(&Value::Bool(true));
            self.notify_completed(
                &mut tx,
                &job.request_id,
                export.is_some(),
                no_data_held,
                now,
            )
            .await?;
            self.event(
                &mut tx,
                &job.request_id,
                now,
                Some(from),
                State::Completed,
                &job.owner,
                None,
            )
            .await?;
        }
        if forwards {
            sqlx::query("UPDATE requests SET state = 'awaiting_external' WHERE id = $1")
                .bind(&job.request_id)
                .execute(&mut *tx)
                .await?;
            self.event(
                &mut tx,
                &job.request_id,
                now,
                Some(from),
                State::AwaitingExternal,
                &job.owner,
                Some(&format!("forwarded to {}", forward_to.join(", "))),
            )
            .await?;
        }
        if let Some(sealed) = export {
            sqlx::query(
                "INSERT INTO exports (request_id, created_at, bytes, export_id, key_id, wrapped_key, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (request_id) DO NOTHING",
            )
            .bind(&job.request_id)
            .bind(now)
            .bind(sealed.ciphertext.clone())
            .bind(&sealed.export_id)
            .bind(&sealed.key_id)
            .bind(sealed.wrapped_key.clone())
            .bind(sealed.expires_at)
            .execute(&mut *tx)
            .await?;
        }
        // The log keeps the result without the identities and ledger subjects in clear.
        let mut logged = result.clone();
        upkeep::hash_identities_in_result(&mut logged);
        self.audit(
            &mut tx,
            now,
            &job.owner,
            "job.completed",
            Some(&job.request_id),
            json!({
                "job": job.id,
                "attempt": job.attempts,
                "from": from.as_str(),
                "to": if completes { "completed" } else if forwards { "awaiting_external" } else { from.as_str() },
                "forwarded_to": forward_to,
                "result": logged,
                "export_bytes": export.map(|e| e.ciphertext.len()),
                "export_key": export.map(|e| e.key_id.as_str()),
            }),
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Records a failed attempt, only if this worker still holds the lease (else false and
    /// nothing changes). A [`JobFailure::Retry`] puts the job back in the queue until its
    /// time; the request stays in progress. A [`JobFailure::NeedsAction`] stops the job and
    /// moves the request to `needs_action` with the reason (its event and audit record in
    /// the same transaction), unless it was closed meanwhile. Either way the job leaves the
    /// worker's hands: no request stays in progress without a job a worker will take.
    pub async fn fail_job(&self, job: &Job, failure: JobFailure<'_>, now: i64) -> Result<bool> {
        let mut tx = self.begin().await?;
        let done = match failure {
            JobFailure::Retry { error, at } => sqlx::query(
                "UPDATE jobs SET state = 'queued', error = $1, not_before = $2, first_failed_at = COALESCE(first_failed_at, $3), lease_owner = NULL, lease_until = NULL WHERE id = $4 AND lease_owner = $5 AND state = 'running'",
            )
            .bind(error)
            .bind(at)
            .bind(now),
            JobFailure::NeedsAction { reason } => sqlx::query(
                "UPDATE jobs SET state = 'failed', error = $1, not_before = NULL, first_failed_at = COALESCE(first_failed_at, $2), finished_at = $2, lease_owner = NULL, lease_until = NULL WHERE id = $3 AND lease_owner = $4 AND state = 'running'",
            )
            .bind(reason)
            .bind(now),
        }
        .bind(job.id)
        .bind(&job.owner)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        let (error, next, retry_at) = match failure {
            JobFailure::Retry { error, at } => (error, "queued", Some(at)),
            JobFailure::NeedsAction { reason } => (reason, "needs_action", None),
        };
        let mut moved = None;
        if let JobFailure::NeedsAction { reason } = failure {
            let state: String = sqlx::query("SELECT state FROM requests WHERE id = $1")
                .bind(&job.request_id)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or_else(|| Error::UnknownRequest(job.request_id.clone()))?
                .try_get("state")?;
            let from: State = parse(&state)?;
            if from.can_move_to(State::NeedsAction) {
                sqlx::query(
                    "UPDATE requests SET state = 'needs_action', updated_at = $1 WHERE id = $2 AND state = $3",
                )
                .bind(now)
                .bind(&job.request_id)
                .bind(from.as_str())
                .execute(&mut *tx)
                .await?;
                self.event(
                    &mut tx,
                    &job.request_id,
                    now,
                    Some(from),
                    State::NeedsAction,
                    &job.owner,
                    Some(reason),
                )
                .await?;
                moved = Some(from);
            }
        }
        self.audit(
            &mut tx,
            now,
            &job.owner,
            "job.failed",
            Some(&job.request_id),
            json!({
                "job": job.id,
                "attempt": job.attempts,
                "error": error,
                "next": next,
                "retry_at": retry_at,
                "from": moved.map(State::as_str),
            }),
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Where a request's job stands, if it has one.
    pub async fn job_status(&self, request_id: &str) -> Result<Option<JobStatus>> {
        let row = sqlx::query(
            "SELECT state, attempts, error, not_before, first_failed_at FROM jobs WHERE request_id = $1",
        )
        .bind(request_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(JobStatus {
                state: r.try_get("state")?,
                attempts: r.try_get("attempts")?,
                error: r.try_get("error")?,
                not_before: r.try_get("not_before")?,
                first_failed_at: r.try_get("first_failed_at")?,
            })
        })
        .transpose()
    }

    /// Requests in progress whose job no worker holds or will take: none is queued or
    /// running for them. The invariant is that there are none; tests and `/readyz` check.
    pub async fn orphaned_requests(&self) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT r.id AS id FROM requests r LEFT JOIN jobs j ON j.request_id = r.id WHERE r.state = 'in_progress' AND (j.id IS NULL OR j.state NOT IN ('queued', 'running')) ORDER BY r.id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok(r.try_get("id")?)).collect()
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
        let mut walker = Walker::default();
        let mut after = 0;
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

    /// Counts of requests per state, for metrics.
    pub async fn count_by_state(&self) -> Result<Vec<(State, i64)>> {
        let rows = sqlx::query("SELECT state, COUNT(*) AS n FROM requests GROUP BY state")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((parse(&r.try_get::<String, _>("state")?)?, r.try_get("n")?)))
            .collect()
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

fn key_from_row(r: &AnyRow) -> Result<ApiKey> {
    Ok(ApiKey {
        id: r.try_get("id")?,
        role: r
            .try_get::<String, _>("role")?
            .parse()
            .map_err(Error::Corrupt)?,
        label: r.try_get("label")?,
        created_at: r.try_get("created_at")?,
        revoked_at: r.try_get("revoked_at")?,
    })
}

fn request_from_row(r: &AnyRow) -> Result<RequestRecord> {
    let kind: String = r.try_get("kind")?;
    Ok(RequestRecord {
        id: r.try_get("id")?,
        kind: kind
            .parse()
            .map_err(|e: pledge_lang::rights::UnknownName| Error::Corrupt(e.to_string()))?,
        regime: parse(&r.try_get::<String, _>("regime")?)?,
        state: parse(&r.try_get::<String, _>("state")?)?,
        identities: pairs_from_json(&r.try_get::<String, _>("identities")?)?,
        changes: pairs_from_json(&r.try_get::<String, _>("changes")?)?,
        proved_by: r
            .try_get::<Option<String>, _>("proved_by")?
            .map(|p| parse(&p))
            .transpose()?,
        needs_approval: r.try_get::<i64, _>("needs_approval")? != 0,
        received_at: r.try_get("received_at")?,
        due_at: r.try_get("due_at")?,
        confirm_by: r.try_get("confirm_by")?,
        extension_reason: r.try_get("extension_reason")?,
        denial_reason: r.try_get("denial_reason")?,
        result: r
            .try_get::<Option<String>, _>("result")?
            .map(|s| serde_json::from_str(&s).map_err(|e| Error::Corrupt(e.to_string())))
            .transpose()?,
        updated_at: r.try_get("updated_at")?,
    })
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
