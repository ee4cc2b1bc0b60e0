//! The shapes of the JSON answers, for the OpenAPI document only. Handlers build their
//! answers with `json!`; these types describe them (no value of them is ever built: they
//! derive `Serialize` only so that the serde attributes shape the schema as they would the
//! JSON). `tests/openapi.rs` checks real answers against the required fields here.
#![allow(dead_code)] // Only the OpenAPI descriptions are used; no value is ever built.

use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// A request's state in the Data Privacy Vocabulary.
#[derive(Serialize, ToSchema)]
pub struct DpvStatus {
    /// e.g. `dpv:RequestAccepted`.
    pub dpv: String,
    /// The term's IRI.
    pub iri: String,
}

/// A rights request as the API shows it. `identities`, `proved_by`, `changes` and `result`
/// are personal data: present only for admin and privacy officer keys.
#[derive(Serialize, ToSchema)]
pub struct RequestView {
    pub id: String,
    /// `access`, `portability`, `erasure`, `rectification`, `restriction`, `objection`,
    /// `withdraw_consent`, `opt_out`.
    pub kind: String,
    /// `gdpr` or `ccpa`.
    pub regime: String,
    /// `received`, `verifying`, `verified`, `awaiting_approval`, `in_progress`,
    /// `awaiting_external`, `completed`, `denied`, `extended`, `cancelled`, `needs_action`.
    pub state: String,
    pub status: DpvStatus,
    pub needs_approval: bool,
    /// RFC 3339.
    pub received_at: String,
    /// RFC 3339: the legal deadline.
    pub due_at: String,
    /// RFC 3339: by when the person must confirm (CCPA), if it applies.
    pub confirm_by: Option<String>,
    pub overdue: bool,
    pub extension_reason: Option<String>,
    pub denial_reason: Option<String>,
    /// RFC 3339.
    pub updated_at: String,
    /// The language of the messages to the person (`en`, `da`, `fr`); none: the server's
    /// default (`public.language`).
    pub language: Option<String>,
    /// Identity kind → value (staff who see personal data only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identities: Option<BTreeMap<String, String>>,
    /// Identity kind → how it was proved (`email_code`, `staff`, `service`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proved_by: Option<BTreeMap<String, String>>,
    /// For a rectification: column → new value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changes: Option<BTreeMap<String, String>>,
    /// What the workers did, per dataset, once it ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub result: Option<Value>,
}

/// `GET /v1/requests`.
#[derive(Serialize, ToSchema)]
pub struct RequestList {
    pub requests: Vec<RequestView>,
}

/// A state change in a request's history.
#[derive(Serialize, ToSchema)]
pub struct RequestEvent {
    /// RFC 3339.
    pub at: String,
    pub from: Option<String>,
    pub to: String,
    pub actor: String,
    /// Why (a failure's reason only for staff who see personal data).
    pub reason: Option<String>,
}

/// A request's job, as staff see it.
#[derive(Serialize, ToSchema)]
pub struct JobView {
    /// `queued`, `running`, `done`, `failed`.
    pub state: String,
    pub attempts: i64,
    pub error: Option<String>,
    /// RFC 3339: when a failed job is tried again.
    pub retry_at: Option<String>,
    /// RFC 3339.
    pub failing_since: Option<String>,
    /// What a job waiting to be retried waits for.
    pub waiting_for: Option<String>,
}

/// Why a request stopped for staff, and what they may do.
#[derive(Serialize, ToSchema)]
pub struct NeedsAction {
    pub reason: Option<String>,
    /// RFC 3339.
    pub since: Option<String>,
    /// `retry`, `complete`, `deny`, `extend`, `cancel`.
    pub actions: Vec<String>,
}

/// `GET /v1/requests/{id}`: the request with its history, job and forwards.
#[derive(Serialize, ToSchema)]
pub struct RequestDetail {
    #[serde(flatten)]
    pub request: RequestView,
    pub events: Vec<RequestEvent>,
    pub job: Option<JobView>,
    /// Present while the request needs action.
    pub needs_action: Option<NeedsAction>,
    /// Recipients the request was forwarded to, and what each reported.
    #[schema(value_type = Vec<Object>)]
    pub forwards: Vec<Value>,
}

/// `GET /v1/requests/{id}/plan`: the dry run.
#[derive(Serialize, ToSchema)]
pub struct PlanView {
    pub id: String,
    /// Always `true`: nothing was changed.
    pub dry_run: bool,
    /// Per dataset, the steps with the rows each would touch and their reasons.
    #[schema(value_type = Object)]
    pub plan: Value,
}

/// `POST /v1/requests/{id}/export/link`.
#[derive(Serialize, ToSchema)]
pub struct DownloadLink {
    /// The link for the person (shown once).
    pub url: String,
    /// The same link without the server's address.
    pub path: String,
    /// RFC 3339.
    pub expires_at: String,
    /// Always `true`: the link works once.
    pub single_use: bool,
}

/// `GET /v1/retention/runs`, `GET /v1/maintenance/runs`.
#[derive(Serialize, ToSchema)]
pub struct Runs {
    /// The cron schedule, if the task runs on its own.
    pub schedule: Option<String>,
    /// Newest first: `seq`, `runner`, `recorded_at` and the run's report.
    #[schema(value_type = Vec<Object>)]
    pub runs: Vec<Value>,
}

/// `GET /v1/audit`.
#[derive(Serialize, ToSchema)]
pub struct AuditRecords {
    /// In order: sequence number, time, actor, action, subject, detail and hashes.
    #[schema(value_type = Vec<Object>)]
    pub records: Vec<Value>,
}

/// Where a hash chain breaks.
#[derive(Serialize, ToSchema)]
pub struct BrokenRecord {
    pub seq: i64,
    pub reason: String,
}

/// The verification of one hash-chained log.
#[derive(Serialize, ToSchema)]
pub struct ChainVerification {
    /// False when the chain, its checkpoint or (for the ledger) its anchors fail.
    pub intact: bool,
    /// How many records were checked.
    pub records: u64,
    /// The hash of the last record.
    pub head: String,
    /// The first broken record, if any.
    pub first_broken: Option<BrokenRecord>,
    /// The latest signed checkpoint's status; null when the server signs none.
    #[schema(value_type = Option<Object>)]
    pub checkpoint: Option<Value>,
}

/// The consent ledger's verification.
#[derive(Serialize, ToSchema)]
pub struct LedgerVerification {
    #[serde(flatten)]
    pub chain: ChainVerification,
    /// The ledger's anchors in the audit log, checked.
    #[schema(value_type = Object)]
    pub anchors: Value,
}

/// `GET /v1/audit/verify`.
#[derive(Serialize, ToSchema)]
pub struct AuditVerification {
    #[serde(flatten)]
    pub audit_log: ChainVerification,
    pub consent_ledger: LedgerVerification,
}

/// `GET /v1/audit/checkpoints`.
#[derive(Serialize, ToSchema)]
pub struct CheckpointList {
    /// The key checkpoints are signed with; null when the server signs none.
    pub public_key: Option<String>,
    #[schema(value_type = Vec<Object>)]
    pub checkpoints: Vec<Value>,
}

/// `GET /v1/audit/checkpoints/latest` without `log`.
#[derive(Serialize, ToSchema)]
pub struct LatestCheckpoints {
    pub public_key: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub audit_log: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub consent_ledger: Option<Value>,
}

/// An answer to "may this subject's data be used for this purpose?".
#[derive(Serialize, ToSchema)]
pub struct Decision {
    pub allow: bool,
    /// Why, e.g. `consent_given`, `no_consent`, `objection`, `opt_out`.
    pub reason: String,
    /// The legal basis the decision went by (null for cookies and undeclared purposes).
    pub basis: Option<String>,
}

/// `POST /v1/decisions/batch`.
#[derive(Serialize, ToSchema)]
pub struct Decisions {
    /// In the order asked.
    pub decisions: Vec<Decision>,
}

/// `GET /v1/subjects/{subject}/consent`.
#[derive(Serialize, ToSchema)]
pub struct SubjectConsent {
    /// The state now, per purpose and cookie category.
    #[schema(value_type = Object)]
    pub current: Value,
    /// Every event of the subject in the ledger, in order.
    #[schema(value_type = Vec<Object>)]
    pub history: Vec<Value>,
}

/// A signed link for an e-mail.
#[derive(Serialize, ToSchema)]
pub struct SignedLink {
    pub url: String,
    /// RFC 3339.
    pub expires_at: String,
}

/// An unsubscribe link with the e-mail headers that carry it (RFC 8058).
#[derive(Serialize, ToSchema)]
pub struct UnsubscribeLink {
    pub url: String,
    /// RFC 3339.
    pub expires_at: String,
    /// `List-Unsubscribe` and `List-Unsubscribe-Post`.
    pub headers: BTreeMap<String, String>,
}

/// `POST /v1/subjects/{subject}/preference-links`.
#[derive(Serialize, ToSchema)]
pub struct PreferenceLinks {
    pub subject: String,
    pub preferences: SignedLink,
    /// Present when purposes to unsubscribe from were named.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unsubscribe: Option<UnsubscribeLink>,
}

/// A request as the person sees it: no identities, no results.
#[derive(Serialize, ToSchema)]
pub struct PersonView {
    pub id: String,
    pub kind: String,
    pub regime: String,
    pub state: String,
    pub status: DpvStatus,
    /// RFC 3339.
    pub received_at: String,
    /// RFC 3339.
    pub due_at: String,
    pub overdue: bool,
    pub extension_reason: Option<String>,
    pub denial_reason: Option<String>,
}

/// `POST /public/requests`: taken in, with what to do next.
#[derive(Serialize, ToSchema)]
pub struct PublicIntake {
    #[serde(flatten)]
    pub request: PersonView,
    /// Where the code went and where to send it.
    pub next: String,
}

/// A step of a request's history as the person sees it.
#[derive(Serialize, ToSchema)]
pub struct PersonEvent {
    /// RFC 3339.
    pub at: String,
    pub state: String,
    /// Why (staff's own notes are not shown).
    pub reason: Option<String>,
}

/// `GET /public/requests/{id}`.
#[derive(Serialize, ToSchema)]
pub struct PublicStatus {
    #[serde(flatten)]
    pub request: PersonView,
    pub events: Vec<PersonEvent>,
}

/// `GET /readyz`.
#[derive(Serialize, ToSchema)]
pub struct Readiness {
    /// Whether every check passed.
    pub ready: bool,
    /// The names of the checks that failed.
    pub broken: Vec<String>,
    /// Each check (`store`, `workers`, `datasets`, `mail`, `requests`) with `ok` and what it saw.
    #[schema(value_type = Object)]
    pub checks: Value,
}

/// `GET /.well-known/gpc.json`.
#[derive(Serialize, ToSchema)]
pub struct GpcSupport {
    /// Always `true`: this site honours Global Privacy Control.
    pub gpc: bool,
    /// When the privacy policy last changed (its effective date), if the declaration says.
    #[serde(rename = "lastUpdate", skip_serializing_if = "Option::is_none")]
    pub last_update: Option<String>,
}

/// One event appended to the consent ledger.
#[derive(Serialize, ToSchema)]
pub struct Receipt {
    /// The event's position in the ledger.
    pub seq: i64,
    /// The event's hash in the chain.
    pub hash: String,
    /// The receipt document the person may keep.
    #[schema(value_type = Object)]
    pub receipt: Value,
}

/// The ledger's receipts of a write.
#[derive(Serialize, ToSchema)]
pub struct Receipts {
    pub receipts: Vec<Receipt>,
}

/// `GET /banner/config.json`: what the banner shows.
#[derive(Serialize, ToSchema)]
pub struct BannerConfig {
    /// The notice the banner links to and the choice is recorded against.
    #[schema(value_type = Object)]
    pub notice: Value,
    /// `sha256:<hex>` of everything the banner shows.
    pub text_hash: String,
    /// Days after which a stored choice is asked again.
    pub reask_after_days: Option<u32>,
    /// The cookie categories, essential ones included.
    #[schema(value_type = Vec<Object>)]
    pub categories: Vec<Value>,
    /// The banner's own words.
    #[schema(value_type = Object)]
    pub texts: Value,
    /// Whether the browser sent `Sec-GPC: 1`.
    pub gpc: bool,
}

/// `POST /v1/requests/{id}/callbacks/{recipient}`: where the request stands.
#[derive(Serialize, ToSchema)]
pub struct CallbackAnswer {
    pub id: String,
    pub state: String,
    /// Each recipient the request was forwarded to, and what it reported.
    #[schema(value_type = Vec<Object>)]
    pub forwards: Vec<Value>,
}
