//! Rights requests forwarded to recipients that hold personal data no dataset reaches (GDPR
//! Art. 19): one row per request and recipient, written in the transaction that ends the
//! request's own work and moves it to `awaiting_external`. A sender claims due rows under a
//! lease (like the mail outbox) and delivers them; the recipient's callback marks its row
//! done or failed, and the last `done` completes the request, with its completion message,
//! in the same transaction.

use crate::notify::{claim_due_sql, retry_delay_secs};
use crate::{Error, Result, Store, parse};
use pledge_domain::workflow::State;
use serde::Serialize;
use serde_json::json;
use sqlx::{Any, Row, Transaction};

/// Where one forwarded request stands with one recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ForwardState {
    /// Waiting to be delivered (or to be delivered again after a failed attempt).
    Queued,
    /// Delivered; waiting for the recipient's callback.
    Delivered,
    /// The recipient reported it done.
    Done,
    /// The recipient reported a failure, or delivery was given up.
    Failed,
}

impl ForwardState {
    pub fn as_str(self) -> &'static str {
        match self {
            ForwardState::Queued => "queued",
            ForwardState::Delivered => "delivered",
            ForwardState::Done => "done",
            ForwardState::Failed => "failed",
        }
    }
}

impl std::str::FromStr for ForwardState {
    type Err = pledge_lang::rights::UnknownName;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        [
            ForwardState::Queued,
            ForwardState::Delivered,
            ForwardState::Done,
            ForwardState::Failed,
        ]
        .into_iter()
        .find(|f| f.as_str() == s)
        .ok_or_else(|| pledge_lang::rights::UnknownName(s.to_string()))
    }
}

/// A forward claimed for delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct Forward {
    pub request_id: String,
    pub recipient: String,
    /// Attempts so far, this one included.
    pub attempts: i64,
}

/// A forward as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ForwardStatus {
    pub recipient: String,
    pub state: ForwardState,
    pub attempts: i64,
    pub detail: Option<String>,
    pub updated_at: i64,
}

/// What a recipient reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallbackOutcome {
    Done,
    Failed,
}

impl Store {
    /// Queues the request for each recipient, inside `tx` (the job's completion).
    pub(crate) async fn queue_forwards(
        &self,
        tx: &mut Transaction<'static, Any>,
        request_id: &str,
        recipients: &[String],
        now: i64,
    ) -> Result<()> {
        for recipient in recipients {
            // A delivery given up (or reported failed) is queued afresh when the request is
            // run again; one delivered or done stays as it is.
            let sql = "INSERT INTO forwards (request_id, recipient, state, attempts, next_attempt_at, updated_at) VALUES ($1, $2, 'queued', 0, $3, $3) ON CONFLICT (request_id, recipient) DO UPDATE SET state = 'queued', attempts = 0, next_attempt_at = $3, lease_until = NULL, updated_at = $3 WHERE forwards.state = 'failed'";
            sqlx::query(sql)
                .bind(request_id)
                .bind(recipient)
                .bind(now)
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }

    /// Claims up to `limit` forwards due for delivery, each under a lease of `lease_secs`.
    pub async fn claim_forwards(
        &self,
        limit: i64,
        lease_secs: i64,
        now: i64,
    ) -> Result<Vec<Forward>> {
        let sql = claim_due_sql(
            self.backend,
            "forwards",
            "request_id, recipient",
            "next_attempt_at, request_id",
            "request_id, recipient, attempts",
        );
        let mut tx = self.begin().await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(now + lease_secs)
            .bind(now)
            .bind(limit.clamp(1, 1000))
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        rows.iter()
            .map(|r| {
                Ok(Forward {
                    request_id: r.try_get("request_id")?,
                    recipient: r.try_get("recipient")?,
                    attempts: r.try_get("attempts")?,
                })
            })
            .collect()
    }

    /// Records a delivery the recipient accepted; its callback is awaited next.
    pub async fn forward_delivered(&self, forward: &Forward, now: i64) -> Result<()> {
        self.after_attempt(forward, ForwardState::Delivered, None, now, now)
            .await
    }

    /// Records a failed delivery: retried with back-off, or given up after `max_attempts`
    /// (then staff see it failed on the request).
    pub async fn forward_failed(
        &self,
        forward: &Forward,
        error: &str,
        max_attempts: i64,
        now: i64,
    ) -> Result<()> {
        let (state, next) = if forward.attempts >= max_attempts {
            (ForwardState::Failed, now)
        } else {
            (
                ForwardState::Queued,
                now + retry_delay_secs(forward.attempts),
            )
        };
        self.after_attempt(forward, state, Some(error), next, now)
            .await
    }

    async fn after_attempt(
        &self,
        forward: &Forward,
        state: ForwardState,
        error: Option<&str>,
        next_attempt_at: i64,
        now: i64,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        // Only a forward still queued moves: a callback may have come first.
        let done = sqlx::query(
            "UPDATE forwards SET state = $1, detail = $2, next_attempt_at = $3, lease_until = NULL, updated_at = $4 WHERE request_id = $5 AND recipient = $6 AND state = 'queued'",
        )
        .bind(state.as_str())
        .bind(error)
        .bind(next_attempt_at)
        .bind(now)
        .bind(&forward.request_id)
        .bind(&forward.recipient)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 1 {
            if state == ForwardState::Failed {
                // No report will come for a delivery given up: the request waits for staff
                // (a retry runs it again and delivers once more), not for ever.
                let reason = format!(
                    "the delivery to `{}` was given up after {} attempts: {}",
                    forward.recipient,
                    forward.attempts,
                    error.unwrap_or("failed")
                );
                let moved = sqlx::query(
                    "UPDATE requests SET state = 'needs_action', updated_at = $1 WHERE id = $2 AND state = 'awaiting_external'",
                )
                .bind(now)
                .bind(&forward.request_id)
                .execute(&mut *tx)
                .await?;
                if moved.rows_affected() == 1 {
                    self.event(
                        &mut tx,
                        &forward.request_id,
                        now,
                        Some(State::AwaitingExternal),
                        State::NeedsAction,
                        "forwarder",
                        Some(&reason),
                    )
                    .await?;
                }
            }
            let action = match state {
                ForwardState::Delivered => "forward.delivered",
                ForwardState::Failed => "forward.given_up",
                _ => "forward.retry",
            };
            self.audit(
                &mut tx,
                now,
                "forwarder",
                action,
                Some(&forward.request_id),
                json!({ "recipient": forward.recipient, "attempt": forward.attempts, "error": error }),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// A recipient's report on a forwarded request. `done` from the last recipient that
    /// owed one completes the request (with its completion message); `failed` leaves it
    /// waiting, with the failure for staff to act on. Reports on a request that is no longer
    /// waiting, or from a recipient it was not sent to, are refused. A signed report
    /// (`signed`: its time and signature) is refused when it is the last one taken again, or
    /// older than it: a captured report cannot be replayed.
    #[allow(clippy::too_many_arguments)]
    pub async fn record_callback(
        &self,
        request_id: &str,
        recipient: &str,
        outcome: CallbackOutcome,
        detail: Option<&str>,
        signed: Option<(i64, &str)>,
        actor: &str,
        now: i64,
    ) -> Result<Vec<ForwardStatus>> {
        let mut tx = self.begin().await?;
        if let Some((t, signature)) = signed {
            let last = sqlx::query(
                "SELECT callback_t, callback_signature FROM forwards WHERE request_id = $1 AND recipient = $2",
            )
            .bind(request_id)
            .bind(recipient)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(last) = last {
                let last_t: Option<i64> = last.try_get("callback_t")?;
                let last_signature: Option<String> = last.try_get("callback_signature")?;
                if last_t.is_some_and(|l| t < l) || last_signature.as_deref() == Some(signature) {
                    return Err(Error::NotForwarded(format!(
                        "this report from `{recipient}` was taken already, or is older than the last one taken: sign each report when it is sent"
                    )));
                }
            }
            sqlx::query(
                "UPDATE forwards SET callback_t = $1, callback_signature = $2 WHERE request_id = $3 AND recipient = $4",
            )
            .bind(t)
            .bind(signature)
            .bind(request_id)
            .bind(recipient)
            .execute(&mut *tx)
            .await?;
        }
        let state: String = sqlx::query("SELECT state FROM requests WHERE id = $1")
            .bind(request_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| Error::UnknownRequest(request_id.to_string()))?
            .try_get("state")?;
        let from: State = parse(&state)?;
        // Also while the request waits for staff after another delivery was given up: a
        // report that comes is still recorded.
        if from != State::AwaitingExternal && from != State::NeedsAction {
            return Err(Error::NotForwarded(format!(
                "request {request_id} is {from}, not waiting for other systems"
            )));
        }
        let new_state = match outcome {
            CallbackOutcome::Done => ForwardState::Done,
            CallbackOutcome::Failed => ForwardState::Failed,
        };
        let changed = sqlx::query(
            "UPDATE forwards SET state = $1, detail = $2, lease_until = NULL, updated_at = $3 WHERE request_id = $4 AND recipient = $5 AND state <> 'done'",
        )
        .bind(new_state.as_str())
        .bind(detail)
        .bind(now)
        .bind(request_id)
        .bind(recipient)
        .execute(&mut *tx)
        .await?;
        if changed.rows_affected() == 0 {
            return Err(Error::NotForwarded(format!(
                "request {request_id} was not sent to `{recipient}`, or it already reported done"
            )));
        }
        self.audit(
            &mut tx,
            now,
            actor,
            "forward.reported",
            Some(request_id),
            // What the recipient wrote may name the person: the log, kept for good, holds
            // its hash; the text is on the forward until the request is minimised.
            json!({
                "recipient": recipient,
                "outcome": new_state.as_str(),
                "detail_sha256": detail.map(|d| crate::audit::sha256_hex(d.as_bytes())),
            }),
        )
        .await?;
        let open: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM forwards WHERE request_id = $1 AND state <> 'done'",
        )
        .bind(request_id)
        .fetch_one(&mut *tx)
        .await?
        .try_get("n")?;
        if open == 0 {
            sqlx::query("UPDATE requests SET state = 'completed', updated_at = $1 WHERE id = $2")
                .bind(now)
                .bind(request_id)
                .execute(&mut *tx)
                .await?;
            let has_export = sqlx::query("SELECT 1 AS one FROM exports WHERE request_id = $1")
                .bind(request_id)
                .fetch_optional(&mut *tx)
                .await?
                .is_some();
            // Recipients may hold data about the person: no "no data held" here.
            self.notify_completed(&mut tx, request_id, has_export, false, now)
                .await?;
            self.event(
                &mut tx,
                request_id,
                now,
                Some(from),
                State::Completed,
                actor,
                None,
            )
            .await?;
            self.audit(
                &mut tx,
                now,
                actor,
                "request.completed",
                Some(request_id),
                json!({ "from": from.as_str(), "after": "every recipient reported done" }),
            )
            .await?;
        }
        tx.commit().await?;
        self.forwards(request_id).await
    }

    /// Audits a report refused before it was taken (a missing or bad signature, a bad body,
    /// a replay), if `request_id` was forwarded to `recipient`; returns whether it was. Reports
    /// about requests that were never sent there are not recorded (the log is not a sink for
    /// anyone's guesses).
    pub async fn callback_refused(
        &self,
        request_id: &str,
        recipient: &str,
        status: u16,
        reason: &str,
        now: i64,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let known =
            sqlx::query("SELECT 1 AS one FROM forwards WHERE request_id = $1 AND recipient = $2")
                .bind(request_id)
                .bind(recipient)
                .fetch_optional(&mut *tx)
                .await?
                .is_some();
        if known {
            self.audit(
                &mut tx,
                now,
                "unauthenticated",
                "forward.callback_refused",
                Some(request_id),
                json!({ "recipient": recipient, "status": status, "reason": reason }),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(known)
    }

    /// Where the request stands with each recipient it was forwarded to.
    pub async fn forwards(&self, request_id: &str) -> Result<Vec<ForwardStatus>> {
        let rows = sqlx::query(
            "SELECT recipient, state, attempts, detail, updated_at FROM forwards WHERE request_id = $1 ORDER BY recipient",
        )
        .bind(request_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ForwardStatus {
                    recipient: r.try_get("recipient")?,
                    state: parse(&r.try_get::<String, _>("state")?)?,
                    attempts: r.try_get("attempts")?,
                    detail: r.try_get("detail")?,
                    updated_at: r.try_get("updated_at")?,
                })
            })
            .collect()
    }
}
