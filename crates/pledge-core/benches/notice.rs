//! Rendering the privacy notice of a generated declaration of 2,000 purposes, in each format,
//! and its record of processing. Goal (issue "Generated documents"): the HTML notice under
//! 200 ms.
//!
//! Run: `cargo bench -p pledge-core --bench notice`

mod common;

use pledge_core::notice::{self, Format, Options};
use pledge_core::ropa;
use pledge_core::types::Date;
use pledge_core::{SourceMap, load};
use std::time::{Duration, Instant};

const RUNS: usize = 15;

fn main() {
    let text = common::generate::declaration(2_000, 0);
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

fn measure(mut f: impl FnMut()) -> Vec<Duration> {
    f(); // warm-up
    (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect()
}

fn report(what: &str, bytes: usize, mut times: Vec<Duration>) {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{what}, 2000 purposes ({} KiB): median {:.1} ms, min {:.1} ms, max {:.1} ms over {} runs",
        bytes / 1024,
        ms(times[times.len() / 2]),
        ms(times[0]),
        ms(times[times.len() - 1]),
        times.len()
    );
}
