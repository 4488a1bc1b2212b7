//! The real-kernel testbed's measurements (`cargo xtask vm`, testbed/) checked against the
//! reference behaviour of ../shared/spec/testbed.md §6–§7: on the records of the CI run
//! (MODKIT_VM_RESULTS, written by `cargo xtask test`) and on the recorded campaign
//! (testbed/results.json, written by `cargo xtask vm campaign --write`), and its repeated
//! storms (testbed/repeats.json, `cargo xtask vm repeat --write`).
//!
//! Checked per kernel: no step timed out or failed to report; xfs duplicate storms (6.1:
//! one success and N−1 EEXIST, the peak N times the single load; 6.12 same file: N
//! successes and a flat peak; distinct copies: a read buffer each; kmod 30: finit_module on
//! 6.1, only init_module on 6.12); the first loader failing; a failing init; kmod's command
//! outputs (and modkit's, equal to them, once modkit loads); module-area layouts.

use modkit_tests::{required, skip, workspace_root};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;

/// Slack allowed on peak VmallocUsed comparisons, in kB: unrelated frees and the kernel
/// stacks of tasks beyond the per-CPU cache (testbed.md §7.2).
fn slack(n: u64) -> i64 {
    32 + 16 * n as i64
}

fn is_612(r: &Value) -> bool {
    r["kernel"].as_str().is_some_and(|k| k.starts_with("6.12."))
}

fn kernels(records: &[Value]) -> Vec<String> {
    let mut ks: Vec<String> = records
        .iter()
        .filter_map(|r| r["kernel"].as_str().map(str::to_owned))
        .collect();
    ks.sort();
    ks.dedup();
    ks
}

fn storms<'a>(
    records: &'a [Value],
    kernel: &str,
    scenario: &str,
    module: &str,
    loader: &str,
    copies: bool,
) -> BTreeMap<u64, &'a Value> {
    records
        .iter()
        .filter(|r| {
            r["kind"] == "storm"
                && r["kernel"] == kernel
                && r["scenario"] == scenario
                && r["module"] == module
                && r["loader"] == loader
                && r["copies"] == json!(copies)
        })
        .filter_map(|r| Some((r["n"].as_u64()?, r)))
        .collect()
}

fn peak(r: &Value) -> i64 {
    r["peak_vmalloc_delta_kb"].as_i64().unwrap_or(i64::MIN)
}

fn errnos(r: &Value) -> BTreeMap<String, u64> {
    r["errnos"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.clone(), v.as_u64()?)))
        .collect()
}

fn exact(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| ((*k).to_owned(), *n))
        .collect()
}

/// Scenario 1's commands (loading correctness): label, kmod's exit status and a text its output
/// contains. modkit's record of a label must equal kmod's.
const COMMANDS: [(&str, &str, &str); 13] = [
    ("modprobe", "0", ""),
    ("lsmod", "0", "libcrc32c"),
    ("modprobe-r", "0", ""),
    ("insmod-missing-dep", "1", "Unknown symbol in module"),
    ("insmod-dep", "0", ""),
    ("insmod", "0", ""),
    ("rmmod-in-use", "1", "is in use by: xfs"),
    ("rmmod", "0", ""),
    ("rmmod-dep", "0", ""),
    ("modprobe-missing", "1", "not found in directory"),
    ("modprobe-init-fails", "1", "No such device"),
    ("dry-run", "0", "xfs.ko"),
    ("lsmod-end", "0", "Module"),
];

/// Commands checked when recorded (every CI run; campaigns from before they were added lack
/// them): `kmod list` and `kmod static-nodes` over the tree's modules.devname. cuse is a
/// module in both trees (fuse, which 6.1 builds as a module, is built into 6.12, so it is
/// not in that tree's modules.devname).
const COMMANDS_RECORDED_LATER: [(&str, &str, &str); 4] = [
    ("kmod-list", "0", "libcrc32c"),
    (
        "static-nodes",
        "0",
        "Module: cuse\n\tDevice node: /dev/cuse\n",
    ),
    (
        "static-nodes-tmpfiles",
        "0",
        "c! /dev/cuse 0600 - - - 10:203\n",
    ),
    ("static-nodes-devname", "0", "cuse cuse c10:203\n"),
];

/// Problems found; empty when the records show the reference behaviour.
struct Check {
    problems: Vec<String>,
}

impl Check {
    fn expect(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            self.problems.push(what());
        }
    }

    /// No step timed out or failed to report, but for a hang the harness retried (its
    /// record says `"retried": true`; the retry's own record follows it).
    fn no_timeouts(&mut self, records: &[Value]) {
        for r in records.iter().filter(|r| r["retried"] != json!(true)) {
            self.expect(r["timeout"] != json!(true) && r["error"].is_null(), || {
                format!(
                    "{} {} {}: {}",
                    r["kernel"], r["kind"], r["label"], r["error"]
                )
            });
        }
    }

    /// xfs on one file, raw finit_module: 6.1 allocates a whole image per duplicate, 6.12
    /// shares the first load's result.
    fn same_file(&mut self, records: &[Value], kernel: &str) {
        let runs = storms(records, kernel, "duplicates", "xfs", "finit", false);
        self.expect(!runs.is_empty(), || format!("{kernel}: no xfs finit storm"));
        let single = runs.get(&1).map(|r| peak(r));
        for (&n, r) in &runs {
            self.expect(r["insert_syscalls"] == json!(n), || {
                format!("{kernel} finit n={n}: {} syscalls", r["insert_syscalls"])
            });
            let (want_ok, want_errnos) = if is_612(r) {
                (n, exact(&[]))
            } else {
                (1, exact(&[("EEXIST", n - 1)]))
            };
            self.expect(
                r["ok"] == json!(want_ok) && errnos(r) == want_errnos,
                || {
                    format!(
                        "{kernel} finit n={n}: ok={} errnos={}",
                        r["ok"], r["errnos"]
                    )
                },
            );
            let Some(one) = single else { continue };
            let want = if is_612(r) { one } else { one * n as i64 };
            self.expect((peak(r) - want).abs() <= slack(n), || {
                format!("{kernel} finit n={n}: peak {} kB, expected {want}", peak(r))
            });
        }
    }

    /// Distinct copies: no idempotent filter; each loader holds its own read buffer.
    fn copies(&mut self, records: &[Value], kernel: &str) {
        for (&n, r) in &storms(records, kernel, "duplicates", "xfs", "finit", true) {
            self.expect(
                r["ok"] == json!(1) && errnos(r) == exact(&[("EEXIST", n - 1)]),
                || {
                    format!(
                        "{kernel} copies n={n}: ok={} errnos={}",
                        r["ok"], r["errnos"]
                    )
                },
            );
            let file_kb = r["file_bytes"][0].as_i64().map(|b| (b + 4095) / 4096 * 4);
            if let Some(kb) = file_kb {
                self.expect(peak(r) >= n as i64 * kb, || {
                    format!(
                        "{kernel} copies n={n}: peak {} kB < {n} read buffers of {kb} kB",
                        peak(r)
                    )
                });
            }
        }
    }

    /// kmod 30 and raw init_module: which call reaches the kernel, and what it costs.
    fn kmod_and_init(&mut self, records: &[Value], kernel: &str) {
        let finit = storms(records, kernel, "duplicates", "xfs", "finit", false);
        for loader in ["kmod", "init"] {
            for (&n, r) in &storms(records, kernel, "duplicates", "xfs", loader, false) {
                self.expect(
                    r["ok"] == json!(1) && errnos(r) == exact(&[("EEXIST", n - 1)]),
                    || {
                        format!(
                            "{kernel} {loader} n={n}: ok={} errnos={}",
                            r["ok"], r["errnos"]
                        )
                    },
                );
                let calls = r["kernel_results"].as_object().cloned().unwrap_or_default();
                let want = if loader == "init" || is_612(r) {
                    "init_module"
                } else {
                    "finit_module"
                };
                self.expect(calls.len() == 1 && calls.contains_key(want), || {
                    format!("{kernel} {loader} n={n}: calls {calls:?}, expected {want} only")
                });
                if loader == "kmod" {
                    self.expect(r["exit_status"] == json!({ "0": n }), || {
                        format!("{kernel} kmod n={n}: exits {}", r["exit_status"])
                    });
                }
                let Some(f) = finit.get(&n) else { continue };
                if is_612(r) && n >= 2 {
                    // init_module is never de-duplicated: every loader's image is paid for.
                    self.expect(peak(r) > 2 * peak(f), || {
                        format!(
                            "{kernel} {loader} n={n}: peak {} not above the shared {}",
                            peak(r),
                            peak(f)
                        )
                    });
                } else if !is_612(r) && loader == "kmod" {
                    self.expect((peak(r) - peak(f)).abs() <= slack(n), || {
                        format!(
                            "{kernel} kmod n={n}: peak {} vs raw finit {}",
                            peak(r),
                            peak(f)
                        )
                    });
                }
            }
        }
    }

    /// modkit's modprobe through the shared loading context, on both kernels: `finit_module`
    /// only (flag 4 for `.ko.xz` on 6.12), one successful call per module and no duplicate
    /// whatever N, every process exiting 0, and the peak VmallocUsed of a single load
    /// (within 5%) at every N: for xfs (exactly one call) and for the per-CPU set.
    fn modkit(&mut self, records: &[Value], kernel: &str) {
        for module in ["xfs", "cpu"] {
            let runs = storms(records, kernel, "duplicates", module, "modkit", false);
            let Some(single) = runs.get(&1).copied() else {
                continue;
            };
            for (&n, r) in &runs {
                let calls = r["kernel_results"].as_object().cloned().unwrap_or_default();
                self.expect(calls.keys().all(|k| k == "finit_module"), || {
                    format!("{kernel} modkit {module} n={n}: calls {calls:?}, expected finit_module only")
                });
                // Each module is inserted once, whatever N: no duplicate reaches the kernel
                // (no EEXIST, no EBUSY), and a module whose init fails is not tried again
                // by the requesters its failure overlapped.
                let e = errnos(r);
                self.expect(
                    r["ok"] == single["ok"]
                        && r["insert_syscalls"] == single["insert_syscalls"]
                        && !e.contains_key("EEXIST")
                        && !e.contains_key("EBUSY"),
                    || {
                        format!(
                            "{kernel} modkit {module} n={n}: ok {}, {} calls (one loader: {}, {}), errnos {}",
                            r["ok"], r["insert_syscalls"], single["ok"], single["insert_syscalls"], r["errnos"]
                        )
                    },
                );
                self.expect(r["exit_status"] == json!({ "0": n }), || {
                    format!("{kernel} modkit {module} n={n}: exits {}", r["exit_status"])
                });
                let one = peak(single);
                self.expect((peak(r) - one).abs() <= one / 20 + slack(n), || {
                    format!(
                        "{kernel} modkit {module} n={n}: peak {} kB, single load {one}",
                        peak(r)
                    )
                });
            }
            if module == "xfs" {
                self.expect(
                    single["insert_syscalls"] == json!(1) && single["ok"] == json!(1),
                    || {
                        format!(
                            "{kernel} modkit xfs n=1: {} calls, ok {}",
                            single["insert_syscalls"], single["ok"]
                        )
                    },
                );
            }
        }
    }

    /// Every loader of a failing scenario fails: with the first loader's errno when the
    /// kernel shares it (6.12 `finit_module` on one file), else with that errno for the
    /// loaders that ran and EBUSY for the ones that waited.
    fn failures(
        &mut self,
        records: &[Value],
        kernel: &str,
        scenario: &str,
        module: &str,
        errno: &str,
    ) {
        for (loader, copies) in [("finit", false), ("finit", true), ("init", false)] {
            for (&n, r) in &storms(records, kernel, scenario, module, loader, copies) {
                let e = errnos(r);
                let fine = if is_612(r) && loader == "finit" && !copies {
                    e == exact(&[(errno, n)])
                } else {
                    e.keys().all(|k| k == errno || k == "EBUSY")
                        && e.get(errno).is_some_and(|c| *c >= 1)
                        && e.values().sum::<u64>() == n
                };
                self.expect(r["ok"] == json!(0) && fine, || {
                    format!(
                        "{kernel} {scenario} {loader} copies={copies} n={n}: ok={} errnos={}",
                        r["ok"], r["errnos"]
                    )
                });
            }
        }
    }

    /// kmod's scenario-1 commands, and modkit's: the same bytes and status. modkit's record
    /// of a label kmod has is required as soon as modkit ran on this kernel at all (any
    /// modkit storm or command), so a run that lost some of modkit's records fails.
    fn commands(&mut self, records: &[Value], kernel: &str) {
        let by_label: BTreeMap<&str, &Value> = records
            .iter()
            .filter(|r| r["kind"] == "command" && r["kernel"] == kernel)
            .filter_map(|r| Some((r["label"].as_str()?, r)))
            .collect();
        let modkit_ran = modkit_ran(records, kernel);
        let present =
            |l: &&(&str, &str, &str)| by_label.contains_key(format!("kmod:{}", l.0).as_str());
        let later = COMMANDS_RECORDED_LATER.iter().filter(present);
        for (label, status, text) in COMMANDS.iter().chain(later) {
            let Some(r) = by_label.get(format!("kmod:{label}").as_str()) else {
                self.problems
                    .push(format!("{kernel}: no kmod:{label} record"));
                continue;
            };
            let out = format!(
                "{}{}",
                r["stdout"].as_str().unwrap_or(""),
                r["stderr"].as_str().unwrap_or("")
            );
            self.expect(r["status"] == json!(status) && out.contains(text), || {
                format!(
                    "{kernel} kmod:{label}: status {} output {out:?}",
                    r["status"]
                )
            });
            let Some(m) = by_label.get(format!("modkit:{label}").as_str()) else {
                self.expect(!modkit_ran, || {
                    format!("{kernel}: modkit ran but there is no modkit:{label} record")
                });
                continue;
            };
            for field in ["stdout", "stderr", "status", "loaded_after"] {
                self.expect(m[field] == r[field], || {
                    format!(
                        "{kernel} {label}: modkit {field} {} != kmod {}",
                        m[field], r[field]
                    )
                });
            }
        }
        let after_remove = by_label
            .get("kmod:modprobe-r")
            .map(|r| r["loaded_after"].clone());
        self.expect(
            after_remove.is_some_and(|l| {
                !l.as_array()
                    .into_iter()
                    .flatten()
                    .any(|m| m == "xfs" || m == "libcrc32c")
            }),
            || format!("{kernel}: modprobe -r xfs left xfs or libcrc32c loaded"),
        );
    }

    /// One xfs load: the module-area lines of /proc/vmallocinfo sum to coresize plus one
    /// guard page each.
    fn layouts(&mut self, records: &[Value], kernel: &str) {
        for r in records
            .iter()
            .filter(|r| r["kind"] == "layout" && r["kernel"] == kernel)
        {
            let sizes: Vec<i64> = r["areas_settled"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|a| a["size"].as_i64())
                .collect();
            let core = r["coresize"].as_i64().unwrap_or(-1);
            let areas = if is_612(r) { 3..=4 } else { 1..=1 };
            self.expect(
                areas.contains(&sizes.len()) && sizes.iter().map(|s| s - 4096).sum::<i64>() == core,
                || format!("{kernel} layout: areas {sizes:?}, coresize {core}"),
            );
        }
    }
}

/// Whether modkit ran on `kernel`: a storm of its loader or a command under its label.
fn modkit_ran(records: &[Value], kernel: &str) -> bool {
    records.iter().filter(|r| r["kernel"] == kernel).any(|r| {
        (r["kind"] == "storm" && r["loader"] == "modkit")
            || (r["kind"] == "command"
                && r["label"]
                    .as_str()
                    .is_some_and(|l| l.starts_with("modkit:")))
    })
}

/// Every check over a set of records; the problems found.
fn check(records: &[Value]) -> Vec<String> {
    let mut c = Check {
        problems: Vec::new(),
    };
    c.no_timeouts(records);
    let ks = kernels(records);
    c.expect(ks.len() == 2, || {
        format!("expected the 6.1 and 6.12 kernels, got {ks:?}")
    });
    for k in &ks {
        c.same_file(records, k);
        c.copies(records, k);
        c.kmod_and_init(records, k);
        c.modkit(records, k);
        // libcrc32c missing: unknown symbols, ENOENT.
        c.failures(records, k, "first-fails", "xfs", "ENOENT");
        // coretemp's init fails without the DTHERM CPU feature (TCG).
        c.failures(records, k, "init-fails", "coretemp", "ENODEV");
        c.commands(records, k);
        c.layouts(records, k);
    }
    c.problems
}

fn assert_reference(source: &str, records: &[Value]) {
    assert!(!records.is_empty(), "{source}: no records");
    let problems = check(records);
    assert!(problems.is_empty(), "{source}:\n{}", problems.join("\n"));
}

/// A recorded file of the testbed (`testbed/results.json`, `duel.json`, `repeats.json`):
/// a JSON array of records.
fn recorded(name: &str) -> Vec<Value> {
    let path = workspace_root().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The records of a CI testbed run (`MODKIT_VM_RESULTS`): one JSON object a line.
fn ci_records(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{path:?}: {e}")))
        .collect()
}

#[test]
fn vm_ci_run_shows_the_reference_behaviour() {
    let test = "vm_ci_run_shows_the_reference_behaviour";
    let Some(path) = std::env::var_os("MODKIT_VM_RESULTS") else {
        let must = std::env::var("MODKIT_REQUIRE_VM").is_ok_and(|v| v == "1");
        assert!(
            !must,
            "{test}: MODKIT_VM_RESULTS unset but MODKIT_REQUIRE_VM=1"
        );
        return skip(test, "MODKIT_VM_RESULTS is unset (no testbed run)");
    };
    let records = ci_records(Path::new(&path));
    assert_reference("the CI testbed run", &records);
    for k in kernels(&records) {
        for label in [
            "kmod-list",
            "static-nodes",
            "static-nodes-tmpfiles",
            "static-nodes-devname",
        ] {
            for tool in ["kmod", "modkit"] {
                let full = format!("{tool}:{label}");
                assert!(
                    records
                        .iter()
                        .any(|r| r["kernel"] == k.as_str() && r["label"] == full.as_str()),
                    "{k}: the CI run has no {full} record"
                );
            }
        }
    }
}

#[test]
fn recorded_campaign_shows_the_reference_behaviour() {
    let records = recorded("testbed/results.json");
    assert_reference("testbed/results.json", &records);
    // The campaign covers N = 1, 2, 4, 8, 16, 32 for every loader on both kernels.
    for k in kernels(&records) {
        for loader in ["finit", "init", "kmod"] {
            let ns: Vec<u64> = storms(&records, &k, "duplicates", "xfs", loader, false)
                .into_keys()
                .collect();
            assert_eq!(ns, [1, 2, 4, 8, 16, 32], "{k} {loader}");
        }
    }
}

/// The checker itself catches a wrong kernel answer, a growing 6.12 peak and a timeout.
#[test]
fn testbed_check_finds_deviations() {
    let storm = |kernel: &str, n: u64, ok: u64, errnos: Value, peak: i64| {
        json!({"kind": "storm", "kernel": kernel, "scenario": "duplicates", "module": "xfs",
               "loader": "finit", "copies": false, "n": n, "ok": ok, "errnos": errnos,
               "insert_syscalls": n, "peak_vmalloc_delta_kb": peak})
    };
    let good = vec![
        storm("6.1.0-56-amd64", 1, 1, json!({}), 6500),
        storm("6.1.0-56-amd64", 4, 1, json!({"EEXIST": 3}), 26000),
        storm("6.12.117+deb13-amd64", 1, 1, json!({}), 3196),
        storm("6.12.117+deb13-amd64", 4, 4, json!({}), 3212),
    ];
    let mut c = Check {
        problems: Vec::new(),
    };
    for k in kernels(&good) {
        c.same_file(&good, &k);
    }
    assert!(c.problems.is_empty(), "{:?}", c.problems);
    let mut bad = good.clone();
    bad[3] = storm("6.12.117+deb13-amd64", 4, 1, json!({"EEXIST": 3}), 12784);
    bad[1]["timeout"] = json!(true);
    let mut c = Check {
        problems: Vec::new(),
    };
    c.no_timeouts(&bad);
    for k in kernels(&bad) {
        c.same_file(&bad, &k);
    }
    assert_eq!(c.problems.len(), 3, "{:?}", c.problems);
}

/// The commands check: modkit's record is required for every label kmod has once modkit
/// ran on that kernel (a storm or a command), and a differing one is found.
#[test]
fn testbed_commands_check_requires_modkits_records_once_modkit_ran() {
    let kernel = "6.1.0-56-amd64";
    // Every always-checked command and one checked when recorded (kmod-list).
    let labels: Vec<(&str, &str, &str)> = COMMANDS
        .into_iter()
        .chain(COMMANDS_RECORDED_LATER.into_iter().take(1))
        .collect();
    let command = |tool: &str, (label, status, out): (&str, &str, &str)| {
        json!({"kind": "command", "kernel": kernel, "label": format!("{tool}:{label}"),
               "status": status, "stdout": out, "stderr": "", "loaded_after": []})
    };
    let problems = |records: &[Value]| {
        let mut c = Check {
            problems: Vec::new(),
        };
        c.commands(records, kernel);
        c.problems
    };
    let kmod: Vec<Value> = labels.iter().map(|&l| command("kmod", l)).collect();
    let modkit: Vec<Value> = labels.iter().map(|&l| command("modkit", l)).collect();
    // kmod alone (a run before modkit could load): nothing required of modkit.
    assert_eq!(problems(&kmod), Vec::<String>::new());
    // Both tools, every record: no problem.
    let all: Vec<Value> = kmod.iter().chain(&modkit).cloned().collect();
    assert_eq!(problems(&all), Vec::<String>::new());
    // modkit's kmod-list record lost (kmod has one): found.
    let lost: Vec<Value> = all
        .iter()
        .filter(|r| r["label"] != "modkit:kmod-list")
        .cloned()
        .collect();
    let found = problems(&lost);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("no modkit:kmod-list record"), "{found:?}");
    // Only a modkit storm, no modkit command: every label is missing.
    let mut storm_only = kmod.clone();
    storm_only.push(json!({"kind": "storm", "kernel": kernel, "loader": "modkit"}));
    assert_eq!(problems(&storm_only).len(), labels.len());
    // A differing modkit record: found.
    let mut differs = all.clone();
    differs[labels.len()]["status"] = json!("1");
    assert_eq!(problems(&differs).len(), 1);
}

/// The module-area layout the elf crate computes for xfs equals what the kernel allocated
/// (the areas of the recorded layout runs, one guard page each), when the recorded kernel
/// is the fetched tree.
#[test]
fn vm_layouts_equal_the_elf_crates_layout() {
    let test = "vm_layouts_equal_the_elf_crates_layout";
    let Some(trees) = modkit_tests::trees::trees(test) else {
        return;
    };
    let mut records = recorded("testbed/results.json");
    // The CI run boots the fetched kernels, so its layouts always have their tree; the
    // recorded campaign's only while Debian has published no newer kernel.
    if let Some(ci) = std::env::var_os("MODKIT_VM_RESULTS") {
        records.extend(ci_records(Path::new(&ci)));
    }
    let mut compared = 0;
    for r in records.iter().filter(|r| r["kind"] == "layout") {
        let kernel = r["kernel"].as_str().unwrap_or("");
        let Some(tree) = trees.iter().find(|t| t.version == kernel) else {
            eprintln!("note: no fetched tree for kernel {kernel}; its layout is not compared");
            continue;
        };
        let rel = if kernel.starts_with("6.12.") {
            "kernel/fs/xfs/xfs.ko.xz"
        } else {
            "kernel/fs/xfs/xfs.ko"
        };
        let bytes = std::fs::read(tree.module_dir().join(rel)).expect("xfs is in the tree");
        let image = modkit_elf::decompress(&bytes).expect("decompresses");
        let module = modkit_elf::Module::parse(&image).expect("parses");
        let generation = if kernel.starts_with("6.12.") {
            modkit_elf::layout::Generation::ModuleMemory
        } else {
            modkit_elf::layout::Generation::CoreInit
        };
        let layout = modkit_elf::layout::layout(&module, generation).expect("layout");
        // Sorted: an area can land in a hole below the others, so address order is not
        // allocation order.
        let sorted = |mut v: Vec<u64>| {
            v.sort_unstable();
            v
        };
        let sizes = |field: &str| -> Vec<u64> {
            sorted(
                r[field]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|a| a["size"].as_u64())
                    .collect(),
            )
        };
        // (allocation, is init), one guard page each.
        let all: Vec<(u64, bool)> = match layout {
            modkit_elf::layout::Layout::CoreInit(l) => {
                vec![(l.core + 4096, false), (l.init + 4096, true)]
            }
            modkit_elf::layout::Layout::ModuleMemory(l) => modkit_elf::layout::MemType::ALL
                .iter()
                .filter(|&&t| l.allocated(t) > 0)
                .map(|&t| (l.allocated(t) + 4096, t.is_init()))
                .collect(),
        };
        let with_init = sorted(all.iter().map(|a| a.0).collect());
        let core = sorted(all.iter().filter(|a| !a.1).map(|a| a.0).collect());
        assert_eq!(
            sizes("areas_settled"),
            core,
            "{kernel}: core areas vs the elf crate's layout"
        );
        // Right after the load the init areas may already be freed (asynchronously).
        let after = sizes("areas_after_load");
        assert!(
            after == with_init || after == core,
            "{kernel}: areas {after:?}, layout {with_init:?}"
        );
        compared += 1;
    }
    if compared == 0 && required() {
        panic!("{test}: no recorded layout matched a fetched tree");
    }
}

/// The median of a field over a loader's runs of one (kernel, target, N).
fn median_of(runs: &[&Value], field: &str) -> Option<f64> {
    let mut v: Vec<f64> = runs.iter().filter_map(|r| r[field].as_f64()).collect();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2]),
        _ => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

/// The one-sided exact Mann–Whitney p-value that `slow` is slower than `fast`: the share of
/// the ways to split the pooled samples into groups of those sizes whose U statistic (pairs
/// in which `slow`'s sample is longer, ties counting a half) is at least the observed one.
fn p_slower(slow: &[f64], fast: &[f64]) -> f64 {
    let u = |a: &[f64], b: &[f64]| -> f64 {
        a.iter()
            .flat_map(|x| b.iter().map(move |y| (x, y)))
            .map(|(x, y)| match x.total_cmp(y) {
                std::cmp::Ordering::Greater => 1.0,
                std::cmp::Ordering::Equal => 0.5,
                std::cmp::Ordering::Less => 0.0,
            })
            .sum()
    };
    let observed = u(slow, fast);
    let pooled: Vec<f64> = slow.iter().chain(fast).copied().collect();
    let (n, k) = (pooled.len(), slow.len());
    let (mut at_least, mut total) = (0u64, 0u64);
    for mask in 0u32..(1 << n) {
        if mask.count_ones() as usize != k {
            continue;
        }
        type Side = Vec<(usize, f64)>;
        let (a, b): (Side, Side) = pooled
            .iter()
            .copied()
            .enumerate()
            .partition(|(i, _)| mask & (1 << i) != 0);
        let a: Vec<f64> = a.into_iter().map(|(_, v)| v).collect();
        let b: Vec<f64> = b.into_iter().map(|(_, v)| v).collect();
        total += 1;
        if u(&a, &b) >= observed - 1e-9 {
            at_least += 1;
        }
    }
    at_least as f64 / total.max(1) as f64
}

/// The duel fails when modkit is slower than kmod in some row at this family-wise
/// significance (one-sided; Bonferroni over the rows: with one test per row at 5 %, twenty
/// rows where the two tools tie, as at N = 1, would raise a false alarm two times in three).
const DUEL_SIGNIFICANCE: f64 = 0.05;

/// Runs per loader and row the recorded duel needs: with 7 against 7 the smallest one-sided
/// p-value is 1/3432, so a row can reach the Bonferroni level of 20 rows (0.0025); with 5
/// (1/252) it never could.
const DUEL_RUNS: usize = 7;

/// The duel (testbed/duel.json, `cargo xtask vm duel --write`): per kernel, for xfs and the
/// CPU set at every N, modkit makes the insertion calls of one loader, every process exits
/// 0, its median peak is its single-loader peak within 5%, and its wall time is no worse
/// than kmod's: in no row is modkit slower at [`DUEL_SIGNIFICANCE`] over all rows (one TCG
/// run varies by 2–5×, so single medians cannot settle a row), and over all rows the
/// geometric mean of the ratios of medians is at most 1.
fn duel_problems(records: &[Value], runs: usize) -> Vec<String> {
    type Rows<'a> = BTreeMap<(String, String, u64), BTreeMap<String, Vec<&'a Value>>>;
    let mut rows: Rows = BTreeMap::new();
    let mut c = Check {
        problems: Vec::new(),
    };
    c.no_timeouts(records);
    // A guest that crashed (TCG, see docs/testbed.md) left a record with an error and no
    // results; its step was run again in a fresh boot, and the row must still have `runs`
    // complete runs.
    let complete = |r: &&Value| r["kind"] == "storm" && r["error"].is_null();
    for r in records.iter().filter(complete) {
        let key = (
            r["kernel"].as_str().unwrap_or("?").to_owned(),
            r["module"].as_str().unwrap_or("?").to_owned(),
            r["n"].as_u64().unwrap_or(0),
        );
        let loader = r["loader"].as_str().unwrap_or("?").to_owned();
        rows.entry(key)
            .or_default()
            .entry(loader)
            .or_default()
            .push(r);
    }
    let mut log_ratios = Vec::new();
    for ((kernel, target, n), by) in &rows {
        let what = format!("{kernel} {target} n={n}");
        let (Some(kmod), Some(ours)) = (by.get("kmod"), by.get("modkit")) else {
            c.expect(false, || format!("{what}: kmod or modkit runs missing"));
            continue;
        };
        c.expect(kmod.len() >= runs && ours.len() >= runs, || {
            format!("{what}: {} kmod and {} modkit runs", kmod.len(), ours.len())
        });
        let single = &rows[&(kernel.clone(), target.clone(), 1)]["modkit"];
        let calls = median_of(single, "insert_syscalls");
        for r in ours {
            c.expect(r["exit_status"] == json!({ "0": n }), || {
                format!("{what}: modkit exits {}", r["exit_status"])
            });
            c.expect(r["insert_syscalls"].as_f64() == calls, || {
                format!(
                    "{what}: modkit made {} insertion calls, one loader {calls:?}",
                    r["insert_syscalls"]
                )
            });
        }
        let (one, peak) = (
            median_of(single, "peak_vmalloc_delta_kb").unwrap_or(0.0),
            median_of(ours, "peak_vmalloc_delta_kb").unwrap_or(f64::MAX),
        );
        c.expect((peak - one).abs() <= one / 20.0 + slack(*n) as f64, || {
            format!("{what}: modkit's median peak {peak} kB, its single load {one}")
        });
        let walls = |runs: &[&Value]| -> Vec<f64> {
            runs.iter().filter_map(|r| r["wall_ms"].as_f64()).collect()
        };
        let (wk, wo) = (walls(kmod), walls(ours));
        let p = p_slower(&wo, &wk);
        let level = DUEL_SIGNIFICANCE / rows.len() as f64;
        c.expect(p >= level, || {
            format!("{what}: modkit slower than kmod (p = {p:.3}): {wo:?} against {wk:?} ms")
        });
        let (mk, mo) = (median_of(kmod, "wall_ms"), median_of(ours, "wall_ms"));
        log_ratios.push(mo.zip(mk).map_or(f64::MAX, |(o, k)| o / k).ln());
    }
    let mean = (log_ratios.iter().sum::<f64>() / log_ratios.len().max(1) as f64).exp();
    c.expect(!log_ratios.is_empty() && mean <= 1.0, || {
        format!(
            "geometric mean of modkit/kmod wall times {mean:.3} over {} rows",
            log_ratios.len()
        )
    });
    c.problems
}

#[test]
fn recorded_duel_shows_one_insertion_a_flat_peak_and_no_slower_than_kmod() {
    let records = recorded("testbed/duel.json");
    assert_eq!(kernels(&records).len(), 2, "both kernels");
    for k in kernels(&records) {
        for target in ["xfs", "cpu"] {
            let ns: Vec<u64> = storms(&records, &k, "duplicates", target, "modkit", false)
                .into_keys()
                .collect();
            assert_eq!(ns, [1, 2, 4, 8, 16], "{k} {target}");
        }
    }
    let problems = duel_problems(&records, DUEL_RUNS);
    assert!(
        problems.is_empty(),
        "testbed/duel.json:\n{}",
        problems.join("\n")
    );
}

/// The duel's checker catches a duplicate insertion, a growing peak and a slower modkit;
/// the significance test tells a slower sample from an overlapping one.
#[test]
fn duel_check_finds_deviations() {
    let run = |loader: &str, n: u64, calls: u64, peak: u64, wall: f64| {
        json!({"kind": "storm", "kernel": "6.1.0-56-amd64", "module": "xfs", "n": n,
               "loader": loader, "insert_syscalls": calls, "peak_vmalloc_delta_kb": peak,
               "wall_ms": wall, "exit_status": {"0": n}})
    };
    let mut good = Vec::new();
    for i in 0..5 {
        let t = f64::from(i) * 10.0;
        good.push(run("kmod", 1, 1, 6500, 1000.0 + t));
        good.push(run("modkit", 1, 1, 6500, 990.0 + t));
        good.push(run("kmod", 4, 4, 26000, 2000.0 + t));
        good.push(run("modkit", 4, 1, 6500, 1500.0 + t));
    }
    assert_eq!(duel_problems(&good, 5), Vec::<String>::new());
    let mut bad = good.clone();
    for i in 0..5 {
        bad[4 * i + 3] = run("modkit", 4, 2, 13000, 3000.0 + f64::from(i as u8));
    }
    let problems = duel_problems(&bad, 5);
    // Two insertions (5 runs), the peak, the slower wall time, the mean of the ratios.
    assert_eq!(problems.len(), 8, "{problems:?}");
    let p = p_slower(&[5.0, 6.0, 7.0, 8.0, 9.0], &[1.0, 2.0, 3.0, 4.0, 4.5]);
    assert!((p - 1.0 / 252.0).abs() < 1e-12, "{p}");
    assert!(p_slower(&[1.0, 4.0, 6.0], &[2.0, 3.0, 5.0]) > 0.3);
}

/// The storm a record is a run of.
fn storm_key(r: &Value) -> String {
    format!(
        "{} {} {} {} n={}{}",
        r["kernel"].as_str().unwrap_or("?"),
        r["scenario"].as_str().unwrap_or("?"),
        r["loader"].as_str().unwrap_or("?"),
        r["module"].as_str().unwrap_or("?"),
        r["n"],
        if r["copies"] == json!(true) {
            " copies"
        } else {
            ""
        }
    )
}

/// The repeats (testbed/repeats.json, `cargo xtask vm repeat --write`): every completed run
/// is a run of one of the campaign's storms, with the campaign's successes and number of
/// insertion calls for a raw loader (what timing cannot change), every storm at least
/// `rounds` times; and the premise of recording them holds: some storms' errnos differ
/// from run to run.
fn repeats_problems(campaign: &[Value], repeats: &[Value], rounds: usize) -> Vec<String> {
    let mut problems = Vec::new();
    let done = |r: &&Value| {
        r["kind"] == "storm" && r["timeout"] != json!(true) && r["crashed"] != json!(true)
    };
    let mut runs: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for r in repeats.iter().filter(done) {
        runs.entry(storm_key(r)).or_default().push(r);
    }
    for (key, list) in &runs {
        let Some(c) = campaign.iter().filter(done).find(|c| storm_key(c) == *key) else {
            problems.push(format!("{key}: not a storm of the campaign"));
            continue;
        };
        if list.len() < rounds {
            problems.push(format!("{key}: {} runs, expected {rounds}", list.len()));
        }
        let raw = c["call"] != "exec";
        for r in list {
            if r["ok"] != c["ok"] || (raw && r["insert_syscalls"] != c["insert_syscalls"]) {
                problems.push(format!(
                    "{key}: ok={} calls={} where the campaign has ok={} calls={}",
                    r["ok"], r["insert_syscalls"], c["ok"], c["insert_syscalls"]
                ));
            }
        }
    }
    if !runs
        .values()
        .any(|list| list.iter().any(|r| r["errnos"] != list[0]["errnos"]))
    {
        problems.push("no storm's errnos differ from run to run".to_owned());
    }
    problems
}

#[test]
fn recorded_repeats_are_runs_of_the_campaign_s_storms() {
    let (campaign, repeats) = (
        recorded("testbed/results.json"),
        recorded("testbed/repeats.json"),
    );
    let problems = repeats_problems(&campaign, &repeats, 5);
    assert!(
        problems.is_empty(),
        "testbed/repeats.json:\n{}",
        problems.join("\n")
    );
}

#[test]
fn repeats_check_finds_deviations() {
    let run = |n: u64, ok: u64, ebusy: u64| {
        json!({"kind": "storm", "kernel": "6.1.0-57-amd64", "scenario": "duplicates",
            "loader": "finit", "module": "cpu", "n": n, "copies": false, "call": "finit",
            "ok": ok, "insert_syscalls": 16 * n, "errnos": {"EBUSY": ebusy}})
    };
    let campaign = [run(2, 14, 2)];
    assert!(repeats_problems(&campaign, &[run(2, 14, 2), run(2, 14, 1)], 2).is_empty());
    let cases = [
        (
            vec![run(2, 14, 2), run(2, 14, 2)],
            "no storm's errnos differ",
        ),
        (vec![run(2, 14, 2)], "1 runs, expected 2"),
        (vec![run(2, 13, 2), run(2, 14, 1)], "ok=13"),
        (
            vec![run(4, 14, 2), run(4, 14, 1)],
            "not a storm of the campaign",
        ),
    ];
    for (repeats, message) in cases {
        let problems = repeats_problems(&campaign, &repeats, 2);
        assert!(
            problems.iter().any(|p| p.contains(message)),
            "{message}: {problems:?}"
        );
    }
}
