//! `kmod list` as kmod 30 has it (kmod-tools §10): no options at all (`Usage: <argv0>` on
//! any argument), then the loaded modules from `<proc>/modules` with sizes, reference
//! counts and holders from `/sys/module` (both roots overridable for tests).

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::system;
use crate::texts::{self, Text};

/// The environment variable that moves `/sys` (tests only).
pub const SYS_ENV: &str = "MODKIT_SYS";

pub(crate) fn sys_root() -> PathBuf {
    std::env::var_os(SYS_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/sys"))
}

/// One `/proc/modules` line: name and size field.
struct Loaded {
    name: String,
    size: i64,
}

fn parse_proc_modules(text: &str) -> Vec<Loaded> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let name = fields.next()?.to_string();
            let size = fields.next().and_then(|s| s.parse().ok()).unwrap_or(0);
            Some(Loaded { name, size })
        })
        .collect()
}

fn read_number(path: &Path) -> Result<i64, i32> {
    let text = std::fs::read_to_string(path).map_err(|e| texts::errno_of(&e))?;
    text.trim().parse().map_err(|_| texts::EINVAL)
}

fn holders(module_dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(module_dir.join("holders")) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

/// One output line (`%-19s %8ld  %d` and the holders).
fn format_line(name: &str, size: i64, refcnt: i64, holders: &[String]) -> String {
    let mut line = format!("{name:<19} {size:>8}  {refcnt}");
    for (i, holder) in holders.iter().enumerate() {
        line.push(if i == 0 { ' ' } else { ',' });
        line.push_str(holder);
    }
    line.push('\n');
    line
}

/// `list ARGS...` (`argv[0]` is the command name): exit status 0 or 1.
pub fn main(argv: &[Vec<u8>]) -> i32 {
    if argv.len() > 1 {
        let mut line = b"Usage: ".to_vec();
        line.extend_from_slice(argv.first().map(Vec::as_slice).unwrap_or(b""));
        texts::eprint_line(&line);
        return 1;
    }
    let proc_modules = system::proc_root().join("modules");
    let text = match std::fs::read_to_string(&proc_modules) {
        Ok(text) => text,
        Err(err) => {
            let errno = texts::errno_of(&err);
            let shown = b"/proc/modules";
            texts::eprint_line(&Text::CouldNotOpenProcModules(shown, errno).render());
            texts::eprint_line(&Text::CouldNotGetModuleList(errno).render());
            return 1;
        }
    };
    let sys_module = sys_root().join("module");
    let mut out = std::io::BufWriter::new(std::io::stdout());
    let _ = out.write_all(b"Module                  Size  Used by\n");
    for module in parse_proc_modules(&text) {
        let dir = sys_module.join(&module.name);
        let size = read_number(&dir.join("coresize")).unwrap_or(module.size);
        let refcnt = read_number(&dir.join("refcnt")).unwrap_or_else(|e| -i64::from(e));
        let line = format_line(&module.name, size, refcnt, &holders(&dir));
        let _ = out.write_all(line.as_bytes());
    }
    let _ = out.flush();
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_format() {
        assert_eq!(
            format_line("btusb", 11216, 0, &[]),
            "btusb                  11216  0\n"
        );
        assert_eq!(
            format_line("bluetooth", 831488, 2, &["btusb".into(), "btrtl".into()]),
            "bluetooth             831488  2 btusb,btrtl\n"
        );
    }

    #[test]
    fn proc_modules_lines() {
        let mods = parse_proc_modules("a 10 0 - Live 0x0\nb 20 1 a, Live 0x0\n");
        assert_eq!(mods.len(), 2);
        assert_eq!(mods[1].name, "b");
        assert_eq!(mods[1].size, 20);
    }
}
