//! What the cookie banner and the preference centre show, computed from the declaration.
//!
//! [`config`] turns the declared cookies into the banner's categories (which are essential,
//! which trackers each holds, which purposes they serve, which a Global Privacy Control
//! signal turns off) with the notice they belong to. Its `text_hash` is the SHA-256 of
//! everything the banner shows, so a consent event can name exactly the text a person saw.
//! [`preferences`] lists what a known person may give and withdraw: the purposes based on
//! consent and the direct-marketing purposes (objection to those is absolute, Art. 21(3)).

use crate::notice;
use pledge_lang::load::Declaration;
use pledge_lang::model::{Basis, CookieCategory, Purpose};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// The banner's configuration: served as `/banner/config.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BannerConfig {
    /// The notice the banner links to and the choice is recorded against.
    pub notice: NoticeRef,
    /// `sha256:<hex>` of the notice reference, the categories and the texts, as serialised
    /// here: everything the banner shows.
    pub text_hash: String,
    /// Days after which a stored choice is asked again (`cookie_consent.reask_after`, years
    /// and months counted as 365 and 30 days); `None`: the declaration does not say.
    pub reask_after_days: Option<u32>,
    pub categories: Vec<Category>,
    /// The banner's own words. They are part of what the person sees, so of `text_hash`.
    pub texts: Texts,
}

/// The words of the banner, in English.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Texts {
    pub title: &'static str,
    pub intro: &'static str,
    pub notice_link: &'static str,
    /// Shown when the browser sends Global Privacy Control.
    pub gpc: &'static str,
    pub categories: &'static str,
    /// After the label of an essential category.
    pub always_on: &'static str,
    /// After the label of a category Global Privacy Control keeps off.
    pub gpc_off: &'static str,
    /// Before the list of a category's trackers.
    pub used: &'static str,
    pub accept_all: &'static str,
    pub reject_all: &'static str,
    pub choose: &'static str,
    pub save: &'static str,
    /// The button that reopens the banner, where the page has no link of its own.
    pub settings: &'static str,
    /// Announced to screen readers once a choice is made.
    pub saved: &'static str,
}

/// The banner's words.
pub const ENGLISH: Texts = Texts {
    title: "Cookies on this site",
    intro: "We use cookies that the site needs to work. With your consent we would also use others, listed under Choose. You can change your mind at any time with the Cookie settings link.",
    notice_link: "Privacy notice",
    gpc: "Your browser sends a Global Privacy Control signal: advertising and similar categories stay off.",
    categories: "Categories",
    always_on: "always on",
    gpc_off: "off: Global Privacy Control",
    used: "Used:",
    accept_all: "Accept all",
    reject_all: "Reject all",
    choose: "Choose",
    save: "Save choices",
    settings: "Cookie settings",
    saved: "Your cookie choice is saved.",
};

/// The notice a choice is made against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NoticeRef {
    /// Where the notice is published (`policy.url`), if declared.
    pub url: Option<String>,
    /// The notice's version: the first 12 hex digits of `digest`.
    pub version: String,
    /// `sha256:<hex>` of the notice's content.
    pub digest: String,
}

/// One cookie category the banner offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Category {
    pub id: CookieCategory,
    pub label: &'static str,
    pub description: &'static str,
    /// Exempt from consent: shown as always on, never asked.
    pub essential: bool,
    /// Sale, sharing or targeted advertising: off when the browser sends Global Privacy
    /// Control, and not switched on by "accept all" then.
    pub gpc_opt_out: bool,
    pub trackers: Vec<Tracker>,
    /// The purposes the category's trackers serve, by id, each once.
    pub purposes: Vec<PurposeRef>,
}

/// A declared cookie or similar tracker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tracker {
    pub name: String,
    /// Who sets or reads it; `None`: the company itself.
    pub provider: Option<String>,
    pub kind: &'static str,
    /// `session` or an ISO 8601 duration.
    pub duration: Option<String>,
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PurposeRef {
    pub id: String,
    pub name: String,
}

/// Whether a category is about sale, sharing or targeted advertising, which a Global Privacy
/// Control signal opts out of. Social media plugins follow people across sites for
/// advertising, which the CCPA counts as sharing.
pub fn gpc_opts_out(category: CookieCategory) -> bool {
    matches!(
        category,
        CookieCategory::Advertising | CookieCategory::SocialMedia
    )
}

/// The banner's configuration: one category per category of the declared cookies, in the
/// order of [`CookieCategory`].
pub fn config(decl: &Declaration) -> BannerConfig {
    let doc = decl.doc();
    let mut ids: Vec<CookieCategory> = doc.cookies.iter().map(|c| c.category.value).collect();
    ids.sort();
    ids.dedup();
    let categories = ids
        .into_iter()
        .map(|id| category(decl, id))
        .collect::<Vec<_>>();
    let view = notice::view(decl, notice::DEFAULT_LANG, None);
    let notice = NoticeRef {
        url: doc
            .policy
            .as_ref()
            .and_then(|p| p.url.as_ref())
            .map(|u| u.value.to_string()),
        version: view.version,
        digest: view.digest,
    };
    let reask_after_days = doc
        .cookie_consent
        .as_ref()
        .and_then(|c| c.reask_after.as_ref())
        .map(|d| {
            let d = d.value;
            d.years
                .saturating_mul(365)
                .saturating_add(d.months.saturating_mul(30))
                .saturating_add(d.weeks.saturating_mul(7))
                .saturating_add(d.days)
        });
    let texts = ENGLISH;
    let text_hash = sha256_json(&(&notice, &categories, &texts));
    BannerConfig {
        notice,
        text_hash,
        reask_after_days,
        categories,
        texts,
    }
}

fn category(decl: &Declaration, id: CookieCategory) -> Category {
    let doc = decl.doc();
    let mut trackers = Vec::new();
    let mut purposes: Vec<PurposeRef> = Vec::new();
    for cookie in doc.cookies.iter().filter(|c| c.category.value == id) {
        trackers.push(Tracker {
            name: cookie.name.value.clone(),
            provider: cookie.provider.as_ref().map(|p| p.value.clone()),
            kind: cookie.kind.label(),
            duration: cookie.duration.as_ref().map(|d| d.value.to_string()),
            description: cookie.description.as_ref().map(|d| d.value.clone()),
        });
        let Some(purpose_id) = &cookie.purpose else {
            continue;
        };
        if purposes.iter().any(|p| p.id == purpose_id.value.as_str()) {
            continue;
        }
        if let Some(purpose) = find_purpose(decl, purpose_id.value.as_str()) {
            purposes.push(PurposeRef {
                id: purpose.id.value.to_string(),
                name: purpose.name.value.clone(),
            });
        }
    }
    Category {
        id,
        label: id.label(),
        description: id.explanation(),
        essential: !id.needs_consent(),
        gpc_opt_out: gpc_opts_out(id),
        trackers,
        purposes,
    }
}

fn find_purpose<'a>(decl: &'a Declaration, id: &str) -> Option<&'a Purpose> {
    decl.doc()
        .purposes
        .iter()
        .find(|p| p.id.value.as_str() == id)
}

/// Why a person may switch a preference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PreferenceBasis {
    /// The purpose rests on consent: given and withdrawn (Art. 7(3)).
    Consent,
    /// Direct marketing on another basis: the person may object at any time (Art. 21(2)).
    Objection,
}

/// A preference a known person sees and changes in the preference centre.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Preference {
    pub purpose: String,
    pub name: String,
    pub description: Option<String>,
    pub basis: PreferenceBasis,
    /// Direct marketing (newsletters, offers): what an e-mail's unsubscribe link withdraws.
    pub marketing: bool,
}

/// The purposes a person may switch, in declaration order: those based on consent, and
/// direct marketing on any basis.
pub fn preferences(decl: &Declaration) -> Vec<Preference> {
    decl.doc()
        .purposes
        .iter()
        .filter_map(|p| {
            let consent = p
                .legal_bases
                .iter()
                .any(|b| b.value.basis.value == Basis::Consent);
            let basis = if consent {
                PreferenceBasis::Consent
            } else if p.direct_marketing {
                PreferenceBasis::Objection
            } else {
                return None;
            };
            Some(Preference {
                purpose: p.id.value.to_string(),
                name: p.name.value.clone(),
                description: p.description.as_ref().map(|d| d.value.clone()),
                basis,
                marketing: p.direct_marketing,
            })
        })
        .collect()
}

/// `sha256:<hex>` of a value's JSON.
fn sha256_json<T: Serialize>(value: &T) -> String {
    // The values hashed here hold only strings, numbers, booleans and lists: serialising
    // them cannot fail, and an empty string would still hash to a fixed value.
    let json = serde_json::to_vec(value).unwrap_or_default();
    let hash = Sha256::digest(&json);
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256:");
    for byte in hash.iter() {
        out.push(char::from(HEX[usize::from(byte >> 4)]));
        out.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
    out
}

const HEX: &[u8; 16] = b"0123456789abcdef";

#[cfg(test)]
mod tests {
    use super::*;
    use pledge_lang::SourceMap;

    const DECL: &str = r#"
[policy]
url = "https://shop.example/privacy"

[controller]
name = "Shop"

[cookie_consent]
mechanism = "opt_in"
reject_all = true
reask_after = "P6M"

[[purposes]]
id = "analytics"
name = "Audience measurement"
legal_bases = ["consent"]

[[purposes]]
id = "newsletter"
name = "Newsletter"
description = "A monthly e-mail about new products."
legal_bases = ["consent"]
direct_marketing = true

[[purposes]]
id = "offers"
name = "Offers to customers"
legal_bases = [{ basis = "legitimate_interests", interest = "Telling customers about similar products" }]
direct_marketing = true

[[purposes]]
id = "orders"
name = "Orders"
legal_bases = ["contract"]

[[cookies]]
name = "_ga"
provider = "Google"
category = "analytics"
duration = "P2Y"
purpose = "analytics"

[[cookies]]
name = "session"
category = "strictly_necessary"
duration = "session"

[[cookies]]
name = "_fbp"
provider = "Meta"
category = "advertising"
"#;

    fn decl(text: &str) -> Declaration {
        pledge_lang::load(&SourceMap::single("pledge.toml", text))
            .expect("the test declaration loads")
    }

    #[test]
    fn categories_follow_the_declared_cookies() {
        let config = config(&decl(DECL));
        let ids: Vec<_> = config.categories.iter().map(|c| c.id).collect();
        assert_eq!(
            ids,
            [
                CookieCategory::StrictlyNecessary,
                CookieCategory::Analytics,
                CookieCategory::Advertising
            ]
        );
        let flags: Vec<_> = config
            .categories
            .iter()
            .map(|c| (c.essential, c.gpc_opt_out))
            .collect();
        assert_eq!(flags, [(true, false), (false, false), (false, true)]);
        assert_eq!(config.categories[1].purposes[0].id, "analytics");
        assert_eq!(
            config.categories[1].trackers[0].duration.as_deref(),
            Some("P2Y")
        );
        assert_eq!(config.reask_after_days, Some(180));
        assert_eq!(
            config.notice.url.as_deref(),
            Some("https://shop.example/privacy")
        );
        assert!(config.text_hash.starts_with("sha256:") && config.text_hash.len() == 71);
    }

    #[test]
    fn text_hash_changes_with_what_is_shown() {
        let before = config(&decl(DECL));
        let after = config(&decl(&DECL.replace("name = \"_fbp\"", "name = \"_fbc\"")));
        assert_ne!(before.text_hash, after.text_hash);
        assert_eq!(before.text_hash, config(&decl(DECL)).text_hash);
    }

    #[test]
    fn preferences_are_consent_and_direct_marketing_purposes() {
        let prefs = preferences(&decl(DECL));
        let got: Vec<_> = prefs
            .iter()
            .map(|p| (p.purpose.as_str(), p.basis, p.marketing))
            .collect();
        assert_eq!(
            got,
            [
                ("analytics", PreferenceBasis::Consent, false),
                ("newsletter", PreferenceBasis::Consent, true),
                ("offers", PreferenceBasis::Objection, true),
            ]
        );
    }
}
