//! depmod behaviour on synthetic trees (built with the elf crate's `synth` builder), each
//! compared with kmod 30's `/sbin/depmod` run on the same tree when it is installed:
//! every output file byte for byte, stdout, stderr and the exit status.
mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::*;
use modkit_depmod::{Level, Options};
use modkit_elf::synth::{Class, CrcStyle, Endian, ModuleBuilder};
use modkit_elf::{Binding, Compression};

const VERSION: &str = "1.0";

/// A module tree in a temporary directory: `<root>/lib/modules/1.0`.
struct Tree {
    tmp: tempfile::TempDir,
}

impl Tree {
    fn new() -> Tree {
        let t = Tree {
            tmp: tempfile::tempdir().unwrap(),
        };
        std::fs::create_dir_all(t.dir()).unwrap();
        std::fs::create_dir_all(t.config()).unwrap();
        t
    }
    fn root(&self) -> &Path {
        self.tmp.path()
    }
    fn dir(&self) -> PathBuf {
        self.root().join("lib/modules").join(VERSION)
    }
    fn config(&self) -> PathBuf {
        self.root().join("depmod.d")
    }
    fn file(&self, rel: &str, bytes: &[u8]) -> &Tree {
        let p = self.dir().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
        self
    }
    fn module(&self, rel: &str, b: ModuleBuilder) -> &Tree {
        self.file(rel, &b.build())
    }
    fn conf(&self, name: &str, text: &str) -> &Tree {
        std::fs::write(self.config().join(name), text).unwrap();
        self
    }
    fn opts(&self) -> Options {
        options(self.root(), VERSION, &self.config())
    }
    fn outputs(&self) -> BTreeMap<String, Vec<u8>> {
        let mut m = BTreeMap::new();
        for name in OUTPUTS.iter().filter(|n| **n != "modules.order") {
            if let Ok(b) = std::fs::read(self.dir().join(name)) {
                m.insert(name.to_string(), b);
            }
        }
        m
    }
    fn clear_outputs(&self) {
        for name in OUTPUTS.iter().filter(|n| **n != "modules.order") {
            let _ = std::fs::remove_file(self.dir().join(name));
        }
    }
    fn text(&self, name: &str) -> String {
        String::from_utf8_lossy(&std::fs::read(self.dir().join(name)).unwrap()).into_owned()
    }
}

/// Result of one run: files written, stdout, stderr, success.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    files: BTreeMap<String, Vec<u8>>,
    stdout: Vec<u8>,
    stderr: String,
    ok: bool,
}

fn ours(tree: &Tree, opts: &Options) -> Outcome {
    tree.clear_outputs();
    let (rec, ok) = run_ours(opts);
    Outcome {
        files: tree.outputs(),
        stdout: rec.stdout.clone(),
        stderr: rec.stderr(),
        ok,
    }
}

fn kmod(tree: &Tree, extra: &[&str]) -> Option<Outcome> {
    tree.clear_outputs();
    let root = tree.root().to_str().unwrap().to_string();
    let config = tree.config().to_str().unwrap().to_string();
    // options, then the version, then whatever follows a "::" marker (module paths)
    let split = extra.iter().position(|a| *a == "::").unwrap_or(extra.len());
    let mut args = vec!["-b", &root, "-C", &config];
    args.extend_from_slice(&extra[..split]);
    args.push(VERSION);
    args.extend_from_slice(extra.get(split + 1..).unwrap_or_default());
    let (stdout, stderr, ok) = run_kmod(&args)?;
    Some(Outcome {
        files: tree.outputs(),
        stdout,
        stderr,
        ok,
    })
}

/// Run kmod (if installed) then ours on the same tree, assert identical outcomes, and
/// return ours (files left in place).
fn check(tree: &Tree, opts: &Options, extra: &[&str]) -> Outcome {
    let theirs = kmod(tree, extra);
    let mine = ours(tree, opts);
    if let Some(theirs) = theirs {
        for (name, bytes) in &theirs.files {
            assert_eq!(
                mine.files
                    .get(name)
                    .map(|b| String::from_utf8_lossy(b).into_owned()),
                Some(String::from_utf8_lossy(bytes).into_owned()),
                "{name}"
            );
        }
        assert_eq!(
            mine.files.keys().collect::<Vec<_>>(),
            theirs.files.keys().collect::<Vec<_>>()
        );
        assert_eq!(
            String::from_utf8_lossy(&mine.stdout),
            String::from_utf8_lossy(&theirs.stdout)
        );
        assert_eq!(mine.stderr, theirs.stderr);
        assert_eq!(mine.ok, theirs.ok);
    }
    mine
}

fn export(b: ModuleBuilder, sym: &str, crc: u64) -> ModuleBuilder {
    b.export(sym, crc)
}

fn needs(b: ModuleBuilder, sym: &str, crc: u64) -> ModuleBuilder {
    b.undefined(sym, Binding::Global).version(crc, sym)
}

fn base() -> ModuleBuilder {
    ModuleBuilder::new()
        .modinfo("license", "GPL")
        .undefined("printk", Binding::Global)
        .version(0x1111, "module_layout")
}

/// A small tree like a real one: a dependency chain, aliases, softdeps, devnames.
fn sample_tree() -> Tree {
    let t = Tree::new();
    t.module("kernel/lib/crc16.ko", export(base(), "crc16", 0xabc));
    t.module(
        "kernel/crypto/crc32c_generic.ko",
        export(base().modinfo("alias", "crypto-crc32c"), "crc32c_fn", 7),
    );
    t.module(
        "kernel/fs/jbd2/jbd2.ko",
        needs(export(base(), "jbd2_journal_start", 0x55), "crc32c_fn", 7),
    );
    let ext4 = base()
        .modinfo("alias", "fs-ext4")
        .modinfo("alias", "ext3")
        .modinfo("alias", "fs-ext3")
        .modinfo("softdep", "pre: crc32c")
        .modinfo("alias", "bad[alias");
    let ext4 = needs(needs(ext4, "jbd2_journal_start", 0x55), "crc16", 0xabc);
    t.module("kernel/fs/ext4/ext4.ko", ext4);
    t.module(
        "kernel/drivers/foo-pci.ko",
        base()
            .modinfo("alias", "devname:foo")
            .modinfo("alias", "pci:v00008086d*sv*sd*bc*sc*i*")
            .modinfo("alias", "char-major-10-200"),
    );
    t.module(
        "kernel/drivers/blk.ko",
        base()
            .modinfo("alias", "block-major-8-*")
            .modinfo("alias", "block-major-8-3")
            .modinfo("alias", "devname:sda"),
    );
    t.module(
        "kernel/drivers/nodev.ko",
        base().modinfo("alias", "devname:lonely"),
    );
    t.file(
        "modules.order",
        b"kernel/lib/crc16.ko\nkernel/crypto/crc32c_generic.ko\nkernel/fs/jbd2/jbd2.ko\nkernel/fs/ext4/ext4.ko\nkernel/drivers/foo-pci.ko\n",
    );
    t.file("modules.builtin", b"kernel/net/unix.ko\nkernel/fs/a-b.ko\n");
    t.file(
        "modules.builtin.modinfo",
        b"unix.alias=net-pf-1\0unix.license=GPL\0a_b.alias=fs-a-b\0a_b.alias=same\0unix.alias=same\0",
    );
    t
}

#[test]
fn sample_tree_matches_kmod() {
    let t = sample_tree();
    let out = check(&t, &t.opts(), &[]);
    assert!(out.ok);
    let dep = t.text("modules.dep");
    assert_eq!(
        dep.lines().take(4).collect::<Vec<_>>(),
        [
            "kernel/lib/crc16.ko:",
            "kernel/crypto/crc32c_generic.ko:",
            "kernel/fs/jbd2/jbd2.ko: kernel/crypto/crc32c_generic.ko",
            "kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko kernel/fs/jbd2/jbd2.ko kernel/crypto/crc32c_generic.ko",
        ]
    );
    assert!(t.text("modules.alias").contains("alias bad[alias ext4\n"));
    assert!(out
        .stderr
        .contains("depmod: WARNING: Unmatched bracket in bad[alias\n"));
    assert_eq!(
        t.text("modules.devname"),
        "# Device nodes to trigger on-demand module loading.\nfoo_pci foo c10:200\nblk sda b8:3\n"
    );
    assert!(out.stderr.contains(
        "Module 'nodev' has devname (lonely) but lacks major and minor information. Ignoring."
    ));
    assert_eq!(
        t.text("modules.softdep"),
        "# Soft dependencies extracted from modules themselves.\nsoftdep ext4 pre: crc32c\n"
    );
    assert!(!t.dir().join("modules.weakdep").exists());
}

#[test]
fn missing_order_and_builtin_files() {
    let t = Tree::new();
    t.module("kernel/a.ko", export(base(), "fa", 1));
    t.module("kernel/b.ko", needs(base(), "fa", 1));
    let out = check(&t, &t.opts(), &[]);
    let dir = t.dir().display().to_string();
    assert_eq!(
        out.stderr,
        format!(
            "depmod: WARNING: could not open modules.order at {dir}: No such file or directory\n\
             depmod: WARNING: could not open modules.builtin at {dir}: No such file or directory\n\
             depmod: WARNING: could not open modules.builtin.modinfo at {dir}: No such file or directory\n"
        )
    );
    assert_eq!(out.files["modules.builtin.bin"], b"");
    assert_eq!(out.files["modules.builtin.alias.bin"], b"");
    assert_eq!(out.files["modules.devname"], b"");
}

#[test]
fn hash_order_without_modules_order() {
    let t = Tree::new();
    for name in ["a", "ab", "abc", "abcd", "abcde", "ext4", "crc16"] {
        t.module(&format!("kernel/{name}.ko"), base());
    }
    check(&t, &t.opts(), &[]);
    // buckets (& 511): crc16 166, abcd 219, ext4 278, abcde 302, ab 324, a 386, abc 394
    let names: Vec<String> = t
        .text("modules.dep")
        .lines()
        .map(|l| {
            l.trim_end_matches(".ko:")
                .trim_start_matches("kernel/")
                .to_string()
        })
        .collect();
    assert_eq!(names, ["crc16", "abcd", "ext4", "abcde", "ab", "a", "abc"]);
}

#[test]
fn duplicated_and_corrupted_modules_order() {
    let t = Tree::new();
    for name in ["a", "b", "c", "d"] {
        t.module(&format!("kernel/{name}.ko"), base());
    }
    t.file(
        "modules.order",
        b"kernel/a.ko\nkernel/b.ko\nkernel/c.ko\nkernel/a.ko\n",
    );
    check(&t, &t.opts(), &[]);
    assert!(t
        .text("modules.dep")
        .starts_with("kernel/b.ko:\nkernel/c.ko:\nkernel/a.ko:\nkernel/d.ko:\n"));
    t.file("modules.order", b"kernel/d.ko\nkernel/c.ko");
    let out = check(&t, &t.opts(), &[]);
    assert!(out.stderr.contains(&format!(
        "depmod: ERROR: {}/modules.order:2 corrupted line misses '\\n'\n",
        t.dir().display()
    )));
}

#[test]
fn compressed_modules_and_order_by_uncompressed_path() {
    let t = Tree::new();
    t.module(
        "kernel/x.ko.xz",
        export(base(), "fx", 3).compression(Compression::Xz),
    );
    t.module(
        "kernel/y.ko.zst",
        needs(base(), "fx", 3).compression(Compression::Zstd),
    );
    t.module("kernel/z-z.ko", needs(base(), "fx", 3));
    t.module("kernel/gz.ko.gz", base().compression(Compression::Gzip));
    t.file(
        "modules.order",
        b"kernel/z-z.ko\nkernel/y.ko\nkernel/x.ko\n",
    );
    check(&t, &t.opts(), &[]);
    assert_eq!(
        t.text("modules.dep"),
        "kernel/z-z.ko: kernel/x.ko.xz\nkernel/y.ko.zst: kernel/x.ko.xz\nkernel/x.ko.xz:\n"
    );
}

#[test]
fn broken_module_files_are_reported_and_kept() {
    let t = Tree::new();
    t.module("kernel/good.ko", export(base(), "g", 1));
    t.file(
        "kernel/garbage.ko",
        b"this is not an ELF file at all, no no no",
    );
    t.file("kernel/empty.ko", b"");
    let mut xz = ModuleBuilder::new().compression(Compression::Xz).build();
    xz.truncate(xz.len() / 2);
    t.file("kernel/trunc.ko.xz", &xz);
    let mut elf = base().build();
    elf.truncate(200);
    t.file("kernel/short.ko", &elf);
    let out = check(&t, &t.opts(), &[]);
    assert!(out.ok);
    assert!(out.stderr.contains("garbage.ko: Exec format error"));
    assert!(out.stderr.contains("empty.ko: Invalid argument"));
    assert!(out.stderr.contains("trunc.ko.xz: Invalid argument"));
    assert_eq!(t.text("modules.dep").lines().count(), 5);
}

#[test]
fn duplicate_names_updates_and_built_in() {
    let t = Tree::new();
    t.module("kernel/foo.ko", base().modinfo("alias", "from-kernel"));
    t.module("updates/foo.ko", base().modinfo("alias", "from-updates"));
    t.module("extra/bar.ko", base().modinfo("alias", "bar-extra"));
    t.module("kernel/bar.ko", base().modinfo("alias", "bar-kernel"));
    check(&t, &t.opts(), &[]);
    let alias = t.text("modules.alias");
    assert!(alias.contains("from-updates") && !alias.contains("from-kernel"));
    t.conf("a.conf", "search extra built-in updates\n");
    check(&t, &t.opts(), &[]);
    let alias = t.text("modules.alias");
    assert!(alias.contains("from-kernel") && alias.contains("bar-extra"));
}

#[test]
fn duplicate_names_same_search_dir_quirk() {
    let t = Tree::new();
    t.module("updates/b/foo.ko", base().modinfo("alias", "from-b"));
    t.module("updates/a/foo.ko", base().modinfo("alias", "from-a"));
    t.module("kernel/foo.ko", base().modinfo("alias", "from-kernel"));
    // outcome depends on readdir order: compare with kmod on the very same tree
    check(&t, &t.opts(), &[]);
    assert!(!t.text("modules.alias").contains("from-kernel"));
}

#[test]
fn override_and_exclude_and_external() {
    let t = Tree::new();
    let ext = t.root().join("ext");
    std::fs::create_dir_all(&ext).unwrap();
    std::fs::write(
        ext.join("foo.ko"),
        base().modinfo("alias", "from-ext").build(),
    )
    .unwrap();
    std::fs::write(ext.join("ext-only.ko"), base().build()).unwrap();
    t.module("kernel/foo.ko", base().modinfo("alias", "from-kernel"));
    t.module("updates/foo.ko", base().modinfo("alias", "from-updates"));
    t.module("kernel/skipme/s.ko", base());
    t.module("kernel/x/bar.ko", base().modinfo("alias", "bar-x"));
    t.module("updates/bar.ko", base().modinfo("alias", "bar-updates"));
    t.conf(
        "a.conf",
        &format!(
            "exclude skipme\noverride bar 1.* kernel/x\nexternal 1.0 {}\nsearch updates external built-in\nbogus\noverride bar 2.* kernel\n",
            ext.display()
        ),
    );
    let out = check(&t, &t.opts(), &[]);
    let alias = t.text("modules.alias");
    assert!(alias.contains("bar-x") && !alias.contains("bar-updates"));
    assert!(alias.contains("from-updates"));
    assert!(!t.text("modules.dep").contains("skipme"));
    assert!(t
        .text("modules.dep")
        .contains(&format!("{}/ext-only.ko:", ext.display())));
    assert!(out
        .stderr
        .contains("a.conf:5: ignoring bad line starting with 'bogus'"));
}

#[test]
fn cycles_are_reported_and_nothing_written() {
    let t = Tree::new();
    t.module("kernel/mod-a.ko", needs(export(base(), "fa", 1), "fb", 2));
    t.module("kernel/mod-b.ko", needs(export(base(), "fb", 2), "fa", 1));
    t.module("kernel/mod-c.ko", needs(base(), "fa", 1));
    let out = check(&t, &t.opts(), &[]);
    assert!(!out.ok);
    assert!(out.files.is_empty());
    // a failing run after a good one leaves the previous set untouched
    std::fs::remove_file(t.dir().join("kernel/mod-b.ko")).unwrap();
    let (_, ok) = run_ours(&t.opts());
    assert!(ok);
    let good = t.outputs();
    t.module("kernel/mod-b.ko", needs(export(base(), "fb", 2), "fa", 1));
    let (_, ok) = run_ours(&t.opts());
    assert!(!ok);
    assert_eq!(t.outputs(), good);
    assert_no_temp_files(&t);
    assert!(out
        .stderr
        .ends_with("depmod: ERROR: Found 2 modules in dependency cycles!\n"));
    assert!(out.stderr.contains("depmod: ERROR: Cycle detected: mod_"));
}

#[test]
fn two_cycles_one_reachable_from_the_other() {
    let t = Tree::new();
    t.module("kernel/x.ko", needs(export(base(), "fx", 1), "fy", 1));
    t.module(
        "kernel/y.ko",
        needs(needs(export(base(), "fy", 1), "fx", 1), "fz", 1),
    );
    t.module("kernel/z.ko", needs(export(base(), "fz", 1), "fw", 1));
    t.module("kernel/w.ko", needs(export(base(), "fw", 1), "fz", 1));
    // kmod 30 never finishes its cycle report on this graph (it keeps walking the second
    // cycle and eventually dies): ours only, and it must terminate.
    let out = ours(&t, &t.opts());
    assert!(!out.ok);
    assert!(out.stderr.contains("Cycle detected: z -> w -> z\n"));
    assert!(out.stderr.contains("Cycle detected: y -> x -> y\n"));
    assert!(out
        .stderr
        .ends_with("Found 4 modules in dependency cycles!\n"));
}

#[test]
fn dry_run_concatenates_text_outputs() {
    let t = sample_tree();
    let mut o = t.opts();
    o.dry_run = true;
    let out = check(&t, &o, &["-n"]);
    assert!(out.files.is_empty());
    let s = String::from_utf8(out.stdout).unwrap();
    assert!(s.starts_with("kernel/lib/crc16.ko:\n"));
    assert!(s.contains(".ko:\n# Aliases extracted from modules themselves.\n"));
    assert!(s.ends_with("blk sda b8:3\n"));
    assert!(!out.stderr.contains("modules.builtin"));
}

#[test]
fn verbose_prints_needs_lines() {
    let t = sample_tree();
    let mut o = t.opts();
    o.verbose = 1;
    let out = check(&t, &o, &["-v"]);
    let s = String::from_utf8(out.stdout).unwrap();
    assert!(s.contains(&format!(
        "{0}/kernel/fs/ext4/ext4.ko needs \"jbd2_journal_start\": {0}/kernel/fs/jbd2/jbd2.ko\n",
        t.dir().display()
    )));
}

#[test]
fn symvers_and_errsyms() {
    let t = Tree::new();
    t.module(
        "kernel/a.ko",
        needs(needs(export(base(), "fa", 1), "kfn", 0x10), "kbad", 0x20),
    );
    t.module(
        "kernel/b.ko",
        needs(needs(base(), "fa", 2), "nowhere", 3).undefined("weakling", Binding::Weak),
    );
    let symvers = t.root().join("Module.symvers");
    std::fs::write(
        &symvers,
        "0x00000010\tkfn\tvmlinux\tEXPORT_SYMBOL\n0x00000021\tkbad\tvmlinux\tEXPORT_SYMBOL\n0xzz\tbroken\tvmlinux\tEXPORT_SYMBOL\n0x1\tother\tsome/mod\tEXPORT_SYMBOL\n",
    )
    .unwrap();
    let mut o = t.opts();
    o.symvers = Some(symvers.clone());
    o.errsyms = true;
    let out = check(&t, &o, &["-e", "-E", symvers.to_str().unwrap()]);
    // kmod prints a stale errno here (no modules.softdep in the tree yet)
    assert!(out
        .stderr
        .contains("Invalid symbol version 0xzz: No such file or directory"));
    assert!(out.stderr.contains("b.ko needs unknown symbol nowhere"));
    assert!(out
        .stderr
        .contains("a.ko disagrees about version of symbol kbad"));
    assert!(out
        .stderr
        .contains("b.ko disagrees about version of symbol fa"));
    assert!(!out.stderr.contains("weakling"));
    // without -e: no symbol warnings at all
    o.errsyms = false;
    let out = check(&t, &o, &["-E", symvers.to_str().unwrap()]);
    assert!(!out.stderr.contains("needs unknown symbol"));
    assert!(!out.stderr.contains("disagrees"));
}

#[test]
fn system_map_and_prefix() {
    let t = Tree::new();
    t.module("kernel/a.ko", needs(export(base(), "_fa", 1), "_kfn", 0));
    t.module("kernel/b.ko", needs(base(), "_fa", 1));
    let map = t.root().join("System.map");
    std::fs::write(&map, "ffffffff T ___ksymtab_kfn\nbad\n0 T x\n").unwrap();
    let mut o = t.opts();
    o.filesyms = Some(map.clone());
    o.errsyms = true;
    o.symbol_prefix = Some(b'_');
    let out = check(&t, &o, &["-e", "-P", "_", "-F", map.to_str().unwrap()]);
    assert!(out.stderr.contains("System.map:2: invalid line: bad\n"));
    assert!(t.text("modules.symbols").contains("alias symbol:fa a\n"));
}

#[test]
fn missing_symvers_is_fatal() {
    let t = sample_tree();
    let mut o = t.opts();
    o.symvers = Some(t.root().join("nope"));
    let out = check(&t, &o, &["-E", t.root().join("nope").to_str().unwrap()]);
    assert!(!out.ok);
    assert_eq!(
        out.stderr,
        format!(
            "depmod: FATAL: could not load {}: No such file or directory\n",
            t.root().join("nope").display()
        )
    );
}

#[test]
fn warn_duplicates() {
    let t = Tree::new();
    t.module(
        "kernel/a.ko",
        base().modinfo("alias", "dup").modinfo("alias", "dup"),
    );
    let mut o = t.opts();
    o.warn = true;
    let out = check(&t, &o, &["-w"]);
    assert!(out
        .stderr
        .contains("depmod: WARNING: duplicate module alias:\ndup a\n"));
}

#[test]
fn weakdep_written_only_when_present() {
    let t = Tree::new();
    t.module("kernel/a.ko", base().modinfo("weakdep", "b"));
    let out = ours(&t, &t.opts());
    assert_eq!(
        out.files["modules.weakdep"],
        b"# Weak dependencies extracted from modules themselves.\nweakdep a b\n"
    );
}

#[test]
fn elf32_big_endian_and_ksymtab_strings() {
    let t = Tree::new();
    let b32 = || base().class(Class::Elf32).endian(Endian::Big);
    t.module(
        "kernel/p.ko",
        b32()
            .export("pfn", 0x1234_5678)
            .crc_style(CrcStyle::Kcrctab),
    );
    t.module(
        "kernel/q.ko",
        base().export("qfn", 0).crc_style(CrcStyle::None),
    );
    t.module(
        "kernel/r.ko",
        needs(needs(b32(), "pfn", 0x1234_5678), "qfn", 0),
    );
    check(&t, &t.opts(), &[]);
    assert!(t.text("modules.dep").contains("kernel/r.ko: kernel/"));
}

#[test]
fn quick_mode() {
    let t = sample_tree();
    let mut o = t.opts();
    o.quick = true;
    // no modules.dep: error then full run
    let out = ours(&t, &o);
    assert!(out.stderr.starts_with(&format!(
        "depmod: ERROR: could not fstatat({}, modules.dep): No such file or directory\n",
        t.dir().display()
    )));
    assert!(out.files.contains_key("modules.dep"));
    // up to date: nothing rewritten
    std::fs::write(t.dir().join("modules.alias"), "sentinel").unwrap();
    let future = std::time::SystemTime::now() + std::time::Duration::from_secs(5);
    std::fs::File::options()
        .write(true)
        .open(t.dir().join("modules.dep"))
        .unwrap()
        .set_modified(future)
        .unwrap();
    let (rec, ok) = run_ours(&o);
    assert!(ok && rec.messages.is_empty());
    assert_eq!(t.text("modules.alias"), "sentinel");
    // a newer module: full run
    std::fs::File::options()
        .write(true)
        .open(t.dir().join("kernel/lib/crc16.ko"))
        .unwrap()
        .set_modified(future + std::time::Duration::from_secs(5))
        .unwrap();
    let (_, ok) = run_ours(&o);
    assert!(ok);
    assert_ne!(t.text("modules.alias"), "sentinel");
}

#[test]
fn explicit_module_paths() {
    let t = sample_tree();
    let mut o = t.opts();
    o.modules = vec![
        t.dir().join("kernel/fs/ext4/ext4.ko"),
        t.dir().join("kernel/lib/crc16.ko"),
    ];
    let a = t.dir().join("kernel/fs/ext4/ext4.ko").display().to_string();
    let b = t.dir().join("kernel/lib/crc16.ko").display().to_string();
    check(&t, &o, &["::", &a, &b]);
    assert_eq!(
        t.text("modules.dep"),
        "kernel/lib/crc16.ko:\nkernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko\n"
    );
}

#[test]
fn failed_write_keeps_previous_files_and_no_temp() {
    let t = sample_tree();
    let (_, ok) = run_ours(&t.opts());
    assert!(ok);
    let before = t.outputs();
    // a directory in the way of one output makes its rename fail
    std::fs::remove_file(t.dir().join("modules.devname")).unwrap();
    std::fs::create_dir(t.dir().join("modules.devname")).unwrap();
    std::fs::write(t.dir().join("modules.devname/x"), "").unwrap();
    t.module("kernel/new.ko", base().modinfo("alias", "brand-new"));
    let (rec, ok) = run_ours(&t.opts());
    assert!(!ok, "{}", rec.stderr());
    let mut after = t.outputs();
    let mut before = before;
    before.remove("modules.devname");
    after.remove("modules.devname");
    // the outputs renamed before the failing one are complete new files
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        before.keys().collect::<Vec<_>>()
    );
    assert!(t.text("modules.alias").contains("alias brand-new new\n"));
    assert!(rec.stderr().contains("modules.devname"));
    assert_no_temp_files(&t);
}

fn assert_no_temp_files(t: &Tree) {
    let marker = format!(".{}.", std::process::id());
    let leftovers: Vec<_> = std::fs::read_dir(t.dir())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains(&marker))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn failed_temp_write_leaves_everything_untouched() {
    let t = sample_tree();
    let (_, ok) = run_ours(&t.opts());
    assert!(ok);
    let before = t.outputs();
    // a read-only output directory: creating temporary files fails (skip as root)
    let mut perms = std::fs::metadata(t.dir()).unwrap().permissions();
    use std::os::unix::fs::PermissionsExt;
    perms.set_mode(0o555);
    std::fs::set_permissions(t.dir(), perms.clone()).unwrap();
    let writable = std::fs::write(t.dir().join("probe"), "").is_ok();
    let _ = std::fs::remove_file(t.dir().join("probe"));
    t.module("kernel/lib/crc16.ko", export(base(), "crc16", 0xabd));
    if !writable {
        let (rec, ok) = run_ours(&t.opts());
        assert!(!ok);
        assert!(rec.stderr().contains("Could not write index 'modules.dep'"));
        assert_eq!(t.outputs(), before);
        assert_no_temp_files(&t);
    } else {
        eprintln!("note: running as root, read-only directory case skipped");
    }
    perms.set_mode(0o755);
    std::fs::set_permissions(t.dir(), perms).unwrap();
}

#[test]
fn verbosity_filters_messages() {
    let t = Tree::new();
    t.module("kernel/a.ko", base());
    t.conf("a.conf", "include x\n");
    let (rec, _) = run_ours(&t.opts());
    assert!(rec.messages.iter().all(|(l, _)| *l <= Level::Warning));
    let mut o = t.opts();
    o.verbose = 2;
    let (rec, _) = run_ours(&o);
    assert!(rec
        .messages
        .iter()
        .any(|(l, m)| *l == Level::Info
            && m.ends_with("a.conf:1: command include not implemented yet")));
}

#[test]
fn cycle_with_modules_below_it() {
    let t = Tree::new();
    t.module("kernel/a.ko", needs(export(base(), "fa", 1), "fb", 1));
    t.module(
        "kernel/b.ko",
        needs(needs(export(base(), "fb", 1), "fa", 1), "fc", 1),
    );
    t.module("kernel/c.ko", needs(export(base(), "fc", 1), "fd", 1));
    t.module("kernel/d.ko", export(base(), "fd", 1));
    t.file(
        "modules.order",
        b"kernel/a.ko\nkernel/b.ko\nkernel/c.ko\nkernel/d.ko\n",
    );
    let out = check(&t, &t.opts(), &[]);
    assert!(!out.ok);
    // kmod 30 reports the module below the cycle on its own and does not count it
    assert!(out.stderr.ends_with(
        "depmod: ERROR: Cycle detected: a -> b -> a\ndepmod: ERROR: Cycle detected: c\n\
         depmod: ERROR: Found 2 modules in dependency cycles!\n"
    ));
}

#[test]
fn non_ascii_alias_is_stored_like_kmod_30() {
    // the spec says depmod refuses bytes >= 0x80 (from source reading); kmod 30 does not
    let t = Tree::new();
    t.module("kernel/a.ko", base().modinfo("alias", "caf\u{e9}"));
    let out = check(&t, &t.opts(), &[]);
    assert!(out.ok);
    let bin = &out.files["modules.alias.bin"];
    assert!(bin.windows(4).any(|w| w == b"af\xc3\xa9"));
}

#[test]
fn missing_module_directory_is_fatal() {
    let t = Tree::new();
    std::fs::remove_dir_all(t.dir()).unwrap();
    let out = check(&t, &t.opts(), &[]);
    assert!(!out.ok);
    assert_eq!(
        out.stderr,
        format!(
            "depmod: ERROR: could not open directory {}: No such file or directory\n\
             depmod: FATAL: could not search modules: No such file or directory\n",
            t.dir().display()
        )
    );
}

#[test]
fn missing_explicit_module_is_fatal() {
    let t = sample_tree();
    let mut o = t.opts();
    let gone = t.dir().join("kernel/gone.ko");
    o.modules = vec![gone.clone(), t.dir().join("kernel/lib/crc16.ko")];
    let a = gone.display().to_string();
    let b = t.dir().join("kernel/lib/crc16.ko").display().to_string();
    let out = check(&t, &o, &["::", &a, &b]);
    assert!(!out.ok);
    assert!(out.files.is_empty());
    assert!(out.stderr.contains(&format!(
        "depmod: FATAL: could not create module {a}: No such file or directory\n"
    )));
}

#[test]
fn odd_builtin_inputs() {
    let t = Tree::new();
    t.module("kernel/a.ko", base());
    t.file(
        "modules.builtin",
        b"kernel/net/unix.ko\n/abs/x.ko\n9digit.ko\nnodot\nkernel/dup.ko\nother/dup.ko\nlast.ko",
    );
    t.file(
        "modules.builtin.modinfo",
        b"unix.alias=bad[x\0nodot\0noeq.alias\0a.b.alias=c-d\0x.alias=[a-b]-c\0\0y.alias=\0",
    );
    let out = check(&t, &t.opts(), &[]);
    assert!(out
        .stderr
        .contains("depmod: ERROR: Invalid modules.builtin line: /abs/x.ko\n\n"));
    // empty alias values are skipped
    let bin = &out.files["modules.builtin.alias.bin"];
    assert!(!bin.windows(2).any(|w| w == b"y\0"));
}

#[test]
fn config_messages_match_kmod() {
    let t = Tree::new();
    t.module("kernel/a.ko", base());
    t.module("updates/a.ko", base().modinfo("alias", "upd"));
    std::fs::create_dir_all(t.config().join("nested.conf")).unwrap();
    t.conf("notconf.txt", "bogus\n");
    t.conf(".hidden.conf", "bogus\n");
    t.conf(
        "b.conf",
        "# comment\n  # indented\nsearch \\\n  built-in\n\n   \nexclude\noverride a\nexternal 1.0\nfrobnicate x\n",
    );
    t.conf("a.conf", "search updates\n");
    let out = check(&t, &t.opts(), &[]);
    assert!(out
        .stderr
        .contains("b.conf:2: ignoring bad line starting with '#'"));
    assert!(out
        .stderr
        .contains("b.conf:8: ignoring bad line starting with 'override'"));
    assert!(out
        .stderr
        .contains("b.conf:9: ignoring bad line starting with 'external'"));
    assert!(out
        .stderr
        .contains("b.conf:10: ignoring bad line starting with 'frobnicate'"));
    assert!(out
        .stderr
        .contains("Directories inside directories are not supported"));
}

#[test]
fn odd_modinfo_entries() {
    let t = Tree::new();
    t.module(
        "kernel/a.ko",
        base()
            .modinfo("alias", "")
            .modinfo_raw(b"alias")
            .modinfo("softdep", "")
            .modinfo("alias", "devname:first")
            .modinfo("alias", "devname:second")
            .modinfo("alias", "char-major-5-1")
            .modinfo("alias", "devname:third")
            .modinfo("alias", "a]b")
            .modinfo("alias", "x[y-z]-w"),
    );
    t.module(
        "kernel/b.ko",
        base()
            .modinfo("alias", "char-major-1-2")
            .modinfo("alias", "block-major-3-4")
            .modinfo("alias", "devname:bdev"),
    );
    check(&t, &t.opts(), &[]);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]
    /// Arbitrary bytes as module files, modules.order, modules.builtin(.modinfo) and a
    /// depmod.d file: the run finishes (Ok or a typed error) and never panics.
    #[test]
    fn never_panics_on_arbitrary_inputs(
        module in proptest::collection::vec(proptest::num::u8::ANY, 0..600),
        order in proptest::collection::vec(proptest::num::u8::ANY, 0..100),
        builtin in proptest::collection::vec(proptest::num::u8::ANY, 0..100),
        modinfo in proptest::collection::vec(proptest::num::u8::ANY, 0..100),
        conf in proptest::collection::vec(proptest::num::u8::ANY, 0..100),
        cut in 0usize..2000,
    ) {
        let t = Tree::new();
        t.file("kernel/random.ko", &module);
        let mut real = base().modinfo("alias", "x").export("e", 1).build();
        real.truncate(cut.min(real.len()));
        t.file("kernel/cut.ko", &real);
        let mut xz = base().compression(Compression::Xz).build();
        xz.truncate(cut.min(xz.len()));
        t.file("kernel/cut2.ko.xz", &xz);
        t.file("modules.order", &order);
        t.file("modules.builtin", &builtin);
        t.file("modules.builtin.modinfo", &modinfo);
        std::fs::write(t.config().join("r.conf"), &conf).unwrap();
        let (_, _) = run_ours(&t.opts());
    }
}
