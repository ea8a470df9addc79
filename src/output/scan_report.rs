//! The `scan` report: text for people, CSV and JSON for tools, and the `--output DIR` files
//! (`regexes.csv`, `ips.csv`, `events.csv`, `files.csv`).

use std::io::{self, Write};
use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::cmd::scan::ScanRun;
use crate::scan::IpStat;

/// A filter as the report shows it.
#[derive(Debug, Clone)]
pub struct FilterInfo {
    pub name: String,
    pub origin: String,
    pub failregex: Vec<String>,
    pub ignoreregex: Vec<String>,
}

pub struct ScanReport<'a> {
    pub filters: &'a [FilterInfo],
    pub run: &'a ScanRun,
    pub top: Option<usize>,
}

/// Epoch seconds as RFC 3339 UTC (`2024-03-10T08:15:01Z`), empty when unknown.
/// (Plain `format!` of the fields: chrono's strftime parser was a visible cost for reports of
/// tens of thousands of addresses.)
pub fn rfc3339(t: Option<f64>) -> String {
    use chrono::{Datelike, Timelike};
    t.and_then(|t| chrono::DateTime::from_timestamp(t.floor() as i64, 0))
        .map(|d| {
            format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
                d.year(),
                d.month(),
                d.day(),
                d.hour(),
                d.minute(),
                d.second()
            )
        })
        .unwrap_or_default()
}

/// IPs sorted by hits (descending), then address, limited to `--top`.
fn ranked<'a>(r: &'a ScanReport) -> Vec<(&'a String, &'a IpStat)> {
    let mut v: Vec<_> = r.run.tally.ips.iter().collect();
    v.sort_by(|a, b| b.1.hits.cmp(&a.1.hits).then_with(|| a.0.cmp(b.0)));
    if let Some(n) = r.top {
        v.truncate(n);
    }
    v
}

fn regex_label(r: &ScanReport, filter: u32, regex: u32) -> String {
    let name = r
        .filters
        .get(filter as usize)
        .map(|f| f.name.as_str())
        .unwrap_or("?");
    format!("{name}#{}", regex + 1)
}

fn file_name(r: &ScanReport, file: u32) -> String {
    r.run
        .paths
        .get(file as usize)
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

pub fn write_text(w: &mut impl Write, r: &ScanReport) -> io::Result<()> {
    let t = &r.run.tally;
    writeln!(w, "Files:")?;
    for f in &r.run.files {
        let status = match &f.error {
            Some(e) => format!("INCOMPLETE: {e}"),
            None => "ok".into(),
        };
        writeln!(
            w,
            "  {} ({}, {} bytes, {} lines): {status}",
            f.path.display(),
            f.compression.name(),
            f.bytes,
            f.lines
        )?;
    }
    writeln!(w)?;
    for (fi, f) in r.filters.iter().enumerate() {
        let hits = t.regex_hits.get(fi).cloned().unwrap_or_default();
        let total: u64 = hits.iter().sum();
        writeln!(w, "Filter {} ({}): {total} hits", f.name, f.origin)?;
        for (i, re) in f.failregex.iter().enumerate() {
            writeln!(
                w,
                "  {:2}) [{}] {}",
                i + 1,
                hits.get(i).copied().unwrap_or(0),
                re
            )?;
        }
        let ig = t.ignore_hits.get(fi).cloned().unwrap_or_default();
        for (i, re) in f.ignoreregex.iter().enumerate() {
            writeln!(
                w,
                "  ignore {:2}) [{}] {}",
                i + 1,
                ig.get(i).copied().unwrap_or(0),
                re
            )?;
        }
    }
    writeln!(w)?;
    let names = &r.run.template_names;
    let dates: Vec<_> = t
        .date_hits
        .iter()
        .enumerate()
        .filter(|(_, h)| **h > 0)
        .collect();
    if !dates.is_empty() {
        writeln!(w, "Date template hits:")?;
        for (i, h) in dates {
            writeln!(
                w,
                "  [{h}] {}",
                names.get(i).map(String::as_str).unwrap_or("?")
            )?;
        }
        writeln!(w)?;
    }
    let ips = ranked(r);
    writeln!(
        w,
        "IPs: {} distinct{}",
        t.ips.len(),
        match r.top {
            Some(n) if n < t.ips.len() => format!(", top {n}"),
            _ => String::new(),
        }
    )?;
    // One row per address, written straight to the output (no per-row strings: a report
    // lists tens of thousands of addresses).
    let names: Vec<&str> = r.filters.iter().map(|f| f.name.as_str()).collect();
    for (ip, s) in &ips {
        write!(
            w,
            "  {:>8}  {:<39}  {}  {}  ",
            s.hits,
            ip,
            rfc3339(s.first_seen),
            rfc3339(s.last_seen),
        )?;
        for (i, ((f, x), n)) in s.regexes.iter().enumerate() {
            let sep = if i == 0 { "" } else { "," };
            let name = names.get(*f as usize).copied().unwrap_or("?");
            write!(w, "{sep}{name}#{}={n}", x + 1)?;
        }
        writeln!(w)?;
    }
    writeln!(w)?;
    writeln!(
        w,
        "Lines: {} lines, {} skipped, {} ignored, {} matched, {} missed; {} without date, {} with invalid UTF-8",
        t.lines, t.skipped, t.ignored, t.matched, t.missed, t.no_date, t.invalid_utf8
    )?;
    let bad = r.run.files.iter().filter(|f| f.error.is_some()).count();
    if bad > 0 {
        writeln!(
            w,
            "INCOMPLETE: {bad} input(s) could not be read completely (see Files)"
        )?;
    }
    Ok(())
}

// The JSON report, as borrowed structs: building a `serde_json::Value` tree for tens of
// thousands of addresses cost more than the scan itself. Fields are in alphabetical order
// (the order the former `Value` maps printed in), so the output is unchanged.

#[derive(Serialize)]
struct JsonReport<'a> {
    complete: bool,
    date_templates: Vec<JsonDate<'a>>,
    files: Vec<JsonFile<'a>>,
    ignored: u64,
    invalid_utf8: u64,
    ips: Vec<JsonIp<'a>>,
    lines: u64,
    matched: u64,
    missed: u64,
    no_date: u64,
    regexes: Vec<JsonRegex<'a>>,
    skipped: u64,
}

#[derive(Serialize)]
struct JsonDate<'a> {
    hits: u64,
    template: Option<&'a String>,
}

#[derive(Serialize)]
struct JsonFile<'a> {
    bytes: u64,
    compression: &'a str,
    error: &'a Option<String>,
    lines: u64,
    path: String,
}

#[derive(Serialize)]
struct JsonIp<'a> {
    files: Vec<JsonIpFile>,
    first_seen: String,
    hits: u64,
    ip: &'a str,
    last_seen: String,
    regexes: Vec<JsonIpRegex<'a>>,
}

#[derive(Serialize)]
struct JsonIpFile {
    file: String,
    hits: u64,
}

#[derive(Serialize)]
struct JsonIpRegex<'a> {
    filter: Option<&'a str>,
    hits: u64,
    index: u32,
}

#[derive(Serialize)]
struct JsonRegex<'a> {
    filter: &'a str,
    hits: u64,
    index: usize,
    regex: &'a str,
}

pub fn write_json(w: &mut impl Write, r: &ScanReport) -> io::Result<()> {
    let t = &r.run.tally;
    let mut regexes = Vec::new();
    for (fi, f) in r.filters.iter().enumerate() {
        for (i, re) in f.failregex.iter().enumerate() {
            regexes.push(JsonRegex {
                filter: &f.name,
                hits: t
                    .regex_hits
                    .get(fi)
                    .and_then(|h| h.get(i))
                    .copied()
                    .unwrap_or(0),
                index: i + 1,
                regex: re,
            });
        }
    }
    let ips = ranked(r)
        .into_iter()
        .map(|(ip, s)| JsonIp {
            files: s
                .files
                .iter()
                .map(|&(f, hits)| JsonIpFile {
                    file: file_name(r, f),
                    hits,
                })
                .collect(),
            first_seen: rfc3339(s.first_seen),
            hits: s.hits,
            ip,
            last_seen: rfc3339(s.last_seen),
            regexes: s
                .regexes
                .iter()
                .map(|&((f, x), hits)| JsonIpRegex {
                    filter: r.filters.get(f as usize).map(|f| f.name.as_str()),
                    hits,
                    index: x + 1,
                })
                .collect(),
        })
        .collect();
    let files = r
        .run
        .files
        .iter()
        .map(|f| JsonFile {
            bytes: f.bytes,
            compression: f.compression.name(),
            error: &f.error,
            lines: f.lines,
            path: f.path.display().to_string(),
        })
        .collect();
    let date_templates = t
        .date_hits
        .iter()
        .enumerate()
        .filter(|(_, h)| **h > 0)
        .map(|(i, &hits)| JsonDate {
            hits,
            template: r.run.template_names.get(i),
        })
        .collect();
    let v = JsonReport {
        complete: r.run.files.iter().all(|f| f.error.is_none()),
        date_templates,
        files,
        ignored: t.ignored,
        invalid_utf8: t.invalid_utf8,
        ips,
        lines: t.lines,
        matched: t.matched,
        missed: t.missed,
        no_date: t.no_date,
        regexes,
        skipped: t.skipped,
    };
    serde_json::to_writer_pretty(&mut *w, &v)?;
    writeln!(w)
}

fn ips_csv<W: Write>(w: W, r: &ScanReport) -> csv::Result<()> {
    let mut c = csv::Writer::from_writer(w);
    c.write_record(["ip", "hits", "first_seen", "last_seen", "regexes", "files"])?;
    for (ip, s) in ranked(r) {
        let regs: Vec<String> = s
            .regexes
            .iter()
            .map(|((f, x), n)| format!("{}={n}", regex_label(r, *f, *x)))
            .collect();
        let files: Vec<String> = s
            .files
            .iter()
            .map(|(f, n)| format!("{}={n}", file_name(r, *f)))
            .collect();
        c.write_record([
            ip.as_str(),
            &s.hits.to_string(),
            &rfc3339(s.first_seen),
            &rfc3339(s.last_seen),
            &regs.join(";"),
            &files.join(";"),
        ])?;
    }
    c.flush()?;
    Ok(())
}

pub fn write_ips_csv(w: &mut impl Write, r: &ScanReport) -> io::Result<()> {
    ips_csv(w, r).map_err(io::Error::other)
}

/// Writes `regexes.csv`, `ips.csv`, `events.csv` and `files.csv` into `dir`.
pub fn write_dir(dir: &Path, r: &ScanReport) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let open = |name: &str| {
        let p = dir.join(name);
        std::fs::File::create(&p)
            .map(io::BufWriter::new)
            .with_context(|| format!("cannot create {}", p.display()))
    };
    let t = &r.run.tally;
    let mut c = csv::Writer::from_writer(open("regexes.csv")?);
    c.write_record(["filter", "index", "regex", "hits"])?;
    for (fi, f) in r.filters.iter().enumerate() {
        for (i, re) in f.failregex.iter().enumerate() {
            let hits = t
                .regex_hits
                .get(fi)
                .and_then(|h| h.get(i))
                .copied()
                .unwrap_or(0);
            c.write_record([f.name.as_str(), &(i + 1).to_string(), re, &hits.to_string()])?;
        }
    }
    c.flush()?;
    ips_csv(open("ips.csv")?, r)?;
    let mut c = csv::Writer::from_writer(open("events.csv")?);
    c.write_record(["time", "epoch", "ip", "filter", "regex", "file", "line"])?;
    for e in &t.events {
        c.write_record([
            rfc3339(e.time),
            e.time.map(|t| format!("{t}")).unwrap_or_default(),
            e.ip.clone(),
            r.filters
                .get(e.filter as usize)
                .map(|f| f.name.clone())
                .unwrap_or_default(),
            (e.regex + 1).to_string(),
            file_name(r, e.file),
            e.line.to_string(),
        ])?;
    }
    c.flush()?;
    let mut c = csv::Writer::from_writer(open("files.csv")?);
    c.write_record(["path", "compression", "bytes", "lines", "error"])?;
    for f in &r.run.files {
        c.write_record([
            f.path.display().to_string(),
            f.compression.name().to_string(),
            f.bytes.to_string(),
            f.lines.to_string(),
            f.error.clone().unwrap_or_default(),
        ])?;
    }
    c.flush()?;
    Ok(())
}
