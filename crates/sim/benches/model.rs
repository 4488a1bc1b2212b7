//! Benchmarks of the model (`cargo bench -p modkit-sim`, or `cargo xtask bench --model
//! --write` to record them in docs/benchmarks.md): a 448-CPU coldplug storm on the largest
//! profile for every version (target: under 100 ms each; the median of 5 runs), and the
//! whole sweep of CPU counts 1..512 over all versions (target: under 10 s). They report,
//! they do not fail: timings depend on the machine.

use modkit_sim::sweep::{sweep, SweepOptions};
use modkit_sim::workload::{run, Userspace, Workload};
use modkit_sim::{Config, Profile, Version};
use std::time::Instant;

/// Runs of each storm; the median is reported.
const RUNS: usize = 5;

fn main() {
    let largest = Profile::builtin_names()
        .into_iter()
        .filter_map(|n| Profile::builtin(n).ok())
        .max_by_key(|p| p.modules.len())
        .expect("profiles are compiled in");
    println!(
        "448-CPU coldplug storm on {} ({} modules), median of {RUNS} runs:",
        largest.id(),
        largest.modules.len()
    );
    let storm = Workload::Coldplug {
        userspace: Userspace::for_tree(&largest.tree),
    };
    for v in Version::ALL {
        let mut times = Vec::new();
        let mut syscalls = 0;
        for _ in 0..RUNS {
            let t = Instant::now();
            let r = run(&largest, Config::new(v, 448), &storm).expect("storm runs");
            times.push(t.elapsed().as_secs_f64() * 1e3);
            syscalls = r.syscalls;
        }
        times.sort_by(f64::total_cmp);
        let median = times[RUNS / 2];
        println!(
            "  {:<12} {:>8.1} ms  (fastest {:.1} ms; {} syscalls, {} events){}",
            v.label(),
            median,
            times[0],
            syscalls,
            448 * largest.events.len(),
            if median < 100.0 {
                ""
            } else {
                "  SLOWER THAN 100 ms"
            }
        );
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let o = SweepOptions {
        threads,
        ..SweepOptions::default()
    };
    let t = Instant::now();
    let s = sweep(&largest, &o).expect("sweep runs");
    let secs = t.elapsed().as_secs_f64();
    println!(
        "sweep: {} storms ({} versions × {} CPU counts, 1..512) on {threads} threads in {secs:.2} s{}",
        s.points.len(),
        o.versions.len(),
        o.cpus.len(),
        if secs < 10.0 { "" } else { "  SLOWER THAN 10 s" }
    );
}
