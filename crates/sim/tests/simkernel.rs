//! SimKernel behind `modkit_sys::Kernel`: concurrent in-process callers on real threads,
//! released by a barrier, see the kernel version's semantics.

use modkit_sim::{Config, Profile, SimKernel, Version};
use modkit_sys::{DeleteFlags, FinitFlags, InitState, Kernel};
use std::sync::Arc;

fn storm(
    version: Version,
    profile: &str,
    n: usize,
    flags: FinitFlags,
) -> (Vec<Result<(), modkit_sys::Errno>>, Arc<SimKernel>) {
    let profile = Profile::builtin(profile).expect("builtin profile");
    let kernel = Arc::new(SimKernel::new(Config::new(version, 4), &profile));
    let file = tempfile::tempfile().expect("a temporary file");
    kernel
        .register_file(&file, "xfs")
        .expect("xfs is in the profile");
    kernel
        .preload("libcrc32c")
        .expect("libcrc32c is in the profile");
    kernel.expect_callers(n);
    let file = Arc::new(file);
    let threads: Vec<_> = (0..n)
        .map(|_| {
            let (k, f) = (Arc::clone(&kernel), Arc::clone(&file));
            std::thread::spawn(move || k.finit_module(&f, "", flags))
        })
        .collect();
    let results = threads
        .into_iter()
        .map(|t| t.join().expect("no panic"))
        .collect();
    (results, kernel)
}

#[test]
fn concurrent_finit_on_6_1_allocates_one_image_per_caller() {
    let (results, kernel) = storm(Version::V6_1, "skylake-sp@6.1", 16, FinitFlags::default());
    let ok = results.iter().filter(|r| r.is_ok()).count();
    let eexist = results
        .iter()
        .filter(|r| **r == Err(modkit_sys::Errno::EXIST))
        .count();
    assert_eq!((ok, eexist), (1, 15));
    let report = kernel.report();
    assert_eq!(
        report.peak_vmalloc_delta_kb,
        16 * 6500,
        "B + L per caller (testbed §7.2)"
    );
    assert_eq!(kernel.initstate("xfs").unwrap(), Some(InitState::Live));
    let lsmod = kernel.loaded_modules().unwrap();
    let xfs = lsmod.iter().find(|m| m.name == "xfs").expect("xfs listed");
    assert_eq!(xfs.size, 1_970_176, "coresize of Debian 6.1 xfs");
    assert_eq!(kernel.holders("libcrc32c").unwrap(), vec!["xfs".to_owned()]);
    assert_eq!(
        kernel.delete_module("libcrc32c", DeleteFlags::default()),
        Err(modkit_sys::Errno::WOULDBLOCK)
    );
    assert_eq!(kernel.delete_module("xfs", DeleteFlags::default()), Ok(()));
    assert_eq!(kernel.initstate("xfs").unwrap(), None);
    assert_eq!(
        kernel.delete_module("xfs", DeleteFlags::default()),
        Err(modkit_sys::Errno::NOENT)
    );
}

#[test]
fn concurrent_finit_on_6_12_shares_the_first_result() {
    let (results, kernel) = storm(
        Version::V6_12,
        "skylake-sp@6.12",
        256,
        FinitFlags::COMPRESSED_FILE,
    );
    assert!(
        results.iter().all(|r| r.is_ok()),
        "every caller gets 0 (§8.2)"
    );
    let report = kernel.report();
    assert_eq!(report.layouts, 1);
    assert_eq!(report.init_runs, 1);
    assert_eq!(
        kernel.compression(),
        Some(modkit_sys::KernelCompression::Xz)
    );
    // A latecomer reads the file again and is rejected at L4.
    let file = tempfile::tempfile().unwrap();
    kernel.register_file(&file, "xfs").unwrap();
    assert_eq!(
        kernel.finit_module(&file, "", FinitFlags::COMPRESSED_FILE),
        Err(modkit_sys::Errno::EXIST)
    );
    assert!(kernel.debugfs_stats().contains("Becoming"));
}

#[test]
fn a_file_that_is_no_module_is_rejected() {
    let profile = Profile::builtin("epyc-guest").unwrap();
    let kernel = SimKernel::new(Config::new(Version::V6_12, 2), &profile);
    let file = tempfile::tempfile().unwrap();
    assert_eq!(
        kernel.finit_module(&file, "", FinitFlags::default()),
        Err(modkit_sys::Errno::NOEXEC)
    );
    assert_eq!(
        kernel.init_module(b"not an ELF image", ""),
        Err(modkit_sys::Errno::NOEXEC)
    );
    assert_eq!(
        kernel.compression(),
        Some(modkit_sys::KernelCompression::Xz)
    );
}
