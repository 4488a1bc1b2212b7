//! Round trip: random (key, value, priority) sets are written in both layouts and read
//! back; every answer is compared with a naive model over the list of keys.
use modkit_index::{fnmatch, Index, IndexWriter, Layout, Value, ValueOrder};
use proptest::prelude::*;
use std::cmp::Ordering;
use std::collections::BTreeMap;

type Entry = (Vec<u8>, Vec<u8>, u32);

/// depmod's `add_value`: ascending priority, new before the first of equal or higher.
fn add_value(list: &mut Vec<(Vec<u8>, u32)>, value: &[u8], priority: u32) {
    let at = list
        .iter()
        .position(|(_, p)| *p >= priority)
        .unwrap_or(list.len());
    list.insert(at, (value.to_vec(), priority));
}

/// The model: each key's values as the writer stores them, then as a reader sees them.
struct Model {
    keys: BTreeMap<Vec<u8>, Vec<(Vec<u8>, u32)>>,
}

impl Model {
    fn new(entries: &[Entry]) -> Model {
        let mut keys: BTreeMap<Vec<u8>, Vec<(Vec<u8>, u32)>> = BTreeMap::new();
        for (k, v, p) in entries {
            add_value(keys.entry(k.clone()).or_default(), v, *p);
        }
        Model { keys }
    }

    fn values(&self, key: &[u8], order: ValueOrder) -> Vec<(Vec<u8>, u32)> {
        let stored = self.keys.get(key).cloned().unwrap_or_default();
        match order {
            ValueOrder::Mmap => stored,
            ValueOrder::Stdio => {
                let mut list = Vec::new();
                for (v, p) in &stored {
                    add_value(&mut list, v, *p);
                }
                list
            }
        }
    }

    /// Keys matching `subject` in the order the index search discovers them, computed on
    /// the key list alone. The search walks the subject's path position by position; at a
    /// node boundary it scans the keys continuing with `*`, `?`, `[` (then, at the end of
    /// the subject, takes the exact key); inside a node prefix whose next byte is a
    /// wildcard it scans every key below and stops. A scan matches `key[i..]` against
    /// `subject[i..]` and visits longer keys before their prefixes, bytes ascending.
    fn wildcard(&self, subject: &[u8], order: ValueOrder) -> Vec<(Vec<u8>, u32)> {
        let mut found: Vec<&Vec<u8>> = Vec::new();
        let mut i = 0;
        loop {
            let here = &subject[..i];
            let below: Vec<&Vec<u8>> = self.keys.keys().filter(|k| k.starts_with(here)).collect();
            if below.is_empty() {
                break;
            }
            let next: std::collections::BTreeSet<u8> =
                below.iter().filter_map(|k| k.get(i).copied()).collect();
            let has_key = self.keys.contains_key(here);
            let boundary = i == 0 || has_key || next.len() >= 2;
            if !boundary {
                let b = next.first().copied().unwrap_or(0);
                if b"*?[".contains(&b) {
                    found.extend(self.scan(subject, i, here));
                    break;
                }
            } else {
                for w in [b'*', b'?', b'['] {
                    let mut start = here.to_vec();
                    start.push(w);
                    found.extend(self.scan(subject, i, &start));
                }
                if i == subject.len() {
                    if let Some((k, _)) = self.keys.get_key_value(here) {
                        found.push(k);
                    }
                    break;
                }
            }
            if i == subject.len() {
                break;
            }
            i += 1;
        }
        let mut results = Vec::new();
        for k in found {
            for (v, p) in self.values(k, order) {
                add_value(&mut results, &v, p);
            }
        }
        results
    }

    /// A scan at subject position `i` over the keys starting with `start`.
    fn scan(&self, subject: &[u8], i: usize, start: &[u8]) -> Vec<&Vec<u8>> {
        let rest = &subject[i..];
        let mut hits: Vec<&Vec<u8>> = self
            .keys
            .keys()
            .filter(|k| k.starts_with(start) && fnmatch(&k[i..], rest))
            .collect();
        hits.sort_by(|a, b| children_first(a, b));
        hits
    }

    fn dump(&self, order: ValueOrder) -> Vec<(Vec<u8>, Vec<u8>, u32)> {
        let mut out = Vec::new();
        for k in self.keys.keys() {
            for (v, p) in self.values(k, order) {
                out.push((k.clone(), v, p));
            }
        }
        out
    }
}

/// Post-order key order: an extension comes before its prefix, otherwise byte order.
fn children_first(a: &[u8], b: &[u8]) -> Ordering {
    if a.starts_with(b) || b.starts_with(a) {
        b.len().cmp(&a.len())
    } else {
        a.cmp(b)
    }
}

fn owned(values: Vec<Value<'_>>) -> Vec<(Vec<u8>, u32)> {
    values
        .into_iter()
        .map(|v| (v.value.to_vec(), v.priority))
        .collect()
}

fn entries() -> impl Strategy<Value = Vec<Entry>> {
    let key = prop::collection::vec(prop::sample::select(b"ab*?[]\\c".to_vec()), 0..6);
    let value = prop::collection::vec(prop::sample::select(b"xyz_".to_vec()), 0..3);
    prop::collection::vec((key, value, 0u32..4), 0..40)
}

fn subjects() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(
        prop::collection::vec(prop::sample::select(b"abc*?[".to_vec()), 0..7),
        0..12,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    #[test]
    fn written_indexes_read_back_like_the_model(entries in entries(), extra in subjects()) {
        let mut writer = IndexWriter::new();
        let mut seen: BTreeMap<Vec<u8>, Vec<Vec<u8>>> = BTreeMap::new();
        for (k, v, p) in &entries {
            let was_there = seen.get(k).is_some_and(|vs| vs.contains(v));
            prop_assert_eq!(writer.insert(k, v, *p), was_there);
            seen.entry(k.clone()).or_default().push(v.clone());
        }
        let model = Model::new(&entries);
        let pre = writer.to_bytes(Layout::PreOrder);
        let post = writer.to_bytes(Layout::PostOrder);
        prop_assert_eq!(pre.len(), post.len());
        let mut subjects: Vec<Vec<u8>> = model.keys.keys().cloned().collect();
        subjects.extend(extra);
        for order in [ValueOrder::Mmap, ValueOrder::Stdio] {
            let a = Index::new(&pre).unwrap().with_order(order);
            let b = Index::new(&post).unwrap().with_order(order);
            let want_dump = model.dump(order);
            let got_dump: Vec<(Vec<u8>, Vec<u8>, u32)> = a
                .dump_values()
                .into_iter()
                .map(|(k, v)| (k, v.value.to_vec(), v.priority))
                .collect();
            prop_assert_eq!(&got_dump, &want_dump);
            prop_assert_eq!(a.dump(), b.dump());
            for s in &subjects {
                let want = model.values(s, order);
                prop_assert_eq!(a.lookup(s), want.first().map(|(v, _)| v.as_slice()));
                prop_assert_eq!(b.lookup(s), a.lookup(s));
                prop_assert_eq!(owned(a.lookup_all(s)), want);
                let wild = owned(a.lookup_wildcard(s));
                prop_assert_eq!(&wild, &model.wildcard(s, order), "subject {:?}", s);
                prop_assert_eq!(owned(b.lookup_wildcard(s)), wild);
            }
        }
    }
}

/// A larger, depmod-sized index: many keys sharing prefixes, written quickly, read back.
#[test]
fn many_keys_round_trip() {
    let mut writer = IndexWriter::new();
    let mut keys = Vec::new();
    for i in 0..20_000u32 {
        let key = format!("pci:v{:08X}d{:08X}sv*sd*bc{:02X}*", i % 97, i, i % 13);
        writer.insert(
            key.as_bytes(),
            format!("mod{}", i % 500).as_bytes(),
            i % 500,
        );
        keys.push(key);
    }
    for layout in [Layout::PreOrder, Layout::PostOrder] {
        let bytes = writer.to_bytes(layout);
        let idx = Index::new(&bytes).unwrap();
        assert_eq!(idx.dump().len(), 20_000);
        assert_eq!(idx.lookup(keys[1234].as_bytes()), Some(&b"mod234"[..]));
        let hits = idx.lookup_wildcard(b"pci:v00000005d00000005sv1sd2bc05sc");
        assert_eq!(owned(hits), vec![(b"mod5".to_vec(), 5)]);
    }
}
