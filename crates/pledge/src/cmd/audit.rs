//! `pledge audit`: prove the hash chains of the audit log and the consent ledger intact.

use super::store::{StoreArg, with_store};
use anyhow::Result;
use clap::Subcommand;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Subcommand)]
enum Action {
    /// Walk both chains (audit log, consent ledger): exit 0 when intact, 1 naming the first
    /// broken record.
    Verify {
        #[command(flatten)]
        store: StoreArg,
    },
}

pub fn run(args: Args) -> Result<ExitCode> {
    match args.action {
        Action::Verify { store } => with_store(&store, async |s| {
            let audit = s.verify_audit().await?;
            let consent = s.verify_consent().await?;
            let mut intact = true;
            for (name, unit, v) in [
                ("audit log", "records", &audit),
                ("consent ledger", "events", &consent),
            ] {
                match &v.first_broken {
                    None => {
                        anstream::println!("{name} intact: {} {unit}, head {}", v.records, v.head);
                    }
                    Some(b) => {
                        intact = false;
                        anstream::println!(
                            "{name} BROKEN at {} {}: {} ({} {unit} before it are intact)",
                            unit.trim_end_matches('s'),
                            b.seq,
                            b.reason,
                            v.records
                        );
                    }
                }
            }
            Ok(if intact {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }),
    }
}
