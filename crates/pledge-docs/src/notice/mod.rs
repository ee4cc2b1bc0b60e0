//! The privacy notice: GDPR Art. 13 and 14 (and, where it applies, the CCPA's notice at
//! collection and privacy policy) written from the declaration, as one accessible HTML page,
//! as Markdown, or as JSON-LD in W3C DPV terms.
//!
//! The declaration is first resolved into a [`NoticeView`] (plain data: names, words,
//! articles); the HTML and Markdown templates render that view, the JSON-LD is built from it,
//! and the SHA-256 of its content is the notice's version. The same content therefore has the
//! same version in every format, and any change a reader could see gives a new one.
//!
//! [`diff`] compares two declarations and sorts the changes into those people must be told
//! about before they take effect and the editorial ones.

pub mod diff;
mod jsonld;
mod templates;
mod view;

pub use templates::{DEFAULT_LANG, NAMES as TEMPLATE_NAMES, TemplateError, Templates};
pub use view::*;

use minijinja::value::{Serde, Value};
use pledge_lang::load::Declaration;
use pledge_lang::types::Date;
use sha2::{Digest, Sha256};

/// The formats a notice is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Html,
    Markdown,
    JsonLd,
}

impl Format {
    /// The template that renders the format, if it is rendered by one.
    pub fn template(self) -> Option<&'static str> {
        match self {
            Format::Html => Some("notice.html"),
            Format::Markdown => Some("notice.md"),
            Format::JsonLd => None,
        }
    }
}

/// How to render a notice.
#[derive(Debug, Clone)]
pub struct Options {
    pub format: Format,
    /// BCP 47 language tag; English (`en`) is built in.
    pub lang: String,
    /// The date from which the notice applies. `None` takes `[policy] effective_date`.
    pub effective_date: Option<Date>,
    pub templates: Templates,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            format: Format::Html,
            lang: DEFAULT_LANG.to_string(),
            effective_date: None,
            templates: Templates::builtin(),
        }
    }
}

/// A rendered notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub text: String,
    /// Short content hash, the first 12 hex digits of `digest`.
    pub version: String,
    /// `sha256:<64 hex digits>` of the notice's content.
    pub digest: String,
    pub effective_date: Option<Date>,
}

/// The date the declaration says the notice applies from.
pub fn declared_effective_date(decl: &Declaration) -> Option<Date> {
    decl.doc()
        .policy
        .as_ref()
        .and_then(|p| p.effective_date.as_ref())
        .map(|d| d.value)
}

/// Resolve the declaration into the notice's content, with its version.
pub fn view(decl: &Declaration, lang: &str, effective_date: Option<Date>) -> NoticeView {
    let date = effective_date.or_else(|| declared_effective_date(decl));
    let mut v = view::build(decl, lang, date);
    let digest = content_digest(&v.content);
    v.version = digest[..12].to_string();
    v.digest = format!("sha256:{digest}");
    v
}

/// The version of a declaration's notice, without rendering it.
pub fn version(decl: &Declaration) -> String {
    view(decl, DEFAULT_LANG, None).version
}

/// Lower-case hex SHA-256 of the canonical JSON of the content, hashed as it is written.
fn content_digest(content: &Content) -> String {
    struct Hashing(Sha256);
    impl std::io::Write for Hashing {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.update(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut hasher = Hashing(Sha256::new());
    // The content holds only strings, booleans, lists and structs, and the writer cannot
    // fail: serialising it cannot fail.
    let _ = view::hashing(|| serde_json::to_writer(&mut hasher, content));
    let hash = hasher.0.finalize();
    let mut hex = String::with_capacity(64);
    for byte in hash.iter() {
        hex.push(char::from(HEX[usize::from(byte >> 4)]));
        hex.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
    hex
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Render the notice of a declaration.
pub fn render(decl: &Declaration, options: &Options) -> Result<Notice, TemplateError> {
    let v = view(decl, &options.lang, options.effective_date);
    let text = render_view(&v, options)?;
    Ok(Notice {
        text,
        version: v.version.clone(),
        digest: v.digest.clone(),
        effective_date: options
            .effective_date
            .or_else(|| declared_effective_date(decl)),
    })
}

/// Render an already built view.
pub fn render_view(v: &NoticeView, options: &Options) -> Result<String, TemplateError> {
    match options.format.template() {
        None => Ok(pretty(&jsonld::notice(v))),
        Some(name) => {
            // The HTML page carries the JSON-LD too; the Markdown has no place for it.
            let ld = match options.format {
                Format::Html => script_json(&jsonld::notice(v)),
                _ => String::new(),
            };
            let context = minijinja::context! {
                notice => Value::from(Serde(v)),
                jsonld => Value::from_safe_string(ld),
            };
            let text = options.templates.render(&v.lang, name, context)?;
            Ok(match options.format {
                Format::Markdown => tidy_markdown(&text),
                _ => text,
            })
        }
    }
}

/// At most one blank line in a row, and one final newline: templates are easier to read
/// with some slack, and Markdown gives blank lines no meaning beyond the first.
fn tidy_markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank = 0;
    for line in text.trim_matches('\n').lines() {
        if line.trim().is_empty() {
            blank += 1;
            if blank > 1 {
                continue;
            }
            out.push('\n');
        } else {
            blank = 0;
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// The JSON-LD document of a view, as a JSON value.
pub fn jsonld(v: &NoticeView) -> serde_json::Value {
    jsonld::notice(v)
}

fn pretty(value: &serde_json::Value) -> String {
    let mut s = serde_json::to_string_pretty(value).unwrap_or_default();
    s.push('\n');
    s
}

/// JSON that can sit inside `<script>` without closing it early: `<`, `>` and `&` (which can
/// only occur inside strings) are written as `\u` escapes, which mean the same to a JSON reader.
fn script_json(value: &serde_json::Value) -> String {
    let json = serde_json::to_string(value).unwrap_or_default();
    if !json.contains(['<', '>', '&']) {
        return json;
    }
    let mut out = String::with_capacity(json.len() + 64);
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_in_a_script_cannot_close_it() {
        let v = serde_json::json!({ "t": "</script><b>&" });
        let s = script_json(&v);
        assert!(
            !s.contains("</script>") && !s.contains('<') && !s.contains('&'),
            "{s}"
        );
        assert_eq!(serde_json::from_str::<serde_json::Value>(&s).unwrap(), v);
        assert_eq!(script_json(&serde_json::json!({ "a": 1 })), r#"{"a":1}"#);
    }

    #[test]
    fn markdown_keeps_one_blank_line() {
        assert_eq!(tidy_markdown("\n# A\n\n\n\ntext\n\n"), "# A\n\ntext\n");
    }
}
