//! Minimal driver for measuring the library: `depmod BASEDIR VERSION [pre|post] [-n] [-v] [-e] [-F MAP]`
//! (no depmod.d configuration). The real command line lives in crates/cli.
use modkit_depmod::{Layout, Level, Options, Reporter};

struct Stderr;

impl Reporter for Stderr {
    fn message(&mut self, level: Level, text: &str) {
        eprintln!("depmod: {level:?}: {text}");
    }
    fn stdout(&mut self, bytes: &[u8]) {
        use std::io::Write;
        let _ = std::io::stdout().write_all(bytes);
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(base), Some(version)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: depmod BASEDIR VERSION [pre|post] [-n]");
        std::process::exit(2);
    };
    let opts = Options {
        basedir: base.into(),
        version: version.clone(),
        layout: if args.iter().any(|a| a == "pre") {
            Layout::PreOrder
        } else {
            Layout::PostOrder
        },
        dry_run: args.iter().any(|a| a == "-n"),
        verbose: args.iter().filter(|a| *a == "-v").count() as u8,
        config_paths: Some(vec![]),
        filesyms: args
            .iter()
            .position(|a| a == "-F")
            .and_then(|i| args.get(i + 1))
            .map(Into::into),
        errsyms: args.iter().any(|a| a == "-e"),
        ..Options::default()
    };
    if let Err(e) = modkit_depmod::run(&opts, &mut Stderr) {
        eprintln!("depmod: {:?}: {e}", e.level);
        std::process::exit(1);
    }
}
