//! `nft -f` files holding the same sets as the ipset writer (see [`super::ipset`] for the choice
//! of members, names and skipped IDs), in one table of family `inet`.
//!
//! ```text
//! table inet f2b-failscan
//! delete table inet f2b-failscan
//! table inet f2b-failscan {
//!     set f2b-asterisk-tcp {
//!         type ipv4_addr
//!         flags timeout
//!         elements = { 192.0.2.10, 192.0.2.11 timeout 500s }
//!     }
//! }
//! ```
//!
//! The first two lines (on by default, [`NftOptions::replace`]) make loading idempotent: nft runs
//! the whole file as one transaction, so "create if missing, delete, define" atomically replaces
//! the table and its members. Permanent bans are elements without a timeout (a `flags timeout`
//! set without a default timeout never expires them); others carry the remaining seconds. The
//! table only holds sets: rules that match them (`ip saddr @f2b-asterisk-tcp drop`) belong to the
//! administrator's ruleset. Syntax checked with nftables 1.0.6 (`nft -c -f`, and loaded in a
//! private network namespace by the tests).

use std::io::Write;

use super::ipset::{plan_sets, IpsetStats, SetSpec, SetWriteError};

/// The largest element timeout nftables 1.0.6 accepts, found by bisection in a private network
/// namespace: `99999999s` loads, `100000000s` is "value too large" (about 3.2 years).
pub const MAX_TIMEOUT: u64 = 99_999_999;

/// Options of [`write_nft`].
#[derive(Debug, Clone, PartialEq)]
pub struct NftOptions {
    /// The instant T0 (Unix seconds): bans active then are written.
    pub now: f64,
    /// Prepended to every set name (`f2b-` by default, like the ipset sets).
    pub prefix: String,
    /// Table name (family `inet`).
    pub table: String,
    /// Replace the table atomically (see the module doc) instead of adding to it.
    pub replace: bool,
}

impl NftOptions {
    /// Defaults (`f2b-` prefix, table `f2b-failscan`, replace) for the instant `now`.
    pub fn at(now: f64) -> Self {
        NftOptions {
            now,
            prefix: "f2b-".into(),
            table: "f2b-failscan".into(),
            replace: true,
        }
    }
}

/// Writes an `nft -f` file for the bans active at `opts.now`.
pub fn write_nft<W: Write>(
    w: &mut W,
    specs: &[SetSpec<'_>],
    opts: &NftOptions,
) -> Result<IpsetStats, SetWriteError> {
    let (sets, stats) = plan_sets(specs, opts.now, &opts.prefix);
    let table = &opts.table;
    if opts.replace {
        writeln!(w, "table inet {table}")?;
        writeln!(w, "delete table inet {table}")?;
    }
    writeln!(w, "table inet {table} {{")?;
    for set in &sets {
        writeln!(w, "\tset {} {{", set.name)?;
        writeln!(
            w,
            "\t\ttype {}",
            if set.v6 { "ipv6_addr" } else { "ipv4_addr" }
        )?;
        writeln!(w, "\t\tflags timeout")?;
        if !set.members.is_empty() {
            // nft rejects an empty `elements = { }`, hence the guard.
            let items: Vec<String> = set
                .members
                .iter()
                .map(|(ip, left)| match left {
                    None => ip.to_string(),
                    Some(s) => format!("{ip} timeout {}s", (*s).min(MAX_TIMEOUT)),
                })
                .collect();
            writeln!(w, "\t\telements = {{ {} }}", items.join(", "))?;
        }
        writeln!(w, "\t}}")?;
    }
    writeln!(w, "}}")?;
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::super::ipset::tests::{names, sample_bans};
    use super::*;

    #[test]
    fn writes_table_with_sets() {
        let bans = sample_bans();
        let names = names();
        let mut out = Vec::new();
        let st = write_nft(
            &mut out,
            &[SetSpec {
                names: &names,
                bans: &bans,
            }],
            &NftOptions::at(1100.25),
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        let want = "\
table inet f2b-failscan
delete table inet f2b-failscan
table inet f2b-failscan {
\tset f2b-asterisk-tcp {
\t\ttype ipv4_addr
\t\tflags timeout
\t\telements = { 192.0.2.10, 192.0.2.11 timeout 500s, 198.51.100.7 timeout 1s }
\t}
\tset f2b-asterisk-tcp6 {
\t\ttype ipv6_addr
\t\tflags timeout
\t\telements = { 2001:db8::1 timeout 99999999s }
\t}
\tset f2b-asterisk-udp {
\t\ttype ipv4_addr
\t\tflags timeout
\t\telements = { 192.0.2.10, 192.0.2.11 timeout 500s, 198.51.100.7 timeout 1s }
\t}
\tset f2b-asterisk-udp6 {
\t\ttype ipv6_addr
\t\tflags timeout
\t\telements = { 2001:db8::1 timeout 99999999s }
\t}
}
";
        assert_eq!(text, want);
        assert_eq!(st.entries, 8);
    }
}

#[cfg(test)]
mod real_nft {
    use super::super::ipset::netns::NetNs;
    use super::super::ipset::tests::{ban, names};
    use super::*;

    #[test]
    fn real_nft_load_in_netns() {
        let Some(ns) = NetNs::create("nft", "nft") else {
            return;
        };
        let bans = vec![
            ban("192.0.2.11", 1000.0, Some(1600.0)),
            ban("192.0.2.10", 900.0, None),
            ban("::ffff:198.51.100.7", 1050.0, Some(1e12)),
            ban("2001:db8::1", 1000.0, Some(1200.0)),
        ];
        let names = names();
        let mut file = Vec::new();
        write_nft(
            &mut file,
            &[SetSpec {
                names: &names,
                bans: &bans,
            }],
            &NftOptions::at(1100.0),
        )
        .unwrap();
        ns.run_ok(&["nft", "-c", "-f", "-"], &file);
        // Loading twice replaces the table (idempotent).
        ns.run_ok(&["nft", "-f", "-"], &file);
        ns.run_ok(&["nft", "-f", "-"], &file);
        let json = ns.run_ok(&["nft", "-j", "list", "table", "inet", "f2b-failscan"], b"");
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        let mut got = Vec::new();
        for item in v["nftables"].as_array().unwrap() {
            let Some(set) = item.get("set") else { continue };
            for e in set["elem"].as_array().cloned().unwrap_or_default() {
                let (addr, timeout) = match e.get("elem") {
                    Some(x) => (
                        x["val"].as_str().unwrap().to_string(),
                        x["timeout"].as_u64(),
                    ),
                    None => (e.as_str().unwrap().to_string(), None),
                };
                got.push((set["name"].as_str().unwrap().to_string(), addr, timeout));
            }
        }
        got.sort();
        let want = |s: &str, a: &str, t: Option<u64>| (s.to_string(), a.to_string(), t);
        assert_eq!(
            got,
            vec![
                want("f2b-asterisk-tcp", "192.0.2.10", None),
                want("f2b-asterisk-tcp", "192.0.2.11", Some(500)),
                want("f2b-asterisk-tcp", "198.51.100.7", Some(MAX_TIMEOUT)),
                want("f2b-asterisk-tcp6", "2001:db8::1", Some(100)),
                want("f2b-asterisk-udp", "192.0.2.10", None),
                want("f2b-asterisk-udp", "192.0.2.11", Some(500)),
                want("f2b-asterisk-udp", "198.51.100.7", Some(MAX_TIMEOUT)),
                want("f2b-asterisk-udp6", "2001:db8::1", Some(100)),
            ]
        );
    }
}
