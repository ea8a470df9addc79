//! Date templates: turning a fail2ban `datepattern` (or one of the 17 default patterns) into a
//! named regex, a display name, anchoring flags and a weight, the way fail2ban 1.0.2 builds them
//! (spec section 4.2/4.3). The string transformations are re-implemented by hand; the resulting
//! Python regex is then lightly translated and compiled with fancy-regex, which is the exact
//! (reference) matching engine.
//!
//! Compiling is the expensive part (tens of milliseconds for the 31 defaults, mostly the Unicode
//! classes of `(?iu)` and `\w`), while a real log only ever searches one or two templates with
//! a regex. So a template built from one of the built-in default patterns compiles its regex
//! lazily on first use ([`Template::regex`]); one built from a user's datepattern compiles
//! eagerly, so that a bad pattern is still an error when the detector is built.

use std::sync::OnceLock;

use super::DateError;

/// fail2ban's `DateTemplate.LINE_BEGIN`: the template is anchored at line start (`^`, `{^LN-BEG}`).
pub(crate) const LINE_BEGIN: u8 = 8;
/// fail2ban's `DateTemplate.LINE_END`: the template ends with `$`.
pub(crate) const LINE_END: u8 = 4;
const WORD_BEGIN: u8 = 2;
const WORD_END: u8 = 1;

/// The 17 default patterns of fail2ban 1.0.2, in their initial order (spec 4.1 table).
pub(crate) const DEFAULT_PATTERNS: [&str; 17] = [
    r"%ExY(?P<_sep>[-/.])%m(?P=_sep)%d(?:T|  ?)%H:%M:%S(?:[.,]%f)?(?:\s*%z)?",
    r"(?:%a )?%b %d %k:%M:%S(?:\.%f)?(?: %ExY)?",
    r"(?:%a )?%b %d %ExY %k:%M:%S(?:\.%f)?",
    r"%d(?P<_sep>[-/])%m(?P=_sep)(?:%ExY|%Exy) %k:%M:%S",
    r"%d(?P<_sep>[-/])%b(?P=_sep)%ExY[ :]?%H:%M:%S(?:\.%f)?(?: %z)?",
    r"%m/%d/%ExY:%H:%M:%S",
    r"%m-%d-%ExY %k:%M:%S(?:\.%f)?",
    "EPOCH",
    r"{^LN-BEG}%H:%M:%S",
    r"^<%m/%d/%Exy@%H:%M:%S>",
    r"%Exy%Exm%Exd  ?%H:%M:%S",
    r"%b %d, %ExY %I:%M:%S %p",
    r"^%b-%d-%Exy %k:%M:%S",
    r"%ExY%Exm%Exd(?:T|  ?)%ExH%ExM%ExS(?:[.,]%f)?(?:\s*%z)?",
    r"(?:%Z )?(?:%a )?%b %d %k:%M:%S(?:\.%f)?(?: %ExY)?",
    r"(?:%z )?(?:%a )?%b %d %k:%M:%S(?:\.%f)?(?: %ExY)?",
    "TAI64N",
];

/// How the date text of a match becomes a time.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Kind {
    /// `%`-directives read from named groups (fail2ban's `DatePatternRegex`).
    Pattern,
    /// Unix seconds in capture group `group`; `long` = LEPOCH (milli/micro seconds).
    Epoch { long: bool, group: usize },
    /// `@4000000…`: 15 hex digits of seconds.
    Tai64n,
}

/// Hand-written matchers for the hot Asterisk/syslog templates (see `fast.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FastKind {
    /// `{^LN-BEG}%ExY(?P<_sep>[-/.])%m(?P=_sep)%d(?:T|  ?)%H:%M:%S(?:[.,]%f)?(?:\s*%z)?`
    IsoLineBegin,
    /// `{^LN-BEG}(?:%a )?%b %d %k:%M:%S(?:\.%f)?(?: %ExY)?`
    SyslogLineBegin,
}

/// One date template. Its regex is compiled at most once per process: the template lives in
/// an `Arc` shared by every clone of the detector, and the `OnceLock` makes the first use
/// thread-safe.
#[derive(Debug)]
pub(crate) struct Template {
    pub name: String,
    /// The pattern it was built from (None for the built-in EPOCH/TAI64N classes).
    pub pattern: Option<String>,
    /// The final regex in Python syntax, exactly as fail2ban builds it.
    pub regex_src: String,
    /// The compiled regex (None: it failed to compile, which only a broken built-in default
    /// could do; user patterns are compiled when built). Read it through [`Template::regex`].
    regex: OnceLock<Option<fancy_regex::Regex>>,
    pub flags: u8,
    pub weight: f64,
    pub kind: Kind,
    pub fast: Option<FastKind>,
}

impl Template {
    pub(crate) fn anchored(&self) -> bool {
        self.flags & (LINE_BEGIN | LINE_END) != 0
    }

    /// True once the regex has been compiled (tests check the defaults stay lazy).
    #[cfg(test)]
    pub(crate) fn is_compiled(&self) -> bool {
        self.regex.get().is_some()
    }

    /// The compiled regex, compiling it on first use. None only if a lazily built template
    /// does not compile (a unit test compiles every default, so this does not happen); the
    /// template then never matches, rather than aborting a scan.
    pub(crate) fn regex(&self) -> Option<&fancy_regex::Regex> {
        self.regex
            .get_or_init(|| compile(&self.name, &self.regex_src).ok())
            .as_ref()
    }
}

/// Compiles a template's Python regex with fancy-regex.
fn compile(name: &str, regex_src: &str) -> Result<fancy_regex::Regex, DateError> {
    fancy_regex::RegexBuilder::new(&translate_python_regex(regex_src))
        .backtrack_limit(1_000_000)
        .build()
        .map_err(|e| DateError::Regex {
            name: name.to_string(),
            reason: e.to_string(),
        })
}

/// When a template's regex is compiled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Compile {
    /// Now, so that an error surfaces while building (user datepatterns).
    Eager,
    /// On first use (the known-good built-in defaults and their anchored copies).
    Lazy,
}

/// Context needed to build templates: the `%ExY` year class depends on the current year.
#[derive(Debug, Clone)]
pub(crate) struct BuildCtx {
    /// Regex body of `%ExY` without the group, e.g. `20[012]\d`.
    pub exy: String,
}

impl BuildCtx {
    pub(crate) fn new(local_year: i32) -> Self {
        BuildCtx {
            exy: format!("{}\\d", year_prefix_regex(&year_prefixes(local_year))),
        }
    }
}

/// The 3-digit year prefixes `%ExY` accepts (spec 4.4): current year − 1, current year + 3, and
/// 2000, 2003, … up to the current year (fail2ban always mixes in its 2001 "alternate now").
pub(crate) fn year_prefixes(year: i32) -> Vec<String> {
    let cent = |y: i32| {
        let s = y.to_string();
        s.chars().take(3).collect::<String>()
    };
    let mut set = std::collections::BTreeSet::new();
    set.insert(cent(year - 1));
    set.insert(cent(year + 3));
    let mut y = 2000;
    while y <= year {
        set.insert(cent(y));
        y += 3;
    }
    set.into_iter().collect()
}

/// Compacts a sorted set of equal-length digit strings into a regex the way fail2ban's year
/// helper does: a shared stem of all-but-last characters, else a shared first character, then
/// recursion; single characters become a class, longer ones an alternation.
fn year_prefix_regex(items: &[String]) -> String {
    if items.len() > 1 {
        let stem = |take: &dyn Fn(&str) -> String| -> Option<String> {
            let first = take(&items[0]);
            if items.iter().all(|i| take(i) == first) && !first.is_empty() {
                Some(first)
            } else {
                None
            }
        };
        let common = stem(&|s: &str| s[..s.len().saturating_sub(1)].to_string())
            .or_else(|| stem(&|s: &str| s.chars().take(1).collect()));
        if let Some(c) = common {
            let rest: Vec<String> = items.iter().map(|i| i[c.len()..].to_string()).collect();
            return format!("{c}{}", year_prefix_regex(&rest));
        }
        if items[0].len() > 1 {
            format!("(?:{})", items.join("|"))
        } else {
            format!("[{}]", items.concat())
        }
    } else {
        items.concat()
    }
}

/// Multi-character directive keys, tried before single letters (fail2ban's key order).
const LONG_KEYS: [&str; 11] = [
    "ExZ", "Exz", "Exd", "Exm", "ExH", "Exk", "Exl", "ExM", "ExS", "ExY", "Exy",
];
const SHORT_KEYS: &str = "dfHIGjmMSUwuVyYzAaBbpZ%WcxXkl";

const MONTHS_FULL: &str =
    "september|february|november|december|january|october|august|march|april|june|july|may";
const WEEKDAYS_FULL: &str = "wednesday|thursday|saturday|tuesday|monday|friday|sunday";
const MONTHS_ABBR: &str = "jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec";
const WEEKDAYS_ABBR: &str = "mon|tue|wed|thu|fri|sat|sun";
const TZ_ABBR: &str = "[A-Z](?:[A-Z]{2,4})?";

/// Regex and display name of one `%` directive (spec 4.3 table; Python's C-locale `TimeRE`
/// plus fail2ban's overrides).
fn directive(key: &str, ctx: &BuildCtx) -> Option<(String, &'static str)> {
    let r = |s: &str| s.to_string();
    Some(match key {
        "%" => (r("%"), "%"),
        "a" => (format!("(?P<a>{WEEKDAYS_ABBR})"), "DAY"),
        "A" => (format!("(?P<A>{WEEKDAYS_FULL})"), "DAYNAME"),
        "b" => (format!("(?P<b>{MONTHS_ABBR})"), "MON"),
        "B" => (format!("(?P<B>{MONTHS_FULL})"), "MONTH"),
        "c" => (
            format!(
                "(?P<a>{WEEKDAYS_ABBR})\\s+(?P<b>{MONTHS_ABBR})\\s+(?P<d>3[0-1]|[1-2]\\d|0[1-9]|[1-9]| [1-9])\\s+(?P<H>2[0-3]|[0-1]\\d|\\d):(?P<M>[0-5]\\d|\\d):(?P<S>6[0-1]|[0-5]\\d|\\d)\\s+(?P<Y>\\d\\d\\d\\d)"
            ),
            "%c",
        ),
        "d" => (r(r"(?P<d>[1-2]\d|[0 ]?[1-9]|3[0-1])"), "Day"),
        "f" => (r(r"(?P<f>[0-9]{1,6})"), "Microseconds"),
        "G" => (r(r"(?P<G>\d\d\d\d)"), "%G"),
        "H" => (r(r"(?P<H>[0-1]?\d|2[0-3])"), "24hour"),
        "I" => (r(r"(?P<I>1[0-2]|0[1-9]|[1-9])"), "12hour"),
        "j" => (
            r(r"(?P<j>36[0-6]|3[0-5]\d|[1-2]\d\d|0[1-9]\d|00[1-9]|[1-9]\d|0[1-9]|[1-9])"),
            "Yearday",
        ),
        "k" => (r(r" ?(?P<H>[0-2]?\d)"), "%k"),
        "l" => (r(r" ?(?P<I>1?\d)"), "%l"),
        "m" => (r(r"(?P<m>0?[1-9]|1[0-2])"), "Month"),
        "M" => (r(r"(?P<M>[0-5]?\d)"), "Minute"),
        "p" => (r("(?P<p>am|pm)"), "AMPM"),
        "S" => (r(r"(?P<S>[0-5]?\d|6[0-1])"), "Second"),
        "U" => (r(r"(?P<U>5[0-3]|[0-4]\d|\d)"), "Yearweek"),
        "u" => (r("(?P<u>[1-7])"), "%u"),
        "V" => (r(r"(?P<V>5[0-3]|0[1-9]|[1-4]\d|\d)"), "%V"),
        "w" => (r("(?P<w>[0-6])"), "Weekday"),
        "W" => (r(r"(?P<W>5[0-3]|[0-4]\d|\d)"), "Yearweek"),
        "x" => (
            r(r"(?P<m>1[0-2]|0[1-9]|[1-9])/(?P<d>3[0-1]|[1-2]\d|0[1-9]|[1-9]| [1-9])/(?P<y>\d\d)"),
            "%x",
        ),
        "X" => (
            r(r"(?P<H>2[0-3]|[0-1]\d|\d):(?P<M>[0-5]\d|\d):(?P<S>6[0-1]|[0-5]\d|\d)"),
            "%X",
        ),
        "y" => (r(r"(?P<y>\d\d)"), "Year2"),
        "Y" => (r(r"(?P<Y>\d{4})"), "Year"),
        "z" => (r(r"(?P<z>Z|UTC|GMT|[+-][01]\d(?::?\d{2})?)"), "Zone offset"),
        "Z" => (r("(?P<Z>Z|[A-Z]{3,5})"), "Zone name"),
        "ExZ" => (format!("(?P<Z>{TZ_ABBR})"), "ExZone name"),
        "Exz" => (
            format!("(?P<z>(?:{TZ_ABBR})?[+-][01]\\d(?::?\\d{{2}})?|{TZ_ABBR})"),
            "ExZone offset",
        ),
        "Exd" => (r(r"(?P<d>[1-2]\d|0[1-9]|3[0-1])"), "ExDay"),
        "Exm" => (r("(?P<m>0[1-9]|1[0-2])"), "ExMonth"),
        "ExH" => (r(r"(?P<H>[0-1]\d|2[0-3])"), "Ex24hour"),
        // fail2ban names `%Exk`/`%Exl` "Ex%k"/"Ex%l" or "%Exk"/"%Exl" depending on Python's
        // set iteration order (hash seed); we always use the latter.
        "Exk" => (r(r" ?(?P<H>[0-1]?\d|2[0-3])"), "%Exk"),
        "Exl" => (r(r" ?(?P<I>1[0-2]|\d)"), "%Exl"),
        "ExM" => (r(r"(?P<M>[0-5]\d)"), "ExMinute"),
        "ExS" => (r(r"(?P<S>[0-5]\d|6[0-1])"), "ExSecond"),
        "ExY" => (format!("(?P<Y>{})", ctx.exy), "ExYear"),
        "Exy" => (r(r"(?P<y>\d{2})"), "ExYear2"),
        _ => return None,
    })
}

/// Replaces every `%` directive by its regex and its display name. A `%` that starts no known
/// directive is an error, as Python's `%`-formatting of the intermediate string fails then.
fn expand_directives(pattern: &str, ctx: &BuildCtx) -> Result<(String, String), String> {
    let mut regex = String::with_capacity(pattern.len() * 4);
    let mut name = String::with_capacity(pattern.len() * 2);
    let mut rest = pattern;
    while let Some(p) = rest.find('%') {
        regex.push_str(&rest[..p]);
        name.push_str(&rest[..p]);
        let after = &rest[p + 1..];
        let key = if after.starts_with('%') {
            Some("%")
        } else if let Some(k) = LONG_KEYS.iter().find(|k| after.starts_with(**k)) {
            Some(*k)
        } else {
            after
                .chars()
                .next()
                .filter(|c| SHORT_KEYS.contains(*c))
                .map(|c| &after[..c.len_utf8()])
        };
        let Some(key) = key else {
            return Err(format!(
                "unsupported format character at {:?}",
                after.chars().next().map(String::from).unwrap_or_default()
            ));
        };
        let (re, nm) = directive(key, ctx).ok_or_else(|| format!("unknown directive %{key}"))?;
        regex.push_str(&re);
        name.push_str(nm);
        rest = &after[key.len()..];
    }
    regex.push_str(rest);
    name.push_str(rest);
    Ok((regex, name))
}

/// `\w` for the single-character checks of the boundary heuristics (Python `str` semantics).
fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Length of a `(?flags)` group (`\(\?\w+\)`) at the start of `s`, if any.
fn flag_group_len(s: &str) -> Option<usize> {
    let body = s.strip_prefix("(?")?;
    let n: usize = body
        .chars()
        .take_while(|c| is_word(*c))
        .map(char::len_utf8)
        .sum();
    (n > 0 && body[n..].starts_with(')')).then_some(n + 3)
}

/// The first global flag group `(?letters)` anywhere in the regex (fail2ban moves it to the
/// front after adding boundaries).
fn find_global_flags(s: &str) -> Option<(usize, usize)> {
    let b = s.as_bytes();
    let mut i = 0;
    while let Some(p) = s[i..].find("(?") {
        let st = i + p;
        let mut j = st + 2;
        while j < b.len() && b[j].is_ascii_lowercase() {
            j += 1;
        }
        if j > st + 2 && j < b.len() && b[j] == b')' {
            return Some((st, j + 1));
        }
        i = st + 1;
    }
    None
}

/// True when the regex opens with a line anchor or a `**` marker, so no start boundary is added.
fn no_word_bound_begin(s: &str) -> bool {
    let n = s.bytes().take_while(|b| *b == b'(').count();
    (0..=n).rev().any(|k| {
        let rest = &s[k..];
        let mut opts = vec![rest];
        if let Some(l) = flag_group_len(rest) {
            opts.insert(0, &rest[l..]);
        }
        opts.into_iter().any(|r| {
            r.starts_with('^')
                || r.trim_start_matches('(').starts_with("**")
                || r.starts_with("(^")
                || r.starts_with("(?:^")
        })
    })
}

fn preceded_by(s: &str, p: usize, set: &[u8]) -> bool {
    p > 0 && set.contains(&s.as_bytes()[p - 1])
}

/// True when the regex ends with `$`, `$)`, `\b`, `\s` or `**` (+ closing parens), unescaped.
fn no_word_bound_end(s: &str) -> bool {
    let len = s.len();
    let mut cands = Vec::new();
    if s.ends_with('$') {
        cands.push(len - 1);
    }
    if s.ends_with("$)") {
        cands.push(len - 2);
    }
    if s.ends_with("\\b") || s.ends_with("\\s") {
        cands.push(len - 2);
    }
    let t = s.trim_end_matches(')');
    if t.ends_with("**") {
        cands.push(t.len() - 2);
    }
    cands.into_iter().any(|p| !preceded_by(s, p, b"\\"))
}

/// True if the regex holds a plain capturing group: `(` not escaped, not after `(?`, not `(?`.
fn has_plain_group(s: &str) -> bool {
    let b = s.as_bytes();
    (0..b.len()).any(|i| {
        b[i] == b'('
            && !(i >= 2 && &b[i - 2..i] == b"(?")
            && !(i >= 1 && b[i - 1] == b'\\')
            && b.get(i + 1) != Some(&b'?')
    })
}

/// Wraps the body in group 1, keeping leading flag groups / `^` and a trailing `$` outside.
fn wrap_group(s: &str) -> String {
    let mut p = 0;
    if let Some(l) = flag_group_len(s) {
        p += l;
    }
    if s[p..].starts_with('^') {
        p += 1;
    }
    if let Some(l) = flag_group_len(&s[p..]) {
        p += l;
    }
    let (body, tail) = match s[p..].strip_suffix('$') {
        Some(b) => (b, "$"),
        None => (&s[p..], ""),
    };
    format!("{}({}){}", &s[..p], body, tail)
}

fn line_bound_begin(s: &str) -> bool {
    let check = |r: &str| {
        r.starts_with('^')
            || ["(^", "(?:^"]
                .iter()
                .any(|p| r.starts_with(p) && !r[p.len()..].starts_with('|'))
    };
    check(s) || flag_group_len(s).is_some_and(|l| check(&s[l..]))
}

fn line_bound_end(s: &str) -> bool {
    let len = s.len();
    let ok = |p: usize| !preceded_by(s, p, b"\\|");
    (s.ends_with('$') && ok(len - 1)) || (s.ends_with("$)") && ok(len - 2))
}

/// Removes the `**` markers at the start (after parens/flags) and at the end.
fn delete_star_markers(s: &str) -> String {
    let mut out = s.to_string();
    let mut start_end = 0;
    let n = s.bytes().take_while(|b| *b == b'(').count();
    'outer: for k in (0..=n).rev() {
        let rest = &s[k..];
        let mut opts = Vec::new();
        if let Some(l) = flag_group_len(rest) {
            opts.push(k + l);
        }
        opts.push(k);
        for off in opts {
            let parens = s[off..].bytes().take_while(|b| *b == b'(').count();
            let at = off + parens;
            if s[at..].starts_with("**") {
                out = format!("{}{}", &s[..at], &s[at + 2..]);
                start_end = at;
                break 'outer;
            }
        }
    }
    // End marker: searched after the start match, in the (possibly shortened) string.
    let t = out.trim_end_matches(')');
    if t.ends_with("**") {
        let p = t.len() - 2;
        if p >= start_end && !preceded_by(&out, p, b"\\") {
            out = format!("{}{}", &out[..p], &out[p + 2..]);
        }
    }
    out
}

/// How the start of a template is bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WordBegin {
    No,
    Word,
    Start,
}

/// fail2ban's `DateTemplate.setRegex`: boundaries, group 1, flags, `**` markers. Returns the
/// final regex, the flags and the (possibly `{^LN-BEG}`-prefixed) name.
fn set_regex(regex: &str, wb: WordBegin, we: bool, name: &mut String) -> (String, u8) {
    let mut regex = regex.trim().to_string();
    let gf = find_global_flags(&regex).map(|(a, b)| {
        let f = regex[a..b].to_string();
        regex.replace_range(a..b, "");
        f
    });
    let bound_begin = wb != WordBegin::No && !no_word_bound_begin(&regex);
    let bound_end = we && !no_word_bound_end(&regex);
    if !has_plain_group(&regex) {
        regex = wrap_group(&regex);
    }
    let mut flags = 0;
    if bound_begin {
        if wb == WordBegin::Start {
            flags |= LINE_BEGIN;
            regex = format!(r"^(?:\W{{0,2}})?{regex}");
            if !name.starts_with("{^LN-BEG}") {
                name.insert_str(0, "{^LN-BEG}");
            }
        } else {
            flags |= WORD_BEGIN;
            regex = format!(r"(?=^|\b|\W){regex}");
        }
    }
    if bound_end {
        flags |= WORD_END;
        regex.push_str(r"(?=\b|\W|$)");
    }
    if flags & LINE_BEGIN == 0 && line_bound_begin(&regex) {
        flags |= LINE_BEGIN;
    }
    if flags & LINE_END == 0 && line_bound_end(&regex) {
        flags |= LINE_END;
    }
    regex = delete_star_markers(&regex);
    if let Some(f) = gf {
        regex.insert_str(0, &f);
    }
    (regex, flags)
}

/// True if the pattern holds an unescaped `{EPOCH}` or `{LEPOCH}` (any case).
fn epoch_placeholder(s: &str) -> bool {
    find_epoch_placeholders(s).next().is_some()
}

fn find_epoch_placeholders(s: &str) -> impl Iterator<Item = (usize, usize)> + '_ {
    let up = s.to_ascii_uppercase();
    let mut res = Vec::new();
    let mut i = 0;
    while let Some(p) = up[i..].find('{') {
        let st = i + p;
        let esc = preceded_by(s, st, b"\\");
        for w in ["{EPOCH}", "{LEPOCH}"] {
            if !esc && up[st..].starts_with(w) {
                res.push((st, st + w.len()));
            }
        }
        i = st + 1;
    }
    res.into_iter()
}

const EPOCH_RE: &str = r"\d{10,11}\b(?:\.\d{3,6})?";
const LEPOCH_RE: &str = r"\d{10,11}(?:\d{3}(?:\.\d{1,6}|\d{3})?)?";

/// Builds the template for one pattern, dispatching on its key like fail2ban's
/// `_getPatternTemplate` (key = the pattern, upper-cased when it holds no `%`).
pub(crate) fn pattern_template(
    pattern: &str,
    ctx: &BuildCtx,
    when: Compile,
) -> Result<Template, DateError> {
    let key = if pattern.contains('%') {
        pattern.to_string()
    } else {
        pattern.to_uppercase()
    };
    if key.contains("EPOCH") {
        let long = key.contains("LEPOCH");
        let ere = if long { LEPOCH_RE } else { EPOCH_RE };
        if epoch_placeholder(pattern) {
            let mut body = String::new();
            let mut last = 0;
            for (a, b) in find_epoch_placeholders(pattern) {
                body.push_str(&pattern[last..a]);
                body.push_str(&format!("({ere})"));
                last = b;
            }
            body.push_str(&pattern[last..]);
            let mut name = pattern.to_string();
            let (re, flags) = set_regex(&format!("({body})"), WordBegin::Word, true, &mut name);
            return finish(name, None, re, flags, Kind::Epoch { long, group: 2 }, when);
        }
        let base = if long { "LEPOCH" } else { "EPOCH" };
        if key == base || key == format!("{{^LN-BEG}}{base}") || key == format!("^{base}") {
            let line_begin = key != base;
            let mut name = if long { "LongEpoch" } else { "Epoch" }.to_string();
            let (re, flags) = if !line_begin {
                let src = r"((?:^|(?P<square>(?<=^\[))|(?P<selinux>(?<=\baudit\()))%E)(?:(?(selinux)(?=:\d+\)))|(?(square)(?=\])))"
                    .replace("%E", ere);
                set_regex(&src, WordBegin::No, true, &mut name)
            } else {
                let src = r"((?P<square>(?<=^\[))?%E)(?(square)(?=\]))".replace("%E", ere);
                set_regex(&src, WordBegin::Start, true, &mut name)
            };
            return finish(name, None, re, flags, Kind::Epoch { long, group: 1 }, when);
        }
    }
    if key == "TAI64N" || key == "{^LN-BEG}TAI64N" || key == "^TAI64N" {
        let wb = if key == "TAI64N" {
            WordBegin::No
        } else {
            WordBegin::Start
        };
        let mut name = "TAI64N".to_string();
        let (re, flags) = set_regex("@[0-9a-f]{24}", wb, true, &mut name);
        return finish(name, None, re, flags, Kind::Tai64n, when);
    }
    regex_pattern_template(pattern, ctx, when)
}

/// fail2ban's `DatePatternRegex.setRegex`.
fn regex_pattern_template(
    pattern: &str,
    ctx: &BuildCtx,
    when: Compile,
) -> Result<Template, DateError> {
    let orig = pattern;
    let mut p = pattern;
    let (mut wb, mut we) = (WordBegin::Word, true);
    if let Some(r) = p.strip_prefix("{UNB}") {
        p = r;
        wb = WordBegin::No;
        we = false;
    }
    if wb != WordBegin::No {
        if let Some(r) = p.strip_prefix("{^LN-BEG}") {
            p = r;
            wb = WordBegin::Start;
        }
    }
    let (mut regex, mut name) =
        expand_directives(p, ctx).map_err(|e| DateError::InvalidPattern {
            pattern: orig.to_string(),
            reason: e,
        })?;
    // `(?<!%)%[aAbBpc]`: alphabetic fields make the whole template case-insensitive.
    let b = p.as_bytes();
    let alpha = (0..b.len().saturating_sub(1))
        .any(|i| b[i] == b'%' && b"aAbBpc".contains(&b[i + 1]) && !(i > 0 && b[i - 1] == b'%'));
    if alpha {
        regex.insert_str(0, "(?iu)");
    }
    let (re, flags) = set_regex(&regex, wb, we, &mut name);
    finish(name, Some(orig.to_string()), re, flags, Kind::Pattern, when)
}

fn finish(
    name: String,
    pattern: Option<String>,
    regex_src: String,
    flags: u8,
    kind: Kind,
    when: Compile,
) -> Result<Template, DateError> {
    let regex = match when {
        Compile::Eager => OnceLock::from(Some(compile(&name, &regex_src)?)),
        Compile::Lazy => OnceLock::new(),
    };
    let fast = match (pattern.as_deref(), &kind) {
        (Some(p), Kind::Pattern) if p == format!("{{^LN-BEG}}{}", DEFAULT_PATTERNS[0]) => {
            Some(FastKind::IsoLineBegin)
        }
        (Some(p), Kind::Pattern) if p == format!("{{^LN-BEG}}{}", DEFAULT_PATTERNS[1]) => {
            Some(FastKind::SyslogLineBegin)
        }
        _ => None,
    };
    Ok(Template {
        name,
        pattern,
        regex_src,
        regex,
        flags,
        weight: 1.0,
        kind,
        fast,
    })
}

/// Python `re` syntax that fancy-regex reads differently: a `{` that opens no quantifier is a
/// literal in Python; `{,n}` means `{0,n}`; `\Z` is the end of the text.
fn translate_python_regex(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    let b = s.as_bytes();
    let mut i = 0;
    let mut in_class = false;
    while i < b.len() {
        let c = b[i];
        if c == b'\\' && i + 1 < b.len() {
            let n = s[i + 1..].chars().next().map(char::len_utf8).unwrap_or(1);
            if b[i + 1] == b'Z' && !in_class {
                out.push_str(r"\z");
            } else {
                out.push_str(&s[i..i + 1 + n]);
            }
            i += 1 + n;
            continue;
        }
        if in_class {
            if c == b']' {
                in_class = false;
            }
        } else if c == b'[' {
            in_class = true;
            // a `]` right after `[` or `[^` is literal
            out.push('[');
            i += 1;
            if b.get(i) == Some(&b'^') {
                out.push('^');
                i += 1;
            }
            if b.get(i) == Some(&b']') {
                out.push_str(r"\]");
                i += 1;
            }
            continue;
        } else if c == b'{' {
            let end = s[i..].find('}').map(|e| i + e);
            let quant = end.and_then(|e| {
                let inner = &s[i + 1..e];
                let (lo, hi) = match inner.split_once(',') {
                    Some((l, h)) => (l, Some(h)),
                    None => (inner, None),
                };
                let digits = |x: &str| x.bytes().all(|c| c.is_ascii_digit());
                let ok = match hi {
                    None => !lo.is_empty() && digits(lo),
                    Some(h) => digits(lo) && digits(h) && !(lo.is_empty() && h.is_empty()),
                };
                ok.then(|| {
                    let lo = if lo.is_empty() { "0" } else { lo };
                    match hi {
                        None => format!("{{{lo}}}"),
                        Some(h) => format!("{{{lo},{h}}}"),
                    }
                })
                .map(|q| (q, e))
            });
            match quant {
                Some((q, e)) if i > 0 => {
                    out.push_str(&q);
                    i = e + 1;
                }
                _ => {
                    out.push_str(r"\{");
                    i += 1;
                }
            }
            continue;
        } else if c == b'}' {
            out.push_str(r"\}");
            i += 1;
            continue;
        }
        let n = s[i..].chars().next().map(char::len_utf8).unwrap_or(1);
        out.push_str(&s[i..i + n]);
        i += n;
    }
    out
}

/// fail2ban's `DateTemplate.unboundPattern`: strips `{UNB}`, `{^LN-BEG}`, a leading
/// `(?:^|\b|\W)` and a trailing `(?=\b|\W|$)`.
pub(crate) fn unbound_pattern(p: &str) -> String {
    let p = p.strip_prefix("{UNB}").unwrap_or(p);
    let p = p.strip_prefix("{^LN-BEG}").unwrap_or(p);
    let p = p
        .strip_prefix(r"(^|\b|\W)")
        .or_else(|| p.strip_prefix(r"(?:^|\b|\W)"))
        .unwrap_or(p);
    p.strip_suffix(r"(?=\b|\W|$)").unwrap_or(p).to_string()
}

/// Replaces each unescaped `{DATE}` (any case) in `pre` by `with`.
pub(crate) fn replace_date_placeholder(pre: &str, with: &str) -> String {
    let up = pre.to_ascii_uppercase();
    let mut out = String::new();
    let mut last = 0;
    let mut i = 0;
    while let Some(p) = up[i..].find("{DATE}") {
        let st = i + p;
        if !preceded_by(pre, st, b"\\") {
            out.push_str(&pre[last..st]);
            out.push_str(with);
            last = st + 6;
        }
        i = st + 1;
    }
    out.push_str(&pre[last..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> BuildCtx {
        BuildCtx::new(2026)
    }

    #[test]
    fn year_range_follows_current_year() {
        assert_eq!(ctx().exy, r"20[012]\d");
        assert_eq!(BuildCtx::new(2027).exy, r"20[0123]\d");
        assert_eq!(
            BuildCtx::new(2097).exy,
            r"2(?:00|01|02|03|04|05|06|07|08|09|10)\d"
        );
    }

    #[test]
    fn default_iso_template_regex_and_name() {
        let t = pattern_template(
            &format!("{{^LN-BEG}}{}", DEFAULT_PATTERNS[0]),
            &ctx(),
            Compile::Eager,
        )
        .unwrap();
        assert_eq!(
            t.name,
            r"{^LN-BEG}ExYear(?P<_sep>[-/.])Month(?P=_sep)Day(?:T|  ?)24hour:Minute:Second(?:[.,]Microseconds)?(?:\s*Zone offset)?"
        );
        assert_eq!(
            t.regex_src,
            r"^(?:\W{0,2})?((?P<Y>20[012]\d)(?P<_sep>[-/.])(?P<m>0?[1-9]|1[0-2])(?P=_sep)(?P<d>[1-2]\d|[0 ]?[1-9]|3[0-1])(?:T|  ?)(?P<H>[0-1]?\d|2[0-3]):(?P<M>[0-5]?\d):(?P<S>[0-5]?\d|6[0-1])(?:[.,](?P<f>[0-9]{1,6}))?(?:\s*(?P<z>Z|UTC|GMT|[+-][01]\d(?::?\d{2})?))?)(?=\b|\W|$)"
        );
        assert_eq!(t.flags, LINE_BEGIN | WORD_END);
        assert_eq!(t.fast, Some(FastKind::IsoLineBegin));
    }

    #[test]
    fn none_pattern_is_empty_line_start_group() {
        let t = pattern_template("{UNB}^", &ctx(), Compile::Eager).unwrap();
        assert_eq!(t.regex_src, "^()");
        assert_eq!(t.name, "^");
        assert!(t.anchored());
    }

    #[test]
    fn star_markers_disable_boundaries() {
        let t = pattern_template("**%H:%M**", &ctx(), Compile::Eager).unwrap();
        assert_eq!(t.regex_src, r"((?P<H>[0-1]?\d|2[0-3]):(?P<M>[0-5]?\d))");
    }

    #[test]
    fn unknown_percent_is_an_error() {
        assert!(pattern_template("%Q", &ctx(), Compile::Eager).is_err());
        assert!(pattern_template("100%", &ctx(), Compile::Eager).is_err());
    }

    #[test]
    fn braces_literal_translation() {
        assert_eq!(translate_python_regex(r"a{2}{x}"), r"a{2}\{x\}");
        assert_eq!(translate_python_regex(r"a{,3}"), r"a{0,3}");
    }
}
