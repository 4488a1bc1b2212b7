//! Booting one initramfs under QEMU (TCG; nested KVM does not work on these machines,
//! testbed.md §1–§2) and reading its serial console line by line. A watchdog bounds every
//! step by its budget: when a step overruns, QEMU is killed and the boot reports which step
//! hung, so a hang never hangs the caller.

use crate::util::Result;
use std::io::{BufRead, BufReader};
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
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
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
    let started = Instant::now();
    let mut child = qemu_command(machine)
        .spawn()
        .map_err(|e| format!("cannot start qemu-system-x86_64: {e}"))?;
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
    std::fs::write(log, lines.join("\n") + "\n")?;
    Ok(Console {
        lines,
        hung_in,
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
}
