//! Retention planner tests as data: a declaration and a schema graph in, a sweep plan out
//! (as a snapshot).

use pledge_lang::model::RetentionAction;
use pledge_lang::rights::RequestKind;
use pledge_lang::time::CivilTime;
use pledge_lang::{SourceMap, load};
use pledge_plan::retention::{RetentionPlan, retention};
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

fn fk(column: &str, table: &str) -> ForeignKey {
    ForeignKey {
        columns: vec![column.into()],
        ref_table: table.into(),
        ref_columns: vec!["id".into()],
    }
}

/// accounts ← sessions ← session_events (undeclared), sessions ← audit_log (its own
/// retention), accounts ← invoices (held).
fn app() -> SchemaGraph {
    use ValueKind::*;
    let table = |name: &str, columns: Vec<ColumnSchema>, fks: Vec<ForeignKey>| TableSchema {
        name: name.into(),
        columns,
        primary_key: vec!["id".into()],
        foreign_keys: fks,
        ..Default::default()
    };
    SchemaGraph {
        tables: vec![
            table(
                "accounts",
                vec![
                    column("id", Integer, false),
                    column("email", Text, false),
                    column("name", Text, true),
                    column("birth_date", Temporal, true),
                    column("country", Text, true),
                    column("street", Text, true),
                    column("closed_at", Temporal, true),
                ],
                vec![],
            ),
            table(
                "sessions",
                vec![
                    column("id", Integer, false),
                    column("account_id", Integer, false),
                    column("last_seen_at", Temporal, false),
                    column("created_at", Temporal, false),
                    column("ip", Text, true),
                    column("user_agent", Text, true),
                ],
                vec![fk("account_id", "accounts")],
            ),
            table(
                "session_events",
                vec![
                    column("id", Integer, false),
                    column("session_id", Integer, false),
                    column("path", Text, false),
                ],
                vec![fk("session_id", "sessions")],
            ),
            table(
                "audit_log",
                vec![
                    column("id", Integer, false),
                    column("session_id", Integer, true),
                    column("at", Temporal, false),
                    column("ip", Text, true),
                ],
                vec![fk("session_id", "sessions")],
            ),
            table(
                "invoices",
                vec![
                    column("id", Integer, false),
                    column("account_id", Integer, false),
                    column("issued_at", Temporal, false),
                    column("billing_address", Text, true),
                ],
                vec![fk("account_id", "accounts")],
            ),
        ],
    }
}

fn now() -> CivilTime {
    CivilTime::from_unix(1_795_000_000) // 2026-11-18 11:06:40
}

fn plan_for(only: Option<&str>) -> Result<RetentionPlan, PlanError> {
    let text = include_str!("plans/retention.toml");
    let decl = load(&SourceMap::single("retention.toml", text)).expect("loads");
    retention(&decl, &decl.doc().datasets[0], &app(), now(), only)
}

fn summary(plan: &RetentionPlan) -> Vec<String> {
    plan.sweeps
        .iter()
        .flat_map(|s| {
            s.steps.iter().map(move |step| {
                let action = match &step.action {
                    Action::Delete { .. } => "delete",
                    Action::Mask { .. } => "mask",
                    _ => "other",
                };
                format!("{}: {action} {}", s.table, step.table)
            })
        })
        .collect()
}

#[test]
fn sweeps_run_children_first_and_take_dependent_rows_along() {
    let plan = plan_for(None).unwrap();
    let tables: Vec<&str> = plan.sweeps.iter().map(|s| s.table.as_str()).collect();
    // The audit log refers to sessions, sessions to accounts: children are swept first.
    assert_eq!(tables, ["audit_log", "sessions", "accounts"]);
    assert_eq!(
        summary(&plan),
        [
            "audit_log: delete audit_log",
            // session_events has no retention and holds no people: it goes with its session.
            "sessions: delete session_events",
            "sessions: delete sessions",
            "sessions: mask sessions",
            "accounts: mask accounts",
        ]
    );
    let sessions = &plan.sweeps[1];
    assert_eq!(sessions.action, RetentionAction::Delete);
    assert_eq!(sessions.cutoff, "2025-10-18 11:06:40");
    // The audit log keeps its own period: a session it still refers to is kept, anonymised.
    assert!(
        sessions
            .reason
            .contains("`audit_log` (has a retention period of its own)")
    );
    assert_eq!(sessions.held.len(), 1);
    insta::assert_json_snapshot!("retention", plan);
}

#[test]
fn anonymisation_clears_or_generalises_every_personal_column() {
    let plan = plan_for(Some("accounts")).unwrap();
    assert_eq!(plan.sweeps.len(), 1);
    let Action::Mask { assignments } = &plan.sweeps[0].steps[0].action else {
        panic!("accounts are anonymised")
    };
    let masks: Vec<(&str, &Mask)> = assignments
        .iter()
        .map(|a| (a.column.as_str(), &a.mask))
        .collect();
    assert_eq!(
        masks,
        [
            // NOT NULL: a neutral value. The identity column is personal data too.
            ("email", &Mask::Fixed(Value::Text("erased".into()))),
            ("name", &Mask::Null),
            ("birth_date", &Mask::Year),
            // `hmac` is a pseudonym, still personal data: anonymisation clears it.
            ("street", &Mask::Null),
        ]
    );
    // The batch only takes rows that still have something to anonymise.
    let Filter::All { filters } = &plan.sweeps[0].pending else {
        panic!()
    };
    assert!(matches!(filters.last(), Some(Filter::Unmasked { .. })));
}

#[test]
fn held_rows_are_not_pending_and_are_reported() {
    let plan = plan_for(Some("sessions")).unwrap();
    let sweep = &plan.sweeps[0];
    let json = serde_json::to_string(&sweep.pending).unwrap();
    // Expired, and the hold (three years from created_at) has ended.
    assert!(
        json.contains(r#""type":"before","column":"last_seen_at","cutoff":"2025-10-18 11:06:40""#),
        "{json}"
    );
    assert!(
        json.contains(r#""type":"before","column":"created_at","cutoff":"2023-11-18 11:06:40""#),
        "{json}"
    );
    assert!(sweep.held[0].reason.contains("payment disputes"));
}

#[test]
fn a_table_without_retention_is_named() {
    let err = plan_for(Some("invoices")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "table `invoices` of dataset `app` declares no retention"
    );
}

#[test]
fn a_table_without_primary_key_is_left_out_with_a_note() {
    let text = include_str!("plans/retention.toml");
    let decl = load(&SourceMap::single("retention.toml", text)).unwrap();
    let mut schema = app();
    for t in &mut schema.tables {
        if t.name == "audit_log" {
            t.primary_key.clear();
        }
    }
    let plan = retention(&decl, &decl.doc().datasets[0], &schema, now(), None).unwrap();
    assert!(plan.sweeps.iter().all(|s| s.table != "audit_log"));
    assert!(plan.notes[0].contains("no primary key"), "{:?}", plan.notes);
}

/// Erasure on the same schema: invoices are referred to by nothing and reached only through
/// accounts, which nothing holds, so their deletion takes every non-held row and only the held
/// ones are left to pseudonymise; audit-log rows of held sessions stay, so they are masked.
#[test]
fn erasure_masks_only_what_its_deletions_leave() {
    let text = include_str!("plans/retention.toml");
    let decl = load(&SourceMap::single("retention.toml", text)).expect("loads");
    let request = Request {
        kind: RequestKind::Erasure,
        identities: vec![("email".parse().unwrap(), vec!["ada@example.com".into()])],
        changes: vec![],
        now: now(),
    };
    let plan = plan(&decl, &decl.doc().datasets[0], &app(), &request).expect("plans");
    let steps = |table: &str| -> Vec<(&str, String)> {
        plan.steps
            .iter()
            .filter(|s| s.table == table)
            .map(|s| (s.action.name(), s.reason.clone()))
            .collect()
    };
    let invoices = steps("invoices");
    assert_eq!(invoices.len(), 2, "{invoices:?}");
    assert_eq!(invoices[0].0, "delete");
    assert_eq!(invoices[1].0, "mask");
    assert!(invoices[1].1.contains("bookkeeping"), "{invoices:?}");
    let audit: Vec<&str> = steps("audit_log").into_iter().map(|(a, _)| a).collect();
    assert_eq!(audit, ["delete", "mask"]);
}
