//! `kmod static-nodes` (kmod-tools §12): reads `/lib/modules/$(uname -r)/modules.devname`
//! and prints the device nodes it lists in the `human`, `tmpfiles` or `devname` format, to
//! stdout or to `-o FILE` (parent directories created).

use std::io::Write;

use crate::getopt::{Getopt, HasArg, Item, LongOpt};
use crate::system;
use crate::texts::{self, Text};

const LONGS: &[LongOpt] = &[
    LongOpt::new("output", HasArg::Required, b'o' as u32),
    LongOpt::new("format", HasArg::Required, b'f' as u32),
    LongOpt::new("help", HasArg::No, b'h' as u32),
];

/// The output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Human,
    Tmpfiles,
    Devname,
}

impl Format {
    fn parse(name: &[u8]) -> Option<Format> {
        match name {
            b"human" => Some(Format::Human),
            b"tmpfiles" => Some(Format::Tmpfiles),
            b"devname" => Some(Format::Devname),
            _ => None,
        }
    }
}

/// One `modules.devname` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevnameEntry<'a> {
    pub module: &'a [u8],
    pub devname: &'a [u8],
    pub char_device: bool,
    pub major: u32,
    pub minor: u32,
}

/// `sscanf("%u")` on the start of `s`: the value and the rest (wrapping like C).
fn scan_unsigned(s: &[u8]) -> Option<(u32, &[u8])> {
    let s = &s[s.iter().take_while(|b| b.is_ascii_whitespace()).count()..];
    let (negative, s) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let digits = s.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    let mut value: u64 = 0;
    for &d in &s[..digits] {
        value = value.saturating_mul(10).saturating_add(u64::from(d - b'0'));
    }
    let value = u32::try_from(value).unwrap_or(u32::MAX);
    let value = if negative {
        value.wrapping_neg()
    } else {
        value
    };
    Some((value, &s[digits..]))
}

/// Parse `<module> <devname> <c|b><major>:<minor>` (`%s %s %c%u:%u`).
pub fn parse_entry(line: &[u8]) -> Option<DevnameEntry<'_>> {
    let is_space = |b: &u8| b.is_ascii_whitespace();
    let mut rest = line;
    let mut word = || {
        let start = rest.iter().take_while(|b| is_space(b)).count();
        let len = rest[start..].iter().take_while(|b| !is_space(b)).count();
        let w = &rest[start..start + len];
        rest = &rest[start + len..];
        (!w.is_empty()).then_some(w)
    };
    let module = word()?;
    let devname = word()?;
    let tail = rest;
    let tail = &tail[tail.iter().take_while(|b| is_space(b)).count()..];
    let (&kind, tail) = tail.split_first()?;
    let (major, tail) = scan_unsigned(tail)?;
    let tail = tail.strip_prefix(b":")?;
    let (minor, _) = scan_unsigned(tail)?;
    let char_device = match kind {
        b'c' => true,
        b'b' => false,
        _ => return None,
    };
    Some(DevnameEntry {
        module,
        devname,
        char_device,
        major,
        minor,
    })
}

/// The output of one entry in a format.
pub fn format_entry(entry: &DevnameEntry, format: Format) -> Vec<u8> {
    let mut out = Vec::new();
    let kind = if entry.char_device { b'c' } else { b'b' };
    let (major, minor) = (entry.major, entry.minor);
    match format {
        Format::Human => {
            out.extend_from_slice(b"Module: ");
            out.extend_from_slice(entry.module);
            out.extend_from_slice(b"\n\tDevice node: /dev/");
            out.extend_from_slice(entry.devname);
            let word = if entry.char_device {
                "character"
            } else {
                "block"
            };
            out.extend_from_slice(
                format!("\n\t\tType: {word} device\n\t\tMajor: {major}\n\t\tMinor: {minor}\n")
                    .as_bytes(),
            );
        }
        Format::Tmpfiles => {
            if let Some(slash) = entry.devname.iter().rposition(|&b| b == b'/') {
                out.extend_from_slice(b"d /dev/");
                out.extend_from_slice(&entry.devname[..slash]);
                out.extend_from_slice(b" 0755 - - -\n");
            }
            out.push(kind);
            out.extend_from_slice(b"! /dev/");
            out.extend_from_slice(entry.devname);
            out.extend_from_slice(format!(" 0600 - - - {major}:{minor}\n").as_bytes());
        }
        Format::Devname => {
            out.extend_from_slice(entry.module);
            out.push(b' ');
            out.extend_from_slice(entry.devname);
            out.push(b' ');
            out.push(kind);
            out.extend_from_slice(format!("{major}:{minor}\n").as_bytes());
        }
    }
    out
}

/// Convert a whole `modules.devname`; invalid lines are reported on `errors` (with their
/// newline) and make the result false.
pub fn convert(input: &[u8], format: Format, out: &mut Vec<u8>, errors: &mut Vec<u8>) -> bool {
    let mut ok = true;
    for line in input.split_inclusive(|&b| b == b'\n') {
        if line.first() == Some(&b'#') {
            continue;
        }
        match parse_entry(line) {
            Some(entry) => out.extend_from_slice(&format_entry(&entry, format)),
            None => {
                errors.extend_from_slice(&Text::InvalidDevnameEntry(line).render());
                ok = false;
            }
        }
    }
    ok
}

fn help(prog: &[u8]) {
    let mut text = b"Usage:\n\tkmod ".to_vec();
    text.extend_from_slice(prog);
    text.extend_from_slice(
        b" [options]\n\n\
          Print the static device nodes of the running kernel's modules.\n\n\
          Options:\n\
          \t-f, --format=FORMAT  human (default), tmpfiles or devname\n\
          \t-o, --output=FILE    write to FILE (parent directories are created)\n\
          \t-h, --help           print this help and exit\n",
    );
    let _ = std::io::stdout().write_all(&text);
}

/// The errno kmod reports when the parent directory cannot be made because an existing
/// ancestor is not a directory: kmod walks up with `stat` and gives up at the first
/// existing path without setting errno, so it prints errno as left by the last failed
/// `stat` (ENOTDIR below a file), or 0 ("Success") when the parent itself is that file.
fn parent_blocked_errno(parent: &std::path::Path) -> Option<i32> {
    let existing = parent.ancestors().find(|a| std::fs::metadata(a).is_ok())?;
    if std::fs::metadata(existing).ok()?.is_dir() {
        return None;
    }
    Some(if existing == parent { 0 } else { ENOTDIR })
}

const ENOTDIR: i32 = 20;

fn create_output(path: &[u8]) -> Result<std::fs::File, ()> {
    let file = system::path(path);
    if let Some(parent) = file.parent().filter(|p| !p.as_os_str().is_empty()) {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o755);
        let result = match parent_blocked_errno(parent) {
            Some(errno) => Err(errno),
            None => builder.create(parent).map_err(|e| texts::errno_of(&e)),
        };
        if let Err(errno) = result {
            texts::eprint_line(&Text::CouldNotCreateParent(path, errno).render());
            return Err(());
        }
    }
    std::fs::File::create(&file).map_err(|err| {
        texts::eprint_line(&Text::CouldNotCreate(path, texts::errno_of(&err)).render());
    })
}

/// `static-nodes ARGS...` (`argv[0]` is the command name): exit status 0 or 1.
pub fn main(argv: &[Vec<u8>]) -> i32 {
    let prog = argv.first().map(Vec::as_slice).unwrap_or(b"static-nodes");
    let mut output: Option<Vec<u8>> = None;
    let mut format = Format::Human;
    for item in Getopt::new(argv, "o:f:h", LONGS) {
        match item {
            Item::Error(text) => {
                let _ = std::io::stderr().write_all(&text);
                return 1;
            }
            Item::Opt(v, arg) if v == u32::from(b'o') => output = arg,
            Item::Opt(v, arg) if v == u32::from(b'f') => {
                let arg = arg.unwrap_or_default();
                match Format::parse(&arg) {
                    Some(f) => format = f,
                    None => {
                        texts::eprint_line(&Text::UnknownFormat(&arg).render());
                        help(prog);
                        return 1;
                    }
                }
            }
            Item::Opt(v, _) if v == u32::from(b'h') => {
                help(prog);
                return 0;
            }
            Item::Opt(v, _) => {
                let text = format!("Unexpected commandline option '{}'.", v as u8 as char);
                texts::eprint_line(text.as_bytes());
                help(prog);
                return 1;
            }
        }
    }
    let mut devname = system::running_module_dir();
    devname.extend_from_slice(b"/modules.devname");
    let input = match std::fs::read(system::path(&devname)) {
        Ok(input) => input,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            texts::eprint_line(&Text::DevnameNotFound(&devname).render());
            return 0;
        }
        Err(err) => {
            texts::eprint_line(&Text::CouldNotOpen(&devname, texts::errno_of(&err)).render());
            return 1;
        }
    };
    // The output is opened after the input and before any line is read.
    let file = match &output {
        Some(path) => match create_output(path) {
            Ok(file) => Some(file),
            Err(()) => return 1,
        },
        None => None,
    };
    let mut out = Vec::new();
    let mut errors = Vec::new();
    let ok = convert(&input, format, &mut out, &mut errors);
    // kmod reports bad lines as it meets them on unbuffered stderr, while its stdout is
    // flushed at exit: the errors come first.
    let _ = std::io::stderr().write_all(&errors);
    let written = match file {
        Some(mut file) => file.write_all(&out).is_ok(),
        None => std::io::stdout().write_all(&out).is_ok(),
    };
    if ok && written {
        0
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        let entry = parse_entry(b"fuse fuse c10:229\n").unwrap();
        assert_eq!(
            format_entry(&entry, Format::Human),
            b"Module: fuse\n\tDevice node: /dev/fuse\n\t\tType: character device\n\t\tMajor: 10\n\t\tMinor: 229\n"
        );
        assert_eq!(
            format_entry(&entry, Format::Devname),
            b"fuse fuse c10:229\n"
        );
        let entry = parse_entry(b"loop loop-control b10:237\n").unwrap();
        assert_eq!(
            format_entry(&entry, Format::Tmpfiles),
            b"b! /dev/loop-control 0600 - - - 10:237\n"
        );
        let entry = parse_entry(b"tun net/tun c10:200").unwrap();
        assert_eq!(
            format_entry(&entry, Format::Tmpfiles),
            b"d /dev/net 0755 - - -\nc! /dev/net/tun 0600 - - - 10:200\n"
        );
    }

    #[test]
    fn blocked_parent_errno_is_kmods() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        std::fs::write(&file, b"").unwrap();
        assert_eq!(parent_blocked_errno(&file), Some(0));
        assert_eq!(parent_blocked_errno(&file.join("x")), Some(ENOTDIR));
        assert_eq!(parent_blocked_errno(&dir.path().join("new/dir")), None);
        assert_eq!(
            Text::CouldNotCreateParent(b"/f/x", 0).to_string_lossy(),
            "Error: could not create parent directory for /f/x - Success."
        );
    }

    #[test]
    fn invalid_lines_are_reported_and_skipped() {
        let input = b"# header\nbad line\nfuse fuse x10:229\ntun net/tun c10:200\n";
        let (mut out, mut errors) = (Vec::new(), Vec::new());
        assert!(!convert(input, Format::Devname, &mut out, &mut errors));
        assert_eq!(out, b"tun net/tun c10:200\n");
        assert_eq!(
            errors,
            b"Error: invalid devname entry: bad line\nError: invalid devname entry: fuse fuse x10:229\n"
        );
    }
}
