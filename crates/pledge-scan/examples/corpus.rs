//! Runs the scanner over a labelled corpus of the Presidio peer benchmark, writes its
//! predictions in the JSON lines that benchmark's `score.py` reads, and prints the
//! throughput on one thread.
//!
//! ```sh
//! cargo run --release -p pledge-scan --example corpus -- sentences SYNTH_DATASET.json OUT.jsonl
//! cargo run --release -p pledge-scan --example corpus -- columns COLUMN_CORPUS.jsonl OUT.jsonl
//! ```
//!
//! `sentences` reads the presidio-research JSON list (`full_text` of each item; the id is
//! the 0-based index) and scans each text as prose (`Scanner::scan_text`); `columns`
//! reads one `{"id", "value"}` a line and scans each value as a cell
//! (`Scanner::scan_value`), as a column sampler would. Timing as the benchmark's README
//! asks: the whole corpus, one item a call, one thread, start-up excluded, the median of
//! `--repeat` passes (default 5). Offsets are written in Unicode characters.

use std::io::Write;
use std::time::Instant;

use pledge_scan::{Finding, Kind, Scanner};

/// The benchmark's neutral type of a kind; kinds it does not score keep a name of their
/// own and are reported as unscored.
fn neutral(kind: Kind) -> &'static str {
    match kind {
        Kind::Email => "EMAIL",
        Kind::Phone => "PHONE",
        Kind::PaymentCard => "CREDIT_CARD",
        Kind::Iban => "IBAN",
        Kind::IpAddress => "IP",
        Kind::UsSsn => "US_SSN",
        Kind::PersonName => "PERSON",
        Kind::Place | Kind::StreetAddress | Kind::PostalCode => "LOCATION",
        Kind::Url => "URL",
        Kind::Date | Kind::DateOfBirth => "DATE",
        Kind::FrNir => "FR_NIR",
        Kind::DkCpr => "DK_CPR",
        Kind::UkNino => "UK_NINO",
        Kind::DeTaxId => "DE_TAX_ID",
        Kind::Special(_) => "SPECIAL_CATEGORY",
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: corpus sentences|columns INPUT OUTPUT.jsonl [--repeat N]";
    let [mode, input, output, rest @ ..] = args.as_slice() else {
        return Err(usage.into());
    };
    let repeat: usize = match rest {
        [flag, n] if flag == "--repeat" => n.parse()?,
        [] => 5,
        _ => return Err(usage.into()),
    };
    let text = std::fs::read_to_string(input)?;
    let items: Vec<(String, String)> = match mode.as_str() {
        "sentences" => {
            let list: serde_json::Value = serde_json::from_str(&text)?;
            let list = list
                .as_array()
                .ok_or("the sentence corpus is a JSON list")?;
            list.iter()
                .enumerate()
                .map(|(i, item)| {
                    let t = item["full_text"].as_str().unwrap_or_default().to_string();
                    (i.to_string(), t)
                })
                .collect()
        }
        "columns" => text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l)?;
                let id = v["id"].as_str().ok_or("an item without id")?.to_string();
                Ok((id, v["value"].as_str().unwrap_or_default().to_string()))
            })
            .collect::<Result<_, Box<dyn std::error::Error>>>()?,
        _ => return Err(usage.into()),
    };
    let prose = mode == "sentences";

    let started = Instant::now();
    let scanner = Scanner::new();
    let startup = started.elapsed();
    let scan = |t: &str| {
        if prose {
            scanner.scan_text(t)
        } else {
            scanner.scan_value(t)
        }
    };
    // Warm-up: the first calls fault in the dictionaries' pages.
    for (_, t) in items.iter().take(3) {
        std::hint::black_box(scan(t));
    }

    let mut passes = Vec::new();
    let mut results: Vec<Vec<Finding>> = Vec::new();
    for pass in 0..repeat.max(1) {
        let t0 = Instant::now();
        let mut out = Vec::with_capacity(items.len());
        for (_, t) in &items {
            out.push(scan(t));
        }
        passes.push(t0.elapsed().as_secs_f64());
        if pass == 0 {
            results = out;
        } else {
            std::hint::black_box(out);
        }
    }

    let mut file = std::io::BufWriter::new(std::fs::File::create(output)?);
    for ((id, t), found) in items.iter().zip(&results) {
        let chars = |byte: usize| t[..byte].chars().count();
        let entities: Vec<serde_json::Value> = found
            .iter()
            .map(|f| {
                serde_json::json!({
                    "type": neutral(f.kind),
                    "start": chars(f.span.start),
                    "end": chars(f.span.end),
                    "score": (f64::from(f.confidence) * 1000.0).round() / 1000.0,
                })
            })
            .collect();
        writeln!(
            file,
            "{}",
            serde_json::json!({"id": id, "entities": entities})
        )?;
    }
    file.flush()?;

    let mut sorted = passes.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    let best = sorted[0];
    let bytes: usize = items.iter().map(|(_, t)| t.len()).sum();
    let report = serde_json::json!({
        "corpus": mode,
        "items": items.len(),
        "bytes": bytes,
        "startup_s": startup.as_secs_f64(),
        "passes_s": passes,
        "median_s": median,
        "items_per_s_median": items.len() as f64 / median,
        "items_per_s_best": items.len() as f64 / best,
        "mb_per_s_median": bytes as f64 / 1e6 / median,
        "us_per_item": median * 1e6 / items.len() as f64,
    });
    println!("{report}");
    Ok(())
}
