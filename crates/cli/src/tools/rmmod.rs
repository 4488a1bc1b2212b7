//! The rmmod front-end as kmod 30 has it (kmod-tools §9): options `fsvVwh` (`-w` is in the
//! option string but rejected as unexpected), a path or a name per argument (no lookup, no
//! configuration), the checks built-in / not loaded / holders / refcnt unless `-f`, then
//! `delete_module(O_NONBLOCK [| O_TRUNC])`. kmod 30 goes on with the next argument after
//! every failure.

use std::io::Write;

use modkit_depmod::database::Database;
use modkit_index::names::{modname_normalize, path_to_modname};
use modkit_sys::{DeleteFlags, Kernel, LinuxKernel};

use crate::getopt::{Getopt, HasArg, Item, LongOpt};
use crate::kmodlog::{Prio, ToolLog};
use crate::system;
use crate::texts::{Origin, Text};

const LONGS: &[LongOpt] = &[
    LongOpt::new("force", HasArg::No, b'f' as u32),
    LongOpt::new("syslog", HasArg::No, b's' as u32),
    LongOpt::new("verbose", HasArg::No, b'v' as u32),
    LongOpt::new("version", HasArg::No, b'V' as u32),
    LongOpt::new("help", HasArg::No, b'h' as u32),
];

const HELP: &str = "\
Usage:
\trmmod [options] <module name|file>...

Remove modules from the kernel (modkit's rmmod): no dependencies, no configuration.

Options:
\t-f, --force    remove even a module in use (needs CONFIG_MODULE_FORCE_UNLOAD)
\t-s, --syslog   send messages to syslog
\t-v, --verbose  more messages
\t-V, --version  print the version and exit
\t-h, --help     print this help and exit
";

struct Rmmod {
    log: ToolLog,
    force: bool,
    db: Database,
    kernel: LinuxKernel,
}

impl Rmmod {
    /// The module name: from the file name when the argument exists as a path.
    fn name_of(arg: &[u8]) -> Vec<u8> {
        if std::fs::metadata(system::path(arg)).is_ok() {
            path_to_modname(arg)
        } else {
            modname_normalize(arg)
        }
    }

    /// The checks rmmod makes without `-f`; false when one failed (already reported).
    fn checks(&self, name: &[u8], text: &str) -> bool {
        if self.db.is_builtin(name) {
            return !self
                .log
                .log(Prio::Error, &Text::RmmodBuiltin(name).render());
        }
        if !matches!(self.kernel.initstate(text), Ok(Some(_))) {
            self.log
                .log(Prio::Error, &Text::NotCurrentlyLoaded(name).render());
            return false;
        }
        match self.kernel.holders(text) {
            Ok(holders) if !holders.is_empty() => {
                let list = holders.join(" ");
                self.log
                    .log(Prio::Error, &Text::InUseBy(name, list.as_bytes()).render());
                return false;
            }
            Ok(_) => {}
            Err(e) => {
                let msg = Text::HoldersUnreadable(name, e.raw_os_error()).render();
                self.log.log(Prio::Error, &Origin::HOLDERS.tool_text(&msg));
            }
        }
        match self.kernel.refcnt(text) {
            Ok(0) => true,
            Ok(_) => {
                self.log.log(Prio::Error, &Text::RmmodInUse(name).render());
                false
            }
            Err(_) => {
                self.log
                    .log(Prio::Error, &Text::UnloadingNotSupported.render());
                false
            }
        }
    }

    fn remove(&self, arg: &[u8]) -> bool {
        let name = Self::name_of(arg);
        let text = String::from_utf8_lossy(&name).into_owned();
        if !self.force && !self.checks(&name, &text) {
            return false;
        }
        let flags = DeleteFlags { force: self.force };
        match self.kernel.delete_module(&text, flags) {
            Ok(()) => true,
            Err(e) => {
                let errno = e.raw_os_error();
                let msg = Text::CouldNotRemove(&name, errno).render();
                self.log.log(Prio::Error, &Origin::REMOVE.tool_text(&msg));
                let text = Text::CouldNotRemoveModule(arg, errno).render();
                self.log.log(Prio::Error, &text);
                false
            }
        }
    }
}

/// `rmmod ARGS...`: exit status 0 or 1.
pub fn main(argv: &[Vec<u8>]) -> i32 {
    let prog = super::short_name(argv);
    let mut log = ToolLog::new(&prog, Prio::Error as i32);
    let mut force = false;
    let mut getopt = Getopt::new(argv, "fsvVwh", LONGS);
    for item in getopt.by_ref() {
        match item {
            Item::Error(text) => {
                let _ = std::io::stderr().write_all(&text);
                return 1;
            }
            Item::Opt(v, _) => match u8::try_from(v).unwrap_or(0) {
                b'f' => force = true,
                b's' => log.syslog = true,
                b'v' => log.threshold += 1,
                b'V' => {
                    super::print_version();
                    return 0;
                }
                b'h' => {
                    super::stdout(HELP.as_bytes());
                    return 0;
                }
                other => {
                    log.log(Prio::Error, &Text::UnexpectedGetopt(other).render());
                    return 1;
                }
            },
        }
    }
    let args = getopt.operands();
    if args.is_empty() {
        log.log(Prio::Error, &Text::MissingModuleName.render());
        return 1;
    }
    let rmmod = Rmmod {
        log,
        force,
        db: Database::open(system::path(&system::running_module_dir())),
        kernel: LinuxKernel::new(super::list::sys_root(), system::proc_root()),
    };
    let mut ok = true;
    for arg in &args {
        ok &= rmmod.remove(arg);
    }
    i32::from(!ok)
}
