//! The built-in taxonomy of personal data categories. Every category maps to a W3C DPV term
//! (`pd:` personal data vocabulary) so that machine-readable notices speak a shared language,
//! and carries the legal flags that lint rules need (GDPR Art. 9 and 10, CCPA "sensitive").

use crate::types::CategoryId;

/// How the law treats a category beyond ordinary personal data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sensitivity {
    /// A special category of GDPR Art. 9(1): needs an Art. 9(2) condition.
    pub special: bool,
    /// Criminal convictions and offences, GDPR Art. 10.
    pub criminal: bool,
    /// "Sensitive personal information" of CCPA § 1798.140(ae): gives the right to limit.
    pub ccpa_sensitive: bool,
}

const NONE: Sensitivity = Sensitivity {
    special: false,
    criminal: false,
    ccpa_sensitive: false,
};
const ART9: Sensitivity = Sensitivity {
    special: true,
    criminal: false,
    ccpa_sensitive: true,
};
const ART10: Sensitivity = Sensitivity {
    special: false,
    criminal: true,
    ccpa_sensitive: false,
};
const CCPA: Sensitivity = Sensitivity {
    special: false,
    criminal: false,
    ccpa_sensitive: true,
};

/// One built-in category.
#[derive(Debug, Clone, Copy)]
pub struct BuiltinCategory {
    pub id: &'static str,
    pub label: &'static str,
    /// The DPV term, as `pd:Term` or `dpv:Term`.
    pub dpv: &'static str,
    pub sensitivity: Sensitivity,
}

macro_rules! categories {
    ($(($id:literal, $label:literal, $dpv:literal, $sens:ident)),* $(,)?) => {
        /// Every built-in category; parents come before their children.
        pub const BUILTIN: &[BuiltinCategory] = &[
            $(BuiltinCategory { id: $id, label: $label, dpv: $dpv, sensitivity: $sens }),*
        ];
    };
}

categories![
    ("identity", "Identity", "pd:Identifying", NONE),
    ("identity.name", "Name", "pd:Name", NONE),
    ("identity.username", "User name", "pd:Username", NONE),
    (
        "identity.user_id",
        "User or customer identifier",
        "pd:UID",
        NONE
    ),
    (
        "identity.date_of_birth",
        "Date of birth",
        "pd:BirthDate",
        NONE
    ),
    ("identity.age", "Age", "pd:Age", NONE),
    ("identity.gender", "Gender", "pd:Gender", NONE),
    (
        "identity.nationality",
        "Nationality",
        "pd:Nationality",
        NONE
    ),
    (
        "identity.government_id",
        "Government identifier (passport, national ID, tax number)",
        "pd:OfficialID",
        CCPA
    ),
    ("identity.signature", "Signature", "pd:Identifying", NONE),
    (
        "identity.picture",
        "Photograph or image of the person",
        "pd:Picture",
        NONE
    ),
    ("contact", "Contact details", "pd:Contact", NONE),
    ("contact.email", "E-mail address", "pd:EmailAddress", NONE),
    (
        "contact.phone",
        "Telephone number",
        "pd:TelephoneNumber",
        NONE
    ),
    (
        "contact.address",
        "Postal address",
        "pd:PhysicalAddress",
        NONE
    ),
    (
        "contact.social_media",
        "Social media handle",
        "pd:SocialMedia",
        NONE
    ),
    ("account", "Account data", "pd:Identifying", NONE),
    (
        "account.credentials",
        "Log-in credentials (password, security answers)",
        "pd:Password",
        CCPA
    ),
    (
        "account.settings",
        "Account settings and preferences",
        "pd:Preference",
        NONE
    ),
    ("professional", "Professional data", "pd:Professional", NONE),
    (
        "professional.employer",
        "Employer and company",
        "pd:CurrentEmployment",
        NONE
    ),
    (
        "professional.job_title",
        "Job title and role",
        "pd:Job",
        NONE
    ),
    (
        "professional.history",
        "Employment history and CV",
        "pd:EmploymentHistory",
        NONE
    ),
    (
        "professional.performance",
        "Work performance",
        "pd:PerformanceAtWork",
        NONE
    ),
    (
        "professional.salary",
        "Salary and compensation",
        "pd:Salary",
        NONE
    ),
    (
        "education",
        "Education and qualifications",
        "pd:Education",
        NONE
    ),
    ("financial", "Financial data", "pd:Financial", NONE),
    (
        "financial.bank_account",
        "Bank account details",
        "pd:BankAccount",
        CCPA
    ),
    (
        "financial.card",
        "Payment card details",
        "pd:PaymentCardNumber",
        CCPA
    ),
    (
        "financial.credit",
        "Credit standing and score",
        "pd:CreditWorthiness",
        NONE
    ),
    ("financial.income", "Income", "pd:Income", NONE),
    ("financial.tax", "Tax data", "pd:Tax", NONE),
    (
        "transaction",
        "Transactions and purchases",
        "pd:Transactional",
        NONE
    ),
    (
        "transaction.purchase",
        "Purchase history",
        "pd:Purchase",
        NONE
    ),
    (
        "transaction.invoice",
        "Invoices and billing records",
        "pd:Transaction",
        NONE
    ),
    ("online", "Online identifiers", "pd:External", NONE),
    ("online.ip_address", "IP address", "pd:IPAddress", NONE),
    (
        "online.cookie_id",
        "Cookie and advertising identifiers",
        "pd:Tracking",
        NONE
    ),
    (
        "online.user_agent",
        "Browser user agent",
        "pd:UserAgent",
        NONE
    ),
    (
        "online.browsing",
        "Browsing and usage behaviour",
        "pd:BrowsingBehaviour",
        NONE
    ),
    (
        "online.fingerprint",
        "Browser or device fingerprint",
        "pd:BrowserFingerprint",
        NONE
    ),
    ("device", "Device data", "pd:DeviceBased", NONE),
    (
        "device.identifier",
        "Device identifier (IMEI, MAC, advertising ID)",
        "pd:MACAddress",
        NONE
    ),
    (
        "device.software",
        "Device software and operating system",
        "pd:DeviceSoftware",
        NONE
    ),
    (
        "device.crash_report",
        "Crash and diagnostic reports",
        "pd:DeviceBased",
        NONE
    ),
    ("location", "Location", "pd:Location", NONE),
    (
        "location.approximate",
        "Approximate location (country, city, from IP)",
        "pd:Geographic",
        NONE
    ),
    (
        "location.precise",
        "Precise geolocation (GPS)",
        "pd:GPSCoordinate",
        CCPA
    ),
    (
        "behavior",
        "Behaviour and preferences",
        "pd:Behavioural",
        NONE
    ),
    (
        "behavior.usage",
        "Product usage and interactions",
        "pd:ServiceConsumptionBehaviour",
        NONE
    ),
    (
        "behavior.preference",
        "Interests and preferences",
        "pd:Preference",
        NONE
    ),
    (
        "behavior.profile",
        "Profile and inferences",
        "pd:Profile",
        NONE
    ),
    (
        "behavior.marketing_preference",
        "Marketing and privacy preferences",
        "pd:PrivacyPreference",
        NONE
    ),
    ("communication", "Communications", "pd:Communication", NONE),
    (
        "communication.message",
        "Content of messages, e-mails and chats",
        "pd:EmailContent",
        CCPA
    ),
    (
        "communication.metadata",
        "Communications metadata (call logs, message headers)",
        "pd:CommunicationsMetadata",
        NONE
    ),
    (
        "communication.support",
        "Support requests and correspondence",
        "pd:Communication",
        NONE
    ),
    (
        "content",
        "Content provided by the person",
        "pd:Communication",
        NONE
    ),
    (
        "content.recording",
        "Audio or video recordings",
        "pd:VoiceCommunicationRecording",
        NONE
    ),
    (
        "content.image",
        "Images and screenshots",
        "pd:Picture",
        NONE
    ),
    (
        "content.document",
        "Documents and files",
        "pd:PersonalDocuments",
        NONE
    ),
    (
        "content.feedback",
        "Feedback, reviews, survey answers and testimonials",
        "pd:Opinion",
        NONE
    ),
    ("social", "Social and family data", "pd:Social", NONE),
    (
        "social.family",
        "Family and relationships",
        "pd:Family",
        NONE
    ),
    (
        "social.network",
        "Social network and contacts",
        "pd:SocialNetwork",
        NONE
    ),
    ("vehicle", "Vehicle data", "pd:Vehicle", NONE),
    (
        "special",
        "Special categories (Art. 9)",
        "dpv:SpecialCategoryPersonalData",
        ART9
    ),
    (
        "special.racial_ethnic",
        "Racial or ethnic origin",
        "pd:EthnicOrigin",
        ART9
    ),
    (
        "special.political",
        "Political opinions",
        "pd:PoliticalOpinion",
        ART9
    ),
    (
        "special.religious",
        "Religious or philosophical beliefs",
        "pd:ReligiousBelief",
        ART9
    ),
    (
        "special.trade_union",
        "Trade union membership",
        "pd:TradeUnionMembership",
        ART9
    ),
    ("special.genetic", "Genetic data", "pd:Genetic", ART9),
    (
        "special.biometric",
        "Biometric data for identification",
        "pd:Biometric",
        ART9
    ),
    ("special.health", "Health data", "pd:Health", ART9),
    (
        "special.sex_life",
        "Sex life or sexual orientation",
        "pd:SexualPreference",
        ART9
    ),
    (
        "criminal",
        "Criminal convictions and offences (Art. 10)",
        "pd:Criminal",
        ART10
    ),
];

/// The built-in category with this id.
pub fn builtin(id: &str) -> Option<&'static BuiltinCategory> {
    BUILTIN.iter().find(|c| c.id == id)
}

/// The full IRI of a DPV term written as `pd:Term` or `dpv:Term`.
pub fn dpv_iri(term: &str) -> String {
    match term.split_once(':') {
        Some(("pd", t)) => format!("https://w3id.org/dpv/pd#{t}"),
        Some(("dpv", t)) => format!("https://w3id.org/dpv#{t}"),
        Some(("eu-gdpr", t)) => format!("https://w3id.org/dpv/legal/eu/gdpr#{t}"),
        _ => term.to_string(),
    }
}

/// Whether the id names a built-in category (used for parent look-ups of custom categories).
pub fn is_builtin(id: &CategoryId) -> bool {
    builtin(id.as_str()).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents_come_first_and_exist() {
        for (i, c) in BUILTIN.iter().enumerate() {
            if let Some((parent, _)) = c.id.rsplit_once('.') {
                let at = BUILTIN.iter().position(|p| p.id == parent);
                assert!(at.is_some_and(|p| p < i), "{} has no earlier parent", c.id);
            }
        }
    }

    #[test]
    fn ids_are_unique_and_valid() {
        let mut seen = std::collections::HashSet::new();
        for c in BUILTIN {
            assert!(seen.insert(c.id), "{} twice", c.id);
            assert!(c.id.parse::<CategoryId>().is_ok());
        }
    }

    #[test]
    fn special_categories_are_flagged() {
        assert!(builtin("special.health").unwrap().sensitivity.special);
        assert!(!builtin("contact.email").unwrap().sensitivity.special);
        assert!(builtin("criminal").unwrap().sensitivity.criminal);
    }
}
