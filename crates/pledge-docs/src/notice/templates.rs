//! The minijinja templates of the notice and the record of processing: English built in,
//! any of them replaceable, and more languages added by giving their templates. A language
//! is its templates and its message catalogue, `messages.jinja`: the macros that turn the
//! view's values (dates, language tags, countries, lists) into words.

use minijinja::syntax::SyntaxConfig;
use minijinja::{AutoEscape, Environment, UndefinedBehavior, Value};
use std::collections::BTreeMap;
use thiserror::Error;

/// The templates a renderer may ask for, and the message catalogue they import.
pub const NAMES: &[&str] = &["notice.html", "notice.md", "ropa.html", MESSAGES];

/// The message catalogue of a language, imported by its templates.
pub const MESSAGES: &str = "messages.jinja";

/// The built-in language.
pub const DEFAULT_LANG: &str = "en";

const BUILTIN: &[(&str, &str, &str)] = &[
    (
        "en",
        "notice.html",
        include_str!("../../templates/en/notice.html"),
    ),
    (
        "en",
        "notice.md",
        include_str!("../../templates/en/notice.md"),
    ),
    (
        "en",
        "ropa.html",
        include_str!("../../templates/en/ropa.html"),
    ),
    (
        "en",
        MESSAGES,
        include_str!("../../templates/en/messages.jinja"),
    ),
];

/// The templates to render with: the built-in ones, and those a company gives in their place
/// (or for another language). The core never reads them from disk; the caller hands over
/// their text.
#[derive(Debug, Clone, Default)]
pub struct Templates {
    overrides: BTreeMap<(String, String), String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TemplateError {
    #[error(
        "no `{name}` template for language `{lang}` (built in: {builtin}); give one with --templates"
    )]
    Missing {
        lang: String,
        name: String,
        builtin: String,
    },
    #[error("template `{name}` ({lang}): {message}")]
    Invalid {
        lang: String,
        name: String,
        message: String,
    },
}

impl Templates {
    /// Only the built-in templates.
    pub fn builtin() -> Templates {
        Templates::default()
    }

    /// Use `source` for template `name` (one of [`NAMES`]) in language `lang`.
    pub fn set(&mut self, lang: &str, name: &str, source: impl Into<String>) {
        self.overrides
            .insert((lang.to_string(), name.to_string()), source.into());
    }

    /// The built-in text of a template, for a company to start its own from.
    pub fn builtin_source(lang: &str, name: &str) -> Option<&'static str> {
        BUILTIN
            .iter()
            .find(|(l, n, _)| *l == lang && *n == name)
            .map(|(_, _, s)| *s)
    }

    /// The languages some template exists for.
    pub fn languages(&self) -> Vec<String> {
        let mut langs: Vec<String> = BUILTIN
            .iter()
            .map(|(l, _, _)| l.to_string())
            .chain(self.overrides.keys().map(|(l, _)| l.clone()))
            .collect();
        langs.sort();
        langs.dedup();
        langs
    }

    fn source(&self, lang: &str, name: &str) -> Option<&str> {
        self.overrides
            .get(&(lang.to_string(), name.to_string()))
            .map(String::as_str)
            .or_else(|| Templates::builtin_source(lang, name))
    }

    /// Render template `name` of language `lang` with `context`.
    pub fn render(&self, lang: &str, name: &str, context: Value) -> Result<String, TemplateError> {
        let source = self
            .source(lang, name)
            .ok_or_else(|| TemplateError::Missing {
                lang: lang.to_string(),
                name: name.to_string(),
                builtin: BUILTIN
                    .iter()
                    .filter(|(_, n, _)| *n == name)
                    .map(|(l, _, _)| *l)
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        let invalid = |e: minijinja::Error| TemplateError::Invalid {
            lang: lang.to_string(),
            name: name.to_string(),
            message: describe(&e),
        };
        let mut env = environment().map_err(invalid)?;
        // The catalogue of the same language, for the template to import; a template that
        // imports nothing renders without one.
        if let Some(messages) = self.source(lang, MESSAGES).filter(|_| name != MESSAGES) {
            env.add_template(MESSAGES, messages)
                .map_err(|e| TemplateError::Invalid {
                    lang: lang.to_string(),
                    name: MESSAGES.to_string(),
                    message: describe(&e),
                })?;
        }
        env.add_template(name, source).map_err(invalid)?;
        let template = env.get_template(name).map_err(invalid)?;
        template.render(context).map_err(invalid)
    }
}

/// The error with its causes and line, in one line.
fn describe(e: &minijinja::Error) -> String {
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    message
}

fn environment<'s>() -> Result<Environment<'s>, minijinja::Error> {
    let mut env = Environment::new();
    env.set_syntax(
        SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build()?,
    );
    // A misspelt field in a company's template is an error, not a silent blank.
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // The built-in HTML escaping also escapes `/`, which makes every address in the page
    // source unreadable; `/` needs no escaping in text or in quoted attributes.
    env.set_formatter(|out, state, value| match value.as_str() {
        Some(s) if matches!(state.auto_escape(), AutoEscape::Html) && !value.is_safe() => {
            Ok(out.write_str(&crate::html::escape(s))?)
        }
        _ => minijinja::escape_formatter(out, state, value),
    });
    env.add_filter("cell", cell);
    env.add_filter("join_and", join_and);
    env.add_filter("sentence", sentence);
    env.add_filter("ucfirst", ucfirst);
    env.add_filter("slug", slug);
    Ok(env)
}

/// Text safe inside a Markdown table cell: no pipes, no line breaks.
fn cell(value: String) -> String {
    value.replace('|', "\\|").replace(['\r', '\n'], " ")
}

/// `["a", "b", "c"]` → "a, b and c", with the word of the language's catalogue
/// (`join_and(m.and)`); without one, the English "and" of templates older than catalogues.
fn join_and(values: Vec<String>, word: Option<String>) -> String {
    let word = word.as_deref().unwrap_or("and");
    match values.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} {word} {last}", init.join(", ")),
    }
}

/// Upper-case the first letter and leave the rest alone ("the GDPR" stays "The GDPR",
/// where the built-in `capitalize` would lower the rest).
fn ucfirst(value: String) -> String {
    let mut chars = value.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => value,
    }
}

/// The anchor GitHub and most Markdown renderers give a heading: lower case, punctuation
/// dropped, spaces as hyphens.
fn slug(value: String) -> String {
    value
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// End a phrase with a full stop unless it already ends with punctuation.
fn sentence(value: String) -> String {
    let t = value.trim_end();
    if t.ends_with(['.', '!', '?', ':', ')']) || t.is_empty() {
        t.to_string()
    } else {
        format!("{t}.")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_cover_every_name() {
        for name in NAMES {
            assert!(
                Templates::builtin_source(DEFAULT_LANG, name).is_some(),
                "{name}"
            );
        }
    }

    #[test]
    fn overrides_replace_builtins_and_add_languages() {
        let mut t = Templates::builtin();
        t.set("fr", "notice.md", "Bonjour {{ who }}");
        let out = t
            .render("fr", "notice.md", minijinja::context!(who => "monde"))
            .unwrap();
        assert_eq!(out, "Bonjour monde");
        assert_eq!(t.languages(), vec!["en".to_string(), "fr".to_string()]);
        let missing = t.render("fr", "notice.html", Value::UNDEFINED).unwrap_err();
        assert!(
            matches!(missing, TemplateError::Missing { .. }),
            "{missing}"
        );
    }

    #[test]
    fn undefined_fields_are_errors() {
        let mut t = Templates::builtin();
        t.set("en", "notice.md", "{{ nope.deeper }}");
        let err = t
            .render("en", "notice.md", minijinja::context!())
            .unwrap_err();
        assert!(err.to_string().contains("notice.md"), "{err}");
    }

    #[test]
    fn filters_read_naturally() {
        assert_eq!(
            join_and(vec!["a".into(), "b".into(), "c".into()], None),
            "a, b and c"
        );
        assert_eq!(
            join_and(vec!["a".into(), "b".into()], Some("og".into())),
            "a og b"
        );
        assert_eq!(sentence("Kept 5 years".into()), "Kept 5 years.");
        assert_eq!(sentence("Done.".into()), "Done.");
        assert_eq!(cell("a | b\nc".into()), "a \\| b c");
        assert_eq!(ucfirst("the GDPR".into()), "The GDPR");
        assert_eq!(
            slug("What we do with your data, and why".into()),
            "what-we-do-with-your-data-and-why"
        );
    }
}
