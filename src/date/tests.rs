//! Detector tests: behaviour examples from the spec, the fast path against the regex
//! reference, and differential runs against the installed fail2ban-regex.

use super::*;

fn opts() -> DateOptions {
    // 2026-11-25 11:41:00 UTC, fixed zone so results do not depend on the process TZ.
    DateOptions { now: 1_795_606_860, default_tz: Some(0) }
}

#[test]
fn asterisk_line() {
    let mut d = DateDetector::new(Some("{^LN-BEG}"), opts()).unwrap();
    let line = "[2024-01-15 10:00:00] NOTICE[12345] chan_sip.c: x";
    let m = d.detect(line).unwrap();
    assert_eq!(&line[m.start..m.end], "2024-01-15 10:00:00");
    assert_eq!(m.time, Some(1_705_312_800.0));
}
