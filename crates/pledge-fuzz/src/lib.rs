//! The fuzz targets' bodies: each takes arbitrary bytes, drives one parser or route with them,
//! and panics only when an invariant breaks (a panic is what the fuzzer reports). The
//! coverage-guided harnesses in `fuzz/` call these; `tests/corpus.rs` replays the kept corpora
//! and crashes through them on every test run.
//!
//! | target | input | drives |
//! |---|---|---|
//! | `declaration` | a declaration file (the first byte picks TOML, YAML or JSON) | `load`, then every lint rule |
//! | `cron` | a cron expression, then 8 bytes of an instant | `Schedule::from_str`, `next_after` |
//! | `api_body` | a route selector byte, then a request body | the `/v1` and `/public` JSON routes of the router |
//! | `banner_consent` | a request body | `POST /banner/consent` |

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, StatusCode};
use pledge_domain::cron::Schedule;
use pledge_lang::SourceMap;
use pledge_law::lint;
use pledge_server::{AppState, Config, router};
use pledge_store::{Role, Store};
use std::net::SocketAddr;
use std::sync::OnceLock;
use tower::ServiceExt;

/// A target's body: bytes in, a panic if an invariant breaks.
pub type Target = fn(&[u8]);

/// The names of the targets, as `fuzz/fuzz_targets/` and `fuzz/corpus/` name them.
pub const TARGETS: &[(&str, Target)] = &[
    ("declaration", declaration),
    ("cron", cron),
    ("api_body", api_body),
    ("banner_consent", banner_consent),
];

/// A declaration in any of the three formats: loading never panics, and a declaration that
/// loads lints without panicking.
pub fn declaration(data: &[u8]) {
    let Some((&format, rest)) = data.split_first() else {
        return;
    };
    let name = match format % 3 {
        0 => "pledge.toml",
        1 => "pledge.yaml",
        _ => "pledge.json",
    };
    let text = String::from_utf8_lossy(rest).into_owned();
    let sources = SourceMap::single(name, text);
    if let Ok(decl) = pledge_lang::load(&sources) {
        let _ = lint::lint(&decl);
    }
}

/// A cron expression: parsing never panics; a schedule's next fire time is after the instant
/// it was asked from and matches the schedule.
pub fn cron(data: &[u8]) {
    let split = data.len().saturating_sub(8);
    let (text, instant) = data.split_at(split);
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let Ok(schedule) = text.parse::<Schedule>() else {
        return;
    };
    let mut bytes = [0u8; 8];
    bytes[..instant.len()].copy_from_slice(instant);
    // Instants from 1970 to about 2300, whole seconds.
    let after = i64::from_le_bytes(bytes).rem_euclid(10_000_000_000);
    if let Some(next) = schedule.next_after(after) {
        assert!(
            next > after,
            "{text:?}: next fire time {next} is not after {after}"
        );
        assert!(
            schedule.matches(pledge_lang::time::CivilTime::from_unix(next)),
            "{text:?}: next fire time {next} does not match the schedule"
        );
    }
}

/// A server built once per process: a SQLite store in a temporary directory, no workers
/// (requests are taken, not run), an admin key.
struct Server {
    runtime: tokio::runtime::Runtime,
    app: axum::Router,
    admin: String,
}

/// The Chinook example declaration, for the request and consent routes.
const CHINOOK: &str = include_str!("../../../examples/chinook/pledge.toml");
/// A shop with cookies in three categories, for the banner.
const SHOP: &str = include_str!("../../pledge-server/tests/fixtures/banner/shop.toml");
const LINK_KEY: &[u8] = b"a link key for fuzzing, thirty-two bytes or more";

fn build(name: &str, declaration: &str) -> Server {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime builds");
    let dir = std::env::temp_dir().join(format!("pledge-fuzz-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("the temporary directory is writable");
    let decl = pledge_lang::load(&SourceMap::single("pledge.toml", declaration))
        .expect("the fuzzed server's declaration loads");
    let (app, admin) = runtime.block_on(async {
        let url = format!("sqlite:{}", dir.join("store.db").display());
        let store = Store::open(&url).await.expect("a fresh SQLite store opens");
        let (_, admin) = store
            .create_key(Role::Admin, Some("fuzz"), "fuzz", 1)
            .await
            .expect("a key is created");
        let config = Config {
            workers: 0,
            banner: pledge_server::http::banner::Settings {
                link_key: LINK_KEY.to_vec(),
                origins: vec!["https://shop.example".into()],
                ..Default::default()
            },
            ..Config::default()
        };
        let state = AppState::new(store, decl, config);
        (router(state), admin)
    });
    Server {
        runtime,
        app,
        admin,
    }
}

fn chinook() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| build("chinook", CHINOOK))
}

fn shop() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| build("shop", SHOP))
}

/// Sends one request; a 5xx answer to a body the caller chose is a bug (bad input gets a 4xx).
fn send(
    s: &Server,
    method: Method,
    path: &str,
    key: Option<&str>,
    headers: &[(&str, &str)],
    body: &[u8],
) {
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json");
    if let Some(key) = key {
        request = request.header("authorization", format!("Bearer {key}"));
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut request = request
        .body(Body::from(body.to_vec()))
        .expect("a request with a fixed path builds");
    // The peer address axum's `serve` would put there (public routes rate-limit by it).
    request
        .extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([203, 0, 113, 9], 4000))));
    let status = s.runtime.block_on(async {
        let response = s
            .app
            .clone()
            .oneshot(request)
            .await
            .expect("the router is infallible");
        response.status()
    });
    assert!(
        !status.is_server_error() || status == StatusCode::SERVICE_UNAVAILABLE,
        "{path}: {status} for a body the caller chose"
    );
}

/// The JSON routes, by the first byte: intake, transitions, consent and decisions with a
/// staff key, and public intake without one.
pub fn api_body(data: &[u8]) {
    let Some((&route, body)) = data.split_first() else {
        return;
    };
    let s = chinook();
    let admin = Some(s.admin.as_str());
    let (path, key) = match route % 8 {
        0 => ("/v1/requests", admin),
        1 => ("/public/requests", None),
        2 => ("/v1/consent", admin),
        3 => ("/v1/decisions", admin),
        4 => ("/v1/decisions/batch", admin),
        5 => ("/v1/requests/req_0/deny", admin),
        6 => ("/v1/requests/req_0/extend", admin),
        _ => ("/public/verify", None),
    };
    send(s, Method::POST, path, key, &[], body);
}

/// A banner's consent body, as a browser on an allowed or unknown origin sends it.
pub fn banner_consent(data: &[u8]) {
    send(
        shop(),
        Method::POST,
        "/banner/consent",
        None,
        &[("origin", "https://shop.example")],
        data,
    );
}
