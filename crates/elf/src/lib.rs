//! Kernel module files: what a `.ko` (plain or compressed) says about itself.
//!
//! This crate owns everything read out of one module file: the compression detected by
//! magic ([`Compression`]), decompression ([`decompress`]), the ELF parse for ELF32/ELF64 in
//! either byte order ([`Module`]), `.modinfo` entries, `__versions`, exported and undefined
//! symbols with their CRCs, the build-id, the appended signature with its PKCS#7 fields
//! ([`signature`]), and the kernel's module-area layout sizes ([`layout`]). It works on byte
//! slices and does no I/O. [`synth`] builds synthetic module files for tests (fixtures are
//! generated, never copied).
//!
//! Typical use (depmod, modinfo):
//!
//! ```
//! # let file = modkit_elf::synth::ModuleBuilder::new().modinfo("name", "foo").build();
//! let image = modkit_elf::decompress(&file)?; // Cow: borrowed when not compressed
//! let module = modkit_elf::Module::parse(&image)?;
//! for (key, value) in module.modinfo()? {
//!     assert_eq!((key, value), (&b"name"[..], &b"foo"[..]));
//! }
//! let _signature = modkit_elf::Signature::parse(&image); // None: unsigned
//! # Ok::<(), modkit_elf::Error>(())
//! ```
//!
//! Where kmod 30's behaviour differs from a plain reading of the formats, kmod wins; each
//! such rule says so in a comment and is tested against kmod in `tests/oracle_synth.rs`.
#![forbid(unsafe_code)]

pub mod compress;
pub mod error;
pub mod layout;
pub mod module;
pub mod signature;
pub mod synth;

pub use compress::{decompress, Compression};
pub use error::Error;
pub use module::{Binding, DepSymbol, Export, ModinfoEntry, Module, SectionInfo, SymbolInfo};
pub use signature::{PkeyAlgo, Signature, SignatureId};
