//! `modkit sizes [TREE] [--version VER] [--top N] [--json]`: module size statistics over
//! a tree (a root holding `lib/modules/VER`, or a module directory), or, without TREE,
//! over the loaded modules (`/proc/modules`, files found through the running kernel's
//! module database). The numbers come from `modkit_sim::sizes`.

use super::sim::{Args, Failure};
use super::stdout;
use modkit_sim::sizes::summarize;
use modkit_sim::ModuleFacts;
use std::path::{Path, PathBuf};

/// `modkit sizes ARGS...`.
pub fn main(argv: &[Vec<u8>]) -> i32 {
    let args: Vec<String> = argv
        .iter()
        .skip(1)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    match run(&args) {
        Ok(()) => 0,
        Err(f) => {
            eprintln!("modkit sizes: {}", f.text);
            if f.usage {
                eprintln!("usage: modkit sizes [TREE] [--version VER] [--top N] [--json]");
                2
            } else {
                1
            }
        }
    }
}

fn run(args: &[String]) -> Result<(), Failure> {
    let a = Args::parse(args, &["json"], &["version", "top"])?;
    let top = a.num("top")?.unwrap_or(10);
    let files = match a.positional.first() {
        Some(tree) => tree_files(Path::new(tree), a.get("version"))?,
        None => loaded_files()?,
    };
    if files.is_empty() {
        return Err("no module files found".into());
    }
    let facts = read_facts(&files)?;
    let s = summarize(&facts, top);
    if a.flag("json") {
        stdout(format!("{}\n", serde_json::to_string_pretty(&s)?).as_bytes());
    } else {
        stdout(s.text().as_bytes());
    }
    Ok(())
}

/// The module directory of `tree`: `tree/lib/modules/VER` or `tree` itself.
fn module_dir(tree: &Path, version: Option<&str>) -> Result<PathBuf, Failure> {
    let base = tree.join("lib/modules");
    if !base.is_dir() {
        if tree.is_dir() {
            return Ok(tree.to_path_buf());
        }
        return Err(format!("{}: no such directory", tree.display()).into());
    }
    if let Some(v) = version {
        return Ok(base.join(v));
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir(&base)
        .map_err(|e| format!("{}: {e}", base.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    versions.sort();
    match versions.len() {
        1 => Ok(versions.remove(0)),
        0 => Err(format!("{}: no kernel version", base.display()).into()),
        _ => Err(Failure::usage(format!(
            "{}: several versions; pick one with --version",
            base.display()
        ))),
    }
}

fn tree_files(tree: &Path, version: Option<&str>) -> Result<Vec<PathBuf>, Failure> {
    let dir = module_dir(tree, version)?;
    let mut out = Vec::new();
    walk(&dir, &mut out);
    out.sort();
    if out.is_empty() {
        return Err(format!("{}: a tree without modules", dir.display()).into());
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let Ok(ft) = e.file_type() else { continue };
        if ft.is_dir() {
            walk(&p, out);
        } else if modkit_depmod::scan::is_module_file(e.file_name().as_encoded_bytes()) {
            out.push(p);
        }
    }
}

/// The files of the loaded modules, through the running kernel's module database.
fn loaded_files() -> Result<Vec<PathBuf>, Failure> {
    let proc = std::env::var_os("MODKIT_PROC").map_or(PathBuf::from("/proc"), PathBuf::from);
    let text = std::fs::read_to_string(proc.join("modules"))
        .map_err(|e| format!("{}/modules: {e}", proc.display()))?;
    let release =
        std::fs::read_to_string(proc.join("sys/kernel/osrelease")).map_err(|e| e.to_string())?;
    let dir = std::env::var_os("MODKIT_MODULE_DIRECTORY").map_or_else(
        || PathBuf::from("/lib/modules").join(release.trim()),
        PathBuf::from,
    );
    let db = modkit_depmod::database::Database::open(&dir);
    let out: Vec<PathBuf> = text
        .lines()
        .filter_map(modkit_sys::LoadedModule::parse)
        .filter_map(|m| db.module_path(m.name.as_bytes()))
        .collect();
    if out.is_empty() {
        return Err(format!("no loaded module has a file under {}", dir.display()).into());
    }
    Ok(out)
}

/// Reads and parses every file, on all CPUs.
fn read_facts(files: &[PathBuf]) -> Result<Vec<ModuleFacts>, Failure> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = files.len().div_ceil(threads).max(1);
    let parts: Vec<Vec<Result<ModuleFacts, String>>> = std::thread::scope(|s| {
        let hs: Vec<_> = files
            .chunks(chunk)
            .map(|part| s.spawn(move || part.iter().map(|p| facts_of(p)).collect()))
            .collect();
        hs.into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect()
    });
    let mut out = Vec::new();
    for r in parts.into_iter().flatten() {
        match r {
            Ok(f) => out.push(f),
            Err(e) => eprintln!("modkit sizes: {e}"),
        }
    }
    Ok(out)
}

fn facts_of(path: &Path) -> Result<ModuleFacts, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    ModuleFacts::from_file(&path.display().to_string(), &bytes).map_err(|e| e.to_string())
}
