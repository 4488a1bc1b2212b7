//! Profiles: the per-module facts of one Debian tree that the model needs (file and
//! decompressed sizes, signature trailer, `.BTF` size, dependencies, and the section facts
//! from which each kernel generation's layout is computed), plus the per-CPU uevents of a
//! machine type and the modules each one resolves to. Profiles ship in `profiles/` and are
//! compiled in, so the model runs with nothing installed; [`Profile::from_json`] and
//! [`Profile::load`] read other ones (the only I/O of this crate).

use modkit_elf::layout::{Generation, Layout, LayoutFacts, SectionFacts, SymtabFacts};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Errors of profile handling.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("unknown profile '{0}' (known: {known})", known = Profile::builtin_names().join(", "))]
    Unknown(String),
    #[error("profile {0}: {1}")]
    Parse(String, String),
    #[error("profile {0}: {1}")]
    Io(String, std::io::Error),
    #[error("module file {0}: {1}")]
    Module(String, modkit_elf::Error),
    #[error("profile {profile}: module '{module}' is not in the profile")]
    MissingModule { profile: String, module: String },
}

/// The symbol-table facts as stored (field names of [`SymtabFacts`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SymtabJson {
    pub symtab: [u64; 2],
    pub strtab: [u64; 2],
    pub nsyms: u64,
    pub ndst: u64,
    pub core_names: u64,
    pub elf64: bool,
}

/// One module of a profile.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleFacts {
    pub name: String,
    /// Path relative to the module directory.
    pub path: String,
    /// `i_size` of the file (compressed for `.ko.xz`).
    pub file_size: u64,
    /// `"xz"`, `"zstd"`, `"gzip"` or absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compression: Option<String>,
    /// Decompressed image length (= `file_size` when not compressed).
    pub image_size: u64,
    /// Signature trailer bytes stripped by L1 (`info->len = image_size - trailer`).
    pub sig_trailer: u64,
    /// The signature's public-key algorithm (`"rsa"`, `"ecdsa"`): what L1's verification
    /// costs. Absent for an unsigned module.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pkey_algo: Option<String>,
    /// `.BTF` size (the COMING-time copy).
    pub btf_size: u64,
    /// `depends=` of `.modinfo`.
    pub depends: Vec<String>,
    /// Placed sections: [fixed flags, size, alignment, init (0/1)] in header order.
    pub sections: Vec<[u64; 4]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symtab: Option<SymtabJson>,
    /// The errno the module's `init` returns on this machine type (e.g. acpi_cpufreq:
    /// EEXIST with intel_pstate built in); absent: `init` succeeds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_errno: Option<String>,
    /// A built-in user keeps a reference once the module has loaded
    /// ([`PINNED_BY_BUILTIN`]): it stays loaded for the rest of the boot.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pinned: bool,
    /// Kernel threads the module's `init` starts whose stacks are still allocated when
    /// its load returns, on this machine and tree ([`Machine::init_threads`]).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub init_threads: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// One uevent raised per CPU: its MODALIAS and the modules it resolves to, in lookup order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventFacts {
    pub modalias: String,
    pub modules: Vec<String>,
}

/// A profile: one machine type on one Debian tree.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// `skylake-sp`, `kvm-guest`, `epyc-guest`.
    pub name: String,
    /// `6.1` or `6.12`: the tree's series.
    pub tree: String,
    /// The tree's release (`uname -r`).
    pub release: String,
    /// The per-CPU uevents (kernel-loader §10.1, §10.5).
    pub events: Vec<EventFacts>,
    /// Every module the events need (closed over `depends=`) plus `xfs` and its deps.
    pub modules: Vec<ModuleFacts>,
}

/// The compiled-in profiles: (name@tree, JSON).
const BUILTIN: &[(&str, &str)] = &[
    (
        "skylake-sp@6.1",
        include_str!("../profiles/skylake-sp@6.1.json"),
    ),
    (
        "skylake-sp@6.12",
        include_str!("../profiles/skylake-sp@6.12.json"),
    ),
    (
        "kvm-guest@6.1",
        include_str!("../profiles/kvm-guest@6.1.json"),
    ),
    (
        "kvm-guest@6.12",
        include_str!("../profiles/kvm-guest@6.12.json"),
    ),
    (
        "epyc-guest@6.1",
        include_str!("../profiles/epyc-guest@6.1.json"),
    ),
    (
        "epyc-guest@6.12",
        include_str!("../profiles/epyc-guest@6.12.json"),
    ),
    (
        "tcg-haswell@6.1",
        include_str!("../profiles/tcg-haswell@6.1.json"),
    ),
    (
        "tcg-haswell@6.12",
        include_str!("../profiles/tcg-haswell@6.12.json"),
    ),
];

impl ModuleFacts {
    /// `info->len`: the image without its signature trailer.
    pub fn info_len(&self) -> u64 {
        self.image_size.saturating_sub(self.sig_trailer)
    }

    /// Whether the file is compressed (needs flag 4 or userspace decompression).
    pub fn compressed(&self) -> bool {
        self.compression.is_some()
    }

    /// The facts the layout rules read.
    pub fn layout_facts(&self) -> LayoutFacts {
        LayoutFacts {
            sections: self
                .sections
                .iter()
                .map(|&[flags, size, align, init]| SectionFacts {
                    flags,
                    size,
                    align,
                    init: init != 0,
                })
                .collect(),
            symtab: self.symtab.as_ref().map(|s| SymtabFacts {
                symtab_size: s.symtab[0],
                symtab_align: s.symtab[1],
                strtab_size: s.strtab[0],
                strtab_align: s.strtab[1],
                nsyms: s.nsyms,
                ndst: s.ndst,
                core_name_bytes: s.core_names,
                sym_size: if s.elf64 { 24 } else { 16 },
                kallsyms_size: if s.elf64 { 32 } else { 16 },
                kallsyms_align: if s.elf64 { 8 } else { 4 },
            }),
        }
    }

    /// The module-area layout under `generation`'s rules (kernel-loader §5).
    pub fn layout(&self, generation: Generation) -> Layout {
        self.layout_facts().layout(generation)
    }

    /// Facts of one module file (bytes as read from disk; pure, no I/O).
    pub fn from_file(path: &str, file: &[u8]) -> Result<ModuleFacts, ProfileError> {
        let err = |e| ProfileError::Module(path.to_owned(), e);
        let compression = modkit_elf::Compression::detect(file);
        let image = modkit_elf::decompress(file).map_err(err)?;
        let module = modkit_elf::Module::parse(&image).map_err(err)?;
        let mut name = None;
        let mut depends = Vec::new();
        for (k, v) in module.modinfo().map_err(err)? {
            match k {
                b"name" => name = Some(String::from_utf8_lossy(v).replace('-', "_")),
                b"depends" => {
                    depends = String::from_utf8_lossy(v)
                        .split(',')
                        .filter(|s| !s.is_empty())
                        .map(|s| s.replace('-', "_"))
                        .collect()
                }
                _ => {}
            }
        }
        let name = name.unwrap_or_else(|| file_stem(path));
        let facts = LayoutFacts::of(&module).map_err(err)?;
        let btf_size = module
            .sections()
            .iter()
            .find(|s| s.name == b".BTF")
            .map_or(0, |s| s.size);
        let len = modkit_elf::Signature::module_len(&image) as u64;
        Ok(ModuleFacts {
            name,
            path: path.to_owned(),
            file_size: file.len() as u64,
            compression: (compression != modkit_elf::Compression::None)
                .then(|| compression.as_str().to_owned()),
            image_size: image.len() as u64,
            sig_trailer: image.len() as u64 - len.min(image.len() as u64),
            pkey_algo: modkit_elf::Signature::pkey_algo(&image).map(|a| a.as_str().to_owned()),
            btf_size,
            depends,
            sections: facts
                .sections
                .iter()
                .map(|s| [s.flags, s.size, s.align, u64::from(s.init)])
                .collect(),
            symtab: facts.symtab.map(|t| SymtabJson {
                symtab: [t.symtab_size, t.symtab_align],
                strtab: [t.strtab_size, t.strtab_align],
                nsyms: t.nsyms,
                ndst: t.ndst,
                core_names: t.core_name_bytes,
                elf64: t.sym_size == 24,
            }),
            init_errno: None,
            pinned: false,
            init_threads: 0,
        })
    }
}

/// `xfs` from `kernel/fs/xfs/xfs.ko.xz` (`-` becomes `_`, as in module names).
pub fn file_stem(path: &str) -> String {
    let base = path.rsplit('/').next().unwrap_or(path);
    base.split('.').next().unwrap_or(base).replace('-', "_")
}

impl Profile {
    /// Names of the compiled-in profiles (`name@tree`).
    pub fn builtin_names() -> Vec<&'static str> {
        BUILTIN.iter().map(|(n, _)| *n).collect()
    }

    /// A compiled-in profile: `skylake-sp` (the 6.1 tree) or `skylake-sp@6.12`.
    pub fn builtin(spec: &str) -> Result<Profile, ProfileError> {
        let key = if spec.contains('@') {
            spec.to_owned()
        } else {
            format!("{spec}@6.1")
        };
        let (_, json) = BUILTIN
            .iter()
            .find(|(n, _)| *n == key)
            .ok_or_else(|| ProfileError::Unknown(spec.to_owned()))?;
        Profile::from_json(&key, json)
    }

    /// A compiled-in profile by name, or a profile file when `spec` names an existing path.
    pub fn resolve(spec: &str) -> Result<Profile, ProfileError> {
        if spec.ends_with(".json") || spec.contains('/') {
            return Profile::load(Path::new(spec));
        }
        Profile::builtin(spec)
    }

    /// Parses a profile; `origin` names it in errors.
    pub fn from_json(origin: &str, json: &str) -> Result<Profile, ProfileError> {
        let p: Profile = serde_json::from_str(json)
            .map_err(|e| ProfileError::Parse(origin.to_owned(), e.to_string()))?;
        p.check(origin)?;
        Ok(p)
    }

    /// Reads and parses a profile file.
    pub fn load(path: &Path) -> Result<Profile, ProfileError> {
        let origin = path.display().to_string();
        let text =
            std::fs::read_to_string(path).map_err(|e| ProfileError::Io(origin.clone(), e))?;
        Profile::from_json(&origin, &text)
    }

    /// Every module named by an event or a dependency is present, and every size is
    /// plausible (at most 1 GiB, so no arithmetic on it can overflow).
    fn check(&self, origin: &str) -> Result<(), ProfileError> {
        const MAX: u64 = 1 << 30;
        for m in &self.modules {
            let sizes = [m.file_size, m.image_size, m.sig_trailer, m.btf_size];
            let sections = m.sections.iter().flat_map(|s| [s[1], s[2]]);
            let symtab = m.symtab.iter().flat_map(|t| {
                [
                    t.symtab[0],
                    t.symtab[1],
                    t.strtab[0],
                    t.strtab[1],
                    t.nsyms,
                    t.ndst,
                    t.core_names,
                ]
            });
            if sizes
                .into_iter()
                .chain(sections)
                .chain(symtab)
                .any(|v| v > MAX)
            {
                return Err(ProfileError::Parse(
                    origin.to_owned(),
                    format!("module '{}': a size above 1 GiB", m.name),
                ));
            }
        }
        let names = self
            .events
            .iter()
            .flat_map(|e| e.modules.iter())
            .chain(self.modules.iter().flat_map(|m| m.depends.iter()));
        for n in names {
            if self.module(n).is_none() {
                return Err(ProfileError::MissingModule {
                    profile: origin.to_owned(),
                    module: n.clone(),
                });
            }
        }
        Ok(())
    }

    /// A module by name.
    pub fn module(&self, name: &str) -> Option<&ModuleFacts> {
        self.modules.iter().find(|m| m.name == name)
    }

    /// `name@tree`.
    pub fn id(&self) -> String {
        format!("{}@{}", self.name, self.tree)
    }

    /// The modules loaded by one CPU's events (the per-CPU set), deps included, sorted.
    pub fn cpu_set(&self) -> Vec<String> {
        let mut set = Vec::new();
        for e in &self.events {
            for m in &e.modules {
                self.closure_into(m, &mut set);
            }
        }
        set.sort();
        set.dedup();
        set
    }

    /// The CPU device's uevent (its MODALIAS starts with `cpu:`), if the profile has one.
    pub fn cpu_event(&self) -> Option<&EventFacts> {
        self.events.iter().find(|e| e.modalias.starts_with("cpu:"))
    }

    /// The CPU event's modules in the order `modprobe --show-depends MODALIAS` lists them:
    /// each match in lookup order after its dependencies, every module once.
    pub fn cpu_set_order(&self) -> Vec<String> {
        let mut out = Vec::new();
        for m in self.cpu_event().map_or(&[][..], |e| &e.modules[..]) {
            for name in self.load_order(m) {
                if !out.contains(&name) {
                    out.push(name);
                }
            }
        }
        out
    }

    /// `name` after its dependencies (dependencies first, each once), as modprobe inserts.
    pub fn load_order(&self, name: &str) -> Vec<String> {
        let mut out = Vec::new();
        self.closure_into(name, &mut out);
        out
    }

    fn closure_into(&self, name: &str, out: &mut Vec<String>) {
        let mut visiting = Vec::new();
        self.closure_rec(name, out, &mut visiting);
    }

    /// Depth-first, dependencies first; a dependency cycle is cut where it closes.
    fn closure_rec(&self, name: &str, out: &mut Vec<String>, visiting: &mut Vec<String>) {
        if out.iter().any(|n| n == name) || visiting.iter().any(|n| n == name) {
            return;
        }
        visiting.push(name.to_owned());
        if let Some(m) = self.module(name) {
            for d in &m.depends {
                self.closure_rec(d, out, visiting);
            }
        }
        visiting.pop();
        if !out.iter().any(|n| n == name) {
            out.push(name.to_owned());
        }
    }

    /// The profile as committed: top level pretty, one module or event per line.
    pub fn to_json(&self) -> String {
        let line = |v: String| format!("    {v}");
        let events: Vec<String> = self
            .events
            .iter()
            .map(|e| line(serde_json::to_string(e).unwrap_or_default()))
            .collect();
        let modules: Vec<String> = self
            .modules
            .iter()
            .map(|m| line(serde_json::to_string(m).unwrap_or_default()))
            .collect();
        format!(
            "{{\n  \"name\": {},\n  \"tree\": {},\n  \"release\": {},\n  \"events\": [\n{}\n  ],\n  \"modules\": [\n{}\n  ]\n}}\n",
            serde_json::Value::from(self.name.as_str()),
            serde_json::Value::from(self.tree.as_str()),
            serde_json::Value::from(self.release.as_str()),
            events.join(",\n"),
            modules.join(",\n"),
        )
    }
}

/// A machine type: its CPU MODALIAS, what `init` returns on it for modules that fail
/// there, and the modules its profile carries besides the per-CPU sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Machine {
    /// Profile name.
    pub name: &'static str,
    /// `venVVVVfamFFFFmodMMMM`.
    pub cpu_id: &'static str,
    /// `X86_FEATURE_*` numbers that matter, 4 hex digits.
    pub features: &'static [&'static str],
    /// The CPU MODALIAS verbatim as the machine's kernel printed it, per tree series
    /// (feature numbers move between releases); it replaces `cpu_id` and `features` for
    /// that series.
    pub recorded_modalias: &'static [(&'static str, &'static str)],
    /// (module, errno) of every module whose `init` fails on this machine: the cpufreq
    /// drivers (§10.5: EEXIST with intel_pstate active, ENODEV without ACPI performance
    /// objects in a VM), and drivers that find no hardware under emulation.
    pub init_errnos: &'static [(&'static str, &'static str)],
    /// (tree series, module, threads): kernel threads a module's `init` starts whose
    /// 16 KiB stacks (`VMAP_STACK`, in `VmallocUsed`) are still allocated when its load
    /// returns, as `/proc/vmallocinfo` showed them on this machine (the crypto manager's
    /// self-test threads of the algorithms the module registers).
    pub init_threads: &'static [(&'static str, &'static str, u32)],
    /// Modules the profile carries besides the per-CPU sets and [`EXTRA_MODULES`].
    pub extra: &'static [&'static str],
}

/// The CPU MODALIAS of the testbed's guest (`-cpu Haswell-noTSX-IBRS` under TCG) as each
/// kernel printed it in the recorded campaign (`cpu_modalias` of testbed/results.json).
const TCG_HASWELL_6_1: &str = "cpu:type:x86,ven0000fam0006mod003C:feature:,0000,0002,0003,0004,0005,0006,0007,0008,0009,000B,000C,000D,000E,000F,0010,0011,0013,0017,0018,0019,001A,001C,002B,0034,003B,003D,0068,006F,0070,0072,0074,0075,0076,0079,0080,0081,0089,008C,008D,0093,0094,0096,0097,0099,009A,009B,009C,009D,009E,009F,00C0,00C5,00EB,00ED,00F3,00FD,00FF,0120,0123,0125,0127,0128,0129,0140,0165,016C,016E,0172,017B,01C2";
const TCG_HASWELL_6_12: &str = "cpu:type:x86,ven0000fam0006mod003C:feature:,0000,0002,0003,0004,0005,0006,0007,0008,0009,000B,000C,000D,000E,000F,0010,0011,0013,0017,0018,0019,001A,001C,002B,0034,003B,003D,0068,006F,0070,0072,0074,0075,0076,0079,0080,0081,0089,008C,008D,0093,0094,0096,0097,0099,009A,009B,009C,009D,009E,009F,00C0,00C5,00EB,00ED,00F3,00FD,00FF,0120,0123,0125,0127,0128,0129,0140,0165,016C,016E,017B,01C2,0282";

/// The cpufreq drivers' `init` errno in a VM without ACPI performance objects.
const GUEST_CPUFREQ: [(&str, &str); 2] = [("acpi_cpufreq", "ENODEV"), ("pcc_cpufreq", "ENODEV")];

/// The machine types: the three of §10.4 (skx, skx-guest, epyc-guest) and the testbed's
/// guest.
pub const MACHINES: [Machine; 4] = [
    Machine {
        name: "skylake-sp",
        cpu_id: "ven0000fam0006mod0055",
        features: &[
            "0016", "007D", "0081", "0083", "0085", "0089", "0094", "0099", "009C", "0125", "01C0",
            "01C6",
        ],
        recorded_modalias: &[],
        init_errnos: &[("acpi_cpufreq", "EEXIST"), ("pcc_cpufreq", "EEXIST")],
        init_threads: &[],
        extra: &[],
    },
    Machine {
        name: "kvm-guest",
        cpu_id: "ven0000fam0006mod0055",
        features: &["0081", "0089", "0094", "0099", "009C", "0125"],
        recorded_modalias: &[],
        init_errnos: &GUEST_CPUFREQ,
        init_threads: &[],
        extra: &[],
    },
    Machine {
        name: "epyc-guest",
        cpu_id: "ven0002fam0019mod0001",
        features: &[
            "0081", "0089", "0094", "0099", "009C", "00FC", "0125", "013D",
        ],
        recorded_modalias: &[],
        init_errnos: &GUEST_CPUFREQ,
        init_threads: &[],
        extra: &[],
    },
    // The testbed's QEMU guest (testbed.md §2: TCG, `-cpu Haswell-noTSX-IBRS`). Under TCG
    // the uncore and C-state PMUs and the digital thermal sensor are absent: every
    // campaign storm of the set has intel_uncore and intel_cstate fail with ENODEV
    // (kmod's "could not insert 'intel_uncore': No such device" on both kernels), and
    // coretemp's init-fails storms fail with ENODEV.
    Machine {
        name: "tcg-haswell",
        cpu_id: "ven0000fam0006mod003C",
        features: &[],
        recorded_modalias: &[("6.1", TCG_HASWELL_6_1), ("6.12", TCG_HASWELL_6_12)],
        init_errnos: &[
            ("acpi_cpufreq", "ENODEV"),
            ("pcc_cpufreq", "ENODEV"),
            ("intel_uncore", "ENODEV"),
            ("intel_cstate", "ENODEV"),
            ("coretemp", "ENODEV"),
        ],
        // testbed/vmalloc-by-caller.md (`cargo xtask vm exec` with
        // testbed/scripts/vmalloc-by-caller.sh, the set loaded one module at a time): on
        // 6.12 aesni-intel's load returns with 20 and 18 more `kernel_clone` stacks (two
        // traces; 19 taken) in /proc/vmallocinfo, gone over the next one or two loads; on
        // 6.1 no module leaves any.
        init_threads: &[("6.12", "aesni_intel", 19)],
        extra: &["coretemp"],
    },
];

/// Extra modules every profile carries for racer workloads (with their dependencies).
pub const EXTRA_MODULES: [&str; 2] = ["xfs", "crc32c_generic"];

/// Modules a built-in user pins once they register, when the kernel configuration has
/// the option built in: (module, option). With `CONFIG_CRC_T10DIF=y` (Debian 6.12; a
/// module in 6.1) the built-in crc-t10dif library switches its crypto transform to the
/// best `crct10dif` driver that registers and keeps a reference on it, so
/// crct10dif_pclmul cannot be unloaded after its first load in a boot.
pub const PINNED_BY_BUILTIN: [(&str, &str); 1] = [("crct10dif_pclmul", "CONFIG_CRC_T10DIF")];

impl Machine {
    /// A machine type by profile name.
    pub fn by_name(name: &str) -> Option<Machine> {
        MACHINES.iter().copied().find(|m| m.name == name)
    }

    /// The CPU device's MODALIAS (`print_cpu_modalias`), identical on every CPU, as a
    /// kernel of the tree `series` (`6.1`, `6.12`) prints it.
    pub fn cpu_modalias(&self, series: &str) -> String {
        if let Some((_, m)) = self.recorded_modalias.iter().find(|(s, _)| *s == series) {
            return (*m).to_owned();
        }
        let mut s = format!("cpu:type:x86,{}:feature:", self.cpu_id);
        for f in self.features {
            s.push(',');
            s.push_str(f);
        }
        s
    }

    /// The per-CPU uevent MODALIASes: the CPU device, and on trees whose ACPI processor
    /// driver still binds cpufreq drivers by alias (≤ 6.3), the ACPI processor object.
    pub fn modaliases(&self, series: &str) -> Vec<String> {
        vec![self.cpu_modalias(series), "acpi:LNXCPU:".to_owned()]
    }

    /// The errno `init` of `module` returns on this machine, if it fails.
    pub fn init_errno(&self, module: &str) -> Option<&'static str> {
        self.init_errnos
            .iter()
            .find(|(m, _)| *m == module)
            .map(|(_, e)| *e)
    }

    /// The kernel threads whose stacks `module`'s load leaves allocated on `series`.
    pub fn init_threads(&self, series: &str, module: &str) -> u32 {
        self.init_threads
            .iter()
            .find(|(s, m, _)| *s == series && *m == module)
            .map_or(0, |(_, _, n)| *n)
    }
}

/// Whether a kernel configuration (`boot/config-VERSION` text) has `option` built in.
pub fn config_builtin(config: &str, option: &str) -> bool {
    config
        .lines()
        .any(|l| l.strip_prefix(option).is_some_and(|rest| rest == "=y"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny(depends_a: &str) -> String {
        format!(
            r#"{{"name":"t","tree":"6.1","release":"x","events":[{{"modalias":"m","modules":["a"]}}],
            "modules":[
              {{"name":"a","path":"a.ko","file_size":10,"image_size":10,"sig_trailer":0,"btf_size":0,"depends":[{depends_a}],"sections":[[6,10,16,0]]}},
              {{"name":"b","path":"b.ko","file_size":10,"image_size":10,"sig_trailer":0,"btf_size":0,"depends":["a"],"sections":[]}}
            ]}}"#
        )
    }

    #[test]
    fn bad_profiles_are_errors() {
        let unknown = Profile::builtin("no-such").unwrap_err();
        assert!(unknown.to_string().contains("unknown profile 'no-such'"));
        assert!(unknown.to_string().contains("skylake-sp@6.1"));
        assert!(matches!(
            Profile::from_json("x", "{"),
            Err(ProfileError::Parse(..))
        ));
        let missing = Profile::from_json("x", &tiny("\"zz\"")).unwrap_err();
        assert!(missing
            .to_string()
            .contains("module 'zz' is not in the profile"));
        let huge = tiny("").replace("\"file_size\":10", "\"file_size\":18446744073709551615");
        assert!(Profile::from_json("x", &huge)
            .unwrap_err()
            .to_string()
            .contains("1 GiB"));
    }

    #[test]
    fn dependency_cycles_do_not_recurse_forever() {
        let p = Profile::from_json("x", &tiny("\"b\"")).unwrap();
        assert_eq!(p.load_order("a"), vec!["b".to_owned(), "a".to_owned()]);
        assert_eq!(p.cpu_set(), vec!["a".to_owned(), "b".to_owned()]);
    }

    #[test]
    fn the_testbed_guest_uses_the_modalias_each_kernel_printed() {
        let m = Machine::by_name("tcg-haswell").unwrap();
        assert!(m.cpu_modalias("6.1").ends_with(",0172,017B,01C2"));
        assert!(m.cpu_modalias("6.12").ends_with(",017B,01C2,0282"));
        assert_eq!(m.init_errno("intel_uncore"), Some("ENODEV"));
        assert_eq!(m.init_errno("rapl"), None);
        assert_eq!(m.init_threads("6.12", "aesni_intel"), 19);
        assert_eq!(m.init_threads("6.1", "aesni_intel"), 0);
        assert_eq!(m.init_threads("6.12", "rapl"), 0);
        let skx = Machine::by_name("skylake-sp").unwrap();
        assert_eq!(
            skx.cpu_modalias("6.12"),
            "cpu:type:x86,ven0000fam0006mod0055:feature:,0016,007D,0081,0083,0085,0089,0094,0099,009C,0125,01C0,01C6"
        );
        assert_eq!(skx.init_errno("acpi_cpufreq"), Some("EEXIST"));
    }

    #[test]
    fn a_built_in_option_is_one_set_to_y() {
        let config = "CONFIG_CRC_T10DIF=y\nCONFIG_CRC_T10DIF_ARCH=m\n# CONFIG_X is not set\n";
        assert!(config_builtin(config, "CONFIG_CRC_T10DIF"));
        assert!(!config_builtin(config, "CONFIG_CRC_T10DIF_ARCH"));
        assert!(!config_builtin(config, "CONFIG_X"));
        assert!(!config_builtin(
            "CONFIG_CRC_T10DIF=m\n",
            "CONFIG_CRC_T10DIF"
        ));
    }

    #[test]
    fn the_cpu_set_lists_each_module_once_after_its_dependencies() {
        let p = Profile::builtin("tcg-haswell@6.12").unwrap();
        let order = p.cpu_set_order();
        let at = |n: &str| order.iter().position(|m| m == n).unwrap();
        assert!(at("cryptd") < at("crypto_simd") && at("crypto_simd") < at("aesni_intel"));
        assert!(at("gf128mul") < at("aesni_intel"));
        let mut sorted = order.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), order.len(), "no module twice");
        assert!(
            !order.iter().any(|m| m == "acpi_cpufreq"),
            "the CPU event only"
        );
    }

    #[test]
    fn builtin_profiles_round_trip_through_the_committed_format() {
        for name in Profile::builtin_names() {
            let p = Profile::builtin(name).unwrap();
            assert_eq!(Profile::from_json(name, &p.to_json()).unwrap(), p, "{name}");
            assert!(!p.events.is_empty() && p.module("xfs").is_some(), "{name}");
        }
    }
}
