//! Differential tests against the installed fail2ban-regex (the oracle), and compile
//! checks over every stock regex. When `fail2ban-regex` is missing the oracle tests are
//! skipped, unless `CI` is set (then they fail).

use super::engine::{Engine, EngineOptions, FilterRegexes, LineOutcome};
use super::tags::expand_tags;
use super::testdata;
use super::translate::{translate, Target};
use super::UseDns;

/// Every stock regex (all variants) translates, compiles exactly (regex-automata or
/// fancy-regex) and its superset compiles with regex-automata.
#[test]
fn every_stock_regex_compiles() {
    let Some(json) = testdata::stock_json() else {
        return;
    };
    let mut n = 0;
    let mut fancy = 0;
    for (_, f, label) in testdata::all_variants(&json) {
        let ml = testdata::multiline(f);
        for (kind, raw, fin) in testdata::regexes(f) {
            let expanded = expand_tags(&raw, UseDns::Warn).expect("expands");
            assert_eq!(expanded, fin);
            let tr = translate(&fin, ml && kind.starts_with("failregex"))
                .unwrap_or_else(|e| panic!("{label} {kind}: {e}"));
            for t in [Target::Superset, Target::Gate] {
                let s = tr.emit(t).unwrap();
                regex_automata::meta::Regex::new(&s)
                    .unwrap_or_else(|e| panic!("{label} {kind} {t:?}: {e}\n{s}"));
            }
            if tr.is_regular() {
                let s = tr.emit(Target::Regular).unwrap();
                regex_automata::meta::Regex::new(&s)
                    .unwrap_or_else(|e| panic!("{label} {kind}: {e}\n{s}"));
            }
            if !tr.is_regular() || tr.has_word_boundary {
                fancy += 1;
                let s = tr.emit(Target::Fancy).unwrap();
                fancy_regex::Regex::new(&s)
                    .unwrap_or_else(|e| panic!("{label} {kind} fancy: {e}\n{s}"));
            }
            n += 1;
        }
    }
    eprintln!("{n} stock regexes compiled, {fancy} need fancy-regex");
    assert!(n > 500);
}

/// Every stock filter (default variant) builds into one engine.
#[test]
fn all_stock_filters_build_together() {
    let Some(json) = testdata::stock_json() else {
        return;
    };
    let mut filters = Vec::new();
    for (name, f) in json["filters"].as_object().into_iter().flatten() {
        if f.get("failregex").is_none() || testdata::multiline(f) {
            continue;
        }
        let raw = |v: &serde_json::Value| v["raw"].as_str().unwrap_or_default().to_string();
        filters.push(FilterRegexes {
            name: name.clone(),
            prefregex: f["prefregex"].is_object().then(|| raw(&f["prefregex"])),
            failregex: f["failregex"]
                .as_array()
                .into_iter()
                .flatten()
                .map(raw)
                .collect(),
            ignoreregex: f["ignoreregex"]
                .as_array()
                .into_iter()
                .flatten()
                .map(raw)
                .collect(),
        });
    }
    let e = Engine::build(&filters, &EngineOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let mut c = e.new_cache();
    let mut o = LineOutcome::default();
    e.match_line(&mut c, "nothing to see here", &mut o);
    assert!(o.failures.is_empty());
}

// ---------------------------------------------------------------------------------------
// fail2ban-regex as the oracle.

use super::engine::{DnsMode, Failure};
use std::process::Command;

fn have_oracle() -> bool {
    let ok = Command::new("fail2ban-regex")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "fail2ban-regex is required when CI is set"
        );
        eprintln!("skipped: fail2ban-regex not installed");
    }
    ok
}

/// Python `repr()` of a str (enough for the test data: ASCII, a few Latin-1/Unicode chars).
fn py_repr(s: &str) -> String {
    let q = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut o = String::new();
    o.push(q);
    for c in s.chars() {
        match c {
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            c if c == q => {
                o.push('\\');
                o.push(c);
            }
            c if (c as u32) < 0x20 || (0x7f..=0xa0).contains(&(c as u32)) || c == '\u{ad}' => {
                o.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => o.push(c),
        }
    }
    o.push(q);
    o
}

fn row(f: &Failure) -> String {
    let items: Vec<String> = f
        .data
        .iter()
        .map(|(k, v)| {
            format!(
                "{}: {}",
                py_repr(k),
                v.as_deref().map_or("None".to_string(), py_repr)
            )
        })
        .collect();
    format!("[{},\tNone,\t{{{}}}],", py_repr(&f.id), items.join(", "))
}

struct Case<'a> {
    pref: Option<&'a str>,
    fail: &'a [&'a str],
    ign: &'a [&'a str],
    lines: Vec<String>,
    raw: bool,
}

#[derive(Debug, PartialEq, Eq, Default)]
struct Report {
    pref: Option<usize>,
    fail_hits: Vec<usize>,
    ign_hits: Vec<usize>,
    /// (lines, ignored, matched, missed)
    lines: (usize, usize, usize, usize),
}

fn run_oracle(case: &Case, args: &[&str]) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("test.log");
    let mut text = String::new();
    for l in &case.lines {
        text.push_str(l);
        text.push('\n');
    }
    std::fs::write(&log, text).expect("write log");
    let esc = |s: &str| s.replace('%', "%%");
    let list = |v: &[&str]| v.iter().map(|s| esc(s)).collect::<Vec<_>>().join("\n    ");
    let mut conf = String::from("[Definition]\n");
    if let Some(p) = case.pref {
        conf.push_str(&format!("prefregex = {}\n", esc(p)));
    }
    conf.push_str(&format!("failregex = {}\n", list(case.fail)));
    conf.push_str(&format!("ignoreregex = {}\n", list(case.ign)));
    conf.push_str("datepattern = {NONE}\n");
    let filter = dir.path().join("t.conf");
    std::fs::write(&filter, conf).expect("write filter");
    let mut cmd = Command::new("fail2ban-regex");
    cmd.args(["-e", "UTF-8"]);
    if case.raw {
        cmd.arg("-r");
    }
    cmd.args(args).arg(&log).arg(&filter);
    let out = cmd.output().expect("run fail2ban-regex");
    let s = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "fail2ban-regex failed: {s}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    s
}

fn parse_report(s: &str, nfail: usize, nign: usize) -> Report {
    let mut r = Report {
        fail_hits: vec![0; nfail],
        ign_hits: vec![0; nign],
        ..Report::default()
    };
    let mut section = "";
    for l in s.lines() {
        if let Some(rest) = l.strip_prefix("Prefregex: ") {
            r.pref = rest.split(' ').next().and_then(|n| n.parse().ok());
        } else if l.starts_with("Failregex: ") {
            section = "fail";
        } else if l.starts_with("Ignoreregex: ") {
            section = "ign";
        } else if l.starts_with("Date template") {
            section = "";
        } else if let Some(rest) = l.strip_prefix("|").map(str::trim_start) {
            // `1) [2] regex`
            let Some((idx, rest)) = rest.split_once(") [") else {
                continue;
            };
            let Some((hits, _)) = rest.split_once(']') else {
                continue;
            };
            let (Ok(i), Ok(h)) = (idx.parse::<usize>(), hits.parse::<usize>()) else {
                continue;
            };
            match section {
                "fail" => r.fail_hits[i - 1] = h,
                "ign" => r.ign_hits[i - 1] = h,
                _ => {}
            }
        } else if let Some(rest) = l.strip_prefix("Lines: ") {
            let n: Vec<usize> = rest
                .split(|c: char| !c.is_ascii_digit())
                .filter_map(|x| x.parse().ok())
                .collect();
            r.lines = (n[0], n[1], n[2], n[3]);
        }
    }
    r
}

/// `out`: like fail2ban-regex with `-o` (no check-all, pending failures ignored).
fn ours(case: &Case, check_all: bool, out: bool) -> (Report, String) {
    let f = FilterRegexes {
        name: "t".into(),
        prefregex: case.pref.map(str::to_string),
        failregex: case.fail.iter().map(|s| s.to_string()).collect(),
        ignoreregex: case.ign.iter().map(|s| s.to_string()).collect(),
    };
    let opts = EngineOptions {
        usedns: UseDns::Warn,
        dns: if case.raw {
            DnsMode::Raw
        } else {
            DnsMode::Unresolved
        },
        check_all,
        maxlines: 1,
        pref_groups: false,
        ignore_pending: out,
    };
    let e = Engine::build(&[f], &opts).unwrap_or_else(|e| panic!("{e}"));
    let mut c = e.new_cache();
    let mut o = LineOutcome::default();
    let mut r = Report {
        fail_hits: vec![0; case.fail.len()],
        ign_hits: vec![0; case.ign.len()],
        ..Report::default()
    };
    let mut rows = String::new();
    let mut pref = 0;
    for l in &case.lines {
        e.match_line(&mut c, l, &mut o);
        pref += usize::from(o.prefregex_matched[0]);
        for fl in &o.failures {
            r.fail_hits[fl.regex] += 1;
            if !fl.nofail {
                rows.push_str(&row(fl));
                rows.push('\n');
            }
        }
        for &(_, i) in &o.ignore_hits {
            r.ign_hits[i] += 1;
        }
        r.lines.0 += 1;
        if !o.ignore_hits.is_empty() || o.failures.iter().any(|f| f.nofail) {
            r.lines.1 += 1;
        } else if !o.failures.is_empty() {
            r.lines.2 += 1;
        } else {
            r.lines.3 += 1;
        }
    }
    if case.pref.is_some() {
        r.pref = Some(pref);
    }
    (r, rows)
}

fn check(case: &Case) {
    for check_all in [true, false] {
        let args: &[&str] = if check_all { &[] } else { &["--no-check-all"] };
        let want = parse_report(&run_oracle(case, args), case.fail.len(), case.ign.len());
        let (got, _) = ours(case, check_all, false);
        assert_eq!(
            got, want,
            "report, check_all={check_all}, fail={:?} ign={:?}",
            case.fail, case.ign
        );
    }
    // Without a date fail2ban uses the current time; only the time column is ignored.
    let want: String = run_oracle(case, &["-o", "row"])
        .lines()
        .map(|l| {
            let mut parts: Vec<&str> = l.splitn(3, '\t').collect();
            if parts.len() == 3 {
                parts[1] = "None,";
            }
            parts.join("\t") + "\n"
        })
        .collect();
    let (_, got) = ours(case, false, true);
    assert_eq!(got, want, "-o row, fail={:?}", case.fail);
}

fn lines(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn oracle_syntax_and_ids() {
    if !have_oracle() {
        return;
    }
    check(&Case {
        pref: None,
        fail: &[
            r"^a <HOST>$",
            r"^b <HOST>\s$",
            r"^c <F-ID>[^ ]*</F-ID>$",
            r"^d \<<HOST>\>$",
            r"^e x{,3} <HOST>",
            r"^f \w+ <HOST>",
            r"^g\s<HOST>",
            r"^h é\b <HOST>",
            r"^i <HOST>:\d+",
            r"^j n\x00 <HOST>",
            r"from <HOST>$",
        ],
        ign: &[],
        lines: lines(&[
            "a 1.2.3.4",
            "a 1.2.3.4 ",
            "b 1.2.3.4",
            "c bob",
            "c bob alice",
            "d <1.2.3.4>",
            "e xx 1.2.3.4",
            "e xxxx 1.2.3.4",
            "f ² 1.2.3.4",
            "f \u{301} 1.2.3.4",
            "g\x1c1.2.3.4",
            "h é 1.2.3.4",
            "i [2001:DB8::0:1]:5060",
            "i 2001:db8::1:5060",
            "i ::ffff:1.2.3.4:5060",
            "i 999.1.1.1:5060",
            "i 192.030.0.6:1",
            "j n\0 1.2.3.4",
            "a host.example.invalid",
            "nothing here",
        ]),
        raw: false,
    });
}

#[test]
fn oracle_raw_fid_nofail_check_all() {
    if !have_oracle() {
        return;
    }
    let long = format!("{} from 10.0.0.1", "x".repeat(100_000));
    let mut ls = lines(&[
        "user bob failed from 1.2.3.4 port 22",
        "user 1.2.3.4 failed from 1.2.3.4 port 22",
        "nofail from 192.0.2.3",
        "k host.example.invalid",
        "Registration from 'x' failed for '6.6.6.6' - Wrong password' failed for '1.2.3.4' - Wrong password",
    ]);
    ls.push(long);
    check(&Case {
        pref: None,
        fail: &[
            r"^user <F-ID>\S+</F-ID> failed from <ADDR>(?: port <F-PORT>\d+</F-PORT>)?",
            r"^\S+ from <HOST>$",
            r"^<F-NOFAIL>nofail</F-NOFAIL> from <HOST>",
            r"^k <HOST>$",
            r"^Registration from '[^']*' failed for '<HOST>(:\d+)?' - Wrong password$",
        ],
        ign: &[],
        lines: ls,
        raw: true,
    });
}

fn ignore_case(nfail: usize, nign: usize) {
    let fail: Vec<String> = (0..nfail)
        .map(|i| {
            if i < 2 {
                format!(r"^(?:ignoreme )?(?:r{}|both) <HOST>", i % 2)
            } else {
                format!(r"^never{i} <HOST>")
            }
        })
        .collect();
    let ign: Vec<String> = (0..nign)
        .map(|i| {
            if i == 0 {
                "ignoreme".to_string()
            } else {
                format!("ign{i}")
            }
        })
        .collect();
    let fail: Vec<&str> = fail.iter().map(String::as_str).collect();
    let ign: Vec<&str> = ign.iter().map(String::as_str).collect();
    check(&Case {
        pref: None,
        fail: &fail,
        ign: &ign,
        lines: lines(&[
            "ignoreme only",
            "ignoreme r0 1.2.3.4",
            "both 1.2.3.4",
            "r1 1.2.3.5 ign1",
            "both 1.2.3.4 ignoreme ign1",
        ]),
        raw: false,
    });
}

#[test]
fn oracle_ignore_pre_and_post_check() {
    if !have_oracle() {
        return;
    }
    ignore_case(1, 1);
    ignore_case(4, 2);
    ignore_case(5, 2);
}

/// The asterisk filter (stock prefregex + 8 failregexes, from the JSON) on fail2ban's own
/// sample log, with the date text replaced the way the date detector cuts it.
#[test]
fn oracle_asterisk_sample() {
    let Some(json) = testdata::stock_json() else {
        return;
    };
    if !have_oracle() {
        return;
    }
    let path = "/usr/lib/python3/dist-packages/fail2ban/tests/files/logs/asterisk";
    let Ok(text) = std::fs::read_to_string(path) else {
        assert!(std::env::var_os("CI").is_none(), "{path} missing");
        return;
    };
    let bracket = regex_automata::meta::Regex::new(r"^\[[^\]]*\d\d:\d\d:\d\d[^\]]*\]").expect("rx");
    let syslog =
        regex_automata::meta::Regex::new(r"^[A-Z][a-z]{2} +\d+ \d\d:\d\d:\d\d").expect("rx");
    let mut ls = Vec::new();
    for l in text.lines() {
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let l = if let Some(m) = bracket.find(l) {
            format!("[]{}", &l[m.end()..])
        } else if let Some(m) = syslog.find(l) {
            l[m.end()..].to_string()
        } else {
            l.to_string()
        };
        ls.push(l);
    }
    let a = &json["filters"]["asterisk"];
    let raw = |v: &serde_json::Value| v["raw"].as_str().unwrap_or_default().to_string();
    let pref = raw(&a["prefregex"]);
    let fail: Vec<String> = a["failregex"]
        .as_array()
        .into_iter()
        .flatten()
        .map(raw)
        .collect();
    let fail: Vec<&str> = fail.iter().map(String::as_str).collect();
    assert_eq!(fail.len(), 8);
    check(&Case {
        pref: Some(&pref),
        fail: &fail,
        ign: &[],
        lines: ls,
        raw: false,
    });
}

/// On every line of fail2ban's sample logs (dates left in: the property holds for any
/// text), for every stock single-line filter: the superset accepts whatever the exact
/// regex accepts, the gate accepts whatever the failregex accepts on the prefregex content,
/// and the regex-automata and fancy-regex forms agree.
#[test]
fn supersets_hold_on_sample_logs() {
    let Some(json) = testdata::stock_json() else {
        return;
    };
    let dir = "/usr/lib/python3/dist-packages/fail2ban/tests/files/logs";
    let Ok(rd) = std::fs::read_dir(dir) else {
        assert!(std::env::var_os("CI").is_none(), "{dir} missing");
        return;
    };
    let mut lines: Vec<String> = Vec::new();
    for e in rd.flatten() {
        if let Ok(b) = std::fs::read(e.path()) {
            lines.extend(
                String::from_utf8_lossy(&b)
                    .lines()
                    .filter(|l| !l.starts_with('#'))
                    .map(|l| format!("{l}\n")),
            );
        }
    }
    let compile = |s: &str| regex_automata::meta::Regex::new(s).expect("compiles");
    let mut checked = 0usize;
    for (name, f) in json["filters"].as_object().into_iter().flatten() {
        if f.get("failregex").is_none() || testdata::multiline(f) {
            continue;
        }
        let fin = |v: &serde_json::Value| v["final"].as_str().unwrap_or_default().to_string();
        let pref = f["prefregex"]
            .is_object()
            .then(|| translate(&fin(&f["prefregex"]), false).expect("pref"));
        let content = pref
            .as_ref()
            .and_then(|p| p.names().find(|(_, n)| *n == "content").map(|(i, _)| i));
        let pref_fancy = pref
            .as_ref()
            .map(|p| fancy_regex::Regex::new(&p.emit(Target::Fancy).unwrap()).expect("pref fancy"));
        let all: Vec<_> = ["failregex", "ignoreregex"]
            .iter()
            .flat_map(|k| f[*k].as_array().into_iter().flatten().map(move |r| (*k, r)))
            .collect();
        for (kind, r) in all {
            let tr = translate(&fin(r), false).expect("translates");
            let exact = fancy_regex::Regex::new(&tr.emit(Target::Fancy).unwrap()).expect("fancy");
            let sup = compile(&tr.emit(Target::Superset).unwrap());
            let gate = compile(&tr.emit(Target::Gate).unwrap());
            let regular = tr
                .is_regular()
                .then(|| compile(&tr.emit(Target::Regular).unwrap()));
            for l in &lines {
                let m = exact.is_match(l).unwrap_or(false);
                assert!(
                    !m || sup.is_match(l.as_str()),
                    "{name} {kind} superset rejects {l:?}"
                );
                if let Some(re) = &regular {
                    if l.is_ascii() || !tr.has_word_boundary {
                        assert_eq!(
                            re.is_match(l.as_str()),
                            m,
                            "{name} {kind} engines disagree on {l:?}"
                        );
                    }
                }
                if let (Some(pf), Some(cg), "failregex") = (&pref_fancy, content, kind) {
                    if let Ok(Some(c)) = pf.captures(l) {
                        if let Some(cm) = c.get(cg) {
                            let cbuf = format!("{}\n", cm.as_str());
                            if exact.is_match(&cbuf).unwrap_or(false) {
                                assert!(gate.is_match(l.as_str()), "{name} gate rejects {l:?}");
                            }
                        }
                    }
                }
                checked += 1;
            }
        }
    }
    eprintln!("{checked} (regex, line) pairs checked");
}
