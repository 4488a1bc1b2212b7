//! `cargo xtask vm duel`: kmod 30 against modkit, storm for storm, several times over in one
//! boot per kernel, for the xfs and per-CPU set storms. Single runs under TCG are noisy (the
//! guest's 4 vCPUs share the host's cores), so the comparison is of medians: wall time,
//! peak VmallocUsed above baseline and insertion syscalls per (kernel, target, N). The two
//! loaders alternate which goes first from one repetition to the next. `--write` records
//! testbed/duel.json and the generated duel section of docs/testbed.md.

use super::plan::{Loader, Scenario, Step, Storm, Target};
use crate::bench::median;
use crate::util::Result;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;

pub const BEGIN: &str = "<!-- duel:begin (cargo xtask vm duel --write) -->";
pub const END: &str = "<!-- duel:end -->";

/// The steps of a duel on one kernel: `repeat` rounds of every (target, N) with both
/// loaders back to back, kmod first in even rounds and modkit first in odd ones.
pub fn steps(repeat: usize, cpus: &[usize]) -> Vec<Step> {
    let mut steps = Vec::new();
    for round in 0..repeat {
        for target in [Target::Module("xfs".to_owned()), Target::CpuSet] {
            for &n in cpus {
                let pair = match round % 2 {
                    0 => [Loader::Kmod, Loader::Modkit],
                    _ => [Loader::Modkit, Loader::Kmod],
                };
                for loader in pair {
                    steps.push(Step::Storm(Storm {
                        loader,
                        target: target.clone(),
                        n,
                        copies: false,
                        scenario: Scenario::Duplicates,
                    }));
                }
            }
        }
    }
    steps
}

/// (kernel, target, N) → loader → its runs.
type Groups<'a> = BTreeMap<(String, String, u64), BTreeMap<String, Vec<&'a Value>>>;

fn groups(records: &[Value]) -> Groups<'_> {
    let mut g: Groups = BTreeMap::new();
    for r in records.iter().filter(|r| r["kind"] == "storm") {
        let (Some(k), Some(m), Some(n), Some(l)) = (
            r["kernel"].as_str(),
            r["module"].as_str(),
            r["n"].as_u64(),
            r["loader"].as_str(),
        ) else {
            continue;
        };
        g.entry((k.to_owned(), m.to_owned(), n))
            .or_default()
            .entry(l.to_owned())
            .or_default()
            .push(r);
    }
    g
}

/// The median of one numeric field over runs (timeouts and errors left out).
fn median_of(runs: &[&Value], field: &str) -> Option<f64> {
    let mut v: Vec<f64> = runs
        .iter()
        .filter(|r| r["timeout"] != Value::Bool(true) && r["error"].is_null())
        .filter_map(|r| r[field].as_f64())
        .collect();
    (!v.is_empty()).then(|| median(&mut v))
}

fn cell(v: Option<f64>) -> String {
    v.map_or("–".to_owned(), |v| format!("{v:.0}"))
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
        _ => "–".to_owned(),
    }
}

/// The generated Markdown: one table per kernel, medians and ratios.
pub fn tables(records: &[Value]) -> String {
    let g = groups(records);
    let runs = g
        .values()
        .flat_map(|by| by.values().map(Vec::len))
        .min()
        .unwrap_or(0);
    let mut out = format!("\nMedians over {runs} runs per row (at least).\n");
    let mut kernel = String::new();
    for ((k, module, n), by) in &g {
        if *k != kernel {
            kernel.clone_from(k);
            let _ = write!(
                out,
                "\n#### {k}\n\n| target | N | wall ms kmod | wall ms modkit | wall modkit/kmod | peak kB kmod | peak kB modkit | modkit peak / its N=1 | insertion syscalls kmod | insertion syscalls modkit |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
            );
        }
        let none = Vec::new();
        let kmod = by.get("kmod").unwrap_or(&none);
        let ours = by.get("modkit").unwrap_or(&none);
        let single = g
            .get(&(k.clone(), module.clone(), 1))
            .and_then(|b| b.get("modkit"))
            .and_then(|r| median_of(r, "peak_vmalloc_delta_kb"));
        let (wk, wo) = (median_of(kmod, "wall_ms"), median_of(ours, "wall_ms"));
        let (pk, po) = (
            median_of(kmod, "peak_vmalloc_delta_kb"),
            median_of(ours, "peak_vmalloc_delta_kb"),
        );
        let _ = writeln!(
            out,
            "| {module} | {n} | {} | {} | {} | {} | {} | {} | {} | {} |",
            cell(wk),
            cell(wo),
            ratio(wo, wk),
            cell(pk),
            cell(po),
            ratio(po, single),
            cell(median_of(kmod, "insert_syscalls")),
            cell(median_of(ours, "insert_syscalls")),
        );
    }
    out.push('\n');
    out
}

/// Writes testbed/duel.json and the duel section of docs/testbed.md.
pub fn write(records: &[Value]) -> Result {
    super::docs::write_records("duel.json", records)?;
    super::docs::write_testbed_section(BEGIN, END, &tables(records))?;
    println!("xtask: wrote testbed/duel.json and the duel section of docs/testbed.md");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rounds_alternate_which_loader_goes_first() {
        let s = steps(2, &[1, 4]);
        assert_eq!(s.len(), 2 * 2 * 2 * 2);
        let loader = |i: usize| match &s[i] {
            Step::Storm(st) => st.loader,
            _ => unreachable!(),
        };
        assert_eq!((loader(0), loader(1)), (Loader::Kmod, Loader::Modkit));
        assert_eq!((loader(8), loader(9)), (Loader::Modkit, Loader::Kmod));
    }

    #[test]
    fn tables_give_medians_and_ratios() {
        let run = |loader: &str, n: u64, wall: f64, peak: u64| {
            json!({"kind": "storm", "kernel": "6.1.0-56-amd64", "module": "xfs", "n": n,
                   "loader": loader, "wall_ms": wall, "peak_vmalloc_delta_kb": peak,
                   "insert_syscalls": if loader == "kmod" { n } else { 1 }})
        };
        let mut records = vec![
            run("kmod", 4, 100.0, 26000),
            run("kmod", 4, 300.0, 26000),
            run("kmod", 4, 200.0, 26000),
            run("modkit", 4, 50.0, 6500),
            run("modkit", 4, 150.0, 6500),
            run("modkit", 4, 100.0, 6500),
            run("modkit", 1, 90.0, 6500),
        ];
        records.push(
            json!({"kind": "storm", "kernel": "6.1.0-56-amd64", "module": "xfs",
                            "n": 4, "loader": "modkit", "timeout": true}),
        );
        let t = tables(&records);
        assert!(
            t.contains("| xfs | 4 | 200 | 100 | 0.50 | 26000 | 6500 | 1.00 | 4 | 1 |"),
            "{t}"
        );
        assert!(
            t.contains("| xfs | 1 | – | 90 | – | – | 6500 | 1.00 | – | 1 |"),
            "{t}"
        );
    }
}
