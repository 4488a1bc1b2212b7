//! The platform boundary: the only crate that talks to the running kernel, and the only one
//! allowed `unsafe` (only [`map_file`] needs it: rustix wraps every system call safely).
//!
//! [`Kernel`] is what a loader asks of a kernel: the three module system calls
//! (`finit_module`, `init_module`, `delete_module`) and the module state the kernel exposes
//! in /sys/module and /proc/modules. [`LinuxKernel`] implements it over rustix for the
//! running Linux; the kernel model (crates/sim) implements it for any kernel version, so
//! every loader can run against either.

#![deny(unsafe_code)]

mod claim;
mod dir_kernel;
mod linux;
mod map;

pub use claim::{Claim, ClaimError, ClaimStats, Outcome, RunDir, Ticket};
pub use dir_kernel::DirKernel;
pub use linux::LinuxKernel;
pub use map::{map_file, MappedFile};
pub use rustix::io::Errno;

use std::fs::File;

/// `finit_module` flags (`include/uapi/linux/module.h`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct FinitFlags(pub u32);

impl FinitFlags {
    /// `MODULE_INIT_IGNORE_MODVERSIONS`: skip symbol version checks (`--force-modversion`).
    pub const IGNORE_MODVERSIONS: FinitFlags = FinitFlags(1);
    /// `MODULE_INIT_IGNORE_VERMAGIC`: skip the vermagic check (`--force-vermagic`).
    pub const IGNORE_VERMAGIC: FinitFlags = FinitFlags(2);
    /// `MODULE_INIT_COMPRESSED_FILE`: the kernel decompresses the file itself (6.4+).
    pub const COMPRESSED_FILE: FinitFlags = FinitFlags(4);

    /// Whether every bit of `other` is set.
    pub fn contains(self, other: FinitFlags) -> bool {
        self.0 & other.0 == other.0
    }
}

impl std::ops::BitOr for FinitFlags {
    type Output = FinitFlags;
    fn bitor(self, rhs: FinitFlags) -> FinitFlags {
        FinitFlags(self.0 | rhs.0)
    }
}

/// `delete_module` flags: `O_NONBLOCK` (always set by kmod) and `O_TRUNC` (`rmmod -f`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeleteFlags {
    /// `O_TRUNC`: force removal (`CONFIG_MODULE_FORCE_UNLOAD`).
    pub force: bool,
}

/// The decompression the kernel can do for `finit_module` (`/sys/module/compression`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelCompression {
    Xz,
    Zstd,
    Gzip,
}

impl KernelCompression {
    /// Parses the content of `/sys/module/compression` (`xz\n`, `zstd\n`, `gzip\n`).
    pub fn parse(text: &str) -> Option<KernelCompression> {
        match text.strip_suffix('\n').unwrap_or(text) {
            "xz" => Some(KernelCompression::Xz),
            "zstd" => Some(KernelCompression::Zstd),
            "gzip" => Some(KernelCompression::Gzip),
            _ => None,
        }
    }
}

/// `/sys/module/NAME/initstate` (`enum module_state` as user space sees it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InitState {
    /// Linked and running (`live`).
    Live,
    /// Its init function is running (`coming`); loading it again would be a duplicate.
    Coming,
    /// Being removed (`going`).
    Going,
    /// Built into the kernel image: /sys/module/NAME exists without `initstate`.
    Builtin,
}

impl InitState {
    /// Parses the content of an `initstate` file.
    pub fn parse(text: &str) -> Option<InitState> {
        match text.strip_suffix('\n').unwrap_or(text) {
            "live" => Some(InitState::Live),
            "coming" => Some(InitState::Coming),
            "going" => Some(InitState::Going),
            _ => None,
        }
    }
}

/// One line of /proc/modules: `name size refcnt deps state address [taint]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadedModule {
    pub name: String,
    pub size: u64,
    pub refcnt: u32,
    /// Modules using this one (the fourth field; `-` when none).
    pub holders: Vec<String>,
    pub state: String,
}

impl LoadedModule {
    /// Parses one /proc/modules line; `None` when it has fewer than five fields.
    pub fn parse(line: &str) -> Option<LoadedModule> {
        let mut f = line.split_ascii_whitespace();
        let name = f.next()?.to_owned();
        let size = f.next()?.parse().ok()?;
        let refcnt = f.next()?.parse().ok()?;
        let holders = match f.next()? {
            "-" => Vec::new(),
            list => list
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
        };
        let state = f.next()?.to_owned();
        Some(LoadedModule {
            name,
            size,
            refcnt,
            holders,
            state,
        })
    }
}

/// What a loader asks of a kernel. Errors are the kernel's errno, unchanged.
///
/// Implementations must be usable from several threads at once, as several processes use
/// one real kernel.
pub trait Kernel: Send + Sync {
    /// `finit_module(fd, params, flags)`.
    fn finit_module(&self, file: &File, params: &str, flags: FinitFlags) -> Result<(), Errno>;
    /// `init_module(image, len, params)`: the image is already decompressed.
    fn init_module(&self, image: &[u8], params: &str) -> Result<(), Errno>;
    /// `delete_module(name, O_NONBLOCK [| O_TRUNC])`.
    fn delete_module(&self, name: &str, flags: DeleteFlags) -> Result<(), Errno>;
    /// The module's state; `Ok(None)` when it is not loaded (no /sys/module/NAME).
    fn initstate(&self, name: &str) -> Result<Option<InitState>, Errno>;
    /// The loaded modules, in /proc/modules order.
    fn loaded_modules(&self) -> Result<Vec<LoadedModule>, Errno>;
    /// The names in /sys/module/NAME/holders, in directory order.
    fn holders(&self, name: &str) -> Result<Vec<String>, Errno>;
    /// /sys/module/NAME/refcnt.
    fn refcnt(&self, name: &str) -> Result<u32, Errno>;
    /// /sys/module/compression, read once; `None` when the kernel cannot decompress.
    fn compression(&self) -> Option<KernelCompression>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_modules_lines_parse() {
        let m = LoadedModule::parse("xfs 1970176 1 libcrc32c, Live 0xffffffffc04b7000")
            .expect("parses");
        assert_eq!(m.name, "xfs");
        assert_eq!((m.size, m.refcnt), (1970176, 1));
        assert_eq!(m.holders, vec!["libcrc32c".to_owned()]);
        assert_eq!(m.state, "Live");
        let m = LoadedModule::parse("btusb 11216 0 - Loading 0x0 (OE)").expect("parses");
        assert!(m.holders.is_empty());
        assert_eq!(m.state, "Loading");
        assert!(LoadedModule::parse("short 1 2").is_none());
        assert!(LoadedModule::parse("bad x 0 - Live").is_none());
    }

    #[test]
    fn state_files_parse() {
        assert_eq!(InitState::parse("coming\n"), Some(InitState::Coming));
        assert_eq!(InitState::parse("live"), Some(InitState::Live));
        assert_eq!(InitState::parse("unformed\n"), None);
        assert_eq!(
            KernelCompression::parse("xz\n"),
            Some(KernelCompression::Xz)
        );
        assert_eq!(KernelCompression::parse("lz4\n"), None);
    }

    #[test]
    fn flags_combine() {
        let f = FinitFlags::IGNORE_MODVERSIONS | FinitFlags::COMPRESSED_FILE;
        assert_eq!(f.0, 5);
        assert!(f.contains(FinitFlags::COMPRESSED_FILE));
        assert!(!f.contains(FinitFlags::IGNORE_VERMAGIC));
    }
}
