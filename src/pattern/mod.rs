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

/// `hay.starts_with(p)`, compared in line a word at a time: the texts compared on the hot
/// path (literals of a failregex, what precedes a date) are short and most comparisons fail
/// early, where a `memcmp` call per comparison showed in profiles. The last word overlaps
/// the one before it instead of finishing byte by byte: a 14-byte literal is two loads.
#[inline]
pub(crate) fn has_prefix(hay: &[u8], p: &[u8]) -> bool {
    let n = p.len();
    let Some(h) = hay.get(..n) else {
        return false;
    };
    fn word(s: &[u8], i: usize) -> u64 {
        u64::from_le_bytes(s[i..i + 8].try_into().unwrap_or([0; 8]))
    }
    fn half(s: &[u8], i: usize) -> u32 {
        u32::from_le_bytes(s[i..i + 4].try_into().unwrap_or([0; 4]))
    }
    if n >= 8 {
        let mut i = 0;
        while i + 8 < n {
            if word(h, i) != word(p, i) {
                return false;
            }
            i += 8;
        }
        word(h, n - 8) == word(p, n - 8)
    } else if n >= 4 {
        half(h, 0) == half(p, 0) && half(h, n - 4) == half(p, n - 4)
    } else {
        // Byte by byte: a slice compare here is a `memcmp` call.
        h.iter().zip(p).all(|(a, b)| a == b)
    }
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
