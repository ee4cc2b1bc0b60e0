//! The words of the person's pages and mails, in every language the server speaks: one
//! message catalogue per language (`messages/<tag>.toml`, embedded in the binary), keyed
//! messages with named placeholders (`"Your privacy with {controller}"`).
//!
//! - [`tr`] looks a message up by language and key and fills its placeholders; a key the
//!   language lacks falls back to English, then to the key itself (the tests make sure
//!   neither happens).
//! - [`register`] gives a minijinja environment the function `t("key", name=value, ...)`
//!   (in the language of the template's `lang` variable; in an HTML template the message
//!   and the values are escaped, values marked safe are not) and the filter `date` (a Unix
//!   time as the language writes a day). The person's pages, the mails and the staff
//!   console (the `[console]` section) use these two, so that a language is added in one
//!   place.
//! - [`negotiate`] chooses the language of a page: `?lang=`, then the language cookie, then
//!   `Accept-Language` (by q-value), then the configured default.
//!
//! Adding a language: write `messages/<tag>.toml` with every key of `en.toml` and the same
//! placeholders, and add it to [`SOURCES`]. The tests of `complete` (below) say
//! what is missing.

use minijinja::value::{Kwargs, Value};
use minijinja::{AutoEscape, Environment, Error, ErrorKind, State};
use pledge_lang::time::CivilTime;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;
use thiserror::Error;

/// The catalogues built in, by BCP 47 tag: English first (the fallback).
pub const SOURCES: &[(&str, &str)] = &[
    ("en", include_str!("../messages/en.toml")),
    ("da", include_str!("../messages/da.toml")),
    ("fr", include_str!("../messages/fr.toml")),
];

/// The language every other falls back to, key by key.
pub const FALLBACK: &str = "en";

/// The cookie that keeps the language a person chose with the switcher.
pub const COOKIE: &str = "pledge_lang";

/// Why a catalogue cannot be read.
#[derive(Debug, Error)]
pub enum CatalogueError {
    #[error("messages/{lang}.toml: {message}")]
    Syntax { lang: String, message: String },
    #[error("messages/{lang}.toml: `{key}` is not text")]
    NotText { lang: String, key: String },
}

/// One language's messages, by dotted key (`[privacy]` + `title` is `privacy.title`).
#[derive(Debug, Default)]
pub struct Catalogue {
    pub tag: &'static str,
    messages: BTreeMap<String, String>,
}

impl Catalogue {
    /// Parses a catalogue's TOML: nested tables, text at the leaves.
    pub fn parse(tag: &'static str, source: &str) -> Result<Catalogue, CatalogueError> {
        let table: toml::Table = toml::from_str(source).map_err(|e| CatalogueError::Syntax {
            lang: tag.to_string(),
            message: e.to_string(),
        })?;
        let mut messages = BTreeMap::new();
        flatten(tag, "", &table, &mut messages)?;
        Ok(Catalogue { tag, messages })
    }

    /// The message of `key`, placeholders unfilled.
    pub fn raw(&self, key: &str) -> Option<&str> {
        self.messages.get(key).map(String::as_str)
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.messages.keys().map(String::as_str)
    }
}

fn flatten(
    tag: &'static str,
    prefix: &str,
    table: &toml::Table,
    out: &mut BTreeMap<String, String>,
) -> Result<(), CatalogueError> {
    for (k, v) in table {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::String(s) => {
                out.insert(key, s.clone());
            }
            toml::Value::Table(t) => flatten(tag, &key, t, out)?,
            _ => {
                return Err(CatalogueError::NotText {
                    lang: tag.to_string(),
                    key,
                });
            }
        }
    }
    Ok(())
}

/// Every catalogue, in the order of [`SOURCES`].
#[derive(Debug, Default)]
pub struct Catalogues {
    list: Vec<Catalogue>,
}

impl Catalogues {
    pub fn parse(sources: &[(&'static str, &str)]) -> Result<Catalogues, CatalogueError> {
        let list = sources
            .iter()
            .map(|(tag, source)| Catalogue::parse(tag, source))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Catalogues { list })
    }

    pub fn get(&self, lang: &str) -> Option<&Catalogue> {
        self.list.iter().find(|c| c.tag == lang)
    }

    pub fn all(&self) -> &[Catalogue] {
        &self.list
    }
}

static CATALOGUES: LazyLock<Catalogues> = LazyLock::new(|| {
    Catalogues::parse(SOURCES).unwrap_or_else(|e| {
        // The built-in files are checked by the tests; were one broken, the pages would
        // show keys rather than fail.
        tracing::error!(error = %e, "a message catalogue cannot be read");
        Catalogues::default()
    })
});

/// The built-in catalogues.
pub fn catalogues() -> &'static Catalogues {
    &CATALOGUES
}

/// The tags of the languages built in, English first.
pub fn languages() -> impl Iterator<Item = &'static str> {
    SOURCES.iter().map(|(tag, _)| *tag)
}

/// The built-in language a tag asks for: `da`, `da-DK` and `DA_dk` are `da`; `None` for a
/// language that is not built in.
pub fn matching(tag: &str) -> Option<&'static str> {
    let primary = tag.trim().split(['-', '_']).next()?.to_ascii_lowercase();
    languages().find(|l| *l == primary)
}

/// The language `Accept-Language` prefers among those built in: the ranges by q-value,
/// highest first (equal ones in the order sent), ranges with `q=0` never; `*` says
/// nothing (the caller's default applies).
pub fn from_accept_language(header: &str) -> Option<&'static str> {
    let mut ranges: Vec<(f32, usize, &str)> = header
        .split(',')
        .enumerate()
        .filter_map(|(i, item)| {
            let mut parts = item.split(';');
            let range = parts.next()?.trim();
            let q = parts
                .find_map(|p| {
                    let (k, v) = p.split_once('=')?;
                    k.trim().eq_ignore_ascii_case("q").then(|| v.trim())
                })
                .map_or(Some(1.0), |q| q.parse::<f32>().ok())?;
            (!range.is_empty() && q > 0.0 && q <= 1.0).then_some((q, i, range))
        })
        .collect();
    ranges.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    ranges
        .into_iter()
        .take_while(|(_, _, range)| *range != "*")
        .find_map(|(_, _, range)| matching(range))
}

/// The language a request's `language` field names, if any: a built-in one (`da-DK` is
/// `da`), or why not.
pub fn language_field(value: Option<&str>) -> Result<Option<&'static str>, String> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(tag) => matching(tag).map(Some).ok_or_else(|| {
            let known: Vec<&str> = languages().collect();
            format!(
                "`language`: `{tag}` is not a language of these pages (one of {})",
                known.join(", ")
            )
        }),
    }
}

/// The language of a page: `?lang=`, then the cookie, then `Accept-Language`, then
/// `default` (itself one built in, or English).
pub fn negotiate(
    query: Option<&str>,
    cookie: Option<&str>,
    accept_language: Option<&str>,
    default: &str,
) -> &'static str {
    query
        .and_then(matching)
        .or_else(|| cookie.and_then(matching))
        .or_else(|| accept_language.and_then(from_accept_language))
        .or_else(|| matching(default))
        .unwrap_or(FALLBACK)
}

/// The message `key` in `lang`, its placeholders filled from `args`.
pub fn tr(lang: &str, key: &str, args: &[(&str, &str)]) -> String {
    fill(message(lang, key), |name| {
        args.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| (*v).to_string())
    })
}

/// The message `key` in `lang`, or in English, or the key itself.
fn message<'a>(lang: &str, key: &'a str) -> &'a str {
    let found = catalogues()
        .get(lang)
        .and_then(|c| c.raw(key))
        .or_else(|| catalogues().get(FALLBACK).and_then(|c| c.raw(key)));
    match found {
        Some(text) => text,
        None => {
            tracing::warn!(lang, key, "no message for this key");
            key
        }
    }
}

/// `text` with each `{name}` replaced by `value(name)`; a placeholder with no value, and
/// any other brace, is left as written.
fn fill(text: &str, mut value: impl FnMut(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    let mut rest = text;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let name_len = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        let name = &after[..name_len];
        match (after[name_len..].starts_with('}') && !name.is_empty())
            .then(|| value(name))
            .flatten()
        {
            Some(v) => {
                out.push_str(&v);
                rest = &after[name_len + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The placeholders of a message: the names between braces.
pub fn placeholders(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    fill(text, |name| {
        names.insert(name.to_string());
        None
    });
    names
}

/// A Unix time's day as `lang` writes it in a sentence: "1 March 2026", "1. marts 2026",
/// "1er mars 2026".
pub fn date(lang: &str, unix: i64) -> String {
    let t = CivilTime::from_unix(unix);
    let format = if t.day == 1 {
        "date.first"
    } else {
        "date.format"
    };
    tr(
        lang,
        format,
        &[
            ("day", &t.day.to_string()),
            ("month", &tr(lang, &format!("month.{}", t.month), &[])),
            ("year", &t.year.to_string()),
        ],
    )
}

/// The language of a template's render: its `lang` variable, a built-in one, or English.
fn lang_of(state: &State<'_, '_>) -> &'static str {
    state
        .lookup("lang")
        .and_then(|v| v.as_str().and_then(matching))
        .unwrap_or(FALLBACK)
}

/// `t("key", name=value, ...)`: the message in the template's language. In an HTML
/// template the text and the values are escaped (a value marked safe, such as the output
/// of `{% set x %}...{% endset %}`, is not) and the result is marked safe.
fn t(state: &State<'_, '_>, key: &str, kwargs: Kwargs) -> Result<Value, Error> {
    let html = matches!(state.auto_escape(), AutoEscape::Html);
    let mut values: Vec<(String, Value)> = Vec::new();
    for name in kwargs.args() {
        values.push((name.to_string(), kwargs.get::<Value>(name)?));
    }
    kwargs.assert_all_used()?;
    let text = message(lang_of(state), key);
    let mut missing = None;
    let filled = fill(text, |name| {
        let found = values.iter().find(|(n, _)| n == name);
        if found.is_none() {
            missing = Some(name.to_string());
        }
        found.map(|(_, v)| match (html, v.is_safe()) {
            (false, _) => plain(v),
            // A marker no message holds, so that the text around it is escaped alone.
            (true, true) => format!("\u{1}{}\u{2}", plain(v)),
            (true, false) => format!("\u{1}{}\u{2}", pledge_docs::html::escape(&plain(v))),
        })
    });
    if let Some(name) = missing {
        return Err(Error::new(
            ErrorKind::MissingArgument,
            format!("message `{key}` needs `{name}`"),
        ));
    }
    if !html {
        return Ok(Value::from(filled));
    }
    // Escape the literal text around the values.
    let mut out = String::new();
    let mut rest = filled.as_str();
    while let Some(start) = rest.find('\u{1}') {
        out.push_str(&pledge_docs::html::escape(&rest[..start]));
        let after = &rest[start + 1..];
        let end = after.find('\u{2}').unwrap_or(after.len());
        out.push_str(&after[..end]);
        rest = after.get(end + 1..).unwrap_or("");
    }
    out.push_str(&pledge_docs::html::escape(rest));
    Ok(Value::from_safe_string(out))
}

/// A value as text: `none` is empty.
fn plain(v: &Value) -> String {
    if v.is_none() || v.is_undefined() {
        String::new()
    } else {
        v.to_string()
    }
}

/// `unix | date`: the day in the template's language; `none` stays empty.
fn date_filter(state: &State<'_, '_>, unix: Option<i64>) -> String {
    unix.map(|t| date(lang_of(state), t)).unwrap_or_default()
}

/// Gives `env` the function `t` and the filter `date`. The templates then need a `lang`
/// variable (a tag of [`languages`]; anything else reads as English).
pub fn register(env: &mut Environment<'_>) {
    env.add_function("t", t);
    env.add_filter("date", date_filter);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogues_parse() {
        Catalogues::parse(SOURCES).unwrap();
        assert_eq!(catalogues().all().len(), SOURCES.len());
    }

    #[test]
    fn accept_language_is_read_by_q_value() {
        assert_eq!(from_accept_language("da, en;q=0.8"), Some("da"));
        assert_eq!(
            from_accept_language("de;q=1, fr-CA;q=0.9, da;q=0.8"),
            Some("fr")
        );
        assert_eq!(from_accept_language("en;q=0.2, da-DK;q=0.7"), Some("da"));
        assert_eq!(from_accept_language("fr;q=0, en"), Some("en"));
        assert_eq!(from_accept_language("fr;q=0"), None);
        assert_eq!(from_accept_language("de, *;q=0.5"), None);
        assert_eq!(
            from_accept_language("*, fr"),
            None,
            "* first: no preference"
        );
        assert_eq!(from_accept_language("fr;q=bad, da"), Some("da"));
        assert_eq!(from_accept_language(""), None);
    }

    #[test]
    fn the_query_wins_then_the_cookie_then_the_header_then_the_default() {
        assert_eq!(negotiate(Some("fr"), Some("da"), Some("en"), "en"), "fr");
        assert_eq!(negotiate(Some("xx"), Some("da"), Some("fr"), "en"), "da");
        assert_eq!(negotiate(None, None, Some("fr-FR,fr;q=0.9"), "da"), "fr");
        assert_eq!(negotiate(None, None, Some("de"), "da"), "da");
        assert_eq!(negotiate(None, None, None, "xx"), "en");
    }

    #[test]
    fn placeholders_are_filled_and_others_left() {
        assert_eq!(
            fill("a {b} {c} {} {d", |n| (n == "b").then(|| "B".into())),
            "a B {c} {} {d"
        );
        assert_eq!(
            placeholders("{day}. {month} {year}"),
            ["day", "month", "year"].map(String::from).into()
        );
    }

    #[test]
    fn dates_are_written_per_language() {
        let first = 1_769_904_000; // 2026-02-01
        let ninth = 1_773_014_400; // 2026-03-09
        assert_eq!(date("en", first), "1 February 2026");
        assert_eq!(date("da", ninth), "9. marts 2026");
        assert_eq!(date("fr", first), "1er février 2026");
        assert_eq!(date("fr", ninth), "9 mars 2026");
    }

    #[test]
    fn messages_are_escaped_in_html_and_not_in_text() {
        let mut env = Environment::new();
        register(&mut env);
        env.add_template("a.html", r#"{% set e %}<b>{{ who }}</b>{% endset %}{{ t("sent.text", email=e) }}|{{ t("privacy.heading", controller=who) }}"#)
            .unwrap();
        env.add_template("a.txt", r#"{{ t("privacy.heading", controller=who) }}"#)
            .unwrap();
        let ctx = minijinja::context! { lang => "fr", who => "A&B" };
        let html = env.get_template("a.html").unwrap().render(&ctx).unwrap();
        assert!(html.contains("message à <b>A&amp;B</b>."), "{html}");
        assert!(html.ends_with("chez A&amp;B"), "{html}");
        let text = env.get_template("a.txt").unwrap().render(&ctx).unwrap();
        assert_eq!(text, "Vos données personnelles chez A&B");
        // A missing value is an error of the template, not a message with a hole.
        env.add_template("b.html", r#"{{ t("privacy.heading") }}"#)
            .unwrap();
        assert!(env.get_template("b.html").unwrap().render(&ctx).is_err());
    }
}

/// The test that fails on a missing message: every catalogue has the keys and placeholders
/// of English, and every key the templates and the code name is in every catalogue.
#[cfg(test)]
mod complete {
    use super::*;
    use std::path::Path;

    /// Every `t("key", name=value, ...)` call of a template with a literal key: the key
    /// and the names of its arguments. Calls whose key is built (`"kind." ~ k.kind`) are
    /// left to [`families`].
    fn template_calls(source: &str) -> Vec<(String, BTreeSet<String>)> {
        let mut calls = Vec::new();
        let mut rest = source;
        while let Some(at) = rest.find("t(\"") {
            let before = rest[..at].chars().next_back();
            rest = &rest[at + 3..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            let Some(end) = rest.find('"') else { break };
            let key = &rest[..end];
            let after = &rest[end + 1..];
            // A built key goes on with `~`: not a literal one.
            if !(after.starts_with(')') || after.starts_with(',')) {
                continue;
            }
            // The arguments, to the parenthesis that closes the call.
            let mut depth = 1;
            let mut close = after.len();
            for (i, c) in after.char_indices() {
                match c {
                    '(' => depth += 1,
                    ')' => {
                        depth -= 1;
                        if depth == 0 {
                            close = i;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            let args = &after[..close];
            let mut names = BTreeSet::new();
            let mut depth = 0;
            let mut word = String::new();
            let mut chars = args.chars().peekable();
            while let Some(c) = chars.next() {
                match c {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    '=' if depth == 0 && chars.peek() != Some(&'=') && !word.is_empty() => {
                        names.insert(std::mem::take(&mut word));
                    }
                    c if c.is_alphanumeric() || c == '_' => word.push(c),
                    ' ' => {}
                    _ => word.clear(),
                }
            }
            calls.push((key.to_string(), names));
        }
        calls
    }

    /// The string literals of Rust sources that name a message: a key of a catalogue's
    /// section (`"link.expired"`), not a file (`"status.html"`) or a built key.
    fn rust_keys(source: &str, sections: &BTreeSet<&str>) -> BTreeSet<String> {
        source
            .split('"')
            .skip(1)
            .step_by(2)
            .filter(|s| {
                let mut parts = s.split('.');
                let first = parts.next().unwrap_or("");
                sections.contains(first)
                    && s.contains('.')
                    && s.chars().all(|c| {
                        c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.'
                    })
                    && ![".html", ".txt", ".toml", ".rs", ".json"]
                        .iter()
                        .any(|ext| s.ends_with(ext))
            })
            .map(str::to_string)
            .collect()
    }

    /// The Rust files under `dir`, by their path from the crate's folder.
    fn rust_sources(dir: &Path, out: &mut Vec<(String, String)>) {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                rust_sources(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let name = path
                    .strip_prefix(root)
                    .unwrap_or(&path)
                    .display()
                    .to_string();
                out.push((name, std::fs::read_to_string(&path).unwrap()));
            }
        }
    }

    /// The keys the code builds from a vocabulary: each kind of request, each state, each
    /// kind of cookie, each built-in data category, each law and place of the privacy
    /// center, each month.
    fn families() -> Vec<String> {
        use pledge_lang::model::CookieCategory::{self, *};
        let mut keys = Vec::new();
        for right in pledge_lang::rights::RIGHTS {
            for part in ["name", "help", "about"] {
                keys.push(format!("kind.{}.{part}", right.as_str()));
            }
        }
        for state in pledge_domain::workflow::STATES {
            keys.push(format!("state.{}", state.as_str()));
        }
        let cookies = [
            StrictlyNecessary,
            Security,
            Preferences,
            Analytics,
            Advertising,
            SocialMedia,
        ];
        for c in cookies {
            // A new kind of cookie stops this match from compiling: add it to the list.
            match c {
                StrictlyNecessary | Security | Preferences | Analytics | Advertising
                | SocialMedia => {}
            }
            keys.push(format!(
                "cookie.{}",
                pledge_lang::model::variant_name::<CookieCategory>(&c)
            ));
        }
        for category in pledge_lang::taxonomy::BUILTIN {
            keys.push(format!("category.{}", category.id));
        }
        keys.extend(["law.gdpr", "law.ccpa"].map(String::from));
        for place in ["eu", "gb", "us_ca", "elsewhere"] {
            keys.push(format!("place.{place}"));
        }
        for month in 1..=12 {
            keys.push(format!("month.{month}"));
        }
        keys.extend(crate::http::console::vocabulary());
        keys
    }

    #[test]
    fn every_catalogue_has_every_key_with_the_same_placeholders() {
        let all = Catalogues::parse(SOURCES).unwrap();
        let english = all.get(FALLBACK).unwrap();
        let mut problems = Vec::new();
        for c in all.all() {
            for key in english.keys() {
                match c.raw(key) {
                    None => problems.push(format!("{}: no `{key}`", c.tag)),
                    Some(text) => {
                        let (want, got) = (
                            placeholders(english.raw(key).unwrap_or("")),
                            placeholders(text),
                        );
                        if want != got {
                            problems
                                .push(format!("{}: `{key}` has {got:?}, English {want:?}", c.tag));
                        }
                    }
                }
            }
            for key in c.keys() {
                if english.raw(key).is_none() {
                    problems.push(format!("{}: `{key}` is not in English", c.tag));
                }
            }
            if c.raw("language.name").is_none() {
                problems.push(format!("{}: no `language.name`", c.tag));
            }
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }

    #[test]
    fn every_key_used_is_in_every_catalogue() {
        let all = Catalogues::parse(SOURCES).unwrap();
        let english = all.get(FALLBACK).unwrap();
        let mut problems = Vec::new();
        let mut check = |place: &str, key: &str, args: Option<&BTreeSet<String>>| {
            for c in all.all() {
                match c.raw(key) {
                    None => problems.push(format!("{place}: `{key}` is not in {}", c.tag)),
                    Some(text) => {
                        let wanted = placeholders(text);
                        if let Some(args) = args.filter(|a| **a != wanted) {
                            problems.push(format!(
                                "{place}: `{key}` is called with {args:?}, but {} has {wanted:?}",
                                c.tag
                            ));
                        }
                    }
                }
            }
        };
        let templates = crate::http::banner::pages::SOURCES
            .iter()
            .map(|(name, source)| (format!("assets/pages/{name}"), *source))
            .chain(
                crate::jobs::mail::TEMPLATES
                    .iter()
                    .map(|(event, source)| (format!("templates/mail/{event}.txt"), *source)),
            )
            .chain(
                crate::http::console::TEMPLATE_SOURCES
                    .iter()
                    .map(|(name, source)| (format!("templates/console/{name}"), *source)),
            );
        let mut used = 0;
        for (name, source) in templates {
            for (key, args) in template_calls(source) {
                used += 1;
                check(&name, &key, Some(&args));
            }
        }
        assert!(used > 100, "the calls of the templates are found ({used})");
        let sections: BTreeSet<&str> = english.keys().filter_map(|k| k.split('.').next()).collect();
        let mut sources = Vec::new();
        rust_sources(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut sources,
        );
        for (path, source) in &sources {
            // This file names keys in its own tests, found or not on purpose.
            if path.ends_with("i18n.rs") {
                continue;
            }
            for key in rust_keys(source, &sections) {
                check(path, &key, None);
            }
        }
        for key in families() {
            check("a vocabulary", &key, None);
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }

    /// The template files under `dir` (`.html`, `.txt`), by their path from the crate's
    /// folder.
    fn template_files(dir: &Path, out: &mut Vec<(String, String)>) {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                template_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "html" || e == "txt") {
                let name = path
                    .strip_prefix(root)
                    .unwrap_or(&path)
                    .display()
                    .to_string();
                out.push((name, std::fs::read_to_string(&path).unwrap()));
            }
        }
    }

    /// Every `t("...")` of every template file on disk (the console's, the person's pages',
    /// the mails', whether or not a list above names it) and every key the Rust sources
    /// name is a message of English, called with the placeholders English has.
    #[test]
    fn every_key_of_the_sources_is_in_english() {
        let all = Catalogues::parse(SOURCES).unwrap();
        let english = all.get(FALLBACK).unwrap();
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = Vec::new();
        for dir in ["templates", "assets"] {
            template_files(&root.join(dir), &mut files);
        }
        let mut problems = Vec::new();
        let mut console = 0;
        for (name, source) in &files {
            for (key, args) in template_calls(source) {
                if name.contains("templates/console/") {
                    console += 1;
                }
                match english.raw(&key) {
                    None => problems.push(format!("{name}: `{key}` is not in English")),
                    Some(text) if placeholders(text) != args => problems.push(format!(
                        "{name}: `{key}` is called with {args:?}, English has {:?}",
                        placeholders(text)
                    )),
                    Some(_) => {}
                }
            }
        }
        assert!(console > 300, "the console's calls are found ({console})");
        // Every console template on disk is one the console renders.
        for (name, _) in &files {
            if let Some(file) = name.split("templates/console/").nth(1) {
                assert!(
                    crate::http::console::TEMPLATE_SOURCES
                        .iter()
                        .any(|(n, _)| *n == file),
                    "{name} is not among the console's templates"
                );
            }
        }
        let sections: BTreeSet<&str> = english.keys().filter_map(|k| k.split('.').next()).collect();
        let mut sources = Vec::new();
        rust_sources(&root.join("src"), &mut sources);
        for (path, source) in &sources {
            if path.ends_with("i18n.rs") {
                continue;
            }
            for key in rust_keys(source, &sections) {
                if english.raw(&key).is_none() {
                    problems.push(format!("{path}: `{key}` is not in English"));
                }
            }
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }

    #[test]
    fn the_calls_are_read_from_templates() {
        let calls = template_calls(
            r#"{{ t("a.b") }} {{ t("c", x=1, y=f(z=2)) }} {{ t("kind." ~ k) }} {{ at("no") }}"#,
        );
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
        assert_eq!(
            calls,
            vec![
                ("a.b".to_string(), names(&[])),
                ("c".to_string(), names(&["x", "y"]))
            ]
        );
    }
}
