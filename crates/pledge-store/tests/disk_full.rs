//! A SQLite store on a real filesystem that fills up: writes fail with a clear error while
//! the disk is full and work again once space is freed, without reopening the store.
//!
//! The filesystem is a small tmpfs mounted for the test (`pledge_testkit::SmallDisk`),
//! which needs root (or the capability to mount). Elsewhere the test is skipped with the
//! reason, except in CI, where it fails.

use pledge_domain::workflow::Regime;
use pledge_lang::rights::Right;
use pledge_store::{NewRequest, ProvedBy, Store};
use pledge_testkit::SmallDisk;
use std::path::Path;

const T0: i64 = 1_795_000_000;

fn request(n: usize) -> NewRequest {
    NewRequest {
        kind: Right::Access,
        regime: Regime::Gdpr,
        identities: vec![("email".into(), format!("person{n}@example.com"))],
        changes: vec![],
        needs_approval: true,
        verified: true,
        proved_by: ProvedBy::Staff,
        received_at: T0,
        language: None,
    }
}

fn store_url(dir: &Path) -> String {
    format!("sqlite:{}", dir.join("store.db").display())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_disk_fails_writes_clearly_and_the_store_recovers_when_space_is_back() {
    let disk = SmallDisk::mount("store-disk-full", "2M");
    let Some(disk) = pledge_testkit::require!("a mountable tmpfs", disk) else {
        return;
    };
    let store = Store::open(&store_url(&disk.dir)).await.unwrap();
    store.create_request(request(0), "key:a").await.unwrap();
    assert!(store.probe_write(T0).await.is_ok());
    let filler = disk.fill();
    // Every connection of the pool meets the full disk, some more than once.
    let mut failures = Vec::new();
    for n in 1..=12 {
        match store.create_request(request(n), "key:a").await {
            Ok(_) => {}
            Err(e) => failures.push(e),
        }
    }
    assert!(
        failures.len() >= 8,
        "writes on a full disk should fail: {} of 12 did",
        failures.len()
    );
    for e in &failures {
        assert!(e.retryable(), "a full disk is transient: {e}");
        let text = e.to_string();
        assert!(
            text.contains("full") || text.contains("disk I/O"),
            "the error should say the disk is full: {text}"
        );
    }
    let probe = store.probe_write(T0 + 1).await;
    assert!(probe.is_err(), "the write probe should fail on a full disk");
    assert!(store.last_write_error().is_some());
    // Space comes back: the same store, without a restart, writes again, on every
    // connection of its pool.
    std::fs::remove_file(filler).unwrap();
    for n in 100..112 {
        store
            .create_request(request(n), "key:a")
            .await
            .unwrap_or_else(|e| panic!("write {n} after space came back: {e}"));
    }
    store.probe_write(T0 + 2).await.unwrap();
    assert_eq!(store.last_write_error(), None);
    assert!(store.verify_audit().await.unwrap().first_broken.is_none());
    store.close().await;
}
