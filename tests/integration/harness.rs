//! Tests of the test harness itself: the first-difference report and the tree list parsing.

use modkit_tests::{first_difference, Outcome, Tree};

#[test]
fn identical_bytes_have_no_difference() {
    assert_eq!(first_difference(b"a\nb\n", b"a\nb\n"), None);
}

#[test]
fn text_difference_names_the_line() {
    let report = first_difference(b"one\ntwo\nthree\n", b"one\ntwo\nthr33\n").expect("differs");
    assert!(report.contains("line 3"), "{report}");
    assert!(
        report.contains("\"three\"") && report.contains("\"thr33\""),
        "{report}"
    );
}

#[test]
fn missing_tail_is_reported_as_end_of_output() {
    let report = first_difference(b"one\ntwo\n", b"one\n").expect("differs");
    assert!(
        report.contains("line 2") && report.contains("<end of output>"),
        "{report}"
    );
}

#[test]
fn binary_difference_names_the_offset() {
    let report = first_difference(&[0, 1, 2, 3], &[0, 1, 9, 3]).expect("differs");
    assert!(
        report.contains("offset 2 (0x2)") && report.contains("02 03"),
        "{report}"
    );
}

#[test]
fn outcome_difference_covers_status_and_streams() {
    let a = Outcome {
        status: Some(0),
        stdout: b"x\n".to_vec(),
        stderr: Vec::new(),
    };
    let b = Outcome {
        status: Some(1),
        stdout: b"x\n".to_vec(),
        stderr: b"err\n".to_vec(),
    };
    let report = a.difference(&b).expect("differs");
    assert!(
        report.contains("exit status") && report.contains("stderr"),
        "{report}"
    );
    assert!(!report.contains("stdout"), "{report}");
    assert_eq!(a.difference(&a.clone()), None);
}

#[test]
fn fetch_lines_parse_into_trees() {
    let tree =
        Tree::parse("6.12 6.12.1+deb13-amd64 /cache/roots/x linux-image-x.deb").expect("parses");
    assert_eq!(tree.label, "6.12");
    assert_eq!(
        tree.module_dir(),
        std::path::Path::new("/cache/roots/x/lib/modules/6.12.1+deb13-amd64")
    );
    assert_eq!(Tree::parse("6.1 only-two"), None);
}
