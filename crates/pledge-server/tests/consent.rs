//! The consent and decision API on a SQLite store (always) and a PostgreSQL store (the server
//! scripts/test.sh starts): recording with receipts, GPC, links, decisions single and batch,
//! roles, bad input that writes nothing, a restart that reloads the index, and a second
//! replica that follows the ledger.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use pledge_domain::consent::{Query, Target};
use pledge_lang::{SourceMap, load};
use pledge_server::{AppState, Config, router};
use pledge_store::{Role, Store};
use serde_json::{Value as Json, json};
use std::time::Duration;
use tower::ServiceExt;

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

struct Env {
    app: axum::Router,
    state: AppState,
    keys: Vec<(Role, String)>,
}

async fn env(store: Store) -> Env {
    let decl = load(&SourceMap::single("shop.toml", DECLARATION.to_string())).unwrap();
    let mut keys = Vec::new();
    for role in [Role::Admin, Role::Service, Role::SupportAgent] {
        let (_, secret) = store.create_key(role, None, "test", 1).await.unwrap();
        keys.push((role, secret));
    }
    let config = Config {
        workers: 0,
        ..Config::default()
    };
    let state = AppState::new(store, decl, config);
    state.consent.catch_up().await.unwrap();
    Env {
        app: router(state.clone()),
        state,
        keys,
    }
}

impl Env {
    fn key(&self, role: Role) -> &str {
        &self.keys.iter().find(|(r, _)| *r == role).unwrap().1
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        key: Option<Role>,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> (StatusCode, Json) {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(role) = key {
            req = req.header(header::AUTHORIZATION, format!("Bearer {}", self.key(role)));
        }
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let req = match body {
            Some(b) => req
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(b.to_string())),
            None => req.body(Body::empty()),
        }
        .unwrap();
        let response = self.app.clone().oneshot(req).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap_or(Json::Null))
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

async fn suite(e: &Env) {
    // Nothing recorded: consent is missing, a contract needs none.
    let d = e.decide("user-1", "newsletter").await;
    assert_eq!(
        (d["allow"].clone(), d["reason"]["code"].clone()),
        (json!(false), json!("consent_missing"))
    );
    assert_eq!(e.decide("user-1", "orders").await["allow"], true);

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

    // The library call gives the same answer as the API.
    let user: pledge_lang::types::SubjectRef = "user-1".parse().unwrap();
    let q = Query {
        target: Target::Purpose("newsletter".parse().unwrap()),
        categories: vec![],
    };
    assert!(e.state.consent.decide(&user, &q).allow);

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

    bad_input(e).await;

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

fn temp_sqlite(name: &str) -> (std::path::PathBuf, String) {
    let dir = std::env::temp_dir().join(format!("pledge-consent-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite:{}", dir.join("store.db").display());
    (dir, url)
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_store() {
    let (dir, url) = temp_sqlite("api");
    let e = env(Store::open(&url).await.unwrap()).await;
    suite(&e).await;
    // A restart loads the index from the ledger: the same answers.
    let before = e.decide("user-1", "ads").await;
    e.state.store.close().await;
    let again = env(Store::open(&url).await.unwrap()).await;
    assert_eq!(again.decide("user-1", "ads").await, before);
    assert_eq!(again.decide("visitor-9", "ads").await, before);
    again.state.store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// A fresh database inside the test PostgreSQL server.
async fn postgres_store(url: &str) -> Store {
    let database = pledge_testkit::postgres_database(url, "pledge_consent").await;
    Store::open(&database).await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_store_and_a_second_replica() {
    let Some(url) =
        pledge_testkit::require!(pledge_testkit::POSTGRES_URL, pledge_testkit::postgres_url())
    else {
        return;
    };
    let store = postgres_store(&url).await;
    let e = env(store.clone()).await;
    suite(&e).await;
    // A second replica on the same database: it loads what the first wrote, then follows.
    let replica = env(store).await;
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
