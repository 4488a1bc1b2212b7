//! depmod.d: `search`, `override`, `external`, `exclude` (kmod-formats §5.2).
//!
//! Owns the default directory list of kmod 30, file selection (`.conf` only, hidden files
//! skipped, no nested directories), masking by basename, the strcmp order of basenames,
//! and the directives. Messages that kmod prints while reading the configuration are
//! returned as typed [`ConfigError`]s carrying the file (and line), each with the
//! [`Severity`] kmod prints it at; parsing always goes on after them.
//!
//! Kernel-version patterns of `override` and `external` are POSIX extended regular
//! expressions in kmod (`regcomp(REG_EXTENDED|REG_NOSUB)` + `regexec`, unanchored). We use
//! the `regex` crate, which differs from POSIX ERE in a few corners: no back-references
//! (irrelevant for ERE), leftmost-first instead of leftmost-longest (irrelevant for a
//! yes/no match), Perl classes such as `\d` are accepted where POSIX would treat `\d` as
//! `d`, and Unicode classes. A pattern the crate rejects never matches, like an invalid
//! regex in kmod. `*` alone matches every version (it is not a valid ERE).

use std::fmt;
use std::path::{Path, PathBuf};

use crate::lines::{logical_lines, tokens};

/// kmod 30's depmod.d directories, in precedence order (absolute: kmod 30 reads them from
/// `/` even with `-b`, checked against the real tool).
pub const DEFAULT_DIRS: [&str; 4] = [
    "/etc/depmod.d",
    "/run/depmod.d",
    "/usr/local/lib/depmod.d",
    "/lib/depmod.d",
];

/// How kmod prints a configuration message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
    Info,
    Debug,
}

/// A problem or notice found while reading depmod.d; `Display` is kmod's exact text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{}:{line}: ignoring bad line starting with '{command}'", file.display())]
    BadLine {
        file: PathBuf,
        line: usize,
        command: String,
    },
    #[error("{}:{line}: command {command} not implemented yet", file.display())]
    NotImplemented {
        file: PathBuf,
        line: usize,
        command: String,
    },
    #[error("{}:{line}: override kernel did not match {pattern}", file.display())]
    OverrideMismatch {
        file: PathBuf,
        line: usize,
        pattern: String,
    },
    #[error("{}:{line}: external directory did not match {pattern}", file.display())]
    ExternalMismatch {
        file: PathBuf,
        line: usize,
        pattern: String,
    },
    #[error("All cfg files need .conf: {}", path.display())]
    NotConf { path: PathBuf },
    #[error("Directories inside directories are not supported: {}", path.display())]
    NestedDirectory { path: PathBuf },
    #[error("could not read {}: {reason}", path.display())]
    Unreadable { path: PathBuf, reason: String },
}

impl ConfigError {
    /// The level kmod 30 prints this message at.
    pub fn severity(&self) -> Severity {
        match self {
            ConfigError::BadLine { .. }
            | ConfigError::NestedDirectory { .. }
            | ConfigError::Unreadable { .. } => Severity::Error,
            ConfigError::NotImplemented { .. }
            | ConfigError::OverrideMismatch { .. }
            | ConfigError::ExternalMismatch { .. }
            | ConfigError::NotConf { .. } => Severity::Info,
        }
    }
}

/// One item of a `search` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchItem {
    /// `built-in`: the main tree (anything no other item matches).
    BuiltIn,
    /// `external`: every `external` directory.
    External,
    /// A subdirectory of the module directory (may contain `/`).
    Dir(Vec<u8>),
}

/// `override <modname> <kver> <subdir>` whose kernel version matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    pub modname: Vec<u8>,
    pub subdir: Vec<u8>,
}

/// The parsed depmod.d configuration, every list in parse order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DepmodConfig {
    pub search: Vec<SearchItem>,
    pub overrides: Vec<Override>,
    /// `external` directories whose kernel version matched.
    pub externals: Vec<PathBuf>,
    /// Extra directory basenames never descended into (`exclude`).
    pub excludes: Vec<Vec<u8>>,
}

impl DepmodConfig {
    /// Apply the default `search updates` when no search item was given.
    pub fn finish(&mut self) {
        if self.search.is_empty() {
            self.search.push(SearchItem::Dir(b"updates".to_vec()));
        }
    }
}

/// A configuration file selected for parsing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigFile {
    /// Basename (the masking and sorting key).
    pub name: Vec<u8>,
    pub path: PathBuf,
}

/// Select the files to parse from `paths` (directories or files, in precedence order):
/// masking by basename, then strcmp order of basenames. Missing paths are skipped silently.
pub fn config_files(paths: &[PathBuf], diag: &mut dyn FnMut(ConfigError)) -> Vec<ConfigFile> {
    let mut files: Vec<ConfigFile> = Vec::new();
    for path in paths {
        for file in files_of(path, diag) {
            if !files.iter().any(|f| f.name == file.name) {
                files.push(file);
            }
        }
    }
    files.sort_by(|a, b| a.name.cmp(&b.name));
    files
}

fn files_of(path: &Path, diag: &mut dyn FnMut(ConfigError)) -> Vec<ConfigFile> {
    let Ok(meta) = std::fs::metadata(path) else {
        return Vec::new();
    };
    if !meta.is_dir() {
        let name = path
            .file_name()
            .map(|n| n.as_encoded_bytes().to_vec())
            .unwrap_or_default();
        return vec![ConfigFile {
            name,
            path: path.to_path_buf(),
        }];
    }
    let Ok(entries) = std::fs::read_dir(path) else {
        return Vec::new();
    };
    // readdir order, like kmod: it decides the order of the messages below
    let names: Vec<std::ffi::OsString> = entries.flatten().map(|e| e.file_name()).collect();
    let mut out = Vec::new();
    for name in names {
        let bytes = name.as_encoded_bytes();
        if bytes.first() == Some(&b'.') {
            continue;
        }
        let full = path.join(&name);
        if bytes.len() < 6 || !bytes.ends_with(b".conf") {
            diag(ConfigError::NotConf { path: full });
            continue;
        }
        if std::fs::metadata(&full)
            .map(|m| m.is_dir())
            .unwrap_or(false)
        {
            diag(ConfigError::NestedDirectory { path: full });
            continue;
        }
        out.push(ConfigFile {
            name: bytes.to_vec(),
            path: full,
        });
    }
    out
}

/// True when kmod's `override`/`external` kernel pattern matches `version`.
pub fn kver_matches(pattern: &str, version: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    regex::Regex::new(pattern)
        .map(|re| re.is_match(version))
        .unwrap_or(false)
}

/// Parse one file's bytes into `cfg` (messages go to `diag`).
pub fn parse_into(
    cfg: &mut DepmodConfig,
    file: &Path,
    data: &[u8],
    version: &str,
    diag: &mut dyn FnMut(ConfigError),
) {
    for line in logical_lines(data) {
        if matches!(line.text.first(), None | Some(b'#')) {
            continue;
        }
        let mut toks = tokens(&line.text);
        let Some(cmd) = toks.next() else {
            continue;
        };
        let ctx = LineCtx {
            file,
            line: line.number,
            command: cmd,
        };
        let rest: Vec<&[u8]> = toks.collect();
        if let Some(err) = directive(cfg, &ctx, &rest, version) {
            diag(err);
        }
    }
}

struct LineCtx<'a> {
    file: &'a Path,
    line: usize,
    command: &'a [u8],
}

impl LineCtx<'_> {
    fn bad(&self) -> ConfigError {
        ConfigError::BadLine {
            file: self.file.to_path_buf(),
            line: self.line,
            command: lossy(self.command),
        }
    }
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn directive(
    cfg: &mut DepmodConfig,
    ctx: &LineCtx<'_>,
    args: &[&[u8]],
    version: &str,
) -> Option<ConfigError> {
    match ctx.command {
        b"search" => {
            cfg.search.extend(args.iter().map(|a| search_item(a)));
            None
        }
        b"override" => {
            let (Some(m), Some(k), Some(s)) = (args.first(), args.get(1), args.get(2)) else {
                return Some(ctx.bad());
            };
            if !kver_matches(&lossy(k), version) {
                return Some(ConfigError::OverrideMismatch {
                    file: ctx.file.to_path_buf(),
                    line: ctx.line,
                    pattern: lossy(k),
                });
            }
            cfg.overrides.push(Override {
                modname: m.to_vec(),
                subdir: s.to_vec(),
            });
            None
        }
        b"external" => {
            let (Some(k), Some(d)) = (args.first(), args.get(1)) else {
                return Some(ctx.bad());
            };
            if !kver_matches(&lossy(k), version) {
                return Some(ConfigError::ExternalMismatch {
                    file: ctx.file.to_path_buf(),
                    line: ctx.line,
                    pattern: lossy(k),
                });
            }
            cfg.externals.push(PathBuf::from(lossy(d)));
            None
        }
        b"exclude" => {
            cfg.excludes.extend(args.iter().map(|a| a.to_vec()));
            None
        }
        b"include" | b"make_map_files" => Some(ConfigError::NotImplemented {
            file: ctx.file.to_path_buf(),
            line: ctx.line,
            command: lossy(ctx.command),
        }),
        _ => Some(ctx.bad()),
    }
}

fn search_item(arg: &[u8]) -> SearchItem {
    match arg {
        b"built-in" => SearchItem::BuiltIn,
        b"external" => SearchItem::External,
        dir => SearchItem::Dir(dir.to_vec()),
    }
}

/// Read the whole depmod.d configuration: `paths` (the `-C` list, or [`DEFAULT_DIRS`] when
/// None) selected with [`config_files`], each file parsed in order, then [`DepmodConfig::finish`].
pub fn load(
    paths: Option<&[PathBuf]>,
    version: &str,
    diag: &mut dyn FnMut(ConfigError),
) -> DepmodConfig {
    let defaults: Vec<PathBuf> = DEFAULT_DIRS.iter().map(PathBuf::from).collect();
    let paths = paths.unwrap_or(&defaults);
    let mut cfg = DepmodConfig::default();
    for file in config_files(paths, diag) {
        match std::fs::read(&file.path) {
            Ok(data) => parse_into(&mut cfg, &file.path, &data, version, diag),
            Err(e) => diag(ConfigError::Unreadable {
                path: file.path.clone(),
                reason: e.to_string(),
            }),
        }
    }
    cfg.finish();
    cfg
}

impl fmt::Display for SearchItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SearchItem::BuiltIn => f.write_str("built-in"),
            SearchItem::External => f.write_str("external"),
            SearchItem::Dir(d) => f.write_str(&String::from_utf8_lossy(d)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, version: &str) -> (DepmodConfig, Vec<(Severity, String)>) {
        let mut cfg = DepmodConfig::default();
        let mut msgs = Vec::new();
        parse_into(
            &mut cfg,
            Path::new("/c/a.conf"),
            text.as_bytes(),
            version,
            &mut |e| msgs.push((e.severity(), e.to_string())),
        );
        (cfg, msgs)
    }

    #[test]
    fn search_items_in_order() {
        let (cfg, msgs) = parse("search updates built-in \\\n external extra/x\n", "1.0");
        assert!(msgs.is_empty());
        assert_eq!(
            cfg.search,
            vec![
                SearchItem::Dir(b"updates".to_vec()),
                SearchItem::BuiltIn,
                SearchItem::External,
                SearchItem::Dir(b"extra/x".to_vec())
            ]
        );
    }

    #[test]
    fn default_search_is_updates() {
        let mut cfg = DepmodConfig::default();
        cfg.finish();
        assert_eq!(cfg.search, vec![SearchItem::Dir(b"updates".to_vec())]);
    }

    #[test]
    fn bad_lines_and_comments() {
        let (_, msgs) = parse("bogus line\n#c\n  #x\n\n   \n", "1.0");
        assert_eq!(
            msgs,
            vec![
                (
                    Severity::Error,
                    "/c/a.conf:1: ignoring bad line starting with 'bogus'".to_string()
                ),
                (
                    Severity::Error,
                    "/c/a.conf:3: ignoring bad line starting with '#x'".to_string()
                ),
            ]
        );
    }

    #[test]
    fn override_with_kernel_patterns() {
        let (cfg, msgs) = parse(
            "override crc16 1.* kernel\noverride crc16 2.* kernel\noverride x\noverride a * updates extra\noverride b ( k\n",
            "1.0",
        );
        assert_eq!(
            cfg.overrides,
            vec![
                Override {
                    modname: b"crc16".to_vec(),
                    subdir: b"kernel".to_vec()
                },
                Override {
                    modname: b"a".to_vec(),
                    subdir: b"updates".to_vec()
                }
            ]
        );
        let texts: Vec<&str> = msgs.iter().map(|m| m.1.as_str()).collect();
        assert_eq!(
            texts,
            vec![
                "/c/a.conf:2: override kernel did not match 2.*",
                "/c/a.conf:3: ignoring bad line starting with 'override'",
                "/c/a.conf:5: override kernel did not match (",
            ]
        );
        assert_eq!(msgs[0].0, Severity::Info);
    }

    #[test]
    fn external_exclude_and_unimplemented() {
        let (cfg, msgs) = parse(
            "external 1.0 /ext\nexternal 2.* /no\nexternal 1\nexclude a b\ninclude x\nmake_map_files\n",
            "1.0",
        );
        assert_eq!(cfg.externals, vec![PathBuf::from("/ext")]);
        assert_eq!(cfg.excludes, vec![b"a".to_vec(), b"b".to_vec()]);
        let texts: Vec<&str> = msgs.iter().map(|m| m.1.as_str()).collect();
        assert_eq!(
            texts,
            vec![
                "/c/a.conf:2: external directory did not match 2.*",
                "/c/a.conf:3: ignoring bad line starting with 'external'",
                "/c/a.conf:5: command include not implemented yet",
                "/c/a.conf:6: command make_map_files not implemented yet",
            ]
        );
    }

    #[test]
    fn kver_regex_is_unanchored() {
        assert!(kver_matches("6\\.1", "6.1.0-56-amd64"));
        assert!(kver_matches("amd64$", "6.1.0-56-amd64"));
        assert!(!kver_matches("^5", "6.1.0"));
        assert!(kver_matches("*", "anything"));
        assert!(!kver_matches("(", "("));
    }

    #[test]
    fn files_masked_by_basename_and_sorted() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(b.join("sub.conf")).unwrap();
        std::fs::write(a.join("z.conf"), "").unwrap();
        std::fs::write(a.join("m.conf"), "").unwrap();
        std::fs::write(b.join("m.conf"), "").unwrap();
        std::fs::write(b.join("c.conf"), "").unwrap();
        std::fs::write(b.join("x.txt"), "").unwrap();
        std::fs::write(b.join(".h.conf"), "").unwrap();
        std::fs::write(dir.path().join("f.conf"), "").unwrap();
        let mut msgs = Vec::new();
        let files = config_files(
            &[
                a.clone(),
                b.clone(),
                dir.path().join("f.conf"),
                dir.path().join("none"),
            ],
            &mut |e| msgs.push(e.to_string()),
        );
        let got: Vec<PathBuf> = files.into_iter().map(|f| f.path).collect();
        msgs.sort();
        assert_eq!(
            got,
            vec![
                b.join("c.conf"),
                dir.path().join("f.conf"),
                a.join("m.conf"),
                a.join("z.conf")
            ]
        );
        assert_eq!(
            msgs,
            vec![
                format!("All cfg files need .conf: {}", b.join("x.txt").display()),
                format!(
                    "Directories inside directories are not supported: {}",
                    b.join("sub.conf").display()
                ),
            ]
        );
    }

    #[test]
    fn load_applies_default_search() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.conf"), "exclude foo\n").unwrap();
        let cfg = load(Some(&[dir.path().to_path_buf()]), "1.0", &mut |_| {});
        assert_eq!(cfg.search, vec![SearchItem::Dir(b"updates".to_vec())]);
        assert_eq!(cfg.excludes, vec![b"foo".to_vec()]);
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(data in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let mut cfg = DepmodConfig::default();
            parse_into(&mut cfg, Path::new("f"), &data, "1.0", &mut |_| {});
        }
    }
}
