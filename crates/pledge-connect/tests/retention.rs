//! Retention sweeps on SQLite, PostgreSQL and MariaDB: a small application schema (accounts,
//! their sessions with events, an audit log with its own period, invoices), each test in a
//! fresh database of its own. PostgreSQL and MariaDB are the real servers `scripts/test.sh`
//! starts.

use pledge_connect::{BatchOptions, Database, RetentionOutcome, SweepOutcome};
use pledge_lang::model::Engine;
use pledge_lang::time::CivilTime;
use pledge_lang::{Declaration, SourceMap, load};
use pledge_plan::retention::retention;
use pledge_plan::{SchemaGraph, Value};
use std::sync::atomic::{AtomicU32, Ordering};

const DECLARATION: &str = include_str!("../../pledge-plan/tests/plans/retention.toml");

/// 2026-11-22 00:00:00. Sessions expire before 2025-10-22 00:00:00 (13 months), audit log
/// entries before 2024-11-22 (2 years), closed accounts before 2021-11-22 (5 years); the
/// hold on sessions for payment disputes keeps those created from 2023-11-22 on (3 years).
const NOW: i64 = 1_795_305_600;

const SCHEMA: &str = "
CREATE TABLE accounts (id INTEGER NOT NULL PRIMARY KEY, email VARCHAR(100) NOT NULL, name VARCHAR(100),
  birth_date DATE, country VARCHAR(2), street VARCHAR(100), closed_at {ts} NULL);
CREATE TABLE sessions (id INTEGER NOT NULL PRIMARY KEY, account_id INTEGER NOT NULL, last_seen_at {ts} NOT NULL,
  created_at {ts} NOT NULL, ip VARCHAR(45), user_agent VARCHAR(200),
  FOREIGN KEY (account_id) REFERENCES accounts (id));
CREATE TABLE session_events (id INTEGER NOT NULL PRIMARY KEY, session_id INTEGER NOT NULL, path VARCHAR(100) NOT NULL,
  FOREIGN KEY (session_id) REFERENCES sessions (id));
CREATE TABLE audit_log (id INTEGER NOT NULL PRIMARY KEY, session_id INTEGER, at {ts} NOT NULL, ip VARCHAR(45),
  FOREIGN KEY (session_id) REFERENCES sessions (id));
CREATE TABLE invoices (id INTEGER NOT NULL PRIMARY KEY, account_id INTEGER NOT NULL, issued_at {ts} NOT NULL,
  billing_address VARCHAR(100), FOREIGN KEY (account_id) REFERENCES accounts (id));
INSERT INTO accounts VALUES
  (1, 'old@example.com', 'Old', '1980-06-15', 'DK', 'Vej 1', '2020-01-01 00:00:00'),
  (2, 'inside@example.com', 'Inside', '1990-03-03', 'FR', 'Rue 2', '2021-11-22 00:00:01'),
  (3, 'outside@example.com', 'Outside', '1975-12-31', 'DE', 'Weg 3', '2021-11-21 23:59:59'),
  (4, 'active@example.com', 'Active', '2000-01-02', 'SE', 'Gata 4', NULL);
INSERT INTO sessions VALUES
  (1, 4, '2025-10-21 23:59:59', '2019-01-01 00:00:00', '10.0.0.1', 'ua-1'),
  (2, 4, '2025-10-22 00:00:01', '2019-01-01 00:00:00', '10.0.0.2', 'ua-2'),
  (3, 4, '2020-01-01 00:00:00', '2024-06-01 00:00:00', '10.0.0.3', 'ua-3'),
  (4, 4, '2020-01-01 00:00:00', '2023-01-01 00:00:00', '10.0.0.4', 'ua-4'),
  (5, 4, '2020-01-01 00:00:00', '2019-01-01 00:00:00', '10.0.0.5', 'ua-5'),
  (6, 4, '2024-01-06 00:00:00', '2019-01-01 00:00:00', '10.0.0.6', 'ua-6'),
  (7, 4, '2024-01-07 00:00:00', '2019-01-01 00:00:00', '10.0.0.7', 'ua-7'),
  (8, 4, '2024-01-08 00:00:00', '2019-01-01 00:00:00', '10.0.0.8', 'ua-8'),
  (9, 4, '2024-01-09 00:00:00', '2019-01-01 00:00:00', '10.0.0.9', 'ua-9'),
  (10, 4, '2024-01-10 00:00:00', '2019-01-01 00:00:00', '10.0.0.10', 'ua-10'),
  (11, 4, '2026-11-01 00:00:00', '2019-01-01 00:00:00', '10.0.0.11', 'ua-11');
INSERT INTO session_events VALUES
  (1, 1, '/a'), (2, 1, '/b'), (3, 2, '/c'), (4, 3, '/d'), (5, 6, '/e'), (6, 7, '/f'), (7, 11, '/g');
INSERT INTO audit_log VALUES
  (1, 5, '2026-01-01 00:00:00', '10.0.0.5'),
  (2, 6, '2020-01-01 00:00:00', '10.0.0.6'),
  (3, NULL, '2024-11-21 23:59:59', '10.9.9.9'),
  (4, NULL, '2024-11-22 00:00:01', '10.9.9.8');
INSERT INTO invoices VALUES (1, 1, '2019-12-01 00:00:00', 'Vej 1')";

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn unique_name() -> String {
    format!(
        "pledge_retention_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Replace the database name at the end of a server URL.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let cut = base.rfind('/').expect("a server URL has a path");
    let mut out = format!("{}/{name}", &base[..cut]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

struct Fixture {
    db: Database,
    decl: Declaration,
    schema: SchemaGraph,
    engine: Engine,
}

async fn fixture(engine: Engine) -> Option<Fixture> {
    let url = match engine {
        Engine::Sqlite => {
            let path = std::env::temp_dir().join(format!("{}.db", unique_name()));
            let _ = std::fs::remove_file(&path);
            format!("sqlite:{}?mode=rwc", path.display())
        }
        Engine::Postgres | Engine::Mysql => {
            let server = if engine == Engine::Postgres {
                pledge_testkit::require!(
                    pledge_testkit::POSTGRES_URL,
                    pledge_testkit::postgres_url()
                )?
            } else {
                pledge_testkit::require!(pledge_testkit::MYSQL_URL, pledge_testkit::mysql_url())?
            };
            let name = unique_name();
            let mut admin = Database::connect(None, &server)
                .await
                .expect("connect to the test server");
            admin
                .batch(&format!("CREATE DATABASE {name}"))
                .await
                .expect("create a database");
            admin.close().await;
            with_database(&server, &name)
        }
    };
    let mut db = Database::connect(None, &url).await.expect("connect");
    let ts = if engine == Engine::Mysql {
        "DATETIME"
    } else {
        "TIMESTAMP"
    };
    for statement in SCHEMA.replace("{ts}", ts).split(';') {
        db.batch(statement.trim()).await.expect("load the schema");
    }
    let schema = db.introspect(None).await.expect("introspect");
    let decl = load(&SourceMap::single("retention.toml", DECLARATION)).expect("loads");
    Some(Fixture {
        db,
        decl,
        schema,
        engine,
    })
}

impl Fixture {
    async fn sweep(
        &mut self,
        dry_run: bool,
        batch_size: u64,
        stop: &(dyn Fn() -> bool + Sync),
    ) -> RetentionOutcome {
        let plan = retention(
            &self.decl,
            &self.decl.doc().datasets[0],
            &self.schema,
            CivilTime::from_unix(NOW),
            None,
        )
        .expect("plans");
        let options = BatchOptions {
            batch_size,
            dry_run,
            count_first: true,
            stop,
            progress: &|_, _, _| {},
            on_batch: None,
        };
        self.db
            .execute_batched(&self.schema, &plan, &options)
            .await
            .expect("runs")
    }

    async fn run(&mut self) -> RetentionOutcome {
        self.sweep(false, 3, &|| false).await
    }

    async fn ids(&mut self, sql: &str) -> Vec<i64> {
        self.db
            .query(sql)
            .await
            .expect("query")
            .into_iter()
            .map(|r| match &r[0] {
                Value::Int(n) => *n,
                other => other.to_string().parse().expect("a number"),
            })
            .collect()
    }

    async fn count(&mut self, sql: &str) -> i64 {
        self.ids(sql).await[0]
    }

    /// Everything, for "nothing changed" and "same end state" checks.
    async fn state(&mut self) -> Vec<Vec<Vec<Value>>> {
        let mut all = Vec::new();
        for sql in [
            "SELECT id, email, name, country, street FROM accounts ORDER BY id",
            "SELECT id FROM accounts WHERE birth_date IS NULL OR birth_date IN ('1980-01-01', '1975-01-01') ORDER BY id",
            "SELECT id, account_id, ip, user_agent FROM sessions ORDER BY id",
            "SELECT id, session_id, path FROM session_events ORDER BY id",
            "SELECT id, session_id, ip FROM audit_log ORDER BY id",
            "SELECT id, account_id, billing_address FROM invoices ORDER BY id",
        ] {
            all.push(self.db.query(sql).await.expect("query"));
        }
        all
    }
}

fn table<'a>(outcome: &'a RetentionOutcome, name: &str) -> &'a SweepOutcome {
    outcome
        .sweeps
        .iter()
        .find(|s| s.table == name)
        .expect("a sweep of the table")
}

macro_rules! on_every_engine {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test] async fn $name() { if let Some(f) = super::fixture(super::Engine::Sqlite).await { super::$name(f).await } })*
        }
        mod postgres {
            $(#[tokio::test] async fn $name() { if let Some(f) = super::fixture(super::Engine::Postgres).await { super::$name(f).await } })*
        }
        mod mariadb {
            $(#[tokio::test] async fn $name() { if let Some(f) = super::fixture(super::Engine::Mysql).await { super::$name(f).await } })*
        }
    };
}

on_every_engine![
    a_dry_run_changes_nothing_and_counts_what_a_run_does,
    expired_rows_go_at_the_edge_of_the_period_and_held_rows_stay,
    anonymisation_leaves_no_identifying_column,
    a_second_run_finds_nothing,
    an_interrupted_run_resumes_to_the_same_end_state,
];

async fn a_dry_run_changes_nothing_and_counts_what_a_run_does(mut f: Fixture) {
    let before = f.state().await;
    let dry = f.sweep(true, 3, &|| false).await;
    assert!(!dry.committed);
    assert_eq!(f.state().await, before, "{:?}", f.engine);
    let real = f.run().await;
    assert!(real.committed);
    for (d, r) in dry.sweeps.iter().zip(&real.sweeps) {
        assert_eq!(
            (
                d.examined,
                d.deleted,
                d.anonymised,
                &d.deleted_along,
                &d.held
            ),
            (
                r.examined,
                r.deleted,
                r.anonymised,
                &r.deleted_along,
                &r.held
            ),
            "{:?} {}",
            f.engine,
            d.table
        );
    }
}

async fn expired_rows_go_at_the_edge_of_the_period_and_held_rows_stay(mut f: Fixture) {
    let outcome = f.run().await;
    let order: Vec<&str> = outcome.sweeps.iter().map(|s| s.table.as_str()).collect();
    assert_eq!(order, ["audit_log", "sessions", "accounts"]);
    // Audit log: one second outside the period goes, one second inside stays.
    assert_eq!(
        f.ids("SELECT id FROM audit_log ORDER BY id").await,
        [1, 4],
        "{:?}",
        f.engine
    );
    // Sessions: 1 is one second outside, 2 one second inside; 3 is under the hold for
    // payment disputes, whose end for 4 has passed; the audit log still refers to 5, which stays anonymised;
    // 6 lost its audit entry first, so it goes too.
    assert_eq!(
        f.ids("SELECT id FROM sessions ORDER BY id").await,
        [2, 3, 5, 11],
        "{:?}",
        f.engine
    );
    // Events go with their session, except those of sessions that stay.
    assert_eq!(
        f.ids("SELECT id FROM session_events ORDER BY id").await,
        [3, 4, 7]
    );
    let sessions = table(&outcome, "sessions");
    assert_eq!(
        (sessions.deleted, sessions.anonymised, sessions.examined),
        (7, 1, 9),
        "{:?} {sessions:?}",
        f.engine
    );
    assert_eq!(sessions.deleted_along, [("session_events".to_string(), 4)]);
    assert_eq!(sessions.held.len(), 1);
    assert_eq!(sessions.held[0].1, 1);
    assert!(sessions.held[0].0.contains("payment disputes"));
    assert!(sessions.batches >= 3, "batches of 3: {}", sessions.batches);
    // The kept session names no one any more; the held one is untouched.
    assert_eq!(
        f.count("SELECT COUNT(*) FROM sessions WHERE id = 5 AND ip IS NULL AND user_agent IS NULL")
            .await,
        1
    );
    assert_eq!(
        f.count("SELECT COUNT(*) FROM sessions WHERE id = 3 AND ip = '10.0.0.3'")
            .await,
        1
    );
}

async fn anonymisation_leaves_no_identifying_column(mut f: Fixture) {
    let outcome = f.run().await;
    let accounts = table(&outcome, "accounts");
    assert_eq!(
        (accounts.anonymised, accounts.deleted),
        (2, 0),
        "{:?}",
        f.engine
    );
    let rows =
        f.db.query("SELECT id, email, name, street, country FROM accounts ORDER BY id")
            .await
            .unwrap();
    let text = |v: &Value| v.to_string();
    // 1 and 3 closed more than five years ago: cleared, the country kept.
    for (row, country) in [(&rows[0], "DK"), (&rows[2], "DE")] {
        assert_eq!(text(&row[1]), "erased", "{:?}", f.engine);
        assert!(row[2].is_null() && row[3].is_null(), "{row:?}");
        assert_eq!(text(&row[4]), country);
    }
    // 2 closed one second too recently; 4 is open.
    assert_eq!(text(&rows[1][1]), "inside@example.com");
    assert_eq!(text(&rows[3][1]), "active@example.com");
    // Birth dates keep only their year.
    assert_eq!(
        f.ids(
            "SELECT id FROM accounts WHERE birth_date IN ('1980-01-01', '1975-01-01') ORDER BY id"
        )
        .await,
        [1, 3],
        "{:?}",
        f.engine
    );
    assert_eq!(
        f.count("SELECT COUNT(*) FROM accounts WHERE birth_date = '1990-03-03'")
            .await,
        1
    );
    // Invoices, with no retention of their own, are not touched by the accounts' sweep.
    assert_eq!(
        f.count("SELECT COUNT(*) FROM invoices WHERE billing_address = 'Vej 1'")
            .await,
        1
    );
}

async fn a_second_run_finds_nothing(mut f: Fixture) {
    f.run().await;
    let after_first = f.state().await;
    let second = f.run().await;
    for s in &second.sweeps {
        assert_eq!(
            (
                s.deleted,
                s.anonymised,
                s.kept,
                s.deleted_along.iter().map(|(_, n)| n).sum::<u64>()
            ),
            (0, 0, 0, 0),
            "{:?} {s:?}",
            f.engine
        );
        // Only what the holds keep is examined again.
        assert_eq!(
            s.examined,
            s.held.iter().map(|(_, n)| n).sum::<u64>(),
            "{:?} {s:?}",
            f.engine
        );
    }
    assert_eq!(f.state().await, after_first);
}

async fn an_interrupted_run_resumes_to_the_same_end_state(mut f: Fixture) {
    // Stop after the first batch.
    let asked = AtomicU32::new(0);
    let stop = || asked.fetch_add(1, Ordering::SeqCst) >= 1;
    let first = f.sweep(false, 1, &stop).await;
    assert!(first.stopped && first.committed);
    assert_eq!(first.sweeps.len(), 1);
    assert_eq!(first.sweeps[0].batches, 1);
    assert!(!first.sweeps[0].complete);
    // The first batch is committed: the oldest expired audit entry is gone.
    assert_eq!(
        f.ids("SELECT id FROM audit_log ORDER BY id").await,
        [1, 3, 4],
        "{:?}",
        f.engine
    );
    let resumed = f.sweep(false, 2, &|| false).await;
    assert!(!resumed.stopped);
    let end = f.state().await;
    // The same end state as one uninterrupted run on a fresh copy.
    let mut fresh = fixture(f.engine).await.expect("the same engine is there");
    fresh.run().await;
    assert_eq!(end, fresh.state().await, "{:?}", f.engine);
}
