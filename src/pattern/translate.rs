//! Python `re` (str pattern, 3.11) to Rust regex syntax.
//!
//! The pattern is parsed with Python's own grammar into a small tree, then printed for
//! several targets:
//! - [`Target::Regular`]: exact, for `regex-automata` (only if the tree has no look-around,
//!   backreference, conditional, atomic group or possessive quantifier);
//! - [`Target::Fancy`]: exact, for `fancy-regex`;
//! - [`Target::Superset`]: regular, accepts every haystack the exact pattern accepts
//!   (look-arounds and word boundaries deleted, backreferences replaced by the referenced
//!   group, both branches of a conditional), used in the combined prefilter automaton;
//! - [`Target::Gate`]: like `Superset` with every assertion deleted and cut before the first
//!   top-level element that can consume a `\n`: a superset of "the pattern matches
//!   `c + "\n"` for some substring `c` of the line" (used for failregexes that run on the
//!   `<F-CONTENT>` of a prefregex).
//!
//! What is exact (see the module tests):
//! - haystacks are `text + "\n"` (fail2ban's single-line buffer); Python's non-MULTILINE `$`
//!   (end, or before a final `\n`) is printed as `(?m:$)`, which is identical on a haystack
//!   whose only `\n` is the last character; `\Z` is `\z`, `^` is `\A`;
//! - `\w` is printed as `[\p{L}\p{N}_]` and `\s` as White_Space plus `\x1c-\x1f`, which is
//!   what Python 3.11's `str.isalnum`/`str.isspace` give (checked over all code points; the
//!   only remaining difference is Unicode 14 (Python) vs Unicode 15 (regex-syntax) tables);
//! - `\b`/`\B` in the `Regular` target use Rust's word definition, which equals Python's on
//!   ASCII haystacks only: [`Translated::has_word_boundary`] tells the caller to use the
//!   `Fancy` form (Python's exact `\w` via look-around) on non-ASCII haystacks;
//! - Python-only syntax: `{,n}`, literal `{`, `[` inside classes, `\<`/`\>` (literals), octal
//!   escapes, `(?P<n>`/`(?P=n)`, `(?(n)y|n)`; Rust-only syntax (`&&`, `--`, `~~` in classes,
//!   `\<`) never reaches Rust because every class item is printed as an escaped code point.
//! - not supported (error): `\N{...}`, the `L` flag, `(?x)` other than at the start.
//!
//! Before printing the exact targets, a negative look-ahead `(?!w s)` directly before a
//! repetition of a character set containing `w` but not `s`, itself directly before an `s`,
//! is replaced by an equivalent regular expression (`rewrite_except_word`; fail2ban's
//! asterisk `SecurityEvent` failregex has two). The superset targets print the parsed tree.

use std::fmt::Write as _;

/// fail2ban's IPv6 building block; its `(?<=:):` is always true (every branch of the
/// repeated group before it ends in `:`), so it is replaced by `:` before parsing.
pub const IP6_RE: &str = r"(?:[0-9a-fA-F]{1,4}::?|::){1,7}(?:[0-9a-fA-F]{1,4}|(?<=:):)";
const IP6_RE_REGULAR: &str = r"(?:[0-9a-fA-F]{1,4}::?|::){1,7}(?:[0-9a-fA-F]{1,4}|:)";

/// Python's `\w` for str patterns (`str.isalnum()` or `_`): exactly categories L*, N* and `_`.
const PY_WORD: &str = r"\p{L}\p{N}_";
/// Python's `\s` for str patterns (`str.isspace()`): White_Space plus U+001C..U+001F.
const PY_SPACE: &str =
    r"\t-\r\x1c- \x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}";
const PY_DIGIT: &str = r"\p{Nd}";

/// A Python construct that cannot be translated, or a Python syntax error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{construct} at offset {offset}: {message}")]
pub struct TranslateError {
    /// The offending construct, as written.
    pub construct: String,
    /// Character offset in the (tag-expanded) pattern.
    pub offset: usize,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Flags {
    i: bool,
    m: bool,
    s: bool,
    x: bool,
    a: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Perl {
    Digit,
    Word,
    Space,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum ClassItem {
    Range(char, char),
    Perl(Perl, bool /*negated*/),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RepKind {
    Greedy,
    Lazy,
    Possessive,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Empty,
    Lit(char, bool /*icase*/),
    Dot(bool /*dotall*/),
    Class {
        items: Vec<ClassItem>,
        neg: bool,
        icase: bool,
        ascii: bool,
    },
    Perl(Perl, bool /*neg*/, bool /*ascii*/),
    /// The single-character set `set` (a case-sensitive `Class` or a `Perl`) without the
    /// characters `lo..=hi`; only made by [`rewrite_except_word`] (Python has no syntax for
    /// it).
    ClassMinus {
        set: Box<Node>,
        lo: char,
        hi: char,
    },
    /// Only in [`Translated::marked`]: where a rewritten `(?!w s)` stood, followed by its
    /// repetition; printed as `\b{start-half}w\b{end-half}` (see [`Translated::emit_marked`]).
    ExceptMark(Vec<char>),
    Bol(bool /*multiline*/),
    Eol(bool /*multiline*/),
    StartText,
    EndText,
    WordB {
        neg: bool,
        ascii: bool,
    },
    Capture(usize, Box<Node>),
    Group(Box<Node>),
    Atomic(Box<Node>),
    Look {
        ahead: bool,
        neg: bool,
        body: Box<Node>,
    },
    Backref(usize),
    Cond {
        group: usize,
        yes: Box<Node>,
        no: Box<Node>,
    },
    Repeat {
        node: Box<Node>,
        min: u32,
        max: Option<u32>,
        kind: RepKind,
    },
    Concat(Vec<Node>),
    Alt(Vec<Node>),
}

/// Output flavour, see the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Regular,
    Fancy,
    Superset,
    Gate,
}

/// A parsed Python pattern, printable for every [`Target`].
#[derive(Debug, Clone)]
pub struct Translated {
    /// The tree printed for the exact targets, after [`rewrite_except_word`].
    root: Node,
    /// The tree as parsed, printed for the superset targets (look-arounds are deleted there
    /// anyway, so the rewrite would only make the prefilter automaton bigger).
    original: Node,
    /// The tree as parsed with each rewritten look-ahead replaced by an
    /// [`Node::ExceptMark`] (`None` when [`rewrite_except_word`] changed nothing).
    marked: Option<Node>,
    /// Capture group names by group index (index 0 is the whole match, always `None`).
    pub group_names: Vec<Option<String>>,
    /// Constructs that need a backtracking engine (`None` when regular).
    pub non_regular: Vec<&'static str>,
    /// Contains `\b` or `\B` (Unicode): the `Regular` form is exact on ASCII haystacks only.
    pub has_word_boundary: bool,
}

impl Translated {
    /// True when regex-automata can run the pattern exactly.
    pub fn is_regular(&self) -> bool {
        self.non_regular.is_empty()
    }

    /// Named groups in Python's `groupindex` order (group number order).
    pub fn names(&self) -> impl Iterator<Item = (usize, &str)> {
        self.group_names
            .iter()
            .enumerate()
            .filter_map(|(i, n)| n.as_deref().map(|n| (i, n)))
    }

    pub fn has_group(&self, name: &str) -> bool {
        self.names().any(|(_, n)| n == name)
    }

    /// Prints the pattern for `target`. `Regular` on a non-regular pattern is an error.
    pub fn emit(&self, target: Target) -> Result<String, TranslateError> {
        self.emit_for(target, false)
    }

    /// The `Superset` form with every class of several characters printed as "any
    /// character": a superset of the superset, for what needs only its literals (the scan's
    /// prefilter). A required factor of a superset is required by the pattern too, and the
    /// classes (`<HOST>`'s, Python's Unicode `\w`) were most of the cost of parsing the
    /// printed pattern.
    pub fn emit_literal_superset(&self) -> Result<String, TranslateError> {
        Ok(print(&self.original, Target::Superset, true))
    }

    /// The `Regular` form with each look-ahead that [`rewrite_except_word`] removed printed
    /// as a mark, `\b{start-half}` + `w` + `\b{end-half}`, before its repetition `C{m,M}`:
    /// the skeleton matcher reads the pair as "the maximal run of `C`, if it is not `w`",
    /// which is what the rewrite proves the pair matches, without the rewrite's long
    /// alternation. (fail2ban's patterns never print those half word boundaries.) `None`
    /// when there is nothing to mark or the pattern is not regular. Not a pattern to run.
    pub fn emit_marked(&self) -> Option<String> {
        let marked = self.marked.as_ref()?;
        if !self.is_regular() {
            return None;
        }
        Some(print(marked, Target::Regular, false))
    }

    /// The `Fancy` form of the tree as parsed (without [`rewrite_except_word`]).
    #[cfg(test)]
    fn emit_original_fancy(&self) -> String {
        print(&self.original, Target::Fancy, false)
    }

    /// Has a non-MULTILINE `$` (end, or before a final `\n`): on a haystack of several lines
    /// its exact form needs a look-ahead ([`Translated::emit_for`]).
    pub fn has_text_end_dollar(&self) -> bool {
        fn walk(n: &Node) -> bool {
            match n {
                Node::Eol(m) => !*m,
                Node::Capture(_, b) | Node::Group(b) | Node::Atomic(b) => walk(b),
                Node::Look { body, .. } => walk(body),
                Node::Cond { yes, no, .. } => walk(yes) || walk(no),
                Node::Repeat { node, .. } => walk(node),
                Node::Concat(v) | Node::Alt(v) => v.iter().any(walk),
                _ => false,
            }
        }
        walk(&self.root)
    }

    /// Like [`Translated::emit`]; with `multiline_haystack` the pattern is exact on haystacks
    /// of several lines (fail2ban's multi-line buffer): a non-MULTILINE `$` is printed as
    /// `(?=\n?\z)`, which only the `Fancy` target can run (`Regular` is then an error when
    /// [`Translated::has_text_end_dollar`]).
    pub fn emit_for(
        &self,
        target: Target,
        multiline_haystack: bool,
    ) -> Result<String, TranslateError> {
        if target == Target::Regular && multiline_haystack && self.has_text_end_dollar() {
            return Err(TranslateError {
                construct: "$".into(),
                offset: 0,
                message: "end of text before a final newline needs a look-ahead".into(),
            });
        }
        if target == Target::Regular && !self.is_regular() {
            return Err(TranslateError {
                construct: self.non_regular.join(", "),
                offset: 0,
                message: "needs a backtracking engine".into(),
            });
        }
        let mut e = Emitter {
            target,
            multiline_haystack,
            any_class: false,
            groups: Vec::new(),
            out: String::new(),
        };
        let root = match target {
            Target::Regular | Target::Fancy => &self.root,
            Target::Superset | Target::Gate => &self.original,
        };
        collect_groups(root, &mut e.groups);
        if target == Target::Gate {
            e.gate(root);
        } else {
            e.node(root);
        }
        Ok(e.out)
    }
}

/// Parses a tag-expanded Python pattern. `multiline` is `re.MULTILINE`.
pub fn translate(pattern: &str, multiline: bool) -> Result<Translated, TranslateError> {
    let pat = pattern.replace(IP6_RE, IP6_RE_REGULAR);
    let mut p = Parser {
        chars: pat.chars().collect(),
        pos: 0,
        flags: Flags {
            m: multiline,
            ..Flags::default()
        },
        names: vec![None],
        open: Vec::new(),
        has_wb: false,
    };
    p.global_flags()?;
    let root = p.alternation()?;
    if p.pos < p.chars.len() {
        return Err(p.err(")", "unbalanced parenthesis"));
    }
    let original = root.clone();
    let rewritten = std::cell::Cell::new(false);
    let root = rewrite_except_word(root, &|p| {
        rewritten.set(true);
        p.regular()
    });
    let marked = rewritten
        .get()
        .then(|| rewrite_except_word(original.clone(), &|p| p.marked()));
    let mut non_regular = Vec::new();
    collect_non_regular(&root, &mut non_regular);
    non_regular.sort_unstable();
    non_regular.dedup();
    Ok(Translated {
        root,
        original,
        marked,
        group_names: p.names,
        non_regular,
        has_word_boundary: p.has_wb,
    })
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
    flags: Flags,
    names: Vec<Option<String>>,
    /// Groups currently open (Python forbids backreferences to them).
    open: Vec<usize>,
    has_wb: bool,
}

impl Parser {
    fn err(&self, construct: &str, message: &str) -> TranslateError {
        TranslateError {
            construct: construct.to_string(),
            offset: self.pos,
            message: message.to_string(),
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek_at(&self, k: usize) -> Option<char> {
        self.chars.get(self.pos + k).copied()
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn eat_str(&mut self, s: &str) -> bool {
        let n = s.chars().count();
        if self.chars.len() >= self.pos + n
            && self.chars[self.pos..self.pos + n]
                .iter()
                .copied()
                .eq(s.chars())
        {
            self.pos += n;
            true
        } else {
            false
        }
    }

    /// Verbose mode: whitespace and `#` comments between tokens are ignored.
    fn skip_verbose(&mut self) {
        if !self.flags.x {
            return;
        }
        while let Some(c) = self.peek() {
            if c.is_whitespace() {
                self.pos += 1;
            } else if c == '#' {
                while let Some(c) = self.peek() {
                    self.pos += 1;
                    if c == '\n' {
                        break;
                    }
                }
            } else {
                break;
            }
        }
    }

    /// `(?aimsux)` groups at the very start apply to the whole pattern (Python 3.11 rejects
    /// them anywhere else).
    fn global_flags(&mut self) -> Result<(), TranslateError> {
        loop {
            let save = self.pos;
            if !self.eat_str("(?") {
                return Ok(());
            }
            let mut any = false;
            while let Some(c) = self.peek() {
                if !self.set_flag(c, true)? {
                    break;
                }
                any = true;
                self.pos += 1;
            }
            if !any || !self.eat(')') {
                self.pos = save;
                return Ok(());
            }
        }
    }

    /// Applies flag letter `c`; returns false if `c` is not a flag letter.
    fn set_flag(&mut self, c: char, on: bool) -> Result<bool, TranslateError> {
        match c {
            'i' => self.flags.i = on,
            'm' => self.flags.m = on,
            's' => self.flags.s = on,
            'x' => self.flags.x = on,
            'a' if on => self.flags.a = true,
            'u' if on => {}
            'L' => return Err(self.err("(?L)", "the L flag is only valid for bytes patterns")),
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn alternation(&mut self) -> Result<Node, TranslateError> {
        let mut branches = vec![self.concat()?];
        while self.eat('|') {
            branches.push(self.concat()?);
        }
        Ok(if branches.len() == 1 {
            branches.pop().unwrap_or(Node::Empty)
        } else {
            Node::Alt(branches)
        })
    }

    fn concat(&mut self) -> Result<Node, TranslateError> {
        let mut items = Vec::new();
        loop {
            self.skip_verbose();
            match self.peek() {
                None | Some('|') | Some(')') => break,
                _ => {}
            }
            let start = self.pos;
            let atom = self.atom()?;
            let atom = self.quantifiers(atom, start)?;
            items.push(atom);
        }
        Ok(match items.len() {
            0 => Node::Empty,
            1 => items.pop().unwrap_or(Node::Empty),
            _ => Node::Concat(items),
        })
    }

    /// Parses an optional quantifier after `atom` (Python: `*`, `+`, `?`, `{m,n}`, then `?`
    /// for lazy or `+` for possessive).
    fn quantifiers(&mut self, atom: Node, start: usize) -> Result<Node, TranslateError> {
        self.skip_verbose();
        let here = self.pos;
        let (min, max) = match self.peek() {
            Some('*') => {
                self.pos += 1;
                (0, None)
            }
            Some('+') => {
                self.pos += 1;
                (1, None)
            }
            Some('?') => {
                self.pos += 1;
                (0, Some(1))
            }
            Some('{') => match self.counted()? {
                Some(mm) => mm,
                None => return Ok(atom),
            },
            _ => return Ok(atom),
        };
        if matches!(
            atom,
            Node::Bol(_)
                | Node::Eol(_)
                | Node::StartText
                | Node::EndText
                | Node::WordB { .. }
                | Node::Empty
        ) && !matches!(atom, Node::Empty if self.chars.get(start) == Some(&'('))
        {
            self.pos = here;
            return Err(self.err(&self.chars[here].to_string(), "nothing to repeat"));
        }
        let kind = if self.eat('?') {
            RepKind::Lazy
        } else if self.eat('+') {
            RepKind::Possessive
        } else {
            RepKind::Greedy
        };
        self.skip_verbose();
        if matches!(self.peek(), Some('*' | '+' | '?'))
            || (self.peek() == Some('{') && self.looks_counted())
        {
            return Err(self.err(&self.chars[self.pos].to_string(), "multiple repeat"));
        }
        Ok(Node::Repeat {
            node: Box::new(atom),
            min,
            max,
            kind,
        })
    }

    fn looks_counted(&mut self) -> bool {
        let save = self.pos;
        let r = matches!(self.counted(), Ok(Some(_)));
        self.pos = save;
        r
    }

    /// `{m}`, `{m,}`, `{,n}`, `{m,n}` with ASCII digits; anything else is a literal `{`
    /// (returns `None` with the position unchanged).
    fn counted(&mut self) -> Result<Option<(u32, Option<u32>)>, TranslateError> {
        let save = self.pos;
        self.pos += 1; // '{'
        let mut lo = String::new();
        while let Some(c @ '0'..='9') = self.peek() {
            lo.push(c);
            self.pos += 1;
        }
        let hi = if self.eat(',') {
            let mut h = String::new();
            while let Some(c @ '0'..='9') = self.peek() {
                h.push(c);
                self.pos += 1;
            }
            h
        } else {
            lo.clone()
        };
        if !self.eat('}') || (lo.is_empty() && hi.is_empty() && self.chars[save + 1] == '}') {
            self.pos = save;
            return Ok(None);
        }
        let parse = |s: &str, p: &Self| -> Result<u32, TranslateError> {
            s.parse::<u32>()
                .map_err(|_| p.err(s, "the repetition number is too large"))
        };
        let min = if lo.is_empty() { 0 } else { parse(&lo, self)? };
        let max = if hi.is_empty() {
            None
        } else {
            Some(parse(&hi, self)?)
        };
        if let Some(m) = max {
            if m < min {
                return Err(self.err(
                    &format!("{{{lo},{hi}}}"),
                    "min repeat greater than max repeat",
                ));
            }
        }
        Ok(Some((min, max)))
    }

    fn lit(&self, c: char) -> Node {
        Node::Lit(c, self.flags.i)
    }

    fn atom(&mut self) -> Result<Node, TranslateError> {
        let c = match self.peek() {
            Some(c) => c,
            None => return Ok(Node::Empty),
        };
        match c {
            '(' => self.group(),
            '[' => self.class(),
            '.' => {
                self.pos += 1;
                Ok(Node::Dot(self.flags.s))
            }
            '^' => {
                self.pos += 1;
                Ok(Node::Bol(self.flags.m))
            }
            '$' => {
                self.pos += 1;
                Ok(Node::Eol(self.flags.m))
            }
            '*' | '+' | '?' => Err(self.err(&c.to_string(), "nothing to repeat")),
            '{' => {
                if self.looks_counted() {
                    return Err(self.err("{", "nothing to repeat"));
                }
                self.pos += 1;
                Ok(self.lit('{'))
            }
            '\\' => self.escape(),
            _ => {
                self.pos += 1;
                Ok(self.lit(c))
            }
        }
    }

    fn escape(&mut self) -> Result<Node, TranslateError> {
        let start = self.pos;
        self.pos += 1;
        let c = match self.peek() {
            Some(c) => c,
            None => return Err(self.err("\\", "bad escape (end of pattern)")),
        };
        self.pos += 1;
        let a = self.flags.a;
        Ok(match c {
            'A' => Node::StartText,
            'Z' => Node::EndText,
            'b' | 'B' => {
                self.has_wb = true;
                Node::WordB {
                    neg: c == 'B',
                    ascii: a,
                }
            }
            'd' => Node::Perl(Perl::Digit, false, a),
            'D' => Node::Perl(Perl::Digit, true, a),
            'w' => Node::Perl(Perl::Word, false, a),
            'W' => Node::Perl(Perl::Word, true, a),
            's' => Node::Perl(Perl::Space, false, a),
            'S' => Node::Perl(Perl::Space, true, a),
            '1'..='9' => {
                // Three octal digits make an octal escape, otherwise 1-2 digits are a group.
                let d2 = self.peek();
                let d3 = self.peek_at(1);
                if c <= '7' && matches!(d2, Some('0'..='7')) && matches!(d3, Some('0'..='7')) {
                    self.pos += 2;
                    let s: String = [c, d2.unwrap_or('0'), d3.unwrap_or('0')].iter().collect();
                    let v = u32::from_str_radix(&s, 8).unwrap_or(0);
                    if v > 0o377 {
                        return Err(self.err(
                            &format!("\\{s}"),
                            "octal escape value outside of range 0-0o377",
                        ));
                    }
                    return Ok(self.lit(char::from_u32(v).unwrap_or('\0')));
                }
                let mut n = c.to_digit(10).unwrap_or(0) as usize;
                if let Some(d @ '0'..='9') = d2 {
                    self.pos += 1;
                    n = n * 10 + d.to_digit(10).unwrap_or(0) as usize;
                }
                self.backref(n, start)?
            }
            _ => {
                let ch = self.simple_escape(c, start)?;
                self.lit(ch)
            }
        })
    }

    fn backref(&mut self, n: usize, start: usize) -> Result<Node, TranslateError> {
        let text: String = self.chars[start..self.pos].iter().collect();
        if n >= self.names.len() {
            return Err(self.err(&text, "invalid group reference"));
        }
        if self.open.contains(&n) {
            return Err(self.err(&text, "cannot refer to an open group"));
        }
        Ok(Node::Backref(n))
    }

    /// Escapes valid both inside and outside classes that stand for one character
    /// (`c` already consumed). Python: ASCII letters/digits not listed are errors, every
    /// other character is itself (so `\<` is a literal `<`).
    fn simple_escape(&mut self, c: char, start: usize) -> Result<char, TranslateError> {
        let hex = |p: &mut Self, n: usize| -> Result<char, TranslateError> {
            let s: String = p
                .chars
                .get(p.pos..p.pos + n)
                .map(|x| x.iter().collect())
                .unwrap_or_default();
            if s.chars().count() != n || !s.chars().all(|h| h.is_ascii_hexdigit()) {
                return Err(p.err(&format!("\\{c}{s}"), "incomplete escape"));
            }
            p.pos += n;
            u32::from_str_radix(&s, 16)
                .ok()
                .and_then(char::from_u32)
                .ok_or_else(|| p.err(&format!("\\{c}{s}"), "bad escape (invalid code point)"))
        };
        Ok(match c {
            'a' => '\x07',
            'f' => '\x0c',
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            'v' => '\x0b',
            'x' => hex(self, 2)?,
            'u' => hex(self, 4)?,
            'U' => hex(self, 8)?,
            '0' => {
                let mut v = 0u32;
                for _ in 0..2 {
                    match self.peek() {
                        Some(d @ '0'..='7') => {
                            v = v * 8 + d.to_digit(8).unwrap_or(0);
                            self.pos += 1;
                        }
                        _ => break,
                    }
                }
                char::from_u32(v).unwrap_or('\0')
            }
            'N' => return Err(self.err("\\N{...}", "named Unicode escapes are not supported")),
            _ if c.is_ascii_alphanumeric() => {
                let text: String = self.chars[start..self.pos].iter().collect();
                return Err(self.err(&text, "bad escape"));
            }
            _ => c,
        })
    }

    fn group_name(&mut self, end: char) -> Result<String, TranslateError> {
        let mut name = String::new();
        loop {
            match self.peek() {
                None => return Err(self.err(&name, "missing group name terminator")),
                Some(c) if c == end => {
                    self.pos += 1;
                    break;
                }
                Some(c) => {
                    name.push(c);
                    self.pos += 1;
                }
            }
        }
        Ok(name)
    }

    fn group(&mut self) -> Result<Node, TranslateError> {
        let start = self.pos;
        self.pos += 1; // '('
        if !self.eat('?') {
            return self.capture(None);
        }
        let c = self
            .peek()
            .ok_or_else(|| self.err("(?", "unexpected end of pattern"))?;
        match c {
            ':' => {
                self.pos += 1;
                let body = self.group_body()?;
                Ok(Node::Group(Box::new(body)))
            }
            'P' => {
                self.pos += 1;
                if self.eat('<') {
                    let name = self.group_name('>')?;
                    if !is_identifier(&name) {
                        return Err(self.err(&name, "bad character in group name"));
                    }
                    if self
                        .names
                        .iter()
                        .any(|n| n.as_deref() == Some(name.as_str()))
                    {
                        return Err(self.err(&name, "redefinition of group name"));
                    }
                    self.capture(Some(name))
                } else if self.eat('=') {
                    let name = self.group_name(')')?;
                    let idx = self
                        .names
                        .iter()
                        .position(|n| n.as_deref() == Some(name.as_str()));
                    match idx {
                        Some(i) => self.backref(i, start),
                        None => Err(self.err(&format!("(?P={name})"), "unknown group name")),
                    }
                } else {
                    Err(self.err("(?P", "unknown extension"))
                }
            }
            '#' => {
                while let Some(c) = self.peek() {
                    self.pos += 1;
                    if c == ')' {
                        return Ok(Node::Empty);
                    }
                }
                Err(self.err("(?#", "missing ), unterminated comment"))
            }
            '=' | '!' => {
                self.pos += 1;
                let body = self.group_body()?;
                Ok(Node::Look {
                    ahead: true,
                    neg: c == '!',
                    body: Box::new(body),
                })
            }
            '<' => {
                self.pos += 1;
                let neg = match self.peek() {
                    Some('=') => false,
                    Some('!') => true,
                    _ => return Err(self.err("(?<", "unknown extension")),
                };
                self.pos += 1;
                let body = self.group_body()?;
                Ok(Node::Look {
                    ahead: false,
                    neg,
                    body: Box::new(body),
                })
            }
            '>' => {
                self.pos += 1;
                let body = self.group_body()?;
                Ok(Node::Atomic(Box::new(body)))
            }
            '(' => {
                self.pos += 1;
                let name = self.group_name(')')?;
                let group = if let Ok(n) = name.parse::<usize>() {
                    if n == 0 || n >= self.names.len() {
                        return Err(self.err(&name, "invalid group reference"));
                    }
                    n
                } else {
                    self.names
                        .iter()
                        .position(|x| x.as_deref() == Some(name.as_str()))
                        .ok_or_else(|| self.err(&name, "unknown group name"))?
                };
                let yes = self.concat()?;
                let no = if self.eat('|') {
                    self.concat()?
                } else {
                    Node::Empty
                };
                if self.peek() == Some('|') {
                    return Err(self.err("(?(", "conditional backref with more than two branches"));
                }
                if !self.eat(')') {
                    return Err(self.err("(?(", "missing ), unterminated subpattern"));
                }
                Ok(Node::Cond {
                    group,
                    yes: Box::new(yes),
                    no: Box::new(no),
                })
            }
            _ => {
                // Scoped flags `(?flags-flags:...)`.
                let saved = self.flags;
                let mut any = false;
                while let Some(c) = self.peek() {
                    if !self.set_flag(c, true)? {
                        break;
                    }
                    any = true;
                    self.pos += 1;
                }
                if self.eat('-') {
                    while let Some(c) = self.peek() {
                        if c == 'a' || c == 'u' || !self.set_flag(c, false)? {
                            break;
                        }
                        any = true;
                        self.pos += 1;
                    }
                }
                if !any {
                    return Err(self.err(&format!("(?{c}"), "unknown extension"));
                }
                if self.peek() == Some(')') {
                    self.flags = saved;
                    return Err(self.err(
                        "(?flags)",
                        "global flags not at the start of the expression",
                    ));
                }
                if !self.eat(':') {
                    self.flags = saved;
                    return Err(self.err("(?flags", "missing :"));
                }
                let body = self.alternation();
                self.flags = saved;
                let body = body?;
                if !self.eat(')') {
                    return Err(self.err("(", "missing ), unterminated subpattern"));
                }
                Ok(Node::Group(Box::new(body)))
            }
        }
    }

    fn group_body(&mut self) -> Result<Node, TranslateError> {
        let saved = self.flags;
        let body = self.alternation();
        self.flags = saved;
        let body = body?;
        if !self.eat(')') {
            return Err(self.err("(", "missing ), unterminated subpattern"));
        }
        Ok(body)
    }

    fn capture(&mut self, name: Option<String>) -> Result<Node, TranslateError> {
        let idx = self.names.len();
        self.names.push(name);
        self.open.push(idx);
        let body = self.group_body();
        self.open.retain(|&g| g != idx);
        Ok(Node::Capture(idx, Box::new(body?)))
    }

    fn class(&mut self) -> Result<Node, TranslateError> {
        let start = self.pos;
        self.pos += 1;
        let neg = self.eat('^');
        let mut items = Vec::new();
        let mut first = true;
        loop {
            let c = match self.peek() {
                Some(c) => c,
                None => {
                    self.pos = start;
                    return Err(self.err("[", "unterminated character set"));
                }
            };
            if c == ']' && !first {
                self.pos += 1;
                break;
            }
            first = false;
            let lo = self.class_atom()?;
            let lo_char = match lo {
                ClassItem::Range(a, _) => a,
                perl => {
                    if self.peek() == Some('-') && self.peek_at(1).is_some_and(|c| c != ']') {
                        return Err(self.err("-", "bad character range"));
                    }
                    items.push(perl);
                    continue;
                }
            };
            if self.peek() == Some('-') && self.peek_at(1).is_some_and(|c| c != ']') {
                self.pos += 1;
                match self.class_atom()? {
                    ClassItem::Range(hi, _) => {
                        if hi < lo_char {
                            return Err(self.err(&format!("{lo_char}-{hi}"), "bad character range"));
                        }
                        items.push(ClassItem::Range(lo_char, hi));
                    }
                    ClassItem::Perl(..) => return Err(self.err("-", "bad character range")),
                }
            } else {
                items.push(ClassItem::Range(lo_char, lo_char));
            }
        }
        Ok(Node::Class {
            items,
            neg,
            icase: self.flags.i,
            ascii: self.flags.a,
        })
    }

    fn class_atom(&mut self) -> Result<ClassItem, TranslateError> {
        let c = self.peek().unwrap_or('\0');
        self.pos += 1;
        if c != '\\' {
            return Ok(ClassItem::Range(c, c));
        }
        let start = self.pos - 1;
        let e = self
            .peek()
            .ok_or_else(|| self.err("\\", "bad escape (end of pattern)"))?;
        self.pos += 1;
        Ok(match e {
            'd' => ClassItem::Perl(Perl::Digit, false),
            'D' => ClassItem::Perl(Perl::Digit, true),
            'w' => ClassItem::Perl(Perl::Word, false),
            'W' => ClassItem::Perl(Perl::Word, true),
            's' => ClassItem::Perl(Perl::Space, false),
            'S' => ClassItem::Perl(Perl::Space, true),
            'b' => ClassItem::Range('\x08', '\x08'),
            '1'..='7' => {
                // Octal: up to 3 digits inside a class.
                let mut v = e.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    match self.peek() {
                        Some(d @ '0'..='7') => {
                            v = v * 8 + d.to_digit(8).unwrap_or(0);
                            self.pos += 1;
                        }
                        _ => break,
                    }
                }
                if v > 0o377 {
                    return Err(self.err("\\ooo", "octal escape value outside of range 0-0o377"));
                }
                let ch = char::from_u32(v).unwrap_or('\0');
                ClassItem::Range(ch, ch)
            }
            _ => {
                let ch = self.simple_escape(e, start)?;
                ClassItem::Range(ch, ch)
            }
        })
    }
}

fn is_identifier(s: &str) -> bool {
    let mut it = s.chars();
    match it.next() {
        Some(c) if c == '_' || c.is_alphabetic() => {}
        _ => return false,
    }
    it.all(|c| c == '_' || c.is_alphanumeric())
}

fn collect_groups<'a>(n: &'a Node, out: &mut Vec<(usize, &'a Node)>) {
    match n {
        Node::Capture(i, b) => {
            out.push((*i, b));
            collect_groups(b, out);
        }
        Node::Group(b) | Node::Atomic(b) => collect_groups(b, out),
        Node::Look { body, .. } => collect_groups(body, out),
        Node::Cond { yes, no, .. } => {
            collect_groups(yes, out);
            collect_groups(no, out);
        }
        Node::Repeat { node, .. } => collect_groups(node, out),
        Node::Concat(v) | Node::Alt(v) => v.iter().for_each(|x| collect_groups(x, out)),
        _ => {}
    }
}

/// Constructs of `n` that need a backtracking engine.
fn collect_non_regular(n: &Node, out: &mut Vec<&'static str>) {
    match n {
        Node::Look { ahead, neg, body } => {
            out.push(match (ahead, neg) {
                (true, false) => "look-ahead",
                (true, true) => "negative look-ahead",
                (false, false) => "look-behind",
                (false, true) => "negative look-behind",
            });
            collect_non_regular(body, out);
        }
        Node::Backref(_) => out.push("backreference"),
        Node::Atomic(b) => {
            out.push("atomic group");
            collect_non_regular(b, out);
        }
        Node::Cond { yes, no, .. } => {
            out.push("conditional");
            collect_non_regular(yes, out);
            collect_non_regular(no, out);
        }
        Node::Repeat { node, kind, .. } => {
            if *kind == RepKind::Possessive {
                out.push("possessive quantifier");
            }
            collect_non_regular(node, out);
        }
        Node::Capture(_, b) | Node::Group(b) => collect_non_regular(b, out),
        Node::Concat(v) | Node::Alt(v) => v.iter().for_each(|x| collect_non_regular(x, out)),
        _ => {}
    }
}

/// Replaces the negative look-aheads of the shape `(?!w s)C{m,M}s…` (inside one
/// concatenation), with their repetition, by `with` of the pieces, everywhere in the tree:
/// by an equivalent regular expression ([`ExceptWord::regular`]), or by a mark for the
/// quick path's skeleton matcher ([`ExceptWord::marked`]).
///
/// Conditions (checked by [`except_word_parts`]): `C` is a single-character set, every
/// character of the literal `w` (non-empty) is in `C`, the literal `s` is not in `C`, and the
/// element after the repetition must begin with `s`. Then in any successful match the
/// repetition consumes exactly the maximal run of `C` characters at the look-ahead's position
/// (a shorter run is followed by a `C` character, not `s`; a longer one is impossible), so the
/// three elements match from a position in at most one way, whatever the greediness. And the
/// look-ahead then fails exactly when that run equals `w` (if the text starts with `w s`, the
/// maximal run is `w` since `s` is not in `C`; if the run is `w`, `s` follows). Hence
/// "look-ahead, repetition" is replaced by "`C` strings of the repetition's lengths other
/// than `w`" ([`except_word`]), which matches the same text with the same single way through
/// the rest of the pattern: the verdict and every capture span are unchanged (no group can be
/// inside `C`).
fn rewrite_except_word(n: Node, with: &dyn Fn(&ExceptWord<'_>) -> Node) -> Node {
    let b = |x: Box<Node>| Box::new(rewrite_except_word(*x, with));
    match n {
        Node::Capture(i, x) => Node::Capture(i, b(x)),
        Node::Group(x) => Node::Group(b(x)),
        Node::Atomic(x) => Node::Atomic(b(x)),
        Node::Look { ahead, neg, body } => Node::Look {
            ahead,
            neg,
            body: b(body),
        },
        Node::Cond { group, yes, no } => Node::Cond {
            group,
            yes: b(yes),
            no: b(no),
        },
        Node::Repeat {
            node,
            min,
            max,
            kind,
        } => Node::Repeat {
            node: b(node),
            min,
            max,
            kind,
        },
        Node::Alt(v) => Node::Alt(
            v.into_iter()
                .map(|x| rewrite_except_word(x, with))
                .collect(),
        ),
        Node::Concat(v) => {
            let mut v: Vec<Node> = v
                .into_iter()
                .map(|x| rewrite_except_word(x, with))
                .collect();
            let mut out: Vec<Node> = Vec::with_capacity(v.len());
            let mut i = 0;
            while i < v.len() {
                if let (Some(next), Some(after)) = (v.get(i + 1), v.get(i + 2)) {
                    if let Some(parts) = except_word_parts(&v[i], next, after) {
                        out.push(with(&parts));
                        i += 2;
                        continue;
                    }
                }
                // Moved out: only the elements after `i` are looked at again.
                out.push(std::mem::replace(&mut v[i], Node::Empty));
                i += 1;
            }
            Node::Concat(out)
        }
        other => other,
    }
}

/// The pieces of a rewritable `(?!w s)C{min,max}` followed by `s…` (see
/// [`rewrite_except_word`]).
struct ExceptWord<'a> {
    set: &'a Node,
    word: Vec<char>,
    min: u32,
    max: Option<u32>,
    kind: RepKind,
}

impl ExceptWord<'_> {
    /// The look-ahead as an [`Node::ExceptMark`], then the repetition unchanged (the
    /// regular replacement when `w` is not ASCII: the skeleton matcher sees ASCII only).
    fn marked(&self) -> Node {
        if !self.word.iter().all(char::is_ascii) {
            return self.regular();
        }
        Node::Concat(vec![
            Node::ExceptMark(self.word.clone()),
            Node::Repeat {
                node: Box::new(self.set.clone()),
                min: self.min,
                max: self.max,
                kind: self.kind,
            },
        ])
    }

    /// The regular replacement of the look-ahead and the repetition.
    fn regular(&self) -> Node {
        let n = self.word.len();
        let too_short = n < self.min as usize;
        let too_long = self.max.is_some_and(|x| (x as usize) < n);
        if too_short || too_long {
            // The repetition can never take `w`: the look-ahead always holds.
            return self.repeat(self.min, self.max).unwrap_or(Node::Empty);
        }
        if self.min <= 1 && self.max.is_none() && self.word.iter().all(char::is_ascii) {
            return self.compact();
        }
        self.except_word(0).unwrap_or(Node::Empty)
    }

    /// `C+` (or `C*` when `min` is 0) without the ASCII word `w = c1..cn`, with `C` written
    /// only three times: Unicode classes are large automata (`\w` is some 700 NFA states),
    /// so [`ExceptWord::except_word`], which repeats `C` twice per character of `w`, makes
    /// regex-automata slower than fancy-regex on the original. A string other than `w` either
    /// - leaves `w` at some position `k` through a non-ASCII character: `Q N C*`, where
    ///   `Q` is `c1..ck` for any `k < n` and `N` the non-ASCII part of `C` (`w` is ASCII);
    /// - leaves it through an ASCII character other than `c(k+1)`, or goes on after all of
    ///   `w`: `T C*` with `T = A1 | c1 (A2 | c2 (… (An | cn C)))`, `Ak` the ASCII characters
    ///   of `C` other than `ck` (exact: [`set_contains`] decides every ASCII character);
    /// - is a non-empty proper prefix of `w` (`P`), or empty when `min` is 0.
    fn compact(&self) -> Node {
        let w = &self.word;
        let n = w.len();
        let lit = |c: char| Node::Lit(c, false);
        let opt = |x: Node| Node::Repeat {
            node: Box::new(Node::Group(Box::new(x))),
            min: 0,
            max: Some(1),
            kind: RepKind::Greedy,
        };
        // `c1 (c2 (… (c(n-1))?…)?)?` without the last `?`: the non-empty proper prefixes.
        let prefixes = (n >= 2).then(|| {
            let mut p = lit(w[n - 2]);
            for &c in w[..n - 2].iter().rev() {
                p = Node::Concat(vec![lit(c), opt(p)]);
            }
            p
        });
        let mut starts = Vec::new();
        if self.has_non_ascii() {
            let non_ascii = Node::ClassMinus {
                set: Box::new(self.set.clone()),
                lo: '\0',
                hi: '\x7f',
            };
            starts.push(match &prefixes {
                Some(p) => Node::Concat(vec![opt(p.clone()), non_ascii]),
                None => non_ascii,
            });
        }
        let mut t = Node::Concat(vec![lit(w[n - 1]), self.set.clone()]);
        for k in (0..n).rev() {
            if k < n - 1 {
                t = Node::Concat(vec![lit(w[k]), Node::Group(Box::new(t))]);
            }
            if let Some(a) = self.ascii_except(w[k]) {
                t = Node::Alt(vec![a, t]);
            }
        }
        starts.push(t);
        let mut alts = vec![Node::Concat(vec![
            Node::Alt(starts),
            Node::Repeat {
                node: Box::new(self.set.clone()),
                min: 0,
                max: None,
                kind: self.kind,
            },
        ])];
        alts.extend(prefixes);
        if self.min == 0 {
            alts.push(Node::Empty);
        }
        Node::Alt(alts)
    }

    /// The ASCII characters of `C` other than `c`, as a class (`None` when there are none).
    fn ascii_except(&self, c: char) -> Option<Node> {
        let mut items: Vec<ClassItem> = Vec::new();
        for x in (0u8..0x80).map(char::from) {
            if x == c || set_contains(self.set, x) != Some(true) {
                continue;
            }
            match items.last_mut() {
                Some(ClassItem::Range(_, hi)) if (*hi as u32) + 1 == x as u32 => *hi = x,
                _ => items.push(ClassItem::Range(x, x)),
            }
        }
        (!items.is_empty()).then_some(Node::Class {
            items,
            neg: false,
            icase: false,
            ascii: false,
        })
    }

    /// `C` may contain non-ASCII characters (conservative: true unless it is certainly
    /// ASCII-only).
    fn has_non_ascii(&self) -> bool {
        match self.set {
            Node::Perl(_, neg, ascii) => *neg || !*ascii,
            Node::Class {
                items, neg: false, ..
            } => items.iter().any(|it| match it {
                ClassItem::Range(_, hi) => !hi.is_ascii(),
                ClassItem::Perl(_, _) => true,
            }),
            _ => true,
        }
    }

    /// `C{lo,hi}`, or `None` for `C{0}` (the caller drops the branch).
    fn repeat(&self, lo: u32, hi: Option<u32>) -> Option<Node> {
        match (lo, hi) {
            (_, Some(0)) => None,
            (1, Some(1)) => Some(self.set.clone()),
            _ => Some(Node::Repeat {
                node: Box::new(self.set.clone()),
                min: lo,
                max: hi,
                kind: self.kind,
            }),
        }
    }

    /// The `C` strings `t` with `k + len(t)` in `[min, max]` and `w[..k] + t != w`, where
    /// `min <= len(w) <= max` (`None` when there are none). The branches start with distinct
    /// characters (or are empty), so each string has one way through.
    fn except_word(&self, k: usize) -> Option<Node> {
        let n = self.word.len();
        let done = k as u32;
        let min_rest = self.min.saturating_sub(done);
        if k == n {
            return self.repeat(min_rest.max(1), self.max.map(|x| x - done));
        }
        let c = self.word[k];
        let mut alts = Vec::new();
        if let Some(rest) = self.except_word(k + 1) {
            alts.push(Node::Concat(vec![Node::Lit(c, false), rest]));
        }
        let other = Node::ClassMinus {
            set: Box::new(self.set.clone()),
            lo: c,
            hi: c,
        };
        alts.push(
            match self.repeat(min_rest.saturating_sub(1), self.max.map(|x| x - done - 1)) {
                Some(tail) => Node::Concat(vec![other, tail]),
                None => other,
            },
        );
        if min_rest == 0 {
            alts.push(Node::Empty);
        }
        Some(if alts.len() == 1 {
            alts.pop().unwrap_or(Node::Empty)
        } else {
            Node::Alt(alts)
        })
    }
}

/// Recognises `look`, `rep`, `after` as a rewritable shape (see [`rewrite_except_word`]).
fn except_word_parts<'a>(look: &Node, rep: &'a Node, after: &Node) -> Option<ExceptWord<'a>> {
    let Node::Look {
        ahead: true,
        neg: true,
        body,
    } = look
    else {
        return None;
    };
    let Node::Repeat {
        node: set,
        min,
        max,
        kind: kind @ (RepKind::Greedy | RepKind::Lazy),
    } = rep
    else {
        return None;
    };
    let mut lit = Vec::new();
    if !plain_literal(body, &mut lit) {
        return None;
    }
    let (&s, word) = lit.split_last()?;
    if word.is_empty() || first_char(after) != Some(s) {
        return None;
    }
    if set_contains(set, s)? || !word.iter().all(|&c| set_contains(set, c) == Some(true)) {
        return None;
    }
    Some(ExceptWord {
        set,
        word: word.to_vec(),
        min: *min,
        max: *max,
        kind: *kind,
    })
}

/// A character that a case-insensitive pattern still matches only as itself. Python folds
/// some letters to non-ASCII ones (`k` to U+212A KELVIN SIGN, `s` to U+017F), so only ASCII
/// non-letters are certain.
fn caseless(c: char) -> bool {
    c.is_ascii() && !c.is_ascii_alphabetic()
}

/// Appends the characters of `n` if it is a plain literal string (no case folding).
fn plain_literal(n: &Node, out: &mut Vec<char>) -> bool {
    match n {
        Node::Lit(c, icase) if !*icase || caseless(*c) => {
            out.push(*c);
            true
        }
        Node::Group(b) => plain_literal(b, out),
        Node::Concat(v) => v.iter().all(|x| plain_literal(x, out)),
        _ => false,
    }
}

/// The character every match of `n` starts with, if `n` must start with one literal
/// (matched without case folding).
fn first_char(n: &Node) -> Option<char> {
    match n {
        Node::Lit(c, icase) if !*icase || caseless(*c) => Some(*c),
        Node::Group(b) | Node::Capture(_, b) => first_char(b),
        Node::Concat(v) => first_char(v.first()?),
        Node::Repeat { node, min, .. } if *min >= 1 => first_char(node),
        _ => None,
    }
}

/// Whether the single-character set `set` contains `c` with Python's semantics, or `None`
/// when `set` is not such a set or the answer is not certain (case folding; a non-ASCII
/// character against Unicode `\w`/`\d`/`\s`, whose Python tables this module only
/// approximates by Rust's).
fn set_contains(set: &Node, c: char) -> Option<bool> {
    fn perl(p: Perl, ascii: bool, c: char) -> Option<bool> {
        if !c.is_ascii() {
            return if ascii { Some(false) } else { None };
        }
        Some(match p {
            Perl::Digit => c.is_ascii_digit(),
            Perl::Word => c.is_ascii_alphanumeric() || c == '_',
            Perl::Space => {
                matches!(c, '\t'..='\r' | ' ') || (!ascii && matches!(c, '\x1c'..='\x1f'))
            }
        })
    }
    match set {
        Node::Perl(p, neg, ascii) => perl(*p, *ascii, c).map(|x| x != *neg),
        Node::Class {
            items,
            neg,
            icase: false,
            ascii,
        } => {
            let mut unsure = false;
            for it in items {
                let hit = match it {
                    ClassItem::Range(a, b) => Some(*a <= c && c <= *b),
                    ClassItem::Perl(p, pneg) => perl(*p, *ascii, c).map(|x| x != *pneg),
                };
                match hit {
                    Some(true) => return Some(!*neg),
                    Some(false) => {}
                    None => unsure = true,
                }
            }
            if unsure {
                None
            } else {
                Some(*neg)
            }
        }
        _ => None,
    }
}

/// Can `n` consume a `\n`?
fn can_newline(n: &Node, groups: &[(usize, &Node)]) -> bool {
    match n {
        Node::Lit(c, _) => *c == '\n',
        Node::Dot(s) => *s,
        Node::Class { items, neg, .. } => class_has_newline(items) != *neg,
        Node::Perl(p, neg, _) => (*p == Perl::Space) != *neg,
        Node::ClassMinus { set, lo, hi } => {
            !(*lo..=*hi).contains(&'\n') && can_newline(set, groups)
        }
        Node::Capture(_, b) | Node::Group(b) | Node::Atomic(b) => can_newline(b, groups),
        Node::Backref(g) => groups.iter().any(|(i, b)| i == g && can_newline(b, groups)),
        Node::Cond { yes, no, .. } => can_newline(yes, groups) || can_newline(no, groups),
        Node::Repeat { node, .. } => can_newline(node, groups),
        Node::Concat(v) | Node::Alt(v) => v.iter().any(|x| can_newline(x, groups)),
        _ => false,
    }
}

fn class_has_newline(items: &[ClassItem]) -> bool {
    items.iter().any(|it| match it {
        ClassItem::Range(a, b) => *a <= '\n' && '\n' <= *b,
        ClassItem::Perl(p, neg) => (*p == Perl::Space) != *neg,
    })
}

struct Emitter<'a> {
    target: Target,
    /// Exact on haystacks of several lines (see [`Translated::emit_for`]).
    multiline_haystack: bool,
    /// Every class of more than one character prints as "any character" (see
    /// [`Translated::emit_literal_superset`]).
    any_class: bool,
    groups: Vec<(usize, &'a Node)>,
    out: String,
}

/// `root` printed for `target` on single-line haystacks (`any_class`: see
/// [`Translated::emit_literal_superset`]).
fn print(root: &Node, target: Target, any_class: bool) -> String {
    let mut e = Emitter {
        target,
        multiline_haystack: false,
        any_class,
        groups: Vec::new(),
        out: String::new(),
    };
    collect_groups(root, &mut e.groups);
    e.node(root);
    e.out
}

/// The character of a class that holds exactly one, case-sensitively.
fn single_char(n: &Node) -> Option<char> {
    match n {
        Node::Class {
            items,
            neg: false,
            icase: false,
            ..
        } => match items[..] {
            [ClassItem::Range(a, b)] if a == b => Some(a),
            _ => None,
        },
        _ => None,
    }
}

fn push_cp(out: &mut String, c: char) {
    let _ = write!(out, "\\x{{{:x}}}", c as u32);
}

impl Emitter<'_> {
    fn relaxed(&self) -> bool {
        self.target == Target::Gate
    }

    fn superset(&self) -> bool {
        matches!(self.target, Target::Superset | Target::Gate)
    }

    fn perl_body(p: Perl, ascii: bool) -> &'static str {
        match (p, ascii) {
            (Perl::Digit, false) => PY_DIGIT,
            (Perl::Word, false) => PY_WORD,
            (Perl::Space, false) => PY_SPACE,
            (Perl::Digit, true) => "0-9",
            (Perl::Word, true) => "0-9A-Za-z_",
            (Perl::Space, true) => r"\t-\r ",
        }
    }

    /// Prints `\d`/`\w`/`\s` (or their negations) as class items. In the superset targets
    /// the Unicode sets are widened to "ASCII part + every non-ASCII character" (or narrowed
    /// to the ASCII part where the item sits in a negated class), which keeps the prefilter a
    /// superset while making it a small byte-level automaton.
    fn perl_item(&mut self, p: Perl, neg: bool, ascii: bool, positive_class: bool) {
        if ascii || !self.superset() {
            if neg {
                let _ = write!(self.out, "[^{}]", Self::perl_body(p, ascii));
            } else {
                self.out.push_str(Self::perl_body(p, ascii));
            }
            return;
        }
        let ascii_part = Self::perl_body(p, true);
        let ascii_part = if p == Perl::Space {
            "\\t-\\r\\x1c- "
        } else {
            ascii_part
        };
        // Widen when the item's own polarity (class polarity, flipped by `neg`) is positive.
        let widen = positive_class != neg;
        let body = if widen {
            format!("{ascii_part}\\x{{80}}-\\x{{10FFFF}}")
        } else {
            ascii_part.to_string()
        };
        if neg {
            let _ = write!(self.out, "[^{body}]");
        } else {
            self.out.push_str(&body);
        }
    }

    fn node(&mut self, n: &Node) {
        if self.any_class {
            // A one-character class is that character, as regex-syntax reads it.
            if let Some(c) = single_char(n) {
                return self.node(&Node::Lit(c, false));
            }
            if matches!(
                n,
                Node::Dot(_) | Node::Class { .. } | Node::Perl(..) | Node::ClassMinus { .. }
            ) {
                return self.out.push_str("(?s:.)");
            }
        }
        match n {
            Node::Empty => self.out.push_str("(?:)"),
            Node::Lit(c, icase) => {
                let has_case = c.to_lowercase().ne(c.to_uppercase());
                if *icase && has_case {
                    self.out.push_str("(?i:");
                }
                if c.is_alphanumeric() || *c == '_' || *c == ' ' {
                    self.out.push(*c);
                } else {
                    push_cp(&mut self.out, *c);
                }
                if *icase && has_case {
                    self.out.push(')');
                }
            }
            Node::Dot(s) => self.out.push_str(if *s { "(?s:.)" } else { "." }),
            Node::Class {
                items,
                neg,
                icase,
                ascii,
            } => {
                if *icase {
                    self.out.push_str("(?i:");
                }
                self.out.push('[');
                if *neg {
                    self.out.push('^');
                }
                if items.is_empty() {
                    // Python: `[^]...` cannot happen (first `]` is literal); an empty set
                    // cannot be written in Python either, but keep Rust happy.
                    self.out.push_str(r"\x{0}&&\x{1}");
                }
                for it in items {
                    match it {
                        ClassItem::Range(a, b) => {
                            push_cp(&mut self.out, *a);
                            if a != b {
                                self.out.push('-');
                                push_cp(&mut self.out, *b);
                            }
                        }
                        ClassItem::Perl(p, pneg) => self.perl_item(*p, *pneg, *ascii, !*neg),
                    }
                }
                self.out.push(']');
                if *icase {
                    self.out.push(')');
                }
            }
            Node::Perl(p, neg, ascii) => {
                self.out.push('[');
                self.perl_item(*p, *neg, *ascii, true);
                self.out.push(']');
            }
            Node::ClassMinus { set, lo, hi } => {
                // `set` prints as a bracketed class (it is never case-insensitive), so it
                // nests in a Rust class intersection (fancy-regex passes classes through).
                self.out.push('[');
                self.node(set);
                self.out.push_str("&&[^");
                push_cp(&mut self.out, *lo);
                if lo != hi {
                    self.out.push('-');
                    push_cp(&mut self.out, *hi);
                }
                self.out.push_str("]]");
            }
            Node::ExceptMark(w) => {
                self.out.push_str(r"(?:\b{start-half}");
                w.iter().for_each(|&c| push_cp(&mut self.out, c));
                self.out.push_str(r"\b{end-half})");
            }
            Node::Bol(m) => {
                if !self.relaxed() {
                    self.out.push_str(if *m { "(?m:^)" } else { r"\A" });
                }
            }
            Node::Eol(m) => {
                if self.relaxed() {
                    // deleted in the gate
                } else if !*m && self.multiline_haystack && self.target == Target::Fancy {
                    self.out.push_str(r"(?=\n?\z)");
                } else {
                    self.out.push_str("(?m:$)");
                }
            }
            Node::StartText => {
                if !self.relaxed() {
                    self.out.push_str(r"\A");
                }
            }
            Node::EndText => {
                if !self.relaxed() {
                    self.out.push_str(r"\z");
                }
            }
            Node::WordB { neg, ascii } => match self.target {
                Target::Superset | Target::Gate => {}
                Target::Regular => self.out.push_str(match (*neg, *ascii) {
                    (false, false) => r"\b",
                    (true, false) => r"\B",
                    (false, true) => r"(?-u:\b)",
                    (true, true) => r"(?-u:\B)",
                }),
                Target::Fancy => {
                    let w = Self::perl_body(Perl::Word, *ascii);
                    if *neg {
                        let _ = write!(self.out, "(?:(?<=[{w}])(?=[{w}])|(?<![{w}])(?![{w}]))");
                    } else {
                        let _ = write!(self.out, "(?:(?<=[{w}])(?![{w}])|(?<![{w}])(?=[{w}]))");
                    }
                }
            },
            Node::Capture(i, b) => {
                match self.target {
                    Target::Regular => self.out.push('('),
                    Target::Fancy => {
                        let _ = write!(self.out, "(?P<g{i}>");
                    }
                    _ => self.out.push_str("(?:"),
                }
                self.node(b);
                self.out.push(')');
            }
            Node::Group(b) => {
                self.out.push_str("(?:");
                self.node(b);
                self.out.push(')');
            }
            Node::Atomic(b) => {
                self.out.push_str(if self.target == Target::Fancy {
                    "(?>"
                } else {
                    "(?:"
                });
                self.node(b);
                self.out.push(')');
            }
            Node::Look { ahead, neg, body } => {
                if self.target == Target::Fancy {
                    self.out.push_str(match (ahead, neg) {
                        (true, false) => "(?=",
                        (true, true) => "(?!",
                        (false, false) => "(?<=",
                        (false, true) => "(?<!",
                    });
                    self.node(body);
                    self.out.push(')');
                }
            }
            Node::Backref(g) => {
                if self.target == Target::Fancy {
                    let _ = write!(self.out, "\\k<g{g}>");
                } else if let Some((_, b)) = self.groups.iter().find(|(i, _)| i == g) {
                    let b: &Node = b;
                    self.out.push_str("(?:");
                    self.node(b);
                    self.out.push(')');
                }
            }
            Node::Cond { group, yes, no } => {
                if self.target == Target::Fancy {
                    let _ = write!(self.out, "(?(<g{group}>)");
                    self.node(yes);
                    self.out.push('|');
                    self.node(no);
                    self.out.push(')');
                } else {
                    self.out.push_str("(?:");
                    self.node(yes);
                    self.out.push('|');
                    self.node(no);
                    self.out.push(')');
                }
            }
            Node::Repeat {
                node,
                min,
                max,
                kind,
            } => {
                let possessive = *kind == RepKind::Possessive && self.target == Target::Fancy;
                if possessive {
                    self.out.push_str("(?>");
                }
                self.out.push_str("(?:");
                self.node(node);
                self.out.push(')');
                match (min, max) {
                    (0, None) => self.out.push('*'),
                    (1, None) => self.out.push('+'),
                    (0, Some(1)) => self.out.push('?'),
                    (m, None) => {
                        let _ = write!(self.out, "{{{m},}}");
                    }
                    (m, Some(x)) if m == x => {
                        let _ = write!(self.out, "{{{m}}}");
                    }
                    (m, Some(x)) => {
                        let _ = write!(self.out, "{{{m},{x}}}");
                    }
                }
                if *kind == RepKind::Lazy && !self.superset() {
                    self.out.push('?');
                }
                if possessive {
                    self.out.push(')');
                }
            }
            Node::Concat(v) => v.iter().for_each(|x| self.node(x)),
            Node::Alt(v) => {
                self.out.push_str("(?:");
                for (k, x) in v.iter().enumerate() {
                    if k > 0 {
                        self.out.push('|');
                    }
                    self.node(x);
                }
                self.out.push(')');
            }
        }
    }

    /// Prints the prefix-closed relaxation of `n` (see [`Target::Gate`]); returns true
    /// when the output was cut (nothing after it may be printed).
    fn gate(&mut self, n: &Node) -> bool {
        let groups = self.groups.clone();
        if !can_newline(n, &groups) {
            self.node(n);
            return false;
        }
        match n {
            Node::Concat(v) => {
                for x in v {
                    if self.gate(x) {
                        return true;
                    }
                }
                false
            }
            Node::Alt(v) => {
                self.out.push_str("(?:");
                for (k, x) in v.iter().enumerate() {
                    if k > 0 {
                        self.out.push('|');
                    }
                    self.gate(x);
                }
                self.out.push(')');
                true
            }
            Node::Capture(_, b) | Node::Group(b) | Node::Atomic(b) => {
                self.out.push_str("(?:");
                self.gate(b);
                self.out.push(')');
                true
            }
            // A repeated element, a class or literal that can take the `\n`: cut here.
            _ => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(p: &str) -> Translated {
        translate(p, false).unwrap_or_else(|e| panic!("{p}: {e}"))
    }

    fn rx(s: &str) -> regex_automata::meta::Regex {
        regex_automata::meta::Regex::new(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn fancy(s: &str) -> fancy_regex::Regex {
        fancy_regex::Regex::new(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn m(p: &str, hay: &str) -> bool {
        let tr = t(p);
        let f = fancy(&tr.emit(Target::Fancy).unwrap())
            .is_match(hay)
            .unwrap();
        let s = rx(&tr.emit(Target::Superset).unwrap()).is_match(hay);
        assert!(!f || s, "superset of {p} rejects {hay:?}");
        if tr.is_regular() {
            let r = rx(&tr.emit(Target::Regular).unwrap()).is_match(hay);
            if hay.is_ascii() || !tr.has_word_boundary {
                assert_eq!(r, f, "{p} on {hay:?}");
            }
        }
        f
    }

    #[test]
    fn python_only_syntax() {
        assert!(m(r"^\(\d{,3}\)$", "(12)\n"));
        assert!(!m(r"^\(\d{,3}\)$", "(1234)\n"));
        assert!(m(r"\({{(?:\d+,){3}\d+},\d+}\)", "({{1,2,3,4},5})\n"));
        assert!(m(r"(Horde|{[^}]+})", "{x}\n"));
        assert!(m(r"^a[^[]*b$", "axxb\n"));
        assert!(m(r"\<\S+@\S+\.\S+\>", "<a@b.c>\n"));
        assert!(!m(r"\<W\>", "W\n"));
        assert!(m(r"a\Z", "xa"));
        assert!(!m(r"a\Z", "xa\n"));
        assert!(m(r"\101\0", "A\0"));
        assert!(m(r"(?P<x>ab)-(?P=x)", "ab-ab\n"));
        assert!(!m(r"(?P<x>ab)-(?P=x)", "ab-ac\n"));
        assert!(m(r"(a)?(?(1)b|c)", "c\n"));
        assert!(m(r"[a&&b]", "&\n"));
        assert!(m(r"[--]", "-\n"));
        assert!(m(r"[~~]", "~\n"));
        assert!(m(r"x{}", "x{}\n"));
        assert!(m(r"x{a}", "x{a}\n"));
        assert!(m(r"x{,}", "xxx\n"));
        assert!(m(r"[]a]", "]\n"));
        assert!(m(r"[a-]", "-\n"));
    }

    #[test]
    fn dollar_before_final_newline() {
        assert!(m(r"^a$", "a\n"));
        assert!(!m(r"^a$", "ab\n"));
        assert!(m(r"^a\s$", "a\n"));
        assert!(m(r"^a\s*$", "a \n"));
    }

    #[test]
    fn unicode_classes_follow_python() {
        assert!(m(r"^\w$", "²\n"));
        assert!(!m(r"^\w$", "\u{301}\n"));
        assert!(m(r"^\s$", "\x1c\n"));
        assert!(m(r"^\d$", "٣\n"));
        assert!(!m(r"a\b", "a²"));
        assert!(m(r"a\b", "a\u{301}"));
        assert!(m(r"(?a)^\w$", "a\n"));
        assert!(!m(r"(?a)^\w$", "é\n"));
    }

    #[test]
    fn errors_name_the_construct() {
        let e = translate(r"a\q", false).unwrap_err();
        assert_eq!(e.construct, r"\q");
        assert!(translate(r"(?P<a>x)(?P<a>y)", false).is_err());
        assert!(translate(r"a**", false).is_err());
        assert!(translate(r"x(?i)y", false).is_err());
        assert!(translate(r"(?i)y", false).is_ok());
        assert!(translate(r"[z-a]", false).is_err());
        assert!(translate(r"(?P=nope)", false).is_err());
        assert!(translate(r"(a", false).is_err());
    }

    #[test]
    fn ip6_lookbehind_is_regular() {
        let tr = t(&format!("^(?P<ip6>{IP6_RE})$"));
        assert!(tr.is_regular());
        assert!(m(&format!("^(?P<ip6>{IP6_RE})$"), "2001:db8::\n"));
    }

    #[test]
    fn gate_cuts_before_newline_consumers() {
        let tr = t(r"^foo \S+ bar\s*$");
        assert_eq!(
            tr.emit(Target::Gate).unwrap(),
            r"foo (?:[[^\t-\r\x1c- ]])+ bar"
        );
        let tr = t(r"^x(?:a|b\n)c");
        assert_eq!(tr.emit(Target::Gate).unwrap(), "x(?:(?:a|b))");
    }

    #[test]
    fn group_names_in_order() {
        let tr = t(r"(?P<a>x)(y)(?P<b>z)");
        let names: Vec<_> = tr.names().collect();
        assert_eq!(names, vec![(1, "a"), (3, "b")]);
    }

    type Spans = Option<Vec<Option<(usize, usize)>>>;

    /// The original tree through fancy-regex, the rewritten tree through regex-automata
    /// (when regular) and through fancy-regex: compiled once, compared per haystack.
    struct Agree {
        p: String,
        orig: fancy_regex::Regex,
        regular: Option<regex_automata::meta::Regex>,
        rewritten: fancy_regex::Regex,
    }

    impl Agree {
        fn new(p: &str) -> Agree {
            let tr = t(p);
            Agree {
                p: p.to_string(),
                orig: fancy(&tr.emit_original_fancy()),
                regular: tr
                    .is_regular()
                    .then(|| rx(&tr.emit(Target::Regular).unwrap())),
                rewritten: fancy(&tr.emit(Target::Fancy).unwrap()),
            }
        }

        fn fancy_spans(re: &fancy_regex::Regex, hay: &str) -> Spans {
            let c = re
                .captures(hay)
                .unwrap_or_else(|e| panic!("{hay:?}: {e}"))?;
            Some(
                (0..c.len())
                    .map(|i| c.get(i).map(|m| (m.start(), m.end())))
                    .collect(),
            )
        }

        /// Checks every engine on `hay`; returns whether the original matches.
        fn check(&self, hay: &str) -> bool {
            let want = Self::fancy_spans(&self.orig, hay);
            if let Some(r) = &self.regular {
                let mut caps = r.create_captures();
                r.captures(hay, &mut caps);
                let got = caps.is_match().then(|| {
                    (0..caps.group_len())
                        .map(|i| caps.get_group(i).map(|s| (s.start, s.end)))
                        .collect::<Vec<_>>()
                });
                assert_eq!(got, want, "regular {} on {hay:?}", self.p);
            }
            let got = Self::fancy_spans(&self.rewritten, hay);
            assert_eq!(got, want, "rewritten fancy {} on {hay:?}", self.p);
            want.is_some()
        }
    }

    /// Deterministic haystacks over `alphabet` (xorshift), lengths 0..=max_len.
    fn haystacks(alphabet: &[&str], n: usize, max_len: u64) -> Vec<String> {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        (0..n)
            .map(|_| {
                let len = next() % (max_len + 1);
                let mut s: String = (0..len)
                    .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                    .collect();
                if next() % 2 == 0 {
                    s.push('\n');
                }
                s
            })
            .collect()
    }

    #[test]
    fn except_word_lookahead_becomes_regular() {
        let cases = [
            r"(?!ab=)\w+=",
            r",(?!ab=)\w+=",
            r"^(?:,(?!ab=)\w+=(\w*))*$",
            r"^(?:,(?!ab=)\w+?=(\w*))*?$",
            r"(?!ab=)\w*=",
            r"x(?!ab=)\w*?=",
            r"(?!abc=)\w{2,}=",
            r"(?!abc=)\w{3,}=",
            r"(?!abc=)\w{1,3}=",
            r"(?!abc=)\w{2,5}?=",
            r"(?!abc=)\w{3}=",
            r"(?!ab=)\w{3,}=",
            r"(?!abc=)\w{1,2}=",
            r"(?!ab=)[a-c1]+=",
            r#"(?!ab=)[^=,"]+="#,
            r"(?!ab=)[^\W1]+=",
            r"(?a)(?!ab=)\w+=",
            r"(?!a_1=)\w+=",
            r"(?!ab=)\w+(=(\w))",
            r"(?!ab=)\w+(?:=\w)+",
            r"(?i)(?!1_=)\w+=",
            r"(?!ab=)\w+=(?!c)",
            r"(?!a(?:b=))\w+=",
            r"(?!é=)[éa]+=",
            r#"^S="(?:F|I)"(?:(?:,(?!ab=)\w+="[^"]*")*|.*?),ab="(\w+)"(?:,(?!ab=)\w+="[^"]*")*$"#,
        ];
        let alphabet = [
            "a", "b", "c", "=", ",", "\"", "_", "1", "é", "A", "x", " ", "²", "€",
        ];
        let hays = haystacks(&alphabet, 1500, 12);
        let fixed = [
            "ab=", "a=", "abc=", "abcd=", "b=", "=", ",ab=,a=", "xab=", "xa=", "ab", "aab=",
        ];
        for p in cases {
            let tr = t(p);
            let lookaheads_left = p.contains("=(?!c)");
            assert_eq!(
                tr.is_regular(),
                !lookaheads_left,
                "{p}: {:?} {}",
                tr.non_regular,
                tr.emit(Target::Fancy).unwrap()
            );
            let a = Agree::new(p);
            for h in fixed
                .iter()
                .map(|s| s.to_string())
                .chain(hays.iter().cloned())
            {
                a.check(&h);
            }
        }
        let tr = t(r"(?!ab=)\w+=(?!c)");
        assert_eq!(tr.non_regular, vec!["negative look-ahead"]);
    }

    /// The marked form keeps the look-ahead as a mark before its unchanged repetition,
    /// only where the rewrite applies.
    #[test]
    fn marked_form_marks_rewritten_look_aheads_only() {
        let tr = t(r"^a(?:,(?!ab=)\w+=x)*:\w+$");
        let m = tr.emit_marked().expect("one rewrite");
        assert_eq!(m.matches(r"\b{start-half}").count(), 1, "{m}");
        assert!(
            m.contains(r"\b{start-half}\x{61}\x{62}\b{end-half})(?:[\p{L}\p{N}_])+"),
            "{m}"
        );
        regex_syntax::Parser::new().parse(&m).expect("parses");
        assert_eq!(t(r"^a\w+=x").emit_marked(), None);
        // Non-regular patterns are left to the DFAs and the engine.
        assert_eq!(t(r"^(?!ab=)\w+=(?!c)").emit_marked(), None);
    }

    #[test]
    fn except_word_keeps_inexact_shapes() {
        for p in [
            r"(?!ab)\w+=",          // s = `b` is in C
            r"(?!ab=)\w+:",         // something else follows
            r"(?!ab=)\w+",          // nothing follows
            r"(?!ab=)\w+(?:=|:)",   // an alternation follows
            r"(?!a=b)\w+b",         // `=` of w is not in C
            r"(?!=)\w+=",           // w empty
            r"(?i)(?!ab=)\w+=",     // case folding
            r"(?!ab=)(?i:\w+=)",    // the class is not the direct repetition... and folded
            r"(?!ab=)[ab=]+=",      // s in C
            r"(?!ab=)\w++=",        // possessive
            r"(?=ab=)\w+=",         // positive look-ahead
            r"(?!ab=)(\w)+=",       // a group inside the repetition
            r"(?!é=)\w+=",          // Python's Unicode `\w` on non-ASCII is not decided here
            r"(?!ab=)(?i:[a-z])+=", // folded class
            r"(?<!ab=)\w+=",        // look-behind
            r"(?!ab=)x\w+=",        // not adjacent
        ] {
            let tr = t(p);
            assert!(!tr.is_regular(), "{p} became regular");
            for h in ["ab=", "a=", "ab:", "Ab=", "abb", "ab", "xab="] {
                m(p, &format!("{h}\n"));
            }
        }
    }

    /// The stock asterisk `SecurityEvent` failregex, read from /etc/fail2ban at run time, on
    /// the content of fail2ban's sample log lines and variations of them.
    #[test]
    fn except_word_on_asterisk_security_events() {
        let Ok(conf) = std::fs::read_to_string("/etc/fail2ban/filter.d/asterisk.conf") else {
            return;
        };
        let Ok(log) = std::fs::read_to_string(
            "/usr/lib/python3/dist-packages/fail2ban/tests/files/logs/asterisk",
        ) else {
            return;
        };
        let raw = conf
            .lines()
            .map(str::trim)
            .map(|l| l.strip_prefix("failregex =").map_or(l, str::trim))
            .find(|l| l.starts_with("^SecurityEvent="))
            .expect("asterisk.conf has the SecurityEvent failregex");
        let p = super::super::tags::expand_tags(raw, super::super::UseDns::Warn).unwrap();
        let tr = t(&p);
        assert!(tr.is_regular(), "{:?}", tr.non_regular);
        // The compact form keeps the automaton small (the per-character form of
        // `ExceptWord::except_word` made 19k states, slower than fancy-regex).
        let regular = tr.emit(Target::Regular).unwrap();
        let states = regex_automata::nfa::thompson::NFA::new(&regular)
            .unwrap()
            .states()
            .len();
        assert!(states < 5000, "{states} NFA states");
        let mut hays = Vec::new();
        for line in log.lines() {
            let Some(at) = line.find("SecurityEvent=") else {
                continue;
            };
            let content = &line[at..];
            hays.push(content.to_string());
            for (a, b) in [
                (",RemoteAddress=", ",RemoteAddres="),
                (",RemoteAddress=", ",RemoteAddressX="),
                (",RemoteAddress=", ",XRemoteAddress="),
                (",RemoteAddress=", ",remoteAddress="),
                (",LocalAddress=", ",RemoteAddress="),
                (
                    ",Severity=",
                    ",RemoteAddress=\"IPV4/UDP/9.9.9.9/5060\",Severity=",
                ),
                ("\",", "\" ,"),
                ("SessionID", "Session-ID"),
            ] {
                hays.push(content.replacen(a, b, 1));
            }
            hays.push(format!("{content},RemoteAddress=\"IPV4/UDP/1.2.3.4/1\""));
            hays.push(format!("{content},Remote=\"x\""));
        }
        assert!(hays.len() > 50);
        let a = Agree::new(&p);
        let mut matched = 0;
        for h in &hays {
            for hay in [h.clone(), format!("{h}\n")] {
                matched += usize::from(a.check(&hay));
            }
        }
        assert!(matched > 10, "only {matched} matches");
    }
}
