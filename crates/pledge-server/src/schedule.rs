//! Scheduled tasks: the retention sweep (the same as `pledge retain`, through
//! `pledge_connect::sweep_dataset`) and maintenance (the expiry of Pledge's own data), each on
//! a cron schedule from the configuration; and signed checkpoints of the chains (see
//! [`crate::checkpoints`]).
//!
//! One runner at a time across replicas: at each fire time every replica asks the store for
//! the task's lease; the one whose compare-and-set wins runs it, renewing the lease while it
//! runs. The others skip that fire time. A runner that dies leaves a lease that expires, and
//! the next fire time is taken over by whichever replica wakes for it; the sweep is
//! idempotent and resumable, so that run finishes the work. Each run's report goes to the
//! audit log in the transaction that releases the lease.

use crate::api::STAFF;
use crate::problem::{ApiQuery, Problem};
use crate::{AppState, Caller, now_unix};
use axum::Extension;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use pledge_connect::BatchOptions;
use pledge_core::plan::CivilTime;
use serde::Deserialize;
use serde_json::{Value as Json, json};
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::watch;

/// A scheduled task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    /// The retention sweep over every dataset with a retention.
    Retention,
    /// Expired exports and links deleted, closed requests minimised.
    Maintenance,
    /// Signed checkpoints of the audit log and the consent ledger.
    Checkpoint,
}

impl Task {
    /// The name of its lease.
    pub fn name(self) -> &'static str {
        match self {
            Task::Retention => "retention",
            Task::Maintenance => "maintenance",
            Task::Checkpoint => "checkpoint",
        }
    }

    /// The audit action each run is recorded under.
    pub fn action(self) -> &'static str {
        match self {
            Task::Retention => "retention.run",
            Task::Maintenance => "maintenance.run",
            Task::Checkpoint => "checkpoint.run",
        }
    }

    fn schedule(self, state: &AppState) -> Option<&pledge_core::cron::Schedule> {
        match self {
            Task::Retention => state.config.retain_schedule.as_ref(),
            Task::Maintenance => state.config.maintenance_schedule.as_ref(),
            Task::Checkpoint => state
                .config
                .checkpoints
                .as_ref()
                .and_then(|c| c.schedule.as_ref()),
        }
    }
}

/// Runs `task` at each of its fire times until `shutdown`; a run in progress is finished
/// (the sweep stops after its current batch).
pub async fn run(state: AppState, task: Task, owner: String, mut shutdown: watch::Receiver<bool>) {
    let Some(schedule) = task.schedule(&state).cloned() else {
        return;
    };
    loop {
        let now = now_unix();
        let Some(fire) = schedule.next_after(now) else {
            eprintln!(
                "{}: the schedule `{schedule}` never fires; the task is off",
                task.name()
            );
            return;
        };
        let wait = Duration::from_secs(u64::try_from(fire - now).unwrap_or(0));
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
        match run_once(&state, task, &owner, fire, &shutdown).await {
            Ok(_) => {}
            Err(e) => eprintln!("{}: {e}", task.name()),
        }
    }
}

/// Takes the task's lease for the fire time `fire` and runs it. Returns the report that was
/// recorded, or None if another runner has it. Tests and the scheduler call this.
pub async fn run_once(
    state: &AppState,
    task: Task,
    owner: &str,
    fire: i64,
    shutdown: &watch::Receiver<bool>,
) -> Result<Option<Json>, pledge_store::Error> {
    let lease = state.config.lease_secs;
    if !state
        .store
        .take_task_lease(task.name(), owner, fire, lease, now_unix())
        .await?
    {
        return Ok(None);
    }
    let started = now_unix();
    // Renew the lease while the task runs, so a long sweep is not taken over.
    let (done_tx, mut done_rx) = watch::channel(false);
    let renewer = {
        let store = state.store.clone();
        let owner = owner.to_string();
        tokio::spawn(async move {
            let every = Duration::from_secs(u64::try_from(lease / 3).unwrap_or(1).max(1));
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(every) => {
                        if !matches!(store.renew_task_lease(task.name(), &owner, lease, now_unix()).await, Ok(true)) {
                            return;
                        }
                    }
                    _ = done_rx.changed() => return,
                }
            }
        })
    };
    let mut report = match task {
        Task::Retention => sweep(state, shutdown).await,
        Task::Maintenance => maintain(state, owner).await,
        Task::Checkpoint => match &state.config.checkpoints {
            Some(config) => crate::checkpoints::make(&state.store, config, now_unix()).await,
            None => json!({ "error": "no checkpoint key is configured" }),
        },
    };
    let _ = done_tx.send(true);
    let _ = renewer.await;
    report["fire"] = json!(CivilTime::from_unix(fire).to_rfc3339());
    report["started_at"] = json!(CivilTime::from_unix(started).to_rfc3339());
    report["finished_at"] = json!(CivilTime::from_unix(now_unix()).to_rfc3339());
    state
        .store
        .finish_task(
            task.name(),
            owner,
            task.action(),
            report.clone(),
            now_unix(),
        )
        .await?;
    Ok(Some(report))
}

/// The retention sweep over every dataset with a retention; a dataset that fails is named
/// in the report and the others still run.
async fn sweep(state: &AppState, shutdown: &watch::Receiver<bool>) -> Json {
    let m = &state.metrics;
    m.retention_runs.fetch_add(1, Ordering::Relaxed);
    let now = CivilTime::from_unix(now_unix());
    let stop = || *shutdown.borrow();
    let progress = |_: &str, _: u64, _: Option<u64>| {};
    let options = BatchOptions {
        batch_size: state.config.retain_batch_size,
        dry_run: false,
        count_first: false,
        stop: &stop,
        progress: &progress,
    };
    let mut datasets = Vec::new();
    for dataset in pledge_connect::datasets_with_retention(&state.decl, None, None) {
        let swept = match state.dataset_url(dataset) {
            Ok(url) => {
                pledge_connect::sweep_dataset(&state.decl, dataset, &url, now, None, &options)
                    .await
                    .map_err(|e| error_chain(&e))
            }
            Err(e) => Err(e),
        };
        match swept {
            Ok(done) => {
                for o in &done.outcome.sweeps {
                    m.retention_rows_deleted
                        .fetch_add(o.deleted, Ordering::Relaxed);
                    m.retention_rows_anonymised
                        .fetch_add(o.anonymised, Ordering::Relaxed);
                }
                datasets.push(done.report());
            }
            Err(error) => {
                m.retention_failures.fetch_add(1, Ordering::Relaxed);
                eprintln!("retention: dataset `{}`: {error}", dataset.id);
                datasets.push(json!({ "dataset": dataset.id.to_string(), "error": error }));
            }
        }
        if stop() {
            break;
        }
    }
    json!({ "datasets": datasets, "batch_size": state.config.retain_batch_size })
}

/// The error and its causes, one sentence each (the database's reason is in the source).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Expired exports and links, and closed requests past the minimisation period. The store
/// audits what it changed in the same transaction; the run's record names the counts too.
async fn maintain(state: &AppState, owner: &str) -> Json {
    state
        .metrics
        .maintenance_runs
        .fetch_add(1, Ordering::Relaxed);
    let now = now_unix();
    let closed_before = CivilTime::from_unix(now)
        .minus(&state.config.minimise_closed_after)
        .to_unix();
    match state.store.expire_own_data(owner, now, closed_before).await {
        Ok(expiry) => json!({
            "exports_deleted": expiry.exports_deleted,
            "links_deleted": expiry.links_deleted,
            "requests_minimised": expiry.requests_minimised.len(),
            "more_to_minimise": expiry.more_to_minimise,
            "verifications_purged": expiry.verifications_purged,
            "minimise_closed_after": state.config.minimise_closed_after.to_string(),
        }),
        Err(e) => {
            eprintln!("maintenance: {e}");
            json!({ "error": e.to_string() })
        }
    }
}

/// `GET /v1/retention/runs?before=SEQ&limit=N`
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RunsQuery {
    /// Runs recorded before this audit sequence number (for paging back).
    pub before: Option<i64>,
    /// At most this many (default 20, at most 1000).
    pub limit: Option<i64>,
}

#[utoipa::path(get, path = "/v1/retention/runs", tag = "retention", params(RunsQuery),
    responses(
        (status = 200, description = "Scheduled retention runs, newest first, each with its per-table report (examined, deleted, anonymised, held back and why)", body = Object),
        (status = 400, description = "Bad query", body = crate::problem::ProblemDoc, content_type = "application/problem+json"),
        crate::problem::AuthProblems
    ))]
pub async fn retention_runs(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    query: Result<ApiQuery<RunsQuery>, Problem>,
) -> Result<Response, Problem> {
    caller.require(STAFF, "read retention runs")?;
    runs(&state, Task::Retention, query?.0).await
}

#[utoipa::path(get, path = "/v1/maintenance/runs", tag = "retention", params(RunsQuery),
    responses(
        (status = 200, description = "Maintenance runs, newest first: exports and links deleted, requests minimised", body = Object),
        (status = 400, description = "Bad query", body = crate::problem::ProblemDoc, content_type = "application/problem+json"),
        crate::problem::AuthProblems
    ))]
pub async fn maintenance_runs(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    query: Result<ApiQuery<RunsQuery>, Problem>,
) -> Result<Response, Problem> {
    caller.require(STAFF, "read maintenance runs")?;
    runs(&state, Task::Maintenance, query?.0).await
}

async fn runs(state: &AppState, task: Task, q: RunsQuery) -> Result<Response, Problem> {
    let records = state
        .store
        .audit_records_of(task.action(), q.before, q.limit.unwrap_or(20))
        .await?;
    let runs: Vec<Json> = records
        .into_iter()
        .map(|r| {
            let mut run = json!({ "seq": r.seq, "runner": r.actor, "recorded_at": CivilTime::from_unix(r.at).to_rfc3339() });
            if let (Some(run), Json::Object(detail)) = (run.as_object_mut(), r.detail) {
                run.extend(detail);
            }
            run
        })
        .collect();
    Ok(axum::Json(json!({
        "schedule": task.schedule(state).map(ToString::to_string),
        "runs": runs,
    }))
    .into_response())
}
