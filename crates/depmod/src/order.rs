//! Module order (the module index): hash order, then `modules.order` with kmod 30's rules
//! (a path listed twice takes its last position; a line without a final `\n` makes the
//! whole file ignored) — kmod-formats §5.6.

use std::collections::HashMap;

use crate::hash::module_bucket;
use crate::scan::Candidate;

/// Sort `mods` into depmod's hash-table iteration order: `(SuperFastHash(name) & 511,
/// name)`.
pub fn hash_order(mods: &mut [Candidate]) {
    mods.sort_by(|a, b| (module_bucket(&a.name), &a.name).cmp(&(module_bucket(&b.name), &b.name)));
}

/// The key `modules.order` lines are matched against: the relative path truncated after
/// the basename's first `.` and the 2 bytes that follow it (normally `.ko`).
pub fn uncompressed_rel(rel: &[u8]) -> &[u8] {
    let base = rel.iter().rposition(|&b| b == b'/').map_or(0, |p| p + 1);
    match rel
        .get(base..)
        .and_then(|b| b.iter().position(|&c| c == b'.'))
    {
        Some(dot) => {
            let end = (base + dot + 3).min(rel.len());
            rel.get(..end).unwrap_or(rel)
        }
        None => rel,
    }
}

/// Outcome of reading `modules.order`.
#[derive(Debug, PartialEq, Eq)]
pub enum OrderFile {
    /// Lines without their `\n`.
    Lines(Vec<Vec<u8>>),
    /// The 1-based number of a line that misses its `\n`: the file is ignored.
    Corrupted(usize),
}

/// Split `modules.order` content, checking every line ends with `\n`.
pub fn parse_order(data: &[u8]) -> OrderFile {
    let mut lines = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        match rest.iter().position(|&b| b == b'\n') {
            Some(nl) => {
                lines.push(rest.get(..nl).unwrap_or_default().to_vec());
                rest = rest.get(nl + 1..).unwrap_or_default();
            }
            None => return OrderFile::Corrupted(lines.len() + 1),
        }
    }
    OrderFile::Lines(lines)
}

/// Stable-sort `mods` (already in hash order) by their last position in `lines`;
/// unlisted and external modules keep their relative order after all listed ones.
pub fn apply_order(mods: &mut Vec<Candidate>, lines: &[Vec<u8>]) {
    let mut position: HashMap<&[u8], usize> = HashMap::new();
    for (i, line) in lines.iter().enumerate() {
        position.insert(line.as_slice(), i);
    }
    let keys: Vec<usize> = mods
        .iter()
        .map(|m| {
            m.rel
                .as_deref()
                .and_then(|r| position.get(uncompressed_rel(r)).copied())
                .unwrap_or(usize::MAX)
        })
        .collect();
    let mut idx: Vec<usize> = (0..mods.len()).collect();
    idx.sort_by_key(|&i| keys.get(i).copied().unwrap_or(usize::MAX));
    let mut old: Vec<Option<Candidate>> = std::mem::take(mods).into_iter().map(Some).collect();
    for i in idx {
        if let Some(c) = old.get_mut(i).and_then(Option::take) {
            mods.push(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn c(rel: &str, name: &str) -> Candidate {
        Candidate {
            path: PathBuf::from(format!("/m/{rel}")),
            rel: Some(rel.as_bytes().to_vec()),
            name: name.as_bytes().to_vec(),
        }
    }

    fn names(m: &[Candidate]) -> Vec<String> {
        m.iter()
            .map(|c| String::from_utf8_lossy(&c.name).into_owned())
            .collect()
    }

    #[test]
    fn hash_order_uses_bucket_then_name() {
        // buckets: jbd2_journal_start 25, crc16 166, ext4 278, abcd 219
        let mut m = vec![
            c("a/ext4.ko", "ext4"),
            c("a/crc16.ko", "crc16"),
            c("a/abcd.ko", "abcd"),
            c("a/j.ko", "jbd2_journal_start"),
        ];
        hash_order(&mut m);
        assert_eq!(names(&m), ["jbd2_journal_start", "crc16", "abcd", "ext4"]);
    }

    #[test]
    fn uncompressed_rel_cuts_after_ko() {
        assert_eq!(
            uncompressed_rel(b"kernel/fs/ext4.ko.xz"),
            b"kernel/fs/ext4.ko"
        );
        assert_eq!(uncompressed_rel(b"k.d/foo-bar.ko"), b"k.d/foo-bar.ko");
        assert_eq!(uncompressed_rel(b"k/foo.bar.ko"), b"k/foo.ba");
    }

    #[test]
    fn order_file_sorts_listed_first_stably() {
        let mut m = vec![
            c("k/a.ko", "a"),
            c("k/b.ko.xz", "b"),
            c("k/c.ko", "c"),
            c("k/d.ko", "d"),
        ];
        let lines = vec![b"k/c.ko".to_vec(), b"k/x.ko".to_vec(), b"k/b.ko".to_vec()];
        apply_order(&mut m, &lines);
        assert_eq!(names(&m), ["c", "b", "a", "d"]);
    }

    #[test]
    fn duplicated_line_takes_last_position() {
        let mut m = vec![c("k/a.ko", "a"), c("k/b.ko", "b")];
        let lines = vec![b"k/a.ko".to_vec(), b"k/b.ko".to_vec(), b"k/a.ko".to_vec()];
        apply_order(&mut m, &lines);
        assert_eq!(names(&m), ["b", "a"]);
    }

    #[test]
    fn missing_final_newline_is_corruption() {
        assert_eq!(parse_order(b"a\nb"), OrderFile::Corrupted(2));
        assert_eq!(
            parse_order(b"a\n\nb\n"),
            OrderFile::Lines(vec![b"a".to_vec(), vec![], b"b".to_vec()])
        );
        assert_eq!(parse_order(b""), OrderFile::Lines(vec![]));
    }
}
