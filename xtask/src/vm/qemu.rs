//! Booting one initramfs under QEMU (TCG; nested KVM does not work on these machines,
//! testbed.md §1–§2) and reading its serial console line by line. A watchdog bounds every
//! step by its budget: when a step overruns, QEMU is killed and the boot reports which step
//! hung, so a hang never hangs the caller.

use crate::util::Result;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long the kernel may take to reach the first step (TCG boots in about 5–10 s).
const BOOT_BUDGET: Duration = Duration::from_secs(120);

pub struct Machine<'a> {
    pub vmlinuz: &'a Path,
    pub initrd: &'a Path,
    pub cpus: usize,
    pub memory_mib: usize,
}

/// What a boot printed, and whether the watchdog had to stop it.
pub struct Console {
    pub lines: Vec<String>,
    /// The step that overran its budget (`None` for the boot itself), when one did.
    pub hung_in: Option<Option<usize>>,
    /// The step the guest was in when the console ended without `DONE` (a kernel panic:
    /// QEMU exits), when it did.
    pub crashed_in: Option<Option<usize>>,
    pub elapsed: Duration,
}

fn qemu_command(m: &Machine) -> Command {
    let mut cmd = Command::new("qemu-system-x86_64");
    cmd.args(["-accel", "tcg,thread=multi", "-cpu", "Haswell-noTSX-IBRS"])
        .args(["-smp", &m.cpus.to_string(), "-m", &m.memory_mib.to_string()])
        .arg("-kernel")
        .arg(m.vmlinuz)
        .arg("-initrd")
        .arg(m.initrd)
        .args([
            "-append",
            "console=ttyS0 loglevel=3 panic=-1 no_hash_pointers",
            "-nographic",
            "-no-reboot",
        ]);
    cmd
}

/// The step a `STEP <i>` line starts (`end` and anything else: none).
fn step_of(line: &str) -> Option<Option<usize>> {
    let rest = &line[line.find("STEP ")? + 5..];
    Some(rest.trim().parse().ok())
}

/// Boots `machine` and collects its console; `budget(i)` bounds step i. The full console
/// goes to `log` as it arrives.
pub fn boot(machine: &Machine, budget: &dyn Fn(usize) -> Duration, log: &Path) -> Result<Console> {
    watch(qemu_command(machine), budget, log)
}

/// Runs `cmd` (QEMU, or anything printing the same console protocol) under the watchdog.
fn watch(mut cmd: Command, budget: &dyn Fn(usize) -> Duration, log: &Path) -> Result<Console> {
    let started = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        // QEMU's own warnings (TCG lacks some CPUID features) go beside the console log.
        .stderr(std::fs::File::create(log.with_extension("stderr"))?)
        .spawn()
        .map_err(|e| format!("cannot start {:?}: {e}", cmd.get_program()))?;
    let stdout = child.stdout.take().ok_or("qemu stdout")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).split(b'\n') {
            let Ok(bytes) = line else { break };
            let text = String::from_utf8_lossy(&bytes)
                .trim_end_matches('\r')
                .to_owned();
            if tx.send(text).is_err() {
                break;
            }
        }
    });
    let mut log_file = std::fs::File::create(log)?;
    let mut lines = Vec::new();
    let mut current: Option<usize> = None;
    let mut deadline = Instant::now() + BOOT_BUDGET;
    let mut hung_in = None;
    loop {
        let wait = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(wait) {
            Ok(line) => {
                if let Some(step) = step_of(&line) {
                    current = step;
                    deadline = Instant::now() + step.map_or(BOOT_BUDGET, budget);
                }
                let _ = writeln!(log_file, "{line}");
                lines.push(line);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                hung_in = Some(current);
                let _ = child.kill();
                break;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    let _ = child.wait();
    let what = match hung_in {
        Some(Some(step)) => Some(format!("step {step}")),
        Some(None) => Some("the boot".to_owned()),
        None => None,
    };
    if let Some(what) = what {
        let _ = writeln!(log_file, "xtask: watchdog: {what} overran; QEMU killed");
    }
    let finished = lines.iter().any(|l| l == "DONE");
    let crashed_in = (hung_in.is_none() && !finished).then_some(current);
    if let Some(step) = crashed_in {
        let _ = writeln!(
            log_file,
            "xtask: the console ended without DONE in {}: the guest crashed",
            step.map_or("the boot".to_owned(), |s| format!("step {s}"))
        );
    }
    Ok(Console {
        lines,
        hung_in,
        crashed_in,
        elapsed: started.elapsed(),
    })
}

/// target/vm/logs/<name>.log
pub fn log_path(name: &str) -> PathBuf {
    let dir = crate::util::target_dir().join("vm/logs");
    let _ = std::fs::create_dir_all(&dir);
    dir.join(format!("{name}.log"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_lines_are_recognised() {
        assert_eq!(step_of("STEP 3"), Some(Some(3)));
        assert_eq!(step_of("STEP end"), Some(None));
        assert_eq!(step_of("RESULT {}"), None);
        assert_eq!(step_of("\u{1b}[2JSTEP 0"), Some(Some(0)));
    }

    #[test]
    fn a_step_that_hangs_is_killed_after_its_budget() {
        let log = std::env::temp_dir().join(format!("xtask-watch-{}.log", std::process::id()));
        let mut cmd = Command::new("sh");
        cmd.args([
            "-c",
            "echo STEP 0; echo RESULT {}; echo STEP 1; exec sleep 600",
        ]);
        let budget = |step: usize| Duration::from_secs(if step == 1 { 1 } else { 60 });
        let console = watch(cmd, &budget, &log).expect("runs");
        assert_eq!(console.hung_in, Some(Some(1)));
        assert!(
            console.elapsed < Duration::from_secs(60),
            "{:?}",
            console.elapsed
        );
        assert_eq!(console.lines, ["STEP 0", "RESULT {}", "STEP 1"]);
        let text = std::fs::read_to_string(&log).expect("log written");
        assert!(text.contains("watchdog: step 1 overran"), "{text}");
        let _ = std::fs::remove_file(&log);
    }

    #[test]
    fn a_boot_that_ends_is_not_a_hang() {
        let log = std::env::temp_dir().join(format!("xtask-end-{}.log", std::process::id()));
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo STEP 0; echo STEP end; echo DONE"]);
        let console = watch(cmd, &|_| Duration::from_secs(60), &log).expect("runs");
        assert_eq!(console.hung_in, None);
        assert_eq!(console.lines.last().map(String::as_str), Some("DONE"));
        let _ = std::fs::remove_file(&log);
    }
}
