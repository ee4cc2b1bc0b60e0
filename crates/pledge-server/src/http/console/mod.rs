//! The staff console at `/console`: pages rendered on the server from templates embedded in
//! the binary, no script, one style sheet of its own, for staff signed in with an account
//! of the store (`pledge users add`), not an API key.
//!
//! - `auth.rs`: sign-in (with its own CSRF token, so nobody can sign a browser into an
//!   account of theirs), sign-out, sign-out everywhere.
//! - `sso.rs`: single sign-on with an OpenID Connect provider (`[console.oidc]`), which
//!   opens the same session as a password.
//! - `pages.rs`: the dashboard, the list of requests, one request (with the dry run's
//!   preview for those who see personal data).
//! - `actions.rs`: the forms of a request's page: approve, deny, extend, cancel, retry,
//!   complete by hand, a download link; each as the API does it.
//!
//! Every word of the pages comes from the message catalogues (`messages/<tag>.toml`, the
//! `[console]` section, see [`crate::i18n`]): the language is chosen as on the person's
//! pages ([`PageLang`]: `?lang=`, the language cookie, `Accept-Language`,
//! `public.language`) by the middleware [`language`], which keeps it for the request's
//! task, so that [`page`], [`message`] and [`tr`] speak it without being handed it.
//!
//! Every page but sign-in needs a live session (the cookie [`SESSION_COOKIE`]); without one
//! it redirects to sign-in. Every form carries the session's CSRF secret, checked in
//! constant time before anything is done. The routes are in the OpenAPI document as every
//! route is (security `()`: the session is not an API key), under the `console` tag.

mod actions;
mod admin;
mod audit;
mod auth;
mod declaration;
mod pages;
mod people;
mod sso;

pub(crate) use declaration::publish_notice;

use pages::request_page;

use crate::AppState;
use crate::http::lang::PageLang;
use crate::i18n;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use minijinja::{Environment, Value};
use pledge_store::staff::StaffSession;
use std::sync::LazyLock;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The session cookie. Not `__Host-`: that prefix demands `Path=/`, and the cookie is for
/// the console's paths only. `__Secure-` demands `Secure`, which it has anyway (Chromium
/// and Firefox take Secure cookies from http://127.0.0.1 and localhost, secure contexts).
pub const SESSION_COOKIE: &str = "__Secure-pledge-console";
/// The sign-in form's own token (login CSRF), set by the sign-in page, before any session.
pub const SIGN_IN_COOKIE: &str = "__Secure-pledge-sign-in";
/// The name of every form's hidden CSRF field.
pub const CSRF_FIELD: &str = "csrf";

/// The policy of every console page: nothing from anywhere but the console's own style
/// sheet, no script at all, forms only to this server, never in a frame.
pub const CONSOLE_CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const STYLE: &str = include_str!("../../../templates/console/console.css");

/// What the OpenAPI document says of the console's routes.
#[derive(utoipa::OpenApi)]
#[openapi(tags((name = "console", description = "The staff console: HTML pages for staff accounts signed in with a session cookie (not an API key)")))]
struct ConsoleDoc;

/// The console's routes.
pub fn routes(state: &AppState) -> OpenApiRouter<AppState> {
    use utoipa::OpenApi;
    OpenApiRouter::with_openapi(ConsoleDoc::openapi())
        .routes(routes!(pages::dashboard))
        .routes(routes!(style))
        .routes(routes!(auth::sign_in_page, auth::sign_in))
        .routes(routes!(sso::start))
        .routes(routes!(sso::callback))
        .routes(routes!(auth::sign_out))
        .routes(routes!(auth::sign_out_everywhere))
        .routes(routes!(pages::requests))
        .routes(routes!(pages::request))
        .routes(routes!(actions::act))
        .routes(routes!(actions::download_link))
        .routes(routes!(people::people))
        .routes(routes!(audit::audit))
        .routes(routes!(audit::verify))
        .routes(routes!(declaration::overview))
        .routes(routes!(declaration::section))
        .routes(routes!(declaration::notices))
        .routes(routes!(declaration::notice_version))
        .routes(routes!(declaration::notice_diff))
        .routes(routes!(declaration::record))
        .routes(routes!(admin::admin))
        .routes(routes!(admin::add_staff))
        .routes(routes!(admin::disable_staff))
        .routes(routes!(admin::create_key))
        .routes(routes!(admin::revoke_key))
        .route_layer(middleware::from_fn_with_state(state.clone(), language))
}

tokio::task_local! {
    /// The language of the console request being answered, set by [`language`].
    static LANG: PageLang;
}

/// Chooses the language of a console request as the person's pages do, answers it in
/// that language, and gives the pages it made their `Content-Language`, `Vary` and, when
/// `?lang=` chose, the language cookie.
async fn language(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let lang = PageLang::of(&state, request.method(), request.uri(), request.headers());
    let mut response = LANG.scope(lang.clone(), next.run(request)).await;
    // Only the console's own pages, and its redirects (so that a choice made on an
    // address that sends to sign-in is kept): not the style sheet, the notice as published
    // or the record's files, which are not in the console's language.
    if response.status().is_redirection()
        || response.headers().get(header::CONTENT_SECURITY_POLICY)
            == Some(&HeaderValue::from_static(CONSOLE_CSP))
    {
        lang.finish(&mut response);
    }
    response
}

/// The language of the request being answered, with its switcher (English outside one).
fn lang() -> PageLang {
    LANG.try_with(Clone::clone)
        .unwrap_or_else(|_| PageLang::fixed(i18n::FALLBACK))
}

/// The tag of the request's language (English outside one).
fn lang_tag() -> &'static str {
    LANG.try_with(|l| l.lang).unwrap_or(i18n::FALLBACK)
}

/// The message `key` in the request's language, its placeholders filled from `args`.
fn tr(key: &str, args: &[(&str, &str)]) -> String {
    i18n::tr(lang_tag(), key, args)
}

/// The message `key` of a vocabulary (a word for `code`, e.g. a ledger event's method), or
/// `code` itself when the vocabulary has no such word (a value the store holds from
/// elsewhere, or a row edited by hand).
fn label(key: &str, code: &str) -> String {
    let known = i18n::catalogues()
        .get(i18n::FALLBACK)
        .is_some_and(|c| c.raw(key).is_some());
    if known {
        tr(key, &[])
    } else {
        code.to_string()
    }
}

/// A moment as the request's language writes it: the day (as the `date` filter writes
/// it) and the time of day, UTC.
fn when(t: i64) -> String {
    let lang = lang_tag();
    let c = pledge_lang::time::CivilTime::from_unix(t);
    i18n::tr(
        lang,
        "console.moment",
        &[
            ("date", &i18n::date(lang, t)),
            ("time", &format!("{:02}:{:02}", c.hour, c.minute)),
        ],
    )
}

#[utoipa::path(get, path = "/console/console.css", summary = "The console's style sheet", tag = "console", operation_id = "console_style", security(()),
    responses((status = 200, description = "The style sheet", content_type = "text/css", body = String)))]
async fn style() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        STYLE,
    )
        .into_response()
}

/// The console's templates, by name.
pub(crate) const TEMPLATE_SOURCES: &[(&str, &str)] = &[
    (
        "layout.html",
        include_str!("../../../templates/console/layout.html"),
    ),
    (
        "sign_in.html",
        include_str!("../../../templates/console/sign_in.html"),
    ),
    (
        "message.html",
        include_str!("../../../templates/console/message.html"),
    ),
    (
        "signed_in.html",
        include_str!("../../../templates/console/signed_in.html"),
    ),
    (
        "dashboard.html",
        include_str!("../../../templates/console/dashboard.html"),
    ),
    (
        "requests.html",
        include_str!("../../../templates/console/requests.html"),
    ),
    (
        "request.html",
        include_str!("../../../templates/console/request.html"),
    ),
    (
        "people.html",
        include_str!("../../../templates/console/people.html"),
    ),
    (
        "audit.html",
        include_str!("../../../templates/console/audit.html"),
    ),
    (
        "declaration.html",
        include_str!("../../../templates/console/declaration.html"),
    ),
    (
        "declaration_section.html",
        include_str!("../../../templates/console/declaration_section.html"),
    ),
    (
        "notice.html",
        include_str!("../../../templates/console/notice.html"),
    ),
    (
        "notice_diff.html",
        include_str!("../../../templates/console/notice_diff.html"),
    ),
    (
        "admin.html",
        include_str!("../../../templates/console/admin.html"),
    ),
];

static TEMPLATES: LazyLock<Result<Environment<'static>, minijinja::Error>> =
    LazyLock::new(templates);

fn templates() -> Result<Environment<'static>, minijinja::Error> {
    crate::http::html_templates(TEMPLATE_SOURCES)
}

/// A console page: HTML, never cached, under [`CONSOLE_CSP`].
fn page(status: StatusCode, name: &str, ctx: Value) -> Response {
    let lang = lang();
    let ctx = minijinja::context! { ..ctx, ..lang.context() };
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
            tracing::error!(page = name, error = %e, "a console page cannot be rendered");
            let escape = |key| pledge_docs::html::escape(&i18n::tr(lang.lang, key, &[]));
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!(
                    "<!doctype html><html lang=\"{}\"><title>{}</title><p>{}</p></html>",
                    lang.lang,
                    escape("page.unavailable_title"),
                    escape("page.unavailable")
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
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONSOLE_CSP),
    );
    response
}

/// A page that says something went wrong (or was refused), with a way on: the messages
/// `title` and `text` (placeholders filled from `args`), and a link to `link.0` whose
/// words are the message `link.1`.
fn message(
    status: StatusCode,
    title: &str,
    text: &str,
    args: &[(&str, &str)],
    link: (&str, &str),
) -> Response {
    page(
        status,
        "message.html",
        minijinja::context! {
            title => tr(title, &[]), text => tr(text, args),
            link_href => link.0, link_text => tr(link.1, &[]),
            staff => Value::from(()),
            // No switcher: the page answers what was just done, not an address to open again.
            languages => Value::from(()),
        },
    )
}

/// `303 See Other` to `to` (a path of the console).
fn see_other(to: &'static str) -> Response {
    (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, to), (header::CACHE_CONTROL, "no-store")],
    )
        .into_response()
}

/// The value of cookie `name` in the request's `Cookie` headers.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value with every attribute the console's cookies have; `max_age: 0`
/// deletes the cookie.
fn set_cookie(name: &str, value: &str, path: &str, max_age: i64) -> HeaderValue {
    set_cookie_with(name, value, path, max_age, "Strict")
}

/// [`set_cookie`] with another `SameSite`: `Lax` only for the single sign-on flow's cookie,
/// which must come back with the provider's cross-site redirect.
fn set_cookie_with(
    name: &str,
    value: &str,
    path: &str,
    max_age: i64,
    same_site: &str,
) -> HeaderValue {
    let text = format!(
        "{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; Secure; SameSite={same_site}"
    );
    // Names are constants, values hex, paths fixed: always a valid header value; if not,
    // a cookie that deletes nothing beats a panic.
    HeaderValue::from_str(&text).unwrap_or(HeaderValue::from_static("x=; Max-Age=0"))
}

/// Whether `given` is `expected`, in time that does not depend on where they differ.
fn same_secret(given: &str, expected: &str) -> bool {
    use subtle::ConstantTimeEq;
    !expected.is_empty() && bool::from(given.as_bytes().ct_eq(expected.as_bytes()))
}

/// The fields of a form body (`application/x-www-form-urlencoded`).
fn form(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body).into_owned().collect()
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// The signed-in staff member of a request, or the answer to give instead: a redirect to
/// sign-in when there is no live session, a page when the store fails.
async fn signed_in(state: &AppState, headers: &HeaderMap) -> Result<StaffSession, Response> {
    let Some(token) = cookie(headers, SESSION_COOKIE) else {
        return Err(see_other("/console/sign-in"));
    };
    match state
        .store
        .staff_session(token, &state.config.console, state.now())
        .await
    {
        Ok(Some(session)) => Ok(session),
        Ok(None) => {
            let mut response = see_other("/console/sign-in");
            response.headers_mut().insert(
                header::SET_COOKIE,
                set_cookie(SESSION_COOKIE, "", "/console", 0),
            );
            Err(response)
        }
        Err(e) => Err(store_failed(&e)),
    }
}

/// The store failed: said in the log, and on a page without its details.
fn store_failed(e: &pledge_store::Error) -> Response {
    tracing::error!(error = %e, "console: the store failed");
    message(
        StatusCode::SERVICE_UNAVAILABLE,
        "console.message.unavailable_title",
        "console.message.store_failed",
        &[],
        ("/console", "console.link.dashboard"),
    )
}

/// A signed-in session and the CSRF field of its form, or the refusal (403, nothing done).
async fn signed_in_with_form(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(StaffSession, Vec<(String, String)>), Response> {
    let session = signed_in(state, headers).await?;
    let fields = form(body);
    let given = field(&fields, CSRF_FIELD).unwrap_or_default();
    if !same_secret(given, &session.csrf) {
        tracing::warn!(account = %session.account.id, "console: a form without its CSRF token was refused");
        return Err(forbidden_form());
    }
    Ok((session, fields))
}

fn forbidden_form() -> Response {
    message(
        StatusCode::FORBIDDEN,
        "console.message.form_refused_title",
        "console.message.form_refused",
        &[],
        ("/console", "console.link.dashboard"),
    )
}

/// The keys the console's templates build from a vocabulary (a state, a kind, a role ...),
/// for the test that every key used is in every catalogue.
#[cfg(test)]
pub(crate) fn vocabulary() -> Vec<String> {
    use pledge_domain::workflow::Regime;
    use pledge_lang::diagnostic::Severity;
    use pledge_store::forward::ForwardState::{self, *};
    let mut keys = Vec::new();
    for state in pledge_domain::workflow::STATES {
        keys.push(format!("console.state.{}", state.as_str()));
    }
    for right in pledge_lang::rights::RIGHTS {
        keys.push(format!("console.kind.{}", right.as_str()));
    }
    for regime in [Regime::Gdpr, Regime::Ccpa] {
        // A new regime stops this match from compiling: add it to the list.
        match regime {
            Regime::Gdpr | Regime::Ccpa => {}
        }
        keys.push(format!("console.regime.{}", regime.as_str()));
    }
    for role in pledge_store::ROLES {
        keys.push(format!("console.role.{}", role.as_str()));
    }
    for event in pledge_store::notify::EVENTS {
        keys.push(format!("console.mail.{}", event.as_str()));
    }
    // The outbox's states, and a forwarded request's.
    let forwards: [ForwardState; 4] = [Queued, Delivered, Done, Failed];
    for f in forwards {
        match f {
            Queued | Delivered | Done | Failed => {}
        }
    }
    for state in ["queued", "sent", "failed"]
        .into_iter()
        .chain(forwards.iter().map(|f| f.as_str()))
    {
        keys.push(format!("console.delivery.{state}"));
    }
    for severity in [Severity::Error, Severity::Warning, Severity::Info] {
        match severity {
            Severity::Error | Severity::Warning | Severity::Info => {}
        }
        keys.push(format!("console.severity.{}", severity.as_str()));
    }
    for action in actions::ACTIONS {
        keys.push(format!("console.action.{}", action.as_str()));
    }
    for section in declaration::SECTIONS {
        keys.push(format!("console.section.{section}"));
    }
    {
        use pledge_lang::model::Basis::{self, *};
        let bases: [Basis; 6] = [
            Consent,
            Contract,
            LegalObligation,
            VitalInterests,
            PublicTask,
            LegitimateInterests,
        ];
        for b in bases {
            match b {
                Consent | Contract | LegalObligation | VitalInterests | PublicTask
                | LegitimateInterests => {}
            }
            keys.push(format!(
                "console.basis.{}",
                pledge_lang::model::variant_name(&b)
            ));
        }
    }
    // The ledger's columns, as `consent::Action::columns` writes them.
    for kind in ["consent", "objection", "restriction", "opt_out", "link"] {
        keys.push(format!("console.ledger.kind.{kind}"));
    }
    {
        use pledge_domain::consent::ConsentState::{self, *};
        let states: [ConsentState; 4] = [Given, Refused, Withdrawn, Expired];
        for s in states {
            match s {
                Given | Refused | Withdrawn | Expired => {}
            }
            keys.push(format!("console.ledger.state.{}", s.as_str()));
        }
    }
    for state in ["raised", "lifted", "linked"] {
        keys.push(format!("console.ledger.state.{state}"));
    }
    for method in pledge_domain::consent::Method::ALL {
        keys.push(format!("console.ledger.method.{}", method.as_str()));
    }
    // The planner's actions, as `pledge_plan::Action::name` says them.
    for step in [
        "read",
        "delete",
        "mask",
        "set",
        "set-copy",
        "restrict",
        "keep",
        "sever",
        "read-mentions",
        "repeat",
    ] {
        keys.push(format!("console.step.{step}"));
    }
    keys
}

/// What the layout shows of the signed-in staff member.
fn staff_view(session: &StaffSession) -> Value {
    minijinja::context! {
        name => session.account.name.clone(),
        role => session.account.role.as_str(),
        csrf => session.csrf.clone(),
        personal => sees_personal_data(session),
        audit => crate::http::api::STAFF.contains(&session.account.role),
        admin => session.account.role == pledge_store::Role::Admin,
    }
}

/// Whether the session's role sees personal data (identities, results), as with API keys.
fn sees_personal_data(session: &StaffSession) -> bool {
    matches!(
        session.account.role,
        pledge_store::Role::Admin | pledge_store::Role::PrivacyOfficer
    )
}
