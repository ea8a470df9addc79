//! Per-chunk results of a scan and their merge.
//!
//! Each chunk fills its own [`Tally`]; tallies merge with [`Tally::merge_chunk`] in input
//! order, so the merged result does not depend on the thread count or the chunk size (style
//! habit 7). Every line ends up in exactly one of `matched`, `ignored`, `missed` or `skipped`.
//!
//! Per-IP counters are the exception to "one tally per chunk": they only add up (sums, min and
//! max), so the scan keeps them in an [`IpTable`] per worker that lives across the chunks of a
//! file and is merged once at the end. A fresh map per 4 MB chunk re-allocated every address
//! of the chunk and re-hashed it on merge. The one order-dependent part, the time given to a
//! chunk's failures before its first dated line, is known only when the chunk is merged in
//! order; it is kept aside in a table of its own (see [`Tally::merge_chunk_split`]).

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::sync::OnceLock;

use compact_str::CompactString;
use rustc_hash::FxHasher;
use serde::Serialize;
use smallvec::SmallVec;

/// One failure found by the scan: the input of ban replay and of the per-event CSV.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// Epoch seconds; `None` until filled from the previous dated line (see `Tally::merge`).
    pub time: Option<f64>,
    pub ip: String,
    pub filter: u32,
    /// 0-based failregex index within the filter.
    pub regex: u32,
    pub file: u32,
    /// 1-based line number within the file.
    pub line: u64,
}

/// Where and when one failure happened (an [`Event`] without its address).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    pub time: Option<f64>,
    pub filter: u32,
    pub regex: u32,
    pub file: u32,
    pub line: u64,
}

/// An address (or other failure ID) as the report keys it: up to 24 bytes sit inline (every
/// IPv4 address and most IPv6 ones), so a report of tens of thousands of addresses reads
/// its keys from its entries, not from one small heap allocation each.
pub type IpKey = CompactString;

/// Hits per (filter, regex) of one address, sorted by key; a few inline.
pub type RegexCounts = SmallVec<[((u32, u32), u64); 4]>;

/// Hits per file index of one address, sorted by file; one inline.
pub type FileCounts = SmallVec<[(u32, u64); 1]>;

/// Per-IP aggregate.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IpStat {
    pub hits: u64,
    pub first_seen: Option<f64>,
    pub last_seen: Option<f64>,
    /// Hits per (filter, regex).
    pub regexes: RegexCounts,
    /// Hits per file index.
    pub files: FileCounts,
}

impl IpStat {
    fn merge(&mut self, o: &IpStat) {
        self.hits += o.hits;
        for t in [o.first_seen, o.last_seen].into_iter().flatten() {
            self.first_seen = Some(self.first_seen.map_or(t, |f| f.min(t)));
            self.last_seen = Some(self.last_seen.map_or(t, |l| l.max(t)));
        }
        for &(k, n) in &o.regexes {
            bump(&mut self.regexes, k, n);
        }
        for &(k, n) in &o.files {
            bump(&mut self.files, k, n);
        }
    }
}

/// Adds `n` to the counter of `key` in a small sorted association list.
fn bump<K: Ord + Copy, A: smallvec::Array<Item = (K, u64)>>(
    list: &mut SmallVec<A>,
    key: K,
    n: u64,
) {
    match list.binary_search_by(|(k, _)| k.cmp(&key)) {
        Ok(i) => list[i].1 += n,
        Err(i) => list.insert(i, (key, n)),
    }
}

/// The per-address statistics of a report.
///
/// A list, not a map: a one-file scan builds it in one go from the workers' tables, already
/// in report order, and the report only walks it, so hashing every address into a map
/// (~3 ms for 20,000 addresses, on one core after the scan) bought nothing. The map by
/// address is built when something looks an address up (a merge of several files' tallies,
/// tests); a merge leaves the list unordered, and [`IpStats::ranked`] then sorts.
#[derive(Debug, Clone, Default)]
pub struct IpStats {
    entries: Vec<(IpKey, IpStat)>,
    index: OnceLock<FxMap<IpKey, u32>>,
    /// The entries are in report order ([`IpStats::ranked`]).
    ranked: bool,
}

impl IpStats {
    fn from_ranked(entries: Vec<(IpKey, IpStat)>) -> IpStats {
        IpStats {
            entries,
            index: OnceLock::new(),
            ranked: true,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// (address, statistics), in the list's order (report order when `ranked`).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &IpStat)> {
        self.entries.iter().map(|(k, s)| (k.as_str(), s))
    }

    fn index(&self) -> &FxMap<IpKey, u32> {
        self.index.get_or_init(|| {
            let mut m = FxMap::default();
            m.reserve(self.entries.len());
            for (i, (k, _)) in self.entries.iter().enumerate() {
                m.insert(k.clone(), i as u32);
            }
            m
        })
    }

    pub fn get(&self, ip: &str) -> Option<&IpStat> {
        let &i = self.index().get(ip)?;
        Some(&self.entries[i as usize].1)
    }

    fn get_mut(&mut self, ip: &str) -> Option<&mut IpStat> {
        self.ranked = false;
        let &i = self.index().get(ip)?;
        Some(&mut self.entries[i as usize].1)
    }

    /// Adds `stat` to the statistics of `ip`.
    fn add(&mut self, ip: IpKey, stat: IpStat) {
        if let Some(s) = self.get_mut(&ip) {
            s.merge(&stat);
            return;
        }
        let i = self.entries.len() as u32;
        // `get_mut` built the index (and dropped the order).
        if let Some(m) = self.index.get_mut() {
            m.insert(ip.clone(), i);
        }
        self.entries.push((ip, stat));
    }

    /// The addresses by hits (descending), then address.
    pub fn ranked(&self) -> Vec<(&str, &IpStat)> {
        use rayon::prelude::*;
        if self.ranked {
            return self.iter().collect();
        }
        // The sort key sits in the vector, the address's first 16 bytes included, so most
        // comparisons read no entry; addresses are unique, so an unstable sort gives the
        // same order as a stable one.
        let mut v: Vec<(u64, u128, &str, &IpStat)> = self
            .entries
            .iter()
            .map(|(k, s)| (s.hits, text_prefix(k), k.as_str(), s))
            .collect();
        v.par_sort_unstable_by(|a, b| rank_order((a.0, a.1), (b.0, b.1), || a.2.cmp(b.2)));
        v.into_iter().map(|(_, _, ip, s)| (ip, s)).collect()
    }
}

/// Report order of two addresses given as (hits, [`text_prefix`] of the address): hits
/// descending, then address; `texts` compares the whole addresses when the prefixes tie.
fn rank_order(
    a: (u64, u128),
    b: (u64, u128),
    texts: impl FnOnce() -> std::cmp::Ordering,
) -> std::cmp::Ordering {
    b.0.cmp(&a.0).then(a.1.cmp(&b.1)).then_with(texts)
}

/// The first 16 bytes of `s`, zero-padded, as a number that orders like the bytes: when two
/// prefixes differ, the texts compare as their prefixes do (a text that ends first pads
/// with 0, below any byte it could be compared with except 0, where the prefixes are equal).
fn text_prefix(s: &str) -> u128 {
    let mut b = [0u8; 16];
    let n = s.len().min(16);
    b[..n].copy_from_slice(&s.as_bytes()[..n]);
    u128::from_be_bytes(b)
}

/// Equal when they hold the same addresses with the same statistics, in any order (the
/// order of a scan's list depends on its threads).
impl PartialEq for IpStats {
    fn eq(&self, other: &IpStats) -> bool {
        self.len() == other.len() && self.iter().all(|(ip, s)| other.get(ip) == Some(s))
    }
}

impl std::ops::Index<&str> for IpStats {
    type Output = IpStat;

    fn index(&self, ip: &str) -> &IpStat {
        match self.get(ip) {
            Some(s) => s,
            None => panic!("no statistics for {ip}"),
        }
    }
}

/// Counters of one chunk, one file, or the whole run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tally {
    /// Lines read, including skipped ones.
    pub lines: u64,
    /// Empty lines and lines starting with `#` (fail2ban-regex skips them).
    pub skipped: u64,
    pub matched: u64,
    pub ignored: u64,
    pub missed: u64,
    /// Lines (not skipped) without a recognised date.
    pub no_date: u64,
    /// Lines whose bytes were not valid UTF-8 (decoded with U+FFFD, as fail2ban does).
    pub invalid_utf8: u64,
    /// Hits per filter, per failregex.
    pub regex_hits: Vec<Vec<u64>>,
    /// Hits per filter, per ignoreregex.
    pub ignore_hits: Vec<Vec<u64>>,
    /// Hits per date template id.
    pub date_hits: Vec<u64>,
    /// Per address. Empty in the tally of a chunk: the scan counts addresses in
    /// [`IpTable`]s and adds them per file.
    pub ips: IpStats,
    /// Events, in input order; kept only when asked for (per-event output, ban replay).
    pub events: Vec<Event>,
    /// Time of the last dated line of this tally, to date the next tally's leading lines.
    pub last_time: Option<f64>,
    /// IPs of failures before this tally's first dated line: their time is only known when
    /// the tally is merged after its predecessor.
    pub leading_undated: Vec<String>,
}

impl Tally {
    /// An empty tally shaped for `filters` (number of failregexes and ignoreregexes each).
    pub fn new(shape: &[(usize, usize)], templates: usize) -> Tally {
        Tally {
            regex_hits: shape.iter().map(|&(f, _)| vec![0; f]).collect(),
            ignore_hits: shape.iter().map(|&(_, i)| vec![0; i]).collect(),
            date_hits: vec![0; templates],
            ..Tally::default()
        }
    }

    /// Records one failure of address `ip` (the event's `ip` is ignored and filled here);
    /// its per-IP counters go to the worker's `ips` table. Only the first sighting of an
    /// address by a worker, a failure before the chunk's first dated line, or a kept event
    /// allocates.
    pub(crate) fn failure(&mut self, ips: &mut IpTable, ip: &str, ev: Hit, keep_event: bool) {
        if ev.time.is_none() {
            self.leading_undated.push(ip.to_string());
        }
        self.regex_hits[ev.filter as usize][ev.regex as usize] += 1;
        ips.add(ip, (ev.filter, ev.regex), ev.time);
        if keep_event {
            self.events.push(Event {
                time: ev.time,
                ip: ip.to_string(),
                filter: ev.filter,
                regex: ev.regex,
                file: ev.file,
                line: ev.line,
            });
        }
    }

    /// [`Tally::merge_chunk`] for a chunk whose per-IP counters went to an [`IpTable`]: the
    /// time its leading undated failures get from `self` is noted in `late` (an address seen
    /// at that time, no hit) instead of being applied to `next.ips`.
    pub(crate) fn merge_chunk_split(&mut self, mut next: Tally, late: &mut IpTable) {
        if let Some(t) = self.last_time {
            for ip in next.leading_undated.drain(..) {
                late.seen(&ip, t);
            }
        }
        self.merge_chunk(next);
    }

    /// Adds the per-IP counters of `table`, all from file `file`, to `self.ips`.
    pub(crate) fn add_ips(&mut self, table: IpTable, file: u32) {
        let stats = table.into_stats(file);
        if self.ips.is_empty() {
            self.ips = IpStats::from_ranked(stats);
            return;
        }
        for (ip, acc) in stats {
            self.ips.add(ip, acc);
        }
    }

    /// Adds `next`, the tally of the chunk that follows `self` in the same file.
    ///
    /// `next`'s line numbers are shifted by the lines before it, and its events whose time
    /// is unknown (undated lines before its first dated line) get the time of `self`'s last
    /// dated line, exactly as a sequential pass over the file would give them.
    pub fn merge_chunk(&mut self, mut next: Tally) {
        for ev in next.events.iter_mut() {
            ev.line += self.lines;
        }
        self.merge_inner(next, true);
    }

    /// Adds `next`, the tally of another file: nothing carries over between files.
    pub fn merge_file(&mut self, next: Tally) {
        self.merge_inner(next, false);
    }

    fn merge_inner(&mut self, mut next: Tally, same_file: bool) {
        self.lines += next.lines;
        self.skipped += next.skipped;
        self.matched += next.matched;
        self.ignored += next.ignored;
        self.missed += next.missed;
        self.no_date += next.no_date;
        self.invalid_utf8 += next.invalid_utf8;
        add_nested(&mut self.regex_hits, &next.regex_hits);
        add_nested(&mut self.ignore_hits, &next.ignore_hits);
        if self.date_hits.len() < next.date_hits.len() {
            self.date_hits.resize(next.date_hits.len(), 0);
        }
        for (a, b) in self.date_hits.iter_mut().zip(&next.date_hits) {
            *a += b;
        }
        if let Some(t) = self.last_time.filter(|_| same_file) {
            for ev in next.events.iter_mut() {
                if ev.time.is_some() {
                    break;
                }
                ev.time = Some(t);
            }
            next.fix_undated(t);
        } else {
            self.leading_undated.append(&mut next.leading_undated);
        }
        if self.ips.is_empty() {
            self.ips = next.ips;
        } else {
            for (ip, st) in next.ips.entries {
                self.ips.add(ip, st);
            }
        }
        self.events.append(&mut next.events);
        if next.last_time.is_some() || !same_file {
            self.last_time = next.last_time;
        }
    }

    /// Applies time `t` to the per-IP first/last seen of the leading undated failures.
    fn fix_undated(&mut self, t: f64) {
        for ip in std::mem::take(&mut self.leading_undated) {
            if let Some(s) = self.ips.get_mut(&ip) {
                s.first_seen = Some(s.first_seen.map_or(t, |f| f.min(t)));
                s.last_seen = Some(s.last_seen.map_or(t, |l| l.max(t)));
            }
        }
    }
}

fn add_nested(a: &mut Vec<Vec<u64>>, b: &[Vec<u64>]) {
    if a.len() < b.len() {
        a.resize(b.len(), Vec::new());
    }
    for (x, y) in a.iter_mut().zip(b) {
        if x.len() < y.len() {
            x.resize(y.len(), 0);
        }
        for (p, q) in x.iter_mut().zip(y) {
            *p += q;
        }
    }
}

/// Most (filter, regex) pairs counted per address in one flat row per address (128 bytes
/// per address at most); a scan with more failregexes than this counts them in a sparse
/// map instead, which costs memory per pair actually hit, not per pair possible.
const MAX_FLAT: usize = 16;

type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// (filter, regex) counters per slot, as [`IpTable::sparse_by_slot`] groups them.
type SparseBySlot = FxMap<u32, Vec<((u32, u32), u64)>>;

/// When and how often one address failed: the hot part of its counters.
#[derive(Debug, Clone, Copy)]
struct Slot {
    hits: u64,
    /// Earliest and latest time seen, NaN while none (`f64::min`/`max` skip NaN).
    first: f64,
    last: f64,
}

impl Slot {
    const EMPTY: Slot = Slot {
        hits: 0,
        first: f64::NAN,
        last: f64::NAN,
    };

    fn seen(&mut self, t: f64) {
        self.first = self.first.min(t);
        self.last = self.last.max(t);
    }
}

fn known(t: f64) -> Option<f64> {
    (!t.is_nan()).then_some(t)
}

/// Per-IP counters of one file kept by one worker across its chunks (see the module doc).
/// Memory grows with the distinct addresses of the file, not with its size.
///
/// Laid out for the cache, since a scan updates it on every failure and a brute-force log
/// has tens of thousands of addresses: an address maps to a slot number (a canonical
/// dotted-quad IPv4 address by its 32-bit value, anything else by its text), and the
/// slot's counters sit in flat arrays. With 20,000 addresses and 8 failregexes the whole
/// table is about 1.5 MB, against 5.6 MB for the former map of 176-byte entries keyed by
/// address text (~130 ns per failure; about half of that now).
///
/// A failure of a canonical IPv4 address is applied two failures later, in two steps that
/// each prefetch what the next one reads (the address's bucket, then its counters): a log
/// streams through the cache, so the table's lines are cold on most failures, and the
/// prefetches overlap those misses with the matching of the lines in between. Counters
/// only add up (sums, min and max), so the delay changes nothing once
/// [`IpTable::flush`] has run; every method that reads the table flushes first.
#[derive(Debug, Clone, Default)]
pub(crate) struct IpTable {
    v4: V4Index,
    /// Stage 1: a failure whose address's bucket was prefetched.
    pend_bucket: Option<(u32, (u32, u32), Option<f64>)>,
    /// Stage 2: a failure whose slot is known and whose counters were prefetched.
    pend_row: Option<(usize, (u32, u32), Option<f64>)>,
    /// Other IDs (IPv4 written otherwise, IPv6, host names, `<F-ID>` captures).
    text: FxMap<Box<str>, u32>,
    slots: Vec<Slot>,
    /// Start of each filter's failregexes in a flat row; empty when rows are not used.
    offsets: Vec<usize>,
    /// Row width: the flat counters of slot `s` are `counts[s * width..][..width]`.
    width: usize,
    counts: Vec<u64>,
    /// Counters outside the flat rows: (slot, filter, regex) -> hits.
    sparse: FxMap<(u32, u32, u32), u64>,
}

impl IpTable {
    /// A table whose flat rows hold the failregexes of `shape` ((failregexes,
    /// ignoreregexes) per filter), when there are at most [`MAX_FLAT`] of them.
    pub(crate) fn for_shape(shape: &[(usize, usize)]) -> IpTable {
        let total: usize = shape.iter().map(|&(f, _)| f).sum();
        if total > MAX_FLAT {
            return IpTable::default();
        }
        let mut offsets = Vec::with_capacity(shape.len() + 1);
        let mut at = 0;
        for &(f, _) in shape {
            offsets.push(at);
            at += f;
        }
        offsets.push(at);
        IpTable {
            offsets,
            width: total,
            ..IpTable::default()
        }
    }

    /// The slot of `ip`, created empty on a first sighting.
    #[inline]
    fn slot(&mut self, ip: &str) -> usize {
        match canonical_ip4(ip.as_bytes()) {
            Some(v) => self.v4_slot(v),
            None => self.text_slot(ip),
        }
    }

    #[inline]
    fn v4_slot(&mut self, v: u32) -> usize {
        let next = self.slots.len() as u32;
        let s = self.v4.get_or_insert(v, next);
        if s == next {
            self.push_slot();
        }
        s as usize
    }

    fn text_slot(&mut self, ip: &str) -> usize {
        let next = self.slots.len() as u32;
        // Looked up by `&str` first: `entry` takes an owned key, which would allocate on
        // every hit.
        let s = match self.text.get(ip) {
            Some(&s) => s,
            None => *self.text.entry(ip.into()).or_insert(next),
        };
        if s == next {
            self.push_slot();
        }
        s as usize
    }

    fn push_slot(&mut self) {
        self.slots.push(Slot::EMPTY);
        self.counts.resize(self.counts.len() + self.width, 0);
    }

    /// Flat column of (filter, regex), if it has one.
    #[inline]
    fn column(&self, (filter, regex): (u32, u32)) -> Option<usize> {
        let f = filter as usize;
        let (&lo, &hi) = (self.offsets.get(f)?, self.offsets.get(f + 1)?);
        let c = lo + regex as usize;
        (c < hi).then_some(c)
    }

    fn bump(&mut self, slot: usize, key: (u32, u32), n: u64) {
        match self.column(key) {
            Some(c) => self.counts[slot * self.width + c] += n,
            None => *self.sparse.entry((slot as u32, key.0, key.1)).or_insert(0) += n,
        }
    }

    pub(crate) fn add(&mut self, ip: &str, key: (u32, u32), time: Option<f64>) {
        let Some(v) = canonical_ip4(ip.as_bytes()) else {
            let s = self.text_slot(ip);
            self.apply(s, key, time);
            return;
        };
        self.v4.prefetch(v);
        if let Some((s, k, t)) = self.pend_row.take() {
            self.apply(s, k, t);
        }
        if let Some((pv, k, t)) = self.pend_bucket.replace((v, key, time)) {
            let s = self.v4_slot(pv);
            self.prefetch_row(s, k);
            self.pend_row = Some((s, k, t));
        }
    }

    /// Applies the failures still in the pipeline (see the type's doc).
    pub(crate) fn flush(&mut self) {
        if let Some((s, k, t)) = self.pend_row.take() {
            self.apply(s, k, t);
        }
        if let Some((v, k, t)) = self.pend_bucket.take() {
            let s = self.v4_slot(v);
            self.apply(s, k, t);
        }
    }

    #[inline]
    fn apply(&mut self, s: usize, key: (u32, u32), time: Option<f64>) {
        let slot = &mut self.slots[s];
        slot.hits += 1;
        if let Some(t) = time {
            slot.seen(t);
        }
        self.bump(s, key, 1);
    }

    #[inline]
    fn prefetch_row(&self, s: usize, key: (u32, u32)) {
        prefetch(self.slots.as_ptr().wrapping_add(s));
        if let Some(c) = self.column(key) {
            prefetch(self.counts.as_ptr().wrapping_add(s * self.width + c));
        }
    }

    /// Prefetches slot `s`'s counters and flat row (read at random by [`IpTable::absorb`]
    /// and [`IpTable::into_stats`]).
    #[inline]
    fn prefetch_slot(&self, s: usize) {
        prefetch(self.slots.as_ptr().wrapping_add(s));
        if self.width > 0 {
            let row = self.counts.as_ptr().wrapping_add(s * self.width);
            prefetch(row);
            prefetch(row.wrapping_add(self.width - 1));
        }
    }

    /// Notes that `ip` was seen at time `t`, without a hit.
    fn seen(&mut self, ip: &str, t: f64) {
        let s = self.slot(ip);
        self.slots[s].seen(t);
    }

    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// The (filter, regex) counters of slot `s`, sorted, without zeros.
    fn regexes_of(&self, s: usize, sparse: &SparseBySlot) -> RegexCounts {
        let mut out = RegexCounts::new();
        if self.width > 0 {
            let row = &self.counts[s * self.width..][..self.width];
            for (f, w) in self.offsets.windows(2).enumerate() {
                for (r, &n) in row[w[0]..w[1]].iter().enumerate() {
                    if n > 0 {
                        out.push(((f as u32, r as u32), n));
                    }
                }
            }
        }
        if let Some(more) = sparse.get(&(s as u32)) {
            out.extend_from_slice(more);
            out.sort_unstable_by_key(|&(k, _)| k);
        }
        out
    }

    /// The sparse counters grouped by slot.
    fn sparse_by_slot(&self) -> SparseBySlot {
        let mut by: SparseBySlot = FxMap::default();
        for (&(s, f, r), &n) in &self.sparse {
            by.entry(s).or_default().push(((f, r), n));
        }
        by
    }

    /// Adds the counters of `other` (the same file, another worker) to `self`.
    pub(crate) fn absorb(&mut self, mut other: IpTable) {
        self.flush();
        other.flush();
        // Slot of `self` for each slot of `other`, found by value or text (no formatting).
        // Both loops read `self` at random (tens of thousands of addresses, cold after the
        // scan): each step prefetches what a step ahead reads.
        let mut map = vec![0usize; other.slots.len()];
        let v4: Vec<(u32, u32)> = other.v4.iter().collect();
        for (i, &(v, s)) in v4.iter().enumerate() {
            if let Some(&(ahead, _)) = v4.get(i + AHEAD) {
                self.v4.prefetch(ahead);
            }
            map[s as usize] = self.v4_slot(v);
        }
        for (k, &s) in &other.text {
            map[s as usize] = self.text_slot(k);
        }
        let same_rows = self.offsets == other.offsets;
        for (s, o) in other.slots.iter().enumerate() {
            if let Some(&ahead) = map.get(s + AHEAD) {
                self.prefetch_slot(ahead);
            }
            let d = map[s];
            let slot = &mut self.slots[d];
            slot.hits += o.hits;
            for t in [known(o.first), known(o.last)].into_iter().flatten() {
                slot.seen(t);
            }
            if same_rows && self.width > 0 {
                let src = &other.counts[s * self.width..][..self.width];
                let dst = &mut self.counts[d * self.width..][..self.width];
                for (a, b) in dst.iter_mut().zip(src) {
                    *a += b;
                }
            } else if other.width > 0 {
                for (k, n) in other.regexes_of(s, &FxMap::default()) {
                    self.bump(d, k, n);
                }
            }
        }
        for ((s, f, r), n) in other.sparse {
            self.bump(map[s as usize], (f, r), n);
        }
    }

    /// The counters as the report's [`IpStat`]s, in report order (see [`IpStats::ranked`]).
    ///
    /// Converted in parallel: a file's table holds tens of thousands of addresses, each
    /// needing its text and a small list, and this runs after the scan, when every other
    /// core is idle. Ranked here, on the compact table, so that the report then reads its
    /// entries in order: walked in rank order after the conversion, the entries (several MB)
    /// cost a cache miss or two each.
    fn into_stats(mut self, file: u32) -> Vec<(IpKey, IpStat)> {
        use rayon::prelude::*;
        self.flush();
        let sparse = self.sparse_by_slot();
        // The address of each slot, then the report order of the slots (most ranks are
        // decided by hits and the first 16 bytes of the address text).
        let mut key_of: Vec<Key> = vec![Key::V4(0); self.slots.len()];
        for (v, s) in self.v4.iter() {
            key_of[s as usize] = Key::V4(v);
        }
        for (k, &s) in &self.text {
            key_of[s as usize] = Key::Text(k);
        }
        let text = |k: &Key| match *k {
            Key::V4(v) => ip4_text(v),
            Key::Text(t) => IpKey::from(t),
        };
        let mut order: Vec<(u64, u128, u32)> = (0..self.slots.len() as u32)
            .into_par_iter()
            .with_min_len(1024)
            .map(|s| {
                let prefix = match key_of[s as usize] {
                    // The whole text, zero-padded: `text_prefix` of it.
                    Key::V4(v) => u128::from_be_bytes(ip4_digits(v).0),
                    Key::Text(t) => text_prefix(t),
                };
                (self.slots[s as usize].hits, prefix, s)
            })
            .collect();
        order.par_sort_unstable_by(|a, b| {
            rank_order((a.0, a.1), (b.0, b.1), || {
                text(&key_of[a.2 as usize]).cmp(&text(&key_of[b.2 as usize]))
            })
        });
        // In rank order the slots are read at random (tens of thousands of them, cold
        // after the merge): each step prefetches the slot and counters of a step ahead.
        order
            .par_iter()
            .enumerate()
            .with_min_len(1024)
            .map(|(i, &(_, _, s))| {
                if let Some(&(_, _, ahead)) = order.get(i + AHEAD) {
                    self.prefetch_slot(ahead as usize);
                    prefetch(key_of.as_ptr().wrapping_add(ahead as usize));
                }
                let slot = self.slots[s as usize];
                let stat = IpStat {
                    hits: slot.hits,
                    first_seen: known(slot.first),
                    last_seen: known(slot.last),
                    regexes: self.regexes_of(s as usize, &sparse),
                    files: if slot.hits > 0 {
                        smallvec::smallvec![(file, slot.hits)]
                    } else {
                        FileCounts::new()
                    },
                };
                (text(&key_of[s as usize]), stat)
            })
            .collect()
    }
}

/// Canonical IPv4 addresses to slots: open addressing with linear probing over one `u64`
/// per bucket (address << 32 | slot + 1; 0 is empty). Unlike a `HashMap`, the bucket of an
/// address is known from its hash alone, so it can be prefetched.
#[derive(Debug, Clone, Default)]
struct V4Index {
    buckets: Vec<u64>,
    /// 64 - log2(buckets.len()): the home bucket is the top bits of a Fibonacci hash.
    shift: u32,
    len: usize,
}

impl V4Index {
    #[inline]
    fn home(&self, v: u32) -> usize {
        (u64::from(v).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> self.shift) as usize
    }

    #[inline]
    fn prefetch(&self, v: u32) {
        if !self.buckets.is_empty() {
            prefetch(self.buckets.as_ptr().wrapping_add(self.home(v)));
        }
    }

    /// The slot of `v`, or `next` after recording it as `v`'s slot.
    #[inline]
    fn get_or_insert(&mut self, v: u32, next: u32) -> u32 {
        if (self.len + 1) * 2 > self.buckets.len() {
            self.grow();
        }
        let mask = self.buckets.len() - 1;
        let mut i = self.home(v);
        loop {
            let e = self.buckets[i];
            if e == 0 {
                self.buckets[i] = u64::from(v) << 32 | (u64::from(next) + 1);
                self.len += 1;
                return next;
            }
            if (e >> 32) as u32 == v {
                return (e as u32).wrapping_sub(1);
            }
            i = (i + 1) & mask;
        }
    }

    fn grow(&mut self) {
        let cap = (self.buckets.len() * 2).max(64);
        let old = std::mem::replace(&mut self.buckets, written_zeros(cap));
        self.shift = 64 - cap.trailing_zeros();
        let mask = cap - 1;
        for e in old.into_iter().filter(|&e| e != 0) {
            let mut i = self.home((e >> 32) as u32);
            while self.buckets[i] != 0 {
                i = (i + 1) & mask;
            }
            self.buckets[i] = e;
        }
    }

    /// (address, slot) pairs, in no particular order.
    fn iter(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        self.buckets
            .iter()
            .filter(|&&e| e != 0)
            .map(|&e| ((e >> 32) as u32, (e as u32).wrapping_sub(1)))
    }
}

/// How many steps ahead the walks over an [`IpTable`] in rank order prefetch.
const AHEAD: usize = 8;

/// `n` zeros whose pages are already written.
///
/// A large `vec![0; n]` is fresh memory from the kernel, and a probe reads a bucket before
/// it writes one: the read maps the shared zero page and the write that follows faults
/// again to replace it, which must flush the old mapping from the other core's TLB (an
/// interprocessor interrupt, answered while that core is scanning). Those faults took ~2%
/// of a two-thread scan of the bench log. Writing one word per page first leaves one
/// plain fault per page.
fn written_zeros(n: usize) -> Vec<u64> {
    let mut v = vec![0u64; n];
    for w in v.iter_mut().step_by(4096 / std::mem::size_of::<u64>()) {
        // SAFETY: `w` is a valid, aligned `u64` of `v`; volatile so that the store of the
        // value the memory already holds is not removed.
        unsafe { std::ptr::write_volatile(w, 0) };
    }
    v
}

/// A hint to load the cache line of `p` (nothing where there is no such instruction).
#[inline(always)]
fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint; it never faults, whatever the address.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>(p.cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// An address as an [`IpTable`] keys it.
#[derive(Clone, Copy)]
enum Key<'a> {
    V4(u32),
    Text(&'a str),
}

/// `v` as a dotted quad, the text [`canonical_ip4`] read it from.
fn ip4_text(v: u32) -> IpKey {
    let (buf, n) = ip4_digits(v);
    // Only ASCII digits and dots were written.
    std::str::from_utf8(&buf[..n]).map_or_else(|_| IpKey::default(), IpKey::from)
}

/// The text of [`ip4_text`] in a zero-padded buffer, and its length (at most 15).
fn ip4_digits(v: u32) -> ([u8; 16], usize) {
    let mut buf = [0u8; 16];
    let mut n = 0;
    for (i, octet) in v.to_be_bytes().into_iter().enumerate() {
        if i > 0 {
            buf[n] = b'.';
            n += 1;
        }
        if octet >= 100 {
            buf[n] = b'0' + octet / 100;
            n += 1;
        }
        if octet >= 10 {
            buf[n] = b'0' + octet / 10 % 10;
            n += 1;
        }
        buf[n] = b'0' + octet % 10;
        n += 1;
    }
    (buf, n)
}

/// The value of `ip` when it is an IPv4 address written the one way `Ipv4Addr` prints it
/// (four decimal octets up to 255, no leading zero), so that the text can be rebuilt
/// exactly from the value; `None` otherwise (`01.2.3.4` is a different ID than `1.2.3.4`).
#[inline]
fn canonical_ip4(ip: &[u8]) -> Option<u32> {
    // One pass over the bytes (this runs for every failure): octets of 1-3 digits without
    // a leading zero, at most 255, separated by exactly three dots.
    if ip.len() < 7 || ip.len() > 15 {
        return None;
    }
    let (mut v, mut octet, mut digits, mut dots) = (0u32, 0u32, 0u32, 0u32);
    for &b in ip {
        if b == b'.' {
            if digits == 0 || octet > 255 {
                return None;
            }
            (v, octet, digits, dots) = (v << 8 | octet, 0, 0, dots + 1);
            continue;
        }
        let d = b.wrapping_sub(b'0');
        // A digit after a leading zero, or a fourth digit.
        if d > 9 || (digits > 0 && octet == 0) || digits == 3 {
            return None;
        }
        (octet, digits) = (octet * 10 + u32::from(d), digits + 1);
    }
    (dots == 3 && digits > 0 && octet <= 255).then_some(v << 8 | octet)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(time: Option<f64>, regex: u32) -> Hit {
        Hit {
            time,
            filter: 0,
            regex,
            file: 3,
            line: 1,
        }
    }

    fn shaped() -> Tally {
        Tally::new(&[(3, 0)], 0)
    }

    /// Chunks scanned by two workers and merged in order give the tally of one pass, whose
    /// undated failures carry the time of the previous dated line.
    #[test]
    fn split_tables_equal_one_pass() {
        let long = "host-".repeat(12);
        let (mut one, mut one_ips) = (shaped(), IpTable::default());
        for (ip, t, r) in [
            ("192.0.2.1", 10.0, 0),
            ("2001:db8::1", 11.0, 1),
            ("192.0.2.1", 11.0, 2),
            (long.as_str(), 11.0, 0),
            ("2001:db8::1", 20.0, 0),
        ] {
            one.failure(&mut one_ips, ip, hit(Some(t), r), true);
        }
        one.last_time = Some(20.0);
        one.lines = 5;
        one.add_ips(one_ips, 3);

        let (mut a, mut b) = (IpTable::default(), IpTable::default());
        let mut c1 = shaped();
        c1.failure(&mut a, "192.0.2.1", hit(Some(10.0), 0), true);
        c1.failure(&mut a, "2001:db8::1", hit(Some(11.0), 1), true);
        c1.last_time = Some(11.0);
        c1.lines = 2;
        let mut c2 = shaped();
        c2.failure(&mut b, "192.0.2.1", hit(None, 2), true);
        c2.failure(&mut b, &long, hit(None, 0), true);
        c2.failure(&mut b, "2001:db8::1", hit(Some(20.0), 0), true);
        c2.last_time = Some(20.0);
        c2.lines = 3;
        let (mut acc, mut late) = (shaped(), IpTable::default());
        acc.merge_chunk_split(c1, &mut late);
        acc.merge_chunk_split(c2, &mut late);
        a.absorb(b);
        a.absorb(late);
        acc.add_ips(a, 3);
        for ev in &mut one.events {
            ev.line = 0;
        }
        for ev in &mut acc.events {
            ev.line = 0;
        }
        assert_eq!(acc, one);
        let s = &acc.ips["192.0.2.1"];
        assert_eq!(s.regexes.as_slice(), [((0, 0), 1), ((0, 2), 1)]);
        assert_eq!(s.files.as_slice(), [(3, 2)]);
        assert_eq!(acc.ips[long.as_str()].first_seen, Some(11.0));
    }

    /// Failures before a file's first dated line keep no time, and stay listed.
    #[test]
    fn undated_start_of_a_file_stays_undated() {
        let (mut acc, mut late, mut ips) = (shaped(), IpTable::default(), IpTable::default());
        let mut c1 = shaped();
        c1.failure(&mut ips, "192.0.2.9", hit(None, 0), false);
        acc.merge_chunk_split(c1, &mut late);
        ips.absorb(late);
        acc.add_ips(ips, 0);
        assert_eq!(acc.leading_undated, ["192.0.2.9"]);
        let s = &acc.ips["192.0.2.9"];
        assert_eq!((s.hits, s.first_seen, s.last_seen), (1, None, None));
    }

    /// Counters of many regexes per address (sparse table); the report lists them sorted.
    #[test]
    fn many_regexes_per_address_stay_sorted_and_exact() {
        let (mut a, mut b) = (IpTable::default(), IpTable::default());
        for r in [5, 1, 7, 1, 3, 0, 6, 2] {
            a.add("192.0.2.7", (0, r), Some(f64::from(r)));
        }
        for r in [2, 4, 7, 9] {
            b.add("192.0.2.7", (1, r), None);
            b.add("192.0.2.7", (0, r), None);
        }
        b.absorb(a);
        let mut t = Tally::default();
        t.add_ips(b, 0);
        let s = &t.ips["192.0.2.7"];
        let want: Vec<((u32, u32), u64)> = [
            ((0, 0), 1),
            ((0, 1), 2),
            ((0, 2), 2),
            ((0, 3), 1),
            ((0, 4), 1),
            ((0, 5), 1),
            ((0, 6), 1),
            ((0, 7), 2),
            ((0, 9), 1),
            ((1, 2), 1),
            ((1, 4), 1),
            ((1, 7), 1),
            ((1, 9), 1),
        ]
        .to_vec();
        assert_eq!(s.regexes.as_slice(), want);
        assert_eq!(
            (s.hits, s.first_seen, s.last_seen),
            (16, Some(0.0), Some(7.0))
        );
        assert_eq!(s.files.as_slice(), [(0, 16)]);
    }

    fn stats(t: IpTable) -> Vec<(IpKey, IpStat)> {
        let mut v = t.into_stats(2);
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// Flat rows (`for_shape`) and the sparse map count the same, whichever absorbs which,
    /// including pairs outside the shape.
    #[test]
    fn flat_rows_equal_the_sparse_map() {
        let shape = [(3, 1), (2, 0)];
        let adds: Vec<(&str, (u32, u32), Option<f64>)> = vec![
            ("192.0.2.1", (0, 0), Some(5.0)),
            ("192.0.2.1", (1, 1), Some(3.0)),
            ("0.0.0.0", (0, 2), None),
            ("255.255.255.255", (1, 0), Some(9.0)),
            ("010.0.0.1", (0, 1), Some(1.0)),
            ("2001:db8::1", (0, 0), Some(2.0)),
            ("192.0.2.1", (7, 3), Some(8.0)),
            ("host.example", (1, 5), None),
            ("192.0.2.1", (0, 0), Some(4.0)),
        ];
        let (mid, n) = (4, adds.len());
        let fill = |t: &mut IpTable, from: usize, to: usize| {
            for &(ip, k, time) in &adds[from..to] {
                t.add(ip, k, time);
            }
        };
        let mut want = IpTable::default();
        fill(&mut want, 0, n);
        want.seen("192.0.2.77", 6.0);
        let want = stats(want);
        for (flat_a, flat_b) in [(true, true), (true, false), (false, true)] {
            let new = |flat: bool| {
                if flat {
                    IpTable::for_shape(&shape)
                } else {
                    IpTable::default()
                }
            };
            let (mut a, mut b) = (new(flat_a), new(flat_b));
            fill(&mut a, 0, mid);
            fill(&mut b, mid, n);
            b.seen("192.0.2.77", 6.0);
            a.absorb(b);
            assert_eq!(stats(a), want, "{flat_a} {flat_b}");
        }
        // Beyond MAX_FLAT failregexes the table is sparse: no row of zeros per address.
        assert_eq!(IpTable::for_shape(&[(MAX_FLAT, 0), (1, 2)]).width, 0);
        assert_eq!(IpTable::for_shape(&[(MAX_FLAT, 0)]).width, MAX_FLAT);
        let ip = &want.iter().find(|(ip, _)| ip == "192.0.2.1").unwrap().1;
        assert_eq!(
            ip.regexes.as_slice(),
            [((0, 0), 2), ((1, 1), 1), ((7, 3), 1)]
        );
        assert_eq!(
            (ip.hits, ip.first_seen, ip.last_seen),
            (4, Some(3.0), Some(8.0))
        );
        let seen = &want.iter().find(|(ip, _)| ip == "192.0.2.77").unwrap().1;
        assert_eq!(
            (seen.hits, seen.first_seen, seen.files.len()),
            (0, Some(6.0), 0)
        );
    }

    /// Only the one text `Ipv4Addr` prints is keyed by value, so the text comes back as
    /// it was read.
    #[test]
    fn canonical_ip4_is_the_canonical_dotted_quad() {
        // Dotted texts of 3-5 parts, each 0-2 pieces from a small alphabet (so leading
        // zeros, long octets, 256 and empty parts all occur): the accepted ones are exactly
        // those that parse and print back unchanged.
        let pieces = [
            b"0" as &[u8],
            b"1",
            b"2",
            b"5",
            b"9",
            b"25",
            b"55",
            b"256",
            b"00",
            b"x",
        ];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        let mut accepted = 0;
        for _ in 0..100_000 {
            let parts = 3 + next(3);
            let mut s = Vec::new();
            for p in 0..parts {
                if p > 0 {
                    s.push(b'.');
                }
                for _ in 0..=next(2) + usize::from(next(8) == 0) {
                    s.extend_from_slice(pieces[next(pieces.len())]);
                }
            }
            let text = String::from_utf8(s).unwrap();
            let want = text
                .parse::<std::net::Ipv4Addr>()
                .ok()
                .filter(|a| a.to_string() == text)
                .map(u32::from);
            accepted += usize::from(want.is_some());
            assert_eq!(canonical_ip4(text.as_bytes()), want, "{text:?}");
        }
        assert!(accepted > 1_000, "{accepted}");
    }

    #[test]
    fn written_zeros_are_zeros_of_the_length_asked() {
        for n in [0, 1, 511, 512, 513, 4096, 100_000] {
            let v = written_zeros(n);
            assert_eq!(v.len(), n);
            assert!(v.iter().all(|&w| w == 0));
        }
    }

    #[test]
    fn canonical_ip4_round_trips() {
        for ip in [
            "0.0.0.0",
            "1.2.3.4",
            "192.0.2.10",
            "255.255.255.255",
            "10.100.0.9",
        ] {
            let v = canonical_ip4(ip.as_bytes()).unwrap();
            assert_eq!(v, u32::from(ip.parse::<std::net::Ipv4Addr>().unwrap()));
            assert_eq!(ip4_text(v), ip);
            // The ranking key of an address value is that of its text.
            assert_eq!(u128::from_be_bytes(ip4_digits(v).0), text_prefix(ip));
        }
        for ip in [
            "01.2.3.4",
            "1.2.3.04",
            "256.1.1.1",
            "1.2.3",
            "1.2.3.4.5",
            "1.2.3.4 ",
            "1..3.4",
            "1.2.3.4a",
            "::1",
            "1.2.3.1000",
            "",
        ] {
            assert_eq!(canonical_ip4(ip.as_bytes()), None, "{ip}");
        }
    }

    /// Thousands of addresses (the index grows many times), interleaved with text IDs and
    /// `seen` calls, through the prefetch pipeline: the same counters as a plain map.
    #[test]
    fn pipelined_table_equals_a_plain_count() {
        let mut t = IpTable::for_shape(&[(4, 0)]);
        let mut want: HashMap<String, (u64, f64, f64, [u64; 4])> = HashMap::new();
        let mut x = 12345u32;
        for i in 0..20_000u32 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let ip = match x % 7 {
                0 => format!("2001:db8::{:x}", x >> 20),
                _ => std::net::Ipv4Addr::from((x >> 8) % 3000 * 65_537).to_string(),
            };
            let (r, time) = (x % 4, f64::from(i % 1000));
            t.add(&ip, (0, r), Some(time));
            let e = want.entry(ip).or_insert((0, f64::MAX, f64::MIN, [0; 4]));
            e.0 += 1;
            e.1 = e.1.min(time);
            e.2 = e.2.max(time);
            e.3[r as usize] += 1;
            if i % 1000 == 0 {
                t.seen("192.0.2.250", -1.0);
            }
        }
        let got = stats(t);
        assert_eq!(got.len(), want.len() + 1);
        for (ip, s) in got {
            if ip == "192.0.2.250" {
                assert_eq!((s.hits, s.first_seen), (0, Some(-1.0)));
                continue;
            }
            let w = &want[ip.as_str()];
            let regexes: Vec<((u32, u32), u64)> = (0..4)
                .filter(|&r| w.3[r] > 0)
                .map(|r| ((0, r as u32), w.3[r]))
                .collect();
            assert_eq!(
                (s.hits, s.first_seen, s.last_seen, s.regexes.to_vec()),
                (w.0, Some(w.1), Some(w.2), regexes),
                "{ip}"
            );
        }
    }

    /// The report order: hits descending, then address text (so `10.0.0.1` before
    /// `9.0.0.1`, and texts that agree on their first 16 bytes by the rest), whether the
    /// list comes ranked from a table or is sorted after a merge.
    #[test]
    fn ranked_by_hits_then_address_text() {
        let long_a = "2001:db8:aaaa:bbbb::1";
        let long_b = "2001:db8:aaaa:bbbb::";
        let adds = [
            ("9.0.0.1", 2),
            ("10.0.0.1", 2),
            ("192.0.2.1", 5),
            (long_a, 2),
            (long_b, 2),
            ("host.example", 1),
            ("01.2.3.4", 2),
        ];
        let mut t = IpTable::for_shape(&[(1, 0)]);
        for (ip, n) in adds {
            for _ in 0..n {
                t.add(ip, (0, 0), Some(1.0));
            }
        }
        let mut want: Vec<(u64, &str)> = adds.iter().map(|&(ip, n)| (n, ip)).collect();
        want.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
        let want: Vec<&str> = want.into_iter().map(|(_, ip)| ip).collect();

        let mut one = Tally::default();
        one.add_ips(t.clone(), 0);
        assert!(one.ips.ranked);
        let got: Vec<&str> = one.ips.ranked().into_iter().map(|(ip, _)| ip).collect();
        assert_eq!(got, want);

        // A second file's table merged in: the list is no longer in order, the ranking is
        // computed, and lookups see both files.
        let mut more = IpTable::for_shape(&[(1, 0)]);
        for _ in 0..4 {
            more.add("9.0.0.1", (0, 0), Some(2.0));
        }
        more.add("198.51.100.7", (0, 0), None);
        one.add_ips(more, 1);
        assert!(!one.ips.ranked);
        let got: Vec<&str> = one.ips.ranked().into_iter().map(|(ip, _)| ip).collect();
        assert_eq!(got[0], "9.0.0.1");
        assert_eq!(got.len(), want.len() + 1);
        assert_eq!(one.ips["9.0.0.1"].files.as_slice(), [(0, 2), (1, 4)]);
        assert_eq!(one.ips["198.51.100.7"].hits, 1);

        // Equality does not depend on the order of the entries.
        let mut rev = one.ips.clone();
        rev.entries.reverse();
        rev.index = OnceLock::new();
        assert_eq!(rev, one.ips);
        rev.entries[0].1.hits += 1;
        assert_ne!(rev, one.ips);
    }

    proptest::proptest! {
        /// Comparing (16-byte prefix, text) orders texts exactly as comparing the texts.
        #[test]
        fn text_prefix_orders_like_the_text(a in "[0-9a-f:.\\x00]{0,24}", b in "[0-9a-f:.\\x00]{0,24}") {
            let by_key = text_prefix(&a).cmp(&text_prefix(&b)).then_with(|| a.cmp(&b));
            proptest::prop_assert_eq!(by_key, a.cmp(&b));
        }
    }
}
