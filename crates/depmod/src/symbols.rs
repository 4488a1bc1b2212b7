//! The symbol table: kernel symbols from `-E` (Module.symvers) or `-F` (System.map) and
//! module exports, where the last module in module order that exports a name owns it
//! (kmod-formats §5.7).

use std::collections::HashMap;
use std::path::Path;

use crate::log::Log;

/// An entry of the symbol table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Symbol {
    pub crc: u64,
    /// Module index of the owner; None for the kernel (vmlinux).
    pub owner: Option<usize>,
}

/// Symbol name → owner and CRC.
#[derive(Debug, Default)]
pub struct SymbolTable {
    pub map: HashMap<Vec<u8>, Symbol>,
}

/// Strip one leading `prefix` byte (`-P`).
pub fn strip_prefix(name: &[u8], prefix: Option<u8>) -> &[u8] {
    match (prefix, name.first()) {
        (Some(p), Some(&f)) if p == f => name.get(1..).unwrap_or_default(),
        _ => name,
    }
}

impl SymbolTable {
    /// Add (replacing any previous owner).
    pub fn add(&mut self, name: &[u8], crc: u64, owner: Option<usize>) {
        self.map.insert(name.to_vec(), Symbol { crc, owner });
    }

    pub fn get(&self, name: &[u8]) -> Option<&Symbol> {
        self.map.get(name)
    }

    /// The fake symbols depmod adds after loading `-E`/`-F`.
    pub fn add_fake_kernel_symbols(&mut self) {
        self.add(b"__this_module", 0, None);
        self.add(b"_GLOBAL_OFFSET_TABLE_", 0, None);
        if !self.map.contains_key(&b"TOC."[..]) {
            self.add(b"TOC.", 0, None);
        }
    }

    /// Load `Module.symvers` (`-E`): lines whose third token is `vmlinux`.
    ///
    /// kmod prints a bad CRC with `%m`, i.e. a stale errno: observed to be "No such file
    /// or directory" when the module directory has no `modules.softdep` (libkmod failed to
    /// open it just before), else "Success". `stale_errno` is that text.
    pub fn load_symvers(
        &mut self,
        file: &Path,
        data: &[u8],
        prefix: Option<u8>,
        stale_errno: &str,
        log: &mut Log<'_>,
    ) {
        for (i, line) in data.split(|&b| b == b'\n').enumerate() {
            let mut toks = line
                .split(|&b| b == b' ' || b == b'\t')
                .filter(|t| !t.is_empty());
            let (Some(ver), Some(sym), Some(place)) = (toks.next(), toks.next(), toks.next())
            else {
                continue;
            };
            if place != b"vmlinux" {
                continue;
            }
            let Some(crc) = parse_crc(ver) else {
                log.error(&format!(
                    "{}:{} Invalid symbol version {}: {stale_errno}",
                    file.display(),
                    i + 1,
                    String::from_utf8_lossy(ver)
                ));
                continue;
            };
            self.add(strip_prefix(sym, prefix), crc, None);
        }
    }

    /// Load `System.map` (`-F`): `__ksymtab_<name>` entries, CRC 0.
    pub fn load_system_map(
        &mut self,
        file: &Path,
        data: &[u8],
        prefix: Option<u8>,
        log: &mut Log<'_>,
    ) {
        let mut rest = data;
        let mut number = 0;
        while !rest.is_empty() {
            number += 1;
            let end = rest
                .iter()
                .position(|&b| b == b'\n')
                .map_or(rest.len(), |p| p + 1);
            let line = rest.get(..end).unwrap_or_default();
            rest = rest.get(end..).unwrap_or_default();
            let mut parts = line.splitn(3, |&b| b == b' ');
            let (Some(_), Some(_), Some(name)) = (parts.next(), parts.next(), parts.next()) else {
                log.error(&format!(
                    "{}:{}: invalid line: {}",
                    file.display(),
                    number,
                    String::from_utf8_lossy(line)
                ));
                continue;
            };
            let name = name.strip_suffix(b"\n").unwrap_or(name);
            let name = strip_prefix(name, prefix);
            if let Some(sym) = name.strip_prefix(b"__ksymtab_") {
                self.add(sym, 0, None);
            }
        }
    }
}

/// `strtoull(tok, &end, 16)` that must consume the whole token.
pub fn parse_crc(tok: &[u8]) -> Option<u64> {
    let digits = tok
        .strip_prefix(b"0x")
        .or_else(|| tok.strip_prefix(b"0X"))
        .filter(|d| d.first().is_some_and(u8::is_ascii_hexdigit))
        .unwrap_or(tok);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let mut v: u64 = 0;
    for &d in digits {
        let n = (d as char).to_digit(16).unwrap_or(0) as u64;
        v = v
            .checked_mul(16)
            .and_then(|v| v.checked_add(n))
            .unwrap_or(u64::MAX);
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_parsing() {
        assert_eq!(parse_crc(b"0x12345678"), Some(0x1234_5678));
        assert_eq!(parse_crc(b"ff"), Some(0xff));
        assert_eq!(parse_crc(b"0xzz"), None);
        assert_eq!(parse_crc(b"0x"), None);
        assert_eq!(parse_crc(b""), None);
    }

    #[test]
    fn prefix_is_stripped_once() {
        assert_eq!(strip_prefix(b"__foo", Some(b'_')), b"_foo");
        assert_eq!(strip_prefix(b"foo", Some(b'_')), b"foo");
        assert_eq!(strip_prefix(b"_foo", None), b"_foo");
    }

    #[test]
    fn later_add_replaces_owner() {
        let mut t = SymbolTable::default();
        t.add(b"s", 1, None);
        t.add(b"s", 2, Some(3));
        assert_eq!(
            t.get(b"s"),
            Some(&Symbol {
                crc: 2,
                owner: Some(3)
            })
        );
    }
}
