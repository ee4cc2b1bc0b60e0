//! The record of processing activities: every field of GDPR Art. 30(1)(a)-(g) per purpose,
//! Art. 30(2) for processing done for customers, in each output format.

use pledge_docs::notice::Templates;
use pledge_docs::ropa::{self, COLUMNS, Format, Record};
use pledge_lang::types::Date;
use pledge_lang::{Declaration, SourceMap};
use std::path::Path;

fn load(name: &str) -> Declaration {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let text = std::fs::read_to_string(path).unwrap();
    pledge_lang::load(&SourceMap::single(name, text)).unwrap()
}

fn record(name: &str) -> Record {
    ropa::build(
        &load(name),
        Some(Date {
            year: 2026,
            month: 4,
            day: 1,
        }),
    )
}

fn render(record: &Record, format: Format) -> Vec<u8> {
    ropa::render(record, format, &Templates::builtin(), "en").unwrap()
}

/// A small RFC 4180 reader, to read back what the writer wrote.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => field.push(c),
        }
    }
    rows
}

#[test]
fn every_controller_activity_has_every_field_of_article_30() {
    let r = record("complete.toml");
    assert_eq!(r.activities.len(), 9);
    for a in r.activities.iter().filter(|a| a.record == "Art. 30(1)") {
        let at = |what: &str, ok: bool| assert!(ok, "{}: no {what}", a.id);
        at(
            "(a) controller",
            a.controller.as_deref().is_some_and(|c| {
                c.contains("Kestrel Labs ApS") && c.contains("privacy@kestrel.example")
            }),
        );
        at(
            "(a) DPO",
            a.dpo
                .as_deref()
                .is_some_and(|d| d.contains("dpo@kestrel.example")),
        );
        at("(b) purpose", !a.name.is_empty());
        at("(c) data subjects", !a.data_subjects.is_empty());
        at("(c) categories", !a.categories.is_empty());
        at(
            "(f) time limit",
            a.retention.as_deref().is_some_and(|r| !r.is_empty()),
        );
        at(
            "(g) security",
            a.security.iter().any(|s| s.contains("AES-256")),
        );
        at("legal basis", !a.legal_bases.is_empty());
    }
    let accounts = r.activities.iter().find(|a| a.id == "accounts").unwrap();
    assert_eq!(
        accounts.recipients,
        ["Nimbus Cloud Inc. (processor acting on our instructions, United States)"]
    );
    assert!(
        accounts.transfers[0]
            .starts_with("United States (Nimbus Cloud Inc.): standard contractual clauses"),
        "{:?}",
        accounts.transfers
    );
    let billing = r.activities.iter().find(|a| a.id == "billing").unwrap();
    assert_eq!(
        billing.legal_bases,
        ["legal obligation (GDPR Art. 6(1)(c)): Danish Bookkeeping Act section 10"]
    );
    assert_eq!(
        billing.retention.as_deref(),
        Some("5 years after the end of the financial year")
    );
    let health = r
        .activities
        .iter()
        .find(|a| a.id == "support-health")
        .unwrap();
    assert_eq!(health.special_categories, ["Health data"]);
    assert_eq!(
        health.special_condition.as_deref(),
        Some("your explicit consent (GDPR Art. 9(2)(a))")
    );
}

#[test]
fn processing_for_customers_is_recorded_under_article_30_2() {
    let r = record("outside-eu.toml");
    let messaging = r.activities.iter().find(|a| a.id == "messaging").unwrap();
    assert_eq!(messaging.record, "Art. 30(2)");
    assert!(
        messaging
            .controller
            .as_deref()
            .unwrap()
            .starts_with("Processor: Quillon Inc.")
    );
    assert!(
        messaging.legal_bases.is_empty(),
        "the customer, not the processor, chooses the basis"
    );
    assert!(
        messaging.transfers[0]
            .starts_with("India (Relay Networks Pvt Ltd): standard contractual clauses")
    );
    assert_eq!(
        r.representative.as_deref(),
        Some(
            "Quillon EU Representative Ltd, 12 Merrion Square, Dublin 2, Ireland, eu-rep@quillon.example"
        )
    );
}

#[test]
fn csv_has_a_header_and_one_row_per_purpose() {
    let r = record("complete.toml");
    let text = String::from_utf8(render(&r, Format::Csv)).unwrap();
    let rows = parse_csv(&text);
    assert_eq!(rows.len(), r.activities.len() + 1);
    let header: Vec<&str> = COLUMNS.iter().map(|c| c.header).collect();
    assert_eq!(rows[0], header);
    assert!(rows.iter().all(|row| row.len() == COLUMNS.len()));
    assert_eq!(rows[1][1], "Running your account");
    insta::assert_snapshot!("complete.csv", text);
}

#[test]
fn json_is_the_record() {
    let r = record("complete.toml");
    let json: serde_json::Value = serde_json::from_slice(&render(&r, Format::Json)).unwrap();
    assert_eq!(json["activities"].as_array().unwrap().len(), 9);
    assert_eq!(json["date"], "2026-04-01");
    assert_eq!(
        json["activities"][1]["retention"],
        "5 years after the end of the financial year"
    );
    insta::assert_json_snapshot!("complete.json", json);
}

#[test]
fn html_is_one_table() {
    let r = record("complete.toml");
    let html = String::from_utf8(render(&r, Format::Html)).unwrap();
    assert!(html.starts_with("<!doctype html>"));
    for c in COLUMNS {
        // Columns shared by every row are said once, above the table.
        assert_eq!(
            html.contains(&format!("<th scope=\"col\">{}", c.header)),
            !c.shared,
            "{}",
            c.header
        );
    }
    assert!(
        html.contains("AES-256 on every database and backup")
            && html.contains("dpo@kestrel.example")
    );
    for a in &r.activities {
        assert!(html.contains(&a.name.replace('\'', "&#39;")), "{}", a.name);
    }
    assert_eq!(html.matches("<tr>").count(), r.activities.len() + 1);
}

#[test]
fn html_template_can_be_replaced() {
    let mut templates = Templates::builtin();
    templates.set(
        "en",
        "ropa.html",
        "{% for row in rows %}{{ row[1] }};{% endfor %}",
    );
    let out = ropa::render(&record("outside-eu.toml"), Format::Html, &templates, "en").unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "Managing customer accounts;Sending messages for customers;"
    );
}

/// The entries of a zip archive: name and uncompressed bytes, read from the central directory.
fn unzip(zip: &[u8]) -> Vec<(String, Vec<u8>)> {
    let u16_at = |o: usize| u16::from_le_bytes([zip[o], zip[o + 1]]) as usize;
    let u32_at = |o: usize| u32::from_le_bytes(zip[o..o + 4].try_into().unwrap()) as usize;
    let end = zip.len() - 22;
    assert_eq!(u32_at(end), 0x0605_4b50, "end of central directory");
    let (count, mut at) = (u16_at(end + 10), u32_at(end + 16));
    let mut entries = Vec::new();
    for _ in 0..count {
        assert_eq!(u32_at(at), 0x0201_4b50);
        let (csize, name_len, offset) = (u32_at(at + 20), u16_at(at + 28), u32_at(at + 42));
        let name = String::from_utf8(zip[at + 46..at + 46 + name_len].to_vec()).unwrap();
        let data_at = offset + 30 + u16_at(offset + 26) + u16_at(offset + 28);
        let data = miniz_oxide_inflate(&zip[data_at..data_at + csize]);
        entries.push((name, data));
        at += 46 + name_len + u16_at(at + 30) + u16_at(at + 32);
    }
    entries
}

fn miniz_oxide_inflate(data: &[u8]) -> Vec<u8> {
    miniz_oxide::inflate::decompress_to_vec(data).expect("valid DEFLATE data")
}

#[test]
fn xlsx_is_a_workbook_with_the_record() {
    let r = record("complete.toml");
    let bytes = render(&r, Format::Xlsx);
    assert_eq!(&bytes[..4], b"PK\x03\x04");
    let entries = unzip(&bytes);
    let names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names[0], "[Content_Types].xml",
        "readers expect the content types first"
    );
    for part in [
        "_rels/.rels",
        "xl/workbook.xml",
        "xl/_rels/workbook.xml.rels",
        "xl/styles.xml",
        "xl/worksheets/sheet1.xml",
        "xl/worksheets/sheet2.xml",
    ] {
        assert!(names.contains(&part), "{part} missing from {names:?}");
    }
    let sheet = String::from_utf8(
        entries
            .iter()
            .find(|(n, _)| n == "xl/worksheets/sheet1.xml")
            .unwrap()
            .1
            .clone(),
    )
    .unwrap();
    assert!(sheet.contains("Time limits for erasure (Art. 30(1)(f))"));
    assert!(sheet.contains("5 years after the end of the financial year"));
    assert!(
        sheet.contains(r#"<autoFilter ref="A1:S10"/>"#),
        "one header and nine rows over 19 columns"
    );
    let workbook = String::from_utf8(
        entries
            .iter()
            .find(|(n, _)| n == "xl/workbook.xml")
            .unwrap()
            .1
            .clone(),
    )
    .unwrap();
    assert!(workbook.contains("'Processing activities'!$A$1:$S$10"));
    // The same record gives the same bytes: no clock inside.
    assert_eq!(bytes, render(&r, Format::Xlsx));
}
