//! `failscan regex LOG REGEX [IGNOREREGEX]`: a drop-in for `fail2ban-regex`.
//!
//! Resolves the arguments exactly as fail2ban-regex does (filter name, filter file or literal
//! regex; log file or literal lines), runs every line through date detection and the
//! [`Engine`], counts lines and hits with fail2ban-regex's rules (semantics doc, 5.4) and
//! prints the same report, `-o` rows, or a JSON object.

use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context, Result};

use crate::cli::RegexArgs;
use crate::cmd::{parse_instant, timezone_arg, wall_clock, Exit};
use crate::date::{self, DateDetector, DateOptions};
use crate::f2b::filter::{resolve_regex_arg, RegexArg};
use crate::f2b::{FilterDef, FilterOrigin};
use crate::output::regex_report::{self, LineStats, RegexReport, RegexStat};
use crate::pattern::{
    DnsMode, Engine, EngineOptions, Failure, FilterRegexes, LineOutcome, LineParts, UseDns, Value,
};

/// Options after validation; nothing here depends on clap.
struct Resolved {
    header: Vec<String>,
    filter: FilterRegexes,
    /// Failregexes as written (tags unexpanded), for the report.
    fail_written: Vec<String>,
    ignore_written: Vec<String>,
    maxlines: usize,
    datepattern: Option<String>,
    engine_opts: EngineOptions,
}

/// Where the log lines come from.
enum LogSource {
    File(String),
    Literal(String),
}

pub fn run(args: RegexArgs) -> Result<Exit> {
    if args.print_no_missed && args.print_all_missed {
        bail!("--print-no-missed and --print-all-missed are mutually exclusive");
    }
    if args.print_no_ignored && args.print_all_ignored {
        bail!("--print-no-ignored and --print-all-ignored are mutually exclusive");
    }
    if !args.encoding.eq_ignore_ascii_case("utf-8") && !args.encoding.eq_ignore_ascii_case("utf8") {
        bail!(
            "--encoding {}: only UTF-8 is supported (invalid bytes become U+FFFD)",
            args.encoding
        );
    }
    let now = match &args.now {
        Some(s) => parse_instant(s).with_context(|| format!("--now {s}"))?,
        None => wall_clock(),
    };
    let tz = timezone_arg(args.timezone.as_deref())?;
    let resolved = resolve(&args)?;
    let source = if Path::new(&args.log).is_file() {
        LogSource::File(args.log.clone())
    } else {
        LogSource::Literal(args.log.clone())
    };

    let mut detector = DateDetector::new(
        resolved.datepattern.as_deref(),
        DateOptions {
            now,
            default_tz: tz,
        },
    )
    .context("date pattern")?;
    let engine = Engine::build(
        std::slice::from_ref(&resolved.filter),
        &resolved.engine_opts,
    )
    .map_err(anyhow::Error::new)?;

    let mut header = resolved.header.clone();
    let lines: Vec<u8> = match &source {
        LogSource::File(path) => {
            header.push(format!("Use         log file : {path}"));
            header.push(format!("Use         encoding : {}", args.encoding));
            let mut bytes = crate::input::read_all(Path::new(path))?;
            // fail2ban-regex drops a last line without a trailing newline (semantics 5.2).
            match bytes.iter().rposition(|&b| b == b'\n') {
                Some(p) => bytes.truncate(p + 1),
                None => bytes.clear(),
            }
            bytes
        }
        LogSource::Literal(text) => {
            if resolved.maxlines <= 1 && !text.contains('\n') {
                header.push(format!(
                    "Use      single line : {}",
                    shortstr(&text.replace('\n', "\\n"))
                ));
            } else {
                let parts: Vec<&str> = text.split('\n').collect();
                header.push(format!("Use      multi line : {} line(s)", parts.len()));
                for (i, l) in parts.iter().enumerate() {
                    if i >= 5 {
                        header.push("| ...".into());
                        break;
                    }
                    let num = format!("{}", i + 1);
                    header.push(format!(
                        "| {:>2}: {}",
                        &num[..num.len().min(2)],
                        shortstr(l)
                    ));
                }
                header.push("`-".into());
            }
            let mut v = text.as_bytes().to_vec();
            v.push(b'\n');
            v
        }
    };

    let verbose = args.verbosity.unwrap_or(args.verbose);
    let limit = if args.maxlines > 0 { args.maxlines } else { 20 };
    let mut run = Runner {
        engine: &engine,
        cache: engine.new_cache(),
        detector: &mut detector,
        outcome: LineOutcome::default(),
        now,
        last_date: None,
        stats: LineStats::default(),
        fail: resolved
            .fail_written
            .iter()
            .map(|r| RegexStat::new(r.clone()))
            .collect(),
        ignore: resolved
            .ignore_written
            .iter()
            .map(|r| RegexStat::new(r.clone()))
            .collect(),
        prefregex_hits: 0,
        prefregex_groups: Vec::new(),
        limit,
        keep_ips: verbose > 0,
        print_all_missed: args.print_all_missed,
        print_all_ignored: args.print_all_ignored,
        print_all_matched: args.print_all_matched,
        print_no_missed: args.print_no_missed,
        print_no_ignored: args.print_no_ignored,
        last_time_text: String::new(),
        parts: Default::default(),
    };

    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let out_fmt = args.out.as_deref().map(regex_report::OutFormat::parse);
    let started = Instant::now();
    for raw in split_lines(&lines) {
        let line = String::from_utf8_lossy(raw);
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (time, ignored, failures) = run.process(line);
        if let Some(fmt) = &out_fmt {
            if !ignored {
                for f in failures.iter().filter(|f| !f.nofail) {
                    write_out(&mut out, fmt, f, time, line, &run.parts, now)?;
                }
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let date_templates = run.detector.template_hits();
    if out_fmt.is_some() {
        out.flush()?;
        return Ok(Exit::Success);
    }
    let report = RegexReport {
        header,
        prefregex: engine
            .expanded_prefregex(0)
            .map(|p| (p.to_string(), run.prefregex_hits)),
        prefregex_groups: run.prefregex_groups,
        failregex: run.fail,
        ignoreregex: run.ignore,
        date_templates,
        stats: run.stats,
        elapsed,
        verbose,
        limit,
        print_all_matched: args.print_all_matched,
        print_all_missed: args.print_all_missed,
        print_all_ignored: args.print_all_ignored,
        print_no_missed: args.print_no_missed,
        print_no_ignored: args.print_no_ignored,
    };
    if args.json {
        regex_report::write_json(&mut out, &report)?;
    } else {
        regex_report::write_text(&mut out, &report)?;
    }
    out.flush()?;
    Ok(Exit::Success)
}

/// Per-line state of one run: the detector, the engine cache and the counters.
struct Runner<'a> {
    engine: &'a Engine,
    cache: crate::pattern::EngineCache,
    detector: &'a mut DateDetector,
    outcome: LineOutcome,
    now: i64,
    /// Last parsed date and when: fail2ban reuses it for undated lines only within 60 s of now.
    last_date: Option<f64>,
    stats: LineStats,
    fail: Vec<RegexStat>,
    ignore: Vec<RegexStat>,
    prefregex_hits: u64,
    /// `-v`: the prefregex groups of matching lines, as Python dict reprs.
    prefregex_groups: Vec<String>,
    limit: usize,
    keep_ips: bool,
    print_all_missed: bool,
    print_all_ignored: bool,
    print_all_matched: bool,
    print_no_missed: bool,
    print_no_ignored: bool,
    /// The date text of the last dated line (fail2ban's `__lastTimeText`).
    last_time_text: String,
    /// fail2ban's `(before, date text, after)` tuple of the last line (for `-o matches`).
    parts: (String, String, String),
}

impl Runner<'_> {
    /// Processes one (non-comment, non-empty) line; returns its time, whether it was ignored,
    /// and the failures found (fail2ban's `processLine` + fail2ban-regex's `testRegex`).
    fn process(&mut self, line: &str) -> (Option<f64>, bool, Vec<Failure>) {
        // fail2ban's `processLine`: the line as (before date, date, after date); the
        // regexes see before + after.
        let mut time = None;
        let (mut start, mut end) = (0, 0);
        let mut whole_with_last_date = false;
        match self.detector.detect(line) {
            Some(m) if m.end > m.start => {
                (start, end) = (m.start, m.end);
                match m.time {
                    Some(t) => {
                        time = Some(t);
                        self.last_date = Some(t);
                        self.last_time_text.clear();
                        self.last_time_text.push_str(&line[m.start..m.end]);
                    }
                    // An unparsable date (Feb 30): fail2ban takes the last date if it is
                    // recent and then matches the whole line, date text included.
                    None => whole_with_last_date = self.recent_date().is_some(),
                }
            }
            Some(m) => {
                // An empty date match ({NONE}): the last date if recent, else now.
                (start, end) = (m.start, m.end);
                match self.recent_date() {
                    Some(d) => {
                        time = Some(d);
                        whole_with_last_date = true;
                    }
                    None => time = Some(self.now as f64),
                }
            }
            None => whole_with_last_date = self.recent_date().is_some(),
        }
        if time.is_none() {
            time = self.recent_date();
        }
        let parts = if whole_with_last_date {
            LineParts {
                before: "",
                date: &self.last_time_text,
                after: line,
            }
        } else {
            LineParts {
                before: &line[..start],
                date: &line[start..end],
                after: &line[end..],
            }
        };
        // Kept for `-o matches`; the buffers are reused from line to line.
        for (buf, text) in [
            (&mut self.parts.0, parts.before),
            (&mut self.parts.1, parts.date),
            (&mut self.parts.2, parts.after),
        ] {
            buf.clear();
            buf.push_str(text);
        }
        self.engine
            .match_parts(&mut self.cache, parts, &mut self.outcome);
        // Earlier buffered lines a multi-line match took: missed -> matched (fail2ban-regex's
        // testRegex, semantics 5.4).
        for (_, full) in &self.outcome.consumed {
            let st = &mut self.stats;
            if let Some(i) = st.missed_lines.iter().position(|l| l == full) {
                st.missed_lines.remove(i);
            }
            if self.print_all_matched {
                st.matched_lines.push(full.clone());
            }
            st.matched += 1;
            // fail2ban-regex can go below zero here (a consumed line that was not missed);
            // counters are unsigned, so it stops at zero.
            st.missed = st.missed.saturating_sub(1);
        }
        if self
            .outcome
            .prefregex_matched
            .first()
            .copied()
            .unwrap_or(false)
        {
            self.prefregex_hits += 1;
            if self.keep_ips {
                // fail2ban-regex -v keeps the groups of the first `limit` matches, then "...".
                if self.prefregex_groups.len() < self.limit {
                    let groups = self
                        .outcome
                        .pref_groups
                        .first()
                        .cloned()
                        .unwrap_or_default();
                    self.prefregex_groups.push(regex_report::py_dict(&groups));
                } else if self.prefregex_groups.len() == self.limit {
                    self.prefregex_groups.push("...".into());
                }
            }
        }
        let mut ignored = false;
        for &(_, idx) in &self.outcome.ignore_hits {
            ignored = true;
            if let Some(s) = self.ignore.get_mut(idx) {
                s.hits += 1;
            }
        }
        let failures = std::mem::take(&mut self.outcome.failures);
        let mut counted = 0usize;
        for f in &failures {
            if let Some(s) = self.fail.get_mut(f.regex) {
                s.hits += 1;
                if self.keep_ips {
                    let id = if f.pending {
                        "None".into()
                    } else {
                        f.id.clone()
                    };
                    s.ips.push((id, time, counted > 1));
                }
            }
            if f.nofail {
                ignored = true;
            } else {
                counted += 1;
            }
        }
        let st = &mut self.stats;
        if ignored {
            st.ignored += 1;
            if !self.print_no_ignored
                && (self.print_all_ignored || st.ignored <= self.limit as u64 + 1)
            {
                st.ignored_lines.push(line.to_string());
            }
        } else if counted > 0 {
            st.matched += 1;
            if self.print_all_matched {
                st.matched_lines.push(line.to_string());
            }
        } else {
            st.missed += 1;
            if !self.print_no_missed
                && (self.print_all_missed || st.missed <= self.limit as u64 + 1)
            {
                st.missed_lines.push(line.to_string());
            }
        }
        st.tested += 1;
        (time, ignored, failures)
    }

    /// The last parsed date if it is less than 60 s before now: fail2ban gives undated and
    /// unparsable lines that time, and no time at all once it is older.
    fn recent_date(&self) -> Option<f64> {
        self.last_date.filter(|&d| d > (self.now - 60) as f64)
    }
}

/// One failure in an `-o` format. `msg` prints every line of the failure's `matches` (all
/// lines of a multi-line or mlfid failure); `row` prints non-string values (`users` set,
/// `tuple_` groups) as Python literals; the rest is [`regex_report::OutFormat::write`].
fn write_out(
    w: &mut impl Write,
    fmt: &regex_report::OutFormat,
    f: &Failure,
    time: Option<f64>,
    line: &str,
    parts: &(String, String, String),
    now: i64,
) -> io::Result<()> {
    use regex_report::{py_float, py_repr, OutFormat};
    match fmt {
        OutFormat::Msg => {
            for m in &f.matches {
                writeln!(w, "{m}")?;
            }
            Ok(())
        }
        OutFormat::Row if !f.composite.is_empty() => {
            let items: Vec<String> = f
                .data
                .iter()
                .map(|(k, v)| {
                    let v = match f.composite.iter().find(|(n, _)| n == k) {
                        Some((_, c)) => py_value(c),
                        None => v.as_deref().map_or_else(|| "None".into(), py_repr),
                    };
                    format!("{}: {v}", py_repr(k))
                })
                .collect();
            // A `tuple_` ID is a Python tuple, printed without quotes.
            let tuple_id = f
                .composite
                .iter()
                .any(|(k, v)| k == "fid" && matches!(v, Value::Tuple(_)) && py_value(v) == f.id);
            let id = if f.pending {
                "None".into()
            } else if tuple_id {
                f.id.clone()
            } else {
                py_repr(&f.id)
            };
            let t = time.map(py_float).unwrap_or_else(|| "None".into());
            writeln!(w, "[{id},\t{t},\t{{{}}}],", items.join(", "))
        }
        _ => fmt.write(w, f, time, line, parts, now),
    }
}

/// Python's repr of a non-string ticket value.
fn py_value(v: &Value) -> String {
    use regex_report::py_repr;
    let opt = |x: &Option<String>| x.as_deref().map_or_else(|| "None".into(), py_repr);
    match v {
        Value::Int(n) => n.to_string(),
        Value::Tuple(t) if t.len() == 1 => format!("({},)", opt(&t[0])),
        Value::Tuple(t) => format!("({})", t.iter().map(opt).collect::<Vec<_>>().join(", ")),
        Value::Set(s) if s.is_empty() => "set()".into(),
        Value::Set(s) => format!(
            "{{{}}}",
            s.iter().map(|x| py_repr(x)).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// Splits at `\n`, yielding each line without it; the input ends with `\n` (or is empty).
fn split_lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    let empty = bytes.is_empty();
    body.split(|&b| b == b'\n').filter(move |_| !empty)
}

/// Resolves REGEX and IGNOREREGEX and the options that interact with the filter, building
/// the `Use ...` header in fail2ban-regex's order.
fn resolve(args: &RegexArgs) -> Result<Resolved> {
    let verbose = args.verbosity.unwrap_or(args.verbose);
    let mut header = Vec::new();
    let mut maxlines = None;
    let mut datepattern = None;
    if args.maxlines > 0 {
        maxlines = Some(args.maxlines);
        header.push(format!("Use         maxlines : {}", args.maxlines));
    }
    if let Some(p) = &args.datepattern {
        let desc = date::describe_datepattern(p).with_context(|| format!("--datepattern {p}"))?;
        header.push(format!("Use      datepattern : {desc}"));
        datepattern = Some(p.clone());
    }
    let usedns = match args.usedns.as_deref() {
        None => UseDns::Warn,
        Some(v) => match v.to_ascii_lowercase().as_str() {
            "yes" | "true" | "on" | "1" => UseDns::Yes,
            "warn" => UseDns::Warn,
            "no" | "false" | "off" | "0" => UseDns::No,
            "raw" => UseDns::Raw,
            _ => bail!("--usedns {v}: expected yes, warn, no or raw"),
        },
    };
    let arg = resolve_regex_arg(&args.config, &args.regex)
        .with_context(|| format!("failed to load filter {}", args.regex))?;
    let (name, prefregex, fail, mut ignore) = match arg {
        RegexArg::Filter(def) => {
            filter_header(&mut header, &def);
            if maxlines.is_none() {
                if let Some(n) = def.maxlines {
                    maxlines = Some(n);
                    header.push(format!("Use         maxlines : {n}"));
                }
            }
            if datepattern.is_none() {
                if let Some(p) = &def.datepattern {
                    let desc = date::describe_datepattern(p)
                        .with_context(|| format!("filter {}: datepattern {p}", def.name))?;
                    header.push(format!("Use      datepattern : {desc}"));
                    datepattern = Some(p.clone());
                }
            }
            (def.name, def.prefregex, def.failregex, def.ignoreregex)
        }
        RegexArg::Literal(re) => {
            header.push(format!("Use   failregex line : {}", shortstr(&re)));
            ("failregex".to_string(), None, vec![re], Vec::new())
        }
    };
    // fail2ban-regex lists only the command-line ignoreregexes when a filter has its own and
    // credits hits by index (semantics 1.8, a bug); failscan lists them all, filter's first.
    if let Some(ig) = &args.ignoreregex {
        header.push(format!("Use ignoreregex line : {}", shortstr(ig)));
        ignore.push(ig.clone());
    }
    let maxlines = maxlines.unwrap_or(1);
    let dns = if args.raw || usedns == UseDns::Raw {
        DnsMode::Raw
    } else if args.resolve_dns {
        DnsMode::Resolve
    } else {
        DnsMode::Unresolved
    };
    Ok(Resolved {
        header,
        fail_written: fail.clone(),
        ignore_written: ignore.clone(),
        filter: FilterRegexes {
            name,
            prefregex,
            failregex: fail,
            ignoreregex: ignore,
        },
        maxlines,
        datepattern,
        engine_opts: EngineOptions {
            usedns,
            dns,
            check_all: !args.no_check_all && args.out.is_none(),
            maxlines,
            pref_groups: verbose > 0,
            // fail2ban-regex: `ignorePending = bool(opts.out)`.
            ignore_pending: args.out.is_some(),
        },
    })
}

/// The `Use ... filter file` / `Use ... file` / `Use filter options` lines.
fn filter_header(header: &mut Vec<String>, def: &FilterDef) {
    match &def.origin {
        FilterOrigin::Standard { basedir } => header.push(format!(
            "Use   failregex filter file : {}, basedir: {}",
            def.name,
            basedir.display()
        )),
        FilterOrigin::Foreign { path } => {
            header.push(format!("Use   failregex file : {}", path.display()))
        }
        FilterOrigin::Embedded => header.push(format!(
            "Use   failregex filter file : {}, basedir: (embedded in failscan)",
            def.name
        )),
    }
    if !def.options.is_empty() {
        let items: Vec<String> = def
            .options
            .iter()
            .map(|(k, v)| format!("{}: {}", regex_report::py_repr(k), regex_report::py_repr(v)))
            .collect();
        header.push(format!("Use   filter options : {{{}}}", items.join(", ")));
    }
}

/// fail2ban-regex's `shortstr`: at most 53 characters, ending in `...` when cut.
fn shortstr(s: &str) -> String {
    if s.chars().count() > 53 {
        let cut: String = s.chars().take(50).collect();
        format!("{cut}...")
    } else {
        s.to_string()
    }
}
