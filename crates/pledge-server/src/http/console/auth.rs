//! Sign-in, sign-out and sign-out everywhere.
//!
//! The sign-in form has a token of its own, before any session exists: the page sets it in
//! a cookie ([`SIGN_IN_COOKIE`]) and in a hidden field, and a sign-in whose two do not
//! match is refused, so another site cannot post its own credentials through a staff
//! member's browser (login CSRF).

use super::{
    CSRF_FIELD, SESSION_COOKIE, SIGN_IN_COOKIE, cookie, field, form, message, page, same_secret,
    see_other, set_cookie, signed_in_with_form, store_failed, tr,
};
use crate::AppState;
use axum::Extension;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use minijinja::{Value, context};
use pledge_store::staff::SignIn;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;

/// How long the sign-in form's token lasts, in seconds.
const SIGN_IN_TOKEN_SECS: i64 = 60 * 60;

/// The sign-in form, with `token` in its hidden field and `error` said above it; with the
/// single sign-on button when a provider is configured, and without the password form when
/// passwords are turned off.
fn form_page(
    state: &AppState,
    status: StatusCode,
    token: &str,
    error: Option<&str>,
    email: &str,
) -> Response {
    let sso = state.oidc.as_ref().map(|p| p.config.name.clone());
    let passwords = password_sign_in(state);
    let mut response = page(
        status,
        "sign_in.html",
        context! { csrf => token, error, email, sso, passwords, staff => Value::from(()) },
    );
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(
            SIGN_IN_COOKIE,
            token,
            "/console/sign-in",
            SIGN_IN_TOKEN_SECS,
        ),
    );
    response
}

/// A fresh sign-in token: 32 random bytes, hex; `None` without randomness.
fn fresh_token() -> Option<String> {
    let mut bytes = [0u8; 32];
    if let Err(e) = getrandom::fill(&mut bytes) {
        tracing::error!(error = %e, "console: no randomness for a sign-in token");
        return None;
    }
    Some(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[utoipa::path(get, path = "/console/sign-in", summary = "The console's sign-in page", tag = "console", operation_id = "console_sign_in_page", security(()),
    description = "The form to sign in with a staff account's e-mail address and password, and the single sign-on button when a provider is configured. Sets the form's own token in a cookie.",
    responses((status = 200, description = "The page", content_type = "text/html", body = String)))]
pub(super) async fn sign_in_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    // A token the browser holds already is kept: two tabs of the page both work.
    let token = match cookie(&headers, SIGN_IN_COOKIE).filter(|t| is_token(t)) {
        Some(t) => t.to_string(),
        None => match fresh_token() {
            Some(t) => t,
            None => {
                return message(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "console.message.unavailable_title",
                    "console.message.sign_in_unavailable",
                    &[],
                    ("/console/sign-in", "console.link.try_again"),
                );
            }
        },
    };
    form_page(&state, StatusCode::OK, &token, None, "")
}

/// Whether staff may sign in with a password: yes, unless `[console.oidc]` turns it off.
fn password_sign_in(state: &AppState) -> bool {
    state
        .oidc
        .as_ref()
        .is_none_or(|p| p.config.password_sign_in)
}

fn is_token(t: &str) -> bool {
    t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The one answer to every refused sign-in, whatever the reason: the key of its message.
pub const REFUSED: &str = "console.sign_in.refused";

#[utoipa::path(post, path = "/console/sign-in", summary = "Sign in to the console", tag = "console", operation_id = "console_sign_in", security(()),
    description = "Checks the e-mail address and password; on success sets the session cookie and goes to the dashboard. The same answer for an unknown address, a wrong password and a locked or disabled account.",
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "`email`, `password`, `csrf` (the sign-in form's token)"),
    responses(
        (status = 303, description = "Signed in: on to the dashboard"),
        (status = 200, description = "Refused: the form again, with the one message for every reason", content_type = "text/html", body = String),
        (status = 403, description = "The form's token is missing or wrong, or password sign-in is turned off (`[console.oidc] password_sign_in = false`): nothing was checked", content_type = "text/html", body = String),
        (status = 429, description = "Too many failed sign-ins and unknown API keys from this network: nothing was checked", content_type = "text/html", body = String)
    ))]
pub(super) async fn sign_in(
    State(state): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !password_sign_in(&state) {
        return message(
            StatusCode::FORBIDDEN,
            "console.sign_in.passwords_off_title",
            "console.sign_in.passwords_off",
            &[],
            ("/console/sign-in", "console.link.sign_in"),
        );
    }
    // Failed sign-ins count against the client's network as unknown API keys do (one budget
    // of failed credentials, [`crate::AUTH_FAILURES`]): the lock-out stops guessing at one
    // account, this stops one network guessing at many. A call with no known address,
    // which only a test makes, is not counted.
    let client =
        crate::http::banner::client_ip(&state, &headers, peer).map(crate::http::ratelimit::ip_key);
    let now = state.now();
    if client
        .as_ref()
        .is_some_and(|c| state.auth_failures.exhausted(c, now))
    {
        state.metrics.rate_limited.fetch_add(1, Ordering::Relaxed);
        let mut response = message(
            StatusCode::TOO_MANY_REQUESTS,
            "console.sign_in.limited_title",
            "console.sign_in.limited",
            &[],
            ("/console/sign-in", "console.link.sign_in"),
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
        return response;
    }
    let fields = form(&body);
    let expected = cookie(&headers, SIGN_IN_COOKIE).unwrap_or_default();
    let given = field(&fields, CSRF_FIELD).unwrap_or_default();
    if !is_token(expected) || !same_secret(given, expected) {
        return message(
            StatusCode::FORBIDDEN,
            "console.sign_in.form_refused_title",
            "console.sign_in.form_refused",
            &[],
            ("/console/sign-in", "console.link.sign_in"),
        );
    }
    let email = field(&fields, "email").unwrap_or_default();
    let password = field(&fields, "password").unwrap_or_default();
    let policy = state.config.console;
    match state.store.sign_in(email, password, &policy, now).await {
        Ok(SignIn::Accepted { account, session }) => {
            tracing::info!(account = %account.id, "console: signed in");
            let mut response = see_other("/console");
            let h = response.headers_mut();
            h.append(
                header::SET_COOKIE,
                set_cookie(
                    SESSION_COOKIE,
                    &session.token,
                    "/console",
                    policy.absolute_secs,
                ),
            );
            // The sign-in token has done its work: the next sign-in gets a fresh one.
            h.append(
                header::SET_COOKIE,
                set_cookie(SIGN_IN_COOKIE, "", "/console/sign-in", 0),
            );
            response
        }
        // The address typed is shown again, which tells nothing the typist did not know.
        Ok(SignIn::Refused) => {
            if let Some(client) = &client {
                let _ = state.auth_failures.take(client, now);
            }
            form_page(
                &state,
                StatusCode::OK,
                expected,
                Some(&tr(REFUSED, &[])),
                email.trim(),
            )
        }
        Err(e) => store_failed(&e),
    }
}

/// The answer once a session is ended: the cookie deleted, on to the sign-in page.
fn signed_out() -> Response {
    let mut response = see_other("/console/sign-in");
    response.headers_mut().insert(
        header::SET_COOKIE,
        set_cookie(SESSION_COOKIE, "", "/console", 0),
    );
    response
}

#[utoipa::path(post, path = "/console/sign-out", summary = "Sign out of the console", tag = "console", operation_id = "console_sign_out", security(()),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "`csrf`: the session's token"),
    responses(
        (status = 303, description = "Signed out (or not signed in): on to the sign-in page"),
        (status = 403, description = "The session's token is missing or wrong: nothing was done", content_type = "text/html", body = String)
    ))]
pub(super) async fn sign_out(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let _ = match signed_in_with_form(&state, &headers, &body).await {
        Ok(s) => s,
        Err(response) => return response,
    };
    let token = cookie(&headers, SESSION_COOKIE).unwrap_or_default();
    match state.store.sign_out(token, state.now()).await {
        Ok(()) => signed_out(),
        Err(e) => store_failed(&e),
    }
}

#[utoipa::path(post, path = "/console/sign-out-everywhere", summary = "End every session of the account", tag = "console", operation_id = "console_sign_out_everywhere", security(()),
    description = "Ends every session of the signed-in account, in every browser, this one included.",
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "`csrf`: the session's token"),
    responses(
        (status = 303, description = "Every session ended: on to the sign-in page"),
        (status = 403, description = "The session's token is missing or wrong: nothing was done", content_type = "text/html", body = String)
    ))]
pub(super) async fn sign_out_everywhere(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (session, _) = match signed_in_with_form(&state, &headers, &body).await {
        Ok(s) => s,
        Err(response) => return response,
    };
    match state
        .store
        .sign_out_everywhere(&session.account.id, state.now())
        .await
    {
        Ok(n) => {
            tracing::info!(account = %session.account.id, sessions = n, "console: signed out everywhere");
            signed_out()
        }
        Err(e) => store_failed(&e),
    }
}
