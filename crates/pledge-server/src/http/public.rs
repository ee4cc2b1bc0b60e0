//! Public intake: a data subject sends a request without an API key, proves the e-mail
//! address with a one-time code or link sent there, and follows the request with a status
//! token. Rate-limited per client address and per e-mail address (in memory, per replica).
//!
//! New request kinds slot in through [`crate::http::api::Kind`]: whatever staff intake takes, the
//! public form takes too, with the same checks ([`crate::http::api::check_intake`]).

use crate::http::api::{Kind, check_intake};
use crate::http::lang::PageLang;
use crate::http::problem::{ApiJson, ApiQuery, Problem, ProblemDoc};
use crate::http::ratelimit::Limiter;
use crate::i18n::tr;
use crate::{AppState, PublicConfig};
use axum::body::Bytes;
use axum::extract::connect_info::ConnectInfo;
use axum::extract::{Form, FromRequest, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use minijinja::context;
use pledge_domain::workflow::{self, Regime, State as RequestState};
use pledge_lang::rights::Right;
use pledge_lang::time::CivilTime;
use pledge_lang::types::Email;
use pledge_store::{NewRequest, ProvedBy, RequestRecord, VerificationError, VerificationPolicy};
use serde::Deserialize;
use serde::de::DeserializeOwned;
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
/// [`crate::http::ratelimit::client_key`]), put in the request by [`identify_client`].
#[derive(Debug, Clone)]
pub struct Client(pub String);

pub fn routes(state: &AppState) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, create_preflight))
        .routes(routes!(status))
        .routes(routes!(verify_code, verify_preflight))
        .routes(routes!(code_page))
        .routes(routes!(resend, resend_preflight))
        .routes(routes!(confirm_page, verify_link))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            identify_client,
        ))
        .route_layer(middleware::from_fn_with_state(state.clone(), cors))
}

/// Whether a page of `origin` may call public intake from a script (CORS): an origin of
/// `public.origins`, or any where that holds `*`. A plain HTML form post needs no
/// CORS: the browser navigates to the answer.
fn allowed_origin(state: &AppState, headers: &HeaderMap) -> Option<HeaderValue> {
    let origin = headers.get(header::ORIGIN)?;
    let text = origin.to_str().ok()?;
    let origins = &state.config.public.origins;
    if origins.iter().any(|o| o == "*") {
        // Never with credentials: the answer says `*`, not the caller's origin, and no
        // `Access-Control-Allow-Credentials` is ever sent.
        return Some(HeaderValue::from_static("*"));
    }
    origins.iter().any(|o| o == text).then(|| origin.clone())
}

/// Adds `Access-Control-Allow-Origin` to the answers of public intake for an allowed origin.
async fn cors(State(state): State<AppState>, req: Request, next: middleware::Next) -> Response {
    let origin = allowed_origin(&state, req.headers());
    let mut response = next.run(req).await;
    let h = response.headers_mut();
    h.append(header::VARY, HeaderValue::from_static("Origin"));
    if let Some(origin) = origin {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        h.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("retry-after"),
        );
    }
    response
}

/// The CORS preflight of a `POST` of public intake: allowed for the configured origins
/// (204 with the methods and headers), refused (403, no CORS headers) for any other.
fn preflight(state: &AppState, headers: &HeaderMap) -> Response {
    if allowed_origin(state, headers).is_none() {
        return Problem::forbidden("this origin may not call public intake from a page's script")
            .into_response();
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    let h = response.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("POST"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("content-type, accept"),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
    response
}

#[utoipa::path(options, path = "/public/requests", summary = "CORS preflight of a request", tag = "public", operation_id = "public_create_request_preflight", security(()),
    description = "The CORS preflight of `POST /public/requests` from a page's script on an allowed origin (`public.origins`, `PLEDGE_PUBLIC_ORIGINS`).",
    responses(
        (status = 204, description = "Allowed: the methods and headers"),
        (status = 403, description = "Not an allowed origin (no CORS headers)", body = ProblemDoc, content_type = "application/problem+json")
    ))]
pub async fn create_preflight(State(state): State<AppState>, headers: HeaderMap) -> Response {
    preflight(&state, &headers)
}

#[utoipa::path(options, path = "/public/requests/{id}/verify", summary = "CORS preflight of a code", tag = "public", operation_id = "public_verify_code_preflight", security(()), params(("id" = String, Path)),
    description = "The CORS preflight of `POST /public/requests/{id}/verify` from a page's script on an allowed origin.",
    responses(
        (status = 204, description = "Allowed: the methods and headers"),
        (status = 403, description = "Not an allowed origin (no CORS headers)", body = ProblemDoc, content_type = "application/problem+json")
    ))]
pub async fn verify_preflight(State(state): State<AppState>, headers: HeaderMap) -> Response {
    preflight(&state, &headers)
}

#[utoipa::path(options, path = "/public/requests/{id}/resend", summary = "CORS preflight of a new code", tag = "public", operation_id = "public_resend_code_preflight", security(()), params(("id" = String, Path)),
    description = "The CORS preflight of `POST /public/requests/{id}/resend` from a page's script on an allowed origin.",
    responses(
        (status = 204, description = "Allowed: the methods and headers"),
        (status = 403, description = "Not an allowed origin (no CORS headers)", body = ProblemDoc, content_type = "application/problem+json")
    ))]
pub async fn resend_preflight(State(state): State<AppState>, headers: HeaderMap) -> Response {
    preflight(&state, &headers)
}

/// Whether the body is an HTML form's (`application/x-www-form-urlencoded`).
fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

/// Whether the caller would rather have HTML than JSON: `Accept` gives `text/html` a higher
/// weight than `application/json` (a browser opening a link). `*/*` counts for neither.
fn wants_html(headers: &HeaderMap) -> bool {
    let mut html = 0.0_f32;
    let mut json = 0.0_f32;
    for value in headers.get_all(header::ACCEPT) {
        let Ok(value) = value.to_str() else { continue };
        for range in value.split(',') {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            match media.as_str() {
                "text/html" | "application/xhtml+xml" => html = html.max(q),
                "application/json" | "application/problem+json" => json = json.max(q),
                _ => {}
            }
        }
    }
    html > json
}

/// A body sent as JSON (an API client, a page's script) or as an HTML form
/// (`application/x-www-form-urlencoded`): the same fields either way. In a form, a map is
/// sent as `changes[column]=value`, and empty fields count as not sent.
pub struct Posted<T>(pub T);

impl<T, S> FromRequest<S> for Posted<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Problem> {
        if !is_form(req.headers()) {
            let ApiJson(value) = ApiJson::<T>::from_request(req, state).await?;
            return Ok(Posted(value));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            Problem::new(
                e.status(),
                "bad-body",
                "The body cannot be read",
                e.body_text(),
            )
        })?;
        let fields = form_fields(&bytes)?;
        serde_json::from_value(fields)
            .map(Posted)
            .map_err(|e| Problem::invalid(e.to_string()))
    }
}

/// The fields of a form body as the JSON object the API takes.
fn form_fields(body: &[u8]) -> Result<Value, Problem> {
    let mut fields = serde_json::Map::new();
    for (key, value) in form_urlencoded::parse(body) {
        if value.trim().is_empty() {
            continue;
        }
        let nested = ["changes", "identities"].into_iter().find_map(|map| {
            let inner = key
                .strip_prefix(map)?
                .strip_prefix('[')?
                .strip_suffix(']')?;
            Some((map, inner.to_string()))
        });
        let (target, name) = match nested {
            Some((map, inner)) => {
                let entry = fields
                    .entry(map)
                    .or_insert_with(|| Value::Object(serde_json::Map::new()));
                match entry.as_object_mut() {
                    Some(object) => (object, inner),
                    None => return Err(Problem::invalid(format!("`{map}` is given twice"))),
                }
            }
            None => (&mut fields, key.to_string()),
        };
        if target.insert(name, json!(value)).is_some() {
            return Err(Problem::invalid(format!("`{key}` is given twice")));
        }
    }
    Ok(Value::Object(fields))
}

async fn identify_client(
    State(state): State<AppState>,
    mut req: Request,
    next: middleware::Next,
) -> Response {
    let client = client_address(&req, state.config.public.client_ip_header.as_deref());
    req.extensions_mut()
        .insert(Client(crate::http::ratelimit::client_key(&client)));
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
    Limited {
        detail: String,
        retry_after: u64,
    },
    /// A wrong code, with the attempts left (the page says how many, in its language).
    WrongCode {
        problem: Problem,
        attempts_left: i64,
    },
}

impl From<Problem> for Rejection {
    fn from(p: Problem) -> Self {
        Rejection::Problem(p)
    }
}

impl From<pledge_store::Error> for Rejection {
    fn from(e: pledge_store::Error) -> Self {
        match e {
            pledge_store::Error::Verification(VerificationError::Wrong { attempts_left }) => {
                Rejection::WrongCode {
                    problem: e.into(),
                    attempts_left,
                }
            }
            e => Rejection::Problem(e.into()),
        }
    }
}

impl Rejection {
    /// The refusal as a page for the person in `lang`; with `retry`, the code form of that
    /// request again.
    fn page(self, state: &AppState, lang: &PageLang, retry: Option<&str>) -> Response {
        match self {
            Rejection::Problem(p) => refused_page(state, lang, &p, None, retry),
            Rejection::WrongCode {
                problem,
                attempts_left,
            } => refused_page(state, lang, &problem, Some(attempts_left), retry),
            Rejection::Limited { retry_after, .. } => {
                let limited = Problem::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate-limited",
                    "Too many requests",
                    "",
                );
                let mut response = refused_page(state, lang, &limited, None, None);
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, retry_after.into());
                response
            }
        }
    }
}

/// `s` with its first letter in capitals: a label that begins a sentence or a heading.
pub(crate) fn capitalised(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map_or_else(String::new, |c| c.to_uppercase().chain(chars).collect())
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        match self {
            Rejection::Problem(p) | Rejection::WrongCode { problem: p, .. } => p.into_response(),
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
    /// The language of the messages about the request (`en`, `da`, `fr`; `da-DK` reads as
    /// `da`). The privacy center sends its page's. Default: for a form, the language its
    /// answer page is in; for JSON, the server's (`public.language`).
    #[schema(example = "fr")]
    pub language: Option<String>,
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

#[utoipa::path(post, path = "/public/requests", summary = "Send a request (the person)", tag = "public", operation_id = "public_create_request", security(()),
    request_body(content(
        (PublicRequest = "application/json"),
        (PublicRequest = "application/x-www-form-urlencoded")
    ), description = "JSON, or an HTML form with the same fields (`kind`, `email`, `regime`, `jurisdiction`, `changes[column]`); empty form fields count as not sent"),
    description = "A request from the person: answered 202, and a one-time code and link go to the e-mail address. The request waits in `verifying` until one of them comes back, whatever its kind; then it acts on the address's person only (the rows the address is found in, and the ledger subjects they name). A form post is answered with a page (what happens next, and a field for the code); JSON with JSON. Pages of the origins in `public.origins` (`PLEDGE_PUBLIC_ORIGINS`) may call it from a script (CORS).",
    responses(
        (status = 202, description = "Taken in; the code is on its way (a page for a form post)", content(
            (crate::http::schemas::PublicIntake = "application/json"),
            (String = "text/html")
        )),
        (status = 400, description = "Malformed JSON, or identities other than `email` (`unproven-identity`: the public proves only the address)", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 415, description = "Neither JSON nor a form", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "Unknown field, bad e-mail address, undeclared identity", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 429, description = "Too many requests from this address or for this e-mail; see Retry-After", body = ProblemDoc, content_type = "application/problem+json")
    ))]
pub async fn create(
    State(state): State<AppState>,
    axum::Extension(client): axum::Extension<Client>,
    lang: PageLang,
    headers: HeaderMap,
    body: Result<Posted<PublicRequest>, Problem>,
) -> Response {
    let form = is_form(&headers);
    // A form's request without a `language` field is in the language of its answer.
    let negotiated = form.then_some(lang.lang);
    match take_in(&state, &client, body, negotiated).await {
        Ok((record, email)) => {
            if form {
                let lang = lang.or_field(record.language.as_deref());
                return sent_page(&state, &lang, &record, &email);
            }
            let next = format!(
                "we sent a code to {email}: POST it to /public/requests/{}/verify as {{\"code\": \"...\"}}, or open the link in the message",
                record.id
            );
            let mut v = person_view(&record, state.now());
            v["next"] = json!(next);
            (StatusCode::ACCEPTED, axum::Json(v)).into_response()
        }
        Err(rejection) if form => rejection.page(&state, &lang, None),
        Err(rejection) => rejection.into_response(),
    }
}

/// Takes a public request in: the checks, the record, the message queued. Returns the
/// record and the address the code goes to.
async fn take_in(
    state: &AppState,
    client: &Client,
    body: Result<Posted<PublicRequest>, Problem>,
    negotiated: Option<&'static str>,
) -> Result<(RequestRecord, String), Rejection> {
    let now = state.now();
    limit(
        state,
        &state.limits.intake_per_ip,
        &client.0,
        now,
        "requests from your address",
    )?;
    let Posted(body) = body?;
    let email: Email = body
        .email
        .trim()
        .parse()
        .map_err(|e| Problem::invalid(format!("`email`: {e}")))?;
    let email = email.to_string();
    limit(
        state,
        &state.limits.intake_per_email,
        &email.to_lowercase(),
        now,
        "requests for this e-mail address",
    )?;
    let kind = Right::from(body.kind);
    unproven(&body.identities)?;
    let identities = BTreeMap::from([("email".to_string(), email.clone())]);
    check_intake(state, kind, &identities, &body.changes)?;
    let language = crate::i18n::language_field(body.language.as_deref())
        .map_err(Problem::invalid)?
        .or(negotiated);
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
        language: language.map(str::to_string),
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
    state
        .metrics
        .requests_created
        .fetch_add(1, Ordering::Relaxed);
    state.wake_mail.notify_one();
    Ok((record, email))
}

/// The answer to a form post: the message is on its way, and where the code goes.
fn sent_page(state: &AppState, lang: &PageLang, record: &RequestRecord, email: &str) -> Response {
    public_page(
        state,
        lang,
        StatusCode::ACCEPTED,
        "sent.html",
        context! {
            email,
            minutes => state.config.public.code_ttl_secs / 60,
            id => record.id.clone(),
        },
    )
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

#[utoipa::path(post, path = "/public/requests/{id}/verify", summary = "Verify with the code", tag = "public", operation_id = "public_verify_code", security(()), params(("id" = String, Path)),
    request_body(content(
        (Code = "application/json"),
        (Code = "application/x-www-form-urlencoded")
    ), description = "JSON, or the form of the code page (`code=...`)"),
    description = "The code from the message. Right: the request goes on (to approval, or to a worker). Each wrong code counts; after the last allowed one the code is locked. A form post (the code page's) is answered with a page, JSON with JSON.",
    responses(
        (status = 200, description = "Verified; the request as the person sees it (a page for a form post)", content(
            (crate::http::schemas::PersonView = "application/json"),
            (String = "text/html")
        )),
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
    lang: PageLang,
    headers: HeaderMap,
    body: Result<Posted<Code>, Problem>,
) -> Response {
    let form = is_form(&headers);
    let now = state.now();
    let checked = async {
        limit(
            &state,
            &state.limits.verify_per_ip,
            &client.0,
            now,
            "code checks from your address",
        )?;
        let Posted(body) = body?;
        // The code page lets people type the digits in two groups.
        let code: String = body.code.split_whitespace().collect();
        let record = state
            .store
            .verify_code(&id, &code, now)
            .await
            .map_err(|e| refused(&state, e))?;
        went_on(&state, &record);
        Ok::<_, Rejection>(record)
    }
    .await;
    match checked {
        Ok(record) if form => confirmed_page(&state, &lang, &record),
        Ok(record) => axum::Json(person_view(&record, now)).into_response(),
        Err(rejection) if form => {
            // A wrong code may be typed again; anything else is final for this form. The
            // id goes into the form's address: it must look like one.
            let again = looks_like_request_id(&id)
                && match &rejection {
                    Rejection::WrongCode { .. } => true,
                    Rejection::Problem(p) => p.status == StatusCode::UNPROCESSABLE_ENTITY,
                    Rejection::Limited { .. } => false,
                };
            rejection.page(&state, &lang, again.then_some(id.as_str()))
        }
        Err(rejection) => rejection.into_response(),
    }
}

#[utoipa::path(get, path = "/public/requests/{id}/code", summary = "The page to type the code on", tag = "public", operation_id = "public_code_page", security(()), params(("id" = String, Path), ("lang" = Option<String>, Query, description = "The page's language (`en`, `da`, `fr`), kept in a cookie; otherwise the cookie's, then `Accept-Language`, then `public.language`")),
    description = "A page with one field for the code from the message; it posts to `POST /public/requests/{id}/verify` as a plain form, without script. The message links to it.",
    responses(
        (status = 200, description = "The page", content_type = "text/html", body = String),
        (status = 404, description = "Not a request id (a page saying so)", content_type = "text/html", body = String)
    ))]
pub async fn code_page(
    State(state): State<AppState>,
    Path(id): Path<String>,
    lang: PageLang,
) -> Response {
    // The page says nothing about the request, so it needs no check that it exists: the
    // code does that when it is sent. The id goes into the form's address, so it must look
    // like one (`req_` and hex digits), not like a path.
    if !looks_like_request_id(&id) {
        return problem_page(&state, &lang, &Problem::not_found("no such request"));
    }
    public_page(
        &state,
        &lang,
        StatusCode::OK,
        "code.html",
        context! {
            id,
            minutes => state.config.public.code_ttl_secs / 60,
        },
    )
}

/// Whether `id` has the shape of the store's request ids: `req_` and lower-case hex digits.
fn looks_like_request_id(id: &str) -> bool {
    id.strip_prefix("req_").is_some_and(|hex| {
        !hex.is_empty() && hex.len() <= 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

/// The page that says a request is confirmed and what comes next.
fn confirmed_page(state: &AppState, lang: &PageLang, record: &RequestRecord) -> Response {
    public_page(
        state,
        lang,
        StatusCode::OK,
        "confirmed.html",
        context! {
            kind => record.kind.as_str(),
            id => record.id.clone(),
            review => record.state == RequestState::AwaitingApproval,
            due => record.due_at,
        },
    )
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
        (status = 202, description = "A new code is on its way", body = crate::http::schemas::PersonView),
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
    /// The page's language (`en`, `da`, `fr`), as the language switcher and the links in
    /// the messages give it.
    #[serde(default)]
    pub lang: Option<String>,
}

#[utoipa::path(get, path = "/public/verify", summary = "The confirmation page of a link", tag = "public", operation_id = "public_confirm_page", params(Token), security(()),
    description = "The link in the message. It changes nothing (mail scanners open links): it shows a page whose button confirms with a POST.",
    responses((status = 200, description = "The confirmation page", content_type = "text/html", body = String)))]
pub async fn confirm_page(
    State(state): State<AppState>,
    lang: PageLang,
    ApiQuery(q): ApiQuery<Token>,
) -> Response {
    public_page(
        &state,
        &lang,
        StatusCode::OK,
        "confirm.html",
        context! { token => q.token },
    )
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
    lang: PageLang,
    form: Result<Form<Token>, axum::extract::rejection::FormRejection>,
) -> Response {
    let now = state.now();
    let lang = lang.or_field(form.as_ref().ok().and_then(|f| f.lang.as_deref()));
    if let Err(secs) = state.limits.verify_per_ip.take(&client.0, now) {
        state.metrics.rate_limited.fetch_add(1, Ordering::Relaxed);
        let mut response = problem_page(
            &state,
            &lang,
            &Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate-limited",
                "Too many requests",
                "too many confirmations from your address; try again later",
            ),
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, secs.into());
        return response;
    }
    let Ok(Form(form)) = form else {
        return problem_page(
            &state,
            &lang,
            &Problem::new(
                StatusCode::BAD_REQUEST,
                "bad-body",
                "The form cannot be read",
                "send token=... as a form",
            ),
        );
    };
    match state
        .store
        .verify_link(&form.token, now)
        .await
        .map_err(|e| refused(&state, e))
    {
        Ok(record) => {
            went_on(&state, &record);
            confirmed_page(&state, &lang, &record)
        }
        Err(e) => problem_page(&state, &lang, &Problem::from(e)),
    }
}

#[utoipa::path(get, path = "/public/requests/{id}", summary = "A request's status (the person)", tag = "public", operation_id = "public_request_status", params(("id" = String, Path), Token), security(()),
    description = "Where the request stands, for the person holding the status token from the first message. A browser (`Accept` preferring `text/html`, as when the link in the message is opened) gets a page; anyone else JSON.",
    responses(
        (status = 200, description = "State, deadlines, reasons and history; never personal data", content(
            (crate::http::schemas::PublicStatus = "application/json"),
            (String = "text/html")
        )),
        (status = 404, description = "Unknown request, or a token that does not match", body = ProblemDoc, content_type = "application/problem+json")
    ))]
pub async fn status(
    State(state): State<AppState>,
    Path(id): Path<String>,
    lang: PageLang,
    headers: HeaderMap,
    query: Result<ApiQuery<Token>, Problem>,
) -> Response {
    let html = wants_html(&headers);
    let found = async {
        let ApiQuery(q) = query?;
        Ok::<_, Problem>(state.store.public_status(&id, &q.token).await?)
    }
    .await;
    let mut response = match found {
        Ok((record, events)) => {
            let now = state.now();
            if html {
                status_page(&state, &lang, &record, &events, now)
            } else {
                let mut v = person_view(&record, now);
                v["events"] = events
                    .iter()
                    .map(|e| {
                        json!({
                            "at": CivilTime::from_unix(e.at).to_rfc3339(),
                            "state": e.to_state.as_str(),
                            "reason": shown_reason(e),
                        })
                    })
                    .collect();
                axum::Json(v).into_response()
            }
        }
        Err(p) if html => problem_page(&state, &lang, &p),
        Err(p) => p.into_response(),
    };
    // The same address answers a page or JSON: caches must keep them apart.
    response
        .headers_mut()
        .append(header::VARY, HeaderValue::from_static("Accept"));
    response
}

/// The reason of a step as the person sees it. Why a request stopped for staff, how they
/// resumed it, and their notes are for staff: the person sees the step, not the words.
fn shown_reason(e: &pledge_store::RequestEvent) -> Option<&str> {
    let staff_only = e.to_state == RequestState::NeedsAction
        || (e.from_state == Some(RequestState::NeedsAction)
            && !matches!(e.to_state, RequestState::Denied | RequestState::Extended));
    if staff_only {
        None
    } else {
        e.reason.as_deref()
    }
}

/// The status link's page.
fn status_page(
    state: &AppState,
    lang: &PageLang,
    record: &RequestRecord,
    events: &[pledge_store::RequestEvent],
    now: i64,
) -> Response {
    let overdue = workflow::is_overdue(
        record.state,
        CivilTime::from_unix(record.due_at),
        CivilTime::from_unix(now),
    );
    let steps: Vec<minijinja::Value> = events
        .iter()
        .map(|e| {
            context! {
                at => e.at,
                state => e.to_state.as_str(),
                reason => shown_reason(e),
            }
        })
        .collect();
    public_page(
        state,
        lang,
        StatusCode::OK,
        "status.html",
        context! {
            kind => record.kind.as_str(),
            state => record.state.as_str(),
            received => record.received_at,
            due => record.due_at,
            overdue,
            id => record.id.clone(),
            extension_reason => record.extension_reason.clone(),
            denial_reason => record.denial_reason.clone(),
            verifying => record.state == RequestState::Verifying,
            events => steps,
        },
    )
}

/// Where the declaration publishes its privacy notice (`policy.url`), if it says.
pub(crate) fn notice_url(state: &AppState) -> Option<String> {
    state
        .decl
        .doc()
        .policy
        .as_ref()
        .and_then(|p| p.url.as_ref())
        .map(|u| u.value.to_string())
}

pub(crate) fn controller_name(state: &AppState) -> String {
    state
        .decl
        .doc()
        .controller
        .as_ref()
        .map_or_else(|| "us".to_string(), |c| c.name.value.clone())
}

/// A page of public intake, in `lang`, in the layout of the person's pages: `ctx` and the
/// company's name and notice.
/// What every page of the person shows of the company: its name, whether it has a logo
/// (`/privacy/logo`), its accent colour.
pub(crate) fn brand(state: &AppState) -> minijinja::Value {
    context! {
        controller => controller_name(state),
        logo => state.config.public.logo.is_some(),
        accent => state.config.public.accent_color.clone(),
    }
}

pub(crate) fn public_page(
    state: &AppState,
    lang: &PageLang,
    status: StatusCode,
    name: &str,
    ctx: minijinja::Value,
) -> Response {
    let ctx = minijinja::value::merge_maps([
        ctx,
        context! {
            controller => controller_name(state),
            brand => brand(state),
            notice_url => notice_url(state),
        },
    ]);
    crate::http::banner::pages::page(status, name, ctx, lang)
}

/// The messages that say why a call was refused, by the problem's kind.
fn refusal_words(kind: &str) -> (&'static str, &'static str) {
    match kind {
        "not-found" => ("problem.not_found_title", "problem.not_found"),
        "rate-limited" => ("problem.limited_title", "problem.limited"),
        "invalid-request"
        | "bad-body"
        | "malformed-json"
        | "unsupported-media-type"
        | "body-too-large"
        | "bad-query" => ("problem.invalid_title", "problem.invalid"),
        "unproven-identity" => ("problem.unproven_title", "problem.unproven"),
        "code-expired" => ("problem.expired_title", "problem.expired"),
        "code-used" => ("problem.used_title", "problem.used"),
        "too-many-attempts" => ("problem.locked_title", "problem.locked"),
        "wrong-code" => ("problem.wrong_title", "problem.wrong"),
        "transition-not-allowed" => ("problem.closed_title", "problem.closed"),
        "link-gone" => ("problem.link_gone_title", "problem.link_gone"),
        _ => ("problem.other_title", "problem.other"),
    }
}

/// A page saying why a call was refused (the problem's status, and its kind in words), in
/// `lang`; an internal error's says its correlation id instead of its text. With `retry`,
/// the code form of that request again.
pub(crate) fn refused_page(
    state: &AppState,
    lang: &PageLang,
    p: &Problem,
    attempts_left: Option<i64>,
    retry: Option<&str>,
) -> Response {
    let (title, mut text) = refusal_words(p.kind);
    let attempts = attempts_left.unwrap_or(0).to_string();
    let id = p.correlation().unwrap_or_default();
    if !id.is_empty() {
        text = "problem.internal";
    }
    public_page(
        state,
        lang,
        p.status,
        "refused.html",
        context! {
            title => tr(lang.lang, title, &[]),
            text => tr(lang.lang, text, &[("attempts", &attempts), ("id", &id)]),
            retry => retry.is_some(),
            id => retry,
        },
    )
}

/// A problem as a page for the person.
fn problem_page(state: &AppState, lang: &PageLang, p: &Problem) -> Response {
    refused_page(state, lang, p, None, None)
}
