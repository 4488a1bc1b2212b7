//! `cargo xtask vm repeat`: the campaign's storms whose outcome timing decides, run several
//! rounds over in one boot per kernel. Which loaders of the CPU set run into a failing
//! init themselves and which wait for it, which modprobe finds a module LIVE, which
//! duplicates of a failing first load see it fail: under TCG these move from run to run,
//! so one run of such a storm is one sample. `--write` records testbed/repeats.json (the
//! kernel model's validation compares its range with the guest's) and a table of the
//! guest's ranges in docs/testbed.md.

use super::plan::{Loader, Scenario, Step, Storm, Target};
use crate::util::Result;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

pub const BEGIN: &str = "<!-- repeats:begin (cargo xtask vm repeat --write) -->";
pub const END: &str = "<!-- repeats:end -->";

/// Whether a campaign storm's outcome is decided by timing on the real kernel: the CPU set
/// (with several loaders, who runs into the failing inits and which modprobe finds a
/// module LIVE; on 6.12 even a lone loader's peak depends on when the self-test threads
/// of one module give their stacks back), a failing first load and a failing init. The
/// xfs duplicates are not: their outcome is the same from run to run (the campaign, the
/// duel). modkit's storms are not either: one insertion per module whatever the timing.
pub fn timing_decided(storm: &Storm) -> bool {
    match (&storm.target, storm.scenario) {
        (_, _) if storm.loader == Loader::Modkit => false,
        (Target::CpuSet, Scenario::Duplicates) => true,
        (_, Scenario::Duplicates) => false,
        _ => true,
    }
}

/// `rounds` rounds of the timing-decided storms of `campaign` (only those of `cpus`
/// loaders, unless empty), in campaign order each round.
pub fn steps(campaign: &[Step], rounds: usize, cpus: &[usize]) -> Vec<Step> {
    let once: Vec<&Step> = campaign
        .iter()
        .filter(|s| {
            matches!(s, Step::Storm(storm)
                if timing_decided(storm) && (cpus.is_empty() || cpus.contains(&storm.n)))
        })
        .collect();
    (0..rounds)
        .flat_map(|_| once.iter().map(|&s| s.clone()))
        .collect()
}

/// The storm a record is a run of, as the table's first columns.
fn storm_of(r: &Value) -> Option<(String, String, String, u64)> {
    let kernel = r["kernel"].as_str()?;
    let loader = match (r["loader"].as_str()?, r["copies"] == Value::Bool(true)) {
        (l, true) => format!("{l} (copies)"),
        (l, false) => l.to_owned(),
    };
    let target = match (r["module"].as_str()?, r["scenario"].as_str()?) {
        ("cpu", _) => "CPU set".to_owned(),
        (m, "duplicates") => m.to_owned(),
        (m, scenario) => format!("{m} ({scenario})"),
    };
    Some((kernel.to_owned(), target, loader, r["n"].as_u64()?))
}

/// `lo` or `lo–hi`.
fn span(v: &[u64]) -> String {
    match (v.iter().min(), v.iter().max()) {
        (Some(lo), Some(hi)) if lo == hi => lo.to_string(),
        (Some(lo), Some(hi)) => format!("{lo}–{hi}"),
        _ => "–".to_owned(),
    }
}

/// The generated Markdown: per storm, how many runs completed and the range of every
/// count and of the peak over them.
pub fn table(records: &[Value]) -> String {
    let mut g: BTreeMap<(String, String, String, u64), Vec<&Value>> = BTreeMap::new();
    for r in records.iter().filter(|r| r["kind"] == "storm") {
        let done = r["timeout"] != Value::Bool(true) && r["crashed"] != Value::Bool(true);
        if let (Some(key), true) = (storm_of(r), done) {
            g.entry(key).or_default().push(r);
        }
    }
    let mut out = String::from(
        "\n| kernel | storm | loader | N | runs | ok | errnos over the runs | peak kB |\n|---|---|---|---:|---:|---:|---|---:|\n",
    );
    for ((kernel, target, loader, n), runs) in &g {
        let count = |r: &Value, e: &str| r["errnos"][e].as_u64().unwrap_or(0);
        let names: BTreeSet<&str> = runs
            .iter()
            .filter_map(|r| r["errnos"].as_object())
            .flat_map(|m| m.keys().map(String::as_str))
            .collect();
        let errnos: Vec<String> = names
            .iter()
            .map(|e| {
                let v: Vec<u64> = runs.iter().map(|r| count(r, e)).collect();
                format!("{e} {}", span(&v))
            })
            .collect();
        let field = |f: &str| -> Vec<u64> {
            runs.iter()
                .filter_map(|r| r[f].as_f64())
                .map(|v| v.round() as u64)
                .collect()
        };
        let _ = writeln!(
            out,
            "| {kernel} | {target} | {loader} | {n} | {} | {} | {} | {} |",
            runs.len(),
            span(&field("ok")),
            errnos.join(", "),
            span(&field("peak_vmalloc_delta_kb")),
        );
    }
    out.push('\n');
    out
}

/// Writes testbed/repeats.json and the repeats table of docs/testbed.md.
pub fn write(records: &[Value]) -> Result {
    super::docs::write_records("repeats.json", records)?;
    println!("xtask: wrote testbed/repeats.json");
    write_table(records)
}

/// Writes the repeats table of docs/testbed.md.
pub fn write_table(records: &[Value]) -> Result {
    super::docs::write_testbed_section(BEGIN, END, &table(records))?;
    println!("xtask: wrote the repeats table of docs/testbed.md");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn storm(loader: Loader, target: Target, n: usize, scenario: Scenario) -> Storm {
        Storm {
            loader,
            target,
            n,
            copies: false,
            scenario,
        }
    }

    #[test]
    fn repeats_are_the_storms_timing_decides() {
        use Scenario::*;
        let xfs = || Target::Module("xfs".to_owned());
        assert!(timing_decided(&storm(
            Loader::Kmod,
            Target::CpuSet,
            2,
            Duplicates
        )));
        assert!(timing_decided(&storm(
            Loader::Kmod,
            Target::CpuSet,
            1,
            Duplicates
        )));
        assert!(!timing_decided(&storm(
            Loader::Modkit,
            Target::CpuSet,
            8,
            Duplicates
        )));
        assert!(!timing_decided(&storm(
            Loader::Finit,
            xfs(),
            32,
            Duplicates
        )));
        assert!(timing_decided(&storm(Loader::Finit, xfs(), 8, FirstFails)));
        let coretemp = Target::Module("coretemp".to_owned());
        assert!(timing_decided(&storm(Loader::Kmod, coretemp, 4, InitFails)));
        let campaign = [
            Step::Storm(storm(Loader::Finit, xfs(), 8, Duplicates)),
            Step::Storm(storm(Loader::Init, Target::CpuSet, 4, Duplicates)),
            Step::Layout {
                module: "xfs".to_owned(),
            },
        ];
        let rounds = steps(&campaign, 3, &[]);
        assert_eq!(rounds.len(), 3);
        assert!(rounds
            .iter()
            .all(|s| matches!(s, Step::Storm(s) if s.target == Target::CpuSet)));
        assert_eq!(steps(&campaign, 3, &[4]).len(), 3);
        assert!(steps(&campaign, 3, &[1, 2]).is_empty());
    }

    #[test]
    fn the_table_gives_each_storm_s_range_over_its_runs() {
        let run = |ebusy: u64, enodev: u64, peak: f64| {
            json!({"kind": "storm", "kernel": "6.1.0-57-amd64", "module": "cpu",
                "scenario": "duplicates", "loader": "finit", "copies": true, "n": 4, "ok": 14,
                "errnos": {"EBUSY": ebusy, "EEXIST": 42, "ENODEV": enodev},
                "peak_vmalloc_delta_kb": peak})
        };
        let mut hung = run(0, 0, 0.0);
        hung["timeout"] = json!(true);
        let t = table(&[run(6, 2, 3920.0), run(4, 4, 3540.0), hung]);
        assert!(
            t.contains("| 6.1.0-57-amd64 | CPU set | finit (copies) | 4 | 2 | 14 | EBUSY 4–6, EEXIST 42, ENODEV 2–4 | 3540–3920 |"),
            "{t}"
        );
    }
}
