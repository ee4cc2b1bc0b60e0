//! Single sign-on with the company's OpenID Connect provider (`[console.oidc]`): the
//! authorization code flow with PKCE (S256), `state` and `nonce`.
//!
//! `GET /console/sign-in/oidc` makes the flow's three secrets, keeps them in a short-lived
//! cookie ([`FLOW_COOKIE`]: HttpOnly, Secure, SameSite=Lax, since the provider sends the
//! browser back from another site, which a Strict cookie would not survive) and sends the
//! browser to the provider. `GET /console/sign-in/oidc/callback` takes the provider's
//! answer: the cookie must be there and young, `state` must be its own, the code is
//! exchanged, the ID token verified (signature, issuer, audience, times, nonce), and the
//! verified address must be an enabled staff account's. Then the session is the one a
//! password opens (Strict, as ever; the answer is a page that moves on to the dashboard by
//! itself, since a redirect would still count as the provider's cross-site navigation and
//! the browser would hold the Strict cookie back); otherwise a page says what went wrong and nobody is
//! signed in. The flow cookie is deleted by the callback whatever its outcome, so each flow
//! is used once.

use super::{SESSION_COOKIE, cookie, message, same_secret, set_cookie_with};
use crate::AppState;
use crate::oidc::{Authorization, Callback, OidcError, short_code};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use pledge_store::staff::{ProviderRefusal, ProviderSignIn};
use sha2::{Digest, Sha256};

/// The flow's cookie: `state`, `nonce` and the PKCE verifier, for the callback only.
pub const FLOW_COOKIE: &str = "__Secure-pledge-oidc";
/// The path the flow's cookie is sent to.
const FLOW_PATH: &str = "/console/sign-in/oidc";
/// How long a sign-in at the provider may take, in seconds.
pub const FLOW_SECS: i64 = 10 * 60;

/// One sign-in's secrets, each 32 random bytes in base64url (43 characters, which is also
/// a valid PKCE verifier), and when it started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flow {
    pub started_at: i64,
    pub state: String,
    pub nonce: String,
    pub verifier: String,
}

/// Why a flow cookie is not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FlowError {
    #[error("the flow cookie is not one this server made")]
    Malformed,
    #[error("the flow is older than {FLOW_SECS} seconds (or from the future)")]
    Expired,
}

fn secret() -> Option<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).ok()?;
    Some(URL_SAFE_NO_PAD.encode(bytes))
}

fn is_secret(s: &str) -> bool {
    s.len() == 43
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Flow {
    /// A new flow; `None` without randomness.
    pub fn new(now: i64) -> Option<Flow> {
        Some(Flow {
            started_at: now,
            state: secret()?,
            nonce: secret()?,
            verifier: secret()?,
        })
    }

    /// The cookie's value: `v1.STARTED.STATE.NONCE.VERIFIER`.
    pub fn to_cookie(&self) -> String {
        format!(
            "v1.{}.{}.{}.{}",
            self.started_at, self.state, self.nonce, self.verifier
        )
    }

    /// The flow of a cookie's value, if it is well formed and started within [`FLOW_SECS`]
    /// of `now` (the cookie's Max-Age says the same to the browser; this holds without it).
    pub fn parse(value: &str, now: i64) -> Result<Flow, FlowError> {
        let parts: Vec<&str> = value.split('.').collect();
        let ["v1", started, state, nonce, verifier] = parts[..] else {
            return Err(FlowError::Malformed);
        };
        if !started.bytes().all(|b| b.is_ascii_digit())
            || ![state, nonce, verifier].into_iter().all(is_secret)
        {
            return Err(FlowError::Malformed);
        }
        let started_at: i64 = started.parse().map_err(|_| FlowError::Malformed)?;
        // A minute's grace for a clock that went back.
        if now - started_at > FLOW_SECS || started_at > now + 60 {
            return Err(FlowError::Expired);
        }
        Ok(Flow {
            started_at,
            state: state.to_string(),
            nonce: nonce.to_string(),
            verifier: verifier.to_string(),
        })
    }

    /// The PKCE challenge: `BASE64URL(SHA-256(verifier))` (RFC 7636, 4.2).
    pub fn challenge(&self) -> String {
        URL_SAFE_NO_PAD.encode(Sha256::digest(self.verifier.as_bytes()))
    }
}

/// The flow cookie, set or (`max_age` 0) deleted.
fn flow_cookie(value: &str, max_age: i64) -> HeaderValue {
    set_cookie_with(FLOW_COOKIE, value, FLOW_PATH, max_age, "Lax")
}

fn not_configured() -> Response {
    message(
        StatusCode::NOT_FOUND,
        "console.sso.not_set_up_title",
        "console.sso.not_set_up",
        &[],
        ("/console/sign-in", "console.link.sign_in"),
    )
}

/// A refused callback: the page, and the flow cookie deleted.
/// `title` and `text` are keys of messages, `args` the placeholders of `text`.
fn refused(status: StatusCode, title: &str, text: &str, args: &[(&str, &str)]) -> Response {
    let mut response = message(
        status,
        title,
        text,
        args,
        ("/console/sign-in", "console.link.back_to_sign_in"),
    );
    response
        .headers_mut()
        .append(header::SET_COOKIE, flow_cookie("", 0));
    response
}

fn provider_failed(e: &OidcError) -> Response {
    tracing::error!(error = %e, "console sso: the provider cannot be used");
    message(
        StatusCode::BAD_GATEWAY,
        "console.sso.unavailable_title",
        "console.sso.unavailable",
        &[],
        ("/console/sign-in", "console.link.back_to_sign_in"),
    )
}

#[utoipa::path(get, path = "/console/sign-in/oidc", summary = "Start single sign-on", tag = "console", operation_id = "console_sso_start", security(()),
    description = "Sends the browser to the configured OpenID Connect provider (authorization code flow with PKCE), keeping the flow's state, nonce and verifier in a short-lived cookie.",
    responses(
        (status = 303, description = "On to the provider's authorization endpoint"),
        (status = 404, description = "Single sign-on is not configured", content_type = "text/html", body = String),
        (status = 502, description = "The provider's discovery document cannot be read", content_type = "text/html", body = String)
    ))]
pub(super) async fn start(State(state): State<AppState>) -> Response {
    let Some(provider) = &state.oidc else {
        return not_configured();
    };
    let now = state.now();
    let meta = match provider.metadata(now).await {
        Ok(m) => m,
        Err(e) => return provider_failed(&e),
    };
    let Some(flow) = Flow::new(now) else {
        tracing::error!("console sso: no randomness for a sign-in");
        return message(
            StatusCode::SERVICE_UNAVAILABLE,
            "console.message.unavailable_title",
            "console.sso.cannot_start",
            &[],
            ("/console/sign-in", "console.link.back_to_sign_in"),
        );
    };
    let challenge = flow.challenge();
    let url = match provider.authorization_url(
        &meta,
        Authorization {
            state: &flow.state,
            nonce: &flow.nonce,
            challenge: &challenge,
        },
    ) {
        Ok(u) => u,
        Err(e) => return provider_failed(&e),
    };
    let Ok(location) = HeaderValue::from_str(&url) else {
        return provider_failed(&OidcError::BadDocument {
            what: "discovery document",
            detail: "the authorization endpoint is not a valid header value".into(),
        });
    };
    tracing::info!("console sso: sign-in started");
    let mut response =
        (StatusCode::SEE_OTHER, [(header::CACHE_CONTROL, "no-store")]).into_response();
    let h = response.headers_mut();
    h.insert(header::LOCATION, location);
    h.append(
        header::SET_COOKIE,
        flow_cookie(&flow.to_cookie(), FLOW_SECS),
    );
    response
}

#[utoipa::path(get, path = "/console/sign-in/oidc/callback", summary = "Finish single sign-on", tag = "console", operation_id = "console_sso_callback", security(()),
    description = "Where the provider sends the browser back. Checks the flow's cookie and `state`, exchanges the code, verifies the ID token and signs in the enabled staff account of its verified e-mail address. Every refusal is a page, and nobody is signed in.",
    params(
        ("code" = Option<String>, Query, description = "The authorization code"),
        ("state" = Option<String>, Query, description = "The flow's state, as sent"),
        ("error" = Option<String>, Query, description = "The provider's error code, when it did not sign the person in"),
        ("iss" = Option<String>, Query, description = "The provider's issuer (RFC 9207), checked when present")
    ),
    responses(
        (status = 200, description = "Signed in: the session cookie set, and a page that goes on to the dashboard at once (a same-site navigation, so the Strict cookie is sent)", content_type = "text/html", body = String),
        (status = 400, description = "The flow cookie is missing or expired, or the state or issuer is not this flow's", content_type = "text/html", body = String),
        (status = 403, description = "The provider refused, the token did not verify, or no enabled staff account has the address", content_type = "text/html", body = String),
        (status = 404, description = "Single sign-on is not configured", content_type = "text/html", body = String),
        (status = 502, description = "The provider cannot be reached", content_type = "text/html", body = String)
    ))]
pub(super) async fn callback(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let Some(provider) = &state.oidc else {
        return not_configured();
    };
    let now = state.now();
    let params: Vec<(String, String)> =
        form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let param = |name: &str| {
        params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let flow = match cookie(&headers, FLOW_COOKIE).map(|v| Flow::parse(v, now)) {
        Some(Ok(flow)) => flow,
        Some(Err(e)) => {
            tracing::warn!(why = %e, "console sso: a callback was refused");
            return refused(
                StatusCode::BAD_REQUEST,
                "console.sso.too_long_title",
                "console.sso.too_long",
                &[],
            );
        }
        None => {
            tracing::warn!("console sso: a callback without its flow cookie was refused");
            return refused(
                StatusCode::BAD_REQUEST,
                "console.sso.no_flow_title",
                "console.sso.no_flow",
                &[],
            );
        }
    };
    // The state first, also for an error: an answer that is not this flow's says nothing.
    if !same_secret(param("state").unwrap_or_default(), &flow.state) {
        tracing::warn!("console sso: a callback with another flow's state was refused");
        return refused(
            StatusCode::BAD_REQUEST,
            "console.sso.refused_title",
            "console.sso.wrong_state",
            &[],
        );
    }
    if let Some(error) = param("error") {
        let code = short_code(error);
        tracing::warn!(error = %code, "console sso: the provider did not sign the person in");
        let text = if code == "access_denied" {
            "console.sso.cancelled"
        } else {
            "console.sso.provider_error"
        };
        return refused(
            StatusCode::FORBIDDEN,
            "console.sso.not_completed_title",
            text,
            &[("code", &code)],
        );
    }
    // RFC 9207: an answer that says it comes from another issuer is not this provider's.
    if param("iss").is_some_and(|iss| iss != provider.config.issuer.as_str()) {
        tracing::warn!("console sso: a callback from another issuer was refused");
        return refused(
            StatusCode::BAD_REQUEST,
            "console.sso.refused_title",
            "console.sso.wrong_issuer",
            &[],
        );
    }
    let Some(code) = param("code").filter(|c| !c.is_empty()) else {
        tracing::warn!("console sso: a callback without a code was refused");
        return refused(
            StatusCode::BAD_REQUEST,
            "console.sso.refused_title",
            "console.sso.no_code",
            &[],
        );
    };
    let identity = match provider
        .identify(Callback {
            code,
            verifier: &flow.verifier,
            nonce: &flow.nonce,
            now,
        })
        .await
    {
        Ok(identity) => identity,
        Err(e @ (OidcError::Unreachable { .. } | OidcError::Client(_))) => {
            let mut response = provider_failed(&e);
            response
                .headers_mut()
                .append(header::SET_COOKIE, flow_cookie("", 0));
            return response;
        }
        Err(e) => {
            tracing::warn!(error = %e, "console sso: the provider's answer was refused");
            let text = match e {
                OidcError::EmailNotVerified => "console.sso.unverified_email",
                OidcError::NoEmail => "console.sso.no_email",
                _ => "console.sso.unverified",
            };
            return refused(
                StatusCode::FORBIDDEN,
                "console.sso.refused_title",
                text,
                &[],
            );
        }
    };
    let policy = state.config.console;
    match state
        .store
        .sign_in_by_provider(
            &identity.email,
            provider.config.issuer.as_str(),
            &policy,
            now,
        )
        .await
    {
        Ok(ProviderSignIn::Accepted { account, session }) => {
            tracing::info!(account = %account.id, method = "oidc", "console: signed in");
            // Not a redirect: the browser came here from the provider's site, and a
            // redirect would carry that on, so the Strict session cookie would not be sent
            // to the dashboard. This page's own refresh is a navigation of this site.
            let mut response = super::page(
                StatusCode::OK,
                "signed_in.html",
                // No switcher: this address is the provider's answer, not one to open again.
                minijinja::context! {
                    name => account.name, staff => minijinja::Value::from(()),
                    languages => minijinja::Value::from(()),
                },
            );
            let h = response.headers_mut();
            h.append(
                header::SET_COOKIE,
                super::set_cookie(
                    SESSION_COOKIE,
                    &session.token,
                    "/console",
                    policy.absolute_secs,
                ),
            );
            h.append(header::SET_COOKIE, flow_cookie("", 0));
            response
        }
        Ok(ProviderSignIn::Refused(why)) => {
            tracing::warn!(
                why = match why {
                    ProviderRefusal::Unknown => "unknown",
                    ProviderRefusal::Disabled => "disabled",
                },
                "console sso: no enabled staff account for the address"
            );
            refused(
                StatusCode::FORBIDDEN,
                "console.sso.no_account_title",
                "console.sso.no_account",
                &[
                    ("provider", &provider.config.name),
                    ("email", &identity.email),
                ],
            )
        }
        Err(e) => {
            let mut response = super::store_failed(&e);
            response
                .headers_mut()
                .append(header::SET_COOKIE, flow_cookie("", 0));
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    #[test]
    fn a_flow_cookie_reads_back_and_expires() {
        let flow = Flow::new(NOW).unwrap();
        let value = flow.to_cookie();
        assert!(value.starts_with("v1.1800000000."), "{value}");
        assert_eq!(Flow::parse(&value, NOW + 30), Ok(flow.clone()));
        assert_eq!(Flow::parse(&value, NOW + FLOW_SECS), Ok(flow.clone()));
        assert_eq!(
            Flow::parse(&value, NOW + FLOW_SECS + 1),
            Err(FlowError::Expired)
        );
        assert_eq!(Flow::parse(&value, NOW - 61), Err(FlowError::Expired));
        // Three different secrets, each a valid PKCE verifier (43 to 128 unreserved characters).
        assert_ne!(flow.state, flow.nonce);
        assert_ne!(flow.nonce, flow.verifier);
        assert!(is_secret(&flow.verifier));
        // RFC 7636, appendix B.
        let b = Flow {
            verifier: "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".into(),
            ..flow.clone()
        };
        assert_eq!(b.challenge(), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    }

    #[test]
    fn a_flow_cookie_that_is_not_ours_is_refused() {
        let good = Flow::new(NOW).unwrap().to_cookie();
        let parts: Vec<&str> = good.split('.').collect();
        for bad in [
            String::new(),
            "v1".into(),
            good.replacen("v1.", "v2.", 1),
            format!("{good}.extra"),
            good.replacen(".1800000000.", ".-5.", 1),
            good.replacen(".1800000000.", ".18e8.", 1),
            format!("v1.{NOW}.{}.{}.short", parts[2], parts[3]),
            format!("v1.{NOW}.{}.{}.{}", parts[2], parts[3], "+".repeat(43)),
            format!(
                "v1.99999999999999999999.{}.{}.{}",
                parts[2], parts[3], parts[4]
            ),
        ] {
            assert_eq!(Flow::parse(&bad, NOW), Err(FlowError::Malformed), "{bad}");
        }
    }
}
