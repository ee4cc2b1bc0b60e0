//! A minimal Office Open XML workbook (ECMA-376): a sheet of processing activities with a
//! bold, frozen, filterable header, and a sheet of controller details. Strings are written
//! inline, so no shared-string table is needed. The zip container is written here too, with
//! DEFLATE from `miniz_oxide`; entries carry a fixed timestamp so equal records give equal
//! bytes.

use super::{COLUMNS, Record};

/// Excel refuses cells longer than this.
const MAX_CELL: usize = 32_767;

pub fn workbook(record: &Record) -> Vec<u8> {
    let activities = activities_sheet(record);
    let details = details_sheet(record);
    let core = core_properties(record);
    let filter_end = format!(
        "${}${}",
        column_name(COLUMNS.len() - 1),
        record.activities.len() + 1
    );
    let workbook = WORKBOOK.replace("__LAST__", &filter_end);
    let files: [(&str, &[u8]); 9] = [
        ("[Content_Types].xml", CONTENT_TYPES.as_bytes()),
        ("_rels/.rels", ROOT_RELS.as_bytes()),
        ("docProps/core.xml", core.as_bytes()),
        ("docProps/app.xml", APP.as_bytes()),
        ("xl/workbook.xml", workbook.as_bytes()),
        ("xl/_rels/workbook.xml.rels", WORKBOOK_RELS.as_bytes()),
        ("xl/styles.xml", STYLES.as_bytes()),
        ("xl/worksheets/sheet1.xml", activities.as_bytes()),
        ("xl/worksheets/sheet2.xml", details.as_bytes()),
    ];
    crate::archive::zip(&files)
}

const CONTENT_TYPES: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/worksheets/sheet2.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/><Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-package.core-properties+xml"/><Override PartName="/docProps/app.xml" ContentType="application/vnd.openxmlformats-officedocument.extended-properties+xml"/></Types>"#;

const ROOT_RELS: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties" Target="docProps/core.xml"/><Relationship Id="rId3" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/extended-properties" Target="docProps/app.xml"/></Relationships>"#;

const APP: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties"><Application>Pledge</Application></Properties>"#;

const WORKBOOK: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><bookViews><workbookView/></bookViews><sheets><sheet name="Processing activities" sheetId="1" r:id="rId1"/><sheet name="Controller" sheetId="2" r:id="rId2"/></sheets><definedNames><definedName name="_xlnm._FilterDatabase" localSheetId="0" hidden="1">'Processing activities'!$A$1:__LAST__</definedName></definedNames></workbook>"#;

const WORKBOOK_RELS: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet2.xml"/><Relationship Id="rId3" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/></Relationships>"#;

/// Style 0: default; 1: header (bold, shaded, wrapped, top); 2: body (wrapped, top);
/// 3: label (bold, top).
const STYLES: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><fonts count="2"><font><sz val="11"/><name val="Calibri"/><family val="2"/></font><font><b/><sz val="11"/><name val="Calibri"/><family val="2"/></font></fonts><fills count="3"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill><fill><patternFill patternType="solid"><fgColor rgb="FFD9E2F3"/><bgColor indexed="64"/></patternFill></fill></fills><borders count="2"><border><left/><right/><top/><bottom/><diagonal/></border><border><left/><right/><top/><bottom style="thin"><color auto="1"/></bottom><diagonal/></border></borders><cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs><cellXfs count="4"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/><xf numFmtId="0" fontId="1" fillId="2" borderId="1" xfId="0" applyFont="1" applyFill="1" applyBorder="1" applyAlignment="1"><alignment vertical="top" wrapText="1"/></xf><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0" applyAlignment="1"><alignment vertical="top" wrapText="1"/></xf><xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1" applyAlignment="1"><alignment vertical="top"/></xf></cellXfs><cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>"#;

fn core_properties(record: &Record) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/"><dc:title>{}</dc:title><dc:creator>Pledge</dc:creator><cp:version>{}</cp:version></cp:coreProperties>"#,
        escape(&record.title),
        escape(&record.notice_version)
    )
}

/// `0` → `A`, `25` → `Z`, `26` → `AA`.
fn column_name(mut index: usize) -> String {
    let mut name = Vec::new();
    loop {
        // `index % 26` is below 26, so the byte is an upper-case ASCII letter.
        name.push(b'A' + (index % 26) as u8);
        if index < 26 {
            break;
        }
        index = index / 26 - 1;
    }
    name.reverse();
    String::from_utf8(name).unwrap_or_default()
}

/// XML text: escaped, without the control characters XML 1.0 forbids, within Excel's limit.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (count, c) in text.chars().enumerate() {
        if count >= MAX_CELL {
            break;
        }
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

fn cell(out: &mut String, reference: &str, style: u8, text: &str) {
    if text.is_empty() {
        out.push_str(&format!(r#"<c r="{reference}" s="{style}"/>"#));
    } else {
        out.push_str(&format!(
            r#"<c r="{reference}" s="{style}" t="inlineStr"><is><t xml:space="preserve">{}</t></is></c>"#,
            escape(text)
        ));
    }
}

const SHEET_START: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">"#;

fn activities_sheet(record: &Record) -> String {
    let last_col = column_name(COLUMNS.len() - 1);
    let last_row = record.activities.len() + 1;
    let mut s = String::from(SHEET_START);
    s.push_str(&format!(r#"<dimension ref="A1:{last_col}{last_row}"/>"#));
    s.push_str(r#"<sheetViews><sheetView workbookViewId="0" tabSelected="1"><pane xSplit="2" ySplit="1" topLeftCell="C2" activePane="bottomRight" state="frozen"/></sheetView></sheetViews>"#);
    s.push_str("<cols>");
    for (i, c) in COLUMNS.iter().enumerate() {
        s.push_str(&format!(
            r#"<col min="{n}" max="{n}" width="{}" customWidth="1"/>"#,
            c.width,
            n = i + 1
        ));
    }
    s.push_str("</cols><sheetData>");
    s.push_str(r#"<row r="1">"#);
    for (i, c) in COLUMNS.iter().enumerate() {
        let header = if c.point.is_empty() {
            c.header.to_string()
        } else {
            format!("{} ({})", c.header, c.point)
        };
        cell(&mut s, &format!("{}1", column_name(i)), 1, &header);
    }
    s.push_str("</row>");
    for (r, a) in record.activities.iter().enumerate() {
        let row = r + 2;
        s.push_str(&format!(r#"<row r="{row}">"#));
        for (i, c) in COLUMNS.iter().enumerate() {
            cell(
                &mut s,
                &format!("{}{row}", column_name(i)),
                2,
                &(c.value)(a),
            );
        }
        s.push_str("</row>");
    }
    s.push_str("</sheetData>");
    s.push_str(&format!(r#"<autoFilter ref="A1:{last_col}{last_row}"/>"#));
    s.push_str(r#"<pageMargins left="0.4" right="0.4" top="0.5" bottom="0.5" header="0.3" footer="0.3"/><pageSetup orientation="landscape" fitToHeight="0"/></worksheet>"#);
    s
}

fn details_sheet(record: &Record) -> String {
    let mut rows: Vec<(&str, String)> = vec![
        ("Record", record.title.clone()),
        (
            "Controller (Art. 30(1)(a))",
            record.controller.clone().unwrap_or_default(),
        ),
        (
            "Representative (Art. 30(1)(a))",
            record.representative.clone().unwrap_or_default(),
        ),
        (
            "Data protection officer (Art. 30(1)(a))",
            record.dpo.clone().unwrap_or_default(),
        ),
        (
            "Security measures (Art. 30(1)(g))",
            record.security.join("\n"),
        ),
        ("Processing activities", record.activities.len().to_string()),
        ("Notice version", record.notice_version.clone()),
    ];
    if let Some(d) = &record.date {
        rows.push(("Date", d.clone()));
    }
    let mut s = String::from(SHEET_START);
    s.push_str(r#"<cols><col min="1" max="1" width="40" customWidth="1"/><col min="2" max="2" width="90" customWidth="1"/></cols><sheetData>"#);
    for (i, (label, value)) in rows.iter().enumerate() {
        let r = i + 1;
        s.push_str(&format!(r#"<row r="{r}">"#));
        cell(&mut s, &format!("A{r}"), 3, label);
        cell(&mut s, &format!("B{r}"), 2, value);
        s.push_str("</row>");
    }
    s.push_str("</sheetData></worksheet>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_named_like_excel() {
        assert_eq!(column_name(0), "A");
        assert_eq!(column_name(25), "Z");
        assert_eq!(column_name(26), "AA");
        assert_eq!(column_name(27), "AB");
        assert_eq!(column_name(701), "ZZ");
        assert_eq!(column_name(702), "AAA");
    }

    #[test]
    fn text_is_escaped_and_cleaned() {
        assert_eq!(escape("a<b & \"c\"\u{1}"), "a&lt;b &amp; &quot;c&quot;");
    }
}
