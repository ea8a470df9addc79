//! `failscan bans [LOG...]`: replays fail2ban's jail arithmetic over logs and prints each jail's
//! `fail2ban-client status` as of an instant, optionally writing the ban history (CSV) and the
//! bans in force (`ipset restore` and `nft -f` files).
//!
//! How a run is put together:
//! 1. Jails come from the configuration (`jail.conf`, `jail.d`, `.local`); `--jail` selects by
//!    name, otherwise every enabled jail is replayed. `--maxretry/--findtime/--bantime` override
//!    every selected jail.
//! 2. Each jail's logs are the LOG arguments when given, otherwise its `logpath` globs. Jails with
//!    the same logs (and time zone) share one parallel scan with the distinct filters of all of
//!    them; events are split by filter. A jail's `datepattern` wins over its filter's.
//! 3. All jails except recidive are replayed together (so `bantime.overalljails` sees every
//!    jail's bans). A recidive jail (one whose filter is `recidive`) does not read its logpath:
//!    its failures are the ban starts of the other replayed jails, plus, with `--fail2ban-log`,
//!    the `Ban` lines of that log for jails that were *not* replayed (the recidive filter is
//!    loaded with its `_jailname` exclusion extended to the replayed jails, so no ban counts
//!    twice).
//! 4. Output is as of `--at` (default: the time of the last dated line of the scanned logs).
//!
//! Set names: every action of a jail is a ban action with a set named after its `name=`
//! parameter, except notification and reporting actions, recognised by a word in the action
//! file name (see [`NO_SET_WORDS`]): `sendmail-whois`, `mail-buffered`, `complain`, `abuseipdb`
//! and the like keep no firewall set. A jail without any set-keeping action uses its own name.
//! (Deciding by "name derived from the jail name with a suffix" would drop recidive's single
//! `iptables-allports[name=recidive]` action, so the file name is the better signal.)
//!
//! Failures whose time is unknown (undated lines before the first dated line of a file) are
//! not replayed; the summary on standard error counts them.

use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};

use crate::cli::{BansArgs, SetTimeouts};
use crate::cmd::scan::{build_scanner, scan_all, split_filter, Filters};
use crate::cmd::Exit;
use crate::cmd::{parse_instant, timezone_arg, wall_clock};
use crate::date;
use crate::f2b::reader::{Config, FsSource, GetError};
use crate::f2b::{load_filter, load_jails, parse_spec, parse_time, ConfigError, JailDef};
use crate::output::bans_csv::{self, JailBans};
use crate::output::ipset::{write_ipset, IpsetOptions, SetSpec, Timeouts, MAX_SET_NAME};
use crate::output::nft::{write_nft, NftOptions};
use crate::output::scan_report::FilterInfo;
use crate::pattern::FilterRegexes;
use crate::replay::{
    replay_jails, replay_recidive, Failure, Formula, IgnoreList, Increment, JailInput, JailParams,
    JailReplay, ReplayOptions, REPLAYED_BAN_TAG,
};
use crate::scan::files;

/// Words in an action file name that mark an action without a firewall set: notifications
/// (mail, whois lookups) and reports to third parties.
pub const NO_SET_WORDS: [&str; 12] = [
    "mail",
    "whois",
    "mta",
    "smtp",
    "complain",
    "abuseipdb",
    "blocklist_de",
    "dshield",
    "mynetwatchman",
    "xarf",
    "apprise",
    "badips",
];

/// fail2ban's default `bantime.formula`, the only one the replay implements.
const DEFAULT_FORMULA: &str = "ban.Time * (1<<(ban.Count if ban.Count<20 else 20)) * banFactor";

/// Seed replacing Python's `random()` for `bantime.rndtime` (fixed: runs are reproducible).
const RNDTIME_SEED: u64 = 0;

/// Chunk size of the parallel scan.
const CHUNK_SIZE: usize = 4 << 20;

/// Label of the failures that recidive takes from replayed bans, in the CSV `regexes` column.
const REPLAYED_BAN_LABEL: &str = "replayed-ban";

/// Command-line overrides of jail settings, validated.
#[derive(Debug, Clone, Default, PartialEq)]
struct Overrides {
    maxretry: Option<u32>,
    findtime: Option<f64>,
    bantime: Option<f64>,
}

fn overrides(args: &BansArgs) -> Result<Overrides> {
    let maxretry = match args.maxretry {
        None => None,
        Some(n) if n < 0 => bail!("--maxretry {n}: must not be negative"),
        Some(n) => Some(u32::try_from(n).map_err(|_| anyhow!("--maxretry {n}: too large"))?),
    };
    let time = |opt: &str, v: &Option<String>| -> Result<Option<f64>> {
        v.as_deref()
            .map(|s| parse_time(s).with_context(|| format!("--{opt}")))
            .transpose()
    };
    Ok(Overrides {
        maxretry,
        findtime: time("findtime", &args.findtime)?,
        bantime: time("bantime", &args.bantime)?,
    })
}

/// The selected jails, in configuration order for the enabled ones and in `--jail` order
/// otherwise (duplicates dropped).
fn select_jails(all: Vec<JailDef>, names: &[String], config: &Path) -> Result<Vec<JailDef>> {
    let available = || {
        let v: Vec<&str> = all.iter().map(|j| j.name.as_str()).collect();
        if v.is_empty() {
            "none".to_string()
        } else {
            v.join(", ")
        }
    };
    if names.is_empty() {
        let enabled: Vec<JailDef> = all.iter().filter(|j| j.enabled).cloned().collect();
        if enabled.is_empty() {
            bail!(
                "no enabled jail in {}; select jails with --jail (available: {})",
                config.display(),
                available()
            );
        }
        return Ok(enabled);
    }
    let mut out: Vec<JailDef> = Vec::new();
    for n in names {
        if out.iter().any(|j| &j.name == n) {
            continue;
        }
        match all.iter().find(|j| &j.name == n) {
            Some(j) => out.push(j.clone()),
            None => bail!(
                "unknown jail '{n}' in {}; available jails: {}",
                config.display(),
                available()
            ),
        }
    }
    Ok(out)
}

/// The filter name of a jail (`asterisk` for `asterisk[mode=normal]`), if the spec parses.
fn filter_name(def: &JailDef) -> Option<String> {
    parse_spec(&def.filter)
        .ok()
        .map(|(n, _)| n.trim().to_string())
}

fn is_recidive(def: &JailDef) -> bool {
    filter_name(def).as_deref() == Some("recidive")
}

/// Set names of a jail's actions (see the module doc), in order, without duplicates.
pub fn set_names(def: &JailDef) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for a in &def.actions {
        let file = a.action.to_lowercase();
        if NO_SET_WORDS.iter().any(|w| file.contains(w)) {
            continue;
        }
        if !names.contains(&a.name) {
            names.push(a.name.clone());
        }
    }
    if names.is_empty() {
        names.push(def.name.clone());
    }
    names
}

/// A whitespace-free form, to compare formulas written with different spacing.
fn squeeze(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

fn increment(def: &JailDef) -> Result<Option<Increment>> {
    let inc = &def.increment;
    if !inc.enabled {
        return Ok(None);
    }
    let jail = &def.name;
    if let Some(f) = inc.formula.as_deref().filter(|f| !f.trim().is_empty()) {
        if squeeze(f) != squeeze(DEFAULT_FORMULA) {
            bail!(
                "jail {jail}: bantime.formula = {f} is unsupported; failscan implements only \
                 fail2ban's default formula (use bantime.factor, bantime.multipliers, bantime.maxtime)"
            );
        }
    }
    let factor = match inc
        .factor
        .as_deref()
        .map(str::trim)
        .filter(|f| !f.is_empty())
    {
        None => 1.0,
        Some(f) => f.parse::<f64>().map_err(|_| {
            anyhow!(
                "jail {jail}: bantime.factor = {f} is unsupported; failscan accepts a number only \
                 (fail2ban evaluates it as a Python expression)"
            )
        })?,
    };
    let multipliers = inc
        .multipliers
        .as_deref()
        .unwrap_or("")
        .split_whitespace()
        .map(|m| {
            m.parse::<f64>()
                .map_err(|_| anyhow!("jail {jail}: bantime.multipliers: '{m}' is not a number"))
        })
        .collect::<Result<Vec<f64>>>()?;
    Ok(Some(Increment {
        factor,
        multipliers,
        maxtime: inc.maxtime,
        overalljails: inc.overalljails,
        rndtime: inc.rndtime.filter(|r| *r > 0.0).map(|r| (r, RNDTIME_SEED)),
        formula: Formula::Default,
    }))
}

/// The replay parameters of a jail, with the command-line overrides applied.
fn jail_params(def: &JailDef, ov: &Overrides, increments: bool) -> Result<JailParams> {
    let maxretry = match ov.maxretry {
        Some(n) => n,
        None => u32::try_from(def.maxretry).map_err(|_| {
            anyhow!(
                "jail {}: maxretry {} is out of range",
                def.name,
                def.maxretry
            )
        })?,
    };
    // fail2ban keeps `int(bantime)`.
    let bantime = ov.bantime.unwrap_or(def.bantime).trunc();
    let ignore =
        IgnoreList::parse(&def.ignoreip).with_context(|| format!("jail {}: ignoreip", def.name))?;
    Ok(JailParams {
        name: def.name.clone(),
        maxretry,
        findtime: ov.findtime.unwrap_or(def.findtime),
        bantime,
        increment: if increments { increment(def)? } else { None },
        ignore,
        set_names: set_names(def),
    })
}

/// `dbpurgeage` and whether a database is configured (`dbfile = None` disables it, and with it
/// `bantime.increment`), from `fail2ban.conf`/`.local`/`fail2ban.d`. Missing files give
/// fail2ban's defaults (1 day, a database).
fn database_settings(config: &Path) -> Result<(f64, bool)> {
    let base = config.to_string_lossy();
    let cfg = match Config::read_standard(&FsSource, &base, "fail2ban") {
        Ok(c) => c,
        Err(ConfigError::NoConfigFiles { .. } | ConfigError::NoBaseDir(_)) => {
            return Ok((86400.0, true))
        }
        Err(e) => return Err(e.into()),
    };
    let get = |key: &str| GetError::optional(cfg.get("Definition", key, &[]));
    let purge = match get("dbpurgeage")? {
        None => 86400.0,
        Some(v) => parse_time(&v).context("fail2ban.conf: dbpurgeage")?,
    };
    let db = get("dbfile")?.map_or(true, |v| !v.trim().eq_ignore_ascii_case("none"));
    Ok((purge, db))
}

/// Files of a jail's `logpath` (a trailing ` head` or ` tail` option is dropped), oldest
/// rotation first. A missing file or a glob without match is an error naming the jail.
fn jail_logs(def: &JailDef) -> Result<Vec<PathBuf>> {
    if def.logpath.is_empty() {
        bail!(
            "jail {}: no logpath is configured; give the logs as arguments",
            def.name
        );
    }
    let mut pats = Vec::new();
    for lp in &def.logpath {
        let path = match lp.rsplit_once(char::is_whitespace) {
            Some((p, opt)) if opt == "head" || opt == "tail" => p.trim(),
            _ => lp.trim(),
        };
        let is_glob = path.contains(['*', '?', '[']);
        if !is_glob && !Path::new(path).is_file() {
            bail!(
                "jail {}: logpath {} does not exist or is not a file (give the logs as arguments \
                 to replay other files)",
                def.name,
                path
            );
        }
        pats.push(path.to_string());
    }
    files::expand(&pats).with_context(|| format!("jail {}: logpath", def.name))
}

/// A filter of a scan, loaded from a jail's filter spec.
fn load_jail_filter(
    config: &Path,
    def: &JailDef,
    spec: &str,
) -> Result<(FilterRegexes, Option<String>, FilterInfo)> {
    let d = load_filter(config, spec)
        .with_context(|| format!("jail {}: cannot load filter '{spec}'", def.name))?;
    if d.maxlines.is_some_and(|n| n > 1) {
        bail!(
            "jail {}: filter {} uses maxlines = {} (multi-line filters), which bans does not support yet",
            def.name,
            d.name,
            d.maxlines.unwrap_or(1)
        );
    }
    let (regs, filter_dp, info) = split_filter(d);
    // The jail's datepattern overrides the filter's.
    let dp = def.datepattern.clone().or(filter_dp);
    Ok((regs, dp, info))
}

/// Escapes regex metacharacters of a jail name.
fn regex_escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A spec option value in quotes that do not occur in it.
fn quote(v: &str) -> String {
    if v.contains('"') {
        format!("'{v}'")
    } else {
        format!("\"{v}\"")
    }
}

/// The recidive jail's filter spec with `_jailname` (the jails whose `Ban` lines the filter
/// skips) extended by `skip`: the recidive jail itself and the jails already replayed.
fn recidive_spec(def: &JailDef, skip: &[&str]) -> Result<String> {
    let (name, mut opts) =
        parse_spec(&def.filter).with_context(|| format!("jail {}: filter", def.name))?;
    let own = opts
        .iter()
        .find(|(k, _)| k == "_jailname")
        .map_or_else(|| "recidive".to_string(), |(_, v)| v.clone());
    let mut alts = vec![format!("(?:{own})")];
    alts.extend(skip.iter().map(|j| regex_escape(j)));
    let value = format!("(?:{})", alts.join("|"));
    match opts.iter_mut().find(|(k, _)| k == "_jailname") {
        Some(slot) => slot.1 = value,
        None => opts.push(("_jailname".into(), value)),
    }
    let list: Vec<String> = opts
        .iter()
        .map(|(k, v)| format!("{k}={}", quote(v)))
        .collect();
    Ok(format!("{}[{}]", name.trim(), list.join(", ")))
}

/// One jail to replay and what was found for it.
struct Plan {
    def: JailDef,
    params: JailParams,
    recidive: bool,
    /// Files scanned for this jail.
    files: Vec<PathBuf>,
    /// Filter name, for regex labels.
    filter: String,
    failures: Vec<Failure>,
    /// Failures found (dated or not).
    found: u64,
    /// Failures without a time, not replayed.
    undated: u64,
}

/// Jails that read the same files with the same time zone: one scan.
struct ScanJob {
    paths: Vec<PathBuf>,
    tz: Option<i32>,
    /// Distinct (filter spec, jail date pattern) of the member jails.
    keys: Vec<(String, Option<String>)>,
    /// Per key, the first jail that uses it (named in errors about the filter).
    owners: Vec<usize>,
    /// (jail index, key index) of every member jail.
    members: Vec<(usize, usize)>,
}

/// What the scans produced besides per-jail failures.
#[derive(Default)]
struct ScanTotals {
    last_time: Option<f64>,
    errors: Vec<String>,
}

fn max_time(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

/// Runs one scan job and hands each member jail the failures of its filter.
fn run_job(
    config: &Path,
    job: &ScanJob,
    plans: &mut [Plan],
    args: &BansArgs,
    totals: &mut ScanTotals,
) -> Result<()> {
    let mut filters = Filters {
        regexes: Vec::new(),
        datepatterns: Vec::new(),
        info: Vec::new(),
    };
    for ((spec, _), &owner) in job.keys.iter().zip(&job.owners) {
        // The owner's date pattern is the key's, so it is the one the filter gets.
        let (regs, dp, info) = load_jail_filter(config, &plans[owner].def, spec)?;
        filters.regexes.push(regs);
        filters.datepatterns.push(dp);
        filters.info.push(info);
    }
    let scanner = build_scanner(&filters, None, true, CHUNK_SIZE)?;
    for &(j, f) in &job.members {
        plans[j].files = job.paths.clone();
        plans[j].filter = filters.info[f].name.clone();
    }
    // One file at a time: each file's last dated line is needed for the default `--at`.
    for path in &job.paths {
        let run = scan_all(
            &scanner,
            std::slice::from_ref(path),
            args.year,
            job.tz,
            args.quiet,
        )?;
        totals.last_time = max_time(totals.last_time, run.tally.last_time);
        totals
            .errors
            .extend(run.files.iter().filter_map(|f| f.error.clone()));
        for ev in &run.tally.events {
            for &(j, f) in &job.members {
                if ev.filter as usize != f {
                    continue;
                }
                let p = &mut plans[j];
                p.found += 1;
                match ev.time.filter(|t| t.is_finite()) {
                    Some(time) => p.failures.push(Failure {
                        time,
                        id: ev.ip.clone(),
                        regex: ev.regex,
                    }),
                    None => p.undated += 1,
                }
            }
        }
    }
    Ok(())
}

/// A jail's time zone: `--timezone`, else its `logtimezone`.
fn jail_tz(def: &JailDef, cli: Option<i32>) -> Result<Option<i32>> {
    if cli.is_some() {
        return Ok(cli);
    }
    def.logtimezone
        .as_deref()
        .map(|z| {
            date::parse_timezone(z).map_err(|e| anyhow!("jail {}: logtimezone {z}: {e}", def.name))
        })
        .transpose()
}

/// Groups the non-recidive jails into scan jobs.
fn plan_jobs(
    plans: &[Plan],
    cli_logs: Option<&[PathBuf]>,
    tz: Option<i32>,
) -> Result<Vec<ScanJob>> {
    let mut jobs: Vec<ScanJob> = Vec::new();
    for (j, p) in plans.iter().enumerate() {
        if p.recidive {
            continue;
        }
        let paths = match cli_logs {
            Some(l) => l.to_vec(),
            None => jail_logs(&p.def)?,
        };
        let jtz = jail_tz(&p.def, tz)?;
        let job = match jobs
            .iter_mut()
            .position(|g| g.paths == paths && g.tz == jtz)
        {
            Some(i) => &mut jobs[i],
            None => {
                jobs.push(ScanJob {
                    paths,
                    tz: jtz,
                    keys: Vec::new(),
                    owners: Vec::new(),
                    members: Vec::new(),
                });
                let last = jobs.len() - 1;
                &mut jobs[last]
            }
        };
        if p.def.filter.trim().is_empty() {
            bail!("jail {}: no filter is configured", p.def.name);
        }
        let key = (p.def.filter.clone(), p.def.datepattern.clone());
        let f = match job.keys.iter().position(|k| *k == key) {
            Some(f) => f,
            None => {
                job.keys.push(key);
                job.owners.push(j);
                job.keys.len() - 1
            }
        };
        job.members.push((j, f));
    }
    Ok(jobs)
}

/// `fail2ban-client status JAIL`, as its beautifier prints it.
fn write_status(
    w: &mut impl Write,
    jail: &str,
    files: &[PathBuf],
    st: &crate::replay::JailStatus,
) -> io::Result<()> {
    let files: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
    writeln!(w, "Status for the jail: {jail}")?;
    writeln!(w, "|- Filter")?;
    writeln!(w, "|  |- Currently failed:\t{}", st.currently_failed)?;
    writeln!(w, "|  |- Total failed:\t{}", st.total_failed)?;
    writeln!(w, "|  `- File list:\t{}", files.join(" "))?;
    writeln!(w, "`- Actions")?;
    writeln!(w, "   |- Currently banned:\t{}", st.currently_banned)?;
    writeln!(w, "   |- Total banned:\t{}", st.total_banned)?;
    writeln!(w, "   `- Banned IP list:\t{}", st.banned.join(" "))
}

/// Checks every set name the ipset and nft files would get, before any work is done.
fn check_set_names(plans: &[Plan], prefix: &str) -> Result<()> {
    for p in plans {
        for n in &p.params.set_names {
            let full = format!("{prefix}{n}6");
            let len = full.chars().count();
            if len > MAX_SET_NAME {
                bail!(
                    "jail {}: set name '{full}' (the IPv6 set of action name '{n}') has {len} \
                     characters; ipset allows at most {MAX_SET_NAME}: shorten the action's name= \
                     or --set-prefix",
                    p.def.name
                );
            }
        }
    }
    Ok(())
}

pub fn run(args: BansArgs) -> Result<Exit> {
    // Validate everything cheap before scanning.
    let tz = timezone_arg(args.timezone.as_deref())?;
    let at_arg = args
        .at
        .as_deref()
        .map(|s| parse_instant(s).map(|t| t as f64).context("--at"))
        .transpose()?;
    let ov = overrides(&args)?;
    let all = load_jails(&args.config)
        .with_context(|| format!("reading jails from {}", args.config.display()))?;
    let defs = select_jails(all, &args.jails, &args.config)?;
    let (dbpurgeage, database) = database_settings(&args.config)?;
    let mut plans: Vec<Plan> = Vec::new();
    for def in defs {
        let params = jail_params(&def, &ov, database)?;
        if def.increment.enabled && !database && !args.quiet {
            eprintln!(
                "failscan: jail {}: bantime.increment needs a database and dbfile = None; not incrementing",
                def.name
            );
        }
        plans.push(Plan {
            recidive: is_recidive(&def),
            def,
            params,
            files: Vec::new(),
            filter: String::new(),
            failures: Vec::new(),
            found: 0,
            undated: 0,
        });
    }
    if args.ipset.is_some() || args.nft.is_some() {
        check_set_names(&plans, &args.set_prefix)?;
    }
    let cli_logs = if args.logs.is_empty() {
        None
    } else {
        Some(files::expand(&args.logs)?)
    };
    let jobs = plan_jobs(&plans, cli_logs.as_deref(), tz)?;

    // Scans.
    let mut totals = ScanTotals::default();
    for job in &jobs {
        run_job(&args.config, job, &mut plans, &args, &mut totals)?;
    }
    let replayed: Vec<String> = plans
        .iter()
        .filter(|p| !p.recidive)
        .map(|p| p.def.name.clone())
        .collect();
    if args.fail2ban_log.is_some() && !plans.iter().any(|p| p.recidive) {
        eprintln!(
            "failscan: warning: --fail2ban-log is read only for a recidive jail, and none is selected"
        );
    }
    if let Some(log) = &args.fail2ban_log {
        let skip: Vec<&str> = replayed.iter().map(String::as_str).collect();
        for j in 0..plans.len() {
            if !plans[j].recidive {
                continue;
            }
            let spec = recidive_spec(&plans[j].def, &skip)?;
            if !log.is_file() {
                bail!("--fail2ban-log {}: no such file", log.display());
            }
            let job = ScanJob {
                paths: vec![log.clone()],
                tz: jail_tz(&plans[j].def, tz)?,
                keys: vec![(spec, plans[j].def.datepattern.clone())],
                owners: vec![j],
                members: vec![(j, 0)],
            };
            run_job(&args.config, &job, &mut plans, &args, &mut totals)?;
        }
    }

    // Replay.
    let opts = ReplayOptions {
        firewall_drops: args.firewall_drops,
        dbpurgeage,
    };
    let normal: Vec<usize> = (0..plans.len()).filter(|&j| !plans[j].recidive).collect();
    let inputs: Vec<JailInput<'_>> = normal
        .iter()
        .map(|&j| JailInput {
            params: &plans[j].params,
            failures: &plans[j].failures,
        })
        .collect();
    let mut replays: Vec<Option<JailReplay>> = (0..plans.len()).map(|_| None).collect();
    for (&j, r) in normal.iter().zip(replay_jails(&inputs, &opts)) {
        replays[j] = Some(r);
    }
    let other_bans: Vec<crate::replay::Ban> = replays
        .iter()
        .flatten()
        .flat_map(|r| r.bans.iter().cloned())
        .collect();
    for (j, p) in plans.iter().enumerate() {
        if p.recidive {
            replays[j] = Some(replay_recidive(&p.params, &other_bans, &p.failures, &opts));
        }
    }
    let replays: Vec<JailReplay> = replays.into_iter().flatten().collect();

    // The instant.
    let (at, at_source) = match (at_arg, totals.last_time) {
        (Some(t), _) => (t, "--at"),
        (None, Some(t)) => (t, "the last dated log line"),
        (None, None) => (
            wall_clock() as f64,
            "the current time: no dated log line was found",
        ),
    };

    // Outputs.
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    for (k, (p, r)) in plans.iter().zip(&replays).enumerate() {
        if k > 0 {
            writeln!(out)?;
        }
        write_status(&mut out, &p.def.name, &p.files, &r.status_at(at))?;
    }
    out.flush()?;

    if let Some(path) = &args.csv {
        let labels: Vec<Box<dyn Fn(u32) -> String>> = plans
            .iter()
            .map(|p| {
                let name = p.filter.clone();
                Box::new(move |tag: u32| {
                    if tag == REPLAYED_BAN_TAG {
                        REPLAYED_BAN_LABEL.to_string()
                    } else {
                        format!("{name}#{}", u64::from(tag) + 1)
                    }
                }) as Box<dyn Fn(u32) -> String>
            })
            .collect();
        let jails: Vec<JailBans<'_>> = replays
            .iter()
            .zip(&labels)
            .map(|(r, l)| JailBans {
                bans: &r.bans,
                label: l.as_ref(),
            })
            .collect();
        let mut buf = Vec::new();
        bans_csv::write_bans_csv(&mut buf, &jails).context("--csv")?;
        std::fs::write(path, buf).with_context(|| format!("--csv {}", path.display()))?;
    }
    let specs: Vec<SetSpec<'_>> = plans
        .iter()
        .zip(&replays)
        .map(|(p, r)| SetSpec {
            names: &p.params.set_names,
            bans: &r.bans,
        })
        .collect();
    let mut set_stats = None;
    if let Some(path) = &args.ipset {
        let opts = IpsetOptions {
            now: at,
            prefix: args.set_prefix.clone(),
            exist: !args.no_exist,
            timeouts: match args.timeouts {
                SetTimeouts::Remaining => Timeouts::Remaining,
                SetTimeouts::Zero => Timeouts::Zero,
            },
        };
        let mut buf = Vec::new();
        set_stats = Some(write_ipset(&mut buf, &specs, &opts).context("--ipset")?);
        std::fs::write(path, buf).with_context(|| format!("--ipset {}", path.display()))?;
    }
    if let Some(path) = &args.nft {
        let opts = NftOptions {
            now: at,
            prefix: args.set_prefix.clone(),
            table: args.nft_table.clone(),
            replace: true,
        };
        let mut buf = Vec::new();
        set_stats = Some(write_nft(&mut buf, &specs, &opts).context("--nft")?);
        std::fs::write(path, buf).with_context(|| format!("--nft {}", path.display()))?;
    }

    // Summary and warnings on standard error.
    if !args.quiet {
        eprintln!("failscan: state at {} ({at_source})", bans_csv::rfc3339(at));
    }
    for (p, r) in plans.iter().zip(&replays) {
        if !args.quiet {
            let source = if p.recidive {
                let fed = other_bans.iter().filter(|b| b.jail != p.def.name).count();
                format!(
                    "{fed} replayed bans of other jails and {} Ban lines of other jails in --fail2ban-log",
                    p.failures.len()
                )
            } else {
                format!("{} failures in {} files", p.found, p.files.len())
            };
            eprintln!(
                "failscan: jail {}: {source}; {} ignored (ignoreip), {} dropped (--firewall-drops); {} bans",
                p.def.name,
                r.ignored,
                r.dropped,
                r.bans.len()
            );
        }
        if p.undated > 0 {
            eprintln!(
                "failscan: warning: jail {}: {} failures have no time (before the first dated line of their file) and were not replayed",
                p.def.name, p.undated
            );
        }
    }
    if let Some(st) = set_stats {
        let skipped = st.skipped_non_ip + st.skipped_subnets;
        if skipped > 0 {
            eprintln!(
                "failscan: warning: {} active bans not written to the set files ({} non-IP IDs, {} subnets)",
                skipped, st.skipped_non_ip, st.skipped_subnets
            );
        }
    }
    for e in &totals.errors {
        eprintln!("failscan: error: {e}");
    }
    Ok(if totals.errors.is_empty() {
        Exit::Success
    } else {
        Exit::Partial
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::f2b::{ActionRef, BantimeIncrement};

    fn action(file: &str, name: &str) -> ActionRef {
        ActionRef {
            action: file.into(),
            name: name.into(),
            actname: file.into(),
            params: vec![],
        }
    }

    fn jail(name: &str, filter: &str) -> JailDef {
        JailDef {
            name: name.into(),
            enabled: true,
            filter: filter.into(),
            backend: "auto".into(),
            logpath: vec![],
            maxretry: 5,
            findtime: 600.0,
            bantime: 600.0,
            increment: BantimeIncrement::default(),
            ignoreip: vec![],
            ignoreself: true,
            usedns: "warn".into(),
            datepattern: None,
            logtimezone: None,
            actions: vec![],
        }
    }

    #[test]
    fn set_names_skip_notification_actions() {
        let mut j = jail("asterisk", "asterisk[mode=normal]");
        j.actions = vec![
            action("iptables-multiport", "asterisk-tcp"),
            action("iptables-multiport", "asterisk-udp"),
            action("sendmail-whois", "asterisk"),
            action("abuseipdb", "asterisk"),
            action("iptables-multiport", "asterisk-udp"),
        ];
        assert_eq!(set_names(&j), ["asterisk-tcp", "asterisk-udp"]);
        j.actions = vec![action("iptables-allports", "recidive")];
        assert_eq!(set_names(&j), ["recidive"]);
        j.actions = vec![action("mail-whois-lines", "x")];
        assert_eq!(set_names(&j), ["asterisk"]);
        j.actions.clear();
        assert_eq!(set_names(&j), ["asterisk"]);
    }

    #[test]
    fn recidive_spec_extends_jailname() {
        let j = jail("recidive", "recidive[mode=normal]");
        assert!(is_recidive(&j));
        assert_eq!(
            recidive_spec(&j, &["asterisk", "a.b"]).unwrap(),
            r#"recidive[mode="normal", _jailname="(?:(?:recidive)|asterisk|a\.b)"]"#
        );
        let j = jail("rec2", "recidive[_jailname=rec2]");
        assert_eq!(
            recidive_spec(&j, &[]).unwrap(),
            r#"recidive[_jailname="(?:(?:rec2))"]"#
        );
        let parsed = parse_spec(&recidive_spec(&j, &["x"]).unwrap()).unwrap();
        assert_eq!(parsed.1[0].1, "(?:(?:rec2)|x)");
        assert!(!is_recidive(&jail("asterisk", "asterisk")));
    }

    #[test]
    fn increment_settings() {
        let mut j = jail("a", "a");
        assert_eq!(increment(&j).unwrap(), None);
        j.increment.enabled = true;
        assert_eq!(increment(&j).unwrap(), Some(Increment::default()));
        j.increment.formula = Some(DEFAULT_FORMULA.replace(' ', "  ").to_string());
        j.increment.factor = Some("2".into());
        j.increment.multipliers = Some("1 5 30".into());
        j.increment.rndtime = Some(60.0);
        let inc = increment(&j).unwrap().unwrap();
        assert_eq!(inc.factor, 2.0);
        assert_eq!(inc.multipliers, [1.0, 5.0, 30.0]);
        assert_eq!(inc.rndtime, Some((60.0, RNDTIME_SEED)));
        j.increment.formula = Some("ban.Time * 3".into());
        let e = increment(&j).unwrap_err().to_string();
        assert!(e.contains("unsupported") && e.contains("formula"), "{e}");
        j.increment.formula = None;
        j.increment.factor = Some("1+1".into());
        assert!(increment(&j)
            .unwrap_err()
            .to_string()
            .contains("unsupported"));
    }

    #[test]
    fn params_apply_overrides() {
        let mut j = jail("asterisk", "asterisk");
        j.bantime = 3600.7;
        let p = jail_params(&j, &Overrides::default(), true).unwrap();
        assert_eq!((p.maxretry, p.findtime, p.bantime), (5, 600.0, 3600.0));
        let ov = Overrides {
            maxretry: Some(2),
            findtime: Some(60.0),
            bantime: Some(-1.0),
        };
        let p = jail_params(&j, &ov, true).unwrap();
        assert_eq!((p.maxretry, p.findtime, p.bantime), (2, 60.0, -1.0));
        j.ignoreip = vec!["example.com".into()];
        let e = format!("{:#}", jail_params(&j, &ov, true).unwrap_err());
        assert!(e.contains("DNS name") && e.contains("asterisk"), "{e}");
    }

    #[test]
    fn selection() {
        let mut b = jail("b", "b");
        b.enabled = false;
        let all = vec![jail("a", "a"), b];
        let cfg = Path::new("/cfg");
        let names = |v: Vec<JailDef>| v.into_iter().map(|j| j.name).collect::<Vec<_>>();
        assert_eq!(names(select_jails(all.clone(), &[], cfg).unwrap()), ["a"]);
        let pick = ["b".to_string(), "a".to_string(), "b".to_string()];
        assert_eq!(
            names(select_jails(all.clone(), &pick, cfg).unwrap()),
            ["b", "a"]
        );
        let e = select_jails(all, &["zz".to_string()], cfg)
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown jail 'zz'") && e.contains("a, b"), "{e}");
    }

    #[test]
    fn status_layout() {
        let st = crate::replay::JailStatus {
            currently_failed: 0,
            total_failed: 123,
            currently_banned: 2,
            total_banned: 5,
            banned: vec!["192.0.2.1".into(), "198.51.100.7".into()],
        };
        let mut out = Vec::new();
        write_status(
            &mut out,
            "asterisk",
            &[PathBuf::from("/var/log/asterisk/messages")],
            &st,
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "Status for the jail: asterisk\n|- Filter\n|  |- Currently failed:\t0\n\
             |  |- Total failed:\t123\n|  `- File list:\t/var/log/asterisk/messages\n\
             `- Actions\n   |- Currently banned:\t2\n   |- Total banned:\t5\n\
             \x20  `- Banned IP list:\t192.0.2.1 198.51.100.7\n"
        );
    }
}
