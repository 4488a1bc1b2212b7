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

/// Write one temporary file fully and fsync it.
fn write_temp(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
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
    for out in outputs {
        let final_path = dir.join(out.name);
        let temp = dir.join(format!("{}{suffix}", out.name));
        if let Err(e) = write_temp(&temp, &out.bytes) {
            let _ = std::fs::remove_file(&temp);
            for (t, _) in &temps {
                let _ = std::fs::remove_file(t);
            }
            return Err(DepmodError {
                level: Level::Error,
                text: format!("Could not write index '{}': {}", out.name, io_strerror(&e)),
            });
        }
        temps.push((temp, final_path));
    }
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
