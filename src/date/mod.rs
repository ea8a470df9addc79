//! Date detection, exactly as fail2ban 1.0.2 does it (spec section 4): the template list built
//! from a `datepattern` (or the 31 defaults), the stateful detector that tries the last winning
//! template first and reorders its list, year/day inference, time zones.
//!
//! Layout: [`template`] builds each template's regex and name; [`convert`] turns matched
//! fields into a Unix time; [`tz`] parses fixed-offset zones; [`fast`] is a hand-written
//! matcher for the hot Asterisk/syslog templates that agrees with the fancy-regex reference.
//! Positions kept in the detector state are *character* indices, as in Python, so that lines
//! with non-ASCII text before the date behave the same.

mod convert;
mod fast;
mod template;
mod tz;

#[cfg(test)]
pub(crate) mod oracle;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use convert::{Converter, Fields};
use template::{BuildCtx, Compile, Kind, Template, LINE_BEGIN};

pub use tz::parse_timezone;

/// Errors from building a date detector or parsing a time zone.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DateError {
    /// fail2ban-regex: `ERROR: Unknown or unsupported time zone: 'Europe/Berlin'`, exit 255.
    #[error("Unknown or unsupported time zone: '{0}'")]
    UnknownTimeZone(String),
    /// A well-formed abbreviation missing from fail2ban's table. Python raises a KeyError, so
    /// fail2ban-regex prints just `ERROR: 'ABC'` (exit 255).
    #[error("'{0}'")]
    UnknownTimeZoneAbbreviation(String),
    /// A `%` that starts no directive, or similar (fail2ban raises the same message).
    #[error("Failed to set datepattern '{pattern}' (may be an invalid format or unescaped percent char): {reason}")]
    InvalidPattern { pattern: String, reason: String },
    /// The built regex does not compile.
    #[error("Compile {name:?} failed: {reason}")]
    Regex { name: String, reason: String },
    /// Two templates with the same name in one datepattern.
    #[error("There is already a template with name {0}")]
    Duplicate(String),
}

/// Inputs of the time conversion that do not come from the log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateOptions {
    /// Unix seconds: the wall clock, or a fixed `--now` for tests. Drives year inference and
    /// the `%ExY` year range.
    pub now: i64,
    /// Fixed offset in seconds east of UTC from `--timezone`; None = the process's local time
    /// zone (TZ env), as fail2ban's `mktime`.
    pub default_tz: Option<i32>,
}

/// The date found in one line.
///
/// What the caller still does, as fail2ban's `Filter.processLine` (spec 2.3, 4.8): cut
/// `start..end` out of the line; for an empty date text use "now"; when `time` is None (or no
/// date was found), fail2ban-regex falls back to the previous line's date, *without* cutting,
/// if that date is later than now − 60 s, and otherwise reports the failure with no time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DateMatch {
    /// Byte range of the date text (capture group 1); the caller cuts it out of the line.
    /// `start == end` means the template matched an empty date (e.g. `{NONE}`): fail2ban then
    /// uses "now" (or the previous date if recent).
    pub start: usize,
    pub end: usize,
    /// None for an impossible date (Feb 30, hour 24, unknown zone, …): the text is still cut.
    pub time: Option<f64>,
    /// Stable template id (index into [`DateDetector::names_by_id`]).
    pub template: usize,
}

/// fail2ban's per-detector template entry (`DateDetectorTemplate`).
#[derive(Debug, Clone)]
struct Entry {
    id: usize,
    hits: u64,
    /// fail2ban compares `lastUsed` with "5 minutes ago" on the wall clock; within one run
    /// that only distinguishes never-used templates.
    used: bool,
    distance: i64,
}

/// Position memory of the last winning match: (char index, char before, char at).
type Pos = (i64, Option<char>, Option<char>);

/// A remembered answer of [`fast::match_common`] for template `id` and its time.
#[derive(Debug, Clone, Copy)]
struct FastMemo {
    key: [u64; 3],
    /// The mask of the key's third word.
    mask: u64,
    /// The key's mask without the two digits of the second (see [`fast::minute_mask`]).
    minute_mask: [u64; 3],
    id: usize,
    end: usize,
    g1: (usize, usize),
    /// What the parse read.
    fields: Fields,
    time: Option<f64>,
}

impl FastMemo {
    /// The answer for a line with this memo's key.
    #[inline(always)]
    fn answer(&self) -> DateMatch {
        let (start, end) = self.g1;
        DateMatch {
            start,
            end,
            time: if start == end { None } else { self.time },
            template: self.id,
        }
    }
}

/// Stateful date detector (fail2ban's `DateDetector`). Clone it for parallel chunks; merge
/// hit counts with [`DateDetector::hits_by_id`].
#[derive(Clone)]
pub struct DateDetector {
    templates: Arc<Vec<Template>>,
    order: Vec<Entry>,
    /// Per template id: successful regex searches (fail2ban's `template.hits`, which differs
    /// from the per-entry win count and steers the search loop).
    raw_hits: Vec<u64>,
    last_pos: Pos,
    last_end: Pos,
    last_idx: usize,
    first_unused: usize,
    conv: Converter,
    years: fast::Years,
    /// The last answer of the hand-written matcher's common shapes, by the bytes it
    /// depends on (see [`fast::memo_key`]): consecutive lines of a busy log mostly carry
    /// the same second, and those lines then skip the parse and the time conversion.
    memo: Option<FastMemo>,
    /// The last line matched `memo`: the state is what [`Self::fast_win`] leaves for any
    /// line with `memo`'s key (it reads only bytes of the key, the first one, the date and
    /// the ASCII byte after it), so the next such line only adds to the hit counters.
    settled: bool,
    /// Searches answered by the hand-written matcher (tests check the hot path is taken).
    #[cfg(test)]
    fast_answers: u64,
    /// Of those, the answers from the memo's minute (tests check that path is taken).
    #[cfg(test)]
    minute_answers: u64,
}

/// Builds the template list like fail2ban's `appendTemplate`/`addDefaultTemplate`, with a
/// pattern cache keyed like `DD_patternCache` so equal keys share one template.
struct Builder {
    ctx: BuildCtx,
    templates: Vec<Template>,
    cache: HashMap<String, usize>,
    names: HashSet<String>,
    order: Vec<usize>,
    defaults: Option<(Vec<usize>, Vec<usize>)>,
}

fn cache_key(pattern: &str) -> String {
    if pattern.contains('%') {
        pattern.to_string()
    } else {
        pattern.to_uppercase()
    }
}

impl Builder {
    fn new(ctx: BuildCtx) -> Self {
        Builder {
            ctx,
            templates: Vec::new(),
            cache: HashMap::new(),
            names: HashSet::new(),
            order: Vec::new(),
            defaults: None,
        }
    }

    /// The template for `pattern` (cached by `key`). `when`: [`Compile::Lazy`] only for the
    /// built-in defaults, whose regexes are known to compile; anything derived from a user's
    /// datepattern is compiled now so that an error surfaces while building.
    fn get_pattern(
        &mut self,
        pattern: &str,
        key: Option<&str>,
        when: Compile,
    ) -> Result<usize, DateError> {
        let key = key
            .map(str::to_string)
            .unwrap_or_else(|| cache_key(pattern));
        if let Some(&id) = self.cache.get(&key) {
            return Ok(id);
        }
        let t = template::pattern_template(pattern, &self.ctx, when)?;
        self.templates.push(t);
        let id = self.templates.len() - 1;
        self.cache.insert(key, id);
        Ok(id)
    }

    /// fail2ban's `_getAnchoredTemplate`: a copy of template `id` whose pattern (or, for
    /// EPOCH/TAI64N, name) is rewritten by `wrap`.
    fn wrapped(
        &mut self,
        id: usize,
        wrap: &dyn Fn(&str) -> String,
        when: Compile,
    ) -> Result<usize, DateError> {
        let t = &self.templates[id];
        let name = wrap(&t.name);
        match t.pattern.clone() {
            Some(p) => self.get_pattern(&wrap(&p), None, when),
            None => self.get_pattern(&name, None, when),
        }
    }

    /// (the 17 defaults, the 31-entry list with anchored copies first)
    fn defaults(&mut self) -> Result<(Vec<usize>, Vec<usize>), DateError> {
        if let Some(d) = &self.defaults {
            return Ok(d.clone());
        }
        let mut plain = Vec::new();
        let mut anchored = Vec::new();
        for p in template::DEFAULT_PATTERNS {
            let id = self.get_pattern(p, None, Compile::Lazy)?;
            let name = self.templates[id].name.clone();
            if !name.starts_with("{^LN-BEG}") && !name.starts_with('^') {
                let a = self.wrapped(id, &|s| format!("{{^LN-BEG}}{s}"), Compile::Lazy)?;
                if self.templates[a].name != name {
                    self.templates[a].weight = 100.0;
                    anchored.push(a);
                }
            }
            plain.push(id);
        }
        let mut all = anchored;
        all.extend(plain.iter().copied());
        self.defaults = Some((plain.clone(), all.clone()));
        Ok((plain, all))
    }

    fn append(&mut self, id: usize, ignore_dup: bool) -> Result<(), DateError> {
        let name = &self.templates[id].name;
        if self.names.contains(name) {
            if ignore_dup {
                return Ok(());
            }
            return Err(DateError::Duplicate(name.clone()));
        }
        self.names.insert(name.clone());
        self.order.push(id);
        Ok(())
    }

    /// `addDefaultTemplate(filter, preMatch, allDefaults)`.
    fn add_defaults(
        &mut self,
        only_line_begin: bool,
        pre: Option<&str>,
        all: bool,
    ) -> Result<(), DateError> {
        let ignore_dup = !self.order.is_empty();
        let (plain, every) = self.defaults()?;
        for id in if all { every } else { plain } {
            if only_line_begin && self.templates[id].flags & LINE_BEGIN == 0 {
                continue;
            }
            let id = match pre {
                // The user's `{DATE}` context can break the regex: compile now.
                Some(pre) => self.wrapped(
                    id,
                    &|s| template::replace_date_placeholder(pre, &template::unbound_pattern(s)),
                    Compile::Eager,
                )?,
                None => id,
            };
            self.append(id, ignore_dup)?;
        }
        Ok(())
    }

    /// `appendTemplate(str)`.
    fn append_str(&mut self, pattern: &str) -> Result<(), DateError> {
        let key = cache_key(pattern);
        let id = match self.cache.get(&key) {
            Some(&id) => id,
            None => {
                if key == "{^LN-BEG}" {
                    return self.add_defaults(true, None, true);
                }
                if key == "{DEFAULT}" {
                    // fail2ban's filter lambda returns None for `{DEFAULT}`, which drops every
                    // template; the list is then filled lazily only if it stays empty.
                    return Ok(());
                }
                if key.contains("{DATE}") {
                    return self.add_defaults(false, Some(pattern), false);
                }
                if key == "{NONE}" {
                    self.get_pattern("{UNB}^", Some(&key), Compile::Eager)?
                } else {
                    self.get_pattern(pattern, Some(&key), Compile::Eager)?
                }
            }
        };
        self.cache.insert(key, id);
        self.append(id, false)
    }
}

/// Splits a datepattern value like fail2ban: on newlines, stripped, empty lines dropped.
fn split_patterns(p: &str) -> impl Iterator<Item = &str> {
    p.split('\n').map(str::trim).filter(|s| !s.is_empty())
}

fn build(datepattern: Option<&str>, ctx: BuildCtx, lazy: bool) -> Result<Builder, DateError> {
    let mut b = Builder::new(ctx);
    if let Some(p) = datepattern {
        for line in split_patterns(p) {
            b.append_str(line)?;
        }
    }
    if lazy && b.order.is_empty() {
        b.add_defaults(false, None, true)?;
    }
    Ok(b)
}

/// The text fail2ban-regex prints after `Use      datepattern : ` for a `-d` value or filter
/// datepattern, e.g. `{^LN-BEG} : Default Detectors`.
pub fn describe_datepattern(p: &str) -> Result<String, DateError> {
    let year = convert::local_naive(chrono::Utc::now().timestamp());
    let b = build(Some(p), BuildCtx::new(chrono::Datelike::year(&year)), false)?;
    let name = if b.order.is_empty() || b.order.len() > 2 {
        "Default Detectors".to_string()
    } else {
        b.templates[b.order[0]].name.clone()
    };
    Ok(format!("{p} : {name}"))
}

/// Python-style character helpers on one line, cheap for ASCII lines.
struct LineChars<'a> {
    s: &'a str,
    ascii: bool,
}

impl<'a> LineChars<'a> {
    fn new(s: &'a str) -> Self {
        LineChars {
            s,
            ascii: s.is_ascii(),
        }
    }
    fn nchars(&self) -> i64 {
        if self.ascii {
            self.s.len() as i64
        } else {
            self.s.chars().count() as i64
        }
    }
    /// `line[k:k+1]` (None = empty string, including for k < 0).
    fn slice(&self, k: i64) -> Option<char> {
        if k < 0 {
            return None;
        }
        if self.ascii {
            self.s.as_bytes().get(k as usize).map(|b| *b as char)
        } else {
            self.s.chars().nth(k as usize)
        }
    }
    /// `line[k]` with Python's negative indexing.
    fn index(&self, k: i64) -> Option<char> {
        if k < 0 {
            let n = self.nchars();
            self.slice(n + k)
        } else {
            self.slice(k)
        }
    }
    fn char_idx(&self, byte: usize) -> i64 {
        if self.ascii {
            byte as i64
        } else {
            self.s[..byte].chars().count() as i64
        }
    }
    fn byte_of(&self, k: i64) -> usize {
        let k = k.max(0) as usize;
        if self.ascii {
            k.min(self.s.len())
        } else {
            self.s
                .char_indices()
                .nth(k)
                .map(|(b, _)| b)
                .unwrap_or(self.s.len())
        }
    }
}

fn py_isalnum(c: Option<char>) -> bool {
    c.is_some_and(char::is_alphanumeric)
}

/// How the fields of a match are read.
enum Data<'t> {
    Fast(Fields),
    Re(fancy_regex::Captures<'t>),
}

/// One successful search: group 0 and group 1 as byte ranges.
struct Found<'t> {
    s0: usize,
    e0: usize,
    g1: Option<(usize, usize)>,
    data: Data<'t>,
}

impl DateDetector {
    /// Builds a detector. `None` = fail2ban's default 31 templates; `Some(p)` = a datepattern
    /// value (may be several lines; `{^LN-BEG}`, `{DEFAULT}`, `{DATE}`, `{NONE}`, EPOCH,
    /// LEPOCH, TAI64N, `%`-patterns, `{UNB}`, `**`).
    pub fn new(datepattern: Option<&str>, opts: DateOptions) -> Result<Self, DateError> {
        let conv = Converter::new(opts.now, opts.default_tz);
        let year = chrono::Datelike::year(&conv.now_local());
        let years = fast::Years::new(&template::year_prefixes(year));
        let b = build(datepattern, BuildCtx::new(year), true)?;
        let n = b.templates.len();
        Ok(DateDetector {
            order: b
                .order
                .iter()
                .map(|&id| Entry {
                    id,
                    hits: 0,
                    used: false,
                    distance: 0x7fff_ffff,
                })
                .collect(),
            templates: Arc::new(b.templates),
            raw_hits: vec![0; n],
            last_pos: (1, None, None),
            last_end: (0x7fff_ffff, None, None),
            last_idx: usize::MAX,
            first_unused: 0,
            conv,
            years,
            memo: None,
            settled: false,
            #[cfg(test)]
            fast_answers: 0,
            #[cfg(test)]
            minute_answers: 0,
        })
    }

    /// Searches template `id` in `line[..to]` from byte `from` (Python `search(line, pos,
    /// endpos)`), through the fast matcher when it applies.
    fn search<'t>(
        &mut self,
        id: usize,
        line: &'t str,
        from: usize,
        to: usize,
    ) -> Option<Found<'t>> {
        let t = &self.templates[id];
        if from == 0 && to == line.len() {
            if let Some(kind) = t.fast {
                let answer = fast::match_line(kind, line, &self.years);
                #[cfg(test)]
                if answer != fast::Fast::Decline {
                    self.fast_answers += 1;
                }
                match answer {
                    fast::Fast::Match { end, g1, fields } => {
                        self.raw_hits[id] += 1;
                        return Some(Found {
                            s0: 0,
                            e0: end,
                            g1: Some(g1),
                            data: Data::Fast(fields),
                        });
                    }
                    fast::Fast::NoMatch => return None,
                    fast::Fast::Decline => {}
                }
            }
        }
        let f = Self::regex_search(t, line, from, to)?;
        self.raw_hits[id] += 1;
        Some(f)
    }

    /// The reference path: fancy-regex on the Python regex.
    fn regex_search<'t>(t: &Template, line: &'t str, from: usize, to: usize) -> Option<Found<'t>> {
        if from > to {
            return None;
        }
        // A backtrack-limit error counts as "no match" rather than aborting the scan.
        let caps = t
            .regex()?
            .captures_from_pos(&line[..to], from)
            .ok()
            .flatten()?;
        let g0 = caps.get(0)?;
        Some(Found {
            s0: g0.start(),
            e0: g0.end(),
            g1: caps.get(1).map(|m| (m.start(), m.end())),
            data: Data::Re(caps),
        })
    }

    /// Finds the date of one line, updating the detector state like fail2ban's `matchTime`.
    ///
    /// Inlined into the scan loop for its most common case, a line with the key of the
    /// line before it (see [`Self::settled`]): three words compared under the memo's mask.
    #[inline(always)]
    pub fn detect(&mut self, line: &str) -> Option<DateMatch> {
        match self.peek_again(line.as_bytes()) {
            Some(m) => {
                self.count_again(&m);
                Some(m)
            }
            None => self.detect_step(line),
        }
    }

    /// [`Self::detect`]'s answer when it is the common one (the line has the key of the
    /// line before it, see [`Self::settled`]), without counting it; `None` otherwise. The
    /// scan peeks to decide a line it can pass over, and then counts it with
    /// [`Self::count_again`] (or hands the line to [`Self::detect`]).
    #[inline(always)]
    pub fn peek_again(&self, line: &[u8]) -> Option<DateMatch> {
        let (true, Some(m), Some(w)) = (self.settled, &self.memo, fast::head_words(line)) else {
            return None;
        };
        if w[0] != m.key[0] || w[1] != m.key[1] || w[2] & m.mask != m.key[2] {
            return None;
        }
        // Settled: the memo is the last winner's, as when it was stored.
        debug_assert_eq!(self.order.get(self.last_idx).map(|e| e.id), Some(m.id));
        Some(m.answer())
    }

    /// Counts `m`, an answer of [`Self::peek_again`] for the line at hand, as
    /// [`Self::detect`] would have.
    #[inline(always)]
    pub fn count_again(&mut self, m: &DateMatch) {
        #[cfg(test)]
        {
            self.fast_answers += 1;
        }
        self.raw_hits[m.template] += 1;
        self.order[self.last_idx].hits += 1;
    }

    /// [`Self::detect`] in full.
    #[inline(never)]
    fn detect_step(&mut self, line: &str) -> Option<DateMatch> {
        // Hot path: the last winner is a template with a hand-written matcher (always
        // anchored), so the search starts and, on a match, ends with it.
        let mut last_missed = false;
        let settled = std::mem::replace(&mut self.settled, false);
        if let Some(entry) = self.order.get(self.last_idx) {
            let id = entry.id;
            if let Some(kind) = self.templates[id].fast {
                let key = fast::memo_key(kind, line.as_bytes());
                if let (Some((k, _)), Some(m)) = (key, &self.memo) {
                    // Word by word: an array compare reloads the key through the stack.
                    if k[0] == m.key[0] && k[1] == m.key[1] && k[2] == m.key[2] && m.id == id {
                        let m = *m;
                        self.settled = true;
                        if settled {
                            return Some(self.fast_again(m));
                        }
                        return Some(self.fast_win(id, line, m.end, m.g1, |_| m.time));
                    }
                    // The same bytes but the second (the next second of a busy log): the
                    // parse would read the same fields but the second, which the two digits
                    // before the date's end give (it accepts only 00-59 there).
                    let mm = &m.minute_mask;
                    if m.id == id
                        && k[0] & mm[0] == m.key[0] & mm[0]
                        && k[1] & mm[1] == m.key[1] & mm[1]
                        && k[2] & mm[2] == m.key[2] & mm[2]
                    {
                        if let Some(second) = fast::second_at(line.as_bytes(), m.end) {
                            let (end, g1, found) = (m.end, m.g1, m.answer());
                            let mut fields = m.fields;
                            fields.second = second;
                            let won = if settled {
                                // The state is what `fast_win` left for the memo's line, and
                                // of what it reads only the byte before the date's end (the
                                // second's last digit) differs.
                                let time = self.conv.unix_time(&fields);
                                self.count_again(&found);
                                self.last_end.1 = Some(char::from(line.as_bytes()[end - 1]));
                                DateMatch {
                                    time: if found.start == found.end { None } else { time },
                                    ..found
                                }
                            } else {
                                self.fast_win(id, line, end, g1, |c| c.unix_time(&fields))
                            };
                            // Updated in place: the memo is most of a cache line.
                            if let Some(memo) = &mut self.memo {
                                memo.key = k;
                                memo.fields.second = second;
                                memo.time = won.time;
                            }
                            self.settled = true;
                            #[cfg(test)]
                            {
                                self.minute_answers += 1;
                            }
                            return Some(won);
                        }
                    }
                }
                if let Some((start, end, fields)) = fast::match_common(kind, line, &self.years) {
                    let g1 = (start, end);
                    let won = self.fast_win(id, line, end, g1, |c| c.unix_time(&fields));
                    if let Some((key, mask)) = key {
                        self.memo = Some(FastMemo {
                            key,
                            mask,
                            minute_mask: fast::minute_mask(mask, end),
                            id,
                            end,
                            g1,
                            fields,
                            time: won.time,
                        });
                        self.settled = true;
                    }
                    return Some(won);
                }
                match fast::match_general(kind, line, &self.years) {
                    fast::Fast::Match { end, g1, fields } => {
                        return Some(self.fast_win(id, line, end, g1, |c| c.unix_time(&fields)));
                    }
                    fast::Fast::NoMatch => {
                        #[cfg(test)]
                        {
                            self.fast_answers += 1;
                        }
                        last_missed = true;
                    }
                    fast::Fast::Decline => {}
                }
            }
        }
        self.detect_general(line, last_missed)
    }

    /// [`Self::fast_win`] for a line with the key of `m` right after another one: only the
    /// counters change (most lines of a log, every line after the first of its second).
    #[inline(always)]
    fn fast_again(&mut self, m: FastMemo) -> DateMatch {
        let found = m.answer();
        self.count_again(&found);
        found
    }

    /// The state update and result of [`Self::detect_general`] for a match of the last
    /// winner (anchored, index `last_idx`) found by the hand-written matcher: group 0 is
    /// `0..end` and `line[..end]` is ASCII, so byte and character indices agree. `time`
    /// converts the match's fields (when group 1 is not empty).
    #[inline(always)]
    fn fast_win(
        &mut self,
        id: usize,
        line: &str,
        end: usize,
        g1: (usize, usize),
        time: impl FnOnce(&mut Converter) -> Option<f64>,
    ) -> DateMatch {
        #[cfg(test)]
        {
            self.fast_answers += 1;
        }
        self.raw_hits[id] += 1;
        let i = self.last_idx;
        let entry = &mut self.order[i];
        entry.hits += 1;
        entry.used = true;
        entry.distance = 0;
        if self.first_unused == i {
            self.first_unused += 1;
        }
        let b = line.as_bytes();
        self.last_pos = (0, None, b.first().map(|&c| char::from(c)));
        let e = end as i64;
        self.last_end = (
            e,
            end.checked_sub(1)
                .and_then(|k| b.get(k))
                .map(|&c| char::from(c)),
            line.get(end..).and_then(|r| r.chars().next()),
        );
        // The winner is the last winner: no reordering (fail2ban's `i != self.__lastTemplIdx`).
        let (start, stop) = g1;
        let time = if start == stop {
            None
        } else {
            time(&mut self.conv)
        };
        DateMatch {
            start,
            end: stop,
            time,
            template: id,
        }
    }

    /// The full `matchTime` loop. `last_missed`: the last winner (anchored) was already
    /// searched and did not match.
    fn detect_general(&mut self, line: &str, last_missed: bool) -> Option<DateMatch> {
        let lc = LineChars::new(line);
        let n = self.order.len();
        let len = line.len();
        let mut found: Option<(Found, i64, usize)> = None;
        let mut ignore = usize::MAX;
        let mut winner: Option<(Found, usize)> = None;

        let li = self.last_idx;
        if li < n && last_missed {
            ignore = li;
        } else if li < n {
            let id = self.order[li].id;
            let anchored = self.templates[id].anchored();
            let m = if anchored {
                ignore = li;
                self.search(id, line, 0, len)
            } else {
                let (d, e) = (self.last_pos.0, self.last_end.0);
                let left = lc.slice(d - 1) == self.last_pos.1
                    || (lc.slice(d) == self.last_pos.2 && !py_isalnum(self.last_pos.2));
                let right = lc.slice(e) == self.last_end.2
                    || (lc.slice(e - 1) == self.last_end.1 && !py_isalnum(self.last_end.1));
                if left && right {
                    self.search(id, line, lc.byte_of(d), lc.byte_of(e))
                } else {
                    ignore = li;
                    self.search(id, line, 0, len)
                }
            };
            if let Some(m) = m {
                let d = lc.char_idx(m.s0);
                let e = lc.char_idx(m.e0);
                if n == 1 || anchored || (d == self.last_pos.0 && e == self.last_end.0) {
                    winner = Some((m, li));
                } else {
                    found = Some((m, d, li));
                }
            }
        }

        if winner.is_none() {
            let mut i = 0;
            while i < n {
                if i == ignore {
                    i += 1;
                    continue;
                }
                let id = self.order[i].id;
                if let Some(m) = self.search(id, line, 0, len) {
                    let d = lc.char_idx(m.s0);
                    if i + 1 >= n || self.templates[id].anchored() {
                        winner = Some((m, i));
                        break;
                    }
                    if d == 0 && self.order[i].hits > 0 && self.raw_hits[self.order[i + 1].id] == 0
                    {
                        winner = Some((m, i));
                        break;
                    }
                    if d > self.order[i].distance || d > self.last_pos.0 {
                        if found.as_ref().is_none_or_lt(d) {
                            found = Some((m, d, i));
                        }
                        i += 1;
                        continue;
                    }
                    winner = Some((m, i));
                    break;
                }
                i += 1;
            }
            if winner.is_none() {
                winner = found.map(|(m, _, i)| (m, i));
            }
        }

        let (m, i) = winner?;
        let d = lc.char_idx(m.s0);
        let e = lc.char_idx(m.e0);
        let entry = &mut self.order[i];
        let id = entry.id;
        entry.hits += 1;
        entry.used = true;
        entry.distance = d;
        if self.first_unused == i {
            self.first_unused += 1;
        }
        self.last_pos = (d, lc.slice(d - 1), lc.slice(d));
        self.last_end = (e, lc.index(e - 1), lc.slice(e));
        let mut i = i;
        if i != 0 && i != self.last_idx {
            i = self.reorder(i);
        }
        self.last_idx = i;
        Some(self.finish(id, line, m))
    }

    /// Date text and time of the winning match.
    fn finish(&mut self, id: usize, line: &str, m: Found) -> DateMatch {
        let (start, end) = m.g1.unwrap_or((m.s0, m.s0));
        let time = if start == end {
            None
        } else {
            let t = &self.templates[id];
            match (&t.kind, &m.data) {
                (Kind::Pattern, Data::Fast(f)) => self.conv.unix_time(f),
                (Kind::Pattern, Data::Re(c)) => {
                    // `Data::Re` comes from this template's regex, so it is compiled.
                    let names = t
                        .regex()
                        .into_iter()
                        .flat_map(|r| r.capture_names().flatten());
                    let groups = names.filter_map(|n| c.name(n).map(|v| (n, v.as_str())));
                    let f = Fields::from_groups(groups);
                    self.conv.unix_time(&f)
                }
                (Kind::Epoch { long, group }, Data::Re(c)) => {
                    c.get(*group).and_then(|v| epoch_value(v.as_str(), *long))
                }
                (Kind::Tai64n, _) => {
                    let v = &line[start..end];
                    v.get(2..17)
                        .and_then(|h| i64::from_str_radix(h, 16).ok())
                        .map(|x| x as f64)
                }
                (Kind::Epoch { .. }, Data::Fast(_)) => None,
            }
        };
        DateMatch {
            start,
            end,
            time,
            template: id,
        }
    }

    /// fail2ban's `_reorderTemplate`: bubble the winner up depending on its weight.
    fn reorder(&mut self, num: usize) -> usize {
        let weight =
            |e: &Entry, t: &[Template]| e.hits as f64 * t[e.id].weight / (e.distance.max(1) as f64);
        let w = weight(&self.order[num], &self.templates);
        let mut pos = if self.first_unused < num {
            self.first_unused
        } else {
            num / 2
        };
        let moveable = |pos: usize, order: &[Entry]| {
            w > weight(&order[pos], &self.templates) || !order[pos].used
        };
        if !moveable(pos, &self.order) {
            if pos == num - 1 {
                return num;
            }
            pos = num - 1;
            if !moveable(pos, &self.order) {
                return num;
            }
        }
        let e = self.order.remove(num);
        self.order.insert(pos, e);
        while self.first_unused < self.order.len() && self.order[self.first_unused].hits > 0 {
            self.first_unused += 1;
        }
        pos
    }

    /// Every template with its hit count, in the detector's current order, named as
    /// fail2ban-regex prints them under "Date template hits".
    pub fn template_hits(&self) -> Vec<(String, u64)> {
        self.order
            .iter()
            .map(|e| (self.templates[e.id].name.clone(), e.hits))
            .collect()
    }

    /// Like [`Self::template_hits`], but with hit counts merged from several clones
    /// (`hits[id]`, e.g. the element-wise sum of their [`Self::hits_by_id`]), listed in this
    /// detector's current order.
    pub fn template_hits_with(&self, hits: &[u64]) -> Vec<(String, u64)> {
        self.order
            .iter()
            .map(|e| {
                let n = hits.get(e.id).copied().unwrap_or(0);
                (self.templates[e.id].name.clone(), n)
            })
            .collect()
    }

    /// Win counts indexed by template id (for merging clones; see [`Self::names_by_id`]).
    pub fn hits_by_id(&self) -> Vec<u64> {
        let mut v = vec![0; self.templates.len()];
        for e in &self.order {
            v[e.id] = e.hits;
        }
        v
    }

    /// Template names indexed by id (ids not in the list, e.g. cached helpers, included).
    pub fn names_by_id(&self) -> Vec<String> {
        self.templates.iter().map(|t| t.name.clone()).collect()
    }

    /// Template ids in the current order.
    pub fn order_ids(&self) -> Vec<usize> {
        self.order.iter().map(|e| e.id).collect()
    }

    /// (name, Python regex) of every template in the current order, as `fail2ban-regex --VD`
    /// shows them.
    pub fn template_regexes(&self) -> Vec<(String, String)> {
        self.order
            .iter()
            .map(|e| {
                let t = &self.templates[e.id];
                (t.name.clone(), t.regex_src.clone())
            })
            .collect()
    }
}

trait FoundExt {
    fn is_none_or_lt(&self, d: i64) -> bool;
}

impl FoundExt for Option<&(Found<'_>, i64, usize)> {
    fn is_none_or_lt(&self, d: i64) -> bool {
        match self {
            None => true,
            Some((_, fd, _)) => d < *fd,
        }
    }
}

/// EPOCH/LEPOCH value: Python `float(v)`, LEPOCH scaled by 1e3 or 1e6 by length.
fn epoch_value(v: &str, long: bool) -> Option<f64> {
    if !v.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    let x: f64 = v.parse().ok()?;
    if long && v.chars().count() >= 13 {
        if v.chars().count() >= 16 && !v.contains('.') {
            return Some(x / 1_000_000.0);
        }
        return Some(x / 1000.0);
    }
    Some(x)
}

#[cfg(test)]
mod tests;
