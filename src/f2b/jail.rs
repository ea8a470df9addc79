//! Jails: reading `jail.conf`, `jail.d/*.conf`, `jail.local`, `jail.d/*.local` (with includes)
//! into one [`JailDef`] per jail section, with `%(__name__)s` = the jail name, `[DEFAULT]`
//! values and fail2ban's time syntax. See fail2ban-semantics.md 6.1, 6.6 and 6.7.
//!
//! Not done here: the filter's own options are not merged into the jail as `known/...` (fail2ban
//! does this for enabled jails only, to allow `%(known/failregex)s` in jail.local), and actions
//! are not read from `action.d`; an action is kept as its name and parameters.

use std::path::Path;

use super::filter::parse_spec;
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
        actions.push(ActionRef {
            action: py_strip(&action).to_string(),
            name,
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
        logpath: lines(c.get("logpath")?),
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
    names.iter().map(|n| read_jail(&cfg, n)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A config tree like the seed setup: jail.conf (our own minimal one) and a
    /// jail.d/jail.local copied from it and edited (recidive enabled with seconds values,
    /// asterisk with two named actions and a mail action).
    fn seed_tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let conf = "[INCLUDES]\nbefore = paths.conf\n\n[DEFAULT]\nbantime  = 10m\nfindtime  = 10m\nmaxretry = 5\nbackend = auto\nusedns = warn\nenabled = false\nmode = normal\nfilter = %(__name__)s[mode=%(mode)s]\ndestemail = root@localhost\nmta = sendmail\nprotocol = tcp\nchain = <known/chain>\nport = 0:65535\nbanaction = iptables-multiport\nbanaction_allports = iptables-allports\naction_ = %(banaction)s[port=\"%(port)s\", protocol=\"%(protocol)s\", chain=\"%(chain)s\"]\naction = %(action_)s\n\n[asterisk]\nport     = 5060,5061\naction   = %(banaction)s[name=%(__name__)s-tcp, port=\"%(port)s\", protocol=\"tcp\", chain=\"%(chain)s\", actname=%(banaction)s-tcp]\n           %(banaction)s[name=%(__name__)s-udp, port=\"%(port)s\", protocol=\"udp\", chain=\"%(chain)s\", actname=%(banaction)s-udp]\n           %(mta)s-whois[name=%(__name__)s, dest=\"%(destemail)s\"]\nlogpath  = /var/log/asterisk/messages\nmaxretry = 10\n\n[recidive]\nlogpath  = /var/log/fail2ban.log\nbanaction = %(banaction_allports)s\nbantime  = 1w\nfindtime = 1d\n";
        let local = conf
            .replace("[asterisk]\n", "[asterisk]\nenabled  = true\n")
            .replace(
                "maxretry = 10\n",
                "maxretry = 10\nbantime = 3600\nfindtime = 21600\n",
            )
            .replace("[recidive]\n", "[recidive]\nenabled = true\n")
            .replace(
                "bantime  = 1w\nfindtime = 1d\n",
                "bantime  = 604800  ; 1 week\nfindtime = 86400   ; 1 day\n",
            );
        std::fs::write(dir.path().join("jail.conf"), conf).unwrap();
        std::fs::write(
            dir.path().join("paths.conf"),
            "[DEFAULT]\nsyslog_authpriv = /var/log/auth.log\n",
        )
        .unwrap();
        std::fs::create_dir(dir.path().join("jail.d")).unwrap();
        std::fs::write(dir.path().join("jail.d/jail.local"), local).unwrap();
        dir
    }

    #[test]
    fn seed_setup() {
        let dir = seed_tree();
        let jails = load_jails(dir.path()).unwrap();
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
