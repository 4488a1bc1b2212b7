//! `cargo xtask bench`: modkit against kmod 30 side by side in one run. For each tree, depmod
//! (warm page cache; modkit with --index-layout=post-order so both write the same bytes),
//! modinfo over every module (the same batches of paths for both), and, once modkit has its
//! modprobe, `modprobe --show-depends` over 100 real aliases and 50 dry runs (`-n -v`) of
//! the module with the longest dependency list. Tools alternate invocation by invocation;
//! wall time comes from the clock around processes spawned directly, peak RSS from
//! `/usr/bin/time -f %M` in the warm-up run. Prints a
//! Markdown table; `--write` records it in docs/benchmarks.md with the machine and versions.

use crate::util::{self, Result, Tree};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

#[derive(clap::Args)]
pub struct Args {
    /// Timed runs per tool and task (after one untimed warm-up run).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Module paths per modinfo invocation.
    #[arg(long, default_value_t = 500)]
    batch: usize,
    /// Write the results to docs/benchmarks.md.
    #[arg(long)]
    write: bool,
}

const TIME: &str = "/usr/bin/time";
const KMOD_DEPMOD: &str = "/sbin/depmod";
const KMOD_MODINFO: &str = "/sbin/modinfo";
const KMOD_MODPROBE: &str = "/sbin/modprobe";

/// One measured task on one tree, with both tools' samples.
struct Task {
    name: &'static str,
    tree: Tree,
    /// Invocations of one run, per tool: [kmod, modkit].
    invocations: [Vec<Vec<String>>; 2],
    samples: [Vec<Sample>; 2],
    /// The highest wall-time ratio modkit/kmod an issue asks for, if any.
    target: Option<f64>,
}

/// Issue 5's target for the modprobe tasks: at most 0.8× kmod's time.
const MODPROBE_TARGET: f64 = 0.8;

#[derive(Clone, Copy)]
struct Sample {
    wall: f64,
    /// User and system time of the run's processes ([`cpu_of_zombie`]).
    cpu: f64,
    rss_kib: u64,
}

pub fn run(args: Args) -> Result {
    util::ensure_program(TIME, "time")?;
    let (trees, _) = util::fetch_trees()?;
    let bin = util::build_modkit()?;
    let mut tasks = Vec::new();
    for tree in &trees {
        let copy = util::target_dir().join("bench").join(&tree.label);
        util::fresh_copy(tree, &copy)?;
        tasks.push(depmod_task(&bin, tree, &copy));
        tasks.push(modinfo_task(&bin, tree, args.batch)?);
        if has_modprobe(&bin) {
            // The modprobe tasks read the indexes kmod's depmod writes into the copy.
            util::run(
                Command::new(KMOD_DEPMOD)
                    .arg("-b")
                    .arg(&copy)
                    .arg(&tree.version),
            )?;
            tasks.push(show_depends_task(&bin, tree, &copy)?);
            tasks.push(dry_run_task(&bin, tree, &copy)?);
        }
    }
    for task in &mut tasks {
        measure(task, args.runs.max(1))?;
    }
    let table = table(&tasks);
    println!("\n{table}");
    if args.write {
        let path = util::workspace_root().join("docs/benchmarks.md");
        std::fs::write(&path, document(&args, &trees, &table)?)?;
        println!("xtask: wrote {}", path.display());
    }
    Ok(())
}

fn depmod_task(bin: &Path, tree: &Tree, copy: &Path) -> Task {
    let root = copy.to_string_lossy().into_owned();
    let kmod = vec![
        KMOD_DEPMOD.into(),
        "-b".into(),
        root.clone(),
        tree.version.clone(),
    ];
    let ours = vec![
        bin.to_string_lossy().into_owned(),
        "depmod".into(),
        "--index-layout=post-order".into(),
        "-b".into(),
        root,
        tree.version.clone(),
    ];
    new_task("depmod", tree, vec![kmod], vec![ours])
}

fn modinfo_task(bin: &Path, tree: &Tree, batch: usize) -> Result<Task> {
    let modules = module_files(&tree.module_dir())?;
    let (mut kmod, mut ours) = (Vec::new(), Vec::new());
    for chunk in modules.chunks(batch.max(1)) {
        let paths = chunk.iter().map(|p| p.to_string_lossy().into_owned());
        kmod.push(
            std::iter::once(KMOD_MODINFO.to_owned())
                .chain(paths.clone())
                .collect(),
        );
        let head = [bin.to_string_lossy().into_owned(), "modinfo".into()];
        ours.push(head.into_iter().chain(paths).collect());
    }
    Ok(new_task("modinfo (all modules)", tree, kmod, ours))
}

fn new_task(
    name: &'static str,
    tree: &Tree,
    kmod: Vec<Vec<String>>,
    ours: Vec<Vec<String>>,
) -> Task {
    Task {
        name,
        tree: tree.clone(),
        invocations: [kmod, ours],
        samples: [Vec::new(), Vec::new()],
        target: None,
    }
}

/// Whether this modkit has its `modprobe` yet.
fn has_modprobe(bin: &Path) -> bool {
    Command::new(bin)
        .args(["modprobe", "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// `modprobe -d COPY -S VER ARGS` for kmod and for modkit.
fn modprobe_pair(bin: &Path, tree: &Tree, copy: &Path, args: &[&str]) -> [Vec<String>; 2] {
    let tail: Vec<String> = ["-d", &copy.to_string_lossy(), "-S", &tree.version]
        .iter()
        .chain(args)
        .map(|s| (*s).to_owned())
        .collect();
    let kmod = std::iter::once(KMOD_MODPROBE.to_owned()).chain(tail.iter().cloned());
    let ours = [bin.to_string_lossy().into_owned(), "modprobe".into()];
    [kmod.collect(), ours.into_iter().chain(tail).collect()]
}

/// A concrete string an alias pattern matches: `*` dropped, `?` as `0`, a bracket as its
/// first member.
fn instantiate(pattern: &str) -> String {
    let mut out = String::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '*' => {}
            '?' => out.push('0'),
            '[' => {
                let class: String = chars.by_ref().take_while(|c| *c != ']').collect();
                out.extend(class.chars().next());
            }
            c => out.push(c),
        }
    }
    out
}

/// `modprobe --show-depends` for 100 aliases of modules.alias, spread over the file, each
/// one that kmod resolves (exit 0).
fn show_depends_task(bin: &Path, tree: &Tree, copy: &Path) -> Result<Task> {
    let text =
        std::fs::read_to_string(util::module_dir(copy, &tree.version).join("modules.alias"))?;
    let patterns: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .collect();
    let stride = (patterns.len() / 400).max(1);
    let (mut kmod, mut ours) = (Vec::new(), Vec::new());
    for pattern in patterns.iter().step_by(stride) {
        let alias = instantiate(pattern);
        let [k, o] = modprobe_pair(bin, tree, copy, &["--show-depends", &alias]);
        let resolves = Command::new(&k[0])
            .args(&k[1..])
            .output()
            .is_ok_and(|out| out.status.success());
        if resolves {
            kmod.push(k);
            ours.push(o);
        }
        if kmod.len() == 100 {
            break;
        }
    }
    let mut task = new_task("modprobe --show-depends (100 aliases)", tree, kmod, ours);
    task.target = Some(MODPROBE_TARGET);
    Ok(task)
}

/// `modprobe -n -v` of the module with the longest dependency list, 50 times.
fn dry_run_task(bin: &Path, tree: &Tree, copy: &Path) -> Result<Task> {
    let text = std::fs::read_to_string(util::module_dir(copy, &tree.version).join("modules.dep"))?;
    let deepest = text
        .lines()
        .max_by_key(|l| l.split_whitespace().count())
        .and_then(|l| l.split(':').next())
        .map(|path| {
            let base = path.rsplit('/').next().unwrap_or(path);
            base.split('.').next().unwrap_or(base).to_owned()
        })
        .ok_or("modules.dep is empty")?;
    let [k, o] = modprobe_pair(bin, tree, copy, &["-n", "-v", &deepest]);
    let mut task = new_task(
        "modprobe -n -v (deepest chain, 50×)",
        tree,
        vec![k; 50],
        vec![o; 50],
    );
    task.target = Some(MODPROBE_TARGET);
    Ok(task)
}

/// Every module file under `dir`, sorted.
fn module_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let path = entry?.path();
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if path.is_dir() && name != "build" && name != "source" {
                stack.push(path);
            } else if [".ko", ".ko.xz", ".ko.zst", ".ko.gz"]
                .iter()
                .any(|s| name.ends_with(s))
            {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

/// One warm-up run under /usr/bin/time (its peak RSS is the tool's), then `runs` timed runs
/// of both tools interleaved, each process spawned directly so that the wall time is the
/// tool's alone (a /usr/bin/time around every invocation would add one more exec to each,
/// a constant that hides the tools' difference in the short modprobe runs).
fn measure(task: &mut Task, runs: usize) -> Result {
    println!(
        "xtask: bench {} on {} ({} runs)",
        task.name, task.tree.label, runs
    );
    let mut rss = [0; 2];
    for (tool, rss) in rss.iter_mut().enumerate() {
        *rss = peak_rss(&task.invocations[tool])?;
    }
    for run in 0..runs {
        let times = run_interleaved(&task.invocations, run % 2 == 1)?;
        for (tool, &rss_kib) in rss.iter().enumerate() {
            let (wall, cpu) = times[tool];
            task.samples[tool].push(Sample { wall, cpu, rss_kib });
        }
    }
    Ok(())
}

/// Which tool goes first for invocation `i` of a run: kmod on even invocations, modkit on
/// odd ones, the other way round when `flip` (every other run).
fn order(i: usize, flip: bool) -> [usize; 2] {
    match (i % 2 == 1) != flip {
        false => [0, 1],
        true => [1, 0],
    }
}

/// One timed run of both tools, interleaved invocation by invocation ([`order`]), so that
/// both meet the same load of a shared machine: each tool's (wall, CPU) time is the sum of
/// its own invocations'.
fn run_interleaved(invocations: &[Vec<Vec<String>>; 2], flip: bool) -> Result<[(f64, f64); 2]> {
    let mut times = [(0.0, 0.0); 2];
    let n = invocations[0].len().max(invocations[1].len());
    for i in 0..n {
        for tool in order(i, flip) {
            if let Some(argv) = invocations[tool].get(i) {
                let (wall, cpu) = time_one(argv)?;
                times[tool].0 += wall;
                times[tool].1 += cpu;
            }
        }
    }
    Ok(times)
}

/// The wall and CPU time of one invocation, spawned directly. The process is waited for
/// without being reaped, its CPU time read from /proc, then it is reaped.
fn time_one(argv: &[String]) -> Result<(f64, f64)> {
    use rustix::process::{waitid, Pid, WaitId, WaitIdOptions};
    let started = Instant::now();
    let mut child = Command::new(&argv[0])
        .args(&argv[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let pid = i32::try_from(child.id())
        .ok()
        .and_then(Pid::from_raw)
        .ok_or("child pid out of range")?;
    waitid(
        WaitId::Pid(pid),
        WaitIdOptions::EXITED | WaitIdOptions::NOWAIT,
    )?;
    let wall = started.elapsed().as_secs_f64();
    let cpu = cpu_of_zombie(child.id());
    check_status(argv, child.wait()?)?;
    Ok((wall, cpu?))
}

/// The user and system time, in seconds, of an exited process not yet reaped: the
/// scheduler's nanoseconds of its main thread (`/proc/PID/schedstat`, exact for the
/// single-threaded modprobe) or the clock ticks of all its threads (`/proc/PID/stat`, for
/// depmod's and modinfo's worker threads, whose runs last seconds), whichever is larger.
fn cpu_of_zombie(pid: u32) -> Result<f64> {
    let schedstat = std::fs::read_to_string(format!("/proc/{pid}/schedstat"))?;
    let main_ns: f64 = schedstat
        .split_whitespace()
        .next()
        .and_then(|w| w.parse().ok())
        .ok_or("unreadable schedstat")?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    Ok((main_ns / 1e9).max(ticks_of_stat(&stat)? / 100.0))
}

/// utime + stime (fields 14 and 15) of a /proc/PID/stat line, in clock ticks.
fn ticks_of_stat(stat: &str) -> Result<f64> {
    // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or("unreadable stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| -> Result<f64> {
        Ok(fields
            .get(n - 3)
            .and_then(|w| w.parse().ok())
            .ok_or("unreadable stat")?)
    };
    Ok(field(14)? + field(15)?)
}

fn check_status(argv: &[String], status: std::process::ExitStatus) -> Result {
    if status.success() {
        return Ok(());
    }
    Err(format!("{} … failed: {status}", argv[..2.min(argv.len())].join(" ")).into())
}

/// Runs every invocation once under /usr/bin/time: the highest peak RSS, in KiB.
fn peak_rss(invocations: &[Vec<String>]) -> Result<u64> {
    let report = util::target_dir().join("bench/time.out");
    let mut rss_kib = 0;
    for argv in invocations {
        let status = Command::new(TIME)
            .args(["-f", "%e %M", "-o"])
            .arg(&report)
            .args(argv)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()?;
        check_status(argv, status)?;
        let text = std::fs::read_to_string(&report)?;
        let rss = text
            .split_whitespace()
            .last()
            .and_then(|w| w.parse().ok())
            .unwrap_or(0);
        rss_kib = rss_kib.max(rss);
    }
    Ok(rss_kib)
}

pub(crate) fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        return 0.0;
    }
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// One tool's figures for a task.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Summary {
    wall: f64,
    min: f64,
    max: f64,
    cpu: f64,
    rss_mib: f64,
}

/// Median, min and max wall time, median CPU time, and the highest peak RSS in MiB.
fn summary(samples: &[Sample]) -> Summary {
    let mut walls: Vec<f64> = samples.iter().map(|s| s.wall).collect();
    let wall = median(&mut walls);
    let mut cpus: Vec<f64> = samples.iter().map(|s| s.cpu).collect();
    Summary {
        wall,
        min: walls.first().copied().unwrap_or(0.0),
        max: walls.last().copied().unwrap_or(0.0),
        cpu: median(&mut cpus),
        rss_mib: samples.iter().map(|s| s.rss_kib).max().unwrap_or(0) as f64 / 1024.0,
    }
}

fn table(tasks: &[Task]) -> String {
    let mut out = String::from(
        "| task | tree | tool | median wall | min / max | wall modkit/kmod | median CPU | CPU modkit/kmod | peak RSS | RSS modkit/kmod |\n\
         |---|---|---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for task in tasks {
        let kmod = summary(&task.samples[0]);
        let ours = summary(&task.samples[1]);
        let [wall_ratio, cpu_ratio] = paired_ratios(&task.samples);
        for (tool, s) in [("kmod 30", kmod), ("modkit", ours)] {
            let (ratio, cpu_ratio, rss_ratio) = if tool == "modkit" {
                (
                    ratio_cell(wall_ratio, task.target),
                    format!("{cpu_ratio:.2}"),
                    format!("{:.2}", s.rss_mib / kmod.rss_mib),
                )
            } else {
                Default::default()
            };
            let _ = writeln!(
                out,
                "| {} | {} | {tool} | {:.3} s | {:.3} / {:.3} s | {ratio} | {:.3} s | {cpu_ratio} | {:.1} MiB | {rss_ratio} |",
                task.name, task.tree.label, s.wall, s.min, s.max, s.cpu, s.rss_mib
            );
        }
    }
    out
}

/// The median over runs of modkit's time divided by kmod's in the same run, for wall and
/// CPU time: the runs interleave the tools, so a run's two figures met the same load, and
/// the ratio of a pair cancels most of it.
fn paired_ratios(samples: &[Vec<Sample>; 2]) -> [f64; 2] {
    let pairs = || samples[0].iter().zip(&samples[1]);
    let mut walls: Vec<f64> = pairs().map(|(k, m)| m.wall / k.wall).collect();
    let mut cpus: Vec<f64> = pairs().map(|(k, m)| m.cpu / k.cpu).collect();
    [median(&mut walls), median(&mut cpus)]
}

/// A wall-time ratio, flagged when it misses the task's target.
fn ratio_cell(ratio: f64, target: Option<f64>) -> String {
    let shown = format!("{ratio:.2}");
    match target {
        // as shown: a ratio printed as the target itself meets it
        Some(t) if shown.parse::<f64>().is_ok_and(|r| r > t) => {
            format!("{shown} **over {t}× target**")
        }
        _ => shown,
    }
}

/// docs/benchmarks.md: the table with the command, date, machine and versions.
fn document(args: &Args, trees: &[Tree], table: &str) -> Result<String> {
    let sh = |cmd: &str| {
        util::output(Command::new("sh").args(["-c", cmd]))
            .map(|s| s.trim().to_owned())
            .unwrap_or_else(|_| "unknown".into())
    };
    let mut doc = String::from("# Benchmarks\n\n");
    let _ = writeln!(
        doc,
        "Generated by `cargo xtask bench --runs {} --batch {} --write` on {}.\n",
        args.runs,
        args.batch,
        sh("date -u '+%Y-%m-%d %H:%M UTC'")
    );
    if args.runs < 5 {
        doc.push_str("**Smoke run** (fewer than 5 runs per tool): indicative only. Regenerate with `cargo xtask bench --write` on a quiet machine.\n\n");
    }
    doc.push_str("Method: one untimed warm-up run of each tool, then the timed runs, in which the tools alternate invocation by invocation (kmod first on even invocations, modkit first on odd ones, and the other way round every other run), so that both meet the same load of the shared machine; a tool's wall time is the sum of its invocations. depmod runs on a hardlinked copy of each tree with a warm page cache; modkit writes the post-order layout (`--index-layout=post-order`) so both tools write the same bytes. modinfo runs over every module of the tree by path, in batches of the same paths for both tools; its wall time is the sum of the batches and its peak RSS the highest of them. Wall time is measured by the clock around each process, spawned directly; CPU time is the processes' user and system time (read from `/proc/PID/schedstat` and `/proc/PID/stat` before each is reaped), which the machine's load moves far less than wall time; peak RSS by `/usr/bin/time -f %M` in the warm-up run. The ratios are medians over the runs of modkit's time divided by kmod's in the same run. A modprobe row whose wall ratio misses issue 5's target (at most 0.8× kmod's time) is marked **over 0.8× target**. The machine is shared: short runs (the modprobe rows are 100 or 50 processes of a few milliseconds) move with its load, so compare ratios from one run only.\n\n");
    doc.push_str("## Machine\n\n");
    let _ = writeln!(
        doc,
        "- CPUs: {} × {}",
        sh("nproc"),
        sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-")
    );
    let _ = writeln!(
        doc,
        "- Memory: {}",
        sh("awk '/MemTotal/ { printf \"%.1f GiB\", $2 / 1048576 }' /proc/meminfo")
    );
    let _ = writeln!(
        doc,
        "- OS: {}, Linux {}",
        sh(". /etc/os-release && echo \"$PRETTY_NAME\""),
        sh("uname -r")
    );
    let _ = writeln!(
        doc,
        "- Load average (1, 5, 15 min) when the table was written: {}",
        sh("cut -d' ' -f1-3 /proc/loadavg")
    );
    doc.push_str("\n## Versions\n\n");
    let _ = writeln!(doc, "- kmod: {}", sh("dpkg-query -W -f='${Version}' kmod"));
    let _ = writeln!(doc, "- modkit: {}", sh("git rev-parse --short HEAD"));
    let _ = writeln!(doc, "- {}", sh("rustc --version"));
    for t in trees {
        let _ = writeln!(doc, "- tree {}: {}", t.label, t.deb);
    }
    doc.push_str("\n## Results\n\n");
    doc.push_str(table);
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(wall: f64, rss_kib: u64) -> Sample {
        Sample {
            wall,
            cpu: wall / 2.0,
            rss_kib,
        }
    }

    #[test]
    fn alias_patterns_become_strings_they_match() {
        assert_eq!(
            instantiate("pci:v00008086d*sv*sd*bc*sc*i*"),
            "pci:v00008086dsvsdbcsci"
        );
        assert_eq!(instantiate("usb:v1234p[0-9]?d*"), "usb:v1234p00d");
        assert_eq!(instantiate("acpi*:LNXCPU:*"), "acpi:LNXCPU:");
    }

    #[test]
    fn ratios_over_their_target_are_flagged() {
        assert_eq!(ratio_cell(0.81, Some(0.8)), "0.81 **over 0.8× target**");
        assert_eq!(ratio_cell(0.8, Some(0.8)), "0.80");
        assert_eq!(ratio_cell(0.804, Some(0.8)), "0.80");
        assert_eq!(ratio_cell(0.95, None), "0.95");
    }

    #[test]
    fn stat_ticks_are_utime_plus_stime_after_the_name() {
        let stat = "42 (a) b) S 1 42 42 0 -1 4194304 100 0 0 0 7 5 0 0 20 0 1 0 9 0 0";
        assert_eq!(ticks_of_stat(stat).unwrap(), 12.0);
        assert!(ticks_of_stat("42 (no end").is_err());
    }

    #[test]
    fn a_process_cpu_time_is_read_before_it_is_reaped() {
        let argv: Vec<String> = [
            "sh",
            "-c",
            "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let (wall, cpu) = time_one(&argv).unwrap();
        assert!(cpu > 0.0 && cpu <= wall * 1.05, "wall {wall} cpu {cpu}");
    }

    #[test]
    fn ratios_are_medians_of_each_runs_pair() {
        // Run 2 met a load spike that slowed both tools alike.
        let kmod = vec![sample(1.0, 1), sample(5.0, 1), sample(1.2, 1)];
        let ours = vec![sample(0.6, 1), sample(3.5, 1), sample(0.7, 1)];
        let [wall, cpu] = paired_ratios(&[kmod, ours]);
        assert!((wall - 0.6).abs() < 1e-9, "{wall}");
        assert!((cpu - 0.6).abs() < 1e-9, "{cpu}");
    }

    #[test]
    fn tools_take_turns_going_first() {
        assert_eq!(order(0, false), [0, 1]);
        assert_eq!(order(1, false), [1, 0]);
        assert_eq!(order(0, true), [1, 0]);
        assert_eq!(order(1, true), [0, 1]);
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(&mut []), 0.0);
    }

    #[test]
    fn summary_gives_median_min_max_and_peak_rss() {
        let s = summary(&[sample(2.0, 2048), sample(1.0, 4096), sample(3.0, 1024)]);
        let want = Summary {
            wall: 2.0,
            min: 1.0,
            max: 3.0,
            cpu: 1.0,
            rss_mib: 4.0,
        };
        assert_eq!(s, want);
    }

    #[test]
    fn table_has_ratios_on_modkit_rows_only() {
        let tree = Tree {
            label: "6.1".into(),
            version: "v".into(),
            root: "/r".into(),
            deb: "d".into(),
        };
        let mut task = new_task("depmod", &tree, Vec::new(), Vec::new());
        task.samples = [vec![sample(2.0, 2048)], vec![sample(1.0, 1024)]];
        let text = table(&[task]);
        assert!(
            text.contains(
                "| depmod | 6.1 | kmod 30 | 2.000 s | 2.000 / 2.000 s |  | 1.000 s |  | 2.0 MiB |  |"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "| depmod | 6.1 | modkit | 1.000 s | 1.000 / 1.000 s | 0.50 | 0.500 s | 0.50 | 1.0 MiB | 0.50 |"
            ),
            "{text}"
        );
    }
}
