//! Pledge's HTTP server: the rights-request API under `/v1`, API-key authentication with
//! roles, health and metrics, and the background workers that run requests.
//!
//! The only crate that knows HTTP. It asks the core's workflow whether a change is allowed
//! and the store to record it (with its audit record, in one transaction); the workers run
//! requests through `pledge-connect`.

mod api;
pub mod banner;
pub mod checkpoints;
pub mod consent;
mod consent_api;
pub mod console;
mod docs;
pub mod forward;
pub mod health;
mod key_cache;
mod links;
pub mod mail;
pub mod problem;
mod public;
pub mod ratelimit;
pub mod schedule;
mod schemas;
pub mod seal;
pub mod worker;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use pledge_lang::Declaration;
use pledge_store::{ApiKey, Role, Store};
use problem::Problem;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use thiserror::Error;
use tokio::sync::{Notify, watch};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The largest request body accepted, in bytes.
pub const BODY_LIMIT: usize = 64 * 1024;

/// How the server runs.
#[derive(Clone)]
pub struct Config {
    /// Values of the environment variables the declaration names (datasets' connection
    /// URLs, recipients' webhook secrets), consulted before the environment (the demo
    /// points the Chinook dataset at its private copy this way; tests set them here).
    pub connections: Vec<(String, String)>,
    /// The key for HMAC pseudonyms in erasures.
    pub hmac_key: Vec<u8>,
    /// How long a claimed job is a worker's before another may take it over.
    pub lease_secs: i64,
    /// How often idle workers look for jobs (they are also woken by intake).
    pub poll: Duration,
    /// Background workers in this process (0: this replica only serves the API).
    pub workers: usize,
    /// Test hook: wait this long between executing a request and recording it.
    pub pause_before_complete: Option<Duration>,
    /// Test hook: wait this long after each committed batch of the scheduled retention
    /// sweep (once its progress is recorded), so a test can kill the runner between batches.
    pub pause_after_batch: Option<Duration>,
    /// How often this replica reads consent events other replicas appended.
    pub consent_poll: Duration,
    /// How long a valid API key is trusted without asking the store again: a revoked key
    /// stops working within this time (zero: every call asks the store).
    pub key_recheck: Duration,
    /// How long a re-check of a key waits for the store before giving up.
    pub key_check_timeout: Duration,
    /// How long after the store last confirmed it a key still works for decisions (answered
    /// from memory) while the store does not answer; zero: not at all.
    pub key_grace: Duration,
    /// Limits of the listener: timeouts and the connection cap.
    pub edge: EdgeConfig,
    /// Whether `/metrics` answers without an API key (default: it needs a metrics, admin or
    /// privacy officer key).
    pub metrics_public: bool,
    /// The cookie banner, preference centre and unsubscribe links.
    pub banner: banner::Settings,
    /// Public intake: the form's endpoints, codes and rate limits.
    pub public: PublicConfig,
    /// How messages to the person leave.
    pub mail: MailConfig,
    /// Where "now" comes from (the system clock; tests turn it).
    pub clock: Clock,
    /// The master keys exports are encrypted under. Without them, access and portability
    /// requests fail rather than store an export in clear.
    pub export_keys: Option<seal::ExportKeys>,
    /// How long an export is kept before maintenance deletes it.
    pub export_ttl_secs: i64,
    /// How long a download link works (at most as long as its export).
    pub link_ttl_secs: i64,
    /// When the retention sweep runs (cron, UTC); None: never on its own.
    pub retain_schedule: Option<pledge_domain::cron::Schedule>,
    /// Rows per batch in the scheduled sweep.
    pub retain_batch_size: u64,
    /// When maintenance runs (expired exports and links, minimisation of closed requests).
    pub maintenance_schedule: Option<pledge_domain::cron::Schedule>,
    /// How long after it closed a request is minimised.
    pub minimise_closed_after: pledge_lang::types::IsoDuration,
    /// When a job that failed on a passing fault is tried again, and for how long.
    pub retry: pledge_plan::retry::Backoff,
    /// Signed checkpoints of the audit log and the consent ledger; None: none are made.
    pub checkpoints: Option<checkpoints::CheckpointConfig>,
    /// The console's sign-in lock-out and session lifetimes.
    pub console: pledge_store::staff::SessionPolicy,
}

/// Limits of the listener, so that clients that send slowly or hold connections open cannot
/// tie the server up.
#[derive(Clone, Debug)]
pub struct EdgeConfig {
    /// Time to send a request's head (request line and headers), counted from when the
    /// server is ready to read it: from the connection's start, and on a kept-alive
    /// connection from the end of the previous answer, so it is also how long an idle
    /// connection is kept.
    pub header_read_timeout: Duration,
    /// Time to send a request's body once its head has arrived (bodies are at most
    /// [`BODY_LIMIT`]); then 408.
    pub body_read_timeout: Duration,
    /// Connections served at once; one more is answered 503 and closed at once.
    pub max_connections: usize,
}

impl Default for EdgeConfig {
    fn default() -> Self {
        EdgeConfig {
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            max_connections: 1024,
        }
    }
}

/// Public intake (`/public/...`, no API key).
#[derive(Clone, Debug)]
pub struct PublicConfig {
    /// Whether `/public/...` is served at all.
    pub enabled: bool,
    /// The server's address as the person reaches it, for links in messages.
    pub base_url: String,
    /// Whether a verified public request waits for a privacy officer before it runs.
    pub needs_approval: bool,
    /// Seconds a code and link stay valid.
    pub code_ttl_secs: i64,
    /// Wrong codes allowed before a code is locked.
    pub max_attempts: i64,
    /// New requests per client address.
    pub intake_per_ip: ratelimit::Rate,
    /// New requests per e-mail address.
    pub intake_per_email: ratelimit::Rate,
    /// Code and link checks per client address.
    pub verify_per_ip: ratelimit::Rate,
    /// The header a trusted reverse proxy puts the client's address in (its last entry is
    /// taken); none: the TCP peer's address.
    pub client_ip_header: Option<String>,
}

impl Default for PublicConfig {
    fn default() -> Self {
        PublicConfig {
            enabled: true,
            base_url: "http://127.0.0.1:8080".into(),
            needs_approval: true,
            code_ttl_secs: 30 * 60,
            max_attempts: 5,
            intake_per_ip: ratelimit::Rate::per_hour(5, 20),
            intake_per_email: ratelimit::Rate::per_hour(3, 5),
            verify_per_ip: ratelimit::Rate::per_hour(10, 60),
            client_ip_header: None,
        }
    }
}

/// E-mail to the person.
#[derive(Clone, Debug)]
pub struct MailConfig {
    /// `smtps://user:password@host` (TLS from the first byte) or
    /// `smtp://user:password@host:587?tls=required` (STARTTLS); from the environment only,
    /// since it holds the password. None: messages are written to the log, not sent.
    pub smtp_url: Option<String>,
    /// The sender, e.g. `Privacy <privacy@example.com>`.
    pub from: String,
    /// Attempts before a message is given up.
    pub max_attempts: i64,
}

impl Default for MailConfig {
    fn default() -> Self {
        MailConfig {
            smtp_url: None,
            from: "Pledge <privacy@localhost>".into(),
            max_attempts: 8,
        }
    }
}

/// The shell's clock: seconds since the Unix epoch.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> i64 + Send + Sync>);

impl Clock {
    pub fn system() -> Self {
        Clock(Arc::new(system_now))
    }

    /// A clock that reads `t` (tests move it).
    pub fn manual(t: Arc<std::sync::atomic::AtomicI64>) -> Self {
        Clock(Arc::new(move || t.load(Ordering::SeqCst)))
    }

    pub fn now(&self) -> i64 {
        (self.0)()
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Clock")
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            connections: Vec::new(),
            hmac_key: Vec::new(),
            lease_secs: 30,
            poll: Duration::from_millis(500),
            workers: 1,
            pause_before_complete: None,
            pause_after_batch: None,
            consent_poll: Duration::from_millis(250),
            key_recheck: Duration::from_secs(1),
            key_check_timeout: Duration::from_secs(1),
            key_grace: Duration::from_secs(300),
            edge: EdgeConfig::default(),
            metrics_public: false,
            banner: banner::Settings::default(),
            public: PublicConfig::default(),
            mail: MailConfig::default(),
            clock: Clock::system(),
            export_keys: None,
            export_ttl_secs: 30 * 86_400,
            link_ttl_secs: 7 * 86_400,
            retain_schedule: None,
            retain_batch_size: 1000,
            maintenance_schedule: None,
            minimise_closed_after: pledge_lang::types::IsoDuration::days(90),
            retry: pledge_plan::retry::Backoff::default(),
            checkpoints: None,
            console: pledge_store::staff::SessionPolicy::default(),
        }
    }
}

/// Counters for `/metrics`.
#[derive(Default)]
pub struct Metrics {
    pub http_by_class: [AtomicU64; 6],
    pub requests_created: AtomicU64,
    pub transitions: AtomicU64,
    pub jobs_completed: AtomicU64,
    pub jobs_failed: AtomicU64,
    pub jobs_retried: AtomicU64,
    pub jobs_needing_action: AtomicU64,
    pub personal_data_reads: AtomicU64,
    pub retention_runs: AtomicU64,
    pub retention_failures: AtomicU64,
    pub retention_rows_deleted: AtomicU64,
    pub retention_rows_anonymised: AtomicU64,
    pub maintenance_runs: AtomicU64,
    pub export_links_created: AtomicU64,
    pub export_link_downloads: AtomicU64,
    pub mail_sent: AtomicU64,
    pub mail_failed: AtomicU64,
    pub rate_limited: AtomicU64,
    pub verifications_failed: AtomicU64,
    pub connections_refused: AtomicU64,
    pub connections_open: AtomicU64,
}

/// What every handler and worker shares.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub decl: Arc<Declaration>,
    pub config: Arc<Config>,
    pub metrics: Arc<Metrics>,
    /// Wakes idle workers when a request becomes runnable.
    pub wake: Arc<Notify>,
    /// The consent ledger and the in-memory decision index.
    pub consent: consent::ConsentService,
    /// Recently confirmed API keys.
    keys: Arc<key_cache::KeyCache>,
    /// Wakes the mailer when a message is in the outbox.
    pub wake_mail: Arc<Notify>,
    /// Wakes the forwarder when a request was queued for recipients.
    pub wake_forward: Arc<Notify>,
    /// Counts the pieces of background work whose outcome is recorded (a job, a batch of
    /// messages, a batch of deliveries): what waits for the background waits on this,
    /// instead of polling (see [`AppState::progress`]).
    progress: Arc<watch::Sender<u64>>,
    /// The public endpoints' rate limits (in this process's memory).
    pub limits: Arc<public::Limits>,
    /// What `/readyz` reports: workers alive, datasets reachable.
    pub health: Arc<health::Health>,
    /// Unknown API keys per client ([`AUTH_FAILURES`]).
    auth_failures: Arc<ratelimit::Limiter>,
}

/// Unknown API keys a client (IPv4 address or IPv6 /64) may send before its key lookups are
/// refused (429): a burst of 30, then 300 an hour.
pub const AUTH_FAILURES: ratelimit::Rate = ratelimit::Rate::per_hour(30, 300);

impl AppState {
    /// The connection URL of a dataset: the configured one, else its environment variable.
    pub fn dataset_url(&self, dataset: &pledge_lang::model::Dataset) -> Result<String, String> {
        let variable = dataset.connection_env.as_str();
        self.variable(variable).ok_or_else(|| {
            format!(
                "dataset `{}`: set {variable} to its connection URL",
                dataset.id
            )
        })
    }

    /// The value of an environment variable the declaration names: the configured one,
    /// else the environment's (empty counts as unset).
    pub fn variable(&self, name: &str) -> Option<String> {
        self.config
            .connections
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, value)| value.clone())
            .or_else(|| std::env::var(name).ok().filter(|v| !v.is_empty()))
    }

    pub fn new(store: Store, decl: Declaration, config: Config) -> Self {
        let decl = Arc::new(decl);
        AppState {
            consent: consent::ConsentService::new(
                store.clone(),
                decl.clone(),
                config.clock.clone(),
            ),
            keys: Arc::new(key_cache::KeyCache::new(
                config.key_recheck,
                config.key_check_timeout,
                config.key_grace,
            )),
            store,
            decl,
            metrics: Arc::new(Metrics::default()),
            wake: Arc::new(Notify::new()),
            wake_mail: Arc::new(Notify::new()),
            wake_forward: Arc::new(Notify::new()),
            progress: Arc::new(watch::Sender::new(0)),
            limits: Arc::new(public::Limits::new(&config.public)),
            health: Arc::new(health::Health::default()),
            auth_failures: Arc::new(ratelimit::Limiter::new(AUTH_FAILURES)),
            config: Arc::new(config),
        }
    }

    /// A receiver that changes each time a worker, the mailer or the forwarder has recorded
    /// the outcome of some work. To wait for a condition: mark the receiver seen
    /// (`borrow_and_update`), check, then await `changed()`.
    pub fn progress(&self) -> watch::Receiver<u64> {
        self.progress.subscribe()
    }

    /// Announces that background work recorded an outcome.
    pub(crate) fn progressed(&self) {
        self.progress.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Now, from the configured clock.
    pub fn now(&self) -> i64 {
        self.config.clock.now()
    }
}

/// The server failed to start or run.
#[derive(Debug, Error)]
pub enum Error {
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
    #[error("the server failed: {0}")]
    Serve(std::io::Error),
}

/// The authenticated caller, put in the request by the auth middleware.
#[derive(Clone, Debug)]
pub struct Caller {
    pub key: ApiKey,
}

impl Caller {
    /// The actor named in events and the audit log.
    pub fn actor(&self) -> String {
        format!("key:{}", self.key.id)
    }

    /// Refuses (403) unless the caller has one of `roles`.
    pub fn require(&self, roles: &[Role], what: &str) -> Result<(), Problem> {
        if roles.contains(&self.key.role) {
            Ok(())
        } else {
            Err(Problem::forbidden(format!(
                "a {} key may not {what}",
                self.key.role.as_str()
            )))
        }
    }

    /// Whether the caller may see personal data (identities, results, exports).
    pub fn sees_personal_data(&self) -> bool {
        matches!(self.key.role, Role::Admin | Role::PrivacyOfficer)
    }
}

/// Every route of the server with its OpenAPI description, and the middleware each group
/// sits behind. The one place a route is declared: each is registered with `routes!`, which
/// takes its method and path from the handler's `#[utoipa::path]`, so a route cannot be
/// served without being in the document (a test refuses plain `.route` calls in `src/`).
/// [`router`] serves it; [`openapi`] is its document.
pub fn app(state: &AppState) -> OpenApiRouter<AppState> {
    let v1 = OpenApiRouter::new()
        .routes(routes!(api::create_request, api::list_requests))
        .routes(routes!(api::get_request))
        .routes(routes!(api::verify))
        .routes(routes!(api::approve))
        .routes(routes!(api::deny))
        .routes(routes!(api::extend))
        .routes(routes!(api::cancel))
        .routes(routes!(api::retry))
        .routes(routes!(api::complete))
        .routes(routes!(api::export))
        .routes(routes!(links::create))
        .routes(routes!(schedule::retention_runs))
        .routes(routes!(schedule::maintenance_runs))
        .routes(routes!(api::dry_run))
        .routes(routes!(api::audit_records))
        .routes(routes!(api::audit_verify))
        .routes(routes!(checkpoints::list))
        .routes(routes!(checkpoints::latest))
        .routes(routes!(consent_api::record))
        .routes(routes!(consent_api::subject_consent))
        .routes(routes!(consent_api::link))
        .routes(routes!(banner::mint_links))
        .route_layer(middleware::from_fn_with_state(state.clone(), authenticate))
        // After the key layer, so outside it: a recipient proves itself by signing its report
        // with its own secret, and no API key stands in for that.
        .routes(routes!(forward::callback));
    // Decisions are answered from memory: a key the store confirmed recently still works
    // for them while the store does not answer (see `key_cache`).
    let decisions = OpenApiRouter::new()
        .routes(routes!(consent_api::decide))
        .routes(routes!(consent_api::decide_batch))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            authenticate_for_decisions,
        ));
    let v1 = v1.merge(decisions);
    let metrics_route = if state.config.metrics_public {
        OpenApiRouter::new().routes(routes!(metrics_open))
    } else {
        OpenApiRouter::new()
            .routes(routes!(metrics))
            .route_layer(middleware::from_fn_with_state(state.clone(), authenticate))
    };
    // The handlers' annotations give whole paths (`/v1/...`, `/public/...`), as the document
    // shows them: the groups are merged, not nested, and each group's `route_layer` still
    // wraps only its own routes.
    let mut app = OpenApiRouter::with_openapi(api::document_frame())
        .routes(routes!(api::openapi))
        .routes(routes!(docs::page))
        .routes(routes!(docs::root))
        .merge(v1)
        .routes(routes!(consent_api::gpc_json))
        .routes(routes!(links::download))
        .merge(banner::routes(state))
        .merge(console::routes());
    if state.config.public.enabled {
        app = app.merge(public::routes(state));
    }
    app.routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .merge(metrics_route)
}

/// The OpenAPI document of the routes [`router`] serves with this state.
pub fn openapi(state: &AppState) -> utoipa::openapi::OpenApi {
    app(state).into_openapi()
}

/// Who may call a route, as its operation in the OpenAPI document says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// No credential: the public routes, the pages opened from e-mails, the banner, probes.
    Open,
    /// An API key of one of these roles (others get 403, no key 401).
    Key(Vec<Role>),
    /// A recipient's report, signed with its own webhook secret (no API key).
    RecipientSignature,
}

/// One route the server serves.
#[derive(Debug, Clone)]
pub struct Route {
    pub method: axum::http::Method,
    /// The path template, e.g. `/v1/requests/{id}`.
    pub path: String,
    pub operation_id: String,
    pub access: Access,
}

/// The route table could not be read from the document (a handler's annotation names a
/// security scheme or role that does not exist).
#[derive(Debug, Error)]
pub enum RouteTableError {
    #[error("{method} {path}: unknown security scheme `{scheme}`")]
    UnknownScheme {
        method: String,
        path: String,
        scheme: String,
    },
    #[error("{method} {path}: `{role}` is not a role")]
    UnknownRole {
        method: String,
        path: String,
        role: String,
    },
    #[error("{method} {path}: {why}")]
    Unreadable {
        method: String,
        path: String,
        why: String,
    },
}

/// Every route [`router`] serves with this state: method, path and who may call it, read
/// from the routes' own OpenAPI description (the tests' authorization table).
pub fn route_table(state: &AppState) -> Result<Vec<Route>, RouteTableError> {
    use axum::http::Method;
    let doc = openapi(state);
    let mut table = Vec::new();
    for (path, item) in &doc.paths.paths {
        let operations = [
            (Method::GET, &item.get),
            (Method::PUT, &item.put),
            (Method::POST, &item.post),
            (Method::DELETE, &item.delete),
            (Method::OPTIONS, &item.options),
            (Method::HEAD, &item.head),
            (Method::PATCH, &item.patch),
            (Method::TRACE, &item.trace),
        ];
        for (method, operation) in operations {
            let Some(operation) = operation else { continue };
            let unreadable = |why: String| RouteTableError::Unreadable {
                method: method.to_string(),
                path: path.clone(),
                why,
            };
            // A requirement's schemes are private to utoipa; its JSON form is the
            // document's, `{"scheme": ["scope", ...]}`.
            let security =
                serde_json::to_value(&operation.security).map_err(|e| unreadable(e.to_string()))?;
            let mut access = Access::Open;
            for requirement in security.as_array().into_iter().flatten() {
                let Some(schemes) = requirement.as_object() else {
                    return Err(unreadable(format!("security requirement {requirement}")));
                };
                for (scheme, scopes) in schemes {
                    access = match scheme.as_str() {
                        "api_key" => {
                            let mut roles = Vec::new();
                            for scope in scopes.as_array().into_iter().flatten() {
                                let name = scope.as_str().unwrap_or_default();
                                roles.push(name.parse().map_err(|_| {
                                    RouteTableError::UnknownRole {
                                        method: method.to_string(),
                                        path: path.clone(),
                                        role: name.to_string(),
                                    }
                                })?);
                            }
                            Access::Key(roles)
                        }
                        "recipient_signature" => Access::RecipientSignature,
                        other => {
                            return Err(RouteTableError::UnknownScheme {
                                method: method.to_string(),
                                path: path.clone(),
                                scheme: other.to_string(),
                            });
                        }
                    };
                }
            }
            table.push(Route {
                method,
                path: path.clone(),
                operation_id: operation.operation_id.clone().unwrap_or_default(),
                access,
            });
        }
    }
    Ok(table)
}

/// The whole HTTP application.
pub fn router(state: AppState) -> Router {
    let (app, doc) = app(&state).split_for_parts();
    let doc = api::Document::new(&doc);
    app.fallback(|| async { Problem::not_found("no such endpoint") })
        .method_not_allowed_fallback(|| async {
            Problem::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "Method not allowed",
                "this endpoint does not take that method",
            )
        })
        // Innermost, so `GET /v1/openapi.json` finds the document of the very routes served.
        .layer(axum::Extension(doc))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            read_body_in_time,
        ))
        .layer(middleware::from_fn(security_headers))
        .layer(middleware::from_fn_with_state(state.clone(), count))
        .layer(middleware::from_fn(request_span))
        .with_state(state)
}

/// The header that names a request in the log, end to end.
const REQUEST_ID: header::HeaderName = header::HeaderName::from_static("x-request-id");

/// A request id made here: a random prefix drawn once per process and a counter, so that
/// naming a request costs no system call (the decision routes answer tens of thousands a
/// second).
fn fresh_request_id() -> String {
    static PREFIX: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let prefix = *PREFIX.get_or_init(|| {
        let mut bytes = [0u8; 4];
        // Only a lookup aid: without randomness, the process id tells replicas apart.
        if getrandom::fill(&mut bytes).is_err() {
            return std::process::id();
        }
        u32::from_le_bytes(bytes)
    });
    format!(
        "{prefix:08x}{:08x}",
        NEXT.fetch_add(1, Ordering::Relaxed) & 0xffff_ffff
    )
}

/// Runs each request in a span carrying its id, method and route (at `PLEDGE_LOG=debug`), so
/// every event logged while it is served names it; the id goes back in `X-Request-Id`. The caller's own id is
/// kept when it is 1-64 visible ASCII characters (a proxy's or a client's); otherwise a
/// random one is made. The route is the template (`/v1/requests/{id}`), never the path,
/// which may hold a download token or a subject id.
async fn request_span(req: Request, next: Next) -> Response {
    use tracing::Instrument;
    let id = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| (1..=64).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_graphic()))
        .map_or_else(fresh_request_id, str::to_string);
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or("(none)", |p| p.as_str())
        .to_string();
    let span =
        // A debug span: at the default level it is not made at all, which the decision
        // routes notice (an info span cost them 12-17% of their throughput, BENCHMARKS).
        tracing::debug_span!("http", request_id = %id, method = %req.method(), route = %route);
    let started = std::time::Instant::now();
    let mut response = next.run(req).instrument(span.clone()).await;
    span.in_scope(|| {
        tracing::debug!(
            status = response.status().as_u16(),
            micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
            "answered"
        );
    });
    if let Ok(value) = header::HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}

/// Counts responses by status class.
async fn count(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    let class = usize::from(response.status().as_u16() / 100).min(5);
    state.metrics.http_by_class[class].fetch_add(1, Ordering::Relaxed);
    response
}

/// The strict policy of every HTML page that sets none of its own: nothing loaded from
/// anywhere, inline style only, forms only to this server, never in a frame.
pub const PAGE_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The one place security headers are set: every answer says `nosniff`; every HTML page gets
/// [`PAGE_CSP`] (unless it set a policy of its own), no referrer and no framing.
async fn security_headers(req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    let h = response.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        header::HeaderValue::from_static("nosniff"),
    );
    let html = h
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("text/html"));
    if html {
        if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
            h.insert(
                header::CONTENT_SECURITY_POLICY,
                header::HeaderValue::from_static(PAGE_CSP),
            );
        }
        h.insert(
            header::REFERRER_POLICY,
            header::HeaderValue::from_static("no-referrer"),
        );
        h.insert(
            header::X_FRAME_OPTIONS,
            header::HeaderValue::from_static("DENY"),
        );
    }
    response
}

/// Reads the body whole within [`EdgeConfig::body_read_timeout`] before any handler sees it:
/// a client that trickles its body gets 408 and loses the connection, instead of holding a
/// handler. Bodies over [`BODY_LIMIT`] get 413.
async fn read_body_in_time(State(state): State<AppState>, req: Request, next: Next) -> Response {
    use axum::body::{Body, HttpBody};
    if req.body().is_end_stream() {
        return next.run(req).await;
    }
    let limit = state.config.edge.body_read_timeout;
    let (parts, body) = req.into_parts();
    match tokio::time::timeout(limit, axum::body::to_bytes(body, BODY_LIMIT)).await {
        Ok(Ok(bytes)) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Ok(Err(e)) => {
            let too_large =
                std::iter::successors(Some(&e as &(dyn std::error::Error + 'static)), |e| {
                    e.source()
                })
                .any(|e| e.is::<http_body_util::LengthLimitError>());
            if too_large {
                Problem::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body-too-large",
                    "The body is larger than the server accepts",
                    format!("send at most {BODY_LIMIT} bytes"),
                )
                .into_response()
            } else {
                Problem::new(
                    StatusCode::BAD_REQUEST,
                    "bad-body",
                    "The body cannot be read",
                    "the body ended early or is not well framed",
                )
                .into_response()
            }
        }
        Err(_) => {
            let mut response = Problem::new(
                StatusCode::REQUEST_TIMEOUT,
                "body-timeout",
                "The body did not arrive in time",
                format!(
                    "send the whole body within {} seconds of the headers",
                    limit.as_secs_f64()
                ),
            )
            .into_response();
            response.headers_mut().insert(
                header::CONNECTION,
                header::HeaderValue::from_static("close"),
            );
            response
        }
    }
}

/// Reads `Authorization: Bearer <key>` and puts the [`Caller`] in the request; the key must
/// be one the store confirms (or confirmed within the recheck period).
async fn authenticate(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Result<Response, Problem> {
    authenticate_with(state, req, next, key_cache::Trust::Confirmed).await
}

/// [`authenticate`] for the decision routes: while the store does not answer, a key it
/// confirmed within the grace period still works.
async fn authenticate_for_decisions(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Result<Response, Problem> {
    authenticate_with(state, req, next, key_cache::Trust::Recent).await
}

async fn authenticate_with(
    state: AppState,
    mut req: Request,
    next: Next,
    trust: key_cache::Trust,
) -> Result<Response, Problem> {
    let secret = bearer(req.headers())?;
    // Guessing keys costs the store a lookup each: a client that sent too many unknown keys
    // is refused before the store is asked for another new one (a key the store confirmed
    // before is always checked, so guesses from a shared address lock no one out).
    // (A call with no known address, which only a test makes, is not counted.)
    let client = banner::client_ip(
        &state,
        req.headers(),
        req.extensions()
            .get::<axum::extract::ConnectInfo<SocketAddr>>()
            .cloned()
            .map(axum::Extension),
    )
    .map(ratelimit::ip_key);
    let now = state.now();
    let limited = client
        .as_ref()
        .is_some_and(|c| state.auth_failures.exhausted(c, now));
    if limited && !state.keys.known(secret) {
        state.metrics.rate_limited.fetch_add(1, Ordering::Relaxed);
        return Ok(Problem::rate_limited(
            "too many unknown API keys from your address; try again later",
            60,
        ));
    }
    let key = match state.keys.authenticate(&state.store, secret, trust).await {
        Ok(key) => key,
        Err(key_cache::KeyError::Unknown) => {
            if let Some(client) = &client {
                let _ = state.auth_failures.take(client, now);
            }
            return Err(Problem::unauthorized("the API key is unknown or revoked"));
        }
        Err(key_cache::KeyError::Unavailable(why)) => {
            let mut response = Problem::store_unavailable(why).into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
            return Ok(response);
        }
    };
    let staff = matches!(key.role, Role::Admin | Role::PrivacyOfficer);
    // `/metrics` behind this middleware: only the roles that may read it.
    if req.uri().path() == "/metrics"
        && !matches!(key.role, Role::Metrics | Role::Admin | Role::PrivacyOfficer)
    {
        return Err(Problem::forbidden(format!(
            "a {} key may not read the metrics",
            key.role.as_str()
        )));
    }
    req.extensions_mut().insert(Caller { key });
    Ok(problem::SHOWS_INTERNALS.scope(staff, next.run(req)).await)
}

fn bearer(headers: &HeaderMap) -> Result<&str, Problem> {
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| Problem::unauthorized("send the API key as Authorization: Bearer <key>"))?
        .to_str()
        .map_err(|_| Problem::unauthorized("the Authorization header is not text"))?;
    let (scheme, key) = value
        .split_once(' ')
        .ok_or_else(|| Problem::unauthorized("the Authorization header is not Bearer <key>"))?;
    if !scheme.eq_ignore_ascii_case("bearer") || key.trim().is_empty() {
        return Err(Problem::unauthorized(
            "the Authorization header is not Bearer <key>",
        ));
    }
    Ok(key.trim())
}

/// `GET /metrics` behind an API key (the default; see [`Config::metrics_public`]).
#[utoipa::path(get, path = "/metrics", summary = "Metrics", tag = "operations", operation_id = "metrics",
    security(("api_key" = ["metrics", "admin", "privacy_officer"])),
    responses(
        (status = 200, description = "Counters and gauges in the Prometheus text format", content_type = "text/plain", body = String),
        problem::AuthProblems
    ))]
async fn metrics(State(state): State<AppState>) -> Response {
    metrics_text(&state).await
}

/// `GET /metrics` without a key, when [`Config::metrics_public`] says so.
#[utoipa::path(get, path = "/metrics", summary = "Metrics", tag = "operations", operation_id = "metrics", security(()),
    responses((status = 200, description = "Counters and gauges in the Prometheus text format", content_type = "text/plain", body = String)))]
async fn metrics_open(State(state): State<AppState>) -> Response {
    metrics_text(&state).await
}

/// Prometheus text format.
async fn metrics_text(state: &AppState) -> Response {
    use std::fmt::Write;
    let m = &state.metrics;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP pledge_http_responses_total HTTP responses by status class."
    );
    let _ = writeln!(out, "# TYPE pledge_http_responses_total counter");
    for (class, n) in m.http_by_class.iter().enumerate().skip(1) {
        let _ = writeln!(
            out,
            "pledge_http_responses_total{{class=\"{class}xx\"}} {}",
            n.load(Ordering::Relaxed)
        );
    }
    for (name, help, value) in [
        (
            "pledge_requests_created_total",
            "Rights requests taken in.",
            &m.requests_created,
        ),
        (
            "pledge_transitions_total",
            "Request state changes made through the API.",
            &m.transitions,
        ),
        (
            "pledge_jobs_completed_total",
            "Jobs completed by this process's workers.",
            &m.jobs_completed,
        ),
        (
            "pledge_jobs_failed_total",
            "Failed job attempts in this process.",
            &m.jobs_failed,
        ),
        (
            "pledge_jobs_retried_total",
            "Failed job attempts put back in the queue with back-off in this process.",
            &m.jobs_retried,
        ),
        (
            "pledge_jobs_needing_action_total",
            "Requests this process's workers stopped for staff (permanent failures, exhausted retries).",
            &m.jobs_needing_action,
        ),
        (
            "pledge_personal_data_reads_total",
            "Reads of personal data through the API.",
            &m.personal_data_reads,
        ),
        (
            "pledge_retention_runs_total",
            "Scheduled retention sweeps run by this process.",
            &m.retention_runs,
        ),
        (
            "pledge_retention_failures_total",
            "Datasets whose scheduled sweep failed in this process.",
            &m.retention_failures,
        ),
        (
            "pledge_retention_rows_deleted_total",
            "Expired rows deleted by this process's sweeps.",
            &m.retention_rows_deleted,
        ),
        (
            "pledge_retention_rows_anonymised_total",
            "Expired rows anonymised by this process's sweeps.",
            &m.retention_rows_anonymised,
        ),
        (
            "pledge_maintenance_runs_total",
            "Maintenance runs (expiry of exports, links, closed requests) by this process.",
            &m.maintenance_runs,
        ),
        (
            "pledge_export_links_created_total",
            "Download links made for exports.",
            &m.export_links_created,
        ),
        (
            "pledge_export_link_downloads_total",
            "Exports downloaded through a link.",
            &m.export_link_downloads,
        ),
        (
            "pledge_mail_sent_total",
            "Messages to people sent (or logged) by this process's mailer.",
            &m.mail_sent,
        ),
        (
            "pledge_mail_failed_total",
            "Failed attempts to send a message in this process.",
            &m.mail_failed,
        ),
        (
            "pledge_rate_limited_total",
            "Public calls refused by a rate limit in this process.",
            &m.rate_limited,
        ),
        (
            "pledge_verifications_failed_total",
            "Codes and links refused (wrong, expired, used, locked, unknown).",
            &m.verifications_failed,
        ),
        (
            "pledge_connections_refused_total",
            "Connections closed at once because the connection cap was reached.",
            &m.connections_refused,
        ),
    ] {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} counter");
        let _ = writeln!(out, "{name} {}", value.load(Ordering::Relaxed));
    }
    let _ = writeln!(
        out,
        "# HELP pledge_connections_open Connections this process serves now."
    );
    let _ = writeln!(out, "# TYPE pledge_connections_open gauge");
    let _ = writeln!(
        out,
        "pledge_connections_open {}",
        m.connections_open.load(Ordering::Relaxed)
    );
    if let Ok(counts) = state.store.count_by_state().await {
        let _ = writeln!(
            out,
            "# HELP pledge_requests Requests in the store by state."
        );
        let _ = writeln!(out, "# TYPE pledge_requests gauge");
        for s in pledge_domain::workflow::STATES {
            let n = counts.iter().find(|(x, _)| *x == s).map_or(0, |(_, n)| *n);
            let _ = writeln!(out, "pledge_requests{{state=\"{s}\"}} {n}");
        }
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
        .into_response()
}

/// Seconds since the Unix epoch, from the system clock. The one wall-clock read of the
/// server: everything else asks [`Clock`] (a tidy test holds this).
fn system_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// A bound listener, so the caller can print the address before serving.
pub struct Bound {
    listener: tokio::net::TcpListener,
}

impl Bound {
    pub async fn bind(addr: &str) -> Result<Bound, Error> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| Error::Listen {
                addr: addr.to_string(),
                source,
            })?;
        Ok(Bound { listener })
    }

    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// Serves the API and runs the workers until SIGTERM or Ctrl-C; then stops taking
    /// connections, lets requests in flight and the workers' current jobs finish, and returns.
    pub async fn serve(self, state: AppState) -> Result<(), Error> {
        let (stop_tx, stop_rx) = watch::channel(false);
        // Decisions are answered from memory: load the ledger before taking connections.
        if let Err(e) = state.consent.catch_up().await {
            tracing::error!(error = %e, "the consent index cannot load the ledger");
        }
        let follower = tokio::spawn(
            state
                .consent
                .clone()
                .follow(state.config.consent_poll, stop_rx.clone()),
        );
        let mut workers = Vec::new();
        for i in 0..state.config.workers {
            let owner = format!("worker:{}-{}-{i}", std::process::id(), state.now());
            workers.push(tokio::spawn(worker::run(
                state.clone(),
                owner,
                stop_rx.clone(),
            )));
        }
        // The mailer is a worker too: a replica with none only serves the API.
        if state.config.workers > 0 {
            workers.push(tokio::spawn(mail::run(state.clone(), stop_rx.clone())));
            workers.push(tokio::spawn(forward::run(state.clone(), stop_rx.clone())));
        }
        let mut tasks = Vec::new();
        let owner = format!("tasks:{}-{}", std::process::id(), state.now());
        // A replica started with no workers only serves the API: no background work at all.
        let scheduled = if state.config.workers > 0 {
            vec![
                schedule::Task::Retention,
                schedule::Task::Maintenance,
                schedule::Task::Checkpoint,
            ]
        } else {
            Vec::new()
        };
        if state.config.workers > 0 {
            tasks.push(tokio::spawn(checkpoints::follow(
                state.clone(),
                owner.clone(),
                stop_rx.clone(),
            )));
        }
        for task in scheduled {
            tasks.push(tokio::spawn(schedule::run(
                state.clone(),
                task,
                owner.clone(),
                stop_rx.clone(),
            )));
        }
        let edge = state.config.edge.clone();
        let metrics = state.metrics.clone();
        let app = router(state);
        serve_connections(self.listener, app, &edge, metrics, shutdown_signal()).await;
        let result = Ok(());
        let _ = stop_tx.send(true);
        for w in workers.into_iter().chain(tasks) {
            let _ = w.await;
        }
        let _ = follower.await;
        result
    }
}

/// The accept loop: each connection is served by hyper's HTTP/1 with the edge's header
/// timeout, at most `max_connections` at once (one more is answered 503 and closed without
/// waiting), until `shutdown`; then no new connection is taken and the open ones finish
/// what they are doing.
pub async fn serve_connections(
    listener: tokio::net::TcpListener,
    app: Router,
    edge: &EdgeConfig,
    metrics: Arc<Metrics>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let slots = Arc::new(tokio::sync::Semaphore::new(edge.max_connections.max(1)));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(edge.header_read_timeout)
        .keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: pause rather than spin.
                    tracing::warn!(error = %e, "accept failed; pausing 50 ms");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            metrics.connections_refused.fetch_add(1, Ordering::Relaxed);
            // Best effort, without waiting: the client learns why, then the socket closes.
            let _ = stream.try_write(
                b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\nretry-after: 1\r\n\r\n",
            );
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        // The peer address is the evidence a consent event keeps (truncated) and the key of
        // the public routes' rate limits.
        let service =
            hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                req.extensions_mut()
                    .insert(axum::extract::ConnectInfo(peer));
                let mut app = app.clone();
                async move { tower_service::Service::call(&mut app, req).await }
            });
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        let metrics = metrics.clone();
        metrics.connections_open.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(async move {
            // A connection ends with an error when its client goes away or is too slow:
            // nothing to do but close it.
            let _ = connection.await;
            metrics.connections_open.fetch_sub(1, Ordering::Relaxed);
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("shutting down: finishing requests in flight and the current job");
}
