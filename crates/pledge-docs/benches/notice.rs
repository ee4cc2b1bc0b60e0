//! Rendering the privacy notice of a generated declaration of 2,000 purposes, in each format,
//! and its record of processing. Goal (issue "Generated documents"): the HTML notice under
//! 200 ms.
//!
//! Run: `cargo bench -p pledge-docs --bench notice`; for the whole `pledge notice` process,
//! `bench/notice.sh`.

use pledge_docs::notice::{self, Format, Options};
use pledge_docs::ropa;
use pledge_lang::types::Date;
use pledge_lang::{SourceMap, load};
use std::time::{Duration, Instant};

const RUNS: usize = 20;

fn main() {
    let text = pledge_testkit::generate::declaration(2_000, 0);
    // `-- --write FILE` saves the declaration for whole-process timing (bench/notice.sh).
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--write") {
        let path = args.get(i + 1).expect("--write needs a file name");
        std::fs::write(path, &text).expect("write the generated declaration");
        return;
    }
    let decl =
        load(&SourceMap::single("generated.toml", text)).expect("the generated declaration loads");
    let date = Some(Date {
        year: 2026,
        month: 1,
        day: 1,
    });
    for (name, format) in [
        ("html", Format::Html),
        ("markdown", Format::Markdown),
        ("json-ld", Format::JsonLd),
    ] {
        let options = Options {
            format,
            effective_date: date,
            ..Options::default()
        };
        let mut bytes = 0;
        let times =
            measure(|| bytes = notice::render(&decl, &options).expect("renders").text.len());
        report(&format!("notice {name}"), bytes, times);
    }
    let templates = notice::Templates::builtin();
    for (name, format) in [
        ("csv", ropa::Format::Csv),
        ("xlsx", ropa::Format::Xlsx),
        ("html", ropa::Format::Html),
    ] {
        let mut bytes = 0;
        let times = measure(|| {
            let record = ropa::build(&decl, date);
            bytes = ropa::render(&record, format, &templates, "en")
                .expect("renders")
                .len();
        });
        report(&format!("ropa {name}"), bytes, times);
    }
}

/// Wall-clock times of each run, and the CPU time of all runs together (Linux), which the
/// other jobs on a shared machine disturb much less than the wall clock.
fn measure(mut f: impl FnMut()) -> (Vec<Duration>, Option<f64>) {
    f(); // warm-up
    let cpu_start = cpu_ms();
    let times = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    let cpu = cpu_start.zip(cpu_ms()).map(|(a, b)| (b - a) / RUNS as f64);
    (times, cpu)
}

/// User and system CPU time of this thread so far, in milliseconds, from
/// `/proc/thread-self/stat` (fields 14 and 15, in clock ticks of 10 ms on Linux).
fn cpu_ms() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    // The command name (field 2) may hold spaces; count fields after its closing parenthesis.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let ticks = |i: usize| fields.get(i - 3)?.parse::<f64>().ok();
    Some((ticks(14)? + ticks(15)?) * 10.0)
}

fn report(what: &str, bytes: usize, (mut times, cpu): (Vec<Duration>, Option<f64>)) {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{what}, 2000 purposes ({} KiB): median {:.1} ms, min {:.1} ms, max {:.1} ms over {} runs{}",
        bytes / 1024,
        ms(times[times.len() / 2]),
        ms(times[0]),
        ms(times[times.len() - 1]),
        times.len(),
        cpu.map(|c| format!("; CPU {c:.1} ms a run"))
            .unwrap_or_default()
    );
}
