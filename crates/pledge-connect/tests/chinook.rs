//! Every request kind on the Chinook database, on SQLite, PostgreSQL and MariaDB, checked row
//! by row. PostgreSQL and MariaDB are the real servers `scripts/test.sh` starts; each test
//! loads Chinook into a fresh database of its own.

use pledge_connect::{Database, Error, Options, Outcome, Who};
use pledge_lang::model::Engine;
use pledge_lang::rights::RequestKind;
use pledge_lang::time::CivilTime;
use pledge_lang::{Declaration, SourceMap, load};
use pledge_plan::people::Identities;
use pledge_plan::{self as plan, Change, Plan, PlanError, SchemaGraph, Value};
use std::sync::atomic::{AtomicU32, Ordering};

const DECLARATION: &str = include_str!("../../../examples/chinook/pledge.toml");
const KEY: &[u8] = b"test-key-for-pseudonyms";

/// 2026-11-22: every Chinook invoice (2021-2025) is inside the six-year bookkeeping hold.
const TODAY: i64 = 1_795_392_000;
/// 2029-06-01: invoices of 2021 and 2022 are out of the hold.
const LATER: i64 = 1_875_657_600;
/// 2035-01-01: every hold has ended.
const MUCH_LATER: i64 = 2_051_222_400;

struct Fixture {
    db: Database,
    decl: Declaration,
    schema: SchemaGraph,
    url: String,
    engine: Engine,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn unique_name() -> String {
    format!(
        "pledge_chinook_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Split a script into statements: comments removed, then split at a `;` that ends a line
/// outside string literals.
fn statements(script: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut chars = script.chars().peekable();
    let mut in_string = false;
    while let Some(c) = chars.next() {
        if in_string {
            current.push(c);
            if c == '\'' {
                in_string = false;
            }
            continue;
        }
        match c {
            '\'' => {
                in_string = true;
                current.push(c);
            }
            '/' if chars.peek() == Some(&'*') => {
                let mut last = ' ';
                for d in chars.by_ref() {
                    if last == '*' && d == '/' {
                        break;
                    }
                    last = d;
                }
            }
            '-' if chars.peek() == Some(&'-') => {
                for d in chars.by_ref() {
                    if d == '\n' {
                        break;
                    }
                }
                current.push('\n');
            }
            ';' if matches!(chars.peek(), None | Some('\n') | Some('\r')) => {
                let statement = current.trim().to_string();
                if !statement.is_empty() {
                    out.push(statement);
                }
                current.clear();
            }
            _ => current.push(c),
        }
    }
    out
}

/// Replace the database name at the end of a server URL.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let cut = base.rfind('/').expect("a server URL has a path");
    let mut out = format!("{}/{name}", &base[..cut]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

async fn fixture(engine: Engine) -> Option<Fixture> {
    let (url, script) = match engine {
        Engine::Sqlite => {
            let path = std::env::temp_dir().join(format!("{}.db", unique_name()));
            let _ = std::fs::remove_file(&path);
            (
                format!("sqlite:{}?mode=rwc", path.display()),
                include_str!("fixtures/chinook/chinook_sqlite.sql"),
            )
        }
        Engine::Postgres => {
            let server = pledge_testkit::require!(
                pledge_testkit::POSTGRES_URL,
                pledge_testkit::postgres_url()
            )?;
            let name = unique_name();
            let mut admin = Database::connect(None, &server)
                .await
                .expect("connect to the test PostgreSQL");
            admin
                .batch(&format!("CREATE DATABASE {name}"))
                .await
                .expect("create a database");
            admin.close().await;
            (
                with_database(&server, &name),
                include_str!("fixtures/chinook/chinook_postgres.sql"),
            )
        }
        Engine::Mysql => {
            let server =
                pledge_testkit::require!(pledge_testkit::MYSQL_URL, pledge_testkit::mysql_url())?;
            let name = unique_name();
            let mut admin = Database::connect(None, &server)
                .await
                .expect("connect to the test MariaDB");
            admin
                .batch(&format!("CREATE DATABASE {name} CHARACTER SET utf8mb4"))
                .await
                .expect("create a database");
            admin.close().await;
            (
                with_database(&server, &name),
                include_str!("fixtures/chinook/chinook_mysql.sql"),
            )
        }
    };
    let mut db = Database::connect(None, &url)
        .await
        .expect("connect to the fresh database");
    // One transaction: loading row by row with a commit each is slow on SQLite.
    db.batch("BEGIN").await.expect("begin");
    for statement in statements(script) {
        db.batch(&statement).await.expect("load Chinook");
    }
    db.batch("COMMIT").await.expect("commit");
    let schema = db.introspect(None).await.expect("introspect");
    let decl = load(&SourceMap::single(
        "examples/chinook/pledge.toml",
        DECLARATION,
    ))
    .expect("the example loads");
    Some(Fixture {
        db,
        decl,
        schema,
        url,
        engine,
    })
}

impl Fixture {
    fn plan(
        &self,
        kind: RequestKind,
        identity: (&str, &str),
        changes: Vec<Change>,
        now: i64,
    ) -> Result<Plan, PlanError> {
        let request = plan::Request {
            kind,
            identities: vec![(identity.0.parse().unwrap(), vec![identity.1.to_string()])],
            changes,
            now: CivilTime::from_unix(now),
        };
        plan::plan(
            &self.decl,
            &self.decl.doc().datasets[0],
            &self.schema,
            &request,
        )
    }

    /// The one person an identity names.
    fn person(&self, identity: (&str, &str)) -> plan::Person {
        let identities = Identities::new([(identity.0.parse().unwrap(), identity.1.to_string())])
            .expect("an identity");
        plan::person(
            &self.decl.doc().datasets[0],
            &self.schema,
            &identities,
            None,
        )
        .expect("a person")
    }

    async fn run(
        &mut self,
        kind: RequestKind,
        identity: (&str, &str),
        now: i64,
    ) -> Result<Outcome, Error> {
        self.run_with(kind, identity, vec![], now, false).await
    }

    async fn run_with(
        &mut self,
        kind: RequestKind,
        identity: (&str, &str),
        changes: Vec<Change>,
        now: i64,
        dry_run: bool,
    ) -> Result<Outcome, Error> {
        let plan = self.plan(kind, identity, changes, now).expect("plans");
        let person = self.person(identity);
        let options = Options {
            dry_run,
            hmac_key: KEY,
            who: Who::Person(&person),
            progress: &|_, _| {},
        };
        self.db.execute(&self.schema, &plan, &options).await
    }

    /// Rows of a query, each as text, for comparing states.
    async fn rows(&mut self, sql: &str) -> Vec<Vec<Value>> {
        self.db.query(sql).await.expect("query")
    }

    async fn scalar(&mut self, sql: &str) -> i64 {
        match self.rows(sql).await[0][0] {
            Value::Int(n) => n,
            ref other => other.to_string().parse().expect("a number"),
        }
    }

    /// Everything in the tables a request may touch, for "nothing changed" checks.
    async fn snapshot(&mut self) -> Vec<Vec<Vec<Value>>> {
        let mut all = Vec::new();
        for sql in [
            "SELECT customer_id, first_name, last_name, company, address, city, email, support_rep_id FROM customer ORDER BY customer_id",
            "SELECT employee_id, first_name, last_name, email, reports_to FROM employee ORDER BY employee_id",
            "SELECT invoice_id, customer_id, billing_address, billing_city, billing_postal_code FROM invoice ORDER BY invoice_id",
            "SELECT invoice_line_id, invoice_id FROM invoice_line ORDER BY invoice_line_id",
        ] {
            all.push(self.rows(sql).await);
        }
        all
    }
}

macro_rules! on_every_engine {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test] async fn $name() { if let Some(f) = super::fixture(super::Engine::Sqlite).await { super::$name(f).await } })*
        }
        mod postgres {
            $(#[tokio::test] async fn $name() { if let Some(f) = super::fixture(super::Engine::Postgres).await { super::$name(f).await } })*
        }
        mod mariadb {
            $(#[tokio::test] async fn $name() { if let Some(f) = super::fixture(super::Engine::Mysql).await { super::$name(f).await } })*
        }
    };
}

on_every_engine![
    access_reaches_the_customer_invoices_and_lines,
    erasure_keeps_held_invoices_pseudonymised_and_masks_the_customer,
    erasure_deletes_what_the_hold_no_longer_covers,
    erasure_deletes_everything_once_every_hold_has_ended,
    erasing_a_manager_masks_instead_of_breaking_references,
    erasing_an_employee_nobody_refers_to_deletes_the_row,
    rectification_reaches_the_invoice_copies,
    restriction_without_a_column_is_refused,
    a_dry_run_changes_nothing,
    an_ambiguous_identity_changes_nothing,
    an_unknown_person_is_an_error,
    a_batch_of_people_is_exported_and_erased_whole,
];

const LUIS: (&str, &str) = ("email", "luisg@embraer.com.br");

async fn access_reaches_the_customer_invoices_and_lines(mut f: Fixture) {
    let outcome = f.run(RequestKind::Access, LUIS, TODAY).await.unwrap();
    let counts: Vec<(String, u64)> = outcome
        .steps
        .iter()
        .filter_map(|s| s.data.as_ref().map(|d| (d.table.clone(), s.rows)))
        .collect();
    // The address is also searched among employees: nobody there, so no one mentions Luís as
    // an employee either (the last two reads).
    assert_eq!(
        counts,
        [
            ("customer".into(), 1),
            ("employee".into(), 0),
            ("invoice".into(), 7),
            ("invoice_line".into(), 38),
            ("customer".into(), 0),
            ("employee".into(), 0)
        ],
        "{:?}",
        f.engine
    );
    let customer = outcome.steps[0].data.as_ref().unwrap();
    let email = customer.columns.iter().position(|c| c == "email").unwrap();
    assert_eq!(
        customer.rows[0][email],
        Value::Text("luisg@embraer.com.br".into())
    );
    let first = customer
        .columns
        .iter()
        .position(|c| c == "first_name")
        .unwrap();
    assert_eq!(customer.rows[0][first], Value::Text("Luís".into()));
    assert!(outcome.committed);
}

async fn erasure_keeps_held_invoices_pseudonymised_and_masks_the_customer(mut f: Fixture) {
    let others_before = f
        .rows("SELECT customer_id, first_name, email FROM customer WHERE customer_id <> 1 ORDER BY customer_id")
        .await;
    let lines_before = f.scalar("SELECT COUNT(*) FROM invoice_line").await;
    f.run(RequestKind::Erasure, LUIS, TODAY).await.unwrap();

    let customer = f.rows("SELECT first_name, last_name, email, address, phone, company FROM customer WHERE customer_id = 1").await;
    let text = |v: &str| Value::Text(v.into());
    assert_eq!(
        customer[0],
        vec![
            text("erased"),
            text("erased"),
            text("erased"),
            Value::Null,
            Value::Null,
            Value::Null
        ]
    );
    let invoices = f
        .rows("SELECT billing_address, billing_city, billing_postal_code, billing_country FROM invoice WHERE customer_id = 1 ORDER BY invoice_id")
        .await;
    assert_eq!(invoices.len(), 7, "held invoices stay");
    for row in &invoices {
        let address = row[0].to_string();
        assert!(address.starts_with("h:"), "pseudonymised: {address}");
        assert_eq!(row[1], Value::Null);
        assert_eq!(row[2], Value::Null);
        assert_eq!(row[3], text("Brazil"), "kept as VAT evidence");
    }
    // The pseudonym is the keyed hash of the address, the same on every invoice.
    let expected =
        pledge_connect::pseudonym(KEY, &text("Av. Brigadeiro Faria Lima, 2170"), Some(70));
    assert!(
        invoices
            .iter()
            .all(|r| r[0] == text(&expected[..r[0].to_string().len()]))
    );
    assert_eq!(
        f.scalar("SELECT COUNT(*) FROM invoice_line").await,
        lines_before
    );
    assert_eq!(
        f.rows("SELECT customer_id, first_name, email FROM customer WHERE customer_id <> 1 ORDER BY customer_id").await,
        others_before,
        "nobody else is touched"
    );
    assert_eq!(
        f.scalar("SELECT COUNT(*) FROM customer WHERE email LIKE '%embraer%'")
            .await,
        0
    );

    // Idempotent: by a key that still finds the customer, nothing changes the second time.
    let before = f.snapshot().await;
    let again = f
        .run(RequestKind::Erasure, ("customer_id", "1"), TODAY)
        .await
        .unwrap();
    assert!(again.steps.iter().all(|s| s.rows == 0), "{again:?}");
    assert_eq!(f.snapshot().await, before);
}

/// Every customer and as many unknown addresses in one request: enough identity values that
/// PostgreSQL resolves them once into a key table (the other engines bind them in each
/// statement); the outcome must be the same everywhere.
async fn a_batch_of_people_is_exported_and_erased_whole(mut f: Fixture) {
    let mut emails: Vec<String> = f
        .rows("SELECT email FROM customer ORDER BY customer_id")
        .await
        .into_iter()
        .map(|row| row[0].to_string())
        .collect();
    let customers = emails.len();
    emails.extend((0..customers).map(|i| format!("nobody-{i}@example.com")));
    let request = |kind| plan::Request {
        kind,
        identities: vec![("email".parse().unwrap(), emails.clone())],
        changes: vec![],
        now: CivilTime::from_unix(TODAY),
    };
    let dataset = &f.decl.doc().datasets[0];
    let access = plan::plan(&f.decl, dataset, &f.schema, &request(RequestKind::Access)).unwrap();
    let erasure = plan::plan(&f.decl, dataset, &f.schema, &request(RequestKind::Erasure)).unwrap();
    let people: Vec<plan::Person> = emails.iter().map(|e| f.person(("email", e))).collect();
    let options = Options {
        dry_run: false,
        hmac_key: KEY,
        who: Who::Batch(&people),
        progress: &|_, _| {},
    };

    let outcome = f.db.execute(&f.schema, &access, &options).await.unwrap();
    let exported = |table: &str| {
        outcome
            .steps
            .iter()
            .filter_map(|s| s.data.as_ref().filter(|d| d.table == table).map(|_| s.rows))
            .sum::<u64>()
    };
    let invoices = f.scalar("SELECT COUNT(*) FROM invoice").await;
    let lines = f.scalar("SELECT COUNT(*) FROM invoice_line").await;
    assert_eq!(exported("customer"), customers as u64, "{:?}", f.engine);
    assert_eq!(exported("invoice"), invoices as u64);
    assert_eq!(exported("invoice_line"), lines as u64);

    f.db.execute(&f.schema, &erasure, &options).await.unwrap();
    assert_eq!(
        f.scalar("SELECT COUNT(*) FROM customer WHERE email <> 'erased'")
            .await,
        0
    );
    assert_eq!(
        f.scalar("SELECT COUNT(*) FROM invoice").await,
        invoices,
        "held"
    );
    assert_eq!(
        f.scalar("SELECT COUNT(*) FROM invoice WHERE billing_address NOT LIKE 'h:%'")
            .await,
        0
    );
    let before = f.snapshot().await;
    let again = f.db.execute(&f.schema, &erasure, &options).await.unwrap();
    assert!(again.steps.iter().all(|s| s.rows == 0), "{again:?}");
    assert_eq!(f.snapshot().await, before);
}

async fn erasure_deletes_what_the_hold_no_longer_covers(mut f: Fixture) {
    let old = f
        .scalar(
            "SELECT COUNT(*) FROM invoice WHERE customer_id = 1 AND invoice_date < '2023-06-01'",
        )
        .await;
    assert!(old > 0);
    let old_lines = f
        .scalar("SELECT COUNT(*) FROM invoice_line WHERE invoice_id IN (SELECT invoice_id FROM invoice WHERE customer_id = 1 AND invoice_date < '2023-06-01')")
        .await;
    let lines = f.scalar("SELECT COUNT(*) FROM invoice_line").await;
    f.run(RequestKind::Erasure, LUIS, LATER).await.unwrap();
    assert_eq!(
        f.scalar("SELECT COUNT(*) FROM invoice WHERE customer_id = 1")
            .await,
        7 - old
    );
    assert_eq!(
        f.scalar("SELECT COUNT(*) FROM invoice_line").await,
        lines - old_lines
    );
    // The customer is still referenced by the held invoices: masked, not deleted.
    assert_eq!(
        f.rows("SELECT email FROM customer WHERE customer_id = 1")
            .await[0][0],
        Value::Text("erased".into())
    );
}

async fn erasure_deletes_everything_once_every_hold_has_ended(mut f: Fixture) {
    let invoices = f.scalar("SELECT COUNT(*) FROM invoice").await;
    f.run(RequestKind::Erasure, LUIS, MUCH_LATER).await.unwrap();
    assert_eq!(
        f.scalar("SELECT COUNT(*) FROM customer WHERE customer_id = 1")
            .await,
        0
    );
    assert_eq!(f.scalar("SELECT COUNT(*) FROM invoice").await, invoices - 7);
    assert_eq!(f.scalar("SELECT COUNT(*) FROM customer").await, 58);
}

async fn erasing_a_manager_masks_instead_of_breaking_references(mut f: Fixture) {
    // Andrew Adams (1) is the general manager: others report to him.
    let email = f
        .rows("SELECT email FROM employee WHERE employee_id = 1")
        .await[0][0]
        .to_string();
    f.run(RequestKind::Erasure, ("email", &email), TODAY)
        .await
        .unwrap();
    let row = f
        .rows("SELECT first_name, last_name, email FROM employee WHERE employee_id = 1")
        .await;
    assert_eq!(
        row[0],
        vec![Value::Text("erased".into()); 2]
            .into_iter()
            .chain([Value::Null])
            .collect::<Vec<_>>()
    );
    assert_eq!(
        f.scalar("SELECT COUNT(*) FROM employee WHERE reports_to = 1")
            .await,
        2,
        "links kept"
    );
    // Jane Peacock (3) supports customers: masked too, her customers untouched.
    let email = f
        .rows("SELECT email FROM employee WHERE employee_id = 3")
        .await[0][0]
        .to_string();
    let served = f
        .scalar("SELECT COUNT(*) FROM customer WHERE support_rep_id = 3")
        .await;
    f.run(RequestKind::Erasure, ("email", &email), TODAY)
        .await
        .unwrap();
    assert_eq!(
        f.scalar("SELECT COUNT(*) FROM employee WHERE employee_id = 3")
            .await,
        1
    );
    assert_eq!(
        f.scalar("SELECT COUNT(*) FROM customer WHERE support_rep_id = 3")
            .await,
        served
    );
}

async fn erasing_an_employee_nobody_refers_to_deletes_the_row(mut f: Fixture) {
    // Laura Callahan (8) manages no one and supports no customer.
    assert_eq!(
        f.scalar("SELECT COUNT(*) FROM employee WHERE reports_to = 8")
            .await,
        0
    );
    assert_eq!(
        f.scalar("SELECT COUNT(*) FROM customer WHERE support_rep_id = 8")
            .await,
        0
    );
    f.run(RequestKind::Erasure, ("employee_id", "8"), TODAY)
        .await
        .unwrap();
    assert_eq!(
        f.scalar("SELECT COUNT(*) FROM employee WHERE employee_id = 8")
            .await,
        0
    );
    assert_eq!(f.scalar("SELECT COUNT(*) FROM employee").await, 7);
}

async fn rectification_reaches_the_invoice_copies(mut f: Fixture) {
    let old = "Av. Brigadeiro Faria Lima, 2170";
    let other = f
        .scalar(&format!(
            "SELECT COUNT(*) FROM invoice WHERE billing_address = '{old}' AND customer_id <> 1"
        ))
        .await;
    let change = Change {
        table: None,
        column: "address".into(),
        value: Value::Text("Rua Nova, 1".into()),
    };
    // Today every invoice is under the bookkeeping hold: each keeps the address it was issued
    // with, and the plan says so.
    let outcome = f
        .run_with(
            RequestKind::Rectification,
            LUIS,
            vec![change.clone()],
            TODAY,
            true,
        )
        .await
        .unwrap();
    let plan = f
        .plan(
            RequestKind::Rectification,
            LUIS,
            vec![change.clone()],
            TODAY,
        )
        .unwrap();
    let invoices: Vec<(&str, u64)> = plan
        .steps
        .iter()
        .zip(&outcome.steps)
        .filter(|(s, _)| s.table == "invoice")
        .map(|(s, o)| (s.action.name(), o.rows))
        .collect();
    assert_eq!(invoices[0], ("keep", 7), "{:?}: 7 kept", f.engine);
    assert!(
        invoices[1..]
            .iter()
            .all(|&(a, n)| a == "set-copy" && n == 0),
        "{:?}: none corrected: {invoices:?}",
        f.engine
    );
    f.run_with(
        RequestKind::Rectification,
        LUIS,
        vec![change],
        MUCH_LATER,
        false,
    )
    .await
    .unwrap();
    assert_eq!(
        f.rows("SELECT address FROM customer WHERE customer_id = 1")
            .await[0][0],
        Value::Text("Rua Nova, 1".into())
    );
    assert_eq!(
        f.scalar(
            "SELECT COUNT(*) FROM invoice WHERE customer_id = 1 AND billing_address = 'Rua Nova, 1'"
        )
        .await,
        7
    );
    assert_eq!(
        f.scalar(&format!(
            "SELECT COUNT(*) FROM invoice WHERE billing_address = '{old}'"
        ))
        .await,
        other,
        "other people's invoices keep theirs"
    );
}

async fn restriction_without_a_column_is_refused(mut f: Fixture) {
    let before = f.snapshot().await;
    let error = f
        .run(RequestKind::Restriction, LUIS, TODAY)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::NotRestrictable { tables } if tables == "customer"),
        "Chinook has no restriction column, so nothing could mark the customer: {error}"
    );
    assert_eq!(f.snapshot().await, before);
}

async fn a_dry_run_changes_nothing(mut f: Fixture) {
    let before = f.snapshot().await;
    let outcome = f
        .run_with(RequestKind::Erasure, LUIS, vec![], MUCH_LATER, true)
        .await
        .unwrap();
    assert!(!outcome.committed);
    assert!(
        outcome.steps.iter().any(|s| s.rows > 0),
        "the dry run counts what it would do"
    );
    assert_eq!(f.snapshot().await, before);
}

async fn an_ambiguous_identity_changes_nothing(mut f: Fixture) {
    f.db.batch("UPDATE customer SET email = 'luisg@embraer.com.br' WHERE customer_id = 2")
        .await
        .unwrap();
    let before = f.snapshot().await;
    let error = f.run(RequestKind::Erasure, LUIS, TODAY).await.unwrap_err();
    assert!(matches!(error, Error::Ambiguous { rows: 2, .. }), "{error}");
    assert_eq!(f.snapshot().await, before);
}

async fn an_unknown_person_is_an_error(mut f: Fixture) {
    let error = f
        .run(RequestKind::Access, ("email", "nobody@example.com"), TODAY)
        .await
        .unwrap_err();
    assert!(matches!(error, Error::NoSuchPerson { .. }), "{error}");
    let _ = &f.url;
}

#[tokio::test]
async fn a_failure_midway_rolls_everything_back() {
    let Some(mut f) = fixture(Engine::Sqlite).await else {
        return;
    };
    // The customer step fails after the invoice steps have run.
    f.db
        .batch("CREATE TRIGGER refuse BEFORE UPDATE ON customer BEGIN SELECT RAISE(ABORT, 'refused by a trigger'); END")
        .await
        .unwrap();
    let before = f.snapshot().await;
    let error = f.run(RequestKind::Erasure, LUIS, TODAY).await.unwrap_err();
    assert!(matches!(error, Error::Step { .. }), "{error}");
    assert_eq!(
        f.snapshot().await,
        before,
        "the invoice steps were rolled back too"
    );
}

#[tokio::test]
async fn a_table_missing_from_the_database_is_named() {
    let Some(mut f) = fixture(Engine::Sqlite).await else {
        return;
    };
    f.db.batch("DROP TABLE invoice_line").await.unwrap();
    f.schema = f.db.introspect(None).await.unwrap();
    let error = f
        .plan(RequestKind::Access, LUIS, vec![], TODAY)
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "table `invoice_line` of dataset `chinook` is declared but not in the database"
    );
}

#[tokio::test]
async fn a_database_that_is_down_is_a_clear_error() {
    let error = Database::connect(None, "postgres://pledge:pledge@127.0.0.1:1/chinook")
        .await
        .err()
        .unwrap();
    assert!(
        error
            .to_string()
            .contains("cannot connect to the PostgreSQL database"),
        "{error}"
    );
    let error = Database::connect(Some(Engine::Postgres), "mysql://x@127.0.0.1:1/db")
        .await
        .err()
        .unwrap();
    assert!(matches!(error, Error::WrongEngine { .. }), "{error}");
}
