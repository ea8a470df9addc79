//! Criterion benchmarks of the per-line hot path: date detection, the engine on attack and
//! benign lines, the scan prefilter, and a whole in-memory chunk scan.
//!
//! Run with `cargo bench`; `scripts/bench.sh` compares whole runs with fail2ban-regex,
//! ripgrep and gzip. The embedded asterisk filter is used so that the numbers do not depend
//! on an installed fail2ban.

use std::path::Path;

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use failscan::cmd::scan::{build_scanner, resolve_filters};
use failscan::date::{DateDetector, DateOptions};
use failscan::pattern::{DnsMode, Engine, EngineOptions, LineOutcome, QuickPlan};
use failscan::scan::prefilter::LinePrefilter;

const ATTACK: &str = "[2024-03-10 08:15:01] NOTICE[2101] chan_sip.c: Registration from '\"200\" <sip:200@203.0.113.5>' failed for '203.0.113.5:5062' - Wrong password";
const BENIGN: &str = "[2024-03-10 08:15:04] VERBOSE[2101] pbx.c: Executing [s@default:1] Answer(\"SIP/100-00000001\", \"\") in new stack";
const SYSLOG: &str = "Mar 10 08:20:00 pbx asterisk[2100]: NOTICE[2101]: chan_sip.c:25000 in handle_request_register: Registration from '<sip:9@192.0.2.1>' failed for '203.0.113.5:5062' - Wrong password";

fn filters() -> failscan::cmd::scan::Filters {
    resolve_filters(Path::new("/nonexistent-failscan-bench"), &[]).expect("embedded filter")
}

fn dates(c: &mut Criterion) {
    let opts = DateOptions {
        now: 1_764_000_000,
        default_tz: Some(0),
    };
    // Each line a second after the one before: the detector remembers the last date text
    // it parsed, and a line with the same text (the next group) only costs the lookup.
    let seconds = |line: &str, at: &str| -> Vec<String> {
        (0..60)
            .map(|s| line.replace(at, &format!("{}{s:02}", &at[..at.len() - 2])))
            .collect()
    };
    let iso = seconds(ATTACK, "08:15:01");
    let syslog = seconds(SYSLOG, "08:20:00");
    let mut g = c.benchmark_group("date");
    for (name, lines) in [("iso", &iso), ("syslog", &syslog)] {
        let mut d = DateDetector::new(Some("{^LN-BEG}"), opts).expect("detector");
        let mut i = 0;
        g.bench_function(name, |b| {
            b.iter(|| {
                i = (i + 1) % lines.len();
                d.detect(black_box(&lines[i]))
            })
        });
    }
    for (name, line) in [("iso-same-second", ATTACK), ("syslog-same-second", SYSLOG)] {
        let mut d = DateDetector::new(Some("{^LN-BEG}"), opts).expect("detector");
        g.bench_function(name, |b| b.iter(|| d.detect(black_box(line))));
    }
    let mut d = DateDetector::new(None, opts).expect("detector");
    let mut i = 0;
    g.bench_function("default-templates", |b| {
        b.iter(|| {
            i = (i + 1) % syslog.len();
            d.detect(black_box(&syslog[i]))
        })
    });
    g.finish();
}

fn engine(c: &mut Criterion) {
    let f = filters();
    let opts = EngineOptions {
        check_all: false,
        ..EngineOptions::default()
    };
    let engine = Engine::build(&f.regexes, &opts).expect("engine");
    let mut cache = engine.new_cache();
    let mut out = LineOutcome::default();
    let prefilter = LinePrefilter::build(&f.regexes, opts.usedns);
    let cut = |l: &str| {
        l.replacen("2024-03-10 08:15:01", "", 1)
            .replacen("2024-03-10 08:15:04", "", 1)
    };
    let (attack, benign) = (cut(ATTACK), cut(BENIGN));
    let mut g = c.benchmark_group("engine");
    g.bench_function("attack-line", |b| {
        b.iter(|| engine.match_line(&mut cache, black_box(&attack), &mut out))
    });
    g.bench_function("benign-line", |b| {
        b.iter(|| engine.match_line(&mut cache, black_box(&benign), &mut out))
    });
    g.bench_function("prefilter-benign", |b| {
        b.iter(|| prefilter.may_match(black_box(&benign)))
    });
    g.finish();

    // The scan's quick path on the same lines (scan options: first match wins, raw names).
    let scan_opts = EngineOptions {
        check_all: false,
        dns: DnsMode::Raw,
        ignore_pending: true,
        ..EngineOptions::default()
    };
    let scan_engine = Engine::build(&f.regexes, &scan_opts).expect("engine");
    let plan = QuickPlan::build(&scan_engine).expect("quick plan");
    let mut qc = plan.new_cache();
    let (attack_nl, benign_nl) = (format!("{attack}\n"), format!("{benign}\n"));
    let mut g = c.benchmark_group("quick");
    g.bench_function("attack-line", |b| {
        b.iter(|| plan.classify(&mut qc, black_box(&attack_nl)))
    });
    g.bench_function("benign-line", |b| {
        b.iter(|| plan.classify(&mut qc, black_box(&benign_nl)))
    });
    g.finish();
}

fn chunk(c: &mut Criterion) {
    let f = filters();
    let scanner = build_scanner(&f, None, false, usize::MAX / 2).expect("scanner");
    let mut log = String::new();
    for i in 0..4000 {
        log.push_str(if i % 4 == 0 { ATTACK } else { BENIGN });
        log.push('\n');
    }
    let det = DateDetector::new(
        Some("{^LN-BEG}"),
        DateOptions {
            now: 1_764_000_000,
            default_tz: Some(0),
        },
    )
    .expect("detector");
    let mut g = c.benchmark_group("scan");
    g.throughput(Throughput::Bytes(log.len() as u64));
    g.sample_size(20);
    g.bench_function("chunk-25pct-attacks", |b| {
        b.iter(|| scanner.scan_bytes(std::slice::from_ref(&det), 0, log.as_bytes(), &|_| {}))
    });
    g.finish();
}

criterion_group!(benches, dates, engine, chunk);
criterion_main!(benches);
