//! CPU contention (`Config::contention`, crate `cpu`): processors shared by every piece of
//! CPU work of a run. Enough processors change nothing; fewer stretch a storm without
//! changing what a deterministic race returns; and, as docs/model.md §3.1 reports, sharing
//! the testbed guest's processors does not spread the CPU-set loaders the way the guest
//! did.

use modkit_sim::workload::{run, RacerCall, Report, Workload};
use modkit_sim::{Config, Contention, Profile, Version};

fn racer(module: &str, n: u32, copies: bool, call: RacerCall) -> Workload {
    Workload::Racer {
        module: module.into(),
        n,
        copies,
        call,
        decompressed: false,
        first_fails: false,
        exec: None,
        signal_at: None,
    }
}

fn cpu_set(n: u32, copies: bool) -> Workload {
    Workload::CpuSet {
        n,
        copies,
        call: RacerCall::Finit(0),
        exec: None,
        loaded: Vec::new(),
    }
}

fn with(version: Version, contention: Option<Contention>) -> Config {
    let mut cfg = Config::new(version, 4);
    cfg.contention = contention;
    cfg
}

/// The testbed's guest as the validation has it: 3 processors of lone-load speed (4 vCPUs
/// as host threads on 2 host cores), one tight-loop sampler.
const TESTBED: Contention = Contention::TESTBED;

fn outcome(r: &Report) -> (u64, Vec<(String, u64)>, u64, u64) {
    let errnos = r.errnos.iter().map(|(k, &v)| (k.clone(), v)).collect();
    (
        r.ok,
        errnos,
        r.peak_vmalloc_delta_kb,
        (r.end_ms * 1e6) as u64,
    )
}

#[test]
fn enough_processors_change_nothing() {
    let p = Profile::builtin("tcg-haswell@6.12").unwrap();
    let plenty = Some(Contention {
        processors: 64,
        user_processors: 64,
        background: 1,
    });
    for w in [
        racer("xfs", 16, true, RacerCall::Finit(4)),
        cpu_set(8, true),
    ] {
        let free = run(&p, with(Version::V6_12, None), &w).unwrap();
        let shared = run(&p, with(Version::V6_12, plenty), &w).unwrap();
        assert_eq!(outcome(&free), outcome(&shared), "{w:?}");
    }
}

#[test]
fn a_lone_loader_beside_the_sampler_runs_at_full_speed() {
    let p = Profile::builtin("skylake-sp@6.1").unwrap();
    let w = racer("xfs", 1, false, RacerCall::Finit(0));
    let free = run(&p, with(Version::V6_1, None), &w).unwrap();
    let shared = run(&p, with(Version::V6_1, Some(TESTBED)), &w).unwrap();
    assert_eq!(outcome(&free), outcome(&shared));
}

#[test]
fn contended_processors_stretch_a_storm_deterministically() {
    let p = Profile::builtin("skylake-sp@6.1").unwrap();
    let w = racer("xfs", 8, false, RacerCall::Finit(0));
    let free = run(&p, with(Version::V6_1, None), &w).unwrap();
    let one = Some(Contention {
        processors: 1,
        user_processors: 1,
        background: 1,
    });
    let shared = run(&p, with(Version::V6_1, one), &w).unwrap();
    let again = run(&p, with(Version::V6_1, one), &w).unwrap();
    assert_eq!(outcome(&shared), outcome(&again), "deterministic");
    // 6.1: every loader still allocates its image before the first is LIVE.
    assert_eq!((shared.ok, shared.errnos.get("EEXIST")), (1, Some(&7)));
    assert_eq!(shared.peak_vmalloc_delta_kb, free.peak_vmalloc_delta_kb);
    // Nine runnable tasks on one processor: the storm takes several times as long.
    assert!(
        shared.end_ms > 3.0 * free.end_ms,
        "{} ms shared vs {} ms alone",
        shared.end_ms,
        free.end_ms
    );
}

#[test]
fn user_space_work_shares_the_processors_too() {
    // kmod 30 decompresses xfs in user space before init_module: with one processor for
    // four modprobes and the sampler, that work alone takes five times as long.
    let p = Profile::builtin("skylake-sp@6.12").unwrap();
    let mut w = racer("xfs", 4, false, RacerCall::Init);
    if let Workload::Racer { exec, .. } = &mut w {
        *exec = Some(modkit_sim::workload::Userspace::Kmod30);
    }
    let free = run(&p, with(Version::V6_12, None), &w).unwrap();
    let one = Some(Contention {
        processors: 1,
        user_processors: 1,
        background: 1,
    });
    let shared = run(&p, with(Version::V6_12, one), &w).unwrap();
    assert_eq!(shared.ok, 1);
    assert!(shared.end_ms > 2.0 * free.end_ms);
}

#[test]
fn the_testbed_s_processors_do_not_spread_the_cpu_set_loaders() {
    // The guest's 6.12 CPU-set storm on copies at N = 4 had 5 loaders run into the failing
    // inits of intel_uncore and intel_cstate themselves (ENODEV=5, EBUSY=3). Sharing the
    // processors keeps the loaders in step (they all progress at the same rate), so the
    // model still has one ENODEV per failing module: contention is not what spread them.
    let p = Profile::builtin("tcg-haswell@6.12").unwrap();
    for seed in 1..=4 {
        let mut cfg = with(Version::V6_12, Some(TESTBED));
        cfg.seed = seed;
        let r = run(&p, cfg, &cpu_set(4, true)).unwrap();
        assert_eq!(
            r.errnos.get("ENODEV"),
            Some(&2),
            "seed {seed}: {:?}",
            r.errnos
        );
        assert_eq!(
            r.errnos.get("EBUSY"),
            Some(&6),
            "seed {seed}: {:?}",
            r.errnos
        );
    }
}
