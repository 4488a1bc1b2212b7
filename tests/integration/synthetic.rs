//! depmod and modinfo against kmod 30 on a small tree of synthetic modules built by
//! `modkit_elf::synth` (no download needed: these run in `cargo xtask test --quick` too).
//! The tree exercises symbol dependencies across ELF classes, byte orders and compressions,
//! aliases (with a devname, a char-major and an unmatched bracket), softdeps, weakdeps,
//! parameters, long keys, signatures, modules.order, built-in modules and a `.ko.gz` file
//! (kmod 30 on Debian is built without zlib).

use modkit_elf::synth::{Class, CrcStyle, Endian, ModuleBuilder, SignatureSpec};
use modkit_elf::{Binding, Compression};
use modkit_tests::{
    assert_same, modkit, module_files, scratch, Outcome, DEPMOD_OUTPUTS, KMOD_DEPMOD, KMOD_MODINFO,
};
use std::path::{Path, PathBuf};
use std::process::Command;

const VERSION: &str = "6.6.6-synthetic";

fn mod_a() -> ModuleBuilder {
    ModuleBuilder::new()
        .modinfo("license", "GPL")
        .modinfo("description", "synthetic module a")
        .modinfo("author", "modkit tests")
        .modinfo("alias", "char-major-10-200")
        .modinfo("alias", "devname:synth_a")
        .modinfo("alias", "pci:v00001234d*sv*sd*bc*sc*i*")
        .modinfo("parm", "debug:Debug level")
        .modinfo("parmtype", "debug:int")
        .modinfo("parmtype", "only_type:uint")
        .modinfo("parm", "only_desc:A description without type")
        .modinfo("verylongkeyname_x", "long key")
        .modinfo("exactly15chars_", "fifteen")
        .modinfo("name", "mod_a")
        .export("fa", 0x1111)
        .export("fb", 0x2222)
        .version(0x1234, "module_layout")
}

fn mod_b() -> ModuleBuilder {
    let signature = SignatureSpec::pkcs7(
        b"Synthetic signing key",
        &[0x8a, 1, 2, 3],
        "2.16.840.1.101.3.4.2.1",
        &[0x5a; 40],
    )
    .expect("a valid PKCS#7 spec");
    ModuleBuilder::new()
        .modinfo("license", "GPL")
        .modinfo("softdep", "pre: mod-c post: mod_a")
        .modinfo("alias", "synth-b-alias")
        .modinfo("name", "mod_b")
        .undefined("fa", Binding::Global)
        .version(0x1111, "fa")
        .export("fb2", 0x3333)
        .signature(signature)
        .compression(Compression::Xz)
}

fn mod_c() -> ModuleBuilder {
    ModuleBuilder::new()
        .class(Class::Elf32)
        .endian(Endian::Big)
        .modinfo("license", "GPL v2")
        .modinfo("alias", "crc[32")
        .modinfo("weakdep", "mod_a")
        .modinfo("name", "mod_c")
        .undefined("fb2", Binding::Global)
        .undefined("nosuch", Binding::Weak)
        .crc_style(CrcStyle::Absolute)
        .export("fc", 0x4444)
        .compression(Compression::Zstd)
}

fn mod_d() -> ModuleBuilder {
    ModuleBuilder::new()
        .modinfo("alias", "devname:only_devname")
        .modinfo("name", "mod_d")
        .crc_style(CrcStyle::Kcrctab)
        .export("fd", 0x5555)
        .undefined("fb", Binding::Global)
        .undefined("fc", Binding::Global)
}

/// Files of the synthetic tree, relative to the module directory.
fn files() -> Vec<(&'static str, Vec<u8>)> {
    let plain = ModuleBuilder::new()
        .without_modinfo()
        .crc_style(CrcStyle::None)
        .export("fe", 0)
        .build();
    vec![
        ("kernel/a/mod_a.ko", mod_a().build()),
        ("kernel/b/mod_b.ko.xz", mod_b().build()),
        ("kernel/c/mod-c.ko.zst", mod_c().build()),
        ("kernel/d/mod_d.ko", mod_d().build()),
        ("kernel/e/sub/mod_e.ko", plain),
        ("kernel/g/mod_g.ko.gz", mod_a().compression(Compression::Gzip).build()),
        ("modules.order", b"kernel/d/mod_d.ko\nkernel/b/mod_b.ko\nkernel/a/mod_a.ko\n".to_vec()),
        ("modules.builtin", b"kernel/net/unix/unix.ko\nkernel/lib/crc-t10.ko\n".to_vec()),
        (
            "modules.builtin.modinfo",
            b"unix.alias=net-pf-1\0unix.license=GPL\0unix.description=Unix domain sockets\0crc_t10.license=GPL\0".to_vec(),
        ),
    ]
}

/// Writes the synthetic tree under `root`; returns its module directory.
fn write_tree(root: &Path) -> PathBuf {
    let dir = root.join("lib/modules").join(VERSION);
    for (name, bytes) in files() {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("create dirs");
        std::fs::write(&path, bytes).expect("write fixture");
    }
    dir
}

#[test]
fn depmod_on_synthetic_tree_matches_kmod() {
    let test = "synthetic_depmod";
    let dir = scratch(test);
    let (k, o) = (dir.join("kmod"), dir.join("modkit"));
    let (kdir, odir) = (write_tree(&k), write_tree(&o));
    let Some(mut ours) = modkit(test, "depmod") else {
        return;
    };
    let ours = Outcome::of(
        ours.args(["--index-layout=post-order", "-b"])
            .arg(&o)
            .arg(VERSION),
    );
    let theirs = Outcome::of(Command::new(KMOD_DEPMOD).arg("-b").arg(&k).arg(VERSION));
    let norm = |out: Outcome, root: &Path| out.replace(&root.to_string_lossy(), "<ROOT>");
    let mut report = norm(theirs, &k)
        .difference(&norm(ours, &o))
        .unwrap_or_default();
    for name in DEPMOD_OUTPUTS {
        if let Err(diff) = modkit_tests::compare::same_file(&kdir.join(name), &odir.join(name)) {
            report.push_str(&format!("{name}: {diff}\n"));
        }
    }
    assert!(
        report.is_empty(),
        "{test}: modkit differs from kmod 30\n{report}"
    );
}

#[test]
fn modinfo_on_synthetic_modules_matches_kmod() {
    let test = "synthetic_modinfo";
    let dir = scratch(test);
    let mdir = write_tree(&dir);
    let status = Command::new(KMOD_DEPMOD)
        .arg("-b")
        .arg(&dir)
        .arg(VERSION)
        .output()
        .expect("run depmod");
    assert!(
        status.status.success(),
        "kmod depmod failed on the synthetic tree"
    );
    let mut paths: Vec<String> = module_files(&mdir)
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    paths.sort();
    let root = dir.to_string_lossy().into_owned();
    let names = [
        "mod_a",
        "mod_b",
        "mod-c",
        "mod_c",
        "mod_d",
        "mod_e",
        "mod_g",
        "unix",
        "crc_t10",
        "net-pf-1",
        "synth-b-alias",
        "char-major-10-200",
        "nothing",
    ];
    let options: [&[&str]; 8] = [
        &[],
        &["-0"],
        &["-F", "parm"],
        &["-F", "name"],
        &["-F", "signer"],
        &["-F", "sig_key"],
        &["-n"],
        &["-p"],
    ];
    let mut report = String::new();
    for option in options {
        let mut runs: Vec<Vec<String>> = paths.iter().map(|p| vec![p.clone()]).collect();
        for name in names {
            runs.push(vec![
                "-b".into(),
                root.clone(),
                "-k".into(),
                VERSION.into(),
                name.into(),
            ]);
        }
        for args in runs {
            let args: Vec<String> = option.iter().map(|s| s.to_string()).chain(args).collect();
            let theirs = Outcome::of(Command::new(KMOD_MODINFO).args(&args));
            let Some(mut ours) = modkit(test, "modinfo") else {
                return;
            };
            if let Some(diff) = theirs.difference(&Outcome::of(ours.args(&args))) {
                report.push_str(&format!("--- modinfo {}\n{diff}", args.join(" ")));
            }
        }
    }
    assert!(
        report.is_empty(),
        "{test}: modkit differs from kmod 30\n{report}"
    );
}

#[test]
fn depmod_reports_cycles_like_kmod() {
    let test = "synthetic_cycle";
    let cyc_a = ModuleBuilder::new()
        .modinfo("name", "cyc_a")
        .export("ca", 1)
        .undefined("cb", Binding::Global);
    let cyc_b = ModuleBuilder::new()
        .modinfo("name", "cyc_b")
        .export("cb", 2)
        .undefined("ca", Binding::Global);
    let dir = scratch(test);
    for side in ["kmod", "modkit"] {
        let kernel = dir
            .join(side)
            .join("lib/modules")
            .join(VERSION)
            .join("kernel");
        std::fs::create_dir_all(&kernel).expect("create dirs");
        std::fs::write(kernel.join("cyc_a.ko"), cyc_a.build()).expect("write");
        std::fs::write(kernel.join("cyc_b.ko"), cyc_b.build()).expect("write");
    }
    let (k, o) = (dir.join("kmod"), dir.join("modkit"));
    let Some(mut ours) = modkit(test, "depmod") else {
        return;
    };
    let ours = Outcome::of(
        ours.args(["--index-layout=post-order", "-b"])
            .arg(&o)
            .arg(VERSION),
    );
    let theirs = Outcome::of(Command::new(KMOD_DEPMOD).arg("-b").arg(&k).arg(VERSION));
    let norm = |out: Outcome, root: &Path| out.replace(&root.to_string_lossy(), "<ROOT>");
    assert_same(test, &norm(theirs, &k), &norm(ours, &o));
    assert!(
        !o.join("lib/modules")
            .join(VERSION)
            .join("modules.dep")
            .exists(),
        "{test}: modkit wrote modules.dep despite a cycle"
    );
}
