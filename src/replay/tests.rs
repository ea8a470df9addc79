//! Replay tests: the verified traces of spec section 6, edge cases checked against fail2ban's
//! own FailManager (cleanup before every failure, as in the replay model), and a property test
//! that the parallel per-ID replay equals one global event loop.

use proptest::prelude::*;

use super::engine::replay_jails_sequential;
use super::*;

fn jail(maxretry: u32, findtime: f64, bantime: f64) -> JailParams {
    JailParams {
        name: "asterisk".into(),
        maxretry,
        findtime,
        bantime,
        increment: None,
        ignore: IgnoreList::default(),
        set_names: vec!["asterisk-tcp".into(), "asterisk-udp".into()],
    }
}

fn fails(id: &str, times: &[f64]) -> Vec<Failure> {
    times
        .iter()
        .map(|&t| Failure {
            time: t,
            id: id.into(),
            regex: 1,
        })
        .collect()
}

fn run(j: &JailParams, f: &[Failure]) -> JailReplay {
    replay_jail(j, f, &ReplayOptions::default())
}

fn spans(r: &JailReplay) -> Vec<(f64, Option<f64>)> {
    r.bans.iter().map(|b| (b.start, b.end)).collect()
}

const IP: &str = "192.0.2.1";

// Spec 6.2 trace and 6.4 prolongation (maxretry 3, findtime 600, bantime 600).
#[test]
fn trace_6_2_ban_prolong_unban() {
    let j = jail(3, 600.0, 600.0);
    let r = run(
        &j,
        &fails(IP, &[0.0, 200.0, 500.0, 700.0, 800.0, 900.0, 1200.0]),
    );
    assert_eq!(spans(&r), vec![(500.0, Some(1500.0))]);
    let b = &r.bans[0];
    assert_eq!((b.ban_no, b.failures, b.bantime), (1, 3, 600.0));
    // Before the repeat at 900 the end was 1100.
    let early = run(&j, &fails(IP, &[0.0, 200.0, 500.0]));
    assert_eq!(spans(&early), vec![(500.0, Some(1100.0))]);
    // At 1200 the entry holds one failure (removed at the ban at 900).
    let s = r.status_at(1200.0);
    assert_eq!(
        s,
        JailStatus {
            currently_failed: 1,
            total_failed: 7,
            currently_banned: 1,
            total_banned: 1,
            banned: vec![IP.into()],
        }
    );
    // Unban at the first check with now > 1500.
    assert_eq!(r.active_at(1500.0).len(), 1);
    assert!(r.active_at(1500.5).is_empty());
    assert_eq!(r.status_at(1600.0).currently_banned, 0);
    assert_eq!(r.status_at(1600.0).currently_failed, 1);
    // The failure at 1200 goes stale at 1800 (last <= now - findtime).
    assert_eq!(r.status_at(1799.0).currently_failed, 1);
    assert_eq!(r.status_at(1800.0).currently_failed, 0);
}

#[test]
fn window_scaling_bans_at_1000() {
    let j = jail(4, 600.0, 600.0);
    let r = run(&j, &fails(IP, &[0.0, 300.0, 550.0, 900.0, 1000.0]));
    assert_eq!(spans(&r), vec![(1000.0, Some(1600.0))]);
    let before = run(&j, &fails(IP, &[0.0, 300.0, 550.0, 900.0]));
    assert!(before.bans.is_empty());
}

#[test]
fn gap_longer_than_findtime_restarts_count() {
    let r = run(
        &jail(3, 600.0, 600.0),
        &fails(IP, &[0.0, 300.0, 1000.0, 1100.0]),
    );
    assert!(r.bans.is_empty(), "with cleanup, 1100 gives retry 2");
    assert_eq!(r.status_at(1100.0).currently_failed, 1);
}

// fail2ban's FailManager: 0, 100, 200, 720 with maxretry 4 leaves retry 3, because
// 3/720*600 = 2.5 rounds half to even (2); f64::round would give 3 and a ban.
#[test]
fn scaling_rounds_half_to_even() {
    let r = run(
        &jail(4, 600.0, 600.0),
        &fails(IP, &[0.0, 100.0, 200.0, 720.0]),
    );
    assert!(r.bans.is_empty());
}

// Checked with fail2ban's FailManager: the window is inclusive, and a failure just outside it
// still bans because the count is estimated: 4/601*600 rounds to 4.
#[test]
fn maxretry_at_window_edges() {
    let j = jail(5, 600.0, 600.0);
    for (last, banned) in [(599.0, true), (600.0, true), (601.0, true)] {
        let r = run(&j, &fails(IP, &[0.0, 100.0, 200.0, 300.0, last]));
        assert_eq!(!r.bans.is_empty(), banned, "last failure at {last}");
    }
    // Four failures, then one after the entry went stale: the count restarts.
    let r = run(&j, &fails(IP, &[0.0, 1.0, 2.0, 3.0, 604.0]));
    assert!(r.bans.is_empty());
    assert_eq!(r.status_at(604.0).currently_failed, 1);
    // Exactly maxretry in the window, all at one instant.
    let r = run(&j, &fails(IP, &[7.0; 5]));
    assert_eq!(spans(&r), vec![(7.0, Some(607.0))]);
}

#[test]
fn reoffending_after_unban_is_a_new_ban() {
    let j = jail(2, 600.0, 600.0);
    let r = run(&j, &fails(IP, &[0.0, 10.0, 700.0, 2000.0, 2010.0]));
    assert_eq!(spans(&r), vec![(10.0, Some(610.0)), (2010.0, Some(2610.0))]);
    assert_eq!(r.bans[1].ban_no, 2);
    assert_eq!(r.status_at(2010.0).total_banned, 2);
    assert_eq!(r.status_at(1000.0).total_banned, 1);
}

#[test]
fn permanent_and_negative_and_zero_bantime() {
    let times = [0.0, 10.0, 20.0, 30.0, 1e9, 1e9 + 1.0];
    let r = run(&jail(2, 600.0, -1.0), &fails(IP, &times));
    assert_eq!(spans(&r), vec![(10.0, None)]);
    assert_eq!(r.bans[0].bantime, -1.0);
    assert_eq!(r.active_at(1e12).len(), 1);
    // Any other negative bantime: every ticket has expired already.
    let r = run(&jail(2, 600.0, -5.0), &fails(IP, &times));
    assert!(r.bans.is_empty());
    assert_eq!(r.status_at(1e9 + 1.0).currently_failed, 0);
    // bantime 0: a ban that ends when it starts.
    let r = run(&jail(2, 600.0, 0.0), &fails(IP, &[0.0, 10.0, 20.0, 30.0]));
    assert_eq!(spans(&r), vec![(10.0, Some(10.0)), (30.0, Some(30.0))]);
}

#[test]
fn unordered_input_and_normalized_ids() {
    let mut f = fails("::ffff:192.0.2.1", &[500.0]);
    f.extend(fails("192.0.2.1", &[0.0]));
    f.extend(fails("[::FFFF:192.0.2.1]", &[200.0]));
    let r = run(&jail(3, 600.0, 600.0), &f);
    assert_eq!(spans(&r), vec![(500.0, Some(1100.0))]);
    assert_eq!(r.bans[0].id, "192.0.2.1");
}

fn increment_jail(inc: Increment, maxretry: u32) -> JailParams {
    JailParams {
        increment: Some(inc),
        ..jail(maxretry, 600.0, 600.0)
    }
}

/// Ban lengths of five bans of one ID, each long after the previous one ended but before the
/// ban record is purged (maxretry 1: every failure bans).
fn five_bans(inc: Increment) -> Vec<f64> {
    let r = run(
        &increment_jail(inc, 1),
        &fails(IP, &[0.0, 20_000.0, 40_000.0, 60_000.0, 80_000.0]),
    );
    r.bans.iter().map(|b| b.bantime).collect()
}

// Spec 6.6 table, through the whole engine.
#[test]
fn increment_table_6_6() {
    let d = Increment::default;
    assert_eq!(five_bans(d()), vec![600.0, 1200.0, 2400.0, 4800.0, 9600.0]);
    assert_eq!(
        five_bans(Increment { factor: 2.0, ..d() }),
        vec![600.0, 2400.0, 4800.0, 9600.0, 19200.0]
    );
    assert_eq!(
        five_bans(Increment {
            maxtime: Some(3600.0),
            ..d()
        }),
        vec![600.0, 1200.0, 2400.0, 3600.0, 3600.0]
    );
    assert_eq!(
        five_bans(Increment {
            multipliers: vec![1.0, 5.0, 30.0],
            ..d()
        }),
        vec![600.0, 3000.0, 18000.0, 18000.0, 18000.0]
    );
    // Permanent bans are never incremented.
    let r = run(
        &JailParams {
            bantime: -1.0,
            ..increment_jail(d(), 1)
        },
        &fails(IP, &[0.0]),
    );
    assert_eq!(r.bans[0].end, None);
}

#[test]
fn rndtime_is_seeded() {
    let with = |seed| Increment {
        rndtime: Some((60.0, seed)),
        ..Increment::default()
    };
    let a = five_bans(with(1));
    assert_eq!(a[0], 600.0, "the first ban gets no random part");
    for (k, base) in [1200.0, 2400.0, 4800.0, 9600.0].iter().enumerate() {
        assert!(a[k + 1] >= *base && a[k + 1] < base + 60.0, "{a:?}");
    }
    assert_eq!(a, five_bans(with(1)));
    assert_ne!(a, five_bans(with(2)));
}

// Known bad IPs: with a ban record of count n, each new failure counts min(2^(n-1)+1, maxretry).
#[test]
fn known_bad_ip_weighting() {
    let j = increment_jail(Increment::default(), 5);
    let mut times = vec![0.0, 1.0, 2.0, 3.0, 4.0]; // ban #1 at 4, ends 604
    times.push(4.0); // same second as the ban: not weighted (time <= timeofban)
    times.extend([1000.0, 1001.0]); // weight 2: 2, 4 (+ the failure at 4 is stale by now)
    times.push(1002.0); // 5 -> ban #2 by the filter's own count (1200 s), ends 2202
    times.extend([5000.0, 5001.0]); // count 2, weight 3: 3, 6 -> ban #3 (2400 s)
    times.push(10_000.0); // count 3, weight 5 = maxretry: ban #4 at once (4800 s)
    times.push(20_000.0); // count 4, weight min(9, 5): ban #5 at once
    let r = run(&j, &fails(IP, &times));
    let got: Vec<(f64, f64)> = r.bans.iter().map(|b| (b.start, b.bantime)).collect();
    assert_eq!(
        got,
        vec![
            (4.0, 600.0),
            (1002.0, 1200.0),
            (5001.0, 2400.0),
            (10_000.0, 4800.0),
            (20_000.0, 9600.0)
        ]
    );
    // The observer's extra addFailure counts in "Total failed": 5 + 1 + (2 + 2 + 1) + 2*2 + 2 + 2.
    assert_eq!(r.status_at(1e9).total_failed, 19);
    // Without increment, no weighting: 1000..1002 are 3 failures, no ban.
    let plain = run(&jail(5, 600.0, 600.0), &fails(IP, &times));
    assert_eq!(plain.bans.len(), 1);
}

// Ban records are forgotten after dbpurgeage + 3 * bantime: the ID starts at ban #1 again.
#[test]
fn ban_record_purge() {
    let j = increment_jail(Increment::default(), 1);
    let limit = 86_400.0 + 3.0 * 600.0;
    let r = run(&j, &fails(IP, &[0.0, limit]));
    assert_eq!(r.bans[1].bantime, 1200.0, "still remembered at the limit");
    let r = run(&j, &fails(IP, &[0.0, limit + 1.0]));
    assert_eq!(r.bans[1].bantime, 600.0);
    assert_eq!(r.bans[1].ban_no, 2);
    let opts = ReplayOptions {
        dbpurgeage: 7.0 * 86_400.0,
        ..ReplayOptions::default()
    };
    let r = replay_jail(&j, &fails(IP, &[0.0, limit + 1.0]), &opts);
    assert_eq!(r.bans[1].bantime, 1200.0);
}

#[test]
fn overalljails_counts_other_jails_bans() {
    let sshd = JailParams {
        name: "sshd".into(),
        ..jail(1, 600.0, 600.0)
    };
    let ast = |overall| {
        increment_jail(
            Increment {
                overalljails: overall,
                ..Increment::default()
            },
            1,
        )
    };
    let f_sshd = fails(IP, &[0.0]);
    let f_ast = fails(IP, &[5000.0]);
    for (overall, want) in [(true, 1200.0), (false, 600.0)] {
        let a = ast(overall);
        let out = replay_jails(
            &[
                JailInput {
                    params: &sshd,
                    failures: &f_sshd,
                },
                JailInput {
                    params: &a,
                    failures: &f_ast,
                },
            ],
            &ReplayOptions::default(),
        );
        assert_eq!(out[1].bans[0].bantime, want, "overalljails={overall}");
        assert_eq!(out[1].bans[0].ban_no, 1);
        assert_eq!(out[0].bans.len(), 1);
    }
}

#[test]
fn ignoreip_drops_failures_before_counting() {
    let ignore = IgnoreList::parse(&["10.0.0.0/8 2001:db8::/32".to_string()]).unwrap();
    let j = JailParams {
        ignore,
        ..jail(2, 600.0, 600.0)
    };
    let mut f = fails("10.1.2.3", &[0.0, 1.0]);
    f.extend(fails("::ffff:10.9.9.9", &[2.0, 3.0]));
    f.extend(fails("2001:db8::7", &[4.0, 5.0]));
    f.extend(fails("192.0.2.1", &[6.0, 7.0]));
    let r = run(&j, &f);
    assert_eq!(r.ignored, 6);
    assert_eq!(r.bans.len(), 1);
    assert_eq!(r.bans[0].id, "192.0.2.1");
    assert_eq!(r.status_at(10.0).total_failed, 2);
}

// 6.8: five bans of one IP across jails within one day -> a recidive ban of one week.
#[test]
fn recidive_after_five_bans_in_a_day() {
    let recidive = JailParams {
        name: "recidive".into(),
        set_names: vec!["recidive".into()],
        ..jail(5, 86_400.0, 604_800.0)
    };
    let mut bans: Vec<Ban> = Vec::new();
    for (k, jail_name) in ["asterisk", "sshd", "asterisk", "sshd", "asterisk"]
        .iter()
        .enumerate()
    {
        let start = k as f64 * 3600.0;
        bans.push(Ban {
            jail: (*jail_name).into(),
            id: IP.into(),
            start,
            end: Some(start + 600.0),
            bantime: 600.0,
            ban_no: 1,
            failures: 5,
            regexes: vec![1],
        });
    }
    // recidive's own bans are not recidive failures.
    let mut own = bans[0].clone();
    own.jail = "recidive".into();
    own.start = 100.0;
    let mut input = bans.clone();
    input.push(own);
    let opts = ReplayOptions::default();
    let r = replay_recidive(&recidive, &input[1..], &[], &opts);
    assert!(r.bans.is_empty(), "only four bans from other jails");
    let r = replay_recidive(&recidive, &input, &[], &opts);
    assert_eq!(spans(&r), vec![(14_400.0, Some(14_400.0 + 604_800.0))]);
    assert_eq!(r.bans[0].regexes, vec![REPLAYED_BAN_TAG]);
    // The fifth ban may come from an existing fail2ban.log instead.
    let extra = [Failure {
        time: 14_400.0,
        id: IP.into(),
        regex: 7,
    }];
    let r = replay_recidive(&recidive, &bans[..4], &extra, &opts);
    assert_eq!(r.bans[0].regexes, vec![7, REPLAYED_BAN_TAG]);
    // Five bans spread over more than a day: no recidive ban.
    let spread: Vec<Ban> = bans
        .iter()
        .cloned()
        .map(|mut b| {
            b.start *= 8.0;
            b
        })
        .collect();
    assert!(replay_recidive(&recidive, &spread, &[], &opts)
        .bans
        .is_empty());
}

// Two jails fed by one filter's failures count them independently.
#[test]
fn two_jails_share_one_filters_failures() {
    let f = fails(IP, &[0.0, 10.0, 20.0, 30.0, 40.0]);
    let strict = JailParams {
        name: "strict".into(),
        ..jail(3, 600.0, 600.0)
    };
    let lax = JailParams {
        name: "lax".into(),
        ..jail(10, 600.0, 600.0)
    };
    let out = replay_jails(
        &[
            JailInput {
                params: &strict,
                failures: &f,
            },
            JailInput {
                params: &lax,
                failures: &f,
            },
        ],
        &ReplayOptions::default(),
    );
    assert_eq!(spans(&out[0]), vec![(20.0, Some(620.0))]);
    assert!(out[1].bans.is_empty());
    assert_eq!(out[1].status_at(40.0).currently_failed, 1);
    assert_eq!(out[0].jail, "strict");
    assert_eq!(out[0], run(&strict, &f));
}

#[test]
fn firewall_drops_counterfactual() {
    let j = jail(3, 600.0, 600.0);
    let f = fails(
        IP,
        &[0.0, 200.0, 500.0, 700.0, 800.0, 900.0, 1100.0, 1200.0],
    );
    let opts = ReplayOptions {
        firewall_drops: true,
        ..ReplayOptions::default()
    };
    let r = replay_jail(&j, &f, &opts);
    // 700, 800, 900 and 1100 (now == end: still banned) are dropped: no prolongation.
    assert_eq!(spans(&r), vec![(500.0, Some(1100.0))]);
    assert_eq!(r.dropped, 4);
    let s = r.status_at(1200.0);
    assert_eq!(
        (s.currently_failed, s.total_failed, s.currently_banned),
        (1, 4, 0)
    );
}

#[test]
fn invalid_times_are_skipped() {
    let mut f = fails(IP, &[0.0, 1.0]);
    f.push(Failure {
        time: f64::NAN,
        id: IP.into(),
        regex: 1,
    });
    let r = run(&jail(3, 600.0, 600.0), &f);
    assert_eq!(r.invalid_times, 1);
    assert!(r.bans.is_empty());
}

fn arb_jail(name: &'static str) -> impl Strategy<Value = JailParams> {
    (
        1u32..6,
        1u32..5,
        prop_oneof![
            Just(-1.0),
            Just(0.0),
            Just(-3.0),
            (1u32..20).prop_map(|b| f64::from(b) * 50.0)
        ],
        any::<bool>(),
        any::<bool>(),
        0u8..3,
    )
        .prop_map(move |(maxretry, find, bantime, inc, overall, variant)| {
            let increment = inc.then(|| Increment {
                overalljails: overall,
                multipliers: if variant == 1 { vec![1.0, 3.0] } else { vec![] },
                maxtime: (variant == 2).then_some(900.0),
                rndtime: Some((5.0, 42)),
                ..Increment::default()
            });
            JailParams {
                name: name.into(),
                maxretry,
                findtime: f64::from(find) * 10.0,
                bantime,
                increment,
                ignore: IgnoreList::parse(&["192.0.2.0/30".to_string()]).unwrap_or_default(),
                set_names: vec![name.into()],
            }
        })
}

proptest! {
    // The parallel per-ID replay equals one global event loop over all IDs (the server's view):
    // IDs never interact, and the output order does not depend on scheduling.
    #[test]
    fn parallel_equals_sequential(
        a in arb_jail("a"),
        b in arb_jail("b"),
        events in proptest::collection::vec((0u32..400, 0usize..8, any::<bool>()), 0..200),
    ) {
        let ids = ["192.0.2.1", "192.0.2.9", "::ffff:192.0.2.9", "2001:db8::1", "alice",
                   "10.0.0.1", "10.0.0.2", "192.0.2.3"];
        let (mut fa, mut fb) = (Vec::new(), Vec::new());
        for (k, (t, i, which)) in events.iter().enumerate() {
            let f = Failure { time: f64::from(*t) * 7.0, id: ids[*i].into(), regex: k as u32 % 3 };
            if *which { fa.push(f) } else { fb.push(f) }
        }
        let inputs = [JailInput { params: &a, failures: &fa }, JailInput { params: &b, failures: &fb }];
        for drops in [false, true] {
            let opts = ReplayOptions { firewall_drops: drops, dbpurgeage: 500.0 };
            let par = replay_jails(&inputs, &opts);
            let seq = replay_jails_sequential(&inputs, &opts);
            prop_assert_eq!(&par, &seq);
            for (p, s) in par.iter().zip(&seq) {
                for t in [0.0, 700.0, 1400.0, 2800.0] {
                    prop_assert_eq!(p.status_at(t), s.status_at(t));
                }
            }
        }
    }
}

/// Differential test against the installed fail2ban 1.0.2: random traces run through its own
/// FailManager and BanManager classes (driven by a small script of ours that follows the replay
/// model: unban check, cleanup, addFailure, toBan, addBanTicket per event) and through
/// `replay_jail`; the bans must agree. Skipped with a note when fail2ban is not installed.
#[test]
fn differential_against_fail2ban_classes() {
    use std::io::Write as _;
    use std::process::{Command, Stdio};

    const DRIVER: &str = r#"
import json, sys
from fail2ban.server.failmanager import FailManager, FailManagerEmpty
from fail2ban.server.banmanager import BanManager
from fail2ban.server.ticket import FailTicket, BanTicket
from fail2ban.server.mytime import MyTime
out = []
for case in json.load(sys.stdin):
    fm = FailManager(); fm.setMaxRetry(case["maxretry"]); fm.setMaxTime(case["findtime"])
    bm = BanManager(); bm.setBanTime(case["bantime"])
    bans = []
    for t, ip in case["events"]:
        MyTime.setTime(t)
        bm.unBanList(t)
        fm.cleanup(t)
        if fm.addFailure(FailTicket(ip, t)) >= case["maxretry"]:
            try:
                ticket = BanTicket.wrap(fm.toBan(ip))
            except FailManagerEmpty:
                continue
            if bm.addBanTicket(ticket):
                bans.append(ticket)
    bt = case["bantime"]
    out.append(sorted([[str(b.getID()), b.getTime(),
                        None if b.getEndOfBanTime(bt) == b.MAX_TIME else b.getEndOfBanTime(bt)]
                       for b in bans], key=lambda x: (x[1], x[0])))
    MyTime.setTime(None)
print(json.dumps(out))
"#;
    let python = "/usr/bin/python3";
    let probe = Command::new(python)
        .args(["-c", "import fail2ban"])
        .output();
    if !probe.map(|o| o.status.success()).unwrap_or(false) {
        if std::env::var_os("CI").is_some() {
            panic!("fail2ban's Python package is needed for the differential test (CI is set)");
        }
        eprintln!("skipping differential test: {python} cannot import fail2ban");
        return;
    }

    // A small deterministic generator; the traces mix bursts, gaps and repeat offenders.
    let mut seed: u64 = 0x5eed;
    let mut next = |n: u64| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) % n
    };
    let ids = ["192.0.2.1", "192.0.2.2", "198.51.100.3", "2001:db8::4"];
    let mut cases = Vec::new();
    for _ in 0..300 {
        let maxretry = 1 + next(6) as u32;
        let findtime = [60.0, 600.0, 100.0][next(3) as usize];
        let bantime = [600.0, 30.0, -1.0, 0.0, 1000.0][next(5) as usize];
        let mut t = 0.0;
        let mut events = Vec::new();
        for _ in 0..next(60) {
            t += [0.0, 1.0, 7.0, 40.0, 90.0, 300.0, 700.0][next(7) as usize];
            events.push((t, ids[next(ids.len() as u64) as usize]));
        }
        cases.push((maxretry, findtime, bantime, events));
    }
    let json = serde_json::to_string(
        &cases
            .iter()
            .map(|(m, f, b, e)| {
                serde_json::json!({"maxretry": m, "findtime": f, "bantime": b, "events": e})
            })
            .collect::<Vec<_>>(),
    )
    .unwrap();
    let mut child = Command::new(python)
        .args(["-c", DRIVER])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(json.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let want: Vec<Vec<(String, f64, Option<f64>)>> = serde_json::from_slice(&out.stdout).unwrap();
    let mut with_bans = 0;
    for ((maxretry, findtime, bantime, events), want) in cases.iter().zip(want) {
        let f: Vec<Failure> = events
            .iter()
            .map(|(t, id)| Failure {
                time: *t,
                id: (*id).into(),
                regex: 0,
            })
            .collect();
        let r = run(&jail(*maxretry, *findtime, *bantime), &f);
        let got: Vec<(String, f64, Option<f64>)> = r
            .bans
            .iter()
            .map(|b| (b.id.clone(), b.start, b.end))
            .collect();
        assert_eq!(
            got, want,
            "maxretry {maxretry} findtime {findtime} bantime {bantime} {events:?}"
        );
        with_bans += usize::from(!got.is_empty());
    }
    assert!(
        with_bans > 100,
        "the generator should produce bans ({with_bans})"
    );
}
