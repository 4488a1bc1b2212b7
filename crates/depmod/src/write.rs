//! Writing the outputs atomically (kmod-formats §5.13, strengthened): every file is first
//! written in full to a temporary file in the output directory (`O_CREAT|O_EXCL`, mode
//! 0644) and fsynced; only when all temporary files exist are they renamed over the final
//! names, in kmod's order, and the directory is fsynced. Any failure before the renames
//! removes every temporary file and leaves all previous outputs untouched.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::log::io_strerror;
use crate::outputs::Output;
use crate::{DepmodError, Level};

fn fatal(text: String) -> DepmodError {
    DepmodError {
        level: Level::Fatal,
        text,
    }
}

/// The suffix kmod 30 gives its temporary files: `.<pid>.<usec>.<sec>`.
fn temp_suffix() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!(
        ".{}.{}.{}",
        std::process::id(),
        now.subsec_micros(),
        now.as_secs()
    )
}

/// Write one temporary file fully (not yet synced).
fn write_temp(path: &Path, bytes: &[u8]) -> std::io::Result<File> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(path)?;
    f.write_all(bytes)?;
    Ok(f)
}

/// fsync every file, concurrently (the filesystem can then commit them together).
fn sync_files(files: &[(File, &str)]) -> Result<(), (String, std::io::Error)> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = files
            .iter()
            .map(|(f, name)| scope.spawn(move || f.sync_all().map_err(|e| (name.to_string(), e))))
            .collect();
        let mut result = Ok(());
        for h in handles {
            let r = h
                .join()
                .unwrap_or_else(|_| Err((String::new(), std::io::Error::other("sync failed"))));
            if result.is_ok() {
                result = r;
            }
        }
        result
    })
}

fn remove_all(temps: &[(PathBuf, PathBuf)]) {
    for (t, _) in temps {
        let _ = std::fs::remove_file(t);
    }
}

fn write_error(name: &str, e: &std::io::Error) -> DepmodError {
    DepmodError {
        level: Level::Error,
        text: format!("Could not write index '{name}': {}", io_strerror(e)),
    }
}

/// Write every output into `dir` (created if needed) atomically.
pub fn write_all(dir: &Path, outputs: &[Output]) -> Result<(), DepmodError> {
    std::fs::create_dir_all(dir).map_err(|e| {
        fatal(format!(
            "could not create directory {}: {}",
            dir.display(),
            io_strerror(&e)
        ))
    })?;
    let suffix = temp_suffix();
    let mut temps: Vec<(PathBuf, PathBuf)> = Vec::new();
    let mut files: Vec<(File, &str)> = Vec::new();
    for out in outputs {
        let final_path = dir.join(out.name);
        let temp = dir.join(format!("{}{suffix}", out.name));
        match write_temp(&temp, &out.bytes) {
            Ok(f) => files.push((f, out.name)),
            Err(e) => {
                let _ = std::fs::remove_file(&temp);
                remove_all(&temps);
                return Err(write_error(out.name, &e));
            }
        }
        temps.push((temp, final_path));
    }
    if let Err((name, e)) = sync_files(&files) {
        remove_all(&temps);
        return Err(write_error(&name, &e));
    }
    drop(files);
    let mut pending = temps.iter();
    for (temp, final_path) in pending.by_ref() {
        if let Err(e) = std::fs::rename(temp, final_path) {
            let _ = std::fs::remove_file(temp);
            for (t, _) in pending {
                let _ = std::fs::remove_file(t);
            }
            return Err(fatal(format!(
                "renameat({}, {}, {}): {}",
                temp.display(),
                final_path.display(),
                final_path.display(),
                io_strerror(&e)
            )));
        }
    }
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| {
        fatal(format!(
            "could not sync {}: {}",
            dir.display(),
            io_strerror(&e)
        ))
    })
}
