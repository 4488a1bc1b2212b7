//! The depmod front-end: kmod 30's command line (`aAb:C:E:F:euqrvnP:wmVh`) plus kmod ≥ 31's
//! `-o/--outdir`, kmod ≥ 34's `--moduledir` (long only: `-m` is kmod 30's ignored
//! `--map`) and modkit's `--index-layout`; positional version and module paths; then
//! [`modkit_depmod::run`], whose messages are printed as `depmod: <LEVEL>: <text>`.

use std::io::Write;

use modkit_depmod::{Layout, Level, Options, Reporter};

use crate::getopt::{Getopt, HasArg, Item, LongOpt};
use crate::system;
use crate::texts::{self, Text};

const OPT_MODULEDIR: u32 = 0x100;
const OPT_INDEX_LAYOUT: u32 = 0x101;

const SHORTS: &str = "aAb:C:E:F:euqrvnP:wmVho:";

const fn c(ch: u8) -> u32 {
    ch as u32
}

/// kmod 30's long options in its order, then the later ones.
const LONGS: &[LongOpt] = &[
    LongOpt::new("all", HasArg::No, c(b'a')),
    LongOpt::new("quick", HasArg::No, c(b'A')),
    LongOpt::new("basedir", HasArg::Required, c(b'b')),
    LongOpt::new("config", HasArg::Required, c(b'C')),
    LongOpt::new("symvers", HasArg::Required, c(b'E')),
    LongOpt::new("filesyms", HasArg::Required, c(b'F')),
    LongOpt::new("errsyms", HasArg::No, c(b'e')),
    LongOpt::new("unresolved-error", HasArg::No, c(b'u')),
    LongOpt::new("quiet", HasArg::No, c(b'q')),
    LongOpt::new("root", HasArg::No, c(b'r')),
    LongOpt::new("verbose", HasArg::No, c(b'v')),
    LongOpt::new("show", HasArg::No, c(b'n')),
    LongOpt::new("dry-run", HasArg::No, c(b'n')),
    LongOpt::new("symbol-prefix", HasArg::Required, c(b'P')),
    LongOpt::new("warn", HasArg::No, c(b'w')),
    LongOpt::new("map", HasArg::No, c(b'm')),
    LongOpt::new("version", HasArg::No, c(b'V')),
    LongOpt::new("help", HasArg::No, c(b'h')),
    LongOpt::new("outdir", HasArg::Required, c(b'o')),
    LongOpt::new("moduledir", HasArg::Required, OPT_MODULEDIR),
    LongOpt::new("index-layout", HasArg::Required, OPT_INDEX_LAYOUT),
];

const HELP: &str = "\
Usage:
\tdepmod [options] [version] [module paths...]

Build the module dependency database (modules.dep, modules.alias, ... and their .bin
indexes) for a kernel. Without module paths, every module of the tree is scanned.

Options:
\t-a, --all                 scan every module (the default)
\t-A, --quick               do nothing if modules.dep is newer than every module
\t-b, --basedir=DIR         use DIR as the root prefix (DIR/lib/modules/VERSION)
\t-o, --outdir=DIR         write the outputs under DIR instead of the root prefix
\t    --moduledir=DIR       module directory below the root (default /lib/modules)
\t-C, --config=PATH         read depmod.d configuration from PATH (repeatable)
\t-E, --symvers=FILE        check symbol versions against a Module.symvers file
\t-F, --filesyms=FILE       check symbols against a System.map file
\t-e, --errsyms             report unresolved symbols (needs -E or -F)
\t-n, --show, --dry-run     write the outputs to stdout instead of files
\t-P, --symbol-prefix=C     strip the character C from the start of symbol names
\t-v, --verbose             print each dependency found; more messages
\t-w, --warn                warn about duplicate index entries
\t    --index-layout=LAYOUT pre-order (default, kmod >= 34) or post-order (kmod <= 33)
\t-V, --version             print the version and exit
\t-h, --help                print this help and exit
";

/// What the command line asked for, before the run.
enum Parsed {
    Run(Box<Options>, Vec<Vec<u8>>),
    Exit(i32),
}

/// Prints the library's messages and stdout bytes.
struct CliReporter {
    prog: String,
    out: std::io::BufWriter<std::io::Stdout>,
}

impl Reporter for CliReporter {
    fn message(&mut self, level: Level, text: &str) {
        let _ = self.out.flush();
        texts::log(&self.prog, level, text.as_bytes());
    }
    fn stdout(&mut self, bytes: &[u8]) {
        let _ = self.out.write_all(bytes);
    }
}

/// glibc `sscanf(s, "%u.%u")` succeeds: whitespace, optional sign, digits, '.', then the
/// same again.
pub fn looks_like_version(s: &[u8]) -> bool {
    fn unsigned(s: &[u8]) -> Option<&[u8]> {
        let s = &s[s.iter().take_while(|b| b.is_ascii_whitespace()).count()..];
        let s = s
            .strip_prefix(b"+")
            .or_else(|| s.strip_prefix(b"-"))
            .unwrap_or(s);
        let digits = s.iter().take_while(|b| b.is_ascii_digit()).count();
        (digits > 0).then(|| &s[digits..])
    }
    unsigned(s)
        .and_then(|rest| rest.strip_prefix(b"."))
        .and_then(unsigned)
        .is_some()
}

fn parse_layout(arg: &[u8]) -> Option<Layout> {
    match arg {
        b"pre-order" => Some(Layout::PreOrder),
        b"post-order" => Some(Layout::PostOrder),
        _ => None,
    }
}

fn fatal(prog: &str, text: Text) -> Parsed {
    texts::log(prog, Level::Fatal, &text.render());
    Parsed::Exit(1)
}

fn parse(argv: &[Vec<u8>], prog: &str) -> Parsed {
    let mut opts = Options {
        moduledir: "/lib/modules".to_string(),
        ..Options::default()
    };
    let mut getopt = Getopt::new(argv, SHORTS, LONGS);
    while let Some(item) = getopt.next() {
        let (val, arg) = match item {
            Item::Error(text) => {
                let _ = std::io::stderr().write_all(&text);
                return Parsed::Exit(1);
            }
            Item::Opt(val, arg) => (val, arg.unwrap_or_default()),
        };
        match val {
            v if v == c(b'a') => opts.all = true,
            v if v == c(b'A') => opts.quick = true,
            v if v == c(b'b') => opts.basedir = system::path(&system::absolute(&arg)),
            v if v == c(b'o') => opts.outdir = Some(system::path(&system::absolute(&arg))),
            OPT_MODULEDIR => opts.moduledir = String::from_utf8_lossy(&arg).into_owned(),
            v if v == c(b'C') => opts
                .config_paths
                .get_or_insert_with(Vec::new)
                .push(system::path(&arg)),
            v if v == c(b'E') => opts.symvers = Some(system::path(&arg)),
            v if v == c(b'F') => opts.filesyms = Some(system::path(&arg)),
            v if v == c(b'e') => opts.errsyms = true,
            v if [c(b'u'), c(b'q'), c(b'r'), c(b'm')].contains(&v) => {
                let text = match getopt.last_long() {
                    Some(name) => Text::IgnoredDeprecatedLong(name),
                    None => Text::IgnoredDeprecatedShort(v as u8),
                };
                texts::log(prog, Level::Warning, &text.render());
            }
            v if v == c(b'v') => opts.verbose = opts.verbose.saturating_add(1),
            v if v == c(b'n') => opts.dry_run = true,
            v if v == c(b'P') => match arg.as_slice() {
                [ch] => opts.symbol_prefix = Some(*ch),
                _ => return fatal(prog, Text::PrefixSingleChar),
            },
            v if v == c(b'w') => opts.warn = true,
            OPT_INDEX_LAYOUT => match parse_layout(&arg) {
                Some(layout) => opts.layout = layout,
                None => {
                    texts::log(prog, Level::Error, &Text::BadIndexLayout(&arg).render());
                    return Parsed::Exit(1);
                }
            },
            v if v == c(b'V') => {
                super::print_version();
                return Parsed::Exit(0);
            }
            v if v == c(b'h') => {
                super::stdout(HELP.as_bytes());
                return Parsed::Exit(0);
            }
            _ => return Parsed::Exit(1),
        }
    }
    Parsed::Run(Box::new(opts), getopt.operands())
}

/// Positional arguments: the version, then absolute module paths.
fn apply_operands(opts: &mut Options, operands: &[Vec<u8>], prog: &str) -> Result<(), i32> {
    match operands.first() {
        Some(version) => {
            if !looks_like_version(version) {
                texts::log(prog, Level::Error, &Text::BadVersion(version).render());
                return Err(1);
            }
            opts.version = String::from_utf8_lossy(version).into_owned();
        }
        None => opts.version = String::from_utf8_lossy(&system::kernel_release()).into_owned(),
    }
    if opts.errsyms && opts.symvers.is_none() && opts.filesyms.is_none() {
        texts::log(prog, Level::Warning, &Text::ErrsymsNeedsSymbols.render());
        opts.errsyms = false;
    }
    if opts.all || opts.quick {
        return Ok(());
    }
    // kmod checks each path just before loading it: a relative path is fatal, unless an
    // earlier path already failed to load (the library reports that one first).
    let mut checking = true;
    for module in operands.iter().skip(1) {
        if checking && module.first() != Some(&b'/') {
            texts::log(prog, Level::Fatal, &Text::NotAbsolutePath(module).render());
            return Err(1);
        }
        let path = system::path(module);
        checking = checking && path.exists();
        opts.modules.push(path);
    }
    Ok(())
}

/// `depmod ARGS...`: exit status 0 or 1.
pub fn main(argv: &[Vec<u8>]) -> i32 {
    let prog = super::short_name(argv);
    let (mut opts, operands) = match parse(argv, &prog) {
        Parsed::Run(opts, operands) => (opts, operands),
        Parsed::Exit(status) => return status,
    };
    if let Err(status) = apply_operands(&mut opts, &operands, &prog) {
        return status;
    }
    let mut reporter = CliReporter {
        prog: prog.clone(),
        out: std::io::BufWriter::new(std::io::stdout()),
    };
    let result = modkit_depmod::run(&opts, &mut reporter);
    let _ = reporter.out.flush();
    match result {
        Ok(()) => 0,
        Err(err) => {
            texts::log(&prog, err.level, err.to_string().as_bytes());
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_check_is_sscanf_u_dot_u() {
        for good in [
            "1.0",
            "6.1.0-56-amd64",
            "+1.0",
            " 1.2",
            "1.-2",
            "1.2x",
            "1. 2",
        ] {
            assert!(looks_like_version(good.as_bytes()), "{good}");
        }
        for bad in ["1", "-", "abc", "1.", "a1.0", ".1", ""] {
            assert!(!looks_like_version(bad.as_bytes()), "{bad}");
        }
    }

    #[test]
    fn layouts() {
        assert_eq!(parse_layout(b"pre-order"), Some(Layout::PreOrder));
        assert_eq!(parse_layout(b"post-order"), Some(Layout::PostOrder));
        assert_eq!(parse_layout(b"post"), None);
    }

    fn argv(words: &[&str]) -> Vec<Vec<u8>> {
        words.iter().map(|w| w.as_bytes().to_vec()).collect()
    }

    #[test]
    fn options_reach_the_library() {
        let args = argv(&[
            "depmod",
            "-b",
            "/r",
            "-o",
            "/o",
            "--moduledir=/m",
            "-C",
            "c1",
            "-Cc2",
            "-wnv",
            "-P_",
            "--index-layout",
            "post-order",
            "1.0",
            "/x.ko",
        ]);
        let Parsed::Run(mut opts, operands) = parse(&args, "depmod") else {
            panic!("parse failed");
        };
        apply_operands(&mut opts, &operands, "depmod").unwrap();
        assert_eq!(opts.basedir, system::path(b"/r"));
        assert_eq!(opts.outdir, Some(system::path(b"/o")));
        assert_eq!(opts.moduledir, "/m");
        assert_eq!(
            opts.config_paths,
            Some(vec![system::path(b"c1"), system::path(b"c2")])
        );
        assert!(opts.warn && opts.dry_run);
        assert_eq!(opts.verbose, 1);
        assert_eq!(opts.symbol_prefix, Some(b'_'));
        assert_eq!(opts.layout, Layout::PostOrder);
        assert_eq!(opts.version, "1.0");
        assert_eq!(opts.modules, vec![system::path(b"/x.ko")]);
    }

    #[test]
    fn all_ignores_module_paths() {
        let args = argv(&["depmod", "-a", "1.0", "rel"]);
        let Parsed::Run(mut opts, operands) = parse(&args, "depmod") else {
            panic!("parse failed");
        };
        assert_eq!(apply_operands(&mut opts, &operands, "depmod"), Ok(()));
        assert!(opts.modules.is_empty());
    }

    #[test]
    fn relative_module_path_fails() {
        let args = argv(&["depmod", "1.0", "rel"]);
        let Parsed::Run(mut opts, operands) = parse(&args, "depmod") else {
            panic!("parse failed");
        };
        assert_eq!(apply_operands(&mut opts, &operands, "depmod"), Err(1));
    }

    #[test]
    fn errsyms_dropped_without_symbols() {
        let args = argv(&["depmod", "-e", "1.0"]);
        let Parsed::Run(mut opts, operands) = parse(&args, "depmod") else {
            panic!("parse failed");
        };
        apply_operands(&mut opts, &operands, "depmod").unwrap();
        assert!(!opts.errsyms);
    }
}
