//! From source files to a [`Declaration`]: parse each file, merge the files, decode every
//! section, then resolve the references between sections. Every problem found on the way is
//! reported, as many at once as can be, each with its place.

use crate::de::{DecodeError, did_you_mean, from_node_recovering};
use crate::diagnostic::Diagnostic;
use crate::model::*;
use crate::node::{self, Key, Node, NodeKind};
use crate::source::{SourceMap, Span, Spanned};
use crate::taxonomy::{self, Sensitivity};
use crate::types::SubjectTemplate;
use crate::types::*;
use std::collections::HashMap;

/// A declaration whose every reference resolves. The only way to get one is [`load`] (or
/// [`Declaration::from_doc`]), so code that holds one may look ids up without checking.
#[derive(Debug, Clone)]
pub struct Declaration {
    doc: DeclarationDoc,
    purposes: HashMap<PurposeId, usize>,
    subjects: HashMap<SubjectId, usize>,
    recipients: HashMap<RecipientId, usize>,
    transfers: HashMap<TransferId, usize>,
    custom_categories: HashMap<CategoryId, usize>,
}

/// What is known of a data category, built-in or custom.
#[derive(Debug, Clone, PartialEq)]
pub struct CategoryInfo {
    pub id: CategoryId,
    pub label: String,
    /// The DPV term of the category or of its nearest built-in ancestor.
    pub dpv: &'static str,
    pub sensitivity: Sensitivity,
    pub builtin: bool,
}

impl Declaration {
    pub fn doc(&self) -> &DeclarationDoc {
        &self.doc
    }

    pub fn purposes(&self) -> &[Purpose] {
        &self.doc.purposes
    }

    pub fn purpose(&self, id: &PurposeId) -> Option<&Purpose> {
        self.purposes.get(id).map(|&i| &self.doc.purposes[i])
    }

    pub fn subject(&self, id: &SubjectId) -> Option<&Subject> {
        self.subjects.get(id).map(|&i| &self.doc.subjects[i])
    }

    pub fn recipient(&self, id: &RecipientId) -> Option<&Recipient> {
        self.recipients.get(id).map(|&i| &self.doc.recipients[i])
    }

    pub fn transfer(&self, id: &TransferId) -> Option<&Transfer> {
        self.transfers.get(id).map(|&i| &self.doc.transfers[i])
    }

    /// The laws the declaration says apply.
    pub fn regimes(&self) -> Vec<Regime> {
        match &self.doc.policy {
            Some(p) => p.regimes.iter().map(|r| r.value).collect(),
            None => vec![Regime::Gdpr],
        }
    }

    pub fn applies(&self, regime: Regime) -> bool {
        self.regimes().contains(&regime)
    }

    /// Whether GDPR or UK GDPR applies (the rules are the same for our purposes).
    pub fn gdpr_applies(&self) -> bool {
        self.applies(Regime::Gdpr) || self.applies(Regime::UkGdpr)
    }

    /// The category with this id: built-in, or custom with what it inherits from its
    /// built-in ancestors (a custom category under `special.health` is special too).
    pub fn category(&self, id: &CategoryId) -> Option<CategoryInfo> {
        if let Some(b) = taxonomy::builtin(id.as_str()) {
            return Some(CategoryInfo {
                id: id.clone(),
                label: b.label.to_string(),
                dpv: b.dpv,
                sensitivity: b.sensitivity,
                builtin: true,
            });
        }
        let custom = &self.doc.categories[*self.custom_categories.get(id)?];
        let ancestor = std::iter::successors(id.parent(), CategoryId::parent)
            .find_map(|p| taxonomy::builtin(p.as_str()))?;
        Some(CategoryInfo {
            id: id.clone(),
            label: custom.name.value.clone(),
            dpv: ancestor.dpv,
            sensitivity: ancestor.sensitivity,
            builtin: false,
        })
    }

    /// Build from an already decoded document, checking its references.
    pub fn from_doc(doc: DeclarationDoc) -> Result<Declaration, Vec<Diagnostic>> {
        let mut errors = Vec::new();
        let declaration = Declaration {
            purposes: index(&doc.purposes, |p| &p.id, "purpose", &mut errors),
            subjects: index(&doc.subjects, |s| &s.id, "data subject group", &mut errors),
            recipients: index(&doc.recipients, |r| &r.id, "recipient", &mut errors),
            transfers: index(&doc.transfers, |t| &t.id, "transfer", &mut errors),
            custom_categories: index(&doc.categories, |c| &c.id, "category", &mut errors),
            doc,
        };
        declaration.check_references(&mut errors);
        if errors.is_empty() {
            Ok(declaration)
        } else {
            Err(errors)
        }
    }

    fn check_references(&self, errors: &mut Vec<Diagnostic>) {
        let doc = &self.doc;
        let mut refs = References { decl: self, errors };
        for c in &doc.categories {
            refs.custom_category(c);
        }
        for p in &doc.purposes {
            refs.all(
                &p.subjects,
                &self.subjects,
                "data subject group",
                "subjects",
            );
            refs.all(&p.recipients, &self.recipients, "recipient", "recipients");
            refs.all(&p.transfers, &self.transfers, "transfer", "transfers");
            for c in &p.categories {
                refs.category(c);
            }
            for s in &p.sources {
                for c in &s.categories {
                    refs.category(c);
                }
            }
        }
        for t in &doc.transfers {
            if let Some(r) = &t.recipient {
                refs.one(r, &self.recipients, "recipient", "recipients");
            }
        }
        for c in &doc.cookies {
            if let Some(p) = &c.purpose {
                refs.one(p, &self.purposes, "purpose", "purposes");
            }
        }
        if let Some(ccpa) = &doc.ccpa {
            for c in ccpa.sold.iter().chain(&ccpa.shared) {
                refs.category(c);
            }
        }
        let mut dataset_ids = HashMap::new();
        for d in &doc.datasets {
            if let Some(first) = dataset_ids.insert(d.id.value.clone(), d.id.span) {
                refs.duplicate("dataset", &d.id, first);
            }
            let mut tables = HashMap::new();
            for t in &d.tables {
                if let Some(first) = tables.insert(t.name.value.clone(), t.name.span) {
                    refs.duplicate("table", &t.name, first);
                }
                if let Some(s) = &t.subject {
                    refs.one(s, &self.subjects, "data subject group", "subjects");
                }
                if let Some(template) = &t.consent_subject {
                    consent_subject(t, template, refs.errors);
                }
                for column in t.columns.values() {
                    refs.category(&column.category);
                }
                if let Some(p) = t.retention.as_ref().and_then(|r| r.purpose.as_ref()) {
                    refs.one(p, &self.purposes, "purpose", "purposes");
                }
                for h in &t.holds {
                    if let Some(p) = &h.purpose {
                        refs.one(p, &self.purposes, "purpose", "purposes");
                    }
                }
                if let Some(owner) = &t.owner
                    && let Some((column, _)) = t.mentions.get_key_value(&owner.value)
                {
                    refs.errors.push(
                        Diagnostic::invalid(
                            Some(column.span.or(owner.span)),
                            format!(
                                "`{}.{}` is the table's `owner`: the reference that makes the rows the owner's cannot also be a mention",
                                t.name.value, owner.value
                            ),
                        )
                        .with_help("remove it from `mentions`, or name another column as `owner`"),
                    );
                }
            }
        }
    }
}

/// A table's `consent_subject` parses and names only identity kinds the table declares.
fn consent_subject(t: &Table, template: &Spanned<String>, errors: &mut Vec<Diagnostic>) {
    match template.value.parse::<SubjectTemplate>() {
        Err(e) => errors.push(
            Diagnostic::invalid(Some(template.span), e.0)
                .with_help("fill the ledger's subject id from the table's identity columns, e.g. `customer-{customer_id}`"),
        ),
        Ok(parsed) => {
            for kind in parsed.kinds() {
                if !t.identity.keys().any(|k| k.value == *kind) {
                    errors.push(
                        Diagnostic::invalid(
                            Some(template.span),
                            format!(
                                "`consent_subject` of table `{}` uses `{{{kind}}}`, which is not one of its `identity` kinds",
                                t.name.value
                            ),
                        )
                        .with_help(format!("declare it: identity = {{ {kind} = \"column\" }}")),
                    );
                }
            }
        }
    }
}

/// Map ids to positions, reporting ids given twice.
fn index<T, Id: Clone + Eq + std::hash::Hash + std::fmt::Display>(
    items: &[T],
    id: impl Fn(&T) -> &Spanned<Id>,
    what: &str,
    errors: &mut Vec<Diagnostic>,
) -> HashMap<Id, usize> {
    let mut map: HashMap<Id, usize> = HashMap::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let item_id = id(item);
        if let Some(&first) = map.get(&item_id.value) {
            errors.push(duplicate(what, item_id, id(&items[first]).span));
        } else {
            map.insert(item_id.value.clone(), i);
        }
    }
    map
}

fn duplicate<Id: std::fmt::Display>(what: &str, id: &Spanned<Id>, _first: Span) -> Diagnostic {
    Diagnostic::invalid(Some(id.span), format!("{what} `{id}` is declared twice"))
        .with_help(format!("give each {what} its own id, or merge the two"))
}

struct References<'a> {
    decl: &'a Declaration,
    errors: &'a mut Vec<Diagnostic>,
}

impl References<'_> {
    fn duplicate<Id: std::fmt::Display>(&mut self, what: &str, id: &Spanned<Id>, first: Span) {
        self.errors.push(duplicate(what, id, first));
    }

    fn one<Id: Eq + std::hash::Hash + std::fmt::Display>(
        &mut self,
        reference: &Spanned<Id>,
        known: &HashMap<Id, usize>,
        what: &str,
        section: &str,
    ) {
        if known.contains_key(&reference.value) {
            return;
        }
        let name = reference.value.to_string();
        let names: Vec<String> = known.keys().map(ToString::to_string).collect();
        let mut error = Diagnostic::invalid(
            Some(reference.span),
            format!("no {what} has the id `{name}`"),
        );
        error = match did_you_mean(&name, names.iter().map(String::as_str)) {
            Some(s) => error.with_help(format!("did you mean `{s}`?")),
            None => error.with_help(format!("declare it under [[{section}]]")),
        };
        self.errors.push(error);
    }

    fn all<Id: Eq + std::hash::Hash + std::fmt::Display>(
        &mut self,
        references: &[Spanned<Id>],
        known: &HashMap<Id, usize>,
        what: &str,
        section: &str,
    ) {
        for r in references {
            self.one(r, known, what, section);
        }
    }

    fn category(&mut self, id: &Spanned<CategoryId>) {
        if self.decl.category(id).is_some() {
            return;
        }
        let customs = self.decl.doc.categories.iter().map(|c| c.id.as_str());
        let all: Vec<&str> = taxonomy::BUILTIN
            .iter()
            .map(|c| c.id)
            .chain(customs)
            .collect();
        let mut error = Diagnostic::invalid(
            Some(id.span),
            format!("unknown data category `{}`", id.value),
        );
        error = match did_you_mean(id.as_str(), all.iter().copied()) {
            Some(s) => error.with_help(format!("did you mean `{s}`?")),
            None => error.with_help(
                "use a built-in category (`pledge categories` lists them) or declare your own under [[categories]]",
            ),
        };
        self.errors.push(error);
    }

    fn custom_category(&mut self, c: &CustomCategory) {
        if taxonomy::is_builtin(&c.id) {
            self.errors.push(
                Diagnostic::invalid(
                    Some(c.id.span),
                    format!("`{}` is a built-in category", c.id.value),
                )
                .with_help("remove this entry, or choose a new id under a built-in parent"),
            );
            return;
        }
        let has_builtin_ancestor = std::iter::successors(c.id.parent(), CategoryId::parent)
            .any(|p| taxonomy::is_builtin(&p));
        if !has_builtin_ancestor {
            self.errors.push(
                Diagnostic::invalid(
                    Some(c.id.span),
                    format!("custom category `{}` has no built-in parent", c.id.value),
                )
                .with_help("name it under a built-in category, e.g. `behavior.loyalty_tier` or `identity.employee_number`"),
            );
        }
    }
}

/// Load a declaration from its files (one, or several to be merged).
pub fn load(sources: &SourceMap) -> Result<Declaration, Vec<Diagnostic>> {
    let Decoded {
        doc,
        mut errors,
        only_typos,
    } = decode_all(sources);
    if errors.is_empty() {
        return Declaration::from_doc(doc);
    }
    // Typos alone left a declaration as if they were corrected: its references are checked
    // too, so one run reports every mistake of the file, not those of the first layer.
    if only_typos && let Err(more) = Declaration::from_doc(doc) {
        errors.extend(more);
    }
    errors.sort_by_key(|e| e.span.map(|s| (s.file, s.start)));
    Err(errors)
}

/// Parse, merge and decode, without resolving references.
pub fn decode(sources: &SourceMap) -> Result<DeclarationDoc, Vec<Diagnostic>> {
    let Decoded { doc, errors, .. } = decode_all(sources);
    if errors.is_empty() {
        Ok(doc)
    } else {
        Err(errors)
    }
}

/// What decoding gave: the document (complete when `only_typos`), and every error, sorted.
struct Decoded {
    doc: DeclarationDoc,
    errors: Vec<Diagnostic>,
    /// Every error is an unknown key the decoder read past: the document is what the
    /// declaration says with them corrected.
    only_typos: bool,
}

fn decode_all(sources: &SourceMap) -> Decoded {
    let mut errors = Vec::new();
    let mut roots = Vec::new();
    for (id, file) in sources.files() {
        match node::parse(id, file) {
            Ok(root) => roots.push(root),
            Err(syntax) => errors.extend(syntax.into_iter().map(|e| {
                Diagnostic::invalid(Some(e.span), format!("syntax error: {}", e.message))
            })),
        }
    }
    let sections = merge(&roots, &mut errors);
    let mut only_typos = errors.is_empty();
    let doc = decode_sections(&sections, &mut errors, &mut only_typos);
    errors.sort_by_key(|e| e.span.map(|s| (s.file, s.start)));
    Decoded {
        doc,
        errors,
        only_typos,
    }
}

/// A top-level section gathered from all files: a single table, or the items of a list.
enum Section<'a> {
    Single(&'a Node),
    List(Vec<&'a Node>),
}

fn merge<'a>(roots: &'a [Node], errors: &mut Vec<Diagnostic>) -> Vec<(&'a Key, Section<'a>)> {
    let mut sections: Vec<(&Key, Section)> = Vec::new();
    for root in roots {
        let NodeKind::Map(entries) = &root.kind else {
            errors.push(Diagnostic::invalid(
                Some(root.span),
                format!(
                    "a declaration must be a table of sections, found {}",
                    root.kind.describe()
                ),
            ));
            continue;
        };
        for (key, value) in entries {
            if !SECTIONS.contains(&key.name.as_str()) {
                let error =
                    Diagnostic::invalid(Some(key.span), format!("unknown section `{}`", key.name));
                errors.push(match did_you_mean(&key.name, SECTIONS.iter().copied()) {
                    Some(s) => error.with_help(format!("did you mean `{s}`?")),
                    None => error.with_help(format!("the sections are {}", SECTIONS.join(", "))),
                });
                continue;
            }
            let existing = sections.iter_mut().find(|(k, _)| k.name == key.name);
            match (&value.kind, existing) {
                (NodeKind::Seq(items), Some((_, Section::List(all)))) => all.extend(items),
                (NodeKind::Seq(items), None) => sections.push((key, Section::List(items.iter().collect()))),
                (_, Some((first, _))) => errors.push(
                    Diagnostic::invalid(Some(key.span), format!("section `{}` is given twice", key.name))
                        .with_help(format!(
                            "keep one `{}`; the files of a declaration are merged, so it may appear in only one of them (first at byte {} of file {})",
                            key.name, first.span.start, first.span.file.0
                        )),
                ),
                (_, None) => sections.push((key, Section::Single(value))),
            }
        }
    }
    sections
}

fn decode_sections(
    sections: &[(&Key, Section<'_>)],
    errors: &mut Vec<Diagnostic>,
    only_typos: &mut bool,
) -> DeclarationDoc {
    let mut doc = DeclarationDoc::default();
    for (key, section) in sections {
        let mut ctx = SectionDecoder {
            key,
            section,
            errors,
            only_typos,
        };
        match key.name.as_str() {
            "policy" => doc.policy = ctx.single(),
            "controller" => doc.controller = ctx.single(),
            "supervisory_authority" => doc.supervisory_authority = ctx.single(),
            "rights" => doc.rights = ctx.single(),
            "ccpa" => doc.ccpa = ctx.single(),
            "cookie_consent" => doc.cookie_consent = ctx.single(),
            "subjects" => doc.subjects = ctx.list(),
            "categories" => doc.categories = ctx.list(),
            "purposes" => doc.purposes = ctx.list(),
            "recipients" => doc.recipients = ctx.list(),
            "transfers" => doc.transfers = ctx.list(),
            "cookies" => doc.cookies = ctx.list(),
            "security" => doc.security = ctx.list(),
            "datasets" => doc.datasets = ctx.list(),
            // `merge` keeps only the names in SECTIONS, and each has an arm above.
            _ => {}
        }
    }
    doc
}

struct SectionDecoder<'a, 'b> {
    key: &'a Key,
    section: &'a Section<'a>,
    errors: &'b mut Vec<Diagnostic>,
    /// Cleared by any error other than an unknown key read past.
    only_typos: &'b mut bool,
}

impl SectionDecoder<'_, '_> {
    fn single<T: serde::de::DeserializeOwned>(&mut self) -> Option<T> {
        match self.section {
            Section::Single(node) => self.decode(node),
            Section::List(_) => {
                *self.only_typos = false;
                self.errors.push(
                    Diagnostic::invalid(
                        Some(self.key.span),
                        format!("`{}` is one table, not a list", self.key.name),
                    )
                    .with_help(format!(
                        "write [{}] instead of [[{}]]",
                        self.key.name, self.key.name
                    )),
                );
                None
            }
        }
    }

    fn list<T: serde::de::DeserializeOwned>(&mut self) -> Vec<T> {
        match self.section {
            // Each item decodes on its own, so one broken purpose does not hide the others.
            Section::List(items) => items.iter().filter_map(|n| self.decode(n)).collect(),
            Section::Single(node) => {
                *self.only_typos = false;
                self.errors.push(
                    Diagnostic::invalid(
                        Some(node.span),
                        format!(
                            "`{}` is a list, found {}",
                            self.key.name,
                            node.kind.describe()
                        ),
                    )
                    .with_help(format!("write each entry under [[{}]]", self.key.name)),
                );
                Vec::new()
            }
        }
    }

    fn decode<T: serde::de::DeserializeOwned>(&mut self, node: &Node) -> Option<T> {
        let (result, typos) = from_node_recovering(node);
        self.errors
            .extend(typos.into_iter().map(|e| decode_diagnostic(e, node.span)));
        match result {
            Ok(value) => Some(value),
            Err(e) => {
                *self.only_typos = false;
                self.errors.push(decode_diagnostic(e, node.span));
                None
            }
        }
    }
}

fn decode_diagnostic(e: DecodeError, fallback: Span) -> Diagnostic {
    Diagnostic {
        help: e.help,
        ..Diagnostic::invalid(Some(e.span.unwrap_or(fallback)), e.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::SourceFile;

    fn errors(files: &[(&str, &str)]) -> Vec<(String, String, Option<String>)> {
        let mut map = SourceMap::new();
        for (name, text) in files {
            map.add(SourceFile::new(*name, *text));
        }
        let errs = load(&map).expect_err("should fail");
        errs.into_iter()
            .map(|d| {
                let at = d
                    .span
                    .and_then(|s| map.locate(s))
                    .map(|l| l.to_string())
                    .unwrap_or_default();
                (at, d.message, d.help)
            })
            .collect()
    }

    #[test]
    fn several_errors_are_reported_at_once() {
        let errs = errors(&[(
            "p.toml",
            "[controler]\nname = \"x\"\n\n[[purposes]]\nid = \"a\"\nname = \"A\"\nretention = \"5 years\"\n\n[[purposes]]\nid = \"b\"\nnmae = \"B\"\n",
        )]);
        assert_eq!(errs.len(), 3, "{errs:#?}");
        assert_eq!(errs[0].0, "p.toml:1:2");
        assert_eq!(errs[0].2.as_deref(), Some("did you mean `controller`?"));
        assert_eq!(errs[1].0, "p.toml:7:13");
        assert!(errs[1].1.contains("ISO 8601"), "{}", errs[1].1);
        assert_eq!(errs[2].0, "p.toml:11:1");
    }

    /// Typos do not hide one another: each unknown key is reported, a key close to one the
    /// table lacks is read as that key, and the declaration read that way has its
    /// references checked in the same run (five typos, one run; it took three).
    #[test]
    fn every_typo_is_reported_in_one_run() {
        let errs = errors(&[(
            "p.toml",
            "[[recipients]]\nid = \"aws\"\nnme = \"AWS\"\nrole = \"processor\"\ncolour = \"red\"\n\n[[purposes]]\nid = \"a\"\nname = \"A\"\nrecipients = [\"aws\"]\ncategries = [\"contact.emial\"]\n",
        )]);
        let messages: Vec<&str> = errs.iter().map(|e| e.1.as_str()).collect();
        assert_eq!(
            messages,
            [
                "unknown key `nme`",
                "unknown key `colour`",
                "unknown key `categries`",
                "unknown data category `contact.emial`",
            ],
            "{errs:#?}"
        );
        assert_eq!(errs[0].2.as_deref(), Some("did you mean `name`?"));
        assert_eq!(errs[2].0, "p.toml:11:1");
        assert_eq!(errs[3].2.as_deref(), Some("did you mean `contact.email`?"));
        // Two typos of one key: the second is reported, not read as a duplicate.
        let errs = errors(&[(
            "p.toml",
            "[[recipients]]\nid = \"aws\"\nnme = \"AWS\"\nnam = \"AWS\"\nrole = \"processor\"\n",
        )]);
        assert_eq!(errs.len(), 2, "{errs:#?}");
        assert!(
            errs.iter().all(|e| e.1.starts_with("unknown key")),
            "{errs:#?}"
        );
    }

    #[test]
    fn a_consent_subject_is_made_of_the_tables_identity_kinds() {
        let table = |template: &str| {
            format!(
                "[[datasets]]\nid = \"shop\"\nconnection_env = \"SHOP_URL\"\n[[datasets.tables]]\nname = \"customer\"\nidentity = {{ email = \"email\", customer_id = \"id\" }}\nconsent_subject = \"{template}\"\n"
            )
        };
        for good in ["customer-{customer_id}", "{customer_id}", "{{x}}-{email}"] {
            let mut map = SourceMap::new();
            map.add(SourceFile::new("p.toml", table(good)));
            assert!(load(&map).is_ok(), "{good}");
        }
        for (bad, message) in [
            ("customer-{user_id}", "not one of its `identity` kinds"),
            ("customer", "names no identity column"),
            ("{customer_id", "without its `}`"),
            ("{Customer ID}", "does not name an identity kind"),
            ("x}", "without its `{`"),
        ] {
            let errs = errors(&[("p.toml", &table(bad))]);
            assert_eq!(errs.len(), 1, "{bad}: {errs:#?}");
            assert_eq!(errs[0].0, "p.toml:7:19", "{bad}");
            assert!(errs[0].1.contains(message), "{bad}: {}", errs[0].1);
        }
        let t: SubjectTemplate = "customer-{customer_id}".parse().unwrap();
        let filled = |id: Option<&str>| {
            t.render(|k| (k.as_str() == "customer_id").then(|| id.map(str::to_string))?)
        };
        assert_eq!(filled(Some("1")).unwrap().unwrap().as_str(), "customer-1");
        assert!(filled(None).is_none(), "a NULL column names no subject");
        assert!(filled(Some("has space")).unwrap().is_err());
    }

    #[test]
    fn references_are_resolved_with_suggestions() {
        let errs = errors(&[(
            "p.toml",
            "[[recipients]]\nid = \"aws\"\nname = \"AWS\"\nrole = \"processor\"\n\n[[purposes]]\nid = \"a\"\nname = \"A\"\nrecipients = [\"aws2\"]\ncategories = [\"contact.emial\"]\n",
        )]);
        assert_eq!(errs.len(), 2, "{errs:#?}");
        assert_eq!(errs[0].1, "no recipient has the id `aws2`");
        assert_eq!(errs[0].2.as_deref(), Some("did you mean `aws`?"));
        assert_eq!(errs[1].2.as_deref(), Some("did you mean `contact.email`?"));
    }

    #[test]
    fn files_merge_and_singletons_may_not_repeat() {
        let mut map = SourceMap::new();
        map.add(SourceFile::new(
            "a.toml",
            "[controller]\nname = \"A\"\n[[purposes]]\nid = \"a\"\nname = \"A\"\n",
        ));
        map.add(SourceFile::new(
            "b.yaml",
            "purposes:\n  - id: b\n    name: B\n",
        ));
        let decl = load(&map).unwrap();
        assert_eq!(decl.purposes().len(), 2);

        let errs = errors(&[
            ("a.toml", "[controller]\nname = \"A\"\n"),
            ("b.toml", "[controller]\nname = \"B\"\n"),
        ]);
        assert_eq!(errs[0].0, "b.toml:1:2");
    }

    #[test]
    fn custom_categories_inherit_sensitivity() {
        let map = SourceMap::single(
            "p.toml",
            "[[categories]]\nid = \"special.health.allergy\"\nname = \"Allergies\"\n",
        );
        let decl = load(&map).unwrap();
        let info = decl
            .category(&"special.health.allergy".parse().unwrap())
            .unwrap();
        assert!(info.sensitivity.special);
        assert_eq!(info.label, "Allergies");
    }

    #[test]
    fn broken_input_never_panics() {
        for text in [
            "",
            "[",
            "purposes = 3",
            "[[purposes]]\n",
            "purposes = [1, \"x\", {}]",
            "\u{0}",
        ] {
            let _ = load(&SourceMap::single("x.toml", text));
            let _ = load(&SourceMap::single("x.yaml", text));
        }
    }
}
