//! One module per tool; each exposes `main(argv) -> exit status`. Shared here: the
//! version lines every tool prints for `-V`, and the program name used in messages.

pub mod depmod;
pub mod insmod;
pub mod kmod;
pub mod list;
pub mod modinfo;
pub mod modprobe;
pub mod rmmod;
pub mod sim;
pub mod sizes;
pub mod static_nodes;
pub mod stats;

/// The feature line of `-V`, kmod 30's own: like Debian 12's kmod, depmod and modinfo
/// ignore `.ko.gz` files (-ZLIB) and read PKCS#7 signature fields (+LIBCRYPTO), so
/// scripts that parse this line see the truth.
pub const FEATURES: &str = "+ZSTD +XZ -ZLIB +LIBCRYPTO -EXPERIMENTAL";

/// The two `-V` lines (`modkit version <v>`, features), as every tool prints them.
pub fn version_text() -> String {
    format!("modkit version {}\n{FEATURES}\n", env!("CARGO_PKG_VERSION"))
}

/// Print the version lines to stdout.
pub fn print_version() {
    stdout(version_text().as_bytes());
}

/// Write to stdout, ignoring errors (a closed pipe must not make a tool panic).
pub fn stdout(bytes: &[u8]) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(bytes);
    let _ = out.flush();
}

/// `program_invocation_short_name`: the basename of `argv[0]`.
pub fn short_name(argv: &[Vec<u8>]) -> String {
    let argv0 = argv.first().map(Vec::as_slice).unwrap_or(b"");
    let base = match argv0.iter().rposition(|&b| b == b'/') {
        Some(slash) => &argv0[slash + 1..],
        None => argv0,
    };
    String::from_utf8_lossy(base).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_has_two_lines() {
        let text = version_text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("modkit version "));
        assert_eq!(lines[1], FEATURES);
    }

    #[test]
    fn short_name_is_the_basename() {
        assert_eq!(short_name(&[b"/sbin/depmod".to_vec()]), "depmod");
        assert_eq!(short_name(&[]), "");
    }
}
