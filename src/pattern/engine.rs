//! The matching engine: every prefregex, failregex and ignoreregex of every filter in one
//! `regex_automata::meta::Regex` (one `PatternID` each, `which_overlapping_matches`), exact
//! verification and captures only on candidate lines, and fail2ban's `findFailure`
//! (spec 2.4-2.6, 5.4).
//!
//! Why the combined automaton never rejects a line fail2ban matches:
//! - every pattern in it is a regular *superset* of its Python regex (see
//!   [`Target::Superset`]), run on the same haystack `text + "\n"` fail2ban searches;
//! - a failregex of a filter whose prefregex has `<F-CONTENT>` runs on `content + "\n"`,
//!   not on the line; its pattern in the combined automaton is the [`Target::Gate`] form,
//!   which accepts any line containing the part of a match that lies inside `content`. On
//!   lines where such a gate hits, the prefregex captures are taken and a per-filter
//!   automaton of the failregex supersets runs on `content + "\n"`.
//!
//! Exactness of verification: regular patterns run on regex-automata (exact, leftmost-first
//! captures like Python); patterns with look-around, backreferences, conditionals, atomic
//! groups or possessive quantifiers run on fancy-regex; a regular pattern with `\b`/`\B`
//! runs on fancy-regex when the haystack is not ASCII (Rust's and Python's `\w` differ
//! outside ASCII).
//!
//! **State.** The [`Engine`] is immutable; everything fail2ban keeps between lines lives in
//! the [`EngineCache`], per filter, so one cache must see the lines of one log in order:
//! - `maxlines > 1` (multi-line buffering, spec 2.5): the last `maxlines` line tuples
//!   `(before date, date, after date)`. Failregexes are compiled with `re.MULTILINE` and
//!   search the joined buffer; a match removes its lines from the buffer (except the lines
//!   `<SKIPLINES>` captured). The combined automaton is not used then: every regex runs
//!   exactly on the buffer. [`LineOutcome::consumed`] lists the earlier lines a match
//!   took, which fail2ban-regex moves from "missed" to "matched";
//! - a failregex or prefregex with an `mlfid` group (any `maxlines`): the mlfid cache of
//!   spec 2.6 (100 entries, 5 minutes of wall-clock time, FIFO eviction), with `mlfforget`,
//!   `mlfgained`, `nofail`, the `users` set and pending failures;
//! - when the ignore pre-check drops a line, fail2ban-regex reports the prefregex result
//!   of the *previous* line ([`LineOutcome::prefregex_matched`]).
//!
//! Scanning one log in parallel chunks with one cache per chunk therefore loses the
//! buffer and the mlfid cache at chunk boundaries.

pub mod quick;

use std::collections::VecDeque;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use rayon::prelude::*;
use regex_automata::meta;
use regex_automata::util::captures::Captures;
use regex_automata::{Input, MatchKind, PatternID, PatternSet};

use super::fastpath;
use super::ipaddr::{self, Family};
use super::tags::{expand_tags, TagError};
use super::translate::{translate, Target, Translated};
use super::{PatternError, RegexKind, UseDns};

/// One filter's regexes: Python syntax, config-interpolated, tags NOT expanded.
#[derive(Debug, Clone, Default)]
pub struct FilterRegexes {
    pub name: String,
    pub prefregex: Option<String>,
    pub failregex: Vec<String>,
    pub ignoreregex: Vec<String>,
}

/// What to do with a `dns` capture (the name in `<HOST>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DnsMode {
    /// The name itself is the ID (fail2ban-regex `--raw`).
    Raw,
    /// Offline: a name resolves through `/etc/hosts` only (what `getaddrinfo` answers without
    /// a network, so `localhost` works); any other name gives no failure and the line is
    /// missed, which is what fail2ban does when the name does not resolve.
    #[default]
    Unresolved,
    /// Resolve with the system resolver (all A and AAAA, one failure per address).
    Resolve,
}

#[derive(Debug, Clone)]
pub struct EngineOptions {
    pub usedns: UseDns,
    pub dns: DnsMode,
    /// Try every failregex on every line (fail2ban-regex default; off with `-o` or
    /// `--no-check-all`, and in the server).
    pub check_all: bool,
    /// fail2ban's `maxlines`: the line buffer size (1: every line alone).
    pub maxlines: usize,
    /// Capture the prefregex groups of every line it matches (`fail2ban-regex -v` prints
    /// them); otherwise they are captured only when a failregex may match.
    pub pref_groups: bool,
    /// fail2ban's `ignorePending`: without check-all, a pending failure (an `mlfid` match
    /// with no address yet) ends the line with no failure. True in the server; fail2ban-regex
    /// sets it only with `-o`. With check-all, pending failures are always reported (with
    /// [`Failure::pending`]).
    pub ignore_pending: bool,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            usedns: UseDns::Warn,
            dns: DnsMode::Unresolved,
            check_all: true,
            maxlines: 1,
            pref_groups: false,
            ignore_pending: true,
        }
    }
}

/// One log line as fail2ban keeps it: the text before the date, the date text, the text
/// after it. The regexes see `before + after`; fail2ban-regex prints `before + date + after`.
#[derive(Debug, Clone, Copy, Default)]
pub struct LineParts<'a> {
    pub before: &'a str,
    pub date: &'a str,
    pub after: &'a str,
}

/// An owned [`LineParts`], as kept in the multi-line buffer and in `matches`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct LineTuple {
    before: String,
    date: String,
    after: String,
}

impl LineTuple {
    fn new(p: LineParts<'_>) -> Arc<LineTuple> {
        Arc::new(LineTuple {
            before: p.before.to_string(),
            date: p.date.to_string(),
            after: p.after.to_string(),
        })
    }

    /// What the regexes see.
    fn text_eq(&self, s: &str) -> bool {
        s.len() == self.before.len() + self.after.len()
            && s.starts_with(&self.before)
            && s.ends_with(&self.after)
    }

    fn push_text(&self, out: &mut String) {
        out.push_str(&self.before);
        out.push_str(&self.after);
    }

    /// The whole line.
    fn full(&self) -> String {
        let mut s = String::with_capacity(self.before.len() + self.date.len() + self.after.len());
        s.push_str(&self.before);
        s.push_str(&self.date);
        s.push_str(&self.after);
        s
    }
}

/// The result of one line, reused between lines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineOutcome {
    /// Per filter: the prefregex matched (fail2ban-regex's "Prefregex: N total").
    pub prefregex_matched: Vec<bool>,
    pub failures: Vec<Failure>,
    /// (filter, ignoreregex index), counted like fail2ban-regex: once per matching
    /// failregex in the post-check.
    pub ignore_hits: Vec<(usize, usize)>,
    /// Per filter: the prefregex groups (Python's `groupdict()` order) when the prefregex
    /// matched and [`EngineOptions::pref_groups`] is set.
    pub pref_groups: Vec<Vec<(String, Option<String>)>>,
    /// `maxlines > 1`: (filter, whole line) of every *earlier* line that was in the buffer
    /// before this line and left it for another reason than the `maxlines` cut (a match,
    /// or an ignoreregex hit on the lines of a match), in buffer order. fail2ban-regex counts
    /// each as matched instead of missed (its `testRegex`; spec 5.4). Lines equal to one
    /// still in the buffer are not listed (fail2ban compares tuples by value).
    pub consumed: Vec<(usize, String)>,
}

impl LineOutcome {
    fn reset(&mut self, filters: usize) {
        self.prefregex_matched.clear();
        self.prefregex_matched.resize(filters, false);
        self.pref_groups.clear();
        self.pref_groups.resize(filters, Vec::new());
        self.failures.clear();
        self.ignore_hits.clear();
        self.consumed.clear();
    }
}

/// A ticket data value that is not a string (or `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// `mlfpending`.
    Int(i64),
    /// `tuple_` groups combined (`(a, b, ...)`); elements are strings or `None`.
    Tuple(Vec<Option<String>>),
    /// The `users` of an mlfid connection, in insertion order (Python prints a set in hash
    /// order, which is not reproducible for more than one element).
    Set(Vec<String>),
}

/// One entry of fail2ban's failure list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub filter: usize,
    /// 0-based failregex index.
    pub regex: usize,
    /// The ticket ID (normalised address, subnet, raw name or failure ID); empty when
    /// [`Failure::pending`].
    pub id: String,
    /// An `mlfid` match without any address or ID yet: fail2ban reports it with ID `None`
    /// in check-all mode (fail2ban-regex without `-o`).
    pub pending: bool,
    /// Ticket data in Python dict order, as `-o row` prints it (`matches` left out). Keys
    /// whose value is not a string have `None` here and their value in
    /// [`Failure::composite`].
    pub data: Vec<(String, Option<String>)>,
    /// The non-string values of `data` (`users`, `tuple_` targets, `mlfpending`).
    pub composite: Vec<(String, Value)>,
    /// fail2ban's `matches`: the whole lines (date included) of this failure; with an mlfid,
    /// the lines of earlier matches of the same connection too.
    pub matches: Vec<String>,
    pub nofail: bool,
}

/// A Python value in fail2ban's failure dict.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Val {
    None,
    Str(String),
    Int(i64),
    Tuple(Vec<Val>),
    Set(Vec<String>),
    Lines(Vec<Arc<LineTuple>>),
}

impl Val {
    /// Python truthiness.
    fn truthy(&self) -> bool {
        match self {
            Val::None => false,
            Val::Str(s) => !s.is_empty(),
            Val::Int(n) => *n != 0,
            Val::Tuple(v) => !v.is_empty(),
            Val::Set(v) => !v.is_empty(),
            Val::Lines(v) => !v.is_empty(),
        }
    }

    fn is_none(&self) -> bool {
        matches!(self, Val::None)
    }

    /// The value as text: `str()` of it, as fail2ban prints an ID (a tuple ID prints as
    /// its Python repr).
    fn text(&self) -> Option<String> {
        match self {
            Val::None => None,
            Val::Str(s) => Some(s.clone()),
            other => Some(other.repr()),
        }
    }

    /// Python's `repr()`; strings get simple quoting (only `'` and `\` escaped), which is
    /// exact for the printable text fail2ban captures.
    fn repr(&self) -> String {
        match self {
            Val::None => "None".into(),
            Val::Str(s) => format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'")),
            Val::Int(n) => n.to_string(),
            Val::Tuple(v) if v.len() == 1 => format!("({},)", v[0].repr()),
            Val::Tuple(v) => {
                format!(
                    "({})",
                    v.iter().map(Val::repr).collect::<Vec<_>>().join(", ")
                )
            }
            Val::Set(v) if v.is_empty() => "set()".into(),
            Val::Set(v) => format!(
                "{{{}}}",
                v.iter()
                    .map(|x| Val::Str(x.clone()).repr())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Val::Lines(v) => format!("[{}]", v.len()),
        }
    }

    fn lines(self) -> Vec<Arc<LineTuple>> {
        match self {
            Val::Lines(v) => v,
            _ => Vec::new(),
        }
    }
}

/// fail2ban's failure dict: insertion-ordered like a Python dict.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Dict(Vec<(String, Val)>);

impl Dict {
    fn get(&self, k: &str) -> &Val {
        self.0
            .iter()
            .find(|(n, _)| n == k)
            .map_or(&Val::None, |(_, v)| v)
    }

    fn get_str(&self, k: &str) -> Option<&str> {
        match self.get(k) {
            Val::Str(s) => Some(s),
            _ => None,
        }
    }

    /// `d[k] = v`: replaces in place, or appends.
    fn set(&mut self, k: &str, v: Val) {
        match self.0.iter_mut().find(|(n, _)| n == k) {
            Some(e) => e.1 = v,
            None => self.0.push((k.to_string(), v)),
        }
    }

    /// `d.pop(k, None)`.
    fn pop(&mut self, k: &str) -> Val {
        match self.0.iter().position(|(n, _)| n == k) {
            Some(i) => self.0.remove(i).1,
            None => Val::None,
        }
    }

    fn into_failure(self, filter: usize, regex: usize, id: Option<String>) -> Failure {
        let nofail = self.get("nofail").truthy();
        let mut f = Failure {
            filter,
            regex,
            pending: id.is_none(),
            id: id.unwrap_or_default(),
            data: Vec::with_capacity(self.0.len()),
            composite: Vec::new(),
            matches: Vec::new(),
            nofail,
        };
        for (k, v) in self.0 {
            match v {
                Val::Lines(l) if k == "matches" => f.matches = l.iter().map(|t| t.full()).collect(),
                Val::Lines(_) => {}
                Val::None => f.data.push((k, None)),
                Val::Str(s) => f.data.push((k, Some(s))),
                Val::Int(n) => {
                    f.data.push((k.clone(), None));
                    f.composite.push((k, Value::Int(n)));
                }
                Val::Set(s) => {
                    f.data.push((k.clone(), None));
                    f.composite.push((k, Value::Set(s)));
                }
                Val::Tuple(t) => {
                    f.data.push((k.clone(), None));
                    let t = t
                        .iter()
                        .map(|x| match x {
                            Val::None => None,
                            Val::Str(s) => Some(s.clone()),
                            other => Some(other.repr()),
                        })
                        .collect();
                    f.composite.push((k, Value::Tuple(t)));
                }
            }
        }
        f
    }
}

/// fail2ban's mlfid cache (`Utils.Cache(maxCount=100, maxTime=5*60)`): insertion-ordered,
/// wall-clock expiry; when full, a `set` drops entries from the front until it has dropped
/// one that had not expired.
#[derive(Debug, Clone, Default)]
struct MlfidCache {
    entries: VecDeque<(String, Dict, Instant)>,
}

const MLFID_MAX: usize = 100;
const MLFID_TTL: Duration = Duration::from_secs(5 * 60);

impl MlfidCache {
    fn get(&mut self, k: &str, now: Instant) -> Option<Dict> {
        let i = self.entries.iter().position(|(n, _, _)| n == k)?;
        if self.entries[i].2 > now {
            return Some(self.entries[i].1.clone());
        }
        self.entries.remove(i);
        None
    }

    fn set(&mut self, k: &str, v: Dict, now: Instant) {
        if self.entries.len() >= MLFID_MAX {
            while let Some((_, _, exp)) = self.entries.pop_front() {
                if exp > now && self.entries.len() < MLFID_MAX {
                    break;
                }
            }
        }
        let exp = now + MLFID_TTL;
        match self.entries.iter_mut().find(|(n, _, _)| n == k) {
            Some(e) => {
                e.1 = v;
                e.2 = exp;
            }
            None => self.entries.push_back((k.to_string(), v, exp)),
        }
    }

    /// The cached dict was changed in place (Python shares the object).
    fn update(&mut self, k: &str, v: &Dict) {
        if let Some(e) = self.entries.iter_mut().find(|(n, _, _)| n == k) {
            e.1 = v.clone();
        }
    }

    fn unset(&mut self, k: &str) {
        self.entries.retain(|(n, _, _)| n != k);
    }
}

/// What fail2ban keeps per filter between lines.
#[derive(Debug, Clone, Default)]
struct FilterState {
    /// The line buffer (`maxlines > 1`).
    buffer: Vec<Arc<LineTuple>>,
    mlfid: MlfidCache,
    /// The prefregex result of the last line that ran it (see the module doc).
    last_pref: bool,
    last_pref_groups: Vec<(String, Option<String>)>,
}

/// Where the failure loop goes after one failregex produced (or not) a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Next,
    Stop,
}

/// One compiled Python regex with its exact matchers.
///
/// The automata are compiled on first use ([`Lazy`]): a scan runs the general engine only on
/// the few lines its quick path cannot decide, and those are ASCII, so most matchers (the
/// full-Unicode ones above all) are never needed. Everything that can fail is still checked
/// when the engine is built (see [`Rx::new`]), so a bad regex is reported before any line is
/// read, with the message an eager compile gives.
#[derive(Debug)]
struct Rx {
    tr: Translated,
    /// Exact when the pattern is regular (and, with `\b`, on ASCII haystacks); `None` when
    /// the pattern is not regular (or not exactly so on multi-line haystacks).
    regular: Option<Lazy<meta::Regex>>,
    /// `regular` restricted to ASCII (see [`super::fastpath`]): exact on ASCII haystacks, and
    /// much smaller and faster; with it the ASCII variant split before a `(.+)$` tail, for
    /// single-line ASCII haystacks. Either is `None` when it cannot be built (the full
    /// regex is then used), as before this was lazy.
    ascii: Option<Lazy<(Option<meta::Regex>, Option<Tail>)>>,
    /// Exact always; present when the pattern is not regular or has `\b`.
    fancy: Option<Lazy<fancy_regex::Regex>>,
    /// The parsed `Regular` form for single-line haystacks, when that is what `regular` is
    /// built from (the quick path starts from it instead of parsing the pattern again).
    hir: Option<Arc<regex_syntax::hir::Hir>>,
    names: Vec<(usize, String)>,
    /// `alt_X` groups: (group name, target name), sorted like fail2ban.
    alts: Vec<(String, String)>,
    /// `tuple_X` groups: (group name, target name), sorted like fail2ban.
    tuples: Vec<(String, String)>,
    /// Group numbers of `skiplines0`, `skiplines1`, … (`<SKIPLINES>`), in that order.
    skiplines: Vec<usize>,
}

/// A matcher compiled now or on first use; `None` inside when a deferred compile failed,
/// which [`Rx::new`] rules out for everything it defers (see [`nfa_bound`]).
struct Lazy<T> {
    cell: OnceLock<Option<T>>,
    make: Option<Box<dyn Fn() -> Option<T> + Send + Sync>>,
}

impl<T> Lazy<T> {
    fn ready(v: T) -> Self {
        Lazy {
            cell: OnceLock::from(Some(v)),
            make: None,
        }
    }

    fn deferred(make: impl Fn() -> Option<T> + Send + Sync + 'static) -> Self {
        Lazy {
            cell: OnceLock::new(),
            make: Some(Box::new(make)),
        }
    }

    fn get(&self) -> Option<&T> {
        self.cell
            .get_or_init(|| self.make.as_ref().and_then(|m| m()))
            .as_ref()
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for Lazy<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.cell.get() {
            Some(v) => v.fmt(f),
            None => f.write_str("<not compiled yet>"),
        }
    }
}

/// fancy-regex's matcher of `s`; the error is its message.
fn build_fancy(s: &str) -> Result<fancy_regex::Regex, String> {
    fancy_regex::RegexBuilder::new(s)
        .backtrack_limit(50_000_000)
        .build()
        .map_err(|e| e.to_string())
}

/// The NFA size limit of `meta::Regex::new` (regex-automata's default, which the regex
/// crate under fancy-regex uses too).
const NFA_SIZE_LIMIT: u64 = 10 << 20;

/// A compile of a pattern whose [`nfa_bound`] is at most this is deferred: it cannot hit
/// [`NFA_SIZE_LIMIT`], so compiling it later cannot fail where compiling now would not.
/// (A quarter of the limit leaves room for the `\b` look-arounds fancy-regex adds.)
const DEFER_BOUND: u64 = NFA_SIZE_LIMIT / 4;

impl Rx {
    /// `multiline`: compiled with `re.MULTILINE`; `multiline_haystack`: searched on
    /// buffers of several lines (then a non-MULTILINE `$` needs fancy-regex).
    ///
    /// What can fail is checked now: the printed pattern is parsed (the first step of every
    /// compile), and the automaton is compiled now unless its size is bounded well below
    /// the NFA size limit (the other way a regex-automata compile fails). fancy-regex's
    /// parse and analysis run now; its compile is deferred only beside such a regular
    /// pattern (`\b`), whose pieces it hands to the same bounded compiler.
    fn new(python: &str, multiline: bool, multiline_haystack: bool) -> Result<Rx, String> {
        let tr =
            translate(python, multiline).map_err(|e| format!("{}: {}", e.construct, e.message))?;
        let exact_regular = tr.is_regular() && !(multiline_haystack && tr.has_text_end_dollar());
        let mut deferrable = false;
        let mut parsed = None;
        let (regular, ascii) = if exact_regular {
            let s = tr
                .emit_for(Target::Regular, multiline_haystack)
                .map_err(|e| e.to_string())?;
            let hir = regex_syntax::ParserBuilder::new().build().parse(&s).ok();
            match hir {
                Some(hir) if nfa_bound(&hir) <= DEFER_BOUND => {
                    deferrable = true;
                    let hir = Arc::new(hir);
                    if !multiline_haystack {
                        parsed = Some(hir.clone());
                    }
                    let h = hir.clone();
                    let regular =
                        Lazy::deferred(move || meta::Builder::new().build_from_hir(&h).ok());
                    let ascii = Lazy::deferred(move || Some(ascii_regexes(&hir)));
                    (Some(regular), Some(ascii))
                }
                // A parse error, or a pattern that may be too large: compile now for the
                // exact error (or the automaton).
                _ => {
                    let re = meta::Regex::new(&s).map_err(|e| format!("regex-automata: {e}"))?;
                    let ascii = regex_syntax::ParserBuilder::new()
                        .build()
                        .parse(&s)
                        .ok()
                        .map(|hir| Lazy::ready(ascii_regexes(&hir)));
                    (Some(Lazy::ready(re)), ascii)
                }
            }
        } else {
            (None, None)
        };
        let fancy = if !exact_regular || tr.has_word_boundary {
            let s = tr
                .emit_for(Target::Fancy, multiline_haystack)
                .map_err(|e| e.to_string())?;
            let checks = deferrable
                && fancy_regex::Expr::parse_tree(&s)
                    .is_ok_and(|t| fancy_regex::internal::analyze(&t).is_ok());
            if checks {
                Some(Lazy::deferred(move || build_fancy(&s).ok()))
            } else {
                let re = build_fancy(&s)
                    .map_err(|e| format!("{} (fancy-regex: {e})", tr.non_regular.join(", ")))?;
                Some(Lazy::ready(re))
            }
        } else {
            None
        };
        let names: Vec<(usize, String)> = tr.names().map(|(i, n)| (i, n.to_string())).collect();
        let mut alts = Vec::new();
        let mut tuples = Vec::new();
        for (_, k) in &names {
            if let Some(n) = complex_target(k, "alt_") {
                alts.push((k.clone(), n));
            } else if let Some(n) = complex_target(k, "tuple_") {
                tuples.push((k.clone(), n));
            }
        }
        alts.sort();
        tuples.sort();
        let mut skiplines = Vec::new();
        while let Some((g, _)) = names
            .iter()
            .find(|(_, n)| *n == format!("skiplines{}", skiplines.len()))
        {
            skiplines.push(*g);
        }
        Ok(Rx {
            tr,
            regular,
            ascii,
            fancy,
            hir: parsed,
            names,
            alts,
            tuples,
            skiplines,
        })
    }

    /// The ASCII variant and the tail split, compiled on first use.
    fn ascii_parts(&self) -> (Option<&meta::Regex>, Option<&Tail>) {
        match self.ascii.as_ref().and_then(Lazy::get) {
            Some((a, t)) => (a.as_ref(), t.as_ref()),
            None => (None, None),
        }
    }

    /// The fancy-regex matcher, compiled on first use.
    fn fancy(&self) -> Option<&fancy_regex::Regex> {
        self.fancy.as_ref().and_then(Lazy::get)
    }

    /// The exact regular matcher for `hay` and its cache, or `None` when only fancy-regex
    /// is exact there.
    fn pick<'a>(
        &'a self,
        c: &'a mut RxCache,
        ascii: bool,
    ) -> Option<(&'a meta::Regex, &'a mut meta::Cache, &'a mut Captures)> {
        let lazy = self.regular.as_ref()?;
        if let (true, (Some(a), _)) = (ascii, self.ascii_parts()) {
            let (cache, caps) = c
                .ascii
                .get_or_insert_with(|| (a.create_cache(), a.create_captures()));
            return Some((a, cache, caps));
        }
        if self.tr.has_word_boundary && !ascii {
            return None;
        }
        let regular = lazy.get()?;
        let (cache, caps) = c
            .full
            .get_or_insert_with(|| (regular.create_cache(), regular.create_captures()));
        Some((regular, cache, caps))
    }

    /// The tail split applies to `hay` (`ascii` = `hay.is_ascii()`).
    fn tail_for(&self, hay: &str, ascii: bool) -> Option<&Tail> {
        if !ascii || self.regular.is_none() {
            return None;
        }
        let t = self.ascii_parts().1?;
        let text = hay.strip_suffix('\n')?;
        memchr::memchr(b'\n', text.as_bytes())
            .is_none()
            .then_some(t)
    }

    fn is_match(&self, c: &mut RxCache, hay: &str) -> bool {
        let ascii = hay.is_ascii();
        if let Some(t) = self.tail_for(hay, ascii) {
            let (cache, _) = c.tail_cache(&t.head);
            return t
                .head
                .search_with(cache, &Input::new(hay).earliest(true))
                .is_some();
        }
        match self.pick(c, ascii) {
            Some((r, cache, _)) => r
                .search_with(cache, &Input::new(hay).earliest(true))
                .is_some(),
            // A backtrack-limit error is a regex fail2ban would still be running: no match.
            None => self
                .fancy()
                .is_some_and(|f| f.is_match(hay).unwrap_or(false)),
        }
    }

    /// Searches `hay`; on a match fills `spans` (index = group number).
    fn captures(
        &self,
        c: &mut RxCache,
        hay: &str,
        spans: &mut Vec<Option<(usize, usize)>>,
    ) -> bool {
        spans.clear();
        let ascii = hay.is_ascii();
        if let Some(t) = self.tail_for(hay, ascii) {
            return t.captures(c, hay, spans);
        }
        let Some((r, cache, caps)) = self.pick(c, ascii) else {
            let Some(f) = self.fancy() else { return false };
            let Ok(Some(caps)) = f.captures(hay) else {
                return false;
            };
            spans.extend((0..caps.len()).map(|i| caps.get(i).map(|m| (m.start(), m.end()))));
            return true;
        };
        r.search_captures_with(cache, &Input::new(hay), caps);
        if !caps.is_match() {
            return false;
        }
        spans.extend((0..caps.group_len()).map(|i| caps.get_group(i).map(|s| (s.start, s.end))));
        true
    }

    /// fail2ban's `getGroups()`: the named groups in `groupdict()` order, then `alt_`
    /// targets filled and `tuple_` targets combined.
    fn groups(&self, spans: &[Option<(usize, usize)>], hay: &str) -> Dict {
        let mut d = Dict(
            self.names
                .iter()
                .map(|(g, name)| {
                    let v = spans.get(*g).copied().flatten();
                    (
                        name.clone(),
                        v.map_or(Val::None, |(s, e)| Val::Str(hay[s..e].to_string())),
                    )
                })
                .collect(),
        );
        for (k, n) in &self.alts {
            let v = d.get(k).clone();
            if v.truthy() && !d.get(n).truthy() {
                d.set(n, v);
            }
        }
        for (k, n) in &self.tuples {
            let v = d.get(k).clone();
            let t = match d.get(n).clone() {
                Val::Tuple(mut t) => {
                    t.push(v);
                    t
                }
                t => vec![t, v],
            };
            d.set(n, Val::Tuple(t));
        }
        d
    }

    /// fail2ban's `getSkippedLines()`: the `<SKIPLINES>` captures joined, split like
    /// Python's `str.splitlines()`.
    fn skipped_lines(&self, spans: &[Option<(usize, usize)>], hay: &str) -> Vec<String> {
        let mut all = String::new();
        for g in &self.skiplines {
            if let Some(Some((s, e))) = spans.get(*g) {
                all.push_str(&hay[*s..*e]);
            }
        }
        py_splitlines(&all)
    }
}

/// An upper bound, in bytes, of what regex-automata's Thompson builder counts against its
/// NFA size limit when it compiles `hir` forward or in reverse (as `meta::Regex` does), and
/// of what the regex crate counts for each piece fancy-regex hands it when `\b` is rewritten
/// as look-arounds (a subexpression of `hir`, or one `\w` class of a look-around).
///
/// The builder counts `size_of::<State>()` per state (32 bytes on 64-bit targets) plus 8
/// bytes per byte-range transition and 4 per union alternate. The bound charges 32 + 8 bytes
/// per state, and per node more states than the compiler adds: one per literal byte, one
/// per UTF-8 sequence byte of a Unicode class (its automaton has at most that many states
/// and transitions, however much of it is shared), capture states, union states for each
/// alternation and repetition copy. Repetitions count `max` copies (`min + 1` when
/// unbounded). Saturating: a huge pattern simply exceeds any limit. The unit test checks it
/// against the compiler; [`DEFER_BOUND`] leaves a further factor of four.
fn nfa_bound(hir: &regex_syntax::hir::Hir) -> u64 {
    use regex_syntax::hir::{Class, HirKind};
    use rustc_hash::FxHashMap;
    use std::sync::Mutex;
    const STATE: u64 = 32;
    const TRANS: u64 = 8;
    // The unanchored prefix `(?s:.)*?` meta adds, and the start/match states.
    const OVERHEAD: u64 = 64 * (STATE + TRANS);
    fn class_cost(c: &Class) -> u64 {
        let elements: u64 = match c {
            Class::Bytes(b) => b.ranges().len() as u64,
            Class::Unicode(u) => {
                // The same classes (`\w`, `\d`, `<HOST>`'s) recur in every regex: count
                // their UTF-8 sequences once.
                type Memo = Mutex<FxHashMap<Vec<(char, char)>, u64>>;
                static MEMO: OnceLock<Memo> = OnceLock::new();
                let memo = MEMO.get_or_init(Default::default);
                let key: Vec<(char, char)> = u.iter().map(|r| (r.start(), r.end())).collect();
                let known = memo.lock().ok().and_then(|m| m.get(&key).copied());
                known.unwrap_or_else(|| {
                    let n = u
                        .ranges()
                        .iter()
                        .flat_map(|r| regex_syntax::utf8::Utf8Sequences::new(r.start(), r.end()))
                        .map(|seq| seq.len() as u64)
                        .sum();
                    if let Ok(mut m) = memo.lock() {
                        m.insert(key, n);
                    }
                    n
                })
            }
        };
        (elements + 2) * (STATE + TRANS)
    }
    fn word_cost() -> u64 {
        static WORD: OnceLock<u64> = OnceLock::new();
        *WORD.get_or_init(|| {
            let hir = regex_syntax::ParserBuilder::new().build().parse(r"\w");
            match hir.as_ref().map(|h| h.kind()) {
                Ok(HirKind::Class(c)) => class_cost(c),
                // Not reached (`\w` parses to a class); an unknown cost defers nothing.
                _ => u64::MAX / 8,
            }
        })
    }
    fn go(h: &regex_syntax::hir::Hir) -> u64 {
        let node = STATE + TRANS;
        match h.kind() {
            HirKind::Empty => node,
            HirKind::Literal(l) => (l.0.len() as u64 + 1) * node,
            HirKind::Class(c) => class_cost(c),
            HirKind::Look(_) => node,
            HirKind::Repetition(r) => {
                let copies = u64::from(r.max.unwrap_or(r.min.saturating_add(1)).max(1));
                copies
                    .saturating_mul(go(&r.sub).saturating_add(3 * node))
                    .saturating_add(2 * node)
            }
            HirKind::Capture(c) => go(&c.sub).saturating_add(3 * node),
            HirKind::Concat(v) | HirKind::Alternation(v) => v.iter().fold(3 * node, |acc, x| {
                acc.saturating_add(go(x)).saturating_add(node)
            }),
        }
    }
    let word = if hir.properties().look_set().contains_word_unicode() {
        word_cost()
    } else {
        0
    };
    go(hir).saturating_add(word).saturating_add(OVERHEAD)
}

/// [`fastpath::split_content_tail`] compiled.
#[derive(Debug)]
struct Tail {
    head: meta::Regex,
    group: usize,
    non_empty: bool,
}

impl Tail {
    /// Exact captures of the whole pattern on an ASCII haystack whose only `\n` is last.
    fn captures(
        &self,
        c: &mut RxCache,
        hay: &str,
        spans: &mut Vec<Option<(usize, usize)>>,
    ) -> bool {
        let (cache, caps) = c.tail_cache(&self.head);
        self.head
            .search_captures_with(cache, &Input::new(hay), caps);
        let Some(m) = caps.get_match() else {
            return false;
        };
        // ASCII: the `.` of `H.` is one byte.
        let k = if self.non_empty { m.end() - 1 } else { m.end() };
        let end = k.max(hay.len() - 1);
        spans.extend((0..self.group).map(|i| caps.get_group(i).map(|s| (s.start, s.end))));
        spans[0] = Some((m.start(), end));
        spans.push(Some((k, end)));
        true
    }
}

/// The ASCII-only variant of an exact Rust pattern (parsed) and its tail split; `None` when
/// they cannot be built (the full regex is then used).
fn ascii_regexes(hir: &regex_syntax::hir::Hir) -> (Option<meta::Regex>, Option<Tail>) {
    let ascii = fastpath::ascii_only(hir);
    let tail = fastpath::split_content_tail(&ascii).and_then(|t| {
        let head = meta::Builder::new().build_from_hir(&t.head).ok()?;
        Some(Tail {
            head,
            group: t.group,
            non_empty: t.non_empty,
        })
    });
    (meta::Builder::new().build_from_hir(&ascii).ok(), tail)
}

#[derive(Debug, Clone, Default)]
struct RxCache {
    /// For [`Rx::regular`], made on first use.
    full: Option<(meta::Cache, Captures)>,
    /// For [`Rx::ascii`], made on first use.
    ascii: Option<(meta::Cache, Captures)>,
    /// For [`Rx::tail`], made on first use.
    tail: Option<(meta::Cache, Captures)>,
}

impl RxCache {
    fn tail_cache(&mut self, head: &meta::Regex) -> (&mut meta::Cache, &mut Captures) {
        let (cache, caps) = self
            .tail
            .get_or_insert_with(|| (head.create_cache(), head.create_captures()));
        (cache, caps)
    }
}

#[derive(Debug)]
struct FailC {
    rx: usize,
    /// Pattern index in the combined automaton.
    stage1: usize,
}

#[derive(Debug)]
struct FilterC {
    pref: Option<(usize, usize)>,
    pref_expanded: Option<String>,
    /// Group number of `content` in the prefregex.
    content: Option<usize>,
    fail: Vec<FailC>,
    ign: Vec<(usize, usize)>,
    /// Failregex supersets run on `content + "\n"`.
    stage2: Option<SetAutomaton>,
}

impl FilterC {
    /// fail2ban checks ignoreregexes before the failregexes when there are fewer than
    /// `#failregex - 2` of them (spec 2.4 step 1).
    fn pre_check(&self) -> bool {
        !self.ign.is_empty() && self.ign.len() + 2 < self.fail.len()
    }
}

/// Every filter's regexes compiled together. Immutable and `Sync`; use one
/// [`EngineCache`] per thread (and per log: it holds fail2ban's per-filter state).
#[derive(Debug)]
pub struct Engine {
    rxs: Vec<Rx>,
    filters: Vec<FilterC>,
    combined: Option<SetAutomaton>,
    opts: EngineOptions,
}

/// A many-pattern automaton that gates which regexes run on a line (the combined one, or a
/// filter's content one), built in [`Engine::build`] or, with [`Engine::build_deferred`],
/// on first use.
#[derive(Debug)]
struct SetAutomaton {
    re: Lazy<meta::Regex>,
    /// Its number of patterns, known before it is built.
    len: usize,
}

impl SetAutomaton {
    fn ready(re: meta::Regex) -> SetAutomaton {
        SetAutomaton {
            len: re.pattern_len(),
            re: Lazy::ready(re),
        }
    }

    fn deferred(patterns: Vec<String>) -> SetAutomaton {
        SetAutomaton {
            len: patterns.len(),
            re: Lazy::deferred(move || build_set(&patterns).ok()),
        }
    }

    /// Puts in `set` the patterns that match `hay`. A deferred automaton that could not be
    /// built lets every pattern through: it is only a gate (every regex it passes is run
    /// exactly), so that changes the cost, not the result.
    fn fill(&self, cache: &mut Option<meta::Cache>, hay: &str, set: &mut PatternSet) {
        match self.re.get() {
            Some(re) => {
                let c = cache.get_or_insert_with(|| re.create_cache());
                re.which_overlapping_matches_with(c, &Input::new(hay), set);
            }
            None => {
                for i in 0..self.len {
                    let _ = set.try_insert(PatternID::new_unchecked(i));
                }
            }
        }
    }
}

/// Per-thread scratch space (automaton caches, haystack buffers, capture spans) and
/// fail2ban's per-filter state between lines (see the module doc).
#[derive(Debug, Clone)]
pub struct EngineCache {
    combined: Option<meta::Cache>,
    set: PatternSet,
    stage2: Vec<Option<(Option<meta::Cache>, PatternSet)>>,
    rx: Vec<RxCache>,
    buf: String,
    cbuf: String,
    spans: Vec<Option<(usize, usize)>>,
    pre_spans: Vec<Option<(usize, usize)>>,
    states: Vec<FilterState>,
}

impl EngineCache {
    /// Forgets what fail2ban keeps between lines (line buffers, mlfid cache, last prefregex
    /// result) but keeps the automaton caches: a cache reused for an unrelated run of lines
    /// then behaves like a new one, without rebuilding lazy DFA states.
    pub fn reset_state(&mut self) {
        for st in &mut self.states {
            *st = FilterState::default();
        }
    }
}

/// A pattern-set automaton: `which_overlapping_matches` on it tells which of `patterns`
/// match somewhere in the haystack.
///
/// Each pattern `P` is compiled as `(?:P)(?s:.)*\z`, which matches exactly when `P` matches
/// somewhere, but only at the end of the haystack: the overlapping search then stops once,
/// at the end, instead of at every position where some pattern (an unanchored gate, a
/// `.*` tail) matches again.
fn build_set(patterns: &[String]) -> Result<meta::Regex, Box<regex_automata::meta::BuildError>> {
    let tailed: Vec<String> = patterns
        .iter()
        .map(|p| format!("(?:{p})(?s:.)*\\z"))
        .collect();
    meta::Regex::builder()
        .configure(
            meta::Config::new()
                .match_kind(MatchKind::All)
                .hybrid_cache_capacity(32 << 20)
                .nfa_size_limit(Some(1 << 30)),
        )
        .build_many(&tailed)
        .map_err(Box::new)
}

impl Engine {
    /// Expands tags, translates and compiles every regex. The error names the filter, the
    /// list, the 1-based index and the construct.
    pub fn build(filters: &[FilterRegexes], opts: &EngineOptions) -> Result<Engine, PatternError> {
        Engine::build_inner(filters, opts, false)
    }

    /// [`Engine::build`], except that the automata which gate the regexes (one over every
    /// filter, one per filter's prefregex content) are built when a line first needs them:
    /// the scan decides almost every line on its quick path, and building them was a
    /// quarter of its start-up. An automaton that then fails to build (only a size limit
    /// can make it fail once every regex compiled) gates nothing instead of being an error.
    pub fn build_deferred(
        filters: &[FilterRegexes],
        opts: &EngineOptions,
    ) -> Result<Engine, PatternError> {
        Engine::build_inner(filters, opts, true)
    }

    fn build_inner(
        filters: &[FilterRegexes],
        opts: &EngineOptions,
        defer: bool,
    ) -> Result<Engine, PatternError> {
        let ml = opts.maxlines > 1;
        let mut rxs = Vec::new();
        let mut patterns: Vec<String> = Vec::new();
        let mut out = Vec::new();
        // (filter, patterns) of the per-filter content automata, built after the loop.
        let mut pending: Vec<(usize, Vec<String>)> = Vec::new();
        let stage2_err = |fi: usize, e: Box<meta::BuildError>| PatternError {
            filter: filters[fi].name.clone(),
            kind: RegexKind::Failregex,
            index: 0,
            regex: String::new(),
            message: format!("combined automaton: {e}"),
        };
        // Every regex is translated and parsed up front, in parallel (they are independent,
        // and this was most of the engine's build: ~2.6 ms of a scan's ~5.5 ms start on
        // the stock filter). The loop below takes the results in the order it would have
        // compiled them, so the first error it meets is the same.
        let jobs: Vec<(RegexKind, &str)> = filters
            .iter()
            .flat_map(|f| {
                let pref = f.prefregex.iter().map(|p| (RegexKind::Prefregex, p));
                let fail = f.failregex.iter().map(|r| (RegexKind::Failregex, r));
                let ign = f.ignoreregex.iter().map(|r| (RegexKind::Ignoreregex, r));
                pref.chain(fail).chain(ign).map(|(k, r)| (k, r.as_str()))
            })
            .collect();
        let mut compiled = jobs
            .par_iter()
            .map(|&(kind, regex)| -> Result<(Rx, String), String> {
                let expanded =
                    expand_tags(regex, opts.usedns).map_err(|e: TagError| e.to_string())?;
                // fail2ban compiles only failregexes with re.MULTILINE (maxlines > 1); the
                // prefregex and ignoreregexes still search the whole buffer.
                let multiline = ml && kind == RegexKind::Failregex;
                Ok((Rx::new(&expanded, multiline, ml)?, expanded))
            })
            .collect::<Vec<_>>()
            .into_iter();
        let mut compile_all = || -> Result<(), PatternError> {
            for f in filters {
                let err = |kind, index, regex: &str, message: String| PatternError {
                    filter: f.name.clone(),
                    kind,
                    index,
                    regex: regex.to_string(),
                    message,
                };
                let mut compile = |kind,
                                   index,
                                   regex: &str,
                                   rxs: &mut Vec<Rx>|
                 -> Result<(usize, String), PatternError> {
                    let (rx, expanded) = compiled
                        .next()
                        .unwrap_or_else(|| Err("internal: no compiled regex".to_string()))
                        .map_err(|m| err(kind, index, regex, m))?;
                    rxs.push(rx);
                    Ok((rxs.len() - 1, expanded))
                };
                let superset = |rx: &Rx, target| rx.tr.emit(target).unwrap_or_default();

                let mut fc = FilterC {
                    pref: None,
                    pref_expanded: None,
                    content: None,
                    fail: Vec::new(),
                    ign: Vec::new(),
                    stage2: None,
                };
                if let Some(p) = &f.prefregex {
                    let (id, expanded) = compile(RegexKind::Prefregex, 1, p, &mut rxs)?;
                    patterns.push(superset(&rxs[id], Target::Superset));
                    fc.pref = Some((id, patterns.len() - 1));
                    fc.content = rxs[id]
                        .names
                        .iter()
                        .find(|(_, n)| n == "content")
                        .map(|(i, _)| *i);
                    fc.pref_expanded = Some(expanded);
                }
                let id_groups = ["fid", "ip4", "ip6", "dns", "mlfid"];
                let pref_has_id = fc
                    .pref
                    .is_some_and(|(p, _)| id_groups.iter().any(|g| rxs[p].tr.has_group(g)));
                let mut stage2 = Vec::new();
                for (i, r) in f.failregex.iter().enumerate() {
                    let (id, expanded) = compile(RegexKind::Failregex, i + 1, r, &mut rxs)?;
                    if !pref_has_id && !id_groups.iter().any(|g| rxs[id].tr.has_group(g)) {
                        return Err(err(
                            RegexKind::Failregex,
                            i + 1,
                            r,
                            format!("No failure-id group in '{expanded}'"),
                        ));
                    }
                    let target = if fc.content.is_some() {
                        Target::Gate
                    } else {
                        Target::Superset
                    };
                    patterns.push(superset(&rxs[id], target));
                    if fc.content.is_some() {
                        stage2.push(superset(&rxs[id], Target::Superset));
                    }
                    fc.fail.push(FailC {
                        rx: id,
                        stage1: patterns.len() - 1,
                    });
                }
                for (i, r) in f.ignoreregex.iter().enumerate() {
                    let (id, _) = compile(RegexKind::Ignoreregex, i + 1, r, &mut rxs)?;
                    patterns.push(superset(&rxs[id], Target::Superset));
                    fc.ign.push((id, patterns.len() - 1));
                }
                if !ml && fc.content.is_some() && !stage2.is_empty() {
                    pending.push((out.len(), stage2));
                }
                out.push(fc);
            }
            Ok(())
        };
        if let Err(e) = compile_all() {
            // Report what a filter-by-filter build reports first: the content automaton
            // of an earlier filter comes before this error.
            for (fi, p) in &pending {
                build_set(p).map_err(|e| stage2_err(*fi, e))?;
            }
            return Err(e);
        }
        // Multi-line buffers run every regex exactly (module doc): no combined automaton.
        let with_combined = !(patterns.is_empty() || ml);
        let combined = if defer {
            for (fi, p) in pending {
                out[fi].stage2 = Some(SetAutomaton::deferred(p));
            }
            with_combined.then(|| SetAutomaton::deferred(patterns))
        } else {
            // The automata are independent: build them in parallel (then report errors in
            // the order a filter-by-filter build meets them: content automata, then the
            // combined).
            let (combined, stage2) = rayon::join(
                || with_combined.then(|| build_set(&patterns)),
                || {
                    pending
                        .par_iter()
                        .map(|(fi, p)| (*fi, build_set(p)))
                        .collect::<Vec<_>>()
                },
            );
            for (fi, re) in stage2 {
                out[fi].stage2 = Some(SetAutomaton::ready(re.map_err(|e| stage2_err(fi, e))?));
            }
            combined
                .transpose()
                .map_err(|e| PatternError {
                    filter: String::new(),
                    kind: RegexKind::Failregex,
                    index: 0,
                    regex: String::new(),
                    message: format!("combined automaton: {e}"),
                })?
                .map(SetAutomaton::ready)
        };
        Ok(Engine {
            rxs,
            filters: out,
            combined,
            opts: opts.clone(),
        })
    }

    pub fn new_cache(&self) -> EngineCache {
        EngineCache {
            combined: None,
            set: PatternSet::new(self.combined.as_ref().map_or(0, |c| c.len)),
            stage2: self
                .filters
                .iter()
                .map(|f| f.stage2.as_ref().map(|r| (None, PatternSet::new(r.len))))
                .collect(),
            rx: vec![RxCache::default(); self.rxs.len()],
            buf: String::new(),
            cbuf: String::new(),
            spans: Vec::new(),
            pre_spans: Vec::new(),
            states: vec![FilterState::default(); self.filters.len()],
        }
    }

    /// Searches `hay` with filter `fi`'s ignoreregexes (those `gate` lets through, by
    /// pattern id in the combined set) and records each hit like fail2ban-regex: every
    /// matching one with check-all, else only the first. True when any matched.
    fn ignore_hits(
        &self,
        fi: usize,
        rx_caches: &mut [RxCache],
        hay: &str,
        gate: impl Fn(usize) -> bool,
        out: &mut LineOutcome,
    ) -> bool {
        let mut found = false;
        for (i, &(rx, p)) in self.filters[fi].ign.iter().enumerate() {
            if gate(p) && self.rxs[rx].is_match(&mut rx_caches[rx], hay) {
                out.ignore_hits.push((fi, i));
                found = true;
                if !self.opts.check_all {
                    break;
                }
            }
        }
        found
    }

    /// The prefregex after tag expansion, as fail2ban-regex prints it.
    pub fn expanded_prefregex(&self, filter: usize) -> Option<&str> {
        self.filters.get(filter)?.pref_expanded.as_deref()
    }

    pub fn filter_count(&self) -> usize {
        self.filters.len()
    }

    pub fn maxlines(&self) -> usize {
        self.opts.maxlines.max(1)
    }

    /// Runs every filter on one line. `text` is the line with the date text cut out
    /// (`before + after`), without the trailing newline. With `maxlines > 1` or mlfid
    /// filters prefer [`Engine::match_parts`]: the buffer compares whole lines, and
    /// [`Failure::matches`] then lacks the date text.
    pub fn match_line(&self, cache: &mut EngineCache, text: &str, out: &mut LineOutcome) {
        let parts = LineParts {
            before: text,
            date: "",
            after: "",
        };
        self.match_parts(cache, parts, out);
    }

    /// Runs every filter on one line given as fail2ban's tuple (see [`LineParts`]).
    pub fn match_parts(&self, cache: &mut EngineCache, line: LineParts<'_>, out: &mut LineOutcome) {
        out.reset(self.filters.len());
        if self.opts.maxlines > 1 {
            let cur = LineTuple::new(line);
            for f in 0..self.filters.len() {
                self.filter_ml(f, cache, &cur, out);
            }
            return;
        }
        cache.buf.clear();
        cache.buf.push_str(line.before);
        cache.buf.push_str(line.after);
        cache.buf.push('\n');
        cache.set.clear();
        if let Some(re) = &self.combined {
            re.fill(&mut cache.combined, cache.buf.as_str(), &mut cache.set);
        }
        if cache.set.is_empty() {
            // No prefregex can match either (their supersets did not).
            for st in &mut cache.states {
                st.last_pref = false;
                st.last_pref_groups.clear();
            }
            return;
        }
        for f in 0..self.filters.len() {
            self.filter_line(f, cache, line, out);
        }
    }

    /// Records the prefregex result of filter `fi` like fail2ban-regex; `searched` is the
    /// haystack and the spans of the prefregex `prx` on it (groups are read only when it
    /// matched and [`EngineOptions::pref_groups`] is set).
    fn record_pref(
        &self,
        (fi, prx): (usize, usize),
        matched: bool,
        (hay, spans): (&str, &[Option<(usize, usize)>]),
        st: &mut FilterState,
        out: &mut LineOutcome,
    ) {
        st.last_pref = matched;
        out.prefregex_matched[fi] = matched;
        if self.opts.pref_groups {
            let groups = if matched {
                dict_strings(self.rxs[prx].groups(spans, hay))
            } else {
                Vec::new()
            };
            st.last_pref_groups = groups.clone();
            out.pref_groups[fi] = groups;
        }
    }

    /// The ignore pre-check result of a dropped line: fail2ban-regex asks the prefregex
    /// object, which still holds the previous line's result.
    fn pref_from_last(fi: usize, st: &FilterState, out: &mut LineOutcome) {
        out.prefregex_matched[fi] = st.last_pref;
        out.pref_groups[fi] = st.last_pref_groups.clone();
    }

    /// The prefregex groups that go into the failure data (`content` dropped).
    fn pre_dict(&self, prx: usize, spans: &[Option<(usize, usize)>], hay: &str) -> Dict {
        let mut d = self.rxs[prx].groups(spans, hay);
        d.pop("content");
        d
    }

    /// Single-line `findFailure` for filter `fi`, gated by the combined automaton.
    fn filter_line(
        &self,
        fi: usize,
        cache: &mut EngineCache,
        line: LineParts<'_>,
        out: &mut LineOutcome,
    ) {
        let f = &self.filters[fi];
        let check_all = self.opts.check_all;
        let pre_check = f.pre_check();
        if pre_check {
            let set = &cache.set;
            let found =
                self.ignore_hits(fi, &mut cache.rx, &cache.buf, |p| set.contains(pid(p)), out);
            if found {
                Self::pref_from_last(fi, &cache.states[fi], out);
                return;
            }
        }
        let mut use_content = false;
        let mut pre = Dict::default();
        if let Some((prx, pp)) = f.pref {
            let candidate = cache.set.contains(pid(pp));
            let any_fail = f.fail.iter().any(|fc| cache.set.contains(pid(fc.stage1)));
            let matched = if !candidate {
                cache.pre_spans.clear();
                false
            } else if any_fail || self.opts.pref_groups {
                let (rx, buf, spans) = (&self.rxs[prx], &cache.buf, &mut cache.pre_spans);
                rx.captures(&mut cache.rx[prx], buf, spans)
            } else {
                cache.pre_spans.clear();
                self.rxs[prx].is_match(&mut cache.rx[prx], &cache.buf)
            };
            let st = &mut cache.states[fi];
            self.record_pref((fi, prx), matched, (&cache.buf, &cache.pre_spans), st, out);
            if !matched || !any_fail {
                return;
            }
            pre = self.pre_dict(prx, &cache.pre_spans, &cache.buf);
            if let Some(cg) = f.content {
                if let Some(Some((s, e))) = cache.pre_spans.get(cg) {
                    if e > s {
                        cache.cbuf.clear();
                        let content = &cache.buf[*s..*e];
                        cache.cbuf.push_str(content);
                        cache.cbuf.push('\n');
                        use_content = true;
                        if let (Some(re), Some((c, set))) = (&f.stage2, cache.stage2[fi].as_mut()) {
                            set.clear();
                            re.fill(c, cache.cbuf.as_str(), set);
                        }
                    }
                }
            }
        }
        // The post-check sees the same text as the pre-check unless the content replaced it.
        let post_check = !f.ign.is_empty() && (!pre_check || use_content);
        let post_check_on = |emptied: bool| post_check || (emptied && !f.ign.is_empty());
        // Without check-all fail2ban empties the buffer after a match: the remaining
        // failregexes (reached only when that match had no ID) search "\n".
        let mut emptied = false;
        let mut cur: Option<Arc<LineTuple>> = None;
        for (j, fc) in f.fail.iter().enumerate() {
            let candidate = if emptied {
                true
            } else if use_content {
                cache.stage2[fi]
                    .as_ref()
                    .is_some_and(|(_, set)| set.contains(pid(j)))
            } else {
                cache.set.contains(pid(fc.stage1))
            };
            if !candidate {
                continue;
            }
            let hay: &str = if emptied {
                "\n"
            } else if use_content {
                &cache.cbuf
            } else {
                &cache.buf
            };
            let rx = &self.rxs[fc.rx];
            if !rx.captures(&mut cache.rx[fc.rx], hay, &mut cache.spans) {
                continue;
            }
            if post_check_on(emptied) && self.ignore_hits(fi, &mut cache.rx, hay, |_| true, out) {
                if !check_all {
                    break;
                }
                continue;
            }
            let groups = rx.groups(&cache.spans, hay);
            if !check_all {
                emptied = true;
            }
            let mut data = pre.clone();
            for (k, v) in groups.0 {
                data.set(&k, v);
            }
            let cur = cur.get_or_insert_with(|| LineTuple::new(line)).clone();
            let st = &mut cache.states[fi];
            if self.finish(fi, j, data, vec![cur], st, out) == Flow::Stop {
                break;
            }
        }
    }

    /// Multi-line `findFailure` for filter `fi` (spec 2.5), plus fail2ban-regex's list of
    /// consumed earlier lines.
    fn filter_ml(
        &self,
        fi: usize,
        cache: &mut EngineCache,
        cur: &Arc<LineTuple>,
        out: &mut LineOutcome,
    ) {
        let maxlines = self.opts.maxlines;
        let before = cache.states[fi].buffer.clone();
        {
            let b = &mut cache.states[fi].buffer;
            b.push(cur.clone());
            if b.len() > maxlines {
                b.drain(..b.len() - maxlines);
            }
        }
        self.find_ml(fi, cache, out);
        // fail2ban-regex skips the first old line when the buffer was full: the cut dropped it.
        let skip = usize::from(before.len() >= maxlines);
        let now = &cache.states[fi].buffer;
        for l in before.iter().skip(skip) {
            if !now.contains(l) {
                out.consumed.push((fi, l.full()));
            }
        }
    }

    fn find_ml(&self, fi: usize, cache: &mut EngineCache, out: &mut LineOutcome) {
        let f = &self.filters[fi];
        let check_all = self.opts.check_all;
        // `orgBuffer`: the buffer as it was before any match of this line.
        let org = cache.states[fi].buffer.clone();
        let mut buf = Some(join_text(&org));
        if f.pre_check() {
            let hay = buf.as_deref().unwrap_or("\n");
            if self.ignore_hits(fi, &mut cache.rx, hay, |_| true, out) {
                Self::pref_from_last(fi, &cache.states[fi], out);
                return;
            }
        }
        let mut pre = Dict::default();
        if let Some((prx, _)) = f.pref {
            let hay = buf.as_deref().unwrap_or("\n");
            let matched = self.rxs[prx].captures(&mut cache.rx[prx], hay, &mut cache.pre_spans);
            let st = &mut cache.states[fi];
            self.record_pref((fi, prx), matched, (hay, &cache.pre_spans), st, out);
            if !matched {
                return;
            }
            pre = self.pre_dict(prx, &cache.pre_spans, hay);
            let content = f
                .content
                .and_then(|g| cache.pre_spans.get(g).copied().flatten())
                .filter(|(s, e)| e > s)
                .map(|(s, e)| hay[s..e].to_string());
            if let Some(c) = content {
                // fail2ban replaces its line buffer by the content (and keeps it so when no
                // failregex matches).
                cache.states[fi].buffer = vec![Arc::new(LineTuple {
                    before: String::new(),
                    date: String::new(),
                    after: c,
                })];
                buf = None;
            }
        }
        for (j, fc) in f.fail.iter().enumerate() {
            let hay = match buf.take() {
                Some(b) => b,
                None => join_text(&cache.states[fi].buffer),
            };
            let rx = &self.rxs[fc.rx];
            let matched = rx.captures(&mut cache.rx[fc.rx], &hay, &mut cache.spans);
            if !matched {
                buf = Some(hay);
                continue;
            }
            let groups = rx.groups(&cache.spans, &hay);
            let span = cache.spans.first().copied().flatten().unwrap_or((0, 0));
            let skipped = rx.skipped_lines(&cache.spans, &hay);
            let (matched_lines, unmatched) = split_match(&hay, span, &skipped, &org);
            if !f.ign.is_empty() {
                // The ignoreregexes see only the lines of this match.
                let ihay = join_text(&matched_lines);
                if self.ignore_hits(fi, &mut cache.rx, &ihay, |_| true, out) {
                    cache.states[fi].buffer = unmatched.clone();
                    if !check_all {
                        break;
                    }
                    continue;
                }
            }
            cache.states[fi].buffer = unmatched;
            let mut data = pre.clone();
            for (k, v) in groups.0 {
                data.set(&k, v);
            }
            let st = &mut cache.states[fi];
            if self.finish(fi, j, data, matched_lines, st, out) == Flow::Stop {
                break;
            }
        }
    }

    /// The rest of fail2ban's failregex loop body once a match survived the ignore check:
    /// mlfid merging (spec 2.6), `matches`, ID selection (2.4 steps 5-6), pending failures.
    fn finish(
        &self,
        fi: usize,
        j: usize,
        mut fail: Dict,
        matched: Vec<Arc<LineTuple>>,
        st: &mut FilterState,
        out: &mut LineOutcome,
    ) -> Flow {
        let check_all = self.opts.check_all;
        let mlfid = match fail.get("mlfid") {
            Val::None => None,
            v => Some(v.text().unwrap_or_default()),
        };
        let mut linked = false;
        if let Some(m) = &mlfid {
            let (merged, l) = merge_mlfid(m, fail, matched, st);
            fail = merged;
            linked = l;
            if fail.get("nofail").truthy() && !check_all {
                return Flow::Stop;
            }
        } else {
            let mut m = fail.pop("matches").lines();
            m.extend(matched);
            fail.set("matches", Val::Lines(m));
        }
        let write_back = |st: &mut FilterState, fail: &Dict| {
            if let (true, Some(m)) = (linked, &mlfid) {
                st.mlfid.update(m, fail);
            }
        };
        let raw_mode = self.opts.usedns == UseDns::Raw || self.opts.dns == DnsMode::Raw;
        let as_id = |s: &str| {
            if raw_mode {
                s.to_string()
            } else {
                ipaddr::addr_unspec(s)
            }
        };
        let fid = fail.get("fid").text();
        let cidr = fail.get_str("cidr").map(str::to_string);
        // (address as captured, address as fail2ban prints it)
        let addr: Option<(String, String)> = if let Some(ip) = fail.get("ip4").text() {
            let a = ipaddr::addr_of_family(&ip, Family::V4, cidr.as_deref());
            Some((ip, a))
        } else if let Some(ip) = fail.get("ip6").text() {
            let a = ipaddr::addr_of_family(&ip, Family::V6, cidr.as_deref());
            Some((ip, a))
        } else if let Some(dns) = fail.get("dns").text() {
            if !raw_mode {
                let fids = self.text_to_ip(&dns);
                write_back(st, &fail);
                for id in fids {
                    out.failures
                        .push(fail.clone().into_failure(fi, j, Some(id)));
                }
                return if check_all { Flow::Next } else { Flow::Stop };
            }
            Some((dns.clone(), dns))
        } else if let Some(f) = &fid {
            Some((f.clone(), as_id(f)))
        } else if mlfid.is_none() {
            // fail2ban raises "No group found" inside the loop, logs it and goes on.
            return Flow::Next;
        } else {
            None
        };
        let id = match addr {
            None => {
                fail.set("mlfpending", Val::Int(1));
                write_back(st, &fail);
                if !check_all && self.opts.ignore_pending {
                    return Flow::Stop;
                }
                None
            }
            Some((ip, a)) => match &fid {
                Some(f) if *f != ip => {
                    fail.set("ip", Val::Str(a));
                    write_back(st, &fail);
                    Some(as_id(f))
                }
                _ => {
                    write_back(st, &fail);
                    Some(a)
                }
            },
        };
        out.failures.push(fail.into_failure(fi, j, id));
        if check_all {
            Flow::Next
        } else {
            Flow::Stop
        }
    }

    /// fail2ban's `textToIp`: a plain IPv4 address, else (usedns yes/warn) a name lookup:
    /// `/etc/hosts` only offline, the system resolver with [`DnsMode::Resolve`].
    fn text_to_ip(&self, name: &str) -> Vec<String> {
        if let Some(ip) = ipaddr::plain_ipv4(name) {
            return vec![ip];
        }
        if !matches!(self.opts.usedns, UseDns::Yes | UseDns::Warn) {
            return Vec::new();
        }
        let found: Vec<std::net::IpAddr> = match self.opts.dns {
            DnsMode::Raw => return Vec::new(),
            DnsMode::Unresolved => etc_hosts()
                .iter()
                .filter(|(_, n)| n.eq_ignore_ascii_case(name))
                .map(|(a, _)| *a)
                .collect(),
            DnsMode::Resolve => {
                use std::net::ToSocketAddrs;
                match (name, 0u16).to_socket_addrs() {
                    Ok(addrs) => addrs.map(|a| a.ip()).collect(),
                    Err(_) => return Vec::new(),
                }
            }
        };
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for a in found {
            match a {
                std::net::IpAddr::V4(x) => v4.push(x.to_string()),
                std::net::IpAddr::V6(x) => {
                    v6.push(ipaddr::addr_of_family(&x.to_string(), Family::V6, None))
                }
            }
        }
        let mut out: Vec<String> = Vec::new();
        for a in v4.into_iter().chain(v6) {
            if !out.contains(&a) {
                out.push(a);
            }
        }
        out
    }
}

/// fail2ban's `_mergeFailure` (spec 2.6). Returns the merged dict and whether it is the
/// cached one (fail2ban shares the object, so later changes must reach the cache).
fn merge_mlfid(
    mlfid: &str,
    mut fail: Dict,
    matched: Vec<Arc<LineTuple>>,
    st: &mut FilterState,
) -> (Dict, bool) {
    const NOFAIL: u8 = 1;
    const FORGET: u8 = 2;
    const OLD_STATE: u8 = 4;
    const GAINED: u8 = 8;
    let now = Instant::now();
    let cached = st.mlfid.get(mlfid, now);
    let mut flags = 0u8;
    if fail.get("mlfgained").truthy() {
        flags |= GAINED | NOFAIL;
        if !fail.get("nofail").truthy() {
            let g = fail.get("mlfgained").clone();
            fail.set("nofail", g);
        }
    } else if fail.get("nofail").truthy() {
        flags |= NOFAIL;
    }
    if fail.pop("mlfforget").truthy() {
        flags |= FORGET;
    }
    let users: Option<Vec<String>>;
    let linked;
    if let Some(mut g) = cached {
        users = update_users(&mut g, fail.get("user"));
        // Only the latest failure's nofail/mlfgained count.
        if g.pop("nofail").truthy() {
            flags |= OLD_STATE;
        }
        if g.pop("mlfgained").truthy() {
            flags |= OLD_STATE;
        }
        if flags & GAINED != 0 {
            g.pop("mlfpending");
        }
        if flags & OLD_STATE == 0 && !g.get("mlfpending").truthy() {
            // Its matches were reported already.
            g.pop("matches");
        }
        for (k, v) in fail.0 {
            if !v.is_none() {
                g.set(&k, v);
            }
        }
        fail = g;
        if flags & FORGET != 0 {
            st.mlfid.unset(mlfid);
            linked = false;
        } else {
            linked = true;
        }
    } else if flags & FORGET == 0 {
        let user = fail.get("user").clone();
        users = update_users(&mut fail, &user);
        st.mlfid.set(mlfid, fail.clone(), now);
        linked = true;
    } else {
        users = None;
        linked = false;
    }
    let several_users = users.as_ref().is_some_and(|u| u.len() > 1);
    if fail.pop("mlfpending").truthy() || several_users {
        // Pending failures or another user: this is no success.
        fail.pop("nofail");
        fail.pop("mlfgained");
        flags &= !(GAINED | NOFAIL);
    }
    if flags & NOFAIL == 0 {
        let mut m = fail.pop("nofail-matches").lines();
        m.extend(fail.get("matches").clone().lines());
        if flags & GAINED == 0 {
            m.extend(matched);
        }
        fail.set("matches", Val::Lines(m));
    } else if flags & (NOFAIL | FORGET) == NOFAIL {
        let mut m = fail.get("nofail-matches").clone().lines();
        m.extend(matched);
        fail.set("nofail-matches", Val::Lines(m));
    }
    if linked {
        st.mlfid.update(mlfid, &fail);
    }
    (fail, linked)
}

/// fail2ban's `_updateUsers`: adds a (truthy) `user` to the dict's `users` set; returns
/// the set (`None` when the dict has none).
fn update_users(d: &mut Dict, user: &Val) -> Option<Vec<String>> {
    let mut users = match d.get("users") {
        Val::Set(s) => Some(s.clone()),
        _ => None,
    };
    if user.truthy() {
        let mut set = users.filter(|s| !s.is_empty()).unwrap_or_default();
        let u = user.text().unwrap_or_default();
        if !set.contains(&u) {
            set.push(u);
        }
        d.set("users", Val::Set(set.clone()));
        users = Some(set);
    }
    users
}

/// fail2ban's `_tupleLinesBuf`: the texts joined by `\n`, plus a final `\n`.
fn join_text(lines: &[Arc<LineTuple>]) -> String {
    let mut s = String::new();
    for (i, l) in lines.iter().enumerate() {
        if i > 0 {
            s.push('\n');
        }
        l.push_text(&mut s);
    }
    s.push('\n');
    s
}

/// fail2ban's `Regex.search` bookkeeping: which lines of `org` a match at `span` of `hay`
/// used, and which it left (before it, `<SKIPLINES>` lines, after it). Line numbers come
/// from `hay` and index `org`, which fail2ban does even when they differ (after a
/// `<F-CONTENT>` replacement or an earlier match of the same line).
fn split_match(
    hay: &str,
    span: (usize, usize),
    skipped: &[String],
    org: &[Arc<LineTuple>],
) -> (Vec<Arc<LineTuple>>, Vec<Arc<LineTuple>>) {
    if org.len() <= 1 {
        return (org.to_vec(), Vec::new());
    }
    let b = hay.as_bytes();
    let (s, e) = span;
    let start = memchr::memrchr(b'\n', &b[..(s + 1).min(b.len())]).map_or(0, |p| p + 1);
    // Python's `index("\n", end - 1)`; `end - 1 = -1` counts from the end.
    let from = if e == 0 {
        b.len().saturating_sub(1)
    } else {
        e - 1
    };
    let end = memchr::memchr(b'\n', &b[from.min(b.len())..]).map_or(b.len(), |p| from + p + 1);
    let l1 = memchr::memchr_iter(b'\n', &b[..start])
        .count()
        .min(org.len());
    let l2 = memchr::memchr_iter(b'\n', &b[..end])
        .count()
        .clamp(l1, org.len());
    let mut matched: Vec<Arc<LineTuple>> = org[l1..l2].to_vec();
    let mut unmatched: Vec<Arc<LineTuple>> = org[..l1].to_vec();
    let mut n = 0;
    for sk in skipped {
        if n > matched.len() {
            break;
        }
        if let Some(m) = matched[n..].iter().position(|t| t.text_eq(sk)) {
            unmatched.push(matched.remove(n + m));
            n += m;
        }
    }
    unmatched.extend_from_slice(&org[l2..]);
    (matched, unmatched)
}

/// Python's `str.splitlines()` (no ends kept).
fn py_splitlines(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' | '\x0b' | '\x0c' | '\x1c' | '\x1d' | '\x1e' | '\u{85}' | '\u{2028}'
            | '\u{2029}' => out.push(std::mem::take(&mut cur)),
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push(std::mem::take(&mut cur));
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// `/etc/hosts` as (address, name) pairs, read once.
fn etc_hosts() -> &'static [(std::net::IpAddr, String)] {
    static HOSTS: OnceLock<Vec<(std::net::IpAddr, String)>> = OnceLock::new();
    HOSTS.get_or_init(|| {
        let text = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
        parse_hosts(&text)
    })
}

fn parse_hosts(text: &str) -> Vec<(std::net::IpAddr, String)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or_default();
        let mut fields = line.split_whitespace();
        let Some(Ok(addr)) = fields.next().map(str::parse::<std::net::IpAddr>) else {
            continue;
        };
        out.extend(fields.map(|n| (addr, n.to_string())));
    }
    out
}

/// A dict with string values only, for the prefregex groups `-v` prints.
fn dict_strings(d: Dict) -> Vec<(String, Option<String>)> {
    d.0.into_iter().map(|(k, v)| (k, v.text())).collect()
}

fn pid(i: usize) -> PatternID {
    PatternID::new_unchecked(i)
}

/// `alt_user_1` → `user`, `tuple_id` → `fid` (fail2ban's `COMPLNAME_CRE` with `mapTag2Opt`).
fn complex_target(name: &str, prefix: &str) -> Option<String> {
    let rest = name.strip_prefix(prefix)?;
    if rest.is_empty() {
        return None;
    }
    // `(.*?)(?:_\d+)?$`: a trailing `_digits` is dropped.
    let base = match rest.rfind('_') {
        Some(p) if p + 1 < rest.len() && rest[p + 1..].chars().all(|c| c.is_ascii_digit()) => {
            &rest[..p]
        }
        _ => rest,
    };
    Some(match base {
        "id" => "fid".to_string(),
        "port" => "fport".to_string(),
        b => b.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine(fail: &[&str], ign: &[&str], check_all: bool) -> Engine {
        let f = FilterRegexes {
            name: "t".into(),
            prefregex: None,
            failregex: fail.iter().map(|s| s.to_string()).collect(),
            ignoreregex: ign.iter().map(|s| s.to_string()).collect(),
        };
        Engine::build(
            &[f],
            &EngineOptions {
                check_all,
                ..EngineOptions::default()
            },
        )
        .unwrap()
    }

    fn run(e: &Engine, line: &str) -> LineOutcome {
        let mut c = e.new_cache();
        let mut o = LineOutcome::default();
        e.match_line(&mut c, line, &mut o);
        o
    }

    #[test]
    fn ids_and_data() {
        let e = engine(
            &[r"^user <F-ID>\S+</F-ID> failed from <ADDR>(?: port <F-PORT>\d+</F-PORT>)?"],
            &[],
            true,
        );
        let o = run(&e, "user bob failed from 1.2.3.4 port 22");
        assert_eq!(o.failures.len(), 1);
        let f = &o.failures[0];
        assert_eq!(f.id, "bob");
        let keys: Vec<_> = f.data.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["fid", "ip4", "ip6", "fport", "ip"]);
        let ip = f
            .data
            .iter()
            .find(|(k, _)| k == "ip")
            .and_then(|(_, v)| v.as_deref());
        assert_eq!(ip, Some("1.2.3.4"));
    }

    #[test]
    fn no_failure_id_group() {
        let f = FilterRegexes {
            name: "x".into(),
            failregex: vec!["^foo$".into()],
            ..Default::default()
        };
        let e = Engine::build(&[f], &EngineOptions::default()).unwrap_err();
        assert_eq!(e.index, 1);
        assert!(e.message.contains("No failure-id group in '^foo$'"), "{e}");
    }

    #[test]
    fn dns_unresolved_gives_nothing() {
        let e = engine(&[r"^from <HOST>$"], &[], true);
        assert!(run(&e, "from example.invalid").failures.is_empty());
        let f = FilterRegexes {
            name: "t".into(),
            failregex: vec![r"^from <HOST>$".into()],
            ..Default::default()
        };
        let e = Engine::build(
            &[f],
            &EngineOptions {
                dns: DnsMode::Raw,
                ..EngineOptions::default()
            },
        )
        .unwrap();
        assert_eq!(
            run(&e, "from example.invalid").failures[0].id,
            "example.invalid"
        );
    }

    #[test]
    fn alt_names() {
        assert_eq!(
            complex_target("alt_user_1", "alt_").as_deref(),
            Some("user")
        );
        assert_eq!(complex_target("alt_id", "alt_").as_deref(), Some("fid"));
        assert_eq!(complex_target("user", "alt_"), None);
    }

    /// The printed Rust pattern of `python` (tags expanded) and its HIR.
    fn printed(python: &str) -> regex_syntax::hir::Hir {
        let expanded = expand_tags(python, UseDns::Warn).unwrap();
        let tr = translate(&expanded, false).unwrap();
        let s = tr.emit_for(Target::Regular, false).unwrap();
        regex_syntax::ParserBuilder::new()
            .build()
            .parse(&s)
            .unwrap()
    }

    /// [`nfa_bound`] is an upper bound: the NFAs `meta::Regex` compiles (forward with
    /// captures, reverse without, unshrunk) fit in a size limit equal to it.
    #[test]
    fn nfa_bound_covers_the_compiles() {
        use regex_automata::nfa::thompson;
        let patterns = [
            r"^from <HOST>$",
            r"^user (?P<user>\w+) \b(?:failed|denied)\b from <HOST>(?::\d+)?$",
            r"^[\w.-]{3,12}\s+\d{1,3}(?:x|y|[^\s]){2,5} <ADDR>",
            r"^(?:é|ü)+.*\S\W\D <F-ID>[^']*</F-ID>'$",
            r"^\w{200} <HOST>",
            r"^(?:\w+\s?){0,40} <HOST>",
        ];
        for p in patterns {
            let hir = printed(p);
            let bound = usize::try_from(nfa_bound(&hir)).unwrap();
            let fwd = thompson::Config::new().nfa_size_limit(Some(bound));
            let rev = thompson::Config::new()
                .nfa_size_limit(Some(bound))
                .reverse(true)
                .shrink(false)
                .which_captures(thompson::WhichCaptures::None);
            for cfg in [fwd, rev] {
                thompson::Compiler::new()
                    .configure(cfg)
                    .build_from_hir(&hir)
                    .unwrap_or_else(|e| panic!("{p}: bound {bound}: {e}"));
            }
            meta::Builder::new()
                .configure(meta::Config::new().nfa_size_limit(Some(bound)))
                .build_from_hir(&hir)
                .unwrap_or_else(|e| panic!("{p}: bound {bound}: {e}"));
        }
        // A usual failregex is far below the bound under which compiles are deferred.
        assert!(nfa_bound(&printed(patterns[1])) <= DEFER_BOUND);
    }

    /// Usual regexes are compiled on first use, and only what a line needs.
    #[test]
    fn matchers_compile_on_first_use() {
        let e = engine(&[r"^user \S+ \bfailed\b from <HOST>$"], &[], true);
        let rx = &e.rxs[0];
        fn compiled<T>(l: &Option<Lazy<T>>) -> bool {
            l.as_ref().is_some_and(|l| l.cell.get().is_some())
        }
        assert!(!compiled(&rx.regular) && !compiled(&rx.ascii));
        assert!(rx.fancy.is_some() && !compiled(&rx.fancy));
        assert_eq!(
            run(&e, "user bob failed from 1.2.3.4").failures[0].id,
            "1.2.3.4"
        );
        // ASCII line: the ASCII variant only.
        assert!(compiled(&rx.ascii) && !compiled(&rx.regular) && !compiled(&rx.fancy));
        // Non-ASCII line with `\b`: only fancy-regex is exact there.
        assert_eq!(
            run(&e, "user bøb failed from 1.2.3.4").failures[0].id,
            "1.2.3.4"
        );
        assert!(compiled(&rx.fancy));
    }

    /// A regex whose automaton may exceed the NFA size limit is compiled at build time, so
    /// the size-limit error is still reported then.
    #[test]
    fn oversized_regex_fails_at_build() {
        let f = FilterRegexes {
            name: "t".into(),
            failregex: vec![r"^x <F-ID>\w{20000}</F-ID>$".into()],
            ..Default::default()
        };
        let e = Engine::build(&[f], &EngineOptions::default()).unwrap_err();
        assert_eq!(e.index, 1);
        assert!(e.message.starts_with("regex-automata: "), "{e}");
    }
}

#[cfg(test)]
mod multiline_tests {
    use super::*;

    fn ml_engine(fail: &[&str], ign: &[&str], maxlines: usize) -> Engine {
        let f = FilterRegexes {
            name: "t".into(),
            prefregex: None,
            failregex: fail.iter().map(|s| s.to_string()).collect(),
            ignoreregex: ign.iter().map(|s| s.to_string()).collect(),
        };
        let opts = EngineOptions {
            maxlines,
            ..EngineOptions::default()
        };
        Engine::build(&[f], &opts).unwrap()
    }

    fn feed(e: &Engine, c: &mut EngineCache, date: &str, text: &str) -> LineOutcome {
        let mut o = LineOutcome::default();
        let parts = LineParts {
            before: "",
            date,
            after: text,
        };
        e.match_parts(c, parts, &mut o);
        o
    }

    #[test]
    fn skiplines_keep_lines_and_consumed_lists_earlier_ones() {
        let e = ml_engine(
            &[r"^open (?P<c>\d+) from <ADDR><SKIPLINES>fail (?P=c)$"],
            &[],
            4,
        );
        let mut c = e.new_cache();
        assert!(feed(&e, &mut c, "d1 ", "open 1 from 192.0.2.1")
            .failures
            .is_empty());
        assert!(feed(&e, &mut c, "d2 ", "noise").failures.is_empty());
        let o = feed(&e, &mut c, "d3 ", "fail 1");
        assert_eq!(o.failures.len(), 1);
        let f = &o.failures[0];
        assert_eq!(f.id, "192.0.2.1");
        // the skipped line is neither in `matches` nor consumed
        assert_eq!(f.matches, ["d1 open 1 from 192.0.2.1", "d3 fail 1"]);
        assert_eq!(o.consumed, [(0, "d1 open 1 from 192.0.2.1".to_string())]);
        assert_eq!(c.states[0].buffer.len(), 1);
        assert_eq!(c.states[0].buffer[0].after, "noise");
    }

    #[test]
    fn buffer_is_cut_to_maxlines() {
        let e = ml_engine(&[r"^a from <ADDR>\nb$"], &[], 2);
        let mut c = e.new_cache();
        feed(&e, &mut c, "", "a from 192.0.2.1");
        feed(&e, &mut c, "", "x");
        // the `a` line left by the cut: not consumed, no match
        let o = feed(&e, &mut c, "", "b");
        assert!(o.failures.is_empty());
        assert!(o.consumed.is_empty());
        assert_eq!(c.states[0].buffer.len(), 2);
    }

    #[test]
    fn ignoreregex_sees_matched_lines_and_non_multiline_dollar() {
        // `$` of an ignoreregex is the end of the matched lines, not of every line.
        let e = ml_engine(&[r"^a from <ADDR>\n(?:.*\n)*?b$"], &[r"192\.0\.2\.1$"], 3);
        let mut c = e.new_cache();
        feed(&e, &mut c, "", "a from 192.0.2.1");
        let o = feed(&e, &mut c, "", "b");
        assert_eq!(o.failures.len(), 1);
        assert!(o.ignore_hits.is_empty());
    }

    #[test]
    fn split_match_by_line() {
        let org: Vec<Arc<LineTuple>> = ["l0", "l1", "l2", "l3"]
            .iter()
            .map(|t| {
                LineTuple::new(LineParts {
                    before: t,
                    date: "",
                    after: "",
                })
            })
            .collect();
        let hay = join_text(&org);
        // a match from inside l1 to inside l3, l2 skipped
        let (m, u) = split_match(&hay, (4, 13), &["l2".to_string()], &org);
        let names = |v: &[Arc<LineTuple>]| v.iter().map(|t| t.before.clone()).collect::<Vec<_>>();
        assert_eq!(names(&m), ["l1", "l3"]);
        assert_eq!(names(&u), ["l0", "l2"]);
        // a match starting on a "\n" starts on the next line
        let (m, _) = split_match(&hay, (2, 5), &[], &org);
        assert_eq!(names(&m), ["l1"]);
    }

    #[test]
    fn splitlines_like_python() {
        assert_eq!(
            py_splitlines("a\nb\r\nc\rd\x0ce\n"),
            ["a", "b", "c", "d", "e"]
        );
        assert!(py_splitlines("").is_empty());
        assert_eq!(py_splitlines("\n"), [""]);
    }

    #[test]
    fn mlfid_cache_evicts_fifo_at_100() {
        let mut m = MlfidCache::default();
        let now = Instant::now();
        for i in 0..MLFID_MAX {
            m.set(&i.to_string(), Dict::default(), now);
        }
        m.set("new", Dict::default(), now);
        assert_eq!(m.entries.len(), MLFID_MAX);
        assert!(m.get("0", now).is_none());
        assert!(m.get("1", now).is_some());
        // expired entries are dropped on access
        assert!(m.get("1", now + MLFID_TTL).is_none());
    }

    #[test]
    fn mlfid_users_pending_and_gained() {
        let f = FilterRegexes {
            name: "t".into(),
            failregex: vec![
                r"^c<F-MLFID>\d+</F-MLFID> user <F-USER>\S+</F-USER>$".into(),
                r"^c<F-MLFID>\d+</F-MLFID> fail(?: from <ADDR>)?$".into(),
                r"^c<F-MLFID>\d+</F-MLFID> <F-MLFGAINED>ok</F-MLFGAINED> from <ADDR>$".into(),
            ],
            ..Default::default()
        };
        let e = Engine::build(&[f], &EngineOptions::default()).unwrap();
        let mut c = e.new_cache();
        let mut o = LineOutcome::default();
        e.match_line(&mut c, "c1 user bob", &mut o);
        assert!(
            o.failures[0].pending,
            "no address yet: pending, reported in check-all"
        );
        e.match_line(&mut c, "c1 fail from 192.0.2.1", &mut o);
        let f = &o.failures[0];
        assert_eq!(f.id, "192.0.2.1");
        assert_eq!(
            f.composite,
            [("users".to_string(), Value::Set(vec!["bob".into()]))]
        );
        assert_eq!(f.matches, ["c1 user bob", "c1 fail from 192.0.2.1"]);
        // a success on a connection with no pending failure: nofail
        e.match_line(&mut c, "c2 ok from 192.0.2.2", &mut o);
        assert!(o.failures[0].nofail);
    }

    #[test]
    fn hosts_file() {
        let h = parse_hosts("127.0.0.1 localhost lo # x\n# c\n::1 localhost\nbad line\n");
        let names: Vec<_> = h.iter().map(|(a, n)| format!("{a} {n}")).collect();
        assert_eq!(
            names,
            ["127.0.0.1 localhost", "127.0.0.1 lo", "::1 localhost"]
        );
    }
}

#[cfg(test)]
mod sync_tests {
    /// The engine is shared between scan threads; each thread owns an `EngineCache`.
    #[test]
    fn engine_is_send_and_sync() {
        fn assert_sync<T: Send + Sync>() {}
        assert_sync::<super::Engine>();
        fn assert_send<T: Send>() {}
        assert_send::<super::EngineCache>();
    }
}

#[cfg(test)]
mod deferred_tests {
    use super::*;

    fn filters() -> Vec<FilterRegexes> {
        vec![
            FilterRegexes {
                name: "pref".into(),
                prefregex: Some(r"^\S+ svc\[\d+\]: <F-CONTENT>.+</F-CONTENT>$".into()),
                failregex: vec![
                    r"^auth failed from <HOST>$".into(),
                    r"^bad user \S+ from <HOST> port \d+$".into(),
                ],
                ignoreregex: vec![r"from 192\.0\.2\.9\b".into()],
            },
            FilterRegexes {
                name: "plain".into(),
                prefregex: None,
                failregex: vec![r"refused connect from <HOST>".into()],
                ignoreregex: Vec::new(),
            },
        ]
    }

    const LINES: &[&str] = &[
        "host svc[12]: auth failed from 192.0.2.1",
        "host svc[12]: auth failed from 192.0.2.9",
        "host svc[7]: bad user admin from 2001:db8::5 port 22",
        "host svc[7]: bad user admin from 198.51.100.3",
        "host other[1]: auth failed from 192.0.2.2",
        "host svc[3]: refused connect from 203.0.113.8",
        "refused connect from 203.0.113.9 (host svc[3]: auth failed from 192.0.2.3)",
        "nothing to see",
        "",
    ];

    fn outcomes(e: &Engine) -> Vec<String> {
        let mut c = e.new_cache();
        LINES
            .iter()
            .map(|line| {
                let mut o = LineOutcome::default();
                e.match_line(&mut c, line, &mut o);
                let fails: Vec<_> = o
                    .failures
                    .iter()
                    .map(|f| (f.filter, f.regex, f.id.clone()))
                    .collect();
                format!("{fails:?} {:?}", o.ignore_hits)
            })
            .collect()
    }

    /// Gates built on first use give the results of gates built up front, and a gate that
    /// could not be built lets every regex through without changing a result.
    #[test]
    fn deferred_gates_give_the_eager_results() {
        for check_all in [true, false] {
            let opts = EngineOptions {
                check_all,
                ..EngineOptions::default()
            };
            let want = outcomes(&Engine::build(&filters(), &opts).unwrap());
            assert!(
                want.iter().filter(|o| o.contains('(')).count() >= 4,
                "{want:?}"
            );

            let deferred = Engine::build_deferred(&filters(), &opts).unwrap();
            let built = |e: &Engine| e.combined.as_ref().unwrap().re.cell.get().is_some();
            assert!(!built(&deferred));
            assert!(deferred.filters[0].stage2.is_some());
            assert_eq!(outcomes(&deferred), want);
            assert!(built(&deferred));

            let mut broken = Engine::build_deferred(&filters(), &opts).unwrap();
            let fail = |s: SetAutomaton| SetAutomaton {
                re: Lazy::deferred(|| None),
                len: s.len,
            };
            broken.combined = broken.combined.take().map(fail);
            for f in &mut broken.filters {
                f.stage2 = f.stage2.take().map(fail);
            }
            assert_eq!(outcomes(&broken), want);
        }
    }
}
