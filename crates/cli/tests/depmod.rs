//! The depmod front-end, differential against kmod 30: option errors (glibc texts),
//! deprecated options, `-P`, the version and module-path checks, `-e` without symbols,
//! and whole runs on a synthetic tree (`-n` output and written files).
//!
//! Every case that gets past the command-line checks runs with `-b <temporary root>`:
//! nothing here may write below the real `/lib/modules`.

mod common;

use common::{assert_same, have_oracle, oracle, ours, Tree};
use modkit_elf::synth::ModuleBuilder;

fn tmp() -> std::path::PathBuf {
    std::env::temp_dir()
}

#[test]
fn option_errors_match_glibc() {
    let cases: &[&[&str]] = &[
        &["-x"],
        &["-b"],
        &["--foo=bar"],
        &["--conf"],
        &["--ver=3"],
        &["--s"],
        &["--sh=1"],
        &["--all=2"],
        &["-vxh"],
        &["---x"],
        &["-C"],
        &["--symbol-prefix"],
        &["1.0", "-E"],
    ];
    for args in cases {
        let run = assert_same("depmod", args, &tmp());
        assert_eq!(run.status, 1, "{args:?}");
    }
}

#[test]
fn checks_before_the_run_match() {
    let cases: &[&[&str]] = &[
        &["-P", "ab"],
        &["-P", ""],
        &["-e", "-P", "ab"],
        &["abc", "-P", "ab"],
        &["-e", "abc"],
        &["1"],
        &["-"],
        &["1.0", "rel"],
        &["-e", "1.0", "rel"],
        &["-u", "-q", "--root", "--map", "-m", "--unres", "-P", "xy"],
        &["--quiet", "-u", "1"],
    ];
    for args in cases {
        let run = assert_same("depmod", args, &tmp());
        assert_eq!(run.status, 1, "{args:?}");
        assert!(run.stdout.is_empty());
    }
}

#[test]
fn missing_explicit_module_is_fatal_before_later_relative_paths() {
    if !have_oracle() {
        return;
    }
    let mine = tempfile::tempdir().unwrap();
    let theirs = tempfile::tempdir().unwrap();
    let run = |d: &tempfile::TempDir, oracle_run: bool| {
        let root = d.path().display().to_string();
        let args = [
            "-b",
            root.as_str(),
            "1.0",
            "/nonexistent-modkit.ko",
            "rel.ko",
        ];
        let run = if oracle_run {
            oracle("depmod", &args, &tmp()).unwrap()
        } else {
            ours("depmod", &args, &tmp())
        };
        (run.status, run.stderr.replace(&root, "ROOT"))
    };
    assert_eq!(run(&mine, false), run(&theirs, true));
}

#[test]
fn help_and_version() {
    let run = ours("depmod", &["-h", "-V"], &tmp());
    assert_eq!(run.status, 0);
    assert!(run.stdout.contains("--index-layout"));
    let run = ours("depmod", &["-V", "-h"], &tmp());
    assert_eq!(
        run.stdout,
        format!(
            "modkit version {}\n+ZSTD +XZ -ZLIB +LIBCRYPTO -EXPERIMENTAL\n",
            env!("CARGO_PKG_VERSION")
        )
    );
}

#[test]
fn bad_index_layout_is_an_error() {
    let run = ours("depmod", &["--index-layout=sideways", "1.0"], &tmp());
    assert_eq!(run.status, 1);
    assert!(run.stderr.contains("sideways"), "{}", run.stderr);
    assert!(run.stdout.is_empty());
}

fn small_tree() -> Tree {
    let t = Tree::new("6.1.0-front");
    t.write(
        "kernel/a/base.ko",
        &ModuleBuilder::new()
            .modinfo("license", "GPL")
            .modinfo("alias", "base-alias")
            .modinfo("alias", "char-major-10-200")
            .modinfo("alias", "devname:base")
            .export("base_fn", 0x1234)
            .build(),
    );
    t.write(
        "kernel/b/user.ko",
        &ModuleBuilder::new()
            .modinfo("license", "GPL")
            .modinfo("softdep", "pre: base")
            .undefined("base_fn", modkit_elf::Binding::Global)
            .version(0x1234, "base_fn")
            .build(),
    );
    t.write("modules.order", b"kernel/a/base.ko\nkernel/b/user.ko\n");
    t.write("modules.builtin", b"kernel/net/unix/unix.ko\n");
    t.write(
        "modules.builtin.modinfo",
        b"unix.alias=net-pf-1\0unix.license=GPL\0",
    );
    t
}

#[test]
fn dry_run_matches() {
    if !have_oracle() {
        return;
    }
    let t = small_tree();
    let root = t.root_str();
    assert_same("depmod", &["-n", "-b", &root, "6.1.0-front"], &tmp());
    assert_same("depmod", &["-n", "-v", "-b", &root, "6.1.0-front"], &tmp());
}

#[test]
fn relative_basedir_and_outputs_match() {
    if !have_oracle() {
        return;
    }
    let ours_tree = small_tree();
    let theirs_tree = small_tree();
    let run_in = |t: &Tree, oracle_run: bool| {
        let parent = t.root().parent().unwrap().to_path_buf();
        let rel = t.root().file_name().unwrap().to_str().unwrap().to_string();
        let args = [
            "-b",
            rel.as_str(),
            "--index-layout=post-order",
            "6.1.0-front",
        ];
        if oracle_run {
            // kmod 30 has no --index-layout; its layout is post-order anyway.
            oracle("depmod", &["-b", &rel, "6.1.0-front"], &parent).unwrap()
        } else {
            ours("depmod", &args, &parent)
        }
    };
    let a = run_in(&ours_tree, false);
    let b = run_in(&theirs_tree, true);
    assert_eq!((a.status, &a.stderr), (b.status, &b.stderr));
    for file in [
        "modules.dep",
        "modules.dep.bin",
        "modules.alias",
        "modules.alias.bin",
        "modules.symbols",
        "modules.symbols.bin",
        "modules.softdep",
        "modules.devname",
        "modules.builtin.bin",
        "modules.builtin.alias.bin",
    ] {
        let mine = std::fs::read(ours_tree.dir().join(file)).unwrap();
        let theirs = std::fs::read(theirs_tree.dir().join(file)).unwrap();
        assert_eq!(mine, theirs, "{file}");
    }
}

#[test]
fn missing_module_directory_matches() {
    if !have_oracle() {
        return;
    }
    // Each run gets its own fresh root (a failed run must not leave files the next sees).
    let mine = tempfile::tempdir().unwrap();
    let theirs = tempfile::tempdir().unwrap();
    let root = |d: &tempfile::TempDir| d.path().join("absent").display().to_string();
    let a = ours("depmod", &["-b", &root(&mine), "1.0"], &tmp());
    let b = oracle("depmod", &["-b", &root(&theirs), "1.0"], &tmp()).unwrap();
    let a_err = a.stderr.replace(&root(&mine), "ROOT");
    let b_err = b.stderr.replace(&root(&theirs), "ROOT");
    assert_eq!((a.status, a_err), (b.status, b_err));
}

#[test]
fn modinfo_reads_our_pre_order_indexes() {
    if !have_oracle() {
        return;
    }
    let mine = small_tree();
    let theirs = small_tree();
    let run = ours("depmod", &["-b", &mine.root_str(), "6.1.0-front"], &tmp());
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert!(theirs.depmod_with_oracle());
    for name in [
        "base",
        "user",
        "base-alias",
        "char-major-10-200",
        "unix",
        "net-pf-1",
        "nothere",
    ] {
        let a = ours(
            "modinfo",
            &["-b", &mine.root_str(), "-k", "6.1.0-front", name],
            &tmp(),
        );
        let b = oracle(
            "modinfo",
            &["-b", &theirs.root_str(), "-k", "6.1.0-front", name],
            &tmp(),
        )
        .unwrap();
        let a_out = a.stdout.replace(&mine.root_str(), "ROOT");
        let b_out = b.stdout.replace(&theirs.root_str(), "ROOT");
        assert_eq!(
            (a.status, a_out, a.stderr),
            (b.status, b_out, b.stderr),
            "{name}"
        );
    }
}
