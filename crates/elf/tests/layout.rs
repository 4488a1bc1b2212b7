//! Module-area layout on a synthetic module, worked out by hand from kernel-loader §5.
use modkit_elf::layout::{core_init_layout, layout, mem_layout, Generation, Layout, MemType};
use modkit_elf::synth::ModuleBuilder;
use modkit_elf::{Binding, Module, Signature};

const WA: u64 = 0x3;

/// Sections: .text 100, .init.text 32, .data 8, .gnu.linkonce.this_module 0x340, .bss 100,
/// .modinfo (not allocated after the fix-ups), __ksymtab_strings 2, .data..ro_after_init 24,
/// .data..percpu 64 (not allocated); symbols: null, f, __crc_f (absolute), __this_module, u.
fn sample() -> Vec<u8> {
    ModuleBuilder::new()
        .text_size(100)
        .init_text_size(32)
        .data_size(8)
        .this_module_size(0x340)
        .bss_size(100)
        .modinfo("name", "foo")
        .export("f", 1)
        .undefined("u", Binding::Global)
        .section(".data..ro_after_init", 1, WA, &[0; 24])
        .section(".data..percpu", 1, WA, &[0; 64])
        .build()
}

#[test]
fn module_memory_types() {
    let image = sample();
    let l = mem_layout(&Module::parse(&image).unwrap()).unwrap();
    // TEXT: .text. RODATA: __ksymtab_strings. RO_AFTER_INIT: .data..ro_after_init.
    // DATA: .data 8, this_module at 16 (+832 = 848), .bss (+100 = 948), then the core
    // symtab: ALIGN 8 → 952 + 3 symbols × 24 + names "", "f", "__this_module" (17) + 3.
    // INIT_DATA: .symtab 5 × 24 = 120, .strtab 27 → 147, ALIGN 8 → 152 + 32 + 5 = 189.
    let raw: Vec<u64> = MemType::ALL.iter().map(|&t| l.raw_size(t)).collect();
    assert_eq!(raw, vec![100, 1044, 2, 24, 32, 189, 0]);
    assert_eq!(l.allocated(MemType::Data), 4096);
    assert_eq!(l.allocated(MemType::InitRodata), 0);
    assert_eq!(l.core_size(), 4 * 4096);
    assert_eq!(l.init_size(), 2 * 4096);
    assert_eq!(
        layout(&Module::parse(&image).unwrap(), Generation::ModuleMemory).unwrap(),
        Layout::ModuleMemory(l)
    );
}

#[test]
fn core_and_init_areas() {
    let image = sample();
    let l = core_init_layout(&Module::parse(&image).unwrap()).unwrap();
    // core: text 100 → 4096; + rodata 2 → 8192; + ro_after_init 24 → 12288;
    // + data 8, this_module, bss → 13236; → 16384; + symtab 72 + 17 + 3 → 20480.
    // init: init text 32 → 4096; + symtab 120 + strtab 27 → 4243 → 4248 + 32 + 5 → 8192.
    assert_eq!((l.core, l.init), (20480, 8192));
    let generic = layout(&Module::parse(&image).unwrap(), Generation::CoreInit).unwrap();
    assert_eq!((generic.core_size(), generic.init_size()), (20480, 8192));
}

#[test]
fn module_len_strips_a_pkcs7_trailer_only() {
    use modkit_elf::synth::SignatureSpec;
    let plain = ModuleBuilder::new().modinfo("name", "x").build();
    assert_eq!(Signature::module_len(&plain), plain.len());
    let spec = SignatureSpec::pkcs7(b"k", &[1], "2.16.840.1.101.3.4.2.1", &[5; 64]).unwrap();
    let signed = ModuleBuilder::new()
        .modinfo("name", "x")
        .signature(spec)
        .build();
    assert_eq!(Signature::module_len(&signed), plain.len());
    // A legacy trailer fails mod_check_sig: only the magic is removed.
    let legacy = SignatureSpec::Legacy {
        id: modkit_elf::SignatureId::X509,
        algo: 1,
        hash: 4,
        signer: b"s".to_vec(),
        key_id: vec![1],
        signature: vec![2; 8],
    };
    let signed = ModuleBuilder::new()
        .modinfo("name", "x")
        .signature(legacy)
        .build();
    assert_eq!(Signature::module_len(&signed), signed.len() - 28);
    assert_eq!(Signature::module_len(b"~Module signature appended~\n"), 28);
}
