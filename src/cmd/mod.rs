//! Subcommands: each module resolves its options into a validated configuration and wires
//! the stages together. `main` lives here so that the binary stays a one-liner, with the
//! option parsers that more than one subcommand uses (`--timezone`, `--now`/`--at`).

use std::io::{self, Write};
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;

use crate::cli::{Cli, Command};

pub mod bans;
pub mod regex;
pub mod scan;

/// Exit codes, in one place. fail2ban-regex exits 255 on any error; `regex` keeps that so
/// scripts written for it keep working, the other subcommands use 2 for errors and 1 for a
/// run that completed with some inputs missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Success,
    /// The run completed but some inputs could not be read completely.
    Partial,
    /// Bad arguments, configuration or input: nothing useful was produced.
    Error,
    /// fail2ban-regex's error code, used by `regex`.
    F2bError,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(match e {
            Exit::Success => 0,
            Exit::Partial => 1,
            Exit::Error => 2,
            Exit::F2bError => 255,
        })
    }
}

/// Entry point used by `main`: parses arguments, runs, prints an error once, maps exit codes.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                Exit::Error
            } else {
                Exit::Success
            };
            let _ = e.print();
            return code.into();
        }
    };
    let (result, on_error) = match cli.command {
        Command::Regex(args) => (regex::run(args), Exit::F2bError),
        Command::Scan(args) => (scan::run(args), Exit::Error),
        Command::Bans(args) => (bans::run(args), Exit::Error),
    };
    match result {
        Ok(code) => code.into(),
        Err(err) => {
            if is_broken_pipe(&err) {
                return Exit::Success.into();
            }
            let _ = io::stdout().flush();
            eprintln!("failscan: error: {err:#}");
            on_error.into()
        }
    }
}

/// A closed pipe (`failscan ... | head`) is not an error.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// `--timezone` as a UTC offset in seconds; the error names the option and the value.
pub fn timezone_arg(tz: Option<&str>) -> anyhow::Result<Option<i32>> {
    tz.map(|z| crate::date::parse_timezone(z).with_context(|| format!("--timezone {z}")))
        .transpose()
}

/// The wall clock in epoch seconds.
pub fn wall_clock() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Parses epoch seconds or an RFC 3339 timestamp.
pub fn parse_instant(s: &str) -> anyhow::Result<i64> {
    if let Ok(n) = s.trim().parse::<f64>() {
        return Ok(n.floor() as i64);
    }
    let dt = chrono::DateTime::parse_from_rfc3339(s.trim())
        .with_context(|| format!("'{s}' is neither epoch seconds nor an RFC 3339 time"))?;
    Ok(dt.timestamp())
}
