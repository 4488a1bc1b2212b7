//! `-A` (quick): is `modules.dep` at least as new, in whole seconds, as every module file
//! of the input module directory? (kmod-formats §5.15; `exclude` and `external` are not
//! looked at, like kmod 30.)

use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::log::{io_strerror, Log};
use crate::scan::is_module_file;

/// True when nothing needs doing. A missing `modules.dep` is reported (ERROR) and false.
pub fn up_to_date(in_dir: &Path, out_dir: &Path, log: &mut Log<'_>) -> bool {
    let dep = match std::fs::metadata(out_dir.join("modules.dep")) {
        Ok(m) => m.mtime(),
        Err(e) => {
            log.error(&format!(
                "could not fstatat({}, modules.dep): {}",
                out_dir.display(),
                io_strerror(&e)
            ));
            return false;
        }
    };
    !any_newer(in_dir, dep)
}

fn any_newer(dir: &Path, mtime: i64) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.as_bytes();
        if name == b"build" || name == b"source" {
            continue;
        }
        let path = entry.path();
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            if any_newer(&path, mtime) {
                return true;
            }
        } else if meta.is_file() && is_module_file(name) && meta.mtime() > mtime {
            return true;
        }
    }
    false
}
