//! What a testbed boot needs on the host, prepared once per `cargo xtask vm` run: the
//! Debian kernel and its module tree (fetched by fetch.sh through the private apt
//! configuration and depmod'd in a scratch copy), busybox-static and kmod 30 from bookworm,
//! and modkit and the racer built as static binaries (glibc with crt-static).

use crate::util::{self, Result, Tree};
use std::path::{Path, PathBuf};
use std::process::Command;

/// One userspace package of the initramfs, as fetch.sh printed it.
#[derive(Clone, Debug)]
pub struct Package {
    pub name: String,
    pub root: PathBuf,
    pub deb: String,
}

/// Everything the initramfs builder needs for one kernel.
#[derive(Clone, Debug)]
pub struct Assets {
    pub tree: Tree,
    /// A hardlinked copy of the tree with depmod's indexes written by the host's kmod.
    pub depmod_root: PathBuf,
    pub busybox: Package,
    pub kmod: Package,
    pub modkit: PathBuf,
    pub racer: PathBuf,
}

impl Assets {
    pub fn module_dir(&self) -> PathBuf {
        util::module_dir(&self.depmod_root, &self.tree.version)
    }

    /// `boot/vmlinuz-<version>` of the kernel package.
    pub fn vmlinuz(&self) -> PathBuf {
        self.tree
            .root
            .join("boot")
            .join(format!("vmlinuz-{}", self.tree.version))
    }

    /// The package version from the .deb name (`linux-image-X_<version>_amd64.deb`).
    pub fn kernel_package(&self) -> String {
        self.tree.deb.trim_end_matches(".deb").replace("%3a", ":")
    }
}

/// Fetches the kernels and the userspace packages (and QEMU) with fetch.sh --testbed.
pub fn fetch() -> Result<(Vec<Tree>, Vec<Package>)> {
    let script = util::workspace_root().join("xtask/debian/fetch.sh");
    let text = util::output(
        Command::new("bash")
            .arg(script)
            .arg(util::cache_dir())
            .arg("--testbed"),
    )?;
    let mut trees = Vec::new();
    let mut packages = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        match f.as_slice() {
            ["pkg", name, root, deb] => packages.push(Package {
                name: (*name).to_owned(),
                root: PathBuf::from(root),
                deb: deb.replace("%3a", ":"),
            }),
            [label, version, root, deb] => trees.push(Tree {
                label: (*label).to_owned(),
                version: (*version).to_owned(),
                root: PathBuf::from(root),
                deb: (*deb).to_owned(),
            }),
            _ => {}
        }
    }
    Ok((trees, packages))
}

/// Builds modkit and the racer as static executables; returns their paths.
pub fn build_static() -> Result<(PathBuf, PathBuf)> {
    let target_dir = util::target_dir().join("static");
    util::run(
        util::cargo()
            .args(["build", "--release", "--target", "x86_64-unknown-linux-gnu"])
            .args(["-p", "modkit-cli", "-p", "modkit-testbed", "--target-dir"])
            .arg(&target_dir)
            .env(
                "RUSTFLAGS",
                "-C target-feature=+crt-static -C strip=debuginfo",
            ),
    )?;
    let bin = target_dir.join("x86_64-unknown-linux-gnu/release");
    Ok((bin.join("modkit"), bin.join("racer")))
}

/// A depmod'd hardlinked copy of `tree` under target/vm/<label>/tree, made once per kernel
/// version (a stamp file records the version it holds).
pub fn depmod_copy(tree: &Tree) -> Result<PathBuf> {
    let dst = util::target_dir().join("vm").join(&tree.label).join("tree");
    let stamp = dst.with_extension("version");
    if std::fs::read_to_string(&stamp).is_ok_and(|v| v == tree.version) {
        return Ok(dst);
    }
    util::fresh_copy(tree, &dst)?;
    util::run(
        Command::new(depmod_program())
            .arg("-b")
            .arg(&dst)
            .arg(&tree.version),
    )?;
    std::fs::write(&stamp, &tree.version)?;
    Ok(dst)
}

fn depmod_program() -> &'static str {
    if Path::new("/sbin/depmod").exists() {
        "/sbin/depmod"
    } else {
        "depmod"
    }
}

/// Everything for each fetched kernel, in fetch order.
pub fn prepare(kernels: &[String]) -> Result<Vec<Assets>> {
    let (trees, packages) = fetch()?;
    let find = |name: &str| {
        packages
            .iter()
            .find(|p| p.name == name)
            .cloned()
            .ok_or_else(|| format!("fetch.sh did not provide {name}"))
    };
    let (busybox, kmod) = (find("busybox-static")?, find("kmod")?);
    let (modkit, racer) = build_static()?;
    let mut all = Vec::new();
    for tree in trees.into_iter().filter(|t| kernels.contains(&t.label)) {
        let depmod_root = depmod_copy(&tree)?;
        all.push(Assets {
            tree,
            depmod_root,
            busybox: busybox.clone(),
            kmod: kmod.clone(),
            modkit: modkit.clone(),
            racer: racer.clone(),
        });
    }
    if all.len() != kernels.len() {
        return Err(format!("kernels {kernels:?} not all found by fetch.sh").into());
    }
    Ok(all)
}
