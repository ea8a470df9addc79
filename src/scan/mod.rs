//! The parallel scan: inputs are cut into line-aligned chunks, each chunk is matched on a
//! rayon worker into its own [`Tally`], and tallies are merged in input order (per-IP
//! counters excepted: they add up in one table per worker, see [`tally`]).
//!
//! Semantics per line are fail2ban's server path without check-all (the first failregex that
//! survives the ignore check wins, like `fail2ban-regex -o`), with three documented
//! differences needed for historical audits:
//! - a last line without a trailing newline is processed (fail2ban-regex drops it);
//! - a failure on a line without a date gets the time of the previous dated line of the
//!   same file (fail2ban-regex gives it no time);
//! - dates without a year get their year from the file (see [`files`] and `cmd::scan`).
//!
//! Empty lines and lines starting with `#` are skipped as fail2ban-regex does, but counted.

pub mod files;
mod lines;
pub mod prefilter;
pub mod tally;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::date::DateDetector;
use crate::input::{self, Compression, Opened};
use crate::pattern::ipaddr::{self, Family};
use crate::pattern::{AddrKind, Engine, EngineCache, LineOutcome, Quick, QuickCache, QuickPlan};
use tally::IpTable;
pub use tally::{Event, Hit, IpStat, Tally};

/// Filters that share one date pattern, compiled into one engine.
pub struct Group {
    pub engine: Engine,
    /// The engine's quick path (see [`QuickPlan`]), when any filter qualifies.
    pub quick: Option<QuickPlan>,
    /// Global filter index of each of the engine's filters.
    pub filters: Vec<usize>,
    /// Date pattern of the group (`None` = fail2ban's defaults).
    pub datepattern: Option<String>,
    /// Skips the engine on lines that contain none of the group's required literals.
    pub prefilter: prefilter::LinePrefilter,
}

/// What the scan needs besides the inputs.
pub struct Scanner {
    pub groups: Vec<Group>,
    /// (failregex count, ignoreregex count) per global filter.
    pub shape: Vec<(usize, usize)>,
    /// Keep every failure as an [`Event`] (per-event CSV, ban replay).
    pub keep_events: bool,
    /// Target chunk size in bytes; chunks end at a newline.
    pub chunk_size: usize,
    /// Idle per-thread scratch spaces. Reused across chunks and files because the lazy
    /// DFAs inside are expensive to warm up (a fresh cache per 4 MB chunk cost more than
    /// the matching); their fail2ban state is reset for every chunk (see [`Scanner::with_worker`]).
    pub(crate) idle: Mutex<Vec<Worker>>,
}

/// Bytes per block of [`Scanner::scan_chunk`]: well inside a core's L2 cache.
const BLOCK: usize = 128 << 10;

/// Outcome of one input.
#[derive(Debug, Clone)]
pub struct FileReport {
    pub path: PathBuf,
    pub compression: Compression,
    /// Bytes of (decoded) log text processed.
    pub bytes: u64,
    pub lines: u64,
    /// Why the input is incomplete or missing, with the offset reached.
    pub error: Option<String>,
}

/// Per-thread scratch space.
pub(crate) struct Worker {
    caches: Vec<EngineCache>,
    quick: Vec<Option<QuickCache>>,
    outcome: LineOutcome,
    /// The line as the engine sees it: date cut out, plus `"\n"`.
    text: String,
    /// A normalised address.
    ip: String,
    /// Per group: the last `before` text checked with [`prefilter::LinePrefilter::join_risky`]
    /// and the answer (the text before the date is the same on almost every line).
    join: Vec<(Vec<u8>, bool)>,
    /// The newlines of the current block.
    newlines: lines::Newlines,
    /// Recent IPv6 failure IDs by their text as written.
    v6_ids: V6Ids,
}

impl Scanner {
    fn worker(&self) -> Worker {
        Worker {
            caches: self.groups.iter().map(|g| g.engine.new_cache()).collect(),
            quick: self
                .groups
                .iter()
                .map(|g| g.quick.as_ref().map(QuickPlan::new_cache))
                .collect(),
            outcome: LineOutcome::default(),
            text: String::new(),
            ip: String::new(),
            join: vec![(Vec::new(), false); self.groups.len()],
            newlines: lines::Newlines::default(),
            v6_ids: V6Ids::default(),
        }
    }

    /// Runs `f` with an idle worker (or a new one), its engine state reset so that the
    /// result does not depend on which chunks it saw before, and puts it back.
    fn with_worker<T>(&self, f: impl FnOnce(&mut Worker) -> T) -> T {
        let popped = self.idle.lock().ok().and_then(|mut v| v.pop());
        let mut w = popped.unwrap_or_else(|| self.worker());
        for c in &mut w.caches {
            c.reset_state();
        }
        let out = f(&mut w);
        if let Ok(mut v) = self.idle.lock() {
            v.push(w);
        }
        out
    }

    fn empty_tally(&self, templates: usize) -> Tally {
        Tally::new(&self.shape, templates)
    }

    /// Scans one chunk of whole lines (the last one may lack its newline only at EOF).
    /// `detectors` are fresh clones per chunk so that the result does not depend on which
    /// chunks a thread saw before. Per-IP counters go to `ips`, not to the returned tally.
    fn scan_chunk(
        &self,
        w: &mut Worker,
        ips: &mut IpTable,
        detectors: &mut [DateDetector],
        file: u32,
        data: &[u8],
    ) -> Tally {
        let templates = template_count(detectors);
        let mut t = self.empty_tally(templates);
        let mut last_time: Option<f64> = None;
        let mut lineno = 0u64;
        let mut pos = 0usize;
        // The chunk is read in blocks of whole lines that stay in the core's cache from
        // their UTF-8 check to their last line (the literal search, memory-bound on a whole
        // chunk, runs several times faster on a cached block). A valid block is sliced into
        // lines without validating each one, and its prefilter runs over the whole block;
        // otherwise line by line.
        let (mut block, mut block_end) = (0usize, 0usize);
        let mut valid: Option<&str> = None;
        let mut ascii = false;
        let mut next_hit: Vec<usize> = vec![0; self.groups.len()];
        let single = self.groups.len() == 1;
        while pos < data.len() {
            if pos >= block_end {
                (block, block_end) = (pos, chunk_end(data, pos, BLOCK));
                // Logs are almost always ASCII: the pass that marks the block's newlines
                // also tells, and then stands for the UTF-8 validation and for the quick
                // path's per-line ASCII test.
                let bytes = &data[block..block_end];
                ascii = w.newlines.fill(block, bytes);
                valid = if ascii {
                    // SAFETY: ASCII bytes are valid UTF-8.
                    Some(unsafe { std::str::from_utf8_unchecked(bytes) })
                } else {
                    simdutf8::basic::from_utf8(bytes).ok()
                };
                for (hit, g) in next_hit.iter_mut().zip(&self.groups) {
                    *hit = match valid {
                        Some(_) => hit_from(g, &data[..block_end], pos),
                        None => 0,
                    };
                }
            }
            let start = pos;
            let end = w.newlines.next_from(pos).unwrap_or(data.len());
            let mut stop = end;
            pos = end + 1;
            lineno += 1;
            t.lines += 1;
            while stop > start && data[stop - 1] == b'\r' {
                stop -= 1;
            }
            if stop == start || data[start] == b'#' {
                t.skipped += 1;
                continue;
            }
            if single && valid.is_some() {
                // Most lines: no literal of the group's regexes, a date like the line
                // before (see `DateDetector::settled`) and the same text before it, known
                // not to make a literal when joined to what follows the date. Missed, and
                // only the counters move: the general path below took ~150 more
                // instructions per such line.
                if next_hit[0] < start {
                    next_hit[0] = hit_from(&self.groups[0], &data[..block_end], start);
                }
                if next_hit[0] >= end {
                    if let Some(m) = detectors[0].peek_again(&data[start..stop]) {
                        let (last, risky) = &w.join[0];
                        if start + m.end == stop
                            || !*risky && same_bytes(last, &data[start..start + m.start])
                        {
                            detectors[0].count_again(&m);
                            match m.time {
                                Some(tm) => last_time = Some(tm),
                                None => t.no_date += 1,
                            }
                            t.missed += 1;
                            continue;
                        }
                    }
                }
            }
            let line: Cow<str> = match valid {
                Some(text) => Cow::Borrowed(&text[start - block..stop - block]),
                None => match std::str::from_utf8(&data[start..stop]) {
                    Ok(s) => Cow::Borrowed(s),
                    Err(_) => {
                        t.invalid_utf8 += 1;
                        String::from_utf8_lossy(&data[start..stop])
                    }
                },
            };
            let (mut failed, mut ignored, mut dated) = (false, false, false);
            for (gi, g) in self.groups.iter().enumerate() {
                let (before, after, time) = match detectors[gi].detect(&line) {
                    Some(m) => (&line[..m.start], &line[m.end..], m.time),
                    None => (&line[..], "", None),
                };
                if let Some(tm) = time {
                    dated = true;
                    last_time = Some(tm);
                }
                let candidate = if valid.is_some() {
                    if next_hit[gi] < start {
                        next_hit[gi] = hit_from(g, &data[..block_end], start);
                    }
                    // An undated line (nothing after the cut) is contiguous in the chunk.
                    next_hit[gi] < end
                        || !after.is_empty() && {
                            let (last, risky) = &mut w.join[gi];
                            if !same_bytes(last, before.as_bytes()) {
                                last.clear();
                                last.extend_from_slice(before.as_bytes());
                                *risky = g.prefilter.join_risky(before.as_bytes());
                            }
                            *risky && {
                                joined(&mut w.text, before, after);
                                g.prefilter.may_match(&w.text)
                            }
                        }
                } else {
                    joined(&mut w.text, before, after);
                    g.prefilter.may_match(&w.text)
                };
                if !candidate {
                    continue;
                }
                joined(&mut w.text, before, after);
                w.text.push('\n');
                let at = |filter: usize, regex: usize| Hit {
                    time: time.or(last_time),
                    filter: g.filters[filter] as u32,
                    regex: regex as u32,
                    file,
                    line: lineno,
                };
                if let (Some(plan), Some(qc)) = (&g.quick, w.quick[gi].as_mut()) {
                    // An ASCII block has ASCII lines; otherwise the quick path tests the line.
                    let line_ascii = ascii || w.text.is_ascii();
                    if plan.classify_ascii(qc, &w.text, line_ascii) == Quick::Done {
                        for h in &qc.hits {
                            let text = &w.text[h.start..h.end];
                            let ip = match h.kind {
                                AddrKind::Ip(Family::V6) => w.v6_ids.id(text),
                                kind => normalised(&mut w.ip, text, kind),
                            };
                            failed = true;
                            t.failure(ips, ip, at(h.filter, h.regex), self.keep_events);
                        }
                        continue;
                    }
                }
                let text = &w.text[..w.text.len() - 1];
                g.engine.match_line(&mut w.caches[gi], text, &mut w.outcome);
                for &(f, idx) in &w.outcome.ignore_hits {
                    ignored = true;
                    t.ignore_hits[g.filters[f]][idx] += 1;
                }
                for fl in &w.outcome.failures {
                    if fl.nofail {
                        ignored = true;
                        t.regex_hits[g.filters[fl.filter]][fl.regex] += 1;
                        continue;
                    }
                    failed = true;
                    let ip = fl
                        .data
                        .iter()
                        .find(|(k, _)| k == "ip")
                        .and_then(|(_, v)| v.as_deref())
                        .unwrap_or(&fl.id);
                    t.failure(ips, ip, at(fl.filter, fl.regex), self.keep_events);
                }
            }
            if !dated {
                t.no_date += 1;
            }
            if ignored {
                t.ignored += 1;
            } else if failed {
                t.matched += 1;
            } else {
                t.missed += 1;
            }
        }
        if let Some(d) = detectors.first() {
            t.date_hits = d.hits_by_id();
        }
        t.last_time = last_time;
        t
    }

    /// Scans in-memory bytes in parallel, line-aligned chunks; merges in order.
    pub fn scan_bytes(
        &self,
        detectors: &[DateDetector],
        file: u32,
        data: &[u8],
        progress: &(dyn Fn(u64) + Sync),
    ) -> Tally {
        self.scan_chunks(detectors, file, data, progress, &|_| {})
    }

    /// [`Scanner::scan_bytes`], calling `done` with the range of each chunk once it is read.
    fn scan_chunks(
        &self,
        detectors: &[DateDetector],
        file: u32,
        data: &[u8],
        progress: &(dyn Fn(u64) + Sync),
        done: &(dyn Fn(std::ops::Range<usize>) + Sync),
    ) -> Tally {
        let threads = rayon::current_num_threads();
        let size = self.chunk_size.max(1);
        let templates = template_count(detectors);
        // Tallies merge in chunk order as they complete, so memory holds the running total
        // plus the few chunks that finished early, not one tally per chunk (per-chunk maps
        // of addresses would make memory grow with the input size).
        let merger = Mutex::new(OrderedMerge::new(self.empty_tally(templates)));
        let tables = Mutex::new(Vec::new());
        // Each thread takes the next chunk in order (not rayon's halving split, under which
        // the second thread would start in the middle and its tallies wait for the first).
        // Chunks are cut as they are taken, the same ones as `split_chunks`: cutting them
        // all first looked for a newline at every boundary of the file before any was read,
        // and each look mapped a page, or all of its folio (2 MB of a file read into the
        // page cache in large folios: 460 MB of a 921 MB log mapped at once).
        let cursor = Mutex::new((0usize, 0usize));
        let take = || -> Option<(usize, usize, usize)> {
            let mut c = cursor.lock().ok()?;
            let (start, seq) = *c;
            if start >= data.len() {
                return None;
            }
            let end = next_chunk_end(data, start, size, threads);
            *c = (end, seq + 1);
            Some((seq, start, end))
        };
        let scan_next = || {
            let mut ips = IpTable::for_shape(&self.shape);
            while let Some((seq, a, b)) = take() {
                let mut dets = detectors.to_vec();
                let t = self
                    .with_worker(|w| self.scan_chunk(w, &mut ips, &mut dets, file, &data[a..b]));
                progress((b - a) as u64);
                done(a..b);
                if let Ok(mut m) = merger.lock() {
                    m.push(seq, t);
                }
            }
            if let Ok(mut v) = tables.lock() {
                v.push(ips);
            }
        };
        // One chunk (a small file): no second thread.
        let threads = if data.len() > MIN_CHUNK.min(size) {
            threads.max(1)
        } else {
            1
        };
        rayon::scope(|s| {
            for _ in 1..threads {
                s.spawn(|_| scan_next());
            }
            scan_next();
        });
        finish(merger, tables, file)
    }

    /// Scans a decoded stream: one thread reads and cuts blocks at newlines while the rayon
    /// pool matches earlier blocks (decompression pipelined with matching).
    /// Returns the tally of what was read and the error that stopped reading, if any.
    pub fn scan_stream(
        &self,
        detectors: &[DateDetector],
        file: u32,
        reader: &mut (dyn Read + Send),
        progress: &(dyn Fn(u64) + Sync),
    ) -> (Tally, u64, Option<std::io::Error>) {
        let templates = template_count(detectors);
        let merger = Mutex::new(OrderedMerge::new(self.empty_tally(templates)));
        // Idle per-IP tables: one per block being matched at the same time.
        let tables = Mutex::new(Vec::new());
        let block = self.chunk_size.clamp(1, 16 << 20);
        let in_flight = AtomicUsize::new(0);
        let max_in_flight = 2 * rayon::current_num_threads() + 1;
        let mut read_error = None;
        let mut total = 0u64;
        rayon::scope(|s| {
            let mut carry: Vec<u8> = Vec::new();
            let mut seq = 0usize;
            let mut eof = false;
            while !eof {
                let mut buf = std::mem::take(&mut carry);
                let start = buf.len();
                buf.resize(start + block, 0);
                let mut filled = start;
                while filled < buf.len() {
                    match reader.read(&mut buf[filled..]) {
                        Ok(0) => {
                            eof = true;
                            break;
                        }
                        Ok(n) => filled += n,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            read_error = Some(e);
                            eof = true;
                            break;
                        }
                    }
                }
                buf.truncate(filled);
                total += (filled - start) as u64;
                if !eof {
                    // Keep the partial last line for the next block.
                    match memchr::memrchr(b'\n', &buf) {
                        Some(p) => carry = buf.split_off(p + 1),
                        None => {
                            // No newline yet (a huge line): read more into the same block.
                            carry = buf;
                            continue;
                        }
                    }
                }
                if buf.is_empty() {
                    continue;
                }
                let this = seq;
                let len = buf.len() as u64;
                seq += 1;
                // Back-pressure: decoding outruns matching, and every block in flight holds
                // its buffer; wait (running queued blocks ourselves, which also keeps a
                // single-thread pool from deadlocking) until one finishes.
                while in_flight.load(Ordering::Acquire) >= max_in_flight {
                    if rayon::yield_now() != Some(rayon::Yield::Executed) {
                        std::thread::sleep(std::time::Duration::from_micros(50));
                    }
                }
                in_flight.fetch_add(1, Ordering::AcqRel);
                let merger = &merger;
                let tables = &tables;
                let in_flight = &in_flight;
                let dets = detectors.to_vec();
                s.spawn(move |_| {
                    let mut dets = dets;
                    let popped = tables.lock().ok().and_then(|mut v| v.pop());
                    let mut ips = popped.unwrap_or_else(|| IpTable::for_shape(&self.shape));
                    let t =
                        self.with_worker(|w| self.scan_chunk(w, &mut ips, &mut dets, file, &buf));
                    if let Ok(mut v) = tables.lock() {
                        v.push(ips);
                    }
                    drop(buf);
                    progress(len);
                    if let Ok(mut m) = merger.lock() {
                        m.push(this, t);
                    }
                    in_flight.fetch_sub(1, Ordering::AcqRel);
                });
            }
        });
        (finish(merger, tables, file), total, read_error)
    }

    /// Scans one path (plain, compressed or `-`), reporting what happened.
    pub fn scan_path(
        &self,
        detectors: &[DateDetector],
        file: u32,
        path: &Path,
        progress: &(dyn Fn(u64) + Sync),
    ) -> (Tally, FileReport) {
        let templates = template_count(detectors);
        let mut report = FileReport {
            path: path.to_path_buf(),
            compression: Compression::Plain,
            bytes: 0,
            lines: 0,
            error: None,
        };
        let opened = match input::open(path) {
            Ok(o) => o,
            Err(e) => {
                report.error = Some(e.to_string());
                return (self.empty_tally(templates), report);
            }
        };
        let tally = match opened {
            Opened::Mapped(m) => {
                report.bytes = m.len() as u64;
                // A file truncated while mapped raises SIGBUS: the guard turns it into an
                // error message naming this file (exit code 3) instead of a bare crash.
                let _guard = input::sigbus::guard_mapped(path, &m);
                let releaser = input::Releaser::new(&m);
                self.scan_chunks(detectors, file, &m, progress, &|r| releaser.done(r))
            }
            Opened::Bytes(b) => {
                report.bytes = b.len() as u64;
                self.scan_bytes(detectors, file, &b, progress)
            }
            Opened::Stream(c, mut r) => {
                report.compression = c;
                let (t, total, err) = self.scan_stream(detectors, file, &mut *r, progress);
                report.bytes = total;
                if let Some(e) = err {
                    report.error = Some(format!(
                        "{}: {} data is truncated or corrupt after {} decoded bytes ({} lines): {}",
                        path.display(),
                        c.name(),
                        total,
                        t.lines,
                        e
                    ));
                }
                t
            }
        };
        report.lines = tally.lines;
        (tally, report)
    }
}

/// Where the next literal of `g`'s prefilter starts in `data` at or after `from`
/// (`usize::MAX` when none does).
#[inline]
fn hit_from(g: &Group, data: &[u8], from: usize) -> usize {
    g.prefilter.next_hit(data, from).unwrap_or(usize::MAX)
}

/// Slice equality without a `memcmp` call: the compared texts (what precedes a date) are a
/// few bytes long and compared on every line.
#[inline]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && crate::pattern::has_prefix(a, b)
}

/// `out = before + after` (the line as the engine sees it, without the newline).
fn joined(out: &mut String, before: &str, after: &str) {
    out.clear();
    out.push_str(before);
    out.push_str(after);
}

/// The failure ID of a quick-path address, like the engine's: an `ip4` capture is its own
/// normal form (Rust's IPv4 parser accepts exactly the canonical dotted quad, and fail2ban
/// keeps text that does not parse as it is), names are raw; IPv6 is normalised.
fn normalised<'a>(out: &'a mut String, text: &'a str, kind: AddrKind) -> &'a str {
    match kind {
        AddrKind::Ip(Family::V4) | AddrKind::Name => text,
        AddrKind::Ip(Family::V6) => {
            ipaddr::ip6_id_into(out, text);
            out
        }
    }
}

/// Slots of [`V6Ids`] (direct-mapped).
const V6_SLOTS: usize = 4096;

/// The IDs of recent IPv6 failures by their text as written: an attacker's address comes
/// back again and again, and its normal form ([`ipaddr::ip6_id_into`]) cost a parse and a
/// print each time (~900 instructions, with branches on every group's width).
#[derive(Default)]
struct V6Ids {
    /// (text, ID); empty until first used.
    slots: Vec<(Box<str>, Box<str>)>,
    scratch: String,
}

impl V6Ids {
    /// The failure ID of the IPv6 address written `text` (what [`normalised`] gives).
    fn id(&mut self, text: &str) -> &str {
        if self.slots.is_empty() {
            self.slots = vec![(Box::from(""), Box::from("")); V6_SLOTS];
        }
        let b = text.as_bytes();
        let word = |i: usize| {
            b.get(i..i + 8)
                .map_or(0, |w| u64::from_le_bytes(w.try_into().unwrap_or_default()))
        };
        let h = (word(0) ^ word(b.len().saturating_sub(8)).rotate_left(29) ^ b.len() as u64)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let i = (h >> 52) as usize % V6_SLOTS;
        if *self.slots[i].0 != *text {
            ipaddr::ip6_id_into(&mut self.scratch, text);
            self.slots[i] = (Box::from(text), Box::from(self.scratch.as_str()));
        }
        &self.slots[i].1
    }
}

/// Number of date templates the tallies count hits for (those of the first group, the one
/// the report names).
fn template_count(detectors: &[DateDetector]) -> usize {
    detectors.first().map_or(0, |d| d.hits_by_id().len())
}

/// Tallies arriving in any order, merged in sequence order as soon as possible so that
/// memory holds only the out-of-order ones.
struct OrderedMerge {
    next: usize,
    pending: BTreeMap<usize, Tally>,
    acc: Tally,
    /// Times given to chunks' leading undated failures (see [`Tally::merge_chunk_split`]).
    late: IpTable,
}

impl OrderedMerge {
    fn new(acc: Tally) -> OrderedMerge {
        OrderedMerge {
            next: 0,
            pending: BTreeMap::new(),
            acc,
            late: IpTable::default(),
        }
    }

    fn push(&mut self, seq: usize, t: Tally) {
        self.pending.insert(seq, t);
        while let Some(t) = self.pending.remove(&self.next) {
            self.acc.merge_chunk_split(t, &mut self.late);
            self.next += 1;
        }
    }
}

/// The merged tally of one file: the chunks' tallies plus the per-IP tables of the workers
/// that scanned them.
fn finish(merger: Mutex<OrderedMerge>, tables: Mutex<Vec<IpTable>>, file: u32) -> Tally {
    let m = merger.into_inner().unwrap_or_else(|p| p.into_inner());
    let mut tables = tables.into_inner().unwrap_or_else(|p| p.into_inner());
    let mut acc = m.acc;
    // Absorb into the largest table: the others are smaller, or empty (a worker that saw
    // no failure).
    tables.sort_by_key(IpTable::len);
    let mut all = tables.pop().unwrap_or_default();
    for t in tables {
        all.absorb(t);
    }
    all.absorb(m.late);
    acc.add_ips(all, file);
    acc
}

/// Smallest chunk of the shrinking tail of [`split_chunks`].
const MIN_CHUNK: usize = 256 << 10;

/// Cuts `data` into `(start, end)` ranges of at most about `size` bytes, each ending just
/// after a newline (or at the end of the data). A line longer than `size` is one chunk.
///
/// Chunks shrink towards the end (to an eighth of what is left per thread, down to
/// [`MIN_CHUNK`]): threads take chunks in order, and with equal 4 MB chunks the thread
/// that took the last one finished up to a chunk's time (~3 ms of a 130 ms scan) after the
/// others, which waited idle.
pub fn split_chunks(data: &[u8], size: usize, threads: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::with_capacity(data.len() / size + 1);
    let mut start = 0;
    while start < data.len() {
        let end = next_chunk_end(data, start, size, threads);
        out.push((start, end));
        start = end;
    }
    out
}

/// The end of the chunk of [`split_chunks`] that starts at `start`.
fn next_chunk_end(data: &[u8], start: usize, size: usize, threads: usize) -> usize {
    let left = (data.len() - start) / (8 * threads.max(1));
    chunk_end(data, start, left.clamp(MIN_CHUNK.min(size), size))
}

/// The end of the piece of whole lines of about `size` bytes (at least 1) that starts at
/// `start`: just after the first newline at or beyond `start + size - 1`, or the end of
/// `data`. Cuts chunks ([`split_chunks`]) and a chunk's blocks ([`BLOCK`]).
fn chunk_end(data: &[u8], start: usize, size: usize) -> usize {
    let from = start.saturating_add(size - 1).min(data.len());
    memchr::memchr(b'\n', &data[from..]).map_or(data.len(), |i| from + i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The remembered IDs are those computed afresh, for thousands of IPv6 texts written in
    /// several ways (compressed, zero-padded, upper case, IPv4-mapped), repeated and
    /// colliding in the memo's slots.
    #[test]
    fn remembered_ipv6_ids_are_the_normal_form() {
        let mut ids = V6Ids::default();
        let mut fresh = String::new();
        let mut seed = 3u64;
        let mut hits = 0;
        let mut seen = std::collections::HashSet::new();
        for _ in 0..50_000 {
            let r = crate::testutil::lcg(&mut seed);
            // A pool larger than the memo, drawn unevenly, as attackers are.
            let n = (r >> 20) % if r & 1 == 0 { 64 } else { 20_000 };
            let text = match (r >> 40) % 4 {
                0 => format!("2001:db8::{n:x}"),
                1 => format!("2001:0DB8:0000:0000:0000:0000:0000:{n:04X}"),
                2 => format!("::ffff:10.0.{}.{}", n / 256 % 256, n % 256),
                _ => format!("2a0b:{n:x}::1"),
            };
            hits += usize::from(!seen.insert(text.clone()));
            fresh.clear();
            let want = normalised(&mut fresh, &text, AddrKind::Ip(Family::V6)).to_string();
            assert_eq!(ids.id(&text), want, "{text}");
        }
        assert!(hits > 10_000, "{hits} repeats");
    }

    #[test]
    fn blocks_end_after_newlines() {
        // A newline at `BLOCK - 1` ends the first block there; one before it does not.
        let data = [b"x".repeat(BLOCK - 1), b"\n".to_vec(), b"ab\ncd".to_vec()].concat();
        assert_eq!(chunk_end(&data, 0, BLOCK), BLOCK);
        assert_eq!(chunk_end(&data, 1, BLOCK), BLOCK + 3);
        assert_eq!(chunk_end(&data, BLOCK + 3, BLOCK), data.len());
        let long = [b"y".repeat(3 * BLOCK), b"\nz".to_vec()].concat();
        assert_eq!(chunk_end(&long, 0, BLOCK), 3 * BLOCK + 1);
        assert_eq!(chunk_end(b"", 0, BLOCK), 0);
    }

    #[test]
    fn chunks_shrink_towards_the_end() {
        let line = [b"x".repeat(99), b"\n".to_vec()].concat();
        let data = line.repeat(200_000); // 20 MB
        let size = 1 << 20;
        let ch = split_chunks(&data, size, 2);
        let lens: Vec<usize> = ch.iter().map(|&(a, b)| b - a).collect();
        assert!(lens[0] >= size && lens[0] < size + 100, "{lens:?}");
        // Each chunk is at most the one before (give or take the line that ends it), the
        // last ones are the smallest allowed, and all cover the data.
        for w in lens.windows(2) {
            assert!(w[1] <= w[0] + 100, "{lens:?}");
        }
        let tail = &lens[lens.len() - 3..lens.len() - 1];
        assert!(tail.iter().all(|&n| n < MIN_CHUNK + 100), "{lens:?}");
        assert_eq!(lens.iter().sum::<usize>(), data.len());
        // One thread shrinks later than two.
        assert!(split_chunks(&data, size, 1).len() < ch.len());
    }

    #[test]
    fn chunks_end_after_newlines_and_cover_everything() {
        let data = b"aaa\nbb\n\nccccc\nd";
        for size in 1..20 {
            let ch = split_chunks(data, size, 1 + size % 3);
            assert_eq!(ch.first().unwrap().0, 0);
            assert_eq!(ch.last().unwrap().1, data.len());
            for w in ch.windows(2) {
                assert_eq!(w[0].1, w[1].0);
                assert_eq!(data[w[0].1 - 1], b'\n', "size {size}: {ch:?}");
            }
        }
    }
}
