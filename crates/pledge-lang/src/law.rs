//! Facts of the law that rules and renderers share: who is in the EEA, which countries have
//! an adequacy decision, what each right and legal basis is called and where it is written.

use crate::model::{
    AutomatedDecisionException, Basis, ConsentMechanism, CookieCategory, Derogation, MeasureKind,
    RecipientRole, Regime, RequirementKind, Right, SourceKind, SpecialCondition, TrackerKind,
    TransferMechanism,
};
use crate::types::{CategoryId, CountryCode, IsoDuration};

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

/// Plain-words explanations for notices and records. Everything here is English; the codes
/// (`variant_name`) sit beside these texts in the notice view so that a translated template
/// can choose its own words.
impl Basis {
    /// What the basis means for the person, in one sentence.
    pub fn explanation(self) -> &'static str {
        match self {
            Basis::Consent => {
                "You agreed to it. You may withdraw your consent at any time; what we did before you withdrew stays lawful."
            }
            Basis::Contract => {
                "We need it to carry out a contract with you, or to take steps you asked for before entering into one."
            }
            Basis::LegalObligation => "A law we are subject to requires it.",
            Basis::VitalInterests => {
                "It is needed to protect the life or physical safety of you or another person."
            }
            Basis::PublicTask => {
                "It is needed for a task carried out in the public interest or in the exercise of official authority vested in us."
            }
            Basis::LegitimateInterests => {
                "It is necessary for a legitimate interest of ours or of a third party, and we have weighed that interest against your interests, rights and freedoms."
            }
        }
    }

    /// Whether the person may object to processing on this basis (GDPR Art. 21(1)).
    pub fn objectable(self) -> bool {
        matches!(self, Basis::LegitimateInterests | Basis::PublicTask)
    }

    /// Whether processing on this basis gives the right to data portability (GDPR Art. 20(1)).
    pub fn portable(self) -> bool {
        matches!(self, Basis::Consent | Basis::Contract)
    }
}

impl SpecialCondition {
    pub fn label(self) -> &'static str {
        match self {
            SpecialCondition::ExplicitConsent => "your explicit consent",
            SpecialCondition::Employment => {
                "obligations and rights in employment and social security law"
            }
            SpecialCondition::VitalInterests => {
                "protecting vital interests where you cannot give consent"
            }
            SpecialCondition::NotForProfitBody => {
                "the legitimate activities of a not-for-profit body, for its members"
            }
            SpecialCondition::MadePublic => "data you have manifestly made public yourself",
            SpecialCondition::LegalClaims => "establishing, exercising or defending legal claims",
            SpecialCondition::SubstantialPublicInterest => {
                "reasons of substantial public interest laid down by law"
            }
            SpecialCondition::HealthCare => {
                "preventive or occupational medicine, medical diagnosis or health or social care"
            }
            SpecialCondition::PublicHealth => "reasons of public interest in public health",
            SpecialCondition::Archiving => {
                "archiving in the public interest, research or statistics"
            }
        }
    }

    pub fn article(self) -> &'static str {
        match self {
            SpecialCondition::ExplicitConsent => "GDPR Art. 9(2)(a)",
            SpecialCondition::Employment => "GDPR Art. 9(2)(b)",
            SpecialCondition::VitalInterests => "GDPR Art. 9(2)(c)",
            SpecialCondition::NotForProfitBody => "GDPR Art. 9(2)(d)",
            SpecialCondition::MadePublic => "GDPR Art. 9(2)(e)",
            SpecialCondition::LegalClaims => "GDPR Art. 9(2)(f)",
            SpecialCondition::SubstantialPublicInterest => "GDPR Art. 9(2)(g)",
            SpecialCondition::HealthCare => "GDPR Art. 9(2)(h)",
            SpecialCondition::PublicHealth => "GDPR Art. 9(2)(i)",
            SpecialCondition::Archiving => "GDPR Art. 9(2)(j)",
        }
    }

    /// The W3C DPV term of the condition.
    pub fn dpv(self) -> &'static str {
        match self {
            SpecialCondition::ExplicitConsent => "eu-gdpr:A9-2-a",
            SpecialCondition::Employment => "eu-gdpr:A9-2-b",
            SpecialCondition::VitalInterests => "eu-gdpr:A9-2-c",
            SpecialCondition::NotForProfitBody => "eu-gdpr:A9-2-d",
            SpecialCondition::MadePublic => "eu-gdpr:A9-2-e",
            SpecialCondition::LegalClaims => "eu-gdpr:A9-2-f",
            SpecialCondition::SubstantialPublicInterest => "eu-gdpr:A9-2-g",
            SpecialCondition::HealthCare => "eu-gdpr:A9-2-h",
            SpecialCondition::PublicHealth => "eu-gdpr:A9-2-i",
            SpecialCondition::Archiving => "eu-gdpr:A9-2-j",
        }
    }
}

impl Right {
    /// A short heading: "Access", "Erasure".
    pub fn title(self) -> &'static str {
        match self {
            Right::Access => "Access",
            Right::Rectification => "Rectification",
            Right::Erasure => "Erasure",
            Right::Restriction => "Restriction",
            Right::Objection => "Objection",
            Right::Portability => "Portability",
            Right::WithdrawConsent => "Withdrawing consent",
            Right::Complaint => "Complaint",
            Right::HumanReview => "Human review",
            Right::OptOutOfSale => "Opting out of sale and sharing",
            Right::LimitSensitive => "Limiting sensitive information",
            Right::NonDiscrimination => "Non-discrimination",
        }
    }

    /// What the right lets the person do, in plain words.
    pub fn description(self) -> &'static str {
        match self {
            Right::Access => {
                "Ask whether we process data about you and receive a copy of it, with the purposes, recipients, retention and source."
            }
            Right::Rectification => {
                "Have inaccurate data about you corrected and incomplete data completed."
            }
            Right::Erasure => {
                "Have data about you deleted, for example when we no longer need it, when you withdraw consent or object, or when it was processed unlawfully. We may keep what a law obliges us to keep."
            }
            Right::Restriction => {
                "Have us keep data but not otherwise use it, for example while we check its accuracy or an objection you made."
            }
            Right::Objection => {
                "Object, for reasons relating to your situation, to processing we base on legitimate interests or a public task; we then stop unless we have compelling legitimate grounds or need the data for legal claims. You may object to direct marketing at any time, and we will then stop without exception."
            }
            Right::Portability => {
                "Receive the data you gave us in a structured, commonly used, machine-readable format, or have it sent to another organisation, where we process it on the basis of consent or a contract by automated means."
            }
            Right::WithdrawConsent => {
                "Withdraw a consent at any time, as easily as you gave it. Withdrawal does not make earlier processing unlawful."
            }
            Right::Complaint => {
                "Lodge a complaint with a data protection supervisory authority, in particular in the country where you live or work or where you believe the infringement took place."
            }
            Right::HumanReview => {
                "Not be subject to a decision based solely on automated processing that significantly affects you, or where such a decision is allowed, obtain human intervention, express your point of view and contest the decision."
            }
            Right::OptOutOfSale => {
                "Tell us not to sell your personal information or share it for cross-context behavioural advertising."
            }
            Right::LimitSensitive => {
                "Tell us to use sensitive personal information only for what is necessary to provide the goods or services you ask for."
            }
            Right::NonDiscrimination => {
                "Exercise these rights without being denied goods or services, charged a different price or given a different quality of service."
            }
        }
    }

    /// The W3C DPV term of the right, where DPV has one (it has the GDPR's, not the CCPA's).
    pub fn dpv(self) -> Option<&'static str> {
        Some(match self {
            Right::Access => "eu-gdpr:A15",
            Right::Rectification => "eu-gdpr:A16",
            Right::Erasure => "eu-gdpr:A17",
            Right::Restriction => "eu-gdpr:A18",
            Right::Portability => "eu-gdpr:A20",
            Right::Objection => "eu-gdpr:A21",
            Right::HumanReview => "eu-gdpr:A22",
            Right::WithdrawConsent => "eu-gdpr:A7-3",
            Right::Complaint => "eu-gdpr:A77",
            Right::OptOutOfSale | Right::LimitSensitive | Right::NonDiscrimination => return None,
        })
    }

    /// Whether the right comes from the CCPA rather than the GDPR.
    pub fn is_ccpa(self) -> bool {
        matches!(
            self,
            Right::OptOutOfSale | Right::LimitSensitive | Right::NonDiscrimination
        )
    }

    /// The name the CCPA gives the right, where it has its own name for it.
    pub fn ccpa_label(self) -> Option<&'static str> {
        Some(match self {
            Right::Access => "the right to know (§ 1798.100, 1798.110, 1798.115)",
            Right::Erasure => "the right to delete (§ 1798.105)",
            Right::Rectification => "the right to correct (§ 1798.106)",
            Right::OptOutOfSale => "the right to opt out of sale or sharing (§ 1798.120)",
            Right::LimitSensitive => {
                "the right to limit use and disclosure of sensitive personal information (§ 1798.121)"
            }
            Right::NonDiscrimination => "the right to non-discrimination (§ 1798.125)",
            _ => return None,
        })
    }
}

impl TransferMechanism {
    /// The W3C DPV term of the mechanism; none for the invalidated ones and `none`.
    pub fn dpv(self) -> Option<&'static str> {
        Some(match self {
            TransferMechanism::Adequacy | TransferMechanism::Dpf => "eu-gdpr:AdequacyDecision",
            TransferMechanism::Scc => "eu-gdpr:StandardContractualClauses",
            TransferMechanism::Bcr => "eu-gdpr:BindingCorporateRules",
            TransferMechanism::Certification => "eu-gdpr:CertificationMechanismsForDataTransfers",
            TransferMechanism::CodeOfConduct => "eu-gdpr:CodesOfConductForDataTransfers",
            TransferMechanism::AdHocClauses => "eu-gdpr:AdHocContractualClauses",
            TransferMechanism::Derogation => "dpv:DataTransferLegalBasis",
            TransferMechanism::PrivacyShield
            | TransferMechanism::SafeHarbor
            | TransferMechanism::None => return None,
        })
    }

    /// Whether the mechanism is an "appropriate safeguard" of Art. 46 or 47, of which the
    /// person may obtain a copy (Art. 13(1)(f)).
    pub fn has_copy(self) -> bool {
        matches!(
            self,
            TransferMechanism::Scc
                | TransferMechanism::Bcr
                | TransferMechanism::Certification
                | TransferMechanism::CodeOfConduct
                | TransferMechanism::AdHocClauses
        )
    }

    /// Whether the mechanism is no longer (or never was) a lawful basis for a transfer.
    pub fn is_invalid(self) -> bool {
        matches!(
            self,
            TransferMechanism::PrivacyShield
                | TransferMechanism::SafeHarbor
                | TransferMechanism::None
        )
    }
}

impl Derogation {
    pub fn label(self) -> &'static str {
        match self {
            Derogation::ExplicitConsent => {
                "your explicit consent to the transfer, after being told of its risks"
            }
            Derogation::ContractWithSubject => {
                "the transfer is necessary for a contract with you or steps you asked for before one"
            }
            Derogation::ContractInSubjectsInterest => {
                "the transfer is necessary for a contract concluded in your interest"
            }
            Derogation::PublicInterest => "important reasons of public interest",
            Derogation::LegalClaims => "establishing, exercising or defending legal claims",
            Derogation::VitalInterests => {
                "protecting vital interests where you cannot give consent"
            }
            Derogation::PublicRegister => "the transfer is made from a public register",
        }
    }

    pub fn article(self) -> &'static str {
        match self {
            Derogation::ExplicitConsent => "GDPR Art. 49(1)(a)",
            Derogation::ContractWithSubject => "GDPR Art. 49(1)(b)",
            Derogation::ContractInSubjectsInterest => "GDPR Art. 49(1)(c)",
            Derogation::PublicInterest => "GDPR Art. 49(1)(d)",
            Derogation::LegalClaims => "GDPR Art. 49(1)(e)",
            Derogation::VitalInterests => "GDPR Art. 49(1)(f)",
            Derogation::PublicRegister => "GDPR Art. 49(1)(g)",
        }
    }

    pub fn dpv(self) -> &'static str {
        match self {
            Derogation::ExplicitConsent => "eu-gdpr:A49-1-a",
            Derogation::ContractWithSubject => "eu-gdpr:A49-1-b",
            Derogation::ContractInSubjectsInterest => "eu-gdpr:A49-1-c",
            Derogation::PublicInterest => "eu-gdpr:A49-1-d",
            Derogation::LegalClaims => "eu-gdpr:A49-1-e",
            Derogation::VitalInterests => "eu-gdpr:A49-1-f",
            Derogation::PublicRegister => "eu-gdpr:A49-1-g",
        }
    }
}

impl RecipientRole {
    pub fn label(self) -> &'static str {
        match self {
            RecipientRole::Processor => "processor acting on our instructions",
            RecipientRole::IndependentController => "independent controller",
            RecipientRole::JointController => "joint controller with us",
            RecipientRole::GroupCompany => "company of our group",
            RecipientRole::Authority => "public authority",
            RecipientRole::Category => "category of recipients",
        }
    }

    /// The W3C DPV class of such a recipient.
    pub fn dpv(self) -> &'static str {
        match self {
            RecipientRole::Processor => "dpv:DataProcessor",
            RecipientRole::IndependentController => "dpv:DataController",
            RecipientRole::JointController => "dpv:JointDataControllers",
            RecipientRole::GroupCompany => "dpv:ThirdParty",
            RecipientRole::Authority => "dpv:Authority",
            RecipientRole::Category => "dpv:Recipient",
        }
    }
}

impl SourceKind {
    pub fn label(self) -> &'static str {
        match self {
            SourceKind::Subject => "from you",
            SourceKind::Observed => "from your use of our services",
            SourceKind::ThirdParty => "from a third party",
            SourceKind::Public => "from publicly accessible sources",
            SourceKind::Customer => "from our customer",
        }
    }

    /// Whether the data is not obtained from the person, so that GDPR Art. 14 applies.
    pub fn is_indirect(self) -> bool {
        matches!(
            self,
            SourceKind::ThirdParty | SourceKind::Public | SourceKind::Customer
        )
    }

    pub fn dpv(self) -> &'static str {
        match self {
            SourceKind::Subject | SourceKind::Observed => "dpv:DataSubjectDataSource",
            SourceKind::ThirdParty | SourceKind::Customer => "dpv:ThirdPartyDataSource",
            SourceKind::Public => "dpv:PublicDataSource",
        }
    }
}

impl RequirementKind {
    /// Completes "Providing this data is ...".
    pub fn label(self) -> &'static str {
        match self {
            RequirementKind::Statutory => "required by law",
            RequirementKind::Contractual => "required by our contract with you",
            RequirementKind::ContractPrerequisite => "needed to enter into a contract with us",
            RequirementKind::Voluntary => "voluntary: you are not obliged to provide it",
        }
    }
}

impl AutomatedDecisionException {
    pub fn label(self) -> &'static str {
        match self {
            AutomatedDecisionException::Contract => {
                "necessary to enter into or perform a contract with you (GDPR Art. 22(2)(a))"
            }
            AutomatedDecisionException::Law => {
                "authorised by a law that lays down safeguards (GDPR Art. 22(2)(b))"
            }
            AutomatedDecisionException::ExplicitConsent => {
                "based on your explicit consent (GDPR Art. 22(2)(c))"
            }
        }
    }
}

impl ConsentMechanism {
    /// How consent is asked, completing "Consent is obtained by ...".
    pub fn label(self) -> &'static str {
        match self {
            ConsentMechanism::OptIn => {
                "a clear affirmative act of yours, such as ticking an empty box or pressing an \"accept\" button"
            }
            ConsentMechanism::PreTicked => "a box that is ticked in advance",
            ConsentMechanism::ContinuedUse => "your continued use of the site or service",
            ConsentMechanism::OptOut => "assuming agreement unless you object",
            ConsentMechanism::BrowserSettings => "your browser settings",
        }
    }
}

impl CookieCategory {
    pub fn label(self) -> &'static str {
        match self {
            CookieCategory::StrictlyNecessary => "Strictly necessary",
            CookieCategory::Security => "Security",
            CookieCategory::Preferences => "Preferences",
            CookieCategory::Analytics => "Analytics",
            CookieCategory::Advertising => "Advertising",
            CookieCategory::SocialMedia => "Social media",
        }
    }

    pub fn explanation(self) -> &'static str {
        match self {
            CookieCategory::StrictlyNecessary => {
                "Needed to provide the service you ask for, such as keeping you signed in or remembering your basket. They do not need your consent."
            }
            CookieCategory::Security => {
                "Protect you and the service, for example against fraudulent sign-ins. Where strictly necessary for the service they do not need your consent."
            }
            CookieCategory::Preferences => "Remember choices you make, such as your language.",
            CookieCategory::Analytics => {
                "Count visits and show how the site is used, so that it can be improved."
            }
            CookieCategory::Advertising => {
                "Show or measure advertising, on this site or elsewhere."
            }
            CookieCategory::SocialMedia => {
                "Let you share content on social networks, which may then follow your browsing."
            }
        }
    }
}

impl TrackerKind {
    pub fn label(self) -> &'static str {
        match self {
            TrackerKind::Cookie => "cookie",
            TrackerKind::LocalStorage => "local storage",
            TrackerKind::SessionStorage => "session storage",
            TrackerKind::Pixel => "pixel (web beacon)",
            TrackerKind::Sdk => "third-party script or SDK",
            TrackerKind::Fingerprint => "device fingerprinting",
        }
    }
}

impl MeasureKind {
    pub fn label(self) -> &'static str {
        match self {
            MeasureKind::EncryptionAtRest => "Encryption of stored data",
            MeasureKind::EncryptionInTransit => "Encryption of data in transit",
            MeasureKind::AccessControl => "Access on a need-to-know basis",
            MeasureKind::MultiFactorAuthentication => "Multi-factor authentication",
            MeasureKind::Pseudonymisation => "Pseudonymisation",
            MeasureKind::Anonymisation => "Anonymisation",
            MeasureKind::IpTruncation => "Shortening of IP addresses",
            MeasureKind::Logging => "Logging and monitoring of access",
            MeasureKind::Backups => "Backups",
            MeasureKind::StaffTraining => "Staff training",
            MeasureKind::ConfidentialityAgreements => "Confidentiality undertakings",
            MeasureKind::PenetrationTesting => "Penetration testing",
            MeasureKind::Certification => "Security certification",
            MeasureKind::IncidentResponse => "Incident response procedures",
            MeasureKind::DataMinimisation => "Data minimisation",
            MeasureKind::PhysicalSecurity => "Physical security",
            MeasureKind::Other => "Other measure",
        }
    }

    /// The W3C DPV term of the measure.
    pub fn dpv(self) -> &'static str {
        match self {
            MeasureKind::EncryptionAtRest => "dpv:EncryptionAtRest",
            MeasureKind::EncryptionInTransit => "dpv:EncryptionInTransfer",
            MeasureKind::AccessControl => "dpv:AccessControlMethod",
            MeasureKind::MultiFactorAuthentication => "dpv:MultiFactorAuthentication",
            MeasureKind::Pseudonymisation => "dpv:Pseudonymisation",
            MeasureKind::Anonymisation => "dpv:Anonymisation",
            MeasureKind::IpTruncation => "dpv:DataRedaction",
            MeasureKind::Logging => "dpv:ActivityMonitoring",
            MeasureKind::Backups => "dpv:DataBackupProtocols",
            MeasureKind::StaffTraining => "dpv:StaffTraining",
            MeasureKind::ConfidentialityAgreements => "dpv:ConfidentialityAgreement",
            MeasureKind::PenetrationTesting => "dpv:PenetrationTestingMethods",
            MeasureKind::Certification => "dpv:Certification",
            MeasureKind::IncidentResponse => "dpv:IncidentManagementProcedures",
            MeasureKind::DataMinimisation => "dpv:TechnicalOrganisationalMeasure",
            MeasureKind::PhysicalSecurity => "dpv:PhysicalAccessControlMethod",
            MeasureKind::Other => "dpv:TechnicalOrganisationalMeasure",
        }
    }
}

impl Regime {
    pub fn label(self) -> &'static str {
        match self {
            Regime::Gdpr => "the EU General Data Protection Regulation (GDPR)",
            Regime::UkGdpr => "the UK GDPR and the Data Protection Act 2018",
            Regime::Ccpa => "the California Consumer Privacy Act as amended by the CPRA (CCPA)",
        }
    }
}

/// The GDPR's time to answer a request (Art. 12(3)): one month from receipt.
pub const GDPR_RESPONSE: IsoDuration = IsoDuration::months(1);
/// The further months the GDPR allows for complex or numerous requests (Art. 12(3)).
pub const GDPR_EXTENSION: IsoDuration = IsoDuration::months(2);
/// The CCPA's time to answer a request to know, delete or correct (§ 1798.130(a)(2)).
pub const CCPA_RESPONSE: IsoDuration = IsoDuration::days(45);
/// The CCPA's one extension, with notice (§ 1798.130(a)(2)).
pub const CCPA_EXTENSION: IsoDuration = IsoDuration::days(45);
/// Business days within which a CCPA request must be acknowledged (CCPA Regulations § 7021).
pub const CCPA_CONFIRM_BUSINESS_DAYS: u32 = 10;

/// The categories of personal information the CCPA names (Cal. Civ. Code § 1798.140(v)(1)),
/// which a CCPA notice at collection lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CcpaCategory {
    Identifiers,
    CustomerRecords,
    ProtectedCharacteristics,
    Commercial,
    Biometric,
    NetworkActivity,
    Geolocation,
    Sensory,
    Professional,
    Education,
    Inferences,
    Other,
}

impl CcpaCategory {
    pub fn label(self) -> &'static str {
        match self {
            CcpaCategory::Identifiers => "Identifiers",
            CcpaCategory::CustomerRecords => "Customer records (Cal. Civ. Code § 1798.80(e))",
            CcpaCategory::ProtectedCharacteristics => {
                "Characteristics of protected classifications"
            }
            CcpaCategory::Commercial => "Commercial information",
            CcpaCategory::Biometric => "Biometric information",
            CcpaCategory::NetworkActivity => "Internet or other electronic network activity",
            CcpaCategory::Geolocation => "Geolocation data",
            CcpaCategory::Sensory => "Audio, electronic, visual or similar information",
            CcpaCategory::Professional => "Professional or employment-related information",
            CcpaCategory::Education => "Education information",
            CcpaCategory::Inferences => "Inferences drawn to create a profile",
            CcpaCategory::Other => "Other personal information",
        }
    }

    /// The CCPA category of a data category, by its nearest built-in ancestor's id.
    pub fn of(id: &CategoryId) -> CcpaCategory {
        let mut current = Some(id.clone());
        while let Some(c) = current {
            if let Some(found) = ccpa_category_of_builtin(c.as_str()) {
                return found;
            }
            current = c.parent();
        }
        CcpaCategory::Other
    }
}

fn ccpa_category_of_builtin(id: &str) -> Option<CcpaCategory> {
    use CcpaCategory::*;
    Some(match id {
        "identity.date_of_birth" | "identity.age" | "identity.gender" | "identity.nationality" => {
            ProtectedCharacteristics
        }
        "identity.signature" => CustomerRecords,
        "identity.picture" => Sensory,
        "identity" | "contact" | "account" | "online.ip_address" | "online.cookie_id"
        | "device.identifier" => Identifiers,
        "professional" => Professional,
        "education" => Education,
        "financial" | "communication.support" | "special.health" => CustomerRecords,
        "transaction" => Commercial,
        "online" | "device" | "communication.metadata" => NetworkActivity,
        "location" => Geolocation,
        "behavior.usage" => NetworkActivity,
        "behavior" => Inferences,
        "content.recording" | "content.image" => Sensory,
        "special.biometric" => Biometric,
        "special.racial_ethnic" | "special.religious" | "special.sex_life" => {
            ProtectedCharacteristics
        }
        _ => return None,
    })
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

    #[test]
    fn ccpa_categories_follow_the_nearest_builtin_ancestor() {
        let id = |s: &str| s.parse::<CategoryId>().unwrap();
        assert_eq!(
            CcpaCategory::of(&id("contact.email")),
            CcpaCategory::Identifiers
        );
        assert_eq!(
            CcpaCategory::of(&id("identity.age")),
            CcpaCategory::ProtectedCharacteristics
        );
        assert_eq!(
            CcpaCategory::of(&id("transaction.purchase.loyalty")),
            CcpaCategory::Commercial
        );
        assert_eq!(
            CcpaCategory::of(&id("location.precise")),
            CcpaCategory::Geolocation
        );
        assert_eq!(CcpaCategory::of(&id("criminal")), CcpaCategory::Other);
    }

    #[test]
    fn every_basis_and_right_has_words() {
        for b in [
            Basis::Consent,
            Basis::Contract,
            Basis::LegalObligation,
            Basis::VitalInterests,
            Basis::PublicTask,
            Basis::LegitimateInterests,
        ] {
            assert!(b.explanation().ends_with('.'));
        }
        assert!(Right::OptOutOfSale.dpv().is_none());
        assert_eq!(Right::Access.dpv(), Some("eu-gdpr:A15"));
    }
}
