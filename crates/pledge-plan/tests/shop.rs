//! The ownership model on a shop of our own making (two kinds of people, orders that name
//! both, messages between customers, shared addresses): the declaration and a schema graph
//! in, the ownership and the plans out, as snapshots.

use pledge_lang::rights::RequestKind;
use pledge_lang::time::CivilTime;
use pledge_lang::{SourceMap, load};
use pledge_plan::ownership::{Ownership, TableOwnership};
use pledge_plan::*;

const SHOP: &str = include_str!("plans/shop.toml");

fn column(name: &str, kind: ValueKind, nullable: bool) -> ColumnSchema {
    ColumnSchema {
        name: name.into(),
        sql_type: format!("{kind:?}"),
        nullable,
        kind,
        max_length: None,
    }
}

fn fk(column: &str, table: &str) -> ForeignKey {
    ForeignKey {
        columns: vec![column.into()],
        ref_table: table.into(),
        ref_columns: vec!["id".into()],
    }
}

/// The schema of `crates/pledge-connect/tests/fixtures/shop/shop.sql`, as introspection reads it.
fn shop() -> SchemaGraph {
    use ValueKind::*;
    let table = |name: &str, columns: Vec<ColumnSchema>, fks: Vec<ForeignKey>| TableSchema {
        name: name.into(),
        columns,
        primary_key: vec!["id".into()],
        foreign_keys: fks,
        ..TableSchema::default()
    };
    let id = || column("id", Integer, false);
    SchemaGraph {
        tables: vec![
            table(
                "address",
                vec![
                    id(),
                    column("street", Text, true),
                    column("city", Text, true),
                ],
                vec![],
            ),
            table(
                "employee",
                vec![
                    id(),
                    column("email", Text, false),
                    column("name", Text, true),
                    column("reports_to", Integer, true),
                    column("address_id", Integer, true),
                ],
                vec![fk("reports_to", "employee"), fk("address_id", "address")],
            ),
            table(
                "customer",
                vec![
                    id(),
                    column("email", Text, false),
                    column("name", Text, true),
                    column("address_id", Integer, true),
                ],
                vec![fk("address_id", "address")],
            ),
            table("product", vec![id(), column("title", Text, false)], vec![]),
            table(
                "orders",
                vec![
                    id(),
                    column("customer_id", Integer, false),
                    column("employee_id", Integer, true),
                    column("ordered_on", Temporal, false),
                    column("ship_name", Text, true),
                    column("ship_address_id", Integer, true),
                ],
                vec![
                    fk("customer_id", "customer"),
                    fk("employee_id", "employee"),
                    fk("ship_address_id", "address"),
                ],
            ),
            table(
                "order_line",
                vec![
                    id(),
                    column("order_id", Integer, false),
                    column("product_id", Integer, false),
                    column("quantity", Integer, false),
                ],
                vec![fk("order_id", "orders"), fk("product_id", "product")],
            ),
            table(
                "message",
                vec![
                    id(),
                    column("sender_id", Integer, false),
                    column("recipient_id", Integer, true),
                    column("sent_on", Temporal, false),
                    column("body", Text, true),
                ],
                vec![fk("sender_id", "customer"), fk("recipient_id", "customer")],
            ),
        ],
    }
}

fn request(kind: RequestKind, identity: &str, value: &str) -> Request {
    Request {
        kind,
        identities: vec![(identity.parse().unwrap(), vec![value.into()])],
        changes: vec![],
        now: CivilTime::from_unix(1_795_392_000), // 2026-11-22
    }
}

fn plan_with(text: &str, request: &Request) -> Result<Plan, PlanError> {
    let decl = load(&SourceMap::single("shop.toml", text)).expect("loads");
    plan(&decl, &decl.doc().datasets[0], &shop(), request)
}

fn ownership_of(text: &str) -> Ownership {
    let decl = load(&SourceMap::single("shop.toml", text)).expect("loads");
    Ownership::infer(&decl.doc().datasets[0], &shop())
}

#[test]
fn every_table_has_one_owner_or_none() {
    let o = ownership_of(SHOP);
    let owner = |t: &str| match o.of(t) {
        Some(TableOwnership::Owned { subject, .. }) => subject.clone(),
        _ => None,
    };
    assert_eq!(owner("orders").as_deref(), Some("customer"));
    assert_eq!(owner("order_line").as_deref(), Some("customer"));
    assert_eq!(owner("message").as_deref(), Some("customer"));
    assert!(matches!(
        o.of("employee"),
        Some(TableOwnership::Subject { .. })
    ));
    assert!(matches!(
        o.of("address"),
        Some(TableOwnership::Unowned { .. })
    ));
    assert!(matches!(
        o.of("product"),
        Some(TableOwnership::Unowned { .. })
    ));
    let mentions: Vec<String> = o
        .mentions
        .iter()
        .map(|m| format!("{}.{} {:?}", m.edge.table, m.edge.column(), m.erase))
        .collect();
    assert_eq!(
        mentions,
        [
            "employee.reports_to Null",
            "orders.employee_id Keep",
            "message.recipient_id Null"
        ]
    );
    assert!(o.ineffective.is_empty(), "{:?}", o.ineffective);
    insta::assert_json_snapshot!("shop_ownership", o);
}

#[test]
fn without_an_owner_a_table_of_two_people_is_refused() {
    let text = SHOP.replace("owner = \"customer_id\"\n", "");
    let o = ownership_of(&text);
    let Some(TableOwnership::Ambiguous { choices }) = o.of("orders") else {
        panic!("orders are ambiguous: {:?}", o.of("orders"));
    };
    assert_eq!(choices.len(), 2);
    // Their lines could be either's too, and wait on the orders.
    assert!(matches!(
        o.of("order_line"),
        Some(TableOwnership::Owned { subject: None, .. })
    ));
    for (identity, value) in [("employee_id", "2"), ("customer_id", "1")] {
        let err = plan_with(&text, &request(RequestKind::Erasure, identity, value)).unwrap_err();
        let message = err.to_string();
        assert!(
            matches!(&err, PlanError::AmbiguousOwner { table, .. } if table == "orders"),
            "{message}"
        );
        assert!(message.contains("`customer_id` → customer"), "{message}");
        assert!(message.contains("`employee_id` → employee"), "{message}");
        assert!(message.contains("owner = \"COLUMN\""), "{message}");
    }
    // A product is no one's: planning for it is not stopped by the orders.
    let o = ownership_of(&text);
    assert!(matches!(
        o.of("product"),
        Some(TableOwnership::Unowned { .. })
    ));
}

#[test]
fn erasing_an_employee_touches_no_order() {
    let plan = plan_with(SHOP, &request(RequestKind::Erasure, "employee_id", "2")).unwrap();
    // (The employee's address is masked only where no one else lives there.)
    for s in plan
        .steps
        .iter()
        .filter(|s| s.table != "employee" && s.table != "address")
    {
        assert!(
            matches!(s.action, Action::Keep),
            "only kept, never changed: {} {}",
            s.table,
            s.action.name()
        );
    }
    let kept = plan
        .steps
        .iter()
        .find(|s| s.table == "orders")
        .expect("a report line for the orders");
    assert!(kept.reason.contains("who handled it"), "{}", kept.reason);
    insta::assert_json_snapshot!("shop_erase_employee", plan);
}

#[test]
fn erasing_a_manager_clears_the_reports_and_repeats_the_self_referencing_delete() {
    let plan = plan_with(SHOP, &request(RequestKind::Erasure, "employee_id", "1")).unwrap();
    let actions: Vec<(&str, &str)> = plan
        .steps
        .iter()
        .map(|s| (s.table.as_str(), s.action.name()))
        .collect();
    assert_eq!(
        actions,
        [
            // Eve's address is Ana's too: masked only where no one else refers to it.
            ("address", "mask"),
            ("employee", "sever"),
            ("orders", "keep"),
            ("employee", "delete"),
            ("employee", "repeat"),
            ("employee", "mask"),
        ]
    );
    // The repeat names the delete it runs again.
    let Action::Repeat { steps } = &plan.steps[4].action else {
        panic!()
    };
    assert_eq!(steps, &[3]);
}

#[test]
fn erasing_a_customer_takes_their_orders_and_messages_and_keeps_held_ones() {
    let plan = plan_with(SHOP, &request(RequestKind::Erasure, "customer_id", "1")).unwrap();
    let actions: Vec<(&str, &str)> = plan
        .steps
        .iter()
        .map(|s| (s.table.as_str(), s.action.name()))
        .collect();
    assert!(actions.contains(&("message", "sever")), "{actions:?}");
    assert!(actions.contains(&("order_line", "delete")), "{actions:?}");
    assert!(actions.contains(&("orders", "delete")), "{actions:?}");
    assert!(actions.contains(&("message", "delete")), "{actions:?}");
    let held = plan
        .steps
        .iter()
        .find(|s| s.table == "orders" && s.reason.contains("Art. 17(3)(b)"))
        .expect("held orders are reported");
    assert!(held.reason.contains("Bookkeeping Act"), "{}", held.reason);
    insta::assert_json_snapshot!("shop_erase_customer", plan);
}

#[test]
fn an_employee_access_shows_orders_only_as_mentions() {
    let plan = plan_with(SHOP, &request(RequestKind::Access, "employee_id", "2")).unwrap();
    let orders: Vec<&Step> = plan.steps.iter().filter(|s| s.table == "orders").collect();
    assert_eq!(orders.len(), 1);
    let Action::ReadMentions { columns, via, .. } = &orders[0].action else {
        panic!("a mention read: {:?}", orders[0].action)
    };
    assert_eq!(columns, &["id", "employee_id", "ordered_on"]);
    assert_eq!(via, &["employee_id"]);
    assert!(
        !plan
            .steps
            .iter()
            .any(|s| s.table == "order_line" || s.table == "customer")
    );
    insta::assert_json_snapshot!("shop_access_employee", plan);
}

#[test]
fn a_customer_access_has_their_orders_in_full_and_messages_to_them_as_mentions() {
    let plan = plan_with(SHOP, &request(RequestKind::Access, "customer_id", "1")).unwrap();
    let reads: Vec<(&str, &str)> = plan
        .steps
        .iter()
        .map(|s| (s.table.as_str(), s.action.name()))
        .collect();
    assert!(reads.contains(&("orders", "read")), "{reads:?}");
    assert!(reads.contains(&("order_line", "read")), "{reads:?}");
    assert!(reads.contains(&("message", "read")), "{reads:?}");
    assert!(reads.contains(&("message", "read-mentions")), "{reads:?}");
    assert!(reads.contains(&("address", "read")), "{reads:?}");
    let orders = plan
        .steps
        .iter()
        .find(|s| s.table == "orders" && s.action.name() == "read")
        .unwrap();
    let Action::Read { columns } = &orders.action else {
        panic!()
    };
    assert!(columns.contains(&"ship_name".to_string()));
}

#[test]
fn settings_that_cannot_take_effect_are_listed_and_noted() {
    let text = SHOP
        .replace(
            "columns = { quantity = { category = \"transaction.purchase\", erasure = \"keep\" } }",
            "columns = { quantity = { category = \"transaction.purchase\", erasure = \"keep\" }, order_id = { category = \"transaction.purchase\", erasure = \"hmac\" } }\nowner = \"product\"\nmentions.product_id = { erase = \"keep\" }",
        )
        .replace("mentions.employee_id = { erase = \"keep\"", "mentions.employee_id = { erase = \"hmac\"");
    let o = ownership_of(&text);
    let listed: Vec<String> = o
        .ineffective
        .iter()
        .map(|i| format!("{}: {}", i.table, i.setting))
        .collect();
    assert_eq!(
        listed,
        [
            "order_line: owner = \"product\"",
            "orders: mentions.employee_id.erase = \"hmac\"",
            "order_line: mentions.product_id",
            "order_line: columns.order_id.erasure",
        ],
        "{:#?}",
        o.ineffective
    );
    insta::assert_json_snapshot!("shop_ineffective", o.ineffective);
    // An hmac on a foreign key would break it: the erasure that would sever it is refused.
    let err = plan_with(&text, &request(RequestKind::Erasure, "employee_id", "2")).unwrap_err();
    assert!(matches!(err, PlanError::MentionCannotSever { .. }), "{err}");
    // The others are noted in every plan.
    let plan = plan_with(&text, &request(RequestKind::Access, "customer_id", "1")).unwrap();
    assert!(
        plan.notes
            .iter()
            .any(|n| n.contains("columns.order_id.erasure") && n.contains("foreign-key")),
        "{:?}",
        plan.notes
    );
    // A `null` on a NOT NULL column is refused too.
    let text = SHOP.replace(
        "mentions.recipient_id = { erase = \"null\"",
        "mentions.recipient_id = { erase = \"keep\" }\nmentions.sender_ids = { erase = \"null\"",
    );
    let o = ownership_of(&text);
    assert_eq!(o.ineffective.len(), 1, "{:?}", o.ineffective);
}

#[test]
fn the_keys_are_checked_when_the_declaration_loads() {
    let errors = |text: &str| -> Vec<String> {
        load(&SourceMap::single("shop.toml", text))
            .map(|_| Vec::new())
            .unwrap_or_else(|e| {
                e.into_iter()
                    .map(|d| format!("{} {}", d.message, d.help.unwrap_or_default()))
                    .collect()
            })
    };
    let owner_and_mention = SHOP.replace(
        "owner = \"sender_id\"",
        "owner = \"sender_id\"\nmentions.sender_id = { erase = \"keep\" }",
    );
    let e = errors(&owner_and_mention);
    assert!(
        e.len() == 1 && e[0].contains("is the table's `owner`"),
        "{e:?}"
    );
    for (from, to, suggestion) in [
        ("owner = \"sender_id\"", "ownr = \"sender_id\"", "`owner`"),
        (
            "mentions.recipient_id = { erase = \"null\"",
            "mentions.recipient_id = { erse = \"null\"",
            "`erase`",
        ),
        (
            "mentions.recipient_id = { erase = \"null\"",
            "mentions.recipient_id = { erase = \"nul\"",
            "`null`",
        ),
    ] {
        let e = errors(&SHOP.replace(from, to));
        assert!(
            e.iter()
                .any(|m| m.contains(&format!("did you mean {suggestion}"))),
            "{to}: {e:?}"
        );
    }
}

/// A store refers to its manager, and the staff refer to the store they work at: the store's
/// one candidate leads to a subject whose row refers back, so it is not taken for the
/// manager's; `owner = "none"` makes it the company's, and the manager a mention.
#[test]
fn a_record_in_a_cycle_with_a_person_needs_its_owner() {
    use ValueKind::*;
    let schema = SchemaGraph {
        tables: vec![
            TableSchema {
                name: "staff".into(),
                columns: vec![
                    column("id", Integer, false),
                    column("email", Text, false),
                    column("store_id", Integer, false),
                ],
                primary_key: vec!["id".into()],
                foreign_keys: vec![fk("store_id", "store")],
                ..TableSchema::default()
            },
            TableSchema {
                name: "store".into(),
                columns: vec![
                    column("id", Integer, false),
                    column("manager_id", Integer, false),
                ],
                primary_key: vec!["id".into()],
                foreign_keys: vec![fk("manager_id", "staff")],
                ..TableSchema::default()
            },
        ],
    };
    let text = |store: &str| {
        format!(
            "[[subjects]]\nid = \"staff\"\nname = \"Staff\"\n\n[[datasets]]\nid = \"rent\"\nconnection_env = \"RENT_URL\"\n\n[[datasets.tables]]\nname = \"staff\"\nsubject = \"staff\"\nidentity = {{ email = \"email\" }}\ncolumns = {{ email = \"contact.email\" }}\n{store}"
        )
    };
    let infer = |t: &str| {
        let decl = load(&SourceMap::single("rent.toml", t)).expect("loads");
        let o = Ownership::infer(&decl.doc().datasets[0], &schema);
        let request = request(RequestKind::Erasure, "email", "manager@example.com");
        (o, plan(&decl, &decl.doc().datasets[0], &schema, &request))
    };
    let (o, planned) = infer(&text(""));
    assert!(
        matches!(o.of("store"), Some(TableOwnership::Ambiguous { choices }) if choices.len() == 1)
    );
    assert!(matches!(planned, Err(PlanError::AmbiguousOwner { .. })));
    let (o, planned) = infer(&text(
        "\n[[datasets.tables]]\nname = \"store\"\nowner = \"none\"\n",
    ));
    assert!(matches!(
        o.of("store"),
        Some(TableOwnership::Unowned { declared: true })
    ));
    assert_eq!(o.mentions.len(), 1);
    let plan = planned.expect("a plan");
    assert!(
        plan.steps
            .iter()
            .filter(|s| s.table == "store")
            .all(|s| matches!(s.action, Action::Keep))
    );
}
