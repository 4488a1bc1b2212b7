//! `LinuxKernel`: [`Kernel`] for the running Linux, through rustix's module system calls,
//! `/sys/module` and `/proc/modules`. The two directories can be moved (tests point them
//! at a fixture tree; the CLI honours MODKIT_SYS and MODKIT_PROC).

use crate::{DeleteFlags, Errno, FinitFlags, InitState, Kernel, KernelCompression, LoadedModule};
use std::ffi::CString;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

/// The running kernel.
#[derive(Clone, Debug)]
pub struct LinuxKernel {
    sys: PathBuf,
    proc: PathBuf,
    /// `sys/module/compression`, read at the first insertion that asks.
    compression: std::sync::OnceLock<Option<KernelCompression>>,
}

impl Default for LinuxKernel {
    fn default() -> Self {
        LinuxKernel::new("/sys", "/proc")
    }
}

impl LinuxKernel {
    /// A kernel whose sysfs and procfs are mounted at `sys` and `proc`.
    /// `sys/module/compression` is read once, when first needed (libkmod reads it at
    /// context creation; a run that inserts nothing never needs it).
    pub fn new(sys: impl Into<PathBuf>, proc: impl Into<PathBuf>) -> LinuxKernel {
        LinuxKernel {
            sys: sys.into(),
            proc: proc.into(),
            compression: std::sync::OnceLock::new(),
        }
    }

    fn module_dir(&self, name: &str) -> PathBuf {
        self.sys.join("module").join(name)
    }
}

fn errno_of(err: &io::Error) -> Errno {
    Errno::from_io_error(err).unwrap_or(Errno::IO)
}

fn c_string(s: &str) -> Result<CString, Errno> {
    CString::new(s).map_err(|_| Errno::INVAL)
}

fn read_trimmed(path: &Path) -> Result<String, Errno> {
    fs::read_to_string(path)
        .map(|s| s.trim_end_matches('\n').to_owned())
        .map_err(|e| errno_of(&e))
}

impl Kernel for LinuxKernel {
    fn finit_module(&self, file: &File, params: &str, flags: FinitFlags) -> Result<(), Errno> {
        rustix::system::finit_module(file, &c_string(params)?, flags.0 as i32)
    }

    fn init_module(&self, image: &[u8], params: &str) -> Result<(), Errno> {
        rustix::system::init_module(image, &c_string(params)?)
    }

    fn delete_module(&self, name: &str, flags: DeleteFlags) -> Result<(), Errno> {
        let mut bits = rustix::fs::OFlags::NONBLOCK.bits() as i32;
        if flags.force {
            bits |= rustix::fs::OFlags::TRUNC.bits() as i32;
        }
        rustix::system::delete_module(&c_string(name)?, bits)
    }

    fn initstate(&self, name: &str) -> Result<Option<InitState>, Errno> {
        let dir = self.module_dir(name);
        match fs::read_to_string(dir.join("initstate")) {
            Ok(text) => InitState::parse(&text).map(Some).ok_or(Errno::INVAL),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                // A directory without initstate is a built-in module; no directory at all
                // means "not loaded".
                if dir.is_dir() {
                    Ok(Some(InitState::Builtin))
                } else {
                    Ok(None)
                }
            }
            Err(e) => Err(errno_of(&e)),
        }
    }

    fn loaded_modules(&self) -> Result<Vec<LoadedModule>, Errno> {
        let text = fs::read_to_string(self.proc.join("modules")).map_err(|e| errno_of(&e))?;
        Ok(text.lines().filter_map(LoadedModule::parse).collect())
    }

    fn holders(&self, name: &str) -> Result<Vec<String>, Errno> {
        let dir = fs::read_dir(self.module_dir(name).join("holders")).map_err(|e| errno_of(&e))?;
        let mut names = Vec::new();
        for entry in dir {
            let entry = entry.map_err(|e| errno_of(&e))?;
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
        Ok(names)
    }

    fn refcnt(&self, name: &str) -> Result<u32, Errno> {
        let text = read_trimmed(&self.module_dir(name).join("refcnt"))?;
        text.parse().map_err(|_| Errno::INVAL)
    }

    fn compression(&self) -> Option<KernelCompression> {
        *self.compression.get_or_init(|| {
            fs::read_to_string(self.sys.join("module/compression"))
                .ok()
                .and_then(|text| KernelCompression::parse(&text))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        let module = dir.path().join("sys/module");
        fs::create_dir_all(module.join("xfs/holders")).unwrap();
        fs::create_dir_all(module.join("libcrc32c/holders/xfs")).unwrap();
        fs::create_dir_all(module.join("kernel")).unwrap();
        fs::create_dir_all(module.join("odd")).unwrap();
        fs::write(module.join("xfs/initstate"), "live\n").unwrap();
        fs::write(module.join("xfs/refcnt"), "0\n").unwrap();
        fs::write(module.join("libcrc32c/initstate"), "coming\n").unwrap();
        fs::write(module.join("odd/initstate"), "unformed\n").unwrap();
        fs::write(module.join("compression"), "xz\n").unwrap();
        fs::create_dir_all(dir.path().join("proc")).unwrap();
        fs::write(
            dir.path().join("proc/modules"),
            "xfs 1970176 0 - Live 0x0\nlibcrc32c 16384 1 xfs, Live 0x0\n",
        )
        .unwrap();
        dir
    }

    #[test]
    fn state_comes_from_sysfs() {
        let dir = fixture();
        let k = LinuxKernel::new(dir.path().join("sys"), dir.path().join("proc"));
        assert_eq!(k.initstate("xfs"), Ok(Some(InitState::Live)));
        assert_eq!(k.initstate("libcrc32c"), Ok(Some(InitState::Coming)));
        assert_eq!(k.initstate("kernel"), Ok(Some(InitState::Builtin)));
        assert_eq!(k.initstate("absent"), Ok(None));
        assert_eq!(k.initstate("odd"), Err(Errno::INVAL));
        assert_eq!(k.compression(), Some(KernelCompression::Xz));
        assert_eq!(k.refcnt("xfs"), Ok(0));
        assert_eq!(k.refcnt("absent"), Err(Errno::NOENT));
        assert_eq!(k.holders("libcrc32c"), Ok(vec!["xfs".to_owned()]));
        let loaded = k.loaded_modules().expect("reads");
        assert_eq!(loaded.len(), 2);
        assert_eq!(loaded[1].holders, vec!["xfs".to_owned()]);
    }

    #[test]
    fn compression_is_read_when_first_asked() {
        let dir = tempfile::tempdir().expect("tempdir");
        let k = LinuxKernel::new(dir.path().join("sys"), dir.path().join("proc"));
        fs::create_dir_all(dir.path().join("sys/module")).unwrap();
        fs::write(dir.path().join("sys/module/compression"), "zstd\n").unwrap();
        assert_eq!(k.compression(), Some(KernelCompression::Zstd));
        fs::write(dir.path().join("sys/module/compression"), "xz\n").unwrap();
        assert_eq!(k.compression(), Some(KernelCompression::Zstd), "read once");
    }

    #[test]
    fn missing_procfs_is_an_errno() {
        let dir = tempfile::tempdir().expect("tempdir");
        let k = LinuxKernel::new(dir.path().join("sys"), dir.path().join("proc"));
        assert_eq!(k.loaded_modules(), Err(Errno::NOENT));
        assert_eq!(k.compression(), None);
    }
}
