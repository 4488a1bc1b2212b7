//! The racer run on the host: the barrier and exec mode, the storm timeout, the raw
//! system-call children (the host kernel has no module support, so every insertion returns
//! ENOSYS, which is exactly what the children must record), and bad input.

use serde_json::Value;
use std::process::Command;

fn racer(args: &[&str]) -> (Option<Value>, String, bool) {
    let out = Command::new(env!("CARGO_BIN_EXE_racer"))
        .args(args)
        .env("RACER_NO_TRACE", "1")
        .output()
        .expect("racer runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let result = stdout
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .map(|j| serde_json::from_str(j).expect("RESULT is JSON"));
    (
        result,
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.success(),
    )
}

#[test]
fn exec_storm_releases_every_loader_and_records_exit_statuses() {
    let (r, _, ok) = racer(&[
        "storm",
        "--label",
        "7",
        "--n",
        "3",
        "--call",
        "exec",
        "--",
        "sh",
        "-c",
        "echo hi; exit 3",
    ]);
    let r = r.expect("a RESULT line");
    assert!(ok);
    assert_eq!(r["label"], "7");
    assert_eq!(r["n"], 3);
    assert_eq!(r["exit_status"], serde_json::json!({"3": 3}));
    assert_eq!(r["timeout"], false);
    assert_eq!(r["traced"], false);
    assert_eq!(r["output"], serde_json::json!(["hi"]));
    assert!(r["samples"].as_u64().is_some_and(|s| s >= 1));
}

#[test]
fn a_storm_past_its_timeout_is_killed_and_reported() {
    let started = std::time::Instant::now();
    let (r, _, _) = racer(&[
        "storm",
        "--label",
        "0",
        "--n",
        "2",
        "--call",
        "exec",
        "--timeout",
        "1",
        "--",
        "sleep",
        "600",
    ]);
    let r = r.expect("a RESULT line");
    assert_eq!(r["timeout"], true);
    assert_eq!(r["exit_status"], serde_json::json!({"signal 9": 2}));
    assert!(started.elapsed() < std::time::Duration::from_secs(120));
}

#[test]
fn raw_children_record_the_kernels_answer() {
    let dir = std::env::temp_dir().join(format!("racer-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let module = dir.join("m.ko");
    std::fs::write(&module, b"\x7fELF not really a module").unwrap();
    let path = module.to_str().unwrap();
    for call in ["finit", "init"] {
        let (r, _, _) = racer(&[
            "storm", "--label", "1", "--n", "2", "--call", call, "--", path,
        ]);
        let r = r.expect("a RESULT line");
        let syscall = if call == "finit" {
            "finit_module"
        } else {
            "init_module"
        };
        // No module support on the host: the kernel answers ENOSYS to both loaders.
        assert_eq!(r["recorded_results"][syscall]["ENOSYS"], 2, "{r}");
        assert_eq!(r["ok"], 0);
        assert_eq!(r["errnos"]["ENOSYS"], 2);
        assert_eq!(r["exit_status"]["1"], 2);
        assert_eq!(r["file_bytes"][0], 24);
        // Both loaders' calls are placed after the barrier's release, each ending after
        // it starts: [first start, last start, first end, last end] in ms.
        let spread: Vec<f64> = r["call_spread_ms"]["m.ko"]
            .as_array()
            .unwrap_or_else(|| panic!("call_spread_ms of m.ko: {r}"))
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert!(
            spread.len() == 4
                && spread[0] <= spread[1]
                && spread[0] <= spread[2]
                && spread[2] <= spread[3],
            "{r}"
        );
    }
    let (r, _, _) = racer(&["storm", "--label", "2", "--n", "2", "--copies", "--", path]);
    assert_eq!(r.expect("a RESULT line")["copies"], true);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_input_is_a_clear_error() {
    let (r, err, ok) = racer(&["storm", "--n", "2", "--", "/nonexistent/x.ko"]);
    assert!(r.is_none() && !ok);
    assert!(err.contains("/nonexistent/x.ko"), "{err}");
    let (_, err, ok) = racer(&["storm", "--n", "0", "--", "x"]);
    assert!(!ok && err.contains("--n >= 1"), "{err}");
    let (_, err, ok) = racer(&["bogus"]);
    assert!(!ok && err.contains("usage"), "{err}");
}
