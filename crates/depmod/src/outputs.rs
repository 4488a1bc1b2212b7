//! Building every output file in memory, in kmod's order, with its content, index keys,
//! priorities and insertion orders (kmod-formats §4, §5.11–§5.12). Nothing here touches
//! the output directory; [`crate::write`] does.

use std::path::Path;

use modkit_index::names::{alias_normalize, path_to_modname};
use modkit_index::{IndexWriter, Layout};

use crate::facts::ModuleFacts;
use crate::hash::symbol_bucket;
use crate::log::{io_strerror, Log};
use crate::scan::Candidate;
use crate::symbols::SymbolTable;

/// One output file's final bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub name: &'static str,
    pub bytes: Vec<u8>,
    /// Text outputs go to stdout with `-n`; binary ones are skipped.
    pub text: bool,
}

/// Everything the outputs are computed from.
pub struct Database<'a> {
    pub mods: &'a [Candidate],
    pub facts: &'a [ModuleFacts],
    /// Full `modules.dep` line of each module, without `\n`.
    pub dep_lines: Vec<Vec<u8>>,
    pub symbols: &'a SymbolTable,
    /// The input module directory (for `modules.builtin*`).
    pub dir: &'a Path,
    pub layout: Layout,
    /// `-w`
    pub warn: bool,
}

/// Build all outputs in kmod's order; `binaries` = false (`-n`) skips the `.bin` files.
pub fn build_all(db: &Database<'_>, binaries: bool, log: &mut Log<'_>) -> Vec<Output> {
    let mut out = Vec::new();
    let text = |name, bytes| Output {
        name,
        bytes,
        text: true,
    };
    out.push(text("modules.dep", dep_text(db)));
    if binaries {
        out.push(bin("modules.dep.bin", dep_bin(db, log)));
    }
    out.push(text("modules.alias", alias_text(db)));
    if binaries {
        out.push(bin("modules.alias.bin", alias_bin(db, log)));
    }
    out.push(text("modules.softdep", softdep_text(db)));
    if db.facts.iter().any(|f| !f.weakdeps.is_empty()) {
        out.push(text("modules.weakdep", weakdep_text(db)));
    }
    let syms = sorted_symbols(db);
    out.push(text("modules.symbols", symbols_text(db, &syms)));
    if binaries {
        out.push(bin("modules.symbols.bin", symbols_bin(db, &syms, log)));
        out.push(bin("modules.builtin.bin", builtin_bin(db, log)));
        out.push(bin("modules.builtin.alias.bin", builtin_alias_bin(db, log)));
    }
    out.push(text("modules.devname", devname_text(db, log)));
    out
}

fn bin(name: &'static str, bytes: Vec<u8>) -> Output {
    Output {
        name,
        bytes,
        text: false,
    }
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The `modules.dep` line (without `\n`) of a module given its sorted closure.
pub fn dep_line(mods: &[Candidate], me: usize, closure: &[usize]) -> Vec<u8> {
    let mut line = Vec::new();
    if let Some(m) = mods.get(me) {
        line.extend_from_slice(m.output_path());
    }
    line.push(b':');
    for &d in closure {
        if let Some(m) = mods.get(d) {
            line.push(b' ');
            line.extend_from_slice(m.output_path());
        }
    }
    line
}

fn dep_text(db: &Database<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    for line in &db.dep_lines {
        out.extend_from_slice(line);
        out.push(b'\n');
    }
    out
}

fn warn_dup(db: &Database<'_>, log: &mut Log<'_>, dup: bool, what: &str, detail: &[u8]) {
    if db.warn && dup {
        log.warning(&format!("duplicate module {what}:\n{}", lossy(detail)));
    }
}

fn dep_bin(db: &Database<'_>, log: &mut Log<'_>) -> Vec<u8> {
    let mut idx = IndexWriter::new();
    for (i, (m, line)) in db.mods.iter().zip(&db.dep_lines).enumerate() {
        let dup = idx.insert(&m.name, line, i as u32);
        warn_dup(db, log, dup, "deps", line);
    }
    idx.to_bytes(db.layout)
}

fn alias_text(db: &Database<'_>) -> Vec<u8> {
    let mut out = b"# Aliases extracted from modules themselves.\n".to_vec();
    for (m, f) in db.mods.iter().zip(db.facts) {
        for a in &f.aliases {
            out.extend_from_slice(b"alias ");
            out.extend_from_slice(a);
            out.push(b' ');
            out.extend_from_slice(&m.name);
            out.push(b'\n');
        }
    }
    out
}

fn alias_bin(db: &Database<'_>, log: &mut Log<'_>) -> Vec<u8> {
    let mut idx = IndexWriter::new();
    for (i, (m, f)) in db.mods.iter().zip(db.facts).enumerate() {
        for a in &f.aliases {
            let Some(key) = alias_normalize(a) else {
                log.warning(&format!("Unmatched bracket in {}", lossy(a)));
                continue;
            };
            let dup = idx.insert(&key, &m.name, i as u32);
            let mut detail = key.clone();
            detail.push(b' ');
            detail.extend_from_slice(&m.name);
            warn_dup(db, log, dup, "alias", &detail);
        }
    }
    idx.to_bytes(db.layout)
}

fn deps_text(
    db: &Database<'_>,
    header: &[u8],
    word: &[u8],
    pick: fn(&ModuleFacts) -> &[Vec<u8>],
) -> Vec<u8> {
    let mut out = header.to_vec();
    for (m, f) in db.mods.iter().zip(db.facts) {
        for v in pick(f) {
            out.extend_from_slice(word);
            out.push(b' ');
            out.extend_from_slice(&m.name);
            out.push(b' ');
            out.extend_from_slice(v);
            out.push(b'\n');
        }
    }
    out
}

fn softdep_text(db: &Database<'_>) -> Vec<u8> {
    deps_text(
        db,
        b"# Soft dependencies extracted from modules themselves.\n",
        b"softdep",
        |f| &f.softdeps,
    )
}

fn weakdep_text(db: &Database<'_>) -> Vec<u8> {
    deps_text(
        db,
        b"# Weak dependencies extracted from modules themselves.\n",
        b"weakdep",
        |f| &f.weakdeps,
    )
}

/// Module-owned symbols in depmod's symbol-hash iteration order, with their owner.
fn sorted_symbols<'d>(db: &'d Database<'_>) -> Vec<(&'d [u8], usize)> {
    let mut syms: Vec<(&[u8], usize)> = db
        .symbols
        .map
        .iter()
        .filter_map(|(name, s)| s.owner.map(|o| (name.as_slice(), o)))
        .collect();
    syms.sort_by(|a, b| (symbol_bucket(a.0), a.0).cmp(&(symbol_bucket(b.0), b.0)));
    syms
}

fn symbols_text(db: &Database<'_>, syms: &[(&[u8], usize)]) -> Vec<u8> {
    let mut out = b"# Aliases for symbols, used by symbol_request().\n".to_vec();
    for &(name, owner) in syms {
        if let Some(m) = db.mods.get(owner) {
            out.extend_from_slice(b"alias symbol:");
            out.extend_from_slice(name);
            out.push(b' ');
            out.extend_from_slice(&m.name);
            out.push(b'\n');
        }
    }
    out
}

fn symbols_bin(db: &Database<'_>, syms: &[(&[u8], usize)], log: &mut Log<'_>) -> Vec<u8> {
    let mut idx = IndexWriter::new();
    for &(name, owner) in syms {
        if let Some(m) = db.mods.get(owner) {
            let mut key = b"symbol:".to_vec();
            key.extend_from_slice(name);
            let dup = idx.insert(&key, &m.name, owner as u32);
            let mut detail = key.clone();
            detail.push(b' ');
            detail.extend_from_slice(&m.name);
            warn_dup(db, log, dup, "syms", &detail);
        }
    }
    idx.to_bytes(db.layout)
}

/// Read an input of the module directory; a missing file is warned about and gives None.
fn read_input(db: &Database<'_>, name: &str, log: &mut Log<'_>) -> Option<Vec<u8>> {
    match std::fs::read(db.dir.join(name)) {
        Ok(data) => Some(data),
        Err(e) => {
            log.warning(&format!(
                "could not open {name} at {}: {}",
                db.dir.display(),
                io_strerror(&e)
            ));
            None
        }
    }
}

fn builtin_bin(db: &Database<'_>, log: &mut Log<'_>) -> Vec<u8> {
    let Some(data) = read_input(db, "modules.builtin", log) else {
        return Vec::new();
    };
    let mut idx = IndexWriter::new();
    for line in data.split_inclusive(|&b| b == b'\n') {
        if !line.first().is_some_and(u8::is_ascii_alphabetic) {
            log.error(&format!("Invalid modules.builtin line: {}", lossy(line)));
            continue;
        }
        idx.insert(&path_to_modname(line), b"", 0);
    }
    idx.to_bytes(db.layout)
}

fn builtin_alias_bin(db: &Database<'_>, log: &mut Log<'_>) -> Vec<u8> {
    let Some(data) = read_input(db, "modules.builtin.modinfo", log) else {
        return Vec::new();
    };
    let mut idx = IndexWriter::new();
    for record in data.split(|&b| b == 0) {
        let Some(dot) = record.iter().position(|&b| b == b'.') else {
            continue;
        };
        let (modname, rest) = (
            record.get(..dot).unwrap_or_default(),
            record.get(dot + 1..).unwrap_or_default(),
        );
        let Some(eq) = rest.iter().position(|&b| b == b'=') else {
            continue;
        };
        if rest.get(..eq) != Some(&b"alias"[..]) {
            continue;
        }
        let value = rest.get(eq + 1..).unwrap_or_default();
        if value.is_empty() {
            continue;
        }
        match alias_normalize(value) {
            Some(key) => {
                idx.insert(&key, modname, 0);
            }
            None => log.warning(&format!("Unmatched bracket in {}", lossy(value))),
        }
    }
    idx.to_bytes(db.layout)
}

/// Parse `<prefix><M>-<m>` the way `sscanf("<prefix>%u-%u")` succeeds on both numbers.
fn major_minor(alias: &[u8], prefix: &[u8]) -> Option<(u32, u32)> {
    let rest = alias.strip_prefix(prefix)?;
    let (major, rest) = leading_uint(rest)?;
    let rest = rest.strip_prefix(b"-")?;
    let (minor, _) = leading_uint(rest)?;
    Some((major, minor))
}

fn leading_uint(s: &[u8]) -> Option<(u32, &[u8])> {
    let n = s.iter().take_while(|b| b.is_ascii_digit()).count();
    if n == 0 {
        return None;
    }
    let mut v: u32 = 0;
    for &d in s.get(..n)? {
        v = v.wrapping_mul(10).wrapping_add((d - b'0') as u32);
    }
    Some((v, s.get(n..)?))
}

fn devname_text(db: &Database<'_>, log: &mut Log<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    for (m, f) in db.mods.iter().zip(db.facts) {
        let mut devname: Option<&[u8]> = None;
        let mut node: Option<(u8, u32, u32)> = None;
        for a in &f.aliases {
            if let Some(d) = a.strip_prefix(b"devname:") {
                devname = Some(d);
            } else if let Some((ma, mi)) = major_minor(a, b"char-major-") {
                node = Some((b'c', ma, mi));
            } else if let Some((ma, mi)) = major_minor(a, b"block-major-") {
                node = Some((b'b', ma, mi));
            }
            if devname.is_some() && node.is_some() {
                break;
            }
        }
        let Some(devname) = devname else { continue };
        let Some((kind, major, minor)) = node else {
            log.error(&format!(
                "Module '{}' has devname ({}) but lacks major and minor information. Ignoring.",
                lossy(&m.name),
                lossy(devname)
            ));
            continue;
        };
        if out.is_empty() {
            out.extend_from_slice(b"# Device nodes to trigger on-demand module loading.\n");
        }
        out.extend_from_slice(&m.name);
        out.push(b' ');
        out.extend_from_slice(devname);
        out.extend_from_slice(format!(" {}{major}:{minor}\n", kind as char).as_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn major_minor_like_sscanf() {
        assert_eq!(
            major_minor(b"char-major-10-200", b"char-major-"),
            Some((10, 200))
        );
        assert_eq!(
            major_minor(b"char-major-10-200x", b"char-major-"),
            Some((10, 200))
        );
        assert_eq!(major_minor(b"char-major-10-*", b"char-major-"), None);
        assert_eq!(major_minor(b"block-major-8-0", b"char-major-"), None);
    }
}
