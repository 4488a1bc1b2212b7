//! The `kmod` command (kmod-tools §1.2): options `+hV` (no permutation), then a command —
//! `help`, `list` or `static-nodes` — which runs with argv shifted by one, as kmod does it
//! (so `kmod -- list` runs `list` with `argv[0]` `--`).

use std::io::Write;

use crate::getopt::{Getopt, HasArg, Item, LongOpt};
use crate::texts::{self, Text};

const LONGS: &[LongOpt] = &[
    LongOpt::new("help", HasArg::No, b'h' as u32),
    LongOpt::new("version", HasArg::No, b'V' as u32),
];

type Command = fn(&[Vec<u8>]) -> i32;

/// The commands, by name, with their one-line descriptions for the help text.
const COMMANDS: &[(&str, Command, &str)] = &[
    ("help", help_command, "print this help"),
    (
        "list",
        super::list::main,
        "list the loaded modules (like lsmod)",
    ),
    (
        "static-nodes",
        super::static_nodes::main,
        "print the static device nodes the running kernel's modules need",
    ),
];

fn help_text(prog: &[u8]) -> Vec<u8> {
    let mut text = b"Usage:\n\t".to_vec();
    text.extend_from_slice(prog);
    text.extend_from_slice(
        b" [options] command [command options]\n\n\
          Manage kernel modules (modkit's kmod).\n\n\
          Options:\n\
          \t-V, --version  print the version and exit\n\
          \t-h, --help     print this help and exit\n\n\
          Commands:\n",
    );
    for (name, _, what) in COMMANDS {
        text.extend_from_slice(format!("\t{name:<13}{what}\n").as_bytes());
    }
    text.extend_from_slice(
        b"\nCalled through a link named depmod or modinfo, it behaves as that tool.\n",
    );
    text
}

fn print_help(argv: &[Vec<u8>]) {
    let prog = argv.first().map(Vec::as_slice).unwrap_or(b"kmod");
    let _ = std::io::stdout().write_all(&help_text(prog));
}

fn help_command(argv: &[Vec<u8>]) -> i32 {
    print_help(argv);
    0
}

/// `kmod ARGS...`: exit status 0 or 1.
pub fn main(argv: &[Vec<u8>]) -> i32 {
    let mut getopt = Getopt::new(argv, "+hV", LONGS);
    // Every option ends the program: only the first one matters.
    if let Some(item) = getopt.next() {
        match item {
            Item::Error(text) => {
                let _ = std::io::stderr().write_all(&text);
                return 1;
            }
            Item::Opt(v, _) if v == u32::from(b'h') => {
                print_help(argv);
                return 0;
            }
            Item::Opt(v, _) if v == u32::from(b'V') => {
                super::print_version();
                return 0;
            }
            Item::Opt(..) => return 1,
        }
    }
    let operands = getopt.operands();
    let Some(command) = operands.first() else {
        texts::eprint_line(&Text::MissingCommand.render());
        print_help(argv);
        return 1;
    };
    match COMMANDS
        .iter()
        .find(|(name, _, _)| name.as_bytes() == command.as_slice())
    {
        Some((_, run, _)) => run(&argv[1..]),
        None => {
            texts::eprint_line(&Text::InvalidCommand(command).render());
            print_help(argv);
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_names_the_program_and_commands() {
        let text = String::from_utf8(help_text(b"help")).unwrap();
        assert!(text.starts_with("Usage:\n\thelp [options]"));
        for (name, _, _) in COMMANDS {
            assert!(text.contains(name));
        }
    }

    #[test]
    fn unknown_command_fails() {
        let argv: Vec<Vec<u8>> = vec![b"kmod".to_vec(), b"frobnicate".to_vec()];
        assert_eq!(main(&argv), 1);
    }
}
