//! The kernel's module-area layout of a module: how many bytes each memory type takes
//! when the module is loaded, per kernel generation (kernel-loader §5).
//!
//! The sections are placed by `layout_sections()` rules: five flag masks in order, each
//! walking the section headers in order, a section placed once; then `layout_symtab()` adds
//! the core symbol table to the data and the full `.symtab`/`.strtab` plus `mod_kallsyms` to
//! the init data. 6.1 has one core and one init area (`core_layout`/`init_layout`, page
//! aligned between kinds because of `STRICT_MODULE_RWX`); 6.4 and later have up to seven
//! `module_memory` types, each allocated page aligned.
use crate::{Error, Module, SectionInfo};

/// The kernel generation whose layout rules apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Generation {
    /// Up to 6.3: `core_layout` + `init_layout` (Debian 12's 6.1).
    CoreInit,
    /// 6.4 and later: `struct module_memory mem[MOD_MEM_NUM_TYPES]` (Debian 13's 6.12).
    ModuleMemory,
}

/// `enum mod_mem_type`, in the kernel's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemType {
    Text = 0,
    Data = 1,
    Rodata = 2,
    RoAfterInit = 3,
    InitText = 4,
    InitData = 5,
    InitRodata = 6,
}

impl MemType {
    /// All types in the kernel's order.
    pub const ALL: [MemType; 7] = [
        MemType::Text,
        MemType::Data,
        MemType::Rodata,
        MemType::RoAfterInit,
        MemType::InitText,
        MemType::InitData,
        MemType::InitRodata,
    ];

    /// True for the types freed after init.
    pub fn is_init(self) -> bool {
        matches!(
            self,
            MemType::InitText | MemType::InitData | MemType::InitRodata
        )
    }
}

/// Bytes per memory type of a 6.4+ kernel: `raw` is `mod->mem[type].size`, the allocation
/// is its page-aligned size (nothing for an empty type).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MemLayout {
    pub raw: [u64; 7],
}

impl MemLayout {
    /// `mod->mem[t].size`.
    pub fn raw_size(&self, t: MemType) -> u64 {
        self.raw.get(t as usize).copied().unwrap_or(0)
    }
    /// The module-area allocation of one type: `PAGE_ALIGN(size)`, 0 when empty.
    pub fn allocated(&self, t: MemType) -> u64 {
        page_align(self.raw_size(t))
    }
    /// Sum of the core types' allocations (sysfs `coresize`).
    pub fn core_size(&self) -> u64 {
        MemType::ALL
            .iter()
            .filter(|t| !t.is_init())
            .map(|&t| self.allocated(t))
            .sum()
    }
    /// Sum of the init types' allocations.
    pub fn init_size(&self) -> u64 {
        MemType::ALL
            .iter()
            .filter(|t| t.is_init())
            .map(|&t| self.allocated(t))
            .sum()
    }
}

/// The two areas of a 6.1 kernel, already page aligned (`core_layout.size`,
/// `init_layout.size`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CoreInitLayout {
    pub core: u64,
    pub init: u64,
}

/// The layout of either generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    CoreInit(CoreInitLayout),
    ModuleMemory(MemLayout),
}

impl Layout {
    /// Bytes of module area the loaded module keeps (sysfs `coresize`).
    pub fn core_size(&self) -> u64 {
        match self {
            Layout::CoreInit(l) => l.core,
            Layout::ModuleMemory(l) => l.core_size(),
        }
    }
    /// Bytes of module area freed after init.
    pub fn init_size(&self) -> u64 {
        match self {
            Layout::CoreInit(l) => l.init,
            Layout::ModuleMemory(l) => l.init_size(),
        }
    }
}

const PAGE_SIZE: u64 = 4096;
const SHF_WRITE: u64 = 0x1;
const SHF_ALLOC: u64 = 0x2;
const SHF_EXECINSTR: u64 = 0x4;
const SHF_RO_AFTER_INIT: u64 = 0x0020_0000;
const SHT_SYMTAB: u32 = 2;
const SHN_UNDEF: u16 = 0;

/// `layout_sections()` masks as (required, forbidden), `ARCH_SHF_SMALL` being 0 on x86.
const MASKS: [(u64, u64); 5] = [
    (SHF_EXECINSTR | SHF_ALLOC, 0),
    (SHF_ALLOC, SHF_WRITE),
    (SHF_RO_AFTER_INIT | SHF_ALLOC, 0),
    (SHF_WRITE | SHF_ALLOC, 0),
    (SHF_ALLOC, 0),
];
/// Memory type per mask for core and for init sections (`None`: not placed by that mask).
const CORE_TYPES: [MemType; 5] = [
    MemType::Text,
    MemType::Rodata,
    MemType::RoAfterInit,
    MemType::Data,
    MemType::Data,
];
const INIT_TYPES: [Option<MemType>; 5] = [
    Some(MemType::InitText),
    Some(MemType::InitRodata),
    None,
    Some(MemType::InitData),
    Some(MemType::InitData),
];

fn page_align(n: u64) -> u64 {
    n.div_ceil(PAGE_SIZE).saturating_mul(PAGE_SIZE)
}

/// `ALIGN(size, align ?: 1)`, saturating on absurd input.
fn align(size: u64, align: u64) -> u64 {
    let a = align.max(1);
    size.div_ceil(a).saturating_mul(a)
}

/// `offset = ALIGN(size, sh_addralign); size = offset + sh_size`.
fn place(size: &mut u64, sh_size: u64, sh_addralign: u64) {
    *size = align(*size, sh_addralign).saturating_add(sh_size);
}

/// A section with the flag fix-ups done before layout (kernel-loader §5.1 step 2).
fn fixed_flags(section: &SectionInfo<'_>) -> u64 {
    match section.name {
        b"__versions" | b".modinfo" | b".data..percpu" => section.flags & !SHF_ALLOC,
        b".data..ro_after_init" | b"__jump_table" => section.flags | SHF_RO_AFTER_INIT,
        _ => section.flags,
    }
}

fn is_init(section: &SectionInfo<'_>) -> bool {
    section.name.starts_with(b".init")
}

fn matches(flags: u64, (required, forbidden): (u64, u64)) -> bool {
    flags & required == required && flags & forbidden == 0
}

/// One `SHF_ALLOC` section as layout sees it: flags after the fix-ups of kernel-loader
/// §5.1 step 2, size, alignment, and whether it is an init section (`.init*`). Sections
/// without `SHF_ALLOC` after the fix-ups are never placed and are not kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SectionFacts {
    pub flags: u64,
    pub size: u64,
    pub align: u64,
    pub init: bool,
}

/// What `layout_symtab()` needs from the symbol table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SymtabFacts {
    /// `.symtab` size and alignment.
    pub symtab_size: u64,
    pub symtab_align: u64,
    /// `.strtab` size and alignment.
    pub strtab_size: u64,
    pub strtab_align: u64,
    /// All symbols, symbol 0 included.
    pub nsyms: u64,
    /// Core symbols (symbol 0 included) and their name bytes with NULs.
    pub ndst: u64,
    pub core_name_bytes: u64,
    /// `sizeof(Elf_Sym)`: 24 (ELF64) or 16 (ELF32).
    pub sym_size: u64,
    /// `sizeof(struct mod_kallsyms)` and its alignment: 32/8 (64-bit) or 16/4.
    pub kallsyms_size: u64,
    pub kallsyms_align: u64,
}

/// Everything the layout rules of both generations read from a module: the placed
/// sections in header order and the symbol-table facts. Small enough to ship in profiles,
/// so a module's layout can be recomputed for any kernel generation without its file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LayoutFacts {
    pub sections: Vec<SectionFacts>,
    pub symtab: Option<SymtabFacts>,
}

impl LayoutFacts {
    /// Extracts the facts from a parsed (decompressed) module.
    pub fn of(module: &Module<'_>) -> Result<LayoutFacts, Error> {
        let sections = module.sections();
        let placed = sections
            .iter()
            .filter(|s| fixed_flags(s) & SHF_ALLOC != 0)
            .map(|s| SectionFacts {
                flags: fixed_flags(s),
                size: s.size,
                align: s.addralign,
                init: is_init(s),
            })
            .collect();
        Ok(LayoutFacts {
            sections: placed,
            symtab: symtab_facts(module, &sections)?,
        })
    }

    /// The layout under `generation`'s rules.
    pub fn layout(&self, generation: Generation) -> Layout {
        match generation {
            Generation::CoreInit => Layout::CoreInit(self.core_init_layout()),
            Generation::ModuleMemory => Layout::ModuleMemory(self.mem_layout()),
        }
    }

    /// 6.4+ rules (kernel-loader §5.2).
    pub fn mem_layout(&self) -> MemLayout {
        let mut l = MemLayout::default();
        let mut placed = vec![false; self.sections.len()];
        for init in [false, true] {
            for (m, &mask) in MASKS.iter().enumerate() {
                let target = if init {
                    INIT_TYPES.get(m).copied().flatten()
                } else {
                    CORE_TYPES.get(m).copied()
                };
                let Some(target) = target else { continue };
                for (s, done) in self.sections.iter().zip(placed.iter_mut()) {
                    if *done || s.init != init || !matches(s.flags, mask) {
                        continue;
                    }
                    if let Some(size) = l.raw.get_mut(target as usize) {
                        place(size, s.size, s.align);
                        *done = true;
                    }
                }
            }
        }
        if let Some(t) = &self.symtab {
            let [_, data, _, _, _, init_data, _] = &mut l.raw;
            place(init_data, t.symtab_size, t.symtab_align);
            *data = t.core_symtab_end(*data);
            place(init_data, t.strtab_size, t.strtab_align);
            *init_data = t.kallsyms_end(*init_data);
        }
        l
    }

    /// 6.1 rules (kernel-loader §5.3): one core and one init size, page aligned after the
    /// text, rodata, ro_after_init (core only) and final masks.
    pub fn core_init_layout(&self) -> CoreInitLayout {
        let mut l = CoreInitLayout::default();
        let mut placed = vec![false; self.sections.len()];
        for init in [false, true] {
            let size = if init { &mut l.init } else { &mut l.core };
            for (m, &mask) in MASKS.iter().enumerate() {
                for (s, done) in self.sections.iter().zip(placed.iter_mut()) {
                    if *done || s.init != init || !matches(s.flags, mask) {
                        continue;
                    }
                    place(size, s.size, s.align);
                    *done = true;
                }
                let aligned_here = match m {
                    0 | 1 | 4 => true,
                    2 => !init,
                    _ => false,
                };
                if aligned_here {
                    *size = page_align(*size);
                }
            }
        }
        if let Some(t) = &self.symtab {
            place(&mut l.init, t.symtab_size, t.symtab_align);
            l.core = page_align(t.core_symtab_end(l.core));
            place(&mut l.init, t.strtab_size, t.strtab_align);
            l.init = page_align(t.kallsyms_end(l.init));
        }
        l
    }
}

impl SymtabFacts {
    /// Data size after the core symbol table: `ALIGN(size, symtab align)` + the kept
    /// symbols, their names and one type byte each (saturating on absurd input).
    fn core_symtab_end(&self, size: u64) -> u64 {
        align(size, self.symtab_align)
            .saturating_add(self.ndst.saturating_mul(self.sym_size))
            .saturating_add(self.core_name_bytes)
            .saturating_add(self.ndst)
    }

    /// Init data size after `struct mod_kallsyms` and one type byte per symbol.
    fn kallsyms_end(&self, size: u64) -> u64 {
        align(size, self.kallsyms_align)
            .saturating_add(self.kallsyms_size)
            .saturating_add(self.nsyms)
    }
}

fn symtab_facts(
    module: &Module<'_>,
    sections: &[SectionInfo<'_>],
) -> Result<Option<SymtabFacts>, Error> {
    let Some(symtab) = sections.iter().find(|s| s.sh_type == SHT_SYMTAB) else {
        return Ok(None);
    };
    let strtab = sections.get(symtab.link as usize).ok_or_else(|| {
        Error::Corrupt(format!(".symtab links to missing section {}", symtab.link))
    })?;
    let pcpu = sections.iter().position(|s| s.name == b".data..percpu");
    let symbols = module.symbols()?;
    let (mut ndst, mut core_name_bytes) = (0u64, 0u64);
    for (i, sym) in symbols.iter().enumerate() {
        let shndx = usize::from(sym.shndx);
        let core = i == 0
            || (sym.shndx != SHN_UNDEF
                && !sym.name.is_empty()
                && sections.get(shndx).is_some_and(|sec| {
                    Some(shndx) == pcpu || (fixed_flags(sec) & SHF_ALLOC != 0 && !is_init(sec))
                }));
        if core {
            ndst += 1;
            core_name_bytes = core_name_bytes.saturating_add(sym.name.len() as u64 + 1);
        }
    }
    let (sym_size, kallsyms_size, kallsyms_align) = if module.is_64() {
        (24, 32, 8)
    } else {
        (16, 16, 4)
    };
    Ok(Some(SymtabFacts {
        symtab_size: symtab.size,
        symtab_align: symtab.addralign,
        strtab_size: strtab.size,
        strtab_align: strtab.addralign,
        nsyms: symbols.len() as u64,
        ndst,
        core_name_bytes,
        sym_size,
        kallsyms_size,
        kallsyms_align,
    }))
}

/// The layout of `module` under `generation`'s rules.
pub fn layout(module: &Module<'_>, generation: Generation) -> Result<Layout, Error> {
    Ok(LayoutFacts::of(module)?.layout(generation))
}

/// 6.4+ rules (kernel-loader §5.2).
pub fn mem_layout(module: &Module<'_>) -> Result<MemLayout, Error> {
    Ok(LayoutFacts::of(module)?.mem_layout())
}

/// 6.1 rules (kernel-loader §5.3).
pub fn core_init_layout(module: &Module<'_>) -> Result<CoreInitLayout, Error> {
    Ok(LayoutFacts::of(module)?.core_init_layout())
}
