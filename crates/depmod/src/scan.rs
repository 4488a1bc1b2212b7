//! Scanning the module tree and resolving duplicate module names (kmod-formats §5.3–§5.4).
//!
//! The module directory is walked depth-first in readdir order, then each `external`
//! directory (last configured first). Module files are `.ko`, `.ko.xz` and `.ko.zst`:
//! like Debian 12's kmod 30 (built without zlib), `.ko.gz` files are ignored.

use std::collections::HashMap;
use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use modkit_config::{DepmodConfig, SearchItem};

use crate::log::{io_strerror, Log};

/// Extensions of module files this depmod accepts (kmod 30 on Debian: +XZ +ZSTD -ZLIB).
pub const MODULE_EXTENSIONS: [&str; 3] = [".ko", ".ko.xz", ".ko.zst"];

/// A module file kept for the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Absolute path as depmod builds it (`<dir>/<relpath>`).
    pub path: PathBuf,
    /// Path relative to the module directory; None for files of `external` directories.
    pub rel: Option<Vec<u8>>,
    /// Normalized module name.
    pub name: Vec<u8>,
}

impl Candidate {
    /// The path written into the outputs: relative, or absolute for external modules.
    pub fn output_path(&self) -> &[u8] {
        match &self.rel {
            Some(rel) => rel,
            None => self.path.as_os_str().as_bytes(),
        }
    }
}

/// True when `name` ends in an accepted module extension.
pub fn is_module_file(name: &[u8]) -> bool {
    MODULE_EXTENSIONS
        .iter()
        .any(|ext| name.len() > ext.len() && name.ends_with(ext.as_bytes()))
}

/// The set of kept candidates, with duplicate resolution on insertion.
pub struct ModuleSet<'c> {
    cfg: &'c DepmodConfig,
    by_name: HashMap<Vec<u8>, usize>,
    list: Vec<Candidate>,
}

impl<'c> ModuleSet<'c> {
    pub fn new(cfg: &'c DepmodConfig) -> ModuleSet<'c> {
        ModuleSet {
            cfg,
            by_name: HashMap::new(),
            list: Vec::new(),
        }
    }

    /// Add a found file; a name seen before is resolved with kmod's priority rules.
    pub fn add(&mut self, new: Candidate) {
        match self.by_name.get(&new.name) {
            Some(&at) => {
                if let Some(old) = self.list.get_mut(at) {
                    if new_wins(self.cfg, &new, old) {
                        *old = new;
                    }
                }
            }
            None => {
                self.by_name.insert(new.name.clone(), self.list.len());
                self.list.push(new);
            }
        }
    }

    pub fn into_vec(self) -> Vec<Candidate> {
        self.list
    }
}

/// `<dir>/<name>` byte for byte, the way depmod joins paths (no normalization).
pub fn join(dir: &Path, name: &[u8]) -> PathBuf {
    let mut bytes = dir.as_os_str().as_bytes().to_vec();
    bytes.push(b'/');
    bytes.extend_from_slice(name);
    PathBuf::from(OsString::from_vec(bytes))
}

/// Relative path without the extension: directory part plus the basename up to its first
/// `.` (how an `override` line is compared).
fn stem(rel: &[u8]) -> &[u8] {
    let base = rel.iter().rposition(|&b| b == b'/').map_or(0, |p| p + 1);
    let dot = rel
        .get(base..)
        .and_then(|b| b.iter().position(|&c| c == b'.'))
        .map_or(rel.len(), |p| base + p);
    rel.get(..dot).unwrap_or(rel)
}

fn under(path: &Path, dir: &Path) -> bool {
    let p = path.as_os_str().as_bytes();
    let d = dir.as_os_str().as_bytes();
    p.len() > d.len() && p.starts_with(d) && p.get(d.len()) == Some(&b'/')
}

/// kmod's duplicate rule: does `new` replace `old` (kmod-formats §5.4, quirk included)?
pub fn new_wins(cfg: &DepmodConfig, new: &Candidate, old: &Candidate) -> bool {
    for ov in cfg.overrides.iter().rev() {
        let mut target = ov.subdir.clone();
        target.push(b'/');
        target.extend_from_slice(&ov.modname);
        if new.rel.as_deref().map(stem) == Some(&target[..]) {
            return true;
        }
        if old.rel.as_deref().map(stem) == Some(&target[..]) {
            return false;
        }
    }
    let (mut builtin_prio, mut new_prio, mut old_prio) = (-1i64, -1i64, -1i64);
    let mut i = 0i64;
    for item in cfg.search.iter().rev() {
        match item {
            SearchItem::BuiltIn => builtin_prio = i,
            SearchItem::External => {
                for ext in cfg.externals.iter().rev() {
                    if new.rel.is_none() && under(&new.path, ext) {
                        new_prio = i;
                    }
                    if old.rel.is_none() && under(&old.path, ext) {
                        old_prio = i;
                    }
                    i += 1;
                }
            }
            SearchItem::Dir(dir) => {
                if starts_with_dir(new.rel.as_deref(), dir) {
                    new_prio = i;
                } else if starts_with_dir(old.rel.as_deref(), dir) {
                    old_prio = i;
                }
            }
        }
        i += 1;
    }
    if new_prio < 0 {
        new_prio = builtin_prio;
    }
    if old_prio < 0 {
        old_prio = builtin_prio;
    }
    new_prio > old_prio
}

fn starts_with_dir(rel: Option<&[u8]>, dir: &[u8]) -> bool {
    rel.is_some_and(|r| r.starts_with(dir) && r.get(dir.len()) == Some(&b'/'))
}

/// Walks directories and feeds module files into a [`ModuleSet`].
pub struct Scanner<'s, 'c, 'l> {
    pub set: &'s mut ModuleSet<'c>,
    pub excludes: &'c [Vec<u8>],
    pub log: &'s mut Log<'l>,
}

impl Scanner<'_, '_, '_> {
    fn skipped(&self, name: &[u8]) -> bool {
        name == b"build" || name == b"source" || self.excludes.iter().any(|e| e == name)
    }

    /// Scan `dir` recursively; `rel` is the relative prefix (None for external dirs, whose
    /// modules keep absolute paths). A directory that cannot be opened is reported and
    /// its error returned (fatal only for the module directory itself).
    pub fn scan(&mut self, dir: &Path, rel: Option<&[u8]>) -> Result<(), std::io::Error> {
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) => {
                self.log.error(&format!(
                    "could not open directory {}: {}",
                    dir.display(),
                    io_strerror(&e)
                ));
                return Err(e);
            }
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.as_bytes();
            if self.skipped(name) {
                continue;
            }
            let path = join(dir, name);
            let sub_rel = rel.map(|r| {
                let mut v = r.to_vec();
                if !v.is_empty() {
                    v.push(b'/');
                }
                v.extend_from_slice(name);
                v
            });
            let Some(is_dir) = self.kind(&entry, &path) else {
                continue;
            };
            if is_dir {
                let _ = self.scan(&path, sub_rel.as_deref());
            } else if is_module_file(name) {
                let modname = modkit_index::names::path_to_modname(name);
                self.set.add(Candidate {
                    path,
                    rel: sub_rel,
                    name: modname,
                });
            }
        }
        Ok(())
    }

    /// Some(true) for a directory, Some(false) for a regular file, None otherwise.
    fn kind(&mut self, entry: &std::fs::DirEntry, path: &Path) -> Option<bool> {
        if let Ok(ft) = entry.file_type() {
            if ft.is_dir() {
                return Some(true);
            }
            if ft.is_file() {
                return Some(false);
            }
        }
        match std::fs::metadata(path) {
            Ok(m) if m.is_dir() => Some(true),
            Ok(m) if m.is_file() => Some(false),
            Ok(m) => {
                self.log.error(&format!(
                    "unsupported file type {}: 0{:o}",
                    path.display(),
                    m.mode() & 0o170000
                ));
                None
            }
            Err(e) => {
                self.log
                    .error(&format!("fstatat({}): {}", path.display(), io_strerror(&e)));
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use modkit_config::Override;

    fn cand(rel: &str) -> Candidate {
        Candidate {
            path: PathBuf::from(format!("/m/{rel}")),
            rel: Some(rel.as_bytes().to_vec()),
            name: b"foo".to_vec(),
        }
    }

    fn ext(path: &str) -> Candidate {
        Candidate {
            path: PathBuf::from(path),
            rel: None,
            name: b"foo".to_vec(),
        }
    }

    fn cfg(search: &[&str]) -> DepmodConfig {
        let mut c = DepmodConfig::default();
        for s in search {
            c.search.push(match *s {
                "built-in" => SearchItem::BuiltIn,
                "external" => SearchItem::External,
                d => SearchItem::Dir(d.as_bytes().to_vec()),
            });
        }
        c
    }

    #[test]
    fn extensions() {
        assert!(is_module_file(b"a.ko"));
        assert!(is_module_file(b"a.ko.xz"));
        assert!(is_module_file(b"a.ko.zst"));
        assert!(!is_module_file(b"a.ko.gz"));
        assert!(!is_module_file(b".ko"));
        assert!(!is_module_file(b"a.o"));
    }

    #[test]
    fn updates_beats_kernel_by_default() {
        let c = cfg(&["updates"]);
        assert!(new_wins(
            &c,
            &cand("updates/foo.ko"),
            &cand("kernel/foo.ko")
        ));
        assert!(!new_wins(
            &c,
            &cand("kernel/foo.ko"),
            &cand("updates/foo.ko")
        ));
    }

    #[test]
    fn equal_priority_keeps_first_found() {
        let c = cfg(&["updates"]);
        assert!(!new_wins(
            &c,
            &cand("kernel/b/foo.ko"),
            &cand("kernel/a/foo.ko")
        ));
    }

    #[test]
    fn same_search_dir_quirk_later_file_wins() {
        let c = cfg(&["updates"]);
        assert!(new_wins(
            &c,
            &cand("updates/a/foo.ko"),
            &cand("updates/b/foo.ko")
        ));
        // with built-in ranked above updates the quirk does not replace
        let c = cfg(&["built-in", "updates"]);
        assert!(!new_wins(
            &c,
            &cand("updates/a/foo.ko"),
            &cand("updates/b/foo.ko")
        ));
    }

    #[test]
    fn earlier_search_items_win() {
        let c = cfg(&["extra", "updates", "built-in"]);
        assert!(new_wins(&c, &cand("extra/foo.ko"), &cand("updates/foo.ko")));
        assert!(!new_wins(
            &c,
            &cand("kernel/foo.ko"),
            &cand("updates/foo.ko")
        ));
        assert!(new_wins(
            &c,
            &cand("updates/foo.ko"),
            &cand("kernel/foo.ko")
        ));
    }

    #[test]
    fn externals_take_the_external_item_priority() {
        let mut c = cfg(&["external", "built-in"]);
        c.externals.push(PathBuf::from("/ext"));
        assert!(new_wins(&c, &ext("/ext/foo.ko"), &cand("kernel/foo.ko")));
        assert!(!new_wins(&c, &cand("kernel/foo.ko"), &ext("/ext/foo.ko")));
    }

    #[test]
    fn override_forces_the_file() {
        let mut c = cfg(&["updates"]);
        c.overrides.push(Override {
            modname: b"foo".to_vec(),
            subdir: b"kernel/x".to_vec(),
        });
        assert!(!new_wins(
            &c,
            &cand("updates/foo.ko"),
            &cand("kernel/x/foo.ko.xz")
        ));
        assert!(new_wins(
            &c,
            &cand("kernel/x/foo.ko"),
            &cand("updates/foo.ko")
        ));
    }

    #[test]
    fn stem_cuts_at_first_dot_of_basename() {
        assert_eq!(stem(b"a.b/c/foo-bar.ko.xz"), b"a.b/c/foo-bar");
        assert_eq!(stem(b"foo"), b"foo");
    }
}
