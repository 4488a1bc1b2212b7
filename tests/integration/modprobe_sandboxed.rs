//! modprobe options whose effect depends on kernel state or on syslog, against kmod 30 on
//! the synthetic fixture, both tools run in the same private mount namespace
//! (`modkit_tests::sandbox`):
//!
//! * `-r --remove-holders` and `-w/--wait` over a stand-in `/sys/module` (chain0 ← chain1 ←
//!   chain2 ← chain3 loaded, each held by the next, and a built-in): dry runs anywhere, and
//!   on a kernel without module support real `delete_module` calls, which both tools see
//!   fail with ENOSYS;
//! * `-s/--syslog`, with `/dev/log` a socket the test reads: the datagrams must be kmod's,
//!   but for glibc's timestamp field, which modkit leaves out (a documented difference) and
//!   which is cut out of kmod's before comparing.

use crate::modprobe::stand_in;
use crate::modprobe_synth::{args, base, clean, sandboxed_fixture};
use modkit_tests::sandbox::{namespaces_available, Mounts};
use modkit_tests::{scratch, Outcome};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};

const KMOD_MODPROBE: &str = "/sbin/modprobe";

/// A stand-in `/sys/module`: chain0..chain3 live, each held by the next one (holders as
/// symlinks, as sysfs has them; refcnt 1, chain3's 0), and `inside`, a built-in.
fn sys_module(dir: &Path) -> PathBuf {
    let module = dir.join("sys-module");
    let chain = ["chain0", "chain1", "chain2", "chain3"];
    for (i, name) in chain.iter().enumerate() {
        let m = module.join(name);
        std::fs::create_dir_all(m.join("holders")).unwrap();
        std::fs::write(m.join("initstate"), "live\n").unwrap();
        let holder = chain.get(i + 1);
        std::fs::write(m.join("refcnt"), format!("{}\n", holder.map_or(0, |_| 1))).unwrap();
        if let Some(h) = holder {
            std::os::unix::fs::symlink(format!("../../{h}"), m.join("holders").join(h)).unwrap();
        }
    }
    std::fs::create_dir_all(module.join("inside/parameters")).unwrap();
    module
}

/// Both tools' outcomes of `modprobe ARGS` in the namespace.
fn both(mounts: &Mounts, modkit: &Path, argv: &[String]) -> (Outcome, Outcome) {
    let mut kmod = mounts.command(KMOD_MODPROBE);
    let theirs = Outcome::of(clean(&mut kmod).args(argv))
        .replace(&format!("{KMOD_MODPROBE}: "), "modprobe: ");
    let mut ours = mounts.command(modkit);
    let ours = Outcome::of(clean(&mut ours).arg("modprobe").args(argv));
    (theirs, ours)
}

/// What a test needs: the namespaces, the binary and the fixture; None after a skip note.
fn setup(test: &str) -> Option<(PathBuf, PathBuf)> {
    sandboxed_fixture(
        test,
        namespaces_available(),
        "cannot make mount namespaces (needs root and unshare)",
    )
}

#[test]
fn modprobe_remove_holders_and_wait_match_kmod_over_a_stand_in_sysfs() {
    let test = "modprobe_sandboxed_remove";
    let Some((bin, root)) = setup(test) else {
        return;
    };
    // (a scratch directory of its own: the fixture is in `scratch(test)`)
    let dir = scratch(&format!("{test}_sys"));
    let mounts = Mounts::new().bind(&sys_module(&dir), Path::new("/sys/module"));
    let b = base(&root);
    let mut lines: Vec<&[&str]> = vec![
        &["-r", "-n", "-v", "chain2"],
        &["-r", "-n", "-v", "chain3"],
        &["-r", "--remove-holders", "-n", "-v", "chain1"],
        &["-r", "--remove-holders", "-n", "-v", "chain2"],
        &["-r", "--remove-holders", "-n", "-v", "chain3"],
        &["-r", "--remove-dependencies", "-n", "-v", "chain2"],
        &["-r", "-w", "100", "-n", "-v", "chain2"],
        &["-r", "--wait=100", "-n", "-v", "chain1"],
        &["-r", "--remove-holders", "-w", "10", "-n", "-v", "chain1"],
        &["-r", "--remove-holders", "-w", "10", "-n", "-v", "chain0"],
        &[
            "-r",
            "-a",
            "--remove-holders",
            "-n",
            "-v",
            "chain2",
            "chain1",
        ],
        &["-r", "-n", "-v", "inside"],
        &["-r", "--remove-holders", "-n", "-v", "inside"],
        &["-r", "-D", "--remove-holders", "chain1"],
    ];
    // Real delete_module calls: only where the kernel cannot remove anything.
    if !Path::new("/proc/modules").exists() {
        lines.extend([
            &["-r", "chain3"][..],
            &["-r", "-w", "100", "chain3"],
            &["-r", "-v", "--wait=100", "-f", "chain3"],
            &["-r", "--remove-holders", "chain2"],
            &["-r", "--remove-holders", "-w", "10", "chain0"],
            &["-r", "-a", "-w", "10", "chain3", "chain2"],
        ]);
    }
    let report: String = lines
        .iter()
        .filter_map(|more| {
            let argv = args(&b, more);
            let (theirs, ours) = both(&mounts, &bin, &argv);
            theirs
                .difference(&ours)
                .map(|d| format!("--- modprobe {}\n{d}", more.join(" ")))
        })
        .collect();
    assert!(
        report.is_empty(),
        "{test}: modkit differs from kmod 30\n{report}"
    );
    // The test proves something: kmod saw the stand-in's loaded, held modules.
    let (theirs, _) = both(&mounts, &bin, &args(&b, &["-r", "-n", "-v", "chain2"]));
    let stderr = String::from_utf8_lossy(&theirs.stderr);
    assert!(
        stderr.contains("Module chain2 is in use."),
        "{test}: {stderr}"
    );
}

/// kmod's datagram without glibc's `Mmm dd hh:mm:ss ` field after `<prio>`.
fn without_timestamp(datagram: &[u8]) -> Vec<u8> {
    let Some(open) = datagram.iter().position(|&b| b == b'>') else {
        return datagram.to_vec();
    };
    let field = &datagram[open + 1..];
    let stamped = field.len() > 16
        && [(3, b' '), (6, b' '), (9, b':'), (12, b':'), (15, b' ')]
            .iter()
            .all(|&(i, c)| field[i] == c);
    match stamped {
        true => [&datagram[..=open], &field[16..]].concat(),
        false => datagram.to_vec(),
    }
}

/// Every datagram waiting on the socket.
fn drain(socket: &UnixDatagram) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 65536];
    while let Ok(n) = socket.recv(&mut buf) {
        out.push(buf[..n].to_vec());
    }
    out
}

#[test]
fn modprobe_syslog_datagrams_match_kmod() {
    let test = "modprobe_sandboxed_syslog";
    let Some((bin, root)) = setup(test) else {
        return;
    };
    let dir = scratch(&format!("{test}_log"));
    let socket_path = dir.join("log.sock");
    let socket = UnixDatagram::bind(&socket_path).expect("bind the log socket");
    socket.set_nonblocking(true).unwrap();
    let bad_conf = dir.join("bad.conf");
    std::fs::write(&bad_conf, "bogus line\n").unwrap();
    let bad_conf = bad_conf.to_string_lossy().into_owned();
    let mounts = Mounts::new()
        .bind(&sys_module(&dir), Path::new("/sys/module"))
        .dev_log(&socket_path, &dir.join("null-hold"));
    let b = base(&root);
    let mut lines: Vec<Vec<&str>> = vec![
        vec!["-s", "no-such-module"],
        vec!["--syslog", "-q", "no-such-module"],
        vec!["-s", "-a", "no1", "no2"],
        vec!["-s", "-r", "no-such-module"],
        vec!["-s", "-r", "-n", "-v", "chain2"],
        vec!["-s", "-r", "inside"],
        vec!["-s", "-v", "-r", "cmd-only"],
        vec!["-s", "-v", "-n", "chain3"],
        vec!["-s", "--first-time", "-n", "chain3"],
        vec!["-s", "-C", &bad_conf, "-D", "chain1"],
        vec!["-s", "-w", "x", "-r", "chain3"],
    ];
    if !Path::new("/proc/modules").exists() {
        lines.extend([
            vec!["-s", "-v", "chain0"],
            vec!["-s", "-r", "chain3"],
            vec!["-s", "-r", "-w", "10", "chain3"],
        ]);
    }
    let mut report = String::new();
    for more in &lines {
        let argv = args(&b, more);
        drain(&socket);
        let mut kmod = mounts.command(KMOD_MODPROBE);
        let theirs = Outcome::of(clean(&mut kmod).args(&argv));
        let kmod_log: Vec<Vec<u8>> = drain(&socket)
            .iter()
            .map(|d| without_timestamp(d))
            .collect();
        let mut ours = mounts.command(&bin);
        let ours = Outcome::of(clean(&mut ours).arg("modprobe").args(&argv));
        // (a no-op on modkit's datagrams; kmod's own under --kmod-as-modkit)
        let our_log: Vec<Vec<u8>> = drain(&socket)
            .iter()
            .map(|d| without_timestamp(d))
            .collect();
        let mut diff = theirs.difference(&ours).unwrap_or_default();
        if kmod_log != our_log {
            let show = |log: &[Vec<u8>]| {
                log.iter()
                    .map(|d| format!("    {:?}\n", String::from_utf8_lossy(d)))
                    .collect::<String>()
            };
            diff.push_str(&format!(
                "syslog: kmod\n{}modkit\n{}",
                show(&kmod_log),
                show(&our_log)
            ));
        }
        if !diff.is_empty() {
            report.push_str(&format!("--- modprobe {}\n{diff}", more.join(" ")));
        }
    }
    assert!(
        report.is_empty(),
        "{test}: modkit differs from kmod 30\n{report}"
    );
    // The test proves something: kmod did log through the socket.
    let mut kmod = mounts.command(KMOD_MODPROBE);
    Outcome::of(clean(&mut kmod).args(args(&b, &["-s", "no-such-module"])));
    let got = drain(&socket);
    assert_eq!(got.len(), 1, "{test}: kmod's syslog datagrams: {got:?}");
    if !stand_in() {
        assert!(got[0].starts_with(b"<26>"), "{got:?}");
    }
}

#[test]
fn syslog_timestamps_are_cut_from_kmods_datagrams_only() {
    assert_eq!(
        without_timestamp(b"<26>Dec  7 02:12:38 modprobe: FATAL: x\n"),
        b"<26>modprobe: FATAL: x\n"
    );
    assert_eq!(
        without_timestamp(b"<28>modprobe: WARNING: Module no1 not found\n"),
        b"<28>modprobe: WARNING: Module no1 not found\n"
    );
}
