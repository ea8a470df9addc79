//! fail2ban's `IPAddr` string forms: how a captured address becomes a ticket ID.
//!
//! - an address with a known family (`ip4`/`ip6` groups) is parsed strictly (glibc
//!   `inet_pton`: no leading zeros in IPv4), masked by a `cidr` group, and printed like glibc
//!   `inet_ntop` (which prints `::a.b.c.d` for addresses whose first 96 bits are zero);
//!   `::ffff:0:0/96` addresses become IPv4; an invalid address keeps its raw text;
//! - a failure ID (`fid`) is parsed with an unknown family: `[x]` loses its brackets and
//!   `x/n` is a subnet (`x/255.255.0.0` too); fail2ban-regex crashes with a ValueError on
//!   `x/notanumber`, we keep the text before the `/` instead;
//! - raw mode keeps the text as is.

use std::net::{Ipv4Addr, Ipv6Addr};

/// Address family forced by the group that captured it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

enum Parsed {
    V4(u32, u32),
    V6(u128, u32),
}

fn parse_prefix(cidr: &str) -> Option<u64> {
    // Python `int()` of a `\d+` capture; huge values behave like "no mask" anyway.
    let t = cidr.trim();
    if t.is_empty() || !t.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    Some(t.parse::<u64>().unwrap_or(u64::MAX))
}

fn mask4(addr: u32, plen: u64) -> u32 {
    if plen >= 32 {
        addr
    } else {
        addr & !(u32::MAX >> plen)
    }
}

fn mask6(addr: u128, plen: u64) -> u128 {
    if plen >= 128 {
        addr
    } else {
        addr & !(u128::MAX >> plen)
    }
}

fn parse(s: &str, fam: Option<Family>, cidr: Option<u64>) -> Option<Parsed> {
    if fam != Some(Family::V6) {
        if let Ok(a) = s.parse::<Ipv4Addr>() {
            let a = u32::from(a);
            return Some(match cidr {
                Some(p) => Parsed::V4(mask4(a, p), p.min(u32::MAX as u64) as u32),
                None => Parsed::V4(a, 32),
            });
        }
    }
    if fam != Some(Family::V4) {
        let v6 = match ip6_hex(s.as_bytes()) {
            Some(v) => v,
            None => s.parse::<Ipv6Addr>().ok().map(u128::from),
        };
        if let Some(a) = v6 {
            return Some(match cidr {
                Some(p) => Parsed::V6(mask6(a, p), p.min(u32::MAX as u64) as u32),
                None if a >> 32 == 0xffff => Parsed::V4(a as u32, 32),
                None => Parsed::V6(a, 128),
            });
        }
    }
    None
}

/// `Ipv6Addr`'s parse of a text made of hex digits and colons only (what `<HOST>`'s `ip6`
/// group captures), in one pass, without its general parser (which tries an embedded IPv4
/// address at every group: ~1,000 instructions per address). `None`: other bytes, ask
/// `Ipv6Addr`; `Some(None)`: not an address. Groups of 1-4 digits; eight of them, or at
/// most seven around one `::`, which stands for at least one zero group.
fn ip6_hex(s: &[u8]) -> Option<Option<u128>> {
    // On a failure, a byte other than a hex digit or a colon later on still means "ask
    // `Ipv6Addr`" (`::ffff:1.2.3.4` is an address).
    let fail = || {
        s.iter()
            .all(|&b| b == b':' || b.is_ascii_hexdigit())
            .then_some(None)
    };
    let (mut words, mut n, mut gap) = ([0u16; 8], 0, None);
    let mut i = 0;
    if s.first() == Some(&b':') {
        if s.get(1) != Some(&b':') {
            return fail();
        }
        gap = Some(0);
        i = 2;
    }
    while i < s.len() {
        let (mut v, from) = (0u16, i);
        while let Some(h) = s.get(i).and_then(|&b| hex_digit(b)) {
            v = v << 4 | h;
            i += 1;
        }
        if i == from || i - from > 4 || n == 8 {
            return fail();
        }
        words[n] = v;
        n += 1;
        match s.get(i) {
            None => break,
            Some(b':') => i += 1,
            Some(_) => return None,
        }
        if s.get(i) == Some(&b':') {
            if gap.is_some() {
                return fail();
            }
            gap = Some(n);
            i += 1;
        } else if i == s.len() {
            // A single trailing colon.
            return fail();
        }
    }
    if s.is_empty() {
        return None;
    }
    match gap {
        None if n != 8 => return fail(),
        Some(_) if n > 7 => return fail(),
        None => {}
        Some(g) => {
            words.copy_within(g..n, 8 - (n - g));
            words[g..8 - (n - g)].fill(0);
        }
    }
    Some(Some(
        words.iter().fold(0u128, |v, &g| v << 16 | u128::from(g)),
    ))
}

/// The value of an ASCII hex digit.
#[inline]
fn hex_digit(b: u8) -> Option<u16> {
    match b {
        b'0'..=b'9' => Some(u16::from(b - b'0')),
        b'a'..=b'f' => Some(u16::from(b - b'a' + 10)),
        b'A'..=b'F' => Some(u16::from(b - b'A' + 10)),
        _ => None,
    }
}

fn ntoa(p: &Parsed) -> String {
    match *p {
        Parsed::V4(a, plen) => {
            let s = Ipv4Addr::from(a).to_string();
            if plen > 0 && plen < 32 {
                format!("{s}/{plen}")
            } else {
                s
            }
        }
        Parsed::V6(a, plen) => {
            let s = ntop6(a);
            if plen > 0 && plen < 128 {
                format!("{s}/{plen}")
            } else {
                s
            }
        }
    }
}

/// glibc `inet_ntop(AF_INET6)`: longest run (first on ties, length >= 2) of zero words is
/// `::`; `::a.b.c.d` when the first 6 words are zero, `::ffff:a.b.c.d` when 5 are.
pub fn ntop6(a: u128) -> String {
    let mut out = String::with_capacity(39);
    ntop6_into(&mut out, a);
    out
}

/// [`ntop6`] appended to `out` (the scan normalises every IPv6 failure ID into one reused
/// buffer).
fn ntop6_into(out: &mut String, a: u128) {
    let w: [u16; 8] = std::array::from_fn(|i| (a >> (112 - 16 * i)) as u16);
    let (mut best, mut best_len, mut cur, mut cur_len) = (usize::MAX, 0, usize::MAX, 0);
    for (i, &x) in w.iter().enumerate() {
        if x == 0 {
            if cur == usize::MAX {
                cur = i;
                cur_len = 1;
            } else {
                cur_len += 1;
            }
            if cur_len > best_len {
                best = cur;
                best_len = cur_len;
            }
        } else {
            cur = usize::MAX;
            cur_len = 0;
        }
    }
    if best_len < 2 {
        best = usize::MAX;
    }
    // Written into a stack buffer (at most 39 bytes before an IPv4 tail), then appended
    // at once: a `push` per character checked the capacity on each.
    let mut buf = [0u8; 40];
    let mut n = 0;
    let mut put = |b: u8| {
        buf[n] = b;
        n += 1;
    };
    let mut i = 0;
    let mut v4_tail = false;
    while i < 8 {
        if i == best {
            put(b':');
            i += best_len;
            if i == 8 {
                put(b':');
            }
            continue;
        }
        if i != 0 {
            put(b':');
        }
        if i == 6 && best == 0 && (best_len == 6 || (best_len == 5 && w[5] == 0xffff)) {
            v4_tail = true;
            break;
        }
        let x = w[i];
        let digits = (16 - x.leading_zeros()).div_ceil(4).max(1);
        for k in (0..digits).rev() {
            put(b"0123456789abcdef"[usize::from((x >> (4 * k)) & 0xf)]);
        }
        i += 1;
    }
    out.push_str(std::str::from_utf8(&buf[..n]).unwrap_or_default());
    if v4_tail {
        out.push_str(&Ipv4Addr::from(a as u32).to_string());
    }
}

/// [`addr_of_family`] of an IPv6 capture without a cidr, written into `out` (cleared
/// first).
#[inline(never)]
pub fn ip6_id_into(out: &mut String, s: &str) {
    out.clear();
    match parse(s, Some(Family::V6), None) {
        Some(Parsed::V6(a, 128)) => ntop6_into(out, a),
        Some(p) => out.push_str(&ntoa(&p)),
        None => out.push_str(s),
    }
}

/// `IPAddr(s, FAM_IPvX)` or `IPAddr(s, int(cidr))`: the ID of an `ip4`/`ip6` capture.
pub fn addr_of_family(s: &str, fam: Family, cidr: Option<&str>) -> String {
    let prefix = cidr.filter(|c| !c.is_empty());
    let plen = match prefix {
        Some(c) => match parse_prefix(c) {
            Some(p) => Some(p),
            None => return s.to_string(),
        },
        None => None,
    };
    // An explicit cidr makes fail2ban try both families (the family is only forced
    // through the negative FAM_* pseudo-prefixes).
    let fam = if plen.is_some() { None } else { Some(fam) };
    match parse(s, fam, plen) {
        Some(p) => ntoa(&p),
        None => s.to_string(),
    }
}

/// `IPAddr(s)` with an unspecified family (failure IDs, plain IPs found in a DNS name).
pub fn addr_unspec(s: &str) -> String {
    let mut t = s;
    if t.chars().count() > 2 && t.starts_with('[') && t.ends_with(']') {
        t = &t[1..t.len() - 1];
    }
    let Some((ip, mask)) = t.split_once('/') else {
        return match parse(t, None, None) {
            Some(p) => ntoa(&p),
            None => t.to_string(),
        };
    };
    let plen = if mask.contains('.') || mask.contains(':') {
        mask_to_plen(mask)
    } else {
        parse_prefix(mask)
    };
    match plen {
        Some(p) => match parse(ip, None, Some(p)) {
            Some(pp) => ntoa(&pp),
            None => ip.to_string(),
        },
        None => ip.to_string(),
    }
}

/// `255.255.0.0` → 16 (fail2ban's `masktoplen`: the number of leading one bits).
fn mask_to_plen(mask: &str) -> Option<u64> {
    match parse(mask, None, None)? {
        Parsed::V4(a, _) => Some(u64::from(a.leading_ones())),
        Parsed::V6(a, _) => Some(u64::from(a.leading_ones())),
    }
}

/// fail2ban's `IPAddr.searchIP` + validity check, used by `textToIp` before any DNS query:
/// a name that is exactly a valid IPv4 address (`(?:\d{1,3}\.){3}\d{1,3}`) is that address.
pub fn plain_ipv4(text: &str) -> Option<String> {
    let parts: Vec<&str> = text.split('.').collect();
    let shape = parts.len() == 4
        && parts
            .iter()
            .all(|p| (1..=3).contains(&p.chars().count()) && p.chars().all(|c| c.is_numeric()));
    if !shape {
        return None;
    }
    text.parse::<Ipv4Addr>().ok().map(|a| a.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip6_id_into_is_addr_of_family() {
        let mut out = String::from("stale");
        for s in [
            "2001:DB8::0:1",
            "::ffff:102:304",
            "::1:2",
            "::",
            "1:0:0:2:0:0:0:3",
            "fe80::1:2:3:4",
            "not-an-address",
            "1.2.3.4",
        ] {
            ip6_id_into(&mut out, s);
            assert_eq!(out, addr_of_family(s, Family::V6, None), "{s}");
        }
    }

    /// Small deterministic generator for the tests below.
    fn lcg(seed: &mut u64) -> usize {
        (crate::testutil::lcg(seed) >> 33) as usize
    }

    /// Away from the IPv4 forms (first five words zero), glibc's text is RFC 5952's, which
    /// `Ipv6Addr` prints: lower-case groups without leading zeros, the longest run of two
    /// or more zero groups (the first on ties) as `::`.
    #[test]
    fn ntop6_is_rfc_5952_away_from_ipv4_forms() {
        let mut seed = 3;
        for _ in 0..100_000 {
            let w: [u16; 8] = std::array::from_fn(|_| {
                [0, 0, 0, 1, 0xf, 0xabc, 0x1000, 0xffff][lcg(&mut seed) % 8]
            });
            let a = w.iter().fold(0u128, |v, &g| v << 16 | u128::from(g));
            if a >> 48 == 0 {
                continue;
            }
            assert_eq!(ntop6(a), Ipv6Addr::from(a).to_string(), "{w:x?}");
        }
        assert_eq!(ntop6(0xffff_0102_0304), "::ffff:1.2.3.4");
        assert_eq!(ntop6(0x0102_0304), "::1.2.3.4");
    }

    /// The hex-and-colons parse gives `Ipv6Addr`'s answer on texts of groups of 0-5 digits
    /// and runs of one to three colons, in any order.
    #[test]
    fn ip6_hex_is_ipv6addr_s_parse() {
        let pieces = ["0", "1", "ab", "fFfF", "12345", "", ":", "::", ":::"];
        let mut seed = 5;
        let mut valid = 0;
        for _ in 0..200_000 {
            let n = 1 + lcg(&mut seed) % 16;
            let mut s = String::new();
            for k in 0..n {
                s.push_str(pieces[lcg(&mut seed) % pieces.len()]);
                if k % 2 == 0 {
                    s.push(':');
                }
            }
            let want = s.parse::<Ipv6Addr>().ok().map(u128::from);
            valid += usize::from(want.is_some());
            match ip6_hex(s.as_bytes()) {
                Some(got) => assert_eq!(got, want, "{s:?}"),
                None => assert!(s.is_empty(), "{s:?} was left to Ipv6Addr"),
            }
        }
        assert!(valid > 1_000, "{valid} valid texts");
        // Not hex and colons: left to `Ipv6Addr` (an embedded IPv4 address, say).
        assert_eq!(ip6_hex(b"::ffff:1.2.3.4"), None);
    }

    #[test]
    fn family_forms() {
        assert_eq!(
            addr_of_family("1.2.3.4", Family::V4, Some("24")),
            "1.2.3.0/24"
        );
        assert_eq!(addr_of_family("1.2.3.4", Family::V4, Some("0")), "0.0.0.0");
        assert_eq!(addr_of_family("1.2.3.4", Family::V4, Some("40")), "1.2.3.4");
        assert_eq!(addr_of_family("999.1.1.1", Family::V4, None), "999.1.1.1");
        assert_eq!(
            addr_of_family("192.030.0.6", Family::V4, None),
            "192.030.0.6"
        );
        assert_eq!(
            addr_of_family("2001:DB8::0:1", Family::V6, None),
            "2001:db8::1"
        );
        assert_eq!(
            addr_of_family("2001:db8::1", Family::V6, Some("64")),
            "2001:db8::/64"
        );
        assert_eq!(
            addr_of_family("::ffff:102:304", Family::V6, None),
            "1.2.3.4"
        );
        assert_eq!(addr_of_family("::1:2", Family::V6, None), "::0.1.0.2");
        assert_eq!(addr_of_family("::1", Family::V6, None), "::1");
        assert_eq!(addr_of_family("::", Family::V6, None), "::");
        assert_eq!(addr_of_family("1::", Family::V6, None), "1::");
        assert_eq!(
            addr_of_family("1:0:0:2:0:0:0:3", Family::V6, None),
            "1:0:0:2::3"
        );
    }

    #[test]
    fn fid_forms() {
        assert_eq!(addr_unspec("1.2.3.4/24"), "1.2.3.0/24");
        assert_eq!(addr_unspec("[1.2.3.4]"), "1.2.3.4");
        assert_eq!(addr_unspec("z/8"), "z");
        assert_eq!(addr_unspec("[::ffff:1.2.3.4]"), "1.2.3.4");
        assert_eq!(addr_unspec("1.2.3.4/255.255.0.0"), "1.2.0.0/16");
        assert_eq!(addr_unspec("bob"), "bob");
        assert_eq!(plain_ipv4("1.2.3.4").as_deref(), Some("1.2.3.4"));
        assert_eq!(plain_ipv4("host.example"), None);
    }
}
