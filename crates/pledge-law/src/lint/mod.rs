//! Lint rules: the law, applied to a declaration.
//!
//! Each [`Rule`] has a stable id, a default severity, the legal source it rests on and a check
//! function. Checks are pure functions of the [`Declaration`]; they emit [`Finding`]s through
//! a [`Ctx`]. Where the law is unsettled a rule is a warning and its explanation says why.

mod cookies;
mod live;
mod parties;
mod processing;
mod rights;
mod text;
mod transfers;

use pledge_lang::diagnostic::{Diagnostic, Severity};
use pledge_lang::load::Declaration;
use pledge_lang::source::Span;

pub use live::live_findings;

/// One rule of the law, as Pledge checks it.
#[derive(Debug)]
pub struct Rule {
    /// Stable identifier, e.g. `transfer-invalid-mechanism`. Never reused for another meaning.
    pub id: &'static str,
    pub severity: Severity,
    /// One line: what the rule requires.
    pub title: &'static str,
    /// The articles or sources it rests on.
    pub source: &'static str,
    /// Why, in a few sentences, including where the law is unsettled.
    pub explanation: &'static str,
    pub check: fn(&mut Ctx<'_>),
}

/// A rule broken by the declaration.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub rule: &'static str,
    pub severity: Severity,
    pub message: String,
    pub span: Option<Span>,
    /// How to fix it.
    pub help: String,
    pub source: &'static str,
}

impl Finding {
    pub fn to_diagnostic(&self) -> Diagnostic {
        Diagnostic {
            severity: self.severity,
            code: self.rule.to_string(),
            message: self.message.clone(),
            span: self.span,
            help: Some(self.help.clone()).filter(|h| !h.is_empty()),
            source: Some(self.source.to_string()),
        }
    }
}

/// What a check sees and where it reports.
pub struct Ctx<'a> {
    pub decl: &'a Declaration,
    rule: &'static Rule,
    findings: Vec<Finding>,
}

impl Ctx<'_> {
    /// Report a finding of the rule being checked.
    pub fn emit(
        &mut self,
        span: Option<Span>,
        message: impl Into<String>,
        help: impl Into<String>,
    ) {
        self.emit_with(self.rule.severity, span, message, help);
    }

    /// Report at another severity than the rule's default (e.g. a softer case of the rule).
    pub fn emit_with(
        &mut self,
        severity: Severity,
        span: Option<Span>,
        message: impl Into<String>,
        help: impl Into<String>,
    ) {
        self.findings.push(Finding {
            rule: self.rule.id,
            severity,
            message: message.into(),
            span,
            help: help.into(),
            source: self.rule.source,
        });
    }

    /// Whether GDPR (or UK GDPR) applies, for rules of the GDPR.
    pub fn gdpr(&self) -> bool {
        self.decl.gdpr_applies()
    }
}

/// Every rule, in the order they are documented.
pub fn rules() -> &'static [&'static Rule] {
    static ALL: &[&Rule] = &[
        &parties::CONTROLLER_IDENTITY,
        &parties::REPRESENTATIVE,
        &parties::DPO,
        &parties::SUPERVISORY_AUTHORITY,
        &processing::LEGAL_BASIS_MISSING,
        &processing::LEGITIMATE_INTEREST_STATEMENT,
        &processing::LEGAL_OBLIGATION_LAW,
        &processing::CONSENT_NOT_FREELY_GIVEN,
        &processing::CONSENT_WITHDRAWAL,
        &processing::CONSENT_BUNDLED,
        &processing::SPECIAL_CATEGORY_CONDITION,
        &processing::CRIMINAL_DATA,
        &processing::CHILDREN,
        &processing::DIRECT_MARKETING_EMAIL,
        &processing::RETENTION_MISSING,
        &processing::RETENTION_VAGUE,
        &processing::REQUIREMENT_MISSING,
        &processing::AUTOMATED_DECISIONS,
        &processing::INDIRECT_SOURCE,
        &processing::PURPOSE_INCOMPLETE,
        &processing::DPIA_LIKELY,
        &processing::SECURITY_MEASURES,
        &rights::RIGHT_MISSING,
        &rights::OBJECTION_RIGHT,
        &rights::RIGHTS_CONTACT,
        &rights::RESPONSE_TIME,
        &transfers::INVALID_MECHANISM,
        &transfers::NO_SAFEGUARD,
        &transfers::UNDECLARED_TRANSFER,
        &transfers::SAFEGUARD_COPY,
        &transfers::DESTINATION,
        &transfers::DEROGATION,
        &transfers::PROCESSOR_CONTRACT,
        &cookies::COOKIE_CONSENT,
        &cookies::COOKIE_REJECT,
        &cookies::COOKIE_INFORMATION,
        &cookies::COOKIE_PURPOSE_BASIS,
        &processing::UNDECLARED_PROCESSING,
        &processing::UNSTORED_CATEGORY,
        &processing::DATASET_IDENTITY,
        &processing::HOLD_BASIS,
        &rights::CCPA_OPT_OUT,
        &rights::CCPA_RIGHTS,
        &text::OUTDATED_REFERENCE,
    ];
    ALL
}

/// The rules checked against the live databases (`pledge check --live`), which the
/// declaration alone cannot break: [`live_findings`] reports them.
pub fn live_rules() -> &'static [&'static Rule] {
    static ALL: &[&Rule] = &[
        &live::SCHEMA_MISMATCH,
        &live::OWNER_AMBIGUOUS,
        &live::SETTING_INEFFECTIVE,
        &live::REQUEST_REFUSED,
    ];
    ALL
}

/// The rule reference as Markdown: `docs/rules.md` is this text, checked by a test.
pub fn markdown_reference() -> String {
    use std::fmt::Write;
    let mut out = String::from(
        "# Lint rules\n\n\
         Generated by `pledge rules --markdown`; do not edit by hand.\n\n\
         `pledge check` runs every rule below; the `live-` rules at the end only with `--live`, \
         against each dataset's database. Each has a stable id (use it with `--allow`), a default \
         severity and the legal source it rests on. A rule may report a softer case at a lower \
         severity; the message says which case it found.\n\n\
         | id | severity | requires | law |\n|---|---|---|---|\n",
    );
    for r in rules().iter().chain(live_rules()) {
        let _ = writeln!(
            out,
            "| [`{}`](#{}) | {} | {} | {} |",
            r.id,
            r.id,
            r.severity.as_str(),
            r.title,
            r.source
        );
    }
    for r in rules().iter().chain(live_rules()) {
        let _ = write!(
            out,
            "\n## {}\n\n**{}.** Severity: {}. Law: {}.\n\n{}\n",
            r.id,
            r.title,
            r.severity.as_str(),
            r.source,
            r.explanation
        );
    }
    out
}

/// A rule by its id, of the declaration's or the live ones.
/// The rule id closest to a misspelt `id`, for a "did you mean".
pub fn similar_rule(id: &str) -> Option<&'static str> {
    pledge_lang::de::did_you_mean(id, rules().iter().chain(live_rules()).map(|r| r.id))
}

pub fn rule(id: &str) -> Option<&'static Rule> {
    rules()
        .iter()
        .chain(live_rules())
        .copied()
        .find(|r| r.id == id)
}

/// Run every rule. Findings come sorted by place, then rule, so output is stable.
pub fn lint(decl: &Declaration) -> Vec<Finding> {
    let mut findings = Vec::new();
    for &rule in rules() {
        let mut ctx = Ctx {
            decl,
            rule,
            findings: Vec::new(),
        };
        (rule.check)(&mut ctx);
        findings.append(&mut ctx.findings);
    }
    findings.sort_by(|a, b| {
        let place = |f: &Finding| f.span.map(|s| (s.file, s.start));
        place(a).cmp(&place(b)).then(a.rule.cmp(b.rule))
    });
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_ids_are_unique_and_kebab_case() {
        let mut seen = std::collections::HashSet::new();
        for r in rules() {
            assert!(seen.insert(r.id), "{} twice", r.id);
            assert!(
                r.id.chars().all(|c| c.is_ascii_lowercase() || c == '-'),
                "{}",
                r.id
            );
            assert!(!r.source.is_empty() && !r.explanation.is_empty());
        }
    }
}
