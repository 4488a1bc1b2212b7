//! modinfo against kmod 30 on the real Debian trees: every module by path, every module and
//! built-in module by name through the indexes kmod wrote (`-b ROOT -k VER`), and the field
//! options on a sample. Arguments go in batches; a batch that differs is narrowed down to
//! the modules that differ.

use modkit_tests::{
    kmod_indexed, modkit, module_files, module_name, trees, Outcome, Tree, KMOD_MODINFO,
};
use std::process::Command;

const BATCH: usize = 300;
/// Batches narrowed down to single modules before the rest are only counted.
const NARROWED: usize = 3;

/// Runs both tools over `items` in batches, with `args` before each batch.
fn compare_batches(test: &str, args: &[String], items: &[String]) {
    let mut report = String::new();
    let (mut differing, mut narrowed) = (0, 0);
    for chunk in items.chunks(BATCH) {
        let Some(ours) = run_modkit(test, args, chunk) else {
            return;
        };
        let theirs = run_kmod(args, chunk);
        if theirs.difference(&ours).is_none() {
            continue;
        }
        differing += 1;
        if narrowed < NARROWED {
            narrowed += 1;
            report.push_str(&narrow(test, args, chunk));
        }
    }
    let total = items.len().div_ceil(BATCH);
    assert!(
        differing == 0,
        "{test}: {differing} of {total} batches differ from kmod 30 (args {args:?})\n{report}"
    );
}

fn run_kmod(args: &[String], items: &[String]) -> Outcome {
    Outcome::of(Command::new(KMOD_MODINFO).args(args).args(items))
}

fn run_modkit(test: &str, args: &[String], items: &[String]) -> Option<Outcome> {
    Some(Outcome::of(modkit(test, "modinfo")?.args(args).args(items)))
}

/// The first few single items of a differing batch that differ, with their first difference.
fn narrow(test: &str, args: &[String], chunk: &[String]) -> String {
    let mut report = String::new();
    let mut shown = 0;
    for item in chunk {
        let one = std::slice::from_ref(item);
        let Some(ours) = run_modkit(test, args, one) else {
            break;
        };
        if let Some(diff) = run_kmod(args, one).difference(&ours) {
            shown += 1;
            report.push_str(&format!("--- modinfo {} {item}\n{diff}", args.join(" ")));
            if shown == 5 {
                break;
            }
        }
    }
    if shown == 0 {
        report.push_str(
            "(the batch differs but no single module does: an interaction between arguments)\n",
        );
    }
    report
}

fn tree(test: &str, label: &str) -> Option<Tree> {
    let found = trees(test)?.into_iter().find(|t| t.label == label);
    assert!(
        found.is_some() || !modkit_tests::required(),
        "{test}: no {label} tree"
    );
    found
}

fn paths(tree: &Tree) -> Vec<String> {
    module_files(&tree.module_dir())
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect()
}

fn by_path(label: &str) {
    let test = format!("modinfo_by_path_{label}");
    let Some(tree) = tree(&test, label) else {
        return;
    };
    compare_batches(&test, &[], &paths(&tree));
}

/// `-b <kmod's copy> -k <version>`: name lookups through the indexes kmod wrote.
fn index_args(tree: &Tree) -> Vec<String> {
    let kmod = kmod_indexed(tree);
    vec![
        "-b".into(),
        kmod.root.to_string_lossy().into_owned(),
        "-k".into(),
        tree.version.clone(),
    ]
}

fn by_name(label: &str) {
    let test = format!("modinfo_by_name_{label}");
    let Some(tree) = tree(&test, label) else {
        return;
    };
    let names: Vec<String> = module_files(&tree.module_dir())
        .iter()
        .map(|p| module_name(p))
        .collect();
    compare_batches(&test, &index_args(&tree), &names);
}

/// Names of the built-in modules (from modules.builtin), plus a few aliases.
fn builtin_names(tree: &Tree) -> Vec<String> {
    let list =
        std::fs::read_to_string(tree.module_dir().join("modules.builtin")).unwrap_or_default();
    let mut names: Vec<String> = list
        .lines()
        .filter_map(|l| l.rsplit('/').next())
        .map(|f| f.split('.').next().unwrap_or_default().replace('-', "_"))
        .filter(|n| !n.is_empty())
        .collect();
    names.extend(["net-pf-1", "crc32c", "fs-xfs", "no-such-module"].map(String::from));
    names
}

#[test]
fn modinfo_by_path_matches_kmod_on_6_1() {
    by_path("6.1");
}

#[test]
fn modinfo_by_path_matches_kmod_on_6_12() {
    by_path("6.12");
}

#[test]
fn modinfo_by_name_matches_kmod_on_6_1() {
    by_name("6.1");
}

#[test]
fn modinfo_by_name_matches_kmod_on_6_12() {
    by_name("6.12");
}

#[test]
fn modinfo_builtin_and_alias_names_match_kmod() {
    let test = "modinfo_builtin";
    let Some(all) = trees(test) else { return };
    for tree in all {
        compare_batches(test, &index_args(&tree), &builtin_names(&tree));
    }
}

/// The field options, each on every 40th module of each tree by path and on a few names.
#[test]
fn modinfo_field_options_match_kmod() {
    let test = "modinfo_fields";
    let Some(all) = trees(test) else { return };
    let options: [&[&str]; 12] = [
        &["-F", "name"],
        &["-F", "parm"],
        &["-F", "signer"],
        &["-F", "filename"],
        &["-F", "no_such_field"],
        &["-0"],
        &["-n"],
        &["-a"],
        &["-d"],
        &["-l"],
        &["-p"],
        &["-0", "-F", "alias"],
    ];
    for tree in all {
        let sample: Vec<String> = paths(&tree).into_iter().step_by(40).collect();
        let names: Vec<String> = ["xfs", "unix", "ext4", "crc32c"].map(String::from).to_vec();
        for option in options {
            let option: Vec<String> = option.iter().map(|s| s.to_string()).collect();
            compare_batches(test, &option, &sample);
            let mut with_index = index_args(&tree);
            with_index.extend(option);
            compare_batches(test, &with_index, &names);
        }
    }
}

/// modkit's default (pre-order) indexes answer name lookups like kmod's post-order ones:
/// `modkit modinfo` through indexes modkit wrote against kmod's modinfo through kmod's.
#[test]
fn modinfo_through_modkit_pre_order_indexes_matches_kmod() {
    let test = "modinfo_pre_order";
    let Some(tree) = tree(test, "6.1") else {
        return;
    };
    let Some(mut depmod) = modkit(test, "depmod") else {
        return;
    };
    let copy = modkit_tests::scratch("6.1/modkit-pre-order");
    tree.copy_to(&copy);
    let built = Outcome::of(depmod.arg("-b").arg(&copy).arg(&tree.version));
    assert_eq!(
        built.status,
        Some(0),
        "{test}: modkit depmod failed: {built:?}"
    );
    let kmod = kmod_indexed(&tree);
    let mut names: Vec<String> = module_files(&tree.module_dir())
        .iter()
        .map(|p| module_name(p))
        .collect();
    names.extend(builtin_names(&tree));
    let (ours_root, kmod_root) = (
        copy.to_string_lossy().into_owned(),
        kmod.root.to_string_lossy().into_owned(),
    );
    let mut differing = String::new();
    for chunk in names.chunks(BATCH) {
        let args = |root: &str| {
            vec![
                "-b".to_owned(),
                root.to_owned(),
                "-k".to_owned(),
                tree.version.clone(),
            ]
        };
        let theirs = run_kmod(&args(&kmod_root), chunk).replace(&kmod_root, "<ROOT>");
        let Some(ours) = run_modkit(test, &args(&ours_root), chunk) else {
            return;
        };
        if let Some(diff) = theirs.difference(&ours.replace(&ours_root, "<ROOT>")) {
            differing.push_str(&format!(
                "--- names {} … {}\n{diff}",
                chunk[0],
                chunk[chunk.len() - 1]
            ));
        }
    }
    assert!(
        differing.is_empty(),
        "{test}: modkit differs from kmod 30\n{differing}"
    );
}
