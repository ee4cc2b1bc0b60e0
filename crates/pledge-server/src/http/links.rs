//! Download links for the person: `POST /v1/requests/{id}/export/link` (staff) makes one;
//! `GET /public/exports/{token}` (no API key: the token is the credential) shows a page with
//! a button and spends nothing (mail scanners and link previews open links, with `GET` as
//! with `HEAD`); the button's `POST` to the same address hands the export out once,
//! decrypted. Only the token's SHA-256 is stored; the link expires, and is marked used in the
//! transaction that hands the export out, so a second use gets 410 Gone.

use crate::http::api::STAFF;
use crate::http::problem::{Problem, ProblemDoc};
use crate::{AppState, Caller};
use axum::Extension;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use pledge_lang::time::CivilTime;
use pledge_store::{Error as StoreError, LinkRefusal, audit};
use serde_json::json;
use std::sync::atomic::Ordering;

/// Random bytes in a token: 256 bits, written as 64 hex digits.
const TOKEN_BYTES: usize = 32;

#[utoipa::path(post, path = "/v1/requests/{id}/export/link", summary = "Make a download link", operation_id = "create_download_link", security(("api_key" = ["admin", "privacy_officer"])), tag = "requests",
    description = "Make a single-use download link to the request's export, for the person. The link expires (by default after 7 days, never after the export); the URL is shown once.",
    params(("id" = String, Path)),
    responses(
        (status = 201, description = "The link: `url`, `expires_at`", body = crate::http::schemas::DownloadLink),
        (status = 404, description = "No such request, or it has no export (or it expired)", body = ProblemDoc, content_type = "application/problem+json"),
        crate::http::problem::AuthProblems
    ))]
pub async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    caller.require(STAFF, "make download links")?;
    // A 404 for an unknown request before anything else.
    state.store.get_request(&id).await?;
    let link = mint(&state, &id, &caller.actor())
        .await
        .map_err(|e| match e {
            StoreError::NoExport(_) => Problem::not_found(e.to_string()),
            e => Problem::from(e),
        })?;
    let (url, path, expires_at) = (link.url, link.path, link.expires_at);
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({
            "url": url,
            "path": path,
            "expires_at": CivilTime::from_unix(expires_at).to_rfc3339(),
            "single_use": true,
        })),
    )
        .into_response())
}

/// A download link just made: its URL (shown once), path and end.
pub struct DownloadLink {
    pub url: String,
    pub path: String,
    pub expires_at: i64,
}

/// Makes a single-use download link to the export of `request_id`: a random token, stored
/// only as its hash, that expires after the configured time (never after the export).
/// Staff make them through the API; the mailer makes one for the completion message. The
/// URL starts with the server's public URL (`public.base_url`).
pub async fn mint(
    state: &AppState,
    request_id: &str,
    actor: &str,
) -> Result<DownloadLink, StoreError> {
    let mut token = [0u8; TOKEN_BYTES];
    getrandom::fill(&mut token).map_err(|e| StoreError::Random(e.to_string()))?;
    let token = audit::hex(&token);
    let now = state.now();
    let expires_at = state
        .store
        .create_export_link(
            request_id,
            &audit::sha256_hex(token.as_bytes()),
            now + state.config.link_ttl_secs,
            actor,
            now,
        )
        .await?;
    state
        .metrics
        .export_links_created
        .fetch_add(1, Ordering::Relaxed);
    let path = format!("/public/exports/{token}");
    let base = state.config.public.base_url.trim_end_matches('/');
    Ok(DownloadLink {
        url: format!("{base}{path}"),
        path,
        expires_at,
    })
}

/// The token of a link's address as stored (its SHA-256), or `None` when it cannot be one.
fn token_hash(token: &str) -> Option<String> {
    (token.len() == 2 * TOKEN_BYTES && token.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| audit::sha256_hex(token.to_ascii_lowercase().as_bytes()))
}

/// Whether the link of `hash` would hand its export out now, without spending it: the same
/// checks in the same transaction, which the look-only `open` then abandons, so it rolls
/// back and the link stays as it was.
async fn look(state: &AppState, hash: &str) -> Result<(), Problem> {
    let looked = state
        .store
        .use_export_link(hash, state.now(), |_| Err(LOOK_ONLY.to_string()))
        .await;
    match looked {
        Err(StoreError::Sealed(why)) if why == LOOK_ONLY => Ok(()),
        Err(e) => Err(link_problem(e)),
        // `open` never succeeds: nothing was handed out.
        Ok(_) => Err(Problem::internal("a look at a download link handed it out")),
    }
}

#[utoipa::path(get, path = "/public/exports/{token}", summary = "The download page of a link", tag = "public", operation_id = "download_page",
    description = "The page the link in the completion message opens: what the download is and a button whose `POST` to the same address downloads it. It spends nothing, and neither does a `HEAD`: mail scanners and link previews open links. A link used already or expired gets a page saying so (410); an unknown one 404.",
    params(("token" = String, Path), ("lang" = Option<String>, Query, description = "The page's language (`en`, `da`, `fr`)")),
    security(()),
    responses(
        (status = 200, description = "The page with the button", content_type = "text/html", body = String),
        (status = 404, description = "No such link", content_type = "text/html", body = String),
        (status = 410, description = "The link was used already or has expired", content_type = "text/html", body = String)
    ))]
pub async fn download_page(
    State(state): State<AppState>,
    lang: crate::http::lang::PageLang,
    Path(token): Path<String>,
) -> Response {
    let checked = match token_hash(&token) {
        Some(hash) => look(&state, &hash).await,
        None => Err(Problem::not_found("no such download link")),
    };
    // An unknown link reads as one that no longer works: the person cannot tell them apart.
    let checked = checked.map_err(|p| {
        if p.status == StatusCode::NOT_FOUND {
            Problem::new(
                StatusCode::NOT_FOUND,
                "link-gone",
                "This link no longer works",
                "no such download link",
            )
        } else {
            p
        }
    });
    match checked {
        Ok(()) => crate::http::public::public_page(
            &state,
            &lang,
            StatusCode::OK,
            "download.html",
            minijinja::context! { action => format!("/public/exports/{}", token.to_ascii_lowercase()) },
        ),
        Err(p) => crate::http::public::refused_page(&state, &lang, &p, None, None),
    }
}

#[utoipa::path(post, path = "/public/exports/{token}", summary = "Download an export through its link", tag = "public", operation_id = "download_export",
    description = "The download page's button: the export behind the link, decrypted; works once. A browser's prefetch (`Sec-Purpose: prefetch`) is answered with the headers alone and leaves the link as it was.",
    params(("token" = String, Path)),
    security(()),
    responses(
        (status = 200, description = "The export (zip)", content_type = "application/zip", body = Vec<u8>),
        (status = 404, description = "No such link", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 410, description = "The link was used already or has expired", body = ProblemDoc, content_type = "application/problem+json")
    ))]
pub async fn download(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Result<Response, Problem> {
    let Some(hash) = token_hash(&token) else {
        return Err(Problem::not_found("no such download link"));
    };
    if prefetch(&headers) {
        look(&state, &hash).await?;
        return Ok([
            (header::CONTENT_TYPE, "application/zip"),
            (header::CACHE_CONTROL, "no-store"),
        ]
        .into_response());
    }
    let keys = state.config.export_keys.clone();
    let (request_id, zip) = state
        .store
        .use_export_link(&hash, state.now(), |stored| match &keys {
            Some(keys) => keys.open(stored).map_err(|e| e.to_string()),
            None if stored.key_id.is_none() => Ok(stored.bytes.clone()),
            None => Err("the server has no export key (PLEDGE_EXPORT_KEY)".into()),
        })
        .await
        .map_err(link_problem)?;
    state
        .metrics
        .export_link_downloads
        .fetch_add(1, Ordering::Relaxed);
    Ok((
        [
            (header::CONTENT_TYPE, "application/zip".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"pledge-{request_id}.zip\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        zip,
    )
        .into_response())
}

/// What [`download`]'s look-only `open` answers, to tell its own refusal from a real one.
const LOOK_ONLY: &str = "a look at the link, not a download";

/// Whether the browser fetches the link ahead of a click (`Sec-Purpose: prefetch`, or the
/// older `Purpose: prefetch`): that is not the person downloading.
fn prefetch(headers: &HeaderMap) -> bool {
    [
        header::HeaderName::from_static("sec-purpose"),
        header::HeaderName::from_static("purpose"),
    ]
    .iter()
    .filter_map(|name| headers.get(name)?.to_str().ok())
    .any(|v| v.to_ascii_lowercase().contains("prefetch"))
}

fn link_problem(e: StoreError) -> Problem {
    match &e {
        StoreError::Link(LinkRefusal::Unknown) => Problem::not_found(e.to_string()),
        StoreError::Link(_) => Problem::new(
            StatusCode::GONE,
            "link-gone",
            "This link no longer works",
            e.to_string(),
        ),
        _ => Problem::from(e),
    }
}
