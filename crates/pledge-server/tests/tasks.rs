//! Scheduled tasks on a SQLite store (always) and a PostgreSQL store (the server that
//! scripts/test.sh starts): two replicas wake for the same fire time of the retention sweep
//! and one runs it against a real SQLite application database; the run and its per-table
//! report are in the audit log and the API; maintenance expires what it should.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use pledge_connect::Database;
use pledge_core::plan::Value;
use pledge_server::schedule::{self, Task};
use pledge_server::{AppState, Config, router};
use pledge_store::{Role, Store};
use serde_json::Value as Json;
use std::path::{Path, PathBuf};
use tower::ServiceExt;

const DECLARATION: &str = "../pledge-core/tests/plans/retention.toml";

/// Dates far in the past expire, dates far in the future do not, whenever the test runs.
const APP: &str = "
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

struct Replicas {
    a: AppState,
    b: AppState,
    app_db: String,
    admin: String,
    support: String,
    dir: PathBuf,
}

impl Drop for Replicas {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn replicas(name: &str, store: Store) -> Replicas {
    let dir = std::env::temp_dir().join(format!("pledge-tasks-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let app_db = format!("sqlite:{}", dir.join("app.db").display());
    let mut db = Database::connect(None, &format!("{app_db}?mode=rwc"))
        .await
        .unwrap();
    db.batch(APP).await.unwrap();
    db.close().await;
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(DECLARATION)).unwrap();
    let sources = pledge_core::SourceMap::single("retention.toml", text);
    let decl = pledge_core::load(&sources).unwrap();
    let config = Config {
        connections: vec![("APP_DATABASE_URL".into(), app_db.clone())],
        retain_schedule: Some("0 3 * * *".parse().unwrap()),
        retain_batch_size: 1,
        workers: 0,
        ..Config::default()
    };
    let (_, admin) = store
        .create_key(Role::Admin, None, "test", 1)
        .await
        .unwrap();
    let (_, support) = store
        .create_key(Role::SupportAgent, None, "test", 1)
        .await
        .unwrap();
    Replicas {
        a: AppState::new(store.clone(), decl.clone(), config.clone()),
        b: AppState::new(store, decl, config),
        app_db,
        admin,
        support,
        dir,
    }
}

async fn get(state: &AppState, path: &str, key: &str) -> (StatusCode, Json) {
    let req = Request::builder()
        .method(Method::GET)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {key}"))
        .body(Body::empty())
        .unwrap();
    let response = router(state.clone()).oneshot(req).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Json::String(String::from_utf8_lossy(&bytes).into_owned()));
    (status, body)
}

async fn count(url: &str, sql: &str) -> Vec<Vec<Value>> {
    let mut db = Database::connect(None, url).await.unwrap();
    let rows = db.query(sql).await.unwrap();
    db.close().await;
    rows
}

/// (table, examined, deleted, anonymised) per table of a run's first dataset.
fn counts(run: &Json) -> Vec<(String, u64, u64, u64)> {
    run["datasets"][0]["tables"]
        .as_array()
        .unwrap_or_else(|| panic!("no tables in {run}"))
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

async fn suite(name: &str, store: Store) {
    let r = replicas(name, store).await;
    let (_stop, stop_rx) = tokio::sync::watch::channel(false);
    let fire = 1_795_000_000 - 1_795_000_000 % 86_400 + 3 * 3600;
    // Both replicas wake for the same fire time: one runs it.
    let (ra, rb) = tokio::join!(
        schedule::run_once(&r.a, Task::Retention, "replica-a", fire, &stop_rx),
        schedule::run_once(&r.b, Task::Retention, "replica-b", fire, &stop_rx),
    );
    let reports: Vec<Json> = [ra.unwrap(), rb.unwrap()].into_iter().flatten().collect();
    assert_eq!(reports.len(), 1, "{reports:?}");
    let expected = vec![
        ("audit_log".to_string(), 0, 0, 0),
        ("sessions".to_string(), 2, 1, 1),
        ("accounts".to_string(), 1, 0, 1),
    ];
    assert_eq!(counts(&reports[0]), expected);
    assert_eq!(
        count(&r.app_db, "SELECT COUNT(*) FROM sessions").await,
        vec![vec![Value::Int(2)]]
    );
    // The run through the API, with its report; staff only.
    let (s, runs) = get(&r.a, "/v1/retention/runs", &r.admin).await;
    assert_eq!(s, StatusCode::OK, "{runs}");
    assert_eq!(runs["schedule"], "0 3 * * *");
    let listed = runs["runs"].as_array().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(counts(&listed[0]), expected);
    assert!(
        listed[0]["runner"]
            .as_str()
            .unwrap()
            .starts_with("replica-")
    );
    assert_eq!(listed[0]["datasets"][0]["committed"], true);
    let held = &listed[0]["datasets"][0]["tables"][1];
    assert_eq!(held["deleted_along"][0]["table"], "session_events");
    let (s, _) = get(&r.a, "/v1/retention/runs", &r.support).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, bad) = get(&r.a, "/v1/retention/runs?limit=x", &r.admin).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}");
    // The next fire time: nothing left to do, and recorded too.
    let next = schedule::run_once(&r.b, Task::Retention, "replica-b", fire + 86_400, &stop_rx)
        .await
        .unwrap()
        .unwrap();
    assert!(
        counts(&next)
            .iter()
            .all(|(_, e, d, a)| (*e, *d, *a) == (0, 0, 0)),
        "{next}"
    );
    let (_, runs) = get(&r.a, "/v1/retention/runs?limit=1", &r.admin).await;
    assert_eq!(runs["runs"].as_array().unwrap().len(), 1);
    assert_eq!(runs["runs"][0]["runner"], "replica-b");
    // Metrics count the runs of each process.
    let (_, metrics) = get(&r.a, "/metrics", &r.admin).await;
    let metrics = metrics.as_str().unwrap().to_string();
    let (_, metrics_b) = get(&r.b, "/metrics", &r.admin).await;
    let metrics_b = metrics_b.as_str().unwrap().to_string();
    let runs_total = |m: &str| {
        m.lines()
            .find_map(|l| l.strip_prefix("pledge_retention_runs_total "))
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap()
    };
    assert_eq!(runs_total(&metrics) + runs_total(&metrics_b), 2);
    // Maintenance runs under its own lease and is listed.
    let m = schedule::run_once(&r.a, Task::Maintenance, "replica-a", fire, &stop_rx)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(m["exports_deleted"], 0, "{m}");
    let (_, runs) = get(&r.a, "/v1/maintenance/runs", &r.admin).await;
    assert_eq!(runs["runs"].as_array().unwrap().len(), 1);
    // A broken dataset is named in the report and the run is still recorded.
    let mut broken = (*r.a.config).clone();
    broken.connections = vec![(
        "APP_DATABASE_URL".into(),
        format!("sqlite:{}", r.dir.join("missing/app.db").display()),
    )];
    let broken = AppState::new(r.a.store.clone(), (*r.a.decl).clone(), broken);
    let failed = schedule::run_once(
        &broken,
        Task::Retention,
        "replica-c",
        fire + 2 * 86_400,
        &stop_rx,
    )
    .await
    .unwrap()
    .unwrap();
    assert!(
        failed["datasets"][0]["error"].as_str().is_some(),
        "{failed}"
    );
    let (_, verify) = get(&r.a, "/v1/audit/verify", &r.admin).await;
    assert_eq!(verify["intact"], true);
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_store() {
    let dir = std::env::temp_dir().join(format!("pledge-tasks-store-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let store = Store::open(&format!("sqlite:{}", dir.join("store.db").display()))
        .await
        .unwrap();
    suite("sqlite", store).await;
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_store() {
    let Some(url) =
        pledge_testkit::require!(pledge_testkit::POSTGRES_URL, pledge_testkit::postgres_url())
    else {
        return;
    };
    let database = pledge_testkit::postgres_database(&url, "pledge_tasks").await;
    suite("postgres", Store::open(&database).await.unwrap()).await;
}

#[test]
fn the_openapi_document_lists_the_new_endpoints() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = Store::open("sqlite::memory:").await.unwrap();
        let r = replicas("openapi", store).await;
        let (s, doc) = get(&r.a, "/v1/openapi.json", &r.admin).await;
        assert_eq!(s, StatusCode::OK);
        for path in [
            "/v1/retention/runs",
            "/v1/maintenance/runs",
            "/v1/requests/{id}/export/link",
            "/public/exports/{token}",
        ] {
            assert!(doc["paths"].get(path).is_some(), "{path} missing");
        }
    });
}
