//! The `failscan` binary: parse arguments, run the subcommand, print an error once.

use std::process::ExitCode;

fn main() -> ExitCode {
    failscan::cmd::main()
}
