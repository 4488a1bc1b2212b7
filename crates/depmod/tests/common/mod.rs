//! Shared test helpers: run our depmod and kmod's (the oracle) on copies of one tree and
//! compare their outputs.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use modkit_depmod::{Layout, Level, Options, Reporter};

/// A reporter that records everything.
#[derive(Default, Debug)]
pub struct Recorder {
    pub messages: Vec<(Level, String)>,
    pub stdout: Vec<u8>,
}

impl Reporter for Recorder {
    fn message(&mut self, level: Level, text: &str) {
        self.messages.push((level, text.to_string()));
    }
    fn stdout(&mut self, bytes: &[u8]) {
        self.stdout.extend_from_slice(bytes);
    }
}

impl Recorder {
    /// Messages as kmod prints them on stderr.
    pub fn stderr(&self) -> String {
        self.messages
            .iter()
            .map(|(l, t)| format!("depmod: {}: {t}\n", level_name(*l)))
            .collect()
    }
}

pub fn level_name(l: Level) -> &'static str {
    match l {
        Level::Fatal => "FATAL",
        Level::Error => "ERROR",
        Level::Warning => "WARNING",
        Level::Notice => "NOTICE",
        Level::Info => "INFO",
        Level::Debug => "DEBUG",
    }
}

/// Options for `depmod -b root version` with kmod 30's index layout and no config.
pub fn options(root: &Path, version: &str, config: &Path) -> Options {
    Options {
        basedir: root.to_path_buf(),
        version: version.to_string(),
        layout: Layout::PostOrder,
        config_paths: Some(vec![config.to_path_buf()]),
        ..Options::default()
    }
}

/// Run our depmod; the error (if any) is appended to the messages like the CLI prints it.
pub fn run_ours(opts: &Options) -> (Recorder, bool) {
    let mut rec = Recorder::default();
    let res = modkit_depmod::run(opts, &mut rec);
    let ok = res.is_ok();
    if let Err(e) = res {
        rec.messages.push((e.level, e.text));
    }
    (rec, ok)
}

pub fn oracle() -> Option<PathBuf> {
    let p = PathBuf::from("/sbin/depmod");
    if p.exists() {
        Some(p)
    } else {
        eprintln!("note: /sbin/depmod missing, oracle comparison skipped");
        None
    }
}

/// Run kmod's depmod with `args`; (stdout, stderr, success).
pub fn run_kmod(args: &[&str]) -> Option<(Vec<u8>, String, bool)> {
    let bin = oracle()?;
    let out = Command::new(bin).args(args).output().ok()?;
    Some((
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.success(),
    ))
}

/// Copy a tree with hardlinks (`cp -al`).
pub fn copy_tree(from: &Path, to: &Path) {
    let st = Command::new("cp")
        .arg("-al")
        .arg(from)
        .arg(to)
        .status()
        .expect("cp");
    assert!(st.success());
}

pub const OUTPUTS: [&str; 12] = [
    "modules.dep",
    "modules.dep.bin",
    "modules.alias",
    "modules.alias.bin",
    "modules.softdep",
    "modules.weakdep",
    "modules.symbols",
    "modules.symbols.bin",
    "modules.builtin.bin",
    "modules.builtin.alias.bin",
    "modules.devname",
    "modules.order",
];

/// Compare every output file of two module directories; returns the differing names.
pub fn diff_outputs(a: &Path, b: &Path) -> Vec<String> {
    let mut bad = Vec::new();
    for name in OUTPUTS {
        let x = std::fs::read(a.join(name)).ok();
        let y = std::fs::read(b.join(name)).ok();
        if x != y {
            bad.push(format!(
                "{name}: ours {:?} bytes, kmod {:?} bytes",
                x.map(|v| v.len()),
                y.map(|v| v.len())
            ));
        }
    }
    bad
}

/// Replace `from` by `to` in a message text (to compare two trees' messages).
pub fn normalize(s: &str, from: &Path, to: &str) -> String {
    s.replace(&from.display().to_string(), to)
}
