//! Install and remove commands (kmod-tools §6.8): every `$CMDLINE_OPTS` is replaced by the
//! module's final options, and the command runs like `system()` — `/bin/sh -c COMMAND` —
//! with `MODPROBE_MODULE=<name>` in its environment. As with `system()`, only the exit
//! status counts: a command killed by a signal has exit status 0 as `WEXITSTATUS` sees it.

use std::process::Command;

use crate::Errno;

/// `$CMDLINE_OPTS`, replaced in commands.
pub const CMDLINE_OPTS: &[u8] = b"$CMDLINE_OPTS";

/// `command` with every `$CMDLINE_OPTS` replaced by `options`.
pub fn substitute(command: &[u8], options: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(command.len() + options.len());
    let mut rest = command;
    while let Some(at) = rest
        .windows(CMDLINE_OPTS.len())
        .position(|w| w == CMDLINE_OPTS)
    {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(options);
        rest = &rest[at + CMDLINE_OPTS.len()..];
    }
    out.extend_from_slice(rest);
    out
}

/// Why a command failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// The shell could not be started.
    #[error("could not run the command: {0}")]
    NotRun(Errno),
    /// The command exited with a non-zero status.
    #[error("the command exited with status {0}")]
    Failed(i32),
}

/// Run an already substituted command for module `name`.
pub fn run(command: &[u8], name: &[u8]) -> Result<(), CommandError> {
    use std::os::unix::ffi::OsStrExt;
    let status = Command::new("/bin/sh")
        .arg("-c")
        .arg(std::ffi::OsStr::from_bytes(command))
        .env("MODPROBE_MODULE", std::ffi::OsStr::from_bytes(name))
        .status()
        .map_err(|e| CommandError::NotRun(Errno::from_io_error(&e).unwrap_or(Errno::IO)))?;
    match status.code() {
        Some(0) | None => Ok(()),
        Some(code) => Err(CommandError::Failed(code)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_occurrence_is_substituted() {
        assert_eq!(
            substitute(b"a $CMDLINE_OPTS b $CMDLINE_OPTS", b"x=1 "),
            b"a x=1  b x=1 "
        );
        assert_eq!(substitute(b"no opts", b"x"), b"no opts");
        assert_eq!(substitute(b"$CMDLINE_OPT", b"x"), b"$CMDLINE_OPT");
    }

    #[test]
    fn exit_status_and_environment() {
        assert_eq!(run(b"exit 3", b"m"), Err(CommandError::Failed(3)));
        assert_eq!(run(b"test \"$MODPROBE_MODULE\" = m-x", b"m-x"), Ok(()));
        assert_eq!(run(b"kill -9 $$", b"m"), Ok(()));
    }
}
