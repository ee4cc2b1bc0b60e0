//! The preference centre: a page, opened from a signed link, where a known person sees every
//! choice that depends on them and changes each with one click (`POST /preferences`).
//! Pages for people answer errors with a page, not a problem document.

use super::{Banner, client_ip, link_key, user_agent};
use crate::AppState;
use crate::consent::{Choice, RecordConsent, SubjectConsent};
use crate::crypto::token::{self, LinkKind, SignedLink, TokenError};
use crate::http::lang::PageLang;
use crate::http::problem::Problem;
use crate::i18n::tr;
use axum::Extension;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use minijinja::{Environment, Value, context};
use pledge_docs::banner::{Preference, PreferenceBasis, preferences};
use pledge_domain::consent::{Action, ConsentState, Method, Target};
use pledge_lang::types::PurposeId;
use pledge_lang::types::SubjectRef;
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::sync::{Arc, LazyLock};

/// The page templates, by name: the privacy center, the preference centre and its messages,
/// and public intake's pages (the answer to the form, the code, the link, the status).
pub(crate) const SOURCES: &[(&str, &str)] = &[
    (
        "layout.html",
        include_str!("../../../assets/pages/layout.html"),
    ),
    (
        "preferences.html",
        include_str!("../../../assets/pages/preferences.html"),
    ),
    (
        "privacy.html",
        include_str!("../../../assets/pages/privacy.html"),
    ),
    (
        "message.html",
        include_str!("../../../assets/pages/message.html"),
    ),
    ("sent.html", include_str!("../../../assets/pages/sent.html")),
    ("code.html", include_str!("../../../assets/pages/code.html")),
    (
        "confirm.html",
        include_str!("../../../assets/pages/confirm.html"),
    ),
    (
        "download.html",
        include_str!("../../../assets/pages/download.html"),
    ),
    (
        "confirmed.html",
        include_str!("../../../assets/pages/confirmed.html"),
    ),
    (
        "status.html",
        include_str!("../../../assets/pages/status.html"),
    ),
    (
        "refused.html",
        include_str!("../../../assets/pages/refused.html"),
    ),
    (
        "code_form.html",
        include_str!("../../../assets/pages/code_form.html"),
    ),
];

static TEMPLATES: LazyLock<Result<Environment<'static>, minijinja::Error>> =
    LazyLock::new(environment);

fn environment() -> Result<Environment<'static>, minijinja::Error> {
    crate::http::html_templates(SOURCES)
}

/// Renders a page in `lang` with the headers every page of a link gets: the token is in
/// the address, so no referrer leaves it, no cache keeps it, no frame shows it.
pub(crate) fn page(status: StatusCode, name: &str, ctx: Value, lang: &PageLang) -> Response {
    let ctx = minijinja::value::merge_maps([ctx, lang.context()]);
    let rendered = match TEMPLATES.as_ref() {
        Ok(env) => env
            .get_template(name)
            .and_then(|t| t.render(ctx))
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    let (status, body) = match rendered {
        Ok(body) => (status, body),
        Err(e) => {
            // The template's error is for the log, not for the person.
            tracing::error!(page = name, error = %e, "a page cannot be rendered");
            let l = lang.lang;
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!(
                    "<!doctype html><html lang=\"{l}\"><title>{}</title><p>{}</p>",
                    pledge_docs::html::escape(&tr(l, "page.unavailable_title", &[])),
                    pledge_docs::html::escape(&tr(l, "page.unavailable", &[])),
                ),
            )
        }
    };
    let mut response = (status, body).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // The policy, no-referrer and no-framing headers are the router's, as on every page.
    lang.finish(&mut response);
    response
}

/// The words for a change that failed: with an internal error's correlation id.
pub(super) fn failed(problem: &Problem) -> &'static str {
    if problem.kind == "internal" || problem.kind == "store-unavailable" {
        "problem.internal"
    } else {
        "choices.failed"
    }
}

/// A page saying what went wrong, in words for the person: the messages `title` and
/// `text` of `lang` (an internal error's with its correlation id, see [`failed`]).
pub(super) fn message(
    b: &Banner,
    status: StatusCode,
    title: &str,
    text: &str,
    controller: &str,
    lang: &PageLang,
    problem: Option<&Problem>,
) -> Response {
    let correlation = problem.and_then(Problem::correlation).unwrap_or_default();
    page(
        status,
        "message.html",
        context! {
            title => tr(lang.lang, title, &[]),
            text => tr(lang.lang, text, &[("id", &correlation)]),
            controller,
            error => status.is_client_error() || status.is_server_error(),
            notice_url => b.config.notice.url.clone(),
            form_action => Value::from(()),
            preferences_url => Value::from(()),
        },
        lang,
    )
}

pub(super) fn controller_name(state: &AppState) -> String {
    state
        .decl
        .doc()
        .controller
        .as_ref()
        .map_or_else(|| "Privacy".to_string(), |c| c.name.value.clone())
}

/// The value of `name` in a query string or form body.
pub(super) fn field(encoded: &[u8], name: &str) -> Option<String> {
    form_urlencoded::parse(encoded)
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Why a link was not accepted: the key of the words for the person.
pub(super) struct Refusal {
    status: StatusCode,
    text: &'static str,
}

impl Refusal {
    fn new(status: StatusCode, text: &'static str) -> Self {
        Refusal { status, text }
    }

    /// The page that says so.
    pub(super) fn page(self, state: &AppState, b: &Banner, lang: &PageLang) -> Response {
        message(
            b,
            self.status,
            "link.title",
            self.text,
            &controller_name(state),
            lang,
            None,
        )
    }
}

/// Verifies a link token of `kind`: its content, or why it does not work.
pub(super) fn verified(
    state: &AppState,
    token: Option<&str>,
    kind: LinkKind,
) -> Result<(SignedLink, SubjectRef), Refusal> {
    let key =
        link_key(state).map_err(|problem| Refusal::new(problem.status, "link.unavailable"))?;
    let Some(token) = token else {
        return Err(Refusal::new(StatusCode::BAD_REQUEST, "link.incomplete"));
    };
    let link = token::verify(key, token, state.now()).map_err(|e| match e {
        TokenError::Invalid => Refusal::new(StatusCode::BAD_REQUEST, "link.invalid"),
        TokenError::Expired => Refusal::new(StatusCode::GONE, "link.expired"),
    })?;
    if link.kind != kind {
        return Err(Refusal::new(StatusCode::BAD_REQUEST, "link.other_page"));
    }
    let subject = link
        .subject
        .parse()
        .map_err(|_| Refusal::new(StatusCode::BAD_REQUEST, "link.invalid"))?;
    Ok((link, subject))
}

/// Whether a preference is on for the subject now, and since when.
pub(super) fn is_on(current: &SubjectConsent, p: &Preference) -> (bool, Option<i64>) {
    match p.basis {
        PreferenceBasis::Consent => {
            let latest = current
                .consents
                .iter()
                .find(|c| matches!(&c.target, Target::Purpose(id) if id.as_str() == p.purpose));
            match latest {
                Some(c) if c.state == ConsentState::Given => (true, Some(c.at)),
                _ => (false, None),
            }
        }
        PreferenceBasis::Objection => (
            !current.objections.iter().any(|o| o.as_str() == p.purpose),
            None,
        ),
    }
}

/// The preferences the centre switches: every one but those of purposes that only the
/// declared cookies serve, which are chosen in each browser's banner (a switch here would
/// not reach the cookies), and those purposes, for the page to name.
fn split_preferences(
    state: &AppState,
    b: &Banner,
) -> (Vec<Preference>, Vec<(Preference, Vec<String>)>) {
    let mut switched = Vec::new();
    let mut cookies = Vec::new();
    for p in preferences(&state.decl) {
        let categories: Vec<String> = b
            .config
            .categories
            .iter()
            .filter(|c| c.purposes.iter().any(|cp| cp.id == p.purpose))
            .map(|c| pledge_lang::model::variant_name(&c.id))
            .collect();
        // Direct marketing is reached by e-mail too: it keeps its switch.
        if categories.is_empty() || p.marketing {
            switched.push(p);
        } else {
            cookies.push((p, categories));
        }
    }
    (switched, cookies)
}

/// `GET /preferences?token=...`
#[utoipa::path(get, path = "/preferences", summary = "The preference centre", tag = "banner", operation_id = "preference_centre", security(()),
    description = "The preference centre: the person's purposes and their state, from a signed link.",
    params(("token" = String, Query, description = "The signed preference link's token"), ("lang" = Option<String>, Query, description = "The page's language (`en`, `da`, `fr`), kept in a cookie; otherwise the cookie's, then `Accept-Language`, then `public.language`")),
    responses(
        (status = 200, description = "The page", content_type = "text/html", body = String),
        (status = 400, description = "A link that is not one (a page saying so)", content_type = "text/html", body = String),
        (status = 410, description = "An expired link (a page saying so)", content_type = "text/html", body = String),
        (status = 503, description = "No link key is configured (a page saying so)", content_type = "text/html", body = String)
    ))]
pub(super) async fn preference_centre(
    State(state): State<AppState>,
    Extension(b): Extension<Arc<Banner>>,
    lang: PageLang,
    RawQuery(query): RawQuery,
) -> Response {
    let query = query.unwrap_or_default();
    let token = field(query.as_bytes(), "token");
    let (_, subject) = match verified(&state, token.as_deref(), LinkKind::Preferences) {
        Ok(v) => v,
        Err(refusal) => return refusal.page(&state, &b, &lang),
    };
    let saved = field(query.as_bytes(), "saved").is_some();
    let current = state.consent.current(&subject);
    let mut any_on = false;
    let (switched, by_cookie) = split_preferences(&state, &b);
    let cookie_items: Vec<Value> = by_cookie
        .iter()
        .map(|(p, categories)| {
            let categories: Vec<String> = categories
                .iter()
                .map(|c| tr(lang.lang, &format!("cookie.{c}"), &[]))
                .collect();
            context! {
                name => p.name.clone(),
                categories => categories.join(", "),
            }
        })
        .collect();
    let items: Vec<Value> = switched
        .iter()
        .map(|p| {
            let (on, since) = is_on(&current, p);
            any_on |= on;
            context! {
                purpose => p.purpose.clone(),
                name => p.name.clone(),
                description => p.description.clone(),
                basis => match p.basis {
                    PreferenceBasis::Consent => "consent",
                    PreferenceBasis::Objection => "objection",
                },
                on,
                since,
            }
        })
        .collect();
    page(
        StatusCode::OK,
        "preferences.html",
        context! {
            controller => controller_name(&state),
            brand => crate::http::public::brand(&state),
            notice_url => b.config.notice.url.clone(),
            token,
            saved,
            any_on,
            preferences => items,
            cookie_purposes => cookie_items,
        },
        &lang,
    )
}

/// `POST /preferences` (form: `token`, `purpose` or `*`, `choice` = `on` | `off`): records
/// the change with method `form`, then sends the person back to the page (303).
#[utoipa::path(post, path = "/preferences", summary = "Change a preference", tag = "banner", operation_id = "change_preference", security(()),
    description = "A change made in the preference centre, recorded in the consent ledger with method `form`.",
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "`token`, `purpose` (or `*`), `choice` = `on` | `off`"),
    responses(
        (status = 303, description = "Recorded: back to the preference centre"),
        (status = 400, description = "A link or form that is not one (a page saying so)", content_type = "text/html", body = String),
        (status = 410, description = "An expired link (a page saying so)", content_type = "text/html", body = String),
        (status = 429, description = "Too many writes from this network (a page saying so)", content_type = "text/html", body = String),
        (status = 503, description = "No link key is configured (a page saying so)", content_type = "text/html", body = String)
    ))]
pub(super) async fn change_preference(
    State(state): State<AppState>,
    Extension(b): Extension<Arc<Banner>>,
    lang: PageLang,
    headers: HeaderMap,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    body: Bytes,
) -> Response {
    let controller = controller_name(&state);
    let token = field(&body, "token");
    let (_, subject) = match verified(&state, token.as_deref(), LinkKind::Preferences) {
        Ok(v) => v,
        Err(refusal) => return refusal.page(&state, &b, &lang),
    };
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
    let on = match field(&body, "choice").as_deref() {
        Some("on") => true,
        Some("off") => false,
        _ => {
            return message(
                &b,
                StatusCode::BAD_REQUEST,
                "choices.unchanged",
                "choices.incomplete",
                &controller,
                &lang,
                None,
            );
        }
    };
    let purpose = field(&body, "purpose").unwrap_or_default();
    let (all, _) = split_preferences(&state, &b);
    let chosen: Vec<&Preference> = all
        .iter()
        .filter(|p| purpose == "*" || p.purpose == purpose)
        .collect();
    if chosen.is_empty() {
        return message(
            &b,
            StatusCode::BAD_REQUEST,
            "choices.unchanged",
            "choices.no_such_choice",
            &controller,
            &lang,
            None,
        );
    }
    let current = state.consent.current(&subject);
    let result = record(
        &state,
        &b,
        RecordFor {
            subject,
            preferences: chosen
                .into_iter()
                .filter(|p| is_on(&current, p).0 != on)
                .collect(),
            on,
            method: Method::Form,
            actor: "preference-centre",
            ip,
            user_agent: user_agent(&headers),
        },
    )
    .await;
    if let Err(problem) = result {
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
    // The page after the change negotiates its language as this one did.
    let location = format!("preferences?token={}&saved=1", token.unwrap_or_default());
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A change of some preferences of one person, from a page.
pub(super) struct RecordFor<'a> {
    pub subject: SubjectRef,
    pub preferences: Vec<&'a Preference>,
    pub on: bool,
    pub method: Method,
    pub actor: &'static str,
    pub ip: Option<std::net::IpAddr>,
    pub user_agent: Option<String>,
}

/// Records the change in the ledger, one event per preference: consent given or withdrawn
/// (with the hash of the words the person saw for it), or, for direct marketing on another
/// basis, an objection raised or lifted (Art. 21(2)-(3)). Nothing to change records nothing.
pub(super) async fn record(state: &AppState, b: &Banner, r: RecordFor<'_>) -> Result<(), Problem> {
    let (consents, objections): (Vec<&Preference>, Vec<&Preference>) = r
        .preferences
        .iter()
        .copied()
        .partition(|p| p.basis == PreferenceBasis::Consent);
    let purpose = |p: &Preference| -> Result<PurposeId, Problem> {
        p.purpose
            .parse()
            .map_err(|e| Problem::internal(format!("purpose `{}`: {e}", p.purpose)))
    };
    if !consents.is_empty() {
        let choices = consents
            .iter()
            .map(|p| {
                Ok(Choice {
                    target: Target::Purpose(purpose(p)?),
                    state: if r.on {
                        ConsentState::Given
                    } else {
                        ConsentState::Withdrawn
                    },
                })
            })
            .collect::<Result<Vec<_>, Problem>>()?;
        state
            .consent
            .record(RecordConsent {
                subject: r.subject.clone(),
                choices,
                method: r.method,
                notice_version: Some(b.config.notice.version.clone()),
                text_hash: Some(text_hash(&consents)),
                ip: r.ip,
                user_agent: r.user_agent.clone(),
                gpc: false,
                actor: r.actor.to_string(),
            })
            .await?;
    }
    if !objections.is_empty() {
        let actions = objections
            .iter()
            .map(|p| {
                Ok(Action::Objection {
                    purpose: purpose(p)?,
                    raised: !r.on,
                })
            })
            .collect::<Result<Vec<_>, Problem>>()?;
        state
            .consent
            .record_actions(&r.subject, actions, r.method, r.actor)
            .await?;
    }
    Ok(())
}

/// SHA-256 (hex) of the names and descriptions shown for the preferences changed.
fn text_hash(preferences: &[&Preference]) -> String {
    // Strings and booleans only: serialising cannot fail.
    let json = serde_json::to_vec(preferences).unwrap_or_default();
    Sha256::digest(&json)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_templates_parse() {
        if let Err(e) = super::TEMPLATES.as_ref() {
            panic!("a page template does not parse: {e:#}");
        }
    }

    #[test]
    fn fields_are_read_from_form_bodies() {
        let body = b"token=a.b&purpose=news%2Dletter&choice=on";
        assert_eq!(
            super::field(body, "purpose").as_deref(),
            Some("news-letter")
        );
        assert_eq!(super::field(body, "missing"), None);
    }
}
