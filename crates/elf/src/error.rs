//! Errors of module parsing, each keeping the errno kmod reports for it.
//!
//! What kmod 30 (Debian 12) prints for `modinfo /tmp/x.ko` on bad files, checked with the
//! oracle (`modinfo: ERROR: could not get modinfo from 'x': <strerror>`):
//!
//! | file | kmod 30 strerror | our error |
//! |---|---|---|
//! | empty file, or shorter than 6 bytes | `Invalid argument` (EINVAL) | [`Error::Corrupt`] |
//! | 6..=16 bytes, or wrong ELF magic (e.g. `hello\n`) | `Exec format error` (ENOEXEC) | [`Error::NotElf`] |
//! | ELF magic but bad `EI_CLASS`/`EI_DATA`, header or section headers cut off, bad `e_shentsize` | `Invalid argument` | [`Error::Corrupt`] |
//! | xz or zstd magic followed by a broken or truncated stream | `Invalid argument` | [`Error::Decompress`] |
//! | gzip magic (Debian's kmod 30 is built without zlib, so it sees a non-ELF file) | `Exec format error` | [`Error::Decompress`] with format `gzip` |
//! | a valid ELF without `.modinfo` | `No such file or directory` (ENOENT) | [`Error::NoSection`] |
//!
//! kmod 30 does not check `EI_VERSION` or `e_type` (a module with `EI_VERSION` 0 or
//! `ET_DYN` is read normally); neither do we. An `e_shstrndx` out of range makes kmod 30 abort
//! on an assertion; we report [`Error::Corrupt`] (EINVAL).
use thiserror::Error;

/// `EINVAL` on Linux.
const EINVAL: i32 = 22;
/// `ENOEXEC` on Linux.
const ENOEXEC: i32 = 8;
/// `ENOENT` on Linux.
const ENOENT: i32 = 2;

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
    /// The errno libkmod (kmod 30) reports for this error (see the module docs for the table).
    pub fn errno(&self) -> i32 {
        match self {
            Error::NotElf => ENOEXEC,
            Error::Corrupt(_) => EINVAL,
            Error::Decompress { format: "gzip", .. } => ENOEXEC,
            Error::Decompress { .. } => EINVAL,
            Error::NoSection(_) => ENOENT,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_matches_kmod_30() {
        assert_eq!(Error::NotElf.errno(), 8);
        assert_eq!(Error::Corrupt("x".into()).errno(), 22);
        let xz = Error::Decompress {
            format: "xz",
            detail: String::new(),
        };
        assert_eq!(xz.errno(), 22);
        let gz = Error::Decompress {
            format: "gzip",
            detail: String::new(),
        };
        assert_eq!(gz.errno(), 8);
        assert_eq!(Error::NoSection(".modinfo").errno(), 2);
    }
}
