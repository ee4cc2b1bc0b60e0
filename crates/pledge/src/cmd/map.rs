//! `pledge map`: read each dataset's live schema and show, before anything runs, whose rows
//! each table holds, which references only mention a person, what an access and an erasure
//! of each subject would do, and every ambiguity or setting that cannot take effect.

use crate::input;
use anyhow::{Context, Result, bail};
use clap::ValueEnum;
use pledge_connect::Database;
use pledge_lang::Declaration;
use pledge_lang::model::Dataset;
use pledge_law::report;
use pledge_plan::map::{self, DatasetMap};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// The declaration (file or folder). Default: pledge.toml.
    path: Option<PathBuf>,
    /// Output format: text for a terminal, JSON for programs, Graphviz DOT, or one HTML
    /// page with a picture of the graph.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
    /// Only this dataset.
    #[arg(long, value_name = "ID")]
    dataset: Option<String>,
    /// Write to this file instead of standard output.
    #[arg(long = "output", alias = "out", short = 'o', value_name = "FILE")]
    out: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Human,
    Json,
    Dot,
    Html,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let path = input::declaration_path(args.path.clone());
    let (sources, decl) = match input::load_or_report(&path)? {
        Ok(loaded) => loaded,
        Err((sources, errors)) => {
            anstream::eprint!("{}", report::human(&errors, &sources, true));
            return Ok(super::exit_invalid());
        }
    };
    drop(sources);
    let runtime = super::runtime()?;
    let maps = runtime.block_on(maps(&decl, args.dataset.as_deref()))?;
    let text = match args.format {
        Format::Human => pledge_docs::map::human(&maps),
        Format::Json => serde_json::to_string_pretty(&maps)? + "\n",
        Format::Dot => pledge_docs::map::dot(&maps),
        Format::Html => pledge_docs::map::html(&maps),
    };
    match &args.out {
        Some(file) => std::fs::write(file, text)
            .with_context(|| format!("cannot write {}", file.display()))?,
        None => anstream::stdout().write_all(text.as_bytes())?,
    }
    Ok(ExitCode::SUCCESS)
}

/// The declared datasets (or the one named), each against its live schema.
pub async fn maps(decl: &Declaration, only: Option<&str>) -> Result<Vec<DatasetMap>> {
    let datasets: Vec<&Dataset> = decl
        .doc()
        .datasets
        .iter()
        .filter(|d| only.is_none_or(|id| d.id.as_str() == id))
        .collect();
    if datasets.is_empty() {
        bail!(match only {
            Some(id) => format!("the declaration has no dataset `{id}`"),
            None => "the declaration declares no datasets: add [[datasets]] with the tables that hold personal data".into(),
        });
    }
    let now = crate::clock::now();
    let mut maps = Vec::new();
    for dataset in datasets {
        let url = pledge_connect::dataset_url(dataset)
            .with_context(|| format!("dataset `{}`", dataset.id.value))?;
        let (db, schema) = Database::open_dataset(dataset, &url)
            .await
            .with_context(|| format!("dataset `{}`", dataset.id.value))?;
        db.close().await;
        maps.push(map::map(decl, dataset, &schema, now));
    }
    Ok(maps)
}
