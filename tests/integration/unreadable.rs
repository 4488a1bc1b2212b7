//! Files that exist but cannot be read, against kmod 30: module files, configuration
//! files, a configuration directory and the indexes, made `chmod 000` in a copy of the
//! synthetic fixture, with both tools run as an unprivileged user (root reads anything).
//! modprobe, insmod and modinfo must give kmod's messages and exit statuses.
//!
//! The copy and the binary under test live in a fresh directory under the system's
//! temporary directory, which the unprivileged user can reach whatever the checkout's
//! permissions are.

use crate::modprobe_synth::{sandboxed_fixture, VERSION};
use modkit_tests::sandbox::{unprivileged, unprivileged_available};
use modkit_tests::Outcome;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A directory under the temporary directory, removed when dropped.
struct TempTree(PathBuf);

impl Drop for TempTree {
    fn drop(&mut self) {
        let _ = Command::new("chmod")
            .arg("-R")
            .arg("u+rwX")
            .arg(&self.0)
            .status();
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {path:?}: {e}"));
}

fn copy_tree(from: &Path, to: &Path) {
    let ok = Command::new("cp").arg("-a").arg(from).arg(to).status();
    assert!(ok.is_ok_and(|s| s.success()), "cp -a {from:?} {to:?}");
}

/// The layout the cases use: two copies of the fixture (`open`, where module and
/// configuration files are unreadable, and `closed`, where the indexes are), the
/// configuration directories and the binary, all reachable by the unprivileged user.
struct Layout {
    _tmp: TempTree,
    bin: PathBuf,
    open: PathBuf,
    closed: PathBuf,
    conf: PathBuf,
    shut_conf: PathBuf,
}

fn layout(test: &str) -> Option<Layout> {
    let (bin, root) = sandboxed_fixture(
        test,
        unprivileged_available(),
        "cannot run as an unprivileged user (needs root and setpriv)",
    )?;
    let tmp = std::env::temp_dir().join(format!("modkit-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(tmp.join("bin")).unwrap();
    chmod(&tmp, 0o755);
    let tmp = TempTree(tmp);
    let our_bin = tmp.0.join("bin").join(bin.file_name().unwrap());
    std::fs::copy(&bin, &our_bin).unwrap();
    chmod(&our_bin, 0o755);
    let (open, closed) = (tmp.0.join("open"), tmp.0.join("closed"));
    copy_tree(&root, &open);
    copy_tree(&root, &closed);
    let dir = |r: &Path| r.join("lib/modules").join(VERSION);
    for rel in ["kernel/chain/chain0.ko", "kernel/comp/packed-xz.ko.xz"] {
        chmod(&dir(&open).join(rel), 0);
    }
    for index in ["modules.dep.bin", "modules.alias.bin", "modules.softdep"] {
        chmod(&dir(&closed).join(index), 0);
    }
    let conf = tmp.0.join("conf");
    std::fs::create_dir_all(&conf).unwrap();
    std::fs::write(conf.join("a.conf"), "options chain1 readable=1\n").unwrap();
    std::fs::write(conf.join("secret.conf"), "options chain2 secret=1\n").unwrap();
    chmod(&conf.join("secret.conf"), 0);
    let shut_conf = tmp.0.join("shut");
    std::fs::create_dir_all(&shut_conf).unwrap();
    std::fs::write(shut_conf.join("c.conf"), "options chain3 hidden=1\n").unwrap();
    chmod(&shut_conf, 0);
    Some(Layout {
        _tmp: tmp,
        bin: our_bin,
        open,
        closed,
        conf,
        shut_conf,
    })
}

/// kmod's and modkit's outcomes of `TOOL ARGS` as the unprivileged user.
fn both(bin: &Path, tool: &str, argv: &[String]) -> (Outcome, Outcome) {
    let kmod = format!("/sbin/{tool}");
    let theirs = Outcome::of(
        unprivileged(&kmod)
            .args(argv)
            .env_remove("MODPROBE_OPTIONS"),
    )
    .replace(&kmod, tool);
    let ours = Outcome::of(
        unprivileged(bin)
            .arg(tool)
            .args(argv)
            .env_remove("MODPROBE_OPTIONS"),
    );
    (theirs, ours)
}

fn s(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

#[test]
fn unreadable_files_give_kmods_messages_and_statuses() {
    let test = "unreadable";
    let Some(l) = layout(test) else {
        return;
    };
    let tree = |root: &Path| vec!["-d".to_string(), s(root), "-S".into(), VERSION.into()];
    let file = |rel: &str| s(&l.open.join("lib/modules").join(VERSION).join(rel));
    let with = |base: Vec<String>, more: &[&str]| {
        let mut v = base;
        v.extend(more.iter().map(|m| m.to_string()));
        v
    };
    let (open, closed) = (tree(&l.open), tree(&l.closed));
    let conf = with(open.clone(), &["-C", &s(&l.conf)]);
    let secret = s(&l.conf.join("secret.conf"));
    let shut = s(&l.shut_conf);
    let cases: Vec<(&str, Vec<String>)> = vec![
        // Module files: a dry run does not open them; an insertion does.
        ("modprobe", with(conf.clone(), &["-n", "-v", "chain1"])),
        ("modprobe", with(conf.clone(), &["chain0"])),
        ("modprobe", with(conf.clone(), &["-v", "chain1"])),
        ("modprobe", with(conf.clone(), &["-f", "chain0"])),
        ("modprobe", with(conf.clone(), &["-v", "synth:packed-one"])),
        (
            "modprobe",
            with(
                open.clone(),
                &["--show-modversions", &file("kernel/chain/chain0.ko")],
            ),
        ),
        (
            "modprobe",
            with(
                open.clone(),
                &["--show-exports", &file("kernel/chain/chain0.ko")],
            ),
        ),
        // Configuration: an unreadable file is skipped, an unreadable directory reported.
        ("modprobe", with(conf.clone(), &["-D", "chain2"])),
        ("modprobe", with(conf.clone(), &["-c"])),
        ("modprobe", with(open.clone(), &["-C", &secret, "-c"])),
        (
            "modprobe",
            with(open.clone(), &["-C", &shut, "-D", "chain3"]),
        ),
        (
            "modprobe",
            with(open.clone(), &["-C", &shut, "-C", &s(&l.conf), "-c"]),
        ),
        // Indexes: modules.dep.bin, modules.alias.bin and modules.softdep unreadable.
        ("modprobe", with(closed.clone(), &["-D", "chain3"])),
        ("modprobe", with(closed.clone(), &["-D", "synth:packed-x"])),
        ("modprobe", with(closed.clone(), &["-R", "chain1"])),
        ("modprobe", with(closed.clone(), &["-c"])),
        ("modprobe", with(closed.clone(), &["-D", "loop-a"])),
        ("insmod", vec![file("kernel/chain/chain0.ko")]),
        (
            "insmod",
            vec![file("kernel/comp/packed-xz.ko.xz"), "a=1".into()],
        ),
        ("modinfo", vec![file("kernel/chain/chain0.ko")]),
        (
            "modinfo",
            vec![
                "-F".into(),
                "name".into(),
                file("kernel/comp/packed-xz.ko.xz"),
            ],
        ),
    ];
    let mut report = String::new();
    for (tool, argv) in &cases {
        let (theirs, ours) = both(&l.bin, tool, argv);
        if let Some(d) = theirs.difference(&ours) {
            report.push_str(&format!("--- {tool} {}\n{d}", argv.join(" ")));
        }
    }
    assert!(
        report.is_empty(),
        "{test}: modkit differs from kmod 30\n{report}"
    );
    // The files really were unreadable: kmod itself says so.
    let (theirs, _) = both(&l.bin, "insmod", &[file("kernel/chain/chain0.ko")]);
    let stderr = String::from_utf8_lossy(&theirs.stderr);
    assert!(stderr.contains("Permission denied"), "{test}: {stderr}");
    let (theirs, _) = both(
        &l.bin,
        "modprobe",
        &with(open, &["-C", &shut, "-D", "chain3"]),
    );
    let stderr = String::from_utf8_lossy(&theirs.stderr);
    assert!(stderr.contains("opendir("), "{test}: {stderr}");
}
