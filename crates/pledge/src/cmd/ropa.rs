//! `pledge ropa`: the record of processing activities (GDPR Art. 30) as CSV, JSON, HTML or an
//! Excel workbook.

use super::notice::{load, read_templates, write_output};
use super::{EXIT_OK, exit_invalid};
use crate::clock::today;
use crate::input;
use anyhow::{Result, bail};
use clap::ValueEnum;
use pledge_docs::notice::{DEFAULT_LANG, Templates};
use pledge_docs::ropa;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// The declaration: a file, or a folder whose files are merged. Default: pledge.toml.
    path: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Csv)]
    format: Format,
    /// Write to this file instead of standard output (required for xlsx on a terminal).
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// A folder with a ropa.html replacing the built-in one (directly or under the language).
    #[arg(long, value_name = "DIR")]
    templates: Option<PathBuf>,
    /// Language of the HTML record. English is built in; others need --templates.
    #[arg(long, default_value = DEFAULT_LANG)]
    lang: String,
    /// The date the record is kept as of (YYYY-MM-DD). Default: today.
    #[arg(long, value_name = "DATE")]
    date: Option<String>,
    /// Refuse to write the record while `pledge check` reports errors.
    #[arg(long)]
    strict: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Csv,
    Json,
    Html,
    /// An Excel workbook (Office Open XML).
    Xlsx,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let format = match args.format {
        Format::Csv => ropa::Format::Csv,
        Format::Json => ropa::Format::Json,
        Format::Html => ropa::Format::Html,
        Format::Xlsx => ropa::Format::Xlsx,
    };
    if format == ropa::Format::Xlsx && args.output.is_none() && std::io::stdout().is_terminal() {
        bail!(
            "an xlsx workbook is binary: write it to a file with -o record.xlsx, or redirect the output"
        );
    }
    let path = input::declaration_path(args.path);
    let Some(decl) = load(&path, args.strict)? else {
        return Ok(exit_invalid());
    };
    let templates = match &args.templates {
        Some(dir) => read_templates(dir, &args.lang)?,
        None => Templates::builtin(),
    };
    let date = match &args.date {
        Some(text) => text.parse().map_err(|e| anyhow::anyhow!("--date: {e}"))?,
        None => today(),
    };
    let record = ropa::build(&decl, Some(date));
    let bytes = ropa::render(&record, format, &templates, &args.lang)?;
    write_output(args.output.as_deref(), &bytes)?;
    if let Some(out) = &args.output {
        eprintln!(
            "wrote {} ({} processing activities)",
            out.display(),
            record.activities.len()
        );
    }
    Ok(EXIT_OK)
}
