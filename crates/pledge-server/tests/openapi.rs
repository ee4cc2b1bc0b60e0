//! The OpenAPI document: it comes from the same routes the server serves (no route is
//! declared any other way, and every operation in it is served), its operation ids are
//! unique, each says who may call it (the route table the authorization test in `api.rs`
//! uses), real answers have the shapes it gives, and two independent validators
//! (`openapi-spec-validator`, `redocly lint`) find no error in it.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use pledge_server::{AppState, Config, router};
use pledge_store::Store;
use serde_json::Value as Json;
use std::path::{Path, PathBuf};
use std::process::Command;
use tower::ServiceExt;

mod common;
use common::TestApp;

/// A state on an in-memory store with the Chinook declaration and no keys, from the
/// harness (no worker).
async fn state(config: Config) -> AppState {
    static STATES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = STATES.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let app = TestApp::builder(&format!("openapi-{n}"))
        .store(Store::open("sqlite::memory:").await.unwrap())
        .config(config)
        .keys(&[])
        .without_worker()
        .spawn()
        .await;
    app.state.clone()
}

/// The document as JSON, from the state's routes.
async fn document() -> Json {
    let doc = pledge_server::openapi(&state(Config::default()).await);
    serde_json::from_str(&doc.to_json().unwrap()).unwrap()
}

/// The document written to a file of its own, for the external validators.
fn write_document(doc: &Json) -> (tempdir::Dir, PathBuf) {
    let dir = tempdir::Dir::new();
    let path = dir.path().join("openapi.json");
    std::fs::write(&path, serde_json::to_string_pretty(doc).unwrap()).unwrap();
    (dir, path)
}

mod tempdir {
    use std::path::{Path, PathBuf};

    /// A fresh directory under the system's temporary directory, removed when dropped.
    pub struct Dir(PathBuf);

    impl Dir {
        pub fn new() -> Dir {
            let mut random = [0u8; 8];
            getrandom::fill(&mut random).unwrap();
            let name: String = random.iter().map(|b| format!("{b:02x}")).collect();
            let path = std::env::temp_dir().join(format!("pledge-openapi-{name}"));
            std::fs::create_dir(&path).unwrap();
            Dir(path)
        }

        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn run(command: &mut Command) -> (bool, String) {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[tokio::test]
async fn openapi_spec_validator_finds_no_error() {
    let Some(validator) = pledge_testkit::require!(
        pledge_testkit::OPENAPI_SPEC_VALIDATOR,
        pledge_testkit::openapi_spec_validator()
    ) else {
        return;
    };
    let (_dir, path) = write_document(&document().await);
    let (ok, output) = run(Command::new(&validator).arg(&path));
    assert!(ok, "openapi-spec-validator refused the document:\n{output}");
}

#[tokio::test]
async fn redocly_lint_finds_no_error() {
    let Some(redocly) =
        pledge_testkit::require!(pledge_testkit::REDOCLY, pledge_testkit::redocly())
    else {
        return;
    };
    let (dir, path) = write_document(&document().await);
    // The recommended rules, and nothing from a configuration file found by chance. Two
    // of them only warn and do not fit every route: probes, static assets and pages answer
    // no client error of their own, and the preference form's success is a redirect (303).
    let config = dir.path().join("redocly.yaml");
    std::fs::write(
        &config,
        "extends:\n  - recommended\nrules:\n  operation-4xx-response: off\n  operation-2xx-response: off\n",
    )
    .unwrap();
    let (ok, output) = run(Command::new(&redocly)
        .arg("lint")
        .arg("--config")
        .arg(&config)
        .arg("--format")
        .arg("stylish")
        .arg(&path)
        .env("REDOCLY_TELEMETRY", "off")
        .env("REDOCLY_SUPPRESS_UPDATE_NOTICE", "true")
        .env("NO_COLOR", "1"));
    assert!(ok, "redocly lint found errors in the document:\n{output}");
}

/// Each operation of the document, as (method, path template, operation).
fn operations(doc: &Json) -> Vec<(String, String, Json)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            out.push((method.clone(), path.clone(), op.clone()));
        }
    }
    out
}

#[tokio::test]
async fn every_operation_has_a_unique_id_a_summary_and_says_who_may_call_it() {
    let doc = document().await;
    let schemes = doc["components"]["securitySchemes"].as_object().unwrap();
    let mut ids = std::collections::BTreeSet::new();
    for (method, path, op) in operations(&doc) {
        let id = op["operationId"].as_str().unwrap_or_default();
        assert!(!id.is_empty(), "{method} {path} has no operationId");
        assert!(ids.insert(id.to_string()), "operationId `{id}` twice");
        assert!(
            op["summary"].as_str().is_some_and(|s| !s.is_empty()),
            "{method} {path} has no summary"
        );
        // Each operation says it: no route falls back on a document-wide default.
        let security = op["security"]
            .as_array()
            .unwrap_or_else(|| panic!("{method} {path} declares no security"));
        for requirement in security {
            for (scheme, scopes) in requirement.as_object().unwrap() {
                assert!(
                    schemes.contains_key(scheme),
                    "{method} {path}: undeclared scheme {scheme}"
                );
                for scope in scopes.as_array().unwrap() {
                    let role = scope.as_str().unwrap();
                    assert!(
                        role.parse::<pledge_store::Role>().is_ok(),
                        "{method} {path}: `{role}` is not a role"
                    );
                }
            }
        }
    }
    assert!(
        doc.get("security").is_none(),
        "a document-wide security default"
    );
    // The route table the tests use is the document's, one route per operation.
    let table = pledge_server::route_table(&state(Config::default()).await).unwrap();
    assert_eq!(table.len(), operations(&doc).len());
    let access = |method: &str, path: &str| {
        table
            .iter()
            .find(|r| r.method.as_str() == method && r.path == path)
            .map(|r| r.access.clone())
            .unwrap_or_else(|| panic!("{method} {path} is not in the route table"))
    };
    use pledge_server::Access;
    use pledge_store::Role;
    assert_eq!(
        access("POST", "/v1/requests/{id}/callbacks/{recipient}"),
        Access::RecipientSignature
    );
    assert_eq!(access("POST", "/public/requests"), Access::Open);
    assert_eq!(access("POST", "/banner/consent"), Access::Open);
    assert_eq!(
        access("GET", "/v1/requests"),
        Access::Key(vec![Role::Admin, Role::PrivacyOfficer, Role::SupportAgent])
    );
    // The routes that were once left out.
    for route in [
        "get /banner.js",
        "post /banner/consent",
        "get /preferences",
        "post /unsubscribe",
        "get /.well-known/gpc.json",
        "get /healthz",
        "get /readyz",
        "get /metrics",
        "post /public/requests",
        "get /public/verify",
        "get /public/requests/{id}",
        "get /public/exports/{token}",
        "post /public/exports/{token}",
        "get /v1/openapi.json",
        "get /docs",
    ] {
        let (method, path) = route.split_once(' ').unwrap();
        assert!(
            doc["paths"][path][method].is_object(),
            "{route} is not in the document"
        );
    }
}

/// What the router answers to `method path` with no key and no body.
async fn answer(app: &axum::Router, method: &str, path: &str) -> (StatusCode, Json) {
    let request = Request::builder()
        .method(method.to_uppercase().as_str())
        .uri(path)
        .body(Body::empty())
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Json::Null))
}

/// The document and the router come from the same routes: each operation of the document
/// reaches a handler (not the router's "no such endpoint" or "method not allowed"), with
/// the configuration's optional routes as the configuration says.
#[tokio::test]
async fn every_operation_in_the_document_is_served() {
    for (metrics_public, public_enabled) in [(false, true), (true, false)] {
        let mut config = Config {
            metrics_public,
            ..Config::default()
        };
        config.public.enabled = public_enabled;
        let state = state(config).await;
        let doc = serde_json::to_value(pledge_server::openapi(&state)).unwrap();
        let app = router(state);
        for (method, path, op) in operations(&doc) {
            let concrete = path
                .replace("{id}", "req_nope")
                .replace("{subject}", "customer-1")
                .replace("{recipient}", "crm")
                .replace("{token}", "nope");
            let (status, body) = answer(&app, &method, &concrete).await;
            assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
            assert_ne!(
                body["detail"], "no such endpoint",
                "{method} {path} is in the document but not served"
            );
            if path == "/metrics" {
                let open = op["security"] == serde_json::json!([{}]);
                assert_eq!(open, metrics_public, "{}", op["security"]);
                assert_eq!(status == StatusCode::OK, metrics_public);
            }
        }
        let public = doc["paths"]["/public/requests"].is_object();
        assert_eq!(public, public_enabled);
        let (_, body) = answer(&app, "post", "/public/requests").await;
        assert_eq!(body["detail"] == "no such endpoint", !public_enabled);
    }
}

/// Routes are declared in one way only: with `routes!` on an `OpenApiRouter`, which puts
/// each in the document. A plain axum `.route(...)` would serve a route the document does
/// not show.
#[test]
fn no_route_is_declared_outside_the_openapi_router() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = vec![src.clone()];
    let mut offenders = Vec::new();
    while let Some(path) = files.pop() {
        if path.is_dir() {
            for entry in std::fs::read_dir(&path).unwrap() {
                files.push(entry.unwrap().path());
            }
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for (n, line) in text.lines().enumerate() {
            // (`OpenApiRouter::new()` is the way; axum's own `Router::new()` is not.)
            let code = line
                .split("//")
                .next()
                .unwrap_or_default()
                .replace("OpenApiRouter", "");
            for needle in [
                ".route(",
                ".route_service(",
                ".nest(",
                ".nest_service(",
                "axum::routing",
                "Router::new(",
            ] {
                if code.contains(needle) {
                    offenders.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "routes outside `routes!`:\n{}",
        offenders.join("\n")
    );
}

/// The properties and required properties of a schema, through `$ref` and `allOf`.
fn shape(doc: &Json, schema: &Json) -> (Vec<String>, Vec<String>) {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.trim_start_matches("#/components/schemas/");
        return shape(doc, &doc["components"]["schemas"][name]);
    }
    let mut properties = Vec::new();
    let mut required = Vec::new();
    for part in schema["allOf"].as_array().into_iter().flatten() {
        let (p, r) = shape(doc, part);
        properties.extend(p);
        required.extend(r);
    }
    if let Some(own) = schema["properties"].as_object() {
        properties.extend(own.keys().cloned());
    }
    for r in schema["required"].as_array().into_iter().flatten() {
        required.push(r.as_str().unwrap().to_string());
    }
    (properties, required)
}

/// The typed answers in the document are the answers: for calls that return JSON, every
/// required property is there and no property is missing from the schema.
#[tokio::test]
async fn answers_have_the_shapes_the_document_gives() {
    let state = state(Config::default()).await;
    let (_, admin) = state
        .store
        .create_key(pledge_store::Role::Admin, None, "test", 1)
        .await
        .unwrap();
    let doc = serde_json::to_value(pledge_server::openapi(&state)).unwrap();
    let app = router(state);
    let call = |method: &'static str, path: String, body: Option<&'static str>| {
        let app = app.clone();
        let admin = admin.clone();
        async move {
            let mut request = Request::builder()
                .method(method)
                .uri(&path)
                .header("authorization", format!("Bearer {admin}"));
            if body.is_some() {
                request = request.header("content-type", "application/json");
            }
            let request = request
                .body(body.map_or_else(Body::empty, Body::from))
                .unwrap();
            let response = app.oneshot(request).await.unwrap();
            let status = response.status();
            let bytes = response.into_body().collect().await.unwrap().to_bytes();
            let json: Json = serde_json::from_slice(&bytes)
                .unwrap_or_else(|e| panic!("{method} {path}: {status}, not JSON: {e}"));
            (status, json)
        }
    };
    let (status, created) = call(
        "POST",
        "/v1/requests".into(),
        Some(r#"{"kind": "access", "identities": {"customer_id": "7"}, "needs_approval": true}"#),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    let calls: Vec<(&str, &str, String, Option<&str>)> = vec![
        (
            "post",
            "/v1/requests",
            "/v1/requests".into(),
            Some(
                r#"{"kind": "erasure", "identities": {"customer_id": "8"}, "needs_approval": true}"#,
            ),
        ),
        ("get", "/v1/requests", "/v1/requests".into(), None),
        (
            "get",
            "/v1/requests/{id}",
            format!("/v1/requests/{id}"),
            None,
        ),
        (
            "get",
            "/v1/requests/{id}/plan",
            format!("/v1/requests/{id}/plan"),
            None,
        ),
        (
            "post",
            "/v1/requests/{id}/extend",
            format!("/v1/requests/{id}/extend"),
            Some(r#"{"reason": "complex"}"#),
        ),
        ("get", "/v1/audit", "/v1/audit".into(), None),
        ("get", "/v1/audit/verify", "/v1/audit/verify".into(), None),
        (
            "get",
            "/v1/audit/checkpoints/latest",
            "/v1/audit/checkpoints/latest".into(),
            None,
        ),
        (
            "get",
            "/v1/retention/runs",
            "/v1/retention/runs".into(),
            None,
        ),
        (
            "post",
            "/v1/decisions",
            "/v1/decisions".into(),
            Some(r#"{"subject": "customer-1", "purpose": "newsletter"}"#),
        ),
        (
            "post",
            "/v1/decisions/batch",
            "/v1/decisions/batch".into(),
            Some(r#"{"decisions": [{"subject": "customer-1", "purpose": "newsletter"}]}"#),
        ),
        (
            "get",
            "/v1/subjects/{subject}/consent",
            "/v1/subjects/customer-1/consent".into(),
            None,
        ),
        ("get", "/readyz", "/readyz".into(), None),
        (
            "get",
            "/.well-known/gpc.json",
            "/.well-known/gpc.json".into(),
            None,
        ),
        (
            "get",
            "/banner/config.json",
            "/banner/config.json".into(),
            None,
        ),
    ];
    for (method, template, path, body) in calls {
        let (status, answer) = call(if method == "get" { "GET" } else { "POST" }, path, body).await;
        let response = &doc["paths"][template][method]["responses"][status.as_str()];
        let schema = response["content"]
            .as_object()
            .and_then(|c| c.values().next())
            .map(|media| media["schema"].clone())
            .unwrap_or_else(|| panic!("{method} {template}: {status} is not documented: {answer}"));
        let (properties, required) = shape(&doc, &schema);
        assert!(
            !properties.is_empty(),
            "{method} {template}: {status} has no typed body"
        );
        let object = answer.as_object().unwrap();
        for name in &required {
            assert!(
                object.contains_key(name),
                "{method} {template}: `{name}` is required but missing: {answer}"
            );
        }
        for name in object.keys() {
            assert!(
                properties.contains(name),
                "{method} {template}: `{name}` is not in the schema"
            );
        }
    }
}
