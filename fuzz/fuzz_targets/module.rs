//! Fuzz target: arbitrary bytes → decompress → Module::parse → every accessor.
//! Nothing may panic, loop forever or allocate without bound.
#![no_main]

use libfuzzer_sys::fuzz_target;
use modkit_elf::{compress::decompress_with_limit, Module, Signature};

/// Keep decompression bombs small under the fuzzer.
const LIMIT: usize = 64 << 20;

fuzz_target!(|data: &[u8]| {
    let Ok(image) = decompress_with_limit(data, LIMIT) else {
        return;
    };
    let _ = Signature::parse(&image);
    let Ok(module) = Module::parse(&image) else {
        return;
    };
    let _ = module.modinfo();
    let _ = module.exports();
    let _ = module.dependency_symbols();
    let _ = module.versions();
    let _ = module.build_id();
    let _ = module.sections();
    let _ = (module.machine(), module.is_64(), module.is_big_endian());
    let _ = module.symbols();
    let _ = modkit_elf::layout::mem_layout(&module);
    let _ = modkit_elf::layout::core_init_layout(&module);
    let _ = Signature::module_len(&image);
});
