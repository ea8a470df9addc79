//! failscan: audit Asterisk/fail2ban logs, validate failregexes, replay jail bans offline.
//!
//! Data flow, in stage order:
//! 1. [`f2b`] reads fail2ban's configuration (filters, jails) into plain definitions;
//! 2. [`pattern`] turns Python-`re` failregexes into one combined automaton plus an exact
//!    verifier, and implements fail2ban's per-line failure algorithm;
//! 3. [`input`] opens logs (mmap, gzip/bzip2/xz/zstd, stdin) and [`scan`] cuts them into
//!    line-aligned chunks matched in parallel, with [`date`] finding each line's time;
//! 4. [`replay`] turns failure events into bans with fail2ban's jail arithmetic;
//! 5. [`output`] writes reports (fail2ban-regex text, CSV, JSON) and ipset/nft files.
//!
//! [`cli`] holds the command-line grammar and [`cmd`] wires the stages per subcommand.

pub mod cli;
pub mod cmd;
pub mod date;
pub mod f2b;
pub mod input;
pub mod output;
pub mod pattern;
pub mod replay;
pub mod scan;

/// Helpers shared by the unit tests.
#[cfg(test)]
pub(crate) mod testutil {
    /// One step of the 64-bit LCG the randomised tests draw from (deterministic, no
    /// dependency): advances `seed` and returns its new value.
    pub(crate) fn lcg(seed: &mut u64) -> u64 {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        *seed
    }
}
