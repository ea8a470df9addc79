//! Regexes: fail2ban tag expansion, Python-`re` to Rust translation, the combined
//! multi-pattern automaton with an exact backtracking verifier, and fail2ban's per-line
//! failure algorithm.

/// fail2ban's `usedns` setting: decides what `<HOST>` expands to and whether names resolve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UseDns {
    Yes,
    #[default]
    Warn,
    No,
    Raw,
}
