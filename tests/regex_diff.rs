//! Differential tests: `failscan regex` against the real `fail2ban-regex`, same arguments,
//! same report (all but the timing line), same `-o` rows.

mod common;

use common::*;

/// Lines that try to break a line-based matcher; each is preceded by a date so the
/// asterisk filter sees them as real log lines.
fn hostile_log() -> Vec<u8> {
    let mut v: Vec<u8> = Vec::new();
    let d = "[2024-03-10 08:15:01] ";
    let reg = |ip: &str| {
        format!("NOTICE[2101] chan_sip.c: Registration from '\"200\" <sip:200@{ip}>' failed for '{ip}:5062' - Wrong password")
    };
    v.extend(format!("{d}{}\r\n", reg("203.0.113.5")).as_bytes());
    v.extend(format!("{d}{}\r\r\n", reg("203.0.113.6")).as_bytes());
    // invalid UTF-8 and NUL bytes inside the user part
    v.extend(format!("{d}NOTICE[2101] chan_sip.c: Registration from '\"").as_bytes());
    v.extend([0xff, 0xfe, 0x00, b'x']);
    v.extend(b"\" <sip:1@x>' failed for '198.51.100.7:5060' - Wrong password\n");
    // a 100 KB user name
    let long = "A".repeat(100_000);
    v.extend(
        format!("{d}NOTICE[2101] chan_sip.c: Registration from '\"{long}\" <sip:1@x>' failed for '198.51.100.8:5060' - Wrong password\n")
            .as_bytes(),
    );
    // IPv6 in brackets with a port, PJSIP style
    v.extend(format!("{d}NOTICE[2101] res_pjsip/pjsip_distributor.c: Request 'REGISTER' from '<sip:100@[2001:db8::1]>' failed for '[2001:db8::dead:beef]:5060' (callid: a@b) - No matching endpoint found\n").as_bytes());
    v.extend(format!("{d}WARNING[2102][C-0000001b] Ext. s: \"Rejecting unknown SIP connection from [2001:db8::42]:5060\"\n").as_bytes());
    // log injection: the user name imitates a failure message for another address
    v.extend(format!("{d}NOTICE[2101] chan_sip.c: Registration from '\"x' failed for '6.6.6.6:5060' - Wrong password\" <sip:x@192.0.2.9>' failed for '192.0.2.9:5060' - Wrong password\n").as_bytes());
    v.extend(format!("{d}VERBOSE[2101] pbx.c: user said: Registration from 'x' failed for '6.6.6.6' - Wrong password\n").as_bytes());
    // comments, blank lines, a line with no date, a line with an impossible date
    v.extend(b"# a comment\n\n   # an indented comment is a line\n");
    v.extend(format!("{}\n", reg("192.0.2.77")).as_bytes());
    v.extend(format!("[2024-02-30 08:15:01] {}\n", reg("192.0.2.78")).as_bytes());
    v.extend(format!("[2099-01-01 08:15:01] {}\n", reg("192.0.2.79")).as_bytes());
    v.extend(format!("{d}NOTICE[2101] manager.c: 203.0.113.9 tried to authenticate with nonexistent user 'admin'\n").as_bytes());
    v.extend(format!("{d}NOTICE[2101] chan_sip.c: Registration from '<sip:9@1.2.3.4>' failed for '::ffff:198.51.100.99:5062' - Wrong password\n").as_bytes());
    // last line without a newline: fail2ban-regex drops it
    v.extend(format!("{d}{}", reg("203.0.113.250")).as_bytes());
    v
}

#[test]
fn stock_asterisk_over_fail2ban_sample_log() {
    if !have_oracle() {
        return;
    }
    let log = format!("{F2B_SAMPLES}/asterisk");
    assert_same_report(&[&log, "asterisk"]);
    assert_same_report(&["-v", &log, "asterisk"]);
    let (o, t) = both(&["-r", "-o", "ip", &log, "asterisk"]);
    assert_eq!(sorted_out(&o), sorted_out(&t));
    assert!(!stdout(&t).is_empty());
    let (o, t) = both(&["-o", "row", &log, "asterisk"]);
    assert_eq!(stdout(&o), stdout(&t));
}

#[test]
fn stock_asterisk_over_corpus() {
    if !have_oracle() {
        return;
    }
    let dir = repo().join("corpus");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).expect("corpus/") {
        let p = e.expect("entry").path();
        if p.extension().is_some_and(|x| x == "md") || !p.is_file() {
            continue;
        }
        let p = p.display().to_string();
        assert_same_report(&[&p, "asterisk"]);
        let (o, t) = both(&["-o", "ip", &p, "asterisk"]);
        assert_eq!(sorted_out(&o), sorted_out(&t), "-o ip on {p}");
        n += 1;
    }
    assert!(n >= 5, "expected the corpus samples, found {n}");
}

#[test]
fn hostile_lines() {
    if !have_oracle() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let p = temp_file(dir.path(), "hostile.log", &hostile_log());
    let p = p.display().to_string();
    assert_same_report(&[&p, "asterisk"]);
    assert_same_report(&["--print-all-missed", "--print-all-matched", &p, "asterisk"]);
    let (o, t) = both(&["-o", "row", &p, "asterisk"]);
    assert_eq!(stdout(&o), stdout(&t));
    let (o, t) = both(&["-o", "msg", &p, "asterisk"]);
    assert_eq!(stdout(&o), stdout(&t));
}

#[test]
fn literal_regexes_with_and_without_ignoreregex() {
    if !have_oracle() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let log = "\
2024-01-15 10:00:00 conn 1 from 192.0.2.1 failed\n\
2024-01-15 10:00:01 conn 2 from 192.0.2.2 ok\n\
2024-01-15 10:00:02 conn 3 from 2001:db8::1 failed\n\
2024-01-15 10:00:03 ignoreme conn 4 from 192.0.2.4 failed\n\
2024-01-15 10:00:04 ignoreme only\n\
Jan 15 10:00:05 host sshd[1]: conn 5 from 192.0.2.5 failed\n\
no date conn 6 from 192.0.2.6 failed\n";
    let p = temp_file(dir.path(), "lit.log", log.as_bytes());
    let p = p.display().to_string();
    for args in [
        vec![p.as_str(), r"from <HOST> failed$"],
        vec![p.as_str(), r"^\s*conn \d+ from <HOST>"],
        vec![p.as_str(), r"from <HOST> failed", "ignoreme"],
        vec![p.as_str(), r"from <ADDR>", r"ok$"],
        vec![p.as_str(), r"conn <F-ID>\d+</F-ID> from <HOST>"],
    ] {
        assert_same_report(&args);
        let mut with_o = vec!["-o", "row"];
        with_o.extend(&args);
        let (o, t) = both(&with_o);
        assert_eq!(stdout(&o), stdout(&t), "{with_o:?}");
    }
    // literal log lines instead of a file
    assert_same_report(&[
        "2024-01-15 10:00:00 conn 1 from 192.0.2.1 failed",
        "from <HOST> failed",
    ]);
    assert_same_report(&[
        "2024-01-15 10:00:00 a from 192.0.2.1\n2024-01-15 10:00:01 b from 192.0.2.2",
        "from <HOST>",
    ]);
}

#[test]
fn stock_filters_over_their_sample_logs() {
    if !have_oracle() {
        return;
    }
    // Every stock filter (multi-line ones included) over fail2ban's own annotated sample log:
    // the `Lines:` line and every failregex hit count must agree.
    let mut checked = 0;
    let mut failures = Vec::new();
    for e in std::fs::read_dir("/etc/fail2ban/filter.d").expect("filter.d") {
        let p = e.expect("entry").path();
        let name = p.file_stem().unwrap().to_string_lossy().into_owned();
        if p.extension().is_none_or(|x| x != "conf") || name.ends_with("common") {
            continue;
        }
        let sample = format!("{F2B_SAMPLES}/{name}");
        if !std::path::Path::new(&sample).exists() {
            continue;
        }
        let (o, t) = both(&[&sample, &name]);
        let ts = stdout(&t);
        if !t.status.success() {
            continue;
        }
        let os = stdout(&o);
        let pick = |s: &str| -> Vec<String> {
            s.lines()
                .filter(|l| l.starts_with("Lines: ") || l.starts_with("|  ") && l.contains(") ["))
                .map(str::to_string)
                .collect()
        };
        if pick(&os) != pick(&ts) {
            failures.push(format!(
                "{name}:\n{}\nstderr: {}",
                diff_lines(&pick(&ts).join("\n"), &pick(&os).join("\n")),
                String::from_utf8_lossy(&o.stderr)
            ));
        }
        checked += 1;
    }
    assert!(checked > 50, "only {checked} filters checked");
    assert!(
        failures.is_empty(),
        "{} of {checked} filters differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn bad_input_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("cfg");
    std::fs::create_dir_all(cfg.join("filter.d")).unwrap();
    std::fs::write(
        cfg.join("filter.d/dup.conf"),
        "[Definition]\nfailregex = a <HOST>\nfailregex = b <HOST>\n",
    )
    .unwrap();
    std::fs::write(
        cfg.join("filter.d/loop.conf"),
        "[INCLUDES]\nbefore = ./loop2.conf\n[Definition]\nfailregex = a <HOST>\n",
    )
    .unwrap();
    std::fs::write(
        cfg.join("filter.d/loop2.conf"),
        "[INCLUDES]\nbefore = ./loop.conf\n[Definition]\nfailregex = b <HOST>\n",
    )
    .unwrap();
    let log = temp_file(dir.path(), "x.log", b"2024-01-15 10:00:00 from 192.0.2.1\n");
    let log = log.display().to_string();
    let cfgs = cfg.display().to_string();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec![&log, "from (<HOST>"], "from (<HOST>"),
        (vec![&log, "no-id-group"], "No failure-id group"),
        (vec!["-c", &cfgs, &log, "dup"], "already exists"),
        (vec!["-c", &cfgs, &log, "loop"], "loop"),
        (
            vec!["--timezone", "Europe/Berlin", &log, "from <HOST>"],
            "Europe/Berlin",
        ),
        (
            vec!["--bogus-option", &log, "from <HOST>"],
            "--bogus-option",
        ),
        (vec![&log], "REGEX"),
    ];
    for (args, needle) in cases {
        let mut c = failscan();
        c.arg("regex").args(&args);
        let o = run(c);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{args:?} should fail");
        assert!(
            err.contains(needle),
            "{args:?}: stderr should mention {needle:?}: {err}"
        );
        assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
    }
    // A log path that exists but cannot be read (a directory) is an error too.
    let mut c = failscan();
    c.args(["regex", "-c", &cfgs])
        .arg(dir.path())
        .arg("from <HOST>");
    let o = run(c);
    assert!(!o.status.success() || stdout(&o).contains("single line"));
}

#[test]
fn every_out_token_gives_the_same_rows() {
    if !have_oracle() {
        return;
    }
    for log in ["messages-isodate", "syslog"] {
        let p = repo().join("corpus").join(log);
        let p = p.to_str().unwrap();
        for o in [
            "id",
            "fid",
            "ip",
            "msg",
            "row",
            "matches",
            "user",
            "ip4",
            "ip6",
            "dns",
            "<ip> <time>",
            "<F-USER>",
            "<msg>",
            "<fid>|<failures>",
            "<matches>",
            "<unknown> <ip>",
        ] {
            let (ours, theirs) = both(&["-o", o, p, "asterisk"]);
            assert_eq!(stdout(&ours), stdout(&theirs), "-o {o:?} on {log}");
            assert!(theirs.status.success());
        }
    }
}

/// A log for multi-line regexes: two interleaved connections, an ignored one, one whose
/// lines are further apart than the buffer, noise lines that a match leaves in the buffer.
const MULTILINE_LOG: &str = "\
2024-01-15 10:00:00 conn 7 open from 192.0.2.1\n\
2024-01-15 10:00:01 noise a\n\
2024-01-15 10:00:02 conn 8 open from 192.0.2.2\n\
2024-01-15 10:00:03 conn 7 auth failed\n\
2024-01-15 10:00:04 noise b\n\
2024-01-15 10:00:05 conn 8 auth failed\n\
2024-01-15 10:00:06 conn 9 open from 192.0.2.3\n\
2024-01-15 10:00:07 ignoreme conn 9 auth failed\n\
2024-01-15 10:00:08 noise a\n\
2024-01-15 10:00:09 conn 10 open from 192.0.2.4\n\
2024-01-15 10:00:10 noise c\n\
2024-01-15 10:00:11 noise d\n\
2024-01-15 10:00:12 noise e\n\
2024-01-15 10:00:13 conn 10 auth failed\n\
no date line conn 12 open from 192.0.2.9\n\
2024-01-15 10:00:14 conn 11 open from 192.0.2.5\n\
2024-01-15 10:00:15 conn 11 auth failed\n";

#[test]
fn multi_line_buffering() {
    if !have_oracle() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let p = temp_file(dir.path(), "ml.log", MULTILINE_LOG.as_bytes());
    let p = p.display().to_string();
    let skip = r"conn (?P<c>\d+) open from <HOST><SKIPLINES>.*conn (?P=c) auth failed$";
    let span = r"conn (?P<c>\d+) open from <HOST>\n(?:.*\n)*?.*conn (?P=c) auth failed";
    for re in [skip, span] {
        // `$` without MULTILINE: the end of the matched lines only
        for ig in [
            None,
            Some("ignoreme"),
            Some("^ noise"),
            Some(r"from 192\.0\.2\.1$"),
        ] {
            for opts in [
                &["-L", "4"][..],
                &["-L", "3", "--print-all-missed", "--print-all-matched"],
                &["-L", "5", "-v"],
                &["-L", "4", "--no-check-all"],
                &["-L", "2"],
            ] {
                let mut args: Vec<&str> = opts.to_vec();
                args.extend([p.as_str(), re]);
                args.extend(ig);
                assert_same_report(&args);
            }
            for out in ["msg", "row", "id"] {
                let mut args = vec!["-L", "4", "-o", out, p.as_str(), re];
                args.extend(ig);
                let (o, t) = both(&args);
                assert_eq!(stdout(&o), stdout(&t), "{args:?}");
            }
        }
    }
}

#[test]
fn mlfid_merging() {
    if !have_oracle() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("cfg");
    std::fs::create_dir_all(cfg.join("filter.d")).unwrap();
    std::fs::write(
        cfg.join("filter.d/mlf.conf"),
        r"[Definition]
prefregex = ^ srv\[<F-MLFID>\d+</F-MLFID>\]: <F-CONTENT>.+</F-CONTENT>$
failregex = ^user <F-USER>\S+</F-USER> connected$
            ^auth failed(?: from <ADDR>)?$
            ^login ok for <F-USER>\S+</F-USER> from <ADDR><F-MLFGAINED></F-MLFGAINED>$
            ^closed from <ADDR><F-MLFFORGET>1</F-MLFFORGET>$
            ^probe <F-NOFAIL>x</F-NOFAIL> from <ADDR>$
            ^tuple <F-TUPLE_ID_1>\S+</F-TUPLE_ID_1> <F-TUPLE_ID_2>\S+</F-TUPLE_ID_2> from <ADDR>$
            ^gained<F-MLFGAINED>y</F-MLFGAINED>$
",
    )
    .unwrap();
    // Connection 3 has two users: its `users` set prints in Python's hash order, so `-o row`
    // runs on the log without it.
    let conn3 = "\
2024-01-15 10:00:06 srv[3]: user eve connected\n\
2024-01-15 10:00:07 srv[3]: auth failed\n\
2024-01-15 10:00:08 srv[3]: user mallory connected\n\
2024-01-15 10:00:09 srv[3]: login ok for mallory from 192.0.2.3\n";
    let rest = "\
2024-01-15 10:00:00 srv[1]: user bob connected\n\
2024-01-15 10:00:01 srv[1]: auth failed\n\
2024-01-15 10:00:02 srv[1]: auth failed from 192.0.2.1\n\
2024-01-15 10:00:03 srv[2]: user amy connected\n\
2024-01-15 10:00:04 srv[2]: login ok for amy from 192.0.2.2\n\
2024-01-15 10:00:05 srv[2]: closed from 192.0.2.2\n\
2024-01-15 10:00:10 srv[4]: probe x from 192.0.2.4\n\
2024-01-15 10:00:11 srv[4]: auth failed from 192.0.2.4\n\
2024-01-15 10:00:12 srv[5]: tuple a b from 192.0.2.5\n\
2024-01-15 10:00:13 srv[6]: gainedy\n\
2024-01-15 10:00:14 srv[6]: auth failed from 192.0.2.6\n\
2024-01-15 10:00:15 srv[1]: closed from 192.0.2.1\n\
2024-01-15 10:00:16 srv[1]: auth failed\n\
2024-01-15 10:00:17 srv[7]: user zed connected\n\
2024-01-15 10:00:18 srv[7]: gainedy\n\
2024-01-15 10:00:19 srv[7]: auth failed from 192.0.2.7\n";
    let full = temp_file(dir.path(), "full.log", format!("{rest}{conn3}").as_bytes());
    let rows = temp_file(dir.path(), "rows.log", rest.as_bytes());
    let (full, rows) = (full.display().to_string(), rows.display().to_string());
    let cfgs = cfg.display().to_string();
    for opts in [
        &[][..],
        &["-v"],
        &["--print-all-matched", "--print-all-missed"],
        &["--no-check-all", "-v"],
        &["-L", "3"],
        &["-L", "2", "--no-check-all"],
    ] {
        let mut args = vec!["-c", cfgs.as_str()];
        args.extend(opts);
        args.extend([full.as_str(), "mlf"]);
        assert_same_report(&args);
    }
    for out in ["row", "msg", "id", "ip"] {
        for log in [&rows, &full] {
            if out == "row" && log == &full {
                continue;
            }
            let args = ["-c", cfgs.as_str(), "-o", out, log.as_str(), "mlf"];
            let (o, t) = both(&args);
            assert_eq!(stdout(&o), stdout(&t), "{args:?}");
        }
    }
}
