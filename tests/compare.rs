//! Running a tool into an `Outcome` (status, stdout, stderr) and comparing two outcomes or
//! two files, reporting only the first difference (line number or byte offset), never
//! megabytes of output.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

/// What one invocation did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub status: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Outcome {
    /// Runs `cmd` to completion (stdin closed) and captures everything.
    pub fn of(cmd: &mut Command) -> Outcome {
        let out = cmd
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
        Outcome {
            status: out.status.code(),
            stdout: out.stdout,
            stderr: out.stderr,
        }
    }

    /// The same outcome with every occurrence of `from` in stdout and stderr replaced by
    /// `to` (to compare runs made in different copies of a tree).
    pub fn replace(mut self, from: &str, to: &str) -> Outcome {
        let swap = |bytes: &[u8]| {
            String::from_utf8_lossy(bytes)
                .replace(from, to)
                .into_bytes()
        };
        self.stdout = swap(&self.stdout);
        self.stderr = swap(&self.stderr);
        self
    }

    /// Differences from `other` (status, stdout, stderr), or None when identical.
    pub fn difference(&self, other: &Outcome) -> Option<String> {
        let mut report = String::new();
        if self.status != other.status {
            let _ = writeln!(
                report,
                "exit status: kmod {:?}, modkit {:?}",
                self.status, other.status
            );
        }
        if let Some(d) = first_difference(&self.stdout, &other.stdout) {
            let _ = writeln!(report, "stdout: {d}");
        }
        if let Some(d) = first_difference(&self.stderr, &other.stderr) {
            let _ = writeln!(report, "stderr: {d}");
        }
        (!report.is_empty()).then_some(report)
    }
}

/// Panics with a short report unless kmod's and modkit's outcomes are identical.
pub fn assert_same(what: &str, kmod: &Outcome, ours: &Outcome) {
    if let Some(report) = kmod.difference(ours) {
        panic!("{what}: modkit differs from kmod 30\n{report}");
    }
}

/// Where `a` (kmod) and `b` (modkit) first differ: a line for text, an offset for binary.
pub fn first_difference(a: &[u8], b: &[u8]) -> Option<String> {
    if a == b {
        return None;
    }
    let offset = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let sizes = format!("sizes kmod {} / modkit {} bytes", a.len(), b.len());
    if is_text(a) && is_text(b) {
        let line = a[..offset].iter().filter(|&&c| c == b'\n').count() + 1;
        Some(format!(
            "first difference at line {line} ({sizes})\n  kmod:   {}\n  modkit: {}",
            line_at(a, offset),
            line_at(b, offset)
        ))
    } else {
        Some(format!(
            "first difference at byte offset {offset} (0x{offset:x}) ({sizes})\n  kmod:   {}\n  modkit: {}",
            hex_at(a, offset),
            hex_at(b, offset)
        ))
    }
}

fn is_text(bytes: &[u8]) -> bool {
    !bytes.contains(&0) && std::str::from_utf8(bytes).is_ok()
}

/// The whole line containing `offset`, shortened, or a marker past the end.
fn line_at(bytes: &[u8], offset: usize) -> String {
    if offset >= bytes.len() {
        return "<end of output>".into();
    }
    let start = bytes[..offset]
        .iter()
        .rposition(|&c| c == b'\n')
        .map_or(0, |p| p + 1);
    let end = bytes[offset..]
        .iter()
        .position(|&c| c == b'\n')
        .map_or(bytes.len(), |p| offset + p);
    let line = String::from_utf8_lossy(&bytes[start..end]);
    let short: String = line.chars().take(240).collect();
    format!("{short:?}")
}

/// Up to 16 bytes in hex from `offset`.
fn hex_at(bytes: &[u8], offset: usize) -> String {
    let end = bytes.len().min(offset + 16);
    if offset >= bytes.len() {
        return "<end of file>".into();
    }
    bytes[offset..end]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Compares two files; `Err` holds the first difference (or which one is missing).
pub fn same_file(kmod: &Path, ours: &Path) -> Result<(), String> {
    match (std::fs::read(kmod), std::fs::read(ours)) {
        (Ok(a), Ok(b)) => first_difference(&a, &b).map_or(Ok(()), Err),
        (Err(_), Err(_)) => Ok(()),
        (Ok(_), Err(e)) => Err(format!("modkit did not write it ({e})")),
        (Err(_), Ok(_)) => Err("modkit wrote it, kmod did not".into()),
    }
}
