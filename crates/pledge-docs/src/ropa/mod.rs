//! The record of processing activities (GDPR Art. 30): one row per purpose with every field of
//! Art. 30(1)(a)-(g), or of Art. 30(2) for what the company processes on behalf of its
//! customers. Written as CSV, JSON, HTML or an Excel workbook, the forms a DPO hands to a
//! supervisory authority on request (Art. 30(4)).
//!
//! The record is built from the same resolved view as the notice, so the two never disagree.

mod xlsx;

use crate::notice::{self, NoticeView, PurposeView, TemplateError, Templates};
use minijinja::value::{Serde, Value};
use pledge_lang::load::Declaration;
use pledge_lang::types::Date;
use serde::Serialize;

/// The formats of the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Json,
    Html,
    Xlsx,
}

/// The whole record.
#[derive(Debug, Clone, Serialize)]
pub struct Record {
    pub title: String,
    /// The version of the notice built from the same declaration.
    pub notice_version: String,
    /// The date the record reflects, `YYYY-MM-DD`.
    pub date: Option<String>,
    pub controller: Option<String>,
    pub representative: Option<String>,
    pub dpo: Option<String>,
    pub security: Vec<String>,
    pub activities: Vec<Activity>,
}

/// One processing activity: one purpose.
#[derive(Debug, Clone, Serialize)]
pub struct Activity {
    /// `Art. 30(1)` (we are the controller) or `Art. 30(2)` (we process for customers).
    pub record: &'static str,
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    /// (a) the controller, with contact details; for Art. 30(2), the processor and the
    /// controllers it acts for.
    pub controller: Option<String>,
    /// (a) joint controllers.
    pub joint_controllers: Vec<String>,
    /// (a) the representative.
    pub representative: Option<String>,
    /// (a) the data protection officer.
    pub dpo: Option<String>,
    /// The Art. 6 bases (not required by Art. 30, but what a regulator asks next).
    pub legal_bases: Vec<String>,
    pub special_condition: Option<String>,
    /// (c) categories of data subjects.
    pub data_subjects: Vec<String>,
    /// (c) categories of personal data.
    pub categories: Vec<String>,
    /// Special categories (Art. 9) and criminal-offence data (Art. 10) among them.
    pub special_categories: Vec<String>,
    pub sources: Vec<String>,
    /// (d) categories of recipients, with their countries.
    pub recipients: Vec<String>,
    /// (e) transfers to third countries, with their safeguards.
    pub transfers: Vec<String>,
    /// (f) time limits for erasure.
    pub retention: Option<String>,
    /// (g) technical and organisational security measures.
    pub security: Vec<String>,
    pub automated_decisions: Option<String>,
}

/// A column of the tabular forms: header and how to read the cell of an activity.
pub struct Column {
    pub header: &'static str,
    /// The Art. 30 point the column answers, if any.
    pub point: &'static str,
    pub width: u8,
    /// Whether the value is the same for every activity of the controller and is therefore
    /// given once, above the table, in the HTML record.
    pub shared: bool,
    pub value: fn(&Activity) -> String,
}

fn list(items: &[String]) -> String {
    items.join("; ")
}

fn opt(item: &Option<String>) -> String {
    item.clone().unwrap_or_default()
}

/// The columns of the CSV and the spreadsheet, in order.
pub const COLUMNS: &[Column] = &[
    Column {
        header: "Record",
        point: "",
        width: 11,
        shared: false,
        value: |a| a.record.to_string(),
    },
    Column {
        header: "Processing activity",
        point: "Art. 30(1)(b)",
        width: 28,
        shared: false,
        value: |a| a.name.clone(),
    },
    Column {
        header: "Id",
        point: "",
        width: 16,
        shared: false,
        value: |a| a.id.clone(),
    },
    Column {
        header: "Description of the purpose",
        point: "Art. 30(1)(b)",
        width: 40,
        shared: false,
        value: |a| opt(&a.description),
    },
    Column {
        header: "Controller and contact details",
        point: "Art. 30(1)(a)",
        width: 36,
        shared: true,
        value: |a| opt(&a.controller),
    },
    Column {
        header: "Joint controllers",
        point: "Art. 30(1)(a)",
        width: 20,
        shared: false,
        value: |a| list(&a.joint_controllers),
    },
    Column {
        header: "Representative",
        point: "Art. 30(1)(a)",
        width: 24,
        shared: true,
        value: |a| opt(&a.representative),
    },
    Column {
        header: "Data protection officer",
        point: "Art. 30(1)(a)",
        width: 24,
        shared: true,
        value: |a| opt(&a.dpo),
    },
    Column {
        header: "Legal basis",
        point: "Art. 6(1)",
        width: 36,
        shared: false,
        value: |a| list(&a.legal_bases),
    },
    Column {
        header: "Condition for special categories",
        point: "Art. 9(2)",
        width: 24,
        shared: false,
        value: |a| opt(&a.special_condition),
    },
    Column {
        header: "Categories of data subjects",
        point: "Art. 30(1)(c)",
        width: 24,
        shared: false,
        value: |a| list(&a.data_subjects),
    },
    Column {
        header: "Categories of personal data",
        point: "Art. 30(1)(c)",
        width: 40,
        shared: false,
        value: |a| list(&a.categories),
    },
    Column {
        header: "Special categories and criminal data",
        point: "Art. 9, 10",
        width: 24,
        shared: false,
        value: |a| list(&a.special_categories),
    },
    Column {
        header: "Sources",
        point: "Art. 14(2)(f)",
        width: 24,
        shared: false,
        value: |a| list(&a.sources),
    },
    Column {
        header: "Categories of recipients",
        point: "Art. 30(1)(d)",
        width: 36,
        shared: false,
        value: |a| list(&a.recipients),
    },
    Column {
        header: "Transfers to third countries and safeguards",
        point: "Art. 30(1)(e)",
        width: 40,
        shared: false,
        value: |a| list(&a.transfers),
    },
    Column {
        header: "Time limits for erasure",
        point: "Art. 30(1)(f)",
        width: 30,
        shared: false,
        value: |a| opt(&a.retention),
    },
    Column {
        header: "Security measures",
        point: "Art. 30(1)(g)",
        width: 40,
        shared: true,
        value: |a| list(&a.security),
    },
    Column {
        header: "Automated decisions and profiling",
        point: "Art. 22",
        width: 30,
        shared: false,
        value: |a| opt(&a.automated_decisions),
    },
];

fn party_line(
    name: Option<&str>,
    address: Option<&str>,
    country: Option<&str>,
    address_has_country: bool,
    contacts: &[Option<&notice::Contact>],
    phone: Option<&str>,
) -> String {
    let mut parts: Vec<String> = Vec::new();
    parts.extend(name.map(str::to_string));
    parts.extend(address.map(str::to_string));
    if !address_has_country {
        parts.extend(country.map(str::to_string));
    }
    parts.extend(contacts.iter().flatten().map(|c| c.text.clone()));
    parts.extend(phone.map(str::to_string));
    parts.join(", ")
}

/// Build the record of a declaration.
pub fn build(decl: &Declaration, date: Option<Date>) -> Record {
    let v = notice::view(decl, notice::DEFAULT_LANG, date);
    from_view(&v)
}

/// Build the record from a notice view.
pub fn from_view(v: &NoticeView) -> Record {
    let c = &v.content;
    let controller = c.controller.as_ref().map(|ctl| {
        let mut line = party_line(
            Some(&ctl.full_name),
            ctl.address.as_deref(),
            ctl.country.as_deref(),
            ctl.address_has_country,
            &[ctl.email.as_ref(), ctl.contact_form.as_ref()],
            ctl.phone.as_deref(),
        );
        if let Some(r) = &ctl.registration {
            line.push_str(&format!(" ({r})"));
        }
        line
    });
    let party = |p: &notice::PartyView| {
        party_line(
            p.name.as_deref(),
            p.address.as_deref(),
            p.country.as_deref(),
            p.address_has_country,
            &[p.email.as_ref(), p.website.as_ref()],
            p.phone.as_deref(),
        )
    };
    let representative = c.representative.as_ref().map(party);
    let dpo = c.dpo.as_ref().map(party);
    let security: Vec<String> = c
        .security
        .iter()
        .map(|m| match &m.description {
            Some(d) => format!("{}: {}", m.label, d.trim_end_matches('.')),
            None => m.label.to_string(),
        })
        .collect();
    let activities = c
        .purposes
        .iter()
        .chain(&c.processor_purposes)
        .map(|p| {
            activity(
                v,
                p,
                controller.clone(),
                representative.clone(),
                dpo.clone(),
                &security,
            )
        })
        .collect();
    Record {
        title: format!(
            "Record of processing activities{}",
            c.controller
                .as_ref()
                .map(|x| format!(": {}", x.full_name))
                .unwrap_or_default()
        ),
        notice_version: v.version.clone(),
        date: v.effective_date.clone(),
        controller,
        representative,
        dpo,
        security,
        activities,
    }
}

fn activity(
    v: &NoticeView,
    p: &PurposeView,
    controller: Option<String>,
    representative: Option<String>,
    dpo: Option<String>,
    security: &[String],
) -> Activity {
    let processor = p.role == "processor";
    let controller = if processor {
        Some(format!(
            "Processor: {}. Controllers: each customer on whose behalf the data is processed, as named in its agreement with us",
            controller.unwrap_or_else(|| "not stated".to_string())
        ))
    } else {
        controller
    };
    let recipients = v
        .content
        .recipients
        .iter()
        .filter(|r| p.recipients.iter().any(|x| x.id == r.id));
    let joint_controllers = recipients
        .clone()
        .filter(|r| r.role == "joint_controller")
        .map(|r| r.name.clone())
        .collect();
    let transfers = v
        .content
        .transfers
        .iter()
        .filter(|t| p.transfers.iter().any(|x| x.id == t.id))
        .map(|t| {
            let mut line = t.country.clone();
            if let Some(r) = &t.recipient {
                line.push_str(&format!(" ({r})"));
            }
            line.push_str(&format!(": {}", t.mechanism_label));
            if let Some(d) = &t.derogation {
                line.push_str(&format!(", {} ({})", d.label, d.article));
            }
            if let Some(m) = &t.supplementary_measures {
                line.push_str(&format!("; supplementary measures: {m}"));
            }
            line
        })
        .collect();
    let legal_bases = p
        .bases
        .iter()
        .map(|b| {
            let mut line = format!("{} ({})", b.label, b.article);
            if let Some(i) = &b.interest {
                line.push_str(&format!(": {i}"));
            }
            if let Some(l) = &b.law {
                line.push_str(&format!(": {l}"));
            }
            line
        })
        .collect();
    let mut sources: Vec<String> = p
        .sources
        .iter()
        .map(|s| match &s.name {
            Some(n) => format!("{n} ({})", s.label),
            None => s.label.to_string(),
        })
        .collect();
    if sources.is_empty() {
        sources.push("the data subject".to_string());
    }
    let retention = p.retention.as_ref().map(|r| match (&r.text, &r.criteria) {
        (Some(t), Some(c)) => format!("{t}; {c}"),
        (Some(t), None) => t.clone(),
        (None, Some(c)) => c.clone(),
        (None, None) => String::new(),
    });
    let automated = match (&p.automated, p.profiling) {
        (Some(a), _) => Some(format!(
            "{}{}",
            a.logic,
            if a.significant_effects {
                " (legal or similarly significant effects)"
            } else {
                ""
            }
        )),
        (None, true) => Some("Profiling, without solely automated decisions".to_string()),
        (None, false) => None,
    };
    Activity {
        record: if processor {
            "Art. 30(2)"
        } else {
            "Art. 30(1)"
        },
        id: p.id.clone(),
        name: p.name.clone(),
        description: p.description.clone(),
        controller,
        joint_controllers,
        representative,
        dpo,
        legal_bases: if processor { Vec::new() } else { legal_bases },
        special_condition: p
            .special_condition
            .as_ref()
            .map(|c| format!("{} ({})", c.label, c.article)),
        data_subjects: p.subjects.clone(),
        categories: p.categories.iter().map(|c| c.label.clone()).collect(),
        special_categories: p
            .categories
            .iter()
            .filter(|c| c.special || c.criminal)
            .map(|c| c.label.clone())
            .collect(),
        sources,
        recipients: recipients
            .map(|r| {
                let mut line = format!("{} ({}", r.name, r.role_label);
                if let Some(c) = &r.country {
                    line.push_str(&format!(", {c}"));
                }
                line.push(')');
                line
            })
            .collect(),
        transfers,
        retention,
        security: security.to_vec(),
        automated_decisions: automated,
    }
}

/// Render the record. The spreadsheet is binary; the other formats are UTF-8 text.
pub fn render(
    record: &Record,
    format: Format,
    templates: &Templates,
    lang: &str,
) -> Result<Vec<u8>, TemplateError> {
    Ok(match format {
        Format::Csv => csv(record).into_bytes(),
        Format::Json => {
            let mut s = serde_json::to_string_pretty(record).unwrap_or_default();
            s.push('\n');
            s.into_bytes()
        }
        Format::Html => {
            // What is the same for every row is said once, above the table.
            let columns: Vec<&Column> = COLUMNS.iter().filter(|c| !c.shared).collect();
            let headers: Vec<(&str, &str)> = columns.iter().map(|c| (c.header, c.point)).collect();
            let rows: Vec<Vec<String>> = record
                .activities
                .iter()
                .map(|a| columns.iter().map(|c| (c.value)(a)).collect())
                .collect();
            let context = minijinja::context! {
                record => Value::from(Serde(record)),
                columns => Value::from(Serde(&headers)),
                rows => Value::from(Serde(&rows)),
            };
            templates.render(lang, "ropa.html", context)?.into_bytes()
        }
        Format::Xlsx => xlsx::workbook(record),
    })
}

/// The record as CSV with a header row, through the one CSV writer ([`crate::csv`]: RFC
/// 4180, formulas neutralised).
pub fn csv(record: &Record) -> String {
    let mut w = crate::csv::Writer::new();
    w.row(COLUMNS.iter().map(|c| c.header));
    for a in &record.activities {
        w.row(COLUMNS.iter().map(|c| (c.value)(a)));
    }
    w.finish()
}
