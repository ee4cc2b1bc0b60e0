//! Diagnostics: what `pledge check` reports, from a syntax error to a lint finding, with the
//! place in the source it is about.

use crate::source::Span;
use serde::Serialize;

/// How serious a diagnostic is. Ordered: `Info < Warning < Error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

impl std::str::FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "info" => Ok(Severity::Info),
            "warning" => Ok(Severity::Warning),
            "error" => Ok(Severity::Error),
            _ => Err(format!("`{s}` is not a severity (info, warning, error)")),
        }
    }
}

/// One thing to tell the user.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// A stable code: a lint rule id such as `PLG-TRANSFER-INVALID`, or `invalid` for
    /// declarations that cannot be read.
    pub code: String,
    pub message: String,
    pub span: Option<Span>,
    /// What to do about it.
    pub help: Option<String>,
    /// The legal source the finding rests on, e.g. "GDPR Art. 13(1)(f)".
    pub source: Option<String>,
}

impl Diagnostic {
    /// A problem that makes the declaration unreadable or inconsistent.
    pub fn invalid(span: Option<Span>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            code: INVALID.to_string(),
            message: message.into(),
            span,
            help: None,
            source: None,
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

/// The code of diagnostics that stop a declaration from loading.
pub const INVALID: &str = "invalid";
