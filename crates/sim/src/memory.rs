//! The three address spaces of kernel-loader §3 and §6 and what each allocation charges:
//! the general vmalloc area (read buffers, xz dictionaries, page-pointer arrays; counted in
//! `VmallocUsed`), `vmap` of page-allocator pages (decompressed images; physical only), and
//! the module area (`module_alloc`/`execmem_alloc`: first fit, page aligned, one guard page
//! per area, a fixed capacity, -ENOMEM when exhausted), plus the ROX cache's 2 MiB blocks
//! (§12.1) and the direct-map 2 MiB regions split by permission changes and frees (§12.2).

use std::collections::{BTreeMap, HashSet};

/// `PAGE_SIZE`.
pub const PAGE: u64 = 4096;
/// A PMD: the ROX cache block and the direct-map large page.
pub const HUGE: u64 = 2 << 20;
/// `MODULES_VADDR` with and without KASLR (x86_64).
pub const MODULES_VADDR_KASLR: u64 = 0xffff_ffff_c000_0000;
pub const MODULES_VADDR_NOKASLR: u64 = 0xffff_ffff_a000_0000;
/// `MODULES_END`.
pub const MODULES_END: u64 = 0xffff_ffff_ff00_0000;

/// `pages(n) = ceil(n / 4096)`.
pub fn pages(n: u64) -> u64 {
    n.div_ceil(PAGE)
}

/// `parr(p)`: pages of the page-pointer array of a `p`-page vmalloc allocation, vmalloc'ed
/// itself when it exceeds one page (else kmalloc'ed: 0).
pub fn parr(p: u64) -> u64 {
    let bytes = 8 * p;
    if bytes > PAGE {
        pages(bytes)
    } else {
        0
    }
}

/// `VmallocUsed` pages of a vmalloc allocation of `n` bytes: `pages(n) + parr(pages(n))`.
pub fn vmalloc_pages(n: u64) -> u64 {
    let p = pages(n);
    p + parr(p)
}

/// One range of the module area: start and length including its guard page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Range {
    pub start: u64,
    pub len: u64,
}

/// A fixed range allocated lowest-address first fit, with the free gaps kept sorted.
#[derive(Clone, Debug)]
pub struct AddressSpace {
    pub start: u64,
    pub end: u64,
    /// Free gaps: start → length.
    gaps: BTreeMap<u64, u64>,
    pub used: u64,
    pub peak_used: u64,
}

impl AddressSpace {
    pub fn new(start: u64, end: u64) -> AddressSpace {
        let mut gaps = BTreeMap::new();
        if end > start {
            gaps.insert(start, end - start);
        }
        AddressSpace {
            start,
            end,
            gaps,
            used: 0,
            peak_used: 0,
        }
    }

    /// Reserves `len` bytes aligned to `align`; `None` when no gap fits (exhaustion).
    pub fn alloc(&mut self, len: u64, align: u64) -> Option<Range> {
        let align = align.max(1);
        let (gap_start, gap_len, at) = self.gaps.iter().find_map(|(&s, &l)| {
            let at = s.div_ceil(align).checked_mul(align)?;
            (at.checked_add(len)? <= s + l).then_some((s, l, at))
        })?;
        self.gaps.remove(&gap_start);
        if at > gap_start {
            self.gaps.insert(gap_start, at - gap_start);
        }
        let tail = gap_start + gap_len - (at + len);
        if tail > 0 {
            self.gaps.insert(at + len, tail);
        }
        self.used += len;
        self.peak_used = self.peak_used.max(self.used);
        Some(Range { start: at, len })
    }

    /// Returns a range, merging it with its neighbours (the model purges module-area
    /// frees synchronously, as `VM_FLUSH_RESET_PERMS` does).
    pub fn free(&mut self, r: Range) {
        let (mut start, mut len) = (r.start, r.len);
        if let Some((&ps, &pl)) = self.gaps.range(..start).next_back() {
            if ps + pl == start {
                self.gaps.remove(&ps);
                start = ps;
                len += pl;
            }
        }
        if let Some(&nl) = self.gaps.get(&(r.start + r.len)) {
            self.gaps.remove(&(r.start + r.len));
            len += nl;
        }
        self.gaps.insert(start, len);
        self.used = self.used.saturating_sub(r.len);
    }

    pub fn capacity(&self) -> u64 {
        self.end - self.start
    }
}

/// Physical memory: page frames handed out from a bump pointer, freed runs reused LIFO.
/// Only placement matters (which 2 MiB regions module pages land in).
#[derive(Clone, Debug, Default)]
struct Frames {
    next: u64,
    free: Vec<(u64, u64)>,
}

impl Frames {
    fn alloc(&mut self, n: u64) -> (u64, u64) {
        if let Some(last) = self.free.last_mut() {
            if last.1 >= n {
                let run = (last.0, n);
                last.0 += n;
                last.1 -= n;
                if last.1 == 0 {
                    self.free.pop();
                }
                return run;
            }
        }
        let run = (self.next, n);
        self.next += n;
        run
    }

    fn free(&mut self, run: (u64, u64)) {
        if run.1 > 0 {
            self.free.push(run);
        }
    }
}

/// A module-area allocation: its address range (with guard page), the pages charged to
/// `VmallocUsed`, and its physical frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Area {
    pub range: Range,
    /// Bytes of the allocation without the guard page (`PAGE_ALIGN`ed size).
    pub size: u64,
    pub vmalloc_pages: u64,
    pub phys_pages: u64,
    frames: (u64, u64),
    /// Carved from the ROX cache: `range` is inside a cache block, no guard, not charged.
    pub rox: bool,
}

/// One ROX cache block (§12.1): a 2 MiB-aligned module-area range and its free pieces.
#[derive(Clone, Debug)]
struct RoxBlock {
    range: Range,
    size: u64,
    free: BTreeMap<u64, u64>,
    frames: (u64, u64),
}

/// Why an allocation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exhausted;

/// All memory the model accounts.
#[derive(Clone, Debug)]
pub struct Memory {
    /// `VmallocUsed` pages (current, peak).
    pub vmalloc_used: u64,
    pub vmalloc_peak: u64,
    /// Physical pages charged (current, peak): the `MemFree` drop.
    pub phys_used: u64,
    pub phys_peak: u64,
    /// General vmalloc area address space in use (bytes with guards; never exhausts).
    pub vmalloc_space: u64,
    pub module_area: AddressSpace,
    align: u64,
    kasan: bool,
    frames: Frames,
    rox: Vec<RoxBlock>,
    /// Direct-map 2 MiB regions split (permanently) so far.
    split: HashSet<u64>,
    recollapse: bool,
}

impl Memory {
    /// Empty memory for a module area starting `offset_pages` pages into the range.
    pub fn new(kaslr: bool, kasan: bool, offset_pages: u64, recollapse: bool) -> Memory {
        let vaddr = if kaslr {
            MODULES_VADDR_KASLR
        } else {
            MODULES_VADDR_NOKASLR
        };
        let start = vaddr + offset_pages * PAGE;
        Memory {
            vmalloc_used: 0,
            vmalloc_peak: 0,
            phys_used: 0,
            phys_peak: 0,
            vmalloc_space: 0,
            module_area: AddressSpace::new(start, MODULES_END),
            align: if kasan { PAGE << 3 } else { PAGE },
            kasan,
            frames: Frames::default(),
            rox: Vec::new(),
            split: HashSet::new(),
            recollapse,
        }
    }

    fn charge(&mut self, vmalloc: i64, phys: i64) {
        self.vmalloc_used = self.vmalloc_used.saturating_add_signed(vmalloc);
        self.vmalloc_peak = self.vmalloc_peak.max(self.vmalloc_used);
        self.phys_used = self.phys_used.saturating_add_signed(phys);
        self.phys_peak = self.phys_peak.max(self.phys_used);
    }

    /// `vmalloc(n)`: returns the pages charged (freed with [`Memory::vfree`]).
    pub fn vmalloc(&mut self, n: u64) -> u64 {
        let p = vmalloc_pages(n);
        self.charge(p as i64, p as i64);
        self.vmalloc_space += (pages(n) + 1) * PAGE;
        if parr(pages(n)) > 0 {
            self.vmalloc_space += (parr(pages(n)) + 1) * PAGE;
        }
        p
    }

    /// `vfree()` of a [`Memory::vmalloc`] allocation of `n` bytes.
    pub fn vfree(&mut self, n: u64) {
        let p = vmalloc_pages(n);
        self.charge(-(p as i64), -(p as i64));
        self.vmalloc_space = self.vmalloc_space.saturating_sub((pages(n) + 1) * PAGE);
        if parr(pages(n)) > 0 {
            self.vmalloc_space = self
                .vmalloc_space
                .saturating_sub((parr(pages(n)) + 1) * PAGE);
        }
    }

    /// Page-allocator pages not mapped by vmalloc (decompressed images, page lists, BTF).
    pub fn pages_alloc(&mut self, n: u64) {
        self.charge(0, pages(n) as i64);
    }

    pub fn pages_free(&mut self, n: u64) {
        self.charge(0, -(pages(n) as i64));
    }

    /// One module-area allocation of `size` bytes (`module_alloc`/`execmem_alloc`):
    /// `PAGE_ALIGN`ed (`MODULE_ALIGN` with KASAN, plus shadow), one guard page.
    pub fn module_alloc(&mut self, size: u64) -> Result<Area, Exhausted> {
        let size = size.div_ceil(PAGE) * PAGE;
        let reserve = size.div_ceil(self.align) * self.align;
        let range = self
            .module_area
            .alloc(reserve + PAGE, self.align)
            .ok_or(Exhausted)?;
        let p = pages(size);
        let shadow = if self.kasan { pages(reserve / 8) } else { 0 };
        let frames = self.frames.alloc(p);
        let vm = p + parr(p);
        self.charge(vm as i64, (vm + shadow) as i64);
        Ok(Area {
            range,
            size,
            vmalloc_pages: vm,
            phys_pages: vm + shadow,
            frames,
            rox: false,
        })
    }

    /// Frees a module-area allocation; its direct-map entries are reset page by page,
    /// which splits every large page covering them (§12.2).
    pub fn module_free(&mut self, area: Area) {
        if area.rox {
            self.rox_free(area);
            return;
        }
        self.touch_direct_map(area.frames);
        self.module_area.free(area.range);
        self.frames.free(area.frames);
        self.charge(-(area.vmalloc_pages as i64), -(area.phys_pages as i64));
    }

    /// `set_memory_ro()` at COMING: the direct-map alias changes too (splits).
    pub fn set_ro(&mut self, area: &Area) {
        if !(area.rox && self.recollapse) {
            self.touch_direct_map(area.frames);
        }
    }

    fn touch_direct_map(&mut self, (pfn, n): (u64, u64)) {
        let per = HUGE / PAGE;
        if n == 0 {
            return;
        }
        for region in pfn / per..=(pfn + n - 1) / per {
            self.split.insert(region);
        }
    }

    /// Direct-map 2 MiB pages split so far.
    pub fn direct_map_splits(&self) -> u64 {
        self.split.len() as u64
    }

    /// Module text from the ROX cache: carved first fit from a block, no guard page; a
    /// new block (whole 2 MiB multiples, charged entirely) when none has room.
    pub fn rox_alloc(&mut self, size: u64) -> Result<Area, Exhausted> {
        let size = size.div_ceil(PAGE) * PAGE;
        let found = self.rox.iter().enumerate().find_map(|(b, block)| {
            block
                .free
                .iter()
                .find(|(_, &l)| l >= size)
                .map(|(&off, &l)| (b, off, l))
        });
        let (b, off, l) = match found {
            Some(f) => f,
            None => {
                let block_size = size.div_ceil(HUGE) * HUGE;
                let range = self
                    .module_area
                    .alloc(block_size + PAGE, HUGE)
                    .ok_or(Exhausted)?;
                let p = pages(block_size);
                let frames = self.frames.alloc(p);
                let vm = p + parr(p);
                self.charge(vm as i64, vm as i64);
                let mut free = BTreeMap::new();
                free.insert(0, block_size);
                self.rox.push(RoxBlock {
                    range,
                    size: block_size,
                    free,
                    frames,
                });
                (self.rox.len() - 1, 0, block_size)
            }
        };
        let block = &mut self.rox[b];
        block.free.remove(&off);
        if l > size {
            block.free.insert(off + size, l - size);
        }
        Ok(Area {
            range: Range {
                start: block.range.start + off,
                len: size,
            },
            size,
            vmalloc_pages: 0,
            phys_pages: 0,
            frames: (block.frames.0 + off / PAGE, size / PAGE),
            rox: true,
        })
    }

    /// Returns a piece to its block; a block with nothing carved is cleaned (vfree'd).
    fn rox_free(&mut self, area: Area) {
        let Some(b) = self.rox.iter().position(|blk| {
            blk.range.start <= area.range.start && area.range.start < blk.range.start + blk.size
        }) else {
            return;
        };
        let block = &mut self.rox[b];
        let mut off = area.range.start - block.range.start;
        let mut len = area.size;
        if let Some((&po, &pl)) = block.free.range(..off).next_back() {
            if po + pl == off {
                block.free.remove(&po);
                off = po;
                len += pl;
            }
        }
        if let Some(&nl) = block.free.get(&(off + len)) {
            block.free.remove(&(off + len));
            len += nl;
        }
        block.free.insert(off, len);
        if len == block.size {
            let block = self.rox.swap_remove(b);
            self.module_area.free(block.range);
            self.frames.free(block.frames);
            let p = pages(block.size);
            let vm = p + parr(p);
            self.charge(-(vm as i64), -(vm as i64));
        }
    }

    /// The ROX cache blocks currently populated.
    pub fn rox_blocks(&self) -> usize {
        self.rox.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_buffers_charge_the_page_array() {
        // kernel-loader §3.1: 6.1 xfs.ko, i_size 4,215,817 → 1030 + 3 pages.
        assert_eq!(vmalloc_pages(4_215_817), 1033);
        // 6.12 decompressed xfs, 5,594,199 B → 1366 + 3 pages = 5,476 KiB.
        assert_eq!(vmalloc_pages(5_594_199) * 4, 5476);
        // 766,764 B compressed → 188 pages (array kmalloc'ed).
        assert_eq!(vmalloc_pages(766_764), 188);
    }

    #[test]
    fn module_area_is_first_fit_with_guard_pages_and_runs_out() {
        let mut m = Memory::new(false, false, 0, false);
        assert_eq!(m.module_area.capacity(), 1520 << 20);
        let a = m.module_alloc(962_560).unwrap();
        let b = m.module_alloc(1_081_344).unwrap();
        assert_eq!(a.range.len, 966_656, "vmallocinfo size = allocated + guard");
        assert_eq!(b.range.start, a.range.start + a.range.len, "adjacent");
        m.module_free(a);
        let c = m.module_alloc(4096).unwrap();
        assert_eq!(
            c.range.start, a.range.start,
            "lowest first fit reuses the hole"
        );
        let k = Memory::new(true, false, 1, false);
        assert_eq!(k.module_area.capacity(), (1008 << 20) - 4096);
        let mut small = Memory::new(true, false, 0, false);
        let mut n = 0;
        while small.module_alloc(100 << 20).is_ok() {
            n += 1;
        }
        assert_eq!(n, 10, "1008 MiB hold ten 100 MiB areas with their guards");
    }

    #[test]
    fn rox_cache_charges_whole_blocks() {
        let mut m = Memory::new(true, false, 0, true);
        let a = m.rox_alloc(962_560).unwrap();
        let b = m.rox_alloc(962_560).unwrap();
        assert_eq!(m.rox_blocks(), 1);
        assert_eq!(
            m.vmalloc_used, 512,
            "one whole 2 MiB block (its page array is kmalloc'ed)"
        );
        assert_eq!(
            b.range.start,
            a.range.start + 962_560,
            "no guard between pieces"
        );
        m.module_free(a);
        assert_eq!(m.vmalloc_used, 512, "a partly used block stays");
        m.module_free(b);
        assert_eq!((m.vmalloc_used, m.rox_blocks()), (0, 0));
    }
}
