//! Logical lines of kmod configuration files (kmod-formats §5.2.1), shared by depmod.d and
//! modprobe.d.
//!
//! * `\n` ends a physical line.
//! * A backslash followed by `\n` joins the next physical line (both bytes dropped).
//! * A backslash followed by any other byte drops the backslash and keeps the byte.
//! * A backslash at the end of the data is dropped.
//! * The line number of a logical line is the number of its **last** physical line.
//! * A final line without `\n` is still a line, unless it is empty.

use std::borrow::Cow;

/// One logical line: its text (without the final `\n`) and the number (1-based) of the last
/// physical line it spans. The text borrows the file's bytes unless a backslash changed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogicalLine<'a> {
    pub number: usize,
    pub text: Cow<'a, [u8]>,
}

/// Iterator over the logical lines of a configuration file's bytes.
#[derive(Debug, Clone)]
pub struct LogicalLines<'a> {
    data: &'a [u8],
    pos: usize,
    line: usize,
}

/// The logical lines of `data`.
pub fn logical_lines(data: &[u8]) -> LogicalLines<'_> {
    LogicalLines {
        data,
        pos: 0,
        line: 0,
    }
}

impl<'a> LogicalLines<'a> {
    /// The line starting at `rest`, which holds a backslash: unescaped into a new buffer.
    /// Returns the text and the bytes consumed.
    fn unescape(&mut self, rest: &[u8]) -> (Vec<u8>, usize) {
        let mut text = Vec::with_capacity(rest.len().min(256));
        let mut i = 0;
        while let Some(&b) = rest.get(i) {
            i += 1;
            match b {
                b'\n' => break,
                b'\\' => match rest.get(i) {
                    Some(b'\n') => {
                        i += 1;
                        self.line += 1;
                    }
                    Some(&other) => {
                        i += 1;
                        text.push(other);
                    }
                    None => {}
                },
                other => text.push(other),
            }
        }
        (text, i)
    }
}

impl<'a> Iterator for LogicalLines<'a> {
    type Item = LogicalLine<'a>;

    fn next(&mut self) -> Option<LogicalLine<'a>> {
        let data: &'a [u8] = self.data;
        let rest = data.get(self.pos..)?;
        if rest.is_empty() {
            return None;
        }
        self.line += 1;
        let end = rest.iter().position(|&b| b == b'\n');
        let physical = &rest[..end.unwrap_or(rest.len())];
        let text = if physical.contains(&b'\\') {
            let (text, used) = self.unescape(rest);
            self.pos += used;
            Cow::Owned(text)
        } else {
            self.pos += physical.len() + usize::from(end.is_some());
            Cow::Borrowed(physical)
        };
        Some(LogicalLine {
            number: self.line,
            text,
        })
    }
}

/// Split a logical line into tokens separated by spaces and tabs (empty tokens dropped).
pub fn tokens(line: &[u8]) -> impl Iterator<Item = &[u8]> {
    line.split(|&b| b == b' ' || b == b'\t')
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(data: &[u8]) -> Vec<(usize, Vec<u8>)> {
        logical_lines(data)
            .map(|l| (l.number, l.text.into_owned()))
            .collect()
    }

    #[test]
    fn plain_lines_are_numbered() {
        assert_eq!(
            lines(b"a\nb\n"),
            vec![(1, b"a".to_vec()), (2, b"b".to_vec())]
        );
    }

    #[test]
    fn continuation_reports_last_physical_line() {
        assert_eq!(
            lines(b"search a \\\n b\nnext\n"),
            vec![(2, b"search a  b".to_vec()), (3, b"next".to_vec())]
        );
    }

    #[test]
    fn backslash_before_other_byte_is_dropped() {
        assert_eq!(lines(b"a\\bc\n"), vec![(1, b"abc".to_vec())]);
        assert_eq!(lines(b"a\\\\b\n"), vec![(1, b"a\\b".to_vec())]);
    }

    #[test]
    fn trailing_backslash_and_missing_newline() {
        assert_eq!(lines(b"abc\\"), vec![(1, b"abc".to_vec())]);
        assert_eq!(
            lines(b"x\nabc"),
            vec![(1, b"x".to_vec()), (2, b"abc".to_vec())]
        );
    }

    #[test]
    fn empty_lines_are_kept() {
        assert_eq!(
            lines(b"\n\nz\n"),
            vec![(1, vec![]), (2, vec![]), (3, b"z".to_vec())]
        );
        assert!(lines(b"").is_empty());
    }

    #[test]
    fn tokens_split_on_space_and_tab() {
        let t: Vec<&[u8]> = tokens(b"  a\t b  c\t").collect();
        assert_eq!(t, vec![&b"a"[..], b"b", b"c"]);
    }

    /// The rules of the module documentation, byte by byte, for comparison.
    fn reference(data: &[u8]) -> Vec<(usize, Vec<u8>)> {
        let (mut out, mut text, mut line, mut i) = (Vec::new(), Vec::new(), 1, 0);
        let mut open = false;
        while i < data.len() {
            open = true;
            match (data[i], data.get(i + 1)) {
                (b'\n', _) => {
                    out.push((line, std::mem::take(&mut text)));
                    line += 1;
                    open = false;
                }
                (b'\\', Some(b'\n')) => {
                    line += 1;
                    i += 1;
                }
                (b'\\', Some(&other)) => {
                    text.push(other);
                    i += 1;
                }
                (b'\\', None) => {}
                (other, _) => text.push(other),
            }
            i += 1;
        }
        if open {
            out.push((line, text));
        }
        out
    }

    #[test]
    fn plain_lines_borrow_and_escaped_lines_own() {
        let all: Vec<LogicalLine> = logical_lines(b"a b\nc\\\nd\ne\n").collect();
        assert!(matches!(all[0].text, Cow::Borrowed(b"a b")));
        assert!(matches!(&all[1].text, Cow::Owned(t) if t == b"cd"));
        assert!(matches!(all[2].text, Cow::Borrowed(b"e")));
        assert_eq!(all[2].number, 4);
    }

    proptest::proptest! {
        #[test]
        fn same_lines_as_the_byte_by_byte_rules(data in proptest::collection::vec(
            proptest::sample::select(vec![b'a', b' ', b'\\', b'\n', b'#']), 0..64)) {
            proptest::prop_assert_eq!(lines(&data), reference(&data));
        }

        #[test]
        fn never_panics_and_numbers_increase(data in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let mut last = 0;
            for l in logical_lines(&data) {
                proptest::prop_assert!(l.number > last);
                last = l.number;
            }
        }
    }
}
