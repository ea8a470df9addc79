//! The command-line grammar (clap derive): flags and help text only, no I/O.
//!
//! Each subcommand's arguments are resolved into a validated configuration by its module in
//! [`crate::cmd`]; nothing downstream of `cmd` sees clap types.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// failscan: audit Asterisk/fail2ban logs, validate failregexes, replay bans offline.
#[derive(Debug, Parser)]
#[command(name = "failscan", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Test a failregex or filter against a log, like fail2ban-regex (same options, same report).
    Regex(RegexArgs),
    /// Audit many plain or compressed logs with all selected filters in one parallel pass.
    Scan(ScanArgs),
    /// Replay fail2ban's jail timing over logs and write ban lists and ipset/nft files.
    Bans(BansArgs),
}

/// `failscan regex [OPTIONS] LOG REGEX [IGNOREREGEX]`: a drop-in for `fail2ban-regex`.
#[derive(Debug, Args)]
pub struct RegexArgs {
    /// Log file, or a literal log line (several lines separated by newlines).
    pub log: String,
    /// Filter name (`asterisk`, `sshd[mode=aggressive]`), filter file, or a literal failregex.
    pub regex: String,
    /// A literal ignoreregex, added to the filter's own.
    pub ignoreregex: Option<String>,

    /// Configuration directory.
    #[arg(short = 'c', long = "config", default_value = "/etc/fail2ban")]
    pub config: PathBuf,
    /// Custom date pattern (wins over the filter's datepattern).
    #[arg(short = 'd', long = "datepattern")]
    pub datepattern: Option<String>,
    /// Time zone for dates without one: `UTC`, `UTC+0200`, `-0130`, `CET`, ...
    #[arg(long = "timezone", alias = "TZ")]
    pub timezone: Option<String>,
    /// Log encoding (only UTF-8 is supported; invalid bytes become U+FFFD as in fail2ban).
    #[arg(short = 'e', long = "encoding", default_value = "UTF-8")]
    pub encoding: String,
    /// Raw hosts: do not resolve DNS names; a name becomes the ID as it is.
    #[arg(short = 'r', long = "raw")]
    pub raw: bool,
    /// How `<HOST>` is expanded and names are handled: yes, warn, no, raw.
    #[arg(long = "usedns")]
    pub usedns: Option<String>,
    /// Resolve DNS names found by `<HOST>` (off by default: failscan works offline and treats
    /// names as unresolvable, which is what fail2ban does without a network).
    #[arg(long = "resolve-dns")]
    pub resolve_dns: bool,
    /// Lines in the multi-line buffer (wins over the filter's maxlines).
    #[arg(short = 'L', long = "maxlines", default_value_t = 0)]
    pub maxlines: usize,
    /// Accepted for compatibility; failscan has no fail2ban logger output.
    #[arg(short = 'l', long = "log-level", default_value = "critical")]
    pub log_level: String,
    /// Increase verbosity (repeatable).
    #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Set the numerical verbosity level.
    #[arg(long = "verbosity")]
    pub verbosity: Option<u8>,
    /// Print date template weights and regexes.
    #[arg(long = "verbose-date", alias = "VD")]
    pub verbose_date: bool,
    /// Stop at the first matching failregex on each line.
    #[arg(long = "no-check-all")]
    pub no_check_all: bool,
    /// Print only failures, one per line: id, ip, msg, row, a group name, or a `<tag>` template.
    #[arg(short = 'o', long = "out")]
    pub out: Option<String>,
    #[arg(long = "print-no-missed")]
    pub print_no_missed: bool,
    #[arg(long = "print-no-ignored")]
    pub print_no_ignored: bool,
    #[arg(long = "print-all-matched")]
    pub print_all_matched: bool,
    #[arg(long = "print-all-missed")]
    pub print_all_missed: bool,
    #[arg(long = "print-all-ignored")]
    pub print_all_ignored: bool,
    /// Print the report as one JSON object instead of fail2ban-regex's text.
    #[arg(long = "json")]
    pub json: bool,
    /// The current time (epoch seconds or RFC 3339) used for year inference; default: the clock.
    #[arg(long = "now")]
    pub now: Option<String>,
}

/// Report formats of `scan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Csv,
    Json,
}

/// `failscan scan [OPTIONS] LOG...`
#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Log files or glob patterns; `-` reads standard input. Compressed files are detected.
    #[arg(required = true)]
    pub logs: Vec<String>,
    /// Configuration directory (filters are looked up in its filter.d).
    #[arg(short = 'c', long = "config", default_value = "/etc/fail2ban")]
    pub config: PathBuf,
    /// Filter name, filter file or literal failregex; repeatable. Default: asterisk.
    #[arg(short = 'f', long = "filter")]
    pub filters: Vec<String>,
    /// Report format.
    #[arg(long = "format", value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Show only the N most active IPs.
    #[arg(long = "top")]
    pub top: Option<usize>,
    /// Write per-regex, per-IP and per-event CSV files into this directory.
    #[arg(long = "output")]
    pub output: Option<PathBuf>,
    /// Worker threads (default: the number of CPUs).
    #[arg(short = 'j', long = "threads")]
    pub threads: Option<usize>,
    /// Chunk size in bytes for the parallel scan (the largest; chunks shrink towards the
    /// end of a file, down to 256 KB, so that the threads finish together).
    #[arg(long = "chunk-size", default_value_t = 4 << 20)]
    pub chunk_size: usize,
    /// Year for dates without one (default: inferred from file modification time).
    #[arg(long = "year")]
    pub year: Option<i32>,
    /// Custom date pattern for all filters.
    #[arg(short = 'd', long = "datepattern")]
    pub datepattern: Option<String>,
    /// Time zone for dates without one.
    #[arg(long = "timezone", alias = "TZ")]
    pub timezone: Option<String>,
    /// No progress bar.
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
}

/// `failscan bans [OPTIONS] [LOG...]`
#[derive(Debug, Args)]
pub struct BansArgs {
    /// Logs to replay; default: each jail's logpath.
    pub logs: Vec<String>,
    /// Configuration directory (jail.conf, jail.d, filter.d).
    #[arg(short = 'c', long = "config", default_value = "/etc/fail2ban")]
    pub config: PathBuf,
    /// Jails to replay (repeatable); default: the enabled jails.
    #[arg(long = "jail")]
    pub jails: Vec<String>,
    /// The instant for status and ipset output: epoch seconds or RFC 3339; default: last log line.
    #[arg(long = "at")]
    pub at: Option<String>,
    /// Write the ban history as CSV.
    #[arg(long = "csv")]
    pub csv: Option<PathBuf>,
    /// Write an `ipset restore` file of the bans active at `--at`.
    #[arg(long = "ipset")]
    pub ipset: Option<PathBuf>,
    /// Write an `nft -f` file of the bans active at `--at`.
    #[arg(long = "nft")]
    pub nft: Option<PathBuf>,
    /// Set name prefix (fail2ban's is `f2b-`; older setups used `fail2ban-`).
    #[arg(long = "set-prefix", default_value = "f2b-")]
    pub set_prefix: String,
    /// Entry timeouts in the ipset file: the remaining ban time, or 0 (permanent) like
    /// fail2ban's own actions, which delete entries themselves at unban.
    #[arg(long = "timeouts", value_enum, default_value_t = SetTimeouts::Remaining)]
    pub timeouts: SetTimeouts,
    /// Do not append `-exist` to the ipset lines (loading then fails on existing sets).
    #[arg(long = "no-exist")]
    pub no_exist: bool,
    /// Table of the nft file (family inet).
    #[arg(long = "nft-table", default_value = "f2b-failscan")]
    pub nft_table: String,
    /// Override maxretry for every replayed jail.
    #[arg(long = "maxretry", allow_negative_numbers = true)]
    pub maxretry: Option<i64>,
    /// Override findtime (fail2ban time syntax) for every replayed jail.
    #[arg(long = "findtime", allow_hyphen_values = true)]
    pub findtime: Option<String>,
    /// Override bantime (fail2ban time syntax, -1 = permanent) for every replayed jail.
    #[arg(long = "bantime", allow_hyphen_values = true)]
    pub bantime: Option<String>,
    /// Counterfactual: failures during an active ban are dropped by the firewall.
    #[arg(long = "firewall-drops")]
    pub firewall_drops: bool,
    /// An existing fail2ban.log whose `Ban` lines feed the recidive jail.
    #[arg(long = "fail2ban-log")]
    pub fail2ban_log: Option<PathBuf>,
    /// Year for dates without one.
    #[arg(long = "year")]
    pub year: Option<i32>,
    /// Time zone for dates without one.
    #[arg(long = "timezone", alias = "TZ")]
    pub timezone: Option<String>,
    /// No progress bar and no summary on standard error (warnings are still printed).
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
}

/// `--timeouts` of `bans`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SetTimeouts {
    Remaining,
    Zero,
}
