//! Force flags on the `init_module` path (kmod-tools §7.4): the kernel cannot be told to
//! skip its checks there, so the image is edited instead — `--force-modversion` clears
//! `SHF_ALLOC` of `__versions`, `--force-vermagic` zeroes the `vermagic=` string of
//! `.modinfo`. Works on ELF32 and ELF64 of either byte order, never panics; an image that
//! cannot be edited is an error (ENOEXEC).

use crate::Errno;

const SHF_ALLOC: u64 = 2;

/// Reads little- or big-endian integers of the image.
#[derive(Clone, Copy)]
struct Elf {
    is64: bool,
    big: bool,
}

impl Elf {
    fn of(image: &[u8]) -> Option<Elf> {
        if image.get(..4)? != b"\x7fELF" {
            return None;
        }
        let is64 = match image.get(4)? {
            1 => false,
            2 => true,
            _ => return None,
        };
        let big = match image.get(5)? {
            1 => false,
            2 => true,
            _ => return None,
        };
        Some(Elf { is64, big })
    }

    fn uint(&self, image: &[u8], at: usize, size: usize) -> Option<u64> {
        let bytes = image.get(at..at.checked_add(size)?)?;
        let mut v: u64 = 0;
        for i in 0..size {
            let b = if self.big {
                bytes[i]
            } else {
                bytes[size - 1 - i]
            };
            v = (v << 8) | u64::from(b);
        }
        Some(v)
    }

    fn put(&self, image: &mut [u8], at: usize, size: usize, value: u64) -> Option<()> {
        let bytes = image.get_mut(at..at.checked_add(size)?)?;
        for (i, slot) in bytes.iter_mut().enumerate() {
            let shift = if self.big { (size - 1 - i) * 8 } else { i * 8 };
            *slot = (value >> shift) as u8;
        }
        Some(())
    }

    fn word(&self) -> usize {
        if self.is64 {
            8
        } else {
            4
        }
    }
}

/// One section header: where it is and what it says.
struct Section {
    header: usize,
    name: Vec<u8>,
    offset: usize,
    size: usize,
}

fn sections(image: &[u8], elf: Elf) -> Option<Vec<Section>> {
    let w = elf.word();
    let (shoff_at, rest_at) = if elf.is64 { (0x28, 0x3a) } else { (0x20, 0x2e) };
    let shoff = usize::try_from(elf.uint(image, shoff_at, w)?).ok()?;
    let entsize = elf.uint(image, rest_at, 2)? as usize;
    let count = elf.uint(image, rest_at + 2, 2)? as usize;
    let strndx = elf.uint(image, rest_at + 4, 2)? as usize;
    let header = |i: usize| shoff.checked_add(i.checked_mul(entsize)?);
    // sh_name, sh_type (4 + 4), sh_flags, sh_addr, sh_offset, sh_size (one word each)
    let field = |h: usize, n: usize| elf.uint(image, h + 8 + n * w, w);
    let str_header = header(strndx)?;
    let strtab = usize::try_from(field(str_header, 2)?).ok()?;
    let mut out = Vec::new();
    for i in 0..count {
        let h = header(i)?;
        let name_at = strtab.checked_add(elf.uint(image, h, 4)? as usize)?;
        let name = image.get(name_at..)?;
        let end = name.iter().position(|&b| b == 0)?;
        out.push(Section {
            header: h,
            name: name[..end].to_vec(),
            offset: usize::try_from(field(h, 2)?).ok()?,
            size: usize::try_from(field(h, 3)?).ok()?,
        });
    }
    Some(out)
}

fn bad() -> Errno {
    Errno::NOEXEC
}

/// Clear `SHF_ALLOC` of `__versions` (nothing to do when there is none).
pub fn strip_modversions(image: &mut [u8]) -> Result<(), Errno> {
    let elf = Elf::of(image).ok_or_else(bad)?;
    let secs = sections(image, elf).ok_or_else(bad)?;
    for s in secs.iter().filter(|s| s.name == b"__versions") {
        let at = s.header + 8;
        let flags = elf.uint(image, at, elf.word()).ok_or_else(bad)?;
        elf.put(image, at, elf.word(), flags & !SHF_ALLOC)
            .ok_or_else(bad)?;
    }
    Ok(())
}

/// Zero every `vermagic=…` string of `.modinfo`.
pub fn strip_vermagic(image: &mut [u8]) -> Result<(), Errno> {
    let elf = Elf::of(image).ok_or_else(bad)?;
    let secs = sections(image, elf).ok_or_else(bad)?;
    for s in secs.iter().filter(|s| s.name == b".modinfo") {
        let end = s.offset.checked_add(s.size).ok_or_else(bad)?;
        let data = image.get_mut(s.offset..end).ok_or_else(bad)?;
        let mut start = 0;
        while start < data.len() {
            let len = data[start..]
                .iter()
                .position(|&b| b == 0)
                .unwrap_or(data.len() - start);
            if data[start..start + len].starts_with(b"vermagic=") {
                data[start..start + len].fill(0);
            }
            start += len + 1;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use modkit_elf::synth::{Class, Endian, ModuleBuilder};

    fn versions_flags(image: &[u8]) -> u64 {
        let m = modkit_elf::Module::parse(image).unwrap();
        m.sections()
            .into_iter()
            .find(|s| s.name == b"__versions")
            .map(|s| s.flags)
            .unwrap()
    }

    #[test]
    fn both_strips_on_every_class_and_byte_order() {
        for (class, endian) in [
            (Class::Elf64, Endian::Little),
            (Class::Elf32, Endian::Big),
            (Class::Elf32, Endian::Little),
            (Class::Elf64, Endian::Big),
        ] {
            let mut image = ModuleBuilder::new()
                .class(class)
                .endian(endian)
                .modinfo("vermagic", "6.1.0 SMP mod_unload")
                .modinfo("license", "GPL")
                .version(0x1234, "module_layout")
                .build();
            assert_ne!(versions_flags(&image) & SHF_ALLOC, 0);
            strip_modversions(&mut image).unwrap();
            assert_eq!(versions_flags(&image) & SHF_ALLOC, 0);
            strip_vermagic(&mut image).unwrap();
            let m = modkit_elf::Module::parse(&image).unwrap();
            let keys: Vec<Vec<u8>> = m
                .modinfo()
                .unwrap()
                .iter()
                .map(|(k, _)| k.to_vec())
                .collect();
            assert_eq!(keys, vec![b"license".to_vec()]);
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert_eq!(strip_modversions(&mut [0u8; 10]), Err(Errno::NOEXEC));
        let mut elfish = b"\x7fELF\x02\x01".to_vec();
        elfish.resize(64, 0xff);
        assert!(strip_vermagic(&mut elfish).is_err());
    }
}
