//! Classifies sampled columns: reads JSON lines of `{"db", "table", "column", "type",
//! "samples"}` (as `bench/scan/sample_columns.py` writes them) on standard input, calls
//! `classify_column("table.column", type, samples)` for each, and writes one JSON line a
//! column with the category, the confidence and the evidence (or `null`) to standard
//! output. The time spent classifying (not reading) goes to standard error.
//!
//! ```sh
//! python3 bench/scan/sample_columns.py --chinook ... --pagila ... \
//!   | cargo run --release -p pledge-scan --example columns [-- --values-only] > predicted.jsonl
//! ```
//!
//! `--values-only` hands the classifier no name and no type, to measure what the values
//! alone say (a column called `c1` of type `text`).

use std::io::{BufRead, Write};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let values_only = std::env::args().skip(1).any(|a| a == "--values-only");
    let mut columns = Vec::new();
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(&line)?;
        let samples: Vec<String> = v["samples"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        columns.push((v, samples));
    }
    let scanner = pledge_scan::Scanner::new();
    let started = Instant::now();
    let mut values = 0;
    let results: Vec<_> = columns
        .iter()
        .map(|(v, samples)| {
            values += samples.len();
            let name = format!(
                "{}.{}",
                v["table"].as_str().unwrap_or_default(),
                v["column"].as_str().unwrap_or_default()
            );
            if values_only {
                scanner.classify_column("", "", samples)
            } else {
                scanner.classify_column(&name, v["type"].as_str().unwrap_or_default(), samples)
            }
        })
        .collect();
    let elapsed = started.elapsed().as_secs_f64();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for ((v, _), c) in columns.iter().zip(results) {
        let (category, confidence, evidence) = match c {
            Some(c) => (
                serde_json::json!(c.category),
                serde_json::json!((f64::from(c.confidence) * 100.0).round() / 100.0),
                serde_json::json!(
                    c.evidence
                        .iter()
                        .map(|e| format!("{e:?}"))
                        .collect::<Vec<_>>()
                ),
            ),
            None => (
                serde_json::Value::Null,
                serde_json::Value::Null,
                serde_json::json!([]),
            ),
        };
        let line = serde_json::json!({
            "db": v["db"], "table": v["table"], "column": v["column"],
            "category": category, "confidence": confidence, "evidence": evidence,
        });
        writeln!(out, "{line}")?;
    }
    out.flush()?;
    eprintln!(
        "{{\"columns\": {}, \"sampled_values\": {values}, \"seconds\": {elapsed:.6}, \"columns_per_s\": {:.0}}}",
        columns.len(),
        columns.len() as f64 / elapsed
    );
    Ok(())
}
