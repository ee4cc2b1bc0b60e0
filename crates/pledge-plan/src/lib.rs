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

pub mod map;
pub mod ownership;
pub mod people;
mod person;
pub mod retention;
pub mod retry;
mod schema;
mod value;

pub use person::{Person, Probe, TableProbes, person, request_person};
pub use schema::{ColumnSchema, ForeignKey, SchemaGraph, TableSchema, ValueKind};
pub use value::{MentionRows, TableRows, Value};

use ownership::{Mention, Ownership, TableOwnership};
use pledge_lang::load::Declaration;
use pledge_lang::model::{
    Basis, ColumnErasure, Dataset, MentionErasure, Role, Table, TableErasure,
};
use pledge_lang::rights::RequestKind;
use pledge_lang::time::CivilTime;
use pledge_lang::types::{CategoryId, DatasetId, IdentityKind};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use thiserror::Error;

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
    /// The rows the inner filter does not select (the person's own rows left out of a step
    /// about the rows that mention them).
    Not {
        filter: Box<Filter>,
    },
    /// `column IS NULL`: a row with no owner of its own, which belongs through its cycle.
    IsNull {
        column: String,
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
    /// The link holds only for rows whose own owning columns are NULL: a row that names an
    /// owner of its own is that owner's, whatever it refers to in the cycle.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub when_null: Vec<String>,
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

    /// Whether the filter, on `table`, selects no row once it is known which tables hold none
    /// of the person's rows: `absent(t)` says the identity filter of `t` selects nothing. An
    /// identity filter then selects nothing, and so does a reference to what selects nothing,
    /// a conjunction with a part that selects nothing, a disjunction of parts that all select
    /// nothing and a cycle none of whose members is entered. Every other filter may select
    /// rows (`false` is always a safe answer). The executor skips such a step: it would
    /// change or read nothing.
    pub fn selects_nothing(&self, table: &str, absent: &dyn Fn(&str) -> bool) -> bool {
        match self {
            Filter::Identity { .. } => absent(table),
            Filter::RefersTo {
                parent,
                parent_filter,
                ..
            } => parent_filter.selects_nothing(parent, absent),
            Filter::Any { filters } => filters.iter().all(|f| f.selects_nothing(table, absent)),
            Filter::All { filters } => filters.iter().any(|f| f.selects_nothing(table, absent)),
            Filter::Cycle { members, .. } => members.iter().all(|m| {
                m.entry.selects_nothing(&m.table, absent)
                    || m.only.selects_nothing(&m.table, absent)
            }),
            Filter::Not { .. }
            | Filter::IsNull { .. }
            | Filter::Before { .. }
            | Filter::NotBefore { .. }
            | Filter::Unreferenced { .. }
            | Filter::Unmasked { .. }
            | Filter::Batch => false,
        }
    }

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
    /// Sever the reference of another's row to the person's (set it to NULL or a keyed
    /// pseudonym), so the person's row can go while the other's row stays.
    Sever { assignments: Vec<Assignment> },
    /// Read rows that only mention the person: their key, the mentioning columns and their
    /// dates, never the personal columns of whoever owns them.
    ReadMentions {
        columns: Vec<String>,
        /// The mentioning columns (the person's role in the row, by the column's name).
        via: Vec<String>,
        /// The table of the person's rows they refer to.
        mentioned: String,
    },
    /// Run the deletions of these steps (indices into the plan's steps) again until none of
    /// them deletes a row: the rows of tables that refer to each other (or a table to
    /// itself) free one another only as they go.
    Repeat { steps: Vec<usize> },
}

impl Action {
    /// A short name for reports: `read`, `delete`, `mask`, `set`, `set-copy`, `restrict`,
    /// `keep`, `sever`, `read-mentions`, `repeat`.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Read { .. } => "read",
            Action::Delete { .. } => "delete",
            Action::Mask { .. } => "mask",
            Action::Set { .. } => "set",
            Action::SetCopies { .. } => "set-copy",
            Action::Restrict { .. } => "restrict",
            Action::Keep => "keep",
            Action::Sever { .. } => "sever",
            Action::ReadMentions { .. } => "read-mentions",
            Action::Repeat { .. } => "repeat",
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
            Action::Mask { assignments } | Action::Sever { assignments } => {
                assignments.iter().any(|a| a.mask == Mask::Hmac)
            }
            _ => false,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PlanError {
    #[error("table `{table}` of dataset `{dataset}` is declared but not in the database")]
    TableMissing { dataset: String, table: String },
    #[error(
        "table `{table}` of dataset `{dataset}` is part of `{parent}` (a partition, or an inheritance child without columns of its own), not a table of its own: declare `{parent}` instead; statements on `{parent}` reach its rows"
    )]
    PartOfTable {
        dataset: String,
        table: String,
        parent: String,
    },
    #[error(
        "table `{table}` of dataset `{dataset}` has inheritance children with columns of their own ({children}), which are tables of their own: declare them too, since statements on `{table}` reach only its own rows"
    )]
    UndeclaredChildren {
        dataset: String,
        table: String,
        children: String,
    },
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
    #[error(
        "the rows of `{table}` (dataset `{dataset}`) could belong to more than one person: {choices}; declare whose they are with `owner = \"COLUMN\"` on the table (or `owner = \"none\"` for the company's own records), and the other references become mentions"
    )]
    AmbiguousOwner {
        dataset: String,
        table: String,
        /// The candidate references, `column → table (subject table)`.
        choices: String,
    },
    #[error("`{setting}` of `{table}` (dataset `{dataset}`) cannot take effect: {problem}")]
    MentionCannotSever {
        dataset: String,
        table: String,
        setting: String,
        problem: String,
    },
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
    let missing_table = |table: &str| match schema.partition_parent(table) {
        Some(parent) => PlanError::PartOfTable {
            dataset: dataset.id.to_string(),
            table: table.to_string(),
            parent: parent.name.clone(),
        },
        None => PlanError::TableMissing {
            dataset: dataset.id.to_string(),
            table: table.to_string(),
        },
    };
    for t in &dataset.tables {
        let Some(ts) = schema.table(&t.name) else {
            return Err(missing_table(&t.name));
        };
        let undeclared: Vec<String> = ts
            .children
            .iter()
            .filter(|c| schema.table(c).is_some())
            .filter(|c| !dataset.tables.iter().any(|d| d.name.as_str() == c.as_str()))
            .map(|c| format!("`{c}`"))
            .collect();
        if !undeclared.is_empty() {
            return Err(PlanError::UndeclaredChildren {
                dataset: dataset.id.to_string(),
                table: t.name.value.clone(),
                children: undeclared.join(", "),
            });
        }
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
                .ok_or_else(|| missing_table(&side.table))?;
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
                kind: pledge_lang::model::variant_name(&kind),
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
        RequestKind::Erasure => planner.erasure(&mut plan)?,
        RequestKind::Rectification => planner.rectification(&mut plan)?,
        RequestKind::Restriction => planner.restriction(&mut plan),
    }
    Ok(plan)
}

/// An edge to a table a reached table's rows are found through: (own columns, parent, parent
/// columns, own columns that must be NULL for the edge to count).
type ParentEdge = (Vec<String>, String, Vec<String>, Vec<String>);

/// A table the person's rows were found in, and how.
struct Reached {
    name: String,
    /// The longest chain of references from a seed (0): parents come first.
    depth: usize,
    /// Edges to the reached tables it refers to, outside its cycle: (own columns, parent,
    /// parent columns). For a table reached upwards the "parent" is the table whose rows refer
    /// to this one.
    /// The last: columns that must be NULL for the edge to make the row the person's (a row
    /// with no owner of its own belongs through its cycle).
    parents: Vec<ParentEdge>,
    /// Reached upwards: a row the person's rows refer to (their address in a table of its
    /// own), which other people's rows may refer to as well.
    upward: bool,
    /// The tables of its cycle of references, itself included; empty when in none.
    cycle: Vec<String>,
    /// Its owning references to other members of its cycle.
    links: Vec<CycleLink>,
}

struct Planner<'a> {
    decl: &'a Declaration,
    dataset: &'a Dataset,
    schema: &'a SchemaGraph,
    request: &'a Request,
    edges: Vec<(String, ForeignKey)>,
    ownership: Ownership,
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
            ownership: Ownership::infer(dataset, schema),
            declared,
            reached: Vec::new(),
            seeds,
        };
        planner.reach()?;
        Ok(planner)
    }

    /// The owning references of a reached table that the search follows: its owning edge,
    /// and in a cycle the edge its rows without an owner of their own belong through (with
    /// the owning columns that must then be NULL).
    fn owning_edges(&self, table: &str) -> Vec<(ForeignKey, Vec<String>)> {
        let Some(TableOwnership::Owned {
            via, through_cycle, ..
        }) = self.ownership.of(table)
        else {
            return Vec::new();
        };
        let fk = |e: &ownership::Edge| ForeignKey {
            columns: e.columns.clone(),
            ref_table: e.parent.clone(),
            ref_columns: e.parent_columns.clone(),
        };
        let mut out = vec![(fk(via), Vec::new())];
        if let Some(t) = through_cycle {
            out.push((fk(t), via.columns.clone()));
        }
        out
    }

    /// Breadth-first from the seeds along owning references: the rows a person's rows own,
    /// at any depth. A reference that does not make the row the person's (a mention) is not
    /// followed; a table that could belong to more than one person is refused. Tables whose
    /// rows belong to each other (a reply without an author of its own belongs to the thread)
    /// form a cycle, whose rows are found together by a recursive query.
    fn reach(&mut self) -> Result<(), PlanError> {
        let mut found: Vec<String> = self.seeds.keys().cloned().collect();
        let mut known: HashSet<String> = found.iter().cloned().collect();
        let mut queue: VecDeque<String> = found.iter().cloned().collect();
        let mut ambiguous: Vec<String> = Vec::new();
        while let Some(parent) = queue.pop_front() {
            for (child, o) in &self.ownership.tables {
                if known.contains(child) {
                    continue;
                }
                if let TableOwnership::Ambiguous { choices } = o {
                    if choices.iter().any(|c| c.edge.parent == parent) && !ambiguous.contains(child)
                    {
                        ambiguous.push(child.clone());
                    }
                    continue;
                }
                if !self
                    .owning_edges(child)
                    .iter()
                    .any(|(fk, _)| fk.ref_table == parent)
                {
                    continue;
                }
                known.insert(child.clone());
                found.push(child.clone());
                queue.push_back(child.clone());
            }
        }
        if let Some(table) = ambiguous.first() {
            let Some(TableOwnership::Ambiguous { choices }) = self.ownership.of(table) else {
                unreachable!("collected as ambiguous");
            };
            let choices: Vec<String> = choices
                .iter()
                .map(|c| {
                    let to = match &c.subject {
                        Some(s) if *s != c.edge.parent => format!("{} (of {s})", c.edge.parent),
                        _ => c.edge.parent.clone(),
                    };
                    format!("`{}` → {to}", c.edge.columns.join(", "))
                })
                .collect();
            return Err(PlanError::AmbiguousOwner {
                dataset: self.dataset.id.to_string(),
                table: table.clone(),
                choices: choices.join(", "),
            });
        }
        // The owning edges from each reached table to the reached tables it belongs through
        // (seeds are found by identity alone).
        let edges_of = |name: &str| -> Vec<(ForeignKey, Vec<String>)> {
            if self.seeds.contains_key(name) {
                return Vec::new();
            }
            self.owning_edges(name)
                .into_iter()
                .filter(|(fk, _)| known.contains(&fk.ref_table))
                .collect()
        };
        let refers: HashMap<&str, Vec<String>> = found
            .iter()
            .map(|name| {
                let parents = edges_of(name).into_iter().map(|(fk, _)| fk.ref_table);
                (name.as_str(), parents.collect())
            })
            .collect();
        // The tables each refers to at any remove; a table in a cycle reaches itself.
        let reaches: HashMap<&str, HashSet<&str>> = found
            .iter()
            .map(|name| {
                let mut seen: HashSet<&str> = HashSet::new();
                let mut stack: Vec<&str> =
                    refers[name.as_str()].iter().map(String::as_str).collect();
                while let Some(t) = stack.pop() {
                    if seen.insert(t) {
                        stack.extend(refers[t].iter().map(String::as_str));
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
                    .filter(|p| !group.contains(&p.as_str()))
                    .map(|p| depth[p.as_str()] + 1)
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
                let links: Vec<CycleLink> = edges_of(name)
                    .into_iter()
                    .filter(|(fk, _)| cycle.contains(&fk.ref_table))
                    .map(|(fk, when_null)| CycleLink {
                        table: name.clone(),
                        columns: fk.columns,
                        parent: fk.ref_table,
                        parent_columns: fk.ref_columns,
                        when_null,
                    })
                    .collect();
                let parents = edges_of(name)
                    .into_iter()
                    .filter(|(fk, _)| !cycle.contains(&fk.ref_table))
                    .map(|(fk, when_null)| (fk.columns, fk.ref_table, fk.ref_columns, when_null))
                    .collect();
                Reached {
                    name: name.clone(),
                    depth: depth[name.as_str()],
                    parents,
                    upward: false,
                    cycle,
                    links,
                }
            })
            .collect();
        self.reach_upwards();
        Ok(())
    }

    /// One level upwards: declared tables with personal columns that the person's rows refer
    /// to and that no subject owns (an `address` row of a customer).
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
            let unowned = matches!(
                self.ownership.of(target),
                Some(TableOwnership::Unowned { .. })
            );
            if !from_reached || !personal || known || target == from || !unowned {
                continue;
            }
            let edge = (
                fk.ref_columns.clone(),
                from.clone(),
                fk.columns.clone(),
                Vec::new(),
            );
            match upward.iter_mut().find(|r| &r.name == target) {
                Some(r) => r.parents.push(edge),
                None => upward.push(Reached {
                    name: target.clone(),
                    depth: 0,
                    parents: vec![edge],
                    upward: true,
                    cycle: Vec::new(),
                    links: Vec::new(),
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
                        for l in self.cycle_links(cycle).filter(|l| l.parent == *m) {
                            for c in &l.parent_columns {
                                if !key.contains(c) {
                                    key.push(c.clone());
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
        let links = self.cycle_links(cycle).cloned().collect();
        Filter::Cycle {
            table: table.to_string(),
            members,
            links,
        }
    }

    /// The owning references between the members of a cycle.
    fn cycle_links<'c>(&'c self, cycle: &'c [String]) -> impl Iterator<Item = &'c CycleLink> {
        cycle
            .iter()
            .filter_map(|m| self.reached(m))
            .flat_map(|r| r.links.iter())
    }

    /// Rows of a reached table that refer to the selected rows of its parents.
    fn entry(&self, reached: &Reached, parent_filter: &dyn Fn(&str) -> Filter) -> Filter {
        Filter::any(
            reached
                .parents
                .iter()
                .map(|(columns, parent, parent_columns, when_null)| {
                    let refers = Filter::RefersTo {
                        columns: columns.clone(),
                        parent: parent.clone(),
                        parent_columns: parent_columns.clone(),
                        parent_filter: Box::new(parent_filter(parent)),
                    };
                    if when_null.is_empty() {
                        return refers;
                    }
                    let mut all = vec![refers];
                    all.extend(
                        when_null
                            .iter()
                            .map(|c| Filter::IsNull { column: c.clone() }),
                    );
                    Filter::All { filters: all }
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
            if reached.contains(t.name.as_str()) || t.columns.is_empty() {
                continue;
            }
            let name = &t.name.value;
            notes.push(match self.ownership.of(name) {
                Some(TableOwnership::Subject { .. }) => format!(
                    "declared table `{name}` holds people found by other identities than the request names, so it is not searched"
                ),
                Some(TableOwnership::Owned { subject: Some(s), .. }) => format!(
                    "declared table `{name}` holds records of `{s}` that are not the person's; those that mention the person are kept, severed or shown as mentions"
                ),
                Some(TableOwnership::Ambiguous { .. }) | Some(TableOwnership::Owned { .. }) => format!(
                    "declared table `{name}` could belong to more than one person; declare its `owner`"
                ),
                _ => format!(
                    "declared table `{name}` is not linked to the person's rows by any foreign key or relation, so it is not searched; declare its identity columns or a relation{}",
                    if self.schema.table(name).is_some_and(|ts| !ts.partitions.is_empty()) {
                        " (it is partitioned: MariaDB and MySQL keep no foreign keys on partitioned tables)"
                    } else {
                        ""
                    }
                ),
            });
        }
        for r in self.reached.iter().filter(|r| !r.upward) {
            let Some(ts) = self.schema.table(&r.name) else {
                continue;
            };
            let enforced = r
                .parents
                .iter()
                .any(|(columns, parent, parent_columns, _)| {
                    ts.foreign_keys.iter().any(|fk| {
                        fk.columns == *columns
                            && fk.ref_table == *parent
                            && fk.ref_columns == *parent_columns
                    })
                });
            if !ts.partitions.is_empty() && !r.parents.is_empty() && !enforced {
                notes.push(format!(
                    "partitioned table `{}` is linked to the person's rows only by declared relations, which the database does not check (MariaDB and MySQL keep no foreign keys on partitioned tables): rows whose values match no row of the person are not found",
                    r.name
                ));
            }
        }
        for i in &self.ownership.ineffective {
            notes.push(format!(
                "`{}` of table `{}` cannot take effect: {}",
                i.setting, i.table, i.problem
            ));
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
                    format!("{} belongs to the person's rows", self.table_label(&r.name))
                },
            });
        }
        self.mention_reads(plan);
    }

    /// Records of others that mention the person: their key, the mentioning columns and the
    /// dates of the row, never the personal columns of whoever owns them (Art. 15(4)).
    fn mention_reads(&self, plan: &mut Plan) {
        for m in self.mentions_of_person() {
            let table = m.edge.table.as_str();
            let Some(ts) = self.schema.table(table) else {
                continue;
            };
            let personal = |c: &str| {
                self.declared
                    .get(table)
                    .is_some_and(|t| t.columns.contains_key(&c.to_string()))
            };
            let mut columns: Vec<String> = ts.primary_key.clone();
            for c in &m.edge.columns {
                if !columns.contains(c) {
                    columns.push(c.clone());
                }
            }
            for c in &ts.columns {
                if c.kind == ValueKind::Temporal && !personal(&c.name) && !columns.contains(&c.name)
                {
                    columns.push(c.name.clone());
                }
            }
            plan.steps.push(Step {
                table: table.to_string(),
                filter: self.mentioning(m),
                action: Action::ReadMentions {
                    columns,
                    via: m.edge.columns.clone(),
                    mentioned: m.edge.parent.clone(),
                },
                reason: format!(
                    "{} mention the person as `{}`: their key, that reference and their dates are shown, nothing of whoever they belong to",
                    self.whose(m),
                    m.edge.columns.join(", ")
                ),
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
        self.mention_reads(plan);
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
    fn erasure(&self, plan: &mut Plan) -> Result<(), PlanError> {
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
        // Rows of others that refer to the person's: left as they are, or their reference
        // severed as declared, before the deletions, whose guards it frees.
        for m in self.mentions_of_person() {
            plan.steps.push(self.sever(m)?);
        }
        let mut deletes: Vec<Step> = Vec::new();
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
            deletes.push(Step {
                table: table.to_string(),
                filter: self.deletable(table),
                action: Action::Delete { guards },
                reason: format!(
                    "the person's rows in {}{held} are deleted (Art. 17(1))",
                    self.table_label(table)
                ),
            });
        }
        let groups = repeat_groups(&deletes);
        let mut at: Vec<usize> = Vec::with_capacity(deletes.len());
        for (k, step) in deletes.into_iter().enumerate() {
            at.push(plan.steps.len());
            plan.steps.push(step);
            for group in groups.iter().filter(|g| g.last() == Some(&k)) {
                let steps: Vec<usize> = group.iter().map(|&j| at[j]).collect();
                let tables: Vec<String> = group
                    .iter()
                    .map(|&j| format!("`{}`", plan.steps[at[j]].table))
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .collect();
                plan.steps.push(Step {
                    table: plan.steps[at[k]].table.clone(),
                    filter: Filter::NEVER,
                    action: Action::Repeat { steps },
                    reason: format!(
                        "rows of {} refer to each other: their deletions run again until they delete nothing, as each frees others",
                        tables.join(" and ")
                    ),
                });
            }
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
        Ok(())
    }

    /// The mentions of the person's rows (not those of rows found upwards): references from
    /// rows that are not the person's to rows that are.
    fn mentions_of_person(&self) -> impl Iterator<Item = &Mention> {
        self.ownership
            .mentions
            .iter()
            .filter(|m| self.reached(&m.edge.parent).is_some_and(|r| !r.upward))
    }

    /// The rows that mention the person through `m`, the person's own rows left out.
    fn mentioning(&self, m: &Mention) -> Filter {
        self.referring(m, true)
    }

    /// The rows that refer to the person's rows through the edge of `m`; with `exclude_own`,
    /// not the person's own rows.
    fn referring(&self, m: &Mention, exclude_own: bool) -> Filter {
        let refers = Filter::RefersTo {
            columns: m.edge.columns.clone(),
            parent: m.edge.parent.clone(),
            parent_columns: m.edge.parent_columns.clone(),
            parent_filter: Box::new(self.base(&m.edge.parent)),
        };
        match self.reached(&m.edge.table) {
            Some(r) if !r.upward && exclude_own => Filter::all(vec![
                refers,
                Filter::Not {
                    filter: Box::new(self.base(&m.edge.table)),
                },
            ]),
            _ => refers,
        }
    }

    /// Whose record a mentioning row is, in words.
    fn whose(&self, m: &Mention) -> String {
        match &m.owner {
            Some(owner) if *owner == m.edge.table => {
                format!(
                    "the rows of {} (other people)",
                    self.table_label(&m.edge.table)
                )
            }
            Some(owner) => format!(
                "the rows of {} (records of other people in `{owner}`)",
                self.table_label(&m.edge.table)
            ),
            None => format!(
                "the rows of {} (the company's own records)",
                self.table_label(&m.edge.table)
            ),
        }
    }

    /// The erasure step for a mention: keep it (for the record), or sever it.
    fn sever(&self, m: &Mention) -> Result<Step, PlanError> {
        let table = m.edge.table.as_str();
        let column = m.edge.columns.join(", ");
        // The person's own rows are severed too (they are erased anyway, and a reference left
        // from one of them would stop the deletion it points to, until the next erasure took
        // the masked row for someone else's), except through the edge they belong through.
        let belongs_through = matches!(
            self.ownership.of(table),
            Some(TableOwnership::Owned { through_cycle: Some(e), .. }) if *e == m.edge
        );
        let filter = if m.erase == MentionErasure::Keep || belongs_through {
            self.mentioning(m)
        } else {
            self.referring(m, false)
        };
        let default = if m.declared {
            ""
        } else {
            " (the default for a mention)"
        };
        if m.erase == MentionErasure::Keep {
            return Ok(Step {
                table: table.to_string(),
                filter,
                action: Action::Keep,
                reason: format!(
                    "{} that refer to the person through `{column}` are kept as they are{default}: {}",
                    self.whose(m),
                    m.reason
                ),
            });
        }
        let refuse = |problem: &str| PlanError::MentionCannotSever {
            dataset: self.dataset.id.to_string(),
            table: table.to_string(),
            setting: format!(
                "mentions.{}.erase = \"{}\"",
                m.edge.column(),
                pledge_lang::model::variant_name(&m.erase)
            ),
            problem: problem.to_string(),
        };
        let ts = self
            .schema
            .table(table)
            .ok_or_else(|| refuse("the table is not in the database"))?;
        let columns: Vec<&ColumnSchema> =
            m.edge.columns.iter().filter_map(|c| ts.column(c)).collect();
        let mask = match m.erase {
            MentionErasure::Null if columns.iter().any(|c| !c.nullable) => {
                return Err(refuse(
                    "the column is NOT NULL, so the reference cannot be cleared; declare `erase = \"keep\"`",
                ));
            }
            MentionErasure::Hmac
                if !m.edge.relation || columns.iter().any(|c| !c.kind.is_text_like()) =>
            {
                return Err(refuse(
                    "a keyed pseudonym fits only a text column of a declared relation (a foreign key would break); declare `erase = \"null\"` or `\"keep\"`",
                ));
            }
            MentionErasure::Hmac => Mask::Hmac,
            _ => Mask::Null,
        };
        Ok(Step {
            table: table.to_string(),
            filter,
            action: Action::Sever {
                assignments: m
                    .edge
                    .columns
                    .iter()
                    .map(|c| Assignment {
                        column: c.clone(),
                        mask: mask.clone(),
                    })
                    .collect(),
            },
            reason: format!(
                "{} stay theirs; only their reference `{column}` to the person is {}: {}",
                self.whose(m),
                if mask == Mask::Null {
                    "cleared"
                } else {
                    "replaced by a keyed pseudonym"
                },
                m.reason
            ),
        })
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
                if assignments.is_empty() {
                    // Nothing to pseudonymise, but the person is told what is kept, and why.
                    plan.steps.push(Step {
                        table: table.to_string(),
                        filter: Filter::all(vec![base.clone(), held]),
                        action: Action::Keep,
                        reason: format!(
                            "kept for {} (Art. 17(3)(b)); they hold nothing to pseudonymise",
                            holds.join(" and for ")
                        ),
                    });
                } else {
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
                    for step in self.copies_of(table, &column.name, &category, &value) {
                        // Held rows are said to be kept once, whichever copy they hold.
                        if !(step.action == Action::Keep && copies.contains(&step)) {
                            copies.push(step);
                        }
                    }
                }
                // A row the person's rows refer to (their address) is corrected only when it
                // is theirs alone: a row others refer to as well is theirs too.
                let upward = self.reached(table).is_some_and(|r| r.upward);
                let base = if upward {
                    Filter::all(vec![self.base(table), self.only_the_persons(table)])
                } else {
                    self.base(table)
                };
                let filter = self.unless_held(table, base, &mut own);
                own.push(Step {
                    table: table.to_string(),
                    filter,
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
        let mut steps = Vec::new();
        for (r, t) in self
            .reached
            .iter()
            .filter(|r| r.name != table)
            .filter_map(|r| Some((r, self.declared.get(r.name.as_str())?)))
        {
            for (name, _) in t
                .columns
                .iter()
                .filter(|(_, c)| &c.category.value == category)
            {
                // A row shared with others is theirs too: it is not rewritten.
                let filter = if r.upward {
                    Filter::all(vec![self.base(&r.name), self.only_the_persons(&r.name)])
                } else {
                    self.base(&r.name)
                };
                let filter = self.unless_held(&r.name, filter, &mut steps);
                steps.push(Step {
                        table: r.name.clone(),
                        filter,
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
                    });
            }
        }
        steps
    }

    /// For rectification: the rows of `filter` no legal hold keeps; a step saying that the
    /// held ones keep what they recorded (an invoice keeps the billing address it was issued
    /// with) goes to `steps`, once per table and filter.
    fn unless_held(&self, table: &str, filter: Filter, steps: &mut Vec<Step>) -> Filter {
        let (Some(held), Some(not_held), Some(t)) = (
            self.held(table),
            self.not_held(table),
            self.declared.get(table),
        ) else {
            return filter;
        };
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
        let keep = Step {
            table: table.to_string(),
            filter: Filter::all(vec![filter.clone(), held]),
            action: Action::Keep,
            reason: format!(
                "rows of {} under a legal hold keep what they recorded, uncorrected: they are kept for {} (Art. 17(3)(b)), as evidence of what was issued",
                self.table_label(table),
                holds.join(" and for ")
            ),
        };
        if !steps.contains(&keep) {
            steps.push(keep);
        }
        Filter::all(vec![filter, not_held])
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

/// The delete steps of tables whose rows refer to each other (a table that refers to itself,
/// or tables in a cycle of references, as the steps' guards tell), as groups of indices into
/// `deletes`, each sorted: each frees rows of the others only as they go, so they run again,
/// after the last of them, until none deletes a row.
fn repeat_groups(deletes: &[Step]) -> Vec<Vec<usize>> {
    let referrers: Vec<Vec<&str>> = deletes
        .iter()
        .map(|s| match &s.action {
            Action::Delete { guards } => guards
                .iter()
                .filter_map(|g| match g {
                    Filter::Unreferenced { table, .. } => Some(table.as_str()),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        })
        .collect();
    // For each, the tables with deletions whose rows refer to its rows, at any remove.
    let referring: Vec<HashSet<&str>> = deletes
        .iter()
        .map(|d| {
            let mut seen: HashSet<&str> = HashSet::new();
            let mut stack = vec![d.table.as_str()];
            while let Some(t) = stack.pop() {
                for (other, refs) in deletes.iter().zip(&referrers) {
                    if other.table == t {
                        stack.extend(refs.iter().filter(|r| seen.insert(r)));
                    }
                }
            }
            seen
        })
        .collect();
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for (a, d) in deletes.iter().enumerate() {
        let members: Vec<usize> = deletes
            .iter()
            .enumerate()
            .filter(|(b, other)| {
                referring[a].contains(other.table.as_str())
                    && referring[*b].contains(d.table.as_str())
            })
            .map(|(b, _)| b)
            .collect();
        if !members.is_empty() && !groups.contains(&members) {
            groups.push(members);
        }
    }
    groups
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

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> Filter {
        Filter::Identity {
            columns: vec![("email".into(), vec![Value::Text("a@example.com".into())])],
        }
    }

    fn refers_to(parent: &str, parent_filter: Filter) -> Filter {
        Filter::RefersTo {
            columns: vec!["customer_id".into()],
            parent: parent.into(),
            parent_columns: vec!["customer_id".into()],
            parent_filter: Box::new(parent_filter),
        }
    }

    #[test]
    fn a_filter_from_a_table_without_the_person_selects_nothing() {
        let absent = |t: &str| t == "employee";
        assert!(identity().selects_nothing("employee", &absent));
        assert!(!identity().selects_nothing("customer", &absent));
        // Rows that refer to the absent person's rows, and a conjunction with them.
        let mentions = refers_to("employee", identity());
        assert!(mentions.selects_nothing("customer", &absent));
        let held = Filter::All {
            filters: vec![
                refers_to("employee", identity()),
                Filter::IsNull { column: "x".into() },
            ],
        };
        assert!(held.selects_nothing("invoice", &absent));
        // A disjunction selects nothing only when every part does.
        let either = Filter::Any {
            filters: vec![
                refers_to("employee", identity()),
                refers_to("customer", identity()),
            ],
        };
        assert!(!either.selects_nothing("invoice", &absent));
        assert!(Filter::NEVER.selects_nothing("invoice", &absent));
        // What the check does not know about may select rows.
        let not = Filter::Not {
            filter: Box::new(refers_to("employee", identity())),
        };
        assert!(!not.selects_nothing("customer", &absent));
        assert!(!Filter::ALWAYS.selects_nothing("customer", &absent));
        assert!(!Filter::Batch.selects_nothing("customer", &absent));
    }

    #[test]
    fn a_cycle_selects_nothing_when_no_member_is_entered() {
        let member = |table: &str, entry: Filter| CycleMember {
            table: table.into(),
            key: vec!["id".into()],
            entry,
            only: Filter::ALWAYS,
        };
        let cycle = |entry: Filter| Filter::Cycle {
            table: "employee".into(),
            members: vec![member("employee", entry), member("team", Filter::NEVER)],
            links: Vec::new(),
        };
        let absent = |t: &str| t == "employee";
        assert!(cycle(identity()).selects_nothing("employee", &absent));
        assert!(!cycle(identity()).selects_nothing("employee", &|_| false));
    }
}
