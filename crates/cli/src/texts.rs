//! The one table of kmod's exact words: error kinds and errnos become the texts kmod 30
//! prints (strerror as glibc words it, message templates of each tool).

/// glibc's `strerror(errno)` text, e.g. `No such file or directory`.
pub fn strerror(errno: i32) -> String {
    let text = std::io::Error::from_raw_os_error(errno).to_string();
    // std appends " (os error N)" to glibc's text.
    match text.rfind(" (os error ") {
        Some(cut) => text[..cut].to_string(),
        None => text,
    }
}

/// The errno of an I/O error (EIO when the error carries none).
pub fn errno_of(err: &std::io::Error) -> i32 {
    err.raw_os_error().unwrap_or(EIO)
}

pub const ENOENT: i32 = 2;
pub const EIO: i32 = 5;
pub const EINVAL: i32 = 22;
pub const ESRCH: i32 = 3;
pub const ENOEXEC: i32 = 8;
pub const EEXIST: i32 = 17;

/// Message kinds of the tools, each rendered with kmod's wording (without the
/// `<prog>: <LEVEL>: ` prefix and without the final newline).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Text<'a> {
    // depmod
    BadVersion(&'a [u8]),
    PrefixSingleChar,
    NotAbsolutePath(&'a [u8]),
    ErrsymsNeedsSymbols,
    IgnoredDeprecatedShort(u8),
    IgnoredDeprecatedLong(&'a str),
    BadIndexLayout(&'a [u8]),
    // modinfo
    MissingModule,
    ModuleNameNotFound(&'a [u8]),
    ModuleNotFound(&'a [u8]),
    ModuleAliasNotFound(&'a [u8]),
    ModuleFileNotFound(&'a [u8]),
    CouldNotGetModinfo(&'a [u8], i32),
    InvalidParm(&'a [u8], &'a [u8]),
    // kmod
    MissingCommand,
    InvalidCommand(&'a [u8]),
    // static-nodes
    UnknownFormat(&'a [u8]),
    DevnameNotFound(&'a [u8]),
    CouldNotOpen(&'a [u8], i32),
    InvalidDevnameEntry(&'a [u8]),
    CouldNotCreateParent(&'a [u8], i32),
    CouldNotCreate(&'a [u8], i32),
    // list
    CouldNotOpenProcModules(&'a [u8], i32),
    CouldNotGetModuleList(i32),
    // modprobe
    MissingParameters,
    UnexpectedWait(&'a [u8]),
    NotFoundInDirectory(&'a [u8], &'a [u8]),
    CouldNotInsert(&'a [u8], i32),
    CouldNotGetSymbols(&'a [u8], &'a [u8], i32),
    NotInKernel(&'a [u8]),
    IsBuiltin(&'a [u8]),
    InUse(&'a [u8]),
    RemoveCommandFailed(&'a [u8]),
    UnexpectedGetopt(u8),
    // libkmod, as kmod 30 words it
    InstallCommandFailed(&'a [u8], &'a [u8], i32),
    CommandNotRun(&'a [u8], &'a [u8], i32),
    CouldNotFindModuleByName(&'a [u8]),
    FailedToInsertModule(&'a [u8], i32),
    CouldNotRemove(&'a [u8], i32),
    SoftdepLookupFailed(&'a [u8]),
    HoldersUnreadable(&'a [u8], i32),
    // insmod
    MissingFilename,
    NoStdin,
    CouldNotLoadModule(&'a [u8], i32),
    CouldNotInsertModule(&'a [u8], i32),
    // rmmod
    MissingModuleName,
    RmmodBuiltin(&'a [u8]),
    NotCurrentlyLoaded(&'a [u8]),
    InUseBy(&'a [u8], &'a [u8]),
    RmmodInUse(&'a [u8]),
    UnloadingNotSupported,
    CouldNotRemoveModule(&'a [u8], i32),
}

/// kmod's texts for insertion errors of modprobe: ENOENT and EEXIST get their own words.
pub fn insert_error(errno: i32) -> String {
    match errno {
        ENOENT => "Unknown symbol in module, or unknown parameter (see dmesg)".into(),
        EEXIST => "Module already in kernel".into(),
        e => strerror(e),
    }
}

/// insmod's texts for insertion errors.
pub fn insmod_error(errno: i32) -> String {
    match errno {
        ENOEXEC => "Invalid module format".into(),
        ENOENT => "Unknown symbol in module".into(),
        ESRCH => "Module has wrong symbol version".into(),
        EINVAL => "Invalid parameters".into(),
        e => strerror(e),
    }
}

/// Where a libkmod message comes from in Debian's kmod 30 (a debug build, which prints
/// the source location in every library message).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin {
    pub file: &'static str,
    pub line: u32,
    pub function: &'static str,
}

impl Origin {
    const fn new(file: &'static str, line: u32, function: &'static str) -> Origin {
        Origin {
            file,
            line,
            function,
        }
    }
    pub const CONFIG_BAD_LINE: Origin = Origin::new("libkmod-config.c", 712, "kmod_config_parse");
    pub const CONFIG_DEPRECATED: Origin = Origin::new("libkmod-config.c", 708, "kmod_config_parse");
    pub const CONFIG_NESTED_DIR: Origin =
        Origin::new("libkmod-config.c", 772, "conf_files_filter_out");
    pub const CONFIG_OPENDIR: Origin = Origin::new("libkmod-config.c", 868, "conf_files_list");
    pub const COMMAND_DO: Origin = Origin::new("libkmod-module.c", 1047, "command_do");
    pub const INSERT_NOT_FOUND: Origin =
        Origin::new("libkmod-module.c", 895, "kmod_module_insert_module");
    pub const INSERT_FAILED: Origin =
        Origin::new("libkmod-module.c", 949, "kmod_module_insert_module");
    pub const REMOVE: Origin = Origin::new("libkmod-module.c", 856, "kmod_module_remove_module");
    pub const SOFTDEP: Origin = Origin::new("libkmod-module.c", 1567, "lookup_softdep");
    pub const HOLDERS: Origin = Origin::new("libkmod-module.c", 1998, "kmod_module_get_holders");

    /// The line libkmod's default logger prints (before a tool installs its own):
    /// `libkmod: ERROR ../libkmod/<file>:<line> <function>: <message>`.
    pub fn default_logger(&self, level: &str, message: &[u8]) -> Vec<u8> {
        let mut out = format!(
            "libkmod: {level} ../libkmod/{}:{} {}: ",
            self.file, self.line, self.function
        )
        .into_bytes();
        out.extend_from_slice(message);
        out
    }

    /// The message text as a tool's logger receives it: `../libkmod/<file>:<line>
    /// <function>() <message>`.
    pub fn tool_text(&self, message: &[u8]) -> Vec<u8> {
        let mut out = format!(
            "../libkmod/{}:{} {}() ",
            self.file, self.line, self.function
        )
        .into_bytes();
        out.extend_from_slice(message);
        out
    }
}

fn lossy(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(bytes)
}

impl Text<'_> {
    /// The message as bytes (arguments are kept byte for byte).
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut put = |parts: &[&[u8]]| {
            for p in parts {
                out.extend_from_slice(p);
            }
        };
        match self {
            Text::BadVersion(v) => put(&[b"Bad version passed ", v]),
            Text::PrefixSingleChar => put(&[b"-P only takes a single char"]),
            Text::NotAbsolutePath(p) => put(&[p, b": not absolute path."]),
            Text::ErrsymsNeedsSymbols => put(&[b"-e needs -E or -F"]),
            Text::IgnoredDeprecatedShort(c) => put(&[b"Ignored deprecated option -", &[*c]]),
            Text::IgnoredDeprecatedLong(n) => put(&[b"Ignored deprecated option --", n.as_bytes()]),
            Text::BadIndexLayout(v) => put(&[
                b"invalid --index-layout '",
                v,
                b"': expected 'pre-order' or 'post-order'",
            ]),
            Text::MissingModule => put(&[b"missing module or filename."]),
            Text::ModuleNameNotFound(n) => put(&[b"Module name ", n, b" not found."]),
            Text::ModuleNotFound(n) => put(&[b"Module ", n, b" not found."]),
            Text::ModuleAliasNotFound(n) => put(&[b"Module alias ", n, b" not found."]),
            Text::ModuleFileNotFound(n) => put(&[b"Module file ", n, b" not found."]),
            Text::CouldNotGetModinfo(n, e) => put(&[
                b"could not get modinfo from '",
                n,
                b"': ",
                strerror(*e).as_bytes(),
            ]),
            Text::InvalidParm(k, v) => put(&[b"Found invalid \"", k, b"=", v, b"\": missing ':'"]),
            Text::MissingCommand => put(&[b"missing command"]),
            Text::InvalidCommand(c) => put(&[b"invalid command '", c, b"'"]),
            Text::UnknownFormat(f) => put(&[b"Unknown format: '", f, b"'."]),
            Text::DevnameNotFound(p) => put(&[b"Warning: ", p, b" not found - ignoring"]),
            Text::CouldNotOpen(p, e) => put(&[
                b"Error: could not open ",
                p,
                b" - ",
                strerror(*e).as_bytes(),
            ]),
            Text::InvalidDevnameEntry(l) => put(&[b"Error: invalid devname entry: ", l]),
            Text::CouldNotCreateParent(p, e) => put(&[
                b"Error: could not create parent directory for ",
                p,
                b" - ",
                strerror(*e).as_bytes(),
                b".",
            ]),
            Text::CouldNotCreate(p, e) => put(&[
                b"Error: could not create ",
                p,
                b" - ",
                strerror(*e).as_bytes(),
            ]),
            Text::CouldNotOpenProcModules(p, e) => put(&[
                b"libkmod: ERROR: kmod_module_new_from_loaded: could not open ",
                p,
                b": ",
                strerror(*e).as_bytes(),
            ]),
            Text::CouldNotGetModuleList(e) => put(&[
                b"Error: could not get list of modules: ",
                strerror(*e).as_bytes(),
            ]),
            Text::MissingParameters => put(&[b"missing parameters. See -h."]),
            Text::UnexpectedWait(v) => put(&[b"unexpected wait value '", v, b"'."]),
            Text::NotFoundInDirectory(m, d) => {
                put(&[b"Module ", m, b" not found in directory ", d])
            }
            Text::CouldNotInsert(m, e) => put(&[
                b"could not insert '",
                m,
                b"': ",
                insert_error(*e).as_bytes(),
            ]),
            Text::CouldNotGetSymbols(what, f, e) => put(&[
                b"could not get ",
                what,
                b" of ",
                f,
                b": ",
                strerror(*e).as_bytes(),
            ]),
            Text::NotInKernel(m) => put(&[b"Module ", m, b" is not in kernel."]),
            Text::IsBuiltin(m) => put(&[b"Module ", m, b" is builtin."]),
            Text::InUse(m) => put(&[b"Module ", m, b" is in use."]),
            Text::RemoveCommandFailed(m) => put(&[b"Error running remove command for ", m]),
            Text::UnexpectedGetopt(c) => put(&[b"unexpected getopt_long() value '", &[*c], b"'."]),
            Text::InstallCommandFailed(c, m, r) => put(&[
                b"Error running install command '",
                c,
                b"' for module ",
                m,
                b": retcode ",
                r.to_string().as_bytes(),
            ]),
            Text::CommandNotRun(c, m, e) => put(&[
                b"Could not run install command '",
                c,
                b"' for module ",
                m,
                b": ",
                strerror(*e).as_bytes(),
            ]),
            Text::CouldNotFindModuleByName(m) => {
                put(&[b"could not find module by name='", m, b"'"])
            }
            Text::FailedToInsertModule(p, e) => put(&[
                b"Failed to insert module '",
                p,
                b"': ",
                strerror(*e).as_bytes(),
            ]),
            Text::CouldNotRemove(m, e) => {
                put(&[b"could not remove '", m, b"': ", strerror(*e).as_bytes()])
            }
            Text::SoftdepLookupFailed(m) => put(&[
                b"failed to lookup soft dependency '",
                m,
                b"', continuing anyway.",
            ]),
            Text::HoldersUnreadable(m, e) => put(&[
                b"could not open '/sys/module/",
                m,
                b"/holders': ",
                strerror(*e).as_bytes(),
            ]),
            Text::MissingFilename => put(&[b"missing filename."]),
            Text::NoStdin => put(&[b"this tool does not support loading from stdin!"]),
            Text::CouldNotLoadModule(f, e) => {
                put(&[b"could not load module ", f, b": ", strerror(*e).as_bytes()])
            }
            Text::CouldNotInsertModule(f, e) => put(&[
                b"could not insert module ",
                f,
                b": ",
                insmod_error(*e).as_bytes(),
            ]),
            Text::MissingModuleName => put(&[b"missing module name."]),
            Text::RmmodBuiltin(m) => put(&[b"Module ", m, b" is builtin."]),
            Text::NotCurrentlyLoaded(m) => put(&[b"Module ", m, b" is not currently loaded"]),
            Text::InUseBy(m, h) => put(&[b"Module ", m, b" is in use by: ", h]),
            Text::RmmodInUse(m) => put(&[b"Module ", m, b" is in use"]),
            Text::UnloadingNotSupported => put(&[b"Module unloading is not supported"]),
            Text::CouldNotRemoveModule(m, e) => put(&[
                b"could not remove module ",
                m,
                b": ",
                strerror(*e).as_bytes(),
            ]),
        }
        out
    }

    /// The message as text (lossy), for tests and logs.
    #[allow(dead_code)]
    pub fn to_string_lossy(&self) -> String {
        lossy(&self.render()).into_owned()
    }
}

/// Severity words of `<prog>: <LEVEL>: ` prefixes.
pub fn level_word(level: modkit_depmod::Level) -> &'static str {
    use modkit_depmod::Level;
    match level {
        Level::Fatal => "FATAL",
        Level::Error => "ERROR",
        Level::Warning => "WARNING",
        Level::Notice => "NOTICE",
        Level::Info => "INFO",
        Level::Debug => "DEBUG",
    }
}

/// Write `<prog>: <LEVEL>: <text>\n` to stderr.
pub fn log(prog: &str, level: modkit_depmod::Level, text: &[u8]) {
    use std::io::Write;
    let mut line = format!("{prog}: {}: ", level_word(level)).into_bytes();
    line.extend_from_slice(text);
    line.push(b'\n');
    let _ = std::io::stderr().write_all(&line);
}

/// Write a raw line (no prefix) to stderr.
pub fn eprint_line(text: &[u8]) {
    use std::io::Write;
    let mut line = text.to_vec();
    line.push(b'\n');
    let _ = std::io::stderr().write_all(&line);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strerror_matches_glibc() {
        assert_eq!(strerror(ENOENT), "No such file or directory");
        assert_eq!(strerror(8), "Exec format error");
        assert_eq!(strerror(EINVAL), "Invalid argument");
    }

    #[test]
    fn templates() {
        assert_eq!(
            Text::CouldNotGetModinfo(b"e", EINVAL).to_string_lossy(),
            "could not get modinfo from 'e': Invalid argument"
        );
        assert_eq!(
            Text::InvalidParm(b"parm", b"x").to_string_lossy(),
            "Found invalid \"parm=x\": missing ':'"
        );
        assert_eq!(
            Text::IgnoredDeprecatedLong("map").to_string_lossy(),
            "Ignored deprecated option --map"
        );
        assert_eq!(
            Text::CouldNotCreateParent(b"/x/y", ENOENT).to_string_lossy(),
            "Error: could not create parent directory for /x/y - No such file or directory."
        );
    }
}
