//! Retention planning: for every declared table with a `retention`, which rows have expired
//! and what happens to them, as steps a connector runs batch after batch.
//!
//! A row of a table with `retention = { column, period, action }` has expired when
//! `column < now - period` (a NULL never expires), and no legal hold of the table still keeps
//! it. Expired rows are taken in batches of primary keys; the steps of a sweep are written
//! against the batch ([`Filter::Batch`]) and run in one short transaction per batch.
//!
//! **Delete.** Foreign keys decide what goes with an expired row. Rows of a child table that
//! refer to it are deleted with it, children first, when the child table has no retention of
//! its own and holds no people of its own: such rows only describe the expired row (the
//! events of a session), and keeping them would keep the row. When the child table has a
//! retention of its own, its rows follow their own period and are not cut short; when it
//! holds people of its own, their rows are not this table's data to delete. Their references
//! then keep the expired row, which is anonymised instead of deleted: every `DELETE` carries a
//! `NOT EXISTS` guard for every key pointing at its table, as in erasure, so no foreign key
//! ever breaks.
//!
//! **Anonymise.** The row stays with its personal columns cleared or generalised (the year of
//! a date, the country of an address), so that it is no longer personal data. A keyed hash is
//! a pseudonym, still personal data (GDPR Recital 26): columns whose erasure is `hmac` are
//! cleared. Key columns stay: once the rest is gone they name no one.
//!
//! Every step is idempotent, and a batch picks only rows that still change: a second sweep
//! right after the first finds nothing.

use super::{
    Action, Assignment, CivilTime, Filter, ForeignKey, Mask, PlanError, SchemaGraph, Step,
    TableSchema, ValueKind, foreign_keys, hold_cutoffs, holds_people, neutral, typed, validate,
};
use pledge_lang::load::Declaration;
use pledge_lang::model::{ColumnErasure, Dataset, Generalise, RetentionAction, Table};
use pledge_lang::types::{DatasetId, PurposeId};
use serde::Serialize;
use std::collections::HashMap;

/// What a retention sweep of one dataset does.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RetentionPlan {
    pub dataset: DatasetId,
    /// The time the periods are counted back from.
    pub now: String,
    /// One per table with a retention, children before the tables they refer to.
    pub sweeps: Vec<Sweep>,
    /// Tables left out, and why.
    pub notes: Vec<String>,
}

/// The sweep of one table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sweep {
    pub table: String,
    pub action: RetentionAction,
    /// The timestamp column the period runs from.
    pub column: String,
    /// The period, in words.
    pub period: String,
    /// Rows whose `column` is before this have expired.
    pub cutoff: String,
    pub purpose: Option<PurposeId>,
    /// The primary key: batches are taken in its order.
    pub key: Vec<String>,
    /// Expired rows, held or not.
    pub expired: Filter,
    /// The rows a batch picks: expired, not held, and still to be deleted or anonymised.
    pub pending: Filter,
    /// Expired rows kept by a legal hold, one entry per hold.
    pub held: Vec<HeldBack>,
    /// Run for each batch, in order; [`Filter::Batch`] is the batch's rows of `table`.
    pub steps: Vec<Step>,
    /// Why, in plain words.
    pub reason: String,
}

/// Expired rows a legal hold keeps.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HeldBack {
    pub filter: Filter,
    pub reason: String,
}

/// Plan the retention sweep of one dataset at `now`; `only` limits it to one table.
pub fn retention(
    decl: &Declaration,
    dataset: &Dataset,
    schema: &SchemaGraph,
    now: CivilTime,
    only: Option<&str>,
) -> Result<RetentionPlan, PlanError> {
    validate(dataset, schema)?;
    if let Some(table) = only
        && !dataset
            .tables
            .iter()
            .any(|t| t.name.as_str() == table && t.retention.is_some())
    {
        return Err(PlanError::NoRetention {
            dataset: dataset.id.to_string(),
            table: table.to_string(),
        });
    }
    let planner = Sweeper {
        decl,
        schema,
        now,
        edges: foreign_keys(dataset, schema),
        declared: dataset
            .tables
            .iter()
            .map(|t| (t.name.as_str(), t))
            .collect(),
    };
    let mut plan = RetentionPlan {
        dataset: dataset.id.value.clone(),
        now: now.to_string(),
        sweeps: Vec::new(),
        notes: Vec::new(),
    };
    for t in planner.order(dataset) {
        if only.is_some_and(|o| o != t.name.as_str()) {
            continue;
        }
        match planner.sweep(t) {
            Ok(sweep) => plan.sweeps.push(sweep),
            Err(note) => plan.notes.push(note),
        }
    }
    Ok(plan)
}

struct Sweeper<'a> {
    decl: &'a Declaration,
    schema: &'a SchemaGraph,
    now: CivilTime,
    edges: Vec<(String, ForeignKey)>,
    declared: HashMap<&'a str, &'a Table>,
}

impl<'a> Sweeper<'a> {
    /// Tables with a retention, each after the retention tables that refer to it: expired
    /// children go first, so fewer parents are kept only because a child still points at them.
    fn order(&self, dataset: &'a Dataset) -> Vec<&'a Table> {
        let retained: Vec<&Table> = dataset
            .tables
            .iter()
            .filter(|t| t.retention.is_some())
            .collect();
        let mut out: Vec<&Table> = Vec::new();
        let mut visiting: Vec<&str> = Vec::new();
        fn visit<'t>(
            s: &Sweeper<'_>,
            t: &'t Table,
            retained: &[&'t Table],
            out: &mut Vec<&'t Table>,
            visiting: &mut Vec<&'t str>,
        ) {
            if out.iter().any(|o| o.name == t.name) || visiting.contains(&t.name.as_str()) {
                return;
            }
            visiting.push(t.name.as_str());
            for child in retained {
                let refers = s
                    .edges
                    .iter()
                    .any(|(from, fk)| from == child.name.as_str() && fk.ref_table == *t.name);
                if refers && child.name != t.name {
                    visit(s, child, retained, out, visiting);
                }
            }
            visiting.pop();
            out.push(t);
        }
        for t in &retained {
            visit(self, t, &retained, &mut out, &mut visiting);
        }
        out
    }

    fn guards_into(&self, table: &str) -> Vec<Filter> {
        self.edges
            .iter()
            .filter(|(_, fk)| fk.ref_table == table)
            .map(|(from, fk)| unreferenced(from, fk))
            .collect()
    }

    /// Whether rows of `child` go with the rows of the table they refer to: it has no
    /// retention of its own and holds no people of its own.
    fn follows_parent(&self, child: &str) -> bool {
        self.declared
            .get(child)
            .is_none_or(|c| c.retention.is_none() && !holds_people(c))
    }

    /// Why rows of `child` are not deleted with the rows they refer to.
    fn why_kept(&self, child: &str) -> &'static str {
        match self.declared.get(child) {
            Some(c) if c.retention.is_some() => "has a retention period of its own",
            _ => "holds people of its own",
        }
    }

    fn sweep(&self, t: &Table) -> Result<Sweep, String> {
        let table = t.name.as_str();
        // Validated: every declared table is in the schema.
        let Some(ts) = self.schema.table(table) else {
            return Err(match self.schema.partition_parent(table) {
                Some(parent) => format!(
                    "table `{table}` is part of `{}`, not a table of its own",
                    parent.name
                ),
                None => format!("table `{table}` is not in the database"),
            });
        };
        let Some(r) = &t.retention else {
            return Err(format!("table `{table}` declares no retention"));
        };
        if ts.primary_key.is_empty() {
            return Err(format!(
                "table `{table}` has no primary key, which retention needs to work in batches; it was left out"
            ));
        }
        let cutoff = self.now.minus(&r.period).to_string();
        let expired = Filter::Before {
            column: r.column.value.clone(),
            cutoff: cutoff.clone(),
        };
        let purpose = r.purpose.as_ref().map(|p| p.value.clone());
        let why = match purpose.as_ref().and_then(|p| self.decl.purpose(p)) {
            Some(p) => format!(
                "the retention period of `{}` ({})",
                p.id.value, p.name.value
            ),
            None => "the declared retention period".to_string(),
        };
        let since = format!(
            "`{}` is more than {} ago (before {cutoff})",
            r.column.value,
            r.period.to_words()
        );
        let assignments = anonymise(t, ts, r);
        let mut pending = vec![expired.clone()];
        if let Some(not_held) = not_held(t, self.now) {
            pending.push(not_held);
        }
        let held_note = if t.holds.is_empty() {
            ""
        } else {
            "; rows under a legal hold stay until it ends"
        };
        let mut steps = Vec::new();
        let reason;
        match r.action.value {
            RetentionAction::Anonymise => {
                if assignments.is_empty() {
                    return Err(format!(
                        "table `{table}` is to be anonymised but declares no personal column to clear; it was left out"
                    ));
                }
                pending.push(Filter::Unmasked {
                    assignments: assignments.clone(),
                });
                reason = format!(
                    "rows of `{table}` whose {since} are anonymised: {why} has run out (Art. 5(1)(e)){held_note}"
                );
                steps.push(Step {
                    table: table.to_string(),
                    filter: Filter::Batch,
                    action: Action::Mask {
                        assignments: assignments.clone(),
                    },
                    reason: format!(
                        "expired rows of `{table}` are anonymised: their personal columns are cleared or generalised, so they are no longer personal data"
                    ),
                });
            }
            RetentionAction::Delete => {
                let mut visited = vec![table.to_string()];
                self.cascade(table, &Filter::Batch, &mut visited, &mut steps);
                let blocking: Vec<(&String, &ForeignKey)> = self
                    .edges
                    .iter()
                    .filter(|(from, fk)| fk.ref_table == table && !self.follows_parent(from))
                    .map(|(from, fk)| (from, fk))
                    .collect();
                let mut kept = String::new();
                if !blocking.is_empty() {
                    let mut names: Vec<String> = blocking
                        .iter()
                        .map(|(from, _)| {
                            if from.as_str() == table {
                                format!("`{from}` itself")
                            } else {
                                format!("`{from}` ({})", self.why_kept(from))
                            }
                        })
                        .collect();
                    names.dedup();
                    kept = format!(
                        "; an expired row that rows of {} still refer to is kept and anonymised instead, so that no foreign key breaks and no other period is cut short",
                        names.join(", ")
                    );
                    let guards: Vec<Filter> = blocking
                        .iter()
                        .map(|(from, fk)| unreferenced(from, fk))
                        .collect();
                    // Still to do: deletable, or kept but not anonymised yet.
                    let mut either = vec![Filter::all(guards)];
                    if !assignments.is_empty() {
                        either.push(Filter::Unmasked {
                            assignments: assignments.clone(),
                        });
                    }
                    pending.push(Filter::any(either));
                }
                reason = format!(
                    "rows of `{table}` whose {since} are deleted: {why} has run out (Art. 5(1)(e)){held_note}{kept}"
                );
                steps.push(Step {
                    table: table.to_string(),
                    filter: Filter::Batch,
                    action: Action::Delete {
                        guards: self.guards_into(table),
                    },
                    reason: format!(
                        "expired rows of `{table}` that no other row refers to are deleted"
                    ),
                });
                // Only rows something refers to can survive their batch's delete.
                if !assignments.is_empty() && !self.guards_into(table).is_empty() {
                    steps.push(Step {
                        table: table.to_string(),
                        filter: Filter::Batch,
                        action: Action::Mask { assignments },
                        reason: format!(
                            "expired rows of `{table}` that other rows still refer to are kept, anonymised: their personal columns are cleared or generalised"
                        ),
                    });
                }
            }
        }
        let held = t
            .holds
            .iter()
            .map(|h| {
                let (filter, from) = match &h.after {
                    Some(after) => (
                        Filter::all(vec![
                            expired.clone(),
                            Filter::NotBefore {
                                column: after.value.clone(),
                                cutoff: self.now.minus(&h.period).to_string(),
                            },
                        ]),
                        format!(" from `{}`", after.value),
                    ),
                    None => (expired.clone(), " (no start column: every row)".to_string()),
                };
                HeldBack {
                    filter,
                    reason: format!(
                        "kept for {} under {} for {}{from} (Art. 17(3)(b))",
                        h.reason.value,
                        h.law.value,
                        h.period.to_words()
                    ),
                }
            })
            .collect();
        Ok(Sweep {
            table: table.to_string(),
            action: r.action.value,
            column: r.column.value.clone(),
            period: r.period.to_words(),
            cutoff,
            purpose,
            key: ts.primary_key.clone(),
            expired,
            pending: Filter::all(pending),
            held,
            steps,
            reason,
        })
    }

    /// Delete, children first, the rows of tables that follow `table`'s rows in `rows`.
    fn cascade(
        &self,
        table: &str,
        rows: &Filter,
        visited: &mut Vec<String>,
        steps: &mut Vec<Step>,
    ) {
        for (child, fk) in &self.edges {
            if fk.ref_table != table || visited.contains(child) || !self.follows_parent(child) {
                continue;
            }
            let refers = Filter::RefersTo {
                columns: fk.columns.clone(),
                parent: table.to_string(),
                parent_columns: fk.ref_columns.clone(),
                parent_filter: Box::new(rows.clone()),
            };
            let (filter, held_note) = match self
                .declared
                .get(child.as_str())
                .and_then(|c| not_held(c, self.now))
            {
                Some(not_held) => (
                    Filter::all(vec![refers, not_held]),
                    " (rows under a legal hold stay, and keep the row they refer to)",
                ),
                None => (refers, ""),
            };
            visited.push(child.clone());
            self.cascade(child, &filter, visited, steps);
            visited.pop();
            steps.push(Step {
                table: child.clone(),
                filter,
                action: Action::Delete {
                    guards: self.guards_into(child),
                },
                reason: format!(
                    "rows of `{child}` that refer to expired rows of `{table}` are deleted with them{held_note}: `{child}` has no retention of its own and holds no people of its own, so its rows live as long as the row they belong to"
                ),
            });
        }
    }
}

/// No row of `from` refers to the row through `fk`.
fn unreferenced(from: &str, fk: &ForeignKey) -> Filter {
    Filter::Unreferenced {
        table: from.to_string(),
        columns: fk.columns.clone(),
        ref_columns: fk.ref_columns.clone(),
        except: None,
    }
}

/// Rows of a declared table no hold keeps at `now`, if it has holds.
fn not_held(t: &Table, now: CivilTime) -> Option<Filter> {
    let cutoffs = hold_cutoffs(t, now)?;
    if cutoffs.is_empty() {
        return Some(Filter::NEVER);
    }
    let ended = cutoffs
        .into_iter()
        .map(|(column, cutoff)| Filter::Before { column, cutoff });
    Some(Filter::all(ended.collect()))
}

/// What anonymising a row of `t` writes: every personal or identity column that is not a key,
/// cleared, or generalised as the retention says.
fn anonymise(
    t: &Table,
    ts: &TableSchema,
    r: &pledge_lang::model::TableRetention,
) -> Vec<Assignment> {
    let generalised = |name: &str| {
        r.generalise
            .iter()
            .find(|(c, _)| c.as_str() == name)
            .map(|(_, g)| g.value)
    };
    let clear = |kind: ValueKind, nullable: bool| {
        if nullable {
            Mask::Null
        } else {
            Mask::Fixed(neutral(kind))
        }
    };
    let mut out: Vec<Assignment> = Vec::new();
    let identity_only = t
        .identity
        .values()
        .map(|c| c.as_str())
        .filter(|c| !t.columns.keys().any(|k| k.as_str() == *c));
    let generalised_only = r
        .generalise
        .keys()
        .map(|c| c.as_str())
        .filter(|c| !t.columns.keys().any(|k| k.as_str() == *c));
    let names: Vec<&str> = t
        .columns
        .keys()
        .map(|c| c.as_str())
        .chain(identity_only)
        .chain(generalised_only)
        .collect();
    for name in names {
        if ts.is_key_column(name) || out.iter().any(|a| a.column == name) {
            continue;
        }
        let Some(c) = ts.column(name) else {
            continue;
        };
        let dated = matches!(c.kind, ValueKind::Temporal | ValueKind::Text);
        let mask = match generalised(name) {
            Some(Generalise::Keep) => continue,
            Some(Generalise::Year) if dated => Mask::Year,
            Some(Generalise::Month) if dated => Mask::Month,
            Some(_) => clear(c.kind, c.nullable),
            None => match t
                .columns
                .iter()
                .find(|(k, _)| k.as_str() == name)
                .and_then(|(_, d)| d.erasure.as_ref())
            {
                Some(e) => match &e.value {
                    ColumnErasure::Keep => continue,
                    ColumnErasure::Fixed(v) => Mask::Fixed(typed(v, Some(c.kind))),
                    // A pseudonym is still personal data: anonymisation clears the column.
                    ColumnErasure::Hmac | ColumnErasure::Null => clear(c.kind, c.nullable),
                },
                None => clear(c.kind, c.nullable),
            },
        };
        out.push(Assignment {
            column: name.to_string(),
            mask,
        });
    }
    out
}
