//! The shared loading context against the kernel model: 256 concurrent requesters (threads,
//! each with its own loader and its own claim descriptors, which is all a process would
//! add) ask for a module set with shared dependencies, on the model of Debian's 6.1 kernel,
//! which has no de-duplication of its own.

use modkit_config::ModprobeConfig;
use modkit_depmod::database::Database;
use modkit_loader::probe::ProbeOptions;
use modkit_loader::shared::Shared;
use modkit_loader::Loader;
use modkit_sim::{Config, Profile, Report, SimKernel, Version};
use modkit_sys::{InitState, Kernel};
use std::path::Path;
use std::sync::{Arc, Barrier};

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
