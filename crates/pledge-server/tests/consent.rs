//! The consent and decision API on a SQLite store (always) and a PostgreSQL store (the server
//! scripts/test.sh starts): recording with receipts, GPC, links, decisions single and batch,
//! roles, bad input that writes nothing, a restart that reloads the index, and a second
//! replica that follows the ledger.

use axum::http::{Method, StatusCode};
use pledge_domain::consent::{Query, Target};
use pledge_server::Config;
use pledge_store::{Role, Store};
use serde_json::{Value as Json, json};
use std::time::Duration;

mod common;
use common::TestApp;

const DECLARATION: &str = r#"
[policy]
effective_date = "2026-03-01"

[controller]
name = "Larkspur Shop"
email = "privacy@larkspur.example"

[ccpa]
shared = ["online.cookie_id"]
honours_gpc = true

[cookie_consent]
mechanism = "opt_in"
reject_all = true
reask_after = "P13M"
honours_gpc = true

[[purposes]]
id = "orders"
name = "Delivering orders"
categories = ["identity.name", "contact"]
legal_bases = ["contract"]

[[purposes]]
id = "newsletter"
name = "Newsletter"
categories = ["contact.email"]
legal_bases = [{ basis = "consent", withdrawal = "the link in every issue" }]
direct_marketing = true
consent_expires_after = "P2Y"

[[purposes]]
id = "ads"
name = "Targeted advertising"
categories = ["online.cookie_id"]
legal_bases = ["consent"]

[[cookies]]
name = "session"
category = "strictly_necessary"

[[cookies]]
name = "_stats"
category = "analytics"

[[cookies]]
name = "_adid"
category = "advertising"
purpose = "ads"
"#;

/// The server of one test: the harness's (no worker), with the consent API's calls.
struct Env(TestApp);

impl std::ops::Deref for Env {
    type Target = TestApp;
    fn deref(&self) -> &TestApp {
        &self.0
    }
}

async fn env(name: &str, store: Store) -> Env {
    let app = TestApp::builder(&format!("consent-{name}"))
        .store(store)
        .declaration("shop.toml", DECLARATION)
        .keys(&[Role::Admin, Role::Service, Role::SupportAgent])
        .config(Config {
            workers: 0,
            ..Config::default()
        })
        .without_worker()
        .spawn()
        .await;
    Env(app)
}

impl Env {
    async fn call(
        &self,
        method: Method,
        path: &str,
        key: Option<Role>,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> (StatusCode, Json) {
        let mut req = axum::http::Request::builder().method(method).uri(path);
        if let Some(role) = key {
            req = req.header(
                axum::http::header::AUTHORIZATION,
                format!("Bearer {}", self.key(role)),
            );
        }
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        // The body as given, byte for byte: bad JSON is a case.
        let req = match body {
            Some(b) => req
                .header(axum::http::header::CONTENT_TYPE, "application/json")
                .body(axum::body::Body::from(b.to_string())),
            None => req.body(axum::body::Body::empty()),
        }
        .unwrap();
        let r = self.send(req).await;
        (r.status, r.json())
    }
    async fn post(&self, path: &str, body: Json) -> (StatusCode, Json) {
        self.call(
            Method::POST,
            path,
            Some(Role::Service),
            &[],
            Some(&body.to_string()),
        )
        .await
    }

    async fn decide(&self, subject: &str, purpose: &str) -> Json {
        let (s, j) = self
            .post(
                "/v1/decisions",
                json!({"subject": subject, "purpose": purpose}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{j}");
        j
    }

    async fn ledger_len(&self) -> u64 {
        self.state.store.verify_consent().await.unwrap().records
    }
}

/// The ledger's first steps, with their assertions, in the order the scenarios build on.
async fn record(e: &Env) {
    // Recording: one receipt per choice, evidence truncated.
    let (s, j) = e
        .post(
            "/v1/consent",
            json!({
                "subject": "user-1",
                "method": "form",
                "notice_version": "2026-03",
                "text_hash": "0".repeat(64),
                "ip": "203.0.113.77",
                "user_agent": "Firefox",
                "choices": [
                    {"purpose": "newsletter", "state": "given"},
                    {"cookie_category": "analytics", "state": "refused"},
                ],
            }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{j}");
    let receipts = j["receipts"].as_array().unwrap();
    assert_eq!(receipts.len(), 2);
    let doc = &receipts[0]["document"];
    assert_eq!(doc["consent_status"], "dpv:ConsentGiven");
    assert_eq!(doc["evidence"]["ip_truncated"], "203.0.113.0/24");
    assert_eq!(doc["processing"]["purpose"], "newsletter");
    assert!(doc["expires_at"].as_str().is_some());
    assert_eq!(
        receipts[1]["document"]["consent_status"],
        "dpv:ConsentRefused"
    );

    // The caller reads its own write at once.
    let d = e.decide("user-1", "newsletter").await;
    assert_eq!(d["allow"], true, "{d}");
    assert_eq!(d["reason"]["code"], "consent_given");
    assert_eq!(d["basis"], "consent");
}

async fn gpc(e: &Env) {
    // GPC: exactly "1" records an opt-out; anything else does not.
    for (value, opted_out) in [("0", false), (" 1", false), ("true", false), ("1", true)] {
        let (s, j) = e
            .call(
                Method::POST,
                "/v1/consent",
                Some(Role::Service),
                &[("sec-gpc", value)],
                Some(
                    &json!({"subject": "visitor-9", "method": "banner",
                        "choices": [{"purpose": "ads", "state": "given"}]})
                    .to_string(),
                ),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{j}");
        assert_eq!(
            j["receipts"].as_array().unwrap().len(),
            if opted_out { 2 } else { 1 },
            "Sec-GPC: {value:?}"
        );
        let d = e.decide("visitor-9", "ads").await;
        assert_eq!(d["allow"], !opted_out, "Sec-GPC: {value:?}: {d}");
    }
    assert_eq!(
        e.decide("visitor-9", "ads").await["reason"]["code"],
        "opt_out"
    );
}

async fn link(e: &Env) {
    // Linking: the visitor's opt-out and consent now belong to user-1.
    let (s, j) = e
        .post(
            "/v1/subjects/user-1/link",
            json!({"anonymous": "visitor-9"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{j}");
    assert_eq!(e.decide("user-1", "ads").await["reason"]["code"], "opt_out");
    let (s, j) = e
        .post("/v1/subjects/user-1/link", json!({"anonymous": "user-1"}))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{j}");
}

async fn withdraw(e: &Env) {
    let user: pledge_lang::types::SubjectRef = "user-1".parse().unwrap();
    // Withdrawing everything (what a withdraw-consent request will call).
    let receipts = e
        .state
        .consent
        .withdraw_all(&user, pledge_domain::consent::Method::RightsRequest, "test")
        .await
        .unwrap();
    assert_eq!(receipts.len(), 2); // newsletter and ads were given
    assert_eq!(
        e.decide("user-1", "newsletter").await["reason"]["code"],
        "consent_withdrawn"
    );
}

/// What a restart and a second replica are checked against: every step that writes.
async fn the_whole_ledger(e: &Env) {
    record(e).await;
    gpc(e).await;
    link(e).await;
    withdraw(e).await;
}

async fn nothing_recorded_means_consent_missing(e: &Env) {
    // Nothing recorded: consent is missing, a contract needs none.
    let d = e.decide("user-1", "newsletter").await;
    assert_eq!(
        (d["allow"].clone(), d["reason"]["code"].clone()),
        (json!(false), json!("consent_missing"))
    );
    assert_eq!(e.decide("user-1", "orders").await["allow"], true);
}

async fn recording_gives_a_receipt_per_choice_read_at_once(e: &Env) {
    record(e).await;
}

async fn gpc_exactly_1_records_an_opt_out(e: &Env) {
    gpc(e).await;
}

async fn linking_moves_a_visitors_choices_to_the_subject(e: &Env) {
    gpc(e).await;
    link(e).await;
}

async fn the_batch_answers_in_order(e: &Env) {
    record(e).await;
    // The batch answers in order.
    let (s, j) = e
        .post(
            "/v1/decisions/batch",
            json!({"decisions": [
                {"subject": "user-1", "purpose": "newsletter", "categories": ["contact.email"]},
                {"subject": "user-1", "purpose": "newsletter", "categories": ["financial.card"]},
                {"subject": "user-1", "purpose": "resale"},
                {"subject": "user-1", "cookie_category": "strictly_necessary"},
                {"subject": "user-1", "cookie_category": "analytics"},
            ]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{j}");
    let codes: Vec<&str> = j["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["reason"]["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        [
            "consent_given",
            "category_not_declared",
            "not_declared",
            "exempt",
            "consent_refused"
        ]
    );
}

async fn the_library_call_gives_the_same_answer(e: &Env) {
    record(e).await;
    let user: pledge_lang::types::SubjectRef = "user-1".parse().unwrap();
    // The library call gives the same answer as the API.
    let q = Query {
        target: Target::Purpose("newsletter".parse().unwrap()),
        categories: vec![],
    };
    assert!(e.state.consent.decide(&user, &q).allow);
}

async fn state_and_history_are_for_staff_and_audited(e: &Env) {
    record(e).await;
    gpc(e).await;
    link(e).await;
    // State and history, for staff only; the read is audited.
    let (s, j) = e
        .call(
            Method::GET,
            "/v1/subjects/user-1/consent",
            Some(Role::Admin),
            &[],
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{j}");
    assert!(j["current"]["opted_out_since"].is_i64(), "{j}");
    let history = j["history"].as_array().unwrap();
    assert!(history.iter().any(|h| h["subject"] == "visitor-9"));
    assert!(history.iter().any(|h| h["kind"] == "link"));
    let audit = e.state.store.audit_records(0, 1000).await.unwrap();
    assert!(audit.iter().any(|r| r.action == "consent.read"));
}

async fn withdrawing_everything(e: &Env) {
    record(e).await;
    gpc(e).await;
    link(e).await;
    withdraw(e).await;
}

async fn public_gpc_statement_and_openapi(e: &Env) {
    // Public: the GPC statement, and the routes in the OpenAPI document.
    let (s, j) = e
        .call(Method::GET, "/.well-known/gpc.json", None, &[], None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(j, json!({"gpc": true, "lastUpdate": "2026-03-01"}));
    let (_, doc) = e
        .call(Method::GET, "/v1/openapi.json", None, &[], None)
        .await;
    for path in [
        "/v1/consent",
        "/v1/decisions",
        "/v1/decisions/batch",
        "/v1/subjects/{subject}/consent",
        "/v1/subjects/{subject}/link",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} missing");
    }
}

async fn the_ledger_verifies(e: &Env) {
    the_whole_ledger(e).await;
    let v = e.state.store.verify_consent().await.unwrap();
    assert_eq!(v.first_broken, None);
    let (s, j) = e
        .call(
            Method::GET,
            "/v1/audit/verify",
            Some(Role::Admin),
            &[],
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(j["consent_ledger"]["intact"], true, "{j}");
    assert_eq!(j["consent_ledger"]["records"], v.records);
}

async fn bad_input(e: &Env) {
    let before = e.ledger_len().await;
    let record =
        json!({"subject": "user-2", "choices": [{"purpose": "newsletter", "state": "given"}]});
    let cases: Vec<(Option<Role>, &str, String, StatusCode)> = vec![
        (None, "/v1/consent", record.to_string(), StatusCode::UNAUTHORIZED),
        (Some(Role::SupportAgent), "/v1/consent", record.to_string(), StatusCode::FORBIDDEN),
        (Some(Role::SupportAgent), "/v1/decisions", json!({"subject": "a", "purpose": "orders"}).to_string(), StatusCode::FORBIDDEN),
        (Some(Role::Service), "/v1/consent", "{not json".into(), StatusCode::BAD_REQUEST),
        (Some(Role::Service), "/v1/consent", json!({"subject": "user-2", "choices": [{"purpose": "resale", "state": "given"}]}).to_string(), StatusCode::UNPROCESSABLE_ENTITY),
        (Some(Role::Service), "/v1/consent", json!({"subject": "user-2", "choices": [{"cookie_category": "social_media", "state": "given"}]}).to_string(), StatusCode::UNPROCESSABLE_ENTITY),
        (Some(Role::Service), "/v1/consent", json!({"subject": "user-2", "choices": [{"purpose": "newsletter", "state": "maybe"}]}).to_string(), StatusCode::UNPROCESSABLE_ENTITY),
        (Some(Role::Service), "/v1/consent", json!({"subject": "user-2", "choices": [{"purpose": "newsletter", "state": "expired"}]}).to_string(), StatusCode::UNPROCESSABLE_ENTITY),
        (Some(Role::Service), "/v1/consent", json!({"subject": "user-2", "choices": [{"purpose": "newsletter", "cookie_category": "analytics", "state": "given"}]}).to_string(), StatusCode::UNPROCESSABLE_ENTITY),
        (Some(Role::Service), "/v1/consent", json!({"subject": "user 2", "choices": [{"purpose": "newsletter", "state": "given"}]}).to_string(), StatusCode::UNPROCESSABLE_ENTITY),
        (Some(Role::Service), "/v1/consent", json!({"subject": "user-2", "choices": []}).to_string(), StatusCode::UNPROCESSABLE_ENTITY),
        (Some(Role::Service), "/v1/consent", json!({"subject": "user-2", "method": "gpc", "choices": [{"purpose": "newsletter", "state": "given"}]}).to_string(), StatusCode::UNPROCESSABLE_ENTITY),
        (Some(Role::Service), "/v1/consent", json!({"subject": "user-2", "text_hash": "abc", "choices": [{"purpose": "newsletter", "state": "given"}]}).to_string(), StatusCode::UNPROCESSABLE_ENTITY),
        (Some(Role::Service), "/v1/consent", json!({"subject": "user-2", "ip": "my laptop", "choices": [{"purpose": "newsletter", "state": "given"}]}).to_string(), StatusCode::UNPROCESSABLE_ENTITY),
        (Some(Role::Service), "/v1/consent", json!({"subject": "user-2", "extra": 1, "choices": []}).to_string(), StatusCode::UNPROCESSABLE_ENTITY),
        (Some(Role::Service), "/v1/decisions", json!({"subject": "user-2"}).to_string(), StatusCode::UNPROCESSABLE_ENTITY),
        (Some(Role::Service), "/v1/decisions", json!({"subject": "user-2", "purpose": "Not An Id"}).to_string(), StatusCode::UNPROCESSABLE_ENTITY),
        (Some(Role::Service), "/v1/decisions", json!({"subject": "user-2", "cookie_category": "analytics", "categories": ["contact.email"]}).to_string(), StatusCode::UNPROCESSABLE_ENTITY),
        (Some(Role::Service), "/v1/decisions/batch", json!({"decisions": vec![json!({"subject": "a", "purpose": "orders"}); 1001]}).to_string(), StatusCode::UNPROCESSABLE_ENTITY),
        (Some(Role::Service), "/v1/decisions/batch", json!({"decisions": [{"subject": "a", "purpose": "orders"}, {"subject": "a"}]}).to_string(), StatusCode::UNPROCESSABLE_ENTITY),
    ];
    for (role, path, body, expected) in cases {
        let (s, j) = e.call(Method::POST, path, role, &[], Some(&body)).await;
        assert_eq!(s, expected, "{path} {body}: {j}");
        assert!(
            j["type"]
                .as_str()
                .unwrap()
                .starts_with("urn:pledge:problem:"),
            "{j}"
        );
    }
    assert_eq!(
        e.ledger_len().await,
        before,
        "a refused call wrote to the ledger"
    );
}

/// Runs one scenario on a fresh store of `backend`.
async fn run(
    backend: pledge_testkit::StoreBackend,
    test: &str,
    scenario: impl for<'a> FnOnce(&'a Env) -> pledge_testkit::Scenario<'a>,
) {
    let Some(store) = common::store(backend, test).await else {
        return;
    };
    scenario(&env(&test.replace("::", "-"), store).await).await;
}

pledge_testkit::scenarios!(run;
    nothing_recorded_means_consent_missing,
    recording_gives_a_receipt_per_choice_read_at_once,
    gpc_exactly_1_records_an_opt_out,
    linking_moves_a_visitors_choices_to_the_subject,
    the_batch_answers_in_order,
    the_library_call_gives_the_same_answer,
    state_and_history_are_for_staff_and_audited,
    withdrawing_everything,
    bad_input,
    public_gpc_statement_and_openapi,
    the_ledger_verifies,
);

/// A restart loads the index from the ledger: the same answers.
#[tokio::test(flavor = "multi_thread")]
async fn a_restart_reloads_the_index_sqlite() {
    let test = "consent::a_restart_reloads_the_index_sqlite";
    let url = pledge_testkit::store_url(pledge_testkit::StoreBackend::Sqlite, test)
        .await
        .unwrap();
    let e = env("restart", Store::open(&url).await.unwrap()).await;
    the_whole_ledger(&e).await;
    let before = e.decide("user-1", "ads").await;
    e.state.store.close().await;
    let again = env("restart-again", Store::open(&url).await.unwrap()).await;
    assert_eq!(again.decide("user-1", "ads").await, before);
    assert_eq!(again.decide("visitor-9", "ads").await, before);
    again.state.store.close().await;
}

/// Every decision of three subjects on three purposes.
async fn answers(e: &Env) -> Vec<Json> {
    let mut all = Vec::new();
    for subject in ["user-1", "visitor-9", "user-2"] {
        for purpose in ["ads", "newsletter", "orders"] {
            all.push(e.decide(subject, purpose).await);
        }
    }
    all
}

/// A restart reads the index's snapshot and applies only the events after it: the same
/// answers as the whole ledger gives. A snapshot the ledger no longer matches is not used.
#[tokio::test(flavor = "multi_thread")]
async fn a_restart_reads_the_snapshot_then_the_events_after_it_sqlite() {
    let test = "consent::a_restart_reads_the_snapshot_then_the_events_after_it_sqlite";
    let url = pledge_testkit::store_url(pledge_testkit::StoreBackend::Sqlite, test)
        .await
        .unwrap();
    let e = env("snapshot", Store::open(&url).await.unwrap()).await;
    record(&e).await;
    gpc(&e).await;
    assert!(e.state.consent.snapshot_if_due(true).await.unwrap());
    let taken = e.state.consent.snapshot_seq().await;
    assert!(taken > 0);
    // Nothing new: nothing written.
    assert!(!e.state.consent.snapshot_if_due(true).await.unwrap());
    link(&e).await;
    withdraw(&e).await;
    let before = answers(&e).await;
    e.state.store.close().await;

    let again = env("snapshot-again", Store::open(&url).await.unwrap()).await;
    assert_eq!(again.state.consent.snapshot_seq().await, taken);
    assert_eq!(answers(&again).await, before);
    again.state.store.close().await;

    // The snapshot no longer matches the ledger: the whole ledger is read, same answers.
    let store = Store::open(&url).await.unwrap();
    store
        .execute_raw("UPDATE consent_index_snapshot SET last_hash = 'not-the-hash'")
        .await
        .unwrap();
    let third = env("snapshot-third", store).await;
    assert_eq!(third.state.consent.snapshot_seq().await, 0);
    assert_eq!(answers(&third).await, before);
    third.state.store.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_replica_loads_the_ledger_and_follows_it_postgres() {
    let Some(url) =
        pledge_testkit::require!(pledge_testkit::POSTGRES_URL, pledge_testkit::postgres_url())
    else {
        return;
    };
    let database = pledge_testkit::postgres_database(&url, "pledge_consent").await;
    let store = Store::open(&database).await.unwrap();
    let e = env("replica-a", store.clone()).await;
    the_whole_ledger(&e).await;
    // A second replica on the same database: it loads what the first wrote, then follows.
    let replica = env("replica-b", store).await;
    assert_eq!(
        replica.decide("user-1", "newsletter").await["reason"]["code"],
        "consent_withdrawn"
    );
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let follower = tokio::spawn(
        replica
            .state
            .consent
            .clone()
            .follow(Duration::from_millis(20), stop_rx),
    );
    let (s, _) = e
        .post(
            "/v1/consent",
            json!({"subject": "user-1", "choices": [{"purpose": "newsletter", "state": "given"}]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let mut seen = false;
    for _ in 0..500 {
        if replica.decide("user-1", "newsletter").await["allow"] == true {
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        seen,
        "the replica never saw the consent given on the other one"
    );
    let _ = stop_tx.send(true);
    follower.await.unwrap();
}
