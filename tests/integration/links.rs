//! The multi-call binary reached through links named after the tools (how it is installed):
//! `depmod` and `modinfo` links behave like `modkit depmod` / `modkit modinfo`, and so like
//! kmod 30's tools.

use modkit_tests::{assert_same, modkit_bin, scratch, skip, Outcome, KMOD_DEPMOD, KMOD_MODINFO};
use std::path::PathBuf;
use std::process::Command;

/// A directory holding links `depmod` and `modinfo` to the binary under test.
fn links(test: &str) -> Option<PathBuf> {
    let Some(bin) = modkit_bin() else {
        skip(test, "no modkit binary");
        return None;
    };
    let bin = std::fs::canonicalize(&bin).unwrap_or(bin);
    let dir = scratch(test);
    for tool in ["depmod", "modinfo"] {
        std::os::unix::fs::symlink(&bin, dir.join(tool)).expect("create link");
    }
    Some(dir)
}

#[test]
fn tool_links_behave_like_kmod() {
    let test = "links";
    let Some(dir) = links(test) else { return };
    let missing = dir.join("missing.ko").to_string_lossy().into_owned();
    let cases: [(&str, &str, Vec<&str>); 4] = [
        ("modinfo", KMOD_MODINFO, vec![]),
        ("modinfo", KMOD_MODINFO, vec![&missing]),
        ("depmod", KMOD_DEPMOD, vec!["not-a-version"]),
        ("depmod", KMOD_DEPMOD, vec!["-P", "ab"]),
    ];
    for (tool, oracle, args) in cases {
        let theirs = Outcome::of(Command::new(oracle).args(&args));
        let ours = Outcome::of(Command::new(dir.join(tool)).args(&args));
        assert_same(
            &format!("{test}: {tool} {}", args.join(" ")),
            &theirs,
            &ours,
        );
    }
}
