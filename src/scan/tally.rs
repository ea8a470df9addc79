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

use rustc_hash::FxHasher;

use serde::Serialize;

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

/// Per-IP aggregate.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct IpStat {
    pub hits: u64,
    pub first_seen: Option<f64>,
    pub last_seen: Option<f64>,
    /// Hits per (filter, regex).
    pub regexes: Vec<((u32, u32), u64)>,
    /// Hits per file index.
    pub files: Vec<(u32, u64)>,
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
fn bump<K: Ord + Copy>(list: &mut Vec<(K, u64)>, key: K, n: u64) {
    match list.binary_search_by(|(k, _)| k.cmp(&key)) {
        Ok(i) => list[i].1 += n,
        Err(i) => list.insert(i, (key, n)),
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
    /// Per address. FxHash: the keys are short and not attacker-chosen in a way that
    /// matters for an offline audit, and SipHash was a visible cost per failure. Empty in the
    /// tally of a chunk: the scan counts addresses in [`IpTable`]s and adds them per file.
    pub ips: HashMap<String, IpStat, BuildHasherDefault<FxHasher>>,
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
        if self.ips.is_empty() {
            self.ips = table.into_stats(file).collect();
            return;
        }
        self.ips.reserve(table.len());
        for (ip, acc) in table.into_stats(file) {
            match self.ips.get_mut(&ip) {
                Some(s) => s.merge(&acc),
                None => {
                    self.ips.insert(ip, acc);
                }
            }
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
        for (ip, st) in next.ips {
            match self.ips.get_mut(&ip) {
                Some(s) => s.merge(&st),
                None => {
                    self.ips.insert(ip, st);
                }
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

/// Longest address kept inline in an [`IpTable`]: any IPv4 or normalised IPv6 text.
const INLINE: usize = 47;

/// An address of at most [`INLINE`] bytes, stored in place so that a map of them needs no
/// allocation per address and compares keys without chasing a pointer.
#[derive(Clone, Copy, PartialEq, Eq)]
struct ShortKey {
    len: u8,
    bytes: [u8; INLINE],
}

impl ShortKey {
    fn new(ip: &str) -> Option<ShortKey> {
        let src = ip.as_bytes();
        let mut bytes = [0; INLINE];
        bytes.get_mut(..src.len())?.copy_from_slice(src);
        Some(ShortKey {
            len: src.len() as u8,
            bytes,
        })
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes[..usize::from(self.len)]).into_owned()
    }
}

/// Hashes the used bytes only (the rest is zero): an IPv4 address is a third of the array.
impl std::hash::Hash for ShortKey {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        h.write(&self.bytes[..usize::from(self.len)]);
    }
}

impl std::fmt::Debug for ShortKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text())
    }
}

/// (filter, regex) counters kept in place per address. An address usually fails one or two
/// regexes; keeping a few counters next to its key spares a pointer chase into a cold
/// heap block on every failure, which showed in profiles once the table outgrew the cache.
const INLINE_REGEXES: usize = 4;

/// Per-IP counters of one file, as one worker accumulates them: [`IpStat`] without the
/// per-file list (the file is the same for every entry) and with its first (filter, regex)
/// counters in place, so that `more` stays an unallocated empty Vec for most addresses.
#[derive(Debug, Clone, Default)]
struct IpAcc {
    hits: u64,
    first_seen: Option<f64>,
    last_seen: Option<f64>,
    /// The first counters, in order of first failure; the used ones (count > 0) come first.
    regexes: [((u32, u32), u64); INLINE_REGEXES],
    /// Further counters, sorted; a key is either in `regexes` or here.
    more: Vec<((u32, u32), u64)>,
}

impl IpAcc {
    fn seen(&mut self, t: f64) {
        self.first_seen = Some(self.first_seen.map_or(t, |f| f.min(t)));
        self.last_seen = Some(self.last_seen.map_or(t, |l| l.max(t)));
    }

    fn bump_regex(&mut self, key: (u32, u32), n: u64) {
        for slot in &mut self.regexes {
            if slot.1 == 0 || slot.0 == key {
                slot.0 = key;
                slot.1 += n;
                return;
            }
        }
        bump(&mut self.more, key, n);
    }

    fn absorb(&mut self, o: IpAcc) {
        self.hits += o.hits;
        for t in [o.first_seen, o.last_seen].into_iter().flatten() {
            self.seen(t);
        }
        for (k, n) in o.regexes.into_iter().chain(o.more) {
            if n > 0 {
                self.bump_regex(k, n);
            }
        }
    }

    fn into_stat(self, file: u32) -> IpStat {
        // The keys in place and in `more` are disjoint: one allocation, one sort.
        let used = self.regexes.iter().filter(|(_, n)| *n > 0).count();
        let mut regexes = Vec::with_capacity(used + self.more.len());
        regexes.extend(self.regexes.into_iter().filter(|(_, n)| *n > 0));
        regexes.extend(self.more);
        regexes.sort_unstable_by_key(|&(k, _)| k);
        IpStat {
            hits: self.hits,
            first_seen: self.first_seen,
            last_seen: self.last_seen,
            regexes,
            files: if self.hits > 0 {
                vec![(file, self.hits)]
            } else {
                Vec::new()
            },
        }
    }
}

type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// Per-IP counters of one file kept by one worker across its chunks (see the module doc).
/// Memory grows with the distinct addresses of the file, not with its size.
#[derive(Debug, Clone, Default)]
pub(crate) struct IpTable {
    short: FxMap<ShortKey, IpAcc>,
    /// Longer IDs (host names, `<F-ID>` captures).
    long: FxMap<Box<str>, IpAcc>,
}

impl IpTable {
    /// Runs `f` on the counters of `ip`, created empty on a first sighting.
    fn update(&mut self, ip: &str, f: impl FnOnce(&mut IpAcc)) {
        match ShortKey::new(ip) {
            Some(k) => f(self.short.entry(k).or_default()),
            // Looked up by `&str` first: `entry` takes an owned key, which would allocate
            // on every hit.
            None => match self.long.get_mut(ip) {
                Some(a) => f(a),
                None => f(self.long.entry(ip.into()).or_default()),
            },
        }
    }

    fn add(&mut self, ip: &str, key: (u32, u32), time: Option<f64>) {
        self.update(ip, |acc| {
            acc.hits += 1;
            if let Some(t) = time {
                acc.seen(t);
            }
            acc.bump_regex(key, 1);
        });
    }

    /// Notes that `ip` was seen at time `t`, without a hit.
    fn seen(&mut self, ip: &str, t: f64) {
        self.update(ip, |acc| acc.seen(t));
    }

    pub(crate) fn len(&self) -> usize {
        self.short.len() + self.long.len()
    }

    /// Adds the counters of `other` (the same file, another worker) to `self`.
    pub(crate) fn absorb(&mut self, other: IpTable) {
        for (k, a) in other.short {
            self.short.entry(k).or_default().absorb(a);
        }
        for (k, a) in other.long {
            self.long.entry(k).or_default().absorb(a);
        }
    }

    fn into_stats(self, file: u32) -> impl Iterator<Item = (String, IpStat)> {
        let short = self
            .short
            .into_iter()
            .map(move |(k, a)| (k.text(), a.into_stat(file)));
        let long = self
            .long
            .into_iter()
            .map(move |(k, a)| (k.into_string(), a.into_stat(file)));
        short.chain(long)
    }
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
        assert_eq!(s.regexes, [((0, 0), 1), ((0, 2), 1)]);
        assert_eq!(s.files, [(3, 2)]);
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

    /// Counters beyond the inline ones spill into `more`; the report lists them all sorted.
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
        assert_eq!(s.regexes, want);
        assert_eq!(
            (s.hits, s.first_seen, s.last_seen),
            (16, Some(0.0), Some(7.0))
        );
        assert_eq!(s.files, [(0, 16)]);
    }
}
