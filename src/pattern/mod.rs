//! Regexes: fail2ban tag expansion, Python-`re` to Rust translation, the combined
//! multi-pattern automaton with an exact backtracking verifier, and fail2ban's per-line
//! failure algorithm.
//!
//! - [`tags`]: `<HOST>`, `<F-ID/>`, … expanded to the exact Python pattern fail2ban compiles;
//! - [`translate`]: Python `re` syntax parsed and printed for regex-automata (exact, when
//!   regular), fancy-regex (exact) and as a regular superset (prefilter);
//! - [`engine`]: every regex of every filter in one automaton, exact verification on
//!   candidate lines, and fail2ban's `findFailure` (multi-line buffers and the mlfid cache
//!   included; that state lives in the per-log [`EngineCache`]).

pub mod engine;
mod fastpath;
pub mod ipaddr;
pub mod tags;
pub mod translate;

#[cfg(test)]
mod difftest;
#[cfg(test)]
pub(crate) mod testdata;

/// `hay.starts_with(p)`, compared 8 bytes at a time in line: the texts compared on the
/// hot path (literals of a failregex, what precedes a date) are short and most comparisons
/// fail early, where a `memcmp` call per comparison showed in profiles.
#[inline]
pub(crate) fn has_prefix(hay: &[u8], p: &[u8]) -> bool {
    let Some(h) = hay.get(..p.len()) else {
        return false;
    };
    let mut a = h.chunks_exact(8);
    let mut b = p.chunks_exact(8);
    for (x, y) in a.by_ref().zip(b.by_ref()) {
        let word = |c: &[u8]| u64::from_le_bytes(c.try_into().unwrap_or([0; 8]));
        if word(x) != word(y) {
            return false;
        }
    }
    a.remainder().iter().zip(b.remainder()).all(|(x, y)| x == y)
}

pub use engine::quick::{AddrKind, Quick, QuickCache, QuickHit, QuickPlan};
pub use engine::{
    DnsMode, Engine, EngineCache, EngineOptions, Failure, FilterRegexes, LineOutcome, LineParts,
    Value,
};

/// fail2ban's `usedns` setting: decides what `<HOST>` expands to and whether names resolve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UseDns {
    Yes,
    #[default]
    Warn,
    No,
    Raw,
}

/// Which list of a filter a regex comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegexKind {
    Prefregex,
    Failregex,
    Ignoreregex,
}

impl std::fmt::Display for RegexKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RegexKind::Prefregex => "prefregex",
            RegexKind::Failregex => "failregex",
            RegexKind::Ignoreregex => "ignoreregex",
        })
    }
}

/// A regex that cannot be used, with its place: filter, list, 1-based index.
#[derive(Debug, Clone, thiserror::Error)]
#[error("filter '{filter}', {kind} #{index}: {message}\n  regex: {regex}")]
pub struct PatternError {
    pub filter: String,
    pub kind: RegexKind,
    /// 1-based position in the list (1 for the prefregex).
    pub index: usize,
    /// The regex as given (tags not expanded).
    pub regex: String,
    /// What is wrong, naming the construct.
    pub message: String,
}
