//! The racer's insertion system calls, through `modkit_sys::LinuxKernel`: preparing a
//! module for `finit_module` (open, flag 4 when the kernel decompresses the file's format)
//! or `init_module` (read and decompress in user space), issuing the call, one-shot loads
//! and unloading everything between storms.

use crate::report::{errno_name, print_line};
use modkit_elf::Compression;
use modkit_sys::{DeleteFlags, Errno, FinitFlags, Kernel, KernelCompression, LinuxKernel};
use serde_json::json;
use std::fs::File;
use std::time::Duration;

/// Which insertion system call a loader makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Call {
    /// `finit_module(fd, "", flags)`; flag 4 when the kernel takes the file's compression.
    Finit,
    /// `init_module(image, len, "")` with the image decompressed in user space.
    Init,
}

impl Call {
    pub fn parse(text: &str) -> Option<Call> {
        match text {
            "finit" => Some(Call::Finit),
            "init" => Some(Call::Init),
            _ => None,
        }
    }
}

/// A module ready to be inserted: what is left to do after the barrier is one system call.
pub enum Prepared {
    File {
        path: String,
        file: File,
        flags: FinitFlags,
    },
    Image {
        path: String,
        image: Vec<u8>,
    },
}

/// The outcome of one insertion call, with when it entered and left the kernel.
pub struct Outcome {
    pub path: String,
    pub syscall: &'static str,
    pub flags: u32,
    pub result: Result<(), Errno>,
    /// CLOCK_MONOTONIC before the call and after it returned ([`monotonic_ns`]).
    pub start_ns: u64,
    pub end_ns: u64,
}

/// CLOCK_MONOTONIC in nanoseconds: one clock for every process of the guest, so the
/// storm's parent can place its children's calls relative to the barrier's release.
pub fn monotonic_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    u64::try_from(t.tv_sec).unwrap_or(0) * 1_000_000_000 + u64::try_from(t.tv_nsec).unwrap_or(0)
}

impl Outcome {
    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "file": self.path,
            "syscall": self.syscall,
            "flags": self.flags,
            "result": match self.result { Ok(()) => "0".to_owned(), Err(e) => errno_name(e) },
            "start_ns": self.start_ns,
            "end_ns": self.end_ns,
        })
    }
}

fn kernel_takes(kernel: &LinuxKernel, compression: Compression) -> bool {
    matches!(
        (kernel.compression(), compression),
        (Some(KernelCompression::Xz), Compression::Xz)
            | (Some(KernelCompression::Zstd), Compression::Zstd)
            | (Some(KernelCompression::Gzip), Compression::Gzip)
    )
}

fn magic_of(path: &str) -> Result<Compression, String> {
    use std::io::Read;
    let mut head = [0u8; 6];
    let mut file = File::open(path).map_err(|e| format!("{path}: {e}"))?;
    let n = file.read(&mut head).map_err(|e| format!("{path}: {e}"))?;
    Ok(Compression::detect(&head[..n]))
}

/// Prepares `path` for `call`. A compressed file the kernel cannot decompress goes through
/// `init_module` whatever `call` says, as every loader must.
pub fn prepare(kernel: &LinuxKernel, path: &str, call: Call) -> Result<Prepared, String> {
    let compression = magic_of(path)?;
    let direct = compression == Compression::None || kernel_takes(kernel, compression);
    if call == Call::Finit && direct {
        let file = File::open(path).map_err(|e| format!("{path}: {e}"))?;
        let flags = if compression == Compression::None {
            FinitFlags::default()
        } else {
            FinitFlags::COMPRESSED_FILE
        };
        return Ok(Prepared::File {
            path: path.to_owned(),
            file,
            flags,
        });
    }
    let bytes = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
    let image = modkit_elf::decompress(&bytes)
        .map_err(|e| format!("{path}: {e}"))?
        .into_owned();
    Ok(Prepared::Image {
        path: path.to_owned(),
        image,
    })
}

/// Issues the insertion call of a prepared module.
pub fn insert(kernel: &LinuxKernel, prepared: &Prepared) -> Outcome {
    let start_ns = monotonic_ns();
    let (path, syscall, flags, result) = match prepared {
        Prepared::File { path, file, flags } => (
            path,
            "finit_module",
            flags.0,
            kernel.finit_module(file, "", *flags),
        ),
        Prepared::Image { path, image } => (path, "init_module", 0, kernel.init_module(image, "")),
    };
    Outcome {
        path: path.clone(),
        syscall,
        flags,
        result,
        start_ns,
        end_ns: monotonic_ns(),
    }
}

/// `racer load FILE...`: loads each file once, in order; EEXIST counts as loaded.
pub fn load_files(files: &[String]) -> Result<(), String> {
    let kernel = LinuxKernel::default();
    let mut failed = false;
    for path in files {
        let outcome = insert(&kernel, &prepare(&kernel, path, Call::Finit)?);
        failed |= !matches!(outcome.result, Ok(()) | Err(Errno::EXIST));
        print_line("LOAD", &outcome.to_json());
    }
    if failed {
        Err("a load failed".to_owned())
    } else {
        Ok(())
    }
}

/// `racer reset [--keep A,B]`: deletes every loaded module except the kept ones, holders
/// first (repeats while it makes progress), then lets deferred frees settle for a second.
pub fn reset(args: &[String]) -> Result<(), String> {
    let keep: Vec<&str> = match args {
        [flag, list] if flag == "--keep" => list.split(',').collect(),
        [] => Vec::new(),
        _ => return Err("usage: racer reset [--keep A,B]".to_owned()),
    };
    let kernel = LinuxKernel::default();
    loop {
        let loaded = kernel
            .loaded_modules()
            .map_err(|e| format!("/proc/modules: {e}"))?;
        let removable: Vec<_> = loaded
            .iter()
            .filter(|m| m.refcnt == 0 && !keep.contains(&m.name.as_str()))
            .collect();
        let mut progress = false;
        for m in removable {
            progress |= kernel
                .delete_module(&m.name, DeleteFlags::default())
                .is_ok();
        }
        if !progress {
            let left: Vec<_> = loaded.iter().map(|m| m.name.clone()).collect();
            print_line("RESET", &json!({ "loaded": left }));
            break;
        }
    }
    std::thread::sleep(Duration::from_secs(1));
    Ok(())
}
