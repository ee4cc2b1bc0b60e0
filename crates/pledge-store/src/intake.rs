//! Group commit of intake. Requests that arrive together are written in one transaction:
//! one multi-row INSERT per table, one read of the audit chain's head, one commit. Every
//! request of a batch still gets its own event, job, outbox message and audit record, and
//! either the whole batch lands or none of it; a batch that fails is retried one request
//! at a time, so one bad request cannot fail the others.
//!
//! No background task: each caller queues its request and waits for the commit lock; the
//! caller that gets it writes everything queued so far (its own and the others'), on a
//! spawned task so a caller that goes away cannot cut a batch in half.

use crate::audit::AuditRecord;
use crate::{
    Any, Error, NewRequest, RequestRecord, Result, State, Store, audit, chain, pairs_json,
    random_hex,
};
use pledge_domain::workflow;
use pledge_lang::time::CivilTime;
use serde_json::{Value, json};
use sqlx::Transaction;
use std::sync::Mutex;
use tokio::sync::oneshot;

/// Requests written in one transaction at most.
const MAX_BATCH: usize = 64;

struct Pending {
    new: NewRequest,
    actor: String,
    reply: oneshot::Sender<Result<RequestRecord>>,
}

/// The queue of requests waiting to be written, and the lock its writer holds.
#[derive(Default)]
pub(crate) struct IntakeQueue {
    pending: Mutex<Vec<Pending>>,
    commit: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for IntakeQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IntakeQueue")
    }
}

impl IntakeQueue {
    fn take(&self, n: usize) -> Vec<Pending> {
        // A poisoned lock means a panic while pushing or draining a Vec: the Vec is whole.
        let mut pending = self
            .pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = n.min(pending.len());
        pending.drain(..n).collect()
    }
}

/// The outcome, if the request was written, or failed, or its writer died without
/// answering (then nothing of its batch was committed: the transaction was dropped).
fn answered(
    answer: &mut oneshot::Receiver<Result<RequestRecord>>,
) -> Option<Result<RequestRecord>> {
    match answer.try_recv() {
        Ok(result) => Some(result),
        Err(oneshot::error::TryRecvError::Empty) => None,
        Err(oneshot::error::TryRecvError::Closed) => Some(Err(Error::Interrupted)),
    }
}

/// Where a request starts: verified requests that need no approval go to a worker.
fn first_state(new: &NewRequest) -> State {
    match (new.verified, new.needs_approval) {
        (false, _) => State::Received,
        (true, true) => State::AwaitingApproval,
        (true, false) => State::InProgress,
    }
}

impl Store {
    /// Records a new request, its first event and audit record; a verified request that
    /// needs no approval is queued for a worker in the same transaction. A request naming
    /// an e-mail address gets its "received" notice in the outbox, in that transaction too.
    /// Concurrent calls share one transaction (group commit).
    pub async fn create_request(&self, new: NewRequest, actor: &str) -> Result<RequestRecord> {
        let (reply, mut answer) = oneshot::channel();
        self.intake
            .pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(Pending {
                new,
                actor: actor.to_string(),
                reply,
            });
        loop {
            let guard = self.intake.commit.lock().await;
            // The writer before us may have written ours already.
            if let Some(result) = answered(&mut answer) {
                return result;
            }
            let batch = self.intake.take(MAX_BATCH);
            if !batch.is_empty() {
                let store = self.clone();
                let _ = tokio::spawn(async move { store.write_batch(batch).await }).await;
            }
            drop(guard);
            if let Some(result) = answered(&mut answer) {
                return result;
            }
            // Ours was past the batch limit: go round again.
        }
    }

    async fn write_batch(&self, batch: Vec<Pending>) {
        let items: Vec<(NewRequest, String)> = batch
            .iter()
            .map(|p| (p.new.clone(), p.actor.clone()))
            .collect();
        match self.insert_batch(&items).await {
            Ok(records) => {
                for (p, r) in batch.into_iter().zip(records) {
                    let _ = p.reply.send(Ok(r));
                }
            }
            Err(e) if batch.len() == 1 => {
                if let Some(p) = batch.into_iter().next() {
                    let _ = p.reply.send(Err(e));
                }
            }
            Err(_) => {
                for p in batch {
                    let one = [(p.new, p.actor)];
                    // insert_batch returns one record per item: exactly one here.
                    let result = self
                        .insert_batch(&one)
                        .await
                        .and_then(|v| v.into_iter().next().ok_or(Error::Interrupted));
                    let _ = p.reply.send(result);
                }
            }
        }
    }

    /// Writes `items` in one transaction and returns their records, in order.
    async fn insert_batch(&self, items: &[(NewRequest, String)]) -> Result<Vec<RequestRecord>> {
        let mut records = Vec::with_capacity(items.len());
        for (new, _) in items {
            let deadlines =
                workflow::deadlines(new.regime, new.kind, CivilTime::from_unix(new.received_at));
            records.push(RequestRecord {
                id: format!("req_{}", random_hex(10)?),
                kind: new.kind,
                regime: new.regime,
                state: first_state(new),
                identities: new.identities.clone(),
                changes: new.changes.clone(),
                proved_by: Some(new.proved_by),
                needs_approval: new.needs_approval,
                received_at: new.received_at,
                due_at: deadlines.due.to_unix(),
                confirm_by: deadlines.confirm_by.map(CivilTime::to_unix),
                extension_reason: None,
                denial_reason: None,
                result: None,
                updated_at: new.received_at,
                language: new.language.clone(),
            });
        }
        let mut tx = self.begin().await?;
        let rows = chain::values(self.backend(), 13, records.len(), "");
        let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO requests (id, kind, regime, state, identities, changes, needs_approval, received_at, due_at, confirm_by, updated_at, proved_by, language) VALUES {rows}"
        )));
        for r in &records {
            q = q
                .bind(r.id.clone())
                .bind(r.kind.as_str())
                .bind(r.regime.as_str())
                .bind(r.state.as_str())
                .bind(pairs_json(&r.identities))
                .bind(pairs_json(&r.changes))
                .bind(i64::from(r.needs_approval))
                .bind(r.received_at)
                .bind(r.due_at)
                .bind(r.confirm_by)
                .bind(r.updated_at)
                .bind(r.proved_by.map(crate::ProvedBy::as_str))
                .bind(r.language.clone());
        }
        q.execute(&mut *tx).await?;

        let rows = chain::values(self.backend(), 4, records.len(), "");
        let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO request_events (request_id, at, to_state, actor) VALUES {rows}"
        )));
        for (r, (_, actor)) in records.iter().zip(items) {
            q = q
                .bind(r.id.clone())
                .bind(r.received_at)
                .bind(r.state.as_str())
                .bind(actor.clone());
        }
        q.execute(&mut *tx).await?;

        let queued: Vec<&RequestRecord> = records
            .iter()
            .filter(|r| r.state == State::InProgress)
            .collect();
        if !queued.is_empty() {
            let rows = chain::values(self.backend(), 2, queued.len(), ", 'queued', 0");
            let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
                "INSERT INTO jobs (request_id, created_at, state, attempts) VALUES {rows}"
            )));
            for r in &queued {
                q = q.bind(r.id.clone()).bind(r.received_at);
            }
            q.execute(&mut *tx).await?;
        }

        let messages: Vec<(&RequestRecord, String, String)> = records
            .iter()
            .filter_map(|r| crate::notify::outbox_row(r, json!({})).map(|(to, data)| (r, to, data)))
            .collect();
        if !messages.is_empty() {
            let rows = chain::values(
                self.backend(),
                5,
                messages.len(),
                ", 'received', 'queued', 0",
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
                "INSERT INTO outbox (request_id, recipient, data, next_attempt_at, created_at, event, state, attempts) VALUES {rows}"
            )));
            for (r, to, data) in messages {
                q = q
                    .bind(r.id.clone())
                    .bind(to)
                    .bind(data)
                    .bind(r.received_at)
                    .bind(r.received_at);
            }
            q.execute(&mut *tx).await?;
        }

        let entries: Vec<AuditEntry> = records
            .iter()
            .zip(items)
            .map(|(r, (_, actor))| AuditEntry {
                at: r.received_at,
                actor: actor.clone(),
                action: "request.created".to_string(),
                request_id: Some(r.id.clone()),
                detail: json!({
                    "kind": r.kind.as_str(),
                    "regime": r.regime.as_str(),
                    "state": r.state.as_str(),
                    "due_at": r.due_at,
                    // The identities themselves are personal data: the log keeps their hash.
                    "identities_sha256": audit::sha256_hex(pairs_json(&r.identities).as_bytes()),
                }),
            })
            .collect();
        self.audit_many(&mut tx, entries).await?;
        tx.commit().await?;
        Ok(records)
    }

    /// Appends several audit records inside `tx` with one read of the head, through the
    /// one chain append ([`chain::append`]).
    pub(crate) async fn audit_many(
        &self,
        tx: &mut Transaction<'static, Any>,
        entries: Vec<AuditEntry>,
    ) -> Result<()> {
        chain::append(self.backend(), tx, entries, |seq, prev, e: AuditEntry| {
            AuditRecord::new(
                seq,
                e.at,
                &e.actor,
                &e.action,
                e.request_id.as_deref(),
                e.detail,
                prev,
            )
        })
        .await?;
        Ok(())
    }
}

/// An audit record to append.
pub(crate) struct AuditEntry {
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub request_id: Option<String>,
    pub detail: Value,
}
