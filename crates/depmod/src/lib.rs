//! The module database: scan a module tree, compute what depmod computes, write every
//! output file atomically, and open an existing database for lookups.
//!
//! Scanning and decompression run in parallel (rayon); everything from module order on is
//! sequential and deterministic (kmod-formats §5).
//!
//! Pipeline of [`run`]: `-A` check ([`quick`]) → depmod.d (`modkit_config`) → `-E`/`-F`
//! ([`symbols`]) → scan and duplicate resolution ([`scan`]) → module order ([`order`]) →
//! parallel read of each module's facts ([`facts`]) → symbol ownership and dependencies
//! ([`deps`]) → every output built in memory ([`outputs`]) → atomic write ([`write`]) or,
//! with `-n`, the text outputs on stdout.
//!
//! Output compatibility: we emulate Debian 12's kmod 30 (outputs, stdout and messages
//! byte for byte; checked against `/sbin/depmod` on both Debian trees). Deliberate choices:
//! * the `.bin` layout follows [`Options::layout`] (default pre-order, as kmod ≥ 34;
//!   `Layout::PostOrder` gives kmod 30's bytes);
//! * kmod 30 never writes `modules.weakdep` (kmod ≥ 33 always does): we write it only when
//!   some module has `weakdep=` entries, so trees without weakdeps give exactly kmod 30's
//!   set of files.
//! * like kmod 30 built without zlib, `.ko.gz` files are not module files;
//! * depmod.d is read from the absolute directories (kmod 30 ignores `-b` for them);
//! * writes are stronger than kmod's: all temporary files are written and fsynced before
//!   any rename, and the directory is fsynced (kmod never fsyncs);
//! * on a dependency graph where kmod 30's cycle report never ends (a cycle reachable from
//!   another cycle), ours terminates and reports both.
#![forbid(unsafe_code)]

pub mod database;
pub mod deps;
pub mod facts;
pub mod hash;
pub mod log;
pub mod order;
pub mod outputs;
pub mod quick;
pub mod scan;
pub mod sparse;
pub mod symbols;
pub mod write;

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use modkit_config::{DepmodConfig, Severity};

pub use modkit_index::Layout;

/// What one depmod run is asked to do: the parsed command line (kmod-formats §5.1).
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `-b`: root prefix, already absolute ("" = none).
    pub basedir: PathBuf,
    /// `-o`: output root, already absolute (None = basedir).
    pub outdir: Option<PathBuf>,
    /// `-m`/`--moduledir` (default "/lib/modules").
    pub moduledir: String,
    /// The kernel version (first positional argument, else `uname -r`).
    pub version: String,
    /// `-C`, repeatable; None = the default depmod.d directories.
    pub config_paths: Option<Vec<PathBuf>>,
    /// `-E`
    pub symvers: Option<PathBuf>,
    /// `-F`
    pub filesyms: Option<PathBuf>,
    /// `-e` (already dropped with a warning by the caller when neither -E nor -F is set)
    pub errsyms: bool,
    /// `-n`
    pub dry_run: bool,
    /// `-P`
    pub symbol_prefix: Option<u8>,
    /// number of `-v`
    pub verbose: u8,
    /// `-w`
    pub warn: bool,
    /// `-A`
    pub quick: bool,
    /// `-a`
    pub all: bool,
    /// explicit absolute module paths (positional arguments after the version)
    pub modules: Vec<PathBuf>,
    /// `--index-layout`
    pub layout: Layout,
}

/// Severity of a depmod message, as kmod prints it (`depmod: <LEVEL>: ...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Fatal,
    Error,
    Warning,
    Notice,
    Info,
    Debug,
}

/// Where a run sends its messages (stderr lines) and its `-v`/`-n` output (stdout bytes).
///
/// Level filtering is done by the library: [`run`] reports only messages at WARNING or
/// above, plus one more level per `-v` ([`Options::verbose`]: 1 = NOTICE, 2 = INFO,
/// 3+ = DEBUG). A FATAL or final ERROR ending the run is not reported here but returned as
/// [`DepmodError`].
pub trait Reporter {
    /// One message; `text` is kmod's wording without the `depmod: LEVEL: ` prefix.
    fn message(&mut self, level: Level, text: &str);
    /// Bytes for stdout (`-n` outputs, `-v` "needs" lines).
    fn stdout(&mut self, bytes: &[u8]);
}

/// A run that ends with exit status 1. `Display` is kmod's message text (no prefix);
/// `level()` is how kmod prints it (FATAL for most, ERROR for cycles / bad version).
#[derive(Debug, thiserror::Error)]
#[error("{text}")]
pub struct DepmodError {
    pub level: Level,
    pub text: String,
}

/// Run depmod: exit status 0 on Ok, 1 on Err (after the error is printed by the caller).
pub fn run(opts: &Options, reporter: &mut dyn Reporter) -> Result<(), DepmodError> {
    let mut log = log::Log::new(reporter, opts.verbose);
    run_logged(opts, &mut log)
}

fn fatal(text: String) -> DepmodError {
    DepmodError {
        level: Level::Fatal,
        text,
    }
}

/// `<root><moduledir>/<version>` as kmod builds it.
fn module_dir(root: &Path, moduledir: &str, version: &str) -> PathBuf {
    let moduledir = if moduledir.is_empty() {
        "/lib/modules"
    } else {
        moduledir
    };
    let mut s = root.as_os_str().to_os_string();
    if !moduledir.starts_with('/') {
        s.push("/");
    }
    s.push(moduledir);
    s.push("/");
    s.push(version);
    PathBuf::from(s)
}

fn config_level(sev: Severity) -> Level {
    match sev {
        Severity::Error => Level::Error,
        Severity::Warning => Level::Warning,
        Severity::Info => Level::Info,
        Severity::Debug => Level::Debug,
    }
}

fn run_logged(opts: &Options, log: &mut log::Log<'_>) -> Result<(), DepmodError> {
    let in_dir = module_dir(&opts.basedir, &opts.moduledir, &opts.version);
    let out_root = opts.outdir.as_deref().unwrap_or(&opts.basedir);
    let out_dir = module_dir(out_root, &opts.moduledir, &opts.version);
    if opts.quick && (opts.dry_run || quick::up_to_date(&in_dir, &out_dir, log)) {
        return Ok(());
    }
    let full_scan = opts.modules.is_empty() || opts.all || opts.quick;
    let cfg = if full_scan {
        modkit_config::depmod_d::load(opts.config_paths.as_deref(), &opts.version, &mut |e| {
            log.msg(config_level(e.severity()), &e.to_string())
        })
    } else {
        DepmodConfig::default()
    };
    let mut table = load_kernel_symbols(opts, &in_dir, log)?;
    let mut mods = collect(opts, &cfg, &in_dir, full_scan, log)?;
    order::hash_order(&mut mods);
    read_module_order(&in_dir, &mut mods, log);
    let facts = facts::read_all(&mods);
    add_exports(&mods, &facts, opts.symbol_prefix, &mut table, log);
    let resolve = deps::ResolveOptions {
        errsyms: opts.errsyms,
        check_crcs: opts.symvers.is_some(),
        prefix: opts.symbol_prefix,
        verbose: opts.verbose > 0,
    };
    let direct = deps::resolve(&mods, &facts, &table, resolve, log);
    let sort_idx = match deps::sort(&direct) {
        Ok(idx) => idx,
        Err(users) => {
            let (lines, n) = deps::report_cycles(&mods, &direct, &users);
            for l in &lines {
                log.error(l);
            }
            return Err(DepmodError {
                level: Level::Error,
                text: format!("Found {n} modules in dependency cycles!"),
            });
        }
    };
    let mut mark = vec![0u32; mods.len()];
    let dep_lines = (0..mods.len())
        .map(|i| {
            let c = deps::closure(i, &direct, &sort_idx, &mut mark, i as u32 + 1);
            outputs::dep_line(&mods, i, &c)
        })
        .collect();
    let db = outputs::Database {
        mods: &mods,
        facts: &facts,
        dep_lines,
        symbols: &table,
        dir: &in_dir,
        layout: opts.layout,
        warn: opts.warn,
    };
    let outs = outputs::build_all(&db, !opts.dry_run, log);
    if opts.dry_run {
        for o in outs.iter().filter(|o| o.text) {
            log.stdout(&o.bytes);
        }
        return Ok(());
    }
    write::write_all(&out_dir, &outs)
}

/// `-E` or `-F` into a fresh symbol table (with depmod's fake kernel symbols).
fn load_kernel_symbols(
    opts: &Options,
    in_dir: &Path,
    log: &mut log::Log<'_>,
) -> Result<symbols::SymbolTable, DepmodError> {
    let mut table = symbols::SymbolTable::default();
    let file = opts.symvers.as_ref().or(opts.filesyms.as_ref());
    let Some(file) = file else {
        return Ok(table);
    };
    let data = std::fs::read(file).map_err(|e| {
        fatal(format!(
            "could not load {}: {}",
            file.display(),
            log::io_strerror(&e)
        ))
    })?;
    if opts.symvers.is_some() {
        let stale_errno = if in_dir.join("modules.softdep").exists() {
            "Success"
        } else {
            "No such file or directory"
        };
        table.load_symvers(file, &data, opts.symbol_prefix, stale_errno, log);
    } else {
        table.load_system_map(file, &data, opts.symbol_prefix, log);
    }
    table.add_fake_kernel_symbols();
    Ok(table)
}

/// The kept module files: a full scan (module dir, then external dirs, last configured
/// first) or the explicit paths of the command line.
fn collect(
    opts: &Options,
    cfg: &DepmodConfig,
    in_dir: &Path,
    full_scan: bool,
    log: &mut log::Log<'_>,
) -> Result<Vec<scan::Candidate>, DepmodError> {
    let mut set = scan::ModuleSet::new(cfg);
    if full_scan {
        let mut scanner = scan::Scanner {
            set: &mut set,
            excludes: &cfg.excludes,
            log,
        };
        scanner.scan(in_dir, Some(b"")).map_err(|e| {
            fatal(format!(
                "could not search modules: {}",
                log::io_strerror(&e)
            ))
        })?;
        for ext in cfg.externals.iter().rev() {
            let _ = scanner.scan(ext, None);
        }
    } else {
        let prefix = in_dir.as_os_str().as_bytes();
        for path in &opts.modules {
            if let Err(e) = std::fs::metadata(path) {
                return Err(fatal(format!(
                    "could not create module {}: {}",
                    path.display(),
                    log::io_strerror(&e)
                )));
            }
            let bytes = path.as_os_str().as_bytes();
            let rel = bytes
                .strip_prefix(prefix)
                .and_then(|r| r.strip_prefix(b"/"))
                .map(<[u8]>::to_vec);
            set.add(scan::Candidate {
                path: path.clone(),
                rel,
                name: modkit_index::names::path_to_modname(bytes),
            });
        }
    }
    Ok(set.into_vec())
}

/// Apply `<dir>/modules.order` (kmod 30 rules) to modules in hash order.
fn read_module_order(dir: &Path, mods: &mut Vec<scan::Candidate>, log: &mut log::Log<'_>) {
    match std::fs::read(dir.join("modules.order")) {
        Err(e) => log.warning(&format!(
            "could not open modules.order at {}: {}",
            dir.display(),
            log::io_strerror(&e)
        )),
        Ok(data) => match order::parse_order(&data) {
            order::OrderFile::Lines(lines) => order::apply_order(mods, &lines),
            order::OrderFile::Corrupted(line) => log.error(&format!(
                "{}/modules.order:{line} corrupted line misses '\\n'",
                dir.display()
            )),
        },
    }
}

/// Add every module's exports to the table in module order (the last exporter wins),
/// reporting modules whose symbols could not be loaded.
fn add_exports(
    mods: &[scan::Candidate],
    facts: &[facts::ModuleFacts],
    prefix: Option<u8>,
    table: &mut symbols::SymbolTable,
    log: &mut log::Log<'_>,
) {
    for (i, (m, f)) in mods.iter().zip(facts).enumerate() {
        if let Some(errno) = f.symbols_errno {
            log.error(&format!(
                "failed to load symbols from {}: {}",
                m.path.display(),
                log::strerror(errno)
            ));
        }
        for (name, crc) in &f.exports {
            table.add(symbols::strip_prefix(name, prefix), *crc, Some(i));
        }
    }
}
