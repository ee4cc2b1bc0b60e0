//! `pledge check`: validate, then lint.

use super::{EXIT_FINDINGS, EXIT_OK, exit_invalid};
use crate::input;
use anyhow::Result;
use clap::ValueEnum;
use pledge_lang::{Diagnostic, Severity};
use pledge_law::{lint, report};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// The declaration: a file, or a folder whose files are merged. Default: pledge.toml.
    path: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
    /// Exit with status 1 when a finding reaches this severity.
    #[arg(long, value_enum, default_value_t = Level::Error)]
    deny: Level,
    /// Leave out findings of this rule (repeatable), e.g. --allow dpia-likely.
    #[arg(long, value_name = "RULE")]
    allow: Vec<String>,
    /// Leave out findings below this severity.
    #[arg(long, value_enum, default_value_t = Level::Info)]
    min: Level,
    /// Also check the declaration against each dataset's live database (its connection
    /// variable must be set): every table's owner, the settings that cannot take effect,
    /// and whether an access and an erasure of every subject can be planned (`pledge map`
    /// shows the same in full).
    #[arg(long)]
    live: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Human,
    Json,
    Sarif,
}

#[derive(Clone, Copy, ValueEnum)]
enum Level {
    Info,
    Warning,
    Error,
}

impl From<Level> for Severity {
    fn from(l: Level) -> Severity {
        match l {
            Level::Info => Severity::Info,
            Level::Warning => Severity::Warning,
            Level::Error => Severity::Error,
        }
    }
}

pub fn run(args: Args) -> Result<ExitCode> {
    for rule in &args.allow {
        if lint::rule(rule).is_none() {
            match lint::similar_rule(rule) {
                Some(near) => anyhow::bail!("--allow {rule}: no such rule; did you mean `{near}`?"),
                None => anyhow::bail!("--allow {rule}: no such rule (`pledge rules` lists them)"),
            }
        }
    }
    let path = input::declaration_path(args.path);
    let (sources, diagnostics, invalid) = match input::load_or_report(&path)? {
        Ok((sources, decl)) => {
            let mut all = lint::lint(&decl);
            if args.live {
                let maps = super::runtime()?.block_on(super::map::maps(&decl, None))?;
                all.extend(lint::live_findings(&maps));
            }
            let findings: Vec<Diagnostic> = all
                .iter()
                .filter(|f| !args.allow.iter().any(|a| a == f.rule))
                .filter(|f| f.severity >= args.min.into())
                .map(lint::Finding::to_diagnostic)
                .collect();
            (sources, findings, false)
        }
        Err((sources, errors)) => (sources, errors, true),
    };
    let text = match args.format {
        Format::Human => report::human(&diagnostics, &sources, true),
        Format::Json => report::json(&diagnostics, &sources),
        Format::Sarif => report::sarif(&diagnostics, &sources, env!("CARGO_PKG_VERSION")),
    };
    // anstream strips the colours when stdout is not a terminal or NO_COLOR is set.
    let mut out = anstream::stdout();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    let deny: Severity = args.deny.into();
    Ok(if invalid {
        exit_invalid()
    } else if diagnostics.iter().any(|d| d.severity >= deny) {
        EXIT_FINDINGS
    } else {
        EXIT_OK
    })
}
