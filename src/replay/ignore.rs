//! Failure IDs as fail2ban sees them: normalising an ID string the way `IPAddr` does (so that
//! `[2001:DB8::1]`, `2001:db8::1` and `::ffff:1.2.3.4` vs `1.2.3.4` key the same failure entry),
//! and the `ignoreip` list (spec 6.7), matched without DNS.
//!
//! Matching mirrors `Filter._inIgnoreIPList` (verified with fail2ban's own `Filter` class):
//! - single addresses (`/32`, `/128` or no prefix) match only an equal ID (same family, address and
//!   prefix length), so the subnet ID `10.0.0.0/24` is *not* ignored by the entry `10.0.0.0`;
//! - networks match an ID of the same family whose (already masked) address lies inside, whatever
//!   the ID's own prefix length (`10.0.0.0/16` is ignored by `10.0.0.0/24`);
//! - an IPv4-mapped IPv6 ID (`::ffff:a.b.c.d`) is turned into IPv4 first, but only when it has no
//!   prefix, exactly like `IPAddr`;
//! - non-IP IDs never match: in fail2ban a non-IP `ignoreip` entry is a DNS name, resolved at every
//!   check (an ID `abc` is not ignored by the entry `abc`, verified offline). Since DNS entries are
//!   rejected by [`IgnoreList::parse`], there is nothing a non-IP ID could match.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::ReplayError;

/// An address with a prefix length, in the representation fail2ban's `IPAddr` uses: host bits
/// masked off, IPv4 as the low 32 bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Net {
    pub v6: bool,
    pub addr: u128,
    pub plen: u8,
}

impl Net {
    fn full(v6: bool) -> u8 {
        if v6 {
            128
        } else {
            32
        }
    }

    fn mask(v6: bool, plen: u8) -> u128 {
        let bits = Self::full(v6) as u32;
        let all = if v6 { u128::MAX } else { u32::MAX as u128 };
        if plen == 0 {
            0
        } else {
            all & !(all >> plen.min(bits as u8) as u32)
        }
    }

    pub fn is_single(&self) -> bool {
        self.plen == Self::full(self.v6)
    }

    pub fn contains(&self, other: &Net) -> bool {
        self.v6 == other.v6 && (other.addr & Self::mask(self.v6, self.plen)) == self.addr
    }

    pub fn ip(&self) -> IpAddr {
        if self.v6 {
            IpAddr::V6(Ipv6Addr::from(self.addr))
        } else {
            IpAddr::V4(Ipv4Addr::from(self.addr as u32))
        }
    }

    /// fail2ban's `ntoa`: the address, plus `/n` only for a real subnet.
    pub fn to_id(self) -> String {
        if self.is_single() {
            self.ip().to_string()
        } else {
            format!("{}/{}", self.ip(), self.plen)
        }
    }
}

/// Why an address text did not parse; [`parse_net`] callers turn this into their own error.
#[derive(Debug)]
pub(crate) enum NetParse {
    /// Not an address at all (fail2ban would treat it as a DNS name or a raw ID).
    NotIp,
    /// An address with a broken prefix or mask.
    BadPrefix(String),
}

fn ip_to_net(ip: IpAddr) -> Net {
    match ip {
        IpAddr::V4(a) => Net {
            v6: false,
            addr: u32::from(a) as u128,
            plen: 32,
        },
        IpAddr::V6(a) => Net {
            v6: true,
            addr: u128::from(a),
            plen: 128,
        },
    }
}

/// Parses `ip`, `[ip]`, `ip/n` or `ip/mask` the way `IPAddr(str)` does.
pub(crate) fn parse_net(text: &str) -> Result<Net, NetParse> {
    let mut s = text.trim();
    // `IPAddr.__wrap_ipstr` strips the brackets of the `[ipv6]:port` spelling.
    if s.len() > 2 && s.starts_with('[') && s.ends_with(']') {
        s = &s[1..s.len() - 1];
    }
    let (addr_text, prefix) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let ip: IpAddr = addr_text.parse().map_err(|_| NetParse::NotIp)?;
    let mut net = ip_to_net(ip);
    match prefix {
        None => {
            // Only a prefix-less IPv6 address in ::ffff:0:0/96 becomes IPv4 (IPAddr.__init).
            if let IpAddr::V6(a) = ip {
                if let Some(v4) = a.to_ipv4_mapped() {
                    net = ip_to_net(IpAddr::V4(v4));
                }
            }
        }
        Some(p) => {
            let plen = if p.contains('.') || p.contains(':') {
                mask_to_plen(p)?
            } else {
                p.parse::<u8>().map_err(|_| {
                    NetParse::BadPrefix(format!("prefix length '{p}' is not a number"))
                })?
            };
            if plen > Net::full(net.v6) {
                return Err(NetParse::BadPrefix(format!(
                    "prefix length {plen} is longer than the address ({} bits)",
                    Net::full(net.v6)
                )));
            }
            net.addr &= Net::mask(net.v6, plen);
            net.plen = plen;
        }
    }
    Ok(net)
}

/// `255.255.255.0` (or an IPv6 mask) to a prefix length; non-contiguous masks are errors, as in
/// `IPAddr.maskplen`.
fn mask_to_plen(mask: &str) -> Result<u8, NetParse> {
    let ip: IpAddr = mask
        .parse()
        .map_err(|_| NetParse::BadPrefix(format!("mask '{mask}' is not an address")))?;
    let (v, bits) = match ip {
        IpAddr::V4(a) => (u32::from(a) as u128, 32u32),
        IpAddr::V6(a) => (u128::from(a), 128u32),
    };
    let ones = if bits == 32 {
        (v as u32).leading_ones()
    } else {
        v.leading_ones()
    };
    if Net::mask(bits == 128, ones as u8) != v {
        return Err(NetParse::BadPrefix(format!(
            "mask '{mask}' is not contiguous"
        )));
    }
    Ok(ones as u8)
}

/// The key fail2ban's FailManager and BanManager use for an ID: its `IPAddr` text. Addresses are
/// written canonically (lower-case IPv6, mapped IPv4 unwrapped, host bits of a subnet cleared);
/// anything that is not an address is kept verbatim (raw `<F-ID>` values).
pub fn normalize_id(id: &str) -> String {
    match parse_net(id) {
        Ok(net) => net.to_id(),
        Err(_) => id.to_string(),
    }
}

/// The `ignoreip` setting of a jail, parsed and ready for offline matching.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IgnoreList {
    singles: Vec<Net>,
    nets: Vec<Net>,
}

impl IgnoreList {
    /// Parses `ignoreip` items. Each item may itself hold several entries separated by spaces or
    /// commas (the jail option's own separators), so both a pre-split list and the raw option
    /// value work.
    pub fn parse(items: &[String]) -> Result<Self, ReplayError> {
        let mut list = IgnoreList::default();
        for entry in items
            .iter()
            .flat_map(|i| i.split(|c: char| c.is_whitespace() || c == ','))
            .filter(|e| !e.is_empty())
        {
            let net = parse_net(entry).map_err(|e| match e {
                NetParse::NotIp => ReplayError::IgnoreDnsName(entry.to_string()),
                NetParse::BadPrefix(reason) => ReplayError::IgnoreEntry {
                    entry: entry.to_string(),
                    reason,
                },
            })?;
            let target = if net.is_single() {
                &mut list.singles
            } else {
                &mut list.nets
            };
            if !target.contains(&net) {
                target.push(net);
            }
        }
        Ok(list)
    }

    /// True when the list has no entries.
    pub fn is_empty(&self) -> bool {
        self.singles.is_empty() && self.nets.is_empty()
    }

    /// Whether a failure with this ID is ignored (spec 6.7, see the module doc).
    pub fn contains(&self, id: &str) -> bool {
        if self.is_empty() {
            return false;
        }
        match parse_net(id) {
            Ok(ip) => self.singles.contains(&ip) || self.nets.iter().any(|n| n.contains(&ip)),
            Err(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[&str]) -> IgnoreList {
        IgnoreList::parse(&items.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    // The expectations below are the answers of fail2ban 1.0.2's own Filter.inIgnoreIPList for the
    // same entries and IDs (run offline in a network namespace).
    #[test]
    fn matches_like_fail2ban_filter() {
        let l = list(&[
            "10.0.0.0/255.255.255.0",
            "::ffff:1.2.3.4",
            "2001:db8::/32",
            "1.2.3.4/24",
        ]);
        for (id, want) in [
            ("10.0.0.77", true),
            ("1.2.3.4", true),
            ("1.2.3.99", true),
            ("1.2.4.1", false),
            ("::ffff:10.0.0.5", true),
            ("2001:db8:1::5", true),
            ("::ffff:1.2.3.4", true),
            ("[2001:db8::1]", true),
            ("10.0.0.0/24", true),
            ("10.0.0.0/16", true),
            ("10.0.0.5/32", true),
            ("abc", false),
            ("2001:db9::1", false),
        ] {
            assert_eq!(l.contains(id), want, "{id}");
        }
    }

    #[test]
    fn single_entry_does_not_cover_subnet_id() {
        let l = list(&["10.0.0.0", "127.0.0.1/8 ::1"]);
        assert!(!l.contains("10.0.0.0/24"));
        assert!(l.contains("10.0.0.0"));
        assert!(l.contains("127.5.6.7"));
        assert!(l.contains("::1"));
        assert!(!l.contains("::2"));
        // Family must match: an IPv4 net never covers IPv6 IDs.
        assert!(!list(&["0.0.0.0/0"]).contains("2001:db8::1"));
        assert!(list(&["0.0.0.0/0"]).contains("::ffff:8.8.8.8"));
    }

    #[test]
    fn mapped_net_with_prefix_stays_ipv6() {
        // IPAddr converts ::ffff:a.b.c.d only without a prefix; the ID is converted, the net not.
        let l = list(&["::ffff:1.2.3.0/120"]);
        assert!(!l.contains("::ffff:1.2.3.4"));
        assert!(!l.contains("1.2.3.4"));
    }

    #[test]
    fn rejects_dns_names_and_bad_prefixes() {
        let e = IgnoreList::parse(&["1.2.3.4, host.example".to_string()]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "ignoreip entry 'host.example' is a DNS name; failscan does not resolve names offline, give its addresses"
        );
        assert!(IgnoreList::parse(&["1.2.3.4/33".into()]).is_err());
        assert!(IgnoreList::parse(&["1.2.3.4/255.0.255.0".into()]).is_err());
        assert!(IgnoreList::parse(&["1.2.3.4/x".into()]).is_err());
        assert!(IgnoreList::parse(&["2001:db8::/ffff:ffff::".into()]).is_ok());
    }

    #[test]
    fn normalizes_ids() {
        assert_eq!(normalize_id("::ffff:1.2.3.4"), "1.2.3.4");
        assert_eq!(normalize_id("[2001:DB8::1]"), "2001:db8::1");
        assert_eq!(normalize_id("10.1.2.3/24"), "10.1.2.0/24");
        assert_eq!(normalize_id("10.1.2.3/32"), "10.1.2.3");
        assert_eq!(normalize_id("alice"), "alice");
    }
}
