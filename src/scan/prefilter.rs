//! A line prefilter for the scan: a set of literals, at least one of which occurs in every
//! line on which any failregex (or ignoreregex) of any filter can match.
//!
//! Most lines of a real log (VERBOSE dialplan traces, registrations that succeed) contain
//! none of them, so one SIMD literal search (aho-corasick's Teddy) replaces the automaton for
//! those lines. The literals are the *required factors* of each regex's regular superset: a
//! regex can only match a text that contains one of its factors. A failregex that runs on a
//! prefregex's `content` group matches a substring of the line, so its factors occur in the
//! line too. When any regex has no usable factor, the prefilter lets every line through.
//!
//! The prefilter never changes a result, only skips work: the engine still decides every
//! line that passes. `tests/scan.rs` checks prefiltered and unfiltered scans are equal.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use regex_syntax::hir::{Hir, HirKind};

use crate::pattern::tags::expand_tags;
use crate::pattern::translate::translate;
use crate::pattern::{FilterRegexes, UseDns};

/// Literals shorter than this make a prefilter that rejects almost nothing.
const MIN_USEFUL: usize = 3;
/// A factor at least this long is specific enough: the first one in the regex is taken.
const EARLY_ENOUGH: usize = 8;

/// Passes a line when one of its literals occurs in it (or always, when disabled).
#[derive(Debug, Clone)]
pub struct LinePrefilter {
    /// The literals as a bare packed (Teddy) searcher, when one can be built: the chunk
    /// search calls it once per candidate line, and `AhoCorasick::find`'s layers around
    /// the same searcher cost a visible share of that.
    packed: Option<aho_corasick::packed::Searcher>,
    /// The general searcher, only when the packed one cannot be built.
    ac: Option<AhoCorasick>,
    /// The literals (to tell whether one can straddle the place a date was cut out).
    lits: Vec<Vec<u8>>,
}

impl LinePrefilter {
    /// A prefilter that lets every line through.
    pub fn pass_all() -> Self {
        LinePrefilter {
            ac: None,
            packed: None,
            lits: Vec::new(),
        }
    }

    /// Builds the prefilter for `filters`; falls back to pass-all when a regex has no
    /// required literal of at least [`MIN_USEFUL`] bytes.
    pub fn build(filters: &[FilterRegexes], usedns: UseDns) -> Self {
        let mut lits: Vec<Vec<u8>> = Vec::new();
        for f in filters {
            // A prefregex without failregexes never yields failures; ignoreregexes only
            // count on lines that could also be pre-checked: include them to stay exact.
            for re in f.failregex.iter().chain(&f.ignoreregex) {
                match required_literals(re, usedns) {
                    Some(set) if set.iter().all(|l| l.len() >= MIN_USEFUL) => lits.extend(set),
                    _ => return LinePrefilter::pass_all(),
                }
            }
        }
        lits.sort();
        lits.dedup();
        // A literal that contains another is redundant: any line with it has the other.
        let all = lits.clone();
        lits.retain(|l| {
            !all.iter()
                .any(|o| o.len() < l.len() && l.windows(o.len()).any(|w| w == &o[..]))
        });
        // A literal with a newline could span two lines of a chunk (never seen in practice).
        if lits.is_empty() || lits.iter().any(|l| l.contains(&b'\n')) {
            return LinePrefilter::pass_all();
        }
        let packed = aho_corasick::packed::Config::new()
            .match_kind(aho_corasick::packed::MatchKind::LeftmostFirst)
            .builder()
            .extend(&lits)
            .build();
        let ac = match packed {
            Some(_) => None,
            None => AhoCorasickBuilder::new()
                .match_kind(MatchKind::LeftmostFirst)
                .build(&lits)
                .ok(),
        };
        LinePrefilter { packed, ac, lits }
    }

    /// Start of the first literal occurrence in `data[from..]` (an absolute offset), `None`
    /// when there is none; always `Some(from)` when the prefilter passes everything.
    ///
    /// Searching a whole chunk once is much cheaper than one search per line; a line is a
    /// candidate when the next occurrence starts inside it (literals have no `\n`).
    #[inline]
    pub fn next_hit(&self, data: &[u8], from: usize) -> Option<usize> {
        match (&self.packed, &self.ac) {
            (Some(p), _) => p
                .find_in(data, aho_corasick::Span::from(from..data.len()))
                .map(|m| m.start()),
            (None, Some(ac)) => ac
                .find(aho_corasick::Input::new(data).span(from..data.len()))
                .map(|m| m.start()),
            (None, None) => Some(from),
        }
    }

    /// True when a literal could occur in `before + after` across the join although it
    /// occurs in neither part: some suffix of `before` is a proper prefix of a literal.
    /// (The engine sees the line with its date cut out; the chunk search sees the raw line.)
    pub fn join_risky(&self, before: &[u8]) -> bool {
        !before.is_empty()
            && self.is_active()
            && self
                .lits
                .iter()
                .any(|l| (1..l.len()).any(|k| before.ends_with(&l[..k])))
    }

    /// False only when no failregex or ignoreregex can match `line`.
    #[inline]
    pub fn may_match(&self, line: &str) -> bool {
        self.next_hit(line.as_bytes(), 0).is_some()
    }

    pub fn is_active(&self) -> bool {
        self.packed.is_some() || self.ac.is_some()
    }
}

/// The required literals of one fail2ban regex (Python syntax, tags unexpanded): `None`
/// when no literal set is required.
fn required_literals(python: &str, usedns: UseDns) -> Option<Vec<Vec<u8>>> {
    let expanded = expand_tags(python, usedns).ok()?;
    let superset = translate(&expanded, false)
        .ok()?
        .emit_literal_superset()
        .ok()?;
    let hir = regex_syntax::ParserBuilder::new()
        .build()
        .parse(&superset)
        .ok()?;
    required(&hir)
}

/// Required factors of `h`: a set of literals of which every match contains one.
fn required(h: &Hir) -> Option<Vec<Vec<u8>>> {
    match h.kind() {
        HirKind::Literal(l) => Some(vec![l.0.to_vec()]),
        HirKind::Capture(c) => required(&c.sub),
        HirKind::Repetition(r) if r.min >= 1 => required(&r.sub),
        HirKind::Alternation(alts) => {
            let mut all = Vec::new();
            for a in alts {
                all.extend(required(a)?);
            }
            Some(all)
        }
        HirKind::Concat(parts) => best_of_concat(parts),
        _ => None,
    }
}

/// In a concatenation, adjacent literals join into one. The factor set taken is the first
/// whose literals are all at least [`EARLY_ENOUGH`] bytes long, else the one whose shortest
/// literal is longest (ties: fewer literals). The first, because the chunk's search reads a
/// candidate line up to its first literal: `Request ` at the start of the content, not
/// `Failed to authenticate` at the end of the line (on the 1M-line benchmark log, -15% of the
/// literal search's instructions and -2% wall time); past a few bytes, a longer literal
/// rejects no more lines.
fn best_of_concat(parts: &[Hir]) -> Option<Vec<Vec<u8>>> {
    let mut candidates: Vec<Vec<Vec<u8>>> = Vec::new();
    let mut run: Vec<u8> = Vec::new();
    for p in parts {
        if let HirKind::Literal(l) = p.kind() {
            run.extend_from_slice(&l.0);
            continue;
        }
        if !run.is_empty() {
            candidates.push(vec![std::mem::take(&mut run)]);
        }
        if let Some(set) = required(p) {
            candidates.push(set);
        }
    }
    if !run.is_empty() {
        candidates.push(vec![run]);
    }
    let shortest = |set: &Vec<Vec<u8>>| set.iter().map(Vec::len).min().unwrap_or(0);
    if let Some(i) = candidates.iter().position(|c| shortest(c) >= EARLY_ENOUGH) {
        return candidates.into_iter().nth(i);
    }
    candidates.into_iter().max_by(|a, b| {
        let (ma, mb) = (shortest(a), shortest(b));
        ma.cmp(&mb).then(b.len().cmp(&a.len()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pattern::translate::Target;

    /// The required literals of `python` read from its plain superset form (what the
    /// prefilter parsed before it printed classes as "any character").
    fn superset_literals(python: &str) -> Option<Vec<Vec<u8>>> {
        let expanded = expand_tags(python, UseDns::Warn).ok()?;
        let superset = translate(&expanded, false)
            .ok()?
            .emit(Target::Superset)
            .ok()?;
        required(
            &regex_syntax::ParserBuilder::new()
                .build()
                .parse(&superset)
                .ok()?,
        )
    }

    /// Classes printed as "any character" leave the required literals as they were, on
    /// hand-made cases, the embedded filter and every stock fail2ban filter installed.
    #[test]
    fn any_character_classes_keep_the_literals() {
        let mut regexes: Vec<String> = [
            r"^x[a]y <HOST> [.]z$",
            r"^(?i)abc <HOST> def$",
            r"^ab[^c]de <HOST> f\wg\dh$",
            r"^(?:Host )?<HOST> (?:failed (?:to authenticate|MD5)\b|tried)",
            r"^a(?=bc)bcd <HOST>(?!x) (\w+) \1 end$",
            r"^[\[(]?x <HOST> [[:]y . z$",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let add = |regexes: &mut Vec<String>, d: crate::f2b::filter::FilterDef| {
            regexes.extend(d.prefregex);
            regexes.extend(d.failregex);
            regexes.extend(d.ignoreregex);
        };
        let none = std::path::Path::new("/nonexistent");
        add(
            &mut regexes,
            crate::f2b::filter::load_filter(none, "asterisk").unwrap(),
        );
        let before_stock = regexes.len();
        let stock = std::path::Path::new("/etc/fail2ban");
        let has_stock = stock.join("filter.d/asterisk.conf").exists();
        if let Ok(dir) = std::fs::read_dir(stock.join("filter.d")) {
            for e in dir.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if let Some(n) = name.strip_suffix(".conf") {
                    if let Ok(d) = crate::f2b::filter::load_filter(stock, n) {
                        add(&mut regexes, d);
                    }
                }
            }
        }
        // fail2ban's filters hold hundreds of regexes (the test command installs them).
        assert!(!has_stock || regexes.len() - before_stock > 100);
        for re in &regexes {
            assert_eq!(
                required_literals(re, UseDns::Warn),
                superset_literals(re),
                "{re}"
            );
        }
    }

    fn lits(re: &str) -> Option<Vec<String>> {
        required_literals(re, UseDns::Warn).map(|v| {
            v.into_iter()
                .map(|l| String::from_utf8(l).unwrap())
                .collect()
        })
    }

    #[test]
    fn picks_the_first_long_enough_factor() {
        assert_eq!(
            lits(r"^Registration from '[^']*' failed for '<HOST>(:\d+)?' - Wrong password$"),
            Some(vec!["Registration from '".to_string()])
        );
        // The leading factor is long enough: taken, not the longer one at the end.
        assert_eq!(
            lits(
                r"^Call from '[^']*' \(<HOST>:\d+\) to extension '[^']*' rejected because extension not found in context"
            ),
            Some(vec!["Call from '".to_string()])
        );
        assert_eq!(
            lits(
                r"^Request from '[^']*' failed for '<HOST>' - (?:No matching endpoint found|Failed to authenticate)$"
            ),
            Some(vec!["Request from '".to_string()])
        );
        // None is: the longest.
        assert_eq!(
            lits(r"^ab <HOST> cdef '[^']*' xy$"),
            Some(vec![" cdef '".to_string()])
        );
        // Sets count by their shortest literal.
        assert_eq!(
            lits(r"^xy (?:abc|defghijkl) <HOST> (?:to authenticate|MD5 authentication)$"),
            Some(vec![
                "to authenticate".to_string(),
                "MD5 authentication".to_string()
            ])
        );
        let l = lits(r"^(?:Host )?<HOST> (?:failed (?:to authenticate\b|MD5 authentication\b)|tried to authenticate with nonexistent user\b)").unwrap();
        assert!(l.iter().all(|x| x.len() >= 3), "{l:?}");
    }

    #[test]
    fn optional_parts_are_not_required() {
        assert_eq!(lits(r"(?:foo)?<HOST>"), None);
        assert_eq!(lits(r"<HOST>"), None);
    }

    #[test]
    fn prefilter_passes_every_matching_line() {
        let f = FilterRegexes {
            name: "t".into(),
            prefregex: None,
            failregex: vec![
                r"from <HOST> failed$".into(),
                r"^auth error for <HOST>".into(),
            ],
            ignoreregex: vec![],
        };
        let p = LinePrefilter::build(&[f], UseDns::Warn);
        assert!(p.is_active());
        assert!(p.may_match("x from 1.2.3.4 failed"));
        assert!(p.may_match("auth error for ::1"));
        assert!(!p.may_match("VERBOSE[1] pbx.c: Executing"));
    }
}
