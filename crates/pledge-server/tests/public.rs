//! Public intake, on a SQLite store (always) and a PostgreSQL store (the server that
//! scripts/test.sh starts): a request from the person, the code and link that come by
//! e-mail (through a real SMTP conversation with a small sink written here), expiry, reuse,
//! attempts, rate limits with Retry-After, the person's status page, the notices of each
//! step, and delivery failures retried from the outbox.

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use pledge_connect::Database;
use pledge_server::crypto::seal::{ExportKeys, MasterKey};
use pledge_server::http::ratelimit::Rate;
use pledge_server::jobs::mail::{self, Context, Sender};
use pledge_server::{Clock, Config, MailConfig, PublicConfig};
use pledge_store::{Role, Store};
use serde_json::{Value as Json, json};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

mod common;
use common::TestApp;

const LUIS: &str = "luisg@embraer.com.br";
const T0: i64 = 1_780_000_000;

/// A minimal SMTP server on loopback that keeps every message it is given.
struct Sink {
    port: u16,
    messages: Arc<Mutex<Vec<String>>>,
}

impl Sink {
    async fn start() -> Sink {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let messages = Arc::new(Mutex::new(Vec::new()));
        let kept = messages.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let kept = kept.clone();
                tokio::spawn(async move {
                    let (read, mut write) = socket.into_split();
                    let mut lines = BufReader::new(read).lines();
                    write.write_all(b"220 sink ready\r\n").await.unwrap();
                    let mut data: Option<String> = None;
                    while let Ok(Some(line)) = lines.next_line().await {
                        if let Some(body) = data.as_mut() {
                            if line == "." {
                                kept.lock().unwrap().push(std::mem::take(body));
                                data = None;
                                write.write_all(b"250 kept\r\n").await.unwrap();
                            } else {
                                body.push_str(&line);
                                body.push('\n');
                            }
                            continue;
                        }
                        let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
                        let reply: &[u8] = match verb.as_str() {
                            "EHLO" | "HELO" => b"250 sink\r\n",
                            "DATA" => {
                                data = Some(String::new());
                                b"354 go on\r\n"
                            }
                            "QUIT" => {
                                let _ = write.write_all(b"221 bye\r\n").await;
                                break;
                            }
                            _ => b"250 ok\r\n",
                        };
                        write.write_all(reply).await.unwrap();
                    }
                });
            }
        });
        Sink { port, messages }
    }

    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.messages.lock().unwrap())
    }
}

/// The server of one test: the harness's, with its clock, the SMTP sink and the mailer's
/// sender. No worker unless the test starts one ([`TestApp::start_worker`]).
struct Env {
    app: TestApp,
    clock: Arc<AtomicI64>,
    sink: Sink,
    sender: Sender,
    admin: String,
}

impl std::ops::Deref for Env {
    type Target = TestApp;
    fn deref(&self) -> &TestApp {
        &self.app
    }
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    json: Json,
    text: String,
}

impl Env {
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<(&str, String)>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut req = Request::builder().method(method).uri(path);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = match body {
            Some((ct, b)) => req.header(header::CONTENT_TYPE, ct).body(Body::from(b)),
            None => req.body(Body::empty()),
        }
        .unwrap();
        let reply = self.app.send(req).await;
        Reply {
            status: reply.status,
            json: reply.json(),
            text: reply.text(),
            headers: reply.headers,
        }
    }

    async fn post(&self, path: &str, body: Json) -> Reply {
        self.call(
            Method::POST,
            path,
            Some(("application/json", body.to_string())),
            &[],
        )
        .await
    }

    async fn staff(&self, path: &str, body: Json) -> Reply {
        let auth = format!("Bearer {}", self.admin);
        self.call(
            Method::POST,
            path,
            Some(("application/json", body.to_string())),
            &[("authorization", &auth)],
        )
        .await
    }

    /// Sends what is due and returns the messages the sink received.
    async fn mail(&self) -> Vec<String> {
        mail::drain_once(&self.state, &self.sender, &Context::of(&self.state))
            .await
            .unwrap();
        self.sink.take()
    }

    async fn audit_records(&self) -> u64 {
        self.state.store.verify_audit().await.unwrap().records
    }

    async fn state_of(&self, id: &str) -> String {
        self.state
            .store
            .get_request(id)
            .await
            .unwrap()
            .state
            .as_str()
            .to_string()
    }

    fn advance(&self, secs: i64) {
        self.clock.fetch_add(secs, Ordering::SeqCst);
    }
}

fn generous() -> PublicConfig {
    PublicConfig {
        base_url: "https://privacy.example.com/".into(),
        intake_per_ip: Rate::per_hour(1000, 1000),
        intake_per_email: Rate::per_hour(1000, 1000),
        verify_per_ip: Rate::per_hour(1000, 1000),
        ..PublicConfig::default()
    }
}

async fn env(name: &str, store: Store, public: PublicConfig) -> Env {
    env_with(name, store, public, "", "").await
}

/// `env`, with SQL run on the Chinook database and TOML added to its declaration.
async fn env_with(
    name: &str,
    store: Store,
    public: PublicConfig,
    extra_sql: &str,
    extra_toml: &str,
) -> Env {
    let sink = Sink::start().await;
    let clock = Arc::new(AtomicI64::new(T0));
    let mail = MailConfig {
        smtp_url: Some(format!("smtp://127.0.0.1:{}", sink.port)),
        from: "Chinook Privacy <privacy@example.com>".into(),
        max_attempts: 3,
    };
    let sender = Sender::new(&mail).unwrap();
    let app = TestApp::builder(&format!("public-{name}"))
        .store(store)
        .chinook_with(extra_sql)
        .declare(extra_toml)
        .keys(&[Role::Admin])
        .keys_created_at(T0)
        .config(Config {
            mail,
            poll: std::time::Duration::from_millis(20),
            export_keys: Some(ExportKeys::new(MasterKey::new([7; 32]), Vec::new())),
            ..Config::default()
        })
        .public(public)
        .clock(Clock::manual(clock.clone()))
        .without_worker()
        .spawn()
        .await;
    let admin = app.key(Role::Admin).to_string();
    Env {
        app,
        clock,
        sink,
        sender,
        admin,
    }
}

fn secrets(message: &str) -> (String, String, String) {
    // Quoted-printable may fold long lines: undo soft breaks first.
    let text = message.replace("=\n", "").replace("=3D", "=");
    let code = text
        .lines()
        .find_map(|l| l.strip_prefix("Your code: "))
        .expect("a code")
        .trim()
        .to_string();
    // The verify link comes first in the message, the status link last.
    let token_after = |marker: &str| {
        let at = text
            .rfind(marker)
            .unwrap_or_else(|| panic!("{marker} in {text}"));
        text[at + marker.len()..]
            .chars()
            .take_while(char::is_ascii_hexdigit)
            .collect::<String>()
    };
    (
        code,
        token_after("/public/verify?token="),
        token_after("?token="),
    )
}

/// Submits a request for `email`, checks the answer, and returns its id and secrets.
async fn submit(e: &Env, email: &str) -> (String, String, String, String) {
    let r = e
        .post(
            "/public/requests",
            json!({"kind": "access", "email": email}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    assert_eq!(r.json["state"], "verifying");
    assert_eq!(r.json["status"]["dpv"], "dpv:RequestRequiresAction");
    assert!(r.json.get("identities").is_none());
    let id = r.json["id"].as_str().unwrap().to_string();
    let mails = e.mail().await;
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert!(mails[0].contains(&format!("To: {email}")), "{}", mails[0]);
    let (code, link, status) = secrets(&mails[0]);
    assert_eq!(code.len(), 8);
    assert_eq!(link.len(), 64);
    (id, code, link, status)
}

async fn codes(e: &Env) {
    // A wrong code counts; the right one moves the request on; reuse is refused.
    let (id, code, _, status_token) = submit(e, LUIS).await;
    let before = e.audit_records().await;
    let wrong = if code == "00000000" {
        "11111111"
    } else {
        "00000000"
    };
    let r = e
        .post(
            &format!("/public/requests/{id}/verify"),
            json!({"code": wrong}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    assert_eq!(r.json["type"], "urn:pledge:problem:wrong-code");
    assert!(
        r.json["detail"]
            .as_str()
            .unwrap()
            .contains("4 attempts left")
    );
    assert_eq!(
        e.audit_records().await,
        before + 1,
        "the attempt is audited"
    );
    assert_eq!(e.state_of(&id).await, "verifying");

    let r = e
        .post(
            &format!("/public/requests/{id}/verify"),
            json!({"code": code}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["state"], "awaiting_approval", "approval by default");
    let mails = e.mail().await;
    assert_eq!(mails.len(), 1);
    assert!(
        mails[0].contains("Subject: Your request is confirmed"),
        "{}",
        mails[0]
    );

    let before = e.audit_records().await;
    let r = e
        .post(
            &format!("/public/requests/{id}/verify"),
            json!({"code": code}),
        )
        .await;
    assert_eq!(r.status, StatusCode::GONE);
    assert_eq!(r.json["type"], "urn:pledge:problem:code-used");
    assert_eq!(e.audit_records().await, before, "a refusal writes nothing");

    // The person's status page: with the token only, and no personal data.
    let r = e
        .call(
            Method::GET,
            &format!("/public/requests/{id}?token={status_token}"),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["state"], "awaiting_approval");
    let states: Vec<&str> = r.json["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["verifying", "verified", "awaiting_approval"]);
    assert!(!r.text.contains(LUIS));
    let r = e
        .call(
            Method::GET,
            // Another token: its first two characters changed (to ones it does not start with).
            &format!(
                "/public/requests/{id}?token={}{}",
                if status_token.starts_with("00") {
                    "11"
                } else {
                    "00"
                },
                &status_token[2..]
            ),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // Staff extend, then deny: the person is told each, with the reasons.
    let r = e
        .staff(
            &format!("/v1/requests/{id}/extend"),
            json!({"reason": "the archive must be searched by hand"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = e
        .staff(
            &format!("/v1/requests/{id}/deny"),
            json!({"reason": "the address is not in our records"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let mails = e.mail().await.join("\n").replace("=\n", "");
    assert!(
        !mails.is_empty(),
        "{:?}",
        e.state.store.outbox(&id).await.unwrap()
    );
    assert!(
        mails.contains("the archive must be searched by hand"),
        "{mails}"
    );
    assert!(
        mails.contains("the address is not in our records"),
        "{mails}"
    );
    assert!(mails.contains("supervisory authority"), "{mails}");
    let sent: Vec<String> = e
        .state
        .store
        .outbox(&id)
        .await
        .unwrap()
        .iter()
        .map(|m| format!("{} {}", m.event, m.state))
        .collect();
    assert_eq!(
        sent,
        [
            "verification sent",
            "verified sent",
            "extended sent",
            "denied sent"
        ]
    );
}

async fn expiry_and_attempts(e: &Env) {
    // Expired: refused, and the request stays where it was.
    let (id, code, _, status_token) = submit(e, "old@example.com").await;
    e.advance(30 * 60);
    let before = e.audit_records().await;
    let r = e
        .post(
            &format!("/public/requests/{id}/verify"),
            json!({"code": code}),
        )
        .await;
    assert_eq!(r.status, StatusCode::GONE, "{}", r.text);
    assert_eq!(r.json["type"], "urn:pledge:problem:code-expired");
    assert_eq!(e.state_of(&id).await, "verifying");
    assert_eq!(e.audit_records().await, before);

    // A new code, with the status token of the first message; the old one stops working.
    let resend_path = format!("/public/requests/{id}/resend");
    let resend = |token: String| e.post(&resend_path, json!({ "token": token }));
    // Another token: its first two digits changed (to `11` when they are `00`).
    let prefix = if status_token.starts_with("00") {
        "11"
    } else {
        "00"
    };
    let r = resend(format!("{prefix}{}", &status_token[2..])).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = resend(status_token.clone()).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let mails = e.mail().await;
    assert_eq!(mails.len(), 1);
    let (new_code, _, same_status) = secrets(&mails[0]);
    assert_eq!(same_status, status_token);
    assert!(mails[0].contains("for 30 minutes"), "{}", mails[0]);
    let r = e
        .post(
            &format!("/public/requests/{id}/verify"),
            json!({ "code": code }),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "the old code: {}",
        r.text
    );
    let r = e
        .post(
            &format!("/public/requests/{id}/verify"),
            json!({ "code": new_code }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = resend(status_token).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    e.mail().await;

    // Five wrong codes lock the code; then even the right one is refused.
    let (id, code, _, _) = submit(e, "guess@example.com").await;
    let wrong = if code == "12345678" {
        "87654321"
    } else {
        "12345678"
    };
    for left in (0..5).rev() {
        let r = e
            .post(
                &format!("/public/requests/{id}/verify"),
                json!({"code": wrong}),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            r.json["detail"]
                .as_str()
                .unwrap()
                .contains(&format!("{left} attempts left"))
        );
    }
    for c in [wrong, code.as_str()] {
        let r = e
            .post(&format!("/public/requests/{id}/verify"), json!({"code": c}))
            .await;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text);
        assert_eq!(r.json["type"], "urn:pledge:problem:too-many-attempts");
    }
    assert_eq!(e.state_of(&id).await, "verifying");

    // Purging removes spent and expired codes; an unknown code is then a 404.
    let purged = e
        .state
        .store
        .purge_expired_verifications(e.clock.load(Ordering::SeqCst) + 3600)
        .await
        .unwrap();
    assert!(
        purged >= 1,
        "this scenario's expired and exhausted codes: {purged}"
    );
    let r = e
        .post(
            &format!("/public/requests/{id}/verify"),
            json!({"code": code}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

async fn link(e: &Env) {
    let (id, _, link, _) = submit(e, "link@example.com").await;
    // Opening the link changes nothing: mail scanners open links.
    let r = e
        .call(
            Method::GET,
            &format!("/public/verify?token={link}"),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.text.contains("<form method=\"post\""), "{}", r.text);
    assert!(r.text.contains(&link));
    assert_eq!(e.state_of(&id).await, "verifying");
    let form = || Some(("application/x-www-form-urlencoded", format!("token={link}")));
    let r = e.call(Method::POST, "/public/verify", form(), &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(r.text.contains("Request confirmed"));
    assert_eq!(e.state_of(&id).await, "awaiting_approval");
    let r = e.call(Method::POST, "/public/verify", form(), &[]).await;
    assert_eq!(r.status, StatusCode::GONE);
    let r = e
        .call(
            Method::POST,
            "/public/verify",
            Some(("application/x-www-form-urlencoded", "token=nope".into())),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

async fn bad_input(e: &Env) {
    let before = e.audit_records().await;
    for (body, status) in [
        (json!({"kind": "access", "email": "not-an-address"}), 422),
        (json!({"kind": "access", "email": LUIS, "extra": 1}), 422),
        (json!({"kind": "teleport", "email": LUIS}), 422),
        (
            json!({"kind": "access", "email": LUIS, "identities": {"shoe_size": "44"}}),
            400,
        ),
        (
            json!({"kind": "access", "email": LUIS, "identities": {"email": LUIS}}),
            400,
        ),
        (
            json!({"kind": "access", "email": LUIS, "changes": {"address": "x"}}),
            422,
        ),
    ] {
        let r = e.post("/public/requests", body.clone()).await;
        assert_eq!(r.status.as_u16(), status, "{body}: {}", r.text);
        assert_eq!(
            r.headers[header::CONTENT_TYPE],
            "application/problem+json",
            "{body}"
        );
    }
    let r = e
        .call(
            Method::POST,
            "/public/requests",
            Some(("text/plain", "{}".into())),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(e.audit_records().await, before, "nothing written");
}

async fn delivery_failure(e: &Env) {
    let store = e.state.store.clone();
    e.mail().await; // what earlier steps left queued
    // An SMTP server that is not there: the message stays queued, retried later.
    let dead = Sender::new(&MailConfig {
        smtp_url: Some("smtp://127.0.0.1:1".into()),
        ..e.state.config.mail.clone()
    })
    .unwrap();
    let r = e
        .post(
            "/public/requests",
            json!({"kind": "erasure", "email": "late@example.com"}),
        )
        .await;
    let id = r.json["id"].as_str().unwrap().to_string();
    mail::drain_once(&e.state, &dead, &Context::of(&e.state))
        .await
        .unwrap();
    let m = &store.outbox(&id).await.unwrap()[0];
    assert_eq!((m.state.as_str(), m.attempts), ("queued", 1));
    assert!(m.error.as_deref().unwrap().starts_with("SMTP"), "{m:?}");
    // Not due again before its delay; due after it, and then delivered.
    assert!(e.mail().await.is_empty());
    e.advance(61);
    let mails = e.mail().await;
    assert_eq!(mails.len(), 1);
    assert_eq!(store.outbox(&id).await.unwrap()[0].state, "sent");
}

/// Runs one scenario on a fresh store of `backend`, with generous limits.
async fn run(
    backend: pledge_testkit::StoreBackend,
    test: &str,
    scenario: impl for<'a> FnOnce(&'a Env) -> pledge_testkit::Scenario<'a>,
) {
    let Some(url) = pledge_testkit::store_url(backend, test).await else {
        return;
    };
    let name = test.replace("::", "-");
    let e = env(&name, Store::open(&url).await.unwrap(), generous()).await;
    scenario(&e).await;
}

pledge_testkit::scenarios!(run; codes, expiry_and_attempts, link, bad_input, delivery_failure);

#[tokio::test(flavor = "multi_thread")]
async fn rate_limits_answer_429_with_retry_after() {
    let e = env(
        "limits",
        Store::open("sqlite::memory:").await.unwrap(),
        PublicConfig {
            intake_per_ip: Rate::per_hour(2, 60),
            intake_per_email: Rate::per_hour(1, 1),
            verify_per_ip: Rate::per_hour(1, 3600),
            client_ip_header: Some("x-forwarded-for".into()),
            ..generous()
        },
    )
    .await;
    let from = |ip: &'static str| [("x-forwarded-for", ip)];
    let body = |email: &str| {
        Some((
            "application/json",
            json!({"kind": "access", "email": email}).to_string(),
        ))
    };
    // Per client address: the proxy's last entry counts, not what the client claimed.
    for email in ["a@example.com", "b@example.com"] {
        let r = e
            .call(
                Method::POST,
                "/public/requests",
                body(email),
                &from("1.1.1.1, 10.0.0.1"),
            )
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    }
    let before = e.audit_records().await;
    let r = e
        .call(
            Method::POST,
            "/public/requests",
            body("c@example.com"),
            &from("9.9.9.9, 10.0.0.1"),
        )
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.json["type"], "urn:pledge:problem:rate-limited");
    assert_eq!(r.headers[header::RETRY_AFTER], "60");
    // Per e-mail address, from another client.
    let r = e
        .call(
            Method::POST,
            "/public/requests",
            body("a@example.com"),
            &from("10.0.0.2"),
        )
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers[header::RETRY_AFTER], "3600");
    assert_eq!(e.audit_records().await, before, "nothing written");
    // An hour later the address may send again.
    e.advance(3600);
    let r = e
        .call(
            Method::POST,
            "/public/requests",
            body("a@example.com"),
            &from("10.0.0.2"),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    // Code checks per client address.
    let path = format!("/public/requests/{}/verify", r.json["id"].as_str().unwrap());
    let code = || Some(("application/json", json!({"code": "00000000"}).to_string()));
    let first = e.call(Method::POST, &path, code(), &from("10.0.0.3")).await;
    assert_ne!(first.status, StatusCode::TOO_MANY_REQUESTS);
    let second = e.call(Method::POST, &path, code(), &from("10.0.0.3")).await;
    assert_eq!(second.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(second.headers.contains_key(header::RETRY_AFTER));
    let bearer = format!("Bearer {}", e.admin);
    let metrics = e
        .call(Method::GET, "/metrics", None, &[("authorization", &bearer)])
        .await
        .text;
    assert!(
        metrics.contains("pledge_rate_limited_total 3\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("pledge_verifications_failed_total 1\n"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_docs_page_and_the_openapi_document_show_the_public_endpoints() {
    let e = env(
        "docs",
        Store::open("sqlite::memory:").await.unwrap(),
        generous(),
    )
    .await;
    let r = e.call(Method::GET, "/docs", None, &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.text.contains("/v1/openapi.json"));
    assert!(!r.text.contains("https://"), "no external assets");
    let r = e.call(Method::GET, "/v1/openapi.json", None, &[]).await;
    for path in [
        "/public/requests",
        "/public/requests/{id}/verify",
        "/public/verify",
    ] {
        assert!(r.json["paths"][path].is_object(), "{path}");
    }
    assert_eq!(
        r.json["paths"]["/public/requests"]["post"]["security"],
        json!([{}])
    );
}

/// From the form to the data: a verified access request runs, and its completion message
/// carries a single-use download link; an opt-out needs no code at all.
#[tokio::test(flavor = "multi_thread")]
async fn the_completion_message_carries_a_single_use_download_link() {
    let public = PublicConfig {
        needs_approval: false,
        ..generous()
    };
    let e = env(
        "download",
        Store::open("sqlite::memory:").await.unwrap(),
        public,
    )
    .await;
    e.start_worker("worker:test");
    let wait_until_completed = |id: String| {
        let e = &e;
        async move { wait_for_state(e, &id, "completed").await }
    };
    let (id, code, _, _) = submit(&e, LUIS).await;
    let r = e
        .post(
            &format!("/public/requests/{id}/verify"),
            json!({"code": code}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    wait_until_completed(id.clone()).await;
    let mails = e
        .mail()
        .await
        .join("\n")
        .replace("=\n", "")
        .replace("=3D", "=");
    let marker = "https://privacy.example.com/public/exports/";
    let at = mails
        .find(marker)
        .unwrap_or_else(|| panic!("a link in {mails}"));
    let token: String = mails[at + marker.len()..]
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect();
    assert_eq!(token.len(), 64);
    let path = format!("/public/exports/{token}");
    // The link opens a page whose button downloads.
    let page = e.call(Method::GET, &path, None, &[]).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.text.contains(&format!("action=\"{path}\"")),
        "{}",
        page.text
    );
    let first = e.call(Method::POST, &path, None, &[]).await;
    assert_eq!(first.status, StatusCode::OK);
    assert!(first.text.starts_with("PK"), "a zip");
    let second = e.call(Method::POST, &path, None, &[]).await;
    assert_eq!(second.status, StatusCode::GONE, "{}", second.text);

    // An opt-out needs the address confirmed, and no approval; it acts on the person the
    // address belongs to (customer 1, `customer-1` in the ledger).
    let r = e
        .post(
            "/public/requests",
            json!({"kind": "opt_out", "email": LUIS, "jurisdiction": "US-CA"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    assert_eq!(r.json["state"], "verifying");
    let id = r.json["id"].as_str().unwrap().to_string();
    let (code, _, _) = secrets(&e.mail().await[0]);
    let r = e
        .post(
            &format!("/public/requests/{id}/verify"),
            json!({"code": code}),
        )
        .await;
    assert_eq!(r.json["state"], "in_progress", "{}", r.text);
    wait_until_completed(id).await;
    let subject = "customer-1".parse().unwrap();
    assert!(e.state.consent.current(&subject).opted_out_since.is_some());
    // An address the ledger does not know is not written into it.
    let stranger = format!("{LUIS}x").parse().unwrap();
    assert!(!e.state.consent.knows(&stranger));
}

async fn wait_for_state(e: &Env, id: &str, state: &str) {
    pledge_testkit::until(
        &format!("request {id} becomes {state}"),
        std::time::Duration::from_secs(10),
        e.state.progress(),
        || async { (e.state_of(id).await == state).then_some(()) },
    )
    .await;
}

async fn give_consent(e: &Env, subject: &str) {
    use pledge_domain::consent::{Action, ConsentState, Method as How, Target};
    e.state
        .consent
        .record_actions(
            &subject.parse().unwrap(),
            vec![Action::Consent {
                target: Target::Purpose("newsletter".parse().unwrap()),
                state: ConsentState::Given,
            }],
            How::Api,
            "test",
        )
        .await
        .unwrap();
}

fn newsletter(e: &Env, subject: &str) -> String {
    let query = pledge_domain::consent::Query {
        target: pledge_domain::consent::Target::Purpose("newsletter".parse().unwrap()),
        categories: Vec::new(),
    };
    let decision = e.state.consent.decide(&subject.parse().unwrap(), &query);
    serde_json::to_value(decision.reason).unwrap()["code"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The attacks of the security review, replayed: the public names someone else's ids next
/// to an address it can confirm. Every one is refused at intake, writes nothing and sends
/// nothing; the person behind an address is found from the address alone.
#[tokio::test(flavor = "multi_thread")]
async fn the_public_acts_only_on_the_address_it_proves() {
    let public = PublicConfig {
        needs_approval: false,
        ..generous()
    };
    let e = env(
        "proof",
        Store::open("sqlite::memory:").await.unwrap(),
        public,
    )
    .await;
    e.start_worker("worker:test");
    let attacker = "me@attacker.example";
    let before = e.audit_records().await;
    for body in [
        // The export of customer 10, mailed to the attacker.
        json!({"kind": "access", "email": attacker, "identities": {"customer_id": "10"}}),
        // An employee's record, birth date included.
        json!({"kind": "portability", "email": attacker, "identities": {"employee_id": "1"}}),
        // Customer 12's address rewritten to the attacker's.
        json!({"kind": "rectification", "email": attacker, "identities": {"customer_id": "12"}, "changes": {"email": attacker}}),
        // Someone else's consent withdrawn, with no key.
        json!({"kind": "withdraw_consent", "email": attacker, "identities": {"customer_id": "user-777"}}),
        json!({"kind": "opt_out", "email": attacker, "identities": {"customer_id": "user-777"}}),
    ] {
        let r = e.post("/public/requests", body.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.text);
        assert_eq!(
            r.json["type"], "urn:pledge:problem:unproven-identity",
            "{body}"
        );
        assert!(
            r.json["detail"].as_str().unwrap().contains("customer_id")
                || r.json["detail"].as_str().unwrap().contains("employee_id"),
            "{}",
            r.text
        );
    }
    assert_eq!(e.audit_records().await, before, "nothing written");
    assert!(e.mail().await.is_empty(), "nothing sent");
    let chinook = e.state.config.connections[0].1.clone();
    let mut db = Database::connect(None, &chinook).await.unwrap();
    let rows = db
        .query("SELECT email FROM customer WHERE customer_id = 12")
        .await
        .unwrap();
    db.close().await;
    assert_eq!(
        rows[0][0],
        pledge_plan::Value::Text("roberto.almeida@riotur.gov.br".into())
    );

    // A withdrawal for someone else's address does nothing until that address confirms it.
    give_consent(&e, "user-777").await;
    give_consent(&e, "customer-1").await;
    let r = e
        .post(
            "/public/requests",
            json!({"kind": "withdraw_consent", "email": LUIS}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    assert_eq!(
        r.json["state"], "verifying",
        "the address confirms it first"
    );
    let id = r.json["id"].as_str().unwrap().to_string();
    // Nothing is queued for an address that has not confirmed: no worker can act on it.
    assert_eq!(e.state.store.job_status(&id).await.unwrap(), None);
    assert_eq!(newsletter(&e, "customer-1"), "consent_given");
    assert_eq!(newsletter(&e, "user-777"), "consent_given");

    // Confirmed: the request acts on the person the address belongs to in the dataset
    // (customer 1, whom the application knows as `customer-1`), says so in its result and
    // in the message, and leaves everyone else alone.
    let mails = e.mail().await;
    let (code, _, _) = secrets(&mails[0]);
    let r = e
        .post(
            &format!("/public/requests/{id}/verify"),
            json!({"code": code}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    wait_for_state(&e, &id, "completed").await;
    assert_eq!(newsletter(&e, "customer-1"), "consent_withdrawn");
    assert_eq!(newsletter(&e, "user-777"), "consent_given");
    let done = e.state.store.get_request(&id).await.unwrap();
    let result = done.result.unwrap();
    let ledger = result["ledger"].as_array().unwrap();
    assert_eq!(ledger.len(), 1, "{result}");
    assert_eq!(ledger[0]["subject"], "customer-1", "{result}");
    assert_eq!(ledger[0]["found_on"], "chinook.customer", "{result}");
    assert_eq!(ledger[0]["events"][0]["state"], "withdrawn", "{result}");
    let mails = e
        .mail()
        .await
        .join("\n")
        .replace("=\n", "")
        .replace("=3D", "=");
    assert!(mails.contains("We have finished your request"), "{mails}");
    assert!(
        mails.contains("consent withdrawn: New releases newsletter"),
        "{mails}"
    );

    // Staff see how each identity was proved.
    let r = e
        .call(
            Method::GET,
            &format!("/v1/requests/{id}"),
            None,
            &[("authorization", &format!("Bearer {}", e.admin))],
        )
        .await;
    assert_eq!(
        r.json["proved_by"],
        json!({"email": "email_code"}),
        "{}",
        r.text
    );
    let r = e
        .staff(
            "/v1/requests",
            json!({"kind": "access", "identities": {"customer_id": "10"}, "needs_approval": true}),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "staff may name any id: {}",
        r.text
    );
    assert_eq!(
        r.json["proved_by"],
        json!({"customer_id": "staff"}),
        "{}",
        r.text
    );
}

/// A public access request finds the person by the confirmed address alone; the other ids
/// of that person's row (the customer id) come from the row, and the approver sees them.
#[tokio::test(flavor = "multi_thread")]
async fn the_approver_sees_what_the_address_resolved_to() {
    let e = env(
        "resolve",
        Store::open("sqlite::memory:").await.unwrap(),
        generous(),
    )
    .await;
    let (id, code, _, _) = submit(&e, LUIS).await;
    let r = e
        .post(
            &format!("/public/requests/{id}/verify"),
            json!({"code": code}),
        )
        .await;
    assert_eq!(r.json["state"], "awaiting_approval", "{}", r.text);
    let r = e
        .call(
            Method::GET,
            &format!("/v1/requests/{id}/plan"),
            None,
            &[("authorization", &format!("Bearer {}", e.admin))],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let identities = &r.json["plan"]["identities"];
    assert_eq!(
        identities,
        &json!([
            {"kind": "email", "value": LUIS, "proved_by": "email_code"},
            {"kind": "customer_id", "value": "1", "found_on": "chinook.customer"},
        ]),
        "{}",
        r.text
    );
}

/// A table anyone writes to (support tickets: an address and the customer number the sender
/// claims) pairs the attacker's address with customer 10's id. It declares no `subject`, so
/// the id is not taken from it: the attacker's confirmed request reaches their own ticket,
/// never customer 10.
#[tokio::test(flavor = "multi_thread")]
async fn ids_are_taken_only_from_tables_of_people() {
    let attacker = "me@attacker.example";
    let e = env_with(
        "tickets",
        Store::open("sqlite::memory:").await.unwrap(),
        PublicConfig {
            needs_approval: false,
            ..generous()
        },
        &format!(
            "CREATE TABLE ticket (ticket_id INTEGER PRIMARY KEY, email TEXT NOT NULL, customer_id INTEGER, body TEXT);\n\
             INSERT INTO ticket VALUES (1, '{attacker}', 10, 'I am customer 10, send me my data');"
        ),
        r#"
[[datasets.tables]]
name = "ticket"
identity = { email = "email", customer_id = "customer_id" }
columns = { email = "contact.email", body = "communication.message" }
"#,
    )
    .await;
    e.start_worker("worker:test");
    let (id, code, _, _) = submit(&e, attacker).await;
    let r = e
        .post(
            &format!("/public/requests/{id}/verify"),
            json!({"code": code}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    wait_for_state(&e, &id, "completed").await;
    let result = e
        .state
        .store
        .get_request(&id)
        .await
        .unwrap()
        .result
        .unwrap();
    assert_eq!(
        result["identities"],
        json!([{"kind": "email", "value": attacker, "proved_by": "email_code"}]),
        "{result}"
    );
    let rows = |table: &str| -> u64 {
        result["datasets"][0]["steps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["table"] == table)
            .map(|s| s["rows"].as_u64().unwrap())
            .sum()
    };
    assert_eq!(rows("ticket"), 1, "{result}");
    assert_eq!(rows("customer"), 0, "customer 10 is not reached: {result}");
    assert_eq!(rows("invoice"), 0, "{result}");
}

const FORM: &str = "application/x-www-form-urlencoded";

/// The id in a page's code form (`action="/public/requests/{id}/verify"`).
fn form_request_id(html: &str) -> String {
    let marker = "action=\"/public/requests/";
    let at = html
        .find(marker)
        .unwrap_or_else(|| panic!("a code form in {html}"));
    let rest = &html[at + marker.len()..];
    rest[..rest.find("/verify\"").expect("the verify action")].to_string()
}

/// A company's own page posts a plain HTML form: the answer is a page saying what happens
/// next (with a field for the code), and the request is in the store, waiting for the code.
/// The code typed into that field, posted as the browser posts it, confirms the request.
#[tokio::test(flavor = "multi_thread")]
async fn a_form_post_is_answered_with_a_page_and_its_code_form_verifies() {
    let e = env(
        "form",
        Store::open("sqlite::memory:").await.unwrap(),
        generous(),
    )
    .await;
    let r = e
        .call(
            Method::POST,
            "/public/requests",
            Some((
                FORM,
                format!(
                    "kind=access&email={}&jurisdiction=",
                    LUIS.replace('@', "%40")
                ),
            )),
            &[("accept", "text/html")],
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    assert!(
        r.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(r.headers.contains_key(header::CONTENT_SECURITY_POLICY));
    assert_eq!(r.headers[header::CACHE_CONTROL], "no-store");
    assert!(r.text.contains("Check your e-mail"), "{}", r.text);
    assert!(r.text.contains(LUIS), "{}", r.text);
    let id = form_request_id(&r.text);
    assert_eq!(e.state_of(&id).await, "verifying");
    let stored = e.state.store.get_request(&id).await.unwrap();
    assert_eq!(stored.kind.as_str(), "access");
    let mails = e.mail().await;
    assert_eq!(mails.len(), 1, "{mails:?}");
    let (code, _, _) = secrets(&mails[0]);
    // The message names the page to type the code on.
    let unfolded = mails[0].replace("=\n", "").replace("=3D", "=");
    let code_url = format!("https://privacy.example.com/public/requests/{id}/code");
    assert!(unfolded.contains(&code_url), "{unfolded}");

    // The code page: a plain form to the verification endpoint, no script.
    let page = e
        .call(
            Method::GET,
            &format!("/public/requests/{id}/code"),
            None,
            &[],
        )
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.text.contains("<script"), "{}", page.text);
    assert_eq!(form_request_id(&page.text), id);
    assert!(page.text.contains("name=\"code\""), "{}", page.text);
    let odd = e
        .call(Method::GET, "/public/requests/..%2Fx/code", None, &[])
        .await;
    assert_eq!(odd.status, StatusCode::NOT_FOUND);

    // A wrong code: a page saying so, with the form again.
    let wrong = if code == "00000000" {
        "11111111"
    } else {
        "00000000"
    };
    let r = e
        .call(
            Method::POST,
            &format!("/public/requests/{id}/verify"),
            Some((FORM, format!("code={wrong}"))),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    assert!(r.text.starts_with("<!doctype html>"), "{}", r.text);
    assert_eq!(form_request_id(&r.text), id);
    // The right one, typed in two groups as people do.
    let typed = format!("{} {}", &code[..4], &code[4..]);
    let r = e
        .call(
            Method::POST,
            &format!("/public/requests/{id}/verify"),
            Some((FORM, format!("code={}", typed.replace(' ', "+")))),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(r.text.contains("Request confirmed"), "{}", r.text);
    assert_eq!(e.state_of(&id).await, "awaiting_approval");

    // A form's mistakes are answered with pages too: an unknown field, another identity.
    for (body, status) in [
        (
            format!("kind=access&email={LUIS}&customer_id=1"),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            format!("kind=access&email={LUIS}&identities%5Bcustomer_id%5D=1"),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let r = e
            .call(Method::POST, "/public/requests", Some((FORM, body)), &[])
            .await;
        assert_eq!(r.status, status, "{}", r.text);
        assert!(r.text.starts_with("<!doctype html>"), "{}", r.text);
    }
    // JSON is answered as before.
    let r = e
        .post("/public/requests", json!({"kind": "access", "email": LUIS}))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert_eq!(r.json["state"], "verifying");
}

/// A page's script on an allowed origin may call intake (CORS); another origin's preflight
/// is refused, and no origin is allowed unless configured.
#[tokio::test(flavor = "multi_thread")]
async fn cors_is_answered_for_the_allowed_origins_only() {
    let shop = "https://shop.example";
    let e = env(
        "cors",
        Store::open("sqlite::memory:").await.unwrap(),
        PublicConfig {
            origins: vec![shop.into()],
            ..generous()
        },
    )
    .await;
    let preflight = |origin: &'static str| {
        [
            ("origin", origin),
            ("access-control-request-method", "POST"),
            ("access-control-request-headers", "content-type"),
        ]
    };
    let r = e
        .call(Method::OPTIONS, "/public/requests", None, &preflight(shop))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    assert_eq!(r.headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], shop);
    assert!(
        r.headers[header::ACCESS_CONTROL_ALLOW_METHODS]
            .to_str()
            .unwrap()
            .contains("POST")
    );
    assert!(
        r.headers[header::ACCESS_CONTROL_ALLOW_HEADERS]
            .to_str()
            .unwrap()
            .contains("content-type")
    );
    assert!(
        !r.headers
            .contains_key(header::ACCESS_CONTROL_ALLOW_CREDENTIALS)
    );
    let r = e
        .call(
            Method::OPTIONS,
            "/public/requests/req_x/verify",
            None,
            &preflight(shop),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);

    let r = e
        .call(
            Method::OPTIONS,
            "/public/requests",
            None,
            &preflight("https://elsewhere.example"),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    assert!(!r.headers.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN));

    // The real call: the allowed origin may read the answer, another may not.
    let body = || {
        Some((
            "application/json",
            json!({"kind": "access", "email": LUIS}).to_string(),
        ))
    };
    let r = e
        .call(
            Method::POST,
            "/public/requests",
            body(),
            &[("origin", shop)],
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    assert_eq!(r.headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], shop);
    assert!(
        r.headers
            .get_all(header::VARY)
            .iter()
            .any(|v| v.to_str().unwrap().contains("Origin"))
    );
    let r = e
        .call(
            Method::POST,
            "/public/requests",
            body(),
            &[("origin", "https://elsewhere.example")],
        )
        .await;
    assert!(!r.headers.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN));

    // By default no origin is allowed.
    let closed = env(
        "cors-default",
        Store::open("sqlite::memory:").await.unwrap(),
        generous(),
    )
    .await;
    let r = closed
        .call(Method::OPTIONS, "/public/requests", None, &preflight(shop))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(!r.headers.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN));
}

/// The status link in the message opens a page in a browser, and stays JSON for others.
#[tokio::test(flavor = "multi_thread")]
async fn the_status_link_is_a_page_for_a_browser_and_json_otherwise() {
    let e = env(
        "status-page",
        Store::open("sqlite::memory:").await.unwrap(),
        generous(),
    )
    .await;
    let (id, _, _, token) = submit(&e, LUIS).await;
    let path = format!("/public/requests/{id}?token={token}");
    let browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
    let r = e
        .call(Method::GET, &path, None, &[("accept", browser)])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(
        r.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(r.text.contains("Your request"), "{}", r.text);
    assert!(
        r.text.contains("Waiting for you to confirm it"),
        "{}",
        r.text
    );
    assert!(
        r.text.contains(&format!("/public/requests/{id}/code")),
        "{}",
        r.text
    );
    assert!(!r.text.contains(LUIS), "no personal data on the page");
    assert!(
        r.headers
            .get_all(header::VARY)
            .iter()
            .any(|v| v.to_str().unwrap().contains("Accept"))
    );
    for accept in [None, Some("application/json"), Some("*/*")] {
        let headers: Vec<(&str, &str)> = accept.map(|a| ("accept", a)).into_iter().collect();
        let r = e.call(Method::GET, &path, None, &headers).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.json["state"], "verifying", "{accept:?}: {}", r.text);
    }
    // A wrong token: a page for the browser, a problem for others.
    let wrong = format!("/public/requests/{id}?token=nope");
    let r = e
        .call(Method::GET, &wrong, None, &[("accept", browser)])
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.text.starts_with("<!doctype html>"), "{}", r.text);
    let r = e.call(Method::GET, &wrong, None, &[]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.json["status"], 404, "{}", r.text);
}

/// `/` leads to the person's page: the privacy center where public intake is on, else the
/// privacy notice the declaration publishes.
#[tokio::test(flavor = "multi_thread")]
async fn the_root_redirects_to_the_privacy_center_or_the_notice() {
    let e = env(
        "root",
        Store::open("sqlite::memory:").await.unwrap(),
        generous(),
    )
    .await;
    let r = e.call(Method::GET, "/", None, &[]).await;
    assert_eq!(r.status, StatusCode::TEMPORARY_REDIRECT, "{}", r.text);
    assert_eq!(r.headers[header::LOCATION], "/privacy");
    let e = env(
        "root-off",
        Store::open("sqlite::memory:").await.unwrap(),
        PublicConfig {
            enabled: false,
            ..generous()
        },
    )
    .await;
    let r = e.call(Method::GET, "/", None, &[]).await;
    assert_eq!(
        r.headers[header::LOCATION],
        "https://www.chinookcorp.com/privacy"
    );
    let r = e.call(Method::GET, "/privacy", None, &[]).await;
    assert_eq!(
        r.status,
        StatusCode::NOT_FOUND,
        "no intake, no privacy center"
    );
}

/// The privacy center is one page with no script: a form for every kind of request the
/// declaration's laws give, where the person lives, the correct values of the declared
/// columns for a correction, the company's name and accent colour, a link to the notice.
#[tokio::test(flavor = "multi_thread")]
async fn the_privacy_center_offers_every_kind_of_request_the_laws_give() {
    let e = env(
        "center",
        Store::open("sqlite::memory:").await.unwrap(),
        PublicConfig {
            accent_color: Some("#1a5fb4".into()),
            ..generous()
        },
    )
    .await;
    let r = e.call(Method::GET, "/privacy", None, &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let page = &r.text;
    assert!(page.contains("Your privacy with Chinook"), "{page}");
    assert!(page.contains("<form method=\"post\" action=\"/public/requests\">"));
    assert!(!page.contains("<script"), "no script");
    let kinds: Vec<&str> = page
        .split("name=\"kind\" value=\"")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap())
        .collect();
    // Chinook declares the GDPR alone: its rights, no CCPA opt-out, no place the CCPA
    // covers, and no law named beside a kind (they all come from the one law).
    assert_eq!(
        kinds,
        [
            "access",
            "portability",
            "rectification",
            "erasure",
            "restriction",
            "objection",
            "withdraw_consent"
        ]
    );
    assert!(!page.contains("California"));
    assert!(!page.contains("Where the GDPR applies"));
    assert!(page.contains("<option value=\"GB\">The United Kingdom</option>"));
    assert!(page.contains("name=\"changes["), "the columns to correct");
    assert!(page.contains("background: #1a5fb4"), "the accent colour");
    assert!(page.contains("href=\"https://www.chinookcorp.com/privacy\""));
}

/// What the privacy center's form sends is a request of the kind and law the person chose:
/// a correction from California, with a correct value, waits for the code.
#[tokio::test(flavor = "multi_thread")]
async fn the_privacy_center_form_sends_a_request_under_the_chosen_law() {
    let e = env(
        "center-post",
        Store::open("sqlite::memory:").await.unwrap(),
        generous(),
    )
    .await;
    let page = e.call(Method::GET, "/privacy", None, &[]).await.text;
    let column = page
        .split("name=\"changes[")
        .nth(1)
        .and_then(|rest| rest.split(']').next())
        .expect("a column to correct")
        .to_string();
    let body = format!(
        "kind=rectification&jurisdiction=US-CA&changes%5B{column}%5D=Ana+Lopes&email=ana%40example.com"
    );
    let r = e
        .call(Method::POST, "/public/requests", Some((FORM, body)), &[])
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    assert!(r.text.contains("Check your e-mail"), "{}", r.text);
    let id = r
        .text
        .split("action=\"/public/requests/")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .expect("the code form names the request")
        .to_string();
    let record = e.state.store.get_request(&id).await.unwrap();
    assert_eq!(record.kind.as_str(), "rectification");
    assert_eq!(record.regime.as_str(), "ccpa");
    assert_eq!(record.state.as_str(), "verifying");
}

/// What a mail scanner sends (`HEAD`, or a `GET`, which shows the page) and a browser's
/// prefetch do not spend a single-use download link: the button's download after them gets
/// the export.
#[tokio::test(flavor = "multi_thread")]
async fn a_head_does_not_spend_a_download_link() {
    let e = env(
        "head",
        Store::open("sqlite::memory:").await.unwrap(),
        PublicConfig {
            needs_approval: false,
            ..generous()
        },
    )
    .await;
    e.start_worker("worker:test");
    let (id, code, _, _) = submit(&e, LUIS).await;
    let r = e
        .post(
            &format!("/public/requests/{id}/verify"),
            json!({"code": code}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    wait_for_state(&e, &id, "completed").await;
    let mails = e
        .mail()
        .await
        .join("\n")
        .replace("=\n", "")
        .replace("=3D", "=");
    let marker = "https://privacy.example.com/public/exports/";
    let at = mails
        .find(marker)
        .unwrap_or_else(|| panic!("a link in {mails}"));
    let token: String = mails[at + marker.len()..]
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect();
    let path = format!("/public/exports/{token}");
    for _ in 0..2 {
        let head = e.call(Method::HEAD, &path, None, &[]).await;
        assert_eq!(head.status, StatusCode::OK, "{}", head.text);
        assert!(head.text.is_empty());
        // A mail scanner that GETs the link gets the page, not the export.
        let page = e.call(Method::GET, &path, None, &[]).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        assert!(
            page.headers[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
    }
    let prefetch = e
        .call(Method::POST, &path, None, &[("sec-purpose", "prefetch")])
        .await;
    assert_eq!(prefetch.status, StatusCode::OK);
    assert!(prefetch.text.is_empty(), "a prefetch gets no export");
    let download = e.call(Method::POST, &path, None, &[]).await;
    assert_eq!(download.status, StatusCode::OK, "{}", download.text);
    assert!(download.text.starts_with("PK"), "a zip");
    // Spent now: a look says so too, and a second download is refused.
    let head = e.call(Method::HEAD, &path, None, &[]).await;
    assert_eq!(head.status, StatusCode::GONE);
    let again = e.call(Method::POST, &path, None, &[]).await;
    assert_eq!(again.status, StatusCode::GONE);
    // An unknown link is unknown to a look too.
    let unknown = format!("/public/exports/{}", "0".repeat(64));
    assert_eq!(
        e.call(Method::HEAD, &unknown, None, &[]).await.status,
        StatusCode::NOT_FOUND
    );
}

/// The company's logo from the configuration is on the person's pages, served from the
/// server itself (the pages load nothing from elsewhere) with a policy that keeps an SVG
/// from running anything; with none configured there is no image and no route to one.
#[tokio::test(flavor = "multi_thread")]
async fn the_person_s_pages_show_the_company_s_logo() {
    let png = [b"\x89PNG\r\n\x1a\n".as_slice(), &[0; 32]].concat();
    let e = env(
        "logo",
        Store::open("sqlite::memory:").await.unwrap(),
        PublicConfig {
            logo: Some(pledge_server::Logo::new(png.clone()).unwrap()),
            accent_color: Some("#0b5cad".into()),
            ..generous()
        },
    )
    .await;
    let page = e.call(Method::GET, "/privacy", None, &[]).await;
    assert!(
        page.text
            .contains("<img src=\"/privacy/logo\" alt=\"Chinook"),
        "{}",
        page.text
    );
    assert!(page.text.contains("background: #0b5cad"));
    let csp = page.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert!(csp.contains("img-src 'self'"), "{csp}");
    let code = e
        .call(Method::GET, "/public/requests/req_x/code", None, &[])
        .await;
    assert!(
        code.text.contains("/privacy/logo"),
        "every page of the person"
    );
    let logo = e.call(Method::GET, "/privacy/logo", None, &[]).await;
    assert_eq!(logo.status, StatusCode::OK);
    assert_eq!(logo.headers[header::CONTENT_TYPE], "image/png");
    assert!(
        logo.headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .contains("sandbox")
    );
    let none = env(
        "no-logo",
        Store::open("sqlite::memory:").await.unwrap(),
        generous(),
    )
    .await;
    assert!(
        !none
            .call(Method::GET, "/privacy", None, &[])
            .await
            .text
            .contains("<img")
    );
    assert_eq!(
        none.call(Method::GET, "/privacy/logo", None, &[])
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert!(
        pledge_server::Logo::new(b"GIF89a".to_vec()).is_err(),
        "not a kind we serve"
    );
    assert!(
        pledge_server::Logo::new(vec![0x89; 300_000]).is_err(),
        "too large"
    );
}

/// The privacy center speaks the language the browser asks for first among those it has
/// (`Accept-Language`, by q-value), says so in `<html lang>` and `Content-Language`, offers
/// the others as plain links, and sends its language with the form.
#[tokio::test(flavor = "multi_thread")]
async fn the_privacy_center_is_in_danish_for_a_danish_browser() {
    let e = env(
        "center-da",
        Store::open("sqlite::memory:").await.unwrap(),
        generous(),
    )
    .await;
    let r = e
        .call(
            Method::GET,
            "/privacy",
            None,
            &[("accept-language", "de;q=0.9, da-DK, en;q=0.5")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let page = &r.text;
    assert!(page.contains("<html lang=\"da\">"), "{page}");
    assert_eq!(r.headers[header::CONTENT_LANGUAGE], "da");
    assert!(
        r.headers
            .get_all(header::VARY)
            .iter()
            .any(|v| v.to_str().unwrap().contains("Accept-Language")),
        "{:?}",
        r.headers
    );
    assert!(
        r.headers.get(header::SET_COOKIE).is_none(),
        "no cookie without a choice"
    );
    assert!(
        page.contains("<h1>Dit privatliv hos Chinook Music ApS</h1>"),
        "{page}"
    );
    assert!(page.contains("Ret mine oplysninger"), "{page}");
    assert!(page.contains("ret til dataportabilitet"), "{page}");
    assert!(page.contains("<option value=\"GB\">Storbritannien</option>"));
    assert!(page.contains("Send min anmodning"));
    assert!(page.contains(">Privatlivspolitik</a>"));
    assert!(page.contains("<input type=\"hidden\" name=\"language\" value=\"da\">"));
    // The switcher: each language by its own name, the current one marked.
    assert!(
        page.contains("<a href=\"/privacy?lang=fr\" lang=\"fr\" hreflang=\"fr\">Français</a>"),
        "{page}"
    );
    assert!(
        page.contains(
            "<a href=\"/privacy?lang=da\" lang=\"da\" hreflang=\"da\" aria-current=\"true\">Dansk</a>"
        ),
        "{page}"
    );
    assert!(!page.contains("<script"), "no script");
    // No language it has: the default one (English here).
    let r = e
        .call(
            Method::GET,
            "/privacy",
            None,
            &[("accept-language", "de, *;q=0.1")],
        )
        .await;
    assert!(r.text.contains("<html lang=\"en\">"), "{}", r.text);
}

/// `?lang=` wins over the browser's languages, and is kept in a cookie (the person's choice,
/// for their next pages); an unknown one is ignored.
#[tokio::test(flavor = "multi_thread")]
async fn the_privacy_center_is_in_french_by_choice_and_stays_so() {
    let e = env(
        "center-fr",
        Store::open("sqlite::memory:").await.unwrap(),
        generous(),
    )
    .await;
    let danish = [("accept-language", "da")];
    let r = e.call(Method::GET, "/privacy?lang=fr", None, &danish).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(r.text.contains("<html lang=\"fr\">"), "{}", r.text);
    assert!(
        r.text
            .contains("<h1>Vos données personnelles chez Chinook Music ApS</h1>"),
        "{}",
        r.text
    );
    assert!(r.text.contains("Effacer mes données"));
    assert!(
        r.text.contains("(droit à l&#39;effacement)") || r.text.contains("effacement)"),
        "{}",
        r.text
    );
    assert!(
        r.text.contains("Que souhaitez-vous faire\u{a0}?"),
        "{}",
        r.text
    );
    let cookie = r.headers[header::SET_COOKIE].to_str().unwrap().to_string();
    assert!(cookie.starts_with("pledge_lang=fr;"), "{cookie}");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"));
    assert!(
        cookie.contains("; Secure"),
        "the server is reached over HTTPS: {cookie}"
    );
    // The cookie comes back: French, whatever the browser prefers.
    let r = e
        .call(
            Method::GET,
            "/privacy",
            None,
            &[("accept-language", "da"), ("cookie", "pledge_lang=fr")],
        )
        .await;
    assert!(r.text.contains("<html lang=\"fr\">"), "{}", r.text);
    assert!(r.headers.get(header::SET_COOKIE).is_none());
    // A language it does not have is no choice.
    let r = e.call(Method::GET, "/privacy?lang=xx", None, &danish).await;
    assert!(r.text.contains("<html lang=\"da\">"), "{}", r.text);
}

/// A request sent from the French privacy center is answered in French, keeps its language,
/// and its messages and pages are in French: the code mail (with links that open the pages
/// in French) and the status page. JSON intake names a language with `language`.
#[tokio::test(flavor = "multi_thread")]
async fn a_french_request_gets_its_mail_in_french() {
    let e = env(
        "center-fr-mail",
        Store::open("sqlite::memory:").await.unwrap(),
        generous(),
    )
    .await;
    let body = "language=fr&kind=erasure&jurisdiction=EU&email=ana%40example.com";
    let r = e
        .call(
            Method::POST,
            "/public/requests",
            Some((FORM, body.into())),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    assert!(r.text.contains("<html lang=\"fr\">"), "{}", r.text);
    assert!(
        r.text.contains("<h1>Consultez vos e-mails</h1>"),
        "{}",
        r.text
    );
    assert!(
        r.text.contains("<strong>ana@example.com</strong>"),
        "{}",
        r.text
    );
    let id = form_request_id(&r.text);
    let record = e.state.store.get_request(&id).await.unwrap();
    assert_eq!(record.language.as_deref(), Some("fr"));

    let messages = e
        .state
        .store
        .claim_messages(10, 60, e.state.now())
        .await
        .unwrap();
    assert_eq!(messages.len(), 1);
    let m = &messages[0];
    let mail = mail::render(m.event, &m.data, &Context::of(&e.state)).unwrap();
    assert_eq!(
        mail.subject,
        "Veuillez confirmer votre demande à Chinook Music ApS"
    );
    let day = |unix: i64| pledge_server::i18n::date("fr", unix);
    for said in [
        "Bonjour,".to_string(),
        format!(
            "Le {}, quelqu'un a utilisé cette adresse e-mail pour adresser à Chinook Music ApS une demande d'effacement de vos données personnelles.",
            day(record.received_at)
        ),
        "Votre code\u{a0}: ".to_string(),
        format!("/public/requests/{id}/code?lang=fr"),
        format!("nous répondrons au plus tard le {}.", day(record.due_at)),
        format!("Référence\u{a0}: {id}"),
    ] {
        assert!(mail.body.contains(&said), "{said:?} in\n{}", mail.body);
    }
    assert!(
        [
            "décembre",
            "janvier",
            "février",
            "mars",
            "avril",
            "mai",
            "juin",
            "juillet",
            "août",
            "septembre",
            "octobre",
            "novembre"
        ]
        .iter()
        .any(|month| mail.body.contains(month)),
        "a date in French words:\n{}",
        mail.body
    );
    // The status link of the mail opens the page in French.
    let status_token = m.data["status_token"].as_str().unwrap();
    let status = format!("/public/requests/{id}?token={status_token}&lang=fr");
    assert!(mail.body.contains(&status), "{}", mail.body);
    let r = e
        .call(Method::GET, &status, None, &[("accept", "text/html")])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(r.text.contains("<h1>Votre demande</h1>"), "{}", r.text);
    assert!(
        r.text.contains("En attente de votre confirmation"),
        "{}",
        r.text
    );

    // JSON intake: `language`, a tag it reads (`da-DK` is Danish), or a clear refusal.
    let r = e
        .post(
            "/public/requests",
            json!({"kind": "access", "email": "bo@example.com", "language": "da-DK"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let id = r.json["id"].as_str().unwrap();
    let record = e.state.store.get_request(id).await.unwrap();
    assert_eq!(record.language.as_deref(), Some("da"));
    let r = e
        .post(
            "/public/requests",
            json!({"kind": "access", "email": "bo@example.com", "language": "xx"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    assert!(r.text.contains("`language`"), "{}", r.text);
}
