//! stress-ng --module and kmod.sh 0008/0009 (kernel-loader §11) on the model.

use modkit_sim::workload::{run, Workload};
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
