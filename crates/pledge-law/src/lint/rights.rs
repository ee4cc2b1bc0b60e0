//! The rights people have, how they exercise them, and the CCPA's own.

use super::{Ctx, Rule};
use pledge_lang::diagnostic::Severity;
use pledge_lang::load::Declaration;
use pledge_lang::model::*;
use pledge_lang::source::Span;
use pledge_lang::types::CategoryId;

fn offered(decl: &Declaration) -> Vec<Right> {
    decl.doc()
        .rights
        .as_ref()
        .map(|r| r.offered.iter().map(|o| o.value).collect())
        .unwrap_or_default()
}

fn controller_purposes(decl: &Declaration) -> impl Iterator<Item = &Purpose> {
    decl.purposes()
        .iter()
        .filter(|p| p.role == Role::Controller)
}

fn any_basis(decl: &Declaration, bases: &[Basis]) -> Option<Span> {
    controller_purposes(decl)
        .find(|p| p.legal_bases.iter().any(|b| bases.contains(&b.basis.value)))
        .map(|p| p.id.span)
}

/// Where to point a missing-right finding: the `offered` list, or nothing.
fn rights_span(decl: &Declaration) -> Option<Span> {
    decl.doc()
        .rights
        .as_ref()
        .and_then(|r| r.offered.first().map(|o| o.span))
}

pub static RIGHT_MISSING: Rule = Rule {
    id: "right-missing",
    severity: Severity::Error,
    title: "The notice tells people of each right they have",
    source: "GDPR Art. 13(2)(b)-(d), 14(2)(c)-(e), 15-22, 77",
    explanation: "People must be told of the rights of access, rectification, erasure, restriction and complaint in every case; of portability where processing rests on consent or contract; of withdrawal where it rests on consent; and of human review where solely automated decisions are made.",
    check: right_missing,
};

fn right_missing(ctx: &mut Ctx<'_>) {
    if !ctx.gdpr() || controller_purposes(ctx.decl).next().is_none() {
        return;
    }
    let offered = offered(ctx.decl);
    let mut needed = vec![
        (Right::Access, None),
        (Right::Rectification, None),
        (Right::Erasure, None),
        (Right::Restriction, None),
        (Right::Complaint, None),
    ];
    if let Some(at) = any_basis(ctx.decl, &[Basis::Consent, Basis::Contract]) {
        needed.push((Right::Portability, Some(at)));
    }
    if let Some(at) = any_basis(ctx.decl, &[Basis::Consent]) {
        needed.push((Right::WithdrawConsent, Some(at)));
    }
    let automated = controller_purposes(ctx.decl)
        .find(|p| {
            p.automated_decisions
                .as_ref()
                .is_some_and(|a| a.significant_effects)
        })
        .map(|p| p.id.span);
    if let Some(at) = automated {
        needed.push((Right::HumanReview, Some(at)));
    }
    let default_span = rights_span(ctx.decl);
    for (right, because) in needed {
        if !offered.contains(&right) {
            ctx.emit(
                default_span.or(because),
                format!("{} ({}) is not offered", right.label(), right.article()),
                format!("add \"{}\" to `offered` in [rights]", variant_name(&right)),
            );
        }
    }
}

pub static OBJECTION_RIGHT: Rule = Rule {
    id: "objection-right",
    severity: Severity::Error,
    title: "People can object to legitimate-interest processing and, absolutely, to direct marketing",
    source: "GDPR Art. 21(1)-(4), 13(2)(b)",
    explanation: "Where processing rests on legitimate interests or a public task, the person may object on grounds relating to their situation. Objection to direct marketing is absolute and must be brought explicitly to their attention, separately from other information, at the latest at the first communication.",
    check: objection_right,
};

fn objection_right(ctx: &mut Ctx<'_>) {
    if !ctx.gdpr() || offered(ctx.decl).contains(&Right::Objection) {
        return;
    }
    let decl = ctx.decl;
    if let Some(p) = controller_purposes(decl).find(|p| p.direct_marketing) {
        let span = p.id.span;
        let id = &p.id.value;
        ctx.emit(
            Some(span),
            format!("purpose `{id}` is direct marketing, but the right to object is not offered"),
            "add \"objection\" to `offered` in [rights] and honour every objection to marketing without exception",
        );
        return;
    }
    if let Some(span) = any_basis(ctx.decl, &[Basis::LegitimateInterests, Basis::PublicTask]) {
        ctx.emit(
            Some(span),
            "processing rests on legitimate interests or a public task, but the right to object is not offered",
            "add \"objection\" to `offered` in [rights]",
        );
    }
}

pub static RIGHTS_CONTACT: Rule = Rule {
    id: "rights-contact",
    severity: Severity::Error,
    title: "People know where to send a request",
    source: "GDPR Art. 12(2), 13(1)(a)",
    explanation: "The controller must facilitate the exercise of rights. A notice that lists rights without saying where to send a request, and gives no contact for the controller either, leaves people without a way to act.",
    check: rights_contact,
};

fn rights_contact(ctx: &mut Ctx<'_>) {
    if !ctx.gdpr() {
        return;
    }
    let doc = ctx.decl.doc();
    let controller_reachable = doc
        .controller
        .as_ref()
        .is_some_and(|c| c.email.is_some() || c.contact_form.is_some());
    // Rights that are missing are `right-missing`'s to report; this rule asks only whether a
    // request can reach the controller, with or without a [rights] section.
    match &doc.rights {
        Some(rights) if rights.contact.is_none() && !controller_reachable => ctx.emit(
            rights_span(ctx.decl),
            "no contact is given for rights requests",
            "add `contact` (an e-mail address or a web form URL) to [rights]",
        ),
        None if !controller_reachable && controller_purposes(ctx.decl).next().is_some() => ctx.emit(
            None,
            "the declaration has no [rights] section, and no contact for the controller",
            "add [rights] with `offered` (the rights people have) and `contact` (where to send a request)",
        ),
        _ => {}
    }
}

pub static RESPONSE_TIME: Rule = Rule {
    id: "response-time",
    severity: Severity::Error,
    title: "Requests are answered within the legal deadline",
    source: "GDPR Art. 12(3); CCPA § 1798.130(a)(2)",
    explanation: "GDPR: one month from receipt, extendable by two further months for complex or numerous requests with notice to the person. CCPA: 45 calendar days, extendable once by 45. A promised response time beyond the limit is a breach in advance.",
    check: response_time,
};

fn response_time(ctx: &mut Ctx<'_>) {
    let Some(time) = ctx.decl.doc().rights.as_ref().and_then(|r| r.response_time) else {
        return;
    };
    let days = time.approx_days();
    if ctx.gdpr() && days > 31.0 {
        ctx.emit(
            Some(time.span),
            format!("requests are answered within {}, beyond the one month of Art. 12(3)", time.to_words()),
            "promise one month (`P1M`); extend by up to two months only for complex requests, telling the person why",
        );
    } else if ctx.decl.applies(Regime::Ccpa) && days > 45.0 {
        ctx.emit(
            Some(time.span),
            format!(
                "requests are answered within {}, beyond the 45 days of the CCPA",
                time.to_words()
            ),
            "promise 45 days (`P45D`) at most",
        );
    }
}

pub static CCPA_OPT_OUT: Rule = Rule {
    id: "ccpa-opt-out",
    severity: Severity::Error,
    title: "A business that sells or shares offers an opt-out and honours GPC",
    source: "CCPA § 1798.120, 1798.135; CCPA Regulations § 7025, 7026",
    explanation: "A business that sells personal information or shares it for cross-context behavioural advertising must post a \"Do Not Sell or Share My Personal Information\" link (or honour opt-out preference signals in a frictionless manner), must treat Global Privacy Control as a valid opt-out, and needs opt-in consent to sell or share data of consumers under 16.",
    check: ccpa_opt_out,
};

fn ccpa_opt_out(ctx: &mut Ctx<'_>) {
    if !ctx.decl.applies(Regime::Ccpa) {
        return;
    }
    let Some(ccpa) = &ctx.decl.doc().ccpa else {
        ctx.emit(
            None,
            "CCPA applies but the declaration has no [ccpa] section",
            "add [ccpa] saying which categories are sold (`sold`) or shared (`shared`), empty lists if none",
        );
        return;
    };
    let Some(first) = ccpa.sold.first().or(ccpa.shared.first()) else {
        return;
    };
    let span = Some(first.span);
    if ccpa.opt_out_link.is_none() {
        ctx.emit(
            span,
            "personal information is sold or shared but no opt-out link is declared",
            "publish a \"Do Not Sell or Share My Personal Information\" link and set `opt_out_link`",
        );
    }
    if !ccpa.honours_gpc {
        ctx.emit(
            span,
            "personal information is sold or shared but Global Privacy Control is not honoured",
            "treat `Sec-GPC: 1` as an opt-out of sale and sharing, then set `honours_gpc = true`",
        );
    }
    if ccpa.sells_minors {
        ctx.emit(
            span,
            "data of consumers under 16 is sold or shared",
            "obtain opt-in consent (from a parent under 13) before selling or sharing it (§ 1798.120(c))",
        );
    }
    if !offered(ctx.decl).contains(&Right::OptOutOfSale) {
        ctx.emit(
            span,
            "the right to opt out of sale and sharing is not offered",
            "add \"opt_out_of_sale\" to `offered` in [rights]",
        );
    }
}

pub static CCPA_RIGHTS: Rule = Rule {
    id: "ccpa-rights",
    severity: Severity::Error,
    title: "Californians are told of their CCPA rights",
    source: "CCPA § 1798.100-1798.125, 1798.130(a)(5)",
    explanation: "The privacy policy must describe the rights to know, delete and correct, to limit the use of sensitive personal information where it is used beyond what § 7027(m) permits, and to non-discrimination.",
    check: ccpa_rights,
};

fn ccpa_rights(ctx: &mut Ctx<'_>) {
    if !ctx.decl.applies(Regime::Ccpa) {
        return;
    }
    let offered = offered(ctx.decl);
    // Access, erasure and rectification are GDPR rights too; `right-missing` reports them
    // where GDPR applies, and one finding per missing right is enough.
    let mut needed = if ctx.gdpr() {
        vec![Right::NonDiscrimination]
    } else {
        vec![
            Right::Access,
            Right::Erasure,
            Right::Rectification,
            Right::NonDiscrimination,
        ]
    };
    // Sensitive data used only for what § 7027(m) permits (e.g. credentials to log in) gives
    // no right to limit; marketing, profiling, sale and sharing do.
    let decl = ctx.decl;
    let is_sensitive = |c: &CategoryId| {
        decl.category(c)
            .is_some_and(|i| i.sensitivity.ccpa_sensitive)
    };
    let used_beyond_permitted = controller_purposes(decl)
        .filter(|p| p.direct_marketing || p.profiling)
        .any(|p| p.categories.iter().any(|c| is_sensitive(c)));
    let sold_or_shared = decl
        .doc()
        .ccpa
        .as_ref()
        .is_some_and(|c| c.sold.iter().chain(&c.shared).any(|c| is_sensitive(c)));
    let sensitive = used_beyond_permitted || sold_or_shared;
    if sensitive {
        needed.push(Right::LimitSensitive);
    }
    let span = rights_span(ctx.decl);
    for right in needed {
        if !offered.contains(&right) {
            ctx.emit(
                span,
                format!("{} ({}) is not offered", right.label(), right.article()),
                "add it to `offered` in [rights]",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use pledge_lang::{SourceMap, load};

    fn rights_contact(text: &str) -> usize {
        let decl = load(&SourceMap::single("r.toml", text)).unwrap();
        crate::lint::lint(&decl)
            .iter()
            .filter(|f| f.rule == "rights-contact")
            .count()
    }

    #[test]
    fn a_reachable_controller_is_enough_without_a_rights_section() {
        let purpose = "[[purposes]]\nid = \"a\"\nname = \"A\"\n";
        let reachable = format!(
            "[controller]\nname = \"A\"\ncontact_form = \"https://a.example/contact\"\n{purpose}"
        );
        assert_eq!(rights_contact(&reachable), 0);
        let unreachable = format!("[controller]\nname = \"A\"\nphone = \"+1 555 0100\"\n{purpose}");
        assert_eq!(rights_contact(&unreachable), 1);
    }
}
