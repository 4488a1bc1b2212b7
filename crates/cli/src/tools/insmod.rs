//! The insmod front-end as kmod 30 has it (kmod-tools §8): options `psfVh` (`-p` and `-s`
//! accepted and ignored, no `-v`), long options `--version` and `--help` only; one module
//! file, its parameters joined with single spaces (no quoting in kmod 30), inserted with
//! the loader's insertion path (no configuration, no dependencies, EEXIST is an error).

use std::io::Write;

use modkit_config::ModprobeConfig;
use modkit_depmod::database::Database;
use modkit_loader::insert::Force;
use modkit_loader::Loader;

use crate::getopt::{Getopt, HasArg, Item, LongOpt};
use crate::kmodlog::{Prio, ToolLog};
use crate::system;
use crate::texts::{self, Text};

const LONGS: &[LongOpt] = &[
    LongOpt::new("version", HasArg::No, b'V' as u32),
    LongOpt::new("help", HasArg::No, b'h' as u32),
];

const HELP: &str = "\
Usage:
\tinsmod [options] <file> [parameters...]

Insert one module file into the kernel (modkit's insmod): no dependencies, no
configuration.

Options:
\t-f          force: ignore the version magic and the symbol versions
\t-V, --version  print the version and exit
\t-h, --help     print this help and exit
";

/// `insmod ARGS...`: exit status 0 or 1.
pub fn main(argv: &[Vec<u8>]) -> i32 {
    let prog = super::short_name(argv);
    let log = ToolLog::new(&prog, Prio::Error as i32);
    let mut force = false;
    let mut getopt = Getopt::new(argv, "psfVh", LONGS);
    for item in getopt.by_ref() {
        match item {
            Item::Error(text) => {
                let _ = std::io::stderr().write_all(&text);
                return 1;
            }
            Item::Opt(v, _) => match u8::try_from(v).unwrap_or(0) {
                b'p' | b's' => {}
                b'f' => force = true,
                b'V' => {
                    super::print_version();
                    return 0;
                }
                b'h' => {
                    super::stdout(HELP.as_bytes());
                    return 0;
                }
                other => {
                    log.log(Prio::Error, &Text::UnexpectedGetopt(other).render());
                    return 1;
                }
            },
        }
    }
    let args = getopt.operands();
    let Some(file) = args.first() else {
        log.log(Prio::Error, &Text::MissingFilename.render());
        return 1;
    };
    if file.as_slice() == b"-" {
        log.log(Prio::Error, &Text::NoStdin.render());
        return 1;
    }
    let path = system::path(file);
    if let Err(e) = std::fs::metadata(&path) {
        let text = Text::CouldNotLoadModule(file, texts::errno_of(&e));
        log.log(Prio::Error, &text.render());
        return 1;
    }
    let options = args[1..].join(&b' ');
    let loader = Loader::new(
        Database::open(system::path(&system::running_module_dir())),
        ModprobeConfig::default(),
        system::kernel(),
    );
    let loader = match system::with_shared_context(loader) {
        Ok(loader) => loader,
        Err(message) => {
            log.log(Prio::Error, message.as_bytes());
            return 1;
        }
    };
    let force = Force {
        modversion: force,
        vermagic: force,
    };
    match loader.insert_file(&path, &options, force, &mut |_| {}) {
        Ok(()) => 0,
        Err(errno) => {
            let text = Text::CouldNotInsertModule(file, errno.raw_os_error());
            log.log(Prio::Error, &text.render());
            1
        }
    }
}
