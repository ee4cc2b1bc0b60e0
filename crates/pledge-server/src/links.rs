//! Download links for the person: `POST /v1/requests/{id}/export/link` (staff) makes one,
//! `GET /public/exports/{token}` (no API key: the token is the credential) hands the export
//! out once, decrypted. Only the token's SHA-256 is stored; the link expires, and is marked
//! used in the transaction that hands the export out, so a second use gets 410 Gone.

use crate::api::STAFF;
use crate::problem::{Problem, ProblemDoc};
use crate::{AppState, Caller, now_unix};
use axum::Extension;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use pledge_core::plan::CivilTime;
use pledge_store::{Error as StoreError, LinkRefusal, audit};
use serde_json::json;
use std::sync::atomic::Ordering;

/// Random bytes in a token: 256 bits, written as 64 hex digits.
const TOKEN_BYTES: usize = 32;

#[utoipa::path(post, path = "/v1/requests/{id}/export/link", tag = "requests",
    description = "Make a single-use download link to the request's export, for the person. The link expires (by default after 7 days, never after the export); the URL is shown once.",
    params(("id" = String, Path)),
    responses(
        (status = 201, description = "The link: `url`, `expires_at`", body = Object),
        (status = 404, description = "No such request, or it has no export (or it expired)", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 401, description = "Missing, unknown or revoked API key", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 403, description = "The key's role may not do this", body = ProblemDoc, content_type = "application/problem+json")
    ))]
pub async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    caller.require(STAFF, "make download links")?;
    // A 404 for an unknown request before anything else.
    state.store.get_request(&id).await?;
    let mut token = [0u8; TOKEN_BYTES];
    getrandom::fill(&mut token).map_err(|e| Problem::internal(e.to_string()))?;
    let token = audit::hex(&token);
    let now = now_unix();
    let expires_at = state
        .store
        .create_export_link(
            &id,
            &audit::sha256_hex(token.as_bytes()),
            now + state.config.link_ttl_secs,
            &caller.actor(),
            now,
        )
        .await
        .map_err(|e| match e {
            StoreError::NoExport(_) => Problem::not_found(e.to_string()),
            e => Problem::from(e),
        })?;
    state
        .metrics
        .export_links_created
        .fetch_add(1, Ordering::Relaxed);
    let path = format!("/public/exports/{token}");
    let base = match &state.config.public_url {
        Some(url) => url.trim_end_matches('/').to_string(),
        None => headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map_or_else(String::new, |host| format!("http://{host}")),
    };
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({
            "url": format!("{base}{path}"),
            "path": path,
            "expires_at": CivilTime::from_unix(expires_at).to_rfc3339(),
            "single_use": true,
        })),
    )
        .into_response())
}

#[utoipa::path(get, path = "/public/exports/{token}", tag = "public",
    description = "The export behind a download link, decrypted; works once.",
    params(("token" = String, Path)),
    security(()),
    responses(
        (status = 200, description = "The export (zip)", content_type = "application/zip", body = Vec<u8>),
        (status = 404, description = "No such link", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 410, description = "The link was used already or has expired", body = ProblemDoc, content_type = "application/problem+json")
    ))]
pub async fn download(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, Problem> {
    if token.len() != 2 * TOKEN_BYTES || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Problem::not_found("no such download link"));
    }
    let keys = state.config.export_keys.clone();
    let (request_id, zip) = state
        .store
        .use_export_link(
            &audit::sha256_hex(token.to_ascii_lowercase().as_bytes()),
            now_unix(),
            |stored| match &keys {
                Some(keys) => keys.open(stored).map_err(|e| e.to_string()),
                None if stored.key_id.is_none() => Ok(stored.bytes.clone()),
                None => Err("the server has no export key (PLEDGE_EXPORT_KEY)".into()),
            },
        )
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
