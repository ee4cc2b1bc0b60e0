//! Planner tests as data: a declaration and a schema graph in, a plan out (as a snapshot).

use pledge_lang::rights::RequestKind;
use pledge_lang::time::CivilTime;
use pledge_lang::{SourceMap, load};
use pledge_plan::*;

fn column(name: &str, kind: ValueKind, nullable: bool) -> ColumnSchema {
    ColumnSchema {
        name: name.into(),
        sql_type: format!("{kind:?}"),
        nullable,
        kind,
        max_length: None,
    }
}

fn fk(column: &str, table: &str, ref_column: &str) -> ForeignKey {
    ForeignKey {
        columns: vec![column.into()],
        ref_table: table.into(),
        ref_columns: vec![ref_column.into()],
    }
}

/// The relevant part of Chinook: customer → employee (support rep), employee → employee
/// (reports to), invoice → customer, invoice_line → invoice and track.
fn chinook() -> SchemaGraph {
    use ValueKind::*;
    let table =
        |name: &str, columns: Vec<ColumnSchema>, pk: &str, fks: Vec<ForeignKey>| TableSchema {
            name: name.into(),
            columns,
            primary_key: vec![pk.into()],
            foreign_keys: fks,
            ..Default::default()
        };
    SchemaGraph {
        tables: vec![
            table(
                "employee",
                vec![
                    column("employee_id", Integer, false),
                    column("first_name", Text, false),
                    column("email", Text, true),
                    column("birth_date", Temporal, true),
                    column("reports_to", Integer, true),
                ],
                "employee_id",
                vec![fk("reports_to", "employee", "employee_id")],
            ),
            table(
                "customer",
                vec![
                    column("customer_id", Integer, false),
                    column("first_name", Text, false),
                    column("last_name", Text, false),
                    column("email", Text, false),
                    column("address", Text, true),
                    column("phone", Text, true),
                    column("support_rep_id", Integer, true),
                ],
                "customer_id",
                vec![fk("support_rep_id", "employee", "employee_id")],
            ),
            table(
                "invoice",
                vec![
                    column("invoice_id", Integer, false),
                    column("customer_id", Integer, false),
                    column("invoice_date", Temporal, false),
                    column("billing_address", Text, true),
                    column("total", Decimal, false),
                ],
                "invoice_id",
                vec![fk("customer_id", "customer", "customer_id")],
            ),
            table(
                "invoice_line",
                vec![
                    column("invoice_line_id", Integer, false),
                    column("invoice_id", Integer, false),
                    column("track_id", Integer, false),
                ],
                "invoice_line_id",
                vec![
                    fk("invoice_id", "invoice", "invoice_id"),
                    fk("track_id", "track", "track_id"),
                ],
            ),
            table(
                "track",
                vec![
                    column("track_id", Integer, false),
                    column("name", Text, false),
                ],
                "track_id",
                vec![],
            ),
        ],
    }
}

fn now() -> CivilTime {
    CivilTime::from_unix(1_795_000_000) // 2026-11-18
}

fn request(kind: RequestKind, kind_name: &str, value: &str, changes: Vec<Change>) -> Request {
    Request {
        kind,
        identities: vec![(kind_name.parse().unwrap(), vec![value.into()])],
        changes,
        now: now(),
    }
}

fn plan_for(request: &Request) -> Result<Plan, PlanError> {
    let text = include_str!("plans/chinook.toml");
    let decl = load(&SourceMap::single("chinook.toml", text)).expect("loads");
    let dataset = &decl.doc().datasets[0];
    plan(&decl, dataset, &chinook(), request)
}

#[test]
fn access_reaches_invoices_and_their_lines_but_not_the_support_rep() {
    let plan = plan_for(&request(RequestKind::Access, "customer_id", "7", vec![])).unwrap();
    let tables: Vec<&str> = plan.steps.iter().map(|s| s.table.as_str()).collect();
    assert_eq!(tables, ["customer", "invoice", "invoice_line"]);
    // An e-mail address is searched wherever it identifies someone: customers and staff.
    let plan = plan_for(&request(
        RequestKind::Access,
        "email",
        "ana@example.com",
        vec![],
    ))
    .unwrap();
    let tables: Vec<(&str, &str)> = plan
        .steps
        .iter()
        .map(|s| (s.table.as_str(), s.action.name()))
        .collect();
    // The customers the employee serves and the employees who report to them only mention
    // the person: they come out as such, not as the person's rows.
    assert_eq!(
        tables,
        [
            ("customer", "read"),
            ("employee", "read"),
            ("invoice", "read"),
            ("invoice_line", "read"),
            ("employee", "read-mentions"),
            ("customer", "read-mentions")
        ]
    );
    insta::assert_json_snapshot!("access", plan);
}

#[test]
fn erasure_deletes_children_first_and_keeps_held_invoices_pseudonymised() {
    let plan = plan_for(&request(RequestKind::Erasure, "customer_id", "7", vec![])).unwrap();
    let order: Vec<(String, &str)> = plan
        .steps
        .iter()
        .map(|s| {
            let action = match &s.action {
                Action::Delete { .. } => "delete",
                Action::Mask { .. } => "mask",
                _ => "other",
            };
            (s.table.clone(), action)
        })
        .collect();
    assert_eq!(
        order,
        [
            // Deletions first, rows before the rows they refer to ...
            ("invoice_line".to_string(), "delete"),
            ("invoice".to_string(), "delete"),
            ("customer".to_string(), "delete"),
            // ... then masks, the customer (found by the identity the mask changes) last.
            ("invoice".to_string(), "mask"),
            ("invoice".to_string(), "mask"),
            ("customer".to_string(), "mask"),
        ]
    );
    insta::assert_json_snapshot!("erasure", plan);
}

#[test]
fn erasing_an_employee_does_not_claim_the_customers_they_serve() {
    let plan = plan_for(&request(RequestKind::Erasure, "employee_id", "1", vec![])).unwrap();
    // The customers they serve (and the employees who report to them) only mention them:
    // kept as they are, and said so.
    let others: Vec<(&str, &str)> = plan
        .steps
        .iter()
        .filter(|s| !matches!(s.action, Action::Delete { .. } | Action::Mask { .. }))
        .map(|s| (s.table.as_str(), s.action.name()))
        .collect();
    assert_eq!(
        others,
        [
            ("employee", "keep"),
            ("customer", "keep"),
            // The employee table refers to itself: its deletion runs again as rows free others.
            ("employee", "repeat")
        ]
    );
    assert!(
        plan.steps
            .iter()
            .filter(|s| s.table != "employee")
            .all(|s| matches!(s.action, Action::Keep))
    );
    let delete = plan
        .steps
        .iter()
        .find(|s| matches!(s.action, Action::Delete { .. }))
        .expect("a delete");
    let Action::Delete { guards } = &delete.action else {
        panic!("a delete")
    };
    // The employee row is deleted only if no customer and no other employee refers to it.
    let guarded: Vec<&str> = guards
        .iter()
        .map(|g| match g {
            Filter::Unreferenced { table, .. } => table.as_str(),
            _ => "?",
        })
        .collect();
    assert_eq!(guarded, ["employee", "customer"]);
}

#[test]
fn rectification_reaches_copies_before_the_original() {
    let change = Change {
        table: None,
        column: "address".into(),
        value: Value::Text("1 New Street".into()),
    };
    let plan = plan_for(&request(
        RequestKind::Rectification,
        "customer_id",
        "7",
        vec![change],
    ))
    .unwrap();
    // Invoices kept for bookkeeping keep the address they were issued with.
    assert!(matches!(plan.steps[0].action, Action::Keep));
    assert_eq!(plan.steps[0].table, "invoice");
    assert!(matches!(plan.steps[1].action, Action::SetCopies { .. }));
    assert_eq!(plan.steps[1].table, "invoice");
    assert!(matches!(plan.steps[2].action, Action::Set { .. }));
    // The identity value was typed after its column: customer_id is an integer.
    let Filter::Identity { columns } = &plan.steps[2].filter else {
        panic!()
    };
    assert_eq!(columns[0].1, vec![Value::Int(7)]);
    insta::assert_json_snapshot!("rectification", plan);
}

#[test]
fn portability_takes_only_consent_and_contract_data() {
    let plan = plan_for(&request(
        RequestKind::Portability,
        "email",
        "ana@example.com",
        vec![],
    ))
    .unwrap();
    let customer = &plan.steps[0];
    let Action::Read { columns } = &customer.action else {
        panic!()
    };
    assert!(columns.contains(&"email".to_string()));
    // invoice.billing_address is contact.address, which the contract purpose also covers.
    assert!(plan.steps.iter().any(|s| s.table == "invoice"));
    assert!(plan.notes.iter().any(|n| n.contains("invoice_line")));
}

#[test]
fn restriction_records_the_person_rows() {
    let plan = plan_for(&request(
        RequestKind::Restriction,
        "customer_id",
        "7",
        vec![],
    ))
    .unwrap();
    assert_eq!(plan.steps.len(), 1);
    assert!(matches!(
        plan.steps[0].action,
        Action::Restrict { column: None }
    ));
}

#[test]
fn bad_requests_are_named() {
    let err = plan_for(&request(RequestKind::Access, "phone", "+1", vec![])).unwrap_err();
    assert!(matches!(err, PlanError::NoIdentityColumn { .. }), "{err}");

    let change = Change {
        table: None,
        column: "customer_id".into(),
        value: Value::Int(1),
    };
    let err = plan_for(&request(
        RequestKind::Rectification,
        "email",
        "a@b.c",
        vec![change],
    ))
    .unwrap_err();
    assert!(matches!(err, PlanError::KeyColumnChange { .. }), "{err}");

    let err = plan_for(&request(
        RequestKind::Rectification,
        "email",
        "a@b.c",
        vec![],
    ))
    .unwrap_err();
    assert_eq!(err, PlanError::NoChanges);

    let mut schema = chinook();
    schema.tables.retain(|t| t.name != "invoice");
    let text = include_str!("plans/chinook.toml");
    let decl = load(&SourceMap::single("chinook.toml", text)).unwrap();
    let err = plan(
        &decl,
        &decl.doc().datasets[0],
        &schema,
        &request(RequestKind::Access, "email", "a@b.c", vec![]),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "table `invoice` of dataset `chinook` is declared but not in the database"
    );
}

#[test]
fn a_declared_partition_names_the_table_to_declare() {
    let mut schema = chinook();
    let invoice = schema
        .tables
        .iter_mut()
        .find(|t| t.name == "invoice")
        .unwrap();
    invoice.name = "invoice_2024".into();
    let mut parent = invoice.clone();
    parent.name = "invoice".into();
    parent.partitions = vec!["invoice_2024".into(), "invoice_2025".into()];
    schema.tables.retain(|t| t.name != "invoice_2024");
    schema.tables.push(parent);
    let text =
        include_str!("plans/chinook.toml").replace("name = \"invoice\"", "name = \"invoice_2025\"");
    let decl = load(&SourceMap::single("chinook.toml", text)).unwrap();
    let err = plan(
        &decl,
        &decl.doc().datasets[0],
        &schema,
        &request(RequestKind::Access, "email", "a@b.c", vec![]),
    )
    .unwrap_err();
    assert_eq!(
        err,
        PlanError::PartOfTable {
            dataset: "chinook".into(),
            table: "invoice_2025".into(),
            parent: "invoice".into(),
        }
    );
}

#[test]
fn a_parent_with_children_of_their_own_needs_them_declared() {
    let mut schema = chinook();
    let mut child = schema.table("customer").unwrap().clone();
    child.name = "vip_customer".into();
    schema.tables.push(child);
    for t in &mut schema.tables {
        if t.name == "customer" {
            t.children = vec!["vip_customer".into()];
        }
    }
    let text = include_str!("plans/chinook.toml");
    let decl = load(&SourceMap::single("chinook.toml", text)).unwrap();
    let err = plan(
        &decl,
        &decl.doc().datasets[0],
        &schema,
        &request(RequestKind::Access, "email", "a@b.c", vec![]),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "table `customer` of dataset `chinook` has inheritance children with columns of their own (`vip_customer`), which are tables of their own: declare them too, since statements on `customer` reach only its own rows"
    );
}
