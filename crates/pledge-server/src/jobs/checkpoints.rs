//! Signed checkpoints of the audit log and the consent ledger, made by the server on a
//! schedule (and after a number of new audit records), kept in the store, appended to files
//! in a directory outside it, and served to staff; see `pledge_domain::checkpoint` for the
//! format and `pledge_store::checkpoint` for what the store is checked against.
//!
//! Each checkpoint is made by walking on from the last one (the store's copy or the
//! exported one, whichever is larger and carries this key's valid signature): a log that no
//! longer holds what was signed, or whose chain is broken, is not signed again; the refusal
//! is in the run's audit record and the server's log.

use crate::http::api::STAFF;
use crate::http::problem::{ApiQuery, Problem};
use crate::{AppState, Caller};
use axum::Extension;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use pledge_domain::checkpoint::{Checkpoint, LOGS, LogKind, SigningKey, split_notes};
use pledge_domain::cron::Schedule;
use pledge_store::Store;
use pledge_store::checkpoint::Prefix;
use serde::Deserialize;
use serde_json::{Value as Json, json};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::watch;

/// How the server signs checkpoints.
#[derive(Clone, Debug)]
pub struct CheckpointConfig {
    /// The signing key, from outside the store (the environment or a key file).
    pub key: SigningKey,
    /// When checkpoints are made (cron, UTC).
    pub schedule: Option<Schedule>,
    /// Also after this many new audit records (checked every few seconds).
    pub every_records: Option<u64>,
    /// A directory where each log's checkpoints are appended to `<log>.checkpoints`.
    pub dir: Option<PathBuf>,
}

/// The file a log's checkpoints are appended to in the export directory.
pub fn export_file(dir: &Path, log: LogKind) -> PathBuf {
    dir.join(format!("{}.checkpoints", log.as_str()))
}

/// A new signing key from the system's random source.
pub fn generate_key(name: &str) -> Result<SigningKey, String> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| format!("cannot draw random bytes: {e}"))?;
    SigningKey::from_seed(name, seed).map_err(|e| e.to_string())
}

/// The last checkpoint of `log` in the export directory that this key signed, with its note.
pub fn last_exported(dir: &Path, key: &SigningKey, log: LogKind) -> Option<(Checkpoint, String)> {
    let text = std::fs::read_to_string(export_file(dir, log)).ok()?;
    let verifier = key.verifier();
    split_notes(&text).into_iter().rev().find_map(|n| {
        verifier
            .open(n.as_bytes())
            .ok()
            .filter(|c| c.log() == Some(log))
            .map(|c| (c, n.to_string()))
    })
}

/// The store's last copy of a checkpoint of `log`, if this key signed it: the checkpoint as
/// signed, and the ledger's frontier kept beside it.
async fn last_stored(
    store: &Store,
    key: &SigningKey,
    log: LogKind,
) -> Result<Option<(Checkpoint, Option<pledge_domain::merkle::Frontier>)>, pledge_store::Error> {
    Ok(store.latest_checkpoint(log).await?.and_then(|s| {
        key.verifier()
            .open(s.note.as_bytes())
            .ok()
            .filter(|c| c.log() == Some(log))
            .map(|c| (c, s.frontier))
    }))
}

/// Appends a note to the log's export file, and syncs it.
fn export(dir: &Path, log: LogKind, note: &str) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(export_file(dir, log))?;
    f.write_all(note.as_bytes())?;
    f.write_all(b"\n")?;
    f.sync_all()
}

/// Makes a checkpoint of each log that changed since its last one: signed, kept in the
/// store, exported. Returns the report of what was signed or refused, per log.
pub async fn make(store: &Store, config: &CheckpointConfig, now: i64) -> Json {
    let mut logs = serde_json::Map::new();
    for log in LOGS {
        logs.insert(
            log.as_str().replace('-', "_"),
            make_one(store, config, log, now).await,
        );
    }
    Json::Object(logs)
}

async fn make_one(store: &Store, config: &CheckpointConfig, log: LogKind, now: i64) -> Json {
    let stored = match last_stored(store, &config.key, log).await {
        Ok(s) => s,
        Err(e) => return json!({ "error": e.to_string() }),
    };
    let exported = config
        .dir
        .as_deref()
        .and_then(|d| last_exported(d, &config.key, log));
    // Walk on from the larger of the two; the store's copy carries the ledger's frontier.
    let prefix = match (stored, &exported) {
        (Some((s, _)), Some((e, _))) if e.size > s.size => Some(Prefix::from_checkpoint(e, None)),
        (Some((s, frontier)), _) => Some(Prefix::from_checkpoint(&s, frontier)),
        (None, Some((e, _))) => Some(Prefix::from_checkpoint(e, None)),
        (None, None) => None,
    };
    let state = match store.log_state(log, prefix.as_ref()).await {
        Ok(Ok(state)) => state,
        Ok(Err(why)) => {
            tracing::error!(log = log.describe(), reason = %why, "checkpoint refused");
            return json!({ "refused": why });
        }
        Err(e) => return json!({ "error": e.to_string() }),
    };
    if let Some(p) = &prefix
        && p.size == state.size
        && p.head == state.head
    {
        return json!({ "size": state.size, "unchanged": true });
    }
    let note = config.key.sign(&state.checkpoint(config.key.name(), now));
    if let Err(e) = store.save_checkpoint(&state, now, &note).await {
        return json!({ "error": e.to_string() });
    }
    let exported = match &config.dir {
        None => json!(false),
        Some(dir) => match export(dir, log, &note) {
            Ok(()) => json!(true),
            Err(e) => {
                tracing::warn!(log = log.describe(), error = %e, "checkpoint saved in the store but not exported");
                json!({ "error": format!("cannot append to {}: {e}", export_file(dir, log).display()) })
            }
        },
    };
    json!({
        "size": state.size,
        "head": state.head,
        "root": pledge_store::audit::hex(&state.root),
        "exported": exported,
    })
}

/// After `every_records` new audit records since the last checkpoint, makes one without
/// waiting for the schedule (through the same lease as the scheduled runs).
pub async fn follow(state: AppState, owner: String, mut shutdown: watch::Receiver<bool>) {
    let Some(config) = state.config.checkpoints.clone() else {
        return;
    };
    let Some(every) = config.every_records else {
        return;
    };
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
        let last = state
            .store
            .latest_checkpoint(LogKind::AuditLog)
            .await
            .ok()
            .flatten()
            .map_or(0, |c| c.size);
        // A record numbered `every` after the last checkpoint: that many are new.
        let after = i64::try_from(last + every - 1).unwrap_or(i64::MAX);
        if matches!(state.store.audit_records(after, 1).await, Ok(r) if !r.is_empty()) {
            let fire = state.now();
            if let Err(e) = crate::jobs::schedule::run_once(
                &state,
                crate::jobs::schedule::Task::Checkpoint,
                &owner,
                fire,
                &shutdown,
            )
            .await
            {
                tracing::error!(error = %e, "checkpoint failed");
            }
        }
    }
}

/// `GET /v1/audit/checkpoints?log=audit-log&after=SIZE&limit=N`
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CheckpointsQuery {
    /// `audit-log` (default) or `consent-ledger`.
    pub log: Option<String>,
    /// Checkpoints of a larger size than this (for paging on).
    pub after: Option<i64>,
    /// At most this many (default 100, at most 1000).
    pub limit: Option<i64>,
}

fn log_of(q: Option<&str>) -> Result<LogKind, Problem> {
    q.map_or(Ok(LogKind::AuditLog), |l| {
        l.parse().map_err(|e: String| Problem::invalid(e))
    })
}

fn public_key(state: &AppState) -> Option<String> {
    state
        .config
        .checkpoints
        .as_ref()
        .map(|c| c.key.verifier().to_string())
}

#[utoipa::path(get, path = "/v1/audit/checkpoints", summary = "Signed checkpoints", operation_id = "list_checkpoints", security(("api_key" = ["admin", "privacy_officer"])), tag = "audit", params(CheckpointsQuery),
    responses(
        (status = 200, description = "The store's copies of the signed checkpoints of one log, by size, with the public key they verify with: `{\"public_key\", \"checkpoints\": [{\"log\", \"size\", \"at\", \"head\", \"root\", \"note\"}]}`", body = crate::http::schemas::CheckpointList),
        (status = 400, description = "Bad query", body = crate::http::problem::ProblemDoc, content_type = "application/problem+json"),
        crate::http::problem::AuthProblems
    ))]
pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    query: Result<ApiQuery<CheckpointsQuery>, Problem>,
) -> Result<Response, Problem> {
    caller.require(STAFF, "read checkpoints")?;
    let q = query?.0;
    let log = log_of(q.log.as_deref())?;
    let checkpoints = state
        .store
        .checkpoints(log, q.after.unwrap_or(-1), q.limit.unwrap_or(100))
        .await?;
    Ok(axum::Json(json!({
        "public_key": public_key(&state),
        "checkpoints": checkpoints,
    }))
    .into_response())
}

/// `GET /v1/audit/checkpoints/latest?log=audit-log`
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LatestQuery {
    /// With a log (`audit-log`, `consent-ledger`): its latest checkpoint as the signed note
    /// itself, `text/plain`, ready to keep in a file.
    pub log: Option<String>,
}

#[utoipa::path(get, path = "/v1/audit/checkpoints/latest", summary = "The latest signed checkpoint", operation_id = "latest_checkpoint", security(("api_key" = ["admin", "privacy_officer"])), tag = "audit", params(LatestQuery),
    responses(
        (status = 200, description = "The latest checkpoint of each log (`{\"public_key\", \"audit_log\", \"consent_ledger\"}`, null where none was made); with `log`, that log's note as text", body = crate::http::schemas::LatestCheckpoints),
        (status = 400, description = "Bad query", body = crate::http::problem::ProblemDoc, content_type = "application/problem+json"),
        (status = 404, description = "No checkpoint of that log yet", body = crate::http::problem::ProblemDoc, content_type = "application/problem+json"),
        crate::http::problem::AuthProblems
    ))]
pub async fn latest(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    query: Result<ApiQuery<LatestQuery>, Problem>,
) -> Result<Response, Problem> {
    caller.require(STAFF, "read checkpoints")?;
    let q = query?.0;
    if let Some(log) = q.log.as_deref() {
        let log = log_of(Some(log))?;
        let cp = state.store.latest_checkpoint(log).await?.ok_or_else(|| {
            Problem::not_found(format!("no checkpoint of the {} yet", log.describe()))
        })?;
        return Ok((
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            cp.note,
        )
            .into_response());
    }
    let mut out = serde_json::Map::new();
    out.insert("public_key".into(), json!(public_key(&state)));
    for log in LOGS {
        out.insert(
            log.as_str().replace('-', "_"),
            json!(state.store.latest_checkpoint(log).await?),
        );
    }
    Ok(axum::Json(Json::Object(out)).into_response())
}

/// The status of the latest checkpoint of `log` against the store, for `/v1/audit/verify`:
/// the exported copy when there is an export directory (it lives outside the store), else
/// the store's own. Null when the server signs no checkpoints.
pub async fn status(state: &AppState, log: LogKind) -> Result<Json, pledge_store::Error> {
    let Some(config) = &state.config.checkpoints else {
        return Ok(Json::Null);
    };
    let exported = config
        .dir
        .as_deref()
        .and_then(|d| last_exported(d, &config.key, log))
        .map(|(c, _)| (c, "export_dir"));
    let stored = last_stored(&state.store, &config.key, log)
        .await?
        .map(|(c, _)| (c, "store"));
    // The larger one; on a tie the exported copy (`max_by_key` takes the last).
    let Some((cp, source)) = [stored, exported]
        .into_iter()
        .flatten()
        .max_by_key(|(c, _)| (c.size, c.time))
    else {
        return Ok(json!({ "checkpoint": null }));
    };
    let check = state
        .store
        .verify_with_checkpoints(log, std::slice::from_ref(&cp))
        .await?;
    let problem = check.checkpoints.first().and_then(|c| c.problem.clone());
    Ok(json!({
        "source": source,
        "size": cp.size,
        "signed_at": pledge_lang::time::CivilTime::from_unix(cp.time).to_rfc3339(),
        "matches": problem.is_none(),
        "problem": problem,
        "not_yet_checkpointed": check.not_yet_checkpointed,
    }))
}
