//! Helpers shared by the CLI tests: running failscan and the fail2ban oracles (the
//! fail2ban-regex binary, and fail2ban's Python classes through the system Python).

#![allow(dead_code)]

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde::de::DeserializeOwned;

pub const F2B_REGEX: &str = "/usr/bin/fail2ban-regex";
pub const F2B_SAMPLES: &str = "/usr/lib/python3/dist-packages/fail2ban/tests/files/logs";
pub const PY: &str = "/usr/bin/python3";

/// True when the oracle is installed. Under CI a missing oracle is a failure, not a skip.
pub fn have_oracle() -> bool {
    if Path::new(F2B_REGEX).exists() {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("fail2ban-regex is not installed but CI is set: run scripts/install-test-deps.sh");
    }
    eprintln!("skipping: fail2ban-regex not installed (scripts/install-test-deps.sh installs it)");
    false
}

/// True when the system Python can import `module` (a fail2ban module) and `needed` (the
/// configuration the oracle reads) exists. Under CI a missing oracle is a failure, not a skip:
/// the differential tests are the proof of compatibility.
pub fn have_python_oracle(module: &str, needed: &Path) -> bool {
    let ok = Command::new(PY)
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success())
        && needed.exists();
    if !ok {
        if std::env::var_os("CI").is_some() {
            panic!(
                "CI is set but {PY} with {module} or {} is missing",
                needed.display()
            );
        }
        eprintln!(
            "skipping: {PY} with {module} or {} not available",
            needed.display()
        );
    }
    ok
}

/// Runs a Python oracle `script` with `args` and parses the JSON it prints.
pub fn run_python_json<T: DeserializeOwned>(script: &str, args: &[&OsStr]) -> T {
    let out = Command::new(PY)
        .arg("-c")
        .arg(script)
        .args(args)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("run python oracle");
    assert!(
        out.status.success(),
        "oracle failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("oracle json")
}

pub fn failscan() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_failscan"));
    c.env("TZ", "UTC");
    c
}

pub fn oracle() -> Command {
    let mut c = Command::new(F2B_REGEX);
    c.env("TZ", "UTC");
    c
}

pub fn run(mut c: Command) -> Output {
    c.output().expect("spawn")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The report without the timing line, which differs between runs, and with the clock
/// time of "now" (what `-v` shows for undated lines) masked to the day.
pub fn normalize(s: &str) -> String {
    let today = chrono::Utc::now().format("%a %b %d ").to_string();
    s.lines()
        .filter(|l| !l.starts_with("[processed in "))
        .map(|l| match l.find(&today) {
            Some(i) if l.len() >= i + today.len() + 8 => {
                let at = i + today.len();
                format!("{}HH:MM:SS{}", &l[..at], &l[at + 8..])
            }
            _ => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The `Lines: ...` line of a report.
pub fn lines_line(s: &str) -> String {
    s.lines()
        .find(|l| l.starts_with("Lines: "))
        .unwrap_or("<no Lines: line>")
        .to_string()
}

/// Runs failscan regex and fail2ban-regex with the same arguments.
pub fn both(args: &[&str]) -> (Output, Output) {
    let mut a = failscan();
    a.arg("regex").args(args);
    let mut b = oracle();
    b.args(args);
    (run(a), run(b))
}

/// Asserts identical reports (but for timing) and exit codes.
pub fn assert_same_report(args: &[&str]) {
    let (ours, theirs) = both(args);
    let (o, t) = (normalize(&stdout(&ours)), normalize(&stdout(&theirs)));
    if o != t {
        let diff = diff_lines(&t, &o);
        panic!(
            "report differs for {args:?}\n--- fail2ban-regex / +++ failscan:\n{diff}\nstderr: {}",
            String::from_utf8_lossy(&ours.stderr)
        );
    }
    assert_eq!(
        ours.status.code(),
        theirs.status.code(),
        "exit code for {args:?}"
    );
}

/// A small line diff for failure messages.
pub fn diff_lines(a: &str, b: &str) -> String {
    let al: Vec<&str> = a.lines().collect();
    let bl: Vec<&str> = b.lines().collect();
    let mut out = String::new();
    let n = al.len().max(bl.len());
    for i in 0..n {
        let x = al.get(i).copied();
        let y = bl.get(i).copied();
        if x != y {
            if let Some(x) = x {
                out.push_str(&format!("-{i}: {x}\n"));
            }
            if let Some(y) = y {
                out.push_str(&format!("+{i}: {y}\n"));
            }
        }
    }
    out
}

/// Sorted `-o` output lines (a multiset compare).
pub fn sorted_out(o: &Output) -> Vec<String> {
    let mut v: Vec<String> = stdout(o).lines().map(str::to_string).collect();
    v.sort();
    v
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn temp_file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).expect("write temp file");
    p
}
