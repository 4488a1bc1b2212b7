//! `-V`/`--version` of every tool: a deliberate difference from kmod 30 (crates/cli/src/main.rs)
//! pinned here. modkit's first line is `modkit version <v>`, where kmod prints `kmod version
//! 30`; the feature line, the streams and the exit status must be kmod's, since scripts read
//! the feature line to learn what the tools support.

use crate::modprobe::stand_in;
use modkit_tests::{modkit, Outcome};
use std::process::Command;

/// (tool, kmod's program, argument): every spelling of the version option.
const CASES: &[(&str, &str, &str)] = &[
    ("modprobe", "/sbin/modprobe", "-V"),
    ("modprobe", "/sbin/modprobe", "--version"),
    ("insmod", "/sbin/insmod", "-V"),
    ("insmod", "/sbin/insmod", "--version"),
    ("rmmod", "/sbin/rmmod", "-V"),
    ("rmmod", "/sbin/rmmod", "--version"),
    ("depmod", "/sbin/depmod", "-V"),
    ("depmod", "/sbin/depmod", "--version"),
    ("modinfo", "/sbin/modinfo", "-V"),
    ("modinfo", "/sbin/modinfo", "--version"),
    ("kmod", "/bin/kmod", "-V"),
    ("kmod", "/bin/kmod", "--version"),
];

#[test]
fn version_is_modkits_first_line_and_kmods_feature_line() {
    let test = "version";
    let mut report = String::new();
    for &(tool, program, arg) in CASES {
        let Some(mut ours) = modkit(test, tool) else {
            return;
        };
        let ours = Outcome::of(ours.arg(arg));
        let theirs = Outcome::of(Command::new(program).arg(arg));
        let kmod_text = String::from_utf8_lossy(&theirs.stdout).into_owned();
        let our_text = String::from_utf8_lossy(&ours.stdout).into_owned();
        let (Some((kmod_first, kmod_rest)), Some((our_first, our_rest))) =
            (kmod_text.split_once('\n'), our_text.split_once('\n'))
        else {
            report.push_str(&format!(
                "{tool} {arg}: kmod {kmod_text:?}, modkit {our_text:?}\n"
            ));
            continue;
        };
        assert_eq!(kmod_first, "kmod version 30", "{test}: the oracle changed");
        let want_first = match stand_in() {
            true => kmod_first.to_owned(),
            false => format!("modkit version {}", env!("CARGO_PKG_VERSION")),
        };
        let same = our_first == want_first
            && our_rest == kmod_rest
            && ours.stderr == theirs.stderr
            && ours.status == theirs.status;
        if !same {
            report.push_str(&format!(
                "{tool} {arg}: kmod {theirs:?}\n  modkit {ours:?}\n  want first line {want_first:?}\n"
            ));
        }
    }
    assert!(report.is_empty(), "{test}:\n{report}");
}

/// lsmod has no version option: both tools give their usage error.
#[test]
fn lsmod_version_is_a_usage_error_as_in_kmod() {
    let test = "version_lsmod";
    let Some(mut ours) = modkit(test, "lsmod") else {
        return;
    };
    let ours = Outcome::of(ours.arg("-V"));
    let theirs = Outcome::of(Command::new("/sbin/lsmod").arg("-V")).replace("/sbin/lsmod", "lsmod");
    if let Some(d) = theirs.difference(&ours) {
        panic!("{test}: modkit differs from kmod 30\n{d}");
    }
}
