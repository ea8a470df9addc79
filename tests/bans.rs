//! `failscan bans` end to end: a temporary config dir with the seed's jail.local setup
//! (asterisk: maxretry 10, findtime 6h, bantime 1h, two named actions and a mail action;
//! recidive: findtime 1d, bantime 1w) and the embedded asterisk filter, over a handwritten log
//! whose bans were computed by hand from fail2ban's rules (fail2ban-semantics.md 6.2-6.4).
//!
//! The log, times as offsets from T0 = 2024-03-10 08:00:00 UTC:
//! - A 192.0.2.1: Wrong password at 0, 60, ..., 540 (ban 1 at 540, end 4140); then at 7200,
//!   7260, ..., 7740, alternating Wrong password / unknown extension (ban 2 at 7740, end 11340).
//! - B 198.51.100.7: unknown extension at 100, 200, ..., 900 (9 failures, never banned).
//! - C 203.0.113.9: at 1000 + 10k (ban at 1090, end 4690), again at 2000 + 10k while banned:
//!   the 10th makes an "already banned" ticket at 2090 that prolongs the ban to 5690.
//! - D 2001:db8::5: at 3000 + 5k (ban at 3045, end 6645).
//! - a benign line at 7800: the last dated line, so the default `--at`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{failscan, stdout};

const T0: i64 = 1_710_057_600;

fn stamp(t: i64) -> String {
    chrono_like(T0 + t)
}

/// `YYYY-MM-DD hh:mm:ss` of an epoch time (UTC), without a date library: the offsets used
/// here stay within 2024-03-10/11.
fn chrono_like(epoch: i64) -> String {
    let secs = epoch - 1_710_028_800; // 2024-03-10 00:00:00 UTC
    let day = 10 + secs.div_euclid(86400);
    let s = secs.rem_euclid(86400);
    format!(
        "2024-03-{day:02} {:02}:{:02}:{:02}",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

fn wrong_password(t: i64, ip: &str) -> String {
    let host = if ip.contains(':') {
        format!("[{ip}]")
    } else {
        ip.to_string()
    };
    format!(
        "[{}] NOTICE[2101] chan_sip.c: Registration from '<sip:100@203.0.113.5>' failed for '{host}:5060' - Wrong password",
        stamp(t)
    )
}

fn no_extension(t: i64, ip: &str) -> String {
    format!(
        "[{}] NOTICE[2101] chan_sip.c: Call from '' ({ip}:5060) to extension '900' rejected because extension not found in context 'default'.",
        stamp(t)
    )
}

fn seed_log() -> String {
    let mut lines: Vec<(i64, String)> = Vec::new();
    for k in 0..10 {
        lines.push((60 * k, wrong_password(60 * k, "192.0.2.1")));
        let t = 7200 + 60 * k;
        let l = if k % 2 == 0 {
            wrong_password(t, "192.0.2.1")
        } else {
            no_extension(t, "192.0.2.1")
        };
        lines.push((t, l));
        lines.push((1000 + 10 * k, wrong_password(1000 + 10 * k, "203.0.113.9")));
        lines.push((2000 + 10 * k, wrong_password(2000 + 10 * k, "203.0.113.9")));
        lines.push((3000 + 5 * k, wrong_password(3000 + 5 * k, "2001:db8::5")));
    }
    for k in 1..10 {
        lines.push((100 * k, no_extension(100 * k, "198.51.100.7")));
    }
    lines.push((
        7800,
        format!(
            "[{}] VERBOSE[2102] pbx.c: Executing [100@default:1] Dial(\"SIP/100-0001\", \"SIP/200\") in new stack",
            stamp(7800)
        ),
    ));
    lines.sort_by_key(|(t, _)| *t);
    let mut s: String = lines.into_iter().map(|(_, l)| l + "\n").collect();
    s.insert_str(0, "; handwritten test log\n");
    s
}

/// Our own minimal jail.conf (the shape of Debian's: defaults, `%(banaction)s` actions).
const JAIL_CONF: &str = r#"[INCLUDES]
before = paths.conf

[DEFAULT]
bantime  = 10m
findtime  = 10m
maxretry = 5
backend = auto
usedns = warn
enabled = false
mode = normal
filter = %(__name__)s[mode=%(mode)s]
destemail = root@localhost
mta = sendmail
protocol = tcp
chain = <known/chain>
port = 0:65535
banaction = iptables-multiport
banaction_allports = iptables-allports
action_ = %(banaction)s[port="%(port)s", protocol="%(protocol)s", chain="%(chain)s"]
action = %(action_)s

[asterisk]
port     = 5060,5061
action   = %(banaction)s[name=%(__name__)s-tcp, port="%(port)s", protocol="tcp", chain="%(chain)s", actname=%(banaction)s-tcp]
           %(banaction)s[name=%(__name__)s-udp, port="%(port)s", protocol="udp", chain="%(chain)s", actname=%(banaction)s-udp]
           %(mta)s-whois[name=%(__name__)s, dest="%(destemail)s"]
logpath  = /var/log/asterisk/messages
maxretry = 10

[recidive]
logpath  = /var/log/fail2ban.log
banaction = %(banaction_allports)s
bantime  = 1w
findtime = 1d
"#;

/// A temporary config dir: jail.conf, and jail.d/jail.local as in the seed (asterisk and
/// recidive enabled, asterisk with bantime 3600 and findtime 21600) plus `extra` sections.
/// The asterisk logpath points to `DIR/messages`.
struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new(extra: &str) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("jail.conf"), JAIL_CONF).unwrap();
        std::fs::write(d.join("paths.conf"), "[DEFAULT]\n").unwrap();
        std::fs::create_dir(d.join("jail.d")).unwrap();
        let local = format!(
            "[asterisk]\nenabled  = true\nport     = 5060,5061\n\
             action   = %(banaction)s[name=%(__name__)s-tcp, port=\"%(port)s\", protocol=\"tcp\", chain=\"%(chain)s\", actname=%(banaction)s-tcp]\n\
             \x20          %(banaction)s[name=%(__name__)s-udp, port=\"%(port)s\", protocol=\"udp\", chain=\"%(chain)s\", actname=%(banaction)s-udp]\n\
             \x20          %(mta)s-whois[name=%(__name__)s, dest=\"%(destemail)s\"]\n\
             logpath  = {}/messages\nmaxretry = 10\nbantime = 3600\nfindtime = 21600\n\n\
             [recidive]\nenabled = true\nlogpath  = /var/log/fail2ban.log\nbanaction = %(banaction_allports)s\n\
             bantime  = 604800  ; 1 week\nfindtime = 86400   ; 1 day\n\n{extra}",
            d.display()
        );
        std::fs::write(d.join("jail.d/jail.local"), local).unwrap();
        Setup { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn write_log(&self) -> PathBuf {
        let p = self.path().join("messages");
        std::fs::write(&p, seed_log()).unwrap();
        p
    }

    fn bans(&self, args: &[&str]) -> Output {
        let mut c = failscan();
        c.arg("bans")
            .arg("-q")
            .arg("-c")
            .arg(self.path())
            .args(args);
        c.output().expect("spawn failscan")
    }
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "failscan failed ({:?}): {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
    stdout(o)
}

fn err(o: &Output) -> String {
    assert_eq!(
        o.status.code(),
        Some(2),
        "expected an error; stdout: {}\nstderr: {}",
        stdout(o),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn status(
    jail: &str,
    failed: u64,
    total_failed: u64,
    file: &str,
    banned: &[&str],
    total: u64,
) -> String {
    format!(
        "Status for the jail: {jail}\n|- Filter\n|  |- Currently failed:\t{failed}\n\
         |  |- Total failed:\t{total_failed}\n|  `- File list:\t{file}\n`- Actions\n\
         \x20  |- Currently banned:\t{}\n   |- Total banned:\t{total}\n\
         \x20  `- Banned IP list:\t{}\n",
        banned.len(),
        banned.join(" ")
    )
}

const CSV_HEADER: &str =
    "jail,ip,ban_start,ban_end,ban_start_epoch,ban_end_epoch,bantime,ban_no,failures,regexes\n";
const ROW_A1: &str = "asterisk,192.0.2.1,2024-03-10T08:09:00Z,2024-03-10T09:09:00Z,1710058140,1710061740,3600,1,10,asterisk#1\n";
const ROW_C: &str = "asterisk,203.0.113.9,2024-03-10T08:18:10Z,2024-03-10T09:34:50Z,1710058690,1710063290,3600,1,10,asterisk#1\n";
const ROW_D: &str = "asterisk,2001:db8::5,2024-03-10T08:50:45Z,2024-03-10T09:50:45Z,1710060645,1710064245,3600,1,10,asterisk#1\n";
const ROW_A2: &str = "asterisk,192.0.2.1,2024-03-10T10:09:00Z,2024-03-10T11:09:00Z,1710065340,1710068940,3600,2,10,asterisk#1 asterisk#2\n";

#[test]
fn seed_setup_status_and_csv() {
    let s = Setup::new("");
    let log = s.write_log();
    let csv = s.path().join("bans.csv");
    // Without LOG arguments the jail's logpath is read.
    let o = s.bans(&["--csv", csv.to_str().unwrap()]);
    let out = ok(&o);
    let logs = log.display().to_string();
    let expected = status("asterisk", 1, 59, &logs, &["192.0.2.1"], 4)
        + "\n"
        + &status("recidive", 3, 4, "", &[], 0);
    assert_eq!(out, expected);
    assert_eq!(
        std::fs::read_to_string(&csv).unwrap(),
        format!("{CSV_HEADER}{ROW_A1}{ROW_C}{ROW_D}{ROW_A2}")
    );

    // The same log given as an argument, at an earlier instant.
    let o = s.bans(&["--at", "2024-03-10T08:55:00Z", log.to_str().unwrap()]);
    let expected = status(
        "asterisk",
        1,
        49,
        &logs,
        &["192.0.2.1", "203.0.113.9", "2001:db8::5"],
        3,
    ) + "\n"
        + &status("recidive", 3, 3, "", &[], 0);
    assert_eq!(ok(&o), expected);
    // Epoch seconds work too.
    let o = s.bans(&[
        "--at",
        &(T0 + 3300).to_string(),
        "--jail",
        "asterisk",
        &logs,
    ]);
    assert!(ok(&o).starts_with(&status(
        "asterisk",
        1,
        49,
        &logs,
        &["192.0.2.1", "203.0.113.9", "2001:db8::5"],
        3
    )));
}

#[test]
fn summary_counts_on_stderr() {
    let s = Setup::new("");
    s.write_log();
    let mut c = failscan();
    c.args(["bans", "-c"]).arg(s.path());
    let o = c.output().unwrap();
    ok(&o);
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("state at 2024-03-10T10:10:00Z (the last dated log line)"),
        "{e}"
    );
    assert!(e.contains("jail asterisk: 59 failures in 1 files"), "{e}");
}

#[test]
fn firewall_drops_changes_the_prolongation() {
    let s = Setup::new("");
    let log = s.write_log();
    let csv = s.path().join("bans.csv");
    let o = s.bans(&[
        "--firewall-drops",
        "--jail",
        "asterisk",
        "--csv",
        csv.to_str().unwrap(),
    ]);
    // C's ten failures during its ban are dropped: 49 counted, and its ban is not prolonged.
    assert_eq!(
        ok(&o),
        status(
            "asterisk",
            1,
            49,
            &log.display().to_string(),
            &["192.0.2.1"],
            4
        )
    );
    let row_c = "asterisk,203.0.113.9,2024-03-10T08:18:10Z,2024-03-10T09:18:10Z,1710058690,1710062290,3600,1,10,asterisk#1\n";
    assert_eq!(
        std::fs::read_to_string(&csv).unwrap(),
        format!("{CSV_HEADER}{ROW_A1}{row_c}{ROW_D}{ROW_A2}")
    );
}

#[test]
fn overrides_apply_to_every_jail() {
    let s = Setup::new("");
    let log = s.write_log();
    let csv = s.path().join("bans.csv");
    // bantime -1: permanent; every ban stays, C's prolongation changes nothing.
    let o = s.bans(&[
        "--bantime",
        "-1",
        "--jail",
        "asterisk",
        "--csv",
        csv.to_str().unwrap(),
    ]);
    let logs = log.display().to_string();
    assert_eq!(
        ok(&o),
        status(
            "asterisk",
            1,
            59,
            &logs,
            &["192.0.2.1", "203.0.113.9", "2001:db8::5"],
            3
        )
    );
    let text = std::fs::read_to_string(&csv).unwrap();
    assert!(
        text.contains(
            "asterisk,203.0.113.9,2024-03-10T08:18:10Z,,1710058690,,-1,1,10,asterisk#1\n"
        ),
        "{text}"
    );
    // maxretry 20 and findtime 1h: only C (20 failures within 1100 s) is banned, at 2090.
    let o = s.bans(&[
        "--maxretry",
        "20",
        "--findtime",
        "1h",
        "--jail",
        "asterisk",
        "--csv",
        csv.to_str().unwrap(),
    ]);
    ok(&o);
    assert_eq!(
        std::fs::read_to_string(&csv).unwrap(),
        format!("{CSV_HEADER}asterisk,203.0.113.9,2024-03-10T08:34:50Z,2024-03-10T09:34:50Z,1710059690,1710063290,3600,1,20,asterisk#1\n")
    );
}

/// Two jails with the same filter over the same log: one scan, two replays. `sip-strict` is
/// disabled but selected by name; maxretry 3, findtime and bantime 600 (see the comments for
/// the hand computation).
#[test]
fn two_jails_share_one_filter() {
    let s = Setup::new("[sip-strict]\nfilter = asterisk\nmaxretry = 3\nlogpath = /nonexistent\n");
    let log = s.write_log();
    let csv = s.path().join("bans.csv");
    let logs = log.display().to_string();
    let o = s.bans(&[
        "--jail",
        "asterisk",
        "--jail",
        "sip-strict",
        "--csv",
        csv.to_str().unwrap(),
        &logs,
    ]);
    // sip-strict: A bans at 120 (prolonged at 300 and 480) and 7320 (prolonged to 8280, in
    // force at 7800, entry with 7740); B once at 300; C at 1020 and again at 2020 (its first
    // ban ended at 1680); D at 3010. Six bans.
    let expected = status("asterisk", 1, 59, &logs, &["192.0.2.1"], 4)
        + "\n"
        + &status("sip-strict", 1, 59, &logs, &["192.0.2.1"], 6);
    assert_eq!(ok(&o), expected);
    let text = std::fs::read_to_string(&csv).unwrap();
    let strict: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("sip-strict,"))
        .collect();
    assert_eq!(
        strict,
        [
            "sip-strict,192.0.2.1,2024-03-10T08:02:00Z,2024-03-10T08:18:00Z,1710057720,1710058680,600,1,3,asterisk#1",
            "sip-strict,198.51.100.7,2024-03-10T08:05:00Z,2024-03-10T08:25:00Z,1710057900,1710059100,600,1,3,asterisk#2",
            "sip-strict,203.0.113.9,2024-03-10T08:17:00Z,2024-03-10T08:28:00Z,1710058620,1710059280,600,1,3,asterisk#1",
            "sip-strict,203.0.113.9,2024-03-10T08:33:40Z,2024-03-10T08:44:40Z,1710059620,1710060280,600,2,3,asterisk#1",
            "sip-strict,2001:db8::5,2024-03-10T08:50:10Z,2024-03-10T09:00:40Z,1710060610,1710061240,600,1,3,asterisk#1",
            "sip-strict,192.0.2.1,2024-03-10T10:02:00Z,2024-03-10T10:18:00Z,1710064920,1710065880,600,2,3,asterisk#1 asterisk#2",
        ]
    );
}

/// recidive counts the replayed asterisk bans plus the `Ban` lines of other jails in a
/// fail2ban.log (the asterisk and recidive lines there are skipped: asterisk is replayed).
/// Needs the stock recidive filter (read at run time from /etc/fail2ban).
#[test]
fn fail2ban_log_feeds_recidive() {
    let stock = Path::new("/etc/fail2ban/filter.d");
    if !stock.join("recidive.conf").is_file() {
        eprintln!("skipping: no stock recidive filter");
        return;
    }
    let s = Setup::new("");
    let log = s.write_log();
    let fd = s.path().join("filter.d");
    std::fs::create_dir(&fd).unwrap();
    for f in ["recidive.conf", "common.conf"] {
        std::fs::copy(stock.join(f), fd.join(f)).unwrap();
    }
    let line = |t: i64, jail: &str, ip: &str| {
        format!(
            "{},000 fail2ban.actions        [1234]: NOTICE  [{jail}] Ban {ip}\n",
            stamp(t)
        )
    };
    let f2b = s.path().join("fail2ban.log");
    let text = [
        line(100, "sshd", "192.0.2.1"),
        line(200, "sshd", "192.0.2.1"),
        line(300, "sshd", "192.0.2.1"),
        line(541, "asterisk", "192.0.2.1"),
        line(542, "recidive", "192.0.2.1"),
        line(600, "sshd", "198.51.100.99"),
    ]
    .concat();
    std::fs::write(&f2b, text).unwrap();
    let csv = s.path().join("bans.csv");
    let o = s.bans(&[
        "--fail2ban-log",
        f2b.to_str().unwrap(),
        "--csv",
        csv.to_str().unwrap(),
    ]);
    // recidive: A has 3 sshd bans and asterisk bans at 540 and 7740: banned at 7740 for a week.
    // C and D (one asterisk ban each) and 198.51.100.99 are currently failed; 8 failures.
    let expected = status(
        "asterisk",
        1,
        59,
        &log.display().to_string(),
        &["192.0.2.1"],
        4,
    ) + "\n"
        + &status(
            "recidive",
            3,
            8,
            &f2b.display().to_string(),
            &["192.0.2.1"],
            1,
        );
    assert_eq!(ok(&o), expected);
    let text = std::fs::read_to_string(&csv).unwrap();
    assert!(
        text.ends_with("recidive,192.0.2.1,2024-03-10T10:09:00Z,2024-03-17T10:09:00Z,1710065340,1710670140,604800,1,5,recidive#1 replayed-ban\n"),
        "{text}"
    );
}

#[test]
fn configuration_errors_are_clear() {
    let s = Setup::new(
        "[badfilter]\nfilter = nosuchfilter\n\n[dns]\nfilter = asterisk\nignoreip = 127.0.0.1/8 pbx.example.org\n\n\
         [formula]\nfilter = asterisk\nbantime.increment = true\nbantime.formula = ban.Time * 3\n\n\
         [averyveryverylongjailnamexx]\nfilter = asterisk\n",
    );
    let log = s.write_log();
    let logs = log.to_str().unwrap();
    let e = err(&s.bans(&["--jail", "nosuch", logs]));
    assert!(
        e.contains("unknown jail 'nosuch'") && e.contains("asterisk, recidive, badfilter"),
        "{e}"
    );
    let e = err(&s.bans(&["--jail", "badfilter", logs]));
    assert!(e.contains("badfilter") && e.contains("nosuchfilter"), "{e}");
    let e = err(&s.bans(&["--jail", "dns", logs]));
    assert!(e.contains("pbx.example.org") && e.contains("DNS"), "{e}");
    let e = err(&s.bans(&["--jail", "formula", logs]));
    assert!(e.contains("unsupported") && e.contains("formula"), "{e}");
    let e = err(&s.bans(&["--bantime", "1wk", logs]));
    assert!(e.contains("--bantime") && e.contains("1wk"), "{e}");
    let e = err(&s.bans(&["--findtime", "abc", logs]));
    assert!(e.contains("--findtime"), "{e}");
    let e = err(&s.bans(&["--at", "yesterday", logs]));
    assert!(e.contains("--at"), "{e}");
    let e = err(&s.bans(&["--maxretry=-1", logs]));
    assert!(e.contains("--maxretry") && e.contains("negative"), "{e}");
    let ipset = s.path().join("out.ipset");
    let ip = ipset.to_str().unwrap();
    let e = err(&s.bans(&["--jail", "averyveryverylongjailnamexx", "--ipset", ip, logs]));
    assert!(
        e.contains("f2b-averyveryverylongjailnamexx6") && e.contains("31"),
        "{e}"
    );
    assert!(!ipset.exists());
    let e = err(&s.bans(&[
        "--set-prefix",
        "fail2ban-much-too-long-",
        "--ipset",
        ip,
        logs,
    ]));
    assert!(e.contains("31"), "{e}");
    // The logpath of a jail must exist when no LOG is given.
    std::fs::remove_file(&log).unwrap();
    let e = err(&s.bans(&["--jail", "asterisk"]));
    assert!(
        e.contains("jail asterisk") && e.contains(&format!("{}/messages", s.path().display())),
        "{e}"
    );
    // No enabled jail.
    let empty = tempfile::tempdir().unwrap();
    std::fs::write(empty.path().join("jail.conf"), "[a]\nfilter = asterisk\n").unwrap();
    let mut c = failscan();
    c.args(["bans", "-c"]).arg(empty.path());
    let e = err(&c.output().unwrap());
    assert!(
        e.contains("no enabled jail") && e.contains("available: a"),
        "{e}"
    );
}

/// A private network namespace for loading set files with the real tools.
struct NetNs(String);

impl NetNs {
    fn create(tag: &str) -> Option<NetNs> {
        let skip = |why: &str| {
            if std::env::var_os("CI").is_some() {
                panic!("{why} (CI is set, so this is a failure)");
            }
            eprintln!("skipping real-ipset test: {why}");
            None
        };
        let ok = |c: &str, a: &str| {
            Command::new(c)
                .arg(a)
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false)
        };
        if !ok("ip", "-V") || !ok("ipset", "--version") {
            return skip("ip or ipset is not installed");
        }
        let name = format!("failscan-bans-{}-{tag}", std::process::id());
        match Command::new("ip").args(["netns", "add", &name]).output() {
            Ok(o) if o.status.success() => Some(NetNs(name)),
            Ok(o) => skip(&format!(
                "cannot create a network namespace (root needed): {}",
                String::from_utf8_lossy(&o.stderr).trim()
            )),
            Err(e) => skip(&e.to_string()),
        }
    }

    fn run(&self, args: &[&str]) -> String {
        let o = Command::new("ip")
            .args(["netns", "exec", &self.0])
            .args(args)
            .output()
            .expect("ip netns exec");
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "delete", &self.0])
            .status();
    }
}

/// `ipset save` reduced to (set names in order, `add` lines as (set, ip, timeout)).
fn saved(text: &str) -> (Vec<String>, Vec<(String, String, u64)>) {
    let mut sets = Vec::new();
    let mut adds = Vec::new();
    for l in text.lines() {
        let w: Vec<&str> = l.split_whitespace().collect();
        match w.as_slice() {
            ["create", name, ..] => sets.push(name.to_string()),
            ["add", set, ip, "timeout", t, ..] => {
                adds.push((set.to_string(), ip.to_string(), t.parse().unwrap()))
            }
            _ => {}
        }
    }
    sets.sort();
    adds.sort();
    (sets, adds)
}

#[test]
fn ipset_file_loads_with_real_ipset() {
    let s = Setup::new("");
    let log = s.write_log();
    let logs = log.to_str().unwrap();
    let file = s.path().join("bans.ipset");
    let f = file.to_str().unwrap();
    // At 08:55 A, C and D are banned; fail2ban's `timeout 0` entries.
    let o = s.bans(&[
        "--at",
        "2024-03-10T08:55:00Z",
        "--ipset",
        f,
        "--timeouts",
        "zero",
        "--set-prefix",
        "fail2ban-",
        logs,
    ]);
    ok(&o);
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.contains("add fail2ban-asterisk-udp 203.0.113.9 timeout 0 -exist\n"),
        "{text}"
    );
    let Some(ns) = NetNs::create("zero") else {
        return;
    };
    ns.run(&["ipset", "restore", "-file", f]);
    let (sets, adds) = saved(&ns.run(&["ipset", "save"]));
    let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        sets,
        names(&[
            "fail2ban-asterisk-tcp",
            "fail2ban-asterisk-tcp6",
            "fail2ban-asterisk-udp",
            "fail2ban-asterisk-udp6",
            "fail2ban-recidive",
            "fail2ban-recidive6",
        ])
    );
    let mut want = Vec::new();
    for set in ["fail2ban-asterisk-tcp", "fail2ban-asterisk-udp"] {
        for ip in ["192.0.2.1", "203.0.113.9"] {
            want.push((set.to_string(), ip.to_string(), 0));
        }
        want.push((format!("{set}6"), "2001:db8::5".to_string(), 0));
    }
    want.sort();
    assert_eq!(adds, want);
    drop(ns);

    // Remaining timeouts: A ends at 4140, C at 5690, D at 6645; T = 3300.
    let o = s.bans(&["--at", "2024-03-10T08:55:00Z", "--ipset", f, logs]);
    ok(&o);
    let Some(ns) = NetNs::create("remaining") else {
        return;
    };
    ns.run(&["ipset", "restore", "-file", f]);
    let (_, adds) = saved(&ns.run(&["ipset", "save"]));
    let expect = [
        ("192.0.2.1", 840),
        ("203.0.113.9", 2390),
        ("2001:db8::5", 3345),
    ];
    assert_eq!(adds.len(), 6, "{adds:?}");
    for (set, ip, t) in &adds {
        let want = expect.iter().find(|(i, _)| i == ip).unwrap().1;
        // The kernel counts down between restore and save.
        assert!(*t <= want && *t + 3 >= want, "{set} {ip}: {t} vs {want}");
    }
    // Loading the same file again is fine (-exist on every line).
    ns.run(&["ipset", "restore", "-file", f]);
}

#[test]
fn nft_file_is_written() {
    let s = Setup::new("");
    let log = s.write_log();
    let file = s.path().join("bans.nft");
    let o = s.bans(&[
        "--jail",
        "asterisk",
        "--nft",
        file.to_str().unwrap(),
        log.to_str().unwrap(),
    ]);
    ok(&o);
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.contains("f2b-asterisk-tcp") && text.contains("192.0.2.1"),
        "{text}"
    );
    assert!(!text.contains("203.0.113.9"), "{text}");
}

/// The real stock configuration over the corpus sample: same failure count as fail2ban-regex
/// finds with the stock filter, and bans once maxretry is lowered.
#[test]
fn stock_config_over_corpus() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/messages-isodate");
    if !Path::new("/etc/fail2ban/jail.conf").is_file() || !corpus.is_file() {
        eprintln!("skipping: no stock config or corpus");
        return;
    }
    let c = corpus.to_str().unwrap();
    let mut cmd = failscan();
    cmd.args(["bans", "-q", "-c", "/etc/fail2ban", "--jail", "asterisk", c]);
    let out = ok(&cmd.output().unwrap());
    // No ban with maxretry 10; 24 failures of 24 addresses (checked with the oracle below).
    assert_eq!(out, status("asterisk", 24, 24, c, &[], 0));
    if common::have_oracle() {
        let mut o = common::oracle();
        o.args(["-o", "ip", c, "/etc/fail2ban/filter.d/asterisk.conf"]);
        let ips = stdout(&common::run(o));
        let mut distinct: Vec<&str> = ips.lines().collect();
        assert_eq!(distinct.len(), 24, "{ips}");
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), 24, "{ips}");
    }
}

/// Our own driver of fail2ban's FailManager and BanManager (the replay model: unban check,
/// cleanup, addFailure, toBan, addBanTicket per event), fed with `<time> <ip>` lines.
const F2B_DRIVER: &str = r#"
import sys
from fail2ban.server.failmanager import FailManager, FailManagerEmpty
from fail2ban.server.banmanager import BanManager
from fail2ban.server.ticket import FailTicket, BanTicket
from fail2ban.server.mytime import MyTime
maxretry, findtime, bantime = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
fm = FailManager(); fm.setMaxRetry(maxretry); fm.setMaxTime(findtime)
bm = BanManager(); bm.setBanTime(bantime)
bans = []
for line in sys.stdin:
    t, ip = line.split()
    t = float(t)
    MyTime.setTime(t)
    bm.unBanList(t)
    fm.cleanup(t)
    if fm.addFailure(FailTicket(ip, t)) >= maxretry:
        try:
            ticket = BanTicket.wrap(fm.toBan(ip))
        except FailManagerEmpty:
            continue
        if bm.addBanTicket(ticket):
            bans.append(ticket)
for b in sorted(bans, key=lambda b: (b.getTime(), str(b.getID()))):
    print("%s %d %d" % (b.getID(), b.getTime(), b.getEndOfBanTime(bantime)))
"#;

/// End to end against fail2ban itself: a generated log with many attackers, the stock jail
/// (maxretry 10, findtime and bantime 10m); the events come from fail2ban-regex and the bans
/// from fail2ban's own FailManager/BanManager; our CSV must list the same bans.
#[test]
fn stock_config_bans_match_fail2ban() {
    let gen = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/gen-asterisk-log.py");
    if !Path::new("/etc/fail2ban/jail.conf").is_file() || !common::have_oracle() {
        eprintln!("skipping: no stock config or oracle");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("messages");
    let st = Command::new("python3")
        .arg(&gen)
        .args([
            "--lines",
            "5000",
            "--seed",
            "3",
            "--attackers",
            "40",
            "--format",
            "isodate",
            "-o",
        ])
        .arg(&log)
        .status()
        .unwrap();
    assert!(st.success());
    let l = log.to_str().unwrap();
    let csv = dir.path().join("b.csv");
    let ipset = dir.path().join("b.ipset");
    let mut cmd = failscan();
    cmd.args([
        "bans",
        "-q",
        "-c",
        "/etc/fail2ban",
        "--jail",
        "asterisk",
        l,
        "--csv",
    ])
    .arg(&csv)
    .arg("--ipset")
    .arg(&ipset);
    let out = ok(&cmd.output().unwrap());
    let total: usize = out
        .lines()
        .find_map(|l| l.strip_prefix("   |- Total banned:\t"))
        .unwrap()
        .parse()
        .unwrap();
    let ours: Vec<String> = std::fs::read_to_string(&csv)
        .unwrap()
        .lines()
        .skip(1)
        .map(|r| {
            let f: Vec<&str> = r.split(',').collect();
            format!("{} {} {}", f[1], f[4], f[5])
        })
        .collect();
    assert_eq!(ours.len(), total);
    assert!(total > 10, "the generated log should give bans: {out}");

    let mut o = common::oracle();
    o.args([
        "-o",
        "<time> <ip>",
        l,
        "/etc/fail2ban/filter.d/asterisk.conf",
    ]);
    let events = common::run(o);
    assert!(events.status.success());
    let mut py = Command::new("/usr/bin/python3")
        .args(["-c", F2B_DRIVER, "10", "600", "600"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write as _;
        py.stdin.take().unwrap().write_all(&events.stdout).unwrap();
    }
    let theirs = py.wait_with_output().unwrap();
    assert!(theirs.status.success());
    let theirs: Vec<String> = stdout(&theirs).lines().map(str::to_string).collect();
    assert_eq!(ours, theirs);
    let sets = std::fs::read_to_string(&ipset).unwrap();
    assert!(sets.contains("create f2b-asterisk-udp hash:ip"), "{sets}");
}
