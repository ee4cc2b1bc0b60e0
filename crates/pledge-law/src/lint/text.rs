//! Rules on what the declaration's own words cite.

use super::{Ctx, Rule};
use pledge_lang::diagnostic::Severity;
use pledge_lang::load::Declaration;
use pledge_lang::source::{Span, Spanned};

pub static OUTDATED_REFERENCE: Rule = Rule {
    id: "outdated-reference",
    severity: Severity::Warning,
    title: "The notice cites the law in force",
    source: "GDPR Art. 94; UK Data Protection Act 2018; CJEU C-362/14, C-311/18",
    explanation: "Directive 95/46/EC was repealed by the GDPR on 25 May 2018 (Art. 94) and the UK Data Protection Act 1998 by the Act of 2018. Safe Harbour and the Privacy Shield were invalidated. Citing them misleads people about their rights and suggests the processing was never reviewed.",
    check: outdated_reference,
};

/// Outdated instruments: a lower-case fragment to look for, what it is, what replaced it.
const OUTDATED: &[(&str, &str, &str)] = &[
    (
        "95/46",
        "Directive 95/46/EC",
        "the GDPR (Regulation (EU) 2016/679)",
    ),
    (
        "data protection directive",
        "the Data Protection Directive 95/46/EC",
        "the GDPR (Regulation (EU) 2016/679)",
    ),
    (
        "data protection act 1998",
        "the UK Data Protection Act 1998",
        "the UK GDPR and the Data Protection Act 2018",
    ),
    (
        "safe harbor",
        "Safe Harbour",
        "the Data Privacy Framework or standard contractual clauses",
    ),
    (
        "safe harbour",
        "Safe Harbour",
        "the Data Privacy Framework or standard contractual clauses",
    ),
    (
        "privacy shield",
        "the EU-US Privacy Shield",
        "the Data Privacy Framework or standard contractual clauses",
    ),
    (
        "2010/87/eu",
        "the 2010 standard contractual clauses",
        "the 2021 clauses (Decision (EU) 2021/914)",
    ),
    (
        "2001/497/ec",
        "the 2001 standard contractual clauses",
        "the 2021 clauses (Decision (EU) 2021/914)",
    ),
    (
        "2004/915/ec",
        "the 2004 standard contractual clauses",
        "the 2021 clauses (Decision (EU) 2021/914)",
    ),
];

fn outdated_reference(ctx: &mut Ctx<'_>) {
    for (span, text) in free_texts(ctx.decl) {
        let lower = text.to_lowercase();
        let mut seen = Vec::new();
        for (needle, what, now) in OUTDATED {
            if lower.contains(needle) && !seen.contains(what) {
                seen.push(*what);
                ctx.emit(
                    Some(span),
                    format!("cites {what}, which is no longer in force"),
                    format!("refer to {now} instead"),
                );
            }
        }
    }
}

/// Every free text of the declaration with its place: what a notice would print.
fn free_texts(decl: &Declaration) -> Vec<(Span, &str)> {
    fn text(s: &Spanned<String>) -> (Span, &str) {
        (s.span, s.value.as_str())
    }
    let doc = decl.doc();
    let mut out: Vec<(Span, &str)> = Vec::new();
    if let Some(p) = &doc.policy {
        out.extend(p.cites.iter().map(text));
        out.extend(p.changes.iter().map(text));
    }
    for p in &doc.purposes {
        out.extend(p.description.iter().map(text));
        for b in &p.legal_bases {
            out.extend(b.law.iter().chain(&b.interest).map(text));
        }
        out.extend(p.retention.iter().flat_map(|r| r.criteria.iter()).map(text));
    }
    for r in &doc.recipients {
        out.extend(r.disclosure.iter().chain(&r.service).map(text));
    }
    for t in &doc.transfers {
        out.extend(t.copy.iter().chain(&t.supplementary_measures).map(text));
    }
    out.extend(
        doc.security
            .iter()
            .flat_map(|s| s.description.iter())
            .map(text),
    );
    for d in &doc.datasets {
        for t in &d.tables {
            out.extend(t.holds.iter().map(|h| text(&h.law)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn instruments_are_matched_case_insensitively() {
        let lower = "Under EU Directive 95/46/EC".to_lowercase();
        assert!(super::OUTDATED.iter().any(|(n, _, _)| lower.contains(n)));
    }
}
