//! The notice as data: everything a notice says, resolved from the declaration into plain
//! values (names instead of ids, words instead of codes, with the codes kept beside them).
//! Templates render this view; the JSON-LD and the record of processing are built from it;
//! its hash is the notice's version.
//!
//! Each item of GDPR Art. 13 and 14 has its own field, so that an absent item is absent from
//! the view and therefore from every format.
//!
//! The view also decides what the templates show ([`Show`], and the fields marked `derived`
//! on its parts: a section's presence, which note applies, which mark a category carries),
//! so that the HTML and Markdown templates of every language share one set of decisions and
//! hold only layout and wording. Words that depend on a value (a date, a language, a country
//! in a sentence) are left to the language's message catalogue: the view gives the value.

use pledge_lang::law::{self, CcpaCategory};
use pledge_lang::load::{CategoryInfo, Declaration};
use pledge_lang::model::*;
use pledge_lang::taxonomy;
use pledge_lang::types::{CategoryId, Date, IsoDuration};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The whole notice. `version`, `digest` and `effective_date` describe the notice; `content`
/// is what it says, and only `content` is hashed.
#[derive(Debug, Clone, Serialize)]
pub struct NoticeView {
    /// BCP 47 tag of the language the notice is written in.
    pub lang: String,
    /// The first 12 hexadecimal digits of `digest`: short enough to quote.
    pub version: String,
    /// `sha256:` and the SHA-256 of the canonical JSON of `content`.
    pub digest: String,
    /// `YYYY-MM-DD`.
    pub effective_date: Option<String>,
    /// The same date as numbers, for the language's templates to write in words.
    pub effective_date_parts: Option<DateParts>,
    #[serde(flatten)]
    pub content: Content,
}

/// A date as numbers: `month` is 1 for January.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct DateParts {
    pub year: u16,
    pub month: u8,
    pub day: u8,
}

thread_local! {
    static HASHING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Serialise for the digest: the fields marked `derived` are left out. They are decided from
/// the rest of the content (what a section shows, which words fit), so hashing them would add
/// nothing, and leaving them out keeps the version of a notice the same as before they
/// existed.
pub(crate) fn hashing<R>(f: impl FnOnce() -> R) -> R {
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            HASHING.with(|h| h.set(false));
        }
    }
    HASHING.with(|h| h.set(true));
    let _reset = Reset;
    f()
}

/// Whether a derived field is left out: only while hashing.
fn derived<T>(_: &T) -> bool {
    HASHING.with(std::cell::Cell::get)
}

/// What the notice says. Serialised in a fixed order, so equal content hashes equally.
#[derive(Debug, Clone, Serialize)]
pub struct Content {
    pub title: String,
    pub url: Option<String>,
    pub regimes: Regimes,
    pub controller: Option<ControllerView>,
    pub representative: Option<PartyView>,
    pub dpo: Option<PartyView>,
    pub summary: Summary,
    pub subjects: Vec<SubjectView>,
    /// Purposes the company decides (it is the controller).
    pub purposes: Vec<PurposeView>,
    /// Purposes carried out for customers (it is their processor).
    pub processor_purposes: Vec<PurposeView>,
    /// Every category of the controller purposes, with where each is used.
    pub categories: Vec<CategoryUse>,
    /// Data not obtained from the person (Art. 14(1)(d), 14(2)(f)).
    pub indirect_sources: Vec<SourceUse>,
    pub recipients: Vec<RecipientView>,
    pub transfers: Vec<TransferView>,
    pub retention: Vec<RetentionRow>,
    /// Purposes that rest on consent, with how to withdraw it (Art. 13(2)(c)).
    pub consent: Vec<ConsentUse>,
    pub requirements: Vec<RequirementUse>,
    pub automated: Vec<AutomatedUse>,
    pub rights: Option<RightsView>,
    pub authority: Option<AuthorityView>,
    pub cookies: Option<CookiesView>,
    pub security: Vec<MeasureView>,
    pub ccpa: Option<CcpaView>,
    pub children: Vec<String>,
    pub changes: Option<String>,
    /// Laws and instruments the declaration says the notice cites, as written.
    pub cites: Vec<String>,
    /// The languages the notice is published in, by English name ("English", "Danish"); the
    /// templates use `show.language_codes`.
    pub languages: Vec<String>,
    /// The sections the notice has, in order, for the table of contents.
    pub sections: Vec<Section>,
    /// What each part of the notice shows, decided here once for every format.
    #[serde(skip_serializing_if = "derived")]
    pub show: Show,
}

/// The decisions the templates would otherwise each make: which sections and notes a notice
/// has, and the codes a language's templates turn into words.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Show {
    pub who_we_are: bool,
    pub purposes: bool,
    pub data: bool,
    pub sources: bool,
    pub recipients: bool,
    pub transfers: bool,
    pub retention: bool,
    pub requirements: bool,
    pub automated: bool,
    pub rights: bool,
    pub consent: bool,
    pub complaints: bool,
    pub cookies: bool,
    pub for_customers: bool,
    pub security: bool,
    pub children: bool,
    pub california: bool,
    /// The summary's retention is one period (the shortest is the longest).
    pub retention_same: bool,
    /// The section that says how to exercise the rights of the summary: `rights` or
    /// `california`.
    pub rights_anchor: &'static str,
    /// Where to write to exercise the GDPR rights, when the notice has them and an address.
    pub rights_contact: Option<Contact>,
    /// The note on special categories under the data table (GDPR Art. 9).
    pub special_note: bool,
    /// Some group of data subjects has a description: the "Whose data" list is shown.
    pub subject_descriptions: bool,
    /// The notice is published in more than one language.
    pub languages: bool,
    /// The BCP 47 tags of those languages, as declared.
    pub language_codes: Vec<String>,
    /// The countries outside the EEA data goes to, in the order of
    /// `summary.transfer_countries`.
    pub transfer_countries: Vec<CountryRef>,
}

/// A period as its non-zero parts, largest first: `P1Y6M` is 1 `year` and 6 `month`.
pub type Period = Vec<PeriodPart>;

#[derive(Debug, Clone, Serialize)]
pub struct PeriodPart {
    pub count: u32,
    /// `year`, `month`, `week`, `day`, `hour`, `minute` or `second`.
    pub unit: &'static str,
}

fn period(d: &IsoDuration) -> Period {
    [
        (d.years, "year"),
        (d.months, "month"),
        (d.weeks, "week"),
        (d.days, "day"),
        (d.hours, "hour"),
        (d.minutes, "minute"),
        (d.seconds, "second"),
    ]
    .into_iter()
    .filter(|(count, _)| *count > 0)
    .map(|(count, unit)| PeriodPart { count, unit })
    .collect()
}

/// A country: its ISO 3166 code, and its English name, for a language without names of its
/// own.
#[derive(Debug, Clone, Serialize)]
pub struct CountryRef {
    pub code: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Regimes {
    pub gdpr: bool,
    pub uk_gdpr: bool,
    /// The EU or the UK GDPR: the parts of the notice that only the GDPR asks for (legal
    /// bases, its rights, transfers, complaints) are left out when neither applies.
    pub any_gdpr: bool,
    pub ccpa: bool,
    /// Full names of the laws, e.g. "the EU General Data Protection Regulation (GDPR)".
    pub names: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Section {
    pub id: &'static str,
    pub title: &'static str,
}

/// A link target: a `mailto:` or web address, or none for plain text.
#[derive(Debug, Clone, Serialize)]
pub struct Contact {
    pub text: String,
    pub href: Option<String>,
    /// An e-mail address.
    #[serde(skip_serializing_if = "derived")]
    pub email: bool,
    /// A web address shown as itself (the text is the address).
    #[serde(skip_serializing_if = "derived")]
    pub bare: bool,
}

impl Contact {
    fn new(text: String, href: Option<String>) -> Contact {
        Contact {
            email: href.as_deref().is_some_and(|h| h.starts_with("mailto:")),
            bare: href.as_deref() == Some(text.as_str()),
            text,
            href,
        }
    }

    fn email(e: &str) -> Contact {
        Contact::new(e.to_string(), Some(format!("mailto:{e}")))
    }

    fn url(u: &str) -> Contact {
        Contact::new(u.to_string(), Some(u.to_string()))
    }

    /// An e-mail address, a web address, or other text (a postal address, "our app").
    pub fn parse(text: &str) -> Contact {
        let t = text.trim();
        if t.starts_with("https://") || t.starts_with("http://") {
            Contact::url(t)
        } else if !t.contains(char::is_whitespace) && t.contains('@') && !t.contains("://") {
            Contact::email(t)
        } else {
            Contact::new(t.to_string(), None)
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ControllerView {
    pub name: String,
    /// The name with its legal form, e.g. "Spektr ApS".
    pub full_name: String,
    pub registration: Option<String>,
    pub address: Option<String>,
    pub country: Option<String>,
    /// Whether the address already ends with the country, so it is not repeated.
    pub address_has_country: bool,
    /// The country, when the address does not already end with it.
    #[serde(skip_serializing_if = "derived")]
    pub country_line: Option<String>,
    pub email: Option<Contact>,
    pub phone: Option<String>,
    pub website: Option<Contact>,
    pub contact_form: Option<Contact>,
    pub group: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PartyView {
    pub name: Option<String>,
    pub address: Option<String>,
    pub country: Option<String>,
    /// Whether the address already ends with the country, so it is not repeated.
    pub address_has_country: bool,
    /// The country, when the address does not already end with it.
    #[serde(skip_serializing_if = "derived")]
    pub country_line: Option<String>,
    pub email: Option<Contact>,
    pub phone: Option<String>,
    pub website: Option<Contact>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AuthorityView {
    pub name: String,
    pub country: Option<String>,
    /// Whether the address already ends with the country, so it is not repeated.
    pub address_has_country: bool,
    /// The country, when the address does not already end with it.
    #[serde(skip_serializing_if = "derived")]
    pub country_line: Option<String>,
    pub address: Option<String>,
    pub email: Option<Contact>,
    pub phone: Option<String>,
    pub website: Option<Contact>,
}

/// The first layer: the notice in a few lines.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Top-level groups of data, e.g. "Contact details: e-mail address, telephone number".
    pub data: Vec<CategoryGroup>,
    pub special: bool,
    /// Names of the controller purposes.
    pub purposes: Vec<String>,
    /// Whether some data comes from others than the person.
    pub indirect: bool,
    /// Recipient names, grouped by role label.
    pub recipients: Vec<RecipientGroup>,
    /// Countries outside the EEA data goes to, in English sentence form; the templates use
    /// `show.transfer_countries`.
    pub transfer_countries: Vec<String>,
    /// The shortest and longest retention periods, in words.
    pub retention_range: Option<(String, String)>,
    /// The same two periods as parts, for the catalogue to write.
    #[serde(skip_serializing_if = "derived")]
    pub retention_periods: Option<(Period, Period)>,
    pub automated: bool,
    pub sells_or_shares: bool,
    /// Short names of the rights offered, e.g. "Access".
    pub rights: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CategoryGroup {
    pub label: String,
    pub items: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RecipientGroup {
    pub role: String,
    pub names: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SubjectView {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub children: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct CategoryRef {
    pub id: String,
    pub label: String,
    /// The W3C DPV term, `pd:...` or `dpv:...`.
    pub dpv: String,
    /// Art. 9 special category.
    pub special: bool,
    /// Art. 10 criminal-offence data.
    pub criminal: bool,
    pub ccpa_sensitive: bool,
    /// The description of a category of the company's own.
    pub description: Option<String>,
    /// The mark the category carries: `special` (Art. 9) or else `criminal` (Art. 10).
    #[serde(skip_serializing_if = "derived")]
    pub tag: Option<&'static str>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PurposeView {
    pub id: String,
    /// The HTML anchor, `purpose-<id>`.
    pub anchor: String,
    pub name: String,
    pub description: Option<String>,
    pub role: &'static str,
    pub subjects: Vec<String>,
    pub categories: Vec<CategoryRef>,
    pub bases: Vec<BasisView>,
    pub special_condition: Option<ConditionView>,
    pub sources: Vec<SourceView>,
    /// Whether some of the data is collected from the person (Art. 13 applies).
    pub from_subject: bool,
    pub retention: Option<RetentionView>,
    pub recipients: Vec<RecipientRef>,
    pub transfers: Vec<TransferRef>,
    pub automated: Option<AutomatedView>,
    pub requirement: Option<RequirementView>,
    pub direct_marketing: bool,
    pub profiling: bool,
    /// Names of the cookies and trackers that serve this purpose.
    pub cookies: Vec<String>,
    /// Profiling without automated decisions: the purpose says so instead.
    #[serde(skip_serializing_if = "derived")]
    pub profiling_only: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct BasisView {
    #[serde(skip)]
    pub basis: Basis,
    /// The declaration's name, e.g. `legitimate_interests`.
    pub code: String,
    pub label: &'static str,
    pub article: &'static str,
    pub explanation: &'static str,
    pub dpv: &'static str,
    /// Legitimate interests: the interest pursued (Art. 13(1)(d)).
    pub interest: Option<String>,
    /// Legal obligation or public task: the law (Art. 6(3)).
    pub law: Option<String>,
    /// Consent: how it is obtained.
    pub mechanism: Option<&'static str>,
    /// Consent: how it is withdrawn (Art. 7(3)).
    pub withdrawal: Option<String>,
    /// Consent declared as impossible to withdraw.
    pub not_withdrawable: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct ConditionView {
    pub code: String,
    pub label: &'static str,
    pub article: &'static str,
    pub dpv: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct SourceView {
    pub kind: String,
    /// "from a third party".
    pub label: &'static str,
    /// "a third party".
    pub noun: &'static str,
    pub name: Option<String>,
    pub indirect: bool,
    pub public: bool,
    pub dpv: &'static str,
    /// The categories from this source; empty means all of the purpose's.
    pub categories: Vec<CategoryRef>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RetentionView {
    /// One phrase: "5 years after the end of the financial year", "until account closure".
    pub text: Option<String>,
    /// The period as written, ISO 8601.
    pub period: Option<String>,
    pub period_text: Option<String>,
    pub after: Option<String>,
    pub criteria: Option<String>,
    /// All of it as one or two sentences: "5 years after account closure. Criteria..."
    pub display: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct RecipientRef {
    pub id: String,
    pub name: String,
    pub role: String,
    pub role_label: &'static str,
    pub service: Option<String>,
    pub country: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TransferRef {
    pub id: String,
    pub country: String,
    pub recipient: Option<String>,
    pub mechanism: String,
    pub mechanism_label: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct AutomatedView {
    pub logic: String,
    pub consequences: Option<String>,
    pub significant_effects: bool,
    pub exception: Option<&'static str>,
    pub human_review: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct RequirementView {
    pub kind: String,
    /// Completes "Providing this data is ...".
    pub label: &'static str,
    pub consequences: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CategoryUse {
    pub category: CategoryRef,
    pub purposes: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SourceUse {
    pub name: Option<String>,
    pub kind: String,
    pub label: &'static str,
    pub noun: &'static str,
    pub public: bool,
    pub categories: Vec<CategoryRef>,
    pub purposes: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RecipientView {
    pub id: String,
    pub anchor: String,
    pub name: String,
    pub role: String,
    pub role_label: &'static str,
    pub service: Option<String>,
    pub country: Option<String>,
    pub outside_eea: bool,
    pub disclosure: Option<String>,
    pub website: Option<Contact>,
    pub dpv: &'static str,
    /// Names of the purposes that send data to this recipient.
    pub purposes: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TransferView {
    pub id: String,
    pub country: String,
    pub country_code: String,
    pub recipient: Option<String>,
    pub mechanism: String,
    pub mechanism_label: &'static str,
    pub mechanism_dpv: Option<&'static str>,
    /// Whether the mechanism is an Art. 46/47 safeguard of which a copy can be had.
    pub has_copy: bool,
    /// Whether the mechanism is invalid or absent.
    pub invalid: bool,
    pub derogation: Option<DerogationView>,
    /// How to obtain a copy of the safeguards (Art. 13(1)(f)).
    pub copy: Option<Contact>,
    pub supplementary_measures: Option<String>,
    pub purposes: Vec<String>,
    /// A mechanism that has no copy to give (a derogation, an adequacy decision).
    #[serde(skip_serializing_if = "derived")]
    pub copy_not_applicable: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct DerogationView {
    pub label: &'static str,
    pub article: &'static str,
    pub dpv: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct RetentionRow {
    pub purpose: String,
    pub anchor: String,
    pub retention: RetentionView,
}

#[derive(Debug, Clone, Serialize)]
pub struct ConsentUse {
    pub purpose: String,
    pub anchor: String,
    /// Whether consent is asked by a clear affirmative act (the only valid way).
    pub opt_in: bool,
    pub mechanism: Option<&'static str>,
    pub withdrawal: Option<String>,
    pub not_withdrawable: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct RequirementUse {
    pub purpose: String,
    pub anchor: String,
    pub requirement: RequirementView,
}

#[derive(Debug, Clone, Serialize)]
pub struct AutomatedUse {
    pub purpose: String,
    pub anchor: String,
    pub profiling: bool,
    pub decision: Option<AutomatedView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RightView {
    pub code: String,
    pub title: &'static str,
    pub label: &'static str,
    pub article: &'static str,
    pub description: &'static str,
    pub dpv: Option<&'static str>,
    /// When the right is limited to some purposes: their names.
    pub purposes: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RightsView {
    /// GDPR rights offered (CCPA-only rights are in the CCPA section).
    pub items: Vec<RightView>,
    pub contact: Option<Contact>,
    pub verification: Option<String>,
    /// The promised answer time in words, e.g. "1 month".
    pub response_time: Option<String>,
    /// The same as parts, for the catalogue to write.
    #[serde(skip_serializing_if = "derived")]
    pub response_period: Option<Period>,
    pub authorized_agents: bool,
    /// The right to object, to be shown apart (Art. 21(4)).
    pub objection: Option<ObjectionView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ObjectionView {
    /// Purposes of direct marketing: objection is absolute (Art. 21(2)-(3)).
    pub marketing: Vec<String>,
    /// Purposes on legitimate interests or a public task (Art. 21(1)).
    pub other: Vec<String>,
    /// Neither: the right is stated in general.
    #[serde(skip_serializing_if = "derived")]
    pub general: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct CookiesView {
    pub consent: Option<CookieConsentView>,
    pub categories: Vec<CookieCategoryView>,
    /// Whether some tracker needs consent.
    pub any_consent: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct CookieConsentView {
    pub mechanism: String,
    /// Consent by a clear affirmative act, before any tracker that needs it is set.
    #[serde(skip_serializing_if = "derived")]
    pub opt_in: bool,
    pub mechanism_label: &'static str,
    pub reject_all: bool,
    pub reask_after: Option<String>,
    /// The same as parts, for the catalogue to write.
    #[serde(skip_serializing_if = "derived")]
    pub reask_period: Option<Period>,
    pub honours_gpc: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct CookieCategoryView {
    pub code: String,
    pub label: &'static str,
    pub explanation: &'static str,
    pub needs_consent: bool,
    pub cookies: Vec<CookieView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CookieView {
    pub name: String,
    pub provider: String,
    pub first_party: bool,
    pub kind: &'static str,
    /// "session", "13 months", or none when not stated.
    pub duration: Option<String>,
    /// Until the browser is closed.
    #[serde(skip_serializing_if = "derived")]
    pub session: bool,
    /// How long a persistent one lasts, as parts, for the catalogue to write.
    #[serde(skip_serializing_if = "derived")]
    pub period: Option<Period>,
    pub purpose: Option<String>,
    pub purpose_anchor: Option<String>,
    pub description: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MeasureView {
    pub code: String,
    pub label: &'static str,
    pub description: Option<String>,
    pub dpv: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct CcpaView {
    /// Categories collected in the last 12 months, by the CCPA's own categories.
    pub collected: Vec<CcpaCategoryView>,
    /// Sensitive personal information collected (§ 1798.140(ae)).
    pub sensitive: Vec<CategoryRef>,
    pub sold: Vec<CategoryRef>,
    pub shared: Vec<CategoryRef>,
    pub sells_or_shares: bool,
    pub opt_out_link: Option<Contact>,
    pub honours_gpc: bool,
    pub financial_incentive: Option<String>,
    pub sells_minors: bool,
    /// The rights of California residents offered, with their CCPA names.
    pub rights: Vec<CcpaRightView>,
    pub authorized_agents: bool,
    pub contact: Option<Contact>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CcpaCategoryView {
    pub label: &'static str,
    pub examples: Vec<String>,
    pub purposes: Vec<String>,
    pub sources: Vec<String>,
    pub disclosed_to: Vec<String>,
    pub sold: bool,
    pub shared: bool,
    /// Each retention phrase with the purposes it applies to.
    pub retention: Vec<(String, Vec<String>)>,
    /// `sold_and_shared`, `sold`, `shared` or `neither`.
    #[serde(skip_serializing_if = "derived")]
    pub sale: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct CcpaRightView {
    pub code: String,
    pub label: &'static str,
    pub description: &'static str,
}

/// Build the view of a declaration. `version` and `digest` are left empty; [`super::view`]
/// fills them in from the content.
pub(crate) fn build(decl: &Declaration, lang: &str, effective_date: Option<Date>) -> NoticeView {
    let mut by_recipient: HashMap<&str, Vec<&Purpose>> = HashMap::new();
    let mut by_transfer: HashMap<&str, Vec<&Purpose>> = HashMap::new();
    for p in decl.purposes() {
        for r in &p.recipients {
            by_recipient.entry(r.as_str()).or_default().push(p);
        }
        for t in &p.transfers {
            by_transfer.entry(t.as_str()).or_default().push(p);
        }
    }
    let content = Builder {
        decl,
        by_recipient,
        by_transfer,
    }
    .content();
    NoticeView {
        lang: lang.to_string(),
        version: String::new(),
        digest: String::new(),
        effective_date: effective_date.map(|d| d.to_string()),
        effective_date_parts: effective_date.map(|d| DateParts {
            year: d.year,
            month: d.month,
            day: d.day,
        }),
        content,
    }
}

struct Builder<'a> {
    decl: &'a Declaration,
    /// The purposes that send data to each recipient, and that use each transfer, by id.
    by_recipient: HashMap<&'a str, Vec<&'a Purpose>>,
    by_transfer: HashMap<&'a str, Vec<&'a Purpose>>,
}

fn text(s: &Option<pledge_lang::source::Spanned<String>>) -> Option<String> {
    s.as_ref()
        .map(|s| s.value.trim().to_string())
        .filter(|s| !s.is_empty())
}

fn anchor(prefix: &str, id: &str) -> String {
    format!("{prefix}-{id}")
}

impl<'a> Builder<'a> {
    fn doc(&self) -> &'a DeclarationDoc {
        self.decl.doc()
    }

    fn controller_purposes(&self) -> impl Iterator<Item = &'a Purpose> {
        self.decl
            .purposes()
            .iter()
            .filter(|p| p.role == Role::Controller)
    }

    fn content(&self) -> Content {
        let doc = self.doc();
        let purposes: Vec<PurposeView> = self
            .controller_purposes()
            .map(|p| self.purpose(p))
            .collect();
        let processor_purposes: Vec<PurposeView> = self
            .decl
            .purposes()
            .iter()
            .filter(|p| p.role == Role::Processor)
            .map(|p| self.purpose(p))
            .collect();
        let regimes = self.regimes();
        let controller = doc.controller.as_ref().map(controller_view);
        let title = doc
            .policy
            .as_ref()
            .and_then(|p| text(&p.title))
            .or_else(|| {
                controller
                    .as_ref()
                    .map(|c| format!("{} privacy notice", c.name))
            })
            .unwrap_or_else(|| "Privacy notice".to_string());
        let rights = self.rights(&purposes);
        let cookies = self.cookies();
        let ccpa = if regimes.ccpa {
            Some(self.ccpa(&purposes))
        } else {
            None
        };
        let mut content = Content {
            title,
            url: doc
                .policy
                .as_ref()
                .and_then(|p| p.url.as_ref())
                .map(|u| u.to_string()),
            controller,
            representative: doc
                .controller
                .as_ref()
                .and_then(|c| c.representative.as_ref())
                .map(party_view),
            dpo: doc
                .controller
                .as_ref()
                .and_then(|c| c.dpo.as_ref())
                .map(party_view),
            summary: self.summary(&purposes, ccpa.as_ref()),
            // The groups of the company's own purposes; customers' end users appear with the
            // purposes done for customers.
            subjects: doc
                .subjects
                .iter()
                .filter(|s| {
                    self.controller_purposes()
                        .any(|p| p.subjects.iter().any(|x| x.value == s.id.value))
                })
                .map(|s| SubjectView {
                    id: s.id.to_string(),
                    name: s.name.value.clone(),
                    description: text(&s.description),
                    children: s.children,
                })
                .collect(),
            categories: category_uses(&purposes),
            indirect_sources: source_uses(&purposes),
            recipients: self.recipients(),
            transfers: self.transfers(),
            retention: purposes
                .iter()
                .filter_map(|p| {
                    p.retention.clone().map(|retention| RetentionRow {
                        purpose: p.name.clone(),
                        anchor: p.anchor.clone(),
                        retention,
                    })
                })
                .collect(),
            consent: purposes
                .iter()
                .flat_map(|p| {
                    p.bases
                        .iter()
                        .filter(|b| b.code == "consent")
                        .map(|b| ConsentUse {
                            purpose: p.name.clone(),
                            anchor: p.anchor.clone(),
                            opt_in: b.mechanism == Some(ConsentMechanism::OptIn.label()),
                            mechanism: b.mechanism,
                            withdrawal: b.withdrawal.clone(),
                            not_withdrawable: b.not_withdrawable,
                        })
                })
                .collect(),
            requirements: purposes
                .iter()
                .filter_map(|p| {
                    p.requirement.clone().map(|requirement| RequirementUse {
                        purpose: p.name.clone(),
                        anchor: p.anchor.clone(),
                        requirement,
                    })
                })
                .collect(),
            automated: purposes
                .iter()
                .filter(|p| p.automated.is_some() || p.profiling)
                .map(|p| AutomatedUse {
                    purpose: p.name.clone(),
                    anchor: p.anchor.clone(),
                    profiling: p.profiling,
                    decision: p.automated.clone(),
                })
                .collect(),
            rights,
            authority: doc.supervisory_authority.as_ref().map(|a| {
                let address = text(&a.address);
                let country = a.country.map(|c| c.name().to_string());
                AuthorityView {
                    name: a.name.value.clone(),
                    country_line: if ends_with_country(&address, &country) {
                        None
                    } else {
                        country.clone()
                    },
                    address_has_country: ends_with_country(&address, &country),
                    country,
                    address,
                    email: a.email.as_ref().map(|e| Contact::email(e.as_str())),
                    phone: text(&a.phone),
                    website: a.website.as_ref().map(|u| Contact::url(u.as_str())),
                }
            }),
            cookies,
            security: doc
                .security
                .iter()
                .map(|m| MeasureView {
                    code: variant_name(&m.measure.value),
                    label: m.measure.label(),
                    description: text(&m.description),
                    dpv: m.measure.dpv(),
                })
                .collect(),
            ccpa,
            children: doc
                .subjects
                .iter()
                .filter(|s| s.children)
                .map(|s| s.name.value.clone())
                .collect(),
            changes: doc.policy.as_ref().and_then(|p| text(&p.changes)),
            cites: doc
                .policy
                .as_ref()
                .map(|p| p.cites.iter().map(|c| c.value.trim().to_string()).collect())
                .unwrap_or_default(),
            languages: doc
                .policy
                .as_ref()
                .map(|p| p.languages.iter().map(|l| language_name(l)).collect())
                .unwrap_or_default(),
            regimes,
            purposes,
            processor_purposes,
            sections: Vec::new(),
            show: Show::default(),
        };
        if !content.regimes.any_gdpr {
            without_gdpr(&mut content);
        }
        content.sections = sections(&content);
        decide(&mut content, doc);
        content
    }

    fn regimes(&self) -> Regimes {
        let regimes = self.decl.regimes();
        Regimes {
            gdpr: regimes.contains(&Regime::Gdpr),
            uk_gdpr: regimes.contains(&Regime::UkGdpr),
            any_gdpr: regimes.contains(&Regime::Gdpr) || regimes.contains(&Regime::UkGdpr),
            ccpa: regimes.contains(&Regime::Ccpa),
            names: regimes.iter().map(|r| r.label().to_string()).collect(),
        }
    }

    fn category(&self, id: &CategoryId) -> CategoryRef {
        // Every category of a loaded declaration resolves; the fallback is for safety only.
        let info = self.decl.category(id).unwrap_or_else(|| CategoryInfo {
            id: id.clone(),
            label: id.to_string(),
            dpv: "dpv:PersonalData",
            sensitivity: taxonomy::Sensitivity::default(),
            builtin: false,
        });
        CategoryRef {
            id: id.to_string(),
            label: info.label,
            dpv: info.dpv.to_string(),
            special: info.sensitivity.special,
            criminal: info.sensitivity.criminal,
            ccpa_sensitive: info.sensitivity.ccpa_sensitive,
            tag: if info.sensitivity.special {
                Some("special")
            } else if info.sensitivity.criminal {
                Some("criminal")
            } else {
                None
            },
            description: self
                .doc()
                .categories
                .iter()
                .find(|c| c.id.value == *id)
                .and_then(|c| text(&c.description)),
        }
    }

    fn subject_name(&self, id: &pledge_lang::types::SubjectId) -> String {
        self.decl
            .subject(id)
            .map_or_else(|| id.to_string(), |s| s.name.value.clone())
    }

    fn purpose(&self, p: &Purpose) -> PurposeView {
        let id = p.id.to_string();
        let sources: Vec<SourceView> = p
            .sources
            .iter()
            .map(|s| SourceView {
                kind: variant_name(&s.kind.value),
                label: s.kind.label(),
                noun: s.kind.label().trim_start_matches("from "),
                name: text(&s.name),
                indirect: s.kind.is_indirect(),
                public: s.kind.value == SourceKind::Public,
                dpv: s.kind.dpv(),
                categories: s.categories.iter().map(|c| self.category(c)).collect(),
            })
            .collect();
        let from_subject = sources.is_empty() || sources.iter().any(|s| !s.indirect);
        let cookies = self
            .doc()
            .cookies
            .iter()
            .filter(|c| {
                c.purpose
                    .as_ref()
                    .is_some_and(|pid| pid.value == p.id.value)
            })
            .map(|c| c.name.value.clone())
            .collect();
        PurposeView {
            anchor: anchor("purpose", &id),
            id,
            name: p.name.value.clone(),
            description: text(&p.description),
            role: match p.role {
                Role::Controller => "controller",
                Role::Processor => "processor",
            },
            subjects: p.subjects.iter().map(|s| self.subject_name(s)).collect(),
            categories: p.categories.iter().map(|c| self.category(c)).collect(),
            bases: p.legal_bases.iter().map(|b| basis_view(b)).collect(),
            special_condition: p.special_condition.as_ref().map(|c| ConditionView {
                code: variant_name(&c.value),
                label: c.label(),
                article: c.article(),
                dpv: c.dpv(),
            }),
            sources,
            from_subject,
            retention: p.retention.as_ref().and_then(|r| retention_view(r)),
            recipients: p
                .recipients
                .iter()
                .filter_map(|r| self.decl.recipient(r))
                .map(|r| RecipientRef {
                    id: r.id.to_string(),
                    name: r.name.value.clone(),
                    role: variant_name(&r.role.value),
                    role_label: r.role.label(),
                    service: text(&r.service),
                    country: r.country.map(|c| c.name().to_string()),
                })
                .collect(),
            transfers: p
                .transfers
                .iter()
                .filter_map(|t| self.decl.transfer(t))
                .map(|t| TransferRef {
                    id: t.id.to_string(),
                    country: t.country.name().to_string(),
                    recipient: self.transfer_recipient(t),
                    mechanism: variant_name(&t.mechanism.value),
                    mechanism_label: t.mechanism.label(),
                })
                .collect(),
            automated: p.automated_decisions.as_ref().map(|a| AutomatedView {
                logic: a.logic.value.trim().to_string(),
                consequences: text(&a.consequences),
                significant_effects: a.significant_effects,
                exception: a.exception.as_ref().map(|e| e.label()),
                human_review: a.human_review,
            }),
            requirement: p.requirement.as_ref().map(|r| RequirementView {
                kind: variant_name(&r.kind.value),
                label: r.kind.label(),
                consequences: text(&r.consequences),
            }),
            direct_marketing: p.direct_marketing,
            profiling: p.profiling,
            cookies,
            profiling_only: false,
        }
    }

    fn transfer_recipient(&self, t: &Transfer) -> Option<String> {
        t.recipient.as_ref().map(|r| {
            self.decl
                .recipient(r)
                .map_or_else(|| r.to_string(), |r| r.name.value.clone())
        })
    }

    /// Names of the purposes listed under `id` in an index.
    fn names(index: &HashMap<&str, Vec<&Purpose>>, id: &str) -> Vec<String> {
        let mut names = Vec::new();
        for p in index.get(id).into_iter().flatten() {
            push_unique(&mut names, p.name.value.clone());
        }
        names
    }

    fn recipients(&self) -> Vec<RecipientView> {
        self.doc()
            .recipients
            .iter()
            .map(|r| RecipientView {
                anchor: anchor("recipient", r.id.as_str()),
                id: r.id.to_string(),
                name: r.name.value.clone(),
                role: variant_name(&r.role.value),
                role_label: r.role.label(),
                service: text(&r.service),
                country: r.country.map(|c| c.name().to_string()),
                outside_eea: r.country.is_some_and(|c| !law::in_eea(c.value)),
                disclosure: text(&r.disclosure),
                website: r.website.as_ref().map(|u| Contact::url(u.as_str())),
                dpv: r.role.dpv(),
                purposes: Self::names(&self.by_recipient, r.id.as_str()),
            })
            .collect()
    }

    fn transfers(&self) -> Vec<TransferView> {
        self.doc()
            .transfers
            .iter()
            .map(|t| TransferView {
                id: t.id.to_string(),
                country: t.country.name().to_string(),
                country_code: t.country.to_string(),
                recipient: self.transfer_recipient(t),
                mechanism: variant_name(&t.mechanism.value),
                mechanism_label: t.mechanism.label(),
                mechanism_dpv: t.mechanism.dpv(),
                has_copy: t.mechanism.has_copy(),
                invalid: t.mechanism.is_invalid(),
                derogation: t.derogation.as_ref().map(|d| DerogationView {
                    label: d.label(),
                    article: d.article(),
                    dpv: d.dpv(),
                }),
                copy: t.copy.as_ref().map(|c| Contact::parse(c)),
                supplementary_measures: text(&t.supplementary_measures),
                copy_not_applicable: t.copy.is_none() && !t.mechanism.has_copy(),
                purposes: Self::names(&self.by_transfer, t.id.as_str()),
            })
            .collect()
    }

    fn rights(&self, purposes: &[PurposeView]) -> Option<RightsView> {
        let r = self.doc().rights.as_ref()?;
        let offered: BTreeSet<Right> = r.offered.iter().map(|o| o.value).collect();
        let names_where = |f: &dyn Fn(&PurposeView) -> bool| -> Vec<String> {
            purposes
                .iter()
                .filter(|p| f(p))
                .map(|p| p.name.clone())
                .collect()
        };
        let basis_is = |p: &PurposeView, f: fn(Basis) -> bool| p.bases.iter().any(|b| f(b.basis));
        let items = offered
            .iter()
            .filter(|r| !r.is_ccpa())
            .map(|&right| RightView {
                code: variant_name(&right),
                title: right.title(),
                label: right.label(),
                article: right.article(),
                description: right.description(),
                dpv: right.dpv(),
                purposes: match right {
                    Right::Portability => names_where(&|p| basis_is(p, Basis::portable)),
                    Right::WithdrawConsent => {
                        names_where(&|p| basis_is(p, |b| b == Basis::Consent))
                    }
                    Right::HumanReview => names_where(&|p| p.automated.is_some()),
                    _ => Vec::new(),
                },
            })
            .collect();
        let objection = offered.contains(&Right::Objection).then(|| ObjectionView {
            marketing: names_where(&|p| p.direct_marketing),
            other: names_where(&|p| !p.direct_marketing && basis_is(p, Basis::objectable)),
            general: false,
        });
        let controller_contact = self.doc().controller.as_ref().and_then(|c| {
            c.email
                .as_ref()
                .map(|e| Contact::email(e.as_str()))
                .or_else(|| c.contact_form.as_ref().map(|u| Contact::url(u.as_str())))
        });
        Some(RightsView {
            items,
            contact: r
                .contact
                .as_ref()
                .map(|c| Contact::parse(c))
                .or(controller_contact),
            verification: text(&r.verification),
            response_time: r.response_time.as_ref().map(|t| t.to_words()),
            response_period: r.response_time.as_ref().map(|t| period(t)),
            authorized_agents: r.authorized_agents,
            objection,
        })
    }

    fn cookies(&self) -> Option<CookiesView> {
        let doc = self.doc();
        if doc.cookies.is_empty() && doc.cookie_consent.is_none() {
            return None;
        }
        let own = doc.controller.as_ref().map(|c| c.name.value.clone());
        let mut by_category: BTreeMap<CookieCategory, Vec<CookieView>> = BTreeMap::new();
        for c in &doc.cookies {
            let purpose = c.purpose.as_ref().and_then(|p| self.decl.purpose(p));
            by_category
                .entry(c.category.value)
                .or_default()
                .push(CookieView {
                    name: c.name.value.clone(),
                    provider: text(&c.provider)
                        .or_else(|| own.clone())
                        .unwrap_or_else(|| "us".to_string()),
                    first_party: c.provider.is_none()
                        || c.provider.as_ref().map(|p| &p.value) == own.as_ref(),
                    kind: c.kind.label(),
                    duration: c.duration.as_ref().map(|d| match d.value {
                        CookieDuration::Session => "until you close the browser".to_string(),
                        CookieDuration::Persistent(p) => p.to_words(),
                    }),
                    session: c
                        .duration
                        .as_ref()
                        .is_some_and(|d| d.value == CookieDuration::Session),
                    period: c.duration.as_ref().and_then(|d| match d.value {
                        CookieDuration::Session => None,
                        CookieDuration::Persistent(p) => Some(period(&p)),
                    }),
                    purpose: purpose.map(|p| p.name.value.clone()),
                    purpose_anchor: purpose
                        .filter(|p| p.role == Role::Controller)
                        .map(|p| anchor("purpose", p.id.as_str())),
                    description: text(&c.description),
                });
        }
        let categories: Vec<CookieCategoryView> = by_category
            .into_iter()
            .map(|(cat, cookies)| CookieCategoryView {
                code: variant_name(&cat),
                label: cat.label(),
                explanation: cat.explanation(),
                needs_consent: cat.needs_consent(),
                cookies,
            })
            .collect();
        Some(CookiesView {
            any_consent: categories.iter().any(|c| c.needs_consent),
            consent: doc.cookie_consent.as_ref().map(|cc| CookieConsentView {
                mechanism: variant_name(&cc.mechanism.value),
                opt_in: cc.mechanism.value == ConsentMechanism::OptIn,
                mechanism_label: cc.mechanism.label(),
                reject_all: cc.reject_all,
                reask_after: cc.reask_after.as_ref().map(|d| d.to_words()),
                reask_period: cc.reask_after.as_ref().map(|d| period(d)),
                honours_gpc: cc.honours_gpc,
            }),
            categories,
        })
    }

    fn summary(&self, purposes: &[PurposeView], ccpa: Option<&CcpaView>) -> Summary {
        let mut groups: BTreeMap<String, (String, BTreeSet<String>)> = BTreeMap::new();
        let mut order: Vec<String> = Vec::new();
        let mut special = false;
        for p in purposes {
            for c in &p.categories {
                special |= c.special || c.criminal;
                let root = c.id.split('.').next().unwrap_or(&c.id).to_string();
                let root_label =
                    taxonomy::builtin(&root).map_or_else(|| root.clone(), |b| b.label.to_string());
                let entry = groups.entry(root.clone()).or_insert_with(|| {
                    order.push(root.clone());
                    (root_label, BTreeSet::new())
                });
                if c.id != root {
                    entry.1.insert(lower_first(&c.label));
                }
            }
        }
        let data = order
            .iter()
            .filter_map(|root| groups.remove(root))
            .map(|(label, items)| CategoryGroup {
                label,
                items: items.into_iter().collect(),
            })
            .collect();
        let mut recipients: Vec<RecipientGroup> = Vec::new();
        for r in &self.doc().recipients {
            let used = self
                .by_recipient
                .get(r.id.as_str())
                .is_some_and(|ps| ps.iter().any(|p| p.role == Role::Controller));
            if !used {
                continue;
            }
            let role = r.role.label().to_string();
            match recipients.iter_mut().find(|g| g.role == role) {
                Some(g) => g.names.push(r.name.value.clone()),
                None => recipients.push(RecipientGroup {
                    role,
                    names: vec![r.name.value.clone()],
                }),
            }
        }
        let transfer_countries: BTreeSet<String> = self
            .doc()
            .transfers
            .iter()
            .map(|t| country_in_sentence(t.country.name()))
            .collect();
        let periods: Vec<IsoDuration> = self
            .controller_purposes()
            .filter_map(|p| {
                p.retention
                    .as_ref()
                    .and_then(|r| r.period.as_ref().map(|p| p.value))
            })
            .collect();
        let shortest = periods
            .iter()
            .min_by(|a, b| a.approx_days().total_cmp(&b.approx_days()));
        let longest = periods
            .iter()
            .max_by(|a, b| a.approx_days().total_cmp(&b.approx_days()));
        let offered: Vec<String> = self
            .doc()
            .rights
            .as_ref()
            .map(|r| {
                let set: BTreeSet<Right> = r.offered.iter().map(|o| o.value).collect();
                set.iter().map(|r| r.title().to_string()).collect()
            })
            .unwrap_or_default();
        Summary {
            data,
            special,
            purposes: purposes.iter().map(|p| p.name.clone()).collect(),
            indirect: purposes
                .iter()
                .any(|p| p.sources.iter().any(|s| s.indirect)),
            recipients,
            transfer_countries: transfer_countries.into_iter().collect(),
            retention_range: shortest
                .zip(longest)
                .map(|(s, l)| (s.to_words(), l.to_words())),
            retention_periods: shortest.zip(longest).map(|(s, l)| (period(s), period(l))),
            automated: purposes.iter().any(|p| p.automated.is_some()),
            sells_or_shares: ccpa.is_some_and(|c| c.sells_or_shares),
            rights: offered,
        }
    }

    fn ccpa(&self, purposes: &[PurposeView]) -> CcpaView {
        let doc = self.doc();
        let ccpa = doc.ccpa.as_ref();
        let sold: Vec<CategoryRef> = ccpa
            .map(|c| c.sold.iter().map(|id| self.category(id)).collect())
            .unwrap_or_default();
        let shared: Vec<CategoryRef> = ccpa
            .map(|c| c.shared.iter().map(|id| self.category(id)).collect())
            .unwrap_or_default();
        let within = |list: &[CategoryRef], id: &str| -> bool {
            let Ok(id) = id.parse::<CategoryId>() else {
                return false;
            };
            list.iter()
                .filter_map(|c| c.id.parse::<CategoryId>().ok())
                .any(|c| id.is_within(&c) || c.is_within(&id))
        };
        let mut collected: BTreeMap<CcpaCategory, CcpaCategoryView> = BTreeMap::new();
        let mut sensitive: Vec<CategoryRef> = Vec::new();
        for p in purposes {
            for c in &p.categories {
                let Ok(id) = c.id.parse::<CategoryId>() else {
                    continue;
                };
                let cat = CcpaCategory::of(&id);
                let view = collected.entry(cat).or_insert_with(|| CcpaCategoryView {
                    label: cat.label(),
                    examples: Vec::new(),
                    purposes: Vec::new(),
                    sources: Vec::new(),
                    disclosed_to: Vec::new(),
                    sold: false,
                    shared: false,
                    retention: Vec::new(),
                    sale: "neither",
                });
                push_unique(&mut view.examples, lower_first(&c.label));
                push_unique(&mut view.purposes, p.name.clone());
                let source_names = if p.sources.is_empty() {
                    vec!["you".to_string()]
                } else {
                    p.sources
                        .iter()
                        .filter(|s| {
                            s.categories.is_empty() || s.categories.iter().any(|x| x.id == c.id)
                        })
                        .map(|s| {
                            s.name
                                .clone()
                                .unwrap_or_else(|| s.label.trim_start_matches("from ").to_string())
                        })
                        .collect()
                };
                for s in source_names {
                    push_unique(&mut view.sources, s);
                }
                for r in &p.recipients {
                    push_unique(&mut view.disclosed_to, r.name.clone());
                }
                view.sold |= within(&sold, &c.id);
                view.shared |= within(&shared, &c.id);
                if let Some(t) = p.retention.as_ref().and_then(retention_phrase) {
                    let t = t.trim_end_matches('.').to_string();
                    match view.retention.iter_mut().find(|(phrase, _)| *phrase == t) {
                        Some((_, names)) => push_unique(names, p.name.clone()),
                        None => view.retention.push((t, vec![p.name.clone()])),
                    }
                }
                if c.ccpa_sensitive && !sensitive.iter().any(|s| s.id == c.id) {
                    sensitive.push(c.clone());
                }
            }
        }
        let offered: BTreeSet<Right> = doc
            .rights
            .as_ref()
            .map(|r| r.offered.iter().map(|o| o.value).collect())
            .unwrap_or_default();
        let rights = offered
            .iter()
            .filter_map(|&r| {
                r.ccpa_label().map(|label| CcpaRightView {
                    code: variant_name(&r),
                    label,
                    description: r.description(),
                })
            })
            .collect();
        let contact = doc
            .rights
            .as_ref()
            .and_then(|r| r.contact.as_ref())
            .map(|c| Contact::parse(c));
        CcpaView {
            collected: collected.into_values().collect(),
            sensitive,
            sells_or_shares: !sold.is_empty() || !shared.is_empty(),
            sold,
            shared,
            opt_out_link: ccpa
                .and_then(|c| c.opt_out_link.as_ref())
                .map(|u| Contact::url(u.as_str())),
            honours_gpc: ccpa.is_some_and(|c| c.honours_gpc),
            financial_incentive: ccpa.and_then(|c| text(&c.financial_incentive)),
            sells_minors: ccpa.is_some_and(|c| c.sells_minors),
            rights,
            authorized_agents: doc.rights.as_ref().is_some_and(|r| r.authorized_agents),
            contact,
        }
    }
}

fn push_unique(list: &mut Vec<String>, item: String) {
    if !list.contains(&item) {
        list.push(item);
    }
}

/// The English name of a BCP 47 tag's language, for the languages of the EU/EEA and a few
/// more; other tags are given as written.
///
/// Only for `Content::languages`, which is hashed: the versions of published notices were
/// computed over these names, so they stay. The templates write the names from
/// `show.language_codes` with their language's catalogue.
fn language_name(tag: &str) -> String {
    const NAMES: &[(&str, &str)] = &[
        ("bg", "Bulgarian"),
        ("cs", "Czech"),
        ("da", "Danish"),
        ("de", "German"),
        ("el", "Greek"),
        ("en", "English"),
        ("es", "Spanish"),
        ("et", "Estonian"),
        ("fi", "Finnish"),
        ("fr", "French"),
        ("ga", "Irish"),
        ("hr", "Croatian"),
        ("hu", "Hungarian"),
        ("is", "Icelandic"),
        ("it", "Italian"),
        ("ja", "Japanese"),
        ("lt", "Lithuanian"),
        ("lv", "Latvian"),
        ("mt", "Maltese"),
        ("nb", "Norwegian"),
        ("nl", "Dutch"),
        ("nn", "Norwegian"),
        ("no", "Norwegian"),
        ("pl", "Polish"),
        ("pt", "Portuguese"),
        ("ro", "Romanian"),
        ("sk", "Slovak"),
        ("sl", "Slovenian"),
        ("sv", "Swedish"),
        ("zh", "Chinese"),
    ];
    let primary = tag
        .split(['-', '_'])
        .next()
        .unwrap_or(tag)
        .to_ascii_lowercase();
    NAMES
        .iter()
        .find(|(code, _)| *code == primary)
        .map_or_else(|| tag.to_string(), |(_, name)| (*name).to_string())
}

/// "kept 5 years" → "Kept 5 years".
fn upper_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// End with a full stop unless the text already ends with punctuation.
fn sentence(text: &str) -> String {
    let t = text.trim_end();
    if t.is_empty() || t.ends_with(['.', '!', '?', ')']) {
        t.to_string()
    } else {
        format!("{t}.")
    }
}

/// A country name as it reads in a sentence: "the United States", "Japan".
///
/// Only for `Summary::transfer_countries`, which is hashed (see [`language_name`]); the
/// templates write the countries of `show.transfer_countries` with their catalogue.
fn country_in_sentence(name: &str) -> String {
    const WITH_THE: &[&str] = &[
        "Netherlands",
        "Philippines",
        "Bahamas",
        "Gambia",
        "Maldives",
        "Seychelles",
        "Comoros",
        "Czech Republic",
    ];
    if name.starts_with("United ") || name.ends_with(" Islands") || WITH_THE.contains(&name) {
        format!("the {name}")
    } else {
        name.to_string()
    }
}

/// "E-mail address" → "e-mail address", but "IP address" stays.
pub(crate) fn lower_first(label: &str) -> String {
    let mut chars = label.chars();
    let (Some(first), second) = (chars.next(), chars.next()) else {
        return label.to_string();
    };
    if second.is_some_and(char::is_uppercase) {
        return label.to_string();
    }
    first
        .to_lowercase()
        .chain(label[first.len_utf8()..].chars())
        .collect()
}

/// Whether an address already names its country at the end ("..., Denmark").
fn ends_with_country(address: &Option<String>, country: &Option<String>) -> bool {
    match (address, country) {
        (Some(a), Some(c)) => a
            .trim_end_matches(['.', ' '])
            .to_lowercase()
            .ends_with(&c.to_lowercase()),
        _ => false,
    }
}

fn controller_view(c: &Controller) -> ControllerView {
    let name = c.name.value.trim().to_string();
    let full_name = match text(&c.legal_form) {
        Some(form) if !name.ends_with(&form) => format!("{name} {form}"),
        _ => name.clone(),
    };
    let address = text(&c.address);
    let country = c.country.map(|c| c.name().to_string());
    ControllerView {
        name,
        full_name,
        registration: text(&c.registration),
        country_line: if ends_with_country(&address, &country) {
            None
        } else {
            country.clone()
        },
        address_has_country: ends_with_country(&address, &country),
        address,
        country,
        email: c.email.as_ref().map(|e| Contact::email(e.as_str())),
        phone: text(&c.phone),
        website: c.website.as_ref().map(|u| Contact::url(u.as_str())),
        contact_form: c.contact_form.as_ref().map(|u| Contact::url(u.as_str())),
        group: text(&c.group),
    }
}

fn party_view(p: &Party) -> PartyView {
    let address = text(&p.address);
    let country = p.country.map(|c| c.name().to_string());
    PartyView {
        name: text(&p.name),
        country_line: if ends_with_country(&address, &country) {
            None
        } else {
            country.clone()
        },
        address_has_country: ends_with_country(&address, &country),
        address,
        country,
        email: p.email.as_ref().map(|e| Contact::email(e.as_str())),
        phone: text(&p.phone),
        website: p.website.as_ref().map(|u| Contact::url(u.as_str())),
    }
}

fn basis_view(b: &LegalBasis) -> BasisView {
    let basis = b.basis.value;
    let consent = basis == Basis::Consent;
    BasisView {
        basis,
        code: variant_name(&basis),
        label: basis.label(),
        article: basis.article(),
        explanation: basis.explanation(),
        dpv: basis.dpv(),
        interest: if basis == Basis::LegitimateInterests {
            text(&b.interest)
        } else {
            None
        },
        law: if matches!(basis, Basis::LegalObligation | Basis::PublicTask) {
            text(&b.law)
        } else {
            None
        },
        mechanism: if consent {
            Some(
                b.mechanism
                    .as_ref()
                    .map_or(ConsentMechanism::OptIn, |m| m.value)
                    .label(),
            )
        } else {
            None
        },
        withdrawal: if consent { text(&b.withdrawal) } else { None },
        not_withdrawable: consent && b.withdrawable.as_ref().is_some_and(|w| !w.value),
    }
}

fn retention_phrase(r: &RetentionView) -> Option<String> {
    r.text.clone().or_else(|| r.criteria.clone())
}

fn retention_view(r: &Retention) -> Option<RetentionView> {
    let period = r.period.as_ref().map(|p| p.value);
    let after = text(&r.after);
    let criteria = text(&r.criteria);
    let phrase = match (&period, &after) {
        (Some(p), Some(a)) => Some(format!("{} after {a}", p.to_words())),
        (Some(p), None) => Some(p.to_words()),
        (None, Some(a)) => Some(format!("until {a}")),
        (None, None) => None,
    };
    if phrase.is_none() && criteria.is_none() {
        return None;
    }
    let display = [phrase.as_deref(), criteria.as_deref()]
        .into_iter()
        .flatten()
        .map(|t| sentence(&upper_first(t)))
        .collect::<Vec<_>>()
        .join(" ");
    Some(RetentionView {
        display,
        text: phrase,
        period: period.map(|p| p.to_string()),
        period_text: period.map(|p| p.to_words()),
        after,
        criteria,
    })
}

fn category_uses(purposes: &[PurposeView]) -> Vec<CategoryUse> {
    let mut uses: Vec<CategoryUse> = Vec::new();
    for p in purposes {
        for c in &p.categories {
            match uses.iter_mut().find(|u| u.category.id == c.id) {
                Some(u) => push_unique(&mut u.purposes, p.name.clone()),
                None => uses.push(CategoryUse {
                    category: c.clone(),
                    purposes: vec![p.name.clone()],
                }),
            }
        }
    }
    uses
}

fn source_uses(purposes: &[PurposeView]) -> Vec<SourceUse> {
    let mut uses: Vec<SourceUse> = Vec::new();
    for p in purposes {
        for s in p.sources.iter().filter(|s| s.indirect) {
            let categories = if s.categories.is_empty() {
                p.categories.clone()
            } else {
                s.categories.clone()
            };
            let existing = uses
                .iter_mut()
                .find(|u| u.name == s.name && u.kind == s.kind);
            match existing {
                Some(u) => {
                    push_unique(&mut u.purposes, p.name.clone());
                    for c in categories {
                        if !u.categories.iter().any(|x| x.id == c.id) {
                            u.categories.push(c);
                        }
                    }
                }
                None => uses.push(SourceUse {
                    name: s.name.clone(),
                    kind: s.kind.clone(),
                    label: s.label,
                    noun: s.noun,
                    public: s.public,
                    categories,
                    purposes: vec![p.name.clone()],
                }),
            }
        }
    }
    uses
}

/// Leave out what only the GDPR asks for, and words that cite it, when it does not apply.
fn without_gdpr(c: &mut Content) {
    for p in c.purposes.iter_mut().chain(c.processor_purposes.iter_mut()) {
        p.bases.clear();
        p.special_condition = None;
        p.requirement = None;
        p.automated = None;
        p.transfers.clear();
    }
    c.transfers.clear();
    c.consent.clear();
    c.requirements.clear();
    c.automated.clear();
    c.rights = None;
    c.authority = None;
    c.children.clear();
    c.representative = None;
    c.summary.automated = false;
    c.summary.transfer_countries.clear();
    c.summary.rights.retain(|r| {
        [
            Right::Access,
            Right::Erasure,
            Right::Rectification,
            Right::OptOutOfSale,
            Right::LimitSensitive,
            Right::NonDiscrimination,
        ]
        .iter()
        .any(|x| x.title() == r)
    });
}

/// Decide, once for every format and language, what each part of the notice shows.
fn decide(c: &mut Content, doc: &DeclarationDoc) {
    let has = |id: &str| c.sections.iter().any(|s| s.id == id);
    let rights_contact = c.rights.as_ref().and_then(|r| r.contact.clone());
    let mut show = Show {
        who_we_are: has("who-we-are"),
        purposes: has("purposes"),
        data: has("data"),
        sources: has("sources"),
        recipients: has("recipients"),
        transfers: has("transfers"),
        retention: has("retention"),
        requirements: has("requirements"),
        automated: has("automated"),
        rights: has("rights"),
        consent: has("consent"),
        complaints: has("complaints"),
        cookies: has("cookies"),
        for_customers: has("for-customers"),
        security: has("security"),
        children: has("children"),
        california: has("california"),
        retention_same: c
            .summary
            .retention_range
            .as_ref()
            .is_some_and(|(shortest, longest)| shortest == longest),
        rights_anchor: if c.rights.is_some() {
            "rights"
        } else {
            "california"
        },
        rights_contact,
        special_note: c.summary.special && c.regimes.any_gdpr,
        subject_descriptions: c.subjects.iter().any(|s| s.description.is_some()),
        languages: c.languages.len() > 1,
        language_codes: doc
            .policy
            .as_ref()
            .map(|p| {
                p.languages
                    .iter()
                    .map(|l| l.value.trim().to_string())
                    .collect()
            })
            .unwrap_or_default(),
        transfer_countries: Vec::new(),
    };
    // The countries the summary names, in its order (where the GDPR does not apply, none).
    for t in &doc.transfers {
        let code = t.country.to_string();
        if !c.summary.transfer_countries.is_empty()
            && !show.transfer_countries.iter().any(|x| x.code == code)
        {
            show.transfer_countries.push(CountryRef {
                code,
                name: t.country.name().to_string(),
            });
        }
    }
    show.transfer_countries.sort_by_key(|x| {
        let phrase = country_in_sentence(&x.name);
        c.summary
            .transfer_countries
            .iter()
            .position(|p| *p == phrase)
    });
    c.show = show;
    for p in c.purposes.iter_mut().chain(c.processor_purposes.iter_mut()) {
        // Without automated decisions (or with them left out, where the GDPR does not
        // apply), profiling is said on its own.
        p.profiling_only = p.profiling && p.automated.is_none();
    }
    if let Some(o) = c.rights.as_mut().and_then(|r| r.objection.as_mut()) {
        o.general = o.marketing.is_empty() && o.other.is_empty();
    }
    if let Some(ca) = c.ccpa.as_mut() {
        for cat in &mut ca.collected {
            cat.sale = match (cat.sold, cat.shared) {
                (true, true) => "sold_and_shared",
                (true, false) => "sold",
                (false, true) => "shared",
                (false, false) => "neither",
            };
        }
    }
}

/// The sections a notice has, given its content.
fn sections(c: &Content) -> Vec<Section> {
    let mut s = Vec::new();
    let mut add = |present: bool, id: &'static str, title: &'static str| {
        if present {
            s.push(Section { id, title });
        }
    };
    add(true, "summary", "Summary");
    add(
        c.controller.is_some() || c.dpo.is_some() || c.representative.is_some(),
        "who-we-are",
        "Who we are",
    );
    add(
        !c.purposes.is_empty(),
        "purposes",
        "What we do with your data, and why",
    );
    add(!c.categories.is_empty(), "data", "The data we process");
    add(
        !c.indirect_sources.is_empty(),
        "sources",
        "Data we obtain from others",
    );
    add(
        !c.recipients.is_empty(),
        "recipients",
        "Who receives your data",
    );
    add(
        !c.transfers.is_empty(),
        "transfers",
        "Transfers outside the European Economic Area",
    );
    add(
        !c.retention.is_empty(),
        "retention",
        "How long we keep your data",
    );
    add(
        !c.requirements.is_empty(),
        "requirements",
        "Whether you must provide your data",
    );
    add(
        !c.automated.is_empty(),
        "automated",
        "Automated decisions and profiling",
    );
    add(c.rights.is_some(), "rights", "Your rights");
    add(!c.consent.is_empty(), "consent", "Withdrawing consent");
    add(
        c.authority.is_some() || c.rights.is_some(),
        "complaints",
        "Complaints",
    );
    add(
        c.cookies.is_some(),
        "cookies",
        "Cookies and similar technologies",
    );
    add(
        !c.processor_purposes.is_empty(),
        "for-customers",
        "Processing on behalf of our customers",
    );
    add(
        !c.security.is_empty(),
        "security",
        "How we protect your data",
    );
    add(!c.children.is_empty(), "children", "Children");
    add(
        c.ccpa.is_some(),
        "california",
        "Notice to California residents",
    );
    add(true, "about", "About this notice");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contacts_are_recognised() {
        assert_eq!(
            Contact::parse("privacy@x.com").href.as_deref(),
            Some("mailto:privacy@x.com")
        );
        assert_eq!(
            Contact::parse("https://x.com/form").href.as_deref(),
            Some("https://x.com/form")
        );
        assert!(Contact::parse("Write to us at 1 Main St").href.is_none());
    }

    #[test]
    fn labels_lose_their_capital_unless_an_acronym() {
        assert_eq!(lower_first("E-mail address"), "e-mail address");
        assert_eq!(lower_first("IP address"), "IP address");
    }
}
