//! Looking a person up: by an identity their requests name (an e-mail address, a customer
//! number) or by the pseudonymous subject id of the consent ledger. Their requests, the
//! decision for every declared purpose now with its reason, and their consent history
//! with each event's receipt (sequence number and hash). Personal data: admins and
//! privacy officers only, every lookup that finds something audited as a read.

use super::when;
use super::{label, message, page, sees_personal_data, signed_in, staff_view, store_failed, tr};
use crate::AppState;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use minijinja::{Value, context};
use pledge_domain::consent::{Query, Reason, Target};
use pledge_lang::types::SubjectRef;
use serde_json::json;

/// Requests shown for one identity.
const REQUESTS: i64 = 50;

fn data(v: serde_json::Value) -> Value {
    Value::from(minijinja::value::Serde(v))
}

/// Why a decision came out as it did, in words.
fn reason_words(r: &Reason) -> String {
    let at = |key: &str, t: &i64| tr(key, &[("at", &when(*t))]);
    match r {
        Reason::NotDeclared => tr("console.reason.not_declared", &[]),
        Reason::CategoryNotDeclared { category } => tr(
            "console.reason.category_not_declared",
            &[("category", &category.to_string())],
        ),
        Reason::NoLegalBasis => tr("console.reason.no_legal_basis", &[]),
        Reason::LegalBasis => tr("console.reason.legal_basis", &[]),
        Reason::Exempt => tr("console.reason.exempt", &[]),
        Reason::InvalidConsentMechanism { mechanism } => {
            let how = serde_json::to_value(mechanism)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            tr("console.reason.invalid_mechanism", &[("how", &how)])
        }
        Reason::ConsentGiven { at: t, expires_at } => match expires_at {
            Some(e) => tr(
                "console.reason.given_until",
                &[("at", &when(*t)), ("until", &when(*e))],
            ),
            None => at("console.reason.given", t),
        },
        Reason::ConsentMissing => tr("console.reason.missing", &[]),
        Reason::ConsentRefused { at: t } => at("console.reason.refused", t),
        Reason::ConsentWithdrawn { at: t } => at("console.reason.withdrawn", t),
        Reason::ConsentExpired { at: t } => at("console.reason.expired", t),
        Reason::Objection { at: t } => at("console.reason.objection", t),
        Reason::Restriction { at: t } => at("console.reason.restriction", t),
        Reason::OptOut { at: t } => at("console.reason.opt_out", t),
    }
}

#[utoipa::path(get, path = "/console/people", summary = "Look a person up", tag = "console", operation_id = "console_people", security(()),
    description = "By an identity a request names or by a consent subject id: the person's requests, the decision for every declared purpose now with its reason, and their consent history with receipts. Admins and privacy officers only (403 for support agents); a lookup that finds something is audited as a read of personal data.",
    params(("q" = Option<String>, Query, description = "An identity (e-mail address, customer number) or a subject id")),
    responses(
        (status = 200, description = "The page", content_type = "text/html", body = String),
        (status = 303, description = "Not signed in: to the sign-in page"),
        (status = 403, description = "The role sees no personal data", content_type = "text/html", body = String)
    ))]
pub(super) async fn people(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let session = match signed_in(&state, &headers).await {
        Ok(s) => s,
        Err(response) => return response,
    };
    if !sees_personal_data(&session) {
        return message(
            StatusCode::FORBIDDEN,
            "console.message.role_title",
            "console.message.role_people",
            &[],
            ("/console", "console.link.dashboard"),
        );
    }
    let q = form_urlencoded::parse(raw.as_deref().unwrap_or_default().as_bytes())
        .find(|(n, _)| n == "q")
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_default();
    if q.is_empty() {
        return page(
            StatusCode::OK,
            "people.html",
            context! { staff => staff_view(&session), q, searched => false },
        );
    }
    let now = state.now();
    let actor = session.account.actor();
    let requests = match state.store.requests_naming(&q, REQUESTS).await {
        Ok(r) => r,
        Err(e) => return store_failed(&e),
    };
    for r in &requests {
        if let Err(e) = state
            .store
            .record_read(&r.id, &actor, "person lookup (console)", now)
            .await
        {
            return store_failed(&e);
        }
    }
    let requests: Vec<Value> = requests
        .iter()
        .map(|r| {
            data(json!({
                "id": r.id, "kind": r.kind.as_str(), "regime": r.regime.as_str(),
                "state": r.state.as_str(), "received": when(r.received_at), "due": when(r.due_at),
                "identities": r.identities.iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>(),
            }))
        })
        .collect();
    // The ledger's subject: the text itself when it is a subject id the ledger knows.
    let subject = q
        .parse::<SubjectRef>()
        .ok()
        .filter(|s| state.consent.knows(s));
    let consent = match &subject {
        None => Value::from(()),
        Some(subject) => {
            let ids = state.consent.linked_ids(subject);
            let history = match state.store.consent_history(&ids).await {
                Ok(h) => h,
                Err(e) => return store_failed(&e),
            };
            if let Err(e) = state.store.record_consent_read(subject, &actor, now).await {
                return store_failed(&e);
            }
            let current = state.consent.current(subject);
            let decisions: Vec<Value> = state
                .decl
                .purposes()
                .iter()
                .map(|p| {
                    let d = state.consent.decide(
                        subject,
                        &Query {
                            target: Target::Purpose(p.id.get().clone()),
                            categories: Vec::new(),
                        },
                    );
                    data(json!({
                        "purpose": p.name.get(), "id": p.id.get().to_string(),
                        "allow": d.allow, "reason": reason_words(&d.reason),
                        "basis": d.basis.map(|b| {
                            let code = pledge_lang::model::variant_name(&b);
                            label(&format!("console.basis.{code}"), &code)
                        }),
                    }))
                })
                .collect();
            let history: Vec<Value> = history
                .iter()
                .rev()
                .map(|r| {
                    data(json!({
                        "seq": r.seq, "at": when(r.at), "subject": r.subject,
                        "kind": label(&format!("console.ledger.kind.{}", r.kind), &r.kind),
                        "target": r.target, "state": label(&format!("console.ledger.state.{}", r.state), &r.state),
                        "expires": r.expires_at.map(when), "notice_version": r.notice_version,
                        "method": label(&format!("console.ledger.method.{}", r.method), &r.method),
                        "actor": r.actor, "hash": r.hash,
                    }))
                })
                .collect();
            context! {
                subject => subject.as_str(),
                resolved_to => current.resolved_to.as_str(),
                linked => ids.iter().map(|s| s.as_str().to_string()).collect::<Vec<_>>(),
                restricted_since => current.restricted_since.map(when),
                opted_out_since => current.opted_out_since.map(when),
                decisions, history,
            }
        }
    };
    page(
        StatusCode::OK,
        "people.html",
        context! { staff => staff_view(&session), q, searched => true, requests, consent },
    )
}
