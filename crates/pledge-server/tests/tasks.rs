//! Scheduled tasks on a SQLite store (always) and a PostgreSQL store (the server that
//! scripts/test.sh starts): two replicas wake for the same fire time of the retention sweep
//! and one runs it against a real SQLite application database; the run and its per-table
//! report are in the audit log and the API; maintenance expires what it should.

use axum::http::{Method, StatusCode};
use pledge_connect::Database;
use pledge_plan::Value;
use pledge_server::jobs::schedule::{self, Task};
use pledge_server::{AppState, Clock, Config};
use pledge_store::{Role, Store};
use serde_json::Value as Json;
use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use std::time::Duration;

mod common;
use common::TestApp;

const DECLARATION: &str = "../pledge-plan/tests/plans/retention.toml";

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

/// Two replicas on one store: `a` is the harness's server (no worker: the tests run the
/// tasks), `b` a second state on the same store and configuration.
struct Replicas {
    a: TestApp,
    b: AppState,
    app_db: String,
}

impl std::ops::Deref for Replicas {
    type Target = TestApp;
    fn deref(&self) -> &TestApp {
        &self.a
    }
}

impl Replicas {
    async fn get(&self, state: &AppState, path: &str, role: Role) -> (StatusCode, Json) {
        let app = pledge_server::router(state.clone());
        let req = axum::http::Request::builder()
            .method(Method::GET)
            .uri(path)
            .header(
                axum::http::header::AUTHORIZATION,
                format!("Bearer {}", self.a.key(role)),
            )
            .body(axum::body::Body::empty())
            .unwrap();
        let response = tower::ServiceExt::oneshot(app, req).await.unwrap();
        let status = response.status();
        let bytes = http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap()
            .to_bytes();
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Json::String(String::from_utf8_lossy(&bytes).into_owned()));
        (status, body)
    }

    /// A GET on replica `a` as an admin.
    async fn admin(&self, path: &str) -> (StatusCode, Json) {
        self.get(&self.a.state, path, Role::Admin).await
    }
}

async fn replicas(name: &str, store: Store) -> Replicas {
    let a = TestApp::builder(&format!("tasks-{name}"))
        .store(store)
        .declaration_file(DECLARATION)
        .sqlite_dataset("APP_DATABASE_URL", "app.db", APP)
        .keys(&[Role::Admin, Role::SupportAgent])
        .config(Config {
            retain_schedule: Some("0 3 * * *".parse().unwrap()),
            retain_batch_size: 1,
            workers: 0,
            ..Config::default()
        })
        .without_worker()
        .spawn()
        .await;
    let b = AppState::new(
        a.state.store.clone(),
        (*a.state.decl).clone(),
        (*a.state.config).clone(),
    );
    let app_db = a.dataset_url("APP_DATABASE_URL");
    Replicas { a, b, app_db }
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

const FIRE: i64 = 1_795_000_000 - 1_795_000_000 % 86_400 + 3 * 3600;

fn expected() -> Vec<(String, u64, u64, u64)> {
    vec![
        ("audit_log".to_string(), 0, 0, 0),
        ("sessions".to_string(), 2, 1, 1),
        ("accounts".to_string(), 1, 0, 1),
    ]
}

/// Runs `task` for the fire time `fire` on `state` as `owner`: the report it recorded.
async fn run_task(state: &AppState, task: Task, owner: &str, fire: i64) -> Json {
    let (_stop, stop_rx) = tokio::sync::watch::channel(false);
    schedule::run_once(state, task, owner, fire, &stop_rx)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("{owner} did not get the lease of {fire}"))
}

/// Both replicas wake for the same fire time: one runs it.
async fn two_replicas_wake_and_one_runs(r: Replicas) {
    let (_stop, stop_rx) = tokio::sync::watch::channel(false);
    let (ra, rb) = tokio::join!(
        schedule::run_once(&r.a.state, Task::Retention, "replica-a", FIRE, &stop_rx),
        schedule::run_once(&r.b, Task::Retention, "replica-b", FIRE, &stop_rx),
    );
    let reports: Vec<Json> = [ra.unwrap(), rb.unwrap()].into_iter().flatten().collect();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(counts(&reports[0]), expected());
    assert_eq!(
        count(&r.app_db, "SELECT COUNT(*) FROM sessions").await,
        vec![vec![Value::Int(2)]]
    );
}

/// The run through the API, with its report; staff only.
async fn the_run_is_listed_for_staff_only(r: Replicas) {
    run_task(&r.b, Task::Retention, "replica-b", FIRE).await;
    let (s, runs) = r.admin("/v1/retention/runs").await;
    assert_eq!(s, StatusCode::OK, "{runs}");
    assert_eq!(runs["schedule"], "0 3 * * *");
    let listed = runs["runs"].as_array().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(counts(&listed[0]), expected());
    assert!(
        listed[0]["runner"]
            .as_str()
            .unwrap()
            .starts_with("replica-")
    );
    assert_eq!(listed[0]["datasets"][0]["committed"], true);
    let held = &listed[0]["datasets"][0]["tables"][1];
    assert_eq!(held["deleted_along"][0]["table"], "session_events");
    let (s, _) = r
        .get(&r.a.state, "/v1/retention/runs", Role::SupportAgent)
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, bad) = r.admin("/v1/retention/runs?limit=x").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}");
}

/// The next fire time: nothing left to do, and recorded too.
async fn the_next_fire_time_has_nothing_to_do_and_is_recorded(r: Replicas) {
    run_task(&r.a.state, Task::Retention, "replica-a", FIRE).await;
    let next = run_task(&r.b, Task::Retention, "replica-b", FIRE + 86_400).await;
    assert!(
        counts(&next)
            .iter()
            .all(|(_, e, d, a)| (*e, *d, *a) == (0, 0, 0)),
        "{next}"
    );
    let (_, runs) = r.admin("/v1/retention/runs?limit=1").await;
    assert_eq!(runs["runs"].as_array().unwrap().len(), 1);
    assert_eq!(runs["runs"][0]["runner"], "replica-b");
}

/// Metrics count the runs of each process.
async fn metrics_count_the_runs_of_each_process(r: Replicas) {
    run_task(&r.a.state, Task::Retention, "replica-a", FIRE).await;
    run_task(&r.b, Task::Retention, "replica-b", FIRE + 86_400).await;
    let (_, metrics) = r.admin("/metrics").await;
    let metrics = metrics.as_str().unwrap().to_string();
    let (_, metrics_b) = r.get(&r.b, "/metrics", Role::Admin).await;
    let metrics_b = metrics_b.as_str().unwrap().to_string();
    let runs_total = |m: &str| {
        m.lines()
            .find_map(|l| l.strip_prefix("pledge_retention_runs_total "))
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap()
    };
    assert_eq!(runs_total(&metrics) + runs_total(&metrics_b), 2);
}

/// Maintenance runs under its own lease and is listed.
async fn maintenance_runs_under_its_own_lease(r: Replicas) {
    run_task(&r.a.state, Task::Retention, "replica-a", FIRE).await;
    let m = run_task(&r.a.state, Task::Maintenance, "replica-a", FIRE).await;
    assert_eq!(m["exports_deleted"], 0, "{m}");
    let (_, runs) = r.admin("/v1/maintenance/runs").await;
    assert_eq!(runs["runs"].as_array().unwrap().len(), 1);
}

/// A broken dataset is named in the report and the run is still recorded.
async fn a_broken_dataset_is_named_and_the_run_recorded(r: Replicas) {
    let mut broken = (*r.a.state.config).clone();
    broken.connections = vec![(
        "APP_DATABASE_URL".into(),
        format!("sqlite:{}", r.a.dir.join("missing/app.db").display()),
    )];
    let broken = AppState::new(r.a.state.store.clone(), (*r.a.state.decl).clone(), broken);
    let failed = run_task(&broken, Task::Retention, "replica-c", FIRE).await;
    assert!(
        failed["datasets"][0]["error"].as_str().is_some(),
        "{failed}"
    );
    let (_, verify) = r.admin("/v1/audit/verify").await;
    assert_eq!(verify["intact"], true);
}

/// The deleted count the progress or record of a run gives for `table` of its first
/// dataset (0 if the table has not started).
fn deleted(run: &Json, table: &str) -> u64 {
    run["datasets"][0]["tables"]
        .as_array()
        .and_then(|ts| ts.iter().find(|t| t["table"] == table))
        .and_then(|t| t["deleted"].as_u64())
        .unwrap_or(0)
}

/// Starts the sweep of `fire` as `owner` and kills it (drops it between two awaits, as a
/// SIGKILL would stop it: nothing after that point runs) once its progress in the store
/// shows `at_least` sessions deleted.
async fn kill_mid_sweep(state: &AppState, owner: &'static str, fire: i64, at_least: u64) {
    let (_stop, stop_rx) = tokio::sync::watch::channel(false);
    let run = tokio::spawn({
        let state = state.clone();
        async move { schedule::run_once(&state, Task::Retention, owner, fire, &stop_rx).await }
    });
    // The sweep announces each batch it recorded: look at its progress then.
    pledge_testkit::until(
        &format!("{owner}'s sweep records {at_least} sessions deleted"),
        Duration::from_secs(60),
        state.progress(),
        || async {
            let progress = state.store.task_progress("retention").await.unwrap();
            if progress.is_some_and(|p| p["runner"] == owner && deleted(&p, "sessions") >= at_least)
            {
                return Some(());
            }
            assert!(!run.is_finished(), "the sweep ended before it was killed");
            None
        },
    )
    .await;
    run.abort();
    assert!(run.await.unwrap_err().is_cancelled());
}

/// Issue 12: a scheduled sweep killed between batches left no run record of the rows it had
/// deleted. Now the run's progress is in the store after every batch: a replica that starts
/// (or the runner of the next fire time) records the dead run as interrupted, with its
/// counts, and the next run goes on where it stopped.
async fn a_killed_sweep_leaves_a_record_of_what_it_deleted(r: Replicas) {
    // 30 more sessions expired long ago, referenced by nothing: 31 are deleted in all
    // (session 1 with its event; session 2 is referenced, so it is anonymised).
    let mut db = Database::connect(None, &r.app_db).await.unwrap();
    let more: Vec<String> = (100..130)
        .map(|i| {
            format!("({i}, 2, '2000-01-03 00:00:00', '2000-01-01 00:00:00', '10.0.1.1', 'ua')")
        })
        .collect();
    db.batch(&format!("INSERT INTO sessions VALUES {};", more.join(", ")))
        .await
        .unwrap();
    db.close().await;
    let sessions = || async {
        match count(&r.app_db, "SELECT COUNT(*) FROM sessions").await[0][0] {
            Value::Int(n) => u64::try_from(n).unwrap(),
            ref v => panic!("{v:?}"),
        }
    };
    assert_eq!(sessions().await, 33);
    let mut config = (*r.a.state.config).clone();
    config.lease_secs = 1;
    config.pause_after_batch = Some(Duration::from_millis(300));
    let paused = AppState::new(
        r.a.state.store.clone(),
        (*r.a.state.decl).clone(),
        config.clone(),
    );
    config.pause_after_batch = None;
    let plain = AppState::new(r.a.state.store.clone(), (*r.a.state.decl).clone(), config);
    let fire = 1_795_000_000 - 1_795_000_000 % 86_400 + 3 * 3600;

    kill_mid_sweep(&paused, "replica-a", fire, 3).await;
    let deleted_by_a = 33 - sessions().await;
    assert!(deleted_by_a >= 3, "{deleted_by_a}");
    let (_, runs) = r.admin("/v1/retention/runs").await;
    assert_eq!(
        runs["runs"],
        Json::Array(vec![]),
        "nothing recorded yet: {runs}"
    );
    // A replica starts while the dead runner's lease is still live: it waits for the lease
    // to expire, then records the run.
    let (_stop, stop_rx) = tokio::sync::watch::channel(false);
    let recorded = schedule::recover(plain.clone(), Task::Retention, "replica-b".into(), stop_rx)
        .await
        .expect("the interrupted run is recorded");
    assert_eq!(recorded["interrupted"], true, "{recorded}");
    let (_, runs) = r.admin("/v1/retention/runs").await;
    let listed = runs["runs"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{runs}");
    let a = &listed[0];
    assert_eq!(a["interrupted"], true, "{a}");
    assert_eq!(a["runner"], "replica-a", "{a}");
    assert_eq!(a["recorded_by"], "replica-b", "{a}");
    assert_eq!(a["batch_size"], 1, "{a}");
    // Every batch it recorded, and at most the one batch in flight more.
    let recorded_a = deleted(a, "sessions");
    assert!(
        recorded_a <= deleted_by_a && deleted_by_a <= recorded_a + 1,
        "recorded {recorded_a}, deleted {deleted_by_a}: {a}"
    );
    assert_eq!(a["in_flight"]["table"], "sessions", "{a}");
    assert_eq!(a["in_flight"]["at_most_rows"], 1, "{a}");
    assert!(a["progress_at"].is_string(), "{a}");
    assert_eq!(a["datasets"][0]["dataset"], "app", "{a}");
    // Nothing left to recover.
    let (_stop, stop_rx) = tokio::sync::watch::channel(false);
    assert!(
        schedule::recover(plain.clone(), Task::Retention, "replica-b".into(), stop_rx)
            .await
            .is_none()
    );

    // The next fire time goes on where it stopped; killed too, its run is recorded by the
    // runner of the fire time after, when it takes the expired lease, before it sweeps.
    kill_mid_sweep(&paused, "replica-b", fire + 86_400, 2).await;
    let deleted_by_b = 33 - deleted_by_a - sessions().await;
    // The runner of the fire time after comes once the dead runner's lease (1 s) has
    // expired: its clock is past it, rather than the test waiting for the wall clock.
    let mut later = (*plain.config).clone();
    later.clock = Clock::manual(Arc::new(AtomicI64::new(
        Clock::system().now() + later.lease_secs + 1,
    )));
    let later = AppState::new(plain.store.clone(), (*plain.decl).clone(), later);
    let (_stop, stop_rx) = tokio::sync::watch::channel(false);
    let c = schedule::run_once(
        &later,
        Task::Retention,
        "replica-c",
        fire + 2 * 86_400,
        &stop_rx,
    )
    .await
    .unwrap()
    .expect("the lease expired");
    assert_eq!(sessions().await, 2);
    let (_, runs) = r.admin("/v1/retention/runs").await;
    let listed = runs["runs"].as_array().unwrap();
    assert_eq!(listed.len(), 3, "{runs}");
    assert_eq!(listed[0]["runner"], "replica-c");
    assert!(listed[0].get("interrupted").is_none(), "{}", listed[0]);
    assert_eq!(listed[1]["runner"], "replica-b");
    assert_eq!(listed[1]["interrupted"], true);
    assert_eq!(listed[1]["recorded_by"], "replica-c");
    let recorded_b = deleted(&listed[1], "sessions");
    assert!(
        recorded_b <= deleted_by_b && deleted_by_b <= recorded_b + 1,
        "{}",
        listed[1]
    );
    let recorded_c = deleted(&c, "sessions");
    assert_eq!(recorded_c, 31 - deleted_by_a - deleted_by_b, "{c}");
    let total = recorded_a + recorded_b + recorded_c;
    assert!((29..=31).contains(&total), "{total}");
    assert_eq!(
        r.a.state.store.task_progress("retention").await.unwrap(),
        None
    );
    let (_, verify) = r.admin("/v1/audit/verify").await;
    assert_eq!(verify["intact"], true);
}

/// Runs one scenario on two fresh replicas on a store of `backend`.
async fn run(
    backend: pledge_testkit::StoreBackend,
    test: &str,
    scenario: impl FnOnce(Replicas) -> pledge_testkit::Scenario<'static>,
) {
    let Some(store) = common::store(backend, test).await else {
        return;
    };
    scenario(replicas(&test.replace("::", "-"), store).await).await;
}

pledge_testkit::scenarios!(run;
    two_replicas_wake_and_one_runs,
    the_run_is_listed_for_staff_only,
    the_next_fire_time_has_nothing_to_do_and_is_recorded,
    metrics_count_the_runs_of_each_process,
    maintenance_runs_under_its_own_lease,
    a_broken_dataset_is_named_and_the_run_recorded,
    a_killed_sweep_leaves_a_record_of_what_it_deleted,
);

#[test]
fn the_openapi_document_lists_the_new_endpoints() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = Store::open("sqlite::memory:").await.unwrap();
        let r = replicas("openapi", store).await;
        let (s, doc) = r.admin("/v1/openapi.json").await;
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
