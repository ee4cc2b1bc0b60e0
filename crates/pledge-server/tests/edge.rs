//! Limits at the edge and the holes a hostile caller looks for, each reproduced as the attack
//! or fault it guards against: half-sent requests and slow bodies (timeouts), a flood of
//! connections (the cap), addresses rotated within an IPv6 /64 (rate limits), the store
//! going away (decisions from memory, no internals in answers), `/metrics` without a key,
//! service keys beyond their role, pages without a security policy.
//!
//! The listener tests run the real accept loop on loopback; the others call the router. The
//! store-outage test runs on PostgreSQL behind a small TCP relay of our own that can be made
//! to swallow traffic, which is what a store that went away looks like to the server.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use pledge_server::http::ratelimit::Rate;
use pledge_server::{AppState, Config, EdgeConfig, PublicConfig, router, serve_connections};
use pledge_store::{Role, Store};
use serde_json::{Value as Json, json};
use std::net::SocketAddr;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt;

mod common;
use common::TestApp;

/// A state on `store` with the Chinook declaration and one key of each role, from the
/// harness (no worker); the tests serve it themselves, through the router or the accept
/// loop with an edge configuration of their own.
async fn make_state(store: Store, config: Config) -> (AppState, Vec<(Role, String)>) {
    static STATES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = STATES.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let app = TestApp::builder(&format!("edge-{n}"))
        .store(store)
        .config(config)
        .without_worker()
        .spawn()
        .await;
    (app.state.clone(), app.keys.clone())
}

fn key(keys: &[(Role, String)], role: Role) -> &str {
    &keys.iter().find(|(r, _)| *r == role).unwrap().1
}

struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    json: Json,
    text: String,
}

async fn call(
    app: &axum::Router,
    method: Method,
    path: &str,
    key: Option<&str>,
    body: Option<Json>,
    headers: &[(&str, &str)],
) -> Reply {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(k) = key {
        req = req.header(header::AUTHORIZATION, format!("Bearer {k}"));
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = match body {
        Some(b) => req
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(b.to_string())),
        None => req.body(Body::empty()),
    }
    .unwrap();
    let response = app.clone().oneshot(req).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8_lossy(&bytes).to_string();
    Reply {
        status,
        headers,
        json: serde_json::from_slice(&bytes).unwrap_or(Json::Null),
        text,
    }
}

/// The real accept loop on a loopback port, stopped when the returned sender is dropped.
async fn listen(
    state: AppState,
    edge: EdgeConfig,
) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let metrics = state.metrics.clone();
    let app = router(state);
    tokio::spawn(async move {
        serve_connections(listener, app, &edge, metrics, async {
            let _ = stopped.await;
        })
        .await;
    });
    (addr, stop)
}

/// One whole request on a new connection; the status line's code.
async fn get_status(addr: SocketAddr, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect(addr).await.ok()?;
    s.write_all(format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").as_bytes())
        .await
        .ok()?;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await;
    let text = String::from_utf8_lossy(&out);
    text.split(' ').nth(1)?.parse().ok()
}

/// Whether the server closed `s` (end of stream or reset) within `wait`; what it sent first.
async fn closed_within(s: &mut TcpStream, wait: Duration) -> (bool, String) {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + wait;
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Err(_) => return (false, String::from_utf8_lossy(&seen).into()),
            Ok(Ok(0) | Err(_)) => return (true, String::from_utf8_lossy(&seen).into()),
            Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn half_sent_requests_are_closed_after_the_header_timeout() {
    let (state, _) = make_state(
        Store::open("sqlite::memory:").await.unwrap(),
        Config::default(),
    )
    .await;
    let edge = EdgeConfig {
        header_read_timeout: Duration::from_secs(1),
        body_read_timeout: Duration::from_secs(1),
        max_connections: 1000,
    };
    let (addr, _stop) = listen(state, edge).await;
    // 300 clients that start a request and never finish its head.
    let mut slow = Vec::new();
    for _ in 0..300 {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nx-slow: ")
            .await
            .unwrap();
        slow.push(s);
    }
    // Meanwhile a whole request is answered.
    assert_eq!(get_status(addr, "/healthz").await, Some(200));
    // Each half-sent request is closed by the server (bounded wait, no timing asserted).
    for (i, s) in slow.iter_mut().enumerate() {
        let (closed, _) = closed_within(s, Duration::from_secs(30)).await;
        assert!(closed, "connection {i} still open");
    }
    // A connection that says nothing at all is closed too (it is idle).
    let mut idle = TcpStream::connect(addr).await.unwrap();
    assert!(closed_within(&mut idle, Duration::from_secs(30)).await.0);
    assert_eq!(get_status(addr, "/healthz").await, Some(200));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_that_trickles_gets_408() {
    let (state, _) = make_state(
        Store::open("sqlite::memory:").await.unwrap(),
        Config {
            edge: EdgeConfig {
                header_read_timeout: Duration::from_secs(30),
                body_read_timeout: Duration::from_secs(1),
                max_connections: 10,
            },
            ..Config::default()
        },
    )
    .await;
    let edge = state.config.edge.clone();
    let (addr, _stop) = listen(state, edge).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"POST /public/requests HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"kind\"")
        .await
        .unwrap();
    let (closed, seen) = closed_within(&mut s, Duration::from_secs(30)).await;
    assert!(closed, "{seen}");
    assert!(seen.starts_with("HTTP/1.1 408"), "{seen}");
    assert!(seen.contains("urn:pledge:problem:body-timeout"), "{seen}");
}

#[tokio::test(flavor = "multi_thread")]
async fn connections_past_the_cap_are_refused_at_once() {
    let (state, _) = make_state(
        Store::open("sqlite::memory:").await.unwrap(),
        Config::default(),
    )
    .await;
    let metrics = state.metrics.clone();
    let edge = EdgeConfig {
        header_read_timeout: Duration::from_secs(60),
        body_read_timeout: Duration::from_secs(60),
        max_connections: 50,
    };
    let (addr, _stop) = listen(state, edge).await;
    let mut held = Vec::new();
    for _ in 0..50 {
        held.push(TcpStream::connect(addr).await.unwrap());
    }
    // Connections are accepted in order: the ones past the cap are answered 503 and closed,
    // not left waiting.
    for _ in 0..20 {
        let mut extra = TcpStream::connect(addr).await.unwrap();
        let (closed, seen) = closed_within(&mut extra, Duration::from_secs(30)).await;
        assert!(closed, "an extra connection was kept open");
        assert!(
            seen.is_empty() || seen.starts_with("HTTP/1.1 503"),
            "{seen}"
        );
    }
    assert!(metrics.connections_refused.load(Ordering::Relaxed) >= 20);
    // Freed slots serve again (once the server has seen the clients go).
    drop(held);
    let mut served = None;
    for _ in 0..100 {
        served = get_status(addr, "/healthz").await;
        if served == Some(200) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(served, Some(200));
}

/// One host rotating through the addresses of its IPv6 /64 is one client to the limits.
#[tokio::test(flavor = "multi_thread")]
async fn rate_limits_count_an_ipv6_64_as_one_client() {
    let (state, _) = make_state(
        Store::open("sqlite::memory:").await.unwrap(),
        Config {
            public: PublicConfig {
                intake_per_ip: Rate::per_hour(2, 1),
                intake_per_email: Rate::per_hour(100, 100),
                client_ip_header: Some("x-forwarded-for".into()),
                ..PublicConfig::default()
            },
            ..Config::default()
        },
    )
    .await;
    let app = router(state);
    let intake = |i: usize| json!({"kind": "access", "email": format!("p{i}@example.com")});
    let mut statuses = Vec::new();
    for i in 0..4 {
        let from = format!("2001:db8:7:7:{i:x}::{i:x}");
        let r = call(
            &app,
            Method::POST,
            "/public/requests",
            None,
            Some(intake(i)),
            &[("x-forwarded-for", &from)],
        )
        .await;
        statuses.push(r.status);
    }
    assert_eq!(
        statuses,
        [
            StatusCode::ACCEPTED,
            StatusCode::ACCEPTED,
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
    // Another /64, and IPv4 addresses, are clients of their own.
    for from in ["2001:db8:7:8::1", "192.0.2.1", "192.0.2.2"] {
        let r = call(
            &app,
            Method::POST,
            "/public/requests",
            None,
            Some(intake(9)),
            &[("x-forwarded-for", from)],
        )
        .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{from}: {}", r.text);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn intake_refuses_an_address_with_a_display_name() {
    let (state, _) = make_state(
        Store::open("sqlite::memory:").await.unwrap(),
        Config::default(),
    )
    .await;
    let app = router(state);
    for email in [
        "Evil <attacker@evil.test>",
        "Evil<attacker@evil.test>",
        "attacker@evil.test\r\nBcc: victim@example.com",
    ] {
        let r = call(
            &app,
            Method::POST,
            "/public/requests",
            None,
            Some(json!({"kind": "access", "email": email})),
            &[],
        )
        .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{email:?}");
        assert!(!r.text.contains('\r'), "{}", r.text);
    }
}

/// With the store gone, the public is told that something failed and given an id to quote;
/// the database's words go to the log only. Staff keys see them.
#[tokio::test(flavor = "multi_thread")]
async fn errors_to_the_public_carry_no_internals() {
    let store = Store::open("sqlite::memory:").await.unwrap();
    let (state, keys) = make_state(
        store.clone(),
        Config {
            key_recheck: Duration::from_secs(3600),
            ..Config::default()
        },
    )
    .await;
    let app = router(state);
    let admin = key(&keys, Role::Admin).to_string();
    // The admin key is confirmed (and cached) while the store is up.
    let r = call(&app, Method::GET, "/v1/requests", Some(&admin), None, &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    store.close().await;
    let r = call(
        &app,
        Method::POST,
        "/public/requests",
        None,
        Some(json!({"kind": "access", "email": "ana@example.com"})),
        &[],
    )
    .await;
    assert!(r.status.is_server_error(), "{}", r.text);
    let detail = r.json["detail"].as_str().unwrap();
    let id = r.json["correlation_id"].as_str().unwrap();
    assert!(detail.contains(id), "{detail}");
    for internal in ["pool", "database", "sqlx", "closed"] {
        assert!(!r.text.to_lowercase().contains(internal), "{}", r.text);
    }
    // The pages for people too.
    let req = Request::builder()
        .method(Method::POST)
        .uri("/public/verify")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from("token=abc"))
        .unwrap();
    let page = app.clone().oneshot(req).await.unwrap();
    assert!(page.status().is_server_error());
    let bytes = page.into_body().collect().await.unwrap().to_bytes();
    let html = String::from_utf8_lossy(&bytes).to_lowercase();
    assert!(html.contains("correlation id"), "{html}");
    for internal in ["pool", "database", "sqlx"] {
        assert!(!html.contains(internal), "{html}");
    }
    let r = call(&app, Method::GET, "/readyz", None, None, &[]).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(!r.text.to_lowercase().contains("pool"), "{}", r.text);
    // Staff see what failed.
    let r = call(&app, Method::GET, "/v1/requests", Some(&admin), None, &[]).await;
    assert!(r.status.is_server_error(), "{}", r.text);
    assert!(r.json["correlation_id"].is_string());
    assert!(
        r.json["detail"].as_str().unwrap().contains("database"),
        "{}",
        r.text
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_need_a_key_unless_made_public() {
    let (state, keys) = make_state(
        Store::open("sqlite::memory:").await.unwrap(),
        Config::default(),
    )
    .await;
    let app = router(state);
    let r = call(&app, Method::GET, "/metrics", None, None, &[]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    for (role, allowed) in [
        (Role::Metrics, true),
        (Role::Admin, true),
        (Role::PrivacyOfficer, true),
        (Role::SupportAgent, false),
        (Role::Service, false),
    ] {
        let r = call(
            &app,
            Method::GET,
            "/metrics",
            Some(key(&keys, role)),
            None,
            &[],
        )
        .await;
        let expected = if allowed {
            StatusCode::OK
        } else {
            StatusCode::FORBIDDEN
        };
        assert_eq!(r.status, expected, "{role:?}");
        if allowed {
            assert!(r.text.contains("pledge_connections_refused_total"));
        }
    }
    // A metrics key opens nothing else.
    for path in [
        "/v1/requests",
        "/v1/audit",
        "/v1/subjects/customer-1/consent",
    ] {
        let r = call(
            &app,
            Method::GET,
            path,
            Some(key(&keys, Role::Metrics)),
            None,
            &[],
        )
        .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}");
    }
    let decision = json!({"subject": "customer-1", "purpose": "newsletter"});
    let r = call(
        &app,
        Method::POST,
        "/v1/decisions",
        Some(key(&keys, Role::Metrics)),
        Some(decision),
        &[],
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let (state, _) = make_state(
        Store::open("sqlite::memory:").await.unwrap(),
        Config {
            metrics_public: true,
            ..Config::default()
        },
    )
    .await;
    let r = call(&router(state), Method::GET, "/metrics", None, None, &[]).await;
    assert_eq!(r.status, StatusCode::OK);
}

/// What a service key may do, as docs/server.md says: take requests in for approval, record
/// consent and ask for decisions; never skip approval, never read a consent history.
#[tokio::test(flavor = "multi_thread")]
async fn service_keys_stay_within_their_role() {
    let (state, keys) = make_state(
        Store::open("sqlite::memory:").await.unwrap(),
        Config {
            workers: 0,
            ..Config::default()
        },
    )
    .await;
    let app = router(state);
    let service = key(&keys, Role::Service);
    let admin = key(&keys, Role::Admin);
    let erasure = |approval: Option<bool>| {
        let mut body = json!({"kind": "erasure", "identities": {"email": "luisg@embraer.com.br"}});
        if let Some(a) = approval {
            body["needs_approval"] = json!(a);
        }
        body
    };
    // Skipping approval: refused, and nothing is written.
    let r = call(
        &app,
        Method::POST,
        "/v1/requests",
        Some(service),
        Some(erasure(Some(false))),
        &[],
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    let r = call(&app, Method::GET, "/v1/requests", Some(admin), None, &[]).await;
    assert_eq!(r.json["requests"].as_array().unwrap().len(), 0);
    // Without the flag, or asking for approval: taken in, waiting for a privacy officer.
    for approval in [None, Some(true)] {
        let r = call(
            &app,
            Method::POST,
            "/v1/requests",
            Some(service),
            Some(erasure(approval)),
            &[],
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        assert_eq!(r.json["state"], "awaiting_approval", "{}", r.json);
    }
    // A withdrawal of consent takes nothing from the person: it may go straight on.
    let withdraw = json!({"kind": "withdraw_consent", "identities": {"email": "luisg@embraer.com.br"}, "needs_approval": false});
    let r = call(
        &app,
        Method::POST,
        "/v1/requests",
        Some(service),
        Some(withdraw),
        &[],
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_ne!(r.json["state"], "awaiting_approval");
    // Staff may still skip approval.
    let r = call(
        &app,
        Method::POST,
        "/v1/requests",
        Some(admin),
        Some(erasure(Some(false))),
        &[],
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_ne!(r.json["state"], "awaiting_approval");
    // Consent histories: staff only; decisions and recording stay open to services.
    let path = "/v1/subjects/customer-1/consent";
    for (role, status) in [
        (Role::Service, StatusCode::FORBIDDEN),
        (Role::SupportAgent, StatusCode::FORBIDDEN),
        (Role::Admin, StatusCode::OK),
        (Role::PrivacyOfficer, StatusCode::OK),
    ] {
        let r = call(&app, Method::GET, path, Some(key(&keys, role)), None, &[]).await;
        assert_eq!(r.status, status, "{role:?}: {}", r.text);
    }
    let decision = json!({"subject": "customer-1", "purpose": "newsletter"});
    let r = call(
        &app,
        Method::POST,
        "/v1/decisions",
        Some(service),
        Some(decision),
        &[],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}

/// Every HTML page carries the strict policy and the headers that go with it.
#[tokio::test(flavor = "multi_thread")]
async fn every_page_has_a_content_security_policy() {
    let (state, _) = make_state(
        Store::open("sqlite::memory:").await.unwrap(),
        Config::default(),
    )
    .await;
    let app = router(state);
    for path in [
        "/public/verify?token=abc",
        "/preferences?token=abc",
        "/unsubscribe?token=abc",
        "/docs",
    ] {
        let r = call(&app, Method::GET, path, None, None, &[]).await;
        let h = |name: header::HeaderName| {
            r.headers
                .get(name)
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default()
        };
        assert!(h(header::CONTENT_TYPE).starts_with("text/html"), "{path}");
        let csp = h(header::CONTENT_SECURITY_POLICY);
        assert!(csp.contains("default-src 'none'"), "{path}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert_eq!(h(header::X_CONTENT_TYPE_OPTIONS), "nosniff", "{path}");
        assert_eq!(h(header::REFERRER_POLICY), "no-referrer", "{path}");
        assert_eq!(h(header::X_FRAME_OPTIONS), "DENY", "{path}");
    }
    assert_eq!(
        call(
            &app,
            Method::GET,
            "/public/verify?token=abc",
            None,
            None,
            &[]
        )
        .await
        .headers
        .get(header::CONTENT_SECURITY_POLICY)
        .unwrap(),
        pledge_server::http::PAGE_CSP
    );
}

/// A TCP relay to the store that can be made to swallow everything, as a store that went
/// away (a dead host, a partition) looks to the server: connections hang, nothing answers.
struct Relay {
    addr: SocketAddr,
    dead: Arc<AtomicBool>,
}

impl Relay {
    async fn start(to: SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let dead = Arc::new(AtomicBool::new(false));
        let flag = dead.clone();
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let flag = flag.clone();
                tokio::spawn(async move {
                    if flag.load(Ordering::SeqCst) {
                        // Hold the connection and say nothing.
                        tokio::time::sleep(Duration::from_secs(120)).await;
                        drop(client);
                        return;
                    }
                    let Ok(mut server) = TcpStream::connect(to).await else {
                        return;
                    };
                    let mut a = [0u8; 8192];
                    let mut b = [0u8; 8192];
                    loop {
                        if flag.load(Ordering::SeqCst) {
                            // Gone: swallow what comes, answer nothing.
                            tokio::time::sleep(Duration::from_secs(120)).await;
                            return;
                        }
                        tokio::select! {
                            n = client.read(&mut a) => match n {
                                Ok(0) | Err(_) => return,
                                Ok(n) => if flag.load(Ordering::SeqCst) || server.write_all(&a[..n]).await.is_err() { continue },
                            },
                            n = server.read(&mut b) => match n {
                                Ok(0) | Err(_) => return,
                                Ok(n) => if flag.load(Ordering::SeqCst) || client.write_all(&b[..n]).await.is_err() { continue },
                            },
                            () = tokio::time::sleep(Duration::from_millis(50)) => {}
                        }
                    }
                });
            }
        });
        Relay { addr, dead }
    }

    fn cut(&self) {
        self.dead.store(true, Ordering::SeqCst);
    }
}

/// The store (PostgreSQL) goes away: decisions go on from memory with a key confirmed
/// recently, within a short bounded wait and never the pool's 30 s; other keyed routes say
/// 503 quickly; an unknown key is not let in.
#[tokio::test(flavor = "multi_thread")]
async fn decisions_answer_from_memory_while_the_store_is_gone() {
    let Some(server) =
        pledge_testkit::require!(pledge_testkit::POSTGRES_URL, pledge_testkit::postgres_url())
    else {
        return;
    };
    let database = pledge_testkit::postgres_database(&server, "pledge_edge").await;
    // The same database, reached through the relay.
    let (head, rest) = database.split_once('@').unwrap();
    let (hostport, path) = rest.split_once('/').unwrap();
    let target: SocketAddr = tokio::net::lookup_host(hostport)
        .await
        .unwrap()
        .next()
        .unwrap();
    let relay = Relay::start(target).await;
    let through = format!("{head}@{}/{path}", relay.addr);
    let store = Store::open(&through).await.unwrap();
    let (state, keys) = make_state(
        store,
        Config {
            key_recheck: Duration::from_millis(100),
            key_check_timeout: Duration::from_millis(300),
            key_grace: Duration::from_secs(600),
            workers: 0,
            ..Config::default()
        },
    )
    .await;
    let app = router(state);
    let service = key(&keys, Role::Service).to_string();
    let decision = json!({"subject": "customer-1", "purpose": "newsletter"});
    let r = call(
        &app,
        Method::POST,
        "/v1/decisions",
        Some(&service),
        Some(decision.clone()),
        &[],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let before = r.json.clone();
    relay.cut();
    // Past the recheck period, so the key is due for a check the store cannot answer.
    tokio::time::sleep(Duration::from_millis(200)).await;
    for _ in 0..20 {
        let r = tokio::time::timeout(
            Duration::from_secs(10),
            call(
                &app,
                Method::POST,
                "/v1/decisions",
                Some(&service),
                Some(decision.clone()),
                &[],
            ),
        )
        .await
        .expect("a decision waited on the store");
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(r.json, before);
    }
    let r = tokio::time::timeout(
        Duration::from_secs(10),
        call(
            &app,
            Method::GET,
            "/v1/requests",
            Some(key(&keys, Role::Admin)),
            None,
            &[],
        ),
    )
    .await
    .expect("a keyed route waited on the store");
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text);
    assert!(r.headers.contains_key(header::RETRY_AFTER));
    let r = tokio::time::timeout(
        Duration::from_secs(10),
        call(
            &app,
            Method::POST,
            "/v1/decisions",
            Some("pledge_unknown"),
            Some(decision),
            &[],
        ),
    )
    .await
    .expect("an unknown key waited on the store");
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text);
}

/// Guessing API keys from one address is cut off before it costs the store a lookup per
/// guess; a key the server has confirmed before still works from that address.
#[tokio::test(flavor = "multi_thread")]
async fn guessing_keys_is_limited_per_client() {
    let (state, keys) = make_state(
        Store::open("sqlite::memory:").await.unwrap(),
        Config::default(),
    )
    .await;
    let admin = key(&keys, Role::Admin).to_string();
    let (addr, _stop) = listen(state, EdgeConfig::default()).await;
    let get = |bearer: String| async move {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(
            format!("GET /v1/requests HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {bearer}\r\nconnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
        let mut out = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await;
        String::from_utf8_lossy(&out)
            .split(' ')
            .nth(1)
            .unwrap_or("")
            .to_string()
    };
    assert_eq!(get(admin.clone()).await, "200");
    let burst = pledge_server::AUTH_FAILURES.burst;
    for i in 0..burst {
        assert_eq!(get(format!("pledge_guess_{i}")).await, "401", "guess {i}");
    }
    assert_eq!(get("pledge_guess_more".into()).await, "429");
    assert_eq!(get(admin).await, "200");
}

/// The OpenAPI document tells of the answers the edge adds to every keyed route.
#[tokio::test(flavor = "multi_thread")]
async fn the_openapi_document_names_the_edge_answers() {
    let (state, _) = make_state(
        Store::open("sqlite::memory:").await.unwrap(),
        Config::default(),
    )
    .await;
    let doc = call(
        &router(state),
        Method::GET,
        "/v1/openapi.json",
        None,
        None,
        &[],
    )
    .await
    .json;
    let responses = &doc["paths"]["/v1/decisions"]["post"]["responses"];
    for status in ["401", "403", "429", "503"] {
        assert!(responses[status].is_object(), "{status}: {responses}");
    }
    let links = &doc["paths"]["/v1/subjects/{subject}/preference-links"]["post"]["responses"];
    assert!(
        links["503"]["description"]
            .as_str()
            .unwrap()
            .contains("link key"),
        "{links}"
    );
}

/// Every answer names its request in `X-Request-Id`, the id its log events carry: a
/// caller's (or proxy's) own id is kept when it is short and printable, replaced otherwise
/// (it goes into the log, so it may not carry line breaks or unbounded text).
#[tokio::test(flavor = "multi_thread")]
async fn every_answer_names_its_request() {
    let store = Store::open("sqlite::memory:").await.unwrap();
    let (state, _) = make_state(store, Config::default()).await;
    let app = router(state);
    let id = |r: &Reply| {
        r.headers
            .get("x-request-id")
            .map(|v| v.to_str().unwrap().to_string())
    };
    let own = call(&app, Method::GET, "/healthz", None, None, &[]).await;
    let made = id(&own).expect("an id when the caller gave none");
    assert_eq!(made.len(), 16);
    assert!(made.bytes().all(|b| b.is_ascii_hexdigit()));
    let other = call(&app, Method::GET, "/healthz", None, None, &[]).await;
    assert_ne!(id(&other).unwrap(), made, "a fresh id per request");
    let kept = call(
        &app,
        Method::GET,
        "/nowhere",
        None,
        None,
        &[("x-request-id", "proxy-7f3a")],
    )
    .await;
    assert_eq!(kept.status, StatusCode::NOT_FOUND);
    assert_eq!(id(&kept).as_deref(), Some("proxy-7f3a"));
    for bad in ["with space", &"x".repeat(65)] {
        let r = call(
            &app,
            Method::GET,
            "/healthz",
            None,
            None,
            &[("x-request-id", bad)],
        )
        .await;
        let got = id(&r).unwrap();
        assert_ne!(got, bad);
        assert_eq!(got.len(), 16);
    }
}
