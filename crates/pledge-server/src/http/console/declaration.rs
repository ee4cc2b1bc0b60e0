//! The declaration as pages: what the server runs on, for every staff role (nothing here is
//! a person's data). Its purposes, categories, recipients, transfers and datasets; what
//! `pledge check` finds in it; the notice as published, every version the server has
//! published and the changes between any two; the record of processing and its downloads.
//!
//! The notice is recorded in the store when a server first runs a declaration whose notice
//! has a new version ([`publish_notice`]), with that declaration as JSON, so that any two
//! versions can be compared after the declaration has moved on.

use super::{message, page, signed_in, staff_view, store_failed, when};
use crate::AppState;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use minijinja::{Value, context};
use pledge_docs::notice::{self, Format as NoticeFormat, Options};
use pledge_docs::ropa;
use pledge_lang::load::Declaration;
use pledge_lang::source::SourceMap;
use serde_json::json;

/// The policy of a published document (the notice, the record): their own inline style
/// sheet, nothing else; no script runs (the notice's JSON-LD is data).
const DOCUMENT_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

/// The sections of the declaration that have a page.
pub(super) const SECTIONS: [&str; 5] = [
    "purposes",
    "categories",
    "recipients",
    "transfers",
    "datasets",
];

fn data(v: serde_json::Value) -> Value {
    Value::from(minijinja::value::Serde(v))
}

/// The notice of `decl` as its HTML page.
fn render_notice(decl: &Declaration) -> Result<notice::Notice, String> {
    notice::render(
        decl,
        &Options {
            format: NoticeFormat::Html,
            ..Options::default()
        },
    )
    .map_err(|e| e.to_string())
}

/// Records the notice of the running declaration as published, unless its version is
/// recorded already; called when the server starts and before the console shows versions.
pub(crate) async fn publish_notice(state: &AppState) -> Result<(), String> {
    let decl = &state.decl;
    let rendered = render_notice(decl)?;
    let declaration = stored_form(decl)?;
    let effective = rendered.effective_date.map(|d| d.to_string());
    let new = state
        .store
        .publish_notice(
            &pledge_store::notices::NewNotice {
                version: &rendered.version,
                digest: &rendered.digest,
                effective_date: effective.as_deref(),
                declaration: &declaration,
                html: &rendered.text,
            },
            "system",
            state.now(),
        )
        .await
        .map_err(|e| e.to_string())?;
    if new {
        tracing::info!(version = %rendered.version, "a new version of the notice is published");
    }
    Ok(())
}

/// The declaration as it is stored with its notice: JSON that loads as a declaration file
/// (an absent value is left out, as a file leaves it out, rather than written `null`).
fn stored_form(decl: &Declaration) -> Result<String, String> {
    fn without_nulls(v: serde_json::Value) -> serde_json::Value {
        match v {
            serde_json::Value::Object(map) => map
                .into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, without_nulls(v)))
                .collect(),
            serde_json::Value::Array(items) => items.into_iter().map(without_nulls).collect(),
            v => v,
        }
    }
    let v = serde_json::to_value(decl.doc()).map_err(|e| e.to_string())?;
    Ok(without_nulls(v).to_string())
}

/// A stored declaration (JSON) loaded again.
fn load_stored(text: &str) -> Result<Declaration, String> {
    pledge_lang::load(&SourceMap::single("declaration.json", text)).map_err(|errors| {
        errors
            .first()
            .map_or_else(|| "it does not load".to_string(), |e| e.message.clone())
    })
}

#[utoipa::path(get, path = "/console/declaration", summary = "The declaration in the console", tag = "console", operation_id = "console_declaration", security(()),
    description = "The controller, the regimes, what the declaration holds, and what `pledge check` finds in it now. Every role. Without a session: a redirect to sign-in.",
    responses(
        (status = 200, description = "The page", content_type = "text/html", body = String),
        (status = 303, description = "Not signed in: to the sign-in page")
    ))]
pub(super) async fn overview(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let session = match signed_in(&state, &headers).await {
        Ok(s) => s,
        Err(response) => return response,
    };
    let decl = &state.decl;
    let doc = decl.doc();
    let findings = pledge_law::lint::lint(decl);
    let count =
        |s: pledge_lang::diagnostic::Severity| findings.iter().filter(|f| f.severity == s).count();
    use pledge_lang::diagnostic::Severity;
    let summary = context! {
        errors => count(Severity::Error), warnings => count(Severity::Warning), notes => count(Severity::Info),
    };
    let findings: Vec<Value> = findings
        .iter()
        .map(|f| {
            data(json!({
                "rule": f.rule, "severity": f.severity.as_str(), "message": f.message,
                "help": f.help, "source": f.source,
            }))
        })
        .collect();
    let sections: Vec<Value> = SECTIONS
        .iter()
        .map(|id| {
            let n = match *id {
                "purposes" => doc.purposes.len(),
                "categories" => categories(decl).len(),
                "recipients" => doc.recipients.len(),
                "transfers" => doc.transfers.len(),
                _ => doc.datasets.len(),
            };
            context! { id => *id, count => n }
        })
        .collect();
    let regimes = data(serde_json::to_value(decl.regimes()).unwrap_or_default());
    page(
        StatusCode::OK,
        "declaration.html",
        context! {
            staff => staff_view(&session),
            controller => data(serde_json::to_value(&doc.controller).unwrap_or_default()),
            authority => data(serde_json::to_value(&doc.supervisory_authority).unwrap_or_default()),
            regimes, sections, findings, summary,
            version => notice::version(decl),
        },
    )
}

/// Every data category the purposes use, with its name, its sensitivity and its purposes.
fn categories(decl: &Declaration) -> Vec<serde_json::Value> {
    let mut seen: Vec<(String, serde_json::Value)> = Vec::new();
    for p in decl.purposes() {
        for c in &p.categories {
            let id = c.get().to_string();
            if let Some((_, entry)) = seen.iter_mut().find(|(i, _)| *i == id) {
                if let Some(list) = entry["purposes"].as_array_mut() {
                    list.push(json!(p.name.get()));
                }
                continue;
            }
            let info = decl.category(c.get());
            let (label, special, criminal, ccpa) =
                info.as_ref()
                    .map_or((id.clone(), false, false, false), |i| {
                        (
                            i.label.clone(),
                            i.sensitivity.special,
                            i.sensitivity.criminal,
                            i.sensitivity.ccpa_sensitive,
                        )
                    });
            seen.push((
                id.clone(),
                json!({
                    "id": id, "label": label, "special": special, "criminal": criminal,
                    "ccpa_sensitive": ccpa, "builtin": info.as_ref().is_some_and(|i| i.builtin),
                    "dpv": info.as_ref().map(|i| i.dpv),
                    "purposes": [p.name.get()],
                }),
            ));
        }
    }
    seen.into_iter().map(|(_, v)| v).collect()
}

#[utoipa::path(get, path = "/console/declaration/{section}", summary = "A section of the declaration", tag = "console", operation_id = "console_declaration_section", security(()),
    description = "The purposes (as the record of processing states them), the data categories, the recipients, the transfers or the datasets (tables, identities, columns and relations; never a connection string). Every role.",
    params(("section" = String, Path, description = "`purposes`, `categories`, `recipients`, `transfers` or `datasets`")),
    responses(
        (status = 200, description = "The page", content_type = "text/html", body = String),
        (status = 303, description = "Not signed in: to the sign-in page"),
        (status = 404, description = "No such section", content_type = "text/html", body = String)
    ))]
pub(super) async fn section(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(section): Path<String>,
) -> Response {
    let session = match signed_in(&state, &headers).await {
        Ok(s) => s,
        Err(response) => return response,
    };
    let Some(id) = SECTIONS.iter().find(|id| **id == section) else {
        return message(
            StatusCode::NOT_FOUND,
            "console.message.no_page_title",
            "console.message.no_section",
            &[],
            ("/console/declaration", "console.link.declaration"),
        );
    };
    let decl = &state.decl;
    let doc = decl.doc();
    let items: Value = match *id {
        "purposes" => {
            let record = ropa::build(decl, None);
            data(serde_json::to_value(&record.activities).unwrap_or_default())
        }
        "categories" => data(json!(categories(decl))),
        "recipients" => {
            let mut list = Vec::new();
            for r in &doc.recipients {
                let mut v = serde_json::to_value(r).unwrap_or_default();
                // Where requests are forwarded is shown; the secret's variable name is the
                // operator's business, not every role's.
                if let Some(fwd) = v.get_mut("requests").and_then(|f| f.as_object_mut()) {
                    fwd.remove("secret_env");
                }
                let purposes: Vec<&str> = doc
                    .purposes
                    .iter()
                    .filter(|p| p.recipients.iter().any(|id| id.get() == r.id.get()))
                    .map(|p| p.name.get().as_str())
                    .collect();
                v["purposes"] = json!(purposes);
                list.push(v);
            }
            data(json!(list))
        }
        "transfers" => {
            let list: Vec<serde_json::Value> = doc
                .transfers
                .iter()
                .map(|t| {
                    let mut v = serde_json::to_value(t).unwrap_or_default();
                    v["recipient_name"] = json!(
                        t.recipient
                            .as_ref()
                            .and_then(|id| decl.recipient(id.get()))
                            .map(|r| r.name.get().clone())
                    );
                    v
                })
                .collect();
            data(json!(list))
        }
        _ => {
            let list: Vec<serde_json::Value> = doc
                .datasets
                .iter()
                .map(|d| {
                    let mut v = serde_json::to_value(d).unwrap_or_default();
                    // The variable's name only: the connection string is never shown.
                    v["connection_env"] = json!(d.connection_env.get().to_string());
                    v
                })
                .collect();
            data(json!(list))
        }
    };
    let sections: Vec<Value> = SECTIONS.iter().map(|id| context! { id => *id }).collect();
    page(
        StatusCode::OK,
        "declaration_section.html",
        context! { staff => staff_view(&session), section => *id, items, sections },
    )
}

#[utoipa::path(get, path = "/console/notice", summary = "The notice and its versions", tag = "console", operation_id = "console_notice", security(()),
    description = "The version of the notice the running declaration publishes, every version the server has published with when, and a form comparing any two. Every role.",
    responses(
        (status = 200, description = "The page", content_type = "text/html", body = String),
        (status = 303, description = "Not signed in: to the sign-in page")
    ))]
pub(super) async fn notices(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let session = match signed_in(&state, &headers).await {
        Ok(s) => s,
        Err(response) => return response,
    };
    if let Err(e) = publish_notice(&state).await {
        tracing::error!(error = %e, "console: the notice cannot be recorded");
    }
    let versions = match state.store.notice_versions().await {
        Ok(v) => v,
        Err(e) => return store_failed(&e),
    };
    let current = notice::version(&state.decl);
    let versions: Vec<Value> = versions
        .iter()
        .map(|v| {
            context! {
                version => v.version.clone(), digest => v.digest.clone(),
                effective_date => v.effective_date.clone(),
                published => when(v.published_at),
                current => v.version == current,
            }
        })
        .collect();
    let (from, to) = (
        versions
            .get(1)
            .map(|v| v.get_attr("version").unwrap_or_default()),
        versions
            .first()
            .map(|v| v.get_attr("version").unwrap_or_default()),
    );
    page(
        StatusCode::OK,
        "notice.html",
        context! { staff => staff_view(&session), current, versions, from, to },
    )
}

/// A published document (the notice, the record) as its own page.
fn document(body: String) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(DOCUMENT_CSP),
    );
    response
}

#[utoipa::path(get, path = "/console/notice/{version}", summary = "A published version of the notice", tag = "console", operation_id = "console_notice_version", security(()),
    description = "The notice's HTML page as it was published in that version. Every role.",
    params(("version" = String, Path, description = "The notice's version (12 hex digits)")),
    responses(
        (status = 200, description = "The notice", content_type = "text/html", body = String),
        (status = 303, description = "Not signed in: to the sign-in page"),
        (status = 404, description = "No such version", content_type = "text/html", body = String)
    ))]
pub(super) async fn notice_version(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(version): Path<String>,
) -> Response {
    if let Err(response) = signed_in(&state, &headers).await {
        return response;
    }
    match state.store.notice(&version).await {
        Ok(Some(n)) => document(n.html),
        Ok(None) => message(
            StatusCode::NOT_FOUND,
            "console.message.no_version_title",
            "console.message.no_version",
            &[],
            ("/console/notice", "console.link.versions"),
        ),
        Err(e) => store_failed(&e),
    }
}

#[utoipa::path(get, path = "/console/notice-diff", summary = "What changed between two versions of the notice", tag = "console", operation_id = "console_notice_diff", security(()),
    description = "The changes between two published versions, material ones (people must be told before they take effect) apart from editorial ones. Every role.",
    params(("from" = String, Query, description = "The older version"), ("to" = String, Query, description = "The newer version")),
    responses(
        (status = 200, description = "The page", content_type = "text/html", body = String),
        (status = 303, description = "Not signed in: to the sign-in page"),
        (status = 404, description = "A version is not known", content_type = "text/html", body = String)
    ))]
pub(super) async fn notice_diff(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let session = match signed_in(&state, &headers).await {
        Ok(s) => s,
        Err(response) => return response,
    };
    let (mut from, mut to) = (String::new(), String::new());
    for (name, value) in form_urlencoded::parse(raw.as_deref().unwrap_or_default().as_bytes()) {
        match &*name {
            "from" => from = value.trim().to_string(),
            "to" => to = value.trim().to_string(),
            _ => {}
        }
    }
    let mut loaded = Vec::new();
    for v in [&from, &to] {
        let stored = match state.store.notice(v).await {
            Ok(Some(n)) => n,
            Ok(None) => {
                return message(
                    StatusCode::NOT_FOUND,
                    "console.message.no_version_title",
                    "console.message.no_versions",
                    &[],
                    ("/console/notice", "console.link.versions"),
                );
            }
            Err(e) => return store_failed(&e),
        };
        match load_stored(&stored.declaration) {
            Ok(d) => loaded.push(d),
            Err(e) => {
                tracing::error!(version = %v, error = %e, "console: a stored declaration does not load");
                return message(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "console.message.no_compare_title",
                    "console.message.no_compare",
                    &[],
                    ("/console/notice", "console.link.versions"),
                );
            }
        }
    }
    let d = notice::diff::diff(&loaded[0], &loaded[1]);
    let change = |c: &notice::diff::Change| {
        data(
            json!({"kind": c.kind, "purpose": c.purpose, "message": c.message, "old": c.old, "new": c.new}),
        )
    };
    page(
        StatusCode::OK,
        "notice_diff.html",
        context! {
            staff => staff_view(&session), from, to,
            material => d.material.iter().map(change).collect::<Vec<_>>(),
            editorial => d.editorial.iter().map(change).collect::<Vec<_>>(),
        },
    )
}

#[utoipa::path(get, path = "/console/record", summary = "The record of processing activities", tag = "console", operation_id = "console_record", security(()),
    description = "The Art. 30 record of the running declaration, as a page or a download (CSV, XLSX, JSON). Every role.",
    params(("format" = Option<String>, Query, description = "`html` (default), `csv`, `xlsx` or `json`")),
    responses(
        (status = 200, description = "The record", content_type = "text/html", body = String),
        (status = 303, description = "Not signed in: to the sign-in page"),
        (status = 404, description = "No such format", content_type = "text/html", body = String)
    ))]
pub(super) async fn record(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    if let Err(response) = signed_in(&state, &headers).await {
        return response;
    }
    let format = form_urlencoded::parse(raw.as_deref().unwrap_or_default().as_bytes())
        .find(|(n, _)| n == "format")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| "html".into());
    let (format, content_type, name) = match format.as_str() {
        "html" => (ropa::Format::Html, "text/html; charset=utf-8", None),
        "csv" => (
            ropa::Format::Csv,
            "text/csv; charset=utf-8",
            Some("record.csv"),
        ),
        "json" => (ropa::Format::Json, "application/json", Some("record.json")),
        "xlsx" => (
            ropa::Format::Xlsx,
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            Some("record.xlsx"),
        ),
        _ => {
            return message(
                StatusCode::NOT_FOUND,
                "console.message.no_format_title",
                "console.message.no_format",
                &[],
                ("/console/declaration", "console.link.declaration"),
            );
        }
    };
    let record = ropa::build(&state.decl, None);
    let body = match ropa::render(
        &record,
        format,
        &notice::Templates::builtin(),
        notice::DEFAULT_LANG,
    ) {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(error = %e, "console: the record cannot be rendered");
            return message(
                StatusCode::INTERNAL_SERVER_ERROR,
                "console.message.no_record_title",
                "console.message.no_record",
                &[],
                ("/console/declaration", "console.link.declaration"),
            );
        }
    };
    match name {
        None => document(String::from_utf8_lossy(&body).into_owned()),
        Some(name) => (
            [
                (header::CONTENT_TYPE, content_type.to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{name}\""),
                ),
                (header::CACHE_CONTROL, "no-store".to_string()),
            ],
            body,
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A declaration stored as JSON loads again as the same declaration: the same notice
    /// version, so that versions compare as they were published.
    #[test]
    fn a_stored_declaration_loads_with_the_same_notice() {
        let text = include_str!("../../../../../examples/chinook/pledge.toml");
        let decl = pledge_lang::load(&SourceMap::single("pledge.toml", text)).unwrap();
        let again = load_stored(&stored_form(&decl).unwrap()).unwrap();
        assert_eq!(notice::version(&again), notice::version(&decl));
        assert!(notice::diff::diff(&decl, &again).is_empty());
    }
}
