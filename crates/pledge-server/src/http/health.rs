//! `/readyz`: whether this replica can do its work, and if not, what is broken. The store
//! must take a write (a real write probe, since a full disk lets reads through), the
//! workers this process started must be running, the application databases must be
//! reachable (known from the workers' last runs, or checked at most every
//! [`DATASET_CHECK_SECS`], never on every call), the mailer must be keeping up with the
//! outbox. It also lists requests in progress without a job a worker will take (there
//! should be none), without failing for them. 200 with the checks when all pass; 503
//! naming the failed ones otherwise. `/healthz` stays the
//! liveness probe: the process answers.

use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// How long what is known of a dataset's reachability is trusted before `/readyz` connects
/// to it again.
pub const DATASET_CHECK_SECS: i64 = 30;
/// How long `/readyz` waits for a dataset's database to accept a connection.
const DATASET_TIMEOUT: Duration = Duration::from_secs(3);
/// A message due for longer than this means the mailer is not keeping up (its retries are
/// at most an hour apart).
pub const MAIL_BACKLOG_SECS: i64 = 2 * 3600;

/// What the workers and probes have seen, shared by the whole process.
#[derive(Default)]
pub struct Health {
    workers: AtomicUsize,
    datasets: Mutex<BTreeMap<String, Seen>>,
}

#[derive(Debug, Clone)]
struct Seen {
    at: i64,
    error: Option<String>,
}

/// Counts a worker alive while it is held.
pub struct Alive<'a>(&'a AtomicUsize);

impl Drop for Alive<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Health {
    /// A worker task began; it counts as alive until the guard drops (its task ended,
    /// normally or by a panic).
    pub fn worker_started(&self) -> Alive<'_> {
        self.workers.fetch_add(1, Ordering::SeqCst);
        Alive(&self.workers)
    }

    pub fn workers_alive(&self) -> usize {
        self.workers.load(Ordering::SeqCst)
    }

    /// What connecting to `dataset` at `at` gave: `None` it answered, else the error.
    pub fn dataset_seen(&self, dataset: &str, at: i64, error: Option<String>) {
        self.datasets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(dataset.to_string(), Seen { at, error });
    }

    fn dataset(&self, dataset: &str) -> Option<Seen> {
        self.datasets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(dataset)
            .cloned()
    }
}

/// `GET /healthz`: the liveness probe; the process answers.
#[utoipa::path(get, path = "/healthz", summary = "Liveness", tag = "operations", security(()),
    responses((status = 200, description = "The process answers: `ok`", content_type = "text/plain", body = String)))]
pub async fn healthz() -> &'static str {
    "ok\n"
}

/// `GET /readyz`.
#[utoipa::path(get, path = "/readyz", summary = "Readiness", tag = "operations", security(()),
    description = "Whether this replica can do its work: the store takes a write, the workers run, the datasets are reachable, the mailer keeps up.",
    responses(
        (status = 200, description = "Every check passed; the checks", body = crate::http::schemas::Readiness),
        (status = 503, description = "Some check failed; the checks, naming the broken ones", body = crate::http::schemas::Readiness)
    ))]
pub async fn readyz(State(state): State<AppState>) -> Response {
    let now = state.now();
    let mut broken: Vec<&str> = Vec::new();

    let store = match state.store.probe_write(now).await {
        Ok(()) => json!({ "ok": true }),
        Err(e) => {
            broken.push("store");
            // The reason is for the operator's log: `/readyz` answers anyone.
            tracing::warn!(error = %e, "readyz: the store cannot write");
            json!({ "ok": false, "retryable": e.retryable() })
        }
    };

    let expected = state.config.workers;
    let alive = state.health.workers_alive();
    if alive < expected {
        broken.push("workers");
    }
    let workers = json!({ "ok": alive >= expected, "expected": expected, "alive": alive });

    let mut datasets = serde_json::Map::new();
    let mut datasets_ok = true;
    for dataset in &state.decl.doc().datasets {
        let id = dataset.id.to_string();
        let seen = match state.health.dataset(&id) {
            Some(seen) if now - seen.at < DATASET_CHECK_SECS => seen,
            _ => {
                let error = check_dataset(&state, dataset).await.err();
                if let Some(e) = &error {
                    tracing::warn!(dataset = %id, error = %e, "readyz: the dataset's database does not answer");
                }
                state.health.dataset_seen(&id, now, error);
                state.health.dataset(&id).unwrap_or(Seen {
                    at: now,
                    error: None,
                })
            }
        };
        datasets_ok &= seen.error.is_none();
        datasets.insert(
            id,
            json!({
                "ok": seen.error.is_none(),
                "checked_at": pledge_lang::time::CivilTime::from_unix(seen.at).to_rfc3339(),
            }),
        );
    }
    if !datasets_ok {
        broken.push("datasets");
    }

    let mailer = match state.store.outbox_backlog(now).await {
        Ok((due, oldest)) => {
            let late = oldest.map_or(0, |t| now - t);
            // Only a replica that runs the mailer answers for it.
            let ok = expected == 0 || late <= MAIL_BACKLOG_SECS;
            if !ok {
                broken.push("mailer");
            }
            json!({ "ok": ok, "due": due, "oldest_due_secs": late })
        }
        Err(e) => {
            tracing::warn!(error = %e, "readyz: cannot read the outbox");
            json!({ "ok": false })
        }
    };

    // Shown, not counted against readiness: a request stuck by data would otherwise take
    // every replica out of service. Staff see it here and in `GET /v1/requests`.
    let requests = match state.store.orphaned_requests().await {
        Ok(ids) => json!({ "ok": ids.is_empty(), "in_progress_without_job": ids.len() }),
        Err(e) => {
            tracing::warn!(error = %e, "readyz: cannot look for requests without a job");
            json!({ "ok": false })
        }
    };

    let body = json!({
        "ready": broken.is_empty(),
        "broken": broken,
        "checks": {
            "store": store,
            "workers": workers,
            "datasets": Value::Object(datasets),
            "mailer": mailer,
            "requests": requests,
        },
    });
    let status = if broken.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(body)).into_response()
}

/// Connects to a dataset's database (and lets go): whether it answers.
async fn check_dataset(
    state: &AppState,
    dataset: &pledge_lang::model::Dataset,
) -> Result<(), String> {
    let url = state
        .dataset_url(dataset)
        .map_err(|_| format!("{} is not set", dataset.connection_env))?;
    let engine = dataset.engine.as_ref().map(|e| e.value);
    match tokio::time::timeout(
        DATASET_TIMEOUT,
        pledge_connect::Database::connect(engine, &url),
    )
    .await
    {
        Ok(Ok(db)) => {
            db.close().await;
            Ok(())
        }
        Ok(Err(e)) => Err(crate::jobs::worker::chain(&e)),
        Err(_) => Err(format!(
            "no connection within {} s",
            DATASET_TIMEOUT.as_secs()
        )),
    }
}
