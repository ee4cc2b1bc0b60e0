//! The API suite, on a SQLite store (always) and a PostgreSQL store (the server that
//! scripts/test.sh starts), against a private SQLite copy of Chinook: the request workflow
//! end to end, authorization of every role at every endpoint, and bad input.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use pledge_connect::Database;
use pledge_plan::Value;
use pledge_server::Config;
use pledge_server::crypto::seal::{ExportKeys, MasterKey};
use pledge_store::{Role, Store};
use serde_json::{Value as Json, json};
use std::time::Duration;
use tower::ServiceExt;

mod common;
use common::{TestApp, repo};

const LUIS: &str = "luisg@embraer.com.br";
const LEONIE: &str = "leonekohler@surfeu.de";

/// The server of one test: the harness's, with the calls these scenarios make.
struct Env(TestApp);

impl std::ops::Deref for Env {
    type Target = TestApp;
    fn deref(&self) -> &TestApp {
        &self.0
    }
}

impl Env {
    async fn call(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<&str>,
    ) -> (StatusCode, Option<String>, Json) {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(k) = key {
            req = req.header(header::AUTHORIZATION, format!("Bearer {k}"));
        }
        let req = match body {
            Some(b) => req
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(b.to_string())),
            None => req.body(Body::empty()),
        }
        .unwrap();
        let reply = self.send(req).await;
        let content_type = reply.header(header::CONTENT_TYPE).map(str::to_string);
        let bytes = &reply.body;
        let json = serde_json::from_slice(bytes).unwrap_or_else(
            |_| json!({ "raw_len": bytes.len(), "starts_pk": bytes.starts_with(b"PK") }),
        );
        (reply.status, content_type, json)
    }

    async fn admin(&self, method: Method, path: &str, body: Option<&str>) -> (StatusCode, Json) {
        let (s, _, j) = self
            .call(method, path, Some(self.key(Role::Admin)), body)
            .await;
        (s, j)
    }

    async fn query(&self, sql: &str) -> Vec<Vec<Value>> {
        let mut db = Database::connect(None, &self.chinook_url()).await.unwrap();
        let rows = db.query(sql).await.unwrap();
        db.close().await;
        rows
    }

    /// Wait (bounded) until no request is in progress, so that no worker writes meanwhile.
    async fn wait_until_idle(&self) {
        self.until("no request in progress and every job finished", || async {
            let (_, list) = self.admin(Method::GET, "/v1/requests", None).await;
            let mut idle = true;
            for r in list["requests"].as_array().unwrap() {
                let id = r["id"].as_str().unwrap();
                let (_, one) = self
                    .admin(Method::GET, &format!("/v1/requests/{id}"), None)
                    .await;
                // A job records its end after the request's state: both must have landed.
                let job_running =
                    matches!(one["job"]["state"].as_str(), Some("queued" | "running"));
                idle &= one["state"] != "in_progress" && !job_running;
            }
            idle.then_some(())
        })
        .await;
    }

    async fn counts(&self) -> (usize, u64) {
        let (_, list) = self.admin(Method::GET, "/v1/requests", None).await;
        let n = list["requests"].as_array().unwrap().len();
        let v = self.state.store.verify_audit().await.unwrap();
        (n, v.records)
    }
}

fn builder(name: &str, store: Store) -> common::Builder {
    TestApp::builder(&format!("api-{name}"))
        .store(store)
        .chinook()
        .config(Config {
            hmac_key: b"a-test-key-of-sixteen-bytes".to_vec(),
            poll: Duration::from_millis(20),
            export_keys: Some(ExportKeys::new(MasterKey::new([42; 32]), Vec::new())),
            ..Config::default()
        })
}

async fn env(name: &str, store: Store) -> Env {
    Env(builder(name, store).spawn().await)
}

async fn env_without_worker(name: &str, store: Store) -> Env {
    Env(builder(name, store).without_worker().spawn().await)
}

async fn workflow(e: &Env) {
    // Access: intake, the worker runs it, the export is there.
    let (s, created) = e
        .admin(
            Method::POST,
            "/v1/requests",
            Some(&json!({"kind": "access", "identities": {"email": LUIS}}).to_string()),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    assert_eq!(created["state"], "in_progress");
    assert_eq!(created["status"]["dpv"], "dpv:RequestAccepted");
    let id = created["id"].as_str().unwrap().to_string();
    let done = e.wait_for(&id, "completed").await;
    assert_eq!(
        done["status"]["iri"],
        "https://w3id.org/dpv#RequestFulfilled"
    );
    assert_eq!(done["identities"]["email"], LUIS);
    assert_eq!(done["job"]["state"], "done");
    // The person is told: received, then completed (with the export), through the outbox.
    let told: Vec<String> = e
        .state
        .store
        .outbox(&id)
        .await
        .unwrap()
        .iter()
        .map(|m| format!("{} to {}", m.event, m.recipient))
        .collect();
    assert_eq!(
        told,
        [
            format!("received to {LUIS}"),
            format!("completed to {LUIS}")
        ]
    );
    let (s, _, zip) = e
        .call(
            Method::GET,
            &format!("/v1/requests/{id}/export"),
            Some(e.key(Role::PrivacyOfficer)),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(zip["starts_pk"], true);
    // The support agent sees the status, not the person.
    let (s, _, seen) = e
        .call(
            Method::GET,
            &format!("/v1/requests/{id}"),
            Some(e.key(Role::SupportAgent)),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(seen["state"], "completed");
    assert!(
        seen.get("identities").is_none() && seen.get("result").is_none(),
        "{seen}"
    );

    // Approval, extension, then the erasure runs; the database shows it.
    let (s, r) = e
        .admin(
            Method::POST,
            "/v1/requests",
            Some(
                &json!({"kind": "erasure", "identities": {"email": LUIS}, "needs_approval": true})
                    .to_string(),
            ),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(r["state"], "awaiting_approval");
    let id = r["id"].as_str().unwrap().to_string();
    let (s, x) = e
        .admin(
            Method::POST,
            &format!("/v1/requests/{id}/extend"),
            Some(r#"{"reason": "backups in three systems"}"#),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{x}");
    assert_eq!(x["state"], "extended");
    assert_eq!(x["status"]["dpv"], "dpv:RequestActionDelayed");
    assert!(x["due_at"].as_str() > r["due_at"].as_str());
    let (s, x) = e
        .admin(
            Method::POST,
            &format!("/v1/requests/{id}/extend"),
            Some(r#"{"reason": "again"}"#),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{x}");
    assert_eq!(
        e.query(&format!(
            "SELECT COUNT(*) FROM customer WHERE email = '{LUIS}'"
        ))
        .await,
        vec![vec![Value::Int(1)]]
    );
    // The approver sees the plan first: run and rolled back, nothing changed.
    let (s, plan) = e
        .admin(Method::GET, &format!("/v1/requests/{id}/plan"), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{plan}");
    let steps = plan["plan"]["datasets"][0]["steps"].as_array().unwrap();
    assert!(
        steps.iter().any(|s| s["rows"].as_u64().unwrap() > 0),
        "{plan}"
    );
    assert_eq!(plan["plan"]["datasets"][0]["committed"], false);
    assert_eq!(
        e.query(&format!(
            "SELECT COUNT(*) FROM customer WHERE email = '{LUIS}'"
        ))
        .await,
        vec![vec![Value::Int(1)]]
    );
    let (s, _) = e
        .admin(Method::POST, &format!("/v1/requests/{id}/approve"), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    let done = e.wait_for(&id, "completed").await;
    assert_eq!(done["extension_reason"], "backups in three systems");
    assert_eq!(
        e.query(&format!(
            "SELECT COUNT(*) FROM customer WHERE email = '{LUIS}'"
        ))
        .await,
        vec![vec![Value::Int(0)]]
    );
    let events: Vec<&str> = done["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["to"].as_str().unwrap())
        .collect();
    assert_eq!(
        events,
        ["awaiting_approval", "extended", "in_progress", "completed"]
    );

    // Deny needs a reason; denied is final.
    let (_, r) = e
        .admin(Method::POST, "/v1/requests", Some(&json!({"kind": "restriction", "identities": {"customer_id": "2"}, "needs_approval": true}).to_string()))
        .await;
    let id = r["id"].as_str().unwrap().to_string();
    let (s, _) = e
        .admin(
            Method::POST,
            &format!("/v1/requests/{id}/deny"),
            Some(r#"{"reason": " "}"#),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, d) = e
        .admin(
            Method::POST,
            &format!("/v1/requests/{id}/deny"),
            Some(r#"{"reason": "manifestly unfounded"}"#),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(d["status"]["dpv"], "dpv:RequestRejected");
    let (s, p) = e
        .admin(Method::POST, &format!("/v1/requests/{id}/approve"), None)
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(p["type"], "urn:pledge:problem:transition-not-allowed");

    // Rectification and portability run too.
    let (_, r) = e
        .admin(Method::POST, "/v1/requests", Some(&json!({"kind": "rectification", "identities": {"customer_id": "3"}, "changes": {"address": "Rua Nova, 1"}}).to_string()))
        .await;
    e.wait_for(r["id"].as_str().unwrap(), "completed").await;
    assert_eq!(
        e.query("SELECT address FROM customer WHERE customer_id = 3")
            .await,
        vec![vec![Value::Text("Rua Nova, 1".into())]]
    );
    let (_, r) = e
        .admin(
            Method::POST,
            "/v1/requests",
            Some(&json!({"kind": "portability", "identities": {"customer_id": "4"}}).to_string()),
        )
        .await;
    e.wait_for(r["id"].as_str().unwrap(), "completed").await;

    // A pending one, for the lists.
    let (_, pending) = e
        .admin(Method::POST, "/v1/requests", Some(&json!({"kind": "access", "regime": "ccpa", "identities": {"customer_id": "5"}, "needs_approval": true}).to_string()))
        .await;
    assert!(pending["confirm_by"].is_string());
    let (_, due) = e
        .admin(Method::GET, "/v1/requests?due_within_days=50", None)
        .await;
    let due = due["requests"].as_array().unwrap();
    assert_eq!(due.len(), 1, "{due:?}");
    assert_eq!(due[0]["id"], pending["id"]);
    assert!(due[0].get("identities").is_none());
    let (_, none) = e
        .admin(Method::GET, "/v1/requests?due_within_days=10", None)
        .await;
    assert_eq!(none["requests"].as_array().unwrap().len(), 0);
    let (_, overdue) = e
        .admin(Method::GET, "/v1/requests?overdue=true", None)
        .await;
    assert_eq!(overdue["requests"].as_array().unwrap().len(), 0);
    let (_, by_state) = e
        .admin(Method::GET, "/v1/requests?state=denied", None)
        .await;
    assert_eq!(by_state["requests"].as_array().unwrap().len(), 1);

    // The audit trail: every change and every read of personal data, chained.
    let (s, v) = e.admin(Method::GET, "/v1/audit/verify", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["intact"], true);
    let (_, log) = e.admin(Method::GET, "/v1/audit?limit=1000", None).await;
    let actions: Vec<&str> = log["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    for a in [
        "key.created",
        "request.created",
        "request.transition",
        "request.read",
        "job.claimed",
        "job.completed",
    ] {
        assert!(actions.contains(&a), "{a} missing from {actions:?}");
    }
    assert!(
        !log.to_string().contains(LUIS),
        "personal data in the audit log"
    );
}

/// Every endpoint, every role: allowed roles get past authorization, the others get 403.
/// The export is stored encrypted; staff download it decrypted; the person gets a link that
/// works once.
async fn export_links(e: &Env) {
    let (_, created) = e
        .admin(
            Method::POST,
            "/v1/requests",
            Some(&json!({"kind": "portability", "identities": {"email": LEONIE}}).to_string()),
        )
        .await;
    let id = created["id"].as_str().unwrap().to_string();
    e.wait_for(&id, "completed").await;
    // At rest: ciphertext, with the id of the key that wrapped its data key.
    let stored = e
        .state
        .store
        .export(&id, pledge_server::Clock::system().now())
        .await
        .unwrap()
        .unwrap();
    assert!(!stored.bytes.starts_with(b"PK"));
    assert!(
        !stored
            .bytes
            .windows(LUIS.len())
            .any(|w| w == LUIS.as_bytes())
    );
    assert_eq!(
        stored.key_id.as_deref(),
        Some(MasterKey::new([42; 32]).id())
    );
    let (s, _, zip) = e
        .call(
            Method::GET,
            &format!("/v1/requests/{id}/export"),
            Some(e.key(Role::Admin)),
            None,
        )
        .await;
    assert_eq!((s, zip["starts_pk"].clone()), (StatusCode::OK, json!(true)));
    // A link for the person.
    let (s, link) = e
        .admin(
            Method::POST,
            &format!("/v1/requests/{id}/export/link"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{link}");
    assert_eq!(link["single_use"], true);
    let path = link["path"].as_str().unwrap().to_string();
    assert!(link["url"].as_str().unwrap().ends_with(&path));
    // No API key needed. A GET shows the page with the button and spends nothing; the
    // button's POST downloads, once only.
    for _ in 0..2 {
        let (s, ct, _) = e.call(Method::GET, &path, None, None).await;
        assert_eq!(s, StatusCode::OK);
        assert!(ct.as_deref().unwrap().starts_with("text/html"));
    }
    let (s, ct, zip) = e.call(Method::POST, &path, None, None).await;
    assert_eq!(s, StatusCode::OK, "{zip}");
    assert_eq!(ct.as_deref(), Some("application/zip"));
    assert_eq!(zip["starts_pk"], true);
    let (s, ct, gone) = e.call(Method::POST, &path, None, None).await;
    assert_eq!(s, StatusCode::GONE, "{gone}");
    assert_eq!(ct.as_deref(), Some("application/problem+json"));
    assert_eq!(gone["type"], "urn:pledge:problem:link-gone");
    let (s, ct, _) = e.call(Method::GET, &path, None, None).await;
    assert_eq!(s, StatusCode::GONE, "the page says it no longer works");
    assert!(ct.as_deref().unwrap().starts_with("text/html"));
    // Unknown and malformed tokens: 404, with a problem body (a page for a GET).
    let unknown = format!("/public/exports/{}", "ab".repeat(32));
    for path in [unknown.as_str(), "/public/exports/nope"] {
        let (s, ct, _) = e.call(Method::POST, path, None, None).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(ct.as_deref(), Some("application/problem+json"));
        let (s, _, _) = e.call(Method::GET, path, None, None).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{path}");
    }
    // The audit log has the link and the download, never the token.
    let token = path.rsplit('/').next().unwrap();
    let (_, audit) = e.admin(Method::GET, "/v1/audit?limit=10000", None).await;
    let records = audit["records"].as_array().unwrap();
    let actions: Vec<&str> = records
        .iter()
        .filter(|r| r["request_id"] == id.as_str())
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"export.link_created"), "{actions:?}");
    assert!(actions.contains(&"export.downloaded"), "{actions:?}");
    assert!(!audit.to_string().contains(token));
    // No link for a request without an export.
    let (_, erasure) = e
        .admin(
            Method::POST,
            "/v1/requests",
            Some(
                &json!({"kind": "access", "identities": {"email": LEONIE}, "needs_approval": true})
                    .to_string(),
            ),
        )
        .await;
    let (s, p) = e
        .admin(
            Method::POST,
            &format!(
                "/v1/requests/{}/export/link",
                erasure["id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{p}");
}

async fn authorization(e: &Env) {
    let (_, r) = e
        .admin(Method::POST, "/v1/requests", Some(&json!({"kind": "access", "identities": {"customer_id": "7"}, "needs_approval": true}).to_string()))
        .await;
    let id = r["id"].as_str().unwrap().to_string();
    let intake =
        json!({"kind": "access", "identities": {"customer_id": "8"}, "needs_approval": true})
            .to_string();
    // Every route behind an API key, with the roles allowed, from the route table the router
    // and the OpenAPI document are built from: a route added there is tested here. (A
    // recipient's callback takes no key: it is signed, and `forward.rs` tests that; the
    // public routes take none either.)
    let doc = serde_json::to_value(pledge_server::openapi(&e.state)).unwrap();
    let bodies: &[(&str, &str)] = &[
        ("POST /v1/requests", &intake),
        ("POST /v1/requests/{id}/deny", r#"{"reason":"x"}"#),
        ("POST /v1/requests/{id}/extend", r#"{"reason":"x"}"#),
        ("POST /v1/requests/{id}/complete", r#"{"note":"x"}"#),
        (
            "POST /v1/consent",
            // No choices: refused (422) after the role check, so nothing is recorded.
            r#"{"subject":"customer-1","choices":[]}"#,
        ),
        (
            "POST /v1/decisions",
            r#"{"subject":"customer-1","purpose":"newsletter"}"#,
        ),
        (
            "POST /v1/decisions/batch",
            r#"{"decisions":[{"subject":"customer-1","purpose":"newsletter"}]}"#,
        ),
        (
            "POST /v1/subjects/{subject}/link",
            r#"{"anonymous":"visitor-1"}"#,
        ),
        ("POST /v1/subjects/{subject}/preference-links", r#"{}"#),
    ];
    let mut templates: Vec<(Method, String)> = Vec::new();
    let mut endpoints: Vec<(Method, String, Option<String>, Vec<Role>)> = Vec::new();
    for route in pledge_server::route_table(&e.state).unwrap() {
        let pledge_server::Access::Key(roles) = route.access else {
            continue;
        };
        let key = format!("{} {}", route.method, route.path);
        let body = bodies
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, b)| b.to_string());
        let path = route
            .path
            .replace("{id}", &id)
            .replace("{subject}", "customer-1");
        templates.push((route.method.clone(), route.path));
        endpoints.push((route.method, path, body, roles));
    }
    // The table is not empty by accident: the routes this test has always called are in it.
    for route in [
        "POST /v1/requests",
        "GET /v1/requests/{id}",
        "POST /v1/decisions",
        "GET /metrics",
    ] {
        assert!(
            templates.iter().any(|(m, t)| format!("{m} {t}") == route),
            "{route} is not behind an API key in the OpenAPI document"
        );
    }
    for (route, _) in bodies {
        assert!(
            templates.iter().any(|(m, t)| format!("{m} {t}") == *route),
            "a body for {route}, which is not a route behind an API key"
        );
    }
    let (revoked_key, revoked_secret) = e
        .state
        .store
        .create_key(Role::Admin, None, "test", 2)
        .await
        .unwrap();
    e.state
        .store
        .revoke_key(&revoked_key.id, "test", 3)
        .await
        .unwrap();
    for (method, path, body, allowed) in &endpoints {
        // Refused roles first, so no allowed call has changed the request yet.
        for role in pledge_store::ROLES.iter().filter(|r| !allowed.contains(r)) {
            let (s, ct, j) = e
                .call(method.clone(), path, Some(e.key(*role)), body.as_deref())
                .await;
            assert_eq!(s, StatusCode::FORBIDDEN, "{role:?} {method} {path}: {j}");
            assert_eq!(ct.as_deref(), Some("application/problem+json"));
        }
        for key in [
            None,
            Some("pledge_not_a_key"),
            Some(revoked_secret.as_str()),
        ] {
            let (s, ct, _) = e.call(method.clone(), path, key, body.as_deref()).await;
            assert_eq!(s, StatusCode::UNAUTHORIZED, "{key:?} {method} {path}");
            assert_eq!(ct.as_deref(), Some("application/problem+json"));
        }
    }
    for (method, path, body, allowed) in &endpoints {
        for role in allowed.iter() {
            let (s, _, j) = e
                .call(method.clone(), path, Some(e.key(*role)), body.as_deref())
                .await;
            assert!(
                s != StatusCode::FORBIDDEN && s != StatusCode::UNAUTHORIZED,
                "{role:?} {method} {path}: {s} {j}"
            );
        }
    }
    // The OpenAPI document, health and metrics need no key; the document served is the one
    // the table came from.
    let (s, _, served) = e.call(Method::GET, "/v1/openapi.json", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(served["openapi"], "3.1.0");
    assert_eq!(served, doc);
    for (method, template) in &templates {
        let op = &doc["paths"][template][method.as_str().to_lowercase()];
        assert!(op["responses"]["403"].is_object(), "{method} {template}");
        for status in ["401", "403"] {
            assert!(
                op["responses"][status]["content"]["application/problem+json"]["schema"]
                    .is_object(),
                "{method} {template} {status}: {}",
                op["responses"][status]
            );
        }
    }
    assert!(doc["components"]["schemas"]["CreateRequest"]["properties"]["kind"].is_object());
    for path in ["/healthz", "/readyz"] {
        let (s, _, _) = e.call(Method::GET, path, None, None).await;
        assert_eq!(s, StatusCode::OK, "{path}");
    }
    // Metrics need a key of a role that may read them (see tests/edge.rs).
    let (s, _, _) = e.call(Method::GET, "/metrics", None, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _, _) = e
        .call(Method::GET, "/metrics", Some(e.key(Role::Metrics)), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    // The table above is the one docs/security.md shows.
    let doc = std::fs::read_to_string(repo().join("docs/security.md")).unwrap();
    let rows = doc.lines().filter(|l| l.starts_with("| `")).count();
    assert_eq!(
        rows,
        endpoints.len(),
        "docs/security.md shows {rows} routes, the router has {} behind an API key",
        endpoints.len()
    );
    for ((method, template), (_, _, _, allowed)) in templates.iter().zip(&endpoints) {
        let row = format!("| `{method} {template}` |");
        let line = doc
            .lines()
            .find(|l| l.starts_with(&row))
            .unwrap_or_else(|| panic!("docs/security.md has no row {row}"));
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        for (i, role) in pledge_store::ROLES.iter().enumerate() {
            let shown = cells.get(i + 2).copied().unwrap_or("");
            assert_eq!(
                shown == "yes",
                allowed.contains(role),
                "docs/security.md, {row} {role:?}: `{shown}`"
            );
        }
    }
}

/// Each bad input gets its 4xx and a problem document, and nothing is written.
async fn bad_input(e: &Env) {
    let (_, r) = e
        .admin(Method::POST, "/v1/requests", Some(&json!({"kind": "access", "identities": {"customer_id": "9"}, "needs_approval": true}).to_string()))
        .await;
    let id = r["id"].as_str().unwrap().to_string();
    // Jobs of earlier requests may still be finishing on the background worker, and each
    // writes audit records: count only once nothing is running.
    e.wait_until_idle().await;
    let before = e.counts().await;
    let big = format!(
        r#"{{"kind":"access","identities":{{"email":"{}"}}}}"#,
        "a".repeat(pledge_server::BODY_LIMIT)
    );
    let cases: Vec<(Method, String, Option<String>, StatusCode)> = vec![
        (
            Method::POST,
            "/v1/requests".into(),
            Some("{\"kind\": ".into()),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::POST,
            "/v1/requests".into(),
            Some(r#"{"kind":"access","identities":{"email":"a@b.c"},"priority":1}"#.into()),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::POST,
            "/v1/requests".into(),
            Some(r#"{"kind":"access","identities":"a@b.c"}"#.into()),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::POST,
            "/v1/requests".into(),
            Some(r#"{"kind":"forget_me","identities":{"email":"a@b.c"}}"#.into()),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::POST,
            "/v1/requests".into(),
            Some(r#"{"kind":"access","identities":{}}"#.into()),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::POST,
            "/v1/requests".into(),
            Some(r#"{"kind":"access","identities":{"shoe_size":"42"}}"#.into()),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::POST,
            "/v1/requests".into(),
            Some(r#"{"kind":"rectification","identities":{"email":"a@b.c"}}"#.into()),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::POST,
            "/v1/requests".into(),
            Some(
                r#"{"kind":"access","identities":{"email":"a@b.c"},"changes":{"city":"x"}}"#.into(),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::POST,
            "/v1/requests".into(),
            Some(big),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            Method::POST,
            format!("/v1/requests/{id}/deny"),
            Some(r#"{"reason": 5}"#.into()),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::POST,
            format!("/v1/requests/{id}/deny"),
            Some(r#"{}"#.into()),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::POST,
            format!("/v1/requests/{id}/extend"),
            Some(r#"{"reason": ""}"#.into()),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::POST,
            format!("/v1/requests/{id}/cancel"),
            None,
            StatusCode::OK,
        ),
        (
            Method::POST,
            format!("/v1/requests/{id}/cancel"),
            None,
            StatusCode::CONFLICT,
        ),
        (
            Method::POST,
            "/v1/requests/req_nope/approve".into(),
            None,
            StatusCode::NOT_FOUND,
        ),
        (
            Method::GET,
            "/v1/requests/req_nope".into(),
            None,
            StatusCode::NOT_FOUND,
        ),
        (
            Method::GET,
            "/v1/requests?due_within_days=soon".into(),
            None,
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::GET,
            "/v1/requests?state=lost".into(),
            None,
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::GET,
            "/v1/requests?colour=red".into(),
            None,
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::GET,
            "/v1/nothing".into(),
            None,
            StatusCode::NOT_FOUND,
        ),
        (
            Method::DELETE,
            "/v1/requests".into(),
            None,
            StatusCode::METHOD_NOT_ALLOWED,
        ),
    ];
    let mut expected_audit = before.1;
    for (method, path, body, want) in cases {
        let (s, ct, j) = e
            .call(
                method.clone(),
                &path,
                Some(e.key(Role::Admin)),
                body.as_deref(),
            )
            .await;
        assert_eq!(s, want, "{method} {path} {body:?}: {j}");
        if want == StatusCode::OK {
            expected_audit += 1; // the one cancellation
            continue;
        }
        assert_eq!(
            ct.as_deref(),
            Some("application/problem+json"),
            "{method} {path}"
        );
        assert_eq!(j["status"], want.as_u16());
        assert!(
            j["type"]
                .as_str()
                .unwrap()
                .starts_with("urn:pledge:problem:")
        );
        assert!(!j["detail"].as_str().unwrap().is_empty());
        let after = e.counts().await;
        assert_eq!(
            after,
            (before.0, expected_audit),
            "{method} {path} wrote something"
        );
    }
    // Without a JSON content type.
    let req = Request::builder()
        .method(Method::POST)
        .uri("/v1/requests")
        .header(
            header::AUTHORIZATION,
            format!("Bearer {}", e.key(Role::Admin)),
        )
        .body(Body::from(
            r#"{"kind":"access","identities":{"email":"a@b.c"}}"#,
        ))
        .unwrap();
    let response = e.app.clone().oneshot(req).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(e.counts().await.0, before.0);
}

/// Withdrawing consent, objecting and opting out are requests like the others, carried out
/// in the consent ledger: decisions change, and the same request again records nothing.
async fn rights_in_the_ledger(e: &Env) {
    let subject = "ledger-person@example.com";
    let (s, j) = e
        .admin(
            Method::POST,
            "/v1/consent",
            Some(&json!({"subject": subject, "choices": [{"purpose": "newsletter", "state": "given"}]}).to_string()),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{j}");
    let decide = || async {
        let (s, j) = e
            .admin(
                Method::POST,
                "/v1/decisions",
                Some(&json!({"subject": subject, "purpose": "newsletter"}).to_string()),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{j}");
        j
    };
    assert_eq!(decide().await["allow"], true);
    let request = |kind: &str| {
        json!({"kind": kind, "identities": {"email": subject}, "verified": true}).to_string()
    };
    let mut recorded = Vec::new();
    for kind in [
        "withdraw_consent",
        "withdraw_consent",
        "objection",
        "opt_out",
    ] {
        let (s, r) = e
            .admin(Method::POST, "/v1/requests", Some(&request(kind)))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{kind}: {r}");
        let done = e.wait_for(r["id"].as_str().unwrap(), "completed").await;
        let events = done["result"]["ledger"][0]["events"].clone();
        assert_eq!(done["result"]["ledger"][0]["subject"], subject, "{done}");
        recorded.push((kind, events));
    }
    let kinds = |events: &Json| -> Vec<String> {
        events
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                format!(
                    "{} {}",
                    e["kind"].as_str().unwrap(),
                    e["state"].as_str().unwrap()
                )
            })
            .collect()
    };
    assert_eq!(kinds(&recorded[0].1), ["consent withdrawn"]);
    assert!(
        recorded[0].1[0]["seq"].is_i64(),
        "recorded with its receipt"
    );
    assert_eq!(kinds(&recorded[1].1), Vec::<String>::new(), "nothing twice");
    assert!(
        kinds(&recorded[2].1)
            .iter()
            .all(|k| k == "objection raised")
    );
    assert!(!recorded[2].1.as_array().unwrap().is_empty());
    assert_eq!(kinds(&recorded[3].1), ["opt_out raised"]);
    // Denied: the objection to direct marketing comes before the withdrawn consent.
    let decision = decide().await;
    assert_eq!(decision["allow"], false);
    assert_eq!(decision["reason"]["code"], "objection");
    // A CCPA opt-out is due within 15 business days and cannot be extended.
    let (_, r) = e
        .admin(
            Method::POST,
            "/v1/requests",
            Some(&json!({"kind": "opt_out", "regime": "ccpa", "identities": {"email": subject}, "needs_approval": true}).to_string()),
        )
        .await;
    let id = r["id"].as_str().unwrap();
    let (s, p) = e
        .admin(
            Method::POST,
            &format!("/v1/requests/{id}/extend"),
            Some(r#"{"reason": "busy"}"#),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{p}");
    let (s, _) = e
        .admin(Method::POST, &format!("/v1/requests/{id}/cancel"), None)
        .await;
    assert_eq!(s, StatusCode::OK);
}

/// Runs one scenario on a fresh store of `backend` and a fresh copy of Chinook.
async fn run(
    backend: pledge_testkit::StoreBackend,
    test: &str,
    scenario: impl for<'a> FnOnce(&'a Env) -> pledge_testkit::Scenario<'a>,
) {
    let Some(url) = pledge_testkit::store_url(backend, test).await else {
        return;
    };
    let e = env(&test.replace("::", "-"), Store::open(&url).await.unwrap()).await;
    scenario(&e).await;
}

pledge_testkit::scenarios!(run; workflow, export_links, rights_in_the_ledger, authorization, bad_input);

/// A request denied while its job waited is not run when a worker gets to the job.
#[tokio::test(flavor = "multi_thread")]
async fn a_request_denied_before_its_job_ran_is_not_run() {
    let e = env_without_worker("denied", Store::open("sqlite::memory:").await.unwrap()).await;
    let (_, r) = e
        .admin(
            Method::POST,
            "/v1/requests",
            Some(&json!({"kind": "erasure", "identities": {"email": LUIS}}).to_string()),
        )
        .await;
    assert_eq!(r["state"], "in_progress");
    let id = r["id"].as_str().unwrap().to_string();
    let (s, _) = e
        .admin(
            Method::POST,
            &format!("/v1/requests/{id}/deny"),
            Some(r#"{"reason": "identity not proven"}"#),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    e.start_worker("worker:late");
    let done = e
        .until("the denied request's job is done", || async {
            let (_, r) = e
                .admin(Method::GET, &format!("/v1/requests/{id}"), None)
                .await;
            (r["job"]["state"] == "done").then_some(r)
        })
        .await;
    assert_eq!(done["state"], "denied", "{done}");
    let stored = e.state.store.get_request(&id).await.unwrap();
    assert!(
        stored
            .result
            .as_ref()
            .is_some_and(|r| r["skipped"].is_string()),
        "{done} {stored:?}"
    );
    assert_eq!(
        e.query(&format!(
            "SELECT COUNT(*) FROM customer WHERE email = '{LUIS}'"
        ))
        .await,
        vec![vec![Value::Int(1)]]
    );
}

/// Wait (bounded) for the request's job to have failed once, and return its error.
async fn job_error(e: &Env, id: &str) -> String {
    e.until(&format!("the job of request {id} fails"), || async {
        let (_, r) = e
            .admin(Method::GET, &format!("/v1/requests/{id}"), None)
            .await;
        r["job"]["error"].as_str().map(str::to_string)
    })
    .await
}

/// Changes to a table no dataset declares are refused at intake, naming the table, instead
/// of failing in the worker.
#[tokio::test(flavor = "multi_thread")]
async fn intake_refuses_changes_to_undeclared_tables() {
    let e = env_without_worker("changes", Store::open("sqlite::memory:").await.unwrap()).await;
    let (s, p) = e
        .admin(
            Method::POST,
            "/v1/requests",
            Some(&json!({"kind": "rectification", "identities": {"email": LUIS}, "changes": {"warehouse.address": "x"}}).to_string()),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    let detail = p["detail"].as_str().unwrap();
    assert!(
        detail.contains("no dataset declares a table `warehouse`"),
        "{detail}"
    );
    let (s, p) = e
        .admin(
            Method::POST,
            "/v1/requests",
            Some(&json!({"kind": "rectification", "identities": {"email": LUIS}, "changes": {"customer.": "x"}}).to_string()),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    // A declared table is taken in.
    let (s, p) = e
        .admin(
            Method::POST,
            "/v1/requests",
            Some(&json!({"kind": "rectification", "identities": {"email": LUIS}, "changes": {"customer.address": "Rua Nova, 2"}, "needs_approval": true}).to_string()),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
}

/// The identities of one request that name two people: the worker refuses it and changes
/// nothing, as the command line does.
#[tokio::test(flavor = "multi_thread")]
async fn identities_of_two_people_change_nothing() {
    let e = env("two-people", Store::open("sqlite::memory:").await.unwrap()).await;
    let before = e
        .query("SELECT customer_id, first_name, email FROM customer ORDER BY customer_id")
        .await;
    let (s, r) = e
        .admin(
            Method::POST,
            "/v1/requests",
            Some(
                &json!({"kind": "erasure", "identities": {"email": LUIS, "customer_id": "2"}})
                    .to_string(),
            ),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    let error = job_error(&e, r["id"].as_str().unwrap()).await;
    assert!(
        error.contains("the identities do not name one person: in `customer`"),
        "{error}"
    );
    assert_eq!(
        e.query("SELECT customer_id, first_name, email FROM customer ORDER BY customer_id")
            .await,
        before
    );
}

/// Chinook declares no restriction column: the rows are not marked, the summary says so,
/// and the consent ledger records the restriction.
#[tokio::test(flavor = "multi_thread")]
async fn a_restriction_without_a_column_is_recorded_in_the_ledger() {
    let e = env("restrict", Store::open("sqlite::memory:").await.unwrap()).await;
    let (_, r) = e
        .admin(
            Method::POST,
            "/v1/requests",
            Some(&json!({"kind": "restriction", "identities": {"email": LEONIE}}).to_string()),
        )
        .await;
    let done = e.wait_for(r["id"].as_str().unwrap(), "completed").await;
    let result = &done["result"];
    let note = result["datasets"][0]["notes"][0]
        .as_str()
        .unwrap_or_default();
    assert!(
        note.contains("cannot be marked as restricted")
            && note.contains("recorded in the consent ledger"),
        "{result}"
    );
    assert_eq!(result["datasets"][0]["committed"], false);
    assert!(
        result["ledger"].as_array().is_some_and(|l| !l.is_empty()),
        "{result}"
    );
}
