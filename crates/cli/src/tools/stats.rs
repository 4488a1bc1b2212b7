//! `modkit stats [--json]`: what the shared loading context did, per module: requests,
//! insertions (kernel calls), and requests answered by another requester's outcome; and
//! the kernel's own module statistics (`/sys/kernel/debug/modules/stats`, kernels with
//! `CONFIG_MODULE_STATS`), shown as they are and parsed.

use crate::system;
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

fn module_row(name: &str, s: &ClaimStats) -> Value {
    json!({
        "module": name,
        "requests": s.requests,
        "insertions": s.insertions,
        "shared": s.shared,
    })
}

fn text_report(modules: &[(String, ClaimStats)], kernel: Option<&str>) -> String {
    let mut out = format!(
        "{:<24} {:>9} {:>11} {:>7}\n",
        "Module", "requests", "insertions", "shared"
    );
    for (name, s) in modules {
        out.push_str(&format!(
            "{name:<24} {:>9} {:>11} {:>7}\n",
            s.requests, s.insertions, s.shared
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
