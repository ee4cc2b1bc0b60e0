//! Whose row is it: the ownership of every table of a dataset, computed once from the
//! declaration and the live schema, for the planner and for the tools that show a schema's
//! map.
//!
//! **Subject tables** are the declared tables whose rows are people: they declare identity
//! columns (and, usually, the `subject` group). Every other table's rows belong to at most
//! one subject, through one **owning path**: the reference from the row to its parent row, up
//! to a subject's row. Every other reference from a row to a subject's row, or to a row a
//! subject owns, is a **mention**: the order an employee took names the employee, but it is
//! the customer's order.
//!
//! The owning edge of a table is its one **candidate**: an edge (foreign key or declared
//! relation) to a subject table or to a table whose rows a subject owns, outside the table's
//! own cycle of references. With several candidates the table is [`TableOwnership::Ambiguous`]
//! until the declaration names one (`owner = "customer_id"`), and a request whose person's
//! rows would reach it is refused rather than guessed; with none it is
//! [`TableOwnership::Unowned`] (the company's own records, a catalogue), and `owner = "none"`
//! says so where inference would find an owner.
//!
//! Cycles are those of the references between tables that are not subject tables (a
//! subject's own references, such as a customer's last order, never make a path of ownership).
//! A table whose one candidate leads to a subject whose own row refers back to it (a store,
//! its manager, and the staff who work there) is ambiguous too: it could be the subject's or
//! the company's, so `owner` must say.
//! In a cycle of references (a reply to a comment, a sub-folder of a folder) a row whose
//! owning columns are NULL belongs to the row it refers to through the cycle (an anonymous
//! reply is part of the thread); a row that names an owner of its own is that owner's, and
//! its reference into the cycle is a mention. A member of a cycle with no candidate outside
//! it is owned through its one edge to another member (a document of a folder).
//!
//! Alongside, [`Ownership::infer`] lists the settings of the declaration that cannot take
//! effect on this schema ([`Ineffective`]), so that they are reported instead of silently
//! ignored.

use super::{ForeignKey, SchemaGraph, foreign_keys};
use pledge_lang::model::{ColumnErasure, Dataset, MentionErasure, OWNER_NONE, Table};
use pledge_lang::source::Span;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};

/// A reference from a table to another: `table.columns` → `parent.parent_columns`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Edge {
    pub table: String,
    pub columns: Vec<String>,
    pub parent: String,
    pub parent_columns: Vec<String>,
    /// Declared in the declaration's `relations`, not a foreign key of the database.
    pub relation: bool,
}

impl Edge {
    /// `table.first_column`: how the declaration names the edge (`owner`, `mentions`).
    pub fn column(&self) -> &str {
        self.columns.first().map_or("", String::as_str)
    }
}

/// Whose rows a table holds.
// Built once per table and matched on everywhere: boxing the edges would only get in the way.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum TableOwnership {
    /// Rows of people: a declared table with identity columns.
    Subject {
        /// The declared data subject group, if any.
        #[serde(skip_serializing_if = "Option::is_none")]
        group: Option<String>,
    },
    /// Each row belongs to the owner of the row it refers to through `via`.
    Owned {
        via: Edge,
        /// The subject table at the end of the owning path; `None` while a table on the path
        /// is ambiguous.
        subject: Option<String>,
        /// Named by the declaration's `owner`, not inferred.
        declared: bool,
        /// In a cycle of references: rows whose `via` columns are NULL belong to the row they
        /// refer to through this edge to a member of the cycle (an anonymous reply belongs to
        /// the thread). Only where a `via` column allows NULL.
        #[serde(skip_serializing_if = "Option::is_none")]
        through_cycle: Option<Edge>,
    },
    /// More than one way to an owner, and no `owner` declared: the candidates, each with the
    /// subject table it leads to.
    Ambiguous { choices: Vec<Choice> },
    /// The rows belong to no subject: no reference leads to one, or `owner = "none"`.
    Unowned { declared: bool },
}

/// One candidate owning edge of an ambiguous table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Choice {
    pub edge: Edge,
    /// The subject table it leads to, if known.
    pub subject: Option<String>,
}

/// A reference to a subject's row, or to a row a subject owns, that does not make the
/// referring row that subject's.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Mention {
    pub edge: Edge,
    /// The subject table whose rows (or whose owned rows) are mentioned; `None` when the
    /// referenced table is ambiguous.
    pub subject: Option<String>,
    /// Whose record the mentioning row is: its own subject table, `None` for unowned rows.
    pub owner: Option<String>,
    /// How an erasure of the mentioned person severs it.
    pub erase: MentionErasure,
    /// Why, from the declaration or the default.
    pub reason: String,
    /// Declared under `mentions`, not the default.
    pub declared: bool,
}

/// A setting of the declaration that cannot take effect on this schema.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ineffective {
    pub table: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    /// The setting, as written: `owner = "staff_id"`, `mentions.staff_id.erase = "null"`,
    /// `columns.customer_id.erasure`.
    pub setting: String,
    /// Why it cannot take effect, and what happens instead.
    pub problem: String,
    /// Where it is written, for diagnostics.
    #[serde(skip)]
    pub span: Span,
}

/// The ownership of every table of one dataset's schema.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ownership {
    /// Every table of the schema, by name.
    pub tables: BTreeMap<String, TableOwnership>,
    /// Every mention edge, in the order of the schema's tables.
    pub mentions: Vec<Mention>,
    /// Settings that cannot take effect.
    pub ineffective: Vec<Ineffective>,
}

/// The reason given for a mention the declaration does not describe.
pub const DEFAULT_MENTION_REASON: &str = "the row is another's record and only refers to the person; it stays as it is, and the person's row it refers to is masked instead of deleted";

/// The reason given for a mention the declaration severs without saying why.
pub const SEVERED_MENTION_REASON: &str = "the row is another's record and only refers to the person; the reference is cleared so that nothing of it points to the person";

/// The default reason of a mention, by what erasure does to it.
fn default_mention_reason(erase: MentionErasure) -> &'static str {
    match erase {
        MentionErasure::Keep => DEFAULT_MENTION_REASON,
        MentionErasure::Null | MentionErasure::Hmac => SEVERED_MENTION_REASON,
    }
}

/// Ownership as it is being computed.
#[derive(Clone)]
enum State {
    Pending,
    /// A cycle member with no candidate outside the cycle, waiting for its one in-cycle edge.
    InCycle(Option<Edge>, bool),
    Done(TableOwnership),
}

impl Ownership {
    /// Infer the ownership of every table of `schema` from its references and the `owner`
    /// and `mentions` the dataset declares.
    pub fn infer(dataset: &Dataset, schema: &SchemaGraph) -> Ownership {
        let declared: HashMap<&str, &Table> = dataset
            .tables
            .iter()
            .map(|t| (t.name.as_str(), t))
            .collect();
        let relations: Vec<(String, ForeignKey)> = dataset
            .relations
            .iter()
            .map(|r| {
                (
                    r.from.table.clone(),
                    ForeignKey {
                        columns: vec![r.from.column.clone()],
                        ref_table: r.to.table.clone(),
                        ref_columns: vec![r.to.column.clone()],
                    },
                )
            })
            .collect();
        let in_schema = |(table, fk): &(String, ForeignKey)| {
            schema
                .table(table)
                .is_some_and(|t| t.foreign_keys.contains(fk))
        };
        let edges: Vec<Edge> = foreign_keys(dataset, schema)
            .into_iter()
            .map(|e| Edge {
                relation: relations.contains(&e) && !in_schema(&e),
                table: e.0,
                columns: e.1.columns,
                parent: e.1.ref_table,
                parent_columns: e.1.ref_columns,
            })
            .collect();
        let names: Vec<&str> = schema.tables.iter().map(|t| t.name.as_str()).collect();
        let is_subject = |t: &str| declared.get(t).is_some_and(|d| !d.identity.is_empty());
        // A subject's row is nobody's property, so its references (a customer's last order)
        // close no cycle of ownership.
        let owning_graph: Vec<Edge> = edges
            .iter()
            .filter(|e| !is_subject(&e.table))
            .cloned()
            .collect();
        let cycles = cycles(&names, &owning_graph);
        // The cycles of every reference, a subject's included: a table whose one candidate
        // leads to a subject whose row refers back to it (a store and the staff who work there
        // and manage it) could be the subject's or the company's, and is not guessed.
        let circles = self::cycles(&names, &edges);
        let mut ineffective = Vec::new();
        let mut state: HashMap<&str, State> = HashMap::new();
        for &t in &names {
            if is_subject(t) {
                let d = declared[t];
                if let Some(owner) = &d.owner {
                    ineffective.push(Ineffective {
                        table: t.to_string(),
                        column: None,
                        setting: format!("owner = \"{}\"", owner.value),
                        problem: "the table identifies people: its rows are their own, so `owner` has no effect".into(),
                        span: owner.span,
                    });
                }
                let group = d.subject.as_ref().map(|s| s.value.to_string());
                state.insert(t, State::Done(TableOwnership::Subject { group }));
            } else {
                state.insert(t, State::Pending);
            }
        }
        let owns_rows = |s: Option<&State>| match s {
            Some(State::Done(TableOwnership::Unowned { .. })) => Some(false),
            Some(State::Done(_)) => Some(true),
            _ => None,
        };
        // Outside cycles, parents first: a table is decided once every table it refers to
        // outside its cycle is.
        loop {
            let mut changed = false;
            for &t in &names {
                if !matches!(state[t], State::Pending) {
                    continue;
                }
                let cycle = &cycles[t];
                let outside: Vec<&Edge> = edges
                    .iter()
                    .filter(|e| e.table == t && !cycle.contains(&e.parent))
                    .collect();
                if outside
                    .iter()
                    .any(|e| owns_rows(state.get(e.parent.as_str())).is_none())
                {
                    continue;
                }
                let own: Vec<&Edge> = edges.iter().filter(|e| e.table == t).collect();
                let inside: Vec<&Edge> = own
                    .iter()
                    .filter(|e| cycle.contains(&e.parent))
                    .copied()
                    .collect();
                let decision = match declared.get(t).and_then(|d| d.owner.as_ref()) {
                    Some(o) if o.value == OWNER_NONE => {
                        State::Done(TableOwnership::Unowned { declared: true })
                    }
                    Some(o) => match own.iter().find(|e| e.column() == o.value) {
                        Some(e) if cycle.contains(&e.parent) => {
                            State::InCycle(Some((*e).clone()), true)
                        }
                        Some(e) if owns_rows(state.get(e.parent.as_str())) == Some(true) => {
                            State::Done(TableOwnership::Owned {
                                via: (*e).clone(),
                                subject: subject_of(&state, &e.parent),
                                declared: true,
                                through_cycle: None,
                            })
                        }
                        Some(e) => {
                            ineffective.push(Ineffective {
                                table: t.to_string(),
                                column: Some(o.value.clone()),
                                setting: format!("owner = \"{}\"", o.value),
                                problem: format!(
                                    "`{}` belongs to no subject, so the rows of `{t}` do not either",
                                    e.parent
                                ),
                                span: o.span,
                            });
                            State::Done(TableOwnership::Unowned { declared: false })
                        }
                        None => {
                            let named: Vec<String> =
                                own.iter().map(|e| format!("`{}`", e.column())).collect();
                            ineffective.push(Ineffective {
                                table: t.to_string(),
                                column: Some(o.value.clone()),
                                setting: format!("owner = \"{}\"", o.value),
                                problem: format!(
                                    "`{t}.{}` is not the first column of a foreign key or declared relation{}; ownership is inferred instead",
                                    o.value,
                                    if named.is_empty() {
                                        String::new()
                                    } else {
                                        format!(" (those are {})", named.join(", "))
                                    }
                                ),
                                span: o.span,
                            });
                            infer_one(&outside, &inside, cycle, &circles[t], &state)
                        }
                    },
                    None => infer_one(&outside, &inside, cycle, &circles[t], &state),
                };
                state.insert(t, decision);
                changed = true;
            }
            if !changed {
                break;
            }
        }
        // Members of a cycle owned through an edge to another member, as those get owners.
        loop {
            let mut changed = false;
            for &t in &names {
                let State::InCycle(edge, declared) = state[t].clone() else {
                    continue;
                };
                let decision = match edge {
                    None => State::Done(TableOwnership::Unowned { declared: false }),
                    Some(e) => match owns_rows(state.get(e.parent.as_str())) {
                        None => continue,
                        Some(false) => State::Done(TableOwnership::Unowned { declared: false }),
                        Some(true) => State::Done(TableOwnership::Owned {
                            subject: subject_of(&state, &e.parent),
                            via: e,
                            declared,
                            through_cycle: None,
                        }),
                    },
                };
                state.insert(t, decision);
                changed = true;
            }
            if !changed {
                break;
            }
        }
        // What is still undecided waits on itself: a cycle no owner leads into.
        let mut tables: BTreeMap<String, TableOwnership> = BTreeMap::new();
        for &t in &names {
            let o = match &state[t] {
                State::Done(o) => o.clone(),
                _ => TableOwnership::Unowned { declared: false },
            };
            tables.insert(t.to_string(), o);
        }
        // Rows with no owner of their own in a cycle belong to the row they refer to in it.
        for &t in &names {
            let cycle = &cycles[t];
            let Some(TableOwnership::Owned {
                via, through_cycle, ..
            }) = tables.get(t)
            else {
                continue;
            };
            if cycle.contains(&via.parent) {
                continue;
            }
            let nullable = schema.table(t).is_some_and(|ts| {
                via.columns
                    .iter()
                    .any(|c| ts.column(c).is_some_and(|c| c.nullable))
            });
            let inside: Vec<&Edge> = edges
                .iter()
                .filter(|e| e.table == t && cycle.contains(&e.parent))
                .filter(|e| matches!(tables.get(&e.parent), Some(TableOwnership::Owned { .. })))
                .collect();
            if through_cycle.is_none() && nullable && inside.len() == 1 {
                let edge = inside[0].clone();
                if let Some(TableOwnership::Owned { through_cycle, .. }) = tables.get_mut(t) {
                    *through_cycle = Some(edge);
                }
            }
        }
        // Mentions: every other reference to rows a subject has or owns.
        let mut mentions = Vec::new();
        for e in &edges {
            let parent = tables.get(&e.parent);
            let subject = match parent {
                Some(TableOwnership::Subject { .. }) => Some(e.parent.clone()),
                Some(TableOwnership::Owned { subject, .. }) => subject.clone(),
                Some(TableOwnership::Ambiguous { .. }) => None,
                _ => continue,
            };
            let owner = match tables.get(&e.table) {
                Some(TableOwnership::Subject { .. }) => Some(e.table.clone()),
                Some(TableOwnership::Owned { via, .. }) if via == e => continue,
                Some(TableOwnership::Owned { subject, .. }) => subject.clone(),
                Some(TableOwnership::Unowned { .. }) => None,
                Some(TableOwnership::Ambiguous { .. }) | None => continue,
            };
            let m = declared
                .get(e.table.as_str())
                .and_then(|d| d.mentions.get(&e.column().to_string()));
            let erase = m
                .and_then(|m| m.erase.as_ref())
                .map_or(MentionErasure::Keep, |e| e.value);
            let reason = m.and_then(|m| m.reason.as_ref()).map_or_else(
                || default_mention_reason(erase).to_string(),
                |r| r.value.clone(),
            );
            mentions.push(Mention {
                edge: e.clone(),
                subject,
                owner,
                erase,
                reason,
                declared: m.is_some(),
            });
        }
        // Mention settings that cannot take effect.
        for d in &dataset.tables {
            let Some(ts) = schema.table(&d.name) else {
                continue;
            };
            for (column, m) in &d.mentions {
                let setting = |what: &str| format!("mentions.{}{what}", column.value);
                let mention = mentions
                    .iter()
                    .find(|x| x.edge.table == d.name.value && x.edge.column() == column.value);
                let Some(mention) = mention else {
                    let problem = match edges
                        .iter()
                        .find(|e| e.table == d.name.value && e.column() == column.value)
                    {
                        Some(e)
                            if tables.get(&e.table).is_some_and(
                                |o| matches!(o, TableOwnership::Owned { via, .. } if via == e),
                            ) =>
                        {
                            "it is the table's owning reference, not a mention".to_string()
                        }
                        Some(e)
                            if matches!(
                                tables.get(&e.table),
                                Some(TableOwnership::Ambiguous { .. })
                            ) =>
                        {
                            format!("`{}` is ambiguous: declare its `owner` first", e.table)
                        }
                        Some(e) => format!(
                            "`{}` belongs to no subject, so the reference mentions no one",
                            e.parent
                        ),
                        None => format!(
                            "`{}.{}` is not the first column of a foreign key or declared relation",
                            d.name.value, column.value
                        ),
                    };
                    ineffective.push(Ineffective {
                        table: d.name.value.clone(),
                        column: Some(column.value.clone()),
                        setting: setting(""),
                        problem,
                        span: column.span,
                    });
                    continue;
                };
                let span = m
                    .erase
                    .as_ref()
                    .map_or(column.span, |e| e.span.or(column.span));
                let columns: Vec<_> = mention
                    .edge
                    .columns
                    .iter()
                    .filter_map(|c| ts.column(c))
                    .collect();
                match mention.erase {
                    MentionErasure::Keep => {}
                    MentionErasure::Null if columns.iter().any(|c| !c.nullable) => {
                        ineffective.push(Ineffective {
                            table: d.name.value.clone(),
                            column: Some(column.value.clone()),
                            setting: setting(".erase = \"null\""),
                            problem: format!(
                                "`{}.{}` is NOT NULL: the reference cannot be cleared, and erasure refuses to plan",
                                d.name.value, column.value
                            ),
                            span,
                        });
                    }
                    MentionErasure::Null => {}
                    MentionErasure::Hmac
                        if !mention.edge.relation
                            || columns.iter().any(|c| !c.kind.is_text_like()) =>
                    {
                        ineffective.push(Ineffective {
                            table: d.name.value.clone(),
                            column: Some(column.value.clone()),
                            setting: setting(".erase = \"hmac\""),
                            problem: "a keyed pseudonym fits only a text column of a declared relation (a foreign key would break, a number cannot hold it); erasure refuses to plan".into(),
                            span,
                        });
                    }
                    MentionErasure::Hmac => {}
                }
            }
            // Erasure strategies on key columns: key columns are never masked.
            for (name, c) in &d.columns {
                let Some(erasure) = &c.erasure else { continue };
                if erasure.value == ColumnErasure::Keep || !ts.is_key_column(name) {
                    continue;
                }
                let foreign = ts
                    .foreign_keys
                    .iter()
                    .any(|fk| fk.columns.iter().any(|k| k == name.as_str()));
                ineffective.push(Ineffective {
                    table: d.name.value.clone(),
                    column: Some(name.value.clone()),
                    setting: format!("columns.{}.erasure", name.value),
                    problem: format!(
                        "`{}.{}` is a {} column: erasure never masks keys, so the row keeps it (deleted rows take it with them)",
                        d.name.value,
                        name.value,
                        if foreign { "foreign-key" } else { "key" }
                    ),
                    span: erasure.span.or(name.span),
                });
            }
        }
        Ownership {
            tables,
            mentions,
            ineffective,
        }
    }

    /// How `table`'s rows are owned; `None` for a table not in the schema.
    pub fn of(&self, table: &str) -> Option<&TableOwnership> {
        self.tables.get(table)
    }

    /// The mentions from rows of `table`.
    pub fn mentions_from<'a>(&'a self, table: &'a str) -> impl Iterator<Item = &'a Mention> {
        self.mentions.iter().filter(move |m| m.edge.table == table)
    }

    /// The mentions of rows of `table`.
    pub fn mentions_of<'a>(&'a self, table: &'a str) -> impl Iterator<Item = &'a Mention> {
        self.mentions.iter().filter(move |m| m.edge.parent == table)
    }
}

/// The subject table at the end of a decided table's owning path.
fn subject_of(state: &HashMap<&str, State>, t: &str) -> Option<String> {
    match state.get(t) {
        Some(State::Done(TableOwnership::Subject { .. })) => Some(t.to_string()),
        Some(State::Done(TableOwnership::Owned { subject, .. })) => subject.clone(),
        _ => None,
    }
}

/// The ownership of a table from its candidates outside its cycle.
fn infer_one(
    outside: &[&Edge],
    inside: &[&Edge],
    cycle: &[String],
    circle: &[String],
    state: &HashMap<&str, State>,
) -> State {
    let owning = |e: &&&Edge| {
        matches!(
            state.get(e.parent.as_str()),
            Some(State::Done(o)) if !matches!(o, TableOwnership::Unowned { .. })
        )
    };
    let candidates: Vec<&Edge> = outside.iter().filter(owning).copied().collect();
    match candidates.as_slice() {
        [one] if !circle.contains(&one.parent) => State::Done(TableOwnership::Owned {
            via: (*one).clone(),
            subject: subject_of(state, &one.parent),
            declared: false,
            through_cycle: None,
        }),
        [] if cycle.is_empty() => State::Done(TableOwnership::Unowned { declared: false }),
        [] => {
            // The one edge to another member of the cycle (not a person's table, not itself).
            let inside: Vec<&Edge> = inside
                .iter()
                .filter(|e| e.parent != e.table)
                .filter(|e| {
                    !matches!(
                        state.get(e.parent.as_str()),
                        Some(State::Done(TableOwnership::Subject { .. }))
                    )
                })
                .copied()
                .collect();
            match inside.as_slice() {
                [] => State::Done(TableOwnership::Unowned { declared: false }),
                [one] => State::InCycle(Some((*one).clone()), false),
                many => State::Done(TableOwnership::Ambiguous {
                    choices: many
                        .iter()
                        .map(|e| Choice {
                            edge: (*e).clone(),
                            subject: None,
                        })
                        .collect(),
                }),
            }
        }
        // Several, or one into a cycle through a subject's own references.
        many => State::Done(TableOwnership::Ambiguous {
            choices: many
                .iter()
                .map(|e| Choice {
                    edge: (*e).clone(),
                    subject: subject_of(state, &e.parent),
                })
                .collect(),
        }),
    }
}

/// Each table's cycle of references (the tables that reach it and that it reaches, itself
/// included); empty when it is in none.
fn cycles(names: &[&str], edges: &[Edge]) -> HashMap<String, Vec<String>> {
    let reaches: HashMap<&str, HashSet<&str>> = names
        .iter()
        .map(|&n| {
            let mut seen: HashSet<&str> = HashSet::new();
            let mut stack: Vec<&str> = vec![n];
            while let Some(t) = stack.pop() {
                for e in edges.iter().filter(|e| e.table == t) {
                    if seen.insert(e.parent.as_str()) {
                        stack.push(e.parent.as_str());
                    }
                }
            }
            (n, seen)
        })
        .collect();
    names
        .iter()
        .map(|&n| {
            let members = names
                .iter()
                .filter(|&&o| {
                    reaches[n].contains(o) && reaches.get(o).is_some_and(|r| r.contains(n))
                })
                .map(|o| o.to_string())
                .collect();
            (n.to_string(), members)
        })
        .collect()
}
