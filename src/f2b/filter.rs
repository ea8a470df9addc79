//! Filters: parsing a filter spec `name[key=value, ...][...]` (fail2ban-semantics.md 1.7),
//! loading a filter into a [`FilterDef`] (standard loading with `.local`/`.d`, `[Init]`, spec
//! options, automatic `logtype`, `<tag>` substitution: 1.5-1.7), and resolving fail2ban-regex's
//! REGEX argument to a filter or a literal regex (1.8).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::ini::{py_isspace, py_strip, ConfigError};
use super::reader::{
    py_basename, py_dirname, py_join, py_splitext, split_conditional, substitute_tags, Config,
    FileSource, FsSource, GetError,
};

/// Where a filter definition came from; decides fail2ban-regex's `Use ...` header line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterOrigin {
    /// Standard loading from `basedir/filter.d/NAME.conf` (+ `.d/`, `.local`).
    Standard { basedir: PathBuf },
    /// A filter file outside the config dir: only it, its includes and their `.local` siblings.
    Foreign { path: PathBuf },
    /// failscan's own filter, compiled into the binary (no such filter in the config dir).
    Embedded,
}

/// A filter after configuration reading: regexes are in Python `re` syntax with config
/// interpolation done, but fail2ban's regex tags (`<HOST>`, `<F-...>`) not yet expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterDef {
    /// Filter name (file basename without extension).
    pub name: String,
    pub origin: FilterOrigin,
    /// Options given in the spec `name[key=value, ...]`, in the order given.
    pub options: Vec<(String, String)>,
    pub prefregex: Option<String>,
    pub failregex: Vec<String>,
    pub ignoreregex: Vec<String>,
    pub maxlines: Option<usize>,
    /// Date pattern(s), one per line (empty lines dropped).
    pub datepattern: Option<String>,
    /// `journalmatch` lines (only meaningful for systemd journals).
    pub journalmatch: Vec<String>,
    /// Files read, in order (empty for an embedded filter).
    pub files: Vec<String>,
    /// Non-fatal problems met while reading (undecodable files, skipped like fail2ban does).
    pub warnings: Vec<String>,
}

/// How a filter is loaded, beyond its spec.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FilterLoadOptions {
    /// The log comes from the systemd journal: automatic `logtype` becomes `journal`, not `file`.
    pub journal_backend: bool,
}

/// The REGEX argument of `failscan regex`, resolved like fail2ban-regex does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegexArg {
    Filter(Box<FilterDef>),
    Literal(String),
}

fn spec_err(spec: &str, msg: impl Into<String>) -> ConfigError {
    ConfigError::FilterSpec {
        spec: spec.to_string(),
        msg: msg.into(),
    }
}

/// Parses `name[k=v, k2="v, x"][k3=y]` into the name (not trimmed, as fail2ban does) and the
/// options in order (a repeated key keeps its first position and takes the last value).
pub fn parse_spec(spec: &str) -> Result<(String, Vec<(String, String)>), ConfigError> {
    let (name, inner) = match spec.find('[') {
        None => (spec, None),
        Some(open) => {
            // The options run to the LAST `]`, which may be followed by whitespace only.
            let close = spec
                .rfind(']')
                .filter(|&c| c > open && spec[c + 1..].chars().all(py_isspace))
                .ok_or_else(|| spec_err(spec, "unexpected option syntax"))?;
            (&spec[..open], Some(&spec[open + 1..close]))
        }
    };
    if name.is_empty() {
        return Err(spec_err(spec, "unexpected option syntax"));
    }
    let mut opts: Vec<(String, String)> = Vec::new();
    if let Some(s) = inner {
        for (k, v) in parse_option_list(s).map_err(|m| spec_err(spec, m))? {
            match opts.iter_mut().find(|(ok, _)| *ok == k) {
                Some(slot) => slot.1 = v,
                None => opts.push((k, v)),
            }
        }
    }
    Ok((name.to_string(), opts))
}

fn is_key_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '-' || c == '.'
}

/// `$` of a Python regex without MULTILINE: the end, or just before a final newline.
fn at_end(s: &str, pos: usize) -> bool {
    pos == s.len() || (pos + 1 == s.len() && s.ends_with('\n'))
}

/// The option list between the outer brackets: `key=value` items separated by `,` or `][`.
fn parse_option_list(s: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < s.len() {
        let rest = &s[pos..];
        let ws: usize = rest
            .chars()
            .take_while(|c| py_isspace(*c))
            .map(char::len_utf8)
            .sum();
        let key_len: usize = rest[ws..]
            .chars()
            .take_while(|c| is_key_char(*c))
            .map(char::len_utf8)
            .sum();
        let after_key = ws + key_len;
        if key_len > 0 && rest[after_key..].starts_with('=') {
            let key = &rest[ws..after_key];
            let vstart = after_key + 1;
            let body = &rest[vstart..];
            let (value, vlen) = match body.chars().next() {
                Some(q @ ('"' | '\'')) if body[1..].contains(q) => {
                    let end = body[1..].find(q).map_or(0, |i| i + 1);
                    (&body[1..end], end + 1)
                }
                _ => {
                    let end = body.find([',', ']']).unwrap_or(body.len());
                    (&body[..end], end)
                }
            };
            let mut next = pos + vstart + vlen;
            let tail = &s[next..];
            if let Some(t) = tail.strip_prefix(',') {
                let _ = t;
                next += 1;
            } else if let Some(t) = tail.strip_prefix(']') {
                let sp: usize = t
                    .chars()
                    .take_while(|c| py_isspace(*c))
                    .map(char::len_utf8)
                    .sum();
                if t[sp..].starts_with('[') {
                    next += 1 + sp + 1;
                } else {
                    return Err(format!(
                        "unexpected syntax after option {key:?}: {}",
                        short(tail)
                    ));
                }
            } else if !at_end(s, next) {
                return Err(format!(
                    "unexpected syntax after option {key:?}: {}",
                    short(tail)
                ));
            }
            out.push((py_strip(key).to_string(), py_strip(value).to_string()));
            if next == pos {
                break;
            }
            pos = next;
            continue;
        }
        // Only an optional comma and whitespace may remain.
        let tail = rest.strip_prefix(',').unwrap_or(rest);
        if tail.chars().all(py_isspace) {
            break;
        }
        return Err(format!("expected option, wrong syntax: {}", short(rest)));
    }
    Ok(out)
}

fn short(s: &str) -> String {
    s.chars().take(25).collect()
}

/// The options of `[Definition]` a filter hands on, in fail2ban's order.
const FILTER_OPTS: [&str; 7] = [
    "usedns",
    "prefregex",
    "ignoreregex",
    "failregex",
    "maxlines",
    "datepattern",
    "journalmatch",
];

/// Builds the filter definition from a read configuration (fail2ban's FilterReader steps:
/// applyAutoOptions, getOptions, getCombined, convert).
/// What [`combined_options`] reads besides the filter file itself.
struct CombineInput<'a> {
    /// Options given in the filter spec.
    spec_opts: &'a [(String, String)],
    /// Extra interpolation vars below the spec options (a jail's `enabled`, `backend`, `filter`).
    outer_vars: &'a [(String, String)],
    /// Also take every other own option of `[Definition]` (fail2ban's `getOptions(all=True)`,
    /// used when a jail merges its filter's options as `known/...`).
    all: bool,
}

/// fail2ban's combined filter options (`getOptions` then `getCombined`): the `[Definition]`
/// filter options interpolated with the spec options as vars, merged with `[Init]` (also as
/// `known/x`) and the spec options, then `<tag>`-substituted. `None` = no `[Definition]`.
fn combined_options(
    cfg: &Config,
    input: &CombineInput<'_>,
    load: &FilterLoadOptions,
) -> Result<Vec<(String, Option<String>)>, ConfigError> {
    let spec_opts = input.spec_opts;
    let mut init: Vec<(String, Option<String>)> = spec_opts
        .iter()
        .map(|(k, v)| (k.clone(), Some(v.clone())))
        .collect();
    let set = |v: &mut Vec<(String, Option<String>)>, k: &str, val: Option<String>| match v
        .iter_mut()
        .find(|(ok, _)| ok == k)
    {
        Some(slot) => slot.1 = val,
        None => v.push((k.to_string(), val)),
    };
    // Automatic logtype, unless given (non-empty) or set in the filter's own [Definition].
    let given = init
        .iter()
        .any(|(k, v)| k == "logtype" && v.as_deref().is_some_and(|s| !s.is_empty()));
    let own = cfg
        .section("Definition")
        .is_some_and(|s| s.contains("logtype"));
    if !given && !own {
        let lt = if load.journal_backend {
            "journal"
        } else {
            "file"
        };
        set(&mut init, "logtype", Some(lt.to_string()));
    }
    // Python merges the outer vars with the init options, the latter winning.
    let mut pvars: Vec<(String, String)> = input
        .outer_vars
        .iter()
        .filter(|(k, _)| !init.iter().any(|(ik, _)| ik == k))
        .cloned()
        .collect();
    pvars.extend(
        init.iter()
            .map(|(k, v)| (k.clone(), v.clone().unwrap_or_default())),
    );
    let mut combined: Vec<(String, Option<String>)> = Vec::new();
    for opt in FILTER_OPTS {
        if pvars.iter().any(|(k, _)| k == opt) {
            continue;
        }
        match cfg.get("Definition", opt, &pvars) {
            Ok(v) => combined.push((opt.to_string(), Some(v))),
            Err(GetError::NoSection(_)) => combined.push((opt.to_string(), None)),
            Err(GetError::NoOption { .. }) => {}
            Err(GetError::Config(e)) => return Err(e),
        }
    }
    if let Some(sec) = cfg.section("Init") {
        for opt in sec.keys() {
            if opt == "__name__" {
                continue;
            }
            let mut v: Option<String> = None;
            let mut value = || -> Result<String, ConfigError> {
                if v.is_none() {
                    v = Some(GetError::optional(cfg.get("Init", opt, &[]))?.unwrap_or_default());
                }
                Ok(v.clone().unwrap_or_default())
            };
            if !opt.starts_with("known/") {
                let val = value()?;
                set(&mut init, &format!("known/{opt}"), Some(val));
            }
            if !init.iter().any(|(k, _)| k == opt) {
                let val = value()?;
                set(&mut init, opt, Some(val));
            }
        }
    }
    if input.all {
        if let Some(sec) = cfg.section("Definition") {
            // Own options only, read without vars, skipping those already taken.
            for opt in sec.keys() {
                if opt == "__name__" || combined.iter().any(|(k, _)| k == opt) {
                    continue;
                }
                if let Some(v) = GetError::optional(cfg.get("Definition", opt, &[]))? {
                    combined.push((opt.to_string(), Some(v)));
                }
            }
        }
    }
    for (k, v) in init {
        set(&mut combined, &k, v);
    }
    let ignore: HashSet<String> = combined
        .iter()
        .filter_map(|(k, _)| split_conditional(k).map(|(base, _)| base.to_string()))
        .collect();
    let mut cache: Vec<(String, Option<String>)> = Vec::new();
    let mut addrepl = |tag: &str| -> Result<Option<String>, ConfigError> {
        if let Some((_, v)) = cache.iter().find(|(k, _)| k == tag) {
            return Ok(v.clone());
        }
        let v = GetError::optional(cfg.get_ex("Definition", tag, &pvars))?;
        cache.push((tag.to_string(), v.clone()));
        Ok(v)
    };
    substitute_tags(&mut combined, &ignore, &mut addrepl)?;
    Ok(combined)
}

fn build_filter(
    cfg: &Config,
    name: &str,
    origin: FilterOrigin,
    spec_opts: Vec<(String, String)>,
    load: &FilterLoadOptions,
) -> Result<FilterDef, ConfigError> {
    let input = CombineInput {
        spec_opts: &spec_opts,
        outer_vars: &[],
        all: false,
    };
    let combined = combined_options(cfg, &input, load)?;
    let get = |k: &str| {
        combined
            .iter()
            .find(|(ok, _)| ok == k)
            .and_then(|(_, v)| v.clone())
    };
    let lines = |k: &str| -> Vec<String> {
        get(k).map_or_else(Vec::new, |v| {
            v.split('\n')
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect()
        })
    };
    let joined = |k: &str| {
        let l = lines(k);
        (!l.is_empty()).then(|| l.join("\n"))
    };
    let maxlines = match get("maxlines") {
        None => None,
        Some(v) => match parse_py_int(&v) {
            Some(n) if n > 0 => Some(n as usize),
            _ => {
                return Err(ConfigError::Filter {
                    name: name.to_string(),
                    msg: format!("maxlines must be an integer greater than zero, got {v:?}"),
                })
            }
        },
    };
    Ok(FilterDef {
        name: name.to_string(),
        origin,
        options: spec_opts,
        prefregex: joined("prefregex"),
        failregex: lines("failregex"),
        ignoreregex: lines("ignoreregex"),
        maxlines,
        datepattern: joined("datepattern"),
        journalmatch: lines("journalmatch"),
        files: cfg.files.clone(),
        warnings: cfg.warnings.clone(),
    })
}

/// Python `int(str)`: optional sign, digits with single underscores between, surrounding
/// whitespace allowed.
fn parse_py_int(s: &str) -> Option<i64> {
    let t = py_strip(s);
    let (neg, digits) = match t.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
        || !digits.chars().all(|c| c.is_ascii_digit() || c == '_')
    {
        return None;
    }
    let n: i64 = digits.replace('_', "").parse().ok()?;
    Some(if neg { -n } else { n })
}

fn path_str(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// Loads an embedded filter (in-memory text, no includes) with the given spec options.
fn load_embedded(
    name: &str,
    text: &str,
    opts: Vec<(String, String)>,
    load: &FilterLoadOptions,
) -> Result<FilterDef, ConfigError> {
    let cfg = Config::from_text(text, &format!("<embedded filter {name}>"))?;
    let mut def = build_filter(&cfg, name, FilterOrigin::Embedded, opts, load)?;
    def.files.clear();
    Ok(def)
}

/// Standard loading of filter spec `spec` from `confdir/filter.d`, automatic logtype `file`.
pub fn load_filter(confdir: &Path, spec: &str) -> Result<FilterDef, ConfigError> {
    load_filter_with(confdir, spec, &FilterLoadOptions::default())
}

/// Standard loading of filter spec `spec` from `confdir/filter.d`. When the config dir has no
/// file at all for that name but failscan embeds a filter of that name, the embedded one is used.
pub fn load_filter_with(
    confdir: &Path,
    spec: &str,
    load: &FilterLoadOptions,
) -> Result<FilterDef, ConfigError> {
    let (name, opts) = parse_spec(spec)?;
    let basedir = path_str(confdir);
    match Config::read_standard(&FsSource, &basedir, &format!("filter.d/{name}")) {
        Ok(cfg) => {
            let origin = FilterOrigin::Standard {
                basedir: confdir.to_path_buf(),
            };
            build_filter(&cfg, &name, origin, opts, load)
        }
        Err(ConfigError::NoConfigFiles { .. } | ConfigError::NoBaseDir(_))
            if super::embedded::embedded_filter(&name).is_some() =>
        {
            let text = super::embedded::embedded_filter(&name).unwrap_or_default();
            load_embedded(&name, text, opts, load)
        }
        Err(e) => Err(e),
    }
}

/// The options of filter `spec` that fail2ban merges into jail `[jail]` as `known/<option>`
/// before reading the jail's other options (JailReader.getOptions): every own `[Definition]`
/// option, the `[Init]` and spec options, after `<tag>` substitution, with the jail's first
/// options (`jail_vars`: `enabled`, `backend`, `filter`) as interpolation vars. `Ok(None)` when
/// the filter has no config file (fail2ban then reports the jail as unusable).
pub(crate) fn jail_known_options(
    confdir: &Path,
    spec: &str,
    jail_vars: &[(String, String)],
    journal_backend: bool,
) -> Result<Option<Vec<(String, String)>>, ConfigError> {
    let (name, opts) = parse_spec(spec)?;
    let basedir = path_str(confdir);
    let cfg = match Config::read_standard(&FsSource, &basedir, &format!("filter.d/{name}")) {
        Ok(cfg) => cfg,
        Err(ConfigError::NoConfigFiles { .. } | ConfigError::NoBaseDir(_)) => {
            match super::embedded::embedded_filter(&name) {
                Some(text) => Config::from_text(text, &format!("<embedded filter {name}>"))?,
                None => return Ok(None),
            }
        }
        Err(e) => return Err(e),
    };
    let input = CombineInput {
        spec_opts: &opts,
        outer_vars: jail_vars,
        all: true,
    };
    let load = FilterLoadOptions { journal_backend };
    let combined = combined_options(&cfg, &input, &load)?;
    Ok(Some(
        combined
            .into_iter()
            .filter_map(|(k, v)| Some((k, v?)))
            .collect(),
    ))
}

/// fail2ban-regex's test for a REGEX argument that may name a filter:
/// `(?ms)^/{0,3}[\w/_\-.]+(?:\[.*\])?$` found anywhere (multi-line mode).
///
/// An ASCII argument (every filter name in practice) is tested by hand
/// ([`looks_like_filter_ascii`]): compiling the Unicode regex was half of reading the
/// filters when a scan starts (~0.4 ms).
fn looks_like_filter(arg: &str) -> bool {
    if arg.is_ascii() {
        return looks_like_filter_ascii(arg.as_bytes());
    }
    looks_like_filter_regex(arg)
}

/// [`looks_like_filter`] by the regex (Unicode `\w`).
fn looks_like_filter_regex(arg: &str) -> bool {
    static RE: std::sync::OnceLock<Option<regex_automata::meta::Regex>> =
        std::sync::OnceLock::new();
    RE.get_or_init(|| regex_automata::meta::Regex::new(r"(?ms)^/{0,3}[\w/_\-.]+(?:\[.*\])?$").ok())
        .as_ref()
        .is_some_and(|re| re.is_match(arg))
}

/// [`looks_like_filter`] of ASCII text. `/{0,3}` adds nothing (`/` is in the class), and
/// the class run from a line start can only be followed by `[` or the end of the line, so
/// the regex matches exactly where the maximal run from a line start is not empty and ends
/// the line, or stops at a `[` that a later `]` closes at the end of a line (`.` crosses
/// lines under `(?s)`).
fn looks_like_filter_ascii(arg: &[u8]) -> bool {
    let class = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'/' | b'-' | b'.');
    let line_end = |i: usize| i == arg.len() || arg[i] == b'\n';
    let mut starts = std::iter::once(0).chain(memchr::memchr_iter(b'\n', arg).map(|i| i + 1));
    starts.any(|i| {
        let j = i + arg[i..].iter().take_while(|&&b| class(b)).count();
        if j == i {
            return false;
        }
        if line_end(j) {
            return true;
        }
        arg[j] == b'[' && (j + 1..arg.len()).any(|k| arg[k] == b']' && line_end(k + 1))
    })
}

/// Python `os.path.abspath`: joined with the current directory and normalized.
fn py_abspath(p: &str) -> String {
    let joined = if p.starts_with('/') {
        p.to_string()
    } else {
        let cwd = std::env::current_dir()
            .map(|d| path_str(&d))
            .unwrap_or_default();
        py_join(&cwd, p)
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in joined.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            _ => parts.push(part),
        }
    }
    format!("/{}", parts.join("/"))
}

/// Resolves fail2ban-regex's REGEX argument (semantics 1.8), automatic logtype `file`.
pub fn resolve_regex_arg(confdir: &Path, arg: &str) -> Result<RegexArg, ConfigError> {
    resolve_regex_arg_with(confdir, arg, &FilterLoadOptions::default())
}

/// Resolves fail2ban-regex's REGEX argument: a filter name, file or path (with options), else
/// a literal regex. A name that matches no file but an embedded filter loads the embedded one.
pub fn resolve_regex_arg_with(
    confdir: &Path,
    arg: &str,
    load: &FilterLoadOptions,
) -> Result<RegexArg, ConfigError> {
    if !looks_like_filter(arg) {
        return Ok(RegexArg::Literal(arg.to_string()));
    }
    let (name, opts) = parse_spec(arg)?;
    let config = path_str(confdir);
    let tail: String = {
        let chars: Vec<char> = name.chars().collect();
        chars[chars.len().saturating_sub(6)..].iter().collect()
    };
    let candidates: Vec<String> = if tail.contains('.') {
        vec![name.clone()]
    } else {
        vec![
            name.clone(),
            format!("{name}.conf"),
            format!("{name}.local"),
        ]
    };
    let mut basedir = config.clone();
    let mut found: Option<String> = None;
    for cand in candidates {
        let file = if !cand.contains('/') {
            if py_basename(&basedir) == "filter.d" {
                py_join(&basedir, &cand)
            } else {
                py_join(&py_join(&basedir, "filter.d"), &cand)
            }
        } else {
            basedir = py_dirname(&cand);
            cand
        };
        if FsSource.is_file(&file) {
            found = Some(file);
            break;
        }
    }
    let Some(_file) = found else {
        let plain = py_splitext(py_basename(&name)).0;
        if !name.contains('/') {
            if let Some(text) = super::embedded::embedded_filter(plain) {
                return load_embedded(plain, text, opts, load)
                    .map(|d| RegexArg::Filter(Box::new(d)));
            }
        }
        return Ok(RegexArg::Literal(arg.to_string()));
    };
    if basedir == config
        || py_basename(&basedir) == "filter.d"
        || (!tail.contains('.') && !name.contains('/'))
    {
        if py_basename(&basedir) == "filter.d" {
            basedir = py_dirname(&basedir);
        }
        let fname = py_splitext(py_basename(&name)).0.to_string();
        let cfg = Config::read_standard(&FsSource, &basedir, &format!("filter.d/{fname}"))?;
        let origin = FilterOrigin::Standard {
            basedir: PathBuf::from(&basedir),
        };
        return build_filter(&cfg, &fname, origin, opts, load)
            .map(|d| RegexArg::Filter(Box::new(d)));
    }
    // A foreign file: fail2ban reads the path as written in the spec (made absolute), with its
    // `.local` sibling and includes only.
    let path = py_abspath(&name);
    let cfg = Config::read_explicit(&FsSource, &path)?;
    let fname = py_splitext(py_basename(&path)).0.to_string();
    let origin = FilterOrigin::Foreign {
        path: PathBuf::from(&path),
    };
    build_filter(&cfg, &fname, origin, opts, load).map(|d| RegexArg::Filter(Box::new(d)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn spec_parsing() {
        assert_eq!(parse_spec("sshd").unwrap(), ("sshd".into(), vec![]));
        assert_eq!(
            parse_spec(r#"n[key=value, k2="v, x"][k3=y]"#).unwrap(),
            (
                "n".into(),
                kv(&[("key", "value"), ("k2", "v, x"), ("k3", "y")])
            )
        );
        assert_eq!(
            parse_spec("a[ x=1 ,y='q]r', z=]").unwrap().1,
            kv(&[("x", "1"), ("y", "q]r"), ("z", "")])
        );
        assert_eq!(
            parse_spec("a[x=1, x=2, y=3]").unwrap().1,
            kv(&[("x", "2"), ("y", "3")])
        );
        assert_eq!(parse_spec("a[x=1]  ").unwrap().1, kv(&[("x", "1")]));
        assert_eq!(parse_spec("a[x=1,]").unwrap().1, kv(&[("x", "1")]));
        assert_eq!(
            parse_spec(" a [x= 2 ]\n").unwrap(),
            (" a ".into(), kv(&[("x", "2")]))
        );
        for bad in [
            "a[ x = 1 ,y=1]",
            "foo[bad syntax",
            "[x=1]",
            "a[x=1]b",
            "a[x=1]b]",
            "a[novalue]",
            r#"a[x="q"z]"#,
        ] {
            assert!(parse_spec(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn path_like_test() {
        // By hand and by the regex agree on ASCII texts built from the characters that
        // matter (class, brackets, newline, others).
        let mut seed = 3u64;
        let alphabet = b"a_/.-[]\n x9";
        for _ in 0..50_000 {
            let len = (crate::testutil::lcg(&mut seed) >> 60) as usize;
            let text: String = (0..len)
                .map(|_| {
                    alphabet[(crate::testutil::lcg(&mut seed) >> 33) as usize % alphabet.len()]
                        as char
                })
                .collect();
            assert_eq!(
                looks_like_filter_ascii(text.as_bytes()),
                looks_like_filter_regex(&text),
                "{text:?}"
            );
        }
        assert!(looks_like_filter("sshd"));
        assert!(looks_like_filter("/etc/fail2ban/filter.d/asterisk.conf"));
        assert!(looks_like_filter(
            "sshd[mode=aggressive, publickey=invalid]"
        ));
        assert!(!looks_like_filter("from <HOST>"));
        assert!(!looks_like_filter("foo[bad syntax"));
        assert!(!looks_like_filter("a b"));
    }

    #[test]
    fn py_int() {
        assert_eq!(parse_py_int(" 3 "), Some(3));
        assert_eq!(parse_py_int("+1_0"), Some(10));
        assert_eq!(parse_py_int("1.0"), None);
        assert_eq!(parse_py_int(""), None);
    }
}
