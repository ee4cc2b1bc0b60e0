//! Purposes: their legal bases, consent, special categories, retention, and how they match
//! the datasets where the data actually lives.

use super::{Ctx, Rule};
use pledge_lang::diagnostic::Severity;
use pledge_lang::load::Declaration;
use pledge_lang::model::*;
use pledge_lang::types::CategoryId;
use std::collections::HashSet;

/// Purposes the company decides itself; as a processor, the customer's notice covers them.
fn controller_purposes(decl: &Declaration) -> impl Iterator<Item = &Purpose> {
    decl.purposes()
        .iter()
        .filter(|p| p.role == Role::Controller)
}

fn has_basis(p: &Purpose, basis: Basis) -> bool {
    p.legal_bases.iter().any(|b| b.basis.value == basis)
}

pub static LEGAL_BASIS_MISSING: Rule = Rule {
    id: "legal-basis-missing",
    severity: Severity::Error,
    title: "Every purpose has a legal basis",
    source: "GDPR Art. 6(1), 13(1)(c)",
    explanation: "Processing is lawful only on one of the six bases of Art. 6(1), and the notice must state the basis of each purpose.",
    check: legal_basis_missing,
};

fn legal_basis_missing(ctx: &mut Ctx<'_>) {
    if !ctx.gdpr() {
        return;
    }
    for p in controller_purposes(ctx.decl) {
        if p.legal_bases.is_empty() {
            ctx.emit(
                Some(p.id.span),
                format!("purpose `{}` has no legal basis", p.id.value),
                "add `legal_bases`, e.g. [\"contract\"] or [{ basis = \"legitimate_interests\", interest = \"...\" }]",
            );
        }
    }
}

pub static LEGITIMATE_INTEREST_STATEMENT: Rule = Rule {
    id: "legitimate-interest-statement",
    severity: Severity::Error,
    title: "Legitimate interests are stated, and weighed",
    source: "GDPR Art. 6(1)(f), 13(1)(d), 5(2); Recital 47",
    explanation: "When relying on legitimate interests the notice must say which interests are pursued. The controller must also be able to show a balancing test against the person's interests (accountability); a missing record of that test is informational.",
    check: legitimate_interest_statement,
};

fn legitimate_interest_statement(ctx: &mut Ctx<'_>) {
    if !ctx.gdpr() {
        return;
    }
    for p in controller_purposes(ctx.decl) {
        for b in p
            .legal_bases
            .iter()
            .filter(|b| b.basis.value == Basis::LegitimateInterests)
        {
            if b.interest.as_ref().is_none_or(|i| i.trim().is_empty()) {
                ctx.emit(
                    Some(b.span),
                    format!("purpose `{}` relies on legitimate interests without saying which", p.id.value),
                    "add `interest = \"...\"` naming the interest pursued, e.g. \"preventing fraud on our platform\"",
                );
            } else if b.balancing_test != Some(true) {
                ctx.emit_with(
                    Severity::Info,
                    Some(b.span),
                    format!(
                        "no balancing test is recorded for the legitimate interests of `{}`",
                        p.id.value
                    ),
                    "document the test and set `balancing_test = true`",
                );
            }
        }
    }
}

pub static LEGAL_OBLIGATION_LAW: Rule = Rule {
    id: "legal-obligation-law",
    severity: Severity::Warning,
    title: "A legal obligation or public task names its law",
    source: "GDPR Art. 6(1)(c), 6(1)(e), 6(3)",
    explanation: "The basis of an obligation or public task must be laid down by Union or Member State law. Naming it lets people and regulators check it, and bounds the retention that follows from it.",
    check: legal_obligation_law,
};

fn legal_obligation_law(ctx: &mut Ctx<'_>) {
    if !ctx.gdpr() {
        return;
    }
    for p in controller_purposes(ctx.decl) {
        for b in &p.legal_bases {
            let needs_law = matches!(b.basis.value, Basis::LegalObligation | Basis::PublicTask);
            if needs_law && b.law.is_none() {
                ctx.emit(
                    Some(b.span),
                    format!(
                        "purpose `{}` relies on {} without naming the law",
                        p.id.value,
                        b.basis.label()
                    ),
                    "add `law = \"...\"`, e.g. \"Danish Bookkeeping Act § 10\"",
                );
            }
        }
    }
}

pub static CONSENT_NOT_FREELY_GIVEN: Rule = Rule {
    id: "consent-invalid",
    severity: Severity::Error,
    title: "Consent is a clear affirmative act",
    source: "GDPR Art. 4(11), 7; Recital 32; CJEU C-673/17 (Planet49)",
    explanation: "Consent must be a freely given, specific, informed and unambiguous indication by a clear affirmative act. Silence, pre-ticked boxes, inactivity or carrying on using a site are not consent; the CJEU confirmed this for pre-ticked boxes in Planet49 (1 October 2019).",
    check: consent_not_freely_given,
};

fn mechanism_problem(m: ConsentMechanism) -> Option<&'static str> {
    match m {
        ConsentMechanism::OptIn => None,
        ConsentMechanism::PreTicked => Some("pre-ticked boxes"),
        ConsentMechanism::ContinuedUse => Some("continued use of the site or service"),
        ConsentMechanism::OptOut => Some("the absence of an objection"),
        ConsentMechanism::BrowserSettings => Some("browser settings"),
    }
}

fn consent_not_freely_given(ctx: &mut Ctx<'_>) {
    if !ctx.gdpr() {
        return;
    }
    for p in controller_purposes(ctx.decl) {
        for b in p
            .legal_bases
            .iter()
            .filter(|b| b.basis.value == Basis::Consent)
        {
            if let Some(m) = &b.mechanism
                && let Some(problem) = mechanism_problem(m.value)
            {
                ctx.emit(
                    Some(m.span),
                    format!("purpose `{}` takes consent from {problem}, which is not consent", p.id.value),
                    "ask with a clear affirmative act (an unticked box, an \"I agree\" button) and set `mechanism = \"opt_in\"`, or rely on another basis",
                );
            }
        }
    }
}

pub static CONSENT_WITHDRAWAL: Rule = Rule {
    id: "consent-withdrawal",
    severity: Severity::Error,
    title: "Consent can be withdrawn as easily as given, and people are told how",
    source: "GDPR Art. 7(3), 13(2)(c)",
    explanation: "Consent can be withdrawn at any time, as easily as it was given, and the notice must say so. A consent that cannot be withdrawn is not valid; a missing description of how to withdraw is a warning.",
    check: consent_withdrawal,
};

fn consent_withdrawal(ctx: &mut Ctx<'_>) {
    if !ctx.gdpr() {
        return;
    }
    for p in controller_purposes(ctx.decl) {
        for b in p
            .legal_bases
            .iter()
            .filter(|b| b.basis.value == Basis::Consent)
        {
            if let Some(w) = &b.withdrawable
                && !w.value
            {
                ctx.emit(
                    Some(w.span),
                    format!("consent for `{}` cannot be withdrawn", p.id.value),
                    "let people withdraw at any time (Art. 7(3)) and remove `withdrawable = false`",
                );
            } else if b.withdrawal.is_none() {
                ctx.emit_with(
                    Severity::Warning,
                    Some(b.span),
                    format!("purpose `{}` relies on consent but does not say how to withdraw it", p.id.value),
                    "add `withdrawal = \"...\"`, e.g. \"the unsubscribe link in every e-mail, or account settings\"",
                );
            }
        }
    }
}

pub static CONSENT_BUNDLED: Rule = Rule {
    id: "consent-bundled",
    severity: Severity::Warning,
    title: "Consent is not a condition of the contract",
    source: "GDPR Art. 7(4); Recital 43",
    explanation: "Consent is presumed not freely given when a contract or service is made conditional on consent to processing that is not necessary for it. A consent-based purpose whose data is declared contractually required suggests such bundling.",
    check: consent_bundled,
};

fn consent_bundled(ctx: &mut Ctx<'_>) {
    if !ctx.gdpr() {
        return;
    }
    for p in controller_purposes(ctx.decl) {
        let required = p.requirement.as_ref().is_some_and(|r| {
            matches!(
                r.kind.value,
                RequirementKind::Contractual | RequirementKind::ContractPrerequisite
            )
        });
        if has_basis(p, Basis::Consent) && p.legal_bases.len() == 1 && required {
            ctx.emit(
                p.requirement.as_ref().map(|r| r.span),
                format!("purpose `{}` relies on consent yet its data is required for the contract", p.id.value),
                "make the data voluntary (`requirement = \"voluntary\"`), or rely on `contract` if the processing is truly necessary for it",
            );
        }
    }
}

pub static SPECIAL_CATEGORY_CONDITION: Rule = Rule {
    id: "special-category-condition",
    severity: Severity::Error,
    title: "Special categories have an Art. 9(2) condition",
    source: "GDPR Art. 9(1)-(2)",
    explanation: "Processing of racial or ethnic origin, political opinions, religious beliefs, trade union membership, genetic, biometric, health or sex-life data is prohibited unless one of the conditions of Art. 9(2) applies, in addition to an Art. 6 basis.",
    check: special_category_condition,
};

fn special_categories<'a>(
    decl: &'a Declaration,
    p: &'a Purpose,
) -> impl Iterator<Item = &'a CategoryId> {
    p.categories
        .iter()
        .map(|c| &c.value)
        .filter(|c| decl.category(c).is_some_and(|i| i.sensitivity.special))
}

fn special_category_condition(ctx: &mut Ctx<'_>) {
    if !ctx.gdpr() {
        return;
    }
    for p in controller_purposes(ctx.decl) {
        let special: Vec<String> = special_categories(ctx.decl, p)
            .map(ToString::to_string)
            .collect();
        if !special.is_empty() && p.special_condition.is_none() {
            ctx.emit(
                Some(p.id.span),
                format!(
                    "purpose `{}` processes special categories ({}) without an Art. 9(2) condition",
                    p.id.value,
                    special.join(", ")
                ),
                "add `special_condition`, e.g. \"explicit_consent\", or stop processing these categories",
            );
        }
        if let Some(cond) = &p.special_condition
            && cond.value == SpecialCondition::ExplicitConsent
            && !has_basis(p, Basis::Consent)
        {
            ctx.emit_with(
                Severity::Warning,
                Some(cond.span),
                format!("purpose `{}` relies on explicit consent for special categories but not on consent", p.id.value),
                "explicit consent under Art. 9(2)(a) is normally paired with consent under Art. 6(1)(a): add it to `legal_bases`",
            );
        }
    }
}

pub static CRIMINAL_DATA: Rule = Rule {
    id: "criminal-data",
    severity: Severity::Warning,
    title: "Criminal-offence data is authorised by law",
    source: "GDPR Art. 10",
    explanation: "Data on criminal convictions and offences may be processed only under the control of official authority or when authorised by Union or Member State law with safeguards. A private company needs a specific national law (e.g. for background checks); name it.",
    check: criminal_data,
};

fn criminal_data(ctx: &mut Ctx<'_>) {
    if !ctx.gdpr() {
        return;
    }
    for p in controller_purposes(ctx.decl) {
        let criminal = p
            .categories
            .iter()
            .find(|c| ctx.decl.category(c).is_some_and(|i| i.sensitivity.criminal));
        let has_law = p.legal_bases.iter().any(|b| b.law.is_some());
        if let Some(c) = criminal
            && !has_law
        {
            ctx.emit(
                Some(c.span),
                format!("purpose `{}` processes criminal-offence data without naming the law that authorises it", p.id.value),
                "name the authorising law in `law` on the legal basis, or stop processing this data",
            );
        }
    }
}

pub static CHILDREN: Rule = Rule {
    id: "children-data",
    severity: Severity::Warning,
    title: "Children's data gets the protection the law gives it",
    source: "GDPR Art. 8, 6(1)(f), Recitals 38 and 71",
    explanation: "For information society services offered directly to a child, consent below 16 (or the national age, 13 at the lowest) must be given or authorised by the parent. Children merit specific protection: marketing and profiling aimed at them weigh heavily against legitimate interests, and solely automated decisions should not concern them.",
    check: children,
};

fn children(ctx: &mut Ctx<'_>) {
    if !ctx.gdpr() {
        return;
    }
    for p in controller_purposes(ctx.decl) {
        let child_group = p
            .subjects
            .iter()
            .find(|s| ctx.decl.subject(s).is_some_and(|g| g.children));
        let Some(group) = child_group else { continue };
        if has_basis(p, Basis::Consent) {
            ctx.emit(
                Some(group.span),
                format!("purpose `{}` relies on consent from a group that includes children", p.id.value),
                "obtain and verify parental consent below the national age of Art. 8(1), and describe how",
            );
        }
        if p.direct_marketing || p.profiling || p.automated_decisions.is_some() {
            ctx.emit(
                Some(group.span),
                format!("purpose `{}` markets to or profiles a group that includes children", p.id.value),
                "exclude children from this purpose, or document why their interests do not override yours",
            );
        }
    }
}

pub static DIRECT_MARKETING_EMAIL: Rule = Rule {
    id: "marketing-email-consent",
    severity: Severity::Warning,
    title: "Electronic marketing has prior consent, or fits the soft opt-in",
    source: "ePrivacy Directive 2002/58/EC Art. 13(1)-(2); GDPR Art. 21(2)-(3)",
    explanation: "Marketing by e-mail or SMS needs prior consent, except to existing customers for similar products, with a free opt-out offered at collection and in every message (the soft opt-in, whose exact scope varies by Member State). A marketing purpose on legitimate interests that uses e-mail or phone numbers is flagged for review.",
    check: direct_marketing_email,
};

fn direct_marketing_email(ctx: &mut Ctx<'_>) {
    if !ctx.gdpr() {
        return;
    }
    let email: CategoryId = "contact.email".parse().expect("built-in id");
    let phone: CategoryId = "contact.phone".parse().expect("built-in id");
    for p in controller_purposes(ctx.decl) {
        let electronic = p
            .categories
            .iter()
            .any(|c| c.is_within(&email) || c.is_within(&phone) || email.is_within(c));
        if p.direct_marketing && electronic && !has_basis(p, Basis::Consent) {
            ctx.emit(
                Some(p.id.span),
                format!("marketing purpose `{}` uses e-mail or phone without consent", p.id.value),
                "rely on consent, or limit it to existing customers and similar products with an opt-out in every message (soft opt-in)",
            );
        }
    }
}

pub static RETENTION_MISSING: Rule = Rule {
    id: "retention-missing",
    severity: Severity::Error,
    title: "Every purpose says how long data is kept",
    source: "GDPR Art. 5(1)(e), 13(2)(a), 14(2)(a); CCPA § 1798.100(a)(3)",
    explanation: "The notice must give the period for which data will be stored or, if that is not possible, the criteria used to determine it. Storage limitation requires data to be kept no longer than necessary.",
    check: retention_missing,
};

fn retention_missing(ctx: &mut Ctx<'_>) {
    let ccpa = ctx.decl.applies(Regime::Ccpa);
    if !ctx.gdpr() && !ccpa {
        return;
    }
    for p in controller_purposes(ctx.decl) {
        let stated = p
            .retention
            .as_ref()
            .is_some_and(|r| r.period.is_some() || r.criteria.is_some() || r.after.is_some());
        if !stated {
            ctx.emit(
                p.retention.as_ref().map(|r| r.span).or(Some(p.id.span)),
                format!("purpose `{}` does not say how long its data is kept", p.id.value),
                "add `retention = \"P2Y\"` or `retention = { period = \"P5Y\", after = \"the end of the financial year\" }`",
            );
        }
    }
}

pub static RETENTION_VAGUE: Rule = Rule {
    id: "retention-vague",
    severity: Severity::Warning,
    title: "Retention is a period or concrete criteria, not \"as long as necessary\"",
    source: "GDPR Art. 13(2)(a); EDPB/WP29 Guidelines on transparency (WP260 rev.01), para. 36-37",
    explanation: "Stating that data is kept \"as long as necessary\" or \"for a reasonable time\" restates the principle without informing anyone. Criteria must let a person work out the period, e.g. by naming the event that ends it.",
    check: retention_vague,
};

const VAGUE_RETENTION: &[&str] = &[
    "as long as necessary",
    "as long as is necessary",
    "as long as needed",
    "as long as required",
    "as long as reasonably",
    "as long as we need",
    "no longer than necessary",
    "no longer than is necessary",
    "reasonable period",
    "reasonable time",
    "indefinite",
    "cannot say",
    "unable to say",
    "not possible to say",
    "varies",
];

/// Whether a retention text restates the principle instead of giving a period or criteria.
pub fn is_vague_retention(text: &str) -> bool {
    let lower = text.to_lowercase();
    VAGUE_RETENTION.iter().any(|v| lower.contains(v))
}

fn retention_vague(ctx: &mut Ctx<'_>) {
    if !ctx.gdpr() {
        return;
    }
    for p in controller_purposes(ctx.decl) {
        let Some(r) = &p.retention else { continue };
        if r.period.is_some() {
            continue;
        }
        if let Some(c) = &r.criteria
            && is_vague_retention(c)
        {
            ctx.emit(
                Some(c.span),
                format!("the retention of `{}` is vague: \"{}\"", p.id.value, c.value),
                "give a period (`period = \"P2Y\"`) or name the event that ends it (`after = \"account closure\"`)",
            );
        }
    }
}

pub static REQUIREMENT_MISSING: Rule = Rule {
    id: "requirement-missing",
    severity: Severity::Warning,
    title: "People are told whether they must provide the data",
    source: "GDPR Art. 13(2)(e)",
    explanation: "For data collected from the person, the notice must say whether providing it is a statutory or contractual requirement or needed to enter a contract, whether they must provide it, and what happens if they do not. It matters most for contract and legal-obligation purposes; for others it is informational.",
    check: requirement_missing,
};

fn requirement_missing(ctx: &mut Ctx<'_>) {
    if !ctx.gdpr() {
        return;
    }
    for p in controller_purposes(ctx.decl) {
        let from_subject = p.sources.is_empty()
            || p.sources
                .iter()
                .any(|s| s.kind.value == SourceKind::Subject);
        if !from_subject || p.requirement.is_some() {
            continue;
        }
        let severity = if has_basis(p, Basis::Contract) || has_basis(p, Basis::LegalObligation) {
            Severity::Warning
        } else {
            Severity::Info
        };
        ctx.emit_with(
            severity,
            Some(p.id.span),
            format!("purpose `{}` does not say whether providing the data is required", p.id.value),
            "add `requirement = { kind = \"contractual\", consequences = \"...\" }` (or \"statutory\", \"contract_prerequisite\", \"voluntary\")",
        );
    }
}

pub static AUTOMATED_DECISIONS: Rule = Rule {
    id: "automated-decisions",
    severity: Severity::Error,
    title: "Solely automated decisions with significant effects are allowed and safeguarded",
    source: "GDPR Art. 22, 13(2)(f)",
    explanation: "A decision based solely on automated processing that has legal or similarly significant effects is allowed only when necessary for a contract, authorised by law, or based on explicit consent. For contract and consent the person must be able to obtain human intervention, express their view and contest the decision. Special categories need explicit consent or substantial public interest (Art. 22(4)).",
    check: automated_decisions,
};

fn automated_decisions(ctx: &mut Ctx<'_>) {
    if !ctx.gdpr() {
        return;
    }
    for p in controller_purposes(ctx.decl) {
        let Some(ad) = &p.automated_decisions else {
            continue;
        };
        if !ad.significant_effects {
            continue;
        }
        match &ad.exception {
            None => ctx.emit(
                Some(ad.span),
                format!("purpose `{}` makes significant automated decisions without an Art. 22(2) exception", p.id.value),
                "set `exception` to \"contract\", \"law\" or \"explicit_consent\", or put a human in the loop",
            ),
            Some(e) if e.value != AutomatedDecisionException::Law && !ad.human_review => ctx.emit(
                Some(e.span),
                format!("people cannot obtain human review of the automated decisions of `{}`", p.id.value),
                "offer human intervention and a way to contest the decision, then set `human_review = true`",
            ),
            Some(_) => {}
        }
        let special = special_categories(ctx.decl, p).next().is_some();
        let allowed = matches!(
            p.special_condition.as_ref().map(|c| c.value),
            Some(SpecialCondition::ExplicitConsent | SpecialCondition::SubstantialPublicInterest)
        );
        if special && !allowed {
            ctx.emit(
                Some(ad.span),
                format!("purpose `{}` bases automated decisions on special categories", p.id.value),
                "Art. 22(4) allows this only with explicit consent or for substantial public interest",
            );
        }
    }
}

pub static INDIRECT_SOURCE: Rule = Rule {
    id: "source-missing",
    severity: Severity::Error,
    title: "Data not obtained from the person names its source",
    source: "GDPR Art. 14(1)(d), 14(2)(f)",
    explanation: "When data comes from someone other than the person, the notice must give the categories concerned and the source, including whether it came from publicly accessible sources.",
    check: indirect_source,
};

fn indirect_source(ctx: &mut Ctx<'_>) {
    if !ctx.gdpr() {
        return;
    }
    for p in controller_purposes(ctx.decl) {
        for s in &p.sources {
            if matches!(s.kind.value, SourceKind::ThirdParty | SourceKind::Public)
                && s.name.is_none()
            {
                let from = if s.kind.value == SourceKind::Public {
                    "publicly accessible sources without naming them"
                } else {
                    "a third party without naming it"
                };
                ctx.emit(
                    Some(s.span),
                    format!("purpose `{}` obtains data from {from}", p.id.value),
                    "add `name` to the source (e.g. \"the lead lists we buy from data brokers\"), and `categories`",
                );
            }
        }
    }
}

pub static PURPOSE_INCOMPLETE: Rule = Rule {
    id: "purpose-incomplete",
    severity: Severity::Warning,
    title: "Every purpose names its data categories and data subjects",
    source: "GDPR Art. 13(1)(c), 14(1)(d), 30(1)(c)",
    explanation: "The record of processing must describe the categories of data subjects and of personal data per purpose, and a notice of data obtained indirectly must list the categories.",
    check: purpose_incomplete,
};

fn purpose_incomplete(ctx: &mut Ctx<'_>) {
    for p in ctx.decl.purposes() {
        if p.categories.is_empty() {
            ctx.emit(
                Some(p.id.span),
                format!("purpose `{}` names no data categories", p.id.value),
                "add `categories`, e.g. [\"identity.name\", \"contact.email\"]",
            );
        }
        if p.subjects.is_empty() {
            ctx.emit(
                Some(p.id.span),
                format!("purpose `{}` names no data subjects", p.id.value),
                "add `subjects` with ids declared under [[subjects]]",
            );
        }
    }
}

pub static DPIA_LIKELY: Rule = Rule {
    id: "dpia-likely",
    severity: Severity::Info,
    title: "High-risk processing gets a data protection impact assessment",
    source: "GDPR Art. 35(1), 35(3); WP248 rev.01",
    explanation: "A DPIA is required where processing is likely to result in a high risk, in particular systematic and extensive evaluation with significant effects, large-scale special-category data, and systematic monitoring. Scale is not in the declaration, so this is informational.",
    check: dpia_likely,
};

fn dpia_likely(ctx: &mut Ctx<'_>) {
    if !ctx.gdpr() {
        return;
    }
    for p in controller_purposes(ctx.decl) {
        let significant = p
            .automated_decisions
            .as_ref()
            .is_some_and(|a| a.significant_effects);
        let special = special_categories(ctx.decl, p).next().is_some();
        let precise_location = p
            .categories
            .iter()
            .any(|c| c.as_str() == "location.precise");
        if significant || (special && p.profiling) || (precise_location && p.profiling) {
            ctx.emit(
                Some(p.id.span),
                format!("purpose `{}` is likely high-risk processing", p.id.value),
                "carry out a DPIA before processing (Art. 35) and keep it with the declaration",
            );
        }
    }
}

pub static SECURITY_MEASURES: Rule = Rule {
    id: "security-measures",
    severity: Severity::Warning,
    title: "Security measures are described",
    source: "GDPR Art. 32, 30(1)(g)",
    explanation: "The record of processing must include, where possible, a general description of the technical and organisational security measures; declaring them also lets the notice tell people how their data is protected.",
    check: security_measures,
};

fn security_measures(ctx: &mut Ctx<'_>) {
    if ctx.gdpr() && ctx.decl.doc().security.is_empty() {
        ctx.emit(
            None,
            "no security measures are declared",
            "add [[security]] entries, e.g. security = [\"encryption_at_rest\", \"encryption_in_transit\", \"access_control\"]",
        );
    }
}

pub static UNDECLARED_PROCESSING: Rule = Rule {
    id: "undeclared-processing",
    severity: Severity::Error,
    title: "Every category stored in a dataset is declared by a purpose",
    source: "GDPR Art. 5(1)(a)-(b), 13(1)(c), 30(1)(c)",
    explanation: "Personal data held in a database is processed. If no declared purpose covers its category, the processing has no stated purpose or basis and is missing from the notice and the record.",
    check: undeclared_processing,
};

/// The category and every category above it: `contact.email`, `contact`.
fn self_and_ancestors(c: &CategoryId) -> impl Iterator<Item = CategoryId> {
    std::iter::successors(Some(c.clone()), CategoryId::parent)
}

fn undeclared_processing(ctx: &mut Ctx<'_>) {
    // A column is covered when a purpose declares its category or one above it.
    let declared: HashSet<&CategoryId> = ctx
        .decl
        .purposes()
        .iter()
        .flat_map(|p| p.categories.iter().map(|c| &c.value))
        .collect();
    for d in &ctx.decl.doc().datasets {
        for t in &d.tables {
            for (name, column) in &t.columns {
                let covered = self_and_ancestors(&column.category).any(|c| declared.contains(&c));
                if !covered {
                    ctx.emit(
                        Some(column.category.span.or(name.span)),
                        format!(
                            "column `{}.{}` of dataset `{}` holds `{}`, which no purpose declares",
                            t.name.value, name.value, d.id.value, column.category.value
                        ),
                        "add the category to the purpose that uses this column, or stop storing it",
                    );
                }
            }
        }
    }
}

pub static UNSTORED_CATEGORY: Rule = Rule {
    id: "category-not-stored",
    severity: Severity::Info,
    title: "Declared categories are found in the declared datasets",
    source: "GDPR Art. 5(1)(c), 30(1)(c)",
    explanation: "A category declared by a purpose but held in no declared dataset is either kept somewhere not yet declared (so rights requests will miss it) or not collected at all (so the notice overstates). Informational: the data may live with a processor.",
    check: unstored_category,
};

fn unstored_category(ctx: &mut Ctx<'_>) {
    let datasets = &ctx.decl.doc().datasets;
    if datasets.is_empty() {
        return;
    }
    let columns = datasets
        .iter()
        .flat_map(|d| &d.tables)
        .flat_map(|t| t.columns.values());
    // A purpose category is found when a column holds it, something below it, or something
    // above it (a column of `contact` may hold an e-mail address).
    let stored: HashSet<&CategoryId> = columns.clone().map(|c| &c.category.value).collect();
    let stored_and_above: HashSet<CategoryId> = columns
        .flat_map(|c| self_and_ancestors(&c.category))
        .collect();
    let mut reported = HashSet::new();
    let decl = ctx.decl;
    for p in controller_purposes(decl) {
        for c in &p.categories {
            let found = stored_and_above.contains(&c.value)
                || self_and_ancestors(c).any(|a| stored.contains(&a));
            if !found && reported.insert(&c.value) {
                ctx.emit(
                    Some(c.span),
                    format!("category `{}` is declared but stored in no declared dataset", c.value),
                    "declare the table and column that hold it, so that access and erasure reach it",
                );
            }
        }
    }
}

pub static DATASET_IDENTITY: Rule = Rule {
    id: "dataset-identity",
    severity: Severity::Warning,
    title: "Tables of people can be searched by a person's identity",
    source: "GDPR Art. 12(2), 15, 17",
    explanation: "To answer access and erasure requests, each table that holds people must declare the columns that identify them (e-mail, customer id, ...), unless its rows are reached through a relation.",
    check: dataset_identity,
};

fn dataset_identity(ctx: &mut Ctx<'_>) {
    for d in &ctx.decl.doc().datasets {
        for t in &d.tables {
            let related = d
                .relations
                .iter()
                .any(|r| r.from.table == t.name.value || r.to.table == t.name.value);
            if t.subject.is_some() && t.identity.is_empty() && !related {
                ctx.emit(
                    Some(t.name.span),
                    format!(
                        "table `{}` holds people but declares no identity column",
                        t.name.value
                    ),
                    "add `identity = { email = \"email\" }` (or the columns people are known by)",
                );
            }
            for kind_column in t.identity.values() {
                if !t.columns.contains_key(&kind_column.value) {
                    ctx.emit_with(
                        Severity::Info,
                        Some(kind_column.span),
                        format!("identity column `{}` of `{}` has no data category", kind_column.value, t.name.value),
                        "add it under `columns` with its category, so that the notice and erasure cover it",
                    );
                }
            }
        }
    }
}

pub static HOLD_BASIS: Rule = Rule {
    id: "hold-basis",
    severity: Severity::Warning,
    title: "Legal holds rest on a legal obligation",
    source: "GDPR Art. 17(3)(b), 6(1)(c)",
    explanation: "Keeping data after an erasure request is allowed where a legal obligation requires it. A hold should point to a purpose based on that obligation, so that the notice tells people about it.",
    check: hold_basis,
};

fn hold_basis(ctx: &mut Ctx<'_>) {
    for d in &ctx.decl.doc().datasets {
        for t in &d.tables {
            for h in &t.holds {
                let purpose = h.purpose.as_ref().and_then(|p| ctx.decl.purpose(p));
                match purpose {
                    None => ctx.emit(
                        Some(h.reason.span),
                        format!("the hold on `{}` names no purpose", t.name.value),
                        "add `purpose` naming the purpose (with a legal-obligation basis) the hold serves",
                    ),
                    Some(p) if !has_basis(p, Basis::LegalObligation) && !has_basis(p, Basis::PublicTask) => ctx.emit(
                        h.purpose.as_ref().map(|s| s.span),
                        format!("the hold on `{}` serves `{}`, which does not rest on a legal obligation", t.name.value, p.id.value),
                        "give that purpose the `legal_obligation` basis with its `law`, or remove the hold",
                    ),
                    Some(_) => {}
                }
            }
        }
    }
}
