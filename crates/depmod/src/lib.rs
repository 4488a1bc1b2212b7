//! The module database: scan a module tree, compute what depmod computes, write every
//! output file atomically, and open an existing database for lookups.
//!
//! Scanning and decompression run in parallel (rayon); everything from module order on is
//! sequential and deterministic (kmod-formats §5).
#![forbid(unsafe_code)]

pub mod database;

use std::path::PathBuf;

pub use modkit_index::Layout;

/// What one depmod run is asked to do: the parsed command line (kmod-formats §5.1).
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `-b`: root prefix, already absolute ("" = none).
    pub basedir: PathBuf,
    /// `-o`: output root, already absolute (None = basedir).
    pub outdir: Option<PathBuf>,
    /// `-m`/`--moduledir` (default "/lib/modules").
    pub moduledir: String,
    /// The kernel version (first positional argument, else `uname -r`).
    pub version: String,
    /// `-C`, repeatable; None = the default depmod.d directories.
    pub config_paths: Option<Vec<PathBuf>>,
    /// `-E`
    pub symvers: Option<PathBuf>,
    /// `-F`
    pub filesyms: Option<PathBuf>,
    /// `-e` (already dropped with a warning by the caller when neither -E nor -F is set)
    pub errsyms: bool,
    /// `-n`
    pub dry_run: bool,
    /// `-P`
    pub symbol_prefix: Option<u8>,
    /// number of `-v`
    pub verbose: u8,
    /// `-w`
    pub warn: bool,
    /// `-A`
    pub quick: bool,
    /// `-a`
    pub all: bool,
    /// explicit absolute module paths (positional arguments after the version)
    pub modules: Vec<PathBuf>,
    /// `--index-layout`
    pub layout: Layout,
}

/// Severity of a depmod message, as kmod prints it (`depmod: <LEVEL>: ...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Fatal,
    Error,
    Warning,
    Notice,
    Info,
    Debug,
}

/// Where a run sends its messages (stderr lines) and its `-v`/`-n` output (stdout bytes).
pub trait Reporter {
    /// One message; `text` is kmod's wording without the `depmod: LEVEL: ` prefix.
    fn message(&mut self, level: Level, text: &str);
    /// Bytes for stdout (`-n` outputs, `-v` "needs" lines).
    fn stdout(&mut self, bytes: &[u8]);
}

/// A run that ends with exit status 1. `Display` is kmod's message text (no prefix);
/// `level()` is how kmod prints it (FATAL for most, ERROR for cycles / bad version).
#[derive(Debug, thiserror::Error)]
#[error("{text}")]
pub struct DepmodError {
    pub level: Level,
    pub text: String,
}

/// Run depmod: exit status 0 on Ok, 1 on Err (after the error is printed by the caller).
pub fn run(opts: &Options, reporter: &mut dyn Reporter) -> Result<(), DepmodError> {
    let _ = (opts, reporter);
    todo!("depmod helper")
}
