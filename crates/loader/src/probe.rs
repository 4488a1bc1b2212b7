//! The load loop (kmod-tools §6.8): `kmod_module_probe_insert_module` as modprobe uses it.
//!
//! The requested module is skipped when already in the kernel (live or built-in) or
//! blacklisted (through an alias, or always with `-b`); otherwise every step of its probe
//! list is inserted or run through its install command. EEXIST counts as success except
//! for the requested module under `--first-time`; failures of optional steps (softdeps) are
//! ignored; the first failure of a required step stops the loop.

use modkit_sys::InitState;

use crate::command::{self, CommandError};
use crate::insert::Force;
use crate::plan::Step;
use crate::resolve::{merge_options, Module};
use crate::{Errno, Event, Events, Kernel, Loader, Notice};

/// What modprobe asks of a probe.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProbeOptions {
    /// `-D`: do not skip modules already in the kernel.
    pub ignore_loaded: bool,
    /// `-n` and `-D`: insert nothing, run nothing.
    pub dry_run: bool,
    /// `--first-time`: fail when the requested module is already in the kernel.
    pub fail_on_loaded: bool,
    /// `-i`: ignore the requested module's install command and softdeps.
    pub ignore_commands: bool,
    /// `-b`: apply the blacklist even without an alias.
    pub blacklist: bool,
    pub force: Force,
}

/// A successful probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probed {
    /// Every step was done (or shown).
    Done,
    /// Already in the kernel: nothing done.
    AlreadyLoaded,
    /// Blacklisted: skipped (modprobe counts it as success).
    Blacklisted,
}

/// The module's state as libkmod reports it (`kmod_module_get_initstate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Builtin,
    Live,
    Coming,
    Going,
}

impl State {
    /// "In the kernel" for the load loop: live or built-in.
    pub fn in_kernel(self) -> bool {
        matches!(self, State::Live | State::Builtin)
    }
}

impl<K: Kernel> Loader<K> {
    /// The module's state: built-in by `modules.builtin.bin` (never for path-created
    /// modules), else `/sys/module/NAME/initstate`; a directory without `initstate` is
    /// COMING, as libkmod reads it. `Err` when it is not loaded (ENOENT) or unreadable.
    pub fn state(&self, module: &Module) -> Result<State, Errno> {
        if module.builtin {
            return Ok(State::Builtin);
        }
        match self.kernel.initstate(&crate::text(&module.name))? {
            None => Err(Errno::NOENT),
            Some(InitState::Live) => Ok(State::Live),
            Some(InitState::Coming | InitState::Builtin) => Ok(State::Coming),
            Some(InitState::Going) => Ok(State::Going),
        }
    }

    fn in_kernel(&self, module: &Module) -> bool {
        self.state(module).is_ok_and(State::in_kernel)
    }

    /// Probe `module` (the requested one) with the command-line `parameters` (already
    /// joined).
    pub fn probe(
        &self,
        module: &Module,
        parameters: &[u8],
        opts: ProbeOptions,
        events: Events<'_>,
    ) -> Result<Probed, Errno> {
        if let Some(decided) = self.admit(module, opts) {
            return decided;
        }
        let list = self.probe_list(module, opts.ignore_commands, events);
        for step in &list {
            let is_requested = step.module.key() == module.key();
            let params: &[u8] = if is_requested { parameters } else { b"" };
            let result = self.do_step(step, params, opts, events);
            step_verdict(step, is_requested, result, opts)?;
        }
        Ok(Probed::Done)
    }

    /// The answer for a requested module decided before any step: already in the kernel
    /// (an error under `--first-time`), or blacklisted.
    pub(crate) fn admit(
        &self,
        module: &Module,
        opts: ProbeOptions,
    ) -> Option<Result<Probed, Errno>> {
        if !opts.ignore_loaded && self.in_kernel(module) {
            return Some(match opts.fail_on_loaded {
                true => Err(Errno::EXIST),
                false => Ok(Probed::AlreadyLoaded),
            });
        }
        let blacklisted = self.is_blacklisted(module);
        if blacklisted && (module.has_alias() || opts.blacklist) {
            return Some(Ok(Probed::Blacklisted));
        }
        None
    }

    /// One step of a probe list: EEXIST when the module is in the kernel already, else its
    /// install command or its insertion.
    pub(crate) fn do_step(
        &self,
        step: &Step,
        parameters: &[u8],
        opts: ProbeOptions,
        events: Events<'_>,
    ) -> Result<(), Errno> {
        if !opts.ignore_loaded && self.in_kernel(&step.module) {
            return Err(Errno::EXIST);
        }
        self.run_step(step, parameters, opts, events)
    }

    fn run_step(
        &self,
        step: &Step,
        parameters: &[u8],
        opts: ProbeOptions,
        events: Events<'_>,
    ) -> Result<(), Errno> {
        let m = &step.module;
        let options = merge_options(&self.config_options(m), parameters);
        if let Some(cmd) = self.install_command(m).filter(|_| !step.ignore_command) {
            events(Event::Install {
                command: cmd.clone(),
                options: options.clone(),
            });
            if opts.dry_run {
                return Ok(());
            }
            return self.run_install(&cmd, &options, &m.name, events);
        }
        match &m.path {
            Some(path) => {
                events(Event::Insmod {
                    path: path.clone(),
                    options: options.clone(),
                });
                if opts.dry_run {
                    return Ok(());
                }
                self.insert_file(path, &options, opts.force, events)
            }
            None if m.builtin => {
                events(Event::Builtin {
                    name: m.name.clone(),
                });
                match opts.dry_run {
                    true => Ok(()),
                    false => Err(Errno::EXIST),
                }
            }
            None => {
                if opts.dry_run {
                    return Ok(());
                }
                events(Event::Notice(Notice::ModuleNotFoundByName {
                    name: m.name.clone(),
                }));
                Err(Errno::NOENT)
            }
        }
    }

    fn run_install(
        &self,
        cmd: &[u8],
        options: &[u8],
        name: &[u8],
        events: Events<'_>,
    ) -> Result<(), Errno> {
        let command = command::substitute(cmd, options);
        match command::run(&command, name) {
            Ok(()) => Ok(()),
            Err(CommandError::Failed(retcode)) => {
                events(Event::Notice(Notice::InstallCommandFailed {
                    command,
                    name: name.to_vec(),
                    retcode,
                }));
                Err(Errno::INVAL)
            }
            Err(CommandError::NotRun(errno)) => {
                events(Event::Notice(Notice::CommandNotRun {
                    command,
                    name: name.to_vec(),
                    errno,
                }));
                Err(errno)
            }
        }
    }
}

/// What a step's result means for its probe: `Err` stops the loop with that errno. EEXIST
/// counts as done except for the requested module under `--first-time`; failures of
/// optional steps (softdeps) are ignored.
pub(crate) fn step_verdict(
    step: &Step,
    is_requested: bool,
    result: Result<(), Errno>,
    opts: ProbeOptions,
) -> Result<(), Errno> {
    match result {
        Err(Errno::EXIST) if is_requested && opts.fail_on_loaded => Err(Errno::EXIST),
        Err(Errno::EXIST) => Ok(()),
        Err(_) if !step.required => Ok(()),
        Err(e) => Err(e),
        Ok(()) => Ok(()),
    }
}
