//! Workloads: the user-space side that drives the engine (kernel-loader §10, §11,
//! testbed.md §5.3). A racer releases N processes into one system call each; modprobe-like
//! tasks (kmod 30, kmod ≥ 31, BusyBox, our loader) insert a module after its dependencies,
//! skipping LIVE ones and treating -EEXIST as success; udev coldplug runs one such task per
//! CPU uevent in at most `children_max` workers; stress-ng loops finit/delete; kmod.sh
//! 0008/0009 push `request_module()` through its 50 slots. [`run`] returns a [`Report`].

use crate::config::{at_rate, Config, Ns};
use crate::engine::{Completion, Engine, FileId, ModId, SimModule, Syscall, FLAG_COMPRESSED};
use crate::errno::Errno;
use crate::profile::Profile;
use crate::stats::Stats;
use modkit_elf::layout::Generation;
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};

/// The user-space loader and the system call it picks (kernel-loader §10.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Userspace {
    /// Debian 12's kmod 30: `init_module` after userspace decompression for `.ko.xz`.
    Kmod30,
    /// kmod ≥ 31 (and modkit's loader): `finit_module` with flag 4 when the kernel can
    /// decompress.
    Kmod31,
    /// BusyBox `insmod`: `finit_module(fd, 0)`, then `init_module` on any error.
    Busybox,
}

impl Userspace {
    /// Parses `kmod30`, `kmod31` (`kmod`, `modkit`), `busybox`.
    pub fn parse(s: &str) -> Option<Userspace> {
        match s {
            "kmod30" => Some(Userspace::Kmod30),
            "kmod31" | "kmod" | "kmod34" | "modkit" => Some(Userspace::Kmod31),
            "busybox" => Some(Userspace::Busybox),
            _ => None,
        }
    }

    /// The Debian release's kmod for a tree: 6.1 → kmod 30, 6.12 → kmod 34.2.
    pub fn for_tree(tree: &str) -> Userspace {
        if tree == "6.1" {
            Userspace::Kmod30
        } else {
            Userspace::Kmod31
        }
    }
}

/// The system call a racer issues.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum RacerCall {
    /// `finit_module(fd, "", flags)`.
    Finit(u32),
    /// `init_module` of the decompressed image.
    Init,
}

/// What to run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum Workload {
    /// testbed.md §5.3: N processes released by the pipe barrier.
    Racer {
        module: String,
        n: u32,
        /// Distinct inodes (tmpfs copies) instead of one shared file.
        copies: bool,
        call: RacerCall,
        /// The file is an `xz -d` copy of a compressed module (plain `.ko`).
        decompressed: bool,
        /// Do not preload the module's dependencies: every load fails (-ENOENT).
        first_fails: bool,
        /// Exec mode: each process runs this loader instead of a raw system call.
        exec: Option<Userspace>,
        /// Signal every sleeping loader this long after the release (ns).
        signal_at: Option<Ns>,
    },
    /// testbed.md's per-CPU set storm: N processes released by the barrier, each loading
    /// the profile's CPU set in `modprobe --show-depends` order (a raw loader goes on
    /// after a failed call, as the testbed's racer does; finit passes flag 4 for a file
    /// the kernel decompresses), or, in exec mode, running `modprobe $MODALIAS`.
    CpuSet {
        n: u32,
        /// Distinct inodes (tmpfs copies of every file) instead of the tree's files.
        copies: bool,
        call: RacerCall,
        exec: Option<Userspace>,
        /// Modules LIVE before the storm (pinned ones an earlier load left behind).
        loaded: Vec<String>,
    },
    /// udev coldplug of every online CPU's uevents (§10).
    Coldplug { userspace: Userspace },
    /// `stress-ng --module N --module-name M` (§11.1) for `duration` of virtual time.
    StressNg {
        module: String,
        instances: u32,
        ops: u64,
        duration_ns: Ns,
    },
    /// kmod.sh test 0008 (`request_module(test_module)`, 58 threads) or 0009
    /// (`get_fs_type(xfs)`, 62 threads), one iteration (§11.2).
    KmodSh { test: u32, module: String },
}

/// Errors of setting a workload up.
#[derive(Debug, thiserror::Error)]
pub enum WorkloadError {
    #[error("profile {profile} has no module '{module}'")]
    NoModule { profile: String, module: String },
    #[error("profile {0} has no per-CPU events")]
    NoEvents(String),
    #[error("profile {0} has no CPU device event")]
    NoCpuEvent(String),
    #[error("kmod.sh test {0} is not modelled (0008 and 0009 are)")]
    KmodTest(u32),
}

/// The outcome of one run (kernel-loader §13 item 4).
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub version: String,
    pub profile: String,
    pub cpus: u32,
    /// System calls returning 0.
    pub ok: u64,
    /// Errno histogram of every system call (without "ok").
    pub errnos: BTreeMap<String, u64>,
    pub per_module: BTreeMap<String, BTreeMap<String, u64>>,
    pub syscalls: u64,
    pub init_runs: u64,
    /// Images allocated (L5 successes): 1 per module when no duplicate got that far.
    pub layouts: u64,
    /// Peak `VmallocUsed` above the baseline, KiB.
    pub peak_vmalloc_delta_kb: u64,
    /// `VmallocUsed` above the baseline once every task has finished, KiB: the loaded
    /// modules' areas (the testbed's `end_vmalloc_delta_kb`).
    pub end_vmalloc_delta_kb: u64,
    /// Peak physical memory above the baseline (the `MemFree` drop), KiB.
    pub peak_phys_delta_kb: u64,
    /// Peak module-area address space in use above the baseline, guards included, bytes.
    pub peak_module_area_bytes: u64,
    pub module_area_capacity: u64,
    /// Loads that failed because the module area ran out.
    pub enomem: u64,
    pub direct_map_splits: u64,
    /// Bytes of vmalloc-class memory allocated by calls that loaded nothing.
    pub wasted_alloc_bytes: u64,
    /// The part of `wasted_alloc_bytes` that was module layouts (module area).
    pub wasted_layout_bytes: u64,
    /// User-space tasks (events, probes, threads) that ended in failure.
    pub task_failures: u64,
    pub stats: Stats,
    /// Virtual time at the end, ms.
    pub end_ms: f64,
    /// The median time a system call took, entry to return, ms (0 without calls).
    pub median_call_ms: f64,
    /// When each task that made a system call entered its first, ms, in task order (the
    /// testbed records the same per loader: the first start of its `calls_ms`).
    pub first_call_ms: Vec<f64>,
    /// The median share of a successful call's time spent before its first patient check
    /// (0 without such calls; the guest's: testbed/phases.json).
    pub median_check_share: f64,
}

#[derive(Clone, Debug)]
enum Kind {
    Racer,
    Modprobe,
    Stress { ops_left: u64, deadline: Ns },
    KmodThread { slot: bool, timed_out: bool },
}

#[derive(Clone, Debug)]
struct Task {
    kind: Kind,
    userspace: Option<Userspace>,
    /// Chains to insert (dependencies first); a failure aborts the current chain.
    probes: Vec<Vec<ModId>>,
    probe: usize,
    idx: usize,
    /// The file racers and stress-ng use (their own copy or the shared one).
    file: Option<FileId>,
    /// A racer's calls after the current one (the CPU set, in order).
    calls: VecDeque<Syscall>,
    call: Option<Syscall>,
    pending: Option<Syscall>,
    /// The last call was BusyBox's `finit_module`: retry with `init_module`.
    busybox_retry: bool,
    udev_worker: bool,
    /// stress-ng: `delete_module` of this module is the next action.
    delete: Option<ModId>,
    done: bool,
    failed: bool,
    /// An exec'd modprobe has done its start (`Timing::modprobe_start_ns`).
    started: bool,
}

impl Task {
    fn new(kind: Kind) -> Task {
        Task {
            kind,
            userspace: None,
            probes: Vec::new(),
            probe: 0,
            idx: 0,
            file: None,
            calls: VecDeque::new(),
            call: None,
            pending: None,
            busybox_retry: false,
            udev_worker: false,
            delete: None,
            done: false,
            failed: false,
            started: false,
        }
    }
}

/// The user-space side of a run.
struct Driver {
    eng: Engine,
    tasks: Vec<Task>,
    /// udev events waiting for a worker.
    udev_queue: VecDeque<usize>,
    udev_free: u32,
    /// kmod slots (`MAX_KMOD_CONCURRENT`) and their waiters.
    kmod_free: u32,
    kmod_waiters: VecDeque<usize>,
    limit: Ns,
}

/// The engine for `profile` under `cfg`: every module with its dependencies resolved.
pub fn engine_for(profile: &Profile, cfg: Config) -> Engine {
    let mut eng = Engine::new(cfg);
    let generation: Generation = eng.cfg.version.generation();
    let factor = if eng.cfg.kasan {
        eng.cfg.kasan_factor.max(1.0)
    } else {
        1.0
    };
    for m in &profile.modules {
        let mut sm = SimModule::new(m, generation);
        if factor > 1.0 {
            sm.inflate(factor);
        }
        eng.add_module(sm);
    }
    for (i, m) in profile.modules.iter().enumerate() {
        let deps = m.depends.iter().filter_map(|d| eng.module_id(d)).collect();
        eng.modules[i].deps = deps;
    }
    eng
}

/// Runs `workload` on `profile` under `cfg`.
pub fn run(profile: &Profile, cfg: Config, workload: &Workload) -> Result<Report, WorkloadError> {
    let eng = engine_for(profile, cfg);
    let mut d = Driver {
        udev_free: eng.cfg.udev_children_max(),
        eng,
        tasks: Vec::new(),
        udev_queue: VecDeque::new(),
        kmod_free: 50,
        kmod_waiters: VecDeque::new(),
        limit: 3_600_000_000_000,
    };
    let missing = |module: &str| WorkloadError::NoModule {
        profile: profile.id(),
        module: module.to_owned(),
    };
    match workload {
        Workload::Racer { module, .. } => {
            let m = d.eng.module_id(module).ok_or_else(|| missing(module))?;
            d.setup_racer(profile, m, workload);
        }
        Workload::CpuSet { loaded, .. } => {
            if profile.cpu_event().is_none() {
                return Err(WorkloadError::NoCpuEvent(profile.id()));
            }
            for name in loaded {
                let m = d.eng.module_id(name).ok_or_else(|| missing(name))?;
                d.eng.preload(m);
            }
            d.setup_cpu_set(profile, workload);
        }
        Workload::Coldplug { userspace } => {
            if profile.events.is_empty() {
                return Err(WorkloadError::NoEvents(profile.id()));
            }
            d.setup_coldplug(profile, *userspace);
        }
        Workload::StressNg {
            module,
            instances,
            ops,
            duration_ns,
        } => {
            let m = d.eng.module_id(module).ok_or_else(|| missing(module))?;
            d.setup_stress(profile, m, *instances, *ops, *duration_ns);
        }
        Workload::KmodSh { test, module } => {
            let threads = match test {
                8 => 58,
                9 => 62,
                t => return Err(WorkloadError::KmodTest(*t)),
            };
            let m = d.eng.module_id(module).ok_or_else(|| missing(module))?;
            d.setup_kmod_sh(profile, m, threads);
        }
    }
    Ok(d.finish(profile))
}

impl Driver {
    /// Per module of `modules`, its load order (dependencies first) as the engine's ids.
    fn chains(&self, profile: &Profile, modules: &[String]) -> Vec<Vec<ModId>> {
        modules
            .iter()
            .map(|name| {
                profile
                    .load_order(name)
                    .iter()
                    .filter_map(|n| self.eng.module_id(n))
                    .collect()
            })
            .collect()
    }

    fn add_task(&mut self, t: Task) -> usize {
        self.tasks.push(t);
        self.tasks.len() - 1
    }

    /// Preloads every dependency of `m` (transitively), as the testbed does.
    fn preload_deps(&mut self, profile: &Profile, m: ModId) {
        let name = self.eng.modules[m].name.clone();
        for dep in profile.load_order(&name) {
            if dep != name {
                if let Some(id) = self.eng.module_id(&dep) {
                    self.eng.preload(id);
                }
            }
        }
    }

    /// The baseline: memory after preloading, before any task runs.
    fn baseline(&mut self) {
        self.eng.mark_baseline();
    }

    fn start_offset(&mut self, i: u64, stagger: Ns) -> Ns {
        let jitter = self.eng.cfg.timing.jitter;
        let j = (self.eng.rng_unit() * jitter * stagger as f64) as Ns;
        i * stagger + j
    }

    fn setup_racer(&mut self, profile: &Profile, m: ModId, w: &Workload) {
        let Workload::Racer {
            n,
            copies,
            call,
            decompressed,
            first_fails,
            exec,
            signal_at,
            ..
        } = w
        else {
            return;
        };
        if !first_fails {
            self.preload_deps(profile, m);
        }
        if let Some(at) = signal_at {
            self.eng.signal_sleepers_at(*at);
        }
        let compressed = self.eng.modules[m].compressed && !decompressed;
        let shared = if *decompressed {
            self.eng.add_file(m, false)
        } else {
            self.eng.tree_file(m)
        };
        for i in 0..*n {
            let file = if *copies {
                self.eng.add_file(m, compressed)
            } else {
                shared
            };
            let mut t = Task::new(Kind::Racer);
            t.file = Some(file);
            let stagger = if exec.is_some() {
                self.eng.cfg.timing.exec_stagger_ns
            } else {
                self.eng.cfg.timing.stagger_ns
            };
            let at = self.start_offset(u64::from(i), stagger);
            if let Some(u) = exec {
                t.kind = Kind::Modprobe;
                t.userspace = Some(*u);
                t.probes = vec![vec![m]];
                let id = self.add_task(t);
                self.eng.release_task_at(id, at);
                continue;
            }
            let sc = match call {
                RacerCall::Finit(flags) => Syscall::Finit {
                    file,
                    flags: *flags,
                },
                RacerCall::Init => Syscall::Init { module: m },
            };
            t.pending = Some(sc);
            let id = self.add_task(t);
            self.eng.release_task_at(id, at);
        }
        self.baseline();
    }

    fn setup_cpu_set(&mut self, profile: &Profile, w: &Workload) {
        let Workload::CpuSet {
            n,
            copies,
            call,
            exec,
            ..
        } = w
        else {
            return;
        };
        let order: Vec<ModId> = profile
            .cpu_set_order()
            .iter()
            .filter_map(|name| self.eng.module_id(name))
            .collect();
        let chains: Vec<Vec<ModId>> = profile
            .cpu_event()
            .map_or(Vec::new(), |e| self.chains(profile, &e.modules));
        let stagger = if exec.is_some() {
            self.eng.cfg.timing.exec_stagger_ns
        } else {
            self.eng.cfg.timing.stagger_ns
        };
        for i in 0..*n {
            let mut t = Task::new(Kind::Racer);
            if let Some(u) = exec {
                t.kind = Kind::Modprobe;
                t.userspace = Some(*u);
                t.probes = chains.clone();
            } else {
                t.calls = order
                    .iter()
                    .map(|&m| self.set_call(m, *copies, *call))
                    .collect();
                t.pending = t.calls.pop_front();
            }
            let id = self.add_task(t);
            let at = self.start_offset(u64::from(i), stagger);
            self.eng.release_task_at(id, at);
        }
        self.baseline();
    }

    /// A raw loader's call for `m` in a set storm: `init_module`, or `finit_module` of the
    /// tree's file (or a copy of it) with flag 4 when the file is compressed.
    fn set_call(&mut self, m: ModId, copies: bool, call: RacerCall) -> Syscall {
        let compressed = self.eng.modules[m].compressed;
        match call {
            RacerCall::Init => Syscall::Init { module: m },
            RacerCall::Finit(flags) => {
                let file = if copies {
                    self.eng.add_file(m, compressed)
                } else {
                    self.eng.tree_file(m)
                };
                let flags = if compressed {
                    flags | FLAG_COMPRESSED
                } else {
                    flags
                };
                Syscall::Finit { file, flags }
            }
        }
    }

    fn setup_coldplug(&mut self, profile: &Profile, userspace: Userspace) {
        let cpus = self.eng.cfg.online_cpus();
        for _cpu in 0..cpus {
            for ev in &profile.events {
                let probes = self.chains(profile, &ev.modules);
                let mut t = Task::new(Kind::Modprobe);
                t.userspace = Some(userspace);
                t.probes = probes;
                t.udev_worker = true;
                let id = self.add_task(t);
                self.udev_queue.push_back(id);
            }
        }
        self.baseline();
        self.dispatch_udev();
    }

    /// Hands queued events to free udev workers, one dispatch apart.
    fn dispatch_udev(&mut self) {
        let gap = self.eng.cfg.timing.udev_dispatch_ns;
        let mut at = self.eng.now();
        while self.udev_free > 0 {
            let Some(t) = self.udev_queue.pop_front() else {
                break;
            };
            self.udev_free -= 1;
            self.eng.wake_task_at(t, at);
            at += gap;
        }
    }

    fn setup_stress(&mut self, profile: &Profile, m: ModId, n: u32, ops: u64, dur: Ns) {
        self.preload_deps(profile, m);
        // A plain .ko is opened once (one inode); a .ko.xz is decompressed into a
        // temporary file per instance (distinct inodes, never flag 4).
        let compressed = self.eng.modules[m].compressed;
        let shared = self.eng.tree_file(m);
        for i in 0..n {
            let file = if compressed {
                self.eng.add_file(m, false)
            } else {
                shared
            };
            let mut t = Task::new(Kind::Stress {
                ops_left: ops,
                deadline: dur,
            });
            t.file = Some(file);
            t.pending = Some(Syscall::Finit { file, flags: 0 });
            let id = self.add_task(t);
            let at = self.start_offset(u64::from(i), self.eng.cfg.timing.stagger_ns);
            self.eng.release_task_at(id, at);
        }
        self.baseline();
    }

    fn setup_kmod_sh(&mut self, profile: &Profile, m: ModId, threads: u32) {
        let name = self.eng.modules[m].name.clone();
        let chain: Vec<ModId> = profile
            .load_order(&name)
            .iter()
            .filter_map(|n| self.eng.module_id(n))
            .collect();
        for _ in 0..threads {
            let mut t = Task::new(Kind::KmodThread {
                slot: false,
                timed_out: false,
            });
            t.userspace = Some(Userspace::Kmod31);
            t.probes = vec![chain.clone()];
            let id = self.add_task(t);
            self.eng.wake_task_at(id, 0);
        }
        self.baseline();
    }

    fn drive(&mut self) {
        loop {
            let (done, due) = self.eng.run_until_idle_or(self.limit);
            if done.is_empty() && due.is_empty() {
                break;
            }
            for c in done {
                self.on_result(c);
            }
            for t in due {
                self.on_due(t);
            }
        }
    }

    fn on_due(&mut self, t: usize) {
        if self.tasks[t].done {
            return;
        }
        if let Kind::KmodThread { slot, timed_out } = self.tasks[t].kind {
            if !slot && !timed_out {
                return self.request_slot(t);
            }
        }
        if let Some(call) = self.tasks[t].pending.take() {
            self.tasks[t].call = Some(call);
            self.eng.syscall(t, call);
            return;
        }
        self.step(t);
    }

    /// `__request_module`: take one of the 50 slots or wait (≤ 5 s).
    fn request_slot(&mut self, t: usize) {
        let waiting = self.kmod_waiters.contains(&t);
        if waiting {
            // The 5 s timeout fired while still waiting: -ETIME.
            self.kmod_waiters.retain(|&w| w != t);
            self.tasks[t].kind = Kind::KmodThread {
                slot: false,
                timed_out: true,
            };
            self.tasks[t].failed = true;
            self.tasks[t].done = true;
            return;
        }
        if self.kmod_free > 0 {
            self.kmod_free -= 1;
            self.grant_slot(t);
        } else {
            self.kmod_waiters.push_back(t);
            let at = self.eng.now() + 5_000_000_000;
            self.eng.wake_task_at(t, at);
        }
    }

    fn grant_slot(&mut self, t: usize) {
        self.tasks[t].kind = Kind::KmodThread {
            slot: true,
            timed_out: false,
        };
        // call_modprobe: the usermode helper's modprobe starts like any exec'd one.
        let start = self.eng.cfg.timing.modprobe_start_ns;
        self.eng.task_work(t, start);
    }

    fn release_slot(&mut self) {
        if self.kmod_waiters.is_empty() {
            self.kmod_free += 1;
            return;
        }
        // 6.4+: the semaphore hands the slot to the longest waiter; 6.1: waiters race.
        let pick = if self.eng.cfg.version.kmod_fifo() {
            0
        } else {
            self.eng.random_below(self.kmod_waiters.len() as u64) as usize
        };
        if let Some(w) = self.kmod_waiters.remove(pick) {
            self.grant_slot(w);
        }
    }

    /// Whether `t` is a modprobe exec'd by the workload that has not yet run its start
    /// (udev's workers load through libkmod in-process, no exec).
    fn starts_exec(&self, t: usize) -> bool {
        let task = &self.tasks[t];
        matches!(task.kind, Kind::Modprobe) && !task.udev_worker && !task.started
    }

    /// The next action of a modprobe-like task: skip LIVE modules, insert the next one.
    fn step(&mut self, t: usize) {
        if matches!(self.tasks[t].kind, Kind::Racer) {
            return self.task_done(t);
        }
        if let Some(m) = self.tasks[t].delete.take() {
            let now = self.eng.now();
            let at = self.eng.delete_module(m).unwrap_or(now);
            return self.eng.wake_task_at(t, at);
        }
        if let Kind::Stress { ops_left, deadline } = self.tasks[t].kind {
            if ops_left == 0 || self.eng.now() >= deadline {
                return self.task_done(t);
            }
            let file = self.tasks[t].file.unwrap_or(0);
            self.tasks[t].pending = Some(Syscall::Finit { file, flags: 0 });
            let entry = self.eng.cfg.timing.entry_ns;
            return self.eng.task_work(t, entry);
        }
        if self.starts_exec(t) {
            self.tasks[t].started = true;
            let start = self.eng.cfg.timing.modprobe_start_ns;
            return self.eng.task_work(t, start);
        }
        loop {
            let task = &self.tasks[t];
            let Some(chain) = task.probes.get(task.probe) else {
                return self.task_done(t);
            };
            let Some(&m) = chain.get(task.idx) else {
                self.tasks[t].probe += 1;
                self.tasks[t].idx = 0;
                continue;
            };
            if self.eng.state(m) == Some(crate::engine::ModState::Live) {
                self.tasks[t].idx += 1;
                continue;
            }
            let (call, delay) = self.choose_call(t, m);
            self.tasks[t].pending = Some(call);
            return self.eng.task_work(t, delay);
        }
    }

    /// The system call a loader makes for `m`, and the user-space time before it.
    fn choose_call(&mut self, t: usize, m: ModId) -> (Syscall, Ns) {
        let timing = &self.eng.cfg.timing;
        let lookup = timing.userspace_ns;
        let user_xz = at_rate(self.eng.modules[m].image_size, timing.user_decompress_mb_s);
        let file = self.eng.tree_file(m);
        let compressed = self.eng.files[file].compressed;
        let kernel_xz = self.eng.cfg.version.generation() == Generation::ModuleMemory;
        let userspace = self.tasks[t].userspace.unwrap_or(Userspace::Kmod31);
        if self.tasks[t].busybox_retry {
            self.tasks[t].busybox_retry = false;
            return (Syscall::Init { module: m }, user_xz);
        }
        if !compressed {
            return (Syscall::Finit { file, flags: 0 }, lookup);
        }
        match userspace {
            Userspace::Kmod31 if kernel_xz => (
                Syscall::Finit {
                    file,
                    flags: FLAG_COMPRESSED,
                },
                lookup,
            ),
            Userspace::Kmod31 | Userspace::Kmod30 => {
                (Syscall::Init { module: m }, lookup + user_xz)
            }
            Userspace::Busybox => (Syscall::Finit { file, flags: 0 }, lookup),
        }
    }

    fn on_result(&mut self, c: Completion) {
        let t = c.task;
        let now = self.eng.now();
        match self.tasks[t].kind {
            Kind::Racer => {
                self.tasks[t].failed |= c.result.is_err();
                if let Some(next) = self.tasks[t].calls.pop_front() {
                    self.tasks[t].pending = Some(next);
                    let entry = self.eng.cfg.timing.entry_ns;
                    return self.eng.task_work(t, entry);
                }
                return self.task_done(t);
            }
            Kind::Stress { ops_left, deadline } => {
                if c.result.is_ok() {
                    self.tasks[t].kind = Kind::Stress {
                        ops_left: ops_left.saturating_sub(1),
                        deadline,
                    };
                    self.tasks[t].delete = Some(c.module);
                    let user = self.eng.cfg.timing.userspace_ns;
                    return self.eng.task_work(t, user);
                }
                let entry = self.eng.cfg.timing.entry_ns;
                return self.eng.task_work(t, entry);
            }
            _ => {}
        }
        let busybox_finit = self.tasks[t].userspace == Some(Userspace::Busybox)
            && matches!(self.tasks[t].call, Some(Syscall::Finit { .. }));
        match c.result {
            Ok(()) | Err(Errno::EEXIST) => self.tasks[t].idx += 1,
            Err(_) if busybox_finit => self.tasks[t].busybox_retry = true,
            Err(_) => {
                self.tasks[t].failed = true;
                self.tasks[t].probe += 1;
                self.tasks[t].idx = 0;
            }
        }
        self.eng.wake_task_at(t, now);
    }

    fn task_done(&mut self, t: usize) {
        if self.tasks[t].done {
            return;
        }
        self.tasks[t].done = true;
        if self.tasks[t].udev_worker {
            self.udev_free += 1;
            self.dispatch_udev();
        }
        if let Kind::KmodThread { slot: true, .. } = self.tasks[t].kind {
            self.release_slot();
        }
    }

    fn finish(mut self, profile: &Profile) -> Report {
        self.drive();
        let failures = self.tasks.iter().filter(|t| t.failed).count() as u64;
        report_of(&self.eng, &profile.id(), failures)
    }
}

/// The report of what `eng` has run so far.
pub fn report_of(eng: &Engine, profile: &str, task_failures: u64) -> Report {
    let c = &eng.counters;
    let mut errnos = c.errnos.clone();
    let ok = errnos.remove("ok").unwrap_or(0);
    let kib = |pages: u64| pages * 4;
    Report {
        version: eng.cfg.version.label().to_owned(),
        profile: profile.to_owned(),
        cpus: eng.cfg.cpus,
        ok,
        errnos,
        per_module: c.per_module.clone(),
        syscalls: c.syscalls,
        init_runs: c.init_runs,
        layouts: c.layouts,
        peak_vmalloc_delta_kb: kib(eng.mem.vmalloc_peak.saturating_sub(eng.baseline_vmalloc())),
        end_vmalloc_delta_kb: kib(eng.mem.vmalloc_used.saturating_sub(eng.baseline_vmalloc())),
        peak_phys_delta_kb: kib(eng.mem.phys_peak.saturating_sub(eng.baseline_phys())),
        peak_module_area_bytes: eng
            .mem
            .module_area
            .peak_used
            .saturating_sub(eng.baseline_area()),
        module_area_capacity: eng.mem.module_area.capacity(),
        enomem: c.enomem,
        direct_map_splits: eng.mem.direct_map_splits(),
        wasted_alloc_bytes: c.wasted_alloc_bytes,
        wasted_layout_bytes: c.wasted_layout_bytes,
        task_failures,
        stats: eng.stats.clone(),
        end_ms: eng.now() as f64 / 1e6,
        median_call_ms: median_ms(&c.call_ns),
        first_call_ms: c
            .first_call_ns
            .values()
            .map(|&ns| ns as f64 / 1e6)
            .collect(),
        median_check_share: lower_median(&c.check_share),
    }
}

/// The lower middle of `values` sorted (0 when empty).
fn lower_median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_unstable_by(f64::total_cmp);
    match sorted.len() {
        0 => 0.0,
        n => sorted[(n - 1) / 2],
    }
}

/// The median of `ns`, in ms (the lower middle of an even count; 0 for none).
fn median_ms(ns: &[Ns]) -> f64 {
    let ms: Vec<f64> = ns.iter().map(|&n| n as f64 / 1e6).collect();
    lower_median(&ms)
}
