//! Readers never panic or loop on damaged files: valid indexes with random bytes
//! overwritten, and random bodies behind a valid header, answer every query.
use modkit_index::{Index, IndexWriter, Layout, ValueOrder};
use proptest::prelude::*;

fn sample_index(layout: Layout) -> Vec<u8> {
    let mut w = IndexWriter::new();
    for (i, k) in [
        "pci:v00008086d*",
        "pci:v*",
        "usb:v1234p*",
        "fs-ext4",
        "ext4",
        "crc32c",
        "crc32",
        "symbol:jbd2_journal_start",
        "a[bc]d",
        "x?y",
    ]
    .iter()
    .enumerate()
    {
        w.insert(k.as_bytes(), format!("m{i}").as_bytes(), i as u32 % 3);
    }
    w.to_bytes(layout)
}

fn query_all(bytes: &[u8], subjects: &[Vec<u8>]) {
    for order in [ValueOrder::Mmap, ValueOrder::Stdio] {
        let Ok(idx) = Index::new(bytes) else {
            return;
        };
        let idx = idx.with_order(order);
        let dump = idx.dump_values();
        // A walk visits at most `len + 1` nodes, each with at most `len / 5` values.
        let len = bytes.len();
        assert!(dump.len() <= (len / 5 + 1) * (len + 1));
        for s in subjects {
            let _ = idx.lookup(s);
            let _ = idx.lookup_all(s);
            let _ = idx.lookup_wildcard(s);
        }
    }
}

fn subjects() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(prop::collection::vec(any::<u8>(), 0..24), 1..6)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn corrupted_indexes_do_not_panic(
        pre in any::<bool>(),
        damage in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..12),
        subjects in subjects(),
    ) {
        let mut bytes = sample_index(if pre { Layout::PreOrder } else { Layout::PostOrder });
        for (at, b) in damage {
            let i = at.index(bytes.len() - 12) + 12;
            bytes[i] = b;
        }
        let mut subjects = subjects;
        subjects.push(b"pci:v00008086d00001000".to_vec());
        subjects.push(b"crc32c".to_vec());
        query_all(&bytes, &subjects);
    }

    #[test]
    fn random_bodies_do_not_panic(
        root in any::<u32>(),
        body in prop::collection::vec(any::<u8>(), 0..512),
        subjects in subjects(),
    ) {
        let mut bytes = vec![0xb0, 0x07, 0xf4, 0x57, 0, 2, 0, 1];
        // Keep the root inside the file most of the time.
        let len = u32::try_from(12 + body.len()).unwrap();
        let root = (root & 0xF000_0000) | ((root & 0x0FFF_FFFF) % (len + 4));
        bytes.extend_from_slice(&root.to_be_bytes());
        bytes.extend_from_slice(&body);
        query_all(&bytes, &subjects);
    }
}

/// Truncating a valid index at every length never panics, and whatever a truncated file
/// still yields is a genuine part of the full file's answers.
#[test]
fn every_truncation_is_safe() {
    let subjects = vec![b"pci:v00008086d1".to_vec(), b"ext4".to_vec(), Vec::new()];
    for layout in [Layout::PreOrder, Layout::PostOrder] {
        let bytes = sample_index(layout);
        let full = Index::new(&bytes).unwrap();
        let full_dump = full.dump();
        assert_eq!(full_dump.len(), 10);
        let full_hits: Vec<Vec<_>> = subjects.iter().map(|s| full.lookup_wildcard(s)).collect();
        assert_eq!(full_hits[0].len(), 2);
        for len in 0..=bytes.len() {
            let part = &bytes[..len];
            query_all(part, &subjects);
            let Ok(idx) = Index::new(part) else {
                assert!(len < 12);
                continue;
            };
            for entry in idx.dump() {
                assert!(full_dump.contains(&entry), "{entry:?} at length {len}");
            }
            for (s, hits) in subjects.iter().zip(&full_hits) {
                for v in idx.lookup_wildcard(s) {
                    assert!(hits.contains(&v), "{v:?} at length {len}");
                }
            }
        }
    }
}
