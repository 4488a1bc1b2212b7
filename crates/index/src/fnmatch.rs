//! glibc `fnmatch(pattern, string, 0)` in the C locale, byte for byte (kmod-formats §2.4).
//!
//! kmod calls `fnmatch(…, 0)` without `setlocale`, so the rules are glibc's single-byte
//! matcher in the C locale: `*` any run of bytes (including `/` and a leading `.`), `?` one
//! byte, `\c` the byte `c`, `[...]` bracket expressions with `!`/`^` negation, byte-value
//! ranges, the twelve POSIX classes, `[.c.]` and `[=c=]`; an unterminated `[` is a literal
//! `[`. Both arguments are C strings: everything from the first NUL byte on is ignored.
//!
//! Stars are matched with the classic single saved position (the last `*` seen), which is
//! exact here because every other pattern element consumes exactly one byte and its outcome
//! depends only on the pattern position and that byte; the cost is O(|pattern| · |string|).

/// True when `pattern` matches `string` as glibc's `fnmatch(pattern, string, 0) == 0`.
pub fn fnmatch(pattern: &[u8], string: &[u8]) -> bool {
    // A pattern starting with a plain byte only matches a string starting with that byte:
    // this rejects most of the names a module is compared with before scanning either.
    if let Some(&first) = pattern.first() {
        let special = matches!(first, 0 | b'*' | b'?' | b'[' | b'\\');
        if !special && string.first() != Some(&first) {
            return false;
        }
    }
    let pattern = c_string(pattern);
    let string = c_string(string);
    // Most patterns (softdep, install and options names, aliases) are plain names: without
    // `*`, `?`, `[` or an escaping `\\` a pattern matches only itself.
    if !pattern
        .iter()
        .any(|&b| matches!(b, b'*' | b'?' | b'[' | b'\\'))
    {
        return pattern == string;
    }
    Pattern { pat: pattern }.matches(string)
}

/// The bytes before the first NUL, as C sees the string.
fn c_string(bytes: &[u8]) -> &[u8] {
    match bytes.iter().position(|&b| b == 0) {
        Some(end) => bytes.get(..end).unwrap_or(bytes),
        None => bytes,
    }
}

/// glibc gives up on a `[:name` this long (measured against glibc 2.36: 2048).
const CHAR_CLASS_MAX_LENGTH: usize = 2048;

/// Bytes glibc accepts in a `[:name:]` class name: `a` to `y` (its test is
/// `c < 'a' || c >= 'z'`, so a `z` ends the name like any other byte).
fn is_class_name_byte(b: u8) -> bool {
    (b'a'..=b'y').contains(&b)
}

/// A pattern being matched; positions past the end read as NUL, like the C string.
struct Pattern<'p> {
    pat: &'p [u8],
}

/// How skipping the rest of an already matched bracket ended.
enum Skip {
    /// At the closing `]`; the position after it.
    Closed(usize),
    /// A malformed `[=`/`[.` form or an over-long class name: the attempt fails.
    Fail,
    /// The pattern ended first: the opening `[` was an ordinary byte after all.
    Unterminated,
}

impl<'p> Pattern<'p> {
    /// The pattern byte at `i`, or 0 (the C terminator) past the end.
    fn at(&self, i: usize) -> u8 {
        self.pat.get(i).copied().unwrap_or(0)
    }

    /// Whole-string match with one saved star position.
    fn matches(&self, s: &[u8]) -> bool {
        let mut p = 0usize;
        let mut n = 0usize;
        // (pattern position after the last `*`, string position that star extends to)
        let mut star: Option<(usize, usize)> = None;
        loop {
            if self.at(p) == b'*' {
                p += 1;
                star = Some((p, n));
                continue;
            }
            let advanced = match s.get(n) {
                None => {
                    if p >= self.pat.len() {
                        return true;
                    }
                    None
                }
                Some(&c) => {
                    if p >= self.pat.len() {
                        None
                    } else {
                        self.step(p, c)
                    }
                }
            };
            match advanced {
                Some(next) => {
                    p = next;
                    n += 1;
                }
                None => match star {
                    Some((sp, sn)) if sn < s.len() => {
                        star = Some((sp, sn + 1));
                        p = sp;
                        n = sn + 1;
                    }
                    _ => return false,
                },
            }
        }
    }

    /// Match the single element at `p` (not `*`, not the end) against byte `c`:
    /// the pattern position after it, or None when it does not match.
    fn step(&self, p: usize, c: u8) -> Option<usize> {
        match self.at(p) {
            b'?' => Some(p + 1),
            b'\\' => {
                let escaped = self.at(p + 1);
                (escaped != 0 && escaped == c).then_some(p + 2)
            }
            b'[' => self.bracket(p, c),
            literal => (literal == c).then_some(p + 1),
        }
    }

    /// A bracket expression starting with the `[` at `open`, against subject byte `fn_`.
    fn bracket(&self, open: usize, fn_: u8) -> Option<usize> {
        let after_open = open + 1;
        let mut q = after_open;
        let negated = matches!(self.at(q), b'!' | b'^');
        if negated {
            q += 1;
        }
        let mut c = self.at(q);
        q += 1;
        loop {
            // `cold` is the start of a possible range; classes and equivalence classes
            // cannot start one.
            let mut normal: Option<u8> = None;
            let mut cold: Option<u8> = None;
            if c == b'\\' {
                let escaped = self.at(q);
                if escaped == 0 {
                    return None;
                }
                q += 1;
                normal = Some(escaped);
            } else if c == b'[' && self.at(q) == b':' {
                match self.class_member(q, fn_) {
                    ClassMember::NotAClass => normal = Some(b'['),
                    ClassMember::Fail => return None,
                    ClassMember::Contains(end) => {
                        return self.skip_matched(end, negated, fn_, after_open)
                    }
                    ClassMember::Lacks(end) => {
                        q = end;
                        c = self.at(q);
                        q += 1;
                    }
                }
            } else if c == b'[' && self.at(q) == b'=' {
                match self.equivalence_member(q) {
                    None => normal = Some(b'['),
                    Some((byte, end)) => {
                        if byte == fn_ {
                            return self.skip_matched(end, negated, fn_, after_open);
                        }
                        q = end;
                        c = self.at(q);
                        q += 1;
                    }
                }
            } else if c == 0 {
                // Unterminated: the `[` is an ordinary byte and matching goes on after it.
                return (fn_ == b'[').then_some(after_open);
            } else if c == b'[' && self.at(q) == b'.' {
                let (sym, end) = self.collating_symbol(q)?;
                q = end;
                let is_range = self.at(q) == b'-' && self.at(q + 1) != 0;
                if !is_range && sym == fn_ {
                    return self.skip_matched(q, negated, fn_, after_open);
                }
                cold = Some(sym);
                c = self.at(q);
                q += 1;
            } else {
                normal = Some(c);
            }

            if let Some(ch) = normal {
                let is_range = self.at(q) == b'-' && self.at(q + 1) != 0 && self.at(q + 1) != b']';
                if !is_range && ch == fn_ {
                    return self.skip_matched(q, negated, fn_, after_open);
                }
                cold = Some(ch);
                c = self.at(q);
                q += 1;
            }

            if let Some(low) = cold {
                if c == b'-' && self.at(q) != b']' {
                    let (high, end) = self.range_end(q)?;
                    q = end;
                    if low <= fn_ && fn_ <= high {
                        return self.skip_matched(q, negated, fn_, after_open);
                    }
                    c = self.at(q);
                    q += 1;
                }
            }

            if c == b']' {
                break;
            }
        }
        if negated {
            Some(q)
        } else {
            None
        }
    }

    /// The upper bound of a range whose `-` was just read; `q` is the byte after it.
    /// Returns the bound and the position after it, or None when the attempt fails.
    fn range_end(&self, q: usize) -> Option<(u8, usize)> {
        let cend = self.at(q);
        let mut q = q + 1;
        if cend == b'[' && self.at(q) == b'.' {
            return self.collating_symbol(q);
        }
        let mut high = cend;
        if high == b'\\' {
            high = self.at(q);
            q += 1;
        }
        if high == 0 {
            return None;
        }
        Some((high, q))
    }

    /// `[.c.]` with `dot` at the `.`: the single byte it names and the position after
    /// `.]`; None (the attempt fails) when unterminated or not exactly one byte long.
    fn collating_symbol(&self, dot: usize) -> Option<(u8, usize)> {
        let mut j = dot;
        let mut len = 0usize;
        loop {
            j += 1;
            let d = self.at(j);
            if d == b'.' && self.at(j + 1) == b']' {
                break;
            }
            if d == 0 {
                return None;
            }
            len += 1;
        }
        if len != 1 {
            return None;
        }
        Some((self.at(dot + 1), j + 2))
    }

    /// `[=c=]` with `eq` at the first `=`: the byte and the position after `=]`, or None
    /// when this is not an equivalence class (then the `[` is an ordinary member).
    fn equivalence_member(&self, eq: usize) -> Option<(u8, usize)> {
        let byte = self.at(eq + 1);
        if byte == 0 || self.at(eq + 2) != b'=' || self.at(eq + 3) != b']' {
            return None;
        }
        Some((byte, eq + 4))
    }

    /// `[:name:]` with `colon` at the first `:`, tested against `fn_`.
    fn class_member(&self, colon: usize, fn_: u8) -> ClassMember {
        let mut j = colon;
        let mut name_len = 0usize;
        loop {
            if name_len == CHAR_CLASS_MAX_LENGTH {
                return ClassMember::Fail;
            }
            j += 1;
            let d = self.at(j);
            if d == b':' && self.at(j + 1) == b']' {
                break;
            }
            if !is_class_name_byte(d) {
                return ClassMember::NotAClass;
            }
            name_len += 1;
        }
        let name = self.pat.get(colon + 1..j).unwrap_or_default();
        match CharClass::from_name(name) {
            None => ClassMember::Fail,
            Some(class) if class.contains(fn_) => ClassMember::Contains(j + 2),
            Some(_) => ClassMember::Lacks(j + 2),
        }
    }

    /// After a member matched: skip to the closing `]` (starting at `q`). A bracket that
    /// turns out unterminated is an ordinary `[` matched against `fn_`, going on at
    /// `after_open`.
    fn skip_matched(&self, q: usize, negated: bool, fn_: u8, after_open: usize) -> Option<usize> {
        match self.skip_rest(q) {
            Skip::Closed(end) => (!negated).then_some(end),
            Skip::Fail => None,
            Skip::Unterminated => (fn_ == b'[').then_some(after_open),
        }
    }

    /// Find the `]` closing the current bracket, reading from `q` the way glibc skips the
    /// rest of an already matched bracket.
    fn skip_rest(&self, mut q: usize) -> Skip {
        loop {
            let c = self.at(q);
            q += 1;
            match c {
                0 => return Skip::Unterminated,
                b'\\' => {
                    if self.at(q) == 0 {
                        return Skip::Fail;
                    }
                    q += 1;
                }
                b'[' if self.at(q) == b':' => match self.skip_class(q) {
                    None => return Skip::Fail,
                    Some(Some(end)) => q = end,
                    Some(None) => {}
                },
                b'[' if self.at(q) == b'=' => {
                    if self.at(q + 1) == 0 || self.at(q + 2) != b'=' || self.at(q + 3) != b']' {
                        return Skip::Fail;
                    }
                    q += 4;
                }
                b'[' if self.at(q) == b'.' => {
                    let mut j = q;
                    loop {
                        j += 1;
                        let d = self.at(j);
                        if d == 0 {
                            return Skip::Fail;
                        }
                        if d == b'.' && self.at(j + 1) == b']' {
                            break;
                        }
                    }
                    q = j + 2;
                }
                b']' => return Skip::Closed(q),
                _ => {}
            }
        }
    }

    /// Skipping `[:name:]` (with `colon` at the `:`): Some(Some(after)) past a class,
    /// Some(None) when it is not a class (the `:` is then read as an ordinary byte),
    /// None when the name is too long.
    fn skip_class(&self, colon: usize) -> Option<Option<usize>> {
        let mut j = colon;
        let mut count = 0usize;
        loop {
            j += 1;
            let d = self.at(j);
            count += 1;
            if count == CHAR_CLASS_MAX_LENGTH {
                return None;
            }
            if d == b':' && self.at(j + 1) == b']' {
                return Some(Some(j + 2));
            }
            if !is_class_name_byte(d) {
                return Some(None);
            }
        }
    }
}

/// Outcome of reading a `[:name:]` member.
enum ClassMember {
    /// Not shaped like a class name: the `[` is an ordinary member.
    NotAClass,
    /// Too long or an unknown class name: the attempt fails.
    Fail,
    /// The class contains the byte; the position after `:]`.
    Contains(usize),
    /// The class lacks the byte; the position after `:]`.
    Lacks(usize),
}

/// The character classes of the C locale (ASCII only; bytes ≥ 0x80 belong to none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CharClass {
    Alnum,
    Alpha,
    Blank,
    Cntrl,
    Digit,
    Graph,
    Lower,
    Print,
    Punct,
    Space,
    Upper,
    Xdigit,
}

impl CharClass {
    fn from_name(name: &[u8]) -> Option<CharClass> {
        Some(match name {
            b"alnum" => CharClass::Alnum,
            b"alpha" => CharClass::Alpha,
            b"blank" => CharClass::Blank,
            b"cntrl" => CharClass::Cntrl,
            b"digit" => CharClass::Digit,
            b"graph" => CharClass::Graph,
            b"lower" => CharClass::Lower,
            b"print" => CharClass::Print,
            b"punct" => CharClass::Punct,
            b"space" => CharClass::Space,
            b"upper" => CharClass::Upper,
            b"xdigit" => CharClass::Xdigit,
            _ => return None,
        })
    }

    fn contains(self, b: u8) -> bool {
        match self {
            CharClass::Alnum => b.is_ascii_alphanumeric(),
            CharClass::Alpha => b.is_ascii_alphabetic(),
            CharClass::Blank => b == b' ' || b == b'\t',
            CharClass::Cntrl => b.is_ascii_control(),
            CharClass::Digit => b.is_ascii_digit(),
            CharClass::Graph => b.is_ascii_graphic(),
            CharClass::Lower => b.is_ascii_lowercase(),
            CharClass::Print => b.is_ascii_graphic() || b == b' ',
            CharClass::Punct => b.is_ascii_punctuation(),
            CharClass::Space => matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'),
            CharClass::Upper => b.is_ascii_uppercase(),
            CharClass::Xdigit => b.is_ascii_hexdigit(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fnmatch;

    fn m(p: &str, s: &str) -> bool {
        fnmatch(p.as_bytes(), s.as_bytes())
    }

    /// Every row of kmod-formats §2.4 (both tables), as glibc answers it.
    #[test]
    fn spec_table_rows() {
        let rows: &[(&str, &str, bool)] = include!("../tests/data/fnmatch_spec_table.rs");
        for &(p, s, want) in rows {
            assert_eq!(m(p, s), want, "fnmatch({p:?}, {s:?})");
        }
    }

    #[test]
    fn classes_in_brackets() {
        assert!(m("[[:alpha:][:digit:]]", "a"));
        assert!(m("[[:alpha:][:digit:]]", "5"));
        assert!(m("[[:alpha:]\\]]", "a"));
        assert!(!m("[[:alpha:]\\]]", "a]"));
        assert!(m("[[:xdigit:]]", "F"));
        assert!(!m("[[:xdigit:]]", "g"));
        assert!(m("[[:space:]]", "\x0b"));
        assert!(m("[[:punct:]]", "~"));
        assert!(!m("[[:print:]]", "\x7f"));
        // Only the twelve POSIX names exist in the C locale.
        assert!(!m("[![:combining:]]", "a"));
    }

    #[test]
    fn collating_symbol_before_dash_is_a_range_start() {
        // glibc treats `[.a.]-` as the start of a range even before `]`.
        assert!(!m("[[.a.]-]", "a"));
        assert!(m("[[.a.]-c]", "b"));
    }

    #[test]
    fn text_after_nul_is_ignored() {
        assert!(fnmatch(b"ab\0zz", b"ab\0yy"));
        assert!(!fnmatch(b"a\0", b"ab"));
    }

    #[test]
    fn many_stars_stay_fast() {
        let pattern = "*a".repeat(200) + "b";
        let subject = "a".repeat(5000);
        assert!(!m(&pattern, &subject));
    }
}
