//! Rights requests forwarded to recipients that hold personal data no dataset reaches (GDPR
//! Art. 19): the declaration gives such a recipient a `requests` webhook. When a request of a
//! forwarded kind has run here, it waits in `awaiting_external`; this sender POSTs it to each
//! recipient, signed, retrying with back-off; the recipient calls back
//! (`POST /v1/requests/{id}/callbacks/{recipient}`) and the last `done` completes it.
//!
//! The signature: `Pledge-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>` over
//! `<t>.<body>` with the secret the recipient's `secret_env` names. The recipient checks it
//! and refuses old timestamps, so a captured delivery cannot be replayed later.

use crate::AppState;
use axum::body::Bytes;
use hmac::{Hmac, KeyInit, Mac};
use pledge_lang::model::RequestForwarding;
use pledge_lang::rights::Right;
use pledge_plan::retry::Transience;
use pledge_store::RequestRecord;
use pledge_store::forward::Forward;
use serde_json::{Value, json};
use sha2::Sha256;
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use thiserror::Error;
use tokio::sync::watch;

/// Why a delivery to a recipient failed, and whether delivering again later may work.
#[derive(Debug, Error)]
pub enum DeliveryError {
    #[error("the declaration no longer forwards requests to `{0}`")]
    NotForwarded(String),
    #[error("set {0} to the webhook's secret")]
    NoSecret(String),
    #[error("webhook URL: {0}")]
    Url(String),
    #[error("cannot connect to {0}")]
    Connect(String),
    #[error("the webhook client cannot be made: {0}")]
    Client(String),
    #[error("no answer within {} s", TIMEOUT.as_secs())]
    Timeout,
    #[error("HTTP: {0}")]
    Http(String),
    #[error("the webhook answered HTTP {0}")]
    Status(u16),
    #[error("the store: {0}")]
    Store(#[from] pledge_store::Error),
}

impl DeliveryError {
    /// The network and the recipient's server errors (5xx, 408, 429) may pass; a refusal
    /// (other 4xx), a bad URL or a missing secret will not until someone changes something.
    pub fn transience(&self) -> Transience {
        match self {
            DeliveryError::NotForwarded(_)
            | DeliveryError::NoSecret(_)
            | DeliveryError::Url(_)
            | DeliveryError::Client(_) => Transience::Permanent,
            DeliveryError::Connect(_) | DeliveryError::Timeout | DeliveryError::Http(_) => {
                Transience::Transient
            }
            DeliveryError::Status(code) if *code >= 500 || matches!(code, 408 | 429) => {
                Transience::Transient
            }
            DeliveryError::Status(_) => Transience::Permanent,
            DeliveryError::Store(e) => e.transience(),
        }
    }
}

/// Attempts before a delivery is given up (then staff see it failed on the request).
const MAX_ATTEMPTS: i64 = 8;
/// How long one delivery may take, connection included.
const TIMEOUT: Duration = Duration::from_secs(10);
/// A claimed delivery is this sender's for this long.
const LEASE_SECS: i64 = 60;
const BATCH: i64 = 20;

/// The recipients a request of kind `right` is forwarded to, by id.
pub fn recipients_for(state: &AppState, right: Right) -> Vec<String> {
    state
        .decl
        .doc()
        .recipients
        .iter()
        .filter(|r| {
            r.requests
                .as_ref()
                .is_some_and(|f| f.kinds.iter().any(|k| k.value == right))
        })
        .map(|r| r.id.value.to_string())
        .collect()
}

fn forwarding<'a>(state: &'a AppState, recipient: &str) -> Option<&'a RequestForwarding> {
    state
        .decl
        .doc()
        .recipients
        .iter()
        .find(|r| r.id.value.as_str() == recipient)
        .and_then(|r| r.requests.as_ref())
}

/// Runs until `stop` turns true, delivering what is due.
pub async fn run(state: AppState, mut stop: watch::Receiver<bool>) {
    loop {
        if *stop.borrow() {
            return;
        }
        let delivered = match deliver_due(&state).await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "the forwarder cannot read its queue");
                0
            }
        };
        if delivered > 0 {
            state.progressed();
            continue;
        }
        tokio::select! {
            _ = stop.changed() => {}
            () = state.wake_forward.notified() => {}
            () = tokio::time::sleep(state.config.poll) => {}
        }
    }
}

/// Claims the due deliveries once and makes them; returns how many were claimed.
pub async fn deliver_due(state: &AppState) -> Result<usize, pledge_store::Error> {
    let claimed = state
        .store
        .claim_forwards(BATCH, LEASE_SECS, state.now())
        .await?;
    for forward in &claimed {
        match deliver(state, forward).await {
            Ok(()) => state.store.forward_delivered(forward, state.now()).await?,
            Err(e) => {
                let transience = e.transience();
                tracing::warn!(
                    request = %forward.request_id,
                    recipient = %forward.recipient,
                    attempt = forward.attempts,
                    transience = transience.as_str(),
                    error = %e,
                    "a forwarded request was not delivered"
                );
                // A permanent failure is given up now, for staff; a passing one retried.
                let max = match transience {
                    Transience::Permanent => forward.attempts,
                    Transience::Transient => MAX_ATTEMPTS,
                };
                state
                    .store
                    .forward_failed(forward, &e.to_string(), max, state.now())
                    .await?
            }
        }
    }
    Ok(claimed.len())
}

async fn deliver(state: &AppState, forward: &Forward) -> Result<(), DeliveryError> {
    let config = forwarding(state, &forward.recipient)
        .ok_or_else(|| DeliveryError::NotForwarded(forward.recipient.clone()))?;
    let secret = state
        .variable(config.secret_env.value.as_str())
        .ok_or_else(|| DeliveryError::NoSecret(config.secret_env.value.to_string()))?;
    let request = state.store.get_request(&forward.request_id).await?;
    let body = payload(&request, &forward.recipient, &state.config.public.base_url).to_string();
    let now = state.now();
    let signature = format!("t={now},v1={}", sign(secret.as_bytes(), now, &body));
    let status = post(config.webhook.value.as_str(), body, &signature).await?;
    if (200..300).contains(&status) {
        Ok(())
    } else {
        Err(DeliveryError::Status(status))
    }
}

/// What a recipient receives: enough to find the person and act, and where to report.
pub fn payload(request: &RequestRecord, recipient: &str, base_url: &str) -> Value {
    let identities: BTreeMap<&str, &str> = request
        .identities
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let changes: BTreeMap<&str, &str> = request
        .changes
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    json!({
        "request_id": request.id,
        "kind": request.kind.as_str(),
        "regime": request.regime.as_str(),
        "identities": identities,
        "changes": changes,
        "due_at": pledge_lang::time::CivilTime::from_unix(request.due_at).to_rfc3339(),
        "recipient": recipient,
        "callback": format!(
            "{}/v1/requests/{}/callbacks/{recipient}",
            base_url.trim_end_matches('/'),
            request.id
        ),
    })
}

/// The hex HMAC-SHA256 of `<t>.<body>`.
pub fn sign(secret: &[u8], t: i64, body: &str) -> String {
    // HMAC takes a key of any length: `new_from_slice` cannot fail for it.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(format!("{t}.").as_bytes());
    mac.update(body.as_bytes());
    pledge_store::audit::hex(&mac.finalize().into_bytes())
}

/// POSTs `body` as JSON to `url` (http or https) and returns the response's status.
async fn post(url: &str, body: String, signature: &str) -> Result<u16, DeliveryError> {
    let url = reqwest::Url::parse(url).map_err(|e| DeliveryError::Url(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(DeliveryError::Url("it must be http or https".into()));
    }
    if url.host_str().is_none() {
        return Err(DeliveryError::Url("it has no host".into()));
    }
    let response = client()?
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("Pledge-Signature", signature)
        .body(body)
        .send()
        .await
        .map_err(|e| {
            if e.is_timeout() {
                DeliveryError::Timeout
            } else if e.is_connect() {
                // Refused, unreachable, or the TLS handshake failed: the chain says which.
                DeliveryError::Connect(error_chain(&e))
            } else if e.is_builder() {
                DeliveryError::Url(error_chain(&e))
            } else {
                DeliveryError::Http(error_chain(&e))
            }
        })?;
    Ok(response.status().as_u16())
}

/// An error with its causes, `a: b: c` (reqwest's own message is only the outermost).
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// TLS for Pledge's outgoing HTTPS (webhooks, the console's sign-on provider): rustls on
/// ring, with the web's root certificates bundled, so no system store is read.
pub(crate) fn tls_config() -> Result<rustls::ClientConfig, String> {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    Ok(rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth())
}

/// The one webhook client, built once: it keeps connections to each recipient open between
/// deliveries (a burst of forwarded requests reuses them), answers within [`TIMEOUT`] or
/// fails, and follows no redirect (a recipient's URL is where its data goes; a redirect to
/// elsewhere is refused as a 3xx status). TLS is rustls on ring with the web's root
/// certificates bundled, so no system store is read.
fn client() -> Result<&'static reqwest::Client, DeliveryError> {
    static CLIENT: OnceLock<Result<reqwest::Client, String>> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            let tls = tls_config()?;
            reqwest::Client::builder()
                .tls_backend_preconfigured(tls)
                .user_agent("Pledge")
                .timeout(TIMEOUT)
                .connect_timeout(TIMEOUT)
                .redirect(reqwest::redirect::Policy::none())
                .pool_idle_timeout(Duration::from_secs(90))
                .build()
                .map_err(|e| error_chain(&e))
        })
        .as_ref()
        .map_err(|e| DeliveryError::Client(e.clone()))
}

/// `POST /v1/requests/{id}/callbacks/{recipient}`: what the recipient reports.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Callback {
    /// `done`, or `failed` (the request then waits for staff, who see the detail).
    pub status: CallbackStatus,
    /// What the recipient did or why it failed, for staff (at most 2,000 characters).
    #[serde(default)]
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Copy, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CallbackStatus {
    Done,
    Failed,
}

/// How far a report's signed time may be from the server's clock, either way.
pub const CALLBACK_WINDOW_SECS: i64 = 300;

/// Why a report's signature was refused (the detail of the 401).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("no `Pledge-Signature` header: sign the report with the recipient's secret")]
    Missing,
    #[error("`Pledge-Signature` is not `t=<unix seconds>,v1=<hex HMAC-SHA256>`")]
    Malformed,
    #[error(
        "the signature's time is more than {CALLBACK_WINDOW_SECS} seconds from ours: sign each report when it is sent"
    )]
    Stale,
    #[error("the signature does not match the body under this recipient's secret")]
    Mismatch,
}

/// Checks `header` (`t=...,v1=...`) against `body` under `secret` at `now`: the time within
/// [`CALLBACK_WINDOW_SECS`], the HMAC compared in constant time. Returns the signed time and
/// the signature.
pub fn check_signature(
    secret: &[u8],
    header: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<(i64, String), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let (mut t, mut v1) = (None, None);
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => t = value.parse::<i64>().ok(),
            Some(("v1", value)) => v1 = Some(value.to_string()),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return Err(SignatureError::Malformed);
    };
    let tag = unhex(&v1).ok_or(SignatureError::Malformed)?;
    if (now - t).abs() > CALLBACK_WINDOW_SECS {
        return Err(SignatureError::Stale);
    }
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    mac.verify_slice(&tag)
        .map_err(|_| SignatureError::Mismatch)?;
    Ok((t, v1.to_ascii_lowercase()))
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || s.is_empty() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[utoipa::path(post, path = "/v1/requests/{id}/callbacks/{recipient}", summary = "A recipient's report", operation_id = "recipient_callback", security(("recipient_signature" = [])), tag = "requests",
    description = "A recipient the request was forwarded to reports back, signed with its own secret (the one its webhook deliveries are signed with): `Pledge-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<body>\">`, within five minutes of the server's clock, and never the same report twice. No API key counts here. The last `done` completes the request (and tells the person); `failed` leaves it waiting, with the detail, for staff. Every report, taken or refused, is audited.",
    params(("id" = String, Path), ("recipient" = String, Path, description = "The recipient's id in the declaration")),
    request_body = Callback,
    responses(
        (status = 200, description = "Recorded: where the request stands with every recipient", body = crate::http::schemas::CallbackAnswer),
        (status = 400, description = "Malformed JSON", body = crate::http::problem::ProblemDoc, content_type = "application/problem+json"),
        (status = 401, description = "No signature, a malformed or stale one, or one that does not match the body under the recipient's secret (`bad-signature`)", body = crate::http::problem::ProblemDoc, content_type = "application/problem+json"),
        (status = 404, description = "No such recipient takes forwarded requests, or no such request", body = crate::http::problem::ProblemDoc, content_type = "application/problem+json"),
        (status = 409, description = "The request waits for no report from this recipient, or this report was taken already (a replay)", body = crate::http::problem::ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "Unknown field, wrong type or a detail over 2,000 characters", body = crate::http::problem::ProblemDoc, content_type = "application/problem+json")
    ))]
pub async fn callback(
    axum::extract::State(state): axum::extract::State<AppState>,
    axum::extract::Path((id, recipient)): axum::extract::Path<(String, String)>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Result<axum::response::Response, crate::http::problem::Problem> {
    use crate::http::problem::Problem;
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    let config = forwarding(&state, &recipient).ok_or_else(|| {
        Problem::not_found(format!(
            "no recipient `{recipient}` takes forwarded requests"
        ))
    })?;
    let secret = state
        .variable(config.secret_env.value.as_str())
        .ok_or_else(|| {
            Problem::internal(format!(
                "set {} to the recipient's secret: its reports cannot be checked without it",
                config.secret_env.value
            ))
        })?;
    let now = state.now();
    // A refused report is audited (when the request was sent to that recipient) and
    // answered with its problem.
    let refuse = |problem: Problem| {
        let state = state.clone();
        let (id, recipient) = (id.clone(), recipient.clone());
        async move {
            state
                .store
                .callback_refused(
                    &id,
                    &recipient,
                    problem.status.as_u16(),
                    &problem.detail,
                    now,
                )
                .await?;
            Err::<axum::response::Response, Problem>(problem)
        }
    };
    let signature = headers
        .get("pledge-signature")
        .and_then(|v| v.to_str().ok());
    let (t, signature) = match check_signature(secret.as_bytes(), signature, &body, now) {
        Ok(signed) => signed,
        Err(e) => {
            return refuse(Problem::new(
                StatusCode::UNAUTHORIZED,
                "bad-signature",
                "The report is not signed by this recipient",
                e.to_string(),
            ))
            .await;
        }
    };
    let body: Callback = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) if e.is_syntax() || e.is_eof() => {
            return refuse(Problem::new(
                StatusCode::BAD_REQUEST,
                "bad-json",
                "The body is not JSON",
                e.to_string(),
            ))
            .await;
        }
        Err(e) => return refuse(Problem::invalid(e.to_string())).await,
    };
    if body
        .detail
        .as_ref()
        .is_some_and(|d| d.chars().count() > 2000)
    {
        return refuse(Problem::invalid("`detail` holds at most 2,000 characters")).await;
    }
    let outcome = match body.status {
        CallbackStatus::Done => pledge_store::forward::CallbackOutcome::Done,
        CallbackStatus::Failed => pledge_store::forward::CallbackOutcome::Failed,
    };
    let recorded = state
        .store
        .record_callback(
            &id,
            &recipient,
            outcome,
            body.detail.as_deref(),
            Some((t, &signature)),
            &format!("recipient:{recipient}"),
            now,
        )
        .await;
    let forwards = match recorded {
        Ok(f) => f,
        Err(e) => return refuse(Problem::from(e)).await,
    };
    state.wake_mail.notify_one();
    let request = state.store.get_request(&id).await?;
    Ok(axum::Json(json!({
        "id": id,
        "state": request.state.as_str(),
        "forwards": forwards,
    }))
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_is_checked_like_a_delivery_is_signed() {
        let body = br#"{"status":"done"}"#;
        let t = 1_800_000_000;
        let v1 = sign(b"secret", t, r#"{"status":"done"}"#);
        let header = format!("t={t},v1={v1}");
        assert_eq!(
            check_signature(b"secret", Some(&header), body, t + 10),
            Ok((t, v1.clone()))
        );
        let upper = format!("t={t},v1={}", v1.to_ascii_uppercase());
        assert!(check_signature(b"secret", Some(&upper), body, t).is_ok());
        for (secret, header, now, error) in [
            (&b"secret"[..], None, t, SignatureError::Missing),
            (b"secret", Some("v1=ab"), t, SignatureError::Malformed),
            (b"secret", Some("t=1,v1=xyz"), t, SignatureError::Malformed),
            (
                b"secret",
                Some(header.as_str()),
                t + 301,
                SignatureError::Stale,
            ),
            (
                b"secret",
                Some(header.as_str()),
                t - 301,
                SignatureError::Stale,
            ),
            (b"other", Some(header.as_str()), t, SignatureError::Mismatch),
        ] {
            assert_eq!(check_signature(secret, header, body, now), Err(error));
        }
        assert_eq!(
            check_signature(b"secret", Some(&header), br#"{"status":"failed"}"#, t),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn signatures_cover_the_time_and_the_body() {
        let a = sign(b"secret", 1_800_000_000, "{}");
        assert_eq!(a.len(), 64);
        assert_eq!(a, sign(b"secret", 1_800_000_000, "{}"));
        assert_ne!(a, sign(b"secret", 1_800_000_001, "{}"));
        assert_ne!(a, sign(b"secret", 1_800_000_000, "{ }"));
        assert_ne!(a, sign(b"other", 1_800_000_000, "{}"));
    }
}
