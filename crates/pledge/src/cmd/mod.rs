//! One module per subcommand. Each has `Args` (clap) and `run(args) -> anyhow::Result<ExitCode>`.

pub mod audit;
pub mod categories;
pub mod check;
pub mod init;
pub mod keys;
pub mod notice;
pub mod request;
pub mod retain;
pub mod ropa;
pub mod rules;
pub mod schema;
pub mod serve;
pub mod store;

use std::process::ExitCode;

/// Nothing at or above the threshold.
pub const EXIT_OK: ExitCode = ExitCode::SUCCESS;
/// Findings at or above the `--deny` threshold.
pub const EXIT_FINDINGS: ExitCode = ExitCode::FAILURE;

/// The input could not be read or is not a valid declaration.
pub fn exit_invalid() -> ExitCode {
    ExitCode::from(2)
}
