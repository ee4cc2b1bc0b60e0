//! Request planning: from a declaration, the schema of one dataset and a rights request, the
//! ordered steps that answer it, with the reason for each.
//!
//! Who "the person" is: rows of declared tables whose identity columns match the request
//! (the seeds), and every row that refers to those rows, at any depth, through foreign keys
//! or declared relations, whatever the path; rows of tables that refer to each other (or a
//! table to itself) are found by a recursive query. Tables that hold people of their own (a
//! declared `subject` with identity columns) are not entered: a customer row that names an
//! employee as support rep is the customer's, not the employee's.
//!
//! Erasure deletes first, rows before the rows they refer to. A row is deleted only when its
//! table's strategy says so, no legal hold keeps it, and, checked by the database at the
//! moment of deletion, no other row still refers to it; every row of the person that remains
//! is then masked, children first, so that the seeds' identifying columns change last.
//! Nothing here touches a database: connectors render and run the plan.

mod person;
pub mod retention;
mod schema;
mod time;
mod value;

pub use person::{Person, Probe, TableProbes, person, request_person};
pub use schema::{ColumnSchema, ForeignKey, SchemaGraph, TableSchema, ValueKind};
pub use time::CivilTime;
pub use value::{TableRows, Value};

use crate::load::Declaration;
use crate::model::{Basis, ColumnErasure, Dataset, Role, Table, TableErasure};
use crate::types::{CategoryId, DatasetId, IdentityKind};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use thiserror::Error;

/// The kinds of request the engine plans.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestKind {
    /// GDPR Art. 15.
    Access,
    /// GDPR Art. 20.
    Portability,
    /// GDPR Art. 17.
    Erasure,
    /// GDPR Art. 16.
    Rectification,
    /// GDPR Art. 18.
    Restriction,
}

/// A request against one dataset.
#[derive(Debug, Clone)]
pub struct Request {
    pub kind: RequestKind,
    /// The person (or, for batches, people): identity kind → values. The planner finds the
    /// rows any of them select; that these are one person's (or each person's of a batch) is
    /// checked by the connector against [`person`] before anything runs.
    pub identities: Vec<(IdentityKind, Vec<String>)>,
    /// For rectification: the new values.
    pub changes: Vec<Change>,
    /// When the request runs: holds are computed from it.
    pub now: CivilTime,
}

/// One rectification: set `column` (of `table`, or of the tables that identify the person)
/// to `value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub table: Option<String>,
    pub column: String,
    pub value: Value,
}

/// Which rows a step is about. Rendered into SQL by the connectors.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum Filter {
    /// `column IN (values)` for any of the pairs.
    Identity {
        columns: Vec<(String, Vec<Value>)>,
    },
    /// `(columns) IN (SELECT parent_columns FROM parent WHERE parent_filter)`: the row refers
    /// to rows of `parent` (or, for a table reached upwards, is referred to by them: then
    /// `parent` is the referring table and `parent_columns` its foreign key).
    RefersTo {
        columns: Vec<String>,
        parent: String,
        parent_columns: Vec<String>,
        parent_filter: Box<Filter>,
    },
    Any {
        filters: Vec<Filter>,
    },
    All {
        filters: Vec<Filter>,
    },
    /// `column < cutoff`: the hold that runs from `column` has ended. NULL is still held.
    Before {
        column: String,
        cutoff: String,
    },
    /// `NOT (column < cutoff)` or NULL: still held.
    NotBefore {
        column: String,
        cutoff: String,
    },
    /// No row of `table` refers to this row through `columns` → `ref_columns`, apart from
    /// the rows of `table` that `except` selects (the person's own rows).
    Unreferenced {
        table: String,
        columns: Vec<String>,
        ref_columns: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        except: Option<Box<Filter>>,
    },
    /// The row still holds a value one of the assignments would change: it is not masked yet.
    Unmasked {
        assignments: Vec<Assignment>,
    },
    /// The rows of the current batch of a retention sweep: the executor binds the primary
    /// keys it selected for the batch.
    Batch,
    /// Rows reached through a cycle of references (a table that refers to itself, or tables
    /// that refer to each other): the members' rows their entry filters select, then, again
    /// and again, member rows that refer to rows already reached, until no more are found (a
    /// recursive query). Selects the reached rows of `table`, one of the members.
    Cycle {
        table: String,
        members: Vec<CycleMember>,
        links: Vec<CycleLink>,
    },
}

/// A table in a cycle of references.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CycleMember {
    pub table: String,
    /// The columns that tell its rows apart: the primary key, or without one the columns the
    /// other members refer to.
    pub key: Vec<String>,
    /// Its rows reached from outside the cycle.
    pub entry: Filter,
    /// Only rows this selects are reached (for deletion: rows no hold keeps).
    pub only: Filter,
}

/// `table.columns` refer to `parent.parent_columns`; both tables are members of the cycle.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CycleLink {
    pub table: String,
    pub columns: Vec<String>,
    pub parent: String,
    pub parent_columns: Vec<String>,
}

impl Filter {
    /// Every row: an empty conjunction.
    pub const ALWAYS: Filter = Filter::All {
        filters: Vec::new(),
    };
    /// No row: an empty disjunction.
    pub const NEVER: Filter = Filter::Any {
        filters: Vec::new(),
    };

    fn all(filters: Vec<Filter>) -> Filter {
        if filters.len() == 1 {
            filters.into_iter().next().expect("one element")
        } else {
            Filter::All { filters }
        }
    }

    fn any(filters: Vec<Filter>) -> Filter {
        if filters.len() == 1 {
            filters.into_iter().next().expect("one element")
        } else {
            Filter::Any { filters }
        }
    }
}

/// What a masked column is set to.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "type", content = "value")]
pub enum Mask {
    Null,
    Fixed(Value),
    /// HMAC-SHA-256 of the current value under the controller's key; NULL stays NULL.
    Hmac,
    /// A date or time generalised to 1 January of its year; NULL stays NULL.
    Year,
    /// A date or time generalised to the first day of its month; NULL stays NULL.
    Month,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Assignment {
    pub column: String,
    pub mask: Mask,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum Action {
    /// Read these columns.
    Read { columns: Vec<String> },
    /// Delete the rows that no other row refers to (each guard must hold).
    Delete { guards: Vec<Filter> },
    /// Overwrite what identifies the person.
    Mask { assignments: Vec<Assignment> },
    /// Rectify the person's own rows.
    Set { column: String, value: Value },
    /// Rectify copies: set `column` to `value` where it still holds a value that the source
    /// column of the person's own rows holds now (read before the source changes).
    SetCopies {
        column: String,
        value: Value,
        source_table: String,
        source_column: String,
        source_filter: Filter,
    },
    /// Restriction: set the flag column to true and record the rows' keys. Without a
    /// column nothing can mark the rows: connectors refuse the request if it selects any.
    Restrict { column: Option<String> },
    /// Leave the rows as they are (said for the record).
    Keep,
}

impl Action {
    /// A short name for reports: `read`, `delete`, `mask`, `set`, `set-copy`, `restrict`, `keep`.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Read { .. } => "read",
            Action::Delete { .. } => "delete",
            Action::Mask { .. } => "mask",
            Action::Set { .. } => "set",
            Action::SetCopies { .. } => "set-copy",
            Action::Restrict { .. } => "restrict",
            Action::Keep => "keep",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    pub table: String,
    pub filter: Filter,
    pub action: Action,
    /// Why, in plain words: the purpose, the hold, the reference.
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub dataset: DatasetId,
    pub kind: RequestKind,
    pub steps: Vec<Step>,
    /// Things the person or the operator should know (tables not reached, limits).
    pub notes: Vec<String>,
}

impl Plan {
    /// Whether running the plan writes keyed pseudonyms, and so needs the controller's key.
    pub fn uses_hmac(&self) -> bool {
        self.steps.iter().any(|s| match &s.action {
            Action::Mask { assignments } => assignments.iter().any(|a| a.mask == Mask::Hmac),
            _ => false,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PlanError {
    #[error("table `{table}` of dataset `{dataset}` is declared but not in the database")]
    TableMissing { dataset: String, table: String },
    #[error("column `{table}.{column}` of dataset `{dataset}` is declared but not in the database")]
    ColumnMissing {
        dataset: String,
        table: String,
        column: String,
    },
    #[error("no table of dataset `{dataset}` declares an identity column for {kinds}")]
    NoIdentityColumn { dataset: String, kinds: String },
    #[error("the request names no identity")]
    NoIdentity,
    #[error("`{column}` is not a column of the tables that identify the person ({tables})")]
    UnknownChangeColumn { column: String, tables: String },
    #[error(
        "cannot correct `{table}.{column}`: table `{table}` holds none of the person's rows in dataset `{dataset}` (their rows are in {tables})"
    )]
    ChangeTableNotReached {
        dataset: String,
        table: String,
        column: String,
        tables: String,
    },
    #[error("cannot correct `{table}.{column}`: table `{table}` has no column `{column}`")]
    ChangeColumnMissing { table: String, column: String },
    #[error(
        "identity `{kind}` must be {expected}: it is looked up in `{table}.{column}`; nothing was changed"
    )]
    IdentityType {
        kind: String,
        table: String,
        column: String,
        expected: String,
    },
    #[error("`{table}.{column}` is a key column and cannot be rectified")]
    KeyColumnChange { table: String, column: String },
    #[error("a {kind} request takes no changes")]
    ChangesNotAllowed { kind: String },
    #[error("a rectification request needs at least one change (--set column=value)")]
    NoChanges,
    #[error("table `{table}` of dataset `{dataset}` declares no retention")]
    NoRetention { dataset: String, table: String },
}

/// The edges of the dataset's graph: the database's foreign keys plus declared relations.
fn foreign_keys(dataset: &Dataset, schema: &SchemaGraph) -> Vec<(String, ForeignKey)> {
    let mut edges: Vec<(String, ForeignKey)> = schema
        .tables
        .iter()
        .flat_map(|t| {
            t.foreign_keys
                .iter()
                .map(move |fk| (t.name.clone(), fk.clone()))
        })
        .collect();
    for r in &dataset.relations {
        let fk = ForeignKey {
            columns: vec![r.from.column.clone()],
            ref_table: r.to.table.clone(),
            ref_columns: vec![r.to.column.clone()],
        };
        if !edges.iter().any(|(t, e)| *t == r.from.table && *e == fk) {
            edges.push((r.from.table.clone(), fk));
        }
    }
    edges
}

/// Check that everything the dataset declares exists in the database.
pub fn validate(dataset: &Dataset, schema: &SchemaGraph) -> Result<(), PlanError> {
    let missing_column = |table: &str, column: &str| PlanError::ColumnMissing {
        dataset: dataset.id.to_string(),
        table: table.to_string(),
        column: column.to_string(),
    };
    for t in &dataset.tables {
        let Some(ts) = schema.table(&t.name) else {
            return Err(PlanError::TableMissing {
                dataset: dataset.id.to_string(),
                table: t.name.value.clone(),
            });
        };
        let named = t
            .identity
            .values()
            .map(|c| c.as_str())
            .chain(t.columns.keys().map(|c| c.as_str()))
            .chain(t.restrict_column.iter().map(|c| c.as_str()))
            .chain(t.retention.iter().map(|r| r.column.as_str()))
            .chain(
                t.retention
                    .iter()
                    .flat_map(|r| r.generalise.keys().map(|c| c.as_str())),
            )
            .chain(
                t.holds
                    .iter()
                    .flat_map(|h| h.after.iter().map(|c| c.as_str())),
            )
            .chain(
                t.holds
                    .iter()
                    .flat_map(|h| h.pseudonymise.iter().map(|c| c.as_str())),
            );
        for column in named {
            if ts.column(column).is_none() {
                return Err(missing_column(&t.name, column));
            }
        }
    }
    for r in &dataset.relations {
        for side in [&r.from, &r.to] {
            let ts = schema
                .table(&side.table)
                .ok_or_else(|| PlanError::TableMissing {
                    dataset: dataset.id.to_string(),
                    table: side.table.clone(),
                })?;
            if ts.column(&side.column).is_none() {
                return Err(missing_column(&side.table, &side.column));
            }
        }
    }
    Ok(())
}

/// Plan a request against one dataset.
pub fn plan(
    decl: &Declaration,
    dataset: &Dataset,
    schema: &SchemaGraph,
    request: &Request,
) -> Result<Plan, PlanError> {
    validate(dataset, schema)?;
    match (request.kind, request.changes.is_empty()) {
        (RequestKind::Rectification, true) => return Err(PlanError::NoChanges),
        (RequestKind::Rectification, false) | (_, true) => {}
        (kind, false) => {
            return Err(PlanError::ChangesNotAllowed {
                kind: crate::model::variant_name(&kind),
            });
        }
    }
    let planner = Planner::new(decl, dataset, schema, request)?;
    let mut plan = Plan {
        dataset: dataset.id.value.clone(),
        kind: request.kind,
        steps: Vec::new(),
        notes: planner.notes(),
    };
    match request.kind {
        RequestKind::Access => planner.access(&mut plan),
        RequestKind::Portability => planner.portability(&mut plan),
        RequestKind::Erasure => planner.erasure(&mut plan),
        RequestKind::Rectification => planner.rectification(&mut plan)?,
        RequestKind::Restriction => planner.restriction(&mut plan),
    }
    Ok(plan)
}

/// A table the person's rows were found in, and how.
struct Reached {
    name: String,
    /// The longest chain of references from a seed (0): parents come first.
    depth: usize,
    /// Edges to the reached tables it refers to, outside its cycle: (own columns, parent,
    /// parent columns). For a table reached upwards the "parent" is the table whose rows refer
    /// to this one.
    parents: Vec<(Vec<String>, String, Vec<String>)>,
    /// Reached upwards: a row the person's rows refer to (their address in a table of its
    /// own), which other people's rows may refer to as well.
    upward: bool,
    /// The tables of its cycle of references, itself included; empty when in none.
    cycle: Vec<String>,
}

struct Planner<'a> {
    decl: &'a Declaration,
    dataset: &'a Dataset,
    schema: &'a SchemaGraph,
    request: &'a Request,
    edges: Vec<(String, ForeignKey)>,
    declared: HashMap<&'a str, &'a Table>,
    /// In discovery order: seeds first, then by depth.
    reached: Vec<Reached>,
    seeds: BTreeMap<String, Filter>,
}

impl<'a> Planner<'a> {
    fn new(
        decl: &'a Declaration,
        dataset: &'a Dataset,
        schema: &'a SchemaGraph,
        request: &'a Request,
    ) -> Result<Self, PlanError> {
        if request
            .identities
            .iter()
            .all(|(_, values)| values.is_empty())
        {
            return Err(PlanError::NoIdentity);
        }
        let declared: HashMap<&str, &Table> = dataset
            .tables
            .iter()
            .map(|t| (t.name.as_str(), t))
            .collect();
        let mut seeds = BTreeMap::new();
        for t in &dataset.tables {
            let mut columns: Vec<(String, Vec<Value>)> = Vec::new();
            for (kind, values) in &request.identities {
                let mut column = None;
                let mut typed_values = Vec::with_capacity(values.len());
                for v in values {
                    if let Some((c, value)) = person::identity_value(t, schema, kind, v)? {
                        column = Some(c);
                        typed_values.push(value);
                    }
                }
                if let Some(column) = column {
                    columns.push((column, typed_values));
                }
            }
            if !columns.is_empty() {
                seeds.insert(t.name.value.clone(), Filter::Identity { columns });
            }
        }
        if seeds.is_empty() {
            let kinds: Vec<String> = request
                .identities
                .iter()
                .map(|(k, _)| format!("`{k}`"))
                .collect();
            return Err(PlanError::NoIdentityColumn {
                dataset: dataset.id.to_string(),
                kinds: kinds.join(", "),
            });
        }
        let mut planner = Planner {
            decl,
            dataset,
            schema,
            request,
            edges: foreign_keys(dataset, schema),
            declared,
            reached: Vec::new(),
            seeds,
        };
        planner.reach();
        Ok(planner)
    }

    /// A table of people of its own, which the search for one person's rows does not enter.
    fn holds_other_people(&self, table: &str) -> bool {
        self.declared.get(table).is_some_and(|t| holds_people(t))
    }

    /// Breadth-first from the seeds along "refers to" edges, children of reached tables. A
    /// table's rows are then found through every reached table it refers to; tables that
    /// refer to each other (or a table that refers to itself) form a cycle, whose rows are
    /// found together by a recursive query.
    fn reach(&mut self) {
        let mut found: Vec<String> = self.seeds.keys().cloned().collect();
        let mut known: HashSet<String> = found.iter().cloned().collect();
        let mut queue: VecDeque<String> = found.iter().cloned().collect();
        while let Some(parent) = queue.pop_front() {
            for (child, fk) in &self.edges {
                if fk.ref_table != parent || known.contains(child) || self.holds_other_people(child)
                {
                    continue;
                }
                known.insert(child.clone());
                found.push(child.clone());
                queue.push_back(child.clone());
            }
        }
        // The edges from each reached table to the reached tables it refers to (seeds are found
        // by identity alone).
        let edges_of = |name: &str| -> Vec<&ForeignKey> {
            if self.seeds.contains_key(name) {
                return Vec::new();
            }
            self.edges
                .iter()
                .filter(|(t, fk)| t == name && known.contains(&fk.ref_table))
                .map(|(_, fk)| fk)
                .collect()
        };
        let refers: HashMap<&str, Vec<&str>> = found
            .iter()
            .map(|name| {
                let parents = edges_of(name).into_iter().map(|fk| fk.ref_table.as_str());
                (name.as_str(), parents.collect())
            })
            .collect();
        // The tables each refers to at any remove; a table in a cycle reaches itself.
        let reaches: HashMap<&str, HashSet<&str>> = found
            .iter()
            .map(|name| {
                let mut seen: HashSet<&str> = HashSet::new();
                let mut stack: Vec<&str> = refers[name.as_str()].clone();
                while let Some(t) = stack.pop() {
                    if seen.insert(t) {
                        stack.extend(refers[t].iter().copied());
                    }
                }
                (name.as_str(), seen)
            })
            .collect();
        let cycles: HashMap<&str, Vec<String>> = found
            .iter()
            .map(|name| {
                let members = found
                    .iter()
                    .filter(|o| {
                        reaches[name.as_str()].contains(o.as_str())
                            && reaches[o.as_str()].contains(name.as_str())
                    })
                    .cloned()
                    .collect();
                (name.as_str(), members)
            })
            .collect();
        // The longest chain of references from a seed, a cycle counting as one table: every
        // table comes after the tables its rows are found through.
        let mut depth: HashMap<&str, usize> = found.iter().map(|n| (n.as_str(), 0)).collect();
        for _ in 0..found.len() {
            let mut changed = false;
            for name in found.iter().filter(|n| !self.seeds.contains_key(*n)) {
                let group: Vec<&str> = match cycles[name.as_str()].as_slice() {
                    [] => vec![name.as_str()],
                    members => members.iter().map(String::as_str).collect(),
                };
                let own = group
                    .iter()
                    .flat_map(|m| refers[m].iter())
                    .filter(|p| !group.contains(p))
                    .map(|p| depth[p] + 1)
                    .max()
                    .unwrap_or(1);
                if own > depth[name.as_str()] {
                    depth.insert(name.as_str(), own);
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        self.reached = found
            .iter()
            .map(|name| {
                let cycle = cycles[name.as_str()].clone();
                let parents = edges_of(name)
                    .into_iter()
                    .filter(|fk| !cycle.contains(&fk.ref_table))
                    .map(|fk| {
                        (
                            fk.columns.clone(),
                            fk.ref_table.clone(),
                            fk.ref_columns.clone(),
                        )
                    })
                    .collect();
                Reached {
                    name: name.clone(),
                    depth: depth[name.as_str()],
                    parents,
                    upward: false,
                    cycle,
                }
            })
            .collect();
        self.reach_upwards();
    }

    /// One level upwards: declared tables with personal columns that the person's rows refer
    /// to and that hold no people of their own (an `address` row of a customer).
    fn reach_upwards(&mut self) {
        let mut upward: Vec<Reached> = Vec::new();
        for (from, fk) in &self.edges {
            let target = &fk.ref_table;
            let from_reached = self.reached.iter().any(|r| &r.name == from);
            let personal = self
                .declared
                .get(target.as_str())
                .is_some_and(|t| !t.columns.is_empty());
            let known = self.reached.iter().any(|r| &r.name == target);
            if !from_reached
                || !personal
                || known
                || target == from
                || self.holds_other_people(target)
            {
                continue;
            }
            let edge = (fk.ref_columns.clone(), from.clone(), fk.columns.clone());
            match upward.iter_mut().find(|r| &r.name == target) {
                Some(r) => r.parents.push(edge),
                None => upward.push(Reached {
                    name: target.clone(),
                    depth: 0,
                    parents: vec![edge],
                    upward: true,
                    cycle: Vec::new(),
                }),
            }
        }
        self.reached.extend(upward);
    }

    fn reached(&self, name: &str) -> Option<&Reached> {
        self.reached.iter().find(|r| r.name == name)
    }

    /// All rows of the person in `table`.
    fn base(&self, table: &str) -> Filter {
        self.filter_via(table, &|parent| self.base(parent), &|_| Filter::ALWAYS)
    }

    /// The rows of `table` that refer to rows `parent_filter` selects in the tables it refers
    /// to. In a cycle, only member rows `only` selects are reached.
    fn filter_via(
        &self,
        table: &str,
        parent_filter: &dyn Fn(&str) -> Filter,
        only: &dyn Fn(&str) -> Filter,
    ) -> Filter {
        if let Some(seed) = self.seeds.get(table) {
            return seed.clone();
        }
        let reached = self
            .reached(table)
            .expect("only reached tables are filtered");
        if reached.cycle.is_empty() {
            return self.entry(reached, parent_filter);
        }
        let cycle = &reached.cycle;
        let members = cycle
            .iter()
            .map(|m| {
                let member = self.reached(m).expect("cycle members are reached");
                let key = self
                    .schema
                    .table(m)
                    .map(|ts| ts.primary_key.clone())
                    .filter(|k| !k.is_empty())
                    .unwrap_or_else(|| {
                        let mut key: Vec<String> = Vec::new();
                        for (t, fk) in &self.edges {
                            if fk.ref_table == *m && cycle.contains(t) {
                                for c in &fk.ref_columns {
                                    if !key.contains(c) {
                                        key.push(c.clone());
                                    }
                                }
                            }
                        }
                        key
                    });
                CycleMember {
                    table: m.clone(),
                    key,
                    entry: self.entry(member, parent_filter),
                    only: only(m),
                }
            })
            .collect();
        let links = self
            .edges
            .iter()
            .filter(|(t, fk)| cycle.contains(t) && cycle.contains(&fk.ref_table))
            .map(|(t, fk)| CycleLink {
                table: t.clone(),
                columns: fk.columns.clone(),
                parent: fk.ref_table.clone(),
                parent_columns: fk.ref_columns.clone(),
            })
            .collect();
        Filter::Cycle {
            table: table.to_string(),
            members,
            links,
        }
    }

    /// Rows of a reached table that refer to the selected rows of its parents.
    fn entry(&self, reached: &Reached, parent_filter: &dyn Fn(&str) -> Filter) -> Filter {
        Filter::any(
            reached
                .parents
                .iter()
                .map(|(columns, parent, parent_columns)| Filter::RefersTo {
                    columns: columns.clone(),
                    parent: parent.clone(),
                    parent_columns: parent_columns.clone(),
                    parent_filter: Box::new(parent_filter(parent)),
                })
                .collect(),
        )
    }

    /// The hold cut-offs of `table`: `(start column, cut-off)` per hold, `None` without holds.
    /// A hold with no start column has no date to end it: it keeps every row, marked by an
    /// empty list.
    fn hold_cutoffs(&self, table: &str) -> Option<Vec<(String, String)>> {
        hold_cutoffs(self.declared.get(table)?, self.request.now)
    }

    /// Rows of `table` still under a legal hold, if it has holds.
    fn held(&self, table: &str) -> Option<Filter> {
        let cutoffs = self.hold_cutoffs(table)?;
        if cutoffs.is_empty() {
            return Some(Filter::ALWAYS);
        }
        let held = cutoffs
            .into_iter()
            .map(|(column, cutoff)| Filter::NotBefore { column, cutoff });
        Some(Filter::any(held.collect()))
    }

    /// Rows of `table` no hold keeps: the complement of [`Planner::held`].
    fn not_held(&self, table: &str) -> Option<Filter> {
        let cutoffs = self.hold_cutoffs(table)?;
        if cutoffs.is_empty() {
            return Some(Filter::NEVER);
        }
        let ended = cutoffs
            .into_iter()
            .map(|(column, cutoff)| Filter::Before { column, cutoff });
        Some(Filter::all(ended.collect()))
    }

    /// Rows of an upward table that no one but the person refers to.
    fn only_the_persons(&self, table: &str) -> Filter {
        Filter::all(
            self.edges
                .iter()
                .filter(|(_, fk)| fk.ref_table == table)
                .map(|(from, fk)| Filter::Unreferenced {
                    table: from.clone(),
                    columns: fk.columns.clone(),
                    ref_columns: fk.ref_columns.clone(),
                    except: self
                        .reached(from)
                        .filter(|r| !r.upward)
                        .map(|_| Box::new(self.base(from))),
                })
                .collect(),
        )
    }

    fn strategy(&self, table: &str) -> TableErasure {
        self.declared
            .get(table)
            .and_then(|t| t.erasure.as_ref().map(|e| e.value))
            .unwrap_or(TableErasure::Delete)
    }

    /// Rows of `table` erasure deletes: not held, and (below the seeds) belonging to rows
    /// that are deleted too.
    fn deletable(&self, table: &str) -> Filter {
        let own = self.filter_via(table, &|parent| self.deletable(parent), &|t| {
            self.not_held(t).unwrap_or(Filter::ALWAYS)
        });
        match self.not_held(table) {
            Some(not_held) => Filter::all(vec![own, not_held]),
            None => own,
        }
    }

    /// Personal columns of a declared table with how to mask them; key columns are left out.
    fn masks(&self, table: &str, only: Option<&[String]>) -> Vec<Assignment> {
        let (Some(t), Some(ts)) = (self.declared.get(table), self.schema.table(table)) else {
            return Vec::new();
        };
        t.columns
            .iter()
            .filter(|(name, _)| only.is_none_or(|cols| cols.iter().any(|c| c == name.as_str())))
            .filter(|(name, _)| !ts.is_key_column(name))
            .filter_map(|(name, column)| {
                let schema_column = ts.column(name)?;
                let strategy = column
                    .erasure
                    .as_ref()
                    .map(|e| e.value.clone())
                    .unwrap_or(ColumnErasure::Null);
                let mask = match strategy {
                    ColumnErasure::Keep => return None,
                    ColumnErasure::Hmac if schema_column.kind.is_text_like() => Mask::Hmac,
                    // A keyed hash is text: a non-text column is cleared instead.
                    ColumnErasure::Hmac if schema_column.nullable => Mask::Null,
                    ColumnErasure::Hmac => Mask::Fixed(neutral(schema_column.kind)),
                    ColumnErasure::Fixed(v) => Mask::Fixed(typed(&v, Some(schema_column.kind))),
                    ColumnErasure::Null if schema_column.nullable => Mask::Null,
                    // A NOT NULL column cannot be cleared: write a neutral value of its kind.
                    ColumnErasure::Null => Mask::Fixed(neutral(schema_column.kind)),
                };
                Some(Assignment {
                    column: name.value.clone(),
                    mask,
                })
            })
            .collect()
    }

    fn table_label(&self, table: &str) -> String {
        match self.declared.get(table) {
            Some(t) => t.description.as_ref().map_or_else(
                || format!("`{table}`"),
                |d| format!("`{table}` ({})", d.value),
            ),
            None => format!("`{table}`"),
        }
    }

    fn notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        let reached: HashSet<&str> = self.reached.iter().map(|r| r.name.as_str()).collect();
        for t in &self.dataset.tables {
            if !reached.contains(t.name.as_str()) && !t.columns.is_empty() {
                notes.push(format!(
                    "declared table `{}` is not linked to the person's rows by any foreign key or relation, so it is not searched; declare its identity columns or a relation",
                    t.name.value
                ));
            }
        }
        notes
    }

    fn access(&self, plan: &mut Plan) {
        for r in &self.reached {
            let Some(ts) = self.schema.table(&r.name) else {
                continue;
            };
            plan.steps.push(Step {
                table: r.name.clone(),
                filter: self.base(&r.name),
                action: Action::Read {
                    columns: ts.columns.iter().map(|c| c.name.clone()).collect(),
                },
                reason: if r.upward {
                    format!("the person's rows refer to {}", self.table_label(&r.name))
                } else if r.depth == 0 {
                    format!("{} identifies the person", self.table_label(&r.name))
                } else {
                    format!("{} refers to the person's rows", self.table_label(&r.name))
                },
            });
        }
    }

    /// Categories processed under consent or contract: the data portability covers.
    fn portable_categories(&self) -> Vec<&'a CategoryId> {
        self.decl
            .purposes()
            .iter()
            .filter(|p| p.role == Role::Controller)
            .filter(|p| {
                p.legal_bases
                    .iter()
                    .any(|b| matches!(b.basis.value, Basis::Consent | Basis::Contract))
            })
            .flat_map(|p| p.categories.iter().map(|c| &c.value))
            .collect()
    }

    fn portability(&self, plan: &mut Plan) {
        let portable = self.portable_categories();
        for r in &self.reached {
            let Some(t) = self.declared.get(r.name.as_str()) else {
                plan.notes.push(format!(
                    "`{}` declares no personal columns and is left out of the portable copy",
                    r.name
                ));
                continue;
            };
            let columns: Vec<String> = t
                .columns
                .iter()
                .filter(|(_, c)| portable.iter().any(|p| c.category.is_within(p)))
                .map(|(name, _)| name.value.clone())
                .collect();
            if columns.is_empty() {
                continue;
            }
            plan.steps.push(Step {
                table: r.name.clone(),
                filter: self.base(&r.name),
                action: Action::Read { columns },
                reason: format!(
                    "{}: data the person provided, processed under consent or a contract (Art. 20(1))",
                    self.table_label(&r.name)
                ),
            });
        }
    }

    /// The reached tables whose rows are deleted, in the order they are: rows before the rows
    /// they refer to. Tables that refer to each other (a cycle of references, which may run
    /// through the tables of people) come together; the executor repeats their deletions
    /// until none deletes a row.
    fn delete_order(&self) -> Vec<&Reached> {
        let mut tables: Vec<&Reached> = self
            .reached
            .iter()
            .filter(|r| !r.upward && self.strategy(&r.name) == TableErasure::Delete)
            .collect();
        // Deepest first; a stable sort keeps discovery order within a depth.
        tables.sort_by_key(|r| std::cmp::Reverse(r.depth));
        let n = tables.len();
        let index: HashMap<&str, usize> = tables
            .iter()
            .enumerate()
            .map(|(i, r)| (r.name.as_str(), i))
            .collect();
        // The other tables each refers to.
        let mut refers: Vec<Vec<usize>> = vec![Vec::new(); n];
        for (from, fk) in &self.edges {
            if let (Some(&i), Some(&j)) =
                (index.get(from.as_str()), index.get(fk.ref_table.as_str()))
                && i != j
                && !refers[i].contains(&j)
            {
                refers[i].push(j);
            }
        }
        // The tables each refers to at any remove.
        let reaches: Vec<Vec<bool>> = (0..n)
            .map(|i| {
                let mut seen = vec![false; n];
                let mut stack = refers[i].clone();
                while let Some(j) = stack.pop() {
                    if !seen[j] {
                        seen[j] = true;
                        stack.extend(&refers[j]);
                    }
                }
                seen
            })
            .collect();
        // Each table's cycle, named by its first table.
        let cycle: Vec<usize> = (0..n)
            .map(|i| {
                (0..i)
                    .find(|&j| reaches[i][j] && reaches[j][i])
                    .unwrap_or(i)
            })
            .collect();
        // How many references from outside each cycle still point into it.
        let mut referrers = vec![0usize; n];
        for i in 0..n {
            for &j in &refers[i] {
                if cycle[i] != cycle[j] {
                    referrers[cycle[j]] += 1;
                }
            }
        }
        let mut done = vec![false; n];
        let mut order = Vec::with_capacity(n);
        while order.len() < n {
            let free = (0..n)
                .find(|&i| !done[i] && referrers[cycle[i]] == 0)
                .or_else(|| (0..n).find(|&i| !done[i]))
                .expect("a table remains");
            let c = cycle[free];
            for i in (0..n).filter(|&i| cycle[i] == c) {
                done[i] = true;
                order.push(tables[i]);
                for &j in &refers[i] {
                    if cycle[j] != c {
                        referrers[cycle[j]] -= 1;
                    }
                }
            }
        }
        order
    }

    /// Deletions first: a row is deleted only when no row refers to it any more, so the rows
    /// that remain are still found through the rows they refer to. Then, children first, what
    /// remains is masked; the tables the person was found through come last, as masking may
    /// change the very columns that found them.
    fn erasure(&self, plan: &mut Plan) {
        // Rows the person's rows refer to are found through those rows, so they are handled
        // first, while the person's rows are still there. They stay as rows (keys of others
        // may point to them); only those no one else refers to are masked.
        // Rows under a legal hold keep what the hold does not pseudonymise.
        for r in self.reached.iter().filter(|r| r.upward) {
            let table = r.name.as_str();
            if self.strategy(table) == TableErasure::Keep {
                continue;
            }
            let reason = format!(
                "{} rows that only the person's rows refer to are masked; rows shared with others are left as they are",
                self.table_label(table)
            );
            let base = Filter::all(vec![self.base(table), self.only_the_persons(table)]);
            self.erasure_masks(table, base, reason, true, plan);
        }
        for r in self.delete_order() {
            let table = r.name.as_str();
            let guards: Vec<Filter> = self
                .edges
                .iter()
                .filter(|(_, fk)| fk.ref_table == table)
                .map(|(from, fk)| Filter::Unreferenced {
                    table: from.clone(),
                    columns: fk.columns.clone(),
                    ref_columns: fk.ref_columns.clone(),
                    except: None,
                })
                .collect();
            let held = if self.held(table).is_some() {
                " not under a legal hold"
            } else {
                ""
            };
            plan.steps.push(Step {
                table: table.to_string(),
                filter: self.deletable(table),
                action: Action::Delete { guards },
                reason: format!(
                    "the person's rows in {}{held} are deleted (Art. 17(1))",
                    self.table_label(table)
                ),
            });
        }
        let mut order: Vec<&Reached> = self.reached.iter().filter(|r| !r.upward).collect();
        // Children first; a stable sort keeps discovery order within a depth.
        order.sort_by_key(|r| std::cmp::Reverse(r.depth));
        for r in order {
            let table = r.name.as_str();
            let base = self.base(table);
            let strategy = self.strategy(table);
            if strategy == TableErasure::Keep {
                plan.steps.push(Step {
                    table: table.to_string(),
                    filter: base,
                    action: Action::Keep,
                    reason: format!(
                        "the declaration keeps the rows of {} on erasure",
                        self.table_label(table)
                    ),
                });
                continue;
            }
            let reason = if strategy == TableErasure::Delete {
                format!(
                    "rows of {} that other rows still refer to are kept, with what identifies the person masked",
                    self.table_label(table)
                )
            } else {
                format!(
                    "the declaration masks the rows of {} on erasure",
                    self.table_label(table)
                )
            };
            let remains = strategy != TableErasure::Delete || !self.deleted_whole(table);
            self.erasure_masks(table, base, reason, remains, plan);
        }
    }

    /// Whether the deletion of `table` takes every row of the person outside its own holds:
    /// nothing refers to the table (its deletion has no guard), and no table it is reached
    /// through is held (rows under a held parent stay). Then a mask of the remaining rows
    /// could find none, and at scale such a step still costs a join over the whole table.
    /// Filters are compared as written, so a doubt keeps the mask.
    fn deleted_whole(&self, table: &str) -> bool {
        let referenced = self.edges.iter().any(|(_, fk)| fk.ref_table == table);
        let own = self.filter_via(table, &|parent| self.deletable(parent), &|t| {
            self.not_held(t).unwrap_or(Filter::ALWAYS)
        });
        !referenced && own == self.base(table)
    }

    /// Mask what remains of the person's rows after deletion: held rows (only the columns the
    /// hold pseudonymises, if it names them) and, unless `remains` is false because the
    /// deletion took them all, rows other rows still refer to.
    fn erasure_masks(
        &self,
        table: &str,
        base: Filter,
        remaining_reason: String,
        remains: bool,
        plan: &mut Plan,
    ) {
        let t = self.declared.get(table);
        match (self.held(table), t) {
            (Some(held), Some(t)) => {
                // One step for the held rows, masking what any of the holds pseudonymises: after
                // a step per hold, the next would no longer find the rows whose identifying
                // columns the one before had masked.
                let only: Option<Vec<String>> = if t.holds.iter().any(|h| h.pseudonymise.is_empty())
                {
                    None
                } else {
                    Some(
                        t.holds
                            .iter()
                            .flat_map(|h| h.pseudonymise.iter().map(|c| c.value.clone()))
                            .collect(),
                    )
                };
                let assignments = self.masks(table, only.as_deref());
                if !assignments.is_empty() {
                    let holds: Vec<String> = t
                        .holds
                        .iter()
                        .map(|h| {
                            format!(
                                "{} under {} for {}",
                                h.reason.value,
                                h.law.value,
                                h.period.to_words()
                            )
                        })
                        .collect();
                    plan.steps.push(Step {
                        table: table.to_string(),
                        filter: Filter::all(vec![base.clone(), held]),
                        action: Action::Mask { assignments },
                        reason: format!(
                            "kept for {} (Art. 17(3)(b)), pseudonymised meanwhile",
                            holds.join(" and for ")
                        ),
                    });
                }
                let assignments = self.masks(table, None);
                if remains && !assignments.is_empty() {
                    let not_held = self
                        .not_held(table)
                        .expect("a table with holds has a not-held filter");
                    plan.steps.push(Step {
                        table: table.to_string(),
                        filter: Filter::all(vec![base, not_held]),
                        action: Action::Mask { assignments },
                        reason: remaining_reason,
                    });
                }
            }
            _ => {
                let assignments = self.masks(table, None);
                if remains && !assignments.is_empty() {
                    plan.steps.push(Step {
                        table: table.to_string(),
                        filter: base,
                        action: Action::Mask { assignments },
                        reason: remaining_reason,
                    });
                }
            }
        }
    }

    fn rectification(&self, plan: &mut Plan) -> Result<(), PlanError> {
        let mut copies = Vec::new();
        let mut own = Vec::new();
        for change in &self.request.changes {
            let targets: Vec<&str> = match &change.table {
                // A table named with the column: any table of the person's rows, those their
                // rows refer to (their address) included.
                Some(t) if self.reached(t).is_some() => vec![t.as_str()],
                Some(t) => {
                    let mut tables: Vec<&str> =
                        self.reached.iter().map(|r| r.name.as_str()).collect();
                    tables.sort_unstable();
                    return Err(PlanError::ChangeTableNotReached {
                        dataset: self.dataset.id.to_string(),
                        table: t.clone(),
                        column: change.column.clone(),
                        tables: tables.join(", "),
                    });
                }
                None => self
                    .seeds
                    .keys()
                    .map(String::as_str)
                    .filter(|t| {
                        self.schema
                            .table(t)
                            .is_some_and(|ts| ts.column(&change.column).is_some())
                    })
                    .collect(),
            };
            let seeds_named: Vec<&str> = self.seeds.keys().map(String::as_str).collect();
            if targets.is_empty() {
                return Err(PlanError::UnknownChangeColumn {
                    column: change.column.clone(),
                    tables: seeds_named.join(", "),
                });
            }
            for table in targets {
                let ts = self.schema.table(table).expect("seed tables are validated");
                let Some(column) = ts.column(&change.column) else {
                    return Err(PlanError::ChangeColumnMissing {
                        table: table.to_string(),
                        column: change.column.clone(),
                    });
                };
                if ts.is_key_column(&column.name) {
                    return Err(PlanError::KeyColumnChange {
                        table: table.to_string(),
                        column: column.name.clone(),
                    });
                }
                let value = match &change.value {
                    Value::Text(t) => typed(t, Some(column.kind)),
                    other => other.clone(),
                };
                let category = self
                    .declared
                    .get(table)
                    .and_then(|t| t.columns.get(&column.name))
                    .map(|c| c.category.value.clone());
                if let Some(category) = category {
                    copies.extend(self.copies_of(table, &column.name, &category, &value));
                }
                // A row the person's rows refer to (their address) is corrected only when it
                // is theirs alone: a row others refer to as well is theirs too.
                let upward = self.reached(table).is_some_and(|r| r.upward);
                own.push(Step {
                    table: table.to_string(),
                    filter: if upward {
                        Filter::all(vec![self.base(table), self.only_the_persons(table)])
                    } else {
                        self.base(table)
                    },
                    action: Action::Set {
                        column: column.name.clone(),
                        value,
                    },
                    reason: if upward {
                        format!(
                            "the person asked to correct `{table}.{}` (Art. 16); a row other people's rows refer to as well is left as it is",
                            column.name
                        )
                    } else {
                        format!(
                            "the person asked to correct `{table}.{}` (Art. 16)",
                            column.name
                        )
                    },
                });
            }
        }
        // Copies first: their rows are found through the person's own rows, which may be
        // identified by the very column being corrected.
        plan.steps.extend(copies);
        plan.steps.extend(own);
        Ok(())
    }

    /// Steps correcting the copies of `table.column` kept elsewhere: columns of the same
    /// category in the person's other rows.
    fn copies_of(
        &self,
        table: &str,
        column: &str,
        category: &CategoryId,
        value: &Value,
    ) -> Vec<Step> {
        self.reached
            .iter()
            .filter(|r| r.name != table)
            .filter_map(|r| Some((r, self.declared.get(r.name.as_str())?)))
            .flat_map(|(r, t)| {
                t.columns
                    .iter()
                    .filter(|(_, c)| &c.category.value == category)
                    .map(move |(name, _)| Step {
                        table: r.name.clone(),
                        // A row shared with others is theirs too: it is not rewritten.
                        filter: if r.upward {
                            Filter::all(vec![self.base(&r.name), self.only_the_persons(&r.name)])
                        } else {
                            self.base(&r.name)
                        },
                        action: Action::SetCopies {
                            column: name.value.clone(),
                            value: value.clone(),
                            source_table: table.to_string(),
                            source_column: column.to_string(),
                            source_filter: self.base(table),
                        },
                        reason: format!(
                            "`{}.{}` keeps a copy of `{table}.{column}` ({category}); copies that still hold the old value are corrected too",
                            r.name, name.value
                        ),
                    })
            })
            .collect()
    }

    fn restriction(&self, plan: &mut Plan) {
        for r in &self.reached {
            let column = self
                .declared
                .get(r.name.as_str())
                .and_then(|t| t.restrict_column.as_ref().map(|c| c.value.clone()));
            if column.is_none() && (r.depth > 0 || r.upward) {
                continue;
            }
            let reason = match &column {
                Some(c) => format!(
                    "`{}.{c}` is set so the application stops processing these rows (Art. 18)",
                    r.name
                ),
                // The connector refuses the request when these rows turn out to be the
                // person's: nothing could mark them.
                None => format!(
                    "{} declares no restrict_column: its rows cannot be marked in the database (Art. 18)",
                    self.table_label(&r.name)
                ),
            };
            plan.steps.push(Step {
                table: r.name.clone(),
                filter: self.base(&r.name),
                action: Action::Restrict { column },
                reason,
            });
        }
    }
}

/// A declared table of people of their own: a `subject` with identity columns.
fn holds_people(t: &Table) -> bool {
    t.subject.is_some() && !t.identity.is_empty()
}

/// The (column, cut-off) of each hold of a declared table at `now`, if it has holds; empty
/// when a hold names no start column, which keeps every row: there is no date to end it.
fn hold_cutoffs(t: &Table, now: CivilTime) -> Option<Vec<(String, String)>> {
    if t.holds.is_empty() {
        return None;
    }
    t.holds
        .iter()
        .map(|h| {
            let column = h.after.as_ref()?.value.clone();
            Some((column, now.minus(&h.period).to_string()))
        })
        .collect::<Option<Vec<_>>>()
        .or(Some(Vec::new()))
}

/// A text value converted to the kind of the column it is compared with or written to.
fn typed(text: &str, kind: Option<ValueKind>) -> Value {
    match kind {
        Some(ValueKind::Integer) => text
            .parse()
            .map_or_else(|_| Value::Text(text.to_string()), Value::Int),
        Some(ValueKind::Float) => text
            .parse()
            .map_or_else(|_| Value::Text(text.to_string()), Value::Float),
        Some(ValueKind::Bool) => match text {
            "true" | "1" => Value::Bool(true),
            "false" | "0" => Value::Bool(false),
            _ => Value::Text(text.to_string()),
        },
        _ => Value::Text(text.to_string()),
    }
}

/// The value written to a NOT NULL column that erasure would otherwise clear.
fn neutral(kind: ValueKind) -> Value {
    match kind {
        ValueKind::Integer => Value::Int(0),
        ValueKind::Float => Value::Float(0.0),
        ValueKind::Bool => Value::Bool(false),
        ValueKind::Decimal => Value::Text("0".into()),
        ValueKind::Temporal => Value::Text("1970-01-01".into()),
        ValueKind::Bytes => Value::Bytes(Vec::new()),
        ValueKind::Text | ValueKind::Other => Value::Text("erased".into()),
    }
}
