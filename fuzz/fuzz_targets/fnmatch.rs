//! Fuzz fnmatch: pattern and string split at the first NUL; it must never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use modkit_index::fnmatch;

fuzz_target!(|data: &[u8]| {
    let (pattern, string) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let _ = fnmatch(pattern, string);
    let _ = fnmatch(string, pattern);
});
