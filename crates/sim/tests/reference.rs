//! The model against the testbed's reference measurements (testbed.md §7) and the
//! recorded campaign (`testbed/results.json`): xfs, the testbed guest's per-CPU set and
//! coretemp, on 6.1 and 6.12, with the guest's repeated runs of the storms whose outcome
//! timing decides (`testbed/repeats.json`).

use modkit_sim::validate::{attach_repeats, parse_results, spec_reference, validate, Measurement};
use modkit_sim::Profile;

#[test]
fn reproduces_the_spec_reference_measurements() {
    let outcome = validate(&spec_reference());
    let table = outcome.table();
    println!("{table}");
    assert_eq!(outcome.failures(), 0, "rows differ:\n{table}");
}

fn campaign() -> Option<Vec<Measurement>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testbed/results.json");
    let Ok(text) = std::fs::read_to_string(path) else {
        eprintln!("note: {path} is absent; only the spec's tables were checked");
        return None;
    };
    let mut records = parse_results(&text).expect("testbed/results.json parses");
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testbed/repeats.json");
    let text = std::fs::read_to_string(path).expect("testbed/repeats.json is recorded");
    let repeats = parse_results(&text).expect("testbed/repeats.json parses");
    assert_eq!(
        attach_repeats(&mut records, &repeats),
        repeats.len(),
        "every repeated run is a run of a campaign storm"
    );
    Some(records)
}

fn key(m: &Measurement) -> String {
    format!(
        "{} {} {} {}{}{}",
        m.kernel,
        m.loader,
        m.module,
        m.n,
        if m.copies { " copies" } else { "" },
        if m.first_fails { " first-fails" } else { "" }
    )
}

/// The campaign's storms the model does not reproduce, and why (docs/model.md §3.1). The
/// storms timing decides are compared as ranges: the guest's over its runs (the campaign's
/// and testbed/repeats.json's) against the model's over its seeds.
/// * The CPU set's ENODEV/EBUSY split around the two failing inits, and kmod's LIVE skips:
///   the guest's loaders spread more irregularly than the model's barrier (N processes on
///   4 vCPUs under TCG); at N = 8 the guest had 3–5 loaders run into a failing init where
///   the model has 2, and kmod 30 found more modules LIVE (fewer EEXIST calls) at N = 4–8.
/// * 6.12 `finit_module` peaks: with aesni-intel's self-test threads' stacks (19, measured)
///   the model's 1,584 KiB lies 7 % under N = 16's runs (1,700–1,780); copies at N = 4 and 8
///   peak above the guest's (not every loader holds its 1 MiB xz dictionary at once there).
/// * N = 32: the model's 1 ms barrier spacing against its short loads (on 6.12 late callers
///   of one file get EEXIST instead of joining the load in flight; `init_module`'s peak
///   lies below the guest's, where more loaders held their copy at once).
const KNOWN_DIFFERENCES: [&str; 19] = [
    "6.1 finit cpu 8",
    "6.1 finit cpu 8 copies",
    "6.1 finit cpu 32 copies",
    "6.1 init cpu 8",
    "6.1 kmod cpu 4",
    "6.1 kmod cpu 8",
    "6.1 kmod cpu 16",
    "6.1 kmod cpu 32",
    "6.12 finit cpu 16",
    "6.12 finit cpu 32",
    "6.12 finit cpu 4 copies",
    "6.12 finit cpu 8 copies",
    "6.12 init cpu 4",
    "6.12 init cpu 8",
    "6.12 init cpu 32",
    "6.12 kmod cpu 4",
    "6.12 kmod cpu 8",
    "6.12 kmod cpu 16",
    "6.12 kmod cpu 32",
];

#[test]
fn reproduces_the_recorded_campaign_but_its_known_differences() {
    let Some(records) = campaign() else {
        return;
    };
    let count = |module: &str| records.iter().filter(|r| r.module == module).count();
    assert_eq!(
        (count("xfs"), count("cpu"), count("coretemp")),
        (54, 48, 6),
        "every xfs, CPU-set and coretemp storm of the campaign but modkit's is read"
    );
    let outcome = validate(&records);
    println!("{}{}", outcome.table(), outcome.summary());
    let differ: Vec<String> = outcome
        .rows
        .iter()
        .filter(|r| !r.passed())
        .map(|r| key(&r.measurement))
        .collect();
    assert_eq!(
        differ,
        KNOWN_DIFFERENCES,
        "the rows that differ changed:\n{}",
        outcome.table()
    );
    assert!(outcome.rows.iter().all(|r| r.error.is_none()));
}

#[test]
fn the_model_resolves_the_guest_s_cpu_set_as_the_guest_s_modprobe_did() {
    let Some(records) = campaign() else {
        return;
    };
    let mut checked = 0;
    for r in records
        .iter()
        .filter(|r| r.module == "cpu" && !r.argv.is_empty())
    {
        let profile = Profile::builtin(r.profile.as_deref().unwrap()).unwrap();
        let names: Vec<String> = r
            .argv
            .iter()
            .map(|p| modkit_sim::profile::file_stem(p))
            .collect();
        assert_eq!(names, profile.cpu_set_order(), "{}", key(r));
        // The profile's tree against the measured one (both 6.1.0-57 and 6.12.118 since
        // the N = 32 campaign; a newer Debian kernel may differ): the same modules, file
        // sizes within 1 %.
        for (name, &bytes) in names.iter().zip(&r.file_bytes) {
            let ours = profile.module(name).unwrap().file_size as f64;
            assert!(
                (ours / bytes as f64 - 1.0).abs() < 0.01,
                "{name}: {ours} vs {bytes}"
            );
        }
        checked += 1;
    }
    assert_eq!(
        checked, 36,
        "the raw loaders' CPU-set storms name their files"
    );
}
