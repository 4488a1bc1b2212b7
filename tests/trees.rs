//! The Debian kernel trees fetched by `cargo xtask test` (listed in MODKIT_TREES), scratch
//! copies of them, and the shared copy in which kmod 30's depmod wrote its indexes once per
//! test process.

use crate::compare::Outcome;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

/// One tree, from a line `<label> <version> <root> <deb>` of fetch.sh.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tree {
    pub label: String,
    pub version: String,
    pub root: PathBuf,
    pub deb: String,
}

impl Tree {
    /// Parses one line of fetch.sh's output.
    pub fn parse(line: &str) -> Option<Tree> {
        let mut f = line.split_whitespace();
        Some(Tree {
            label: f.next()?.to_owned(),
            version: f.next()?.to_owned(),
            root: PathBuf::from(f.next()?),
            deb: f.next().unwrap_or("").to_owned(),
        })
    }

    /// `<root>/lib/modules/<version>` of this tree.
    pub fn module_dir(&self) -> PathBuf {
        self.module_dir_in(&self.root)
    }

    /// `<copy>/lib/modules/<version>` of a copy of this tree.
    pub fn module_dir_in(&self, copy: &Path) -> PathBuf {
        copy.join("lib/modules").join(&self.version)
    }

    /// A fresh hardlinked copy (`cp -al`) of the tree at `dst`. The files at the top of the
    /// module directory become real copies, so a tool writing in place cannot alter the cache.
    pub fn copy_to(&self, dst: &Path) {
        self.copy_from(&self.root, dst);
    }

    /// Like `copy_to`, from another copy of this tree (one holding indexes, say).
    pub fn copy_from(&self, src: &Path, dst: &Path) {
        if dst.exists() {
            std::fs::remove_dir_all(dst).unwrap_or_else(|e| panic!("cannot clear {dst:?}: {e}"));
        }
        if !copy_tree(src, dst, "-al") {
            // Hardlinks need one filesystem; a plain copy works everywhere, only slower.
            eprintln!("note: cp -al {src:?} {dst:?} failed (another filesystem?), copying");
            let _ = std::fs::remove_dir_all(dst);
            assert!(copy_tree(src, dst, "-a"), "cp -a {src:?} {dst:?} failed");
        }
        let dir = self.module_dir_in(dst);
        for entry in std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{dir:?}: {e}"))
            .flatten()
        {
            unshare(&entry.path());
        }
    }
}

/// `cp <mode> src dst`; true on success.
fn copy_tree(src: &Path, dst: &Path, mode: &str) -> bool {
    let status = Command::new("cp")
        .arg(mode)
        .arg(src)
        .arg(dst)
        .stderr(std::process::Stdio::null())
        .status();
    status.is_ok_and(|s| s.success())
}

/// Replaces a hardlinked regular file by a private copy with the same mtime.
pub fn unshare(path: &Path) {
    if !path.is_file() {
        return;
    }
    let meta = std::fs::metadata(path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    std::fs::remove_file(path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    if let Ok(mtime) = meta.modified() {
        let file = std::fs::File::options().write(true).open(path);
        let _ = file.and_then(|f| f.set_modified(mtime));
    }
}

/// The trees of MODKIT_TREES, or None after a loud note (a failure if they are required).
pub fn trees(test: &str) -> Option<Vec<Tree>> {
    let Some(file) = std::env::var_os("MODKIT_TREES") else {
        crate::skip(test, "MODKIT_TREES is not set");
        return None;
    };
    let text = std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("cannot read MODKIT_TREES={file:?}: {e}"));
    let trees: Vec<Tree> = text.lines().filter_map(Tree::parse).collect();
    assert!(!trees.is_empty(), "MODKIT_TREES={file:?} lists no tree");
    for tree in &trees {
        assert!(
            tree.module_dir().is_dir(),
            "{:?} is missing: fetch again",
            tree.module_dir()
        );
    }
    crate::modkit_bin().map(|_| trees).or_else(|| {
        crate::skip(test, "no modkit binary");
        None
    })
}

/// A copy of a tree in which kmod 30's depmod wrote its indexes, and what depmod did.
pub struct KmodIndexed {
    pub root: PathBuf,
    pub outcome: Outcome,
}

static INDEXED: Mutex<Vec<(String, Arc<KmodIndexed>)>> = Mutex::new(Vec::new());

/// The copy `target/difftest/<label>/kmod` with kmod's indexes, made once per process.
pub fn kmod_indexed(tree: &Tree) -> Arc<KmodIndexed> {
    let mut made = INDEXED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, done)) = made.iter().find(|(label, _)| *label == tree.label) {
        return Arc::clone(done);
    }
    let root = crate::scratch(&format!("{}/kmod", tree.label));
    tree.copy_to(&root);
    let outcome = Outcome::of(
        Command::new(crate::KMOD_DEPMOD)
            .arg("-b")
            .arg(&root)
            .arg(&tree.version),
    );
    assert_eq!(
        outcome.status,
        Some(0),
        "kmod depmod failed on {root:?}: {outcome:?}"
    );
    let done = Arc::new(KmodIndexed { root, outcome });
    made.push((tree.label.clone(), Arc::clone(&done)));
    done
}
