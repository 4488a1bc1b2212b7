//! `modkit sim ...`: the kernel model's front-end.
//!
//! * `modkit sim storm --kernel VERSION --cpus N --profile NAME [--stats] [--json]`:
//!   a udev coldplug storm (or, with `--module M --racers N`, a barrier race);
//!   `--testbed-stalls` and `--testbed-scheduler` run it on the testbed's guest as the
//!   validation does (`Stalls::TESTBED`, `GuestScheduler::TESTBED`).
//! * `modkit sim sweep [--cpus LIST] [--kernels LIST] [--profile NAME] [--out DIR]
//!   [--json]`: CPU counts across versions; a table, JSON, SVG and PNG plots and a
//!   terminal plot.
//! * `modkit sim profile --tree ROOT [--version VER] --name MACHINE [--out FILE]`: derives
//!   a profile from a real tree, resolving the per-CPU MODALIASes through the module
//!   database (depmod'd into a scratch directory when the tree has no indexes).
//! * `modkit sim validate [FILE] [--repeats FILE[,FILE...]] [--seed-sets K] [--no-scheduler]`:
//!   the model against the testbed's measurements, with the guest's repeated runs of the
//!   storms timing decides (from every file given), run as the guest's scheduler ran them
//!   (`GuestScheduler::TESTBED`); with `--seed-sets`, also how often each row differs over
//!   K sets of seeds; with `--no-scheduler`, every task on a processor of its own, woken at
//!   once (`GuestScheduler::NONE`).
//!
//! Errors are one line on stderr and exit status 1; usage errors exit 2.

use super::stdout;
use modkit_sim::profile::{config_builtin, Machine, EXTRA_MODULES, PINNED_BY_BUILTIN};
use modkit_sim::workload::{self, RacerCall, Userspace, Workload};
use modkit_sim::{Config, ModuleFacts, Profile, Version};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

mod plot;
mod sweep_cmd;

/// A failure of a subcommand: the message, and whether it is a usage error.
pub struct Failure {
    pub text: String,
    pub usage: bool,
}

impl Failure {
    pub fn usage(text: impl Into<String>) -> Failure {
        Failure {
            text: text.into(),
            usage: true,
        }
    }
}

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Failure {
        Failure {
            text: e.to_string(),
            usage: false,
        }
    }
}

const USAGE: &str =
    "usage: modkit sim storm --kernel VERSION --cpus N --profile NAME [--stats] [--json]\n\
\x20             [--module M --racers N [--copies] [--flags F | --init] [--first-fails]]\n\
\x20             [--nosmt] [--nokaslr] [--kasan] [--ram-mib N] [--children-max N]\n\
\x20             [--stress-ng N --module M [--seconds S]] [--kmod-sh 8|9 [--module M]]\n\
\x20             [--userspace kmod30|kmod31|busybox] [--seed N] [--kasan-factor F]\n\
\x20             [--testbed-stalls] [--testbed-scheduler]\n\
       modkit sim sweep [--profile NAME] [--kernels LIST] [--cpus LIST] [--out DIR] [--json]\n\
\x20             [--kasan [--kasan-factor F]] [--nosmt] [--threads N] [--seed N]\n\
       modkit sim profile --tree ROOT [--version VER] --name MACHINE [--out FILE]\n\
       modkit sim validate [RESULTS.json] [--repeats REPEATS.json[,MORE.json]] [--seed-sets K]\n\
\x20             [--no-scheduler]\n";

/// `modkit sim ARGS...`.
pub fn main(argv: &[Vec<u8>]) -> i32 {
    let args: Vec<String> = argv
        .iter()
        .skip(1)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let result = match args.first().map(String::as_str) {
        Some("storm") => storm(&args[1..]),
        Some("sweep") => sweep_cmd::sweep(&args[1..]),
        Some("profile") => profile(&args[1..]),
        Some("validate") => validate(&args[1..]),
        Some("--help") | Some("-h") | None => {
            stdout(USAGE.as_bytes());
            return if args.is_empty() { 2 } else { 0 };
        }
        Some(other) => Err(Failure::usage(format!("unknown subcommand '{other}'"))),
    };
    match result {
        Ok(()) => 0,
        Err(f) => {
            eprintln!("modkit sim: {}", f.text);
            if f.usage {
                eprint!("{USAGE}");
                2
            } else {
                1
            }
        }
    }
}

/// `--key value` and `--flag` arguments.
pub struct Args {
    values: BTreeMap<String, String>,
    flags: Vec<String>,
    pub positional: Vec<String>,
}

impl Args {
    /// Parses `args`; `flags` are the options that take no value.
    pub fn parse(args: &[String], flags: &[&str], values: &[&str]) -> Result<Args, Failure> {
        let mut out = Args {
            values: BTreeMap::new(),
            flags: Vec::new(),
            positional: Vec::new(),
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let Some(key) = a.strip_prefix("--") else {
                out.positional.push(a.clone());
                continue;
            };
            let (key, inline) = match key.split_once('=') {
                Some((k, v)) => (k, Some(v.to_owned())),
                None => (key, None),
            };
            if flags.contains(&key) {
                out.flags.push(key.to_owned());
            } else if values.contains(&key) {
                let v = match inline {
                    Some(v) => v,
                    None => it
                        .next()
                        .cloned()
                        .ok_or_else(|| Failure::usage(format!("--{key} needs a value")))?,
                };
                out.values.insert(key.to_owned(), v);
            } else {
                return Err(Failure::usage(format!("unknown option --{key}")));
            }
        }
        Ok(out)
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    pub fn flag(&self, key: &str) -> bool {
        self.flags.iter().any(|f| f == key)
    }

    /// A numeric value, with a clear error.
    pub fn num<T: std::str::FromStr>(&self, key: &str) -> Result<Option<T>, Failure> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| Failure::usage(format!("--{key}: '{v}' is not a number"))),
        }
    }
}

/// The machine options shared by storm and sweep.
pub fn apply_machine(cfg: &mut Config, a: &Args) -> Result<(), Failure> {
    cfg.smt = !a.flag("nosmt");
    cfg.kaslr = !a.flag("nokaslr");
    cfg.kasan = a.flag("kasan");
    if let Some(r) = a.num("ram-mib")? {
        cfg.ram_mib = r;
    }
    if let Some(s) = a.num("seed")? {
        cfg.seed = s;
    }
    cfg.children_max = a.num("children-max")?;
    if let Some(f) = a.num("kasan-factor")? {
        cfg.kasan_factor = f;
    }
    Ok(())
}

const STORM_FLAGS: &[&str] = &[
    "stats",
    "json",
    "nosmt",
    "nokaslr",
    "kasan",
    "copies",
    "init",
    "first-fails",
    "decompressed",
    "testbed-stalls",
    "testbed-scheduler",
];
const STORM_VALUES: &[&str] = &[
    "stress-ng",
    "kmod-sh",
    "seconds",
    "kasan-factor",
    "kernel",
    "cpus",
    "profile",
    "ram-mib",
    "seed",
    "children-max",
    "module",
    "racers",
    "flags",
    "userspace",
];

fn storm(args: &[String]) -> Result<(), Failure> {
    let a = Args::parse(args, STORM_FLAGS, STORM_VALUES)?;
    let version: Version = a
        .get("kernel")
        .ok_or_else(|| Failure::usage("--kernel is required"))?
        .parse()?;
    let cpus: u32 = a.num("cpus")?.unwrap_or(4);
    let profile = Profile::resolve(a.get("profile").unwrap_or("skylake-sp"))?;
    let mut cfg = Config::new(version, cpus);
    apply_machine(&mut cfg, &a)?;
    if a.flag("testbed-stalls") {
        cfg.stalls = Some(modkit_sim::Stalls::TESTBED);
    }
    if a.flag("testbed-scheduler") {
        modkit_sim::validate::GuestScheduler::TESTBED.apply(&mut cfg);
    }
    let userspace = match a.get("userspace") {
        Some(u) => Some(
            Userspace::parse(u)
                .ok_or_else(|| Failure::usage(format!("unknown --userspace '{u}'")))?,
        ),
        None => None,
    };
    let workload = match (
        a.get("module"),
        a.num::<u32>("stress-ng")?,
        a.num::<u32>("kmod-sh")?,
    ) {
        (Some(module), Some(instances), _) => Workload::StressNg {
            module: module.to_owned(),
            instances,
            ops: u64::MAX,
            duration_ns: (a.num::<f64>("seconds")?.unwrap_or(10.0) * 1e9) as u64,
        },
        (module, None, Some(test)) => Workload::KmodSh {
            test,
            module: module.unwrap_or("xfs").to_owned(),
        },
        (Some(module), None, None) => Workload::Racer {
            module: module.to_owned(),
            n: a.num("racers")?.unwrap_or(cpus),
            copies: a.flag("copies"),
            call: if a.flag("init") {
                RacerCall::Init
            } else {
                RacerCall::Finit(a.num("flags")?.unwrap_or(0))
            },
            decompressed: a.flag("decompressed"),
            first_fails: a.flag("first-fails"),
            exec: userspace,
            signal_at: None,
        },
        (None, Some(_), _) => return Err(Failure::usage("--stress-ng needs --module")),
        (None, None, None) => Workload::Coldplug {
            userspace: userspace.unwrap_or(Userspace::for_tree(&profile.tree)),
        },
    };
    let report = workload::run(&profile, cfg, &workload)?;
    if a.flag("json") {
        let mut v = serde_json::to_value(&report)?;
        if let Some(o) = v.as_object_mut() {
            o.insert("stats_text".into(), report.stats.render().into());
        }
        stdout(format!("{}\n", serde_json::to_string_pretty(&v)?).as_bytes());
        return Ok(());
    }
    if a.flag("stats") {
        if !version.has_stats() {
            eprintln!(
                "modkit sim: note: {version} has no stats.c; these are the counters 6.4's code would show on {version}'s load path"
            );
        }
        stdout(report.stats.render().as_bytes());
        return Ok(());
    }
    stdout(storm_text(&report).as_bytes());
    Ok(())
}

fn storm_text(r: &workload::Report) -> String {
    let errnos: Vec<String> = r.errnos.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!(
        "kernel {} profile {} cpus {}\n\
         syscalls {}: ok={} {}\n\
         init runs {}, images allocated {}, ENOMEM {}\n\
         peak VmallocUsed +{} KiB, physical +{} KiB\n\
         module area peak {} KiB of {} KiB\n\
         direct-map 2 MiB pages split {}\n\
         stats.c wasted {} bytes; real wasted allocations {} bytes\n\
         virtual time {:.1} ms\n",
        r.version,
        r.profile,
        r.cpus,
        r.syscalls,
        r.ok,
        errnos.join(" "),
        r.init_runs,
        r.layouts,
        r.enomem,
        r.peak_vmalloc_delta_kb,
        r.peak_phys_delta_kb,
        r.peak_module_area_bytes / 1024,
        r.module_area_capacity / 1024,
        r.direct_map_splits,
        r.stats.wasted_bytes(),
        r.wasted_alloc_bytes,
        r.end_ms,
    )
}

/// Reads a testbed results file (a JSON array of records).
fn read_results(path: &str) -> Result<Vec<modkit_sim::validate::Measurement>, Failure> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    Ok(modkit_sim::validate::parse_results(&text).map_err(|e| format!("{path}: {e}"))?)
}

fn validate(args: &[String]) -> Result<(), Failure> {
    let a = Args::parse(args, &["json", "no-scheduler"], &["repeats", "seed-sets"])?;
    let guest = match a.flag("no-scheduler") {
        true => modkit_sim::validate::GuestScheduler::NONE,
        false => modkit_sim::validate::GuestScheduler::TESTBED,
    };
    let sets: Option<u64> = a.num("seed-sets")?;
    if sets == Some(0) {
        return Err(Failure::usage("--seed-sets: at least 1".to_owned()));
    }
    let mut records = modkit_sim::validate::spec_reference();
    if let Some(path) = a.positional.first() {
        records.extend(read_results(path)?);
    }
    for path in a
        .get("repeats")
        .into_iter()
        .flat_map(|list| list.split(','))
    {
        let repeats = read_results(path)?;
        let attached = modkit_sim::validate::attach_repeats(&mut records, &repeats);
        if attached < repeats.len() {
            return Err(format!(
                "{path}: {} of {} runs repeat no storm of the results",
                repeats.len() - attached,
                repeats.len()
            )
            .into());
        }
    }
    let seeds = modkit_sim::validate::SEEDS;
    let outcome = modkit_sim::validate::validate_over(&records, seeds, guest);
    stdout(format!("{}\n{}", outcome.table(), outcome.summary()).as_bytes());
    if let Some(k) = sets {
        let sets = modkit_sim::validate::seed_sets(&records, k, guest);
        stdout(format!("\n{}", sets.report()).as_bytes());
    }
    if outcome.failures() > 0 {
        return Err(format!(
            "{} of {} records differ",
            outcome.failures(),
            outcome.rows.len()
        )
        .into());
    }
    Ok(())
}

fn profile(args: &[String]) -> Result<(), Failure> {
    let a = Args::parse(args, &[], &["tree", "version", "name", "out"])?;
    let root = PathBuf::from(
        a.get("tree")
            .ok_or_else(|| Failure::usage("--tree is required"))?,
    );
    let name = a
        .get("name")
        .ok_or_else(|| Failure::usage("--name is required"))?;
    let machine = Machine::by_name(name).ok_or_else(|| {
        let known: Vec<&str> = modkit_sim::profile::MACHINES
            .iter()
            .map(|m| m.name)
            .collect();
        Failure::usage(format!(
            "unknown machine '{name}' (known: {})",
            known.join(", ")
        ))
    })?;
    let version = match a.get("version") {
        Some(v) => v.to_owned(),
        None => only_version(&root)?,
    };
    let p = derive_profile(&root, &version, machine)?;
    let json = p.to_json();
    match a.get("out") {
        Some(out) => std::fs::write(out, json).map_err(|e| format!("{out}: {e}"))?,
        None => stdout(json.as_bytes()),
    }
    Ok(())
}

/// The single kernel version under `ROOT/lib/modules`.
fn only_version(root: &Path) -> Result<String, Failure> {
    let dir = root.join("lib/modules");
    let mut versions: Vec<String> = std::fs::read_dir(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    versions.sort();
    match versions.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(format!("{}: no kernel version", dir.display()).into()),
        _ => Err(Failure::usage(format!(
            "{}: several versions ({}); pick one with --version",
            dir.display(),
            versions.join(", ")
        ))),
    }
}

/// `6.1.0-56-amd64` → `6.1`, `6.12.117+deb13-amd64` → `6.12`.
fn series(release: &str) -> String {
    release.split('.').take(2).collect::<Vec<_>>().join(".")
}

struct Quiet;
impl modkit_depmod::Reporter for Quiet {
    fn message(&mut self, _: modkit_depmod::Level, _: &str) {}
    fn stdout(&mut self, _: &[u8]) {}
}

/// A scratch directory removed on drop.
struct Scratch(PathBuf);
impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The module database of the tree: its own indexes, or ours written to a scratch
/// directory (`depmod -b ROOT -o SCRATCH VER`).
fn open_database(
    root: &Path,
    version: &str,
) -> Result<(modkit_depmod::database::Database, Option<Scratch>), Failure> {
    let moddir = root.join("lib/modules").join(version);
    if !moddir.join("kernel").is_dir() {
        return Err(format!("{}: no modules in this tree", moddir.display()).into());
    }
    if moddir.join("modules.alias.bin").is_file() && moddir.join("modules.dep.bin").is_file() {
        return Ok((modkit_depmod::database::Database::open(&moddir), None));
    }
    let scratch = std::env::temp_dir().join(format!("modkit-sim-profile.{}", std::process::id()));
    let guard = Scratch(scratch.clone());
    let opts = modkit_depmod::Options {
        basedir: std::path::absolute(root).map_err(|e| e.to_string())?,
        outdir: Some(scratch.clone()),
        moduledir: "/lib/modules".to_owned(),
        version: version.to_owned(),
        ..modkit_depmod::Options::default()
    };
    modkit_depmod::run(&opts, &mut Quiet).map_err(|e| format!("depmod: {e}"))?;
    let db = modkit_depmod::database::Database::open(scratch.join("lib/modules").join(version));
    Ok((db, Some(guard)))
}

/// Derives the profile of `machine` from the tree at `root`.
pub fn derive_profile(root: &Path, version: &str, machine: Machine) -> Result<Profile, Failure> {
    let moddir = root.join("lib/modules").join(version);
    let (db, _scratch) = open_database(root, version)?;
    // The tree's kernel configuration, when it ships one (`boot/config-VERSION`).
    let config = std::fs::read_to_string(root.join("boot").join(format!("config-{version}")))
        .unwrap_or_default();
    let mut events = Vec::new();
    for alias in machine.modaliases(&series(version)) {
        let found = db.lookup(alias.as_bytes())?;
        let modules: Vec<String> = found
            .iter()
            .filter(|f| !f.builtin)
            .map(|f| String::from_utf8_lossy(&f.name).into_owned())
            .collect();
        if !modules.is_empty() {
            events.push(modkit_sim::profile::EventFacts {
                modalias: alias,
                modules,
            });
        }
    }
    let mut wanted: Vec<String> = events.iter().flat_map(|e| e.modules.clone()).collect();
    wanted.extend(EXTRA_MODULES.iter().map(|s| (*s).to_owned()));
    wanted.extend(machine.extra.iter().map(|s| (*s).to_owned()));
    let mut facts: BTreeMap<String, ModuleFacts> = BTreeMap::new();
    while let Some(name) = wanted.pop() {
        if facts.contains_key(&name) {
            continue;
        }
        let Some(line) = db.dep_line(name.as_bytes()) else {
            continue;
        };
        let rel = String::from_utf8_lossy(&line.path).into_owned();
        let bytes = std::fs::read(moddir.join(&rel)).map_err(|e| format!("{rel}: {e}"))?;
        let mut f = ModuleFacts::from_file(&rel, &bytes)?;
        f.init_errno = machine.init_errno(&f.name).map(str::to_owned);
        f.init_threads = machine.init_threads(&series(version), &f.name);
        f.pinned = PINNED_BY_BUILTIN
            .iter()
            .any(|(m, option)| *m == f.name && config_builtin(&config, option));
        wanted.extend(f.depends.iter().cloned());
        facts.insert(name, f);
    }
    Ok(Profile {
        name: machine.name.to_owned(),
        tree: series(version),
        release: version.to_owned(),
        events,
        modules: facts.into_values().collect(),
    })
}
