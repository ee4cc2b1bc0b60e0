//! Public intake: a data subject sends a request without an API key, proves the e-mail
//! address with a one-time code or link sent there, and follows the request with a status
//! token. Rate-limited per client address and per e-mail address (in memory, per replica).
//!
//! New request kinds slot in through [`crate::api::Kind`]: whatever staff intake takes, the
//! public form takes too, with the same checks ([`crate::api::check_intake`]).

use crate::api::{Kind, check_intake};
use crate::problem::{ApiJson, ApiQuery, Problem, ProblemDoc};
use crate::ratelimit::Limiter;
use crate::{AppState, PublicConfig};
use axum::extract::connect_info::ConnectInfo;
use axum::extract::{Form, Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware;
use axum::response::{Html, IntoResponse, Response};
use pledge_docs::html::escape;
use pledge_domain::workflow::{self, Regime, State as RequestState};
use pledge_lang::rights::Right;
use pledge_lang::time::CivilTime;
use pledge_lang::types::Email;
use pledge_store::{NewRequest, ProvedBy, RequestRecord, VerificationPolicy};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The rate limits of the public endpoints.
#[derive(Debug)]
pub struct Limits {
    intake_per_ip: Limiter,
    intake_per_email: Limiter,
    verify_per_ip: Limiter,
}

impl Limits {
    pub fn new(config: &PublicConfig) -> Self {
        Limits {
            intake_per_ip: Limiter::new(config.intake_per_ip),
            intake_per_email: Limiter::new(config.intake_per_email),
            verify_per_ip: Limiter::new(config.verify_per_ip),
        }
    }
}

/// The key the client is rate-limited under (its IPv4 address or IPv6 /64, see
/// [`crate::ratelimit::client_key`]), put in the request by [`identify_client`].
#[derive(Debug, Clone)]
pub struct Client(pub String);

pub fn routes(state: &AppState) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create))
        .routes(routes!(status))
        .routes(routes!(verify_code))
        .routes(routes!(resend))
        .routes(routes!(confirm_page, verify_link))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            identify_client,
        ))
}

async fn identify_client(
    State(state): State<AppState>,
    mut req: Request,
    next: middleware::Next,
) -> Response {
    let client = client_address(&req, state.config.public.client_ip_header.as_deref());
    req.extensions_mut()
        .insert(Client(crate::ratelimit::client_key(&client)));
    next.run(req).await
}

/// The TCP peer, or behind a trusted proxy the last entry of the configured header (the
/// one that proxy added; earlier entries are whatever the client claimed).
fn client_address(req: &Request, header: Option<&str>) -> String {
    if let Some(last) = header.and_then(|name| last_entry(req.headers(), name)) {
        return last;
    }
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(|| "unknown".to_string(), |c| c.0.ip().to_string())
}

pub(crate) fn last_entry(headers: &HeaderMap, name: &str) -> Option<String> {
    let value = headers.get_all(name).iter().next_back()?.to_str().ok()?;
    let last = value.rsplit(',').next()?.trim();
    (!last.is_empty()).then(|| last.to_string())
}

/// Why a public call was refused: a problem, or a rate limit (with `Retry-After`).
pub enum Rejection {
    Problem(Problem),
    Limited { detail: String, retry_after: u64 },
}

impl From<Problem> for Rejection {
    fn from(p: Problem) -> Self {
        Rejection::Problem(p)
    }
}

impl From<pledge_store::Error> for Rejection {
    fn from(e: pledge_store::Error) -> Self {
        Rejection::Problem(e.into())
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        match self {
            Rejection::Problem(p) => p.into_response(),
            Rejection::Limited {
                detail,
                retry_after,
            } => Problem::rate_limited(detail, retry_after),
        }
    }
}

fn limit(
    state: &AppState,
    limiter: &Limiter,
    key: &str,
    now: i64,
    what: &str,
) -> Result<(), Rejection> {
    limiter.take(key, now).map_err(|retry_after| {
        state.metrics.rate_limited.fetch_add(1, Ordering::Relaxed);
        Rejection::Limited {
            detail: format!("too many {what}; try again later"),
            retry_after,
        }
    })
}

/// Counts a refused code or link for the metrics, and passes the error on.
fn refused(state: &AppState, e: pledge_store::Error) -> pledge_store::Error {
    if matches!(e, pledge_store::Error::Verification(_)) {
        state
            .metrics
            .verifications_failed
            .fetch_add(1, Ordering::Relaxed);
    }
    e
}

/// `POST /public/requests`: a request from the person themself.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublicRequest {
    pub kind: Kind,
    /// The address the code is sent to; it also identifies the person.
    pub email: String,
    /// `gdpr` or `ccpa`; wins over `jurisdiction`.
    #[schema(value_type = Option<String>, example = "gdpr")]
    pub regime: Option<Regime>,
    /// Where the person lives, as an ISO 3166 code (`US-CA` or `CA` for California: CCPA;
    /// anything else: GDPR). Only a hint, used when `regime` is not given.
    pub jurisdiction: Option<String>,
    /// Refused unless empty: a public request acts only on the address it confirms (and on
    /// what that address leads to in the datasets). Kept in the schema so that a form which
    /// sends other ids gets a clear answer, not an unknown field.
    #[serde(default)]
    pub identities: BTreeMap<String, String>,
    /// For rectification: column (or `table.column`) → new value.
    #[serde(default)]
    pub changes: BTreeMap<String, String>,
}

/// The public proves one identity, the address the code goes to: any other it names is
/// refused (400), so that nobody can have someone else's data sent to their own address.
fn unproven(identities: &BTreeMap<String, String>) -> Result<(), Problem> {
    if identities.is_empty() {
        return Ok(());
    }
    let kinds: Vec<String> = identities.keys().map(|k| format!("`{k}`")).collect();
    Err(Problem::new(
        StatusCode::BAD_REQUEST,
        "unproven-identity",
        "Only the e-mail address can be proved here",
        format!(
            "this form acts only on the e-mail address you confirm; {} cannot be proved here, so it is not taken: send `email` alone (we find your records from it), or ask our privacy team, who can check other ids",
            kinds.join(", ")
        ),
    ))
}

fn regime_of(body: &PublicRequest) -> Regime {
    match (&body.regime, body.jurisdiction.as_deref()) {
        (Some(r), _) => *r,
        (None, Some(j)) if matches!(j.trim().to_ascii_uppercase().as_str(), "US-CA" | "CA") => {
            Regime::Ccpa
        }
        _ => Regime::Gdpr,
    }
}

#[utoipa::path(post, path = "/public/requests", summary = "Send a request (the person)", tag = "public", operation_id = "public_create_request", request_body = PublicRequest, security(()),
    description = "A request from the person: answered 202, and a one-time code and link go to the e-mail address. The request waits in `verifying` until one of them comes back, whatever its kind; then it acts on the address's person only (the rows the address is found in, and the ledger subjects they name).",
    responses(
        (status = 202, description = "Taken in; the code is on its way", body = crate::schemas::PublicIntake),
        (status = 400, description = "Malformed JSON, or identities other than `email` (`unproven-identity`: the public proves only the address)", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "Unknown field, bad e-mail address, undeclared identity", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 429, description = "Too many requests from this address or for this e-mail; see Retry-After", body = ProblemDoc, content_type = "application/problem+json")
    ))]
pub async fn create(
    State(state): State<AppState>,
    axum::Extension(client): axum::Extension<Client>,
    body: Result<ApiJson<PublicRequest>, Problem>,
) -> Result<Response, Rejection> {
    let now = state.now();
    limit(
        &state,
        &state.limits.intake_per_ip,
        &client.0,
        now,
        "requests from your address",
    )?;
    let ApiJson(body) = body?;
    let email: Email = body
        .email
        .trim()
        .parse()
        .map_err(|e| Problem::invalid(format!("`email`: {e}")))?;
    let email = email.to_string();
    limit(
        &state,
        &state.limits.intake_per_email,
        &email.to_lowercase(),
        now,
        "requests for this e-mail address",
    )?;
    let kind = Right::from(body.kind);
    unproven(&body.identities)?;
    let identities = BTreeMap::from([("email".to_string(), email.clone())]);
    check_intake(&state, kind, &identities, &body.changes)?;
    let config = &state.config.public;
    let new = NewRequest {
        kind,
        regime: regime_of(&body),
        identities: identities.into_iter().collect(),
        changes: body.changes.into_iter().collect(),
        // Withdrawing consent and opting out need no one's approval; an objection may meet
        // compelling grounds (Art. 21(1)), which a privacy officer weighs.
        needs_approval: config.needs_approval
            && !matches!(kind, Right::WithdrawConsent | Right::OptOut),
        verified: false,
        proved_by: ProvedBy::EmailCode,
        received_at: now,
    };
    // Every kind waits for the address to be confirmed. Withdrawing consent, objecting and
    // opting out need no proof of identity (GDPR Art. 7(3), CCPA Regs. §7026(d)), but they
    // act on the address's person, so the sender must show that the address is theirs:
    // otherwise anyone could withdraw anyone's consent. They need no approval.
    let policy = VerificationPolicy {
        ttl_secs: config.code_ttl_secs,
        max_attempts: config.max_attempts,
    };
    let (record, _secrets) = state.store.create_public_request(new, policy).await?;
    let next = format!(
        "we sent a code to {email}: POST it to /public/requests/{}/verify as {{\"code\": \"...\"}}, or open the link in the message",
        record.id
    );
    state
        .metrics
        .requests_created
        .fetch_add(1, Ordering::Relaxed);
    state.wake_mail.notify_one();
    let mut v = person_view(&record, now);
    v["next"] = json!(next);
    Ok((StatusCode::ACCEPTED, axum::Json(v)).into_response())
}

/// What the person sees of their request: no identities, no results.
fn person_view(r: &RequestRecord, now: i64) -> Value {
    let dpv = r.state.dpv();
    json!({
        "id": r.id,
        "kind": r.kind.as_str(),
        "regime": r.regime.as_str(),
        "state": r.state.as_str(),
        "status": {
            "dpv": dpv,
            "iri": format!("https://w3id.org/dpv#{}", dpv.trim_start_matches("dpv:")),
        },
        "received_at": CivilTime::from_unix(r.received_at).to_rfc3339(),
        "due_at": CivilTime::from_unix(r.due_at).to_rfc3339(),
        "overdue": workflow::is_overdue(r.state, CivilTime::from_unix(r.due_at), CivilTime::from_unix(now)),
        "extension_reason": r.extension_reason,
        "denial_reason": r.denial_reason,
    })
}

/// The body of `POST /public/requests/{id}/verify`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Code {
    /// The eight digits from the message.
    pub code: String,
}

#[utoipa::path(post, path = "/public/requests/{id}/verify", summary = "Verify with the code", tag = "public", operation_id = "public_verify_code", request_body = Code, security(()), params(("id" = String, Path)),
    description = "The code from the message. Right: the request goes on (to approval, or to a worker). Each wrong code counts; after the last allowed one the code is locked.",
    responses(
        (status = 200, description = "Verified; the request as the person sees it", body = crate::schemas::PersonView),
        (status = 404, description = "No code for this request (unknown, or purged)", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 409, description = "The request was closed meanwhile", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 410, description = "The code expired or was already used", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "Wrong code (the detail says how many attempts are left), or a body that is not one", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 429, description = "Too many wrong codes (locked), or too many checks from this address (with Retry-After)", body = ProblemDoc, content_type = "application/problem+json")
    ))]
pub async fn verify_code(
    State(state): State<AppState>,
    axum::Extension(client): axum::Extension<Client>,
    Path(id): Path<String>,
    body: Result<ApiJson<Code>, Problem>,
) -> Result<Response, Rejection> {
    let now = state.now();
    limit(
        &state,
        &state.limits.verify_per_ip,
        &client.0,
        now,
        "code checks from your address",
    )?;
    let ApiJson(body) = body?;
    let record = state
        .store
        .verify_code(&id, &body.code, now)
        .await
        .map_err(|e| refused(&state, e))?;
    went_on(&state, &record);
    Ok(axum::Json(person_view(&record, now)).into_response())
}

/// The body of `POST /public/requests/{id}/resend`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Resend {
    /// The status token from the first message (its status link ends with it).
    pub token: String,
}

#[utoipa::path(post, path = "/public/requests/{id}/resend", summary = "Send a new code", tag = "public", operation_id = "public_resend_code", request_body = Resend, security(()), params(("id" = String, Path)),
    description = "A new code and link for a request still in `verifying` (the first expired, was locked, or never arrived); the old code stops working. Counts against the same limits as new requests.",
    responses(
        (status = 202, description = "A new code is on its way", body = crate::schemas::PersonView),
        (status = 404, description = "Unknown request, or a token that does not match", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 409, description = "The request is no longer waiting for verification", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 429, description = "Too many requests from this address or for this e-mail; see Retry-After", body = ProblemDoc, content_type = "application/problem+json")
    ))]
pub async fn resend(
    State(state): State<AppState>,
    axum::Extension(client): axum::Extension<Client>,
    Path(id): Path<String>,
    body: Result<ApiJson<Resend>, Problem>,
) -> Result<Response, Rejection> {
    let now = state.now();
    limit(
        &state,
        &state.limits.intake_per_ip,
        &client.0,
        now,
        "requests from your address",
    )?;
    let ApiJson(body) = body?;
    let (record, _) = state
        .store
        .public_status(&id, &body.token)
        .await
        .map_err(|e| refused(&state, e))?;
    let email = pledge_store::notify::recipient(&record)
        .unwrap_or_default()
        .to_lowercase();
    limit(
        &state,
        &state.limits.intake_per_email,
        &email,
        now,
        "requests for this e-mail address",
    )?;
    let config = &state.config.public;
    let record = state
        .store
        .reissue_code(
            &id,
            &body.token,
            VerificationPolicy {
                ttl_secs: config.code_ttl_secs,
                max_attempts: config.max_attempts,
            },
            now,
        )
        .await?;
    state.wake_mail.notify_one();
    Ok((StatusCode::ACCEPTED, axum::Json(person_view(&record, now))).into_response())
}

fn went_on(state: &AppState, record: &RequestRecord) {
    state.metrics.transitions.fetch_add(1, Ordering::Relaxed);
    if record.state == RequestState::InProgress {
        state.wake.notify_one();
    }
    state.wake_mail.notify_one();
}

/// `?token=...`
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct Token {
    pub token: String,
}

#[utoipa::path(get, path = "/public/verify", summary = "The confirmation page of a link", tag = "public", operation_id = "public_confirm_page", params(Token), security(()),
    description = "The link in the message. It changes nothing (mail scanners open links): it shows a page whose button confirms with a POST.",
    responses((status = 200, description = "The confirmation page", content_type = "text/html", body = String)))]
pub async fn confirm_page(State(state): State<AppState>, ApiQuery(q): ApiQuery<Token>) -> Response {
    let body = format!(
        "<p>Confirm that you sent this request to {controller}, so that we can answer it.</p>\n\
         <form method=\"post\" action=\"/public/verify\">\n\
         <input type=\"hidden\" name=\"token\" value=\"{token}\">\n\
         <button type=\"submit\">Confirm my request</button>\n</form>\n\
         <p>If you did not send it, close this page: nothing happens.</p>",
        controller = escape(&controller_name(&state)),
        token = escape(&q.token),
    );
    page(StatusCode::OK, "Confirm your request", &body)
}

#[utoipa::path(post, path = "/public/verify", summary = "Confirm through the link", tag = "public", operation_id = "public_verify_link", security(()),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "`token=...` from the link"),
    description = "The confirmation page's button. The same outcomes as the code, as a page.",
    responses(
        (status = 200, description = "Confirmed", content_type = "text/html", body = String),
        (status = 404, description = "Unknown link", content_type = "text/html", body = String),
        (status = 410, description = "Expired or already used", content_type = "text/html", body = String),
        (status = 429, description = "Too many checks from this address (Retry-After)", content_type = "text/html", body = String)
    ))]
pub async fn verify_link(
    State(state): State<AppState>,
    axum::Extension(client): axum::Extension<Client>,
    form: Result<Form<Token>, axum::extract::rejection::FormRejection>,
) -> Response {
    let now = state.now();
    if let Err(secs) = state.limits.verify_per_ip.take(&client.0, now) {
        state.metrics.rate_limited.fetch_add(1, Ordering::Relaxed);
        let mut response = problem_page(&Problem::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate-limited",
            "Too many requests",
            "too many confirmations from your address; try again later",
        ));
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, secs.into());
        return response;
    }
    let Ok(Form(form)) = form else {
        return problem_page(&Problem::new(
            StatusCode::BAD_REQUEST,
            "bad-body",
            "The form cannot be read",
            "send token=... as a form",
        ));
    };
    match state
        .store
        .verify_link(&form.token, now)
        .await
        .map_err(|e| refused(&state, e))
    {
        Ok(record) => {
            went_on(&state, &record);
            let next = if record.state == RequestState::AwaitingApproval {
                "Our privacy team reviews it next."
            } else {
                "We are working on it now."
            };
            page(
                StatusCode::OK,
                "Request confirmed",
                &format!(
                    "<p>Thank you: your {} request ({}) is confirmed. {next} We will write to you at each step, and by {} at the latest.</p>",
                    escape(record.kind.as_str()),
                    escape(&record.id),
                    CivilTime::from_unix(record.due_at)
                        .to_rfc3339()
                        .get(..10)
                        .unwrap_or(""),
                ),
            )
        }
        Err(e) => problem_page(&Problem::from(e)),
    }
}

#[utoipa::path(get, path = "/public/requests/{id}", summary = "A request's status (the person)", tag = "public", operation_id = "public_request_status", params(("id" = String, Path), Token), security(()),
    description = "Where the request stands, for the person holding the status token from the first message.",
    responses(
        (status = 200, description = "State, deadlines, reasons and history; never personal data", body = crate::schemas::PublicStatus),
        (status = 404, description = "Unknown request, or a token that does not match", body = ProblemDoc, content_type = "application/problem+json")
    ))]
pub async fn status(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<Token>,
) -> Result<Response, Problem> {
    let (record, events) = state.store.public_status(&id, &q.token).await?;
    let mut v = person_view(&record, state.now());
    v["events"] = events
        .iter()
        .map(|e| {
            // Why a request stopped for staff, how they resumed it, and their notes are
            // for staff: the person sees the step, not the words.
            let staff_only = e.to_state == RequestState::NeedsAction
                || (e.from_state == Some(RequestState::NeedsAction)
                    && !matches!(e.to_state, RequestState::Denied | RequestState::Extended));
            json!({
                "at": CivilTime::from_unix(e.at).to_rfc3339(),
                "state": e.to_state.as_str(),
                "reason": if staff_only { None } else { e.reason.as_deref() },
            })
        })
        .collect();
    Ok(axum::Json(v).into_response())
}

pub(crate) fn controller_name(state: &AppState) -> String {
    state
        .decl
        .doc()
        .controller
        .as_ref()
        .map_or_else(|| "us".to_string(), |c| c.name.value.clone())
}

/// A small self-contained page (no external assets).
fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"referrer\" content=\"no-referrer\">\
         <title>{t}</title><style>body{{font:16px/1.5 system-ui,sans-serif;max-width:36em;margin:3em auto;padding:0 1em}}\
         button{{font:inherit;padding:.5em 1em}}</style></head>\n<body><h1>{t}</h1>\n{body}\n</body></html>\n",
        t = escape(title),
    );
    let mut response = (status, Html(html)).into_response();
    // The page carries a token: keep it out of caches.
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    response
}

fn problem_page(p: &Problem) -> Response {
    page(
        p.status,
        p.title,
        &format!("<p>{}</p>", escape(&p.public_detail())),
    )
}
