//! From console lines to records: the guest's `IDENT` line and each step's `RESULT` line
//! become one JSON object per step, carrying the kernel (release and package), the CPU
//! modalias, the loader, the module, N and the racer's measurements. A step without a
//! result is recorded too: as a timeout when the watchdog stopped it, else as an error.

use super::assets::Assets;
use super::plan::{warms_up_cpu_set, Step, Storm};
use super::qemu::Console;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

fn parse_tagged(lines: &[String], tag: &str) -> Vec<Value> {
    lines
        .iter()
        // Console escape sequences can precede a tag on its line.
        .filter_map(|l| l.find(tag).map(|at| &l[at + tag.len()..]))
        .filter_map(|rest| serde_json::from_str(rest.trim()).ok())
        .collect()
}

/// The fields every record carries.
fn common(assets: &Assets, ident: &Value, smp: usize) -> Map<String, Value> {
    let mut m = Map::new();
    // Without an IDENT line (a guest that failed in the boot) the tree booted says it.
    let release = match &ident["release"] {
        Value::Null => json!(assets.tree.version),
        r => r.clone(),
    };
    m.insert("kernel".into(), release);
    m.insert("kernel_package".into(), json!(assets.kernel_package()));
    m.insert("kmod_package".into(), json!(assets.kmod.deb));
    m.insert("cpu_modalias".into(), ident["cpu_modalias"].clone());
    m.insert("compression".into(), ident["compression"].clone());
    m.insert("vcpus".into(), json!(smp));
    m
}

fn step_fields(step: &Step) -> Map<String, Value> {
    let mut m = Map::new();
    match step {
        Step::Storm(Storm {
            loader,
            target,
            n,
            copies,
            scenario,
        }) => {
            m.insert("kind".into(), json!("storm"));
            m.insert("scenario".into(), json!(scenario.name()));
            m.insert("loader".into(), json!(loader.name()));
            m.insert("module".into(), json!(target.label()));
            m.insert("n".into(), json!(n));
            m.insert("copies".into(), json!(copies));
        }
        Step::Command { label, argv } => {
            m.insert("kind".into(), json!("command"));
            m.insert("label".into(), json!(label));
            m.insert("argv".into(), json!(argv));
        }
        Step::Layout { module } => {
            m.insert("kind".into(), json!("layout"));
            m.insert("module".into(), json!(module));
        }
    }
    m
}

/// The racer's fields that a record keeps (its label is the step index, dropped).
fn merge_result(record: &mut Map<String, Value>, result: &Value) {
    if let Value::Object(fields) = result {
        for (k, v) in fields {
            if !matches!(k.as_str(), "label" | "kind") {
                record.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
    }
}

/// The records of one boot's steps, and the step that hung or crashed the guest (the caller
/// reboots from it).
pub fn collect(
    assets: &Assets,
    batch: &[Step],
    console: &Console,
    smp: usize,
) -> (Vec<Value>, Option<usize>) {
    let ident = parse_tagged(&console.lines, "IDENT ")
        .into_iter()
        .next()
        .unwrap_or(Value::Null);
    let results: BTreeMap<usize, Value> = parse_tagged(&console.lines, "RESULT ")
        .into_iter()
        .filter_map(|r| Some((r["label"].as_str()?.parse().ok()?, r)))
        .collect();
    let warm_up = warms_up_cpu_set(batch);
    let mut records = Vec::new();
    for (i, step) in batch.iter().enumerate() {
        let mut record = common(assets, &ident, smp);
        record.extend(step_fields(step));
        if matches!(step, Step::Storm(_)) {
            // The boot loaded the CPU set before its first step: modules it pins (6.12:
            // crct10dif_pclmul) are loaded when every storm of the boot starts.
            record.insert("cpu_set_warm_up".into(), json!(warm_up));
        }
        if let Some(result) = results.get(&i) {
            merge_result(&mut record, result);
            records.push(Value::Object(record));
            continue;
        }
        // A guest that hangs or crashes in the boot, before its first step, is that
        // step's failure: it is retried in a fresh boot like one that fails in a step.
        let in_boot = |at: Option<Option<usize>>| i == 0 && at == Some(None);
        let failed_in_boot = in_boot(console.hung_in) || in_boot(console.crashed_in);
        let hung_here = console.hung_in == Some(Some(i)) || in_boot(console.hung_in);
        let crashed_here = console.crashed_in == Some(Some(i)) || in_boot(console.crashed_in);
        record.insert("timeout".into(), json!(hung_here));
        record.insert(
            "error".into(),
            json!(if failed_in_boot {
                format!(
                    "the guest {} in the boot, before step {i} (see the console log)",
                    if hung_here { "hung" } else { "crashed" }
                )
            } else if hung_here {
                format!(
                    "step {i} overran its {} s budget; QEMU was killed",
                    step.budget_secs()
                )
            } else if crashed_here {
                format!("the guest crashed in step {i} (see the console log)")
            } else {
                "no result on the console (see the console log)".to_owned()
            }),
        );
        if crashed_here {
            record.insert("crashed".into(), json!(true));
        }
        records.push(Value::Object(record));
        if hung_here || crashed_here {
            return (records, Some(i));
        }
    }
    (records, None)
}

/// The record of a step that was not run because the run's deadline had passed: a timeout.
pub fn not_run(assets: &Assets, step: &Step, smp: usize) -> Value {
    let ident = json!({ "release": assets.tree.version });
    let mut record = common(assets, &ident, smp);
    record.extend(step_fields(step));
    record.insert("timeout".into(), json!(true));
    record.insert(
        "error".into(),
        json!("not run: the run's deadline had passed (earlier steps hung or crashed)"),
    );
    Value::Object(record)
}

/// `{"EEXIST": 3, "0": 1}` as `EEXIST{sep}3{join}0{sep}1`, or `none` for an empty map.
pub fn counts(v: &Value, sep: &str, join: &str, none: &str) -> String {
    match v.as_object() {
        Some(m) if !m.is_empty() => m
            .iter()
            .map(|(k, n)| format!("{k}{sep}{n}"))
            .collect::<Vec<_>>()
            .join(join),
        _ => none.to_owned(),
    }
}

/// One line per record, for people.
pub fn summary(records: &[Value]) -> String {
    let mut out = String::new();
    for r in records {
        let head = format!(
            "{} {}",
            r["kernel"].as_str().unwrap_or("?"),
            r["kind"].as_str().unwrap_or("?")
        );
        let line = match r["kind"].as_str() {
            Some("storm") => format!(
                "{head} {} {} {} n={}{}: ok={} errnos={} syscalls={} peak_vmalloc=+{} kB exits={} wall={:.0} ms{}",
                r["scenario"].as_str().unwrap_or(""),
                r["loader"].as_str().unwrap_or(""),
                r["module"].as_str().unwrap_or(""),
                r["n"],
                if r["copies"] == json!(true) { " copies" } else { "" },
                r["ok"],
                counts(&r["errnos"], "=", ",", "-"),
                r["insert_syscalls"],
                r["peak_vmalloc_delta_kb"],
                counts(&r["exit_status"], "=", ",", "-"),
                r["wall_ms"].as_f64().unwrap_or(0.0),
                if r["timeout"] == json!(true) { " TIMEOUT" } else { "" },
            ),
            Some("command") => format!(
                "{head} {}: exit {}",
                r["label"].as_str().unwrap_or(""),
                r["status"]
            ),
            _ => format!("{head} {}", r["module"]),
        };
        out.push_str(&line);
        if let Some(e) = r["error"].as_str() {
            out.push_str(&format!(" ERROR: {e}"));
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::Tree;
    use crate::vm::assets::Package;
    use crate::vm::plan::{Loader, Scenario, Target};
    use std::path::PathBuf;
    use std::time::Duration;

    fn assets() -> Assets {
        let pkg = |name: &str| Package {
            name: name.to_owned(),
            root: PathBuf::from("/r"),
            deb: format!("{name}_1_amd64.deb"),
        };
        Assets {
            tree: Tree {
                label: "6.1".into(),
                version: "6.1.0-56-amd64".into(),
                root: PathBuf::from("/r"),
                deb: "linux-image-6.1.0-56-amd64_6.1.192-2_amd64.deb".into(),
            },
            depmod_root: PathBuf::from("/r"),
            busybox: pkg("busybox-static"),
            kmod: pkg("kmod"),
            modkit: PathBuf::from("/m"),
            racer: PathBuf::from("/x"),
        }
    }

    fn storm(n: usize) -> Step {
        Step::Storm(Storm {
            loader: Loader::Finit,
            target: Target::Module("xfs".into()),
            n,
            copies: false,
            scenario: Scenario::Duplicates,
        })
    }

    #[test]
    fn a_hung_step_is_a_timeout_record() {
        let console = Console {
            lines: vec![
                "\u{1b}[2JIDENT {\"release\":\"6.1.0-56-amd64\",\"cpu_modalias\":\"cpu:x\"}".into(),
                "STEP 0".into(),
                "RESULT {\"label\":\"0\",\"kind\":\"storm\",\"ok\":1,\"errnos\":{}}".into(),
                "STEP 1".into(),
            ],
            hung_in: Some(Some(1)),
            crashed_in: None,
            elapsed: Duration::from_secs(1),
        };
        let steps = [storm(1), storm(4), storm(8)];
        let (records, hung) = collect(&assets(), &steps, &console, 4);
        assert_eq!(hung, Some(1));
        assert_eq!(records.len(), 2);
        assert_eq!(records[0]["kernel"], "6.1.0-56-amd64");
        assert_eq!(records[0]["ok"], 1);
        assert_eq!(records[0]["n"], 1);
        assert_eq!(records[1]["timeout"], true);
        assert_eq!(records[1]["n"], 4);
        assert_eq!(
            records[0]["cpu_set_warm_up"], false,
            "no CPU-set storm in the boot"
        );
        assert!(summary(&records).contains("ERROR: step 1 overran"));
    }

    #[test]
    fn storms_of_a_boot_with_cpu_set_storms_say_the_set_was_warmed_up() {
        let console = Console {
            lines: vec!["STEP 0".into(), "STEP 1".into(), "DONE".into()],
            hung_in: None,
            crashed_in: None,
            elapsed: Duration::from_secs(1),
        };
        let cpu = Step::Storm(Storm {
            loader: Loader::Kmod,
            target: Target::CpuSet,
            n: 2,
            copies: false,
            scenario: Scenario::Duplicates,
        });
        let (records, _) = collect(&assets(), &[storm(1), cpu], &console, 4);
        assert_eq!(records[0]["cpu_set_warm_up"], true);
        assert_eq!(records[1]["cpu_set_warm_up"], true);
    }

    #[test]
    fn a_step_not_run_past_the_deadline_is_a_timeout_record() {
        let r = not_run(&assets(), &storm(4), 4);
        assert_eq!(
            (&r["kernel"], &r["n"], &r["timeout"]),
            (&json!("6.1.0-56-amd64"), &json!(4), &json!(true))
        );
        assert!(r["error"].as_str().is_some_and(|e| e.contains("deadline")));
    }

    #[test]
    fn a_missing_result_without_a_hang_is_an_error_record() {
        let console = Console {
            lines: vec!["STEP 0".into(), "STEP end".into(), "DONE".into()],
            hung_in: None,
            crashed_in: None,
            elapsed: Duration::from_secs(1),
        };
        let (records, next) = collect(&assets(), &[storm(2)], &console, 4);
        assert_eq!(next, None);
        assert_eq!(records[0]["timeout"], false);
        assert!(records[0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("no result")));
    }

    #[test]
    fn a_guest_that_crashes_in_the_boot_fails_the_first_step() {
        let console = Console {
            lines: vec!["Kernel panic - not syncing: Fatal exception in interrupt".into()],
            hung_in: None,
            crashed_in: Some(None),
            elapsed: Duration::from_secs(3),
        };
        let steps = [storm(1), storm(4)];
        let (records, next) = collect(&assets(), &steps, &console, 4);
        assert_eq!(next, Some(0), "the boot is tried again from its first step");
        assert_eq!(records.len(), 1);
        assert_eq!(records[0]["kernel"], "6.1.0-56-amd64", "the tree booted");
        assert_eq!(records[0]["crashed"], true);
        assert!(records[0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("crashed in the boot")));
        let hung = Console {
            hung_in: Some(None),
            crashed_in: None,
            ..console
        };
        let (records, next) = collect(&assets(), &steps, &hung, 4);
        assert_eq!((next, &records[0]["timeout"]), (Some(0), &json!(true)));
    }

    #[test]
    fn a_crashed_guest_stops_the_boot_at_its_step() {
        let console = Console {
            lines: vec![
                "STEP 0".into(),
                "RESULT {\"label\":\"0\",\"kind\":\"storm\",\"ok\":1,\"errnos\":{}}".into(),
                "STEP 1".into(),
                "Kernel panic - not syncing: Fatal exception in interrupt".into(),
            ],
            hung_in: None,
            crashed_in: Some(Some(1)),
            elapsed: Duration::from_secs(1),
        };
        let steps = [storm(1), storm(4), storm(8)];
        let (records, next) = collect(&assets(), &steps, &console, 4);
        assert_eq!(next, Some(1));
        assert_eq!(records.len(), 2);
        assert_eq!(records[1]["crashed"], true);
        assert_eq!(records[1]["timeout"], false);
    }
}
