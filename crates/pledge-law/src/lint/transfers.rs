//! Recipients and transfers outside the EEA (GDPR Chapter V).

use super::{Ctx, Rule};
use pledge_lang::diagnostic::Severity;
use pledge_lang::law;
use pledge_lang::model::*;

pub static INVALID_MECHANISM: Rule = Rule {
    id: "transfer-invalid-mechanism",
    severity: Severity::Error,
    title: "Transfers do not rely on invalidated mechanisms",
    source: "GDPR Art. 44-46; CJEU C-362/14 (Schrems I); CJEU C-311/18 (Schrems II)",
    explanation: "The CJEU invalidated Safe Harbour on 6 October 2015 and the EU-US Privacy Shield on 16 July 2020. Transfers still resting on either have no legal basis. US recipients certified under the EU-US Data Privacy Framework (in force since 10 July 2023) may rely on it; others need standard contractual clauses with a transfer impact assessment.",
    check: invalid_mechanism,
};

fn invalid_mechanism(ctx: &mut Ctx<'_>) {
    if !ctx.gdpr() {
        return;
    }
    for t in &ctx.decl.doc().transfers {
        let (name, case) = match t.mechanism.value {
            TransferMechanism::PrivacyShield => {
                ("the EU-US Privacy Shield", "C-311/18 of 16 July 2020")
            }
            TransferMechanism::SafeHarbor => ("Safe Harbour", "C-362/14 of 6 October 2015"),
            _ => continue,
        };
        let fix = if t.country.as_str() == "US" {
            "rely on the Data Privacy Framework (`mechanism = \"dpf\"`) if the recipient is certified, or on standard contractual clauses (`scc`) with supplementary measures"
        } else {
            "rely on standard contractual clauses (`scc`) or another Art. 46 safeguard"
        };
        ctx.emit(
            Some(t.mechanism.span),
            format!(
                "transfer `{}` relies on {name}, invalidated by the CJEU in {case}",
                t.id.value
            ),
            fix,
        );
    }
}

pub static NO_SAFEGUARD: Rule = Rule {
    id: "transfer-no-safeguard",
    severity: Severity::Error,
    title: "Transfers to countries without adequacy have a safeguard",
    source: "GDPR Art. 44, 45, 46, 49",
    explanation: "Personal data may leave the EEA only to a country with an adequacy decision, under an appropriate safeguard of Art. 46 (standard contractual clauses, binding corporate rules, ...), or under a derogation of Art. 49. Claiming adequacy for a country that has none, or the Data Privacy Framework outside the United States, is no safeguard.",
    check: no_safeguard,
};

fn no_safeguard(ctx: &mut Ctx<'_>) {
    if !ctx.gdpr() {
        return;
    }
    for t in &ctx.decl.doc().transfers {
        let country = t.country.value;
        let problem = match t.mechanism.value {
            TransferMechanism::None if law::needs_safeguards(country) => Some(format!(
                "transfer `{}` to {} has no safeguard",
                t.id.value,
                country.in_prose()
            )),
            TransferMechanism::Adequacy if country.as_str() == "US" => Some(format!(
                "transfer `{}` claims adequacy for the United States, whose decision covers only recipients certified under the Data Privacy Framework",
                t.id.value
            )),
            TransferMechanism::Adequacy if law::needs_safeguards(country) => Some(format!(
                "transfer `{}` claims adequacy, but {} has no adequacy decision",
                t.id.value,
                country.in_prose()
            )),
            TransferMechanism::Dpf if country.as_str() != "US" => Some(format!(
                "transfer `{}` relies on the Data Privacy Framework, which covers only the United States",
                t.id.value
            )),
            _ => None,
        };
        if let Some(message) = problem {
            ctx.emit(
                Some(t.mechanism.span),
                message,
                "use standard contractual clauses (`scc`), binding corporate rules (`bcr`) or, for a certified US recipient, `dpf`",
            );
        }
        let supplementary_expected = matches!(
            t.mechanism.value,
            TransferMechanism::Scc | TransferMechanism::AdHocClauses
        ) && law::needs_safeguards(country);
        if supplementary_expected && t.supplementary_measures.is_none() {
            ctx.emit_with(
                Severity::Info,
                Some(t.mechanism.span),
                format!("transfer `{}` on contractual clauses records no transfer impact assessment or supplementary measures", t.id.value),
                "assess the destination's law (EDPB Recommendations 01/2020) and describe the measures in `supplementary_measures`",
            );
        }
    }
}

pub static UNDECLARED_TRANSFER: Rule = Rule {
    id: "transfer-undeclared",
    severity: Severity::Error,
    title: "Recipients outside the EEA come with a declared transfer",
    source: "GDPR Art. 13(1)(f), 44",
    explanation: "When a recipient processes data in a third country, the notice must say so and name the safeguard. A recipient located outside the EEA and the adequate countries that no transfer covers is an undisclosed, and likely unlawful, transfer. Where the controller is itself outside the EEA and subject to the GDPR through Art. 3(2), the EDPB (Guidelines 05/2021) still treats its disclosure to a recipient abroad as a transfer; as that reading is contested, the finding is then a warning.",
    check: undeclared_transfer,
};

fn undeclared_transfer(ctx: &mut Ctx<'_>) {
    if !ctx.gdpr() {
        return;
    }
    let doc = ctx.decl.doc();
    for r in &doc.recipients {
        let Some(country) = &r.country else { continue };
        if !law::needs_safeguards(country.value) {
            continue;
        }
        let covered = doc.transfers.iter().any(|t| {
            t.recipient
                .as_ref()
                .is_some_and(|id| id.value == r.id.value)
                || (t.recipient.is_none() && t.country.value == country.value)
        });
        if !covered {
            // A controller outside the EEA that falls under Art. 3(2) exports too, in the
            // EDPB's reading (Guidelines 05/2021), but that reading is contested: warn.
            let controller_abroad = doc
                .controller
                .as_ref()
                .and_then(|c| c.country.as_ref())
                .is_some_and(|c| !law::in_eea(c.value));
            let (severity, why) = if controller_abroad {
                (
                    Severity::Warning,
                    " (the controller is itself outside the EEA; the EDPB still counts this as a transfer, Guidelines 05/2021)",
                )
            } else {
                (Severity::Error, "")
            };
            ctx.emit_with(
                severity,
                Some(country.span),
                format!(
                    "recipient `{}` is in {} but no transfer to it is declared{why}",
                    r.id.value,
                    country.in_prose()
                ),
                "declare a [[transfers]] entry with `recipient` and its safeguard (`mechanism`)",
            );
        }
    }
    for p in ctx.decl.purposes() {
        for rid in &p.recipients {
            let Some(r) = ctx.decl.recipient(rid) else {
                continue;
            };
            let Some(country) = r.country.filter(|c| law::needs_safeguards(c.value)) else {
                continue;
            };
            let listed = p.transfers.iter().any(|tid| {
                ctx.decl.transfer(tid).is_some_and(|t| {
                    t.recipient.as_ref().is_some_and(|x| x.value == r.id.value)
                        || t.country.value == country.value
                })
            });
            let exists = doc
                .transfers
                .iter()
                .any(|t| t.recipient.as_ref().is_some_and(|x| x.value == r.id.value));
            if exists && !listed {
                ctx.emit_with(
                    Severity::Warning,
                    Some(rid.span),
                    format!("purpose `{}` sends data to `{}` in {} but does not list the transfer", p.id.value, r.id.value, country.in_prose()),
                    "add the transfer's id to the purpose's `transfers`, so the notice shows it with this purpose",
                );
            }
        }
    }
}

pub static SAFEGUARD_COPY: Rule = Rule {
    id: "transfer-copy",
    severity: Severity::Warning,
    title: "People are told how to get a copy of the safeguards",
    source: "GDPR Art. 13(1)(f), 14(1)(f)",
    explanation: "For transfers under Art. 46 or 47 safeguards, the notice must refer to them and to the means by which a copy can be obtained or where it has been made available.",
    check: safeguard_copy,
};

fn safeguard_copy(ctx: &mut Ctx<'_>) {
    if !ctx.gdpr() {
        return;
    }
    for t in &ctx.decl.doc().transfers {
        let needs_copy = matches!(
            t.mechanism.value,
            TransferMechanism::Scc
                | TransferMechanism::Bcr
                | TransferMechanism::Certification
                | TransferMechanism::CodeOfConduct
                | TransferMechanism::AdHocClauses
        );
        if needs_copy && t.copy.is_none() {
            ctx.emit(
                Some(t.mechanism.span),
                format!(
                    "transfer `{}` does not say how to obtain a copy of its safeguards",
                    t.id.value
                ),
                "add `copy`, e.g. \"on request to privacy@example.com\" or a URL",
            );
        }
    }
}

pub static DESTINATION: Rule = Rule {
    id: "transfer-destination",
    severity: Severity::Warning,
    title: "Transfers name the countries data goes to",
    source: "GDPR Art. 13(1)(f), 14(1)(f); WP29 Guidelines on transparency (WP260 rev.01), Annex",
    explanation: "The notice must tell people that data will be transferred to a third country. The transparency guidelines add that, for the information to be meaningful and fair, the third countries should generally be named: \"countries outside the EU/EEA\" or \"wherever our suppliers have facilities\" lets no one judge the risk. A transfer to a country the notice does not name (`ZZ`) is a warning.",
    check: destination,
};

fn destination(ctx: &mut Ctx<'_>) {
    if !ctx.gdpr() {
        return;
    }
    for t in &ctx.decl.doc().transfers {
        if t.country.is_unnamed() {
            ctx.emit(
                Some(t.country.span),
                format!(
                    "transfer `{}` does not name the country data goes to",
                    t.id.value
                ),
                "name the destination countries (`country`), one transfer per country",
            );
        }
    }
}

pub static DEROGATION: Rule = Rule {
    id: "transfer-derogation",
    severity: Severity::Warning,
    title: "Derogations are specific, and used only for occasional transfers",
    source: "GDPR Art. 49; EDPB Guidelines 2/2018",
    explanation: "The derogations of Art. 49 are exceptions to be interpreted restrictively: mostly for occasional, non-repetitive transfers. A derogation must name which ground of Art. 49(1) applies; relying on one for regular transfers to a service provider is a warning because it is rarely lawful. Consent under Art. 49(1)(a) must be explicit and given for the transfer after being told of its risks: consent taken from using a site, or assumed until the person objects, is no consent at all, which is an error.",
    check: derogation,
};

fn derogation(ctx: &mut Ctx<'_>) {
    if !ctx.gdpr() {
        return;
    }
    for t in &ctx.decl.doc().transfers {
        if t.mechanism.value != TransferMechanism::Derogation {
            continue;
        }
        match &t.derogation {
            None => ctx.emit_with(
                Severity::Error,
                Some(t.mechanism.span),
                format!(
                    "transfer `{}` relies on a derogation without saying which",
                    t.id.value
                ),
                "add `derogation`, e.g. \"explicit_consent\" or \"contract_with_subject\"",
            ),
            Some(d) => ctx.emit(
                Some(d.span),
                format!(
                    "transfer `{}` relies on a derogation, allowed only for occasional transfers",
                    t.id.value
                ),
                "for regular transfers, put standard contractual clauses in place",
            ),
        }
        let implied = t
            .consent_mechanism
            .as_ref()
            .filter(|m| m.value != ConsentMechanism::OptIn);
        if let (Some(d), Some(m)) = (&t.derogation, implied)
            && d.value == Derogation::ExplicitConsent
        {
            ctx.emit_with(
                Severity::Error,
                Some(m.span),
                format!(
                    "transfer `{}` takes consent from {}, which is not the explicit consent of Art. 49(1)(a)",
                    t.id.value,
                    implied_consent(m.value)
                ),
                "ask for explicit consent to this transfer after telling the person its risks, or rely on an Art. 46 safeguard such as standard contractual clauses",
            );
        }
    }
}

/// How a consent that is not an opt-in was taken, in words.
fn implied_consent(m: ConsentMechanism) -> &'static str {
    match m {
        ConsentMechanism::ContinuedUse => "using the site or service",
        ConsentMechanism::PreTicked => "a pre-ticked box",
        ConsentMechanism::OptOut => "the absence of an objection",
        ConsentMechanism::BrowserSettings => "browser settings",
        ConsentMechanism::OptIn => "an opt-in",
    }
}

pub static PROCESSOR_CONTRACT: Rule = Rule {
    id: "recipient-contract",
    severity: Severity::Error,
    title: "Processors work under a contract, joint controllers under an arrangement",
    source: "GDPR Art. 28(3), 26(1)-(2)",
    explanation: "Processing by a processor must be governed by a contract with the content of Art. 28(3). Joint controllers must determine their responsibilities in an arrangement whose essence is made available to people. An undeclared contract is a warning; a declared absence is an error.",
    check: processor_contract,
};

fn processor_contract(ctx: &mut Ctx<'_>) {
    if !ctx.gdpr() {
        return;
    }
    for r in &ctx.decl.doc().recipients {
        let what = match r.role.value {
            RecipientRole::Processor => "a processing agreement (Art. 28(3))",
            RecipientRole::JointController => "a joint-controller arrangement (Art. 26)",
            _ => continue,
        };
        match &r.contract {
            Some(c) if !c.value => ctx.emit(
                Some(c.span),
                format!("recipient `{}` has no {what}", r.id.value),
                "sign the agreement and set `contract = true`",
            ),
            Some(_) => {}
            None => ctx.emit_with(
                Severity::Warning,
                Some(r.role.span),
                format!(
                    "it is not declared whether recipient `{}` has {what}",
                    r.id.value
                ),
                "set `contract = true` once the agreement is in place",
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use pledge_lang::{SourceMap, load};

    /// The findings of one rule on a declaration written with a transfer.
    fn findings(rule: &str, transfer: &str) -> Vec<String> {
        let text = format!("[[transfers]]\nid = \"t\"\n{transfer}");
        let decl = load(&SourceMap::single("t.toml", text)).unwrap();
        crate::lint::lint(&decl)
            .into_iter()
            .filter(|f| f.rule == rule)
            .map(|f| format!("{}: {}", f.severity.as_str(), f.message))
            .collect()
    }

    #[test]
    fn consent_taken_from_use_is_no_explicit_consent() {
        let derogation =
            "country = \"AU\"\nmechanism = \"derogation\"\nderogation = \"explicit_consent\"\n";
        let implied = findings(
            "transfer-derogation",
            &format!("{derogation}consent_mechanism = \"continued_use\"\n"),
        );
        assert_eq!(implied.len(), 2, "{implied:?}");
        assert!(implied[1].starts_with("error: transfer `t` takes consent from using the site"));
        let asked = findings(
            "transfer-derogation",
            &format!("{derogation}consent_mechanism = \"opt_in\"\n"),
        );
        assert_eq!(asked.len(), 1, "{asked:?}");
    }

    #[test]
    fn an_unnamed_destination_is_reported() {
        let unnamed = findings(
            "transfer-destination",
            "country = \"ZZ\"\nmechanism = \"scc\"\n",
        );
        assert_eq!(
            unnamed,
            ["warning: transfer `t` does not name the country data goes to"]
        );
        assert!(
            findings(
                "transfer-destination",
                "country = \"US\"\nmechanism = \"scc\"\n"
            )
            .is_empty()
        );
    }
}
