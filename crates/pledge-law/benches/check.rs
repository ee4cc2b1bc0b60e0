//! `pledge check` in process: parse, load and lint a generated declaration of 2,000 purposes
//! and 200 datasets. Goal: under 100 ms.
//!
//! Run: `cargo bench -p pledge-law --bench check`; for the whole `pledge check` process,
//! `bench/check.sh`.

use pledge_lang::{SourceMap, load};
use pledge_law::lint;
use std::time::{Duration, Instant};

fn main() {
    let text = pledge_testkit::generate::declaration(2_000, 200);
    // `-- --write FILE` saves the declaration for whole-process timing (bench/check.sh).
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--write") {
        let path = args.get(i + 1).expect("--write needs a file name");
        std::fs::write(path, &text).expect("write the generated declaration");
        return;
    }
    let sources = SourceMap::single("generated.toml", text.clone());
    let mut load_times = Vec::new();
    let mut lint_times = Vec::new();
    let mut total = Vec::new();
    let mut findings = 0;
    for _ in 0..25 {
        let start = Instant::now();
        let decl = load(&sources).expect("the generated declaration loads");
        let loaded = Instant::now();
        findings = lint::lint(&decl).len();
        let done = Instant::now();
        load_times.push(loaded - start);
        lint_times.push(done - loaded);
        total.push(done - start);
    }
    println!(
        "check, 2000 purposes / 200 datasets ({} KiB, {findings} findings): median {:.1} ms (load {:.1} ms, lint {:.1} ms), min {:.1} ms, max {:.1} ms over {} runs",
        text.len() / 1024,
        ms(median(&mut total)),
        ms(median(&mut load_times)),
        ms(median(&mut lint_times)),
        ms(*total.iter().min().unwrap()),
        ms(*total.iter().max().unwrap()),
        total.len()
    );
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
