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
use pledge_connect::pool::Lease;
use pledge_connect::{Options, Outcome, Who};
use pledge_docs::export::{self, DatasetRows};
use pledge_lang::rights::RequestKind;
use pledge_lang::time::CivilTime;
use pledge_lang::types::IdentityKind;
use pledge_lang::types::{SubjectRef, SubjectTemplate};
use pledge_plan::SchemaGraph;
use pledge_plan::people::{self, Identities};
use pledge_plan::retry::Transience;
use pledge_plan::{self as plan, Change, PlanError, TableRows, Value};
use pledge_store::{Job, JobFailure, ProvedBy, RequestRecord, SealedExport};
use serde_json::{Value as Json, json};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use thiserror::Error;
use tokio::sync::watch;

/// Why a request could not be run. Each says whether it may pass by itself
/// ([`JobError::transience`]): a transient failure is retried with back-off, a permanent
/// one stops the request in `needs_action` for staff. The message is for staff (the request's
/// job and events show it); it may name tables, columns and identity kinds, and quotes what
/// the database said, so it is never written to the log (see [`JobError::kind`]).
#[derive(Debug, Error)]
pub enum JobError {
    /// The application database failed or refused: the connector's error says which.
    #[error("dataset `{dataset}`: {}", chain(.source))]
    Dataset {
        dataset: String,
        #[source]
        source: pledge_connect::Error,
    },
    /// The declaration does not fit the request or the database (a declared table or
    /// column missing, a change of an unknown column, no identity column).
    #[error("dataset `{dataset}`: {source}")]
    Plan {
        dataset: String,
        #[source]
        source: PlanError,
    },
    #[error("dataset `{dataset}`: set {variable} to its connection URL")]
    NoConnection { dataset: String, variable: String },
    #[error(
        "dataset `{dataset}`: this erasure pseudonymises columns with a keyed hash: start the server with PLEDGE_HMAC_KEY set"
    )]
    NoHmacKey { dataset: String },
    #[error("exports are encrypted at rest: start the server with PLEDGE_EXPORT_KEY set")]
    NoExportKey,
    #[error("the export cannot be sealed: {0}")]
    Seal(#[from] crate::crypto::seal::SealError),
    #[error("identity `{kind}`: {message}")]
    Identity { kind: String, message: String },
    /// A public request whose confirmed address is gone, or a request with no identity.
    #[error("the request names no identity it proved")]
    NoProvedIdentity,
    /// A `consent_subject` template that does not fit the person's row.
    #[error("table `{table}`: consent_subject: {message}")]
    ConsentSubject { table: String, message: String },
    #[error("consent ledger: {0}")]
    Ledger(#[from] crate::consent::ConsentError),
    #[error("the store: {0}")]
    Store(#[from] pledge_store::Error),
    /// The thread that renders and seals the export was stopped (the server is stopping).
    #[error("the export was interrupted; it is made again on the next attempt")]
    Interrupted,
}

impl JobError {
    /// Whether trying again later may succeed. Exhaustive on purpose: a new variant must
    /// say which it is.
    pub fn transience(&self) -> Transience {
        use crate::consent::ConsentError;
        use crate::crypto::seal::SealError;
        match self {
            JobError::Dataset { source, .. } => source.transience(),
            JobError::Store(e) => e.transience(),
            JobError::Ledger(ConsentError::Store(e)) => e.transience(),
            // The writer task is gone only while the server stops: another run will do.
            JobError::Ledger(ConsentError::Writer(_)) => Transience::Transient,
            JobError::Ledger(ConsentError::Invalid(_)) => Transience::Permanent,
            // Jobs never read snapshots; should one say so, the next run reads the ledger.
            JobError::Ledger(ConsentError::Snapshot(_)) => Transience::Transient,
            JobError::Seal(SealError::Random(_)) | JobError::Interrupted => Transience::Transient,
            JobError::Seal(
                SealError::BadKey(_) | SealError::UnknownKey(_) | SealError::Tampered,
            )
            | JobError::Plan { .. }
            | JobError::NoConnection { .. }
            | JobError::NoHmacKey { .. }
            | JobError::NoExportKey
            | JobError::Identity { .. }
            | JobError::NoProvedIdentity
            | JobError::ConsentSubject { .. } => Transience::Permanent,
        }
    }

    /// A short name of the failure, without its message: what the log says, since the
    /// message may quote values the database rejected.
    pub fn kind(&self) -> &'static str {
        match self {
            JobError::Dataset { source, .. } => match source {
                pledge_connect::Error::Connect { .. } => "connect",
                pledge_connect::Error::Query { .. } | pledge_connect::Error::Step { .. } => "query",
                pledge_connect::Error::Ambiguous { .. } => "ambiguous-identity",
                pledge_connect::Error::Conflict { .. } => "conflicting-identities",
                pledge_connect::Error::NoSuchPerson { .. } => "no-such-person",
                _ => "dataset",
            },
            JobError::Plan { .. } => "declaration-mismatch",
            JobError::NoConnection { .. } => "no-connection-url",
            JobError::NoHmacKey { .. } => "no-hmac-key",
            JobError::NoExportKey => "no-export-key",
            JobError::Seal(_) => "seal",
            JobError::Identity { .. } => "identity",
            JobError::NoProvedIdentity => "no-proved-identity",
            JobError::ConsentSubject { .. } => "consent-subject",
            JobError::Ledger(_) => "consent-ledger",
            JobError::Store(_) => "store",
            JobError::Interrupted => "interrupted",
        }
    }

    /// The database's code for the failure, if it gave one (for the log).
    pub fn code(&self) -> Option<String> {
        match self {
            JobError::Dataset { source, .. } => source.code(),
            _ => None,
        }
    }
}

/// A span of seconds in words: `45 s`, `12 min`, `3 h 5 min`.
pub fn duration_words(secs: i64) -> String {
    let secs = secs.max(0);
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min", secs / 60),
        _ => format!("{} h {} min", secs / 3600, secs % 3600 / 60),
    }
}

/// An error and its sources, joined by ": ".
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}

/// Runs until `shutdown` turns true. A job in hand is finished first.
pub async fn run(state: AppState, owner: String, mut shutdown: watch::Receiver<bool>) {
    // Counted alive until this task ends, however it ends (`/readyz`).
    let _alive = state.health.worker_started();
    loop {
        if *shutdown.borrow() {
            return;
        }
        let claiming = std::time::Instant::now();
        let claimed = state
            .store
            .claim_job(&owner, state.config.lease_secs, state.now())
            .await;
        match claimed {
            Ok(Some(job)) => {
                tracing::debug!(
                    job = job.id,
                    claim_us = claiming.elapsed().as_micros() as u64,
                    "job claimed"
                );
                work(&state, job).await;
                state.progressed();
                continue;
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(worker = %owner, error = %e, "cannot claim a job"),
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
            forward_to = crate::jobs::forward::recipients_for(state, request.kind);
            execute(state, &request, false).await
        }
        Err(e) => Err(JobError::Store(e)),
    };
    if let Some(pause) = state.config.pause_before_complete {
        // A test hook (PLEDGE_TEST_PAUSE_BEFORE_COMPLETE_MS): the window in which a crash
        // leaves the work done but not recorded.
        tracing::info!(request = %job.request_id, "request executed; pausing before completion");
        tokio::time::sleep(pause).await;
    }
    let _ = done_tx.send(true);
    let _ = renewer.await;
    let now = state.now();
    match result {
        Ok((mut summary, export)) => {
            // How long the run took, from the claim to the result.
            let ran = started.elapsed();
            summary["microseconds"] = json!(u64::try_from(ran.as_micros()).unwrap_or(u64::MAX));
            let completed = state
                .store
                .complete_job(&job, &summary, export.as_ref(), &forward_to, now)
                .await;
            tracing::debug!(
                job = job.id,
                run_us = ran.as_micros() as u64,
                complete_us = (started.elapsed() - ran).as_micros() as u64,
                "job recorded"
            );
            match completed {
                Ok(true) => {
                    state.metrics.jobs_completed.fetch_add(1, Ordering::Relaxed);
                    state.wake_mail.notify_one();
                    if !forward_to.is_empty() {
                        state.wake_forward.notify_one();
                    }
                }
                Ok(false) => tracing::info!(
                    job = job.id,
                    "lost the lease of the job; another worker finishes it"
                ),
                // The job stays running under its lease; when that ends, a worker runs the
                // request again (idempotent) and records it.
                Err(e) => {
                    tracing::error!(job = job.id, error = %e, "cannot record the job's completion")
                }
            }
        }
        Err(error) => fail(state, &job, &error, now).await,
    }
}

/// Records a failed attempt: a transient failure goes back to the queue after the back-off
/// (the request stays in progress, showing what it waits for); a permanent one, or a
/// transient one past its budget, moves the request to `needs_action` with the reason.
/// Should even that write fail, the job keeps its lease until it ends and a worker takes it
/// over: every path out of a job ends in completed, needs_action or queued again.
async fn fail(state: &AppState, job: &Job, error: &JobError, now: i64) {
    state.metrics.jobs_failed.fetch_add(1, Ordering::Relaxed);
    let reason = error.to_string();
    let transience = error.transience();
    let schedule = &state.config.retry;
    let retry = u32::try_from(job.attempts).unwrap_or(u32::MAX).max(1);
    let first_failed_at = job.first_failed_at.unwrap_or(now);
    let next = match transience {
        Transience::Transient => {
            // The jitter's randomness comes from the shell; without it, no jitter.
            schedule.next_attempt(retry, first_failed_at, now, getrandom::u32().unwrap_or(0))
        }
        Transience::Permanent => None,
    };
    let gave_up;
    let failure = match next {
        Some(at) => JobFailure::Retry { error: &reason, at },
        None if transience == Transience::Transient => {
            gave_up = format!(
                "gave up retrying after {} attempts over {}: {reason}",
                job.attempts,
                duration_words(now - first_failed_at)
            );
            JobFailure::NeedsAction { reason: &gave_up }
        }
        None => JobFailure::NeedsAction { reason: &reason },
    };
    tracing::warn!(
        request = %job.request_id,
        job = job.id,
        attempt = job.attempts,
        kind = error.kind(),
        code = error.code().as_deref().unwrap_or(""),
        transience = transience.as_str(),
        retry_at = next.unwrap_or(0),
        "the request failed"
    );
    match state.store.fail_job(job, failure, now).await {
        Ok(true) => {
            if matches!(failure, JobFailure::NeedsAction { .. }) {
                state
                    .metrics
                    .jobs_needing_action
                    .fetch_add(1, Ordering::Relaxed);
            } else {
                state.metrics.jobs_retried.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(false) => tracing::info!(
            job = job.id,
            "lost the lease of the job before recording its failure"
        ),
        Err(e) => {
            tracing::error!(job = job.id, error = %e, "cannot record the failure of the job; it is retried when its lease ends")
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
) -> Result<(Json, Option<SealedExport>), JobError> {
    let decl = &state.decl;
    let clock = std::time::Instant::now();
    let (person, mut opened) = resolve_person(state, request).await?;
    let resolved = clock.elapsed();
    let Some(kind) = request.kind.plan_kind() else {
        // Nothing runs against the databases: the connections go back, clean.
        for (lease, _) in opened.into_values() {
            lease.release();
        }
        let ledger = record_in_ledger(state, request, &person, dry_run).await?;
        return Ok((
            json!({ "datasets": [], "identities": person.describe(), "ledger": ledger }),
            None,
        ));
    };
    // One request is one person: the identities it acts on in a dataset (those it proved,
    // and those found on the person's own rows in *other* datasets) must all find the same
    // rows. Within the dataset they were read from, found identities add nothing (the row was
    // found by the proved ones, and the rest is reached through it) and could mislead: a
    // value an earlier erasure overwrote with a fixed text is shared by everyone erased.
    let identities_for = |dataset: &str| {
        Identities::new(
            person
                .identities
                .iter()
                .filter(|k| match &k.how {
                    How::FoundOn(on) => on.split_once('.').is_none_or(|(d, _)| d != dataset),
                    How::Proved(_) => true,
                })
                .map(|k| (k.kind.clone(), k.value.clone())),
        )
    };
    let changes: Vec<Change> = request
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
    let mut datasets = Vec::new();
    let mut data: Vec<(String, Vec<TableRows>)> = Vec::new();
    // Datasets in which someone with these identities was found.
    let mut found = 0;
    for dataset in &decl.doc().datasets {
        let id = dataset.id.to_string();
        let url = state
            .dataset_url(dataset)
            .map_err(|_| JobError::NoConnection {
                dataset: id.clone(),
                variable: dataset.connection_env.to_string(),
            })?;
        // The connection the person was looked up on, if any: one schema read for both.
        let (mut db, schema) = match opened.remove(&id) {
            Some(kept) => kept,
            None => checkout(state, dataset, &url).await?,
        };
        let one = identities_for(&id).map_err(|e| JobError::Identity {
            kind: String::new(),
            message: e.to_string(),
        })?;
        let plan_request = plan::Request {
            kind,
            identities: people::by_kind([&one]),
            changes: changes.clone(),
            now,
        };
        let plan =
            plan::plan(decl, dataset, &schema, &plan_request).map_err(|source| JobError::Plan {
                dataset: id.clone(),
                source,
            })?;
        let who = plan::person(dataset, &schema, &one, None).map_err(|source| JobError::Plan {
            dataset: id.clone(),
            source,
        })?;
        if !dry_run && state.config.hmac_key.is_empty() && plan.uses_hmac() {
            return Err(JobError::NoHmacKey { dataset: id });
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
        let outcome: Result<Outcome, _> = db.db().execute(&schema, &plan, &options).await;
        let outcome = match outcome {
            Ok(outcome) => {
                // The plan ran to its end: the connection is clean, for the next job.
                db.release();
                outcome
            }
            // Nobody with these identities in this dataset: nothing of theirs is here (and
            // nothing was changed). Not a failure: the answer may be "no data held".
            Err(pledge_connect::Error::NoSuchPerson { .. }) => {
                datasets.push(json!({
                    "dataset": id,
                    "found": false,
                    "committed": false,
                    "steps": [],
                    "notes": plan.notes,
                }));
                continue;
            }
            // Rows no column can mark: the consent ledger still records the restriction
            // below, and decisions refuse processing from then on; the summary says so.
            Err(e @ pledge_connect::Error::NotRestrictable { .. }) => {
                datasets.push(json!({
                    "dataset": id,
                    "found": true,
                    "committed": false,
                    "steps": [],
                    "notes": [format!("{e}; the restriction is recorded in the consent ledger, whose decisions refuse processing of the person's data (Art. 18)")],
                }));
                found += 1;
                continue;
            }
            Err(source) => {
                return Err(JobError::Dataset {
                    dataset: id,
                    source,
                });
            }
        };
        found += 1;
        datasets.push(json!({
            "dataset": id,
            "found": true,
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
    // No dataset holds anyone with these identities. For access and portability the answer
    // is still an export: the statement that no data is held, with the meta-information of
    // Art. 15(1) (purposes, recipients, retention, rights, the authority), and the person
    // is told so. A rectification or restriction of nobody has nothing to change: it is
    // completed the same way (an erasure of nobody already deletes nothing and completes).
    let ran = clock.elapsed();
    let no_data_held =
        found == 0 && !decl.doc().datasets.is_empty() && kind != RequestKind::Erasure;
    let export = if !dry_run && matches!(kind, RequestKind::Access | RequestKind::Portability) {
        let keys = state
            .config
            .export_keys
            .clone()
            .ok_or(JobError::NoExportKey)?;
        let expires_at = now.to_unix() + state.config.export_ttl_secs;
        // Rendering, compressing and encrypting an export of thousands of rows is CPU work
        // of up to seconds: on a blocking thread, so the runtime's threads go on serving.
        let (decl, identities, id) = (
            std::sync::Arc::clone(decl),
            request.identities.clone(),
            request.id.clone(),
        );
        let sealed = tokio::task::spawn_blocking(move || {
            let rows: Vec<DatasetRows<'_>> = data
                .iter()
                .map(|(d, t)| DatasetRows {
                    dataset: d,
                    tables: t,
                })
                .collect();
            let files = export::render(&decl, kind, &rows, &identities, now);
            keys.seal(&id, &zip_files(files), expires_at)
        })
        .await
        .map_err(|e| match e.try_into_panic() {
            // A panic there is a panic here, as it was before the work moved.
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(_) => JobError::Interrupted,
        })??;
        Some(sealed)
    } else {
        None
    };
    // Where a job's time goes, for whoever tunes it (never a value of the person's).
    tracing::debug!(
        request = %request.id,
        person_us = resolved.as_micros() as u64,
        datasets_us = (ran - resolved).as_micros() as u64,
        export_us = (clock.elapsed() - ran).as_micros() as u64,
        "request executed"
    );
    let mut summary = json!({ "datasets": datasets, "identities": person.describe() });
    if no_data_held {
        summary["no_data_held"] = json!(true);
    }
    if kind == RequestKind::Restriction {
        // Decisions deny restricted data from now on (Art. 18(2)).
        summary["ledger"] = record_in_ledger(state, request, &person, dry_run).await?;
    }
    Ok((summary, export))
}

/// One identity a request acts on, and why it is the person's.
#[derive(Debug, Clone, PartialEq)]
struct Known {
    kind: IdentityKind,
    value: String,
    how: How,
}

#[derive(Debug, Clone, PartialEq)]
enum How {
    /// Named by the request and proved (by the e-mail code, or by staff or a service).
    Proved(&'static str),
    /// Read from the person's own row: `dataset.table`.
    FoundOn(String),
}

/// Who a request is about: the identities it acts on and the consent ledger's subjects its
/// rows name (a table's `consent_subject`), with where each came from.
#[derive(Debug, Default)]
struct Person {
    identities: Vec<Known>,
    subjects: Vec<(SubjectRef, String)>,
}

impl Person {
    /// For the result and the approver's dry run: each identity, and how it is known.
    fn describe(&self) -> Json {
        self.identities
            .iter()
            .map(|k| match &k.how {
                How::Proved(by) => {
                    json!({"kind": k.kind.to_string(), "value": k.value, "proved_by": by})
                }
                How::FoundOn(on) => {
                    json!({"kind": k.kind.to_string(), "value": k.value, "found_on": on})
                }
            })
            .collect()
    }
}

/// The identities the request proved: from the public only the confirmed `email` (intake
/// refuses any other, and a request stored otherwise is not trusted with it); from staff and
/// services every one they named.
// JobError is as large as the connector's error it carries; this runs once per request.
#[allow(clippy::result_large_err)]
fn proved_identities(request: &RequestRecord) -> Result<Vec<Known>, JobError> {
    let mut proved = Vec::new();
    for (k, v) in &request.identities {
        let kind: IdentityKind = k.parse().map_err(|e| JobError::Identity {
            kind: k.clone(),
            message: format!("{e}"),
        })?;
        let how = match request.proved_by {
            Some(ProvedBy::EmailCode) if k != "email" => continue,
            Some(p) => p.as_str(),
            None => "unrecorded",
        };
        proved.push(Known {
            kind,
            value: v.clone(),
            how: How::Proved(how),
        });
    }
    if proved.is_empty() {
        return Err(JobError::NoProvedIdentity);
    }
    Ok(proved)
}

/// Finds the person behind the request's proved identities: in each dataset, the rows those
/// identities select directly (the planner's seeds), and on them the ledger subject id
/// (`consent_subject`) and, in tables of people (a declared `subject`), the other identity
/// columns the declaration names (e.g. the customer id on the customer row of the address).
/// Only those rows count: never another person's row reached through a reference, and never
/// an id the requester typed but did not prove. Read-only.
async fn resolve_person(
    state: &AppState,
    request: &RequestRecord,
) -> Result<(Person, Opened), JobError> {
    let mut opened = Opened::new();
    let mut person = Person {
        identities: proved_identities(request)?,
        subjects: Vec::new(),
    };
    let proved = Identities::new(
        person
            .identities
            .iter()
            .map(|k| (k.kind.clone(), k.value.clone())),
    )
    .map_err(|e| JobError::Identity {
        kind: String::new(),
        message: e.to_string(),
    })?;
    let seeds = plan::Request {
        kind: RequestKind::Access,
        identities: people::by_kind([&proved]),
        changes: Vec::new(),
        now: CivilTime::from_unix(state.now()),
    };
    for dataset in &state.decl.doc().datasets {
        if !dataset.tables.iter().any(|t| !t.identity.is_empty()) {
            continue;
        }
        let id = dataset.id.to_string();
        let url = state
            .dataset_url(dataset)
            .map_err(|_| JobError::NoConnection {
                dataset: id.clone(),
                variable: dataset.connection_env.to_string(),
            })?;
        let (mut db, schema) = checkout(state, dataset, &url).await?;
        let plan = match plan::plan(&state.decl, dataset, &schema, &seeds) {
            Ok(plan) => plan,
            // The proved identities name no table here: nothing to find in this dataset.
            Err(plan::PlanError::NoIdentityColumn { .. }) => {
                opened.insert(id, (db, schema));
                continue;
            }
            Err(source) => {
                return Err(JobError::Plan {
                    dataset: id,
                    source,
                });
            }
        };
        // The person's own rows: the reads whose filter is the table's declared identity
        // columns themselves (not rows found through references or mentions).
        let own = |step: &plan::Step| match &step.filter {
            plan::Filter::Identity { columns } => dataset.tables.iter().any(|t| {
                t.name.value == step.table
                    && columns
                        .iter()
                        .all(|(c, _)| t.identity.values().any(|i| i.value == *c))
            }),
            _ => false,
        };
        let mut steps: Vec<plan::Step> = Vec::new();
        for step in plan.steps.iter().filter(|s| own(s)) {
            if !steps.iter().any(|s| s.table == step.table) {
                steps.push(step.clone());
            }
        }
        let own_rows = plan::Plan {
            steps,
            notes: Vec::new(),
            ..plan
        };
        // The proved identities must name one person here too.
        let who = match plan::person(dataset, &schema, &proved, None) {
            Ok(who) => who,
            Err(source) => {
                return Err(JobError::Plan {
                    dataset: id,
                    source,
                });
            }
        };
        let progress = |_: usize, _: usize| {};
        let options = Options {
            dry_run: true,
            hmac_key: b"read-only: nothing is written",
            who: Who::Person(&who),
            progress: &progress,
        };
        let outcome = db.db().execute(&schema, &own_rows, &options).await;
        let outcome = match outcome {
            // Rolled back to its end: the connection is clean, for the request's own plan.
            Ok(outcome) => {
                opened.insert(id.clone(), (db, schema.clone()));
                outcome
            }
            // Nobody here has these identities: nothing more to find in this dataset.
            Err(pledge_connect::Error::NoSuchPerson { .. }) => continue,
            Err(source) => {
                return Err(JobError::Dataset {
                    dataset: id,
                    source,
                });
            }
        };
        for rows in outcome.steps.into_iter().filter_map(|s| s.data) {
            let Some(table) = dataset.tables.iter().find(|t| t.name.value == rows.table) else {
                continue;
            };
            let found_on = format!("{id}.{}", rows.table);
            for row in &rows.rows {
                let value_of = |kind: &IdentityKind| -> Option<String> {
                    let column = table.identity.get(kind)?;
                    let at = rows.columns.iter().position(|c| *c == column.value)?;
                    let v = row.get(at)?;
                    (!v.is_null()).then(|| v.to_string())
                };
                // Other ids are taken only from a table of people (one that declares its
                // `subject`: customers, staff), where a row is the person's record; a table
                // anyone writes to (tickets, sign-ups) could pair an address with someone
                // else's id.
                let authoritative = table.subject.is_some();
                for kind in table.identity.keys().filter(|_| authoritative) {
                    let Some(value) = value_of(&kind.value) else {
                        continue;
                    };
                    if !person
                        .identities
                        .iter()
                        .any(|k| k.kind == kind.value && k.value == value)
                    {
                        person.identities.push(Known {
                            kind: kind.value.clone(),
                            value,
                            how: How::FoundOn(found_on.clone()),
                        });
                    }
                }
                let Some(template) = &table.consent_subject else {
                    continue;
                };
                // The declaration was checked when it was loaded: the template parses.
                let template: SubjectTemplate =
                    template
                        .value
                        .parse()
                        .map_err(|e| JobError::ConsentSubject {
                            table: found_on.clone(),
                            message: format!("{e}"),
                        })?;
                if let Some(subject) = template.render(value_of) {
                    let subject = subject.map_err(|e| JobError::ConsentSubject {
                        table: found_on.clone(),
                        message: format!("{e}"),
                    })?;
                    if !person.subjects.iter().any(|(s, _)| *s == subject) {
                        person.subjects.push((subject, found_on.clone()));
                    }
                }
            }
        }
    }
    Ok((person, opened))
}

/// Connections a job holds, by dataset id, with the schema they were checked out with.
type Opened = std::collections::HashMap<String, (Lease, Arc<SchemaGraph>)>;

/// A connection to `dataset`'s database from its pool, and its schema as it is now; the
/// health check learns whether the database answered.
// JobError is as large as the connector's error it carries; this runs once per dataset.
#[allow(clippy::result_large_err)]
async fn checkout(
    state: &AppState,
    dataset: &pledge_lang::model::Dataset,
    url: &str,
) -> Result<(Lease, Arc<SchemaGraph>), JobError> {
    let id = dataset.id.to_string();
    let opened = state.dataset_pool(dataset, url).checkout().await;
    state
        .health
        .dataset_seen(&id, state.now(), opened.as_ref().err().map(|e| chain(e)));
    opened.map_err(|source| JobError::Dataset {
        dataset: id,
        source,
    })
}

/// The consent ledger's subjects of the person: the ids their rows name (`consent_subject`),
/// then the request's identities taken as ids, as before: an e-mail address only when the
/// ledger already knows it (so that no new address enters the append-only ledger), any other
/// proved id (staff naming the application's user id) always, an id found on the person's
/// rows when the ledger knows it. Ids that the ledger links count once, under the subject
/// they resolve to.
fn ledger_subjects(state: &AppState, person: &Person) -> Vec<(SubjectRef, Json)> {
    let mut subjects: Vec<(SubjectRef, Json)> = person
        .subjects
        .iter()
        .map(|(s, on)| (s.clone(), json!({ "found_on": on })))
        .collect();
    for k in &person.identities {
        let Ok(subject) = k.value.parse::<SubjectRef>() else {
            continue;
        };
        let known = state.consent.knows(&subject);
        let (take, how) = match &k.how {
            How::Proved(by) => (
                known || k.kind.as_str() != "email",
                json!({ "proved_by": by }),
            ),
            How::FoundOn(on) => (known, json!({ "found_on": on })),
        };
        if take {
            subjects.push((subject, how));
        }
    }
    let mut seen: Vec<SubjectRef> = Vec::new();
    subjects.retain(|(s, _)| {
        let resolved = state
            .consent
            .linked_ids(s)
            .into_iter()
            .next()
            .unwrap_or_else(|| s.clone());
        if seen.contains(&resolved) {
            false
        } else {
            seen.push(resolved);
            true
        }
    });
    subjects
}

/// Records a right in the consent ledger for each of the person's subjects
/// ([`ledger_subjects`]); ids linked to one share its state. Returns, per subject, where it
/// came from and what was (or, in a dry run, would be) recorded: nothing when the person has
/// no subject, which the completion message says.
async fn record_in_ledger(
    state: &AppState,
    request: &RequestRecord,
    person: &Person,
    dry_run: bool,
) -> Result<Json, JobError> {
    let actor = format!("request:{}", request.id);
    let mut recorded = Vec::new();
    for (subject, how) in ledger_subjects(state, person) {
        let events = state
            .consent
            .apply_right(request.kind, &subject, dry_run, &actor)
            .await?;
        let mut entry = json!({ "subject": subject.as_str(), "events": events });
        if let (Some(e), Json::Object(how)) = (entry.as_object_mut(), how) {
            e.extend(how);
        }
        recorded.push(entry);
    }
    Ok(Json::Array(recorded))
}

fn zip_files(files: Vec<export::ExportFile>) -> Vec<u8> {
    let entries: Vec<(&str, &[u8])> = files
        .iter()
        .map(|f| (f.path.as_str(), f.bytes.as_slice()))
        .collect();
    pledge_docs::archive::zip(&entries)
}
