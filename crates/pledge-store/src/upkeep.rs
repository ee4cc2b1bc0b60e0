//! Scheduled tasks and the expiry of Pledge's own data.
//!
//! - **Task leases**: one runner of a scheduled task (the retention sweep, maintenance) at a
//!   time across replicas. A row per task holds the owner, the lease's end and the last fire
//!   time taken; a replica takes it with one compare-and-set `UPDATE` (free or expired lease,
//!   fire time not yet taken), which works alike on SQLite and PostgreSQL. The row also holds
//!   the running task's progress, written as it goes (the retention sweep: after every
//!   committed batch): a runner killed mid-run leaves it, and the run is then recorded as
//!   interrupted with what it had done.
//! - **Sealed exports**: the export zip as ciphertext, with the wrapped data key and the id of
//!   the master key that wrapped it (the cryptography is the server's; the store keeps bytes).
//! - **Download links**: a random token the person gets, stored as its SHA-256, that expires
//!   and works once: it is marked used in the transaction that hands the export out.
//! - **Maintenance**: expired exports and links deleted, closed requests minimised after a
//!   period (identities and changes replaced by their hashes; dates, kind, state, outcome and
//!   the audit trail kept). Audit records are never deleted.

use crate::audit::{self, AuditRecord};
use crate::{Error, Result, Store, audit_from_row};
use serde::Serialize;
use serde_json::{Value, json};
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

/// An export as the server hands it to the store: encrypted, with its wrapped data key.
#[derive(Debug, Clone, PartialEq)]
pub struct SealedExport {
    /// A random id, bound into the ciphertext as associated data.
    pub export_id: String,
    /// Which master key wrapped the data key.
    pub key_id: String,
    pub wrapped_key: Vec<u8>,
    pub ciphertext: Vec<u8>,
    pub expires_at: i64,
}

/// An export as stored. Exports written before encryption at rest have no key id and hold
/// the zip in clear.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredExport {
    pub request_id: String,
    pub export_id: Option<String>,
    pub key_id: Option<String>,
    pub wrapped_key: Option<Vec<u8>>,
    pub bytes: Vec<u8>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
}

/// Why a download link does not give the export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkRefusal {
    /// No such link (never made, or deleted after it expired).
    Unknown,
    /// Used already, at this time.
    Used(i64),
    /// Expired at this time.
    Expired(i64),
    /// The export it pointed to has expired and was deleted.
    ExportGone,
}

impl std::fmt::Display for LinkRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LinkRefusal::Unknown => f.write_str("no such download link"),
            LinkRefusal::Used(_) => f.write_str(
                "this download link was used already; links work once: ask for a new one",
            ),
            LinkRefusal::Expired(_) => {
                f.write_str("this download link has expired: ask for a new one")
            }
            LinkRefusal::ExportGone => {
                f.write_str("the export this link was for has expired and was deleted")
            }
        }
    }
}

/// What one maintenance run changed.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Expiry {
    pub exports_deleted: u64,
    pub links_deleted: u64,
    pub requests_minimised: Vec<String>,
    /// More closed requests wait for minimisation than one run takes.
    pub more_to_minimise: bool,
    /// Verification codes and links deleted because they were used or expired.
    pub verifications_purged: u64,
}

/// What [`Store::recover_interrupted_task`] found.
#[derive(Debug, Clone, PartialEq)]
pub enum Recovery {
    /// No run left unfinished.
    Nothing,
    /// A run is under way and its lease is live until then (unix seconds).
    Running { lease_until: i64 },
    /// A dead run was recorded as interrupted, with this detail.
    Recorded(Value),
}

/// Closed requests minimised per maintenance run (the rest wait for the next run).
const MINIMISE_PER_RUN: i64 = 500;

const EXPORT_COLUMNS: &str =
    "request_id, export_id, key_id, wrapped_key, bytes, created_at, expires_at";

impl Store {
    // ------------------------------------------------------------------------------------
    // Task leases

    /// Takes the lease of `task` for the fire time `fire` if no live runner holds it and no
    /// runner took this fire time already. Compare-and-set: of replicas that try together, one
    /// wins. An expired lease (its runner died) is taken over; if that runner left the
    /// progress of a run it never finished, the run is recorded as interrupted first. The
    /// start is audited.
    pub async fn take_task_lease(
        &self,
        task: &str,
        owner: &str,
        fire: i64,
        lease_secs: i64,
        now: i64,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        sqlx::query("INSERT INTO task_leases (task) VALUES ($1) ON CONFLICT (task) DO NOTHING")
            .bind(task)
            .execute(&mut *tx)
            .await?;
        let taken = sqlx::query(
            "UPDATE task_leases SET owner = $1, lease_until = $2, last_fire = $3 WHERE task = $4 AND (last_fire IS NULL OR last_fire < $3) AND (owner IS NULL OR lease_until < $5)",
        )
        .bind(owner)
        .bind(now + lease_secs)
        .bind(fire)
        .bind(task)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if taken {
            // The last runner died mid-run: its progress is still here. Recorded before
            // this run starts, so the audit log has what it did.
            let left = sqlx::query("SELECT run_progress FROM task_leases WHERE task = $1")
                .bind(task)
                .fetch_one(&mut *tx)
                .await?
                .try_get::<Option<String>, _>("run_progress")?;
            if let Some(progress) = left {
                self.record_interrupted(&mut tx, task, owner, &progress, now)
                    .await?;
            }
            self.audit(
                &mut tx,
                now,
                owner,
                "task.started",
                None,
                json!({ "task": task, "fire": fire }),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(taken)
    }

    /// Records what the running task has done so far (`progress`: its report in progress,
    /// with `action`, e.g. `retention.run`, and `runner`), durably at once: a runner killed
    /// before it records the run leaves this, and the run is recorded as interrupted with
    /// it (see [`Store::recover_interrupted_task`]). False if this runner no longer holds the
    /// lease (nothing is written then).
    pub async fn record_task_progress(
        &self,
        task: &str,
        owner: &str,
        progress: &Value,
    ) -> Result<bool> {
        let done =
            sqlx::query("UPDATE task_leases SET run_progress = $1 WHERE task = $2 AND owner = $3")
                .bind(progress.to_string())
                .bind(task)
                .bind(owner)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The progress the current (or a dead) run of `task` last recorded, if any.
    pub async fn task_progress(&self, task: &str) -> Result<Option<Value>> {
        let row = sqlx::query("SELECT run_progress FROM task_leases WHERE task = $1")
            .bind(task)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        Ok(row
            .try_get::<Option<String>, _>("run_progress")?
            .map(|text| serde_json::from_str(&text).unwrap_or(Value::String(text))))
    }

    /// Finds a run of `task` that started and never finished (its runner died: the lease
    /// has expired and its progress is still there) and records it in the audit log as
    /// interrupted, with what it had done, under the run's own action; `by` is who noticed.
    /// A run whose lease is still live is left alone: its runner may be working.
    pub async fn recover_interrupted_task(
        &self,
        task: &str,
        by: &str,
        now: i64,
    ) -> Result<Recovery> {
        let mut tx = self.begin().await?;
        let row =
            sqlx::query("SELECT owner, lease_until, run_progress FROM task_leases WHERE task = $1")
                .bind(task)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(row) = row else {
            return Ok(Recovery::Nothing);
        };
        let Some(progress) = row.try_get::<Option<String>, _>("run_progress")? else {
            return Ok(Recovery::Nothing);
        };
        let owner: Option<String> = row.try_get("owner")?;
        let until: Option<i64> = row.try_get("lease_until")?;
        if let (Some(_), Some(until)) = (owner, until)
            && until >= now
        {
            return Ok(Recovery::Running { lease_until: until });
        }
        // Compare-and-set, so of two replicas that notice together one records it.
        let cleared = sqlx::query(
            "UPDATE task_leases SET owner = NULL, lease_until = NULL WHERE task = $1 AND run_progress IS NOT NULL AND (owner IS NULL OR lease_until < $2)",
        )
        .bind(task)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !cleared {
            return Ok(Recovery::Nothing);
        }
        let detail = self
            .record_interrupted(&mut tx, task, by, &progress, now)
            .await?;
        tx.commit().await?;
        Ok(Recovery::Recorded(detail))
    }

    /// Audits the run whose progress was left behind as interrupted, and clears it.
    async fn record_interrupted(
        &self,
        tx: &mut Transaction<'static, Any>,
        task: &str,
        by: &str,
        progress: &str,
        now: i64,
    ) -> Result<Value> {
        let mut detail = match serde_json::from_str::<Value>(progress) {
            Ok(Value::Object(fields)) => Value::Object(fields),
            Ok(other) => json!({ "progress": other }),
            Err(_) => json!({ "progress": progress }),
        };
        let action = detail["action"]
            .as_str()
            .map_or_else(|| format!("{task}.run"), str::to_string);
        let runner = detail["runner"].as_str().unwrap_or("unknown").to_string();
        if let Some(fields) = detail.as_object_mut() {
            fields.insert("interrupted".into(), json!(true));
            fields.insert("recorded_by".into(), json!(by));
        }
        sqlx::query("UPDATE task_leases SET run_progress = NULL WHERE task = $1")
            .bind(task)
            .execute(&mut **tx)
            .await?;
        self.audit(tx, now, &runner, &action, None, detail.clone())
            .await?;
        Ok(detail)
    }

    /// Extends a task lease this runner still holds. False if another took it over.
    pub async fn renew_task_lease(
        &self,
        task: &str,
        owner: &str,
        lease_secs: i64,
        now: i64,
    ) -> Result<bool> {
        let done =
            sqlx::query("UPDATE task_leases SET lease_until = $1 WHERE task = $2 AND owner = $3")
                .bind(now + lease_secs)
                .bind(task)
                .bind(owner)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Releases the lease, clears the run's progress and records the run (`action`, e.g.
    /// `retention.run`, with its report) in the audit log, in one transaction. The run is recorded even if the lease
    /// was lost meanwhile: the work was done either way.
    pub async fn finish_task(
        &self,
        task: &str,
        owner: &str,
        action: &str,
        mut detail: Value,
        now: i64,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        let held = sqlx::query(
            "UPDATE task_leases SET owner = NULL, lease_until = NULL, run_progress = NULL WHERE task = $1 AND owner = $2",
        )
        .bind(task)
        .bind(owner)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !held {
            match detail.as_object_mut() {
                Some(fields) => {
                    fields.insert("lease_lost".into(), json!(true));
                }
                None => detail = json!({ "report": detail, "lease_lost": true }),
            }
        }
        self.audit(&mut tx, now, owner, action, None, detail)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The audit records of one action, newest first, before `before_seq` (all if None).
    pub async fn audit_records_of(
        &self,
        action: &str,
        before_seq: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AuditRecord>> {
        let rows = sqlx::query(
            "SELECT seq, at, actor, action, request_id, detail, prev_hash, hash FROM audit_log WHERE action = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3",
        )
        .bind(action)
        .bind(before_seq.unwrap_or(i64::MAX))
        .bind(limit.clamp(1, 1000))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(audit_from_row).collect()
    }

    // ------------------------------------------------------------------------------------
    // Exports and download links

    /// The export of a request, if it has one that has not expired at `now`.
    pub async fn export(&self, request_id: &str, now: i64) -> Result<Option<StoredExport>> {
        let sql = format!(
            "SELECT {EXPORT_COLUMNS} FROM exports WHERE request_id = $1 AND (expires_at IS NULL OR expires_at > $2)"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(request_id)
            .bind(now)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(export_from_row).transpose()
    }

    /// Records a download link for the export of `request_id`: the SHA-256 of its token,
    /// when it expires (never after the export), and who made it; audited.
    pub async fn create_export_link(
        &self,
        request_id: &str,
        token_hash: &str,
        expires_at: i64,
        actor: &str,
        now: i64,
    ) -> Result<i64> {
        let mut tx = self.begin().await?;
        let export_expires: Option<Option<i64>> = sqlx::query(
            "SELECT expires_at FROM exports WHERE request_id = $1 AND (expires_at IS NULL OR expires_at > $2)",
        )
        .bind(request_id)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?
        .map(|r| r.try_get("expires_at"))
        .transpose()?;
        let Some(export_expires) = export_expires else {
            return Err(Error::NoExport(request_id.to_string()));
        };
        let expires_at = export_expires.map_or(expires_at, |e| e.min(expires_at));
        sqlx::query(
            "INSERT INTO export_links (token_hash, request_id, created_at, expires_at, created_by) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token_hash)
        .bind(request_id)
        .bind(now)
        .bind(expires_at)
        .bind(actor)
        .execute(&mut *tx)
        .await?;
        self.audit(
            &mut tx,
            now,
            actor,
            "export.link_created",
            Some(request_id),
            json!({ "link": link_id(token_hash), "expires_at": expires_at }),
        )
        .await?;
        tx.commit().await?;
        Ok(expires_at)
    }

    /// Hands out the export behind a download link, once: the link is marked used, `open`
    /// turns the stored export into the zip (decrypts it), and the download is audited, all
    /// in one transaction. If `open` fails nothing is marked. Returns the request id and the
    /// zip.
    pub async fn use_export_link<F>(
        &self,
        token_hash: &str,
        now: i64,
        open: F,
    ) -> Result<(String, Vec<u8>)>
    where
        F: FnOnce(&StoredExport) -> Result<Vec<u8>, String>,
    {
        let mut tx = self.begin().await?;
        let link = sqlx::query(
            "SELECT request_id, expires_at, used_at FROM export_links WHERE token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(Error::Link(LinkRefusal::Unknown))?;
        let request_id: String = link.try_get("request_id")?;
        let expires_at: i64 = link.try_get("expires_at")?;
        if let Some(used) = link.try_get::<Option<i64>, _>("used_at")? {
            return Err(Error::Link(LinkRefusal::Used(used)));
        }
        if expires_at <= now {
            return Err(Error::Link(LinkRefusal::Expired(expires_at)));
        }
        // Conditional: of two downloads racing on PostgreSQL, one marks the link.
        let marked = sqlx::query(
            "UPDATE export_links SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL",
        )
        .bind(now)
        .bind(token_hash)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if marked != 1 {
            return Err(Error::Link(LinkRefusal::Used(now)));
        }
        let sql = format!(
            "SELECT {EXPORT_COLUMNS} FROM exports WHERE request_id = $1 AND (expires_at IS NULL OR expires_at > $2)"
        );
        let export = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&request_id)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(Error::Link(LinkRefusal::ExportGone))?;
        let zip = open(&export_from_row(&export)?).map_err(Error::Sealed)?;
        self.audit(
            &mut tx,
            now,
            &format!("link:{}", link_id(token_hash)),
            "export.downloaded",
            Some(&request_id),
            json!({ "link": link_id(token_hash), "bytes": zip.len() }),
        )
        .await?;
        tx.commit().await?;
        Ok((request_id, zip))
    }

    // ------------------------------------------------------------------------------------
    // Maintenance

    /// Deletes exports that expired by `now` and their download links (a link outlives its
    /// own expiry as long as its export, so that using it says 410 Gone rather than 404), and minimises requests
    /// closed (completed, denied, cancelled) before `closed_before`: their identities and
    /// changes are replaced by SHA-256 hashes, their export and links deleted; their kind,
    /// dates, state, outcome, events and audit trail stay. One transaction with its audit
    /// record.
    pub async fn expire_own_data(
        &self,
        actor: &str,
        now: i64,
        closed_before: i64,
    ) -> Result<Expiry> {
        let mut tx = self.begin().await?;
        let mut expiry = Expiry {
            exports_deleted: sqlx::query(
                "DELETE FROM exports WHERE expires_at IS NOT NULL AND expires_at <= $1",
            )
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected(),
            links_deleted: sqlx::query(
                "DELETE FROM export_links WHERE request_id NOT IN (SELECT request_id FROM exports)",
            )
            .execute(&mut *tx)
            .await?
            .rows_affected(),
            ..Expiry::default()
        };
        let closed = sqlx::query(
            "SELECT id, identities, changes, result FROM requests WHERE state IN ('completed', 'denied', 'cancelled') AND minimised_at IS NULL AND updated_at < $1 ORDER BY updated_at, id LIMIT $2",
        )
        .bind(closed_before)
        .bind(MINIMISE_PER_RUN + 1)
        .fetch_all(&mut *tx)
        .await?;
        expiry.more_to_minimise = closed.len() as i64 > MINIMISE_PER_RUN;
        for row in closed.iter().take(MINIMISE_PER_RUN as usize) {
            let id: String = row.try_get("id")?;
            let identities = hashed_pairs(&row.try_get::<String, _>("identities")?)?;
            let changes = hashed_pairs(&row.try_get::<String, _>("changes")?)?;
            let result = row
                .try_get::<Option<String>, _>("result")?
                .map(|r| minimised_result(&r));
            sqlx::query("UPDATE requests SET identities = $1, changes = $2, result = $3, minimised_at = $4 WHERE id = $5 AND minimised_at IS NULL")
                .bind(identities)
                .bind(changes)
                .bind(result)
                .bind(now)
                .bind(&id)
                .execute(&mut *tx)
                .await?;
            minimise_traces(&mut tx, &id).await?;
            sqlx::query("DELETE FROM export_links WHERE request_id = $1")
                .bind(&id)
                .execute(&mut *tx)
                .await?;
            expiry.exports_deleted += sqlx::query("DELETE FROM exports WHERE request_id = $1")
                .bind(&id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            expiry.requests_minimised.push(id);
        }
        self.audit(
            &mut tx,
            now,
            actor,
            "data.expired",
            None,
            json!({
                "exports_deleted": expiry.exports_deleted,
                "links_deleted": expiry.links_deleted,
                "requests_minimised": expiry.requests_minimised,
                "closed_before": closed_before,
                "more_to_minimise": expiry.more_to_minimise,
            }),
        )
        .await?;
        tx.commit().await?;
        // Spent and expired verification codes and links go too, under their own audit
        // record (the mailer also purges them between deliveries).
        expiry.verifications_purged = self.purge_expired_verifications(now).await?;
        Ok(expiry)
    }
}

/// `sha256:<hex>` of `value`, once: a value already hashed stays as it is.
fn hashed(value: &str) -> String {
    if value.starts_with("sha256:") {
        value.to_string()
    } else {
        format!("sha256:{}", audit::sha256_hex(value.as_bytes()))
    }
}

/// What else of a minimised request can hold an e-mail address: its messages' recipients,
/// data and errors (a message still queued is given up), what its recipients reported, and
/// its job's error. Addresses are hashed like the identities, or cut out of error texts.
async fn minimise_traces(tx: &mut Transaction<'static, Any>, request_id: &str) -> Result<()> {
    let messages = sqlx::query("SELECT id, recipient, error FROM outbox WHERE request_id = $1")
        .bind(request_id)
        .fetch_all(&mut **tx)
        .await?;
    for m in &messages {
        let error: Option<String> = m.try_get("error")?;
        sqlx::query("UPDATE outbox SET recipient = $1, data = NULL, lease_until = NULL, error = $2, state = CASE WHEN state = 'queued' THEN 'failed' ELSE state END WHERE id = $3")
            .bind(hashed(&m.try_get::<String, _>("recipient")?))
            .bind(error.map(|e| audit::redact_addresses(&e)))
            .bind(m.try_get::<i64, _>("id")?)
            .execute(&mut **tx)
            .await?;
    }
    let forwards = sqlx::query(
        "SELECT recipient, detail FROM forwards WHERE request_id = $1 AND detail IS NOT NULL",
    )
    .bind(request_id)
    .fetch_all(&mut **tx)
    .await?;
    for f in &forwards {
        let detail: String = f.try_get("detail")?;
        sqlx::query("UPDATE forwards SET detail = $1 WHERE request_id = $2 AND recipient = $3")
            .bind(hashed(&detail))
            .bind(request_id)
            .bind(f.try_get::<String, _>("recipient")?)
            .execute(&mut **tx)
            .await?;
    }
    let job_error: Option<String> =
        sqlx::query("SELECT error FROM jobs WHERE request_id = $1 AND error IS NOT NULL")
            .bind(request_id)
            .fetch_optional(&mut **tx)
            .await?
            .map(|r| r.try_get("error"))
            .transpose()?;
    if let Some(error) = job_error {
        sqlx::query("UPDATE jobs SET error = $1 WHERE request_id = $2")
            .bind(audit::redact_addresses(&error))
            .bind(request_id)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// A request's stored result with the identities and ledger subjects it names hashed.
fn minimised_result(text: &str) -> String {
    match serde_json::from_str::<Value>(text) {
        Ok(mut result) => {
            hash_identities_in_result(&mut result);
            result.to_string()
        }
        // Not JSON (never written so): nothing of it is kept.
        Err(_) => "null".to_string(),
    }
}

/// Hashes the identity values (`identities[].value`) and ledger subjects (`ledger[].subject`)
/// a request's result names: the steps, counts, where each identity was found and what the
/// ledger recorded stay. For minimised requests, and for the audit log from the start.
pub(crate) fn hash_identities_in_result(result: &mut Value) {
    for (list, key) in [("identities", "value"), ("ledger", "subject")] {
        let items = result.get_mut(list).and_then(|v| v.as_array_mut());
        for item in items.into_iter().flatten() {
            if let Some(v) = item.get_mut(key)
                && let Some(text) = v.as_str()
            {
                *v = Value::String(hashed(text));
            }
        }
    }
}

/// The short, public id of a link: the start of its token's hash (never the token).
fn link_id(token_hash: &str) -> &str {
    token_hash.get(..12).unwrap_or(token_hash)
}

/// `[[kind, value], ...]` with each value replaced by `sha256:<hex>`: the record still says
/// which kinds of identity the request named, and a value known from elsewhere can be checked
/// against it, but the store no longer holds it.
fn hashed_pairs(text: &str) -> Result<String> {
    let pairs = crate::pairs_from_json(text)?;
    let hashed: Vec<(String, String)> = pairs.into_iter().map(|(k, v)| (k, hashed(&v))).collect();
    Ok(crate::pairs_json(&hashed))
}

fn export_from_row(r: &AnyRow) -> Result<StoredExport> {
    Ok(StoredExport {
        request_id: r.try_get("request_id")?,
        export_id: r.try_get("export_id")?,
        key_id: r.try_get("key_id")?,
        wrapped_key: r.try_get("wrapped_key")?,
        bytes: r.try_get("bytes")?,
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
    })
}
