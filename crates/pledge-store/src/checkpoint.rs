//! The store's side of signed checkpoints (see `pledge_domain::checkpoint`): the state of each
//! chain to sign, walked on from the last checkpoint; the checkpoints' copies in the store;
//! the store checked against checkpoints kept elsewhere; and the consent ledger's anchors in
//! the audit log checked against the ledger.
//!
//! What a checkpoint adds to the chains: a chain proves only that its records agree with
//! each other, and whoever can write the store can cut its tail or rewrite it and hash it
//! again. A checkpoint signed with a key the store does not hold, and copied out, fixes the
//! size and the head at that moment: a shorter log, or another record at any position up to
//! that size, no longer matches it.

use crate::audit::{Chained, GENESIS, Verification, Walker, hex};
use crate::{Error, Result, Store};
use pledge_domain::checkpoint::{Checkpoint, LogKind, hash_from_hex};
use pledge_domain::merkle::{self, Frontier, Hash};
use pledge_lang::time::CivilTime;
use serde::Serialize;
use serde_json::{Value, json};
use sqlx::Row;
use std::collections::{BTreeMap, BTreeSet};

/// Audit records read per page.
const AUDIT_PAGE: i64 = 5000;

/// Where a walk may start instead of the genesis: a prefix already checkpointed.
#[derive(Debug, Clone)]
pub struct Prefix {
    pub size: u64,
    pub head: String,
    /// The root the checkpoint signed: a frontier that does not give it is not used.
    pub root: Hash,
    /// The ledger's Merkle frontier at `size` (walking the ledger on needs it; without it
    /// the ledger is walked from its start).
    pub frontier: Option<Frontier>,
}

/// A log as it stands: what a checkpoint of it signs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogState {
    pub log: LogKind,
    pub size: u64,
    pub head: String,
    pub root: Hash,
    /// The consent ledger's Merkle frontier (none for the audit log).
    pub frontier: Option<Frontier>,
}

impl LogState {
    /// The checkpoint of this state under the key `name`, at `time`.
    pub fn checkpoint(&self, name: &str, time: i64) -> Checkpoint {
        Checkpoint {
            origin: Checkpoint::origin_for(name, self.log),
            size: self.size,
            root: self.root,
            head: self.head.clone(),
            time,
        }
    }
}

/// The copy of a checkpoint the store keeps (the one that counts lives outside it).
#[derive(Debug, Clone, Serialize)]
pub struct StoredCheckpoint {
    pub log: LogKind,
    pub size: u64,
    /// Unix seconds.
    pub at: i64,
    pub head: String,
    /// Hex.
    pub root: String,
    /// The signed note.
    pub note: String,
    #[serde(skip)]
    pub frontier: Option<Frontier>,
}

impl StoredCheckpoint {
    /// The prefix this copy vouches for. The columns are the store's, so a caller that
    /// does not trust them builds the prefix from the signed note instead (see
    /// [`Prefix::from_checkpoint`]); a frontier that does not give the root is ignored.
    pub fn prefix(&self) -> Prefix {
        Prefix {
            size: self.size,
            head: self.head.clone(),
            root: hash_from_hex(&self.root).unwrap_or([0; 32]),
            frontier: self.frontier.clone(),
        }
    }
}

impl Prefix {
    /// The prefix a signed checkpoint vouches for, with the ledger's frontier if one is at
    /// hand (used only if it gives the signed root).
    pub fn from_checkpoint(cp: &Checkpoint, frontier: Option<Frontier>) -> Prefix {
        Prefix {
            size: cp.size,
            head: cp.head.clone(),
            root: cp.root,
            frontier,
        }
    }
}

/// One walk over a chain: its verification, and the head hash (and for the ledger the
/// Merkle root) at each size asked for.
struct Walk {
    verification: Verification,
    /// Entries known intact: the prefix trusted, and the ones walked.
    intact: u64,
    heads: BTreeMap<u64, String>,
    roots: BTreeMap<u64, Hash>,
    frontier: Option<Frontier>,
}

/// The result of checking one checkpoint against the store.
#[derive(Debug, Clone, Serialize)]
pub struct CheckpointCheck {
    pub log: LogKind,
    pub size: u64,
    /// Unix seconds: when it was signed.
    pub time: i64,
    /// Why the store does not hold what it signed; None: it does.
    pub problem: Option<String>,
}

/// A chain checked against checkpoints.
#[derive(Debug, Clone, Serialize)]
pub struct LogCheck {
    pub log: LogKind,
    /// The chain's own verification (it says nothing of a cut tail or a rewrite).
    pub chain: Verification,
    /// One per checkpoint, by size.
    pub checkpoints: Vec<CheckpointCheck>,
    /// Entries after the largest checkpoint that matched: not vouched for by any yet.
    pub not_yet_checkpointed: u64,
}

impl LogCheck {
    pub fn intact(&self) -> bool {
        self.chain.first_broken.is_none() && self.checkpoints.iter().all(|c| c.problem.is_none())
    }
}

/// The consent ledger's anchors in the audit log, checked against the ledger.
#[derive(Debug, Clone, Serialize)]
pub struct AnchorCheck {
    /// `consent.appended` records read.
    pub anchors: u64,
    /// Ledger events they anchor.
    pub events: u64,
    /// The first anchor that does not match the ledger, or events no anchor covers.
    pub first_problem: Option<String>,
}

fn when(t: i64) -> String {
    CivilTime::from_unix(t).to_rfc3339()
}

fn frontier_json(f: &Frontier) -> String {
    json!({
        "size": f.size(),
        "subtrees": f.subtrees().iter().map(|h| hex(h)).collect::<Vec<_>>(),
    })
    .to_string()
}

fn frontier_from_json(text: &str) -> Option<Frontier> {
    let v: Value = serde_json::from_str(text).ok()?;
    let size = v.get("size")?.as_u64()?;
    let subtrees = v
        .get("subtrees")?
        .as_array()?
        .iter()
        .map(|h| h.as_str().and_then(hash_from_hex))
        .collect::<Option<Vec<_>>>()?;
    Frontier::from_parts(size, subtrees)
}

fn table(log: LogKind) -> &'static str {
    match log {
        LogKind::AuditLog => "audit_log",
        LogKind::ConsentLedger => "consent_events",
    }
}

impl Store {
    /// The hash of entry `seq` of a chain, if there is one.
    async fn hash_at(&self, log: LogKind, seq: u64) -> Result<Option<String>> {
        let sql = format!("SELECT hash FROM {} WHERE seq = $1", table(log));
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(i64::try_from(seq).unwrap_or(i64::MAX))
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| r.try_get::<String, _>(0))
            .transpose()
            .map_err(Error::from)
    }

    /// Walks a chain from the genesis, or on from `from` (the audit log always; the ledger
    /// when the prefix carries its frontier), noting the head (and root) at each of `marks`.
    async fn walk(
        &self,
        log: LogKind,
        from: Option<&Prefix>,
        marks: &BTreeSet<u64>,
    ) -> Result<Walk> {
        let from = from.filter(|p| {
            p.size > 0
                && (log == LogKind::AuditLog
                    || p.frontier
                        .as_ref()
                        .is_some_and(|f| f.size() == p.size && f.root() == p.root))
        });
        let mut heads = BTreeMap::new();
        let mut roots = BTreeMap::new();
        let (mut walker, mut after, mut frontier) = match from {
            Some(p) => {
                // The prefix must still be there: its head at its size.
                let at = self.hash_at(log, p.size).await?;
                if let Some(h) = &at {
                    heads.insert(p.size, h.clone());
                }
                if at.as_deref() != Some(p.head.as_str()) {
                    return Ok(Walk {
                        verification: Walker::default().finish(),
                        intact: 0,
                        heads,
                        roots,
                        frontier: None,
                    });
                }
                (
                    Walker::starting_at(p.size as i64 + 1, &p.head),
                    p.size as i64,
                    p.frontier.clone().unwrap_or_default(),
                )
            }
            None => {
                heads.insert(0, GENESIS.to_string());
                roots.insert(0, merkle::empty_root());
                (Walker::default(), 0, Frontier::default())
            }
        };
        let start = after as u64;
        match log {
            LogKind::AuditLog => 'pages: loop {
                let page = self.audit_records(after, AUDIT_PAGE).await?;
                let Some(last) = page.last() else { break };
                after = last.seq;
                for r in &page {
                    if !walker.push(r) {
                        break 'pages;
                    }
                    let seq = r.seq as u64;
                    if marks.contains(&seq) {
                        heads.insert(seq, r.hash.clone());
                    }
                }
            },
            LogKind::ConsentLedger => 'pages: loop {
                let page = self.consent_rows_after(after, crate::ledger::PAGE).await?;
                let Some(last) = page.last() else { break };
                after = last.seq;
                for r in &page {
                    if !walker.push(r) {
                        break 'pages;
                    }
                    frontier.push(merkle::leaf_hash(r.canonical().as_bytes()));
                    let seq = r.seq as u64;
                    if marks.contains(&seq) {
                        heads.insert(seq, r.hash().to_string());
                        roots.insert(seq, frontier.root());
                    }
                }
            },
        }
        let verification = walker.finish();
        Ok(Walk {
            intact: start + verification.records,
            verification,
            heads,
            roots,
            frontier: (log == LogKind::ConsentLedger).then_some(frontier),
        })
    }

    /// The state of a chain to sign now, walked on from `from` (the last checkpoint, whose
    /// signature the caller checked). `Ok(Err(why))` when it must not be signed: the chain
    /// is broken, or it no longer holds the prefix.
    pub async fn log_state(
        &self,
        log: LogKind,
        from: Option<&Prefix>,
    ) -> Result<std::result::Result<LogState, String>> {
        let walk = self.walk(log, from, &BTreeSet::new()).await?;
        if let Some(p) = from.filter(|p| p.size > 0)
            && walk.heads.get(&p.size) != Some(&p.head)
        {
            return Ok(Err(format!(
                "{} {} differs from the last checkpoint (or is gone): the {} was changed",
                log.unit(),
                p.size,
                log.describe()
            )));
        }
        if let Some(b) = &walk.verification.first_broken {
            return Ok(Err(format!(
                "the {} is broken at {} {}: {}",
                log.describe(),
                log.unit(),
                b.seq,
                b.reason
            )));
        }
        let head = walk.verification.head.clone();
        let (root, frontier) = match log {
            LogKind::AuditLog => (hash_from_hex(&head).unwrap_or([0; 32]), None),
            LogKind::ConsentLedger => {
                let f = walk.frontier.unwrap_or_default();
                (f.root(), Some(f))
            }
        };
        Ok(Ok(LogState {
            log,
            size: walk.intact,
            head,
            root,
            frontier,
        }))
    }

    /// Checks the chain against checkpoints of it (whose signatures the caller checked):
    /// each must find the chain at least as long as it says, with its head hash (and root)
    /// at its size.
    pub async fn verify_with_checkpoints(
        &self,
        log: LogKind,
        checkpoints: &[Checkpoint],
    ) -> Result<LogCheck> {
        let marks: BTreeSet<u64> = checkpoints.iter().map(|c| c.size).collect();
        let walk = self.walk(log, None, &marks).await?;
        let n = walk.intact;
        let unit = log.unit();
        let mut sorted: Vec<&Checkpoint> = checkpoints.iter().collect();
        sorted.sort_by_key(|c| (c.size, c.time));
        let mut checks = Vec::new();
        let mut last_good: Option<&Checkpoint> = None;
        let mut latest_before: Option<&Checkpoint> = None;
        for c in sorted {
            let problem = if c.size > n {
                Some(match &walk.verification.first_broken {
                    Some(b) => format!(
                        "the {} is intact only up to {unit} {n} ({unit} {}: {}); the checkpoint of {} vouches for {}",
                        log.describe(),
                        b.seq,
                        b.reason,
                        when(c.time),
                        c.size
                    ),
                    None => format!(
                        "the {} has {n} {unit}s, the checkpoint of {} vouches for {} > {n}: {unit}s were cut from its end",
                        log.describe(),
                        when(c.time),
                        c.size
                    ),
                })
            } else if walk.heads.get(&c.size) != Some(&c.head)
                || (log == LogKind::ConsentLedger && walk.roots.get(&c.size) != Some(&c.root))
            {
                let since = match last_good {
                    Some(g) => format!(
                        "; it was rewritten after {unit} {}, which the checkpoint of {} still matches",
                        g.size,
                        when(g.time)
                    ),
                    None => String::new(),
                };
                Some(format!(
                    "{unit} {} differs from what the checkpoint of {} signed: the {} was rewritten at or before it{since}",
                    c.size,
                    when(c.time),
                    log.describe()
                ))
            } else {
                None
            };
            // Signed later but for fewer entries: the log shrank between them.
            let problem = problem.or_else(|| {
                latest_before
                    .filter(|p| p.time > c.time && p.size < c.size)
                    .map(|p| {
                        format!(
                            "the checkpoint of {} vouches for fewer {unit}s ({}) than this earlier one ({})",
                            when(p.time),
                            p.size,
                            c.size
                        )
                    })
            });
            if problem.is_none() {
                last_good = Some(c);
            }
            if latest_before.is_none_or(|p| c.time > p.time) {
                latest_before = Some(c);
            }
            checks.push(CheckpointCheck {
                log,
                size: c.size,
                time: c.time,
                problem,
            });
        }
        let covered = last_good.map_or(0, |g| g.size);
        Ok(LogCheck {
            log,
            chain: walk.verification,
            checkpoints: checks,
            not_yet_checkpointed: n.saturating_sub(covered),
        })
    }

    /// Checks every `consent.appended` record of the audit log against the ledger: the
    /// groups follow each other from event 1 without gap or overlap, each names as many
    /// events as it spans, the ledger holds the group's last event with the head hash the
    /// record names, and no event comes after the last group. Editing the ledger and
    /// hashing it again breaks an anchor; editing an anchor breaks the audit chain.
    pub async fn verify_anchors(&self) -> Result<AnchorCheck> {
        let last: i64 = sqlx::query("SELECT COALESCE(MAX(seq), 0) AS last FROM consent_events")
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?;
        let mut check = AnchorCheck {
            anchors: 0,
            events: 0,
            first_problem: None,
        };
        let mut expected_from = 1i64;
        let mut after = 0i64;
        'pages: loop {
            let rows = sqlx::query(
                "SELECT seq, detail FROM audit_log WHERE action = 'consent.appended' AND seq > $1 ORDER BY seq LIMIT $2",
            )
            .bind(after)
            .bind(1000i64)
            .fetch_all(&self.pool)
            .await?;
            if rows.is_empty() {
                break;
            }
            let mut anchors = Vec::with_capacity(rows.len());
            for r in &rows {
                let seq: i64 = r.try_get(0)?;
                let detail: String = r.try_get(1)?;
                after = seq;
                let d: Value = serde_json::from_str(&detail).unwrap_or(Value::Null);
                let field = |k: &str| d.get(k).and_then(Value::as_i64);
                let (Some(from), Some(to), Some(head)) = (
                    field("from_seq"),
                    field("to_seq"),
                    d.get("head").and_then(Value::as_str),
                ) else {
                    check.first_problem = Some(format!(
                        "audit record {seq} (consent.appended) does not name from_seq, to_seq and head"
                    ));
                    break 'pages;
                };
                anchors.push((seq, from, to, head.to_string(), field("count")));
            }
            let placeholders: Vec<String> = (1..=anchors.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT seq, hash FROM consent_events WHERE seq IN ({})",
                placeholders.join(", ")
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for a in &anchors {
                q = q.bind(a.2);
            }
            let mut hashes = BTreeMap::new();
            for r in q.fetch_all(&self.pool).await? {
                hashes.insert(r.try_get::<i64, _>(0)?, r.try_get::<String, _>(1)?);
            }
            for (seq, from, to, head, count) in anchors {
                let problem = if from != expected_from || to < from {
                    Some(if from > expected_from {
                        format!(
                            "consent events {expected_from} to {} are anchored by no audit record (audit record {seq} anchors {from} to {to})",
                            from - 1
                        )
                    } else {
                        format!(
                            "audit record {seq} anchors consent events {from} to {to}, but the groups before it end at {}",
                            expected_from - 1
                        )
                    })
                } else if count.is_some_and(|c| c != to - from + 1) {
                    Some(format!(
                        "audit record {seq} anchors consent events {from} to {to} but counts {} of them",
                        count.unwrap_or(0)
                    ))
                } else {
                    match hashes.get(&to) {
                        None => Some(format!(
                            "audit record {seq} anchors consent events {from} to {to}, but the ledger ends at {last}"
                        )),
                        Some(h) if *h != head => Some(format!(
                            "audit record {seq} anchors consent events {from} to {to} with head {head}, but event {to} in the ledger has hash {h}: the ledger was changed"
                        )),
                        Some(_) => None,
                    }
                };
                if problem.is_some() {
                    check.first_problem = problem;
                    break 'pages;
                }
                check.anchors += 1;
                check.events += (to - from + 1) as u64;
                expected_from = to + 1;
            }
        }
        if check.first_problem.is_none() && last >= expected_from {
            check.first_problem = Some(format!(
                "consent events {expected_from} to {last} are anchored by no audit record: they were added outside the store's appends"
            ));
        }
        Ok(check)
    }

    /// Records a checkpoint run made outside the scheduler (`pledge audit checkpoint`) in the
    /// audit log, with its report, as the scheduled runs are.
    pub async fn record_checkpoint_run(&self, actor: &str, report: Value, now: i64) -> Result<()> {
        let mut tx = self.begin().await?;
        self.audit(&mut tx, now, actor, "checkpoint.run", None, report)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Keeps a copy of a signed checkpoint (one per log and size: false if there is one).
    pub async fn save_checkpoint(&self, state: &LogState, at: i64, note: &str) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO checkpoints (log, size, at, head, root, note, frontier) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (log, size) DO NOTHING",
        )
        .bind(state.log.as_str())
        .bind(i64::try_from(state.size).unwrap_or(i64::MAX))
        .bind(at)
        .bind(&state.head)
        .bind(hex(&state.root))
        .bind(note)
        .bind(state.frontier.as_ref().map(frontier_json))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The copies of checkpoints of `log` in the store, by size, after `after_size`.
    pub async fn checkpoints(
        &self,
        log: LogKind,
        after_size: i64,
        limit: i64,
    ) -> Result<Vec<StoredCheckpoint>> {
        let rows = sqlx::query(
            "SELECT size, at, head, root, note, frontier FROM checkpoints WHERE log = $1 AND size > $2 ORDER BY size LIMIT $3",
        )
        .bind(log.as_str())
        .bind(after_size)
        .bind(limit.clamp(1, 1000))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| stored_from_row(log, r)).collect()
    }

    /// The largest checkpoint of `log` the store keeps a copy of.
    pub async fn latest_checkpoint(&self, log: LogKind) -> Result<Option<StoredCheckpoint>> {
        let row = sqlx::query(
            "SELECT size, at, head, root, note, frontier FROM checkpoints WHERE log = $1 ORDER BY size DESC LIMIT 1",
        )
        .bind(log.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| stored_from_row(log, &r)).transpose()
    }

    /// The consent event `seq` and its audit path in the Merkle tree of the ledger's first
    /// `size` events (None if `seq` is not among them). Reads the `size` events.
    pub async fn consent_inclusion(
        &self,
        seq: i64,
        size: u64,
    ) -> Result<Option<(crate::ledger::LedgerRow, Vec<Hash>)>> {
        if seq < 1 || seq as u64 > size {
            return Ok(None);
        }
        let mut leaves = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        let mut row = None;
        let mut after = 0;
        while (leaves.len() as u64) < size {
            let page = self.consent_rows_after(after, crate::ledger::PAGE).await?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            for r in page {
                if leaves.len() as u64 == size {
                    break;
                }
                leaves.push(merkle::leaf_hash(r.canonical().as_bytes()));
                if r.seq == seq {
                    row = Some(r);
                }
            }
        }
        if (leaves.len() as u64) < size {
            return Ok(None);
        }
        let index = usize::try_from(seq - 1).unwrap_or(usize::MAX);
        Ok(row.and_then(|r| merkle::inclusion_path(&leaves, index).map(|p| (r, p))))
    }
}

fn stored_from_row(log: LogKind, r: &sqlx::any::AnyRow) -> Result<StoredCheckpoint> {
    let size: i64 = r.try_get(0)?;
    Ok(StoredCheckpoint {
        log,
        size: u64::try_from(size)
            .map_err(|_| Error::Corrupt(format!("a checkpoint of size {size}")))?,
        at: r.try_get(1)?,
        head: r.try_get(2)?,
        root: r.try_get(3)?,
        note: r.try_get(4)?,
        frontier: r
            .try_get::<Option<String>, _>(5)?
            .as_deref()
            .and_then(frontier_from_json),
    })
}
