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

use super::view::lower_first;
use pledge_lang::law;
use pledge_lang::load::Declaration;
use pledge_lang::model::*;
use pledge_lang::source::Spanned;
use pledge_lang::types::{CategoryId, Date, IsoDuration};
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

/// Compare two declarations: walk [`DOC`], the table of the fields the notice shows.
pub fn diff(old: &Declaration, new: &Declaration) -> NoticeDiff {
    let scope = Scope::default();
    let pair = Pair {
        old,
        new,
        old_decl: old,
        new_decl: new,
        scope: &scope,
    };
    let mut changes = Vec::new();
    walk(DOC, &pair, &mut changes);
    let (material, editorial) = changes.into_iter().partition(|c| c.material);
    NoticeDiff {
        old_version: super::version(old),
        new_version: super::version(new),
        material,
        editorial,
    }
}

/// The declaration paths the diff compares, as `purposes[].retention`: every entry of the
/// tables, nested ones included.
pub fn compared_paths() -> Vec<String> {
    paths(DOC, "")
}

/// One item on each side (the whole declaration, a purpose, a recipient...), the
/// declarations they are in, and where they are.
struct Pair<'a, T> {
    old: &'a T,
    new: &'a T,
    old_decl: &'a Declaration,
    new_decl: &'a Declaration,
    scope: &'a Scope,
}

/// Where in the declaration a comparison is.
#[derive(Debug, Clone, Default)]
struct Scope {
    /// The purpose compared, by id: its changes name it, and their messages begin with it.
    purpose: Option<String>,
    /// The purpose is decided by us; purposes carried out for customers are described in
    /// their notices, so changes to them are reported but are not ours to announce.
    own: bool,
    /// The recipient or transfer serves one of our own purposes.
    used: bool,
}

/// Reads a field of one side, as text; `None` when it is not stated.
type Get<T> = fn(&Declaration, &T) -> Option<String>;

/// One field of the declaration the notice shows: where it is, and how a change to it is
/// found, described and weighed.
struct Field<T: 'static> {
    /// Where the field is in the declaration, as the schema names it; several when the diff
    /// compares them as one (a party's contact details).
    paths: &'static [&'static str],
    compare: Compare<T>,
}

/// Whether a change must be told to people before it takes effect.
enum Material<T: 'static> {
    No,
    Yes,
    /// When the purpose is ours.
    OwnPurpose,
    /// When the recipient or transfer serves one of our purposes.
    Used,
    /// As the pair decides (a tracker that needs consent, a weaker consent mechanism).
    When(fn(&Pair<T>) -> bool),
}

impl<T> Material<T> {
    fn holds(&self, pair: &Pair<T>) -> bool {
        match self {
            Material::No => false,
            Material::Yes => true,
            Material::OwnPurpose => pair.scope.own,
            Material::Used => pair.scope.used,
            Material::When(f) => f(pair),
        }
    }
}

/// What a change reports as its old and new values.
enum Values<T: 'static> {
    None,
    /// The compared text itself.
    Key,
    /// Another reading of the field (a mechanism's label where its code is compared).
    Other(Get<T>),
}

/// A member of a list field: its key, matched across the sides, and its words.
struct Member {
    key: String,
    text: String,
    /// A special category or criminal-offence data, which the message points out.
    special: bool,
}

impl Member {
    fn new(key: impl Into<String>, text: impl Into<String>) -> Member {
        Member {
            key: key.into(),
            text: text.into(),
            special: false,
        }
    }
}

/// A change a rule of its own found.
struct Found {
    kind: &'static str,
    material: bool,
    message: String,
    old: Option<String>,
    new: Option<String>,
}

enum Compare<T: 'static> {
    /// An optional text: a change is editorial and reads "<what> changed from "a" to "b"".
    Text {
        kind: &'static str,
        what: fn(&T) -> String,
        get: Get<T>,
    },
    /// A value compared by `key`: a change reads as `message` says.
    Value {
        kind: &'static str,
        material: Material<T>,
        key: Get<T>,
        values: Values<T>,
        message: fn(&Pair<T>, &Option<String>, &Option<String>) -> String,
    },
    /// The members of a list: those new and those gone. `covers(a, b)`: member `a` is
    /// already said by member `b` (equal, or a narrower data category).
    Members {
        added: (&'static str, Material<T>, fn(&Member) -> String),
        removed: (&'static str, Material<T>, fn(&Member) -> String),
        members: fn(&Declaration, &T) -> Vec<Member>,
        covers: fn(&str, &str) -> bool,
    },
    /// A yes-or-no: "now involves <what>", "no longer involves <what>"; turning it on
    /// weighs as `material`, turning it off is editorial.
    Flag {
        added: &'static str,
        removed: &'static str,
        what: &'static str,
        material: Material<T>,
        get: fn(&T) -> bool,
    },
    /// Items matched by id (purposes, recipients...), each compared by a table of its own.
    Each {
        walk: fn(&Pair<T>, &mut Vec<Change>),
        fields: fn(&str) -> Vec<String>,
    },
    /// A field weighed by a rule of its own (retention, automated decisions): the rule is
    /// beside the table, named by it.
    Rule(fn(&Pair<T>) -> Option<Found>),
}

fn push<T>(
    out: &mut Vec<Change>,
    pair: &Pair<T>,
    kind: &'static str,
    material: bool,
    message: String,
    old: Option<String>,
    new: Option<String>,
) {
    let message = match &pair.scope.purpose {
        Some(id) => format!("purpose `{id}`: {message}"),
        None => message,
    };
    out.push(Change {
        kind,
        material,
        purpose: pair.scope.purpose.clone(),
        message,
        old,
        new,
    });
}

fn walk<T>(fields: &[Field<T>], pair: &Pair<T>, out: &mut Vec<Change>) {
    for field in fields {
        compare(&field.compare, pair, out);
    }
}

fn compare<T>(c: &Compare<T>, pair: &Pair<T>, out: &mut Vec<Change>) {
    match c {
        Compare::Text { kind, what, get } => {
            let (o, n) = (get(pair.old_decl, pair.old), get(pair.new_decl, pair.new));
            if o != n {
                let message = format!(
                    "{} changed from {} to {}",
                    what(pair.new),
                    quoted(&o),
                    quoted(&n)
                );
                push(out, pair, kind, false, message, o, n);
            }
        }
        Compare::Value {
            kind,
            material,
            key,
            values,
            message,
        } => {
            let (o, n) = (key(pair.old_decl, pair.old), key(pair.new_decl, pair.new));
            if o != n {
                let text = message(pair, &o, &n);
                let (vo, vn) = match values {
                    Values::None => (None, None),
                    Values::Key => (o, n),
                    Values::Other(get) => {
                        (get(pair.old_decl, pair.old), get(pair.new_decl, pair.new))
                    }
                };
                push(out, pair, kind, material.holds(pair), text, vo, vn);
            }
        }
        Compare::Members {
            added,
            removed,
            members,
            covers,
        } => {
            let (om, nm) = (
                members(pair.old_decl, pair.old),
                members(pair.new_decl, pair.new),
            );
            for m in nm
                .iter()
                .filter(|m| !om.iter().any(|o| covers(&m.key, &o.key)))
            {
                push(
                    out,
                    pair,
                    added.0,
                    added.1.holds(pair),
                    added.2(m),
                    None,
                    None,
                );
            }
            for m in om
                .iter()
                .filter(|m| !nm.iter().any(|n| covers(&m.key, &n.key)))
            {
                let material = removed.1.holds(pair);
                push(out, pair, removed.0, material, removed.2(m), None, None);
            }
        }
        Compare::Flag {
            added,
            removed,
            what,
            material,
            get,
        } => match (get(pair.old), get(pair.new)) {
            (false, true) => {
                let message = format!("now involves {what}");
                push(out, pair, added, material.holds(pair), message, None, None);
            }
            (true, false) => {
                let message = format!("no longer involves {what}");
                push(out, pair, removed, false, message, None, None);
            }
            _ => {}
        },
        Compare::Each { walk, .. } => walk(pair, out),
        Compare::Rule(rule) => {
            if let Some(f) = rule(pair) {
                push(out, pair, f.kind, f.material, f.message, f.old, f.new);
            }
        }
    }
}

fn paths<T>(fields: &[Field<T>], prefix: &str) -> Vec<String> {
    let mut all = Vec::new();
    for f in fields {
        for p in f.paths {
            all.push(format!("{prefix}{p}"));
        }
        if let Compare::Each { fields, .. } = &f.compare {
            let inner = format!("{prefix}{}", f.paths.first().copied().unwrap_or_default());
            all.extend(fields(&inner));
        }
    }
    all
}

/// How an item that appears or goes is reported.
struct Appears<C: 'static> {
    kind: &'static str,
    material: fn(&C) -> bool,
    message: fn(&C) -> String,
}

/// A list of items matched by id across the sides, compared field by field.
struct Collection<C: 'static> {
    key: fn(&C) -> String,
    /// The scope of an item's own fields, from the declaration it is in and the parent's.
    scope: fn(&Declaration, &Scope, &C) -> Scope,
    /// A new item: reported when given.
    added: Option<Appears<C>>,
    /// An item gone: reported, always as editorial, when given.
    removed: Option<Appears<C>>,
    fields: &'static [Field<C>],
}

fn each<P, C>(pair: &Pair<P>, old: &[C], new: &[C], c: &Collection<C>, out: &mut Vec<Change>) {
    let appears = |out: &mut Vec<Change>, scope: Scope, kind, material, message| {
        out.push(Change {
            kind,
            material,
            purpose: scope.purpose,
            message,
            old: None,
            new: None,
        });
    };
    for n in new {
        let key = (c.key)(n);
        match old.iter().find(|o| (c.key)(o) == key) {
            None => {
                if let Some(a) = &c.added {
                    let scope = (c.scope)(pair.new_decl, pair.scope, n);
                    appears(out, scope, a.kind, (a.material)(n), (a.message)(n));
                }
            }
            Some(o) => {
                let scope = (c.scope)(pair.new_decl, pair.scope, n);
                let inner = Pair {
                    old: o,
                    new: n,
                    old_decl: pair.old_decl,
                    new_decl: pair.new_decl,
                    scope: &scope,
                };
                walk(c.fields, &inner, out);
            }
        }
    }
    if let Some(r) = &c.removed {
        for o in old {
            let key = (c.key)(o);
            if !new.iter().any(|n| (c.key)(n) == key) {
                let scope = (c.scope)(pair.old_decl, pair.scope, o);
                appears(out, scope, r.kind, false, (r.message)(o));
            }
        }
    }
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

fn same(a: &str, b: &str) -> bool {
    a == b
}

/// Category `a` is `b` or narrower than it.
fn within(a: &str, b: &str) -> bool {
    match (a.parse::<CategoryId>(), b.parse::<CategoryId>()) {
        (Ok(a), Ok(b)) => a.is_within(&b),
        _ => a == b,
    }
}

/// Texts joined by ", ", the stated ones only.
fn joined(parts: impl IntoIterator<Item = Option<String>>) -> String {
    parts.into_iter().flatten().collect::<Vec<_>>().join(", ")
}

fn policy(d: &Declaration) -> Option<&Policy> {
    d.doc().policy.as_ref()
}

fn controller(d: &Declaration) -> Option<&Controller> {
    d.doc().controller.as_ref()
}

fn rights(d: &Declaration) -> Option<&Rights> {
    d.doc().rights.as_ref()
}

fn party(p: Option<&Party>) -> Option<String> {
    p.map(|p| {
        joined([
            txt(&p.name),
            txt(&p.address),
            p.email.as_ref().map(|e| e.to_string()),
            txt(&p.phone),
            p.website.as_ref().map(|u| u.to_string()),
        ])
    })
}

fn ccpa_list(d: &Declaration, f: fn(&Ccpa) -> &Vec<Spanned<CategoryId>>) -> Vec<Member> {
    let set: BTreeSet<String> = d
        .doc()
        .ccpa
        .as_ref()
        .map(|c| f(c).iter().map(|x| x.to_string()).collect())
        .unwrap_or_default();
    set.into_iter().map(|c| Member::new(c.clone(), c)).collect()
}

/// The fields of the whole declaration, in the order the report lists their changes.
static DOC: &[Field<Declaration>] = &[
    Field {
        paths: &["policy.title"],
        compare: Compare::Text {
            kind: "title_changed",
            what: |_| "the notice's title".into(),
            get: |d, _| policy(d).and_then(|p| txt(&p.title)),
        },
    },
    Field {
        paths: &["policy.url"],
        compare: Compare::Text {
            kind: "url_changed",
            what: |_| "the notice's address".into(),
            get: |d, _| policy(d).and_then(|p| p.url.as_ref().map(|u| u.to_string())),
        },
    },
    Field {
        paths: &["policy.changes"],
        compare: Compare::Text {
            kind: "changes_policy_changed",
            what: |_| "how people are told of changes".into(),
            get: |d, _| policy(d).and_then(|p| txt(&p.changes)),
        },
    },
    Field {
        paths: &["policy.effective_date"],
        compare: Compare::Text {
            kind: "effective_date_changed",
            what: |_| "the effective date".into(),
            get: |d, _| {
                policy(d).and_then(|p| p.effective_date.as_ref().map(|d| date_text(d.value)))
            },
        },
    },
    Field {
        paths: &["policy.regimes[]"],
        compare: Compare::Members {
            added: ("regime_added", Material::No, |m| {
                format!("the notice now also addresses {}", m.text)
            }),
            removed: ("regime_removed", Material::No, |m| {
                format!("the notice no longer addresses {}", m.text)
            }),
            members: |d, _| {
                let set: BTreeSet<String> = d.regimes().iter().map(words).collect();
                set.into_iter()
                    .map(|r| {
                        let text = r.replace("gdpr", "GDPR").replace("ccpa", "CCPA");
                        Member::new(r, text)
                    })
                    .collect()
            },
            covers: same,
        },
    },
    Field {
        paths: &["controller.name"],
        compare: Compare::Value {
            kind: "controller_changed",
            material: Material::Yes,
            key: |d, _| controller(d).map(|c| c.name.value.trim().to_string()),
            values: Values::Key,
            message: |_, o, n| {
                format!("the controller changes from {} to {}", quoted(o), quoted(n))
            },
        },
    },
    Field {
        paths: &[
            "controller.legal_form",
            "controller.registration",
            "controller.address",
            "controller.country",
            "controller.email",
            "controller.phone",
            "controller.website",
            "controller.contact_form",
        ],
        compare: Compare::Text {
            kind: "controller_details_changed",
            what: |_| "the controller's details".into(),
            get: |d, _| {
                controller(d).map(|c| {
                    joined([
                        txt(&c.legal_form),
                        txt(&c.registration),
                        txt(&c.address),
                        c.country.map(|x| x.to_string()),
                        c.email.as_ref().map(|e| e.to_string()),
                        txt(&c.phone),
                        c.website.as_ref().map(|u| u.to_string()),
                        c.contact_form.as_ref().map(|u| u.to_string()),
                    ])
                })
            },
        },
    },
    Field {
        paths: &[
            "controller.representative.name",
            "controller.representative.address",
            "controller.representative.email",
            "controller.representative.phone",
            "controller.representative.website",
        ],
        compare: Compare::Text {
            kind: "representative_changed",
            what: |_| "the EU representative".into(),
            get: |d, _| party(controller(d).and_then(|c| c.representative.as_ref())),
        },
    },
    Field {
        paths: &[
            "controller.dpo.name",
            "controller.dpo.address",
            "controller.dpo.email",
            "controller.dpo.phone",
            "controller.dpo.website",
        ],
        compare: Compare::Text {
            kind: "dpo_changed",
            what: |_| "the data protection officer".into(),
            get: |d, _| party(controller(d).and_then(|c| c.dpo.as_ref())),
        },
    },
    Field {
        paths: &[
            "supervisory_authority.name",
            "supervisory_authority.address",
            "supervisory_authority.email",
            "supervisory_authority.website",
        ],
        compare: Compare::Text {
            kind: "authority_changed",
            what: |_| "the supervisory authority".into(),
            get: |d, _| {
                d.doc().supervisory_authority.as_ref().map(|a| {
                    joined([
                        Some(a.name.value.clone()),
                        txt(&a.address),
                        a.email.as_ref().map(|e| e.to_string()),
                        a.website.as_ref().map(|u| u.to_string()),
                    ])
                })
            },
        },
    },
    Field {
        paths: &["purposes[]"],
        compare: Compare::Each {
            walk: |p, out| each(p, p.old.purposes(), p.new.purposes(), &PURPOSES, out),
            fields: |prefix| paths(PURPOSE, &format!("{prefix}.")),
        },
    },
    Field {
        paths: &["recipients[]"],
        compare: Compare::Each {
            walk: |p, out| {
                let (o, n) = (&p.old.doc().recipients, &p.new.doc().recipients);
                each(p, o, n, &RECIPIENTS, out)
            },
            fields: |prefix| paths(RECIPIENT, &format!("{prefix}.")),
        },
    },
    Field {
        paths: &["transfers[]"],
        compare: Compare::Each {
            walk: |p, out| {
                let (o, n) = (&p.old.doc().transfers, &p.new.doc().transfers);
                each(p, o, n, &TRANSFERS, out)
            },
            fields: |prefix| paths(TRANSFER, &format!("{prefix}.")),
        },
    },
    Field {
        paths: &["rights.offered[]"],
        compare: Compare::Members {
            added: ("right_added", Material::No, |m| {
                format!("{} is now offered", m.text)
            }),
            // A right withdrawn is a promise weakened.
            removed: ("right_removed", Material::Yes, |m| {
                format!("{} is no longer offered", m.text)
            }),
            members: |d, _| {
                let set: BTreeSet<Right> = rights(d)
                    .map(|r| r.offered.iter().map(|x| x.value).collect())
                    .unwrap_or_default();
                set.iter()
                    .map(|r| Member::new(variant_name(r), r.label()))
                    .collect()
            },
            covers: same,
        },
    },
    Field {
        paths: &["rights.contact"],
        compare: Compare::Text {
            kind: "rights_contact_changed",
            what: |_| "where to send a request".into(),
            get: |d, _| rights(d).and_then(|r| txt(&r.contact)),
        },
    },
    Field {
        paths: &["rights.verification"],
        compare: Compare::Text {
            kind: "verification_changed",
            what: |_| "how identity is verified".into(),
            get: |d, _| rights(d).and_then(|r| txt(&r.verification)),
        },
    },
    Field {
        paths: &["rights.response_time"],
        compare: Compare::Rule(response_time),
    },
    Field {
        paths: &["cookies[]"],
        compare: Compare::Each {
            walk: |p, out| {
                let (o, n) = (&p.old.doc().cookies, &p.new.doc().cookies);
                each(p, o, n, &COOKIES, out)
            },
            fields: |prefix| paths(COOKIE, &format!("{prefix}.")),
        },
    },
    Field {
        paths: &["cookie_consent.mechanism"],
        compare: Compare::Value {
            kind: "cookie_consent_changed",
            // Weaker than a clear affirmative act, or no longer stated, while some tracker
            // needs consent.
            material: Material::When(|p| {
                let mech = p
                    .new
                    .doc()
                    .cookie_consent
                    .as_ref()
                    .map(|c| c.mechanism.value);
                mech != Some(ConsentMechanism::OptIn)
                    && p.new
                        .doc()
                        .cookies
                        .iter()
                        .any(|c| c.category.needs_consent())
            }),
            key: |d, _| {
                d.doc()
                    .cookie_consent
                    .as_ref()
                    .map(|c| variant_name(&c.mechanism.value))
            },
            values: Values::None,
            message: |p, _, _| {
                let mech = p
                    .new
                    .doc()
                    .cookie_consent
                    .as_ref()
                    .map(|c| c.mechanism.value);
                format!(
                    "consent to cookies is now obtained by {}",
                    mech.map_or("no stated means", |m| m.label())
                )
            },
        },
    },
    Field {
        paths: &["security[].measure"],
        compare: Compare::Members {
            added: ("security_added", Material::No, |m| {
                format!("new security measure: {}", m.text.to_lowercase())
            }),
            removed: ("security_removed", Material::Yes, |m| {
                format!("security measure withdrawn: {}", m.text.to_lowercase())
            }),
            members: |d, _| {
                let set: BTreeSet<&str> =
                    d.doc().security.iter().map(|m| m.measure.label()).collect();
                set.into_iter().map(|m| Member::new(m, m)).collect()
            },
            covers: same,
        },
    },
    Field {
        paths: &["ccpa.sold[]"],
        compare: Compare::Members {
            added: ("ccpa_sold_added", Material::Yes, |m| {
                format!("{} is now sold (CCPA)", m.text)
            }),
            removed: ("ccpa_sold_removed", Material::No, |m| {
                format!("{} is no longer sold (CCPA)", m.text)
            }),
            members: |d, _| ccpa_list(d, |c| &c.sold),
            covers: same,
        },
    },
    Field {
        paths: &["ccpa.shared[]"],
        compare: Compare::Members {
            added: ("ccpa_shared_added", Material::Yes, |m| {
                format!("{} is now shared (CCPA)", m.text)
            }),
            removed: ("ccpa_shared_removed", Material::No, |m| {
                format!("{} is no longer shared (CCPA)", m.text)
            }),
            members: |d, _| ccpa_list(d, |c| &c.shared),
            covers: same,
        },
    },
];

/// Purposes, matched by id: renaming an id reads as one removed and one added.
static PURPOSES: Collection<Purpose> = Collection {
    key: |p| p.id.to_string(),
    scope: |_, _, p| Scope {
        purpose: Some(p.id.to_string()),
        own: p.role == Role::Controller,
        used: false,
    },
    // New processing of our own; one done for customers is theirs to announce.
    added: Some(Appears {
        kind: "purpose_added",
        material: |p| p.role == Role::Controller,
        message: |p| {
            format!(
                "new purpose `{}` ({}){}",
                p.id,
                p.name.value,
                if p.role == Role::Processor {
                    ", processed for customers"
                } else {
                    ""
                }
            )
        },
    }),
    removed: Some(Appears {
        kind: "purpose_removed",
        material: |_| false,
        message: |p| {
            format!(
                "purpose `{}` ({}) is no longer carried out",
                p.id, p.name.value
            )
        },
    }),
    fields: PURPOSE,
};

/// The fields of one purpose.
static PURPOSE: &[Field<Purpose>] = &[
    Field {
        paths: &["name"],
        compare: Compare::Value {
            kind: "purpose_renamed",
            material: Material::No,
            key: |_, p| Some(p.name.value.clone()),
            values: Values::Key,
            message: |_, o, n| format!("renamed from {} to {}", quoted(o), quoted(n)),
        },
    },
    Field {
        paths: &["description"],
        compare: Compare::Text {
            kind: "purpose_description_changed",
            what: |_| "the description".into(),
            get: |_, p| txt(&p.description),
        },
    },
    Field {
        paths: &["role"],
        compare: Compare::Value {
            kind: "role_changed",
            // Becoming the controller of data processed for customers is new processing of
            // our own; handing it to customers narrows ours.
            material: Material::When(|p| p.new.role == Role::Controller),
            key: |_, p| Some(words(&p.role)),
            values: Values::None,
            message: |p, _, _| {
                format!(
                    "we now act as {} (was {})",
                    words(&p.new.role),
                    words(&p.old.role)
                )
            },
        },
    },
    Field {
        paths: &["categories[]"],
        compare: Compare::Members {
            added: ("category_added", Material::OwnPurpose, |m| {
                let extra = if m.special {
                    ", a special category"
                } else {
                    ""
                };
                format!("now collects {}{extra}", m.text)
            }),
            removed: ("category_removed", Material::No, |m| {
                format!("no longer collects {}", m.text)
            }),
            members: |d, p| {
                p.categories
                    .iter()
                    .map(|c| Member {
                        key: c.to_string(),
                        text: d.category(c).map_or_else(
                            || c.to_string(),
                            |i| format!("{} [{}]", lower_first(&i.label), c.value),
                        ),
                        special: d
                            .category(c)
                            .is_some_and(|i| i.sensitivity.special || i.sensitivity.criminal),
                    })
                    .collect()
            },
            // A narrower category says nothing new.
            covers: within,
        },
    },
    Field {
        paths: &["subjects[]"],
        compare: Compare::Members {
            added: ("subject_added", Material::OwnPurpose, |m| {
                format!("now concerns {}", m.text)
            }),
            removed: ("subject_removed", Material::No, |m| {
                format!("no longer concerns {}", m.text)
            }),
            members: |d, p| {
                let set: BTreeSet<String> = p
                    .subjects
                    .iter()
                    .map(|s| {
                        d.subject(s)
                            .map_or_else(|| s.to_string(), |x| x.name.value.clone())
                    })
                    .collect();
                set.into_iter().map(|s| Member::new(s.clone(), s)).collect()
            },
            covers: same,
        },
    },
    Field {
        paths: &["legal_bases[].basis"],
        compare: Compare::Value {
            kind: "basis_changed",
            material: Material::OwnPurpose,
            key: |_, p| Some(bases_text(p)),
            values: Values::Key,
            message: |_, o, n| {
                format!(
                    "the legal basis changes from {} to {}",
                    o.as_deref().unwrap_or_default(),
                    n.as_deref().unwrap_or_default()
                )
            },
        },
    },
    Field {
        paths: &["legal_bases[]"],
        compare: Compare::Each {
            walk: |p, out| each(p, &p.old.legal_bases, &p.new.legal_bases, &BASES, out),
            fields: |prefix| paths(BASIS, &format!("{prefix}.")),
        },
    },
    Field {
        paths: &["special_condition"],
        compare: Compare::Value {
            kind: "special_condition_changed",
            material: Material::OwnPurpose,
            key: |_, p| p.special_condition.as_ref().map(|c| variant_name(&c.value)),
            values: Values::Other(|_, p| {
                p.special_condition
                    .as_ref()
                    .map(|c| c.article().to_string())
            }),
            message: |p, _, _| {
                let show = |p: &Purpose| {
                    p.special_condition
                        .as_ref()
                        .map_or_else(|| "none".to_string(), |c| c.article().to_string())
                };
                format!(
                    "the condition for special categories changes from {} to {}",
                    show(p.old),
                    show(p.new)
                )
            },
        },
    },
    Field {
        paths: &["sources[].kind", "sources[].name"],
        compare: Compare::Members {
            added: ("source_added", Material::OwnPurpose, |m| {
                format!("data now also comes {}", m.text)
            }),
            removed: ("source_removed", Material::No, |m| {
                format!("data no longer comes {}", m.text)
            }),
            members: |_, p| {
                p.sources
                    .iter()
                    .map(|s| {
                        let name = txt(&s.name);
                        let text = match &name {
                            Some(name) => format!("{name} ({})", s.kind.label()),
                            None => s.kind.label().to_string(),
                        };
                        Member::new(
                            format!("{}\u{0}{name:?}", variant_name(&s.kind.value)),
                            text.replace("(from", "("),
                        )
                    })
                    .collect()
            },
            covers: same,
        },
    },
    Field {
        paths: &["retention.period", "retention.after", "retention.criteria"],
        compare: Compare::Rule(retention),
    },
    Field {
        paths: &["recipients[]"],
        compare: Compare::Members {
            added: ("recipient_added", Material::OwnPurpose, |m| {
                format!("data now goes to {}", m.text)
            }),
            removed: ("recipient_removed", Material::No, |m| {
                format!("data no longer goes to {}", m.text)
            }),
            members: |d, p| {
                let set: BTreeSet<&str> = p.recipients.iter().map(|r| r.as_str()).collect();
                set.into_iter()
                    .map(|r| Member::new(r, recipient_name(d, r)))
                    .collect()
            },
            covers: same,
        },
    },
    Field {
        paths: &["transfers[]"],
        compare: Compare::Members {
            added: ("transfer_added", Material::OwnPurpose, |m| {
                format!("data is now transferred {}", m.text)
            }),
            removed: ("transfer_removed", Material::No, |m| {
                format!("transfer `{}` no longer applies", m.key)
            }),
            members: |d, p| {
                let set: BTreeSet<&str> = p.transfers.iter().map(|t| t.as_str()).collect();
                set.into_iter()
                    .map(|t| {
                        let desc = d
                            .doc()
                            .transfers
                            .iter()
                            .find(|x| x.id.as_str() == t)
                            .map_or_else(
                                || format!("`{t}`"),
                                |x| format!("to {} ({})", x.country.name(), x.mechanism.label()),
                            );
                        Member::new(t, desc)
                    })
                    .collect()
            },
            covers: same,
        },
    },
    Field {
        paths: &[
            "automated_decisions.logic",
            "automated_decisions.significant_effects",
            "automated_decisions.human_review",
        ],
        compare: Compare::Rule(automated),
    },
    Field {
        paths: &["profiling"],
        compare: Compare::Flag {
            added: "profiling_added",
            removed: "profiling_removed",
            what: "profiling",
            material: Material::OwnPurpose,
            get: |p| p.profiling,
        },
    },
    Field {
        paths: &["direct_marketing"],
        compare: Compare::Flag {
            added: "direct_marketing_added",
            removed: "direct_marketing_removed",
            what: "direct marketing",
            material: Material::OwnPurpose,
            get: |p| p.direct_marketing,
        },
    },
    Field {
        paths: &["requirement.kind", "requirement.consequences"],
        compare: Compare::Text {
            kind: "requirement_changed",
            what: |_| "whether the data is required".into(),
            get: |_, p| {
                p.requirement.as_ref().map(|r| {
                    format!(
                        "{}{}",
                        r.kind.label(),
                        txt(&r.consequences)
                            .map(|c| format!("; {c}"))
                            .unwrap_or_default()
                    )
                })
            },
        },
    },
];

/// "Consent (GDPR Art. 6(1)(a)), ..." or "none".
fn bases_text(p: &Purpose) -> String {
    let set: BTreeSet<Basis> = p.legal_bases.iter().map(|b| b.basis.value).collect();
    if set.is_empty() {
        return "none".to_string();
    }
    set.iter()
        .map(|b| format!("{} ({})", b.label(), b.article()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn consent_mechanism(b: &LegalBasis) -> ConsentMechanism {
    b.mechanism
        .as_ref()
        .map_or(ConsentMechanism::OptIn, |m| m.value)
}

/// The legal bases of a purpose kept in both versions, matched by basis: a basis added or
/// removed is `basis_changed` above.
static BASES: Collection<Spanned<LegalBasis>> = Collection {
    key: |b| variant_name(&b.basis.value),
    scope: |_, parent, _| parent.clone(),
    added: None,
    removed: None,
    fields: BASIS,
};

static BASIS: &[Field<Spanned<LegalBasis>>] = &[
    Field {
        paths: &["interest"],
        compare: Compare::Value {
            kind: "interest_changed",
            material: Material::OwnPurpose,
            key: |_, b| txt(&b.interest),
            values: Values::Key,
            message: |_, o, n| {
                format!(
                    "the legitimate interest changes from {} to {}",
                    quoted(o),
                    quoted(n)
                )
            },
        },
    },
    Field {
        paths: &["law"],
        compare: Compare::Text {
            kind: "basis_law_changed",
            what: |_| "the law relied on".into(),
            get: |_, b| txt(&b.law),
        },
    },
    Field {
        paths: &["withdrawal"],
        compare: Compare::Text {
            kind: "withdrawal_changed",
            what: |_| "how to withdraw consent".into(),
            get: |_, b| txt(&b.withdrawal),
        },
    },
    Field {
        paths: &["mechanism"],
        compare: Compare::Value {
            kind: "consent_mechanism_changed",
            // Anything but a clear affirmative act is consent weakened.
            material: Material::When(|p| {
                p.scope.own && consent_mechanism(p.new) != ConsentMechanism::OptIn
            }),
            key: |_, b| {
                (b.basis.value == Basis::Consent).then(|| variant_name(&consent_mechanism(b)))
            },
            values: Values::None,
            message: |p, _, _| {
                format!(
                    "consent is now obtained by {}",
                    consent_mechanism(p.new).label()
                )
            },
        },
    },
];

/// Recipients kept in both versions; one added to or removed from a purpose is reported
/// with the purpose.
static RECIPIENTS: Collection<Recipient> = Collection {
    key: |r| r.id.to_string(),
    scope: |d, _, r| Scope {
        purpose: None,
        own: false,
        used: used_by_own_purpose(d, Some(r.id.as_str()), None),
    },
    added: None,
    removed: None,
    fields: RECIPIENT,
};

static RECIPIENT: &[Field<Recipient>] = &[
    Field {
        paths: &["name"],
        compare: Compare::Value {
            kind: "recipient_renamed",
            material: Material::No,
            key: |_, r| Some(r.name.value.clone()),
            values: Values::None,
            message: |p, _, _| {
                format!(
                    "recipient `{}` is now called {}",
                    p.new.id, p.new.name.value
                )
            },
        },
    },
    Field {
        paths: &["role"],
        compare: Compare::Value {
            kind: "recipient_role_changed",
            material: Material::Used,
            key: |_, r| Some(variant_name(&r.role.value)),
            values: Values::None,
            message: |p, _, _| {
                format!(
                    "recipient {} is now a {} (was a {})",
                    p.new.name.value,
                    p.new.role.label(),
                    p.old.role.label()
                )
            },
        },
    },
    Field {
        paths: &["country"],
        compare: Compare::Value {
            kind: "recipient_country_changed",
            // Data newly going outside the EEA for a purpose of ours.
            material: Material::When(|p| {
                p.scope.used && p.new.country.is_some_and(|c| !law::in_eea(c.value))
            }),
            key: |_, r| r.country.map(|c| c.name().to_string()),
            values: Values::Key,
            message: |p, _, n| {
                format!(
                    "recipient {} now processes data in {}",
                    p.new.name.value,
                    n.as_deref().unwrap_or("an unstated country")
                )
            },
        },
    },
    Field {
        paths: &["service"],
        compare: Compare::Text {
            kind: "recipient_service_changed",
            what: |r| format!("what {} does", r.name.value),
            get: |_, r| txt(&r.service),
        },
    },
    Field {
        paths: &["disclosure"],
        compare: Compare::Text {
            kind: "recipient_disclosure_changed",
            what: |r| format!("when data is disclosed to {}", r.name.value),
            get: |_, r| txt(&r.disclosure),
        },
    },
];

/// Transfers kept in both versions; one added to or removed from a purpose is reported with
/// the purpose.
static TRANSFERS: Collection<Transfer> = Collection {
    key: |t| t.id.to_string(),
    scope: |d, _, t| Scope {
        purpose: None,
        own: false,
        used: used_by_own_purpose(d, None, Some(t.id.as_str())),
    },
    added: None,
    removed: None,
    fields: TRANSFER,
};

static TRANSFER: &[Field<Transfer>] = &[
    Field {
        paths: &["country"],
        compare: Compare::Value {
            kind: "transfer_country_changed",
            material: Material::Used,
            key: |_, t| Some(t.country.name().to_string()),
            values: Values::Key,
            message: |p, o, n| {
                format!(
                    "transfer `{}` now goes to {} (was {})",
                    p.new.id,
                    n.as_deref().unwrap_or_default(),
                    o.as_deref().unwrap_or_default()
                )
            },
        },
    },
    Field {
        paths: &["mechanism", "derogation"],
        compare: Compare::Value {
            kind: "transfer_safeguard_changed",
            material: Material::Used,
            key: |_, t| {
                Some(format!(
                    "{}/{:?}",
                    variant_name(&t.mechanism.value),
                    t.derogation.as_ref().map(|d| variant_name(&d.value))
                ))
            },
            values: Values::Other(|_, t| Some(t.mechanism.label().to_string())),
            message: |p, _, _| {
                format!(
                    "transfer `{}` to {} now relies on {}",
                    p.new.id,
                    p.new.country.name(),
                    p.new.mechanism.label()
                )
            },
        },
    },
    Field {
        paths: &["copy"],
        compare: Compare::Text {
            kind: "transfer_copy_changed",
            what: |t| {
                format!(
                    "how to obtain a copy of the safeguards of transfer `{}`",
                    t.id
                )
            },
            get: |_, t| txt(&t.copy),
        },
    },
    Field {
        paths: &["supplementary_measures"],
        compare: Compare::Text {
            kind: "transfer_measures_changed",
            what: |t| format!("the supplementary measures of transfer `{}`", t.id),
            get: |_, t| txt(&t.supplementary_measures),
        },
    },
];

/// Cookies and trackers, matched by name.
static COOKIES: Collection<Cookie> = Collection {
    key: |c| c.name.value.clone(),
    scope: |_, _, _| Scope::default(),
    added: Some(Appears {
        kind: "cookie_added",
        material: |c| c.category.needs_consent(),
        message: |c| {
            format!(
                "new {} tracker `{}`",
                c.category.label().to_lowercase(),
                c.name.value
            )
        },
    }),
    removed: Some(Appears {
        kind: "cookie_removed",
        material: |_| false,
        message: |c| format!("tracker `{}` is no longer used", c.name.value),
    }),
    fields: COOKIE,
};

/// A tracker's lifetime in days for comparison: a session counts as none.
fn cookie_days(c: &Cookie) -> Option<f64> {
    c.duration.as_ref().map(|d| match d.value {
        CookieDuration::Persistent(p) => p.approx_days(),
        CookieDuration::Session => 0.0,
    })
}

static COOKIE: &[Field<Cookie>] = &[
    Field {
        paths: &["category"],
        compare: Compare::Value {
            kind: "cookie_category_changed",
            material: Material::When(|p| p.new.category.needs_consent()),
            key: |_, c| Some(variant_name(&c.category.value)),
            values: Values::None,
            message: |p, _, _| {
                format!(
                    "tracker `{}` is now {}",
                    p.new.name.value,
                    p.new.category.label().to_lowercase()
                )
            },
        },
    },
    Field {
        paths: &["duration"],
        compare: Compare::Value {
            kind: "cookie_duration_changed",
            // Longer, or no longer stated, for a tracker that needs consent.
            material: Material::When(|p| {
                let (od, nd) = (cookie_days(p.old), cookie_days(p.new));
                let longer = nd.is_none() || od.is_some_and(|a| nd.is_some_and(|b| b > a + 0.5));
                longer && p.new.category.needs_consent()
            }),
            key: |_, c| cookie_days(c).map(|d| d.to_string()),
            values: Values::None,
            message: |p, _, _| {
                format!(
                    "tracker `{}` now lasts {}",
                    p.new.name.value,
                    p.new.duration.as_ref().map_or_else(
                        || "an unstated time".to_string(),
                        |d| match d.value {
                            CookieDuration::Session => "for the session".to_string(),
                            CookieDuration::Persistent(p) => p.to_words(),
                        }
                    )
                )
            },
        },
    },
    Field {
        paths: &["provider"],
        compare: Compare::Value {
            kind: "cookie_provider_changed",
            material: Material::When(|p| p.new.category.needs_consent()),
            key: |_, c| txt(&c.provider),
            values: Values::None,
            message: |p, _, n| {
                format!(
                    "tracker `{}` is now set by {}",
                    p.new.name.value,
                    n.as_deref().unwrap_or("us")
                )
            },
        },
    },
];

/// Requests answered later than before is a promise weakened.
fn response_time(p: &Pair<Declaration>) -> Option<Found> {
    let time = |d: &Declaration| rights(d).and_then(|r| r.response_time.as_ref().map(|t| t.value));
    let (ot, nt) = (time(p.old), time(p.new));
    if ot == nt {
        return None;
    }
    let days = |t: Option<IsoDuration>| t.unwrap_or(law::GDPR_RESPONSE).approx_days();
    let longer = days(nt) > days(ot) + 0.5;
    Some(Found {
        kind: if longer {
            "response_time_longer"
        } else {
            "response_time_changed"
        },
        material: longer,
        message: format!(
            "requests are now answered within {}",
            nt.map_or_else(|| "the legal time".to_string(), |t| t.to_words())
        ),
        old: ot.map(|t| t.to_words()),
        new: nt.map(|t| t.to_words()),
    })
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

/// Longer or no longer stated retention is material; shorter from the same start is not.
fn retention(p: &Pair<Purpose>) -> Option<Found> {
    let (o, n) = (p.old, p.new);
    let own = p.scope.own;
    let (ot, nt) = (retention_text(&o.retention), retention_text(&n.retention));
    if ot == nt {
        return None;
    }
    let (od, nd) = (retention_days(&o.retention), retention_days(&n.retention));
    let after = |p: &Purpose| p.retention.as_ref().and_then(|r| txt(&r.after));
    let same_start = after(o) == after(n);
    let (kind, material, what) = match (od, nd) {
        _ if nt.is_none() => (
            "retention_removed",
            own,
            "the retention is no longer stated",
        ),
        _ if ot.is_none() => ("retention_added", false, "the retention is now stated"),
        (Some(a), Some(b)) if b > a + 0.5 => ("retention_longer", own, "data is kept longer"),
        (Some(a), Some(b)) if b < a - 0.5 && same_start => {
            ("retention_shorter", false, "data is kept for less time")
        }
        (Some(_), None) => (
            "retention_changed",
            own,
            "the retention period is replaced by criteria",
        ),
        // Another starting event, or other criteria: whether data is now kept longer
        // cannot be told from the declaration, so the change counts as one to tell.
        _ => ("retention_changed", own, "the retention changes"),
    };
    Some(Found {
        kind,
        material,
        message: format!(
            "{what} ({} -> {})",
            ot.clone().unwrap_or_else(|| "not stated".into()),
            nt.clone().unwrap_or_else(|| "not stated".into())
        ),
        old: ot,
        new: nt,
    })
}

/// New automated decisions are material; changed ones when their logic changes, their
/// effects become significant or human review goes.
fn automated(p: &Pair<Purpose>) -> Option<Found> {
    let text = |p: &Purpose| {
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
    let (o, n) = (p.old, p.new);
    let found = |kind, material, message: &str, old, new| Found {
        kind,
        material,
        message: message.to_string(),
        old,
        new,
    };
    match (text(o), text(n)) {
        (None, Some(a)) => Some(found(
            "automated_decisions_added",
            p.scope.own,
            "now makes automated decisions",
            None,
            Some(a),
        )),
        (Some(a), None) => Some(found(
            "automated_decisions_removed",
            false,
            "no longer makes automated decisions",
            Some(a),
            None,
        )),
        (Some(a), Some(b)) if a != b => {
            let old_ad = o.automated_decisions.as_ref();
            let new_ad = n.automated_decisions.as_ref();
            let weaker = new_ad.is_some_and(|x| x.significant_effects)
                && !old_ad.is_some_and(|x| x.significant_effects)
                || old_ad.is_some_and(|x| x.human_review)
                    && !new_ad.is_some_and(|x| x.human_review)
                || old_ad.map(|x| x.logic.value.trim()) != new_ad.map(|x| x.logic.value.trim());
            Some(found(
                "automated_decisions_changed",
                p.scope.own && weaker,
                "the automated decisions change",
                Some(a),
                Some(b),
            ))
        }
        _ => None,
    }
}

fn used_by_own_purpose(d: &Declaration, recipient: Option<&str>, transfer: Option<&str>) -> bool {
    d.purposes().iter().any(|p| {
        p.role == Role::Controller
            && (recipient.is_some_and(|r| p.recipients.iter().any(|x| x.as_str() == r))
                || transfer.is_some_and(|t| p.transfers.iter().any(|x| x.as_str() == t)))
    })
}

fn recipient_name(decl: &Declaration, id: &str) -> String {
    decl.doc()
        .recipients
        .iter()
        .find(|r| r.id.as_str() == id)
        .map_or_else(|| id.to_string(), |r| r.name.value.clone())
}

/// A date in words: "1 March 2026".
fn date_text(d: Date) -> String {
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    let month = MONTHS
        .get(usize::from(d.month).saturating_sub(1))
        .copied()
        .unwrap_or("?");
    format!("{} {month} {}", d.day, d.year)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_read_as_words() {
        assert_eq!(date_text("2026-03-01".parse().unwrap()), "1 March 2026");
    }
}
