//! The `/v1` handlers. Each checks the caller's role first, then the input, then asks the
//! store (which asks the workflow) to make the change.

use crate::http::problem::{ApiJson, ApiQuery, Problem, ProblemDoc};
use crate::{AppState, Caller};
use axum::Extension;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use pledge_domain::workflow::{self, Regime, State as RequestState, Transition};
use pledge_lang::rights::Right;
use pledge_lang::time::CivilTime;
use pledge_lang::types::IdentityKind;
use pledge_store::{NewRequest, ProvedBy, RequestFilter, RequestRecord, Role};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use utoipa::{IntoParams, ToSchema};

pub(crate) const STAFF: &[Role] = &[Role::Admin, Role::PrivacyOfficer];
pub(crate) const INTAKE: &[Role] = &[Role::Admin, Role::PrivacyOfficer, Role::Service];
const READERS: &[Role] = &[Role::Admin, Role::PrivacyOfficer, Role::SupportAgent];

/// The kinds the API takes in: the rights of GDPR Art. 7(3) and 15-21 and the CCPA opt-out.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Access,
    Portability,
    Erasure,
    Rectification,
    Restriction,
    /// Art. 21: recorded in the consent ledger for every purpose based on legitimate
    /// interests or a public task; decisions deny them from then on.
    Objection,
    /// Art. 7(3): every consent the person has given is withdrawn in the ledger.
    WithdrawConsent,
    /// CCPA: an opt-out of sale, sharing and targeted advertising in the ledger.
    OptOut,
}

impl From<Kind> for Right {
    fn from(k: Kind) -> Self {
        match k {
            Kind::Access => Right::Access,
            Kind::Portability => Right::Portability,
            Kind::Erasure => Right::Erasure,
            Kind::Rectification => Right::Rectification,
            Kind::Restriction => Right::Restriction,
            Kind::Objection => Right::Objection,
            Kind::WithdrawConsent => Right::WithdrawConsent,
            Kind::OptOut => Right::OptOut,
        }
    }
}

/// `POST /v1/requests`: a request taken in by staff (by e-mail, phone, letter) or a service.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRequest {
    pub kind: Kind,
    /// `gdpr` (default) or `ccpa`: decides the deadlines.
    #[serde(default = "gdpr")]
    #[schema(value_type = Option<String>, example = "gdpr")]
    pub regime: Regime,
    /// Identity kind → value, e.g. `{"email": "ana@example.com"}`.
    pub identities: BTreeMap<String, String>,
    /// For rectification: column (or `table.column`) → new value.
    #[serde(default)]
    pub changes: BTreeMap<String, String>,
    /// Whether a privacy officer approves it before it runs. Default: no for staff; a
    /// service key's requests always wait for approval (only a withdrawal of consent or an
    /// opt-out, which take nothing from the person, may be sent with `false`).
    #[serde(default)]
    pub needs_approval: Option<bool>,
    /// False when the person's identity is still to be checked. Staff intake is verified.
    #[serde(default = "yes")]
    pub verified: bool,
    /// The language of the messages to the person (`en`, `da`, `fr`; `da-DK` reads as
    /// `da`). Default: the server's (`public.language`).
    #[schema(example = "da")]
    pub language: Option<String>,
}

fn gdpr() -> Regime {
    Regime::Gdpr
}

fn yes() -> bool {
    true
}

#[utoipa::path(post, path = "/v1/requests", summary = "Take in a request", security(("api_key" = ["admin", "privacy_officer", "service"])), tag = "requests", request_body = CreateRequest,
    responses(
        (status = 201, description = "Taken in; `Location` names it", body = crate::http::schemas::RequestView),
        (status = 400, description = "Malformed JSON", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 413, description = "Body over the limit", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "Unknown field, wrong type or invalid value", body = ProblemDoc, content_type = "application/problem+json"),
        crate::http::problem::AuthProblems
    ))]
pub async fn create_request(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: Result<ApiJson<CreateRequest>, Problem>,
) -> Result<Response, Problem> {
    // The role first: a caller who may not do this learns nothing from the body's checks.
    caller.require(INTAKE, "take in requests")?;
    let ApiJson(body) = body?;
    let kind = Right::from(body.kind);
    let needs_approval = approval_for(&caller, kind, body.needs_approval)?;
    check_intake(&state, kind, &body.identities, &body.changes)?;
    let language = crate::i18n::language_field(body.language.as_deref())
        .map_err(Problem::invalid)?
        .map(str::to_string);
    let record = state
        .store
        .create_request(
            NewRequest {
                kind,
                regime: body.regime,
                identities: body.identities.into_iter().collect(),
                changes: body.changes.into_iter().collect(),
                needs_approval,
                verified: body.verified,
                // Staff and services checked the person themselves: every identity they
                // name counts as theirs.
                proved_by: if caller.key.role == Role::Service {
                    ProvedBy::Service
                } else {
                    ProvedBy::Staff
                },
                received_at: state.now(),
                language,
            },
            &caller.actor(),
        )
        .await?;
    state
        .metrics
        .requests_created
        .fetch_add(1, Ordering::Relaxed);
    if record.state == RequestState::InProgress {
        state.wake.notify_one();
    }
    state.wake_mail.notify_one();
    let location = format!("/v1/requests/{}", record.id);
    let mut response = (
        StatusCode::CREATED,
        axum::Json(view(&record, &caller, None, state.now())),
    )
        .into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    Ok(response)
}

/// Whether a request taken in by `caller` waits for a privacy officer. A service key is a
/// machine: what it sends is reviewed by a person before anything is read, changed or erased
/// (it may not skip approval, 403), except a withdrawal of consent or an opt-out, which only
/// take something away from the company (as in public intake).
fn approval_for(caller: &Caller, kind: Right, asked: Option<bool>) -> Result<bool, Problem> {
    if caller.key.role != Role::Service {
        return Ok(asked.unwrap_or(false));
    }
    let takes_nothing = matches!(kind, Right::WithdrawConsent | Right::OptOut);
    match asked {
        Some(false) if !takes_nothing => Err(Problem::forbidden(format!(
            "a service key may not skip approval of a {} request: send it without `needs_approval` (a privacy officer approves it)",
            kind.as_str()
        ))),
        Some(v) => Ok(v),
        None => Ok(!takes_nothing),
    }
}

/// The checks every intake makes, staff or public: the person is named by identities the
/// declaration's tables declare, and only a rectification carries changes.
pub(crate) fn check_intake(
    state: &AppState,
    kind: Right,
    identities: &BTreeMap<String, String>,
    changes: &BTreeMap<String, String>,
) -> Result<(), Problem> {
    if identities.is_empty() {
        return Err(Problem::invalid(
            "`identities` is empty: name the person, e.g. {\"email\": \"ana@example.com\"}",
        ));
    }
    let declared = declared_identity_kinds(state);
    for (k, v) in identities {
        let parsed: IdentityKind = k
            .parse()
            .map_err(|e| Problem::invalid(format!("identity kind `{k}`: {e}")))?;
        if !declared.contains(&parsed) {
            return Err(Problem::invalid(format!(
                "no dataset declares an identity column for `{k}`; declared: {}",
                declared
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        if v.trim().is_empty() || v.len() > 1000 {
            return Err(Problem::invalid(format!(
                "identity `{k}` needs a value of 1 to 1000 characters"
            )));
        }
    }
    match (kind, changes.is_empty()) {
        (Right::Rectification, true) => {
            return Err(Problem::invalid(
                "a rectification needs `changes`: {\"column\": \"new value\"}",
            ));
        }
        (Right::Rectification, false) => check_changes(state, changes)?,
        (_, false) => {
            return Err(Problem::invalid(
                "`changes` is only for rectification requests",
            ));
        }
        _ => {}
    }
    Ok(())
}

/// A change may name its table (`address.line`): it must be a table a dataset declares.
/// Whether the column exists, and whether the table holds the person's rows, the worker
/// learns from the database.
fn check_changes(state: &AppState, changes: &BTreeMap<String, String>) -> Result<(), Problem> {
    let datasets = &state.decl.doc().datasets;
    for target in changes.keys() {
        let (table, column) = match target.rsplit_once('.') {
            Some((t, c)) => (Some(t), c),
            None => (None, target.as_str()),
        };
        if column.trim().is_empty() || table.is_some_and(|t| t.trim().is_empty()) {
            return Err(Problem::invalid(format!(
                "change `{target}` is not `column` or `table.column`"
            )));
        }
        if let Some(table) = table
            && !datasets
                .iter()
                .any(|d| d.tables.iter().any(|t| t.name.value == table))
        {
            let mut declared: Vec<&str> = datasets
                .iter()
                .flat_map(|d| d.tables.iter().map(|t| t.name.as_str()))
                .collect();
            declared.sort_unstable();
            declared.dedup();
            return Err(Problem::invalid(format!(
                "change `{target}`: no dataset declares a table `{table}`; declared tables: {}",
                declared.join(", ")
            )));
        }
    }
    Ok(())
}

fn declared_identity_kinds(state: &AppState) -> Vec<IdentityKind> {
    let mut kinds: Vec<IdentityKind> = Vec::new();
    for d in &state.decl.doc().datasets {
        for t in &d.tables {
            for k in t.identity.keys() {
                if !kinds.contains(&k.value) {
                    kinds.push(k.value.clone());
                }
            }
        }
    }
    kinds
}

/// The API's view of a request. Identities, changes and results are personal data: only
/// for roles that may see them.
fn view(r: &RequestRecord, caller: &Caller, extra: Option<Value>, now: i64) -> Value {
    let dpv = r.state.dpv();
    let mut v = json!({
        "id": r.id,
        "kind": r.kind.as_str(),
        "regime": r.regime.as_str(),
        "state": r.state.as_str(),
        "status": {
            "dpv": dpv,
            "iri": format!("https://w3id.org/dpv#{}", dpv.trim_start_matches("dpv:")),
        },
        "needs_approval": r.needs_approval,
        "received_at": rfc3339(r.received_at),
        "due_at": rfc3339(r.due_at),
        "confirm_by": r.confirm_by.map(rfc3339),
        "overdue": workflow::is_overdue(r.state, CivilTime::from_unix(r.due_at), CivilTime::from_unix(now)),
        "extension_reason": r.extension_reason,
        "denial_reason": r.denial_reason,
        "updated_at": rfc3339(r.updated_at),
        "language": r.language,
    });
    if caller.sees_personal_data() {
        v["identities"] = json!(r.identities.iter().cloned().collect::<BTreeMap<_, _>>());
        // How each identity was proved, for the approver.
        v["proved_by"] = match r.proved_by {
            Some(how) => json!(
                r.identities
                    .iter()
                    .map(|(k, _)| (k.clone(), how.as_str()))
                    .collect::<BTreeMap<_, _>>()
            ),
            None => Value::Null,
        };
        v["changes"] = json!(r.changes.iter().cloned().collect::<BTreeMap<_, _>>());
        v["result"] = r.result.clone().unwrap_or(Value::Null);
    }
    if let (Some(Value::Object(extra)), Some(obj)) = (extra, v.as_object_mut()) {
        obj.extend(extra);
    }
    v
}

fn rfc3339(t: i64) -> String {
    CivilTime::from_unix(t).to_rfc3339()
}

/// `GET /v1/requests?due_within_days=N&overdue=true&state=S&limit=L`
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Open requests due within this many days.
    pub due_within_days: Option<u32>,
    /// Only open requests past their deadline.
    #[serde(default)]
    pub overdue: bool,
    /// Only requests in this state (received, verifying, verified, awaiting_approval,
    /// in_progress, awaiting_external, completed, denied, extended, cancelled,
    /// needs_action).
    #[param(value_type = Option<String>)]
    pub state: Option<RequestState>,
    /// At most this many (default 1000).
    pub limit: Option<u32>,
}

#[utoipa::path(get, path = "/v1/requests", summary = "List requests", security(("api_key" = ["admin", "privacy_officer", "support_agent"])), tag = "requests", params(ListQuery),
    responses(
        (status = 200, description = "Requests by deadline, soonest first, without personal data", body = crate::http::schemas::RequestList),
        (status = 400, description = "Bad query string", body = ProblemDoc, content_type = "application/problem+json"),
        crate::http::problem::AuthProblems
    ))]
pub async fn list_requests(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Response, Problem> {
    caller.require(READERS, "list requests")?;
    let now = state.now();
    let filter = RequestFilter {
        due_before: q
            .due_within_days
            .map(|d| now + i64::from(d.min(3650)) * 86_400),
        overdue_at: q.overdue.then_some(now),
        state: q.state,
        limit: q.limit.map(i64::from),
    };
    let records = state.store.list_requests(&filter).await?;
    // A list never carries personal data, whoever asks: open one request to see it.
    let items: Vec<Value> = records
        .iter()
        .map(|r| {
            let mut v = view(r, &caller, None, state.now());
            if let Some(o) = v.as_object_mut() {
                o.remove("identities");
                o.remove("proved_by");
                o.remove("changes");
                o.remove("result");
            }
            v
        })
        .collect();
    Ok(axum::Json(json!({ "requests": items })).into_response())
}

/// `GET /v1/requests/{id}?wait=SECONDS`
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct GetQuery {
    /// While the request is being carried out (`in_progress`), wait up to this many seconds
    /// (at most 30) for that to change before answering: a client learns that a request
    /// completed the moment it does, without polling.
    pub wait: Option<u32>,
}

/// The longest a read waits for a request being carried out.
const MAX_WAIT_SECS: u32 = 30;

/// How often a waiting read looks again even if this process recorded nothing: the job may
/// run on another replica.
const WAIT_RECHECK: std::time::Duration = std::time::Duration::from_millis(250);

#[utoipa::path(get, path = "/v1/requests/{id}", summary = "Read a request", security(("api_key" = ["admin", "privacy_officer", "support_agent"])), tag = "requests", params(("id" = String, Path), GetQuery),
    responses(
        (status = 200, description = "The request, its events and job; identities and result for admins and privacy officers (audited)", body = crate::http::schemas::RequestDetail),
        (status = 404, description = "No such request", body = ProblemDoc, content_type = "application/problem+json"),
        crate::http::problem::AuthProblems
    ))]
pub async fn get_request(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<GetQuery>,
) -> Result<Response, Problem> {
    caller.require(READERS, "read requests")?;
    // Subscribed before the first read, so that an outcome recorded between the read and
    // the wait is not missed.
    let mut progress = state.progress();
    let mut record = state.store.get_request(&id).await?;
    if let Some(secs) = query.wait.filter(|s| *s > 0) {
        let until = tokio::time::Instant::now()
            + std::time::Duration::from_secs(u64::from(secs.min(MAX_WAIT_SECS)));
        while record.state == RequestState::InProgress && tokio::time::Instant::now() < until {
            tokio::select! {
                changed = progress.changed() => if changed.is_err() {
                    break;
                },
                _ = tokio::time::sleep(WAIT_RECHECK) => {}
                _ = tokio::time::sleep_until(until) => {}
            }
            record = state.store.get_request(&id).await?;
        }
    }
    let events = state.store.request_events(&id).await?;
    let job = state.store.job_status(&id).await?;
    if caller.sees_personal_data() {
        state
            .store
            .record_read(&id, &caller.actor(), "request with identities", state.now())
            .await?;
        state
            .metrics
            .personal_data_reads
            .fetch_add(1, Ordering::Relaxed);
    }
    // A failure's reason quotes what the database said, which may hold a value of the
    // person's: only roles that see personal data read it.
    let reasons = caller.sees_personal_data();
    let failure_text = |e: &pledge_store::RequestEvent| {
        let failure = e.to_state == RequestState::NeedsAction;
        if failure && !reasons {
            None
        } else {
            e.reason.clone()
        }
    };
    let extra = json!({
        "events": events.iter().map(|e| json!({
            "at": rfc3339(e.at),
            "from": e.from_state.map(|s| s.as_str()),
            "to": e.to_state.as_str(),
            "actor": e.actor,
            "reason": failure_text(e),
        })).collect::<Vec<_>>(),
        "job": job.as_ref().map(|j| {
            let mut v = job_view(j);
            if !reasons && let Some(o) = v.as_object_mut() {
                o.insert("error".into(), Value::Null);
                o.insert("waiting_for".into(), Value::Null);
            }
            v
        }),
        // Why the request stopped for staff, while it waits for them.
        "needs_action": (record.state == RequestState::NeedsAction).then(|| {
            let stopped = events.iter().rev().find(|e| e.to_state == RequestState::NeedsAction);
            json!({
                "reason": stopped.and_then(failure_text),
                "since": stopped.map(|e| rfc3339(e.at)),
                "actions": ["retry", "complete", "deny", "extend", "cancel"],
            })
        }),
        // Recipients the request was forwarded to, and what each reported.
        "forwards": state.store.forwards(&id).await?,
    });
    Ok(axum::Json(view(&record, &caller, Some(extra), state.now())).into_response())
}

/// A request's job as staff see it: for one waiting to be retried, what it waits for.
fn job_view(job: &pledge_store::JobStatus) -> Value {
    let waiting = (job.state == "queued")
        .then_some(())
        .and(job.not_before)
        .map(|at| {
            let time = rfc3339(at);
            let clock = time.get(11..16).unwrap_or(&time).to_string();
            format!(
                "waiting for {}, retry {} at {clock} UTC",
                job.error.as_deref().unwrap_or("a retry"),
                job.attempts
            )
        });
    json!({
        "state": job.state,
        "attempts": job.attempts,
        "error": job.error,
        "retry_at": job.not_before.map(rfc3339),
        "failing_since": job.first_failed_at.map(rfc3339),
        "waiting_for": waiting,
    })
}

/// The body of deny and extend.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Reason {
    pub reason: String,
}

async fn transition(
    state: &AppState,
    caller: &Caller,
    id: &str,
    t: Transition,
) -> Result<Response, Problem> {
    caller.require(STAFF, "change a request's state")?;
    let record = change_state(state, id, &t, &caller.actor()).await?;
    Ok(axum::Json(view(&record, caller, None, state.now())).into_response())
}

/// Makes a staff member's change of a request's state (the store asks the workflow and
/// audits it as `actor`), then wakes the worker and the mailer. The one place the API and
/// the console change a request; the caller has checked the role.
pub(crate) async fn change_state(
    state: &AppState,
    id: &str,
    t: &Transition,
    actor: &str,
) -> Result<RequestRecord, pledge_store::Error> {
    let record = state.store.transition(id, t, actor, state.now()).await?;
    state.metrics.transitions.fetch_add(1, Ordering::Relaxed);
    if record.state == RequestState::InProgress {
        state.wake.notify_one();
    }
    state.wake_mail.notify_one();
    Ok(record)
}

/// Why a retry is refused before the workflow is asked: only a request that needs action
/// is run again (an approval is a different act, though the same transition).
pub(crate) fn retry_refusal(record: &RequestRecord) -> Option<String> {
    (record.state != RequestState::NeedsAction).then(|| {
        format!(
            "request {} is {}: only a request that needs action is retried",
            record.id, record.state
        )
    })
}

#[utoipa::path(post, path = "/v1/requests/{id}/verify", summary = "Mark the person verified", operation_id = "verify_request", security(("api_key" = ["admin", "privacy_officer"])), tag = "requests", description = "Mark the person verified", params(("id" = String, Path)),
    responses(
        (status = 200, description = "The request after the change", body = crate::http::schemas::RequestView),
        (status = 404, description = "No such request", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 409, description = "The request's state does not allow this", body = ProblemDoc, content_type = "application/problem+json"),
        crate::http::problem::AuthProblems
    ))]
pub async fn verify(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    transition(&state, &caller, &id, Transition::To(RequestState::Verified)).await
}

#[utoipa::path(post, path = "/v1/requests/{id}/approve", summary = "Approve a request", operation_id = "approve_request", security(("api_key" = ["admin", "privacy_officer"])), tag = "requests", description = "Approve: a worker runs it", params(("id" = String, Path)),
    responses(
        (status = 200, description = "The request after the change", body = crate::http::schemas::RequestView),
        (status = 404, description = "No such request", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 409, description = "The request's state does not allow this", body = ProblemDoc, content_type = "application/problem+json"),
        crate::http::problem::AuthProblems
    ))]
pub async fn approve(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    transition(
        &state,
        &caller,
        &id,
        Transition::To(RequestState::InProgress),
    )
    .await
}

#[utoipa::path(post, path = "/v1/requests/{id}/retry", summary = "Run a request again", operation_id = "retry_request", security(("api_key" = ["admin", "privacy_officer"])), tag = "requests", description = "Run a request that needs action again (after fixing its cause: the declaration, an identity, a key): it goes back to a worker with a fresh retry budget", params(("id" = String, Path)),
    responses(
        (status = 200, description = "The request after the change: in progress", body = crate::http::schemas::RequestView),
        (status = 404, description = "No such request", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 409, description = "The request does not need action", body = ProblemDoc, content_type = "application/problem+json"),
        crate::http::problem::AuthProblems
    ))]
pub async fn retry(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    caller.require(STAFF, "change a request's state")?;
    let record = state.store.get_request(&id).await?;
    if let Some(why) = retry_refusal(&record) {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "transition-not-allowed",
            "The request's state does not allow this",
            why,
        ));
    }
    transition(
        &state,
        &caller,
        &id,
        Transition::To(RequestState::InProgress),
    )
    .await
}

/// The body of a completion by hand.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Note {
    /// What was done, for the record (not sent to the person).
    pub note: String,
}

#[utoipa::path(post, path = "/v1/requests/{id}/complete", summary = "Complete a request by hand", operation_id = "complete_request", security(("api_key" = ["admin", "privacy_officer"])), tag = "requests", description = "Complete a request that needs action by hand (answered outside Pledge), with a note for the record; the person gets the completion message", params(("id" = String, Path)), request_body = Note,
    responses(
        (status = 200, description = "The request after the change: completed", body = crate::http::schemas::RequestView),
        (status = 404, description = "No such request", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 409, description = "The request does not need action", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "No note, or a body that is not one", body = ProblemDoc, content_type = "application/problem+json"),
        crate::http::problem::AuthProblems
    ))]
pub async fn complete(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Result<ApiJson<Note>, Problem>,
) -> Result<Response, Problem> {
    caller.require(STAFF, "change a request's state")?;
    let ApiJson(body) = body?;
    transition(
        &state,
        &caller,
        &id,
        Transition::Complete { note: body.note },
    )
    .await
}

#[utoipa::path(post, path = "/v1/requests/{id}/cancel", summary = "Cancel a request", operation_id = "cancel_request", security(("api_key" = ["admin", "privacy_officer"])), tag = "requests", description = "Cancel", params(("id" = String, Path)),
    responses(
        (status = 200, description = "The request after the change", body = crate::http::schemas::RequestView),
        (status = 404, description = "No such request", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 409, description = "The request's state does not allow this", body = ProblemDoc, content_type = "application/problem+json"),
        crate::http::problem::AuthProblems
    ))]
pub async fn cancel(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    transition(
        &state,
        &caller,
        &id,
        Transition::To(RequestState::Cancelled),
    )
    .await
}

#[utoipa::path(post, path = "/v1/requests/{id}/deny", summary = "Deny a request", operation_id = "deny_request", security(("api_key" = ["admin", "privacy_officer"])), tag = "requests", description = "Deny, with the reason told to the person", params(("id" = String, Path)), request_body = Reason,
    responses(
        (status = 200, description = "The request after the change", body = crate::http::schemas::RequestView),
        (status = 404, description = "No such request", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 409, description = "The request's state does not allow this", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "No reason, or a body that is not one", body = ProblemDoc, content_type = "application/problem+json"),
        crate::http::problem::AuthProblems
    ))]
pub async fn deny(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Result<ApiJson<Reason>, Problem>,
) -> Result<Response, Problem> {
    caller.require(STAFF, "change a request's state")?;
    let ApiJson(body) = body?;
    transition(
        &state,
        &caller,
        &id,
        Transition::Deny {
            reason: body.reason,
        },
    )
    .await
}

#[utoipa::path(post, path = "/v1/requests/{id}/extend", summary = "Extend the deadline", operation_id = "extend_request", security(("api_key" = ["admin", "privacy_officer"])), tag = "requests", description = "Extend the deadline once, with the reason told to the person", params(("id" = String, Path)), request_body = Reason,
    responses(
        (status = 200, description = "The request after the change", body = crate::http::schemas::RequestView),
        (status = 404, description = "No such request", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 409, description = "The request's state does not allow this", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "No reason, or a body that is not one", body = ProblemDoc, content_type = "application/problem+json"),
        crate::http::problem::AuthProblems
    ))]
pub async fn extend(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Result<ApiJson<Reason>, Problem>,
) -> Result<Response, Problem> {
    caller.require(STAFF, "change a request's state")?;
    let ApiJson(body) = body?;
    transition(
        &state,
        &caller,
        &id,
        Transition::Extend {
            reason: body.reason,
        },
    )
    .await
}

/// `GET /v1/requests/{id}/plan`: what the request would do, run against the databases and
/// rolled back, for the privacy officer who approves it.
#[utoipa::path(get, path = "/v1/requests/{id}/plan", summary = "Plan a request (dry run)", operation_id = "plan_request", security(("api_key" = ["admin", "privacy_officer"])), tag = "requests", params(("id" = String, Path)),
    responses(
        (status = 200, description = "Per dataset, the steps with the rows each would touch, and their reasons; nothing was changed", body = crate::http::schemas::PlanView),
        (status = 404, description = "No such request", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 409, description = "The request is closed", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "The request cannot be planned (unknown identity, missing connection)", body = ProblemDoc, content_type = "application/problem+json"),
        crate::http::problem::AuthProblems
    ))]
pub async fn dry_run(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    caller.require(STAFF, "see the plan of a request")?;
    let record = state.store.get_request(&id).await?;
    if record.state.is_final() {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "transition-not-allowed",
            "The request's state does not allow this",
            format!(
                "request {id} is {}: there is nothing left to plan",
                record.state
            ),
        ));
    }
    // The dry run reads the person's rows: audited like any read of personal data.
    state
        .store
        .record_read(&id, &caller.actor(), "dry-run plan", state.now())
        .await?;
    state
        .metrics
        .personal_data_reads
        .fetch_add(1, Ordering::Relaxed);
    let (plan, _) = crate::jobs::worker::execute(&state, &record, true)
        .await
        .map_err(|e| match e.transience() {
            // The databases may answer later: try again then.
            pledge_plan::retry::Transience::Transient => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "A database does not answer",
                e.to_string(),
            ),
            pledge_plan::retry::Transience::Permanent => Problem::invalid(e.to_string()),
        })?;
    Ok(axum::Json(json!({ "id": id, "dry_run": true, "plan": plan })).into_response())
}

/// `GET /v1/requests/{id}/export`: the zip of an access or portability request.
#[utoipa::path(get, path = "/v1/requests/{id}/export", summary = "Download the export", operation_id = "download_request_export", security(("api_key" = ["admin", "privacy_officer"])), tag = "requests", params(("id" = String, Path)),
    responses(
        (status = 200, description = "The export (zip) of an access or portability request; the read is audited", content_type = "application/zip", body = Vec<u8>),
        (status = 404, description = "No such request, or it has no export", body = ProblemDoc, content_type = "application/problem+json"),
        crate::http::problem::AuthProblems
    ))]
pub async fn export(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    caller.require(STAFF, "download exports")?;
    let record = state.store.get_request(&id).await?;
    let stored = state.store.export(&id, state.now()).await?.ok_or_else(|| {
        Problem::not_found(format!(
            "request {id} has no export (it is {} {}; exports are deleted when they expire)",
            record.kind.as_str(),
            record.state
        ))
    })?;
    let bytes = match (&state.config.export_keys, &stored.key_id) {
        (Some(keys), _) => keys
            .open(&stored)
            .map_err(|e| Problem::internal(e.to_string()))?,
        // Stored before encryption at rest.
        (None, None) => stored.bytes,
        (None, Some(_)) => {
            return Err(Problem::internal(
                "the export is encrypted and the server has no export key (PLEDGE_EXPORT_KEY)",
            ));
        }
    };
    state
        .store
        .record_read(&id, &caller.actor(), "export", state.now())
        .await?;
    state
        .metrics
        .personal_data_reads
        .fetch_add(1, Ordering::Relaxed);
    Ok((
        [
            (header::CONTENT_TYPE, "application/zip".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"pledge-{id}.zip\""),
            ),
        ],
        bytes,
    )
        .into_response())
}

/// `GET /v1/audit?after=SEQ&limit=N`
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    #[serde(default)]
    pub after: i64,
    pub limit: Option<i64>,
}

#[utoipa::path(get, path = "/v1/audit", summary = "Audit records", security(("api_key" = ["admin", "privacy_officer"])), tag = "audit", params(AuditQuery),
    responses(
        (status = 200, description = "Audit records after `after`, oldest first", body = crate::http::schemas::AuditRecords),
        crate::http::problem::AuthProblems
    ))]
pub async fn audit_records(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<Response, Problem> {
    caller.require(STAFF, "read the audit log")?;
    let records = state
        .store
        .audit_records(q.after, q.limit.unwrap_or(100))
        .await?;
    Ok(axum::Json(json!({ "records": records })).into_response())
}

#[utoipa::path(get, path = "/v1/audit/verify", summary = "Verify the audit log and the consent ledger", security(("api_key" = ["admin", "privacy_officer"])), tag = "audit",
    responses(
        (status = 200, description = "Whether the hash chain is intact, and the first broken record; the latest signed checkpoint's status under `checkpoint` (null when the server signs none); the same for the consent ledger under `consent_ledger`, with its anchors in the audit log checked under `anchors`. `intact` is false when the chain, the checkpoint or the anchors fail", body = crate::http::schemas::AuditVerification),
        crate::http::problem::AuthProblems
    ))]
pub async fn audit_verify(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, Problem> {
    caller.require(STAFF, "verify the audit log")?;
    Ok(axum::Json(verify_logs(&state).await?).into_response())
}

/// Walks the audit log and the consent ledger from their first records, checks the latest
/// signed checkpoints and the ledger's anchors: what `GET /v1/audit/verify` answers and the
/// console's audit page shows.
pub(crate) async fn verify_logs(state: &AppState) -> Result<Value, pledge_store::Error> {
    use pledge_domain::checkpoint::LogKind;
    let v = state.store.verify_audit().await?;
    let c = state.store.verify_consent().await?;
    let anchors = state.store.verify_anchors().await?;
    let audit_cp = crate::jobs::checkpoints::status(state, LogKind::AuditLog).await?;
    let consent_cp = crate::jobs::checkpoints::status(state, LogKind::ConsentLedger).await?;
    let holds = |cp: &Value| cp.get("matches") != Some(&Value::Bool(false));
    Ok(json!({
        "intact": v.first_broken.is_none() && holds(&audit_cp),
        "records": v.records,
        "head": v.head,
        "first_broken": v.first_broken,
        "checkpoint": audit_cp,
        "consent_ledger": {
            "intact": c.first_broken.is_none() && holds(&consent_cp) && anchors.first_problem.is_none(),
            "records": c.records,
            "head": c.head,
            "first_broken": c.first_broken,
            "checkpoint": consent_cp,
            "anchors": anchors,
        },
    }))
}

/// What the OpenAPI document says besides its paths: the title, the tags and the security
/// schemes. The paths come from the routes themselves ([`crate::app`]).
#[derive(utoipa::OpenApi)]
#[openapi(
    info(title = "Pledge", version = env!("CARGO_PKG_VERSION"),
        description = "Rights requests: intake, workflow, deadlines, execution and the audit trail; consent decisions and the ledger; the cookie banner, preference centre and unsubscribe links; public intake. Authenticate with `Authorization: Bearer <API key>`; each operation's `api_key` requirement lists the roles whose keys may call it. The operations with no security requirement (the `public` and `banner` tags, health) need no key and are rate-limited where they write.",
        license(name = "Apache-2.0", identifier = "Apache-2.0")),
    servers((url = "/", description = "This server")),
    tags(
        (name = "requests", description = "Rights requests: intake, workflow, plans, exports"),
        (name = "consent", description = "Consent decisions, the ledger, subjects' links"),
        (name = "audit", description = "The audit log, its verification and signed checkpoints"),
        (name = "retention", description = "Scheduled retention sweeps and maintenance"),
        (name = "public", description = "The person's own intake, verification and status; download links"),
        (name = "banner", description = "The cookie banner, preference centre and one-click unsubscribe"),
        (name = "operations", description = "Health, readiness, metrics and this document"),
    ),
    modifiers(&SecuritySchemes),
)]
pub struct ApiDoc;

/// The frame [`crate::app`] adds its routes to.
pub(crate) fn document_frame() -> utoipa::openapi::OpenApi {
    use utoipa::OpenApi;
    ApiDoc::openapi()
}

struct SecuritySchemes;

impl utoipa::Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{
            ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme,
        };
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("Pledge API key")
                    .description(Some(
                        "An API key as `Authorization: Bearer <key>`. The scopes an operation lists are the roles (admin, privacy_officer, support_agent, service, metrics) whose keys may call it; other keys get 403.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "recipient_signature",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Pledge-Signature",
                "`t=<unix seconds>,v1=<hex HMAC-SHA256>` of the timestamp and body, with the recipient's own webhook secret (no API key).",
            ))),
        );
    }
}

/// The document served at `/v1/openapi.json`, serialised once when the router is built.
#[derive(Clone)]
pub(crate) struct Document(std::sync::Arc<str>);

impl Document {
    pub(crate) fn new(doc: &utoipa::openapi::OpenApi) -> Self {
        // The document is plain data (strings, maps, numbers): serialising it cannot fail
        // but for a bug, which the tests would catch; then the route answers 500.
        let json = doc.to_json().unwrap_or_else(|e| {
            tracing::error!(error = %e, "the OpenAPI document cannot be serialised");
            String::new()
        });
        Document(json.into())
    }
}

#[utoipa::path(get, path = "/v1/openapi.json", summary = "This document", tag = "operations", operation_id = "openapi_document", security(()),
    responses(
        (status = 200, description = "This document (OpenAPI 3.1)", content_type = "application/json", body = Object),
        (status = 500, description = "The document could not be serialised", body = ProblemDoc, content_type = "application/problem+json")
    ))]
pub async fn openapi(Extension(doc): Extension<Document>) -> Response {
    if doc.0.is_empty() {
        return Problem::internal("the OpenAPI document cannot be serialised").into_response();
    }
    (
        [(header::CONTENT_TYPE, "application/json")],
        doc.0.to_string(),
    )
        .into_response()
}
