//! Errors of module parsing, each keeping the errno kmod reports for it.
use thiserror::Error;

/// Why a module file could not be read. `errno()` is what libkmod returns in the same case.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum Error {
    #[error("not an ELF file")]
    NotElf,
    #[error("truncated or corrupt ELF: {0}")]
    Corrupt(String),
    #[error("{format} stream is corrupt: {detail}")]
    Decompress {
        format: &'static str,
        detail: String,
    },
    #[error("section {0} not found")]
    NoSection(&'static str),
}

impl Error {
    /// The errno libkmod (kmod 30) reports for this error.
    pub fn errno(&self) -> i32 {
        todo!("elf helper")
    }
}
