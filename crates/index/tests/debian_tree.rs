//! Differential test against a module tree on which the real depmod has run.
//!
//! Ignored by default (it needs a real tree): point `MODKIT_INDEX_TREE` at a
//! `lib/modules/<version>` directory holding depmod's text files and `.bin` files, and set
//! `MODKIT_INDEX_LAYOUT=pre` for kmod ≥ 34 (default `post`, Debian 12's kmod 30), then run
//! `cargo test -p modkit-index --test debian_tree -- --ignored`. Every `.bin` is rebuilt
//! from the text files alone (kmod-formats §4, insertion orders §5.11) and must be
//! byte-identical; with `MODKIT_INDEX_MODPROBE=1` a sample of aliases is also resolved by
//! `modprobe -R` and compared with our wildcard lookups.
use modkit_index::names::{alias_normalize, path_to_modname};
use modkit_index::{Index, IndexWriter, Layout};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn tree() -> PathBuf {
    PathBuf::from(std::env::var_os("MODKIT_INDEX_TREE").expect("set MODKIT_INDEX_TREE"))
}

fn layout() -> Layout {
    match std::env::var("MODKIT_INDEX_LAYOUT").as_deref() {
        Ok("pre") => Layout::PreOrder,
        _ => Layout::PostOrder,
    }
}

fn read(dir: &Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty())
}

/// Module name → module index (line number in `modules.dep`).
fn module_indexes(dep: &[u8]) -> HashMap<Vec<u8>, u32> {
    lines(dep)
        .enumerate()
        .map(|(i, line)| {
            let path = line.split(|&b| b == b':').next().unwrap();
            (path_to_modname(path), i as u32)
        })
        .collect()
}

fn compare(dir: &Path, name: &str, writer: &IndexWriter) {
    let ours = writer.to_bytes(layout());
    let theirs = read(dir, name);
    assert_eq!(ours.len(), theirs.len(), "{name}: size");
    if let Some(at) = ours.iter().zip(&theirs).position(|(a, b)| a != b) {
        panic!("{name}: first difference at offset {at:#x}");
    }
}

/// `alias <pattern> <module>` or `alias symbol:<sym> <module>` lines after the header.
fn alias_lines(text: &[u8]) -> Vec<(&[u8], &[u8])> {
    lines(text)
        .filter(|l| l.starts_with(b"alias "))
        .map(|l| {
            let rest = &l[6..];
            let space = rest.iter().rposition(|&b| b == b' ').unwrap();
            (&rest[..space], &rest[space + 1..])
        })
        .collect()
}

#[test]
#[ignore = "needs a real module tree (MODKIT_INDEX_TREE)"]
fn rebuilt_indexes_are_byte_identical() {
    let dir = tree();
    let dep = read(&dir, "modules.dep");
    let index_of = module_indexes(&dep);

    let mut w = IndexWriter::new();
    for (i, line) in lines(&dep).enumerate() {
        let path = line.split(|&b| b == b':').next().unwrap();
        w.insert(&path_to_modname(path), line, i as u32);
    }
    compare(&dir, "modules.dep.bin", &w);

    let mut w = IndexWriter::new();
    for (alias, module) in alias_lines(&read(&dir, "modules.alias")) {
        if let Some(key) = alias_normalize(alias) {
            w.insert(&key, module, index_of[module]);
        }
    }
    compare(&dir, "modules.alias.bin", &w);

    let mut w = IndexWriter::new();
    for (symbol, module) in alias_lines(&read(&dir, "modules.symbols")) {
        w.insert(symbol, module, index_of[module]);
    }
    compare(&dir, "modules.symbols.bin", &w);

    let mut w = IndexWriter::new();
    let builtin = read(&dir, "modules.builtin");
    for line in builtin.split_inclusive(|&b| b == b'\n') {
        w.insert(&path_to_modname(line), b"", 0);
    }
    compare(&dir, "modules.builtin.bin", &w);

    let mut w = IndexWriter::new();
    for record in read(&dir, "modules.builtin.modinfo").split(|&b| b == 0) {
        let Some(dot) = record.iter().position(|&b| b == b'.') else {
            continue;
        };
        let (module, kv) = (&record[..dot], &record[dot + 1..]);
        if let Some(value) = kv.strip_prefix(b"alias=") {
            if let Some(key) = alias_normalize(value) {
                w.insert(&key, module, 0);
            }
        }
    }
    compare(&dir, "modules.builtin.alias.bin", &w);
}

#[test]
#[ignore = "needs a real module tree (MODKIT_INDEX_TREE) and MODKIT_INDEX_MODPROBE=1"]
fn wildcard_lookups_agree_with_modprobe() {
    if std::env::var_os("MODKIT_INDEX_MODPROBE").is_none() {
        panic!("set MODKIT_INDEX_MODPROBE=1 to compare with modprobe -R");
    }
    let dir = tree();
    let version = dir.file_name().unwrap().to_owned();
    let base = dir.parent().unwrap().parent().unwrap().parent().unwrap();
    let alias_bin = read(&dir, "modules.alias.bin");
    let idx = Index::new(&alias_bin).unwrap();
    let text = read(&dir, "modules.alias");
    let mut checked = 0;
    let mut resolved = 0;
    for (alias, _) in alias_lines(&text).into_iter().step_by(397) {
        // Turn the pattern into a plausible subject: wildcards become a digit.
        let subject: Vec<u8> = alias
            .iter()
            .map(|&b| if b == b'*' || b == b'?' { b'0' } else { b })
            .filter(|&b| b != b'[' && b != b']')
            .collect();
        let Some(key) = alias_normalize(&subject) else {
            continue;
        };
        let ours: Vec<String> = idx
            .lookup_wildcard(&key)
            .iter()
            .map(|v| String::from_utf8_lossy(v.value).into_owned())
            .collect();
        let out = Command::new("modprobe")
            .arg("-C")
            .arg("/dev/null")
            .arg("-d")
            .arg(base)
            .arg("-S")
            .arg(&version)
            .arg("-R")
            .arg(String::from_utf8_lossy(&subject).as_ref())
            .output()
            .unwrap();
        let theirs: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect();
        assert_eq!(
            ours,
            theirs,
            "subject {}",
            String::from_utf8_lossy(&subject)
        );
        checked += 1;
        resolved += usize::from(!ours.is_empty());
    }
    assert!(
        checked > 10 && resolved * 2 > checked,
        "{resolved} of {checked} resolved"
    );
}

#[test]
#[ignore = "needs a real module tree (MODKIT_INDEX_TREE) and MODKIT_INDEX_MODPROBE=1"]
fn dumps_agree_with_modprobe_c() {
    if std::env::var_os("MODKIT_INDEX_MODPROBE").is_none() {
        panic!("set MODKIT_INDEX_MODPROBE=1 to compare with modprobe -c");
    }
    let dir = tree();
    let version = dir.file_name().unwrap().to_owned();
    let base = dir.parent().unwrap().parent().unwrap().parent().unwrap();
    let mut ours = Vec::new();
    for name in ["modules.alias.bin", "modules.symbols.bin"] {
        let bytes = read(&dir, name);
        let idx = Index::new(&bytes).unwrap();
        for (key, value) in idx.dump() {
            ours.push(format!(
                "alias {} {}",
                String::from_utf8_lossy(&key),
                String::from_utf8_lossy(value)
            ));
        }
    }
    let out = Command::new("modprobe")
        .args(["-c", "-C", "/dev/null", "-d"])
        .arg(base)
        .arg("-S")
        .arg(&version)
        .output()
        .unwrap();
    let theirs: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with("alias "))
        .map(str::to_owned)
        .collect();
    assert!(ours.len() > 1000);
    assert_eq!(ours, theirs);
}
