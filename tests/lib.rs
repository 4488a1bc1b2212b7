//! Shared helpers of the integration tests: locating the modkit binary, the kmod oracle and
//! the Debian module trees fetched by `cargo xtask test`; running both tools; comparing
//! their outcomes and files with a short report of the first difference.
//!
//! Environment (set by `cargo xtask test`):
//! - `MODKIT_BIN`: the binary under test (default: target/release/modkit, then target/debug);
//! - `MODKIT_TREES`: a file with fetch.sh's lines `<label> <version> <root> <deb>`;
//! - `MODKIT_REQUIRE_TREES=1`: missing trees or binary fail the tests instead of skipping.
#![forbid(unsafe_code)]

pub mod compare;
pub mod sandbox;
pub mod trees;

pub use compare::{assert_same, first_difference, Outcome};
pub use trees::{kmod_indexed, trees, Tree};

use std::path::{Path, PathBuf};
use std::process::Command;

/// kmod 30's depmod, the oracle.
pub const KMOD_DEPMOD: &str = "/sbin/depmod";
/// kmod 30's modinfo, the oracle.
pub const KMOD_MODINFO: &str = "/sbin/modinfo";

/// Every file depmod (kmod 30) writes, in writing order.
pub const DEPMOD_OUTPUTS: &[&str] = &[
    "modules.dep",
    "modules.dep.bin",
    "modules.alias",
    "modules.alias.bin",
    "modules.softdep",
    "modules.symbols",
    "modules.symbols.bin",
    "modules.builtin.bin",
    "modules.builtin.alias.bin",
    "modules.devname",
];

/// True when MODKIT_REQUIRE_TREES=1: a missing prerequisite is a failure, not a skip.
pub fn required() -> bool {
    std::env::var("MODKIT_REQUIRE_TREES").is_ok_and(|v| v == "1")
}

/// Prints a loud note that a test was skipped, or panics when prerequisites are required.
pub fn skip(test: &str, why: &str) {
    assert!(!required(), "{test}: {why}, but MODKIT_REQUIRE_TREES=1");
    eprintln!("\n!!!!! NOTE: {test} SKIPPED: {why} (run `cargo xtask test`) !!!!!\n");
}

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(Path::to_path_buf).unwrap_or(manifest)
}

/// The modkit binary under test, if any (see the module doc).
pub fn modkit_bin() -> Option<PathBuf> {
    if let Some(bin) = std::env::var_os("MODKIT_BIN") {
        return Some(PathBuf::from(bin));
    }
    ["target/release/modkit", "target/debug/modkit"]
        .iter()
        .map(|p| workspace_root().join(p))
        .find(|p| p.is_file())
}

/// A command running `modkit TOOL`, or None (after a note) when there is no binary.
pub fn modkit(test: &str, tool: &str) -> Option<Command> {
    match modkit_bin() {
        Some(bin) => {
            let mut cmd = Command::new(bin);
            cmd.arg(tool);
            Some(cmd)
        }
        None => {
            skip(
                test,
                "no modkit binary (MODKIT_BIN unset, target/*/modkit missing)",
            );
            None
        }
    }
}

/// A fresh, empty scratch directory `target/difftest/<name>`.
pub fn scratch(name: &str) -> PathBuf {
    let base = std::env::var_os("MODKIT_DIFFTEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target/difftest"));
    let dir = base.join(name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).unwrap_or_else(|e| panic!("cannot clear {dir:?}: {e}"));
    }
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {dir:?}: {e}"));
    dir
}

/// Every module file (`.ko`, `.ko.xz`, `.ko.zst`, `.ko.gz`) under `dir`, sorted.
pub fn module_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).unwrap_or_else(|e| panic!("cannot read {d:?}: {e}"));
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                if name != "build" && name != "source" {
                    stack.push(path);
                }
            } else if is_module_name(&name) {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// True for the file names depmod treats as modules.
pub fn is_module_name(name: &str) -> bool {
    [".ko", ".ko.xz", ".ko.zst", ".ko.gz"]
        .iter()
        .any(|s| name.ends_with(s))
}

/// The module name of a path as modinfo accepts it (the file name up to its first `.`).
pub fn module_name(path: &Path) -> String {
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    file.split('.').next().unwrap_or_default().to_owned()
}
