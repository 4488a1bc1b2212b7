//! Bad input through the binary against kmod 30, on fixtures generated here: truncated and
//! empty ELF files, synthetic modules cut in half (plain and inside an xz stream), a wrong
//! magic, broken xz and zstd streams, a depmod.d file with lines that do not parse, and
//! command-line errors. modkit must print the same messages and exit with the same status
//! as kmod (and never panic).

use modkit_elf::synth::ModuleBuilder;
use modkit_tests::{assert_same, modkit, scratch, Outcome, KMOD_DEPMOD, KMOD_MODINFO};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const VERSION: &str = "1.0.0-fixture";

/// The 64-byte header of an x86-64 little-endian relocatable ELF file.
fn elf64_header() -> Vec<u8> {
    let mut h = vec![0u8; 64];
    h[..4].copy_from_slice(b"\x7fELF");
    h[4] = 2; // ELFCLASS64
    h[5] = 1; // ELFDATA2LSB
    h[6] = 1; // EV_CURRENT
    h[16] = 1; // ET_REL
    h[18] = 62; // EM_X86_64
    h[20] = 1; // e_version
    h[52] = 64; // e_ehsize
    h[58] = 64; // e_shentsize
    h
}

/// `bytes` compressed by the xz tool (CRC32 checks, like Debian's modules).
fn xz(bytes: &[u8]) -> Vec<u8> {
    let mut child = Command::new("xz")
        .args(["-c", "--check=crc32"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("xz is installed (fetch.sh installs xz-utils)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(bytes)
        .expect("write to xz");
    child.wait_with_output().expect("xz output").stdout
}

/// The bad module files, by file name.
fn bad_modules() -> Vec<(&'static str, Vec<u8>)> {
    let header = elf64_header();
    let mut section_table_past_end = header.clone();
    section_table_past_end[40] = 0x00; // e_shoff = 0x10000, far past the end
    section_table_past_end[41] = 0x00;
    section_table_past_end[42] = 0x01;
    section_table_past_end[60] = 4; // e_shnum
    let compressed = xz(&header);
    let truncated_xz = compressed[..compressed.len() - 12].to_vec();
    let whole = ModuleBuilder::new()
        .modinfo("license", "GPL")
        .export("f", 1)
        .build();
    let half = whole[..whole.len() / 2].to_vec();
    let half_xz = xz(&whole);
    let half_xz = half_xz[..half_xz.len() / 2].to_vec();
    vec![
        ("empty.ko", Vec::new()),
        ("truncated.ko", header[..20].to_vec()),
        ("no_sections.ko", header.clone()),
        ("shoff_past_end.ko", section_table_past_end),
        (
            "wrong_magic.ko",
            b"\x7fFLE this is not an ELF file, only text".to_vec(),
        ),
        (
            "broken_xz.ko.xz",
            [
                &[0xfd, b'7', b'z', b'X', b'Z', 0][..],
                b"garbage garbage garbage",
            ]
            .concat(),
        ),
        ("truncated_xz.ko.xz", truncated_xz),
        ("half_module.ko", half),
        ("half_module_xz.ko.xz", half_xz),
        (
            "broken_zstd.ko.zst",
            [&[0x28, 0xb5, 0x2f, 0xfd][..], b"garbage garbage"].concat(),
        ),
    ]
}

/// A module tree `<root>/lib/modules/VERSION/kernel/` holding `files`.
fn fixture_tree(root: &Path, files: &[(&str, Vec<u8>)]) -> PathBuf {
    let kernel = root.join("lib/modules").join(VERSION).join("kernel");
    std::fs::create_dir_all(&kernel).expect("create fixture tree");
    for (name, bytes) in files {
        std::fs::write(kernel.join(name), bytes).expect("write fixture");
    }
    kernel
}

fn both(test: &str, tool: &str, oracle: &str, args: &[String]) -> Option<(Outcome, Outcome)> {
    let ours = Outcome::of(modkit(test, tool)?.args(args));
    Some((Outcome::of(Command::new(oracle).args(args)), ours))
}

#[test]
fn modinfo_rejects_bad_modules_like_kmod() {
    let test = "bad_input_modinfo";
    let dir = scratch(test);
    let kernel = fixture_tree(&dir, &bad_modules());
    let mut all = Vec::new();
    let mut report = String::new();
    for (name, _) in bad_modules() {
        let path = kernel.join(name).to_string_lossy().into_owned();
        let Some((theirs, ours)) = both(test, "modinfo", KMOD_MODINFO, std::slice::from_ref(&path))
        else {
            return;
        };
        if let Some(diff) = theirs.difference(&ours) {
            report.push_str(&format!("--- modinfo {name}\n{diff}"));
        }
        all.push(path);
    }
    let Some((theirs, ours)) = both(test, "modinfo", KMOD_MODINFO, &all) else {
        return;
    };
    if let Some(diff) = theirs.difference(&ours) {
        report.push_str(&format!("--- modinfo with all of them at once\n{diff}"));
    }
    assert!(
        report.is_empty(),
        "{test}: modkit differs from kmod 30\n{report}"
    );
}

/// Runs both depmods on their own copy of a generated tree; the differences in outcome and
/// files, if any.
fn depmod_both(test: &str, files: &[(&str, Vec<u8>)], extra: &[String]) -> Option<String> {
    let dir = scratch(test);
    let (k, o) = (dir.join("kmod"), dir.join("modkit"));
    fixture_tree(&k, files);
    fixture_tree(&o, files);
    let args = |root: &Path| {
        let mut a = extra.to_vec();
        a.extend([
            "-b".into(),
            root.to_string_lossy().into_owned(),
            VERSION.into(),
        ]);
        a
    };
    let mut ours = modkit(test, "depmod")?;
    let ours = Outcome::of(ours.arg("--index-layout=post-order").args(args(&o)));
    let theirs = Outcome::of(Command::new(KMOD_DEPMOD).args(args(&k)));
    let norm = |out: Outcome, root: &Path| out.replace(&root.to_string_lossy(), "<ROOT>");
    let mut report = norm(theirs, &k)
        .difference(&norm(ours, &o))
        .unwrap_or_default();
    for name in modkit_tests::DEPMOD_OUTPUTS {
        let [kf, of] = [&k, &o].map(|r| r.join("lib/modules").join(VERSION).join(name));
        if let Err(diff) = modkit_tests::compare::same_file(&kf, &of) {
            report.push_str(&format!("{name}: {diff}\n"));
        }
    }
    Some(report)
}

#[test]
fn depmod_on_bad_modules_matches_kmod() {
    let mut report = String::new();
    for (name, bytes) in bad_modules() {
        let test = format!("bad_input_depmod_{}", name.replace('.', "_"));
        let Some(diff) = depmod_both(&test, &[(name, bytes)], &[]) else {
            return;
        };
        if !diff.is_empty() {
            report.push_str(&format!("--- depmod on a tree holding {name}\n{diff}"));
        }
    }
    assert!(
        report.is_empty(),
        "depmod on bad modules: modkit differs from kmod 30\n{report}"
    );
}

#[test]
fn depmod_d_bad_lines_match_kmod() {
    let test = "bad_input_depmod_d";
    let conf_dir = scratch("bad_input_depmod_d_conf");
    let conf = conf_dir.join("broken.conf");
    let text = "frobnicate foo\nsearch\noverride onlyname\n  # indented comment\nexternal\ninclude x\nsearch updates built-in \\\n  extra\nexclude\n";
    std::fs::write(&conf, text).expect("write conf");
    let args = ["-C".to_owned(), conf.to_string_lossy().into_owned()];
    let diff = depmod_both(test, &[], &args).unwrap_or_default();
    assert!(
        diff.is_empty(),
        "{test}: modkit differs from kmod 30\n{diff}"
    );
}

#[test]
fn command_line_errors_match_kmod() {
    let test = "bad_input_command_line";
    let dir = scratch(test);
    fixture_tree(&dir, &[]);
    let root = dir.to_string_lossy().into_owned();
    let cases: [(&str, &str, Vec<&str>); 6] = [
        ("modinfo", KMOD_MODINFO, vec![]),
        (
            "modinfo",
            KMOD_MODINFO,
            vec!["-b", &root, "-k", VERSION, "no_such_module"],
        ),
        ("modinfo", KMOD_MODINFO, vec!["/no/such/dir/missing.ko"]),
        ("depmod", KMOD_DEPMOD, vec!["-b", &root, "not-a-version"]),
        (
            "depmod",
            KMOD_DEPMOD,
            vec!["-P", "ab", "-b", &root, VERSION],
        ),
        (
            "depmod",
            KMOD_DEPMOD,
            vec!["-b", &root, VERSION, "relative/path.ko"],
        ),
    ];
    for (tool, oracle, args) in cases {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let Some((theirs, ours)) = both(test, tool, oracle, &args) else {
            return;
        };
        assert_same(
            &format!("{test}: {tool} {}", args.join(" ")),
            &theirs,
            &ours,
        );
    }
}
