//! The audit log in the console: its records filtered by actor, action, request and date,
//! newest first, and a button that walks both chains (the audit log and the consent
//! ledger) from their first record and names the first broken one. Admins and privacy
//! officers, as with `GET /v1/audit`.

use super::when;
use super::{message, page, signed_in, signed_in_with_form, staff_view, store_failed, tr};
use crate::AppState;
use crate::http::api::STAFF;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use minijinja::{Value, context};
use pledge_lang::time::CivilTime;
use pledge_store::browse::AuditQuery;
use pledge_store::staff::StaffSession;

/// Records per page.
const PAGE_SIZE: i64 = 100;
const DAY: i64 = 86_400;

fn data(v: serde_json::Value) -> Value {
    Value::from(minijinja::value::Serde(v))
}

/// The refusal for a role that may not read the log.
fn refused(session: &StaffSession) -> Option<Response> {
    (!STAFF.contains(&session.account.role)).then(|| {
        message(
            StatusCode::FORBIDDEN,
            "console.message.role_title",
            "console.message.role_audit",
            &[],
            ("/console", "console.link.dashboard"),
        )
    })
}

/// The filters as the form sends them.
#[derive(Debug, Default)]
struct Filters {
    actor: String,
    action: String,
    request: String,
    from: String,
    to: String,
    before: Option<i64>,
}

impl Filters {
    fn read(raw: Option<&str>) -> Filters {
        let mut f = Filters::default();
        for (name, value) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
            let value = value.trim().to_string();
            match &*name {
                "actor" => f.actor = value,
                "action" => f.action = value,
                "request" => f.request = value,
                "from" => f.from = value,
                "to" => f.to = value,
                "before" => f.before = value.parse().ok().filter(|s: &i64| *s > 0),
                _ => {}
            }
        }
        f
    }

    fn query(&self) -> (AuditQuery, Vec<String>) {
        let mut bad = Vec::new();
        // `what` is the key of the filter's words.
        let date = |s: &str, what: &str, bad: &mut Vec<String>| {
            if s.is_empty() {
                return None;
            }
            match format!("{s} 00:00:00").parse::<CivilTime>() {
                Ok(t) => Some(t.to_unix()),
                Err(_) => {
                    bad.push(tr(what, &[("value", s)]));
                    None
                }
            }
        };
        let from = date(&self.from, "console.filter.from", &mut bad);
        // The whole of the last day.
        let to = date(&self.to, "console.filter.to", &mut bad).map(|t| t + DAY);
        let text = |s: &str| (!s.is_empty()).then(|| s.to_string());
        (
            AuditQuery {
                actor: text(&self.actor),
                action: text(&self.action),
                request: text(&self.request),
                from,
                to,
                before_seq: self.before,
                limit: PAGE_SIZE,
            },
            bad,
        )
    }

    /// These filters on the page of records older than `seq`.
    fn older_than(&self, seq: i64) -> String {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (name, value) in [
            ("actor", &self.actor),
            ("action", &self.action),
            ("request", &self.request),
            ("from", &self.from),
            ("to", &self.to),
        ] {
            if !value.is_empty() {
                s.append_pair(name, value);
            }
        }
        s.append_pair("before", &seq.to_string());
        format!("?{}", s.finish())
    }
}

#[utoipa::path(get, path = "/console/audit", summary = "The audit log in the console", tag = "console", operation_id = "console_audit", security(()),
    description = "Audit records newest first, 100 a page, filtered by the start of the actor or the action, a request id and dates received; with the button that verifies the chains. Admins and privacy officers.",
    params(
        ("actor" = Option<String>, Query, description = "Start of the actor, e.g. `staff:` or `key:`"),
        ("action" = Option<String>, Query, description = "Start of the action, e.g. `request.`"),
        ("request" = Option<String>, Query, description = "A request id"),
        ("from" = Option<String>, Query, description = "YYYY-MM-DD"),
        ("to" = Option<String>, Query, description = "YYYY-MM-DD (inclusive)"),
        ("before" = Option<i64>, Query, description = "Records older than this sequence number")
    ),
    responses(
        (status = 200, description = "The page", content_type = "text/html", body = String),
        (status = 303, description = "Not signed in: to the sign-in page"),
        (status = 403, description = "Not for this role", content_type = "text/html", body = String)
    ))]
pub(super) async fn audit(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let session = match signed_in(&state, &headers).await {
        Ok(s) => s,
        Err(response) => return response,
    };
    if let Some(r) = refused(&session) {
        return r;
    }
    audit_page(&state, &session, Filters::read(raw.as_deref()), None).await
}

async fn audit_page(
    state: &AppState,
    session: &StaffSession,
    filters: Filters,
    verification: Option<Value>,
) -> Response {
    let (query, bad) = filters.query();
    let found = match state.store.browse_audit(&query).await {
        Ok(p) => p,
        Err(e) => return store_failed(&e),
    };
    let records: Vec<Value> = found
        .records
        .iter()
        .map(|r| {
            data(serde_json::json!({
                "seq": r.seq, "at": when(r.at), "actor": r.actor, "action": r.action,
                "request": r.request_id, "detail": r.detail_text, "hash": r.hash,
            }))
        })
        .collect();
    let older = found
        .more
        .then(|| found.records.last().map(|r| filters.older_than(r.seq)))
        .flatten();
    page(
        StatusCode::OK,
        "audit.html",
        context! {
            staff => staff_view(session),
            records, older, bad, verification,
            f => context! {
                actor => filters.actor.clone(), action => filters.action.clone(),
                request => filters.request.clone(), from => filters.from.clone(), to => filters.to.clone(),
            },
        },
    )
}

#[utoipa::path(post, path = "/console/audit/verify", summary = "Verify the chains from the console", tag = "console", operation_id = "console_audit_verify", security(()),
    description = "Walks the audit log and the consent ledger from their first records (as `GET /v1/audit/verify`) and shows the result above the log: intact, or the first broken record and why. A form with the session's CSRF token; admins and privacy officers.",
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "`csrf`"),
    responses(
        (status = 200, description = "The audit page with the result", content_type = "text/html", body = String),
        (status = 303, description = "Not signed in: to the sign-in page"),
        (status = 403, description = "Not for this role, or the form lacks the session's token", content_type = "text/html", body = String)
    ))]
pub(super) async fn verify(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let session = match signed_in_with_form(&state, &headers, &body).await {
        Ok((s, _)) => s,
        Err(response) => return response,
    };
    if let Some(r) = refused(&session) {
        return r;
    }
    let v = match crate::http::api::verify_logs(&state).await {
        Ok(v) => v,
        Err(e) => return store_failed(&e),
    };
    state
        .note_audit_walk(
            v["records"].as_u64().unwrap_or(0),
            v["head"].as_str().unwrap_or_default(),
            v["first_broken"].is_null(),
        )
        .await;
    audit_page(&state, &session, Filters::default(), Some(data(v))).await
}
