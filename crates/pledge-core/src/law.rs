//! Facts of the law that rules and renderers share: who is in the EEA, which countries have
//! an adequacy decision, what each right and legal basis is called and where it is written.

use crate::model::{Basis, Right, TransferMechanism};
use crate::types::CountryCode;

/// EU member states and the three other EEA states (Iceland, Liechtenstein, Norway), to which
/// GDPR Chapter V does not apply.
const EEA: &[&str] = &[
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT", "LV",
    "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE", "IS", "LI", "NO", "EU",
];

/// Countries with a general adequacy decision of the European Commission under Art. 45 (or
/// Directive 95/46/EC Art. 25(6), kept in force by GDPR Art. 45(9)), as of 2026. Canada's
/// covers commercial organisations under PIPEDA. The United States are left out on purpose:
/// their decision (the Data Privacy Framework) covers only certified organisations, see
/// [`TransferMechanism::Dpf`].
const ADEQUATE: &[&str] = &[
    "AD", "AR", "CA", "CH", "FO", "GB", "GG", "IL", "IM", "JE", "JP", "KR", "NZ", "UY",
];

pub fn in_eea(country: CountryCode) -> bool {
    EEA.contains(&country.as_str())
}

/// Whether the Commission has found the country adequate (ignoring the partial US decision).
pub fn has_adequacy_decision(country: CountryCode) -> bool {
    ADEQUATE.contains(&country.as_str())
}

/// Whether sending data to this country is a transfer needing a Chapter V mechanism, beyond
/// an adequacy decision.
pub fn needs_safeguards(country: CountryCode) -> bool {
    !in_eea(country) && !has_adequacy_decision(country)
}

impl Basis {
    /// Plain-words name and the article.
    pub fn label(self) -> &'static str {
        match self {
            Basis::Consent => "consent",
            Basis::Contract => "performance of a contract",
            Basis::LegalObligation => "legal obligation",
            Basis::VitalInterests => "vital interests",
            Basis::PublicTask => "public task",
            Basis::LegitimateInterests => "legitimate interests",
        }
    }

    pub fn article(self) -> &'static str {
        match self {
            Basis::Consent => "GDPR Art. 6(1)(a)",
            Basis::Contract => "GDPR Art. 6(1)(b)",
            Basis::LegalObligation => "GDPR Art. 6(1)(c)",
            Basis::VitalInterests => "GDPR Art. 6(1)(d)",
            Basis::PublicTask => "GDPR Art. 6(1)(e)",
            Basis::LegitimateInterests => "GDPR Art. 6(1)(f)",
        }
    }

    /// The W3C DPV legal basis term.
    pub fn dpv(self) -> &'static str {
        match self {
            Basis::Consent => "eu-gdpr:A6-1-a",
            Basis::Contract => "eu-gdpr:A6-1-b",
            Basis::LegalObligation => "eu-gdpr:A6-1-c",
            Basis::VitalInterests => "eu-gdpr:A6-1-d",
            Basis::PublicTask => "eu-gdpr:A6-1-e",
            Basis::LegitimateInterests => "eu-gdpr:A6-1-f",
        }
    }
}

impl Right {
    /// The right as people know it: "the right of access".
    pub fn label(self) -> &'static str {
        match self {
            Right::Access => "the right of access",
            Right::Rectification => "the right to rectification",
            Right::Erasure => "the right to erasure",
            Right::Restriction => "the right to restriction of processing",
            Right::Objection => "the right to object",
            Right::Portability => "the right to data portability",
            Right::WithdrawConsent => "the right to withdraw consent",
            Right::Complaint => "the right to lodge a complaint with a supervisory authority",
            Right::HumanReview => "the right to human review of automated decisions",
            Right::OptOutOfSale => "the right to opt out of sale and sharing",
            Right::LimitSensitive => "the right to limit the use of sensitive personal information",
            Right::NonDiscrimination => "the right to non-discrimination",
        }
    }

    pub fn article(self) -> &'static str {
        match self {
            Right::Access => "GDPR Art. 15",
            Right::Rectification => "GDPR Art. 16",
            Right::Erasure => "GDPR Art. 17",
            Right::Restriction => "GDPR Art. 18",
            Right::Objection => "GDPR Art. 21",
            Right::Portability => "GDPR Art. 20",
            Right::WithdrawConsent => "GDPR Art. 7(3)",
            Right::Complaint => "GDPR Art. 77",
            Right::HumanReview => "GDPR Art. 22(3)",
            Right::OptOutOfSale => "CCPA § 1798.120",
            Right::LimitSensitive => "CCPA § 1798.121",
            Right::NonDiscrimination => "CCPA § 1798.125",
        }
    }
}

impl TransferMechanism {
    pub fn label(self) -> &'static str {
        match self {
            TransferMechanism::Adequacy => "adequacy decision (GDPR Art. 45)",
            TransferMechanism::Dpf => {
                "EU-US Data Privacy Framework (adequacy decision of 10 July 2023)"
            }
            TransferMechanism::Scc => "standard contractual clauses (GDPR Art. 46(2)(c))",
            TransferMechanism::Bcr => "binding corporate rules (GDPR Art. 47)",
            TransferMechanism::Certification => "approved certification (GDPR Art. 46(2)(f))",
            TransferMechanism::CodeOfConduct => "approved code of conduct (GDPR Art. 46(2)(e))",
            TransferMechanism::AdHocClauses => {
                "contractual clauses authorised by a supervisory authority (GDPR Art. 46(3)(a))"
            }
            TransferMechanism::Derogation => "derogation for a specific situation (GDPR Art. 49)",
            TransferMechanism::PrivacyShield => "EU-US Privacy Shield (invalid since 16 July 2020)",
            TransferMechanism::SafeHarbor => "Safe Harbour (invalid since 6 October 2015)",
            TransferMechanism::None => "no safeguard",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> CountryCode {
        s.parse().unwrap()
    }

    #[test]
    fn transfers_need_safeguards_outside_eea_and_adequacy() {
        assert!(!needs_safeguards(c("DE")));
        assert!(!needs_safeguards(c("NO")));
        assert!(!needs_safeguards(c("JP")));
        assert!(needs_safeguards(c("US")));
        assert!(needs_safeguards(c("IN")));
    }
}
