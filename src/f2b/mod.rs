//! fail2ban configuration: the INI dialect, includes and `.local` overrides, `%(x)s` and
//! `<tag>` interpolation, filters (`filter.d`) and jails (`jail.conf`, `jail.d`).
//!
//! Everything here produces plain definitions (strings and numbers); compiling regexes is
//! the job of [`crate::pattern`].

pub mod embedded;
pub mod filter;
pub mod ini;
pub mod jail;
pub mod reader;
pub mod timespec;

pub use filter::{
    load_filter, load_filter_with, parse_spec, resolve_regex_arg, resolve_regex_arg_with,
    FilterDef, FilterLoadOptions, FilterOrigin, RegexArg,
};
pub use ini::ConfigError;
pub use jail::{load_jails, ActionRef, BantimeIncrement, JailDef};
pub use timespec::{parse_time, TimeError};
