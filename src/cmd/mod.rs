//! Subcommands: each module resolves its options and wires the stages together.

use std::process::ExitCode;

/// Entry point used by `main`: parses arguments, runs, maps errors to exit codes.
pub fn main() -> ExitCode {
    ExitCode::SUCCESS
}
