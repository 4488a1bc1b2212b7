//! Counting the insertion system calls that reach the kernel with the syscall tracepoints
//! (testbed.md §5.4): `sys_enter_*` counts the calls, `sys_exit_*` gives each return value.
//! Works for any loader, including ones whose exit status hides the kernel's answer.

use crate::report::errno_number_name;
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

const TRACEFS: &str = "/sys/kernel/tracing";
const EVENTS: &[&str] = &[
    "sys_enter_finit_module",
    "sys_exit_finit_module",
    "sys_enter_init_module",
    "sys_exit_init_module",
];

/// What the tracepoints saw: calls entered, and results by system call and errno name
/// (`"0"` for success).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub entered: BTreeMap<String, u64>,
    pub results: BTreeMap<String, BTreeMap<String, u64>>,
}

impl Counts {
    pub fn insert_syscalls(&self) -> u64 {
        self.entered.values().sum()
    }
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Whether tracefs and the syscall events exist.
pub fn available() -> bool {
    Path::new(TRACEFS)
        .join("events/syscalls/sys_enter_finit_module/enable")
        .exists()
}

/// Enables the four events and empties the buffer.
pub fn start() -> Result<(), String> {
    set_enabled("1")?;
    write(&Path::new(TRACEFS).join("trace"), "")
}

fn set_enabled(value: &str) -> Result<(), String> {
    for event in EVENTS {
        let path = Path::new(TRACEFS)
            .join("events/syscalls")
            .join(event)
            .join("enable");
        write(&path, value)?;
    }
    Ok(())
}

/// Disables the events and counts what the buffer holds.
pub fn finish() -> Result<Counts, String> {
    set_enabled("0")?;
    let path = Path::new(TRACEFS).join("trace");
    let text = fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(parse(&text))
}

/// Counts the event lines of a trace: `sys_NAME(args)` on entry, `sys_NAME -> 0xVALUE` on
/// exit, a negative value being a 64-bit two's complement errno.
pub fn parse(text: &str) -> Counts {
    let mut counts = Counts::default();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        for call in ["finit_module", "init_module"] {
            let marker = format!(": sys_{call}");
            let Some(at) = line.find(&marker) else {
                continue;
            };
            let rest = &line[at + marker.len()..];
            if rest.starts_with('(') {
                *counts.entered.entry(call.to_owned()).or_default() += 1;
            } else if let Some(value) = rest.strip_prefix(" -> 0x") {
                let name = return_name(value.trim());
                *counts
                    .results
                    .entry(call.to_owned())
                    .or_default()
                    .entry(name)
                    .or_default() += 1;
            }
        }
    }
    counts
}

fn return_name(hex: &str) -> String {
    match u64::from_str_radix(hex, 16) {
        Ok(0) => "0".to_owned(),
        Ok(v) if (v as i64) < 0 => errno_number_name(-(v as i64) as i32),
        Ok(v) => format!("+{v}"),
        Err(_) => format!("?{hex}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_lines_are_counted_by_call_and_errno() {
        let text = "# tracer: nop\n\
 racer-80 [001] ..... 5.1: sys_finit_module(fd: 3, uargs: 4d2, flags: 4)\n\
 racer-81 [002] ..... 5.1: sys_finit_module(fd: 3, uargs: 4d2, flags: 4)\n\
 racer-80 [001] ..... 5.2: sys_finit_module -> 0x0\n\
 racer-81 [002] ..... 5.3: sys_finit_module -> 0xffffffffffffffef\n\
 kmod-90 [000] ..... 6.0: sys_init_module(umod: 7f, len: 5594199, uargs: 55)\n\
 kmod-90 [000] ..... 6.1: sys_init_module -> 0xfffffffffffffff0\n";
        let c = parse(text);
        assert_eq!(c.insert_syscalls(), 3);
        assert_eq!(c.entered["finit_module"], 2);
        assert_eq!(c.results["finit_module"]["0"], 1);
        assert_eq!(c.results["finit_module"]["EEXIST"], 1);
        assert_eq!(c.results["init_module"]["EBUSY"], 1);
        assert!(!c.results["init_module"].contains_key("0"));
    }
}
