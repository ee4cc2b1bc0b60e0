//! The copy of a person's data given on an access or portability request: the data as JSON
//! (nested by dataset and table) and as one CSV per table, a readable HTML report, and a
//! manifest with the meta-information of GDPR Art. 15(1)-(2) and the size of every file.
//! Records of others that only mention the person (an order an employee took) have a section
//! of their own: `records that mention you` in each dataset of `data.json`, one CSV each
//! under `<dataset>/mentions/`, and their own part of the report.
//! Pure: the shell packs the files into a zip and writes it.

use crate::html::escape;
use pledge_lang::load::Declaration;
use pledge_lang::model::{Right, Role, SourceKind};
use pledge_lang::rights::RequestKind;
use pledge_lang::time::CivilTime;
use pledge_lang::types::SubjectId;
use pledge_plan::{TableRows, Value};
use serde_json::{Map, Value as Json, json};
use std::fmt::Write;

/// One file of the export.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportFile {
    pub path: String,
    pub bytes: Vec<u8>,
}

/// The data read from one dataset.
pub struct DatasetRows<'a> {
    pub dataset: &'a str,
    pub tables: &'a [TableRows],
}

/// Render every file of the export. `identities` are the kinds and values the person was
/// found by.
pub fn render(
    decl: &Declaration,
    kind: RequestKind,
    data: &[DatasetRows<'_>],
    identities: &[(String, String)],
    generated_at: CivilTime,
) -> Vec<ExportFile> {
    let mut files = Vec::new();
    let mut nested = Map::new();
    for d in data {
        let mut tables = Map::new();
        let mut mentions = Vec::new();
        for t in d.tables {
            if let Some(m) = &t.mention {
                mentions.push(json!({
                    "table": t.table,
                    "role": m.via.join(", "),
                    "refers_to": m.mentioned,
                    "rows": t.rows.iter().map(|r| row_object(t, r)).collect::<Vec<_>>(),
                }));
            } else {
                tables.insert(
                    t.table.clone(),
                    Json::Array(t.rows.iter().map(|r| row_object(t, r)).collect()),
                );
            }
            files.push(ExportFile {
                path: csv_path(d.dataset, t),
                bytes: csv(t).into_bytes(),
            });
        }
        if !mentions.is_empty() {
            tables.insert(MENTIONS_KEY.to_string(), Json::Array(mentions));
        }
        nested.insert(d.dataset.to_string(), Json::Object(tables));
    }
    let meta = meta_information(decl, &found_as(decl, data));
    files.insert(
        0,
        ExportFile {
            path: "data.json".into(),
            bytes: pretty(&Json::Object(nested)),
        },
    );
    files.push(ExportFile {
        path: "report.html".into(),
        bytes: html(decl, kind, data, &meta, generated_at).into_bytes(),
    });
    let listed: Vec<Json> = files
        .iter()
        .map(|f| {
            let rows = data
                .iter()
                .flat_map(|d| {
                    d.tables
                        .iter()
                        .map(move |t| (csv_path(d.dataset, t), t.rows.len()))
                })
                .find(|(p, _)| *p == f.path)
                .map(|(_, n)| n);
            json!({ "path": f.path, "bytes": f.bytes.len(), "rows": rows })
        })
        .collect();
    // The person's own rows, and the rows of others that only mention them.
    let rows: usize = data
        .iter()
        .flat_map(|d| d.tables.iter())
        .filter(|t| t.mention.is_none())
        .map(|t| t.rows.len())
        .sum();
    let mention_rows: usize = data
        .iter()
        .flat_map(|d| d.tables.iter())
        .filter(|t| t.mention.is_some())
        .map(|t| t.rows.len())
        .sum();
    let manifest = json!({
        "request": pledge_lang::model::variant_name(&kind),
        // False when no dataset holds anyone with these identities: the export is then the
        // answer "we hold no personal data about you" with the meta-information of Art. 15(1).
        "personal_data_held": rows > 0,
        "generated_at": generated_at.to_string(),
        "controller": decl.doc().controller.as_ref().map(|c| c.name.value.clone()),
        "identities": identities.iter().map(|(k, v)| json!({ "kind": k, "value": v })).collect::<Vec<_>>(),
        "rows": rows,
        "mention_rows": mention_rows,
        "files": listed,
        "information": meta,
    });
    files.push(ExportFile {
        path: "manifest.json".into(),
        bytes: pretty(&manifest),
    });
    files
}

/// The key of the records that mention the person, in each dataset of `data.json` (not a
/// name a table can have without quoting).
pub const MENTIONS_KEY: &str = "records that mention you";

/// The path of a table's CSV file: `<dataset>/<table>.csv`, or for records that mention the
/// person `<dataset>/mentions/<table>.<columns>.csv`.
fn csv_path(dataset: &str, t: &TableRows) -> String {
    match &t.mention {
        Some(m) => format!("{dataset}/mentions/{}.{}.csv", t.table, m.via.join("-")),
        None => format!("{dataset}/{}.csv", t.table),
    }
}

fn pretty(v: &Json) -> Vec<u8> {
    // Serializing a JSON value cannot fail.
    let mut out = serde_json::to_vec_pretty(v).unwrap_or_default();
    out.push(b'\n');
    out
}

fn row_object(t: &TableRows, row: &[Value]) -> Json {
    Json::Object(
        t.columns
            .iter()
            .zip(row)
            .map(|(c, v)| (c.clone(), serde_json::to_value(v).unwrap_or(Json::Null)))
            .collect(),
    )
}

/// The table as CSV with a header row, through the one CSV writer ([`crate::csv`]: RFC
/// 4180, formulas neutralised).
pub fn csv(t: &TableRows) -> String {
    let mut w = crate::csv::Writer::new();
    w.row(&t.columns);
    for row in &t.rows {
        w.row(row.iter().map(ToString::to_string));
    }
    w.finish()
}

/// The data subject groups the person was found as: the `subject` of every declared table
/// the export has rows of the person's own (not rows that only mention them).
pub fn found_as(decl: &Declaration, data: &[DatasetRows<'_>]) -> Vec<SubjectId> {
    let mut subjects: Vec<SubjectId> = Vec::new();
    for d in data {
        let Some(dataset) = decl
            .doc()
            .datasets
            .iter()
            .find(|x| x.id.as_str() == d.dataset)
        else {
            continue;
        };
        // Records that only mention the person are other people's: they say nothing of what
        // the person is.
        for t in d
            .tables
            .iter()
            .filter(|t| !t.rows.is_empty() && t.mention.is_none())
        {
            let subject = dataset
                .tables
                .iter()
                .find(|x| x.name.value == t.table)
                .and_then(|x| x.subject.as_ref());
            if let Some(subject) = subject
                && !subjects.contains(&subject.value)
            {
                subjects.push(subject.value.clone());
            }
        }
    }
    subjects
}

/// What Art. 15(1)(a)-(h) and 15(2) entitle the person to know besides the data itself: the
/// purposes (with their recipients, transfers, retention...) that concern the subject groups
/// the person was found as (`found_as`), and purposes that name no group. With no group
/// known (no table of the person's rows declares a `subject`), every purpose.
pub fn meta_information(decl: &Declaration, found_as: &[SubjectId]) -> Json {
    let doc = decl.doc();
    let purposes: Vec<Json> = decl
        .purposes()
        .iter()
        .filter(|p| p.role == Role::Controller)
        .filter(|p| {
            found_as.is_empty()
                || p.subjects.is_empty()
                || p.subjects.iter().any(|s| found_as.contains(&s.value))
        })
        .map(|p| {
            json!({
                "purpose": p.name.value,
                "description": p.description.as_ref().map(|d| d.value.clone()),
                "legal_bases": p.legal_bases.iter().map(|b| format!("{} ({})", b.basis.label(), b.basis.article())).collect::<Vec<_>>(),
                "categories": p.categories.iter().map(|c| decl.category(c).map_or_else(|| c.to_string(), |i| i.label)).collect::<Vec<_>>(),
                "recipients": p.recipients.iter().filter_map(|r| decl.recipient(r)).map(|r| r.name.value.clone()).collect::<Vec<_>>(),
                "transfers": p.transfers.iter().filter_map(|t| decl.transfer(t)).map(|t| json!({
                    "country": t.country.name(),
                    "safeguard": t.mechanism.label(),
                    "copy": t.copy.as_ref().map(|c| c.value.clone()),
                })).collect::<Vec<_>>(),
                "retention": p.retention.as_ref().map(|r| {
                    let mut text = r.period.as_ref().map(|d| d.to_words()).unwrap_or_default();
                    if let Some(after) = &r.after {
                        let _ = write!(text, "{}after {}", if text.is_empty() { "" } else { " " }, after.value);
                    }
                    if let Some(c) = &r.criteria {
                        let _ = write!(text, "{}{}", if text.is_empty() { "" } else { "; " }, c.value);
                    }
                    text
                }),
                "sources": p.sources.iter().filter(|s| !matches!(s.kind.value, SourceKind::Subject | SourceKind::Observed)).map(|s| s.name.as_ref().map_or("another source".to_string(), |n| n.value.clone())).collect::<Vec<_>>(),
                "automated_decisions": p.automated_decisions.as_ref().map(|a| json!({
                    "logic": a.logic.value, "consequences": a.consequences.as_ref().map(|c| c.value.clone()),
                })),
            })
        })
        .collect();
    let rights: Vec<String> = doc
        .rights
        .as_ref()
        .map(|r| {
            r.offered
                .iter()
                .map(|o| format!("{} ({})", o.label(), o.article()))
                .collect()
        })
        .unwrap_or_default();
    json!({
        "purposes": purposes,
        "rights": rights,
        "rights_contact": doc.rights.as_ref().and_then(|r| r.contact.as_ref().map(|c| c.value.clone()))
            .or_else(|| doc.controller.as_ref().and_then(|c| c.email.as_ref().map(|e| e.to_string()))),
        "complaint": doc.supervisory_authority.as_ref().map(|a| json!({
            "authority": a.name.value,
            "website": a.website.as_ref().map(|w| w.to_string()),
            "address": a.address.as_ref().map(|x| x.value.clone()),
        })),
        "may_complain": doc.rights.as_ref().is_some_and(|r| r.offered.iter().any(|o| o.value == Right::Complaint)),
    })
}

fn html(
    decl: &Declaration,
    kind: RequestKind,
    data: &[DatasetRows<'_>],
    meta: &Json,
    at: CivilTime,
) -> String {
    let controller = decl
        .doc()
        .controller
        .as_ref()
        .map_or("the controller".to_string(), |c| c.name.value.clone());
    let title = match kind {
        RequestKind::Portability => "Your data, in a portable form",
        _ => "A copy of your personal data",
    };
    let mut out = String::new();
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><style>body{{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;line-height:1.5;color:#1b1b1b}}\
         table{{border-collapse:collapse;width:100%;margin:1rem 0;font-size:.9rem;display:block;overflow-x:auto}}th,td{{border:1px solid #ccc;padding:.3rem .5rem;text-align:left;vertical-align:top}}\
         th{{background:#f3f3f3}}h2{{margin-top:2.5rem;border-bottom:1px solid #ddd}}</style></head><body>\n\
         <h1>{title}</h1>\n<p>Prepared by {} on {} (UTC), in answer to your request under Article {} of the GDPR. \
         The same data is in <code>data.json</code> and in one CSV file per table.</p>\n",
        escape(&controller),
        at,
        if kind == RequestKind::Portability {
            "20"
        } else {
            "15"
        },
    );
    out.push_str("<h2>Why we process your data</h2>\n");
    if let Some(purposes) = meta["purposes"].as_array() {
        for p in purposes {
            let list = |key: &str| -> String {
                p[key]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|v| v.as_str())
                            .map(escape)
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .unwrap_or_default()
            };
            let _ = write!(
                out,
                "<h3>{}</h3>\n<ul><li>Legal basis: {}</li><li>Data: {}</li>",
                escape(p["purpose"].as_str().unwrap_or("")),
                list("legal_bases"),
                list("categories")
            );
            if let Some(r) = p["retention"].as_str() {
                let _ = write!(out, "<li>Kept: {}</li>", escape(r));
            }
            let recipients = list("recipients");
            if !recipients.is_empty() {
                let _ = write!(out, "<li>Recipients: {recipients}</li>");
            }
            out.push_str("</ul>\n");
        }
    }
    out.push_str("<h2>Your rights</h2>\n<ul>");
    if let Some(rights) = meta["rights"].as_array() {
        for r in rights.iter().filter_map(|r| r.as_str()) {
            let _ = write!(out, "<li>{}</li>", escape(r));
        }
    }
    out.push_str("</ul>\n");
    if let Some(contact) = meta["rights_contact"].as_str() {
        let _ = writeln!(
            out,
            "<p>To exercise them, write to {}.</p>",
            escape(contact)
        );
    }
    if let Some(a) = meta["complaint"]["authority"].as_str() {
        let _ = writeln!(out, "<p>You may complain to {}.</p>", escape(a));
    }
    out.push_str("<h2>Your data</h2>\n");
    if data
        .iter()
        .all(|d| d.tables.iter().all(|t| t.rows.is_empty()))
    {
        out.push_str(
            "<p>We searched every system this covers for the identity you gave and hold no personal data about you. \
             What is written above is how we process personal data in general, which you are entitled to know all the same.</p>\n",
        );
    }
    let table_html = |out: &mut String, t: &TableRows, title: String| {
        let _ = write!(
            out,
            "<h3>{} <small>({} row{})</small></h3>\n<table><thead><tr>",
            title,
            t.rows.len(),
            if t.rows.len() == 1 { "" } else { "s" }
        );
        for c in &t.columns {
            let _ = write!(out, "<th scope=\"col\">{}</th>", escape(c));
        }
        out.push_str("</tr></thead><tbody>\n");
        for row in &t.rows {
            out.push_str("<tr>");
            for v in row {
                let _ = write!(out, "<td>{}</td>", escape(&v.to_string()));
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</tbody></table>\n");
    };
    for d in data {
        for t in d.tables.iter().filter(|t| t.mention.is_none()) {
            table_html(&mut out, t, escape(&t.table));
        }
    }
    let mentions: Vec<&TableRows> = data
        .iter()
        .flat_map(|d| d.tables.iter())
        .filter(|t| t.mention.is_some())
        .collect();
    if !mentions.is_empty() {
        out.push_str(
            "<h2>Records that mention you</h2>\n<p>These records are not yours: they belong to other people or are our own, and refer to you in the role their column names. \
             Only their key, that reference and their dates are shown.</p>\n",
        );
        for t in mentions {
            let role = t
                .mention
                .as_ref()
                .map(|m| m.via.join(", "))
                .unwrap_or_default();
            table_html(
                &mut out,
                t,
                format!(
                    "{} <small>as <code>{}</code></small>",
                    escape(&t.table),
                    escape(&role)
                ),
            );
        }
    }
    out.push_str("</body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_what_needs_quoting() {
        let t = TableRows {
            mention: None,
            table: "t".into(),
            columns: vec!["a".into(), "b".into()],
            rows: vec![
                vec![Value::Text("x,y".into()), Value::Text("say \"hi\"".into())],
                vec![Value::Null, Value::Int(3)],
            ],
        };
        assert_eq!(csv(&t), "a,b\r\n\"x,y\",\"say \"\"hi\"\"\"\r\n,3\r\n");
    }

    /// A name typed as a formula into a sign-up form does not run when the export is opened
    /// in a spreadsheet; a negative number stays a number.
    #[test]
    fn csv_cells_never_run_as_formulas() {
        let t = TableRows {
            mention: None,
            table: "t".into(),
            columns: vec!["name".into(), "balance".into()],
            rows: vec![vec![
                Value::Text("=HYPERLINK(\"https://evil.test\")".into()),
                Value::Int(-5),
            ]],
        };
        assert_eq!(
            csv(&t),
            "name,balance\r\n\"'=HYPERLINK(\"\"https://evil.test\"\")\",-5\r\n"
        );
    }
}
