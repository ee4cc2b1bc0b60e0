//! Acting on one request from its page: approve, deny, extend, cancel, retry, complete by
//! hand, and a fresh download link for the person.
//!
//! Nothing here decides what is allowed: the role is the API's ([`STAFF`]), the change is
//! the API's ([`api::change_state`], which asks the store, which asks the workflow and
//! audits with the staff account as actor), and the page offers only what
//! [`workflow::apply`] would accept from the request's state.

use super::{message, page, request_page, signed_in_with_form, store_failed, tr};
use crate::AppState;
use crate::http::api::{self, STAFF};
use crate::i18n;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use minijinja::context;
use pledge_domain::workflow::{self, Regime, State as RequestState, Transition, TransitionError};
use pledge_store::RequestRecord;
use pledge_store::staff::StaffSession;

/// What staff may do to a request from its page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Action {
    Approve,
    Deny,
    Extend,
    Cancel,
    Retry,
    Complete,
}

pub(super) const ACTIONS: [Action; 6] = [
    Action::Approve,
    Action::Retry,
    Action::Complete,
    Action::Extend,
    Action::Deny,
    Action::Cancel,
];

impl Action {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Action::Approve => "approve",
            Action::Deny => "deny",
            Action::Extend => "extend",
            Action::Cancel => "cancel",
            Action::Retry => "retry",
            Action::Complete => "complete",
        }
    }

    fn parse(s: &str) -> Option<Action> {
        ACTIONS.iter().copied().find(|a| a.as_str() == s)
    }

    /// The workflow's transition, carrying `text` as the reason or note.
    fn transition(self, text: String) -> Transition {
        match self {
            Action::Approve | Action::Retry => Transition::To(RequestState::InProgress),
            Action::Cancel => Transition::To(RequestState::Cancelled),
            Action::Deny => Transition::Deny { reason: text },
            Action::Extend => Transition::Extend { reason: text },
            Action::Complete => Transition::Complete { note: text },
        }
    }

    /// Whether the workflow accepts this action from the request's state now. Approve and
    /// retry are the same transition; the API keeps retry to a request that needs action,
    /// and approval is offered where a worker has not started or stopped.
    pub(super) fn allowed(self, r: &RequestRecord) -> bool {
        let kind_fits = match self {
            Action::Retry => api::retry_refusal(r).is_none(),
            Action::Approve => !matches!(
                r.state,
                RequestState::NeedsAction | RequestState::AwaitingExternal
            ),
            _ => true,
        };
        // A placeholder text: only whether the state allows it is asked here.
        kind_fits && workflow::apply(&r.workflow(), &self.transition("-".into())).is_ok()
    }

    /// The message shown on the page after the change.
    fn done(self) -> String {
        let key = match self {
            Action::Approve => "console.done.approve",
            Action::Deny => "console.done.deny",
            Action::Extend => "console.done.extend",
            Action::Cancel => "console.done.cancel",
            Action::Retry => "console.done.retry",
            Action::Complete => "console.done.complete",
        };
        tr(key, &[])
    }

    /// The message for `?done=` on the request page: only these fixed sentences are shown,
    /// never text from the address.
    pub(super) fn done_message(done: &str) -> Option<String> {
        Action::parse(done).map(Action::done)
    }
}

/// A ground a denial or an extension may rest on: its value in the form and the key of
/// its words (`[ground]` of the catalogues), shown in the console's language and stored as
/// the reason in the person's (who is told it).
pub(super) struct Ground {
    pub value: &'static str,
    pub text: &'static str,
}

const GDPR_DENY: &[Ground] = &[
    Ground {
        value: "unfounded",
        text: "ground.gdpr.deny.unfounded",
    },
    Ground {
        value: "identity",
        text: "ground.gdpr.deny.identity",
    },
    Ground {
        value: "exemption",
        text: "ground.gdpr.deny.exemption",
    },
    Ground {
        value: "no_data",
        text: "ground.gdpr.deny.no_data",
    },
];

const CCPA_DENY: &[Ground] = &[
    Ground {
        value: "unverifiable",
        text: "ground.ccpa.deny.unverifiable",
    },
    Ground {
        value: "unfounded",
        text: "ground.ccpa.deny.unfounded",
    },
    Ground {
        value: "exemption",
        text: "ground.ccpa.deny.exemption",
    },
    Ground {
        value: "no_data",
        text: "ground.ccpa.deny.no_data",
    },
];

const GDPR_EXTEND: &[Ground] = &[
    Ground {
        value: "complexity",
        text: "ground.gdpr.extend.complexity",
    },
    Ground {
        value: "number",
        text: "ground.gdpr.extend.number",
    },
];

const CCPA_EXTEND: &[Ground] = &[Ground {
    value: "necessary",
    text: "ground.ccpa.extend.necessary",
}];

/// The grounds offered for `action` under `regime` (none for actions without a reason).
pub(super) fn grounds(action: Action, regime: Regime) -> &'static [Ground] {
    match (action, regime) {
        (Action::Deny, Regime::Gdpr) => GDPR_DENY,
        (Action::Deny, Regime::Ccpa) => CCPA_DENY,
        (Action::Extend, Regime::Gdpr) => GDPR_EXTEND,
        (Action::Extend, Regime::Ccpa) => CCPA_EXTEND,
        _ => &[],
    }
}

/// The reason (or note) the form gives, the ground's words in `lang` (the person's), or
/// the key of what is missing from it.
fn reason_of(
    action: Action,
    regime: Regime,
    lang: &str,
    fields: &[(String, String)],
) -> Result<String, &'static str> {
    let details = super::field(fields, "details").unwrap_or_default().trim();
    match action {
        Action::Deny | Action::Extend => {
            let chosen = super::field(fields, "ground").unwrap_or_default();
            let Some(ground) = grounds(action, regime).iter().find(|g| g.value == chosen) else {
                return Err("console.request.ground_missing");
            };
            let text = i18n::tr(lang, ground.text, &[]);
            Ok(if details.is_empty() {
                text
            } else {
                format!("{text} {details}")
            })
        }
        Action::Complete if details.is_empty() => Err("console.request.note_missing"),
        _ => Ok(details.to_string()),
    }
}

/// `303 See Other` to the request's page, with `done` naming what was done.
fn back_to(id: &str, done: &str) -> Response {
    let to = format!("/console/requests/{id}?done={done}");
    let mut response =
        (StatusCode::SEE_OTHER, [(header::CACHE_CONTROL, "no-store")]).into_response();
    // Request ids are the store's own (letters, digits, `_`): always a valid header value.
    if let Ok(v) = HeaderValue::from_str(&to) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    response
}

fn not_found(session: &StaffSession) -> Response {
    page(
        StatusCode::NOT_FOUND,
        "message.html",
        context! {
            title => tr("console.message.no_request_title", &[]),
            text => tr("console.message.no_request", &[]),
            link_href => "/console/requests", link_text => tr("console.link.requests", &[]),
            languages => minijinja::Value::from(()),
            staff => super::staff_view(session),
        },
    )
}

/// A state's name in the page's language.
fn state_label(state: RequestState) -> String {
    tr(&format!("console.state.{}", state.as_str()), &[])
}

/// Why the workflow refused a change, in the page's language.
fn refusal(e: &TransitionError) -> String {
    match e {
        TransitionError::NotAllowed { from, to } => tr(
            "console.refusal.not_allowed",
            &[("from", &state_label(*from)), ("to", &state_label(*to))],
        ),
        TransitionError::AlreadyExtended => tr("console.refusal.already_extended", &[]),
        TransitionError::NoExtension(kind) => tr(
            "console.refusal.no_extension",
            &[("kind", &tr(&format!("console.kind.{}", kind.as_str()), &[]))],
        ),
        TransitionError::ReasonRequired(_) => tr("console.request.ground_missing", &[]),
        TransitionError::NoteRequired => tr("console.request.note_missing", &[]),
        // The console sends the reasoned transitions itself: not a refusal staff can meet.
        TransitionError::UseReasoned(_) => e.to_string(),
    }
}

fn not_allowed(id: &str, why: &str) -> Response {
    let href = format!("/console/requests/{id}");
    message(
        StatusCode::CONFLICT,
        "console.message.not_possible_title",
        "console.message.not_possible",
        &[("why", why)],
        (href.as_str(), "console.link.request"),
    )
}

fn forbidden_role() -> Response {
    message(
        StatusCode::FORBIDDEN,
        "console.message.role_title",
        "console.message.role_actions",
        &[],
        ("/console/requests", "console.link.requests"),
    )
}

#[utoipa::path(post, path = "/console/requests/{id}/actions/{action}", summary = "Act on a request from the console", tag = "console", operation_id = "console_request_action", security(()),
    description = "Approve, deny, extend, cancel, retry or complete by hand, as the API's endpoints of the same names (admins and privacy officers; the change is audited with the staff account as actor). Deny and extend need a ground (`ground`) and may add words (`details`); complete needs a note (`details`).",
    params(("id" = String, Path, description = "The request's id"), ("action" = String, Path, description = "approve, deny, extend, cancel, retry or complete")),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "`csrf` (the session's token), `ground`, `details`"),
    responses(
        (status = 303, description = "Done: back to the request's page, which says so"),
        (status = 403, description = "The session's token is missing or wrong, or the role may not do this: nothing was done", content_type = "text/html", body = String),
        (status = 404, description = "No such request or action", content_type = "text/html", body = String),
        (status = 409, description = "The request's state does not allow this: nothing was done", content_type = "text/html", body = String),
        (status = 422, description = "No ground or note: the page again with the form's error", content_type = "text/html", body = String)
    ))]
pub(super) async fn act(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((id, action)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let (session, fields) = match signed_in_with_form(&state, &headers, &body).await {
        Ok(s) => s,
        Err(response) => return response,
    };
    let Some(action) = Action::parse(&action) else {
        return not_found(&session);
    };
    if !STAFF.contains(&session.account.role) {
        return forbidden_role();
    }
    let record = match state.store.get_request(&id).await {
        Ok(r) => r,
        Err(pledge_store::Error::UnknownRequest(_)) => return not_found(&session),
        Err(e) => return store_failed(&e),
    };
    if action == Action::Retry && api::retry_refusal(&record).is_some() {
        return not_allowed(
            &id,
            &tr(
                "console.refusal.retry",
                &[("state", &state_label(record.state))],
            ),
        );
    }
    // The ground's words are told to the person: in the language of their messages.
    let lang = record
        .language
        .as_deref()
        .and_then(i18n::matching)
        .or_else(|| i18n::matching(&state.config.public.language))
        .unwrap_or(i18n::FALLBACK);
    let text = match reason_of(action, record.regime, lang, &fields) {
        Ok(t) => t,
        Err(missing) => {
            return request_page(
                &state,
                &session,
                &id,
                super::pages::Extras {
                    status: StatusCode::UNPROCESSABLE_ENTITY,
                    form_error: Some((action.as_str(), tr(missing, &[]))),
                    ..Default::default()
                },
            )
            .await;
        }
    };
    let actor = session.account.actor();
    match api::change_state(&state, &id, &action.transition(text), &actor).await {
        Ok(_) => {
            tracing::info!(account = %session.account.id, action = action.as_str(), "console: a request's state changed");
            back_to(&id, action.as_str())
        }
        Err(pledge_store::Error::UnknownRequest(_)) => not_found(&session),
        Err(pledge_store::Error::Transition(e)) => not_allowed(&id, &refusal(&e)),
        Err(pledge_store::Error::Conflict(now)) => not_allowed(
            &id,
            &tr("console.refusal.conflict", &[("state", &state_label(now))]),
        ),
        Err(e) => store_failed(&e),
    }
}

#[utoipa::path(post, path = "/console/requests/{id}/download-link", summary = "Make a download link from the console", tag = "console", operation_id = "console_download_link", security(()),
    description = "A fresh single-use download link to the export of a completed access or portability request, as `POST /v1/requests/{id}/export/link` makes (admins and privacy officers). The page shows it once.",
    params(("id" = String, Path, description = "The request's id")),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "`csrf`: the session's token"),
    responses(
        (status = 200, description = "The request's page, with the link shown once", content_type = "text/html", body = String),
        (status = 403, description = "The session's token is missing or wrong, or the role may not: nothing was done", content_type = "text/html", body = String),
        (status = 404, description = "No such request, or it has no export", content_type = "text/html", body = String)
    ))]
pub(super) async fn download_link(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let (session, _) = match signed_in_with_form(&state, &headers, &body).await {
        Ok(s) => s,
        Err(response) => return response,
    };
    if !STAFF.contains(&session.account.role) {
        return forbidden_role();
    }
    match state.store.get_request(&id).await {
        Ok(_) => {}
        Err(pledge_store::Error::UnknownRequest(_)) => return not_found(&session),
        Err(e) => return store_failed(&e),
    }
    match crate::http::links::mint(&state, &id, &session.account.actor()).await {
        Ok(link) => {
            tracing::info!(account = %session.account.id, "console: a download link was made");
            let mut response = request_page(
                &state,
                &session,
                &id,
                super::pages::Extras {
                    link: Some((link.url, super::when(link.expires_at))),
                    ..Default::default()
                },
            )
            .await;
            // The link is a credential: the page that shows it is never kept anywhere.
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(pledge_store::Error::NoExport(_)) => {
            let href = format!("/console/requests/{id}");
            message(
                StatusCode::NOT_FOUND,
                "console.message.no_export_title",
                "console.message.no_export",
                &[],
                (href.as_str(), "console.link.request"),
            )
        }
        Err(e) => store_failed(&e),
    }
}
