//! Building the trie and writing it in either on-disk layout (kmod-formats §1.5–1.6).
//!
//! Nodes live in one arena (`Vec<Node>`) and keep their children as a sorted sparse list of
//! `(edge byte, node id)`, so a distribution-sized alias index (~35 000 nodes) stays small.
//! Writing lists the nodes in file order (pre-order or post-order, without recursion),
//! assigns offsets by a running sum of node sizes, then encodes each body once.
use crate::format::{
    FLAG_CHILDS, FLAG_PREFIX, FLAG_VALUES, HEADER_LEN, INDEX_MAGIC, INDEX_VERSION, OFFSET_MASK,
};
use std::io::Write;
use thiserror::Error;

/// Which node order a written index uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Layout {
    /// kmod ≥ 34: root at offset 12, each node followed by its children's subtrees.
    #[default]
    PreOrder,
    /// kmod ≤ 33 (Debian 12's kmod 30): children before parents, root last.
    PostOrder,
}

/// Why an index cannot be built or written.
#[derive(Debug, Error)]
pub enum WriteError {
    /// depmod accepts only 7-bit ASCII (and, being C, no NUL) in keys and values.
    #[error("Module index: bad character '{}'=0x{byte:02x} - only 7-bit ASCII is supported:\n{}",
        char::from(*byte), String::from_utf8_lossy(text))]
    BadCharacter { byte: u8, text: Vec<u8> },
    /// Node offsets have 28 bits: an index cannot exceed 256 MiB.
    #[error("index too large: {size} bytes (node offsets are limited to 256 MiB)")]
    TooLarge { size: u64 },
    #[error("writing index: {0}")]
    Io(#[from] std::io::Error),
}

/// One value stored under a key.
#[derive(Debug, Clone, PartialEq, Eq)]
struct NodeValue {
    priority: u32,
    value: Box<[u8]>,
}

/// One trie node: the bytes of its edge after the first, values, sparse children.
#[derive(Debug, Default)]
struct Node {
    prefix: Vec<u8>,
    values: Vec<NodeValue>,
    /// Sorted by edge byte.
    children: Vec<(u8, u32)>,
}

impl Node {
    fn child(&self, byte: u8) -> Result<u32, usize> {
        self.children
            .binary_search_by_key(&byte, |&(b, _)| b)
            .map(|i| self.children.get(i).map_or(0, |&(_, id)| id))
    }

    fn flags(&self) -> u32 {
        let mut flags = 0;
        if !self.prefix.is_empty() {
            flags |= FLAG_PREFIX;
        }
        if !self.values.is_empty() {
            flags |= FLAG_VALUES;
        }
        if !self.children.is_empty() {
            flags |= FLAG_CHILDS;
        }
        flags
    }

    /// Edge bytes of the first and last child.
    fn child_range(&self) -> Option<(u8, u8)> {
        Some((self.children.first()?.0, self.children.last()?.0))
    }

    /// Encoded body size (kmod-formats §1.5 "Node size").
    fn size(&self) -> u64 {
        let mut size = 0u64;
        if !self.prefix.is_empty() {
            size += self.prefix.len() as u64 + 1;
        }
        if let Some((first, last)) = self.child_range() {
            size += 2 + 4 * (u64::from(last) - u64::from(first) + 1);
        }
        if !self.values.is_empty() {
            size += 4;
            for v in &self.values {
                size += 4 + v.value.len() as u64 + 1;
            }
        }
        size
    }

    /// Add a value the way depmod does: ascending priority, a new value before the first
    /// of equal or higher priority, duplicates kept. True if the string was already there.
    fn add_value(&mut self, value: &[u8], priority: u32) -> bool {
        let duplicate = self.values.iter().any(|v| *v.value == *value);
        let at = self.values.partition_point(|v| v.priority < priority);
        self.values.insert(
            at,
            NodeValue {
                priority,
                value: value.into(),
            },
        );
        duplicate
    }
}

/// An index under construction. Memory: sparse children (no 128-pointer arrays).
#[derive(Debug)]
pub struct IndexWriter {
    /// Node 0 is the root.
    nodes: Vec<Node>,
}

impl Default for IndexWriter {
    fn default() -> IndexWriter {
        IndexWriter {
            nodes: vec![Node::default()],
        }
    }
}

/// The first byte depmod would refuse in `text` (≥ 0x80, or NUL which C cannot store).
pub fn bad_character(text: &[u8]) -> Option<u8> {
    text.iter().copied().find(|&b| b >= 0x80 || b == 0)
}

impl IndexWriter {
    pub fn new() -> IndexWriter {
        IndexWriter::default()
    }

    /// Insert `(key, value, priority)` exactly as depmod does (values ascending by priority,
    /// a new value before the first of equal or higher priority, duplicates kept).
    /// Returns true when the same value string already existed under this key (for `-w`).
    ///
    /// Keys and values should be 7-bit ASCII without NUL ([`IndexWriter::try_insert`]
    /// checks); other bytes are stored but readers treat their nodes as corrupt.
    pub fn insert(&mut self, key: &[u8], value: &[u8], priority: u32) -> bool {
        let node = self.node_for_key(key);
        match self.nodes.get_mut(node) {
            Some(n) => n.add_value(value, priority),
            None => false,
        }
    }

    /// [`IndexWriter::insert`] after depmod's check that key and value are 7-bit ASCII.
    pub fn try_insert(
        &mut self,
        key: &[u8],
        value: &[u8],
        priority: u32,
    ) -> Result<bool, WriteError> {
        for text in [key, value] {
            if let Some(byte) = bad_character(text) {
                return Err(WriteError::BadCharacter {
                    byte,
                    text: text.to_vec(),
                });
            }
        }
        Ok(self.insert(key, value, priority))
    }

    /// Walk down `key`, splitting and creating nodes as needed; the id of its node.
    fn node_for_key(&mut self, key: &[u8]) -> usize {
        let mut id = 0usize;
        let mut i = 0usize;
        loop {
            self.split_at_mismatch(id, key.get(i..).unwrap_or_default());
            let Some(node) = self.nodes.get(id) else {
                return id;
            };
            i += node.prefix.len();
            let Some(&c) = key.get(i) else {
                return id;
            };
            match node.child(c) {
                Ok(child) => {
                    id = child as usize;
                    i += 1;
                }
                Err(slot) => {
                    let leaf = self.push(Node {
                        prefix: key.get(i + 1..).unwrap_or_default().to_vec(),
                        ..Node::default()
                    });
                    if let Some(node) = self.nodes.get_mut(id) {
                        node.children.insert(slot, (c, leaf));
                    }
                    return leaf as usize;
                }
            }
        }
    }

    /// Make the prefix of node `id` a prefix of `rest`: on the first mismatch (or when
    /// `rest` ends inside the prefix) move the node's tail into a new child.
    fn split_at_mismatch(&mut self, id: usize, rest: &[u8]) {
        let Some(node) = self.nodes.get(id) else {
            return;
        };
        let mismatch = node
            .prefix
            .iter()
            .enumerate()
            .find(|&(j, &b)| rest.get(j) != Some(&b));
        let Some((j, &edge)) = mismatch else {
            return;
        };
        let next_id = self.nodes.len() as u32;
        let Some(node) = self.nodes.get_mut(id) else {
            return;
        };
        let tail = node.prefix.get(j + 1..).unwrap_or_default().to_vec();
        node.prefix.truncate(j);
        node.prefix.shrink_to_fit();
        let moved = Node {
            prefix: tail,
            values: std::mem::take(&mut node.values),
            children: std::mem::take(&mut node.children),
        };
        node.children = vec![(edge, next_id)];
        self.nodes.push(moved);
    }

    fn push(&mut self, node: Node) -> u32 {
        let id = self.nodes.len() as u32;
        self.nodes.push(node);
        id
    }

    /// Number of distinct keys (nodes with values).
    pub fn key_count(&self) -> usize {
        self.nodes.iter().filter(|n| !n.values.is_empty()).count()
    }

    /// The whole file in the given layout.
    ///
    /// An index over 256 MiB cannot be encoded; this then returns an empty vector
    /// ([`IndexWriter::try_to_bytes`] reports the error instead).
    pub fn to_bytes(&self, layout: Layout) -> Vec<u8> {
        self.try_to_bytes(layout).unwrap_or_default()
    }

    /// The whole file in the given layout, or [`WriteError::TooLarge`].
    pub fn try_to_bytes(&self, layout: Layout) -> Result<Vec<u8>, WriteError> {
        let order = self.file_order(layout);
        let mut offsets = vec![0u32; self.nodes.len()];
        let mut pos = HEADER_LEN as u64;
        for &id in &order {
            let node = self.node(id);
            if let Some(slot) = offsets.get_mut(id as usize) {
                *slot = u32::try_from(pos).unwrap_or(u32::MAX);
            }
            pos += node.size();
        }
        // The last body may end at 256 MiB exactly only if it is empty; every offset
        // must fit in 28 bits.
        let max_offset = order
            .iter()
            .map(|&id| offsets.get(id as usize).copied().unwrap_or(0))
            .max()
            .unwrap_or(0);
        if u64::from(max_offset) > u64::from(OFFSET_MASK) || pos > u64::from(u32::MAX) {
            return Err(WriteError::TooLarge { size: pos });
        }
        let mut out = Vec::with_capacity(pos as usize);
        out.extend_from_slice(&INDEX_MAGIC.to_be_bytes());
        out.extend_from_slice(&INDEX_VERSION.to_be_bytes());
        let root_word = offsets.first().copied().unwrap_or(0) | self.node(0).flags();
        out.extend_from_slice(&root_word.to_be_bytes());
        for &id in &order {
            self.encode(id, &offsets, &mut out);
        }
        Ok(out)
    }

    /// Write the whole file in the given layout to `w`.
    pub fn write_to<W: Write>(&self, w: &mut W, layout: Layout) -> Result<(), WriteError> {
        let bytes = self.try_to_bytes(layout)?;
        w.write_all(&bytes)?;
        Ok(())
    }

    fn node(&self, id: u32) -> &Node {
        static EMPTY: Node = Node {
            prefix: Vec::new(),
            values: Vec::new(),
            children: Vec::new(),
        };
        self.nodes.get(id as usize).unwrap_or(&EMPTY)
    }

    /// Node ids in the order their bodies appear in the file.
    fn file_order(&self, layout: Layout) -> Vec<u32> {
        let mut order = Vec::with_capacity(self.nodes.len());
        match layout {
            Layout::PreOrder => {
                let mut stack = vec![0u32];
                while let Some(id) = stack.pop() {
                    order.push(id);
                    stack.extend(self.node(id).children.iter().rev().map(|&(_, c)| c));
                }
            }
            Layout::PostOrder => {
                // (node, index of the next child to descend into)
                let mut stack = vec![(0u32, 0usize)];
                while let Some(top) = stack.last_mut() {
                    let (id, next) = *top;
                    match self.node(id).children.get(next) {
                        Some(&(_, child)) => {
                            top.1 += 1;
                            stack.push((child, 0));
                        }
                        None => {
                            order.push(id);
                            stack.pop();
                        }
                    }
                }
            }
        }
        order
    }

    /// Append the body of node `id`.
    fn encode(&self, id: u32, offsets: &[u32], out: &mut Vec<u8>) {
        let node = self.node(id);
        if !node.prefix.is_empty() {
            out.extend_from_slice(&node.prefix);
            out.push(0);
        }
        if let Some((first, last)) = node.child_range() {
            out.push(first);
            out.push(last);
            let mut children = node.children.iter().peekable();
            for byte in first..=last {
                let word = match children.next_if(|&&(b, _)| b == byte) {
                    Some(&(_, child)) => {
                        offsets.get(child as usize).copied().unwrap_or(0) | self.node(child).flags()
                    }
                    None => 0,
                };
                out.extend_from_slice(&word.to_be_bytes());
            }
        }
        if !node.values.is_empty() {
            let count = u32::try_from(node.values.len()).unwrap_or(u32::MAX);
            out.extend_from_slice(&count.to_be_bytes());
            for v in &node.values {
                out.extend_from_slice(&v.priority.to_be_bytes());
                out.extend_from_slice(&v.value);
                out.push(0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes from a readable description: hex runs and `"quoted"` strings (`\0` allowed).
    fn bytes(spec: &str) -> Vec<u8> {
        let mut out = Vec::new();
        let mut quoted = false;
        for part in spec.split('"') {
            if quoted {
                out.extend_from_slice(part.replace("\\0", "\0").as_bytes());
            } else {
                let hex: String = part.chars().filter(|c| c.is_ascii_hexdigit()).collect();
                assert_eq!(hex.len() % 2, 0, "odd hex run in {part:?}");
                for i in (0..hex.len()).step_by(2) {
                    out.push(u8::from_str_radix(&hex[i..i + 2], 16).unwrap());
                }
            }
            quoted = !quoted;
        }
        out
    }

    fn assert_bytes(got: &[u8], want: &str) {
        let want = bytes(want);
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        assert_eq!(hex(got), hex(&want));
    }

    fn example_a() -> IndexWriter {
        let mut w = IndexWriter::new();
        w.insert(b"unix", b"", 0);
        w
    }

    fn example_b() -> IndexWriter {
        let mut w = IndexWriter::new();
        for key in ["fs_ext4", "ext3", "fs_ext3", "ext2", "fs_ext2"] {
            w.insert(key.as_bytes(), b"ext4", 2);
        }
        w
    }

    fn example_c() -> IndexWriter {
        let mut w = IndexWriter::new();
        w.insert(b"crc32c", b"crc32c_generic", 1);
        w.insert(b"crc32", b"crc32_generic", 2);
        w.insert(b"crc32c", b"crc32c_intel", 0);
        w
    }

    #[test]
    fn empty_index_is_twelve_bytes_in_both_layouts() {
        let w = IndexWriter::new();
        for layout in [Layout::PreOrder, Layout::PostOrder] {
            assert_bytes(&w.to_bytes(layout), "b007f457 00020001 0000000c");
        }
    }

    #[test]
    fn example_a_pre_order() {
        assert_bytes(
            &example_a().to_bytes(Layout::PreOrder),
            r#"b007f457 00020001 2000000c  75 75 c0000012  "nix\0" 00000001 00000000 00"#,
        );
    }

    #[test]
    fn example_a_post_order() {
        assert_bytes(
            &example_a().to_bytes(Layout::PostOrder),
            r#"b007f457 00020001 20000019  "nix\0" 00000001 00000000 00  75 75 c000000c"#,
        );
    }

    #[test]
    fn example_b_pre_order() {
        assert_bytes(
            &example_b().to_bytes(Layout::PreOrder),
            r#"b007f457 00020001 2000000c
               65 66 a0000016 a000003d
               "xt\0" 32 33 40000023 40000030
               00000001 00000002 "ext4\0"
               00000001 00000002 "ext4\0"
               "s_ext\0" 32 34 40000051 4000005e 4000006b
               00000001 00000002 "ext4\0"
               00000001 00000002 "ext4\0"
               00000001 00000002 "ext4\0""#,
        );
    }

    #[test]
    fn example_b_post_order() {
        assert_bytes(
            &example_b().to_bytes(Layout::PostOrder),
            r#"b007f457 00020001 2000006e
               00000001 00000002 "ext4\0"
               00000001 00000002 "ext4\0"
               "xt\0" 32 33 4000000c 40000019
               00000001 00000002 "ext4\0"
               00000001 00000002 "ext4\0"
               00000001 00000002 "ext4\0"
               "s_ext\0" 32 34 40000033 40000040 4000004d
               65 66 a0000026 a000005a"#,
        );
    }

    #[test]
    fn example_c_pre_order() {
        assert_bytes(
            &example_c().to_bytes(Layout::PreOrder),
            r#"b007f457 00020001 2000000c
               63 63 e0000012
               "rc32\0" 63 63 40000033
               00000001 00000002 "crc32_generic\0"
               00000002 00000000 "crc32c_intel\0" 00000001 "crc32c_generic\0""#,
        );
    }

    #[test]
    fn example_c_post_order() {
        assert_bytes(
            &example_c().to_bytes(Layout::PostOrder),
            r#"b007f457 00020001 20000055
               00000002 00000000 "crc32c_intel\0" 00000001 "crc32c_generic\0"
               "rc32\0" 63 63 4000000c 00000001 00000002 "crc32_generic\0"
               63 63 e0000034"#,
        );
    }

    #[test]
    fn equal_priorities_newest_first_and_duplicates_reported() {
        let mut w = IndexWriter::new();
        assert!(!w.insert(b"k", b"a", 5));
        assert!(!w.insert(b"k", b"b", 5));
        assert!(!w.insert(b"k", b"c", 1));
        assert!(w.insert(b"k", b"a", 9));
        let id = w.node_for_key(b"k");
        let values: Vec<(u32, &[u8])> = w.nodes[id]
            .values
            .iter()
            .map(|v| (v.priority, &*v.value))
            .collect();
        assert_eq!(
            values,
            vec![
                (1, &b"c"[..]),
                (5, &b"b"[..]),
                (5, &b"a"[..]),
                (9, &b"a"[..])
            ]
        );
    }

    #[test]
    fn splitting_keeps_values_with_the_longer_key() {
        let mut w = IndexWriter::new();
        w.insert(b"abcdef", b"long", 0);
        w.insert(b"abc", b"short", 0);
        w.insert(b"abx", b"other", 0);
        // root -> 'a' "b" -> {'c' "" (short) -> 'd' "ef" (long), 'x' "" (other)}
        let a = &w.nodes[w.nodes[0].child(b'a').unwrap() as usize];
        assert_eq!(a.prefix, b"b");
        assert!(a.values.is_empty());
        assert_eq!(a.children.iter().map(|c| c.0).collect::<Vec<_>>(), b"cx");
        assert_eq!(w.key_count(), 3);
    }

    #[test]
    fn insertion_order_does_not_change_the_shape() {
        let keys: [&[u8]; 6] = [b"ab", b"abc", b"b", b"a", b"abd", b""];
        let mut forward = IndexWriter::new();
        let mut backward = IndexWriter::new();
        for (i, k) in keys.iter().enumerate() {
            forward.insert(k, b"v", i as u32);
        }
        for (i, k) in keys.iter().enumerate().rev() {
            backward.insert(k, b"v", i as u32);
        }
        for layout in [Layout::PreOrder, Layout::PostOrder] {
            assert_eq!(forward.to_bytes(layout), backward.to_bytes(layout));
        }
    }

    #[test]
    fn try_insert_rejects_what_depmod_rejects() {
        let mut w = IndexWriter::new();
        let err = w.try_insert(b"caf\xe9", b"m", 0).unwrap_err();
        assert!(matches!(err, WriteError::BadCharacter { byte: 0xe9, .. }));
        assert!(err
            .to_string()
            .contains("=0xe9 - only 7-bit ASCII is supported"));
        assert!(matches!(
            w.try_insert(b"k", b"a\0b", 0),
            Err(WriteError::BadCharacter { byte: 0, .. })
        ));
        assert_eq!(w.key_count(), 0);
        assert!(!w.try_insert(b"k", b"v", 0).unwrap());
        assert!(w.try_insert(b"k", b"v", 0).unwrap());
    }

    #[test]
    fn write_to_streams_the_same_bytes() {
        let mut out = Vec::new();
        example_c().write_to(&mut out, Layout::PostOrder).unwrap();
        assert_eq!(out, example_c().to_bytes(Layout::PostOrder));
    }
}
