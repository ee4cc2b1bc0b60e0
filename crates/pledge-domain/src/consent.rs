//! Consent, objections, restrictions and opt-outs: the events of the consent ledger, the
//! state they add up to per subject, and the decision "may this subject's data be used for
//! this purpose now?". Pure: the shell stores the events, keeps the index in memory and hands
//! in the time.
//!
//! The decision follows the declaration: an undeclared purpose or data category is always
//! refused; a purpose that lists consent among its legal bases needs a valid consent (an
//! organisation cannot fall back on another basis once consent is withdrawn); any other basis
//! allows unless a restriction, an objection or an opt-out of sale and sharing stands in
//! the way.

use pledge_lang::load::Declaration;
use pledge_lang::model::{Basis, ConsentMechanism, CookieCategory};
use pledge_lang::time::CivilTime;
use pledge_lang::types::{CategoryId, IsoDuration, ParseError, PurposeId, SubjectRef};
use serde::{Serialize, Serializer};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

pub mod snapshot;

// ----------------------------------------------------------------------------------------
// The words of an event

/// What a consent is about: a declared purpose, or a cookie category shown in a banner.
/// Written `purpose:<id>` or `cookies:<category>` in the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    Purpose(PurposeId),
    Cookies(CookieCategory),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Purpose(p) => write!(f, "purpose:{p}"),
            Target::Cookies(c) => write!(f, "cookies:{}", cookie_category_name(*c)),
        }
    }
}

impl FromStr for Target {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        if let Some(p) = s.strip_prefix("purpose:") {
            Ok(Target::Purpose(p.parse()?))
        } else if let Some(c) = s.strip_prefix("cookies:") {
            Ok(Target::Cookies(parse_cookie_category(c)?))
        } else {
            Err(ParseError(format!(
                "`{s}` is neither purpose:<id> nor cookies:<category>"
            )))
        }
    }
}

impl Serialize for Target {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Every cookie category, in the order a banner lists them.
pub const COOKIE_CATEGORIES: [CookieCategory; 6] = [
    CookieCategory::StrictlyNecessary,
    CookieCategory::Security,
    CookieCategory::Preferences,
    CookieCategory::Analytics,
    CookieCategory::Advertising,
    CookieCategory::SocialMedia,
];

/// The declaration's name of a cookie category: `analytics`, `strictly_necessary`, ...
pub fn cookie_category_name(c: CookieCategory) -> &'static str {
    match c {
        CookieCategory::StrictlyNecessary => "strictly_necessary",
        CookieCategory::Security => "security",
        CookieCategory::Preferences => "preferences",
        CookieCategory::Analytics => "analytics",
        CookieCategory::Advertising => "advertising",
        CookieCategory::SocialMedia => "social_media",
    }
}

pub fn parse_cookie_category(s: &str) -> Result<CookieCategory, ParseError> {
    COOKIE_CATEGORIES
        .iter()
        .copied()
        .find(|c| cookie_category_name(*c) == s)
        .ok_or_else(|| {
            ParseError(format!(
                "`{s}` is not a cookie category: strictly_necessary, security, preferences, analytics, advertising or social_media"
            ))
        })
}

/// The state a consent event puts a target in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentState {
    Given,
    Refused,
    Withdrawn,
    /// Recorded when a consent's time ran out (the decision also treats a given consent past
    /// its `expires_at` as expired without such an event).
    Expired,
}

impl ConsentState {
    pub fn as_str(self) -> &'static str {
        match self {
            ConsentState::Given => "given",
            ConsentState::Refused => "refused",
            ConsentState::Withdrawn => "withdrawn",
            ConsentState::Expired => "expired",
        }
    }

    /// The W3C DPV consent status.
    pub fn dpv(self) -> &'static str {
        match self {
            ConsentState::Given => "dpv:ConsentGiven",
            ConsentState::Refused => "dpv:ConsentRefused",
            ConsentState::Withdrawn => "dpv:ConsentWithdrawn",
            ConsentState::Expired => "dpv:ConsentExpired",
        }
    }
}

impl FromStr for ConsentState {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        [
            ConsentState::Given,
            ConsentState::Refused,
            ConsentState::Withdrawn,
            ConsentState::Expired,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
        .ok_or_else(|| {
            ParseError(format!(
                "`{s}` is not a consent state: given, refused, withdrawn or expired"
            ))
        })
    }
}

/// How a choice reached Pledge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// The cookie banner or preference centre.
    Banner,
    /// A form of the application.
    Form,
    /// The application's back end, through the API.
    Api,
    /// A link in an e-mail (one-click unsubscribe).
    EmailLink,
    /// A Global Privacy Control signal (`Sec-GPC: 1`).
    Gpc,
    /// A rights request (withdrawal, objection, restriction, opt-out) carried out by staff.
    RightsRequest,
}

impl Method {
    pub const ALL: [Method; 6] = [
        Method::Banner,
        Method::Form,
        Method::Api,
        Method::EmailLink,
        Method::Gpc,
        Method::RightsRequest,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Method::Banner => "banner",
            Method::Form => "form",
            Method::Api => "api",
            Method::EmailLink => "email_link",
            Method::Gpc => "gpc",
            Method::RightsRequest => "rights_request",
        }
    }
}

impl FromStr for Method {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        Method::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| {
                ParseError(format!(
                    "`{s}` is not a method: banner, form, api, email_link, gpc or rights_request"
                ))
            })
    }
}

/// The network address of the person, cut so that it no longer points at one household:
/// IPv4 to its /24, IPv6 to its /48. An IPv4-mapped IPv6 address counts as IPv4.
pub fn truncate_ip(ip: IpAddr) -> String {
    let v4 = match ip {
        IpAddr::V4(v4) => Some(v4),
        IpAddr::V6(v6) => v6.to_ipv4_mapped(),
    };
    match (v4, ip) {
        (Some(v4), _) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0/24")
        }
        (None, IpAddr::V6(v6)) => {
            let s = v6.segments();
            let cut = std::net::Ipv6Addr::new(s[0], s[1], s[2], 0, 0, 0, 0, 0);
            format!("{cut}/48")
        }
        // An IPv4 address was handled above.
        (None, IpAddr::V4(_)) => String::new(),
    }
}

/// What was shown and who asked: kept with each event as evidence.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Evidence {
    /// Already truncated (see [`truncate_ip`]).
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl Evidence {
    /// Evidence from a raw address (truncated here) and a user agent (cut at 512 bytes).
    pub fn new(ip: Option<IpAddr>, user_agent: Option<&str>) -> Self {
        Evidence {
            ip: ip.map(truncate_ip),
            user_agent: user_agent.map(|ua| {
                let mut end = ua.len().min(512);
                while !ua.is_char_boundary(end) {
                    end -= 1;
                }
                ua[..end].to_string()
            }),
        }
    }
}

/// What an event records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// A consent choice on a purpose or cookie category.
    Consent { target: Target, state: ConsentState },
    /// An objection (Art. 21) to a purpose raised or lifted.
    Objection { purpose: PurposeId, raised: bool },
    /// A restriction of processing (Art. 18) placed or lifted, for every purpose.
    Restriction { raised: bool },
    /// An opt-out of sale, sharing and targeted advertising (CCPA, GPC) made or revoked.
    OptOut { raised: bool },
    /// The subject (an anonymous id) is the same person as `to` (a known one): from now on
    /// both have one state.
    Link { to: SubjectRef },
}

/// An action as the ledger's three text columns: `(kind, target, state)`.
pub struct Columns {
    pub kind: &'static str,
    pub target: Option<String>,
    pub state: &'static str,
}

fn raised(r: bool) -> &'static str {
    if r { "raised" } else { "lifted" }
}

impl Action {
    pub fn columns(&self) -> Columns {
        let (kind, target, state) = match self {
            Action::Consent { target, state } => {
                ("consent", Some(target.to_string()), state.as_str())
            }
            Action::Objection { purpose, raised: r } => {
                ("objection", Some(purpose.to_string()), raised(*r))
            }
            Action::Restriction { raised: r } => ("restriction", None, raised(*r)),
            Action::OptOut { raised: r } => ("opt_out", None, raised(*r)),
            Action::Link { to } => ("link", Some(to.to_string()), "linked"),
        };
        Columns {
            kind,
            target,
            state,
        }
    }

    /// Reads the ledger's columns back.
    pub fn from_columns(kind: &str, target: Option<&str>, state: &str) -> Result<Self, ParseError> {
        let flag = |s: &str| match s {
            "raised" => Ok(true),
            "lifted" => Ok(false),
            other => Err(ParseError(format!(
                "`{other}` is neither raised nor lifted"
            ))),
        };
        let target = || target.ok_or_else(|| ParseError(format!("a {kind} event needs a target")));
        Ok(match kind {
            "consent" => Action::Consent {
                target: target()?.parse()?,
                state: state.parse()?,
            },
            "objection" => Action::Objection {
                purpose: target()?.parse()?,
                raised: flag(state)?,
            },
            "restriction" => Action::Restriction {
                raised: flag(state)?,
            },
            "opt_out" => Action::OptOut {
                raised: flag(state)?,
            },
            "link" => Action::Link {
                to: target()?.parse()?,
            },
            other => return Err(ParseError(format!("`{other}` is not a ledger event kind"))),
        })
    }
}

/// One event of the consent ledger, before the store numbers and chains it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentEvent {
    pub subject: SubjectRef,
    pub action: Action,
    /// Unix seconds.
    pub at: i64,
    /// For a consent given: when it stops counting (see [`ConsentPolicy::expires_at`]).
    pub expires_at: Option<i64>,
    /// The version of the notice or banner text shown (e.g. the notice's SHA-256 version).
    pub notice_version: Option<String>,
    /// SHA-256 (hex) of the exact text the person saw.
    pub text_hash: Option<String>,
    pub method: Method,
    pub evidence: Evidence,
    /// Who recorded it: `key:<id>`, `banner`, `cli`, ...
    pub actor: String,
}

// ----------------------------------------------------------------------------------------
// State per subject, and the index

/// The latest consent event of one target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TargetState {
    pub target: Target,
    pub state: ConsentState,
    pub at: i64,
    pub expires_at: Option<i64>,
    pub method: Method,
    pub notice_version: Option<String>,
    /// The ledger sequence number of the event.
    pub seq: i64,
}

impl TargetState {
    /// The state at `now`: a consent given whose time ran out is expired.
    pub fn state_at(&self, now: i64) -> ConsentState {
        match (self.state, self.expires_at) {
            (ConsentState::Given, Some(end)) if end <= now => ConsentState::Expired,
            (s, _) => s,
        }
    }
}

/// What the ledger says about one subject now.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SubjectState {
    /// The latest event per target, in the order first seen.
    pub consents: Vec<TargetState>,
    /// Purposes objected to, with when.
    pub objections: Vec<(PurposeId, i64)>,
    /// Since when processing is restricted.
    pub restricted_since: Option<i64>,
    /// Since when the subject opted out of sale, sharing and targeted advertising.
    pub opted_out_since: Option<i64>,
}

impl SubjectState {
    pub fn consent(&self, target: &Target) -> Option<&TargetState> {
        self.consents.iter().find(|t| &t.target == target)
    }

    fn consent_for_purpose(&self, purpose: &PurposeId) -> Option<&TargetState> {
        self.consents
            .iter()
            .find(|t| matches!(&t.target, Target::Purpose(p) if p == purpose))
    }

    fn objection(&self, purpose: &PurposeId) -> Option<i64> {
        self.objections
            .iter()
            .find(|(p, _)| p == purpose)
            .map(|(_, at)| *at)
    }

    /// Applies one event (events arrive in ledger order).
    pub fn apply(&mut self, seq: i64, e: &ConsentEvent) {
        match &e.action {
            Action::Consent { target, state } => {
                let new = TargetState {
                    target: target.clone(),
                    state: *state,
                    at: e.at,
                    expires_at: e.expires_at,
                    method: e.method,
                    notice_version: e.notice_version.clone(),
                    seq,
                };
                self.put(new);
            }
            Action::Objection { purpose, raised } => {
                self.objections.retain(|(p, _)| p != purpose);
                if *raised {
                    self.objections.push((purpose.clone(), e.at));
                }
            }
            Action::Restriction { raised } => {
                self.restricted_since = raised.then(|| self.restricted_since.unwrap_or(e.at));
            }
            Action::OptOut { raised } => {
                self.opted_out_since = raised.then(|| self.opted_out_since.unwrap_or(e.at));
            }
            // Links are the index's business.
            Action::Link { .. } => {}
        }
    }

    /// Keeps the later (by ledger order) of two events on the same target.
    fn put(&mut self, new: TargetState) {
        match self.consents.iter_mut().find(|t| t.target == new.target) {
            Some(old) if old.seq < new.seq => *old = new,
            Some(_) => {}
            None => self.consents.push(new),
        }
    }

    /// Folds another subject's state (an anonymous visitor now known) into this one: per
    /// target the later event wins; objections, restrictions and opt-outs add up.
    pub fn merge(&mut self, other: SubjectState) {
        for t in other.consents {
            self.put(t);
        }
        for (p, at) in other.objections {
            if self.objection(&p).is_none() {
                self.objections.push((p, at));
            }
        }
        self.restricted_since = min_some(self.restricted_since, other.restricted_since);
        self.opted_out_since = min_some(self.opted_out_since, other.opted_out_since);
    }
}

fn min_some(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Every subject's state, built by applying the ledger in order: what the server keeps in
/// memory to answer decisions without touching the store (and writes out as a
/// [`snapshot`], so that a restart need not apply the whole ledger again).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsentIndex {
    /// Subjects in [`SHARDS`] maps, each subject in the one [`shard_of`] names: a snapshot
    /// is read back with each shard built on its own thread.
    subjects: [HashMap<SubjectRef, SubjectState>; SHARDS],
    /// Anonymous id → the subject it was linked to (always a subject that is not itself
    /// linked further).
    aliases: HashMap<SubjectRef, SubjectRef>,
    /// Known subject → the ids linked to it (the reverse of `aliases`).
    linked: HashMap<SubjectRef, Vec<SubjectRef>>,
    /// The last ledger sequence number applied.
    last_seq: i64,
}

/// How many maps the index's subjects are spread over.
pub const SHARDS: usize = 8;

/// The shard of a subject: FNV-1a of its id, the same in every process (snapshots are
/// written by one and read by another).
pub fn shard_of(s: &SubjectRef) -> usize {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.as_str().bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (h % SHARDS as u64) as usize
}

impl ConsentIndex {
    /// The last ledger sequence number applied (0 when empty).
    pub fn last_seq(&self) -> i64 {
        self.last_seq
    }

    pub fn subjects(&self) -> usize {
        self.subjects.iter().map(HashMap::len).sum()
    }

    fn shard_mut(&mut self, s: &SubjectRef) -> &mut HashMap<SubjectRef, SubjectState> {
        &mut self.subjects[shard_of(s)]
    }

    /// The subject whose state `s` shares (itself unless linked).
    pub fn resolve<'a>(&'a self, s: &'a SubjectRef) -> &'a SubjectRef {
        self.aliases.get(s).unwrap_or(s)
    }

    /// The ids whose events make up `s`'s state: the subject it resolves to, then every id
    /// linked to that one.
    pub fn linked_ids(&self, s: &SubjectRef) -> Vec<SubjectRef> {
        let known = self.resolve(s);
        let mut ids = vec![known.clone()];
        ids.extend(self.linked.get(known).into_iter().flatten().cloned());
        ids
    }

    pub fn state(&self, s: &SubjectRef) -> Option<&SubjectState> {
        let known = self.resolve(s);
        self.subjects[shard_of(known)].get(known)
    }

    /// Applies the event numbered `seq`; events at or below the last applied one are
    /// ignored, so replaying a page twice is harmless.
    pub fn apply(&mut self, seq: i64, e: &ConsentEvent) {
        if seq <= self.last_seq {
            return;
        }
        self.last_seq = seq;
        let subject = self.resolve(&e.subject).clone();
        if let Action::Link { to } = &e.action {
            let to = self.resolve(to).clone();
            if to == subject {
                return;
            }
            let moved = self
                .shard_mut(&subject)
                .remove(&subject)
                .unwrap_or_default();
            self.shard_mut(&to)
                .entry(to.clone())
                .or_default()
                .merge(moved);
            // Whatever pointed at the anonymous id now points at the known subject.
            let mut ids = self.linked.remove(&subject).unwrap_or_default();
            for id in &ids {
                self.aliases.insert(id.clone(), to.clone());
            }
            ids.push(subject.clone());
            self.aliases.insert(subject, to.clone());
            self.linked.entry(to).or_default().extend(ids);
            return;
        }
        self.shard_mut(&subject)
            .entry(subject)
            .or_default()
            .apply(seq, e);
    }

    /// The decision for `subject` (see [`decide`]).
    pub fn decide(
        &self,
        policy: &ConsentPolicy,
        subject: &SubjectRef,
        query: &Query,
        now: i64,
    ) -> Decision {
        decide(policy, self.state(subject), query, now)
    }
}

// ----------------------------------------------------------------------------------------
// The declaration, compiled for decisions

/// What a decision needs to know about one purpose.
#[derive(Debug, Clone)]
struct PurposeRule {
    categories: Vec<CategoryId>,
    /// The basis decisions go by (see [`ConsentPolicy::new`]); `None`: the purpose declares none.
    basis: Option<Basis>,
    /// For consent: a mechanism that is not consent (continued use, pre-ticked, ...).
    invalid_mechanism: Option<ConsentMechanism>,
    direct_marketing: bool,
    /// Sale, sharing or targeted advertising: an opt-out stops it.
    sells_or_shares: bool,
    expires_after: Option<IsoDuration>,
}

/// The declaration, compiled once for fast decisions.
#[derive(Debug, Clone)]
pub struct ConsentPolicy {
    purposes: HashMap<PurposeId, PurposeRule>,
    /// Cookie categories with at least one declared cookie.
    cookie_categories: Vec<CookieCategory>,
    cookie_mechanism: Option<ConsentMechanism>,
    cookie_expires_after: Option<IsoDuration>,
}

/// Strongest first: the basis a decision names when a purpose has several and none is
/// consent. An obligation of law outranks an interest the subject can object to.
const BASIS_PRECEDENCE: [Basis; 5] = [
    Basis::LegalObligation,
    Basis::VitalInterests,
    Basis::Contract,
    Basis::PublicTask,
    Basis::LegitimateInterests,
];

impl ConsentPolicy {
    pub fn new(decl: &Declaration) -> Self {
        let doc = decl.doc();
        let (sold, shared) = doc
            .ccpa
            .as_ref()
            .map(|c| (c.sold.as_slice(), c.shared.as_slice()))
            .unwrap_or_default();
        let traded: Vec<&CategoryId> = sold.iter().chain(shared).map(|c| &c.value).collect();
        let purposes = doc
            .purposes
            .iter()
            .map(|p| {
                let bases: Vec<Basis> = p.legal_bases.iter().map(|b| b.value.basis.value).collect();
                let consent = p
                    .legal_bases
                    .iter()
                    .find(|b| b.value.basis.value == Basis::Consent);
                let basis = if consent.is_some() {
                    Some(Basis::Consent)
                } else {
                    BASIS_PRECEDENCE.into_iter().find(|b| bases.contains(b))
                };
                let invalid_mechanism = consent
                    .and_then(|b| b.value.mechanism.as_ref())
                    .map(|m| m.value)
                    .filter(|m| *m != ConsentMechanism::OptIn);
                let categories: Vec<CategoryId> =
                    p.categories.iter().map(|c| c.value.clone()).collect();
                let advertised = doc.cookies.iter().any(|c| {
                    c.category.value == CookieCategory::Advertising
                        && c.purpose.as_ref().is_some_and(|x| x.value == p.id.value)
                });
                let sells_or_shares = advertised
                    || categories
                        .iter()
                        .any(|c| traded.iter().any(|t| c.is_within(t) || t.is_within(c)));
                let rule = PurposeRule {
                    categories,
                    basis,
                    invalid_mechanism,
                    direct_marketing: p.direct_marketing,
                    sells_or_shares,
                    expires_after: p.consent_expires_after.as_ref().map(|d| d.value),
                };
                (p.id.value.clone(), rule)
            })
            .collect();
        let mut cookie_categories: Vec<CookieCategory> =
            doc.cookies.iter().map(|c| c.category.value).collect();
        cookie_categories.sort();
        cookie_categories.dedup();
        ConsentPolicy {
            purposes,
            cookie_categories,
            cookie_mechanism: doc.cookie_consent.as_ref().map(|c| c.mechanism.value),
            cookie_expires_after: doc
                .cookie_consent
                .as_ref()
                .and_then(|c| c.reask_after.as_ref())
                .map(|d| d.value),
        }
    }

    /// Whether `target` is declared: a purpose of the declaration, or a cookie category
    /// with at least one declared cookie.
    pub fn declares(&self, target: &Target) -> bool {
        match target {
            Target::Purpose(p) => self.purposes.contains_key(p),
            Target::Cookies(c) => self.cookie_categories.contains(c),
        }
    }

    /// The declared cookie categories.
    pub fn cookie_categories(&self) -> &[CookieCategory] {
        &self.cookie_categories
    }

    /// Purposes whose basis is consent, sorted: what "withdraw all" withdraws.
    pub fn consent_purposes(&self) -> Vec<PurposeId> {
        let mut v: Vec<PurposeId> = self
            .purposes
            .iter()
            .filter(|(_, r)| r.basis == Some(Basis::Consent))
            .map(|(id, _)| id.clone())
            .collect();
        v.sort();
        v
    }

    /// When a consent given at `at` stops counting: `consent_expires_after` of the purpose,
    /// or `[cookie_consent] reask_after` for cookie categories. Calendar arithmetic: 13
    /// months from 31 January ends on the last day of February a year later.
    pub fn expires_at(&self, target: &Target, at: i64) -> Option<i64> {
        let period = match target {
            Target::Purpose(p) => self.purposes.get(p)?.expires_after,
            Target::Cookies(_) => self.cookie_expires_after,
        }?;
        Some(CivilTime::from_unix(at).plus(&period).to_unix())
    }
}

// ----------------------------------------------------------------------------------------
// The decision

/// What is asked: a purpose (with the data categories to be used), or a cookie category.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub target: Target,
    /// Data categories to be used for the purpose; each must be declared for it (a parent
    /// covers its children). Empty: the purpose as declared.
    pub categories: Vec<CategoryId>,
}

/// Why a decision came out as it did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum Reason {
    /// The purpose or cookie category is not in the declaration: never allowed.
    NotDeclared,
    /// A data category is not declared for the purpose.
    CategoryNotDeclared {
        category: CategoryId,
    },
    /// The purpose declares no legal basis.
    NoLegalBasis,
    /// Allowed on a legal basis other than consent.
    LegalBasis,
    /// Strictly necessary or security cookies need no consent (ePrivacy Art. 5(3)).
    Exempt,
    /// The declaration obtains "consent" in a way that is not consent (continued use,
    /// pre-ticked boxes, opt-out, browser settings).
    InvalidConsentMechanism {
        mechanism: ConsentMechanism,
    },
    ConsentGiven {
        at: i64,
        expires_at: Option<i64>,
    },
    ConsentMissing,
    ConsentRefused {
        at: i64,
    },
    ConsentWithdrawn {
        at: i64,
    },
    ConsentExpired {
        at: i64,
    },
    /// The subject objected to the purpose (Art. 21).
    Objection {
        at: i64,
    },
    /// Processing is restricted (Art. 18): only what the law requires goes on.
    Restriction {
        at: i64,
    },
    /// The subject opted out of sale, sharing and targeted advertising (CCPA, GPC).
    OptOut {
        at: i64,
    },
}

/// The answer: allowed or not, why, and on which legal basis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub allow: bool,
    pub reason: Reason,
    /// The legal basis the decision went by (`None` for cookies and undeclared purposes).
    pub basis: Option<Basis>,
}

impl Decision {
    fn allow(reason: Reason, basis: Option<Basis>) -> Self {
        Decision {
            allow: true,
            reason,
            basis,
        }
    }

    fn deny(reason: Reason, basis: Option<Basis>) -> Self {
        Decision {
            allow: false,
            reason,
            basis,
        }
    }
}

static NOBODY: SubjectState = SubjectState {
    consents: Vec::new(),
    objections: Vec::new(),
    restricted_since: None,
    opted_out_since: None,
};

/// May the data of the subject whose ledger state is `state` (none recorded: `None`) be
/// used for `query` at `now`? The checks, in order: declared, categories declared, a legal
/// basis, restriction, opt-out of sale and sharing, objection, then consent.
pub fn decide(
    policy: &ConsentPolicy,
    state: Option<&SubjectState>,
    query: &Query,
    now: i64,
) -> Decision {
    let state = state.unwrap_or(&NOBODY);
    match &query.target {
        Target::Purpose(p) => decide_purpose(policy, state, p, &query.categories, now),
        Target::Cookies(c) => decide_cookies(policy, state, *c, now),
    }
}

fn decide_purpose(
    policy: &ConsentPolicy,
    state: &SubjectState,
    purpose: &PurposeId,
    categories: &[CategoryId],
    now: i64,
) -> Decision {
    let Some(rule) = policy.purposes.get(purpose) else {
        return Decision::deny(Reason::NotDeclared, None);
    };
    if let Some(c) = categories
        .iter()
        .find(|c| !rule.categories.iter().any(|d| c.is_within(d)))
    {
        return Decision::deny(
            Reason::CategoryNotDeclared {
                category: c.clone(),
            },
            None,
        );
    }
    let Some(basis) = rule.basis else {
        return Decision::deny(Reason::NoLegalBasis, None);
    };
    let basis = Some(basis);
    // Art. 18(2): restricted data is only stored, or used for what the law requires.
    if let Some(at) = state.restricted_since
        && basis != Some(Basis::LegalObligation)
    {
        return Decision::deny(Reason::Restriction { at }, basis);
    }
    if let Some(at) = state.opted_out_since
        && rule.sells_or_shares
    {
        return Decision::deny(Reason::OptOut { at }, basis);
    }
    // Art. 21: an objection stops legitimate interests and public tasks, and always stops
    // direct marketing.
    let objectionable = rule.direct_marketing
        || matches!(basis, Some(Basis::LegitimateInterests | Basis::PublicTask));
    if objectionable && let Some(at) = state.objection(purpose) {
        return Decision::deny(Reason::Objection { at }, basis);
    }
    if basis != Some(Basis::Consent) {
        return Decision::allow(Reason::LegalBasis, basis);
    }
    if let Some(mechanism) = rule.invalid_mechanism {
        return Decision::deny(Reason::InvalidConsentMechanism { mechanism }, basis);
    }
    consent_decision(state.consent_for_purpose(purpose), now, basis)
}

fn decide_cookies(
    policy: &ConsentPolicy,
    state: &SubjectState,
    category: CookieCategory,
    now: i64,
) -> Decision {
    if !policy.cookie_categories.contains(&category) {
        return Decision::deny(Reason::NotDeclared, None);
    }
    if !category.needs_consent() {
        return Decision::allow(Reason::Exempt, None);
    }
    if let Some(mechanism) = policy
        .cookie_mechanism
        .filter(|m| *m != ConsentMechanism::OptIn)
    {
        return Decision::deny(Reason::InvalidConsentMechanism { mechanism }, None);
    }
    if let Some(at) = state.opted_out_since
        && category == CookieCategory::Advertising
    {
        return Decision::deny(Reason::OptOut { at }, None);
    }
    consent_decision(state.consent(&Target::Cookies(category)), now, None)
}

fn consent_decision(latest: Option<&TargetState>, now: i64, basis: Option<Basis>) -> Decision {
    let Some(t) = latest else {
        return Decision::deny(Reason::ConsentMissing, basis);
    };
    let at = t.at;
    match t.state_at(now) {
        ConsentState::Given => Decision::allow(
            Reason::ConsentGiven {
                at,
                expires_at: t.expires_at,
            },
            basis,
        ),
        ConsentState::Refused => Decision::deny(Reason::ConsentRefused { at }, basis),
        ConsentState::Withdrawn => Decision::deny(Reason::ConsentWithdrawn { at }, basis),
        ConsentState::Expired => Decision::deny(Reason::ConsentExpired { at }, basis),
    }
}

// ----------------------------------------------------------------------------------------
// Receipts

/// The consent receipt of one recorded event, for the person: a JSON document shaped after
/// ISO/IEC TS 27560 (consent record information structure) with W3C DPV terms. `seq` and
/// `hash` place it in the ledger, so the person can later prove it was recorded.
pub fn receipt(decl: &Declaration, e: &ConsentEvent, seq: i64, hash: &str) -> Value {
    let controller = decl.doc().controller.as_ref().map(|c| {
        json!({
            "name": c.name.value,
            "contact": c.email.as_ref().map(|m| m.value.to_string()),
        })
    });
    let cols = e.action.columns();
    let (status, about) = match &e.action {
        Action::Consent { target, state } => (Some(state.dpv()), target_view(decl, target)),
        Action::Objection { purpose, .. } => {
            (None, target_view(decl, &Target::Purpose(purpose.clone())))
        }
        _ => (None, Value::Null),
    };
    json!({
        "@context": {"dpv": "https://w3id.org/dpv#", "eu-gdpr": "https://w3id.org/dpv/legal/eu/gdpr#"},
        "@type": "dpv:ConsentReceipt",
        "schema_version": "pledge-consent-receipt/1 (shaped after ISO/IEC TS 27560:2023)",
        "record_id": format!("consent-{seq}"),
        "timestamp": CivilTime::from_unix(e.at).to_rfc3339(),
        "data_controller": controller,
        "data_subject": {"id": e.subject.as_str(), "pseudonymous": true},
        "event": {"kind": cols.kind, "state": cols.state},
        "consent_status": status,
        "processing": about,
        "method": e.method.as_str(),
        "notice": {"version": e.notice_version, "text_sha256": e.text_hash},
        "expires_at": e.expires_at.map(|t| CivilTime::from_unix(t).to_rfc3339()),
        "evidence": {"ip_truncated": e.evidence.ip, "user_agent": e.evidence.user_agent},
        "withdrawal": "send a new choice for the same purpose; it counts from then on",
        "ledger": {"seq": seq, "hash": hash},
    })
}

/// The proof that a receipt's event is in the consent ledger as a signed checkpoint saw it:
/// the event's canonical entry (the leaf), its chain link, and the audit path from its leaf
/// to the checkpoint's Merkle root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inclusion {
    /// The ledger row's canonical JSON: the Merkle leaf, and what its chain hash covers.
    pub entry: String,
    pub prev_hash: String,
    /// The signed note of the checkpoint it is proven against.
    pub checkpoint: String,
    pub tree_size: u64,
    pub audit_path: Vec<crate::merkle::Hash>,
}

/// The receipt with its proof of inclusion under `"inclusion"`: the leaf index (the event's
/// number less one), the tree size, the entry and the audit path, and the checkpoint.
pub fn with_inclusion(mut receipt: Value, proof: &Inclusion) -> Value {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let seq = receipt["ledger"]["seq"].as_i64().unwrap_or(0);
    receipt["inclusion"] = json!({
        "hashing": "RFC 6962: leaf SHA-256(0x00 || entry), node SHA-256(0x01 || left || right)",
        "leaf_index": seq - 1,
        "tree_size": proof.tree_size,
        "entry": proof.entry,
        "prev_hash": proof.prev_hash,
        "audit_path": proof.audit_path.iter().map(|h| b64.encode(h)).collect::<Vec<_>>(),
        "checkpoint": proof.checkpoint,
    });
    receipt
}

/// Checks a receipt's proof of inclusion against `checkpoint` (a consent ledger
/// checkpoint whose signature the caller checked): the entry is the receipt's event (its
/// number and subject), its chain hash is the receipt's hash, and the audit path leads from
/// its leaf to the checkpoint's root. Returns why not.
pub fn verify_inclusion(
    receipt: &Value,
    checkpoint: &crate::checkpoint::Checkpoint,
) -> Result<(), String> {
    use base64::Engine;
    use sha2::{Digest, Sha256};
    let b64 = base64::engine::general_purpose::STANDARD;
    let inc = receipt
        .get("inclusion")
        .ok_or("the receipt carries no proof of inclusion")?;
    let text = |v: &Value, k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| format!("the receipt has no `{k}`"))
    };
    let entry = text(inc, "entry")?;
    let prev = text(inc, "prev_hash")?;
    let hash = text(&receipt["ledger"], "hash")?;
    let seq = receipt["ledger"]["seq"]
        .as_i64()
        .ok_or("the receipt has no ledger seq")?;
    let index = inc["leaf_index"].as_i64().ok_or("no leaf_index")?;
    let size = inc["tree_size"].as_u64().ok_or("no tree_size")?;
    if index != seq - 1 || index < 0 {
        return Err(format!("leaf {index} is not event {seq}"));
    }
    if size != checkpoint.size {
        return Err(format!(
            "the proof is for a tree of {size} events, the checkpoint signs {}",
            checkpoint.size
        ));
    }
    let parsed: Value =
        serde_json::from_str(&entry).map_err(|_| "the entry is not JSON".to_string())?;
    if parsed["seq"].as_i64() != Some(seq)
        || parsed["subject"] != receipt["data_subject"]["id"]
        || parsed["kind"] != receipt["event"]["kind"]
        || parsed["state"] != receipt["event"]["state"]
    {
        return Err(
            "the entry is not the receipt's event (number, subject, kind or state differ)".into(),
        );
    }
    let mut h = Sha256::new();
    h.update(prev.as_bytes());
    h.update(entry.as_bytes());
    let computed: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    if computed != hash {
        return Err("the entry and prev_hash do not give the receipt's hash".into());
    }
    let path = inc["audit_path"]
        .as_array()
        .ok_or("no audit_path")?
        .iter()
        .map(|p| {
            p.as_str()
                .and_then(|s| b64.decode(s).ok())
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
        })
        .collect::<Option<Vec<_>>>()
        .ok_or("the audit path is not base64 hashes")?;
    let leaf = crate::merkle::leaf_hash(entry.as_bytes());
    if !crate::merkle::verify_inclusion(index as u64, size, &leaf, &path, &checkpoint.root) {
        return Err(format!(
            "the audit path does not lead from event {seq} to the root the checkpoint signed"
        ));
    }
    Ok(())
}

fn target_view(decl: &Declaration, target: &Target) -> Value {
    match target {
        Target::Purpose(p) => {
            let declared = decl.purpose(p);
            json!({
                "purpose": p.as_str(),
                "name": declared.map(|d| d.name.value.clone()),
                "legal_basis": declared
                    .and_then(|d| d.legal_bases.iter().find(|b| b.value.basis.value == Basis::Consent))
                    .map(|_| Basis::Consent.dpv()),
                "personal_data": declared.map(|d| d.categories.iter().map(|c| c.value.as_str().to_string()).collect::<Vec<_>>()),
            })
        }
        Target::Cookies(c) => json!({
            "cookie_category": cookie_category_name(*c),
            "legal_basis": c.needs_consent().then(|| Basis::Consent.dpv()),
        }),
    }
}

// ----------------------------------------------------------------------------------------
// Rights requests recorded in the ledger

impl ConsentPolicy {
    /// Purposes an objection stops (Art. 21): those based on legitimate interests or a
    /// public task, and direct marketing whatever its basis. Sorted.
    pub fn objectionable_purposes(&self) -> Vec<PurposeId> {
        let mut v: Vec<PurposeId> = self
            .purposes
            .iter()
            .filter(|(_, r)| {
                r.direct_marketing
                    || matches!(
                        r.basis,
                        Some(Basis::LegitimateInterests | Basis::PublicTask)
                    )
            })
            .map(|(id, _)| id.clone())
            .collect();
        v.sort();
        v
    }
}

/// What a rights request records in the ledger for one subject whose state (at `now`) is
/// `state`: only what changes, so that a request run twice (a worker that crashed after
/// recording and before completing) records nothing the second time.
///
/// - withdrawal of consent (Art. 7(3)): every consent given and still running;
/// - objection (Art. 21): every objectionable purpose not objected to yet;
/// - restriction (Art. 18): a restriction, unless one stands;
/// - CCPA opt-out: an opt-out of sale, sharing and targeted advertising, unless one stands.
///
/// The request engine's other rights record nothing here.
pub fn request_actions(
    policy: &ConsentPolicy,
    right: pledge_lang::rights::Right,
    state: Option<&SubjectState>,
    now: i64,
) -> Vec<Action> {
    use pledge_lang::rights::Right;
    let empty = SubjectState::default();
    let state = state.unwrap_or(&empty);
    match right {
        Right::WithdrawConsent => state
            .consents
            .iter()
            .filter(|t| t.state_at(now) == ConsentState::Given)
            .map(|t| Action::Consent {
                target: t.target.clone(),
                state: ConsentState::Withdrawn,
            })
            .collect(),
        Right::Objection => policy
            .objectionable_purposes()
            .into_iter()
            .filter(|p| state.objection(p).is_none())
            .map(|purpose| Action::Objection {
                purpose,
                raised: true,
            })
            .collect(),
        Right::Restriction if state.restricted_since.is_none() => {
            vec![Action::Restriction { raised: true }]
        }
        Right::OptOut if state.opted_out_since.is_none() => vec![Action::OptOut { raised: true }],
        _ => Vec::new(),
    }
}
