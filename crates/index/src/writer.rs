//! Building the trie and writing it in either on-disk layout (kmod-formats §1.5–1.6).

/// Which node order a written index uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Layout {
    /// kmod ≥ 34: root at offset 12, each node followed by its children's subtrees.
    #[default]
    PreOrder,
    /// kmod ≤ 33 (Debian 12's kmod 30): children before parents, root last.
    PostOrder,
}

/// An index under construction. Memory: sparse children (no 128-pointer arrays).
#[derive(Default)]
pub struct IndexWriter {}

impl IndexWriter {
    pub fn new() -> IndexWriter {
        IndexWriter::default()
    }
    /// Insert `(key, value, priority)` exactly as depmod does (values ascending by priority,
    /// a new value before the first of equal or higher priority, duplicates kept).
    /// Returns true when the same value string already existed under this key (for `-w`).
    pub fn insert(&mut self, key: &[u8], value: &[u8], priority: u32) -> bool {
        let _ = (key, value, priority);
        todo!("index helper")
    }
    /// The whole file in the given layout.
    pub fn to_bytes(&self, layout: Layout) -> Vec<u8> {
        let _ = layout;
        todo!("index helper")
    }
}
