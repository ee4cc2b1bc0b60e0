//! The HTTP face of the server: every route with its OpenAPI description ([`app`]), the
//! middleware each group sits behind (request ids, metrics, security headers, body
//! deadlines, API-key authentication), `/metrics`, and the listener that serves them with
//! connection limits and a graceful shutdown ([`Bound`], [`serve_connections`]). The
//! handlers live in the modules below, one per area of the API.

pub(crate) mod api;
pub mod banner;
pub(crate) mod consent_api;
pub mod console;
pub(crate) mod docs;
pub mod health;
pub(crate) mod key_cache;
pub mod lang;
pub(crate) mod links;
pub(crate) mod privacy;
pub mod problem;
pub(crate) mod public;
pub mod ratelimit;
pub(crate) mod schemas;

use crate::jobs::{checkpoints, forward, mail, schedule, worker};
use crate::{AppState, BODY_LIMIT, Caller, EdgeConfig, Error, Metrics};
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use pledge_store::Role;
use problem::Problem;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::watch;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

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
        .routes(routes!(links::download_page, links::download))
        .merge(banner::routes(state))
        .merge(console::routes(state));
    if state.config.public.enabled {
        app = app
            .merge(public::routes(state))
            .routes(routes!(privacy::privacy_center))
            .routes(routes!(privacy::logo));
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
#[derive(Debug, thiserror::Error)]
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
pub const PAGE_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

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
        // Decisions are answered from memory: load the index (its snapshot, then the ledger
        // after it) before taking connections.
        if let Err(e) = state.consent.start().await {
            tracing::error!(error = %e, "the consent index cannot load the ledger");
        }
        // The notice this declaration publishes, recorded if its version is new.
        if let Err(e) = console::publish_notice(&state).await {
            tracing::error!(error = %e, "the notice cannot be recorded as published");
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
                schedule::Task::Digest,
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
        let consent = state.consent.clone();
        let app = router(state);
        serve_connections(self.listener, app, &edge, metrics, shutdown_signal()).await;
        let result = Ok(());
        let _ = stop_tx.send(true);
        for w in workers.into_iter().chain(tasks) {
            let _ = w.await;
        }
        let _ = follower.await;
        // The next start reads the index from here instead of the whole ledger.
        if let Err(e) = consent.snapshot_if_due(true).await {
            tracing::warn!(error = %e, "the consent index snapshot cannot be written");
        }
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

/// A template environment for HTML pages (the person's pages, the console): `{% %}` blocks
/// trimmed, an undefined value an error, every value escaped by the project's one HTML
/// escaper (minijinja's own also escapes `/`), the catalogues' `t()` and `date`, and
/// `sources` (name, text) added.
pub(crate) fn html_templates(
    sources: &[(&'static str, &'static str)],
) -> Result<minijinja::Environment<'static>, minijinja::Error> {
    use minijinja::AutoEscape;
    let mut env = minijinja::Environment::new();
    crate::i18n::register(&mut env);
    env.set_auto_escape_callback(|_| AutoEscape::Html);
    env.set_syntax(
        minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build()?,
    );
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.set_formatter(|out, state, value| match value.as_str() {
        Some(s) if matches!(state.auto_escape(), AutoEscape::Html) && !value.is_safe() => {
            Ok(out.write_str(&pledge_docs::html::escape(s))?)
        }
        _ => minijinja::escape_formatter(out, state, value),
    });
    for (name, source) in sources {
        env.add_template(name, source)?;
    }
    Ok(env)
}
