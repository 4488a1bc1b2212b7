//! Byte identity with kmod 30 on hardlinked copies of the real Debian module trees
//! (ignored by default: slow, and needs the trees and /sbin/depmod).
mod common;

use std::path::Path;
use std::time::Instant;

use common::*;

fn compare_real(root: &Path, version: &str) {
    if !root.exists() || oracle().is_none() {
        eprintln!("note: {} missing, skipped", root.display());
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let ours = tmp.path().join("ours");
    let theirs = tmp.path().join("kmod");
    copy_tree(root, &ours);
    copy_tree(root, &theirs);
    let empty = tmp.path().join("no-config");
    std::fs::create_dir_all(&empty).unwrap();
    let t = Instant::now();
    let (rec, ok) = run_ours(&options(&ours, version, &empty));
    eprintln!("ours: {:?}\n{}", t.elapsed(), rec.stderr());
    assert!(ok, "{}", rec.stderr());
    let t = Instant::now();
    let (_, stderr, kok) = run_kmod(&[
        "-b",
        theirs.to_str().unwrap(),
        "-C",
        empty.to_str().unwrap(),
        version,
    ])
    .unwrap();
    eprintln!("kmod: {:?}", t.elapsed());
    assert!(kok);
    let rel = format!("lib/modules/{version}");
    let bad = diff_outputs(&ours.join(&rel), &theirs.join(&rel));
    if !bad.is_empty() && std::env::var_os("MODKIT_KEEP").is_some() {
        eprintln!("kept {}", tmp.keep().display());
    }
    assert!(bad.is_empty(), "{bad:#?}");
    assert_eq!(
        normalize(&rec.stderr(), &ours, "ROOT"),
        normalize(&stderr, &theirs, "ROOT")
    );
}

#[test]
#[ignore]
fn debian_6_1_tree_matches_kmod_30() {
    compare_real(
        Path::new("/var/cache/modkit/roots/linux-image-6.1.0-56-amd64"),
        "6.1.0-56-amd64",
    );
}

#[test]
#[ignore]
fn debian_6_12_tree_matches_kmod_30() {
    compare_real(
        Path::new("/var/cache/modkit/roots/linux-image-6.12.117+deb13-amd64"),
        "6.12.117+deb13-amd64",
    );
}

#[test]
#[ignore]
fn sparse_reading_keeps_every_fact_of_the_6_1_tree() {
    let root =
        Path::new("/var/cache/modkit/roots/linux-image-6.1.0-56-amd64/lib/modules/6.1.0-56-amd64");
    if !root.exists() {
        eprintln!("note: {} missing, skipped", root.display());
        return;
    }
    let mut stack = vec![root.to_path_buf()];
    let mut n = 0;
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "ko") {
                let full = modkit_depmod::facts::facts_of_image(&std::fs::read(&p).unwrap());
                let sparse = modkit_depmod::facts::read_one(&p);
                assert_eq!(full, sparse, "{}", p.display());
                assert!(full.symbols_errno.is_none());
                n += 1;
            }
        }
    }
    assert!(n > 4000);
}
