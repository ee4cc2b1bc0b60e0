//! The declaration model: what a company says about its processing of personal data.
//!
//! The types here are what a declaration file is decoded into (serde, through
//! [`crate::de`]) and what the JSON Schema is generated from (schemars), so the format, the
//! schema and the model cannot drift apart. Cross-references (a purpose naming a recipient,
//! a column naming a category) are checked by [`crate::load`], which is the only way to get a
//! [`crate::Declaration`].

use crate::source::Spanned;
use crate::types::*;
use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Lets a type that is normally a table also be written as one string, e.g.
/// `legal_bases = ["contract"]` for `legal_bases = [{ basis = "contract" }]`. The type derives
/// `Deserialize` with `#[serde(remote = "Self")]`, which gives the table form as an inherent
/// function; this adds the trait impl that also takes the string.
macro_rules! string_shorthand {
    ($ty:ident, $expecting:literal, |$s:ident| $from_str:expr) => {
        impl Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                // The inherent function derived with `remote = "Self"`.
                $ty::serialize(self, s)
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> serde::de::Visitor<'de> for V {
                    type Value = $ty;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_str<E: serde::de::Error>(self, $s: &str) -> Result<$ty, E> {
                        $from_str.map_err(E::custom)
                    }
                    fn visit_map<A: serde::de::MapAccess<'de>>(
                        self,
                        map: A,
                    ) -> Result<$ty, A::Error> {
                        $ty::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    }
                }
                d.deserialize_any(V)
            }
        }
    };
}

/// Adds the string form to the schema of a type with a string shorthand.
fn or_string(schema: &mut schemars::Schema) {
    let table = std::mem::take(schema);
    *schema = schemars::json_schema!({ "anyOf": [ { "type": "string" }, table ] });
}

/// Decode an enum variant name through serde, for the string forms of shorthand types.
fn variant<T: for<'de> Deserialize<'de>>(name: &str) -> Result<T, String> {
    use serde::de::IntoDeserializer;
    let d: serde::de::value::StrDeserializer<'_, crate::de::DecodeError> = name.into_deserializer();
    T::deserialize(d).map_err(|e| match e.help {
        Some(help) => format!("{}; {help}", e.message),
        None => e.message,
    })
}

/// The name a unit enum variant has in a declaration, e.g. `withdraw_consent`.
pub fn variant_name<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// The whole declaration of one controller, as written (after merging its files).
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Pledge declaration")]
pub struct DeclarationDoc {
    /// About the privacy notice itself and the laws that apply.
    #[serde(default)]
    pub policy: Option<Policy>,
    /// Who decides why and how personal data is processed (GDPR Art. 4(7)).
    #[serde(default)]
    pub controller: Option<Controller>,
    /// The authority people may complain to (GDPR Art. 13(2)(d), 77).
    #[serde(default)]
    pub supervisory_authority: Option<Authority>,
    /// How people exercise their rights.
    #[serde(default)]
    pub rights: Option<Rights>,
    /// California facts (CCPA as amended by the CPRA).
    #[serde(default)]
    pub ccpa: Option<Ccpa>,
    /// How consent to cookies and similar trackers is asked (ePrivacy Art. 5(3)).
    #[serde(default)]
    pub cookie_consent: Option<CookieConsent>,
    /// Groups of people whose data is processed.
    #[serde(default)]
    pub subjects: Vec<Subject>,
    /// Data categories of the company's own, each under a built-in parent.
    #[serde(default)]
    pub categories: Vec<CustomCategory>,
    /// The processing activities.
    #[serde(default)]
    pub purposes: Vec<Purpose>,
    /// Who receives personal data.
    #[serde(default)]
    pub recipients: Vec<Recipient>,
    /// Transfers to countries outside the EU/EEA (GDPR Chapter V).
    #[serde(default)]
    pub transfers: Vec<Transfer>,
    /// Cookies and similar trackers (pixels, local storage, SDKs).
    #[serde(default)]
    pub cookies: Vec<Cookie>,
    /// Technical and organisational security measures (GDPR Art. 32).
    #[serde(default)]
    pub security: Vec<SecurityMeasure>,
    /// The databases where personal data lives.
    #[serde(default)]
    pub datasets: Vec<Dataset>,
}

/// The names of the top-level sections, for merging files and for "did you mean".
pub const SECTIONS: &[&str] = &[
    "policy",
    "controller",
    "supervisory_authority",
    "rights",
    "ccpa",
    "cookie_consent",
    "subjects",
    "categories",
    "purposes",
    "recipients",
    "transfers",
    "cookies",
    "security",
    "datasets",
];

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Title of the notice, e.g. "Spektr privacy policy".
    #[serde(default)]
    pub title: Option<Spanned<String>>,
    /// Where the published notice lives.
    #[serde(default)]
    pub url: Option<Spanned<Url>>,
    /// The date from which this version applies.
    #[serde(default)]
    pub effective_date: Option<Spanned<Date>>,
    /// Laws the company declares itself subject to. Default: `["gdpr"]`.
    #[serde(default = "default_regimes")]
    pub regimes: Vec<Spanned<Regime>>,
    /// Laws and instruments the notice cites, as written (e.g. "Directive 95/46/EC").
    #[serde(default)]
    pub cites: Vec<Spanned<String>>,
    /// How people are told of changes to the notice.
    #[serde(default)]
    pub changes: Option<Spanned<String>>,
    /// Languages the notice is published in (BCP 47 tags).
    #[serde(default)]
    pub languages: Vec<Spanned<String>>,
}

fn default_regimes() -> Vec<Spanned<Regime>> {
    vec![Spanned::unspanned(Regime::Gdpr)]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Regime {
    /// EU General Data Protection Regulation 2016/679.
    Gdpr,
    /// The UK GDPR and Data Protection Act 2018.
    UkGdpr,
    /// California Consumer Privacy Act as amended by the CPRA.
    Ccpa,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Controller {
    pub name: Spanned<String>,
    /// Legal form, e.g. "ApS", "SAS", "Inc.".
    #[serde(default)]
    pub legal_form: Option<Spanned<String>>,
    /// Company registration, e.g. "CVR 12345678" or "RCS Paris 123 456 789".
    #[serde(default)]
    pub registration: Option<Spanned<String>>,
    #[serde(default)]
    pub address: Option<Spanned<String>>,
    /// Country of the main establishment.
    #[serde(default)]
    pub country: Option<Spanned<CountryCode>>,
    #[serde(default)]
    pub email: Option<Spanned<Email>>,
    #[serde(default)]
    pub phone: Option<Spanned<String>>,
    #[serde(default)]
    pub website: Option<Spanned<Url>>,
    /// A web form for privacy questions, where there is one.
    #[serde(default)]
    pub contact_form: Option<Spanned<Url>>,
    /// EU/UK representative of a controller established elsewhere (GDPR Art. 27).
    #[serde(default)]
    pub representative: Option<Party>,
    /// Data protection officer (GDPR Art. 37-39).
    #[serde(default)]
    pub dpo: Option<Party>,
    /// Group the controller belongs to, where group companies receive data.
    #[serde(default)]
    pub group: Option<Spanned<String>>,
}

/// A person or organisation with contact details.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Party {
    #[serde(default)]
    pub name: Option<Spanned<String>>,
    #[serde(default)]
    pub address: Option<Spanned<String>>,
    #[serde(default)]
    pub country: Option<Spanned<CountryCode>>,
    #[serde(default)]
    pub email: Option<Spanned<Email>>,
    #[serde(default)]
    pub phone: Option<Spanned<String>>,
    #[serde(default)]
    pub website: Option<Spanned<Url>>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Authority {
    pub name: Spanned<String>,
    #[serde(default)]
    pub country: Option<Spanned<CountryCode>>,
    #[serde(default)]
    pub address: Option<Spanned<String>>,
    #[serde(default)]
    pub email: Option<Spanned<Email>>,
    #[serde(default)]
    pub phone: Option<Spanned<String>>,
    #[serde(default)]
    pub website: Option<Spanned<Url>>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Rights {
    /// The rights the notice tells people about and the company honours.
    #[serde(default)]
    pub offered: Vec<Spanned<Right>>,
    /// Where to send a request: an e-mail address or a URL.
    #[serde(default)]
    pub contact: Option<Spanned<String>>,
    /// How the requester's identity is checked.
    #[serde(default)]
    pub verification: Option<Spanned<String>>,
    /// Promised answer time; GDPR Art. 12(3) allows at most one month (P1M).
    #[serde(default)]
    pub response_time: Option<Spanned<IsoDuration>>,
    /// Whether authorized agents may act for a person (CCPA).
    #[serde(default)]
    pub authorized_agents: bool,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Serialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Right {
    /// GDPR Art. 15; CCPA right to know.
    Access,
    /// GDPR Art. 16; CCPA right to correct.
    Rectification,
    /// GDPR Art. 17; CCPA right to delete.
    Erasure,
    /// GDPR Art. 18.
    Restriction,
    /// GDPR Art. 21.
    Objection,
    /// GDPR Art. 20.
    Portability,
    /// GDPR Art. 7(3).
    WithdrawConsent,
    /// GDPR Art. 77: lodge a complaint with a supervisory authority.
    Complaint,
    /// GDPR Art. 22: not to be subject to solely automated decisions.
    HumanReview,
    /// CCPA § 1798.120: opt out of sale and sharing.
    OptOutOfSale,
    /// CCPA § 1798.121: limit use of sensitive personal information.
    LimitSensitive,
    /// CCPA § 1798.125: no discrimination for exercising rights.
    NonDiscrimination,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Ccpa {
    /// Categories sold for money or other valuable consideration.
    #[serde(default)]
    pub sold: Vec<Spanned<CategoryId>>,
    /// Categories shared for cross-context behavioural advertising.
    #[serde(default)]
    pub shared: Vec<Spanned<CategoryId>>,
    /// Where the "Do Not Sell or Share My Personal Information" link points.
    #[serde(default)]
    pub opt_out_link: Option<Spanned<Url>>,
    /// Whether opt-out preference signals (Global Privacy Control) are honoured.
    #[serde(default)]
    pub honours_gpc: bool,
    /// Financial incentives offered for personal information, if any.
    #[serde(default)]
    pub financial_incentive: Option<Spanned<String>>,
    /// Whether the business has actual knowledge of selling data of people under 16.
    #[serde(default)]
    pub sells_minors: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CookieConsent {
    /// How consent is obtained.
    pub mechanism: Spanned<ConsentMechanism>,
    /// Whether refusing is as easy and prominent as accepting.
    #[serde(default)]
    pub reject_all: bool,
    /// How long a choice is kept before asking again (e.g. P13M).
    #[serde(default)]
    pub reask_after: Option<Spanned<IsoDuration>>,
    /// Whether a Global Privacy Control signal is honoured as a refusal.
    #[serde(default)]
    pub honours_gpc: bool,
}

/// How a consent is obtained. Only `opt_in` is consent under GDPR Art. 4(11) and 7.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConsentMechanism {
    /// A clear affirmative act: an unticked box, an "accept" button.
    OptIn,
    /// Pre-ticked boxes (CJEU C-673/17 Planet49: not consent).
    PreTicked,
    /// Taken from continuing to use the site or service (not consent).
    ContinuedUse,
    /// Assumed unless the person objects (not consent).
    OptOut,
    /// Inferred from browser settings (not consent: Recital 32, C-673/17).
    BrowserSettings,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Subject {
    pub id: Spanned<SubjectId>,
    pub name: Spanned<String>,
    #[serde(default)]
    pub description: Option<Spanned<String>>,
    /// Whether the group may include children (under 16, or the lower national age of
    /// GDPR Art. 8).
    #[serde(default)]
    pub children: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CustomCategory {
    /// The full id, e.g. `behavior.loyalty_tier`; everything before the last dot is the parent.
    pub id: Spanned<CategoryId>,
    pub name: Spanned<String>,
    #[serde(default)]
    pub description: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Purpose {
    pub id: Spanned<PurposeId>,
    pub name: Spanned<String>,
    #[serde(default)]
    pub description: Option<Spanned<String>>,
    /// Whether the company decides this processing (`controller`) or does it for its
    /// customers (`processor`, GDPR Art. 28; end users are sent to the customer).
    #[serde(default)]
    pub role: Role,
    #[serde(default)]
    pub subjects: Vec<Spanned<SubjectId>>,
    #[serde(default)]
    pub categories: Vec<Spanned<CategoryId>>,
    /// One or more bases of GDPR Art. 6(1); a string is shorthand for `{ basis = "..." }`.
    #[serde(default)]
    pub legal_bases: Vec<Spanned<LegalBasis>>,
    /// The condition of GDPR Art. 9(2) for special categories.
    #[serde(default)]
    pub special_condition: Option<Spanned<SpecialCondition>>,
    /// Where the data comes from; empty means from the person.
    #[serde(default)]
    pub sources: Vec<Spanned<Source>>,
    #[serde(default)]
    pub retention: Option<Spanned<Retention>>,
    #[serde(default)]
    pub recipients: Vec<Spanned<RecipientId>>,
    #[serde(default)]
    pub transfers: Vec<Spanned<TransferId>>,
    /// Solely automated decisions, including profiling (GDPR Art. 22).
    #[serde(default)]
    pub automated_decisions: Option<Spanned<AutomatedDecisions>>,
    /// Whether providing the data is required, and what happens if not (Art. 13(2)(e)).
    #[serde(default)]
    pub requirement: Option<Spanned<Requirement>>,
    /// Direct marketing: objection is absolute (Art. 21(2)-(3)).
    #[serde(default)]
    pub direct_marketing: bool,
    /// Profiling (Art. 4(4)) short of a solely automated decision.
    #[serde(default)]
    pub profiling: bool,
    /// Consent-based purposes: how long a consent counts before the person is asked again
    /// (e.g. P2Y). Absent: until withdrawn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent_expires_after: Option<Spanned<IsoDuration>>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    #[default]
    Controller,
    Processor,
}

#[derive(Debug, Clone, Serialize, JsonSchema, PartialEq, Deserialize)]
#[serde(remote = "Self", deny_unknown_fields)]
#[schemars(transform = or_string)]
pub struct LegalBasis {
    pub basis: Spanned<Basis>,
    /// Legitimate interests: the interest pursued, in plain words (Art. 13(1)(d)).
    #[serde(default)]
    pub interest: Option<Spanned<String>>,
    /// Legitimate interests: whether a balancing test is documented.
    #[serde(default)]
    pub balancing_test: Option<bool>,
    /// Legal obligation or public task: the law that requires it (Art. 6(3)).
    #[serde(default)]
    pub law: Option<Spanned<String>>,
    /// Consent: how it is obtained. Default `opt_in`.
    #[serde(default)]
    pub mechanism: Option<Spanned<ConsentMechanism>>,
    /// Consent: how it is withdrawn (Art. 7(3)), e.g. "unsubscribe link in every e-mail".
    #[serde(default)]
    pub withdrawal: Option<Spanned<String>>,
    /// Consent: whether it can be withdrawn. Default true; false is never lawful.
    #[serde(default)]
    pub withdrawable: Option<Spanned<bool>>,
}

string_shorthand!(
    LegalBasis,
    "a legal basis such as \"contract\", or a table",
    |s| {
        variant::<Basis>(s).map(|basis| LegalBasis {
            basis: Spanned::unspanned(basis),
            interest: None,
            balancing_test: None,
            law: None,
            mechanism: None,
            withdrawal: None,
            withdrawable: None,
        })
    }
);

/// GDPR Art. 6(1).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Serialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// Art. 6(1)(a).
    Consent,
    /// Art. 6(1)(b).
    Contract,
    /// Art. 6(1)(c).
    LegalObligation,
    /// Art. 6(1)(d).
    VitalInterests,
    /// Art. 6(1)(e).
    PublicTask,
    /// Art. 6(1)(f).
    LegitimateInterests,
}

/// GDPR Art. 9(2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SpecialCondition {
    /// (a)
    ExplicitConsent,
    /// (b)
    Employment,
    /// (c)
    VitalInterests,
    /// (d)
    NotForProfitBody,
    /// (e)
    MadePublic,
    /// (f)
    LegalClaims,
    /// (g)
    SubstantialPublicInterest,
    /// (h)
    HealthCare,
    /// (i)
    PublicHealth,
    /// (j)
    Archiving,
}

#[derive(Debug, Clone, Serialize, JsonSchema, PartialEq, Deserialize)]
#[serde(remote = "Self", deny_unknown_fields)]
#[schemars(transform = or_string)]
pub struct Source {
    pub kind: Spanned<SourceKind>,
    /// Who the data comes from, e.g. "LinkedIn Sales Navigator" (Art. 14(2)(f)).
    #[serde(default)]
    pub name: Option<Spanned<String>>,
    /// Which categories come from this source; empty means all of the purpose's.
    #[serde(default)]
    pub categories: Vec<Spanned<CategoryId>>,
}

string_shorthand!(
    Source,
    "a source kind such as \"subject\", or a table",
    |s| {
        variant::<SourceKind>(s).map(|kind| Source {
            kind: Spanned::unspanned(kind),
            name: None,
            categories: Vec::new(),
        })
    }
);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// Given by the person (Art. 13).
    Subject,
    /// Observed from the person's use of a service (Art. 13).
    Observed,
    /// Obtained from someone else (Art. 14).
    ThirdParty,
    /// From publicly accessible sources (Art. 14(2)(f)).
    Public,
    /// From the customer who uses the service (processor role).
    Customer,
}

#[derive(Debug, Clone, Serialize, JsonSchema, PartialEq, Deserialize)]
#[serde(remote = "Self", deny_unknown_fields)]
#[schemars(transform = or_string)]
pub struct Retention {
    /// How long, as an ISO 8601 duration.
    #[serde(default)]
    pub period: Option<Spanned<IsoDuration>>,
    /// What starts the period, e.g. "account closure" or "end of the financial year".
    #[serde(default)]
    pub after: Option<Spanned<String>>,
    /// The criteria used where no fixed period can be given (Art. 13(2)(a)).
    #[serde(default)]
    pub criteria: Option<Spanned<String>>,
}

string_shorthand!(
    Retention,
    "an ISO 8601 duration such as \"P5Y\", or a table",
    |s| {
        s.parse::<IsoDuration>()
            .map(|period| Retention {
                period: Some(Spanned::unspanned(period)),
                after: None,
                criteria: None,
            })
            .map_err(|e| format!("invalid duration: {e}"))
    }
);

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AutomatedDecisions {
    /// What is decided and the logic involved (Art. 13(2)(f)).
    pub logic: Spanned<String>,
    /// Significance and envisaged consequences for the person.
    #[serde(default)]
    pub consequences: Option<Spanned<String>>,
    /// Whether the decision has legal or similarly significant effects (Art. 22(1)).
    #[serde(default)]
    pub significant_effects: bool,
    /// The Art. 22(2) exception relied on.
    #[serde(default)]
    pub exception: Option<Spanned<AutomatedDecisionException>>,
    /// Whether a person can obtain human intervention and contest the decision (Art. 22(3)).
    #[serde(default)]
    pub human_review: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AutomatedDecisionException {
    /// Art. 22(2)(a).
    Contract,
    /// Art. 22(2)(b).
    Law,
    /// Art. 22(2)(c).
    ExplicitConsent,
}

#[derive(Debug, Clone, Serialize, JsonSchema, PartialEq, Deserialize)]
#[serde(remote = "Self", deny_unknown_fields)]
#[schemars(transform = or_string)]
pub struct Requirement {
    pub kind: Spanned<RequirementKind>,
    /// What happens if the person does not provide the data.
    #[serde(default)]
    pub consequences: Option<Spanned<String>>,
}

string_shorthand!(
    Requirement,
    "a requirement such as \"contractual\", or a table",
    |s| {
        variant::<RequirementKind>(s).map(|kind| Requirement {
            kind: Spanned::unspanned(kind),
            consequences: None,
        })
    }
);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RequirementKind {
    /// Required by law.
    Statutory,
    /// Required by a contract with the person.
    Contractual,
    /// Needed to enter into a contract.
    ContractPrerequisite,
    /// Not required: the person may decline.
    Voluntary,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Recipient {
    pub id: Spanned<RecipientId>,
    pub name: Spanned<String>,
    pub role: Spanned<RecipientRole>,
    /// What the recipient does, e.g. "hosting", "payment processing".
    #[serde(default)]
    pub service: Option<Spanned<String>>,
    /// Where the recipient processes the data; `ZZ` where the notice says only that it is
    /// abroad.
    #[serde(default)]
    pub country: Option<Spanned<CountryCode>>,
    /// For processors: a contract under Art. 28(3); for joint controllers: an arrangement
    /// under Art. 26.
    #[serde(default)]
    pub contract: Option<Spanned<bool>>,
    /// When data is disclosed, e.g. "on a binding legal demand, after telling the customer".
    #[serde(default)]
    pub disclosure: Option<Spanned<String>>,
    #[serde(default)]
    pub website: Option<Spanned<Url>>,
    /// For a recipient that holds personal data no dataset reaches: where Pledge forwards
    /// rights requests (GDPR Art. 19, 28(3)(e)), which waits until the recipient reports
    /// back.
    #[serde(default)]
    pub requests: Option<RequestForwarding>,
}

/// How rights requests reach a recipient: a signed webhook, answered by a callback.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RequestForwarding {
    /// The recipient's endpoint: each request is POSTed there as JSON, signed with
    /// HMAC-SHA256 (`Pledge-Signature: t=<unix time>,v1=<hex>` over `<t>.<body>`).
    pub webhook: Spanned<Url>,
    /// The environment variable holding the shared signing secret (never the secret itself).
    pub secret_env: Spanned<EnvVarName>,
    /// The rights forwarded; by default those Art. 19 names: erasure, rectification and
    /// restriction.
    #[serde(default = "forwarded_by_default")]
    pub kinds: Vec<Spanned<crate::rights::Right>>,
}

fn forwarded_by_default() -> Vec<Spanned<crate::rights::Right>> {
    use crate::rights::Right;
    [Right::Erasure, Right::Rectification, Right::Restriction]
        .into_iter()
        .map(Spanned::unspanned)
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecipientRole {
    /// Processes on the controller's behalf (Art. 28).
    Processor,
    /// Decides its own purposes.
    IndependentController,
    /// Decides purposes together with the controller (Art. 26).
    JointController,
    /// A company of the same group.
    GroupCompany,
    /// Public authorities, courts, law enforcement.
    Authority,
    /// A category of recipients rather than a named one (Art. 13(1)(e) allows categories).
    Category,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Transfer {
    pub id: Spanned<TransferId>,
    /// The recipient abroad, if the transfer is to one named recipient.
    #[serde(default)]
    pub recipient: Option<Spanned<RecipientId>>,
    /// The destination country; `ZZ` where the notice does not name it.
    pub country: Spanned<CountryCode>,
    /// The Chapter V mechanism relied on.
    pub mechanism: Spanned<TransferMechanism>,
    /// For `derogation`: which one of Art. 49(1).
    #[serde(default)]
    pub derogation: Option<Spanned<Derogation>>,
    /// For the `explicit_consent` derogation: how the consent is obtained. Only `opt_in`, asked
    /// for this transfer after telling the person of its risks, is explicit consent; a notice
    /// that takes it from using the site (`continued_use`) has none. Default `opt_in`.
    #[serde(default)]
    pub consent_mechanism: Option<Spanned<ConsentMechanism>>,
    /// How a person obtains a copy of the safeguards (Art. 13(1)(f)).
    #[serde(default)]
    pub copy: Option<Spanned<String>>,
    /// Supplementary measures (encryption, ...) after a transfer impact assessment.
    #[serde(default)]
    pub supplementary_measures: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TransferMechanism {
    /// An adequacy decision (Art. 45).
    Adequacy,
    /// The EU-US Data Privacy Framework (adequacy decision of 10 July 2023) for a certified
    /// recipient.
    Dpf,
    /// Standard contractual clauses (Art. 46(2)(c)).
    Scc,
    /// Binding corporate rules (Art. 47).
    Bcr,
    /// An approved certification (Art. 46(2)(f)).
    Certification,
    /// An approved code of conduct (Art. 46(2)(e)).
    CodeOfConduct,
    /// Contractual clauses authorised by a supervisory authority (Art. 46(3)(a)).
    AdHocClauses,
    /// A derogation for specific situations (Art. 49).
    Derogation,
    /// The EU-US Privacy Shield: invalidated by CJEU C-311/18 (Schrems II), 16 July 2020.
    PrivacyShield,
    /// The Safe Harbour principles: invalidated by CJEU C-362/14 (Schrems I), 6 October 2015.
    SafeHarbor,
    /// No mechanism stated.
    None,
}

/// GDPR Art. 49(1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Derogation {
    /// (a)
    ExplicitConsent,
    /// (b)
    ContractWithSubject,
    /// (c)
    ContractInSubjectsInterest,
    /// (d)
    PublicInterest,
    /// (e)
    LegalClaims,
    /// (f)
    VitalInterests,
    /// (g)
    PublicRegister,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Cookie {
    /// The cookie or storage key name, e.g. `_ga`.
    pub name: Spanned<String>,
    /// Who sets or reads it; absent means the company itself.
    #[serde(default)]
    pub provider: Option<Spanned<String>>,
    pub category: Spanned<CookieCategory>,
    /// What it is: a cookie, local storage, a pixel, ...
    #[serde(default)]
    pub kind: TrackerKind,
    /// `session`, or an ISO 8601 duration.
    #[serde(default)]
    pub duration: Option<Spanned<CookieDuration>>,
    /// The purpose it serves, by id.
    #[serde(default)]
    pub purpose: Option<Spanned<PurposeId>>,
    #[serde(default)]
    pub description: Option<Spanned<String>>,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Serialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum CookieCategory {
    /// Needed for the service the person asked for: exempt from consent (ePrivacy Art. 5(3)).
    StrictlyNecessary,
    /// Security, fraud prevention: exempt where strictly necessary.
    Security,
    /// Remembers choices such as language.
    Preferences,
    /// Measures audience and use.
    Analytics,
    /// Targets or measures advertising.
    Advertising,
    /// Social network buttons and embeds.
    SocialMedia,
}

impl CookieCategory {
    /// Whether the category needs consent under ePrivacy Art. 5(3).
    pub fn needs_consent(self) -> bool {
        !matches!(
            self,
            CookieCategory::StrictlyNecessary | CookieCategory::Security
        )
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TrackerKind {
    #[default]
    Cookie,
    LocalStorage,
    SessionStorage,
    /// Web beacons and tracking pixels, including in e-mails.
    Pixel,
    /// A third-party script or mobile SDK.
    Sdk,
    Fingerprint,
}

/// A cookie lifetime: the browsing session, or a duration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CookieDuration {
    Session,
    Persistent(IsoDuration),
}

impl std::str::FromStr for CookieDuration {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        if s == "session" {
            Ok(CookieDuration::Session)
        } else {
            s.parse()
                .map(CookieDuration::Persistent)
                .map_err(|e: ParseError| ParseError(format!("{} (or `session`)", e.0)))
        }
    }
}

impl std::fmt::Display for CookieDuration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CookieDuration::Session => f.write_str("session"),
            CookieDuration::Persistent(d) => d.fmt(f),
        }
    }
}

impl Serialize for CookieDuration {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for CookieDuration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse()
            .map_err(|e: ParseError| serde::de::Error::custom(format!("invalid duration: {e}")))
    }
}

impl JsonSchema for CookieDuration {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "CookieDuration".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "`session`, or an ISO 8601 duration such as P13M."
        })
    }
}

#[derive(Debug, Clone, Serialize, JsonSchema, PartialEq, Deserialize)]
#[serde(remote = "Self", deny_unknown_fields)]
#[schemars(transform = or_string)]
pub struct SecurityMeasure {
    pub measure: Spanned<MeasureKind>,
    #[serde(default)]
    pub description: Option<Spanned<String>>,
}

string_shorthand!(
    SecurityMeasure,
    "a measure such as \"encryption_at_rest\", or a table",
    |s| {
        variant::<MeasureKind>(s).map(|measure| SecurityMeasure {
            measure: Spanned::unspanned(measure),
            description: None,
        })
    }
);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MeasureKind {
    EncryptionAtRest,
    EncryptionInTransit,
    /// Need-to-know access for staff.
    AccessControl,
    MultiFactorAuthentication,
    Pseudonymisation,
    Anonymisation,
    /// IP addresses shortened before analytics.
    IpTruncation,
    /// Logging and monitoring of access.
    Logging,
    Backups,
    StaffTraining,
    ConfidentialityAgreements,
    PenetrationTesting,
    /// A certification such as ISO/IEC 27001 or SOC 2.
    Certification,
    IncidentResponse,
    DataMinimisation,
    PhysicalSecurity,
    Other,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Dataset {
    pub id: Spanned<DatasetId>,
    /// The database engine. Optional: it is read from the connection URL's scheme, and when
    /// given the URL must match it.
    #[serde(default)]
    pub engine: Option<Spanned<Engine>>,
    /// The environment variable holding the connection URL (never the URL itself).
    pub connection_env: Spanned<EnvVarName>,
    #[serde(default)]
    pub description: Option<Spanned<String>>,
    /// PostgreSQL schema, default `public`.
    #[serde(default)]
    pub schema: Option<Spanned<String>>,
    #[serde(default)]
    pub tables: Vec<Table>,
    /// Relations the database does not declare as foreign keys.
    #[serde(default)]
    pub relations: Vec<Relation>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Engine {
    Postgres,
    Mysql,
    Sqlite,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Table {
    pub name: Spanned<String>,
    #[serde(default)]
    pub description: Option<Spanned<String>>,
    /// The data subject group whose rows these are, where the table holds people.
    #[serde(default)]
    pub subject: Option<Spanned<SubjectId>>,
    /// Columns that identify the person of a row: identity kind → column, e.g.
    /// `{ email = "email", customer_id = "customer_id" }`.
    #[serde(default)]
    pub identity: IndexMap<Spanned<IdentityKind>, Spanned<String>>,
    /// The id the consent ledger knows the person of a row by, made from the row's identity
    /// columns: `"{customer_id}"`, or `"customer-{customer_id}"` when the application
    /// prefixes its user ids. Withdrawals, objections and opt-outs act on it.
    #[serde(default)]
    pub consent_subject: Option<Spanned<String>>,
    /// Columns holding personal data: column → category (or a table with the category and
    /// the erasure strategy).
    #[serde(default)]
    pub columns: IndexMap<Spanned<String>, Column>,
    /// What erasure does to a row of the person: `delete` it (the default), `mask` its
    /// personal columns, or `keep` it. Rows that other rows still reference are masked
    /// instead of deleted, whatever this says.
    #[serde(default)]
    pub erasure: Option<Spanned<TableErasure>>,
    /// A boolean column set to true when the person asks for restriction of processing
    /// (GDPR Art. 18), for the application to check before it uses the row.
    #[serde(default)]
    pub restrict_column: Option<Spanned<String>>,
    /// When rows expire.
    #[serde(default)]
    pub retention: Option<TableRetention>,
    /// Legal holds: rows kept for a law even after erasure is asked (Art. 17(3)).
    #[serde(default)]
    pub holds: Vec<Hold>,
    /// Whose rows these are: the column (the first column of a foreign key or declared
    /// relation) through which a row belongs to the owner of the row it refers to, e.g.
    /// `owner = "customer_id"` on orders that also name the employee who took them; or
    /// `"none"` for the company's own records, which only mention people. Needed where a
    /// table could belong to more than one subject; inferred where there is one way.
    #[serde(default)]
    pub owner: Option<Spanned<String>>,
    /// References to other people's rows (or to rows another person owns), column → how an
    /// erasure of the person mentioned severs the reference: `keep` it (the default), set it
    /// to `null`, or replace it with a keyed `hmac` (a declared relation only), with a reason.
    #[serde(default)]
    pub mentions: IndexMap<Spanned<String>, Mention>,
}

/// The `owner` value of a table whose rows belong to no one.
pub const OWNER_NONE: &str = "none";

/// How an erasure severs a row's reference to the person erased, when the row is someone
/// else's (or the company's own record).
#[derive(Debug, Clone, Serialize, JsonSchema, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mention {
    /// `keep` (the default), `null` or `hmac`.
    #[serde(default)]
    pub erase: Option<Spanned<MentionErasure>>,
    /// Why, in plain words: it goes into the report of every erasure this applies to.
    #[serde(default)]
    pub reason: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MentionErasure {
    /// The reference stays; the person's row it points to is then masked, not deleted.
    Keep,
    /// The reference is set to NULL (the column must allow it), so the person's row can go.
    Null,
    /// The reference is replaced by a keyed pseudonym (text columns of a declared relation).
    Hmac,
}

#[derive(Debug, Clone, Serialize, JsonSchema, PartialEq, Deserialize)]
#[serde(remote = "Self", deny_unknown_fields)]
#[schemars(transform = or_string)]
pub struct Column {
    pub category: Spanned<CategoryId>,
    /// What erasure writes to this column when the row is kept. Default `null`.
    #[serde(default)]
    pub erasure: Option<Spanned<ColumnErasure>>,
}

string_shorthand!(
    Column,
    "a data category such as \"contact.email\", or a table",
    |s| {
        s.parse::<CategoryId>()
            .map(|category| Column {
                category: Spanned::unspanned(category),
                erasure: None,
            })
            .map_err(|e| format!("invalid data category: {e}"))
    }
);

#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ColumnErasure {
    /// Set to NULL.
    Null,
    /// Replace with a fixed value, e.g. `{ fixed = "deleted" }`.
    Fixed(String),
    /// Replace with a keyed hash (HMAC-SHA-256): joins still work, the person is not named.
    Hmac,
    /// Leave as it is.
    Keep,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TableErasure {
    Delete,
    Mask,
    Keep,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TableRetention {
    /// The timestamp column the period runs from, e.g. `last_seen_at` or `closed_at`.
    pub column: Spanned<String>,
    pub period: Spanned<IsoDuration>,
    /// `delete` expired rows, or `anonymise` them.
    #[serde(default = "default_retention_action")]
    pub action: Spanned<RetentionAction>,
    /// The purpose whose retention this enforces.
    #[serde(default)]
    pub purpose: Option<Spanned<PurposeId>>,
    /// For `anonymise` (and for expired rows kept because other rows still refer to them):
    /// columns generalised instead of cleared, e.g. `{ birth_date = "year", country = "keep" }`.
    #[serde(default)]
    pub generalise: IndexMap<Spanned<String>, Spanned<Generalise>>,
}

/// How anonymisation generalises a column so that it no longer singles anyone out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Generalise {
    /// A date or time keeps only its year (set to 1 January of that year).
    Year,
    /// A date or time keeps only its year and month (set to the first of the month).
    Month,
    /// The column is kept as it is (e.g. the country of an address).
    Keep,
}

fn default_retention_action() -> Spanned<RetentionAction> {
    Spanned::unspanned(RetentionAction::Delete)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RetentionAction {
    Delete,
    Anonymise,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Hold {
    /// Why, in plain words: "bookkeeping".
    pub reason: Spanned<String>,
    /// The law that requires keeping, e.g. "Danish Bookkeeping Act § 10".
    pub law: Spanned<String>,
    /// How long rows are held.
    pub period: Spanned<IsoDuration>,
    /// The timestamp column the period runs from.
    #[serde(default)]
    pub after: Option<Spanned<String>>,
    /// The purpose (with a legal-obligation basis) this hold serves.
    #[serde(default)]
    pub purpose: Option<Spanned<PurposeId>>,
    /// Columns pseudonymised while held (their erasure strategy applies, the row stays).
    #[serde(default)]
    pub pseudonymise: Vec<Spanned<String>>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Relation {
    /// The referencing column, `table.column`.
    pub from: Spanned<ColumnRef>,
    /// The referenced column, `table.column`.
    pub to: Spanned<ColumnRef>,
}

// `remote = "Self"` derives need the inherent functions to be used; the trait impls above
// call them. Serialization goes through the normal derive.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::parse;
    use crate::source::{FileId, SourceFile};

    fn purpose(text: &str) -> Result<Purpose, crate::de::DecodeError> {
        let file = SourceFile::new("p.toml", text);
        crate::de::from_node(&parse(FileId(0), &file).unwrap())
    }

    #[test]
    fn legal_bases_take_a_string_or_a_table() {
        let p = purpose(
            "id = \"a\"\nname = \"A\"\nlegal_bases = [\"contract\", { basis = \"legitimate_interests\", interest = \"fraud prevention\" }]\n",
        )
        .unwrap();
        assert_eq!(*p.legal_bases[0].basis, Basis::Contract);
        assert_eq!(
            p.legal_bases[1].interest.as_deref().map(String::as_str),
            Some("fraud prevention")
        );
    }

    #[test]
    fn misspelt_bases_get_a_suggestion() {
        let err = purpose("id = \"a\"\nname = \"A\"\nlegal_bases = [\"contrat\"]\n").unwrap_err();
        assert!(
            err.message.contains("did you mean `contract`"),
            "{}",
            err.message
        );
    }

    #[test]
    fn retention_takes_a_duration_or_a_table() {
        let p = purpose("id = \"a\"\nname = \"A\"\nretention = \"P5Y\"\n").unwrap();
        assert_eq!(p.retention.unwrap().period.unwrap().years, 5);
        let p = purpose(
            "id = \"a\"\nname = \"A\"\nretention = { criteria = \"while the account is open\" }\n",
        )
        .unwrap();
        assert!(p.retention.unwrap().criteria.is_some());
    }
}
