//! `DirKernel`: a stand-in kernel kept in a directory, so that tests can run many real
//! processes (and kill them) against one shared kernel state. The CLI selects it with
//! `MODKIT_KERNEL=dir:PATH`; the kernel model (crates/sim) is the faithful one, but it lives
//! inside one process.
//!
//! Layout under PATH: `sys/module/NAME/initstate` and `proc/modules` as Linux shows them,
//! `insertions.log` (one line per insertion that reached "the kernel"), `init_delay_ms`
//! (how long an insertion takes before it commits; default 20) and `fail/NAME` (an errno
//! number the insertion of NAME fails with). An insertion commits atomically (a rename of
//! the module's directory) after its delay: a process killed during the delay leaves no
//! state, as a real kernel finishes or never starts a load whatever happens to the caller.

use crate::{
    DeleteFlags, Errno, FinitFlags, InitState, Kernel, KernelCompression, LinuxKernel, LoadedModule,
};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A kernel kept in a directory (see the module documentation).
#[derive(Clone, Debug)]
pub struct DirKernel {
    root: PathBuf,
    view: LinuxKernel,
}

fn errno_of(err: &std::io::Error) -> Errno {
    Errno::from_io_error(err).unwrap_or(Errno::IO)
}

/// The module name in an image's `.modinfo` (`name=` entry), as the kernel reads it.
fn modinfo_name(image: &[u8]) -> Option<String> {
    let key = b"\0name=";
    let at = image.windows(key.len()).position(|w| w == key)? + key.len();
    let end = image[at..].iter().position(|b| *b == 0)? + at;
    String::from_utf8(image[at..end].to_vec()).ok()
}

impl DirKernel {
    /// The kernel kept under `root` (created when missing).
    pub fn new(root: impl Into<PathBuf>) -> Result<DirKernel, Errno> {
        let root = root.into();
        for dir in ["sys/module", "proc", "fail"] {
            fs::create_dir_all(root.join(dir)).map_err(|e| errno_of(&e))?;
        }
        let view = LinuxKernel::new(root.join("sys"), root.join("proc"));
        Ok(DirKernel { root, view })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The insertion calls that reached this kernel, in order: `NAME ok`, `NAME EEXIST` or
    /// `NAME E<errno>`.
    pub fn insertions(&self) -> Vec<String> {
        fs::read_to_string(self.root.join("insertions.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn delay(&self) -> Duration {
        let ms = fs::read_to_string(self.root.join("init_delay_ms"))
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(20);
        Duration::from_millis(ms)
    }

    fn append(&self, file: &str, line: &str) -> Result<(), Errno> {
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.root.join(file))
            .map_err(|e| errno_of(&e))?;
        f.write_all(format!("{line}\n").as_bytes())
            .map_err(|e| errno_of(&e))
    }

    /// One insertion of `image`: the delay, then the configured failure or an atomic commit
    /// (the module's directory is built aside and renamed into place, so a kill leaves it
    /// whole or absent). `insertions.log` gets `NAME ok` after a commit, `NAME EEXIST` for
    /// a duplicate and `NAME E<errno>` for a failure; a kill right after the commit can lose
    /// the `ok` line, never add one.
    fn insert(&self, image: &[u8]) -> Result<(), Errno> {
        let name = modinfo_name(image).ok_or(Errno::NOEXEC)?;
        std::thread::sleep(self.delay());
        if let Ok(text) = fs::read_to_string(self.root.join("fail").join(&name)) {
            let errno = Errno::from_raw_os_error(text.trim().parse().unwrap_or(22));
            self.append(
                "insertions.log",
                &format!("{name} E{}", errno.raw_os_error()),
            )?;
            return Err(errno);
        }
        let modules = self.root.join("sys/module");
        let thread = format!("{:?}", std::thread::current().id());
        let aside = modules.join(format!(
            ".{name}.{}.{}",
            std::process::id(),
            thread.trim_start_matches("ThreadId")
        ));
        let _ = fs::remove_dir_all(&aside);
        fs::create_dir_all(aside.join("holders")).map_err(|e| errno_of(&e))?;
        fs::write(aside.join("refcnt"), "0\n").map_err(|e| errno_of(&e))?;
        fs::write(aside.join("initstate"), "live\n").map_err(|e| errno_of(&e))?;
        if modules.join(&name).exists() || fs::rename(&aside, modules.join(&name)).is_err() {
            let _ = fs::remove_dir_all(&aside);
            self.append("insertions.log", &format!("{name} EEXIST"))?;
            return Err(Errno::EXIST);
        }
        self.append(
            "proc/modules",
            &format!("{name} 4096 0 - Live 0x0000000000000000"),
        )?;
        self.append("insertions.log", &format!("{name} ok"))
    }
}

impl Kernel for DirKernel {
    /// Reads the whole file. This stand-in has no decompressor: it looks for the `name=`
    /// entry in the bytes as they are, so compressed files fail with ENOEXEC.
    fn finit_module(&self, file: &File, _params: &str, _flags: FinitFlags) -> Result<(), Errno> {
        use std::os::unix::fs::FileExt;
        let len = file.metadata().map_err(|e| errno_of(&e))?.len() as usize;
        let mut bytes = vec![0; len];
        file.read_exact_at(&mut bytes, 0)
            .map_err(|e| errno_of(&e))?;
        self.insert(&bytes)
    }

    fn init_module(&self, image: &[u8], _params: &str) -> Result<(), Errno> {
        self.insert(image)
    }

    fn delete_module(&self, name: &str, _flags: DeleteFlags) -> Result<(), Errno> {
        let dir = self.root.join("sys/module").join(name);
        fs::remove_dir_all(&dir).map_err(|e| errno_of(&e))?;
        let modules = self.root.join("proc/modules");
        let text = fs::read_to_string(&modules).unwrap_or_default();
        let kept: String = text
            .lines()
            .filter(|l| l.split(' ').next() != Some(name))
            .map(|l| format!("{l}\n"))
            .collect();
        fs::write(&modules, kept).map_err(|e| errno_of(&e))
    }

    fn initstate(&self, name: &str) -> Result<Option<InitState>, Errno> {
        self.view.initstate(name)
    }

    fn loaded_modules(&self) -> Result<Vec<LoadedModule>, Errno> {
        self.view.loaded_modules()
    }

    fn holders(&self, name: &str) -> Result<Vec<String>, Errno> {
        self.view.holders(name)
    }

    fn refcnt(&self, name: &str) -> Result<u32, Errno> {
        self.view.refcnt(name)
    }

    fn compression(&self) -> Option<KernelCompression> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(name: &str) -> Vec<u8> {
        format!("\x7fELF....\0license=GPL\0name={name}\0vermagic=x\0").into_bytes()
    }

    #[test]
    fn insertions_commit_once_and_show_in_sysfs() {
        let tmp = tempfile::tempdir().unwrap();
        let k = DirKernel::new(tmp.path()).unwrap();
        fs::write(tmp.path().join("init_delay_ms"), "1").unwrap();
        assert_eq!(k.init_module(&image("xfs"), ""), Ok(()));
        assert_eq!(k.init_module(&image("xfs"), ""), Err(Errno::EXIST));
        assert_eq!(k.initstate("xfs"), Ok(Some(InitState::Live)));
        assert_eq!(k.insertions(), ["xfs ok", "xfs EEXIST"]);
        assert_eq!(k.loaded_modules().unwrap()[0].name, "xfs");
        assert_eq!(k.delete_module("xfs", DeleteFlags::default()), Ok(()));
        assert_eq!(k.initstate("xfs"), Ok(None));
        assert!(k.loaded_modules().unwrap().is_empty());
    }

    #[test]
    fn configured_failures_and_bad_images() {
        let tmp = tempfile::tempdir().unwrap();
        let k = DirKernel::new(tmp.path()).unwrap();
        fs::write(tmp.path().join("init_delay_ms"), "0").unwrap();
        fs::write(tmp.path().join("fail/coretemp"), "19\n").unwrap();
        assert_eq!(k.init_module(&image("coretemp"), ""), Err(Errno::NODEV));
        assert_eq!(k.initstate("coretemp"), Ok(None));
        assert_eq!(k.insertions(), ["coretemp E19"]);
        assert_eq!(k.init_module(b"no modinfo", ""), Err(Errno::NOEXEC));
        let path = tmp.path().join("m.ko");
        fs::write(&path, image("m")).unwrap();
        let file = File::open(&path).unwrap();
        assert_eq!(k.finit_module(&file, "", FinitFlags::default()), Ok(()));
    }
}
