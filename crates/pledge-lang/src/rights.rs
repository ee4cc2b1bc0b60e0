//! The rights a person exercises, and the kinds of request the engine runs against the
//! company's databases: the vocabulary that the declaration (which rights a recipient is
//! told about), the planner (what a request does) and the workflow (deadlines per right)
//! share.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use thiserror::Error;

/// The kinds of request the engine plans.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestKind {
    /// GDPR Art. 15.
    Access,
    /// GDPR Art. 20.
    Portability,
    /// GDPR Art. 17.
    Erasure,
    /// GDPR Art. 16.
    Rectification,
    /// GDPR Art. 18.
    Restriction,
}

/// The right a request exercises: the kinds of the request engine, which run against the
/// company's databases, and the kinds that change what the company may do with the data,
/// which are recorded in the consent ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Right {
    /// GDPR Art. 15; CCPA right to know.
    Access,
    /// GDPR Art. 20.
    Portability,
    /// GDPR Art. 17; CCPA right to delete.
    Erasure,
    /// GDPR Art. 16; CCPA right to correct.
    Rectification,
    /// GDPR Art. 18.
    Restriction,
    /// GDPR Art. 21: an objection to processing based on legitimate interests (absolute for
    /// direct marketing, Art. 21(3)).
    Objection,
    /// GDPR Art. 7(3): consent withdrawn, for every purpose based on it.
    WithdrawConsent,
    /// CCPA (Cal. Civ. Code §1798.120, §1798.121): opt out of the sale and sharing of personal
    /// information (and of targeted advertising).
    OptOut,
}

/// Every right, in the order the API lists them.
pub const RIGHTS: [Right; 8] = [
    Right::Access,
    Right::Portability,
    Right::Erasure,
    Right::Rectification,
    Right::Restriction,
    Right::Objection,
    Right::WithdrawConsent,
    Right::OptOut,
];

impl Right {
    /// The snake_case name used in the API and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            Right::Access => "access",
            Right::Portability => "portability",
            Right::Erasure => "erasure",
            Right::Rectification => "rectification",
            Right::Restriction => "restriction",
            Right::Objection => "objection",
            Right::WithdrawConsent => "withdraw_consent",
            Right::OptOut => "opt_out",
        }
    }

    /// The request engine's kind, for the rights that run against the company's databases;
    /// `None` for those recorded in the consent ledger.
    pub fn plan_kind(self) -> Option<RequestKind> {
        match self {
            Right::Access => Some(RequestKind::Access),
            Right::Portability => Some(RequestKind::Portability),
            Right::Erasure => Some(RequestKind::Erasure),
            Right::Rectification => Some(RequestKind::Rectification),
            Right::Restriction => Some(RequestKind::Restriction),
            Right::Objection | Right::WithdrawConsent | Right::OptOut => None,
        }
    }

    /// Whether the person must prove who they are before the request runs. Withdrawing
    /// consent must be as easy as giving it (GDPR Art. 7(3)), and a CCPA opt-out need not be
    /// a verifiable request (Regs. §7026(d)); both only take something away from the company.
    /// An objection stops processing the same way. The others disclose or change data.
    pub fn needs_verification(self) -> bool {
        self.plan_kind().is_some()
    }
}

impl From<RequestKind> for Right {
    fn from(kind: RequestKind) -> Self {
        match kind {
            RequestKind::Access => Right::Access,
            RequestKind::Portability => Right::Portability,
            RequestKind::Erasure => Right::Erasure,
            RequestKind::Rectification => Right::Rectification,
            RequestKind::Restriction => Right::Restriction,
        }
    }
}

impl fmt::Display for Right {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Right {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RIGHTS
            .iter()
            .copied()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownName(s.to_string()))
    }
}

/// A name that is not one of a fixed set (state, regime, kind).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unknown name `{0}`")]
pub struct UnknownName(pub String);
