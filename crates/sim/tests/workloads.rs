//! stress-ng --module and kmod.sh 0008/0009 (kernel-loader §11) on the model.

use modkit_sim::workload::{run, RacerCall, Workload};
use modkit_sim::{Config, Profile, Version};

#[test]
fn stress_ng_module_loads_and_unloads_xfs_repeatedly() {
    let p = Profile::builtin("skylake-sp@6.1").unwrap();
    let w = Workload::StressNg {
        module: "xfs".into(),
        instances: 8,
        ops: 5,
        duration_ns: 2_000_000_000,
    };
    let r12 = run(&p, Config::new(Version::V6_12, 8), &w).unwrap();
    let r61 = run(&p, Config::new(Version::V6_1, 8), &w).unwrap();
    // 6.5+: callers overlapping a successful first loader also get 0 (one shared inode).
    assert!(
        r12.ok > r12.init_runs,
        "shared successes: {} ok, {} inits",
        r12.ok,
        r12.init_runs
    );
    assert!(r61.ok <= r61.init_runs);
    assert!(r61.errnos.get("EEXIST").copied().unwrap_or(0) > 0);
    assert!(r61.peak_vmalloc_delta_kb > r12.peak_vmalloc_delta_kb);
}

#[test]
fn stress_ng_on_compressed_modules_uses_distinct_inodes() {
    let p = Profile::builtin("skylake-sp@6.12").unwrap();
    let w = Workload::StressNg {
        module: "xfs".into(),
        instances: 8,
        ops: 1,
        duration_ns: 500_000_000,
    };
    let r = run(&p, Config::new(Version::V6_12, 8), &w).unwrap();
    assert!(
        r.errnos.get("EEXIST").copied().unwrap_or(0) > 0,
        "no idempotent sharing"
    );
    assert!(r.stats.failed_becoming > 0);
}

#[test]
fn kmod_sh_0009_succeeds_for_every_thread() {
    let p = Profile::builtin("skylake-sp@6.1").unwrap();
    let w = Workload::KmodSh {
        test: 9,
        module: "xfs".into(),
    };
    for v in [Version::V6_1, Version::V6_4, Version::V6_12] {
        let r = run(&p, Config::new(v, 8), &w).unwrap();
        assert_eq!(r.task_failures, 0, "{v}: all 62 threads succeed");
        assert!(
            r.syscalls <= 62 * 2,
            "{v}: at most xfs and libcrc32c per modprobe"
        );
        assert!(r.syscalls >= 2);
    }
}

#[test]
fn kmod_sh_0008_waits_for_request_module_slots() {
    let p = Profile::builtin("skylake-sp@6.12").unwrap();
    let w = Workload::KmodSh {
        test: 8,
        module: "crc32c_generic".into(),
    };
    let r = run(&p, Config::new(Version::V6_12, 8), &w).unwrap();
    assert_eq!(r.task_failures, 0);
    assert!(r.syscalls >= 1 && r.syscalls <= 58);
    let bad = run(
        &p,
        Config::new(Version::V6_12, 8),
        &Workload::KmodSh {
            test: 7,
            module: "xfs".into(),
        },
    );
    assert!(bad.is_err(), "only 0008 and 0009 are modelled");
}

/// The testbed guest's CPU set as the campaign's raw loaders load it (testbed.md).
fn set_storm(n: u32, loaded: &[&str]) -> Workload {
    Workload::CpuSet {
        n,
        copies: false,
        call: RacerCall::Finit(0),
        exec: None,
        loaded: loaded.iter().map(|s| (*s).to_owned()).collect(),
    }
}

#[test]
fn a_cpu_set_storm_loads_the_set_in_order_and_two_inits_fail_under_tcg() {
    let p = Profile::builtin("tcg-haswell@6.1").unwrap();
    assert_eq!(
        p.cpu_set_order()[..3],
        ["intel_uncore", "intel_cstate", "rapl"].map(String::from)
    );
    let one = run(&p, Config::new(Version::V6_1, 4), &set_storm(1, &[])).unwrap();
    assert_eq!((one.syscalls, one.ok), (16, 14));
    assert_eq!(one.errnos.get("ENODEV"), Some(&2), "{:?}", one.errnos);
    // 6.1: each duplicate of a module that loads gets EEXIST; of one whose init fails,
    // EBUSY (it waited) or the failure itself (it came after the module was gone).
    let four = run(&p, Config::new(Version::V6_1, 4), &set_storm(4, &[])).unwrap();
    assert_eq!((four.syscalls, four.ok), (64, 14));
    assert_eq!(four.errnos.get("EEXIST"), Some(&42));
    let failed = four.errnos.get("EBUSY").unwrap_or(&0) + four.errnos.get("ENODEV").unwrap_or(&0);
    assert_eq!(failed, 8);
    assert!(four.peak_vmalloc_delta_kb > 3 * one.peak_vmalloc_delta_kb);
}

#[test]
fn a_pinned_module_left_loaded_answers_eexist_and_the_shared_result_covers_the_rest() {
    let p = Profile::builtin("tcg-haswell@6.12").unwrap();
    assert!(p.module("crct10dif_pclmul").is_some_and(|m| m.pinned));
    let fresh = run(&p, Config::new(Version::V6_12, 4), &set_storm(1, &[])).unwrap();
    assert_eq!((fresh.ok, fresh.errnos.get("EEXIST")), (13, None));
    let w = set_storm(4, &["crct10dif_pclmul"]);
    let r = run(&p, Config::new(Version::V6_12, 4), &w).unwrap();
    // Same inode, flag 4: every loader shares the first one's result (§8.2).
    assert_eq!(r.ok, 48);
    assert_eq!(r.errnos.get("EEXIST"), Some(&4));
    assert_eq!(r.errnos.get("ENODEV"), Some(&8));
    let missing = run(&p, Config::new(Version::V6_12, 4), &set_storm(1, &["nope"]));
    assert!(missing
        .unwrap_err()
        .to_string()
        .contains("no module 'nope'"));
}

#[test]
fn self_test_threads_hold_their_stacks_past_the_load_and_then_free_them() {
    let with = Profile::builtin("tcg-haswell@6.12").unwrap();
    assert_eq!(with.module("aesni_intel").unwrap().init_threads, 19);
    let mut without = with.clone();
    for m in &mut without.modules {
        m.init_threads = 0;
    }
    let w = Workload::CpuSet {
        n: 1,
        copies: false,
        call: RacerCall::Finit(4),
        exec: None,
        loaded: Vec::new(),
    };
    let cfg = || Config::new(Version::V6_12, 4);
    let (a, b) = (
        run(&with, cfg(), &w).unwrap(),
        run(&without, cfg(), &w).unwrap(),
    );
    // The next module's xz dictionary comes while the 19 stacks are still allocated: the
    // peak moves there, above the one at the last module without them, by at most them.
    let stacks = 19 * 16;
    assert!(a.peak_vmalloc_delta_kb > b.peak_vmalloc_delta_kb, "{a:?}");
    assert!(
        a.peak_vmalloc_delta_kb <= b.peak_vmalloc_delta_kb + stacks,
        "{a:?}"
    );
    // The threads exit: nothing is left behind, and the loads' outcome is unchanged.
    assert_eq!(a.end_vmalloc_delta_kb, b.end_vmalloc_delta_kb);
    assert_eq!((a.ok, &a.errnos), (b.ok, &b.errnos));
    // Stacks outlive the load by `thread_exit_ns`: with 0 they are gone before the next
    // module's dictionary, and only aesni-intel's own load sees them.
    let mut quick = cfg();
    quick.timing.thread_exit_ns = 0;
    let c = run(&with, quick, &w).unwrap();
    assert!(c.peak_vmalloc_delta_kb < a.peak_vmalloc_delta_kb, "{c:?}");
}
