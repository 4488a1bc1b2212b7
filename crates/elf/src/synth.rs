//! Synthetic module files for tests: ELF32/ELF64, either byte order, with `.modinfo`,
//! `__versions`, exports (with or without `__crc_` symbols), undefined symbols, a build-id
//! and optionally a signature trailer, optionally compressed.
