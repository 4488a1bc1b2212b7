//! The `modules.*.bin` index: a path-compressed trie of keys to prioritised values.
//!
//! This crate owns the on-disk format (kmod-formats §1–2): [`IndexWriter`] builds the trie
//! and writes either layout ([`Layout::PreOrder`], kmod ≥ 34; [`Layout::PostOrder`],
//! kmod ≤ 33); [`Index`] reads one from a byte slice (an mmap) with exact and wildcard
//! lookups and dumps; [`fnmatch()`] is our own matcher with glibc's `fnmatch(p, s, 0)`
//! semantics; [`names`] holds the name normalisations of kmod (`alias_normalize`,
//! `modname_normalize`).
//!
//! # Format (all integers big-endian)
//!
//! * Header, 12 bytes: magic `0xB007F457`, version `0x00020001` (readers check the major
//!   half only), then the root's node word.
//! * Node word: bit 31 `PREFIX`, bit 30 `VALUES`, bit 29 `CHILDS` describe the node; bits
//!   27..0 are the absolute file offset of its body (0 = no node).
//! * Node body, fields present per flag, in this order: the prefix bytes and a NUL; `first`,
//!   `last` (child bytes, < 128) and `last - first + 1` child words (0 = no child for that
//!   byte); a value count, then per value its priority and the value bytes with a NUL.
//! * A key is the concatenation, from the root down, of each node's prefix and the edge byte
//!   to the next node; a key exists when its node has values. Values are kept in ascending
//!   priority, a new value going before the first one of equal or higher priority.
//! * Layouts differ only in node order: pre-order puts the root at 12 and each node before
//!   its children's subtrees (ascending bytes); post-order writes children first and the
//!   root last. An empty index is the 12-byte header with root word `0x0000000C`.
#![forbid(unsafe_code)]

pub mod fnmatch;
mod format;
pub mod names;
pub mod reader;
pub mod writer;

pub use fnmatch::fnmatch;
pub use reader::{Index, IndexError, Value, ValueOrder};
pub use writer::{IndexWriter, Layout, WriteError};
