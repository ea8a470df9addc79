//! Jails: reading `jail.conf`, `jail.d/*.conf`, `jail.local`, `jail.d/*.local` (with includes)
//! into one [`JailDef`] per jail section, with `%(__name__)s` = the jail name, `[DEFAULT]`
//! values and fail2ban's time syntax. See fail2ban-semantics.md 6.1, 6.6 and 6.7.
//!
//! The jail's filter options are merged into the jail as `known/...` (for `%(known/x)s` in
//! jails). Not done here: actions are not read from `action.d`; an action is kept as its file
//! name, its `name`/`actname` and parameters.

use std::path::Path;

use super::filter::{jail_known_options, parse_spec};
use super::ini::{py_strip, ConfigError};
use super::reader::{Config, FsSource, GetError};
use super::timespec::parse_time;

/// One entry of a jail's `action` list: `banaction[name=..., port="..."]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionRef {
    /// Action file name, e.g. `iptables-multiport` or `sendmail-whois`.
    pub action: String,
    /// The action's `name=` parameter, default the jail name (ipset names derive from it).
    pub name: String,
    /// The action's identity inside the jail (fail2ban's `actname`): the `actname=` parameter,
    /// else the file name plus what `name` adds to the jail name (`iptables-multiport-udp` for
    /// `name=<jail>-udp`), so that one action file used twice in a jail stays distinct.
    pub actname: String,
    /// All parameters in the order given (including `name` when given).
    pub params: Vec<(String, String)>,
}

/// `bantime.*` settings (6.6). Expressions are kept raw; times are parsed.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BantimeIncrement {
    pub enabled: bool,
    pub factor: Option<String>,
    pub formula: Option<String>,
    pub multipliers: Option<String>,
    pub maxtime: Option<f64>,
    pub rndtime: Option<f64>,
    pub overalljails: bool,
}

/// A jail after interpolation.
#[derive(Debug, Clone, PartialEq)]
pub struct JailDef {
    pub name: String,
    pub enabled: bool,
    /// Filter spec after interpolation, e.g. `asterisk[mode=normal]`; empty when unset.
    pub filter: String,
    pub backend: String,
    /// Log file globs, one per `logpath` line, without the optional `head`/`tail` word.
    pub logpath: Vec<String>,
    pub maxretry: i64,
    pub findtime: f64,
    /// Seconds; `-1` means permanent.
    pub bantime: f64,
    pub increment: BantimeIncrement,
    pub ignoreip: Vec<String>,
    pub ignoreself: bool,
    pub usedns: String,
    pub datepattern: Option<String>,
    pub logtimezone: Option<String>,
    pub actions: Vec<ActionRef>,
}

/// fail2ban's version string, visible as `%(fail2ban_version)s`.
const FAIL2BAN_VERSION: &str = "1.0.2";

/// Python `_as_bool` for config strings.
fn as_bool(v: &str) -> bool {
    matches!(v.to_lowercase().as_str(), "1" | "on" | "true" | "yes")
}

/// Splits on any run of spaces, commas and newlines (fail2ban's splitwords).
pub fn split_words(s: &str) -> Vec<String> {
    s.split([' ', ',', '\n'])
        .map(py_strip)
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// Splits an action list into entries: whitespace separates entries except inside
/// `[...]` option groups (quotes inside a group may hold anything), and `][` continues a group.
pub fn split_action_list(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '[' {
            cur.push(c);
            let mut quote: Option<char> = None;
            let mut after_eq = false;
            for d in chars.by_ref() {
                cur.push(d);
                match quote {
                    Some(q) if d == q => quote = None,
                    Some(_) => {}
                    None if after_eq && (d == '"' || d == '\'') => quote = Some(d),
                    None if d == ']' => break,
                    None => {}
                }
                after_eq = d == '=';
            }
            // `]  [` continues the same entry.
            let mut ws = String::new();
            while let Some(&n) = chars.peek() {
                if n.is_whitespace() {
                    ws.push(n);
                    chars.next();
                } else {
                    break;
                }
            }
            if chars.peek() == Some(&'[') {
                cur.push_str(&ws);
            } else if !ws.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
        } else if c.is_whitespace() {
            if !cur.is_empty() {
                // A name followed by spaces and `[` keeps its options.
                let mut ws = String::from(c);
                while let Some(&n) = chars.peek() {
                    if n.is_whitespace() {
                        ws.push(n);
                        chars.next();
                    } else {
                        break;
                    }
                }
                if chars.peek() != Some(&'[') || cur.ends_with(']') {
                    out.push(std::mem::take(&mut cur));
                } else {
                    cur.push_str(&ws);
                }
            }
        } else {
            cur.push(c);
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out.into_iter()
        .map(|e| py_strip(&e).to_string())
        .filter(|e| !e.is_empty())
        .collect()
}

/// The file (glob) part of a `logpath` line. fail2ban takes the last space-separated word as
/// the `head`/`tail` start position whenever the line has a space, whatever that word is, so a
/// path with a space is cut there too; the position is irrelevant to an offline reader.
fn log_path_part(line: &str) -> &str {
    line.rsplit_once(' ').map_or(line, |(path, _)| path)
}

/// fail2ban's `actname` of an action entry (see [`ActionRef::actname`]). Python actions
/// (`*.py`) are named after the file stem and take no suffix.
fn action_name(jail: &str, action: &str, name: &str, params: &[(String, String)]) -> String {
    if let Some((_, v)) = params.iter().find(|(k, _)| k == "actname") {
        return v.clone();
    }
    if let Some(stem) = action.strip_suffix(".py") {
        return stem.to_string();
    }
    match name.strip_prefix(jail) {
        _ if name == jail => action.to_string(),
        Some(rest) => format!("{action}{rest}"),
        None => format!("{action}-{name}"),
    }
}

struct JailCtx<'a> {
    cfg: &'a Config,
    jail: &'a str,
}

impl JailCtx<'_> {
    fn at(&self, key: &str) -> String {
        self.cfg
            .section(self.jail)
            .and_then(|s| s.get(key))
            .or_else(|| self.cfg.defaults.get(key))
            .map_or_else(|| format!("jail '{}'", self.jail), |v| v.origin.to_string())
    }
    fn get(&self, key: &str) -> Result<Option<String>, ConfigError> {
        GetError::optional(self.cfg.get(self.jail, key, &[]))
    }
    fn bad(&self, key: &str, value: &str, msg: String) -> ConfigError {
        ConfigError::JailValue {
            at: self.at(key),
            jail: self.jail.to_string(),
            key: key.to_string(),
            value: value.to_string(),
            msg,
        }
    }
    fn time(&self, key: &str) -> Result<Option<f64>, ConfigError> {
        match self.get(key)? {
            None => Ok(None),
            Some(v) => parse_time(&v)
                .map(Some)
                .map_err(|e| self.bad(key, &v, e.msg)),
        }
    }
}

fn read_jail(cfg: &Config, jail: &str) -> Result<JailDef, ConfigError> {
    let c = JailCtx { cfg, jail };
    let maxretry = match c.get("maxretry")? {
        None => 3,
        Some(v) => match py_strip(&v).parse::<i64>() {
            Ok(n) if n >= 0 => n,
            Ok(_) => return Err(c.bad("maxretry", &v, "must not be negative".into())),
            Err(_) => return Err(c.bad("maxretry", &v, "not an integer".into())),
        },
    };
    let mut actions = Vec::new();
    for entry in split_action_list(&c.get("action")?.unwrap_or_default()) {
        let (action, params) =
            parse_spec(&entry).map_err(|e| c.bad("action", &entry, e.to_string()))?;
        let name = params
            .iter()
            .find(|(k, _)| k == "name")
            .map_or_else(|| jail.to_string(), |(_, v)| v.clone());
        let action = py_strip(&action).to_string();
        let actname = action_name(jail, &action, &name, &params);
        actions.push(ActionRef {
            action,
            name,
            actname,
            params,
        });
    }
    let lines = |v: Option<String>| -> Vec<String> {
        v.map_or_else(Vec::new, |v| {
            v.split('\n')
                .map(py_strip)
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect()
        })
    };
    Ok(JailDef {
        name: jail.to_string(),
        enabled: c.get("enabled")?.is_some_and(|v| as_bool(&v)),
        filter: c.get("filter")?.unwrap_or_default(),
        backend: c.get("backend")?.unwrap_or_else(|| "auto".into()),
        logpath: lines(c.get("logpath")?)
            .into_iter()
            .map(|l| log_path_part(&l).to_string())
            .collect(),
        maxretry,
        findtime: c.time("findtime")?.unwrap_or(600.0),
        bantime: c.time("bantime")?.unwrap_or(600.0),
        increment: BantimeIncrement {
            enabled: c.get("bantime.increment")?.is_some_and(|v| as_bool(&v)),
            factor: c.get("bantime.factor")?,
            formula: c.get("bantime.formula")?,
            multipliers: c.get("bantime.multipliers")?,
            maxtime: c.time("bantime.maxtime")?,
            rndtime: c.time("bantime.rndtime")?,
            overalljails: c.get("bantime.overalljails")?.is_some_and(|v| as_bool(&v)),
        },
        ignoreip: split_words(&c.get("ignoreip")?.unwrap_or_default()),
        ignoreself: c.get("ignoreself")?.map_or(true, |v| as_bool(&v)),
        usedns: c.get("usedns")?.unwrap_or_else(|| "warn".into()),
        datepattern: c.get("datepattern")?.filter(|v| !v.is_empty()),
        logtimezone: c.get("logtimezone")?.filter(|v| !v.is_empty()),
        actions,
    })
}

/// Reads every jail section of `confdir` (enabled or not), in section order.
pub fn load_jails(confdir: &Path) -> Result<Vec<JailDef>, ConfigError> {
    let base = confdir.to_string_lossy().into_owned();
    let mut cfg = Config::read_standard(&FsSource, &base, "jail")?;
    cfg.merge_defaults(&[
        ("fail2ban_version", FAIL2BAN_VERSION),
        ("fail2ban_confpath", base.trim_end_matches('/')),
    ]);
    let names: Vec<String> = cfg
        .section_names()
        .filter(|n| *n != "INCLUDES")
        .map(str::to_string)
        .collect();
    let mut jails = Vec::with_capacity(names.len());
    for name in &names {
        merge_filter_known(&mut cfg, confdir, name)?;
        jails.push(read_jail(&cfg, name)?);
    }
    Ok(jails)
}

/// Merges the jail's filter options into its section as `known/<option>`, as fail2ban does
/// between reading a jail's first options (`enabled`, `backend`, `filter`) and the others, so
/// that `%(known/failregex)s` and the like work in jails. fail2ban does this for enabled jails;
/// failscan resolves every jail, so it does it for all, but a disabled jail whose filter cannot
/// be read just gets no `known/` options (fail2ban would never have looked at it).
fn merge_filter_known(cfg: &mut Config, confdir: &Path, jail: &str) -> Result<(), ConfigError> {
    let c = JailCtx { cfg, jail };
    let enabled = c.get("enabled")?.is_some_and(|v| as_bool(&v));
    let backend = c.get("backend")?.unwrap_or_else(|| "auto".into());
    let filter = c.get("filter")?.unwrap_or_default();
    if filter.is_empty() {
        return Ok(());
    }
    let vars = [
        ("enabled", if enabled { "True" } else { "False" }),
        ("backend", backend.as_str()),
        ("filter", filter.as_str()),
    ]
    .map(|(k, v)| (k.to_string(), v.to_string()));
    let known = jail_known_options(confdir, &filter, &vars, backend.starts_with("systemd"));
    match known {
        Ok(Some(opts)) => cfg.merge_section_prefixed(jail, "known/", &opts),
        Ok(None) | Err(_) if !enabled => {}
        Ok(None) => {}
        Err(e) => return Err(e),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The seed setup, tests/fixtures/f2b-seed: our own minimal jail.conf and a
    /// jail.d/jail.local copied from it and edited (recidive enabled with seconds values,
    /// asterisk with two named actions and a mail action).
    fn seed_tree() -> &'static Path {
        Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/f2b-seed"
        ))
    }

    #[test]
    fn seed_setup() {
        let jails = load_jails(seed_tree()).unwrap();
        let names: Vec<&str> = jails.iter().map(|j| j.name.as_str()).collect();
        assert_eq!(names, ["asterisk", "recidive"]);
        let a = &jails[0];
        assert!(a.enabled);
        assert_eq!(a.filter, "asterisk[mode=normal]");
        assert_eq!((a.maxretry, a.bantime, a.findtime), (10, 3600.0, 21600.0));
        assert_eq!(a.logpath, ["/var/log/asterisk/messages"]);
        let acts: Vec<(&str, &str)> = a
            .actions
            .iter()
            .map(|x| (x.action.as_str(), x.name.as_str()))
            .collect();
        assert_eq!(
            acts,
            [
                ("iptables-multiport", "asterisk-tcp"),
                ("iptables-multiport", "asterisk-udp"),
                ("sendmail-whois", "asterisk")
            ]
        );
        assert_eq!(
            a.actions[0].params,
            [
                ("name", "asterisk-tcp"),
                ("port", "5060,5061"),
                ("protocol", "tcp"),
                ("chain", "<known/chain>"),
                ("actname", "iptables-multiport-tcp")
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
        );
        let r = &jails[1];
        assert!(r.enabled);
        assert_eq!((r.bantime, r.findtime, r.maxretry), (604800.0, 86400.0, 5));
        assert_eq!(r.actions[0].action, "iptables-allports");
        assert_eq!(r.actions[0].name, "recidive");
        assert!(r.ignoreself);
        assert!(r.ignoreip.is_empty());
    }

    #[test]
    fn bad_values_name_file_jail_and_key() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("jail.conf"),
            "[DEFAULT]\nbantime = 1wk\n[x]\nenabled = true\n",
        )
        .unwrap();
        let e = load_jails(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains("jail.conf:2") && e.contains("'x'") && e.contains("bantime"),
            "{e}"
        );
        std::fs::write(dir.path().join("jail.conf"), "[x]\nmaxretry = -2\n").unwrap();
        let e = load_jails(dir.path()).unwrap_err().to_string();
        assert!(e.contains("maxretry") && e.contains("negative"), "{e}");
        std::fs::write(dir.path().join("jail.conf"), "[x]\naction = a[oops\n").unwrap();
        assert!(load_jails(dir.path()).is_err());
    }

    #[test]
    fn helpers() {
        assert_eq!(
            split_words("127.0.0.1/8 ::1,10.0.0.1\n  host"),
            ["127.0.0.1/8", "::1", "10.0.0.1", "host"]
        );
        assert_eq!(
            split_action_list("a[x=\"1 2\", y=3]\n  b\n c[p='q]'][r=1]"),
            ["a[x=\"1 2\", y=3]", "b", "c[p='q]'][r=1]"]
        );
    }

    #[test]
    fn action_names_and_log_paths() {
        let p = |k: &str, v: &str| (k.to_string(), v.to_string());
        assert_eq!(action_name("j", "a", "j", &[]), "a");
        assert_eq!(action_name("j", "a", "j-udp", &[]), "a-udp");
        assert_eq!(action_name("j", "a", "sip", &[]), "a-sip");
        assert_eq!(action_name("j", "a", "x", &[p("actname", "mine")]), "mine");
        assert_eq!(action_name("j", "dir/smtp.py", "x", &[]), "dir/smtp");
        assert_eq!(log_path_part("/var/log/x tail"), "/var/log/x");
        assert_eq!(log_path_part("/var/log/my file.log"), "/var/log/my");
        assert_eq!(log_path_part("/var/log/x"), "/var/log/x");
    }

    /// The jail's filter options are visible as `%(known/x)s`: spec options, `[Init]`,
    /// automatic logtype and every own `[Definition]` option after `<tag>` substitution.
    #[test]
    fn filter_options_merge_as_known() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("filter.d")).unwrap();
        std::fs::write(
            dir.path().join("filter.d/f.conf"),
            "[Init]\nlevel = 2\n[Definition]\nsub = <level>x\nfailregex = ^<sub> <HOST>$\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("jail.conf"),
            "[a]\nfilter = f[mode=m]\nlogpath = /%(known/mode)s/%(known/logtype)s/%(known/sub)s\n\
             ignoreip = %(known/level)s\n\
             [b]\nbackend = systemd\nfilter = f\nlogpath = %(known/logtype)s\n\
             [c]\nfilter = missing\n",
        )
        .unwrap();
        let jails = load_jails(dir.path()).unwrap();
        assert_eq!(jails[0].logpath, ["/m/file/2x"]);
        assert_eq!(jails[0].ignoreip, ["2"]);
        assert_eq!(jails[1].logpath, ["journal"]);
        assert_eq!(jails[2].filter, "missing");
    }

    /// The stock Debian jail.conf, when installed, loads with the values of 6.1.
    #[test]
    fn stock_jail_conf() {
        let conf = Path::new("/etc/fail2ban");
        if !conf.join("jail.conf").is_file() {
            return;
        }
        let jails = load_jails(conf).unwrap();
        let a = jails.iter().find(|j| j.name == "asterisk").unwrap();
        assert_eq!((a.maxretry, a.findtime, a.bantime), (10, 600.0, 600.0));
        let names: Vec<&str> = a.actions.iter().map(|x| x.name.as_str()).collect();
        assert_eq!(names, ["asterisk-tcp", "asterisk-udp"]);
        assert!(a.actions[1]
            .params
            .contains(&("protocol".to_string(), "udp".to_string())));
        let r = jails.iter().find(|j| j.name == "recidive").unwrap();
        assert_eq!((r.maxretry, r.findtime, r.bantime), (5, 86400.0, 604800.0));
    }
}
