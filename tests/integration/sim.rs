//! `modkit sim` and `modkit sizes` through the binary: storms, stats text, JSON, bad
//! input (unknown version or profile, a profile that does not parse, a tree without
//! modules), and, on the real Debian trees, that regenerating the committed profiles gives
//! the same bytes and that the tree-wide layout ratios are the spec's.

use modkit_tests::{modkit, scratch, trees, workspace_root};
use std::process::Output;

fn run(test: &str, tool: &str, args: &[&str]) -> Option<Output> {
    Some(
        modkit(test, tool)?
            .args(args)
            .output()
            .expect("modkit runs"),
    )
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn storm_prints_the_debugfs_stats_of_the_kernel() {
    let Some(out) = run(
        "sim_storm_stats",
        "sim",
        &[
            "storm",
            "--kernel",
            "6.4",
            "--cpus",
            "16",
            "--profile",
            "kvm-guest",
            "--stats",
        ],
    ) else {
        return;
    };
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let first: Vec<&str> = stdout.lines().take(2).collect();
    assert_eq!(first[1], "     Mods failed on kread\t0");
    assert!(first[0].starts_with("         Mods ever loaded\t"));
    assert!(stdout.contains("Duplicate failed modules:\n"));
    assert!(stdout.contains(&format!(
        "{:>25}\t{:>15}\t{:>25}\n",
        "Module-name", "How-many-times", "Reason"
    )));
}

/// The JSON report of 8 xfs racers on 6.1 (skylake-sp, 4 CPUs) with `seed` and `extra`
/// options (`test` names the run's scratch directory).
fn xfs_storm(test: &str, seed: &str, extra: Option<&str>) -> Option<serde_json::Value> {
    let mut args = vec![
        "storm",
        "--kernel",
        "6.1",
        "--cpus",
        "4",
        "--profile",
        "skylake-sp",
        "--module",
        "xfs",
        "--racers",
        "8",
        "--seed",
        seed,
        "--json",
    ];
    args.extend(extra);
    let out = run(test, "sim", &args)?;
    assert!(out.status.success(), "{}", text(&out.stderr));
    Some(serde_json::from_slice(&out.stdout).expect("JSON"))
}

/// `--testbed-stalls` runs a storm on the testbed's machine (`Stalls::TESTBED`): the
/// kernel's answers stay, the calls take longer.
#[test]
fn storm_with_testbed_stalls_takes_longer_with_the_same_answers() {
    let storm = |stalls: bool, seed: &str| {
        xfs_storm(
            "sim_storm_stalls",
            seed,
            stalls.then_some("--testbed-stalls"),
        )
    };
    let mut longer = 0;
    for seed in ["1", "2", "3"] {
        let (Some(calm), Some(stalled)) = (storm(false, seed), storm(true, seed)) else {
            return;
        };
        assert_eq!(calm["errnos"], stalled["errnos"], "seed {seed}");
        assert_eq!(stalled["errnos"]["EEXIST"], 7);
        let ms = |v: &serde_json::Value| v["median_call_ms"].as_f64().expect("median");
        assert!(ms(&stalled) >= ms(&calm), "seed {seed}");
        longer += usize::from(ms(&stalled) > ms(&calm));
    }
    assert!(longer > 0, "no seed's calls were stalled");
}

/// `--testbed-scheduler` runs a storm with the testbed guest's scheduler
/// (`GuestScheduler::TESTBED`): 8 racers of xfs on 6.1 share 3 processors with the sampler
/// and the late ones wait for a vCPU, so the storm takes longer with the same answers.
#[test]
fn storm_with_the_testbed_scheduler_shares_the_processors() {
    let storm = |scheduler: bool| {
        xfs_storm(
            "sim_storm_scheduler",
            "1",
            scheduler.then_some("--testbed-scheduler"),
        )
    };
    let (Some(free), Some(shared)) = (storm(false), storm(true)) else {
        return;
    };
    assert_eq!(free["errnos"], shared["errnos"]);
    let end = |v: &serde_json::Value| v["end_ms"].as_f64().expect("end_ms");
    assert!(
        end(&shared) > 1.5 * end(&free),
        "{} ms shared, {} ms with a processor each",
        end(&shared),
        end(&free)
    );
}

#[test]
fn storm_json_carries_the_report() {
    let Some(out) = run(
        "sim_storm_json",
        "sim",
        &[
            "storm",
            "--kernel",
            "6.12",
            "--cpus",
            "8",
            "--profile",
            "epyc-guest@6.12",
            "--json",
        ],
    ) else {
        return;
    };
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["version"], "6.12");
    assert_eq!(v["profile"], "epyc-guest@6.12");
    assert!(v["peak_vmalloc_delta_kb"].as_u64().is_some());
    assert!(v["stats_text"]
        .as_str()
        .is_some_and(|s| s.contains("Virtual mem wasted bytes")));
}

#[test]
fn bad_input_is_a_clear_error() {
    let cases: [(&[&str], &str); 4] = [
        (
            &["storm", "--kernel", "5.4", "--profile", "kvm-guest"],
            "unknown kernel version '5.4'",
        ),
        (
            &["storm", "--kernel", "6.1", "--profile", "no-such-box"],
            "unknown profile 'no-such-box'",
        ),
        (
            &["storm", "--kernel", "6.1", "--cpus", "many"],
            "--cpus: 'many' is not a number",
        ),
        (
            &["sweep", "--kernels", "6.1,7.0"],
            "unknown kernel version '7.0'",
        ),
    ];
    for (args, message) in cases {
        let Some(out) = run("sim_bad_input", "sim", args) else {
            return;
        };
        assert!(!out.status.success(), "{args:?} must fail");
        assert!(
            text(&out.stderr).contains(message),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(!text(&out.stderr).contains("panicked"));
    }
    let dir = scratch("sim_bad_profile");
    let bad = dir.join("bad.json");
    std::fs::write(&bad, "{\"name\": \"x\", \"modules\": [").unwrap();
    let Some(out) = run(
        "sim_bad_input",
        "sim",
        &[
            "storm",
            "--kernel",
            "6.1",
            "--profile",
            bad.to_str().unwrap(),
        ],
    ) else {
        return;
    };
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("bad.json"),
        "{}",
        text(&out.stderr)
    );
    let empty = dir.join("lib/modules/1.0");
    std::fs::create_dir_all(&empty).unwrap();
    let Some(out) = run("sim_bad_input", "sizes", &[dir.to_str().unwrap()]) else {
        return;
    };
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("a tree without modules"));
    let Some(out) = run(
        "sim_bad_input",
        "sim",
        &[
            "profile",
            "--tree",
            dir.to_str().unwrap(),
            "--name",
            "kvm-guest",
        ],
    ) else {
        return;
    };
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("no modules in this tree"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn validate_reproduces_the_reference_tables() {
    let Some(out) = run("sim_validate", "sim", &["validate"]) else {
        return;
    };
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(text(&out.stdout).contains("| testbed.md §7.2 | 6.1 | finit | xfs | 8 | same | ok=1, EEXIST=7 | ok=1, EEXIST=7 | 52000 | 52000 |"));
}

#[test]
fn validate_names_a_repeats_file_it_cannot_use() {
    let dir = scratch("sim_validate_repeats");
    let storm = |n: u32| {
        format!(
            r#"{{"kind":"storm","kernel":"6.1.0-57-amd64","scenario":"duplicates","loader":"finit","module":"xfs","n":{n},"copies":false,"ok":1,"errnos":{{"EEXIST":{}}},"peak_vmalloc_delta_kb":{}}}"#,
            n - 1,
            6500 * n
        )
    };
    let results = dir.join("results.json");
    std::fs::write(&results, format!("[{}]", storm(2))).unwrap();
    let unmatched = dir.join("repeats.json");
    std::fs::write(&unmatched, format!("[{},{}]", storm(2), storm(3))).unwrap();
    let broken = dir.join("broken.json");
    std::fs::write(&broken, "[{").unwrap();
    let cases = [
        (
            &unmatched,
            "repeats.json: 1 of 2 runs repeat no storm of the results",
        ),
        (&broken, "broken.json: results:"),
    ];
    let validate = |repeats: &str| {
        let args = ["validate", results.to_str().unwrap(), "--repeats", repeats];
        run("sim_validate_repeats", "sim", &args)
    };
    for (repeats, message) in cases {
        let Some(out) = validate(repeats.to_str().unwrap()) else {
            return;
        };
        assert_eq!(out.status.code(), Some(1));
        assert!(text(&out.stderr).contains(message), "{}", text(&out.stderr));
        assert!(!text(&out.stderr).contains("panicked"));
    }
    // A matching repeat: the record is compared with the guest's two runs.
    std::fs::write(&unmatched, format!("[{}]", storm(2))).unwrap();
    let one = unmatched.to_str().unwrap();
    let Some(out) = validate(one) else {
        return;
    };
    assert!(
        text(&out.stdout)
            .contains("| ok=1, EEXIST=1 | ok=1, EEXIST=1 | 13000 | 13000 | 2 | 2 runs | yes |"),
        "{}",
        text(&out.stdout)
    );
    // Several files, comma-separated: every run of each is attached; a bad one is named.
    let out = validate(&format!("{one},{one}")).unwrap();
    assert!(
        text(&out.stdout).contains("| 3 runs | yes |"),
        "{}",
        text(&out.stdout)
    );
    let out = validate(&format!("{one},{}", broken.to_str().unwrap())).unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("broken.json: results:"));
}

#[test]
fn sweep_writes_json_svg_and_png() {
    let dir = scratch("sim_sweep");
    let Some(out) = run(
        "sim_sweep",
        "sim",
        &[
            "sweep",
            "--profile",
            "epyc-guest",
            "--kernels",
            "6.1,6.12",
            "--cpus",
            "1,8,32",
            "--out",
            dir.to_str().unwrap(),
        ],
    ) else {
        return;
    };
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("a=6.1  b=6.12"));
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("sweep.json")).unwrap()).unwrap();
    assert_eq!(json["points"].as_array().map(Vec::len), Some(6));
    assert!(std::fs::read_to_string(dir.join("sweep.svg"))
        .unwrap()
        .contains("<svg"));
    assert!(std::fs::read(dir.join("sweep.png"))
        .unwrap()
        .starts_with(b"\x89PNG"));
}

#[test]
fn committed_profiles_regenerate_byte_for_byte() {
    let Some(trees) = trees("sim_profiles_regenerate") else {
        return;
    };
    let profiles = workspace_root().join("crates/sim/profiles");
    for tree in trees {
        for machine in ["skylake-sp", "kvm-guest", "epyc-guest", "tcg-haswell"] {
            let series: String = tree
                .version
                .split('.')
                .take(2)
                .collect::<Vec<_>>()
                .join(".");
            let committed = profiles.join(format!("{machine}@{series}.json"));
            let Ok(expected) = std::fs::read_to_string(&committed) else {
                continue;
            };
            if !expected.contains(&format!("\"release\": \"{}\"", tree.version)) {
                eprintln!(
                    "note: {committed:?} comes from another release than {}",
                    tree.version
                );
                continue;
            }
            let root = tree.root.to_str().unwrap();
            let Some(out) = run(
                "sim_profiles_regenerate",
                "sim",
                &[
                    "profile",
                    "--tree",
                    root,
                    "--version",
                    &tree.version,
                    "--name",
                    machine,
                ],
            ) else {
                return;
            };
            assert!(out.status.success(), "{}", text(&out.stderr));
            assert!(
                text(&out.stdout) == expected,
                "{committed:?} differs from a regeneration from {root}"
            );
        }
    }
}

#[test]
fn tree_wide_layout_ratios_are_the_spec_s() {
    let Some(trees) = trees("sim_sizes_ratios") else {
        return;
    };
    for tree in trees {
        let root = tree.root.to_str().unwrap();
        let Some(out) = run(
            "sim_sizes_ratios",
            "sizes",
            &[root, "--version", &tree.version, "--json"],
        ) else {
            return;
        };
        assert!(out.status.success(), "{}", text(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let r = |k: &str| (v[k].as_f64().unwrap() * 100.0).round() / 100.0;
        // kernel-loader §5.4: Σlayout/Σlen 0.71 (6.1) and 0.61 (6.12); medians 1.01 / 0.77.
        if tree.version.starts_with("6.1.") {
            assert_eq!((r("ratio_6_1"), r("median_ratio_6_1")), (0.71, 1.01));
        } else if tree.version.starts_with("6.12.") {
            assert_eq!((r("ratio_6_4"), r("median_ratio_6_4")), (0.61, 0.77));
        }
    }
}

#[test]
fn the_sweep_marks_where_the_module_area_runs_out() {
    let dir = scratch("sim_sweep_exhaustion");
    let sweep = |extra: &[&str]| {
        let mut args = vec![
            "sweep",
            "--profile",
            "skylake-sp",
            "--kernels",
            "6.1,6.12",
            "--cpus",
            "1,448",
            "--out",
            dir.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        run("sim_sweep_exhaustion", "sim", &args)
    };
    // With the spec's rules the 1008 MiB area holds every 448-CPU storm: no mark.
    let Some(out) = sweep(&[]) else {
        return;
    };
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        !text(&out.stdout).contains("exhausted"),
        "{}",
        text(&out.stdout)
    );
    let svg = std::fs::read_to_string(dir.join("sweep.svg")).unwrap();
    assert!(!svg.contains("exhausted"));
    // KASAN images twice the size exhaust it on 6.1 (not on 6.12): table, terminal
    // plot, JSON and the SVG's legend say so.
    let Some(out) = sweep(&["--kasan", "--kasan-factor", "2"]) else {
        return;
    };
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("6.1: module area exhausted (-ENOMEM) from 448 CPUs"),
        "{stdout}"
    );
    assert!(!stdout.contains("6.12: module area exhausted"), "{stdout}");
    assert!(stdout.lines().any(|l| l.contains('!')), "{stdout}");
    let svg = std::fs::read_to_string(dir.join("sweep.svg")).unwrap();
    assert!(svg.contains("6.1: module area exhausted (-ENOMEM) from 448 CPUs"));
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("sweep.json")).unwrap()).unwrap();
    assert!(json["points"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["version"] == "6.1" && p["cpus"] == 448 && p["enomem"].as_u64() > Some(0)));
}

/// How many rows of `validate`'s table differ from the measurement.
fn differing_rows(table: &str) -> usize {
    table.lines().filter(|l| l.ends_with("| **no** |")).count()
}

/// The text of docs/model.md between `<!-- NAME:begin (...) -->` and `<!-- NAME:end -->`.
fn model_md_block(name: &str, command: &str) -> String {
    let doc = std::fs::read_to_string(workspace_root().join("docs/model.md")).unwrap();
    let begin = format!("<!-- {name}:begin ({command}) -->\n");
    let start = doc
        .find(&begin)
        .unwrap_or_else(|| panic!("docs/model.md has the {name} block"))
        + begin.len();
    let end = doc[start..].find(&format!("<!-- {name}:end -->")).unwrap() + start;
    doc[start..end].to_owned()
}

/// `validate`'s arguments for the recorded campaign and every recorded run of it, as
/// docs/model.md §3 names them (absolute paths).
fn recorded_validate_args() -> Vec<String> {
    let root = workspace_root();
    let testbed = |file: &str| root.join("testbed").join(file).display().to_string();
    vec![
        "validate".to_owned(),
        testbed("results.json"),
        "--repeats".to_owned(),
        format!("{},{}", testbed("repeats.json"), testbed("call-times.json")),
    ]
}

/// docs/model.md §3's count of how often each row differs over 32 sets of seeds is what
/// `--seed-sets 32` prints after the table; the table is the first set's.
#[test]
fn docs_model_md_shows_how_often_each_row_differs_over_seed_sets() {
    let mut args = recorded_validate_args();
    args.extend(["--seed-sets".to_owned(), "32".to_owned()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let Some(out) = run("sim_validate_seed_sets", "sim", &args) else {
        return;
    };
    let stdout = text(&out.stdout);
    let sets = &stdout[stdout.find("over 32 sets").expect("the seed sets' report")..];
    let table_differ = differing_rows(&stdout);
    let first_set = sets
        .split("rows that differ per set ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .expect("the count per set");
    assert_eq!(
        first_set,
        table_differ.to_string(),
        "the first set is the table's seeds:\n{sets}"
    );
    let command =
        "modkit sim validate testbed/results.json --repeats testbed/repeats.json,testbed/call-times.json --seed-sets 32";
    assert!(
        model_md_block("seed-sets", command) == sets,
        "docs/model.md §3's seed-sets block is not what `{command}` prints after the table"
    );
    let usage = run(
        "sim_validate_no_sets",
        "sim",
        &["validate", "--seed-sets", "0"],
    )
    .unwrap();
    assert_eq!(usage.status.code(), Some(2), "{}", text(&usage.stderr));
}

/// `--no-scheduler` runs the validation without the guest's scheduler (every task on a
/// processor of its own, woken at once): a different table, with more rows differing.
#[test]
fn validate_without_the_scheduler_runs_every_task_on_its_own_processor() {
    let args = recorded_validate_args();
    let mut with: Vec<&str> = args.iter().map(String::as_str).collect();
    let Some(scheduled) = run("sim_validate_plain", "sim", &with) else {
        return;
    };
    with.push("--no-scheduler");
    let free = run("sim_validate_no_scheduler", "sim", &with).unwrap();
    assert!(!text(&free.stderr).contains("panicked"));
    assert!(text(&free.stdout).contains(" records: "));
    assert_ne!(text(&scheduled.stdout), text(&free.stdout));
    let differing = |out: &std::process::Output| differing_rows(&text(&out.stdout));
    assert!(
        differing(&free) > differing(&scheduled),
        "{} rows differ without the scheduler, {} with",
        differing(&free),
        differing(&scheduled)
    );
}

#[test]
fn docs_model_md_shows_what_validate_prints() {
    let args = recorded_validate_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let Some(out) = run("sim_validate_doc", "sim", &args) else {
        return;
    };
    assert!(!text(&out.stderr).contains("panicked"));
    assert!(out.status.success(), "a row differs: {}", text(&out.stderr));
    let command = "modkit sim validate testbed/results.json --repeats testbed/repeats.json,testbed/call-times.json";
    assert!(
        model_md_block("validate", command) == text(&out.stdout),
        "docs/model.md §3 is not what `{command}` prints; paste its output between the markers"
    );
}
