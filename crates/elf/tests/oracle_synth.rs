//! Synthetic modules checked against kmod 30 (Debian's /sbin/modinfo and /sbin/depmod):
//! kmod accepts them, and it reads the same fields from them as we do.
//! Each test skips with a note when the tool is missing.
mod common;
use common::{have_tool, kmod_hex, DEPMOD, MODINFO};
use std::path::{Path, PathBuf};
use std::process::Command;

use modkit_elf::synth::{
    pkcs7_der_with_issuer, Class, CrcStyle, Endian, ModuleBuilder, SignatureSpec,
};
use modkit_elf::{decompress, Binding, Compression, Module, Signature, SignatureId};

/// A fresh scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("modkit-elf-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// What `modinfo -0` prints after `filename:`, computed from our parse.
fn expected_modinfo0(file: &[u8]) -> Vec<Vec<u8>> {
    let image = decompress(file).unwrap();
    let module = Module::parse(&image).unwrap();
    let mut out: Vec<Vec<u8>> = module
        .modinfo()
        .unwrap()
        .into_iter()
        .filter(|(k, _)| *k != b"parm" && *k != b"parmtype")
        .map(|(k, v)| [k, b"=", v].concat())
        .collect();
    if let Some(sig) = Signature::parse(&image) {
        out.push(format!("sig_id={}", sig.id.as_str()).into_bytes());
        out.push([b"signer=", sig.signer.as_slice()].concat());
        out.push(format!("sig_key={}", kmod_hex(&sig.key)).into_bytes());
        out.push(format!("sig_hashalgo={}", sig.hash_algo).into_bytes());
        out.push(format!("signature={}", kmod_hex(&sig.signature)).into_bytes());
    }
    out
}

fn oracle_modinfo0(path: &Path) -> Vec<Vec<u8>> {
    let out = Command::new(MODINFO).arg("-0").arg(path).output().unwrap();
    assert!(
        out.status.success(),
        "{}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
        .split(|&b| b == 0)
        .filter(|e| !e.is_empty() && !e.starts_with(b"filename:") && !e.starts_with(b"parm:"))
        .map(<[u8]>::to_vec)
        .collect()
}

fn check_against_modinfo(dir: &Path, name: &str, file: &[u8]) {
    if let Some(diff) = compare_with_modinfo(dir, name, file) {
        panic!("{diff}");
    }
}

/// None if modinfo prints what we expect, else a readable difference.
fn compare_with_modinfo(dir: &Path, name: &str, file: &[u8]) -> Option<String> {
    let path = dir.join(name);
    std::fs::write(&path, file).unwrap();
    let (theirs, ours) = (oracle_modinfo0(&path), expected_modinfo0(file));
    let show = |v: &[Vec<u8>]| {
        v.iter()
            .map(|e| String::from_utf8_lossy(e).into_owned())
            .collect::<Vec<_>>()
    };
    (theirs != ours).then(|| {
        format!(
            "{name}:\n kmod: {:?}\n ours: {:?}",
            show(&theirs),
            show(&ours)
        )
    })
}

const COMBOS: [(Class, Endian); 4] = [
    (Class::Elf32, Endian::Little),
    (Class::Elf32, Endian::Big),
    (Class::Elf64, Endian::Little),
    (Class::Elf64, Endian::Big),
];

#[test]
fn modinfo_reads_what_we_read() {
    if !have_tool(MODINFO) {
        return;
    }
    let dir = scratch("modinfo");
    let sig = SignatureSpec::pkcs7(
        b"Synthetic key",
        &[0x8A, 0, 1, 2, 3],
        "2.16.840.1.101.3.4.2.1",
        &[0xAB; 45],
    )
    .unwrap();
    for (i, (class, endian)) in COMBOS.into_iter().enumerate() {
        let builder = ModuleBuilder::new()
            .class(class)
            .endian(endian)
            .modinfo("name", &format!("m{i}"))
            .modinfo("alias", "pci:v*d*")
            .modinfo_raw(b"noequals")
            .modinfo("depends", "")
            .modinfo("parm", "debug:Debug level")
            .modinfo(
                "vermagic",
                "6.1.0-56-amd64 SMP preempt mod_unload modversions ",
            )
            .signature(sig.clone());
        // Debian's kmod 30 has no zlib, so gzip is not compared.
        for (c, ext) in [
            (Compression::None, "ko"),
            (Compression::Xz, "ko.xz"),
            (Compression::Zstd, "ko.zst"),
        ] {
            check_against_modinfo(
                &dir,
                &format!("m{i}.{ext}"),
                &builder.clone().compression(c).build(),
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn signature_variants_match_modinfo() {
    if !have_tool(MODINFO) {
        return;
    }
    let dir = scratch("sigs");
    let mut specs = Vec::new();
    let digests = [
        "1.2.840.113549.2.4",
        "1.2.840.113549.2.5",
        "1.3.14.3.2.26",
        "1.3.36.3.2.1",
        "2.16.840.1.101.3.4.2.1",
        "2.16.840.1.101.3.4.2.2",
        "2.16.840.1.101.3.4.2.3",
        "2.16.840.1.101.3.4.2.4",
        "1.2.156.10197.1.401",
        "2.16.840.1.101.3.4.2.8",
        "2.16.840.1.101.3.4.2.6",
        "1.2.840.113549.2.2",
        "1.2.3.4.5",
    ];
    for oid in digests {
        specs.push(SignatureSpec::pkcs7(b"CN for digest", &[0x01; 20], oid, &[0x11; 100]).unwrap());
    }
    // Issuer shapes: CN after another RDN, no CN, two CNs, empty issuer.
    let issuers: [&[(&str, &[u8])]; 6] = [
        &[("2.5.4.10", b"Org"), ("2.5.4.3", b"Second")],
        &[("2.5.4.10", b"Org only")],
        &[("2.5.4.10", b"OrgA"), ("2.5.4.11", b"UnitB")],
        &[
            ("2.5.4.11", b"UnitB"),
            ("2.5.4.10", b"OrgA"),
            ("1.2.840.113549.1.9.1", b"mail@x"),
        ],
        &[("2.5.4.3", b"First"), ("2.5.4.3", b"Second")],
        &[],
    ];
    for issuer in issuers {
        let der =
            pkcs7_der_with_issuer(issuer, &[0x7F, 0xFF], "2.16.840.1.101.3.4.2.1", &[0x22; 8])
                .unwrap();
        specs.push(SignatureSpec::Pkcs7Der(der));
    }
    // A subjectKeyIdentifier signer (CMS v3 style), which PKCS#7 v1.5 cannot express.
    let der = modkit_elf::synth::pkcs7_der(b"k", &[1], "2.16.840.1.101.3.4.2.1", &[3; 8]).unwrap();
    specs.push(SignatureSpec::Pkcs7Der(with_ski_signer(&der)));
    // Trailing bytes after the DER inside sig_len.
    let mut trailing = der.clone();
    trailing.extend_from_slice(&[0, 0, 0]);
    specs.push(SignatureSpec::Pkcs7Der(trailing));
    for id in [SignatureId::Pgp, SignatureId::X509] {
        for hash in [0, 4, 8, 9] {
            specs.push(SignatureSpec::Legacy {
                id,
                algo: 1,
                hash,
                signer: b"Legacy".to_vec(),
                key_id: vec![0xA0, 0xB1],
                signature: vec![0xCC; 21],
            });
        }
    }
    // Rejected trailers: algo 2, id_type 3, sig_len 0.
    for info in [
        [2u8, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 4],
        [0, 0, 3, 1, 1, 0, 0, 0, 0, 0, 0, 4],
        [0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0],
    ] {
        let mut raw = b"sk1234".to_vec();
        raw.extend_from_slice(&info);
        raw.extend_from_slice(b"~Module signature appended~\n");
        specs.push(SignatureSpec::Raw(raw));
    }
    let mut diffs = Vec::new();
    for (i, spec) in specs.into_iter().enumerate() {
        let file = ModuleBuilder::new()
            .modinfo("name", "s")
            .signature(spec)
            .build();
        diffs.extend(compare_with_modinfo(&dir, &format!("s{i}.ko"), &file));
    }
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// The same SignedData with its first signer identified by a subjectKeyIdentifier.
fn with_ski_signer(der: &[u8]) -> Vec<u8> {
    use cms::cert::x509::ext::pkix::SubjectKeyIdentifier;
    use cms::content_info::ContentInfo;
    use cms::signed_data::{SignedData, SignerIdentifier, SignerInfos};
    use der::{Decode, Encode};
    let mut info = ContentInfo::from_der(der).unwrap();
    let mut signed: SignedData = info.content.decode_as().unwrap();
    let mut signers: Vec<_> = signed.signer_infos.0.iter().cloned().collect();
    signers[0].sid = SignerIdentifier::SubjectKeyIdentifier(SubjectKeyIdentifier(
        der::asn1::OctetString::new(vec![0x42; 20]).unwrap(),
    ));
    signed.signer_infos = SignerInfos(signers.try_into().unwrap());
    info.content = der::asn1::Any::encode_from(&signed).unwrap();
    info.to_der().unwrap()
}

/// kmod's strerror text for our errno.
fn strerror(errno: i32) -> String {
    let s = std::io::Error::from_raw_os_error(errno).to_string();
    s.split(" (os error").next().unwrap_or_default().to_string()
}

#[test]
fn errors_match_modinfo_strerror() {
    if !have_tool(MODINFO) {
        return;
    }
    let dir = scratch("errors");
    let good = ModuleBuilder::new().modinfo("name", "x").build();
    let xz = ModuleBuilder::new()
        .modinfo("name", "x")
        .compression(Compression::Xz)
        .build();
    let zstd = ModuleBuilder::new()
        .modinfo("name", "x")
        .compression(Compression::Zstd)
        .build();
    let mut bad_class = good.clone();
    bad_class[4] = 9;
    let mut no_shoff = good.clone();
    no_shoff[0x28..0x30].fill(0);
    // .modinfo's sh_offset (Elf64_Shdr + 24) pointing past the end: kmod says ENOENT.
    let mut modinfo_outside = good.clone();
    let index = Module::parse(&good)
        .unwrap()
        .sections()
        .iter()
        .position(|s| s.name == b".modinfo")
        .unwrap();
    let shoff = u64::from_le_bytes(good[0x28..0x30].try_into().unwrap()) as usize;
    let field = shoff + index * 64 + 24;
    modinfo_outside[field..field + 8].copy_from_slice(&(good.len() as u64 + 10).to_le_bytes());
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("short", good[..5].to_vec()),
        ("ident", good[..16].to_vec()),
        ("text", b"hello, world\n".to_vec()),
        ("header", good[..40].to_vec()),
        ("headers", good[..good.len() - 8].to_vec()),
        ("class", bad_class),
        ("xz", xz[..xz.len() / 2].to_vec()),
        ("nomodinfo", ModuleBuilder::new().without_modinfo().build()),
        ("noshoff", no_shoff),
        ("xzgarbage", [xz.as_slice(), b"garbage!"].concat()),
        ("zstdgarbage", [zstd.as_slice(), b"garbage!"].concat()),
        ("modinfooutside", modinfo_outside),
    ];
    for (name, bytes) in cases {
        let path = dir.join(format!("{name}.ko"));
        std::fs::write(&path, &bytes).unwrap();
        let out = Command::new(MODINFO).arg(&path).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let ours =
            decompress(&bytes).and_then(|image| Module::parse(&image)?.modinfo().map(|_| ()));
        let err = ours.expect_err(name);
        let expected = format!(
            "modinfo: ERROR: could not get modinfo from '{name}': {}\n",
            strerror(err.errno())
        );
        assert_eq!(stderr, expected, "{name}: {err:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A tiny tree: m0 <- m1 <- m2 <- m3 by exported/undefined symbols, every class and byte
/// order and both CRC styles, some files compressed. kmod's depmod must find the chain and
/// list exactly our exports.
#[test]
fn depmod_computes_dependencies_from_our_symbols() {
    if !have_tool(DEPMOD) {
        return;
    }
    let base = scratch("depmod");
    let dir = base.join("lib/modules/1.0.0/kernel");
    std::fs::create_dir_all(&dir).unwrap();
    let files = ["m0.ko", "m1.ko.xz", "m2.ko.zst", "m3.ko"];
    let comps = [
        Compression::None,
        Compression::Xz,
        Compression::Zstd,
        Compression::None,
    ];
    let mut symbols = Vec::new();
    for (i, (class, endian)) in COMBOS.into_iter().enumerate() {
        let crc = 0x100 + i as u64;
        let mut m = ModuleBuilder::new()
            .class(class)
            .endian(endian)
            .modinfo("name", &format!("m{i}"))
            .export(&format!("exp{i}"), crc)
            .crc_style(if i % 2 == 0 {
                CrcStyle::Absolute
            } else {
                CrcStyle::Kcrctab
            })
            .undefined("not_anywhere", Binding::Weak)
            .compression(comps[i]);
        if i > 0 {
            m = m
                .undefined(&format!("exp{}", i - 1), Binding::Global)
                .version(crc - 1, &format!("exp{}", i - 1));
        }
        let file = m.build();
        let image = decompress(&file).unwrap();
        for e in Module::parse(&image).unwrap().exports().unwrap() {
            symbols.push(format!(
                "alias symbol:{} m{i}",
                String::from_utf8_lossy(e.name)
            ));
        }
        std::fs::write(dir.join(files[i]), file).unwrap();
    }
    let out = Command::new(DEPMOD)
        .arg("-e")
        .arg("-b")
        .arg(&base)
        .arg("1.0.0")
        .output()
        .unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    // No CRC disagreements and no unknown symbols (the weak one must not warn).
    assert!(
        !stderr.contains("disagrees") && !stderr.contains("unknown symbol"),
        "{stderr}"
    );
    let moddir = base.join("lib/modules/1.0.0");
    let mut dep: Vec<String> = std::fs::read_to_string(moddir.join("modules.dep"))
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    dep.sort();
    assert_eq!(
        dep,
        vec![
            "kernel/m0.ko:",
            "kernel/m1.ko.xz: kernel/m0.ko",
            "kernel/m2.ko.zst: kernel/m1.ko.xz kernel/m0.ko",
            "kernel/m3.ko: kernel/m2.ko.zst kernel/m1.ko.xz kernel/m0.ko",
        ]
    );
    let mut theirs: Vec<String> = std::fs::read_to_string(moddir.join("modules.symbols"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(String::from)
        .collect();
    theirs.sort();
    symbols.sort();
    assert_eq!(theirs, symbols);
    let _ = std::fs::remove_dir_all(&base);
}

/// Which CRC a name listed twice in `__versions` takes, unnamed undefined symbols and
/// unnamed `__versions` records, seen through the order of depmod -e's warnings.
#[test]
fn depmod_warnings_follow_our_dependency_symbols() {
    if !have_tool(DEPMOD) {
        return;
    }
    let base = scratch("depmod-warn");
    let dir = base.join("lib/modules/1.0.0/kernel");
    std::fs::create_dir_all(&dir).unwrap();
    let modules = [
        ("a", ModuleBuilder::new().export("dup", 7).export("two", 5)),
        (
            "b",
            ModuleBuilder::new()
                .undefined("dup", Binding::Global)
                .undefined("zed", Binding::Global)
                .version(8, "dup")
                .version(7, "dup"),
        ),
        (
            "c",
            ModuleBuilder::new()
                .undefined("", Binding::Global)
                .undefined("two", Binding::Global)
                .version(5, "two"),
        ),
        (
            "e",
            ModuleBuilder::new()
                .undefined("two", Binding::Global)
                .version(0, "")
                .version(5, "two"),
        ),
    ];
    let mut expected = Vec::new();
    for (name, builder) in modules {
        let file = builder.modinfo("name", name).build();
        let path = dir.join(format!("{name}.ko"));
        std::fs::write(&path, &file).unwrap();
        // What depmod -e should say, from our dependency symbols (a exports dup=7, two=5).
        for dep in Module::parse(&file).unwrap().dependency_symbols().unwrap() {
            let sym = String::from_utf8_lossy(dep.name);
            let known = match dep.name {
                b"dup" => Some(7),
                b"two" => Some(5),
                b"module_layout" => Some(1),
                _ => None,
            };
            match known {
                None => expected.push(format!(
                    "depmod: WARNING: {} needs unknown symbol {sym}",
                    path.display()
                )),
                Some(crc) if crc != dep.crc => expected.push(format!(
                    "depmod: WARNING: {} disagrees about version of symbol {sym}",
                    path.display()
                )),
                Some(_) => {}
            }
        }
    }
    let symvers = base.join("symvers");
    std::fs::write(
        &symvers,
        "0x00000001\tmodule_layout\tvmlinux\tEXPORT_SYMBOL\n",
    )
    .unwrap();
    let out = Command::new(DEPMOD)
        .arg("-e")
        .arg("-E")
        .arg(&symvers)
        .arg("-b")
        .arg(&base)
        .arg("1.0.0")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.contains("could not open"))
        .collect();
    // depmod visits modules in its own order; compare per module, in order within each.
    for module in ["a.ko", "b.ko", "c.ko", "e.ko"] {
        let theirs: Vec<&str> = warnings
            .iter()
            .copied()
            .filter(|l| l.contains(&format!("/{module} ")))
            .collect();
        let ours: Vec<&str> = expected
            .iter()
            .map(String::as_str)
            .filter(|l| l.contains(&format!("/{module} ")))
            .collect();
        assert_eq!(theirs, ours, "{module}");
    }
    assert!(!expected.is_empty());
    let _ = std::fs::remove_dir_all(&base);
}

/// A `.symtab` whose `sh_link` is wrong (kmod finds `.strtab` by name), one lying outside
/// the file and none at all (kmod falls back to `__ksymtab_strings` for exports and finds no
/// dependencies, not even from `__versions`; our `dependency_symbols` is empty without a
/// `.symtab` and an error for an unreadable one, which depmod must treat as "none").
#[test]
fn depmod_on_broken_symbol_tables() {
    if !have_tool(DEPMOD) {
        return;
    }
    let provider = ModuleBuilder::new()
        .modinfo("name", "p")
        .export("exp1", 3)
        .build();
    let user = ModuleBuilder::new()
        .modinfo("name", "u")
        .export("exp0", 5)
        .undefined("exp1", Binding::Global)
        .version(3, "exp1")
        .build();
    let index = Module::parse(&user)
        .unwrap()
        .sections()
        .iter()
        .position(|s| s.name == b".symtab")
        .unwrap();
    let shoff = u64::from_le_bytes(user[0x28..0x30].try_into().unwrap()) as usize;
    let header = shoff + index * 64;
    let mut bad_link = user.clone();
    bad_link[header + 40..header + 44].copy_from_slice(&99u32.to_le_bytes());
    let mut outside = user.clone();
    outside[header + 24..header + 32].copy_from_slice(&(user.len() as u64 + 10).to_le_bytes());
    // No section called .symtab at all (renamed in .shstrtab).
    let mut renamed = user.clone();
    let at = renamed.windows(8).position(|w| w == b".symtab\0").unwrap();
    renamed[at + 6] = b'X';
    let cases = [
        ("link", bad_link, true),
        ("outside", outside, false),
        ("none", renamed, false),
    ];
    for (case, image, depends) in cases {
        let base = scratch(&format!("symtab-{case}"));
        let dir = base.join("lib/modules/1.0.0/kernel");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("p.ko"), &provider).unwrap();
        std::fs::write(dir.join("u.ko"), &image).unwrap();
        let out = Command::new(DEPMOD)
            .arg("-b")
            .arg(&base)
            .arg("1.0.0")
            .output()
            .unwrap();
        assert!(out.status.success());
        let moddir = base.join("lib/modules/1.0.0");
        let dep = std::fs::read_to_string(moddir.join("modules.dep")).unwrap();
        let expected_line = if depends {
            "kernel/u.ko: kernel/p.ko"
        } else {
            "kernel/u.ko:"
        };
        assert!(dep.lines().any(|l| l == expected_line), "{case}: {dep}");
        let symbols = std::fs::read_to_string(moddir.join("modules.symbols")).unwrap();
        assert!(
            symbols.lines().any(|l| l == "alias symbol:exp0 u"),
            "{case}: {symbols}"
        );
        let m = Module::parse(&image).unwrap();
        assert_eq!(m.exports().unwrap()[0].name, b"exp0");
        match m.dependency_symbols() {
            Ok(deps) if depends => assert!(deps.iter().any(|d| d.name == b"exp1"), "{case}"),
            Ok(deps) => assert!(deps.is_empty(), "{case}"),
            Err(_) => assert_eq!(case, "outside"),
        }
        let _ = std::fs::remove_dir_all(&base);
    }
}
