//! The job queue of the request worker: claimed with a lease, renewed while running,
//! completed with the outcome and its audit record, failed into a retry or `needs_action`.

use super::*;

/// A job claimed by a worker.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: i64,
    pub request_id: String,
    pub attempts: i64,
    pub owner: String,
    /// When the current run of transient failures began (none: the last attempt did not
    /// fail, or this is the first): the retry budget counts from here.
    pub first_failed_at: Option<i64>,
}

/// What becomes of a job whose attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobFailure<'a> {
    /// A transient fault: back to the queue, not claimed before `at`; the request stays in
    /// progress, showing what it waits for.
    Retry { error: &'a str, at: i64 },
    /// A permanent fault, or a transient one that outlasted its budget: the job stops and
    /// the request moves to `needs_action`, with `reason` for staff.
    NeedsAction { reason: &'a str },
}

/// Where a request's job stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobStatus {
    /// `queued`, `running`, `done`, or `failed` (stopped for staff).
    pub state: String,
    /// Claims so far (a retry after staff fixed the cause starts again from 0).
    pub attempts: i64,
    /// The last failure, for staff.
    pub error: Option<String>,
    /// A job waiting to be retried is not claimed before this time.
    pub not_before: Option<i64>,
    /// When the current run of transient failures began.
    pub first_failed_at: Option<i64>,
}

impl Store {
    // ------------------------------------------------------------------------------------
    // Jobs

    /// Claims the oldest job that is queued (and not waiting for a retry time still to
    /// come), or running under a lease that expired (its worker died), for `lease_secs`. PostgreSQL: `FOR UPDATE SKIP LOCKED`, so replicas
    /// never wait for each other; SQLite: one conditional UPDATE under the write lock.
    pub async fn claim_job(&self, owner: &str, lease_secs: i64, now: i64) -> Result<Option<Job>> {
        let pick = match self.backend {
            Backend::Postgres => {
                "SELECT id FROM jobs WHERE (state = 'queued' AND (not_before IS NULL OR not_before <= $3)) OR (state = 'running' AND lease_until < $3) ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED"
            }
            Backend::Sqlite => {
                "SELECT id FROM jobs WHERE (state = 'queued' AND (not_before IS NULL OR not_before <= $3)) OR (state = 'running' AND lease_until < $3) ORDER BY id LIMIT 1"
            }
        };
        let sql = format!(
            "UPDATE jobs SET state = 'running', lease_owner = $1, lease_until = $2, attempts = attempts + 1 WHERE id = ({pick}) RETURNING id, request_id, attempts, first_failed_at"
        );
        let mut tx = self.begin().await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(owner)
            .bind(now + lease_secs)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else {
            tx.commit().await?;
            return Ok(None);
        };
        let job = Job {
            id: row.try_get("id")?,
            request_id: row.try_get("request_id")?,
            attempts: row.try_get("attempts")?,
            owner: owner.to_string(),
            first_failed_at: row.try_get("first_failed_at")?,
        };
        self.audit(
            &mut tx,
            now,
            owner,
            "job.claimed",
            Some(&job.request_id),
            json!({"job": job.id, "attempt": job.attempts}),
        )
        .await?;
        tx.commit().await?;
        Ok(Some(job))
    }

    /// Extends the lease of a job this worker still holds. False if it lost the lease.
    pub async fn renew_lease(&self, job: &Job, lease_secs: i64, now: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE jobs SET lease_until = $1 WHERE id = $2 AND lease_owner = $3 AND state = 'running'",
        )
        .bind(now + lease_secs)
        .bind(job.id)
        .bind(&job.owner)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Finishes a job: the job is done, the request completed with its result (and export,
    /// for access and portability), the event and the audit record, in one transaction and
    /// only if this worker still holds the lease; otherwise nothing changes and false is
    /// returned (the worker that took over finishes it).
    /// With `forward_to` (recipients that hold data no dataset reaches), the request waits
    /// in `awaiting_external` for their callbacks instead of completing, and the forwards
    /// are queued in this transaction.
    pub async fn complete_job(
        &self,
        job: &Job,
        result: &Value,
        export: Option<&SealedExport>,
        forward_to: &[String],
        now: i64,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "UPDATE jobs SET state = 'done', finished_at = $1, error = NULL, not_before = NULL, first_failed_at = NULL WHERE id = $2 AND lease_owner = $3 AND state = 'running'",
        )
        .bind(now)
        .bind(job.id)
        .bind(&job.owner)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        let state: String = sqlx::query("SELECT state FROM requests WHERE id = $1")
            .bind(&job.request_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| Error::UnknownRequest(job.request_id.clone()))?
            .try_get("state")?;
        let from: State = parse(&state)?;
        let mut forwards = !forward_to.is_empty() && from.can_move_to(State::AwaitingExternal);
        if forwards {
            // Queued (again, for those that failed); a request run again after every
            // recipient already reported done does not wait for reports that never come.
            self.queue_forwards(&mut tx, &job.request_id, forward_to, now)
                .await?;
            let open: i64 = sqlx::query(
                "SELECT COUNT(*) AS n FROM forwards WHERE request_id = $1 AND state <> 'done'",
            )
            .bind(&job.request_id)
            .fetch_one(&mut *tx)
            .await?
            .try_get("n")?;
            forwards = open > 0;
        }
        let completes = !forwards && from.can_move_to(State::Completed);
        sqlx::query("UPDATE requests SET result = $1, updated_at = $2 WHERE id = $3")
            .bind(result.to_string())
            .bind(now)
            .bind(&job.request_id)
            .execute(&mut *tx)
            .await?;
        if completes {
            sqlx::query("UPDATE requests SET state = 'completed' WHERE id = $1")
                .bind(&job.request_id)
                .execute(&mut *tx)
                .await?;
            let no_data_held = result.get("no_data_held") == Some(&Value::Bool(true));
            self.notify_completed(
                &mut tx,
                &job.request_id,
                export.is_some(),
                no_data_held,
                now,
            )
            .await?;
            self.event(
                &mut tx,
                &job.request_id,
                now,
                Some(from),
                State::Completed,
                &job.owner,
                None,
            )
            .await?;
        }
        if forwards {
            sqlx::query("UPDATE requests SET state = 'awaiting_external' WHERE id = $1")
                .bind(&job.request_id)
                .execute(&mut *tx)
                .await?;
            self.event(
                &mut tx,
                &job.request_id,
                now,
                Some(from),
                State::AwaitingExternal,
                &job.owner,
                Some(&format!("forwarded to {}", forward_to.join(", "))),
            )
            .await?;
        }
        if let Some(sealed) = export {
            sqlx::query(
                "INSERT INTO exports (request_id, created_at, bytes, export_id, key_id, wrapped_key, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (request_id) DO NOTHING",
            )
            .bind(&job.request_id)
            .bind(now)
            .bind(sealed.ciphertext.clone())
            .bind(&sealed.export_id)
            .bind(&sealed.key_id)
            .bind(sealed.wrapped_key.clone())
            .bind(sealed.expires_at)
            .execute(&mut *tx)
            .await?;
        }
        // The log keeps the result without the identities and ledger subjects in clear.
        let mut logged = result.clone();
        upkeep::hash_identities_in_result(&mut logged);
        self.audit(
            &mut tx,
            now,
            &job.owner,
            "job.completed",
            Some(&job.request_id),
            json!({
                "job": job.id,
                "attempt": job.attempts,
                "from": from.as_str(),
                "to": if completes { "completed" } else if forwards { "awaiting_external" } else { from.as_str() },
                "forwarded_to": forward_to,
                "result": logged,
                "export_bytes": export.map(|e| e.ciphertext.len()),
                "export_key": export.map(|e| e.key_id.as_str()),
            }),
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Records a failed attempt, only if this worker still holds the lease (else false and
    /// nothing changes). A [`JobFailure::Retry`] puts the job back in the queue until its
    /// time; the request stays in progress. A [`JobFailure::NeedsAction`] stops the job and
    /// moves the request to `needs_action` with the reason (its event and audit record in
    /// the same transaction), unless it was closed meanwhile. Either way the job leaves the
    /// worker's hands: no request stays in progress without a job a worker will take.
    pub async fn fail_job(&self, job: &Job, failure: JobFailure<'_>, now: i64) -> Result<bool> {
        let mut tx = self.begin().await?;
        let done = match failure {
            JobFailure::Retry { error, at } => sqlx::query(
                "UPDATE jobs SET state = 'queued', error = $1, not_before = $2, first_failed_at = COALESCE(first_failed_at, $3), lease_owner = NULL, lease_until = NULL WHERE id = $4 AND lease_owner = $5 AND state = 'running'",
            )
            .bind(error)
            .bind(at)
            .bind(now),
            JobFailure::NeedsAction { reason } => sqlx::query(
                "UPDATE jobs SET state = 'failed', error = $1, not_before = NULL, first_failed_at = COALESCE(first_failed_at, $2), finished_at = $2, lease_owner = NULL, lease_until = NULL WHERE id = $3 AND lease_owner = $4 AND state = 'running'",
            )
            .bind(reason)
            .bind(now),
        }
        .bind(job.id)
        .bind(&job.owner)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        let (error, next, retry_at) = match failure {
            JobFailure::Retry { error, at } => (error, "queued", Some(at)),
            JobFailure::NeedsAction { reason } => (reason, "needs_action", None),
        };
        let mut moved = None;
        if let JobFailure::NeedsAction { reason } = failure {
            let state: String = sqlx::query("SELECT state FROM requests WHERE id = $1")
                .bind(&job.request_id)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or_else(|| Error::UnknownRequest(job.request_id.clone()))?
                .try_get("state")?;
            let from: State = parse(&state)?;
            if from.can_move_to(State::NeedsAction) {
                sqlx::query(
                    "UPDATE requests SET state = 'needs_action', updated_at = $1 WHERE id = $2 AND state = $3",
                )
                .bind(now)
                .bind(&job.request_id)
                .bind(from.as_str())
                .execute(&mut *tx)
                .await?;
                self.event(
                    &mut tx,
                    &job.request_id,
                    now,
                    Some(from),
                    State::NeedsAction,
                    &job.owner,
                    Some(reason),
                )
                .await?;
                moved = Some(from);
            }
        }
        self.audit(
            &mut tx,
            now,
            &job.owner,
            "job.failed",
            Some(&job.request_id),
            json!({
                "job": job.id,
                "attempt": job.attempts,
                "error": error,
                "next": next,
                "retry_at": retry_at,
                "from": moved.map(State::as_str),
            }),
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Where a request's job stands, if it has one.
    pub async fn job_status(&self, request_id: &str) -> Result<Option<JobStatus>> {
        let row = sqlx::query(
            "SELECT state, attempts, error, not_before, first_failed_at FROM jobs WHERE request_id = $1",
        )
        .bind(request_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(JobStatus {
                state: r.try_get("state")?,
                attempts: r.try_get("attempts")?,
                error: r.try_get("error")?,
                not_before: r.try_get("not_before")?,
                first_failed_at: r.try_get("first_failed_at")?,
            })
        })
        .transpose()
    }

    /// Requests in progress whose job no worker holds or will take: none is queued or
    /// running for them. The invariant is that there are none; tests and `/readyz` check.
    pub async fn orphaned_requests(&self) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT r.id AS id FROM requests r LEFT JOIN jobs j ON j.request_id = r.id WHERE r.state = 'in_progress' AND (j.id IS NULL OR j.state NOT IN ('queued', 'running')) ORDER BY r.id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok(r.try_get("id")?)).collect()
    }
}
