//! Helpers shared by the elf tests that use kmod 30 as an oracle: where the oracle's
//! tools are, skipping with a note when one is missing, and kmod's hex rendering.
#![allow(dead_code)]

use std::path::Path;

/// kmod 30's modinfo.
pub const MODINFO: &str = "/sbin/modinfo";
/// kmod 30's depmod.
pub const DEPMOD: &str = "/sbin/depmod";

/// True when `tool` exists; otherwise prints a note so the skip is visible.
pub fn have_tool(tool: &str) -> bool {
    let ok = Path::new(tool).is_file();
    if !ok {
        eprintln!("note: skipping, {tool} not found");
    }
    ok
}

/// kmod's hex rendering: uppercase, `:`-separated, `\n\t\t` after every 20th byte.
pub fn kmod_hex(bytes: &[u8]) -> String {
    let mut out = String::new();
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            out.push(':');
            if i % 20 == 0 {
                out.push_str("\n\t\t");
            }
        }
        out.push_str(&format!("{b:02X}"));
    }
    out
}
