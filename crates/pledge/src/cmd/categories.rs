//! `pledge categories`: the built-in data category taxonomy.

use anyhow::Result;
use pledge_lang::taxonomy::{BUILTIN, dpv_iri};
use std::io::Write;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {}

pub fn run(_: Args) -> Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    let width = BUILTIN.iter().map(|c| c.id.len()).max().unwrap_or(0);
    for c in BUILTIN {
        let mut flags = Vec::new();
        if c.sensitivity.special {
            flags.push("Art. 9");
        }
        if c.sensitivity.criminal {
            flags.push("Art. 10");
        }
        if c.sensitivity.ccpa_sensitive {
            flags.push("CCPA sensitive");
        }
        let flags = if flags.is_empty() {
            String::new()
        } else {
            format!(" [{}]", flags.join(", "))
        };
        writeln!(
            out,
            "{:width$}  {}{}  <{}>",
            c.id,
            c.label,
            flags,
            dpv_iri(c.dpv)
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
