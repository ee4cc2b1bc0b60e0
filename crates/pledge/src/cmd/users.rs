//! `pledge users`: add, list and disable the staff accounts that sign in to the console.

use super::store::{StoreArg, with_store};
use crate::clock::now_unix;
use anyhow::{Context, Result, anyhow, bail};
use clap::Subcommand;
use pledge_store::Role;
use pledge_store::staff::{MIN_PASSWORD, NewStaff};
use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Subcommand)]
enum Action {
    /// Add an account. The password is asked for without echo, or read from the first line
    /// of standard input with --password-stdin; only its Argon2id hash is stored.
    Add {
        /// The address the person signs in with.
        #[arg(long)]
        email: String,
        /// The name the console shows.
        #[arg(long)]
        name: String,
        /// admin, privacy_officer or support_agent.
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        store: StoreArg,
    },
    /// List the accounts (never their passwords).
    List {
        #[command(flatten)]
        store: StoreArg,
    },
    /// Disable an account: it can no longer sign in, and its sessions end at once.
    Disable {
        #[arg(long)]
        email: String,
        #[command(flatten)]
        store: StoreArg,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    match s.parse()? {
        r @ (Role::Admin | Role::PrivacyOfficer | Role::SupportAgent) => Ok(r),
        _ => Err(format!(
            "`{s}` is a role for API keys only: a staff account is admin, privacy_officer or support_agent"
        )),
    }
}

/// The new account's password: the first line of standard input, or typed twice at the
/// terminal without echo.
fn read_password(from_stdin: bool) -> Result<String> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from standard input")?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_string());
    }
    if !std::io::stdin().is_terminal() {
        bail!(
            "no terminal to ask for the password: pass it on standard input with --password-stdin"
        );
    }
    let first =
        rpassword::prompt_password(format!("Password (at least {MIN_PASSWORD} characters): "))
            .context("cannot read the password")?;
    let again = rpassword::prompt_password("The same password again: ")
        .context("cannot read the password")?;
    if first != again {
        bail!("the two passwords differ; nothing was changed");
    }
    Ok(first)
}

pub fn run(args: Args) -> Result<ExitCode> {
    match args.action {
        Action::Add {
            email,
            name,
            role,
            password_stdin,
            store,
        } => {
            let password = read_password(password_stdin)?;
            with_store(&store, async |s| {
                let account = s
                    .create_staff(
                        NewStaff {
                            email: &email,
                            name: &name,
                            role,
                            password: &password,
                        },
                        "cli",
                        now_unix(),
                    )
                    .await
                    .map_err(|e| anyhow!(e))?;
                anstream::println!(
                    "added {} <{}> ({})",
                    account.id,
                    account.email,
                    account.role.as_str()
                );
                Ok(ExitCode::SUCCESS)
            })
        }
        Action::List { store } => with_store(&store, async |s| {
            let now = now_unix();
            let mut out = anstream::stdout();
            for a in s.list_staff().await? {
                let status = if a.disabled_at.is_some() {
                    "disabled"
                } else if a.locked_until.is_some_and(|t| t > now) {
                    "locked"
                } else {
                    "active"
                };
                writeln!(
                    out,
                    "{:<18} {:<32} {:<16} {:<9} {}",
                    a.id,
                    a.email,
                    a.role.as_str(),
                    status,
                    a.name
                )?;
            }
            Ok(ExitCode::SUCCESS)
        }),
        Action::Disable { email, store } => with_store(&store, async |s| {
            let account = s
                .disable_staff(&email, "cli", now_unix())
                .await
                .map_err(|e| anyhow!(e))?;
            anstream::println!("disabled {} <{}>", account.id, account.email);
            Ok(ExitCode::SUCCESS)
        }),
    }
}
