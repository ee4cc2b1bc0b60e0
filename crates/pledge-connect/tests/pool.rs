//! The pool of a dataset's database, on SQLite, PostgreSQL and MariaDB: a connection given
//! back is used again; the schema is read once and read again as soon as the database's
//! schema changes (a column added, a table dropped, a key added), never later; a kept
//! connection the server closed meanwhile is replaced.

use pledge_connect::Database;
use pledge_connect::pool::DatasetPool;
use pledge_lang::model::Engine;
use pledge_lang::{SourceMap, load};

const DECLARATION: &str = r#"
[[datasets]]
id = "shop"
connection_env = "SHOP_DATABASE_URL"

[[datasets.tables]]
name = "customer"
identity = { email = "email" }
columns = { email = "contact.email" }
"#;

async fn url(engine: Engine, name: &str) -> Option<String> {
    Some(match engine {
        Engine::Sqlite => {
            let path =
                std::env::temp_dir().join(format!("pledge-pool-{name}-{}.db", std::process::id()));
            let _ = std::fs::remove_file(&path);
            format!("sqlite:{}?mode=rwc", path.display())
        }
        Engine::Postgres => {
            let server = pledge_testkit::require_as(
                name,
                pledge_testkit::POSTGRES_URL,
                pledge_testkit::postgres_url(),
            )?;
            pledge_testkit::postgres_database(&server, "pledge_pool").await
        }
        Engine::Mysql => {
            let server = pledge_testkit::require_as(
                name,
                pledge_testkit::MYSQL_URL,
                pledge_testkit::mysql_url(),
            )?;
            pledge_testkit::mysql_database(&server, "pledge_pool").await
        }
    })
}

fn columns(schema: &pledge_plan::SchemaGraph, table: &str) -> Vec<String> {
    schema
        .tables
        .iter()
        .find(|t| t.name == table)
        .map(|t| t.columns.iter().map(|c| c.name.clone()).collect())
        .unwrap_or_default()
}

async fn the_schema_is_read_again_when_it_changes(engine: Engine, name: &str) {
    let Some(url) = url(engine, name).await else {
        return;
    };
    let mut admin = Database::connect(None, &url).await.expect("connect");
    admin
        .batch("CREATE TABLE customer (customer_id INT PRIMARY KEY, email VARCHAR(200) NOT NULL)")
        .await
        .expect("set up");
    let decl = load(&SourceMap::single("shop.toml", DECLARATION)).expect("loads");
    let pool = DatasetPool::new(&decl.doc().datasets[0], &url);

    let (lease, first) = pool.checkout().await.expect("checkout");
    assert_eq!(columns(&first, "customer"), ["customer_id", "email"]);
    lease.release();
    let kept = if engine == Engine::Sqlite { 0 } else { 1 };
    assert_eq!(
        pool.idle(),
        kept,
        "a connection given back waits for the next job"
    );

    // Nothing changed: the very schema read before.
    let (lease, again) = pool.checkout().await.expect("checkout");
    assert!(std::sync::Arc::ptr_eq(&first, &again), "not read again");
    lease.release();

    // A column added by another connection: read again at the next checkout.
    admin
        .batch("ALTER TABLE customer ADD COLUMN phone VARCHAR(40)")
        .await
        .expect("alter");
    let (lease, changed) = pool.checkout().await.expect("checkout");
    assert_eq!(
        columns(&changed, "customer"),
        ["customer_id", "email", "phone"]
    );
    lease.release();

    // A new table that refers to it: its key is seen.
    admin
        .batch("CREATE TABLE invoice (invoice_id INT PRIMARY KEY, customer_id INT NOT NULL REFERENCES customer (customer_id))")
        .await
        .expect("create");
    let (lease, with_invoice) = pool.checkout().await.expect("checkout");
    let invoice = with_invoice
        .tables
        .iter()
        .find(|t| t.name == "invoice")
        .expect("the new table");
    assert_eq!(invoice.foreign_keys.len(), 1, "{invoice:?}");
    // A dropped lease (a job that failed) closes its connection instead of keeping it.
    let idle = pool.idle();
    drop(lease);
    assert_eq!(pool.idle(), idle);

    // Dropped again: gone from the schema at once.
    admin.batch("DROP TABLE invoice").await.expect("drop");
    let (lease, dropped) = pool.checkout().await.expect("checkout");
    assert!(!dropped.tables.iter().any(|t| t.name == "invoice"));
    lease.release();
    admin.close().await;
}

async fn a_connection_closed_by_the_server_is_replaced(engine: Engine, name: &str) {
    let Some(url) = url(engine, name).await else {
        return;
    };
    let mut admin = Database::connect(None, &url).await.expect("connect");
    admin
        .batch("CREATE TABLE customer (customer_id INT PRIMARY KEY, email VARCHAR(200) NOT NULL)")
        .await
        .expect("set up");
    let decl = load(&SourceMap::single("shop.toml", DECLARATION)).expect("loads");
    let pool = DatasetPool::new(&decl.doc().datasets[0], &url);
    let (lease, _) = pool.checkout().await.expect("checkout");
    lease.release();
    // The server ends every other session (a restart, an idle timeout, an administrator).
    match engine {
        Engine::Postgres => admin
            .batch("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
            .await
            .expect("terminate"),
        _ => {
            let ids = admin
                .query("SELECT ID FROM information_schema.PROCESSLIST WHERE DB = DATABASE() AND ID <> CONNECTION_ID()")
                .await
                .expect("sessions");
            for row in ids {
                admin.batch(&format!("KILL {}", row[0])).await.expect("kill");
            }
        }
    }
    let (lease, schema) = pool.checkout().await.expect("a fresh connection");
    assert!(schema.tables.iter().any(|t| t.name == "customer"));
    lease.release();
    admin.close().await;
}

#[tokio::test]
async fn sqlite_the_schema_is_read_again_when_it_changes() {
    the_schema_is_read_again_when_it_changes(
        Engine::Sqlite,
        "sqlite_the_schema_is_read_again_when_it_changes",
    )
    .await;
}

#[tokio::test]
async fn postgres_the_schema_is_read_again_when_it_changes() {
    the_schema_is_read_again_when_it_changes(
        Engine::Postgres,
        "postgres_the_schema_is_read_again_when_it_changes",
    )
    .await;
}

#[tokio::test]
async fn mariadb_the_schema_is_read_again_when_it_changes() {
    the_schema_is_read_again_when_it_changes(
        Engine::Mysql,
        "mariadb_the_schema_is_read_again_when_it_changes",
    )
    .await;
}

#[tokio::test]
async fn postgres_a_connection_closed_by_the_server_is_replaced() {
    a_connection_closed_by_the_server_is_replaced(
        Engine::Postgres,
        "postgres_a_connection_closed_by_the_server_is_replaced",
    )
    .await;
}

#[tokio::test]
async fn mariadb_a_connection_closed_by_the_server_is_replaced() {
    a_connection_closed_by_the_server_is_replaced(
        Engine::Mysql,
        "mariadb_a_connection_closed_by_the_server_is_replaced",
    )
    .await;
}
