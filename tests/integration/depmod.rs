//! depmod against kmod 30 on the real Debian trees: a full run on each tree (every output
//! file byte for byte, stdout, stderr, exit status, no modules.weakdep), `-n`, an explicit
//! module list, and `-A` (no rewrite when up to date, a rewrite after touching a module).

use modkit_tests::trees::unshare;
use modkit_tests::{
    assert_same, kmod_indexed, modkit, scratch, trees, Outcome, Tree, DEPMOD_OUTPUTS, KMOD_DEPMOD,
};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The tree with this label, or None after a note.
fn tree(test: &str, label: &str) -> Option<Tree> {
    let found = trees(test)?.into_iter().find(|t| t.label == label);
    assert!(
        found.is_some() || !modkit_tests::required(),
        "{test}: no {label} tree in MODKIT_TREES"
    );
    found
}

/// `modkit depmod --index-layout=post-order ARGS` (the layout kmod 30 writes).
fn modkit_depmod(test: &str) -> Option<Command> {
    let mut cmd = modkit(test, "depmod")?;
    cmd.arg("--index-layout=post-order");
    Some(cmd)
}

/// Outcome with the copy's root path replaced by `<ROOT>`.
fn normalized(outcome: Outcome, root: &Path) -> Outcome {
    outcome.replace(&root.to_string_lossy(), "<ROOT>")
}

/// Panics unless both module directories hold the same depmod outputs and file names.
fn assert_same_outputs(what: &str, kmod_dir: &Path, ours_dir: &Path) {
    let mut report = String::new();
    for name in DEPMOD_OUTPUTS {
        assert!(
            kmod_dir.join(name).is_file(),
            "{what}: kmod did not write {name}"
        );
        if let Err(diff) =
            modkit_tests::compare::same_file(&kmod_dir.join(name), &ours_dir.join(name))
        {
            report.push_str(&format!("{name}: {diff}\n"));
        }
    }
    assert!(
        !kmod_dir.join("modules.weakdep").exists(),
        "{what}: kmod 30 wrote modules.weakdep"
    );
    if ours_dir.join("modules.weakdep").exists() {
        report.push_str("modules.weakdep: modkit wrote it, kmod 30 does not\n");
    }
    let (ours, theirs) = (file_names(ours_dir), file_names(kmod_dir));
    if ours != theirs {
        report.push_str(&format!(
            "file names differ:\n  kmod:   {theirs:?}\n  modkit: {ours:?}\n"
        ));
    }
    assert!(
        report.is_empty(),
        "{what}: modkit's files differ from kmod 30's\n{report}"
    );
}

fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{dir:?}: {e}"))
        .flatten()
        .filter(|e| e.path().is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn full_tree(label: &str) {
    let test = format!("depmod_{label}");
    let Some(tree) = tree(&test, label) else {
        return;
    };
    let Some(mut ours) = modkit_depmod(&test) else {
        return;
    };
    let kmod = kmod_indexed(&tree);
    let copy = scratch(&format!("{label}/modkit"));
    tree.copy_to(&copy);
    let outcome = Outcome::of(ours.arg("-b").arg(&copy).arg(&tree.version));
    assert_same(
        &test,
        &normalized(kmod.outcome.clone(), &kmod.root),
        &normalized(outcome, &copy),
    );
    assert_same_outputs(
        &test,
        &tree.module_dir_in(&kmod.root),
        &tree.module_dir_in(&copy),
    );
}

#[test]
fn depmod_matches_kmod_on_6_1() {
    full_tree("6.1");
}

#[test]
fn depmod_matches_kmod_on_6_12() {
    full_tree("6.12");
}

#[test]
fn depmod_dry_run_matches_kmod() {
    let test = "depmod_dry_run";
    let Some(tree) = tree(test, "6.1") else {
        return;
    };
    let Some(mut ours) = modkit_depmod(test) else {
        return;
    };
    let kmod = kmod_indexed(&tree);
    let args =
        |cmd: &mut Command| Outcome::of(cmd.arg("-n").arg("-b").arg(&kmod.root).arg(&tree.version));
    assert_same(
        test,
        &args(&mut Command::new(KMOD_DEPMOD)),
        &args(&mut ours),
    );
}

/// Runs kmod's and modkit's depmod in two fresh copies; `args` gets the copy's root.
fn depmod_pair(
    test: &str,
    tree: &Tree,
    args: impl Fn(&Path) -> Vec<String>,
) -> Option<(PathBuf, PathBuf)> {
    let mut ours = modkit_depmod(test)?;
    let (kmod_copy, ours_copy) = (
        scratch(&format!("{test}/kmod")),
        scratch(&format!("{test}/modkit")),
    );
    tree.copy_to(&kmod_copy);
    tree.copy_to(&ours_copy);
    let theirs = Outcome::of(Command::new(KMOD_DEPMOD).args(args(&kmod_copy)));
    let outcome = Outcome::of(ours.args(args(&ours_copy)));
    assert_same(
        test,
        &normalized(theirs, &kmod_copy),
        &normalized(outcome, &ours_copy),
    );
    Some((kmod_copy, ours_copy))
}

#[test]
fn depmod_explicit_module_list_matches_kmod() {
    let test = "depmod_module_list";
    let Some(tree) = tree(test, "6.1") else {
        return;
    };
    let dir = tree.module_dir();
    let all = modkit_tests::module_files(&dir);
    let mut picked: Vec<&Path> = all.iter().step_by(97).map(PathBuf::as_path).collect();
    for name in ["xfs", "libcrc32c", "crc32c_generic"] {
        picked.extend(
            all.iter()
                .filter(|p| modkit_tests::module_name(p) == name)
                .map(PathBuf::as_path),
        );
    }
    let relative: Vec<PathBuf> = picked
        .iter()
        .filter_map(|p| p.strip_prefix(&tree.root).ok())
        .map(Path::to_path_buf)
        .collect();
    let args = |root: &Path| {
        let mut a = vec![
            "-b".to_owned(),
            root.to_string_lossy().into_owned(),
            tree.version.clone(),
        ];
        a.extend(
            relative
                .iter()
                .map(|r| root.join(r).to_string_lossy().into_owned()),
        );
        a
    };
    let Some((k, o)) = depmod_pair(test, &tree, args) else {
        return;
    };
    assert_same_outputs(test, &tree.module_dir_in(&k), &tree.module_dir_in(&o));
}

fn inode(path: &Path) -> u64 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{path:?}: {e}"))
        .ino()
}

/// Gives one module of a copy a private inode and an mtime after modules.dep's.
fn touch_module(copy: &Path, tree: &Tree) {
    let dir = tree.module_dir_in(copy);
    let module = modkit_tests::module_files(&dir)
        .into_iter()
        .next()
        .expect("a module");
    unshare(&module);
    let dep_mtime = std::fs::metadata(dir.join("modules.dep"))
        .and_then(|m| m.modified())
        .expect("modules.dep");
    let later = dep_mtime + std::time::Duration::from_secs(5);
    let file = std::fs::File::options()
        .write(true)
        .open(&module)
        .expect("open module");
    file.set_modified(later).expect("set mtime");
}

#[test]
fn depmod_quick_rewrites_only_when_a_module_is_newer() {
    let test = "depmod_quick";
    let Some(tree) = tree(test, "6.1") else {
        return;
    };
    let full = |root: &Path| {
        vec![
            "-b".to_owned(),
            root.to_string_lossy().into_owned(),
            tree.version.clone(),
        ]
    };
    let Some((k, o)) = depmod_pair(test, &tree, full) else {
        return;
    };
    let quick = |root: &Path| {
        vec![
            "-A".to_owned(),
            "-b".to_owned(),
            root.to_string_lossy().into_owned(),
            tree.version.clone(),
        ]
    };
    let (kdep, odep) = (
        tree.module_dir_in(&k).join("modules.dep"),
        tree.module_dir_in(&o).join("modules.dep"),
    );
    let before = (inode(&kdep), inode(&odep));
    run_quick(test, &k, &o, quick);
    assert_eq!(
        inode(&kdep),
        before.0,
        "kmod -A rewrote an up-to-date modules.dep"
    );
    assert_eq!(
        inode(&odep),
        before.1,
        "modkit -A rewrote an up-to-date modules.dep"
    );
    touch_module(&k, &tree);
    touch_module(&o, &tree);
    run_quick(test, &k, &o, quick);
    assert_ne!(
        inode(&kdep),
        before.0,
        "kmod -A did not rewrite after a module changed"
    );
    assert_ne!(
        inode(&odep),
        before.1,
        "modkit -A did not rewrite after a module changed"
    );
    assert_same_outputs(test, &tree.module_dir_in(&k), &tree.module_dir_in(&o));
}

/// Runs `depmod -A` with both tools in their own copies and compares the outcomes.
fn run_quick(test: &str, k: &Path, o: &Path, args: impl Fn(&Path) -> Vec<String>) {
    let Some(mut ours) = modkit_depmod(test) else {
        return;
    };
    let theirs = Outcome::of(Command::new(KMOD_DEPMOD).args(args(k)));
    let outcome = Outcome::of(ours.args(args(o)));
    assert_same(test, &normalized(theirs, k), &normalized(outcome, o));
}
