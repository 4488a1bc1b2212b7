//! What the racer prints: one console line per record, `TAG {json}`, errno names as the
//! kernel headers spell them, and the guest's identification (`racer ident`).

use crate::sampler::Meminfo;
use modkit_sys::Errno;
use serde_json::json;
use std::io::Write;

/// The errnos a module load can return, by number.
const ERRNO_NAMES: &[(i32, &str)] = &[
    (1, "EPERM"),
    (2, "ENOENT"),
    (4, "EINTR"),
    (5, "EIO"),
    (8, "ENOEXEC"),
    (11, "EAGAIN"),
    (12, "ENOMEM"),
    (13, "EACCES"),
    (14, "EFAULT"),
    (16, "EBUSY"),
    (17, "EEXIST"),
    (19, "ENODEV"),
    (22, "EINVAL"),
    (26, "ETXTBSY"),
    (28, "ENOSPC"),
    (38, "ENOSYS"),
    (61, "ENODATA"),
    (74, "EBADMSG"),
    (95, "EOPNOTSUPP"),
    (110, "ETIMEDOUT"),
    (129, "EKEYREJECTED"),
];

/// The name of a positive errno number (`E<n>` for one outside the table).
pub fn errno_number_name(number: i32) -> String {
    ERRNO_NAMES
        .iter()
        .find(|(n, _)| *n == number)
        .map(|(_, name)| (*name).to_owned())
        .unwrap_or_else(|| format!("E{number}"))
}

pub fn errno_name(errno: Errno) -> String {
    errno_number_name(errno.raw_os_error())
}

/// Prints `TAG {json}` as one line and flushes, so the console keeps records whole.
pub fn print_line(tag: &str, value: &serde_json::Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{tag} {value}");
    let _ = out.flush();
}

fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim_end().to_owned())
}

/// `racer ident`: prints `IDENT {json}`.
pub fn ident() -> Result<(), String> {
    let mem = Meminfo::read_all().map_err(|e| format!("/proc/meminfo: {e}"))?;
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let value = json!({
        "release": read_trimmed("/proc/sys/kernel/osrelease"),
        "version": read_trimmed("/proc/version"),
        "cpus": cpus,
        "cpu_modalias": read_trimmed("/sys/devices/system/cpu/modalias"),
        "compression": read_trimmed("/sys/module/compression"),
        "cmdline": read_trimmed("/proc/cmdline"),
        "meminfo_kb": mem,
    });
    print_line("IDENT", &value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_names_follow_the_headers() {
        assert_eq!(errno_name(Errno::EXIST), "EEXIST");
        assert_eq!(errno_name(Errno::BUSY), "EBUSY");
        assert_eq!(errno_number_name(8), "ENOEXEC");
        assert_eq!(errno_number_name(200), "E200");
    }
}
