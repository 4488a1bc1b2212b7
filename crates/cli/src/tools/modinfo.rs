//! The modinfo front-end (kmod-tools §11), as kmod 30 behaves: options
//! `adlpn0mF:k:b:Vh`, path-or-name decision, lookups through the module database with
//! libkmod's stdio value order, and the exact output format (padding with kmod 30's
//! long-key quirk, `-F`, `-0`, merged parameters, built-ins, signature lines).

use std::io::Write;
use std::path::PathBuf;

use modkit_depmod::database::{Database, Found, InfoList};
use modkit_elf::{Signature, SignatureId};
use modkit_index::ValueOrder;

use crate::getopt::{Getopt, HasArg, Item, LongOpt};
use crate::system;
use crate::texts::{self, Text};

const fn c(ch: u8) -> u32 {
    ch as u32
}

/// kmod 30's long options, in its order (the order shows in "ambiguous" messages).
const LONGS: &[LongOpt] = &[
    LongOpt::new("author", HasArg::No, c(b'a')),
    LongOpt::new("description", HasArg::No, c(b'd')),
    LongOpt::new("license", HasArg::No, c(b'l')),
    LongOpt::new("parameters", HasArg::No, c(b'p')),
    LongOpt::new("filename", HasArg::No, c(b'n')),
    LongOpt::new("null", HasArg::No, c(b'0')),
    LongOpt::new("modname", HasArg::No, c(b'm')),
    LongOpt::new("field", HasArg::Required, c(b'F')),
    LongOpt::new("set-version", HasArg::Required, c(b'k')),
    LongOpt::new("basedir", HasArg::Required, c(b'b')),
    LongOpt::new("version", HasArg::No, c(b'V')),
    LongOpt::new("help", HasArg::No, c(b'h')),
];

const HELP: &str = "\
Usage:
\tmodinfo [options] <module name|alias|file> [...]

Show the information a kernel module carries (.modinfo, parameters, signature).

Options:
\t-a, --author             show only the author
\t-d, --description        show only the description
\t-l, --license            show only the license
\t-p, --parameters         show only the parameters
\t-n, --filename           show only the file name
\t-0, --null               end each value with a NUL byte instead of a newline
\t-m, --modname            take each argument as a module name (no alias, no file)
\t-F, --field=FIELD        show only the values of FIELD
\t-k, --set-version=VER    look modules up for kernel VER instead of `uname -r`
\t-b, --basedir=DIR        look modules up under DIR/lib/modules
\t-V, --version            print the version and exit
\t-h, --help               print this help and exit
";

/// File endings that make an existing regular file a module path. Like Debian's kmod 30
/// (built without zlib), and like modkit's depmod, `.ko.gz` is not one: such an argument
/// is looked up as a name.
const MODULE_EXTENSIONS: &[&[u8]] = &[b".ko", b".ko.xz", b".ko.zst"];

/// The command line.
#[derive(Debug, Default)]
struct Settings {
    field: Option<Vec<u8>>,
    separator: u8,
    modname: bool,
    kversion: Option<Vec<u8>>,
    root: Option<Vec<u8>>,
}

enum Parsed {
    Run(Settings, Vec<Vec<u8>>),
    Exit(i32),
}

fn parse(argv: &[Vec<u8>]) -> Parsed {
    let mut s = Settings {
        separator: b'\n',
        ..Settings::default()
    };
    let mut getopt = Getopt::new(argv, "adlpn0mF:k:b:Vh", LONGS);
    for item in getopt.by_ref() {
        let (val, arg) = match item {
            Item::Error(text) => {
                let _ = std::io::stderr().write_all(&text);
                return Parsed::Exit(1);
            }
            Item::Opt(val, arg) => (val, arg),
        };
        let field: Option<&[u8]> = match val as u8 {
            b'a' => Some(b"author"),
            b'd' => Some(b"description"),
            b'l' => Some(b"license"),
            b'p' => Some(b"parm"),
            b'n' => Some(b"filename"),
            _ => None,
        };
        if let Some(field) = field {
            s.field = Some(field.to_vec());
            continue;
        }
        match val as u8 {
            b'0' => s.separator = 0,
            b'm' => s.modname = true,
            b'F' => s.field = arg,
            b'k' => s.kversion = arg,
            b'b' => s.root = arg,
            b'V' => {
                super::print_version();
                return Parsed::Exit(0);
            }
            b'h' => {
                super::stdout(HELP.as_bytes());
                return Parsed::Exit(0);
            }
            _ => return Parsed::Exit(1),
        }
    }
    Parsed::Run(s, getopt.operands())
}

/// `<root>/lib/modules/<version>` made absolute, or `/lib/modules/$(uname -r)`.
fn module_dir(s: &Settings) -> PathBuf {
    if s.root.is_none() && s.kversion.is_none() {
        return system::path(&system::running_module_dir());
    }
    let mut dir = s.root.clone().unwrap_or_default();
    dir.extend_from_slice(b"/lib/modules/");
    match &s.kversion {
        Some(v) => dir.extend_from_slice(v),
        None => dir.extend_from_slice(&system::kernel_release()),
    }
    system::path(&system::absolute(&dir))
}

fn is_module_filename(arg: &[u8]) -> bool {
    MODULE_EXTENSIONS.iter().any(|ext| arg.ends_with(ext))
        && std::fs::metadata(system::path(arg)).is_ok_and(|m| m.is_file())
}

/// Uppercase hex bytes joined by `:`, with `\n\t\t` after every 20th byte that has a
/// successor.
pub fn hex_wrapped(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() * 3 + bytes.len() / 20 * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            out.push(b':');
            if i % 20 == 0 {
                out.extend_from_slice(b"\n\t\t");
            }
        }
        out.extend_from_slice(format!("{b:02X}").as_bytes());
    }
    out
}

/// The signature entries libkmod appends to a module's info list.
fn signature_entries(sig: &Signature) -> Vec<(Vec<u8>, Vec<u8>)> {
    let id: &[u8] = match sig.id {
        SignatureId::Pgp => b"PGP",
        SignatureId::X509 => b"X509",
        SignatureId::Pkcs7 => b"PKCS#7",
    };
    vec![
        (b"sig_id".to_vec(), id.to_vec()),
        (b"signer".to_vec(), sig.signer.clone()),
        (b"sig_key".to_vec(), hex_wrapped(&sig.key)),
        (b"sig_hashalgo".to_vec(), sig.hash_algo.as_bytes().to_vec()),
        (b"signature".to_vec(), hex_wrapped(&sig.signature)),
    ]
}

/// The info list of a module file: `.modinfo` entries then signature entries; Err is
/// the errno libkmod reports.
fn file_info(path: &std::path::Path) -> Result<InfoList, i32> {
    let bytes = read_module_file(path).map_err(|e| texts::errno_of(&e))?;
    if bytes.is_empty() {
        return Err(texts::EINVAL);
    }
    let image = modkit_elf::decompress(&bytes).map_err(|e| e.errno())?;
    let module = modkit_elf::Module::parse(&image).map_err(|e| e.errno())?;
    let mut info: InfoList = module
        .modinfo()
        .map_err(|e| e.errno())?
        .into_iter()
        .map(|(k, v)| (k.to_vec(), v.to_vec()))
        .collect();
    if let Some(sig) = Signature::parse(&image) {
        info.extend(signature_entries(&sig));
    }
    Ok(info)
}

/// The bytes of a module file: for an uncompressed ELF only `.modinfo` and the
/// signature trailer are read (the rest stays as untouched zero pages), as kmod's mmap
/// touches only those pages; anything else is read in full.
fn read_module_file(path: &std::path::Path) -> std::io::Result<Vec<u8>> {
    let file = std::fs::File::open(path)?;
    match modkit_depmod::sparse::read_sparse_for(&file, modkit_depmod::sparse::Want::Modinfo)? {
        Some(image) => Ok(image),
        None => std::fs::read(path),
    }
}

/// One module to show: its name, its file (None = shown as built-in) and whether its
/// information comes from `modules.builtin.modinfo`.
struct Shown {
    name: Vec<u8>,
    path: Option<PathBuf>,
    builtin: bool,
}

/// A parameter merged from `parm` and `parmtype` entries.
struct Param<'a> {
    name: &'a [u8],
    description: Option<&'a [u8]>,
    kind: Option<&'a [u8]>,
}

/// Merge parameters in reverse order of first appearance; invalid entries become
/// error messages.
fn merge_params<'a>(info: &'a [(Vec<u8>, Vec<u8>)], errors: &mut Vec<Vec<u8>>) -> Vec<Param<'a>> {
    let mut params: Vec<Param<'a>> = Vec::new();
    for (key, value) in info {
        let is_parm = key.as_slice() == b"parm";
        if !is_parm && key.as_slice() != b"parmtype" {
            continue;
        }
        let Some(colon) = value.iter().position(|&b| b == b':') else {
            errors.push(Text::InvalidParm(key, value).render());
            continue;
        };
        let (name, text) = (&value[..colon], &value[colon + 1..]);
        let index = match params.iter().position(|p| p.name == name) {
            Some(i) => i,
            None => {
                params.push(Param {
                    name,
                    description: None,
                    kind: None,
                });
                params.len() - 1
            }
        };
        if is_parm {
            params[index].description = Some(text);
        } else {
            params[index].kind = Some(text);
        }
    }
    params.reverse();
    params
}

/// `parm:` lines (full output) or the `-F parm` values.
fn write_params(out: &mut Vec<u8>, params: &[Param], labelled: bool, sep: u8) {
    for p in params {
        if labelled {
            out.extend_from_slice(b"parm:           ");
        }
        out.extend_from_slice(p.name);
        out.push(b':');
        match (p.description, p.kind) {
            (Some(d), Some(t)) => {
                out.extend_from_slice(d);
                out.extend_from_slice(b" (");
                out.extend_from_slice(t);
                out.push(b')');
            }
            (Some(d), None) => out.extend_from_slice(d),
            (None, Some(t)) if labelled => out.extend_from_slice(t),
            (None, Some(t)) => {
                out.extend_from_slice(b" (");
                out.extend_from_slice(t);
                out.push(b')');
            }
            (None, None) => {}
        }
        out.push(sep);
    }
}

/// `<key>:` and kmod 30's padding (`%-*s` with width `15 - len`, negative = left-justify).
fn write_padded(out: &mut Vec<u8>, key: &[u8], value: &[u8], sep: u8) {
    out.extend_from_slice(key);
    out.push(b':');
    let pad = 15usize.abs_diff(key.len());
    out.resize(out.len() + pad, b' ');
    out.extend_from_slice(value);
    out.push(sep);
}

/// The lines before the module's information: `name:` (built-ins) and `filename:`, or
/// the `-F filename` / `-F name` values. False when nothing else is to be printed.
fn write_header(m: &Shown, field: Option<&[u8]>, sep: u8, out: &mut Vec<u8>) -> bool {
    let shown_builtin = m.path.is_none();
    let filename: &[u8] = match &m.path {
        Some(p) => system::bytes(p),
        None => b"(builtin)",
    };
    match field {
        Some(b"filename") => {
            out.extend_from_slice(filename);
            out.push(sep);
            return false;
        }
        None => {
            if shown_builtin {
                write_padded(out, b"name", &m.name, sep);
            }
            write_padded(out, b"filename", filename, sep);
        }
        Some(b"name") if shown_builtin => {
            out.extend_from_slice(&m.name);
            out.push(sep);
        }
        Some(_) => {}
    }
    true
}

/// The module's information list (`kmod_module_get_info`); Err is an errno.
fn module_info(db: &Database, m: &Shown) -> Result<InfoList, i32> {
    if m.builtin || (m.path.is_none() && db.is_builtin(&m.name)) {
        return db.builtin_modinfo(&m.name).map_err(|e| e.errno());
    }
    match &m.path {
        Some(path) => file_info(path),
        None => Err(texts::ENOENT),
    }
}

/// The entries (all but parameters, or only `field`), then the parameters.
fn write_info(info: &InfoList, field: Option<&[u8]>, sep: u8, out: &mut Vec<u8>) {
    let mut errors = Vec::new();
    match field {
        Some(b"parm") => write_params(out, &merge_params(info, &mut errors), false, sep),
        Some(field) => {
            for (_, value) in info.iter().filter(|(key, _)| key.as_slice() == field) {
                out.extend_from_slice(value);
                out.push(sep);
            }
        }
        None => {
            for (key, value) in info {
                if key.as_slice() == b"parm" || key.as_slice() == b"parmtype" {
                    continue;
                }
                if sep == 0 {
                    out.extend_from_slice(key);
                    out.push(b'=');
                    out.extend_from_slice(value);
                    out.push(sep);
                } else {
                    write_padded(out, key, value, sep);
                }
            }
            write_params(out, &merge_params(info, &mut errors), true, sep);
        }
    }
    for e in errors {
        texts::log("modinfo", modkit_depmod::Level::Error, &e);
    }
}

/// Print one module (`modinfo_do`); Err(()) after an error message.
fn show(db: &Database, s: &Settings, m: &Shown, out: &mut Vec<u8>) -> Result<(), ()> {
    let field = s.field.as_deref();
    if !write_header(m, field, s.separator, out) {
        return Ok(());
    }
    match module_info(db, m) {
        Ok(info) => {
            write_info(&info, field, s.separator, out);
            Ok(())
        }
        // No information about a module shown as built-in (old kernels): silence.
        Err(errno) if m.path.is_none() && errno == texts::ENOENT => Ok(()),
        Err(errno) => {
            error(Text::CouldNotGetModinfo(&m.name, errno));
            Err(())
        }
    }
}

fn error(text: Text) {
    texts::log("modinfo", modkit_depmod::Level::Error, &text.render());
}

fn from_found(found: Found) -> Shown {
    Shown {
        name: found.name,
        path: found.path,
        builtin: found.builtin,
    }
}

/// One command-line argument: Ok(()) or Err(()) after its error message.
fn do_argument(db: &Database, s: &Settings, arg: &[u8], out: &mut Vec<u8>) -> Result<(), ()> {
    if s.modname {
        let Some(found) = db.lookup_modname(arg) else {
            error(Text::ModuleNameNotFound(arg));
            return Err(());
        };
        return show(db, s, &from_found(found), out);
    }
    if is_module_filename(arg) {
        let Some(path) = system::try_absolute(arg) else {
            error(Text::ModuleFileNotFound(arg));
            return Err(());
        };
        let shown = Shown {
            name: modkit_index::names::path_to_modname(arg),
            path: Some(system::path(&path)),
            builtin: false,
        };
        return show(db, s, &shown, out);
    }
    let found = match db.lookup(arg) {
        Ok(found) => found,
        Err(_) => {
            error(Text::ModuleAliasNotFound(arg));
            return Err(());
        }
    };
    if found.is_empty() {
        error(Text::ModuleNotFound(arg));
        return Err(());
    }
    let mut result = Ok(());
    for m in found {
        if show(db, s, &from_found(m), out).is_err() {
            result = Err(());
        }
    }
    result
}

/// `modinfo ARGS...`: exit status 0 or 1.
pub fn main(argv: &[Vec<u8>]) -> i32 {
    let (settings, operands) = match parse(argv) {
        Parsed::Run(s, operands) => (s, operands),
        Parsed::Exit(status) => return status,
    };
    if operands.is_empty() {
        error(Text::MissingModule);
        return 1;
    }
    let db = Database::open(module_dir(&settings)).with_order(ValueOrder::Stdio);
    // Like kmod's stdio on a pipe: stdout is buffered, error messages go out at once.
    let mut out = Vec::new();
    let mut stdout = std::io::stdout().lock();
    let mut status = 0;
    for arg in &operands {
        if do_argument(&db, &settings, arg, &mut out).is_err() {
            status = 1;
        }
        if out.len() >= 1 << 16 {
            let _ = stdout.write_all(&out);
            out.clear();
        }
    }
    let _ = stdout.write_all(&out);
    let _ = stdout.flush();
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(list: &[(&str, &str)]) -> Vec<(Vec<u8>, Vec<u8>)> {
        list.iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn hex_wraps_after_twenty_bytes() {
        assert_eq!(hex_wrapped(&[]), b"");
        assert_eq!(hex_wrapped(&[0x0e, 0xd4]), b"0E:D4");
        let twenty: Vec<u8> = (0..20).collect();
        assert!(!hex_wrapped(&twenty).contains(&b'\n'));
        let text = String::from_utf8(hex_wrapped(&(0..41).collect::<Vec<u8>>())).unwrap();
        let lines: Vec<&str> = text.split('\n').collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].ends_with("13:"));
        assert!(lines[1].starts_with("\t\t14:"));
        assert_eq!(lines[2], "\t\t28");
    }

    #[test]
    fn padding_emulates_kmod_30() {
        let mut out = Vec::new();
        write_padded(&mut out, b"license", b"GPL", b'\n');
        write_padded(&mut out, b"exactly15chars_", b"w", b'\n');
        write_padded(&mut out, b"verylongkeyname_x", b"v", b'\n');
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "license:        GPL\nexactly15chars_:w\nverylongkeyname_x:  v\n"
        );
    }

    #[test]
    fn params_merge_in_reverse_first_appearance() {
        let info = entries(&[
            ("parm", "zeta:Zeta"),
            ("parmtype", "zeta:int"),
            ("parmtype", "alpha:bool"),
            ("license", "GPL"),
            ("parm", "beta:Beta only"),
            ("parm", "broken"),
        ]);
        let mut errors = Vec::new();
        let params = merge_params(&info, &mut errors);
        let mut full = Vec::new();
        write_params(&mut full, &params, true, b'\n');
        assert_eq!(
            String::from_utf8(full).unwrap(),
            "parm:           beta:Beta only\nparm:           alpha:bool\nparm:           zeta:Zeta (int)\n"
        );
        let mut values = Vec::new();
        write_params(&mut values, &params, false, 0);
        assert_eq!(values, b"beta:Beta only\0alpha: (bool)\0zeta:Zeta (int)\0");
        assert_eq!(
            errors,
            vec![b"Found invalid \"parm=broken\": missing ':'".to_vec()]
        );
    }

    #[test]
    fn later_entries_replace_earlier_ones() {
        let info = entries(&[("parm", "a:one"), ("parm", "a:two"), ("parmtype", "a:x")]);
        let params = merge_params(&info, &mut Vec::new());
        assert_eq!(params.len(), 1);
        assert_eq!(params[0].description, Some(&b"two"[..]));
    }

    #[test]
    fn module_dir_defaults() {
        let s = Settings {
            root: Some(b"/r".to_vec()),
            kversion: Some(b"1.0".to_vec()),
            ..Settings::default()
        };
        assert_eq!(module_dir(&s), PathBuf::from("/r/lib/modules/1.0"));
    }
}
