//! `ipset restore` files for the bans active at an instant (spec 7.3, 7.4), and the set plan
//! (names, families, members, remaining times) that the nft writer shares.
//!
//! Layout: for each set name in order of first appearance, the IPv4 set then the IPv6 set, each
//! as `create PREFIXNAME[6] hash:ip family inet|inet6 hashsize 1024 maxelem 65536 timeout 0`
//! (what fail2ban's `iptables-ipset*` actions create) followed by its `add SET IP timeout T`
//! lines, sorted by address. Both families are always written, so loading a file gives the same
//! sets whatever the bans (fail2ban creates the IPv6 set lazily; an empty set is harmless).
//!
//! Decisions:
//! - `T` is the remaining ban time in whole seconds rounded up, at least 1 (a ban whose end is
//!   exactly now is still in force, and `timeout 0` would make it permanent), capped at ipset's
//!   maximum 2147483; permanent bans get `timeout 0`. [`Timeouts::Zero`] writes `timeout 0` for
//!   every entry instead, which mirrors fail2ban (it deletes entries itself at unban).
//! - IPv4-mapped IPv6 IDs are written as IPv4, into the IPv4 set.
//! - Non-IP IDs are skipped and counted. Subnet IDs (`a.b.c.d/n`) are skipped and counted too: a
//!   `hash:ip` set silently expands a CIDR into single addresses (a `/16` alone fills maxelem and
//!   the non-atomic restore then fails half-way), and the nft `ipv4_addr` sets cannot hold
//!   prefixes without interval flags. A subnet blocklist needs `hash:net`, which is not what
//!   fail2ban's actions create.
//! - The same address in one set (two jails sharing an action name) is written once, with the
//!   longest remaining time.
//! - `-exist` at the end of each line ([`IpsetOptions::exist`], default on) makes the file
//!   idempotent: identical creates and duplicate adds (which update the timeout) are accepted.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::IpAddr;

use crate::replay::Ban;

/// ipset's set name limit (`IPSET_MAXNAMELEN - 1`), verified: 33 characters are rejected.
pub const MAX_SET_NAME: usize = 31;
/// ipset's largest timeout in seconds.
pub const MAX_TIMEOUT: u64 = 2_147_483;

/// Errors while writing a set file.
#[derive(Debug, thiserror::Error)]
pub enum SetWriteError {
    #[error("set name '{name}' has {len} characters; ipset allows at most 31 (shorten the action name or the prefix)")]
    NameTooLong { name: String, len: usize },
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// The sets one jail writes into: the jail's action names (`JailParams::set_names`) and its bans.
/// Every ban active at the chosen instant goes into every named set of its family (7.2).
#[derive(Debug, Clone, Copy)]
pub struct SetSpec<'a> {
    pub names: &'a [String],
    pub bans: &'a [Ban],
}

/// How entry timeouts are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Timeouts {
    /// Remaining ban time, so the kernel expires entries itself.
    #[default]
    Remaining,
    /// `timeout 0` (permanent) for every entry, like fail2ban's own actions.
    Zero,
}

/// Options of [`write_ipset`].
#[derive(Debug, Clone, PartialEq)]
pub struct IpsetOptions {
    /// The instant T0 (Unix seconds): bans active then are written.
    pub now: f64,
    /// Prepended to every name: `f2b-` (fail2ban's actions) by default; `fail2ban-` gives the
    /// older `fail2ban-asterisk-udp` naming.
    pub prefix: String,
    /// Append `-exist` to every line.
    pub exist: bool,
    pub timeouts: Timeouts,
}

impl IpsetOptions {
    /// Defaults (`f2b-` prefix, `-exist`, remaining timeouts) for the instant `now`.
    pub fn at(now: f64) -> Self {
        IpsetOptions {
            now,
            prefix: "f2b-".into(),
            exist: true,
            timeouts: Timeouts::Remaining,
        }
    }
}

/// What was written (or planned).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IpsetStats {
    pub sets: usize,
    /// `add` lines (one per address and set).
    pub entries: usize,
    /// Active bans skipped because their ID is not an address (counted once per ban).
    pub skipped_non_ip: usize,
    /// Active bans skipped because their ID is a subnet.
    pub skipped_subnets: usize,
}

/// One set of the plan: full name, family and members with their remaining time.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedSet {
    pub name: String,
    pub v6: bool,
    /// Sorted by address; `None` = permanent, otherwise remaining seconds (> 0, not capped).
    pub members: Vec<(IpAddr, Option<u64>)>,
}

/// Remaining whole seconds of a ban at `now`, rounded up, at least 1; `None` for permanent.
fn remaining(ban: &Ban, now: f64) -> Option<u64> {
    ban.end.map(|end| {
        let r = (end - now).ceil();
        // `as` saturates, and the max(1) keeps a ban ending exactly now from becoming permanent.
        (r as u64).max(1)
    })
}

/// Longer-lasting of two remaining times (`None` = permanent wins).
fn longer(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        _ => None,
    }
}

/// Builds the sets for the bans active at `now`: `prefix + name` (IPv4) and `prefix + name + "6"`
/// (IPv6) for every name, in order of first appearance. Does not check name lengths.
pub fn plan_sets(specs: &[SetSpec<'_>], now: f64, prefix: &str) -> (Vec<PlannedSet>, IpsetStats) {
    let mut order: Vec<String> = Vec::new();
    let mut members: BTreeMap<(String, bool), BTreeMap<IpAddr, Option<u64>>> = BTreeMap::new();
    let mut stats = IpsetStats::default();
    for spec in specs {
        for name in spec.names {
            if !order.contains(name) {
                order.push(name.clone());
            }
        }
        for ban in spec.bans.iter().filter(|b| b.is_active_at(now)) {
            let ip = if ban.id.contains('/') {
                stats.skipped_subnets += 1;
                continue;
            } else {
                let text = ban.id.trim_start_matches('[').trim_end_matches(']');
                match text.parse::<IpAddr>() {
                    Ok(IpAddr::V6(a)) => a.to_ipv4_mapped().map_or(IpAddr::V6(a), IpAddr::V4),
                    Ok(a) => a,
                    Err(_) => {
                        stats.skipped_non_ip += 1;
                        continue;
                    }
                }
            };
            let left = remaining(ban, now);
            for name in spec.names {
                let set = members.entry((name.clone(), ip.is_ipv6())).or_default();
                set.entry(ip)
                    .and_modify(|t| *t = longer(*t, left))
                    .or_insert(left);
            }
        }
    }
    let mut sets = Vec::new();
    for name in order {
        for v6 in [false, true] {
            let full = format!("{prefix}{name}{}", if v6 { "6" } else { "" });
            let m = members.remove(&(name.clone(), v6)).unwrap_or_default();
            stats.entries += m.len();
            sets.push(PlannedSet {
                name: full,
                v6,
                members: m.into_iter().collect(),
            });
        }
    }
    stats.sets = sets.len();
    (sets, stats)
}

/// Writes an `ipset restore` file (see the module doc) for the bans active at `opts.now`.
pub fn write_ipset<W: Write>(
    w: &mut W,
    specs: &[SetSpec<'_>],
    opts: &IpsetOptions,
) -> Result<IpsetStats, SetWriteError> {
    let (sets, stats) = plan_sets(specs, opts.now, &opts.prefix);
    // Check every name before writing anything, so a bad name leaves no half-written file.
    if let Some(s) = sets.iter().find(|s| s.name.chars().count() > MAX_SET_NAME) {
        return Err(SetWriteError::NameTooLong {
            name: s.name.clone(),
            len: s.name.chars().count(),
        });
    }
    let exist = if opts.exist { " -exist" } else { "" };
    for set in &sets {
        let family = if set.v6 { "inet6" } else { "inet" };
        writeln!(
            w,
            "create {} hash:ip family {family} hashsize 1024 maxelem 65536 timeout 0{exist}",
            set.name
        )?;
        for (ip, left) in &set.members {
            let t = match (opts.timeouts, left) {
                (Timeouts::Zero, _) | (_, None) => 0,
                (Timeouts::Remaining, Some(s)) => (*s).min(MAX_TIMEOUT),
            };
            writeln!(w, "add {} {ip} timeout {t}{exist}", set.name)?;
        }
    }
    Ok(stats)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn ban(id: &str, start: f64, end: Option<f64>) -> Ban {
        Ban {
            jail: "asterisk".into(),
            id: id.into(),
            start,
            end,
            bantime: end.map_or(-1.0, |e| e - start),
            ban_no: 1,
            failures: 10,
            regexes: vec![],
        }
    }

    pub(crate) fn sample_bans() -> Vec<Ban> {
        vec![
            ban("192.0.2.11", 1000.0, Some(1600.0)),
            ban("192.0.2.10", 900.0, None),
            ban("2001:db8::1", 1000.0, Some(1000.0 + 1e9)),
            ban("::ffff:198.51.100.7", 1100.0, Some(1100.5)),
            ban("192.0.2.99", 0.0, Some(600.0)), // over before T0
            ban("alice", 1000.0, Some(1600.0)),
            ban("10.0.0.0/30", 1000.0, Some(1600.0)),
        ]
    }

    pub(crate) fn names() -> Vec<String> {
        vec!["asterisk-tcp".into(), "asterisk-udp".into()]
    }

    fn render(opts: &IpsetOptions) -> (String, IpsetStats) {
        let bans = sample_bans();
        let names = names();
        let mut out = Vec::new();
        let st = write_ipset(
            &mut out,
            &[SetSpec {
                names: &names,
                bans: &bans,
            }],
            opts,
        )
        .unwrap();
        (String::from_utf8(out).unwrap(), st)
    }

    #[test]
    fn writes_sorted_sets_with_remaining_timeouts() {
        let (text, st) = render(&IpsetOptions {
            exist: false,
            ..IpsetOptions::at(1100.25)
        });
        let want = "\
create f2b-asterisk-tcp hash:ip family inet hashsize 1024 maxelem 65536 timeout 0
add f2b-asterisk-tcp 192.0.2.10 timeout 0
add f2b-asterisk-tcp 192.0.2.11 timeout 500
add f2b-asterisk-tcp 198.51.100.7 timeout 1
create f2b-asterisk-tcp6 hash:ip family inet6 hashsize 1024 maxelem 65536 timeout 0
add f2b-asterisk-tcp6 2001:db8::1 timeout 2147483
create f2b-asterisk-udp hash:ip family inet hashsize 1024 maxelem 65536 timeout 0
add f2b-asterisk-udp 192.0.2.10 timeout 0
add f2b-asterisk-udp 192.0.2.11 timeout 500
add f2b-asterisk-udp 198.51.100.7 timeout 1
create f2b-asterisk-udp6 hash:ip family inet6 hashsize 1024 maxelem 65536 timeout 0
add f2b-asterisk-udp6 2001:db8::1 timeout 2147483
";
        assert_eq!(text, want);
        assert_eq!(
            st,
            IpsetStats {
                sets: 4,
                entries: 8,
                skipped_non_ip: 1,
                skipped_subnets: 1
            }
        );
    }

    #[test]
    fn exist_prefix_and_zero_timeouts() {
        let opts = IpsetOptions {
            prefix: "fail2ban-".into(),
            timeouts: Timeouts::Zero,
            ..IpsetOptions::at(1100.0)
        };
        let (text, _) = render(&opts);
        assert!(text.starts_with(
            "create fail2ban-asterisk-tcp hash:ip family inet hashsize 1024 maxelem 65536 timeout 0 -exist\n"
        ));
        assert!(text.contains("add fail2ban-asterisk-udp 192.0.2.11 timeout 0 -exist\n"));
        assert!(!text.contains("timeout 500"));
    }

    #[test]
    fn rejects_long_names_before_writing() {
        let names = vec!["a".repeat(27)]; // f2b- + 27 + 6 = 32
        let mut out = Vec::new();
        let err = write_ipset(
            &mut out,
            &[SetSpec {
                names: &names,
                bans: &[],
            }],
            &IpsetOptions::at(0.0),
        )
        .unwrap_err();
        assert!(
            matches!(err, SetWriteError::NameTooLong { len: 32, .. }),
            "{err}"
        );
        assert!(out.is_empty());
        let ok = vec!["a".repeat(26)];
        assert!(write_ipset(
            &mut out,
            &[SetSpec {
                names: &ok,
                bans: &[]
            }],
            &IpsetOptions::at(0.0)
        )
        .is_ok());
    }

    #[test]
    fn merges_duplicates_keeping_longest() {
        let a = vec![ban("192.0.2.1", 0.0, Some(100.0))];
        let b = vec![ban("192.0.2.1", 0.0, Some(300.0))];
        let n = vec!["x".to_string()];
        let (sets, st) = plan_sets(
            &[
                SetSpec {
                    names: &n,
                    bans: &a,
                },
                SetSpec {
                    names: &n,
                    bans: &b,
                },
            ],
            50.0,
            "f2b-",
        );
        assert_eq!(st.entries, 1);
        assert_eq!(
            sets[0].members,
            vec![("192.0.2.1".parse().unwrap(), Some(250))]
        );
    }
}

/// Real-tool tests: load the writers' files with the real `ipset` / `nft` inside a network
/// namespace created for the test and deleted afterwards (also on failure, by `Drop`). The
/// host's own sets and tables are never touched. They need root and the tools: otherwise they
/// print why and pass, unless the environment variable `CI` is set, where they fail.
#[cfg(test)]
pub(crate) mod netns {
    use std::io::Write as _;
    use std::process::{Command, Output, Stdio};

    pub(crate) struct NetNs {
        pub name: String,
    }

    impl NetNs {
        /// A fresh namespace, or `None` (after printing why) when the test must be skipped.
        pub(crate) fn create(tag: &str, tool: &str) -> Option<NetNs> {
            let skip = |why: String| {
                if std::env::var_os("CI").is_some() {
                    panic!("{why} (CI is set, so this is a failure)");
                }
                eprintln!("skipping real-{tool} test: {why}");
                None
            };
            // SAFETY: geteuid has no preconditions and cannot fail.
            if unsafe { libc::geteuid() } != 0 {
                return skip("needs root to create a network namespace".into());
            }
            for t in ["ip", tool] {
                let probe = if t == "ip" { "-V" } else { "--version" };
                if Command::new(t)
                    .arg(probe)
                    .output()
                    .map(|o| !o.status.success())
                    .unwrap_or(true)
                {
                    return skip(format!("`{t}` is not installed or does not run"));
                }
            }
            let name = format!("failscan-test-{}-{tag}", std::process::id());
            let out = Command::new("ip").args(["netns", "add", &name]).output();
            match out {
                Ok(o) if o.status.success() => Some(NetNs { name }),
                Ok(o) => skip(format!(
                    "`ip netns add {name}` failed: {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                )),
                Err(e) => skip(format!("cannot run `ip netns add`: {e}")),
            }
        }

        /// Runs `cmd args` inside the namespace with `stdin` as input.
        pub(crate) fn run(&self, args: &[&str], stdin: &[u8]) -> Output {
            let mut child = Command::new("ip")
                .args(["netns", "exec", &self.name])
                .args(args)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn ip netns exec");
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(stdin)
                .expect("write stdin");
            child.wait_with_output().expect("wait")
        }

        pub(crate) fn run_ok(&self, args: &[&str], stdin: &[u8]) -> String {
            let o = self.run(args, stdin);
            assert!(
                o.status.success(),
                "{args:?} failed: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            String::from_utf8_lossy(&o.stdout).into_owned()
        }
    }

    impl Drop for NetNs {
        fn drop(&mut self) {
            let _ = Command::new("ip")
                .args(["netns", "delete", &self.name])
                .status();
        }
    }
}

#[cfg(test)]
mod real_ipset {
    use super::netns::NetNs;
    use super::tests::{ban, names};
    use super::*;
    use std::collections::BTreeMap;

    pub(crate) fn real_bans() -> Vec<Ban> {
        vec![
            ban("192.0.2.11", 1000.0, Some(1600.0)), // 500 s left at 1100
            ban("192.0.2.10", 900.0, None),          // permanent
            ban("::ffff:198.51.100.7", 1050.0, Some(1350.2)), // 251 s, written as IPv4
            ban("2001:db8::1", 1000.0, Some(1e10)),  // capped
            ban("2001:db8::2", 1000.0, Some(1200.0)), // 100 s
            ban("192.0.2.99", 0.0, Some(600.0)),     // over
            ban("alice", 1000.0, Some(1600.0)),
        ]
    }

    /// (set, address) -> timeout, from `ipset save` output or from our own file.
    fn adds(text: &str) -> BTreeMap<(String, String), u64> {
        text.lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f.first() == Some(&"add") && f.len() >= 5 && f[3] == "timeout").then(|| {
                    (
                        (f[1].to_string(), f[2].to_string()),
                        f[4].parse().unwrap_or(u64::MAX),
                    )
                })
            })
            .collect()
    }

    #[test]
    fn real_ipset_restore_in_netns() {
        let Some(ns) = NetNs::create("ipset", "ipset") else {
            return;
        };
        let bans = real_bans();
        let names = names();
        let spec = [SetSpec {
            names: &names,
            bans: &bans,
        }];
        let mut plain = Vec::new();
        write_ipset(
            &mut plain,
            &spec,
            &IpsetOptions {
                exist: false,
                ..IpsetOptions::at(1100.0)
            },
        )
        .unwrap();
        let mut exist = Vec::new();
        write_ipset(&mut exist, &spec, &IpsetOptions::at(1100.0)).unwrap();

        ns.run_ok(&["ipset", "restore"], &plain);
        // Without -exist a second load fails; with it, loading twice is fine.
        assert!(!ns.run(&["ipset", "restore"], &plain).status.success());
        ns.run_ok(&["ipset", "restore"], &exist);
        ns.run_ok(&["ipset", "restore"], &exist);

        let saved = ns.run_ok(&["ipset", "save"], b"");
        for name in ["f2b-asterisk-tcp", "f2b-asterisk-udp"] {
            assert!(saved.contains(&format!(
                "create {name} hash:ip family inet hashsize 1024 maxelem 65536 timeout 0"
            )));
            assert!(saved.contains(&format!(
                "create {name}6 hash:ip family inet6 hashsize 1024 maxelem 65536 timeout 0"
            )));
        }
        let want = adds(&String::from_utf8(plain).unwrap());
        let got = adds(&saved);
        assert_eq!(want.len(), 10, "{want:?}");
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            want.keys().collect::<Vec<_>>(),
            "{saved}"
        );
        for (k, &w) in &want {
            let g = got[k];
            // A counting-down timeout may show one second less; 0 (permanent) stays 0.
            assert!(
                g == w || (w > 0 && g + 1 == w),
                "{k:?}: wrote {w}, ipset has {g}"
            );
        }
        assert_eq!(
            want[&("f2b-asterisk-udp".into(), "198.51.100.7".into())],
            251
        );
        assert_eq!(
            want[&("f2b-asterisk-tcp6".into(), "2001:db8::1".into())],
            MAX_TIMEOUT
        );
        drop(ns);
    }
}
