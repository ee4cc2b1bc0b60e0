//! Rows the person's rows refer to: an address kept in a table of its own. Access reaches it;
//! erasure masks it only when no one else refers to it.

use pledge_connect::{Database, Options, Who};
use pledge_lang::rights::RequestKind;
use pledge_lang::time::CivilTime;
use pledge_lang::{SourceMap, load};
use pledge_plan::{self as plan, Value};

const SCHEMA: &str = "
CREATE TABLE address (address_id INTEGER PRIMARY KEY, line TEXT, phone TEXT);
CREATE TABLE customer (customer_id INTEGER PRIMARY KEY, email TEXT NOT NULL, name TEXT,
    address_id INTEGER REFERENCES address(address_id));
CREATE TABLE store (store_id INTEGER PRIMARY KEY, address_id INTEGER NOT NULL REFERENCES address(address_id));
INSERT INTO address VALUES (1, 'Shared Street 1', '111'), (2, 'Own Road 2', '222'), (3, 'Store Square 3', '333');
INSERT INTO customer VALUES (1, 'ana@example.com', 'Ana', 2), (2, 'bo@example.com', 'Bo', 1), (3, 'cy@example.com', 'Cy', 1);
INSERT INTO store VALUES (1, 3);
";

const DECLARATION: &str = r#"
[[subjects]]
id = "customers"
name = "Customers"

[[purposes]]
id = "accounts"
name = "Accounts"
subjects = ["customers"]
categories = ["contact.email", "identity.name", "contact.address", "contact.phone"]
legal_bases = ["contract"]

[[datasets]]
id = "shop"
connection_env = "SHOP_DATABASE_URL"

[[datasets.tables]]
name = "customer"
subject = "customers"
identity = { email = "email" }
columns = { email = { category = "contact.email", erasure = { fixed = "erased" } }, name = "identity.name" }
erasure = "mask"

[[datasets.tables]]
name = "address"
columns = { line = "contact.address", phone = "contact.phone" }
"#;

async fn run(db: &mut Database, kind: RequestKind, email: &str) -> pledge_connect::Outcome {
    let decl = load(&SourceMap::single("shop.toml", DECLARATION)).unwrap();
    let schema = db.introspect(None).await.unwrap();
    let request = plan::Request {
        kind,
        identities: vec![("email".parse().unwrap(), vec![email.to_string()])],
        changes: vec![],
        now: CivilTime::from_unix(1_795_392_000),
    };
    let plan = plan::plan(&decl, &decl.doc().datasets[0], &schema, &request).unwrap();
    let person = plan::request_person(&decl.doc().datasets[0], &schema, &request).unwrap();
    let options = Options {
        dry_run: false,
        hmac_key: b"key",
        who: Who::Person(&person),
        progress: &|_, _| {},
    };
    db.execute(&schema, &plan, &options).await.unwrap()
}

async fn database() -> Database {
    let mut db = Database::connect(None, "sqlite::memory:").await.unwrap();
    db.batch(SCHEMA).await.unwrap();
    db
}

#[tokio::test]
async fn access_includes_the_address_the_person_refers_to() {
    let mut db = database().await;
    let outcome = run(&mut db, RequestKind::Access, "ana@example.com").await;
    let address = outcome
        .steps
        .iter()
        .filter_map(|s| s.data.as_ref())
        .find(|d| d.table == "address")
        .expect("the address is read");
    assert_eq!(address.rows.len(), 1);
    assert!(address.rows[0].contains(&Value::Text("Own Road 2".into())));
}

#[tokio::test]
async fn erasure_masks_an_address_only_the_person_uses() {
    let mut db = database().await;
    run(&mut db, RequestKind::Erasure, "ana@example.com").await;
    let rows = db
        .query("SELECT address_id, line, phone FROM address ORDER BY address_id")
        .await
        .unwrap();
    assert_eq!(
        rows[1],
        vec![Value::Int(2), Value::Null, Value::Null],
        "Ana's own address is masked"
    );
    assert_eq!(
        rows[0][1],
        Value::Text("Shared Street 1".into()),
        "shared address untouched"
    );
    assert_eq!(
        rows[2][1],
        Value::Text("Store Square 3".into()),
        "the store's address untouched"
    );

    // Bo shares address 1 with Cy: erasing Bo leaves it, as it is Cy's address too.
    run(&mut db, RequestKind::Erasure, "bo@example.com").await;
    let rows = db
        .query("SELECT line FROM address WHERE address_id = 1")
        .await
        .unwrap();
    assert_eq!(rows[0][0], Value::Text("Shared Street 1".into()));
    let bo = db
        .query("SELECT email, name FROM customer WHERE customer_id = 2")
        .await
        .unwrap();
    assert_eq!(bo[0], vec![Value::Text("erased".into()), Value::Null]);
}
