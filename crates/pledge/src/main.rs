//! The `pledge` binary: glue between the command line, the files and the core.

mod clock;
mod cmd;
mod input;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "pledge",
    version,
    about = "Privacy as code: declare processing once, lint it against the law, run what it promises."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Validate a declaration and lint it against GDPR, ePrivacy and CCPA.
    Check(cmd::check::Args),
    /// Print the JSON Schema of the declaration format.
    Schema(cmd::schema::Args),
    /// Write a commented starting declaration.
    Init(cmd::init::Args),
    /// List the built-in data categories.
    Categories(cmd::categories::Args),
    /// Run a rights request (access, portability, erase, rectify, restrict) against the
    /// declared datasets.
    Request(cmd::request::Args),
    /// Show whose data is where: which subject owns each table of the live databases, which
    /// references only mention a person, and what each request would do.
    Map(cmd::map::Args),
    /// Delete or anonymise the rows whose retention period has run out, in short batches.
    Retain(cmd::retain::Args),
    /// List the lint rules.
    Rules(cmd::rules::Args),
    /// Write the privacy notice (HTML, Markdown or JSON-LD), or compare two versions.
    Notice(cmd::notice::Args),
    /// Write the record of processing activities (GDPR Art. 30).
    Ropa(cmd::ropa::Args),
    /// Create, list and revoke the server's API keys.
    Keys(cmd::keys::Args),
    /// Add, list and disable the staff accounts of the console.
    Users(cmd::users::Args),
    /// Check the audit log's hash chain.
    Audit(cmd::audit::Args),
    /// Run the server: the rights-request API and its workers (--demo: a ready-to-try one).
    Serve(cmd::serve::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check(args) => cmd::check::run(args),
        Command::Schema(args) => cmd::schema::run(args),
        Command::Init(args) => cmd::init::run(args),
        Command::Categories(args) => cmd::categories::run(args),
        Command::Rules(args) => cmd::rules::run(args),
        Command::Request(args) => cmd::request::run(args),
        Command::Map(args) => cmd::map::run(args),
        Command::Retain(args) => cmd::retain::run(args),
        Command::Notice(args) => cmd::notice::run(args),
        Command::Ropa(args) => cmd::ropa::run(args),
        Command::Keys(args) => cmd::keys::run(args),
        Command::Users(args) => cmd::users::run(args),
        Command::Audit(args) => cmd::audit::run(args),
        Command::Serve(args) => cmd::serve::run(args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            // A closed pipe (`pledge schema | head`) is not a failure.
            if error
                .downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            {
                return ExitCode::SUCCESS;
            }
            anstream::eprintln!("error: {error:#}");
            cmd::exit_invalid()
        }
    }
}
