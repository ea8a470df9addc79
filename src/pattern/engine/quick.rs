//! The scan's quick path: the common single-line case decided with lazy DFA walks and one
//! small capture search, instead of the engine's general machinery.
//!
//! `failscan scan` runs fail2ban's server semantics without check-all: per filter, the first
//! failregex that matches (and survives the ignoreregexes) gives one failure whose ID is the
//! address in `ip4`/`ip6`. For a filter whose regexes have the usual shape that is decided
//! exactly, on an ASCII line, by:
//! 1. the prefregex `H(?P<content>.+)$` split as in [`fastpath::split_content_tail`]: one
//!    forward lazy-DFA search of `H.` gives where the content starts;
//! 2. one *anchored leftmost-first* lazy-DFA search over `content + "\n"` of every failregex
//!    at once, each as `(?s:.)*?F` (or `F` itself when it starts with `^`): anchored
//!    leftmost-first priority is pattern order, so the reported pattern is the first
//!    failregex that matches anywhere (Python's `search`, tried in list order), and the
//!    reported end is where that failregex's own preferred match ends;
//! 3. that failregex's address: all-matches DFAs cut the match around the address groups
//!    ([`Split`]) and the bounded backtracker runs on the address alone; when the cut is not
//!    unique, the backtracker runs on the whole match.
//!
//! Before steps 2 and 3, the [`skeleton`] matcher tries the failregexes in order without
//! any automaton walk over the content (literals, `memchr` runs, the address region cut at
//! the literal that follows it); it decides most lines of the usual Asterisk shapes, and
//! when it cannot it says so and the steps above run as described.
//!
//! Whatever is not that shape is handed back ([`Quick::Fallback`]) and the caller runs the
//! full [`Engine`] on the line, so the quick path never changes a result:
//! non-ASCII lines (the ASCII automata are exact only there), ignoreregexes, `fid`/`mlfid`/
//! `nofail`/`cidr`/`alt_`/`tuple_` groups, a failregex that is only a regular *superset*
//! (look-around, backreference) winning the DFA race, a `dns` capture (a name needs
//! resolution), an empty content, a lazy DFA that gave up, a line too long for the
//! backtracker. The tests below and `tests/scan.rs` check that quick and engine-only scans
//! give equal results (`FAILSCAN_NO_QUICK=1` turns the quick path off).

use std::sync::OnceLock;

use regex_automata::hybrid::dfa::{Cache as DfaCache, DFA};
use regex_automata::hybrid::LazyStateID;
use regex_automata::nfa::thompson::backtrack::{BoundedBacktracker, Cache as BtCache};
use regex_automata::nfa::thompson::{self, NFA};
use regex_automata::util::captures::Captures;
use regex_automata::{Anchored, Input, MatchKind};
use regex_syntax::hir::{
    Capture, Class, ClassBytes, ClassBytesRange, Hir, HirKind, Look, Repetition,
};

use super::{fastpath, Engine, Family, Rx, Target, UseDns};
use crate::pattern::DnsMode;

mod skeleton;

use skeleton::{SkelCache, Skeleton, Verdict};

/// Groups whose meaning the quick path does not reproduce (the engine's `finish`).
const SPECIAL: [&str; 5] = ["fid", "mlfid", "nofail", "cidr", "mlfforget"];

/// One failure found by the quick path: `buf[start..end]` is the address as captured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuickHit {
    pub filter: usize,
    /// 0-based failregex index.
    pub regex: usize,
    pub kind: AddrKind,
    pub start: usize,
    pub end: usize,
}

/// What the captured address is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddrKind {
    /// `ip4` or `ip6`: the ID is the address normalised for its family.
    Ip(Family),
    /// `dns` with raw names (`--raw`, failscan scan): the ID is the name as written.
    Name,
}

/// The verdict on one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quick {
    /// Decided: the hits (possibly none) are in [`QuickCache::hits`].
    Done,
    /// Not decided: run the full engine on this line.
    Fallback,
}

/// The quick path of every filter of an engine (see the module doc).
#[derive(Debug)]
pub struct QuickPlan {
    filters: Vec<Option<QuickFilter>>,
    /// Names are IDs as written (raw mode); otherwise a `dns` capture falls back.
    raw_names: bool,
}

#[derive(Debug)]
struct QuickFilter {
    /// `H.` / `H` of the prefregex and whether the content is `.+` (`None`: no prefregex,
    /// the failregexes search the whole line).
    head: Option<(DFA, bool)>,
    /// Every failregex, anchored, leftmost-first.
    fails: DFA,
    /// Per failregex: its exact capture searcher, `None` when only a superset is known.
    capture: Vec<Option<LazyCapturer>>,
    /// The first try on a line (see [`skeleton`]), when a failregex has its shape.
    skel: Option<Skeleton>,
}

/// A [`Capturer`] built when a line first needs it: with the skeleton deciding most lines,
/// many filters never do, and its automata are a good part of a scan's start-up.
#[derive(Debug)]
struct LazyCapturer {
    cell: std::sync::OnceLock<Option<Capturer>>,
    /// What [`capturer`] needs: the failregex's ASCII HIR and its address groups (ip4,
    /// ip6, dns).
    hir: Hir,
    groups: [Option<usize>; 3],
}

impl LazyCapturer {
    /// The capturer, `None` when it cannot be built (the engine then decides).
    fn get(&self) -> Option<&Capturer> {
        self.cell
            .get_or_init(|| capturer(&self.hir, self.groups))
            .as_ref()
    }
}

#[derive(Debug)]
struct Capturer {
    bt: BoundedBacktracker,
    /// Group indices of `ip4`, `ip6`, `dns`.
    ip4: Option<usize>,
    ip6: Option<usize>,
    dns: Option<usize>,
    /// The regex starts with `^`: its match starts at 0.
    anchored: bool,
    /// The narrow capture search (see [`Split`]), when the regex has that shape.
    split: Option<Split>,
}

/// A failregex `A M B` cut around `M`, the top-level elements that hold the address
/// groups: the backtracker's cost grows with the text it walks, and `A` and `B` are most of
/// the line (`Registration from '...' failed for '` and `' - Wrong password`).
///
/// Given the whole match `[0, e)` found by the DFA, all-matches DFAs walk each byte of it
/// about once: `A` forward from 0 gives where `A` can end (when there are several, the
/// reverse DFA of `MB` from `e` keeps those where the rest can start); `B` in reverse from
/// `e` gives where `B` can start, and `M` forward from that single start `p` keeps those
/// where `M` can end. When both cuts `p` and `q` are unique, every parse of the match (the
/// preferred one included) has `M` on `[p, q)`, and since the regex is regular (nothing
/// ties `M` to `A` or `B`) its groups are those of the preferred parse of `M` ending at
/// `q`: `M\z` on the text cut at `q` (`M` has no look-around, so the cut changes nothing
/// else). Otherwise the whole-match backtracker decides.
#[derive(Debug)]
struct Split {
    /// `A` without its leading `^literal` (whose `skip` bytes the whole match already
    /// fixed): its walk starts after them.
    a: DFA,
    skip: usize,
    /// The last byte of `A` when `A` ends with a literal and `M` can never match that byte.
    a_last: Option<u8>,
    /// Reverse DFA of `M B`.
    mb_rev: DFA,
    /// Reverse DFA of `B`.
    b_rev: DFA,
    m_fwd: DFA,
    /// `M\z` with the address groups only, renumbered 1, 2, 3.
    m: BoundedBacktracker,
    /// `M` is exactly fail2ban's `<HOST>` (address groups renumbered), whose first branch
    /// `(?:::f{4,6}:)?(?P<ip4>(?:\d{1,3}\.){3}\d{1,3})` is checked by hand (see
    /// [`host_ip4`]) before the backtracker.
    is_host: bool,
    ip4: Option<usize>,
    ip6: Option<usize>,
    dns: Option<usize>,
}

/// Per-thread state of a [`Split`].
#[derive(Debug, Clone)]
struct SplitCache {
    a: DfaCache,
    mb_rev: DfaCache,
    b_rev: DfaCache,
    m_fwd: DfaCache,
    m: BtCache,
    caps: Captures,
}

/// Per-thread state of a [`Capturer`].
#[derive(Debug, Clone)]
struct CapCache {
    bt: BtCache,
    caps: Captures,
    split: Option<SplitCache>,
}

/// Per-thread state of a [`QuickPlan`].
#[derive(Debug, Clone)]
pub struct QuickCache {
    heads: Vec<Option<DfaCache>>,
    fails: Vec<Option<DfaCache>>,
    /// Per filter and failregex, made when the failregex first needs its capturer.
    caps: Vec<Vec<Option<CapCache>>>,
    skels: Vec<Option<SkelCache>>,
    head_skips: Vec<Skips>,
    head_memos: Vec<HeadMemo>,
    /// Lines the skeleton decided (tests check it does its share).
    #[cfg(test)]
    skel_decided: usize,
    /// The hits of the last [`QuickPlan::classify`] that returned [`Quick::Done`].
    pub hits: Vec<QuickHit>,
}

impl QuickPlan {
    /// Builds the quick path of `engine`, `None` when its options never allow it (check-all,
    /// multi-line buffers, raw IDs) or no filter qualifies.
    pub fn build(engine: &Engine) -> Option<QuickPlan> {
        QuickPlan::build_with(engine, true)
    }

    /// [`QuickPlan::build`], with or without the [`skeleton`] matcher (tests compare both;
    /// the results are the same).
    pub fn build_with(engine: &Engine, skeleton: bool) -> Option<QuickPlan> {
        let o = &engine.opts;
        if o.check_all || o.maxlines > 1 {
            return None;
        }
        let raw_names = o.usedns == UseDns::Raw || o.dns == DnsMode::Raw;
        let filters: Vec<Option<QuickFilter>> = (0..engine.filters.len())
            .map(|fi| build_filter(engine, fi, skeleton))
            .collect();
        filters
            .iter()
            .any(Option::is_some)
            .then_some(QuickPlan { filters, raw_names })
    }

    pub fn new_cache(&self) -> QuickCache {
        QuickCache {
            heads: self
                .filters
                .iter()
                .map(|f| {
                    f.as_ref()
                        .and_then(|f| f.head.as_ref())
                        .map(|(d, _)| d.create_cache())
                })
                .collect(),
            fails: self
                .filters
                .iter()
                .map(|f| f.as_ref().map(|f| f.fails.create_cache()))
                .collect(),
            caps: self
                .filters
                .iter()
                .map(|f| match f {
                    // Made on first use: with the skeleton, most filters never need them.
                    Some(f) => vec![None; f.capture.len()],
                    None => Vec::new(),
                })
                .collect(),
            skels: self
                .filters
                .iter()
                .map(|f| {
                    f.as_ref()
                        .and_then(|f| f.skel.as_ref())
                        .map(Skeleton::new_cache)
                })
                .collect(),
            head_skips: self.filters.iter().map(|_| Skips::default()).collect(),
            head_memos: self.filters.iter().map(|_| HeadMemo::default()).collect(),
            #[cfg(test)]
            skel_decided: 0,
            hits: Vec::new(),
        }
    }

    /// Decides `buf` (the line without its date, plus `"\n"`) for every filter, or asks for
    /// the engine. Hits are positions in `buf`.
    pub fn classify(&self, c: &mut QuickCache, buf: &str) -> Quick {
        self.classify_ascii(c, buf, buf.is_ascii())
    }

    /// [`QuickPlan::classify`] when the caller already knows whether `buf` is ASCII (the
    /// scan tests whole blocks of lines at once: testing each candidate line again cost
    /// ~3% of a scan).
    #[inline]
    pub fn classify_ascii(&self, c: &mut QuickCache, buf: &str, ascii: bool) -> Quick {
        debug_assert_eq!(ascii, buf.is_ascii());
        c.hits.clear();
        if !ascii || !buf.ends_with('\n') {
            return Quick::Fallback;
        }
        for (fi, f) in self.filters.iter().enumerate() {
            let Some(f) = f else {
                return Quick::Fallback;
            };
            if filter_line(fi, f, c, buf, self.raw_names) == Quick::Fallback {
                return Quick::Fallback;
            }
        }
        Quick::Done
    }
}

fn filter_line(
    fi: usize,
    f: &QuickFilter,
    c: &mut QuickCache,
    buf: &str,
    raw_names: bool,
) -> Quick {
    let start = match (&f.head, c.heads[fi].as_mut()) {
        (Some((dfa, non_empty)), Some(cache)) => {
            let (skips, memo) = (&mut c.head_skips[fi], &mut c.head_memos[fi]);
            match head_search(dfa, cache, skips, memo, buf.as_bytes()) {
                Ok(Some(end)) => {
                    let k = if *non_empty { end - 1 } else { end };
                    // `.*` content that is empty: the engine then searches the whole line.
                    if k + 1 >= buf.len() {
                        return Quick::Fallback;
                    }
                    k
                }
                Ok(None) => return Quick::Done,
                Err(_) => return Quick::Fallback,
            }
        }
        _ => 0,
    };
    let hay = &buf[start..];
    let mut winner = None;
    if let (Some(sk), Some(sc)) = (&f.skel, c.skels[fi].as_mut()) {
        let v = sk.classify(sc, hay.as_bytes(), raw_names);
        #[cfg(test)]
        if matches!(v, Verdict::Hit { .. } | Verdict::NoHit) {
            c.skel_decided += 1;
        }
        match v {
            Verdict::Hit {
                regex,
                kind,
                start: s,
                end: e,
            } => {
                c.hits.push(QuickHit {
                    filter: fi,
                    regex,
                    kind,
                    start: start + s,
                    end: start + e,
                });
                return Quick::Done;
            }
            Verdict::NoHit => return Quick::Done,
            Verdict::Matches { regex, end } => winner = Some((regex, end)),
            Verdict::Unknown => {}
        }
    }
    let (j, end) = match winner {
        Some(w) => w,
        None => {
            let Some(cache) = c.fails[fi].as_mut() else {
                return Quick::Fallback;
            };
            match f
                .fails
                .try_search_fwd(cache, &Input::new(hay).anchored(Anchored::Yes))
            {
                Ok(Some(m)) => (m.pattern().as_usize(), m.offset()),
                Ok(None) => return Quick::Done,
                Err(_) => return Quick::Fallback,
            }
        }
    };
    let (Some(cap), Some(slot)) = (
        f.capture[j].as_ref().and_then(LazyCapturer::get),
        c.caps[fi].get_mut(j),
    ) else {
        return Quick::Fallback;
    };
    let cc = slot.get_or_insert_with(|| cap.new_cache());
    let Some((kind, s, e)) = cap.address(cc, hay, end, raw_names) else {
        return Quick::Fallback;
    };
    c.hits.push(QuickHit {
        filter: fi,
        regex: j,
        kind,
        start: start + s,
        end: start + e,
    });
    Quick::Done
}

impl Capturer {
    fn new_cache(&self) -> CapCache {
        CapCache {
            bt: self.bt.create_cache(),
            caps: self.bt.create_captures(),
            split: self.split.as_ref().map(|s| SplitCache {
                a: s.a.create_cache(),
                mb_rev: s.mb_rev.create_cache(),
                b_rev: s.b_rev.create_cache(),
                m_fwd: s.m_fwd.create_cache(),
                m: s.m.create_cache(),
                caps: s.m.create_captures(),
            }),
        }
    }

    /// The address of the match of this regex that ends at `end` in `hay` (the preferred
    /// match, found by the DFA): its kind and span, `None` when the engine must decide.
    fn address(
        &self,
        c: &mut CapCache,
        hay: &str,
        end: usize,
        raw_names: bool,
    ) -> Option<(AddrKind, usize, usize)> {
        if let (Some(sp), Some(sc), true) = (&self.split, c.split.as_mut(), self.anchored) {
            match sp.address(sc, hay, end, raw_names) {
                Narrow::Found(a) => return Some(a),
                Narrow::Engine => return None,
                Narrow::Wide => {}
            }
        }
        if end > self.bt.max_haystack_len() {
            return None;
        }
        let anchored = if self.anchored {
            Anchored::Yes
        } else {
            Anchored::No
        };
        let input = Input::new(hay).range(..end).anchored(anchored);
        if self.bt.try_search(&mut c.bt, &input, &mut c.caps).is_err() || !c.caps.is_match() {
            // Cannot happen (the DFA found this match); the engine decides.
            return None;
        }
        pick_address(&c.caps, (self.ip4, self.ip6, self.dns), raw_names)
    }
}

/// The outcome of the narrow capture search.
enum Narrow {
    Found((AddrKind, usize, usize)),
    /// The address is a name to resolve (or absent): the engine decides.
    Engine,
    /// The cut is not unique: use the whole-match backtracker.
    Wide,
}

impl Split {
    fn address(&self, c: &mut SplitCache, hay: &str, end: usize, raw_names: bool) -> Narrow {
        let whole = Input::new(hay).range(..end).anchored(Anchored::Yes);
        // `A` ends with a byte `M` never matches: a unique start of `B` fixes `M`'s start
        // too (the last such byte before it), without walking `A`.
        if let Some(a) = self.a_last {
            if let Some(starts_b) =
                all_matches(&self.b_rev, &mut c.b_rev, &whole, Dir::Rev, MAX_CUTS)
            {
                if let [q] = starts_b.as_slice() {
                    if let Some(i) = memchr::memrchr(a, &hay.as_bytes()[..*q]) {
                        return self.groups(c, hay, i + 1, *q, raw_names);
                    }
                }
            }
        }
        let after_lit = Input::new(hay)
            .range(self.skip.min(end)..end)
            .anchored(Anchored::Yes);
        let Some(ends_a) = all_matches(&self.a, &mut c.a, &after_lit, Dir::Fwd, MAX_CUTS) else {
            return Narrow::Wide;
        };
        let p = match ends_a.as_slice() {
            [p] => Some(*p),
            cuts => common(&self.mb_rev, &mut c.mb_rev, &whole, Dir::Rev, cuts),
        };
        let Some(p) = p else {
            return Narrow::Wide;
        };
        let Some(starts_b) = all_matches(&self.b_rev, &mut c.b_rev, &whole, Dir::Rev, MAX_CUTS)
        else {
            return Narrow::Wide;
        };
        let from_p = Input::new(hay).range(p..end).anchored(Anchored::Yes);
        let q = match starts_b.as_slice() {
            [] => None,
            [q] => Some(*q),
            cuts => common(&self.m_fwd, &mut c.m_fwd, &from_p, Dir::Fwd, cuts),
        };
        let Some(q) = q else {
            return Narrow::Wide;
        };
        self.groups(c, hay, p, q, raw_names)
    }

    /// The address groups of `M` on exactly `[p, q)`.
    fn groups(&self, c: &mut SplitCache, hay: &str, p: usize, q: usize, raw_names: bool) -> Narrow {
        if self.is_host {
            if let Some(start) = host_ip4(&hay.as_bytes()[p..q]) {
                return Narrow::Found((AddrKind::Ip(Family::V4), p + start, q));
            }
        }
        let input = Input::new(&hay[..q]).range(p..).anchored(Anchored::Yes);
        if self.m.try_search(&mut c.m, &input, &mut c.caps).is_err() || !c.caps.is_match() {
            return Narrow::Wide;
        }
        match pick_address(&c.caps, (self.ip4, self.ip6, self.dns), raw_names) {
            Some(a) => Narrow::Found(a),
            None => Narrow::Engine,
        }
    }
}

/// When `text` (all of it) matches the first branch of `<HOST>`,
/// `(?:::f{4,6}:)?(?P<ip4>(?:\d{1,3}\.){3}\d{1,3})`, the start of the `ip4` group.
/// The first branch is the preferred one whenever it matches the span, and its optional
/// prefix is forced (the address part has no `:`), so this is the backtracker's answer.
fn host_ip4(text: &[u8]) -> Option<usize> {
    // The branch taken as a prefix (the skeleton's parse) and nothing after it.
    skeleton::ip4_prefix(text)
        .filter(|&(_, end)| end == text.len())
        .map(|(start, _)| start)
}

/// At most this many candidate cut positions are collected.
const MAX_CUTS: usize = 8;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Dir {
    Fwd,
    Rev,
}

/// Walks an anchored all-matches DFA over `input`, calling `each` with every match
/// position (match ends forward, in increasing order; match starts in reverse, in
/// decreasing order) until it returns false or the DFA dies. `None` when the lazy DFA gave
/// up. A hand-written walk: the overlapping search API pays a call per match, and an
/// address is a match at almost every position for `AM` and `MB`.
fn each_match(
    dfa: &DFA,
    cache: &mut DfaCache,
    input: &Input<'_>,
    dir: Dir,
    mut each: impl FnMut(usize) -> bool,
) -> Option<()> {
    let hay = input.haystack();
    let (lo, hi) = (input.start(), input.end());
    match dir {
        Dir::Fwd => {
            let mut sid = dfa.start_state_forward(cache, input).ok()?;
            for (i, &b) in hay[lo..hi].iter().enumerate() {
                sid = step(dfa, cache, sid, b)?;
                if sid.is_tagged() {
                    // Matches are reported one byte late: this one ends before byte i.
                    if sid.is_match() && !each(lo + i) {
                        return Some(());
                    }
                    if sid.is_dead() {
                        return Some(());
                    }
                    if sid.is_quit() {
                        return None;
                    }
                }
            }
            // The byte after the span (look-around sees it) or the end of the text.
            sid = match hay.get(hi) {
                Some(&b) => dfa.next_state(cache, sid, b).ok()?,
                None => dfa.next_eoi_state(cache, sid).ok()?,
            };
            if sid.is_match() {
                each(hi);
            }
        }
        Dir::Rev => {
            let mut sid = dfa.start_state_reverse(cache, input).ok()?;
            for i in (lo..hi).rev() {
                sid = step(dfa, cache, sid, hay[i])?;
                if sid.is_tagged() {
                    if sid.is_match() && !each(i + 1) {
                        return Some(());
                    }
                    if sid.is_dead() {
                        return Some(());
                    }
                    if sid.is_quit() {
                        return None;
                    }
                }
            }
            sid = match lo.checked_sub(1) {
                Some(j) => dfa.next_state(cache, sid, hay[j]).ok()?,
                None => dfa.next_eoi_state(cache, sid).ok()?,
            };
            if sid.is_match() {
                each(lo);
            }
        }
    }
    Some(())
}

/// The states of a head DFA that loop on themselves for every byte but one to three (per
/// thread; lazy state IDs are only valid until the cache is cleared).
#[derive(Debug, Clone, Default)]
struct Skips {
    clears: usize,
    states: Vec<(LazyStateID, Option<skeleton::Stops>)>,
}

impl Skips {
    /// The bytes that leave `sid`, when it loops on all other (ASCII) bytes and they are
    /// at most three; computed once per state.
    fn of(&mut self, dfa: &DFA, cache: &mut DfaCache, sid: LazyStateID) -> Option<skeleton::Stops> {
        if cache.clear_count() != self.clears {
            self.clears = cache.clear_count();
            self.states.clear();
        }
        if let Some(&(_, s)) = self.states.iter().find(|(id, _)| *id == sid) {
            return s;
        }
        let mut exits = Vec::new();
        for b in 0u8..0x80 {
            match dfa.next_state(cache, sid, b) {
                Ok(next) if next == sid => {}
                Ok(_) => exits.push(b),
                Err(_) => return None,
            }
            if exits.len() > 3 || cache.clear_count() != self.clears {
                break;
            }
        }
        if cache.clear_count() != self.clears {
            // The probe filled the cache: `sid` is stale, nothing to remember.
            return None;
        }
        let stops = skeleton::Stops::of_bytes(&exits);
        if self.states.len() < 64 {
            self.states.push((sid, stops));
        }
        stops
    }
}

/// Bytes of a line's start whose head walk [`HeadMemo`] remembers.
const MEMO_LEN: usize = 24;
/// Walks remembered per thread and filter (direct-mapped by a hash of the bytes).
const MEMO_SLOTS: usize = 4096;

/// The head DFA's walks over the first [`MEMO_LEN`] bytes of recent lines: where the walk
/// stood after them, or its result when it ended within them. Log lines repeat their
/// start (`[] NOTICE[2153] chan_sip.c: ` differs in the thread number and the source
/// file), and those bytes were most of the walk (22 of the 27 steps of an asterisk head,
/// each a dependent table load); a line whose first bytes equal a remembered line's
/// resumes the walk where that one stood. The DFA is deterministic, so this changes
/// nothing but the work. Lazy state IDs die with a cache clear, and so does the memo.
#[derive(Debug, Clone, Default)]
struct HeadMemo {
    clears: usize,
    slots: Vec<MemoSlot>,
}

#[derive(Debug, Clone, Copy)]
struct MemoSlot {
    key: [u64; 3],
    walk: Walked,
}

/// Where a head walk stood after the remembered bytes.
#[derive(Debug, Clone, Copy)]
enum Walked {
    /// About to read byte [`MEMO_LEN`]: state, previous state, last match end.
    At(LazyStateID, LazyStateID, Option<usize>),
    /// The DFA died within the bytes: the search's result.
    Ended(Option<usize>),
}

impl HeadMemo {
    fn key(hay: &[u8]) -> Option<[u64; 3]> {
        let (a, rest) = hay.split_first_chunk::<8>()?;
        let (b, rest) = rest.split_first_chunk::<8>()?;
        let (c, _) = rest.split_first_chunk::<8>()?;
        Some([a, b, c].map(|w| u64::from_le_bytes(*w)))
    }

    fn slot(key: &[u64; 3]) -> usize {
        let h = (key[0] ^ key[1].rotate_left(21) ^ key[2].rotate_left(42))
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
        (h >> 52) as usize % MEMO_SLOTS
    }

    /// Forgets everything when the DFA's cache was cleared since the last call.
    fn sync(&mut self, clears: usize) {
        if self.clears != clears || self.slots.is_empty() {
            self.clears = clears;
            self.slots.clear();
            self.slots.resize(
                MEMO_SLOTS,
                MemoSlot {
                    key: [u64::MAX; 3],
                    walk: Walked::Ended(None),
                },
            );
        }
    }

    fn get(&mut self, key: &[u64; 3], clears: usize) -> Option<Walked> {
        self.sync(clears);
        let s = &self.slots[HeadMemo::slot(key)];
        // Word by word: an array compare reloads the key through the stack.
        (s.key[0] == key[0] && s.key[1] == key[1] && s.key[2] == key[2]).then_some(s.walk)
    }

    fn put(&mut self, key: [u64; 3], walk: Walked, clears: usize) {
        self.sync(clears);
        self.slots[HeadMemo::slot(&key)] = MemoSlot { key, walk };
    }
}

/// The end of the leftmost-first match of an anchored head DFA in `hay` (the lazy DFA's own
/// search, step for step), except that
/// - in an untagged state that loops on itself for all but a few bytes, `memchr` jumps to
///   the next of those bytes: asterisk's head keeps such a state alive (`[^:]+` of its
///   optional `(?:(?: in)? [^:]+:)?`) to the content's first `:`, which on a
///   `SecurityEvent` line is the end of the line;
/// - a line that starts like a recent one resumes that line's walk (see [`HeadMemo`]).
///
/// `Err` when the DFA gave up.
fn head_search(
    dfa: &DFA,
    cache: &mut DfaCache,
    skips: &mut Skips,
    memo: &mut HeadMemo,
    hay: &[u8],
) -> Result<Option<usize>, ()> {
    let key = HeadMemo::key(hay);
    let (mut sid, mut prev, mut last, mut i);
    // Whether the walk still has to be remembered when it reaches byte MEMO_LEN.
    let mut record = None;
    match key.and_then(|k| memo.get(&k, cache.clear_count())) {
        Some(Walked::Ended(r)) => return Ok(r),
        Some(Walked::At(s, p, l)) => (sid, prev, last, i) = (s, p, l, MEMO_LEN),
        None => {
            let input = Input::new(hay).anchored(Anchored::Yes);
            sid = dfa.start_state_forward(cache, &input).map_err(|_| ())?;
            (prev, last, i) = (sid, None, 0);
            record = key;
        }
    }
    while i < hay.len() {
        if i == MEMO_LEN {
            if let Some(k) = record.take() {
                memo.put(k, Walked::At(sid, prev, last), cache.clear_count());
            }
        }
        sid = step(dfa, cache, sid, hay[i]).ok_or(())?;
        if sid.is_tagged() {
            if sid.is_match() {
                // Matches are reported one byte late: this one ends before byte i.
                last = Some(i);
            } else if sid.is_dead() {
                if let (Some(k), true) = (record, i < MEMO_LEN) {
                    memo.put(k, Walked::Ended(last), cache.clear_count());
                }
                return Ok(last);
            } else if sid.is_quit() {
                return Err(());
            }
        } else if sid == prev {
            if let Some(stops) = skips.of(dfa, cache, sid) {
                // Every byte up to the next stop keeps the DFA in `sid`. A walk still to
                // be remembered stops at MEMO_LEN on the way.
                let end = match record {
                    Some(_) if i < MEMO_LEN => MEMO_LEN,
                    _ => hay.len(),
                };
                let rest = &hay[i + 1..end];
                i += 1 + stops.find(rest).unwrap_or(rest.len());
                prev = sid;
                continue;
            }
        }
        prev = sid;
        i += 1;
    }
    sid = dfa.next_eoi_state(cache, sid).map_err(|_| ())?;
    if sid.is_match() {
        last = Some(hay.len());
    }
    Ok(last)
}

/// One transition: the cached one when there is one (no `Result`, no bookkeeping), else
/// computed. `None` when the lazy DFA gave up.
#[inline(always)]
fn step(dfa: &DFA, cache: &mut DfaCache, sid: LazyStateID, b: u8) -> Option<LazyStateID> {
    if !sid.is_tagged() {
        let next = dfa.next_state_untagged(cache, sid, b);
        if !next.is_unknown() {
            return Some(next);
        }
    }
    dfa.next_state(cache, sid, b).ok()
}

/// A few cut positions, without a heap allocation per line.
struct Cuts {
    pos: [usize; MAX_CUTS],
    len: usize,
}

impl Cuts {
    fn as_slice(&self) -> &[usize] {
        &self.pos[..self.len]
    }
}

/// Every match position, `None` when there are more than `max` (at most [`MAX_CUTS`]) or
/// the DFA gave up.
fn all_matches(
    dfa: &DFA,
    cache: &mut DfaCache,
    input: &Input<'_>,
    dir: Dir,
    max: usize,
) -> Option<Cuts> {
    let max = max.min(MAX_CUTS);
    let mut out = Cuts {
        pos: [0; MAX_CUTS],
        len: 0,
    };
    let mut over = false;
    each_match(dfa, cache, input, dir, |p| {
        over = out.len == max;
        if !over {
            out.pos[out.len] = p;
            out.len += 1;
        }
        !over
    })?;
    (!over).then_some(out)
}

/// The only match position of `dfa` that is also in `among`, `None` when there are none
/// or several. Stops once the positions have passed every member of `among`.
fn common(
    dfa: &DFA,
    cache: &mut DfaCache,
    input: &Input<'_>,
    dir: Dir,
    among: &[usize],
) -> Option<usize> {
    let lo = *among.iter().min()?;
    let hi = *among.iter().max()?;
    let mut found = None;
    let mut twice = false;
    each_match(dfa, cache, input, dir, |p| {
        if among.contains(&p) {
            twice = found.is_some_and(|f| f != p);
            found = Some(p);
        }
        !twice && if dir == Dir::Fwd { p < hi } else { p > lo }
    })?;
    if twice {
        None
    } else {
        found
    }
}

/// The ID group that matched, in fail2ban's order (ip4, ip6, then a raw name).
fn pick_address(
    caps: &Captures,
    (ip4, ip6, dns): (Option<usize>, Option<usize>, Option<usize>),
    raw_names: bool,
) -> Option<(AddrKind, usize, usize)> {
    let span = |g: Option<usize>| g.and_then(|g| caps.get_group(g));
    if let Some(s) = span(ip4) {
        Some((AddrKind::Ip(Family::V4), s.start, s.end))
    } else if let Some(s) = span(ip6) {
        Some((AddrKind::Ip(Family::V6), s.start, s.end))
    } else if let (true, Some(s)) = (raw_names, span(dns)) {
        Some((AddrKind::Name, s.start, s.end))
    } else {
        // A name to resolve, or no address group ("No group found"): the engine's.
        None
    }
}

/// The quick form of filter `fi`, `None` when it does not qualify (module doc).
fn build_filter(e: &Engine, fi: usize, skeleton: bool) -> Option<QuickFilter> {
    let f = &e.filters[fi];
    if !f.ign.is_empty() || f.fail.is_empty() {
        return None;
    }
    let special = |rx: &Rx| {
        rx.names.iter().any(|(_, n)| {
            SPECIAL.contains(&n.as_str()) || n.starts_with("alt_") || n.starts_with("tuple_")
        })
    };
    // The head, each failregex's pieces, then the set DFA and the skeleton are independent
    // builds (mostly NFA compilations): on the idle cores of a starting scan, in parallel.
    let build_head = || -> Option<Option<(DFA, bool)>> {
        let Some((prx, _)) = f.pref else {
            return Some(None);
        };
        let rx = &e.rxs[prx];
        if special(rx)
            || ["ip4", "ip6", "dns"].iter().any(|g| rx.tr.has_group(g))
            || !rx.tr.is_regular()
        {
            return None;
        }
        let hir = ascii_hir(rx, Target::Regular)?;
        let tail = fastpath::split_content_tail(&hir)?;
        // The content group must be the tail (the engine's `content`).
        if f.content != Some(tail.group) {
            return None;
        }
        let nfa = compile(&[tail.head], false, false)?;
        Some(Some((
            lazy_dfa(nfa, MatchKind::LeftmostFirst)?,
            tail.non_empty,
        )))
    };
    let build_fail = |fc: &super::FailC| -> Option<FailParts> {
        let rx = &e.rxs[fc.rx];
        if special(rx) {
            return None;
        }
        let regular = rx.tr.is_regular();
        let target = if regular {
            Target::Regular
        } else {
            Target::Superset
        };
        let hir = ascii_hir(rx, target)?;
        let anchored = hir.properties().look_set_prefix().contains(Look::Start);
        let idx = |n: &str| rx.names.iter().find(|(_, g)| g == n).map(|(i, _)| *i);
        let groups = [idx("ip4"), idx("ip6"), idx("dns")];
        let capture = regular.then(|| LazyCapturer {
            cell: std::sync::OnceLock::new(),
            hir: hir.clone(),
            groups,
        });
        let pat = if anchored {
            hir.clone()
        } else {
            Hir::concat(vec![any_lazy(), hir.clone()])
        };
        // The skeleton reads the except-word look-aheads as marks, not as their rewrite
        // (which it can still take, slowly, should the marked form not parse).
        let skel = rx
            .tr
            .emit_marked()
            .and_then(|m| regex_syntax::ParserBuilder::new().build().parse(&m).ok())
            .map_or_else(|| hir.clone(), |h| fastpath::ascii_only(&h));
        Some(FailParts {
            hir: skel,
            pat,
            capture,
            groups,
            regular,
        })
    };
    let (head, parts) = rayon::join(build_head, || {
        use rayon::prelude::*;
        f.fail
            .par_iter()
            .map(build_fail)
            .collect::<Option<Vec<FailParts>>>()
    });
    let (head, parts) = (head?, parts?);
    let n = parts.len();
    let (mut pats, mut hirs, mut regulars, mut groups, mut capture) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for p in parts {
        pats.push(p.pat);
        hirs.push(p.hir);
        regulars.push(p.regular);
        groups.push(p.groups);
        capture.push(p.capture);
    }
    let (fails, skel) = rayon::join(
        || lazy_dfa(compile(&pats, false, false)?, MatchKind::LeftmostFirst),
        || {
            if skeleton {
                Skeleton::build(&hirs, &pats, &regulars, &groups)
            } else {
                None
            }
        },
    );
    let fails = fails?;
    Some(QuickFilter {
        head,
        fails,
        capture,
        skel,
    })
}

/// What the quick path builds from one failregex.
struct FailParts {
    /// The ASCII HIR for the skeleton (exact, with except-word marks, or a superset when
    /// not `regular`).
    hir: Hir,
    /// `hir` as searched: anchored, or after a lazy `.*?`.
    pat: Hir,
    capture: Option<LazyCapturer>,
    /// Group numbers of `ip4`, `ip6`, `dns`.
    groups: [Option<usize>; 3],
    regular: bool,
}

/// The ASCII-only HIR of `rx` printed for `target` (single-line haystack).
fn ascii_hir(rx: &Rx, target: Target) -> Option<Hir> {
    if let (Target::Regular, Some(hir)) = (target, &rx.hir) {
        return Some(fastpath::ascii_only(hir));
    }
    let s = rx.tr.emit_for(target, false).ok()?;
    let hir = regex_syntax::ParserBuilder::new().build().parse(&s).ok()?;
    Some(fastpath::ascii_only(&hir))
}

/// `(?s-u:.)*?`: any bytes, as few as possible.
fn any_lazy() -> Hir {
    Hir::repetition(Repetition {
        min: 0,
        max: None,
        greedy: false,
        sub: Box::new(Hir::class(Class::Bytes(ClassBytes::new([
            ClassBytesRange::new(0, 0xFF),
        ])))),
    })
}

/// The byte-level NFA of `hirs` (one pattern each), reversed for reverse DFAs, with or
/// without capture states (DFAs need none).
fn compile(hirs: &[Hir], reverse: bool, captures: bool) -> Option<NFA> {
    let which = if captures {
        thompson::WhichCaptures::All
    } else {
        thompson::WhichCaptures::None
    };
    thompson::Compiler::new()
        .configure(
            thompson::Config::new()
                .utf8(false)
                .reverse(reverse)
                .which_captures(which)
                .nfa_size_limit(Some(64 << 20)),
        )
        .build_many_from_hir(hirs)
        .ok()
}

/// A lazy DFA of `nfa` (its start states are made on demand, anchored or not): leftmost-
/// first to decide a line, all-matches to list the places an address can be cut.
fn lazy_dfa(nfa: NFA, kind: MatchKind) -> Option<DFA> {
    let capacity = if kind == MatchKind::All {
        2 << 20
    } else {
        8 << 20
    };
    DFA::builder()
        .configure(DFA::config().match_kind(kind).cache_capacity(capacity))
        .build_from_nfa(nfa)
        .ok()
}

/// The capture searcher of one failregex; group numbers come from the translation (the
/// printed pattern has numbered groups only).
fn capturer(hir: &Hir, [ip4, ip6, dns]: [Option<usize>; 3]) -> Option<Capturer> {
    let anchored = hir.properties().look_set_prefix().contains(Look::Start);
    let nfa = compile(std::slice::from_ref(hir), false, true)?;
    let bt = BoundedBacktracker::builder().build_from_nfa(nfa).ok()?;
    let ids: Vec<usize> = [ip4, ip6, dns].into_iter().flatten().collect();
    Some(Capturer {
        bt,
        ip4,
        ip6,
        dns,
        anchored,
        split: split(hir, &ids, [ip4, ip6, dns]),
    })
}

/// The [`Split`] of `hir` around its top-level elements holding groups `ids`.
fn split(hir: &Hir, ids: &[usize], [ip4, ip6, dns]: [Option<usize>; 3]) -> Option<Split> {
    let HirKind::Concat(parts) = hir.kind() else {
        return None;
    };
    let first = parts.iter().position(|p| has_group(p, ids))?;
    let last = parts.iter().rposition(|p| has_group(p, ids))?;
    let cat = |x: &[Hir]| Hir::concat(x.to_vec());
    // `^` then a literal: a match of the whole regex starts with those bytes.
    let (skip, a_from) = match parts.as_slice() {
        [start, lit, ..] if *start.kind() == HirKind::Look(Look::Start) && first >= 2 => {
            match lit.kind() {
                HirKind::Literal(l) => (l.0.len(), 2),
                _ => (0, 0),
            }
        }
        _ => (0, 0),
    };
    let (a, m, b) = (
        cat(&parts[a_from..first]),
        cat(&parts[first..=last]),
        cat(&parts[last + 1..]),
    );
    if !m.properties().look_set().is_empty() {
        return None;
    }
    let a_last = match parts[..first].last().map(Hir::kind) {
        Some(HirKind::Literal(l)) => l.0.last().copied().filter(|&b| {
            let mut set = [false; 256];
            skeleton::bytes_of(&m, &mut set).is_some() && !set[b as usize]
        }),
        _ => None,
    };
    let mb = cat(&parts[first..]);
    // Address groups only, numbered in order; everything else becomes non-capturing.
    let mut renum = Vec::new();
    let m_caps = regroup(&m, ids, &mut renum);
    let is_host = host_hir().is_some_and(|h| *h == m_caps);
    let m_nfa = compile(
        &[Hir::concat(vec![m_caps, Hir::look(Look::End)])],
        false,
        true,
    )?;
    let new = |g: Option<usize>| g.and_then(|g| renum.iter().position(|&x| x == g).map(|i| i + 1));
    let all = |h: &Hir, reverse: bool| {
        lazy_dfa(
            compile(std::slice::from_ref(h), reverse, false)?,
            MatchKind::All,
        )
    };
    Some(Split {
        a: all(&a, false)?,
        skip,
        a_last,
        is_host,
        mb_rev: all(&mb, true)?,
        b_rev: all(&b, true)?,
        m_fwd: all(&m, false)?,
        m: BoundedBacktracker::builder().build_from_nfa(m_nfa).ok()?,
        ip4: new(ip4),
        ip6: new(ip6),
        dns: new(dns),
    })
}

/// fail2ban's `<HOST>` (usedns on, as the scan uses it) as the ASCII HIR the quick path
/// builds, its groups `ip4`, `ip6`, `dns` regrouped like an address part (built once).
fn host_hir() -> Option<&'static Hir> {
    static HOST: OnceLock<Option<Hir>> = OnceLock::new();
    HOST.get_or_init(|| {
        let expanded = super::expand_tags("<HOST>", UseDns::Warn).ok()?;
        let tr = super::translate(&expanded, false).ok()?;
        let names: Vec<&str> = tr.names().map(|(_, n)| n).collect();
        if names != ["ip4", "ip6", "dns"] {
            return None;
        }
        let s = tr.emit_for(Target::Regular, false).ok()?;
        let hir = regex_syntax::ParserBuilder::new().build().parse(&s).ok()?;
        Some(regroup(
            &fastpath::ascii_only(&hir),
            &[1, 2, 3],
            &mut Vec::new(),
        ))
    })
    .as_ref()
}

/// True when `h` contains a capture group numbered in `ids`.
fn has_group(h: &Hir, ids: &[usize]) -> bool {
    match h.kind() {
        HirKind::Capture(c) => ids.contains(&(c.index as usize)) || has_group(&c.sub, ids),
        HirKind::Concat(v) | HirKind::Alternation(v) => v.iter().any(|x| has_group(x, ids)),
        HirKind::Repetition(r) => has_group(&r.sub, ids),
        _ => false,
    }
}

/// `h` with only the groups in `ids` capturing, renumbered 1, 2, … in pattern order
/// (`order` receives the old numbers).
fn regroup(h: &Hir, ids: &[usize], order: &mut Vec<usize>) -> Hir {
    match h.kind() {
        HirKind::Capture(c) if ids.contains(&(c.index as usize)) => {
            order.push(c.index as usize);
            let index = order.len() as u32;
            let sub = regroup(&c.sub, ids, order);
            Hir::capture(Capture {
                index,
                name: None,
                sub: Box::new(sub),
            })
        }
        HirKind::Capture(c) => regroup(&c.sub, ids, order),
        HirKind::Concat(v) => Hir::concat(v.iter().map(|x| regroup(x, ids, order)).collect()),
        HirKind::Alternation(v) => {
            Hir::alternation(v.iter().map(|x| regroup(x, ids, order)).collect())
        }
        HirKind::Repetition(r) => Hir::repetition(Repetition {
            min: r.min,
            max: r.max,
            greedy: r.greedy,
            sub: Box::new(regroup(&r.sub, ids, order)),
        }),
        _ => h.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pattern::{EngineOptions, FilterRegexes, LineOutcome};

    /// The scan's engine options: first match wins, names are raw IDs.
    fn scan_opts() -> EngineOptions {
        EngineOptions {
            check_all: false,
            dns: DnsMode::Raw,
            ignore_pending: true,
            ..EngineOptions::default()
        }
    }

    /// A scan-like engine (first match wins, names are raw IDs) over two filters: one with
    /// a prefregex and content, one without.
    fn engine(fails: &[&str]) -> Engine {
        let with_pref = FilterRegexes {
            name: "pref".into(),
            prefregex: Some(r"^(?:\S+ )?\w+\[\d+\]: <F-CONTENT>.+</F-CONTENT>$".into()),
            failregex: fails.iter().map(|s| s.to_string()).collect(),
            ignoreregex: Vec::new(),
        };
        let plain = FilterRegexes {
            name: "plain".into(),
            prefregex: None,
            failregex: vec![r"refused connect from <HOST>(?: \(\w+\))?$".into()],
            ignoreregex: Vec::new(),
        };
        let opts = scan_opts();
        Engine::build(&[with_pref, plain], &opts).unwrap()
    }

    /// Every line the quick path decides gets exactly the engine's failures; returns how
    /// many it decided.
    fn agree(e: &Engine, lines: &[String]) -> usize {
        let plan = QuickPlan::build(e).expect("quick plan");
        let mut qc = plan.new_cache();
        let mut ec = e.new_cache();
        let mut out = LineOutcome::default();
        let mut decided = 0;
        for line in lines {
            let buf = format!("{line}\n");
            let quick = plan.classify(&mut qc, &buf);
            e.match_line(&mut ec, line, &mut out);
            if quick == Quick::Fallback {
                continue;
            }
            decided += 1;
            let ours: Vec<(usize, usize, String)> = qc
                .hits
                .iter()
                .map(|h| {
                    let text = &buf[h.start..h.end];
                    let id = match h.kind {
                        AddrKind::Ip(f) => crate::pattern::ipaddr::addr_of_family(text, f, None),
                        AddrKind::Name => text.to_string(),
                    };
                    (h.filter, h.regex, id)
                })
                .collect();
            let theirs: Vec<(usize, usize, String)> = out
                .failures
                .iter()
                .map(|f| (f.filter, f.regex, f.id.clone()))
                .collect();
            assert_eq!(ours, theirs, "{line:?}");
        }
        decided
    }

    #[test]
    fn quick_agrees_with_the_engine_including_ambiguous_cuts() {
        // Cut points that are not unique (A or B can end/start in several places, a name
        // that could also be read as part of the text around it), an unanchored regex, an
        // optional port that an IPv6 address could swallow.
        let e = engine(&[
            r"^user (?:\S+ )?from <HOST>(?: port \d+)?(?: ssh2)?$",
            r"^a+<HOST>a*$",
            r"^(?:Host )?<HOST>(?::\d+)? failed",
            r"login from '(?:[^']*|.*?)' at <HOST>(?::\d+)?'?$",
        ]);
        let hosts = [
            "192.0.2.1",
            "2001:db8::1",
            "2001:db8::1:22",
            "[2001:db8::2]",
            "::ffff:192.0.2.3",
            "example.com",
            "aaa.example",
            "1.2.3.4.5",
            "a",
        ];
        let shapes = [
            "host sshd[1]: user bob from {h} port 22 ssh2",
            "host sshd[1]: user from {h}",
            "sshd[1]: user x y from {h} port 22",
            "host sshd[1]: aaa{h}aa",
            "host sshd[1]: a{h}",
            "host sshd[1]: Host {h}:5060 failed to do it",
            "host sshd[1]: {h} failed",
            "host sshd[1]: x login from 'a' at b' at {h}:22'",
            "host sshd[1]: login from '' at {h}",
            "kernel: refused connect from {h} (ssh)",
            "refused connect from {h}",
            "host sshd[1]: nothing to see",
            "host sshd[1]: user bob from {h} port x",
            "host sshd[1]: é user from {h}",
        ];
        let lines: Vec<String> = shapes
            .iter()
            .flat_map(|s| hosts.iter().map(move |h| s.replace("{h}", h)))
            .collect();
        let decided = agree(&e, &lines);
        assert!(
            decided > lines.len() / 2,
            "only {decided} of {} decided",
            lines.len()
        );
    }

    /// Lines of the usual Asterisk shapes with every kind of address, and lines built to
    /// reach the skeleton's slow corners (a second alternative after the first failed, a
    /// class run that must not be taken whole, a non-tree failregex ahead in the list):
    /// the quick path with its skeleton gives the engine's failures, the skeleton decides
    /// most lines, and the plan without a skeleton agrees as well.
    #[test]
    fn skeleton_agrees_with_the_engine() {
        let e = engine(&[
            r"^Registration from '[^']*' failed for '<HOST>(:\d+)?' - (?:Wrong password|No matching peer found)$",
            r"^Call from '[^']*' \((?:(?:TCP|UDP):)?<HOST>:\d+\) to extension '[^']*' rejected",
            r"^(?:Host )?<HOST> failed to (?:authenticate\b|log in\B)",
            r"^Request (?:'[^']*' )?from '(?:[^']*|.*?)' failed for '<HOST>(?::\d+)?'\s\(callid: [^\)]*\) - (?:Failed|Error) to authenticate\s*$",
            r"^hacking attempt detected '<HOST>'$",
            r"^x[ab]*b<HOST>$",
        ]);
        let hosts = [
            "192.0.2.1",
            "192.0.2.1:5060",
            "2001:db8::1",
            "[2001:db8::2]:5061",
            "::ffff:192.0.2.3",
            "::fffff:192.0.2.3",
            "example.com",
            "1.2.3.4567",
            "1.2.3.4]",
            "UDP:192.0.2.4",
            "TCP:192.0.2.4:5062",
            "[::1]",
            "[2001:db8::1]:5060",
            "UDP:[2001:db8::3]:5060",
            "[::ffff:192.0.2.5]:5060",
            "[1:2:3:4:5:6:7:8]",
            "[1:2:3:4:5:6:7:8:9]",
            "[fe80::1",
            "[zz::1]",
            "[]",
            "",
            "1:2:3:4:5:6:7:8:9",
            "::",
            ":::",
            "abcd",
            "2001:DB8::A",
            "2001:db8::1]",
            "fe80::1%eth0",
        ];
        let shapes = [
            "host sshd[1]: Registration from '\"1\" <sip:1@x>' failed for '{h}' - Wrong password",
            "host sshd[1]: Registration from '' failed for '{h}:5060' - No matching peer found",
            "host sshd[1]: Registration from 'a' failed for '{h}' - Wrong password ",
            "host sshd[1]: Call from 'anonymous' ({h}:5070) to extension '9' rejected because",
            "host sshd[1]: Call from 'anonymous' (UDP:{h}:5070) to extension '9' rejected",
            "host sshd[1]: Host {h} failed to authenticate as 'x'",
            "host sshd[1]: {h} failed to authenticated",
            "host sshd[1]: Host {h} failed to authenticate",
            "host sshd[1]: Host Host {h} failed to log ins",
            "host sshd[1]: Host failed to log in",
            "host sshd[1]: {h} failed to log in_",
            "host sshd[1]: Request 'INVITE' from '<sip:9@x>' failed for '{h}' (callid: a-b) - Failed to authenticate",
            "host sshd[1]: Request from '<sip:9@x>' failed for '{h}:1' (callid: a) - Error to authenticate  ",
            "host sshd[1]: Request 'R' from 'it's' failed for '{h}' (callid: c) - Failed to authenticate",
            "host sshd[1]: Request 'R' from 'a' failed for 'b' failed for '{h}' (callid: c) - Failed to authenticate",
            "host sshd[1]: hacking attempt detected '{h}'",
            "host sshd[1]: hacking attempt detected '{h}' ",
            "host sshd[1]: xabab{h}",
            "host sshd[1]: xab{h}",
            "host sshd[1]: nothing here {h}",
        ];
        let lines: Vec<String> = shapes
            .iter()
            .flat_map(|s| hosts.iter().map(move |h| s.replace("{h}", h)))
            .collect();
        agree(&e, &lines);
        let plan = QuickPlan::build(&e).unwrap();
        let skel = plan.filters[0].as_ref().unwrap().skel.as_ref().unwrap();
        // An optional literal before the address and a `\b` after it make a tree too.
        assert!((0..5).all(|j| skel.is_tree(j)), "not all trees");
        let mut qc = plan.new_cache();
        let plain = QuickPlan::build_with(&e, false).unwrap();
        assert!(plain.filters[0].as_ref().unwrap().skel.is_none());
        let mut pc = plain.new_cache();
        for line in &lines {
            let buf = format!("{line}\n");
            let (a, b) = (plan.classify(&mut qc, &buf), plain.classify(&mut pc, &buf));
            if a == Quick::Done && b == Quick::Done {
                assert_eq!(qc.hits, pc.hits, "{line:?}");
            }
        }
        assert!(
            qc.skel_decided > lines.len() * 2 / 3,
            "skeleton decided {} of {}",
            qc.skel_decided,
            lines.len()
        );
    }

    /// A failregex of the shape of asterisk's `SecurityEvent` one: `(?!w=)\w+` look-aheads
    /// (marks for the skeleton, rewritten for the DFAs) inside literal-led repetitions, and
    /// an alternative `.*?` for lines whose fields do not parse. The skeleton decides these
    /// lines itself (no DFA walk) and agrees with the engine, on lines that need the second
    /// alternative, repeat the excluded field, or have names that only start with it.
    #[test]
    fn skeleton_reads_except_word_marks() {
        let e = engine(&[
            r#"^Event="(?:Bad|Worse)"(?:(?:,(?!Peer=)\w+="[^"]*")*|.*?),Peer="IP/[^/"]+/<HOST>/\d+"(?:,(?!Peer=)\w+="[^"]*")*$"#,
        ]);
        let rx = &e.rxs[e.filters[0].fail[0].rx];
        let marked = rx.tr.emit_marked().expect("two look-aheads to mark");
        assert_eq!(marked.matches(r"\b{start-half}").count(), 2, "{marked}");
        let plan = QuickPlan::build(&e).unwrap();
        let skel = plan.filters[0].as_ref().unwrap().skel.as_ref().unwrap();
        assert!(skel.is_tree(0), "the failregex is not a tree");
        let shapes = [
            r#"Event="Bad",A="1",B="x y",Peer="IP/UDP/{h}/5060",C="2""#,
            r#"Event="Worse",Peer="IP/TCP/{h}/1""#,
            r#"Event="Bad",A="1",Peer="IP/UDP/{h}/5060",Peer="IP/UDP/192.0.2.9/1""#,
            r#"Event="Bad",A="1",Peer="IP/UDP/{h}/5060",Peer="z""#,
            r#"Event="Bad",Peer="IP/UDP/192.0.2.9/1",A="1",Peer="IP/UDP/{h}/2""#,
            r#"Event="Bad",A=1,B="2",Peer="IP/UDP/{h}/5060""#,
            r#"Event="Bad",A="v,Peer="IP/UDP/192.0.2.8/7"",Peer="IP/UDP/{h}/9""#,
            r#"Event="Bad",PeerX="1",Peers="2",Peer="IP/UDP/{h}/5060",PeerY="3""#,
            r#"Event="Bad",Pee="1",Peer="IP/UDP/{h}/5060",Pe="3""#,
            r#"Event="Bad",A="1",Peer="IP/UDP/{h}/5060",C="2"x"#,
            r#"Event="Bad",A="1",Peer="IP/UDP/{h}/x""#,
            r#"Event="Good",A="1",Peer="IP/UDP/{h}/5060""#,
            r#"Event="Bad",A="1",Peer="IP//{h}/5060""#,
        ];
        let hosts = [
            "192.0.2.1",
            "2001:db8::1",
            "::ffff:192.0.2.3",
            "example.com",
            "",
        ];
        let lines: Vec<String> = shapes
            .iter()
            .flat_map(|s| {
                hosts
                    .iter()
                    .map(move |h| format!("h x[1]: {}", s.replace("{h}", h)))
            })
            .collect();
        let decided = agree(&e, &lines);
        assert_eq!(decided, lines.len());
        let mut qc = plan.new_cache();
        for line in &lines {
            plan.classify(&mut qc, &format!("{line}\n"));
        }
        assert!(
            qc.skel_decided > lines.len() * 3 / 4,
            "skeleton decided {} of {}",
            qc.skel_decided,
            lines.len()
        );
    }

    /// The head search with its memchr jumps and remembered walks ends where the lazy DFA's
    /// own search ends, also on lines that start like an earlier one and differ later.
    #[test]
    fn head_search_agrees_with_the_dfa_search() {
        let f = FilterRegexes {
            name: "head".into(),
            prefregex: Some(
                r"^\S+ [^:]+:\d*(?:(?: in)? [^:]+:)? <F-CONTENT>.+</F-CONTENT>$".into(),
            ),
            failregex: vec![r"^x <HOST>$".into()],
            ignoreregex: Vec::new(),
        };
        let opts = scan_opts();
        let e = Engine::build(&[f], &opts).unwrap();
        let plan = QuickPlan::build(&e).unwrap();
        let (dfa, _) = plan.filters[0].as_ref().unwrap().head.as_ref().unwrap();
        let mut cache = dfa.create_cache();
        let mut skips = Skips::default();
        let mut memo = HeadMemo::default();
        let lines = [
            "h chan_sip.c: Registration from '<sip:1@x>' failed\n",
            "h res_security_log.c: SecurityEvent=\"x\",a=\"b\",c=\"IPV4/UDP/1.2.3.4/5\"\n",
            "h a.c:12 in fn: x 1.2.3.4\n",
            "h a.c:12 in fn:x\n",
            "h a.c: b: c: d\n",
            "h a.c:\n",
            "h a.c: \n",
            "nothing\n",
            "h a.c:: :\n",
            "h a.c: x y z no colon at all but a long tail to skip over\n",
            "h a.c: x y z no colon at all: but one after the first bytes\n",
            "h a.c: x y z no colon a: t\n",
            "h chan_sip.c: Registration: x\n",
            "h chan_sip.c: Registrati\n",
            " starts with a space and dies at once\n",
            " starts with a space and dies at once, then differs\n",
        ];
        for _ in 0..3 {
            for l in lines {
                let want = dfa
                    .try_search_fwd(&mut cache, &Input::new(l))
                    .unwrap()
                    .map(|m| m.offset());
                let got =
                    head_search(dfa, &mut cache, &mut skips, &mut memo, l.as_bytes()).unwrap();
                assert_eq!(got, want, "{l:?}");
            }
        }
        assert!(
            skips.states.iter().any(|(_, s)| s.is_some()),
            "no state was skipped over"
        );
        let remembered = |f: fn(&Walked) -> bool| {
            memo.slots
                .iter()
                .any(|s| s.key != [u64::MAX; 3] && f(&s.walk))
        };
        assert!(remembered(|w| matches!(w, Walked::At(..))));
        assert!(remembered(|w| matches!(w, Walked::Ended(None))));
    }

    #[test]
    fn split_applies_to_the_usual_shape() {
        let e =
            engine(&[r"^Registration from '[^']*' failed for '<HOST>(:\d+)?' - Wrong password$"]);
        let plan = QuickPlan::build(&e).unwrap();
        let f = plan.filters[0].as_ref().unwrap();
        assert!(f.head.is_some());
        assert!(f.capture[0]
            .as_ref()
            .and_then(LazyCapturer::get)
            .is_some_and(|c| c.split.is_some() && c.anchored));
    }

    #[test]
    fn filters_the_quick_path_cannot_decide() {
        let opts = EngineOptions {
            check_all: false,
            ..EngineOptions::default()
        };
        let f = |fail: &str, ign: &[&str]| FilterRegexes {
            name: "t".into(),
            prefregex: None,
            failregex: vec![fail.into()],
            ignoreregex: ign.iter().map(|s| s.to_string()).collect(),
        };
        // ignoreregex, fid, mlfid: the engine's.
        for filters in [
            vec![f("from <HOST>", &["ignored"])],
            vec![f("user <F-ID>\\w+</F-ID>", &[])],
            vec![f("from <HOST> <F-MLFID>\\d+</F-MLFID>", &[])],
        ] {
            let e = Engine::build(&filters, &opts).unwrap();
            assert!(QuickPlan::build(&e).is_none());
        }
        // check-all (fail2ban-regex's default) is never quick.
        let e = Engine::build(&[f("from <HOST>", &[])], &EngineOptions::default()).unwrap();
        assert!(QuickPlan::build(&e).is_none());
    }
}

#[cfg(test)]
mod host_tests {
    use super::*;

    #[test]
    fn host_ip4_is_the_first_branch_of_host() {
        assert_eq!(host_ip4(b"192.0.2.1"), Some(0));
        assert_eq!(host_ip4(b"::ffff:192.0.2.1"), Some(7));
        assert_eq!(host_ip4(b"::ffffff:1.2.3.4"), Some(9));
        assert_eq!(host_ip4(b"999.0.2.1"), Some(0));
        for no in [
            &b"1.2.3"[..],
            b"1.2.3.4.5",
            b"1.2.3.",
            b"1234.1.1.1",
            b"::fff:1.2.3.4",
            b"::fffffff:1.2.3.4",
            b"::FFFF:1.2.3.4",
            b"a.b.c.d",
            b"",
            b"2001:db8::1",
        ] {
            assert_eq!(host_ip4(no), None, "{}", String::from_utf8_lossy(no));
        }
        // The hand check agrees with the regex branch it replaces.
        let re =
            regex_automata::meta::Regex::new(r"\A(?:::f{4,6}:)?((?:[0-9]{1,3}\.){3}[0-9]{1,3})\z")
                .unwrap();
        for t in [
            "1.2.3.4",
            "::ffff:10.0.0.1",
            "::fffff:1.1.1.1",
            "1.2.3",
            "::ff:1.2.3.4",
            "01.002.3.4",
        ] {
            let mut caps = re.create_captures();
            re.captures(t, &mut caps);
            assert_eq!(
                host_ip4(t.as_bytes()),
                caps.get_group(1).map(|s| s.start),
                "{t}"
            );
        }
    }

    #[test]
    fn the_host_of_a_failregex_is_recognised() {
        let e = Engine::build(
            &[crate::pattern::FilterRegexes {
                name: "t".into(),
                prefregex: None,
                failregex: vec![
                    r"^Registration from '[^']*' failed for '<HOST>(:\d+)?' - Wrong$".into(),
                ],
                ignoreregex: Vec::new(),
            }],
            &crate::pattern::EngineOptions {
                check_all: false,
                ..Default::default()
            },
        )
        .unwrap();
        let plan = QuickPlan::build(&e).unwrap();
        let f = plan.filters[0].as_ref().unwrap();
        let split = f.capture[0]
            .as_ref()
            .and_then(LazyCapturer::get)
            .unwrap()
            .split
            .as_ref()
            .unwrap();
        assert!(split.is_host);
    }
}
