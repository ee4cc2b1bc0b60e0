//! Partitioned tables and table inheritance: what introspection makes of them, and requests on
//! them that reach every row of the person once. PostgreSQL (sub-partitions, inheritance
//! children folded into their parent or tables of their own) and MariaDB (partitioned tables,
//! which keep no foreign keys) are the real servers `scripts/test.sh` starts.

use pledge_connect::{Database, Options, Outcome, Who};
use pledge_lang::rights::RequestKind;
use pledge_lang::time::CivilTime;
use pledge_lang::{Declaration, SourceMap, load};
use pledge_plan::{self as plan, ForeignKey, Plan, PlanError, Value};

fn declaration(datasets: &str) -> Declaration {
    let text = format!(
        r#"
[[subjects]]
id = "customers"
name = "Customers"

[[purposes]]
id = "accounts"
name = "Accounts"
subjects = ["customers"]
categories = ["contact.email", "identity.name", "transaction.purchase"]
legal_bases = ["contract"]
{datasets}
"#
    );
    load(&SourceMap::single("test.toml", text)).expect("the declaration loads")
}

fn request(kind: RequestKind, email: &str) -> plan::Request {
    plan::Request {
        kind,
        identities: vec![("email".parse().unwrap(), vec![email.to_string()])],
        changes: vec![],
        now: CivilTime::from_unix(1_795_392_000),
    }
}

async fn run(
    db: &mut Database,
    decl: &Declaration,
    kind: RequestKind,
    email: &str,
) -> (Plan, Outcome) {
    let schema = db.introspect(None).await.expect("introspect");
    let plan = plan::plan(
        decl,
        &decl.doc().datasets[0],
        &schema,
        &request(kind, email),
    )
    .expect("plans");
    let person = plan::request_person(&decl.doc().datasets[0], &schema, &request(kind, email))
        .expect("a person");
    let options = Options {
        dry_run: false,
        hmac_key: b"key",
        who: Who::Person(&person),
        progress: &|_, _| {},
    };
    let outcome = db.execute(&schema, &plan, &options).await.expect("runs");
    (plan, outcome)
}

/// Rows a request's steps on `table` read, deleted or changed.
fn rows(plan: &Plan, outcome: &Outcome, table: &str) -> Vec<u64> {
    plan.steps
        .iter()
        .zip(&outcome.steps)
        .filter(|(s, _)| s.table == table)
        .map(|(_, o)| o.rows)
        .collect()
}

async fn scalar(db: &mut Database, sql: &str) -> i64 {
    match &db.query(sql).await.expect("query")[0][0] {
        Value::Int(n) => *n,
        other => other.to_string().parse().expect("a number"),
    }
}

fn fk(columns: &[&str], ref_table: &str, ref_columns: &[&str]) -> ForeignKey {
    ForeignKey {
        columns: columns.iter().map(|c| c.to_string()).collect(),
        ref_table: ref_table.into(),
        ref_columns: ref_columns.iter().map(|c| c.to_string()).collect(),
    }
}

async fn postgres(prefix: &str, schema: &str) -> Option<Database> {
    let server =
        pledge_testkit::require!(pledge_testkit::POSTGRES_URL, pledge_testkit::postgres_url())?;
    let url = pledge_testkit::postgres_database(&server, prefix).await;
    let mut db = Database::connect(None, &url).await.expect("connect");
    db.batch(schema).await.expect("set up");
    Some(db)
}

const SUBPARTITIONS: &str = "
CREATE TABLE customer (customer_id int PRIMARY KEY, email text NOT NULL);
-- Sub-partitioned, keys only on the leaves.
CREATE TABLE event (event_id int NOT NULL, customer_id int NOT NULL, region text NOT NULL, at date NOT NULL)
    PARTITION BY LIST (region);
CREATE TABLE event_eu PARTITION OF event FOR VALUES IN ('eu') PARTITION BY RANGE (at);
CREATE TABLE event_eu_2024 PARTITION OF event_eu FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE event_eu_2025 PARTITION OF event_eu FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE event_us PARTITION OF event FOR VALUES IN ('us');
ALTER TABLE event_eu_2024 ADD PRIMARY KEY (event_id);
ALTER TABLE event_eu_2025 ADD PRIMARY KEY (event_id);
ALTER TABLE event_us ADD PRIMARY KEY (event_id);
ALTER TABLE event_eu_2024 ADD FOREIGN KEY (customer_id) REFERENCES customer;
ALTER TABLE event_eu_2025 ADD FOREIGN KEY (customer_id) REFERENCES customer;
ALTER TABLE event_us ADD FOREIGN KEY (customer_id) REFERENCES customer;
-- Keys on the parent (PostgreSQL copies them to each partition), and a table that refers to it
-- (PostgreSQL adds a constraint per partition it refers to).
CREATE TABLE ledger (entry_id int, region text, customer_id int NOT NULL REFERENCES customer,
    PRIMARY KEY (entry_id, region)) PARTITION BY LIST (region);
CREATE TABLE ledger_eu PARTITION OF ledger FOR VALUES IN ('eu');
CREATE TABLE ledger_us PARTITION OF ledger FOR VALUES IN ('us');
CREATE TABLE note (note_id int PRIMARY KEY, entry_id int NOT NULL, region text NOT NULL,
    FOREIGN KEY (entry_id, region) REFERENCES ledger);
INSERT INTO customer VALUES (1, 'ana@example.com'), (2, 'bo@example.com');
INSERT INTO event VALUES (1, 1, 'eu', '2024-03-01'), (2, 1, 'eu', '2025-03-01'), (3, 1, 'us', '2025-04-01'),
    (4, 2, 'eu', '2024-05-01'), (5, 2, 'us', '2024-06-01');
INSERT INTO ledger VALUES (1, 'eu', 1), (2, 'us', 1), (3, 'us', 2);
INSERT INTO note VALUES (1, 1, 'eu'), (2, 2, 'us'), (3, 3, 'us');
";

const SUBPARTITION_DECLARATION: &str = r#"
[[datasets]]
id = "shop"
connection_env = "SHOP_DATABASE_URL"

[[datasets.tables]]
name = "customer"
subject = "customers"
identity = { email = "email" }
columns = { email = "contact.email" }

[[datasets.tables]]
name = "event"
columns = { at = "transaction.purchase" }
"#;

#[tokio::test]
async fn sub_partitions_fold_into_their_root_with_their_keys() {
    let Some(mut db) = postgres("pledge_parts", SUBPARTITIONS).await else {
        return;
    };
    let schema = db.introspect(None).await.unwrap();
    let names: Vec<&str> = schema.tables.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["customer", "event", "ledger", "note"]);
    let event = schema.table("event").unwrap();
    assert_eq!(
        event.partitions,
        ["event_eu", "event_eu_2024", "event_eu_2025", "event_us"]
    );
    assert_eq!(event.primary_key, ["event_id"], "the leaves' common key");
    assert_eq!(
        event.foreign_keys,
        [fk(&["customer_id"], "customer", &["customer_id"])]
    );
    let ledger = schema.table("ledger").unwrap();
    assert_eq!(ledger.primary_key, ["entry_id", "region"]);
    assert_eq!(
        ledger.foreign_keys,
        [fk(&["customer_id"], "customer", &["customer_id"])]
    );
    assert_eq!(
        schema.table("note").unwrap().foreign_keys,
        [fk(
            &["entry_id", "region"],
            "ledger",
            &["entry_id", "region"]
        )],
        "one key to the partitioned table, not one per partition"
    );

    let decl = declaration(SUBPARTITION_DECLARATION);
    let (plan, outcome) = run(&mut db, &decl, RequestKind::Access, "ana@example.com").await;
    assert_eq!(rows(&plan, &outcome, "event"), [3], "every sub-partition");
    assert_eq!(rows(&plan, &outcome, "ledger"), [2]);
    assert_eq!(rows(&plan, &outcome, "note"), [2]);

    let (plan, outcome) = run(&mut db, &decl, RequestKind::Erasure, "ana@example.com").await;
    assert!(rows(&plan, &outcome, "event").contains(&3));
    assert_eq!(scalar(&mut db, "SELECT count(*) FROM event").await, 2);
    assert_eq!(
        scalar(&mut db, "SELECT count(*) FROM event WHERE customer_id = 2").await,
        2,
        "Bo's events stay"
    );
    assert_eq!(scalar(&mut db, "SELECT count(*) FROM note").await, 1);
    assert_eq!(scalar(&mut db, "SELECT count(*) FROM customer").await, 1);
}

const INHERITANCE: &str = "
CREATE TABLE org (org_id int PRIMARY KEY, name text);
-- Children without columns of their own: part of their parent.
CREATE TABLE member (member_id int PRIMARY KEY, email text NOT NULL, name text);
CREATE TABLE member_2020 () INHERITS (member);
CREATE TABLE member_2021 () INHERITS (member);
ALTER TABLE member_2020 ADD PRIMARY KEY (member_id);
CREATE TABLE visit (visit_id int PRIMARY KEY, member_id int NOT NULL REFERENCES member_2020 (member_id));
-- A child with a column of its own: a table of its own, whose rows also show in the parent's.
CREATE TABLE account (account_id int PRIMARY KEY, email text NOT NULL, name text, org_id int REFERENCES org);
CREATE TABLE staff_account (badge text) INHERITS (account);
INSERT INTO org VALUES (1, 'Shop');
INSERT INTO member VALUES (1, 'bo@example.com', 'Bo');
INSERT INTO member_2020 VALUES (2, 'ana@example.com', 'Ana');
INSERT INTO member_2021 VALUES (3, 'cy@example.com', 'Cy');
INSERT INTO visit VALUES (1, 2), (2, 2);
INSERT INTO account VALUES (10, 'ana@example.com', 'Ana', 1), (11, 'bo@example.com', 'Bo', 1);
INSERT INTO staff_account VALUES (20, 'ana@example.com', 'Ana at work', 1, 'B-7'), (21, 'cy@example.com', 'Cy', 1, 'B-8');
";

const INHERITANCE_DECLARATION: &str = r#"
[[datasets]]
id = "shop"
connection_env = "SHOP_DATABASE_URL"

[[datasets.tables]]
name = "member"
subject = "customers"
identity = { email = "email" }
columns = { email = "contact.email", name = "identity.name" }

[[datasets.tables]]
name = "visit"

[[datasets.tables]]
name = "account"
subject = "customers"
identity = { email = "email" }
columns = { email = "contact.email", name = "identity.name" }

[[datasets.tables]]
name = "staff_account"
subject = "customers"
identity = { email = "email" }
columns = { email = "contact.email", name = "identity.name", badge = "identity.name" }
"#;

#[tokio::test]
async fn inheritance_children_fold_or_stand_alone_and_each_row_is_reached_once() {
    let Some(mut db) = postgres("pledge_inherits", INHERITANCE).await else {
        return;
    };
    let schema = db.introspect(None).await.unwrap();
    let names: Vec<&str> = schema.tables.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        ["account", "member", "org", "staff_account", "visit"]
    );
    let member = schema.table("member").unwrap();
    assert_eq!(member.partitions, ["member_2020", "member_2021"]);
    assert!(member.children.is_empty());
    assert_eq!(
        schema.table("visit").unwrap().foreign_keys,
        [fk(&["member_id"], "member", &["member_id"])],
        "a key to a folded child refers to its parent"
    );
    assert_eq!(schema.table("account").unwrap().children, ["staff_account"]);
    let staff = schema.table("staff_account").unwrap();
    assert_eq!(
        staff.foreign_keys,
        [fk(&["org_id"], "org", &["org_id"])],
        "a child of its own carries its parent's keys"
    );
    assert!(staff.column("badge").is_some());

    let decl = declaration(INHERITANCE_DECLARATION);
    let (plan, outcome) = run(&mut db, &decl, RequestKind::Access, "ana@example.com").await;
    assert_eq!(
        rows(&plan, &outcome, "member"),
        [1],
        "her row in member_2020"
    );
    assert_eq!(rows(&plan, &outcome, "visit"), [2]);
    // Without the limit to its own rows, `account` would count Ana twice (her staff row shows
    // in its scans) and refuse the identity as ambiguous.
    assert_eq!(rows(&plan, &outcome, "account"), [1]);
    assert_eq!(rows(&plan, &outcome, "staff_account"), [1]);
    let account = outcome.steps[plan
        .steps
        .iter()
        .position(|s| s.table == "account")
        .unwrap()]
    .data
    .as_ref()
    .unwrap();
    assert_eq!(account.rows[0][0], Value::Int(10));

    let (plan, outcome) = run(&mut db, &decl, RequestKind::Erasure, "ana@example.com").await;
    let deleted = |table: &str| -> u64 {
        plan.steps
            .iter()
            .zip(&outcome.steps)
            .filter(|(s, _)| s.table == table && s.action.name() == "delete")
            .map(|(_, o)| o.rows)
            .sum()
    };
    assert_eq!(deleted("account"), 1, "only the parent's own row");
    assert_eq!(deleted("staff_account"), 1);
    assert_eq!(deleted("member"), 1);
    assert_eq!(deleted("visit"), 2);
    let left = db
        .query("SELECT account_id FROM account ORDER BY account_id")
        .await
        .unwrap();
    assert_eq!(left, [[Value::Int(11)], [Value::Int(21)]]);
    assert_eq!(scalar(&mut db, "SELECT count(*) FROM member").await, 2);

    // A parent declared without its child of its own would leave the child's rows out.
    let without_child = INHERITANCE_DECLARATION
        .split("[[datasets.tables]]\nname = \"staff_account\"")
        .next()
        .unwrap();
    let decl = declaration(without_child);
    let err = plan::plan(
        &decl,
        &decl.doc().datasets[0],
        &schema,
        &request(RequestKind::Access, "bo@example.com"),
    )
    .expect_err("the child must be declared");
    assert!(
        matches!(&err, PlanError::UndeclaredChildren { table, children, .. } if table == "account" && children == "`staff_account`"),
        "{err}"
    );
    // A folded child named in a declaration is refused with its parent.
    let decl =
        declaration(&INHERITANCE_DECLARATION.replace("name = \"visit\"", "name = \"member_2021\""));
    let err = plan::plan(
        &decl,
        &decl.doc().datasets[0],
        &schema,
        &request(RequestKind::Access, "bo@example.com"),
    )
    .expect_err("a folded child is not a table of its own");
    assert!(
        matches!(&err, PlanError::PartOfTable { parent, .. } if parent == "member"),
        "{err}"
    );
}

const MARIADB: &str = "
CREATE TABLE customer (customer_id INT PRIMARY KEY, email VARCHAR(100) NOT NULL);
CREATE TABLE orders (order_id INT NOT NULL, customer_id INT NOT NULL, placed DATE NOT NULL, total DECIMAL(8,2),
    PRIMARY KEY (order_id, placed))
    PARTITION BY RANGE (YEAR(placed)) (
        PARTITION p2024 VALUES LESS THAN (2025),
        PARTITION p2025 VALUES LESS THAN (2026),
        PARTITION pmax VALUES LESS THAN MAXVALUE);
INSERT INTO customer VALUES (1, 'ana@example.com'), (2, 'bo@example.com');
INSERT INTO orders VALUES (1, 1, '2024-03-01', 10), (2, 1, '2025-03-01', 20), (3, 2, '2025-04-01', 30);
";

const MARIADB_DECLARATION: &str = r#"
[[datasets]]
id = "shop"
connection_env = "SHOP_DATABASE_URL"

[[datasets.tables]]
name = "customer"
subject = "customers"
identity = { email = "email" }
columns = { email = "contact.email" }

[[datasets.tables]]
name = "orders"
columns = { total = "transaction.purchase" }

[[datasets.relations]]
from = "orders.customer_id"
to = "customer.customer_id"
"#;

#[tokio::test]
async fn a_mariadb_partitioned_table_is_one_table_linked_by_declared_relations() {
    let Some(server) =
        pledge_testkit::require!(pledge_testkit::MYSQL_URL, pledge_testkit::mysql_url())
    else {
        return;
    };
    let name = format!("pledge_parts_{}", std::process::id());
    let mut admin = Database::connect(None, &server).await.unwrap();
    admin
        .batch(&format!("DROP DATABASE IF EXISTS {name}"))
        .await
        .unwrap();
    admin
        .batch(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    admin.close().await;
    let (base, _) = server.rsplit_once('/').unwrap();
    let mut db = Database::connect(None, &format!("{base}/{name}"))
        .await
        .unwrap();
    db.batch(MARIADB).await.expect("set up");
    // MariaDB keeps no foreign keys on a partitioned table, either way.
    let err = db
        .batch("ALTER TABLE orders ADD FOREIGN KEY (customer_id) REFERENCES customer (customer_id)")
        .await
        .expect_err("no foreign key on a partitioned table");
    assert!(
        format!("{err:?}").contains("Partitioned tables do not support FOREIGN KEY"),
        "{err:?}"
    );

    let schema = db.introspect(None).await.unwrap();
    let names: Vec<&str> = schema.tables.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["customer", "orders"], "partitions are not tables");
    let orders = schema.table("orders").unwrap();
    assert_eq!(orders.partitions, ["p2024", "p2025", "pmax"]);
    assert_eq!(orders.primary_key, ["order_id", "placed"]);
    assert!(orders.foreign_keys.is_empty());

    let decl = declaration(MARIADB_DECLARATION);
    let (plan, outcome) = run(&mut db, &decl, RequestKind::Access, "ana@example.com").await;
    assert_eq!(rows(&plan, &outcome, "orders"), [2]);
    assert!(
        plan.notes
            .iter()
            .any(|n| n.contains("partitioned table `orders`") && n.contains("declared relations")),
        "{:?}",
        plan.notes
    );
    let (plan, outcome) = run(&mut db, &decl, RequestKind::Erasure, "ana@example.com").await;
    assert_eq!(rows(&plan, &outcome, "orders").iter().sum::<u64>(), 2);
    assert_eq!(scalar(&mut db, "SELECT count(*) FROM orders").await, 1);
    assert_eq!(scalar(&mut db, "SELECT count(*) FROM customer").await, 1);

    // Without the relation the orders are not reached at all, and the plan says so.
    let decl = declaration(
        MARIADB_DECLARATION
            .split("[[datasets.relations]]")
            .next()
            .unwrap(),
    );
    let plan = plan::plan(
        &decl,
        &decl.doc().datasets[0],
        &schema,
        &request(RequestKind::Access, "bo@example.com"),
    )
    .unwrap();
    assert!(plan.steps.iter().all(|s| s.table != "orders"));
    assert!(
        plan.notes
            .iter()
            .any(|n| n.contains("`orders` is not linked")),
        "{:?}",
        plan.notes
    );
    db.close().await;
    let mut admin = Database::connect(None, &server).await.unwrap();
    let _ = admin.batch(&format!("DROP DATABASE {name}")).await;
    admin.close().await;
}
