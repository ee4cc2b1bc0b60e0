//! Requests that end: each scenario reproduces a fault that used to leave a request in
//! progress for ever, against a real SQLite copy of Chinook and a real store, with a worker
//! running. Time moves only through the configured clock, so retries come when the test
//! turns it, not after a sleep.

use axum::http::{Method, StatusCode};
use pledge_connect::Database;
use pledge_plan::retry::Backoff;
use pledge_server::crypto::seal::{ExportKeys, MasterKey};
use pledge_server::{Clock, Config};
use pledge_store::{Role, Store};
use serde_json::{Value as Json, json};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

mod common;
use common::TestApp;

const LUIS: &str = "luisg@embraer.com.br";
const NOBODY: &str = "nobody-here@example.org";
const T0: i64 = 1_795_000_000;

/// The server of one test: the harness's, with its manual clock.
struct Env {
    app: TestApp,
    clock: Arc<AtomicI64>,
}

impl std::ops::Deref for Env {
    type Target = TestApp;
    fn deref(&self) -> &TestApp {
        &self.app
    }
}

async fn chinook_at(file: &Path) {
    common::chinook_at(file, "").await;
}

/// A server on a fresh store in its directory (or `store`), Chinook at `chinook.db` there
/// (created unless `create_chinook` is false: a database that is not there yet), one worker.
async fn env_with(name: &str, store: Option<Store>, create_chinook: bool, retry: Backoff) -> Env {
    env_at(name, store, create_chinook, retry, None).await
}

/// [`env_with`], with the dataset at `url` instead of the SQLite file.
async fn env_at(
    name: &str,
    store: Option<Store>,
    create_chinook: bool,
    retry: Backoff,
    url: Option<String>,
) -> Env {
    let clock = Arc::new(AtomicI64::new(T0));
    let mut builder = TestApp::builder(&format!("jobs-{name}"))
        .keys(&[Role::Admin])
        .config(Config {
            hmac_key: b"a-test-key-of-sixteen-bytes".to_vec(),
            poll: Duration::from_millis(10),
            export_keys: Some(ExportKeys::new(MasterKey::new([7; 32]), Vec::new())),
            retry,
            ..Config::default()
        })
        .clock(Clock::manual(clock.clone()));
    if let Some(store) = store {
        builder = builder.store(store);
    }
    builder = match url {
        Some(url) => builder.connection("CHINOOK_DATABASE_URL", url),
        None if create_chinook => builder.chinook(),
        None => builder.chinook_missing(),
    };
    Env {
        app: builder.spawn().await,
        clock,
    }
}

async fn env(name: &str) -> Env {
    env_with(name, None, true, Backoff::default()).await
}

impl Env {
    async fn call(&self, method: Method, path: &str, body: Option<Json>) -> (StatusCode, Json) {
        self.call_as(self.key(Role::Admin), method, path, body)
            .await
    }

    async fn call_as(
        &self,
        key: &str,
        method: Method,
        path: &str,
        body: Option<Json>,
    ) -> (StatusCode, Json) {
        let r = self
            .request(method, path, Some(key), body.as_ref(), &[])
            .await;
        (r.status, r.json())
    }

    async fn create(&self, body: Json) -> String {
        let (s, r) = self.call(Method::POST, "/v1/requests", Some(body)).await;
        assert_eq!(s, StatusCode::CREATED, "{r}");
        r["id"].as_str().unwrap().to_string()
    }

    async fn get(&self, id: &str) -> Json {
        self.call(Method::GET, &format!("/v1/requests/{id}"), None)
            .await
            .1
    }

    /// Waits (bounded) until `done` holds for the request, checking when a job ends.
    async fn request_until(&self, id: &str, what: &str, done: impl Fn(&Json) -> bool) -> Json {
        self.app
            .until(&format!("request {id}: {what}"), || async {
                let r = self.get(id).await;
                done(&r).then_some(r)
            })
            .await
    }

    async fn state_is(&self, id: &str, state: &str) -> Json {
        self.request_until(id, state, |r| r["state"] == state).await
    }

    /// Until the job went back to the queue after `attempts` failed attempts.
    async fn requeued(&self, id: &str, attempts: i64) -> Json {
        self.request_until(id, "re-queued", |r| {
            r["job"]["state"] == "queued" && r["job"]["attempts"] == attempts
        })
        .await
    }

    fn advance_to(&self, t: i64) {
        self.clock.fetch_max(t, Ordering::SeqCst);
    }

    async fn sql(&self, sql: &str) {
        let mut db = Database::connect(None, &self.chinook_url()).await.unwrap();
        db.batch(sql).await.unwrap();
        db.close().await;
    }

    /// The invariant: no request in progress without a job a worker will take.
    async fn no_orphans(&self) {
        assert_eq!(
            self.state.store.orphaned_requests().await.unwrap(),
            Vec::<String>::new()
        );
    }

    /// The completion message of a request, rendered as the mailer would send it.
    async fn completion_mail(&self, id: &str) -> pledge_server::jobs::mail::Rendered {
        let messages = self
            .state
            .store
            .claim_messages(100, 60, self.clock.load(Ordering::SeqCst))
            .await
            .unwrap();
        let m = messages
            .iter()
            .find(|m| {
                m.request_id.as_deref() == Some(id)
                    && m.event == pledge_store::notify::Event::Completed
            })
            .unwrap_or_else(|| panic!("no completion message for {id}: {messages:?}"));
        pledge_server::jobs::mail::render(
            m.event,
            &m.data,
            &pledge_server::jobs::mail::Context::of(&self.state),
        )
        .unwrap()
    }
}

fn rfc(t: &Json) -> i64 {
    t.as_str()
        .unwrap()
        .parse::<pledge_lang::time::CivilTime>()
        .unwrap()
        .to_unix()
}

/// Art. 15(1): someone the company holds nothing about is told so, with the
/// meta-information, instead of a request stuck in progress or denied.
#[tokio::test(flavor = "multi_thread")]
async fn an_access_request_for_nobody_completes_with_no_data_held() {
    let e = env("nobody").await;
    let id = e
        .create(json!({"kind": "access", "identities": {"email": NOBODY}}))
        .await;
    let done = e.state_is(&id, "completed").await;
    assert_eq!(done["result"]["no_data_held"], true, "{done}");
    assert_eq!(done["result"]["datasets"][0]["found"], false, "{done}");
    assert_eq!(done["status"]["dpv"], "dpv:RequestFulfilled");
    // The answer is an export: the statement and the Art. 15(1) information.
    let stored = e.state.store.export(&id, T0).await.unwrap().unwrap();
    let zip = e
        .state
        .config
        .export_keys
        .as_ref()
        .unwrap()
        .open(&stored)
        .unwrap();
    assert!(zip.starts_with(b"PK"));
    let mail = e.completion_mail(&id).await;
    assert!(
        mail.body.contains("hold no personal data about you"),
        "{}",
        mail.body
    );
    assert!(mail.body.contains("who receives it"), "{}", mail.body);
    assert!(!mail.body.contains("Your data is ready"), "{}", mail.body);
    // A rectification of nobody has nothing to change: completed the same way, never denied.
    let id = e
        .create(json!({"kind": "rectification", "identities": {"email": NOBODY}, "changes": {"city": "Porto"}}))
        .await;
    let done = e.state_is(&id, "completed").await;
    assert_eq!(done["result"]["no_data_held"], true, "{done}");
    assert!(done["denial_reason"].is_null());
    e.no_orphans().await;
}

/// A read with `?wait=` answers once the request is no longer in progress: one call gives
/// the completed request, without polling. A wait that is not a number is refused.
#[tokio::test(flavor = "multi_thread")]
async fn a_read_that_waits_answers_when_the_request_completed() {
    let e = env("wait").await;
    let id = e
        .create(json!({"kind": "access", "identities": {"email": NOBODY}}))
        .await;
    let (s, r) = e
        .call(Method::GET, &format!("/v1/requests/{id}?wait=20"), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["state"], "completed", "{r}");
    let (s, r) = e
        .call(Method::GET, &format!("/v1/requests/{id}?wait=soon"), None)
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{r}");
    e.no_orphans().await;
}

/// An identity that matches two customers is not retried five times and left in progress:
/// the request waits for staff with the reason, and runs once they fixed the data.
#[tokio::test(flavor = "multi_thread")]
async fn an_ambiguous_identity_needs_action_and_staff_retry_it_after_fixing() {
    let e = env("ambiguous").await;
    e.sql(&format!(
        "INSERT INTO customer (customer_id, first_name, last_name, email, support_rep_id) VALUES (1000, 'Twin', 'Doe', '{LUIS}', 3)"
    ))
    .await;
    let id = e
        .create(json!({"kind": "access", "identities": {"email": LUIS}}))
        .await;
    let stopped = e.state_is(&id, "needs_action").await;
    let reason = stopped["needs_action"]["reason"].as_str().unwrap();
    assert!(reason.contains("does not name one person"), "{stopped}");
    assert_eq!(stopped["job"]["state"], "failed");
    // Permanent: one attempt, no retries.
    assert_eq!(stopped["job"]["attempts"], 1);
    assert_eq!(stopped["status"]["dpv"], "dpv:RequestActionDelayed");
    let last = stopped["events"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        (last["from"].clone(), last["to"].clone()),
        (json!("in_progress"), json!("needs_action"))
    );
    assert_eq!(last["reason"], reason);
    // A support agent sees that it needs action, not the reason (it may quote a value).
    let (_, agent) = e
        .state
        .store
        .create_key(Role::SupportAgent, None, "test", 1)
        .await
        .unwrap();
    let (_, seen) = e
        .call_as(&agent, Method::GET, &format!("/v1/requests/{id}"), None)
        .await;
    assert_eq!(seen["state"], "needs_action");
    assert!(seen["needs_action"]["reason"].is_null(), "{seen}");
    assert!(seen["job"]["error"].is_null(), "{seen}");
    assert!(!seen.to_string().contains("one person"), "{seen}");
    e.no_orphans().await;
    // A completion by hand needs a note.
    let (s, _) = e
        .call(
            Method::POST,
            &format!("/v1/requests/{id}/complete"),
            Some(json!({"note": ""})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    // Staff fix the data and retry: it runs to completion.
    e.sql("DELETE FROM customer WHERE customer_id = 1000").await;
    let (s, r) = e
        .call(Method::POST, &format!("/v1/requests/{id}/retry"), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["state"], "in_progress");
    let done = e.state_is(&id, "completed").await;
    assert_eq!(done["result"]["datasets"][0]["found"], true, "{done}");
    assert!(done["result"].get("no_data_held").is_none(), "{done}");
    let (s, _) = e
        .call(Method::POST, &format!("/v1/requests/{id}/retry"), None)
        .await;
    assert_eq!(s, StatusCode::CONFLICT);

    // Or staff answer it by hand: completed with a note, and the person is told.
    e.sql(&format!(
        "INSERT INTO customer (customer_id, first_name, last_name, email, support_rep_id) VALUES (1001, 'Twin', 'Doe', '{LUIS}', 3)"
    ))
    .await;
    let id = e
        .create(json!({"kind": "erasure", "identities": {"email": LUIS}}))
        .await;
    e.state_is(&id, "needs_action").await;
    let (s, r) = e
        .call(
            Method::POST,
            &format!("/v1/requests/{id}/complete"),
            Some(json!({"note": "the two accounts were erased by hand after a call"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["state"], "completed");
    e.completion_mail(&id).await;
    e.no_orphans().await;
}

/// A database that is down: the job goes back to the queue with a growing delay and the
/// request says what it waits for; when the database is back, the next retry completes it.
#[tokio::test(flavor = "multi_thread")]
async fn a_database_that_is_down_is_retried_with_back_off_until_it_is_back() {
    let e = env_with("down", None, false, Backoff::default()).await;
    let id = e
        .create(json!({"kind": "access", "identities": {"email": LUIS}}))
        .await;
    let mut last_retry_at = 0;
    let mut last_delay = 0;
    for attempt in 1..=3 {
        let r = e.requeued(&id, attempt).await;
        assert_eq!(r["state"], "in_progress", "{r}");
        let waiting = r["job"]["waiting_for"].as_str().unwrap();
        assert!(
            waiting.starts_with("waiting for dataset `chinook`: cannot connect"),
            "{waiting}"
        );
        assert!(
            waiting.contains(&format!("retry {attempt} at")),
            "{waiting}"
        );
        let retry_at = rfc(&r["job"]["retry_at"]);
        let now = e.clock.load(Ordering::SeqCst);
        let delay = retry_at - now;
        // 5 s, 10 s, 20 s, each shortened by up to 20 %.
        let base = 5 << (attempt - 1);
        assert!(
            delay <= base && delay * 100 >= base * 80,
            "retry {attempt}: {delay} s"
        );
        assert!(delay >= last_delay, "the delays grow");
        last_delay = delay;
        e.no_orphans().await;
        // Not before its time.
        e.advance_to(retry_at - 1);
        let claimed = e
            .state
            .store
            .claim_job("probe", e.state.config.lease_secs, e.state.now())
            .await
            .unwrap();
        assert!(
            claimed.is_none(),
            "a job claimed before its time: {claimed:?}"
        );
        assert_eq!(e.get(&id).await["job"]["attempts"], attempt);
        last_retry_at = retry_at;
        if attempt < 3 {
            e.advance_to(retry_at);
        }
    }
    // The database comes back; the next retry completes the request.
    chinook_at(&e.chinook_file).await;
    e.advance_to(last_retry_at);
    let done = e.state_is(&id, "completed").await;
    assert_eq!(done["job"]["state"], "done");
    assert_eq!(done["job"]["attempts"], 4);
    assert!(done["job"]["retry_at"].is_null());
    e.no_orphans().await;
}

/// A fault that outlasts the retry budget ends in needs_action with the last reason, not in
/// progress for ever.
#[tokio::test(flavor = "multi_thread")]
async fn a_fault_that_outlasts_the_budget_needs_action() {
    let budget = Backoff {
        first_secs: 5,
        max_secs: 20,
        budget_secs: 60,
        jitter_percent: 0,
    };
    let e = env_with("budget", None, false, budget).await;
    let id = e
        .create(json!({"kind": "access", "identities": {"email": LUIS}}))
        .await;
    // 5, 10, 20, 20 s: the next would be past the minute.
    for attempt in 1..=4 {
        let r = e.requeued(&id, attempt).await;
        e.advance_to(rfc(&r["job"]["retry_at"]));
    }
    let stopped = e.state_is(&id, "needs_action").await;
    let reason = stopped["needs_action"]["reason"].as_str().unwrap();
    assert!(
        reason.starts_with(
            "gave up retrying after 5 attempts over 55 s: dataset `chinook`: cannot connect"
        ),
        "{reason}"
    );
    assert_eq!(stopped["job"]["state"], "failed");
    e.no_orphans().await;
    // Once it is back, staff retry with a fresh budget.
    chinook_at(&e.chinook_file).await;
    let (s, _) = e
        .call(Method::POST, &format!("/v1/requests/{id}/retry"), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    e.state_is(&id, "completed").await;
}

/// `/readyz` names what is broken: here the application database that is missing.
#[tokio::test(flavor = "multi_thread")]
async fn readyz_names_an_unreachable_dataset() {
    let e = env_with("readyz", None, false, Backoff::default()).await;
    let (s, body) = e.call(Method::GET, "/readyz", None).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["broken"], json!(["datasets"]), "{body}");
    assert_eq!(body["checks"]["datasets"]["chinook"]["ok"], false);
    assert_eq!(body["checks"]["store"]["ok"], true);
    assert_eq!(body["checks"]["workers"]["alive"], 1);
    chinook_at(&e.chinook_file).await;
    // The result is cached: it is checked again once it is old.
    e.advance_to(T0 + pledge_server::http::health::DATASET_CHECK_SECS);
    let (s, body) = e.call(Method::GET, "/readyz", None).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["ready"], true);
}

/// A SQLite store whose disk fills up: writes through the API fail with a clear 503 and
/// `/readyz` says the store is broken; once space is freed the same server writes again,
/// without a restart.
#[tokio::test(flavor = "multi_thread")]
async fn a_full_store_disk_fails_clearly_and_recovers_without_restart() {
    let disk = pledge_testkit::SmallDisk::mount("server-disk-full", "2M");
    let Some(disk) = pledge_testkit::require!("a mountable tmpfs", disk) else {
        return;
    };
    let store = Store::open(&format!("sqlite:{}", disk.dir.join("store.db").display()))
        .await
        .unwrap();
    let e = env_with("disk", Some(store), true, Backoff::default()).await;
    let (s, body) = e.call(Method::GET, "/readyz", None).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let filler = disk.fill();
    let intake = json!({"kind": "access", "identities": {"email": LUIS}});
    let (s, problem) = e
        .call(Method::POST, "/v1/requests", Some(intake.clone()))
        .await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains("full"),
        "{problem}"
    );
    let (s, body) = e.call(Method::GET, "/readyz", None).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(
        body["broken"].as_array().unwrap().contains(&json!("store")),
        "{body}"
    );
    assert_eq!(body["checks"]["store"]["retryable"], true);
    std::fs::remove_file(filler).unwrap();
    let (s, body) = e.call(Method::GET, "/readyz", None).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let id = e.create(intake).await;
    e.state_is(&id, "completed").await;
    e.no_orphans().await;
}

/// A PostgreSQL database behind a port where nothing listens yet: the job is re-queued
/// with back-off; once the port forwards to the real server, the next retry completes it.
#[tokio::test(flavor = "multi_thread")]
async fn a_postgres_database_on_a_closed_port_is_retried_until_it_answers() {
    let Some(server) =
        pledge_testkit::require!(pledge_testkit::POSTGRES_URL, pledge_testkit::postgres_url())
    else {
        return;
    };
    let real = pledge_testkit::postgres_database(&server, "pledge_jobs_down").await;
    let mut db = Database::connect(None, &real).await.unwrap();
    db.batch(&format!(
        "BEGIN;\n{}\nCOMMIT;",
        include_str!("../../pledge-connect/tests/fixtures/chinook/chinook_postgres.sql")
    ))
    .await
    .unwrap();
    db.close().await;
    // A free port, closed again: connections to it are refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (authority, rest) = {
        let after = real.split_once('@').unwrap().1;
        after.split_once('/').unwrap()
    };
    let behind = real.replacen(authority, &format!("127.0.0.1:{port}"), 1);
    assert!(behind.ends_with(rest));
    let e = env_at("pg-down", None, true, Backoff::default(), Some(behind)).await;
    let id = e
        .create(json!({"kind": "access", "identities": {"email": LUIS}}))
        .await;
    let r = e.requeued(&id, 1).await;
    let waiting = r["job"]["waiting_for"].as_str().unwrap();
    assert!(
        waiting.contains("cannot connect to the PostgreSQL database"),
        "{waiting}"
    );
    e.no_orphans().await;
    // The port opens: it forwards to the real server.
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let target = authority.to_string();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let target = target.clone();
            tokio::spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    e.advance_to(rfc(&r["job"]["retry_at"]));
    let done = e.state_is(&id, "completed").await;
    assert_eq!(done["result"]["datasets"][0]["found"], true, "{done}");
    assert_eq!(done["job"]["attempts"], 2);
    e.no_orphans().await;
}

/// Identities found on the person's row are not searched again in the dataset they were read
/// from: once two customers are erased, both rows carry the same masked e-mail ("erased"), and a
/// later request by customer id must still find one person and run (it failed as a conflict
/// of identities, and could not have been trusted to stay with one person).
#[tokio::test(flavor = "multi_thread")]
async fn a_request_after_erasures_finds_one_person_by_its_proved_identity() {
    let e = env("after-erasures").await;
    for customer in ["1", "2"] {
        let id = e
            .create(json!({"kind": "erasure", "identities": {"customer_id": customer}, "verified": true}))
            .await;
        e.state_is(&id, "completed").await;
    }
    let id = e
        .create(json!({"kind": "access", "identities": {"customer_id": "1"}, "verified": true}))
        .await;
    let done = e.state_is(&id, "completed").await;
    let steps = done["result"]["datasets"][0]["steps"].as_array().unwrap();
    let customer_rows = steps
        .iter()
        .find(|s| s["table"] == "customer" && s["action"] == "read")
        .unwrap();
    assert_eq!(customer_rows["rows"], 1, "{done}");
    e.no_orphans().await;
}
