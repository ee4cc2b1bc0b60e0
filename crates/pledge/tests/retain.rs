//! `pledge retain` as a user runs it, on a real SQLite database of a small application.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const DECLARATION: &str = "../pledge-plan/tests/plans/retention.toml";

/// Dates far in the past expire, dates far in the future do not, whenever the test runs.
const DATA: &str = "
CREATE TABLE accounts (id INTEGER PRIMARY KEY, email TEXT NOT NULL, name TEXT, birth_date DATE,
  country TEXT, street TEXT, closed_at TIMESTAMP);
CREATE TABLE sessions (id INTEGER PRIMARY KEY, account_id INTEGER NOT NULL REFERENCES accounts (id),
  last_seen_at TIMESTAMP NOT NULL, created_at TIMESTAMP NOT NULL, ip TEXT, user_agent TEXT);
CREATE TABLE session_events (id INTEGER PRIMARY KEY, session_id INTEGER NOT NULL REFERENCES sessions (id),
  path TEXT NOT NULL);
CREATE TABLE audit_log (id INTEGER PRIMARY KEY, session_id INTEGER REFERENCES sessions (id),
  at TIMESTAMP NOT NULL, ip TEXT);
CREATE TABLE invoices (id INTEGER PRIMARY KEY, account_id INTEGER NOT NULL REFERENCES accounts (id),
  issued_at TIMESTAMP NOT NULL, billing_address TEXT);
INSERT INTO accounts VALUES (1, 'old@example.com', 'Old', '1980-06-15', 'DK', 'Vej 1', '2000-01-01 00:00:00'),
  (2, 'open@example.com', 'Open', '1990-03-03', 'FR', 'Rue 2', NULL);
INSERT INTO sessions VALUES (1, 2, '2000-01-01 00:00:00', '2000-01-01 00:00:00', '10.0.0.1', 'ua'),
  (2, 2, '2000-01-02 00:00:00', '2000-01-01 00:00:00', '10.0.0.2', 'ua'),
  (3, 2, '2099-01-01 00:00:00', '2000-01-01 00:00:00', '10.0.0.3', 'ua');
INSERT INTO session_events VALUES (1, 1, '/a'), (2, 3, '/b');
INSERT INTO audit_log VALUES (1, 2, '2099-01-01 00:00:00', '10.0.0.2');
";

fn database(name: &str) -> (PathBuf, String) {
    let dir = std::env::temp_dir().join(format!("pledge-retain-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("app.db");
    let url = format!("sqlite:{}?mode=rwc", db.display());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut conn = pledge_connect::Database::connect(None, &url).await.unwrap();
        conn.batch(DATA).await.unwrap();
        conn.close().await;
    });
    (dir, format!("sqlite:{}", db.display()))
}

fn pledge(args: &[&str], url: &str) -> Output {
    let declaration = Path::new(env!("CARGO_MANIFEST_DIR")).join(DECLARATION);
    Command::new(env!("CARGO_BIN_EXE_pledge"))
        .arg("retain")
        .arg(&declaration)
        .args(args)
        .env("NO_COLOR", "1")
        .env("APP_DATABASE_URL", url)
        .output()
        .expect("run pledge")
}

fn json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON report")
}

/// (table, examined, deleted, anonymised) per table.
fn counts(report: &serde_json::Value) -> Vec<(String, u64, u64, u64)> {
    report["datasets"][0]["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["table"].as_str().unwrap().to_string(),
                t["examined"].as_u64().unwrap(),
                t["deleted"].as_u64().unwrap(),
                t["anonymised"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn a_dry_run_counts_then_a_run_does_it_and_a_second_run_finds_nothing() {
    let (_dir, url) = database("runs");
    let expected = vec![
        ("audit_log".to_string(), 0, 0, 0),
        // Session 1 goes with its event; the audit log keeps session 2, anonymised.
        ("sessions".to_string(), 2, 1, 1),
        ("accounts".to_string(), 1, 0, 1),
    ];
    let dry = json(&pledge(&["--dry-run", "--format", "json"], &url));
    assert_eq!(dry["datasets"][0]["committed"], false);
    assert_eq!(counts(&dry), expected);
    let real = json(&pledge(&["--format", "json", "--batch-size", "1"], &url));
    assert_eq!(real["datasets"][0]["committed"], true);
    assert_eq!(counts(&real), expected);
    assert_eq!(
        real["datasets"][0]["tables"][1]["deleted_along"][0]["rows"],
        1
    );
    let again = json(&pledge(&["--format", "json"], &url));
    assert!(
        counts(&again)
            .iter()
            .all(|(_, e, d, a)| (e, d, a) == (&0, &0, &0)),
        "{:?}",
        counts(&again)
    );
    // The human report names what it did and why.
    let human = pledge(&["--dry-run"], &url);
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(
        text.contains("dry run: rolled back, nothing changed"),
        "{text}"
    );
    assert!(
        text.contains("sessions: delete after 13 months of `last_seen_at`"),
        "{text}"
    );
}

#[test]
fn an_unknown_table_is_named() {
    let (_dir, url) = database("unknown");
    let out = pledge(&["--table", "invoices"], &url);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("table `invoices` of dataset `app` declares no retention"),
        "{err}"
    );
}
