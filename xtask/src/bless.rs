//! `cargo xtask bless`: regenerates the golden outputs (insta snapshots) by running every
//! test with INSTA_UPDATE=always and INSTA_FORCE_PASS=1; review the result with `git diff`.

use crate::util::{self, Result};

#[derive(clap::Args)]
pub struct Args {
    /// Extra arguments for cargo test (a package or a test name filter).
    #[arg(last = true)]
    test_args: Vec<String>,
}

pub fn run(args: Args) -> Result {
    let bin = util::build_modkit()?;
    let outcome = util::run(
        util::cargo()
            .args(["test", "--workspace", "--release", "--no-fail-fast"])
            .args(&args.test_args)
            .env("MODKIT_BIN", bin)
            .env("INSTA_UPDATE", "always")
            .env("INSTA_FORCE_PASS", "1"),
    );
    println!("xtask: snapshots regenerated; review them with `git diff`");
    outcome.map_err(|e| format!("{e} (failures other than snapshot mismatches)").into())
}
