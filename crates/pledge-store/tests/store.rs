//! The same suite on SQLite (always) and PostgreSQL (the server scripts/test.sh starts).

use pledge_domain::workflow::{Regime, State, Transition};
use pledge_lang::rights::Right;
use pledge_store::{
    Backend, Error, JobFailure, LinkRefusal, NewRequest, ProvedBy, RequestFilter, Role,
    SealedExport, Store,
};

const T0: i64 = 1_795_000_000; // 2026-11-17

fn new_request(kind: Right, verified: bool, needs_approval: bool) -> NewRequest {
    NewRequest {
        kind,
        regime: Regime::Gdpr,
        identities: vec![("email".into(), "ana@example.com".into())],
        changes: vec![],
        needs_approval,
        verified,
        proved_by: ProvedBy::Staff,
        received_at: T0,
        language: None,
    }
}

/// What the server hands the store: the bytes stand for a ciphertext.
fn sealed(bytes: &str, expires_at: i64) -> SealedExport {
    SealedExport {
        export_id: "exp_1".into(),
        key_id: "k1".into(),
        wrapped_key: vec![1, 2, 3],
        ciphertext: bytes.as_bytes().to_vec(),
        expires_at,
    }
}

async fn suite(store: Store) {
    keys(&store).await;
    workflow(&store).await;
    jobs(&store).await;
    listing(&store).await;
    task_leases(&store).await;
    links_and_expiry(&store).await;
    forwarding(&store).await;
    // Last: it breaks the chain on purpose.
    audit_chain(&store).await;
}

/// A request forwarded to two recipients waits for both callbacks, then completes once.
async fn forwarding(store: &Store) {
    use pledge_store::forward::{CallbackOutcome, ForwardState};
    let now = T0 + 20_000;
    let r = store
        .create_request(new_request(Right::Erasure, true, false), "key:a")
        .await
        .unwrap();
    let job = loop {
        let job = store.claim_job("w", 30, now).await.unwrap().unwrap();
        if job.request_id == r.id {
            break job;
        }
        store
            .complete_job(&job, &serde_json::json!({}), None, &[], now)
            .await
            .unwrap();
    };
    let to = ["crm".to_string(), "mailer".to_string()];
    assert!(
        store
            .complete_job(&job, &serde_json::json!({}), None, &to, now)
            .await
            .unwrap()
    );
    assert_eq!(
        store.get_request(&r.id).await.unwrap().state,
        State::AwaitingExternal
    );
    let claimed = store.claim_forwards(10, 30, now).await.unwrap();
    let ours: Vec<_> = claimed.iter().filter(|f| f.request_id == r.id).collect();
    assert_eq!(ours.len(), 2);
    // Claimed under a lease: not handed out twice.
    assert!(store.claim_forwards(10, 30, now).await.unwrap().is_empty());
    store.forward_delivered(ours[0], now).await.unwrap();
    store
        .forward_failed(ours[1], "connection refused", 5, now)
        .await
        .unwrap();
    // Retried after a back-off.
    assert!(
        store
            .claim_forwards(10, 30, now + 1)
            .await
            .unwrap()
            .is_empty()
    );
    let again = store.claim_forwards(10, 30, now + 3600).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempts, 2);
    store
        .forward_delivered(&again[0], now + 3600)
        .await
        .unwrap();

    let status = store
        .record_callback(
            &r.id,
            "crm",
            CallbackOutcome::Done,
            None,
            None,
            "key:s",
            now + 3601,
        )
        .await
        .unwrap();
    assert_eq!(status[0].state, ForwardState::Done);
    assert_eq!(
        store.get_request(&r.id).await.unwrap().state,
        State::AwaitingExternal,
        "one recipient still owes its report"
    );
    assert!(matches!(
        store
            .record_callback(
                &r.id,
                "billing",
                CallbackOutcome::Done,
                None,
                None,
                "key:s",
                now + 3601
            )
            .await,
        Err(Error::NotForwarded(_))
    ));
    store
        .record_callback(
            &r.id,
            "mailer",
            CallbackOutcome::Failed,
            Some("no subscriber ana@example.com"),
            None,
            "key:s",
            now + 3602,
        )
        .await
        .unwrap();
    assert_eq!(
        store.get_request(&r.id).await.unwrap().state,
        State::AwaitingExternal
    );
    store
        .record_callback(
            &r.id,
            "mailer",
            CallbackOutcome::Done,
            Some("removed ana@example.com"),
            None,
            "key:s",
            now + 3603,
        )
        .await
        .unwrap();
    assert_eq!(
        store.get_request(&r.id).await.unwrap().state,
        State::Completed
    );
    assert!(matches!(
        store
            .record_callback(
                &r.id,
                "mailer",
                CallbackOutcome::Done,
                None,
                None,
                "key:s",
                now + 3604
            )
            .await,
        Err(Error::NotForwarded(_))
    ));
    // The audit log, never minimised, holds what a recipient said only as a hash.
    let reports = store
        .audit_records_of("forward.reported", None, 100)
        .await
        .unwrap();
    assert!(!reports.is_empty());
    assert!(
        !format!("{reports:?}").contains("ana@example.com"),
        "{reports:?}"
    );

    // Minimised once closed long enough: no address is left in clear, in the request, its
    // messages or what the recipients reported.
    let before: Vec<String> = store
        .outbox(&r.id)
        .await
        .unwrap()
        .iter()
        .map(|m| m.recipient.clone())
        .collect();
    assert!(
        before.iter().all(|to| to == "ana@example.com"),
        "{before:?}"
    );
    let expiry = store
        .expire_own_data("maintenance", now + 10_000, now + 10_000)
        .await
        .unwrap();
    assert!(expiry.requests_minimised.contains(&r.id));
    let outbox = store.outbox(&r.id).await.unwrap();
    assert!(!outbox.is_empty());
    for m in &outbox {
        assert!(m.recipient.starts_with("sha256:"), "{m:?}");
        assert!(!format!("{m:?}").contains("ana@example.com"), "{m:?}");
    }
    for f in store.forwards(&r.id).await.unwrap() {
        assert!(!format!("{f:?}").contains("ana@example.com"), "{f:?}");
    }
    let request = store.get_request(&r.id).await.unwrap();
    assert!(!format!("{request:?}").contains("ana@example.com"));

    // Sent back from awaiting_external to run again: its job is queued afresh (a request
    // in progress always has one), and the run waits only for what is still open.
    let r = store
        .create_request(new_request(Right::Erasure, true, false), "key:a")
        .await
        .unwrap();
    let job = loop {
        let job = store.claim_job("w", 30, now).await.unwrap().unwrap();
        if job.request_id == r.id {
            break job;
        }
        store
            .complete_job(&job, &serde_json::json!({}), None, &[], now)
            .await
            .unwrap();
    };
    let to = ["crm".to_string()];
    store
        .complete_job(&job, &serde_json::json!({}), None, &to, now)
        .await
        .unwrap();
    store
        .transition(
            &r.id,
            &Transition::To(State::InProgress),
            "key:staff",
            now + 1,
        )
        .await
        .unwrap();
    assert!(store.orphaned_requests().await.unwrap().is_empty());
    let job = store.claim_job("w", 30, now + 2).await.unwrap().unwrap();
    assert_eq!(job.request_id, r.id);
    store
        .complete_job(&job, &serde_json::json!({}), None, &to, now + 3)
        .await
        .unwrap();
    assert_eq!(
        store.get_request(&r.id).await.unwrap().state,
        State::AwaitingExternal
    );
    store
        .record_callback(
            &r.id,
            "crm",
            CallbackOutcome::Done,
            None,
            None,
            "key:s",
            now + 4,
        )
        .await
        .unwrap();
    assert_eq!(
        store.get_request(&r.id).await.unwrap().state,
        State::Completed
    );

    // A delivery given up: no report will come, so the request needs action; staff retry
    // it and the delivery is queued afresh.
    let r = store
        .create_request(new_request(Right::Erasure, true, false), "key:a")
        .await
        .unwrap();
    let job = loop {
        let job = store.claim_job("w", 30, now).await.unwrap().unwrap();
        if job.request_id == r.id {
            break job;
        }
        store
            .complete_job(&job, &serde_json::json!({}), None, &[], now)
            .await
            .unwrap();
    };
    store
        .complete_job(&job, &serde_json::json!({}), None, &to, now)
        .await
        .unwrap();
    let claimed = store.claim_forwards(10, 30, now).await.unwrap();
    let ours = claimed.iter().find(|f| f.request_id == r.id).unwrap();
    store
        .forward_failed(ours, "HTTP 410", ours.attempts, now + 1)
        .await
        .unwrap();
    let stopped = store.get_request(&r.id).await.unwrap();
    assert_eq!(stopped.state, State::NeedsAction);
    let events = store.request_events(&r.id).await.unwrap();
    assert!(
        events
            .last()
            .unwrap()
            .reason
            .as_deref()
            .unwrap()
            .contains("the delivery to `crm` was given up")
    );
    store
        .transition(
            &r.id,
            &Transition::To(State::InProgress),
            "key:staff",
            now + 2,
        )
        .await
        .unwrap();
    let job = store.claim_job("w", 30, now + 3).await.unwrap().unwrap();
    assert_eq!(job.request_id, r.id);
    store
        .complete_job(&job, &serde_json::json!({}), None, &to, now + 3)
        .await
        .unwrap();
    assert_eq!(
        store.get_request(&r.id).await.unwrap().state,
        State::AwaitingExternal
    );
    let forwards = store.forwards(&r.id).await.unwrap();
    assert_eq!(forwards[0].state, ForwardState::Queued);
    assert_eq!(forwards[0].attempts, 0);
}

async fn task_leases(store: &Store) {
    let fire = T0 + 3600;
    // Two replicas wake for the same fire time: one runs it.
    assert!(
        store
            .take_task_lease("retention", "a", fire, 60, fire)
            .await
            .unwrap()
    );
    assert!(
        !store
            .take_task_lease("retention", "b", fire, 60, fire)
            .await
            .unwrap()
    );
    // The next fire time while a still runs: b waits.
    assert!(
        !store
            .take_task_lease("retention", "b", fire + 60, 60, fire + 30)
            .await
            .unwrap()
    );
    assert!(
        store
            .renew_task_lease("retention", "a", 60, fire + 40)
            .await
            .unwrap()
    );
    // a dies; once its lease expired, b takes the next fire over.
    assert!(
        store
            .take_task_lease("retention", "b", fire + 120, 60, fire + 101)
            .await
            .unwrap()
    );
    assert!(
        !store
            .renew_task_lease("retention", "a", 60, fire + 102)
            .await
            .unwrap()
    );
    store
        .finish_task(
            "retention",
            "b",
            "retention.run",
            serde_json::json!({"fire": fire + 120}),
            fire + 130,
        )
        .await
        .unwrap();
    // a comes back and records what it did: the run is kept, marked as having lost the lease.
    store
        .finish_task(
            "retention",
            "a",
            "retention.run",
            serde_json::json!({"fire": fire}),
            fire + 131,
        )
        .await
        .unwrap();
    let runs = store
        .audit_records_of("retention.run", None, 10)
        .await
        .unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0].actor, "a");
    assert_eq!(runs[0].detail["lease_lost"], true);
    assert_eq!(runs[1].detail.get("lease_lost"), None);
    // Free again: the next fire time is taken at once; an old one never again.
    assert!(
        store
            .take_task_lease("retention", "a", fire + 180, 60, fire + 180)
            .await
            .unwrap()
    );
    store
        .finish_task(
            "retention",
            "a",
            "retention.run",
            serde_json::json!({}),
            fire + 181,
        )
        .await
        .unwrap();
    assert!(
        !store
            .take_task_lease("retention", "b", fire + 180, 60, fire + 200)
            .await
            .unwrap()
    );
    // Tasks are independent.
    assert!(
        store
            .take_task_lease("maintenance", "b", fire, 60, fire)
            .await
            .unwrap()
    );
}

async fn links_and_expiry(store: &Store) {
    let now = T0 + 10_000;
    let r = store
        .create_request(new_request(Right::Access, true, false), "key:a")
        .await
        .unwrap();
    let job = loop {
        let job = store.claim_job("w", 30, now).await.unwrap().unwrap();
        if job.request_id == r.id {
            break job;
        }
        store
            .complete_job(&job, &serde_json::json!({}), None, &[], now)
            .await
            .unwrap();
    };
    store
        .complete_job(
            &job,
            &serde_json::json!({}),
            Some(&sealed("secret", now + 1000)),
            &[],
            now,
        )
        .await
        .unwrap();
    // No link for a request without an export.
    let other = store
        .create_request(new_request(Right::Erasure, true, true), "key:a")
        .await
        .unwrap();
    assert!(matches!(
        store
            .create_export_link(&other.id, "h0", now + 50, "key:a", now)
            .await,
        Err(Error::NoExport(_))
    ));
    // A link never outlives its export.
    let expires = store
        .create_export_link(&r.id, "h1", now + 5000, "key:a", now)
        .await
        .unwrap();
    assert_eq!(expires, now + 1000);
    store
        .create_export_link(&r.id, "h2", now + 10, "key:a", now)
        .await
        .unwrap();
    // If opening fails, the link stays unused.
    assert!(matches!(
        store
            .use_export_link("h1", now + 1, |_| Err("bad key".into()))
            .await,
        Err(Error::Sealed(_))
    ));
    let (id, zip) = store
        .use_export_link("h1", now + 2, |e| Ok(e.bytes.clone()))
        .await
        .unwrap();
    assert_eq!(
        (id.as_str(), zip.as_slice()),
        (r.id.as_str(), b"secret".as_slice())
    );
    // Once only.
    assert!(matches!(
        store.use_export_link("h1", now + 3, |e| Ok(e.bytes.clone())).await,
        Err(Error::Link(LinkRefusal::Used(t))) if t == now + 2
    ));
    assert!(matches!(
        store
            .use_export_link("h2", now + 10, |e| Ok(e.bytes.clone()))
            .await,
        Err(Error::Link(LinkRefusal::Expired(_)))
    ));
    assert!(matches!(
        store
            .use_export_link("nope", now, |e| Ok(e.bytes.clone()))
            .await,
        Err(Error::Link(LinkRefusal::Unknown))
    ));
    let downloads = store
        .audit_records_of("export.downloaded", None, 10)
        .await
        .unwrap();
    assert_eq!(downloads.len(), 1);
    assert_eq!(downloads[0].request_id.as_deref(), Some(r.id.as_str()));
    // Maintenance after the export expired: export and links gone; the request, closed for
    // less than the minimisation period, keeps its identities.
    let expiry = store
        .expire_own_data("maintenance", now + 1000, now - 1)
        .await
        .unwrap();
    // (the export of the `jobs` suite expired too)
    assert_eq!(expiry.exports_deleted, 2);
    assert_eq!(expiry.links_deleted, 2);
    assert!(!expiry.requests_minimised.contains(&r.id));
    assert!(store.export(&r.id, now).await.unwrap().is_none());
    // Later, with every closed request past the period: minimised, the rest kept.
    let expiry = store
        .expire_own_data("maintenance", now + 2000, now + 2000)
        .await
        .unwrap();
    assert!(expiry.requests_minimised.contains(&r.id));
    let minimised = store.get_request(&r.id).await.unwrap();
    assert_eq!(minimised.state, State::Completed);
    assert_eq!(minimised.kind, Right::Access);
    assert_eq!(minimised.received_at, r.received_at);
    assert_eq!(minimised.identities[0].0, "email");
    assert!(minimised.identities[0].1.starts_with("sha256:"));
    assert!(!minimised.identities[0].1.contains("ana@example.com"));
    assert!(!store.request_events(&r.id).await.unwrap().is_empty());
    // Open requests are never minimised; a second run changes nothing already done.
    assert!(!expiry.requests_minimised.contains(&other.id));
    let again = store
        .expire_own_data("maintenance", now + 3000, now + 3000)
        .await
        .unwrap();
    assert!(!again.requests_minimised.contains(&r.id));
    assert_eq!(
        store
            .audit_records_of("data.expired", None, 10)
            .await
            .unwrap()
            .len(),
        3
    );
}

async fn keys(store: &Store) {
    let (key, secret) = store
        .create_key(Role::SupportAgent, Some("desk"), "cli", T0)
        .await
        .unwrap();
    assert!(secret.starts_with("pledge_") && secret.len() > 40);
    let found = store.authenticate(&secret).await.unwrap().unwrap();
    assert_eq!(found.id, key.id);
    assert_eq!(found.role, Role::SupportAgent);
    assert!(store.authenticate("pledge_wrong").await.unwrap().is_none());
    // Only the hash is stored.
    let keys = store.list_keys().await.unwrap();
    assert!(keys.iter().any(|k| k.id == key.id));
    let revoked = store.revoke_key(&key.id, "cli", T0 + 1).await.unwrap();
    assert_eq!(revoked.revoked_at, Some(T0 + 1));
    assert!(store.authenticate(&secret).await.unwrap().is_none());
    // Twice is fine; an unknown id is named.
    store.revoke_key(&key.id, "cli", T0 + 2).await.unwrap();
    assert!(matches!(
        store.revoke_key("key_nope", "cli", T0).await,
        Err(Error::UnknownKey(_))
    ));
}

async fn workflow(store: &Store) {
    let r = store
        .create_request(new_request(Right::Access, true, true), "key:a")
        .await
        .unwrap();
    assert_eq!(r.state, State::AwaitingApproval);
    assert_eq!(r.due_at, T0 + 30 * 86_400); // 17 November + 1 month = 17 December
    let got = store.get_request(&r.id).await.unwrap();
    assert_eq!(got, r);

    let e = store
        .transition(&r.id, &Transition::To(State::Completed), "key:a", T0 + 5)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Transition(_)), "{e}");
    // Nothing was written by the refused transition.
    assert_eq!(store.request_events(&r.id).await.unwrap().len(), 1);

    let extended = store
        .transition(
            &r.id,
            &Transition::Extend {
                reason: "many systems".into(),
            },
            "key:a",
            T0 + 10,
        )
        .await
        .unwrap();
    assert_eq!(extended.state, State::Extended);
    assert_eq!(extended.due_at, T0 + (30 + 31 + 31) * 86_400); // 17 February
    let approved = store
        .transition(&r.id, &Transition::To(State::InProgress), "key:a", T0 + 20)
        .await
        .unwrap();
    assert_eq!(approved.state, State::InProgress);
    assert_eq!(approved.extension_reason.as_deref(), Some("many systems"));
    let events = store.request_events(&r.id).await.unwrap();
    assert_eq!(
        events.iter().map(|e| e.to_state).collect::<Vec<_>>(),
        [State::AwaitingApproval, State::Extended, State::InProgress]
    );
    assert_eq!(events[1].reason.as_deref(), Some("many systems"));

    let denied = store
        .create_request(new_request(Right::Erasure, false, false), "key:a")
        .await
        .unwrap();
    assert_eq!(denied.state, State::Received);
    let denied = store
        .transition(
            &denied.id,
            &Transition::Deny {
                reason: "manifestly unfounded".into(),
            },
            "key:a",
            T0 + 30,
        )
        .await
        .unwrap();
    assert_eq!(
        denied.denial_reason.as_deref(),
        Some("manifestly unfounded")
    );
    assert!(matches!(
        store.get_request("req_nope").await,
        Err(Error::UnknownRequest(_))
    ));
}

async fn jobs(store: &Store) {
    // Drain what the workflow test queued.
    while let Some(job) = store.claim_job("w0", 60, T0 + 100).await.unwrap() {
        assert!(
            store
                .complete_job(&job, &serde_json::json!({}), None, &[], T0 + 100)
                .await
                .unwrap()
        );
    }
    let r = store
        .create_request(new_request(Right::Access, true, false), "key:a")
        .await
        .unwrap();
    assert_eq!(r.state, State::InProgress);
    let now = T0 + 200;
    let job = store.claim_job("w1", 30, now).await.unwrap().unwrap();
    assert_eq!(job.request_id, r.id);
    assert_eq!(job.attempts, 1);
    // Nobody else gets it while the lease holds.
    assert_eq!(store.claim_job("w2", 30, now + 10).await.unwrap(), None);
    assert!(store.renew_lease(&job, 30, now + 20).await.unwrap());
    assert_eq!(store.claim_job("w2", 30, now + 40).await.unwrap(), None);
    // The worker dies; after the lease another takes over.
    let taken = store.claim_job("w2", 30, now + 51).await.unwrap().unwrap();
    assert_eq!(taken.request_id, r.id);
    assert_eq!(taken.attempts, 2);
    // The old worker comes back: it lost the lease and changes nothing.
    assert!(!store.renew_lease(&job, 30, now + 52).await.unwrap());
    assert!(
        !store
            .complete_job(&job, &serde_json::json!({"by": "w1"}), None, &[], now + 52)
            .await
            .unwrap()
    );
    assert!(
        store
            .complete_job(
                &taken,
                &serde_json::json!({"by": "w2"}),
                Some(&sealed("zip", now + 86_400)),
                &[],
                now + 53
            )
            .await
            .unwrap()
    );
    let done = store.get_request(&r.id).await.unwrap();
    assert_eq!(done.state, State::Completed);
    assert_eq!(done.result, Some(serde_json::json!({"by": "w2"})));
    let stored = store.export(&r.id, now + 60).await.unwrap().unwrap();
    assert_eq!(stored.bytes, b"zip");
    assert_eq!(stored.key_id.as_deref(), Some("k1"));
    // Past its expiry an export is not handed out.
    assert_eq!(store.export(&r.id, now + 86_400).await.unwrap(), None);
    // Completed once: one completed event.
    let completions = store
        .request_events(&r.id)
        .await
        .unwrap()
        .iter()
        .filter(|e| e.to_state == State::Completed)
        .count();
    assert_eq!(completions, 1);
    assert_eq!(store.claim_job("w3", 30, now + 1000).await.unwrap(), None);

    // A transient failure goes back to the queue, not claimed before its time.
    let r2 = store
        .create_request(new_request(Right::Erasure, true, false), "key:a")
        .await
        .unwrap();
    let j = store.claim_job("w1", 30, now).await.unwrap().unwrap();
    assert_eq!(j.first_failed_at, None);
    let retry = JobFailure::Retry {
        error: "dataset `shop`: cannot connect",
        at: now + 5,
    };
    assert!(store.fail_job(&j, retry, now).await.unwrap());
    // Recorded once: the lease is gone.
    assert!(!store.fail_job(&j, retry, now).await.unwrap());
    let status = store.job_status(&r2.id).await.unwrap().unwrap();
    assert_eq!(
        (
            status.state.as_str(),
            status.not_before,
            status.first_failed_at
        ),
        ("queued", Some(now + 5), Some(now))
    );
    assert_eq!(store.claim_job("w1", 30, now + 4).await.unwrap(), None);
    assert!(store.orphaned_requests().await.unwrap().is_empty());
    let j = store.claim_job("w1", 30, now + 5).await.unwrap().unwrap();
    assert_eq!((j.attempts, j.first_failed_at), (2, Some(now)));
    // A permanent failure stops the job and asks staff to act.
    let reason = "the identity matches 2 rows of `customer`";
    assert!(
        store
            .fail_job(&j, JobFailure::NeedsAction { reason }, now + 6)
            .await
            .unwrap()
    );
    assert_eq!(store.claim_job("w1", 30, now + 1000).await.unwrap(), None);
    let status = store.job_status(&r2.id).await.unwrap().unwrap();
    assert_eq!(
        (status.state.as_str(), status.error.as_deref()),
        ("failed", Some(reason))
    );
    let stopped = store.get_request(&r2.id).await.unwrap();
    assert_eq!(stopped.state, State::NeedsAction);
    let events = store.request_events(&r2.id).await.unwrap();
    let last = events.last().unwrap();
    assert_eq!(
        (last.from_state, last.to_state, last.reason.as_deref()),
        (Some(State::InProgress), State::NeedsAction, Some(reason))
    );
    assert!(store.orphaned_requests().await.unwrap().is_empty());
    // Staff retry: the job is queued afresh and runs to completion.
    let retried = store
        .transition(
            &r2.id,
            &Transition::To(State::InProgress),
            "key:staff",
            now + 10,
        )
        .await
        .unwrap();
    assert_eq!(retried.state, State::InProgress);
    let j = store.claim_job("w1", 30, now + 11).await.unwrap().unwrap();
    assert_eq!((j.request_id.as_str(), j.attempts), (r2.id.as_str(), 1));
    assert!(
        store
            .complete_job(&j, &serde_json::json!({}), None, &[], now + 12)
            .await
            .unwrap()
    );
    assert_eq!(
        store.get_request(&r2.id).await.unwrap().state,
        State::Completed
    );

    // Completed by hand from needs_action, with a note; never by hand while running.
    let r3 = store
        .create_request(new_request(Right::Rectification, true, false), "key:a")
        .await
        .unwrap();
    let j = store.claim_job("w1", 30, now + 20).await.unwrap().unwrap();
    let complete = Transition::Complete {
        note: "corrected by the support desk".into(),
    };
    assert!(matches!(
        store
            .transition(&r3.id, &complete, "key:staff", now + 21)
            .await,
        Err(Error::Transition(_))
    ));
    store
        .fail_job(
            &j,
            JobFailure::NeedsAction {
                reason: "a declared column is missing",
            },
            now + 21,
        )
        .await
        .unwrap();
    let done = store
        .transition(&r3.id, &complete, "key:staff", now + 22)
        .await
        .unwrap();
    assert_eq!(done.state, State::Completed);
    let outbox = store.outbox(&r3.id).await.unwrap();
    assert!(
        outbox
            .iter()
            .any(|m| m.event == pledge_store::notify::Event::Completed),
        "{outbox:?}"
    );
    // One left waiting for staff: open, with its deadline running (see `listing`).
    store
        .create_request(new_request(Right::Access, true, false), "key:a")
        .await
        .unwrap();
    let j = store.claim_job("w1", 30, now + 30).await.unwrap().unwrap();
    let reason = JobFailure::NeedsAction {
        reason: "gave up after 42 attempts",
    };
    assert!(store.fail_job(&j, reason, now + 31).await.unwrap());
}

async fn listing(store: &Store) {
    let all = store
        .list_requests(&RequestFilter::default())
        .await
        .unwrap();
    assert!(all.len() >= 4);
    assert!(all.windows(2).all(|w| w[0].due_at <= w[1].due_at));
    // Open requests due within 40 days of T0: every open one (due one or three months out
    // is beyond for the extended one).
    let soon = store
        .list_requests(&RequestFilter {
            due_before: Some(T0 + 40 * 86_400),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(soon.iter().all(|r| !r.state.is_final()));
    assert!(soon.iter().all(|r| r.due_at <= T0 + 40 * 86_400));
    assert!(!soon.is_empty());
    let overdue_now = store
        .list_requests(&RequestFilter {
            overdue_at: Some(T0),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(overdue_now.is_empty());
    let overdue_later = store
        .list_requests(&RequestFilter {
            overdue_at: Some(T0 + 200 * 86_400),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(overdue_later.len(), soon.len());
    let counts = store.count_by_state().await.unwrap();
    assert!(counts.contains(&(State::Denied, 1)));
}

async fn audit_chain(store: &Store) {
    let before = store.verify_audit().await.unwrap();
    assert_eq!(before.first_broken, None);
    assert!(before.records >= 10, "{before:?}");
    let records = store.audit_records(0, 100).await.unwrap();
    assert_eq!(records[0].action, "key.created");
    // No personal data in the log: identities are hashed.
    assert!(
        records
            .iter()
            .all(|r| !r.detail.to_string().contains("ana@example.com"))
    );
    // The log refuses edits and deletions...
    assert!(
        store
            .execute_raw("UPDATE audit_log SET actor = 'x' WHERE seq = 3")
            .await
            .is_err()
    );
    assert!(
        store
            .execute_raw("DELETE FROM audit_log WHERE seq = 3")
            .await
            .is_err()
    );
    // ... and someone who removes the guard is found out.
    match store.backend() {
        Backend::Sqlite => {
            store
                .execute_raw("DROP TRIGGER audit_log_no_update")
                .await
                .unwrap();
            store
                .execute_raw("DROP TRIGGER audit_log_no_delete")
                .await
                .unwrap();
        }
        Backend::Postgres => {
            store
                .execute_raw("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
                .await
                .unwrap();
        }
    }
    store
        .execute_raw("UPDATE audit_log SET actor = 'someone else' WHERE seq = 5")
        .await
        .unwrap();
    let v = store.verify_audit().await.unwrap();
    let broken = v.first_broken.unwrap();
    assert_eq!(broken.seq, 5, "{broken:?}");
    assert_eq!(v.records, 4);
    store
        .execute_raw("DELETE FROM audit_log WHERE seq = 3")
        .await
        .unwrap();
    let broken = store.verify_audit().await.unwrap().first_broken.unwrap();
    assert_eq!(broken.seq, 3);
    assert!(broken.reason.contains("missing"), "{}", broken.reason);
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_in_memory() {
    suite(Store::open("sqlite::memory:").await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_file_and_reopen() {
    let dir = std::env::temp_dir().join(format!("pledge-store-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("store.db");
    let url = format!("sqlite:{}", path.display());
    let store = Store::open(&url).await.unwrap();
    let (_, secret) = store
        .create_key(Role::Admin, None, "cli", T0)
        .await
        .unwrap();
    store.close().await;
    // Migrations are not run twice; the data is still there.
    let store = Store::open(&url).await.unwrap();
    assert!(store.authenticate(&secret).await.unwrap().is_some());
    suite(store).await;
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_concurrent_writers_keep_one_chain() {
    let dir = std::env::temp_dir().join(format!("pledge-store-conc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite:{}", dir.join("store.db").display());
    let store = Store::open(&url).await.unwrap();
    concurrent(&store).await;
    std::fs::remove_dir_all(&dir).ok();
}

async fn concurrent(store: &Store) {
    let mut tasks = Vec::new();
    for i in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..25 {
                store
                    .create_request(new_request(Right::Access, i % 2 == 0, false), "key:c")
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let v = store.verify_audit().await.unwrap();
    assert_eq!(v.first_broken, None);
    assert_eq!(v.records, 200);
    // Workers racing for 100 jobs each get distinct ones.
    let mut workers = Vec::new();
    for w in 0..4 {
        let store = store.clone();
        workers.push(tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(job) = store.claim_job(&format!("w{w}"), 60, T0).await.unwrap() {
                got.push(job.request_id.clone());
                store
                    .complete_job(&job, &serde_json::json!({}), None, &[], T0)
                    .await
                    .unwrap();
            }
            got
        }));
    }
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.unwrap());
    }
    let n = all.len();
    all.sort();
    all.dedup();
    assert_eq!((n, all.len()), (100, 100));
}

/// A fresh database inside the test PostgreSQL server.
async fn postgres_store(url: &str) -> Store {
    let database = pledge_testkit::postgres_database(url, "pledge_store").await;
    Store::open(&database).await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres() {
    let Some(url) =
        pledge_testkit::require!(pledge_testkit::POSTGRES_URL, pledge_testkit::postgres_url())
    else {
        return;
    };
    suite(postgres_store(&url).await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_concurrent_writers_keep_one_chain() {
    let Some(url) =
        pledge_testkit::require!(pledge_testkit::POSTGRES_URL, pledge_testkit::postgres_url())
    else {
        return;
    };
    concurrent(&postgres_store(&url).await).await;
}

/// A burst of code checks at once, most of them wrong: no more than the allowed attempts are
/// ever compared (answered "wrong" or accepted); the rest are refused as locked, whatever
/// order they land in. Several rounds, since a race shows only sometimes.
async fn attempts_hold_under_concurrency(store: &Store) {
    use pledge_store::{VerificationError, VerificationPolicy};
    let policy = VerificationPolicy {
        ttl_secs: 3600,
        max_attempts: 5,
    };
    for round in 0..8 {
        let (record, secrets) = store
            .create_public_request(new_request(Right::Access, false, true), policy)
            .await
            .unwrap();
        let wrong = if secrets.code == "00000000" {
            "11111111"
        } else {
            "00000000"
        };
        let mut tasks = Vec::new();
        for i in 0..15 {
            let store = store.clone();
            let id = record.id.clone();
            // The right code comes late in the burst, after the allowed number of guesses.
            let code = if i == 5 + round % 10 {
                secrets.code.clone()
            } else {
                wrong.to_string()
            };
            tasks.push(tokio::spawn(async move {
                store.verify_code(&id, &code, T0 + 1).await
            }));
        }
        let mut compared = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(_) | Err(Error::Verification(VerificationError::Wrong { .. })) => compared += 1,
                Err(Error::Verification(
                    VerificationError::TooManyAttempts | VerificationError::Used,
                )) => {}
                Err(e) => panic!("round {round}: unexpected {e}"),
            }
        }
        assert!(
            compared <= 5,
            "round {round}: {compared} codes compared, 5 allowed"
        );
        // Once locked, even the right code is refused.
        let after = store.verify_code(&record.id, &secrets.code, T0 + 2).await;
        assert!(
            matches!(
                after,
                Err(Error::Verification(
                    VerificationError::TooManyAttempts | VerificationError::Used
                ))
            ),
            "round {round}: {after:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_attempts_hold_under_concurrency() {
    let dir = std::env::temp_dir().join(format!("pledge-store-attempts-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let store = Store::open(&format!("sqlite:{}", dir.join("store.db").display()))
        .await
        .unwrap();
    attempts_hold_under_concurrency(&store).await;
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_attempts_hold_under_concurrency() {
    let Some(url) =
        pledge_testkit::require!(pledge_testkit::POSTGRES_URL, pledge_testkit::postgres_url())
    else {
        return;
    };
    attempts_hold_under_concurrency(&postgres_store(&url).await).await;
}
