//! One insertion (kmod-tools §7.1–§7.4).
//!
//! The file's first bytes decide its compression (by magic). An uncompressed file, or one
//! the kernel can decompress itself (`/sys/module/compression` names its format), goes to
//! `finit_module` with the force flags (and `MODULE_INIT_COMPRESSED_FILE` when
//! compressed). Otherwise — and when the kernel has no `finit_module` (ENOSYS), or rejects
//! a compressed file it claimed to support (EINVAL/ENOEXEC: modkit retries where kmod
//! gives up, e.g. xz files with a CRC64 check) — the image is decompressed in user space,
//! edited for the force flags, and given to `init_module`.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::Path;

use modkit_elf::Compression;
use modkit_sys::{FinitFlags, KernelCompression};

use crate::{force, Errno, Event, Events, Kernel, Loader, Notice};

/// `--force-modversion` and `--force-vermagic`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Force {
    pub modversion: bool,
    pub vermagic: bool,
}

fn errno_of(err: &std::io::Error) -> Errno {
    Errno::from_io_error(err).unwrap_or(Errno::IO)
}

fn kernel_format(c: KernelCompression) -> Compression {
    match c {
        KernelCompression::Xz => Compression::Xz,
        KernelCompression::Zstd => Compression::Zstd,
        KernelCompression::Gzip => Compression::Gzip,
    }
}

fn finit_flags(force: Force, compressed: bool) -> FinitFlags {
    let mut flags = FinitFlags::default();
    if compressed {
        flags = flags | FinitFlags::COMPRESSED_FILE;
    }
    if force.vermagic {
        flags = flags | FinitFlags::IGNORE_VERMAGIC;
    }
    if force.modversion {
        flags = flags | FinitFlags::IGNORE_MODVERSIONS;
    }
    flags
}

/// The image for `init_module`: decompressed, then edited for the force flags.
pub fn user_image(file: &mut File, force: Force) -> Result<Vec<u8>, Errno> {
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(|e| errno_of(&e))?;
    let mut image = match modkit_elf::decompress(&bytes) {
        Ok(image) => image.into_owned(),
        Err(_) => return Err(Errno::INVAL),
    };
    if force.modversion {
        force::strip_modversions(&mut image)?;
    }
    if force.vermagic {
        force::strip_vermagic(&mut image)?;
    }
    Ok(image)
}

impl<K: Kernel> Loader<K> {
    /// Insert the module file at `path` with `options`.
    pub fn insert_file(
        &self,
        path: &Path,
        options: &[u8],
        force: Force,
        events: Events<'_>,
    ) -> Result<(), Errno> {
        let result = self.try_insert(path, options, force);
        if let Err(errno) = result {
            events(Event::Notice(Notice::InsertFailed {
                path: path.to_path_buf(),
                errno,
            }));
        }
        result
    }

    fn try_insert(&self, path: &Path, options: &[u8], force: Force) -> Result<(), Errno> {
        let mut file = File::open(path).map_err(|e| errno_of(&e))?;
        let mut magic = [0u8; 6];
        let n = file.read_at(&mut magic, 0).map_err(|e| errno_of(&e))?;
        let compression = Compression::detect(&magic[..n]);
        let compressed = compression != Compression::None;
        let kernel_decompresses = self.kernel.compression().map(kernel_format) == Some(compression);
        let params = crate::text(options);
        if !compressed || kernel_decompresses {
            let flags = finit_flags(force, compressed);
            match self.kernel.finit_module(&file, &params, flags) {
                Ok(()) => return Ok(()),
                Err(Errno::NOSYS) => {}
                Err(Errno::INVAL | Errno::NOEXEC) if compressed => {}
                Err(e) => return Err(e),
            }
        }
        let image = user_image(&mut file, force)?;
        self.kernel.init_module(&image, &params)
    }
}
