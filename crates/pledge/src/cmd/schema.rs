//! `pledge schema`: the JSON Schema of the declaration, for editors.

use anyhow::Result;
use std::io::Write;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {}

pub fn run(_: Args) -> Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    out.write_all(pledge_lang::schema::json_schema().as_bytes())?;
    Ok(ExitCode::SUCCESS)
}
