//! fail2ban's regex tag expansion (`<HOST>`, `<F-ID/>`, `<F-NAME>…</F-NAME>`, …) and the
//! `((?i)X)` → `(?i:X)` rewrite, producing exactly the string fail2ban 1.0.2 compiles
//! (spec 2.1; verified against every stock regex in the module tests).

use super::translate::IP6_RE;
use super::UseDns;

const IP4_RE: &str = r"(?:\d{1,3}\.){3}\d{1,3}";

fn ip4_tag() -> String {
    format!("(?:::f{{4,6}}:)?(?P<ip4>{IP4_RE})")
}

fn ip6_tag() -> String {
    format!("(?P<ip6>{IP6_RE})")
}

const DNS_TAG: &str = r"(?P<dns>[\w\-.^_]*\w)";
const CIDR_TAG: &str = r"(?P<cidr>\d+)";

fn addr_tag() -> String {
    format!(r"\[?(?:{}|{})\]?", ip4_tag(), ip6_tag())
}

fn host_tag(usedns: UseDns) -> String {
    match usedns {
        UseDns::No => addr_tag(),
        _ => format!("(?:{}|{DNS_TAG})", addr_tag()),
    }
}

fn subnet_tag() -> String {
    format!(r"\[?(?:{}|{})(?:/{CIDR_TAG})?\]?", ip4_tag(), ip6_tag())
}

/// Static replacements (fail2ban's `RH4TAG`).
fn static_tag(name: &str) -> Option<String> {
    Some(match name {
        "IP4" | "F-IP4/" => ip4_tag(),
        "IP6" | "F-IP6/" => ip6_tag(),
        "ADDR" | "F-ADDR/" => addr_tag(),
        "CIDR" | "F-CIDR/" => CIDR_TAG.to_string(),
        "SUBNET" | "F-SUBNET/" => subnet_tag(),
        "DNS" | "F-DNS/" => DNS_TAG.to_string(),
        "F-ID/" => r"(?P<fid>\S+)".to_string(),
        "F-PORT/" => r"(?P<fport>\w+)".to_string(),
        _ => return None,
    })
}

/// Errors raised while adding a regex (before compilation).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TagError {
    #[error("Cannot add empty regex")]
    Empty,
}

/// Python's `\w` for str patterns: general categories L* and N*, and `_`.
fn is_py_word(c: char) -> bool {
    if c.is_ascii() {
        return c == '_' || c.is_ascii_alphanumeric();
    }
    static WORD: std::sync::OnceLock<Option<regex_automata::meta::Regex>> =
        std::sync::OnceLock::new();
    let mut buf = [0u8; 4];
    WORD.get_or_init(|| regex_automata::meta::Regex::new(r"\A[\p{L}\p{N}_]\z").ok())
        .as_ref()
        .is_some_and(|r| r.is_match(c.encode_utf8(&mut buf).as_bytes()))
}

/// Maps a custom tag name to its group name (fail2ban's `mapTag2Opt`).
fn map_tag_to_opt(name: &str) -> String {
    let l = name.to_lowercase();
    match l.as_str() {
        "id" => "fid".to_string(),
        "port" => "fport".to_string(),
        _ => l,
    }
}

/// Expands fail2ban's tags in `regex` (spec 2.1) and applies the `((?i)X)` rewrite.
/// The result is Python `re` syntax, identical to what fail2ban passes to `re.compile`.
pub fn expand_tags(regex: &str, usedns: UseDns) -> Result<String, TagError> {
    let chars: Vec<char> = regex.chars().collect();
    let mut out = String::with_capacity(regex.len() * 2);
    let mut open: Vec<String> = Vec::new();
    let mut skiplines = 0usize;
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '<' {
            if let Some(end) = tag_end(&chars, i) {
                let tag: String = chars[i..=end].iter().collect();
                let tn = &tag[1..tag.len() - 1];
                out.push_str(&subst_tag(&tag, tn, usedns, &mut open, &mut skiplines));
                i = end + 1;
                continue;
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    if out.trim_start().is_empty() {
        return Err(TagError::Empty);
    }
    Ok(glob_to_local_flags(&out))
}

/// Matches fail2ban's tag regex `</?[\w\-]+/?>` at `i`; returns the index of `>`.
fn tag_end(chars: &[char], i: usize) -> Option<usize> {
    let mut j = i + 1;
    if chars.get(j) == Some(&'/') {
        j += 1;
    }
    let k0 = j;
    while chars.get(j).is_some_and(|&c| c == '-' || is_py_word(c)) {
        j += 1;
    }
    if j == k0 {
        return None;
    }
    if chars.get(j) == Some(&'/') {
        j += 1;
    }
    (chars.get(j) == Some(&'>')).then_some(j)
}

fn subst_tag(
    tag: &str,
    tn: &str,
    usedns: UseDns,
    open: &mut Vec<String>,
    skiplines: &mut usize,
) -> String {
    if tn == "HOST" {
        return host_tag(usedns);
    }
    if tn == "SKIPLINES" {
        let n = *skiplines;
        *skiplines += 1;
        return format!(r"\n(?P<skiplines{n}>(?:(?:.*\n)*?))");
    }
    if let Some(s) = static_tag(tn) {
        return s;
    }
    // `^(/?)F-([A-Z0-9_\-]+)$`: custom groups, upper case only.
    let (close, rest) = match tn.strip_prefix('/') {
        Some(r) => (true, r),
        None => (false, tn),
    };
    if let Some(name) = rest.strip_prefix("F-") {
        if !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_' || c == '-')
        {
            if close {
                // Only a tag opened earlier in this regex is closed; otherwise it stays text.
                return if open.iter().any(|o| o == name) {
                    ")".to_string()
                } else {
                    tag.to_string()
                };
            }
            open.push(name.to_string());
            return format!("(?P<{}>", map_tag_to_opt(name));
        }
    }
    tag.to_string()
}

/// fail2ban's `R_GLOB2LOCFLAGS`: `(?<!\\)\((?:\?:)?(\(\?[a-z]+)\)` → `\1:`, so that
/// `((?i)X)` and `(?:(?i)X)` become `(?i:X)`.
fn glob_to_local_flags(s: &str) -> String {
    let c: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    'outer: while i < c.len() {
        if c[i] == '(' && (i == 0 || c[i - 1] != '\\') {
            for skip in [true, false] {
                let mut j = i + 1;
                if skip {
                    if c.get(j) == Some(&'?') && c.get(j + 1) == Some(&':') {
                        j += 2;
                    } else {
                        continue;
                    }
                }
                if c.get(j) == Some(&'(') && c.get(j + 1) == Some(&'?') {
                    let mut k = j + 2;
                    while c.get(k).is_some_and(|x| x.is_ascii_lowercase()) {
                        k += 1;
                    }
                    if k > j + 2 && c.get(k) == Some(&')') {
                        out.extend(&c[j..k]);
                        out.push(':');
                        i = k + 1;
                        continue 'outer;
                    }
                }
            }
        }
        out.push(c[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_tags() {
        let e = expand_tags(
            "^<F-USER>.*</F-USER> <F-ID>x</F-ID> <F-PORT/> </F-FOO> <f-user> <F-USER/> <foo>",
            UseDns::Yes,
        )
        .unwrap();
        assert_eq!(
            e,
            r"^(?P<user>.*) (?P<fid>x) (?P<fport>\w+) </F-FOO> <f-user> <F-USER/> <foo>"
        );
        assert_eq!(
            expand_tags("<SKIPLINES>a<SKIPLINES>", UseDns::No).unwrap(),
            r"\n(?P<skiplines0>(?:(?:.*\n)*?))a\n(?P<skiplines1>(?:(?:.*\n)*?))"
        );
        assert_eq!(expand_tags("  ", UseDns::No), Err(TagError::Empty));
        assert_eq!(
            glob_to_local_flags(r"(?:(?i)expn|vrfy) ((?i)x) \((?i)y)"),
            r"(?i:expn|vrfy) (?i:x) \((?i)y)"
        );
    }

    #[test]
    fn host_depends_on_usedns() {
        assert!(expand_tags("<HOST>", UseDns::Yes)
            .unwrap()
            .contains("(?P<dns>"));
        assert!(expand_tags("<HOST>", UseDns::Raw)
            .unwrap()
            .contains("(?P<dns>"));
        assert!(!expand_tags("<HOST>", UseDns::No)
            .unwrap()
            .contains("(?P<dns>"));
    }

    /// Every stock regex: expanding `raw` gives exactly fail2ban's `final` string.
    #[test]
    fn stock_regexes_expand_exactly() {
        let Some(json) = crate::pattern::testdata::stock_json() else {
            return;
        };
        let mut n = 0;
        for (name, f, variant) in crate::pattern::testdata::all_variants(&json) {
            let _ = name;
            for (kind, raw, fin) in crate::pattern::testdata::regexes(f) {
                let got = expand_tags(&raw, UseDns::Warn)
                    .unwrap_or_else(|e| panic!("{variant} {kind}: {e}"));
                assert_eq!(got, fin, "{variant} {kind}");
                n += 1;
            }
        }
        assert!(n > 500, "only {n} regexes checked");
    }

    #[test]
    fn host_tags_match_json() {
        let Some(json) = crate::pattern::testdata::stock_json() else {
            return;
        };
        for (mode, dns) in [("usedns=yes", UseDns::Yes), ("usedns=no", UseDns::No)] {
            let tags = &json["host_tags"][mode];
            for (tag, want) in tags.as_object().into_iter().flatten() {
                assert_eq!(
                    expand_tags(tag, dns).unwrap(),
                    want.as_str().unwrap_or_default(),
                    "{mode} {tag}"
                );
            }
        }
    }
}
