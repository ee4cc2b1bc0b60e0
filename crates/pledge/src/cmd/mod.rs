//! One module per subcommand. Each has `Args` (clap) and `run(args) -> anyhow::Result<ExitCode>`.

pub mod audit;
pub mod categories;
pub mod check;
pub mod init;
pub mod keys;
pub mod map;
pub mod notice;
pub mod request;
pub mod retain;
pub mod ropa;
pub mod rules;
pub mod schema;
pub mod serve;
mod serve_config;
pub mod store;
pub mod users;

use std::process::ExitCode;

/// Nothing at or above the threshold.
pub const EXIT_OK: ExitCode = ExitCode::SUCCESS;
/// Findings at or above the `--deny` threshold.
pub const EXIT_FINDINGS: ExitCode = ExitCode::FAILURE;

/// The input could not be read or is not a valid declaration.
pub fn exit_invalid() -> ExitCode {
    ExitCode::from(2)
}

/// The format of a command's report.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum ReportFormat {
    Human,
    Json,
}

/// The async runtime of one command: one thread, as the work is I/O-bound and sequential.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    use anyhow::Context;
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// A progress bar on a terminal (none when stderr is not one), drawn with `template`.
pub fn progress_bar(len: u64, template: &str) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(len);
    if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    Some(bar)
}
