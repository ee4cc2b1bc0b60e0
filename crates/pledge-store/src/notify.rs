//! The outbox: e-mails to the person, written in the same transaction as the state change
//! they tell of, so a crash never loses one and a rolled-back change never sends one. The
//! server's mailer claims due messages with a short lease, sends them, and records the
//! outcome; a failed attempt is retried later with a growing delay.

use crate::requests::request_from_row;
use crate::{Any, Backend, Error, RequestRecord, Result, Store, parse};
use pledge_domain::workflow::State;
use pledge_lang::rights::Right;
use serde_json::{Value, json};
use sqlx::{Row, Transaction};
use std::fmt;
use std::str::FromStr;

/// What a message tells the person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A request taken in by staff: received, with the deadline.
    Received,
    /// A request from the public form: received, with the deadline, and the one-time code
    /// and link that prove the address is the person's.
    Verification,
    /// The address is confirmed; the request goes on.
    Verified,
    /// The deadline moved, with the reason (GDPR Art. 12(3)).
    Extended,
    /// Answered; for access and portability, how to get the export.
    Completed,
    /// Refused, with the reason and the right to complain (GDPR Art. 12(4)).
    Denied,
    /// To staff, not to a person: the requests due soon, overdue or waiting for someone.
    Digest,
}

pub const EVENTS: [Event; 7] = [
    Event::Received,
    Event::Verification,
    Event::Verified,
    Event::Extended,
    Event::Completed,
    Event::Denied,
    Event::Digest,
];

impl Event {
    pub fn as_str(self) -> &'static str {
        match self {
            Event::Received => "received",
            Event::Verification => "verification",
            Event::Verified => "verified",
            Event::Extended => "extended",
            Event::Completed => "completed",
            Event::Denied => "denied",
            Event::Digest => "digest",
        }
    }

    /// The message a transition into `state` sends, if any. Completion is told by the job
    /// that completes the request (it knows whether there is an export).
    pub fn for_state(state: State) -> Option<Event> {
        match state {
            State::Verified => Some(Event::Verified),
            State::Extended => Some(Event::Extended),
            State::Denied => Some(Event::Denied),
            _ => None,
        }
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Event {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        EVENTS
            .iter()
            .copied()
            .find(|e| e.as_str() == s)
            .ok_or_else(|| format!("unknown notification event `{s}`"))
    }
}

/// A message claimed for sending.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxMessage {
    pub id: i64,
    pub request_id: Option<String>,
    pub recipient: String,
    pub event: Event,
    /// What the template needs: the request's kind, deadlines, reasons, and for the
    /// verification message the code and tokens.
    pub data: Value,
    /// Attempts so far, this one included.
    pub attempts: i64,
}

/// A message as listed for staff and tests (no data: it may hold a code).
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEntry {
    pub id: i64,
    pub request_id: Option<String>,
    pub recipient: String,
    pub event: Event,
    pub state: String,
    pub attempts: i64,
    pub error: Option<String>,
}

/// The delay before the next attempt after `attempts` failed ones: 1, 2, 4 ... minutes,
/// at most an hour.
pub fn retry_delay_secs(attempts: i64) -> i64 {
    60 * (1_i64 << attempts.clamp(1, 7).saturating_sub(1)).min(60)
}

/// The statement that claims up to `$3` rows of a queue table (`outbox`, `forwards`): rows
/// `queued`, due by `$2` (`next_attempt_at`) and under no live lease get a lease until `$1`
/// and one more attempt, and come back. On PostgreSQL replicas skip each other's rows
/// (`FOR UPDATE SKIP LOCKED`); SQLite has one writer at a time anyway.
pub(crate) fn claim_due_sql(
    backend: Backend,
    table: &str,
    key: &str,
    order_by: &str,
    returning: &str,
) -> String {
    let lock = match backend {
        Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    };
    format!(
        "UPDATE {table} SET lease_until = $1, attempts = attempts + 1 WHERE ({key}) IN (SELECT {key} FROM {table} WHERE state = 'queued' AND next_attempt_at <= $2 AND (lease_until IS NULL OR lease_until < $2) ORDER BY {order_by} LIMIT $3{lock}) RETURNING {returning}"
    )
}

/// The address a request's messages go to: its `email` identity.
pub fn recipient(record: &RequestRecord) -> Option<&str> {
    record
        .identities
        .iter()
        .find(|(k, _)| k == "email")
        .map(|(_, v)| v.as_str())
}

/// The recipient and template data of a message about `record`, if it names an address.
/// `extra` is merged into the data.
pub(crate) fn outbox_row(record: &RequestRecord, extra: Value) -> Option<(String, String)> {
    let to = recipient(record)?;
    let mut data = json!({
        "request_id": record.id,
        "kind": record.kind.as_str(),
        "regime": record.regime.as_str(),
        "state": record.state.as_str(),
        "received_at": record.received_at,
        "due_at": record.due_at,
        "extension_reason": record.extension_reason,
        "denial_reason": record.denial_reason,
        "language": record.language,
    });
    if let (Some(obj), Value::Object(extra)) = (data.as_object_mut(), extra) {
        obj.extend(extra);
    }
    Some((to.to_string(), data.to_string()))
}

/// What a request recorded in the consent ledger, for its completion message: the kind,
/// target and state of each event of its result's `ledger` (whichever subject it was for),
/// once each. The person is told what changed, not under which ids.
pub fn ledger_changes(record: &RequestRecord) -> Vec<Value> {
    let mut changes: Vec<Value> = Vec::new();
    let subjects = record
        .result
        .as_ref()
        .and_then(|r| r.get("ledger"))
        .and_then(Value::as_array);
    for subject in subjects.into_iter().flatten() {
        let events = subject.get("events").and_then(Value::as_array);
        for e in events.into_iter().flatten() {
            let change = json!({"kind": e["kind"], "target": e["target"], "state": e["state"]});
            if !changes.contains(&change) {
                changes.push(change);
            }
        }
    }
    changes
}

impl Store {
    /// Puts a message about `record` in the outbox, inside `tx`. Nothing if the request
    /// names no e-mail address. `extra` is merged into the template data.
    pub(crate) async fn notify(
        &self,
        tx: &mut Transaction<'static, Any>,
        record: &RequestRecord,
        event: Event,
        extra: Value,
        now: i64,
    ) -> Result<()> {
        let Some((to, data)) = outbox_row(record, extra) else {
            return Ok(());
        };
        sqlx::query(
            "INSERT INTO outbox (request_id, recipient, event, data, state, attempts, next_attempt_at, created_at) VALUES ($1, $2, $3, $4, 'queued', 0, $5, $5)",
        )
        .bind(&record.id)
        .bind(to)
        .bind(event.as_str())
        .bind(data)
        .bind(now)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Queues the staff's digest of deadlines, one message to each of `recipients`, with
    /// its audit record (the number of recipients and of requests, never the addresses),
    /// in one transaction. The message belongs to no request.
    pub async fn enqueue_digest(
        &self,
        recipients: &[String],
        data: &Value,
        actor: &str,
        now: i64,
    ) -> Result<()> {
        let text = data.to_string();
        let mut tx = self.begin().await?;
        for to in recipients {
            sqlx::query(
                "INSERT INTO outbox (request_id, recipient, event, data, state, attempts, next_attempt_at, created_at) VALUES (NULL, $1, $2, $3, 'queued', 0, $4, $4)",
            )
            .bind(to)
            .bind(Event::Digest.as_str())
            .bind(&text)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        let count = |k: &str| data.get(k).and_then(Value::as_array).map_or(0, Vec::len);
        self.audit(
            &mut tx,
            now,
            actor,
            "digest.queued",
            None,
            json!({
                "recipients": recipients.len(),
                "due_soon": count("due_soon"),
                "overdue": count("overdue"),
                "needs_action": count("needs_action"),
            }),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The messages of the outbox that belong to no request (the staff's digests), newest
    /// last, as listed for staff and tests.
    pub async fn staff_outbox(&self) -> Result<Vec<OutboxEntry>> {
        let rows = sqlx::query(
            "SELECT id, request_id, recipient, event, state, attempts, error FROM outbox WHERE request_id IS NULL ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(entry_from_row).collect()
    }

    /// The completion message of a request a job just completed, inside that transaction.
    /// `no_data_held`: no dataset holds anyone with the request's identities, and the
    /// message says so (for an access request, GDPR Art. 15(1) asks for that answer).
    pub(crate) async fn notify_completed(
        &self,
        tx: &mut Transaction<'static, Any>,
        request_id: &str,
        has_export: bool,
        no_data_held: bool,
        now: i64,
    ) -> Result<()> {
        let sql = format!(
            "SELECT {} FROM requests WHERE id = $1",
            crate::REQUEST_COLUMNS
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(request_id)
            .fetch_optional(&mut **tx)
            .await?
            .ok_or_else(|| Error::UnknownRequest(request_id.to_string()))?;
        let mut record = request_from_row(&row)?;
        record.state = State::Completed;
        // `export_url` is left for the download link of the export (the mailer fills it
        // when one exists); the template says how else the export reaches the person.
        let ledger_right = matches!(
            record.kind,
            Right::WithdrawConsent | Right::Objection | Right::OptOut
        );
        self.notify(
            tx,
            &record,
            Event::Completed,
            json!({
                "has_export": has_export,
                "no_data_held": no_data_held,
                "ledger_right": ledger_right,
                "ledger_changes": ledger_changes(&record),
            }),
            now,
        )
        .await
    }

    /// Claims up to `limit` messages that are due, for `lease_secs`: a mailer that dies
    /// leaves them to the next one when the lease ends. Each claim counts as an attempt.
    pub async fn claim_messages(
        &self,
        limit: i64,
        lease_secs: i64,
        now: i64,
    ) -> Result<Vec<OutboxMessage>> {
        let sql = claim_due_sql(
            self.backend,
            "outbox",
            "id",
            "id",
            "id, request_id, recipient, event, data, attempts",
        );
        let mut tx = self.begin().await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(now + lease_secs)
            .bind(now)
            .bind(limit.clamp(1, 1000))
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        let mut messages = rows
            .iter()
            .map(|r| {
                let data: Option<String> = r.try_get("data")?;
                Ok(OutboxMessage {
                    id: r.try_get("id")?,
                    request_id: r.try_get("request_id")?,
                    recipient: r.try_get("recipient")?,
                    event: parse(&r.try_get::<String, _>("event")?)?,
                    data: data
                        .map(|d| serde_json::from_str(&d))
                        .transpose()
                        .map_err(|e| Error::Corrupt(format!("outbox data: {e}")))?
                        .unwrap_or(Value::Null),
                    attempts: r.try_get("attempts")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        messages.sort_by_key(|m| m.id);
        Ok(messages)
    }

    /// Records that a message went out. Its data (which may hold a one-time code) is
    /// dropped; the audit record names the event, never the address.
    pub async fn message_sent(&self, message: &OutboxMessage, now: i64) -> Result<()> {
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "UPDATE outbox SET state = 'sent', sent_at = $1, data = NULL, lease_until = NULL, error = NULL WHERE id = $2 AND state = 'queued'",
        )
        .bind(now)
        .bind(message.id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 1 {
            self.audit(
                &mut tx,
                now,
                "mailer",
                "notification.sent",
                message.request_id.as_deref(),
                json!({"message": message.id, "event": message.event.as_str(), "attempt": message.attempts}),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Records a failed attempt: retried after [`retry_delay_secs`], or given up after
    /// `max_attempts` (its data dropped, the error kept for staff).
    pub async fn message_failed(
        &self,
        message: &OutboxMessage,
        error: &str,
        max_attempts: i64,
        now: i64,
    ) -> Result<()> {
        let give_up = message.attempts >= max_attempts;
        let mut tx = self.begin().await?;
        let done = if give_up {
            sqlx::query(
                "UPDATE outbox SET state = 'failed', data = NULL, lease_until = NULL, error = $1 WHERE id = $2 AND state = 'queued'",
            )
            .bind(error)
            .bind(message.id)
            .execute(&mut *tx)
            .await?
        } else {
            sqlx::query(
                "UPDATE outbox SET next_attempt_at = $1, lease_until = NULL, error = $2 WHERE id = $3 AND state = 'queued'",
            )
            .bind(now + retry_delay_secs(message.attempts))
            .bind(error)
            .bind(message.id)
            .execute(&mut *tx)
            .await?
        };
        if done.rows_affected() == 1 {
            self.audit(
                &mut tx,
                now,
                "mailer",
                "notification.failed",
                message.request_id.as_deref(),
                json!({
                    "message": message.id,
                    "event": message.event.as_str(),
                    "attempt": message.attempts,
                    // The log outlives the request's identities: no address in it.
                    "error": crate::audit::redact_addresses(error),
                    "next": if give_up { "failed" } else { "queued" },
                }),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The messages due to be sent at `now` and when the oldest of them fell due: how far
    /// the mailer is behind (for `/readyz`).
    pub async fn outbox_backlog(&self, now: i64) -> Result<(i64, Option<i64>)> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, MIN(next_attempt_at) AS oldest FROM outbox WHERE state = 'queued' AND next_attempt_at <= $1",
        )
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        Ok((row.try_get("n")?, row.try_get("oldest")?))
    }

    /// A request's messages, oldest first (for staff and tests).
    pub async fn outbox(&self, request_id: &str) -> Result<Vec<OutboxEntry>> {
        let rows = sqlx::query(
            "SELECT id, request_id, recipient, event, state, attempts, error FROM outbox WHERE request_id = $1 ORDER BY id",
        )
        .bind(request_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(entry_from_row).collect()
    }
}

fn entry_from_row(r: &sqlx::any::AnyRow) -> Result<OutboxEntry> {
    Ok(OutboxEntry {
        id: r.try_get("id")?,
        request_id: r.try_get("request_id")?,
        recipient: r.try_get("recipient")?,
        event: parse(&r.try_get::<String, _>("event")?)?,
        state: r.try_get("state")?,
        attempts: r.try_get("attempts")?,
        error: r.try_get("error")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_to_an_hour() {
        let delays: Vec<i64> = (1..=9).map(retry_delay_secs).collect();
        assert_eq!(delays, [60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]);
    }

    #[test]
    fn event_names_round_trip() {
        for e in EVENTS {
            assert_eq!(e.as_str().parse::<Event>(), Ok(e));
        }
    }
}
