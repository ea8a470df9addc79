//! The matching engine: every prefregex, failregex and ignoreregex of every filter in one
//! `regex_automata::meta::Regex` (one `PatternID` each, `which_overlapping_matches`), exact
//! verification and captures only on candidate lines, and fail2ban's `findFailure` for
//! single-line buffers (spec 2.4, 5.4).
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
//! Stateless per line except for one fail2ban quirk: when the ignore pre-check drops a line,
//! fail2ban-regex reports the prefregex result of the *previous* line
//! ([`LineOutcome::prefregex_matched`]); the cache remembers it. Multi-line buffering
//! (`maxlines > 1`) and mlfid merging are not implemented: `build` rejects `maxlines > 1`, and
//! a failure whose only ID is an `mlfid` (fail2ban: "pending") produces nothing.

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
    /// Offline: a name that is not a plain IPv4 address gives no failure, and the line is
    /// missed. This is what fail2ban does when the name does not resolve.
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
    pub maxlines: usize,
    /// Capture the prefregex groups of every line it matches (`fail2ban-regex -v` prints
    /// them); otherwise they are captured only when a failregex may match.
    pub pref_groups: bool,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            usedns: UseDns::Warn,
            dns: DnsMode::Unresolved,
            check_all: true,
            maxlines: 1,
            pref_groups: false,
        }
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
}

impl LineOutcome {
    fn reset(&mut self, filters: usize) {
        self.prefregex_matched.clear();
        self.prefregex_matched.resize(filters, false);
        self.pref_groups.clear();
        self.pref_groups.resize(filters, Vec::new());
        self.failures.clear();
        self.ignore_hits.clear();
    }
}

/// One entry of fail2ban's failure list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub filter: usize,
    /// 0-based failregex index.
    pub regex: usize,
    /// The ticket ID (normalised address, subnet, raw name or failure ID).
    pub id: String,
    /// Ticket data in Python dict order, as `-o row` prints it (`matches` left out).
    pub data: Vec<(String, Option<String>)>,
    pub nofail: bool,
}

/// One compiled Python regex with its exact matchers.
#[derive(Debug)]
struct Rx {
    tr: Translated,
    /// Exact when the pattern is regular (and, with `\b`, on ASCII haystacks).
    regular: Option<meta::Regex>,
    /// `regular` restricted to ASCII (see [`super::fastpath`]): exact on ASCII haystacks, and
    /// much smaller and faster.
    ascii: Option<meta::Regex>,
    /// The ASCII variant split before a `(.+)$` tail, for single-line ASCII haystacks.
    tail: Option<Tail>,
    /// Exact always; built when the pattern is not regular or has `\b`.
    fancy: Option<fancy_regex::Regex>,
    names: Vec<(usize, String)>,
}

impl Rx {
    fn new(python: &str, multiline: bool) -> Result<Rx, String> {
        let tr =
            translate(python, multiline).map_err(|e| format!("{}: {}", e.construct, e.message))?;
        let (regular, (ascii, tail)) = if tr.is_regular() {
            let s = tr.emit(Target::Regular).map_err(|e| e.to_string())?;
            let re = meta::Regex::new(&s).map_err(|e| format!("regex-automata: {e}"))?;
            (Some(re), ascii_regexes(&s))
        } else {
            (None, (None, None))
        };
        let fancy = if !tr.is_regular() || tr.has_word_boundary {
            let s = tr.emit(Target::Fancy).map_err(|e| e.to_string())?;
            let re = fancy_regex::RegexBuilder::new(&s)
                .backtrack_limit(50_000_000)
                .build()
                .map_err(|e| format!("{} (fancy-regex: {e})", tr.non_regular.join(", ")))?;
            Some(re)
        } else {
            None
        };
        let names = tr.names().map(|(i, n)| (i, n.to_string())).collect();
        Ok(Rx {
            tr,
            regular,
            ascii,
            tail,
            fancy,
            names,
        })
    }

    /// The exact regular matcher for `hay` and its cache, or `None` when only fancy-regex
    /// is exact there.
    fn pick<'a>(
        &'a self,
        c: &'a mut RxCache,
        ascii: bool,
    ) -> Option<(&'a meta::Regex, &'a mut meta::Cache, &'a mut Captures)> {
        let regular = self.regular.as_ref()?;
        if let (true, Some(a)) = (ascii, &self.ascii) {
            let (cache, caps) = c
                .ascii
                .get_or_insert_with(|| (a.create_cache(), a.create_captures()));
            return Some((a, cache, caps));
        }
        if self.tr.has_word_boundary && !ascii {
            return None;
        }
        Some((regular, &mut c.cache, &mut c.caps))
    }

    /// The tail split applies to `hay` (`ascii` = `hay.is_ascii()`).
    fn tail_for(&self, hay: &str, ascii: bool) -> Option<&Tail> {
        let t = self.tail.as_ref()?;
        let text = hay.strip_suffix('\n')?;
        (ascii && memchr::memchr(b'\n', text.as_bytes()).is_none()).then_some(t)
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
                .fancy
                .as_ref()
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
            let Some(f) = &self.fancy else { return false };
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

/// The ASCII-only variant of an exact Rust pattern and its tail split; `None` when they
/// cannot be built (the full regex is then used).
fn ascii_regexes(pattern: &str) -> (Option<meta::Regex>, Option<Tail>) {
    let Ok(hir) = regex_syntax::ParserBuilder::new().build().parse(pattern) else {
        return (None, None);
    };
    let ascii = fastpath::ascii_only(&hir);
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

#[derive(Debug, Clone)]
struct RxCache {
    cache: meta::Cache,
    caps: Captures,
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
    /// `alt_X` groups: (group name, target name), sorted like fail2ban.
    alts: Vec<(String, String)>,
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
    stage2: Option<meta::Regex>,
}

/// Every filter's regexes compiled together. Immutable and `Sync`; use one
/// [`EngineCache`] per thread.
#[derive(Debug)]
pub struct Engine {
    rxs: Vec<Rx>,
    filters: Vec<FilterC>,
    combined: Option<meta::Regex>,
    opts: EngineOptions,
}

/// Per-thread scratch space: automaton caches, haystack buffers, capture spans.
#[derive(Debug, Clone)]
pub struct EngineCache {
    combined: Option<meta::Cache>,
    set: PatternSet,
    stage2: Vec<Option<(meta::Cache, PatternSet)>>,
    rx: Vec<RxCache>,
    buf: String,
    cbuf: String,
    spans: Vec<Option<(usize, usize)>>,
    pre_spans: Vec<Option<(usize, usize)>>,
    last_pref: Vec<bool>,
    last_pref_groups: Vec<Vec<(String, Option<String>)>>,
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
        if opts.maxlines > 1 {
            return Err(PatternError {
                filter: filters.first().map(|f| f.name.clone()).unwrap_or_default(),
                kind: RegexKind::Failregex,
                index: 0,
                regex: String::new(),
                message: format!(
                    "maxlines = {} (multi-line buffering) is not supported yet",
                    opts.maxlines
                ),
            });
        }
        let mut rxs = Vec::new();
        let mut patterns: Vec<String> = Vec::new();
        let mut out = Vec::new();
        for f in filters {
            let err = |kind, index, regex: &str, message: String| PatternError {
                filter: f.name.clone(),
                kind,
                index,
                regex: regex.to_string(),
                message,
            };
            let compile = |kind,
                           index,
                           regex: &str,
                           rxs: &mut Vec<Rx>|
             -> Result<(usize, String), PatternError> {
                let expanded = expand_tags(regex, opts.usedns)
                    .map_err(|e: TagError| err(kind, index, regex, e.to_string()))?;
                let rx = Rx::new(&expanded, false).map_err(|m| err(kind, index, regex, m))?;
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
                let mut alts: Vec<(String, String)> = rxs[id]
                    .names
                    .iter()
                    .filter_map(|(_, k)| alt_target(k).map(|n| (k.clone(), n)))
                    .collect();
                alts.sort();
                fc.fail.push(FailC {
                    rx: id,
                    stage1: patterns.len() - 1,
                    alts,
                });
            }
            for (i, r) in f.ignoreregex.iter().enumerate() {
                let (id, _) = compile(RegexKind::Ignoreregex, i + 1, r, &mut rxs)?;
                patterns.push(superset(&rxs[id], Target::Superset));
                fc.ign.push((id, patterns.len() - 1));
            }
            if fc.content.is_some() && !stage2.is_empty() {
                let re = build_set(&stage2).map_err(|e| {
                    err(
                        RegexKind::Failregex,
                        0,
                        "",
                        format!("combined automaton: {e}"),
                    )
                })?;
                fc.stage2 = Some(re);
            }
            out.push(fc);
        }
        let combined = if patterns.is_empty() {
            None
        } else {
            Some(build_set(&patterns).map_err(|e| PatternError {
                filter: String::new(),
                kind: RegexKind::Failregex,
                index: 0,
                regex: String::new(),
                message: format!("combined automaton: {e}"),
            })?)
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
            combined: self.combined.as_ref().map(|c| c.create_cache()),
            set: PatternSet::new(self.combined.as_ref().map_or(0, |c| c.pattern_len())),
            stage2: self
                .filters
                .iter()
                .map(|f| {
                    f.stage2
                        .as_ref()
                        .map(|r| (r.create_cache(), PatternSet::new(r.pattern_len())))
                })
                .collect(),
            rx: self
                .rxs
                .iter()
                .map(|r| match &r.regular {
                    Some(re) => RxCache {
                        cache: re.create_cache(),
                        caps: re.create_captures(),
                        ascii: None,
                        tail: None,
                    },
                    None => {
                        let re = meta::Regex::new("").expect("empty regex compiles");
                        RxCache {
                            cache: re.create_cache(),
                            caps: re.create_captures(),
                            ascii: None,
                            tail: None,
                        }
                    }
                })
                .collect(),
            buf: String::new(),
            cbuf: String::new(),
            spans: Vec::new(),
            pre_spans: Vec::new(),
            last_pref: vec![false; self.filters.len()],
            last_pref_groups: vec![Vec::new(); self.filters.len()],
        }
    }

    /// The prefregex after tag expansion, as fail2ban-regex prints it.
    pub fn expanded_prefregex(&self, filter: usize) -> Option<&str> {
        self.filters.get(filter)?.pref_expanded.as_deref()
    }

    pub fn filter_count(&self) -> usize {
        self.filters.len()
    }

    /// Runs every filter on one line. `text` is the line with the date text cut out
    /// (`before + after`), without the trailing newline.
    pub fn match_line(&self, cache: &mut EngineCache, text: &str, out: &mut LineOutcome) {
        out.reset(self.filters.len());
        cache.buf.clear();
        cache.buf.push_str(text);
        cache.buf.push('\n');
        cache.set.clear();
        if let (Some(re), Some(c)) = (&self.combined, cache.combined.as_mut()) {
            re.which_overlapping_matches_with(c, &Input::new(cache.buf.as_str()), &mut cache.set);
        }
        if cache.set.is_empty() {
            // No prefregex can match either (their supersets did not).
            cache.last_pref.iter_mut().for_each(|p| *p = false);
            cache.last_pref_groups.iter_mut().for_each(Vec::clear);
            return;
        }
        for f in 0..self.filters.len() {
            self.filter_line(f, cache, out);
        }
    }

    fn filter_line(&self, fi: usize, cache: &mut EngineCache, out: &mut LineOutcome) {
        let f = &self.filters[fi];
        let check_all = self.opts.check_all;
        let pre_check = !f.ign.is_empty() && f.ign.len() + 2 < f.fail.len();
        if pre_check {
            let mut found = false;
            for (i, &(rx, p)) in f.ign.iter().enumerate() {
                if cache.set.contains(pid(p))
                    && self.rxs[rx].is_match(&mut cache.rx[rx], &cache.buf)
                {
                    out.ignore_hits.push((fi, i));
                    found = true;
                    if !check_all {
                        break;
                    }
                }
            }
            if found {
                // fail2ban-regex asks the prefregex object, which still holds the previous
                // line's result.
                out.prefregex_matched[fi] = cache.last_pref[fi];
                out.pref_groups[fi] = cache.last_pref_groups[fi].clone();
                return;
            }
        }
        let mut use_content = false;
        let mut have_pre = false;
        if let Some((prx, pp)) = f.pref {
            let candidate = cache.set.contains(pid(pp));
            let any_fail = f.fail.iter().any(|fc| cache.set.contains(pid(fc.stage1)));
            let matched = if !candidate {
                false
            } else if any_fail || self.opts.pref_groups {
                let (rx, buf, spans) = (&self.rxs[prx], &cache.buf, &mut cache.pre_spans);
                have_pre = rx.captures(&mut cache.rx[prx], buf, spans);
                have_pre
            } else {
                self.rxs[prx].is_match(&mut cache.rx[prx], &cache.buf)
            };
            cache.last_pref[fi] = matched;
            out.prefregex_matched[fi] = matched;
            if self.opts.pref_groups {
                let groups: Vec<(String, Option<String>)> = if matched {
                    self.rxs[prx]
                        .names
                        .iter()
                        .map(|(g, name)| {
                            let v = cache.pre_spans.get(*g).copied().flatten();
                            (name.clone(), v.map(|(s, e)| cache.buf[s..e].to_string()))
                        })
                        .collect()
                } else {
                    Vec::new()
                };
                cache.last_pref_groups[fi] = groups.clone();
                out.pref_groups[fi] = groups;
            }
            if !matched || !any_fail {
                return;
            }
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
                            re.which_overlapping_matches_with(
                                c,
                                &Input::new(cache.cbuf.as_str()),
                                set,
                            );
                        }
                    }
                }
            }
        }
        for (j, fc) in f.fail.iter().enumerate() {
            let candidate = if use_content {
                cache.stage2[fi]
                    .as_ref()
                    .is_some_and(|(_, set)| set.contains(pid(j)))
            } else {
                cache.set.contains(pid(fc.stage1))
            };
            if !candidate {
                continue;
            }
            let hay: &str = if use_content { &cache.cbuf } else { &cache.buf };
            let rx = &self.rxs[fc.rx];
            if !rx.captures(&mut cache.rx[fc.rx], hay, &mut cache.spans) {
                continue;
            }
            if !pre_check && !f.ign.is_empty() {
                let mut found = false;
                for (i, &(irx, _)) in f.ign.iter().enumerate() {
                    if self.rxs[irx].is_match(&mut cache.rx[irx], hay) {
                        out.ignore_hits.push((fi, i));
                        found = true;
                        if !check_all {
                            break;
                        }
                    }
                }
                if found {
                    if !check_all {
                        break;
                    }
                    continue;
                }
            }
            let mut data: Vec<(String, Option<String>)> = Vec::new();
            if have_pre {
                let prx = &self.rxs[f.pref.map_or(0, |p| p.0)];
                for (g, name) in &prx.names {
                    if name == "content" {
                        continue;
                    }
                    let v = cache
                        .pre_spans
                        .get(*g)
                        .copied()
                        .flatten()
                        .map(|(s, e)| cache.buf[s..e].to_string());
                    data.push((name.clone(), v));
                }
            }
            let mut fail: Vec<(String, Option<String>)> = rx
                .names
                .iter()
                .map(|(g, name)| {
                    (
                        name.clone(),
                        cache
                            .spans
                            .get(*g)
                            .copied()
                            .flatten()
                            .map(|(s, e)| hay[s..e].to_string()),
                    )
                })
                .collect();
            for (k, n) in &fc.alts {
                let v = get(&fail, k).filter(|v| !v.is_empty()).map(str::to_string);
                if v.is_some() && get(&fail, n).is_none_or_empty() {
                    set(&mut fail, n, v);
                }
            }
            for (k, v) in fail {
                set(&mut data, &k, v);
            }
            let produced = self.select_ids(fi, j, data, out);
            if produced.is_none() {
                // fail2ban raises inside the loop (no failure ID), logs it and goes on.
                continue;
            }
            if !check_all {
                break;
            }
        }
    }

    /// fail2ban's ID selection (spec 2.4 step 5-6). Returns `None` when fail2ban raises
    /// (no ID group has a value) or the failure is pending (mlfid only).
    fn select_ids(
        &self,
        fi: usize,
        j: usize,
        mut data: Vec<(String, Option<String>)>,
        out: &mut LineOutcome,
    ) -> Option<()> {
        let raw_mode = self.opts.usedns == UseDns::Raw || self.opts.dns == DnsMode::Raw;
        let fid = get(&data, "fid").map(str::to_string);
        let nofail = get(&data, "nofail").is_some_and(|v| !v.is_empty());
        let push = |id: String, data: Vec<(String, Option<String>)>, out: &mut LineOutcome| {
            out.failures.push(Failure {
                filter: fi,
                regex: j,
                id,
                data,
                nofail,
            });
        };
        let as_id = |s: &str| {
            if raw_mode {
                s.to_string()
            } else {
                ipaddr::addr_unspec(s)
            }
        };
        let (ip, addr) = if let Some(ip) = get(&data, "ip4") {
            let a = ipaddr::addr_of_family(ip, Family::V4, get(&data, "cidr"));
            (ip.to_string(), a)
        } else if let Some(ip) = get(&data, "ip6") {
            let a = ipaddr::addr_of_family(ip, Family::V6, get(&data, "cidr"));
            (ip.to_string(), a)
        } else if let Some(dns) = get(&data, "dns") {
            let dns = dns.to_string();
            if raw_mode {
                (dns.clone(), dns)
            } else {
                for id in self.text_to_ip(&dns) {
                    push(id, data.clone(), out);
                }
                return Some(());
            }
        } else {
            let fid = fid.clone()?;
            let a = as_id(&fid);
            (fid, a)
        };
        let id = match &fid {
            Some(f) if *f != ip => {
                set(&mut data, "ip", Some(addr));
                as_id(f)
            }
            _ => addr,
        };
        push(id, data, out);
        Some(())
    }

    /// fail2ban's `textToIp`: a plain IPv4 address, else (usedns yes/warn) a DNS query.
    fn text_to_ip(&self, name: &str) -> Vec<String> {
        if let Some(ip) = ipaddr::plain_ipv4(name) {
            return vec![ip];
        }
        if self.opts.dns != DnsMode::Resolve
            || !matches!(self.opts.usedns, UseDns::Yes | UseDns::Warn)
        {
            return Vec::new();
        }
        use std::net::ToSocketAddrs;
        let Ok(addrs) = (name, 0u16).to_socket_addrs() else {
            return Vec::new();
        };
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for a in addrs {
            match a.ip() {
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

fn pid(i: usize) -> PatternID {
    PatternID::new_unchecked(i)
}

/// `alt_user_1` → `user` (fail2ban's `COMPLNAME_CRE` with `mapTag2Opt`).
fn alt_target(name: &str) -> Option<String> {
    let rest = name.strip_prefix("alt_")?;
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

fn get<'a>(d: &'a [(String, Option<String>)], k: &str) -> Option<&'a str> {
    d.iter()
        .find(|(n, _)| n == k)
        .and_then(|(_, v)| v.as_deref())
}

trait EmptyOpt {
    fn is_none_or_empty(&self) -> bool;
}

impl EmptyOpt for Option<&str> {
    fn is_none_or_empty(&self) -> bool {
        self.map_or(true, |s| s.is_empty())
    }
}

/// Python `dict[k] = v`: replaces in place, or appends.
fn set(d: &mut Vec<(String, Option<String>)>, k: &str, v: Option<String>) {
    match d.iter_mut().find(|(n, _)| n == k) {
        Some(e) => e.1 = v,
        None => d.push((k.to_string(), v)),
    }
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
        assert_eq!(get(&f.data, "ip"), Some("1.2.3.4"));
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
        assert_eq!(alt_target("alt_user_1").as_deref(), Some("user"));
        assert_eq!(alt_target("alt_id").as_deref(), Some("fid"));
        assert_eq!(alt_target("user"), None);
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
