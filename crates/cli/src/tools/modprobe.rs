//! The modprobe front-end (kmod-tools §6), as kmod 30 behaves: `MODPROBE_OPTIONS` words
//! before the arguments, options `arw:RibfDcnC:d:S:sqvVh` with kmod 30's long-option table
//! (its order decides glibc's prefix rules, e.g. `--remove-` = `--remove-holders`), then
//! one of `-c`, `--show-modversions`, `--show-exports`, `-r`, `-a` or a single module with
//! parameters. Resolution, probing and removal are the loader's; this file owns the
//! options, the messages (kmod 30's debug-build library messages included) and the exit
//! status.

use std::io::Write;
use std::time::Duration;

use modkit_config::modprobe_d::{self, ModprobeConfig, ModprobeDError, Sources, Syntax};
use modkit_depmod::database::{Database, IndexFile};
use modkit_loader::insert::Force;
use modkit_loader::parallel;
use modkit_loader::probe::ProbeOptions;
use modkit_loader::remove::{RemoveError, RemoveOptions};
use modkit_loader::resolve::join_parameters;
use modkit_loader::Module;
use modkit_loader::{Event, Loader, Notice};
use modkit_sys::Kernel;

use crate::getopt::{Getopt, HasArg, Item, LongOpt};
use crate::kmodlog::{self, Prio, ToolLog};
use crate::system;
use crate::texts::{Origin, Text};

const fn c(ch: u8) -> u32 {
    ch as u32
}

/// Values of the long-only options.
const REMOVE_HOLDERS: u32 = 0x100;
const FIRST_TIME: u32 = 0x101;
const FORCE_MODVERSION: u32 = 0x102;
const FORCE_VERMAGIC: u32 = 0x103;
const SHOW_MODVERSIONS: u32 = 0x104;
const SHOW_EXPORTS: u32 = 0x105;

/// kmod 30's long options, in its order (the order shows in "ambiguous" messages and
/// decides which of several same-valued matches a prefix selects).
const LONGS: &[LongOpt] = &[
    LongOpt::new("all", HasArg::No, c(b'a')),
    LongOpt::new("remove", HasArg::No, c(b'r')),
    LongOpt::new("remove-dependencies", HasArg::No, REMOVE_HOLDERS),
    LongOpt::new("remove-holders", HasArg::No, REMOVE_HOLDERS),
    LongOpt::new("wait", HasArg::Required, c(b'w')),
    LongOpt::new("resolve-alias", HasArg::No, c(b'R')),
    LongOpt::new("first-time", HasArg::No, FIRST_TIME),
    LongOpt::new("ignore-install", HasArg::No, c(b'i')),
    LongOpt::new("ignore-remove", HasArg::No, c(b'i')),
    LongOpt::new("use-blacklist", HasArg::No, c(b'b')),
    LongOpt::new("force", HasArg::No, c(b'f')),
    LongOpt::new("force-modversion", HasArg::No, FORCE_MODVERSION),
    LongOpt::new("force-vermagic", HasArg::No, FORCE_VERMAGIC),
    LongOpt::new("show-depends", HasArg::No, c(b'D')),
    LongOpt::new("showconfig", HasArg::No, c(b'c')),
    LongOpt::new("show-config", HasArg::No, c(b'c')),
    LongOpt::new("show-modversions", HasArg::No, SHOW_MODVERSIONS),
    LongOpt::new("dump-modversions", HasArg::No, SHOW_MODVERSIONS),
    LongOpt::new("show-exports", HasArg::No, SHOW_EXPORTS),
    LongOpt::new("dry-run", HasArg::No, c(b'n')),
    LongOpt::new("show", HasArg::No, c(b'n')),
    LongOpt::new("config", HasArg::Required, c(b'C')),
    LongOpt::new("dirname", HasArg::Required, c(b'd')),
    LongOpt::new("set-version", HasArg::Required, c(b'S')),
    LongOpt::new("syslog", HasArg::No, c(b's')),
    LongOpt::new("quiet", HasArg::No, c(b'q')),
    LongOpt::new("verbose", HasArg::No, c(b'v')),
    LongOpt::new("version", HasArg::No, c(b'V')),
    LongOpt::new("help", HasArg::No, c(b'h')),
];

const SHORTS: &str = "arw:RibfDcnC:d:S:sqvVh";

const HELP: &str = "\
Usage:
\tmodprobe [options] [-i] [-b] <module name|alias> [parameters...]
\tmodprobe [options] -a [-i] [-b] <module name|alias> [<module name|alias> ...]
\tmodprobe [options] -r [-i] <module name|alias> [<module name|alias> ...]
\tmodprobe [options] -c
\tmodprobe [options] --show-depends <module name|alias>

Load or remove kernel modules with their dependencies (modkit's modprobe).

Management:
\t-a, --all                  every argument is a module
\t-r, --remove               remove the modules instead of loading them
\t    --remove-holders       also remove the modules that hold them
\t-w, --wait=MSEC            with -r, retry for MSEC milliseconds while a module is busy
\t-R, --resolve-alias        print the module names an alias stands for
\t    --first-time           fail if the module is already loaded (or, with -r, not loaded)
\t-i, --ignore-install       ignore install and remove commands and softdeps
\t-b, --use-blacklist        apply the blacklist to the module itself too
\t-f, --force                force: --force-modversion and --force-vermagic, or force removal
\t    --force-modversion     ignore symbol version checksums
\t    --force-vermagic       ignore the version magic string

Query:
\t-D, --show-depends         print what would be loaded, and load nothing
\t-c, --show-config          print the configuration
\t    --show-modversions     print the symbol versions a module file needs
\t    --show-exports         print the symbols a module file exports

General:
\t-n, --dry-run              do everything but loading or removing
\t-C, --config=FILE          read FILE or directory instead of the modprobe.d directories
\t-d, --dirname=DIR          use DIR/lib/modules
\t-S, --set-version=VERSION  use VERSION instead of `uname -r`
\t-s, --syslog               send messages to syslog
\t-q, --quiet                print no messages
\t-v, --verbose              more messages (and the actions taken)
\t-V, --version              print the version and exit
\t-h, --help                 print this help and exit
";

/// The command line.
#[derive(Debug, Default)]
struct Settings {
    all: bool,
    remove: bool,
    remove_holders: bool,
    wait: Option<u64>,
    resolve_alias: bool,
    first_time: bool,
    ignore_commands: bool,
    use_blacklist: bool,
    force: bool,
    force_modversion: bool,
    force_vermagic: bool,
    show_depends: bool,
    show_config: bool,
    show_modversions: bool,
    show_exports: bool,
    dry_run: bool,
    config: Vec<Vec<u8>>,
    root: Option<Vec<u8>>,
    version: Option<Vec<u8>>,
    syslog: bool,
    quiet: bool,
    verbose: i32,
    /// Words appended to MODPROBE_OPTIONS for child modprobes.
    exported: Vec<Vec<u8>>,
}

/// `MODPROBE_OPTIONS` split as kmod splits it: at every single space (two spaces make an
/// empty word); a quoted part loses its quotes and keeps its spaces.
pub fn split_env_options(value: &[u8]) -> Vec<Vec<u8>> {
    if value.is_empty() {
        return Vec::new();
    }
    let mut words = Vec::new();
    let mut word = Vec::new();
    let mut quote: Option<u8> = None;
    for &b in value {
        match (quote, b) {
            (Some(q), b) if b == q => quote = None,
            (Some(_), b) => word.push(b),
            (None, b'"' | b'\'') => quote = Some(b),
            (None, b' ') => words.push(std::mem::take(&mut word)),
            (None, b) => word.push(b),
        }
    }
    words.push(word);
    words
}

enum Parsed {
    Run(Box<Settings>, Vec<Vec<u8>>),
    Exit(i32),
}

/// `strtoul(v, &end, 0)` with kmod's check: the whole value must be a number.
fn parse_wait(v: &[u8]) -> Option<u64> {
    let s = std::str::from_utf8(v).ok()?;
    let t = s.trim_start();
    let (digits, radix) = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        (h, 16)
    } else if t.len() > 1 && t.starts_with('0') {
        (&t[1..], 8)
    } else {
        (t, 10)
    };
    if digits.is_empty() {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

fn export(s: &mut Settings, words: &[&[u8]]) {
    for w in words {
        s.exported.push(w.to_vec());
    }
}

fn parse(argv: &[Vec<u8>], log: &ToolLog) -> Parsed {
    let mut s = Settings::default();
    let mut getopt = Getopt::new(argv, SHORTS, LONGS);
    for item in getopt.by_ref() {
        let (val, arg) = match item {
            Item::Error(text) => {
                let _ = std::io::stderr().write_all(&text);
                return Parsed::Exit(1);
            }
            Item::Opt(val, arg) => (val, arg),
        };
        let arg = arg.unwrap_or_default();
        match val {
            REMOVE_HOLDERS => s.remove_holders = true,
            FIRST_TIME => s.first_time = true,
            FORCE_MODVERSION => s.force_modversion = true,
            FORCE_VERMAGIC => s.force_vermagic = true,
            SHOW_MODVERSIONS => s.show_modversions = true,
            SHOW_EXPORTS => s.show_exports = true,
            v => match u8::try_from(v).unwrap_or(0) {
                b'a' => s.all = true,
                b'r' => s.remove = true,
                b'w' => match parse_wait(&arg) {
                    Some(ms) => s.wait = Some(ms),
                    None => {
                        log.log(Prio::Error, &Text::UnexpectedWait(&arg).render());
                        return Parsed::Exit(1);
                    }
                },
                b'R' => s.resolve_alias = true,
                b'i' => s.ignore_commands = true,
                b'b' => s.use_blacklist = true,
                b'f' => {
                    s.force = true;
                    s.force_modversion = true;
                    s.force_vermagic = true;
                }
                b'D' => s.show_depends = true,
                b'c' => s.show_config = true,
                b'n' => s.dry_run = true,
                b'C' => {
                    export(&mut s, &[b"-C", &arg]);
                    s.config.push(arg);
                }
                b'd' => s.root = Some(arg),
                b'S' => s.version = Some(arg),
                b's' => {
                    export(&mut s, &[b"-s"]);
                    s.syslog = true;
                }
                b'q' => {
                    export(&mut s, &[b"-q"]);
                    s.quiet = true;
                }
                b'v' => {
                    export(&mut s, &[b"-v"]);
                    s.verbose += 1;
                }
                b'V' => {
                    super::print_version();
                    return Parsed::Exit(0);
                }
                b'h' => {
                    super::stdout(HELP.as_bytes());
                    return Parsed::Exit(0);
                }
                other => {
                    log.log(Prio::Error, &Text::UnexpectedGetopt(other).render());
                    return Parsed::Exit(1);
                }
            },
        }
    }
    Parsed::Run(Box::new(s), getopt.operands())
}

/// `<root>/lib/modules/<version>` made absolute, or the running kernel's directory.
fn module_dir(s: &Settings) -> Vec<u8> {
    if s.root.is_none() && s.version.is_none() {
        return system::running_module_dir();
    }
    let mut dir = s.root.clone().unwrap_or_default();
    dir.extend_from_slice(b"/lib/modules/");
    match &s.version {
        Some(v) => dir.extend_from_slice(v),
        None => dir.extend_from_slice(&system::kernel_release()),
    }
    system::absolute(&dir)
}

/// Print a configuration problem with libkmod's default logger, as kmod 30 words it.
fn config_message(e: ModprobeDError) {
    let origin = match &e {
        ModprobeDError::BadLine { .. } => Origin::CONFIG_BAD_LINE,
        ModprobeDError::Deprecated { .. } => Origin::CONFIG_DEPRECATED,
        ModprobeDError::NestedDirectory { .. } => Origin::CONFIG_NESTED_DIR,
        ModprobeDError::OpenDirectory { .. } => Origin::CONFIG_OPENDIR,
    };
    let text = match &e {
        ModprobeDError::OpenDirectory { path, errno } => {
            let path = path.as_os_str().as_encoded_bytes();
            [
                b"opendir(",
                path,
                b"): ",
                crate::texts::strerror(*errno).as_bytes(),
            ]
            .concat()
        }
        other => other.to_string().into_bytes(),
    };
    kmodlog::library_error(&origin.default_logger("ERROR", &text));
}

fn load_config(s: &Settings, dir: &[u8]) -> ModprobeConfig {
    let sources = Sources {
        paths: (!s.config.is_empty()).then(|| s.config.iter().map(|p| system::path(p)).collect()),
        module_dir: Some(system::path(dir)),
        cmdline: std::fs::read(system::proc_root().join("cmdline")).ok(),
        syntax: Syntax::default(),
    };
    modprobe_d::load(&sources, &mut config_message)
}

/// The modprobe run: settings, logger, loader.
struct Run {
    s: Box<Settings>,
    log: ToolLog,
    dir: Vec<u8>,
    loader: Loader<Box<dyn Kernel>>,
    out: Stdout,
}

/// stdout as C's stdio buffers it: line by line on a terminal, else in blocks of BUFSIZ
/// written when full and at exit — so, like kmod's, action lines written to a pipe come
/// after the output of the install commands they announce.
struct Stdout {
    buffer: std::cell::RefCell<Vec<u8>>,
    line_buffered: bool,
}

impl Stdout {
    const BUFSIZ: usize = 4096;

    fn new() -> Stdout {
        use std::io::IsTerminal;
        Stdout {
            buffer: Default::default(),
            line_buffered: std::io::stdout().is_terminal(),
        }
    }

    fn write(&self, bytes: &[u8]) {
        let mut buf = self.buffer.borrow_mut();
        buf.extend_from_slice(bytes);
        if self.line_buffered {
            super::stdout(&std::mem::take(&mut *buf));
            return;
        }
        while buf.len() >= Self::BUFSIZ {
            let rest = buf.split_off(Self::BUFSIZ);
            super::stdout(&std::mem::replace(&mut *buf, rest));
        }
    }

    fn flush(&self) {
        super::stdout(&std::mem::take(&mut *self.buffer.borrow_mut()));
    }
}

/// A FATAL message was printed: the tool ends with status 1.
struct Fatal;

type Step = Result<(), Fatal>;

impl Run {
    /// Action lines are shown with `-D`, or when more verbose than the default.
    fn showing(&self) -> bool {
        self.s.show_depends || self.log.threshold > Prio::Warning as i32
    }

    fn event(&self, e: Event) {
        let is_remove = matches!(e, Event::Remove { .. });
        let line = match e {
            Event::Notice(n) => return self.notice(n),
            Event::Insmod { path, options } => {
                let mut l = b"insmod ".to_vec();
                l.extend_from_slice(system::bytes(&path));
                l.push(b' ');
                l.extend_from_slice(&options);
                l
            }
            Event::Install { command, options } => {
                [&b"install "[..], &command, b" ", &options].concat()
            }
            Event::Builtin { name } => [&b"builtin "[..], &name].concat(),
            Event::Rmmod { name } => [&b"rmmod "[..], &name].concat(),
            Event::Remove { command } => [&b"remove "[..], &command].concat(),
        };
        if self.showing() {
            self.out.write(&[line, b"\n".to_vec()].concat());
            // kmod 30 has its `remove` line out before the command runs (its install
            // lines stay in the stdio buffer until exit).
            if is_remove {
                self.out.flush();
            }
        }
    }

    fn notice(&self, n: Notice) {
        if let Notice::SharedContext {
            name,
            message,
            warning,
        } = &n
        {
            // modkit's own message (kmod has no shared loading context).
            let prio = if *warning { Prio::Warning } else { Prio::Error };
            let text = format!(
                "{}: shared loading context: {message}",
                String::from_utf8_lossy(name)
            );
            self.log.log(prio, text.as_bytes());
            return;
        }
        let (prio, origin, text) = match &n {
            Notice::ModuleNotFoundByName { name } => (
                Prio::Error,
                Origin::INSERT_NOT_FOUND,
                Text::CouldNotFindModuleByName(name).render(),
            ),
            Notice::InstallCommandFailed {
                command,
                name,
                retcode,
            } => (
                Prio::Error,
                Origin::COMMAND_DO,
                Text::InstallCommandFailed(command, name, *retcode).render(),
            ),
            Notice::CommandNotRun {
                command,
                name,
                errno,
            } => (
                Prio::Error,
                Origin::COMMAND_DO,
                Text::CommandNotRun(command, name, errno.raw_os_error()).render(),
            ),
            Notice::DependencyLookupFailed { name } => (
                Prio::Error,
                Origin::SOFTDEP,
                Text::SoftdepLookupFailed(name).render(),
            ),
            Notice::CouldNotRemove { name, errno } => (
                Prio::Error,
                Origin::REMOVE,
                Text::CouldNotRemove(name, errno.raw_os_error()).render(),
            ),
            Notice::InsertFailed { path, errno } => (
                Prio::Info,
                Origin::INSERT_FAILED,
                Text::FailedToInsertModule(system::bytes(path), errno.raw_os_error()).render(),
            ),
            Notice::HoldersUnreadable { name, errno } => (
                Prio::Error,
                Origin::HOLDERS,
                Text::HoldersUnreadable(name, errno.raw_os_error()).render(),
            ),
            Notice::SharedContext { .. } => return,
        };
        self.log.log(prio, &origin.tool_text(&text));
    }

    /// "Module X not found…" and removal failures: FATAL, or a WARNING with `-a`
    /// (processing goes on).
    fn fatal_or_warning(&self, text: &[u8]) -> Step {
        if self.s.all {
            self.log.log(Prio::Warning, text);
            return Ok(());
        }
        match self.log.fatal(text) {
            true => Err(Fatal),
            false => Ok(()),
        }
    }

    fn probe_options(&self) -> ProbeOptions {
        ProbeOptions {
            ignore_loaded: self.s.show_depends,
            dry_run: self.s.dry_run || self.s.show_depends,
            fail_on_loaded: self.s.first_time,
            ignore_commands: self.s.ignore_commands,
            blacklist: self.s.use_blacklist,
            force: Force {
                modversion: self.s.force_modversion,
                vermagic: self.s.force_vermagic,
            },
        }
    }

    /// Whether probes may run in parallel: only through the shared loading context (which
    /// makes every module one insertion, however many probes need it), with no action line
    /// shown and no install command configured, so the output is the same bytes in the
    /// same order as one probe after the other gives.
    fn parallel(&self) -> bool {
        self.loader.shared.is_some() && !self.showing() && self.loader.config.installs.is_empty()
    }

    /// `modprobe -a A B …` through the shared loading context: the names are looked up in
    /// order, the probes of every resolved module run as one dependency graph on
    /// [`parallel::jobs`] threads (one after the other when softdeps order two modules both
    /// ways), and the messages are given in argument order.
    fn insert_parallel(&self, names: &[Vec<u8>]) -> Result<bool, Fatal> {
        let resolved: Vec<Vec<Module>> = names
            .iter()
            .map(|name| self.loader.lookup(name).unwrap_or_default())
            .collect();
        let modules: Vec<&Module> = resolved.iter().flatten().collect();
        let opts = self.probe_options();
        let loader = &self.loader;
        let outcomes = loader
            .probe_all(&modules, opts, parallel::jobs())
            .unwrap_or_else(|| {
                let probe_one = |m: &&Module| {
                    let mut events = Vec::new();
                    let r = loader.probe(m, b"", opts, &mut |e| events.push(e));
                    (events, r)
                };
                modules.iter().map(probe_one).collect()
            });
        let mut outcomes = outcomes.into_iter();
        let mut ok = true;
        for (name, modules) in names.iter().zip(&resolved) {
            if modules.is_empty() {
                self.fatal_or_warning(&Text::NotFoundInDirectory(name, &self.dir).render())?;
                ok = false;
                continue;
            }
            // As kmod: an argument's status is its last module's.
            let mut last_ok = true;
            for m in modules {
                let Some((events, result)) = outcomes.next() else {
                    break;
                };
                events.into_iter().for_each(|e| self.event(e));
                last_ok = result.is_ok();
                if let Err(errno) = result {
                    let text = Text::CouldNotInsert(&m.name, errno.raw_os_error()).render();
                    self.log.log(Prio::Error, &text);
                }
            }
            ok &= last_ok;
        }
        Ok(ok)
    }

    /// Load one argument (with its parameters); Ok(false) when it failed.
    fn insert(&self, name: &[u8], params: &[Vec<u8>]) -> Result<bool, Fatal> {
        let modules = self.loader.lookup(name).unwrap_or_default();
        if modules.is_empty() {
            let text = Text::NotFoundInDirectory(name, &self.dir).render();
            self.fatal_or_warning(&text)?;
            return Ok(false);
        }
        if self.s.resolve_alias {
            for m in &modules {
                self.out.write(&[m.name.as_slice(), b"\n"].concat());
            }
            return Ok(true);
        }
        let parameters = join_parameters(params);
        let opts = self.probe_options();
        let mut ok = true;
        for m in &modules {
            let r = self
                .loader
                .probe(m, &parameters, opts, &mut |e| self.event(e));
            ok = match r {
                Ok(_) => true,
                Err(errno) => {
                    let text = Text::CouldNotInsert(&m.name, errno.raw_os_error()).render();
                    self.log.log(Prio::Error, &text);
                    false
                }
            };
        }
        Ok(ok)
    }

    fn remove_options(&self) -> RemoveOptions {
        RemoveOptions {
            ignore_commands: self.s.ignore_commands,
            dry_run: self.s.dry_run || self.s.show_depends,
            show_depends: self.s.show_depends,
            first_time: self.s.first_time,
            remove_holders: self.s.remove_holders,
            force: self.s.force,
            wait: self.s.wait.map(Duration::from_millis),
        }
    }

    /// Remove one argument; Ok(false) when it failed.
    fn remove(&self, name: &[u8]) -> Result<bool, Fatal> {
        let modules = self.loader.lookup(name).unwrap_or_default();
        if modules.is_empty() {
            self.fatal_or_warning(&Text::ModuleNotFound(name).render())?;
            return Ok(false);
        }
        let opts = self.remove_options();
        for m in &modules {
            let r = self.loader.remove(m, opts, &mut |e| self.event(e));
            let text = match r {
                Ok(()) => continue,
                Err(RemoveError::Delete { name, errno }) => {
                    // Under --wait, kmod 30 words the failure as the tool, not the library.
                    if self.s.wait.is_some() {
                        let text = Text::CouldNotRemove(&name, errno.raw_os_error()).render();
                        self.log.log(Prio::Error, &text);
                    }
                    return Ok(false);
                }
                Err(RemoveError::NotInKernel(n)) => Text::NotInKernel(&n).render(),
                Err(RemoveError::Builtin(n)) => Text::IsBuiltin(&n).render(),
                Err(RemoveError::InUse(n)) => Text::InUse(&n).render(),
                Err(RemoveError::CommandFailed(n)) => Text::RemoveCommandFailed(&n).render(),
            };
            self.fatal_or_warning(&text)?;
            return Ok(false);
        }
        Ok(true)
    }

    fn show_config(&self) {
        let cfg = &self.loader.config;
        let mut out: Vec<u8> = Vec::new();
        let mut line = |parts: &[&[u8]]| {
            for p in parts {
                out.extend_from_slice(p);
            }
            out.push(b'\n');
        };
        for b in &cfg.blacklists {
            line(&[b"blacklist ", b]);
        }
        for c in &cfg.installs {
            line(&[b"install ", &c.module, b" ", &c.command]);
        }
        for c in &cfg.removes {
            line(&[b"remove ", &c.module, b" ", &c.command]);
        }
        for a in &cfg.aliases {
            line(&[b"alias ", &a.pattern, b" ", &a.module]);
        }
        for o in &cfg.options {
            line(&[b"options ", &o.module, b" ", &o.options]);
        }
        for sd in &cfg.softdeps {
            line(&[b"softdep ", &sd.module, b" ", &sd.show()]);
        }
        out.extend_from_slice(b"\n# End of configuration files. Dumping indexes now:\n\n");
        self.out.write(&out);
        out.clear();
        for file in [IndexFile::ModulesAlias, IndexFile::ModulesSymbols] {
            for (key, value) in self.loader.db.dump(file) {
                out.extend_from_slice(b"alias ");
                out.extend_from_slice(&key);
                out.push(b' ');
                out.extend_from_slice(&value);
                out.push(b'\n');
            }
        }
        self.out.write(&out);
    }

    /// `--show-modversions` / `--show-exports` of a module file.
    fn show_symbols(&self, path: &[u8]) -> Step {
        let exports = self.s.show_exports && !self.s.show_modversions;
        let file = system::path(path);
        if std::fs::metadata(&file).is_err() {
            return self.fatal(&Text::ModuleNotFound(path).render());
        }
        match read_symbols(&file, exports) {
            Ok(list) => {
                let mut out = Vec::new();
                for (crc, name) in list {
                    out.extend_from_slice(format!("0x{crc:08x}\t").as_bytes());
                    out.extend_from_slice(&name);
                    out.push(b'\n');
                }
                self.out.write(&out);
                Ok(())
            }
            Err(errno) => {
                let what: &[u8] = if exports { b"symbols" } else { b"modversions" };
                self.fatal(&Text::CouldNotGetSymbols(what, path, errno).render())
            }
        }
    }

    fn fatal(&self, text: &[u8]) -> Step {
        match self.log.fatal(text) {
            true => Err(Fatal),
            false => Ok(()),
        }
    }
}

/// The (crc, name) records of a module file: `__versions`, or the exported symbols.
fn read_symbols(path: &std::path::Path, exports: bool) -> Result<Vec<(u64, Vec<u8>)>, i32> {
    const ENOEXEC: i32 = 8;
    let bytes = std::fs::read(path).map_err(|e| crate::texts::errno_of(&e))?;
    let image = modkit_elf::decompress(&bytes).map_err(|_| crate::texts::EINVAL)?;
    let module = modkit_elf::Module::parse(&image).map_err(|_| ENOEXEC)?;
    if exports {
        let list = module.exports().map_err(|_| ENOEXEC)?;
        if list.is_empty() {
            return Err(crate::texts::ENOENT);
        }
        return Ok(list.iter().map(|e| (e.crc, e.name.to_vec())).collect());
    }
    if module.section_data("__versions").ok().flatten().is_none() {
        return Err(crate::texts::ENOENT);
    }
    let list = module.versions().map_err(|_| ENOEXEC)?;
    Ok(list.iter().map(|(crc, n)| (*crc, n.to_vec())).collect())
}

/// Index files are mapped, not read whole.
fn map_index(path: &std::path::Path) -> Option<modkit_depmod::database::FileBytes> {
    let mapped = modkit_sys::map_file(path).ok()?;
    Some(Box::new(mapped))
}

/// The argument vector with `MODPROBE_OPTIONS` words inserted after `argv[0]`.
fn with_env_options(argv: &[Vec<u8>]) -> (Vec<Vec<u8>>, Option<Vec<u8>>) {
    use std::os::unix::ffi::OsStringExt;
    let env = std::env::var_os("MODPROBE_OPTIONS").map(|v| v.into_vec());
    let mut all = argv.iter().take(1).cloned().collect::<Vec<_>>();
    if let Some(v) = &env {
        all.extend(split_env_options(v));
    }
    all.extend(argv.iter().skip(1).cloned());
    (all, env)
}

/// Re-export MODPROBE_OPTIONS with the words children must inherit.
fn export_env(original: Option<Vec<u8>>, exported: &[Vec<u8>]) {
    use std::os::unix::ffi::OsStringExt;
    if exported.is_empty() {
        return;
    }
    let mut words: Vec<Vec<u8>> = original.into_iter().collect();
    words.extend(exported.iter().cloned());
    let value = words.join(&b' ');
    std::env::set_var("MODPROBE_OPTIONS", std::ffi::OsString::from_vec(value));
}

/// `modprobe ARGS...`: exit status 0 or 1.
pub fn main(argv: &[Vec<u8>]) -> i32 {
    let prog = super::short_name(argv);
    let mut log = ToolLog::new(&prog, Prio::Warning as i32);
    let (argv, env) = with_env_options(argv);
    let (s, args) = match parse(&argv, &log) {
        Parsed::Run(s, args) => (s, args),
        Parsed::Exit(code) => return code,
    };
    log.threshold = if s.quiet {
        0
    } else {
        Prio::Warning as i32 + s.verbose
    };
    log.syslog = s.syslog;
    export_env(env, &s.exported);
    if args.is_empty() && !s.show_config {
        log.log(Prio::Error, &Text::MissingParameters.render());
        return 1;
    }
    let dir = module_dir(&s);
    let config = load_config(&s, &dir);
    let db = Database::open(system::path(&dir)).with_reader(map_index);
    let mut loader = Loader::new(db, config, system::kernel());
    if inserts(&s) {
        loader = match system::with_shared_context(loader) {
            Ok(loader) => loader,
            Err(message) => {
                log.log(Prio::Error, message.as_bytes());
                return 1;
            }
        };
    }
    let run = Run {
        s,
        log,
        dir,
        loader,
        out: Stdout::new(),
    };
    let status = match dispatch(&run, &args) {
        Ok(true) => 0,
        Ok(false) | Err(Fatal) => 1,
    };
    run.out.flush();
    status
}

/// Whether this command line inserts modules (and so goes through the shared loading
/// context).
fn inserts(s: &Settings) -> bool {
    !(s.show_config
        || s.show_modversions
        || s.show_exports
        || s.remove
        || s.dry_run
        || s.show_depends
        || s.resolve_alias)
}

fn dispatch(run: &Run, args: &[Vec<u8>]) -> Result<bool, Fatal> {
    let s = &run.s;
    if s.show_config {
        run.show_config();
        return Ok(true);
    }
    if s.show_modversions || s.show_exports {
        run.show_symbols(&args[0])?;
        return Ok(true);
    }
    if s.remove {
        let mut ok = true;
        for a in args {
            ok &= run.remove(a)?;
        }
        return Ok(ok);
    }
    if s.all && args.len() > 1 && run.parallel() {
        return run.insert_parallel(args);
    }
    if s.all {
        let mut ok = true;
        for a in args {
            ok &= run.insert(a, &[])?;
        }
        return Ok(ok);
    }
    run.insert(&args[0], &args[1..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(v: &str) -> Vec<String> {
        split_env_options(v.as_bytes())
            .into_iter()
            .map(|w| String::from_utf8(w).unwrap())
            .collect()
    }

    #[test]
    fn env_options_split_at_single_spaces_with_quotes() {
        assert_eq!(words("-q  x"), vec!["-q", "", "x"]);
        assert_eq!(words("\"p=a b\" -v"), vec!["p=a b", "-v"]);
        assert_eq!(words("a\"p=a b\"c"), vec!["ap=a bc"]);
        assert_eq!(words("a\tb"), vec!["a\tb"]);
        assert!(words("").is_empty());
    }

    #[test]
    fn wait_values_like_strtoul() {
        assert_eq!(parse_wait(b"10"), Some(10));
        assert_eq!(parse_wait(b"0x10"), Some(16));
        assert_eq!(parse_wait(b"010"), Some(8));
        assert_eq!(parse_wait(b"0"), Some(0));
        assert_eq!(parse_wait(b""), None);
        assert_eq!(parse_wait(b"1x"), None);
    }

    #[test]
    fn remove_prefix_selects_remove_holders() {
        let argv: Vec<Vec<u8>> = vec![b"modprobe".to_vec(), b"--remove-".to_vec()];
        let mut g = Getopt::new(&argv, SHORTS, LONGS);
        assert_eq!(g.next(), Some(Item::Opt(REMOVE_HOLDERS, None)));
    }
}
