//! `cargo xtask fuzz-build` and `cargo xtask fuzz`: the fuzz targets in fuzz/ (one per
//! parser, written by the crates' owners) built and run with cargo-fuzz. The toolchain is
//! stable, so cargo-fuzz's nightly flags are enabled with RUSTC_BOOTSTRAP=1. Seed corpora
//! are generated here by code into fuzz/corpus/<target>/ (ignored by git).

use crate::util::{self, Result};
use std::path::Path;
use std::process::Command;

#[derive(clap::Args)]
pub struct BuildArgs {}

#[derive(clap::Args)]
pub struct RunArgs {
    /// Seconds per target.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// One target (default: every target of fuzz/Cargo.toml that has a source file).
    target: Option<String>,
}

pub fn build(_args: BuildArgs) -> Result {
    ensure_cargo_fuzz()?;
    for target in targets()? {
        util::run(cargo_fuzz().args(["build", "-O", &target]))?;
    }
    Ok(())
}

pub fn run(args: RunArgs) -> Result {
    ensure_cargo_fuzz()?;
    let targets = match args.target {
        Some(t) => vec![t],
        None => targets()?,
    };
    for target in targets {
        let corpus = util::workspace_root().join("fuzz/corpus").join(&target);
        write_seeds(&target, &corpus)?;
        println!("xtask: fuzzing {target} for {} s", args.seconds);
        util::run(
            cargo_fuzz()
                .args(["run", "-O", &target])
                .arg(&corpus)
                .arg("--")
                .arg(format!("-max_total_time={}", args.seconds)),
        )?;
    }
    Ok(())
}

/// `cargo fuzz` from the workspace root, with nightly features unlocked on stable.
fn cargo_fuzz() -> Command {
    let mut cmd = util::cargo();
    cmd.arg("fuzz").env("RUSTC_BOOTSTRAP", "1");
    cmd
}

fn ensure_cargo_fuzz() -> Result {
    let found = util::cargo().args(["fuzz", "--version"]).output();
    if found.map(|o| o.status.success()).unwrap_or(false) {
        return Ok(());
    }
    println!("xtask: installing cargo-fuzz");
    util::run(util::cargo().args(["install", "cargo-fuzz", "--locked"]))
}

/// The targets of fuzz/Cargo.toml whose source file exists.
fn targets() -> Result<Vec<String>> {
    let fuzz = util::workspace_root().join("fuzz");
    let listed = util::output(cargo_fuzz().arg("list"))?;
    let targets: Vec<String> = listed
        .lines()
        .map(str::trim)
        .filter(|t| !t.is_empty() && fuzz.join(format!("fuzz_targets/{t}.rs")).exists())
        .map(str::to_owned)
        .collect();
    if targets.is_empty() {
        return Err("no fuzz target has a source file in fuzz/fuzz_targets/".into());
    }
    Ok(targets)
}

/// Writes the generated seeds of one target into its corpus directory.
fn write_seeds(target: &str, dir: &Path) -> Result {
    std::fs::create_dir_all(dir)?;
    for (i, seed) in seeds(target).iter().enumerate() {
        std::fs::write(dir.join(format!("seed-{i}")), seed)?;
    }
    Ok(())
}

/// Small inputs that reach past each parser's first checks.
fn seeds(target: &str) -> Vec<Vec<u8>> {
    match target {
        "module" => vec![
            elf_header(2, 1),
            elf_header(1, 2),
            xz_magic(),
            vec![0x28, 0xb5, 0x2f, 0xfd],
            vec![0x1f, 0x8b, 8, 0],
        ],
        "signature" => vec![signature_trailer(0), signature_trailer(16)],
        "index" => vec![index_header(0), index_header(0x4000_000c)],
        "config" => vec![
            b"search updates built-in\noverride foo * extra\nexclude build\n".to_vec(),
            b"alias pci:v* foo\noptions foo bar=1\nsoftdep foo pre: bar post: baz\n".to_vec(),
            b"blacklist foo\ninstall foo /bin/true\nremove foo /bin/true \\\n  --quiet\n".to_vec(),
        ],
        _ => vec![Vec::new()],
    }
}

/// The 64-byte ELF header of a relocatable x86-64 file: class 1/2, data 1 (LE) / 2 (BE).
fn elf_header(class: u8, data: u8) -> Vec<u8> {
    let mut h = vec![0u8; 64];
    h[..4].copy_from_slice(b"\x7fELF");
    h[4] = class;
    h[5] = data;
    h[6] = 1;
    h[16] = 1; // ET_REL
    h[18] = 62; // EM_X86_64
    h
}

fn xz_magic() -> Vec<u8> {
    vec![
        0xfd, b'7', b'z', b'X', b'Z', 0, 0, 1, 0x69, 0x22, 0xde, 0x36,
    ]
}

/// `sig_len` bytes of signature, the 12-byte struct (PKCS#7) and the trailer magic.
fn signature_trailer(sig_len: u8) -> Vec<u8> {
    let mut s = elf_header(2, 1);
    s.extend(vec![0x30; sig_len as usize]);
    s.extend([0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, sig_len]);
    s.extend(b"~Module signature appended~\n");
    s
}

/// An index header (magic, version 2.1) with the given root word, plus a small body.
fn index_header(root: u32) -> Vec<u8> {
    let mut h = Vec::new();
    h.extend(0xB007_F457u32.to_be_bytes());
    h.extend(0x0002_0001u32.to_be_bytes());
    h.extend(root.to_be_bytes());
    h.extend([0, 0, 0, 1, 0, 0, 0, 0, b'x', 0]);
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_target_has_nonempty_seeds() {
        for target in ["module", "signature", "index", "config"] {
            let seeds = seeds(target);
            assert!(
                !seeds.is_empty() && seeds.iter().all(|s| !s.is_empty()),
                "{target}"
            );
        }
    }

    #[test]
    fn signature_seed_ends_with_the_trailer_and_its_length() {
        let seed = signature_trailer(16);
        assert!(seed.ends_with(b"~Module signature appended~\n"));
        let info = &seed[seed.len() - 40..seed.len() - 28];
        assert_eq!(info[2], 2, "PKCS#7 id type");
        assert_eq!(
            u32::from_be_bytes([info[8], info[9], info[10], info[11]]),
            16
        );
    }

    #[test]
    fn index_seed_has_magic_version_and_root() {
        let seed = index_header(0x4000_000c);
        assert_eq!(&seed[..4], &[0xB0, 0x07, 0xF4, 0x57]);
        assert_eq!(&seed[4..8], &[0, 2, 0, 1]);
        assert_eq!(&seed[8..12], &[0x40, 0, 0, 0x0c]);
    }
}
