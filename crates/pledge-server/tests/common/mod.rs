//! The one harness of the server's tests: a server on a store of the test's choice, with
//! its declaration, configuration, API keys, a worker (unless told otherwise) and, when
//! asked, a real listener on a loopback port.
//!
//! ```ignore
//! let e = TestApp::builder("api-workflow")
//!     .store(store)
//!     .chinook()
//!     .clock(Clock::manual(clock.clone()))
//!     .without_worker()
//!     .spawn()
//!     .await;
//! let r = e.request(Method::GET, "/v1/requests", Some(e.key(Role::Admin)), None, &[]).await;
//! ```
//!
//! It lives here rather than in pledge-testkit because pledge-testkit is a dependency of
//! the crates pledge-server depends on: it cannot depend on pledge-server itself.

// Each test file is its own crate and uses part of the harness.
#![allow(dead_code)]

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use pledge_connect::Database;
use pledge_server::http::banner::Settings;
use pledge_server::jobs::{forward, worker};
use pledge_server::{AppState, Bound, Clock, Config, PublicConfig, router};
use pledge_store::{Role, Store};
use serde_json::Value as Json;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tower::ServiceExt;

pub const CHINOOK_SQL: &str =
    include_str!("../../../pledge-connect/tests/fixtures/chinook/chinook_sqlite.sql");

/// How long [`TestApp::until`] waits by default for background work.
pub const WITHIN: Duration = Duration::from_secs(10);

/// The repository's root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The declaration of the Chinook example (`examples/chinook/pledge.toml`).
pub fn chinook_declaration() -> String {
    std::fs::read_to_string(repo().join("examples/chinook/pledge.toml")).unwrap()
}

/// A store of its own for the test `test` on `backend` (see [`pledge_testkit::store_url`]);
/// `None` when the test is skipped.
pub async fn store(backend: pledge_testkit::StoreBackend, test: &str) -> Option<Store> {
    let url = pledge_testkit::store_url(backend, test).await?;
    Some(Store::open(&url).await.unwrap())
}

/// The directory of the test `name` ([`TestApp::builder`]'s), which the harness makes
/// empty when it starts and removes when it ends: for configuration that names a path.
pub fn test_dir(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "pledge-{}-{}",
        name.replace("::", "-"),
        std::process::id()
    ))
}

/// Loads the Chinook fixture (and `extra_sql` after it) into a new SQLite file.
pub async fn chinook_at(file: &Path, extra_sql: &str) {
    let mut db = Database::connect(None, &format!("sqlite:{}?mode=rwc", file.display()))
        .await
        .unwrap();
    db.batch(&format!("BEGIN;\n{CHINOOK_SQL}\n{extra_sql}\nCOMMIT;"))
        .await
        .unwrap();
    db.close().await;
}

/// What the Chinook dataset of a test is.
enum Chinook {
    /// No Chinook dataset is configured.
    None,
    /// A copy of the fixture in the test's directory, with more SQL run after it.
    Copy { extra_sql: String },
    /// The path of a copy in the test's directory, but no file there (yet): a database
    /// that cannot be reached.
    Missing,
}

/// A change to the configuration that needs the listener's address.
type AddrChange = Box<dyn FnOnce(&mut Config, SocketAddr)>;

/// A server being set up; [`TestApp::builder`].
pub struct Builder {
    name: String,
    store: Option<Store>,
    declaration: (String, String),
    chinook: Chinook,
    /// SQLite datasets to create in the test's directory: (variable, file, SQL).
    datasets: Vec<(String, String, String)>,
    config: Config,
    roles: Vec<Role>,
    keys_created_at: i64,
    worker: bool,
    forwarder: bool,
    listen: bool,
    /// Changes to the configuration that need the listener's address.
    with_addr: Vec<AddrChange>,
}

impl Builder {
    /// The store (default: a new SQLite file in the test's directory).
    pub fn store(mut self, store: Store) -> Self {
        self.store = Some(store);
        self
    }

    /// The declaration, and the file name its errors would name (default: the Chinook
    /// example's).
    pub fn declaration(mut self, file: &str, text: impl Into<String>) -> Self {
        self.declaration = (file.to_string(), text.into());
        self
    }

    /// A declaration file of the repository, by its path relative to this crate.
    pub fn declaration_file(self, path: &str) -> Self {
        let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path))
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        let file = Path::new(path)
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        self.declaration(&file, text)
    }

    /// Appends TOML to the declaration (a recipient, a purpose).
    pub fn declare(mut self, toml: &str) -> Self {
        self.declaration.1.push_str(toml);
        self
    }

    /// A private SQLite copy of Chinook, `CHINOOK_DATABASE_URL` in the configuration.
    pub fn chinook(self) -> Self {
        self.chinook_with("")
    }

    /// [`Builder::chinook`], with `extra_sql` run after the fixture.
    pub fn chinook_with(mut self, extra_sql: &str) -> Self {
        self.chinook = Chinook::Copy {
            extra_sql: extra_sql.to_string(),
        };
        self
    }

    /// `CHINOOK_DATABASE_URL` names a SQLite file in the test's directory that is not there
    /// (opened without `mode=rwc`, it cannot be created by connecting): a database that is
    /// down. [`TestApp::chinook_file`] is where to create it.
    pub fn chinook_missing(mut self) -> Self {
        self.chinook = Chinook::Missing;
        self
    }

    /// A SQLite database `file` in the test's directory made by `sql`, the connection of
    /// the declaration's `variable`.
    pub fn sqlite_dataset(mut self, variable: &str, file: &str, sql: &str) -> Self {
        self.datasets
            .push((variable.to_string(), file.to_string(), sql.to_string()));
        self
    }

    /// The configuration the other options start from (default: `Config::default()`).
    /// Connections given here come after the Chinook dataset's.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Changes the configuration in place.
    pub fn configure(mut self, change: impl FnOnce(&mut Config)) -> Self {
        change(&mut self.config);
        self
    }

    /// The server's clock.
    pub fn clock(self, clock: Clock) -> Self {
        self.configure(|c| c.clock = clock)
    }

    /// The public endpoints' configuration.
    pub fn public(self, public: PublicConfig) -> Self {
        self.configure(|c| c.public = public)
    }

    /// The banner's settings.
    pub fn settings(self, settings: Settings) -> Self {
        self.configure(|c| c.banner = settings)
    }

    /// A connection URL for an environment variable the declaration names.
    pub fn connection(self, name: &str, url: impl Into<String>) -> Self {
        let url = url.into();
        self.configure(|c| c.connections.push((name.to_string(), url)))
    }

    /// The roles that get an API key, in this order (default: every role).
    pub fn keys(mut self, roles: &[Role]) -> Self {
        self.roles = roles.to_vec();
        self
    }

    /// When the keys were made (default: 1).
    pub fn keys_created_at(mut self, at: i64) -> Self {
        self.keys_created_at = at;
        self
    }

    /// No worker: requests stay queued until the test runs them.
    pub fn without_worker(mut self) -> Self {
        self.worker = false;
        self
    }

    /// The forwarder too, which delivers requests to recipients' webhooks.
    pub fn forwarder(mut self) -> Self {
        self.forwarder = true;
        self
    }

    /// Serves on a loopback port as the binary does ([`Bound::serve`]: its workers are the
    /// configuration's `workers`, not the harness's), for tests that need a real socket.
    pub fn listen(mut self) -> Self {
        self.listen = true;
        self.worker = false;
        self
    }

    /// Changes the configuration once the listener's address is known ([`Builder::listen`]):
    /// for settings that name the server's own URL.
    pub fn configure_at(mut self, change: impl FnOnce(&mut Config, SocketAddr) + 'static) -> Self {
        self.with_addr.push(Box::new(change));
        self
    }

    pub async fn spawn(self) -> TestApp {
        let dir = test_dir(&self.name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let chinook_file = dir.join("chinook.db");
        let mut config = self.config;
        if let Chinook::Copy { extra_sql } = &self.chinook {
            chinook_at(&chinook_file, extra_sql).await;
        }
        if !matches!(self.chinook, Chinook::None) {
            // Without `mode=rwc`: a database file that is missing cannot be opened, as a
            // database that is down cannot be reached.
            config.connections.insert(
                0,
                (
                    "CHINOOK_DATABASE_URL".into(),
                    format!("sqlite:{}", chinook_file.display()),
                ),
            );
        }
        for (variable, file, sql) in &self.datasets {
            let url = format!("sqlite:{}", dir.join(file).display());
            let mut db = Database::connect(None, &format!("{url}?mode=rwc"))
                .await
                .unwrap();
            db.batch(sql).await.unwrap();
            db.close().await;
            config.connections.push((variable.clone(), url));
        }
        let store = match self.store {
            Some(store) => store,
            None => Store::open(&format!(
                "sqlite:{}?mode=rwc",
                dir.join("store.db").display()
            ))
            .await
            .unwrap(),
        };
        let mut keys = Vec::new();
        for role in self.roles {
            let (_, secret) = store
                .create_key(role, None, "test", self.keys_created_at)
                .await
                .unwrap();
            keys.push((role, secret));
        }
        let (file, text) = self.declaration;
        let decl = pledge_lang::load(&pledge_lang::SourceMap::single(&file, text)).unwrap();
        let bound = if self.listen {
            let bound = Bound::bind("127.0.0.1:0").await.unwrap();
            let addr = bound.local_addr().unwrap();
            for change in self.with_addr {
                change(&mut config, addr);
            }
            Some(bound)
        } else {
            assert!(self.with_addr.is_empty(), "configure_at needs listen()");
            None
        };
        let state = AppState::new(store, decl, config);
        // Decisions are answered from memory: the index holds the ledger before any call.
        state.consent.start().await.unwrap();
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        if self.forwarder {
            tokio::spawn(forward::run(state.clone(), stop_rx.clone()));
        }
        let addr = bound.map(|bound| {
            let addr = bound.local_addr().unwrap();
            tokio::spawn(bound.serve(state.clone()));
            addr
        });
        let app = TestApp {
            app: router(state.clone()),
            state,
            keys,
            chinook_file,
            addr,
            dir,
            stop,
            stop_rx,
        };
        if self.worker {
            app.start_worker("worker:test");
        }
        app
    }
}

/// A running server; dropping it stops its worker and removes its directory.
pub struct TestApp {
    pub app: axum::Router,
    pub state: AppState,
    /// One key per role asked for, in that order.
    pub keys: Vec<(Role, String)>,
    /// Where the Chinook copy is (or would be: [`Builder::chinook_missing`]).
    pub chinook_file: PathBuf,
    /// The loopback address, with [`Builder::listen`].
    pub addr: Option<SocketAddr>,
    /// The test's own directory.
    pub dir: PathBuf,
    stop: tokio::sync::watch::Sender<bool>,
    pub stop_rx: tokio::sync::watch::Receiver<bool>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A response, read whole.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    /// The body as JSON, or `Json::Null` when it is not JSON.
    pub fn json(&self) -> Json {
        serde_json::from_slice(&self.body).unwrap_or(Json::Null)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: header::HeaderName) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
}

impl TestApp {
    /// A server on a new SQLite store with the Chinook declaration, a key for every role
    /// and a worker, unless the builder's options say otherwise. `name` names the test's
    /// directory: unique per test.
    pub fn builder(name: &str) -> Builder {
        Builder {
            name: name.to_string(),
            store: None,
            declaration: ("pledge.toml".into(), chinook_declaration()),
            chinook: Chinook::None,
            datasets: Vec::new(),
            config: Config::default(),
            roles: pledge_store::ROLES.to_vec(),
            keys_created_at: 1,
            worker: true,
            forwarder: false,
            listen: false,
            with_addr: Vec::new(),
        }
    }

    /// Starts a worker named `owner`, which runs until the server is dropped: for tests that
    /// built the server [`Builder::without_worker`] and queue work before it runs.
    pub fn start_worker(&self, owner: &str) {
        tokio::spawn(worker::run(
            self.state.clone(),
            owner.to_string(),
            self.stop_rx.clone(),
        ));
    }

    /// The key of `role` (the builder made one for it).
    pub fn key(&self, role: Role) -> &str {
        &self
            .keys
            .iter()
            .find(|(r, _)| *r == role)
            .unwrap_or_else(|| panic!("no key for {role:?}"))
            .1
    }

    /// The base URL of the listener, with [`Builder::listen`].
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr.expect("the server listens"))
    }

    /// The connection URL the server has for a declaration's variable.
    pub fn dataset_url(&self, variable: &str) -> String {
        self.state
            .variable(variable)
            .unwrap_or_else(|| panic!("no connection for {variable}"))
    }

    /// The URL of the Chinook copy.
    pub fn chinook_url(&self) -> String {
        format!("sqlite:{}", self.chinook_file.display())
    }

    /// The progress of background work ([`AppState::progress`]).
    pub fn progress(&self) -> tokio::sync::watch::Receiver<u64> {
        self.state.progress()
    }

    /// Sends `req` through the router, as a connection would.
    pub async fn send(&self, req: Request<Body>) -> Reply {
        let response = self.app.clone().oneshot(req).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            headers,
            body: body.to_vec(),
        }
    }

    /// A request with an optional key (as a bearer token), JSON body and more headers.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<&Json>,
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
        self.send(req).await
    }

    /// [`TestApp::request`] with the key of `role`; the status and the JSON body.
    pub async fn call(
        &self,
        role: Role,
        method: Method,
        path: &str,
        body: Option<Json>,
    ) -> (StatusCode, Json) {
        let r = self
            .request(method, path, Some(self.key(role)), body.as_ref(), &[])
            .await;
        (r.status, r.json())
    }

    /// Waits (at most [`WITHIN`]) until `check` gives a value, checking again each time
    /// background work records something.
    pub async fn until<T, Fut: std::future::Future<Output = Option<T>>>(
        &self,
        what: &str,
        check: impl FnMut() -> Fut,
    ) -> T {
        pledge_testkit::until(what, WITHIN, self.state.progress(), check).await
    }

    /// Waits until the request `id` is in `state`, as an admin sees it; the request.
    pub async fn wait_for(&self, id: &str, state: &str) -> Json {
        self.until(&format!("request {id} becomes {state}"), || async {
            let (_, j) = self
                .call(
                    Role::Admin,
                    Method::GET,
                    &format!("/v1/requests/{id}"),
                    None,
                )
                .await;
            (j["state"] == state).then_some(j)
        })
        .await
    }
}
