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
//!   time as the language writes a day). The pages, the mails, and later the console, use
//!   these two, so that a language is added in one place.
//! - [`negotiate`] chooses the language of a page: `?lang=`, then the language cookie, then
//!   `Accept-Language` (by q-value), then the configured default.
//!
//! Adding a language: write `messages/<tag>.toml` with every key of `en.toml` and the same
//! placeholders, and add it to [`SOURCES`]. The test `every_catalogue_has_every_key` says
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
    let format = if t.day == 1 { "date.first" } else { "date.format" };
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
        assert_eq!(from_accept_language("de;q=1, fr-CA;q=0.9, da;q=0.8"), Some("fr"));
        assert_eq!(from_accept_language("en;q=0.2, da-DK;q=0.7"), Some("da"));
        assert_eq!(from_accept_language("fr;q=0, en"), Some("en"));
        assert_eq!(from_accept_language("fr;q=0"), None);
        assert_eq!(from_accept_language("de, *;q=0.5"), None);
        assert_eq!(from_accept_language("*, fr"), None, "* first: no preference");
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
        assert_eq!(fill("a {b} {c} {} {d", |n| (n == "b").then(|| "B".into())), "a B {c} {} {d");
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
        env.add_template("b.html", r#"{{ t("privacy.heading") }}"#).unwrap();
        assert!(env.get_template("b.html").unwrap().render(&ctx).is_err());
    }
}
