//! The /proc/meminfo sampler (testbed.md §5.1–§5.2): the file is opened once and re-read
//! with `pread` into a fixed buffer in a tight loop; each sample keeps the fields the
//! testbed reports (`VmallocUsed`, `MemFree`, `DirectMap4k`), in kB.

use std::collections::BTreeMap;
use std::fs::File;
use std::io;

/// The fields `racer ident` reports.
const IDENT_FIELDS: &[&str] = &[
    "MemTotal",
    "MemFree",
    "VmallocTotal",
    "VmallocUsed",
    "Percpu",
    "DirectMap4k",
    "DirectMap2M",
    "DirectMap1G",
];

/// One reading of the fields a storm tracks, in kB.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sample {
    pub vmalloc_used: i64,
    pub mem_free: i64,
    pub direct_map_4k: i64,
}

/// An open /proc/meminfo and its read buffer.
pub struct Meminfo {
    file: File,
    buf: Vec<u8>,
}

/// The value in kB of `Name:   1234 kB` lines, for `name`.
fn field(text: &[u8], name: &str) -> Option<i64> {
    let at = find(text, name.as_bytes())?;
    let rest = text[at + name.len()..].strip_prefix(b":")?;
    let digits: Vec<u8> = rest
        .iter()
        .skip_while(|b| **b == b' ')
        .take_while(|b| b.is_ascii_digit())
        .copied()
        .collect();
    std::str::from_utf8(&digits).ok()?.parse().ok()
}

/// Position of `name` at the start of a line.
fn find(text: &[u8], name: &[u8]) -> Option<usize> {
    let mut at = 0;
    while at + name.len() <= text.len() {
        if text[at..].starts_with(name) {
            return Some(at);
        }
        at += text[at..].iter().position(|b| *b == b'\n')? + 1;
    }
    None
}

impl Meminfo {
    pub fn open() -> io::Result<Meminfo> {
        Ok(Meminfo {
            file: File::open("/proc/meminfo")?,
            buf: vec![0; 8192],
        })
    }

    fn read(&mut self) -> io::Result<&[u8]> {
        let n = rustix::io::pread(&self.file, &mut self.buf[..], 0)?;
        Ok(&self.buf[..n])
    }

    /// One sample of the tracked fields.
    pub fn sample(&mut self) -> io::Result<Sample> {
        let text = self.read()?;
        Ok(Sample {
            vmalloc_used: field(text, "VmallocUsed").unwrap_or(0),
            mem_free: field(text, "MemFree").unwrap_or(0),
            direct_map_4k: field(text, "DirectMap4k").unwrap_or(0),
        })
    }

    /// The identification fields, by name.
    pub fn read_all() -> io::Result<BTreeMap<&'static str, i64>> {
        let mut meminfo = Meminfo::open()?;
        let text = meminfo.read()?;
        Ok(IDENT_FIELDS
            .iter()
            .filter_map(|name| Some((*name, field(text, name)?)))
            .collect())
    }
}

/// Extremes over a storm: the peak of `VmallocUsed`, the trough of `MemFree`.
#[derive(Clone, Copy, Debug)]
pub struct Extremes {
    pub baseline: Sample,
    pub peak_vmalloc_used: i64,
    pub min_mem_free: i64,
    pub last: Sample,
    pub samples: u64,
}

impl Extremes {
    pub fn new(baseline: Sample) -> Extremes {
        Extremes {
            baseline,
            peak_vmalloc_used: baseline.vmalloc_used,
            min_mem_free: baseline.mem_free,
            last: baseline,
            samples: 0,
        }
    }

    pub fn add(&mut self, s: Sample) {
        self.peak_vmalloc_used = self.peak_vmalloc_used.max(s.vmalloc_used);
        self.min_mem_free = self.min_mem_free.min(s.mem_free);
        self.last = s;
        self.samples += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &[u8] = b"MemTotal:        2014000 kB\nMemFree:         1800000 kB\n\
VmallocTotal:   34359738367 kB\nVmallocUsed:       12345 kB\nDirectMap4k:       28544 kB\n";

    #[test]
    fn fields_are_read_in_kb() {
        assert_eq!(field(TEXT, "VmallocUsed"), Some(12345));
        assert_eq!(field(TEXT, "VmallocTotal"), Some(34359738367));
        assert_eq!(field(TEXT, "MemFree"), Some(1800000));
        assert_eq!(field(TEXT, "Percpu"), None);
        // A name is matched at a line start only, and whole.
        assert_eq!(field(b"XMemFree: 5 kB\n", "MemFree"), None);
        assert_eq!(field(b"MemFreeX: 5 kB\n", "MemFree"), None);
    }

    #[test]
    fn extremes_track_peak_and_trough() {
        let base = Sample {
            vmalloc_used: 100,
            mem_free: 1000,
            direct_map_4k: 0,
        };
        let mut e = Extremes::new(base);
        e.add(Sample {
            vmalloc_used: 300,
            mem_free: 900,
            ..base
        });
        e.add(Sample {
            vmalloc_used: 200,
            mem_free: 950,
            ..base
        });
        assert_eq!(
            (e.peak_vmalloc_used, e.min_mem_free, e.samples),
            (300, 900, 2)
        );
        assert_eq!(e.last.vmalloc_used, 200);
    }
}
