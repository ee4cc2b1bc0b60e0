//! Rights requests: created with their first event (and, when they need it, their job) in
//! one transaction, read, listed with filters, moved through the workflow's transitions.

use super::*;

/// How a request's identities were proved to be the person's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProvedBy {
    /// The person confirmed the `email` identity with the code or link sent there (public
    /// intake): the only identity such a request names.
    EmailCode,
    /// Staff took the request in with their key, having checked the person out of band.
    Staff,
    /// A service took it in with its key (the application, for a signed-in user).
    Service,
}

impl ProvedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            ProvedBy::EmailCode => "email_code",
            ProvedBy::Staff => "staff",
            ProvedBy::Service => "service",
        }
    }
}

impl FromStr for ProvedBy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        [ProvedBy::EmailCode, ProvedBy::Staff, ProvedBy::Service]
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| format!("unknown proof `{s}`: email_code, staff or service"))
    }
}

/// A new request.
#[derive(Debug, Clone)]
pub struct NewRequest {
    pub kind: Right,
    pub regime: Regime,
    /// identity kind → value, e.g. `("email", "ana@example.com")`.
    pub identities: Vec<(String, String)>,
    /// For rectification: `(column or table.column, new value)`.
    pub changes: Vec<(String, String)>,
    /// Whether a privacy officer approves before it runs.
    pub needs_approval: bool,
    /// Staff intake of a person already known: verification skipped.
    pub verified: bool,
    /// How the identities are (or, before verification, will be) proved.
    pub proved_by: ProvedBy,
    pub received_at: i64,
    /// The language the person wrote in (a BCP 47 tag), for the messages about the request;
    /// none: the server's default.
    pub language: Option<String>,
}

/// A request as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RequestRecord {
    pub id: String,
    pub kind: Right,
    pub regime: Regime,
    pub state: State,
    pub identities: Vec<(String, String)>,
    pub changes: Vec<(String, String)>,
    /// How the identities were proved; `None` for requests taken in before it was recorded.
    pub proved_by: Option<ProvedBy>,
    pub needs_approval: bool,
    pub received_at: i64,
    pub due_at: i64,
    pub confirm_by: Option<i64>,
    pub extension_reason: Option<String>,
    pub denial_reason: Option<String>,
    /// What the execution did (per dataset, steps and row counts), once it ran.
    pub result: Option<Value>,
    pub updated_at: i64,
    /// The language of the messages to the person; none: the server's default.
    pub language: Option<String>,
}

impl RequestRecord {
    /// What the workflow needs of this request to check a transition (the console asks it
    /// which actions to offer).
    pub fn workflow(&self) -> workflow::Request {
        workflow::Request {
            regime: self.regime,
            right: self.kind,
            state: self.state,
            received_at: CivilTime::from_unix(self.received_at),
            due_at: CivilTime::from_unix(self.due_at),
            extension_reason: self.extension_reason.clone(),
        }
    }
}

/// One entry of a request's history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RequestEvent {
    pub at: i64,
    pub from_state: Option<State>,
    pub to_state: State,
    pub actor: String,
    pub reason: Option<String>,
}

/// Which requests to list.
#[derive(Debug, Clone, Default)]
pub struct RequestFilter {
    /// Open requests due before this time (unix seconds).
    pub due_before: Option<i64>,
    /// Open requests whose deadline passed at this time.
    pub overdue_at: Option<i64>,
    pub state: Option<State>,
    pub limit: Option<i64>,
}

impl Store {
    // ------------------------------------------------------------------------------------
    // Requests

    /// Inserts a request in `state` with its first event, its job when it is in progress,
    /// and its audit record, inside `tx`.
    pub(crate) async fn insert_request(
        &self,
        tx: &mut Transaction<'static, Any>,
        new: NewRequest,
        state: State,
        actor: &str,
    ) -> Result<RequestRecord> {
        let id = format!("req_{}", random_hex(10)?);
        let received = CivilTime::from_unix(new.received_at);
        let deadlines = workflow::deadlines(new.regime, new.kind, received);
        let record = RequestRecord {
            id: id.clone(),
            kind: new.kind,
            regime: new.regime,
            state,
            identities: new.identities,
            changes: new.changes,
            proved_by: Some(new.proved_by),
            needs_approval: new.needs_approval,
            received_at: new.received_at,
            due_at: deadlines.due.to_unix(),
            confirm_by: deadlines.confirm_by.map(CivilTime::to_unix),
            extension_reason: None,
            denial_reason: None,
            result: None,
            updated_at: new.received_at,
            language: new.language,
        };
        sqlx::query(
            "INSERT INTO requests (id, kind, regime, state, identities, changes, needs_approval, received_at, due_at, confirm_by, updated_at, proved_by, language) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(&record.id)
        .bind(record.kind.as_str())
        .bind(record.regime.as_str())
        .bind(record.state.as_str())
        .bind(pairs_json(&record.identities))
        .bind(pairs_json(&record.changes))
        .bind(i64::from(record.needs_approval))
        .bind(record.received_at)
        .bind(record.due_at)
        .bind(record.confirm_by)
        .bind(record.updated_at)
        .bind(record.proved_by.map(ProvedBy::as_str))
        .bind(record.language.clone())
        .execute(&mut **tx)
        .await?;
        self.event(tx, &id, record.received_at, None, state, actor, None)
            .await?;
        if state == State::InProgress {
            self.enqueue(tx, &id, record.received_at).await?;
        }
        self.audit(
            tx,
            record.received_at,
            actor,
            "request.created",
            Some(&id),
            json!({
                "kind": record.kind.as_str(),
                "regime": record.regime.as_str(),
                "state": state.as_str(),
                "due_at": record.due_at,
                // The identities themselves are personal data: the log keeps their hash.
                "identities_sha256": audit::sha256_hex(pairs_json(&record.identities).as_bytes()),
            }),
        )
        .await?;
        Ok(record)
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn event(
        &self,
        tx: &mut Transaction<'static, Any>,
        request_id: &str,
        at: i64,
        from: Option<State>,
        to: State,
        actor: &str,
        reason: Option<&str>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO request_events (request_id, at, from_state, to_state, actor, reason) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(request_id)
        .bind(at)
        .bind(from.map(State::as_str))
        .bind(to.as_str())
        .bind(actor)
        .bind(reason)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    pub(crate) async fn enqueue(
        &self,
        tx: &mut Transaction<'static, Any>,
        request_id: &str,
        now: i64,
    ) -> Result<()> {
        // One job per request, and a request in progress always has it queued or running:
        // approving twice does not run it twice (the second approval is refused), but a job
        // that ended is queued afresh when the request enters in_progress again: stopped
        // for staff (`failed`) and retried after they fixed the cause, or `done` and sent
        // back from awaiting_external to run again (every write of a run is idempotent).
        sqlx::query(
            "INSERT INTO jobs (request_id, state, attempts, created_at) VALUES ($1, 'queued', 0, $2) ON CONFLICT (request_id) DO UPDATE SET state = 'queued', attempts = 0, error = NULL, not_before = NULL, first_failed_at = NULL, lease_owner = NULL, lease_until = NULL, finished_at = NULL WHERE jobs.state IN ('failed', 'done')",
        )
        .bind(request_id)
        .bind(now)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    pub async fn get_request(&self, id: &str) -> Result<RequestRecord> {
        let sql = format!("SELECT {REQUEST_COLUMNS} FROM requests WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| Error::UnknownRequest(id.to_string()))?;
        request_from_row(&row)
    }

    pub async fn request_events(&self, id: &str) -> Result<Vec<RequestEvent>> {
        let rows = sqlx::query(
            "SELECT at, from_state, to_state, actor, reason FROM request_events WHERE request_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(RequestEvent {
                    at: r.try_get("at")?,
                    from_state: r
                        .try_get::<Option<String>, _>("from_state")?
                        .map(|s| parse(&s))
                        .transpose()?,
                    to_state: parse(&r.try_get::<String, _>("to_state")?)?,
                    actor: r.try_get("actor")?,
                    reason: r.try_get("reason")?,
                })
            })
            .collect()
    }

    /// Requests by deadline, soonest first.
    pub async fn list_requests(&self, filter: &RequestFilter) -> Result<Vec<RequestRecord>> {
        let mut sql = format!("SELECT {REQUEST_COLUMNS} FROM requests WHERE 1 = 1");
        let mut n = 0;
        let mut next = || {
            n += 1;
            n
        };
        let open = " AND state NOT IN ('completed', 'denied', 'cancelled')";
        if filter.due_before.is_some() {
            sql.push_str(&format!(" AND due_at <= ${}{open}", next()));
        }
        if filter.overdue_at.is_some() {
            sql.push_str(&format!(" AND due_at < ${}{open}", next()));
        }
        if filter.state.is_some() {
            sql.push_str(&format!(" AND state = ${}", next()));
        }
        sql.push_str(&format!(" ORDER BY due_at, id LIMIT ${}", next()));
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        if let Some(t) = filter.due_before {
            q = q.bind(t);
        }
        if let Some(t) = filter.overdue_at {
            q = q.bind(t);
        }
        if let Some(s) = filter.state {
            q = q.bind(s.as_str());
        }
        q = q.bind(filter.limit.unwrap_or(1000).clamp(1, 10_000));
        let rows = q.fetch_all(&self.pool).await?;
        rows.iter().map(request_from_row).collect()
    }

    /// Applies `transition` if the workflow allows it from the request's current state: the
    /// state, the event, the job (when it becomes in progress) and the audit record in one
    /// transaction. A concurrent change in between makes this fail with [`Error::Conflict`].
    pub async fn transition(
        &self,
        id: &str,
        transition: &Transition,
        actor: &str,
        now: i64,
    ) -> Result<RequestRecord> {
        let mut tx = self.begin().await?;
        let record = self
            .transition_in(&mut tx, id, transition, actor, now)
            .await?;
        tx.commit().await?;
        Ok(record)
    }

    /// [`Store::transition`] inside `tx`; the person is told of the steps that matter
    /// (verified, extended, denied) through the outbox, in the same transaction.
    pub(crate) async fn transition_in(
        &self,
        tx: &mut Transaction<'static, Any>,
        id: &str,
        transition: &Transition,
        actor: &str,
        now: i64,
    ) -> Result<RequestRecord> {
        let sql = format!("SELECT {REQUEST_COLUMNS} FROM requests WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?
            .ok_or_else(|| Error::UnknownRequest(id.to_string()))?;
        let mut record = request_from_row(&row)?;
        let applied = workflow::apply(&record.workflow(), transition)?;
        let (extension, denial) = match applied.to {
            State::Extended => (applied.reason.clone(), record.denial_reason.clone()),
            State::Denied => (record.extension_reason.clone(), applied.reason.clone()),
            _ => (
                record.extension_reason.clone(),
                record.denial_reason.clone(),
            ),
        };
        let due_at = applied.due_at.to_unix();
        let done = sqlx::query(
            "UPDATE requests SET state = $1, due_at = $2, extension_reason = $3, denial_reason = $4, updated_at = $5 WHERE id = $6 AND state = $7",
        )
        .bind(applied.to.as_str())
        .bind(due_at)
        .bind(&extension)
        .bind(&denial)
        .bind(now)
        .bind(id)
        .bind(applied.from.as_str())
        .execute(&mut **tx)
        .await?;
        if done.rows_affected() != 1 {
            return Err(Error::Conflict(record.state));
        }
        self.event(
            tx,
            id,
            now,
            Some(applied.from),
            applied.to,
            actor,
            applied.reason.as_deref(),
        )
        .await?;
        if applied.to == State::InProgress {
            self.enqueue(tx, id, now).await?;
        }
        self.audit(
            tx,
            now,
            actor,
            "request.transition",
            Some(id),
            json!({
                "from": applied.from.as_str(),
                "to": applied.to.as_str(),
                "reason": applied.reason,
                "due_at": due_at,
            }),
        )
        .await?;
        record.state = applied.to;
        record.due_at = due_at;
        record.extension_reason = extension;
        record.denial_reason = denial;
        record.updated_at = now;
        if let Some(event) = notify::Event::for_state(applied.to) {
            self.notify(tx, &record, event, json!({}), now).await?;
        }
        if applied.to == State::Completed {
            // Completed by hand (from needs_action): the person is told, as by a worker.
            let has_export = sqlx::query("SELECT 1 AS one FROM exports WHERE request_id = $1")
                .bind(id)
                .fetch_optional(&mut **tx)
                .await?
                .is_some();
            self.notify_completed(tx, id, has_export, false, now)
                .await?;
        }
        Ok(record)
    }

    /// Records that `actor` read personal data of a request (its identities, its export).
    pub async fn record_read(
        &self,
        request_id: &str,
        actor: &str,
        what: &str,
        now: i64,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        self.audit(
            &mut tx,
            now,
            actor,
            "request.read",
            Some(request_id),
            json!({ "what": what }),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Counts of requests per state, for metrics.
    pub async fn count_by_state(&self) -> Result<Vec<(State, i64)>> {
        let rows = sqlx::query("SELECT state, COUNT(*) AS n FROM requests GROUP BY state")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((parse(&r.try_get::<String, _>("state")?)?, r.try_get("n")?)))
            .collect()
    }
}

pub(crate) fn request_from_row(r: &AnyRow) -> Result<RequestRecord> {
    let kind: String = r.try_get("kind")?;
    Ok(RequestRecord {
        id: r.try_get("id")?,
        kind: kind
            .parse()
            .map_err(|e: pledge_lang::rights::UnknownName| Error::Corrupt(e.to_string()))?,
        regime: parse(&r.try_get::<String, _>("regime")?)?,
        state: parse(&r.try_get::<String, _>("state")?)?,
        identities: pairs_from_json(&r.try_get::<String, _>("identities")?)?,
        changes: pairs_from_json(&r.try_get::<String, _>("changes")?)?,
        proved_by: r
            .try_get::<Option<String>, _>("proved_by")?
            .map(|p| parse(&p))
            .transpose()?,
        needs_approval: r.try_get::<i64, _>("needs_approval")? != 0,
        received_at: r.try_get("received_at")?,
        due_at: r.try_get("due_at")?,
        confirm_by: r.try_get("confirm_by")?,
        extension_reason: r.try_get("extension_reason")?,
        denial_reason: r.try_get("denial_reason")?,
        result: r
            .try_get::<Option<String>, _>("result")?
            .map(|s| serde_json::from_str(&s).map_err(|e| Error::Corrupt(e.to_string())))
            .transpose()?,
        updated_at: r.try_get("updated_at")?,
        language: r.try_get("language")?,
    })
}
