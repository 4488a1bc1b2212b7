//! `modprobe -r` (kmod-tools §6.10): remove a module, its post softdeps before it, its
//! holders (with `--remove-holders`; one level: not the holders' holders), then — in a single pass with the reference counts of
//! that moment — its unused dependencies, and finally its pre softdeps. Remove commands
//! replace `delete_module` (and run even when the module is not loaded).
//!
//! Unlike kmod 30, which recurses without end (and crashes with SIGSEGV) on a softdep loop
//! under `-r`, a module already being removed further up is skipped.

use std::time::{Duration, Instant};

use modkit_sys::DeleteFlags;

use crate::command;
use crate::probe::State;
use crate::resolve::{Key, Module};
use crate::{Errno, Event, Events, Kernel, Loader, Notice};

/// What `modprobe -r` asks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RemoveOptions {
    /// `-i`: ignore remove commands and softdeps.
    pub ignore_commands: bool,
    /// `-n` and `-D`: remove nothing, run nothing.
    pub dry_run: bool,
    /// `-D`: no state or refcount checks.
    pub show_depends: bool,
    /// `--first-time`: fail when the module is not loaded.
    pub first_time: bool,
    /// `--remove-holders`.
    pub remove_holders: bool,
    /// `-f`: `O_TRUNC`.
    pub force: bool,
    /// `-w MSEC`: retry EAGAIN until then (and skip the refcount check).
    pub wait: Option<Duration>,
}

/// Why a removal failed (modprobe prints each as a FATAL message).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RemoveError {
    #[error("Module {} is not in kernel.", crate::text(.0))]
    NotInKernel(Vec<u8>),
    #[error("Module {} is builtin.", crate::text(.0))]
    Builtin(Vec<u8>),
    #[error("Module {} is in use.", crate::text(.0))]
    InUse(Vec<u8>),
    #[error("Error running remove command for {}", crate::text(.0))]
    CommandFailed(Vec<u8>),
    /// `delete_module` failed (already reported as a notice, except under `--wait`).
    #[error("could not remove '{}': {errno}", crate::text(name))]
    Delete { name: Vec<u8>, errno: Errno },
}

impl<K: Kernel> Loader<K> {
    /// Remove `module` (the requested one: `from_list` false).
    pub fn remove(
        &self,
        module: &Module,
        opts: RemoveOptions,
        events: Events<'_>,
    ) -> Result<(), RemoveError> {
        let mut active = Vec::new();
        self.remove_one(module, false, opts, &mut active, events)
    }

    fn remove_one(
        &self,
        m: &Module,
        from_list: bool,
        opts: RemoveOptions,
        active: &mut Vec<Key>,
        events: Events<'_>,
    ) -> Result<(), RemoveError> {
        if active.contains(&m.key()) {
            return Ok(());
        }
        active.push(m.key());
        let result = self.remove_steps(m, from_list, opts, active, events);
        active.pop();
        result
    }

    fn remove_steps(
        &self,
        m: &Module,
        from_list: bool,
        opts: RemoveOptions,
        active: &mut Vec<Key>,
        events: Events<'_>,
    ) -> Result<(), RemoveError> {
        let (pre, post, cmd) = if opts.ignore_commands {
            (Vec::new(), Vec::new(), None)
        } else {
            let (pre, post) = self.softdeps(m, events);
            (pre, post, self.remove_command(m))
        };
        let checks = cmd.is_none() && !opts.show_depends;
        if checks {
            match self.state(m) {
                Err(_) if opts.first_time => return Err(RemoveError::NotInKernel(m.name.clone())),
                Err(_) => return Ok(()),
                Ok(State::Builtin) if from_list => return Ok(()),
                Ok(State::Builtin) => return Err(RemoveError::Builtin(m.name.clone())),
                Ok(_) => {}
            }
        }
        for q in post.iter().rev() {
            let _ = self.remove_one(q, true, opts, active, events);
        }
        if opts.remove_holders {
            self.remove_holders(m, opts, active, events)?;
        }
        if checks && opts.wait.is_none() && self.refcnt(&m.name).is_ok_and(|r| r > 0) {
            return Err(RemoveError::InUse(m.name.clone()));
        }
        match &cmd {
            Some(cmd) => self.run_remove(cmd, &m.name, opts, events)?,
            None => self.delete(&m.name, opts, events)?,
        }
        if cmd.is_none() {
            for d in self.dependencies(m) {
                if self.refcnt(&d.name) == Ok(0) {
                    let _ = self.delete(&d.name, opts, events);
                }
            }
        }
        for p in pre.iter().rev() {
            let _ = self.remove_one(p, true, opts, active, events);
        }
        Ok(())
    }

    fn remove_holders(
        &self,
        m: &Module,
        opts: RemoveOptions,
        active: &mut Vec<Key>,
        events: Events<'_>,
    ) -> Result<(), RemoveError> {
        let holders = match self.kernel.holders(&crate::text(&m.name)) {
            Ok(h) => h,
            Err(errno) => {
                events(Event::Notice(Notice::HoldersUnreadable {
                    name: m.name.clone(),
                    errno,
                }));
                Vec::new()
            }
        };
        // One level, as kmod 30: a holder's own holders are not removed for it.
        let for_holder = RemoveOptions {
            remove_holders: false,
            ..opts
        };
        for h in holders.iter().rev() {
            let holder = self.module_by_name(h.as_bytes(), None);
            self.remove_one(&holder, true, for_holder, active, events)?;
        }
        Ok(())
    }

    fn refcnt(&self, name: &[u8]) -> Result<u32, Errno> {
        self.kernel.refcnt(&crate::text(name))
    }

    fn run_remove(
        &self,
        cmd: &[u8],
        name: &[u8],
        opts: RemoveOptions,
        events: Events<'_>,
    ) -> Result<(), RemoveError> {
        let command = command::substitute(cmd, b"");
        events(Event::Remove {
            command: command.clone(),
        });
        if opts.dry_run {
            return Ok(());
        }
        command::run(&command, name).map_err(|_| RemoveError::CommandFailed(name.to_vec()))
    }

    /// `delete_module` (shown as `rmmod NAME`), retried on EAGAIN under `--wait`.
    fn delete(
        &self,
        name: &[u8],
        opts: RemoveOptions,
        events: Events<'_>,
    ) -> Result<(), RemoveError> {
        events(Event::Rmmod {
            name: name.to_vec(),
        });
        if opts.dry_run {
            return Ok(());
        }
        let flags = DeleteFlags { force: opts.force };
        let text = crate::text(name);
        let deadline = opts.wait.map(|w| Instant::now() + w);
        let mut pause = Duration::from_millis(1);
        loop {
            match self.kernel.delete_module(&text, flags) {
                Ok(()) => return Ok(()),
                Err(Errno::AGAIN) if deadline.is_some_and(|d| Instant::now() < d) => {
                    let left =
                        deadline.map_or(pause, |d| d.saturating_duration_since(Instant::now()));
                    std::thread::sleep(pause.min(left));
                    pause = pause.saturating_mul(2);
                }
                Err(errno) => {
                    // Under --wait kmod 30 keeps the library's message to itself; the
                    // tool reports the error that ends the removal (RemoveError::Delete).
                    if opts.wait.is_none() {
                        events(Event::Notice(Notice::CouldNotRemove {
                            name: name.to_vec(),
                            errno,
                        }));
                    }
                    return Err(RemoveError::Delete {
                        name: name.to_vec(),
                        errno,
                    });
                }
            }
        }
    }
}
