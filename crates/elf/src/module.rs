//! The ELF parse of a module image: sections, `.modinfo`, symbols, `__versions`, build-id.

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

/// A parsed module image (already decompressed). Never panics on any input.
pub struct Module<'a> {
    _image: &'a [u8],
}

impl<'a> Module<'a> {
    /// Parse an ELF32/ELF64 image of either byte order, bounds-checking everything.
    pub fn parse(image: &'a [u8]) -> Result<Module<'a>, crate::Error> {
        let _ = image;
        todo!("elf helper")
    }
    /// `.modinfo` entries in section order as (key, value); an entry without `=` has an
    /// empty value. Empty strings (padding) are skipped.
    pub fn modinfo(&self) -> Result<Vec<(&'a [u8], &'a [u8])>, crate::Error> {
        todo!("elf helper")
    }
    /// Exported symbols (formats §5.5).
    pub fn exports(&self) -> Result<Vec<Export<'a>>, crate::Error> {
        todo!("elf helper")
    }
    /// Dependency symbols (formats §5.5).
    pub fn dependency_symbols(&self) -> Result<Vec<DepSymbol<'a>>, crate::Error> {
        todo!("elf helper")
    }
    /// `__versions` records as (crc, name), in section order.
    pub fn versions(&self) -> Result<Vec<(u64, &'a [u8])>, crate::Error> {
        todo!("elf helper")
    }
    /// The `.note.gnu.build-id` descriptor bytes, if any.
    pub fn build_id(&self) -> Option<&'a [u8]> {
        todo!("elf helper")
    }
}
