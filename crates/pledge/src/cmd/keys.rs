//! `pledge keys`: create, list and revoke the server's API keys.

use super::store::{StoreArg, with_store};
use crate::clock::now_unix;
use anyhow::{Result, anyhow};
use clap::Subcommand;
use pledge_store::Role;
use std::io::Write;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Subcommand)]
enum Action {
    /// Create a key and print it once: only its SHA-256 hash is stored.
    Create {
        /// admin, privacy_officer, support_agent, service or metrics.
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// A note on whom or what the key is for.
        #[arg(long)]
        label: Option<String>,
        #[command(flatten)]
        store: StoreArg,
    },
    /// List the keys (never the keys themselves).
    List {
        #[command(flatten)]
        store: StoreArg,
    },
    /// Revoke a key by its id; it stops working at once.
    Revoke {
        /// The key's id (key_...), as `pledge keys list` shows it.
        id: String,
        #[command(flatten)]
        store: StoreArg,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse()
}

pub fn run(args: Args) -> Result<ExitCode> {
    match args.action {
        Action::Create { role, label, store } => with_store(&store, async |s| {
            let (key, secret) = s
                .create_key(role, label.as_deref(), "cli", now_unix())
                .await?;
            let mut out = anstream::stdout();
            writeln!(out, "{secret}")?;
            anstream::eprintln!(
                "created {} ({}); the key above is shown only this once",
                key.id,
                key.role.as_str()
            );
            Ok(ExitCode::SUCCESS)
        }),
        Action::List { store } => with_store(&store, async |s| {
            let mut out = anstream::stdout();
            for k in s.list_keys().await? {
                writeln!(
                    out,
                    "{:<16} {:<16} {:<8} {}",
                    k.id,
                    k.role.as_str(),
                    if k.revoked_at.is_some() {
                        "revoked"
                    } else {
                        "active"
                    },
                    k.label.unwrap_or_default()
                )?;
            }
            Ok(ExitCode::SUCCESS)
        }),
        Action::Revoke { id, store } => with_store(&store, async |s| {
            let key = s
                .revoke_key(&id, "cli", now_unix())
                .await
                .map_err(|e| anyhow!(e))?;
            anstream::println!("revoked {} ({})", key.id, key.role.as_str());
            Ok(ExitCode::SUCCESS)
        }),
    }
}
