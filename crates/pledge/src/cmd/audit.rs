//! `pledge audit`: prove the audit log's hash chain intact.

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
    /// Walk the whole chain: exit 0 when intact, 1 naming the first broken record.
    Verify {
        #[command(flatten)]
        store: StoreArg,
    },
}

pub fn run(args: Args) -> Result<ExitCode> {
    match args.action {
        Action::Verify { store } => with_store(&store, async |s| {
            let v = s.verify_audit().await?;
            match v.first_broken {
                None => {
                    anstream::println!("audit log intact: {} records, head {}", v.records, v.head);
                    Ok(ExitCode::SUCCESS)
                }
                Some(b) => {
                    anstream::println!(
                        "audit log BROKEN at record {}: {} ({} records before it are intact)",
                        b.seq,
                        b.reason,
                        v.records
                    );
                    Ok(ExitCode::FAILURE)
                }
            }
        }),
    }
}
