//! Fuzz target: arbitrary bytes → Signature::parse (trailer and PKCS#7 DER).
#![no_main]

use libfuzzer_sys::fuzz_target;
use modkit_elf::Signature;

fuzz_target!(|data: &[u8]| {
    let _ = Signature::parse(data);
    // Also as a PKCS#7 trailer around the bytes, so the DER parser sees them directly.
    let mut image = data.to_vec();
    image.extend_from_slice(&[0, 0, 2, 0, 0, 0, 0, 0]);
    image.extend_from_slice(&(data.len() as u32).to_be_bytes());
    image.extend_from_slice(b"~Module signature appended~\n");
    let _ = Signature::parse(&image);
});
