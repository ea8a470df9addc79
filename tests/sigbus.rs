//! The SIGBUS guard end to end: a mapped 64 MB log is truncated under failscan's feet and the
//! mapped pages are then read. The fault kills the process, so each scenario runs in a child:
//! the test re-executes this test binary on one `#[test]` with an environment variable that
//! tells that test to act as the child, and checks the child's exit status and stderr.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use failscan::input::{self, sigbus, Opened};

/// Set in the child to the path of the log it must create, map, truncate and read.
const CHILD_ENV: &str = "FAILSCAN_SIGBUS_CHILD";
const SIZE: u64 = 64 << 20;
const PAGE: usize = 4096;

/// Writes a 64 MB log of realistic lines.
fn write_log(path: &Path) {
    let mut out = BufWriter::new(File::create(path).expect("create log"));
    let line = b"[2024-01-02 03:04:05] NOTICE[1234] chan_sip.c: Registration from '<sip:100@10.0.0.1>' failed for '192.0.2.7:5060' - Wrong password\n";
    let mut written = 0u64;
    while written < SIZE {
        out.write_all(line).expect("write log");
        written += line.len() as u64;
    }
    out.flush().expect("flush log");
}

/// Maps `path` as failscan does, truncates it from another thread, then reads every page.
/// Returns only if no fault happened.
fn map_truncate_touch(path: &Path, guarded: bool) -> u64 {
    write_log(path);
    let opened = input::open(path).expect("open log");
    let Opened::Mapped(map) = &opened else {
        panic!("a 64 MB plain file must be memory-mapped");
    };
    let _guard = guarded.then(|| sigbus::guard_mapped(path, &map[..]));
    if !guarded {
        sigbus::install();
    }
    let victim = path.to_path_buf();
    std::thread::spawn(move || {
        File::options()
            .write(true)
            .open(&victim)
            .and_then(|f| f.set_len(0))
            .expect("truncate log");
    })
    .join()
    .expect("truncating thread");
    let mut sum = 0u64;
    for off in (0..map.len()).step_by(PAGE) {
        // SAFETY: `off` is within the mapping; volatile so the read is not optimised away.
        sum += u64::from(unsafe { std::ptr::read_volatile(map.as_ptr().add(off)) });
    }
    sum
}

/// Body of the child: does its scenario if asked to, and is a no-op in a normal test run.
fn child(name: &str, guarded: bool) {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let sum = map_truncate_touch(Path::new(&path), guarded);
    // Reaching this line means the read did not fault: report it distinctly.
    eprintln!("{name}: read the truncated mapping without a fault (sum {sum})");
    std::process::exit(42);
}

#[test]
fn child_guarded() {
    child("child_guarded", true);
}

#[test]
fn child_unguarded() {
    child("child_unguarded", false);
}

/// Runs one child test of this binary on a log at `log`.
fn run_child(test: &str, log: &Path) -> Output {
    let exe = std::env::current_exe().expect("test binary path");
    Command::new(exe)
        .args(["--exact", test, "--test-threads=1", "--nocapture"])
        .env(CHILD_ENV, log)
        .output()
        .expect("spawn child test")
}

fn log_path(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("full of spaces.log")
}

#[test]
fn truncated_mapping_exits_3_naming_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = log_path(&dir);
    let out = run_child("child_guarded", &log);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(sigbus::EXIT_TRUNCATED),
        "status {:?}, stderr:\n{stderr}",
        out.status
    );
    let expected = format!(
        "failscan: error: {} was truncated while being read (SIGBUS); re-run on a stable copy\n",
        log.display()
    );
    assert_eq!(expected, sigbus::message(&log));
    assert!(stderr.contains(&expected), "stderr:\n{stderr}");
}

#[test]
fn unregistered_mapping_still_dies_by_sigbus() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = run_child("child_unguarded", &log_path(&dir));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGBUS),
        "status {:?}, stderr:\n{stderr}",
        out.status
    );
    assert!(!stderr.contains("was truncated"), "stderr:\n{stderr}");
}
