//! Layouts from the committed profiles against kernel-loader §5.4 (xfs) and §10.4 (the
//! per-CPU sets and per-module sizes), and as /proc/vmallocinfo shows them.

use modkit_elf::layout::{Generation, Layout, MemType};
use modkit_sim::memory::Memory;
use modkit_sim::validate::xfs_6_12_107;
use modkit_sim::Profile;

fn profile(name: &str) -> Profile {
    Profile::builtin(name).expect("builtin profile parses")
}

#[test]
fn xfs_on_6_1_is_one_core_and_one_init_area() {
    let p = profile("skylake-sp@6.1");
    let xfs = p.module("xfs").expect("xfs in every profile");
    assert_eq!((xfs.file_size, xfs.info_len()), (4_215_817, 4_215_096));
    let Layout::CoreInit(l) = xfs.layout(Generation::CoreInit) else {
        panic!("6.1 rules give core/init");
    };
    assert_eq!((l.core, l.init), (1_970_176, 454_656));
    let mut mem = Memory::new(true, false, 1, false);
    let core = mem.module_alloc(l.core).unwrap();
    assert_eq!(core.range.len, 1_974_272, "vmallocinfo: pages=481 + guard");
}

#[test]
fn xfs_on_6_12_is_four_adjacent_core_areas() {
    let xfs = xfs_6_12_107();
    let Layout::ModuleMemory(l) = xfs.layout(Generation::ModuleMemory) else {
        panic!("6.4+ rules give module_memory");
    };
    assert_eq!(l.core_size(), 2_605_056, "coresize");
    assert_eq!((l.core_size() + l.init_size()) / 4096, 799);
    let mut mem = Memory::new(true, false, 1, false);
    let sizes: Vec<u64> = [
        MemType::Text,
        MemType::Data,
        MemType::Rodata,
        MemType::RoAfterInit,
    ]
    .iter()
    .map(|&t| mem.module_alloc(l.allocated(t)).unwrap())
    .scan(None, |prev: &mut Option<u64>, a| {
        if let Some(end) = *prev {
            assert_eq!(a.range.start, end, "adjacent, guard included");
        }
        *prev = Some(a.range.start + a.range.len);
        Some(a.range.len)
    })
    .collect();
    assert_eq!(sizes, vec![966_656, 1_085_440, 552_960, 16_384]);
}

/// Σ over the CPU uevent's modules, closed over dependencies.
fn cpu_set_sums(p: &Profile, generation: Generation) -> (usize, u64, u64, u64, u64, u64) {
    let mut names = Vec::new();
    for m in &p.events[0].modules {
        for n in p.load_order(m) {
            if !names.contains(&n) {
                names.push(n);
            }
        }
    }
    let (mut file, mut len, mut core, mut init, mut areas) = (0, 0, 0, 0, 0);
    for n in &names {
        let m = p.module(n).unwrap();
        file += m.file_size;
        len += m.info_len();
        let l = m.layout(generation);
        core += l.core_size();
        init += l.init_size();
        areas += match l {
            Layout::CoreInit(l) => u64::from(l.core > 0) + u64::from(l.init > 0),
            Layout::ModuleMemory(l) => {
                MemType::ALL.iter().filter(|&&t| l.allocated(t) > 0).count() as u64
            }
        };
    }
    (names.len(), file, len, core, init, areas)
}

#[test]
fn the_6_1_per_cpu_sets_match_the_spec() {
    let (n, file, len, core, init, areas) =
        cpu_set_sums(&profile("skylake-sp@6.1"), Generation::CoreInit);
    assert_eq!((n, file, len), (31, 5_690_359, 5_668_008));
    assert_eq!((core, init), (2_977_792, 925_696));
    assert_eq!(areas, 62);
    assert_eq!(
        (core + init + areas * 4096) / 1024,
        4_060,
        "address space incl. guards"
    );
    let (n, file, len, core, init, _) =
        cpu_set_sums(&profile("kvm-guest@6.1"), Generation::CoreInit);
    assert_eq!(
        (n, file, len, core + init),
        (24, 2_157_848, 2_140_544, 1_822_720)
    );
    let (n, file, len, core, init, _) =
        cpu_set_sums(&profile("epyc-guest@6.1"), Generation::CoreInit);
    assert_eq!(
        (n, file, len, core + init),
        (15, 1_074_271, 1_063_456, 1_036_288)
    );
}

#[test]
fn the_6_1_per_module_sizes_match_the_spec() {
    let p = profile("skylake-sp@6.1");
    for (name, file, core, init) in [
        ("kvm", 2_377_561, 1_146_880, 299_008),
        ("kvm_intel", 996_633, 380_928, 61_440),
        ("intel_uncore", 406_833, 212_992, 65_536),
        ("acpi_cpufreq", 53_713, 32_768, 16_384),
        ("crct10dif_common", 6_305, 16_384, 4_096),
    ] {
        let m = p
            .module(name)
            .unwrap_or_else(|| panic!("{name} in skylake-sp"));
        let l = m.layout(Generation::CoreInit);
        assert_eq!(
            (m.file_size, l.core_size(), l.init_size()),
            (file, core, init),
            "{name}"
        );
    }
}

#[test]
fn the_6_12_sets_have_the_spec_membership() {
    // The profiles come from 6.12.117, the spec measured 6.12.107: sizes differ slightly,
    // the module sets do not.
    for (name, n) in [
        ("skylake-sp@6.12", 29),
        ("kvm-guest@6.12", 23),
        ("epyc-guest@6.12", 16),
    ] {
        let (count, ..) = cpu_set_sums(&profile(name), Generation::ModuleMemory);
        assert_eq!(count, n, "{name}");
    }
    let p = profile("skylake-sp@6.12");
    assert!(p.module("gf128mul").is_some() && p.module("crct10dif_common").is_none());
}
