//! The outcome matrix of kernel-loader §4.4, the stats.c bumps of §7.3 and module-area
//! exhaustion, on xfs racers and storms.

use modkit_sim::workload::{run, RacerCall, Report, Workload};
use modkit_sim::{Config, Profile, Version};

fn racer(n: u32, copies: bool, flags: u32) -> Workload {
    Workload::Racer {
        module: "xfs".into(),
        n,
        copies,
        call: RacerCall::Finit(flags),
        decompressed: false,
        first_fails: false,
        exec: None,
        signal_at: None,
    }
}

fn run_on(version: Version, profile: &Profile, w: &Workload) -> Report {
    run(profile, Config::new(version, 4), w).expect("workload runs")
}

/// The 6.1 tree's profile with xfs's `init` failing with -ENODEV.
fn failing_init() -> Profile {
    let mut p = Profile::builtin("skylake-sp@6.1").unwrap();
    p.modules
        .iter_mut()
        .find(|m| m.name == "xfs")
        .unwrap()
        .init_errno = Some("ENODEV".into());
    p
}

fn count(r: &Report, errno: &str) -> u64 {
    r.errnos.get(errno).copied().unwrap_or(0)
}

#[test]
fn vanilla_6_1_waiters_retry_a_failing_load_themselves() {
    let r = run_on(Version::V6_1_0, &failing_init(), &racer(8, false, 0));
    assert_eq!(r.init_runs, 8, "every waiter loads (and fails) in turn");
    assert_eq!(count(&r, "ENODEV"), 8);
}

#[test]
fn stable_6_1_waiters_get_ebusy_when_init_fails() {
    let r = run_on(Version::V6_1, &failing_init(), &racer(8, false, 0));
    assert_eq!(count(&r, "ENODEV"), r.init_runs);
    assert_eq!(count(&r, "EBUSY") + count(&r, "ENODEV"), 8);
    assert!(count(&r, "EBUSY") >= 1);
    assert_eq!(r.stats.failed_becoming, 0, "6.1 has no early check");
}

#[test]
fn the_6_4_early_check_catches_duplicates_before_the_image() {
    let p = Profile::builtin("skylake-sp@6.1").unwrap();
    let r61 = run_on(Version::V6_1, &p, &racer(8, false, 0));
    let r64 = run_on(Version::V6_4, &p, &racer(8, false, 0));
    assert_eq!((r64.ok, count(&r64, "EEXIST")), (1, 7));
    assert!(
        r64.layouts < r61.layouts,
        "6.4 allocates fewer images than 6.1"
    );
    assert_eq!(r64.stats.failed_becoming + r64.stats.failed_load_modules, 7);
    // 6.1's would-be counters: every duplicate is caught at add_unformed_module.
    assert_eq!(r61.stats.failed_load_modules, 7);
    assert_eq!(r61.stats.invalid_mod_bytes, 7 * 2 * 4_215_096);
}

#[test]
fn idempotent_waiters_share_the_first_result() {
    let p = failing_init();
    let r = run_on(Version::V6_12, &p, &racer(8, false, 0));
    assert_eq!((count(&r, "ENODEV"), r.init_runs), (8, 1));
    assert_eq!(
        r.stats.dup_failed.len(),
        0,
        "idempotent waiters are not counted"
    );
    let ok = run_on(
        Version::V6_5,
        &Profile::builtin("skylake-sp@6.1").unwrap(),
        &racer(8, false, 0),
    );
    assert_eq!(ok.ok, 8);
}

#[test]
fn distinct_inodes_fall_back_to_the_6_4_path_with_the_residual_race() {
    let p = Profile::builtin("skylake-sp@6.12").unwrap();
    let r = run_on(Version::V6_12, &p, &racer(4, true, 4));
    assert_eq!((r.ok, count(&r, "EEXIST")), (1, 3));
    assert_eq!(
        r.layouts, 2,
        "one duplicate passed L4 before the first reached L6"
    );
    let dup = &r.stats.dup_failed[0];
    assert_eq!(
        (dup.name.as_str(), dup.count, dup.becoming, dup.load),
        ("xfs", 3, true, true)
    );
    let text = r.stats.render();
    assert!(text.contains(&format!(
        "{:>25}\t{:>15}\t{:>25}\n",
        "xfs", 3, "Becoming & Load"
    )));
    assert!(text.starts_with("         Mods ever loaded\t1\n"));
}

#[test]
fn exclusive_read_of_6_4_rc4_fails_concurrent_readers_with_etxtbsy() {
    let p = Profile::builtin("skylake-sp@6.1").unwrap();
    let r = run_on(Version::V6_4Rc4, &p, &racer(8, false, 0));
    assert!(count(&r, "ETXTBSY") > 0);
    assert_eq!(r.stats.failed_kreads, count(&r, "ETXTBSY"));
    let distinct = run_on(Version::V6_4Rc4, &p, &racer(8, true, 0));
    assert_eq!(count(&distinct, "ETXTBSY"), 0, "copies are other inodes");
}

#[test]
fn compressed_files_need_flag_4_and_a_decompressing_kernel() {
    let p = Profile::builtin("skylake-sp@6.12").unwrap();
    let r = run_on(Version::V6_12, &p, &racer(1, false, 0));
    assert_eq!(count(&r, "ENOEXEC"), 1, "Invalid ELF header magic");
    let r = run_on(Version::V6_1, &p, &racer(1, false, 4));
    assert_eq!(count(&r, "EOPNOTSUPP"), 1);
}

#[test]
fn the_page_list_proposal_keeps_duplicates_out_of_vmalloc() {
    let p = Profile::builtin("skylake-sp@6.12").unwrap();
    let r12 = run_on(Version::V6_12, &p, &racer(16, true, 4));
    let rpl = run_on(Version::PageList, &p, &racer(16, true, 4));
    assert_eq!((rpl.ok, count(&rpl, "EEXIST")), (1, 15));
    // The compressed read buffers are pages now; only the xz dictionaries stay vmalloc.
    let c = modkit_sim::memory::vmalloc_pages(p.module("xfs").unwrap().file_size) * 4;
    assert_eq!(
        rpl.peak_vmalloc_delta_kb,
        r12.peak_vmalloc_delta_kb - 16 * c
    );
    assert_eq!(rpl.peak_vmalloc_delta_kb, 16 * 1024);
}

#[test]
fn kread_dedup_removes_the_duplicate_reads() {
    let p = Profile::builtin("skylake-sp@6.1").unwrap();
    let r = run_on(Version::KreadDedup, &p, &racer(16, false, 0));
    let r64 = run_on(Version::V6_4, &p, &racer(16, false, 0));
    let r612 = run_on(Version::V6_12, &p, &racer(16, false, 0));
    assert_eq!(
        (r.ok, count(&r, "EEXIST")),
        (1, 15),
        "waiters see the module LIVE"
    );
    assert_eq!(
        r.peak_vmalloc_delta_kb, r612.peak_vmalloc_delta_kb,
        "one read buffer, one image"
    );
    assert!(r64.peak_vmalloc_delta_kb > 10 * r.peak_vmalloc_delta_kb);
}

#[test]
fn the_rox_cache_carves_text_from_2_mib_blocks() {
    let p = Profile::builtin("skylake-sp@6.12").unwrap();
    // libcrc32c (preloaded) populated a block; xfs's text is carved from it.
    let r = run_on(Version::V6_15, &p, &racer(1, false, 4));
    let r12 = run_on(Version::V6_12, &p, &racer(1, false, 4));
    assert!(r.peak_vmalloc_delta_kb < r12.peak_vmalloc_delta_kb);
    assert!(r.direct_map_splits <= r12.direct_map_splits);
    // Without a warm cache the first text costs a whole 2 MiB block.
    let mut cold = Config::new(Version::V6_15, 4);
    cold.rox_enabled = true;
    let first = run(
        &p,
        cold,
        &Workload::Racer {
            module: "libcrc32c".into(),
            n: 1,
            copies: false,
            call: RacerCall::Finit(4),
            decompressed: false,
            first_fails: false,
            exec: None,
            signal_at: None,
        },
    )
    .unwrap();
    assert!(first.peak_vmalloc_delta_kb >= 2048);
}

#[test]
fn an_exhausted_module_area_fails_loads_with_enomem() {
    let p = Profile::builtin("skylake-sp@6.1").unwrap();
    let mut cfg = Config::new(Version::V6_1, 4);
    cfg.kaslr = true;
    let big = Workload::Racer {
        module: "xfs".into(),
        n: 600,
        copies: false,
        call: RacerCall::Finit(0),
        decompressed: false,
        first_fails: false,
        exec: None,
        signal_at: None,
    };
    cfg.timing.stagger_ns = 10_000;
    let r = run(&p, cfg, &big).unwrap();
    assert!(r.enomem > 0, "600 × 2.4 MiB images exceed 1008 MiB");
    assert_eq!(count(&r, "ENOMEM"), r.enomem);
    assert!(r.peak_module_area_bytes <= r.module_area_capacity);
    assert_eq!(r.ok, 1);
}

#[test]
fn coldplug_of_a_big_machine_duplicates_on_6_1_and_not_on_6_12() {
    let p = Profile::builtin("skylake-sp@6.1").unwrap();
    let storm = Workload::Coldplug {
        userspace: modkit_sim::workload::Userspace::Kmod30,
    };
    let r61 = run(&p, Config::new(Version::V6_1, 64), &storm).unwrap();
    let r612 = run(&p, Config::new(Version::V6_12, 64), &storm).unwrap();
    assert!(r61.stats.wasted_bytes() > 10 * r612.stats.wasted_bytes());
    assert!(r61.peak_vmalloc_delta_kb > 10 * r612.peak_vmalloc_delta_kb);
    // acpi_cpufreq's init fails (intel_pstate), so every CPU event loads it again.
    let acpi = &r61.per_module["acpi_cpufreq"];
    assert!(acpi.get("EEXIST").copied().unwrap_or(0) > 0);
}

fn signalled(version: Version, profile: &str, flags: u32) -> Report {
    let p = Profile::builtin(profile).unwrap();
    let w = Workload::Racer {
        module: "xfs".into(),
        n: 4,
        copies: false,
        call: RacerCall::Finit(flags),
        decompressed: false,
        first_fails: false,
        exec: None,
        // 70 ms: every duplicate is asleep, the first loader is still loading.
        signal_at: Some(70_000_000),
    };
    run(&p, Config::new(version, 4), &w).unwrap()
}

#[test]
fn a_signal_wakes_sleeping_duplicates_per_version() {
    for v in [Version::V6_1, Version::V6_4] {
        let r = signalled(v, "skylake-sp@6.1", 0);
        assert_eq!((r.ok, count(&r, "ERESTARTSYS")), (1, 3), "{v}");
        assert!(
            r.stats.dup_failed.is_empty(),
            "{v}: no try_add_failed_module on the signal path"
        );
    }
    let r = signalled(Version::V6_5, "skylake-sp@6.12", 4);
    assert_eq!(r.ok, 4, "6.5-6.10: the idempotent wait is uninterruptible");
    let r = signalled(Version::V6_12, "skylake-sp@6.12", 4);
    assert_eq!((r.ok, count(&r, "EINTR")), (1, 3), "6.11+: -EINTR");
}

/// What a duplicate wastes splits into the kernel's copy of the file (read buffer) and the
/// module layout: 6.1 pays both, 6.4 the read only, 6.12's shared `finit_module` nothing.
#[test]
fn wasted_bytes_split_into_read_buffers_and_layouts() {
    let p = Profile::builtin("skylake-sp@6.1").unwrap();
    let file = p
        .modules
        .iter()
        .find(|m| m.name == "xfs")
        .unwrap()
        .file_size;
    let read = |r: &Report| r.wasted_alloc_bytes - r.wasted_layout_bytes;
    let r61 = run_on(Version::V6_1, &p, &racer(2, false, 0));
    let r64 = run_on(Version::V6_4, &p, &racer(2, false, 0));
    let r612 = run_on(Version::V6_12, &p, &racer(2, false, 0));
    for r in [&r61, &r64] {
        assert!(
            read(r) >= file && read(r) < file + (64 << 10),
            "one read buffer of {file} bytes: {}",
            read(r)
        );
    }
    assert!(
        r61.wasted_layout_bytes > 2 << 20,
        "6.1 allocates xfs's whole layout for the duplicate: {}",
        r61.wasted_layout_bytes
    );
    assert_eq!(r64.wasted_layout_bytes, 0, "6.4 checks before the layout");
    assert_eq!(
        (r612.wasted_alloc_bytes, r612.wasted_layout_bytes),
        (0, 0),
        "6.12 shares the first finit_module's result"
    );
}

/// The testbed's vCPU stalls lengthen calls but leave what the kernel decides alone where
/// timing does not decide it, and they draw from their own stream: stalls that never hit
/// leave a seeded run exactly as it was.
#[test]
fn vcpu_stalls_delay_calls_without_changing_untimed_outcomes() {
    let p = Profile::builtin("skylake-sp@6.1").unwrap();
    let w = racer(8, false, 0);
    let mut calm = Config::new(Version::V6_1, 4);
    calm.seed = 3;
    let mut stalled = calm.clone();
    stalled.stalls = Some(modkit_sim::Stalls {
        every_ns: 1_000_000,
        mean_ns: 50_000_000,
    });
    let (a, b) = (run(&p, calm, &w).unwrap(), run(&p, stalled, &w).unwrap());
    assert_eq!(
        (a.ok, &a.errnos),
        (b.ok, &b.errnos),
        "1 load, 7 EEXIST either way"
    );
    assert!(
        b.median_call_ms > a.median_call_ms + 10.0,
        "stalled calls take longer: {} vs {} ms",
        b.median_call_ms,
        a.median_call_ms
    );
    assert!(b.end_ms > a.end_ms);
    assert_eq!(a.end_vmalloc_delta_kb, b.end_vmalloc_delta_kb);

    let mut never = Config::new(Version::V6_1, 4);
    never.seed = 3;
    never.stalls = Some(modkit_sim::Stalls {
        every_ns: u64::MAX,
        mean_ns: 50_000_000,
    });
    let c = run(&p, never, &w).unwrap();
    assert_eq!(
        (c.end_ms, c.peak_vmalloc_delta_kb, c.peak_module_area_bytes),
        (a.end_ms, a.peak_vmalloc_delta_kb, a.peak_module_area_bytes)
    );
}

/// 6.12 `init_module` calls of `module`, whose `init` fails with -ENODEV, starting at
/// `starts` (ns): each call's result and when it returned.
fn failing_init_calls(module: &str, starts: &[u64]) -> Vec<(Result<(), modkit_sim::Errno>, u64)> {
    use modkit_sim::engine::{Engine, SimModule, Syscall};
    let profile = Profile::builtin("skylake-sp@6.1").unwrap();
    let mut facts = profile.module(module).unwrap().clone();
    facts.init_errno = Some("ENODEV".into());
    let mut eng = Engine::new(Config::new(Version::V6_12, 4));
    let failing = eng.add_module(SimModule::new(&facts, Version::V6_12.generation()));
    for (task, &at) in starts.iter().enumerate() {
        eng.wake_task_at(task, at);
    }
    let mut out = vec![None; starts.len()];
    loop {
        let (done, due) = eng.run_until_idle_or(u64::MAX);
        if done.is_empty() && due.is_empty() {
            break;
        }
        for task in due {
            eng.syscall(task, Syscall::Init { module: failing });
        }
        for c in done {
            out[c.task] = Some((c.result, eng.now()));
        }
    }
    out.into_iter()
        .map(|o| o.expect("every call returns"))
        .collect()
}

/// A failing `init`'s teardown (kernel-loader §2.2 item 4): GOING and a grace period
/// (arrivals get -EBUSY at once), then `free_module()` takes the module off the list
/// under `module_mutex` and holds it across another grace period (arrivals block, then
/// find nothing and load the module themselves), and only after the frees does
/// `wake_up_all()` release the waiters, who wait on for such a new instance.
#[test]
fn a_failing_init_s_teardown_turns_arrivals_away_then_lets_them_load() {
    use modkit_sim::Errno;
    let (_, first_returns) = failing_init_calls("xfs", &[0])[0];
    let mut regimes = Vec::new();
    for step in 0..=(first_returns / 100_000) {
        let at = step * 100_000;
        let calls = failing_init_calls("xfs", &[0, at]);
        assert_eq!(calls[0], (Err(Errno::ENODEV), first_returns), "at {at}");
        let regime = match calls[1] {
            (Err(Errno::EBUSY), t) if t > first_returns => "waited",
            (Err(Errno::EBUSY), _) => "turned away",
            (Err(Errno::ENODEV), _) => "loaded itself",
            other => panic!("a second call at {at} ns: {other:?}"),
        };
        if regimes.last() != Some(&regime) {
            regimes.push(regime);
        }
    }
    assert_eq!(regimes, ["waited", "turned away", "loaded itself"]);

    // A waiter and a caller that loads the module anew: the waiter, woken by the first
    // teardown, finds the new instance and waits for its failure too (a small module,
    // whose new image is copied before the first teardown's frees end).
    let (_, first_returns) = failing_init_calls("crc32c_generic", &[0])[0];
    let late = (1..first_returns / 50_000)
        .map(|s| s * 50_000)
        .find(|&at| failing_init_calls("crc32c_generic", &[0, at])[1].0 == Err(Errno::ENODEV))
        .expect("a call that loads anew before the first returns");
    let calls = failing_init_calls("crc32c_generic", &[0, 200_000, late]);
    assert_eq!(calls[2].0, Err(Errno::ENODEV));
    assert_eq!(calls[1].0, Err(Errno::EBUSY));
    assert!(
        calls[1].1 >= calls[2].1,
        "the waiter returns after the second load's failure: {calls:?}"
    );
}

/// How far the last of `n` xfs racers entered its first call behind the one before it, ms,
/// averaged over seeds 1–16, with the testbed's late wake-ups or without.
fn last_racer_lag_ms(version: Version, n: u32, overcommit: bool) -> f64 {
    let p = Profile::builtin("skylake-sp@6.1").unwrap();
    let lags: Vec<f64> = (1..=16)
        .map(|seed| {
            let mut cfg = Config::new(version, 4);
            cfg.seed = seed;
            cfg.overcommit = overcommit.then_some(modkit_sim::Overcommit::TESTBED);
            let mut starts = run(&p, cfg, &racer(n, false, 0)).unwrap().first_call_ms;
            assert_eq!(starts.len(), n as usize, "every racer made a call");
            starts.sort_by(f64::total_cmp);
            starts[n as usize - 1] - starts[n as usize - 2]
        })
        .collect();
    lags.iter().sum::<f64>() / lags.len() as f64
}

/// The testbed guest's late wake-ups (`Config::overcommit`): 4 vCPUs, one always taken by
/// the sampler. Two racers never wait; the 4th of 4 does, until its turn comes or a racer
/// that sleeps gives a vCPU up. On 6.1 the first three read and lay out all of xfs before
/// they sleep, so the 4th waits its turn; on 6.12 the duplicates sleep at once on the
/// first's inode and the 4th runs straight away — as in the guest's call times
/// (testbed/call-times.json: the last of 4 late by 5–87 ms on 6.1, 1–8 ms on 6.12 `finit`).
#[test]
fn a_loader_woken_while_the_vcpus_are_taken_waits_for_one() {
    let turn_ms = modkit_sim::Overcommit::TESTBED.mean_ns as f64 / 1e6;
    let v61 = Version::V6_1;
    assert_eq!(
        last_racer_lag_ms(v61, 2, true),
        last_racer_lag_ms(v61, 2, false),
        "2 racers and the sampler fit on 4 vCPUs"
    );
    let (calm, late) = (
        last_racer_lag_ms(v61, 4, false),
        last_racer_lag_ms(v61, 4, true),
    );
    assert!(
        late > calm + 0.6 * turn_ms,
        "6.1: the 4th waits its turn ({calm:.2} → {late:.2} ms)"
    );
    let v612 = last_racer_lag_ms(Version::V6_12, 4, true);
    assert!(
        v612 < calm + 0.2 * turn_ms,
        "6.12: the duplicates sleep, the 4th does not wait ({v612:.2} ms against {calm:.2})"
    );
}

/// With CPU contention a woken task's vCPU is taken as long as the work it runs is in the
/// processors' queue, however far sharing stretches it: the 4th of 4 xfs racers on 6.1
/// (whose turn never comes) starts once one of the first three goes to sleep, later on 3
/// shared processors than on 64 — not when the first piece of work's unshared length has
/// passed.
#[test]
fn a_vcpu_stays_taken_while_its_work_is_shared() {
    let lag = |processors: u32| {
        let p = Profile::builtin("skylake-sp@6.1").unwrap();
        let mut cfg = Config::new(Version::V6_1, 4);
        cfg.timing.jitter = 0.0;
        cfg.overcommit = Some(modkit_sim::Overcommit {
            mean_ns: 1_000_000_000_000,
            ..modkit_sim::Overcommit::TESTBED
        });
        cfg.contention = Some(modkit_sim::Contention {
            processors,
            user_processors: processors,
            background: 1,
        });
        let mut starts = run(&p, cfg, &racer(4, false, 0)).unwrap().first_call_ms;
        starts.sort_by(f64::total_cmp);
        starts[3] - starts[2]
    };
    let (shared, plenty) = (lag(3), lag(64));
    assert!(
        plenty > 1.0 && shared > 1.2 * plenty,
        "the 4th racer starts {shared:.2} ms after the 3rd on 3 processors, {plenty:.2} on 64"
    );
}

/// L1 verifies the signature with the key's algorithm: a lone load of xfs takes
/// `rsa_verify_ns` longer signed with RSA than unsigned, `ecdsa_verify_ns` longer with
/// ECDSA (Debian's 6.1 and 6.12 modules; testbed/phases.json).
#[test]
fn the_signature_s_algorithm_sets_what_verifying_it_costs() {
    let lone = |algo: Option<&str>| {
        let mut p = Profile::builtin("skylake-sp@6.1").unwrap();
        let xfs = p.modules.iter_mut().find(|m| m.name == "xfs").unwrap();
        assert_eq!(
            xfs.pkey_algo.as_deref(),
            Some("rsa"),
            "Debian 6.1 signs with RSA"
        );
        xfs.pkey_algo = algo.map(str::to_owned);
        let mut cfg = Config::new(Version::V6_12, 4);
        cfg.timing.jitter = 0.0;
        let r = run(&p, cfg, &racer(1, false, 0)).expect("runs");
        assert_eq!(r.ok, 1);
        (r.median_call_ms * 1e6).round() as u64
    };
    let t = modkit_sim::Timing::default();
    let unsigned = lone(None);
    assert_eq!(lone(Some("rsa")) - unsigned, t.rsa_verify_ns);
    assert_eq!(lone(Some("ecdsa")) - unsigned, t.ecdsa_verify_ns);
}

/// An exec'd modprobe reaches its first call `Timing::modprobe_start_ns` later (exec,
/// libkmod's context and lookups, as CPU work); udev's workers load in-process and start
/// at once.
#[test]
fn an_exec_d_modprobe_starts_before_its_first_call_and_udev_s_workers_do_not() {
    let p = Profile::builtin("skylake-sp@6.1").unwrap();
    let first_calls = |w: &Workload, start_ns: u64| {
        let mut cfg = Config::new(Version::V6_1, 4);
        cfg.timing.jitter = 0.0;
        cfg.timing.modprobe_start_ns = start_ns;
        run(&p, cfg, w).unwrap().first_call_ms
    };
    let mut modprobe = racer(1, false, 0);
    if let Workload::Racer { exec, .. } = &mut modprobe {
        *exec = Some(modkit_sim::workload::Userspace::Kmod31);
    }
    let start_ms = modkit_sim::Timing::default().modprobe_start_ns as f64 / 1e6;
    let (with, without) = (
        first_calls(&modprobe, modkit_sim::Timing::default().modprobe_start_ns),
        first_calls(&modprobe, 0),
    );
    assert!(
        (with[0] - without[0] - start_ms).abs() < 1e-6,
        "the first call at {with:?} ms with a start of {start_ms} ms, {without:?} without"
    );
    let coldplug = Workload::Coldplug {
        userspace: modkit_sim::workload::Userspace::Kmod31,
    };
    assert_eq!(
        first_calls(&coldplug, 50_000_000),
        first_calls(&coldplug, 0),
        "udev's workers do not exec modprobe"
    );
}
