//! Requests on Pagila, a real PostgreSQL database with a partitioned table: `payment` is
//! partitioned by month and its foreign keys are declared on each partition. Each test loads
//! Pagila into a fresh database of the test PostgreSQL server.

use pledge_connect::{Database, Options, Outcome, Who};
use pledge_lang::rights::RequestKind;
use pledge_lang::time::CivilTime;
use pledge_lang::{Declaration, SourceMap, load};
use pledge_plan::{self as plan, Plan, PlanError, SchemaGraph, Value};
use std::collections::BTreeMap;

const DECLARATION: &str = include_str!("../../../examples/pagila/pledge.toml");
const SCHEMA_SQL: &str = include_str!("fixtures/pagila/pagila-schema.sql");
const DATA_SQL: &str = include_str!("fixtures/pagila/pagila-data.sql");
const KEY: &[u8] = b"test-key-for-pseudonyms";

/// 2026-11-22: every Pagila payment (2022) is inside the six-year bookkeeping hold.
const TODAY: i64 = 1_795_392_000;
/// 2035-01-01: the hold has ended for every payment.
const MUCH_LATER: i64 = 2_051_222_400;

const MARY: (&str, &str) = ("email", "MARY.SMITH@sakilacustomer.org");

struct Pagila {
    db: Database,
    decl: Declaration,
    schema: SchemaGraph,
}

async fn pagila() -> Option<Pagila> {
    let server =
        pledge_testkit::require!(pledge_testkit::POSTGRES_URL, pledge_testkit::postgres_url())?;
    let url = pledge_testkit::postgres_database(&server, "pledge_pagila").await;
    pledge_testkit::load_postgres_dump(&url, &[SCHEMA_SQL, DATA_SQL]).await;
    let mut db = Database::connect(None, &url)
        .await
        .expect("connect to the Pagila database");
    let schema = db.introspect(None).await.expect("introspect");
    let decl = declaration(DECLARATION);
    Some(Pagila { db, decl, schema })
}

fn declaration(text: &str) -> Declaration {
    load(&SourceMap::single("examples/pagila/pledge.toml", text)).expect("the declaration loads")
}

impl Pagila {
    fn plan(&self, kind: RequestKind, identity: (&str, &str), now: i64) -> Plan {
        plan_with(&self.decl, &self.schema, kind, identity, now).expect("plans")
    }

    async fn run(
        &mut self,
        kind: RequestKind,
        identity: (&str, &str),
        now: i64,
        dry_run: bool,
    ) -> (Plan, Outcome) {
        let plan = self.plan(kind, identity, now);
        let person = one_person(&self.decl, &self.schema, identity);
        let options = Options {
            dry_run,
            hmac_key: KEY,
            who: Who::Person(&person),
            progress: &|_, _| {},
        };
        let outcome = self
            .db
            .execute(&self.schema, &plan, &options)
            .await
            .expect("runs");
        (plan, outcome)
    }

    async fn scalar(&mut self, sql: &str) -> i64 {
        match &self.db.query(sql).await.expect("query")[0][0] {
            Value::Int(n) => *n,
            other => other.to_string().parse().expect("a number"),
        }
    }

    /// Rows per customer in a table, to see that no one else's rows changed.
    async fn per_customer(&mut self, table: &str) -> BTreeMap<i64, i64> {
        let rows = self
            .db
            .query(&format!(
                "SELECT customer_id, count(*) FROM {table} GROUP BY customer_id"
            ))
            .await
            .expect("query");
        rows.into_iter()
            .map(|r| match (&r[0], &r[1]) {
                (Value::Int(c), Value::Int(n)) => (*c, *n),
                other => panic!("unexpected row {other:?}"),
            })
            .collect()
    }
}

/// The one person an identity names.
fn one_person(decl: &Declaration, schema: &SchemaGraph, identity: (&str, &str)) -> plan::Person {
    let identities = pledge_plan::people::Identities::new([(
        identity.0.parse().unwrap(),
        identity.1.to_string(),
    )])
    .unwrap();
    plan::person(&decl.doc().datasets[0], schema, &identities, None).unwrap()
}

fn plan_with(
    decl: &Declaration,
    schema: &SchemaGraph,
    kind: RequestKind,
    identity: (&str, &str),
    now: i64,
) -> Result<Plan, PlanError> {
    let request = plan::Request {
        kind,
        identities: vec![(identity.0.parse().unwrap(), vec![identity.1.to_string()])],
        changes: vec![],
        now: CivilTime::from_unix(now),
    };
    plan::plan(decl, &decl.doc().datasets[0], schema, &request)
}

/// Rows of a table read by an access.
fn read<'a>(outcome: &'a Outcome, plan: &Plan, table: &str) -> &'a [Vec<Value>] {
    let i = plan
        .steps
        .iter()
        .position(|s| s.table == table)
        .unwrap_or_else(|| panic!("no step on `{table}`"));
    &outcome.steps[i].data.as_ref().expect("a read").rows
}

/// What a step did, summed over the plan's steps on `table` with `action`.
fn done(outcome: &Outcome, plan: &Plan, table: &str, action: &str) -> u64 {
    plan.steps
        .iter()
        .zip(&outcome.steps)
        .filter(|(s, _)| s.table == table && s.action.name() == action)
        .map(|(_, o)| o.rows)
        .sum()
}

#[tokio::test]
async fn the_partitioned_payment_table_is_one_table_with_the_partitions_keys() {
    let Some(p) = pagila().await else { return };
    let names: Vec<&str> = p.schema.tables.iter().map(|t| t.name.as_str()).collect();
    assert!(
        !names.iter().any(|n| n.starts_with("payment_p")),
        "no partition is a table: {names:?}"
    );
    let payment = p.schema.table("payment").expect("payment is a table");
    assert_eq!(
        payment.partitions,
        (1..=7)
            .map(|m| format!("payment_p2022_{m:02}"))
            .collect::<Vec<_>>()
    );
    assert_eq!(payment.primary_key, ["payment_date", "payment_id"]);
    let mut targets: Vec<&str> = payment
        .foreign_keys
        .iter()
        .map(|fk| fk.ref_table.as_str())
        .collect();
    targets.sort();
    assert_eq!(
        targets,
        ["customer", "rental", "staff"],
        "each partition's key once"
    );
    insta::assert_json_snapshot!("pagila_schema", p.schema);
}

#[tokio::test]
async fn an_access_reads_every_payment_of_the_customer_across_partitions() {
    let Some(mut p) = pagila().await else {
        return;
    };
    let (plan, outcome) = p.run(RequestKind::Access, MARY, TODAY, false).await;
    // The person's payments: hers by customer_id, and any payment for one of her rentals.
    let expected = p
        .scalar(
            "SELECT count(*) FROM payment WHERE customer_id = 1
               OR rental_id IN (SELECT rental_id FROM rental WHERE customer_id = 1)",
        )
        .await;
    let by_customer = p
        .scalar("SELECT count(*) FROM payment WHERE customer_id = 1")
        .await;
    assert_eq!(by_customer, 32);
    let months = p
        .scalar("SELECT count(DISTINCT tableoid) FROM payment WHERE customer_id = 1")
        .await;
    assert!(months > 1, "her payments lie in {months} partitions");
    assert_eq!(read(&outcome, &plan, "payment").len() as i64, expected);
    let rentals = p
        .scalar("SELECT count(*) FROM rental WHERE customer_id = 1")
        .await;
    assert_eq!(read(&outcome, &plan, "rental").len() as i64, rentals);
    assert_eq!(read(&outcome, &plan, "customer").len(), 1);
    assert_eq!(read(&outcome, &plan, "address").len(), 1);
}

#[tokio::test]
async fn an_erasure_under_the_hold_keeps_the_payments_and_masks_the_customer() {
    let Some(mut p) = pagila().await else {
        return;
    };
    let payments = p.per_customer("payment").await;
    let rentals = p.per_customer("rental").await;
    let (plan, dry) = p.run(RequestKind::Erasure, MARY, TODAY, true).await;
    assert!(!dry.committed);
    assert_eq!(
        p.per_customer("payment").await,
        payments,
        "a dry run changes nothing"
    );
    let (_, outcome) = p.run(RequestKind::Erasure, MARY, TODAY, false).await;
    assert!(outcome.committed);
    assert_eq!(
        dry.steps.iter().map(|s| s.rows).collect::<Vec<_>>(),
        outcome.steps.iter().map(|s| s.rows).collect::<Vec<_>>(),
        "the dry run counted what the erasure did"
    );
    assert_eq!(
        done(&outcome, &plan, "payment", "delete"),
        0,
        "payments are held"
    );
    assert_eq!(p.per_customer("payment").await, payments);
    assert_eq!(p.per_customer("rental").await, rentals);
    let mary =
        p.db.query("SELECT first_name, last_name, email FROM customer WHERE customer_id = 1")
            .await
            .unwrap();
    assert_eq!(
        mary[0],
        vec![
            Value::Text("erased".into()),
            Value::Text("erased".into()),
            Value::Null
        ]
    );
    let others = p
        .scalar("SELECT count(*) FROM customer WHERE first_name = 'erased'")
        .await;
    assert_eq!(others, 1, "only Mary is masked");
}

#[tokio::test]
async fn an_erasure_after_the_hold_deletes_exactly_the_customers_payments_and_rentals() {
    let Some(mut p) = pagila().await else {
        return;
    };
    let mut payments = p.per_customer("payment").await;
    let mut rentals = p.per_customer("rental").await;
    let (plan, outcome) = p.run(RequestKind::Erasure, MARY, MUCH_LATER, false).await;
    assert_eq!(done(&outcome, &plan, "payment", "delete"), 32);
    assert_eq!(done(&outcome, &plan, "rental", "delete"), 32);
    payments.remove(&1);
    rentals.remove(&1);
    assert_eq!(
        p.per_customer("payment").await,
        payments,
        "others' payments stay"
    );
    assert_eq!(
        p.per_customer("rental").await,
        rentals,
        "others' rentals stay"
    );
    assert_eq!(
        p.scalar("SELECT count(*) FROM payment").await,
        16_049 - 32,
        "every partition lost only Mary's rows"
    );
    assert_eq!(
        p.scalar("SELECT count(*) FROM customer WHERE customer_id = 1")
            .await,
        0,
        "nothing refers to Mary any more: her row is deleted"
    );
    assert_eq!(p.scalar("SELECT count(*) FROM customer").await, 598);
}

#[tokio::test]
async fn a_declared_partition_is_refused_with_the_table_to_declare() {
    let Some(p) = pagila().await else { return };
    let text = DECLARATION.replace("name = \"payment\"", "name = \"payment_p2022_01\"");
    let err = plan_with(
        &declaration(&text),
        &p.schema,
        RequestKind::Access,
        MARY,
        TODAY,
    )
    .expect_err("a partition is not a table of its own");
    assert_eq!(
        err,
        PlanError::PartOfTable {
            dataset: "pagila".into(),
            table: "payment_p2022_01".into(),
            parent: "payment".into(),
        }
    );
    assert!(
        err.to_string().contains("declare `payment` instead"),
        "{err}"
    );
}
