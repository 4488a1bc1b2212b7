//! Shared helpers of the cli integration tests: run modkit as a tool (argv[0] = the tool
//! name, as through a link) and Debian's kmod 30 as the oracle with the same argv[0];
//! build synthetic module trees with the elf crate's `synth` builder.
#![allow(dead_code)]

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// What a run printed and returned.
#[derive(Debug, PartialEq, Eq)]
pub struct Run {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(out: Output) -> Run {
        Run {
            status: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

fn modkit() -> PathBuf {
    assert_cmd::cargo::cargo_bin("modkit")
}

/// modkit called as `tool` (argv[0] = `tool`).
pub fn ours(tool: &str, args: &[&str], cwd: &Path) -> Run {
    Command::new(modkit())
        .arg0(tool)
        .args(args)
        .current_dir(cwd)
        .env_remove("POSIXLY_CORRECT")
        .output()
        .expect("run modkit")
        .into()
}

/// modkit as `modkit tool args...`.
pub fn ours_via_modkit(tool: &str, args: &[&str], cwd: &Path) -> Run {
    Command::new(modkit())
        .arg(tool)
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("run modkit")
        .into()
}

/// The oracle binary of a tool, if this machine has it.
pub fn oracle_path(tool: &str) -> Option<PathBuf> {
    let candidates: &[&str] = match tool {
        "kmod" => &["/usr/bin/kmod", "/bin/kmod"],
        "depmod" => &["/sbin/depmod", "/usr/sbin/depmod"],
        "modinfo" => &["/sbin/modinfo", "/usr/sbin/modinfo"],
        _ => &[],
    };
    candidates.iter().map(PathBuf::from).find(|p| p.exists())
}

/// kmod 30 called as `tool`; None when the oracle is not installed.
pub fn oracle(tool: &str, args: &[&str], cwd: &Path) -> Option<Run> {
    let path = oracle_path(tool)?;
    Some(
        Command::new(path)
            .arg0(tool)
            .args(args)
            .current_dir(cwd)
            .env_remove("POSIXLY_CORRECT")
            .env_remove("KMOD_LOG")
            .output()
            .expect("run oracle")
            .into(),
    )
}

/// Whether the oracle is kmod 30 (the version the tests are written against).
pub fn have_oracle() -> bool {
    let Some(path) = oracle_path("kmod") else {
        eprintln!("kmod oracle not installed: differential checks skipped");
        return false;
    };
    let out = Command::new(path)
        .arg("--version")
        .output()
        .expect("kmod -V");
    let v30 = String::from_utf8_lossy(&out.stdout).starts_with("kmod version 30\n");
    if !v30 {
        eprintln!("oracle is not kmod 30: differential checks skipped");
    }
    v30
}

/// Assert modkit and the oracle agree byte for byte (stdout, stderr, status).
pub fn assert_same(tool: &str, args: &[&str], cwd: &Path) -> Run {
    let ours = ours(tool, args, cwd);
    if let Some(theirs) = oracle(tool, args, cwd) {
        assert_eq!(ours, theirs, "{tool} {args:?} in {}", cwd.display());
    }
    ours
}

/// A synthetic root with a module tree under `lib/modules/<version>`.
pub struct Tree {
    pub root: tempfile::TempDir,
    pub version: String,
}

impl Tree {
    pub fn new(version: &str) -> Tree {
        let root = tempfile::Builder::new()
            .prefix("modkit-cli-")
            .tempdir()
            .expect("tempdir");
        let tree = Tree {
            root,
            version: version.to_string(),
        };
        std::fs::create_dir_all(tree.dir()).expect("mkdir");
        tree
    }

    pub fn root(&self) -> &Path {
        self.root.path()
    }

    pub fn root_str(&self) -> String {
        self.root().display().to_string()
    }

    /// `<root>/lib/modules/<version>`.
    pub fn dir(&self) -> PathBuf {
        self.root().join("lib/modules").join(&self.version)
    }

    /// Write a file below the module directory; returns its absolute path.
    pub fn write(&self, rel: &str, bytes: &[u8]) -> PathBuf {
        let path = self.dir().join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, bytes).expect("write");
        path
    }

    /// Build the indexes with the oracle's depmod (kmod 30, post-order layout).
    pub fn depmod_with_oracle(&self) -> bool {
        let Some(depmod) = oracle_path("depmod") else {
            return false;
        };
        let out = Command::new(depmod)
            .args(["-b", &self.root_str(), &self.version])
            .output()
            .expect("run depmod");
        assert!(out.status.success(), "oracle depmod failed: {out:?}");
        true
    }
}
