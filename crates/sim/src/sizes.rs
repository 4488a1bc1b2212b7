//! Module size statistics over a set of modules (a tree, or the loaded ones): count, file
//! sizes (total, average, average without the N largest, the top N), decompressed sizes,
//! text size and per-type layout sizes of both generations, and the layout/`info->len`
//! ratios of kernel-loader §5.4.

use crate::profile::ModuleFacts;
use modkit_elf::layout::{Generation, Layout, MemType};
use serde::Serialize;

/// One module's line in the top list.
#[derive(Clone, Debug, Serialize)]
pub struct Big {
    pub name: String,
    pub file_size: u64,
    pub image_size: u64,
    pub layout_6_1: u64,
    pub layout_6_4: u64,
}

/// The statistics.
#[derive(Clone, Debug, Serialize)]
pub struct Sizes {
    pub count: usize,
    pub total_file: u64,
    pub average_file: u64,
    /// The N of `average_without_top`.
    pub top_n: usize,
    pub average_file_without_top: u64,
    pub total_image: u64,
    pub total_info_len: u64,
    /// Σ MOD_TEXT + MOD_INIT_TEXT (6.4+ rules).
    pub total_text: u64,
    /// Σ per type, 6.4+ rules, in `enum mod_mem_type` order.
    pub per_type_6_4: [u64; 7],
    /// Σ core and init, 6.1 rules.
    pub core_6_1: u64,
    pub init_6_1: u64,
    /// Σ layout / Σ `info->len` and the median per-module ratio, per generation.
    pub ratio_6_1: f64,
    pub ratio_6_4: f64,
    pub median_ratio_6_1: f64,
    pub median_ratio_6_4: f64,
    pub top: Vec<Big>,
}

fn total(l: &Layout) -> u64 {
    l.core_size() + l.init_size()
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Summarizes `modules`; `top` is the N of the top list and of the trimmed average.
pub fn summarize(modules: &[ModuleFacts], top: usize) -> Sizes {
    let mut per_type = [0u64; 7];
    let (mut core61, mut init61, mut text, mut l61, mut l64) = (0, 0, 0, 0, 0);
    let (mut r61, mut r64) = (Vec::new(), Vec::new());
    let mut bigs = Vec::new();
    for m in modules {
        let a = m.layout(Generation::CoreInit);
        let b = m.layout(Generation::ModuleMemory);
        core61 += a.core_size();
        init61 += a.init_size();
        if let Layout::ModuleMemory(mm) = b {
            for t in MemType::ALL {
                per_type[t as usize] += mm.allocated(t);
            }
            text += mm.allocated(MemType::Text) + mm.allocated(MemType::InitText);
        }
        l61 += total(&a);
        l64 += total(&b);
        let len = m.info_len().max(1) as f64;
        r61.push(total(&a) as f64 / len);
        r64.push(total(&b) as f64 / len);
        bigs.push(Big {
            name: m.name.clone(),
            file_size: m.file_size,
            image_size: m.image_size,
            layout_6_1: total(&a),
            layout_6_4: total(&b),
        });
    }
    bigs.sort_by(|x, y| {
        y.file_size
            .cmp(&x.file_size)
            .then_with(|| x.name.cmp(&y.name))
    });
    let count = modules.len();
    let total_file: u64 = modules.iter().map(|m| m.file_size).sum();
    let top_sum: u64 = bigs.iter().take(top).map(|b| b.file_size).sum();
    let rest = count.saturating_sub(top);
    let info: u64 = modules.iter().map(ModuleFacts::info_len).sum();
    bigs.truncate(top);
    Sizes {
        count,
        total_file,
        average_file: total_file.checked_div(count as u64).unwrap_or(0),
        top_n: top,
        average_file_without_top: (total_file - top_sum).checked_div(rest as u64).unwrap_or(0),
        total_image: modules.iter().map(|m| m.image_size).sum(),
        total_info_len: info,
        total_text: text,
        per_type_6_4: per_type,
        core_6_1: core61,
        init_6_1: init61,
        ratio_6_1: l61 as f64 / info.max(1) as f64,
        ratio_6_4: l64 as f64 / info.max(1) as f64,
        median_ratio_6_1: median(r61),
        median_ratio_6_4: median(r64),
        top: bigs,
    }
}

impl Sizes {
    /// The human-readable report.
    pub fn text(&self) -> String {
        let mib = |b: u64| b as f64 / 1_048_576.0;
        let mut out = format!(
            "modules                 {}\n\
             file size total         {} ({:.1} MiB)\n\
             file size average       {}\n\
             average without top {:<3} {}\n\
             decompressed total      {} ({:.1} MiB)\n\
             text (6.4+ TEXT+INIT)   {} ({:.1} MiB)\n\
             layout 6.1 core/init    {} / {}\n",
            self.count,
            self.total_file,
            mib(self.total_file),
            self.average_file,
            self.top_n,
            self.average_file_without_top,
            self.total_image,
            mib(self.total_image),
            self.total_text,
            mib(self.total_text),
            self.core_6_1,
            self.init_6_1,
        );
        let names = [
            "TEXT",
            "DATA",
            "RODATA",
            "RO_AFTER_INIT",
            "INIT_TEXT",
            "INIT_DATA",
            "INIT_RODATA",
        ];
        for (n, v) in names.iter().zip(self.per_type_6_4) {
            out.push_str(&format!("layout 6.4+ {n:<14} {v}\n"));
        }
        out.push_str(&format!(
            "layout/len 6.1         {:.2} (median {:.2})\nlayout/len 6.4+        {:.2} (median {:.2})\n",
            self.ratio_6_1, self.median_ratio_6_1, self.ratio_6_4, self.median_ratio_6_4
        ));
        out.push_str(&format!("top {} by file size:\n", self.top.len()));
        for b in &self.top {
            out.push_str(&format!(
                "  {:<28} file {:>9}  image {:>9}  layout 6.1 {:>9}  6.4+ {:>9}\n",
                b.name, b.file_size, b.image_size, b.layout_6_1, b.layout_6_4
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Profile;

    #[test]
    fn sizes_of_a_profile() {
        let p = Profile::builtin("epyc-guest@6.1").unwrap();
        let s = summarize(&p.modules, 3);
        assert_eq!(s.count, p.modules.len());
        assert_eq!(s.top.len(), 3);
        assert_eq!(s.top[0].name, "xfs");
        let top: u64 = s.top.iter().map(|b| b.file_size).sum();
        assert_eq!(
            s.average_file_without_top,
            (s.total_file - top) / (s.count as u64 - 3)
        );
        assert!(s.text().contains("layout 6.4+ TEXT"));
        assert_eq!(summarize(&[], 10).average_file, 0);
    }
}
