//! Reading an index from a byte slice: exact and wildcard lookups, dumps (kmod-formats §1.8, §2).
//!
//! Only the 12-byte header is checked up front. A node that cannot be decoded (offset 0 or
//! past the end, `first > last`, child bytes ≥ 128, a missing terminator) is treated as
//! absent, as libkmod's mmap reader does; truncated value lists end early. Whole-subtree
//! walks (wildcard scans, dumps) keep their own stack instead of recursing, and charge each
//! visited node `1 + prefix length` against a budget of the file size: a well-formed file
//! never reaches it, while node offsets forming cycles or shared subtrees cannot make a
//! walk loop forever or grow without bound.
use crate::fnmatch::fnmatch;
use crate::format::{
    CHILD_MAX, FLAG_CHILDS, FLAG_PREFIX, FLAG_VALUES, HEADER_LEN, INDEX_MAGIC, INDEX_VERSION_MAJOR,
    OFFSET_MASK,
};
use thiserror::Error;

/// Why an index file cannot be read at all.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum IndexError {
    #[error("file too short")]
    TooShort,
    #[error("bad magic")]
    BadMagic,
    #[error("unsupported version")]
    BadVersion,
}

/// One value of a lookup result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Value<'a> {
    pub value: &'a [u8],
    pub priority: u32,
}

/// Order of equal-priority values within a node: libkmod's mmap reader keeps file order
/// (modprobe), its stdio reader reverses equal-priority runs (modinfo) — formats §1.8.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ValueOrder {
    #[default]
    Mmap,
    Stdio,
}

/// A read-only view of one index file.
pub struct Index<'a> {
    data: &'a [u8],
    root: u32,
    order: ValueOrder,
}

/// A decoded node body; slices point into the file.
#[derive(Debug, Clone, Copy)]
struct Node<'a> {
    prefix: &'a [u8],
    /// Edge byte of the first child word.
    first: u8,
    /// The raw child words (4 bytes each), empty without `CHILDS`.
    children: &'a [u8],
    /// From the value count to the end of the file, empty without `VALUES`.
    values: &'a [u8],
}

impl<'a> Node<'a> {
    fn child_count(&self) -> usize {
        self.children.len() / 4
    }

    /// The child word in slot `i` (0 = no child).
    fn child_word(&self, i: usize) -> u32 {
        let start = i.saturating_mul(4);
        self.children
            .get(start..start.saturating_add(4))
            .map_or(0, be_u32)
    }

    fn has_values(&self) -> bool {
        !self.values.is_empty()
    }

    /// The values in file order; stops at the first one that is cut off.
    fn raw_values(&self) -> RawValues<'a> {
        let (count, rest) = match self.values.split_first_chunk::<4>() {
            Some((count, rest)) => (u32::from_be_bytes(*count), rest),
            None => (0, &[][..]),
        };
        RawValues {
            remaining: count,
            rest,
        }
    }
}

/// Iterator over the `(priority, value)` records of a node, as stored.
struct RawValues<'a> {
    remaining: u32,
    rest: &'a [u8],
}

impl<'a> Iterator for RawValues<'a> {
    type Item = Value<'a>;
    fn next(&mut self) -> Option<Value<'a>> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let Some((priority, rest)) = self.rest.split_first_chunk::<4>() else {
            self.remaining = 0;
            return None;
        };
        let Some((value, rest)) = split_c_string(rest) else {
            self.remaining = 0;
            return None;
        };
        self.rest = rest;
        Some(Value {
            value,
            priority: u32::from_be_bytes(*priority),
        })
    }
}

fn be_u32(bytes: &[u8]) -> u32 {
    bytes
        .first_chunk::<4>()
        .map_or(0, |b| u32::from_be_bytes(*b))
}

/// A NUL-terminated string at the start of `bytes` and what follows its terminator.
fn split_c_string(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let end = bytes.iter().position(|&b| b == 0)?;
    Some((bytes.get(..end)?, bytes.get(end + 1..)?))
}

/// `add_value` as libkmod merges results: ascending priority, a new value before the first
/// of equal or higher priority (kmod-formats §1.5).
fn add_value<'a>(list: &mut Vec<Value<'a>>, v: Value<'a>) {
    let at = list.partition_point(|x| x.priority < v.priority);
    list.insert(at, v);
}

/// A walk budget: `1 + prefix length` per visited node, the file size in total.
struct Budget(usize);

impl Budget {
    fn charge(&mut self, node: &Node<'_>) -> bool {
        let cost = node.prefix.len().saturating_add(1);
        match self.0.checked_sub(cost) {
            Some(left) => {
                self.0 = left;
                true
            }
            None => false,
        }
    }
}

/// One node on a walk's stack.
struct Frame<'a> {
    node: Node<'a>,
    /// The next child slot to look at.
    next: usize,
    /// Length of the key buffer up to and including this node's prefix.
    key_len: usize,
}

/// When a subtree walk visits a node's own values relative to its children.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Visit {
    /// Values, then children (dump, §2.3).
    PreOrder,
    /// Children, then values (wildcard scan, §2.2).
    PostOrder,
}

impl<'a> Index<'a> {
    /// Validate the header; malformed nodes found later are treated as absent, never a panic.
    pub fn new(data: &'a [u8]) -> Result<Index<'a>, IndexError> {
        let header = data.get(..HEADER_LEN).ok_or(IndexError::TooShort)?;
        let word = |i: usize| header.get(i..i + 4).map_or(0, be_u32);
        if word(0) != INDEX_MAGIC {
            return Err(IndexError::BadMagic);
        }
        if word(4) >> 16 != INDEX_VERSION_MAJOR {
            return Err(IndexError::BadVersion);
        }
        Ok(Index {
            data,
            root: word(8),
            order: ValueOrder::default(),
        })
    }

    pub fn with_order(mut self, order: ValueOrder) -> Index<'a> {
        self.order = order;
        self
    }

    /// Exact search: the first value of the key (formats §2.1).
    pub fn lookup(&self, key: &[u8]) -> Option<&'a [u8]> {
        let node = self.find(key)?;
        self.node_values(&node).first().map(|v| v.value)
    }

    /// Exact search returning every value of the key, in the reader's order.
    pub fn lookup_all(&self, key: &[u8]) -> Vec<Value<'a>> {
        self.find(key)
            .map(|node| self.node_values(&node))
            .unwrap_or_default()
    }

    /// The node whose key is exactly `key`.
    fn find(&self, key: &[u8]) -> Option<Node<'a>> {
        let mut node = self.node(self.root)?;
        let mut i = 0usize;
        loop {
            let end = i.checked_add(node.prefix.len())?;
            if key.get(i..end)? != node.prefix {
                return None;
            }
            i = end;
            let Some(&c) = key.get(i) else {
                return Some(node);
            };
            node = self.child(&node, c)?;
            i += 1;
        }
    }

    /// Wildcard search: stored keys are patterns, `subject` the string (formats §2.2).
    pub fn lookup_wildcard(&self, subject: &[u8]) -> Vec<Value<'a>> {
        let mut results = Vec::new();
        let Some(mut node) = self.node(self.root) else {
            return results;
        };
        let mut s = subject;
        // Each step consumes a byte of the subject, so this loop ends.
        loop {
            for (j, &ch) in node.prefix.iter().enumerate() {
                if matches!(ch, b'*' | b'?' | b'[') {
                    let rest = s.get(j..).unwrap_or_default();
                    self.scan(node, j, &[], rest, &mut results);
                    return results;
                }
                if s.get(j) != Some(&ch) {
                    return results;
                }
            }
            s = s.get(node.prefix.len()..).unwrap_or_default();
            for w in [b'*', b'?', b'['] {
                if let Some(child) = self.child(&node, w) {
                    self.scan(child, 0, &[w], s, &mut results);
                }
            }
            let Some((&c, rest)) = s.split_first() else {
                self.take_all_values(&node, &mut results);
                return results;
            };
            match self.child(&node, c) {
                Some(child) => node = child,
                None => return results,
            }
            s = rest;
        }
    }

    /// `scan_all`: every key of the subtree at `node` (its pattern being `key_start` then
    /// the node's prefix from `j` on) that fnmatches `subject` adds its values.
    fn scan(
        &self,
        node: Node<'a>,
        j: usize,
        key_start: &[u8],
        subject: &[u8],
        results: &mut Vec<Value<'a>>,
    ) {
        self.walk(node, j, key_start, Visit::PostOrder, |pattern, n| {
            if fnmatch(pattern, subject) {
                self.take_all_values(n, results);
            }
        });
    }

    fn take_all_values(&self, node: &Node<'a>, results: &mut Vec<Value<'a>>) {
        for v in self.node_values(node) {
            add_value(results, v);
        }
    }

    /// Pre-order dump: every (key, value) pair (formats §2.3).
    pub fn dump(&self) -> Vec<(Vec<u8>, &'a [u8])> {
        self.dump_values()
            .into_iter()
            .map(|(key, v)| (key, v.value))
            .collect()
    }

    /// Pre-order dump with priorities: every (key, value) pair, values in reader order.
    pub fn dump_values(&self) -> Vec<(Vec<u8>, Value<'a>)> {
        let mut out = Vec::new();
        if let Some(root) = self.node(self.root) {
            self.walk(root, 0, &[], Visit::PreOrder, |key, node| {
                for v in self.node_values(node) {
                    out.push((key.to_vec(), v));
                }
            });
        }
        out
    }

    /// Visit the subtree at `start` without recursion, children in ascending byte order;
    /// `on_values(key, node)` is called for every node that has values, with its key
    /// (`key_start`, then the prefix of `start` from `j`, then edge bytes and prefixes).
    fn walk<F>(&self, start: Node<'a>, j: usize, key_start: &[u8], visit: Visit, mut on_values: F)
    where
        F: FnMut(&[u8], &Node<'a>),
    {
        let mut budget = Budget(self.data.len().saturating_add(1));
        if !budget.charge(&start) {
            return;
        }
        let mut key = key_start.to_vec();
        key.extend_from_slice(start.prefix.get(j..).unwrap_or_default());
        let mut stack = vec![Frame {
            node: start,
            next: 0,
            key_len: key.len(),
        }];
        if visit == Visit::PreOrder && start.has_values() {
            on_values(&key, &start);
        }
        // Once the budget is spent no further node is entered; the stack still unwinds.
        let mut exhausted = false;
        while let Some(frame) = stack.last_mut() {
            key.truncate(frame.key_len);
            let parent = frame.node;
            let next_child = (frame.next..parent.child_count())
                .filter(|_| !exhausted)
                .find_map(|i| Some((i, self.node(parent.child_word(i))?)));
            let Some((i, child)) = next_child else {
                if visit == Visit::PostOrder && parent.has_values() {
                    on_values(&key, &parent);
                }
                stack.pop();
                continue;
            };
            frame.next = i + 1;
            if !budget.charge(&child) {
                exhausted = true;
                continue;
            }
            let edge = usize::from(parent.first)
                .checked_add(i)
                .and_then(|b| u8::try_from(b).ok())
                .unwrap_or(0);
            key.push(edge);
            key.extend_from_slice(child.prefix);
            if visit == Visit::PreOrder && child.has_values() {
                on_values(&key, &child);
            }
            stack.push(Frame {
                node: child,
                next: 0,
                key_len: key.len(),
            });
        }
    }

    /// The values of a node in this reader's order (kmod-formats §1.8).
    fn node_values(&self, node: &Node<'a>) -> Vec<Value<'a>> {
        match self.order {
            ValueOrder::Mmap => node.raw_values().collect(),
            ValueOrder::Stdio => {
                let mut list = Vec::new();
                for v in node.raw_values() {
                    add_value(&mut list, v);
                }
                list
            }
        }
    }

    /// The child of `node` reached by byte `c`.
    fn child(&self, node: &Node<'a>, c: u8) -> Option<Node<'a>> {
        let i = c.checked_sub(node.first)?;
        self.node(node.child_word(usize::from(i)))
    }

    /// Decode the node a node word refers to; None when absent or malformed.
    fn node(&self, word: u32) -> Option<Node<'a>> {
        let offset = usize::try_from(word & OFFSET_MASK).ok()?;
        if offset == 0 {
            return None;
        }
        let mut rest = self.data.get(offset..).filter(|r| !r.is_empty())?;
        let mut node = Node {
            prefix: &[],
            first: 0,
            children: &[],
            values: &[],
        };
        if word & FLAG_PREFIX != 0 {
            let (prefix, after) = split_c_string(rest)?;
            node.prefix = prefix;
            rest = after;
        }
        if word & FLAG_CHILDS != 0 {
            let (&[first, last], after) = rest.split_first_chunk::<2>()?;
            if first > last || first >= CHILD_MAX || last >= CHILD_MAX {
                return None;
            }
            let len = (usize::from(last - first) + 1) * 4;
            node.first = first;
            node.children = after.get(..len)?;
            rest = after.get(len..)?;
        }
        if word & FLAG_VALUES != 0 {
            // An empty slice here would read as "no values", which is what a value
            // list without even a count amounts to.
            node.values = rest;
        }
        Some(node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::writer::{IndexWriter, Layout};

    const LAYOUTS: [Layout; 2] = [Layout::PreOrder, Layout::PostOrder];

    fn build(entries: &[(&str, &str, u32)], layout: Layout) -> Vec<u8> {
        let mut w = IndexWriter::new();
        for (k, v, p) in entries {
            w.insert(k.as_bytes(), v.as_bytes(), *p);
        }
        w.to_bytes(layout)
    }

    fn names(values: &[Value<'_>]) -> Vec<String> {
        values
            .iter()
            .map(|v| String::from_utf8_lossy(v.value).into_owned())
            .collect()
    }

    #[test]
    fn header_is_checked() {
        assert_eq!(Index::new(b"").err(), Some(IndexError::TooShort));
        assert_eq!(
            Index::new(&[0xb0, 0x07, 0xf4, 0x57, 0, 2, 0, 1, 0, 0, 0]).err(),
            Some(IndexError::TooShort)
        );
        let old_magic = [0xb0, 0x07, 0xfa, 0x57, 0, 2, 0, 1, 0, 0, 0, 12];
        assert_eq!(Index::new(&old_magic).err(), Some(IndexError::BadMagic));
        let v3 = [0xb0, 0x07, 0xf4, 0x57, 0, 3, 0, 1, 0, 0, 0, 12];
        assert_eq!(Index::new(&v3).err(), Some(IndexError::BadVersion));
        // Only the major half of the version is checked.
        let minor = [0xb0, 0x07, 0xf4, 0x57, 0, 2, 0xff, 0xff, 0, 0, 0, 12];
        assert!(Index::new(&minor).is_ok());
    }

    #[test]
    fn empty_index_finds_nothing() {
        let bytes = IndexWriter::new().to_bytes(Layout::PostOrder);
        let idx = Index::new(&bytes).unwrap();
        assert_eq!(idx.lookup(b""), None);
        assert!(idx.lookup_wildcard(b"x").is_empty());
        assert!(idx.dump().is_empty());
    }

    #[test]
    fn exact_lookup_returns_the_first_value() {
        let entries = [
            ("crc32c", "crc32c_generic", 1),
            ("crc32", "crc32_generic", 2),
            ("crc32c", "crc32c_intel", 0),
        ];
        for layout in LAYOUTS {
            let bytes = build(&entries, layout);
            let idx = Index::new(&bytes).unwrap();
            assert_eq!(idx.lookup(b"crc32c"), Some(&b"crc32c_intel"[..]));
            assert_eq!(idx.lookup(b"crc32"), Some(&b"crc32_generic"[..]));
            assert_eq!(idx.lookup(b"crc"), None, "inside a prefix");
            assert_eq!(idx.lookup(b"c"), None, "intermediate node");
            assert_eq!(idx.lookup(b"crc32cx"), None);
            assert_eq!(idx.lookup(b"x"), None);
            assert_eq!(
                names(&idx.lookup_all(b"crc32c")),
                ["crc32c_intel", "crc32c_generic"]
            );
        }
    }

    /// kmod-formats §1.8: `m1.alias=same`, `m2.alias=same`, `m3.alias=s*` give
    /// `m1 m2 m3` with the mmap reader and `m2 m1 m3` with the stdio reader.
    #[test]
    fn readers_order_equal_priorities_differently() {
        let entries = [("same", "m1", 0), ("same", "m2", 0), ("s*", "m3", 0)];
        for layout in LAYOUTS {
            let bytes = build(&entries, layout);
            let mmap = Index::new(&bytes).unwrap();
            assert_eq!(names(&mmap.lookup_wildcard(b"same")), ["m1", "m2", "m3"]);
            let stdio = Index::new(&bytes).unwrap().with_order(ValueOrder::Stdio);
            assert_eq!(names(&stdio.lookup_wildcard(b"same")), ["m2", "m1", "m3"]);
            // Exact lookups see the same difference.
            assert_eq!(mmap.lookup(b"same"), Some(&b"m2"[..]));
            assert_eq!(stdio.lookup(b"same"), Some(&b"m1"[..]));
        }
    }

    /// Observed with kmod 30 on a synthetic tree whose `modules.builtin.modinfo` is
    /// `m1.alias=same m2.alias=same m3.alias=s* m1.alias=same2 m2.alias=sa*`:
    /// `modprobe -R same` prints m1 m2 m2 m3, `modinfo -F name same` m2 m1 m2 m3, and
    /// both print m1 m2 m3 for `same2`.
    #[test]
    fn equal_priority_merge_matches_kmod_30() {
        let entries = [
            ("same", "m1", 0),
            ("same", "m2", 0),
            ("s*", "m3", 0),
            ("same2", "m1", 0),
            ("sa*", "m2", 0),
        ];
        for layout in LAYOUTS {
            let bytes = build(&entries, layout);
            let mmap = Index::new(&bytes).unwrap();
            let stdio = Index::new(&bytes).unwrap().with_order(ValueOrder::Stdio);
            assert_eq!(
                names(&mmap.lookup_wildcard(b"same")),
                ["m1", "m2", "m2", "m3"]
            );
            assert_eq!(
                names(&stdio.lookup_wildcard(b"same")),
                ["m2", "m1", "m2", "m3"]
            );
            assert_eq!(names(&mmap.lookup_wildcard(b"same2")), ["m1", "m2", "m3"]);
            assert_eq!(names(&stdio.lookup_wildcard(b"same2")), ["m1", "m2", "m3"]);
        }
    }

    /// Observed with kmod 30 (`m1.alias=a*`, `m2.alias=ab`): `modprobe -R 'a*'` prints m1
    /// twice, once from the scan of the `*` child and once from the literal descent.
    #[test]
    fn subject_with_wildcard_can_find_a_key_twice() {
        let entries = [("a*", "m1", 0), ("ab", "m2", 0)];
        for layout in LAYOUTS {
            let bytes = build(&entries, layout);
            let idx = Index::new(&bytes).unwrap();
            assert_eq!(names(&idx.lookup_wildcard(b"a*")), ["m1", "m1"]);
            assert_eq!(names(&idx.lookup_wildcard(b"ab")), ["m2", "m1"]);
        }
    }

    #[test]
    fn wildcard_results_ascend_by_priority() {
        let entries = [
            ("pci:v00008086d*", "e1000e", 7),
            ("pci:v*", "generic", 3),
            ("pci:v00008086d00001000*", "e1000", 5),
            ("pci:v00008086d00001000", "exact", 9),
            ("pci:x*", "other", 1),
        ];
        for layout in LAYOUTS {
            let bytes = build(&entries, layout);
            let idx = Index::new(&bytes).unwrap();
            assert_eq!(
                names(&idx.lookup_wildcard(b"pci:v00008086d00001000")),
                ["generic", "e1000", "e1000e", "exact"]
            );
            assert_eq!(names(&idx.lookup_wildcard(b"pci:v1")), ["generic"]);
            assert!(idx.lookup_wildcard(b"usb:v1").is_empty());
        }
    }

    #[test]
    fn wildcard_literal_part_is_compared_byte_for_byte() {
        // The part before the first `*`, `?` or `[` is not a pattern: `\` is literal there.
        let entries = [("a\\b*", "esc", 0)];
        for layout in LAYOUTS {
            let bytes = build(&entries, layout);
            let idx = Index::new(&bytes).unwrap();
            assert!(idx.lookup_wildcard(b"ab").is_empty());
            assert_eq!(names(&idx.lookup_wildcard(b"a\\bc")), ["esc"]);
        }
    }

    #[test]
    fn dump_is_pre_order_sorted_by_key() {
        let entries = [
            ("b", "2", 0),
            ("ab", "1", 0),
            ("a", "0", 0),
            ("a", "0b", 1),
            ("abc", "3", 0),
        ];
        for layout in LAYOUTS {
            let bytes = build(&entries, layout);
            let idx = Index::new(&bytes).unwrap();
            let dump: Vec<(String, String)> = idx
                .dump()
                .into_iter()
                .map(|(k, v)| {
                    (
                        String::from_utf8(k).unwrap(),
                        String::from_utf8(v.to_vec()).unwrap(),
                    )
                })
                .collect();
            let want = [
                ("a", "0"),
                ("a", "0b"),
                ("ab", "1"),
                ("abc", "3"),
                ("b", "2"),
            ];
            let want: Vec<(String, String)> = want
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            assert_eq!(dump, want);
            let prios: Vec<u32> = idx.dump_values().iter().map(|(_, v)| v.priority).collect();
            assert_eq!(prios, [0, 1, 0, 0, 0]);
        }
    }

    fn header(root: u32) -> Vec<u8> {
        let mut v = vec![0xb0, 0x07, 0xf4, 0x57, 0, 2, 0, 1];
        v.extend_from_slice(&root.to_be_bytes());
        v
    }

    #[test]
    fn malformed_nodes_are_absent() {
        // Root offset past the end, and offset 0 with flags.
        for root in [0x4000_0100, FLAG_VALUES, 0x2000_000c] {
            let bytes = header(root);
            let idx = Index::new(&bytes).unwrap();
            assert_eq!(idx.lookup(b""), None);
            assert!(idx.dump().is_empty());
            assert!(idx.lookup_wildcard(b"a").is_empty());
        }
        // first > last, child byte >= 128, missing prefix terminator, short child array.
        let bodies: [&[u8]; 4] = [b"\x62\x61\0\0\0\0", b"\x80\x81", b"abc", b"\x61\x62\0\0"];
        for (body, flags) in bodies
            .iter()
            .zip([FLAG_CHILDS, FLAG_CHILDS, FLAG_PREFIX, FLAG_CHILDS])
        {
            let mut bytes = header(12 | flags);
            bytes.extend_from_slice(body);
            let idx = Index::new(&bytes).unwrap();
            assert_eq!(idx.lookup(b"a"), None);
            assert!(idx.dump().is_empty());
            assert!(idx.lookup_wildcard(b"abc").is_empty());
        }
    }

    #[test]
    fn truncated_value_list_ends_early() {
        let mut bytes = header(12 | FLAG_VALUES);
        bytes.extend_from_slice(&[0xff, 0xff, 0xff, 0xff]); // claims 4 billion values
        bytes.extend_from_slice(&[0, 0, 0, 1]);
        bytes.extend_from_slice(b"one\0");
        bytes.extend_from_slice(&[0, 0, 0, 2]);
        bytes.extend_from_slice(b"cut"); // no terminator
        let idx = Index::new(&bytes).unwrap();
        assert_eq!(idx.lookup(b""), Some(&b"one"[..]));
        assert_eq!(names(&idx.lookup_all(b"")), ["one"]);
        assert_eq!(idx.dump().len(), 1);
    }

    #[test]
    fn cycles_end_within_the_budget() {
        // A root with prefix "*", values, and 128 children all pointing back at itself.
        let mut bytes = header(12 | FLAG_PREFIX | FLAG_CHILDS | FLAG_VALUES);
        bytes.extend_from_slice(b"*\0");
        bytes.extend_from_slice(&[0, 127]);
        for _ in 0..128 {
            bytes.extend_from_slice(&(12 | FLAG_PREFIX | FLAG_CHILDS | FLAG_VALUES).to_be_bytes());
        }
        bytes.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0]);
        bytes.extend_from_slice(b"loop\0");
        let idx = Index::new(&bytes).unwrap();
        let found = idx.lookup_wildcard(b"anything");
        assert!(!found.is_empty());
        assert!(found.len() <= bytes.len());
        let dump = idx.dump();
        assert!(!dump.is_empty() && dump.len() <= bytes.len());
        assert_eq!(idx.lookup(b"*"), Some(&b"loop"[..]));
        // Exact lookups consume a key byte per step: a long key through the cycle ends.
        let key: Vec<u8> = b"*a*".iter().copied().cycle().take(3000).collect();
        assert_eq!(idx.lookup(&key), None);
    }
}
