//! Scheduled tasks: the retention sweep (the same as `pledge retain`, through
//! `pledge_connect::sweep_dataset`) and maintenance (the expiry of Pledge's own data), each on
//! a cron schedule from the configuration; and signed checkpoints of the chains (see
//! [`crate::jobs::checkpoints`]).
//!
//! One runner at a time across replicas: at each fire time every replica asks the store for
//! the task's lease; the one whose compare-and-set wins runs it, renewing the lease while it
//! runs. The others skip that fire time. A runner that dies leaves a lease that expires, and
//! the next fire time is taken over by whichever replica wakes for it; the sweep is
//! idempotent and resumable, so that run finishes the work. Each run's report goes to the
//! audit log in the transaction that releases the lease.
//!
//! A run also writes its progress to the store as it goes: when it starts, and for the
//! sweep after every committed batch (the next batch waits for that write). A runner killed
//! mid-run leaves it behind; whoever next finds the lease expired (a replica at its start,
//! or the runner of the next fire time) records the run under its action as `interrupted`,
//! with the counts of every batch it recorded. At most one batch more may have committed
//! after the last write (the record's `in_flight` names its table and its most rows).

use crate::http::api::STAFF;
use crate::http::problem::{ApiQuery, Problem};
use crate::{AppState, Caller};
use axum::Extension;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use pledge_connect::{BatchOptions, SweepOutcome};
use pledge_domain::workflow::State as RequestState;
use pledge_lang::time::CivilTime;
use pledge_store::Recovery;
use serde::Deserialize;
use serde_json::{Value as Json, json};
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
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
    /// The staff's digest of deadlines: what is overdue, due soon, or waiting.
    Digest,
}

impl Task {
    /// The name of its lease.
    pub fn name(self) -> &'static str {
        match self {
            Task::Retention => "retention",
            Task::Maintenance => "maintenance",
            Task::Checkpoint => "checkpoint",
            Task::Digest => "digest",
        }
    }

    /// The audit action each run is recorded under.
    pub fn action(self) -> &'static str {
        match self {
            Task::Retention => "retention.run",
            Task::Maintenance => "maintenance.run",
            Task::Checkpoint => "checkpoint.run",
            Task::Digest => "digest.run",
        }
    }

    fn schedule(self, state: &AppState) -> Option<&pledge_domain::cron::Schedule> {
        match self {
            Task::Retention => state.config.retain_schedule.as_ref(),
            Task::Maintenance => state.config.maintenance_schedule.as_ref(),
            Task::Checkpoint => state
                .config
                .checkpoints
                .as_ref()
                .and_then(|c| c.schedule.as_ref()),
            Task::Digest => state.config.digest.as_ref().map(|d| &d.schedule),
        }
    }
}

/// Runs `task` at each of its fire times until `shutdown`; a run in progress is finished
/// (the sweep stops after its current batch).
pub async fn run(state: AppState, task: Task, owner: String, mut shutdown: watch::Receiver<bool>) {
    let Some(schedule) = task.schedule(&state).cloned() else {
        return;
    };
    // A run this task's last runner never finished is recorded now, not at the next fire
    // time (which may be a day away).
    tokio::spawn(recover(
        state.clone(),
        task,
        owner.clone(),
        shutdown.clone(),
    ));
    loop {
        let now = state.now();
        let Some(fire) = schedule.next_after(now) else {
            tracing::warn!(
                task = task.name(),
                schedule = %schedule,
                "the schedule never fires; the task is off"
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
            Err(e) => {
                tracing::error!(task = task.name(), fire, error = %e, "a scheduled run failed")
            }
        }
    }
}

/// Records a run of `task` that started and never finished (see the module's note), if its
/// lease has expired; if the lease is still live, looks again once it would have expired
/// (a runner that renewed it meanwhile is alive, and records its own run).
pub async fn recover(
    state: AppState,
    task: Task,
    owner: String,
    mut shutdown: watch::Receiver<bool>,
) -> Option<Json> {
    for attempt in 0..2 {
        match state
            .store
            .recover_interrupted_task(task.name(), &owner, state.now())
            .await
        {
            Ok(Recovery::Nothing) => return None,
            Ok(Recovery::Recorded(detail)) => {
                tracing::warn!(
                    task = task.name(),
                    runner = detail["runner"].as_str().unwrap_or("unknown"),
                    started_at = detail["started_at"].as_str().unwrap_or(""),
                    "a run that never finished was recorded as interrupted"
                );
                return Some(detail);
            }
            Ok(Recovery::Running { lease_until }) if attempt == 0 => {
                let wait = u64::try_from(lease_until + 1 - state.now()).unwrap_or(0);
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(wait)) => {}
                    _ = shutdown.changed() => return None,
                }
            }
            Ok(Recovery::Running { .. }) => return None,
            Err(e) => {
                tracing::warn!(task = task.name(), error = %e, "cannot look for an interrupted run");
                return None;
            }
        }
    }
    None
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
        .take_task_lease(task.name(), owner, fire, lease, state.now())
        .await?
    {
        return Ok(None);
    }
    let started = state.now();
    let mut progress = json!({
        "action": task.action(),
        "runner": owner,
        "fire": CivilTime::from_unix(fire).to_rfc3339(),
        "started_at": CivilTime::from_unix(started).to_rfc3339(),
    });
    if task == Task::Retention {
        progress["batch_size"] = json!(state.config.retain_batch_size);
        progress["datasets"] = json!([]);
    }
    state
        .store
        .record_task_progress(task.name(), owner, &progress)
        .await?;
    // Renew the lease while the task runs, so a long sweep is not taken over.
    let (done_tx, mut done_rx) = watch::channel(false);
    let renewer = {
        let store = state.store.clone();
        let clock = state.config.clock.clone();
        let owner = owner.to_string();
        tokio::spawn(async move {
            let every = Duration::from_secs(u64::try_from(lease / 3).unwrap_or(1).max(1));
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(every) => {
                        if !matches!(store.renew_task_lease(task.name(), &owner, lease, clock.now()).await, Ok(true)) {
                            return;
                        }
                    }
                    _ = done_rx.changed() => return,
                }
            }
        })
    };
    let mut report = match task {
        Task::Retention => sweep(state, owner, progress, shutdown).await,
        Task::Maintenance => maintain(state, owner).await,
        Task::Checkpoint => match &state.config.checkpoints {
            Some(config) => crate::jobs::checkpoints::make(&state.store, config, state.now()).await,
            None => json!({ "error": "no checkpoint key is configured" }),
        },
        Task::Digest => digest(state, owner).await,
    };
    let _ = done_tx.send(true);
    let _ = renewer.await;
    report["fire"] = json!(CivilTime::from_unix(fire).to_rfc3339());
    report["started_at"] = json!(CivilTime::from_unix(started).to_rfc3339());
    report["finished_at"] = json!(CivilTime::from_unix(state.now()).to_rfc3339());
    state
        .store
        .finish_task(
            task.name(),
            owner,
            task.action(),
            report.clone(),
            state.now(),
        )
        .await?;
    Ok(Some(report))
}

/// The sweep's progress as the store keeps it (see the module's note): the reports of the
/// datasets done, and the counts so far of the one being swept.
struct Progress<'a> {
    state: &'a AppState,
    owner: &'a str,
    record: Mutex<Json>,
    /// The progress could not be written (the lease is lost, or the store does not
    /// answer): the sweep stops rather than delete what would not be on record.
    stop: AtomicBool,
}

impl Progress<'_> {
    fn update(&self, change: impl FnOnce(&mut Json)) -> Json {
        // A panic while the lock was held cannot leave the JSON half-changed in a way that
        // matters more than losing the progress: take it as it is.
        let mut record = self.record.lock().unwrap_or_else(|e| e.into_inner());
        change(&mut record);
        record.clone()
    }

    /// The dataset being swept: the last entry of `datasets`, started if `dataset` is new.
    fn current<'j>(record: &'j mut Json, dataset: &str) -> &'j mut Json {
        if !record["datasets"].is_array() {
            record["datasets"] = json!([]);
        }
        let datasets = record["datasets"]
            .as_array_mut()
            .expect("made an array just above");
        if datasets.last().is_none_or(|d| d["dataset"] != dataset) {
            datasets.push(json!({ "dataset": dataset, "tables": [], "complete": false }));
        }
        datasets.last_mut().expect("pushed just above if empty")
    }

    async fn write(&self, record: Json) {
        match self
            .state
            .store
            .record_task_progress(Task::Retention.name(), self.owner, &record)
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!("retention: the lease was taken over; the sweep stops");
                self.stop.store(true, Ordering::SeqCst);
            }
            Err(e) => {
                tracing::error!(error = %e, "retention: cannot record the sweep's progress; the sweep stops");
                self.stop.store(true, Ordering::SeqCst);
            }
        }
    }

    /// After a committed batch (or before a table's first): the table's counts so far, and
    /// the batch that may commit before the next write.
    fn batch<'s>(
        &'s self,
        dataset: &str,
        done: &SweepOutcome,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + 's>> {
        let counts = json!({
            "table": done.table,
            "deleted": done.deleted,
            "anonymised": done.anonymised,
            "deleted_along": done.deleted_along.iter().map(|(t, n)| json!({"table": t, "rows": n})).collect::<Vec<_>>(),
            "batches": done.batches,
        });
        let batch_size = self.state.config.retain_batch_size;
        let record = self.update(|record| {
            let current = Self::current(record, dataset);
            if !current["tables"].is_array() {
                current["tables"] = json!([]);
            }
            let tables = current["tables"]
                .as_array_mut()
                .expect("made an array just above");
            match tables.iter_mut().find(|t| t["table"] == counts["table"]) {
                Some(t) => *t = counts.clone(),
                None => tables.push(counts.clone()),
            }
            record["in_flight"] = json!({
                "dataset": dataset,
                "table": done.table,
                "at_most_rows": batch_size,
            });
            record["progress_at"] = json!(CivilTime::from_unix(self.state.now()).to_rfc3339());
        });
        let pause = self.state.config.pause_after_batch;
        Box::pin(async move {
            self.write(record).await;
            self.state.progressed();
            if let Some(pause) = pause {
                tokio::time::sleep(pause).await;
            }
        })
    }

    /// A dataset is done: its whole report replaces its counts.
    async fn dataset_done(&self, dataset: &str, report: Json) {
        let record = self.update(|record| {
            *Self::current(record, dataset) = report;
            if let Some(fields) = record.as_object_mut() {
                fields.remove("in_flight");
            }
        });
        self.write(record).await;
    }
}

/// The retention sweep over every dataset with a retention; a dataset that fails is named
/// in the report and the others still run. `progress` is the run's record in progress
/// (see the module's note).
async fn sweep(
    state: &AppState,
    owner: &str,
    progress: Json,
    shutdown: &watch::Receiver<bool>,
) -> Json {
    let m = &state.metrics;
    m.retention_runs.fetch_add(1, Ordering::Relaxed);
    let now = CivilTime::from_unix(state.now());
    let record = Progress {
        state,
        owner,
        record: Mutex::new(progress),
        stop: AtomicBool::new(false),
    };
    let stop = || *shutdown.borrow() || record.stop.load(Ordering::SeqCst);
    let tick = |_: &str, _: u64, _: Option<u64>| {};
    let mut datasets = Vec::new();
    for dataset in pledge_connect::datasets_with_retention(&state.decl, None, None) {
        let id = dataset.id.to_string();
        let on_batch = |done: &SweepOutcome| record.batch(&id, done);
        let options = BatchOptions {
            batch_size: state.config.retain_batch_size,
            dry_run: false,
            count_first: false,
            stop: &stop,
            progress: &tick,
            on_batch: Some(&on_batch),
        };
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
                let report = done.report();
                record.dataset_done(&id, report.clone()).await;
                datasets.push(report);
            }
            Err(error) => {
                m.retention_failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(dataset = %dataset.id, error = %error, "retention: the dataset's sweep failed");
                // What its batches committed before the failure stays in the record.
                let mut report = Json::Null;
                record.update(|r| report = Progress::current(r, &id).clone());
                report["error"] = json!(error);
                record.dataset_done(&id, report.clone()).await;
                datasets.push(report);
            }
        }
        if stop() {
            break;
        }
    }
    let mut report = json!({ "datasets": datasets, "batch_size": state.config.retain_batch_size });
    if pledge_connect::datasets_with_retention(&state.decl, None, None).is_empty() {
        report["note"] =
            json!("no table of the declaration has a `retention` rule: there was nothing to sweep");
    }
    report
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

/// The staff's digest: the open requests overdue, those due within the window, and those
/// waiting for someone (a failure to look at, a recipient to answer), each with its deadline
/// as the workflow counted it and a link to its page in the console; one message to each
/// recipient of the setting, none when nothing is listed.
async fn digest(state: &AppState, owner: &str) -> Json {
    let Some(config) = state.config.digest.as_ref() else {
        return json!({ "error": "no digest is configured" });
    };
    let now = state.now();
    let window = config.window_days * 86_400;
    let open = state
        .store
        .list_requests(&pledge_store::RequestFilter {
            due_before: Some(now + window),
            limit: Some(10_000),
            ..Default::default()
        })
        .await;
    let waiting = async {
        let mut all = Vec::new();
        for s in [RequestState::NeedsAction, RequestState::AwaitingExternal] {
            all.extend(
                state
                    .store
                    .list_requests(&pledge_store::RequestFilter {
                        state: Some(s),
                        limit: Some(10_000),
                        ..Default::default()
                    })
                    .await?,
            );
        }
        Ok::<_, pledge_store::Error>(all)
    }
    .await;
    let (open, mut waiting) = match (open, waiting) {
        (Ok(o), Ok(w)) => (o, w),
        (Err(e), _) | (_, Err(e)) => return json!({ "error": e.to_string() }),
    };
    waiting.sort_by(|a, b| (a.due_at, &a.id).cmp(&(b.due_at, &b.id)));
    let base = state.config.public.base_url.trim_end_matches('/');
    let item = |r: &pledge_store::RequestRecord| {
        json!({
            "id": r.id,
            "kind": r.kind.as_str(),
            "regime": r.regime.as_str(),
            "state": r.state.as_str(),
            "due": CivilTime::from_unix(r.due_at).to_date_string(),
            // The mail writes the day in its language from this.
            "due_at": r.due_at,
            "url": format!("{base}/console/requests/{}", r.id),
        })
    };
    let overdue: Vec<Json> = open.iter().filter(|r| r.due_at < now).map(item).collect();
    let due_soon: Vec<Json> = open.iter().filter(|r| r.due_at >= now).map(item).collect();
    // Each request in one list: an overdue or soon-due one is listed by its deadline.
    let needs_action: Vec<Json> = waiting
        .iter()
        .filter(|w| !open.iter().any(|o| o.id == w.id))
        .map(item)
        .collect();
    let counts = json!({
        "overdue": overdue.len(),
        "due_soon": due_soon.len(),
        "needs_action": needs_action.len(),
        "recipients": config.recipients.len(),
    });
    if overdue.is_empty() && due_soon.is_empty() && needs_action.is_empty() {
        return json!({ "sent": false, "counts": counts });
    }
    let data = json!({
        "as_of": CivilTime::from_unix(now).to_date_string(),
        "as_of_at": now,
        "window_days": config.window_days,
        "overdue": overdue,
        "due_soon": due_soon,
        "needs_action": needs_action,
    });
    match state
        .store
        .enqueue_digest(&config.recipients, &data, owner, now)
        .await
    {
        Ok(()) => json!({ "sent": true, "counts": counts }),
        Err(e) => json!({ "error": e.to_string(), "counts": counts }),
    }
}

/// Expired exports and links, and closed requests past the minimisation period. The store
/// audits what it changed in the same transaction; the run's record names the counts too.
async fn maintain(state: &AppState, owner: &str) -> Json {
    state
        .metrics
        .maintenance_runs
        .fetch_add(1, Ordering::Relaxed);
    let now = state.now();
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
            tracing::error!(error = %e, "maintenance failed");
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

#[utoipa::path(get, path = "/v1/retention/runs", summary = "Retention runs", security(("api_key" = ["admin", "privacy_officer"])), tag = "retention", params(RunsQuery),
    responses(
        (status = 200, description = "Scheduled retention runs, newest first, each with its per-table report (examined, deleted, anonymised, held back and why)", body = crate::http::schemas::Runs),
        (status = 400, description = "Bad query", body = crate::http::problem::ProblemDoc, content_type = "application/problem+json"),
        crate::http::problem::AuthProblems
    ))]
pub async fn retention_runs(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    query: Result<ApiQuery<RunsQuery>, Problem>,
) -> Result<Response, Problem> {
    caller.require(STAFF, "read retention runs")?;
    runs(&state, Task::Retention, query?.0).await
}

#[utoipa::path(get, path = "/v1/maintenance/runs", summary = "Maintenance runs", security(("api_key" = ["admin", "privacy_officer"])), tag = "retention", params(RunsQuery),
    responses(
        (status = 200, description = "Maintenance runs, newest first: exports and links deleted, requests minimised", body = crate::http::schemas::Runs),
        (status = 400, description = "Bad query", body = crate::http::problem::ProblemDoc, content_type = "application/problem+json"),
        crate::http::problem::AuthProblems
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
