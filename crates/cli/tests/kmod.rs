//! The `kmod` command, `kmod list` and `kmod static-nodes`, and the multi-call dispatch,
//! differential against kmod 30 where the host allows it.

mod common;

use std::process::Command;

use common::{assert_same, have_oracle, oracle, ours, ours_via_modkit, Run};

fn tmp() -> std::path::PathBuf {
    std::env::temp_dir()
}

#[test]
fn unknown_argv0_exits_254_silently() {
    let run = ours("frobnicate", &["--help"], &tmp());
    assert_eq!(
        run,
        Run {
            status: 254,
            stdout: String::new(),
            stderr: String::new()
        }
    );
}

#[test]
fn modkit_alone_prints_its_help() {
    let out = Command::new(assert_cmd::cargo::cargo_bin("modkit"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for tool in ["depmod", "modinfo", "kmod"] {
        assert!(text.contains(tool), "{text}");
    }
}

#[test]
fn modkit_tool_behaves_as_the_link() {
    let direct = ours("depmod", &["-x"], &tmp());
    let via = ours_via_modkit("depmod", &["-x"], &tmp());
    assert_eq!(direct, via);
    assert_eq!(via.stderr, "depmod: invalid option -- 'x'\n");
    assert_eq!(via.status, 1);
}

#[test]
fn argv0_is_used_verbatim_in_getopt_errors() {
    let run = ours("/some/where/modinfo", &["--fi"], &tmp());
    assert_eq!(
        run.stderr,
        "/some/where/modinfo: option '--fi' is ambiguous; possibilities: '--filename' '--field'\n"
    );
}

#[test]
fn kmod_command_errors_match() {
    if !have_oracle() {
        return;
    }
    for args in [
        &[][..],
        &["foo"],
        &["-x"],
        &["--versio=1"],
        &["list", "x"],
        &["--", "list"],
        &["-h", "-x"],
    ] {
        let ours = ours("kmod", args, &tmp());
        let theirs = oracle("kmod", args, &tmp()).unwrap();
        // Help texts are our own wording: compare stderr and status, and that stdout is
        // used (or not) alike.
        assert_eq!(ours.stderr, theirs.stderr, "{args:?}");
        assert_eq!(ours.status, theirs.status, "{args:?}");
        assert_eq!(ours.stdout.is_empty(), theirs.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn kmod_version_and_help() {
    let run = ours("kmod", &["-V"], &tmp());
    assert_eq!(run.status, 0);
    assert!(run.stdout.starts_with("modkit version "));
    let run = ours("kmod", &["help"], &tmp());
    assert_eq!(run.status, 0);
    assert!(run.stdout.contains("static-nodes"));
}

#[test]
fn list_without_proc_modules() {
    let empty = tempfile::tempdir().unwrap();
    let out = Command::new(assert_cmd::cargo::cargo_bin("modkit"))
        .args(["kmod", "list"])
        .env("MODKIT_PROC", empty.path())
        .output()
        .unwrap();
    let run = Run::from(out);
    assert_eq!(run.status, 1);
    assert_eq!(
        run.stderr,
        "libkmod: ERROR: kmod_module_new_from_loaded: could not open /proc/modules: No such file or directory\n\
         Error: could not get list of modules: No such file or directory\n"
    );
    if let Some(theirs) = oracle("kmod", &["list"], &tmp()) {
        if !std::path::Path::new("/proc/modules").exists() {
            assert_eq!(theirs.status, run.status);
            assert_eq!(theirs.stderr.lines().nth(1), run.stderr.lines().nth(1));
        }
    }
}

#[test]
fn list_formats_proc_modules() {
    let proc = tempfile::tempdir().unwrap();
    let sys = tempfile::tempdir().unwrap();
    std::fs::write(
        proc.path().join("modules"),
        "btusb 11216 0 - Live 0x0\nbluetooth 831488 2 btusb, Live 0x0\n",
    )
    .unwrap();
    let bt = sys.path().join("module/bluetooth");
    std::fs::create_dir_all(bt.join("holders/btusb")).unwrap();
    std::fs::write(bt.join("refcnt"), "2\n").unwrap();
    std::fs::write(bt.join("coresize"), "831500\n").unwrap();
    let out = Command::new(assert_cmd::cargo::cargo_bin("modkit"))
        .args(["kmod", "list"])
        .env("MODKIT_PROC", proc.path())
        .env("MODKIT_SYS", sys.path())
        .output()
        .unwrap();
    let run = Run::from(out);
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout,
        "Module                  Size  Used by\n\
         btusb                  11216  -2\n\
         bluetooth             831500  2 btusb\n"
    );
}

#[test]
fn static_nodes_errors_match() {
    if !have_oracle() {
        return;
    }
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    if std::path::Path::new("/lib/modules")
        .join(release.trim())
        .exists()
    {
        return; // the host has a module tree: outputs would depend on it
    }
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("sub/out.conf");
    let target = target.to_str().unwrap();
    for args in [
        &["static-nodes"][..],
        &["static-nodes", "-x"],
        &["static-nodes", "--format=tmpfiles", "--output", target],
        &["static-nodes", "--form"],
        &["static-nodes", "extra", "args"],
    ] {
        assert_same("kmod", args, &tmp());
    }
    assert!(!dir.path().join("sub").exists());
    for args in [&["static-nodes", "-f", "foo"][..], &["static-nodes", "-h"]] {
        let ours = ours("kmod", args, &tmp());
        let theirs = oracle("kmod", args, &tmp()).unwrap();
        assert_eq!((ours.status, &ours.stderr), (theirs.status, &theirs.stderr));
        assert!(!ours.stdout.is_empty());
    }
}

fn static_nodes_with(devname: &[u8], args: &[&str]) -> (Run, tempfile::TempDir) {
    let modules = tempfile::tempdir().unwrap();
    let proc = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(proc.path().join("sys/kernel")).unwrap();
    std::fs::write(proc.path().join("sys/kernel/osrelease"), "9.9.9-test\n").unwrap();
    let dir = modules.path().join("9.9.9-test");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("modules.devname"), devname).unwrap();
    let out = Command::new(assert_cmd::cargo::cargo_bin("modkit"))
        .arg("kmod")
        .arg("static-nodes")
        .args(args)
        .env("MODKIT_PROC", proc.path())
        .env("MODKIT_MODULE_DIRECTORY", modules.path())
        .output()
        .unwrap();
    (Run::from(out), modules)
}

/// Outputs checked against kmod 30 by hand (the oracle reads the running kernel's tree).
const DEVNAME: &[u8] = b"# Device nodes\nfuse fuse c10:229\nbad line\ntun net/tun c10:200\n\
loop loop-control b10:237\ncuse cuse c10:203 extra\nx y z\n";

#[test]
fn static_nodes_formats() {
    let (run, _keep) = static_nodes_with(DEVNAME, &["-f", "tmpfiles"]);
    assert_eq!(run.status, 1);
    assert_eq!(
        run.stdout,
        "c! /dev/fuse 0600 - - - 10:229\nd /dev/net 0755 - - -\nc! /dev/net/tun 0600 - - - 10:200\n\
         b! /dev/loop-control 0600 - - - 10:237\nc! /dev/cuse 0600 - - - 10:203\n"
    );
    assert_eq!(
        run.stderr,
        "Error: invalid devname entry: bad line\nError: invalid devname entry: x y z\n"
    );
    let (run, _keep) = static_nodes_with(b"fuse fuse c10:229\n", &["--format=devname"]);
    assert_eq!(
        (run.status, run.stdout.as_str()),
        (0, "fuse fuse c10:229\n")
    );
    let (run, _keep) = static_nodes_with(b"loop loop-control b10:237\n", &[]);
    assert_eq!(
        run.stdout,
        "Module: loop\n\tDevice node: /dev/loop-control\n\t\tType: block device\n\t\tMajor: 10\n\t\tMinor: 237\n"
    );
}

#[test]
fn static_nodes_output_file_creates_parents() {
    let out_dir = tempfile::tempdir().unwrap();
    let target = out_dir.path().join("a/b/static-nodes.conf");
    let (run, _keep) = static_nodes_with(
        b"fuse fuse c10:229\n",
        &["-f", "tmpfiles", "-o", target.to_str().unwrap()],
    );
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert!(run.stdout.is_empty());
    assert_eq!(
        std::fs::read_to_string(&target).unwrap(),
        "c! /dev/fuse 0600 - - - 10:229\n"
    );
}

/// Checked against kmod 30 by hand: the output is opened before any line is read, so a
/// failure to create it reports no bad line; kmod's errno quirk for a parent that is a file.
#[test]
fn static_nodes_output_failures() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file");
    std::fs::write(&file, b"").unwrap();
    let cases = [
        (file.join("x"), "Success."),
        (file.join("x/y"), "Not a directory."),
    ];
    for (target, errno_text) in cases {
        let (run, _keep) = static_nodes_with(DEVNAME, &["-o", target.to_str().unwrap()]);
        assert_eq!(run.status, 1);
        assert_eq!(
            run.stderr,
            format!(
                "Error: could not create parent directory for {} - {errno_text}\n",
                target.display()
            )
        );
    }
    let (run, _keep) = static_nodes_with(DEVNAME, &["-o", dir.path().to_str().unwrap()]);
    assert_eq!(
        (run.status, run.stderr),
        (
            1,
            format!(
                "Error: could not create {} - Is a directory\n",
                dir.path().display()
            )
        )
    );
}

#[test]
fn modkit_unknown_tool_and_version() {
    let bin = assert_cmd::cargo::cargo_bin("modkit");
    let run = Run::from(Command::new(&bin).arg("frob").output().unwrap());
    assert_eq!(run.status, 1);
    assert!(run.stderr.contains("unknown tool 'frob'"), "{}", run.stderr);
    let run = Run::from(Command::new(&bin).arg("--version").output().unwrap());
    assert_eq!(run.status, 0);
    assert_eq!(
        run.stdout,
        format!("modkit version {}\n", env!("CARGO_PKG_VERSION"))
    );
}
