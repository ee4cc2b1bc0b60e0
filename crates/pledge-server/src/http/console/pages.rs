//! The dashboard, the list of requests and the page of one request.

use super::actions::{ACTIONS, Action, grounds};
use super::{label, page, sees_personal_data, signed_in, staff_view, store_failed, tr, when};
use crate::AppState;
use crate::http::api::STAFF;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use minijinja::{Value, context};
use pledge_domain::workflow::{self, Regime, State as RequestState};
use pledge_lang::rights::Right;
use pledge_lang::time::CivilTime;
use pledge_store::RequestRecord;
use pledge_store::browse::{RequestPage, RequestQuery};
use pledge_store::staff::StaffSession;
use serde_json::json;

const DAY: i64 = 86_400;
/// Requests per page of the list.
const PAGE_SIZE: i64 = 50;
/// Requests shown in each list of the dashboard.
const DASHBOARD_ROWS: i64 = 20;

/// JSON as a template value.
fn data(v: serde_json::Value) -> Value {
    Value::from(minijinja::value::Serde(v))
}

/// Words for how far a deadline is from `now`.
fn time_left(due: i64, now: i64) -> String {
    if due < now {
        let late = (now - due).div_euclid(DAY);
        return match late {
            0 => tr("console.left.overdue_today", &[]),
            1 => tr("console.left.overdue_one", &[]),
            n => tr("console.left.overdue", &[("days", &n.to_string())]),
        };
    }
    match (due - now).div_euclid(DAY) {
        0 => tr("console.left.within_day", &[]),
        1 => tr("console.left.one", &[]),
        d => tr("console.left.days", &[("days", &d.to_string())]),
    }
}

/// A request as a row of a table: no identity, whoever looks.
fn row(r: &RequestRecord, now: i64) -> Value {
    let deadlines = workflow::deadlines(r.regime, r.kind, CivilTime::from_unix(r.received_at));
    let open = !r.state.is_final();
    data(json!({
        "id": r.id,
        "kind": r.kind.as_str(),
        "regime": r.regime.as_str(),
        "state": r.state.as_str(),
        "received": when(r.received_at),
        "due": when(r.due_at),
        "latest": when(deadlines.extended_due.to_unix()),
        "confirm_by": r.confirm_by.map(when),
        "left": if open { time_left(r.due_at, now) } else { String::new() },
        "overdue": open && workflow::is_overdue(r.state, CivilTime::from_unix(r.due_at), CivilTime::from_unix(now)),
    }))
}

fn rows(page: &RequestPage, now: i64) -> Vec<Value> {
    page.requests.iter().map(|r| row(r, now)).collect()
}

#[utoipa::path(get, path = "/console", summary = "The console's dashboard", tag = "console", operation_id = "console_dashboard", security(()),
    description = "Requests overdue, due within 7 days and needing action; open requests by regime and kind; recent retention runs; the audit chain's state. Without a session: a redirect to sign-in.",
    responses(
        (status = 200, description = "The page", content_type = "text/html", body = String),
        (status = 303, description = "Not signed in: to the sign-in page")
    ))]
pub(super) async fn dashboard(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let session = match signed_in(&state, &headers).await {
        Ok(s) => s,
        Err(response) => return response,
    };
    let now = state.now();
    let store = &state.store;
    let query = |q: RequestQuery| async move {
        store
            .browse_requests(&RequestQuery {
                limit: DASHBOARD_ROWS,
                ..q
            })
            .await
    };
    let loaded = async {
        let overdue = query(RequestQuery {
            due_before: Some(now - 1),
            ..RequestQuery::default()
        })
        .await?;
        let due_soon = query(RequestQuery {
            due_after: Some(now - 1),
            due_before: Some(now + 7 * DAY),
            ..RequestQuery::default()
        })
        .await?;
        let action = query(RequestQuery {
            states: vec![RequestState::NeedsAction, RequestState::AwaitingExternal],
            ..RequestQuery::default()
        })
        .await?;
        let counts = store.open_counts().await?;
        let runs = store.audit_records_of("retention.run", None, 5).await?;
        let chain = state.audit_chain().await?;
        Ok::<_, pledge_store::Error>((overdue, due_soon, action, counts, runs, chain))
    }
    .await;
    let (overdue, due_soon, action, counts, runs, chain) = match loaded {
        Ok(l) => l,
        Err(e) => return store_failed(&e),
    };
    let open_total: i64 = counts.iter().map(|c| c.count).sum();
    let counts: Vec<Value> = counts
        .iter()
        .map(|c| {
            data(json!({
                "regime": c.regime.as_str(), "kind": c.kind.as_str(), "count": c.count,
            }))
        })
        .collect();
    let runs: Vec<Value> = runs
        .iter()
        .map(|r| {
            let datasets = r.detail["datasets"].as_array().map_or(0, Vec::len);
            let failed = r.detail["datasets"]
                .as_array()
                .is_some_and(|d| d.iter().any(|d| d.get("error").is_some()))
                || r.detail.get("error").is_some();
            data(json!({
                "at": when(r.at), "runner": r.actor, "datasets": datasets, "failed": failed,
                "interrupted": r.detail.get("interrupted").is_some(),
            }))
        })
        .collect();
    page(
        StatusCode::OK,
        "dashboard.html",
        context! {
            staff => staff_view(&session),
            now => when(now),
            overdue => rows(&overdue, now), overdue_total => overdue.total,
            due_soon => rows(&due_soon, now), due_soon_total => due_soon.total,
            action => rows(&action, now), action_total => action.total,
            counts, open_total, runs,
            chain => context! {
                intact => chain.first_broken.is_none(),
                records => chain.records,
                first_broken => chain.first_broken,
                walked => when(chain.full_at),
            },
        },
    )
}

/// The list's filters, as the GET form sends them; what does not parse is left out and
/// said on the page.
#[derive(Debug, Default)]
struct Filters {
    state: String,
    kind: String,
    regime: String,
    due: String,
    received_from: String,
    received_to: String,
    q: String,
    page: i64,
}

impl Filters {
    fn read(query: Option<&str>) -> Filters {
        let mut f = Filters {
            page: 1,
            ..Filters::default()
        };
        for (name, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            let value = value.trim().to_string();
            match &*name {
                "state" => f.state = value,
                "kind" => f.kind = value,
                "regime" => f.regime = value,
                "due" => f.due = value,
                "received_from" => f.received_from = value,
                "received_to" => f.received_to = value,
                "q" => f.q = value,
                "page" => f.page = value.parse().unwrap_or(1).clamp(1, 100_000),
                _ => {}
            }
        }
        f
    }

    /// The store's query, and the filters that were not understood.
    fn query(&self, now: i64) -> (RequestQuery, Vec<String>) {
        let mut q = RequestQuery {
            limit: PAGE_SIZE,
            offset: (self.page - 1) * PAGE_SIZE,
            ..RequestQuery::default()
        };
        let mut bad = Vec::new();
        match self.state.as_str() {
            "" => {}
            "open" => {
                q.states = workflow::STATES
                    .iter()
                    .copied()
                    .filter(|s| !s.is_final())
                    .collect();
            }
            "action" => q.states = vec![RequestState::NeedsAction, RequestState::AwaitingExternal],
            s => match s.parse::<RequestState>() {
                Ok(s) => q.states = vec![s],
                Err(_) => bad.push(tr("console.filter.state", &[("value", s)])),
            },
        }
        if !self.kind.is_empty() {
            match self.kind.parse::<Right>() {
                Ok(k) => q.kind = Some(k),
                Err(_) => bad.push(tr("console.filter.kind", &[("value", &self.kind)])),
            }
        }
        if !self.regime.is_empty() {
            match self.regime.parse::<Regime>() {
                Ok(r) => q.regime = Some(r),
                Err(_) => bad.push(tr("console.filter.regime", &[("value", &self.regime)])),
            }
        }
        match self.due.as_str() {
            "" => {}
            "overdue" => q.due_before = Some(now - 1),
            "7d" => {
                q.due_after = Some(now - 1);
                q.due_before = Some(now + 7 * DAY);
            }
            "30d" => {
                q.due_after = Some(now - 1);
                q.due_before = Some(now + 30 * DAY);
            }
            d => bad.push(tr("console.filter.due", &[("value", d)])),
        }
        let date = |s: &str| {
            format!("{s} 00:00:00")
                .parse::<CivilTime>()
                .map(CivilTime::to_unix)
        };
        if !self.received_from.is_empty() {
            match date(&self.received_from) {
                Ok(t) => q.received_after = Some(t),
                Err(_) => bad.push(tr(
                    "console.filter.received_from",
                    &[("value", &self.received_from)],
                )),
            }
        }
        if !self.received_to.is_empty() {
            match date(&self.received_to) {
                // The whole of the last day.
                Ok(t) => q.received_before = Some(t + DAY),
                Err(_) => bad.push(tr(
                    "console.filter.received_to",
                    &[("value", &self.received_to)],
                )),
            }
        }
        if !self.q.is_empty() {
            q.id_contains = Some(self.q.clone());
        }
        (q, bad)
    }

    /// The query string of these filters on another page.
    fn on_page(&self, page: i64) -> String {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (name, value) in [
            ("state", &self.state),
            ("kind", &self.kind),
            ("regime", &self.regime),
            ("due", &self.due),
            ("received_from", &self.received_from),
            ("received_to", &self.received_to),
            ("q", &self.q),
        ] {
            if !value.is_empty() {
                s.append_pair(name, value);
            }
        }
        s.append_pair("page", &page.to_string());
        format!("?{}", s.finish())
    }
}

#[utoipa::path(get, path = "/console/requests", summary = "The console's list of requests", tag = "console", operation_id = "console_requests", security(()),
    description = "Requests by deadline, filtered by state, kind, regime, due date, date received and part of the id; 50 a page. Without a session: a redirect to sign-in.",
    params(
        ("state" = Option<String>, Query, description = "A state, `open` or `action`"),
        ("kind" = Option<String>, Query, description = "The right exercised"),
        ("regime" = Option<String>, Query, description = "`gdpr` or `ccpa`"),
        ("due" = Option<String>, Query, description = "`overdue`, `7d` or `30d`"),
        ("received_from" = Option<String>, Query, description = "YYYY-MM-DD"),
        ("received_to" = Option<String>, Query, description = "YYYY-MM-DD (inclusive)"),
        ("q" = Option<String>, Query, description = "Part of the request id"),
        ("page" = Option<i64>, Query, description = "From 1")
    ),
    responses(
        (status = 200, description = "The page", content_type = "text/html", body = String),
        (status = 303, description = "Not signed in: to the sign-in page")
    ))]
pub(super) async fn requests(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let session = match signed_in(&state, &headers).await {
        Ok(s) => s,
        Err(response) => return response,
    };
    let now = state.now();
    let filters = Filters::read(raw.as_deref());
    let (query, bad) = filters.query(now);
    let found = match state.store.browse_requests(&query).await {
        Ok(p) => p,
        Err(e) => return store_failed(&e),
    };
    let pages = ((found.total + PAGE_SIZE - 1) / PAGE_SIZE).max(1);
    let states: Vec<&str> = workflow::STATES.iter().map(|s| s.as_str()).collect();
    let kinds: Vec<&str> = pledge_lang::rights::RIGHTS
        .iter()
        .map(|r| r.as_str())
        .collect();
    page(
        StatusCode::OK,
        "requests.html",
        context! {
            staff => staff_view(&session),
            rows => rows(&found, now),
            total => found.total,
            page => filters.page, pages,
            previous => (filters.page > 1).then(|| filters.on_page(filters.page - 1)),
            next => (filters.page < pages).then(|| filters.on_page(filters.page + 1)),
            bad,
            f => context! {
                state => filters.state.clone(), kind => filters.kind.clone(),
                regime => filters.regime.clone(), due => filters.due.clone(),
                received_from => filters.received_from.clone(),
                received_to => filters.received_to.clone(), q => filters.q.clone(),
            },
            states, kinds,
        },
    )
}

#[utoipa::path(get, path = "/console/requests/{id}", summary = "One request in the console", tag = "console", operation_id = "console_request", security(()),
    description = "A request's state, kind, regime, dates, deadlines and history, and the forms of the actions the role and the state allow; its identities and the dry run's preview only for admins and privacy officers (the reads are audited). Without a session: a redirect to sign-in.",
    params(("id" = String, Path, description = "The request's id"), ("done" = Option<String>, Query, description = "The action just taken, said on the page")),
    responses(
        (status = 200, description = "The page", content_type = "text/html", body = String),
        (status = 303, description = "Not signed in: to the sign-in page"),
        (status = 404, description = "No such request", content_type = "text/html", body = String)
    ))]
pub(super) async fn request(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let session = match signed_in(&state, &headers).await {
        Ok(s) => s,
        Err(response) => return response,
    };
    let done = form_urlencoded::parse(raw.as_deref().unwrap_or_default().as_bytes())
        .find(|(n, _)| n == "done")
        .and_then(|(_, v)| Action::done_message(&v));
    request_page(
        &state,
        &session,
        &id,
        Extras {
            done,
            ..Extras::default()
        },
    )
    .await
}

/// What a request's page shows besides the request: the answer to a form just sent.
pub(in crate::http::console) struct Extras {
    pub status: StatusCode,
    /// What was just done (after the redirect).
    pub done: Option<String>,
    /// A form sent without what it needs: the action and what is missing.
    pub form_error: Option<(&'static str, String)>,
    /// A download link just made, and when it expires: shown this once.
    pub link: Option<(String, String)>,
}

impl Default for Extras {
    fn default() -> Self {
        Extras {
            status: StatusCode::OK,
            done: None,
            form_error: None,
            link: None,
        }
    }
}

/// The page of request `id` as `session` may see it.
pub(in crate::http::console) async fn request_page(
    state: &AppState,
    session: &StaffSession,
    id: &str,
    extras: Extras,
) -> Response {
    let now = state.now();
    let record = match state.store.get_request(id).await {
        Ok(r) => r,
        Err(pledge_store::Error::UnknownRequest(_)) => {
            return page(
                StatusCode::NOT_FOUND,
                "message.html",
                context! {
                    title => tr("console.message.no_request_title", &[]),
                    text => tr("console.message.no_request", &[]),
                    link_href => "/console/requests", link_text => tr("console.link.requests", &[]),
                    languages => Value::from(()),
                    staff => staff_view(session),
                },
            );
        }
        Err(e) => return store_failed(&e),
    };
    let (events, outbox, forwards) = match tokio::try_join!(
        state.store.request_events(id),
        state.store.outbox(id),
        state.store.forwards(id),
    ) {
        Ok(all) => all,
        Err(e) => return store_failed(&e),
    };
    let personal = sees_personal_data(session);
    if personal
        && let Err(e) = state
            .store
            .record_read(
                id,
                &session.account.actor(),
                "request with identities (console)",
                now,
            )
            .await
    {
        return store_failed(&e);
    }
    let identities: Vec<Value> = if personal {
        record
            .identities
            .iter()
            .map(|(k, v)| data(json!({"kind": k, "value": v})))
            .collect()
    } else {
        Vec::new()
    };
    let events: Vec<Value> = events
        .iter()
        .map(|e| {
            // A failure's reason may quote a value of the person's, as in the API.
            let reason = if e.to_state == RequestState::NeedsAction && !personal {
                None
            } else {
                e.reason.clone()
            };
            data(json!({
                "at": when(e.at),
                "from": e.from_state.map(|s| s.as_str()),
                "to": e.to_state.as_str(),
                "actor": e.actor,
                "reason": reason,
            }))
        })
        .collect();
    // The recipient of a message is the person's address: shown to whom identities are.
    let messages: Vec<Value> = outbox
        .iter()
        .map(|m| {
            data(json!({
                "event": m.event.as_str(), "to": if personal { m.recipient.as_str() } else { "" },
                "state": m.state, "attempts": m.attempts, "error": m.error,
            }))
        })
        .collect();
    let forwards: Vec<Value> = forwards
        .iter()
        .map(|f| {
            data(json!({
                "recipient": f.recipient, "state": f.state.as_str(), "attempts": f.attempts,
                "updated": when(f.updated_at), "detail": if personal { f.detail.clone() } else { None },
            }))
        })
        .collect();
    // The actions the API lets this role take, of those the workflow allows from here.
    let may_act = STAFF.contains(&session.account.role);
    let actions: Vec<Value> = if may_act {
        ACTIONS
            .iter()
            .filter(|a| a.allowed(&record))
            .map(|a| {
                let grounds: Vec<Value> = grounds(*a, record.regime)
                    .iter()
                    .map(|g| data(json!({"value": g.value, "text": tr(g.text, &[])})))
                    .collect();
                let error = extras
                    .form_error
                    .as_ref()
                    .filter(|(name, _)| *name == a.as_str())
                    .map(|(_, e)| e.clone());
                data(json!({"name": a.as_str(), "grounds": grounds, "error": error}))
            })
            .collect()
    } else {
        Vec::new()
    };
    let exportable = may_act
        && record.state == RequestState::Completed
        && matches!(record.kind, Right::Access | Right::Portability);
    let preview = if personal && !record.state.is_final() {
        Some(preview(state, session, &record).await)
    } else {
        None
    };
    page(
        extras.status,
        "request.html",
        context! {
            staff => staff_view(session),
            r => row(&record, now),
            personal, identities, events, actions, exportable, preview, messages, forwards,
            done => extras.done.clone(),
            link => extras.link.as_ref().map(|(url, until)| context! { url, until }),
            extension_reason => record.extension_reason.clone(),
            denial_reason => record.denial_reason.clone(),
        },
    )
}

/// The plan of a dry run, as `POST /v1/requests/{id}/plan` gives it (the same worker run,
/// rolled back, audited as a read), made into tables; or what kept it from being made.
async fn preview(state: &AppState, session: &StaffSession, record: &RequestRecord) -> Value {
    if let Err(e) = state
        .store
        .record_read(
            &record.id,
            &session.account.actor(),
            "dry-run plan (console)",
            state.now(),
        )
        .await
    {
        tracing::error!(error = %e, "console: the dry run's read cannot be audited");
        return context! { error => tr("console.request.preview_unaudited", &[]) };
    }
    state
        .metrics
        .personal_data_reads
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    match crate::jobs::worker::execute(state, record, true).await {
        Ok((plan, _)) => {
            let datasets: Vec<Value> = plan["datasets"]
                .as_array()
                .map(|d| {
                    d.iter()
                        .map(|d| {
                            data(json!({
                                "dataset": d["dataset"],
                                "found": d["found"].as_bool().unwrap_or(false),
                                "steps": d["steps"].as_array().cloned().unwrap_or_default().iter().map(|s| json!({
                                    "table": s["table"],
                                    "action": s["action"].as_str().map(|a| label(&format!("console.step.{a}"), a)),
                                    "rows": s["rows"],
                                    "reason": s["reason"],
                                })).collect::<Vec<_>>(),
                                "notes": d["notes"],
                            }))
                        })
                        .collect()
                })
                .unwrap_or_default();
            let whose: Vec<Value> = plan["identities"]
                .as_array()
                .map(|ids| {
                    ids.iter()
                        .map(|i| {
                            data(json!({
                                "kind": i["kind"],
                                "value": i["value"],
                                "how": i.get("proved_by").map(|b| tr("console.request.proved_by", &[("how", b.as_str().unwrap_or("?"))]))
                                    .or_else(|| i.get("found_on").map(|o| tr("console.request.found_on", &[("where", &o.to_string())]))),
                            }))
                        })
                        .collect()
                })
                .unwrap_or_default();
            context! {
                error => Value::from(()),
                datasets, whose,
                no_data => plan["no_data_held"].as_bool().unwrap_or(false),
            }
        }
        Err(e) => {
            // What the database said may quote a value of the person's: not in the log.
            let transient = matches!(e.transience(), pledge_plan::retry::Transience::Transient);
            tracing::warn!(request = %record.id, transient, "console: the dry run failed");
            context! {
                error => if transient {
                    tr("console.request.preview_unavailable", &[])
                } else {
                    tr("console.request.preview_failed", &[("error", &e.to_string())])
                },
            }
        }
    }
}
