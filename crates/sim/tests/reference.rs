//! The model against the testbed's reference measurements (testbed.md §7) and, when the
//! testbed has produced it, against `testbed/results.json`.

use modkit_sim::validate::{parse_results, spec_reference, validate};

#[test]
fn reproduces_the_spec_reference_measurements() {
    let outcome = validate(&spec_reference());
    let table = outcome.table();
    println!("{table}");
    assert_eq!(outcome.failures(), 0, "rows differ:\n{table}");
}

#[test]
fn reproduces_the_recorded_testbed_runs_when_present() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testbed/results.json");
    let Ok(text) = std::fs::read_to_string(path) else {
        eprintln!("note: {path} is absent; only the spec's tables were checked");
        return;
    };
    let records = parse_results(&text).expect("testbed/results.json parses");
    assert!(
        records.len() >= 40,
        "the campaign's xfs storms are all read"
    );
    let outcome = validate(&records);
    println!("{}", outcome.table());
    assert_eq!(outcome.failures(), 0, "rows differ:\n{}", outcome.table());
}
