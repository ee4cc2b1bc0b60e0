//! Running a plan: each step becomes one set-based statement (never one per row), all of a
//! dataset's steps run in one transaction, and a dry run rolls that transaction back. The
//! deletions of tables whose rows refer to each other run again while they still delete, as
//! the plan's `repeat` steps say.
//!
//! Idempotence: every write carries the condition that it still changes something (a masked
//! column is not masked again, a pseudonym is not hashed again), so running the same erasure
//! twice changes nothing the second time.

use crate::dialect::{Dialect, col, to_sea};
use crate::{Error, Outcome, StepOutcome, TableRows};
use hmac::{Hmac, KeyInit, Mac};
use pledge_plan::{
    Action, Assignment, ColumnSchema, CycleLink, CycleMember, Filter, Mask, MentionRows, Person,
    Plan, SchemaGraph, Step, Value, ValueKind,
};
use sea_query::{
    Alias, BinOper, CommonTableExpression, Condition, Expr, ExprTrait, IntoIden, JoinType, Query,
    SelectStatement, TableRef, UnionType, WithClause,
};
use sea_query_sqlx::{SqlxBinder, SqlxValues};
use sha2::Sha256;
use sqlx::{Acquire, AssertSqlSafe, Connection, Executor, IntoArguments};
use std::collections::HashSet;

/// Prefix of the pseudonyms erasure writes, so they are recognised and not hashed again.
pub const PSEUDONYM_PREFIX: &str = "h:";

/// How a plan is run.
pub struct Options<'a> {
    /// Run everything, report the counts, then roll back.
    pub dry_run: bool,
    /// The controller's key for HMAC pseudonyms.
    pub hmac_key: &'a [u8],
    /// Who the request is about: checked before anything runs (see `identify`).
    pub who: Who<'a>,
    /// Called after each step with (steps done, steps in all).
    pub progress: &'a (dyn Fn(usize, usize) + Sync),
}

/// Who a plan is run for. The plan's identity filters select the rows of all of them; the
/// check before the plan runs makes sure those are one person's (or each person's).
#[derive(Clone, Copy)]
pub enum Who<'a> {
    /// One person: in every table, each identity selects the same row (or none at all).
    Person(&'a Person),
    /// A batch: each person on their own; one that fails refuses the whole batch.
    Batch(&'a [Person]),
}

pub(crate) async fn execute<DB: Dialect>(
    conn: &mut DB::Connection,
    schema: &SchemaGraph,
    plan: &Plan,
    options: &Options<'_>,
) -> Result<Outcome, Error>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    SqlxValues: IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: Acquire<'c, Database = DB>,
{
    // Compilation off for this transaction only (see `Dialect::NO_JIT`), in the round trip
    // that opens it.
    let mut tx = match DB::NO_JIT {
        Some(no_jit) => Connection::begin_with(&mut *conn, AssertSqlSafe(no_jit.begin))
            .await
            .map_err(|e| Error::query(no_jit.begin, e))?,
        None => Connection::begin(&mut *conn)
            .await
            .map_err(|e| Error::query("BEGIN", e))?,
    };
    let mut runner = Runner::<DB> {
        schema,
        options,
        batch: None,
        seeds: Vec::new(),
        absent: Vec::new(),
        marker: std::marker::PhantomData,
    };
    if DB::SEED_TABLE && identity_values(plan) >= SEED_TABLE_MIN_VALUES {
        runner.seeds = runner.resolve_seeds(&mut tx, plan).await?;
    }
    runner.absent = crate::identify::check(&runner, &mut tx, plan).await?;
    let mut outcome = Outcome::default();
    for (index, step) in plan.steps.iter().enumerate() {
        let step_error = |index: usize, e: Error| Error::Step {
            index: index + 1,
            table: plan.steps[index].table.clone(),
            source: Box::new(e),
        };
        // Rows of tables that refer to each other free one another only as they go: the
        // deletions of such a cycle run again until they delete nothing. The repeat step
        // counts the rows its rounds deleted; each deletion's own count grows too.
        if let Action::Repeat { steps } = &step.action {
            let mut total = 0;
            loop {
                let mut deleted = 0;
                for &j in steps.iter().filter(|&&j| j < index) {
                    let again = runner
                        .step(&mut tx, &plan.steps[j])
                        .await
                        .map_err(|e| step_error(j, e))?;
                    outcome.steps[j].rows += again.rows;
                    deleted += again.rows;
                }
                total += deleted;
                if deleted == 0 {
                    break;
                }
            }
            outcome.steps.push(StepOutcome::count(total));
            (options.progress)(index + 1, plan.steps.len());
            continue;
        }
        let result = runner
            .step(&mut tx, step)
            .await
            .map_err(|e| step_error(index, e))?;
        outcome.steps.push(result);
        (options.progress)(index + 1, plan.steps.len());
    }
    if options.dry_run {
        tx.rollback()
            .await
            .map_err(|e| Error::query("ROLLBACK", e))?;
    } else {
        tx.commit().await.map_err(|e| Error::query("COMMIT", e))?;
        outcome.committed = true;
    }
    Ok(outcome)
}

pub(crate) struct Runner<'a, DB> {
    pub(crate) schema: &'a SchemaGraph,
    pub(crate) options: &'a Options<'a>,
    /// The rows of the current batch of a retention sweep, as [`Filter::Batch`] renders.
    pub(crate) batch: Option<Condition>,
    /// Identity filters already resolved into the matching rows' keys (large batches on
    /// PostgreSQL): such a filter renders as a semi-join on its seed table.
    pub(crate) seeds: Vec<Seed>,
    /// The tables in which the check before the plan found none of the person's rows: a step
    /// whose filter starts from them only is skipped (it selects nothing).
    pub(crate) absent: Vec<String>,
    pub(crate) marker: std::marker::PhantomData<DB>,
}

/// The keys of the rows an identity filter matched, kept in a temporary table for the
/// transaction.
pub(crate) struct Seed {
    table: String,
    filter: Filter,
    temp_table: String,
    key: Vec<String>,
}

/// From this many identity values on, a PostgreSQL request resolves its identity filters once
/// into temporary key tables. Every statement of a plan carries the identity filter; with
/// thousands of values PostgreSQL's cost model prefers scanning the whole table to probing its
/// index once per value, so a batch of 10,000 people scanned a 1M-row table in each of its
/// statements. A key table that has been analysed is joined through the index instead. One
/// person's request keeps the plain `IN` list: two more statements would cost more than they
/// save.
const SEED_TABLE_MIN_VALUES: usize = 100;

/// How many values the identity filters of the plan's steps hold, each table counted once.
fn identity_values(plan: &Plan) -> usize {
    let mut seen = HashSet::new();
    plan.steps
        .iter()
        .filter_map(|step| match &step.filter {
            Filter::Identity { columns } if seen.insert(step.table.as_str()) => Some(
                columns
                    .iter()
                    .map(|(_, values)| values.len())
                    .sum::<usize>(),
            ),
            _ => None,
        })
        .sum()
}

impl<DB: Dialect> Runner<'_, DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    SqlxValues: IntoArguments<DB>,
{
    fn column(&self, table: &str, column: &str) -> Option<&ColumnSchema> {
        self.schema.table(table).and_then(|t| t.column(column))
    }

    /// The SQL condition for a filter on `table`.
    pub(crate) fn condition(&self, table: &str, filter: &Filter) -> Condition {
        let condition = self.filter_condition(table, filter);
        match self.own_rows(table) {
            Some(own) => Condition::all().add(own).add(condition),
            None => condition,
        }
    }

    /// For a PostgreSQL table with inheritance children of their own: only the table's own
    /// rows (`tableoid`), since the children's rows show in its scans and have their own steps.
    pub(crate) fn own_rows(&self, table: &str) -> Option<Expr> {
        let t = self.schema.table(table)?;
        if t.children.is_empty() || !DB::TABLE_INHERITANCE {
            return None;
        }
        // The name as SQL text would write it, so `regclass` finds the table the statement
        // names (the same search path), whatever its case.
        let quoted = format!("\"{}\"", table.replace('"', "\"\""));
        Some(col(table, "tableoid").eq(Expr::val(quoted).cast_as(Alias::new("regclass"))))
    }

    fn filter_condition(&self, table: &str, filter: &Filter) -> Condition {
        if let Some(seed) = self.seed(table, filter) {
            let mut keys = Query::select();
            keys.from(Alias::new(seed.temp_table.as_str()));
            for c in &seed.key {
                keys.expr(col(&seed.temp_table, c));
            }
            return Condition::all().add(tuple(table, &seed.key).in_subquery(keys));
        }
        match filter {
            Filter::Identity { columns } => {
                columns
                    .iter()
                    .fold(Condition::any(), |any, (column, values)| {
                        let schema = self.column(table, column);
                        any.add(
                            col(table, column).is_in(values.iter().map(|v| DB::bind(schema, v))),
                        )
                    })
            }
            Filter::RefersTo {
                columns,
                parent,
                parent_columns,
                parent_filter,
            } => {
                let mut select = Query::select();
                select.from(Alias::new(parent.as_str()));
                for c in parent_columns {
                    select.expr(col(parent, c));
                }
                select.cond_where(self.condition(parent, parent_filter));
                if parent == table {
                    // A row mentioning another of its own table (a reply by someone else).
                    select = self.copy_of_own_table(select, parent_columns);
                }
                Condition::all().add(tuple(table, columns).in_subquery(select))
            }
            Filter::IsNull { column } => Condition::all().add(col(table, column).is_null()),
            Filter::Not { filter } => {
                // `NOT (condition)` is unknown, so false, where the condition is unknown (a
                // NULL key): compare keys with the rows the condition selects instead.
                let key = self
                    .schema
                    .table(table)
                    .map(|t| t.primary_key.clone())
                    .unwrap_or_default();
                if key.is_empty() {
                    return self.condition(table, filter).not();
                }
                let mut select = Query::select();
                select.from(Alias::new(table));
                for k in &key {
                    select.expr(col(table, k));
                }
                select.cond_where(self.condition(table, filter));
                let select = self.copy_of_own_table(select, &key);
                Condition::all().add(tuple(table, &key).not_in_subquery(select))
            }
            Filter::Any { filters } if filters.is_empty() => {
                Condition::all().add(Expr::cust("1 = 0"))
            }
            Filter::All { filters } if filters.is_empty() => {
                Condition::all().add(Expr::cust("1 = 1"))
            }
            Filter::Any { filters } => filters.iter().fold(Condition::any(), |c, f| {
                c.add(self.filter_condition(table, f))
            }),
            Filter::All { filters } => filters.iter().fold(Condition::all(), |c, f| {
                c.add(self.filter_condition(table, f))
            }),
            Filter::Before { column, cutoff } => {
                Condition::all().add(col(table, column).lt(DB::timestamp(cutoff)))
            }
            Filter::NotBefore { column, cutoff } => Condition::any()
                .add(col(table, column).is_null())
                .add(col(table, column).gte(DB::timestamp(cutoff))),
            Filter::Unmasked { assignments } => assignments
                .iter()
                .fold(Condition::any(), |c, a| c.add(self.unmasked(table, a))),
            // Outside a sweep's batch, no row.
            Filter::Batch => self
                .batch
                .clone()
                .unwrap_or_else(|| Condition::all().add(Expr::cust("1 = 0"))),
            Filter::Unreferenced {
                table: referencing,
                columns,
                ref_columns,
                except,
            } => {
                let alias = "pledge_ref";
                let mut select = Query::select();
                select.expr(Expr::cust("1"));
                if referencing == table && DB::SELF_REFERENCE_NEEDS_DERIVED_TABLE {
                    // MySQL refuses a DELETE that reads its own table; a derived table is a copy.
                    let mut copy = Query::select();
                    copy.from(Alias::new(referencing.as_str()));
                    for c in columns {
                        copy.expr(col(referencing, c));
                    }
                    select.from_subquery(copy, Alias::new(alias));
                } else {
                    select.from_as(Alias::new(referencing.as_str()), Alias::new(alias));
                }
                for (c, r) in columns.iter().zip(ref_columns) {
                    select.and_where(
                        col(alias, c).equals((Alias::new(table), Alias::new(r.as_str()))),
                    );
                }
                if let Some(except) = except {
                    // References from the person's own rows do not count: compare by the
                    // referencing table's primary key (or the referencing columns without one).
                    let key = self
                        .schema
                        .table(referencing)
                        .map(|t| t.primary_key.clone())
                        .filter(|k| !k.is_empty())
                        .unwrap_or_else(|| columns.clone());
                    let mut own = Query::select();
                    own.from(Alias::new(referencing.as_str()));
                    for k in &key {
                        own.expr(col(referencing, k));
                    }
                    own.cond_where(self.condition(referencing, except));
                    select.and_where(tuple(alias, &key).not_in_subquery(own));
                }
                Condition::all().add(Expr::not_exists(select))
            }
            Filter::Cycle {
                table: this,
                members,
                links,
            } => self.cycle(table, this, members, links, filter),
        }
    }

    /// `(key) IN (WITH RECURSIVE cycle AS (entry rows UNION rows referring to reached rows)
    /// SELECT key of this table)`. Every member has its own columns in the recursive table (its
    /// key and the columns the others refer to), filled in its rows and NULL in the others';
    /// a one-row-per-member tag table lets each row of the recursive step join one member.
    fn cycle(
        &self,
        table: &str,
        this: &str,
        members: &[CycleMember],
        links: &[CycleLink],
        filter: &Filter,
    ) -> Condition {
        let name = format!("pledge_cycle_{}", cycle_depth(filter));
        let tag = "pledge_member";
        let slots: Vec<Vec<String>> = members
            .iter()
            .map(|m| {
                let mut slots = m.key.clone();
                for l in links.iter().filter(|l| l.parent == m.table) {
                    for c in &l.parent_columns {
                        if !slots.contains(c) {
                            slots.push(c.clone());
                        }
                    }
                }
                slots
            })
            .collect();
        let slot = |i: usize, j: usize| Alias::new(format!("m{i}_{j}"));
        let tags = || {
            let mut first = Query::select();
            first.expr_as(Expr::cust("0"), Alias::new(tag));
            for i in 1..members.len() {
                let mut next = Query::select();
                next.expr_as(Expr::cust(i.to_string()), Alias::new(tag));
                first.union(UnionType::All, next);
            }
            first
        };
        let branch = |recursive: bool| {
            let mut select = Query::select();
            if recursive {
                select.from(Alias::new(name.as_str())).join_subquery(
                    JoinType::InnerJoin,
                    tags(),
                    Alias::new("pledge_tags"),
                    Expr::cust("1 = 1"),
                );
            } else {
                select.from_subquery(tags(), Alias::new("pledge_tags"));
            }
            let mut reached = Condition::any();
            for (i, m) in members.iter().enumerate() {
                let mut on = Condition::all()
                    .add(
                        Expr::col((Alias::new("pledge_tags"), Alias::new(tag)))
                            .eq(Expr::cust(i.to_string())),
                    )
                    .add(self.condition(&m.table, &m.only));
                if recursive {
                    let mut refers = Condition::any().add(Expr::cust("1 = 0"));
                    for l in links.iter().filter(|l| l.table == m.table) {
                        let Some(p) = members.iter().position(|o| o.table == l.parent) else {
                            continue;
                        };
                        let mut pairs = Condition::all();
                        for (c, pc) in l.columns.iter().zip(&l.parent_columns) {
                            let j = slots[p].iter().position(|s| s == pc).unwrap_or(0);
                            pairs = pairs.add(
                                col(&m.table, c).equals((Alias::new(name.as_str()), slot(p, j))),
                            );
                        }
                        // Only rows with no owner of their own belong through the link.
                        for c in &l.when_null {
                            pairs = pairs.add(col(&m.table, c).is_null());
                        }
                        refers = refers.add(pairs);
                    }
                    on = on.add(refers);
                } else {
                    on = on.add(self.condition(&m.table, &m.entry));
                }
                select.join(JoinType::LeftJoin, Alias::new(m.table.as_str()), on);
                let mut present = Condition::any();
                for (j, c) in slots[i].iter().enumerate() {
                    select.expr_as(col(&m.table, c), slot(i, j));
                    present = present.add(col(&m.table, c).is_not_null());
                }
                reached = reached.add(present);
            }
            select.cond_where(reached);
            select
        };
        let mut body = branch(false);
        body.union(UnionType::Distinct, branch(true));
        let i = members
            .iter()
            .position(|m| m.table == this)
            .unwrap_or_default();
        let key = &members[i].key;
        let mut pick = Query::select();
        pick.from(Alias::new(name.as_str()));
        for j in 0..key.len() {
            pick.expr(Expr::col(slot(i, j)));
        }
        pick.and_where(Expr::col(slot(i, 0)).is_not_null());
        let mut cte = CommonTableExpression::new();
        cte.table_name(Alias::new(name.as_str()))
            .columns(
                slots
                    .iter()
                    .enumerate()
                    .flat_map(|(i, s)| (0..s.len()).map(move |j| slot(i, j))),
            )
            .query(body);
        let mut with = WithClause::new();
        with.recursive(true).cte(cte);
        let query = with.query(pick);
        Condition::all().add(
            tuple(table, key).binary(BinOper::In, Expr::SubQuery(None, Box::new(query.into()))),
        )
    }

    /// A subquery over the very table a statement changes: MySQL refuses an UPDATE or DELETE
    /// that reads its own table, so there it reads a derived table, which is a copy.
    fn copy_of_own_table(&self, select: SelectStatement, columns: &[String]) -> SelectStatement {
        if !DB::SELF_REFERENCE_NEEDS_DERIVED_TABLE {
            return select;
        }
        let alias = "pledge_own";
        let mut outer = Query::select();
        outer.from_subquery(select, Alias::new(alias));
        for c in columns {
            outer.expr(col(alias, c));
        }
        outer
    }

    /// The row still holds a value the assignment would change.
    fn unmasked(&self, table: &str, a: &Assignment) -> Condition {
        let schema = self.column(table, &a.column);
        match &a.mask {
            Mask::Null => Condition::all().add(col(table, &a.column).is_not_null()),
            Mask::Fixed(v) => differs(table, &a.column, DB::bind(schema, v)),
            Mask::Hmac => Condition::all()
                .add(col(table, &a.column).is_not_null())
                .add(col(table, &a.column).not_like(format!("{PSEUDONYM_PREFIX}%"))),
            Mask::Year | Mask::Month => Condition::all()
                .add(col(table, &a.column).is_not_null())
                .add(col(table, &a.column).ne(DB::truncate(table, schema, a.mask == Mask::Month))),
        }
    }

    pub(crate) async fn fetch(
        &self,
        conn: &mut DB::Connection,
        select: &SelectStatement,
    ) -> Result<Vec<DB::Row>, Error> {
        let (sql, values) = select.build_sqlx(DB::builder());
        sqlx::query_with(AssertSqlSafe(sql.clone()), values)
            .fetch_all(conn)
            .await
            .map_err(|e| Error::query(&sql, e))
    }

    async fn run(
        &self,
        conn: &mut DB::Connection,
        sql: String,
        values: SqlxValues,
    ) -> Result<u64, Error> {
        sqlx::query_with(AssertSqlSafe(sql.clone()), values)
            .execute(conn)
            .await
            .map(|r| DB::rows_affected(&r))
            .map_err(|e| Error::query(&sql, e))
    }

    pub(crate) async fn count(
        &self,
        conn: &mut DB::Connection,
        table: &str,
        condition: Condition,
    ) -> Result<u64, Error> {
        let mut select = Query::select();
        select
            .expr(Expr::cust("COUNT(*)"))
            .from(Alias::new(table))
            .cond_where(condition);
        let rows = self.fetch(conn, &select).await?;
        let n = rows.first().map(|r| DB::decode(r, 0)).transpose()?;
        Ok(match n {
            Some(Value::Int(n)) => u64::try_from(n).unwrap_or(0),
            Some(Value::Text(t)) => t.parse().unwrap_or(0),
            _ => 0,
        })
    }

    /// The seed resolving `filter` on `table`, if it is a resolved identity filter.
    pub(crate) fn seed(&self, table: &str, filter: &Filter) -> Option<&Seed> {
        if !matches!(filter, Filter::Identity { .. }) {
            return None;
        }
        self.seeds
            .iter()
            .find(|seed| seed.table == table && seed.filter == *filter)
    }

    /// Resolves the identity filter of every table the plan starts from into the keys of the
    /// rows it matches, once, before any step changes them: a temporary table per starting
    /// table, dropped at the end of the transaction, and analysed so that the planner knows
    /// its size. Tables without a primary key keep their filter as it is.
    async fn resolve_seeds(
        &self,
        conn: &mut DB::Connection,
        plan: &Plan,
    ) -> Result<Vec<Seed>, Error> {
        let mut seeds: Vec<Seed> = Vec::new();
        for step in &plan.steps {
            let table = step.table.as_str();
            let Filter::Identity { .. } = step.filter else {
                continue;
            };
            let Some(key) = self
                .schema
                .table(table)
                .map(|t| t.primary_key.clone())
                .filter(|k| !k.is_empty())
            else {
                continue;
            };
            if seeds
                .iter()
                .any(|s| s.table == table && s.filter == step.filter)
            {
                continue;
            }
            let temp_table = format!("pledge_seed_{}", seeds.len());
            let mut select = Query::select();
            select.from(Alias::new(table));
            for c in &key {
                select.expr(col(table, c));
            }
            select.cond_where(self.condition(table, &step.filter));
            let (sql, values) = select.build_sqlx(DB::builder());
            let create = format!("CREATE TEMPORARY TABLE {temp_table} ON COMMIT DROP AS {sql}");
            self.run(conn, create, values).await?;
            let analyse = format!("ANALYZE {temp_table}");
            self.run(conn, analyse, SqlxValues(sea_query::Values(Vec::new())))
                .await?;
            seeds.push(Seed {
                table: table.to_owned(),
                filter: step.filter.clone(),
                temp_table,
                key,
            });
        }
        Ok(seeds)
    }

    pub(crate) async fn step(
        &self,
        conn: &mut DB::Connection,
        step: &Step,
    ) -> Result<StepOutcome, Error> {
        let table = step.table.as_str();
        if !self.absent.is_empty()
            && step
                .filter
                .selects_nothing(table, &|t| self.absent.iter().any(|a| a == t))
        {
            return Ok(self.nothing(table, &step.action));
        }
        let filter = self.condition(table, &step.filter);
        match &step.action {
            Action::Read { columns } => self.read(conn, table, columns, filter).await,
            Action::ReadMentions {
                columns,
                via,
                mentioned,
            } => {
                let mut outcome = self.read(conn, table, columns, filter).await?;
                if let Some(data) = &mut outcome.data {
                    data.mention = Some(MentionRows {
                        via: via.clone(),
                        mentioned: mentioned.clone(),
                    });
                }
                Ok(outcome)
            }
            // Run by `execute`, which holds the steps it repeats.
            Action::Repeat { .. } => Ok(StepOutcome::count(0)),
            Action::Keep => Ok(StepOutcome::count(self.count(conn, table, filter).await?)),
            Action::Delete { guards } => {
                let condition = guards.iter().fold(Condition::all().add(filter), |c, g| {
                    c.add(self.condition(table, g))
                });
                let mut delete = Query::delete();
                delete.from_table(Alias::new(table)).cond_where(condition);
                let (sql, values) = delete.build_sqlx(DB::builder());
                Ok(StepOutcome::count(self.run(conn, sql, values).await?))
            }
            Action::Mask { assignments } | Action::Sever { assignments } => {
                self.mask(conn, table, assignments, filter).await
            }
            Action::Set { column, value } => {
                let schema = self.column(table, column);
                let mut update = Query::update();
                update
                    .table(Alias::new(table))
                    .value(Alias::new(column.as_str()), DB::bind(schema, value))
                    .cond_where(and(filter, differs(table, column, DB::bind(schema, value))));
                let (sql, values) = update.build_sqlx(DB::builder());
                Ok(StepOutcome::count(self.run(conn, sql, values).await?))
            }
            Action::SetCopies {
                column,
                value,
                source_table,
                source_column,
                source_filter,
            } => {
                let old = self
                    .distinct(
                        conn,
                        source_table,
                        source_column,
                        self.condition(source_table, source_filter),
                    )
                    .await?;
                if old.is_empty() {
                    return Ok(StepOutcome::count(0));
                }
                let schema = self.column(table, column);
                // Only cells that hold the old value are copies. Count them first: PostgreSQL
                // checks an assignment against the column's type when it plans the UPDATE,
                // even if no row matches, and a column of the same category may be narrower.
                let copies = Condition::all()
                    .add(filter.clone())
                    .add(col(table, column).is_in(old.iter().map(|v| DB::bind(schema, v))));
                if self.count(conn, table, copies).await? == 0 {
                    return Ok(StepOutcome::count(0));
                }
                let mut update = Query::update();
                update
                    .table(Alias::new(table))
                    .value(Alias::new(column.as_str()), DB::bind(schema, value))
                    .cond_where(
                        Condition::all()
                            .add(filter)
                            .add(col(table, column).is_in(old.iter().map(|v| DB::bind(schema, v))))
                            .add(differs(table, column, DB::bind(schema, value))),
                    );
                let (sql, values) = update.build_sqlx(DB::builder());
                Ok(StepOutcome::count(self.run(conn, sql, values).await?))
            }
            Action::Restrict { column } => {
                self.restrict(conn, table, column.as_deref(), filter).await
            }
        }
    }

    /// What a step whose filter selects nothing would have returned: no row changed or
    /// counted, and for a read the table's columns with no row.
    fn nothing(&self, table: &str, action: &Action) -> StepOutcome {
        let columns = match action {
            Action::Read { columns } | Action::ReadMentions { columns, .. } => columns,
            _ => return StepOutcome::count(0),
        };
        let names = self.schema.table(table).map_or_else(Vec::new, |schema| {
            columns
                .iter()
                .filter(|c| schema.column(c).is_some())
                .cloned()
                .collect()
        });
        let mention = match action {
            Action::ReadMentions { via, mentioned, .. } => Some(MentionRows {
                via: via.clone(),
                mentioned: mentioned.clone(),
            }),
            _ => None,
        };
        StepOutcome {
            rows: 0,
            data: Some(TableRows {
                table: table.to_string(),
                columns: names,
                rows: Vec::new(),
                mention,
            }),
            keys: Vec::new(),
        }
    }

    async fn read(
        &self,
        conn: &mut DB::Connection,
        table: &str,
        columns: &[String],
        filter: Condition,
    ) -> Result<StepOutcome, Error> {
        let schema = self
            .schema
            .table(table)
            .ok_or_else(|| Error::Decode(format!("no table `{table}`")))?;
        let mut select = Query::select();
        select.from(Alias::new(table)).cond_where(filter);
        let mut names = Vec::new();
        for name in columns {
            if let Some(c) = schema.column(name) {
                select.expr(DB::read(table, c));
                names.push(name.clone());
            }
        }
        for pk in &schema.primary_key {
            select.order_by(
                (Alias::new(table), Alias::new(pk.as_str())),
                sea_query::Order::Asc,
            );
        }
        let rows = self.fetch(conn, &select).await?;
        let mut data = Vec::with_capacity(rows.len());
        for row in &rows {
            data.push(
                (0..names.len())
                    .map(|i| DB::decode(row, i))
                    .collect::<Result<Vec<_>, _>>()?,
            );
        }
        Ok(StepOutcome {
            rows: data.len() as u64,
            data: Some(TableRows {
                table: table.to_string(),
                columns: names,
                rows: data,
                mention: None,
            }),
            keys: Vec::new(),
        })
    }

    async fn distinct(
        &self,
        conn: &mut DB::Connection,
        table: &str,
        column: &str,
        filter: Condition,
    ) -> Result<Vec<Value>, Error> {
        let schema = self.column(table, column);
        let mut select = Query::select();
        select
            .distinct()
            .from(Alias::new(table))
            .cond_where(and(filter, col(table, column).is_not_null()));
        match schema {
            Some(c) => select.expr(DB::read(table, c)),
            None => select.expr(col(table, column)),
        };
        let rows = self.fetch(conn, &select).await?;
        rows.iter().map(|r| DB::decode(r, 0)).collect()
    }

    async fn mask(
        &self,
        conn: &mut DB::Connection,
        table: &str,
        assignments: &[Assignment],
        filter: Condition,
    ) -> Result<StepOutcome, Error> {
        let mut update = Query::update();
        update.table(Alias::new(table));
        let mut needs_change = Condition::any();
        let mut any = false;
        // PostgreSQL: the pseudonym maps, (column of `MAP_ALIAS`, JSON object).
        let mut maps: Vec<(String, String)> = Vec::new();
        for a in assignments {
            let schema = self.column(table, &a.column);
            match &a.mask {
                Mask::Null => {
                    update.value(Alias::new(a.column.as_str()), Expr::cust("NULL"));
                    needs_change = needs_change.add(col(table, &a.column).is_not_null());
                }
                Mask::Fixed(v) => {
                    update.value(Alias::new(a.column.as_str()), DB::bind(schema, v));
                    needs_change = needs_change.add(differs(table, &a.column, DB::bind(schema, v)));
                }
                Mask::Hmac => {
                    let fresh = Condition::all()
                        .add(col(table, &a.column).is_not_null())
                        .add(col(table, &a.column).not_like(format!("{PSEUDONYM_PREFIX}%")));
                    let originals = self
                        .distinct(conn, table, &a.column, and(filter.clone(), fresh.clone()))
                        .await?;
                    if originals.is_empty() {
                        continue;
                    }
                    let max = schema.and_then(|c| c.max_length);
                    if DB::JSON_LOOKUP
                        && schema.is_some_and(|c| c.kind == ValueKind::Text)
                        && originals.iter().all(|v| matches!(v, Value::Text(_)))
                    {
                        // A lookup in a JSON object (binary search) instead of a CASE with a
                        // branch per original value, which costs rows × originals comparisons.
                        // The keys are the text the originals were read as, so the same rows
                        // match; a value not in the map stays as it is, as in the CASE.
                        let mut map = String::from("{");
                        for (i, original) in originals.iter().enumerate() {
                            if i > 0 {
                                map.push(',');
                            }
                            json_string(&mut map, &original.to_string());
                            map.push(':');
                            let pseudonym = pseudonym(self.options.hmac_key, original, max);
                            json_string(&mut map, &pseudonym);
                        }
                        map.push('}');
                        let name = format!("m{}", maps.len());
                        maps.push((name.clone(), map));
                        update.value(
                            Alias::new(a.column.as_str()),
                            Expr::cust_with_exprs(
                                "COALESCE($1 ->> CAST($2 AS TEXT), $2)",
                                [col(MAP_ALIAS, &name), col(table, &a.column)],
                            ),
                        );
                        needs_change = needs_change.add(fresh);
                        any = true;
                        continue;
                    }
                    let mut case = sea_query::CaseStatement::new();
                    for original in &originals {
                        let pseudonym =
                            Value::Text(pseudonym(self.options.hmac_key, original, max));
                        case = case.case(
                            col(table, &a.column).eq(DB::bind(schema, original)),
                            DB::bind(schema, &pseudonym),
                        );
                    }
                    update.value(
                        Alias::new(a.column.as_str()),
                        case.finally(col(table, &a.column)),
                    );
                    needs_change = needs_change.add(fresh);
                }
                Mask::Year | Mask::Month => {
                    update.value(
                        Alias::new(a.column.as_str()),
                        DB::truncate(table, schema, a.mask == Mask::Month),
                    );
                    needs_change = needs_change.add(self.unmasked(table, a));
                }
            }
            any = true;
        }
        if !any {
            return Ok(StepOutcome::count(0));
        }
        if !maps.is_empty() {
            // One row, so every row of the table still matches: `UPDATE ... FROM` a
            // single-row subquery that parses each map once.
            let mut select = Query::select();
            for (name, map) in maps {
                select.expr_as(
                    Expr::cust_with_values("CAST($1 AS JSONB)", [map]),
                    Alias::new(name),
                );
            }
            update.from(TableRef::SubQuery(
                Box::new(select),
                Alias::new(MAP_ALIAS).into_iden(),
            ));
        }
        update.cond_where(and(filter, needs_change));
        let (sql, values) = update.build_sqlx(DB::builder());
        Ok(StepOutcome::count(self.run(conn, sql, values).await?))
    }

    async fn restrict(
        &self,
        conn: &mut DB::Connection,
        table: &str,
        column: Option<&str>,
        filter: Condition,
    ) -> Result<StepOutcome, Error> {
        let schema = self
            .schema
            .table(table)
            .ok_or_else(|| Error::Decode(format!("no table `{table}`")))?;
        let mut rows = 0;
        if let Some(column) = column {
            let flag = match self.column(table, column).map(|c| c.kind) {
                Some(ValueKind::Bool) => Value::Bool(true),
                _ => Value::Int(1),
            };
            let mut update = Query::update();
            update
                .table(Alias::new(table))
                .value(Alias::new(column), Expr::val(to_sea(&flag)))
                .cond_where(and(
                    filter.clone(),
                    differs(table, column, Expr::val(to_sea(&flag))),
                ));
            let (sql, values) = update.build_sqlx(DB::builder());
            rows = self.run(conn, sql, values).await?;
        }
        let keys = self.read(conn, table, &schema.primary_key, filter).await?;
        let keys = keys.data.map(|d| d.rows).unwrap_or_default();
        Ok(StepOutcome {
            rows: if column.is_some() {
                rows
            } else {
                keys.len() as u64
            },
            data: None,
            keys,
        })
    }
}

/// The alias of the single-row subquery holding the pseudonym maps (PostgreSQL).
const MAP_ALIAS: &str = "pledge_map";

/// `s` as a JSON string.
fn json_string(out: &mut String, s: &str) {
    use std::fmt::Write as _;
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Both conditions. (`Condition::add` joins with the condition's own operator, which is OR
/// for an `any`; conjunctions always go through here.)
fn and(a: Condition, b: impl sea_query::IntoCondition) -> Condition {
    Condition::all().add(a).add(b)
}

/// How many cycles nest in a filter, itself included: the name of each recursive table.
fn cycle_depth(filter: &Filter) -> usize {
    match filter {
        Filter::Cycle { members, .. } => {
            1 + members
                .iter()
                .map(|m| cycle_depth(&m.entry))
                .max()
                .unwrap_or(0)
        }
        Filter::RefersTo { parent_filter, .. }
        | Filter::Unreferenced {
            except: Some(parent_filter),
            ..
        } => cycle_depth(parent_filter),
        Filter::Any { filters } | Filter::All { filters } => {
            filters.iter().map(cycle_depth).max().unwrap_or(0)
        }
        Filter::Not { filter } => cycle_depth(filter),
        _ => 0,
    }
}

/// `(columns)` of `table`, as one column or a row value.
fn tuple(table: &str, columns: &[String]) -> Expr {
    match columns {
        [one] => col(table, one),
        many => Expr::tuple(many.iter().map(|c| col(table, c))),
    }
}

/// `column IS NULL OR column <> value`: the write would change the row.
fn differs(table: &str, column: &str, value: Expr) -> Condition {
    Condition::any()
        .add(col(table, column).is_null())
        .add(col(table, column).ne(value))
}

/// A keyed pseudonym of a value: `h:` and the hex HMAC-SHA-256, cut to the column's length
/// (at least 16 hex digits are kept where the column allows).
pub fn pseudonym(key: &[u8], value: &Value, max_length: Option<u32>) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(value.to_string().as_bytes());
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    let room = max_length.map_or(hex.len(), |m| {
        (m as usize).saturating_sub(PSEUDONYM_PREFIX.len())
    });
    format!("{PSEUDONYM_PREFIX}{}", &hex[..room.min(hex.len())])
}

impl StepOutcome {
    fn count(rows: u64) -> Self {
        StepOutcome {
            rows,
            data: None,
            keys: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_are_escaped() {
        let mut out = String::new();
        json_string(&mut out, "a\"b\\c\nd\u{1}é");
        assert_eq!(out, r#""a\"b\\c\u000ad\u0001é""#);
    }

    #[test]
    fn pseudonyms_are_stable_keyed_and_fit_the_column() {
        let a = pseudonym(b"key", &Value::Text("ana@example.com".into()), None);
        assert_eq!(
            a,
            pseudonym(b"key", &Value::Text("ana@example.com".into()), None)
        );
        assert_ne!(
            a,
            pseudonym(b"other", &Value::Text("ana@example.com".into()), None)
        );
        assert_eq!(a.len(), 2 + 64);
        assert_eq!(
            pseudonym(b"key", &Value::Text("x".into()), Some(24)).len(),
            24
        );
    }
}
