//! Per-chunk results of a scan and their merge.
//!
//! Each chunk fills its own [`Tally`]; tallies merge with [`Tally::merge`] in input order, so
//! the merged result does not depend on the thread count or the chunk size (style habit 7).
//! Every line ends up in exactly one of `matched`, `ignored`, `missed` or `skipped`.

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
    fn add(&mut self, key: (u32, u32), file: u32, time: Option<f64>) {
        self.hits += 1;
        if let Some(t) = time {
            self.first_seen = Some(self.first_seen.map_or(t, |f| f.min(t)));
            self.last_seen = Some(self.last_seen.map_or(t, |l| l.max(t)));
        }
        bump(&mut self.regexes, key, 1);
        bump(&mut self.files, file, 1);
    }

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
    /// matters for an offline audit, and SipHash was a visible cost per failure.
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

    /// Records one failure of address `ip` (the event's `ip` is ignored and filled here).
    /// Only a first sighting of an address, or a kept event, allocates.
    pub fn failure(&mut self, ip: &str, ev: Hit, keep_event: bool) {
        if ev.time.is_none() {
            self.leading_undated.push(ip.to_string());
        }
        self.regex_hits[ev.filter as usize][ev.regex as usize] += 1;
        let key = (ev.filter, ev.regex);
        match self.ips.get_mut(ip) {
            Some(stat) => stat.add(key, ev.file, ev.time),
            None => self
                .ips
                .entry(ip.to_string())
                .or_default()
                .add(key, ev.file, ev.time),
        }
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
