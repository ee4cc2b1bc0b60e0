//! The staff's digest of deadlines: a scheduled task that lists the open requests overdue,
//! due within the window, and waiting for someone, and queues one message to each recipient
//! of the setting; nothing when nothing is listed. On SQLite and PostgreSQL.

mod common;

use common::TestApp;
use pledge_domain::workflow::Regime;
use pledge_lang::rights::Right;
use pledge_server::jobs::mail::{self, Context};
use pledge_server::jobs::schedule::{self, Task};
use pledge_server::{Clock, DigestConfig};
use pledge_store::notify::Event;
use pledge_store::{NewRequest, ProvedBy, Store};
use pledge_testkit::StoreBackend;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// 2026-03-02 07:00 UTC.
const T0: i64 = 1_772_434_800;
const DAY: i64 = 86_400;

async fn app(store: Store, clock: Arc<AtomicI64>) -> TestApp {
    TestApp::builder("digest")
        .store(store)
        .clock(Clock::manual(clock))
        .configure(|c| {
            c.digest = Some(DigestConfig {
                schedule: "0 7 * * *".parse().unwrap(),
                recipients: vec!["dpo@example.com".into(), "legal@example.com".into()],
                window_days: 7,
            });
        })
        .without_worker()
        .spawn()
        .await
}

/// A verified GDPR access request received `ago` seconds before T0 (due a month after).
async fn request(app: &TestApp, ago: i64) -> String {
    app.state
        .store
        .create_request(
            NewRequest {
                kind: Right::Access,
                regime: Regime::Gdpr,
                identities: vec![("email".into(), "ana@example.com".into())],
                changes: Vec::new(),
                needs_approval: true,
                verified: true,
                proved_by: ProvedBy::Staff,
                received_at: T0 - ago,
                language: None,
            },
            "staff:test",
        )
        .await
        .unwrap()
        .id
}

async fn digest_lists_what_is_overdue_due_soon_and_waiting(backend: StoreBackend, name: &str) {
    let Some(url) = pledge_testkit::store_url(backend, name).await else {
        return;
    };
    let store = Store::open(&url).await.unwrap();
    let clock = Arc::new(AtomicI64::new(T0));
    let app = app(store, clock.clone()).await;
    let (_stop, stop_rx) = tokio::sync::watch::channel(false);

    // Nothing open: no message.
    let report = schedule::run_once(&app.state, Task::Digest, "tasks:a", T0, &stop_rx)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(report["sent"], false, "{report}");
    assert!(app.state.store.staff_outbox().await.unwrap().is_empty());

    let overdue = request(&app, 40 * DAY).await;
    let soon = request(&app, 27 * DAY).await;
    let later = request(&app, 2 * DAY).await;
    let waiting = request(&app, 3 * DAY).await;
    // A job that failed for good waits for staff; set directly (the workflow's way there
    // is a worker's failure, tested in jobs.rs).
    app.state
        .store
        .execute_raw(&format!(
            "UPDATE requests SET state = 'needs_action' WHERE id = '{waiting}'"
        ))
        .await
        .unwrap();
    let fire = T0 + DAY;
    clock.store(fire, Ordering::SeqCst);
    let report = schedule::run_once(&app.state, Task::Digest, "tasks:a", fire, &stop_rx)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(report["sent"], true, "{report}");
    assert_eq!(report["counts"]["overdue"], 1, "{report}");
    assert_eq!(report["counts"]["due_soon"], 1, "{report}");
    let queued = app.state.store.staff_outbox().await.unwrap();
    let mut to: Vec<&str> = queued.iter().map(|m| m.recipient.as_str()).collect();
    to.sort_unstable();
    assert_eq!(to, ["dpo@example.com", "legal@example.com"]);
    assert!(
        queued
            .iter()
            .all(|m| m.event == Event::Digest && m.request_id.is_none())
    );

    // What the mailer sends: the lists, each request with its deadline and console page.
    let messages = app.state.store.claim_messages(10, 60, fire).await.unwrap();
    let digest = messages
        .iter()
        .find(|m| m.event == Event::Digest)
        .expect("a digest to send");
    let text = mail::render(Event::Digest, &digest.data, &Context::of(&app.state)).unwrap();
    assert!(
        text.subject.contains("1 overdue, 1 due within 7 days"),
        "{}",
        text.subject
    );
    assert!(
        text.body.contains(&format!("{overdue}: access (GDPR)")),
        "{}",
        text.body
    );
    assert!(
        text.body.contains(&format!("/console/requests/{soon}")),
        "{}",
        text.body
    );
    assert!(
        !text.body.contains(&later),
        "not due within the window: {}",
        text.body
    );
    assert!(
        text.body
            .contains(&format!("Waiting for someone to act (1):\n  - {waiting}")),
        "{}",
        text.body
    );
    assert!(
        !text.body.contains("ana@example.com"),
        "no identities: {}",
        text.body
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_digest_lists_what_is_overdue_due_soon_and_waiting() {
    digest_lists_what_is_overdue_due_soon_and_waiting(StoreBackend::Sqlite, "digest-sqlite").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_digest_lists_what_is_overdue_due_soon_and_waiting() {
    digest_lists_what_is_overdue_due_soon_and_waiting(StoreBackend::Postgres, "digest-postgres")
        .await;
}
