//! The store's schema, as numbered migrations embedded in the binary and run on start.
//! `schema_version` records which ran; each runs in its own transaction with its record.

use crate::chain::{self, Lock};
use crate::{Backend, Result};
use sqlx::{AnyPool, Row};

/// One migration: its number, then its statements, run in the order written.
struct Migration {
    version: i64,
    steps: &'static [Step],
}

/// A statement of a migration: portable SQL, or SQL for one backend only.
enum Step {
    Both(&'static str),
    Sqlite(&'static str),
    Postgres(&'static str),
}

use Step::{Both, Postgres, Sqlite};

impl Step {
    /// The statement, if it runs on `backend`.
    fn on(&self, backend: Backend) -> Option<&'static str> {
        match (self, backend) {
            (Both(sql), _)
            | (Sqlite(sql), Backend::Sqlite)
            | (Postgres(sql), Backend::Postgres) => Some(sql),
            _ => None,
        }
    }
}

const MIGRATIONS: &[Migration] = &[
    SCHEMA,
    CONSENT_LEDGER,
    PUBLIC_INTAKE,
    TASKS_AND_SEALED_EXPORTS,
    FORWARDS,
    RETRIES,
    PROOFS_AND_SIGNED_CALLBACKS,
    CHECKPOINTS,
    RUN_PROGRESS,
    STAFF,
    NOTICES,
    REQUEST_LANGUAGE,
    CONSENT_INDEX_SNAPSHOT,
    CONSOLE_INDEXES,
];

/// 1: keys, requests, events, jobs, exports and the audit log.
const SCHEMA: Migration = Migration {
    version: 1,
    steps: &[
        Both(
            "CREATE TABLE api_keys (
            id TEXT PRIMARY KEY,
            hash TEXT NOT NULL UNIQUE,
            role TEXT NOT NULL,
            label TEXT,
            created_at BIGINT NOT NULL,
            revoked_at BIGINT
        )",
        ),
        Both(
            "CREATE TABLE requests (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            regime TEXT NOT NULL,
            state TEXT NOT NULL,
            identities TEXT NOT NULL,
            changes TEXT NOT NULL,
            needs_approval BIGINT NOT NULL,
            received_at BIGINT NOT NULL,
            due_at BIGINT NOT NULL,
            confirm_by BIGINT,
            extension_reason TEXT,
            denial_reason TEXT,
            result TEXT,
            updated_at BIGINT NOT NULL
        )",
        ),
        Sqlite(
            "CREATE TABLE request_events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            request_id TEXT NOT NULL REFERENCES requests (id),
            at BIGINT NOT NULL,
            from_state TEXT,
            to_state TEXT NOT NULL,
            actor TEXT NOT NULL,
            reason TEXT
        )",
        ),
        Sqlite(
            "CREATE TABLE jobs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            request_id TEXT NOT NULL UNIQUE REFERENCES requests (id),
            state TEXT NOT NULL,
            attempts BIGINT NOT NULL,
            lease_owner TEXT,
            lease_until BIGINT,
            created_at BIGINT NOT NULL,
            finished_at BIGINT,
            error TEXT
        )",
        ),
        Sqlite(
            "CREATE TABLE exports (
            request_id TEXT PRIMARY KEY REFERENCES requests (id),
            created_at BIGINT NOT NULL,
            bytes BLOB NOT NULL
        )",
        ),
        Sqlite(
            "CREATE TABLE audit_log (
            seq BIGINT PRIMARY KEY,
            at BIGINT NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            request_id TEXT,
            detail TEXT NOT NULL,
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL
        )",
        ),
        Sqlite(
            "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
         BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
        ),
        Sqlite(
            "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
         BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
        ),
        Postgres(
            "CREATE TABLE request_events (
            id BIGSERIAL PRIMARY KEY,
            request_id TEXT NOT NULL REFERENCES requests (id),
            at BIGINT NOT NULL,
            from_state TEXT,
            to_state TEXT NOT NULL,
            actor TEXT NOT NULL,
            reason TEXT
        )",
        ),
        Postgres(
            "CREATE TABLE jobs (
            id BIGSERIAL PRIMARY KEY,
            request_id TEXT NOT NULL UNIQUE REFERENCES requests (id),
            state TEXT NOT NULL,
            attempts BIGINT NOT NULL,
            lease_owner TEXT,
            lease_until BIGINT,
            created_at BIGINT NOT NULL,
            finished_at BIGINT,
            error TEXT
        )",
        ),
        Postgres(
            "CREATE TABLE exports (
            request_id TEXT PRIMARY KEY REFERENCES requests (id),
            created_at BIGINT NOT NULL,
            bytes BYTEA NOT NULL
        )",
        ),
        Postgres(
            "CREATE TABLE audit_log (
            seq BIGINT PRIMARY KEY,
            at BIGINT NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            request_id TEXT,
            detail TEXT NOT NULL,
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL
        )",
        ),
        Postgres(
            "CREATE FUNCTION pledge_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS
         $$ BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$",
        ),
        Postgres(
            "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
         FOR EACH ROW EXECUTE FUNCTION pledge_audit_append_only()",
        ),
        Both("CREATE INDEX requests_by_due ON requests (due_at)"),
        Both("CREATE INDEX events_by_request ON request_events (request_id, id)"),
        Both("CREATE INDEX jobs_by_state ON jobs (state, id)"),
    ],
};

/// 2: the consent ledger, append-only and hash-chained like the audit log.
const CONSENT_LEDGER: Migration = Migration {
    version: 2,
    steps: &[
        Both(
            "CREATE TABLE consent_events (
        seq BIGINT PRIMARY KEY,
        at BIGINT NOT NULL,
        subject TEXT NOT NULL,
        kind TEXT NOT NULL,
        target TEXT,
        state TEXT NOT NULL,
        expires_at BIGINT,
        notice_version TEXT,
        text_hash TEXT,
        method TEXT NOT NULL,
        ip TEXT,
        user_agent TEXT,
        actor TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
    )",
        ),
        Sqlite(
            "CREATE TRIGGER consent_events_no_update BEFORE UPDATE ON consent_events
     BEGIN SELECT RAISE(ABORT, 'the consent ledger is append-only'); END",
        ),
        Sqlite(
            "CREATE TRIGGER consent_events_no_delete BEFORE DELETE ON consent_events
     BEGIN SELECT RAISE(ABORT, 'the consent ledger is append-only'); END",
        ),
        Postgres(
            "CREATE FUNCTION pledge_consent_append_only() RETURNS trigger LANGUAGE plpgsql AS
     $$ BEGIN RAISE EXCEPTION 'the consent ledger is append-only'; END $$",
        ),
        Postgres(
            "CREATE TRIGGER consent_events_append_only BEFORE UPDATE OR DELETE ON consent_events
     FOR EACH ROW EXECUTE FUNCTION pledge_consent_append_only()",
        ),
        Both("CREATE INDEX consent_events_by_subject ON consent_events (subject, seq)"),
    ],
};

/// 3: public intake. One-time codes and links (hashes only), the person's status token, and
/// the outbox of e-mails written with the state change they tell of.
const PUBLIC_INTAKE: Migration = Migration {
    version: 3,
    steps: &[
        Both(
            "CREATE TABLE verifications (
            request_id TEXT PRIMARY KEY REFERENCES requests (id),
            code_hash TEXT NOT NULL,
            link_hash TEXT NOT NULL UNIQUE,
            expires_at BIGINT NOT NULL,
            attempts BIGINT NOT NULL,
            max_attempts BIGINT NOT NULL,
            used_at BIGINT
        )",
        ),
        Both(
            "CREATE TABLE status_tokens (
            request_id TEXT PRIMARY KEY REFERENCES requests (id),
            token_hash TEXT NOT NULL
        )",
        ),
        Sqlite(
            "CREATE TABLE outbox (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            request_id TEXT REFERENCES requests (id),
            recipient TEXT NOT NULL,
            event TEXT NOT NULL,
            data TEXT,
            state TEXT NOT NULL,
            attempts BIGINT NOT NULL,
            next_attempt_at BIGINT NOT NULL,
            lease_until BIGINT,
            created_at BIGINT NOT NULL,
            sent_at BIGINT,
            error TEXT
        )",
        ),
        Postgres(
            "CREATE TABLE outbox (
            id BIGSERIAL PRIMARY KEY,
            request_id TEXT REFERENCES requests (id),
            recipient TEXT NOT NULL,
            event TEXT NOT NULL,
            data TEXT,
            state TEXT NOT NULL,
            attempts BIGINT NOT NULL,
            next_attempt_at BIGINT NOT NULL,
            lease_until BIGINT,
            created_at BIGINT NOT NULL,
            sent_at BIGINT,
            error TEXT
        )",
        ),
        Both("CREATE INDEX verifications_by_expiry ON verifications (expires_at)"),
        Both("CREATE INDEX outbox_due ON outbox (state, next_attempt_at)"),
    ],
};

/// 4: scheduled tasks (one runner at a time across replicas), exports encrypted at rest with
/// expiring single-use download links, and the minimisation of closed requests.
const TASKS_AND_SEALED_EXPORTS: Migration = Migration {
    version: 4,
    steps: &[
        Both(
            "CREATE TABLE task_leases (
        task TEXT PRIMARY KEY,
        owner TEXT,
        lease_until BIGINT,
        last_fire BIGINT
    )",
        ),
        Both(
            "CREATE TABLE export_links (
        token_hash TEXT PRIMARY KEY,
        request_id TEXT NOT NULL REFERENCES requests (id),
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        used_at BIGINT,
        created_by TEXT NOT NULL
    )",
        ),
        Sqlite("ALTER TABLE exports ADD COLUMN wrapped_key BLOB"),
        Postgres("ALTER TABLE exports ADD COLUMN wrapped_key BYTEA"),
        Both("ALTER TABLE exports ADD COLUMN export_id TEXT"),
        Both("ALTER TABLE exports ADD COLUMN key_id TEXT"),
        Both("ALTER TABLE exports ADD COLUMN expires_at BIGINT"),
        Both("ALTER TABLE requests ADD COLUMN minimised_at BIGINT"),
        Both("CREATE INDEX audit_by_action ON audit_log (action, seq)"),
        Both("CREATE INDEX links_by_request ON export_links (request_id)"),
    ],
};

/// 5: rights requests forwarded to recipients no dataset reaches, and their callbacks.
const FORWARDS: Migration = Migration {
    version: 5,
    steps: &[
        Both(
            "CREATE TABLE forwards (
            request_id TEXT NOT NULL REFERENCES requests (id),
            recipient TEXT NOT NULL,
            state TEXT NOT NULL,
            attempts BIGINT NOT NULL,
            next_attempt_at BIGINT NOT NULL,
            lease_until BIGINT,
            detail TEXT,
            updated_at BIGINT NOT NULL,
            PRIMARY KEY (request_id, recipient)
        )",
        ),
        Both("CREATE INDEX forwards_due ON forwards (state, next_attempt_at)"),
    ],
};

/// 6: jobs retried after transient failures wait for their time (`not_before`) within a
/// budget counted from `first_failed_at`; `store_probe` is the row `/readyz` writes to check
/// the store can write. Jobs left `failed` by the old fixed number of attempts, whose request
/// is still open, are queued again to be classified afresh.
const RETRIES: Migration = Migration {
    version: 6,
    steps: &[
        Sqlite("CREATE TABLE store_probe (id BIGINT PRIMARY KEY, at BIGINT NOT NULL, pad BLOB)"),
        Postgres("CREATE TABLE store_probe (id BIGINT PRIMARY KEY, at BIGINT NOT NULL, pad BYTEA)"),
        Both("ALTER TABLE jobs ADD COLUMN not_before BIGINT"),
        Both("ALTER TABLE jobs ADD COLUMN first_failed_at BIGINT"),
        Both("INSERT INTO store_probe (id, at) VALUES (1, 0)"),
        Both(
            "UPDATE jobs SET state = 'queued', attempts = 0 WHERE state = 'failed' AND request_id IN (SELECT id FROM requests WHERE state IN ('in_progress', 'extended'))",
        ),
    ],
};

/// 7: how a request's identities were proved (`email_code`, `staff`, `service`), and the
/// last signed report of each recipient (its time and signature), so a report is not taken
/// twice. Requests taken in before are given theirs from who took them in: the person (the
/// public form, whose requests then act on their address only), a service key, or staff.
const PROOFS_AND_SIGNED_CALLBACKS: Migration = Migration {
    version: 7,
    steps: &[
        Both("ALTER TABLE requests ADD COLUMN proved_by TEXT"),
        Both(
            "UPDATE requests SET proved_by = 'email_code' WHERE proved_by IS NULL AND id IN (SELECT request_id FROM request_events WHERE from_state IS NULL AND actor = 'person')",
        ),
        Both(
            "UPDATE requests SET proved_by = 'service' WHERE proved_by IS NULL AND id IN (SELECT e.request_id FROM request_events e JOIN api_keys k ON e.actor = 'key:' || k.id WHERE e.from_state IS NULL AND k.role = 'service')",
        ),
        Both("UPDATE requests SET proved_by = 'staff' WHERE proved_by IS NULL"),
        Both("ALTER TABLE forwards ADD COLUMN callback_t BIGINT"),
        Both("ALTER TABLE forwards ADD COLUMN callback_signature TEXT"),
    ],
};

/// 8: the signed checkpoints of the audit log and the consent ledger (copies: the ones
/// that count are kept outside the store), with the ledger's Merkle frontier at each.
const CHECKPOINTS: Migration = Migration {
    version: 8,
    steps: &[Both(
        "CREATE TABLE checkpoints (
            log TEXT NOT NULL,
            size BIGINT NOT NULL,
            at BIGINT NOT NULL,
            head TEXT NOT NULL,
            root TEXT NOT NULL,
            note TEXT NOT NULL,
            frontier TEXT,
            PRIMARY KEY (log, size)
        )",
    )],
};

/// 9: what a scheduled run has done so far (its report in progress, JSON), written as it goes
/// and cleared when the run is recorded: a runner killed mid-run leaves it, and whoever next
/// finds the lease expired records the run as interrupted with those counts.
const RUN_PROGRESS: Migration = Migration {
    version: 9,
    steps: &[Both("ALTER TABLE task_leases ADD COLUMN run_progress TEXT")],
};

/// 10: the console's staff accounts (an Argon2id hash of the password, the lock-out
/// count) and their sessions (the SHA-256 of the token, the CSRF secret of its forms).
const STAFF: Migration = Migration {
    version: 10,
    steps: &[
        Both(
            "CREATE TABLE staff_accounts (
            id TEXT PRIMARY KEY,
            email TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL,
            role TEXT NOT NULL,
            password_hash TEXT NOT NULL,
            failed_attempts BIGINT NOT NULL DEFAULT 0,
            locked_until BIGINT,
            disabled_at BIGINT,
            created_at BIGINT NOT NULL
        )",
        ),
        Both(
            "CREATE TABLE staff_sessions (
            hash TEXT PRIMARY KEY,
            account_id TEXT NOT NULL REFERENCES staff_accounts (id),
            csrf TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            last_seen BIGINT NOT NULL,
            idle_expires_at BIGINT NOT NULL,
            expires_at BIGINT NOT NULL
        )",
        ),
        Both("CREATE INDEX staff_sessions_account ON staff_sessions (account_id)"),
    ],
};

/// 11: every version of the privacy notice the server has published: when it first served
/// it, the notice's HTML as published, and the declaration it was made from (JSON), so
/// that any two versions can be compared later.
const NOTICES: Migration = Migration {
    version: 11,
    steps: &[Both(
        "CREATE TABLE notices (
            version TEXT PRIMARY KEY,
            digest TEXT NOT NULL,
            effective_date TEXT,
            published_at BIGINT NOT NULL,
            declaration TEXT NOT NULL,
            html TEXT NOT NULL
        )",
    )],
};

/// 12: the language the person wrote in (a BCP 47 tag the server speaks), for the messages
/// about the request; none for requests taken in before, or without one (the server's
/// default language then).
const REQUEST_LANGUAGE: Migration = Migration {
    version: 12,
    steps: &[Both("ALTER TABLE requests ADD COLUMN language TEXT")],
};

/// 13: the consent index as it stood after one ledger event, so that a server starts from it
/// instead of applying the whole ledger (one row, replaced by later snapshots).
const CONSENT_INDEX_SNAPSHOT: Migration = Migration {
    version: 13,
    steps: &[
        Sqlite(
            "CREATE TABLE consent_index_snapshot (
            id BIGINT PRIMARY KEY CHECK (id = 1),
            last_seq BIGINT NOT NULL,
            last_hash TEXT NOT NULL,
            format BIGINT NOT NULL,
            body BLOB NOT NULL,
            written_at BIGINT NOT NULL
        )",
        ),
        Postgres(
            "CREATE TABLE consent_index_snapshot (
            id BIGINT PRIMARY KEY CHECK (id = 1),
            last_seq BIGINT NOT NULL,
            last_hash TEXT NOT NULL,
            format BIGINT NOT NULL,
            body BYTEA NOT NULL,
            written_at BIGINT NOT NULL
        )",
        ),
    ],
};

/// 14: what the console's dashboard and list count and sort by, so that with a hundred
/// thousand requests a count reads an index, not the table: open requests by deadline,
/// by state in deadline order, and by regime and kind.
const CONSOLE_INDEXES: Migration = Migration {
    version: 14,
    steps: &[
        Both("CREATE INDEX requests_by_due_state ON requests (due_at, state)"),
        Both("CREATE INDEX requests_by_state_due ON requests (state, due_at, id)"),
        Both("CREATE INDEX requests_by_state_kind ON requests (state, regime, kind)"),
    ],
};

/// Brings the schema up to date. On PostgreSQL an advisory lock keeps two replicas that
/// start together from running the same migration twice.
pub(crate) async fn run(pool: &AnyPool, backend: Backend) -> Result<()> {
    let mut conn = pool.acquire().await?;
    chain::session_lock(backend, &mut conn, Lock::Migrations, true).await?;
    let result = run_locked(&mut conn, backend).await;
    chain::session_lock(backend, &mut conn, Lock::Migrations, false).await?;
    result
}

async fn run_locked(conn: &mut sqlx::AnyConnection, backend: Backend) -> Result<()> {
    sqlx::query("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)")
        .execute(&mut *conn)
        .await?;
    let current: i64 = sqlx::query("SELECT COALESCE(MAX(version), 0) AS v FROM schema_version")
        .fetch_one(&mut *conn)
        .await?
        .try_get("v")?;
    for m in MIGRATIONS.iter().filter(|m| m.version > current) {
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        for statement in m.steps.iter().filter_map(|s| s.on(backend)) {
            sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
                .execute(&mut *tx)
                .await?;
        }
        // When the database applied it, by the database's own clock: the store takes its
        // time as a parameter everywhere else, and opening it has none to give.
        let applied_at = match backend {
            Backend::Sqlite => "CAST(strftime('%s', 'now') AS INTEGER)",
            Backend::Postgres => "CAST(EXTRACT(EPOCH FROM now()) AS BIGINT)",
        };
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO schema_version (version, applied_at) VALUES ($1, {applied_at})"
        )))
        .bind(m.version)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
    }
    Ok(())
}
