//! Fuzz the index reader and writer: arbitrary bytes as an index file, queried with an
//! arbitrary key; and arbitrary lines as keys, written in both layouts and read back.
#![no_main]
use libfuzzer_sys::fuzz_target;
use modkit_index::{Index, IndexWriter, Layout, ValueOrder};

fuzz_target!(|data: &[u8]| {
    // Byte 0: key length; then the key; the rest is the index file.
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let (key, file) = rest.split_at(usize::from(n).min(rest.len()));
    for order in [ValueOrder::Mmap, ValueOrder::Stdio] {
        if let Ok(idx) = Index::new(file) {
            let idx = idx.with_order(order);
            let _ = idx.lookup(key);
            let _ = idx.lookup_all(key);
            let _ = idx.lookup_wildcard(key);
            let _ = idx.dump_values();
        }
    }

    // Writer round trip: every line of the input (7-bit, NUL-free) is a key.
    let mut writer = IndexWriter::new();
    let keys: Vec<&[u8]> = data
        .split(|&b| b == b'\n')
        .filter(|k| k.iter().all(|&b| b != 0 && b < 0x80))
        .collect();
    for (i, k) in keys.iter().enumerate() {
        writer.insert(k, b"v", (i % 3) as u32);
    }
    let pre = writer.to_bytes(Layout::PreOrder);
    let post = writer.to_bytes(Layout::PostOrder);
    assert_eq!(pre.len(), post.len());
    let (Ok(a), Ok(b)) = (Index::new(&pre), Index::new(&post)) else {
        panic!("written index does not parse");
    };
    assert_eq!(a.dump(), b.dump());
    assert_eq!(a.dump().len(), keys.len());
    for k in &keys {
        assert_eq!(a.lookup(k), Some(&b"v"[..]));
        assert_eq!(b.lookup(k), Some(&b"v"[..]));
    }
});
