//! The consent ledger: consent events, objections, restrictions, opt-outs and links of
//! pseudonymous subjects, append-only and hash-chained like the audit log (same hash, same
//! [`Walker`]). Appends are grouped: many events, one transaction, one fsync.

use crate::audit::{Chained, Verification, Walker, chain_hash, push_json_string};
use crate::{Backend, Error, Result, Store, chain};
use pledge_domain::consent::{Action, ConsentEvent, Evidence};
use pledge_lang::types::SubjectRef;
use serde_json::json;
use sqlx::Row;
use sqlx::any::AnyRow;
use std::fmt::Write;

/// How many events a verification or a catch-up reads per query.
pub const PAGE: i64 = 20_000;

/// The consent index written out after ledger event `last_seq`, whose hash was `last_hash`
/// ([`pledge_domain::consent::snapshot`] reads and writes `body`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexSnapshot {
    pub last_seq: i64,
    pub last_hash: String,
    /// The body's format version.
    pub format: i64,
    pub body: Vec<u8>,
}

/// Ranges of the ledger a verification walks side by side: two per core here, and within
/// the four connections of a SQLite pool.
const VERIFY_PARTS: i64 = 4;

/// The columns of a ledger row, as one list for SELECTs (the same as
/// [`chain::ChainRow::COLUMNS`], checked by a test).
const COLUMNS: &str = "seq, at, subject, kind, target, state, expires_at, notice_version, text_hash, method, ip, user_agent, actor, prev_hash, hash";

/// One event as stored: the text of every column, which is what the hash covers, so a row
/// edited into something unreadable is still named by verification instead of failing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerRow {
    pub seq: i64,
    pub at: i64,
    pub subject: String,
    pub kind: String,
    pub target: Option<String>,
    pub state: String,
    pub expires_at: Option<i64>,
    pub notice_version: Option<String>,
    pub text_hash: Option<String>,
    pub method: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub actor: String,
    pub prev_hash: String,
    pub hash: String,
}

impl LedgerRow {
    /// The row for `event` numbered `seq` after `prev_hash`, with its hash.
    pub fn new(seq: i64, e: &ConsentEvent, prev_hash: String) -> Self {
        let cols = e.action.columns();
        let mut row = LedgerRow {
            seq,
            at: e.at,
            subject: e.subject.as_str().to_string(),
            kind: cols.kind.to_string(),
            target: cols.target,
            state: cols.state.to_string(),
            expires_at: e.expires_at,
            notice_version: e.notice_version.clone(),
            text_hash: e.text_hash.clone(),
            method: e.method.as_str().to_string(),
            ip: e.evidence.ip.clone(),
            user_agent: e.evidence.user_agent.clone(),
            actor: e.actor.clone(),
            prev_hash,
            hash: String::new(),
        };
        row.hash = row.compute_hash();
        row
    }

    /// The canonical JSON of everything the hash covers (all columns but `hash`): keys
    /// sorted, no white space, absent values as `null`.
    pub fn canonical(&self) -> String {
        let mut out = String::with_capacity(384);
        let text = |out: &mut String, key: &str, v: Option<&str>| {
            out.push_str(key);
            match v {
                Some(s) => push_json_string(out, s),
                None => out.push_str("null"),
            }
        };
        let number = |out: &mut String, key: &str, v: Option<i64>| {
            out.push_str(key);
            match v {
                // Writing into a String cannot fail.
                Some(n) => {
                    let _ = write!(out, "{n}");
                }
                None => out.push_str("null"),
            }
        };
        text(&mut out, "{\"actor\":", Some(&self.actor));
        number(&mut out, ",\"at\":", Some(self.at));
        number(&mut out, ",\"expires_at\":", self.expires_at);
        text(&mut out, ",\"ip\":", self.ip.as_deref());
        text(&mut out, ",\"kind\":", Some(&self.kind));
        text(&mut out, ",\"method\":", Some(&self.method));
        text(
            &mut out,
            ",\"notice_version\":",
            self.notice_version.as_deref(),
        );
        number(&mut out, ",\"seq\":", Some(self.seq));
        text(&mut out, ",\"state\":", Some(&self.state));
        text(&mut out, ",\"subject\":", Some(&self.subject));
        text(&mut out, ",\"target\":", self.target.as_deref());
        text(&mut out, ",\"text_hash\":", self.text_hash.as_deref());
        text(&mut out, ",\"user_agent\":", self.user_agent.as_deref());
        out.push('}');
        out
    }

    /// The event the row records.
    pub fn event(&self) -> Result<ConsentEvent> {
        let corrupt = |e: pledge_lang::types::ParseError| {
            Error::Corrupt(format!("consent event {}: {}", self.seq, e.0))
        };
        Ok(ConsentEvent {
            subject: self.subject.parse().map_err(corrupt)?,
            action: Action::from_columns(&self.kind, self.target.as_deref(), &self.state)
                .map_err(corrupt)?,
            at: self.at,
            expires_at: self.expires_at,
            notice_version: self.notice_version.clone(),
            text_hash: self.text_hash.clone(),
            method: self.method.parse().map_err(corrupt)?,
            evidence: Evidence {
                ip: self.ip.clone(),
                user_agent: self.user_agent.clone(),
            },
            actor: self.actor.clone(),
        })
    }
}

impl chain::ChainRow for LedgerRow {
    const TABLE: &'static str = "consent_events";
    const COLUMNS: &'static [&'static str] = &[
        "seq",
        "at",
        "subject",
        "kind",
        "target",
        "state",
        "expires_at",
        "notice_version",
        "text_hash",
        "method",
        "ip",
        "user_agent",
        "actor",
        "prev_hash",
        "hash",
    ];
    const LOCK: chain::Lock = chain::Lock::ConsentLedger;
    fn bind<'q>(&self, q: chain::AnyQuery<'q>) -> chain::AnyQuery<'q> {
        q.bind(self.seq)
            .bind(self.at)
            .bind(self.subject.clone())
            .bind(self.kind.clone())
            .bind(self.target.clone())
            .bind(self.state.clone())
            .bind(self.expires_at)
            .bind(self.notice_version.clone())
            .bind(self.text_hash.clone())
            .bind(self.method.clone())
            .bind(self.ip.clone())
            .bind(self.user_agent.clone())
            .bind(self.actor.clone())
            .bind(self.prev_hash.clone())
            .bind(self.hash.clone())
    }
}

impl Chained for LedgerRow {
    fn seq(&self) -> i64 {
        self.seq
    }
    fn prev_hash(&self) -> &str {
        &self.prev_hash
    }
    fn hash(&self) -> &str {
        &self.hash
    }
    fn compute_hash(&self) -> String {
        chain_hash(&self.prev_hash, &self.canonical())
    }
}

fn row_from(r: &AnyRow) -> Result<LedgerRow> {
    Ok(LedgerRow {
        seq: r.try_get(0)?,
        at: r.try_get(1)?,
        subject: r.try_get(2)?,
        kind: r.try_get(3)?,
        target: r.try_get(4)?,
        state: r.try_get(5)?,
        expires_at: r.try_get(6)?,
        notice_version: r.try_get(7)?,
        text_hash: r.try_get(8)?,
        method: r.try_get(9)?,
        ip: r.try_get(10)?,
        user_agent: r.try_get(11)?,
        actor: r.try_get(12)?,
        prev_hash: r.try_get(13)?,
        hash: r.try_get(14)?,
    })
}

impl Store {
    /// Appends `events` in order, in one transaction: chained to the ledger's head, and
    /// anchored in the audit log by one record naming the first and last number, the count
    /// and the new head (checked by [`Store::verify_anchors`]: editing the ledger and hashing
    /// it again, or cutting its tail, shows against the audit chain). Appenders are
    /// serialised (SQLite's write lock, an advisory lock on PostgreSQL), so the chain never
    /// forks and numbers commit in order.
    pub async fn append_consent(&self, events: &[ConsentEvent]) -> Result<Vec<LedgerRow>> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.begin().await?;
        let rows = chain::append(self.backend(), &mut tx, events, |seq, prev, e| {
            LedgerRow::new(seq, e, prev)
        })
        .await?;
        let (first, last) = (&rows[0], &rows[rows.len() - 1]);
        self.audit(
            &mut tx,
            last.at,
            if rows.len() == 1 {
                &last.actor
            } else {
                "system"
            },
            "consent.appended",
            None,
            json!({"from_seq": first.seq, "to_seq": last.seq, "count": rows.len(), "head": last.hash}),
        )
        .await?;
        tx.commit().await?;
        Ok(rows)
    }

    /// Ledger rows after `after_seq`, oldest first, at most `limit` (up to [`PAGE`]): how
    /// the server loads and follows the ledger.
    pub async fn consent_rows_after(&self, after_seq: i64, limit: i64) -> Result<Vec<LedgerRow>> {
        self.consent_page_json(after_seq, i64::MAX, limit.clamp(1, PAGE))
            .await
    }

    /// The hash of ledger event `seq`, if there is one (what a snapshot of the index is checked
    /// against before it is used).
    pub async fn consent_hash_at(&self, seq: i64) -> Result<Option<String>> {
        let row = sqlx::query("SELECT hash FROM consent_events WHERE seq = $1")
            .bind(seq)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(r) => Some(r.try_get(0)?),
            None => None,
        })
    }

    /// The snapshot of the consent index last written, if any.
    pub async fn consent_index_snapshot(&self) -> Result<Option<IndexSnapshot>> {
        let row = sqlx::query(
            "SELECT last_seq, last_hash, format, body FROM consent_index_snapshot WHERE id = 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            Some(r) => Some(IndexSnapshot {
                last_seq: r.try_get(0)?,
                last_hash: r.try_get(1)?,
                format: r.try_get(2)?,
                body: r.try_get(3)?,
            }),
            None => None,
        })
    }

    /// Keeps `snapshot` as the index's snapshot unless one of a later event is already kept
    /// (replicas sharing a store each write theirs): true when it was written.
    pub async fn save_consent_index_snapshot(
        &self,
        snapshot: &IndexSnapshot,
        now: i64,
    ) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO consent_index_snapshot (id, last_seq, last_hash, format, body, written_at)
             VALUES (1, $1, $2, $3, $4, $5)
             ON CONFLICT (id) DO UPDATE SET last_seq = excluded.last_seq,
                 last_hash = excluded.last_hash, format = excluded.format, body = excluded.body,
                 written_at = excluded.written_at
             WHERE excluded.last_seq > consent_index_snapshot.last_seq",
        )
        .bind(snapshot.last_seq)
        .bind(snapshot.last_hash.as_str())
        .bind(snapshot.format)
        .bind(snapshot.body.as_slice())
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Every event of these subjects (an id and the anonymous ids linked to it), oldest first.
    pub async fn consent_history(&self, subjects: &[SubjectRef]) -> Result<Vec<LedgerRow>> {
        if subjects.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders: Vec<String> = (1..=subjects.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT {COLUMNS} FROM consent_events WHERE subject IN ({}) ORDER BY seq",
            placeholders.join(", ")
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for s in subjects {
            q = q.bind(s.as_str());
        }
        let rows = q.fetch_all(&self.pool).await?;
        rows.iter().map(row_from).collect()
    }

    /// Records that `actor` read a subject's consent history (it holds truncated addresses
    /// and user agents). The subject appears in the audit log only as a SHA-256.
    pub async fn record_consent_read(
        &self,
        subject: &SubjectRef,
        actor: &str,
        now: i64,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        self.audit(
            &mut tx,
            now,
            actor,
            "consent.read",
            None,
            json!({"subject_sha256": crate::audit::sha256_hex(subject.as_str().as_bytes())}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Walks the whole ledger and names the first broken event. The chain is cut into
    /// [`VERIFY_PARTS`] ranges walked side by side (each its own connection), and the joins
    /// are checked after: part k+1 must start from the head of part k. Pages are read as one
    /// JSON value each (the database aggregates the rows: one value to decode instead of
    /// fifteen per row), and the next page is read while one is hashed.
    pub async fn verify_consent(&self) -> Result<Verification> {
        self.verify_consent_in_parts(VERIFY_PARTS, PAGE).await
    }

    /// [`Store::verify_consent`] with `parts` ranges of at least `min_size` events (tests
    /// use small ones to exercise the joins).
    #[doc(hidden)]
    pub async fn verify_consent_in_parts(&self, parts: i64, min_size: i64) -> Result<Verification> {
        let last: i64 = sqlx::query("SELECT COALESCE(MAX(seq), 0) AS last FROM consent_events")
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?;
        let size = (last / parts.max(1)).max(min_size.max(1));
        let mut tasks = Vec::new();
        let mut from = 0;
        while from < last || tasks.is_empty() {
            let to = if last - from <= size {
                last
            } else {
                from + size
            };
            let store = self.clone();
            tasks.push(tokio::spawn(
                async move { store.verify_range(from, to).await },
            ));
            from = to;
        }
        let mut whole = Walker::default().finish();
        for (k, part) in tasks.into_iter().enumerate() {
            let (v, first_prev) = part
                .await
                .map_err(|e| Error::Corrupt(format!("verification stopped: {e}")))??;
            if k == 0 {
                whole = v;
            } else if whole.first_broken.is_none() {
                // The join: this part's first event must link to the previous part's head
                // (a part that read nothing has none to check).
                if let Some(prev) = first_prev
                    && prev != whole.head
                {
                    whole.first_broken = Some(crate::audit::Broken {
                        seq: whole.records as i64 + 1,
                        reason: "its prev_hash is not the hash of the record before it".into(),
                    });
                } else {
                    whole.records += v.records;
                    whole.first_broken = v.first_broken;
                    if v.records > 0 {
                        whole.head = v.head;
                    }
                }
            }
        }
        Ok(whole)
    }

    /// Walks the events numbered `from + 1 ..= to`, trusting the first one's `prev_hash`
    /// (returned, for the join); for the first part, `from` is 0 and the chain starts at the
    /// genesis hash.
    async fn verify_range(&self, from: i64, to: i64) -> Result<(Verification, Option<String>)> {
        let mut page = self.consent_page_json(from, to, PAGE).await?;
        let first_prev = page.first().map(|r| r.prev_hash.clone());
        let mut walker = match (&first_prev, from) {
            (Some(prev), 1..) => Walker::starting_at(from + 1, prev),
            _ => Walker::default(),
        };
        while let Some(last) = page.last().map(|r| r.seq) {
            let store = self.clone();
            let next = tokio::spawn(async move { store.consent_page_json(last, to, PAGE).await });
            for r in &page {
                if !walker.push(r) {
                    next.abort();
                    return Ok((walker.finish(), first_prev));
                }
            }
            page = next
                .await
                .map_err(|e| Error::Corrupt(format!("reading the ledger stopped: {e}")))??;
        }
        Ok((walker.finish(), first_prev))
    }

    /// Up to `limit` rows numbered after `after_seq` and up to `up_to`, aggregated into one
    /// JSON array by the database and taken apart here (one value to decode instead of
    /// fifteen per row); the canonical text is still built from the columns in Rust.
    async fn consent_page_json(
        &self,
        after_seq: i64,
        up_to: i64,
        limit: i64,
    ) -> Result<Vec<LedgerRow>> {
        let sql = match self.backend() {
            Backend::Sqlite => {
                "SELECT json_group_array(json_array(seq, at, subject, kind, target, state, expires_at, notice_version, text_hash, method, ip, user_agent, actor, prev_hash, hash)) AS page FROM (SELECT * FROM consent_events WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3)"
            }
            Backend::Postgres => {
                "SELECT COALESCE(json_agg(json_build_array(seq, at, subject, kind, target, state, expires_at, notice_version, text_hash, method, ip, user_agent, actor, prev_hash, hash) ORDER BY seq), '[]')::text AS page FROM (SELECT * FROM consent_events WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3) AS p"
            }
        };
        let text: String = sqlx::query(sql)
            .bind(after_seq)
            .bind(up_to)
            .bind(limit)
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?;
        type Columns = (
            i64,
            i64,
            String,
            String,
            Option<String>,
            String,
            Option<i64>,
            Option<String>,
            Option<String>,
            String,
            Option<String>,
            Option<String>,
            String,
            String,
            String,
        );
        let rows: Vec<Columns> = serde_json::from_str(&text).map_err(|e| {
            Error::Corrupt(format!(
                "a consent event after {after_seq} has a column of the wrong type: {e}"
            ))
        })?;
        let mut rows: Vec<LedgerRow> = rows
            .into_iter()
            .map(|c| LedgerRow {
                seq: c.0,
                at: c.1,
                subject: c.2,
                kind: c.3,
                target: c.4,
                state: c.5,
                expires_at: c.6,
                notice_version: c.7,
                text_hash: c.8,
                method: c.9,
                ip: c.10,
                user_agent: c.11,
                actor: c.12,
                prev_hash: c.13,
                hash: c.14,
            })
            .collect();
        // SQLite aggregates in the subquery's order in practice; sorting makes it certain.
        rows.sort_by_key(|r| r.seq);
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::GENESIS;
    use pledge_domain::consent::{ConsentState, Method, Target};

    #[test]
    fn the_select_columns_are_the_insert_columns() {
        use chain::ChainRow;
        assert_eq!(COLUMNS, LedgerRow::COLUMNS.join(", "));
    }

    fn event(n: i64) -> ConsentEvent {
        ConsentEvent {
            subject: format!("visitor-{n}").parse().unwrap(),
            action: Action::Consent {
                target: Target::Purpose("newsletter".parse().unwrap()),
                state: ConsentState::Given,
            },
            at: 1_700_000_000 + n,
            expires_at: None,
            notice_version: Some("v1".into()),
            text_hash: None,
            method: Method::Banner,
            evidence: Evidence::new(Some("203.0.113.77".parse().unwrap()), Some("Firefox \"x\"")),
            actor: "banner".into(),
        }
    }

    #[test]
    fn the_canonical_row_is_the_sorted_json_of_its_columns() {
        let row = LedgerRow::new(1, &event(1), GENESIS.into());
        let mut whole = String::new();
        crate::audit::canonical_json(
            &json!({
                "seq": 1, "at": 1_700_000_001, "subject": "visitor-1", "kind": "consent",
                "target": "purpose:newsletter", "state": "given", "expires_at": null,
                "notice_version": "v1", "text_hash": null, "method": "banner",
                "ip": "203.0.113.0/24", "user_agent": "Firefox \"x\"", "actor": "banner",
            }),
            &mut whole,
        );
        assert_eq!(row.canonical(), whole);
        assert_eq!(row.event().unwrap(), event(1));
    }

    #[test]
    fn an_edited_row_breaks_the_chain_where_it_was_edited() {
        let mut prev = GENESIS.to_string();
        let mut rows: Vec<LedgerRow> = (1..=4)
            .map(|n| {
                let r = LedgerRow::new(n, &event(n), prev.clone());
                prev = r.hash.clone();
                r
            })
            .collect();
        rows[2].state = "refused".into();
        let mut w = Walker::default();
        for r in &rows {
            if !w.push(r) {
                break;
            }
        }
        let v = w.finish();
        assert_eq!(v.first_broken.map(|b| b.seq), Some(3));
        assert_eq!(v.records, 2);
    }
}
