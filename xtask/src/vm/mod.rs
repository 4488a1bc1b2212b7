//! `cargo xtask vm`: the real-kernel testbed (../shared/spec/testbed.md). Debian's 6.1 and
//! 6.12 kernels boot under QEMU with an initramfs holding busybox, kmod 30, modkit and the
//! racer (testbed/); a plan of steps runs in the guest and the host turns the console's
//! `RESULT` lines into one JSON record per run.
//!
//! - `vm storm`: storms chosen on the command line, one JSON object per run on stdout;
//! - `vm ci`: the subset CI runs (the reference behaviours, a few minutes per kernel);
//! - `vm campaign`: the full campaign; `--write` records testbed/results.json and
//!   docs/testbed.md (tables and plot);
//! - `vm duel`: kmod against modkit, repeated, compared by medians; `--write` records
//!   testbed/duel.json and its section of docs/testbed.md;
//! - `vm exec`: one shell command in a booted guest (an investigation), its record printed;
//! - `vm repeat`: the campaign's storms whose outcome timing decides, several rounds in one
//!   boot per kernel; `--write` records testbed/repeats.json (what the kernel model's
//!   validation compares its range with) and its table in docs/testbed.md;
//! - `vm phases`: one racer loads the CPU set under the function_graph tracer; `--write`
//!   records where each load's time goes (testbed/phases.json) and its table.
//!
//! Submodules: `assets` (packages, static binaries, depmod'd trees), `moddb` (the tree's
//! text indexes), `initramfs`, `plan` (steps and /init), `qemu` (boot and watchdog),
//! `record` (console lines to JSON records), `docs` (results file, tables, plot), `duel`,
//! `repeat`, `phases`.

mod assets;
mod docs;
mod duel;
mod initramfs;
mod moddb;
mod phases;
mod plan;
mod qemu;
mod record;
mod repeat;

use crate::util::Result;
use assets::Assets;
use moddb::ModDb;
use plan::{Loader, Scenario, Step, Storm, Target};
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: VmCommand,
}

#[derive(clap::Subcommand)]
enum VmCommand {
    /// Run storms and print one JSON object per run.
    Storm(StormArgs),
    /// The CI subset: correctness, layout and reference storms on both kernels.
    Ci(CiArgs),
    /// The full campaign on both kernels.
    Campaign(CampaignArgs),
    /// kmod against modkit, storm for storm, repeated; medians compared.
    Duel(DuelArgs),
    /// The campaign's timing-decided storms, repeated: how much the guest's outcome varies.
    Repeat(RepeatArgs),
    /// Boot a kernel, run one shell command in the guest and print its record.
    Exec(ExecArgs),
    /// Lone loads of the CPU set under the function_graph tracer: where their time goes.
    Phases(PhasesArgs),
}

#[derive(clap::Args)]
struct ExecArgs {
    /// Kernel: 6.1 or 6.12.
    #[arg(long)]
    kernel: String,
    /// The command, run by the guest's busybox `sh -c` (the CPU set's files:
    /// `modprobe --show-depends "$(cat /sys/devices/system/cpu/modalias)"`).
    script: String,
}

#[derive(clap::Args)]
struct PhasesArgs {
    /// Kernels to run (default: both).
    #[arg(long, value_delimiter = ',', default_value = "6.1,6.12")]
    kernel: Vec<String>,
    /// Traced storms per system call and kernel.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Record testbed/phases.json and its table in docs/testbed.md.
    #[arg(long)]
    write: bool,
}

#[derive(clap::Args)]
struct StormArgs {
    /// Kernel: 6.1 or 6.12.
    #[arg(long)]
    kernel: String,
    /// Concurrent loaders (one per emulated CPU event), e.g. 1,2,4,8,16.
    #[arg(long, value_delimiter = ',', default_value = "4")]
    cpus: Vec<usize>,
    /// Loaders: kmod, modkit, finit, init (comma-separated for several).
    #[arg(long, value_delimiter = ',', default_value = "finit")]
    loader: Vec<String>,
    /// The module every loader loads.
    #[arg(long, default_value = "xfs")]
    module: String,
    /// Load a module set instead of one module: `cpu` (the guest CPU's per-CPU set).
    #[arg(long)]
    set: Option<String>,
    /// Each raw loader loads its own copy of the file (a distinct inode).
    #[arg(long)]
    copies: bool,
    /// duplicates (default), first-fails (dependencies not preloaded) or init-fails.
    #[arg(long, default_value = "duplicates")]
    scenario: String,
    /// vCPUs of the guest.
    #[arg(long, default_value_t = 4)]
    smp: usize,
}

#[derive(clap::Args)]
struct CiArgs {
    /// Where to write the records (JSON lines).
    #[arg(long)]
    out: PathBuf,
}

#[derive(clap::Args)]
struct CampaignArgs {
    /// Kernels to run (default: both).
    #[arg(long, value_delimiter = ',', default_value = "6.1,6.12")]
    kernel: Vec<String>,
    /// Record testbed/results.json and docs/testbed.md.
    #[arg(long)]
    write: bool,
}

#[derive(clap::Args)]
struct DuelArgs {
    /// Kernels to run (default: both).
    #[arg(long, value_delimiter = ',', default_value = "6.1,6.12")]
    kernel: Vec<String>,
    /// Runs of each (target, N, loader).
    #[arg(long, default_value_t = 7)]
    repeat: usize,
    /// Concurrent loaders.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4,8,16")]
    cpus: Vec<usize>,
    /// Record testbed/duel.json and the duel section of docs/testbed.md.
    #[arg(long)]
    write: bool,
}

#[derive(clap::Args)]
struct RepeatArgs {
    /// Kernels to run (default: both).
    #[arg(long, value_delimiter = ',', default_value = "6.1,6.12")]
    kernel: Vec<String>,
    /// Rounds of the timing-decided storms.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Only the storms of these numbers of loaders (default: every N of the campaign).
    #[arg(long, value_delimiter = ',')]
    cpus: Vec<usize>,
    /// Record testbed/repeats.json and its table in docs/testbed.md.
    #[arg(long)]
    write: bool,
    /// With --write: add the runs to those testbed/repeats.json has instead of replacing them.
    #[arg(long)]
    append: bool,
    /// Tabulate these recorded runs (e.g. testbed/repeats.json) instead of running any.
    #[arg(long)]
    records: Option<PathBuf>,
    /// Write the runs' records to this file (a JSON array) instead of testbed/repeats.json:
    /// a measurement of its own (e.g. testbed/call-times.json) that leaves the repeats as
    /// they are.
    #[arg(long, conflicts_with_all = ["write", "append", "records"])]
    out: Option<PathBuf>,
}

pub fn run(args: Args) -> Result {
    match args.command {
        VmCommand::Storm(a) => storm(a),
        VmCommand::Ci(a) => ci(a),
        VmCommand::Campaign(a) => campaign(a),
        VmCommand::Duel(a) => duel(a),
        VmCommand::Repeat(a) => repeat(a),
        VmCommand::Phases(a) => phases(a),
        VmCommand::Exec(a) => exec(a),
    }
}

fn parse_scenario(text: &str) -> Result<Scenario> {
    match text {
        "duplicates" => Ok(Scenario::Duplicates),
        "first-fails" => Ok(Scenario::FirstFails),
        "init-fails" => Ok(Scenario::InitFails),
        _ => Err(format!("unknown scenario {text}").into()),
    }
}

/// `--copies` gives each raw loader its own file; kmod and modkit load by name, from the
/// module directory, so they cannot.
fn check_copies(loader: Loader, copies: bool) -> Result {
    match (loader, copies) {
        (Loader::Kmod | Loader::Modkit, true) => Err(format!(
            "--copies applies to the raw loaders (finit, init): {} loads by name",
            loader.name()
        )
        .into()),
        _ => Ok(()),
    }
}

fn storm(a: StormArgs) -> Result {
    let target = match a.set.as_deref() {
        None => Target::Module(a.module.clone()),
        Some("cpu") => Target::CpuSet,
        Some(other) => return Err(format!("unknown set {other} (known: cpu)").into()),
    };
    let scenario = parse_scenario(&a.scenario)?;
    let mut steps = Vec::new();
    for name in &a.loader {
        let loader = Loader::parse(name).ok_or(format!("unknown loader {name}"))?;
        check_copies(loader, a.copies)?;
        for &n in &a.cpus {
            steps.push(Step::Storm(Storm {
                loader,
                target: target.clone(),
                n,
                copies: a.copies,
                scenario,
            }));
        }
    }
    let assets = assets::prepare(std::slice::from_ref(&a.kernel))?;
    for record in run_steps(&assets[0], &steps, a.smp, None)? {
        println!("{record}");
    }
    Ok(())
}

/// Whether the static modkit has its own modprobe yet (it joins the storms once it does).
fn modkit_has_modprobe(assets: &Assets) -> bool {
    std::process::Command::new(&assets.modkit)
        .args(["modprobe", "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn storm_step(loader: Loader, target: Target, n: usize, copies: bool, scenario: Scenario) -> Step {
    Step::Storm(Storm {
        loader,
        target,
        n,
        copies,
        scenario,
    })
}

/// The CI subset for one kernel: correctness with kmod (and modkit once it loads), the xfs
/// layout, the reference storms at N = 4 (raw finit on one file and on copies, raw
/// init_module, kmod, modkit), modkit alone and at N = 4 on the per-CPU set, the failure
/// cases and one kmod per-CPU set storm.
fn ci_steps(db: &ModDb, a: &Assets) -> Result<Vec<Step>> {
    let xfs = || Target::Module("xfs".to_owned());
    let mut steps = plan::correctness(db, &a.tree.version, Loader::Kmod)?;
    let mut loaders = vec![Loader::Kmod];
    if modkit_has_modprobe(a) {
        steps.extend(plan::correctness(db, &a.tree.version, Loader::Modkit)?);
        loaders.push(Loader::Modkit);
    }
    steps.push(Step::Layout {
        module: "xfs".to_owned(),
    });
    use Scenario::*;
    steps.push(storm_step(Loader::Finit, xfs(), 1, false, Duplicates));
    steps.push(storm_step(Loader::Finit, xfs(), 4, false, Duplicates));
    steps.push(storm_step(Loader::Finit, xfs(), 4, true, Duplicates));
    steps.push(storm_step(Loader::Init, xfs(), 4, false, Duplicates));
    for &l in &loaders {
        steps.push(storm_step(l, xfs(), 4, false, Duplicates));
    }
    // modkit's storms against its own single load: one insertion per module (the CPU set
    // has modules whose init fails under TCG) and a flat peak.
    if loaders.contains(&Loader::Modkit) {
        steps.push(storm_step(Loader::Modkit, xfs(), 1, false, Duplicates));
        for n in [1, 4] {
            steps.push(storm_step(
                Loader::Modkit,
                Target::CpuSet,
                n,
                false,
                Duplicates,
            ));
        }
    }
    steps.push(storm_step(Loader::Finit, xfs(), 4, false, FirstFails));
    let coretemp = || Target::Module("coretemp".to_owned());
    steps.push(storm_step(Loader::Finit, coretemp(), 4, false, InitFails));
    steps.push(storm_step(
        Loader::Kmod,
        Target::CpuSet,
        2,
        false,
        Duplicates,
    ));
    Ok(steps)
}

/// The full campaign for one kernel.
fn campaign_steps(db: &ModDb, a: &Assets) -> Result<Vec<Step>> {
    let mut steps = ci_steps(db, a)?;
    steps.retain(|s| !matches!(s, Step::Storm(_)));
    let mut loaders = vec![
        (Loader::Finit, false),
        (Loader::Finit, true),
        (Loader::Init, false),
        (Loader::Kmod, false),
    ];
    if modkit_has_modprobe(a) {
        loaders.push((Loader::Modkit, false));
    }
    use Scenario::*;
    for target in [Target::Module("xfs".to_owned()), Target::CpuSet] {
        for &(loader, copies) in &loaders {
            for n in [1, 2, 4, 8, 16, 32] {
                steps.push(storm_step(loader, target.clone(), n, copies, Duplicates));
            }
        }
    }
    let xfs = || Target::Module("xfs".to_owned());
    steps.push(storm_step(Loader::Finit, xfs(), 8, false, FirstFails));
    steps.push(storm_step(Loader::Finit, xfs(), 8, true, FirstFails));
    steps.push(storm_step(Loader::Init, xfs(), 8, false, FirstFails));
    let coretemp = || Target::Module("coretemp".to_owned());
    for loader in [Loader::Finit, Loader::Init, Loader::Kmod] {
        steps.push(storm_step(loader, coretemp(), 4, false, InitFails));
    }
    Ok(steps)
}

/// How long `vm ci` goes on booting one kernel: about 80 s make a clean run on the project
/// machine; past this, a boot after hung or crashed steps is not started and the steps left
/// are recorded as timeouts, so hangs cannot stretch CI past its budget (both kernels: at
/// most 2 × 6 minutes plus the boot that was running).
const CI_KERNEL_DEADLINE: Duration = Duration::from_secs(6 * 60);

fn ci(a: CiArgs) -> Result {
    let all = assets::prepare(&["6.1".to_owned(), "6.12".to_owned()])?;
    let mut lines = String::new();
    for assets in &all {
        let db = ModDb::read(&assets.module_dir())?;
        let deadline = std::time::Instant::now() + CI_KERNEL_DEADLINE;
        let records = run_steps(assets, &ci_steps(&db, assets)?, 4, Some(deadline))?;
        for r in &records {
            lines.push_str(&r.to_string());
            lines.push('\n');
        }
        println!("{}", record::summary(&records));
    }
    if let Some(parent) = a.out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&a.out, lines)?;
    println!("xtask: vm ci records in {}", a.out.display());
    Ok(())
}

fn campaign(a: CampaignArgs) -> Result {
    let all = assets::prepare(&a.kernel)?;
    let mut records = Vec::new();
    for assets in &all {
        let db = ModDb::read(&assets.module_dir())?;
        let got = run_steps(assets, &campaign_steps(&db, assets)?, 4, None)?;
        println!("{}", record::summary(&got));
        records.extend(got);
    }
    if a.write {
        docs::write(&records)?;
    } else {
        for r in &records {
            println!("{r}");
        }
    }
    Ok(())
}

fn duel(a: DuelArgs) -> Result {
    let all = assets::prepare(&a.kernel)?;
    let mut records = Vec::new();
    for assets in &all {
        let got = run_steps(assets, &duel::steps(a.repeat, &a.cpus), 4, None)?;
        println!("{}", record::summary(&got));
        records.extend(got);
    }
    match a.write {
        true => duel::write(&records)?,
        false => print!("{}", duel::tables(&records)),
    }
    Ok(())
}

fn exec(a: ExecArgs) -> Result {
    let assets = assets::prepare(std::slice::from_ref(&a.kernel))?;
    let step = Step::Command {
        label: "exec".to_owned(),
        argv: vec!["/bin/sh".to_owned(), "-c".to_owned(), a.script],
    };
    for record in run_steps(&assets[0], &[step], 4, None)? {
        println!("{record}");
    }
    Ok(())
}

fn phases(a: PhasesArgs) -> Result {
    let mut records = Vec::new();
    for assets in &assets::prepare(&a.kernel)? {
        let runs = run_steps(assets, &phases::steps(a.rounds), 4, None)?;
        println!("{}", record::summary(&runs));
        records.extend(phases::from_runs(&runs)?);
    }
    match a.write {
        true => phases::write(&records),
        false => {
            print!("{}", phases::table(&records));
            Ok(())
        }
    }
}

/// A recorded JSON array of records.
fn read_records(path: &std::path::Path) -> Result<Vec<Value>> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?)
}

fn repeat(a: RepeatArgs) -> Result {
    if let Some(path) = &a.records {
        let records = read_records(path)?;
        return match a.write {
            true => repeat::write_table(&records),
            false => {
                print!("{}", repeat::table(&records));
                Ok(())
            }
        };
    }
    let all = assets::prepare(&a.kernel)?;
    let mut records = match a.append {
        true => read_records(&crate::util::workspace_root().join("testbed/repeats.json"))?,
        false => Vec::new(),
    };
    for assets in &all {
        let db = ModDb::read(&assets.module_dir())?;
        let steps = repeat::steps(&campaign_steps(&db, assets)?, a.rounds, &a.cpus);
        let got = run_steps(assets, &steps, 4, None)?;
        println!("{}", record::summary(&got));
        records.extend(got);
    }
    if let Some(out) = &a.out {
        std::fs::write(out, docs::json_array(&records))
            .map_err(|e| format!("{}: {e}", out.display()))?;
        println!("xtask: wrote {}", out.display());
    }
    match a.write {
        true => repeat::write(&records),
        false => {
            print!("{}", repeat::table(&records));
            Ok(())
        }
    }
}

/// Runs `steps` on one kernel, booting again after a step that hangs or crashes the guest
/// (it is recorded as such and tried once more), and returns one record per step. No boot
/// starts past `deadline`: the steps left are recorded as timeouts.
fn run_steps(
    assets: &Assets,
    steps: &[Step],
    smp: usize,
    deadline: Option<std::time::Instant>,
) -> Result<Vec<Value>> {
    let db = ModDb::read(&assets.module_dir())?;
    let extra: Vec<String> = steps
        .iter()
        .filter_map(|s| match s {
            Step::Storm(Storm {
                target: Target::Module(m),
                ..
            }) => Some(m.clone()),
            Step::Layout { module } => Some(module.clone()),
            _ => None,
        })
        .collect();
    let mut records = Vec::new();
    let mut retried = std::collections::BTreeSet::new();
    let mut start = 0;
    while start < steps.len() {
        let batch = &steps[start..];
        if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
            eprintln!(
                "xtask: vm: past the deadline; {} steps not run",
                batch.len()
            );
            records.extend(batch.iter().map(|s| record::not_run(assets, s, smp)));
            break;
        }
        let init = plan::init_script(&db, &assets.tree.version, batch)?;
        let initrd = initramfs::build(assets, &db, &extra, &init)?;
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let log = qemu::log_path(&format!("{}-{stamp}-{start}", assets.tree.label));
        let vmlinuz = assets.vmlinuz();
        let machine = qemu::Machine {
            vmlinuz: &vmlinuz,
            initrd: &initrd,
            cpus: smp,
            memory_mib: 2048,
        };
        let budget = |i: usize| Duration::from_secs(batch.get(i).map_or(60, Step::budget_secs));
        eprintln!(
            "xtask: vm: booting {} ({} steps, {} vCPUs), console in {}",
            assets.tree.version,
            batch.len(),
            smp,
            log.display()
        );
        let console = qemu::boot(&machine, &budget, &log)?;
        eprintln!(
            "xtask: vm: boot took {:.1} s",
            console.elapsed.as_secs_f64()
        );
        let (mut got, hung) = record::collect(assets, batch, &console, smp);
        let Some(hung) = hung else {
            records.extend(got);
            break;
        };
        // A step that hung or crashed the guest is tried once more in a fresh boot (a TCG
        // guest can stall, and cross-modified kernel text can trap under TCG); a second
        // failure is final and the boot after it resumes with the next step.
        let step = start + hung;
        let retry = retried.insert(step);
        if let Some(last) = got.last_mut() {
            last["retried"] = serde_json::json!(retry);
        }
        records.extend(got);
        start = if retry { step } else { step + 1 };
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_are_for_raw_loaders_only() {
        assert!(check_copies(Loader::Finit, true).is_ok());
        assert!(check_copies(Loader::Init, true).is_ok());
        assert!(check_copies(Loader::Kmod, false).is_ok());
        let err = check_copies(Loader::Modkit, true).unwrap_err().to_string();
        assert!(
            err.contains("raw loaders") && err.contains("modkit"),
            "{err}"
        );
        assert!(check_copies(Loader::Kmod, true).is_err());
    }
}
