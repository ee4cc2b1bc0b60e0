//! Who the controller is and who people can turn to.

use super::{Ctx, Rule};
use pledge_lang::diagnostic::Severity;
use pledge_lang::law;
use pledge_lang::model::{Right, Role};

pub static CONTROLLER_IDENTITY: Rule = Rule {
    id: "controller-identity",
    severity: Severity::Error,
    title: "The controller's identity and contact details are given",
    source: "GDPR Art. 13(1)(a), 14(1)(a)",
    explanation: "A notice must say who the controller is and how to reach it. A name alone is not enough: people need an address and a direct way to write (e-mail, telephone or a web form). A postal address is expected for identification; its absence is a warning.",
    check: controller_identity,
};

fn controller_identity(ctx: &mut Ctx<'_>) {
    if !ctx.gdpr() {
        return;
    }
    let Some(c) = &ctx.decl.doc().controller else {
        ctx.emit(
            None,
            "the declaration names no controller",
            "add a [controller] section with name, address, country and email",
        );
        return;
    };
    if c.email.is_none() && c.phone.is_none() && c.contact_form.is_none() {
        ctx.emit(
            Some(c.name.span),
            format!("no way to contact {} is given", c.name.value),
            "add `email`, `phone` or `contact_form` to [controller]",
        );
    }
    if c.address.is_none() {
        ctx.emit_with(
            Severity::Warning,
            Some(c.name.span),
            format!("no address is given for {}", c.name.value),
            "add the postal address of the main establishment as `address`",
        );
    }
}

pub static REPRESENTATIVE: Rule = Rule {
    id: "representative-missing",
    severity: Severity::Warning,
    title: "A controller outside the EU names its EU representative",
    source: "GDPR Art. 27, 13(1)(a)",
    explanation: "A controller not established in the Union whose processing falls under GDPR Art. 3(2) must designate a representative in the Union and name it in the notice. Art. 27(2) exempts occasional processing that is not large-scale and excludes special categories, so this is a warning: confirm the exemption applies, or name the representative.",
    check: representative,
};

fn representative(ctx: &mut Ctx<'_>) {
    if !ctx.decl.applies(pledge_lang::model::Regime::Gdpr) {
        return;
    }
    let Some(c) = &ctx.decl.doc().controller else {
        return;
    };
    let Some(country) = &c.country else { return };
    if !law::in_eea(country.value) && c.representative.is_none() {
        ctx.emit(
            Some(country.span),
            format!(
                "{} is established in {}, outside the EU/EEA, and names no EU representative",
                c.name.value,
                country.in_prose()
            ),
            "add [controller.representative] with the name and address of the representative in the Union, unless Art. 27(2) exempts you",
        );
    }
}

pub static DPO: Rule = Rule {
    id: "dpo-contact",
    severity: Severity::Error,
    title: "A designated data protection officer can be contacted",
    source: "GDPR Art. 13(1)(b), 37(1), 37(7)",
    explanation: "Where a DPO is designated, the notice must give their contact details (a name is optional). A DPO is mandatory when the core activities involve large-scale regular and systematic monitoring or large-scale special-category data; whether processing is large-scale depends on facts a declaration does not hold, so the absence of a DPO is only an informational note when special categories or profiling are declared.",
    check: dpo,
};

fn dpo(ctx: &mut Ctx<'_>) {
    if !ctx.gdpr() {
        return;
    }
    let Some(c) = &ctx.decl.doc().controller else {
        return;
    };
    match &c.dpo {
        Some(dpo) if dpo.email.is_none() && dpo.phone.is_none() && dpo.address.is_none() => ctx
            .emit(
                dpo.name.as_ref().map(|n| n.span).or(Some(c.name.span)),
                "the data protection officer has no contact details",
                "add `email` (or `phone`, `address`) to [controller.dpo]",
            ),
        Some(_) => {}
        None => {
            let decl = ctx.decl;
            let sensitive = decl.purposes().iter().find(|p| {
                p.role == Role::Controller
                    && (p.profiling
                        || p.categories.iter().any(|c| {
                            decl.category(c)
                                .is_some_and(|i| i.sensitivity.special || i.sensitivity.criminal)
                        }))
            });
            if let Some(p) = sensitive {
                ctx.emit_with(
                    Severity::Info,
                    Some(p.id.span),
                    format!(
                        "purpose `{}` involves special categories or profiling and no data protection officer is declared",
                        p.id.value
                    ),
                    "if this is a core activity on a large scale, Art. 37(1) requires a DPO: add [controller.dpo]",
                );
            }
        }
    }
}

pub static SUPERVISORY_AUTHORITY: Rule = Rule {
    id: "complaint-authority",
    severity: Severity::Warning,
    title: "The right to complain names a supervisory authority",
    source: "GDPR Art. 13(2)(d), 77",
    explanation: "People have the right to lodge a complaint with a supervisory authority, in particular where they live or work or where the infringement took place. The law requires telling them of the right; naming the lead authority with its contact details is what regulators and the EDPB transparency guidelines expect, so its absence is a warning.",
    check: supervisory_authority,
};

fn supervisory_authority(ctx: &mut Ctx<'_>) {
    if !ctx.gdpr() || ctx.decl.doc().supervisory_authority.is_some() {
        return;
    }
    let offers_complaint = ctx
        .decl
        .doc()
        .rights
        .as_ref()
        .is_some_and(|r| r.offered.iter().any(|o| o.value == Right::Complaint));
    // Without the right itself, `right-missing` already reports; one finding is enough.
    if offers_complaint {
        ctx.emit(
            None,
            "the right to complain is offered but no supervisory authority is named",
            "add [supervisory_authority] with the name, address and website of your lead authority",
        );
    }
}
