//! Configuration files: depmod.d (and, with the loader, modprobe.d and the kernel command
//! line). Owns the logical-line reader shared by both (backslash continuation, line numbers
//! of the last physical line), directory precedence and masking, and typed errors that
//! carry the file and line.
#![forbid(unsafe_code)]

pub mod cmdline;
pub mod depmod_d;
pub mod lines;
pub mod modprobe_d;

pub use depmod_d::{ConfigError, DepmodConfig, Override, SearchItem, Severity};
pub use lines::{logical_lines, tokens, LogicalLine};
pub use modprobe_d::{ModprobeConfig, ModprobeDError};
