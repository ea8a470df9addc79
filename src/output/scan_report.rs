//! The `scan` report: text for people, CSV and JSON for tools, and the `--output DIR` files
//! (`regexes.csv`, `ips.csv`, `events.csv`, `files.csv`).

use std::io::{self, Write};
use std::path::Path;

use anyhow::{Context, Result};
use rayon::prelude::*;
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
pub fn rfc3339(t: Option<f64>) -> String {
    let mut out = Vec::with_capacity(20);
    push_rfc3339(&mut out, t);
    String::from_utf8(out).unwrap_or_default()
}

/// Appends [`rfc3339`] of `t` to `out`.
fn push_rfc3339(out: &mut Vec<u8>, t: Option<f64>) {
    push_rfc3339_with(out, t, &mut None);
}

/// The text of the last day [`push_rfc3339_with`] wrote (`YYYY-MM-DDT`) and its day
/// number: the times of a report fall on a few days.
type DayText = Option<(i64, [u8; 11])>;

/// [`push_rfc3339`], with the date part from `last` when the day is the same. The digits
/// are written by hand: a report lists tens of thousands of addresses with two times each,
/// and `format!` per time (let alone chrono's strftime parser) was most of the cost of the
/// text report; the calendar date is computed by hand too ([`civil_from_days`]; chrono's
/// was a third of what was left), and only when the day changes.
fn push_rfc3339_with(out: &mut Vec<u8>, t: Option<f64>, last: &mut DayText) {
    let Some(t) = t.filter(|t| t.is_finite()) else {
        return;
    };
    let secs = t.floor();
    // Four-digit years only (0000-01-01 to 9999-12-31): beyond, the general formatter.
    if !(-62_167_219_200.0..253_402_300_800.0).contains(&secs) {
        push_rfc3339_general(out, secs);
        return;
    }
    let secs = secs as i64;
    let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400) as u32);
    let two = |n: u32| [b'0' + (n / 10 % 10) as u8, b'0' + (n % 10) as u8];
    let date = match *last {
        Some((d, text)) if d == days => text,
        _ => {
            let (year, month, day) = civil_from_days(days);
            let y = year as u32;
            let ([a, b], [c, e]) = (two(y / 100), two(y % 100));
            let ([mo1, mo2], [d1, d2]) = (two(month), two(day));
            let text = [a, b, c, e, b'-', mo1, mo2, b'-', d1, d2, b'T'];
            *last = Some((days, text));
            text
        }
    };
    let [h1, h2] = two(sod / 3600);
    let [mi1, mi2] = two(sod / 60 % 60);
    let [s1, s2] = two(sod % 60);
    let mut text = [0u8; 20];
    text[..11].copy_from_slice(&date);
    text[11..].copy_from_slice(&[h1, h2, b':', mi1, mi2, b':', s1, s2, b'Z']);
    out.extend_from_slice(&text);
}

/// [`push_rfc3339`] of whole seconds outside four-digit years (chrono's range, else nothing).
#[cold]
fn push_rfc3339_general(out: &mut Vec<u8>, secs: f64) {
    if let Some(d) = chrono::DateTime::from_timestamp(secs as i64, 0) {
        out.extend_from_slice(d.format("%Y-%m-%dT%H:%M:%SZ").to_string().as_bytes());
    }
}

/// The proleptic Gregorian (year, month, day) of `days` since 1970-01-01: the era-based
/// algorithm of H. Hinnant's "chrono-Compatible Low-Level Date Algorithms" (an era is 400
/// years, 146,097 days, starting on March 1st so that leap days end the year).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // day of era, [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // day of year from March 1st
    let mp = (5 * doy + 2) / 153; // month from March, [0, 11]
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Appends one address row of the text report to `out`.
/// `days`: the last day of each time column.
fn push_ip_row(out: &mut Vec<u8>, ip: &str, s: &IpStat, names: &[&str], days: &mut [DayText; 2]) {
    out.extend_from_slice(b"  ");
    push_num(out, s.hits, 8);
    out.extend_from_slice(b"  ");
    out.extend_from_slice(ip.as_bytes());
    out.resize(out.len() + 39usize.saturating_sub(ip.chars().count()), b' ');
    out.extend_from_slice(b"  ");
    push_rfc3339_with(out, s.first_seen, &mut days[0]);
    out.extend_from_slice(b"  ");
    push_rfc3339_with(out, s.last_seen, &mut days[1]);
    out.extend_from_slice(b"  ");
    for (i, ((f, x), n)) in s.regexes.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(names.get(*f as usize).copied().unwrap_or("?").as_bytes());
        out.push(b'#');
        push_num(out, u64::from(*x) + 1, 0);
        out.push(b'=');
        push_num(out, *n, 0);
    }
    out.push(b'\n');
}

/// Appends the decimal digits of `n` to `out`, right-aligned in `width` columns.
fn push_num(out: &mut Vec<u8>, n: u64, width: usize) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut n = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let len = digits.len() - i;
    out.resize(out.len() + width.saturating_sub(len), b' ');
    out.extend_from_slice(&digits[i..]);
}

/// Rows of the text report formatted by one task.
const ROWS_PER_BLOCK: usize = 256;
/// Blocks formatted before they are written: bounds the text held at once (~1 MB).
const BLOCKS_PER_BATCH: usize = 16;

/// IPs sorted by hits (descending), then address, limited to `--top`.
fn ranked<'a>(r: &'a ScanReport) -> Vec<(&'a str, &'a IpStat)> {
    let mut v = r.run.tally.ips.ranked();
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
    // One row per address, formatted by hand (a report lists tens of thousands of
    // addresses; `write!` with padding per field was most of its cost), in parallel by
    // blocks of rows, each block into its own buffer, written in order.
    let names: Vec<&str> = r.filters.iter().map(|f| f.name.as_str()).collect();
    let mut bufs: Vec<Vec<u8>> = Vec::new();
    for batch in ips.chunks(ROWS_PER_BLOCK * BLOCKS_PER_BATCH) {
        let blocks: Vec<_> = batch.chunks(ROWS_PER_BLOCK).collect();
        bufs.resize_with(blocks.len().max(bufs.len()), || {
            Vec::with_capacity(ROWS_PER_BLOCK * 160)
        });
        blocks
            .par_iter()
            .zip(bufs.par_iter_mut())
            .for_each(|(rows, out)| {
                out.clear();
                let mut days = [None, None];
                for (ip, s) in rows.iter() {
                    push_ip_row(out, ip, s, &names, &mut days);
                }
            });
        for out in &bufs[..blocks.len()] {
            w.write_all(out)?;
        }
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
            ip,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_by_hand_equals_chrono() {
        for t in [
            0.0,
            1.5,
            951_782_400.0,
            1_710_058_501.999,
            253_402_300_799.0,
            -62_167_219_200.0,
            -1.0,
        ] {
            let want = chrono::DateTime::from_timestamp(f64::floor(t) as i64, 0)
                .unwrap()
                .format("%Y-%m-%dT%H:%M:%SZ")
                .to_string();
            assert_eq!(rfc3339(Some(t)), want, "{t}");
        }
        // Every day from 0000-01-01 to 9999-12-31 at a time of day that moves through the
        // day, and the seconds around the ends of the four-digit range.
        let (lo, hi) = (-62_167_219_200i64, 253_402_300_800i64);
        let mut t = lo;
        while t < hi {
            let want = chrono::DateTime::from_timestamp(t, 0)
                .unwrap()
                .format("%Y-%m-%dT%H:%M:%SZ")
                .to_string();
            assert_eq!(rfc3339(Some(t as f64)), want, "{t}");
            t += 86_400 + 7;
        }
        for t in [lo - 1, lo, lo + 1, hi - 1, hi, hi + 1] {
            let want = chrono::DateTime::from_timestamp(t, 0)
                .unwrap()
                .format("%Y-%m-%dT%H:%M:%SZ")
                .to_string();
            assert_eq!(rfc3339(Some(t as f64)), want, "{t}");
        }
        assert_eq!(rfc3339(Some(1e300)), "");
        // With the last day remembered: the same text for times that go back and forth
        // across midnights (and to the general formatter and back).
        let mut days = None;
        let mut seed = 11u64;
        for _ in 0..20_000 {
            let r = crate::testutil::lcg(&mut seed) >> 11;
            let t = match r % 50 {
                0 => 1e13 + (r % 1000) as f64,
                _ => 1_709_251_200.0 + (r % 400_000) as f64 - 200_000.0 + 0.5,
            };
            let mut out = Vec::new();
            push_rfc3339_with(&mut out, Some(t), &mut days);
            assert_eq!(String::from_utf8(out).unwrap(), rfc3339(Some(t)), "{t}");
        }
        assert_eq!(rfc3339(Some(1_710_058_501.0)), "2024-03-10T08:15:01Z");
        assert_eq!(rfc3339(None), "");
        assert_eq!(rfc3339(Some(f64::NAN)), "");
    }

    #[test]
    fn push_num_pads_on_the_left() {
        for (n, w) in [
            (0u64, 0usize),
            (7, 8),
            (12_345_678, 8),
            (123_456_789, 8),
            (u64::MAX, 3),
        ] {
            let mut out = Vec::new();
            push_num(&mut out, n, w);
            assert_eq!(String::from_utf8(out).unwrap(), format!("{n:>w$}"));
        }
    }
}
