//! `modkit stats [--json]`: what the shared loading context did, per module: requests,
//! insertions (kernel calls), and requests answered by another requester's outcome, with
//! the kernel memory those answers did not cost, per kernel version, by the kernel model:
//! for each duplicate call that was not made (modkit's `finit_module`, and for a compressed
//! module kmod 30's `init_module` of the image it decompresses), the file bytes the kernel
//! did not read, the layout bytes it did not allocate (before 6.4 every duplicate gets its
//! whole layout) and the `VmallocUsed` peak not added; and the kernel's own module
//! statistics (`/sys/kernel/debug/modules/stats`, kernels with `CONFIG_MODULE_STATS`),
//! shown as they are and parsed.

use crate::system;
use modkit_sim::workload::{self, RacerCall, Workload};
use modkit_sim::{Config, ModuleFacts, Profile, Version};
use modkit_sys::{ClaimStats, RunDir};
use serde_json::{json, Map, Value};
use std::path::PathBuf;

const USAGE: &str = "Usage: modkit stats [--json]\n";

/// The kernel's module statistics file (debugfs).
fn kernel_stats_path() -> PathBuf {
    std::env::var_os("MODKIT_DEBUGFS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/sys/kernel/debug"))
        .join("modules/stats")
}

/// The debugfs stats text (kernel-loader §7.4) as JSON: each `label<TAB>value` line by its
/// label, and the duplicate-failed list as `duplicate_failed` rows.
pub fn parse_kernel_stats(text: &str) -> Map<String, Value> {
    let mut map = Map::new();
    let mut duplicates = Vec::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split('\t').map(str::trim).collect();
        match fields.as_slice() {
            [label, value] => {
                let v = value
                    .parse::<u64>()
                    .map_or_else(|_| json!(value), |n| json!(n));
                map.insert((*label).to_owned(), v);
            }
            ["Module-name", "How-many-times", "Reason"] => {}
            [name, count, reason] => duplicates.push(json!({
                "module": name,
                "count": count.parse::<u64>().ok(),
                "reason": reason,
            })),
            _ => {}
        }
    }
    map.insert("duplicate_failed".to_owned(), json!(duplicates));
    map
}

/// The kernel versions whose savings are shown.
const VERSIONS: &[Version] = &[Version::V6_1, Version::V6_4, Version::V6_12];

/// What one duplicate insertion call costs the kernel, by the model: the kernel's copy of
/// the module (the file `finit_module` reads, or the image `init_module` copies in), the
/// module layout allocated before the duplicate is found, and the `VmallocUsed` peak it
/// adds to the first load's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct DuplicateCost {
    file_bytes: u64,
    layout_bytes: u64,
    peak_kb: u64,
}

impl DuplicateCost {
    fn times(self, n: u64) -> DuplicateCost {
        DuplicateCost {
            file_bytes: self.file_bytes * n,
            layout_bytes: self.layout_bytes * n,
            peak_kb: self.peak_kb * n,
        }
    }

    fn to_json(self) -> Value {
        json!({
            "file_bytes_not_read": self.file_bytes,
            "layout_bytes_not_allocated": self.layout_bytes,
            "peak_vmalloc_kb_not_used": self.peak_kb,
        })
    }
}

/// The insertion calls a duplicate could have made: modkit's own (`finit_module`, flag 4
/// for a compressed file) and kmod 30's (`init_module` of the image it decompressed, for
/// a compressed file).
const CALLS: &[(&str, bool)] = &[("finit_module", false), ("init_module", true)];

/// The model's cost of one duplicate of `facts` on `version` next to a first load: two
/// concurrent racers against one.
fn duplicate_cost(facts: &ModuleFacts, version: Version, init: bool) -> Option<DuplicateCost> {
    let mut facts = facts.clone();
    facts.depends.clear();
    let profile = Profile {
        name: "stats".into(),
        tree: String::new(),
        release: String::new(),
        events: Vec::new(),
        modules: vec![facts.clone()],
    };
    let call = match init {
        true => RacerCall::Init,
        false => RacerCall::Finit(if facts.compressed() { 4 } else { 0 }),
    };
    let run = |n| {
        let workload = Workload::Racer {
            module: facts.name.clone(),
            n,
            copies: false,
            call,
            decompressed: init,
            first_fails: false,
            exec: None,
            signal_at: None,
        };
        workload::run(&profile, Config::new(version, 4), &workload).ok()
    };
    let (one, two) = (run(1)?, run(2)?);
    if one.ok == 0 {
        // The version cannot load the module this way (no in-kernel decompression).
        return None;
    }
    Some(DuplicateCost {
        file_bytes: two.wasted_alloc_bytes - two.wasted_layout_bytes,
        layout_bytes: two.wasted_layout_bytes,
        peak_kb: two
            .peak_vmalloc_delta_kb
            .saturating_sub(one.peak_vmalloc_delta_kb),
    })
}

/// The calls worth showing for a module: `init_module` only differs for compressed files.
fn calls_for(facts: &ModuleFacts) -> impl Iterator<Item = &'static (&'static str, bool)> {
    let compressed = facts.compressed();
    CALLS.iter().filter(move |(_, init)| !init || compressed)
}

/// The module's facts from its file in the running kernel's module directory.
fn module_facts(name: &str) -> Option<ModuleFacts> {
    let dir = system::path(&system::running_module_dir());
    let db = modkit_depmod::database::Database::open(&dir);
    let line = db.dep_line(name.as_bytes())?;
    let rel = String::from_utf8_lossy(&line.path).into_owned();
    let path = if rel.starts_with('/') {
        rel
    } else {
        format!("{}/{rel}", dir.display())
    };
    let bytes = std::fs::read(&path).ok()?;
    ModuleFacts::from_file(&path, &bytes).ok()
}

/// Per version and per call, what the shared answers did not cost (`None`: the module
/// file was not found).
fn savings(name: &str, s: &ClaimStats) -> Option<Map<String, Value>> {
    if s.shared == 0 {
        return Some(Map::new());
    }
    let facts = module_facts(name)?;
    Some(savings_of(&facts, s.shared))
}

fn savings_of(facts: &ModuleFacts, shared: u64) -> Map<String, Value> {
    VERSIONS
        .iter()
        .map(|&v| {
            let by_call: Map<String, Value> = calls_for(facts)
                .filter_map(|&(call, init)| {
                    let cost = duplicate_cost(facts, v, init)?.times(shared);
                    Some((call.to_owned(), cost.to_json()))
                })
                .collect();
            (v.label().to_owned(), Value::Object(by_call))
        })
        .collect()
}

fn module_row(name: &str, s: &ClaimStats) -> Value {
    json!({
        "module": name,
        "requests": s.requests,
        "insertions": s.insertions,
        "shared": s.shared,
        "saved_by_kernel": savings(name, s),
    })
}

/// `6.1: 4.0 MiB read + 2.3 MiB layout`, per version, for the call modkit makes there
/// (`finit_module`, or `init_module` where the kernel cannot decompress the file).
fn saved_text(name: &str, s: &ClaimStats) -> String {
    match savings(name, s) {
        None => "(module file not found)".to_owned(),
        Some(m) => m
            .iter()
            .filter_map(|(v, calls)| {
                let c = calls
                    .get("finit_module")
                    .or_else(|| calls.get("init_module"))?;
                let mib = |field: &str| c[field].as_u64().unwrap_or(0) as f64 / 1048576.0;
                Some(format!(
                    "{v}: {:.1} MiB read + {:.1} MiB layout",
                    mib("file_bytes_not_read"),
                    mib("layout_bytes_not_allocated")
                ))
            })
            .collect::<Vec<_>>()
            .join(", "),
    }
}

fn text_report(modules: &[(String, ClaimStats)], kernel: Option<&str>) -> String {
    let mut out = format!(
        "{:<24} {:>9} {:>11} {:>7}  {}\n",
        "Module", "requests", "insertions", "shared", "not costed by the shared answers (model)"
    );
    for (name, s) in modules {
        out.push_str(&format!(
            "{name:<24} {:>9} {:>11} {:>7}  {}\n",
            s.requests,
            s.insertions,
            s.shared,
            saved_text(name, s)
        ));
    }
    let total: ClaimStats = modules.iter().fold(ClaimStats::default(), |mut t, (_, s)| {
        t.requests += s.requests;
        t.insertions += s.insertions;
        t.shared += s.shared;
        t
    });
    out.push_str(&format!(
        "{:<24} {:>9} {:>11} {:>7}\n",
        "total", total.requests, total.insertions, total.shared
    ));
    match kernel {
        Some(text) => {
            out.push_str("\nKernel module statistics (/sys/kernel/debug/modules/stats):\n");
            out.push_str(text);
        }
        None => out.push_str("\nKernel module statistics: not available (no CONFIG_MODULE_STATS, or debugfs not mounted)\n"),
    }
    out
}

/// `modkit stats`: exit 0, or 1 on a bad argument or an unusable run directory.
pub fn main(argv: &[Vec<u8>]) -> i32 {
    let json_output = match argv.get(1).map(Vec::as_slice) {
        None => false,
        Some(b"--json") if argv.len() == 2 => true,
        Some(b"-h") | Some(b"--help") => {
            super::stdout(USAGE.as_bytes());
            return 0;
        }
        _ => {
            crate::texts::eprint_line(USAGE.trim_end().as_bytes());
            return 1;
        }
    };
    let dir = system::run_dir();
    let modules = if dir.exists() {
        match RunDir::open(&dir).and_then(|run| run.stats()) {
            Ok(m) => m,
            Err(e) => {
                crate::texts::eprint_line(format!("modkit stats: {e}").as_bytes());
                return 1;
            }
        }
    } else {
        Vec::new()
    };
    let kernel = std::fs::read_to_string(kernel_stats_path()).ok();
    if json_output {
        let value = json!({
            "run_dir": dir,
            "modules": modules.iter().map(|(n, s)| module_row(n, s)).collect::<Vec<_>>(),
            "kernel_stats": kernel.as_deref().map(parse_kernel_stats),
        });
        super::stdout(format!("{value:#}\n").as_bytes());
    } else {
        super::stdout(text_report(&modules, kernel.as_deref()).as_bytes());
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_stats_lines_parse() {
        let text = format!(
            "{:>25}\t66\n{:>25}\t0\n{:>25}\t11296768\nDuplicate failed modules:\n{:>25}\t{:>15}\t{:>25}\n{:>25}\t{:>15}\t{:>25}\n",
            "Mods ever loaded",
            "Mods failed on kread",
            "Total module size",
            "Module-name",
            "How-many-times",
            "Reason",
            "kvm_intel",
            249,
            "Load"
        );
        let m = parse_kernel_stats(&text);
        assert_eq!(m["Mods ever loaded"], json!(66));
        assert_eq!(m["Total module size"], json!(11296768));
        assert_eq!(
            m["duplicate_failed"],
            json!([{"module": "kvm_intel", "count": 249, "reason": "Load"}])
        );
    }

    #[test]
    fn the_text_report_totals_the_modules() {
        let s = |r, i, sh| ClaimStats {
            requests: r,
            insertions: i,
            shared: sh,
        };
        let text = text_report(
            &[("xfs".into(), s(4, 1, 3)), ("kvm".into(), s(2, 1, 1))],
            None,
        );
        assert!(
            text.contains("total                            6           2       4"),
            "{text}"
        );
        assert!(text.contains("not available"));
    }
}
