//! Fuzz target: arbitrary bytes parsed as a depmod.d file must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use modkit_config::depmod_d::{parse_into, DepmodConfig};

fuzz_target!(|data: &[u8]| {
    let mut cfg = DepmodConfig::default();
    let mut count = 0usize;
    parse_into(
        &mut cfg,
        std::path::Path::new("fuzz.conf"),
        data,
        "6.1.0-fuzz",
        &mut |e| count += e.to_string().len(),
    );
    cfg.finish();
});
