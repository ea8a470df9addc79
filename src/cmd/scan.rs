//! `failscan scan LOG...`: every file, every selected filter, one parallel pass.

use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::{Format, ScanArgs};
use crate::cmd::{timezone_arg, wall_clock, Exit};
use crate::date::{self, DateDetector, DateOptions};
use crate::f2b::filter::{resolve_regex_arg, RegexArg};
use crate::f2b::{FilterDef, FilterOrigin};
use crate::output::scan_report::{self, FilterInfo, ScanReport};
use crate::pattern::{DnsMode, Engine, EngineOptions, FilterRegexes, QuickPlan, UseDns};
use crate::scan::prefilter::LinePrefilter;
use crate::scan::{files, FileReport, Group, Scanner, Tally};

/// The filters of a run, resolved from `--filter` arguments.
pub struct Filters {
    pub regexes: Vec<FilterRegexes>,
    pub datepatterns: Vec<Option<String>>,
    pub info: Vec<FilterInfo>,
}

/// Resolves `--filter` values (filter names, files or literal regexes) like `regex` does.
pub fn resolve_filters(confdir: &Path, specs: &[String]) -> Result<Filters> {
    let default = ["asterisk".to_string()];
    let specs = if specs.is_empty() {
        &default[..]
    } else {
        specs
    };
    let mut f = Filters {
        regexes: Vec::new(),
        datepatterns: Vec::new(),
        info: Vec::new(),
    };
    for spec in specs {
        let arg = resolve_regex_arg(confdir, spec)
            .with_context(|| format!("failed to load filter {spec}"))?;
        let (regexes, datepattern, info) = match arg {
            RegexArg::Filter(d) => {
                if d.maxlines.is_some_and(|n| n > 1) {
                    bail!(
                        "filter {}: maxlines = {} (multi-line filters) is not supported by scan yet; use `failscan regex`",
                        d.name,
                        d.maxlines.unwrap_or(1)
                    );
                }
                split_filter(*d)
            }
            RegexArg::Literal(r) => {
                let name = format!("regex{}", f.regexes.len() + 1);
                let info = FilterInfo {
                    name: name.clone(),
                    origin: "literal".into(),
                    failregex: vec![r.clone()],
                    ignoreregex: vec![],
                };
                let regexes = FilterRegexes {
                    name,
                    prefregex: None,
                    failregex: vec![r],
                    ignoreregex: vec![],
                };
                (regexes, None, info)
            }
        };
        f.regexes.push(regexes);
        f.datepatterns.push(datepattern);
        f.info.push(info);
    }
    Ok(f)
}

/// A loaded filter as a scan uses it: its regexes, its own date pattern, and what the
/// report says about it (the origin in words).
pub fn split_filter(d: FilterDef) -> (FilterRegexes, Option<String>, FilterInfo) {
    let origin = match &d.origin {
        FilterOrigin::Standard { basedir } => format!("{}/filter.d", basedir.display()),
        FilterOrigin::Foreign { path } => path.display().to_string(),
        FilterOrigin::Embedded => "embedded in failscan".to_string(),
    };
    let info = FilterInfo {
        name: d.name.clone(),
        origin,
        failregex: d.failregex.clone(),
        ignoreregex: d.ignoreregex.clone(),
    };
    let regexes = FilterRegexes {
        name: d.name,
        prefregex: d.prefregex,
        failregex: d.failregex,
        ignoreregex: d.ignoreregex,
    };
    (regexes, d.datepattern, info)
}

/// Builds one engine per distinct date pattern (usually one for all filters).
pub fn build_scanner(
    filters: &Filters,
    datepattern_override: Option<&str>,
    keep_events: bool,
    chunk_size: usize,
) -> Result<Scanner> {
    // FAILSCAN_NO_PREFILTER=1 disables the literal prefilter, FAILSCAN_NO_QUICK=1 the quick
    // path (every candidate line then runs the full engine): tests compare the paths.
    let use_prefilter = std::env::var_os("FAILSCAN_NO_PREFILTER").is_none();
    let use_quick = std::env::var_os("FAILSCAN_NO_QUICK").is_none();
    let use_skeleton = std::env::var_os("FAILSCAN_NO_SKELETON").is_none();
    let mut groups: Vec<Group> = Vec::new();
    let mut keys: Vec<Option<String>> = Vec::new();
    let mut members: Vec<Vec<usize>> = Vec::new();
    for (i, dp) in filters.datepatterns.iter().enumerate() {
        let key = datepattern_override
            .map(str::to_string)
            .or_else(|| dp.clone());
        match keys.iter().position(|k| *k == key) {
            Some(g) => members[g].push(i),
            None => {
                keys.push(key);
                members.push(vec![i]);
            }
        }
    }
    // Like `fail2ban-regex -r`: `<HOST>` keeps its DNS alternative, and a name found in a
    // log becomes the failure ID as written (failscan never resolves names in a scan).
    let opts = EngineOptions {
        usedns: UseDns::Warn,
        dns: DnsMode::Raw,
        check_all: false,
        maxlines: 1,
        pref_groups: false,
        ignore_pending: true,
    };
    for (key, idx) in keys.into_iter().zip(members) {
        let regs: Vec<FilterRegexes> = idx.iter().map(|&i| filters.regexes[i].clone()).collect();
        // The prefilter does not need the engine: build it on the other core meanwhile.
        let (built, prefilter) = rayon::join(
            || -> Result<(Engine, Option<QuickPlan>)> {
                let engine = Engine::build_deferred(&regs, &opts).map_err(anyhow::Error::new)?;
                let quick = if use_quick {
                    QuickPlan::build_with(&engine, use_skeleton)
                } else {
                    None
                };
                Ok((engine, quick))
            },
            || {
                if use_prefilter {
                    LinePrefilter::build(&regs, opts.usedns)
                } else {
                    LinePrefilter::pass_all()
                }
            },
        );
        let (engine, quick) = built?;
        groups.push(Group {
            engine,
            quick,
            filters: idx,
            datepattern: key,
            prefilter,
        });
    }
    Ok(Scanner {
        groups,
        shape: filters
            .regexes
            .iter()
            .map(|f| (f.failregex.len(), f.ignoreregex.len()))
            .collect(),
        keep_events,
        chunk_size,
        idle: Default::default(),
    })
}

/// The "now" used for year inference of one file: its modification time (a rotated file
/// was last written when its last line was logged), or the end of `--year`.
pub fn file_now(path: &Path, year: Option<i32>, tz: Option<i32>) -> i64 {
    if let Some(y) = year {
        let end = chrono::NaiveDate::from_ymd_opt(y, 12, 31)
            .and_then(|d| d.and_hms_opt(23, 59, 59))
            .map(|dt| dt.and_utc().timestamp())
            .unwrap_or(0);
        return end - i64::from(tz.unwrap_or(0));
    }
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs() as i64)
        .unwrap_or_else(wall_clock)
}

/// Result of scanning all inputs.
pub struct ScanRun {
    pub tally: Tally,
    pub files: Vec<FileReport>,
    pub paths: Vec<PathBuf>,
    pub template_names: Vec<String>,
}

/// Scans `paths` in order, each in parallel, merging per-file tallies in order.
pub fn scan_all(
    scanner: &Scanner,
    paths: &[PathBuf],
    year: Option<i32>,
    tz: Option<i32>,
    quiet: bool,
) -> Result<ScanRun> {
    let total: u64 = paths
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    let bar = if !quiet && io::stderr().is_terminal() {
        let b = ProgressBar::new(total);
        b.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        Some(b)
    } else {
        None
    };
    let tick = |n: u64| {
        if let Some(b) = &bar {
            b.inc(n);
        }
    };
    let mut acc: Option<Tally> = None;
    let mut reports = Vec::new();
    let mut template_names = Vec::new();
    for (i, path) in paths.iter().enumerate() {
        let now = file_now(path, year, tz);
        let dets: Vec<DateDetector> = scanner
            .groups
            .iter()
            .map(|g| {
                DateDetector::new(
                    g.datepattern.as_deref(),
                    DateOptions {
                        now,
                        default_tz: tz,
                    },
                )
                .with_context(|| match &g.datepattern {
                    Some(p) => format!("datepattern {p}"),
                    None => "default date templates".to_string(),
                })
            })
            .collect::<Result<_>>()?;
        if template_names.is_empty() {
            template_names = dets.first().map(|d| d.names_by_id()).unwrap_or_default();
        }
        let (t, rep) = scanner.scan_path(&dets, i as u32, path, &tick);
        match &mut acc {
            Some(a) => a.merge_file(t),
            None => acc = Some(t),
        }
        reports.push(rep);
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    Ok(ScanRun {
        tally: acc.unwrap_or_default(),
        files: reports,
        paths: paths.to_vec(),
        template_names,
    })
}

pub fn run(args: ScanArgs) -> Result<Exit> {
    let tz = timezone_arg(args.timezone.as_deref())?;
    if let Some(p) = &args.datepattern {
        date::describe_datepattern(p).with_context(|| format!("--datepattern {p}"))?;
    }
    if let Some(n) = args.threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n.max(1))
            .build_global()
            .context("--threads")?;
    }
    // The rest runs on a worker of the pool: the dozen parallel steps of a scan (the
    // builds, the chunks, ranking, converting and formatting the report) are then entered
    // from inside the pool, instead of each injecting its job from outside and putting this
    // thread to sleep until it is done (futex calls and a cross-core wake-up each way).
    rayon::scope(|_| scan_and_report(&args, tz))
}

/// [`run`] after the options that configure the process: scan, then report.
fn scan_and_report(args: &ScanArgs, tz: Option<i32>) -> Result<Exit> {
    let paths = files::expand(&args.logs)?;
    let filters = resolve_filters(&args.config, &args.filters)?;
    let scanner = build_scanner(
        &filters,
        args.datepattern.as_deref(),
        args.output.is_some(),
        args.chunk_size,
    )?;
    let run = scan_all(&scanner, &paths, args.year, tz, args.quiet)?;
    let report = ScanReport {
        filters: &filters.info,
        run: &run,
        top: args.top,
    };
    if let Some(dir) = &args.output {
        scan_report::write_dir(dir, &report)
            .with_context(|| format!("--output {}", dir.display()))?;
    }
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    match args.format {
        Format::Text => scan_report::write_text(&mut out, &report)?,
        Format::Csv => scan_report::write_ips_csv(&mut out, &report)?,
        Format::Json => scan_report::write_json(&mut out, &report)?,
    }
    out.flush()?;
    let failed: Vec<&FileReport> = run.files.iter().filter(|f| f.error.is_some()).collect();
    for f in &failed {
        eprintln!(
            "failscan: error: {}",
            f.error.as_deref().unwrap_or("incomplete")
        );
    }
    let code = if failed.is_empty() {
        Exit::Success
    } else {
        Exit::Partial
    };
    // The process exits next: freeing the per-address report (tens of thousands of small
    // allocations) and the automata one by one would only delay it by a few milliseconds.
    std::mem::forget(run);
    std::mem::forget(scanner);
    Ok(code)
}
