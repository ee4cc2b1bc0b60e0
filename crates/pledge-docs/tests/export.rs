//! The export's meta-information is about the person: the purposes of the subject groups
//! they were found as, not every purpose of the declaration.

use pledge_docs::export::{self, DatasetRows};
use pledge_lang::rights::RequestKind;
use pledge_lang::time::CivilTime;
use pledge_lang::{SourceMap, load};
use pledge_plan::{TableRows, Value};

const CHINOOK: &str = include_str!("../../../examples/chinook/pledge.toml");

fn rows(table: &str, n: usize) -> TableRows {
    TableRows {
        table: table.into(),
        columns: vec!["email".into()],
        rows: (0..n)
            .map(|i| vec![Value::Text(format!("p{i}@example.com"))])
            .collect(),
        mention: None,
    }
}

/// The purposes the manifest and the report list, for rows found in these tables.
fn purposes(tables: &[TableRows]) -> (Vec<String>, String) {
    let decl = load(&SourceMap::single("pledge.toml", CHINOOK)).unwrap();
    let data = [DatasetRows {
        dataset: "chinook",
        tables,
    }];
    let files = export::render(
        &decl,
        RequestKind::Access,
        &data,
        &[("email".into(), "p0@example.com".into())],
        CivilTime::from_unix(1_795_392_000),
    );
    let file = |name: &str| {
        files
            .iter()
            .find(|f| f.path == name)
            .map(|f| String::from_utf8(f.bytes.clone()).unwrap())
            .unwrap()
    };
    let manifest: serde_json::Value = serde_json::from_str(&file("manifest.json")).unwrap();
    let names = manifest["information"]["purposes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["purpose"].as_str().unwrap().to_string())
        .collect();
    (names, file("report.html"))
}

#[test]
fn a_customer_export_lists_the_customer_purposes_only() {
    let (names, report) = purposes(&[rows("customer", 1), rows("employee", 0), rows("invoice", 3)]);
    assert_eq!(
        names,
        [
            "Customer accounts and orders",
            "Invoicing and bookkeeping",
            "Customer support",
            "New releases newsletter"
        ]
    );
    assert!(!report.contains("Staff administration"));
}

#[test]
fn an_employee_export_lists_the_staff_purposes_and_both_list_both() {
    let (names, _) = purposes(&[rows("customer", 0), rows("employee", 1)]);
    assert_eq!(names, ["Staff administration"]);
    let (names, _) = purposes(&[rows("customer", 1), rows("employee", 1)]);
    assert_eq!(names.len(), 5);
    // Customers that name the employee as their support rep only mention her.
    let mut mentions = rows("customer", 2);
    mentions.mention = Some(pledge_plan::MentionRows {
        via: vec!["support_rep_id".into()],
        mentioned: "employee".into(),
    });
    let (names, _) = purposes(&[rows("employee", 1), mentions]);
    assert_eq!(names, ["Staff administration"]);
}
