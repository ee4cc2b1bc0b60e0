//! What changed between two versions of a declaration, sorted into the changes people must
//! be told about before they take effect and the editorial ones.
//!
//! A change is **material** when it widens the processing or weakens a promise: a new
//! purpose, data category, data subject group, source, recipient or transfer; a changed legal
//! basis or legitimate interest; longer or no longer stated retention; a new automated
//! decision, profiling or direct marketing; a right withdrawn; a weaker transfer safeguard or
//! cookie consent; data newly sold or shared. Transparency and fairness (GDPR Art. 5(1)(a),
//! 12-14, Recital 39 and the EDPB transparency guidelines, WP260 rev.01 para. 29-33) require
//! telling people of such changes in advance; where the new processing rests on consent, the
//! consent has to be asked for again. Everything else (wording, contact details, narrower
//! processing, shorter retention, more rights) is **editorial**.
//!
//! Purposes, recipients and transfers are matched by id: renaming an id reads as one removed
//! and one added.

use super::view::{date_text, lower_first};
use crate::law;
use crate::load::Declaration;
use crate::model::*;
use crate::source::Spanned;
use crate::types::{CategoryId, IsoDuration};
use serde::Serialize;
use std::collections::BTreeSet;
use std::fmt::Write;

/// One change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// A stable code, e.g. `category_added`.
    pub kind: &'static str,
    pub material: bool,
    /// The purpose concerned, by id, when the change is about one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    /// One sentence saying what changed.
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new: Option<String>,
}

/// The changes between two declarations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NoticeDiff {
    pub old_version: String,
    pub new_version: String,
    pub material: Vec<Change>,
    pub editorial: Vec<Change>,
}

impl NoticeDiff {
    /// Whether people must be told before the new version takes effect.
    pub fn is_material(&self) -> bool {
        !self.material.is_empty()
    }

    pub fn is_empty(&self) -> bool {
        self.material.is_empty() && self.editorial.is_empty()
    }

    /// A report for people.
    pub fn human(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "notice {} -> {}", self.old_version, self.new_version);
        if self.is_empty() {
            out.push_str("\nNo change to what the notice says.\n");
            return out;
        }
        let section = |out: &mut String, title: &str, changes: &[Change]| {
            let _ = writeln!(out, "\n{title} ({}):", changes.len());
            if changes.is_empty() {
                out.push_str("  none\n");
            }
            for c in changes {
                let _ = writeln!(out, "  - {}", c.message);
            }
        };
        section(
            &mut out,
            "Material changes: tell people before they take effect",
            &self.material,
        );
        section(&mut out, "Editorial changes", &self.editorial);
        out
    }

    /// The report as JSON.
    pub fn json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }
}

/// Compare two declarations.
pub fn diff(old: &Declaration, new: &Declaration) -> NoticeDiff {
    let mut d = Differ {
        old,
        new,
        changes: Vec::new(),
    };
    d.policy();
    d.parties();
    d.purposes();
    d.recipients();
    d.transfers();
    d.rights();
    d.cookies();
    d.security();
    d.ccpa();
    let (material, editorial) = d.changes.into_iter().partition(|c| c.material);
    NoticeDiff {
        old_version: super::version(old),
        new_version: super::version(new),
        material,
        editorial,
    }
}

struct Differ<'a> {
    old: &'a Declaration,
    new: &'a Declaration,
    changes: Vec<Change>,
}

fn txt(s: &Option<Spanned<String>>) -> Option<String> {
    s.as_ref()
        .map(|s| s.value.trim().to_string())
        .filter(|s| !s.is_empty())
}

fn words<T: Serialize>(v: &T) -> String {
    variant_name(v).replace('_', " ")
}

fn quoted(s: &Option<String>) -> String {
    s.as_ref()
        .map_or_else(|| "nothing".to_string(), |s| format!("\"{s}\""))
}

/// Retention in days for comparison: `None` when no period is given.
fn retention_days(r: &Option<Spanned<Retention>>) -> Option<f64> {
    r.as_ref()
        .and_then(|r| r.period.as_ref())
        .map(|p| p.approx_days())
}

fn retention_text(r: &Option<Spanned<Retention>>) -> Option<String> {
    let r = r.as_ref()?;
    let mut parts = Vec::new();
    if let Some(p) = &r.period {
        parts.push(p.to_words());
    }
    if let Some(a) = txt(&r.after) {
        parts.push(if r.period.is_some() {
            format!("after {a}")
        } else {
            format!("until {a}")
        });
    }
    if let Some(c) = txt(&r.criteria) {
        parts.push(if parts.is_empty() {
            c
        } else {
            format!("({c})")
        });
    }
    (!parts.is_empty()).then(|| parts.join(" "))
}

impl Differ<'_> {
    fn push(&mut self, kind: &'static str, material: bool, purpose: Option<&str>, message: String) {
        self.push_values(kind, material, purpose, message, None, None);
    }

    fn push_values(
        &mut self,
        kind: &'static str,
        material: bool,
        purpose: Option<&str>,
        message: String,
        old: Option<String>,
        new: Option<String>,
    ) {
        self.changes.push(Change {
            kind,
            material,
            purpose: purpose.map(str::to_string),
            message,
            old,
            new,
        });
    }

    /// Report a changed optional text as an editorial change.
    fn text_field(
        &mut self,
        kind: &'static str,
        what: &str,
        purpose: Option<&str>,
        old: Option<String>,
        new: Option<String>,
    ) {
        if old != new {
            let message = format!("{what} changed from {} to {}", quoted(&old), quoted(&new));
            self.push_values(kind, false, purpose, message, old, new);
        }
    }

    fn policy(&mut self) {
        let (o, n) = (
            self.old.doc().policy.as_ref(),
            self.new.doc().policy.as_ref(),
        );
        let title = |p: Option<&Policy>| p.and_then(|p| txt(&p.title));
        self.text_field(
            "title_changed",
            "the notice's title",
            None,
            title(o),
            title(n),
        );
        let url = |p: Option<&Policy>| p.and_then(|p| p.url.as_ref().map(|u| u.to_string()));
        self.text_field("url_changed", "the notice's address", None, url(o), url(n));
        let changes = |p: Option<&Policy>| p.and_then(|p| txt(&p.changes));
        self.text_field(
            "changes_policy_changed",
            "how people are told of changes",
            None,
            changes(o),
            changes(n),
        );
        let date = |p: Option<&Policy>| {
            p.and_then(|p| p.effective_date.as_ref().map(|d| date_text(d.value)))
        };
        self.text_field(
            "effective_date_changed",
            "the effective date",
            None,
            date(o),
            date(n),
        );
        let (old_r, new_r): (BTreeSet<String>, BTreeSet<String>) = (
            self.old.regimes().iter().map(words).collect(),
            self.new.regimes().iter().map(words).collect(),
        );
        for r in new_r.difference(&old_r) {
            self.push(
                "regime_added",
                false,
                None,
                format!(
                    "the notice now also addresses {}",
                    r.replace("gdpr", "GDPR").replace("ccpa", "CCPA")
                ),
            );
        }
        for r in old_r.difference(&new_r) {
            self.push(
                "regime_removed",
                false,
                None,
                format!(
                    "the notice no longer addresses {}",
                    r.replace("gdpr", "GDPR").replace("ccpa", "CCPA")
                ),
            );
        }
    }

    fn parties(&mut self) {
        let (o, n) = (self.old.doc(), self.new.doc());
        let name = |c: Option<&Controller>| c.map(|c| c.name.value.trim().to_string());
        let (old_name, new_name) = (name(o.controller.as_ref()), name(n.controller.as_ref()));
        if old_name != new_name {
            self.push_values(
                "controller_changed",
                true,
                None,
                format!(
                    "the controller changes from {} to {}",
                    quoted(&old_name),
                    quoted(&new_name)
                ),
                old_name,
                new_name,
            );
        }
        let contact = |c: Option<&Controller>| {
            c.map(|c| {
                [
                    txt(&c.legal_form),
                    txt(&c.registration),
                    txt(&c.address),
                    c.country.map(|x| x.to_string()),
                    c.email.as_ref().map(|e| e.to_string()),
                    txt(&c.phone),
                    c.website.as_ref().map(|u| u.to_string()),
                    c.contact_form.as_ref().map(|u| u.to_string()),
                ]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(", ")
            })
        };
        self.text_field(
            "controller_details_changed",
            "the controller's details",
            None,
            contact(o.controller.as_ref()),
            contact(n.controller.as_ref()),
        );
        let party = |p: Option<&Party>| {
            p.map(|p| {
                [
                    txt(&p.name),
                    txt(&p.address),
                    p.email.as_ref().map(|e| e.to_string()),
                    txt(&p.phone),
                    p.website.as_ref().map(|u| u.to_string()),
                ]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(", ")
            })
        };
        let rep = |d: &DeclarationDoc| {
            party(
                d.controller
                    .as_ref()
                    .and_then(|c| c.representative.as_ref()),
            )
        };
        self.text_field(
            "representative_changed",
            "the EU representative",
            None,
            rep(o),
            rep(n),
        );
        let dpo = |d: &DeclarationDoc| party(d.controller.as_ref().and_then(|c| c.dpo.as_ref()));
        self.text_field(
            "dpo_changed",
            "the data protection officer",
            None,
            dpo(o),
            dpo(n),
        );
        let authority = |d: &DeclarationDoc| {
            d.supervisory_authority.as_ref().map(|a| {
                [
                    Some(a.name.value.clone()),
                    txt(&a.address),
                    a.email.as_ref().map(|e| e.to_string()),
                    a.website.as_ref().map(|u| u.to_string()),
                ]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(", ")
            })
        };
        self.text_field(
            "authority_changed",
            "the supervisory authority",
            None,
            authority(o),
            authority(n),
        );
    }

    fn category_label(decl: &Declaration, id: &CategoryId) -> String {
        decl.category(id).map_or_else(
            || id.to_string(),
            |c| format!("{} [{id}]", lower_first(&c.label)),
        )
    }

    fn purposes(&mut self) {
        let (old, new) = (self.old, self.new);
        for p in new.purposes() {
            let id = p.id.as_str();
            match old.purpose(&p.id) {
                None => self.push(
                    "purpose_added",
                    p.role == Role::Controller,
                    Some(id),
                    format!(
                        "new purpose `{id}` ({}){}",
                        p.name.value,
                        if p.role == Role::Processor {
                            ", processed for customers"
                        } else {
                            ""
                        }
                    ),
                ),
                Some(o) => self.purpose(o, p),
            }
        }
        for p in old.purposes() {
            if new.purpose(&p.id).is_none() {
                let id = p.id.as_str();
                self.push(
                    "purpose_removed",
                    false,
                    Some(id),
                    format!("purpose `{id}` ({}) is no longer carried out", p.name.value),
                );
            }
        }
    }

    fn purpose(&mut self, o: &Purpose, n: &Purpose) {
        let id = n.id.as_str();
        let pid = Some(id);
        let at = |what: &str| format!("purpose `{id}`: {what}");
        if o.name.value != n.name.value {
            let m = at(&format!(
                "renamed from \"{}\" to \"{}\"",
                o.name.value, n.name.value
            ));
            self.push_values(
                "purpose_renamed",
                false,
                pid,
                m,
                Some(o.name.value.clone()),
                Some(n.name.value.clone()),
            );
        }
        self.text_field(
            "purpose_description_changed",
            &at("the description"),
            pid,
            txt(&o.description),
            txt(&n.description),
        );
        if o.role != n.role {
            // Becoming the controller of data processed for customers is new processing of
            // our own; handing it to customers narrows ours.
            let material = n.role == Role::Controller;
            self.push(
                "role_changed",
                material,
                pid,
                at(&format!(
                    "we now act as {} (was {})",
                    words(&n.role),
                    words(&o.role)
                )),
            );
        }
        // Data processed for customers is described in their notices; changes to it are
        // reported, but are ours to tell customers under the processing agreement.
        let controller = n.role == Role::Controller;

        for c in &n.categories {
            if !o.categories.iter().any(|x| c.is_within(x)) {
                let label = Self::category_label(self.new, c);
                let special = self
                    .new
                    .category(c)
                    .is_some_and(|i| i.sensitivity.special || i.sensitivity.criminal);
                let extra = if special { ", a special category" } else { "" };
                self.push(
                    "category_added",
                    controller,
                    pid,
                    at(&format!("now collects {label}{extra}")),
                );
            }
        }
        for c in &o.categories {
            if !n.categories.iter().any(|x| c.is_within(x)) {
                let label = Self::category_label(self.old, c);
                self.push(
                    "category_removed",
                    false,
                    pid,
                    at(&format!("no longer collects {label}")),
                );
            }
        }
        let subjects = |d: &Declaration, p: &Purpose| -> BTreeSet<String> {
            p.subjects
                .iter()
                .map(|s| {
                    d.subject(s)
                        .map_or_else(|| s.to_string(), |x| x.name.value.clone())
                })
                .collect()
        };
        let (os, ns) = (subjects(self.old, o), subjects(self.new, n));
        for s in ns.difference(&os) {
            self.push(
                "subject_added",
                controller,
                pid,
                at(&format!("now concerns {s}")),
            );
        }
        for s in os.difference(&ns) {
            self.push(
                "subject_removed",
                false,
                pid,
                at(&format!("no longer concerns {s}")),
            );
        }
        self.bases(o, n, controller);
        let (oc, nc) = (
            o.special_condition.as_ref().map(|c| c.value),
            n.special_condition.as_ref().map(|c| c.value),
        );
        if oc != nc {
            let show = |c: Option<SpecialCondition>| {
                c.map_or_else(|| "none".to_string(), |c| c.article().to_string())
            };
            self.push_values(
                "special_condition_changed",
                controller,
                pid,
                at(&format!(
                    "the condition for special categories changes from {} to {}",
                    show(oc),
                    show(nc)
                )),
                oc.map(|c| c.article().to_string()),
                nc.map(|c| c.article().to_string()),
            );
        }
        self.sources(o, n, controller);
        self.retention(o, n, controller);
        let (orr, nrr): (BTreeSet<&str>, BTreeSet<&str>) = (
            o.recipients.iter().map(|r| r.as_str()).collect(),
            n.recipients.iter().map(|r| r.as_str()).collect(),
        );
        for r in nrr.difference(&orr) {
            let name = recipient_name(self.new, r);
            self.push(
                "recipient_added",
                controller,
                pid,
                at(&format!("data now goes to {name}")),
            );
        }
        for r in orr.difference(&nrr) {
            let name = recipient_name(self.old, r);
            self.push(
                "recipient_removed",
                false,
                pid,
                at(&format!("data no longer goes to {name}")),
            );
        }
        let (ot, nt): (BTreeSet<&str>, BTreeSet<&str>) = (
            o.transfers.iter().map(|t| t.as_str()).collect(),
            n.transfers.iter().map(|t| t.as_str()).collect(),
        );
        for t in nt.difference(&ot) {
            let desc = self
                .new
                .doc()
                .transfers
                .iter()
                .find(|x| x.id.as_str() == *t)
                .map_or_else(
                    || format!("`{t}`"),
                    |x| format!("to {} ({})", x.country.name(), x.mechanism.label()),
                );
            self.push(
                "transfer_added",
                controller,
                pid,
                at(&format!("data is now transferred {desc}")),
            );
        }
        for t in ot.difference(&nt) {
            self.push(
                "transfer_removed",
                false,
                pid,
                at(&format!("transfer `{t}` no longer applies")),
            );
        }
        let automated = |p: &Purpose| {
            p.automated_decisions.as_ref().map(|a| {
                format!(
                    "{}{}{}",
                    a.logic.value.trim(),
                    if a.significant_effects {
                        " [significant effects]"
                    } else {
                        ""
                    },
                    if a.human_review {
                        " [human review]"
                    } else {
                        ""
                    }
                )
            })
        };
        match (automated(o), automated(n)) {
            (None, Some(a)) => self.push_values(
                "automated_decisions_added",
                controller,
                pid,
                at("now makes automated decisions"),
                None,
                Some(a),
            ),
            (Some(a), None) => self.push_values(
                "automated_decisions_removed",
                false,
                pid,
                at("no longer makes automated decisions"),
                Some(a),
                None,
            ),
            (Some(a), Some(b)) if a != b => {
                let old_ad = o.automated_decisions.as_ref();
                let new_ad = n.automated_decisions.as_ref();
                let weaker = new_ad.is_some_and(|x| x.significant_effects)
                    && !old_ad.is_some_and(|x| x.significant_effects)
                    || old_ad.is_some_and(|x| x.human_review)
                        && !new_ad.is_some_and(|x| x.human_review)
                    || old_ad.map(|x| x.logic.value.trim()) != new_ad.map(|x| x.logic.value.trim());
                self.push_values(
                    "automated_decisions_changed",
                    controller && weaker,
                    pid,
                    at("the automated decisions change"),
                    Some(a),
                    Some(b),
                );
            }
            _ => {}
        }
        for (flag_old, flag_new, added, removed, what) in [
            (
                o.profiling,
                n.profiling,
                "profiling_added",
                "profiling_removed",
                "profiling",
            ),
            (
                o.direct_marketing,
                n.direct_marketing,
                "direct_marketing_added",
                "direct_marketing_removed",
                "direct marketing",
            ),
        ] {
            if flag_new && !flag_old {
                self.push(added, controller, pid, at(&format!("now involves {what}")));
            } else if flag_old && !flag_new {
                self.push(
                    removed,
                    false,
                    pid,
                    at(&format!("no longer involves {what}")),
                );
            }
        }
        let requirement = |p: &Purpose| {
            p.requirement.as_ref().map(|r| {
                format!(
                    "{}{}",
                    r.kind.label(),
                    txt(&r.consequences)
                        .map(|c| format!("; {c}"))
                        .unwrap_or_default()
                )
            })
        };
        self.text_field(
            "requirement_changed",
            &at("whether the data is required"),
            pid,
            requirement(o),
            requirement(n),
        );
    }

    fn bases(&mut self, o: &Purpose, n: &Purpose, controller: bool) {
        let id = n.id.as_str();
        let pid = Some(id);
        let set = |p: &Purpose| -> BTreeSet<Basis> {
            p.legal_bases.iter().map(|b| b.basis.value).collect()
        };
        let (ob, nb) = (set(o), set(n));
        let show = |s: &BTreeSet<Basis>| {
            if s.is_empty() {
                "none".to_string()
            } else {
                s.iter()
                    .map(|b| format!("{} ({})", b.label(), b.article()))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        };
        if ob != nb {
            self.push_values(
                "basis_changed",
                controller,
                pid,
                format!(
                    "purpose `{id}`: the legal basis changes from {} to {}",
                    show(&ob),
                    show(&nb)
                ),
                Some(show(&ob)),
                Some(show(&nb)),
            );
        }
        for b in n.legal_bases.iter() {
            let Some(old) = o
                .legal_bases
                .iter()
                .find(|x| x.basis.value == b.basis.value)
            else {
                continue;
            };
            let (oi, ni) = (txt(&old.interest), txt(&b.interest));
            if oi != ni {
                self.push_values(
                    "interest_changed",
                    controller,
                    pid,
                    format!(
                        "purpose `{id}`: the legitimate interest changes from {} to {}",
                        quoted(&oi),
                        quoted(&ni)
                    ),
                    oi,
                    ni,
                );
            }
            self.text_field(
                "basis_law_changed",
                &format!("purpose `{id}`: the law relied on"),
                pid,
                txt(&old.law),
                txt(&b.law),
            );
            self.text_field(
                "withdrawal_changed",
                &format!("purpose `{id}`: how to withdraw consent"),
                pid,
                txt(&old.withdrawal),
                txt(&b.withdrawal),
            );
            let mech = |x: &LegalBasis| {
                x.mechanism
                    .as_ref()
                    .map_or(ConsentMechanism::OptIn, |m| m.value)
            };
            if b.basis.value == Basis::Consent && mech(old) != mech(b) {
                self.push(
                    "consent_mechanism_changed",
                    controller && mech(b) != ConsentMechanism::OptIn,
                    pid,
                    format!(
                        "purpose `{id}`: consent is now obtained by {}",
                        mech(b).label()
                    ),
                );
            }
        }
    }

    fn sources(&mut self, o: &Purpose, n: &Purpose, controller: bool) {
        let id = n.id.as_str();
        let key = |s: &Source| (variant_name(&s.kind.value), txt(&s.name));
        let describe = |s: &Source| match txt(&s.name) {
            Some(name) => format!("{name} ({})", s.kind.label()),
            None => s.kind.label().to_string(),
        };
        for s in &n.sources {
            if !o.sources.iter().any(|x| key(x) == key(s)) {
                self.push(
                    "source_added",
                    controller,
                    Some(id),
                    format!(
                        "purpose `{id}`: data now also comes {}",
                        describe(s).replace("(from", "(")
                    ),
                );
            }
        }
        for s in &o.sources {
            if !n.sources.iter().any(|x| key(x) == key(s)) {
                self.push(
                    "source_removed",
                    false,
                    Some(id),
                    format!(
                        "purpose `{id}`: data no longer comes {}",
                        describe(s).replace("(from", "(")
                    ),
                );
            }
        }
    }

    fn retention(&mut self, o: &Purpose, n: &Purpose, controller: bool) {
        let id = n.id.as_str();
        let (ot, nt) = (retention_text(&o.retention), retention_text(&n.retention));
        if ot == nt {
            return;
        }
        let (od, nd) = (retention_days(&o.retention), retention_days(&n.retention));
        let after = |p: &Purpose| p.retention.as_ref().and_then(|r| txt(&r.after));
        let same_start = after(o) == after(n);
        let (kind, material, what) = match (od, nd) {
            _ if nt.is_none() => (
                "retention_removed",
                controller,
                "the retention is no longer stated",
            ),
            _ if ot.is_none() => ("retention_added", false, "the retention is now stated"),
            (Some(a), Some(b)) if b > a + 0.5 => {
                ("retention_longer", controller, "data is kept longer")
            }
            (Some(a), Some(b)) if b < a - 0.5 && same_start => {
                ("retention_shorter", false, "data is kept for less time")
            }
            (Some(_), None) => (
                "retention_changed",
                controller,
                "the retention period is replaced by criteria",
            ),
            // Another starting event, or other criteria: whether data is now kept longer
            // cannot be told from the declaration, so the change counts as one to tell.
            _ => ("retention_changed", controller, "the retention changes"),
        };
        self.push_values(
            kind,
            material,
            Some(id),
            format!(
                "purpose `{id}`: {what} ({} -> {})",
                ot.clone().unwrap_or_else(|| "not stated".into()),
                nt.clone().unwrap_or_else(|| "not stated".into())
            ),
            ot,
            nt,
        );
    }

    fn used_by_controller_purpose(&self, recipient: Option<&str>, transfer: Option<&str>) -> bool {
        self.new.purposes().iter().any(|p| {
            p.role == Role::Controller
                && (recipient.is_some_and(|r| p.recipients.iter().any(|x| x.as_str() == r))
                    || transfer.is_some_and(|t| p.transfers.iter().any(|x| x.as_str() == t)))
        })
    }

    fn recipients(&mut self) {
        for n in &self.new.doc().recipients {
            let Some(o) = self
                .old
                .doc()
                .recipients
                .iter()
                .find(|r| r.id.value == n.id.value)
            else {
                continue;
            };
            let id = n.id.as_str();
            let used = self.used_by_controller_purpose(Some(id), None);
            if o.name.value != n.name.value {
                self.push(
                    "recipient_renamed",
                    false,
                    None,
                    format!("recipient `{id}` is now called {}", n.name.value),
                );
            }
            if o.role.value != n.role.value {
                self.push(
                    "recipient_role_changed",
                    used,
                    None,
                    format!(
                        "recipient {} is now a {} (was a {})",
                        n.name.value,
                        n.role.label(),
                        o.role.label()
                    ),
                );
            }
            let (oc, nc) = (o.country.map(|c| c.value), n.country.map(|c| c.value));
            if oc != nc {
                let now_abroad = nc.is_some_and(|c| !law::in_eea(c));
                self.push_values(
                    "recipient_country_changed",
                    used && now_abroad,
                    None,
                    format!(
                        "recipient {} now processes data in {}",
                        n.name.value,
                        nc.map_or("an unstated country", |c| c.name())
                    ),
                    oc.map(|c| c.name().to_string()),
                    nc.map(|c| c.name().to_string()),
                );
            }
            self.text_field(
                "recipient_service_changed",
                &format!("what {} does", n.name.value),
                None,
                txt(&o.service),
                txt(&n.service),
            );
            self.text_field(
                "recipient_disclosure_changed",
                &format!("when data is disclosed to {}", n.name.value),
                None,
                txt(&o.disclosure),
                txt(&n.disclosure),
            );
        }
    }

    fn transfers(&mut self) {
        for n in &self.new.doc().transfers {
            let Some(o) = self
                .old
                .doc()
                .transfers
                .iter()
                .find(|t| t.id.value == n.id.value)
            else {
                continue;
            };
            let id = n.id.as_str();
            let used = self.used_by_controller_purpose(None, Some(id));
            if o.country.value != n.country.value {
                self.push_values(
                    "transfer_country_changed",
                    used,
                    None,
                    format!(
                        "transfer `{id}` now goes to {} (was {})",
                        n.country.name(),
                        o.country.name()
                    ),
                    Some(o.country.name().to_string()),
                    Some(n.country.name().to_string()),
                );
            }
            if o.mechanism.value != n.mechanism.value
                || o.derogation.as_ref().map(|d| d.value) != n.derogation.as_ref().map(|d| d.value)
            {
                self.push_values(
                    "transfer_safeguard_changed",
                    used,
                    None,
                    format!(
                        "transfer `{id}` to {} now relies on {}",
                        n.country.name(),
                        n.mechanism.label()
                    ),
                    Some(o.mechanism.label().to_string()),
                    Some(n.mechanism.label().to_string()),
                );
            }
            self.text_field(
                "transfer_copy_changed",
                &format!("how to obtain a copy of the safeguards of transfer `{id}`"),
                None,
                txt(&o.copy),
                txt(&n.copy),
            );
            self.text_field(
                "transfer_measures_changed",
                &format!("the supplementary measures of transfer `{id}`"),
                None,
                txt(&o.supplementary_measures),
                txt(&n.supplementary_measures),
            );
        }
    }

    fn rights(&mut self) {
        let (o, n) = (
            self.old.doc().rights.as_ref(),
            self.new.doc().rights.as_ref(),
        );
        let offered = |r: Option<&Rights>| -> BTreeSet<Right> {
            r.map(|r| r.offered.iter().map(|x| x.value).collect())
                .unwrap_or_default()
        };
        let (or, nr) = (offered(o), offered(n));
        for r in nr.difference(&or) {
            self.push(
                "right_added",
                false,
                None,
                format!("{} is now offered", r.label()),
            );
        }
        for r in or.difference(&nr) {
            self.push(
                "right_removed",
                true,
                None,
                format!("{} is no longer offered", r.label()),
            );
        }
        let contact = |r: Option<&Rights>| r.and_then(|r| txt(&r.contact));
        self.text_field(
            "rights_contact_changed",
            "where to send a request",
            None,
            contact(o),
            contact(n),
        );
        let verification = |r: Option<&Rights>| r.and_then(|r| txt(&r.verification));
        self.text_field(
            "verification_changed",
            "how identity is verified",
            None,
            verification(o),
            verification(n),
        );
        let time = |r: Option<&Rights>| r.and_then(|r| r.response_time.as_ref().map(|t| t.value));
        let (ot, nt) = (time(o), time(n));
        if ot != nt {
            let days = |t: Option<IsoDuration>| t.unwrap_or(law::GDPR_RESPONSE).approx_days();
            let longer = days(nt) > days(ot) + 0.5;
            self.push_values(
                if longer {
                    "response_time_longer"
                } else {
                    "response_time_changed"
                },
                longer,
                None,
                format!(
                    "requests are now answered within {}",
                    nt.map_or_else(|| "the legal time".to_string(), |t| t.to_words())
                ),
                ot.map(|t| t.to_words()),
                nt.map(|t| t.to_words()),
            );
        }
    }

    fn cookies(&mut self) {
        let (o, n) = (self.old.doc(), self.new.doc());
        for c in &n.cookies {
            match o.cookies.iter().find(|x| x.name.value == c.name.value) {
                None => self.push(
                    "cookie_added",
                    c.category.needs_consent(),
                    None,
                    format!(
                        "new {} tracker `{}`",
                        c.category.label().to_lowercase(),
                        c.name.value
                    ),
                ),
                Some(x) => {
                    if x.category.value != c.category.value {
                        self.push(
                            "cookie_category_changed",
                            c.category.needs_consent(),
                            None,
                            format!(
                                "tracker `{}` is now {}",
                                c.name.value,
                                c.category.label().to_lowercase()
                            ),
                        );
                    }
                    let days =
                        |d: &Option<Spanned<CookieDuration>>| match d.as_ref().map(|d| d.value) {
                            Some(CookieDuration::Persistent(p)) => Some(p.approx_days()),
                            Some(CookieDuration::Session) => Some(0.0),
                            None => None,
                        };
                    let (od, nd) = (days(&x.duration), days(&c.duration));
                    if od != nd {
                        let longer =
                            nd.is_none() || od.is_some_and(|a| nd.is_some_and(|b| b > a + 0.5));
                        self.push(
                            "cookie_duration_changed",
                            longer && c.category.needs_consent(),
                            None,
                            format!(
                                "tracker `{}` now lasts {}",
                                c.name.value,
                                c.duration.as_ref().map_or_else(
                                    || "an unstated time".to_string(),
                                    |d| match d.value {
                                        CookieDuration::Session => "for the session".to_string(),
                                        CookieDuration::Persistent(p) => p.to_words(),
                                    }
                                )
                            ),
                        );
                    }
                    if txt(&x.provider) != txt(&c.provider) {
                        self.push(
                            "cookie_provider_changed",
                            c.category.needs_consent(),
                            None,
                            format!(
                                "tracker `{}` is now set by {}",
                                c.name.value,
                                txt(&c.provider).unwrap_or_else(|| "us".into())
                            ),
                        );
                    }
                }
            }
        }
        for c in &o.cookies {
            if !n.cookies.iter().any(|x| x.name.value == c.name.value) {
                self.push(
                    "cookie_removed",
                    false,
                    None,
                    format!("tracker `{}` is no longer used", c.name.value),
                );
            }
        }
        let mech = |d: &DeclarationDoc| d.cookie_consent.as_ref().map(|c| c.mechanism.value);
        if mech(o) != mech(n) {
            let weaker = mech(n).is_some_and(|m| m != ConsentMechanism::OptIn) || mech(n).is_none();
            self.push(
                "cookie_consent_changed",
                weaker && n.cookies.iter().any(|c| c.category.needs_consent()),
                None,
                format!(
                    "consent to cookies is now obtained by {}",
                    mech(n).map_or("no stated means", |m| m.label())
                ),
            );
        }
    }

    fn security(&mut self) {
        let set = |d: &DeclarationDoc| -> BTreeSet<String> {
            d.security
                .iter()
                .map(|m| m.measure.label().to_string())
                .collect()
        };
        let (o, n) = (set(self.old.doc()), set(self.new.doc()));
        for m in n.difference(&o) {
            self.push(
                "security_added",
                false,
                None,
                format!("new security measure: {}", m.to_lowercase()),
            );
        }
        for m in o.difference(&n) {
            self.push(
                "security_removed",
                true,
                None,
                format!("security measure withdrawn: {}", m.to_lowercase()),
            );
        }
    }

    fn ccpa(&mut self) {
        let list =
            |d: &Declaration, f: fn(&Ccpa) -> &Vec<Spanned<CategoryId>>| -> BTreeSet<String> {
                d.doc()
                    .ccpa
                    .as_ref()
                    .map(|c| f(c).iter().map(|x| x.to_string()).collect())
                    .unwrap_or_default()
            };
        for (what, f) in [
            (
                "sold",
                (|c: &Ccpa| &c.sold) as fn(&Ccpa) -> &Vec<Spanned<CategoryId>>,
            ),
            ("shared", |c: &Ccpa| &c.shared),
        ] {
            let (o, n) = (list(self.old, f), list(self.new, f));
            for c in n.difference(&o) {
                self.push(
                    if what == "sold" {
                        "ccpa_sold_added"
                    } else {
                        "ccpa_shared_added"
                    },
                    true,
                    None,
                    format!("{c} is now {what} (CCPA)"),
                );
            }
            for c in o.difference(&n) {
                self.push(
                    if what == "sold" {
                        "ccpa_sold_removed"
                    } else {
                        "ccpa_shared_removed"
                    },
                    false,
                    None,
                    format!("{c} is no longer {what} (CCPA)"),
                );
            }
        }
    }
}

fn recipient_name(decl: &Declaration, id: &str) -> String {
    decl.doc()
        .recipients
        .iter()
        .find(|r| r.id.as_str() == id)
        .map_or_else(|| id.to_string(), |r| r.name.value.clone())
}
