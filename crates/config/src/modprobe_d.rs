//! modprobe.d: `alias`, `options`, `install`, `remove`, `blacklist`, `softdep` and (kmod ≥ 33)
//! `weakdep` (kmod-tools §5).
//!
//! Owns kmod 30's directory list, file selection (`.conf` and `.alias` files, hidden files
//! and non-matching names skipped silently, nested directories reported), masking by
//! basename with the module directory's `modules.softdep` (and `modules.weakdep`) taking
//! part under their basenames, the strcmp order of basenames, the line syntax (rest of
//! line starts after one separator, tabs of `options` become spaces) and the directives.
//! The kernel command line is parsed last ([`crate::cmdline`]). A missing directory is
//! skipped silently; one that exists but cannot be listed is reported. Problems are returned as
//! typed [`ModprobeDError`]s, carrying file and line; parsing always goes on after them.

use std::path::{Path, PathBuf};

use crate::lines::logical_lines;

/// kmod 30's modprobe.d directories, in precedence order.
pub const DEFAULT_DIRS: [&str; 4] = [
    "/etc/modprobe.d",
    "/run/modprobe.d",
    "/usr/local/lib/modprobe.d",
    "/lib/modprobe.d",
];

/// A problem found while reading modprobe.d; `Display` is libkmod's message text (without
/// the `libkmod: ERROR …: <function>: ` prefix, which the CLI adds).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModprobeDError {
    /// A syntax error or an unknown directive (`kmod_config_parse`).
    #[error("{} line {line}: ignoring bad line starting with '{}'", file.display(), String::from_utf8_lossy(command))]
    BadLine {
        file: PathBuf,
        line: usize,
        command: Vec<u8>,
    },
    /// `include` or `config` (`kmod_config_parse`).
    #[error("{}: command {} is deprecated and not parsed anymore", file.display(), String::from_utf8_lossy(command))]
    Deprecated { file: PathBuf, command: Vec<u8> },
    /// A directory inside a configuration directory (`conf_files_filter_out`).
    #[error("Directories inside directories are not supported: {}", path.display())]
    NestedDirectory { path: PathBuf },
    /// A configuration directory that exists but cannot be listed (`conf_files_list`);
    /// libkmod's text ends with the errno's `strerror`, which the CLI words.
    #[error("opendir({}): os error {errno}", path.display())]
    OpenDirectory { path: PathBuf, errno: i32 },
}

/// `alias <pattern> <module>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alias {
    pub pattern: Vec<u8>,
    pub module: Vec<u8>,
}

/// `options <module> <text>` (tabs already turned into spaces).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleOptions {
    pub module: Vec<u8>,
    pub options: Vec<u8>,
}

/// `install <module> <command>` or `remove <module> <command>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub module: Vec<u8>,
    pub command: Vec<u8>,
}

/// Which list of a softdep a name belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SoftdepList {
    Pre,
    Post,
}

/// `softdep <module> [pre: …] [post: …]`: the names in line order, each tagged with its
/// list (names before the first `pre:`/`post:` are dropped, as kmod drops them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Softdep {
    pub module: Vec<u8>,
    pub names: Vec<(SoftdepList, Vec<u8>)>,
}

impl Softdep {
    /// The names of one list, in line order (raw: not underscored).
    pub fn list(&self, which: SoftdepList) -> impl Iterator<Item = &[u8]> {
        self.names
            .iter()
            .filter(move |(w, _)| *w == which)
            .map(|(_, n)| n.as_slice())
    }

    /// The pre names.
    pub fn pre(&self) -> Vec<&[u8]> {
        self.list(SoftdepList::Pre).collect()
    }

    /// The post names.
    pub fn post(&self) -> Vec<&[u8]> {
        self.list(SoftdepList::Post).collect()
    }

    /// What `modprobe -c` prints after `softdep <module> `, as kmod 30 prints it: `pre: `
    /// and the names from the first pre name to the last one **including every name in
    /// between** (post names too), then immediately `post: ` and the same span of post names.
    pub fn show(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (which, label) in [
            (SoftdepList::Pre, &b"pre:"[..]),
            (SoftdepList::Post, b"post:"),
        ] {
            let first = self.names.iter().position(|(w, _)| *w == which);
            let last = self.names.iter().rposition(|(w, _)| *w == which);
            let (Some(first), Some(last)) = (first, last) else {
                continue;
            };
            out.extend_from_slice(label);
            for (_, name) in &self.names[first..=last] {
                out.push(b' ');
                out.extend_from_slice(name);
            }
        }
        out
    }
}

/// `weakdep <module> <name>…` (kmod ≥ 33 only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Weakdep {
    pub module: Vec<u8>,
    pub names: Vec<Vec<u8>>,
}

/// The merged modprobe.d configuration, every list in parse order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ModprobeConfig {
    pub aliases: Vec<Alias>,
    pub options: Vec<ModuleOptions>,
    pub installs: Vec<Command>,
    pub removes: Vec<Command>,
    pub blacklists: Vec<Vec<u8>>,
    pub softdeps: Vec<Softdep>,
    pub weakdeps: Vec<Weakdep>,
    /// The files parsed, in order.
    pub files: Vec<PathBuf>,
}

/// Which kmod's syntax to accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Syntax {
    /// Accept `weakdep` and read `modules.weakdep` (kmod ≥ 33); kmod 30 rejects both.
    pub weakdep: bool,
}

/// `underscores()`: `-` → `_` outside brackets; None on an unmatched bracket.
pub fn underscores(token: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(token.len());
    let mut bytes = token.iter();
    while let Some(&b) = bytes.next() {
        match b {
            b'[' => {
                out.push(b);
                loop {
                    let &inner = bytes.next()?;
                    out.push(inner);
                    if inner == b']' {
                        break;
                    }
                }
            }
            b']' => return None,
            b'-' => out.push(b'_'),
            other => out.push(other),
        }
    }
    Some(out)
}

fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// A token and where it ends in the line.
fn next_token(line: &[u8], from: usize) -> Option<(&[u8], usize)> {
    let start = from + line.get(from..)?.iter().position(|&b| !is_blank(b))?;
    let len = line[start..]
        .iter()
        .position(|&b| is_blank(b))
        .unwrap_or(line.len() - start);
    Some((&line[start..start + len], start + len))
}

/// The rest of the line after the token ending at `end`: it starts after exactly one
/// separator; None when empty.
fn rest_after(line: &[u8], end: usize) -> Option<&[u8]> {
    let rest = line.get(end + 1..)?;
    (!rest.is_empty()).then_some(rest)
}

/// One directive's line: the line text and the position after the directive word.
struct Directive<'a> {
    text: &'a [u8],
    after: usize,
}

impl<'a> Directive<'a> {
    /// The n-th argument token, underscored.
    fn names(&self, count: usize) -> Option<Vec<Vec<u8>>> {
        let mut pos = self.after;
        let mut out = Vec::new();
        for _ in 0..count {
            let (tok, end) = next_token(self.text, pos)?;
            out.push(underscores(tok)?);
            pos = end;
        }
        Some(out)
    }

    /// The underscored module name and the rest of the line.
    fn name_and_rest(&self) -> Option<(Vec<u8>, &'a [u8])> {
        let (tok, end) = next_token(self.text, self.after)?;
        let name = underscores(tok)?;
        Some((name, rest_after(self.text, end)?))
    }
}

fn tokens_of(rest: &[u8]) -> impl Iterator<Item = &[u8]> {
    rest.split(|&b| is_blank(b)).filter(|t| !t.is_empty())
}

fn softdep_names(rest: &[u8]) -> Vec<(SoftdepList, Vec<u8>)> {
    let mut current = None;
    let mut names = Vec::new();
    for tok in tokens_of(rest) {
        match tok {
            b"pre:" => current = Some(SoftdepList::Pre),
            b"post:" => current = Some(SoftdepList::Post),
            name => {
                if let Some(list) = current {
                    names.push((list, name.to_vec()));
                }
            }
        }
    }
    names
}

impl ModprobeConfig {
    /// Parse one file's bytes (`file` is the path as messages show it).
    pub fn parse_file(
        &mut self,
        file: &Path,
        data: &[u8],
        syntax: Syntax,
        diag: &mut dyn FnMut(ModprobeDError),
    ) {
        self.files.push(file.to_path_buf());
        for line in logical_lines(data) {
            if matches!(line.text.first(), None | Some(b'#')) {
                continue;
            }
            let Some((cmd, after)) = next_token(&line.text, 0) else {
                continue;
            };
            let d = Directive {
                text: &line.text,
                after,
            };
            if matches!(cmd, b"include" | b"config") {
                diag(ModprobeDError::Deprecated {
                    file: file.to_path_buf(),
                    command: cmd.to_vec(),
                });
                continue;
            }
            if self.directive(cmd, &d, syntax).is_none() {
                diag(ModprobeDError::BadLine {
                    file: file.to_path_buf(),
                    line: line.number,
                    command: cmd.to_vec(),
                });
            }
        }
    }

    /// Apply one directive; None when the line is bad.
    fn directive(&mut self, cmd: &[u8], d: &Directive<'_>, syntax: Syntax) -> Option<()> {
        match cmd {
            b"alias" => {
                let mut names = d.names(2)?.into_iter();
                let (pattern, module) = (names.next()?, names.next()?);
                self.aliases.push(Alias { pattern, module });
            }
            b"blacklist" => {
                let name = d.names(1)?.into_iter().next()?;
                self.blacklists.push(name);
            }
            b"options" => {
                let (module, rest) = d.name_and_rest()?;
                let options = rest
                    .iter()
                    .map(|&b| if b == b'\t' { b' ' } else { b })
                    .collect();
                self.options.push(ModuleOptions { module, options });
            }
            b"install" | b"remove" => {
                let (module, rest) = d.name_and_rest()?;
                let entry = Command {
                    module,
                    command: rest.to_vec(),
                };
                match cmd {
                    b"install" => self.installs.push(entry),
                    _ => self.removes.push(entry),
                }
            }
            b"softdep" => {
                let (module, rest) = d.name_and_rest()?;
                let names = softdep_names(rest);
                self.softdeps.push(Softdep { module, names });
            }
            b"weakdep" if syntax.weakdep => {
                let (module, rest) = d.name_and_rest()?;
                let names = tokens_of(rest).map(<[u8]>::to_vec).collect();
                self.weakdeps.push(Weakdep { module, names });
            }
            _ => return None,
        }
        Some(())
    }
}

/// A file selected for parsing: its basename (masking and sorting key) and path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigFile {
    pub name: Vec<u8>,
    pub path: PathBuf,
}

fn basename(path: &Path) -> Vec<u8> {
    path.file_name()
        .map(|n| n.as_encoded_bytes().to_vec())
        .unwrap_or_default()
}

/// kmod 30 reads `*.conf` and `*.alias` files of at least 6 bytes; hidden files never.
fn wanted(name: &[u8]) -> bool {
    name.first() != Some(&b'.')
        && name.len() >= 6
        && (name.ends_with(b".conf") || name.ends_with(b".alias"))
}

/// Whether a directory entry is a directory, following symbolic links as kmod's
/// `fstatat` does; the entry's own type saves a `stat` for everything but links.
fn is_dir(entry: &std::fs::DirEntry, full: &Path) -> bool {
    match entry.file_type() {
        Ok(t) if !t.is_symlink() => t.is_dir(),
        _ => std::fs::metadata(full).is_ok_and(|m| m.is_dir()),
    }
}

fn files_of(path: &Path, diag: &mut dyn FnMut(ModprobeDError)) -> Vec<ConfigFile> {
    let Ok(meta) = std::fs::metadata(path) else {
        return Vec::new();
    };
    if !meta.is_dir() {
        return vec![ConfigFile {
            name: basename(path),
            path: path.to_path_buf(),
        }];
    }
    let entries = match std::fs::read_dir(path) {
        Ok(entries) => entries,
        Err(e) => {
            diag(ModprobeDError::OpenDirectory {
                path: path.to_path_buf(),
                errno: e.raw_os_error().unwrap_or(0),
            });
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let bytes = name.as_encoded_bytes();
        if !wanted(bytes) {
            continue;
        }
        let full = path.join(&name);
        if is_dir(&entry, &full) {
            diag(ModprobeDError::NestedDirectory { path: full });
            continue;
        }
        out.push(ConfigFile {
            name: bytes.to_vec(),
            path: full,
        });
    }
    out
}

/// Select the files to parse: `extra` (the module directory's `modules.softdep` and
/// friends, which come first and so mask configuration files of the same basename), then
/// `paths` in precedence order; masking by basename; strcmp order of basenames.
pub fn config_files(
    extra: &[PathBuf],
    paths: &[PathBuf],
    diag: &mut dyn FnMut(ModprobeDError),
) -> Vec<ConfigFile> {
    let mut files: Vec<ConfigFile> = extra
        .iter()
        .map(|p| ConfigFile {
            name: basename(p),
            path: p.clone(),
        })
        .collect();
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

/// Where the configuration comes from.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// The `-C` list, or None for [`DEFAULT_DIRS`].
    pub paths: Option<Vec<PathBuf>>,
    /// The module directory (for `modules.softdep`, `modules.weakdep`), if any.
    pub module_dir: Option<PathBuf>,
    /// The kernel command line's bytes (`/proc/cmdline`), if readable.
    pub cmdline: Option<Vec<u8>>,
    pub syntax: Syntax,
}

/// Read the whole configuration: the files of [`config_files`] in order (unreadable files
/// are skipped silently, like kmod), then the kernel command line.
pub fn load(sources: &Sources, diag: &mut dyn FnMut(ModprobeDError)) -> ModprobeConfig {
    let defaults: Vec<PathBuf> = DEFAULT_DIRS.iter().map(PathBuf::from).collect();
    let paths = sources.paths.as_deref().unwrap_or(&defaults);
    let mut extra = Vec::new();
    if let Some(dir) = &sources.module_dir {
        extra.push(dir.join("modules.softdep"));
        if sources.syntax.weakdep {
            extra.push(dir.join("modules.weakdep"));
        }
    }
    let mut cfg = ModprobeConfig::default();
    for file in config_files(&extra, paths, diag) {
        if let Ok(data) = std::fs::read(&file.path) {
            cfg.parse_file(&file.path, &data, sources.syntax, diag);
        }
    }
    if let Some(cmdline) = &sources.cmdline {
        crate::cmdline::parse_into(&mut cfg, cmdline);
    }
    cfg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> (ModprobeConfig, Vec<String>) {
        parse_with(text, Syntax::default())
    }

    fn parse_with(text: &str, syntax: Syntax) -> (ModprobeConfig, Vec<String>) {
        let mut cfg = ModprobeConfig::default();
        let mut msgs = Vec::new();
        cfg.parse_file(Path::new("d/a.conf"), text.as_bytes(), syntax, &mut |e| {
            msgs.push(e.to_string())
        });
        (cfg, msgs)
    }

    fn s(b: &[u8]) -> &str {
        std::str::from_utf8(b).unwrap()
    }

    #[test]
    fn underscores_outside_brackets() {
        assert_eq!(underscores(b"a-b[x-y]-c").unwrap(), b"a_b[x-y]_c");
        assert_eq!(underscores(b"a[b"), None);
        assert_eq!(underscores(b"a]"), None);
    }

    #[test]
    fn every_directive_is_stored_in_order() {
        let (cfg, msgs) = parse(
            "alias\tt1\tt2\tt3\noptions a-b x-y=1\ninstall a-b  echo  \"x\"\nremove r1 echo hi\n\
             blacklist j k\nsoftdep a-b pre: x-y\n",
        );
        assert!(msgs.is_empty(), "{msgs:?}");
        assert_eq!(cfg.aliases.len(), 1);
        assert_eq!(s(&cfg.aliases[0].pattern), "t1");
        assert_eq!(s(&cfg.aliases[0].module), "t2");
        assert_eq!(s(&cfg.options[0].module), "a_b");
        assert_eq!(s(&cfg.options[0].options), "x-y=1");
        assert_eq!(s(&cfg.installs[0].command), " echo  \"x\"");
        assert_eq!(s(&cfg.removes[0].command), "echo hi");
        assert_eq!(cfg.blacklists, vec![b"j".to_vec()]);
        assert_eq!(s(&cfg.softdeps[0].module), "a_b");
        assert_eq!(cfg.softdeps[0].pre(), vec![&b"x-y"[..]]);
    }

    #[test]
    fn options_rest_keeps_leading_blanks_and_turns_tabs_into_spaces() {
        let (cfg, _) = parse("options  o1  \t p=1\tq=2\n");
        assert_eq!(s(&cfg.options[0].options), "   p=1 q=2");
    }

    #[test]
    fn bad_lines_name_the_last_physical_line() {
        let (_, msgs) = parse(
            "alias a\ninstall a\ninstall b \noptions c \\\n\nremove d\nsoftdep e \n  # x\nalias g[ h\n\
             blacklist\nweakdep a b\nALIAS a b\n",
        );
        let want: Vec<String> = [
            (1, "alias"),
            (2, "install"),
            (3, "install"),
            (5, "options"),
            (6, "remove"),
            (7, "softdep"),
            (8, "#"),
            (9, "alias"),
            (10, "blacklist"),
            (11, "weakdep"),
            (12, "ALIAS"),
        ]
        .iter()
        .map(|(n, c)| format!("d/a.conf line {n}: ignoring bad line starting with '{c}'"))
        .collect();
        assert_eq!(msgs, want);
    }

    #[test]
    fn deprecated_commands() {
        let (_, msgs) = parse("include /x\nconfig y\n");
        assert_eq!(
            msgs,
            vec![
                "d/a.conf: command include is deprecated and not parsed anymore",
                "d/a.conf: command config is deprecated and not parsed anymore"
            ]
        );
    }

    #[test]
    fn weakdep_only_with_the_newer_syntax() {
        let syntax = Syntax { weakdep: true };
        let (cfg, msgs) = parse_with("weakdep a-b c d\n", syntax);
        assert!(msgs.is_empty());
        assert_eq!(s(&cfg.weakdeps[0].module), "a_b");
        assert_eq!(cfg.weakdeps[0].names, vec![b"c".to_vec(), b"d".to_vec()]);
    }

    #[test]
    fn softdep_lists_and_kmod30_show_span() {
        let cases = [
            (
                "pre: a1 b1 post: c1 pre: d1",
                "pre: a1 b1 c1 d1post: c1",
                "a1 b1 d1",
            ),
            (
                "post: c1 c2 pre: d1 post: c3",
                "pre: d1post: c1 c2 d1 c3",
                "d1",
            ),
            ("x y", "", ""),
            ("post: p", "post: p", ""),
        ];
        for (rest, shown, pre) in cases {
            let (cfg, msgs) = parse(&format!("softdep s1 {rest}\n"));
            assert!(msgs.is_empty());
            let sd = &cfg.softdeps[0];
            assert_eq!(s(&sd.show()), shown, "{rest}");
            let got: Vec<&str> = sd.pre().into_iter().map(s).collect();
            assert_eq!(got.join(" "), pre, "{rest}");
        }
    }

    #[test]
    fn files_selected_masked_and_sorted() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, m) = (
            dir.path().join("a"),
            dir.path().join("b"),
            dir.path().join("m"),
        );
        for d in [&a, &b, &m] {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::create_dir_all(b.join("sub.conf")).unwrap();
        std::fs::create_dir_all(b.join("sub")).unwrap();
        // Links are followed, as kmod 30 follows them: to a directory, to a file.
        std::os::unix::fs::symlink("sub", b.join("l.conf")).unwrap();
        std::os::unix::fs::symlink("../a/z.conf", b.join("f.conf")).unwrap();
        for f in [
            a.join("z.conf"),
            a.join("m.conf"),
            b.join("m.conf"),
            b.join("c.alias"),
            b.join("x.txt"),
            b.join(".h.conf"),
            b.join("modules.softdep"),
            m.join("modules.softdep"),
        ] {
            std::fs::write(f, "").unwrap();
        }
        let mut msgs = Vec::new();
        let files = config_files(
            &[m.join("modules.softdep")],
            &[a.clone(), b.clone(), dir.path().join("none")],
            &mut |e| msgs.push(e.to_string()),
        );
        let got: Vec<PathBuf> = files.into_iter().map(|f| f.path).collect();
        assert_eq!(
            got,
            vec![
                b.join("c.alias"),
                b.join("f.conf"),
                a.join("m.conf"),
                m.join("modules.softdep"),
                a.join("z.conf")
            ]
        );
        msgs.sort();
        let nested = |p: PathBuf| {
            format!(
                "Directories inside directories are not supported: {}",
                p.display()
            )
        };
        assert_eq!(
            msgs,
            vec![nested(b.join("l.conf")), nested(b.join("sub.conf"))]
        );
    }

    #[test]
    fn load_reads_files_then_the_command_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.conf"), "options m x=1\n").unwrap();
        std::fs::write(dir.path().join("modules.softdep"), "softdep q pre: r\n").unwrap();
        let sources = Sources {
            paths: Some(vec![dir.path().join("a.conf")]),
            module_dir: Some(dir.path().to_path_buf()),
            cmdline: Some(b"m.y=2 quiet".to_vec()),
            syntax: Syntax::default(),
        };
        let cfg = load(&sources, &mut |_| {});
        let opts: Vec<&str> = cfg.options.iter().map(|o| s(&o.options)).collect();
        assert_eq!(opts, vec!["x=1", "y=2"]);
        assert_eq!(cfg.softdeps.len(), 1);
        assert_eq!(cfg.files.len(), 2);
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(data in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let mut cfg = ModprobeConfig::default();
            cfg.parse_file(Path::new("f"), &data, Syntax { weakdep: true }, &mut |_| {});
        }

        #[test]
        fn good_alias_lines_round_trip(p in "[a-z0-9_:*]{1,12}", m in "[a-z0-9_]{1,12}") {
            let (cfg, msgs) = parse(&format!("alias {p} {m}\n"));
            proptest::prop_assert!(msgs.is_empty());
            proptest::prop_assert_eq!(&cfg.aliases[0].pattern, p.as_bytes());
            proptest::prop_assert_eq!(&cfg.aliases[0].module, m.as_bytes());
        }
    }
}
