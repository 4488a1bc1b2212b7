//! The module database: scan a module tree, compute what depmod computes, write every
//! output file atomically, and open an existing database for lookups.
//!
//! Scanning and decompression run in parallel (rayon); everything from module order on is
//! sequential and deterministic (kmod-formats §5).
#![forbid(unsafe_code)]

pub mod database;
