//! `racer`: the guest side of the QEMU testbed (../shared/spec/testbed.md §5). It runs as
//! root inside the testbed's initramfs and prints one machine-readable line per result on
//! the console (`IDENT {json}`, `RESULT {json}`), which `cargo xtask vm` parses.
//!
//! Commands:
//! - `racer ident`: the identification of the guest (kernel release, CPUs, CPU modalias,
//!   `/sys/module/compression`, `VmallocTotal`, `DirectMap*`, the command line).
//! - `racer load FILE...`: one-shot loads (dependency preloading), `finit_module` with flag 4
//!   when the kernel decompresses the file's format, else `init_module`.
//! - `racer reset [--keep A,B]`: unloads every module but the kept ones.
//! - `racer storm --label L --n N --call finit|init|exec [--copies] [--timeout S] -- ARGS`:
//!   N loaders released at once by a pipe barrier while the parent samples /proc/meminfo
//!   and counts the insertion system calls with the syscall tracepoints.
//! - `racer layout --label L NAME -- FILE...`: one load and the module-area lines it adds to
//!   /proc/vmallocinfo.
//! - `racer run --label L -- CMD ARGS`: runs one command, records its output, exit status
//!   and the loaded modules afterwards.
//!
//! The code is split by concern: `storm` (barrier and children), `sampler` (/proc/meminfo),
//! `trace` (tracefs), `insert` (the system calls), `layout` (vmallocinfo), `report` (errno names and JSON).

#![forbid(unsafe_code)]

mod insert;
mod layout;
mod report;
mod sampler;
mod storm;
mod trace;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ident") => report::ident(),
        Some("load") => insert::load_files(&args[1..]),
        Some("reset") => insert::reset(&args[1..]),
        Some("storm") => storm::storm(&args[1..]),
        Some("run") => storm::run_command(&args[1..]),
        Some("layout") => layout::layout(&args[1..]),
        Some("child") => storm::child(&args[1..]),
        _ => Err("usage: racer ident|load|reset|storm|run ...".to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("racer: {msg}");
            ExitCode::FAILURE
        }
    }
}
