//! `pledge init`: a commented starting declaration.

use anyhow::{Context, Result, bail};
use std::path::PathBuf;
use std::process::ExitCode;

/// The starting declaration. It checks clean of errors; its comments explain every section.
pub const TEMPLATE: &str = include_str!("../../templates/init.toml");

#[derive(clap::Args)]
pub struct Args {
    /// Where to write it.
    #[arg(default_value = "pledge.toml")]
    path: PathBuf,
    /// Overwrite an existing file.
    #[arg(long)]
    force: bool,
}

pub fn run(args: Args) -> Result<ExitCode> {
    if args.path.exists() && !args.force {
        bail!(
            "{} already exists (use --force to overwrite it)",
            args.path.display()
        );
    }
    std::fs::write(&args.path, TEMPLATE)
        .with_context(|| format!("cannot write {}", args.path.display()))?;
    eprintln!(
        "wrote {}; edit it, then run `pledge check {}`",
        args.path.display(),
        args.path.display()
    );
    Ok(ExitCode::SUCCESS)
}
