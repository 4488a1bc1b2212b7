//! Reading each module file (in parallel) and keeping only the facts depmod needs: aliases,
//! softdeps, weakdeps, exports with CRCs and dependency symbols (kmod-formats §5.5). The
//! decompressed image is dropped as soon as they are extracted.

use rayon::prelude::*;

use modkit_elf::{Binding, Compression, Module};

use crate::scan::Candidate;

const ENOENT: i32 = 2;
const EINVAL: i32 = 22;
const ENODATA: i32 = 61;

/// A dependency symbol of a module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeededSymbol {
    pub name: Vec<u8>,
    pub crc: u64,
    pub weak: bool,
}

/// What depmod keeps of one module file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModuleFacts {
    /// `alias=` values in `.modinfo` order.
    pub aliases: Vec<Vec<u8>>,
    /// `softdep=` values.
    pub softdeps: Vec<Vec<u8>>,
    /// `weakdep=` values.
    pub weakdeps: Vec<Vec<u8>>,
    /// Exported symbols with CRCs.
    pub exports: Vec<(Vec<u8>, u64)>,
    /// Dependency symbols in kmod's order.
    pub needs: Vec<NeededSymbol>,
    /// errno of a failure to load the exports that kmod reports
    /// (`failed to load symbols from <path>: <strerror>`).
    pub symbols_errno: Option<i32>,
}

/// Read every candidate in parallel; results are in candidate order.
pub fn read_all(mods: &[Candidate]) -> Vec<ModuleFacts> {
    mods.par_iter().map(|c| read_one(&c.path)).collect()
}

/// Read one module file; failures become `symbols_errno`, never a panic.
pub fn read_one(path: &std::path::Path) -> ModuleFacts {
    let bytes = match read_module_file(path) {
        Ok(b) => b,
        Err(e) => return failed(e.raw_os_error().unwrap_or(EINVAL)),
    };
    if bytes.is_empty() {
        // kmod maps the file; mapping 0 bytes fails with EINVAL.
        return failed(EINVAL);
    }
    if Compression::detect(&bytes) != Compression::None {
        match modkit_elf::decompress(&bytes) {
            Ok(image) => facts_of_image(&image),
            Err(_) => failed(EINVAL),
        }
    } else {
        facts_of_image(&bytes)
    }
}

/// The file's bytes: an uncompressed ELF is read sparsely (see [`crate::sparse`]), anything
/// else in full.
fn read_module_file(path: &std::path::Path) -> std::io::Result<Vec<u8>> {
    let file = std::fs::File::open(path)?;
    if let Some(image) = crate::sparse::read_sparse(&file)? {
        return Ok(image);
    }
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut &file, &mut bytes)?;
    Ok(bytes)
}

fn failed(errno: i32) -> ModuleFacts {
    ModuleFacts {
        symbols_errno: Some(errno),
        ..ModuleFacts::default()
    }
}

/// Extract the facts of a (decompressed) image.
pub fn facts_of_image(image: &[u8]) -> ModuleFacts {
    let module = match Module::parse(image) {
        Ok(m) => m,
        Err(e) => return failed(e.errno()),
    };
    let mut facts = ModuleFacts::default();
    if let Ok(info) = module.modinfo() {
        for (key, value) in info {
            match key {
                b"alias" => facts.aliases.push(value.to_vec()),
                b"softdep" => facts.softdeps.push(value.to_vec()),
                b"weakdep" => facts.weakdeps.push(value.to_vec()),
                _ => {}
            }
        }
    }
    match module.exports() {
        Ok(exports) => {
            facts.exports = exports
                .into_iter()
                .map(|e| (e.name.to_vec(), e.crc))
                .collect()
        }
        Err(e) => {
            let errno = e.errno();
            if errno != ENOENT && errno != ENODATA {
                facts.symbols_errno = Some(errno);
            }
        }
    }
    if let Ok(deps) = module.dependency_symbols() {
        facts.needs = deps
            .into_iter()
            .map(|d| NeededSymbol {
                name: d.name.to_vec(),
                crc: d.crc,
                weak: d.binding == Binding::Weak,
            })
            .collect();
    }
    facts
}
