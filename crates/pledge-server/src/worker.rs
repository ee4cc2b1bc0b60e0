//! The background worker: claims jobs from the store under a lease, runs the request with
//! the request engine against every dataset of the declaration, and completes the job,
//! the request and the audit record in one store transaction.
//!
//! Crash safety: a worker that dies leaves its job "running" under a lease that expires;
//! the next worker (this process after a restart, or another replica) takes it over and
//! runs the request again. The engine's writes are idempotent (each carries the condition
//! that it still changes something), so the second run changes only what the first did
//! not, and the job completes exactly once: completion is conditional on holding the lease.

use crate::AppState;
use pledge_connect::{Database, Options, Outcome, Who};
use pledge_core::consent::SubjectRef;
use pledge_core::export::{self, DatasetRows};
use pledge_core::people::{self, Identities};
use pledge_core::plan::{self, Change, CivilTime, RequestKind, TableRows, Value};
use pledge_core::types::IdentityKind;
use pledge_store::{Job, RequestRecord, SealedExport};
use serde_json::{Value as Json, json};
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::watch;

/// Attempts before a job is left failed for staff to look at.
const MAX_ATTEMPTS: i64 = 5;

/// Runs until `shutdown` turns true. A job in hand is finished first.
pub async fn run(state: AppState, owner: String, mut shutdown: watch::Receiver<bool>) {
    loop {
        if *shutdown.borrow() {
            return;
        }
        let claimed = state
            .store
            .claim_job(&owner, state.config.lease_secs, state.now())
            .await;
        match claimed {
            Ok(Some(job)) => {
                work(&state, job).await;
                continue;
            }
            Ok(None) => {}
            Err(e) => eprintln!("worker {owner}: cannot claim a job: {e}"),
        }
        tokio::select! {
            _ = state.wake.notified() => {}
            _ = tokio::time::sleep(state.config.poll) => {}
            _ = shutdown.changed() => {}
        }
    }
}

async fn work(state: &AppState, job: Job) {
    let started = std::time::Instant::now();
    // Renew the lease while the request runs, so a long erasure is not taken over.
    let (done_tx, mut done_rx) = watch::channel(false);
    let renewer = {
        let store = state.store.clone();
        let job = job.clone();
        let lease = state.config.lease_secs;
        let clock = state.config.clock.clone();
        tokio::spawn(async move {
            let every = Duration::from_secs(u64::try_from(lease / 3).unwrap_or(1).max(1));
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(every) => {
                        if !matches!(store.renew_lease(&job, lease, clock.now()).await, Ok(true)) {
                            return;
                        }
                    }
                    _ = done_rx.changed() => return,
                }
            }
        })
    };
    // Recipients that hold data no dataset reaches get the request once it ran here.
    let mut forward_to = Vec::new();
    let result = match state.store.get_request(&job.request_id).await {
        // Denied or cancelled while its job waited: nothing is run.
        Ok(request) if request.state.is_final() => Ok((
            json!({ "skipped": format!("the request was {} before it ran", request.state) }),
            None,
        )),
        Ok(request) => {
            forward_to = crate::forward::recipients_for(state, request.kind);
            execute(state, &request, false).await
        }
        Err(e) => Err(e.to_string()),
    };
    if let Some(pause) = state.config.pause_before_complete {
        // A test hook (PLEDGE_TEST_PAUSE_BEFORE_COMPLETE_MS): the window in which a crash
        // leaves the work done but not recorded.
        eprintln!(
            "worker: request {} executed; pausing before completion",
            job.request_id
        );
        tokio::time::sleep(pause).await;
    }
    let _ = done_tx.send(true);
    let _ = renewer.await;
    let now = state.now();
    match result {
        Ok((mut summary, export)) => {
            // How long the run took, from the claim to the result.
            summary["microseconds"] =
                json!(u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX));
            match state
                .store
                .complete_job(&job, &summary, export.as_ref(), &forward_to, now)
                .await
            {
                Ok(true) => {
                    state.metrics.jobs_completed.fetch_add(1, Ordering::Relaxed);
                    state.wake_mail.notify_one();
                    if !forward_to.is_empty() {
                        state.wake_forward.notify_one();
                    }
                }
                Ok(false) => eprintln!(
                    "worker: lost the lease of job {}; another worker finishes it",
                    job.id
                ),
                Err(e) => eprintln!("worker: cannot record job {}: {e}", job.id),
            }
        }
        Err(error) => {
            state.metrics.jobs_failed.fetch_add(1, Ordering::Relaxed);
            eprintln!("worker: request {} failed: {error}", job.request_id);
            if let Err(e) = state.store.fail_job(&job, &error, MAX_ATTEMPTS, now).await {
                eprintln!("worker: cannot record the failure of job {}: {e}", job.id);
            }
        }
    }
}

/// Runs a request against every dataset. Returns the summary to store (per dataset, the
/// steps with their row counts and reasons) and, for access and portability, the export.
///
/// A dry run (for the approver) runs every step, counts the rows, and rolls back: no export.
pub async fn execute(
    state: &AppState,
    request: &RequestRecord,
    dry_run: bool,
) -> Result<(Json, Option<SealedExport>), String> {
    let decl = &state.decl;
    let Some(kind) = request.kind.plan_kind() else {
        let ledger = record_in_ledger(state, request, dry_run).await?;
        return Ok((json!({ "datasets": [], "ledger": ledger }), None));
    };
    // One request is one person: the identities must all find the same rows.
    let person = Identities::new(
        request
            .identities
            .iter()
            .map(|(k, v)| {
                let kind: IdentityKind = k.parse().map_err(|e| format!("identity `{k}`: {e}"))?;
                Ok((kind, v.clone()))
            })
            .collect::<Result<Vec<_>, String>>()?,
    )
    .map_err(|e| e.to_string())?;
    let identities = people::by_kind([&person]);
    let changes = request
        .changes
        .iter()
        .map(|(target, value)| {
            let (table, column) = match target.rsplit_once('.') {
                Some((t, c)) => (Some(t.to_string()), c.to_string()),
                None => (None, target.clone()),
            };
            Change {
                table,
                column,
                value: Value::Text(value.clone()),
            }
        })
        .collect();
    let now = CivilTime::from_unix(state.now());
    let plan_request = plan::Request {
        kind,
        identities,
        changes,
        now,
    };
    let mut datasets = Vec::new();
    let mut data: Vec<(String, Vec<TableRows>)> = Vec::new();
    for dataset in &decl.doc().datasets {
        let id = dataset.id.to_string();
        let url = state.dataset_url(dataset)?;
        let (mut db, schema) = Database::open_dataset(dataset, &url)
            .await
            .map_err(|e| format!("dataset `{id}`: {e}"))?;
        let plan = plan::plan(decl, dataset, &schema, &plan_request)
            .map_err(|e| format!("dataset `{id}`: {e}"))?;
        let who = plan::person(dataset, &schema, &person, None)
            .map_err(|e| format!("dataset `{id}`: {e}"))?;
        if !dry_run && state.config.hmac_key.is_empty() && plan.uses_hmac() {
            return Err(format!(
                "dataset `{id}`: this erasure pseudonymises columns with a keyed hash: start the server with PLEDGE_HMAC_KEY set"
            ));
        }
        let progress = |_: usize, _: usize| {};
        let options = Options {
            dry_run,
            // A dry run rolls back, so the pseudonyms it computes are never stored.
            hmac_key: if dry_run && state.config.hmac_key.is_empty() {
                b"dry-run-key-not-stored"
            } else {
                &state.config.hmac_key
            },
            who: Who::Person(&who),
            progress: &progress,
        };
        let outcome: Result<Outcome, _> = db.execute(&schema, &plan, &options).await;
        db.close().await;
        let outcome = match outcome {
            // Rows no column can mark: the consent ledger still records the restriction
            // below, and decisions refuse processing from then on; the summary says so.
            Err(e @ pledge_connect::Error::NotRestrictable { .. }) => {
                datasets.push(json!({
                    "dataset": id,
                    "committed": false,
                    "steps": [],
                    "notes": [format!("{e}; the restriction is recorded in the consent ledger, whose decisions refuse processing of the person's data (Art. 18)")],
                }));
                continue;
            }
            other => other.map_err(|e| format!("dataset `{id}`: {e}"))?,
        };
        datasets.push(json!({
            "dataset": id,
            "committed": outcome.committed,
            "steps": plan.steps.iter().zip(&outcome.steps).map(|(s, o)| json!({
                "table": s.table,
                "action": s.action.name(),
                "rows": o.rows,
                "reason": s.reason,
            })).collect::<Vec<_>>(),
            "notes": plan.notes,
        }));
        data.push((
            id,
            outcome.steps.into_iter().filter_map(|s| s.data).collect(),
        ));
    }
    let export = if !dry_run && matches!(kind, RequestKind::Access | RequestKind::Portability) {
        let rows: Vec<DatasetRows<'_>> = data
            .iter()
            .map(|(d, t)| DatasetRows {
                dataset: d,
                tables: t,
            })
            .collect();
        let files = export::render(decl, kind, &rows, &request.identities, now);
        let keys =
            state.config.export_keys.as_ref().ok_or(
                "exports are encrypted at rest: start the server with PLEDGE_EXPORT_KEY set",
            )?;
        let expires_at = now.to_unix() + state.config.export_ttl_secs;
        Some(
            keys.seal(&request.id, &zip_files(files), expires_at)
                .map_err(|e| e.to_string())?,
        )
    } else {
        None
    };
    let mut summary = json!({ "datasets": datasets });
    if kind == RequestKind::Restriction {
        // Decisions deny restricted data from now on (Art. 18(2)).
        summary["ledger"] = record_in_ledger(state, request, dry_run).await?;
    }
    Ok((summary, export))
}

/// Records a right in the consent ledger for every subject the request names. The ledger's
/// subjects are the ids an application uses with `/v1/consent` (its user id, or an e-mail
/// address); each identity value of the request is taken as one, and ids linked to it
/// share its state. Returns, per subject, what was (or, in a dry run, would be) recorded.
async fn record_in_ledger(
    state: &AppState,
    request: &RequestRecord,
    dry_run: bool,
) -> Result<Json, String> {
    let mut subjects: Vec<SubjectRef> = Vec::new();
    for (kind, value) in &request.identities {
        let subject: SubjectRef = value
            .parse()
            .map_err(|e| format!("identity `{kind}` as a consent subject: {e}"))?;
        if !subjects.contains(&subject) {
            subjects.push(subject);
        }
    }
    let actor = format!("request:{}", request.id);
    let mut recorded = Vec::new();
    for subject in subjects {
        let events = state
            .consent
            .apply_right(request.kind, &subject, dry_run, &actor)
            .await
            .map_err(|e| format!("consent ledger: {e}"))?;
        recorded.push(json!({ "subject": subject.as_str(), "events": events }));
    }
    Ok(Json::Array(recorded))
}

fn zip_files(files: Vec<export::ExportFile>) -> Vec<u8> {
    let entries: Vec<(&str, &[u8])> = files
        .iter()
        .map(|f| (f.path.as_str(), f.bytes.as_slice()))
        .collect();
    pledge_core::archive::zip(&entries)
}
