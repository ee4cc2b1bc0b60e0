//! Who the request is about, checked in the database before any statement of the plan runs,
//! in the plan's transaction: one request is one person.
//!
//! For each declared table that declares identities of the person, every one of those
//! identities must select the same rows, and at most one row. An identity that selects a row
//! another one does not (a different row, or none) is a [`Error::Conflict`]; identities that
//! agree but select several rows are [`Error::Ambiguous`]. A batch checks each person on its
//! own and is refused whole ([`Error::BatchRefused`]) when any one of them fails. Messages
//! say which identities matched how many rows, never what the rows hold.
//!
//! A restriction is refused ([`Error::NotRestrictable`]) when the person has rows in a table
//! that declares no column to mark them.

use crate::dialect::{Dialect, col};
use crate::exec::{Runner, Who};
use crate::{Error, KindMatch, Refusal};
use pledge_lang::rights::RequestKind;
use pledge_plan::{Action, Filter, Person, Plan, TableProbes, Value};
use sea_query::{Alias, CaseStatement, Condition, Expr, ExprTrait, Func, Query};
use sea_query_sqlx::SqlxValues;
use sqlx::{Executor, IntoArguments};
use std::collections::HashMap;

/// Values of one kind bound in one statement of a batch check.
const CHUNK: usize = 5_000;

/// Runs every check; `Ok` means the plan may run, and holds the tables whose identity filter
/// selects none of the person's rows (the plan's steps that start from those select
/// nothing, and need not run: see [`Filter::selects_nothing`]).
pub(crate) async fn check<DB: Dialect>(
    runner: &Runner<'_, DB>,
    conn: &mut DB::Connection,
    plan: &Plan,
) -> Result<Vec<String>, Error>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    SqlxValues: IntoArguments<DB>,
{
    let mut absent = Vec::new();
    let mut found = 0;
    match runner.options.who {
        // The plan's identity filter of a table is the disjunction of the person's probes
        // there (both come from `person::identity_value` over the same identities), so the
        // rows the probes select are the rows the filter selects.
        Who::Person(person) => {
            for table in &person.tables {
                let rows = one_person(runner, conn, table).await?.rows()?;
                if rows == 0 {
                    absent.push(table.table.clone());
                }
                found += rows;
            }
        }
        // A batch of one person: that person's own check, which also counts their rows
        // (two statements fewer per table than the grouped check and the count after it).
        Who::Batch([person]) => {
            for table in &person.tables {
                let rows = one_person(runner, conn, table).await?.rows().map_err(|e| {
                    Error::BatchRefused {
                        people: 1,
                        refused: vec![refusal(person, 0, &e)],
                    }
                })?;
                if rows == 0 {
                    absent.push(table.table.clone());
                }
                found += rows;
            }
        }
        Who::Batch(people) => {
            batch(runner, conn, plan, people).await?;
            for (table, rows) in identity_rows(runner, conn, plan).await? {
                if rows == 0 {
                    absent.push(table.to_string());
                }
                found += rows;
            }
        }
    }
    if found == 0 && plan.kind != RequestKind::Erasure {
        let mut tables: Vec<&str> = identity_steps(plan).map(|(t, _)| t).collect();
        tables.dedup();
        return Err(Error::NoSuchPerson {
            tables: tables.join(", "),
        });
    }
    if plan.kind == RequestKind::Restriction {
        let mut unmarkable = Vec::new();
        for step in &plan.steps {
            if let Action::Restrict { column: None } = step.action {
                let rows = runner
                    .count(
                        conn,
                        &step.table,
                        runner.condition(&step.table, &step.filter),
                    )
                    .await?;
                if rows > 0 && !unmarkable.contains(&step.table) {
                    unmarkable.push(step.table.clone());
                }
            }
        }
        if !unmarkable.is_empty() {
            return Err(Error::NotRestrictable {
                tables: unmarkable.join(", "),
            });
        }
    }
    Ok(absent)
}

/// The tables the plan finds people in, each with its identity filter.
fn identity_steps(plan: &Plan) -> impl Iterator<Item = (&str, &Filter)> {
    let mut seen: Vec<&str> = Vec::new();
    plan.steps.iter().filter_map(move |s| match &s.filter {
        Filter::Identity { .. } if !seen.contains(&s.table.as_str()) => {
            seen.push(&s.table);
            Some((s.table.as_str(), &s.filter))
        }
        _ => None,
    })
}

/// Rows each table's identity filter selects.
async fn identity_rows<'p, DB: Dialect>(
    runner: &Runner<'_, DB>,
    conn: &mut DB::Connection,
    plan: &'p Plan,
) -> Result<Vec<(&'p str, u64)>, Error>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    SqlxValues: IntoArguments<DB>,
{
    let mut found = Vec::new();
    for (table, filter) in identity_steps(plan) {
        let rows = runner
            .count(conn, table, runner.condition(table, filter))
            .await?;
        found.push((table, rows));
    }
    Ok(found)
}

/// What one person's identities matched in one table.
struct Matched {
    table: String,
    /// Rows any of the identities selects.
    any: u64,
    /// Rows all of them select.
    all: u64,
    /// Per identity kind, the rows it selects.
    kinds: Vec<KindMatch>,
}

impl Matched {
    /// The rows of the person in the table, or why they are not one person's.
    fn rows(self) -> Result<u64, Error> {
        if self.all < self.any {
            Err(Error::Conflict {
                table: self.table,
                matched: self.kinds,
                all: self.all,
            })
        } else if self.any > 1 {
            Err(Error::Ambiguous {
                table: self.table,
                rows: self.any,
            })
        } else {
            Ok(self.any)
        }
    }
}

fn equals<DB: Dialect>(runner: &Runner<'_, DB>, table: &str, column: &str, value: &Value) -> Expr {
    let schema = runner.schema.table(table).and_then(|t| t.column(column));
    col(table, column).eq(DB::bind(schema, value))
}

/// `SELECT COUNT(*), COUNT(CASE WHEN a THEN 1 END), ..., COUNT(CASE WHEN a AND b ... THEN 1
/// END) FROM table WHERE a OR b ...`: one statement for one person in one table.
async fn one_person<DB: Dialect>(
    runner: &Runner<'_, DB>,
    conn: &mut DB::Connection,
    table: &TableProbes,
) -> Result<Matched, Error>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    SqlxValues: IntoArguments<DB>,
{
    let t = table.table.as_str();
    let conditions: Vec<Expr> = table
        .probes
        .iter()
        .map(|p| equals(runner, t, &p.column, &p.value))
        .collect();
    let counted = |condition: Condition| {
        let case: Expr = CaseStatement::new().case(condition, Expr::val(1)).into();
        Func::count(case)
    };
    let mut select = Query::select();
    select.from(Alias::new(t)).expr(Expr::cust("COUNT(*)"));
    for c in &conditions {
        select.expr(counted(Condition::all().add(c.clone())));
    }
    select.expr(counted(
        conditions
            .iter()
            .fold(Condition::all(), |all, c| all.add(c.clone())),
    ));
    let any = conditions
        .iter()
        .fold(Condition::any(), |any, c| any.add(c.clone()));
    // A PostgreSQL table with inheritance children counts its own rows only.
    select.cond_where(match runner.own_rows(t) {
        Some(own) => Condition::all().add(own).add(any),
        None => any,
    });
    let rows = runner.fetch(conn, &select).await?;
    let row = rows
        .first()
        .ok_or_else(|| Error::Decode("a count returned no row".into()))?;
    let number = |i: usize| -> Result<u64, Error> { Ok(count_of(&DB::decode(row, i)?)) };
    let n = table.probes.len();
    Ok(Matched {
        table: t.to_string(),
        any: number(0)?,
        all: number(n + 1)?,
        kinds: table
            .probes
            .iter()
            .enumerate()
            .map(|(i, p)| {
                Ok(KindMatch {
                    kind: p.kind.to_string(),
                    rows: number(i + 1)?,
                })
            })
            .collect::<Result<_, Error>>()?,
    })
}

fn count_of(v: &Value) -> u64 {
    match v {
        Value::Int(n) => u64::try_from(*n).unwrap_or(0),
        Value::Float(f) => *f as u64,
        Value::Text(t) => t.trim().parse().unwrap_or(0),
        _ => 0,
    }
}

/// Why the person at `index` of a batch is refused.
fn refusal(person: &Person, index: usize, e: &Error) -> Refusal {
    Refusal {
        at: person
            .at
            .map_or_else(|| format!("person {}", index + 1), |a| a.to_string()),
        reason: e.to_string(),
    }
}

/// People of a batch (by their index) and the value each gives for one identity column.
type Named<'v> = Vec<(usize, &'v Value)>;

/// Every person of a batch on their own. A person named by one identity in a table can only
/// be ambiguous there: those are checked together, per kind, with one grouped statement per
/// few thousand values. A person named by several identities in a table gets a statement of
/// their own there.
async fn batch<DB: Dialect>(
    runner: &Runner<'_, DB>,
    conn: &mut DB::Connection,
    plan: &Plan,
    people: &[Person],
) -> Result<(), Error>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    SqlxValues: IntoArguments<DB>,
{
    let mut refused: Vec<(usize, Refusal)> = Vec::new();
    let refusal = |i: usize, e: Error| refusal(&people[i], i, &e);
    // (table, column) → the people named there by one identity alone, each with its value.
    let mut single: Vec<((String, String), Named<'_>)> = Vec::new();
    for (i, person) in people.iter().enumerate() {
        for table in &person.tables {
            if let [probe] = table.probes.as_slice() {
                let key = (table.table.clone(), probe.column.clone());
                match single.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, list)) => list.push((i, &probe.value)),
                    None => single.push((key, vec![(i, &probe.value)])),
                }
                continue;
            }
            if let Err(e) = one_person(runner, conn, table).await?.rows() {
                refused.push((i, refusal(i, e)));
            }
        }
    }
    let filters: HashMap<&str, &Filter> = identity_steps(plan).collect();
    for ((table, column), named) in &single {
        let Some(schema) = runner.schema.table(table).and_then(|t| t.column(column)) else {
            continue;
        };
        for chunk in named.chunks(CHUNK) {
            let mut select = Query::select();
            select
                .from(Alias::new(table.as_str()))
                .expr(DB::read(table, schema))
                .expr(Expr::cust("COUNT(*)"))
                .group_by_col((Alias::new(table.as_str()), Alias::new(column.as_str())))
                .and_having(Expr::cust("COUNT(*) > 1"));
            let values =
                col(table, column).is_in(chunk.iter().map(|(_, v)| DB::bind(Some(schema), v)));
            // Resolved seeds (a large batch on PostgreSQL) narrow the rows through the index.
            match filters.get(table.as_str()) {
                Some(filter) if runner.seed(table, filter).is_some() => {
                    select.cond_where(
                        Condition::all()
                            .add(runner.condition(table, filter))
                            .add(values),
                    );
                }
                _ => {
                    select.and_where(values);
                    if let Some(own) = runner.own_rows(table) {
                        select.and_where(own);
                    }
                }
            }
            for row in runner.fetch(conn, &select).await? {
                let value = DB::decode(&row, 0)?;
                let rows = count_of(&DB::decode(&row, 1)?);
                // The database compares by its own rules (a case-insensitive collation): the
                // people whose value it grouped under this one.
                let mut whose: Vec<usize> = chunk
                    .iter()
                    .filter(|(_, v)| **v == value)
                    .map(|(i, _)| *i)
                    .collect();
                if whose.is_empty() {
                    let loose = |v: &Value| v.to_string().trim().to_lowercase();
                    whose = chunk
                        .iter()
                        .filter(|(_, v)| loose(v) == loose(&value))
                        .map(|(i, _)| *i)
                        .collect();
                }
                let e = || Error::Ambiguous {
                    table: table.clone(),
                    rows,
                };
                if whose.is_empty() {
                    refused.push((
                        usize::MAX,
                        Refusal {
                            at: "a person of the batch".into(),
                            reason: e().to_string(),
                        },
                    ));
                }
                for i in whose {
                    refused.push((i, refusal(i, e())));
                }
            }
        }
    }
    if refused.is_empty() {
        return Ok(());
    }
    refused.sort_by_key(|(i, _)| *i);
    Err(Error::BatchRefused {
        people: people.len(),
        refused: refused.into_iter().map(|(_, r)| r).collect(),
    })
}
