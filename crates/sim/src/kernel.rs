//! [`SimKernel`]: the model behind `modkit_sys::Kernel`, so any loader of ours can run
//! against any kernel version in-process, without root.
//!
//! Design: real threads, one shared model. Each system call locks the engine, starts a
//! loader at the current virtual time, and then *drives* the engine (runs events) until
//! its own loader has completed; every thread inside the kernel helps advance the same
//! virtual clock, and completions of other threads' loaders are handed to them through a
//! `Condvar`. Virtual time therefore only advances while some caller is inside the
//! kernel, and callers that enter "at the same time" must be in before the clock moves:
//! [`SimKernel::expect_callers`] is the testbed's pipe barrier — the clock is held until
//! that many calls have arrived (or 10 s of real time pass with no arrival), so
//! a test with 256 concurrent requesters sees them overlap deterministically in virtual
//! time whatever the host scheduler does. Without a barrier, calls that arrive while
//! another one is being simulated join at the current virtual time.
//!
//! Files are identified like the kernel's idempotent cookie: by (device, inode). A file
//! not registered with [`SimKernel::register_file`] is read once through the descriptor
//! (the only I/O here, the same read the kernel would do) and its module's facts and
//! layout are computed from its bytes.

use crate::config::{Config, Ns};
use crate::engine::{Completion, Engine, FileId, LoaderId, ModState, SimModule, Syscall};
use crate::errno::Errno;
use crate::profile::{ModuleFacts, Profile};
use crate::workload::{self, Report};
use modkit_sys::{DeleteFlags, FinitFlags, InitState, Kernel, KernelCompression, LoadedModule};
use std::collections::HashMap;
use std::fs::File;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// Real time a held clock waits for the next expected caller before giving up: a safety
/// net against a caller that never comes, long enough that a loaded host spawning
/// hundreds of threads never trips it (which would make the outcome depend on the host).
const BARRIER_GRACE: Duration = Duration::from_secs(10);

struct Shared {
    eng: Engine,
    /// (dev, ino) → file.
    inodes: HashMap<(u64, u64), FileId>,
    results: HashMap<LoaderId, Result<(), Errno>>,
    /// Calls still expected before the clock may move.
    expected: usize,
    next_task: usize,
}

/// The kernel model as a `Kernel`.
pub struct SimKernel {
    shared: Mutex<Shared>,
    cv: Condvar,
}

impl SimKernel {
    /// A kernel configured by `cfg` whose module tree is `profile`'s.
    pub fn new(cfg: Config, profile: &Profile) -> SimKernel {
        SimKernel {
            shared: Mutex::new(Shared {
                eng: workload::engine_for(profile, cfg),
                inodes: HashMap::new(),
                results: HashMap::new(),
                expected: 0,
                next_task: 0,
            }),
            cv: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Holds the virtual clock until `n` more calls have entered (a pipe barrier).
    pub fn expect_callers(&self, n: usize) {
        self.lock().expected = n;
    }

    /// Makes `file` (by its device and inode) hold `module` of the profile.
    pub fn register_file(&self, file: &File, module: &str) -> Result<(), Errno> {
        let key = identity(file)?;
        let mut s = self.lock();
        let m = s.eng.module_id(module).ok_or(Errno::ENOENT)?;
        let compressed = s.eng.modules[m].compressed;
        let id = s.eng.add_file(m, compressed);
        s.inodes.insert(key, id);
        Ok(())
    }

    /// Loads `module` before anything runs (LIVE, not counted in the report).
    pub fn preload(&self, module: &str) -> Result<(), Errno> {
        let mut s = self.lock();
        let m = s.eng.module_id(module).ok_or(Errno::ENOENT)?;
        s.eng.preload(m);
        s.eng.mark_baseline();
        Ok(())
    }

    /// What happened so far: errnos, peaks, stats.
    pub fn report(&self) -> Report {
        let s = self.lock();
        workload::report_of(&s.eng, "simkernel", 0)
    }

    /// The text of `/sys/kernel/debug/modules/stats`.
    pub fn debugfs_stats(&self) -> String {
        self.lock().eng.stats.render()
    }

    /// The current virtual time.
    pub fn now(&self) -> Ns {
        self.lock().eng.now()
    }

    /// The file id of `file`, reading its module from the descriptor when unknown.
    fn file_id(&self, s: &mut Shared, file: &File) -> Result<FileId, Errno> {
        let key = identity(file)?;
        if let Some(&id) = s.inodes.get(&key) {
            return Ok(id);
        }
        let bytes = read_all(file)?;
        let facts = ModuleFacts::from_file("(fd)", &bytes).map_err(|_| Errno::ENOEXEC)?;
        let m = module_of(&mut s.eng, &facts);
        let id = s.eng.add_file(m, facts.compressed());
        s.inodes.insert(key, id);
        Ok(id)
    }

    /// Issues `call` and drives the model until it completes.
    fn call(&self, mut s: MutexGuard<'_, Shared>, call: Syscall) -> Result<(), Errno> {
        let task = s.next_task;
        s.next_task += 1;
        let me = s.eng.syscall(task, call);
        s.expected = s.expected.saturating_sub(1);
        self.cv.notify_all();
        loop {
            if let Some(r) = s.results.remove(&me) {
                return r;
            }
            if s.expected > 0 {
                let (g, timeout) = self
                    .cv
                    .wait_timeout(s, BARRIER_GRACE)
                    .unwrap_or_else(|p| p.into_inner());
                s = g;
                if timeout.timed_out() {
                    s.expected = 0;
                }
                continue;
            }
            if s.eng.idle() {
                // Nothing can complete this call any more (cannot happen on a sound
                // model; never hang a caller).
                return Err(Errno::EINTR);
            }
            let (done, _) = s.eng.run_until_idle_or(Ns::MAX);
            store(&mut s, done);
            self.cv.notify_all();
        }
    }

    fn module(&self, s: &Shared, name: &str) -> Option<usize> {
        s.eng.module_id(&name.replace('-', "_"))
    }
}

fn store(s: &mut Shared, done: Vec<Completion>) {
    for c in done {
        s.results.insert(c.loader, c.result);
    }
}

/// The engine's module for `facts`, added when the profile lacks it.
fn module_of(eng: &mut Engine, facts: &ModuleFacts) -> usize {
    if let Some(m) = eng.module_id(&facts.name) {
        return m;
    }
    let generation = eng.cfg.version.generation();
    let mut sm = SimModule::new(facts, generation);
    sm.deps = facts
        .depends
        .iter()
        .filter_map(|d| eng.module_id(d))
        .collect();
    eng.add_module(sm)
}

fn identity(file: &File) -> Result<(u64, u64), Errno> {
    use std::os::unix::fs::MetadataExt;
    let md = file.metadata().map_err(|_| Errno::EINVAL)?;
    if !md.is_file() {
        return Err(Errno::EINVAL);
    }
    Ok((md.dev(), md.ino()))
}

fn read_all(file: &File) -> Result<Vec<u8>, Errno> {
    use std::os::unix::fs::FileExt;
    let len = file.metadata().map_err(|_| Errno::EINVAL)?.len();
    let mut buf = vec![0; usize::try_from(len).map_err(|_| Errno::ENOMEM)?];
    file.read_exact_at(&mut buf, 0).map_err(|_| Errno::EINVAL)?;
    Ok(buf)
}

impl Kernel for SimKernel {
    fn finit_module(
        &self,
        file: &File,
        _params: &str,
        flags: FinitFlags,
    ) -> Result<(), modkit_sys::Errno> {
        let mut s = self.lock();
        let id = self.file_id(&mut s, file).map_err(Errno::to_sys)?;
        self.call(
            s,
            Syscall::Finit {
                file: id,
                flags: flags.0,
            },
        )
        .map_err(Errno::to_sys)
    }

    fn init_module(&self, image: &[u8], _params: &str) -> Result<(), modkit_sys::Errno> {
        let facts =
            ModuleFacts::from_file("(image)", image).map_err(|_| modkit_sys::Errno::NOEXEC)?;
        let mut s = self.lock();
        let m = module_of(&mut s.eng, &facts);
        self.call(s, Syscall::Init { module: m })
            .map_err(Errno::to_sys)
    }

    fn delete_module(&self, name: &str, _flags: DeleteFlags) -> Result<(), modkit_sys::Errno> {
        let mut s = self.lock();
        let m = self.module(&s, name).ok_or(modkit_sys::Errno::NOENT)?;
        let at = s.eng.delete_module(m).map_err(Errno::to_sys)?;
        while s.eng.now() < at && !s.eng.idle() {
            let (done, _) = s.eng.run_until_idle_or(at);
            store(&mut s, done);
            if s.eng.raw_state(m).is_none() {
                break;
            }
        }
        self.cv.notify_all();
        Ok(())
    }

    fn initstate(&self, name: &str) -> Result<Option<InitState>, modkit_sys::Errno> {
        let s = self.lock();
        let Some(m) = self.module(&s, name) else {
            return Ok(None);
        };
        Ok(match s.eng.state(m) {
            Some(ModState::Live) => Some(InitState::Live),
            Some(ModState::Coming) => Some(InitState::Coming),
            Some(ModState::Going) => Some(InitState::Going),
            _ => None,
        })
    }

    fn loaded_modules(&self) -> Result<Vec<LoadedModule>, modkit_sys::Errno> {
        let s = self.lock();
        let mut out = Vec::new();
        for (m, module) in s.eng.modules.iter().enumerate() {
            let state = match s.eng.state(m) {
                Some(ModState::Live) => "Live",
                Some(ModState::Coming) => "Loading",
                Some(ModState::Going) => "Unloading",
                _ => continue,
            };
            let holders = holders_of(&s.eng, m);
            out.push(LoadedModule {
                name: module.name.clone(),
                size: module.core_size,
                refcnt: holders.len() as u32,
                holders,
                state: state.to_owned(),
            });
        }
        Ok(out)
    }

    fn holders(&self, name: &str) -> Result<Vec<String>, modkit_sys::Errno> {
        let s = self.lock();
        let m = self.module(&s, name).ok_or(modkit_sys::Errno::NOENT)?;
        if s.eng.state(m).is_none() {
            return Err(modkit_sys::Errno::NOENT);
        }
        Ok(holders_of(&s.eng, m))
    }

    fn refcnt(&self, name: &str) -> Result<u32, modkit_sys::Errno> {
        Ok(self.holders(name)?.len() as u32)
    }

    fn compression(&self) -> Option<KernelCompression> {
        let s = self.lock();
        (s.eng.cfg.version.generation() == modkit_elf::layout::Generation::ModuleMemory)
            .then_some(KernelCompression::Xz)
    }
}

/// Loaded modules that depend on `m`.
fn holders_of(eng: &Engine, m: usize) -> Vec<String> {
    eng.modules
        .iter()
        .enumerate()
        .filter(|(o, other)| other.deps.contains(&m) && eng.state(*o).is_some())
        .map(|(_, other)| other.name.clone())
        .collect()
}
