//! The privacy center for the person, `GET /privacy`: one page, in plain words, from which
//! anyone sends a request of any kind the declaration's laws give (a plain HTML form that
//! posts to `POST /public/requests`, no script), says where they live (which decides some
//! rights and the deadlines), and, for a correction, gives the correct values of the
//! declared columns. What happens next (the code by e-mail, the status page) is public
//! intake's. The company's name comes from the declaration, its accent colour from
//! `public.accent_color`.

use crate::AppState;
use crate::http::banner::pages::page;
use crate::http::lang::PageLang;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use minijinja::context;
use minijinja::value::{Serde, Value};
use pledge_lang::model::Regime as LawRegime;
use pledge_lang::taxonomy;
use serde::Serialize;

/// One kind of request as the form offers it: its name and help are the messages
/// `kind.<kind>.name` and `.help`.
#[derive(Serialize)]
struct KindChoice {
    kind: &'static str,
    /// The law that gives the right (`law.<law>`), when not every one the company is
    /// under does.
    law: Option<&'static str>,
}

/// The kinds the declaration's laws give, in the order people look for them.
fn kinds(gdpr: bool, ccpa: bool) -> Vec<KindChoice> {
    let both = gdpr && ccpa;
    let choice = |kind, law: Option<&'static str>| KindChoice {
        kind,
        law: law.filter(|_| both),
    };
    let mut out = vec![choice("access", None)];
    if gdpr {
        out.push(choice("portability", Some("gdpr")));
    }
    out.push(choice("rectification", None));
    out.push(choice("erasure", None));
    if gdpr {
        out.push(choice("restriction", Some("gdpr")));
        out.push(choice("objection", Some("gdpr")));
        out.push(choice("withdraw_consent", None));
    }
    if ccpa {
        out.push(choice("opt_out", Some("ccpa")));
    }
    out
}

/// A place the person may live in: the code public intake reads, and its name's message
/// (`place.<key>`).
#[derive(Serialize)]
struct Place {
    code: &'static str,
    key: &'static str,
}

/// Where the person lives, as public intake reads it (`US-CA`: the CCPA; anything else: the
/// GDPR): only the places whose law the declaration applies, the first one chosen.
fn jurisdictions(gdpr: bool, ccpa: bool) -> Vec<Place> {
    let mut out = Vec::new();
    if gdpr {
        out.push(Place {
            code: "EU",
            key: "eu",
        });
        out.push(Place {
            code: "GB",
            key: "gb",
        });
    }
    if ccpa {
        out.push(Place {
            code: "US-CA",
            key: "us_ca",
        });
    }
    out.push(Place {
        code: "ZZ",
        key: "elsewhere",
    });
    out
}

#[derive(Serialize)]
struct Correction {
    column: String,
    /// The column's built-in data category, whose name is the message `category.<id>`.
    category: Option<&'static str>,
    /// The name of a category the declaration made up: its id, as declared.
    label: String,
}

/// The declared columns a person may give a correct value for: each column of a declared
/// table that holds a data category, once, labelled with its category's name.
fn corrections(state: &AppState) -> Vec<Correction> {
    let mut out: Vec<Correction> = Vec::new();
    for dataset in &state.decl.doc().datasets {
        for table in &dataset.tables {
            for (column, c) in &table.columns {
                if out.iter().any(|o| o.column == column.value) {
                    continue;
                }
                let category = c.category.value.as_str();
                out.push(Correction {
                    column: column.value.clone(),
                    category: taxonomy::builtin(category).map(|b| b.id),
                    label: crate::http::public::capitalised(category),
                });
            }
        }
    }
    out
}

#[utoipa::path(get, path = "/privacy", summary = "The privacy center", tag = "public", operation_id = "privacy_center", security(()),
    description = "The person's page: a form for every kind of request the declaration's laws give, with where the person lives and, for a correction, the correct values; it posts to `POST /public/requests` as a plain HTML form.",
    params(("lang" = Option<String>, Query, description = "The page's language (`en`, `da`, `fr`), kept in a cookie; otherwise the cookie's, then `Accept-Language`, then `public.language`")),
    responses((status = 200, description = "The page", content_type = "text/html", body = String)))]
pub async fn privacy_center(State(state): State<AppState>, lang: PageLang) -> Response {
    let decl = &state.decl;
    let gdpr = decl.gdpr_applies();
    let ccpa = decl.applies(LawRegime::Ccpa);
    let notice_url = crate::http::public::notice_url(&state);
    page(
        StatusCode::OK,
        "privacy.html",
        context! {
            controller => crate::http::public::controller_name(&state),
            brand => crate::http::public::brand(&state),
            kinds => Value::from(Serde(kinds(gdpr, ccpa))),
            jurisdictions => Value::from(Serde(jurisdictions(gdpr, ccpa))),
            corrections => Value::from(Serde(corrections(&state))),
            notice_url => notice_url,
        },
        &lang,
    )
}

#[utoipa::path(get, path = "/privacy/logo", summary = "The company's logo", tag = "public", operation_id = "privacy_logo", security(()),
    description = "The image of `public.logo`, shown at the top of the person's pages; 404 when none is configured.",
    responses(
        (status = 200, description = "The image", content_type = "image/*", body = Vec<u8>),
        (status = 404, description = "No logo is configured")
    ))]
pub async fn logo(State(state): State<AppState>) -> Response {
    use axum::http::header;
    match &state.config.public.logo {
        Some(logo) => (
            [
                (header::CONTENT_TYPE, logo.content_type()),
                (header::CACHE_CONTROL, "public, max-age=3600"),
                // An SVG opened on its own is a document: it runs no script, loads nothing.
                (
                    header::CONTENT_SECURITY_POLICY,
                    "default-src 'none'; style-src 'unsafe-inline'; sandbox",
                ),
            ],
            logo.bytes().to_vec(),
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kinds_follow_the_laws() {
        let names = |g, c| kinds(g, c).iter().map(|k| k.kind).collect::<Vec<_>>();
        assert_eq!(
            names(true, false),
            [
                "access",
                "portability",
                "rectification",
                "erasure",
                "restriction",
                "objection",
                "withdraw_consent"
            ]
        );
        assert_eq!(
            names(false, true),
            ["access", "rectification", "erasure", "opt_out"]
        );
        // Under both, the rights of one law say which.
        let both = kinds(true, true);
        assert!(
            both.iter()
                .find(|k| k.kind == "opt_out")
                .unwrap()
                .law
                .is_some()
        );
        assert!(
            both.iter()
                .find(|k| k.kind == "access")
                .unwrap()
                .law
                .is_none()
        );
        assert!(kinds(true, false).iter().all(|k| k.law.is_none()));
    }
}
