//! The `modules.*.bin` index: a path-compressed trie of keys to prioritised values.
//!
//! This crate owns the on-disk format (kmod-formats §1–2): [`IndexWriter`] builds the trie
//! and writes either layout ([`Layout::PreOrder`], kmod ≥ 34; [`Layout::PostOrder`],
//! kmod ≤ 33); [`Index`] reads one from a byte slice (an mmap) with exact and wildcard
//! lookups and dumps; [`fnmatch`] is our own matcher with glibc's `fnmatch(p, s, 0)`
//! semantics; [`names`] holds the name normalisations of kmod (`alias_normalize`,
//! `modname_normalize`).
#![forbid(unsafe_code)]

pub mod fnmatch;
pub mod names;
pub mod reader;
pub mod writer;

pub use fnmatch::fnmatch;
pub use reader::{Index, IndexError, Value, ValueOrder};
pub use writer::{IndexWriter, Layout};
