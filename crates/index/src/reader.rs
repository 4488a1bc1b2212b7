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
        while let Some(frame) = stack.last_mut() {
            key.truncate(frame.key_len);
            let parent = frame.node;
            let next_child = (frame.next..parent.child_count())
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
                return;
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
