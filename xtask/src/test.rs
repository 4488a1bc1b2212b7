//! `cargo xtask test`: what CI runs. Fetches the Debian trees, builds `modkit` in release and
//! runs `cargo test --workspace --release --no-fail-fast` (every test binary, even after a
//! failure) with the environment the differential tests read:
//! MODKIT_BIN (the binary), MODKIT_TREES (fetch.sh's lines) and MODKIT_REQUIRE_TREES=1.
//! Before that it runs the testbed's CI subset (`cargo xtask vm ci`: both Debian kernels
//! under QEMU, a few minutes) and hands its records to the tests in MODKIT_VM_RESULTS, with
//! MODKIT_REQUIRE_VM=1; a testbed that fails to run then fails those tests.

use crate::util::{self, Result};
use std::time::Instant;

#[derive(clap::Args)]
pub struct Args {
    /// Skip fetching the trees and the real-tree tests (unit tests and generated fixtures only).
    #[arg(long)]
    quick: bool,
    /// Skip the QEMU testbed subset (implied by --quick).
    #[arg(long)]
    no_vm: bool,
    /// Prove the harness: run kmod's own tools in place of modkit (tests/kmod-as-modkit.sh).
    #[arg(long)]
    kmod_as_modkit: bool,
    /// Extra arguments for the test binaries (a name filter, --nocapture, ...).
    #[arg(last = true)]
    test_args: Vec<String>,
}

pub fn run(args: Args) -> Result {
    let started = Instant::now();
    let trees = if args.quick {
        println!("xtask: --quick: no tree fetched, real-tree tests skipped");
        None
    } else {
        Some(util::fetch_trees()?.1)
    };
    let built = util::build_modkit()?;
    let vm_results = if args.quick || args.no_vm {
        None
    } else {
        Some(run_vm_subset())
    };
    let bin = if args.kmod_as_modkit {
        util::workspace_root().join("tests/kmod-as-modkit.sh")
    } else {
        built
    };
    println!("xtask: MODKIT_BIN={}", bin.display());
    if let Some(file) = &trees {
        println!("xtask: MODKIT_TREES={} (required)", file.display());
    }
    println!(
        "xtask: setup took {:.1} s; running cargo test --workspace --release --no-fail-fast",
        started.elapsed().as_secs_f64()
    );
    let mut cmd = util::cargo();
    cmd.args(["test", "--workspace", "--release", "--no-fail-fast"])
        .env("MODKIT_BIN", &bin);
    match &trees {
        Some(file) => cmd
            .env("MODKIT_TREES", file)
            .env("MODKIT_REQUIRE_TREES", "1"),
        None => cmd
            .env_remove("MODKIT_TREES")
            .env_remove("MODKIT_REQUIRE_TREES"),
    };
    match &vm_results {
        Some(Some(file)) => cmd
            .env("MODKIT_VM_RESULTS", file)
            .env("MODKIT_REQUIRE_VM", "1"),
        Some(None) => cmd
            .env_remove("MODKIT_VM_RESULTS")
            .env("MODKIT_REQUIRE_VM", "1"),
        None => cmd
            .env_remove("MODKIT_VM_RESULTS")
            .env_remove("MODKIT_REQUIRE_VM"),
    };
    if !args.test_args.is_empty() {
        cmd.arg("--").args(&args.test_args);
    }
    // cargo test's own result lines end the output (CI reads them): on failure, add nothing
    // after them but the exit status.
    let status = cmd
        .status()
        .map_err(|e| format!("cannot run cargo test: {e}"))?;
    if !status.success() {
        std::process::exit(status.code().unwrap_or(1));
    }
    Ok(())
}

/// Runs `cargo xtask vm ci` (this binary again, as a child, so its failure is reported and the tests still
/// run); returns the records file when it produced one.
fn run_vm_subset() -> Option<std::path::PathBuf> {
    let started = Instant::now();
    let out = util::target_dir().join("vm/ci.jsonl");
    let _ = std::fs::remove_file(&out);
    let status = std::env::current_exe().and_then(|xtask| {
        std::process::Command::new(xtask)
            .args(["vm", "ci", "--out"])
            .arg(&out)
            .status()
    });
    println!(
        "xtask: testbed subset took {:.1} s ({status:?})",
        started.elapsed().as_secs_f64()
    );
    out.exists().then_some(out)
}
