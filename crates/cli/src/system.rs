//! What the tools read from the running system: the kernel release (`uname -r`, from
//! `<proc>/sys/kernel/osrelease`), the `/proc` root (overridable with `MODKIT_PROC` for
//! tests), and paths made absolute against the current directory as kmod does it.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;

/// The environment variable that moves `/proc` (tests only).
pub const PROC_ENV: &str = "MODKIT_PROC";

/// The `/proc` directory: `$MODKIT_PROC` if set, else `/proc`.
pub fn proc_root() -> PathBuf {
    std::env::var_os(PROC_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/proc"))
}

/// The environment variable that moves `/lib/modules` for the tools that default to the
/// running kernel's module directory (tests only).
pub const MODULE_DIRECTORY_ENV: &str = "MODKIT_MODULE_DIRECTORY";

/// `/lib/modules` (kmod's MODULE_DIRECTORY), or `$MODKIT_MODULE_DIRECTORY` if set.
pub fn module_directory() -> Vec<u8> {
    std::env::var_os(MODULE_DIRECTORY_ENV)
        .map(OsString::into_vec)
        .unwrap_or_else(|| b"/lib/modules".to_vec())
}

/// `<module directory>/<uname -r>`: where the running kernel's modules live.
pub fn running_module_dir() -> Vec<u8> {
    let mut dir = module_directory();
    dir.push(b'/');
    dir.extend_from_slice(&kernel_release());
    dir
}

/// The running kernel's release (`uname -r`); empty if it cannot be read.
pub fn kernel_release() -> Vec<u8> {
    let path = proc_root().join("sys/kernel/osrelease");
    let mut text = std::fs::read(path).unwrap_or_default();
    while text.last() == Some(&b'\n') {
        text.pop();
    }
    text
}

/// kmod's `path_make_absolute_cwd`: an absolute path is kept, a relative one gets the
/// current directory and `/` in front, literally (no normalization).
pub fn absolute(path: &[u8]) -> Vec<u8> {
    try_absolute(path).unwrap_or_else(|| path.to_vec())
}

/// [`absolute`], or None when the current directory is unknown (`getcwd` failed).
pub fn try_absolute(path: &[u8]) -> Option<Vec<u8>> {
    if path.first() == Some(&b'/') {
        return Some(path.to_vec());
    }
    let cwd = std::env::current_dir().ok()?;
    let mut out = cwd.into_os_string().into_vec();
    out.push(b'/');
    out.extend_from_slice(path);
    Some(out)
}

/// Bytes to a path.
pub fn path(bytes: &[u8]) -> PathBuf {
    PathBuf::from(OsString::from_vec(bytes.to_vec()))
}

/// A path to bytes.
pub fn bytes(path: &std::path::Path) -> &[u8] {
    path.as_os_str().as_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_keeps_absolute_paths() {
        assert_eq!(absolute(b"/a//b"), b"/a//b");
    }

    #[test]
    fn absolute_prefixes_the_current_directory() {
        let cwd = std::env::current_dir().unwrap();
        let mut want = bytes(&cwd).to_vec();
        want.extend_from_slice(b"/./x");
        assert_eq!(absolute(b"./x"), want);
    }
}
