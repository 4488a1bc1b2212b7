//! The module loader: what `modprobe` does between parsing its command line and printing
//! its result (kmod-tools §6–§7), generic over the kernel (`K: modkit_sys::Kernel`), so the
//! same code runs against Linux and against the kernel model.
//!
//! * [`resolve`]: the name resolution order (configuration aliases, `modules.dep`, symbols,
//!   install/remove commands, `modules.alias`, built-ins) and per-module properties
//!   (options, install/remove commands, softdeps, blacklist).
//! * [`plan`]: the probe list (dependencies first, softdeps around, duplicates kept).
//! * [`probe`]: the load loop (state checks, blacklist, install commands, EEXIST rules).
//! * [`insert`]: one insertion (`finit_module` flags, userspace decompression and
//!   `init_module`, force stripping).
//! * [`remove`]: `modprobe -r` (softdeps, holders, remove commands, dependency pass).
//! * [`command`]: running install/remove commands through `/bin/sh`.
//! * [`parallel`]: the dependency-graph scheduler (tasks after their prerequisites, each
//!   once, on a pool of threads under a concurrency limit).
//! * [`batch`]: `modprobe -a`'s probes merged into one graph: a module several probes need
//!   is inserted once, independent modules at once.
//! * [`shared`]: the shared loading context: concurrent requests for a module, from any
//!   number of processes, make one insertion and share its result.
//!
//! Everything the tools print is reported as an [`Event`]; errors keep their errno.
#![forbid(unsafe_code)]

pub mod batch;
pub mod command;
pub mod force;
pub mod insert;
pub mod parallel;
pub mod plan;
pub mod probe;
pub mod remove;
pub mod resolve;
pub mod shared;

use std::path::PathBuf;

use modkit_config::ModprobeConfig;
use modkit_depmod::database::Database;
pub use modkit_sys::{Errno, Kernel};

pub use resolve::Module;

/// The loading context: the module database of one module directory, the merged
/// configuration and the kernel.
pub struct Loader<K: Kernel> {
    pub db: Database,
    pub config: ModprobeConfig,
    pub kernel: K,
    /// The shared loading context, when insertions go through it.
    pub shared: Option<shared::Shared>,
}

impl<K: Kernel> Loader<K> {
    /// A loader over `db`, `config` and `kernel`, without a shared loading context.
    pub fn new(db: Database, config: ModprobeConfig, kernel: K) -> Loader<K> {
        Loader {
            db,
            config,
            kernel,
            shared: None,
        }
    }

    /// The same loader, inserting through `shared`.
    pub fn with_shared(mut self, shared: shared::Shared) -> Loader<K> {
        self.shared = Some(shared);
        self
    }
}

/// Something a tool may print: action lines (shown with `-D`/`-v`) and libkmod's messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// `insmod <path> <options>`.
    Insmod { path: PathBuf, options: Vec<u8> },
    /// `install <raw command> <options>`.
    Install { command: Vec<u8>, options: Vec<u8> },
    /// `builtin <name>`.
    Builtin { name: Vec<u8> },
    /// `rmmod <name>`.
    Rmmod { name: Vec<u8> },
    /// `remove <command>` (after `$CMDLINE_OPTS` substitution).
    Remove { command: Vec<u8> },
    /// A library message.
    Notice(Notice),
}

/// libkmod's own messages (rendered by the CLI).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// A module to insert has neither a file nor a command (ERROR).
    ModuleNotFoundByName { name: Vec<u8> },
    /// An install command exited with a non-zero status (ERROR).
    InstallCommandFailed {
        command: Vec<u8>,
        name: Vec<u8>,
        retcode: i32,
    },
    /// An install or remove command could not be started (ERROR).
    CommandNotRun {
        command: Vec<u8>,
        name: Vec<u8>,
        errno: Errno,
    },
    /// A softdep name could not be looked up at all (ERROR, modprobe's own).
    DependencyLookupFailed { name: Vec<u8> },
    /// `delete_module` failed (ERROR).
    CouldNotRemove { name: Vec<u8>, errno: Errno },
    /// The kernel refused a module (INFO).
    InsertFailed { path: PathBuf, errno: Errno },
    /// `/sys/module/NAME/holders` could not be read (ERROR).
    HoldersUnreadable { name: Vec<u8>, errno: Errno },
    /// The shared loading context refused a module (ERROR), or its wait for another
    /// loader's claim ran out and the insertion goes on without it (WARNING).
    SharedContext {
        name: Vec<u8>,
        message: String,
        warning: bool,
    },
}

/// Where events go.
pub type Events<'a> = &'a mut dyn FnMut(Event);

/// A name as the kernel interface takes it.
pub(crate) fn text(name: &[u8]) -> String {
    String::from_utf8_lossy(name).into_owned()
}
