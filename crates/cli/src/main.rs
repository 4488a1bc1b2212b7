//! The `modkit` multi-call binary: dispatches on the basename of `argv[0]` (depmod, modinfo,
//! modprobe, insmod, rmmod, lsmod, kmod) or on `modkit TOOL ARGS...`, which behaves exactly like TOOL called through a link.
//!
//! Layout: [`getopt`] (glibc `getopt_long`), [`texts`] (kmod's exact words, errno texts),
//! [`system`] (kernel release, `/proc`, absolute paths), one module per tool in `tools`.
//!
//! Deliberate differences from Debian 12's kmod 30:
//! * `-V` prints `modkit version <v>` and modkit's feature line;
//! * help texts are modkit's own wording (streams and exit statuses are kmod's);
//! * depmod also has `-o/--outdir`, `--moduledir` (kmod ≥ 31/34) and `--index-layout`,
//!   which changes the candidates listed in "ambiguous option" messages that they match;
//! * `kmod list` prints libkmod's error in its non-debug form.
//! * modprobe, insmod and rmmod print libkmod's messages with kmod 30's source locations
//!   (`../libkmod/libkmod-module.c:1047 command_do() …`, Debian 12 ships a debug build), but
//!   not its debug-only traces (`-vv` pointer lines, `KMOD_LOG=debug` parser traces).
//! * `modprobe -r` on a softdep loop stops at a module it is already removing; kmod 30
//!   recurses until it crashes.
//! * `-s` sends `<prio>prog: LEVEL: message\n` datagrams to /dev/log: kmod's, without
//!   glibc's timestamp field (the syslog daemon stamps the time it receives them).
//!
//! Test-only environment variables: `MODKIT_PROC` (the `/proc` root), `MODKIT_SYS` (the
//! `/sys` root) and `MODKIT_MODULE_DIRECTORY` (`/lib/modules` for the running kernel).
#![forbid(unsafe_code)]

mod getopt;
mod kmodlog;
mod system;
mod texts;
mod tools;

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

/// A tool's entry point: argv (`argv[0]` as the tool sees it) to exit status.
pub type ToolMain = fn(&[Vec<u8>]) -> i32;

/// The tools reachable through `argv[0]`, by basename.
const TOOLS: &[(&str, ToolMain)] = &[
    ("depmod", tools::depmod::main),
    ("modinfo", tools::modinfo::main),
    ("kmod", tools::kmod::main),
    ("modprobe", tools::modprobe::main),
    ("insmod", tools::insmod::main),
    ("rmmod", tools::rmmod::main),
    ("lsmod", tools::list::main),
    ("stats", tools::stats::main),
    ("sim", tools::sim::main),
    ("sizes", tools::sizes::main),
];

/// kmod 30 returns -ENOENT from `main` for an unknown `argv[0]`: exit status 254.
const EXIT_UNKNOWN_TOOL: i32 = 254;

fn basename(path: &[u8]) -> &[u8] {
    match path.iter().rposition(|&b| b == b'/') {
        Some(slash) => &path[slash + 1..],
        None => path,
    }
}

fn find_tool(name: &[u8]) -> Option<ToolMain> {
    TOOLS
        .iter()
        .find(|(tool, _)| tool.as_bytes() == name)
        .map(|&(_, main)| main)
}

fn modkit_help() -> String {
    let mut text = String::from(
        "modkit: a kmod-compatible kernel module toolkit.\n\n\
         Usage:\n\tmodkit TOOL [ARGS...]\n\tTOOL [ARGS...]   (through a link named TOOL)\n\n\
         Tools:\n",
    );
    for (name, _) in TOOLS {
        text.push_str(&format!("\t{name}\n"));
    }
    text
}

/// `modkit` itself: `modkit TOOL ARGS...`, or its own help.
fn modkit_main(argv: &[Vec<u8>]) -> i32 {
    match argv.get(1).map(Vec::as_slice) {
        None | Some(b"--help") | Some(b"-h") => {
            tools::stdout(modkit_help().as_bytes());
            0
        }
        Some(b"--version") | Some(b"-V") => {
            tools::stdout(format!("modkit version {}\n", env!("CARGO_PKG_VERSION")).as_bytes());
            0
        }
        Some(tool) => match find_tool(tool) {
            Some(main) => main(&argv[1..]),
            None => {
                let mut line = b"modkit: unknown tool '".to_vec();
                line.extend_from_slice(tool);
                line.extend_from_slice(b"' (try 'modkit --help')");
                texts::eprint_line(&line);
                1
            }
        },
    }
}

fn dispatch(argv: &[Vec<u8>]) -> i32 {
    let argv0 = argv.first().map(Vec::as_slice).unwrap_or(b"");
    let name = basename(argv0);
    if name == b"modkit" {
        return modkit_main(argv);
    }
    match find_tool(name) {
        Some(main) => main(argv),
        None => EXIT_UNKNOWN_TOOL,
    }
}

fn main() {
    let argv: Vec<Vec<u8>> = std::env::args_os().map(OsString::into_vec).collect();
    std::process::exit(dispatch(&argv));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basename_strips_directories() {
        assert_eq!(basename(b"/sbin/depmod"), b"depmod");
        assert_eq!(basename(b"modinfo"), b"modinfo");
        assert_eq!(basename(b"dir/"), b"");
    }

    #[test]
    fn unknown_argv0_exits_254() {
        assert_eq!(dispatch(&[b"/usr/bin/whatever".to_vec()]), 254);
    }

    #[test]
    fn help_lists_every_tool() {
        let help = modkit_help();
        for (name, _) in TOOLS {
            assert!(help.contains(name));
        }
    }
}
