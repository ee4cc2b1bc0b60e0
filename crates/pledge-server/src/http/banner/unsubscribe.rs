//! One-click unsubscribe (RFC 8058). An e-mail carries
//!
//! ```text
//! List-Unsubscribe: <https://privacy.example/unsubscribe?token=...>
//! List-Unsubscribe-Post: List-Unsubscribe=One-Click
//! ```
//!
//! The mail client POSTs `List-Unsubscribe=One-Click` to that address (as
//! `multipart/form-data` or `application/x-www-form-urlencoded`), and the marketing
//! purposes named in the token are withdrawn, with method `email_link`. A GET of the same
//! address (a person clicking, or a mail scanner following links) only shows a page with the
//! button: it never changes anything.

use super::pages::{RecordFor, controller_name, failed, field, message, page, record, verified};
use super::token::{LinkKind, SignedLink};
use super::{Banner, client_ip, user_agent};
use crate::AppState;
use crate::http::lang::PageLang;
use crate::i18n::tr;
use axum::Extension;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use minijinja::context;
use pledge_docs::banner::{Preference, preferences};
use pledge_domain::consent::Method;
use std::net::SocketAddr;
use std::sync::Arc;

/// The preferences an unsubscribe link withdraws.
fn named<'a>(all: &'a [Preference], link: &SignedLink) -> Vec<&'a Preference> {
    all.iter()
        .filter(|p| link.purposes.iter().any(|id| id.as_str() == p.purpose))
        .collect()
}

fn names(chosen: &[&Preference]) -> String {
    if chosen.is_empty() {
        // The declaration no longer has the purposes the link was made for.
        return "nothing: this mailing no longer exists".to_string();
    }
    chosen
        .iter()
        .map(|p| p.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `GET /unsubscribe?token=...`: a page with the button; changes nothing.
#[utoipa::path(get, path = "/unsubscribe", summary = "The unsubscribe page", tag = "banner", operation_id = "unsubscribe_page", security(()),
    description = "The page behind an e-mail's unsubscribe link: a button; it changes nothing (mail scanners follow links).",
    params(("token" = String, Query, description = "The signed unsubscribe link's token"), ("lang" = Option<String>, Query, description = "The page's language (`en`, `da`, `fr`), kept in a cookie; otherwise the cookie's, then `Accept-Language`, then `public.language`")),
    responses(
        (status = 200, description = "The page", content_type = "text/html", body = String),
        (status = 400, description = "A link that is not one (a page saying so)", content_type = "text/html", body = String),
        (status = 410, description = "An expired link (a page saying so)", content_type = "text/html", body = String),
        (status = 503, description = "No link key is configured (a page saying so)", content_type = "text/html", body = String)
    ))]
pub(super) async fn confirm_page(
    State(state): State<AppState>,
    Extension(b): Extension<Arc<Banner>>,
    lang: PageLang,
    RawQuery(query): RawQuery,
) -> Response {
    let query = query.unwrap_or_default();
    let token = field(query.as_bytes(), "token");
    let (link, _) = match verified(&state, token.as_deref(), LinkKind::Unsubscribe) {
        Ok(v) => v,
        Err(refusal) => return refusal.page(&state, &b, &lang),
    };
    let all = preferences(&state.decl);
    let chosen = named(&all, &link);
    page(
        StatusCode::OK,
        "message.html",
        context! {
            title => tr(lang.lang, "unsubscribe.title", &[]),
            text => tr(lang.lang, "unsubscribe.text", &[("names", &names(&chosen))]),
            error => false,
            controller => controller_name(&state),
            brand => crate::http::public::brand(&state),
            notice_url => b.config.notice.url.clone(),
            form_action => format!("unsubscribe?token={}", token.unwrap_or_default()),
            form_button => tr(lang.lang, "unsubscribe.button", &[]),
            preferences_url => (),
        },
        &lang,
    )
}

/// `POST /unsubscribe?token=...` with `List-Unsubscribe=One-Click`.
#[utoipa::path(post, path = "/unsubscribe", summary = "One-click unsubscribe", tag = "banner", operation_id = "unsubscribe_one_click", security(()),
    description = "One-click unsubscribe (RFC 8058): the marketing purposes named in the link are withdrawn.",
    params(("token" = String, Query, description = "The signed unsubscribe link's token")),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "`List-Unsubscribe=One-Click` (also accepted as `multipart/form-data`)"),
    responses(
        (status = 200, description = "Unsubscribed (a page saying so)", content_type = "text/html", body = String),
        (status = 400, description = "No `List-Unsubscribe=One-Click`, or a link that is not one", content_type = "text/html", body = String),
        (status = 410, description = "An expired link (a page saying so)", content_type = "text/html", body = String),
        (status = 429, description = "Too many writes from this network (a page saying so)", content_type = "text/html", body = String),
        (status = 503, description = "No link key is configured (a page saying so)", content_type = "text/html", body = String)
    ))]
pub(super) async fn one_click(
    State(state): State<AppState>,
    Extension(b): Extension<Arc<Banner>>,
    lang: PageLang,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    body: Bytes,
) -> Response {
    let controller = controller_name(&state);
    let query = query.unwrap_or_default();
    let token = field(query.as_bytes(), "token");
    let (link, subject) = match verified(&state, token.as_deref(), LinkKind::Unsubscribe) {
        Ok(v) => v,
        Err(refusal) => return refusal.page(&state, &b, &lang),
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !is_one_click(content_type, &body) {
        return message(
            &b,
            StatusCode::BAD_REQUEST,
            "choices.unchanged",
            "unsubscribe.not_one_click",
            &controller,
            &lang,
            None,
        );
    }
    let ip = client_ip(&state, &headers, peer);
    if let Err(problem) = b.limiter.check(ip, state.now()) {
        return message(
            &b,
            problem.status,
            "choices.wait",
            "choices.wait_text",
            &controller,
            &lang,
            None,
        );
    }
    let all = preferences(&state.decl);
    let chosen = named(&all, &link);
    let current = state.consent.current(&subject);
    // Mail clients may send the POST more than once: only what is still on is withdrawn.
    let still_on: Vec<&Preference> = chosen
        .iter()
        .copied()
        .filter(|p| super::pages::is_on(&current, p).0)
        .collect();
    let recorded = record(
        &state,
        &b,
        RecordFor {
            subject: subject.clone(),
            preferences: still_on,
            on: false,
            method: Method::EmailLink,
            actor: "unsubscribe",
            ip,
            user_agent: user_agent(&headers),
        },
    )
    .await;
    if let Err(problem) = recorded {
        return message(
            &b,
            problem.status,
            "choices.unchanged",
            failed(&problem),
            &controller,
            &lang,
            Some(&problem),
        );
    }
    // A fresh preference link, so the person can see the rest from here (none when links
    // cannot be made or recorded just now: the withdrawal above stands either way).
    let preferences_url = super::mint_preference_links(&state, &subject, Vec::new(), "unsubscribe")
        .await
        .ok()
        .map(|minted| minted.preferences.path);
    page(
        StatusCode::OK,
        "message.html",
        context! {
            title => tr(lang.lang, "unsubscribe.done_title", &[]),
            text => tr(lang.lang, "unsubscribe.done", &[("names", &names(&chosen))]),
            error => false,
            controller,
            notice_url => b.config.notice.url.clone(),
            form_action => (),
            preferences_url,
        },
        &lang,
    )
}

/// Whether a body carries `List-Unsubscribe=One-Click`, URL-encoded or as a
/// `multipart/form-data` part (RFC 8058 section 3.1 allows both).
pub(super) fn is_one_click(content_type: &str, body: &[u8]) -> bool {
    let media = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match media.as_str() {
        "multipart/form-data" => boundary(content_type)
            .is_some_and(|boundary| multipart_field(body, &boundary, "List-Unsubscribe"))
        ,
        // Some senders omit the type; the body then decides.
        "application/x-www-form-urlencoded" | "" => {
            field(body, "List-Unsubscribe").as_deref() == Some("One-Click")
        }
        _ => false,
    }
}

/// The `boundary` parameter of a multipart content type, unquoted.
fn boundary(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|param| {
        let (name, value) = param.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| value.trim().trim_matches('"').to_string())
            .filter(|b| !b.is_empty())
    })
}

/// Whether a part named `name` holds exactly `One-Click`.
fn multipart_field(body: &[u8], boundary: &str, name: &str) -> bool {
    let Ok(text) = std::str::from_utf8(body) else {
        return false;
    };
    let delimiter = format!("--{boundary}");
    text.split(delimiter.as_str()).any(|part| {
        let part = part.strip_prefix("\r\n").unwrap_or(part);
        let Some((head, content)) = part.split_once("\r\n\r\n") else {
            return false;
        };
        let named = head.lines().any(|line| {
            let lower = line.to_ascii_lowercase();
            lower.starts_with("content-disposition:")
                && lower.contains("form-data")
                && line.contains(&format!("name=\"{name}\""))
        });
        named && content.strip_suffix("\r\n").unwrap_or(content) == "One-Click"
    })
}

#[cfg(test)]
mod tests {
    use super::is_one_click;
    use proptest::prelude::*;

    #[test]
    fn url_encoded_and_multipart_bodies_are_understood() {
        let form = "application/x-www-form-urlencoded";
        assert!(is_one_click(form, b"List-Unsubscribe=One-Click"));
        assert!(is_one_click("", b"List-Unsubscribe=One-Click"));
        assert!(!is_one_click(form, b"List-Unsubscribe=Maybe"));
        assert!(!is_one_click(form, b""));
        assert!(!is_one_click("text/plain", b"List-Unsubscribe=One-Click"));

        let multipart = "multipart/form-data; boundary=\"XyZ\"";
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\nOne-Click\r\n--XyZ--\r\n";
        assert!(is_one_click(multipart, body));
        let other = b"--XyZ\r\nContent-Disposition: form-data; name=\"Other\"\r\n\r\nOne-Click\r\n--XyZ--\r\n";
        assert!(!is_one_click(multipart, other));
        assert!(!is_one_click("multipart/form-data", body), "no boundary");
    }

    proptest! {
        #[test]
        fn no_body_panics(content_type in "\\PC{0,60}", body in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = is_one_click(&content_type, &body);
        }
    }
}
