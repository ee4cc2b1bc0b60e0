//! `notice diff`: what a data subject must be told before it applies, apart from wording.

use pledge_docs::notice::diff::{NoticeDiff, diff};
use pledge_lang::load::decode;
use pledge_lang::model::*;
use pledge_lang::{Declaration, SourceMap, Spanned};
use std::path::Path;

fn doc() -> DeclarationDoc {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/complete.toml");
    let text = std::fs::read_to_string(path).unwrap();
    decode(&SourceMap::single("complete.toml", text)).unwrap()
}

fn decl(doc: DeclarationDoc) -> Declaration {
    Declaration::from_doc(doc).unwrap_or_else(|e| panic!("{e:?}"))
}

fn purpose<'a>(doc: &'a mut DeclarationDoc, id: &str) -> &'a mut Purpose {
    doc.purposes
        .iter_mut()
        .find(|p| p.id.as_str() == id)
        .unwrap()
}

/// The diff from the fixture to the fixture changed by `change`.
fn changed(change: impl FnOnce(&mut DeclarationDoc)) -> NoticeDiff {
    let mut new = doc();
    change(&mut new);
    diff(&decl(doc()), &decl(new))
}

fn kinds(changes: &[pledge_docs::notice::diff::Change]) -> Vec<&'static str> {
    changes.iter().map(|c| c.kind).collect()
}

#[track_caller]
fn material(d: &NoticeDiff, kind: &str) {
    assert!(
        kinds(&d.material).contains(&kind),
        "`{kind}` not material in {d:#?}"
    );
}

#[track_caller]
fn editorial_only(d: &NoticeDiff, kind: &str) {
    assert!(
        d.material.is_empty(),
        "unexpected material changes: {:#?}",
        d.material
    );
    assert!(
        kinds(&d.editorial).contains(&kind),
        "`{kind}` not editorial in {d:#?}"
    );
}

#[test]
fn the_same_declaration_has_no_changes() {
    let d = diff(&decl(doc()), &decl(doc()));
    assert!(d.is_empty());
    assert_eq!(d.old_version, d.new_version);
    assert!(d.human().contains("No change to what the notice says."));
}

#[test]
fn a_new_purpose_is_material() {
    let d = changed(|doc| {
        let mut p = doc.purposes[2].clone();
        p.id = Spanned::unspanned("fraud-scoring".parse().unwrap());
        doc.purposes.push(p);
    });
    material(&d, "purpose_added");
    assert_ne!(d.old_version, d.new_version);
    let removed = changed(|doc| doc.purposes.retain(|p| p.id.as_str() != "newsletter"));
    editorial_only(&removed, "purpose_removed");
}

#[test]
fn a_new_processor_purpose_is_not_ours_to_announce() {
    let d = changed(|doc| {
        let mut p = purpose(doc, "hosting-for-customers").clone();
        p.id = Spanned::unspanned("backups-for-customers".parse().unwrap());
        doc.purposes.push(p);
    });
    editorial_only(&d, "purpose_added");
}

#[test]
fn new_data_is_material_and_a_narrower_category_is_not() {
    let d = changed(|doc| {
        purpose(doc, "security")
            .categories
            .push(Spanned::unspanned("location.precise".parse().unwrap()))
    });
    material(&d, "category_added");
    assert!(
        d.material[0].message.contains("precise geolocation"),
        "{}",
        d.material[0].message
    );
    let special = changed(|doc| {
        purpose(doc, "security")
            .categories
            .push(Spanned::unspanned("special.biometric".parse().unwrap()))
    });
    assert!(special.material[0].message.contains("special category"));
    // Widening `contact.address` to all of `contact` is new data.
    let wider = changed(|doc| {
        let p = purpose(doc, "billing");
        p.categories.retain(|c| c.as_str() != "contact.address");
        p.categories
            .push(Spanned::unspanned("contact".parse().unwrap()));
    });
    material(&wider, "category_added");
    // Narrowing `contact` to `contact.email` is not: the e-mail address was within it.
    let mut broad = doc();
    purpose(&mut broad, "accounts")
        .categories
        .push(Spanned::unspanned("contact".parse().unwrap()));
    let narrower = diff(&decl(broad), &decl(doc()));
    assert!(
        !kinds(&narrower.material).contains(&"category_added"),
        "{narrower:#?}"
    );
    assert!(kinds(&narrower.editorial).contains(&"category_removed"));
}

#[test]
fn a_changed_legal_basis_or_interest_is_material() {
    let d = changed(|doc| {
        purpose(doc, "newsletter").legal_bases[0].value.basis =
            Spanned::unspanned(Basis::LegitimateInterests);
    });
    material(&d, "basis_changed");
    let d = changed(|doc| {
        purpose(doc, "security").legal_bases[0].value.interest =
            Some(Spanned::unspanned("profiling visitors".into()));
    });
    material(&d, "interest_changed");
    let d = changed(|doc| {
        purpose(doc, "billing").legal_bases[0].value.law =
            Some(Spanned::unspanned("Bookkeeping Act § 10".into()));
    });
    editorial_only(&d, "basis_law_changed");
}

#[test]
fn longer_retention_is_material_and_shorter_is_not() {
    let period = |s: &str| Some(Spanned::unspanned(s.parse().unwrap()));
    let longer = changed(|doc| {
        purpose(doc, "security")
            .retention
            .as_mut()
            .unwrap()
            .value
            .period = period("P1Y")
    });
    material(&longer, "retention_longer");
    let shorter = changed(|doc| {
        purpose(doc, "security")
            .retention
            .as_mut()
            .unwrap()
            .value
            .period = period("P30D")
    });
    editorial_only(&shorter, "retention_shorter");
    let dropped = changed(|doc| purpose(doc, "security").retention = None);
    material(&dropped, "retention_removed");
    let restarted = changed(|doc| {
        purpose(doc, "accounts")
            .retention
            .as_mut()
            .unwrap()
            .value
            .after = Some(Spanned::unspanned("your last sign-in".into()))
    });
    material(&restarted, "retention_changed");
    let mut unstated = doc();
    purpose(&mut unstated, "security").retention = None;
    editorial_only(&diff(&decl(unstated), &decl(doc())), "retention_added");
}

#[test]
fn new_recipients_transfers_and_sources_are_material() {
    let d = changed(|doc| {
        purpose(doc, "security")
            .recipients
            .push(Spanned::unspanned("analytics-vendor".parse().unwrap()))
    });
    material(&d, "recipient_added");
    let d = changed(|doc| {
        purpose(doc, "security")
            .transfers
            .push(Spanned::unspanned("analytics-us".parse().unwrap()))
    });
    material(&d, "transfer_added");
    let d = changed(|doc| {
        doc.transfers[0].mechanism = Spanned::unspanned(TransferMechanism::PrivacyShield)
    });
    material(&d, "transfer_safeguard_changed");
    let d = changed(|doc| {
        doc.transfers[0].copy = Some(Spanned::unspanned("https://kestrel.example/scc".into()))
    });
    editorial_only(&d, "transfer_copy_changed");
    let d = changed(|doc| {
        purpose(doc, "security")
            .sources
            .push(Spanned::unspanned(Source {
                kind: Spanned::unspanned(SourceKind::ThirdParty),
                name: Some(Spanned::unspanned("a fraud database".into())),
                categories: Vec::new(),
            }))
    });
    material(&d, "source_added");
    let d =
        changed(|doc| doc.recipients[0].country = Some(Spanned::unspanned("IN".parse().unwrap())));
    material(&d, "recipient_country_changed");
}

#[test]
fn automation_profiling_and_marketing_are_material() {
    let d = changed(|doc| purpose(doc, "security").profiling = true);
    material(&d, "profiling_added");
    let d = changed(|doc| purpose(doc, "billing").direct_marketing = true);
    material(&d, "direct_marketing_added");
    let d = changed(|doc| {
        purpose(doc, "credit-check")
            .automated_decisions
            .as_mut()
            .unwrap()
            .value
            .human_review = false
    });
    material(&d, "automated_decisions_changed");
    let d = changed(|doc| purpose(doc, "credit-check").automated_decisions = None);
    editorial_only(&d, "automated_decisions_removed");
}

#[test]
fn fewer_rights_are_material_and_more_are_not() {
    let d = changed(|doc| {
        doc.rights
            .as_mut()
            .unwrap()
            .offered
            .retain(|r| r.value != Right::Portability)
    });
    material(&d, "right_removed");
    let mut fewer = doc();
    fewer
        .rights
        .as_mut()
        .unwrap()
        .offered
        .retain(|r| r.value != Right::Portability);
    let d = diff(&decl(fewer), &decl(doc()));
    editorial_only(&d, "right_added");
    let d = changed(|doc| {
        doc.rights.as_mut().unwrap().response_time =
            Some(Spanned::unspanned("P2M".parse().unwrap()))
    });
    material(&d, "response_time_longer");
}

#[test]
fn trackers_that_need_consent_are_material() {
    let cookie = |name: &str, category| Cookie {
        name: Spanned::unspanned(name.into()),
        provider: None,
        category: Spanned::unspanned(category),
        kind: TrackerKind::Cookie,
        duration: Some(Spanned::unspanned("P1Y".parse().unwrap())),
        purpose: None,
        description: None,
    };
    let d = changed(|doc| {
        doc.cookies
            .push(cookie("_ads", CookieCategory::Advertising))
    });
    material(&d, "cookie_added");
    let d = changed(|doc| {
        doc.cookies
            .push(cookie("csrf", CookieCategory::StrictlyNecessary))
    });
    editorial_only(&d, "cookie_added");
    let d = changed(|doc| {
        doc.cookie_consent.as_mut().unwrap().mechanism =
            Spanned::unspanned(ConsentMechanism::ContinuedUse)
    });
    material(&d, "cookie_consent_changed");
}

#[test]
fn wording_and_contacts_are_editorial() {
    let d = changed(|doc| {
        purpose(doc, "billing").description = Some(Spanned::unspanned("We send invoices.".into()));
        purpose(doc, "billing").name = Spanned::unspanned("Invoicing".into());
        doc.controller.as_mut().unwrap().phone = Some(Spanned::unspanned("+45 11 11 11 11".into()));
        doc.policy.as_mut().unwrap().effective_date =
            Some(Spanned::unspanned("2026-06-01".parse().unwrap()));
    });
    editorial_only(&d, "purpose_description_changed");
    let kinds = kinds(&d.editorial);
    for k in [
        "purpose_renamed",
        "controller_details_changed",
        "effective_date_changed",
    ] {
        assert!(kinds.contains(&k), "{k} missing from {kinds:?}");
    }
}

#[test]
fn a_new_controller_is_material() {
    let d = changed(|doc| {
        doc.controller.as_mut().unwrap().name = Spanned::unspanned("Falcon Labs".into())
    });
    material(&d, "controller_changed");
}

#[test]
fn sale_and_sharing_are_material() {
    let d = changed(|doc| {
        doc.ccpa
            .as_mut()
            .unwrap()
            .sold
            .push(Spanned::unspanned("contact.email".parse().unwrap()))
    });
    material(&d, "ccpa_sold_added");
}

#[test]
fn reports_read_and_parse() {
    let d = changed(|doc| {
        purpose(doc, "security").profiling = true;
        purpose(doc, "billing").description = None;
    });
    let human = d.human();
    assert!(
        human.contains("Material changes: tell people before they take effect (1):"),
        "{human}"
    );
    assert!(
        human.contains("purpose `security`: now involves profiling"),
        "{human}"
    );
    assert!(human.contains("Editorial changes (1):"), "{human}");
    let json: serde_json::Value = serde_json::from_str(&d.json()).unwrap();
    assert_eq!(json["material"][0]["kind"], "profiling_added");
    assert_eq!(json["material"][0]["purpose"], "security");
    assert_eq!(json["editorial"][0]["kind"], "purpose_description_changed");
}

/// Every leaf path of the declaration's JSON Schema, as `purposes[].retention.period`.
fn schema_paths() -> Vec<String> {
    fn walk(
        schema: &serde_json::Value,
        defs: &serde_json::Value,
        path: &str,
        depth: usize,
        out: &mut Vec<String>,
    ) {
        let resolved = match schema.get("$ref").and_then(|r| r.as_str()) {
            Some(r) => &defs[r.trim_start_matches("#/$defs/")],
            None => schema,
        };
        if let Some(items) = resolved.get("items") {
            return walk(items, defs, &format!("{path}[]"), depth, out);
        }
        for key in ["anyOf", "oneOf", "allOf"] {
            if let Some(variants) = resolved.get(key).and_then(|v| v.as_array()) {
                let before = out.len();
                for v in variants {
                    walk(v, defs, path, depth, out);
                }
                if out.len() > before {
                    return;
                }
            }
        }
        match resolved.get("properties").and_then(|p| p.as_object()) {
            Some(props) if depth < 8 => {
                for (name, prop) in props {
                    let inner = if path.is_empty() {
                        name.clone()
                    } else {
                        format!("{path}.{name}")
                    };
                    walk(prop, defs, &inner, depth + 1, out);
                }
            }
            _ if !path.is_empty() => out.push(path.to_string()),
            _ => {}
        }
    }
    let schema: serde_json::Value =
        serde_json::from_str(&pledge_lang::schema::json_schema()).unwrap();
    let mut out = Vec::new();
    walk(&schema, &schema["$defs"], "", 0, &mut out);
    out.sort();
    out.dedup();
    out
}

/// The declaration fields the diff does not compare, and why. Any other field of the schema
/// must have its entry in the diff's table: adding a field to the declaration means adding
/// one entry there, or one here with its reason.
const NOT_COMPARED: &[(&str, &str)] = &[
    // Keys: items are matched by them, so a changed key reads as one removed and one added.
    ("purposes[].id", "key"),
    ("recipients[].id", "key"),
    ("transfers[].id", "key"),
    ("cookies[].name", "key"),
    (
        "subjects[].id",
        "key; purposes name their subjects, compared with the purpose",
    ),
    (
        "categories[].id",
        "key; purposes name their categories, compared with the purpose",
    ),
    // Not in the notice.
    (
        "datasets",
        "where the data is stored, not what the notice says",
    ),
    (
        "recipients[].requests",
        "how requests are forwarded to the recipient",
    ),
    ("recipients[].contract", "checked by the rules, not shown"),
    (
        "purposes[].consent_expires_after",
        "when consent is asked again, not shown",
    ),
    (
        "purposes[].legal_bases[].balancing_test",
        "checked by the rules, not shown",
    ),
    (
        "transfers[].consent_mechanism",
        "checked by the rules, not shown",
    ),
    // In the notice, but a change to them is not reported yet.
    ("categories[].name", "shown, not yet compared"),
    ("categories[].description", "shown, not yet compared"),
    (
        "subjects[].name",
        "compared through the purposes that name the group",
    ),
    ("subjects[].description", "shown, not yet compared"),
    ("subjects[].children", "shown, not yet compared"),
    ("policy.cites[]", "shown, not yet compared"),
    ("policy.languages[]", "shown, not yet compared"),
    ("controller.group", "shown, not yet compared"),
    ("controller.dpo.country", "shown, not yet compared"),
    (
        "controller.representative.country",
        "shown, not yet compared",
    ),
    ("supervisory_authority.country", "shown, not yet compared"),
    ("supervisory_authority.phone", "shown, not yet compared"),
    (
        "purposes[].automated_decisions.consequences",
        "shown, not yet compared",
    ),
    (
        "purposes[].automated_decisions.exception",
        "shown, not yet compared",
    ),
    (
        "purposes[].legal_bases[].withdrawable",
        "shown, not yet compared",
    ),
    (
        "purposes[].sources[].categories[]",
        "shown, not yet compared",
    ),
    ("recipients[].website", "shown, not yet compared"),
    ("transfers[].recipient", "shown, not yet compared"),
    ("rights.authorized_agents", "shown, not yet compared"),
    ("cookie_consent.reject_all", "shown, not yet compared"),
    ("cookie_consent.reask_after", "shown, not yet compared"),
    ("cookie_consent.honours_gpc", "shown, not yet compared"),
    ("cookies[].kind", "shown, not yet compared"),
    ("cookies[].purpose", "shown, not yet compared"),
    ("cookies[].description", "shown, not yet compared"),
    ("security[].description", "shown, not yet compared"),
    ("ccpa.opt_out_link", "shown, not yet compared"),
    ("ccpa.honours_gpc", "shown, not yet compared"),
    ("ccpa.financial_incentive", "shown, not yet compared"),
    ("ccpa.sells_minors", "shown, not yet compared"),
];

#[test]
fn every_field_has_one_entry_in_the_diff_table() {
    let compared = pledge_docs::notice::diff::compared_paths();
    let schema = schema_paths();
    // A path the schema also has below it (a list that may be written as a string, an
    // optional table) is not a field of its own.
    let leaves: Vec<&String> = schema
        .iter()
        .filter(|p| {
            !schema.iter().any(|q| {
                q.len() > p.len()
                    && q.starts_with(p.as_str())
                    && q[p.len()..].starts_with(['.', '['])
            })
        })
        .collect();
    let listed = |p: &str| {
        NOT_COMPARED.iter().any(|(n, _)| {
            p == *n
                || p.strip_prefix(n)
                    .is_some_and(|rest| rest.starts_with(['.', '[']))
        })
    };
    let missing: Vec<&&String> = leaves
        .iter()
        .filter(|p| !compared.contains(p) && !listed(p))
        .collect();
    assert!(
        missing.is_empty(),
        "fields neither in the diff table nor in NOT_COMPARED: {missing:#?}"
    );
    let unknown: Vec<&String> = compared
        .iter()
        .filter(|p| !schema.contains(p) && !p.ends_with("[]"))
        .collect();
    assert!(
        unknown.is_empty(),
        "the diff table names no such field: {unknown:#?}"
    );
    let both: Vec<&str> = NOT_COMPARED
        .iter()
        .map(|(n, _)| *n)
        .filter(|n| compared.iter().any(|c| c == n))
        .collect();
    assert!(
        both.is_empty(),
        "compared and listed as not compared: {both:?}"
    );
}
