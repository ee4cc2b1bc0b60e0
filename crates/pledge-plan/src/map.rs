//! The map of a dataset, before anything runs: whose rows each table holds, which columns
//! mention whom, what an access and an erasure of each subject would do to each table, the
//! partitions found, and every ambiguity or declared setting that cannot take effect. Built
//! from the same [`Ownership`] and [`plan`](super::plan) the requests use, so the map shows
//! what a request will do, not a second opinion. `pledge map` renders it (the renderers are in the documents crate); `pledge check
//! --live` turns its problems into findings.

use super::ownership::{Edge, Ineffective, Mention, Ownership, TableOwnership};
use super::{Request, SchemaGraph, ValueKind, plan, validate};
use pledge_lang::load::Declaration;
use pledge_lang::model::Dataset;
use pledge_lang::rights::RequestKind;
use pledge_lang::source::Span;
use pledge_lang::time::CivilTime;
use serde::Serialize;

/// The map of one dataset.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DatasetMap {
    pub dataset: String,
    /// Every table of the live schema, in the schema's order.
    pub tables: Vec<TableMap>,
    /// Every reference that mentions a person without making the row theirs.
    pub mentions: Vec<Mention>,
    /// The other references: to rows nobody owns (a shared address, a catalogue), which
    /// neither make a row someone's nor mention a person.
    pub references: Vec<Edge>,
    /// For each subject table: what a request of one of its people does.
    pub subjects: Vec<SubjectMap>,
    /// What stops a request or a setting: the declaration against the live schema.
    pub problems: Vec<Problem>,
}

/// One table: whose rows, which columns are declared personal, its partitions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TableMap {
    pub name: String,
    pub ownership: TableOwnership,
    /// Declared in the dataset's `tables`.
    pub declared: bool,
    /// Declared personal columns and their categories.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub personal: Vec<(String, String)>,
    /// Its partitions (and the inheritance children folded into it): statements on the
    /// table reach their rows.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub partitions: Vec<String>,
}

/// What a request of one person of a subject table does, table by table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SubjectMap {
    /// The subject table.
    pub table: String,
    /// The declared data subject group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// The identity kind the map plans with (one the table declares).
    pub identity: String,
    pub access: Outcome,
    pub erasure: Outcome,
}

/// The steps a request would take, or why it cannot be planned.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum Outcome {
    Steps { steps: Vec<StepSummary> },
    Refused { reason: String },
}

/// One step of a planned request, as a report line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepSummary {
    pub table: String,
    /// `read`, `delete`, `mask`, `keep`, `sever`, ... ([`super::Action::name`]).
    pub action: &'static str,
    pub reason: String,
}

/// Something a privacy officer must settle before requests run as declared.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Problem {
    pub kind: ProblemKind,
    pub table: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    pub message: String,
    /// How to settle it.
    pub help: String,
    /// Where the declaration says what the problem is about (the table or setting), if it does.
    #[serde(skip)]
    pub span: Option<Span>,
}

/// The kinds of [`Problem`], each a finding of `pledge check --live` under its own rule id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProblemKind {
    /// A declared table or column is not in the database.
    SchemaMismatch,
    /// A table could belong to more than one person: requests refuse to touch it.
    OwnerAmbiguous,
    /// A declared setting cannot take effect on this schema.
    SettingIneffective,
    /// A request of a subject cannot be planned.
    RequestRefused,
}

impl ProblemKind {
    /// The rule id of the finding.
    pub fn rule(self) -> &'static str {
        match self {
            ProblemKind::SchemaMismatch => "live-schema-mismatch",
            ProblemKind::OwnerAmbiguous => "live-owner-ambiguous",
            ProblemKind::SettingIneffective => "live-setting-ineffective",
            ProblemKind::RequestRefused => "live-request-refused",
        }
    }
}

/// Maps one dataset against its live schema. `now` only dates the holds in the planned steps.
pub fn map(
    decl: &Declaration,
    dataset: &Dataset,
    schema: &SchemaGraph,
    now: CivilTime,
) -> DatasetMap {
    let ownership = Ownership::infer(dataset, schema);
    let declared = |name: &str| dataset.tables.iter().find(|t| t.name.as_str() == name);
    let mut problems = Vec::new();
    if let Err(e) = validate(dataset, schema) {
        problems.push(Problem {
            kind: ProblemKind::SchemaMismatch,
            table: String::new(),
            column: None,
            message: e.to_string(),
            help: "declare the tables and columns as the database names them (`pledge map` lists them), or point the dataset's connection at the right database".into(),
            span: Some(dataset.id.span),
        });
    }
    let tables: Vec<TableMap> = schema
        .tables
        .iter()
        .map(|t| {
            let d = declared(&t.name);
            TableMap {
                name: t.name.clone(),
                ownership: ownership
                    .of(&t.name)
                    .cloned()
                    .unwrap_or(TableOwnership::Unowned { declared: false }),
                declared: d.is_some(),
                personal: d
                    .map(|d| {
                        d.columns
                            .iter()
                            .map(|(c, col)| (c.value.clone(), col.category.to_string()))
                            .collect()
                    })
                    .unwrap_or_default(),
                partitions: t.partitions.clone(),
            }
        })
        .collect();
    for t in &tables {
        if let TableOwnership::Ambiguous { choices } = &t.ownership {
            let listed: Vec<String> = choices
                .iter()
                .map(|c| {
                    let whose = c
                        .subject
                        .as_deref()
                        .filter(|s| *s != c.edge.parent)
                        .map(|s| format!(" (of {s})"))
                        .unwrap_or_default();
                    format!("`{}` → {}{whose}", c.edge.columns.join(", "), c.edge.parent)
                })
                .collect();
            problems.push(Problem {
                kind: ProblemKind::OwnerAmbiguous,
                table: t.name.clone(),
                column: None,
                message: format!(
                    "the rows of `{}` could belong to more than one person: {}; requests that reach it are refused",
                    t.name,
                    listed.join(", ")
                ),
                help: format!(
                    "declare whose rows they are on the table, {}, or `owner = \"none\"` for the company's own records; the other references become mentions",
                    choices
                        .iter()
                        .map(|c| format!("`owner = \"{}\"`", c.edge.column()))
                        .collect::<Vec<_>>()
                        .join(" or ")
                ),
                span: declared(&t.name).map(|d| d.name.span),
            });
        }
    }
    for i in &ownership.ineffective {
        problems.push(ineffective_problem(i));
    }
    let subjects: Vec<SubjectMap> = dataset
        .tables
        .iter()
        .filter(|t| !t.identity.is_empty() && schema.table(&t.name).is_some())
        .map(|t| {
            // Plan with an identity kind only this table declares where there is one, so the
            // map shows a person of this table alone.
            let unique = t.identity.keys().find(|k| {
                !dataset
                    .tables
                    .iter()
                    .any(|o| o.name != t.name && o.identity.contains_key(*k))
            });
            let kind = unique
                .or_else(|| t.identity.keys().next())
                .expect("filtered to tables with identity columns");
            let column = &t.identity[kind];
            let value_kind = schema
                .table(&t.name)
                .and_then(|ts| ts.column(column))
                .map(|c| c.kind);
            let outcome = |request_kind| {
                let request = Request {
                    kind: request_kind,
                    identities: vec![(kind.value.clone(), vec![placeholder(value_kind)])],
                    changes: Vec::new(),
                    now,
                };
                match plan(decl, dataset, schema, &request) {
                    Ok(p) => Outcome::Steps {
                        steps: p
                            .steps
                            .iter()
                            .map(|s| StepSummary {
                                table: s.table.clone(),
                                action: s.action.name(),
                                reason: s.reason.clone(),
                            })
                            .collect(),
                    },
                    Err(e) => Outcome::Refused {
                        reason: e.to_string(),
                    },
                }
            };
            SubjectMap {
                table: t.name.value.clone(),
                group: t.subject.as_ref().map(|s| s.to_string()),
                identity: kind.to_string(),
                access: outcome(RequestKind::Access),
                erasure: outcome(RequestKind::Erasure),
            }
        })
        .collect();
    for s in &subjects {
        for (what, outcome) in [("access", &s.access), ("erasure", &s.erasure)] {
            if let Outcome::Refused { reason } = outcome {
                // An ambiguity is reported once, for its table, not again for every request.
                if problems
                    .iter()
                    .any(|p| p.kind == ProblemKind::OwnerAmbiguous)
                    && reason.contains("could belong to more than one person")
                {
                    continue;
                }
                problems.push(Problem {
                    kind: ProblemKind::RequestRefused,
                    table: s.table.clone(),
                    column: None,
                    message: format!("an {what} request of a person of `{}` is refused: {reason}", s.table),
                    help: "settle what the message names; `pledge map` shows the plan once it can be made".into(),
                    span: declared(&s.table).map(|d| d.name.span),
                });
            }
        }
    }
    let counted =
        |table: &str, columns: &[String], parent: &str| {
            ownership.mentions.iter().any(|m| {
                m.edge.table == table && m.edge.columns == columns && m.edge.parent == parent
            }) || match ownership.of(table) {
                Some(TableOwnership::Owned {
                    via, through_cycle, ..
                }) => [Some(via), through_cycle.as_ref()]
                    .into_iter()
                    .flatten()
                    .any(|e| e.columns == columns && e.parent == parent),
                Some(TableOwnership::Ambiguous { choices }) => choices
                    .iter()
                    .any(|c| c.edge.columns == columns && c.edge.parent == parent),
                _ => false,
            }
        };
    let references: Vec<Edge> = super::foreign_keys(dataset, schema)
        .into_iter()
        .filter(|(t, fk)| !counted(t, &fk.columns, &fk.ref_table))
        .map(|(table, fk)| Edge {
            relation: schema
                .table(&table)
                .is_none_or(|ts| !ts.foreign_keys.contains(&fk)),
            table,
            columns: fk.columns,
            parent: fk.ref_table,
            parent_columns: fk.ref_columns,
        })
        .collect();
    DatasetMap {
        dataset: dataset.id.to_string(),
        tables,
        references,
        mentions: ownership.mentions.clone(),
        subjects,
        problems,
    }
}

fn ineffective_problem(i: &Ineffective) -> Problem {
    Problem {
        kind: ProblemKind::SettingIneffective,
        table: i.table.clone(),
        column: i.column.clone(),
        message: format!(
            "`{}` of `{}` cannot take effect: {}",
            i.setting, i.table, i.problem
        ),
        help: "change or remove the setting so that the declaration says what requests do".into(),
        span: Some(i.span),
    }
}

/// A value of the column's type, for planning without a person: plans never depend on it.
fn placeholder(kind: Option<ValueKind>) -> String {
    match kind {
        Some(ValueKind::Integer | ValueKind::Float | ValueKind::Decimal) => "0",
        Some(ValueKind::Bool) => "false",
        Some(ValueKind::Temporal) => "1970-01-01",
        _ => "x",
    }
    .to_string()
}
