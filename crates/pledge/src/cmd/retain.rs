//! `pledge retain`: delete or anonymise the rows whose retention period has run out, in
//! bounded batches, with a report per table.

use super::ReportFormat;
use crate::input;
use anyhow::{Context, Result, bail};
use pledge_connect::{BatchOptions, DatasetSweep, action_name};
use pledge_lang::Declaration;
use pledge_lang::model::Dataset;
use pledge_lang::time::CivilTime;
use pledge_law::report;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct Args {
    /// The declaration (file or folder). Default: pledge.toml.
    path: Option<PathBuf>,
    /// Count what would be deleted and anonymised, then roll back: nothing changes.
    #[arg(long)]
    dry_run: bool,
    /// Only this table.
    #[arg(long, value_name = "T")]
    table: Option<String>,
    /// Only this dataset.
    #[arg(long, value_name = "ID")]
    dataset: Option<String>,
    /// Rows per batch; each batch is one short transaction.
    #[arg(long, value_name = "N", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    batch_size: u64,
    /// Output format of the report.
    #[arg(long, value_enum, default_value_t = ReportFormat::Human)]
    format: ReportFormat,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let runtime = super::runtime()?;
    runtime.block_on(retain(args))
}

async fn retain(args: Args) -> Result<ExitCode> {
    let started = Instant::now();
    let path = input::declaration_path(args.path.clone());
    let (sources, decl) = match input::load_or_report(&path)? {
        Ok(loaded) => loaded,
        Err((sources, errors)) => {
            anstream::eprint!("{}", report::human(&errors, &sources, true));
            return Ok(super::exit_invalid());
        }
    };
    drop(sources);
    let datasets = pledge_connect::datasets_with_retention(
        &decl,
        args.dataset.as_deref(),
        args.table.as_deref(),
    );
    if datasets.is_empty() {
        bail!(match (&args.dataset, &args.table) {
            (_, Some(t)) => format!("no dataset declares a table `{t}` with a retention"),
            (Some(id), None) => format!("the declaration has no dataset `{id}` with a retention"),
            (None, None) => "no table of the declaration has a retention: add `retention = { column, period }` to the tables whose rows expire".into(),
        });
    }
    // Ctrl-C stops the run between two batches; what is committed stays, and the next run
    // goes on from there.
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                stop.store(true, Ordering::SeqCst);
            }
        });
    }
    let now = crate::clock::now();
    let mut results = Vec::new();
    for dataset in datasets {
        let result = run_dataset(&decl, dataset, now, &args, &stop)
            .await
            .with_context(|| format!("dataset `{}`", dataset.id.value))?;
        let stopped = result.outcome.stopped;
        results.push(result);
        if stopped {
            break;
        }
    }
    print_report(&args, &results, started.elapsed())?;
    let stopped = results.iter().any(|r| r.outcome.stopped);
    Ok(if stopped {
        // 130: ended by SIGINT, as shells report it.
        ExitCode::from(130)
    } else {
        ExitCode::SUCCESS
    })
}

async fn run_dataset(
    decl: &Declaration,
    dataset: &Dataset,
    now: CivilTime,
    args: &Args,
    stop: &AtomicBool,
) -> Result<DatasetSweep> {
    let url = pledge_connect::dataset_url(dataset)?;
    let bar = super::progress_bar(
        0,
        "{msg:20} {bar:40} {pos}/{len} rows {elapsed} (Ctrl-C stops after the current batch)",
    );
    let progress = |table: &str, done: u64, total: Option<u64>| {
        if let Some(bar) = &bar {
            if done == 0 {
                bar.set_message(table.to_string());
                bar.set_position(0);
                bar.set_length(total.unwrap_or(0));
            } else {
                bar.set_position(done);
            }
        }
    };
    let should_stop = || stop.load(Ordering::SeqCst);
    let options = BatchOptions {
        batch_size: args.batch_size,
        dry_run: args.dry_run,
        count_first: bar.is_some(),
        stop: &should_stop,
        progress: &progress,
        on_batch: None,
    };
    let swept =
        pledge_connect::sweep_dataset(decl, dataset, &url, now, args.table.as_deref(), &options)
            .await;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    Ok(swept?)
}

fn print_report(args: &Args, results: &[DatasetSweep], took: Duration) -> Result<()> {
    let mut out = anstream::stdout();
    if let ReportFormat::Json = args.format {
        let doc = serde_json::json!({
            "dry_run": args.dry_run,
            "batch_size": args.batch_size,
            "datasets": results.iter().map(DatasetSweep::report).collect::<Vec<_>>(),
            "milliseconds": took.as_millis(),
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
        return Ok(());
    }
    let bold = anstyle::Style::new().bold();
    for r in results {
        let header = match (args.dry_run, r.outcome.stopped) {
            (true, _) => "dry run: rolled back, nothing changed",
            (false, true) => "stopped: the batches done are committed; run again to finish",
            (false, false) => "done",
        };
        writeln!(
            out,
            "{bold}dataset {}{bold:#} (now {}): {header}",
            r.dataset, r.plan.now
        )?;
        for (s, o) in r.plan.sweeps.iter().zip(&r.outcome.sweeps) {
            writeln!(
                out,
                "  {bold}{}{bold:#}: {} after {} of `{}` (before {})",
                s.table,
                action_name(s.action),
                s.period,
                s.column,
                s.cutoff
            )?;
            writeln!(
                out,
                "    examined {:>8}   deleted {:>8}   anonymised {:>8}   in {} batch{}{}",
                o.examined,
                o.deleted,
                o.anonymised,
                o.batches,
                if o.batches == 1 { "" } else { "es" },
                if o.complete { "" } else { " (stopped)" }
            )?;
            for (t, n) in &o.deleted_along {
                writeln!(
                    out,
                    "    deleted along {n:>8}   rows of `{t}` that belonged to them"
                )?;
            }
            for (why, n) in &o.held {
                writeln!(out, "    held back {n:>8}   {why}")?;
            }
            if o.kept > 0 {
                writeln!(
                    out,
                    "    kept {:>8}        still referred to by rows that stay, with nothing left to anonymise",
                    o.kept
                )?;
            }
            writeln!(out, "    why: {}", s.reason)?;
        }
        if r.plan.sweeps.len() > r.outcome.sweeps.len() {
            writeln!(
                out,
                "  not reached: {}",
                r.plan.sweeps[r.outcome.sweeps.len()..]
                    .iter()
                    .map(|s| s.table.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )?;
        }
        for note in &r.plan.notes {
            writeln!(out, "  note: {note}")?;
        }
    }
    writeln!(out, "retention finished in {} ms", took.as_millis())?;
    Ok(())
}
