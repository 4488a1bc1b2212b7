//! The testbed's initramfs (testbed.md §4): busybox-static, Debian's kmod 30 with the
//! libraries `ldd` names, modkit and the racer (static), the modules a plan needs at their
//! relative paths with the tree's depmod indexes, and the `/init` script of the plan.
//! Packed as a gzip'd newc cpio.

use super::assets::Assets;
use super::moddb::ModDb;
use crate::util::{self, Result};
use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The tools kmod (in /sbin) and modkit (in /usr/local/sbin) provide through argv[0].
const TOOLS: &[&str] = &[
    "modprobe", "insmod", "rmmod", "lsmod", "depmod", "modinfo", "kmod",
];

/// Alias prefixes of the per-CPU module sets (kernel-loader.md §10.4).
pub const CPU_ALIAS_PREFIXES: &[&str] = &["cpu:type:x86", "acpi*:LNXCPU:", "acpi*:ACPI0007:"];

fn copy(src: &Path, dst: &Path) -> Result {
    if let Some(parent) = dst.parent() {
        fs::create_dir_all(parent)?;
    }
    fs::copy(src, dst).map_err(|e| format!("copy {}: {e}", src.display()))?;
    Ok(())
}

fn link(target: &str, at: &Path) -> Result {
    if let Some(parent) = at.parent() {
        fs::create_dir_all(parent)?;
    }
    symlink(target, at).map_err(|e| format!("symlink {}: {e}", at.display()))?;
    Ok(())
}

/// The shared libraries (and the dynamic loader) `ldd` lists for `binary`.
fn libraries(binary: &Path) -> Result<Vec<PathBuf>> {
    let text = util::output(Command::new("ldd").arg(binary))?;
    Ok(text
        .lines()
        .filter_map(|l| {
            let path = match l.split_once("=>") {
                Some((_, rest)) => rest.split_whitespace().next()?,
                None => l.split_whitespace().next()?,
            };
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect())
}

fn add_userspace(assets: &Assets, stage: &Path) -> Result {
    copy(
        &assets.busybox.root.join("bin/busybox"),
        &stage.join("bin/busybox"),
    )?;
    let kmod = assets.kmod.root.join("bin/kmod");
    copy(&kmod, &stage.join("bin/kmod"))?;
    for lib in libraries(&kmod)? {
        copy(&lib, &stage.join(lib.strip_prefix("/")?))?;
    }
    copy(&assets.modkit, &stage.join("usr/bin/modkit"))?;
    copy(&assets.racer, &stage.join("bin/racer"))?;
    for tool in TOOLS {
        link("/bin/kmod", &stage.join("sbin").join(tool))?;
        link("/usr/bin/modkit", &stage.join("usr/local/sbin").join(tool))?;
    }
    Ok(())
}

/// The modules an initramfs carries: xfs, the per-CPU set candidates, the named extras,
/// each with its dependencies and `pre:` softdeps.
pub fn module_selection(db: &ModDb, extra: &[String]) -> BTreeSet<String> {
    let mut seeds: BTreeSet<String> = db.with_alias_prefix(CPU_ALIAS_PREFIXES);
    seeds.insert("xfs".to_owned());
    seeds.extend(extra.iter().cloned());
    seeds.iter().flat_map(|name| db.load_order(name)).collect()
}

fn add_modules(assets: &Assets, db: &ModDb, names: &BTreeSet<String>, stage: &Path) -> Result {
    let src = assets.module_dir();
    let dst = stage.join("lib/modules").join(&assets.tree.version);
    fs::create_dir_all(&dst)?;
    for entry in fs::read_dir(&src)? {
        let path = entry?.path();
        let is_index = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("modules."));
        if is_index && path.is_file() {
            copy(&path, &dst.join(path.file_name().unwrap_or_default()))?;
        }
    }
    for name in names {
        let rel = db.path(name)?;
        copy(&src.join(rel), &dst.join(rel))?;
    }
    link("../../lib/modules", &stage.join("usr/lib/modules"))?;
    Ok(())
}

/// Builds `target/vm/<label>/initrd.gz` with `init` as /init; returns its path.
pub fn build(assets: &Assets, db: &ModDb, extra: &[String], init: &str) -> Result<PathBuf> {
    let dir = util::target_dir().join("vm").join(&assets.tree.label);
    let stage = dir.join("initramfs");
    if stage.exists() {
        fs::remove_dir_all(&stage)?;
    }
    for d in ["proc", "sys", "dev", "scratch", "tmp", "root", "etc", "run"] {
        fs::create_dir_all(stage.join(d))?;
    }
    add_userspace(assets, &stage)?;
    add_modules(assets, db, &module_selection(db, extra), &stage)?;
    let init_path = stage.join("init");
    fs::write(&init_path, init)?;
    fs::set_permissions(&init_path, fs::Permissions::from_mode(0o755))?;
    let initrd = dir.join("initrd.gz");
    let pack = format!(
        "cd '{}' && find . -print0 | cpio --null -o -H newc --quiet | gzip -1 > '{}'",
        stage.display(),
        initrd.display()
    );
    util::run(Command::new("sh").arg("-c").arg(pack))?;
    Ok(initrd)
}
