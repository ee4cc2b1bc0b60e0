//! The ownership model on a shop of our own making, on SQLite and (where `scripts/test.sh`
//! provides them) PostgreSQL and MariaDB: customers and employees (who report to each other),
//! orders that name both, order lines, messages between customers, shared addresses.
//! A request for one person never changes a row another person owns, beyond severing a
//! declared mention.

use pledge_connect::{Database, Options, Outcome, Who};
use pledge_docs::export::{self, DatasetRows};
use pledge_lang::model::Engine;
use pledge_lang::rights::RequestKind;
use pledge_lang::time::CivilTime;
use pledge_lang::{Declaration, SourceMap, load};
use pledge_plan::{self as plan, Action, Plan, PlanError};
use std::sync::atomic::{AtomicU32, Ordering};

const SQL: &str = include_str!("fixtures/shop/shop.sql");
const DECLARATION: &str = include_str!("../../pledge-plan/tests/plans/shop.toml");
/// 2026-11-22: orders of 2026 are inside the five-year bookkeeping hold, those of 2019 not.
const NOW: i64 = 1_795_392_000;
const ENGINES: [Engine; 3] = [Engine::Sqlite, Engine::Postgres, Engine::Mysql];

static DATABASES: AtomicU32 = AtomicU32::new(0);

struct Shop {
    engine: Engine,
    db: Database,
    decl: Declaration,
    schema: plan::SchemaGraph,
}

fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let cut = base.rfind('/').expect("a server URL has a path");
    match query {
        Some(q) => format!("{}/{name}?{q}", &base[..cut]),
        None => format!("{}/{name}", &base[..cut]),
    }
}

impl Shop {
    /// A fresh shop database, or `None` where the engine's test server is not provided.
    async fn new(engine: Engine, declaration: &str) -> Option<Shop> {
        let url = match engine {
            Engine::Sqlite => "sqlite::memory:".to_string(),
            Engine::Postgres | Engine::Mysql => {
                let server = match engine {
                    Engine::Postgres => pledge_testkit::require!(
                        pledge_testkit::POSTGRES_URL,
                        pledge_testkit::postgres_url()
                    )?,
                    _ => pledge_testkit::require!(
                        pledge_testkit::MYSQL_URL,
                        pledge_testkit::mysql_url()
                    )?,
                };
                let name = format!(
                    "pledge_shop_{}_{}",
                    std::process::id(),
                    DATABASES.fetch_add(1, Ordering::Relaxed)
                );
                let mut admin = Database::connect(None, &server).await.expect("the server");
                admin
                    .batch(&format!("CREATE DATABASE {name}"))
                    .await
                    .expect("a fresh database");
                admin.close().await;
                with_database(&server, &name)
            }
        };
        let mut db = Database::connect(None, &url).await.expect("connect");
        for statement in SQL.lines().filter(|l| !l.trim().is_empty()) {
            db.batch(statement).await.expect("the shop loads");
        }
        let schema = db.introspect(None).await.expect("introspection");
        let decl = load(&SourceMap::single("shop.toml", declaration)).expect("loads");
        Some(Shop {
            engine,
            db,
            decl,
            schema,
        })
    }

    fn plan(&self, kind: RequestKind, identity: (&str, &str)) -> Result<Plan, PlanError> {
        let request = plan::Request {
            kind,
            identities: vec![(identity.0.parse().unwrap(), vec![identity.1.to_string()])],
            changes: vec![],
            now: CivilTime::from_unix(NOW),
        };
        plan::plan(
            &self.decl,
            &self.decl.doc().datasets[0],
            &self.schema,
            &request,
        )
    }

    async fn run(
        &mut self,
        kind: RequestKind,
        identity: (&str, &str),
        dry_run: bool,
    ) -> (Plan, Outcome) {
        let plan = self.plan(kind, identity).expect("a plan");
        let identities = pledge_plan::people::Identities::new([(
            identity.0.parse().unwrap(),
            identity.1.to_string(),
        )])
        .unwrap();
        let person = plan::person(
            &self.decl.doc().datasets[0],
            &self.schema,
            &identities,
            None,
        )
        .expect("a person");
        let options = Options {
            dry_run,
            hmac_key: b"shop-test-key",
            who: Who::Person(&person),
            progress: &|_, _| {},
        };
        let outcome = self
            .db
            .execute(&self.schema, &plan, &options)
            .await
            .unwrap_or_else(|e| panic!("{:?}: {e}\n{plan:#?}", self.engine));
        (plan, outcome)
    }

    async fn rows(&mut self, sql: &str) -> Vec<Vec<String>> {
        self.db
            .query(sql)
            .await
            .expect("a query")
            .into_iter()
            .map(|r| r.iter().map(ToString::to_string).collect())
            .collect()
    }

    /// Every column of a table but its dates (which no erasure here writes), as text, for
    /// "unchanged" checks; NULL is the empty string.
    async fn table(&mut self, name: &str) -> Vec<Vec<String>> {
        let columns: Vec<String> = self
            .schema
            .table(name)
            .expect("a table")
            .columns
            .iter()
            .filter(|c| c.kind != plan::ValueKind::Temporal)
            .map(|c| c.name.clone())
            .collect();
        self.rows(&format!(
            "SELECT {} FROM {name} ORDER BY id",
            columns.join(", ")
        ))
        .await
    }
}

fn fred() -> (&'static str, &'static str) {
    ("employee_id", "2")
}
fn eve() -> (&'static str, &'static str) {
    ("employee_id", "1")
}
fn ana() -> (&'static str, &'static str) {
    ("customer_id", "1")
}

#[tokio::test]
async fn erasing_an_employee_changes_no_order_and_masks_the_employee() {
    for engine in ENGINES {
        let Some(mut s) = Shop::new(engine, DECLARATION).await else {
            continue;
        };
        let orders = s.table("orders").await;
        let lines = s.table("order_line").await;
        let customers = s.table("customer").await;
        let (plan, outcome) = s.run(RequestKind::Erasure, fred(), false).await;
        assert_eq!(
            s.table("orders").await,
            orders,
            "{engine:?}: orders untouched"
        );
        assert_eq!(s.table("order_line").await, lines, "{engine:?}");
        assert_eq!(s.table("customer").await, customers, "{engine:?}");
        // The orders that name him are kept, and the report says so.
        let (i, kept) = plan
            .steps
            .iter()
            .enumerate()
            .find(|(_, st)| st.table == "orders")
            .expect("a report line");
        assert!(matches!(kept.action, Action::Keep), "{engine:?}");
        assert_eq!(
            outcome.steps[i].rows, 3,
            "{engine:?}: three orders name Fred"
        );
        // Orders still refer to Fred: his row stays, masked.
        let fred = s
            .rows("SELECT email, name FROM employee WHERE id = 2")
            .await;
        assert!(fred[0][0].starts_with("h:"), "{engine:?}: {fred:?}");
        assert_eq!(fred[0][1], "erased", "{engine:?}");
        let (_, again) = s.run(RequestKind::Erasure, fred_by_email(), false).await;
        assert!(
            again.steps.iter().all(|o| o.rows == 0 || o.data.is_some()),
            "{engine:?}"
        );
    }
}

fn fred_by_email() -> (&'static str, &'static str) {
    ("email", "fred@shop.example")
}

#[tokio::test]
async fn a_mention_declared_null_is_cleared_and_the_employee_deleted() {
    let declaration = DECLARATION.replace(
        "mentions.employee_id = { erase = \"keep\"",
        "mentions.employee_id = { erase = \"null\"",
    );
    for engine in ENGINES {
        let Some(mut s) = Shop::new(engine, &declaration).await else {
            continue;
        };
        let before = s
            .rows("SELECT id, customer_id, ship_name FROM orders ORDER BY id")
            .await;
        let lines = s.table("order_line").await;
        s.run(RequestKind::Erasure, fred(), false).await;
        assert_eq!(
            s.rows("SELECT id, customer_id, ship_name FROM orders ORDER BY id")
                .await,
            before,
            "{engine:?}: nothing but the reference changes"
        );
        assert_eq!(s.table("order_line").await, lines, "{engine:?}");
        assert_eq!(
            s.rows("SELECT COUNT(*) FROM orders WHERE employee_id IS NULL")
                .await[0][0],
            "4",
            "{engine:?}: the three of Fred's, and the one that named no one"
        );
        assert_eq!(
            s.rows("SELECT id FROM employee ORDER BY id").await,
            [["1"]],
            "{engine:?}: Fred is gone"
        );
    }
}

#[tokio::test]
async fn erasing_a_manager_clears_the_report_and_keeps_the_orders() {
    for engine in ENGINES {
        let Some(mut s) = Shop::new(engine, DECLARATION).await else {
            continue;
        };
        let orders = s.table("orders").await;
        let address = s.table("address").await;
        // A dry run shows every step, the repeated deletion of the self-referencing table
        // among them, and changes nothing.
        let employees = s.table("employee").await;
        let (plan, outcome) = s.run(RequestKind::Erasure, eve(), true).await;
        assert!(!outcome.committed);
        assert_eq!(outcome.steps.len(), plan.steps.len());
        assert!(
            plan.steps
                .iter()
                .any(|st| matches!(st.action, Action::Repeat { .. })),
            "{engine:?}: the cycle deletes are in the plan"
        );
        assert_eq!(s.table("employee").await, employees, "{engine:?}: dry run");
        s.run(RequestKind::Erasure, eve(), false).await;
        assert_eq!(
            s.rows("SELECT name, reports_to FROM employee WHERE id = 2")
                .await,
            [["Fred", ""]],
            "{engine:?}: Fred's row changes only in its reference to Eve"
        );
        assert_eq!(s.table("orders").await, orders, "{engine:?}");
        assert_eq!(
            s.table("address").await,
            address,
            "{engine:?}: Eve's address is Ana's too"
        );
        let eve = s.rows("SELECT name FROM employee WHERE id = 1").await;
        assert_eq!(eve, [["erased"]], "{engine:?}: order 4 still names Eve");
    }
}

#[tokio::test]
async fn erasing_a_customer_takes_their_orders_and_keeps_held_ones() {
    for engine in ENGINES {
        let Some(mut s) = Shop::new(engine, DECLARATION).await else {
            continue;
        };
        let employees = s.table("employee").await;
        let (plan, _) = s.run(RequestKind::Erasure, ana(), false).await;
        // The old order goes with its lines; the held one stays, its name pseudonymised.
        assert_eq!(
            s.rows(
                "SELECT id, customer_id, ship_name FROM orders WHERE customer_id = 1 ORDER BY id"
            )
            .await,
            [["2", "1", ""]],
            "{engine:?}"
        );
        assert_eq!(
            s.rows("SELECT id FROM order_line WHERE id <= 3 ORDER BY id")
                .await,
            [["3"]],
            "{engine:?}"
        );
        assert!(
            plan.steps
                .iter()
                .any(|st| st.table == "orders" && st.reason.contains("Bookkeeping Act")),
            "{engine:?}: the hold is reported"
        );
        // Her message goes; Bo's message to her stays, without her as its recipient.
        assert_eq!(
            s.rows("SELECT id, sender_id, recipient_id, body FROM message ORDER BY id")
                .await,
            [["2", "2", "", "Hi Ana"], ["3", "3", "", "To everyone"]],
            "{engine:?}"
        );
        // Other people's orders and the employees are untouched.
        assert_eq!(
            s.rows("SELECT COUNT(*) FROM orders WHERE customer_id <> 1")
                .await[0][0],
            "3"
        );
        assert_eq!(s.table("employee").await, employees, "{engine:?}");
        // The ship-to address only her old order used is masked; the shared one is not.
        assert_eq!(
            s.rows("SELECT street FROM address ORDER BY id").await,
            [["Shared Street 1"], ["Own Road 2"], [""]],
            "{engine:?}"
        );
        // Held: her row stays, masked.
        let ana = s.rows("SELECT name FROM customer WHERE id = 1").await;
        assert_eq!(ana, [["erased"]], "{engine:?}");
    }
}

#[tokio::test]
async fn an_employee_access_shows_orders_only_as_mentions() {
    for engine in ENGINES {
        let Some(mut s) = Shop::new(engine, DECLARATION).await else {
            continue;
        };
        let (_, outcome) = s.run(RequestKind::Access, fred(), false).await;
        let tables: Vec<_> = outcome.steps.into_iter().filter_map(|o| o.data).collect();
        let own: Vec<&str> = tables
            .iter()
            .filter(|t| t.mention.is_none() && !t.rows.is_empty())
            .map(|t| t.table.as_str())
            .collect();
        assert_eq!(own, ["employee"], "{engine:?}");
        let orders = tables
            .iter()
            .find(|t| t.table == "orders")
            .expect("orders that mention Fred");
        assert_eq!(
            orders.columns,
            ["id", "employee_id", "ordered_on"],
            "{engine:?}"
        );
        assert_eq!(orders.rows.len(), 3, "{engine:?}");
        let files = export::render(
            &s.decl,
            RequestKind::Access,
            &[DatasetRows {
                dataset: "shop",
                tables: &tables,
            }],
            &[("employee_id".into(), "2".into())],
            CivilTime::from_unix(NOW),
        );
        let text: String = files
            .iter()
            .map(|f| String::from_utf8_lossy(&f.bytes).into_owned())
            .collect();
        for other in ["Ana", "Bo B.", "Shared Street", "customer_id"] {
            assert!(
                !text.contains(other),
                "{engine:?}: the export shows {other}"
            );
        }
        assert!(
            files
                .iter()
                .any(|f| f.path == "shop/mentions/orders.employee_id.csv")
        );
        assert!(text.contains("Records that mention you"));
        let data: serde_json::Value = serde_json::from_slice(&files[0].bytes).unwrap();
        let mentions = data["shop"][export::MENTIONS_KEY]
            .as_array()
            .expect("a section");
        let orders = mentions
            .iter()
            .find(|m| m["table"] == "orders")
            .expect("the orders");
        assert_eq!(orders["role"], "employee_id", "{engine:?}");
        assert_eq!(
            orders["rows"].as_array().map(Vec::len),
            Some(3),
            "{engine:?}"
        );
        let manifest = files.iter().find(|f| f.path == "manifest.json").unwrap();
        let manifest: serde_json::Value = serde_json::from_slice(&manifest.bytes).unwrap();
        assert_eq!(manifest["rows"], 1, "{engine:?}");
        assert_eq!(manifest["mention_rows"], 3, "{engine:?}");
    }
}

#[tokio::test]
async fn a_customer_access_has_their_own_orders_in_full() {
    for engine in ENGINES {
        let Some(mut s) = Shop::new(engine, DECLARATION).await else {
            continue;
        };
        let (_, outcome) = s.run(RequestKind::Access, ana(), false).await;
        let tables: Vec<_> = outcome.steps.into_iter().filter_map(|o| o.data).collect();
        let count = |name: &str, mention: bool| {
            tables
                .iter()
                .filter(|t| t.table == name && t.mention.is_some() == mention)
                .map(|t| t.rows.len())
                .sum::<usize>()
        };
        assert_eq!(count("customer", false), 1, "{engine:?}");
        assert_eq!(count("orders", false), 2, "{engine:?}");
        assert_eq!(count("order_line", false), 3, "{engine:?}");
        assert_eq!(count("message", false), 1, "{engine:?}: the one she sent");
        assert_eq!(count("message", true), 1, "{engine:?}: the one sent to her");
        assert_eq!(
            count("address", false),
            2,
            "{engine:?}: her own and the ship-to"
        );
        let orders = tables
            .iter()
            .find(|t| t.table == "orders" && t.mention.is_none())
            .unwrap();
        assert!(orders.columns.contains(&"ship_name".to_string()));
        // Bo's message to her shows who sent it only as a key, not its text.
        let received = tables
            .iter()
            .find(|t| t.table == "message" && t.mention.is_some())
            .unwrap();
        assert_eq!(
            received.columns,
            ["id", "recipient_id", "sent_on"],
            "{engine:?}"
        );
    }
}

#[tokio::test]
async fn a_table_of_two_people_without_an_owner_is_refused() {
    let declaration = DECLARATION.replace("owner = \"customer_id\"\n", "");
    let Some(s) = Shop::new(Engine::Sqlite, &declaration).await else {
        return;
    };
    for identity in [fred(), ana()] {
        let err = s.plan(RequestKind::Erasure, identity).unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("`orders`") && message.contains("owner = \"COLUMN\""),
            "{message}"
        );
    }
}
