//! The `regex` report: fail2ban-regex's text layout (semantics doc 5.3-5.7), byte for byte
//! except the elapsed time, its `-o` formats, and the same data as JSON.

use std::io::{self, Write};

use serde::Serialize;

use crate::pattern::Failure;

/// Hit counter of one failregex or ignoreregex.
#[derive(Debug, Clone, Serialize)]
pub struct RegexStat {
    /// The regex as written in the filter (tags not expanded), as fail2ban-regex prints it.
    pub regex: String,
    pub hits: u64,
    /// `(id, time, multiple-regex flag)` per hit; kept only with `-v`.
    #[serde(skip)]
    pub ips: Vec<(String, Option<f64>, bool)>,
}

impl RegexStat {
    pub fn new(regex: String) -> Self {
        RegexStat {
            regex,
            hits: 0,
            ips: Vec::new(),
        }
    }
}

/// Line counters and the kept line lists.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LineStats {
    pub tested: u64,
    pub ignored: u64,
    pub matched: u64,
    pub missed: u64,
    pub matched_lines: Vec<String>,
    pub missed_lines: Vec<String>,
    pub ignored_lines: Vec<String>,
}

/// Everything the report prints.
#[derive(Debug, Clone)]
pub struct RegexReport {
    pub header: Vec<String>,
    /// The expanded prefregex and the number of lines it matched.
    pub prefregex: Option<(String, u64)>,
    /// `-v`: prefregex groups per matching line (Python dict reprs, then `...`).
    pub prefregex_groups: Vec<String>,
    pub failregex: Vec<RegexStat>,
    pub ignoreregex: Vec<RegexStat>,
    /// Date templates in the detector's current order, with hits.
    pub date_templates: Vec<(String, u64)>,
    pub stats: LineStats,
    pub elapsed: f64,
    pub verbose: u8,
    /// 20, or `-L N`: lists print only when shorter than this.
    pub limit: usize,
    pub print_all_matched: bool,
    pub print_all_missed: bool,
    pub print_all_ignored: bool,
    pub print_no_missed: bool,
    pub print_no_ignored: bool,
}

/// fail2ban-regex's `pprint_list`.
fn pprint_list(w: &mut impl Write, items: &[String], header: Option<&str>) -> io::Result<()> {
    if items.is_empty() {
        return Ok(());
    }
    if let Some(h) = header {
        writeln!(w, "|- {h}")?;
    }
    writeln!(w, "|  {}", items.join("\n|  "))?;
    writeln!(w, "`-")
}

/// Writes the report in fail2ban-regex's layout.
pub fn write_text(w: &mut impl Write, r: &RegexReport) -> io::Result<()> {
    writeln!(w)?;
    writeln!(w, "Running tests")?;
    writeln!(w, "=============")?;
    writeln!(w)?;
    for h in &r.header {
        writeln!(w, "{h}")?;
    }
    writeln!(w)?;
    writeln!(w)?;
    writeln!(w, "Results")?;
    writeln!(w, "=======")?;
    if let Some((re, hits)) = &r.prefregex {
        writeln!(w, "\nPrefregex: {hits} total")?;
        let mut out = vec![re.clone()];
        if r.verbose > 0 {
            out.extend(r.prefregex_groups.iter().map(|g| format!("    {g}")));
        }
        pprint_list(w, &out, None)?;
    }
    write_regex_list(w, "Failregex", &r.failregex, r.verbose)?;
    write_regex_list(w, "Ignoreregex", &r.ignoreregex, r.verbose)?;
    writeln!(w, "\nDate template hits:")?;
    let dates: Vec<String> = r
        .date_templates
        .iter()
        .filter(|(_, h)| r.verbose > 0 || *h > 0)
        .map(|(n, h)| format!("[{h}] {n}"))
        .collect();
    pprint_list(w, &dates, Some("[# of hits] date format"))?;
    let s = &r.stats;
    writeln!(
        w,
        "\nLines: {} lines, {} ignored, {} matched, {} missed",
        s.tested, s.ignored, s.matched, s.missed
    )?;
    writeln!(w, "[processed in {:.2} sec]", r.elapsed)?;
    writeln!(w)?;
    if r.print_all_matched {
        print_lines(
            w,
            "Matched",
            "matched",
            s.matched,
            &s.matched_lines,
            true,
            r.limit,
        )?;
    }
    if !r.print_no_ignored {
        let all = r.print_all_ignored;
        print_lines(
            w,
            "Ignored",
            "ignored",
            s.ignored,
            &s.ignored_lines,
            all,
            r.limit,
        )?;
    }
    if !r.print_no_missed {
        let all = r.print_all_missed;
        print_lines(
            w,
            "Missed",
            "missed",
            s.missed,
            &s.missed_lines,
            all,
            r.limit,
        )?;
    }
    Ok(())
}

fn write_regex_list(
    w: &mut impl Write,
    title: &str,
    list: &[RegexStat],
    verbose: u8,
) -> io::Result<()> {
    let total: u64 = list.iter().map(|s| s.hits).sum();
    let mut out = Vec::new();
    for (i, s) in list.iter().enumerate() {
        if s.hits > 0 || verbose > 0 {
            out.push(format!("{:2}) [{}] {}", i + 1, s.hits, s.regex));
        }
        if verbose > 0 {
            for (id, time, multiple) in &s.ips {
                out.push(format!(
                    "    {}  {}{}",
                    id,
                    ctime(*time),
                    if *multiple {
                        " (multiple regex matched)"
                    } else {
                        ""
                    }
                ));
            }
        }
    }
    writeln!(w, "\n{title}: {total} total")?;
    pprint_list(w, &out, Some(" #) [# of hits] regular expression"))
}

/// `time.strftime("%a %b %d %H:%M:%S %Y", time.localtime(t))`; `None` means now.
fn ctime(t: Option<f64>) -> String {
    use chrono::{Local, TimeZone};
    let secs = t
        .map(|t| t.floor() as i64)
        .unwrap_or_else(crate::cmd::wall_clock);
    match Local.timestamp_opt(secs, 0).single() {
        Some(dt) => dt.format("%a %b %d %H:%M:%S %Y").to_string(),
        None => secs.to_string(),
    }
}

fn print_lines(
    w: &mut impl Write,
    title: &str,
    ltype: &str,
    count: u64,
    lines: &[String],
    all: bool,
    limit: usize,
) -> io::Result<()> {
    if count == 0 {
        return Ok(());
    }
    let header = format!("{title} line(s):");
    if (count as usize) < limit || all {
        let stripped: Vec<String> = lines.iter().map(|l| l.trim_end().to_string()).collect();
        pprint_list(w, &stripped, Some(&header))
    } else {
        writeln!(
            w,
            "{header} too many to print.  Use --print-all-{ltype} to print all {count} lines"
        )
    }
}

/// The JSON form of the report (failscan's own schema; same numbers as the text).
pub fn write_json(w: &mut impl Write, r: &RegexReport) -> io::Result<()> {
    #[derive(Serialize)]
    struct Json<'a> {
        header: &'a [String],
        prefregex: Option<serde_json::Value>,
        failregex: Vec<serde_json::Value>,
        ignoreregex: Vec<serde_json::Value>,
        date_templates: Vec<serde_json::Value>,
        lines: u64,
        ignored: u64,
        matched: u64,
        missed: u64,
        missed_lines: &'a [String],
        ignored_lines: &'a [String],
        matched_lines: &'a [String],
        elapsed_sec: f64,
    }
    let list = |l: &[RegexStat]| {
        l.iter()
            .enumerate()
            .map(|(i, s)| serde_json::json!({"index": i + 1, "regex": s.regex, "hits": s.hits}))
            .collect()
    };
    let j = Json {
        header: &r.header,
        prefregex: r
            .prefregex
            .as_ref()
            .map(|(re, h)| serde_json::json!({"regex": re, "hits": h})),
        failregex: list(&r.failregex),
        ignoreregex: list(&r.ignoreregex),
        date_templates: r
            .date_templates
            .iter()
            .filter(|(_, h)| *h > 0)
            .map(|(n, h)| serde_json::json!({"template": n, "hits": h}))
            .collect(),
        lines: r.stats.tested,
        ignored: r.stats.ignored,
        matched: r.stats.matched,
        missed: r.stats.missed,
        missed_lines: &r.stats.missed_lines,
        ignored_lines: &r.stats.ignored_lines,
        matched_lines: &r.stats.matched_lines,
        elapsed_sec: r.elapsed,
    };
    serde_json::to_writer_pretty(&mut *w, &j)?;
    writeln!(w)
}

/// fail2ban-regex's `-o/--out` formats (semantics 5.7).
pub enum OutFormat {
    Id,
    Ip,
    Msg,
    Row,
    /// A group name: its value or `None`.
    Group(String),
    /// A text with `<tags>`.
    Template(String),
}

impl OutFormat {
    pub fn parse(s: &str) -> OutFormat {
        match s {
            "id" | "fid" => OutFormat::Id,
            "ip" => OutFormat::Ip,
            "msg" => OutFormat::Msg,
            "row" => OutFormat::Row,
            s if !s.contains('<') => OutFormat::Group(s.to_string()),
            s => OutFormat::Template(s.to_string()),
        }
    }

    /// Writes the output row(s) of one failure found on `line`.
    pub fn write(
        &self,
        w: &mut impl Write,
        f: &Failure,
        time: Option<f64>,
        line: &str,
        parts: &(String, String, String),
        now: i64,
    ) -> io::Result<()> {
        let get = |k: &str| -> Option<&str> {
            f.data
                .iter()
                .find(|(n, _)| n == k)
                .and_then(|(_, v)| v.as_deref())
        };
        match self {
            OutFormat::Id => writeln!(w, "{}", f.id),
            OutFormat::Ip => writeln!(w, "{}", get("ip").unwrap_or(&f.id)),
            OutFormat::Msg => writeln!(w, "{line}"),
            OutFormat::Row => writeln!(
                w,
                "[{},\t{},\t{}],",
                py_repr(&f.id),
                time.map(py_float).unwrap_or_else(|| "None".into()),
                py_dict(&f.data)
            ),
            OutFormat::Group(name) => {
                if name == "matches" {
                    // A list of fail2ban's (before, date, after) tuples.
                    let (a, b, c) = parts;
                    writeln!(w, "[({}, {}, {})]", py_repr(a), py_repr(b), py_repr(c))
                } else {
                    let v = f
                        .data
                        .iter()
                        .find(|(n, _)| n == name)
                        .and_then(|(_, v)| v.as_deref());
                    writeln!(w, "{}", v.unwrap_or("None"))
                }
            }
            OutFormat::Template(t) => {
                let time = time.unwrap_or(now as f64);
                writeln!(w, "{}", fill_template(t, f, time, line))
            }
        }
    }
}

/// Replaces fail2ban's action tags in an `-o` template: `<ip>`, `<fid>`, `<time>`,
/// `<failures>`, `<matches>`, `<msg>` and `<F-NAME>`; unknown tags stay as written.
fn fill_template(t: &str, f: &Failure, time: f64, line: &str) -> String {
    let mut out = String::with_capacity(t.len() + 32);
    let mut rest = t;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('>') else {
            out.push_str(&rest[open..]);
            return out;
        };
        let tag = &after[..close];
        let value: Option<String> = match tag {
            "ip" => Some(
                f.data
                    .iter()
                    .find(|(n, _)| n == "ip")
                    .and_then(|(_, v)| v.clone())
                    .unwrap_or_else(|| f.id.clone()),
            ),
            "fid" | "id" => Some(f.id.clone()),
            "time" => Some(py_float(time)),
            "failures" => Some("0".into()),
            "matches" | "msg" => Some(line.to_string()),
            _ if tag.starts_with("F-") => {
                let key = match &tag[2..] {
                    "ID" => "fid".to_string(),
                    "PORT" => "fport".to_string(),
                    k => k.to_ascii_lowercase(),
                };
                Some(
                    f.data
                        .iter()
                        .find(|(n, _)| *n == key)
                        .and_then(|(_, v)| v.clone())
                        .unwrap_or_default(),
                )
            }
            _ => f
                .data
                .iter()
                .find(|(n, _)| n == tag)
                .map(|(_, v)| v.clone().unwrap_or_else(|| "None".into())),
        };
        match value {
            Some(v) => out.push_str(&v.replace('\0', "\\x00")),
            None => {
                out.push('<');
                out.push_str(tag);
                out.push('>');
            }
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    out
}

/// Python's `repr(float)` for epoch times.
pub fn py_float(t: f64) -> String {
    format!("{t:?}")
}

/// Python's `repr(dict)` of string (or `None`) values.
pub fn py_dict(items: &[(String, Option<String>)]) -> String {
    let parts: Vec<String> = items
        .iter()
        .map(|(k, v)| format!("{}: {}", py_repr(k), py_opt(v.as_deref())))
        .collect();
    format!("{{{}}}", parts.join(", "))
}

fn py_opt(v: Option<&str>) -> String {
    v.map(py_repr).unwrap_or_else(|| "None".into())
}

/// Python's `repr(str)`: single quotes unless the text has `'` and no `"`; escapes `\\`,
/// the quote, `\n`, `\r`, `\t` and non-printable characters.
pub fn py_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if !is_py_printable(c) => {
                let n = c as u32;
                if n <= 0xff {
                    out.push_str(&format!("\\x{n:02x}"));
                } else if n <= 0xffff {
                    out.push_str(&format!("\\u{n:04x}"));
                } else {
                    out.push_str(&format!("\\U{n:08x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// An approximation of Python's `str.isprintable` for the characters that show up in logs:
/// C1 controls, separators other than space, and format characters are not printable.
fn is_py_printable(c: char) -> bool {
    let n = c as u32;
    !((0x80..0xa0).contains(&n)
        || n == 0xa0
        || n == 0xad
        || (0x2000..=0x200f).contains(&n)
        || (0x2028..=0x202f).contains(&n)
        || (0x205f..=0x206f).contains(&n)
        || n == 0x3000
        || n == 0xfeff
        || (0xfff9..=0xfffb).contains(&n)
        || (0xd800..=0xdfff).contains(&n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn py_repr_quotes_like_python() {
        assert_eq!(py_repr("abc"), "'abc'");
        assert_eq!(py_repr("a'b"), "\"a'b\"");
        assert_eq!(py_repr("a'b\"c"), "'a\\'b\"c'");
        assert_eq!(py_repr("a\\b\n"), "'a\\\\b\\n'");
        assert_eq!(py_repr("\u{0}x"), "'\\x00x'");
        assert_eq!(py_repr("\u{fffd}é"), "'\u{fffd}é'");
    }

    #[test]
    fn py_float_matches_python_repr() {
        assert_eq!(py_float(1710058501.0), "1710058501.0");
        assert_eq!(py_float(1705312800.123), "1705312800.123");
    }

    #[test]
    fn too_many_lines_message() {
        let mut v = Vec::new();
        let lines: Vec<String> = (0..21).map(|i| i.to_string()).collect();
        print_lines(&mut v, "Missed", "missed", 20, &lines, false, 20).unwrap();
        assert_eq!(
            String::from_utf8(v).unwrap(),
            "Missed line(s): too many to print.  Use --print-all-missed to print all 20 lines\n"
        );
        let mut v = Vec::new();
        print_lines(&mut v, "Missed", "missed", 2, &lines[..2], false, 20).unwrap();
        assert_eq!(
            String::from_utf8(v).unwrap(),
            "|- Missed line(s):\n|  0\n|  1\n`-\n"
        );
    }
}
