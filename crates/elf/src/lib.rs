//! Kernel module files: what a `.ko` (plain or compressed) says about itself.
//!
//! This crate owns everything read out of one module file: the compression detected by
//! magic ([`Compression`]), decompression ([`decompress`]), the ELF parse for ELF32/ELF64 in
//! either byte order ([`Module`]), `.modinfo` entries, `__versions`, exported and undefined
//! symbols with their CRCs, the build-id, and the appended signature with its PKCS#7 fields
//! ([`signature`]). It works on byte slices and does no I/O. [`synth`] builds synthetic
//! module files for tests (fixtures are generated, never copied).
#![forbid(unsafe_code)]

pub mod compress;
pub mod error;
pub mod module;
pub mod signature;
pub mod synth;

pub use compress::{decompress, Compression};
pub use error::Error;
pub use module::{Binding, DepSymbol, Export, ModinfoEntry, Module, SectionInfo};
pub use signature::{Signature, SignatureId};
