//! Cookies and similar trackers (ePrivacy Directive Art. 5(3) with GDPR consent).

use super::{Ctx, Rule};
use pledge_lang::diagnostic::Severity;
use pledge_lang::load::Declaration;
use pledge_lang::model::*;
use pledge_lang::types::IsoDuration;

fn consent_cookies(decl: &Declaration) -> impl Iterator<Item = &Cookie> {
    decl.doc()
        .cookies
        .iter()
        .filter(|c| c.category.needs_consent())
}

pub static COOKIE_CONSENT: Rule = Rule {
    id: "cookie-consent",
    severity: Severity::Error,
    title: "Non-essential cookies are set only after opt-in consent",
    source: "ePrivacy Directive 2002/58/EC Art. 5(3); GDPR Art. 4(11), 7; CJEU C-673/17 (Planet49)",
    explanation: "Storing or reading information on a person's device needs prior consent unless strictly necessary for the service they asked for. That consent has the GDPR meaning: an affirmative act. Consent inferred from continued browsing, pre-ticked boxes or browser settings is not valid (Planet49).",
    check: cookie_consent,
};

fn cookie_consent(ctx: &mut Ctx<'_>) {
    let Some(first) = consent_cookies(ctx.decl).next() else {
        return;
    };
    let (span, categories) = (first.name.span, first.category.value);
    match &ctx.decl.doc().cookie_consent {
        None => ctx.emit(
            Some(span),
            format!(
                "{} cookies and similar trackers are declared, but no consent mechanism",
                variant_name(&categories).replace('_', " ")
            ),
            "add [cookie_consent] with `mechanism = \"opt_in\"` and a banner that blocks them until accepted",
        ),
        Some(cc) if cc.mechanism.value != ConsentMechanism::OptIn => ctx.emit(
            Some(cc.mechanism.span),
            format!(
                "cookie consent is taken from {}, which is not consent",
                match cc.mechanism.value {
                    ConsentMechanism::ContinuedUse => "continued use of the site",
                    ConsentMechanism::PreTicked => "pre-ticked boxes",
                    ConsentMechanism::OptOut => "the absence of an objection",
                    ConsentMechanism::BrowserSettings => "browser settings",
                    ConsentMechanism::OptIn => "an opt-in",
                }
            ),
            "block non-essential cookies until the person accepts them, and set `mechanism = \"opt_in\"`",
        ),
        Some(_) => {}
    }
}

pub static COOKIE_REJECT: Rule = Rule {
    id: "cookie-reject",
    severity: Severity::Warning,
    title: "Refusing cookies is as easy as accepting them",
    source: "GDPR Art. 7(3), Recital 42; EDPB Cookie Banner Taskforce report (January 2023)",
    explanation: "Most supervisory authorities consider a banner without a reject option on its first layer, or with a less visible one, to invalidate consent. The EDPB taskforce report records a common position rather than a court ruling, so this is a warning.",
    check: cookie_reject,
};

fn cookie_reject(ctx: &mut Ctx<'_>) {
    if consent_cookies(ctx.decl).next().is_none() {
        return;
    }
    if let Some(cc) = &ctx.decl.doc().cookie_consent
        && cc.mechanism.value == ConsentMechanism::OptIn
        && !cc.reject_all
    {
        ctx.emit(
            Some(cc.mechanism.span),
            "the cookie banner has no \"reject all\" as prominent as \"accept all\"",
            "offer both on the first layer and set `reject_all = true`",
        );
    }
}

pub static COOKIE_INFORMATION: Rule = Rule {
    id: "cookie-information",
    severity: Severity::Warning,
    title: "Each tracker's lifetime and provider are given; consent is not kept for too long",
    source: "ePrivacy Art. 5(3) (\"clear and comprehensive information\"); CJEU C-673/17 para. 81",
    explanation: "Information on cookies must include how long they operate and whether third parties can access them (Planet49). Several authorities (CNIL, Garante) consider 13 months the longest a consent cookie or a consent choice should last; that figure is guidance rather than law, so longer lifetimes are informational.",
    check: cookie_information,
};

fn cookie_information(ctx: &mut Ctx<'_>) {
    let long = IsoDuration::months(13).approx_days();
    let doc = ctx.decl.doc();
    for c in &doc.cookies {
        match &c.duration {
            None => ctx.emit(
                Some(c.name.span),
                format!("cookie `{}` has no stated lifetime", c.name.value),
                "add `duration`, \"session\" or an ISO 8601 duration such as \"P13M\"",
            ),
            Some(d) => {
                if let CookieDuration::Persistent(p) = d.value
                    && c.category.needs_consent()
                    && p.approx_days() > long + 1.0
                {
                    ctx.emit_with(
                        Severity::Info,
                        Some(d.span),
                        format!(
                            "cookie `{}` lasts {}, longer than the 13 months authorities recommend",
                            c.name.value,
                            p.to_words()
                        ),
                        "shorten its lifetime to 13 months (P13M) or less",
                    );
                }
            }
        }
    }
    if let Some(cc) = &doc.cookie_consent
        && let Some(r) = &cc.reask_after
        && r.approx_days() > long + 1.0
    {
        ctx.emit_with(
            Severity::Info,
            Some(r.span),
            format!(
                "cookie choices are kept for {}, longer than 13 months",
                r.to_words()
            ),
            "ask again after 13 months at most (P13M)",
        );
    }
}

pub static COOKIE_PURPOSE_BASIS: Rule = Rule {
    id: "cookie-purpose-basis",
    severity: Severity::Warning,
    title: "Trackers that need consent serve consent-based purposes",
    source: "ePrivacy Art. 5(3); EDPB Guidelines 2/2023 on the technical scope of Art. 5(3); EDPB Opinion 5/2019",
    explanation: "Where consent is needed to place a tracker, the EDPB considers that the later processing of what it collects cannot rest on legitimate interests to sidestep that consent. An analytics or advertising cookie tied to a purpose without a consent basis is therefore suspect.",
    check: cookie_purpose_basis,
};

fn cookie_purpose_basis(ctx: &mut Ctx<'_>) {
    let decl = ctx.decl;
    for c in consent_cookies(decl) {
        let Some(pid) = &c.purpose else { continue };
        let Some(p) = decl.purpose(pid) else { continue };
        let consent = p
            .legal_bases
            .iter()
            .any(|b| b.basis.value == Basis::Consent);
        if !consent && p.role == Role::Controller {
            ctx.emit(
                Some(pid.span),
                format!(
                    "cookie `{}` needs consent but serves `{}`, which does not rest on consent",
                    c.name.value, p.id.value
                ),
                "base the purpose on consent, or reclassify the cookie if it is strictly necessary",
            );
        }
    }
}
