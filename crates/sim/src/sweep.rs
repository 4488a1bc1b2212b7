//! CPU-count sweeps across versions: one udev coldplug storm per (version, CPU count),
//! reduced to what the README's plot shows — kernel memory wasted by duplicate loads, by
//! stats.c's own accounting and by real peak `VmallocUsed` — and the CPU count at which
//! the module area runs out. Runs are independent, so they are spread over threads.

use crate::config::Config;
use crate::profile::Profile;
use crate::version::Version;
use crate::workload::{self, Report, Userspace, Workload, WorkloadError};
use serde::Serialize;

/// The default CPU counts: 1 to 512, denser where the curves bend.
pub const DEFAULT_CPUS: [u32; 24] = [
    1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448,
    480, 512,
];

/// One storm of the sweep.
#[derive(Clone, Debug, Serialize)]
pub struct Point {
    pub version: String,
    pub cpus: u32,
    /// stats.c "Virtual mem wasted bytes".
    pub stats_wasted_bytes: u64,
    /// vmalloc-class bytes allocated by calls that loaded nothing.
    pub real_wasted_bytes: u64,
    /// Peak `VmallocUsed` above the baseline, KiB.
    pub peak_vmalloc_kb: u64,
    /// Peak `VmallocUsed` above what one CPU's storm needs: the duplicates' cost, KiB.
    pub peak_excess_kb: u64,
    pub peak_module_area_bytes: u64,
    pub enomem: u64,
    pub syscalls: u64,
    pub init_runs: u64,
    pub images: u64,
    pub end_ms: f64,
}

/// A whole sweep.
#[derive(Clone, Debug, Serialize)]
pub struct Sweep {
    pub profile: String,
    pub kasan: bool,
    pub smt: bool,
    pub points: Vec<Point>,
    /// Per version, the smallest CPU count whose storm hit -ENOMEM (module area full).
    pub exhaustion: Vec<(String, Option<u32>)>,
}

/// The machine options of a sweep.
#[derive(Clone, Debug)]
pub struct SweepOptions {
    pub versions: Vec<Version>,
    pub cpus: Vec<u32>,
    pub kasan: bool,
    /// With KASAN: how much larger instrumented module images are (a model parameter).
    pub kasan_factor: f64,
    pub smt: bool,
    pub seed: u64,
    pub userspace: Option<Userspace>,
    /// Threads to use (≥ 1).
    pub threads: usize,
}

impl Default for SweepOptions {
    fn default() -> SweepOptions {
        SweepOptions {
            versions: Version::ALL.to_vec(),
            cpus: DEFAULT_CPUS.to_vec(),
            kasan: false,
            kasan_factor: 1.0,
            smt: true,
            seed: 1,
            userspace: None,
            threads: 1,
        }
    }
}

fn storm(
    profile: &Profile,
    o: &SweepOptions,
    v: Version,
    cpus: u32,
) -> Result<Report, WorkloadError> {
    let mut cfg = Config::new(v, cpus);
    cfg.kasan = o.kasan;
    cfg.kasan_factor = o.kasan_factor;
    cfg.smt = o.smt;
    cfg.seed = o.seed;
    let userspace = o.userspace.unwrap_or(Userspace::for_tree(&profile.tree));
    workload::run(profile, cfg, &Workload::Coldplug { userspace })
}

/// Runs every (version, CPU count) storm.
pub fn sweep(profile: &Profile, o: &SweepOptions) -> Result<Sweep, WorkloadError> {
    let jobs: Vec<(Version, u32)> = o
        .versions
        .iter()
        .flat_map(|&v| o.cpus.iter().map(move |&c| (v, c)))
        .collect();
    let threads = o.threads.max(1).min(jobs.len().max(1));
    let chunk = jobs.len().div_ceil(threads).max(1);
    let results: Vec<Result<Vec<Report>, WorkloadError>> = std::thread::scope(|s| {
        let handles: Vec<_> = jobs
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || part.iter().map(|&(v, c)| storm(profile, o, v, c)).collect())
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Ok(Vec::new())))
            .collect()
    });
    let mut reports = Vec::new();
    for r in results {
        reports.extend(r?);
    }
    let mut points: Vec<Point> = Vec::new();
    for r in &reports {
        let one = reports
            .iter()
            .filter(|b| b.version == r.version)
            .min_by_key(|b| b.cpus)
            .map_or(0, |b| b.peak_vmalloc_delta_kb);
        points.push(Point {
            version: r.version.clone(),
            cpus: r.cpus,
            stats_wasted_bytes: r.stats.wasted_bytes(),
            real_wasted_bytes: r.wasted_alloc_bytes,
            peak_vmalloc_kb: r.peak_vmalloc_delta_kb,
            peak_excess_kb: r.peak_vmalloc_delta_kb.saturating_sub(one),
            peak_module_area_bytes: r.peak_module_area_bytes,
            enomem: r.enomem,
            syscalls: r.syscalls,
            init_runs: r.init_runs,
            images: r.layouts,
            end_ms: r.end_ms,
        });
    }
    let exhaustion = o
        .versions
        .iter()
        .map(|v| {
            let first = points
                .iter()
                .filter(|p| p.version == v.label() && p.enomem > 0)
                .map(|p| p.cpus)
                .min();
            (v.label().to_owned(), first)
        })
        .collect();
    Ok(Sweep {
        profile: profile.id(),
        kasan: o.kasan,
        smt: o.smt,
        points,
        exhaustion,
    })
}

impl Sweep {
    /// The points of one version, by CPU count.
    pub fn series(&self, version: &str) -> Vec<&Point> {
        let mut v: Vec<&Point> = self
            .points
            .iter()
            .filter(|p| p.version == version)
            .collect();
        v.sort_by_key(|p| p.cpus);
        v
    }

    /// The versions in sweep order.
    pub fn versions(&self) -> Vec<String> {
        self.exhaustion.iter().map(|(v, _)| v.clone()).collect()
    }

    /// A text table: one row per CPU count, stats.c waste and peak excess (MiB) per version.
    pub fn table(&self) -> String {
        let versions = self.versions();
        let mut out = format!(
            "profile {}{}\n",
            self.profile,
            if self.kasan { " (KASAN)" } else { "" }
        );
        out.push_str(&format!("{:>5}", "cpus"));
        for v in &versions {
            out.push_str(&format!(" {:>23}", format!("{v} stats/peak MiB")));
        }
        out.push('\n');
        let mut cpus: Vec<u32> = self.points.iter().map(|p| p.cpus).collect();
        cpus.sort_unstable();
        cpus.dedup();
        for c in cpus {
            out.push_str(&format!("{c:>5}"));
            for v in &versions {
                let cell = self
                    .points
                    .iter()
                    .find(|p| p.cpus == c && &p.version == v)
                    .map_or("-".to_owned(), |p| {
                        format!(
                            "{:.1}/{:.1}{}",
                            p.stats_wasted_bytes as f64 / 1048576.0,
                            p.peak_excess_kb as f64 / 1024.0,
                            if p.enomem > 0 { "!" } else { "" }
                        )
                    });
                out.push_str(&format!(" {cell:>23}"));
            }
            out.push('\n');
        }
        for (v, e) in &self.exhaustion {
            if let Some(c) = e {
                out.push_str(&format!(
                    "{v}: module area exhausted (-ENOMEM) from {c} CPUs\n"
                ));
            }
        }
        out
    }
}
