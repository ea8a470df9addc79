//! Differential tests of the configuration reader against fail2ban's own Python classes
//! (FilterReader), run at test time on the installed stock filters in /etc/fail2ban, plus the
//! reader's error cases on small config trees. Nothing of fail2ban is embedded here: the oracle
//! reads the installed files.

use std::collections::BTreeMap;
use std::path::Path;
mod common;

use common::{have_python_oracle, run_python_json};
use failscan::f2b::filter::{load_filter, resolve_regex_arg, FilterOrigin, RegexArg};
use failscan::f2b::ini::ConfigError;

const CONFDIR: &str = "/etc/fail2ban";

/// Loads each spec with fail2ban's FilterReader the way fail2ban-regex does, and prints
/// {spec: {prefregex, failregex, ignoreregex, maxlines, datepattern} | {error}} as JSON.
const ORACLE: &str = r#"
import json, sys
from fail2ban.client.filterreader import FilterReader
from fail2ban.helpers import extractOptions
out = {}
for spec in json.loads(sys.argv[2]):
    try:
        name, opts = extractOptions(spec)
        r = FilterReader(name, 'fail2ban-regex-jail', opts, share_config=dict(), basedir=sys.argv[1])
        if not r.read():
            raise Exception('failed to load filter')
        r.applyAutoOptions('auto')
        r.getOptions(None)
        res = {'prefregex': None, 'failregex': [], 'ignoreregex': [], 'maxlines': None, 'datepattern': None}
        for c in r.convert():
            vals = c[3] if c[0] == 'multi-set' else c[3:]
            if c[2] == 'prefregex': res['prefregex'] = vals[-1] or None
            elif c[2] == 'addfailregex': res['failregex'] += vals
            elif c[2] == 'addignoreregex': res['ignoreregex'] += vals
            elif c[2] == 'maxlines': res['maxlines'] = int(vals[-1])
            elif c[2] == 'datepattern':
                lines = [l for l in vals[-1].split('\n') if l]
                res['datepattern'] = '\n'.join(lines) or None
        out[spec] = res
    except Exception as e:
        out[spec] = {'error': '%s: %s' % (type(e).__name__, e)}
print(json.dumps(out))
"#;

fn oracle_available() -> bool {
    have_python_oracle(
        "fail2ban.client.filterreader",
        &Path::new(CONFDIR).join("filter.d"),
    )
}

fn run_oracle(specs: &[String]) -> BTreeMap<String, serde_json::Value> {
    let specs = serde_json::to_string(specs).expect("specs as json");
    run_python_json(ORACLE, &[CONFDIR.as_ref(), specs.as_ref()])
}

fn stock_filter_specs() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(Path::new(CONFDIR).join("filter.d"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter_map(|n| n.strip_suffix(".conf").map(str::to_string))
        .filter(|n| !n.ends_with("-common") && n != "common")
        .collect();
    names.sort();
    names.extend(
        [
            "asterisk[logtype=journal]",
            "asterisk[logtype=short]",
            "asterisk[logtype=rfc5424]",
            "sshd[mode=normal]",
            "sshd[mode=ddos]",
            "sshd[mode=extra]",
            "sshd[mode=aggressive]",
            "sshd[mode=aggressive, publickey=invalid]",
            "sshd[mode=aggressive][publickey=any]",
            "sshd[logtype=journal]",
        ]
        .map(String::from),
    );
    names
}

#[test]
fn stock_filters_match_fail2ban() {
    if !oracle_available() {
        return;
    }
    let specs = stock_filter_specs();
    assert!(specs.len() > 50, "too few stock filters found");
    let oracle = run_oracle(&specs);
    let mut failures = Vec::new();
    for spec in &specs {
        let want = &oracle[spec];
        match load_filter(Path::new(CONFDIR), spec) {
            Err(e) => {
                if want.get("error").is_none() {
                    failures.push(format!("{spec}: we fail ({e}), fail2ban loads it"));
                }
            }
            Ok(def) => {
                if want.get("error").is_some() {
                    failures.push(format!(
                        "{spec}: fail2ban fails ({}), we load it",
                        want["error"]
                    ));
                    continue;
                }
                let got = serde_json::json!({
                    "prefregex": def.prefregex,
                    "failregex": def.failregex,
                    "ignoreregex": def.ignoreregex,
                    "maxlines": def.maxlines,
                    "datepattern": def.datepattern,
                });
                for key in [
                    "prefregex",
                    "failregex",
                    "ignoreregex",
                    "maxlines",
                    "datepattern",
                ] {
                    if got[key] != want[key] {
                        failures.push(format!(
                            "{spec}: {key}\n  ours:     {}\n  fail2ban: {}",
                            got[key], want[key]
                        ));
                    }
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} differences:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// selinux-common cannot load alone, in fail2ban and here (missing interpolation name).
#[test]
fn selinux_common_fails_like_fail2ban() {
    if !Path::new(CONFDIR)
        .join("filter.d/selinux-common.conf")
        .is_file()
    {
        return;
    }
    let e = load_filter(Path::new(CONFDIR), "selinux-common").unwrap_err();
    assert!(matches!(e, ConfigError::InterpolationMissing { .. }), "{e}");
}

#[test]
fn regex_arg_resolution_on_stock_config() {
    if !Path::new(CONFDIR).join("filter.d/asterisk.conf").is_file() {
        if std::env::var_os("CI").is_some() {
            panic!("CI is set but {CONFDIR}/filter.d/asterisk.conf is missing");
        }
        return;
    }
    let conf = Path::new(CONFDIR);
    for arg in [
        "asterisk",
        "asterisk.conf",
        "/etc/fail2ban/filter.d/asterisk",
        "/etc/fail2ban/filter.d/asterisk.conf",
    ] {
        match resolve_regex_arg(conf, arg).unwrap() {
            RegexArg::Filter(f) => {
                assert_eq!(f.name, "asterisk", "{arg}");
                assert_eq!(
                    f.origin,
                    FilterOrigin::Standard {
                        basedir: conf.into()
                    },
                    "{arg}"
                );
            }
            other => panic!("{arg}: {other:?}"),
        }
    }
    match resolve_regex_arg(conf, "asterisk[logtype=journal]").unwrap() {
        RegexArg::Filter(f) => {
            assert_eq!(f.options, [("logtype".to_string(), "journal".to_string())])
        }
        other => panic!("{other:?}"),
    }
    for lit in [
        "nonexistent",
        "from <HOST>",
        "foo[bad syntax",
        "filter.d/asterisk.conf",
    ] {
        assert_eq!(
            resolve_regex_arg(conf, lit).unwrap(),
            RegexArg::Literal(lit.to_string()),
            "{lit}"
        );
    }
    // A foreign file: only it, its includes and their .local siblings.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("two.conf");
    std::fs::write(
        &p,
        "[INCLUDES]\nbefore = inc.conf\n[Definition]\nfailregex = <x> from <HOST>\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("inc.conf"), "[Definition]\nx = bad\n").unwrap();
    std::fs::write(dir.path().join("inc.local"), "[Definition]\nx = good\n").unwrap();
    std::fs::create_dir(dir.path().join("two.d")).unwrap();
    std::fs::write(
        dir.path().join("two.d/a.conf"),
        "[Definition]\nx = ignored\n",
    )
    .unwrap();
    match resolve_regex_arg(conf, p.to_str().unwrap()).unwrap() {
        RegexArg::Filter(f) => {
            assert_eq!(f.origin, FilterOrigin::Foreign { path: p.clone() });
            assert_eq!(f.failregex, ["good from <HOST>"]);
        }
        other => panic!("{other:?}"),
    }
}

/// Writes a config tree `files` under a temp dir and loads filter spec `spec` from it.
fn load_tree(files: &[(&str, &str)], spec: &str) -> Result<failscan::f2b::FilterDef, ConfigError> {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    load_filter(dir.path(), spec)
}

#[test]
fn error_cases() {
    let e = load_tree(
        &[(
            "filter.d/x.conf",
            "[Definition]\nfailregex = a\nfailregex = b\n",
        )],
        "x",
    )
    .unwrap_err();
    assert!(
        e.to_string().ends_with(
            "filter.d/x.conf:3: option 'failregex' in section 'Definition' already exists"
        ),
        "{e}"
    );
    let e = load_tree(
        &[("filter.d/x.conf", "[Definition]\nfailregex = 100% <HOST>\n")],
        "x",
    )
    .unwrap_err();
    assert!(matches!(e, ConfigError::InterpolationSyntax { .. }), "{e}");
    assert!(e.to_string().contains("x.conf:2"), "{e}");
    let e = load_tree(
        &[(
            "filter.d/x.conf",
            "[Definition]\nfailregex = %(nope)s <HOST>\n",
        )],
        "x",
    )
    .unwrap_err();
    assert!(
        matches!(&e, ConfigError::InterpolationMissing { name, .. } if name == "nope"),
        "{e}"
    );
    let e = load_tree(
        &[("filter.d/x.conf", "[Definition]\nfailregex = <HOST>\n")],
        "unknown",
    )
    .unwrap_err();
    assert!(matches!(e, ConfigError::NoConfigFiles { .. }), "{e}");
    let e = load_tree(
        &[("filter.d/x.conf", "[Definition]\nfailregex = <failregex>\n")],
        "x",
    )
    .unwrap_err();
    assert!(matches!(e, ConfigError::TagRecursion { .. }), "{e}");
    let e = load_tree(&[("filter.d/x.conf", "[Definition]\nmaxlines = 0\n")], "x").unwrap_err();
    assert!(e.to_string().contains("maxlines"), "{e}");
    // Include loop: cut silently like fail2ban (same path string seen in the chain).
    let f = load_tree(
        &[
            (
                "filter.d/x.conf",
                "[INCLUDES]\nbefore = y.conf\n[Definition]\nfailregex = <a> <HOST>\n",
            ),
            (
                "filter.d/y.conf",
                "[INCLUDES]\nbefore = x.conf\n[Definition]\na = A\n",
            ),
        ],
        "x",
    )
    .unwrap();
    assert_eq!(f.failregex, ["A <HOST>"]);
    // Include loop through differently written paths: a clear error (fail2ban: RecursionError).
    let e = load_tree(
        &[(
            "filter.d/x.conf",
            "[INCLUDES]\nbefore = ./x.conf\n[Definition]\n",
        )],
        "x",
    )
    .unwrap_err();
    assert!(matches!(e, ConfigError::IncludeDepth { .. }), "{e}");
}

#[test]
fn precedence_spec_init_definition_default() {
    let files = [(
        "filter.d/p.conf",
        "[DEFAULT]\nx = default\ny = default\nz = default\n[Definition]\nx = def\ny = def\nfailregex = <x> <y> <z> <w> <HOST>\n[Init]\nx = init\n",
    )];
    let f = load_tree(&files, "p[w=spec]").unwrap();
    assert_eq!(f.failregex, ["init def default spec <HOST>"]);
    let f = load_tree(&files, "p[x=spec, w=1]").unwrap();
    assert_eq!(f.failregex, ["spec def default 1 <HOST>"]);
    // %(x)s sees spec options but not [Init].
    let files = [(
        "filter.d/q.conf",
        "[Definition]\nfailregex = %(v)s <HOST>\n[Init]\nv = init\n",
    )];
    assert!(load_tree(&files, "q").is_err());
    assert_eq!(
        load_tree(&files, "q[v=spec]").unwrap().failregex,
        ["spec <HOST>"]
    );
}
