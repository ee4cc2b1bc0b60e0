//! Attacks on the chains by someone who can write the store, on SQLite files (always) and
//! PostgreSQL (the server scripts/test.sh starts). Each attack is first shown to pass the
//! chains' own verification, then caught by a signed checkpoint kept outside the store, or
//! by the consent ledger's anchors in the audit log.

use pledge_domain::checkpoint::{Checkpoint, LogKind, SigningKey};
use pledge_domain::consent::{Action, ConsentEvent, ConsentState, Evidence, Method, Target};
use pledge_store::audit::{AuditRecord, Chained};
use pledge_store::checkpoint::LogCheck;
use pledge_store::{Backend, Role, Store};

const T0: i64 = 1_795_000_000;
const NAME: &str = "pledge.test";

fn key() -> SigningKey {
    SigningKey::from_seed(NAME, [42; 32]).unwrap()
}

fn event(n: i64) -> ConsentEvent {
    ConsentEvent {
        subject: format!("visitor-{}", n % 5).parse().unwrap(),
        action: Action::Consent {
            target: Target::Purpose("newsletter".parse().unwrap()),
            state: ConsentState::Given,
        },
        at: T0 + n,
        expires_at: None,
        notice_version: Some("v1".into()),
        text_hash: None,
        method: Method::Banner,
        evidence: Evidence::new(Some("192.0.2.7".parse().unwrap()), Some("Firefox")),
        actor: "banner".into(),
    }
}

/// Twelve audit records and a ledger of 30 events in three groups.
async fn fill(store: &Store) {
    for i in 0..4 {
        store
            .create_key(Role::Service, Some(&format!("k{i}")), "cli", T0 + i)
            .await
            .unwrap();
    }
    for group in [1..=10, 11..=25, 26..=30] {
        let events: Vec<ConsentEvent> = group.map(event).collect();
        store.append_consent(&events).await.unwrap();
    }
    for i in 0..5 {
        store
            .create_key(Role::Service, Some(&format!("m{i}")), "cli", T0 + 10 + i)
            .await
            .unwrap();
    }
}

/// Signs the log as it stands, keeps the copy in the store, and hands back the checkpoint
/// as an outsider reads it from the exported note with the public key.
async fn checkpoint(store: &Store, log: LogKind, at: i64) -> Checkpoint {
    let state = store.log_state(log, None).await.unwrap().unwrap();
    let note = key().sign(&state.checkpoint(NAME, at));
    store.save_checkpoint(&state, at, &note).await.unwrap();
    key().verifier().open(note.as_bytes()).unwrap()
}

/// The tamperer's first step: the append-only triggers go.
async fn unguard(store: &Store) {
    let statements: &[&str] = match store.backend() {
        Backend::Sqlite => &[
            "DROP TRIGGER audit_log_no_update",
            "DROP TRIGGER audit_log_no_delete",
            "DROP TRIGGER consent_events_no_update",
            "DROP TRIGGER consent_events_no_delete",
        ],
        Backend::Postgres => &[
            "ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only",
            "ALTER TABLE consent_events DISABLE TRIGGER consent_events_append_only",
        ],
    };
    for s in statements {
        store.execute_raw(s).await.unwrap();
    }
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Rewrites audit records from `from` on with `edit` applied to each, every hash computed
/// again: the chain stays whole.
async fn rewrite_audit(store: &Store, from: i64, edit: impl Fn(&mut AuditRecord)) {
    let records = store.audit_records(0, 10_000).await.unwrap();
    let mut prev = records.iter().find(|r| r.seq == from - 1).map_or_else(
        || pledge_store::audit::GENESIS.to_string(),
        |r| r.hash.clone(),
    );
    for mut r in records.into_iter().filter(|r| r.seq >= from) {
        edit(&mut r);
        r.prev_hash = prev.clone();
        r.hash = r.compute_hash();
        prev = r.hash.clone();
        store
            .execute_raw(&format!(
                "UPDATE audit_log SET actor = {}, detail = {}, prev_hash = {}, hash = {} WHERE seq = {}",
                quote(&r.actor),
                quote(&r.detail_text),
                quote(&r.prev_hash),
                quote(&r.hash),
                r.seq
            ))
            .await
            .unwrap();
    }
}

/// Appends a forged audit record after the current head, its hash computed as the store's.
async fn forge_audit(store: &Store, action: &str) {
    let last = store.audit_records(0, 10_000).await.unwrap().pop().unwrap();
    let r = AuditRecord::new(
        last.seq + 1,
        last.at,
        "cli",
        action,
        None,
        serde_json::json!({"forged": true}),
        last.hash,
    );
    store
        .execute_raw(&format!(
            "INSERT INTO audit_log (seq, at, actor, action, request_id, detail, prev_hash, hash) VALUES ({}, {}, {}, {}, NULL, {}, {}, {})",
            r.seq,
            r.at,
            quote(&r.actor),
            quote(&r.action),
            quote(&r.detail_text),
            quote(&r.prev_hash),
            quote(&r.hash)
        ))
        .await
        .unwrap();
}

fn problems(check: &LogCheck) -> Vec<String> {
    check
        .checkpoints
        .iter()
        .filter_map(|c| c.problem.clone())
        .collect()
}

async fn intact_by_the_chain_alone(store: &Store) {
    assert_eq!(store.verify_audit().await.unwrap().first_broken, None);
    assert_eq!(store.verify_consent().await.unwrap().first_broken, None);
}

/// The untouched store matches its checkpoints, and records after them are counted as not
/// yet vouched for.
async fn untouched(store: &Store) {
    fill(store).await;
    let a = checkpoint(store, LogKind::AuditLog, T0 + 100).await;
    let c = checkpoint(store, LogKind::ConsentLedger, T0 + 100).await;
    forge_audit(store, "later.append").await;
    let check = store
        .verify_with_checkpoints(LogKind::AuditLog, &[a])
        .await
        .unwrap();
    assert!(check.intact(), "{check:?}");
    assert_eq!(check.not_yet_checkpointed, 1);
    let check = store
        .verify_with_checkpoints(LogKind::ConsentLedger, &[c])
        .await
        .unwrap();
    assert!(check.intact(), "{check:?}");
    assert_eq!(store.verify_anchors().await.unwrap().first_problem, None);
    assert_eq!(store.verify_anchors().await.unwrap().events, 30);
    // The server walks on from its last checkpoint, and signs a log that extends it.
    let last = store
        .latest_checkpoint(LogKind::ConsentLedger)
        .await
        .unwrap()
        .unwrap();
    store.append_consent(&[event(31)]).await.unwrap();
    let on = store
        .log_state(LogKind::ConsentLedger, Some(&last.prefix()))
        .await
        .unwrap()
        .unwrap();
    let whole = store
        .log_state(LogKind::ConsentLedger, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(on, whole);
    assert_eq!(on.size, 31);
}

/// The last records are deleted: the chain that is left is whole.
async fn cut_tail(store: &Store) {
    fill(store).await;
    let cp = checkpoint(store, LogKind::AuditLog, T0 + 100).await;
    unguard(store).await;
    let m = cp.size;
    store
        .execute_raw(&format!("DELETE FROM audit_log WHERE seq > {}", m - 3))
        .await
        .unwrap();
    intact_by_the_chain_alone(store).await;
    let check = store
        .verify_with_checkpoints(LogKind::AuditLog, &[cp])
        .await
        .unwrap();
    let p = problems(&check);
    assert_eq!(p.len(), 1, "{check:?}");
    assert!(
        p[0].contains(&format!(
            "the audit log has {} records, the checkpoint of 2026-11-18T11:08:20Z vouches for {m} > {}",
            m - 3,
            m - 3
        )),
        "{}",
        p[0]
    );
}

/// The last records are replaced by forged ones appended with recomputed hashes, as many
/// as there were or more.
async fn forged_append(store: &Store) {
    fill(store).await;
    let cp = checkpoint(store, LogKind::AuditLog, T0 + 100).await;
    unguard(store).await;
    let m = cp.size;
    store
        .execute_raw(&format!("DELETE FROM audit_log WHERE seq > {}", m - 2))
        .await
        .unwrap();
    for _ in 0..4 {
        forge_audit(store, "key.created").await;
    }
    intact_by_the_chain_alone(store).await;
    let check = store
        .verify_with_checkpoints(LogKind::AuditLog, &[cp])
        .await
        .unwrap();
    let p = problems(&check);
    assert_eq!(p.len(), 1, "{check:?}");
    assert!(
        p[0].starts_with(&format!(
            "record {m} differs from what the checkpoint of 2026-11-18T11:08:20Z signed"
        )),
        "{}",
        p[0]
    );
}

/// A record in the middle is edited and every later hash computed again. With two
/// checkpoints, the rewrite is placed between them.
async fn edit_and_rehash(store: &Store) {
    fill(store).await;
    let early = checkpoint(store, LogKind::AuditLog, T0 + 100).await;
    for i in 0..3 {
        store
            .create_key(Role::Service, Some(&format!("n{i}")), "cli", T0 + 200)
            .await
            .unwrap();
    }
    let late = checkpoint(store, LogKind::AuditLog, T0 + 300).await;
    unguard(store).await;
    let target = early.size as i64 + 2;
    rewrite_audit(store, target, |r| {
        if r.seq == target {
            r.actor = "someone else".into();
        }
    })
    .await;
    intact_by_the_chain_alone(store).await;
    let check = store
        .verify_with_checkpoints(LogKind::AuditLog, &[late.clone(), early.clone()])
        .await
        .unwrap();
    assert!(check.checkpoints[0].problem.is_none(), "{check:?}");
    let p = problems(&check);
    assert_eq!(p.len(), 1, "{check:?}");
    assert!(
        p[0].contains(&format!("record {} differs", late.size))
            && p[0].contains(&format!(
                "rewritten after record {}, which the checkpoint of 2026-11-18T11:08:20Z still matches",
                early.size
            )),
        "{}",
        p[0]
    );
    // The server, walking on from its last checkpoint, refuses to sign the rewritten log.
    let last = store
        .latest_checkpoint(LogKind::AuditLog)
        .await
        .unwrap()
        .unwrap();
    let refused = store
        .log_state(LogKind::AuditLog, Some(&last.prefix()))
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        refused.contains("differs from the last checkpoint"),
        "{refused}"
    );
}

/// A ledger event is edited and the ledger's chain hashed again from there: the ledger
/// verifies, its anchor in the audit log does not match, and neither does its checkpoint.
async fn ledger_rewrite(store: &Store) {
    fill(store).await;
    let cp = checkpoint(store, LogKind::ConsentLedger, T0 + 100).await;
    unguard(store).await;
    let mut rows = store.consent_rows_after(0, 1000).await.unwrap();
    let mut prev = rows[13].hash.clone();
    for r in rows.iter_mut().skip(14) {
        if r.seq == 15 {
            r.state = "refused".into();
        }
        r.prev_hash = prev.clone();
        r.hash = r.compute_hash();
        prev = r.hash.clone();
        store
            .execute_raw(&format!(
                "UPDATE consent_events SET state = {}, prev_hash = {}, hash = {} WHERE seq = {}",
                quote(&r.state),
                quote(&r.prev_hash),
                quote(&r.hash),
                r.seq
            ))
            .await
            .unwrap();
    }
    intact_by_the_chain_alone(store).await;
    let anchors = store.verify_anchors().await.unwrap();
    let problem = anchors.first_problem.unwrap();
    assert!(
        problem.contains("anchors consent events 11 to 25")
            && problem.contains("the ledger was changed"),
        "{problem}"
    );
    let check = store
        .verify_with_checkpoints(LogKind::ConsentLedger, &[cp])
        .await
        .unwrap();
    assert!(
        problems(&check)[0].starts_with("event 30 differs from what the checkpoint"),
        "{check:?}"
    );
}

/// The other way round: an anchor in the audit log is edited to match a changed ledger and
/// the audit chain hashed again; the audit checkpoint catches the rewrite, and a ledger cut
/// below the last anchor is caught by the anchors alone.
async fn anchor_rewrite(store: &Store) {
    fill(store).await;
    let cp = checkpoint(store, LogKind::AuditLog, T0 + 100).await;
    unguard(store).await;
    store
        .execute_raw("DELETE FROM consent_events WHERE seq > 27")
        .await
        .unwrap();
    intact_by_the_chain_alone(store).await;
    let problem = store.verify_anchors().await.unwrap().first_problem.unwrap();
    assert!(
        problem.contains("anchors consent events 26 to 30, but the ledger ends at 27"),
        "{problem}"
    );
    // The tamperer now rewrites the anchor too, and hashes the audit chain again.
    let rows = store.consent_rows_after(0, 1000).await.unwrap();
    let head = rows.last().unwrap().hash.clone();
    let anchor = store
        .audit_records(0, 1000)
        .await
        .unwrap()
        .into_iter()
        .rfind(|r| r.action == "consent.appended")
        .unwrap()
        .seq;
    rewrite_audit(store, anchor, |r| {
        if r.seq == anchor {
            r.detail_text = format!(r#"{{"count":2,"from_seq":26,"head":"{head}","to_seq":27}}"#);
        }
    })
    .await;
    intact_by_the_chain_alone(store).await;
    assert_eq!(store.verify_anchors().await.unwrap().first_problem, None);
    let check = store
        .verify_with_checkpoints(LogKind::AuditLog, &[cp])
        .await
        .unwrap();
    assert_eq!(problems(&check).len(), 1, "{check:?}");
}

async fn sqlite(name: &str) -> (Store, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("pledge-cp-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite:{}", dir.join("store.db").display());
    (Store::open(&url).await.unwrap(), dir)
}

macro_rules! on_sqlite_and_postgres {
    ($($scenario:ident => $sqlite:ident, $postgres:ident;)*) => {$(
        #[tokio::test(flavor = "multi_thread")]
        async fn $sqlite() {
            let (store, dir) = sqlite(stringify!($scenario)).await;
            $scenario(&store).await;
            store.close().await;
            std::fs::remove_dir_all(&dir).ok();
        }

        #[tokio::test(flavor = "multi_thread")]
        async fn $postgres() {
            let Some(url) =
                pledge_testkit::require!(pledge_testkit::POSTGRES_URL, pledge_testkit::postgres_url())
            else {
                return;
            };
            let database = pledge_testkit::postgres_database(&url, "pledge_cp").await;
            $scenario(&Store::open(&database).await.unwrap()).await;
        }
    )*};
}

on_sqlite_and_postgres! {
    untouched => sqlite_untouched_store_matches, postgres_untouched_store_matches;
    cut_tail => sqlite_cut_tail_is_caught, postgres_cut_tail_is_caught;
    forged_append => sqlite_forged_append_is_caught, postgres_forged_append_is_caught;
    edit_and_rehash => sqlite_edit_and_rehash_is_caught, postgres_edit_and_rehash_is_caught;
    ledger_rewrite => sqlite_ledger_rewrite_breaks_its_anchor, postgres_ledger_rewrite_breaks_its_anchor;
    anchor_rewrite => sqlite_anchor_rewrite_is_caught, postgres_anchor_rewrite_is_caught;
}
