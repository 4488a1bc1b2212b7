//! `cargo xtask demo`: the first command on a fresh machine. Fetches the Debian 6.1 and 6.12
//! trees, builds `modkit` in release, runs `modkit depmod` on a scratch copy of each tree and
//! `modkit modinfo` on a few interesting modules (xfs, built-in ipv6 and unix), then the main
//! job: `modkit sim sweep`, the kernel memory duplicate loads cost per kernel version from 1
//! to 512 CPUs (table, terminal plot, JSON, SVG and PNG); printing what it did and how long
//! it took.

use crate::util::{self, Result, Tree};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

#[derive(clap::Args)]
pub struct Args {}

/// The files depmod writes, in the order it writes them.
const OUTPUTS: &[&str] = &[
    "modules.dep",
    "modules.dep.bin",
    "modules.alias",
    "modules.alias.bin",
    "modules.softdep",
    "modules.symbols",
    "modules.symbols.bin",
    "modules.builtin.bin",
    "modules.builtin.alias.bin",
    "modules.devname",
];

pub fn run(_args: Args) -> Result {
    let started = Instant::now();
    let (trees, _) = util::fetch_trees()?;
    let bin = util::build_modkit()?;
    for tree in &trees {
        demo_tree(&bin, tree)?;
    }
    // The main job: what duplicate loads cost, per kernel version, from 1 to 512 CPUs.
    let out = util::target_dir().join("sweep");
    let out_arg = out.to_string_lossy().into_owned();
    show(&bin, &["sim", "sweep", "--out", &out_arg])?;
    println!("    tables, JSON and SVG/PNG plots in {}", out.display());
    println!(
        "\nxtask: demo done in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn demo_tree(bin: &Path, tree: &Tree) -> Result {
    let copy = util::target_dir().join("demo").join(&tree.label);
    println!("\n=== Debian {} ({}) ===", tree.label, tree.deb);
    util::fresh_copy(tree, &copy)?;
    let root = copy.to_string_lossy().into_owned();
    show(bin, &["depmod", "-b", &root, &tree.version])?;
    let dir = util::module_dir(&copy, &tree.version);
    for name in OUTPUTS {
        let size = std::fs::metadata(dir.join(name))
            .map(|m| m.len())
            .unwrap_or(0);
        println!("    {name:<28} {size:>10} bytes");
    }
    for module in interesting_modules(&dir) {
        show(bin, &["modinfo", "-b", &root, "-k", &tree.version, module])?;
    }
    Ok(())
}

/// xfs (a module with a dependency and a signature), and the built-ins ipv6 and, where it
/// is listed as built-in (6.1, not 6.12), unix.
fn interesting_modules(dir: &Path) -> Vec<&'static str> {
    let builtin = std::fs::read_to_string(dir.join("modules.builtin")).unwrap_or_default();
    let mut modules = vec!["xfs", "ipv6"];
    if builtin.lines().any(|l| l.ends_with("/unix.ko")) {
        modules.push("unix");
    }
    modules
}

/// Runs `modkit ARGS`, printing the command line, its output and the time taken.
fn show(bin: &Path, args: &[&str]) -> Result {
    println!("\n$ modkit {}", args.join(" "));
    let started = Instant::now();
    let out = Command::new(bin).args(args).output()?;
    let took = started.elapsed().as_secs_f64();
    print!("{}", String::from_utf8_lossy(&out.stdout));
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    println!("  -> {}, took {took:.2} s", out.status);
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("modkit {} failed", args.join(" ")).into())
    }
}
