//! Running a retention plan in bounded batches: each batch selects up to N keys of pending
//! rows in primary-key order and runs the sweep's steps on them in a transaction of its own,
//! so locks are held briefly and the application keeps working. A batch is committed before
//! the next starts: a sweep can be stopped between any two batches and run again later, and
//! since a batch only picks rows that still change, the next run goes on where it stopped.
//!
//! A dry run puts every batch in one transaction and rolls it back: the counts are those of a
//! real run, and nothing changes.

use crate::dialect::{Dialect, col};
use crate::exec::Runner;
use crate::{Database, Error, Options};
use pledge_lang::Declaration;
use pledge_lang::model::{Dataset, RetentionAction};
use pledge_lang::time::CivilTime;
use pledge_plan::retention::{self, RetentionPlan, Sweep};
use pledge_plan::{Action, ColumnSchema, SchemaGraph, Value};
use sea_query::{Alias, Condition, Expr, ExprTrait, Func, Query};
use sea_query_sqlx::SqlxValues;
use serde::Serialize;
use serde_json::json;
use sqlx::{Acquire, AssertSqlSafe, Executor, IntoArguments};
use std::future::Future;
use std::pin::Pin;

/// How a retention plan is run.
pub struct BatchOptions<'a> {
    /// Rows per batch (and per transaction).
    pub batch_size: u64,
    /// Run every batch, report the counts, then roll everything back.
    pub dry_run: bool,
    /// Count the pending rows of a table before sweeping it (for a progress bar's length).
    pub count_first: bool,
    /// Asked before each batch: `true` stops the run there. What is committed stays.
    pub stop: &'a (dyn Fn() -> bool + Sync),
    /// Called before a table's sweep and after each batch with (table, rows examined so far,
    /// rows pending at the start if counted).
    pub progress: &'a (dyn Fn(&str, u64, Option<u64>) + Sync),
    /// Awaited before a table's first batch and after each committed batch, with the table's
    /// counts so far; the next batch waits for it. Not called in a dry run. The server
    /// records the counts in its store here, so a sweep killed between batches leaves a
    /// record of what it deleted.
    pub on_batch: Option<&'a BatchHook<'a>>,
}

/// What [`BatchOptions::on_batch`] is: given a table's counts so far, a future to await.
pub type BatchHook<'a> =
    dyn Fn(&SweepOutcome) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>> + Sync + 'a;

/// What the sweep of one table did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SweepOutcome {
    pub table: String,
    /// Expired rows looked at: those the batches took, and those a hold keeps.
    pub examined: u64,
    pub deleted: u64,
    pub anonymised: u64,
    /// Rows of other tables deleted with the expired rows: (table, rows).
    pub deleted_along: Vec<(String, u64)>,
    /// Expired rows kept by a legal hold: (why, rows).
    pub held: Vec<(String, u64)>,
    /// Expired rows taken by a batch that were neither deleted nor changed: other rows still
    /// refer to them and they hold nothing left to anonymise.
    pub kept: u64,
    pub batches: u64,
    /// False when the run stopped before this table was done.
    pub complete: bool,
}

/// What running a retention plan did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RetentionOutcome {
    pub sweeps: Vec<SweepOutcome>,
    /// False for a dry run (rolled back).
    pub committed: bool,
    /// The run was stopped before the end; run it again to finish.
    pub stopped: bool,
}

pub(crate) async fn execute_batched<DB: Dialect>(
    conn: &mut DB::Connection,
    schema: &SchemaGraph,
    plan: &RetentionPlan,
    options: &BatchOptions<'_>,
) -> Result<RetentionOutcome, Error>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    SqlxValues: IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: Acquire<'c, Database = DB>,
{
    // Retention clears and deletes; it never pseudonymises, so no key is needed.
    let exec = Options {
        dry_run: options.dry_run,
        hmac_key: b"",
        who: crate::Who::Batch(&[]),
        progress: &|_, _| {},
    };
    let runner = Runner::<DB> {
        schema,
        options: &exec,
        batch: None,
        seeds: Vec::new(),
        absent: Vec::new(),
        marker: std::marker::PhantomData,
    };
    // For a prepared statement over a key range the planner may compile it, and the
    // compilation costs more than the batch: off while the sweep runs, on this connection
    // only (see `Dialect::NO_JIT`).
    if let Some(no_jit) = DB::NO_JIT {
        setting(conn, no_jit.in_session).await?;
    }
    let outcome = sweep_or_roll_back(&runner, conn, plan, options).await;
    if let Some(no_jit) = DB::NO_JIT {
        // The sweep's own error, if any, is the one to report.
        let reset = setting(conn, no_jit.reset).await;
        return outcome.and_then(|o| reset.map(|()| o));
    }
    outcome
}

async fn setting<DB: Dialect>(conn: &mut DB::Connection, sql: &'static str) -> Result<(), Error>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    SqlxValues: IntoArguments<DB>,
{
    sqlx::query_with(
        AssertSqlSafe(sql),
        SqlxValues(sea_query::Values(Vec::new())),
    )
    .execute(conn)
    .await
    .map(|_| ())
    .map_err(|e| Error::query(sql, e))
}

async fn sweep_or_roll_back<DB: Dialect>(
    runner: &Runner<'_, DB>,
    conn: &mut DB::Connection,
    plan: &RetentionPlan,
    options: &BatchOptions<'_>,
) -> Result<RetentionOutcome, Error>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    SqlxValues: IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: Acquire<'c, Database = DB>,
{
    if options.dry_run {
        let mut tx = conn.begin().await.map_err(|e| Error::query("BEGIN", e))?;
        let outcome = sweep_all(runner, &mut tx, plan, options).await;
        tx.rollback()
            .await
            .map_err(|e| Error::query("ROLLBACK", e))?;
        outcome
    } else {
        let mut outcome = sweep_all(runner, conn, plan, options).await?;
        outcome.committed = true;
        Ok(outcome)
    }
}

async fn sweep_all<DB: Dialect>(
    runner: &Runner<'_, DB>,
    conn: &mut DB::Connection,
    plan: &RetentionPlan,
    options: &BatchOptions<'_>,
) -> Result<RetentionOutcome, Error>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    SqlxValues: IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: Acquire<'c, Database = DB>,
{
    let mut outcome = RetentionOutcome::default();
    for sweep in &plan.sweeps {
        let done = sweep_table(runner, conn, sweep, options).await?;
        let complete = done.complete;
        outcome.sweeps.push(done);
        if !complete {
            outcome.stopped = true;
            break;
        }
    }
    Ok(outcome)
}

async fn sweep_table<DB: Dialect>(
    runner: &Runner<'_, DB>,
    conn: &mut DB::Connection,
    sweep: &Sweep,
    options: &BatchOptions<'_>,
) -> Result<SweepOutcome, Error>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    SqlxValues: IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: Acquire<'c, Database = DB>,
{
    let table = sweep.table.as_str();
    let mut out = SweepOutcome {
        table: table.to_string(),
        ..SweepOutcome::default()
    };
    let total = if options.count_first {
        Some(
            runner
                .count(conn, table, runner.condition(table, &sweep.pending))
                .await?,
        )
    } else {
        None
    };
    (options.progress)(table, 0, total);
    let on_batch = options.on_batch.filter(|_| !options.dry_run);
    if let Some(hook) = on_batch {
        hook(&out).await;
    }
    let key_columns: Vec<_> = sweep
        .key
        .iter()
        .map(|k| {
            runner
                .schema
                .table(table)
                .and_then(|t| t.column(k))
                .ok_or_else(|| Error::Decode(format!("no key column `{table}.{k}`")))
        })
        .collect::<Result<_, _>>()?;
    let mut cursor: Option<Vec<Value>> = None;
    let mut picked = 0u64;
    let stopped = loop {
        if (options.stop)() {
            break true;
        }
        let mut tx = conn.begin().await.map_err(|e| Error::query("BEGIN", e))?;
        let bind = |c: &ColumnSchema, v: &Value| DB::bind(Some(c), v);
        let mut condition = Condition::all().add(runner.condition(table, &sweep.pending));
        if let Some(last) = &cursor {
            condition = condition.add(compare(table, &key_columns, last, Side::After, &bind));
        }
        // The batch: up to N pending rows after the last batch, in key order, known by its
        // first and last key and its size.
        let Some((first, last, size)) = batch_bounds(
            runner,
            &mut tx,
            table,
            &key_columns,
            condition,
            options.batch_size,
        )
        .await?
        else {
            tx.commit().await.map_err(|e| Error::query("COMMIT", e))?;
            break false;
        };
        // The batch is the pending rows from its first key to its last, which are the rows
        // just selected (a key range binds two values where a list of keys binds N). Pending is
        // checked again by each statement: a row the application touched since it was
        // selected (a session used again) is left alone.
        let batch = Condition::all()
            .add(compare(table, &key_columns, &first, Side::From, &bind))
            .add(compare(table, &key_columns, &last, Side::To, &bind))
            .add(runner.condition(table, &sweep.pending));
        let in_batch = Runner::<DB> {
            schema: runner.schema,
            options: runner.options,
            batch: Some(batch),
            seeds: Vec::new(),
            absent: Vec::new(),
            marker: std::marker::PhantomData,
        };
        let mut deleted_here = 0;
        for (index, step) in sweep.steps.iter().enumerate() {
            let own = step.table == table;
            // Every row of the batch is gone: nothing is left to anonymise.
            if own && matches!(step.action, Action::Mask { .. }) && deleted_here == size {
                continue;
            }
            let result = in_batch
                .step(&mut tx, step)
                .await
                .map_err(|e| Error::Step {
                    index: index + 1,
                    table: step.table.clone(),
                    source: Box::new(e),
                })?;
            match (&step.action, own) {
                (Action::Delete { .. }, true) => {
                    deleted_here += result.rows;
                    out.deleted += result.rows;
                }
                (Action::Mask { .. }, true) => out.anonymised += result.rows,
                (Action::Delete { .. }, false) => {
                    match out.deleted_along.iter_mut().find(|(t, _)| *t == step.table) {
                        Some((_, n)) => *n += result.rows,
                        None => out.deleted_along.push((step.table.clone(), result.rows)),
                    }
                }
                _ => {}
            }
        }
        tx.commit().await.map_err(|e| Error::query("COMMIT", e))?;
        picked += size;
        out.batches += 1;
        (options.progress)(table, picked, total);
        if let Some(hook) = on_batch {
            hook(&out).await;
        }
        cursor = Some(last);
    };
    out.complete = !stopped;
    out.kept = picked.saturating_sub(out.deleted + out.anonymised);
    // Counted after the sweep, which does not touch held rows.
    for h in &sweep.held {
        let n = runner
            .count(conn, table, runner.condition(table, &h.filter))
            .await?;
        out.held.push((h.reason.clone(), n));
    }
    out.examined = picked + out.held.iter().map(|(_, n)| n).sum::<u64>();
    if sweep.action == RetentionAction::Anonymise {
        out.deleted = 0;
    }
    Ok(out)
}

/// The first and last key of the next batch and how many rows it has; None when no pending
/// row is left. With a one-column key the database answers in one row (`MIN`, `MAX`,
/// `COUNT` over the batch's keys), so a batch of N rows does not send N keys to the client;
/// a composite key reads the keys.
async fn batch_bounds<DB: Dialect>(
    runner: &Runner<'_, DB>,
    conn: &mut DB::Connection,
    table: &str,
    key_columns: &[&ColumnSchema],
    condition: Condition,
    batch_size: u64,
) -> Result<Option<(Vec<Value>, Vec<Value>, u64)>, Error>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    SqlxValues: IntoArguments<DB>,
{
    let mut keys = Query::select();
    keys.from(Alias::new(table));
    for c in key_columns {
        keys.order_by(
            (Alias::new(table), Alias::new(c.name.as_str())),
            sea_query::Order::Asc,
        );
    }
    keys.cond_where(condition).limit(batch_size);
    if let [key] = key_columns {
        const KEYS: &str = "pledge_keys";
        const BOUNDS: &str = "pledge_bounds";
        keys.expr_as(col(table, &key.name), Alias::new("k"));
        // Compared in the key's own type, converted for reading only at the end.
        let mut aggregate = Query::select();
        aggregate
            .expr_as(Func::min(col(KEYS, "k")), Alias::new("lo"))
            .expr_as(Func::max(col(KEYS, "k")), Alias::new("hi"))
            .expr_as(Expr::cust("COUNT(*)"), Alias::new("n"))
            .from_subquery(keys, Alias::new(KEYS));
        let bound = |name: &str| {
            DB::read(
                BOUNDS,
                &ColumnSchema {
                    name: name.to_string(),
                    ..(*key).clone()
                },
            )
        };
        let mut bounds = Query::select();
        bounds
            .expr(bound("lo"))
            .expr(bound("hi"))
            .expr(col(BOUNDS, "n"))
            .from_subquery(aggregate, Alias::new(BOUNDS));
        let rows = runner.fetch(conn, &bounds).await?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let size = match DB::decode(row, 2)? {
            Value::Int(n) => u64::try_from(n).unwrap_or(0),
            Value::Text(t) => t.parse().unwrap_or(0),
            _ => 0,
        };
        if size == 0 {
            return Ok(None);
        }
        return Ok(Some((
            vec![DB::decode(row, 0)?],
            vec![DB::decode(row, 1)?],
            size,
        )));
    }
    for c in key_columns {
        keys.expr(DB::read(table, c));
    }
    let rows = runner.fetch(conn, &keys).await?;
    let keys: Vec<Vec<Value>> = rows
        .iter()
        .map(|r| (0..key_columns.len()).map(|i| DB::decode(r, i)).collect())
        .collect::<Result<_, _>>()?;
    Ok(match (keys.first(), keys.last()) {
        (Some(first), Some(last)) => Some((first.clone(), last.clone(), keys.len() as u64)),
        _ => None,
    })
}

#[derive(Clone, Copy)]
enum Side {
    After,
    From,
    To,
}

/// Rows whose key comes after `key` (or from it, or up to it) in key order.
fn compare(
    table: &str,
    columns: &[&ColumnSchema],
    key: &[Value],
    side: Side,
    bind: &dyn Fn(&ColumnSchema, &Value) -> Expr,
) -> Condition {
    let (left, right) = match (columns, key) {
        ([c], [v]) => (col(table, &c.name), bind(c, v)),
        _ => (
            Expr::tuple(columns.iter().map(|c| col(table, &c.name))),
            Expr::tuple(columns.iter().zip(key).map(|(c, v)| bind(c, v))),
        ),
    };
    Condition::all().add(match side {
        Side::After => left.gt(right),
        Side::From => left.gte(right),
        Side::To => left.lte(right),
    })
}

/// One dataset's retention run: the plan and what its batches did. What `pledge retain` and
/// the server's scheduled sweep both produce.
#[derive(Debug, Clone)]
pub struct DatasetSweep {
    pub dataset: String,
    pub plan: RetentionPlan,
    pub outcome: RetentionOutcome,
}

/// The datasets a retention run covers: those with a table that has a retention, narrowed to
/// one dataset and one table when asked.
pub fn datasets_with_retention<'d>(
    decl: &'d Declaration,
    dataset: Option<&str>,
    table: Option<&str>,
) -> Vec<&'d Dataset> {
    decl.doc()
        .datasets
        .iter()
        .filter(|d| dataset.is_none_or(|id| d.id.as_str() == id))
        .filter(|d| d.tables.iter().any(|t| t.retention.is_some()))
        .filter(|d| table.is_none_or(|t| d.tables.iter().any(|d| d.name.as_str() == t)))
        .collect()
}

/// Connects to `dataset` at `url`, plans its retention at `now` (one table, or all) and runs
/// the plan in batches.
pub async fn sweep_dataset(
    decl: &Declaration,
    dataset: &Dataset,
    url: &str,
    now: CivilTime,
    table: Option<&str>,
    options: &BatchOptions<'_>,
) -> Result<DatasetSweep, Error> {
    let (mut db, schema) = Database::open_dataset(dataset, url).await?;
    let plan = match retention::retention(decl, dataset, &schema, now, table) {
        Ok(plan) => plan,
        Err(e) => {
            db.close().await;
            return Err(Error::Plan(e));
        }
    };
    let outcome = db.execute_batched(&schema, &plan, options).await;
    db.close().await;
    Ok(DatasetSweep {
        dataset: dataset.id.to_string(),
        plan,
        outcome: outcome?,
    })
}

/// `delete` or `anonymise`, as reports name them.
pub fn action_name(action: RetentionAction) -> &'static str {
    match action {
        RetentionAction::Delete => "delete",
        RetentionAction::Anonymise => "anonymise",
    }
}

impl DatasetSweep {
    /// The report of this dataset's run as JSON: per table the cut-off, the purpose, the rows
    /// examined, deleted, anonymised, deleted along, held back (and why) and kept, and the
    /// reason. The CLI prints it with `--format json`; the server keeps it in the audit log.
    pub fn report(&self) -> serde_json::Value {
        json!({
            "dataset": self.dataset,
            "now": self.plan.now,
            "committed": self.outcome.committed,
            "stopped": self.outcome.stopped,
            "tables": self.plan.sweeps.iter().zip(&self.outcome.sweeps).map(|(s, o)| json!({
                "table": s.table,
                "action": action_name(s.action),
                "column": s.column,
                "period": s.period,
                "cutoff": s.cutoff,
                "purpose": s.purpose,
                "examined": o.examined,
                "deleted": o.deleted,
                "anonymised": o.anonymised,
                "deleted_along": o.deleted_along.iter().map(|(t, n)| json!({"table": t, "rows": n})).collect::<Vec<_>>(),
                "held": o.held.iter().map(|(why, n)| json!({"reason": why, "rows": n})).collect::<Vec<_>>(),
                "kept": o.kept,
                "batches": o.batches,
                "complete": o.complete,
                "reason": s.reason,
            })).collect::<Vec<_>>(),
            "notes": self.plan.notes,
        })
    }
}
