//! The consent ledger on SQLite (always) and PostgreSQL (the server scripts/test.sh starts):
//! grouped appends keep one chain, the audit log anchors each group, the rows read back as
//! the events written, and verification names an edited or deleted event.

use pledge_domain::consent::{Action, ConsentEvent, ConsentState, Evidence, Method, Target};
use pledge_store::Store;

const T0: i64 = 1_795_000_000;

fn event(n: i64, state: ConsentState) -> ConsentEvent {
    ConsentEvent {
        subject: format!("visitor-{}", n % 7).parse().unwrap(),
        action: Action::Consent {
            target: Target::Purpose("newsletter".parse().unwrap()),
            state,
        },
        at: T0 + n,
        expires_at: (state == ConsentState::Given).then_some(T0 + n + 1000),
        notice_version: Some("v3".into()),
        text_hash: Some("ab".repeat(32)),
        method: Method::Banner,
        evidence: Evidence::new(
            Some("2001:db8:1:2::9".parse().unwrap()),
            Some("Mozilla/5.0 \"test\""),
        ),
        actor: "banner".into(),
    }
}

async fn suite(store: &Store, tamper: bool) {
    let first: Vec<ConsentEvent> = (1..=150).map(|n| event(n, ConsentState::Given)).collect();
    let rows = store.append_consent(&first).await.unwrap();
    assert_eq!(rows.len(), 150);
    assert_eq!((rows[0].seq, rows[149].seq), (1, 150));
    let second = vec![
        event(151, ConsentState::Withdrawn),
        ConsentEvent {
            action: Action::Link {
                to: "user-1".parse().unwrap(),
            },
            ..event(152, ConsentState::Given)
        },
    ];
    let more = store.append_consent(&second).await.unwrap();
    assert_eq!(more[0].prev_hash, rows[149].hash);
    assert!(store.append_consent(&[]).await.unwrap().is_empty());

    // What was written reads back, event for event.
    let all = store.consent_rows_after(0, 1000).await.unwrap();
    assert_eq!(all.len(), 152);
    assert_eq!(all[0].event().unwrap(), first[0]);
    assert_eq!(all[151].event().unwrap(), second[1]);
    assert_eq!(all[0].ip.as_deref(), Some("2001:db8:1::/48"));
    let page = store.consent_rows_after(150, 1).await.unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].seq, 151);

    // The decision index's snapshot: none at first; a later one replaces an earlier one,
    // never the reverse (replicas sharing the store each write theirs).
    assert!(store.consent_index_snapshot().await.unwrap().is_none());
    let snapshot = |seq: i64| pledge_store::ledger::IndexSnapshot {
        last_seq: seq,
        last_hash: all[seq as usize - 1].hash.clone(),
        format: 1,
        body: vec![seq as u8, 0, 255],
    };
    assert_eq!(
        store.consent_hash_at(150).await.unwrap().as_deref(),
        Some(all[149].hash.as_str())
    );
    assert_eq!(store.consent_hash_at(999).await.unwrap(), None);
    assert!(
        store
            .save_consent_index_snapshot(&snapshot(150), 10)
            .await
            .unwrap()
    );
    assert!(
        !store
            .save_consent_index_snapshot(&snapshot(100), 11)
            .await
            .unwrap()
    );
    assert_eq!(
        store.consent_index_snapshot().await.unwrap(),
        Some(snapshot(150))
    );
    assert!(
        store
            .save_consent_index_snapshot(&snapshot(152), 12)
            .await
            .unwrap()
    );
    assert_eq!(
        store.consent_index_snapshot().await.unwrap(),
        Some(snapshot(152))
    );

    let history = store
        .consent_history(&["visitor-3".parse().unwrap()])
        .await
        .unwrap();
    assert!(history.iter().all(|r| r.subject == "visitor-3"));
    assert_eq!(history.len(), 22);

    let v = store.verify_consent().await.unwrap();
    assert_eq!(v.records, 152);
    assert_eq!(v.first_broken, None);
    assert_eq!(v.head, more[1].hash);
    for (parts, size) in [(5, 7), (4, 38), (152, 1), (300, 1)] {
        assert_eq!(
            store.verify_consent_in_parts(parts, size).await.unwrap(),
            v,
            "{parts} parts of {size}"
        );
    }

    // One audit record per group, naming its range and head.
    let audit = store.audit_records(0, 100).await.unwrap();
    let anchors: Vec<_> = audit
        .iter()
        .filter(|r| r.action == "consent.appended")
        .collect();
    assert_eq!(anchors.len(), 2);
    assert_eq!(anchors[1].detail["head"], more[1].hash.as_str());
    assert_eq!(anchors[1].detail["from_seq"], 151);

    // Append-only: the database refuses edits and deletions.
    assert!(
        store
            .execute_raw("UPDATE consent_events SET state = 'refused' WHERE seq = 5")
            .await
            .is_err()
    );
    assert!(
        store
            .execute_raw("DELETE FROM consent_events WHERE seq = 5")
            .await
            .is_err()
    );
    if tamper {
        // Someone who drops the triggers and edits a row is named by verification.
        store
            .execute_raw("DROP TRIGGER consent_events_no_update")
            .await
            .unwrap();
        store
            .execute_raw("UPDATE consent_events SET state = 'refused' WHERE seq = 40")
            .await
            .unwrap();
        let v = store.verify_consent().await.unwrap();
        assert_eq!(v.first_broken.as_ref().map(|b| b.seq), Some(40));
        assert_eq!(v.records, 39);
        // Walked in parts side by side, the same event is named, wherever the cuts fall.
        for (parts, size) in [(5, 7), (3, 39), (4, 40), (200, 1)] {
            let v = store.verify_consent_in_parts(parts, size).await.unwrap();
            assert_eq!(
                v.first_broken.as_ref().map(|b| b.seq),
                Some(40),
                "{parts} parts"
            );
            assert_eq!(v.records, 39, "{parts} parts");
        }
        // Removing a whole part's worth of events is named at the first one missing.
        store
            .execute_raw("DROP TRIGGER consent_events_no_delete")
            .await
            .unwrap();
        store
            .execute_raw("DELETE FROM consent_events WHERE seq BETWEEN 11 AND 20")
            .await
            .unwrap();
        for (parts, size) in [(1, 1000), (15, 10), (7, 3)] {
            let v = store.verify_consent_in_parts(parts, size).await.unwrap();
            assert_eq!(
                v.first_broken.as_ref().map(|b| b.seq),
                Some(11),
                "{parts} parts"
            );
            assert_eq!(v.records, 10, "{parts} parts");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_file() {
    let dir = std::env::temp_dir().join(format!("pledge-ledger-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("store.db");
    let _ = std::fs::remove_file(&path);
    let store = Store::open(&format!("sqlite:{}", path.display()))
        .await
        .unwrap();
    suite(&store, true).await;
    store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_concurrent_appenders_keep_one_chain() {
    let dir = std::env::temp_dir().join(format!("pledge-ledger-conc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("store.db");
    let _ = std::fs::remove_file(&path);
    let store = Store::open(&format!("sqlite:{}", path.display()))
        .await
        .unwrap();
    concurrent(&store).await;
    store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}

async fn concurrent(store: &Store) {
    concurrent_after(store, 0).await;
}

/// A fresh database inside the test PostgreSQL server.
async fn postgres_store(url: &str) -> Store {
    let database = pledge_testkit::postgres_database(url, "pledge_ledger").await;
    Store::open(&database).await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres() {
    let Some(url) =
        pledge_testkit::require!(pledge_testkit::POSTGRES_URL, pledge_testkit::postgres_url())
    else {
        return;
    };
    let store = postgres_store(&url).await;
    suite(&store, false).await;
    concurrent_after(&store, 152).await;
}

/// Eight tasks append 50 groups at once; the chain stays one.
async fn concurrent_after(store: &Store, before: u64) {
    let tasks: Vec<_> = (0..8)
        .map(|t| {
            let store = store.clone();
            tokio::spawn(async move {
                for i in 0..10 {
                    let batch: Vec<ConsentEvent> = (0..5)
                        .map(|k| event(t * 1000 + i * 10 + k, ConsentState::Given))
                        .collect();
                    store.append_consent(&batch).await.unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let v = store.verify_consent().await.unwrap();
    assert_eq!((v.records, v.first_broken), (before + 400, None));
}
