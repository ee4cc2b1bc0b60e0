//! Rendering diagnostics for people (with the source line), for programs (JSON) and for
//! code-scanning tools (SARIF 2.1.0). Pure: text in, text out.

use crate::lint::{Rule, rules};
use anstyle::{AnsiColor, Style};
use pledge_lang::diagnostic::{Diagnostic, Severity};
use pledge_lang::source::SourceMap;
use serde_json::{Value, json};
use std::fmt::Write;

/// Human-readable report. `color` adds ANSI styles (the shell decides whether the terminal
/// wants them).
pub fn human(diagnostics: &[Diagnostic], sources: &SourceMap, color: bool) -> String {
    let paint = |style: Style, text: &str| -> String {
        if color {
            format!("{style}{text}{style:#}")
        } else {
            text.to_string()
        }
    };
    let bold = Style::new().bold();
    let blue = AnsiColor::Blue.on_default().bold();
    let mut out = String::new();
    for d in diagnostics {
        let style = match d.severity {
            Severity::Error => AnsiColor::Red.on_default().bold(),
            Severity::Warning => AnsiColor::Yellow.on_default().bold(),
            Severity::Info => AnsiColor::Cyan.on_default().bold(),
        };
        let _ = writeln!(
            out,
            "{}{} {}",
            paint(style, &format!("{}[{}]", d.severity.as_str(), d.code)),
            paint(bold, ":"),
            paint(bold, &d.message)
        );
        let location = d.span.and_then(|s| sources.locate(s).map(|l| (s, l)));
        match location {
            Some((span, loc)) => {
                let _ = writeln!(out, "  {} {loc}", paint(blue, "-->"));
                if let Some(file) = sources.get(span.file) {
                    let text = file.line_text(loc.line);
                    let gutter = loc.line.to_string();
                    let pad = " ".repeat(gutter.len());
                    let width = if loc.end_line == loc.line {
                        loc.end_column.saturating_sub(loc.column).max(1)
                    } else {
                        text.chars().count().saturating_sub(loc.column - 1).max(1)
                    };
                    let _ = writeln!(out, "  {pad} {}", paint(blue, "|"));
                    let _ = writeln!(
                        out,
                        "  {} {} {text}",
                        paint(blue, &gutter),
                        paint(blue, "|")
                    );
                    let marker = format!("{}{}", " ".repeat(loc.column - 1), "^".repeat(width));
                    let _ = writeln!(
                        out,
                        "  {pad} {} {}",
                        paint(blue, "|"),
                        paint(style, &marker)
                    );
                }
            }
            None => {
                if let Some((_, file)) = sources.files().next() {
                    let _ = writeln!(out, "  {} {}", paint(blue, "-->"), file.name);
                }
            }
        }
        if let Some(help) = &d.help {
            let _ = writeln!(out, "  {} {help}", paint(bold, "= help:"));
        }
        if let Some(source) = &d.source {
            let _ = writeln!(out, "  {} {source}", paint(bold, "= law:"));
        }
        out.push('\n');
    }
    out.push_str(&summary(diagnostics));
    out.push('\n');
    out
}

/// "2 errors, 1 warning, 3 notes" or "no findings".
pub fn summary(diagnostics: &[Diagnostic]) -> String {
    let count = |s: Severity| diagnostics.iter().filter(|d| d.severity == s).count();
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    if diagnostics.is_empty() {
        return "no findings".to_string();
    }
    [
        plural(count(Severity::Error), "error", "errors"),
        plural(count(Severity::Warning), "warning", "warnings"),
        plural(count(Severity::Info), "note", "notes"),
    ]
    .join(", ")
}

fn location_json(d: &Diagnostic, sources: &SourceMap) -> Value {
    match d.span.and_then(|s| sources.locate(s)) {
        Some(l) => json!({
            "file": l.file, "line": l.line, "column": l.column,
            "end_line": l.end_line, "end_column": l.end_column,
        }),
        None => Value::Null,
    }
}

/// JSON: `{ "findings": [...], "summary": {...} }`, one object per diagnostic.
pub fn json(diagnostics: &[Diagnostic], sources: &SourceMap) -> String {
    let findings: Vec<Value> = diagnostics
        .iter()
        .map(|d| {
            json!({
                "rule": d.code,
                "severity": d.severity,
                "message": d.message,
                "help": d.help,
                "law": d.source,
                "location": location_json(d, sources),
            })
        })
        .collect();
    let count = |s: Severity| diagnostics.iter().filter(|d| d.severity == s).count();
    let doc = json!({
        "findings": findings,
        "summary": {
            "errors": count(Severity::Error),
            "warnings": count(Severity::Warning),
            "notes": count(Severity::Info),
        }
    });
    // Serializing a `Value` cannot fail.
    serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
}

fn sarif_level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}

fn sarif_rule(r: &Rule) -> Value {
    json!({
        "id": r.id,
        "shortDescription": { "text": r.title },
        "fullDescription": { "text": r.explanation },
        "defaultConfiguration": { "level": sarif_level(r.severity) },
        "properties": { "law": r.source },
    })
}

/// SARIF 2.1.0, for GitHub code scanning and similar tools.
pub fn sarif(diagnostics: &[Diagnostic], sources: &SourceMap, tool_version: &str) -> String {
    let mut rule_list: Vec<Value> = rules().iter().map(|r| sarif_rule(r)).collect();
    rule_list.push(json!({
        "id": pledge_lang::diagnostic::INVALID,
        "shortDescription": { "text": "The declaration can be read and its references resolve" },
        "defaultConfiguration": { "level": "error" },
    }));
    let rule_index = |code: &str| {
        rules()
            .iter()
            .position(|r| r.id == code)
            .unwrap_or(rules().len())
    };
    let results: Vec<Value> = diagnostics
        .iter()
        .map(|d| {
            let mut text = d.message.clone();
            if let Some(help) = &d.help {
                let _ = write!(text, ". Fix: {help}");
            }
            let location = match d.span.and_then(|s| sources.locate(s)) {
                Some(l) => json!({
                    "physicalLocation": {
                        "artifactLocation": { "uri": l.file },
                        "region": {
                            "startLine": l.line, "startColumn": l.column,
                            "endLine": l.end_line, "endColumn": l.end_column.max(l.column + 1),
                        }
                    }
                }),
                None => json!({
                    "physicalLocation": {
                        "artifactLocation": { "uri": sources.files().next().map(|(_, f)| f.name.as_str()).unwrap_or("") }
                    }
                }),
            };
            json!({
                "ruleId": d.code,
                "ruleIndex": rule_index(&d.code),
                "level": sarif_level(d.severity),
                "message": { "text": text },
                "locations": [location],
            })
        })
        .collect();
    let doc = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "pledge",
                "version": tool_version,
                "informationUri": "https://github.com/pledge-privacy/pledge",
                "rules": rule_list,
            }},
            "results": results,
        }]
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
}
