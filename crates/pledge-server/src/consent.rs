//! The consent service: records choices in the ledger (grouped into one transaction per
//! batch by a single writer task), keeps the decision index in memory in step with the
//! store, and answers decisions from it. The HTTP handlers (`consent_api.rs`), the banner
//! and the preference centre all go through [`ConsentService`].
//!
//! Replicas on one PostgreSQL each hold their own index; every replica follows the ledger by
//! its sequence number (see [`ConsentService::follow`]), so an append on one replica shows in
//! the decisions of the others within one poll interval.
//!
//! A server starts from the index's snapshot in the store (see [`ConsentService::start`]):
//! the index as it stood after one ledger event, checked against that event's hash, then the
//! events after it. Snapshots are written by [`ConsentService::follow`] once the index is
//! [`SNAPSHOT_EVERY`] events past the last one (at most every [`SNAPSHOT_INTERVAL_SECS`]),
//! and when the server stops.

use crate::Clock;
use crate::http::problem::Problem;
use axum::http::HeaderMap;
use pledge_domain::consent::{
    Action, ConsentEvent, ConsentIndex, ConsentPolicy, ConsentState, Decision, Evidence, Method,
    Query, Target, snapshot,
};
use pledge_lang::Declaration;
use pledge_lang::types::PurposeId;
use pledge_lang::types::SubjectRef;
use pledge_store::Store;
use pledge_store::ledger::{IndexSnapshot, LedgerRow, PAGE};
use serde::Serialize;
use std::net::IpAddr;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;
use thiserror::Error;
use tokio::sync::{Mutex, mpsc, oneshot};

/// The most events one ledger transaction takes: enough to amortise the commit, small
/// enough that a waiting caller is not held long.
const MAX_BATCH: usize = 4096;

/// Events the index must be past the last snapshot before [`ConsentService::follow`] writes
/// another: a start then applies at most about this many (plus what one interval adds).
pub const SNAPSHOT_EVERY: i64 = 10_000;

/// Seconds between two snapshots at least: writing one costs about its size (tens of bytes
/// per subject), so a busy ledger does not rewrite it on every poll.
pub const SNAPSHOT_INTERVAL_SECS: i64 = 60;

/// Choices for one subject, as the banner, a form, an e-mail link or the API sends them.
#[derive(Debug, Clone)]
pub struct RecordConsent {
    pub subject: SubjectRef,
    pub choices: Vec<Choice>,
    pub method: Method,
    /// The version of the notice or banner text shown.
    pub notice_version: Option<String>,
    /// SHA-256 (64 lower-case hex digits) of the exact text shown.
    pub text_hash: Option<String>,
    /// The caller's address as seen; only its /24 (IPv4) or /48 (IPv6) is kept.
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
    /// The request carried `Sec-GPC: 1`: an opt-out of sale, sharing and targeted
    /// advertising is recorded too.
    pub gpc: bool,
    /// Who records it: `key:<id>`, `banner`, ...
    pub actor: String,
}

/// One choice: a state for a purpose or a cookie category.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub target: Target,
    pub state: ConsentState,
}

/// The receipt of one recorded event: where it sits in the ledger, and the document for the
/// person (ISO/IEC TS 27560 shaped, W3C DPV terms).
#[derive(Debug, Clone, Serialize)]
pub struct Receipt {
    pub seq: i64,
    pub hash: String,
    pub document: serde_json::Value,
}

/// A subject's consent now, as the preference centre shows it.
#[derive(Debug, Clone, Serialize)]
pub struct SubjectConsent {
    pub subject: SubjectRef,
    /// The subject whose state this is: itself, or the known subject it was linked to.
    pub resolved_to: SubjectRef,
    pub consents: Vec<CurrentConsent>,
    /// Purposes objected to.
    pub objections: Vec<PurposeId>,
    /// Unix seconds.
    pub restricted_since: Option<i64>,
    /// Opted out of sale, sharing and targeted advertising since (unix seconds).
    pub opted_out_since: Option<i64>,
}

/// The latest choice on one target, with its state at the time of asking.
#[derive(Debug, Clone, Serialize)]
pub struct CurrentConsent {
    pub target: Target,
    /// A consent given whose time ran out reads `expired`.
    pub state: ConsentState,
    pub at: i64,
    pub expires_at: Option<i64>,
    pub method: Method,
    pub notice_version: Option<String>,
    pub seq: i64,
}

/// Why recording failed.
#[derive(Debug, Error)]
pub enum ConsentError {
    /// The input is not acceptable (422).
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] pledge_store::Error),
    /// The ledger writer is gone (the server is stopping) or failed the batch.
    #[error("the consent ledger could not be written: {0}")]
    Writer(String),
    /// The index's snapshot cannot be used (the whole ledger is read instead).
    #[error("the consent index snapshot cannot be used: {0}")]
    Snapshot(String),
}

impl From<ConsentError> for Problem {
    fn from(e: ConsentError) -> Self {
        match e {
            ConsentError::Invalid(detail) => Problem::invalid(detail),
            ConsentError::Store(e) => e.into(),
            ConsentError::Writer(detail) | ConsentError::Snapshot(detail) => {
                Problem::internal(detail)
            }
        }
    }
}

/// Whether the request carries a Global Privacy Control signal: `Sec-GPC` whose value is
/// exactly `1` (any other value, or several headers, is no signal).
pub fn gpc_signal(headers: &HeaderMap) -> bool {
    let mut values = headers.get_all("sec-gpc").iter();
    matches!((values.next(), values.next()), (Some(v), None) if v.as_bytes() == b"1")
}

type Reply = oneshot::Sender<Result<Vec<LedgerRow>, String>>;
/// Events to append, and where to send their rows.
type Append = (Vec<ConsentEvent>, Reply);

/// The consent ledger and decisions, shared by every handler: cheap to clone (one reference
/// count, since handlers clone the application state on every call).
#[derive(Clone)]
pub struct ConsentService {
    inner: Arc<Shared>,
}

struct Shared {
    store: Store,
    decl: Arc<Declaration>,
    /// Where "now" comes from: the server's clock (expiry and decisions follow it).
    clock: Clock,
    policy: ConsentPolicy,
    index: RwLock<ConsentIndex>,
    /// One catch-up at a time, so pages are applied in order.
    catching_up: Mutex<()>,
    /// The single writer task, started on first use (inside the runtime).
    writer: OnceLock<mpsc::UnboundedSender<Append>>,
    /// The last snapshot of the index this process read or wrote: the event it was taken
    /// after, and when it was written (`None`: read at start, or none yet). Held while one
    /// is written, so there is one at a time.
    snapshot: Mutex<(i64, Option<i64>)>,
}

impl ConsentService {
    /// A service with an empty index: call [`ConsentService::catch_up`] before answering
    /// decisions (`Bound::serve` does).
    pub fn new(store: Store, decl: Arc<Declaration>, clock: Clock) -> Self {
        let policy = ConsentPolicy::new(&decl);
        ConsentService {
            inner: Arc::new(Shared {
                store,
                decl,
                clock,
                policy,
                index: RwLock::new(ConsentIndex::default()),
                catching_up: Mutex::new(()),
                writer: OnceLock::new(),
                snapshot: Mutex::new((0, None)),
            }),
        }
    }

    /// The document of `/.well-known/gpc.json`: Pledge records every `Sec-GPC: 1` as an
    /// opt-out, so the site honours GPC; `lastUpdate` is the policy's effective date.
    pub fn gpc_document(&self) -> serde_json::Value {
        let mut doc = serde_json::json!({ "gpc": true });
        if let Some(date) = self
            .inner
            .decl
            .doc()
            .policy
            .as_ref()
            .and_then(|p| p.effective_date.as_ref())
        {
            doc["lastUpdate"] = serde_json::Value::String(date.value.to_string());
        }
        doc
    }

    /// The declaration compiled for decisions.
    pub fn policy(&self) -> &ConsentPolicy {
        &self.inner.policy
    }

    /// The decision for `subject`, from memory.
    pub fn decide(&self, subject: &SubjectRef, query: &Query) -> Decision {
        self.decide_at(subject, query, self.inner.clock.now())
    }

    pub fn decide_at(&self, subject: &SubjectRef, query: &Query, now: i64) -> Decision {
        self.read_index()
            .decide(&self.inner.policy, subject, query, now)
    }

    /// Many decisions under one read of the index.
    pub fn decide_many<'a>(
        &self,
        queries: impl Iterator<Item = (&'a SubjectRef, &'a Query)>,
    ) -> Vec<Decision> {
        let now = self.inner.clock.now();
        let index = self.read_index();
        queries
            .map(|(s, q)| index.decide(&self.inner.policy, s, q, now))
            .collect()
    }

    fn read_index(&self) -> std::sync::RwLockReadGuard<'_, ConsentIndex> {
        // A panic while holding the lock cannot leave the index half-updated: `apply` only
        // runs code that does not panic on valid events; recover the guard either way.
        self.inner.index.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The subject's consent now, from memory.
    pub fn current(&self, subject: &SubjectRef) -> SubjectConsent {
        let now = self.inner.clock.now();
        let index = self.read_index();
        let resolved = index.resolve(subject).clone();
        let state = index.state(subject).cloned().unwrap_or_default();
        SubjectConsent {
            subject: subject.clone(),
            resolved_to: resolved,
            consents: state
                .consents
                .iter()
                .map(|t| CurrentConsent {
                    target: t.target.clone(),
                    state: t.state_at(now),
                    at: t.at,
                    expires_at: t.expires_at,
                    method: t.method,
                    notice_version: t.notice_version.clone(),
                    seq: t.seq,
                })
                .collect(),
            objections: state.objections.iter().map(|(p, _)| p.clone()).collect(),
            restricted_since: state.restricted_since,
            opted_out_since: state.opted_out_since,
        }
    }

    /// Whether the ledger has anything for `subject`: events, or links to or from it.
    pub fn knows(&self, subject: &SubjectRef) -> bool {
        let index = self.read_index();
        index.state(subject).is_some() || index.linked_ids(subject).len() > 1
    }

    /// The ids whose events make up `subject`'s state: the subject it resolves to and every
    /// id linked to that one.
    pub fn linked_ids(&self, subject: &SubjectRef) -> Vec<SubjectRef> {
        self.read_index().linked_ids(subject)
    }

    /// Records choices (and a GPC opt-out) for one subject; returns one receipt per event.
    pub async fn record(&self, r: RecordConsent) -> Result<Vec<Receipt>, ConsentError> {
        if r.choices.is_empty() && !r.gpc {
            return Err(ConsentError::Invalid(
                "`choices` is empty: send at least one choice".into(),
            ));
        }
        check_notice(r.notice_version.as_deref(), r.text_hash.as_deref())?;
        let mut actions = Vec::with_capacity(r.choices.len() + 1);
        for c in &r.choices {
            if !self.inner.policy.declares(&c.target) {
                return Err(ConsentError::Invalid(format!(
                    "`{}` is not declared: only the declaration's purposes and the categories of its cookies take consent",
                    c.target
                )));
            }
            if c.state == ConsentState::Expired {
                return Err(ConsentError::Invalid(
                    "`expired` is recorded by Pledge when a consent runs out, not sent".into(),
                ));
            }
            actions.push(Action::Consent {
                target: c.target.clone(),
                state: c.state,
            });
        }
        let now = self.inner.clock.now();
        let evidence = Evidence::new(r.ip, r.user_agent.as_deref());
        let mut events: Vec<ConsentEvent> = actions
            .into_iter()
            .map(|action| self.event(&r.subject, action, r.method, now, &evidence, &r))
            .collect();
        if r.gpc {
            events.push(self.event(
                &r.subject,
                Action::OptOut { raised: true },
                Method::Gpc,
                now,
                &evidence,
                &r,
            ));
        }
        self.append(events).await
    }

    fn event(
        &self,
        subject: &SubjectRef,
        action: Action,
        method: Method,
        now: i64,
        evidence: &Evidence,
        r: &RecordConsent,
    ) -> ConsentEvent {
        let expires_at = match &action {
            Action::Consent {
                target,
                state: ConsentState::Given,
            } => self.inner.policy.expires_at(target, now),
            _ => None,
        };
        ConsentEvent {
            subject: subject.clone(),
            action,
            at: now,
            expires_at,
            notice_version: r.notice_version.clone(),
            text_hash: r.text_hash.clone(),
            method,
            evidence: evidence.clone(),
            actor: r.actor.clone(),
        }
    }

    /// Records other actions (objections, restrictions, opt-outs, links) for one subject,
    /// without evidence of a notice: what staff and rights requests do.
    pub async fn record_actions(
        &self,
        subject: &SubjectRef,
        actions: Vec<Action>,
        method: Method,
        actor: &str,
    ) -> Result<Vec<Receipt>, ConsentError> {
        let now = self.inner.clock.now();
        let events = actions
            .into_iter()
            .map(|action| ConsentEvent {
                subject: subject.clone(),
                action,
                at: now,
                expires_at: None,
                notice_version: None,
                text_hash: None,
                method,
                evidence: Evidence::default(),
                actor: actor.to_string(),
            })
            .collect();
        self.append(events).await
    }

    /// Links an anonymous id to a known subject: from now on they share one state.
    pub async fn link(
        &self,
        anonymous: &SubjectRef,
        known: &SubjectRef,
        actor: &str,
    ) -> Result<Vec<Receipt>, ConsentError> {
        if anonymous == known {
            return Err(ConsentError::Invalid(
                "a subject cannot be linked to itself".into(),
            ));
        }
        if self.read_index().resolve(known) == anonymous {
            return Err(ConsentError::Invalid(format!(
                "`{known}` is already linked to `{anonymous}`"
            )));
        }
        let action = Action::Link { to: known.clone() };
        self.record_actions(anonymous, vec![action], Method::Api, actor)
            .await
    }

    /// For a withdraw-consent request: withdraws every consent of the subject that is given
    /// now (purposes and cookie categories). Nothing given: nothing recorded.
    pub async fn withdraw_all(
        &self,
        subject: &SubjectRef,
        method: Method,
        actor: &str,
    ) -> Result<Vec<Receipt>, ConsentError> {
        let now = self.inner.clock.now();
        let actions: Vec<Action> = self
            .read_index()
            .state(subject)
            .map(|s| {
                s.consents
                    .iter()
                    .filter(|t| t.state_at(now) == ConsentState::Given)
                    .map(|t| Action::Consent {
                        target: t.target.clone(),
                        state: ConsentState::Withdrawn,
                    })
                    .collect()
            })
            .unwrap_or_default();
        self.record_actions(subject, actions, method, actor).await
    }

    /// For a CCPA opt-out request: an opt-out of sale, sharing and targeted advertising.
    pub async fn opt_out(
        &self,
        subject: &SubjectRef,
        method: Method,
        actor: &str,
    ) -> Result<Vec<Receipt>, ConsentError> {
        self.record_actions(
            subject,
            vec![Action::OptOut { raised: true }],
            method,
            actor,
        )
        .await
    }

    /// For a rights request the ledger carries (withdrawal of consent, objection,
    /// restriction, CCPA opt-out): records for `subject` what the right changes, and only
    /// that ([`pledge_domain::consent::request_actions`]), so a job run again after a crash
    /// records nothing twice. With `dry_run`, records nothing. Returns the actions as the
    /// ledger's columns, with their receipts' sequence numbers when recorded.
    pub async fn apply_right(
        &self,
        right: pledge_lang::rights::Right,
        subject: &SubjectRef,
        dry_run: bool,
        actor: &str,
    ) -> Result<Vec<serde_json::Value>, ConsentError> {
        let actions = {
            let index = self.read_index();
            pledge_domain::consent::request_actions(
                self.policy(),
                right,
                index.state(subject),
                self.inner.clock.now(),
            )
        };
        let described: Vec<serde_json::Value> = actions
            .iter()
            .map(|a| {
                let c = a.columns();
                serde_json::json!({ "kind": c.kind, "target": c.target, "state": c.state })
            })
            .collect();
        if dry_run || actions.is_empty() {
            return Ok(described);
        }
        let receipts = self
            .record_actions(subject, actions, Method::RightsRequest, actor)
            .await?;
        Ok(described
            .into_iter()
            .zip(receipts)
            .map(|(mut d, r)| {
                d["seq"] = serde_json::json!(r.seq);
                d
            })
            .collect())
    }

    /// Hands the events to the writer, waits for their commit, brings the index up to date
    /// (so the caller reads its own write) and makes the receipts.
    async fn append(&self, events: Vec<ConsentEvent>) -> Result<Vec<Receipt>, ConsentError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let (tx, rx) = oneshot::channel();
        self.writer()
            .send((events.clone(), tx))
            .map_err(|_| ConsentError::Writer("the writer stopped".into()))?;
        let rows = rx
            .await
            .map_err(|_| ConsentError::Writer("the writer stopped".into()))?
            .map_err(ConsentError::Writer)?;
        self.catch_up_to(rows.last().map_or(0, |r| r.seq)).await?;
        Ok(events
            .iter()
            .zip(&rows)
            .map(|(e, row)| Receipt {
                seq: row.seq,
                hash: row.hash.clone(),
                document: pledge_domain::consent::receipt(&self.inner.decl, e, row.seq, &row.hash),
            })
            .collect())
    }

    fn writer(&self) -> &mpsc::UnboundedSender<Append> {
        self.inner.writer.get_or_init(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(write_batches(self.inner.store.clone(), rx));
            tx
        })
    }

    /// What a server does before answering decisions: reads the store's snapshot of the
    /// index when one is there and still matches the ledger, then applies the events after
    /// it. A snapshot that cannot be used is named in the log and the whole ledger is read.
    pub async fn start(&self) -> Result<(), ConsentError> {
        match self.load_snapshot().await {
            Ok(Some(seq)) => tracing::info!(event = seq, "consent index read from its snapshot"),
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "reading the whole consent ledger"),
        }
        self.catch_up().await
    }

    /// Puts the store's snapshot into an index that holds nothing yet; the event it was
    /// taken after, or `None` when there is no snapshot (or the index is not empty).
    async fn load_snapshot(&self) -> Result<Option<i64>, ConsentError> {
        let Some(snapshot) = self.inner.store.consent_index_snapshot().await? else {
            return Ok(None);
        };
        if snapshot.format != i64::from(snapshot::FORMAT_VERSION) {
            return Err(ConsentError::Snapshot(format!(
                "it is in format {}, this version reads {}",
                snapshot.format,
                snapshot::FORMAT_VERSION
            )));
        }
        // The ledger must still hold the event the snapshot was taken after, unchanged.
        match self.inner.store.consent_hash_at(snapshot.last_seq).await? {
            Some(hash) if hash == snapshot.last_hash => {}
            Some(_) => {
                return Err(ConsentError::Snapshot(format!(
                    "ledger event {} has another hash than when it was taken",
                    snapshot.last_seq
                )));
            }
            None => {
                return Err(ConsentError::Snapshot(format!(
                    "the ledger has no event {}",
                    snapshot.last_seq
                )));
            }
        }
        let last_seq = snapshot.last_seq;
        let index = tokio::task::spawn_blocking(move || {
            // The index's shards built on every core.
            let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
            ConsentIndex::from_snapshot_on(&snapshot.body, threads)
        })
        .await
        .map_err(|e| ConsentError::Snapshot(e.to_string()))?
        .map_err(|e| ConsentError::Snapshot(e.to_string()))?;
        if index.last_seq() != last_seq {
            return Err(ConsentError::Snapshot(format!(
                "it says it was taken after event {last_seq}, its body after {}",
                index.last_seq()
            )));
        }
        let _one_at_a_time = self.inner.catching_up.lock().await;
        {
            let mut kept = self.inner.index.write().unwrap_or_else(|e| e.into_inner());
            if kept.last_seq() != 0 {
                return Ok(None);
            }
            *kept = index;
        }
        *self.inner.snapshot.lock().await = (last_seq, None);
        Ok(Some(last_seq))
    }

    /// The ledger event of the last snapshot this process read at start or wrote (0: none).
    pub async fn snapshot_seq(&self) -> i64 {
        self.inner.snapshot.lock().await.0
    }

    /// Writes a snapshot of the index when it is [`SNAPSHOT_EVERY`] events past the last one
    /// and that one is [`SNAPSHOT_INTERVAL_SECS`] old (`always`: whenever it is past it at
    /// all, as when the server stops). True when one was written.
    pub async fn snapshot_if_due(&self, always: bool) -> Result<bool, ConsentError> {
        let mut last = self.inner.snapshot.lock().await;
        let now = self.inner.clock.now();
        let behind = self.read_index().last_seq() - last.0;
        let due =
            behind >= SNAPSHOT_EVERY && last.1.is_none_or(|at| now - at >= SNAPSHOT_INTERVAL_SECS);
        if behind <= 0 || !(always || due) {
            return Ok(false);
        }
        // Encoding a large index is CPU work: on a blocking thread, under the read lock
        // (decisions go on; applying new events waits for it).
        let service = self.clone();
        let (last_seq, body) = tokio::task::spawn_blocking(move || {
            let index = service.read_index();
            (index.last_seq(), index.to_snapshot())
        })
        .await
        .map_err(|e| ConsentError::Snapshot(e.to_string()))?;
        let Some(last_hash) = self.inner.store.consent_hash_at(last_seq).await? else {
            return Err(ConsentError::Snapshot(format!(
                "the ledger has no event {last_seq}"
            )));
        };
        let size = body.len();
        let snapshot = IndexSnapshot {
            last_seq,
            last_hash,
            format: i64::from(snapshot::FORMAT_VERSION),
            body,
        };
        let written = self
            .inner
            .store
            .save_consent_index_snapshot(&snapshot, now)
            .await?;
        *last = (last_seq, Some(now));
        if written {
            tracing::info!(
                event = last_seq,
                bytes = size,
                "consent index snapshot written"
            );
        }
        Ok(written)
    }

    /// Applies every ledger event the index has not seen yet, page by page.
    pub async fn catch_up(&self) -> Result<(), ConsentError> {
        self.catch_up_to(i64::MAX).await
    }

    /// Catches up unless the index already holds event `seq`: of many callers whose events
    /// were committed in one group, the first reads them all and the others need not ask.
    async fn catch_up_to(&self, seq: i64) -> Result<(), ConsentError> {
        if self.read_index().last_seq() >= seq {
            return Ok(());
        }
        let _one_at_a_time = self.inner.catching_up.lock().await;
        if self.read_index().last_seq() >= seq {
            return Ok(());
        }
        loop {
            let after = self.read_index().last_seq();
            let rows = self.inner.store.consent_rows_after(after, PAGE).await?;
            if rows.is_empty() {
                return Ok(());
            }
            let events = rows
                .iter()
                .map(|r| Ok((r.seq, r.event()?)))
                .collect::<Result<Vec<_>, pledge_store::Error>>()?;
            let mut index = self.inner.index.write().unwrap_or_else(|e| e.into_inner());
            for (seq, e) in &events {
                index.apply(*seq, e);
            }
        }
    }

    /// Follows the ledger until `stop` turns true: what keeps replicas in step. Errors are
    /// printed and retried at the next tick.
    pub async fn follow(self, every: Duration, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    if let Err(e) = self.catch_up().await {
                        tracing::warn!(error = %e, "the consent index cannot follow the ledger");
                    } else if let Err(e) = self.snapshot_if_due(false).await {
                        tracing::warn!(error = %e, "the consent index snapshot cannot be written");
                    }
                }
                _ = stop.changed() => return,
            }
        }
    }
}

/// The single ledger writer: takes whatever is waiting (up to [`MAX_BATCH`] events), writes
/// it in one transaction, and answers each caller with its rows. While one batch commits the
/// next one gathers: group commit.
async fn write_batches(store: Store, mut rx: mpsc::UnboundedReceiver<Append>) {
    while let Some(first) = rx.recv().await {
        let mut waiting = vec![first];
        let mut count = waiting[0].0.len();
        while count < MAX_BATCH {
            match rx.try_recv() {
                Ok(next) => {
                    count += next.0.len();
                    waiting.push(next);
                }
                Err(_) => break,
            }
        }
        let all: Vec<ConsentEvent> = waiting
            .iter()
            .flat_map(|(events, _)| events.iter().cloned())
            .collect();
        match store.append_consent(&all).await {
            Ok(rows) => {
                let mut rows = rows.into_iter();
                for (events, reply) in waiting {
                    let mine: Vec<LedgerRow> = rows.by_ref().take(events.len()).collect();
                    let _ = reply.send(Ok(mine));
                }
            }
            Err(e) => {
                let message = e.to_string();
                for (_, reply) in waiting {
                    let _ = reply.send(Err(message.clone()));
                }
            }
        }
    }
}

fn check_notice(version: Option<&str>, text_hash: Option<&str>) -> Result<(), ConsentError> {
    if let Some(v) = version
        && (v.is_empty() || v.len() > 200)
    {
        return Err(ConsentError::Invalid(
            "`notice_version` needs 1 to 200 characters".into(),
        ));
    }
    if let Some(h) = text_hash
        && (h.len() != 64
            || !h
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
    {
        return Err(ConsentError::Invalid(
            "`text_hash` is the SHA-256 of the text shown: 64 lower-case hex digits".into(),
        ));
    }
    Ok(())
}
