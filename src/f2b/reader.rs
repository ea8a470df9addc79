//! Reading a fail2ban configuration: which files (`NAME.conf`, `NAME.d/*.conf`, `NAME.local`,
//! `NAME.d/*.local`, `[INCLUDES]` before/after with `.local` siblings), merging them with the
//! `KNOWN/<section>` memory and conditional sections, stage-1 `%(name)s` interpolation and
//! stage-2 `<tag>` substitution. See fail2ban-semantics.md 1.1 and 1.3-1.5.
//!
//! Files come through a [`FileSource`], so the same reader works on the filesystem and on
//! in-memory text (failscan's embedded filters). Paths are handled as strings, with Python's
//! `os.path` rules, because fail2ban's include-loop check compares path strings.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use super::ini::{parse_ini, ConfigError, IniFile, OptMap, Origin, RawValue};

/// Result of asking a [`FileSource`] for a file.
pub enum FileText {
    Missing,
    Text(String),
    /// The file exists but is not UTF-8; fail2ban logs an error and skips such a file.
    Undecodable(String),
}

/// Where configuration files come from.
pub trait FileSource {
    fn read(&self, path: &str) -> Result<FileText, ConfigError>;
    fn is_file(&self, path: &str) -> bool;
    fn exists(&self, path: &str) -> bool;
    /// Files `dir/*.ext` (names not starting with `.`), sorted like Python's `sorted(glob())`.
    fn glob_ext(&self, dir: &str, ext: &str) -> Vec<String>;
}

/// The real filesystem.
pub struct FsSource;

impl FileSource for FsSource {
    fn read(&self, path: &str) -> Result<FileText, ConfigError> {
        match std::fs::read(path) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(s) => Ok(FileText::Text(s)),
                Err(e) => Ok(FileText::Undecodable(e.to_string())),
            },
            // configparser.read() skips files it cannot open (missing, directory, ...).
            Err(_) => Ok(FileText::Missing),
        }
    }
    fn is_file(&self, path: &str) -> bool {
        std::path::Path::new(path).is_file()
    }
    fn exists(&self, path: &str) -> bool {
        std::path::Path::new(path).exists()
    }
    fn glob_ext(&self, dir: &str, ext: &str) -> Vec<String> {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return Vec::new();
        };
        let suffix = format!(".{ext}");
        let mut out: Vec<String> = rd
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| !n.starts_with('.') && n.ends_with(&suffix))
            .map(|n| py_join(dir, &n))
            .collect();
        out.sort();
        out
    }
}

/// In-memory files, keyed by path (used for embedded filters and tests).
#[derive(Default)]
pub struct MemSource {
    pub files: HashMap<String, String>,
}

/// Collapses `/./` and `//` so that in-memory paths behave like filesystem paths.
fn normalize(path: &str) -> String {
    let mut p = path.replace("/./", "/");
    while p.contains("/./") || p.contains("//") {
        p = p.replace("/./", "/").replace("//", "/");
    }
    p
}

impl FileSource for MemSource {
    fn read(&self, path: &str) -> Result<FileText, ConfigError> {
        let file = self.files.get(&normalize(path));
        Ok(file.map_or(FileText::Missing, |t| FileText::Text(t.clone())))
    }
    fn is_file(&self, path: &str) -> bool {
        self.files.contains_key(&normalize(path))
    }
    fn exists(&self, path: &str) -> bool {
        let prefix = format!("{}/", path.trim_end_matches('/'));
        self.files
            .keys()
            .any(|k| k == path || k.starts_with(&prefix))
    }
    fn glob_ext(&self, dir: &str, ext: &str) -> Vec<String> {
        let prefix = format!("{}/", dir.trim_end_matches('/'));
        let suffix = format!(".{ext}");
        let mut out: Vec<String> = self
            .files
            .keys()
            .filter(|k| {
                k.strip_prefix(&prefix).is_some_and(|n| {
                    !n.contains('/') && !n.starts_with('.') && n.ends_with(&suffix)
                })
            })
            .cloned()
            .collect();
        out.sort();
        out
    }
}

/// Python `os.path.join(a, b)` for two parts.
pub(crate) fn py_join(a: &str, b: &str) -> String {
    if b.starts_with('/') || a.is_empty() {
        b.to_string()
    } else if a.ends_with('/') {
        format!("{a}{b}")
    } else {
        format!("{a}/{b}")
    }
}

/// Python `os.path.dirname`.
pub(crate) fn py_dirname(p: &str) -> String {
    let head = &p[..p.rfind('/').map_or(0, |i| i + 1)];
    if !head.is_empty() && head.chars().any(|c| c != '/') {
        head.trim_end_matches('/').to_string()
    } else {
        head.to_string()
    }
}

/// Python `os.path.basename`.
pub(crate) fn py_basename(p: &str) -> &str {
    &p[p.rfind('/').map_or(0, |i| i + 1)..]
}

/// Python `os.path.splitext`: the extension starts at the last `.` of the basename, unless the
/// basename consists of leading dots up to it.
pub(crate) fn py_splitext(p: &str) -> (&str, &str) {
    let base_start = p.rfind('/').map_or(0, |i| i + 1);
    let base = &p[base_start..];
    if let Some(dot) = base.rfind('.') {
        if base[..dot].chars().any(|c| c != '.') {
            return (&p[..base_start + dot], &p[base_start + dot..]);
        }
    }
    (p, "")
}

/// How deep `[INCLUDES]` may nest. fail2ban cuts loops only when the same path string repeats;
/// a loop through differently written paths (`./x.conf`) recurses until Python gives up, so we
/// stop earlier with a clear error.
const MAX_INCLUDE_DEPTH: usize = 64;

/// Maximum depth of `%(name)s` interpolation (configparser's MAX_INTERPOLATION_DEPTH).
const MAX_INTERPOLATION_DEPTH: usize = 10;

/// Maximum substitutions of one tag inside one option (fail2ban's MAX_TAG_REPLACE_COUNT).
const MAX_TAG_REPLACE_COUNT: usize = 25;

/// Why a lookup did not give a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GetError {
    NoSection(String),
    NoOption { section: String, option: String },
    Config(ConfigError),
}

impl From<ConfigError> for GetError {
    fn from(e: ConfigError) -> Self {
        GetError::Config(e)
    }
}

impl GetError {
    /// Turns "not there" into `Ok(None)`, keeping real errors.
    pub fn optional<T>(r: Result<T, GetError>) -> Result<Option<T>, ConfigError> {
        match r {
            Ok(v) => Ok(Some(v)),
            Err(GetError::Config(e)) => Err(e),
            Err(_) => Ok(None),
        }
    }
}

/// Vars given to a lookup (filter spec options, in order). Keys are matched lower-cased, as
/// configparser does for vars.
pub type Vars = [(String, String)];

/// A merged configuration: defaults, sections (including the hidden `KNOWN/<section>` ones).
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub defaults: OptMap,
    sections: Vec<(String, OptMap)>,
    /// Files merged, in read order.
    pub files: Vec<String>,
    /// Non-fatal problems (undecodable files), in the order met.
    pub warnings: Vec<String>,
}

/// `^(\w+)(\?.+)$`: a conditional section or option name, split into (base, `?cond`).
pub(crate) fn split_conditional(name: &str) -> Option<(&str, &str)> {
    let q = name.find('?')?;
    let (base, cond) = name.split_at(q);
    let word = !base.is_empty() && base.chars().all(|c| c.is_alphanumeric() || c == '_');
    (word && cond.len() > 1 && !cond.contains('\n')).then_some((base, cond))
}

struct Reader<'a> {
    src: &'a dyn FileSource,
    cache: RefCell<HashMap<String, Option<Rc<IniFile>>>>,
    warnings: RefCell<Vec<String>>,
}

impl<'a> Reader<'a> {
    fn parse(&self, path: &str) -> Result<Option<Rc<IniFile>>, ConfigError> {
        if let Some(c) = self.cache.borrow().get(path) {
            return Ok(c.clone());
        }
        let parsed = match self.src.read(path)? {
            FileText::Missing => None,
            FileText::Text(t) => Some(Rc::new(parse_ini(&t, path)?)),
            FileText::Undecodable(msg) => {
                self.warnings.borrow_mut().push(format!(
                    "error decoding config file '{path}': {msg}; file skipped"
                ));
                None
            }
        };
        self.cache
            .borrow_mut()
            .insert(path.to_string(), parsed.clone());
        Ok(parsed)
    }

    /// Each file followed by its `.local` sibling when that exists and is not already listed.
    fn with_local(&self, files: &[String]) -> Vec<String> {
        let mut out = Vec::new();
        for f in files {
            out.push(f.clone());
            let local = format!("{}.local", py_splitext(f).0);
            if !files.contains(&local) && self.src.is_file(&local) {
                out.push(local);
            }
        }
        out
    }

    fn expand(&self, files: &[String], seen: &[String]) -> Result<Vec<String>, ConfigError> {
        let mut out = Vec::new();
        for f in self.with_local(files) {
            out.extend(self.expand_one(&f, seen)?);
        }
        Ok(out)
    }

    /// (before-includes) + file + (after-includes), recursively; `seen` is the include chain.
    fn expand_one(&self, resource: &str, seen: &[String]) -> Result<Vec<String>, ConfigError> {
        let Some(ini) = self.parse(resource)? else {
            return Ok(Vec::new());
        };
        if seen.len() > MAX_INCLUDE_DEPTH {
            return Err(ConfigError::IncludeDepth {
                file: resource.to_string(),
                depth: MAX_INCLUDE_DEPTH,
            });
        }
        let dir = py_dirname(resource);
        let single = Config::from_files(&[(resource.to_string(), ini.clone())]);
        let mut parts: [Vec<String>; 2] = [Vec::new(), Vec::new()];
        if ini.section("INCLUDES").is_some() {
            for (slot, opt) in parts.iter_mut().zip(["before", "after"]) {
                let Some(list) = GetError::optional(single.get("INCLUDES", opt, &[]))? else {
                    continue;
                };
                for item in list.split('\n').filter(|s| !s.is_empty()) {
                    let r = py_join(&dir, item);
                    if seen.contains(&r) {
                        continue;
                    }
                    let mut chain = seen.to_vec();
                    chain.push(resource.to_string());
                    slot.extend(self.expand(&[r], &chain)?);
                }
            }
        }
        let [before, after] = parts;
        let mut out = before;
        out.push(resource.to_string());
        out.extend(after);
        Ok(out)
    }
}

impl Config {
    /// Merges already parsed files in order (fail2ban's read of several files).
    fn from_files(files: &[(String, Rc<IniFile>)]) -> Config {
        let mut cfg = Config::default();
        for (path, ini) in files {
            cfg.merge(ini);
            cfg.files.push(path.clone());
        }
        cfg
    }

    fn merge(&mut self, ini: &IniFile) {
        for (k, v) in ini.defaults.iter() {
            self.defaults.insert(k.to_string(), v.clone());
        }
        for (name, opts) in &ini.sections {
            let (name, opts) = match split_conditional(name) {
                Some((base, cond)) => {
                    let mut renamed = OptMap::new();
                    for (k, v) in opts.iter() {
                        renamed.insert(format!("{k}{cond}"), v.clone());
                    }
                    (base.to_string(), renamed)
                }
                None => (name.clone(), opts.clone()),
            };
            if let Some(i) = self.sections.iter().position(|(n, _)| *n == name) {
                // Remember the values about to be overridden, for %(known/x)s and <known/x>.
                let prev: Vec<(String, RawValue)> = self.sections[i]
                    .1
                    .iter()
                    .filter(|(k, _)| opts.contains(k))
                    .map(|(k, v)| (k.to_string(), v.clone()))
                    .collect();
                let known = format!("KNOWN/{name}");
                let ki = match self.sections.iter().position(|(n, _)| *n == known) {
                    Some(ki) => ki,
                    None => {
                        self.sections.push((known, OptMap::new()));
                        self.sections.len() - 1
                    }
                };
                for (k, v) in prev {
                    self.sections[ki].1.insert(k, v);
                }
                for (k, v) in opts.iter() {
                    self.sections[i].1.insert(k.to_string(), v.clone());
                }
            } else {
                self.sections.push((name, opts));
            }
        }
    }

    fn read_list(src: &dyn FileSource, files: &[String]) -> Result<Config, ConfigError> {
        let reader = Reader {
            src,
            cache: RefCell::new(HashMap::new()),
            warnings: RefCell::new(Vec::new()),
        };
        let full = reader.expand(files, &[])?;
        let mut parsed = Vec::new();
        for f in full {
            if let Some(ini) = reader.parse(&f)? {
                parsed.push((f, ini));
            }
        }
        let mut cfg = Config::from_files(&parsed);
        cfg.warnings = reader.warnings.into_inner();
        Ok(cfg)
    }

    /// Standard loading of `basedir/NAME` (`NAME` is e.g. `filter.d/sshd` or `jail`):
    /// `NAME.conf`, `NAME.d/*.conf`, `NAME.local`, `NAME.d/*.local`, each with its includes.
    pub fn read_standard(
        src: &dyn FileSource,
        basedir: &str,
        name: &str,
    ) -> Result<Config, ConfigError> {
        let basedir = if basedir.chars().all(|c| c == '/') && !basedir.is_empty() {
            ""
        } else {
            basedir.trim_end_matches('/')
        };
        if !src.exists(if basedir.is_empty() { "/" } else { basedir }) {
            return Err(ConfigError::NoBaseDir(basedir.to_string()));
        }
        let base = py_join(basedir, name);
        let dir = format!("{base}.d");
        let mut files = vec![format!("{base}.conf")];
        files.extend(src.glob_ext(&dir, "conf"));
        files.push(format!("{base}.local"));
        files.extend(src.glob_ext(&dir, "local"));
        files.retain(|f| src.exists(f));
        let cfg = if files.is_empty() {
            None
        } else {
            Some(Self::read_list(src, &files)?)
        };
        match cfg {
            Some(c) if !c.files.is_empty() => Ok(c),
            _ => Err(ConfigError::NoConfigFiles {
                name: name.to_string(),
                basedir: basedir.to_string(),
            }),
        }
    }

    /// Loading of one explicit file (fail2ban-regex's "foreign file"): the file, its `.local`
    /// sibling and their includes, no `.d/` directory.
    pub fn read_explicit(src: &dyn FileSource, path: &str) -> Result<Config, ConfigError> {
        let cfg = Self::read_list(src, &[path.to_string()])?;
        if cfg.files.is_empty() {
            return Err(ConfigError::NoConfigFiles {
                name: path.to_string(),
                basedir: py_dirname(path),
            });
        }
        Ok(cfg)
    }

    /// A configuration from one in-memory text (an embedded filter: no includes are read).
    pub fn from_text(text: &str, name: &str) -> Result<Config, ConfigError> {
        let ini = Rc::new(parse_ini(text, name)?);
        Ok(Self::from_files(&[(name.to_string(), ini)]))
    }

    pub fn has_section(&self, name: &str) -> bool {
        self.sections.iter().any(|(n, _)| n == name)
    }

    pub fn section(&self, name: &str) -> Option<&OptMap> {
        self.sections
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, s)| s)
    }

    /// Section names in order, without the hidden `KNOWN/` ones.
    pub fn section_names(&self) -> impl Iterator<Item = &str> {
        self.sections
            .iter()
            .map(|(n, _)| n.as_str())
            .filter(|n| !n.starts_with("KNOWN/"))
    }

    /// Adds options to `[DEFAULT]` (fail2ban's merge_defaults).
    pub fn merge_defaults(&mut self, opts: &[(&str, &str)]) {
        for (k, v) in opts {
            self.defaults.insert(
                k.to_string(),
                RawValue {
                    text: v.to_string(),
                    origin: Origin {
                        file: "<built-in>".into(),
                        line: 0,
                    },
                },
            );
        }
    }

    /// Adds options to a section under a prefix (fail2ban's merge_section with `known/`).
    pub fn merge_section_prefixed(
        &mut self,
        section: &str,
        prefix: &str,
        opts: &[(String, String)],
    ) {
        let i = match self.sections.iter().position(|(n, _)| n == section) {
            Some(i) => i,
            None => {
                self.sections.push((section.to_string(), OptMap::new()));
                self.sections.len() - 1
            }
        };
        for (k, v) in opts {
            if k.starts_with(prefix) || k == "__name__" {
                continue;
            }
            self.sections[i].1.insert(
                format!("{prefix}{k}"),
                RawValue {
                    text: v.clone(),
                    origin: Origin {
                        file: "<filter>".into(),
                        line: 0,
                    },
                },
            );
        }
    }

    /// The raw value of `option` in `section` (then `[DEFAULT]`), or in vars first.
    fn lookup_raw(
        &self,
        section: &str,
        option: &str,
        vars: &Vars,
    ) -> Result<(String, String), GetError> {
        let sect = if section == "DEFAULT" {
            None
        } else {
            Some(
                self.section(section)
                    .ok_or_else(|| GetError::NoSection(section.to_string()))?,
            )
        };
        let key = option.to_lowercase();
        if let Some((_, v)) = vars.iter().rev().find(|(k, _)| k.to_lowercase() == key) {
            return Ok((v.clone(), "<filter options>".to_string()));
        }
        sect.and_then(|s| s.get(&key))
            .or_else(|| self.defaults.get(&key))
            .map(|v| (v.text.clone(), v.origin.to_string()))
            .ok_or(GetError::NoOption {
                section: section.to_string(),
                option: key,
            })
    }

    /// Stage-1 value of `option` in `section`: vars, then the section, then `[DEFAULT]`, with
    /// `%(name)s` interpolated.
    pub fn get(&self, section: &str, option: &str, vars: &Vars) -> Result<String, GetError> {
        let (raw, at) = self.lookup_raw(section, option, vars)?;
        let mut top: Vec<(String, String)> = Vec::new();
        for (k, v) in vars {
            let k = k.to_lowercase();
            match top.iter_mut().find(|(tk, _)| *tk == k) {
                Some(slot) => slot.1 = v.clone(),
                None => top.push((k, v.clone())),
            }
        }
        let map = IMap {
            top,
            section: self.section(section),
            defaults: &self.defaults,
        };
        let mut out = String::new();
        let ctx = Ctx {
            section,
            option: &option.to_lowercase(),
            at: &at,
        };
        self.interpolate(&ctx, &mut out, &raw, map, 1)?;
        Ok(out)
    }

    /// The raw value, without interpolation.
    pub fn get_raw(&self, section: &str, option: &str) -> Result<String, GetError> {
        self.lookup_raw(section, option, &[]).map(|(v, _)| v)
    }

    /// fail2ban's `get_ex`: `sec/opt`, `known/opt` (KNOWN/section, then section) and
    /// `default/opt` forms, falling back to a plain lookup of the whole name.
    pub fn get_ex(&self, section: &str, option: &str, vars: &Vars) -> Result<String, GetError> {
        if let Some((sec, opt)) = split_section_option(option) {
            let candidates: Vec<String> = match sec.to_lowercase().as_str() {
                "known" => vec![format!("KNOWN/{section}"), section.to_string()],
                "default" => vec!["DEFAULT".to_string()],
                _ => vec![sec.to_string()],
            };
            for s in candidates {
                match self.get(&s, opt, &[]) {
                    Ok(v) => return Ok(v),
                    Err(GetError::Config(e)) => return Err(GetError::Config(e)),
                    Err(_) => {}
                }
            }
        }
        self.get(section, option, vars)
    }

    /// Injects `%(sec/opt)s` references of `rest` into the map's top level, as fail2ban does
    /// before each interpolation step (raw values; `known` and missing options fall back to
    /// `[DEFAULT]`; a missing section is left alone and ends as a missing-option error).
    fn map_section_options(&self, section: &str, rest: &str, map: &mut IMap<'_>) {
        if !rest.contains('/') || !rest.contains("%(") {
            return;
        }
        for (sopt, sec, opt) in find_section_refs(rest) {
            if map.lookup(&sopt).is_some() {
                continue;
            }
            let seclwr = sec.to_lowercase();
            let direct = if seclwr == "default" {
                None
            } else if seclwr == "known" {
                self.section(&format!("KNOWN/{section}"))
                    .and_then(|s| s.get(&opt))
            } else {
                match self.section(&sec) {
                    Some(s) => s.get(&opt),
                    None => continue,
                }
            };
            let Some(v) = direct.or_else(|| self.defaults.get(&opt)) else {
                continue;
            };
            map.top.push((sopt, v.text.clone()));
        }
    }

    fn interpolate(
        &self,
        ctx: &Ctx<'_>,
        accum: &mut String,
        rest: &str,
        mut map: IMap<'_>,
        depth: usize,
    ) -> Result<(), ConfigError> {
        self.map_section_options(ctx.section, rest, &mut map);
        map.set_top("__name__", ctx.section);
        if depth > MAX_INTERPOLATION_DEPTH {
            return Err(ConfigError::InterpolationDepth {
                at: ctx.at.to_string(),
                section: ctx.section.to_string(),
                option: ctx.option.to_string(),
            });
        }
        let mut rest = rest;
        while !rest.is_empty() {
            let Some(p) = rest.find('%') else {
                accum.push_str(rest);
                return Ok(());
            };
            accum.push_str(&rest[..p]);
            rest = &rest[p..];
            let next = rest[1..].chars().next();
            match next {
                Some('%') => {
                    accum.push('%');
                    rest = &rest[2..];
                }
                Some('(') => {
                    // `%(name)s`: the name runs to the first `)`, which must be followed by `s`.
                    let close = rest[2..].find(')').map(|i| i + 2);
                    let Some(close) = close.filter(|&c| c > 2 && rest[c + 1..].starts_with('s'))
                    else {
                        return Err(ConfigError::InterpolationSyntax {
                            at: ctx.at.to_string(),
                            section: ctx.section.to_string(),
                            option: ctx.option.to_string(),
                            detail: format!("bad interpolation variable reference {rest:?}"),
                        });
                    };
                    let var = rest[2..close].to_lowercase();
                    rest = &rest[close + 2..];
                    let Some(v) = map.lookup(&var).map(str::to_string) else {
                        return Err(ConfigError::InterpolationMissing {
                            at: ctx.at.to_string(),
                            section: ctx.section.to_string(),
                            option: ctx.option.to_string(),
                            name: var,
                        });
                    };
                    if v.contains('%') {
                        self.interpolate(ctx, accum, &v, map.clone(), depth + 1)?;
                    } else {
                        accum.push_str(&v);
                    }
                }
                _ => {
                    return Err(ConfigError::InterpolationSyntax {
                        at: ctx.at.to_string(),
                        section: ctx.section.to_string(),
                        option: ctx.option.to_string(),
                        detail: format!("'%' must be followed by '%' or '(', found: {rest:?}"),
                    })
                }
            }
        }
        Ok(())
    }
}

struct Ctx<'a> {
    section: &'a str,
    option: &'a str,
    at: &'a str,
}

/// configparser's ChainMap of (vars + injected names, section, defaults).
#[derive(Clone)]
struct IMap<'a> {
    top: Vec<(String, String)>,
    section: Option<&'a OptMap>,
    defaults: &'a OptMap,
}

impl IMap<'_> {
    fn lookup(&self, key: &str) -> Option<&str> {
        if let Some((_, v)) = self.top.iter().rev().find(|(k, _)| k == key) {
            return Some(v);
        }
        self.section
            .and_then(|s| s.get(key))
            .or_else(|| self.defaults.get(key))
            .map(|v| v.text.as_str())
    }
    fn set_top(&mut self, key: &str, value: &str) {
        self.top.retain(|(k, _)| k != key);
        self.top.push((key.to_string(), value.to_string()));
    }
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// `^([\w\-]+)/([^\s>]+)$`: a `section/option` tag or option name.
fn split_section_option(name: &str) -> Option<(&str, &str)> {
    let slash = name.find('/')?;
    let (sec, opt) = (&name[..slash], &name[slash + 1..]);
    let sec_ok = !sec.is_empty() && sec.chars().all(|c| is_word(c) || c == '-');
    let opt_ok = !opt.is_empty() && !opt.chars().any(|c| super::ini::py_isspace(c) || c == '>');
    (sec_ok && opt_ok).then_some((sec, opt))
}

/// All `%(sec/opt)s` references (`%\(([\w\-]+/([^)]+))\)s`), as (sec/opt, sec, opt).
fn find_section_refs(s: &str) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let mut pos = 0;
    while let Some(i) = s[pos..].find("%(") {
        let start = pos + i + 2;
        let tail = &s[start..];
        let sec_len: usize = tail
            .chars()
            .take_while(|&c| is_word(c) || c == '-')
            .map(char::len_utf8)
            .sum();
        let after_sec = &tail[sec_len..];
        if sec_len > 0 && after_sec.starts_with('/') {
            let opt_part = &after_sec[1..];
            if let Some(close) = opt_part.find(')') {
                if close > 0 && opt_part[close + 1..].starts_with('s') {
                    let sec = &tail[..sec_len];
                    let opt = &opt_part[..close];
                    out.push((format!("{sec}/{opt}"), sec.to_string(), opt.to_string()));
                    pos = start + sec_len + 1 + close + 2;
                    continue;
                }
            }
        }
        pos = pos + i + 1;
    }
    out
}

/// Finds the first `<tag>` (`<([^ <>]+)>`) at or after byte `from`: (start, end, name).
fn find_tag(s: &str, from: usize) -> Option<(usize, usize, &str)> {
    let mut pos = from;
    while let Some(i) = s[pos..].find('<') {
        let start = pos + i;
        let body = &s[start + 1..];
        let len = body.find([' ', '<', '>']).unwrap_or(body.len());
        if len > 0 && body[len..].starts_with('>') {
            return Some((start, start + 1 + len + 1, &body[..len]));
        }
        pos = start + 1;
    }
    None
}

/// Stage 2: replaces `<tag>` in every value by the value of option `tag`, recursively, the way
/// fail2ban's substituteRecursiveTags does (tags in `ignore` and unknown tags stay; a tag that
/// refers to itself, or is substituted more than 25 times in one option, is an error).
/// `addrepl` looks up names not in `tags` (fail2ban: any option visible from `[Definition]`).
/// `None` values are options that exist but have no value.
pub fn substitute_tags(
    tags: &mut [(String, Option<String>)],
    ignore: &HashSet<String>,
    addrepl: &mut dyn FnMut(&str) -> Result<Option<String>, ConfigError>,
) -> Result<(), ConfigError> {
    let mut done: HashSet<String> = HashSet::new();
    let mut rep_counts: HashMap<String, HashMap<String, usize>> = HashMap::new();
    loop {
        let mut again = false;
        for idx in 0..tags.len() {
            let tag = tags[idx].0.clone();
            if ignore.contains(&tag) || done.contains(&tag) {
                continue;
            }
            // fail2ban turns a missing value into the text "None", which has no tags.
            let Some(orig) = tags[idx].1.clone() else {
                done.insert(tag);
                continue;
            };
            let mut value = orig.clone();
            let had_counts = rep_counts.contains_key(&tag);
            let mut rplc = rep_counts.get(&tag).cloned().unwrap_or_default();
            let mut m = find_tag(&value, 0).map(|(s, e, n)| (s, e, n.to_string()));
            while let Some((start, end, rtag)) = m {
                if ignore.contains(&rtag) {
                    m = find_tag(&value, end).map(|(s, e, n)| (s, e, n.to_string()));
                    continue;
                }
                if rtag == tag || rplc.get(&rtag).copied().unwrap_or(1) > MAX_TAG_REPLACE_COUNT {
                    return Err(ConfigError::TagRecursion {
                        tag,
                        found: rtag,
                        value,
                    });
                }
                let mut repl = tags
                    .iter()
                    .find(|(k, _)| *k == rtag)
                    .and_then(|(_, v)| v.clone());
                if repl.is_none() {
                    repl = addrepl(&rtag)?;
                }
                let Some(repl) = repl else {
                    m = find_tag(&value, end).map(|(s, e, n)| (s, e, n.to_string()));
                    continue;
                };
                value = value.replace(&format!("<{rtag}>"), &repl);
                *rplc.entry(rtag).or_insert(0) += 1;
                m = find_tag(&value, start).map(|(s, e, n)| (s, e, n.to_string()));
            }
            if value != orig {
                if find_tag(&value, 0).is_some() {
                    rep_counts.insert(tag.clone(), rplc);
                    again = true;
                } else if had_counts {
                    rep_counts.insert(tag.clone(), rplc);
                }
                tags[idx].1 = Some(value.clone());
            } else if had_counts {
                rep_counts.insert(tag.clone(), rplc);
            }
            if !value.contains('<') {
                done.insert(tag);
            }
        }
        if !again {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mem(files: &[(&str, &str)]) -> MemSource {
        MemSource {
            files: files
                .iter()
                .map(|(p, t)| (p.to_string(), t.to_string()))
                .collect(),
        }
    }

    #[test]
    fn path_helpers_follow_python() {
        assert_eq!(py_join("/a", "b"), "/a/b");
        assert_eq!(py_join("/a/", "b"), "/a/b");
        assert_eq!(py_join("/a", "/b"), "/b");
        assert_eq!(py_join("", "b"), "b");
        assert_eq!(py_dirname("/a/b/c.conf"), "/a/b");
        assert_eq!(py_dirname("c.conf"), "");
        assert_eq!(py_dirname("/c"), "/");
        assert_eq!(py_splitext("/a.b/c"), ("/a.b/c", ""));
        assert_eq!(py_splitext("/x/.hidden"), ("/x/.hidden", ""));
        assert_eq!(py_splitext("my.filter"), ("my", ".filter"));
        assert_eq!(py_basename("/a/b.conf"), "b.conf");
    }

    #[test]
    fn read_order_with_includes_d_and_local() {
        let src = mem(&[
            (
                "/c/filter.d/myf.conf",
                "[INCLUDES]\nbefore = common.conf\nafter = myf-after.conf\n[Definition]\nx = myf\n",
            ),
            (
                "/c/filter.d/common.conf",
                "[INCLUDES]\nafter = common.local\n[Definition]\nx = common\n",
            ),
            (
                "/c/filter.d/common.local",
                "[Definition]\nx = common.local\n",
            ),
            ("/c/filter.d/myf-after.conf", "[Definition]\nx = after\n"),
            ("/c/filter.d/myf.d/10-a.conf", "[Definition]\nx = 10-a\n"),
            ("/c/filter.d/myf.local", "[Definition]\nx = local\n"),
        ]);
        let cfg = Config::read_standard(&src, "/c", "filter.d/myf").unwrap();
        assert_eq!(
            cfg.files,
            [
                "/c/filter.d/common.conf",
                // Read twice: as common.conf's after-include and as its .local sibling.
                "/c/filter.d/common.local",
                "/c/filter.d/common.local",
                "/c/filter.d/myf.conf",
                "/c/filter.d/myf-after.conf",
                "/c/filter.d/myf.d/10-a.conf",
                "/c/filter.d/myf.local"
            ]
        );
        assert_eq!(cfg.get("Definition", "x", &[]).unwrap(), "local");
        assert_eq!(cfg.get_raw("KNOWN/Definition", "x").unwrap(), "10-a");
    }

    #[test]
    fn include_loop_is_cut_like_fail2ban() {
        let src = mem(&[
            ("/c/a.conf", "[INCLUDES]\nbefore = b.conf\n[S]\nx = a\n"),
            ("/c/b.conf", "[INCLUDES]\nbefore = a.conf\n[S]\nx = b\n"),
        ]);
        let cfg = Config::read_standard(&src, "/c", "a").unwrap();
        assert_eq!(cfg.files, ["/c/b.conf", "/c/a.conf"]);
        // A loop through differently written paths never repeats a string: clear error.
        let src = mem(&[("/c/a.conf", "[INCLUDES]\nbefore = ./a.conf\n[S]\nx = a\n")]);
        let e = Config::read_standard(&src, "/c", "a").unwrap_err();
        assert!(matches!(e, ConfigError::IncludeDepth { .. }), "{e}");
    }

    #[test]
    fn no_files_is_an_error() {
        let src = mem(&[("/c/x.conf", "[S]\n")]);
        assert!(matches!(
            Config::read_standard(&src, "/c", "filter.d/none"),
            Err(ConfigError::NoConfigFiles { .. })
        ));
    }

    #[test]
    fn interpolation_rules() {
        let cfg = Config::from_text(
            "[DEFAULT]\nd = dflt\nname = %(__name__)s\n[Definition]\na = x%(b)sy\nb = %(d)s!\npct = 100%%\nlone = 5%\nmiss = %(nope)s\nsec = %(lt/v)s\ndef = %(default/d)s\nup = %(B)s\ndeep = %(deep)s\nbad = %(x\n[lt]\nv = in-lt %(d)s\n",
            "t.conf",
        )
        .unwrap();
        let g = |o: &str| cfg.get("Definition", o, &[]);
        assert_eq!(g("a").unwrap(), "xdflt!y");
        assert_eq!(g("pct").unwrap(), "100%");
        assert_eq!(g("name").unwrap(), "Definition");
        assert_eq!(g("sec").unwrap(), "in-lt dflt");
        assert_eq!(g("def").unwrap(), "dflt");
        assert_eq!(g("up").unwrap(), "dflt!");
        assert!(matches!(
            g("lone"),
            Err(GetError::Config(ConfigError::InterpolationSyntax { .. }))
        ));
        assert!(matches!(
            g("bad"),
            Err(GetError::Config(ConfigError::InterpolationSyntax { .. }))
        ));
        let e = g("miss").unwrap_err();
        assert!(
            matches!(&e, GetError::Config(ConfigError::InterpolationMissing { name, .. }) if name == "nope")
        );
        if let GetError::Config(e) = e {
            assert!(e.to_string().starts_with("t.conf:9: option 'miss'"), "{e}");
        }
        assert!(matches!(
            g("deep"),
            Err(GetError::Config(ConfigError::InterpolationDepth { .. }))
        ));
        // Vars come first, keys case-folded.
        let vars = [("B".to_string(), "V".to_string())];
        assert_eq!(cfg.get("Definition", "a", &vars).unwrap(), "xVy");
        assert!(matches!(g("zzz"), Err(GetError::NoOption { .. })));
        assert!(matches!(
            cfg.get("Nope", "a", &[]),
            Err(GetError::NoSection(_))
        ));
    }

    #[test]
    fn known_and_conditional_sections() {
        let src = mem(&[
            (
                "/c/f.conf",
                "[Definition]\np = base\n[Init]\nq = 1\n[Init?family=inet6]\nq = 6\n",
            ),
            ("/c/f.local", "[Definition]\np = %(known/p)s+local\n"),
        ]);
        let cfg = Config::read_standard(&src, "/c", "f").unwrap();
        assert_eq!(cfg.get("Definition", "p", &[]).unwrap(), "base+local");
        assert_eq!(cfg.get_raw("Init", "q?family=inet6").unwrap(), "6");
        assert_eq!(cfg.get_ex("Definition", "known/p", &[]).unwrap(), "base");
        assert_eq!(
            split_conditional("Init?family=inet6"),
            Some(("Init", "?family=inet6"))
        );
        assert_eq!(split_conditional("Init?"), None);
    }

    #[test]
    fn tag_substitution() {
        let mut tags = vec![
            (
                "a".to_string(),
                Some("<b>-<mdre-<mode>>-<HOST>".to_string()),
            ),
            ("b".to_string(), Some("B".to_string())),
            ("mode".to_string(), Some("normal".to_string())),
        ];
        let mut add = |t: &str| Ok((t == "mdre-normal").then(|| "N".to_string()));
        substitute_tags(&mut tags, &HashSet::new(), &mut add).unwrap();
        assert_eq!(tags[0].1.as_deref(), Some("B-N-<HOST>"));

        let mut tags = vec![("a".to_string(), Some("x<a>".to_string()))];
        let e = substitute_tags(&mut tags, &HashSet::new(), &mut |_| Ok(None)).unwrap_err();
        assert!(matches!(e, ConfigError::TagRecursion { .. }));

        // Mutual recursion hits the 25-substitution limit.
        let mut tags = vec![
            ("a".to_string(), Some("<b>".to_string())),
            ("b".to_string(), Some("<a>".to_string())),
        ];
        assert!(substitute_tags(&mut tags, &HashSet::new(), &mut |_| Ok(None)).is_err());
    }
}
