//! The privacy center for the person, `GET /privacy`: one page, in plain words, from which
//! anyone sends a request of any kind the declaration's laws give (a plain HTML form that
//! posts to `POST /public/requests`, no script), says where they live (which decides some
//! rights and the deadlines), and, for a correction, gives the correct values of the
//! declared columns. What happens next (the code by e-mail, the status page) is public
//! intake's. The company's name comes from the declaration, its accent colour from
//! `public.accent_color`.

use crate::AppState;
use crate::http::banner::pages::page;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::context;
use minijinja::value::{Serde, Value};
use pledge_lang::model::Regime as LawRegime;
use pledge_lang::taxonomy;
use serde::Serialize;

/// One kind of request as the form offers it.
#[derive(Serialize)]
struct KindChoice {
    kind: &'static str,
    name: &'static str,
    help: &'static str,
    /// The law that gives the right, when not every one the company is under does.
    #[serde(rename = "where")]
    law: Option<&'static str>,
}

/// The kinds the declaration's laws give, in the order people look for them.
fn kinds(gdpr: bool, ccpa: bool) -> Vec<KindChoice> {
    let both = gdpr && ccpa;
    let only = |yes: bool, law: &'static str| (both && yes).then_some(law);
    let mut out = vec![KindChoice {
        kind: "access",
        name: "A copy of my data",
        help: "Everything held about you, with what is done with it: why, on which legal basis, who receives it and how long it is kept.",
        law: None,
    }];
    if gdpr {
        out.push(KindChoice {
            kind: "portability",
            name: "My data, to take elsewhere",
            help: "The data you gave, in files another service can read (JSON and CSV).",
            law: only(true, "Where the GDPR applies (EU, EEA, UK)."),
        });
    }
    out.push(KindChoice {
        kind: "rectification",
        name: "Correct my data",
        help: "Give the correct values below the list.",
        law: None,
    });
    out.push(KindChoice {
        kind: "erasure",
        name: "Erase my data",
        help: "Your data is deleted or made anonymous, except what the law requires to be kept; the answer says what stays and why.",
        law: None,
    });
    if gdpr {
        out.push(KindChoice {
            kind: "restriction",
            name: "Limit the use of my data",
            help: "Your data is kept but no longer used, for instance while a correction or an objection is looked into.",
            law: only(true, "Where the GDPR applies (EU, EEA, UK)."),
        });
        out.push(KindChoice {
            kind: "objection",
            name: "Object to a use of my data",
            help: "The uses based on the company's legitimate interests stop, direct marketing always.",
            law: only(true, "Where the GDPR applies (EU, EEA, UK)."),
        });
        out.push(KindChoice {
            kind: "withdraw_consent",
            name: "Withdraw my consent",
            help: "Every consent you gave ends, and what you agreed to stops from now on.",
            law: None,
        });
    }
    if ccpa {
        out.push(KindChoice {
            kind: "opt_out",
            name: "Do not sell or share my personal information",
            help: "Your data is no longer sold, shared or used for targeted advertising.",
            law: only(true, "Where California law applies (CCPA)."),
        });
    }
    out
}

#[derive(Serialize)]
struct Place {
    code: &'static str,
    name: &'static str,
}

/// Where the person lives, as public intake reads it (`US-CA`: the CCPA; anything else: the
/// GDPR): only the places whose law the declaration applies, the first one chosen.
fn jurisdictions(gdpr: bool, ccpa: bool) -> Vec<Place> {
    let mut out = Vec::new();
    if gdpr {
        out.push(Place {
            code: "EU",
            name: "The European Union, Iceland, Liechtenstein or Norway",
        });
        out.push(Place {
            code: "GB",
            name: "The United Kingdom",
        });
    }
    if ccpa {
        out.push(Place {
            code: "US-CA",
            name: "California",
        });
    }
    out.push(Place {
        code: "ZZ",
        name: "Elsewhere",
    });
    out
}

#[derive(Serialize)]
struct Correction {
    column: String,
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
                let label = taxonomy::builtin(category).map_or(category, |b| b.label);
                out.push(Correction {
                    column: column.value.clone(),
                    label: format!(
                        "{} ({})",
                        crate::http::public::capitalised(label),
                        column.value
                    ),
                });
            }
        }
    }
    out
}

#[utoipa::path(get, path = "/privacy", summary = "The privacy center", tag = "public", operation_id = "privacy_center", security(()),
    description = "The person's page: a form for every kind of request the declaration's laws give, with where the person lives and, for a correction, the correct values; it posts to `POST /public/requests` as a plain HTML form.",
    responses((status = 200, description = "The page", content_type = "text/html", body = String)))]
pub async fn privacy_center(State(state): State<AppState>) -> Response {
    let decl = &state.decl;
    let gdpr = decl.gdpr_applies();
    let ccpa = decl.applies(LawRegime::Ccpa);
    let notice_url = crate::http::public::notice_url(&state);
    page(
        StatusCode::OK,
        "privacy.html",
        context! {
            controller => crate::http::public::controller_name(&state),
            kinds => Value::from(Serde(kinds(gdpr, ccpa))),
            jurisdictions => Value::from(Serde(jurisdictions(gdpr, ccpa))),
            corrections => Value::from(Serde(corrections(&state))),
            notice_url => notice_url,
            accent => state.config.public.accent_color.clone(),
        },
    )
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
