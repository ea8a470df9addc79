//! The skeleton matcher: the quick path's first try on a line, with no automaton walk
//! over most of the text.
//!
//! A failregex such as `^Registration from '[^']*' failed for '<HOST>(:\d+)?' - (?:Wrong
//! password|…)$` is mostly literals and runs of one byte class that end where the next
//! literal starts. Matching those with `starts_with` and `memchr` costs a few nanoseconds,
//! where the lazy DFAs of [`super::QuickFilter`] pay a dependent table load per byte for
//! each of the five walks the general quick path needs (head, failregex set, address cut).
//!
//! Each anchored, regular failregex `^ A X C` is compiled to a small tree ([`Node`]) run
//! by a depth-first backtracking search in Python's order (alternatives left to right,
//! greedy repetitions longest first), so the first success is the match `re` would report:
//! - `X` is the *address region*: the top-level parts that hold the `ip4`/`ip6`/`dns`
//!   groups, widened until the next part is a literal whose first byte `X` can never
//!   match. `X` then ends exactly where the run of bytes it can match ends (the literal
//!   must start right there), so its span `[p, r)` is found with one table scan, and its
//!   groups are those of `X`'s preferred parse of exactly that span: a hand check for an
//!   IPv4 `<HOST>` ([`ip4_prefix`]) or an IPv6 one, else the bounded backtracker
//!   on the span alone.
//! - a run of one class whose every possible follower starts with a byte outside the
//!   class can only end where the class stops, so it is matched without backtracking
//!   (`atomic`, decided once when the tree is built).
//!
//! Failregexes are tried in list order, like the general quick path's leftmost-first DFA.
//! A failregex that is not of this shape (or repeats a sequence, which costs the search
//! more than the DFAs) is searched with its literal prefix, then its own anchored lazy DFA:
//! when that matches, the verdict names it and where its match ends ([`Verdict::Matches`])
//! and the general quick path only has to find the address. When a search exceeds its step
//! budget or meets a construct the tree does not model, the verdict is
//! [`Verdict::Unknown`] and the general quick path decides the line. So this module never
//! changes a result, it only skips work (`quick.rs`'s tests and `tests/scan.rs` compare it
//! with the engine).

use regex_automata::hybrid::dfa::{Cache as DfaCache, DFA};
use regex_automata::nfa::thompson::backtrack::{BoundedBacktracker, Cache as BtCache};
use regex_automata::util::captures::Captures;
use regex_automata::{Anchored, Input, MatchKind};
use regex_syntax::hir::{Class, Hir, HirKind, Look};

use super::{compile, has_group, host_hir, lazy_dfa, pick_address, regroup, AddrKind};
use crate::pattern::engine::Family;
use crate::pattern::has_prefix;

/// A set of bytes, as a lookup table (the fastest test in a run scan).
type Set = [bool; 256];

/// Work allowed per line and pattern, in nodes visited per byte of the line: far above
/// what a pattern of the usual shape needs (about one), low enough that a pattern which
/// backtracks badly gives up quickly and lets the linear DFA path decide.
const BUDGET_PER_BYTE: usize = 8;
/// Nesting of backtracking frames (alternatives, repetitions) before giving up.
const MAX_DEPTH: u32 = 1000;

/// One element of a compiled failregex.
#[derive(Debug)]
enum Node {
    Lit(Lit),
    /// One byte of a class.
    One(Box<Set>),
    Run(Run),
    /// A repetition of a sequence that cannot match empty.
    Rep(Box<Rep>),
    /// Ordered alternatives (an optional part is `[part, []]`, or `[[], part]` when lazy),
    /// and which of them can start at a given byte (set by [`annotate_with`]).
    Alt(Vec<Vec<Node>>, Option<Box<Starts>>),
    /// `$` as the quick path sees it (`EndLF`): the end, or before the line's `\n`.
    End,
    /// An ASCII word boundary `\b` (or its negation `\B`); lines here are ASCII, where
    /// Python's Unicode `\b` is the same. The text before the haystack does not count.
    WordB(bool),
    /// The address region of the pattern (see the module doc).
    Region,
    /// Anything else: the search gives up when it gets here.
    Unsupported,
    /// The start or end of an except-word mark; only while [`nodes_of`] folds a mark into
    /// the run after it (what is left over becomes [`Node::Unsupported`]).
    Mark(bool),
}

/// The alternatives of a [`Node::Alt`] (at most 64) that can match, followed by what
/// follows the node, at a given byte (bit `k` for alternative `k`): the search skips the
/// others with one table load instead of a call that fails on its first node.
#[derive(Debug)]
struct Starts {
    by_byte: [u64; 256],
    /// At the end of the text: the alternatives that, with what follows, can match empty.
    at_end: u64,
    /// The alternatives that match in at most one way (see [`one_way`]): when every live
    /// alternative is one of them, [`Tree::seq`] walks each in a loop instead of a frame,
    /// and with a single live one (an optional part, most of the time) it just goes on.
    one_way: u64,
}

/// A repetition of one byte class.
#[derive(Debug)]
struct Run {
    set: Box<Set>,
    /// When the bytes outside the class (within ASCII) are one to three bytes, memchr
    /// finds where the run stops.
    stops: Option<Stops>,
    min: u32,
    max: u32,
    greedy: bool,
    /// Only the longest run can be followed (see the module doc).
    atomic: bool,
    /// Of a run that is not atomic: the bytes what follows it must start with, when it
    /// cannot match empty (set by [`annotate_with`]). The search tries only the lengths
    /// that stop on one of them: a lazy `.*?` before `' failed for '` is followed from the
    /// few quotes of the line, not from every byte of it.
    follow: Option<Box<Set>>,
    /// The run must not be this word: a marked `(?!w s)C{m,M}` (see
    /// [`crate::pattern::translate::Translated::emit_marked`]). Its translation proves that
    /// the repetition then matches exactly the maximal run of `C`, and fails when that run
    /// is `w`; so such a run must also be atomic here, else the search gives up.
    except: Option<Box<[u8]>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stops {
    One(u8),
    Two(u8, u8),
    Three(u8, u8, u8),
}

#[derive(Debug)]
struct Rep {
    body: Vec<Node>,
    min: u32,
    max: u32,
    greedy: bool,
    /// The body matches in at most one way from a given place (literals, single bytes,
    /// atomic runs, `\b`, `$`; set by [`annotate_with`]): [`Tree::rep_simple`] walks its
    /// iterations in a loop instead of a frame per iteration.
    simple: bool,
}

/// What can start a node or sequence.
#[derive(Clone)]
struct First {
    set: Set,
    /// It can match without consuming a byte.
    nullable: bool,
}

/// The outcome of a search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum R {
    No,
    Yes,
    /// Gave up: the general quick path decides.
    Unknown,
}

/// How a search ends once the sequence is consumed.
#[derive(Clone, Copy)]
enum Term {
    /// The whole failregex matched: check the address region.
    Pattern,
    /// A part of the region must end exactly here.
    At(usize),
    /// Any end is fine: record it.
    Any,
}

/// A continuation: what still has to match after the current sequence.
struct Cont<'a> {
    k: K<'a>,
    next: Option<&'a Cont<'a>>,
}

enum K<'a> {
    Seq(&'a [Node]),
    /// Repetition `rep` after `count` iterations.
    Rep(&'a Rep, u32),
}

/// Per-search state.
struct St<'h, 'c> {
    hay: &'h [u8],
    raw_names: bool,
    budget: usize,
    term: Term,
    /// The span of the address region on the current path.
    region: (usize, usize),
    /// Where an `Any` search ended, or the address found by a `Pattern` search.
    end: usize,
    found: Option<(AddrKind, usize, usize)>,
    cache: Option<&'c mut PatCache>,
}

/// The address region of a tree pattern.
#[derive(Debug)]
struct Region {
    /// Every byte the region can match.
    set: Box<Set>,
    /// The same set for a 16-byte-wide scan, where the CPU can.
    span: Option<SetSpan>,
    /// The first byte of the literal that follows the region (not in `set`).
    term: u8,
    /// `X\z` with the address groups only, numbered 1, 2, 3 in ip4, ip6, dns order.
    bt: BoundedBacktracker,
    ip4: Option<usize>,
    ip6: Option<usize>,
    dns: Option<usize>,
    /// `X` is `P <HOST> S`: `P` and `S` as trees, for the hand checks of [`Tree::host_fast`].
    host: Option<(Vec<Node>, Vec<Node>)>,
    /// `S` can match a `]`.
    post_bracket: bool,
}

/// A set of ASCII bytes as two 16-byte tables for `pshufb` (the nibble lookup of Teddy):
/// byte `b` is a member when `lo[b & 15] & hi[b >> 4] != 0`, with `lo[l]` the bits of the
/// high nibbles `h` (0-7) such that `h << 4 | l` is a member and `hi[h] = 1 << h` (0 for
/// the non-ASCII high nibbles). An address region (13 bytes of IPv4, up to 40 of IPv6, and
/// its port) is then a load or two and a mask, where the byte loop took ~6 instructions a
/// byte (~2% of a scan's).
#[derive(Debug, Clone)]
struct SetSpan {
    lo: [u8; 16],
    hi: [u8; 16],
}

impl SetSpan {
    /// `None` when `set` has a non-ASCII member or the CPU lacks SSSE3.
    fn of(set: &Set) -> Option<SetSpan> {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("ssse3") && !set[0x80..].contains(&true) {
            let (mut lo, mut hi) = ([0u8; 16], [0u8; 16]);
            for (h, x) in hi.iter_mut().enumerate().take(8) {
                *x = 1 << h;
            }
            for b in (0..0x80).filter(|&b| set[b]) {
                lo[b & 15] |= 1 << (b >> 4);
            }
            return Some(SetSpan { lo, hi });
        }
        None
    }
}

/// How many bytes at the start of `hay` are in `set` (`span`: the same set, see
/// [`SetSpan`]).
#[inline]
fn member_run(set: &Set, span: Option<&SetSpan>, hay: &[u8]) -> usize {
    // The bytes after the whole 16-byte blocks, or all of them.
    #[cfg(target_arch = "x86_64")]
    let i = match span {
        // SAFETY: a SetSpan exists only where the CPU has SSSE3 (`SetSpan::of`).
        Some(sp) => match unsafe { member_run_ssse3(sp, hay) } {
            Ok(n) => return n,
            Err(whole) => whole,
        },
        None => 0,
    };
    #[cfg(not(target_arch = "x86_64"))]
    let i = {
        let _ = span;
        0
    };
    i + hay[i..].iter().take_while(|&&b| set[b as usize]).count()
}

/// [`member_run`] 16 bytes at a time: `Ok` with the run's length when it ends within the
/// whole 16-byte blocks of `hay`, else `Err` with the length of those blocks (all members).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "ssse3")]
unsafe fn member_run_ssse3(sp: &SetSpan, hay: &[u8]) -> Result<usize, usize> {
    use std::arch::x86_64::*;
    let lo = _mm_loadu_si128(sp.lo.as_ptr().cast());
    let hi = _mm_loadu_si128(sp.hi.as_ptr().cast());
    let nibble = _mm_set1_epi8(0x0f);
    let mut i = 0;
    while let Some(block) = hay.get(i..i + 16) {
        let v = _mm_loadu_si128(block.as_ptr().cast());
        let l = _mm_shuffle_epi8(lo, _mm_and_si128(v, nibble));
        let h = _mm_shuffle_epi8(hi, _mm_and_si128(_mm_srli_epi16::<4>(v), nibble));
        let out = _mm_cmpeq_epi8(_mm_and_si128(l, h), _mm_setzero_si128());
        let outside = _mm_movemask_epi8(out) as u32;
        if outside != 0 {
            return Ok(i + outside.trailing_zeros() as usize);
        }
        i += 16;
    }
    Err(i)
}

/// A failregex as a tree, `^ A Region C`.
#[derive(Debug)]
struct Tree {
    /// The literal every match starts with (possibly empty).
    prefix: Box<[u8]>,
    nodes: Vec<Node>,
    region: Option<Region>,
    /// The first node is `prefix` (a literal the caller has matched): the search starts
    /// after it.
    skip_prefix: bool,
}

#[derive(Debug)]
enum Pat {
    Tree(Box<Tree>),
    /// Only used to rule a line out: the literal every match starts with (possibly empty)
    /// and the pattern's anchored lazy DFA.
    Exclude {
        prefix: Box<[u8]>,
        dfa: Box<DFA>,
    },
}

/// The skeleton of one filter's failregexes.
#[derive(Debug)]
pub(super) struct Skeleton {
    pats: Vec<Pat>,
    /// For each first byte of a line, the patterns that can match a line starting with it
    /// (bit `j` for pattern `j`), when there are at most 64 patterns. Most lines start
    /// with the prefix of at most one tree: the others are skipped without a comparison,
    /// and an `Exclude` pattern without a literal prefix (`(?:Host )?<HOST> …`) without
    /// starting its DFA.
    first: Option<Box<[u64; 256]>>,
}

/// Per-thread state of a [`Skeleton`].
#[derive(Debug, Clone)]
pub(super) struct SkelCache {
    pats: Vec<PatCache>,
}

#[derive(Debug, Clone)]
enum PatCache {
    Tree { bt: BtCache, caps: Captures },
    Exclude(Option<Box<DfaCache>>),
}

/// The skeleton's verdict on a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Failregex `regex` (0-based) is the first that matches; its address.
    Hit {
        regex: usize,
        kind: AddrKind,
        start: usize,
        end: usize,
    },
    /// No failregex matches.
    NoHit,
    /// Failregex `regex` (not a tree) is the first that matches, or its regular superset
    /// does; its (superset's) preferred match ends at `end`. What the failregex-set DFA of
    /// the quick path would report, without walking the line again.
    Matches { regex: usize, end: usize },
    /// The general quick path must decide.
    Unknown,
}

impl Skeleton {
    /// The skeleton of a filter whose failregexes are `hirs` (ASCII HIRs as the quick path
    /// builds them; `regular[j]`: the HIR is the exact regex, not a superset), searched as
    /// `searched[j]` (anchored, or prefixed with a lazy `.*?`), with address groups
    /// `groups[j]` (ip4, ip6, dns). `None` when no failregex has the tree shape.
    pub(super) fn build(
        hirs: &[Hir],
        searched: &[Hir],
        regular: &[bool],
        groups: &[[Option<usize>; 3]],
    ) -> Option<Skeleton> {
        use rayon::prelude::*;
        // The failregexes' trees are independent (each compiles the bounded backtracker of
        // its address region): built in parallel, on the cores a starting scan leaves idle.
        let pats = hirs
            .par_iter()
            .enumerate()
            .map(|(j, hir)| {
                let tree = if regular[j] {
                    tree(hir, groups[j])
                } else {
                    None
                };
                Some(match tree {
                    Some(t) => Pat::Tree(Box::new(t)),
                    None => Pat::Exclude {
                        prefix: literal_prefix(hir),
                        dfa: Box::new(lazy_dfa(
                            compile(std::slice::from_ref(&searched[j]), false, false)?,
                            MatchKind::LeftmostFirst,
                        )?),
                    },
                })
            })
            .collect::<Option<Vec<Pat>>>()?;
        if !pats.iter().any(|p| matches!(p, Pat::Tree(_))) {
            return None;
        }
        let first = first_bytes(&pats);
        Some(Skeleton { pats, first })
    }

    /// Failregex `j` is searched by a tree (tests check which patterns qualify).
    #[cfg(test)]
    pub(super) fn is_tree(&self, j: usize) -> bool {
        matches!(self.pats.get(j), Some(Pat::Tree(_)))
    }

    pub(super) fn new_cache(&self) -> SkelCache {
        SkelCache {
            pats: self
                .pats
                .iter()
                .map(|p| match p {
                    Pat::Tree(t) => match &t.region {
                        Some(g) => PatCache::Tree {
                            bt: g.bt.create_cache(),
                            caps: g.bt.create_captures(),
                        },
                        None => PatCache::Exclude(None),
                    },
                    Pat::Exclude { dfa, .. } => {
                        PatCache::Exclude(Some(Box::new(dfa.create_cache())))
                    }
                })
                .collect(),
        }
    }

    /// Decides `hay` (a prefregex content, or the line, plus `"\n"`; ASCII). A tree is
    /// searched only when `hay` starts with its prefix.
    /// `raw_names`: a `dns` capture is an ID as written (else the engine resolves it).
    pub(super) fn classify(&self, c: &mut SkelCache, hay: &[u8], raw_names: bool) -> Verdict {
        let mut live = match (&self.first, hay.first()) {
            (Some(first), Some(&b)) => first[usize::from(b)],
            _ => u64::MAX,
        };
        for (j, (p, pc)) in self.pats.iter().zip(c.pats.iter_mut()).enumerate() {
            // Patterns past the 64th are never masked out (`first` is `None` then).
            let skip = j < 64 && live & 1 == 0;
            live >>= 1;
            if skip {
                continue;
            }
            match (p, &mut *pc) {
                // Most lines fail most trees on their first literal: no search set up then.
                (Pat::Tree(t), _) if !has_prefix(hay, &t.prefix) => {}
                (Pat::Tree(t), PatCache::Tree { .. }) => match t.search(pc, hay, raw_names) {
                    (R::Yes, Some((kind, start, end))) => {
                        return Verdict::Hit {
                            regex: j,
                            kind,
                            start,
                            end,
                        }
                    }
                    (R::No, _) => {}
                    _ => return Verdict::Unknown,
                },
                (Pat::Exclude { prefix, dfa }, PatCache::Exclude(Some(dc))) => {
                    if !has_prefix(hay, prefix) {
                        continue;
                    }
                    let input = Input::new(hay).anchored(Anchored::Yes);
                    match dfa.try_search_fwd(dc, &input) {
                        Ok(None) => {}
                        Ok(Some(m)) => {
                            return Verdict::Matches {
                                regex: j,
                                end: m.offset(),
                            }
                        }
                        Err(_) => return Verdict::Unknown,
                    }
                }
                _ => return Verdict::Unknown,
            }
        }
        Verdict::NoHit
    }
}

/// The [`Skeleton::first`] table of `pats`, `None` beyond 64 patterns. A tree can start
/// with the first byte of its literal prefix only (any byte without one); an `Exclude`
/// pattern with any byte on which its anchored DFA's start state does not die. (A DFA
/// reports a match one byte late, so a transition into the dead state means no match of
/// any length, the empty one included.)
fn first_bytes(pats: &[Pat]) -> Option<Box<[u64; 256]>> {
    if pats.len() > 64 {
        return None;
    }
    let mut first = Box::new([0u64; 256]);
    for (j, p) in pats.iter().enumerate() {
        let bit = 1u64 << j;
        let only = |b0: u8| (0..=255u8).map(|b| b == b0).collect::<Vec<bool>>();
        let allowed = match p {
            Pat::Tree(t) => match t.prefix.first() {
                Some(&b0) => only(b0),
                None => vec![true; 256],
            },
            Pat::Exclude { prefix, dfa } => match prefix.first() {
                Some(&b0) => only(b0),
                None => dfa_first_bytes(dfa),
            },
        };
        for (slot, ok) in first.iter_mut().zip(allowed) {
            if ok {
                *slot |= bit;
            }
        }
    }
    Some(first)
}

/// Bytes on which the anchored start state of `dfa` does not go to the dead state (all
/// bytes when the DFA cannot tell, e.g. a look-behind at the start or a cache failure).
fn dfa_first_bytes(dfa: &DFA) -> Vec<bool> {
    let mut cache = dfa.create_cache();
    let input = Input::new(b"x".as_slice()).anchored(Anchored::Yes);
    let Ok(start) = dfa.start_state_forward(&mut cache, &input) else {
        return vec![true; 256];
    };
    (0..=255u8)
        .map(|b| match dfa.next_state(&mut cache, start, b) {
            Ok(sid) => !sid.is_dead(),
            Err(_) => true,
        })
        .collect()
}

impl Tree {
    fn search(
        &self,
        pc: &mut PatCache,
        hay: &[u8],
        raw_names: bool,
    ) -> (R, Option<(AddrKind, usize, usize)>) {
        let mut st = St {
            hay,
            raw_names,
            budget: BUDGET_PER_BYTE * hay.len() + 64,
            term: Term::Pattern,
            region: (0, 0),
            end: 0,
            found: None,
            cache: Some(pc),
        };
        // The caller has matched the prefix ([`Skeleton::classify`]).
        debug_assert!(has_prefix(hay, &self.prefix));
        let (nodes, pos) = if self.skip_prefix {
            (&self.nodes[1..], self.prefix.len())
        } else {
            (&self.nodes[..], 0)
        };
        let r = self.seq(nodes, pos, None, &mut st, 0);
        (r, st.found)
    }

    fn seq(
        &self,
        nodes: &[Node],
        mut pos: usize,
        next: Option<&Cont<'_>>,
        st: &mut St,
        depth: u32,
    ) -> R {
        if depth > MAX_DEPTH {
            return R::Unknown;
        }
        let hay = st.hay;
        for (i, n) in nodes.iter().enumerate() {
            if st.budget == 0 {
                return R::Unknown;
            }
            st.budget -= 1;
            match n {
                Node::Lit(l) => match l.end(hay, pos) {
                    Some(e) => pos = e,
                    None => return R::No,
                },
                Node::One(s) => match one_end(s, hay, pos) {
                    Some(e) => pos = e,
                    None => return R::No,
                },
                Node::Run(r) => {
                    if r.atomic {
                        match atomic_run_end(r, hay, pos) {
                            Some(e) => pos = e,
                            None => return R::No,
                        }
                        continue;
                    }
                    let avail = run_len(r, &hay[pos..]);
                    if avail < r.min as usize {
                        return R::No;
                    }
                    if r.except.is_some() {
                        return R::Unknown;
                    }
                    let rest = Cont {
                        k: K::Seq(&nodes[i + 1..]),
                        next,
                    };
                    let lens = r.min as usize..=avail;
                    let mut out = R::No;
                    let mut try_len = |k: usize, st: &mut St| {
                        if let Some(f) = &r.follow {
                            // What follows cannot start here (nor at the end): no need to
                            // try (`out` is still `No`).
                            if !hay.get(pos + k).is_some_and(|&b| f[b as usize]) {
                                return false;
                            }
                        }
                        out = self.cont(Some(&rest), pos + k, st, depth + 1);
                        out != R::No
                    };
                    if r.greedy {
                        for k in lens.rev() {
                            if try_len(k, st) {
                                break;
                            }
                        }
                    } else {
                        for k in lens {
                            if try_len(k, st) {
                                break;
                            }
                        }
                    }
                    return out;
                }
                Node::Rep(rp) => {
                    let rest = Cont {
                        k: K::Seq(&nodes[i + 1..]),
                        next,
                    };
                    if rp.simple {
                        return self.rep_simple(rp, pos, Some(&rest), st, depth + 1);
                    }
                    return self.rep(rp, 0, pos, Some(&rest), st, depth + 1);
                }
                Node::Alt(branches, starts) => {
                    let live = match (starts, hay.get(pos)) {
                        (Some(s), Some(&b)) => s.by_byte[b as usize],
                        (Some(s), None) => s.at_end,
                        (None, _) => u64::MAX,
                    };
                    if let Some(s) = starts {
                        if live & !s.one_way == 0 {
                            // One way through each live branch: a single one is this
                            // node (go on from its end); several are tried in order, with
                            // a frame for what follows only.
                            if live & live.wrapping_sub(1) == 0 {
                                if live == 0 {
                                    return R::No;
                                }
                                let b = &branches[live.trailing_zeros() as usize];
                                match simple_end(b, pos, st) {
                                    Ok(Some(e)) => pos = e,
                                    Ok(None) => return R::No,
                                    Err(()) => return R::Unknown,
                                }
                                continue;
                            }
                            let mut left = live;
                            while left != 0 {
                                let b = &branches[left.trailing_zeros() as usize];
                                left &= left - 1;
                                match simple_end(b, pos, st) {
                                    Ok(Some(e)) => {
                                        match self.seq(&nodes[i + 1..], e, next, st, depth + 1) {
                                            R::No => {}
                                            r => return r,
                                        }
                                    }
                                    Ok(None) => {}
                                    Err(()) => return R::Unknown,
                                }
                            }
                            return R::No;
                        }
                    }
                    let rest = Cont {
                        k: K::Seq(&nodes[i + 1..]),
                        next,
                    };
                    for (k, b) in branches.iter().enumerate() {
                        if k < 64 && live >> k & 1 == 0 {
                            continue;
                        }
                        match self.seq(b, pos, Some(&rest), st, depth + 1) {
                            R::No => {}
                            r => return r,
                        }
                    }
                    return R::No;
                }
                Node::End => {
                    if !at_end(hay, pos) {
                        return R::No;
                    }
                }
                Node::WordB(neg) => {
                    if !at_word_boundary(hay, pos, *neg) {
                        return R::No;
                    }
                }
                Node::Region => {
                    let Some(g) = &self.region else {
                        return R::Unknown;
                    };
                    let r = pos + member_run(&g.set, g.span.as_ref(), &hay[pos..]);
                    if hay.get(r) != Some(&g.term) {
                        return R::No;
                    }
                    st.region = (pos, r);
                    pos = r;
                }
                Node::Unsupported | Node::Mark(_) => return R::Unknown,
            }
        }
        self.cont(next, pos, st, depth)
    }

    fn rep(
        &self,
        rp: &Rep,
        count: u32,
        pos: usize,
        next: Option<&Cont<'_>>,
        st: &mut St,
        depth: u32,
    ) -> R {
        let again = Cont {
            k: K::Rep(rp, count + 1),
            next,
        };
        // Greedy: another iteration first, then what follows; lazy: the other way round.
        let order = if rp.greedy {
            [true, false]
        } else {
            [false, true]
        };
        for more in order {
            let r = if more && count < rp.max {
                self.seq(&rp.body, pos, Some(&again), st, depth + 1)
            } else if !more && count >= rp.min {
                self.cont(next, pos, st, depth + 1)
            } else {
                R::No
            };
            if r != R::No {
                return r;
            }
        }
        R::No
    }

    /// [`Tree::rep`] of a [`Rep::simple`] repetition: the body matches one way or not at
    /// all, so the places where 0, 1, 2, ... iterations end are found in a loop, and what
    /// follows is tried from them in the order the backtracking search would (most
    /// iterations first when greedy). Same result, without a frame per iteration (a
    /// `SecurityEvent` line has a dozen `,Name="value"` fields).
    fn rep_simple(
        &self,
        rp: &Rep,
        pos: usize,
        next: Option<&Cont<'_>>,
        st: &mut St,
        depth: u32,
    ) -> R {
        let mut ends: smallvec::SmallVec<[usize; 32]> = smallvec::smallvec![pos];
        // The `,Name="value"` shape (literal, run, literal, run, literal, both runs atomic)
        // is walked without `simple_end`'s dispatch on each node, and charged once per
        // iteration (a dozen per `SecurityEvent` line).
        let field = match &rp.body[..] {
            [Node::Lit(a), Node::Run(r1), Node::Lit(b), Node::Run(r2), Node::Lit(c)]
                if r1.atomic && r2.atomic =>
            {
                Some((a, r1, b, r2, c))
            }
            _ => None,
        };
        let hay = st.hay;
        while ends.len() <= rp.max as usize {
            let at = ends[ends.len() - 1];
            let end = match field {
                Some((a, r1, b, r2, c)) => {
                    st.budget = match st.budget.checked_sub(5) {
                        Some(left) => left,
                        None => return R::Unknown,
                    };
                    a.end(hay, at)
                        .and_then(|p| atomic_run_end(r1, hay, p))
                        .and_then(|p| b.end(hay, p))
                        .and_then(|p| atomic_run_end(r2, hay, p))
                        .and_then(|p| c.end(hay, p))
                }
                None => match simple_end(&rp.body, at, st) {
                    Ok(e) => e,
                    Err(()) => return R::Unknown,
                },
            };
            match end {
                Some(e) => ends.push(e),
                None => break,
            }
        }
        let counts = rp.min as usize..ends.len();
        let try_from = |k: usize, st: &mut St| self.cont(next, ends[k], st, depth);
        if rp.greedy {
            for k in counts.rev() {
                match try_from(k, st) {
                    R::No => {}
                    r => return r,
                }
            }
        } else {
            for k in counts {
                match try_from(k, st) {
                    R::No => {}
                    r => return r,
                }
            }
        }
        R::No
    }

    fn cont(&self, next: Option<&Cont<'_>>, pos: usize, st: &mut St, depth: u32) -> R {
        match next {
            None => self.done(pos, st),
            Some(c) => match c.k {
                K::Seq(s) => self.seq(s, pos, c.next, st, depth),
                K::Rep(rp, count) => self.rep(rp, count, pos, c.next, st, depth),
            },
        }
    }

    /// The end of a successful path.
    fn done(&self, pos: usize, st: &mut St) -> R {
        match st.term {
            Term::At(r) => {
                if pos == r {
                    R::Yes
                } else {
                    R::No
                }
            }
            Term::Any => {
                st.end = pos;
                R::Yes
            }
            Term::Pattern => {
                let Some(pc) = st.cache.as_deref_mut() else {
                    return R::Unknown;
                };
                match self.address(pc, st.hay, st.region, st.raw_names) {
                    Address::Found(a) => {
                        st.found = Some(a);
                        R::Yes
                    }
                    Address::NoParse => R::No,
                    Address::Engine => R::Unknown,
                }
            }
        }
    }

    /// The address groups of the region `[p, r)` (the whole pattern matched around it).
    fn address(
        &self,
        pc: &mut PatCache,
        hay: &[u8],
        (p, r): (usize, usize),
        raw_names: bool,
    ) -> Address {
        let Some(g) = &self.region else {
            return Address::Engine;
        };
        if let Some((pre, post)) = &g.host {
            if let Some(found) = self.host_fast(pre, post, &hay[..r], p, g.post_bracket) {
                return Address::Found(found);
            }
            if pre.is_empty() && post.is_empty() && no_host(&hay[p..r]) {
                return Address::NoParse;
            }
        }
        let PatCache::Tree { bt, caps } = pc else {
            return Address::Engine;
        };
        if r > g.bt.max_haystack_len() {
            return Address::Engine;
        }
        let input = Input::new(&hay[..r]).range(p..).anchored(Anchored::Yes);
        if g.bt.try_search(bt, &input, caps).is_err() {
            return Address::Engine;
        }
        if !caps.is_match() {
            return Address::NoParse;
        }
        match pick_address(caps, (g.ip4, g.ip6, g.dns), raw_names) {
            Some(a) => Address::Found(a),
            None => Address::Engine,
        }
    }

    /// The address of `P <HOST> S` spanning all of `hay[p..]`, when the preferred parse
    /// takes `P`'s first parse, then `<HOST>`'s IPv4 branch, or its IPv6 branch between
    /// brackets (or without them when `S` is empty), and `S`'s first parse: taking the
    /// first choice everywhere and succeeding is the preferred parse. `None` means "ask the backtracker", never "no match".
    /// `s_bracket`: `S` can match a `]`.
    fn host_fast(
        &self,
        pre: &[Node],
        post: &[Node],
        hay: &[u8],
        p: usize,
        s_bracket: bool,
    ) -> Option<(AddrKind, usize, usize)> {
        let mut st = St {
            hay,
            raw_names: true,
            budget: BUDGET_PER_BYTE * hay.len() + 64,
            term: Term::Any,
            region: (0, 0),
            end: 0,
            found: None,
            cache: None,
        };
        let h = if pre.is_empty() {
            p
        } else {
            if self.seq(pre, p, None, &mut st, 0) != R::Yes {
                return None;
            }
            st.end
        };
        st.term = Term::At(hay.len());
        if let Some((s, e)) = ip4_prefix(&hay[h..]) {
            return (self.seq(post, h + e, None, &mut st, 0) == R::Yes).then_some((
                AddrKind::Ip(Family::V4),
                h + s,
                h + e,
            ));
        }
        if s_bracket {
            return None;
        }
        // A bare address that is all the rest of the region (`S` empty): the IPv4 branch
        // needs dots and the name branch has no `:`, so with a `:` and no `.` only the IPv6
        // branch can match, and it must take all of it (then `\]?` takes nothing).
        if post.is_empty() && hay.get(h) != Some(&b'[') {
            let inner = &hay[h..];
            if !inner.contains(&b':') || !ip6_regular(inner) {
                return None;
            }
            return Some((AddrKind::Ip(Family::V6), h, hay.len()));
        }
        // `[inner]`: `\[?` takes the bracket; the IPv4 branch needs dots, so with none in
        // `inner` it fails and the IPv6 branch is next. That branch cannot stop before the
        // `]` (what follows it, `\]?` then `S`, could not take the rest, `S` having no `]`),
        // so it matches all of `inner` or nothing, and `\]?` then takes the bracket.
        if hay.get(h) != Some(&b'[') {
            return None;
        }
        let (s, e) = (h + 1, h + 1 + memchr::memchr(b']', &hay[h + 1..])?);
        let inner = &hay[s..e];
        if inner.is_empty() || !ip6_regular(inner) {
            return None;
        }
        (self.seq(post, e + 1, None, &mut st, 0) == R::Yes).then_some((
            AddrKind::Ip(Family::V6),
            s,
            e,
        ))
    }
}

enum Address {
    Found((AddrKind, usize, usize)),
    /// The region has no parse of the address part: this path fails.
    NoParse,
    /// A name to resolve, a missing group, a span too long: the engine decides.
    Engine,
}

impl Stops {
    /// One to three bytes as stops.
    pub(super) fn of_bytes(b: &[u8]) -> Option<Stops> {
        match *b {
            [a] => Some(Stops::One(a)),
            [a, b] => Some(Stops::Two(a, b)),
            [a, b, c] => Some(Stops::Three(a, b, c)),
            _ => None,
        }
    }

    /// The first stop in `s`.
    #[inline]
    pub(super) fn find(self, s: &[u8]) -> Option<usize> {
        match self {
            Stops::One(a) => memchr::memchr(a, s),
            Stops::Two(a, b) => memchr::memchr2(a, b, s),
            Stops::Three(a, b, c) => memchr::memchr3(a, b, c, s),
        }
    }
}

/// Where one-way nodes (a [`Rep::simple`] body, a one-way alternative) end when they
/// match at `pos` (in one way only), `Ok(None)` when they do not, `Err` when the step budget
/// runs out. Inlined: it runs for every field of a `SecurityEvent` line.
#[inline(always)]
fn simple_end(body: &[Node], mut pos: usize, st: &mut St) -> Result<Option<usize>, ()> {
    let hay = st.hay;
    for n in body {
        if st.budget == 0 {
            return Err(());
        }
        st.budget -= 1;
        let end = match n {
            Node::Lit(l) => l.end(hay, pos),
            Node::One(s) => one_end(s, hay, pos),
            Node::Run(r) if r.atomic => atomic_run_end(r, hay, pos),
            Node::End => at_end(hay, pos).then_some(pos),
            Node::WordB(neg) => at_word_boundary(hay, pos, *neg).then_some(pos),
            // Not in a simple body.
            _ => return Err(()),
        };
        match end {
            Some(e) => pos = e,
            None => return Ok(None),
        }
    }
    Ok(Some(pos))
}

// The nodes that match in at most one way, shared by `Tree::seq` and `simple_end`: where
// each ends when it matches at `pos`.

#[inline]
fn lit_end(l: &[u8], hay: &[u8], pos: usize) -> Option<usize> {
    // The first byte alone rules most places out, without a memcmp call.
    hay.get(pos..)
        .is_some_and(|h| has_prefix(h, l))
        .then_some(pos + l.len())
}

/// A literal node, with its first eight bytes (or fewer, masked) as a word and, when it is
/// longer, its last eight: where eight bytes of the text are left, a literal of up to
/// sixteen bytes is one or two loads and compares, without the length cases of
/// [`has_prefix`] (three literals per field of a `SecurityEvent` line).
#[derive(Debug)]
struct Lit {
    bytes: Box<[u8]>,
    head: u64,
    mask: u64,
    /// The last eight bytes (`len > 8`).
    tail: u64,
}

impl Lit {
    fn new(bytes: Box<[u8]>) -> Lit {
        let n = bytes.len();
        let mut h = [0u8; 8];
        h[..n.min(8)].copy_from_slice(&bytes[..n.min(8)]);
        let mut t = [0u8; 8];
        if n > 8 {
            t.copy_from_slice(&bytes[n - 8..]);
        }
        Lit {
            head: u64::from_le_bytes(h),
            mask: if n >= 8 {
                u64::MAX
            } else {
                (1u64 << (8 * n)) - 1
            },
            tail: u64::from_le_bytes(t),
            bytes,
        }
    }

    /// Where the literal ends when it matches at `pos`.
    #[inline(always)]
    fn end(&self, hay: &[u8], pos: usize) -> Option<usize> {
        let n = self.bytes.len();
        let word = |i: usize| {
            hay.get(i..i + 8)
                .map(|w| u64::from_le_bytes(w.try_into().unwrap_or([0; 8])))
        };
        let (Some(w), true) = (word(pos), n <= 16) else {
            return lit_end(&self.bytes, hay, pos);
        };
        if (w ^ self.head) & self.mask != 0 {
            return None;
        }
        if n <= 8 {
            return Some(pos + n);
        }
        (word(pos + n - 8)? == self.tail).then_some(pos + n)
    }
}

impl std::ops::Deref for Lit {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.bytes
    }
}

#[inline]
fn one_end(s: &Set, hay: &[u8], pos: usize) -> Option<usize> {
    hay.get(pos)
        .is_some_and(|&b| s[b as usize])
        .then_some(pos + 1)
}

/// An atomic run takes all of its class; it fails when that is shorter than its minimum or
/// is its except word.
#[inline(always)]
fn atomic_run_end(r: &Run, hay: &[u8], pos: usize) -> Option<usize> {
    let avail = run_len(r, &hay[pos..]);
    let taken = &hay[pos..pos + avail];
    // The except word compared in line (a slice compare is a `memcmp` call per field of a
    // `SecurityEvent` line).
    let is_except = r
        .except
        .as_deref()
        .is_some_and(|w| w.len() == taken.len() && has_prefix(taken, w));
    (avail >= r.min as usize && !is_except).then_some(pos + avail)
}

/// `$` as the quick path sees it: the end, or before the line's `\n`.
#[inline]
fn at_end(hay: &[u8], pos: usize) -> bool {
    pos == hay.len() || hay[pos] == b'\n'
}

/// An ASCII `\b` (or `\B` when `neg`) at `pos`; the text before the haystack does not
/// count.
#[inline]
fn at_word_boundary(hay: &[u8], pos: usize, neg: bool) -> bool {
    let word = |b: Option<&u8>| b.is_some_and(|&b| b.is_ascii_alphanumeric() || b == b'_');
    (word(pos.checked_sub(1).and_then(|i| hay.get(i))) != word(hay.get(pos))) != neg
}

/// How many bytes from the start of `s` belong to `r`'s class, at most `r.max`.
#[inline]
fn run_len(r: &Run, s: &[u8]) -> usize {
    let lim = s.len().min(r.max as usize);
    let s = &s[..lim];
    match r.stops {
        Some(stops) => stops.find(s).unwrap_or(lim),
        None => s.iter().take_while(|&&b| r.set[b as usize]).count(),
    }
}

/// `<HOST>` cannot be all of `t`, which has both a `:` and a `.` and no bracket: the IPv6
/// branch has no `.`, the name branch no `:`, the brackets take nothing, and the IPv4
/// branch's parse is forced ([`ip4_prefix`]) and ends before the end (`Host 1.2.3.4:4569
/// failed ...`, where the bounded backtracker took ~13,000 instructions to say so).
fn no_host(t: &[u8]) -> bool {
    t.contains(&b':')
        && t.contains(&b'.')
        && !t.iter().any(|&b| b == b'[' || b == b']')
        && !matches!(ip4_prefix(t), Some((_, e)) if e == t.len())
}

/// Whether all of `s` is `<HOST>`'s `ip6` group, `(?:H{1,4}::?|::){1,7}(?:H{1,4}|:)` (`H` a
/// hex digit; its test compares it with that regex), decided in one pass over its runs (the
/// regex cost ~380 instructions per IPv6 failure). Each hex run is one to four digits. The
/// colons after a hex run are its unit's one or two plus `::` units, so the parse is
/// forced: `ceil(c / 2)` units for a run of `c`; at the end, one colon is the final `:`,
/// leaving `floor(c / 2)` (at least one); a leading run is `::` units only (plus the
/// final `:` when there is nothing else). One to seven units in all.
fn ip6_regular(s: &[u8]) -> bool {
    let (n, mut i, mut units) = (s.len(), 0, 0);
    while i < n {
        let h0 = i;
        while i < n && s[i].is_ascii_hexdigit() {
            i += 1;
        }
        let c0 = i;
        while i < n && s[i] == b':' {
            i += 1;
        }
        let (h, c, end) = (c0 - h0, i - c0, i == n);
        units += match (h, c) {
            (5.., _) | (0, 0) => return false,
            // The final hex run.
            (_, 0) if end => 0,
            // A byte that is neither.
            (_, 0) => return false,
            (0, c) if end => match c {
                3.. if c % 2 == 1 => c / 2,
                _ => return false,
            },
            (0, c) if c % 2 == 0 => c / 2,
            (0, _) => return false,
            (_, 1) if end => return false,
            (_, c) if end => c / 2,
            (_, c) => c.div_ceil(2),
        };
    }
    (1..=7).contains(&units)
}

/// When the text starts with `<HOST>`'s IPv4 branch,
/// `(?:::f{4,6}:)?(?P<ip4>(?:\d{1,3}\.){3}\d{1,3})`, as its preferred parse takes it: the
/// span of `ip4` and where the branch ends. Greedy `\d{1,3}` takes up to three digits and
/// the first three must be followed by `.`, so the parse is forced; a `[` before (taken by
/// `\[?`) or a `]` after (taken by `\]?`) is left to the backtracker.
pub(super) fn ip4_prefix(text: &[u8]) -> Option<(usize, usize)> {
    let mut i = 0;
    match text.first() {
        Some(b':') => {
            let rest = text.get(2..)?;
            let fs = rest.iter().take_while(|&&b| b == b'f').count();
            if text.get(1) != Some(&b':') || !(4..=6).contains(&fs) || rest.get(fs) != Some(&b':') {
                return None;
            }
            i = 2 + fs + 1;
        }
        Some(b) if b.is_ascii_digit() => {}
        _ => return None,
    }
    let start = i;
    // The digits at `k`, counted up to three (byte tests, no iterator: this runs for
    // every IPv4 failure). The first three parts must then be followed by their dot, which
    // also rules out a fourth digit; the last takes up to three.
    let digit = |k: usize| text.get(k).is_some_and(u8::is_ascii_digit);
    let run = |k: usize| {
        if !digit(k) {
            0
        } else if !digit(k + 1) {
            1
        } else if !digit(k + 2) {
            2
        } else {
            3
        }
    };
    for _ in 0..3 {
        let d = run(i);
        if d == 0 || text.get(i + d) != Some(&b'.') {
            return None;
        }
        i += d + 1;
    }
    match run(i) {
        0 => None,
        d => (text.get(i + d) != Some(&b']')).then_some((start, i + d)),
    }
}

/// The literal every match of `hir` starts with (after `^`), possibly empty.
fn literal_prefix(hir: &Hir) -> Box<[u8]> {
    if let HirKind::Concat(parts) = hir.kind() {
        if let [start, lit, ..] = parts.as_slice() {
            if *start.kind() == HirKind::Look(Look::Start) {
                if let HirKind::Literal(l) = lit.kind() {
                    return l.0.clone();
                }
            }
        }
    }
    Box::new([])
}

/// The tree of an anchored failregex `^ A X C` (module doc), `None` when it does not have
/// that shape.
fn tree(hir: &Hir, [ip4, ip6, dns]: [Option<usize>; 3]) -> Option<Tree> {
    let HirKind::Concat(parts) = hir.kind() else {
        return None;
    };
    if parts.first().map(Hir::kind) != Some(&HirKind::Look(Look::Start)) {
        return None;
    }
    let ids: Vec<usize> = [ip4, ip6, dns].into_iter().flatten().collect();
    let first = parts.iter().position(|p| has_group(p, &ids))?;
    let last = parts.iter().rposition(|p| has_group(p, &ids))?;
    // Widen the region to the left up to a literal, an optional literal (the search tries
    // the region after it and without it, in the regex's order) or the start, so that its
    // start is where a literal ends; to the right up to a literal it cannot run into.
    let mut lo = first;
    while lo > 1 && !literal_or_optional(&parts[lo - 1]) {
        lo -= 1;
    }
    let mut set = Box::new([false; 256]);
    for p in &parts[lo..=last] {
        bytes_of(p, &mut set)?;
    }
    let mut hi = last;
    let term = loop {
        let next = parts.get(hi + 1)?;
        if let HirKind::Literal(l) = next.kind() {
            if let Some(&b) = l.0.first() {
                if !set[b as usize] {
                    break b;
                }
            }
        }
        bytes_of(next, &mut set)?;
        hi += 1;
    };
    let x = &parts[lo..=hi];
    if x.iter().any(|p| !p.properties().look_set().is_empty()) {
        return None;
    }
    // The address part alone, groups renumbered, anchored at its end.
    let mut renum = Vec::new();
    let x_caps: Vec<Hir> = x.iter().map(|p| regroup(p, &ids, &mut renum)).collect();
    let new = |g: Option<usize>| g.and_then(|g| renum.iter().position(|&x| x == g).map(|i| i + 1));
    let nfa = compile(
        &[Hir::concat(
            x_caps
                .iter()
                .cloned()
                .chain([Hir::look(Look::End)])
                .collect(),
        )],
        false,
        true,
    )?;
    let bt = BoundedBacktracker::builder().build_from_nfa(nfa).ok()?;
    // `P <HOST> S` with `<HOST>` exactly fail2ban's (its groups numbered 1, 2, 3 alone).
    let mut post_bracket = true;
    let host = host_hir().and_then(|h| {
        let at = x
            .iter()
            .position(|p| regroup(p, &ids, &mut Vec::new()) == *h)?;
        let mut s_bytes = [false; 256];
        post_bracket = x[at + 1..]
            .iter()
            .any(|p| bytes_of(p, &mut s_bytes).is_none())
            || s_bytes[b']' as usize];
        if (ip4, ip6, dns) == (None, None, None)
            || x.iter()
                .enumerate()
                .any(|(i, p)| i != at && has_group(p, &ids))
        {
            return None;
        }
        let mut pre = nodes_of(&x[..at]);
        let mut post = nodes_of(&x[at + 1..]);
        annotate(&mut pre, &First::any());
        annotate(&mut post, &First::end());
        Some((pre, post))
    });
    let mut nodes = nodes_of(&parts[1..lo]);
    nodes.push(Node::Region);
    nodes.extend(nodes_of(&parts[hi + 1..]));
    // A repeated sequence costs several backtracking frames per iteration: unless each
    // iteration is decided by a literal (`(?:,\w+="[^"]*")*`), more than the lazy DFAs
    // spend on the same bytes; leave those to them.
    if has_rep(&nodes) {
        return None;
    }
    let region = Region {
        span: SetSpan::of(&set),
        set,
        term,
        bt,
        ip4: new(ip4),
        ip6: new(ip6),
        dns: new(dns),
        host,
        post_bracket,
    };
    let region_first = {
        let mut s = region.set.clone();
        s[region.term as usize] = true;
        First {
            set: *s,
            nullable: false,
        }
    };
    let prefix = literal_prefix(hir);
    let skip_prefix =
        matches!(nodes.first(), Some(Node::Lit(l)) if !l.is_empty() && **l == *prefix);
    let mut t = Tree {
        prefix,
        nodes,
        region: Some(region),
        skip_prefix,
    };
    annotate_with(&mut t.nodes, &First::end(), &region_first);
    Some(t)
}

/// A literal, or an optional one (`(?:Host )?`).
fn literal_or_optional(h: &Hir) -> bool {
    match h.kind() {
        HirKind::Literal(_) => true,
        HirKind::Repetition(r) => {
            (r.min, r.max) == (0, Some(1)) && matches!(r.sub.kind(), HirKind::Literal(_))
        }
        _ => false,
    }
}

/// Has a repeated sequence that does not start with a literal.
fn has_rep(nodes: &[Node]) -> bool {
    nodes.iter().any(|n| match n {
        Node::Rep(rp) => !matches!(rp.body.first(), Some(Node::Lit(_))) || has_rep(&rp.body),
        Node::Alt(bs, _) => bs.iter().any(|b| has_rep(b)),
        _ => false,
    })
}

/// Adds every byte `h` can match to `set`; `None` for look-arounds other than none.
pub(super) fn bytes_of(h: &Hir, set: &mut Set) -> Option<()> {
    match h.kind() {
        HirKind::Empty => {}
        HirKind::Literal(l) => l.0.iter().for_each(|&b| set[b as usize] = true),
        HirKind::Class(c) => {
            let s = class_set(c);
            for b in 0..256 {
                set[b] |= s[b];
            }
        }
        HirKind::Look(_) => return None,
        HirKind::Repetition(r) => bytes_of(&r.sub, set)?,
        HirKind::Capture(c) => bytes_of(&c.sub, set)?,
        HirKind::Concat(v) | HirKind::Alternation(v) => {
            for x in v {
                bytes_of(x, set)?;
            }
        }
    }
    Some(())
}

/// The bytes of a class (the quick path's classes are ASCII).
fn class_set(c: &Class) -> Box<Set> {
    let mut s = Box::new([false; 256]);
    match c {
        Class::Unicode(u) => {
            for r in u.iter() {
                let (lo, hi) = (r.start() as u32, (r.end() as u32).min(0xFF));
                for b in lo..=hi {
                    s[b as usize] = true;
                }
            }
        }
        Class::Bytes(b) => {
            for r in b.iter() {
                for x in r.start()..=r.end() {
                    s[x as usize] = true;
                }
            }
        }
    }
    s
}

fn nodes_of(parts: &[Hir]) -> Vec<Node> {
    let mut out = Vec::new();
    for p in parts {
        node(p, &mut out);
    }
    fold_marks(out)
}

/// Folds each except-word mark (`Mark(true)`, the word, `Mark(false)`) into the run that
/// follows it; a mark of any other shape becomes [`Node::Unsupported`].
fn fold_marks(nodes: Vec<Node>) -> Vec<Node> {
    if !nodes.iter().any(|n| matches!(n, Node::Mark(_))) {
        return nodes;
    }
    let mut out = Vec::with_capacity(nodes.len());
    let mut it = nodes.into_iter().peekable();
    while let Some(n) = it.next() {
        if !matches!(n, Node::Mark(true)) {
            out.push(match n {
                Node::Mark(_) => Node::Unsupported,
                n => n,
            });
            continue;
        }
        let word = match it.next_if(|n| matches!(n, Node::Lit(_))) {
            Some(Node::Lit(w)) => w.bytes,
            _ => {
                out.push(Node::Unsupported);
                continue;
            }
        };
        if it.next_if(|n| matches!(n, Node::Mark(false))).is_none() {
            out.push(Node::Unsupported);
            continue;
        }
        match it.next_if(|n| matches!(n, Node::Run(r) if r.except.is_none())) {
            Some(Node::Run(mut r)) => {
                r.except = Some(word);
                out.push(Node::Run(r));
            }
            _ => out.push(Node::Unsupported),
        }
    }
    out
}

/// Appends the nodes of `h` to `out`.
fn node(h: &Hir, out: &mut Vec<Node>) {
    match h.kind() {
        HirKind::Empty => {}
        HirKind::Literal(l) => out.push(Node::Lit(Lit::new(l.0.clone()))),
        HirKind::Class(c) => out.push(Node::One(class_set(c))),
        HirKind::Look(Look::EndLF) => out.push(Node::End),
        HirKind::Look(Look::WordAscii) => out.push(Node::WordB(false)),
        HirKind::Look(Look::WordAsciiNegate) => out.push(Node::WordB(true)),
        HirKind::Look(Look::WordStartHalfAscii) => out.push(Node::Mark(true)),
        HirKind::Look(Look::WordEndHalfAscii) => out.push(Node::Mark(false)),
        HirKind::Look(_) => out.push(Node::Unsupported),
        HirKind::Capture(c) => node(&c.sub, out),
        HirKind::Concat(v) => v.iter().for_each(|x| node(x, out)),
        HirKind::Alternation(v) => out.push(Node::Alt(
            v.iter()
                .map(|x| nodes_of(std::slice::from_ref(x)))
                .collect(),
            None,
        )),
        HirKind::Repetition(r) => {
            let max = r.max.unwrap_or(u32::MAX);
            let one = match r.sub.kind() {
                HirKind::Class(c) => Some(class_set(c)),
                HirKind::Literal(l) if l.0.len() == 1 => {
                    let mut s = Box::new([false; 256]);
                    s[l.0[0] as usize] = true;
                    Some(s)
                }
                _ => None,
            };
            if let Some(set) = one {
                out.push(Node::Run(Run {
                    stops: stops_of(&set),
                    set,
                    min: r.min,
                    max,
                    greedy: r.greedy,
                    atomic: false,
                    follow: None,
                    except: None,
                }));
                return;
            }
            let body = nodes_of(std::slice::from_ref(&r.sub));
            if (r.min, max) == (0, 1) {
                let (a, b) = if r.greedy {
                    (body, Vec::new())
                } else {
                    (Vec::new(), body)
                };
                out.push(Node::Alt(vec![a, b], None));
            } else if first_seq(&body, &First::none()).nullable {
                // Empty iterations: engines differ on them; not modelled.
                out.push(Node::Unsupported);
            } else {
                out.push(Node::Rep(Box::new(Rep {
                    body,
                    min: r.min,
                    max,
                    greedy: r.greedy,
                    simple: false,
                })));
            }
        }
    }
}

/// The bytes (within ASCII; lines are ASCII here) that stop a run of `set`, when there
/// are one to three of them.
fn stops_of(set: &Set) -> Option<Stops> {
    let out: Vec<u8> = (0u8..0x80).filter(|&b| !set[b as usize]).collect();
    Stops::of_bytes(&out)
}

impl First {
    fn none() -> First {
        First {
            set: [false; 256],
            nullable: true,
        }
    }

    /// What follows the end of a pattern (or of a part that must end at a given place):
    /// nothing, which a run never has to stop for.
    fn end() -> First {
        First::none()
    }

    /// Anything may follow.
    fn any() -> First {
        First {
            set: [true; 256],
            nullable: true,
        }
    }

    fn union(&mut self, o: &First) {
        for b in 0..256 {
            self.set[b] |= o.set[b];
        }
        self.nullable |= o.nullable;
    }
}

/// What can start node `n` (the region starts with `region`).
fn first_node(n: &Node, region: &First) -> First {
    let one = |set: &Set, nullable: bool| First {
        set: *set,
        nullable,
    };
    match n {
        Node::Lit(l) => match l.first() {
            Some(&b) => {
                let mut f = First::none();
                f.set[b as usize] = true;
                f.nullable = false;
                f
            }
            None => First::none(),
        },
        Node::One(s) => one(s, false),
        Node::Run(r) => one(&r.set, r.min == 0),
        Node::Rep(rp) => {
            let mut f = first_seq_in(&rp.body, &First::none(), region);
            f.nullable = rp.min == 0;
            f
        }
        Node::Alt(bs, _) => {
            let mut f = First {
                set: [false; 256],
                nullable: false,
            };
            for b in bs {
                f.union(&first_seq_in(b, &First::none(), region));
            }
            f
        }
        Node::End | Node::WordB(_) => First::none(),
        Node::Region => region.clone(),
        Node::Unsupported | Node::Mark(_) => First::any(),
    }
}

/// What can start `nodes` followed by `follow`.
fn first_seq_in(nodes: &[Node], follow: &First, region: &First) -> First {
    let mut f = First {
        set: [false; 256],
        nullable: false,
    };
    for n in nodes {
        let x = first_node(n, region);
        for b in 0..256 {
            f.set[b] |= x.set[b];
        }
        if !x.nullable {
            return f;
        }
    }
    f.union(follow);
    f
}

fn first_seq(nodes: &[Node], follow: &First) -> First {
    first_seq_in(nodes, follow, &First::any())
}

fn annotate(nodes: &mut [Node], follow: &First) {
    annotate_with(nodes, follow, &First::any());
}

/// The [`Starts`] of alternatives `bs` followed by `follow`, `None` beyond 64.
fn alt_starts(bs: &[Vec<Node>], follow: &First, region: &First) -> Option<Box<Starts>> {
    if bs.len() > 64 {
        return None;
    }
    let mut s = Box::new(Starts {
        by_byte: [0; 256],
        at_end: 0,
        one_way: 0,
    });
    for (k, b) in bs.iter().enumerate() {
        let f = first_seq_in(b, follow, region);
        let bit = 1u64 << k;
        for (slot, &can) in s.by_byte.iter_mut().zip(f.set.iter()) {
            if can || f.nullable {
                *slot |= bit;
            }
        }
        if f.nullable {
            s.at_end |= bit;
        }
        if one_way(b) {
            s.one_way |= bit;
        }
    }
    Some(s)
}

/// Marks the runs that can only end where their class stops: every byte that can follow
/// them (through nullable parts, out of alternatives and repetitions) is outside the class.
/// A zero-width `$` or the end of the pattern never needs a shorter run: a shorter run ends
/// on a byte of the class, which is `\n` only at the line's end, where the longest run
/// satisfies `$` as well.
/// `nodes` match in at most one way from a given place (what [`simple_end`] walks):
/// literals, single bytes, atomic runs, `\b` and `$`. Only meaningful once the runs'
/// `atomic` flags are set.
fn one_way(nodes: &[Node]) -> bool {
    nodes.iter().all(|n| match n {
        Node::Lit(_) | Node::One(_) | Node::WordB(_) | Node::End => true,
        Node::Run(r) => r.atomic,
        _ => false,
    })
}

fn annotate_with(nodes: &mut [Node], follow: &First, region: &First) {
    let mut f = follow.clone();
    for i in (0..nodes.len()).rev() {
        let first = first_node(&nodes[i], region);
        match &mut nodes[i] {
            Node::Run(r) => {
                r.atomic = (0..256).all(|b| !(r.set[b] && f.set[b]));
                r.follow = (!r.atomic && !f.nullable).then(|| Box::new(f.set));
            }
            Node::Alt(bs, starts) => {
                for b in bs.iter_mut() {
                    annotate_with(b, &f, region);
                }
                *starts = alt_starts(bs, &f, region);
            }
            Node::Rep(rp) => {
                let mut inner = first_seq_in(&rp.body, &First::none(), region);
                inner.nullable = false;
                inner.union(&f);
                annotate_with(&mut rp.body, &inner, region);
                rp.simple = one_way(&rp.body);
            }
            _ => {}
        }
        if first.nullable {
            let mut g = first;
            g.nullable = f.nullable;
            for b in 0..256 {
                g.set[b] |= f.set[b];
            }
            f = g;
        } else {
            f = first;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip4_prefix_takes_the_branch_as_the_regex_does() {
        assert_eq!(ip4_prefix(b"192.0.2.1"), Some((0, 9)));
        assert_eq!(ip4_prefix(b"192.0.2.1:5060"), Some((0, 9)));
        assert_eq!(ip4_prefix(b"::ffff:192.0.2.1"), Some((7, 16)));
        assert_eq!(ip4_prefix(b"::ffffff:1.2.3.4"), Some((9, 16)));
        // Greedy `\d{1,3}` takes three digits of a longer last part; the rest follows.
        assert_eq!(ip4_prefix(b"1.2.3.4567"), Some((0, 9)));
        for no in [
            &b"1.2.3"[..],
            b"1234.2.3.4",
            b"1..3.4",
            b"::fff:1.2.3.4",
            b"::fffffff:1.2.3.4",
            b"[1.2.3.4]",
            b"1.2.3.4]",
            b"a.b.c.d",
            b"",
        ] {
            assert_eq!(ip4_prefix(no), None, "{:?}", String::from_utf8_lossy(no));
        }
    }

    fn hir(re: &str) -> Hir {
        regex_syntax::ParserBuilder::new()
            .unicode(false)
            .utf8(false)
            .build()
            .parse(re)
            .unwrap()
    }

    fn atomics(nodes: &[Node]) -> Vec<bool> {
        let mut out = Vec::new();
        for n in nodes {
            match n {
                Node::Run(r) => out.push(r.atomic),
                Node::Alt(bs, _) => bs.iter().for_each(|b| out.extend(atomics(b))),
                Node::Rep(rp) => out.extend(atomics(&rp.body)),
                _ => {}
            }
        }
        out
    }

    #[test]
    fn an_alternative_is_tried_only_at_a_byte_it_or_what_follows_can_start_with() {
        // (pattern, [(text, live alternatives of its first `Alt`)]); "" is the text's end.
        type Live<'a> = &'a [(&'a [u8], u64)];
        let cases: [(&str, Live); 4] = [
            (
                r"(?:ab|cd|e)x",
                &[(b"a", 0b001), (b"c", 0b010), (b"x", 0), (b"", 0)],
            ),
            // An empty alternative can start with what follows the group.
            (
                r"(?:ab|)x",
                &[(b"a", 0b01), (b"x", 0b10), (b"q", 0), (b"", 0)],
            ),
            // ... and, at the pattern's end, anywhere.
            (r"x(?:ab|)", &[(b"a", 0b11), (b"q", 0b10), (b"", 0b10)]),
            // Nullable inside the branch: what follows the group counts too.
            (r"(?:a?b|c)d", &[(b"b", 0b01), (b"d", 0), (b"c", 0b10)]),
        ];
        for (re, want) in cases {
            let mut nodes = nodes_of(std::slice::from_ref(&hir(re)));
            annotate(&mut nodes, &First::end());
            let Some(Node::Alt(_, Some(starts))) =
                nodes.iter().find(|n| matches!(n, Node::Alt(..)))
            else {
                panic!("{re}: no alternation with starts");
            };
            for &(text, live) in want {
                let got = match text.first() {
                    Some(&b) => starts.by_byte[b as usize],
                    None => starts.at_end,
                };
                assert_eq!(got, live, "{re} at {:?}", String::from_utf8_lossy(text));
            }
        }
    }

    /// A repetition whose body matches one way is searched in a loop ([`Tree::rep_simple`])
    /// with the result of the frame-per-iteration search: the same success, ending at the
    /// same place, greedy or lazy, bounded or not.
    /// For each pattern: the search with the shortcut that `set` turns on (it must find
    /// one) and the search with it turned off have the same outcome and end on every text.
    fn searched_like_without(
        pats: &[&str],
        hays: &[&str],
        set: fn(&mut [Node], bool, &mut usize),
        what: &str,
    ) {
        let search = |nodes: Vec<Node>, hay: &[u8]| {
            let t = Tree {
                prefix: Box::new([]),
                nodes,
                region: None,
                skip_prefix: false,
            };
            let mut st = St {
                hay,
                raw_names: false,
                budget: 10_000,
                term: Term::Any,
                region: (0, 0),
                end: 0,
                found: None,
                cache: None,
            };
            let r = t.seq(&t.nodes, 0, None, &mut st, 0);
            (r, (r == R::Yes).then_some(st.end), t.nodes)
        };
        for re in pats {
            let annotated = || {
                let mut nodes = nodes_of(std::slice::from_ref(&hir(re)));
                annotate(&mut nodes, &First::end());
                nodes
            };
            let (mut a, mut b) = (annotated(), annotated());
            let mut seen = 0;
            set(&mut a, true, &mut seen);
            assert!(seen > 0, "{re}: no {what}");
            set(&mut b, false, &mut 0);
            for hay in hays {
                let (ra, ea, na) = search(a, hay.as_bytes());
                let (rb, eb, nb) = search(b, hay.as_bytes());
                assert_eq!((ra, ea), (rb, eb), "{re} on {hay:?}");
                (a, b) = (na, nb);
            }
        }
    }

    #[test]
    fn a_simple_repetition_is_searched_like_any_other() {
        fn set_simple(nodes: &mut [Node], on: bool, seen: &mut usize) {
            for n in nodes {
                match n {
                    Node::Rep(rp) => {
                        if on {
                            *seen += usize::from(rp.simple);
                        } else {
                            rp.simple = false;
                        }
                        set_simple(&mut rp.body, on, seen);
                    }
                    Node::Alt(bs, _) => bs.iter_mut().for_each(|b| set_simple(b, on, seen)),
                    _ => {}
                }
            }
        }
        let pats = [
            r#"(?:,\w+="[^"]*")*,r="\d+"(?:,\w+="[^"]*")*(?m:$)"#,
            r#"(?:,\w+="[^"]*")*?,r="\d+""#,
            r"(?:ab){2,3}a",
            r"(?:a\d)+?a1",
            r"x(?:,\d+)*,",
        ];
        let hays = [
            r#",a="1",b="2",r="3",c="4""#,
            r#",r="1",r="2""#,
            r#",a="1",r="x",r="5",b="""#,
            r#",a="1",r="3",b="4"#,
            r#",r="3",b="4",c="5"#,
            ",a=\"1\",b",
            "ababa",
            "abababa",
            "ababababa",
            "a1a2a1a1",
            "a2a1",
            "x,1,2,3,",
            "x,1,2,3",
            "x,",
            "",
        ];
        searched_like_without(&pats, &hays, set_simple, "simple repetition");
    }

    #[test]
    fn one_way_alternatives_are_searched_like_any_other() {
        /// Counts the alternatives with one-way branches (`on`), or clears their flags.
        fn set_one_way(nodes: &mut [Node], on: bool, seen: &mut usize) {
            for n in nodes {
                match n {
                    Node::Rep(rp) => set_one_way(&mut rp.body, on, seen),
                    Node::Alt(bs, starts) => {
                        if let Some(s) = starts {
                            if on {
                                *seen += s.one_way.count_ones() as usize;
                            } else {
                                s.one_way = 0;
                            }
                        }
                        bs.iter_mut().for_each(|b| set_one_way(b, on, seen));
                    }
                    _ => {}
                }
            }
        }
        let pats = [
            r"a(?::\d+)?' - (?:Wrong|Wrong password|No peer|Not local)(?m:$)",
            r"(?:ab|a)b?c",
            r"(?:x|xy|)y\d",
            r"(?:Failed|Error) to (?:auth\b|authenticate)\s*(?m:$)",
            r"(?:,\w+)*?(?:,z|,zz)z",
        ];
        let hays = [
            "a:12' - Wrong password",
            "a' - Wrong",
            "a:' - Wrong",
            "a:1' - Not local",
            "a' - No peer!",
            "abc",
            "abbc",
            "ac",
            "xyy1",
            "xy1",
            "y1",
            "Failed to authenticate  ",
            "Error to auth",
            "Error to authx",
            ",a,b,zz",
            ",zzz",
            "",
        ];
        searched_like_without(&pats, &hays, set_one_way, "one-way alternative");
    }

    #[test]
    fn a_run_tried_only_where_what_follows_can_start_is_searched_like_any_other() {
        /// Counts the runs with a follow set (`on`), or drops the sets.
        fn set_follow(nodes: &mut [Node], on: bool, seen: &mut usize) {
            for n in nodes {
                match n {
                    Node::Run(r) if on => *seen += usize::from(r.follow.is_some()),
                    Node::Run(r) => r.follow = None,
                    Node::Rep(rp) => set_follow(&mut rp.body, on, seen),
                    Node::Alt(bs, _) => bs.iter_mut().for_each(|b| set_follow(b, on, seen)),
                    _ => {}
                }
            }
        }
        let pats = [
            r"from '(?:[^']*|.*?)' failed for '\d+'",
            r"a.*b(?:c|d)",
            r"a.*?(?:x)?b",
            r"(?:\w+?\d)+x",
            r"x\d*?\d{2}y",
        ];
        let hays = [
            "from '<sip:x@y>' failed for '12'",
            "from '<sip:x' failed for '1' - y>' failed for '12'",
            "from 'a' failed for 'b' failed for '3' z",
            "from '' failed for ''",
            "abbbc",
            "abcbd",
            "abcbe",
            "axxb",
            "axb",
            "ab",
            "ab1c2x",
            "a1x",
            "ab1c2",
            "x123y",
            "x12y",
            "x1y",
            "",
        ];
        searched_like_without(&pats, &hays, set_follow, "run with a follow set");
    }

    #[test]
    fn a_run_is_atomic_only_when_nothing_after_it_can_start_inside_it() {
        let cases = [
            (r"[^']*'", vec![true]),
            (r"[^']*(?:x)?'", vec![false, true]),
            (r"[a-z]*(?:x)?'", vec![false, true]),
            (r"\d+\.\d+(?m:$)", vec![true, true]),
            (r"[^:]+:\d*(?: [^:]+:)? ", vec![true, true, true]),
            (r"\w*(?:a|=)", vec![false]),
            (r"[^)]*\) - (?:a|b)\s*(?m:$)", vec![true, true]),
        ];
        for (re, want) in cases {
            let mut nodes = nodes_of(std::slice::from_ref(&hir(re)));
            annotate(&mut nodes, &First::end());
            assert_eq!(atomics(&nodes), want, "{re}");
        }
    }

    /// A literal node ends where `starts_with` says it does, for every length on both sides
    /// of the one- and two-word cases, at every place, with a byte flipped anywhere.
    #[test]
    fn a_literal_node_matches_like_starts_with() {
        let text = b"Registration from '<sip:100@x>' failed for '1.2.3.4' - Wrong";
        for n in 0..=24 {
            let lit = Lit::new(text[3..3 + n].into());
            for flip in [None].into_iter().chain((0..text.len()).map(Some)) {
                let mut hay = text.to_vec();
                if let Some(i) = flip {
                    hay[i] ^= 0x20;
                }
                for cut in [hay.len(), 3 + n, (3 + n).saturating_sub(1), 9] {
                    let hay = &hay[..cut.min(hay.len())];
                    for pos in 0..=hay.len() + 1 {
                        let want = hay
                            .get(pos..)
                            .is_some_and(|h| h.starts_with(&lit))
                            .then_some(pos + n);
                        assert_eq!(lit.end(hay, pos), want, "len {n}, flip {flip:?}, at {pos}");
                    }
                }
            }
        }
    }

    /// A regex for `h` matching whole texts only.
    fn whole(h: &Hir) -> regex_automata::meta::Regex {
        regex_automata::meta::Builder::new()
            .configure(regex_automata::meta::Config::new().utf8_empty(false))
            .build_from_hir(&Hir::concat(vec![
                Hir::look(Look::Start),
                h.clone(),
                Hir::look(Look::End),
            ]))
            .unwrap()
    }

    /// The body of capture group `index` in `h`.
    fn capture_of(h: &Hir, index: u32) -> Option<&Hir> {
        match h.kind() {
            HirKind::Capture(c) if c.index == index => Some(&c.sub),
            HirKind::Capture(c) => capture_of(&c.sub, index),
            HirKind::Concat(v) | HirKind::Alternation(v) => {
                v.iter().find_map(|x| capture_of(x, index))
            }
            HirKind::Repetition(r) => capture_of(&r.sub, index),
            _ => None,
        }
    }

    /// The run-counting check accepts exactly what the `ip6` group's regex matches whole,
    /// on texts of hex groups of 0-5 digits and colon runs of one to four, in any order.
    #[test]
    fn ip6_regular_is_the_ip6_regex() {
        let re = whole(capture_of(host_hir().unwrap(), 2).unwrap());
        let pieces = [
            "1", "ab", "fFf", "abcd", "12345", ":", "::", ":::", "::::", ".", "",
        ];
        let mut seed = 9u64;
        let (mut yes, mut tried) = (0, 0);
        for _ in 0..300_000 {
            let mut r = crate::testutil::lcg(&mut seed);
            let mut s = Vec::new();
            for _ in 0..1 + (r >> 60) {
                r = r.rotate_left(7) ^ 0x9e37_79b9;
                s.extend_from_slice(pieces[(r % 11) as usize].as_bytes());
                // Mostly alternating digits and colons, as in addresses.
                s.push(if r >> 20 & 1 == 0 { b':' } else { b'a' });
            }
            if s.contains(&b'.') && seed % 10 != 0 {
                continue;
            }
            tried += 1;
            let want = re.is_match(&s);
            yes += usize::from(want);
            assert_eq!(ip6_regular(&s), want, "{:?}", String::from_utf8_lossy(&s));
        }
        assert!(yes > 5_000 && tried - yes > 5_000, "{yes} of {tried} match");
    }

    /// When `no_host` says so, `<HOST>` (fail2ban's, anchored at both ends) does not match,
    /// on texts of digits, dots, colons, hex words, names and brackets.
    #[test]
    fn no_host_is_only_said_of_texts_host_cannot_be() {
        let re = whole(host_hir().unwrap());
        let pieces = [
            "1", "12", "255", "1234", ".", ":", "::", "ffff", "[", "]", "a", "x-y",
        ];
        let mut seed = 13u64;
        let (mut said, mut matched) = (0, 0);
        for _ in 0..200_000 {
            let mut r = crate::testutil::lcg(&mut seed);
            let mut t = Vec::new();
            for _ in 0..1 + (r >> 59) {
                r = r.rotate_left(9) ^ 0x51_7cc1_b727;
                t.extend_from_slice(pieces[(r % 12) as usize].as_bytes());
            }
            let m = re.is_match(&t);
            matched += usize::from(m);
            if no_host(&t) {
                said += 1;
                assert!(!m, "{:?}", String::from_utf8_lossy(&t));
            }
        }
        assert!(
            said > 5_000 && matched > 1_000,
            "{said} said, {matched} matched"
        );
    }

    #[test]
    fn has_prefix_is_starts_with() {
        let hay = b"Registration from '<sip:100@x>' failed";
        for n in 0..=hay.len() {
            for flip in [None].into_iter().chain((0..n).map(Some)) {
                let mut p = hay[..n].to_vec();
                if let Some(i) = flip.filter(|&i| i < n) {
                    p[i] ^= 0x20;
                }
                assert_eq!(has_prefix(hay, &p), hay.starts_with(&p), "{n} {flip:?}");
            }
        }
        assert!(!has_prefix(b"abc", b"abcd"));
    }

    #[test]
    fn dfa_first_bytes_are_the_bytes_a_match_can_start_with() {
        let dfa = lazy_dfa(
            compile(&[hir(r"^(?:Host )?[0-9a-f.:]+ failed")], false, false).unwrap(),
            MatchKind::LeftmostFirst,
        )
        .unwrap();
        let first = dfa_first_bytes(&dfa);
        for b in [b'H', b'0', b'9', b'a', b'f', b'.', b':'] {
            assert!(first[usize::from(b)], "{}", b as char);
        }
        for b in [b'R', b'"', b' ', b'g', b'\n', b'h'] {
            assert!(!first[usize::from(b)], "{}", b as char);
        }
    }

    /// The 16-byte scan of a set gives the byte loop's answer: random ASCII sets (the
    /// address region's among them), texts of 0-70 bytes mostly inside the set so that runs
    /// cross the 16-byte blocks, and bytes outside ASCII, which are never members.
    #[test]
    fn member_run_is_the_byte_loop() {
        let mut seed = 21u64;
        let mut scanned = 0;
        for k in 0..2000 {
            let mut set: Set = [false; 256];
            let mut r = crate::testutil::lcg(&mut seed);
            for (b, member) in set.iter_mut().enumerate().take(0x80) {
                r = r.rotate_left(5) ^ 0x9e37_79b9_7f4a_7c15;
                *member = if k % 2 == 0 {
                    // Dense: most bytes are members.
                    r % 8 != 0
                } else {
                    (b as u8).is_ascii_hexdigit() || b"[]:.".contains(&(b as u8))
                };
            }
            let span = SetSpan::of(&set);
            scanned += usize::from(span.is_some());
            let members: Vec<u8> = (0..0x80u8).filter(|&b| set[b as usize]).collect();
            for _ in 0..20 {
                let mut r = crate::testutil::lcg(&mut seed);
                let len = (r % 71) as usize;
                let text: Vec<u8> = (0..len)
                    .map(|_| {
                        r = r.rotate_left(9) ^ 0x2545_f491_4f6c_dd1d;
                        match r % 40 {
                            0 => 0xc3,
                            1 => (r >> 8) as u8 & 0x7f,
                            _ => members[(r >> 16) as usize % members.len()],
                        }
                    })
                    .collect();
                let want = text.iter().take_while(|&&b| set[b as usize]).count();
                assert_eq!(
                    member_run(&set, span.as_ref(), &text),
                    want,
                    "{text:?} with the members {members:?}"
                );
            }
        }
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("ssse3") {
            assert_eq!(scanned, 2000, "the scan did not run");
        }
        let mut wide: Set = [false; 256];
        wide[0xc3] = true;
        assert!(SetSpan::of(&wide).is_none(), "a non-ASCII member");
    }
}
