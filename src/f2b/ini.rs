//! fail2ban's INI dialect (Python `configparser` with `inline_comment_prefixes=";"`, strict):
//! parsing one file into sections of options, and the typed [`ConfigError`] used by the whole
//! configuration reader. See fail2ban-semantics.md 1.2.

use std::sync::Arc;

/// Any error of the configuration reader. Messages name the file, line, section and key when
/// they are known, so a user can go straight to the bad line.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ConfigError {
    #[error("{file}: cannot read: {msg}")]
    Io { file: String, msg: String },
    #[error("{file}:{line}: file contains no section headers (first line: {text:?})")]
    MissingSectionHeader {
        file: String,
        line: usize,
        text: String,
    },
    #[error("{file}:{line}: cannot parse line {text:?} (expected `key = value` or `[section]`)")]
    Parse {
        file: String,
        line: usize,
        text: String,
    },
    #[error("{file}:{line}: option '{option}' in section '{section}' already exists")]
    DuplicateOption {
        file: String,
        line: usize,
        section: String,
        option: String,
    },
    #[error("{file}:{line}: section '{section}' already exists")]
    DuplicateSection {
        file: String,
        line: usize,
        section: String,
    },
    #[error("{at}: option '{option}' in section '{section}': {detail} (write a literal percent sign as %%)")]
    InterpolationSyntax {
        at: String,
        section: String,
        option: String,
        detail: String,
    },
    #[error("{at}: option '{option}' in section '{section}': %({name})s refers to an option that is not defined (neither in the options given, the section nor [DEFAULT])")]
    InterpolationMissing {
        at: String,
        section: String,
        option: String,
        name: String,
    },
    #[error("{at}: option '{option}' in section '{section}': %(...)s interpolation nested deeper than 10 levels (recursive definition?)")]
    InterpolationDepth {
        at: String,
        section: String,
        option: String,
    },
    #[error("option '{tag}' refers to itself through <{found}> and cannot be resolved (value: {value:?})")]
    TagRecursion {
        tag: String,
        found: String,
        value: String,
    },
    #[error("{file}: includes nested more than {depth} levels deep (include loop through differently written paths?)")]
    IncludeDepth { file: String, depth: usize },
    #[error("found no accessible config files for '{name}' under {basedir}")]
    NoConfigFiles { name: String, basedir: String },
    #[error("base configuration directory {0} does not exist")]
    NoBaseDir(String),
    #[error("wrong filter name or options: {msg} (while parsing {spec:?})")]
    FilterSpec { spec: String, msg: String },
    #[error("filter '{name}': {msg}")]
    Filter { name: String, msg: String },
    #[error("{at}: jail '{jail}', option '{key}' = {value:?}: {msg}")]
    JailValue {
        at: String,
        jail: String,
        key: String,
        value: String,
        msg: String,
    },
}

/// Where a raw value was written: file and line of its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub file: Arc<str>,
    pub line: usize,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// A raw (not interpolated) option value and where it was defined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawValue {
    pub text: String,
    pub origin: Origin,
}

/// Options of one section, in insertion order. Like a Python dict, re-setting a key keeps its
/// first position (this decides the order of spec options and of tag substitution).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OptMap {
    entries: Vec<(String, RawValue)>,
}

impl OptMap {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn get(&self, key: &str) -> Option<&RawValue> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
    pub fn contains(&self, key: &str) -> bool {
        self.get(key).is_some()
    }
    /// Sets `key`, keeping its position if it already exists. Returns the previous value.
    pub fn insert(&mut self, key: String, value: RawValue) -> Option<RawValue> {
        if let Some(slot) = self.entries.iter_mut().find(|(k, _)| *k == key) {
            return Some(std::mem::replace(&mut slot.1, value));
        }
        self.entries.push((key, value));
        None
    }
    pub fn iter(&self) -> impl Iterator<Item = (&str, &RawValue)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(k, _)| k.as_str())
    }
    pub fn len(&self) -> usize {
        self.entries.len()
    }
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// One parsed file: `[DEFAULT]` options and the other sections in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IniFile {
    pub defaults: OptMap,
    pub sections: Vec<(String, OptMap)>,
}

impl IniFile {
    pub fn section(&self, name: &str) -> Option<&OptMap> {
        self.sections
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, s)| s)
    }
}

/// Python's `str.isspace()`: Unicode whitespace plus the ASCII separators 0x1c..0x1f, which
/// Rust's `char::is_whitespace` does not include.
pub(crate) fn py_isspace(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Python's `str.strip()` without arguments.
pub(crate) fn py_strip(s: &str) -> &str {
    s.trim_matches(py_isspace)
}

/// Python's text-mode line splitting (universal newlines): `\r\n`, `\r` and `\n` end a line.
fn split_lines(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let (mut start, mut i) = (0, 0);
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => {
                out.push(&text[start..i]);
                start = i + 1;
            }
            b'\r' => {
                out.push(&text[start..i]);
                if bytes.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    if start < bytes.len() {
        out.push(&text[start..]);
    }
    out
}

/// Where an inline `;` comment starts: at column 0 or after a whitespace character.
fn inline_comment_start(line: &str) -> Option<usize> {
    let mut prev: Option<char> = None;
    for (i, c) in line.char_indices() {
        if c == ';' && (i == 0 || prev.is_some_and(py_isspace)) {
            return Some(i);
        }
        prev = Some(c);
    }
    None
}

/// A section header is `[` + anything + `]` at the start of the (comment-stripped) line; the
/// name runs to the LAST `]`, and text after it is ignored, as with configparser's SECTCRE.
fn section_header(value: &str) -> Option<&str> {
    let rest = value.strip_prefix('[')?;
    let close = rest.rfind(']')?;
    (close > 0).then(|| &rest[..close])
}

/// Parses one file's text. `file` is used in error messages and value origins.
pub fn parse_ini(text: &str, file: &str) -> Result<IniFile, ConfigError> {
    let fname: Arc<str> = Arc::from(file);
    let mut ini = IniFile::default();
    // Multi-line values are collected as lists of lines and joined at the end, like configparser.
    #[derive(Clone, Copy, PartialEq)]
    enum Cur {
        None,
        Default,
        Section(usize),
    }
    let mut cur = Cur::None;
    // (key, value lines, line of the key)
    type Pending = Vec<(String, Vec<String>, usize)>;
    let mut defaults: Pending = Vec::new();
    let mut sections: Vec<(String, Pending)> = Vec::new();
    let mut added_sections: Vec<String> = Vec::new();
    let mut added_options: Vec<(String, String)> = Vec::new();
    let mut sectname = String::new();
    let mut optname: Option<String> = None;
    let mut indent_level = 0usize;
    let mut first_error: Option<ConfigError> = None;

    for (idx, line) in split_lines(text).into_iter().enumerate() {
        let lineno = idx + 1;
        let mut comment_start = inline_comment_start(line);
        let stripped = py_strip(line);
        if stripped.starts_with('#') || stripped.starts_with(';') {
            comment_start = Some(0);
        }
        let value = py_strip(&line[..comment_start.unwrap_or(line.len())]);
        let target: Option<&mut Pending> = match cur {
            Cur::None => None,
            Cur::Default => Some(&mut defaults),
            Cur::Section(i) => Some(&mut sections[i].1),
        };
        if value.is_empty() {
            // An empty line (not a comment) is kept inside a multi-line value.
            if comment_start.is_none() {
                if let (Some(opts), Some(name)) = (target, optname.as_ref()) {
                    if let Some(entry) = opts.iter_mut().rev().find(|(k, _, _)| k == name) {
                        entry.1.push(String::new());
                    }
                }
            }
            continue;
        }
        let cur_indent = line.chars().take_while(|c| py_isspace(*c)).count();
        if let (Some(opts), Some(name), true) =
            (target, optname.as_ref(), cur_indent > indent_level)
        {
            if let Some(entry) = opts.iter_mut().rev().find(|(k, _, _)| k == name) {
                entry.1.push(value.to_string());
            }
            continue;
        }
        indent_level = cur_indent;
        if let Some(header) = section_header(value) {
            sectname = header.to_string();
            if header == "DEFAULT" {
                cur = Cur::Default;
            } else if let Some(i) = sections.iter().position(|(n, _)| n == header) {
                if added_sections.iter().any(|s| s == header) {
                    return Err(ConfigError::DuplicateSection {
                        file: file.to_string(),
                        line: lineno,
                        section: sectname,
                    });
                }
                cur = Cur::Section(i);
            } else {
                sections.push((sectname.clone(), Vec::new()));
                added_sections.push(sectname.clone());
                cur = Cur::Section(sections.len() - 1);
            }
            optname = None;
            continue;
        }
        let opts = match cur {
            Cur::None => {
                return Err(ConfigError::MissingSectionHeader {
                    file: file.to_string(),
                    line: lineno,
                    text: line.to_string(),
                })
            }
            Cur::Default => &mut defaults,
            Cur::Section(i) => &mut sections[i].1,
        };
        // Key and value are separated by the first `=` or `:`.
        let Some(delim) = value.find(['=', ':']) else {
            first_error.get_or_insert(ConfigError::Parse {
                file: file.to_string(),
                line: lineno,
                text: line.to_string(),
            });
            continue;
        };
        let key = py_strip(&value[..delim]).to_lowercase();
        if key.is_empty() {
            first_error.get_or_insert(ConfigError::Parse {
                file: file.to_string(),
                line: lineno,
                text: line.to_string(),
            });
        }
        if added_options
            .iter()
            .any(|(s, o)| *s == sectname && *o == key)
        {
            return Err(ConfigError::DuplicateOption {
                file: file.to_string(),
                line: lineno,
                section: sectname,
                option: key,
            });
        }
        added_options.push((sectname.clone(), key.clone()));
        let val = py_strip(&value[delim + 1..]).to_string();
        if let Some(entry) = opts.iter_mut().find(|(k, _, _)| *k == key) {
            *entry = (key.clone(), vec![val], lineno);
        } else {
            opts.push((key.clone(), vec![val], lineno));
        }
        optname = Some(key);
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    let join = |opts: Pending| {
        let mut map = OptMap::new();
        for (k, lines, line) in opts {
            let joined = lines.join("\n");
            let text = joined.trim_end_matches(py_isspace).to_string();
            map.insert(
                k,
                RawValue {
                    text,
                    origin: Origin {
                        file: fname.clone(),
                        line,
                    },
                },
            );
        }
        map
    };
    ini.defaults = join(defaults);
    ini.sections = sections.into_iter().map(|(n, o)| (n, join(o))).collect();
    Ok(ini)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn val<'a>(ini: &'a IniFile, sec: &str, key: &str) -> &'a str {
        &ini.section(sec).unwrap().get(key).unwrap().text
    }

    #[test]
    fn basic_dialect() {
        let text = "[Definition]\nUpper = X\npre = fail ; note\nsemi = a;b\nhash = a # x\ncolon: v\nk = a=b\n";
        let ini = parse_ini(text, "t.conf").unwrap();
        assert_eq!(val(&ini, "Definition", "upper"), "X");
        assert_eq!(val(&ini, "Definition", "pre"), "fail");
        assert_eq!(val(&ini, "Definition", "semi"), "a;b");
        assert_eq!(val(&ini, "Definition", "hash"), "a # x");
        assert_eq!(val(&ini, "Definition", "colon"), "v");
        assert_eq!(val(&ini, "Definition", "k"), "a=b");
    }

    #[test]
    fn continuation_and_comments() {
        let text = "[Definition]\nfailregex = one\n    two\n    # hidden\n  ; also hidden\n\n    three\nnext = x\n";
        let ini = parse_ini(text, "t.conf").unwrap();
        assert_eq!(val(&ini, "Definition", "failregex"), "one\ntwo\n\nthree");
        assert_eq!(val(&ini, "Definition", "next"), "x");
        let ini = parse_ini("[A]\nx =\n  a\n  b\n\n", "t").unwrap();
        assert_eq!(val(&ini, "A", "x"), "\na\nb");
    }

    #[test]
    fn sections_are_case_sensitive_and_default_is_separate() {
        let ini = parse_ini("[DEFAULT]\na = 1\n[init]\nb = 2\n[Init]\nc = 3\n", "t").unwrap();
        assert_eq!(ini.defaults.get("a").unwrap().text, "1");
        assert!(ini.section("init").unwrap().contains("b"));
        assert!(ini.section("Init").unwrap().contains("c"));
    }

    #[test]
    fn duplicates_are_errors() {
        let e = parse_ini("[Definition]\nfailregex = a\n\nfailregex = b\n", "/x.conf").unwrap_err();
        assert_eq!(
            e.to_string(),
            "/x.conf:4: option 'failregex' in section 'Definition' already exists"
        );
        let e = parse_ini("[A]\n[B]\n[A]\n", "/x.conf").unwrap_err();
        assert!(matches!(e, ConfigError::DuplicateSection { line: 3, .. }));
        // Duplicate option via case folding.
        assert!(parse_ini("[A]\nX = 1\nx = 2\n", "f").is_err());
    }

    #[test]
    fn structural_errors() {
        assert!(matches!(
            parse_ini("a = 1\n", "f").unwrap_err(),
            ConfigError::MissingSectionHeader { line: 1, .. }
        ));
        assert!(matches!(
            parse_ini("[A]\nnot an option\n", "f").unwrap_err(),
            ConfigError::Parse { line: 2, .. }
        ));
    }

    #[test]
    fn header_runs_to_last_bracket_and_origin_is_kept() {
        let ini = parse_ini("# c\n[lt_file] x\nk = v\r\nm = w\r", "f").unwrap();
        let v = ini.section("lt_file").unwrap().get("k").unwrap();
        assert_eq!(v.origin.line, 3);
        assert_eq!(val(&ini, "lt_file", "m"), "w");
    }
}
