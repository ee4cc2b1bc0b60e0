//! `pledge rules`: the lint rules with their legal sources.

use anyhow::Result;
use pledge_law::lint::{live_rules, rules};
use std::io::Write;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Print one rule in full.
    rule: Option<String>,
    /// Print the reference of every rule as Markdown (docs/rules.md is generated this way).
    #[arg(long, conflicts_with = "rule")]
    markdown: bool,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    if args.markdown {
        out.write_all(pledge_law::lint::markdown_reference().as_bytes())?;
        return Ok(ExitCode::SUCCESS);
    }
    match args.rule {
        Some(id) => {
            let Some(r) = pledge_law::lint::rule(&id) else {
                match pledge_law::lint::similar_rule(&id) {
                    Some(near) => anyhow::bail!("no rule `{id}`: did you mean `{near}`?"),
                    None => anyhow::bail!("no rule `{id}` (`pledge rules` lists them)"),
                }
            };
            writeln!(
                out,
                "{} ({})\n{}\nLaw: {}\n\n{}",
                r.id,
                r.severity.as_str(),
                r.title,
                r.source,
                r.explanation
            )?;
        }
        None => {
            let all = || rules().iter().chain(live_rules());
            let width = all().map(|r| r.id.len()).max().unwrap_or(0);
            for r in all() {
                writeln!(
                    out,
                    "{:width$}  {:7}  {}  ({})",
                    r.id,
                    r.severity.as_str(),
                    r.title,
                    r.source
                )?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
