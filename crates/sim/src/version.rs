//! Kernel versions of the model, by the labels of kernel-loader §0.1, and what each one
//! does on the load path: where duplicates are caught, which layout generation applies,
//! whether the idempotent filter exists and how its wait behaves, the ROX cache, stats.c.
//! Two proposals that were never merged (`kread-dedup`, `page-list`) are versions too.

use modkit_elf::layout::Generation;
use std::fmt;
use std::str::FromStr;

/// A kernel version label (kernel-loader §0.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Version {
    /// Vanilla v6.1: a duplicate that waited on a failing first loader retries the load.
    V6_1_0,
    /// 6.1 stable (Debian 6.1.192): "Don't wait for GOING modules", -EBUSY.
    V6_1,
    /// v6.4-rc4: exclusive write-deny while reading (-ETXTBSY), reverted in rc5.
    V6_4Rc4,
    /// v6.4: the early duplicate check (L4) before the image allocation; stats.c.
    V6_4,
    /// 6.5–6.10: per-inode idempotent `finit_module`, uninterruptible wait.
    V6_5,
    /// 6.11+: the idempotent wait is interruptible (-EINTR).
    V6_11,
    /// Debian 6.12.107: as 6.11, execmem, no ROX cache on x86.
    V6_12,
    /// 6.15+: module text carved from 2 MiB ROX cache blocks.
    V6_15,
    /// Proposal: de-duplicate the file read itself by file identity, before any allocation.
    KreadDedup,
    /// Proposal: read, decompress and verify into a list of pages; nothing is vmalloc'ed
    /// or vmap'd before the uniqueness check.
    PageList,
}

/// An unknown version label.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown kernel version '{0}' (known: {known})", known = Version::labels().join(", "))]
pub struct UnknownVersion(pub String);

impl Version {
    /// Every version, oldest first (the sweep's order).
    pub const ALL: [Version; 10] = [
        Version::V6_1_0,
        Version::V6_1,
        Version::V6_4Rc4,
        Version::V6_4,
        Version::V6_5,
        Version::V6_11,
        Version::V6_12,
        Version::V6_15,
        Version::KreadDedup,
        Version::PageList,
    ];

    /// The label of kernel-loader §0.1.
    pub fn label(self) -> &'static str {
        match self {
            Version::V6_1_0 => "6.1.0",
            Version::V6_1 => "6.1",
            Version::V6_4Rc4 => "6.4-rc4",
            Version::V6_4 => "6.4",
            Version::V6_5 => "6.5",
            Version::V6_11 => "6.11",
            Version::V6_12 => "6.12",
            Version::V6_15 => "6.15",
            Version::KreadDedup => "kread-dedup",
            Version::PageList => "page-list",
        }
    }

    /// All labels, for error messages and help.
    pub fn labels() -> Vec<&'static str> {
        Version::ALL.iter().map(|v| v.label()).collect()
    }

    /// Which layout rules apply: 2 areas before 6.4, up to 7 from 6.4.
    pub fn generation(self) -> Generation {
        match self {
            Version::V6_1_0 | Version::V6_1 => Generation::CoreInit,
            _ => Generation::ModuleMemory,
        }
    }

    /// `early_mod_check()` (L4) exists.
    pub fn early_check(self) -> bool {
        self.generation() == Generation::ModuleMemory
    }

    /// A duplicate that waited on a failing first loader retries the load itself (6.1.0),
    /// and GOING does not end the wait.
    pub fn retries_after_failure(self) -> bool {
        self == Version::V6_1_0
    }

    /// `finit_module` goes through the per-inode filter (F2).
    pub fn idempotent(self) -> bool {
        self >= Version::V6_5
    }

    /// The idempotent wait can be interrupted (6.11+, `2124d84db293`).
    pub fn interruptible_idempotent(self) -> bool {
        self >= Version::V6_11
    }

    /// F3a takes an exclusive write-deny: a concurrent read of the same inode gets -ETXTBSY.
    pub fn exclusive_read(self) -> bool {
        self == Version::V6_4Rc4
    }

    /// Module text comes from the ROX cache (§12).
    pub fn rox_cache(self) -> bool {
        self == Version::V6_15
    }

    /// `kernel/module/stats.c` exists (6.4+); older versions show the would-be counters.
    pub fn has_stats(self) -> bool {
        self.early_check()
    }

    /// Idempotent waiters do not share the first's result: once it completes they check
    /// the module list without having read anything (the kread-dedup proposal).
    pub fn dedup_read_only(self) -> bool {
        self == Version::KreadDedup
    }

    /// Read buffers and decompressed images are page lists, not vmalloc (page-list).
    pub fn page_list(self) -> bool {
        self == Version::PageList
    }

    /// The kmod semaphore (6.4+) hands slots out in FIFO order; 6.1 waiters race.
    pub fn kmod_fifo(self) -> bool {
        self.early_check()
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

impl FromStr for Version {
    type Err = UnknownVersion;
    fn from_str(s: &str) -> Result<Version, UnknownVersion> {
        let s = s.trim();
        let alias = match s {
            "6.1.y" => "6.1",
            "6.5-6.10" | "6.10" => "6.5",
            "6.11+" => "6.11",
            "6.15+" => "6.15",
            other => other,
        };
        Version::ALL
            .iter()
            .copied()
            .find(|v| v.label() == alias)
            .ok_or_else(|| UnknownVersion(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_round_trip_and_unknown_is_an_error() {
        for v in Version::ALL {
            assert_eq!(v.label().parse::<Version>(), Ok(v));
        }
        assert_eq!("6.1.y".parse::<Version>(), Ok(Version::V6_1));
        let err = "5.4".parse::<Version>().unwrap_err();
        assert!(err.to_string().contains("unknown kernel version '5.4'"));
        assert!(err.to_string().contains("kread-dedup"));
    }

    #[test]
    fn duplicate_catch_points_move_earlier() {
        assert!(!Version::V6_1.early_check() && Version::V6_4.early_check());
        assert!(!Version::V6_4.idempotent() && Version::V6_5.idempotent());
        assert!(!Version::V6_5.interruptible_idempotent());
        assert!(Version::V6_12.interruptible_idempotent());
        assert_eq!(Version::V6_1_0.generation(), Generation::CoreInit);
        assert_eq!(Version::V6_4Rc4.generation(), Generation::ModuleMemory);
    }
}
