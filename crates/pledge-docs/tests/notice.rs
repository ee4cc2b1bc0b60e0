//! The privacy notice, proven item by item: every item GDPR Art. 13 and 14 require is shown
//! when the declaration holds it, and vanishes (with a lint finding, where a rule exists)
//! when it is removed. Snapshots of the fixtures' and the examples' notices; the JSON-LD
//! parses and uses only terms that exist in W3C DPV.

use pledge_docs::notice::{self, Format, Options};
use pledge_lang::load::decode;
use pledge_lang::model::*;
use pledge_lang::types::Date;
use pledge_lang::{Declaration, SourceMap};
use pledge_law::lint;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn fixture_text(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn doc(name: &str) -> DeclarationDoc {
    decode(&SourceMap::single(name, fixture_text(name))).unwrap_or_else(|e| panic!("{name}: {e:?}"))
}

fn declaration(doc: DeclarationDoc) -> Declaration {
    Declaration::from_doc(doc).unwrap_or_else(|e| panic!("{e:?}"))
}

fn render(decl: &Declaration, format: Format) -> String {
    let options = Options {
        format,
        effective_date: Some(Date {
            year: 2026,
            month: 3,
            day: 1,
        }),
        ..Options::default()
    };
    notice::render(decl, &options).unwrap().text
}

fn rules_fired(decl: &Declaration) -> BTreeSet<&'static str> {
    lint::lint(decl).iter().map(|f| f.rule).collect()
}

/// One item of the law: where it is in the declaration, a text that shows it in the notice,
/// how to remove it, and the rule that then complains (if any).
struct Item {
    law: &'static str,
    fixture: &'static str,
    marker: &'static str,
    remove: fn(&mut DeclarationDoc),
    rule: Option<&'static str>,
}

fn purpose<'a>(doc: &'a mut DeclarationDoc, id: &str) -> &'a mut Purpose {
    doc.purposes
        .iter_mut()
        .find(|p| p.id.as_str() == id)
        .unwrap_or_else(|| panic!("no purpose {id}"))
}

fn without_right(doc: &mut DeclarationDoc, right: Right) {
    doc.rights
        .as_mut()
        .unwrap()
        .offered
        .retain(|r| r.value != right);
}

const ITEMS: &[Item] = &[
    Item {
        law: "Art. 13(1)(a) controller's contact details",
        fixture: "complete.toml",
        marker: "privacy@kestrel.example",
        remove: |d| {
            let c = d.controller.as_mut().unwrap();
            c.email = None;
            c.phone = None;
            c.contact_form = None;
        },
        rule: Some("controller-identity"),
    },
    Item {
        law: "Art. 13(1)(a) controller's address",
        fixture: "complete.toml",
        marker: "Havnegade 12",
        remove: |d| d.controller.as_mut().unwrap().address = None,
        rule: Some("controller-identity"),
    },
    Item {
        law: "Art. 13(1)(a) controller's identity",
        fixture: "complete.toml",
        marker: "CVR 12345678",
        remove: |d| d.controller = None,
        rule: Some("controller-identity"),
    },
    Item {
        law: "Art. 13(1)(a), 27 representative",
        fixture: "outside-eu.toml",
        marker: "Quillon EU Representative Ltd",
        remove: |d| d.controller.as_mut().unwrap().representative = None,
        rule: Some("representative-missing"),
    },
    Item {
        law: "Art. 13(1)(b) data protection officer",
        fixture: "complete.toml",
        marker: "dpo@kestrel.example",
        remove: |d| d.controller.as_mut().unwrap().dpo.as_mut().unwrap().email = None,
        rule: Some("dpo-contact"),
    },
    Item {
        law: "Art. 13(1)(c) purpose",
        fixture: "complete.toml",
        marker: "A monthly e-mail about new features",
        remove: |d| d.purposes.retain(|p| p.id.as_str() != "newsletter"),
        rule: None,
    },
    Item {
        law: "Art. 13(1)(c) legal basis",
        fixture: "complete.toml",
        marker: "GDPR Art. 6(1)(c)",
        remove: |d| purpose(d, "billing").legal_bases.clear(),
        rule: Some("legal-basis-missing"),
    },
    Item {
        law: "Art. 6(3) law of a legal obligation",
        fixture: "complete.toml",
        marker: "Danish Bookkeeping Act section 10",
        remove: |d| purpose(d, "billing").legal_bases[0].value.law = None,
        rule: Some("legal-obligation-law"),
    },
    Item {
        law: "Art. 13(1)(d) legitimate interests",
        fixture: "complete.toml",
        marker: "detecting and stopping fraudulent sign-ins",
        remove: |d| purpose(d, "security").legal_bases[0].value.interest = None,
        rule: Some("legitimate-interest-statement"),
    },
    Item {
        law: "Art. 9(2) condition for special categories",
        fixture: "complete.toml",
        marker: "GDPR Art. 9(2)(a)",
        remove: |d| purpose(d, "support-health").special_condition = None,
        rule: Some("special-category-condition"),
    },
    Item {
        law: "Art. 13(1)(e) recipients",
        fixture: "complete.toml",
        marker: "Danish Tax Agency",
        remove: |d| {
            purpose(d, "billing").recipients.clear();
            d.recipients.retain(|r| r.id.as_str() != "tax-authority");
        },
        rule: None,
    },
    Item {
        law: "Art. 13(1)(f) transfer and safeguard",
        fixture: "complete.toml",
        marker: "data encrypted with keys held in the EU",
        remove: |d| {
            d.transfers.retain(|t| t.id.as_str() != "cloudhost-us");
            purpose(d, "accounts").transfers.clear();
            purpose(d, "hosting-for-customers").transfers.clear();
        },
        rule: Some("transfer-undeclared"),
    },
    Item {
        law: "Art. 13(1)(f) means to obtain a copy of the safeguards",
        fixture: "complete.toml",
        marker: "legal@kestrel.example",
        remove: |d| d.transfers[0].copy = None,
        rule: Some("transfer-copy"),
    },
    Item {
        law: "Art. 13(2)(a) retention period",
        fixture: "complete.toml",
        marker: "5 years after the end of the financial year",
        remove: |d| purpose(d, "billing").retention = None,
        rule: Some("retention-missing"),
    },
    Item {
        law: "Art. 13(2)(b) right of access",
        fixture: "complete.toml",
        marker: "GDPR Art. 15",
        remove: |d| without_right(d, Right::Access),
        rule: Some("right-missing"),
    },
    Item {
        law: "Art. 13(2)(b) right to rectification",
        fixture: "complete.toml",
        marker: "GDPR Art. 16",
        remove: |d| without_right(d, Right::Rectification),
        rule: Some("right-missing"),
    },
    Item {
        law: "Art. 13(2)(b) right to erasure",
        fixture: "complete.toml",
        marker: "GDPR Art. 17",
        remove: |d| without_right(d, Right::Erasure),
        rule: Some("right-missing"),
    },
    Item {
        law: "Art. 13(2)(b) right to restriction",
        fixture: "complete.toml",
        marker: "GDPR Art. 18",
        remove: |d| without_right(d, Right::Restriction),
        rule: Some("right-missing"),
    },
    Item {
        law: "Art. 13(2)(b) right to data portability",
        fixture: "complete.toml",
        marker: "GDPR Art. 20",
        remove: |d| without_right(d, Right::Portability),
        rule: Some("right-missing"),
    },
    Item {
        law: "Art. 13(2)(b), 21(4) right to object, shown apart",
        fixture: "complete.toml",
        marker: "Your right to object",
        remove: |d| without_right(d, Right::Objection),
        rule: Some("objection-right"),
    },
    Item {
        law: "Art. 13(2)(c) right to withdraw consent",
        fixture: "complete.toml",
        marker: "The right to withdraw consent",
        remove: |d| without_right(d, Right::WithdrawConsent),
        rule: Some("right-missing"),
    },
    Item {
        law: "Art. 13(2)(c), 7(3) how to withdraw consent",
        fixture: "complete.toml",
        marker: "the unsubscribe link in every newsletter",
        remove: |d| purpose(d, "newsletter").legal_bases[0].value.withdrawal = None,
        rule: Some("consent-withdrawal"),
    },
    Item {
        law: "Art. 13(2)(d) right to lodge a complaint",
        fixture: "complete.toml",
        marker: "The right to lodge a complaint with a supervisory authority",
        remove: |d| without_right(d, Right::Complaint),
        rule: Some("right-missing"),
    },
    Item {
        law: "Art. 13(2)(d), 77 the supervisory authority",
        fixture: "complete.toml",
        marker: "Carl Jacobsens Vej 35",
        remove: |d| d.supervisory_authority = None,
        rule: Some("complaint-authority"),
    },
    Item {
        law: "Art. 12(2) where to send a request",
        fixture: "complete.toml",
        marker: "https://kestrel.example/privacy/requests",
        remove: |d| {
            d.rights.as_mut().unwrap().contact = None;
            d.controller.as_mut().unwrap().email = None;
        },
        rule: Some("rights-contact"),
    },
    Item {
        law: "Art. 13(2)(e) whether providing the data is required",
        fixture: "complete.toml",
        marker: "we cannot open an account for you",
        remove: |d| purpose(d, "accounts").requirement = None,
        rule: Some("requirement-missing"),
    },
    Item {
        law: "Art. 13(2)(f) automated decision-making",
        fixture: "complete.toml",
        marker: "a score from your payment history",
        remove: |d| purpose(d, "credit-check").automated_decisions = None,
        rule: None,
    },
    Item {
        law: "Art. 13(2)(f), 22(3) human review of automated decisions",
        fixture: "complete.toml",
        marker: "You can ask for a person to review the decision",
        remove: |d| {
            let ad = purpose(d, "credit-check")
                .automated_decisions
                .as_mut()
                .unwrap();
            ad.value.human_review = false;
        },
        rule: Some("automated-decisions"),
    },
    Item {
        law: "Art. 13(2)(f) significance and consequences",
        fixture: "complete.toml",
        marker: "with a low score you must pay by card",
        remove: |d| {
            let ad = purpose(d, "credit-check")
                .automated_decisions
                .as_mut()
                .unwrap();
            ad.value.consequences = None;
        },
        rule: None,
    },
    Item {
        law: "Art. 14(2)(f) source of data from a third party",
        fixture: "complete.toml",
        marker: "Experian Denmark",
        remove: |d| purpose(d, "credit-check").sources[0].value.name = None,
        rule: Some("source-missing"),
    },
    Item {
        law: "Art. 14(2)(f) publicly accessible sources",
        fixture: "complete.toml",
        marker: "company websites and LinkedIn profiles",
        remove: |d| purpose(d, "lead-generation").sources[0].value.name = None,
        rule: Some("source-missing"),
    },
    Item {
        law: "Art. 14(1)(d) categories of data obtained from others",
        fixture: "complete.toml",
        marker: "Credit standing and score",
        remove: |d| {
            let p = purpose(d, "credit-check");
            p.categories.clear();
            p.sources[0].value.categories.clear();
        },
        rule: Some("purpose-incomplete"),
    },
    Item {
        law: "Art. 13(1)(c), 30(1)(c) categories of data subjects",
        fixture: "complete.toml",
        marker: "Business prospects",
        remove: |d| purpose(d, "lead-generation").subjects.clear(),
        rule: Some("purpose-incomplete"),
    },
    Item {
        law: "Art. 32 security measures",
        fixture: "complete.toml",
        marker: "AES-256 on every database and backup",
        remove: |d| d.security.clear(),
        rule: Some("security-measures"),
    },
    Item {
        law: "ePrivacy Art. 5(3) cookie lifetime",
        fixture: "complete.toml",
        marker: "Tells visits apart",
        remove: |d| d.cookies.retain(|c| c.name.value != "_mc_id"),
        rule: None,
    },
    Item {
        law: "ePrivacy Art. 5(3), GDPR Art. 7 cookie consent",
        fixture: "complete.toml",
        marker: "You can refuse them as easily as you accept them",
        remove: |d| d.cookie_consent.as_mut().unwrap().reject_all = false,
        rule: Some("cookie-reject"),
    },
    Item {
        law: "CCPA § 1798.135 Do Not Sell or Share link",
        fixture: "complete.toml",
        marker: "https://kestrel.example/do-not-sell",
        remove: |d| d.ccpa.as_mut().unwrap().opt_out_link = None,
        rule: Some("ccpa-opt-out"),
    },
    Item {
        law: "CCPA § 1798.125 right to non-discrimination",
        fixture: "complete.toml",
        marker: "The right to non-discrimination",
        remove: |d| without_right(d, Right::NonDiscrimination),
        rule: Some("ccpa-rights"),
    },
    Item {
        law: "CCPA § 1798.100 notice at collection",
        fixture: "complete.toml",
        marker: "Notice to California residents",
        remove: |d| {
            d.policy
                .as_mut()
                .unwrap()
                .regimes
                .retain(|r| r.value != Regime::Ccpa)
        },
        rule: None,
    },
];

#[test]
fn every_item_shows_and_vanishes_when_removed() {
    let mut failures = Vec::new();
    for item in ITEMS {
        let full = declaration(doc(item.fixture));
        let before = rules_fired(&full);
        let mut reduced_doc = doc(item.fixture);
        (item.remove)(&mut reduced_doc);
        let reduced = declaration(reduced_doc);
        let after = rules_fired(&reduced);
        for format in [Format::Html, Format::Markdown] {
            if !render(&full, format).contains(item.marker) {
                failures.push(format!(
                    "{} ({format:?}): `{}` not in the full notice",
                    item.law, item.marker
                ));
            }
            if render(&reduced, format).contains(item.marker) {
                failures.push(format!(
                    "{} ({format:?}): `{}` still there once removed",
                    item.law, item.marker
                ));
            }
        }
        if let Some(rule) = item.rule {
            let count =
                |decl: &Declaration| lint::lint(decl).iter().filter(|f| f.rule == rule).count();
            if count(&reduced) <= count(&full) {
                failures.push(format!("{}: removing it does not raise `{rule}` (before: {before:?}, after: {after:?})", item.law));
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn the_full_fixtures_lint_without_errors() {
    for name in ["complete.toml", "outside-eu.toml"] {
        let decl = declaration(doc(name));
        let errors: Vec<String> = lint::lint(&decl)
            .iter()
            .filter(|f| f.severity == pledge_lang::Severity::Error)
            .map(|f| format!("{}: {}", f.rule, f.message))
            .collect();
        assert!(errors.is_empty(), "{name}: {errors:#?}");
    }
}

#[test]
fn processor_purposes_send_end_users_to_the_customer() {
    let html = render(&declaration(doc("outside-eu.toml")), Format::Html);
    let section = &html[html
        .find("id=\"for-customers\"")
        .expect("a section for customers' data")..];
    assert!(section.contains("Sending messages for customers"));
    assert!(section.contains("their privacy notice tells you how your data is used"));
    let purposes = &html[html.find("id=\"purposes\"").unwrap()..];
    let purposes = &purposes[..purposes.find("</section>").unwrap()];
    assert!(
        !purposes.contains("Sending messages for customers"),
        "a processor purpose is listed as our own"
    );
}

#[test]
fn the_response_time_promised_is_the_one_shown() {
    let mut d = doc("complete.toml");
    d.rights.as_mut().unwrap().response_time =
        Some(pledge_lang::Spanned::unspanned("P2M".parse().unwrap()));
    let decl = declaration(d);
    assert!(render(&decl, Format::Html).contains("at the latest within 2 months"));
    assert!(rules_fired(&decl).contains("response-time"));
    let default = declaration(doc("outside-eu.toml"));
    assert!(render(&default, Format::Markdown).contains("at the latest within one month"));
}

#[test]
fn without_the_gdpr_the_notice_cites_only_the_ccpa() {
    let mut d = doc("complete.toml");
    d.policy.as_mut().unwrap().regimes = vec![pledge_lang::Spanned::unspanned(Regime::Ccpa)];
    let decl = declaration(d);
    for format in [Format::Html, Format::Markdown] {
        let text = render(&decl, format);
        for word in ["GDPR", "ePrivacy", "European Economic Area", "Art. 6(1)"] {
            assert!(!text.contains(word), "{format:?} mentions {word}");
        }
        assert!(text.contains("Notice to California residents"));
        assert!(text.contains("The right to know"), "{format:?}");
        assert!(text.contains("service provider"), "{format:?}");
    }
}

#[test]
fn declared_text_is_escaped_in_html() {
    let mut d = doc("complete.toml");
    purpose(&mut d, "newsletter").description = Some(pledge_lang::Spanned::unspanned(
        "<script>alert(1)</script> & more".into(),
    ));
    let html = render(&declaration(d), Format::Html);
    assert!(!html.contains("<script>alert(1)"));
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; more"));
}

#[test]
fn the_version_is_a_hash_of_the_content_alone() {
    let decl = declaration(doc("complete.toml"));
    let at = |y| Options {
        effective_date: Some(Date {
            year: y,
            month: 1,
            day: 1,
        }),
        ..Options::default()
    };
    let a = notice::render(&decl, &at(2026)).unwrap();
    let b = notice::render(
        &decl,
        &Options {
            format: Format::JsonLd,
            ..at(2027)
        },
    )
    .unwrap();
    assert_eq!(
        a.version, b.version,
        "the date and the format do not change the version"
    );
    assert_eq!(a.version.len(), 12);
    assert!(a.digest.starts_with("sha256:") && a.digest.len() == 7 + 64);
    assert!(a.text.contains(&a.version));
    let mut changed = doc("complete.toml");
    let retention = purpose(&mut changed, "security")
        .retention
        .as_mut()
        .unwrap();
    retention.value.period = Some(pledge_lang::Spanned::unspanned("P91D".parse().unwrap()));
    assert_ne!(notice::version(&declaration(changed)), a.version);
}

#[test]
fn overridden_templates_are_used() {
    let decl = declaration(doc("complete.toml"));
    let mut options = Options {
        format: Format::Markdown,
        ..Options::default()
    };
    options.templates.set(
        "en",
        "notice.md",
        "{{ notice.title }} / {{ notice.purposes | length }} purposes",
    );
    assert_eq!(
        notice::render(&decl, &options).unwrap().text,
        "Kestrel Labs privacy notice / 8 purposes\n"
    );
    options.lang = "de".into();
    let err = notice::render(&decl, &options).unwrap_err();
    assert!(
        err.to_string()
            .contains("no `notice.md` template for language `de`"),
        "{err}"
    );
}

// --- JSON-LD and DPV -------------------------------------------------------------------------

/// Every compact IRI (`dpv:`, `pd:`, `eu-gdpr:`) used as a key or a string value.
fn compact_iris(value: &serde_json::Value, out: &mut BTreeSet<String>) {
    let check = |s: &str, out: &mut BTreeSet<String>| {
        if ["dpv:", "pd:", "eu-gdpr:"].iter().any(|p| s.starts_with(p)) {
            out.insert(s.to_string());
        }
    };
    match value {
        serde_json::Value::String(s) => check(s, out),
        serde_json::Value::Array(a) => a.iter().for_each(|v| compact_iris(v, out)),
        serde_json::Value::Object(o) => {
            for (k, v) in o {
                if k != "@context" {
                    check(k, out);
                    compact_iris(v, out);
                }
            }
        }
        _ => {}
    }
}

fn assert_dpv_terms_exist(name: &str, decl: &Declaration) {
    let known: BTreeSet<String> = ["dpv.csv", "pd.csv", "eu-gdpr.csv"]
        .into_iter()
        .flat_map(pledge_testkit::dpv_terms)
        .collect();
    let text = render(decl, Format::JsonLd);
    let json: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: invalid JSON: {e}"));
    assert_eq!(json["@context"]["dpv"], "https://w3id.org/dpv#");
    let mut used = BTreeSet::new();
    compact_iris(&json, &mut used);
    assert!(used.len() > 10, "{name}: only {used:?}");
    let unknown: Vec<&String> = used.difference(&known).collect();
    assert!(unknown.is_empty(), "{name}: terms not in DPV: {unknown:?}");
}

#[test]
fn json_ld_uses_only_dpv_terms() {
    for name in ["complete.toml", "outside-eu.toml"] {
        assert_dpv_terms_exist(name, &declaration(doc(name)));
    }
    for (name, decl) in examples() {
        assert_dpv_terms_exist(&name, &decl);
    }
}

#[test]
fn json_ld_says_what_the_notice_says() {
    let json: serde_json::Value =
        serde_json::from_str(&render(&declaration(doc("complete.toml")), Format::JsonLd)).unwrap();
    assert_eq!(json["@type"][0], "dpv:PrivacyNotice");
    assert_eq!(json["dct:valid"]["@value"], "2026-03-01");
    let handlings = json["dpv:hasPersonalDataHandling"].as_array().unwrap();
    let billing = handlings
        .iter()
        .find(|h| h["@id"] == "https://kestrel.example/privacy#purpose-billing")
        .unwrap();
    assert_eq!(billing["dpv:hasLegalBasis"][0]["@id"], "eu-gdpr:A6-1-c");
    assert_eq!(
        billing["dpv:hasStorageCondition"]["dpv:hasDuration"]["rdf:value"]["@value"],
        "P5Y"
    );
    let accounts = handlings
        .iter()
        .find(|h| h["@id"] == "https://kestrel.example/privacy#purpose-accounts")
        .unwrap();
    assert_eq!(
        accounts["dpv:hasPersonalDataHandling"][0]["dpv:hasLegalBasis"][0]["@id"],
        "eu-gdpr:StandardContractualClauses"
    );
    let rights: Vec<&str> = json["dpv:hasRight"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["@id"].as_str())
        .collect();
    assert!(
        rights.contains(&"eu-gdpr:A15") && rights.contains(&"eu-gdpr:A77"),
        "{rights:?}"
    );
}

/// Every `@id` in a document, to check that each is an absolute IRI or a compact one.
fn ids<'a>(value: &'a serde_json::Value, out: &mut Vec<&'a str>) {
    match value {
        serde_json::Value::Array(a) => a.iter().for_each(|v| ids(v, out)),
        serde_json::Value::Object(o) => {
            for (k, v) in o {
                match (k.as_str(), v) {
                    ("@id", serde_json::Value::String(s)) => out.push(s),
                    _ => ids(v, out),
                }
            }
        }
        _ => {}
    }
}

#[test]
fn json_ld_ids_resolve_without_a_base() {
    // JSON-LD processors drop nodes whose relative ids they cannot resolve, so every id is
    // absolute: the notice's address, or a URN of its version when it has none.
    for (name, prefix) in [
        ("complete.toml", "https://kestrel.example/privacy"),
        ("outside-eu.toml", "urn:pledge:notice:"),
    ] {
        let json: serde_json::Value =
            serde_json::from_str(&render(&declaration(doc(name)), Format::JsonLd)).unwrap();
        let mut all = Vec::new();
        ids(&json, &mut all);
        assert!(all.len() > 10, "{name}");
        for id in all {
            let compact = ["dpv:", "pd:", "eu-gdpr:"]
                .iter()
                .any(|p| id.starts_with(p));
            assert!(compact || id.starts_with(prefix), "{name}: {id}");
        }
    }
}

#[test]
fn html_embeds_the_json_ld() {
    let html = render(&declaration(doc("complete.toml")), Format::Html);
    let start = html.find("<script type=\"application/ld+json\">").unwrap() + 35;
    let end = start + html[start..].find("</script>").unwrap();
    let json: serde_json::Value = serde_json::from_str(&html[start..end]).unwrap();
    assert_eq!(json["dct:title"], "Kestrel Labs privacy notice");
}

// --- Snapshots -------------------------------------------------------------------------------

#[test]
fn fixture_notices() {
    for name in ["complete.toml", "outside-eu.toml"] {
        let decl = declaration(doc(name));
        let stem = name.trim_end_matches(".toml");
        insta::assert_snapshot!(format!("{stem}.md"), render(&decl, Format::Markdown));
        insta::assert_snapshot!(format!("{stem}.html"), render(&decl, Format::Html));
        insta::assert_snapshot!(format!("{stem}.jsonld"), render(&decl, Format::JsonLd));
    }
}

/// The example declarations of the repository, by folder name.
fn examples() -> Vec<(String, Declaration)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let Ok(entries) = std::fs::read_dir(&root) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path().join("pledge.toml")))
        .filter(|p| p.is_file())
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let name = p
                .parent()
                .unwrap()
                .file_name()
                .unwrap()
                .to_string_lossy()
                .to_string();
            let text = std::fs::read_to_string(&p).unwrap();
            let decl = pledge_lang::load(&SourceMap::single(format!("{name}/pledge.toml"), text))
                .unwrap_or_else(|e| panic!("{name}: {e:?}"));
            (name, decl)
        })
        .collect()
}

#[test]
fn example_notices() {
    for (name, decl) in examples() {
        insta::assert_snapshot!(
            format!("example-{name}.md"),
            render(&decl, Format::Markdown)
        );
        insta::assert_snapshot!(format!("example-{name}.html"), render(&decl, Format::Html));
    }
}

/// The request statuses the API reports are DPV terms too.
#[test]
fn request_states_map_to_dpv_terms() {
    let dpv = pledge_testkit::dpv_terms("dpv.csv");
    for state in pledge_domain::workflow::STATES {
        let term = state.dpv();
        assert!(dpv.contains(term), "{state}: {term} is not in DPV");
    }
}

#[test]
fn words_from_the_catalogue_are_escaped_once_in_html() {
    let mut d = doc("complete.toml");
    d.controller.as_mut().unwrap().group =
        Some(pledge_lang::Spanned::unspanned("Smith & <Co>".into()));
    let decl = declaration(d);
    let html = render(&decl, Format::Html);
    assert!(html.contains("the Smith &amp; &lt;Co&gt; group"), "{html}");
    assert!(!html.contains("&amp;amp;") && !html.contains("<Co>"));
    let md = render(&decl, Format::Markdown);
    assert!(md.contains("We are part of the Smith & <Co> group."));
}

/// A language is its templates and its catalogue: here the English templates with a Danish
/// catalogue, which is enough to give dates, lists and language names in Danish.
#[test]
fn a_language_is_templates_and_a_catalogue() {
    let mut templates = notice::Templates::builtin();
    let builtin = |name| notice::Templates::builtin_source("en", name).unwrap();
    templates.set("da", "notice.md", builtin("notice.md"));
    let messages = builtin("messages.jinja")
        .replace(r#"{% set and = "and" %}"#, r#"{% set and = "og" %}"#)
        .replace("%} and {%", "%} og {%")
        .replace(
            r#"{{ d.day }} {{ ["January""#,
            r#"{{ d.day }}. {{ ["januar""#,
        )
        .replace(r#""March""#, r#""marts""#)
        .replace(r#""en": "English""#, r#""en": "engelsk""#)
        .replace(r#""da": "Danish""#, r#""da": "dansk""#);
    templates.set("da", "messages.jinja", messages);
    let options = Options {
        format: Format::Markdown,
        lang: "da".into(),
        effective_date: Some(Date {
            year: 2026,
            month: 3,
            day: 1,
        }),
        templates,
    };
    let mut d = doc("complete.toml");
    d.policy.as_mut().unwrap().languages = vec![
        pledge_lang::Spanned::unspanned("en".into()),
        pledge_lang::Spanned::unspanned("da-DK".into()),
    ];
    let text = notice::render(&declaration(d), &options).unwrap().text;
    assert!(text.contains("1. marts 2026"), "{text}");
    assert!(text.contains("published in engelsk og dansk."), "{text}");
}

#[test]
fn periods_are_written_by_the_catalogue() {
    let mut d = doc("complete.toml");
    d.rights.as_mut().unwrap().response_time =
        Some(pledge_lang::Spanned::unspanned("P1M15D".parse().unwrap()));
    let md = render(&declaration(d), Format::Markdown);
    assert!(
        md.contains("at the latest within 1 month and 15 days of receiving"),
        "{md}"
    );
}
