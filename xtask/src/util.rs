//! Shared plumbing of the xtask commands: paths, running commands, fetching the Debian
//! kernel trees with `xtask/debian/fetch.sh`, building the release binary, and making
//! hardlinked scratch copies of a tree.

use std::error::Error;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// Every xtask command returns this; the message is printed by `main`.
pub type Result<T = ()> = std::result::Result<T, Box<dyn Error>>;

/// One Debian kernel tree as printed by fetch.sh: `<label> <version> <root> <deb>`.
#[derive(Clone, Debug)]
pub struct Tree {
    pub label: String,
    pub version: String,
    pub root: PathBuf,
    pub deb: String,
}

impl Tree {
    fn parse(line: &str) -> Option<Tree> {
        let mut f = line.split_whitespace();
        Some(Tree {
            label: f.next()?.to_owned(),
            version: f.next()?.to_owned(),
            root: PathBuf::from(f.next()?),
            deb: f.next().unwrap_or("").to_owned(),
        })
    }

    /// `<root>/lib/modules/<version>`, where depmod reads and writes.
    pub fn module_dir(&self) -> PathBuf {
        module_dir(&self.root, &self.version)
    }
}

/// `<root>/lib/modules/<version>`.
pub fn module_dir(root: &Path, version: &str) -> PathBuf {
    root.join("lib/modules").join(version)
}

/// The workspace root (the parent of xtask/).
pub fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(Path::to_path_buf).unwrap_or(manifest)
}

/// Cargo's target directory (CARGO_TARGET_DIR or `<workspace>/target`).
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => workspace_root().join(dir),
        None => workspace_root().join("target"),
    }
}

/// The download cache of fetch.sh: MODKIT_CACHE, default /var/cache/modkit.
pub fn cache_dir() -> PathBuf {
    std::env::var_os("MODKIT_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/modkit"))
}

/// `cargo` as invoked by cargo itself (keeps the toolchain).
pub fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(workspace_root());
    cmd
}

/// Runs a command, inheriting stdio; fails unless it exits 0.
pub fn run(cmd: &mut Command) -> Result {
    let status = cmd
        .status()
        .map_err(|e| format!("cannot start {:?}: {e}", cmd.get_program()))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{} failed: {status}", describe(cmd)).into())
    }
}

/// Runs a command and returns its stdout; stderr is inherited.
pub fn output(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot start {:?}: {e}", cmd.get_program()))?;
    if !out.status.success() {
        return Err(format!("{} failed: {}", describe(cmd), out.status).into());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A short human description of a command line.
pub fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        s.push(' ');
        s.push_str(&arg.to_string_lossy());
    }
    s
}

/// Runs fetch.sh, writes its lines to `target/modkit-trees.txt` and returns the trees and
/// that file (the MODKIT_TREES of the tests).
pub fn fetch_trees() -> Result<(Vec<Tree>, PathBuf)> {
    let script = workspace_root().join("xtask/debian/fetch.sh");
    let started = Instant::now();
    let text = output(Command::new("bash").arg(script).arg(cache_dir()))?;
    let trees: Vec<Tree> = text.lines().filter_map(Tree::parse).collect();
    if trees.is_empty() {
        return Err("fetch.sh printed no tree".into());
    }
    fs::create_dir_all(target_dir())?;
    let file = target_dir().join("modkit-trees.txt");
    fs::write(&file, &text)?;
    for t in &trees {
        println!("xtask: tree {} {} ({})", t.label, t.version, t.deb);
    }
    println!("xtask: fetch took {:.1} s", started.elapsed().as_secs_f64());
    Ok((trees, file))
}

/// Builds `modkit` in release and returns its path.
pub fn build_modkit() -> Result<PathBuf> {
    let started = Instant::now();
    run(cargo().args([
        "build",
        "--release",
        "--package",
        "modkit-cli",
        "--bin",
        "modkit",
    ]))?;
    println!(
        "xtask: release build took {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(target_dir().join("release/modkit"))
}

/// Installs a Debian package with apt-get when `program` is missing.
pub fn ensure_program(program: &str, package: &str) -> Result {
    if Path::new(program).exists() {
        return Ok(());
    }
    println!("xtask: installing {package} (for {program})");
    run(Command::new("apt-get")
        .args(["install", "-y", "-qq", "--no-install-recommends", package])
        .env("DEBIAN_FRONTEND", "noninteractive"))
}

/// A fresh hardlinked copy of a tree root at `dst` (`cp -al`, or `cp -a` across
/// filesystems). The files at the top of each
/// module directory (modules.order, modules.builtin*, indexes) become real copies, so a
/// tool writing in place cannot alter the cache.
pub fn fresh_copy(tree: &Tree, dst: &Path) -> Result {
    if dst.exists() {
        fs::remove_dir_all(dst)?;
    }
    if let Some(parent) = dst.parent() {
        fs::create_dir_all(parent)?;
    }
    let linked = Command::new("cp")
        .arg("-al")
        .arg(&tree.root)
        .arg(dst)
        .stderr(std::process::Stdio::null())
        .status();
    if !linked.is_ok_and(|s| s.success()) {
        // Hardlinks need one filesystem; a plain copy works everywhere, only slower.
        println!(
            "xtask: cp -al failed (cache on another filesystem?), copying {}",
            dst.display()
        );
        let _ = fs::remove_dir_all(dst);
        run(Command::new("cp").arg("-a").arg(&tree.root).arg(dst))?;
    }
    for entry in fs::read_dir(module_dir(dst, &tree.version))? {
        let path = entry?.path();
        if path.is_file() {
            let bytes = fs::read(&path)?;
            fs::remove_file(&path)?;
            fs::write(&path, bytes)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fetch_lines_parse_into_trees() {
        let tree = Tree::parse("6.1 6.1.0-56-amd64 /c/roots/x linux-image-x.deb").expect("parses");
        assert_eq!(
            (tree.label.as_str(), tree.deb.as_str()),
            ("6.1", "linux-image-x.deb")
        );
        assert_eq!(
            tree.module_dir(),
            Path::new("/c/roots/x/lib/modules/6.1.0-56-amd64")
        );
        assert!(Tree::parse("6.1 only-two").is_none());
    }

    #[test]
    fn describe_joins_program_and_arguments() {
        let mut cmd = Command::new("depmod");
        cmd.args(["-b", "/root dir"]);
        assert_eq!(describe(&cmd), "depmod -b /root dir");
    }
}
