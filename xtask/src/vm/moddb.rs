//! The little the testbed host needs from a depmod'd tree, read from its text files:
//! module paths and dependencies (`modules.dep`), exact aliases (`modules.alias`) and
//! `pre:` softdeps (`modules.softdep`). It picks which modules go into the initramfs and
//! which are preloaded before a storm; the guest resolves everything else with kmod.

use crate::util::Result;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

/// A module's name from its path: the basename up to the first `.`, `-` read as `_`.
pub fn name_of(path: &str) -> String {
    let base = path.rsplit('/').next().unwrap_or(path);
    base.split('.').next().unwrap_or(base).replace('-', "_")
}

/// The text indexes of one module directory.
#[derive(Debug, Default)]
pub struct ModDb {
    /// name → (path relative to the module directory, dependency names in modules.dep order)
    pub modules: BTreeMap<String, (String, Vec<String>)>,
    /// alias (pattern) → module names
    pub aliases: Vec<(String, String)>,
    /// name → `pre:` softdep aliases
    pub softdep_pre: BTreeMap<String, Vec<String>>,
}

impl ModDb {
    pub fn read(module_dir: &Path) -> Result<ModDb> {
        let mut db = ModDb::default();
        let dep = fs::read_to_string(module_dir.join("modules.dep"))?;
        for line in dep.lines() {
            let Some((path, deps)) = line.split_once(':') else {
                continue;
            };
            let deps = deps.split_whitespace().map(name_of).collect();
            db.modules.insert(name_of(path), (path.to_owned(), deps));
        }
        let alias = fs::read_to_string(module_dir.join("modules.alias"))?;
        for line in alias.lines() {
            let mut f = line.split_whitespace();
            if let (Some("alias"), Some(pattern), Some(module)) = (f.next(), f.next(), f.next()) {
                db.aliases.push((pattern.to_owned(), module.to_owned()));
            }
        }
        let softdep = fs::read_to_string(module_dir.join("modules.softdep")).unwrap_or_default();
        for line in softdep.lines() {
            let mut f = line.split_whitespace();
            if let (Some("softdep"), Some(module)) = (f.next(), f.next()) {
                let pre = f
                    .skip_while(|w| *w != "pre:")
                    .skip(1)
                    .take_while(|w| !w.ends_with(':'))
                    .map(str::to_owned)
                    .collect();
                db.softdep_pre.insert(module.to_owned(), pre);
            }
        }
        Ok(db)
    }

    /// The module's path relative to the module directory.
    pub fn path(&self, name: &str) -> Result<&str> {
        self.modules
            .get(name)
            .map(|(p, _)| p.as_str())
            .ok_or_else(|| format!("module {name} is not in modules.dep").into())
    }

    /// Modules named by an exact alias (no wildcard matching).
    pub fn exact_alias(&self, alias: &str) -> Vec<String> {
        self.aliases
            .iter()
            .filter(|(a, _)| a == alias)
            .map(|(_, m)| m.clone())
            .collect()
    }

    /// Modules with an alias starting with one of `prefixes` (the CPU and ACPI-processor
    /// aliases of the per-CPU sets).
    pub fn with_alias_prefix(&self, prefixes: &[&str]) -> BTreeSet<String> {
        self.aliases
            .iter()
            .filter(|(a, _)| prefixes.iter().any(|p| a.starts_with(p)))
            .map(|(_, m)| m.clone())
            .collect()
    }

    /// `name` and everything it needs, dependencies before dependents: modules.dep's
    /// dependencies and the modules its `pre:` softdeps name.
    pub fn load_order(&self, name: &str) -> Vec<String> {
        let mut order = Vec::new();
        self.visit(name, &mut order, &mut BTreeSet::new());
        order
    }

    fn visit(&self, name: &str, order: &mut Vec<String>, seen: &mut BTreeSet<String>) {
        if !seen.insert(name.to_owned()) {
            return;
        }
        for alias in self.softdep_pre.get(name).into_iter().flatten() {
            for target in self.exact_alias(alias) {
                self.visit(&target, order, seen);
            }
        }
        if let Some((_, deps)) = self.modules.get(name) {
            for dep in deps.iter().rev() {
                self.visit(dep, order, seen);
            }
        }
        if self.modules.contains_key(name) {
            order.push(name.to_owned());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_order_puts_softdeps_and_dependencies_first() {
        let dir = std::env::temp_dir().join(format!("xtask-moddb-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        fs::write(
            dir.join("modules.dep"),
            "kernel/fs/xfs/xfs.ko: kernel/lib/libcrc32c.ko\nkernel/lib/libcrc32c.ko:\n\
             kernel/crypto/crc32c_generic.ko:\nkernel/arch/crc32c-intel.ko:\n",
        )
        .unwrap();
        fs::write(
            dir.join("modules.alias"),
            "alias crc32c crc32c_intel\nalias crc32c crc32c_generic\n\
             alias cpu:type:x86,ven*fam*mod*:feature:*0094* crc32c_intel\n",
        )
        .unwrap();
        fs::write(
            dir.join("modules.softdep"),
            "softdep libcrc32c pre: crc32c\n",
        )
        .unwrap();
        let db = ModDb::read(&dir).expect("reads");
        assert_eq!(
            db.load_order("xfs"),
            ["crc32c_intel", "crc32c_generic", "libcrc32c", "xfs"]
        );
        assert_eq!(
            db.path("crc32c_intel").unwrap(),
            "kernel/arch/crc32c-intel.ko"
        );
        assert!(db.path("nope").is_err());
        let cpu = db.with_alias_prefix(&["cpu:type:x86"]);
        assert_eq!(cpu.into_iter().collect::<Vec<_>>(), ["crc32c_intel"]);
        fs::remove_dir_all(&dir).unwrap();
    }
}
