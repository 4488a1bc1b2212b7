//! Every accessor of `Module` on synthetic modules of all class/byte-order combinations,
//! compressed variants, and what happens on corrupt input.
use modkit_elf::synth::{Class, CrcStyle, Endian, ModuleBuilder};
use modkit_elf::{decompress, Binding, Compression, DepSymbol, Error, Export, Module, Signature};

const COMBOS: [(Class, Endian); 4] = [
    (Class::Elf32, Endian::Little),
    (Class::Elf32, Endian::Big),
    (Class::Elf64, Endian::Little),
    (Class::Elf64, Endian::Big),
];

/// A module using every feature of the builder.
fn full(class: Class, endian: Endian, style: CrcStyle) -> ModuleBuilder {
    ModuleBuilder::new()
        .class(class)
        .endian(endian)
        .machine(0x28)
        .modinfo("name", "foo")
        .modinfo("alias", "pci:v00008086d*")
        .modinfo_raw(b"noequals")
        .modinfo("depends", "")
        .modinfo("alias", "foo-bar")
        .version(0x1111_2222, "module_layout")
        .version(0x3333_4444, "bar_fn")
        .version(0x5555_6666, "printk")
        .export("foo_fn", 0xdead_beef)
        .export("foo_other", 0x0102_0304)
        .crc_style(style)
        .undefined("printk", Binding::Global)
        .undefined("maybe_fn", Binding::Weak)
        .undefined("bar_fn", Binding::Global)
        .build_id(&[0xde, 0xad, 0xbe, 0xef, 0x01])
        .this_module_size(0x340)
        .init_text_size(32)
        .data_size(8)
        .bss_size(100)
}

fn b(s: &str) -> &[u8] {
    s.as_bytes()
}

#[test]
fn accessors_on_all_class_and_byte_order_combinations() {
    for (class, endian) in COMBOS {
        for style in [CrcStyle::Absolute, CrcStyle::Kcrctab] {
            let image = full(class, endian, style).build();
            let m = Module::parse(&image).unwrap();
            let what = format!("{class:?} {endian:?} {style:?}");
            assert_eq!(m.is_64(), class == Class::Elf64, "{what}");
            assert_eq!(m.is_big_endian(), endian == Endian::Big, "{what}");
            assert_eq!(m.machine(), 0x28, "{what}");
            assert_eq!(
                m.modinfo().unwrap(),
                vec![
                    (b("name"), b("foo")),
                    (b("alias"), b("pci:v00008086d*")),
                    (b("noequals"), b("")),
                    (b("depends"), b("")),
                    (b("alias"), b("foo-bar")),
                ],
                "{what}"
            );
            assert_eq!(
                m.exports().unwrap(),
                vec![
                    Export {
                        name: b("foo_fn"),
                        crc: 0xdead_beef
                    },
                    Export {
                        name: b("foo_other"),
                        crc: 0x0102_0304
                    },
                ],
                "{what}"
            );
            assert_eq!(
                m.versions().unwrap(),
                vec![
                    (0x1111_2222, b("module_layout")),
                    (0x3333_4444, b("bar_fn")),
                    (0x5555_6666, b("printk"))
                ],
                "{what}"
            );
            assert_eq!(
                m.dependency_symbols().unwrap(),
                vec![
                    DepSymbol {
                        name: b("printk"),
                        crc: 0x5555_6666,
                        binding: Binding::Global
                    },
                    DepSymbol {
                        name: b("maybe_fn"),
                        crc: 0,
                        binding: Binding::Weak
                    },
                    DepSymbol {
                        name: b("bar_fn"),
                        crc: 0x3333_4444,
                        binding: Binding::Global
                    },
                    DepSymbol {
                        name: b("module_layout"),
                        crc: 0x1111_2222,
                        binding: Binding::Global
                    },
                ],
                "{what}"
            );
            assert_eq!(
                m.build_id(),
                Some([0xde, 0xad, 0xbe, 0xef, 0x01].as_slice()),
                "{what}"
            );
            let sections = m.sections();
            let size = |name: &str| {
                sections
                    .iter()
                    .find(|s| s.name == name.as_bytes())
                    .map(|s| s.size)
            };
            assert_eq!(size(".gnu.linkonce.this_module"), Some(0x340), "{what}");
            assert_eq!(size(".init.text"), Some(32), "{what}");
            assert_eq!(size(".bss"), Some(100), "{what}");
            assert_eq!(
                m.section_data(".data").unwrap(),
                Some([0u8; 8].as_slice()),
                "{what}"
            );
            assert_eq!(m.section_data(".nope").unwrap(), None, "{what}");
        }
    }
}

#[test]
fn exports_without_crcs_come_from_ksymtab_strings() {
    for (class, endian) in COMBOS {
        let image = full(class, endian, CrcStyle::None).build();
        let m = Module::parse(&image).unwrap();
        assert_eq!(
            m.exports().unwrap(),
            vec![
                Export {
                    name: b("foo_fn"),
                    crc: 0
                },
                Export {
                    name: b("foo_other"),
                    crc: 0
                }
            ]
        );
    }
}

#[test]
fn absolute_crc_keeps_64_bit_values_on_elf64() {
    let image = ModuleBuilder::new().export("wide", 0x1_0000_0002).build();
    let exports = Module::parse(&image).unwrap().exports().unwrap();
    assert_eq!(
        exports,
        vec![Export {
            name: b("wide"),
            crc: 0x1_0000_0002
        }]
    );
}

#[test]
fn empty_module_has_nothing() {
    let image = ModuleBuilder::new().build();
    let m = Module::parse(&image).unwrap();
    assert!(m.modinfo().unwrap().is_empty());
    assert!(m.exports().unwrap().is_empty());
    assert!(m.dependency_symbols().unwrap().is_empty());
    assert!(m.versions().unwrap().is_empty());
    assert_eq!(m.build_id(), None);
    assert_eq!(Signature::parse(&image), None);
}

#[test]
fn local_binding_and_duplicate_versions() {
    let image = ModuleBuilder::new()
        .undefined("loc", Binding::Local)
        .undefined("dup", Binding::Global)
        .version(7, "dup")
        .version(8, "dup")
        .build();
    let deps = Module::parse(&image).unwrap().dependency_symbols().unwrap();
    assert_eq!(
        deps,
        vec![
            DepSymbol {
                name: b("loc"),
                crc: 0,
                binding: Binding::Local
            },
            DepSymbol {
                name: b("dup"),
                crc: 7,
                binding: Binding::Global
            },
            DepSymbol {
                name: b("dup"),
                crc: 8,
                binding: Binding::Global
            },
        ]
    );
}

#[test]
fn unnamed_undefined_symbols_are_skipped_but_unnamed_versions_kept() {
    // kmod 30's depmod -e: no warning for an unnamed undefined symbol, "needs unknown
    // symbol " for an unnamed __versions record.
    let image = ModuleBuilder::new()
        .undefined("", Binding::Global)
        .undefined("two", Binding::Global)
        .version(0, "")
        .version(5, "two")
        .build();
    let m = Module::parse(&image).unwrap();
    assert_eq!(m.versions().unwrap(), vec![(0, b("")), (5, b("two"))]);
    assert_eq!(
        m.dependency_symbols().unwrap(),
        vec![
            DepSymbol {
                name: b("two"),
                crc: 5,
                binding: Binding::Global
            },
            DepSymbol {
                name: b(""),
                crc: 0,
                binding: Binding::Global
            },
        ]
    );
}

#[test]
fn sparc_register_symbols_are_skipped() {
    // STT_SPARC_REGISTER (13) undefined symbols are not dependencies on SPARC only.
    let image = ModuleBuilder::new()
        .machine(43)
        .undefined("real", Binding::Global)
        .build();
    let mut image = image;
    // Patch the st_info of the (only) undefined symbol to GLOBAL|13 in the ELF64 LE symtab.
    let m = Module::parse(&image).unwrap();
    let symtab = m
        .sections()
        .into_iter()
        .position(|s| s.name == b".symtab")
        .unwrap();
    let _ = m;
    let shoff = u64::from_le_bytes(image[0x28..0x30].try_into().unwrap()) as usize;
    let sh = shoff + symtab * 64;
    let off = u64::from_le_bytes(image[sh + 24..sh + 32].try_into().unwrap()) as usize;
    image[off + 24 + 4] = 0x10 | 13;
    assert!(Module::parse(&image)
        .unwrap()
        .dependency_symbols()
        .unwrap()
        .is_empty());
    // The same symbol on x86-64 stays.
    image[0x12] = 62;
    assert_eq!(
        Module::parse(&image)
            .unwrap()
            .dependency_symbols()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn missing_modinfo_is_enoent() {
    let image = ModuleBuilder::new().without_modinfo().build();
    let err = Module::parse(&image).unwrap().modinfo().unwrap_err();
    assert_eq!(err, Error::NoSection(".modinfo"));
    assert_eq!(err.errno(), 2);
}

#[test]
fn compressed_variants_decompress_to_the_image() {
    for (class, endian) in COMBOS {
        let builder = full(class, endian, CrcStyle::Absolute);
        let image = builder.build_image();
        for (c, magic) in [
            (Compression::Xz, &[0xFD, b'7', b'z', b'X', b'Z', 0][..]),
            (Compression::Zstd, &[0x28, 0xB5, 0x2F, 0xFD][..]),
            (Compression::Gzip, &[0x1F, 0x8B][..]),
        ] {
            let file = builder.clone().compression(c).build();
            assert!(file.starts_with(magic));
            assert_eq!(Compression::detect(&file), c);
            let out = decompress(&file).unwrap();
            assert_eq!(&*out, image.as_slice(), "{c:?}");
            assert_eq!(
                Module::parse(&out).unwrap().modinfo().unwrap()[0],
                (b("name"), b("foo"))
            );
        }
        assert_eq!(Compression::detect(&image), Compression::None);
        assert!(matches!(
            decompress(&image).unwrap(),
            std::borrow::Cow::Borrowed(_)
        ));
    }
}

#[test]
fn concatenated_streams_are_all_decoded() {
    let one = b"first part ".repeat(100);
    let two = b"second part".repeat(100);
    for c in [Compression::Xz, Compression::Gzip, Compression::Zstd] {
        let mut file = modkit_elf::synth::compress(&one, c).unwrap();
        file.extend(modkit_elf::synth::compress(&two, c).unwrap());
        assert_eq!(
            &*decompress(&file).unwrap(),
            [one.clone(), two.clone()].concat(),
            "{c:?}"
        );
    }
}

#[test]
fn corrupt_streams_are_errors() {
    let image = full(Class::Elf64, Endian::Little, CrcStyle::Absolute).build_image();
    for (c, errno) in [
        (Compression::Xz, 22),
        (Compression::Zstd, 22),
        (Compression::Gzip, 8),
    ] {
        let file = modkit_elf::synth::compress(&image, c).unwrap();
        for cut in [file.len() / 2, file.len() - 1] {
            let err = decompress(&file[..cut]).unwrap_err();
            assert!(
                matches!(err, Error::Decompress { .. }),
                "{c:?} cut at {cut}: {err:?}"
            );
            assert_eq!(err.errno(), errno);
        }
        let mut garbage = file[..6.min(file.len())].to_vec();
        garbage.extend_from_slice(b"this is not a compressed stream at all");
        assert!(decompress(&garbage).is_err(), "{c:?}");
        let mut flipped = file.clone();
        let mid = flipped.len() / 2;
        flipped[mid] ^= 0x55;
        // A flipped byte in the middle must be caught (by the data or the check).
        assert!(
            decompress(&flipped).map(|d| *d != *image).unwrap_or(true),
            "{c:?}"
        );
    }
}

#[test]
fn decompression_bombs_are_refused() {
    let zeros = vec![0u8; 1 << 20];
    for c in [Compression::Xz, Compression::Zstd, Compression::Gzip] {
        let file = modkit_elf::synth::compress(&zeros, c).unwrap();
        let err = modkit_elf::compress::decompress_with_limit(&file, 1000).unwrap_err();
        assert!(err.to_string().contains("exceeds"), "{c:?}: {err}");
        assert_eq!(
            modkit_elf::compress::decompress_with_limit(&file, 1 << 20)
                .unwrap()
                .len(),
            1 << 20
        );
    }
}

#[test]
fn header_errors_carry_kmod_errnos() {
    let image = ModuleBuilder::new().modinfo("name", "x").build();
    // kmod 30: < 6 bytes EINVAL; 6..=16 bytes or bad magic ENOEXEC; bad class/data/header EINVAL.
    for len in 0..6 {
        assert_eq!(
            Module::parse(&image[..len]).err().unwrap().errno(),
            22,
            "len {len}"
        );
    }
    for len in 6..=16 {
        assert_eq!(
            Module::parse(&image[..len]).err().unwrap(),
            Error::NotElf,
            "len {len}"
        );
    }
    assert_eq!(
        Module::parse(b"hello\nworld, this is text").err().unwrap(),
        Error::NotElf
    );
    for len in [17, 52, 63] {
        assert_eq!(
            Module::parse(&image[..len]).err().unwrap().errno(),
            22,
            "len {len}"
        );
    }
    for (at, value) in [(4, 0), (4, 3), (5, 0), (5, 3)] {
        let mut bad = image.clone();
        bad[at] = value;
        assert_eq!(
            Module::parse(&bad).err().unwrap().errno(),
            22,
            "byte {at} = {value}"
        );
    }
    // EI_VERSION and e_type are not checked, as in kmod.
    let mut v0 = image.clone();
    v0[6] = 0;
    v0[16] = 3;
    assert!(Module::parse(&v0).unwrap().modinfo().is_ok());
    // Section header table out of range, bad e_shentsize, bad e_shstrndx.
    let mut bad = image.clone();
    bad[0x28..0x30].copy_from_slice(&(image.len() as u64).to_le_bytes());
    assert_eq!(Module::parse(&bad).err().unwrap().errno(), 22);
    let mut bad = image.clone();
    bad[0x3a] = 40;
    assert_eq!(Module::parse(&bad).err().unwrap().errno(), 22);
    let mut bad = image.clone();
    bad[0x3e..0x40].copy_from_slice(&[0xff, 0xfe]);
    assert_eq!(Module::parse(&bad).err().unwrap().errno(), 22);
}

/// Overwrites a field of the named section's header in an ELF64 little-endian image:
/// `at` is the offset inside `Elf64_Shdr` (4: sh_type, 24: sh_offset, 32: sh_size, 40: sh_link).
fn patch_section(image: &mut [u8], name: &str, at: usize, value: u64, width: usize) {
    let index = Module::parse(image)
        .unwrap()
        .sections()
        .iter()
        .position(|s| s.name == name.as_bytes())
        .unwrap();
    let shoff = u64::from_le_bytes(image[0x28..0x30].try_into().unwrap()) as usize;
    let field = shoff + index * 64 + at;
    image[field..field + width].copy_from_slice(&value.to_le_bytes()[..width]);
}

fn module_with_symbols() -> Vec<u8> {
    ModuleBuilder::new()
        .modinfo("name", "m")
        .export("exp0", 5)
        .undefined("need", Binding::Global)
        .version(9, "need")
        .build()
}

#[test]
fn sections_are_found_by_name_and_read_by_offset() {
    // kmod reads .modinfo even when it is SHT_NOBITS, and finds .strtab by name.
    let mut image = module_with_symbols();
    patch_section(&mut image, ".modinfo", 4, 8, 4);
    patch_section(&mut image, ".symtab", 40, 99, 4);
    let m = Module::parse(&image).unwrap();
    assert_eq!(m.modinfo().unwrap(), vec![(b("name"), b("m"))]);
    assert_eq!(
        m.exports().unwrap(),
        vec![Export {
            name: b("exp0"),
            crc: 5
        }]
    );
    assert_eq!(m.dependency_symbols().unwrap()[0].name, b"need");
}

#[test]
fn sections_outside_the_file_count_as_missing() {
    let mut image = module_with_symbols();
    let len = image.len() as u64;
    patch_section(&mut image, ".modinfo", 24, len + 10, 8);
    let err = Module::parse(&image).unwrap().modinfo().unwrap_err();
    assert_eq!(err.errno(), 2);
    // An unreadable .symtab: exports fall back to __ksymtab_strings (CRC 0), the
    // dependency symbols are an error.
    let mut image = module_with_symbols();
    patch_section(&mut image, ".symtab", 24, len + 10, 8);
    let m = Module::parse(&image).unwrap();
    assert_eq!(
        m.exports().unwrap(),
        vec![Export {
            name: b("exp0"),
            crc: 0
        }]
    );
    assert!(m.dependency_symbols().is_err());
}

#[test]
fn no_section_header_table_is_einval() {
    let mut image = module_with_symbols();
    image[0x28..0x30].fill(0);
    assert_eq!(Module::parse(&image).err().unwrap().errno(), 22);
}

#[test]
fn images_at_any_alignment_parse() {
    let image = module_with_symbols();
    let mut shifted = vec![0u8];
    shifted.extend_from_slice(&image);
    let m = Module::parse(&shifted[1..]).unwrap();
    assert_eq!(
        m.exports().unwrap(),
        vec![Export {
            name: b("exp0"),
            crc: 5
        }]
    );
}

/// Runs every accessor; the point is that none of them panics.
fn exercise(bytes: &[u8]) {
    if let Ok(image) = decompress(bytes) {
        let _ = Signature::parse(&image);
        if let Ok(m) = Module::parse(&image) {
            let _ = (
                m.modinfo(),
                m.exports(),
                m.dependency_symbols(),
                m.versions(),
                m.build_id(),
            );
            let _ = (
                m.sections(),
                m.symbols(),
                m.machine(),
                m.is_64(),
                m.is_big_endian(),
            );
            let _ = modkit_elf::layout::mem_layout(&m);
            let _ = modkit_elf::layout::core_init_layout(&m);
            let _ = Signature::module_len(&image);
        }
    }
}

#[test]
fn truncation_at_every_length_never_panics() {
    for (class, endian) in COMBOS {
        let image = full(class, endian, CrcStyle::Kcrctab).build_image();
        for len in 0..=image.len() {
            exercise(&image[..len]);
        }
    }
    let xz = full(Class::Elf64, Endian::Little, CrcStyle::Absolute)
        .compression(Compression::Xz)
        .build();
    for len in 0..=xz.len() {
        exercise(&xz[..len]);
    }
}

mod mutation {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        #[test]
        fn random_mutations_never_panic(
            combo in 0usize..4,
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..12),
        ) {
            let (class, endian) = COMBOS[combo];
            let mut image = full(class, endian, CrcStyle::Kcrctab).build_image();
            for (at, value) in edits {
                let i = at.index(image.len());
                image[i] = value;
            }
            exercise(&image);
        }

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            exercise(&bytes);
            let mut elf = b"\x7fELF\x02\x01\x01".to_vec();
            elf.extend_from_slice(&bytes);
            exercise(&elf);
        }
    }
}
