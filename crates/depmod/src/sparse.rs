//! Sparse reading of uncompressed module files: depmod needs only a few sections
//! (`.modinfo`, `.symtab`, `.strtab`, `__versions`, `__ksymtab_strings`, the CRC tables),
//! which are about an eighth of a Debian module's bytes. The image keeps the file's size
//! and layout, but the bulky sections depmod never looks at (code, relocations, BTF,
//! unwind tables, data) are left as zero pages that are never touched. Anything unusual
//! (not ELF, odd header sizes, out-of-range sections) falls back to a full read, so the
//! ELF parser always sees either the real bytes or zeros where nothing is read.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

const SHT_NOBITS: u32 = 8;
const SHT_RELA: u32 = 4;
const SHT_REL: u32 = 9;

/// Section name prefixes whose contents depmod never reads.
const SKIPPED: [&[u8]; 8] = [
    b".text",
    b".init.text",
    b".exit.text",
    b".BTF",
    b".orc_unwind",
    b".data",
    b".debug",
    b".altinstr",
];

/// Where the section header table is.
struct Header {
    is64: bool,
    big: bool,
    shoff: u64,
    shentsize: u64,
    shnum: u64,
    shstrndx: u64,
}

fn uint(b: &[u8], at: usize, size: usize, big: bool) -> Option<u64> {
    let bytes = b.get(at..at.checked_add(size)?)?;
    let mut v: u64 = 0;
    if big {
        for &x in bytes {
            v = (v << 8) | x as u64;
        }
    } else {
        for &x in bytes.iter().rev() {
            v = (v << 8) | x as u64;
        }
    }
    Some(v)
}

fn header(b: &[u8]) -> Option<Header> {
    if b.get(..4) != Some(b"\x7fELF") {
        return None;
    }
    let is64 = match b.get(4) {
        Some(1) => false,
        Some(2) => true,
        _ => return None,
    };
    let big = match b.get(5) {
        Some(1) => false,
        Some(2) => true,
        _ => return None,
    };
    let (shoff, rest) = if is64 {
        (uint(b, 0x28, 8, big)?, 0x3a)
    } else {
        (uint(b, 0x20, 4, big)?, 0x2e)
    };
    let shentsize = uint(b, rest, 2, big)?;
    let shnum = uint(b, rest + 2, 2, big)?;
    let shstrndx = uint(b, rest + 4, 2, big)?;
    let want = if is64 { 64 } else { 40 };
    if shentsize != want || shnum == 0 || shstrndx >= shnum {
        return None;
    }
    Some(Header {
        is64,
        big,
        shoff,
        shentsize,
        shnum,
        shstrndx,
    })
}

/// One section header's (name offset, type, file offset, size).
fn section(table: &[u8], h: &Header, i: u64) -> Option<(u64, u32, u64, u64)> {
    let at = usize::try_from(i.checked_mul(h.shentsize)?).ok()?;
    let (name, kind) = (
        uint(table, at, 4, h.big)?,
        uint(table, at + 4, 4, h.big)? as u32,
    );
    let (off, size) = if h.is64 {
        (
            uint(table, at + 24, 8, h.big)?,
            uint(table, at + 32, 8, h.big)?,
        )
    } else {
        (
            uint(table, at + 16, 4, h.big)?,
            uint(table, at + 20, 4, h.big)?,
        )
    };
    Some((name, kind, off, size))
}

/// Read `[off, off+size)` of the file into the same range of `image`.
fn fill(file: &File, image: &mut [u8], off: u64, size: u64) -> Option<io::Result<()>> {
    let start = usize::try_from(off).ok()?;
    let end = start.checked_add(usize::try_from(size).ok()?)?;
    let dst = image.get_mut(start..end)?;
    Some(file.read_exact_at(dst, off))
}

/// Which sections a sparse read fills in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// Everything depmod reads (all sections but the bulky ones of [`SKIPPED`]).
    Depmod,
    /// What modinfo reads: `.modinfo`, and the bytes after the last section or header
    /// table (the appended signature).
    Modinfo,
}

impl Want {
    fn keeps(self, name: &[u8]) -> bool {
        match self {
            Want::Depmod => !SKIPPED.iter().any(|p| name.starts_with(p)),
            // `name` runs on to the end of the string table: match the whole string.
            Want::Modinfo => name.starts_with(b".modinfo\0"),
        }
    }
}

/// The sparse image of an uncompressed ELF file for depmod, or None to read it in full.
pub fn read_sparse(file: &File) -> io::Result<Option<Vec<u8>>> {
    read_sparse_for(file, Want::Depmod)
}

/// The sparse image of an uncompressed ELF file with the sections `want` needs, or None
/// to read it in full.
pub fn read_sparse_for(file: &File, want: Want) -> io::Result<Option<Vec<u8>>> {
    let len = file.metadata()?.len();
    let Ok(len_usize) = usize::try_from(len) else {
        return Ok(None);
    };
    let mut head = [0u8; 64];
    if len < 64 || file.read_exact_at(&mut head, 0).is_err() {
        return Ok(None);
    }
    let Some(h) = header(&head) else {
        return Ok(None);
    };
    let mut image = vec![0u8; len_usize];
    if let Some(dst) = image.get_mut(..64) {
        dst.copy_from_slice(&head);
    }
    let Some(table_size) = h.shnum.checked_mul(h.shentsize) else {
        return Ok(None);
    };
    match fill(file, &mut image, h.shoff, table_size) {
        Some(r) => r?,
        None => return Ok(None),
    }
    let table = match usize::try_from(h.shoff)
        .ok()
        .and_then(|s| image.get(s..s.checked_add(usize::try_from(table_size).ok()?)?))
    {
        Some(t) => t.to_vec(),
        None => return Ok(None),
    };
    let Some((_, _, str_off, str_size)) = section(&table, &h, h.shstrndx) else {
        return Ok(None);
    };
    match fill(file, &mut image, str_off, str_size) {
        Some(r) => r?,
        None => return Ok(None),
    }
    let mut elf_end = h
        .shoff
        .saturating_add(table_size)
        .max(str_off.saturating_add(str_size));
    for i in 1..h.shnum {
        let Some((name_off, kind, off, size)) = section(&table, &h, i) else {
            return Ok(None);
        };
        if kind == SHT_NOBITS || size == 0 {
            continue;
        }
        elf_end = elf_end.max(off.saturating_add(size));
        if kind == SHT_RELA || kind == SHT_REL {
            continue;
        }
        let name = str_off
            .checked_add(name_off)
            .and_then(|n| usize::try_from(n).ok())
            .and_then(|n| image.get(n..))
            .unwrap_or_default();
        if !want.keeps(name) {
            continue;
        }
        match fill(file, &mut image, off, size) {
            Some(r) => r?,
            None => return Ok(None),
        }
    }
    if want == Want::Modinfo && elf_end < len {
        match fill(file, &mut image, elf_end, len - elf_end) {
            Some(r) => r?,
            None => return Ok(None),
        }
    }
    Ok(Some(image))
}

#[cfg(test)]
mod tests {
    use super::*;
    use modkit_elf::synth::{Class, CrcStyle, Endian, ModuleBuilder};
    use modkit_elf::Binding;

    fn facts_both_ways(image: &[u8]) -> (crate::facts::ModuleFacts, crate::facts::ModuleFacts) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.ko");
        std::fs::write(&p, image).unwrap();
        let sparse = read_sparse(&File::open(&p).unwrap()).unwrap().unwrap();
        assert_eq!(sparse.len(), image.len());
        (
            crate::facts::facts_of_image(image),
            crate::facts::facts_of_image(&sparse),
        )
    }

    #[test]
    fn sparse_image_gives_the_same_facts() {
        for class in [Class::Elf32, Class::Elf64] {
            for endian in [Endian::Little, Endian::Big] {
                for style in [CrcStyle::Absolute, CrcStyle::Kcrctab, CrcStyle::None] {
                    let image = ModuleBuilder::new()
                        .class(class)
                        .endian(endian)
                        .crc_style(style)
                        .modinfo("alias", "a-b")
                        .modinfo("softdep", "pre: x")
                        .export("e1", 0x1234)
                        .export("e2", 0x5678)
                        .undefined("u", Binding::Global)
                        .version(9, "u")
                        .version(7, "module_layout")
                        .text_size(4096)
                        .build();
                    let (full, sparse) = facts_both_ways(&image);
                    assert_eq!(full, sparse);
                    assert_eq!(full.exports.len(), 2);
                }
            }
        }
    }

    #[test]
    fn modinfo_sparse_image_keeps_modinfo_and_signature_only() {
        use modkit_elf::synth::SignatureSpec;
        use modkit_elf::{Module, Signature};
        let sig = SignatureSpec::pkcs7(
            b"Test key",
            &[0x8a, 1, 2],
            "2.16.840.1.101.3.4.2.1",
            &[5; 64],
        )
        .unwrap();
        for class in [Class::Elf32, Class::Elf64] {
            for endian in [Endian::Little, Endian::Big] {
                let image = ModuleBuilder::new()
                    .class(class)
                    .endian(endian)
                    .modinfo("alias", "a-b")
                    .modinfo("license", "GPL")
                    .export("e1", 0x1234)
                    .text_size(8192)
                    .signature(sig.clone())
                    .build();
                let dir = tempfile::tempdir().unwrap();
                let p = dir.path().join("m.ko");
                std::fs::write(&p, &image).unwrap();
                let sparse = read_sparse_for(&File::open(&p).unwrap(), Want::Modinfo)
                    .unwrap()
                    .unwrap();
                assert_eq!(sparse.len(), image.len());
                let (a, b) = (
                    Module::parse(&image).unwrap(),
                    Module::parse(&sparse).unwrap(),
                );
                assert_eq!(a.modinfo().unwrap(), b.modinfo().unwrap());
                assert_eq!(a.modinfo().unwrap().len(), 2);
                let full_sig = Signature::parse(&image).unwrap();
                assert_eq!(Some(full_sig), Signature::parse(&sparse));
                // the code was not read: the sparse image differs from the file
                assert_ne!(sparse, image);
            }
        }
    }

    #[test]
    fn non_elf_is_not_sparse() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.ko");
        std::fs::write(&p, vec![7u8; 200]).unwrap();
        assert!(read_sparse(&File::open(&p).unwrap()).unwrap().is_none());
        std::fs::write(&p, b"\x7fELF").unwrap();
        assert!(read_sparse(&File::open(&p).unwrap()).unwrap().is_none());
    }

    #[test]
    fn truncated_section_table_falls_back() {
        let mut image = ModuleBuilder::new().build();
        image.truncate(image.len() - 10);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.ko");
        std::fs::write(&p, &image).unwrap();
        assert!(read_sparse(&File::open(&p).unwrap()).unwrap().is_none());
    }
}
