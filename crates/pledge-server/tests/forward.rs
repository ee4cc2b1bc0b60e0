//! Requests forwarded to a recipient no dataset reaches (GDPR Art. 19): a real HTTP receiver
//! on loopback gets the signed webhook, the request waits in `awaiting_external`, and the
//! recipient's callback completes it. On a SQLite store.

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use pledge_server::Config;
use pledge_server::crypto::seal::{ExportKeys, MasterKey};
use pledge_server::jobs::forward;
use pledge_store::{Role, Store};
use serde_json::{Value as Json, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

mod common;
use common::TestApp;

const LUIS: &str = "luisg@embraer.com.br";
const SECRET: &str = "a-shared-webhook-secret";

type Received = Arc<Mutex<Vec<(HeaderMap, String)>>>;

/// A recipient's endpoint: keeps what it is sent, answers 204.
async fn receiver() -> (u16, Received) {
    let received: Received = Arc::default();
    let kept = received.clone();
    let app = axum::Router::new().route(
        "/pledge",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let kept = kept.clone();
            async move {
                kept.lock().unwrap().push((headers, body));
                StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (port, received)
}

/// A recipient's endpoint that speaks HTTP/1.1 keep-alive by hand and counts the
/// connections it accepts and the requests it answers (204 each).
async fn counting_receiver() -> (u16, Arc<(AtomicUsize, AtomicUsize)>) {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    let counts: Arc<(AtomicUsize, AtomicUsize)> = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let kept = counts.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            kept.0.fetch_add(1, Ordering::SeqCst);
            let kept = kept.clone();
            tokio::spawn(async move {
                let mut stream = BufReader::new(stream);
                loop {
                    let mut length = 0usize;
                    let mut line = String::new();
                    loop {
                        line.clear();
                        if stream.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        if line == "\r\n" {
                            break;
                        }
                        if let Some((name, value)) = line.split_once(':')
                            && name.eq_ignore_ascii_case("content-length")
                        {
                            length = value.trim().parse().unwrap();
                        }
                    }
                    let mut body = vec![0; length];
                    stream.read_exact(&mut body).await.unwrap();
                    kept.1.fetch_add(1, Ordering::SeqCst);
                    let answer = b"HTTP/1.1 204 No Content\r\n\r\n";
                    if stream.get_mut().write_all(answer).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (port, counts)
}

/// The server of one test: the harness's, with a recipient's callback.
struct Env(TestApp);

impl std::ops::Deref for Env {
    type Target = TestApp;
    fn deref(&self) -> &TestApp {
        &self.0
    }
}

impl Env {
    /// A callback as a recipient sends it: no API key, a `Pledge-Signature`.
    async fn signed(&self, path: &str, body: &str, signature: &str) -> (StatusCode, Json) {
        let req = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(header::CONTENT_TYPE, "application/json")
            .header("pledge-signature", signature)
            .body(Body::from(body.to_string()))
            .unwrap();
        let reply = self.send(req).await;
        (reply.status, reply.json())
    }

    async fn state_of(&self, id: &str) -> String {
        let (_, j) = self
            .call(
                Role::Admin,
                Method::GET,
                &format!("/v1/requests/{id}"),
                None,
            )
            .await;
        j["state"].as_str().unwrap().to_string()
    }
}

fn unix_now() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

fn sign_with(secret: &str, t: i64, body: &str) -> String {
    format!("t={t},v1={}", forward::sign(secret.as_bytes(), t, body))
}

async fn env(port: u16) -> Env {
    static ENVS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = ENVS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let app = TestApp::builder(&format!("forward-{n}"))
        .store(Store::open("sqlite::memory:").await.unwrap())
        .chinook()
        .declare(&format!(
            r#"
[[recipients]]
id = "newsletter-service"
name = "Newsletter service"
role = "processor"
requests = {{ webhook = "http://127.0.0.1:{port}/pledge", secret_env = "NEWSLETTER_WEBHOOK_SECRET" }}
"#
        ))
        .config(Config {
            connections: vec![("NEWSLETTER_WEBHOOK_SECRET".into(), SECRET.into())],
            hmac_key: b"a-test-key-of-sixteen-bytes".to_vec(),
            poll: Duration::from_millis(20),
            export_keys: Some(ExportKeys::new(MasterKey::new([9; 32]), Vec::new())),
            ..Config::default()
        })
        .forwarder()
        .spawn()
        .await;
    Env(app)
}

#[tokio::test(flavor = "multi_thread")]
async fn an_erasure_waits_for_the_recipient_and_completes_on_its_callback() {
    let (port, received) = receiver().await;
    let e = env(port).await;
    let (s, r) = e
        .call(
            Role::Admin,
            Method::POST,
            "/v1/requests",
            Some(json!({"kind": "erasure", "identities": {"email": LUIS}, "verified": true})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    let id = r["id"].as_str().unwrap().to_string();
    let waiting = e.wait_for(&id, "awaiting_external").await;
    assert_eq!(waiting["status"]["dpv"], "dpv:RequestAccepted");
    // The webhook arrives, signed over its time and body.
    let (headers, body) = e
        .until("the webhook is delivered", || async {
            received.lock().unwrap().first().cloned()
        })
        .await;
    let signature = headers["pledge-signature"].to_str().unwrap();
    let (t, v1) = signature
        .strip_prefix("t=")
        .and_then(|s| s.split_once(",v1="))
        .expect("t=...,v1=...");
    assert_eq!(
        v1,
        forward::sign(SECRET.as_bytes(), t.parse().unwrap(), &body)
    );
    let payload: Json = serde_json::from_str(&body).unwrap();
    assert_eq!(payload["request_id"], id.as_str());
    assert_eq!(payload["kind"], "erasure");
    assert_eq!(payload["identities"]["email"], LUIS);
    assert!(
        payload["callback"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/v1/requests/{id}/callbacks/newsletter-service"))
    );

    // Reports must be signed by the recipient, over their time and body, with its secret:
    // an API key of any role, another secret, an old or replayed signature are refused.
    let path = format!("/v1/requests/{id}/callbacks/newsletter-service");
    let done = json!({"status": "done", "detail": "unsubscribed and deleted"}).to_string();
    let now = unix_now();
    for role in [Role::Service, Role::Admin, Role::PrivacyOfficer] {
        let (s, p) = e
            .call(role, Method::POST, &path, Some(json!({"status": "done"})))
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{role:?}: {p}");
        assert_eq!(p["type"], "urn:pledge:problem:bad-signature", "{p}");
    }
    let forged = [
        sign_with("another-secret", now, &done),
        sign_with(SECRET, now - 600, &done),
        sign_with(SECRET, now + 600, &done),
        format!("t={now},v1=00"),
        "v1=abc".to_string(),
    ];
    for signature in &forged {
        let (s, p) = e.signed(&path, &done, signature).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{signature}: {p}");
    }
    // A body other than the one signed.
    let (s, _) = e
        .signed(
            &path,
            r#"{"status": "done"}"#,
            &sign_with(SECRET, now, &done),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(
        e.state_of(&id).await,
        "awaiting_external",
        "no forgery completed it"
    );

    // Signed by the recipient: a bad body writes nothing; a report for a recipient it
    // was not sent to is refused; then `done` completes the request, once.
    let bad = json!({"status": "finished"}).to_string();
    let (s, p) = e.signed(&path, &bad, &sign_with(SECRET, now, &bad)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    let (s, p) = e
        .signed(
            &format!("/v1/requests/{id}/callbacks/crm"),
            &done,
            &sign_with(SECRET, now, &done),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "no such recipient: {p}");
    let (s, j) = e.signed(&path, &done, &sign_with(SECRET, now, &done)).await;
    assert_eq!(s, StatusCode::OK, "{j}");
    assert_eq!(j["state"], "completed");
    assert_eq!(j["forwards"][0]["state"], "done");
    let (s, _) = e.signed(&path, &done, &sign_with(SECRET, now, &done)).await;
    assert_eq!(s, StatusCode::CONFLICT, "a replay is refused");
    let (s, _) = e
        .signed(&path, &done, &sign_with(SECRET, now + 1, &done))
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "reported once");

    // Every report is audited: who, which recipient, the outcome.
    let (_, audit) = e
        .call(Role::Admin, Method::GET, "/v1/audit?limit=1000", None)
        .await;
    let records = audit["records"].as_array().unwrap();
    let of =
        |action: &str| -> Vec<&Json> { records.iter().filter(|r| r["action"] == action).collect() };
    let refused = of("forward.callback_refused");
    // Three API keys, the forged signatures, the body not signed, the bad body, the replay
    // and the second `done`.
    assert_eq!(refused.len(), 3 + forged.len() + 1 + 1 + 2, "{refused:?}");
    assert!(
        refused
            .iter()
            .all(|r| r["detail"]["recipient"] == "newsletter-service")
    );
    let reported = of("forward.reported");
    assert_eq!(reported.len(), 1, "{reported:?}");
    assert_eq!(reported[0]["actor"], "recipient:newsletter-service");
    assert_eq!(reported[0]["detail"]["outcome"], "done");
    assert!(
        !audit.to_string().contains("unsubscribed and deleted"),
        "the detail only as a hash"
    );

    // An access request is not forwarded (erasure, rectification, restriction are).
    let (_, r) = e
        .call(
            Role::Admin,
            Method::POST,
            "/v1/requests",
            Some(json!({"kind": "access", "identities": {"email": "leonekohler@surfeu.de"}, "verified": true})),
        )
        .await;
    let done = e.wait_for(r["id"].as_str().unwrap(), "completed").await;
    assert_eq!(done["forwards"], json!([]));
    assert_eq!(received.lock().unwrap().len(), 1);
}

/// Deliveries to one recipient reuse the connection: a burst of forwarded requests is one
/// TCP (and TLS) handshake, not one per request.
#[tokio::test(flavor = "multi_thread")]
async fn deliveries_to_a_recipient_reuse_its_connection() {
    let (port, counts) = counting_receiver().await;
    let e = env(port).await;
    for email in [LUIS, "leonekohler@surfeu.de", "ftremblay@gmail.com"] {
        let (s, r) = e
            .call(
                Role::Admin,
                Method::POST,
                "/v1/requests",
                Some(json!({"kind": "erasure", "identities": {"email": email}, "verified": true})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{r}");
        let id = r["id"].as_str().unwrap().to_string();
        e.wait_for(&id, "awaiting_external").await;
        // Each delivery done before the next request, so each could have opened its own.
        e.until("the delivery is made", || async {
            let (_, j) = e
                .call(
                    Role::Admin,
                    Method::GET,
                    &format!("/v1/requests/{id}"),
                    None,
                )
                .await;
            (j["forwards"][0]["state"] == "delivered").then_some(())
        })
        .await;
    }
    assert_eq!(counts.1.load(Ordering::SeqCst), 3, "three deliveries");
    assert_eq!(counts.0.load(Ordering::SeqCst), 1, "over one connection");
}
