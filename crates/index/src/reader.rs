//! Reading an index from a byte slice: exact and wildcard lookups, dumps (kmod-formats §1.8, §2).
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
    _data: &'a [u8],
    order: ValueOrder,
}

impl<'a> Index<'a> {
    /// Validate the header; malformed nodes found later are treated as absent, never a panic.
    pub fn new(data: &'a [u8]) -> Result<Index<'a>, IndexError> {
        let _ = data;
        todo!("index helper")
    }
    pub fn with_order(mut self, order: ValueOrder) -> Index<'a> {
        self.order = order;
        self
    }
    /// Exact search: the first value of the key (formats §2.1).
    pub fn lookup(&self, key: &[u8]) -> Option<&'a [u8]> {
        let _ = key;
        todo!("index helper")
    }
    /// Wildcard search: stored keys are patterns, `subject` the string (formats §2.2).
    pub fn lookup_wildcard(&self, subject: &[u8]) -> Vec<Value<'a>> {
        let _ = subject;
        todo!("index helper")
    }
    /// Pre-order dump: every (key, value) pair (formats §2.3).
    pub fn dump(&self) -> Vec<(Vec<u8>, &'a [u8])> {
        todo!("index helper")
    }
}
