//! `kernel/module/stats.c` (6.4+, kernel-loader §7): the counters, bumped where the kernel
//! bumps them, the duplicate-failed list, and the exact text of
//! `/sys/kernel/debug/modules/stats`. On versions without stats.c the model keeps the
//! counters the 6.4 code would have shown on that version's load path.

use serde::Serialize;

/// Why a duplicate failed (`enum fail_dup_mod_reason` bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DupReason {
    /// `FAIL_DUP_MOD_BECOMING`: caught by `early_mod_check()` (L4).
    Becoming,
    /// `FAIL_DUP_MOD_LOAD`: caught by `add_unformed_module()` (L6).
    Load,
}

/// One `dup_failed_modules` record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DupFailed {
    pub name: String,
    pub count: u64,
    pub becoming: bool,
    pub load: bool,
}

impl DupFailed {
    fn reason(&self) -> &'static str {
        match (self.becoming, self.load) {
            (true, true) => "Becoming & Load",
            (true, false) => "Becoming",
            (false, true) => "Load",
            (false, false) => "Bug-on-stats",
        }
    }
}

/// The counters (all only ever increase).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    pub modcount: u64,
    pub total_mod_size: u64,
    pub total_text_size: u64,
    pub failed_kreads: u64,
    pub invalid_kread_bytes: u64,
    pub failed_decompress: u64,
    pub invalid_decompress_bytes: u64,
    pub failed_becoming: u64,
    pub invalid_becoming_bytes: u64,
    pub failed_load_modules: u64,
    pub invalid_mod_bytes: u64,
    /// Newest first, as `list_add_rcu` leaves them.
    pub dup_failed: Vec<DupFailed>,
}

/// At most this many rows are attempted (`WARN_ON_ONCE(++count >= 112)` stops at 111).
const MAX_DUP_ROWS: usize = 111;

impl Stats {
    /// `try_add_failed_module(name, reason)`.
    pub fn add_failed_module(&mut self, name: &str, reason: DupReason) {
        let rec = match self.dup_failed.iter_mut().find(|r| r.name == name) {
            Some(r) => {
                r.count += 1;
                r
            }
            None => {
                self.dup_failed.insert(
                    0,
                    DupFailed {
                        name: name.to_owned(),
                        count: 1,
                        becoming: false,
                        load: false,
                    },
                );
                &mut self.dup_failed[0]
            }
        };
        match reason {
            DupReason::Becoming => rec.becoming = true,
            DupReason::Load => rec.load = true,
        }
    }

    /// `mod_stat_bump_becoming()`: `info->len` (+ compressed length with flag 4).
    pub fn bump_becoming(&mut self, info_len: u64, compressed_len: u64) {
        self.failed_becoming += 1;
        self.invalid_becoming_bytes += info_len + compressed_len;
    }

    /// `mod_stat_bump_invalid()`: `2 · info->len` (+ compressed length with flag 4).
    pub fn bump_invalid(&mut self, info_len: u64, compressed_len: u64) {
        self.failed_load_modules += 1;
        self.invalid_mod_bytes += 2 * info_len + compressed_len;
    }

    /// `do_init_module()` success: Σ of all seven types, text + init text.
    pub fn bump_loaded(&mut self, total: u64, text: u64) {
        self.modcount += 1;
        self.total_mod_size += total;
        self.total_text_size += text;
    }

    /// "Virtual mem wasted bytes": the sum of the four byte counters.
    pub fn wasted_bytes(&self) -> u64 {
        self.invalid_kread_bytes
            + self.invalid_decompress_bytes
            + self.invalid_becoming_bytes
            + self.invalid_mod_bytes
    }

    /// The text of `/sys/kernel/debug/modules/stats` (`read_file_mod_stats`, §7.4).
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut line = |label: &str, value: u64| out.push_str(&format!("{label:>25}\t{value}\n"));
        line("Mods ever loaded", self.modcount);
        line("Mods failed on kread", self.failed_kreads);
        line("Mods failed on decompress", self.failed_decompress);
        line("Mods failed on becoming", self.failed_becoming);
        line("Mods failed on load", self.failed_load_modules);
        line("Total module size", self.total_mod_size);
        line("Total mod text size", self.total_text_size);
        line("Failed kread bytes", self.invalid_kread_bytes);
        line("Failed decompress bytes", self.invalid_decompress_bytes);
        line("Failed becoming bytes", self.invalid_becoming_bytes);
        line("Failed kmod bytes", self.invalid_mod_bytes);
        line("Virtual mem wasted bytes", self.wasted_bytes());
        let averages = [
            ("Average mod size", self.total_mod_size, self.modcount),
            ("Average mod text size", self.total_text_size, self.modcount),
            (
                "Avg fail kread bytes",
                self.invalid_kread_bytes,
                self.failed_kreads,
            ),
            (
                "Avg fail becoming bytes",
                self.invalid_becoming_bytes,
                self.failed_becoming,
            ),
            (
                "Avg fail decomp bytes",
                self.invalid_decompress_bytes,
                self.failed_decompress,
            ),
            (
                "Average fail load bytes",
                self.invalid_mod_bytes,
                self.failed_load_modules,
            ),
        ];
        for (label, bytes, count) in averages {
            if bytes != 0 && count != 0 {
                line(label, bytes.div_ceil(count));
            }
        }
        if !self.dup_failed.is_empty() {
            out.push_str("Duplicate failed modules:\n");
            out.push_str(&format!(
                "{:>25}\t{:>15}\t{:>25}\n",
                "Module-name", "How-many-times", "Reason"
            ));
            for r in self.dup_failed.iter().take(MAX_DUP_ROWS) {
                out.push_str(&format!(
                    "{:>25}\t{:>15}\t{:>25}\n",
                    r.name,
                    r.count,
                    r.reason()
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_debugfs_text_has_the_kernel_format() {
        let mut s = Stats::default();
        // kernel-loader §7.3: xfs on 6.12 with flag 4.
        s.bump_becoming(5_593_896, 766_764);
        s.bump_invalid(5_593_896, 766_764);
        s.add_failed_module("xfs", DupReason::Becoming);
        s.add_failed_module("xfs", DupReason::Load);
        s.add_failed_module("kvm", DupReason::Becoming);
        assert_eq!(s.invalid_becoming_bytes, 6_360_660);
        assert_eq!(s.invalid_mod_bytes, 11_954_556);
        let text = s.render();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "         Mods ever loaded\t0");
        assert_eq!(lines[2], "Mods failed on decompress\t0");
        assert_eq!(lines[11], " Virtual mem wasted bytes\t18315216");
        assert_eq!(lines[12], "  Avg fail becoming bytes\t6360660");
        assert_eq!(lines[13], "  Average fail load bytes\t11954556");
        assert_eq!(lines[14], "Duplicate failed modules:");
        assert_eq!(
            lines[15],
            "              Module-name\t How-many-times\t                   Reason"
        );
        assert_eq!(
            lines[16],
            format!("{:>25}\t{:>15}\t{:>25}", "kvm", 1, "Becoming")
        );
        assert_eq!(
            lines[17],
            format!("{:>25}\t{:>15}\t{:>25}", "xfs", 2, "Becoming & Load")
        );
    }
}
