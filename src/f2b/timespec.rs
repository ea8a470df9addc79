//! fail2ban's time values (`bantime`, `findtime`, `bantime.maxtime`, ...): unit words turned
//! into multiplications, adjacent groups added, then a small arithmetic expression evaluated.
//! See fail2ban-semantics.md 6.1. fail2ban rewrites the text and hands it to Python's `eval`;
//! we do the same rewriting steps and evaluate `+ - * /`, parentheses and numbers only.

/// A time value that cannot be evaluated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid time value {value:?}: {msg} (examples: 600, 10m, 1h 30m, 1d12h, 1w, 3600*2, -1)")]
pub struct TimeError {
    pub value: String,
    pub msg: String,
}

/// Unit words, longest first within each group, and their multiplier text. The groups are
/// applied in this order (days first, minutes after months, so `mo` is a month and `m` a minute).
const UNITS: [(&[&str], &str); 7] = [
    (&["days", "day", "da", "dd", "d"], "*86400"),
    (&["weeks", "week", "wee", "we", "ww", "w"], "*604800"),
    (&["months", "month", "mon", "mo"], "*2629800.0"),
    (&["years", "year", "yea", "ye", "yy", "y"], "*31557600.0"),
    (&["seconds", "second", "sec", "se", "ss", "s"], "*1"),
    (&["minutes", "minute", "min", "mi", "mm", "m"], "*60"),
    (&["hours", "hour", "hou", "ho", "hh", "h"], "*3600"),
];

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Step 1: a digit right after a letter starts a new group (`1d12h` -> `1d 12h`).
fn split_groups(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    let mut prev: Option<char> = None;
    for c in s.chars() {
        if c.is_ascii_digit() && prev.is_some_and(|p| p.is_ascii_alphabetic()) {
            out.push(' ');
        }
        out.push(c);
        prev = Some(c);
    }
    out
}

/// Step 2, for one unit group: a unit word after a digit or whitespace, ending at a word
/// boundary, becomes `*N`.
fn replace_unit(s: &str, words: &[&str], repl: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev: Option<char> = None;
    let mut i = 0;
    'outer: while i < s.len() {
        let c = s[i..].chars().next().unwrap_or(' ');
        if prev.is_some_and(|p| p.is_numeric() || crate::f2b::ini::py_isspace(p)) {
            for w in words {
                let end = i + w.len();
                if end <= s.len()
                    && s.is_char_boundary(end)
                    && s[i..end].eq_ignore_ascii_case(w)
                    && !s[end..].chars().next().is_some_and(is_word)
                {
                    out.push_str(repl);
                    prev = w.chars().last();
                    i = end;
                    continue 'outer;
                }
            }
        }
        out.push(c);
        prev = Some(c);
        i += c.len_utf8();
    }
    out
}

/// Step 3: whitespace between two digits becomes `+` (non-overlapping, left to right).
fn join_groups(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_numeric() {
            let mut j = i + 1;
            while j < chars.len() && crate::f2b::ini::py_isspace(chars[j]) {
                j += 1;
            }
            if j > i + 1 && j < chars.len() && chars[j].is_numeric() {
                out.push(chars[i]);
                out.push('+');
                out.push(chars[j]);
                i = j + 1;
                continue;
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// Evaluates a fail2ban time value to seconds.
pub fn parse_time(s: &str) -> Result<f64, TimeError> {
    let mut expr = split_groups(s);
    for (words, repl) in UNITS {
        expr = replace_unit(&expr, words, repl);
    }
    let expr = join_groups(&expr);
    let err = |msg: String| TimeError {
        value: s.to_string(),
        msg,
    };
    let mut p = Parser {
        s: expr.as_bytes(),
        pos: 0,
    };
    let v = p.expr().map_err(err)?;
    p.skip_ws();
    if p.pos != p.s.len() {
        return Err(err(format!(
            "unexpected text {:?}",
            String::from_utf8_lossy(&p.s[p.pos..])
        )));
    }
    if !v.is_finite() {
        return Err(err("result is not a finite number".into()));
    }
    Ok(v)
}

/// Recursive-descent evaluator for the rewritten expression.
struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn skip_ws(&mut self) {
        while self.pos < self.s.len() && self.s[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
    }
    fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.s.get(self.pos).copied()
    }
    fn expr(&mut self) -> Result<f64, String> {
        let mut v = self.term()?;
        while let Some(op @ (b'+' | b'-')) = self.peek() {
            self.pos += 1;
            let r = self.term()?;
            v = if op == b'+' { v + r } else { v - r };
        }
        Ok(v)
    }
    fn term(&mut self) -> Result<f64, String> {
        let mut v = self.unary()?;
        while let Some(op @ (b'*' | b'/')) = self.peek() {
            if self.s.get(self.pos + 1).is_some_and(|c| *c == op) {
                return Err(format!(
                    "operator {}{} is not supported",
                    op as char, op as char
                ));
            }
            self.pos += 1;
            let r = self.unary()?;
            if op == b'*' {
                v *= r;
            } else if r == 0.0 {
                return Err("division by zero".into());
            } else {
                v /= r;
            }
        }
        Ok(v)
    }
    fn unary(&mut self) -> Result<f64, String> {
        match self.peek() {
            Some(b'-') => {
                self.pos += 1;
                Ok(-self.unary()?)
            }
            Some(b'+') => {
                self.pos += 1;
                self.unary()
            }
            Some(b'(') => {
                self.pos += 1;
                let v = self.expr()?;
                if self.peek() != Some(b')') {
                    return Err("missing ')'".into());
                }
                self.pos += 1;
                Ok(v)
            }
            Some(c) if c.is_ascii_digit() || c == b'.' => self.number(),
            Some(_) => Err(format!(
                "unknown unit or unexpected text at {:?}",
                String::from_utf8_lossy(&self.s[self.pos..])
            )),
            None => Err("a number is missing".into()),
        }
    }
    /// A Python number literal: digits with single `_` separators, optional fraction and
    /// exponent; an integer may not have leading zeros.
    fn number(&mut self) -> Result<f64, String> {
        let start = self.pos;
        let digits = |p: &mut Self| {
            let b = p.pos;
            while p.pos < p.s.len() && (p.s[p.pos].is_ascii_digit() || p.s[p.pos] == b'_') {
                p.pos += 1;
            }
            b
        };
        digits(self);
        let int_part = String::from_utf8_lossy(&self.s[start..self.pos]).into_owned();
        let mut is_float = false;
        if self.s.get(self.pos) == Some(&b'.') {
            is_float = true;
            self.pos += 1;
            digits(self);
        }
        if matches!(self.s.get(self.pos), Some(b'e' | b'E')) {
            is_float = true;
            self.pos += 1;
            if matches!(self.s.get(self.pos), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            digits(self);
        }
        let text = String::from_utf8_lossy(&self.s[start..self.pos]).into_owned();
        let bad = text.contains("__")
            || text.ends_with('_')
            || text.contains("_.")
            || text.contains("._");
        if !is_float
            && int_part.len() > 1
            && int_part.starts_with('0')
            && int_part.chars().any(|c| c != '0' && c != '_')
        {
            return Err(format!("leading zeros in {text:?} are not allowed"));
        }
        if bad || text == "." {
            return Err(format!("bad number {text:?}"));
        }
        text.replace('_', "")
            .parse::<f64>()
            .map_err(|_| format!("bad number {text:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn examples_from_the_spec() {
        let cases: &[(&str, f64)] = &[
            ("1d12h", 129600.0),
            ("1d 12h", 129600.0),
            ("1h 30m", 5400.0),
            ("1hour+30min", 5400.0),
            ("1year-6mo", 15778800.0),
            ("3600*2", 7200.0),
            ("1.5h", 5400.0),
            ("600", 600.0),
            ("-1", -1.0),
            ("1m 1", 61.0),
            ("10m", 600.0),
            ("1w", 604800.0),
            ("1d", 86400.0),
            ("48h", 172800.0),
            ("1mo", 2629800.0),
            ("1M", 60.0),
            ("1y", 31557600.0),
            ("2 weeks", 1209600.0),
            ("5 sec", 5.0),
            ("1 min", 60.0),
            ("0d 1h 30m", 5400.0),
            ("6 months", 15778800.0),
            ("604800", 604800.0),
        ];
        for (s, want) in cases {
            assert_eq!(parse_time(s), Ok(*want), "{s}");
        }
    }

    #[test]
    fn errors() {
        for s in [
            "1wk", "", "abc", "1h*", "h", "0600", "1 2 3", "1//2", "1h 30q",
        ] {
            assert!(parse_time(s).is_err(), "{s} should fail");
        }
        assert!(parse_time("1wk").unwrap_err().to_string().contains("1wk"));
    }
}
