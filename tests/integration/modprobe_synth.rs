//! modprobe, insmod, rmmod and lsmod against kmod 30 on a generated fixture root of
//! synthetic modules (`modkit_elf::synth`, indexes written by kmod's depmod): dependency
//! chains, a dependency cycle, a softdep loop from `.modinfo`, compressed modules, a
//! truncated and a corrupt file, a module listed in modules.dep but missing, install and
//! remove commands that fail. These run in `cargo xtask test --quick` too (no download).

use crate::modprobe::stand_in;
use modkit_elf::synth::ModuleBuilder;
use modkit_elf::{Binding, Compression};
use modkit_tests::{modkit, scratch, Outcome, KMOD_DEPMOD};
use std::path::{Path, PathBuf};
use std::process::Command;

pub(crate) const VERSION: &str = "6.6.6-modprobe";

fn module(name: &str) -> ModuleBuilder {
    ModuleBuilder::new()
        .modinfo("license", "GPL")
        .modinfo("vermagic", "6.6.6 SMP mod_unload")
        .modinfo("name", name)
        .version(0x1234, "module_layout")
}

/// A chain `chain0 ← chain1 ← … ← chain9` (each uses the previous one's symbol).
fn chain(n: usize) -> ModuleBuilder {
    let mut b = module(&format!("chain{n}")).export(&format!("chain_fn{n}"), 0x100 + n as u64);
    if n > 0 {
        b = b.undefined(&format!("chain_fn{}", n - 1), Binding::Global);
    }
    b
}

fn files() -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = (0..10)
        .map(|n| (format!("kernel/chain/chain{n}.ko"), chain(n).build()))
        .collect();
    let more = [
        ("kernel/cycle/cyc-a.ko", module("cyc_a")),
        ("kernel/cycle/cyc-b.ko", module("cyc_b")),
        (
            "kernel/soft/loop-a.ko",
            module("loop_a").modinfo("softdep", "pre: loop-b post: chain2"),
        ),
        (
            "kernel/soft/loop-b.ko",
            module("loop_b").modinfo("softdep", "pre: loop-a"),
        ),
        (
            "kernel/comp/packed-xz.ko.xz",
            module("packed_xz")
                .modinfo("alias", "synth:packed*")
                .undefined("chain_fn3", Binding::Global)
                .compression(Compression::Xz),
        ),
        (
            "kernel/comp/packed-zst.ko.zst",
            module("packed_zst").compression(Compression::Zstd),
        ),
        (
            "kernel/misc/noversions.ko",
            ModuleBuilder::new().modinfo("name", "noversions"),
        ),
        (
            "kernel/misc/aliased.ko",
            module("aliased")
                .modinfo("alias", "pci:v0000BEEFd*sv*sd*bc*sc*i*")
                .modinfo("alias", "of:N*T*Csynth,dev")
                .modinfo("alias", "acpi*:SYN0001:*"),
        ),
        ("kernel/misc/gone.ko", module("gone")),
    ];
    for (path, b) in more {
        out.push((path.to_string(), b.build()));
    }
    out
}

/// The modkit binary and the fixture root for a test that needs a sandbox: None after a
/// skip note when the sandbox is not `available` (`needs` says what it takes), there is no
/// binary or no fixture.
pub(crate) fn sandboxed_fixture(
    test: &str,
    available: bool,
    needs: &str,
) -> Option<(PathBuf, PathBuf)> {
    if !available {
        modkit_tests::skip(test, needs);
        return None;
    }
    let Some(bin) = modkit_tests::modkit_bin() else {
        modkit_tests::skip(test, "no modkit binary");
        return None;
    };
    Some((bin, fixture(test)?))
}

/// The fixture root (indexes by kmod's depmod), with the broken files put in afterwards.
pub(crate) fn fixture(test: &str) -> Option<PathBuf> {
    if !Path::new(KMOD_DEPMOD).exists() {
        modkit_tests::skip(test, "no kmod depmod");
        return None;
    }
    let root = scratch(test);
    let dir = root.join("lib/modules").join(VERSION);
    for (rel, bytes) in files() {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }
    std::fs::write(dir.join("modules.builtin"), "kernel/builtin/inside.ko\n").unwrap();
    let depmod = Command::new(KMOD_DEPMOD)
        .arg("-b")
        .arg(&root)
        .arg(VERSION)
        .output()
        .unwrap();
    assert!(dir.join("modules.dep.bin").exists(), "{depmod:?}");
    add_dependency_cycle(&dir);
    // Faults after indexing: a module file that disappeared, a truncated and a corrupt
    // compressed one.
    std::fs::remove_file(dir.join("kernel/misc/gone.ko")).unwrap();
    let xz = dir.join("kernel/comp/packed-xz.ko.xz");
    let bytes = std::fs::read(&xz).unwrap();
    std::fs::write(&xz, &bytes[..bytes.len() / 2]).unwrap();
    std::fs::write(
        dir.join("kernel/comp/packed-zst.ko.zst"),
        b"\x28\xb5\x2f\xfdgarbage",
    )
    .unwrap();
    let conf = root.join("modprobe.d");
    std::fs::create_dir_all(&conf).unwrap();
    std::fs::write(
        conf.join("synth.conf"),
        "install chain5 echo chain5 $CMDLINE_OPTS; exit 7\nremove chain4 false\n\
         options chain9 depth=9\noptions synth:packed* via_alias=1\nblacklist aliased\n\
         install chain7 /nonexistent/command\nsoftdep chain8 pre: loop-a\n\
         install cmd-only echo \"[$MODPROBE_OPTIONS] [$MODPROBE_MODULE] [$CMDLINE_OPTS]\"\n\
         options cmd-only from_conf=1\nremove cmd-only echo removing $MODPROBE_MODULE; exit 2\n",
    )
    .unwrap();
    Some(root)
}

/// kmod's depmod refuses to write a tree with a dependency cycle, so the cycle
/// `cyc_a → cyc_b → cyc_a` is written into modules.dep.bin afterwards.
fn add_dependency_cycle(dir: &Path) {
    let text = std::fs::read_to_string(dir.join("modules.dep")).unwrap();
    let mut index = modkit_index::IndexWriter::new();
    for (i, line) in text.lines().enumerate() {
        let path = line.split(':').next().unwrap_or_default();
        let line = match path {
            "kernel/cycle/cyc-a.ko" => "kernel/cycle/cyc-a.ko: kernel/cycle/cyc-b.ko".to_string(),
            "kernel/cycle/cyc-b.ko" => "kernel/cycle/cyc-b.ko: kernel/cycle/cyc-a.ko".to_string(),
            _ => line.to_string(),
        };
        let name = modkit_index::names::path_to_modname(path.as_bytes());
        index.insert(&name, line.as_bytes(), i as u32);
    }
    let bytes = index.to_bytes(modkit_index::Layout::PostOrder);
    std::fs::write(dir.join("modules.dep.bin"), bytes).unwrap();
}

pub(crate) fn clean(cmd: &mut Command) -> &mut Command {
    cmd.env_remove("MODPROBE_OPTIONS")
        .env_remove("KMOD_LOG")
        .env_remove("MODKIT_PROC")
        .env_remove("MODKIT_SYS")
}

fn compare(test: &str, tool: &str, args: &[String]) -> Option<String> {
    let mut ours = modkit(test, tool)?;
    let ours = Outcome::of(clean(&mut ours).args(args));
    let kmod_tool = format!("/sbin/{tool}");
    let theirs =
        Outcome::of(clean(&mut Command::new(&kmod_tool)).args(args)).replace(&kmod_tool, tool);
    theirs
        .difference(&ours)
        .map(|d| format!("--- {tool} {}\n{d}", args.join(" ")))
}

fn compare_lines(test: &str, tool: &str, lines: &[Vec<String>]) {
    let report: String = lines
        .iter()
        .filter_map(|a| compare(test, tool, a))
        .collect();
    assert!(
        report.is_empty(),
        "{test}: modkit differs from kmod 30\n{report}"
    );
}

pub(crate) fn args(base: &[String], more: &[&str]) -> Vec<String> {
    base.iter()
        .cloned()
        .chain(more.iter().map(|s| s.to_string()))
        .collect()
}

pub(crate) fn base(root: &Path) -> Vec<String> {
    vec![
        "-d".into(),
        root.to_string_lossy().into_owned(),
        "-S".into(),
        VERSION.into(),
        "-C".into(),
        root.join("modprobe.d").to_string_lossy().into_owned(),
    ]
}

const DRY: &[&[&str]] = &[
    &["-D", "chain9"],
    &["-n", "-v", "chain9", "x=1"],
    &["-D", "cyc_a"],
    &["-D", "cyc-b"],
    &["-D", "loop-a"],
    &["-D", "loop_b"],
    &["-D", "chain8"],
    &["-D", "synth:packed-one"],
    &["-D", "packed_zst"],
    &[
        "-D",
        "pci:v0000BEEFd00000001sv00000000sd00000000bc02sc00i00",
    ],
    &["-b", "-D", "aliased"],
    &["-D", "of:NfooTbarCsynth,dev"],
    &["-D", "acpi:SYN0001:"],
    &["-D", "symbol:chain_fn4"],
    &["-R", "symbol:chain_fn*"],
    &["-D", "chain5", "p=1"],
    &["--force-modversion", "-n", "-v", "chain9"],
    &["-D", "inside"],
    &["-D", "gone"],
    &["-i", "-D", "chain8"],
    &["-r", "-D", "chain9"],
    &["-r", "-D", "chain4"],
    &["-c"],
    &["no-such-module"],
    &["-r", "inside"],
    &["--first-time", "inside"],
];

#[test]
fn modprobe_dry_runs_on_synthetic_fixture_match_kmod() {
    let test = "modprobe_synth_dry";
    let Some(root) = fixture(test) else { return };
    let b = base(&root);
    let lines: Vec<Vec<String>> = DRY.iter().map(|a| args(&b, a)).collect();
    compare_lines(test, "modprobe", &lines);
}

/// Broken indexes: a garbage modules.alias.bin, a truncated modules.symbols.bin, and then
/// no modules.dep.bin at all (kmod never falls back to the text files).
#[test]
fn modprobe_on_broken_indexes_matches_kmod() {
    let test = "modprobe_synth_broken_index";
    let Some(root) = fixture(test) else { return };
    let dir = root.join("lib/modules").join(VERSION);
    std::fs::write(dir.join("modules.alias.bin"), b"\xb0\x07\xf4\x57garbage").unwrap();
    let symbols = std::fs::read(dir.join("modules.symbols.bin")).unwrap();
    std::fs::write(
        dir.join("modules.symbols.bin"),
        &symbols[..symbols.len() / 3],
    )
    .unwrap();
    let b = base(&root);
    let lines = [
        &["-D", "chain9"][..],
        &["-D", "synth:packed-one"],
        &["-R", "symbol:chain_fn4"],
        &["-D", "symbol:chain_fn1"],
        &["-D", "inside"],
    ];
    let all: Vec<Vec<String>> = lines.iter().map(|a| args(&b, a)).collect();
    compare_lines(test, "modprobe", &all);
    // kmod 30's `-c` loops (growing without bound) dumping a garbage index; modkit's
    // dump stops at what it can read.
    if stand_in() {
        return;
    }
    let Some(mut cmd) = modkit(test, "modprobe") else {
        return;
    };
    let ours = Outcome::of(clean(&mut cmd).args(args(&b, &["-c"])));
    assert_eq!(ours.status, Some(0), "{ours:?}");
    let out = String::from_utf8_lossy(&ours.stdout);
    assert!(out.contains("\n# End of configuration files. Dumping indexes now:\n\n"));
    assert!(out.contains("options chain9 depth=9\n"));
    std::fs::remove_file(dir.join("modules.dep.bin")).unwrap();
    compare_lines(test, "modprobe", &all);
}

/// Install and remove commands without a module file (lookup step 4): the kernel is never
/// asked, so these run for real everywhere. MODPROBE_OPTIONS words come first, and the
/// words children must inherit are appended to it.
#[test]
fn modprobe_commands_and_modprobe_options_match_kmod() {
    let test = "modprobe_synth_commands";
    let Some(root) = fixture(test) else { return };
    let b = base(&root);
    let runs: [(&str, &[&str]); 6] = [
        ("", &["-v", "cmd-only", "a=1", "sp=x y"]),
        ("-q", &["-v", "cmd-only"]),
        ("-v  -q", &["cmd-only"]),
        ("\"p=a b\" -v", &["-C", "/nonexistent", "cmd-only"]),
        ("", &["-r", "-v", "cmd-only"]),
        ("", &["-a", "-r", "cmd-only", "cmd-only"]),
    ];
    let mut report = String::new();
    for (env, more) in runs {
        let a = args(&b, more);
        let Some(mut ours) = modkit(test, "modprobe") else {
            return;
        };
        let ours = Outcome::of(clean(&mut ours).env("MODPROBE_OPTIONS", env).args(&a));
        let theirs = Outcome::of(
            clean(&mut Command::new("/sbin/modprobe"))
                .env("MODPROBE_OPTIONS", env)
                .args(&a),
        );
        if let Some(d) = theirs.difference(&ours) {
            report.push_str(&format!("--- MODPROBE_OPTIONS={env:?} modprobe {a:?}\n{d}"));
        }
    }
    assert!(
        report.is_empty(),
        "{test}: modkit differs from kmod 30\n{report}"
    );
}

/// A softdep loop under `-r -D`: kmod 30 recurses until it crashes (its output starts
/// with the same three lines); modkit prints each removal once and succeeds.
#[test]
fn modprobe_remove_softdep_loop_terminates() {
    let test = "modprobe_synth_loop";
    if stand_in() {
        return; // a deliberate difference: kmod 30 itself crashes here
    }
    let Some(root) = fixture(test) else { return };
    let Some(mut cmd) = modkit(test, "modprobe") else {
        return;
    };
    let ours = Outcome::of(clean(&mut cmd).args(args(&base(&root), &["-r", "-D", "loop-a"])));
    assert_eq!(ours.status, Some(0), "{ours:?}");
    assert_eq!(
        String::from_utf8_lossy(&ours.stdout),
        "rmmod chain2\nrmmod loop_a\nrmmod loop_b\n"
    );
}

#[test]
fn modprobe_show_symbols_on_synthetic_modules_match_kmod() {
    let test = "modprobe_synth_symbols";
    let Some(root) = fixture(test) else { return };
    let dir = root.join("lib/modules").join(VERSION);
    let mut lines = Vec::new();
    for rel in [
        "kernel/chain/chain3.ko",
        "kernel/misc/noversions.ko",
        "kernel/misc/aliased.ko",
        "kernel/comp/packed-xz.ko.xz",
        "kernel/comp/packed-zst.ko.zst",
        "kernel/misc/gone.ko",
    ] {
        let p = dir.join(rel).to_string_lossy().into_owned();
        lines.push(vec!["--show-exports".to_string(), p.clone()]);
        lines.push(vec!["--show-modversions".to_string(), p]);
    }
    compare_lines(test, "modprobe", &lines);
}

/// Real insertions, removals and install commands: only on a kernel without module
/// support, where both tools get ENOSYS (or fail before the kernel is asked).
#[test]
fn modprobe_faults_on_synthetic_fixture_match_kmod_without_module_support() {
    let test = "modprobe_synth_faults";
    if Path::new("/proc/modules").exists() {
        eprintln!("note: {test} skipped: this kernel supports modules");
        return;
    }
    let Some(root) = fixture(test) else { return };
    let b = base(&root);
    let lines: Vec<Vec<String>> = [
        &["chain9"][..],
        &["chain5", "a=1"],
        &["chain6"],
        &["chain7"],
        &["gone"],
        &["synth:packed-one"],
        &["packed_zst"],
        &["-f", "chain0"],
        &["--force-modversion", "chain0"],
        &["--force-modversion", "-v", "synth:packed-one"],
        &["--force-modversion", "noversions"],
        &["cyc_a"],
        &["loop-a"],
        &["-r", "chain4"],
        &["-a", "chain0", "gone", "nothing", "chain1"],
    ]
    .iter()
    .map(|a| args(&b, a))
    .collect();
    compare_lines(test, "modprobe", &lines);
    let dir = root.join("lib/modules").join(VERSION);
    let file = |rel: &str| dir.join(rel).to_string_lossy().into_owned();
    let insmod: Vec<Vec<String>> = vec![
        vec![file("kernel/chain/chain0.ko"), "a=1".into(), "b=x y".into()],
        vec![file("kernel/comp/packed-xz.ko.xz")],
        vec![file("kernel/comp/packed-zst.ko.zst")],
        vec![file("kernel/misc/gone.ko")],
        vec!["-f".into(), file("kernel/chain/chain1.ko")],
    ];
    compare_lines(test, "insmod", &insmod);
}

/// rmmod and lsmod error paths on this host (kmod can't be pointed at a fake /sys or
/// /proc, so only what the host has is compared).
#[test]
fn rmmod_insmod_lsmod_usage_and_errors_match_kmod() {
    let test = "rmmod_insmod_lsmod";
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<String>>();
    compare_lines(
        test,
        "rmmod",
        &[
            s(&[]),
            s(&["-w", "x"]),
            s(&["no_such_module"]),
            s(&["/nonexistent/x-y.ko"]),
            s(&["no-such", "other.ko"]),
            s(&["--verbose", "no_such"]),
            s(&["--bogus"]),
        ],
    );
    compare_lines(
        test,
        "insmod",
        &[
            s(&[]),
            s(&["-"]),
            s(&["-v", "x"]),
            s(&["/nonexistent.ko"]),
            s(&["--verbose"]),
        ],
    );
    compare_lines(test, "lsmod", &[s(&["x"]), s(&["-h"]), s(&["--help"])]);
}
