//! Logging as kmod's tools do it (kmod-tools §3): `<prog>: <LEVEL>: <message>` on stderr
//! (or syslog with `-s`), filtered by a syslog-priority threshold; a FATAL message that is
//! printed ends the tool with status 1 (the caller stops when [`ToolLog::fatal`] says so).
//! Also libkmod's default logger (`libkmod: ERROR …`), used before a tool installs its own
//! and filtered by `KMOD_LOG`.

use std::io::Write;

/// Syslog priorities as kmod uses them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Prio {
    /// LOG_CRIT, printed as FATAL.
    Fatal = 2,
    Error = 3,
    Warning = 4,
    #[allow(dead_code)]
    Notice = 5,
    Info = 6,
    Debug = 7,
}

impl Prio {
    fn word(self) -> &'static str {
        match self {
            Prio::Fatal => "FATAL",
            Prio::Error => "ERROR",
            Prio::Warning => "WARNING",
            Prio::Notice => "NOTICE",
            Prio::Info => "INFO",
            Prio::Debug => "DEBUG",
        }
    }
}

/// A tool's logger.
#[derive(Debug, Clone)]
pub struct ToolLog {
    pub prog: String,
    /// Messages with a priority above this are dropped (0 = nothing, `-q`).
    pub threshold: i32,
    /// `-s`: send to syslog instead of stderr.
    pub syslog: bool,
}

impl ToolLog {
    /// A logger for `prog` with the given threshold.
    pub fn new(prog: &str, threshold: i32) -> ToolLog {
        ToolLog {
            prog: prog.to_owned(),
            threshold,
            syslog: false,
        }
    }

    /// Whether a message at `prio` would be printed.
    pub fn enabled(&self, prio: Prio) -> bool {
        (prio as i32) <= self.threshold
    }

    /// Print one message; true when it was printed.
    pub fn log(&self, prio: Prio, text: &[u8]) -> bool {
        if !self.enabled(prio) {
            return false;
        }
        if self.syslog {
            send_syslog(&self.prog, prio, text);
        } else {
            let mut line = format!("{}: {}: ", self.prog, prio.word()).into_bytes();
            line.extend_from_slice(text);
            line.push(b'\n');
            let _ = std::io::stderr().write_all(&line);
        }
        true
    }

    /// A FATAL message: true when it was printed, which ends the tool (exit status 1).
    pub fn fatal(&self, text: &[u8]) -> bool {
        self.log(Prio::Fatal, text)
    }
}

/// One datagram as kmod 30 sends it through `syslog(3)` (facility LOG_DAEMON, as
/// `openlog(prog, LOG_CONS, LOG_DAEMON)`), but without glibc's timestamp field:
/// `<prio>prog: LEVEL: message\n`.
fn syslog_datagram(prog: &str, prio: Prio, text: &[u8]) -> Vec<u8> {
    const LOG_DAEMON: i32 = 3 << 3;
    let mut msg = format!("<{}>{prog}: {}: ", LOG_DAEMON | prio as i32, prio.word()).into_bytes();
    msg.extend_from_slice(text);
    msg.push(b'\n');
    msg
}

/// Send one message to `/dev/log`; silently dropped when there is no syslog daemon.
fn send_syslog(prog: &str, prio: Prio, text: &[u8]) {
    let msg = syslog_datagram(prog, prio, text);
    if let Ok(sock) = std::os::unix::net::UnixDatagram::unbound() {
        let _ = sock.send_to(&msg, "/dev/log");
    }
}

/// libkmod's default threshold: `KMOD_LOG` (a number, or a word starting with `err`,
/// `info`, `debug`; anything else is 0), else ERROR.
pub fn library_threshold() -> i32 {
    let Some(value) = std::env::var_os("KMOD_LOG") else {
        return Prio::Error as i32;
    };
    let v = value.to_string_lossy();
    if let Ok(n) = v.trim().parse::<i32>() {
        return n;
    }
    if v.starts_with("err") {
        Prio::Error as i32
    } else if v.starts_with("info") {
        Prio::Info as i32
    } else if v.starts_with("debug") {
        Prio::Debug as i32
    } else {
        0
    }
}

/// Print a line of libkmod's default logger (already rendered) at ERROR priority.
pub fn library_error(line: &[u8]) {
    if library_threshold() < Prio::Error as i32 {
        return;
    }
    let mut out = line.to_vec();
    out.push(b'\n');
    let _ = std::io::stderr().write_all(&out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syslog_datagrams_have_kmods_priority_and_newline() {
        let d = syslog_datagram("modprobe", Prio::Fatal, b"Module x not found.");
        assert_eq!(d, b"<26>modprobe: FATAL: Module x not found.\n");
        let d = syslog_datagram("modprobe", Prio::Info, b"i");
        assert_eq!(d, b"<30>modprobe: INFO: i\n");
    }

    #[test]
    fn thresholds_filter_by_priority() {
        let log = ToolLog::new("modprobe", Prio::Warning as i32);
        assert!(log.enabled(Prio::Fatal) && log.enabled(Prio::Warning));
        assert!(!log.enabled(Prio::Notice));
        let quiet = ToolLog::new("modprobe", 0);
        assert!(!quiet.enabled(Prio::Fatal));
        assert!(!quiet.fatal(b"not printed, so not fatal"));
    }
}
