//! The discrete-event core: the load path of kernel-loader §4 for every version, as one
//! state machine per loader (a task inside `finit_module`/`init_module`), driven by an
//! event queue in virtual time. It owns the module list (states UNFORMED, COMING, LIVE,
//! GOING), `module_wq` and its wake-ups (§2.2), the patient check (§2.4), the idempotent
//! table (§8), the memory of every step (§3, §4.3) and the stats.c bumps (§7.3).
//! User-space behaviour (racers, modprobe, udev, stress-ng, kmod.sh) lives in
//! [`crate::workload`], which drives this engine through [`Engine::syscall`] and the task
//! callbacks.

use crate::config::{at_rate, Config, Ns};
use crate::cpu::{Job, Sharing};
use crate::errno::Errno;
use crate::memory::{vmalloc_pages, Area, Memory, PAGE};
use crate::profile::ModuleFacts;
use crate::stats::{DupReason, Stats};
use modkit_elf::layout::{Generation, Layout, MemType};
use modkit_elf::PkeyAlgo;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};

/// Index of a module in the engine's module table.
pub type ModId = usize;
/// Index of a file (an inode) known to the engine.
pub type FileId = usize;
/// Index of a loader (one system call).
pub type LoaderId = usize;
/// Opaque id of the user-space task that issued a call.
pub type TaskId = usize;

/// `enum module_state`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModState {
    Live,
    Coming,
    Going,
    Unformed,
}

/// One module as the engine sees it: sizes and its layout for the running generation.
#[derive(Clone, Debug)]
pub struct SimModule {
    pub name: String,
    pub file_size: u64,
    pub compressed: bool,
    pub image_size: u64,
    pub info_len: u64,
    pub btf_size: u64,
    /// Module-area allocations in L5 order: (is text, is init, bytes).
    pub areas: Vec<(bool, bool, u64)>,
    /// Σ of all allocated types (stats `total_mod_size`).
    pub total_size: u64,
    /// MOD_TEXT + MOD_INIT_TEXT as the 6.4 layout has them (stats `total_text_size`).
    pub text_size: u64,
    /// sysfs `coresize`.
    pub core_size: u64,
    pub deps: Vec<ModId>,
    pub init_errno: Option<Errno>,
    pub init_ns: Option<Ns>,
    /// Kernel threads `init` starts that outlive the load (their stacks).
    pub init_threads: u32,
    /// The signature's public-key algorithm (L1's verification), if signed.
    pub pkey_algo: Option<PkeyAlgo>,
}

impl SimModule {
    /// The module of `facts` under `generation`'s layout rules.
    pub fn new(facts: &ModuleFacts, generation: Generation) -> SimModule {
        let layout = facts.layout(generation);
        let mm = facts.layout_facts().mem_layout();
        let areas = match layout {
            Layout::CoreInit(l) => [(false, false, l.core), (false, true, l.init)]
                .into_iter()
                .filter(|a| a.2 > 0)
                .collect(),
            Layout::ModuleMemory(l) => MemType::ALL
                .iter()
                .filter(|&&t| l.allocated(t) > 0)
                .map(|&t| {
                    let text = matches!(t, MemType::Text | MemType::InitText);
                    (text, t.is_init(), l.allocated(t))
                })
                .collect(),
        };
        let total_size = layout.core_size() + layout.init_size();
        SimModule {
            name: facts.name.clone(),
            file_size: facts.file_size,
            compressed: facts.compressed(),
            image_size: facts.image_size,
            info_len: facts.info_len(),
            btf_size: facts.btf_size,
            areas,
            total_size,
            text_size: mm.allocated(MemType::Text) + mm.allocated(MemType::InitText),
            core_size: layout.core_size(),
            deps: Vec::new(),
            init_errno: facts.init_errno.as_deref().and_then(Errno::parse),
            init_ns: None,
            init_threads: facts.init_threads,
            pkey_algo: facts.pkey_algo.as_deref().and_then(PkeyAlgo::parse),
        }
    }

    /// Scales the image and every area by `factor` (KASAN instrumentation), page aligned.
    pub fn inflate(&mut self, factor: f64) {
        let scale = |n: u64| ((n as f64 * factor) as u64).div_ceil(PAGE) * PAGE;
        for a in &mut self.areas {
            a.2 = scale(a.2);
        }
        self.image_size = (self.image_size as f64 * factor) as u64;
        self.info_len = (self.info_len as f64 * factor) as u64;
        if !self.compressed {
            self.file_size = self.image_size;
        }
        self.total_size = self.areas.iter().map(|a| a.2).sum();
        self.core_size = self.areas.iter().filter(|a| !a.1).map(|a| a.2).sum();
    }

    /// Σ of the layout's allocations (core + init), bytes.
    pub fn layout_bytes(&self) -> u64 {
        self.areas.iter().map(|a| a.2).sum()
    }
}

/// A file on disk: which module it holds, its inode, and whether it is compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimFile {
    pub module: ModId,
    pub inode: u64,
    pub compressed: bool,
}

/// A module system call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Syscall {
    /// `finit_module(fd, "", flags)`.
    Finit { file: FileId, flags: u32 },
    /// `init_module(image, len, "")` with the decompressed image.
    Init { module: ModId },
}

/// `MODULE_INIT_COMPRESSED_FILE`.
pub const FLAG_COMPRESSED: u32 = 4;

/// A kernel thread's stack: `THREAD_SIZE` (16 KiB on x86_64), vmalloc'ed with `VMAP_STACK`.
const THREAD_STACK: u64 = 16 << 10;

/// Mixed into the seed for the stream the vCPU stalls draw from.
const STALL_STREAM: u64 = 0x5741_4c4c_5354_4152;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Entry,
    IdemWait,
    DedupCheck,
    Read,
    ReadDone,
    DecompressDone,
    ChecksDone,
    EarlyCheck,
    AllocDone,
    AddUnformed,
    Symbols,
    SetupDone,
    FormationDone,
    InitDone,
    Done,
}

#[derive(Clone, Debug)]
struct Loader {
    task: TaskId,
    module: ModId,
    call: Syscall,
    step: Step,
    /// Read buffer bytes held in vmalloc (or in pages with page-list).
    buffer: u64,
    /// Decompressed image bytes held as vmap'd pages.
    image_pages: u64,
    areas: Vec<Area>,
    module_allocated: bool,
    waited: bool,
    idem: Option<u64>,
    result: Option<Result<(), Errno>>,
    /// Bytes of vmalloc-class allocations made (for the real-waste measure).
    allocated_bytes: u64,
    /// The part of `allocated_bytes` that is the module's layout (the module area).
    layout_bytes: u64,
    btf: u64,
    /// When the system call began.
    started: Ns,
    /// How long after `started` the call first reached a patient check.
    to_check: Option<Ns>,
}

/// The module list entry (`struct module` while on the list).
#[derive(Clone, Debug)]
struct Record {
    state: ModState,
    owner: LoaderId,
    areas: Vec<Area>,
    btf: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    Run(LoaderId),
    Task(TaskId),
    /// A loader woken from a wait (`Config::overcommit`: it may wait for a vCPU first).
    Wake(LoaderId),
    /// A task released by the storm's barrier (likewise).
    Release(TaskId),
    /// The guest scheduler's turn for a task waiting for a vCPU (`vcpu_waits` index).
    VcpuTurn(usize),
    FreeInit(usize),
    /// The threads `init` started exit: this many kernel stacks are freed.
    FreeStacks(u32),
    Remove(ModId),
    /// `free_module()` of a module whose `init` failed: it leaves the list, and
    /// `module_mutex` stays held until the given time (its `synchronize_rcu()`).
    Unlink(ModId, Ns),
    /// The `wake_up_all(module_wq)` that ends a failed `init`'s teardown.
    WakeAll(ModId),
    Complete(usize),
    Signal,
    /// The next CPU job may be done (stale unless its generation is the current one).
    CpuTick(u64),
}

/// What a finished call reports to its task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Completion {
    pub task: TaskId,
    pub loader: LoaderId,
    pub module: ModId,
    pub result: Result<(), Errno>,
}

/// Counters of one run besides memory and stats.
#[derive(Clone, Debug, Default)]
pub struct Counters {
    /// Errno histogram of every system call ("ok" for 0).
    pub errnos: BTreeMap<String, u64>,
    /// Per module name, its errno histogram.
    pub per_module: BTreeMap<String, BTreeMap<String, u64>>,
    pub syscalls: u64,
    pub init_runs: u64,
    /// L5 successes: images allocated.
    pub layouts: u64,
    pub enomem: u64,
    /// Bytes of vmalloc-class memory allocated by calls that did not load their module.
    pub wasted_alloc_bytes: u64,
    /// The part of `wasted_alloc_bytes` that was module layouts (the rest: read buffers
    /// and decompression dictionaries).
    pub wasted_layout_bytes: u64,
    /// How long each system call took, entry to return, in completion order.
    pub call_ns: Vec<Ns>,
    /// When each task entered its first system call.
    pub first_call_ns: BTreeMap<TaskId, Ns>,
    /// Of each successful call, the share of its time spent before its first patient
    /// check (the guest's measure: testbed/phases.json).
    pub check_share: Vec<f64>,
}

/// The model of one kernel.
pub struct Engine {
    pub cfg: Config,
    pub modules: Vec<SimModule>,
    pub files: Vec<SimFile>,
    pub mem: Memory,
    pub stats: Stats,
    pub counters: Counters,
    now: Ns,
    seq: u64,
    queue: BinaryHeap<Reverse<(Ns, u64, Ev)>>,
    loaders: Vec<Loader>,
    records: Vec<Option<Record>>,
    /// Loaders sleeping on `module_wq`, by the module name they wait for (a wake-up
    /// only concerns the sleepers of that name: the others' predicate stays false).
    module_wq: HashMap<ModId, Vec<LoaderId>>,
    /// Idempotent table: inode → (first, waiters).
    idem: HashMap<u64, (LoaderId, Vec<LoaderId>)>,
    /// 6.4-rc4: inodes being read with exclusive write-deny.
    reading: HashMap<u64, u32>,
    pending_init_free: Vec<Vec<Area>>,
    /// `vmap_purge_lock`: busy until this time.
    purge_busy: Ns,
    /// `module_mutex` is held until then (`free_module()` across `synchronize_rcu()`).
    module_mutex_until: Ns,
    done: Vec<Completion>,
    /// Completions delivered later than they were decided (unwinds).
    pending_completions: Vec<Option<Completion>>,
    /// Task wake-ups that came due.
    due_tasks: Vec<TaskId>,
    rng: crate::Rng,
    baseline: (u64, u64, u64),
    /// The shared processors, with CPU contention.
    cpu: Option<Sharing>,
    /// Draws the vCPU stalls (`Config::stalls`), apart from `rng` so that a seed's
    /// KASLR offset and start jitter do not depend on whether stalls are modelled.
    stall_rng: crate::Rng,
    /// When each piece of CPU work now in flight ends (with `Config::overcommit`): the
    /// workload's tasks that hold a vCPU. With CPU contention only the vCPUs just handed
    /// to a woken task until its work is queued; the queue itself counts the rest.
    running: Vec<Ns>,
    /// Tasks woken while every vCPU was taken, each with whether it has one now, and the
    /// order they wait in.
    vcpu_waits: Vec<(Job, bool)>,
    vcpu_queue: std::collections::VecDeque<usize>,
}

impl Engine {
    /// An engine for `cfg` with no modules.
    pub fn new(cfg: Config) -> Engine {
        let mut rng = crate::Rng::new(cfg.seed);
        let stall_rng = crate::Rng::new(cfg.seed ^ STALL_STREAM);
        let offset = if cfg.kaslr { 1 + rng.below(1024) } else { 0 };
        let mem = Memory::new(cfg.kaslr, cfg.kasan, offset, cfg.rox_recollapse);
        let cpu = cfg
            .contention
            .map(|c| Sharing::new(c.processors, c.user_processors, c.background));
        Engine {
            cfg,
            modules: Vec::new(),
            files: Vec::new(),
            mem,
            stats: Stats::default(),
            counters: Counters::default(),
            now: 0,
            seq: 0,
            queue: BinaryHeap::new(),
            loaders: Vec::new(),
            records: Vec::new(),
            module_wq: HashMap::new(),
            idem: HashMap::new(),
            reading: HashMap::new(),
            pending_init_free: Vec::new(),
            purge_busy: 0,
            module_mutex_until: 0,
            done: Vec::new(),
            pending_completions: Vec::new(),
            due_tasks: Vec::new(),
            cpu,
            stall_rng,
            running: Vec::new(),
            vcpu_waits: Vec::new(),
            vcpu_queue: Default::default(),
            rng,
            baseline: (0, 0, 0),
        }
    }

    /// Adds a module; its file in the tree gets an inode of its own.
    pub fn add_module(&mut self, m: SimModule) -> ModId {
        let id = self.modules.len();
        let compressed = m.compressed;
        self.modules.push(m);
        self.records.push(None);
        self.add_file(id, compressed);
        id
    }

    /// A new inode holding module `m` (a copy; `compressed` false for an `xz -d` copy).
    pub fn add_file(&mut self, module: ModId, compressed: bool) -> FileId {
        let id = self.files.len();
        self.files.push(SimFile {
            module,
            inode: 0x1000 + id as u64,
            compressed,
        });
        id
    }

    /// The module's file in the tree (its first inode).
    pub fn tree_file(&self, m: ModId) -> FileId {
        self.files.iter().position(|f| f.module == m).unwrap_or(0)
    }

    /// A module by name.
    pub fn module_id(&self, name: &str) -> Option<ModId> {
        self.modules.iter().position(|m| m.name == name)
    }

    /// The current virtual time.
    pub fn now(&self) -> Ns {
        self.now
    }

    /// Takes the baseline: memory now (after preloads), peaks reset to it.
    pub fn mark_baseline(&mut self) {
        self.baseline = (
            self.mem.vmalloc_used,
            self.mem.phys_used,
            self.mem.module_area.used,
        );
        self.mem.vmalloc_peak = self.mem.vmalloc_used;
        self.mem.phys_peak = self.mem.phys_used;
        self.mem.module_area.peak_used = self.mem.module_area.used;
    }

    /// `VmallocUsed` pages at the baseline.
    pub fn baseline_vmalloc(&self) -> u64 {
        self.baseline.0
    }

    /// Physical pages at the baseline.
    pub fn baseline_phys(&self) -> u64 {
        self.baseline.1
    }

    /// Module-area bytes in use at the baseline.
    pub fn baseline_area(&self) -> u64 {
        self.baseline.2
    }

    /// Seeded uniform number in `[0, 1)`.
    pub fn rng_unit(&mut self) -> f64 {
        self.rng.unit()
    }

    /// Seeded random number in `0..n`.
    pub fn random_below(&mut self, n: u64) -> u64 {
        self.rng.below(n)
    }

    /// Loads `m` before the run (preloaded dependencies): LIVE with its core areas.
    pub fn preload(&mut self, m: ModId) {
        if self.records[m].is_some() {
            return;
        }
        let mut areas = Vec::new();
        for &(text, init, size) in &self.modules[m].areas.clone() {
            if init {
                continue;
            }
            if let Ok(a) = self.area_alloc(text, size) {
                areas.push(a);
            }
        }
        self.records[m] = Some(Record {
            state: ModState::Live,
            owner: usize::MAX,
            areas,
            btf: 0,
        });
    }

    /// The module's state (`/sys/module/NAME/initstate`; `None` without sysfs: absent or
    /// UNFORMED).
    pub fn state(&self, m: ModId) -> Option<ModState> {
        match self.records.get(m)?.as_ref()?.state {
            ModState::Unformed => None,
            s => Some(s),
        }
    }

    /// The module list entry's state, UNFORMED included.
    pub fn raw_state(&self, m: ModId) -> Option<ModState> {
        self.records.get(m)?.as_ref().map(|r| r.state)
    }

    /// Schedules task `t` to be handed back at `at`.
    pub fn wake_task_at(&mut self, t: TaskId, at: Ns) {
        self.push(at, Ev::Task(t));
    }

    /// Task `t` is released by the storm's barrier at `at` (a wake-up: with
    /// `Config::overcommit` it may wait for a vCPU).
    pub fn release_task_at(&mut self, t: TaskId, at: Ns) {
        self.push(at, Ev::Release(t));
    }

    /// `job` is woken (`Config::overcommit`): it runs now if a vCPU is free, else it waits
    /// until one is given up or the guest scheduler's turn comes for it.
    fn woken(&mut self, job: Job) {
        let Some(o) = self.cfg.overcommit else {
            return self.start_job(job);
        };
        if self.free_vcpus(&o) > 0 {
            self.running.push(self.now + 1);
            return self.start_job(job);
        }
        let idx = self.vcpu_waits.len();
        self.vcpu_waits.push((job, false));
        self.vcpu_queue.push_back(idx);
        let turn = o.turn(&mut self.stall_rng);
        self.push(self.now + turn, Ev::VcpuTurn(idx));
    }

    /// Runs `job` now: a loader's next step, or a task handed back to the workload.
    fn start_job(&mut self, job: Job) {
        match job {
            Job::Loader(l) => self.run(l),
            Job::Task(t) => self.due_tasks.push(t),
        }
    }

    /// vCPUs neither the workload's running tasks nor the background tasks hold. With
    /// CPU contention a task holds its vCPU while its work is in the processors' queue
    /// (however long sharing makes it); without, until its work's end.
    fn free_vcpus(&mut self, o: &crate::config::Overcommit) -> usize {
        let now = self.now;
        self.running.retain(|&end| end > now);
        let sharing = self.cpu.as_ref().map_or(0, |c| c.running());
        (o.vcpus as usize).saturating_sub(self.running.len() + sharing + o.background as usize)
    }

    /// The waiting task `idx` gets a vCPU (unless it has one already).
    fn grant_vcpu(&mut self, idx: usize) {
        let (job, granted) = self.vcpu_waits[idx];
        if !granted {
            self.vcpu_waits[idx].1 = true;
            self.running.push(self.now + 1);
            self.push(self.now, Self::job_event(job));
        }
    }

    /// Hands the vCPUs that running tasks gave up (by sleeping or finishing) to the tasks
    /// that wait, in the order they came; whether any was handed.
    fn grant_free_vcpus(&mut self) -> bool {
        let Some(o) = self.cfg.overcommit else {
            return false;
        };
        let mut granted = false;
        while self.free_vcpus(&o) > 0 {
            let Some(idx) = self.vcpu_queue.pop_front() else {
                break;
            };
            if !self.vcpu_waits[idx].1 {
                self.grant_vcpu(idx);
                granted = true;
            }
        }
        granted
    }

    /// Task `t` does `work` ns of CPU work in user space, then is handed back (later when
    /// the processors are contended).
    pub fn task_work(&mut self, t: TaskId, work: Ns) {
        self.cpu_work(Job::Task(t), work);
    }

    /// Starts `work` ns of CPU work for `job`: its event comes after `work` ns alone, or
    /// later under contention or when its vCPU stalls.
    fn cpu_work(&mut self, job: Job, work: Ns) {
        let work = match self.cfg.stalls {
            Some(s) => work + s.delay(work, &mut self.stall_rng),
            None => work,
        };
        let now = self.now;
        if self.cfg.overcommit.is_some() && self.cpu.is_none() {
            self.running.push(now + work);
        }
        match self.cpu.as_mut() {
            Some(cpu) if work > 0 => {
                cpu.start(now, work, job);
                self.cpu_reschedule();
            }
            _ => self.push(now + work, Self::job_event(job)),
        }
    }

    fn job_event(job: Job) -> Ev {
        match job {
            Job::Loader(l) => Ev::Run(l),
            Job::Task(t) => Ev::Task(t),
        }
    }

    /// Schedules the next CPU completion (older ticks become stale).
    fn cpu_reschedule(&mut self) {
        let now = self.now;
        let Some(cpu) = self.cpu.as_mut() else {
            return;
        };
        cpu.generation += 1;
        let generation = cpu.generation;
        if let Some(at) = cpu.next_due(now) {
            self.push(at, Ev::CpuTick(generation));
        }
    }

    /// The CPU jobs done by now continue; the next completion is rescheduled.
    fn cpu_tick(&mut self, generation: u64) {
        let now = self.now;
        let Some(cpu) = self.cpu.as_mut() else {
            return;
        };
        if cpu.generation != generation {
            return;
        }
        for job in cpu.take_due(now) {
            self.push(now, Self::job_event(job));
        }
        self.cpu_reschedule();
    }

    fn push(&mut self, at: Ns, ev: Ev) {
        self.seq += 1;
        self.queue.push(Reverse((at.max(self.now), self.seq, ev)));
    }

    /// Starts a system call for task `task` at the current time.
    pub fn syscall(&mut self, task: TaskId, call: Syscall) -> LoaderId {
        let module = match call {
            Syscall::Finit { file, .. } => self.files[file].module,
            Syscall::Init { module } => module,
        };
        let id = self.loaders.len();
        self.loaders.push(Loader {
            task,
            module,
            call,
            step: Step::Entry,
            buffer: 0,
            image_pages: 0,
            areas: Vec::new(),
            module_allocated: false,
            waited: false,
            idem: None,
            result: None,
            allocated_bytes: 0,
            layout_bytes: 0,
            btf: 0,
            started: self.now,
            to_check: None,
        });
        self.counters.syscalls += 1;
        self.counters.first_call_ns.entry(task).or_insert(self.now);
        self.push(self.now, Ev::Run(id));
        id
    }

    /// `delete_module(name, O_NONBLOCK)`: the removal finishes after a grace period
    /// plus the serialised frees; returns when the caller may continue.
    pub fn delete_module(&mut self, m: ModId) -> Result<Ns, Errno> {
        let rec = self.records[m].as_ref().ok_or(Errno::ENOENT)?;
        if rec.state != ModState::Live {
            return Err(Errno::EBUSY);
        }
        let holders = (0..self.modules.len()).any(|o| {
            self.modules[o].deps.contains(&m)
                && self.records[o]
                    .as_ref()
                    .is_some_and(|r| r.state != ModState::Unformed)
        });
        if holders {
            return Err(Errno::EWOULDBLOCK);
        }
        if let Some(r) = self.records[m].as_mut() {
            r.state = ModState::Going;
        }
        let n_areas = self.records[m].as_ref().map_or(0, |r| r.areas.len()) as u64;
        let at = self.purge_slot(n_areas) + self.cfg.timing.rcu_ns;
        self.push(at, Ev::Remove(m));
        Ok(at)
    }

    /// At `at`, every task sleeping in the module loader gets a signal (no `SA_RESTART`).
    pub fn signal_sleepers_at(&mut self, at: Ns) {
        self.push(at, Ev::Signal);
    }

    /// A signal to every sleeper: patient-check waiters return -ERESTARTSYS (after the
    /// unwind of what they hold, without `try_add_failed_module`); idempotent waiters
    /// return -EINTR from 6.11 and do not notice before (uninterruptible wait).
    fn signal_sleepers(&mut self) {
        let mut sleepers: Vec<(ModId, LoaderId)> = self
            .module_wq
            .iter()
            .flat_map(|(&m, ls)| ls.iter().map(move |&l| (m, l)))
            .collect();
        sleepers.sort_unstable();
        for (m, l) in sleepers {
            let unpark = |wq: &mut HashMap<ModId, Vec<LoaderId>>| {
                if let Some(v) = wq.get_mut(&m) {
                    v.retain(|&w| w != l);
                }
            };
            match self.loaders[l].step {
                Step::EarlyCheck => {
                    unpark(&mut self.module_wq);
                    let m = self.loaders[l].module;
                    let (len, c) = (self.modules[m].info_len, self.compressed_len(l));
                    self.stats.bump_becoming(len, c);
                    self.free_copy(l);
                    self.finish(l, Err(Errno::ERESTARTSYS));
                }
                Step::AddUnformed => {
                    unpark(&mut self.module_wq);
                    self.fail_allocated(l, Errno::ERESTARTSYS, false);
                }
                _ => {}
            }
        }
        if !self.cfg.version.interruptible_idempotent() {
            return;
        }
        let groups: Vec<u64> = self.idem.keys().copied().collect();
        for inode in groups {
            let waiters = self.idem.get_mut(&inode).map(|g| std::mem::take(&mut g.1));
            for w in waiters.unwrap_or_default() {
                self.complete(w, Err(Errno::EINTR), self.now);
            }
        }
    }

    /// Runs events until the queue is empty or `limit` is passed; returns the completions
    /// and due tasks gathered (the caller hands them to the tasks, which may issue more
    /// calls).
    pub fn run_until_idle_or(&mut self, limit: Ns) -> (Vec<Completion>, Vec<TaskId>) {
        while self.done.is_empty() && self.due_tasks.is_empty() {
            // Before time moves on, vCPUs given up now go to the tasks that wait.
            let advances = self
                .queue
                .peek()
                .is_some_and(|Reverse((at, _, _))| *at > self.now);
            if advances && self.grant_free_vcpus() {
                continue;
            }
            let Some(Reverse((at, _, ev))) = self.queue.pop() else {
                break;
            };
            if at > limit {
                self.queue.push(Reverse((at, 0, ev)));
                break;
            }
            self.now = at;
            self.dispatch(ev);
        }
        (
            std::mem::take(&mut self.done),
            std::mem::take(&mut self.due_tasks),
        )
    }

    /// Whether nothing is scheduled.
    pub fn idle(&self) -> bool {
        self.queue.is_empty()
    }

    fn dispatch(&mut self, ev: Ev) {
        match ev {
            Ev::Run(l) => self.run(l),
            Ev::Task(t) => self.due_tasks.push(t),
            Ev::Wake(l) => self.woken(Job::Loader(l)),
            Ev::Release(t) => self.woken(Job::Task(t)),
            Ev::VcpuTurn(idx) => self.grant_vcpu(idx),
            Ev::FreeInit(i) => {
                for a in std::mem::take(&mut self.pending_init_free[i]) {
                    self.mem.module_free(a);
                }
            }
            Ev::FreeStacks(n) => (0..n).for_each(|_| self.mem.vfree(THREAD_STACK)),
            Ev::Remove(m) => self.remove_module(m),
            Ev::Unlink(m, until) => {
                self.records[m] = None;
                self.module_mutex_until = self.module_mutex_until.max(until);
            }
            Ev::WakeAll(m) => self.wake_up_all(m),
            Ev::Signal => self.signal_sleepers(),
            Ev::CpuTick(g) => self.cpu_tick(g),
            Ev::Complete(i) => {
                if let Some(c) = self.pending_completions[i].take() {
                    self.done.push(c);
                }
            }
        }
    }

    fn remove_module(&mut self, m: ModId) {
        if let Some(rec) = self.records[m].take() {
            for a in rec.areas {
                self.mem.module_free(a);
            }
            self.mem.pages_free(rec.btf);
        }
        self.wake_up_all(m);
    }

    /// Reserves `vmap_purge_lock` for `n` area frees; returns when they are done.
    fn purge_slot(&mut self, n: u64) -> Ns {
        self.purge_slot_from(self.now, n)
    }

    /// Reserves `vmap_purge_lock` for `n` area frees starting no earlier than `from`.
    fn purge_slot_from(&mut self, from: Ns, n: u64) -> Ns {
        let start = self.purge_busy.max(from);
        self.purge_busy = start + n * self.cfg.timing.free_area_ns;
        self.purge_busy
    }

    /// The loader does `d` ns of CPU work, then runs `step`.
    fn after(&mut self, l: LoaderId, d: Ns, step: Step) {
        self.loaders[l].step = step;
        self.cpu_work(Job::Loader(l), d);
    }

    fn run(&mut self, l: LoaderId) {
        let step = self.loaders[l].step;
        match step {
            Step::Entry => self.entry(l),
            Step::IdemWait | Step::Done => {}
            Step::DedupCheck => self.dedup_check(l),
            Step::Read => self.read(l),
            Step::ReadDone => self.read_done(l),
            Step::DecompressDone => self.decompress_done(l),
            Step::ChecksDone => self.checks_done(l),
            Step::EarlyCheck => self.early_check(l),
            Step::AllocDone => self.add_unformed(l),
            Step::AddUnformed => self.add_unformed(l),
            Step::Symbols => self.symbols(l),
            Step::SetupDone => self.formation(l),
            Step::FormationDone => self.free_copy_and_init(l),
            Step::InitDone => self.init_done(l),
        }
    }

    fn file_of(&self, l: LoaderId) -> Option<SimFile> {
        match self.loaders[l].call {
            Syscall::Finit { file, .. } => Some(self.files[file]),
            Syscall::Init { .. } => None,
        }
    }

    fn flags_of(&self, l: LoaderId) -> u32 {
        match self.loaders[l].call {
            Syscall::Finit { flags, .. } => flags,
            Syscall::Init { .. } => 0,
        }
    }

    /// F1 and F2 (kernel-loader §4.1, §8).
    fn entry(&mut self, l: LoaderId) {
        let v = self.cfg.version;
        let flags = self.flags_of(l);
        if flags & !7 != 0 {
            return self.finish(l, Err(Errno::EINVAL));
        }
        if flags & FLAG_COMPRESSED != 0 && v.generation() == Generation::CoreInit {
            return self.finish(l, Err(Errno::EOPNOTSUPP));
        }
        let entry = self.cfg.timing.entry_ns;
        if let (true, Some(file)) = (v.idempotent(), self.file_of(l)) {
            self.loaders[l].idem = Some(file.inode);
            if let Some((_, waiters)) = self.idem.get_mut(&file.inode) {
                waiters.push(l);
                self.loaders[l].step = Step::IdemWait;
                return;
            }
            self.idem.insert(file.inode, (l, Vec::new()));
        }
        self.after(l, entry, Step::Read);
    }

    /// kread-dedup: a waiter released by the first checks the module list without
    /// reading: -EEXIST or -EBUSY, or it loads the module itself.
    fn dedup_check(&mut self, l: LoaderId) {
        let m = self.loaders[l].module;
        match self.raw_state(m) {
            Some(ModState::Live) => {
                self.stats
                    .add_failed_module(&self.modules[m].name.clone(), DupReason::Becoming);
                self.finish(l, Err(Errno::EEXIST));
            }
            Some(ModState::Going) => self.finish(l, Err(Errno::EBUSY)),
            _ => self.read(l),
        }
    }

    /// F3a / F3b: the read buffer.
    fn read(&mut self, l: LoaderId) {
        let v = self.cfg.version;
        let m = self.loaders[l].module;
        let bytes = match self.file_of(l) {
            Some(f) if f.compressed => self.modules[m].file_size,
            _ => self.modules[m].image_size,
        };
        if let (true, Some(f)) = (v.exclusive_read(), self.file_of(l)) {
            if self.reading.get(&f.inode).copied().unwrap_or(0) > 0 {
                self.stats.failed_kreads += 1;
                return self.finish(l, Err(Errno::ETXTBSY));
            }
            *self.reading.entry(f.inode).or_default() += 1;
        }
        self.hold_buffer(l, bytes);
        let d = at_rate(bytes, self.cfg.timing.read_mb_s);
        self.after(l, d, Step::ReadDone);
    }

    fn hold_buffer(&mut self, l: LoaderId, bytes: u64) {
        if self.cfg.version.page_list() {
            self.mem.pages_alloc(bytes);
        } else {
            self.mem.vmalloc(bytes);
            self.loaders[l].allocated_bytes += vmalloc_pages(bytes) * PAGE;
        }
        self.loaders[l].buffer = bytes;
    }

    fn release_buffer(&mut self, l: LoaderId) {
        let bytes = std::mem::take(&mut self.loaders[l].buffer);
        if bytes == 0 {
            return;
        }
        if self.cfg.version.page_list() {
            self.mem.pages_free(bytes);
        } else {
            self.mem.vfree(bytes);
        }
    }

    /// The copy is freed (L13 or unwind): the buffer, or the decompressed pages.
    fn free_copy(&mut self, l: LoaderId) {
        self.release_buffer(l);
        let pages = std::mem::take(&mut self.loaders[l].image_pages);
        self.mem.pages_free(pages);
    }

    fn read_done(&mut self, l: LoaderId) {
        if let (true, Some(f)) = (self.cfg.version.exclusive_read(), self.file_of(l)) {
            if let Some(n) = self.reading.get_mut(&f.inode) {
                *n = n.saturating_sub(1);
            }
        }
        let m = self.loaders[l].module;
        let compressed_file = self.file_of(l).is_some_and(|f| f.compressed);
        if compressed_file && self.flags_of(l) & FLAG_COMPRESSED != 0 {
            // F4: the xz dictionary, then the decompressed pages (vmap).
            self.mem.vmalloc(1 << 20);
            self.loaders[l].allocated_bytes += 1 << 20;
            let image = self.modules[m].image_size;
            self.mem.pages_alloc(image);
            self.loaders[l].image_pages = image;
            let d = at_rate(image, self.cfg.timing.decompress_mb_s);
            return self.after(l, d, Step::DecompressDone);
        }
        if compressed_file {
            // L2: "Invalid ELF header magic: != \x7fELF" on a compressed file.
            let len = self.modules[m].file_size;
            self.stats.bump_becoming(len, 0);
            self.free_copy(l);
            return self.finish(l, Err(Errno::ENOEXEC));
        }
        self.checks(l);
    }

    fn decompress_done(&mut self, l: LoaderId) {
        self.mem.vfree(1 << 20);
        self.release_buffer(l);
        self.checks(l);
    }

    /// L1–L3.
    fn checks(&mut self, l: LoaderId) {
        let m = self.loaders[l].module;
        let timing = &self.cfg.timing;
        let verify = match self.modules[m].pkey_algo {
            Some(PkeyAlgo::Rsa) => timing.rsa_verify_ns,
            Some(PkeyAlgo::Ecdsa) => timing.ecdsa_verify_ns,
            None => 0,
        };
        let d = verify + at_rate(self.modules[m].info_len, timing.verify_mb_s);
        self.after(l, d, Step::ChecksDone);
    }

    fn checks_done(&mut self, l: LoaderId) {
        if self.cfg.version.early_check() {
            self.early_check(l);
        } else {
            self.allocate(l);
        }
    }

    /// Bytes stats.c adds for the compressed file with flag 4.
    fn compressed_len(&self, l: LoaderId) -> u64 {
        let m = self.loaders[l].module;
        let c = self.file_of(l).is_some_and(|f| f.compressed)
            && self.flags_of(l) & FLAG_COMPRESSED != 0;
        if c {
            self.modules[m].file_size
        } else {
            0
        }
    }

    /// The patient check (§2.4): `Ok(true)` proceed, `Ok(false)` sleeping, `Err` fail.
    fn patient_check(&mut self, l: LoaderId, reason: DupReason) -> Result<bool, Errno> {
        let m = self.loaders[l].module;
        let vanilla = self.cfg.version.retries_after_failure();
        let state = self.raw_state(m);
        let sleeping = match state {
            Some(ModState::Unformed | ModState::Coming) => true,
            Some(ModState::Going) => vanilla,
            _ => false,
        };
        if sleeping {
            self.loaders[l].waited = true;
            self.module_wq.entry(m).or_default().push(l);
            return Ok(false);
        }
        if vanilla {
            return match state {
                None => Ok(true),
                _ => {
                    self.stats
                        .add_failed_module(&self.modules[m].name.clone(), reason);
                    Err(Errno::EEXIST)
                }
            };
        }
        if state.is_none() && !self.loaders[l].waited {
            return Ok(true);
        }
        self.stats
            .add_failed_module(&self.modules[m].name.clone(), reason);
        match state {
            Some(ModState::Live) => Err(Errno::EEXIST),
            _ => Err(Errno::EBUSY),
        }
    }

    /// The patient check takes `module_mutex`: while `free_module()` holds it, the loader
    /// blocks and tries again when it is released.
    fn module_mutex_blocks(&mut self, l: LoaderId) -> bool {
        if self.now >= self.module_mutex_until {
            return false;
        }
        self.push(self.module_mutex_until, Ev::Wake(l));
        true
    }

    /// Notes when the call first comes to a patient check (L4 from 6.4, L6 before).
    fn reach_check(&mut self, l: LoaderId) {
        let loader = &mut self.loaders[l];
        loader.to_check.get_or_insert(self.now - loader.started);
    }

    /// L4 (6.4+).
    fn early_check(&mut self, l: LoaderId) {
        self.loaders[l].step = Step::EarlyCheck;
        self.reach_check(l);
        if self.module_mutex_blocks(l) {
            return;
        }
        match self.patient_check(l, DupReason::Becoming) {
            Ok(true) => self.allocate(l),
            Ok(false) => {}
            Err(e) => {
                let m = self.loaders[l].module;
                let len = self.modules[m].info_len;
                let c = self.compressed_len(l);
                self.stats.bump_becoming(len, c);
                self.free_copy(l);
                self.finish(l, Err(e));
            }
        }
    }

    fn area_alloc(&mut self, text: bool, size: u64) -> Result<Area, crate::memory::Exhausted> {
        if text && self.cfg.rox() {
            self.mem.rox_alloc(size)
        } else {
            self.mem.module_alloc(size)
        }
    }

    /// L5: `layout_and_allocate()` → `move_module()`.
    fn allocate(&mut self, l: LoaderId) {
        let m = self.loaders[l].module;
        let areas = self.modules[m].areas.clone();
        for (text, _, size) in areas {
            match self.area_alloc(text, size) {
                Ok(a) => {
                    self.loaders[l].allocated_bytes += a.vmalloc_pages * PAGE;
                    self.loaders[l].layout_bytes += a.vmalloc_pages * PAGE;
                    self.loaders[l].areas.push(a);
                }
                Err(_) => {
                    self.counters.enomem += 1;
                    for a in std::mem::take(&mut self.loaders[l].areas) {
                        self.mem.module_free(a);
                    }
                    let len = self.modules[m].info_len;
                    let c = self.compressed_len(l);
                    self.stats.bump_becoming(len, c);
                    self.free_copy(l);
                    return self.finish(l, Err(Errno::ENOMEM));
                }
            }
        }
        self.loaders[l].module_allocated = true;
        self.loaders[l].waited = false;
        self.counters.layouts += 1;
        let bytes = self.modules[m].layout_bytes();
        let d = at_rate(bytes, self.cfg.timing.copy_mb_s);
        self.after(l, d, Step::AllocDone);
    }

    /// L6: `add_unformed_module()`.
    fn add_unformed(&mut self, l: LoaderId) {
        self.loaders[l].step = Step::AddUnformed;
        self.reach_check(l);
        if self.module_mutex_blocks(l) {
            return;
        }
        match self.patient_check(l, DupReason::Load) {
            Ok(true) => {
                let m = self.loaders[l].module;
                self.records[m] = Some(Record {
                    state: ModState::Unformed,
                    owner: l,
                    areas: Vec::new(),
                    btf: 0,
                });
                let d = self.cfg.timing.setup_ns;
                self.after(l, d, Step::Symbols);
            }
            Ok(false) => {}
            Err(e) => self.fail_allocated(l, e, false),
        }
    }

    /// Unwind after L5: (unlink and wake), free the module areas, free the copy.
    fn fail_allocated(&mut self, l: LoaderId, e: Errno, linked: bool) {
        let m = self.loaders[l].module;
        let mut delay = 0;
        if linked {
            self.records[m] = None;
            self.wake_up_all(m);
            delay += self.cfg.timing.rcu_ns;
        }
        let len = self.modules[m].info_len;
        let c = self.compressed_len(l);
        self.stats.bump_invalid(len, c);
        let areas = std::mem::take(&mut self.loaders[l].areas);
        let done = self.purge_slot(areas.len() as u64);
        for a in areas {
            self.mem.module_free(a);
        }
        let btf = std::mem::take(&mut self.loaders[l].btf);
        self.mem.pages_free(btf);
        self.free_copy(l);
        let at = done.max(self.now) + delay;
        self.finish_at(l, Err(e), at);
    }

    /// L8: `simplify_symbols()`: every dependency must be loaded; one still COMING makes
    /// the loader wait (`resolve_symbol_wait`).
    fn symbols(&mut self, l: LoaderId) {
        let m = self.loaders[l].module;
        for d in self.modules[m].deps.clone() {
            match self.raw_state(d) {
                Some(ModState::Live) => {}
                Some(ModState::Coming) => {
                    self.module_wq.entry(d).or_default().push(l);
                    return;
                }
                _ => return self.fail_allocated(l, Errno::ENOENT, true),
            }
        }
        let d = at_rate(self.modules[m].info_len, self.cfg.timing.relocate_mb_s);
        self.after(l, d, Step::SetupDone);
    }

    /// L10–L12: COMING, RO, BTF copy, sysfs.
    fn formation(&mut self, l: LoaderId) {
        let m = self.loaders[l].module;
        for a in &self.loaders[l].areas {
            self.mem.set_ro(a);
        }
        if let Some(r) = self.records[m].as_mut() {
            r.state = ModState::Coming;
        }
        let btf = self.modules[m].btf_size;
        self.mem.pages_alloc(btf);
        self.loaders[l].btf = btf;
        let d = self.cfg.timing.formation_ns;
        self.after(l, d, Step::FormationDone);
    }

    /// L13 and L14: free the copy, run `init`.
    fn free_copy_and_init(&mut self, l: LoaderId) {
        self.free_copy(l);
        self.counters.init_runs += 1;
        let m = self.loaders[l].module;
        let d = self.modules[m].init_ns.unwrap_or(self.cfg.timing.init_ns);
        self.start_init_threads(m, d);
        self.after(l, d, Step::InitDone);
    }

    /// The kernel threads `m`'s `init` starts (the crypto manager's self-tests): a stack
    /// each while `init` runs (`init_ns`) and `thread_exit_ns` after it.
    fn start_init_threads(&mut self, m: ModId, init_ns: Ns) {
        let n = self.modules[m].init_threads;
        if n == 0 {
            return;
        }
        for _ in 0..n {
            self.mem.vmalloc(THREAD_STACK);
        }
        let exit = self.now + init_ns + self.cfg.timing.thread_exit_ns;
        self.push(exit, Ev::FreeStacks(n));
    }

    /// `do_init_module()` after `init`: LIVE, or GOING and freed.
    fn init_done(&mut self, l: LoaderId) {
        let m = self.loaders[l].module;
        if let Some(e) = self.modules[m].init_errno {
            if let Some(r) = self.records[m].as_mut() {
                r.state = ModState::Going;
            }
            // GOING, `synchronize_rcu()` and the notifiers; then `free_module()`: off the
            // list under `module_mutex`, held across another `synchronize_rcu()`; the
            // frees; and only then `wake_up_all()` (kernel-loader §2.2 item 4).
            let rcu = self.cfg.timing.rcu_ns;
            let unlink = self.now + rcu;
            self.push(unlink, Ev::Unlink(m, unlink + rcu));
            let areas = std::mem::take(&mut self.loaders[l].areas);
            let done = self.purge_slot_from(unlink + rcu, areas.len() as u64);
            for a in areas {
                self.mem.module_free(a);
            }
            let btf = std::mem::take(&mut self.loaders[l].btf);
            self.mem.pages_free(btf);
            self.loaders[l].step = Step::Done;
            self.loaders[l].result = Some(Err(e));
            self.push(done, Ev::WakeAll(m));
            return self.finish_at(l, Err(e), done);
        }
        let (total, text) = (self.modules[m].total_size, self.modules[m].text_size);
        self.stats.bump_loaded(total, text);
        let areas = std::mem::take(&mut self.loaders[l].areas);
        let (mut init, mut core) = (Vec::new(), Vec::new());
        for (a, &(_, is_init, _)) in areas.into_iter().zip(self.modules[m].areas.iter()) {
            if is_init {
                init.push(a);
            } else {
                core.push(a);
            }
        }
        let btf = std::mem::take(&mut self.loaders[l].btf);
        if let Some(r) = self.records[m].as_mut() {
            r.state = ModState::Live;
            r.areas = core;
            r.btf = btf;
        }
        self.pending_init_free.push(init);
        let idx = self.pending_init_free.len() - 1;
        self.push(self.now + self.cfg.timing.rcu_ns, Ev::FreeInit(idx));
        self.wake_up_all(m);
        self.finish(l, Ok(()));
    }

    /// `wake_up_all(&module_wq)`: every sleeper waiting for `m` re-evaluates.
    fn wake_up_all(&mut self, m: ModId) {
        let wake = self.cfg.timing.wake_ns;
        let woken = self.module_wq.remove(&m).unwrap_or_default();
        for l in woken {
            self.push(self.now + wake, Ev::Wake(l));
        }
    }

    fn finish(&mut self, l: LoaderId, result: Result<(), Errno>) {
        self.finish_at(l, result, self.now);
    }

    /// The call returns `result` at `at`; idempotent waiters get it too (§8.1).
    fn finish_at(&mut self, l: LoaderId, result: Result<(), Errno>, at: Ns) {
        self.loaders[l].step = Step::Done;
        self.loaders[l].result = Some(result);
        let m = self.loaders[l].module;
        if result.is_err() || self.records[m].as_ref().is_none_or(|r| r.owner != l) {
            self.counters.wasted_alloc_bytes += self.loaders[l].allocated_bytes;
            self.counters.wasted_layout_bytes += self.loaders[l].layout_bytes;
        }
        if let Some(inode) = self.loaders[l].idem {
            if self.idem.get(&inode).is_some_and(|(first, _)| *first == l) {
                let (_, waiters) = self.idem.remove(&inode).unwrap_or_default();
                let wake = at + self.cfg.timing.wake_ns;
                for w in waiters {
                    if self.cfg.version.dedup_read_only() {
                        self.loaders[w].step = Step::DedupCheck;
                        self.push(wake, Ev::Wake(w));
                    } else {
                        self.complete(w, result, wake);
                    }
                }
            }
        }
        self.complete(l, result, at);
    }

    fn complete(&mut self, l: LoaderId, result: Result<(), Errno>, at: Ns) {
        self.loaders[l].step = Step::Done;
        self.loaders[l].result = Some(result);
        let m = self.loaders[l].module;
        let key = match result {
            Ok(()) => "ok".to_owned(),
            Err(e) => e.name().to_owned(),
        };
        let took = at.max(self.now) - self.loaders[l].started;
        self.counters.call_ns.push(took);
        if let (Ok(()), Some(to_check)) = (result, self.loaders[l].to_check) {
            if took > 0 {
                self.counters
                    .check_share
                    .push(to_check as f64 / took as f64);
            }
        }
        *self.counters.errnos.entry(key.clone()).or_default() += 1;
        *self
            .counters
            .per_module
            .entry(self.modules[m].name.clone())
            .or_default()
            .entry(key)
            .or_default() += 1;
        let c = Completion {
            task: self.loaders[l].task,
            loader: l,
            module: m,
            result,
        };
        if at <= self.now {
            self.done.push(c);
        } else {
            self.pending_completions.push(Some(c));
            let idx = self.pending_completions.len() - 1;
            self.push(at, Ev::Complete(idx));
        }
    }
}
