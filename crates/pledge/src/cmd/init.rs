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
    /// Also write the Chinook music store's sample database (SQLite) to this file: the
    /// data `examples/chinook` describes, for trying requests (the README's tour).
    #[arg(long, value_name = "FILE")]
    sample_db: Option<PathBuf>,
}

/// The Chinook sample database (its licence is beside the file in the repository).
const CHINOOK_SQL: &str =
    include_str!("../../../pledge-connect/tests/fixtures/chinook/chinook_sqlite.sql");

/// A fresh Chinook database in a SQLite file (`sqlite:PATH`).
pub async fn build_chinook(url: &str) -> Result<()> {
    let mut db = pledge_connect::Database::connect(None, &format!("{url}?mode=rwc"))
        .await
        .context("cannot create the sample database")?;
    db.batch(&format!("BEGIN;\n{CHINOOK_SQL}\nCOMMIT;"))
        .await
        .context("cannot load the Chinook data")?;
    db.close().await;
    Ok(())
}

pub fn run(args: Args) -> Result<ExitCode> {
    if args.path.exists() && !args.force {
        bail!(
            "{} already exists (use --force to overwrite it)",
            args.path.display()
        );
    }
    if let Some(db) = &args.sample_db {
        if db.exists() && !args.force {
            bail!(
                "{} already exists (use --force to overwrite it)",
                db.display()
            );
        }
        if db.exists() {
            std::fs::remove_file(db).with_context(|| format!("cannot replace {}", db.display()))?;
        }
        super::runtime()?.block_on(build_chinook(&format!("sqlite:{}", db.display())))?;
        eprintln!(
            "wrote {}: the Chinook sample database (try CHINOOK_DATABASE_URL=sqlite:{} with examples/chinook)",
            db.display(),
            db.display()
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
