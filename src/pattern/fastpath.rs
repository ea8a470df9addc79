//! ASCII-only variants of regular patterns, for the common case of a pure-ASCII haystack.
//!
//! The exact Rust patterns translate Python's `\w`, `\s`, `\d`, `.` and negated classes to
//! Unicode classes, and `<HOST>` repeats them many times: their UTF-8 automata are large,
//! which makes every capture search (the bounded backtracker clears a visited set sized by
//! the NFA) and every lazy-DFA state expensive. On a haystack made only of ASCII bytes, a
//! class can only match its ASCII members and a non-ASCII literal never matches, so
//! intersecting every class with `[\x00-\x7F]` (and replacing non-ASCII literals by a
//! never-matching class) gives a pattern with exactly the same matches and capture spans
//! there. Unicode word boundaries become ASCII ones, which agree on ASCII text and which
//! the lazy DFA supports without falling back. Capture indices and names are kept.
//!
//! [`split_content_tail`] handles fail2ban's usual prefregex shape `H(.+)$` (`<F-CONTENT>.+
//! </F-CONTENT>$`): capturing it runs the backtracker over the whole line, one step per
//! character of the content. On a haystack whose only `\n` is its last byte, the match of
//! `H.` (or of `H` for `(.*)$`) found by the DFA alone determines every span (see there).

use regex_syntax::hir::{
    Capture, Class, ClassBytes, ClassBytesRange, ClassUnicode, ClassUnicodeRange, Hir, HirKind,
    Look, Repetition,
};

/// A pattern `H(.+)$` or `H(.*)$` (`.` without DOTALL, `$` = `(?m:$)`, the group the last
/// one), split for haystacks whose only `\n` is the last byte.
///
/// Why it is exact there: every way `H` can match ending at `k` extends to a match of the
/// whole pattern exactly when the tail can match from `k`, and the tail's own first choice
/// (greedy, up to the `\n`) always succeeds: for `.+` that needs one non-`\n` character at
/// `k`, for `.*` nothing. So the leftmost-first match of [`ContentTail::head`] (`H.`, resp.
/// `H`) takes the same path through `H` as the whole pattern; the tail group then spans
/// from `k` (the head's end, minus the one character for `.+`) to the `\n` (or is empty when
/// `H` itself consumed the `\n`), and the whole match ends where the tail ends.
#[derive(Debug, Clone)]
pub(crate) struct ContentTail {
    /// `H` followed by one any-but-`\n` character (`.+`) or `H` alone (`.*`); it keeps the
    /// groups of `H`, numbered as in the whole pattern.
    pub head: Hir,
    /// Group number of the tail (the highest group number of the pattern).
    pub group: usize,
    /// The tail is `.+` (at least one character).
    pub non_empty: bool,
}

/// Recognises `H(.+)$` / `H(.*)$` at the top level of `hir` (either the full pattern or its
/// [`ascii_only`] variant).
pub(crate) fn split_content_tail(hir: &Hir) -> Option<ContentTail> {
    let HirKind::Concat(subs) = hir.kind() else {
        return None;
    };
    let [head @ .., cap, eol] = subs.as_slice() else {
        return None;
    };
    if *eol.kind() != HirKind::Look(Look::EndLF) {
        return None;
    }
    let HirKind::Capture(c) = cap.kind() else {
        return None;
    };
    let HirKind::Repetition(r) = c.sub.kind() else {
        return None;
    };
    if r.min > 1 || r.max.is_some() || !r.greedy || !is_dot(&r.sub) {
        return None;
    }
    let group = usize::try_from(c.index).ok()?;
    // The tail group must be the last one: the head's groups keep their numbers.
    if hir.properties().explicit_captures_len() != group {
        return None;
    }
    let mut head = head.to_vec();
    if r.min == 1 {
        head.push((*r.sub).clone());
    }
    Some(ContentTail {
        head: Hir::concat(head),
        group,
        non_empty: r.min == 1,
    })
}

/// `.` without DOTALL: every character but `\n` (or its ASCII part).
fn is_dot(h: &Hir) -> bool {
    let HirKind::Class(Class::Unicode(c)) = h.kind() else {
        return false;
    };
    let full = ClassUnicode::new([
        ClassUnicodeRange::new('\0', '\t'),
        ClassUnicodeRange::new('\x0B', char::MAX),
    ]);
    let mut ascii = full.clone();
    ascii.intersect(&ClassUnicode::new([ClassUnicodeRange::new('\0', '\x7F')]));
    *c == full || *c == ascii
}

/// `hir` restricted to ASCII haystacks: same matches and spans on every haystack whose bytes
/// are all `< 0x80`.
pub(crate) fn ascii_only(hir: &Hir) -> Hir {
    match hir.kind() {
        HirKind::Empty => Hir::empty(),
        HirKind::Literal(l) => {
            if l.0.is_ascii() {
                Hir::literal(l.0.clone())
            } else {
                Hir::fail()
            }
        }
        HirKind::Class(Class::Unicode(c)) => {
            let mut c = c.clone();
            c.intersect(&ClassUnicode::new([ClassUnicodeRange::new('\0', '\x7F')]));
            Hir::class(Class::Unicode(c))
        }
        HirKind::Class(Class::Bytes(c)) => {
            let mut c = c.clone();
            c.intersect(&ClassBytes::new([ClassBytesRange::new(0, 0x7F)]));
            Hir::class(Class::Bytes(c))
        }
        HirKind::Look(look) => Hir::look(ascii_look(*look)),
        HirKind::Repetition(r) => Hir::repetition(Repetition {
            min: r.min,
            max: r.max,
            greedy: r.greedy,
            sub: Box::new(ascii_only(&r.sub)),
        }),
        HirKind::Capture(c) => Hir::capture(Capture {
            index: c.index,
            name: c.name.clone(),
            sub: Box::new(ascii_only(&c.sub)),
        }),
        HirKind::Concat(subs) => Hir::concat(subs.iter().map(ascii_only).collect()),
        HirKind::Alternation(subs) => Hir::alternation(subs.iter().map(ascii_only).collect()),
    }
}

/// Unicode word assertions agree with the ASCII ones when every character is ASCII.
fn ascii_look(look: Look) -> Look {
    match look {
        Look::WordUnicode => Look::WordAscii,
        Look::WordUnicodeNegate => Look::WordAsciiNegate,
        Look::WordStartUnicode => Look::WordStartAscii,
        Look::WordEndUnicode => Look::WordEndAscii,
        Look::WordStartHalfUnicode => Look::WordStartHalfAscii,
        Look::WordEndHalfUnicode => Look::WordEndHalfAscii,
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex_automata::{meta, PatternID};

    fn pair(pattern: &str) -> (meta::Regex, meta::Regex) {
        let hir = regex_syntax::parse(pattern).unwrap();
        let full = meta::Regex::new(pattern).unwrap();
        let ascii = meta::Builder::new()
            .build_from_hir(&ascii_only(&hir))
            .unwrap();
        (full, ascii)
    }

    fn spans(re: &meta::Regex, hay: &str) -> Option<Vec<Option<(usize, usize)>>> {
        let mut caps = re.create_captures();
        re.captures(hay, &mut caps);
        caps.is_match().then(|| {
            (0..caps.group_len())
                .map(|i| caps.get_group(i).map(|s| (s.start, s.end)))
                .collect()
        })
    }

    #[test]
    fn same_captures_on_ascii_haystacks() {
        let cases: &[(&str, &[&str])] = &[
            (
                r"^(?P<a>[\p{L}\p{N}_]+)\s+(\p{Nd}+)?.(?i:k)\b(?P<b>[^']*)'(?m:$)",
                &["abc 12 k'\n", "x_1  Kx'", "abc k", "é 1 k'"],
            ),
            (r"(?:é|x(y)|\bz)+", &["xyz zxy", "éé", "  z"]),
            (r"\Bq\B|[\x{100}-\x{200}]|(w)", &["aqa", "q w", ""]),
        ];
        for (pattern, hays) in cases {
            let (full, ascii) = pair(pattern);
            assert_eq!(full.captures_len(), ascii.captures_len());
            assert_eq!(
                full.group_info()
                    .pattern_names(PatternID::ZERO)
                    .collect::<Vec<_>>(),
                ascii
                    .group_info()
                    .pattern_names(PatternID::ZERO)
                    .collect::<Vec<_>>()
            );
            for hay in hays.iter().filter(|h| h.is_ascii()) {
                assert_eq!(
                    spans(&full, hay),
                    spans(&ascii, hay),
                    "{pattern} on {hay:?}"
                );
            }
        }
    }

    #[test]
    fn non_ascii_literals_never_match() {
        let (_, ascii) = pair("aé|b");
        assert!(!ascii.is_match("a"));
        assert!(ascii.is_match("b"));
    }

    #[test]
    fn content_tail_spans() {
        for pattern in [
            r"\A(?:x(?P<a>\d+)? )?(?:[^:]+: )?((?:.)+)(?m:$)",
            r"\A(\w*)\s*(.*)(?m:$)",
            r"(?:b|ab)(.+)(?m:$)",
        ] {
            let hir = regex_syntax::parse(pattern).unwrap();
            let ascii = ascii_only(&hir);
            let tail = split_content_tail(&ascii).expect(pattern);
            let full = meta::Regex::new(pattern).unwrap();
            let head = meta::Builder::new().build_from_hir(&tail.head).unwrap();
            for hay in [
                "x12 foo: bar baz\n",
                "x bar\n",
                "foo: \n",
                "\n",
                "ab\n",
                "cab c\n",
            ] {
                let mut caps = head.create_captures();
                head.captures(hay, &mut caps);
                let got = caps.get_match().map(|m| {
                    let k = if tail.non_empty { m.end() - 1 } else { m.end() };
                    let end = k.max(hay.len() - 1);
                    let mut v: Vec<Option<(usize, usize)>> = (0..tail.group)
                        .map(|i| caps.get_group(i).map(|s| (s.start, s.end)))
                        .collect();
                    v[0] = Some((m.start(), end));
                    v.push(Some((k, end)));
                    v
                });
                assert_eq!(got, spans(&full, hay), "{pattern} on {hay:?}");
            }
        }
    }

    #[test]
    fn content_tail_shapes() {
        let split = |p: &str| split_content_tail(&regex_syntax::parse(p).unwrap());
        assert!(split(r"a(.+)(?m:$)").is_some_and(|t| t.non_empty && t.group == 1));
        assert!(split(r"a(.*)(?m:$)").is_some_and(|t| !t.non_empty));
        assert!(split(r"a(.+)b(?m:$)").is_none());
        assert!(split(r"a(.+?)(?m:$)").is_none());
        assert!(split(r"a((?s:.)+)(?m:$)").is_none());
        assert!(split(r"a(.+)\z").is_none());
        assert!(split(r"a(.{2,})(?m:$)").is_none());
    }

    #[test]
    fn word_boundaries_become_ascii() {
        let hir = regex_syntax::parse(r"\bx\B").unwrap();
        let a = ascii_only(&hir);
        assert!(a.properties().look_set().contains(Look::WordAscii));
        assert!(!a.properties().look_set().contains(Look::WordUnicode));
    }
}
