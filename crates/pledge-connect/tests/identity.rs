//! One request is one person: the identities of a request must all find the same rows, a
//! batch is checked person by person, and what cannot be done is refused before anything
//! changes. On SQLite, PostgreSQL and MariaDB, with a small Chinook-like shop: customers
//! with an address row of their own (or shared), invoices, employees.

use pledge_connect::{Database, Error, KindMatch, Options, Outcome, Who};
use pledge_lang::model::Engine;
use pledge_lang::rights::RequestKind;
use pledge_lang::time::CivilTime;
use pledge_lang::{Declaration, SourceMap, load};
use pledge_plan::people::{Identities, Position, parse_batch};
use pledge_plan::{self as plan, Change, PlanError, SchemaGraph, Value};

const SCHEMA: &[&str] = &[
    "CREATE TABLE address (address_id INTEGER PRIMARY KEY, address VARCHAR(70), city VARCHAR(40))",
    "CREATE TABLE customer (customer_id INTEGER PRIMARY KEY, first_name VARCHAR(40) NOT NULL, email VARCHAR(60), address_id INTEGER, restricted INTEGER NOT NULL DEFAULT 0, FOREIGN KEY (address_id) REFERENCES address (address_id))",
    "CREATE TABLE invoice (invoice_id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL, billing_address VARCHAR(70), FOREIGN KEY (customer_id) REFERENCES customer (customer_id))",
    "CREATE TABLE employee (employee_id INTEGER PRIMARY KEY, first_name VARCHAR(40), email VARCHAR(60))",
    "INSERT INTO address VALUES (1, 'Shared Street 1', 'Oslo'), (2, 'Own Road 2', 'Bergen'), (3, 'Third Way 3', 'Lyon')",
    // Marion is the first name of customers 5, 7 and 9; 7 and 9 share address 1.
    "INSERT INTO customer (customer_id, first_name, email, address_id) VALUES (1, 'Ana', 'ana@example.com', 2), (5, 'Marion', 'marion5@example.com', 3), (7, 'Marion', 'marion7@example.com', 1), (9, 'Marion', 'marion9@example.com', 1), (11, 'Bo', 'bo@example.com', NULL)",
    "INSERT INTO invoice VALUES (1, 1, 'Own Road 2'), (2, 1, 'Own Road 2'), (3, 5, 'Third Way 3'), (4, 7, 'Shared Street 1')",
    "INSERT INTO employee VALUES (1, 'Jane', 'jane@shop.example')",
];

const DECLARATION: &str = r#"
[[subjects]]
id = "customers"
name = "Customers"

[[subjects]]
id = "staff"
name = "Employees"

[[purposes]]
id = "accounts"
name = "Customer accounts"
subjects = ["customers"]
categories = ["contact.email", "identity.name", "contact.address"]
legal_bases = ["contract"]

[[purposes]]
id = "staff"
name = "Staff administration"
subjects = ["staff"]
categories = ["contact.email", "identity.name"]
legal_bases = ["contract"]

[[datasets]]
id = "shop"
connection_env = "SHOP_DATABASE_URL"

[[datasets.tables]]
name = "customer"
subject = "customers"
identity = { email = "email", customer_id = "customer_id", first_name = "first_name" }
columns = { email = { category = "contact.email", erasure = { fixed = "erased" } }, first_name = { category = "identity.name", erasure = { fixed = "erased" } } }
erasure = "mask"
restrict_column = "restricted"

[[datasets.tables]]
name = "address"
columns = { address = "contact.address", city = "contact.address" }

[[datasets.tables]]
name = "invoice"
columns = { billing_address = "contact.address" }
erasure = "keep"

[[datasets.tables]]
name = "employee"
subject = "staff"
identity = { email = "email" }
columns = { email = "contact.email", first_name = "identity.name" }
"#;

/// 2026-11-22.
const NOW: i64 = 1_795_392_000;

struct Shop {
    db: Database,
    decl: Declaration,
    schema: SchemaGraph,
    engine: Engine,
}

static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

async fn shop(engine: Engine) -> Option<Shop> {
    let url = match engine {
        Engine::Sqlite => {
            let path = std::env::temp_dir().join(format!(
                "pledge-identity-{}-{}.db",
                std::process::id(),
                COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            ));
            let _ = std::fs::remove_file(&path);
            format!("sqlite:{}?mode=rwc", path.display())
        }
        Engine::Postgres => {
            let server = pledge_testkit::require!(
                pledge_testkit::POSTGRES_URL,
                pledge_testkit::postgres_url()
            )?;
            pledge_testkit::postgres_database(&server, "pledge_identity").await
        }
        Engine::Mysql => {
            let server =
                pledge_testkit::require!(pledge_testkit::MYSQL_URL, pledge_testkit::mysql_url())?;
            pledge_testkit::mysql_database(&server, "pledge_identity").await
        }
    };
    let mut db = Database::connect(None, &url).await.expect("connect");
    for statement in SCHEMA {
        db.batch(statement).await.expect("load the shop");
    }
    let schema = db.introspect(None).await.expect("introspect");
    let decl = load(&SourceMap::single("shop.toml", DECLARATION)).expect("the declaration loads");
    Some(Shop {
        db,
        decl,
        schema,
        engine,
    })
}

fn person(pairs: &[(&str, &str)]) -> Identities {
    Identities::new(
        pairs
            .iter()
            .map(|(k, v)| (k.parse().unwrap(), v.to_string())),
    )
    .unwrap()
}

impl Shop {
    async fn run(
        &mut self,
        kind: RequestKind,
        people: &[Identities],
        batch: bool,
        changes: Vec<Change>,
    ) -> Result<Outcome, Error> {
        let dataset = &self.decl.doc().datasets[0];
        let request = plan::Request {
            kind,
            identities: pledge_plan::people::by_kind(people),
            changes,
            now: CivilTime::from_unix(NOW),
        };
        let plan = plan::plan(&self.decl, dataset, &self.schema, &request).expect("a plan");
        let persons: Vec<plan::Person> = people
            .iter()
            .enumerate()
            .map(|(i, p)| {
                plan::person(dataset, &self.schema, p, Some(Position::Line(i + 1))).unwrap()
            })
            .collect();
        let options = Options {
            dry_run: false,
            hmac_key: b"a key for the test pseudonyms",
            who: if batch {
                Who::Batch(&persons)
            } else {
                Who::Person(&persons[0])
            },
            progress: &|_, _| {},
        };
        self.db.execute(&self.schema, &plan, &options).await
    }

    async fn one(&mut self, kind: RequestKind, pairs: &[(&str, &str)]) -> Result<Outcome, Error> {
        self.run(kind, &[person(pairs)], false, vec![]).await
    }

    async fn snapshot(&mut self) -> Vec<Vec<Vec<Value>>> {
        let mut all = Vec::new();
        for sql in [
            "SELECT customer_id, first_name, email, address_id, restricted FROM customer ORDER BY customer_id",
            "SELECT address_id, address, city FROM address ORDER BY address_id",
            "SELECT invoice_id, customer_id, billing_address FROM invoice ORDER BY invoice_id",
            "SELECT employee_id, first_name, email FROM employee ORDER BY employee_id",
        ] {
            all.push(self.db.query(sql).await.expect("query"));
        }
        all
    }
}

macro_rules! on_every_engine {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test] async fn $name() { if let Some(s) = super::shop(super::Engine::Sqlite).await { super::$name(s).await } })*
        }
        mod postgres {
            $(#[tokio::test] async fn $name() { if let Some(s) = super::shop(super::Engine::Postgres).await { super::$name(s).await } })*
        }
        mod mariadb {
            $(#[tokio::test] async fn $name() { if let Some(s) = super::shop(super::Engine::Mysql).await { super::$name(s).await } })*
        }
    };
}

on_every_engine![
    an_id_and_a_shared_first_name_are_refused_and_change_nothing,
    two_identities_of_the_same_person_run,
    an_email_and_an_id_of_different_people_conflict,
    an_identity_that_finds_no_one_beside_one_that_does_conflicts,
    a_batch_with_several_kinds_per_record_runs_each_person,
    an_ambiguous_or_conflicting_record_refuses_the_whole_batch,
    a_batch_of_one_person_is_checked_and_erased_as_that_person,
    a_large_batch_with_one_ambiguous_person_is_refused,
    an_identity_the_column_cannot_hold_is_refused_before_any_statement,
    rectification_reaches_the_persons_own_address_row,
    restriction_marks_the_rows_with_a_column,
];

async fn an_id_and_a_shared_first_name_are_refused_and_change_nothing(mut s: Shop) {
    let before = s.snapshot().await;
    let error = s
        .one(
            RequestKind::Erasure,
            &[("customer_id", "5"), ("first_name", "Marion")],
        )
        .await
        .unwrap_err();
    match &error {
        Error::Conflict {
            table,
            matched,
            all,
        } => {
            assert_eq!(table, "customer");
            assert_eq!(*all, 1);
            assert_eq!(
                matched,
                &[
                    KindMatch {
                        kind: "customer_id".into(),
                        rows: 1
                    },
                    KindMatch {
                        kind: "first_name".into(),
                        rows: 3
                    }
                ]
            );
        }
        other => panic!("{:?}: expected a conflict, got {other}", s.engine),
    }
    assert_eq!(
        error.to_string(),
        "the identities do not name one person: in `customer`, `customer_id` matches 1 row, `first_name` matches 3 rows, and 1 row matches all of them; nothing was changed"
    );
    assert_eq!(s.snapshot().await, before, "{:?}", s.engine);
}

async fn two_identities_of_the_same_person_run(mut s: Shop) {
    let outcome = s
        .one(
            RequestKind::Access,
            &[("customer_id", "1"), ("email", "ana@example.com")],
        )
        .await
        .unwrap();
    let read = |table: &str| {
        outcome
            .steps
            .iter()
            .filter_map(|s| s.data.as_ref())
            .find(|d| d.table == table)
            .map(|d| d.rows.len())
    };
    assert_eq!(read("customer"), Some(1), "{:?}", s.engine);
    assert_eq!(read("invoice"), Some(2));
    s.one(
        RequestKind::Erasure,
        &[("customer_id", "1"), ("email", "ana@example.com")],
    )
    .await
    .unwrap();
    let rows =
        s.db.query(
            "SELECT customer_id, email FROM customer WHERE email = 'erased' ORDER BY customer_id",
        )
        .await
        .unwrap();
    assert_eq!(
        rows,
        vec![vec![Value::Int(1), Value::Text("erased".into())]]
    );
}

async fn an_email_and_an_id_of_different_people_conflict(mut s: Shop) {
    let before = s.snapshot().await;
    let error = s
        .one(
            RequestKind::Access,
            &[("customer_id", "1"), ("email", "bo@example.com")],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::Conflict { all: 0, matched, .. } if matched.iter().all(|m| m.rows == 1)),
        "{:?}: {error}",
        s.engine
    );
    // The message counts rows; it never shows what they hold.
    assert!(!error.to_string().contains("Ana"), "{error}");
    assert_eq!(s.snapshot().await, before);
}

async fn an_identity_that_finds_no_one_beside_one_that_does_conflicts(mut s: Shop) {
    let before = s.snapshot().await;
    let error = s
        .one(
            RequestKind::Erasure,
            &[("customer_id", "1"), ("email", "nobody@example.com")],
        )
        .await
        .unwrap_err();
    match &error {
        Error::Conflict { matched, all, .. } => {
            assert_eq!(*all, 0);
            let rows: Vec<u64> = matched.iter().map(|m| m.rows).collect();
            assert_eq!(rows, [1, 0], "{:?}", s.engine);
        }
        other => panic!("expected a conflict, got {other}"),
    }
    assert_eq!(s.snapshot().await, before);
}

async fn a_batch_with_several_kinds_per_record_runs_each_person(mut s: Shop) {
    let records = parse_batch(
        "customer_id,email\n1,ana@example.com\n,bo@example.com\n11,\n5,marion5@example.com\n",
    )
    .unwrap();
    let people: Vec<Identities> = records.into_iter().map(|r| r.identities).collect();
    let outcome = s
        .run(RequestKind::Access, &people, true, vec![])
        .await
        .unwrap();
    let customers = outcome
        .steps
        .iter()
        .filter_map(|s| s.data.as_ref())
        .find(|d| d.table == "customer")
        .unwrap();
    assert_eq!(customers.rows.len(), 3, "{:?}", s.engine);
}

async fn an_ambiguous_or_conflicting_record_refuses_the_whole_batch(mut s: Shop) {
    let before = s.snapshot().await;
    let text = "email=ana@example.com\nfirst_name=Marion\ncustomer_id=11,email=ana@example.com\nemail=bo@example.com\n";
    let people: Vec<Identities> = parse_batch(text)
        .unwrap()
        .into_iter()
        .map(|r| r.identities)
        .collect();
    let error = s
        .run(RequestKind::Erasure, &people, true, vec![])
        .await
        .unwrap_err();
    match &error {
        Error::BatchRefused { people, refused } => {
            assert_eq!(*people, 4);
            let at: Vec<&str> = refused.iter().map(|r| r.at.as_str()).collect();
            assert_eq!(at, ["line 2", "line 3"], "{:?}: {error}", s.engine);
            assert!(refused[0].reason.contains("3 rows"), "{error}");
            assert!(
                refused[1].reason.contains("do not name one person"),
                "{error}"
            );
        }
        other => panic!("expected the batch refused, got {other}"),
    }
    assert_eq!(s.snapshot().await, before, "nothing changed");
}

/// A batch file of one record runs that person's own check: refused as a batch, with the
/// record's line, when it does not name one person; erased otherwise.
async fn a_batch_of_one_person_is_checked_and_erased_as_that_person(mut s: Shop) {
    let before = s.snapshot().await;
    let error = s
        .run(
            RequestKind::Erasure,
            &[person(&[("first_name", "Marion")])],
            true,
            vec![],
        )
        .await
        .unwrap_err();
    match &error {
        Error::BatchRefused { people, refused } => {
            assert_eq!(*people, 1);
            assert_eq!(refused.len(), 1, "{error}");
            assert_eq!(refused[0].at, "line 1");
            assert!(refused[0].reason.contains("3 rows"), "{error}");
        }
        other => panic!("{:?}: expected the batch refused, got {other}", s.engine),
    }
    assert_eq!(s.snapshot().await, before, "nothing changed");
    let conflict = s
        .run(
            RequestKind::Erasure,
            &[person(&[
                ("email", "ana@example.com"),
                ("customer_id", "5"),
            ])],
            true,
            vec![],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&conflict, Error::BatchRefused { refused, .. } if refused[0].reason.contains("do not name one person")),
        "{conflict}"
    );
    assert_eq!(s.snapshot().await, before, "nothing changed");
    let outcome = s
        .run(
            RequestKind::Erasure,
            &[person(&[("email", "bo@example.com")])],
            true,
            vec![],
        )
        .await
        .unwrap();
    assert!(outcome.committed);
    let bo =
        s.db.query("SELECT first_name, email FROM customer WHERE customer_id = 11")
            .await
            .unwrap();
    assert_eq!(
        bo,
        [[Value::Text("erased".into()), Value::Text("erased".into())]],
        "{:?}",
        s.engine
    );
}

/// More values than PostgreSQL checks in plain `IN` lists: its seeds are resolved into key
/// tables first, and the check runs through them.
async fn a_large_batch_with_one_ambiguous_person_is_refused(mut s: Shop) {
    s.db.batch("UPDATE customer SET email = 'ana@example.com' WHERE customer_id = 11")
        .await
        .unwrap();
    let before = s.snapshot().await;
    let mut people: Vec<Identities> = (0..150)
        .map(|i| person(&[("email", &format!("nobody-{i}@example.com"))]))
        .collect();
    people.insert(70, person(&[("email", "ana@example.com")]));
    let error = s
        .run(RequestKind::Erasure, &people, true, vec![])
        .await
        .unwrap_err();
    match &error {
        Error::BatchRefused { refused, .. } => {
            assert_eq!(refused.len(), 1, "{error}");
            assert_eq!(refused[0].at, "line 71");
            assert!(
                refused[0].reason.contains("2 rows of `customer`"),
                "{error}"
            );
        }
        other => panic!("{:?}: expected the batch refused, got {other}", s.engine),
    }
    assert_eq!(s.snapshot().await, before);
}

async fn an_identity_the_column_cannot_hold_is_refused_before_any_statement(s: Shop) {
    let dataset = &s.decl.doc().datasets[0];
    let error =
        plan::person(dataset, &s.schema, &person(&[("customer_id", "abc")]), None).unwrap_err();
    assert_eq!(
        error,
        PlanError::IdentityType {
            kind: "customer_id".into(),
            table: "customer".into(),
            column: "customer_id".into(),
            expected: "an integer".into(),
        }
    );
    assert_eq!(
        error.to_string(),
        "identity `customer_id` must be an integer: it is looked up in `customer.customer_id`; nothing was changed"
    );
    let request = plan::Request {
        kind: RequestKind::Access,
        identities: vec![("customer_id".parse().unwrap(), vec!["abc".into()])],
        changes: vec![],
        now: CivilTime::from_unix(NOW),
    };
    assert_eq!(
        plan::plan(&s.decl, dataset, &s.schema, &request).unwrap_err(),
        error
    );
}

async fn rectification_reaches_the_persons_own_address_row(mut s: Shop) {
    let set = |value: &str| Change {
        table: Some("address".into()),
        column: "address".into(),
        value: Value::Text(value.into()),
    };
    // Ana's address row is hers alone: corrected.
    let outcome = s
        .run(
            RequestKind::Rectification,
            &[person(&[("email", "ana@example.com")])],
            false,
            vec![set("New Road 4")],
        )
        .await
        .unwrap();
    assert!(outcome.steps.iter().any(|st| st.rows == 1), "{outcome:?}");
    let address = |id: i64| format!("SELECT address FROM address WHERE address_id = {id}");
    assert_eq!(
        s.db.query(&address(2)).await.unwrap(),
        vec![vec![Value::Text("New Road 4".into())]],
        "{:?}",
        s.engine
    );
    // Marion 7 shares address 1 with Marion 9: it is left as it is.
    s.run(
        RequestKind::Rectification,
        &[person(&[("customer_id", "7")])],
        false,
        vec![set("Elsewhere 9")],
    )
    .await
    .unwrap();
    assert_eq!(
        s.db.query(&address(1)).await.unwrap(),
        vec![vec![Value::Text("Shared Street 1".into())]]
    );
    // A table that holds none of the person's rows is named in the refusal.
    let dataset = &s.decl.doc().datasets[0];
    let request = plan::Request {
        kind: RequestKind::Rectification,
        identities: vec![("email".parse().unwrap(), vec!["ana@example.com".into()])],
        changes: vec![Change {
            table: Some("warehouse".into()),
            column: "address".into(),
            value: Value::Text("x".into()),
        }],
        now: CivilTime::from_unix(NOW),
    };
    let error = plan::plan(&s.decl, dataset, &s.schema, &request).unwrap_err();
    assert!(
        matches!(&error, PlanError::ChangeTableNotReached { table, .. } if table == "warehouse"),
        "{error}"
    );
    assert!(error.to_string().contains("`warehouse.address`"), "{error}");
}

async fn restriction_marks_the_rows_with_a_column(mut s: Shop) {
    s.one(RequestKind::Restriction, &[("email", "ana@example.com")])
        .await
        .unwrap();
    let rows =
        s.db.query("SELECT customer_id FROM customer WHERE restricted = 1")
            .await
            .unwrap();
    assert_eq!(rows, vec![vec![Value::Int(1)]], "{:?}", s.engine);
    // Jane is an employee: the employee table declares no restrict_column, so nothing
    // could mark her rows.
    let before = s.snapshot().await;
    let error = s
        .one(RequestKind::Restriction, &[("email", "jane@shop.example")])
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::NotRestrictable { tables } if tables == "employee"),
        "{error}"
    );
    assert_eq!(s.snapshot().await, before);
}

mod model {
    //! The one-person rule against a model: random people in one table (ids, e-mail
    //! addresses and first names from small pools, so that they collide) and a random
    //! request of one to three identities; the model computes the rows each identity selects
    //! and says what the check must answer. On SQLite, in memory.

    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    const DECL: &str = r#"
[[subjects]]
id = "people"
name = "People"

[[purposes]]
id = "p"
name = "P"
subjects = ["people"]
categories = ["contact.email", "identity.name"]
legal_bases = ["contract"]

[[datasets]]
id = "d"
connection_env = "D_URL"

[[datasets.tables]]
name = "person"
subject = "people"
identity = { person_id = "person_id", email = "email", first_name = "first_name" }
columns = { email = "contact.email", first_name = "identity.name" }
"#;

    #[derive(Debug, PartialEq)]
    enum Answer {
        Found(u64),
        Conflict,
        Ambiguous,
    }

    fn model(rows: &[(i64, String, String)], asked: &[(&str, String)]) -> Answer {
        let selects = |kind: &str, value: &str| -> BTreeSet<i64> {
            rows.iter()
                .filter(|(id, email, name)| match kind {
                    "person_id" => id.to_string() == value,
                    "email" => email == value,
                    _ => name == value,
                })
                .map(|(id, _, _)| *id)
                .collect()
        };
        let sets: Vec<BTreeSet<i64>> = asked.iter().map(|(k, v)| selects(k, v)).collect();
        if sets.windows(2).any(|w| w[0] != w[1]) {
            Answer::Conflict
        } else if sets[0].len() > 1 {
            Answer::Ambiguous
        } else {
            Answer::Found(sets[0].len() as u64)
        }
    }

    /// People as (e-mail, first name), and the request as (kind index, value).
    type Case = (Vec<(String, String)>, Vec<(usize, String)>);

    fn case() -> impl Strategy<Value = Case> {
        let row = (
            prop::sample::select(vec!["a@x", "b@x", "c@x"]).prop_map(String::from),
            prop::sample::select(vec!["Ana", "Bo"]).prop_map(String::from),
        );
        let kinds = prop::sample::subsequence(vec![0usize, 1, 2], 1..=3);
        (prop::collection::vec(row, 0..6), kinds).prop_flat_map(|(rows, kinds)| {
            let values = kinds
                .into_iter()
                .map(|k| {
                    let pool: Vec<String> = match k {
                        0 => (1..=7).map(|i| i.to_string()).collect(),
                        1 => ["a@x", "b@x", "c@x", "d@x"].map(String::from).to_vec(),
                        _ => ["Ana", "Bo", "Cy"].map(String::from).to_vec(),
                    };
                    prop::sample::select(pool).prop_map(move |v| (k, v))
                })
                .collect::<Vec<_>>();
            (Just(rows), values)
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        #[test]
        fn the_check_answers_as_the_model((people, asked) in case()) {
            let rows: Vec<(i64, String, String)> = people
                .into_iter()
                .enumerate()
                .map(|(i, (e, n))| (i as i64 + 1, e, n))
                .collect();
            let kinds = ["person_id", "email", "first_name"];
            let asked: Vec<(&str, String)> = asked.into_iter().map(|(k, v)| (kinds[k], v)).collect();
            let want = model(&rows, &asked);
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let got = runtime.block_on(async {
                let mut db = Database::connect(None, "sqlite::memory:").await.unwrap();
                db.batch("CREATE TABLE person (person_id INTEGER PRIMARY KEY, email TEXT, first_name TEXT)").await.unwrap();
                for (id, email, name) in &rows {
                    db.batch(&format!("INSERT INTO person VALUES ({id}, '{email}', '{name}')")).await.unwrap();
                }
                let schema = db.introspect(None).await.unwrap();
                let decl = load(&SourceMap::single("d.toml", DECL)).unwrap();
                let dataset = &decl.doc().datasets[0];
                let identities = Identities::new(asked.iter().map(|(k, v)| (k.parse().unwrap(), v.clone()))).unwrap();
                let request = plan::Request {
                    kind: RequestKind::Erasure,
                    identities: pledge_plan::people::by_kind([&identities]),
                    changes: vec![],
                    now: CivilTime::from_unix(NOW),
                };
                let plan = plan::plan(&decl, dataset, &schema, &request).unwrap();
                let person = plan::person(dataset, &schema, &identities, None).unwrap();
                let options = Options {
                    dry_run: true,
                    hmac_key: b"k",
                    who: Who::Person(&person),
                    progress: &|_, _| {},
                };
                match db.execute(&schema, &plan, &options).await {
                    Ok(outcome) => Answer::Found(outcome.steps.iter().filter(|s| s.rows > 0).count().min(1) as u64),
                    Err(Error::Conflict { .. }) => Answer::Conflict,
                    Err(Error::Ambiguous { .. }) => Answer::Ambiguous,
                    Err(e) => panic!("unexpected: {e}"),
                }
            });
            prop_assert_eq!(got, want, "rows {:?}, asked {:?}", rows, asked);
        }
    }
}
