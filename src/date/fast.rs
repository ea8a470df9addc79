//! Hand-written matchers for the two templates Asterisk and syslog lines hit: the anchored ISO
//! template (`[2024-03-10 08:15:01]`, `[… .123]`) and the anchored syslog template
//! (`[Mar 10 08:15:01]`, `Mar 10 08:15:01 host`). They give exactly the regex's result, or
//! `Decline` whenever the line leaves the well-understood ASCII shapes; then the fancy-regex
//! reference decides. No allocation. The randomized test in `mod tests` checks the agreement.

use super::convert::Fields;
use super::template::FastKind;

/// Result of a fast match attempt on a whole line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fast {
    /// Exactly what the regex finds: group 0 is `0..end`, group 1 is `g1`.
    Match {
        end: usize,
        g1: (usize, usize),
        fields: Fields,
    },
    /// Certainly no match anywhere in the line.
    NoMatch,
    /// Not sure: ask the regex.
    Decline,
}

/// ASCII `\w` by byte (false for every non-ASCII byte).
static WORD: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 128 {
        t[b] = (b as u8).is_ascii_alphanumeric() || b == b'_' as usize;
        b += 1;
    }
    t
};

/// ASCII `\w`.
#[inline]
fn word(b: u8) -> bool {
    WORD[usize::from(b)]
}

/// End boundary `(?=\b|\W|$)` after a date that ends in a digit, restricted to ASCII.
/// Some(true) = holds, Some(false) = fails, None = non-ASCII (unknown).
fn end_ok(s: &[u8], p: usize) -> Option<bool> {
    match s.get(p) {
        None => Some(true),
        Some(&b) if b >= 0x80 => None,
        Some(&b) => Some(!word(b)),
    }
}

/// The `^(?:\W{0,2})?` prefix: greedy ASCII non-word bytes, at most 2. None = a non-ASCII
/// byte comes first (its class is Unicode's business: the regex decides).
#[inline]
fn prefix(s: &[u8]) -> Option<usize> {
    // 0 = stops the prefix (word byte or line end), 1 = ASCII non-word, 2 = non-ASCII.
    let class = |i: usize| match s.get(i) {
        None => 0,
        Some(&b) if b >= 0x80 => 2,
        Some(&b) => u8::from(!word(b)),
    };
    match class(0) {
        0 => Some(0),
        2 => None,
        _ => match class(1) {
            0 => Some(1),
            2 => None,
            _ => Some(2),
        },
    }
}

fn digit(s: &[u8], i: usize) -> Option<u32> {
    s.get(i)
        .filter(|b| b.is_ascii_digit())
        .map(|b| u32::from(b - b'0'))
}

/// Length of the ASCII digit run at `i`.
fn run(s: &[u8], i: usize) -> usize {
    s[i.min(s.len())..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count()
}

/// `[0-1]?\d|2[0-3]` / `[0-2]?\d` / `[0-5]?\d` style 1–2 digit field followed by `term`.
/// `two_ok` says whether a 2-digit value is accepted by the regex.
fn small(s: &[u8], i: usize, term: u8, two_ok: impl Fn(u32, u32) -> bool) -> Option<(u32, usize)> {
    let n = run(s, i);
    let a = digit(s, i)?;
    match n {
        1 if s.get(i + 1) == Some(&term) => Some((a, i + 1)),
        2 if s.get(i + 2) == Some(&term) => {
            let b = digit(s, i + 1)?;
            two_ok(a, b).then_some((a * 10 + b, i + 2))
        }
        _ => None,
    }
}

/// `%d` = `[1-2]\d|[0 ]?[1-9]|3[0-1]` followed by a byte in `next`.
fn day(s: &[u8], i: usize, next: &[u8]) -> Option<(u32, usize)> {
    let follows = |j: usize| s.get(j).is_some_and(|b| next.contains(b));
    if s.get(i) == Some(&b' ') {
        let d = digit(s, i + 1).filter(|d| *d >= 1)?;
        return follows(i + 2).then_some((d, i + 2));
    }
    let a = digit(s, i)?;
    if let Some(b) = digit(s, i + 1) {
        let ok = matches!(a, 1 | 2) || (a == 0 && b >= 1) || (a == 3 && b <= 1);
        return (ok && follows(i + 2)).then_some((a * 10 + b, i + 2));
    }
    (a >= 1 && follows(i + 1)).then_some((a, i + 1))
}

/// `%S` (`[0-5]?\d|6[0-1]`) then whatever follows must not be a digit.
fn seconds(s: &[u8], i: usize) -> Option<(u32, usize)> {
    let a = digit(s, i)?;
    match run(s, i) {
        1 => Some((a, i + 1)),
        2 => {
            let b = digit(s, i + 1)?;
            (a <= 5 || (a == 6 && b <= 1)).then_some((a * 10 + b, i + 2))
        }
        _ => None,
    }
}

/// Optional fraction `[sep][0-9]{1,6}`: returns the position after it (or `i` if absent), or
/// None when the regex would need backtracking (7+ digits).
fn fraction(s: &[u8], i: usize, seps: &[u8]) -> Option<usize> {
    if !s.get(i).is_some_and(|b| seps.contains(b)) {
        return Some(i);
    }
    match run(s, i + 1) {
        0 => Some(i),
        n @ 1..=6 => Some(i + 1 + n),
        _ => None,
    }
}

/// The 3-digit `%ExY` prefixes accepted (e.g. 200, 201, 202), as a bit set over 0..1000.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Years([u64; 16]);

impl Years {
    /// From the prefixes as decimal strings ([`super::template::year_prefixes`]).
    pub(crate) fn new(prefixes: &[String]) -> Self {
        let mut bits = [0u64; 16];
        for v in prefixes.iter().filter_map(|p| p.parse::<usize>().ok()) {
            if v < 1000 {
                bits[v / 64] |= 1 << (v % 64);
            }
        }
        Years(bits)
    }

    #[inline]
    fn contains(&self, prefix: u32) -> bool {
        let v = prefix as usize;
        v < 1000 && self.0[v / 64] & (1 << (v % 64)) != 0
    }
}

#[inline]
fn year_ok(years: &Years, y: u32) -> bool {
    years.contains(y / 10)
}

fn four_digits(s: &[u8], i: usize) -> Option<u32> {
    let mut v = 0;
    for k in 0..4 {
        v = v * 10 + digit(s, i + k)?;
    }
    Some(v)
}

/// Runs the fast matcher of `kind` on the whole line, with the accepted `%ExY` prefixes.
pub(crate) fn match_line(kind: FastKind, line: &str, years: &Years) -> Fast {
    if let Some((p, end, fields)) = match_common(kind, line, years) {
        return Fast::Match {
            end,
            g1: (p, end),
            fields,
        };
    }
    match_general(kind, line, years)
}

/// The shortcut for the common shapes only: `Some((start, end, fields))` is a match whose
/// group 0 is `0..end` and group 1 `start..end`; None = ask [`match_general`]. Kept apart
/// (and inlined) so that the caller holds the fields in registers.
#[inline(always)]
pub(crate) fn match_common(
    kind: FastKind,
    line: &str,
    years: &Years,
) -> Option<(usize, usize, Fields)> {
    let s = line.as_bytes();
    let p = prefix(s)?;
    match kind {
        FastKind::IsoLineBegin => iso_common(s, p, years),
        FastKind::SyslogLineBegin => syslog_common(s, p),
    }
}

/// The bytes of `s` that [`match_common`]'s answer for `kind` depends on, as three words
/// (the rest of the first 24 bytes zeroed), and the mask of the third word; `None` for a
/// line shorter than that or one the prefix declines. The answer reads the prefix (at most
/// 2 bytes), the date (19 bytes for ISO, 15 for syslog) and what follows it (1 byte for
/// ISO, 2 for syslog): at most 22 bytes, all inside the key. Two lines with equal keys get
/// the same answer.
#[inline]
pub(crate) fn memo_key(kind: FastKind, s: &[u8]) -> Option<([u64; 3], u64)> {
    let w = head_words(s)?;
    let n = prefix(s)?
        + match kind {
            FastKind::IsoLineBegin => 20,
            FastKind::SyslogLineBegin => 17,
        };
    // 17 <= n <= 22: the first two words are whole, the third keeps n - 16 bytes.
    let mask = (1u64 << (8 * (n - 16))) - 1;
    Some(([w[0], w[1], w[2] & mask], mask))
}

/// The words of a [`memo_key`] (its third word's mask `mask`) to compare for "the same text
/// but the second": the mask without the two digits before `end`, the end of the date, where
/// both shapes read the second (`…:SS`). Two lines equal under it, each with a second of
/// 00-59 there ([`second_at`]), get from [`match_common`] the same answer but the second.
pub(crate) fn minute_mask(mask: u64, end: usize) -> [u64; 3] {
    let mut m = [u64::MAX, u64::MAX, mask];
    for i in end.saturating_sub(2)..end {
        if let Some(w) = m.get_mut(i / 8) {
            *w &= !(0xFF << (8 * (i % 8)));
        }
    }
    m
}

/// The second written in the two digits before `end` of `s`, when [`match_common`] accepts
/// it there (two digits, 00-59).
#[inline(always)]
pub(crate) fn second_at(s: &[u8], end: usize) -> Option<u32> {
    let (a, b) = (dv(*s.get(end.checked_sub(2)?)?), dv(*s.get(end - 1)?));
    (a < 6 && b < 10).then_some(a * 10 + b)
}

/// The first 24 bytes of `s` as three words, unmasked (`None` when shorter): compared with
/// a [`memo_key`] under that key's mask, they decide whether `s` has the key (the mask
/// covers the bytes [`prefix`] reads, so equal bytes there mean an equal prefix).
#[inline(always)]
pub(crate) fn head_words(s: &[u8]) -> Option<[u64; 3]> {
    let w: &[u8; 24] = s.first_chunk::<24>()?;
    Some([le64(w, 0), le64(w, 8), le64(w, 16)])
}

/// The full hand-written matcher (all shapes).
#[inline(never)]
pub(crate) fn match_general(kind: FastKind, line: &str, years: &Years) -> Fast {
    let s = line.as_bytes();
    let Some(p) = prefix(s) else {
        return Fast::Decline;
    };
    match kind {
        FastKind::IsoLineBegin => iso(s, p, years),
        FastKind::SyslogLineBegin => syslog(s, p, years),
    }
}

/// Digit value of an ASCII byte, or a number >= 10.
#[inline]
fn dv(b: u8) -> u32 {
    u32::from(b.wrapping_sub(b'0'))
}

/// Two-digit number at `w[i..i + 2]`, or a number >= 100 if either is not a digit.
#[inline]
fn dd(w: &[u8], i: usize) -> u32 {
    let (a, b) = (dv(w[i]), dv(w[i + 1]));
    if a < 10 && b < 10 {
        a * 10 + b
    } else {
        100
    }
}

/// Little-endian word of the 8 bytes `w[i..i + 8]` (byte `i` is the lowest).
#[inline(always)]
fn le64<const N: usize>(w: &[u8; N], i: usize) -> u64 {
    // One unaligned load; `i + 8 <= N` at every call site, so the fallback never runs.
    w.get(i..)
        .and_then(<[u8]>::first_chunk::<8>)
        .map_or(0, |b| u64::from_le_bytes(*b))
}

/// Mask with 0xFF in the bytes where `pat` has `d` (a digit is expected there).
const fn digit_mask(pat: &[u8; 8]) -> u64 {
    let mut m = 0u64;
    let mut i = 0;
    while i < 8 {
        if pat[i] == b'd' {
            m |= 0xFF << (8 * i);
        }
        i += 1;
    }
    m
}

/// True when every byte of `x` selected by `mask` is an ASCII digit: high nibble 3, and
/// adding 6 keeps it 3 (0x30..=0x39; no carry can cross bytes once the high nibble is 3).
#[inline]
fn all_digits(x: u64, mask: u64) -> bool {
    const F0: u64 = 0xF0F0_F0F0_F0F0_F0F0;
    const H3: u64 = 0x3030_3030_3030_3030;
    const SIX: u64 = 0x0606_0606_0606_0606;
    let a = x & mask;
    (a & F0) == (H3 & mask) && ((a + (SIX & mask)) & F0) == (H3 & mask)
}

/// The two-digit number in bytes `k` and `k + 1` of `x` (already known to be digits).
#[inline]
fn pair(x: u64, k: u32) -> u32 {
    (((x >> (8 * k)) & 0x0F) * 10 + ((x >> (8 * k + 8)) & 0x0F)) as u32
}

/// The overwhelmingly common ISO shape, `YYYY-MM-DD HH:MM:SS` with two-digit fields, a single
/// space (or `T`) and a plain non-word byte (or the line end) after the seconds: the regex
/// can only match these 19 bytes then. None = another shape: the general matcher decides.
#[inline]
fn iso_common(s: &[u8], p: usize, years: &Years) -> Option<(usize, usize, Fields)> {
    let w: &[u8; 19] = s.get(p..p + 19)?.try_into().ok()?;
    // `YYYY-MM-`, `DD HH:MM`, `HH:MM:SS`
    let (a, b, c) = (le64(w, 0), le64(w, 8), le64(w, 11));
    let sep = w[4];
    if !all_digits(a, digit_mask(b"dddd-dd-"))
        || !all_digits(b, digit_mask(b"dd dd:dd"))
        || !all_digits(c, digit_mask(b"dd:dd:dd"))
        || !matches!(sep, b'-' | b'/' | b'.')
        || w[7] != sep
        || !matches!(w[10], b' ' | b'T')
        || w[13] != b':'
        || w[16] != b':'
    {
        return None;
    }
    let year = pair(a, 0) * 100 + pair(a, 2);
    let (month, day) = (pair(a, 5), pair(b, 0));
    let (hour, minute, second) = (pair(c, 0), pair(c, 3), pair(c, 6));
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 59
        || !year_ok(years, year)
    {
        return None;
    }
    let end = p + 19;
    // What may follow without a fraction, a zone or a word character continuing the text.
    match s.get(end) {
        None => {}
        Some(&c) if (0x20..0x80).contains(&c) && !word(c) && !b".,+- \t".contains(&c) => {}
        Some(_) => return None,
    }
    Some((
        p,
        end,
        Fields {
            year: Some(year as i32),
            month: Some(month),
            day: Some(day),
            hour,
            minute,
            second,
            ..Fields::default()
        },
    ))
}

/// The common syslog shape `Mmm dd HH:MM:SS` (day `dd` or ` d`) with no weekday, fraction or
/// year, followed by a non-word byte or the line end. None = the general matcher decides.
#[inline]
fn syslog_common(s: &[u8], p: usize) -> Option<(usize, usize, Fields)> {
    let w: &[u8; 15] = s.get(p..p + 15)?.try_into().ok()?;
    // `| 0x20` maps exactly the ASCII letters (and nothing else) onto lower-case letters.
    let name = u32::from_le_bytes([w[0], w[1], w[2], 0]) | 0x0020_2020;
    let month = MONTH_KEYS.iter().position(|m| *m == name)? as u32 + 1;
    if w[3] != b' ' || w[6] != b' ' || w[9] != b':' || w[12] != b':' {
        return None;
    }
    // `HH:MM:SS`
    let t = le64(w, 7);
    if !all_digits(t, digit_mask(b"dd:dd:dd")) {
        return None;
    }
    let day = match w[4] {
        b' ' if dv(w[5]) < 10 => dv(w[5]),
        b' ' => 100,
        _ => dd(w, 4),
    };
    let (hour, minute, second) = (pair(t, 0), pair(t, 3), pair(t, 6));
    if !(1..=31).contains(&day) || hour > 29 || minute > 59 || second > 59 {
        return None;
    }
    let end = p + 15;
    match s.get(end) {
        None => {}
        // A year may follow a space.
        Some(b' ') if s.get(end + 1).is_some_and(u8::is_ascii_digit) => return None,
        Some(&c) if c < 0x80 && !word(c) && c != b'.' => {}
        Some(_) => return None,
    }
    Some((
        p,
        end,
        Fields {
            year: None,
            month: Some(month),
            day: Some(day),
            hour,
            minute,
            second,
            ..Fields::default()
        },
    ))
}

fn iso(s: &[u8], p: usize, years: &Years) -> Fast {
    match s.get(p) {
        None => return Fast::NoMatch,
        Some(&b) if b >= 0x80 => return Fast::Decline,
        Some(b) if !b.is_ascii_digit() => return Fast::NoMatch,
        _ => {}
    }
    iso_rest(s, p, years).unwrap_or(Fast::Decline)
}

fn iso_rest(s: &[u8], p: usize, years: &Years) -> Option<Fast> {
    let y = four_digits(s, p)?;
    if !year_ok(years, y) {
        return None;
    }
    let sep = *s.get(p + 4).filter(|b| b"-/.".contains(b))?;
    let (m, i) = small(s, p + 5, sep, |a, b| {
        (a == 0 && b >= 1) || (a == 1 && b <= 2)
    })?;
    if m == 0 {
        return None;
    }
    let (d, mut i) = day(s, i + 1, b"T ")?;
    if s[i] == b'T' {
        i += 1;
    } else {
        i += 1;
        if s.get(i) == Some(&b' ') {
            i += 1;
        }
    }
    let (h, i) = small(s, i, b':', |a, b| a <= 1 || (a == 2 && b <= 3))?;
    let (mi, i) = small(s, i + 1, b':', |a, _| a <= 5)?;
    let (sec, i) = seconds(s, i + 1)?;
    let end = fraction(s, i, b".,")?;
    // `(?:\s*%z)?`: give up if a zone could follow.
    let mut j = end;
    while s.get(j).is_some_and(|b| *b == b' ' || *b == b'\t') {
        j += 1;
    }
    match s.get(j) {
        Some(&b) if b >= 0x80 || b"ZUG+-".contains(&b) || (b < 0x20 && b != b'\t') => return None,
        _ => {}
    }
    if !end_ok(s, end)? {
        return None;
    }
    Some(Fast::Match {
        end,
        g1: (p, end),
        fields: Fields {
            year: Some(y as i32),
            month: Some(m),
            day: Some(d),
            hour: h,
            minute: mi,
            second: sec,
            ..Fields::default()
        },
    })
}

const WEEKDAYS: [&[u8; 3]; 7] = [b"mon", b"tue", b"wed", b"thu", b"fri", b"sat", b"sun"];
const MONTHS: [&[u8; 3]; 12] = [
    b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov", b"dec",
];

/// The lower-case month abbreviations as little-endian words (for `syslog_common`).
const MONTH_KEYS: [u32; 12] = {
    let mut k = [0u32; 12];
    let mut i = 0;
    while i < 12 {
        let m = MONTHS[i];
        k[i] = u32::from_le_bytes([m[0], m[1], m[2], 0]);
        i += 1;
    }
    k
};

/// Case-insensitive 3-letter name at `i` from `list` (index), ASCII only.
fn name3(s: &[u8], i: usize, list: &[&[u8; 3]]) -> Option<usize> {
    let w = s.get(i..i + 3)?;
    list.iter().position(|n| w.eq_ignore_ascii_case(&n[..]))
}

fn syslog(s: &[u8], p: usize, years: &Years) -> Fast {
    // Non-ASCII letters may case-fold onto ASCII ones (e.g. U+017F onto `s`).
    if s[p.min(s.len())..(p + 8).min(s.len())]
        .iter()
        .any(|b| *b >= 0x80)
    {
        return Fast::Decline;
    }
    let mut i = p;
    let mut weekday = None;
    if let Some(wd) = name3(s, i, &WEEKDAYS) {
        if s.get(i + 3) == Some(&b' ') {
            weekday = Some(wd as u32);
            i += 4;
        }
    }
    let Some(mon) = name3(s, i, &MONTHS) else {
        // Neither a weekday-then-month nor a month: the regex fails at this start, and it is
        // anchored. (After a weekday, backtracking tries the month at the weekday: no month.)
        return if weekday.is_some() && s[i..].iter().take(3).any(|b| *b >= 0x80) {
            Fast::Decline
        } else {
            Fast::NoMatch
        };
    };
    syslog_rest(s, p, i + 3, mon as u32 + 1, weekday, years).unwrap_or(Fast::Decline)
}

fn syslog_rest(
    s: &[u8],
    p: usize,
    i: usize,
    month: u32,
    weekday: Option<u32>,
    years: &Years,
) -> Option<Fast> {
    if s.get(i) != Some(&b' ') {
        return None;
    }
    let (d, mut i) = day(s, i + 1, b" ")?;
    i += 1;
    if s.get(i) == Some(&b' ') {
        i += 1;
    }
    let (h, i) = small(s, i, b':', |a, _| a <= 2)?;
    let (mi, i) = small(s, i + 1, b':', |a, _| a <= 5)?;
    let (sec, i) = seconds(s, i + 1)?;
    let mut end = fraction(s, i, b".")?;
    let mut year = None;
    if s.get(end) == Some(&b' ') && digit(s, end + 1).is_some() {
        let y = four_digits(s, end + 1)?;
        match s.get(end + 5) {
            Some(&b) if b >= 0x80 || word(b) => return None,
            _ => {}
        }
        if year_ok(years, y) {
            year = Some(y as i32);
            end += 5;
        }
    }
    if !end_ok(s, end)? {
        return None;
    }
    Some(Fast::Match {
        end,
        g1: (p, end),
        fields: Fields {
            year,
            month: Some(month),
            day: Some(d),
            hour: h,
            minute: mi,
            second: sec,
            weekday,
            ..Fields::default()
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::date::template::{
        pattern_template, year_prefixes, BuildCtx, Compile, DEFAULT_PATTERNS,
    };
    use proptest::prelude::*;

    struct Reference {
        iso: crate::date::template::Template,
        syslog: crate::date::template::Template,
        years: Years,
    }

    fn reference() -> Reference {
        let ctx = BuildCtx::new(2026);
        let t = |i: usize| {
            pattern_template(
                &format!("{{^LN-BEG}}{}", DEFAULT_PATTERNS[i]),
                &ctx,
                Compile::Eager,
            )
            .expect("template")
        };
        Reference {
            iso: t(0),
            syslog: t(1),
            years: Years::new(&year_prefixes(2026)),
        }
    }

    /// What the fancy-regex reference says, in the fast path's terms.
    fn by_regex(t: &crate::date::template::Template, line: &str) -> Fast {
        let re = t.regex().expect("default template compiles");
        match re.captures(line).expect("regex runs") {
            None => Fast::NoMatch,
            Some(c) => {
                let g0 = c.get(0).expect("group 0");
                let g1 = c.get(1).expect("group 1");
                let groups = re
                    .capture_names()
                    .flatten()
                    .filter_map(|n| c.name(n).map(|v| (n, v.as_str())));
                Fast::Match {
                    end: g0.end(),
                    g1: (g1.start(), g1.end()),
                    fields: Fields::from_groups(groups),
                }
            }
        }
    }

    /// Checks one line on both fast matchers; returns how many of the two were decided.
    fn agree(r: &Reference, line: &str) -> usize {
        let mut decided = 0;
        for (kind, t) in [
            (FastKind::IsoLineBegin, &r.iso),
            (FastKind::SyslogLineBegin, &r.syslog),
        ] {
            let fast = match_line(kind, line, &r.years);
            if fast == Fast::Decline {
                continue;
            }
            decided += 1;
            let mut want = by_regex(t, line);
            // The regex path also reads the weekday and ignores `%f`; compare like for like.
            if let (Fast::Match { fields: a, .. }, Fast::Match { fields: b, .. }) =
                (&fast, &mut want)
            {
                b.weekday = a.weekday.filter(|_| b.weekday.is_some());
            }
            assert_eq!(fast, want, "{kind:?} on {line:?}");
        }
        decided
    }

    #[test]
    fn common_asterisk_and_syslog_lines_take_the_fast_path() {
        let r = reference();
        for line in [
            "[2024-03-10 08:15:01] NOTICE[123] chan_sip.c: x",
            "[2024-03-10 08:15:01.123] NOTICE[123] chan_sip.c: x",
            "[Mar 10 08:15:01] NOTICE[123] chan_sip.c: x",
            "[Mar  5 08:15:01] NOTICE[123] x",
            "Mar 10 08:15:01 host asterisk[1]: x",
            "Sun Mar 10 08:15:01 2024 x",
            "  VERBOSE continuation",
        ] {
            assert_eq!(
                agree(&r, line),
                2,
                "{line:?} should be decided by both matchers"
            );
        }
    }

    /// Mostly the first (well-formed) option, sometimes any other: lines stay near-misses.
    fn component(options: &'static [&'static str]) -> impl Strategy<Value = &'static str> {
        prop_oneof![
            6 => Just(options[0]),
            1 => proptest::sample::select(options),
        ]
    }

    fn iso_line() -> impl Strategy<Value = String> {
        (
            (
                component(&["", "[", "[[", "[[[", " ", "x", "\u{e9}", "(\t"]),
                component(&[
                    "2024", "2099", "1999", "2000", "2029", "2030", "202", "20245",
                ]),
                component(&["-", "/", ".", ":", " "]),
                component(&["03", "3", "13", "00", "0", "10", "12", " 3", "1"]),
                component(&["-", "/", "."]),
                component(&[
                    "10", "1", " 5", "05", "30", "31", "32", "00", "0", "29", "123",
                ]),
            ),
            (
                component(&["T", " ", "  ", "   ", "", "t"]),
                component(&["08", "8", " 8", "23", "24", "29", "123", "0"]),
                component(&["15", "5", "60", "99", ""]),
                component(&["01", "1", "59", "60", "61", "62", "69", "011", "\u{663}"]),
                component(&["", ".123", ",5", ".1234567", ".", ".123456", ",", ".12a"]),
                component(&[
                    "", " UTC", "Z", " +0200", "+02:00", " Zulu", " GMT", "\t", " \u{b}x",
                ]),
                component(&[
                    "] NOTICE", " host", "x", "", "_", "\tfoo", "\u{e9}", " 2024", "]", "-",
                ]),
            ),
        )
            .prop_map(|((p, y, s1, m, s2, d), (t, h, mi, s, f, z, tail))| {
                format!("{p}{y}{s1}{m}{s2}{d}{t}{h}:{mi}:{s}{f}{z}{tail}")
            })
    }

    fn syslog_line() -> impl Strategy<Value = String> {
        (
            component(&["", "[", "[[", " ", "x", "\u{17f}"]),
            component(&["", "Sun ", "sun ", "SUN ", "Sux ", "Mon", "Tue  "]),
            component(&["Mar", "mar", "MAR", "Max", "Feb", "Sep", "\u{17f}ep"]),
            component(&[" ", "  ", ""]),
            component(&["10", "1", " 5", "05", "32", "0", " 0", "31", "123"]),
            component(&[" ", "  ", "", "   "]),
            component(&["08", "8", "23", "24", "29", "30", "123"]),
            component(&["15", "5", "60"]),
            component(&["01", "1", "59", "60", "61", "69", "011"]),
            component(&["", ".123", ".1234567", ".", ".1234567890", ",5"]),
            component(&[
                "", " 2024", " 2099", " 2024x", " 1999", " 20245", " 202", " 2024:",
            ]),
            component(&["] NOTICE", " host", "x", "", "_", "\u{e9}", "]"]),
        )
            .prop_map(|(p, w, mo, s, d, s2, h, mi, sec, f, y, tail)| {
                format!("{p}{w}{mo}{s}{d}{s2}{h}:{mi}:{sec}{f}{y}{tail}")
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        #[test]
        fn fast_path_agrees_with_regex_on_iso_like_lines(line in iso_line()) {
            agree(&reference_cached(), &line);
        }

        #[test]
        fn fast_path_agrees_with_regex_on_syslog_like_lines(line in syslog_line()) {
            agree(&reference_cached(), &line);
        }

        #[test]
        fn fast_path_agrees_with_regex_on_noise(line in "[0-9 :/.\\-T\\[\\]MarJnFeb+Z,a\u{e9}]{0,32}") {
            agree(&reference_cached(), &line);
        }
    }

    /// The shortcuts for the common shapes agree with the general matchers wherever they
    /// answer.
    fn common_agrees(r: &Reference, line: &str) {
        let s = line.as_bytes();
        let Some(p) = prefix(s) else { return };
        let as_fast = |(p, end, fields)| Fast::Match {
            end,
            g1: (p, end),
            fields,
        };
        if let Some(m) = iso_common(s, p, &r.years) {
            assert_eq!(as_fast(m), iso(s, p, &r.years), "iso on {line:?}");
        }
        if let Some(m) = syslog_common(s, p) {
            assert_eq!(as_fast(m), syslog(s, p, &r.years), "syslog on {line:?}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]

        #[test]
        fn common_shapes_agree_with_general_matchers(
            line in prop_oneof![iso_line(), syslog_line(), "[0-9 :/.\\-T\\[\\]MarJnFeb+Z,a\u{e9}]{0,32}"]
        ) {
            common_agrees(&reference_cached(), &line);
        }
    }

    #[test]
    fn common_shapes_take_the_shortcut() {
        let r = reference_cached();
        for line in [
            "[2024-03-10 08:15:01] NOTICE[123] chan_sip.c: x",
            "2024/03/10T08:15:01",
            "[Mar 10 08:15:01] NOTICE[123] chan_sip.c: x",
            "[Mar  5 08:15:01] NOTICE[123] x",
            "Mar 10 08:15:01 host asterisk[1]: x",
        ] {
            let s = line.as_bytes();
            let p = prefix(s).expect("ASCII prefix");
            assert!(
                iso_common(s, p, &r.years).is_some() || syslog_common(s, p).is_some(),
                "{line:?}"
            );
            common_agrees(&r, line);
        }
    }

    /// The generators must produce real matches and definite non-matches, not only declines.
    #[test]
    fn generated_lines_exercise_all_outcomes() {
        use proptest::strategy::ValueTree;
        use proptest::test_runner::TestRunner;
        let r = reference_cached();
        let mut runner = TestRunner::deterministic();
        let mut counts = [[0usize; 3]; 2];
        let iso = iso_line();
        let sys = syslog_line();
        for _ in 0..3000 {
            for (k, line) in [
                iso.new_tree(&mut runner).map(|t| t.current()),
                sys.new_tree(&mut runner).map(|t| t.current()),
            ]
            .into_iter()
            .enumerate()
            {
                let line = line.unwrap_or_default();
                agree(&r, &line);
                let kind = [FastKind::IsoLineBegin, FastKind::SyslogLineBegin][k];
                let o = match match_line(kind, &line, &r.years) {
                    Fast::Match { .. } => 0,
                    Fast::NoMatch => 1,
                    Fast::Decline => 2,
                };
                counts[k][o] += 1;
            }
        }
        for c in counts {
            assert!(
                c[0] > 100 && c[1] > 100,
                "outcomes (match, no match, decline): {c:?}"
            );
        }
    }

    fn reference_cached() -> std::sync::Arc<Reference> {
        use std::sync::{Arc, OnceLock};
        static R: OnceLock<Arc<Reference>> = OnceLock::new();
        R.get_or_init(|| Arc::new(reference())).clone()
    }
}
