//! What the tools read from the running system: the kernel release (`uname -r`, from
//! `<proc>/sys/kernel/osrelease`), the `/proc` root (overridable with `MODKIT_PROC` for
//! tests), paths made absolute against the current directory as kmod does it, the kernel
//! the tools talk to, and the shared loading context.

use std::ffi::{OsStr, OsString};
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

/// The environment variable that replaces the running kernel with a stand-in kept in a
/// directory (`dir:PATH`, `modkit_sys::DirKernel`), so tests can run many processes against
/// one kernel state (tests only).
pub const KERNEL_ENV: &str = "MODKIT_KERNEL";

/// The kernel the tools talk to: Linux (its `/sys` and `/proc` movable for tests), or the
/// directory stand-in named by `MODKIT_KERNEL=dir:PATH`.
pub fn kernel() -> Box<dyn modkit_sys::Kernel> {
    if let Some(spec) = std::env::var_os(KERNEL_ENV) {
        if let Some(dir) = spec.as_bytes().strip_prefix(b"dir:") {
            if let Ok(k) = modkit_sys::DirKernel::new(PathBuf::from(OsStr::from_bytes(dir))) {
                return Box::new(k);
            }
        }
    }
    Box::new(modkit_sys::LinuxKernel::new(
        crate::tools::list::sys_root(),
        proc_root(),
    ))
}

/// The environment variables of the shared loading context: its run directory
/// (default /run/modkit), and the bound in seconds on waiting for another loader's claim.
pub const RUN_DIR_ENV: &str = "MODKIT_RUN_DIR";
pub const CLAIM_TIMEOUT_ENV: &str = "MODKIT_CLAIM_TIMEOUT";

/// The run directory of the shared loading context (`MODKIT_RUN_DIR`, default /run/modkit).
pub fn run_dir() -> PathBuf {
    std::env::var_os(RUN_DIR_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(modkit_loader::shared::DEFAULT_RUN_DIR))
}

/// The shared loading context for a tool about to insert modules: `Ok(None)` when it does
/// not apply (not root, or `MODKIT_RUN_DIR` set to an empty value: no insertion could go
/// through it, or it is switched off), `Err` with the message when the run directory is
/// refused (a symlink, wrong owner or mode).
pub fn shared_context() -> Result<Option<modkit_loader::shared::Shared>, String> {
    let dir = run_dir().into_os_string();
    let testing = std::env::var_os(KERNEL_ENV).is_some();
    if dir.is_empty() || (!testing && !rustix::process::geteuid().is_root()) {
        return Ok(None);
    }
    let mut shared =
        modkit_loader::shared::Shared::open(PathBuf::from(dir)).map_err(|e| e.to_string())?;
    if let Some(secs) = std::env::var(CLAIM_TIMEOUT_ENV)
        .ok()
        .and_then(|v| v.parse().ok())
    {
        shared.claim_bound = std::time::Duration::from_secs_f64(secs);
        shared.coming_bound = shared.claim_bound;
    }
    Ok(Some(shared))
}

/// `loader` inserting through the shared loading context when it applies
/// ([`shared_context`]); `Err` with the message when the run directory is refused.
pub fn with_shared_context<K: modkit_sys::Kernel>(
    loader: modkit_loader::Loader<K>,
) -> Result<modkit_loader::Loader<K>, String> {
    Ok(match shared_context()? {
        Some(shared) => loader.with_shared(shared),
        None => loader,
    })
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
