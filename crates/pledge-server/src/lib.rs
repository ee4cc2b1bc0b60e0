//! Pledge's HTTP server: the rights-request API under `/v1`, API-key authentication with
//! roles, health and metrics, and the background workers that run requests.
//!
//! The only crate that knows HTTP. It asks the core's workflow whether a change is allowed
//! and the store to record it (with its audit record, in one transaction); the workers run
//! requests through `pledge-connect`.

pub mod consent;
pub mod crypto;
pub mod http;
pub mod i18n;
pub mod jobs;
pub mod oidc;

pub use http::{
    Access, Bound, Route, RouteTableError, app, openapi, route_table, router, serve_connections,
};

use crypto::seal;
use http::problem::Problem;
use http::{banner, health, key_cache, public, ratelimit};
use jobs::checkpoints;
use pledge_lang::Declaration;
use pledge_store::{ApiKey, Role, Store};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use thiserror::Error;
use tokio::sync::{Notify, watch};

/// The largest request body accepted, in bytes.
pub const BODY_LIMIT: usize = 64 * 1024;

/// The staff's digest of deadlines (`[digest]`).
#[derive(Debug, Clone)]
pub struct DigestConfig {
    /// When it is sent (cron, UTC), e.g. every morning.
    pub schedule: pledge_domain::cron::Schedule,
    /// Who receives it: staff e-mail addresses.
    pub recipients: Vec<String>,
    /// "Due soon" means due within this many days.
    pub window_days: i64,
}

/// How the server runs.
#[derive(Clone)]
pub struct Config {
    /// Values of the environment variables the declaration names (datasets' connection
    /// URLs, recipients' webhook secrets), consulted before the environment (the demo
    /// points the Chinook dataset at its private copy this way; tests set them here).
    pub connections: Vec<(String, String)>,
    /// The key for HMAC pseudonyms in erasures.
    pub hmac_key: Vec<u8>,
    /// How long a claimed job is a worker's before another may take it over.
    pub lease_secs: i64,
    /// How often idle workers look for jobs (they are also woken by intake).
    pub poll: Duration,
    /// Background workers in this process (0: this replica only serves the API).
    pub workers: usize,
    /// Test hook: wait this long between executing a request and recording it.
    pub pause_before_complete: Option<Duration>,
    /// Test hook: wait this long after each committed batch of the scheduled retention
    /// sweep (once its progress is recorded), so a test can kill the runner between batches.
    pub pause_after_batch: Option<Duration>,
    /// How often this replica reads consent events other replicas appended.
    pub consent_poll: Duration,
    /// How long a valid API key is trusted without asking the store again: a revoked key
    /// stops working within this time (zero: every call asks the store).
    pub key_recheck: Duration,
    /// How long a re-check of a key waits for the store before giving up.
    pub key_check_timeout: Duration,
    /// How long after the store last confirmed it a key still works for decisions (answered
    /// from memory) while the store does not answer; zero: not at all.
    pub key_grace: Duration,
    /// Limits of the listener: timeouts and the connection cap.
    pub edge: EdgeConfig,
    /// Whether `/metrics` answers without an API key (default: it needs a metrics, admin or
    /// privacy officer key).
    pub metrics_public: bool,
    /// The cookie banner, preference centre and unsubscribe links.
    pub banner: banner::Settings,
    /// Public intake: the form's endpoints, codes and rate limits.
    pub public: PublicConfig,
    /// How messages to the person leave.
    pub mail: MailConfig,
    /// Where "now" comes from (the system clock; tests turn it).
    pub clock: Clock,
    /// The master keys exports are encrypted under. Without them, access and portability
    /// requests fail rather than store an export in clear.
    pub export_keys: Option<seal::ExportKeys>,
    /// How long an export is kept before maintenance deletes it.
    pub export_ttl_secs: i64,
    /// How long a download link works (at most as long as its export).
    pub link_ttl_secs: i64,
    /// When the retention sweep runs (cron, UTC); None: never on its own.
    pub retain_schedule: Option<pledge_domain::cron::Schedule>,
    /// Rows per batch in the scheduled sweep.
    pub retain_batch_size: u64,
    /// When maintenance runs (expired exports and links, minimisation of closed requests).
    pub maintenance_schedule: Option<pledge_domain::cron::Schedule>,
    /// How long after it closed a request is minimised.
    pub minimise_closed_after: pledge_lang::types::IsoDuration,
    /// When a job that failed on a passing fault is tried again, and for how long.
    pub retry: pledge_plan::retry::Backoff,
    /// The staff's daily digest of deadlines; None: none is sent.
    pub digest: Option<DigestConfig>,
    /// Signed checkpoints of the audit log and the consent ledger; None: none are made.
    pub checkpoints: Option<checkpoints::CheckpointConfig>,
    /// The console's sign-in lock-out and session lifetimes.
    pub console: pledge_store::staff::SessionPolicy,
    /// Single sign-on for the console with an OpenID Connect provider (`[console.oidc]`);
    /// None: staff sign in with passwords only.
    pub console_oidc: Option<oidc::OidcConfig>,
}

/// Limits of the listener, so that clients that send slowly or hold connections open cannot
/// tie the server up.
#[derive(Clone, Debug)]
pub struct EdgeConfig {
    /// Time to send a request's head (request line and headers), counted from when the
    /// server is ready to read it: from the connection's start, and on a kept-alive
    /// connection from the end of the previous answer, so it is also how long an idle
    /// connection is kept.
    pub header_read_timeout: Duration,
    /// Time to send a request's body once its head has arrived (bodies are at most
    /// [`BODY_LIMIT`]); then 408.
    pub body_read_timeout: Duration,
    /// Connections served at once; one more is answered 503 and closed at once.
    pub max_connections: usize,
}

impl Default for EdgeConfig {
    fn default() -> Self {
        EdgeConfig {
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            max_connections: 1024,
        }
    }
}

/// Public intake (`/public/...`, no API key).
#[derive(Clone, Debug)]
pub struct PublicConfig {
    /// Whether `/public/...` is served at all.
    pub enabled: bool,
    /// The server's address as the person reaches it, for links in messages.
    pub base_url: String,
    /// Whether a verified public request waits for a privacy officer before it runs.
    pub needs_approval: bool,
    /// Seconds a code and link stay valid.
    pub code_ttl_secs: i64,
    /// Wrong codes allowed before a code is locked.
    pub max_attempts: i64,
    /// New requests per client address.
    pub intake_per_ip: ratelimit::Rate,
    /// New requests per e-mail address.
    pub intake_per_email: ratelimit::Rate,
    /// Code and link checks per client address.
    pub verify_per_ip: ratelimit::Rate,
    /// The header a trusted reverse proxy puts the client's address in (its last entry is
    /// taken); none: the TCP peer's address.
    pub client_ip_header: Option<String>,
    /// Origins (`https://shop.example`) whose pages may call public intake
    /// (`/public/requests...`) from a script (CORS); default none, `*` every origin (never
    /// with credentials: none are taken). A plain HTML form post needs none of this.
    pub origins: Vec<String>,
    /// The colour of the privacy center's buttons (`#rrggbb`, white text on it); none: the
    /// pages' own.
    pub accent_color: Option<String>,
    /// The language of the person's pages and mails when neither the person's choice nor
    /// the browser's says (a tag of [`i18n::languages`]).
    pub language: String,
    /// The company's logo, shown at the top of the person's pages (`GET /privacy/logo`).
    pub logo: Option<Logo>,
}

/// An image read when the server starts: PNG, JPEG, WebP or SVG, at most [`Logo::MAX_BYTES`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logo {
    bytes: Arc<[u8]>,
    content_type: &'static str,
}

impl Logo {
    pub const MAX_BYTES: usize = 256 * 1024;

    /// The image, if its bytes are one of the kinds a browser shows and it is small enough
    /// for a page; what it is not, otherwise.
    pub fn new(bytes: Vec<u8>) -> Result<Logo, String> {
        if bytes.len() > Self::MAX_BYTES {
            return Err(format!(
                "the logo has {} bytes; at most {} are served on every page",
                bytes.len(),
                Self::MAX_BYTES
            ));
        }
        let head = &bytes[..bytes.len().min(512)];
        let text = String::from_utf8_lossy(head).to_ascii_lowercase();
        let content_type = if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            "image/png"
        } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
            "image/jpeg"
        } else if bytes.len() > 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
            "image/webp"
        } else if text.contains("<svg") {
            "image/svg+xml"
        } else {
            return Err("the logo is not a PNG, JPEG, WebP or SVG image".into());
        };
        Ok(Logo {
            bytes: bytes.into(),
            content_type,
        })
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn content_type(&self) -> &'static str {
        self.content_type
    }
}

impl Default for PublicConfig {
    fn default() -> Self {
        PublicConfig {
            enabled: true,
            base_url: "http://127.0.0.1:8080".into(),
            needs_approval: true,
            code_ttl_secs: 30 * 60,
            max_attempts: 5,
            intake_per_ip: ratelimit::Rate::per_hour(5, 20),
            intake_per_email: ratelimit::Rate::per_hour(3, 5),
            verify_per_ip: ratelimit::Rate::per_hour(10, 60),
            client_ip_header: None,
            origins: Vec::new(),
            accent_color: None,
            language: i18n::FALLBACK.to_string(),
            logo: None,
        }
    }
}

/// E-mail to the person.
#[derive(Clone, Debug)]
pub struct MailConfig {
    /// `smtps://user:password@host` (TLS from the first byte) or
    /// `smtp://user:password@host:587?tls=required` (STARTTLS); from the environment only,
    /// since it holds the password. None: messages are written to the log, not sent.
    pub smtp_url: Option<String>,
    /// The sender, e.g. `Privacy <privacy@example.com>`.
    pub from: String,
    /// Attempts before a message is given up.
    pub max_attempts: i64,
}

impl Default for MailConfig {
    fn default() -> Self {
        MailConfig {
            smtp_url: None,
            from: "Pledge <privacy@localhost>".into(),
            max_attempts: 8,
        }
    }
}

/// The shell's clock: seconds since the Unix epoch.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> i64 + Send + Sync>);

impl Clock {
    pub fn system() -> Self {
        Clock(Arc::new(system_now))
    }

    /// A clock that reads `t` (tests move it).
    pub fn manual(t: Arc<std::sync::atomic::AtomicI64>) -> Self {
        Clock(Arc::new(move || t.load(Ordering::SeqCst)))
    }

    pub fn now(&self) -> i64 {
        (self.0)()
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Clock")
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            connections: Vec::new(),
            hmac_key: Vec::new(),
            lease_secs: 30,
            poll: Duration::from_millis(500),
            workers: 1,
            pause_before_complete: None,
            pause_after_batch: None,
            consent_poll: Duration::from_millis(250),
            key_recheck: Duration::from_secs(1),
            key_check_timeout: Duration::from_secs(1),
            key_grace: Duration::from_secs(300),
            edge: EdgeConfig::default(),
            metrics_public: false,
            banner: banner::Settings::default(),
            public: PublicConfig::default(),
            mail: MailConfig::default(),
            clock: Clock::system(),
            export_keys: None,
            export_ttl_secs: 30 * 86_400,
            link_ttl_secs: 7 * 86_400,
            retain_schedule: None,
            retain_batch_size: 1000,
            maintenance_schedule: None,
            minimise_closed_after: pledge_lang::types::IsoDuration::days(90),
            retry: pledge_plan::retry::Backoff::default(),
            digest: None,
            checkpoints: None,
            console: pledge_store::staff::SessionPolicy::default(),
            console_oidc: None,
        }
    }
}

/// Counters for `/metrics`.
#[derive(Default)]
pub struct Metrics {
    pub http_by_class: [AtomicU64; 6],
    pub requests_created: AtomicU64,
    pub transitions: AtomicU64,
    pub jobs_completed: AtomicU64,
    pub jobs_failed: AtomicU64,
    pub jobs_retried: AtomicU64,
    pub jobs_needing_action: AtomicU64,
    pub personal_data_reads: AtomicU64,
    pub retention_runs: AtomicU64,
    pub retention_failures: AtomicU64,
    pub retention_rows_deleted: AtomicU64,
    pub retention_rows_anonymised: AtomicU64,
    pub maintenance_runs: AtomicU64,
    pub export_links_created: AtomicU64,
    pub export_link_downloads: AtomicU64,
    pub mail_sent: AtomicU64,
    pub mail_failed: AtomicU64,
    pub rate_limited: AtomicU64,
    pub verifications_failed: AtomicU64,
    pub connections_refused: AtomicU64,
    pub connections_open: AtomicU64,
}

/// What every handler and worker shares.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub decl: Arc<Declaration>,
    pub config: Arc<Config>,
    pub metrics: Arc<Metrics>,
    /// Wakes idle workers when a request becomes runnable.
    pub wake: Arc<Notify>,
    /// The consent ledger and the in-memory decision index.
    pub consent: consent::ConsentService,
    /// Recently confirmed API keys.
    keys: Arc<key_cache::KeyCache>,
    /// Wakes the mailer when a message is in the outbox.
    pub wake_mail: Arc<Notify>,
    /// Wakes the forwarder when a request was queued for recipients.
    pub wake_forward: Arc<Notify>,
    /// Counts the pieces of background work whose outcome is recorded (a job, a batch of
    /// messages, a batch of deliveries): what waits for the background waits on this,
    /// instead of polling (see [`AppState::progress`]).
    progress: Arc<watch::Sender<u64>>,
    /// The public endpoints' rate limits (in this process's memory).
    pub limits: Arc<public::Limits>,
    /// What `/readyz` reports: workers alive, datasets reachable.
    pub health: Arc<health::Health>,
    /// Unknown API keys per client ([`AUTH_FAILURES`]).
    auth_failures: Arc<ratelimit::Limiter>,
    /// How far this process has walked the audit chain and found it intact: the dashboard
    /// walks only the records added since ([`AppState::audit_chain`]).
    audit_seen: Arc<tokio::sync::Mutex<Option<AuditSeen>>>,
    /// Warm connections and the schema of each application database, by dataset id.
    pools: Arc<
        std::sync::Mutex<std::collections::HashMap<String, Arc<pledge_connect::pool::DatasetPool>>>,
    >,
    /// The console's sign-on provider, with its discovery document and keys cached.
    pub oidc: Option<Arc<oidc::Provider>>,
}

/// The audit chain as a walk from its first record found it, continued since.
#[derive(Debug, Clone)]
struct AuditSeen {
    records: u64,
    head: String,
    /// When the chain was last walked from its first record.
    full_at: i64,
}

/// The audit chain's state for the dashboard ([`AppState::audit_chain`]).
#[derive(Debug, Clone)]
pub struct AuditChainState {
    pub records: u64,
    /// The first broken record, by sequence number.
    pub first_broken: Option<i64>,
    /// When the chain was last walked from its first record (unix seconds).
    pub full_at: i64,
}

/// Unknown API keys a client (IPv4 address or IPv6 /64) may send before its key lookups are
/// refused (429): a burst of 30, then 300 an hour.
pub const AUTH_FAILURES: ratelimit::Rate = ratelimit::Rate::per_hour(30, 300);

impl AppState {
    /// The connection URL of a dataset: the configured one, else its environment variable.
    pub fn dataset_url(&self, dataset: &pledge_lang::model::Dataset) -> Result<String, String> {
        let variable = dataset.connection_env.as_str();
        self.variable(variable).ok_or_else(|| {
            format!(
                "dataset `{}`: set {variable} to its connection URL",
                dataset.id
            )
        })
    }

    /// The value of an environment variable the declaration names: the configured one,
    /// else the environment's (empty counts as unset).
    pub fn variable(&self, name: &str) -> Option<String> {
        self.config
            .connections
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, value)| value.clone())
            .or_else(|| std::env::var(name).ok().filter(|v| !v.is_empty()))
    }

    pub fn new(store: Store, decl: Declaration, config: Config) -> Self {
        let decl = Arc::new(decl);
        AppState {
            consent: consent::ConsentService::new(
                store.clone(),
                decl.clone(),
                config.clock.clone(),
            ),
            keys: Arc::new(key_cache::KeyCache::new(
                config.key_recheck,
                config.key_check_timeout,
                config.key_grace,
            )),
            store,
            decl,
            metrics: Arc::new(Metrics::default()),
            wake: Arc::new(Notify::new()),
            wake_mail: Arc::new(Notify::new()),
            wake_forward: Arc::new(Notify::new()),
            progress: Arc::new(watch::Sender::new(0)),
            limits: Arc::new(public::Limits::new(&config.public)),
            health: Arc::new(health::Health::default()),
            auth_failures: Arc::new(ratelimit::Limiter::new(AUTH_FAILURES)),
            audit_seen: Arc::new(tokio::sync::Mutex::new(None)),
            pools: Arc::default(),
            oidc: config
                .console_oidc
                .clone()
                .map(|c| Arc::new(oidc::Provider::new(c))),
            config: Arc::new(config),
        }
    }

    /// The audit chain's state, walking only the records added since this process last
    /// found it intact (the first call, and any after a break was found, walk it all). What
    /// was walked before is not walked again here: the audit page's button and
    /// `GET /v1/audit/verify` walk the whole chain, and the signed checkpoints hold its past.
    pub async fn audit_chain(&self) -> Result<AuditChainState, pledge_store::Error> {
        let mut seen = self.audit_seen.lock().await;
        let (v, before, full_at) = match seen.as_ref() {
            Some(s) => (
                self.store
                    .verify_audit_after(Some((s.records as i64, &s.head)))
                    .await?,
                s.records,
                s.full_at,
            ),
            None => (self.store.verify_audit().await?, 0, self.now()),
        };
        let records = before + v.records;
        let first_broken = v.first_broken.as_ref().map(|b| b.seq);
        *seen = match first_broken {
            None => Some(AuditSeen {
                records,
                head: v.head,
                full_at,
            }),
            Some(_) => None,
        };
        Ok(AuditChainState {
            records,
            first_broken,
            full_at,
        })
    }

    /// The pool of `dataset`'s database at `url` (made on first use, made again if the URL
    /// changed).
    pub fn dataset_pool(
        &self,
        dataset: &pledge_lang::model::Dataset,
        url: &str,
    ) -> Arc<pledge_connect::pool::DatasetPool> {
        let mut pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
        let id = dataset.id.to_string();
        match pools.get(&id) {
            Some(pool) if pool.url() == url => pool.clone(),
            _ => {
                let pool = pledge_connect::pool::DatasetPool::new(dataset, url);
                pools.insert(id, pool.clone());
                pool
            }
        }
    }

    /// Key `id` was revoked by this process: it stops working here at once.
    pub(crate) fn forget_key(&self, id: &str) {
        self.keys.forget(id);
    }

    /// A walk of the whole audit chain (`verify_logs`'s answer) found it intact or broken:
    /// the dashboard goes on from there.
    pub(crate) async fn note_audit_walk(&self, records: u64, head: &str, intact: bool) {
        *self.audit_seen.lock().await = intact.then(|| AuditSeen {
            records,
            head: head.to_string(),
            full_at: self.now(),
        });
    }

    /// A receiver that changes each time a worker, the mailer or the forwarder has recorded
    /// the outcome of some work. To wait for a condition: mark the receiver seen
    /// (`borrow_and_update`), check, then await `changed()`.
    pub fn progress(&self) -> watch::Receiver<u64> {
        self.progress.subscribe()
    }

    /// Announces that background work recorded an outcome.
    pub(crate) fn progressed(&self) {
        self.progress.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Now, from the configured clock.
    pub fn now(&self) -> i64 {
        self.config.clock.now()
    }
}

/// The server failed to start or run.
#[derive(Debug, Error)]
pub enum Error {
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
    #[error("the server failed: {0}")]
    Serve(std::io::Error),
}

/// The authenticated caller, put in the request by the auth middleware.
#[derive(Clone, Debug)]
pub struct Caller {
    pub key: ApiKey,
}

impl Caller {
    /// The actor named in events and the audit log.
    pub fn actor(&self) -> String {
        format!("key:{}", self.key.id)
    }

    /// Refuses (403) unless the caller has one of `roles`.
    pub fn require(&self, roles: &[Role], what: &str) -> Result<(), Problem> {
        if roles.contains(&self.key.role) {
            Ok(())
        } else {
            Err(Problem::forbidden(format!(
                "a {} key may not {what}",
                self.key.role.as_str()
            )))
        }
    }

    /// Whether the caller may see personal data (identities, results, exports).
    pub fn sees_personal_data(&self) -> bool {
        matches!(self.key.role, Role::Admin | Role::PrivacyOfficer)
    }
}

/// Seconds since the Unix epoch, from the system clock. The one wall-clock read of the
/// server: everything else asks [`Clock`] (a tidy test holds this).
fn system_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
