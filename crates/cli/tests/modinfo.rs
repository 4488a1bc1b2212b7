//! modinfo, differential against kmod 30: option errors, output format (padding, `-0`,
//! `-F` variants, parameters), signatures, compressed modules, lookups by name with
//! `-b`/`-k`, built-ins, `-m`, errors and exit statuses.

mod common;

use common::{assert_same, have_oracle, ours, Tree};
use modkit_elf::synth::{Class, Endian, ModuleBuilder, SignatureSpec};
use modkit_elf::{Compression, SignatureId};

const VERSION: &str = "6.1.0-test";

fn plain() -> ModuleBuilder {
    ModuleBuilder::new()
        .modinfo("license", "GPL")
        .modinfo("description", "A test module")
        .modinfo("author", "Someone <someone@example.invalid>")
        .modinfo("alias", "test-alias")
        .modinfo("depends", "")
        .modinfo("name", "plain")
        .modinfo("vermagic", "6.1.0 SMP mod_unload ")
}

fn plain_builder() -> ModuleBuilder {
    plain()
}

fn with_params() -> ModuleBuilder {
    ModuleBuilder::new()
        .modinfo("parm", "zeta:Zeta value")
        .modinfo("parmtype", "zeta:int")
        .modinfo("parmtype", "alpha:bool")
        .modinfo("license", "GPL")
        .modinfo("parm", "beta:Beta only")
        .modinfo("parm", "broken")
        .modinfo("parmtype", "brokentype")
        .modinfo("parm", "zeta:Zeta again")
        .modinfo("exactly15chars_", "w")
        .modinfo("verylongkeyname_x", "v")
        .modinfo("sixteen_chars_xy", "s")
        .modinfo_raw(b"noequals")
        .modinfo("name", "params")
}

fn signed_pkcs7() -> ModuleBuilder {
    let signature: Vec<u8> = (0..=255u8).cycle().take(300).collect();
    let serial: Vec<u8> = [0x8a].into_iter().chain(1..=18).collect();
    plain().signature(
        SignatureSpec::pkcs7(
            b"Test signing key",
            &serial,
            "2.16.840.1.101.3.4.2.1",
            &signature,
        )
        .expect("pkcs7"),
    )
}

fn signed_legacy() -> ModuleBuilder {
    plain().signature(SignatureSpec::Legacy {
        id: SignatureId::X509,
        algo: 1,
        hash: 4,
        signer: b"Legacy signer".to_vec(),
        key_id: (1..=40).collect(),
        signature: (0..20).collect(),
    })
}

/// A tree with a variety of modules, indexed by the oracle's depmod.
fn tree() -> Tree {
    let t = Tree::new(VERSION);
    t.write("kernel/a/plain.ko", &plain().build());
    t.write("kernel/a/params.ko", &with_params().build());
    t.write(
        "kernel/b/signed.ko",
        &signed_pkcs7().modinfo("alias", "sig-*").build(),
    );
    t.write("kernel/b/legacy.ko", &signed_legacy().build());
    t.write(
        "kernel/c/xzmod.ko.xz",
        &plain()
            .modinfo("alias", "shared-alias")
            .compression(Compression::Xz)
            .build(),
    );
    t.write(
        "kernel/c/zstmod.ko.zst",
        &plain()
            .modinfo("alias", "shared-alias")
            .compression(Compression::Zstd)
            .build(),
    );
    t.write(
        "kernel/c/be32.ko",
        &with_params()
            .class(Class::Elf32)
            .endian(Endian::Big)
            .build(),
    );
    t.write("kernel/d/dash-name.ko", &plain().build());
    t.write(
        "modules.builtin",
        b"kernel/net/unix/unix.ko\nkernel/fs/ext4/ext4.ko\nkernel/lib/bi1.ko\nkernel/lib/bi2.ko\n",
    );
    t.write(
        "modules.builtin.modinfo",
        b"unix.alias=net-pf-1\0unix.license=GPL\0ext4.alias=fs-ext4\0ext4.parm=x:the x\0\
          ext4.parmtype=x:int\0ext4.description=Fourth\0bi1.alias=same\0bi2.alias=same\0",
    );
    t.write(
        "modules.order",
        b"kernel/a/plain.ko\nkernel/a/params.ko\nkernel/b/signed.ko\nkernel/b/legacy.ko\n\
          kernel/c/xzmod.ko\nkernel/c/zstmod.ko\nkernel/c/be32.ko\nkernel/d/dash-name.ko\n",
    );
    t.depmod_with_oracle();
    t
}

fn files(t: &Tree) -> Vec<String> {
    [
        "kernel/a/plain.ko",
        "kernel/a/params.ko",
        "kernel/b/signed.ko",
        "kernel/b/legacy.ko",
        "kernel/c/xzmod.ko.xz",
        "kernel/c/zstmod.ko.zst",
        "kernel/c/be32.ko",
    ]
    .iter()
    .map(|f| t.dir().join(f).display().to_string())
    .collect()
}

#[test]
fn option_errors_match_glibc() {
    let dir = std::env::temp_dir();
    let cases: &[&[&str]] = &[
        &["-x"],
        &["--fi"],
        &["--f"],
        &["-F"],
        &["--field"],
        &["--=x"],
        &["--help=3"],
        &["--bogus", "x"],
        &["-adq"],
        &[],
    ];
    for args in cases {
        let run = assert_same("modinfo", args, &dir);
        assert_eq!(run.status, 1, "{args:?}");
        assert!(!run.stderr.is_empty());
    }
}

#[test]
fn help_goes_to_stdout() {
    let run = ours("modinfo", &["-h"], &std::env::temp_dir());
    assert_eq!(run.status, 0);
    assert!(run.stdout.contains("--field"));
    assert!(run.stderr.is_empty());
}

#[test]
fn by_path_every_format() {
    let t = tree();
    let variants: &[&[&str]] = &[
        &[],
        &["-0"],
        &["-F", "alias"],
        &["-F", "parm"],
        &["-0", "-F", "parm"],
        &["-F", "parmtype"],
        &["-F", "filename"],
        &["-F", "name"],
        &["-F", "signature"],
        &["-F", "sig_key"],
        &["-F", "noequals"],
        &["-F", "nonexistent"],
        &["-a"],
        &["-d"],
        &["-l"],
        &["-p"],
        &["-n"],
        &["-n", "-F", "license"],
        &["-0", "-p"],
    ];
    for variant in variants {
        for file in files(&t) {
            let mut args: Vec<&str> = variant.to_vec();
            args.push(&file);
            let run = assert_same("modinfo", &args, t.root());
            assert_eq!(run.status, 0, "{args:?}: {}", run.stderr);
        }
    }
}

#[test]
fn relative_paths_are_made_absolute() {
    let t = tree();
    let run = assert_same("modinfo", &["-n", "./kernel/a/plain.ko"], &t.dir());
    assert!(run.stdout.ends_with("/./kernel/a/plain.ko\n"));
    assert_same("modinfo", &["kernel/c/xzmod.ko.xz"], &t.dir());
}

#[test]
fn several_arguments_and_failures() {
    let t = tree();
    let plain = t.dir().join("kernel/a/plain.ko").display().to_string();
    std::fs::write(t.root().join("garbage.ko"), b"not an elf file").unwrap();
    std::fs::write(t.root().join("empty.ko"), b"").unwrap();
    std::fs::create_dir(t.root().join("dir.ko")).unwrap();
    let gz = plain_builder().compression(Compression::Gzip).build();
    std::fs::write(t.root().join("gz.ko.gz"), gz).unwrap();
    let run = assert_same(
        "modinfo",
        &[
            "garbage.ko",
            &plain,
            "empty.ko",
            "dir.ko",
            "missing.ko",
            "gz.ko.gz",
            &plain,
        ],
        t.root(),
    );
    assert_eq!(run.status, 1);
}

#[test]
fn lookups_by_name() {
    if !have_oracle() {
        return;
    }
    let t = tree();
    let root = t.root_str();
    let names = [
        "plain",
        "params",
        "dash-name",
        "dash_name",
        "signed",
        "xzmod",
        "zstmod",
        "test-alias",
        "test_alias",
        "shared-alias",
        "sig-anything",
        "unix",
        "net-pf-1",
        "ext4",
        "fs-ext4",
        "same",
        "bi1",
        "nothere",
        "foo[",
        "a]b",
        "symbol:nothing",
    ];
    for name in names {
        for variant in [&[][..], &["-F", "name"], &["-0"], &["-p"], &["-n"], &["-m"]] {
            let mut args: Vec<&str> = vec!["-b", &root, "-k", VERSION];
            args.extend_from_slice(variant);
            args.push(name);
            assert_same("modinfo", &args, t.root());
        }
    }
}

#[test]
fn relative_basedir() {
    if !have_oracle() {
        return;
    }
    let t = tree();
    let parent = t.root().parent().unwrap();
    let rel = t.root().file_name().unwrap().to_str().unwrap();
    let run = assert_same(
        "modinfo",
        &["-b", rel, "-k", VERSION, "plain", "unix"],
        parent,
    );
    assert_eq!(run.status, 0);
}

#[test]
fn builtin_without_modinfo_file() {
    if !have_oracle() {
        return;
    }
    let t = tree();
    std::fs::remove_file(t.dir().join("modules.builtin.modinfo")).unwrap();
    let root = t.root_str();
    for variant in [&[][..], &["-F", "name"], &["-F", "alias"]] {
        let mut args: Vec<&str> = vec!["-b", &root, "-k", VERSION];
        args.extend_from_slice(variant);
        args.push("unix");
        let run = assert_same("modinfo", &args, t.root());
        assert_eq!(run.status, 0);
    }
}

#[test]
fn missing_module_directory() {
    let dir = std::env::temp_dir();
    let run = assert_same(
        "modinfo",
        &["-b", "/nonexistent-modkit", "-k", "1.0", "foo"],
        &dir,
    );
    assert_eq!(run.status, 1);
    assert_eq!(run.stderr, "modinfo: ERROR: Module foo not found.\n");
    let run = assert_same("modinfo", &["-k", "1.0", "-m", "foo"], &dir);
    assert_eq!(run.stderr, "modinfo: ERROR: Module name foo not found.\n");
}

#[test]
fn path_named_like_a_builtin_or_indexed_module() {
    if !have_oracle() {
        return;
    }
    let t = tree();
    let root = t.root_str();
    std::fs::write(t.root().join("unix.ko"), plain().build()).unwrap();
    std::fs::write(t.root().join("params.ko"), plain().build()).unwrap();
    for file in ["unix.ko", "params.ko"] {
        for variant in [&[][..], &["-F", "name"], &["-n"]] {
            let mut args: Vec<&str> = vec!["-b", &root, "-k", VERSION];
            args.extend_from_slice(variant);
            args.push(file);
            assert_same("modinfo", &args, t.root());
        }
    }
    // The same name through the index and through a path in one run.
    assert_same(
        "modinfo",
        &["-b", &root, "-k", VERSION, "params", "params.ko", "params"],
        t.root(),
    );
}

#[test]
fn default_directory_is_the_running_kernel() {
    let t = tree();
    let proc = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(proc.path().join("sys/kernel")).unwrap();
    std::fs::write(
        proc.path().join("sys/kernel/osrelease"),
        format!("{VERSION}\n"),
    )
    .unwrap();
    let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("modkit"))
        .args(["modinfo", "-n", "plain", "unix"])
        .env("MODKIT_PROC", proc.path())
        .env("MODKIT_MODULE_DIRECTORY", t.root().join("lib/modules"))
        .output()
        .unwrap();
    let run = common::Run::from(out);
    let want = format!("{}/kernel/a/plain.ko\n(builtin)\n", t.dir().display());
    assert_eq!(
        (run.status, run.stdout.as_str()),
        (0, want.as_str()),
        "{}",
        run.stderr
    );
}

#[test]
fn permutation_and_option_forms() {
    if !have_oracle() {
        return;
    }
    let t = tree();
    let root = t.root_str();
    let file = "kernel/a/params.ko";
    let cases: Vec<Vec<&str>> = vec![
        vec![file, "-F", "license"],
        vec!["--", "-F", file],
        vec![file, "-0", "--", "-n"],
        vec!["-F", "license", "-F", "author", file, "-a"],
        vec!["--fie=parm", file, "--nul"],
        vec!["-pn0", file],
        vec!["-b", &root, "--set-v", VERSION, "-mF", "name", "plain"],
        vec![
            "-b",
            &root,
            "--set-version=6.1.0-test",
            "--basedir",
            &root,
            "same",
            "-Fname",
        ],
    ];
    for args in cases {
        let run = assert_same("modinfo", &args, &t.dir());
        assert!(run.status == 0 || !run.stderr.is_empty(), "{args:?}");
    }
}

#[test]
fn indexed_module_whose_file_is_gone() {
    if !have_oracle() {
        return;
    }
    let t = tree();
    std::fs::remove_file(t.dir().join("kernel/d/dash-name.ko")).unwrap();
    std::fs::write(t.dir().join("kernel/a/plain.ko"), b"").unwrap();
    let root = t.root_str();
    for variant in [&[][..], &["-F", "name"], &["-n"], &["-m"]] {
        let mut args: Vec<&str> = vec!["-b", &root, "-k", VERSION];
        args.extend_from_slice(variant);
        args.extend_from_slice(&["dash-name", "plain", "params"]);
        let run = assert_same("modinfo", &args, t.root());
        assert_eq!(
            run.status,
            if variant == ["-n"] { 0 } else { 1 },
            "{variant:?}"
        );
    }
}

#[test]
fn tree_without_builtin_files() {
    if !have_oracle() {
        return;
    }
    let t = Tree::new(VERSION);
    t.write("kernel/a/plain.ko", &plain().build());
    t.depmod_with_oracle(); // writes 0-byte modules.builtin{,.alias}.bin
    let root = t.root_str();
    for name in ["plain", "test-alias", "unix", "nothere", "foo["] {
        for variant in [&[][..], &["-m"]] {
            let mut args: Vec<&str> = vec!["-b", &root, "-k", VERSION];
            args.extend_from_slice(variant);
            args.push(name);
            assert_same("modinfo", &args, t.root());
        }
    }
}
