//! The ELF parse of a module image: sections, `.modinfo`, symbols, `__versions`, build-id.
//!
//! [`Module::parse`] checks the ELF identification the way libkmod does (see
//! [`crate::error`] for which failure gives which errno) and reads only the section header
//! table (through the `object` crate's low-level ELF types); every accessor then reads just
//! the sections it needs. Like libkmod, sections are found by name and read by
//! `sh_offset`/`sh_size` whatever their type, every access bounds-checked.
use std::collections::HashMap;

use object::elf::{self, FileHeader32, FileHeader64};
use object::read::elf::{FileHeader, SectionHeader, SectionTable, Sym};
use object::{Endianness, SectionIndex};

use crate::Error;

/// Binding of an undefined symbol, as depmod uses it (weak ones never warn).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binding {
    Local,
    Global,
    Weak,
}

/// An exported symbol and its CRC (0 when the module has no `__crc_` symbols).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Export<'a> {
    pub name: &'a [u8],
    pub crc: u64,
}

/// A symbol the module needs: undefined `.symtab` entries in symtab order, then the
/// `__versions` entries that matched none (formats §5.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepSymbol<'a> {
    pub name: &'a [u8],
    pub crc: u64,
    pub binding: Binding,
}

/// One `.modinfo` entry as (key, value).
pub type ModinfoEntry<'a> = (&'a [u8], &'a [u8]);

/// One section header, as far as callers need it (layout sizes, tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectionInfo<'a> {
    pub name: &'a [u8],
    pub sh_type: u32,
    pub flags: u64,
    pub size: u64,
    pub addralign: u64,
    pub link: u32,
}

/// One `.symtab` entry, as far as callers need it (layout of the core symbol table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SymbolInfo<'a> {
    pub name: &'a [u8],
    pub shndx: u16,
    pub value: u64,
    pub bind: u8,
    pub typ: u8,
}

/// A parsed module image (already decompressed). Never panics on any input.
pub struct Module<'a> {
    elf: Elf<'a>,
}

/// The class-specific parse; both arms share one generic implementation.
enum Elf<'a> {
    Elf32(Parsed<'a, FileHeader32<Endianness>>),
    Elf64(Parsed<'a, FileHeader64<Endianness>>),
}

/// Runs `$body` with `$p` bound to the class-specific [`Parsed`].
macro_rules! with_elf {
    ($self:expr, $p:ident => $body:expr) => {
        match &$self.elf {
            Elf::Elf32($p) => $body,
            Elf::Elf64($p) => $body,
        }
    };
}

/// ELF identification offsets and values (elf.h).
const EI_NIDENT: usize = 16;
const EI_CLASS: usize = 4;
const EI_DATA: usize = 5;
/// libkmod fails files shorter than this with EINVAL before looking at the magic.
const MIN_FILE_SIZE: usize = 6;
/// `STT_SPARC_REGISTER`: SPARC register symbols, not real dependencies.
const STT_SPARC_REGISTER: u8 = 13;
/// The size of one `__versions` record (`struct modversion_info`) in both classes.
const MODVERSION_RECORD: usize = 64;

impl<'a> Module<'a> {
    /// Parse an ELF32/ELF64 image of either byte order, bounds-checking everything.
    pub fn parse(image: &'a [u8]) -> Result<Module<'a>, crate::Error> {
        if image.len() < MIN_FILE_SIZE {
            return Err(Error::Corrupt(format!(
                "file too short ({} bytes)",
                image.len()
            )));
        }
        if image.len() <= EI_NIDENT || !image.starts_with(&elf::ELFMAG) {
            return Err(Error::NotElf);
        }
        let endian = match image.get(EI_DATA).copied() {
            Some(elf::ELFDATA2LSB) => Endianness::Little,
            Some(elf::ELFDATA2MSB) => Endianness::Big,
            other => return Err(Error::Corrupt(format!("invalid EI_DATA {other:?}"))),
        };
        let elf = match image.get(EI_CLASS).copied() {
            Some(elf::ELFCLASS32) => Elf::Elf32(Parsed::new(image, endian)?),
            Some(elf::ELFCLASS64) => Elf::Elf64(Parsed::new(image, endian)?),
            other => return Err(Error::Corrupt(format!("invalid EI_CLASS {other:?}"))),
        };
        Ok(Module { elf })
    }

    /// `.modinfo` entries in section order as (key, value); an entry without `=` has an
    /// empty value. Empty strings (padding) are skipped.
    pub fn modinfo(&self) -> Result<Vec<ModinfoEntry<'a>>, crate::Error> {
        let data = with_elf!(self, p => p.section_data(".modinfo"))?
            .ok_or(Error::NoSection(".modinfo"))?;
        Ok(split_strings(data).map(split_key_value).collect())
    }

    /// Exported symbols (formats §5.5).
    pub fn exports(&self) -> Result<Vec<Export<'a>>, crate::Error> {
        with_elf!(self, p => p.exports())
    }

    /// Dependency symbols (formats §5.5). Empty without a `.symtab` (as kmod 30); an error
    /// when the `.symtab` is unreadable, which kmod's depmod treats as "no dependencies".
    pub fn dependency_symbols(&self) -> Result<Vec<DepSymbol<'a>>, crate::Error> {
        with_elf!(self, p => p.dependency_symbols())
    }

    /// `__versions` records as (crc, name), in section order.
    pub fn versions(&self) -> Result<Vec<(u64, &'a [u8])>, crate::Error> {
        with_elf!(self, p => p.versions())
    }

    /// The `.note.gnu.build-id` descriptor bytes, if any.
    pub fn build_id(&self) -> Option<&'a [u8]> {
        with_elf!(self, p => p.build_id())
    }

    /// True for ELFCLASS64.
    pub fn is_64(&self) -> bool {
        matches!(self.elf, Elf::Elf64(_))
    }

    /// True for ELFDATA2MSB.
    pub fn is_big_endian(&self) -> bool {
        with_elf!(self, p => p.endian == Endianness::Big)
    }

    /// `e_machine`.
    pub fn machine(&self) -> u16 {
        with_elf!(self, p => p.header.e_machine(p.endian))
    }

    /// The bytes of the first section called `name`; Ok(None) if there is none or its bytes
    /// lie outside the file.
    pub fn section_data(&self, name: &str) -> Result<Option<&'a [u8]>, Error> {
        with_elf!(self, p => p.section_data(name))
    }

    /// All section headers in table order (index 0 included).
    pub fn sections(&self) -> Vec<SectionInfo<'a>> {
        with_elf!(self, p => p.sections_info())
    }

    /// All entries of the first `SHT_SYMTAB`, in order (index 0 included).
    pub fn symbols(&self) -> Result<Vec<SymbolInfo<'a>>, Error> {
        with_elf!(self, p => p.symbols_info())
    }
}

/// The NUL-separated, non-empty strings of a string section.
fn split_strings(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    data.split(|&b| b == 0).filter(|s| !s.is_empty())
}

/// `key=value` split at the first `=`; no `=` gives an empty value.
fn split_key_value(entry: &[u8]) -> (&[u8], &[u8]) {
    match entry.iter().position(|&b| b == b'=') {
        Some(at) => (
            entry.get(..at).unwrap_or_default(),
            entry.get(at + 1..).unwrap_or_default(),
        ),
        None => (entry, &[]),
    }
}

/// The parse of one ELF class: the header and its section table.
struct Parsed<'a, E: FileHeader<Endian = Endianness>> {
    data: &'a [u8],
    endian: Endianness,
    header: &'a E,
    sections: SectionTable<'a, E, &'a [u8]>,
}

fn corrupt(err: object::read::Error) -> Error {
    Error::Corrupt(err.to_string())
}

impl<'a, E: FileHeader<Endian = Endianness>> Parsed<'a, E> {
    fn new(data: &'a [u8], endian: Endianness) -> Result<Self, Error> {
        // Not `E::parse`: that also insists on EI_VERSION == 1, which kmod never checks.
        let header: &'a E =
            object::pod::from_bytes(data.get(..size_of::<E>()).ok_or_else(|| {
                Error::Corrupt(format!(
                    "file too short for the ELF header ({} bytes)",
                    data.len()
                ))
            })?)
            .map_err(|()| Error::Corrupt("unreadable ELF header".into()))?
            .0;
        // kmod 30 refuses a file without a section header table with EINVAL (oracle).
        if header.e_shoff(endian).into() == 0 {
            return Err(Error::Corrupt("no section header table (e_shoff 0)".into()));
        }
        let sections = header.sections(endian, data).map_err(corrupt)?;
        Ok(Parsed {
            data,
            endian,
            header,
            sections,
        })
    }

    /// A section's bytes by `sh_offset`/`sh_size`, whatever its type (kmod reads even a
    /// `SHT_NOBITS` section this way); None if they lie outside the file.
    fn section_bytes(&self, section: &E::SectionHeader) -> Option<&'a [u8]> {
        let offset = usize::try_from(section.sh_offset(self.endian).into()).ok()?;
        let size = usize::try_from(section.sh_size(self.endian).into()).ok()?;
        self.data.get(offset..offset.checked_add(size)?)
    }

    /// The first section called `name`. A section whose bytes lie outside the file counts
    /// as missing, as in kmod (a `.modinfo` out of bounds gives ENOENT, checked with the
    /// oracle).
    fn section_data(&self, name: &str) -> Result<Option<&'a [u8]>, Error> {
        Ok(self
            .sections
            .section_by_name(self.endian, name.as_bytes())
            .and_then(|(_, section)| self.section_bytes(section)))
    }

    /// `.symtab` and `.strtab`, found by name as kmod does (not by type and `sh_link`).
    fn symtab(&self) -> Result<Option<Symtab<'a, E>>, Error> {
        let e = self.endian;
        let Some((_, symtab)) = self.sections.section_by_name(e, b".symtab") else {
            return Ok(None);
        };
        let bytes = self
            .section_bytes(symtab)
            .ok_or_else(|| Error::Corrupt(".symtab lies outside the file".into()))?;
        let strtab = self
            .section_data(".strtab")?
            .ok_or_else(|| Error::Corrupt(".strtab missing or outside the file".into()))?;
        let count = bytes.len() / size_of::<E::Sym>();
        let (syms, _) = object::pod::slice_from_bytes::<E::Sym>(bytes, count)
            .map_err(|()| Error::Corrupt("misaligned .symtab".into()))?;
        Ok(Some(Symtab {
            syms,
            strings: object::read::StringTable::new(strtab, 0, strtab.len() as u64),
        }))
    }

    fn sections_info(&self) -> Vec<SectionInfo<'a>> {
        let e = self.endian;
        self.sections
            .iter()
            .map(|s| SectionInfo {
                name: self.sections.section_name(e, s).unwrap_or_default(),
                sh_type: s.sh_type(e),
                flags: s.sh_flags(e).into(),
                size: s.sh_size(e).into(),
                addralign: s.sh_addralign(e).into(),
                link: s.sh_link(e),
            })
            .collect()
    }

    fn symbols_info(&self) -> Result<Vec<SymbolInfo<'a>>, Error> {
        let e = self.endian;
        let Some(t) = self.symtab()? else {
            return Ok(Vec::new());
        };
        t.syms
            .iter()
            .map(|sym| {
                Ok(SymbolInfo {
                    name: sym.name(e, t.strings).map_err(corrupt)?,
                    shndx: sym.st_shndx(e),
                    value: sym.st_value(e).into(),
                    bind: sym.st_bind(),
                    typ: sym.st_type(),
                })
            })
            .collect()
    }

    /// Exports from `__crc_` symbols, else (none, or an unreadable symbol table, as kmod
    /// does: checked with the oracle) from `__ksymtab_strings`.
    fn exports(&self) -> Result<Vec<Export<'a>>, Error> {
        match self.crc_exports() {
            Ok(exports) if !exports.is_empty() => Ok(exports),
            _ => Ok(self
                .section_data("__ksymtab_strings")?
                .map(|strings| {
                    split_strings(strings)
                        .map(|name| Export { name, crc: 0 })
                        .collect()
                })
                .unwrap_or_default()),
        }
    }

    fn crc_exports(&self) -> Result<Vec<Export<'a>>, Error> {
        let e = self.endian;
        let Some(t) = self.symtab()? else {
            return Ok(Vec::new());
        };
        let mut exports = Vec::new();
        for sym in t.syms {
            let name = sym.name(e, t.strings).map_err(corrupt)?;
            let Some(export) = name.strip_prefix(b"__crc_") else {
                continue;
            };
            exports.push(Export {
                name: export,
                crc: self.crc_value(sym)?,
            });
        }
        Ok(exports)
    }

    /// The CRC a `__crc_` symbol carries: its value when absolute or undefined, else the
    /// 32-bit word at that offset inside its section.
    fn crc_value(&self, sym: &E::Sym) -> Result<u64, Error> {
        let e = self.endian;
        let value: u64 = sym.st_value(e).into();
        let shndx = sym.st_shndx(e);
        if shndx == elf::SHN_ABS || shndx == elf::SHN_UNDEF {
            return Ok(value);
        }
        let section = self
            .sections
            .section(SectionIndex(shndx.into()))
            .map_err(corrupt)?;
        let data = self
            .section_bytes(section)
            .ok_or_else(|| Error::Corrupt(format!("section {shndx} lies outside the file")))?;
        let word = usize::try_from(value)
            .ok()
            .and_then(|at| data.get(at..at.checked_add(4)?))
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .ok_or_else(|| Error::Corrupt(format!("CRC at offset {value} outside its section")))?;
        Ok(u64::from(match e {
            Endianness::Little => u32::from_le_bytes(word),
            Endianness::Big => u32::from_be_bytes(word),
        }))
    }

    fn versions(&self) -> Result<Vec<(u64, &'a [u8])>, Error> {
        let Some(data) = self.section_data("__versions")? else {
            return Ok(Vec::new());
        };
        let crc_size = if E::is_type_64_sized() { 8 } else { 4 };
        let mut versions = Vec::with_capacity(data.len() / MODVERSION_RECORD);
        for record in data.chunks_exact(MODVERSION_RECORD) {
            let (crc, name) = record.split_at(crc_size);
            let crc = read_uint(crc, self.endian);
            // Records with an empty name are kept: kmod 30's depmod reports them as a
            // needed symbol "" (checked with the oracle).
            let name = name.split(|&b| b == 0).next().unwrap_or_default();
            versions.push((crc, name));
        }
        Ok(versions)
    }

    fn dependency_symbols(&self) -> Result<Vec<DepSymbol<'a>>, Error> {
        let e = self.endian;
        let versions = self.versions()?;
        // A name listed twice takes the CRC of its first record (as kmod 30: checked with
        // the oracle); the later record stays unmatched and is listed at the end.
        let mut by_name: HashMap<&[u8], usize> = HashMap::with_capacity(versions.len());
        for (i, (_, name)) in versions.iter().enumerate().rev() {
            by_name.insert(name, i);
        }
        let mut matched = vec![false; versions.len()];
        let sparc = matches!(self.header.e_machine(e), elf::EM_SPARC | elf::EM_SPARCV9);
        // Without a .symtab, kmod 30 reports no dependency symbols at all, not even the
        // __versions entries (checked with the oracle through depmod's modules.dep).
        let Some(Symtab { syms, strings }) = self.symtab()? else {
            return Ok(Vec::new());
        };
        let mut deps = Vec::new();
        for sym in syms.iter().skip(1) {
            if sym.st_shndx(e) != elf::SHN_UNDEF || (sparc && sym.st_type() == STT_SPARC_REGISTER) {
                continue;
            }
            let name = sym.name(e, strings).map_err(corrupt)?;
            // kmod 30 ignores unnamed undefined symbols (checked with the oracle).
            if name.is_empty() {
                continue;
            }
            let crc = match by_name.get(name) {
                Some(&i) => {
                    if let Some(m) = matched.get_mut(i) {
                        *m = true;
                    }
                    versions.get(i).map_or(0, |v| v.0)
                }
                None => 0,
            };
            let binding = match sym.st_bind() {
                elf::STB_LOCAL => Binding::Local,
                elf::STB_WEAK => Binding::Weak,
                _ => Binding::Global,
            };
            deps.push(DepSymbol { name, crc, binding });
        }
        let unmatched = versions.iter().zip(&matched).filter(|(_, &m)| !m);
        deps.extend(unmatched.map(|(&(crc, name), _)| DepSymbol {
            name,
            crc,
            binding: Binding::Global,
        }));
        Ok(deps)
    }

    fn build_id(&self) -> Option<&'a [u8]> {
        let note = self.section_data(".note.gnu.build-id").ok()??;
        parse_build_id_note(note, self.endian)
    }
}

/// The symbol table and its strings.
struct Symtab<'a, E: FileHeader> {
    syms: &'a [E::Sym],
    strings: object::read::StringTable<'a, &'a [u8]>,
}

/// An unsigned integer of 4 or 8 bytes in the ELF's byte order.
fn read_uint(bytes: &[u8], endian: Endianness) -> u64 {
    let mut value: u64 = 0;
    match endian {
        Endianness::Little => {
            for &b in bytes.iter().rev() {
                value = value << 8 | u64::from(b);
            }
        }
        Endianness::Big => {
            for &b in bytes {
                value = value << 8 | u64::from(b);
            }
        }
    }
    value
}

/// The descriptor of the first `NT_GNU_BUILD_ID` note named `GNU` in a note section.
fn parse_build_id_note(mut note: &[u8], endian: Endianness) -> Option<&[u8]> {
    fn align4(n: usize) -> Option<usize> {
        n.checked_add(3).map(|n| n & !3)
    }
    while note.len() >= 12 {
        let word = |at: usize| note.get(at..at + 4).map(|b| read_uint(b, endian) as usize);
        let (namesz, descsz, n_type) = (word(0)?, word(4)?, word(8)?);
        let name_end = 12usize.checked_add(namesz)?;
        let desc_at = align4(name_end)?;
        let desc_end = desc_at.checked_add(descsz)?;
        let name = note.get(12..name_end)?;
        let desc = note.get(desc_at..desc_end)?;
        if n_type == elf::NT_GNU_BUILD_ID as usize && name == b"GNU\0" {
            return Some(desc);
        }
        note = note.get(align4(desc_end)?..)?;
    }
    None
}
