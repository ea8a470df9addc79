//! Differential test of jail loading against fail2ban's own `JailsReader` / `JailReader`, run
//! through the system Python at test time with `force_enable=True` so that disabled jails are
//! resolved too (filter read, `known/...` options merged, actions read). Compared per jail:
//! enabled, filter spec, logpath list, maxretry, findtime, bantime, ignoreip and each action's
//! file, `name` and `actname`. Config trees: the stock /etc/fail2ban, and our own fixtures in
//! tests/fixtures (with the stock filter.d and action.d linked in, since fail2ban reads them).

use std::path::{Path, PathBuf};
mod common;

use common::{have_python_oracle, run_python_json};
use failscan::f2b::jail::{load_jails, JailDef};
use serde_json::Value;

const STOCK: &str = "/etc/fail2ban";

/// Prints {jail: {enabled, filter, logpath, maxretry, findtime, bantime, ignoreip,
/// actions: [[file, name, actname]]} | {enabled, filter, error}} in section order.
const ORACLE: &str = r#"
import json, sys, os
from fail2ban.client.jailsreader import JailsReader
from fail2ban.server.mytime import MyTime
from fail2ban.helpers import splitwords
r = JailsReader(force_enable=True, basedir=sys.argv[1], share_config=dict())
if not r.read():
    raise SystemExit('cannot read jail config')
r.getOptions(ignoreWrong=True)
out = []
for j in r.jails:
    o = j.options or {}
    res = {'name': j.getName(), 'enabled': bool(o.get('enabled')), 'filter': o.get('filter')}
    if 'config-error' in o:
        res['error'] = o['config-error']
    else:
        t = lambda k: None if o.get(k) is None else float(MyTime.str2seconds(o[k]))
        lp = o.get('logpath')
        res.update({
            # what JailReader.convert globs: each line up to its last space
            'logpath': [] if lp is None else [l.rsplit(' ', 1)[0] for l in lp.split('\n') if l],
            'maxretry': o.get('maxretry'),
            'findtime': t('findtime'),
            'bantime': t('bantime'),
            'ignoreip': splitwords(o.get('ignoreip') or ''),
            'actions': [],
        })
        for a in j._JailReader__actions:
            if isinstance(a, list):  # python action: ['set', jail, 'addaction', actname, path, json]
                res['actions'].append([os.path.basename(a[4]), json.loads(a[5]).get('name'), a[3]])
            else:
                res['actions'].append([a.getFile(), a._initOpts.get('name'), a.getName()])
    out.append(res)
print(json.dumps(out))
"#;

fn oracle_available() -> bool {
    have_python_oracle(
        "fail2ban.client.jailsreader",
        &Path::new(STOCK).join("jail.conf"),
    )
}

fn run_oracle(confdir: &Path) -> Vec<Value> {
    run_python_json(ORACLE, &[confdir.as_os_str()])
}

/// fail2ban's server-side defaults, used when the config does not set a value.
const DEFAULT_MAXRETRY: i64 = 3;
const DEFAULT_TIME: f64 = 600.0;

/// Lists every difference between our jail and fail2ban's.
fn diff_jail(ours: &JailDef, py: &Value, diffs: &mut Vec<String>) {
    let name = &ours.name;
    let mut check = |what: &str, ours: Value, theirs: Value| {
        if ours != theirs {
            diffs.push(format!("[{name}] {what}: ours {ours}, fail2ban {theirs}"));
        }
    };
    check("enabled", ours.enabled.into(), py["enabled"].clone());
    check("filter", ours.filter.clone().into(), py["filter"].clone());
    if py.get("error").is_some() {
        // fail2ban gives up on such a jail (e.g. its filter file is missing) and would skip it
        // when enabled; failscan still lists it, and its filter fails to load when used.
        return;
    }
    check(
        "logpath",
        ours.logpath.clone().into(),
        py["logpath"].clone(),
    );
    let maxretry = py["maxretry"].as_i64().unwrap_or(DEFAULT_MAXRETRY);
    check("maxretry", ours.maxretry.into(), maxretry.into());
    let time = |k: &str| py[k].as_f64().unwrap_or(DEFAULT_TIME);
    check("findtime", ours.findtime.into(), time("findtime").into());
    check("bantime", ours.bantime.into(), time("bantime").into());
    check(
        "ignoreip",
        ours.ignoreip.clone().into(),
        py["ignoreip"].clone(),
    );
    let actions: Vec<Value> = ours
        .actions
        .iter()
        .map(|a| {
            let file = a.action.rsplit('/').next().unwrap_or(&a.action);
            serde_json::json!([file, a.name, a.actname])
        })
        .collect();
    check("actions", actions.into(), py["actions"].clone());
}

fn compare(confdir: &Path) -> usize {
    let ours = load_jails(confdir).unwrap_or_else(|e| panic!("load_jails {confdir:?}: {e}"));
    let theirs = run_oracle(confdir);
    let mut diffs = Vec::new();
    let our_names: Vec<&str> = ours.iter().map(|j| j.name.as_str()).collect();
    let their_names: Vec<&str> = theirs.iter().filter_map(|j| j["name"].as_str()).collect();
    if our_names != their_names {
        diffs.push(format!(
            "jail list: ours {our_names:?}, fail2ban {their_names:?}"
        ));
    }
    for (o, t) in ours.iter().zip(&theirs) {
        if t["name"].as_str() == Some(o.name.as_str()) {
            diff_jail(o, t, &mut diffs);
        }
    }
    assert!(
        diffs.is_empty(),
        "{} difference(s) in {confdir:?}:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
    ours.len()
}

/// Copies a fixture tree into a temp dir and links the stock filter.d and action.d beside it
/// (read at run time, never copied into the project).
fn fixture_tree(name: &str) -> tempfile::TempDir {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).expect("mkdir");
        for e in std::fs::read_dir(from).expect("read fixture dir") {
            let e = e.expect("dir entry");
            let dst = to.join(e.file_name());
            if e.path().is_dir() {
                copy(&e.path(), &dst);
            } else {
                std::fs::copy(e.path(), dst).expect("copy fixture");
            }
        }
    }
    let src: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "fixtures", name]
        .iter()
        .collect();
    let dir = tempfile::tempdir().expect("tempdir");
    copy(&src, dir.path());
    for sub in ["filter.d", "action.d"] {
        std::os::unix::fs::symlink(Path::new(STOCK).join(sub), dir.path().join(sub))
            .expect("link stock dir");
    }
    dir
}

#[test]
fn stock_jails_match_fail2ban() {
    if !oracle_available() {
        return;
    }
    let n = compare(Path::new(STOCK));
    assert!(n > 50, "only {n} stock jails");
}

#[test]
fn seed_fixture_matches_fail2ban() {
    if !oracle_available() {
        return;
    }
    let dir = fixture_tree("f2b-seed");
    assert_eq!(compare(dir.path()), 2);
}

#[test]
fn edge_fixture_matches_fail2ban() {
    if !oracle_available() {
        return;
    }
    let dir = fixture_tree("f2b-jail-edges");
    compare(dir.path());
}
