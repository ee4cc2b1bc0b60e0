//! The consent and decision endpoints under `/v1`, and `/.well-known/gpc.json`. Each checks
//! the caller's role first, then the input, then asks the [`ConsentService`].
//!
//! [`ConsentService`]: crate::consent::ConsentService

use crate::consent::{Choice, RecordConsent, gpc_signal};
use crate::http::problem::{ApiJson, Problem, ProblemDoc};
use crate::{AppState, Caller};
use axum::Extension;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use pledge_domain::consent::{ConsentState, Method, Query, Target, parse_cookie_category};
use pledge_lang::types::CategoryId;
use pledge_lang::types::SubjectRef;
use pledge_store::Role;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

/// Who may record consent and ask for decisions: the application's back end and staff.
const CONSENT: &[Role] = &[Role::Admin, Role::PrivacyOfficer, Role::Service];

/// The most decisions one batch call takes.
pub const MAX_BATCH: usize = 1000;

/// One choice of `POST /v1/consent`: a purpose or a cookie category, and its state.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChoiceIn {
    /// A declared purpose id (or give `cookie_category`).
    pub purpose: Option<String>,
    /// `preferences`, `analytics`, `advertising`, `social_media`, ... (or give `purpose`).
    pub cookie_category: Option<String>,
    /// `given`, `refused` or `withdrawn`.
    pub state: String,
}

/// `POST /v1/consent`: choices of one subject.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordIn {
    /// The application's user id, or a random id of an anonymous visitor.
    pub subject: String,
    pub choices: Vec<ChoiceIn>,
    /// `banner`, `form`, `api` (default), `email_link`.
    pub method: Option<String>,
    pub notice_version: Option<String>,
    /// SHA-256 of the exact text shown, 64 lower-case hex digits.
    pub text_hash: Option<String>,
    /// The person's IP address as the application saw it (truncated before storing);
    /// absent: the caller's address is not used, since it is the application's.
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// `POST /v1/decisions`: may this subject's data be used for this purpose?
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionIn {
    pub subject: String,
    /// A purpose id (or give `cookie_category`).
    pub purpose: Option<String>,
    /// Data categories to be used, each declared for the purpose (a parent covers its children).
    #[serde(default)]
    pub categories: Vec<String>,
    pub cookie_category: Option<String>,
}

/// `POST /v1/decisions/batch`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchIn {
    pub decisions: Vec<DecisionIn>,
}

/// `POST /v1/subjects/{subject}/link`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkIn {
    /// The anonymous id (a visitor's) that is the same person as `{subject}`.
    pub anonymous: String,
}

fn subject(s: &str) -> Result<SubjectRef, Problem> {
    s.parse()
        .map_err(|e: pledge_lang::types::ParseError| Problem::invalid(format!("`subject`: {e}")))
}

fn target(purpose: Option<&str>, cookie: Option<&str>) -> Result<Target, Problem> {
    match (purpose, cookie) {
        (Some(p), None) => {
            p.parse()
                .map(Target::Purpose)
                .map_err(|e: pledge_lang::types::ParseError| {
                    Problem::invalid(format!("`purpose`: {e}"))
                })
        }
        (None, Some(c)) => parse_cookie_category(c)
            .map(Target::Cookies)
            .map_err(|e| Problem::invalid(format!("`cookie_category`: {e}"))),
        _ => Err(Problem::invalid(
            "give exactly one of `purpose` and `cookie_category`",
        )),
    }
}

fn query(d: &DecisionIn) -> Result<(SubjectRef, Query), Problem> {
    let target = target(d.purpose.as_deref(), d.cookie_category.as_deref())?;
    if matches!(target, Target::Cookies(_)) && !d.categories.is_empty() {
        return Err(Problem::invalid(
            "`categories` go with a `purpose`, not a cookie category",
        ));
    }
    let categories = d
        .categories
        .iter()
        .map(|c| {
            c.parse::<CategoryId>()
                .map_err(|e| Problem::invalid(format!("`categories`: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((subject(&d.subject)?, Query { target, categories }))
}

#[utoipa::path(post, path = "/v1/decisions", summary = "Ask for a decision", operation_id = "decide", security(("api_key" = ["admin", "privacy_officer", "service"])), tag = "consent", request_body = DecisionIn,
    responses(
        (status = 200, description = "`{\"allow\": bool, \"reason\": {\"code\": ...}, \"basis\": ...}`", body = crate::http::schemas::Decision),
        (status = 422, description = "Malformed subject, purpose or category", body = ProblemDoc, content_type = "application/problem+json"),
        crate::http::problem::AuthProblems
    ))]
pub async fn decide(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: Result<ApiJson<DecisionIn>, Problem>,
) -> Result<Response, Problem> {
    caller.require(CONSENT, "ask for decisions")?;
    let ApiJson(body) = body?;
    let (subject, query) = query(&body)?;
    let decision = state.consent.decide(&subject, &query);
    Ok(axum::Json(decision).into_response())
}

#[utoipa::path(post, path = "/v1/decisions/batch", summary = "Ask for many decisions", operation_id = "decide_batch", security(("api_key" = ["admin", "privacy_officer", "service"])), tag = "consent", request_body = BatchIn,
    responses(
        (status = 200, description = "`{\"decisions\": [...]}` in the order asked", body = crate::http::schemas::Decisions),
        (status = 422, description = "Malformed item (named by its index) or more than 1000", body = ProblemDoc, content_type = "application/problem+json"),
        crate::http::problem::AuthProblems
    ))]
pub async fn decide_batch(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: Result<ApiJson<BatchIn>, Problem>,
) -> Result<Response, Problem> {
    caller.require(CONSENT, "ask for decisions")?;
    let ApiJson(body) = body?;
    if body.decisions.len() > MAX_BATCH {
        return Err(Problem::invalid(format!(
            "at most {MAX_BATCH} decisions a call"
        )));
    }
    let queries = body
        .decisions
        .iter()
        .enumerate()
        .map(|(i, d)| {
            query(d).map_err(|p| Problem::invalid(format!("decisions[{i}]: {}", p.detail)))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let decisions = state
        .consent
        .decide_many(queries.iter().map(|(s, q)| (s, q)));
    Ok(axum::Json(json!({ "decisions": decisions })).into_response())
}

#[utoipa::path(post, path = "/v1/consent", summary = "Record consent", operation_id = "record_consent", security(("api_key" = ["admin", "privacy_officer", "service"])), tag = "consent", request_body = RecordIn,
    params(("Sec-GPC" = Option<String>, Header, description = "`1`: also records an opt-out of sale, sharing and targeted advertising")),
    responses(
        (status = 201, description = "Recorded: `{\"receipts\": [...]}`, one per event", body = crate::http::schemas::Receipts),
        (status = 422, description = "Undeclared purpose or category, bad state, method or hash", body = ProblemDoc, content_type = "application/problem+json"),
        crate::http::problem::AuthProblems
    ))]
pub async fn record(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Result<ApiJson<RecordIn>, Problem>,
) -> Result<Response, Problem> {
    caller.require(CONSENT, "record consent")?;
    let ApiJson(body) = body?;
    let subject = subject(&body.subject)?;
    let choices = body
        .choices
        .iter()
        .map(|c| {
            Ok(Choice {
                target: target(c.purpose.as_deref(), c.cookie_category.as_deref())?,
                state: c
                    .state
                    .parse::<ConsentState>()
                    .map_err(|e| Problem::invalid(format!("`state`: {e}")))?,
            })
        })
        .collect::<Result<Vec<_>, Problem>>()?;
    let method = match body.method.as_deref() {
        None => Method::Api,
        Some(m) => match m.parse::<Method>() {
            Ok(m @ (Method::Banner | Method::Form | Method::Api | Method::EmailLink)) => m,
            Ok(_) => {
                return Err(Problem::invalid(
                    "`method`: gpc and rights_request are recorded by Pledge itself",
                ));
            }
            Err(e) => return Err(Problem::invalid(format!("`method`: {e}"))),
        },
    };
    let ip = body
        .ip
        .as_deref()
        .map(|ip| {
            ip.parse()
                .map_err(|_| Problem::invalid(format!("`ip`: `{ip}` is not an IP address")))
        })
        .transpose()?;
    let receipts = state
        .consent
        .record(RecordConsent {
            subject,
            choices,
            method,
            notice_version: body.notice_version,
            text_hash: body.text_hash,
            ip,
            user_agent: body.user_agent,
            gpc: gpc_signal(&headers),
            actor: caller.actor(),
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({ "receipts": receipts })),
    )
        .into_response())
}

#[utoipa::path(get, path = "/v1/subjects/{subject}/consent", summary = "A subject's consent", operation_id = "subject_consent", security(("api_key" = ["admin", "privacy_officer"])), tag = "consent",
    params(("subject" = String, Path, description = "A pseudonymous subject id")),
    responses(
        (status = 200, description = "`{\"current\": {...}, \"history\": [...]}`: the state now and every ledger event of the subject and the ids linked to it (audited). Admin and privacy officer keys only", body = crate::http::schemas::SubjectConsent),
        (status = 422, description = "Malformed subject id", body = ProblemDoc, content_type = "application/problem+json"),
        crate::http::problem::AuthProblems
    ))]
pub async fn subject_consent(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    // The history holds the person's addresses and browsers: staff only, like other
    // personal data; an application asks for decisions instead.
    caller.require(crate::http::api::STAFF, "read consent histories")?;
    let subject = subject(&id)?;
    let current = state.consent.current(&subject);
    let ids = state.consent.linked_ids(&subject);
    let rows = state.store.consent_history(&ids).await?;
    state
        .store
        .record_consent_read(&subject, &caller.actor(), state.now())
        .await?;
    let history: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            json!({
                "seq": r.seq, "at": r.at, "subject": r.subject, "kind": r.kind,
                "target": r.target, "state": r.state, "expires_at": r.expires_at,
                "notice_version": r.notice_version, "text_hash": r.text_hash,
                "method": r.method, "ip": r.ip, "user_agent": r.user_agent,
                "actor": r.actor, "hash": r.hash,
            })
        })
        .collect();
    Ok(axum::Json(json!({ "current": current, "history": history })).into_response())
}

#[utoipa::path(post, path = "/v1/subjects/{subject}/link", summary = "Link an anonymous subject to a known one", operation_id = "link_subjects", security(("api_key" = ["admin", "privacy_officer", "service"])), tag = "consent", request_body = LinkIn,
    params(("subject" = String, Path, description = "The known subject")),
    responses(
        (status = 201, description = "Linked: `{\"receipts\": [...]}`", body = crate::http::schemas::Receipts),
        (status = 422, description = "Malformed ids, or a link to itself", body = ProblemDoc, content_type = "application/problem+json"),
        crate::http::problem::AuthProblems
    ))]
pub async fn link(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Result<ApiJson<LinkIn>, Problem>,
) -> Result<Response, Problem> {
    caller.require(CONSENT, "link subjects")?;
    let ApiJson(body) = body?;
    let known = subject(&id)?;
    let anonymous = subject(&body.anonymous)?;
    let receipts = state
        .consent
        .link(&anonymous, &known, &caller.actor())
        .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({ "receipts": receipts })),
    )
        .into_response())
}

/// `GET /.well-known/gpc.json`: this site honours Global Privacy Control.
#[utoipa::path(get, path = "/.well-known/gpc.json", summary = "Global Privacy Control support", tag = "consent", operation_id = "gpc_support", security(()),
    description = "The Global Privacy Control support resource: this site honours the signal.",
    responses((status = 200, description = "`gpc: true` and when the resource last changed", content_type = "application/json", body = crate::http::schemas::GpcSupport)))]
pub async fn gpc_json(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        state.consent.gpc_document().to_string(),
    )
        .into_response()
}
