//! The shared loading context against the kernel model: 256 concurrent requesters (threads,
//! each with its own loader and its own claim descriptors, which is all a process would
//! add) ask for a module set with shared dependencies, on the model of Debian's 6.1 kernel,
//! which has no de-duplication of its own; the first insertion failing (Debian's xfs without
//! its dependency, as in the testbed); claimants dying with their claim held, before or
//! after their insertion. (The same faults across real, SIGKILLed processes are in
//! `shared_context`, against a stand-in kernel.)

use modkit_config::ModprobeConfig;
use modkit_depmod::database::Database;
use modkit_loader::insert::Force;
use modkit_loader::probe::ProbeOptions;
use modkit_loader::shared::Shared;
use modkit_loader::Loader;
use modkit_sim::{Config, Profile, Report, SimKernel, Version};
use modkit_sys::{
    DeleteFlags, Errno, FinitFlags, InitState, Kernel, KernelCompression, LoadedModule,
};
use std::fs::File;
use std::path::Path;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use crate::shared_context::{fixture_tree, MODULES, VERSION};

fn requester(root: &Path, run: Option<&Path>, kernel: Arc<SimKernel>) -> Loader<Arc<SimKernel>> {
    let db = Database::open(root.join("lib/modules").join(VERSION));
    let loader = Loader::new(db, ModprobeConfig::default(), kernel);
    match run {
        Some(run) => loader.with_shared(Shared::open(run).expect("run directory")),
        None => loader,
    }
}

/// 256 requesters of `top` and `lone` released at once by a barrier; the model's report.
fn storm(test: &str, shared: bool) -> Option<Report> {
    let root = fixture_tree(test)?;
    let run = root.join("run-model");
    let _ = std::fs::remove_dir_all(&run);
    let profile = Profile::builtin("skylake-sp@6.1").expect("builtin profile");
    let kernel = Arc::new(SimKernel::new(Config::new(Version::V6_1, 256), &profile));
    if !shared {
        // kmod's way: every requester checks the state, then inserts. The model's clock is
        // held until all 256 first insertions are in (the testbed's barrier), so their
        // overlap does not depend on how the host schedules the threads.
        kernel.expect_callers(256);
    }
    let start = Arc::new(Barrier::new(256));
    let threads: Vec<_> = (0..256)
        .map(|_| {
            let (root, run, kernel, start) = (
                root.clone(),
                run.clone(),
                Arc::clone(&kernel),
                Arc::clone(&start),
            );
            std::thread::spawn(move || {
                let loader = requester(&root, shared.then_some(run.as_path()), kernel);
                start.wait();
                ["top", "lone"]
                    .iter()
                    .map(|name| {
                        let m = loader.lookup(name.as_bytes()).expect("found").remove(0);
                        loader.probe(&m, b"", ProbeOptions::default(), &mut |_| {})
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    for t in threads {
        for r in t.join().expect("no panic") {
            assert!(r.is_ok(), "every requester succeeds: {r:?}");
        }
    }
    for m in MODULES {
        assert_eq!(kernel.initstate(m).unwrap(), Some(InitState::Live), "{m}");
    }
    Some(kernel.report())
}

#[test]
fn two_hundred_fifty_six_requesters_make_one_insertion_per_module_on_the_model() {
    let test = "two_hundred_fifty_six_requesters_make_one_insertion_per_module_on_the_model";
    let Some(report) = storm(test, true) else {
        return;
    };
    assert_eq!(report.syscalls, MODULES.len() as u64, "{report:?}");
    assert_eq!(report.ok, MODULES.len() as u64);
    assert!(
        report.errnos.is_empty(),
        "no duplicate reached the kernel: {:?}",
        report.errnos
    );
}

/// The same storm without the context (kmod's behaviour): duplicates reach the kernel, so
/// the check above can fail.
#[test]
fn without_the_context_duplicates_reach_the_model() {
    let Some(report) = storm("without_the_context_duplicates_reach_the_model", false) else {
        return;
    };
    assert!(report.syscalls > MODULES.len() as u64, "{report:?}");
    assert!(
        report.errnos.get("EEXIST").is_some_and(|n| *n > 0),
        "{:?}",
        report.errnos
    );
}

/// The model behind an insertion that takes `delay` of real time, so that every requester
/// started at once is waiting on the claim when the claimant's answer comes.
struct Slow {
    model: Arc<SimKernel>,
    delay: Duration,
}

impl Kernel for Slow {
    fn finit_module(&self, file: &File, params: &str, flags: FinitFlags) -> Result<(), Errno> {
        std::thread::sleep(self.delay);
        self.model.finit_module(file, params, flags)
    }
    fn init_module(&self, image: &[u8], params: &str) -> Result<(), Errno> {
        std::thread::sleep(self.delay);
        self.model.init_module(image, params)
    }
    fn delete_module(&self, name: &str, flags: DeleteFlags) -> Result<(), Errno> {
        self.model.delete_module(name, flags)
    }
    fn initstate(&self, name: &str) -> Result<Option<InitState>, Errno> {
        self.model.initstate(name)
    }
    fn loaded_modules(&self) -> Result<Vec<LoadedModule>, Errno> {
        self.model.loaded_modules()
    }
    fn holders(&self, name: &str) -> Result<Vec<String>, Errno> {
        self.model.holders(name)
    }
    fn refcnt(&self, name: &str) -> Result<u32, Errno> {
        self.model.refcnt(name)
    }
    fn compression(&self) -> Option<KernelCompression> {
        self.model.compression()
    }
}

/// Debian 6.1's xfs inserted by 64 requesters at once, on the 6.1 model with its dependency
/// (libcrc32c) absent: the kernel answers the one insertion ENOENT (unknown symbols), and
/// every requester gets that answer; nobody retries.
#[test]
fn a_failing_first_insertion_is_every_waiters_error_on_the_model() {
    let test = "a_failing_first_insertion_is_every_waiters_error_on_the_model";
    let Some(trees) = modkit_tests::trees::trees(test) else {
        return;
    };
    let Some(tree) = trees.iter().find(|t| t.label == "6.1") else {
        return modkit_tests::skip(test, "no Debian 6.1 tree");
    };
    let xfs = tree.module_dir().join("kernel/fs/xfs/xfs.ko");
    let run = modkit_tests::scratch(test).join("run");
    let profile = Profile::builtin("skylake-sp@6.1").expect("builtin profile");
    let model = Arc::new(SimKernel::new(Config::new(Version::V6_1, 64), &profile));
    let start = Arc::new(Barrier::new(64));
    let threads: Vec<_> = (0..64)
        .map(|_| {
            let (xfs, run, start) = (xfs.clone(), run.clone(), Arc::clone(&start));
            let kernel = Slow {
                model: Arc::clone(&model),
                delay: Duration::from_millis(1500),
            };
            std::thread::spawn(move || {
                let db = Database::open(run.join("no-tree"));
                let loader = Loader::new(db, ModprobeConfig::default(), kernel)
                    .with_shared(Shared::open(&run).expect("run directory"));
                start.wait();
                loader.insert_file(&xfs, b"", Force::default(), &mut |_| {})
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().expect("no panic"), Err(Errno::NOENT));
    }
    let report = model.report();
    assert_eq!(report.syscalls, 1, "{report:?}");
    assert_eq!(report.ok, 0);
    assert_eq!(model.initstate("xfs").unwrap(), None);
}

/// Claimants that die holding their claim (the claim dropped unpublished, as a killed
/// process's descriptor closes), some before inserting and some after, amid 48 requesters
/// of the diamond, many rounds over: every requester's load completes, each module reaches
/// the model once, and no claim is left held.
#[test]
fn claimants_dying_at_random_points_never_leave_a_load_undone_on_the_model() {
    let test = "claimants_dying_at_random_points_never_leave_a_load_undone_on_the_model";
    let Some(root) = fixture_tree(test) else {
        return;
    };
    let profile = Profile::builtin("skylake-sp@6.1").expect("builtin profile");
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    for round in 0..8 {
        let run = root.join(format!("run-dying-{round}"));
        let _ = std::fs::remove_dir_all(&run);
        let model = Arc::new(SimKernel::new(Config::new(Version::V6_1, 64), &profile));
        let start = Arc::new(Barrier::new(64));
        let threads: Vec<_> = (0..64)
            .map(|i| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let fate = seed;
                let (root, run, start) = (root.clone(), run.clone(), Arc::clone(&start));
                let model = Arc::clone(&model);
                std::thread::spawn(move || {
                    let loader = requester(&root, Some(run.as_path()), model);
                    start.wait();
                    match i % 4 {
                        0 => dies_holding_a_claim(&loader, fate),
                        _ => ["top", "lone"].iter().all(|name| {
                            let m = loader.lookup(name.as_bytes()).expect("found").remove(0);
                            loader
                                .probe(&m, b"", ProbeOptions::default(), &mut |_| {})
                                .is_ok()
                        }),
                    }
                })
            })
            .collect();
        for (i, t) in threads.into_iter().enumerate() {
            assert!(t.join().expect("no panic"), "round {round}: requester {i}");
        }
        let report = model.report();
        assert_eq!(
            report.syscalls,
            MODULES.len() as u64,
            "round {round}: {report:?}"
        );
        assert!(
            report.errnos.is_empty(),
            "round {round}: {:?}",
            report.errnos
        );
        let shared = Shared::open(&run).expect("run directory");
        for m in MODULES {
            assert_eq!(model.initstate(m).unwrap(), Some(InitState::Live), "{m}");
            // Not held: a new request gets the claim. Not bound to zero: a test of this
            // binary that spawns a process at the moment a claim's descriptor closes lends
            // the child a copy of it, and the lock, until the child's exec closes it; a
            // claim left held would keep it for the whole second.
            let ticket = shared
                .run_dir()
                .request(m, Duration::from_secs(1))
                .expect("request");
            assert!(
                matches!(ticket, modkit_sys::Ticket::Claimant(_)),
                "round {round}: {m}: {ticket:?}"
            );
        }
    }
}

/// A requester that claims one module of the diamond and dies holding the claim: before
/// inserting, or after inserting it (as a claimant does: only when the kernel does not have
/// it) but before publishing. Always
/// `true`: its death is not a load to complete.
fn dies_holding_a_claim(loader: &Loader<Arc<SimKernel>>, fate: u64) -> bool {
    let name = MODULES[(fate % MODULES.len() as u64) as usize];
    let shared = loader.shared.as_ref().expect("a shared context");
    let ticket = shared.run_dir().request(name, Duration::from_secs(60));
    if let Ok(modkit_sys::Ticket::Claimant(claim)) = ticket {
        std::thread::sleep(Duration::from_millis(fate % 7));
        // Only modules without dependencies: the others would fail in the model before their
        // dependencies are in, which is not this test's fault.
        let absent = loader.kernel.initstate(name) == Ok(None);
        if (fate >> 8).is_multiple_of(2) && absent && matches!(name, "base" | "lone") {
            let module = loader.lookup(name.as_bytes()).expect("found").remove(0);
            let path = module.path.expect("a file");
            // The kernel's answer is what a survivor's state check will see.
            let _ = Loader::new(
                Database::open(std::path::PathBuf::from("/nonexistent")),
                ModprobeConfig::default(),
                Arc::clone(&loader.kernel),
            )
            .insert_file(&path, b"", Force::default(), &mut |_| {});
        }
        drop(claim);
    }
    true
}
