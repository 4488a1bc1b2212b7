//! An existing module database (`modules.*.bin` and friends) opened for name lookups, as
//! modinfo and modprobe use it (kmod-tools §6.4).
//!
//! [`Database::open`] takes a module directory (`<root>/lib/modules/<version>`); index files
//! are read lazily, once, on first use. A missing or unreadable index is "not found", as
//! libkmod treats it. [`Database::lookup`] runs the index steps 2, 3, 5, 6 and 7 of the
//! resolution order (the configuration steps 1 and 4 belong to modprobe, which runs them
//! before and between these: see [`Database::lookup_moddep`] and friends, each one step);
//! [`Database::lookup_modname`] is `modinfo -m` (steps 2, 6, 7 on the module name).

use std::cell::OnceCell;
use std::path::{Path, PathBuf};

use modkit_index::names::{alias_normalize, modname_normalize};
use modkit_index::{Index, ValueOrder};
use thiserror::Error;

/// Why a lookup could not run at all (libkmod's "lookup error", distinct from "not found").
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum LookupError {
    /// `alias_normalize` rejected the name (an unmatched `[` or `]`).
    #[error("invalid name {name:?}: unmatched bracket")]
    UnmatchedBracket { name: String },
}

/// Why `modules.builtin.modinfo` could not be read.
#[derive(Debug, Error)]
pub enum BuiltinInfoError {
    #[error("could not read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl BuiltinInfoError {
    /// The errno libkmod reports (ENOENT for a missing file).
    pub fn errno(&self) -> i32 {
        match self {
            BuiltinInfoError::Read { source, .. } => source.raw_os_error().unwrap_or(5),
        }
    }
}

/// The index files of a module directory, by libkmod's index ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexFile {
    ModulesDep,
    ModulesAlias,
    ModulesSymbols,
    ModulesBuiltinAlias,
    ModulesBuiltin,
}

impl IndexFile {
    const ALL: [IndexFile; 5] = [
        IndexFile::ModulesDep,
        IndexFile::ModulesAlias,
        IndexFile::ModulesSymbols,
        IndexFile::ModulesBuiltinAlias,
        IndexFile::ModulesBuiltin,
    ];

    /// The file name inside the module directory.
    pub fn file_name(self) -> &'static str {
        match self {
            IndexFile::ModulesDep => "modules.dep.bin",
            IndexFile::ModulesAlias => "modules.alias.bin",
            IndexFile::ModulesSymbols => "modules.symbols.bin",
            IndexFile::ModulesBuiltinAlias => "modules.builtin.alias.bin",
            IndexFile::ModulesBuiltin => "modules.builtin.bin",
        }
    }

    fn slot(self) -> usize {
        self as usize
    }
}

/// A module a lookup resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The module name (normalized).
    pub name: Vec<u8>,
    /// Its file from `modules.dep.bin`, made absolute against the module directory; None
    /// for built-ins and for names the dependency index does not know.
    pub path: Option<PathBuf>,
    /// Whether the module was found through the built-in indexes.
    pub builtin: bool,
}

/// One `modules.dep.bin` entry: the module file and its dependencies (both as stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepLine {
    pub path: Vec<u8>,
    pub deps: Vec<Vec<u8>>,
}

impl DepLine {
    /// Parse `<path>: <dep> <dep>...`; None when there is no `:`.
    pub fn parse(line: &[u8]) -> Option<DepLine> {
        let colon = line.iter().position(|&b| b == b':')?;
        let deps = line[colon + 1..]
            .split(|&b| b == b' ' || b == b'\t')
            .filter(|d| !d.is_empty())
            .map(<[u8]>::to_vec)
            .collect();
        Some(DepLine {
            path: line[..colon].to_vec(),
            deps,
        })
    }
}

/// `(key, value)` records of a module's information, in order.
pub type InfoList = Vec<(Vec<u8>, Vec<u8>)>;

/// One step of the resolution order.
type Step<'s> = &'s dyn Fn(&[u8]) -> Vec<Found>;

/// The bytes of one index file, however they were obtained (read or mapped).
pub type FileBytes = Box<dyn AsRef<[u8]>>;

/// How index files are obtained: `None` when the file cannot be read (treated as missing).
pub type FileReader = fn(&Path) -> Option<FileBytes>;

fn read_whole(path: &Path) -> Option<FileBytes> {
    std::fs::read(path).ok().map(|v| Box::new(v) as FileBytes)
}

/// A module directory opened for lookups.
pub struct Database {
    dir: PathBuf,
    order: ValueOrder,
    reader: FileReader,
    files: [OnceCell<Option<FileBytes>>; 5],
}

impl Database {
    /// Open `dir` (nothing is read yet). Lookups use libkmod's mmap-reader value order;
    /// see [`Database::with_order`].
    pub fn open(dir: impl Into<PathBuf>) -> Database {
        Database {
            dir: dir.into(),
            order: ValueOrder::Mmap,
            reader: read_whole,
            files: Default::default(),
        }
    }

    /// Obtain index files with `reader` instead of reading them whole (modprobe maps them,
    /// so a lookup touches only the pages it needs).
    pub fn with_reader(mut self, reader: FileReader) -> Database {
        self.reader = reader;
        self
    }

    /// Use the given equal-priority order (modinfo: [`ValueOrder::Stdio`]).
    pub fn with_order(mut self, order: ValueOrder) -> Database {
        self.order = order;
        self
    }

    /// The module directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn bytes(&self, file: IndexFile) -> Option<&[u8]> {
        self.files[file.slot()]
            .get_or_init(|| (self.reader)(&self.dir.join(file.file_name())))
            .as_ref()
            .map(|b| (**b).as_ref())
    }

    fn index(&self, file: IndexFile) -> Option<Index<'_>> {
        let data = self.bytes(file)?;
        Index::new(data).ok().map(|i| i.with_order(self.order))
    }

    /// Whether every index file can be opened (what `kmod_load_resources` checks).
    pub fn indexes_present(&self) -> bool {
        IndexFile::ALL.iter().all(|&f| self.index(f).is_some())
    }

    /// The raw `modules.dep.bin` line of a module name.
    pub fn dep_line(&self, name: &[u8]) -> Option<DepLine> {
        let value = self.index(IndexFile::ModulesDep)?.lookup(name)?;
        DepLine::parse(value)
    }

    /// A path from `modules.dep.bin`, made absolute against the module directory as
    /// libkmod does (`<dir>/<path>`; absolute paths are kept).
    pub fn absolute(&self, path: &[u8]) -> PathBuf {
        use std::os::unix::ffi::OsStrExt;
        let p = Path::new(std::ffi::OsStr::from_bytes(path));
        if p.is_absolute() {
            return p.to_path_buf();
        }
        let mut joined = self.dir.as_os_str().as_bytes().to_vec();
        joined.push(b'/');
        joined.extend_from_slice(path);
        PathBuf::from(std::ffi::OsString::from(std::ffi::OsStr::from_bytes(
            &joined,
        )))
    }

    /// The absolute file of a module name, from `modules.dep.bin`.
    pub fn module_path(&self, name: &[u8]) -> Option<PathBuf> {
        self.dep_line(name).map(|l| self.absolute(&l.path))
    }

    fn found(&self, name: &[u8]) -> Found {
        Found {
            name: name.to_vec(),
            path: self.module_path(name),
            builtin: false,
        }
    }

    fn found_builtin(name: &[u8]) -> Found {
        Found {
            name: name.to_vec(),
            path: None,
            builtin: true,
        }
    }

    /// Step 2: `modules.dep.bin`, exact; skipped for names containing `:`.
    pub fn lookup_moddep(&self, name: &[u8]) -> Vec<Found> {
        if name.contains(&b':') {
            return Vec::new();
        }
        match self.dep_line(name) {
            Some(line) => vec![Found {
                name: name.to_vec(),
                path: Some(self.absolute(&line.path)),
                builtin: false,
            }],
            None => Vec::new(),
        }
    }

    fn wildcard(&self, file: IndexFile, subject: &[u8]) -> Vec<Vec<u8>> {
        match self.index(file) {
            Some(index) => index
                .lookup_wildcard(subject)
                .into_iter()
                .map(|v| v.value.to_vec())
                .collect(),
            None => Vec::new(),
        }
    }

    /// Step 3: `modules.symbols.bin`, wildcard, only for `symbol:` names.
    pub fn lookup_symbol(&self, name: &[u8]) -> Vec<Found> {
        if !name.starts_with(b"symbol:") {
            return Vec::new();
        }
        let owners = self.wildcard(IndexFile::ModulesSymbols, name);
        owners.iter().map(|m| self.found(m)).collect()
    }

    /// Step 5: `modules.alias.bin`, wildcard.
    pub fn lookup_alias(&self, name: &[u8]) -> Vec<Found> {
        let modules = self.wildcard(IndexFile::ModulesAlias, name);
        modules.iter().map(|m| self.found(m)).collect()
    }

    /// Step 6: `modules.builtin.bin`, exact.
    pub fn lookup_builtin(&self, name: &[u8]) -> Vec<Found> {
        match self.index(IndexFile::ModulesBuiltin) {
            Some(index) if index.lookup(name).is_some() => vec![Self::found_builtin(name)],
            _ => Vec::new(),
        }
    }

    /// Whether `name` is a built-in module (`modules.builtin.bin`).
    pub fn is_builtin(&self, name: &[u8]) -> bool {
        !self.lookup_builtin(name).is_empty()
    }

    /// Step 7: `modules.builtin.alias.bin`, wildcard.
    pub fn lookup_builtin_alias(&self, name: &[u8]) -> Vec<Found> {
        let modules = self.wildcard(IndexFile::ModulesBuiltinAlias, name);
        modules.iter().map(|m| Self::found_builtin(m)).collect()
    }

    /// `alias_normalize` as the lookup applies it.
    pub fn normalize(name: &[u8]) -> Result<Vec<u8>, LookupError> {
        alias_normalize(name).ok_or_else(|| LookupError::UnmatchedBracket {
            name: String::from_utf8_lossy(name).into_owned(),
        })
    }

    /// The index steps of the name resolution (2, 3, 5, 6, 7, with an empty
    /// configuration): the first step that yields modules wins. Empty = not found.
    pub fn lookup(&self, name: &[u8]) -> Result<Vec<Found>, LookupError> {
        let name = Self::normalize(name)?;
        let steps: [Step; 5] = [
            &|n| self.lookup_moddep(n),
            &|n| self.lookup_symbol(n),
            &|n| self.lookup_alias(n),
            &|n| self.lookup_builtin(n),
            &|n| self.lookup_builtin_alias(n),
        ];
        for step in steps {
            let found = step(&name);
            if !found.is_empty() {
                return Ok(found);
            }
        }
        Ok(Vec::new())
    }

    /// Every `(key, value)` pair of one index in dump order (what `modprobe -c` prints
    /// after the configuration); empty when the index is missing or unreadable.
    pub fn dump(&self, file: IndexFile) -> Vec<(Vec<u8>, Vec<u8>)> {
        match self.index(file) {
            Some(index) => index
                .dump()
                .into_iter()
                .map(|(key, value)| (key, value.to_vec()))
                .collect(),
            None => Vec::new(),
        }
    }

    /// `modinfo -m`: steps 2, 6, 7 on `modname_normalize(name)`; the first match.
    pub fn lookup_modname(&self, name: &[u8]) -> Option<Found> {
        let name = modname_normalize(name);
        let steps: [Step; 3] = [
            &|n| self.lookup_moddep(n),
            &|n| self.lookup_builtin(n),
            &|n| self.lookup_builtin_alias(n),
        ];
        steps.iter().find_map(|step| step(&name).into_iter().next())
    }

    /// The `modules.builtin.modinfo` records of one module, in file order, as
    /// `(key, value)` with the `<modname>.` prefix removed.
    pub fn builtin_modinfo(&self, name: &[u8]) -> Result<InfoList, BuiltinInfoError> {
        let path = self.dir.join("modules.builtin.modinfo");
        let data =
            std::fs::read(&path).map_err(|source| BuiltinInfoError::Read { path, source })?;
        Ok(builtin_records(&data, name))
    }
}

/// The records of `name` in a `modules.builtin.modinfo` image.
pub fn builtin_records(data: &[u8], name: &[u8]) -> InfoList {
    data.split(|&b| b == 0)
        .filter_map(|record| {
            let rest = record.strip_prefix(name)?.strip_prefix(b".")?;
            Some(match rest.iter().position(|&b| b == b'=') {
                Some(eq) => (rest[..eq].to_vec(), rest[eq + 1..].to_vec()),
                None => (rest.to_vec(), Vec::new()),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dep_line_parses_path_and_deps() {
        let line = DepLine::parse(b"kernel/a.ko: kernel/b.ko  kernel/c.ko").unwrap();
        assert_eq!(line.path, b"kernel/a.ko");
        assert_eq!(
            line.deps,
            vec![b"kernel/b.ko".to_vec(), b"kernel/c.ko".to_vec()]
        );
        assert_eq!(DepLine::parse(b"no colon"), None);
    }

    #[test]
    fn builtin_records_strip_the_module_prefix() {
        let data = b"unix.alias=net-pf-1\0unix2.license=x\0unix.license=GPL\0unix.flag\0";
        assert_eq!(
            builtin_records(data, b"unix"),
            vec![
                (b"alias".to_vec(), b"net-pf-1".to_vec()),
                (b"license".to_vec(), b"GPL".to_vec()),
                (b"flag".to_vec(), Vec::new()),
            ]
        );
    }

    #[test]
    fn relative_paths_are_joined_literally() {
        let db = Database::open("/a//lib/modules/1");
        assert_eq!(
            db.absolute(b"kernel/x.ko"),
            PathBuf::from("/a//lib/modules/1/kernel/x.ko")
        );
        assert_eq!(db.absolute(b"/abs/x.ko"), PathBuf::from("/abs/x.ko"));
    }

    #[test]
    fn missing_directory_finds_nothing() {
        let db = Database::open("/nonexistent/modkit/test");
        assert!(db.lookup_moddep(b"foo").is_empty());
        assert!(db.lookup_modname(b"foo").is_none());
        assert!(!db.indexes_present());
        assert!(db.builtin_modinfo(b"foo").is_err());
    }
}
