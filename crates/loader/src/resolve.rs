//! Name resolution (kmod-tools §6.4) and per-module properties (§6.5): which modules a name
//! stands for, and for each module its options, install/remove command, softdeps and
//! whether it is blacklisted. The first resolution step that yields a module wins.

use std::path::PathBuf;

use modkit_config::modprobe_d::SoftdepList;
use modkit_depmod::database::{Database, Found, LookupError};
use modkit_index::fnmatch;
use modkit_index::names::path_to_modname;

use crate::{Event, Events, Kernel, Loader, Notice};

/// A module object: a name, the alias it was reached through (part of its identity, as in
/// libkmod), its file, and what resolution learned about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Module {
    pub name: Vec<u8>,
    /// The lookup string (index steps) or the configuration pattern (step 1).
    pub alias: Option<Vec<u8>>,
    pub path: Option<PathBuf>,
    /// Created from a name found in `modules.builtin.bin` (never for path-created ones).
    pub builtin: bool,
    /// The command fixed by resolution step 4 (exact `install`/`remove` entry).
    pub command: Option<FixedCommand>,
}

/// Which command resolution step 4 fixed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FixedCommand {
    Install(Vec<u8>),
    Remove(Vec<u8>),
}

/// The identity of a module object: name and alias.
pub type Key = (Vec<u8>, Option<Vec<u8>>);

impl Module {
    /// The identity of this object.
    pub fn key(&self) -> Key {
        (self.name.clone(), self.alias.clone())
    }

    /// Whether it was reached through an alias (what the blacklist's alias-only rule asks).
    pub fn has_alias(&self) -> bool {
        self.alias.is_some()
    }
}

impl<K: Kernel> Loader<K> {
    /// A module object created from a name (path looked up in `modules.dep.bin`).
    pub fn module_by_name(&self, name: &[u8], alias: Option<Vec<u8>>) -> Module {
        Module {
            name: name.to_vec(),
            alias,
            path: self.db.module_path(name),
            builtin: self.db.is_builtin(name),
            command: None,
        }
    }

    /// A module object created from a `modules.dep` path (never built-in).
    pub fn module_by_path(&self, path: &[u8]) -> Module {
        Module {
            name: path_to_modname(path),
            alias: None,
            path: Some(self.db.absolute(path)),
            builtin: false,
            command: None,
        }
    }

    fn module_of_found(&self, found: Found, alias: Option<&[u8]>) -> Module {
        let builtin = found.builtin || (found.path.is_none() && self.db.is_builtin(&found.name));
        Module {
            name: found.name,
            alias: alias.map(<[u8]>::to_vec),
            path: found.path,
            builtin,
            command: None,
        }
    }

    /// Resolution step 1: every configuration alias whose pattern matches.
    fn lookup_config_alias(&self, name: &[u8]) -> Vec<Module> {
        self.config
            .aliases
            .iter()
            .filter(|a| fnmatch(&a.pattern, name))
            .map(|a| self.module_by_name(&a.module, Some(a.pattern.clone())))
            .collect()
    }

    /// Resolution step 4: an install (else remove) command named exactly `name`.
    fn lookup_command(&self, name: &[u8]) -> Vec<Module> {
        let install = self.config.installs.iter().find(|c| c.module == name);
        let fixed = match install {
            Some(c) => FixedCommand::Install(c.command.clone()),
            None => match self.config.removes.iter().find(|c| c.module == name) {
                Some(c) => FixedCommand::Remove(c.command.clone()),
                None => return Vec::new(),
            },
        };
        let mut module = self.module_by_name(name, None);
        module.command = Some(fixed);
        vec![module]
    }

    fn modules_of_index(&self, found: Vec<Found>, alias: Option<&[u8]>) -> Vec<Module> {
        found
            .into_iter()
            .map(|f| self.module_of_found(f, alias))
            .collect()
    }

    /// `kmod_module_new_from_lookup`: the modules `name` stands for; empty = not found.
    pub fn lookup(&self, name: &[u8]) -> Result<Vec<Module>, LookupError> {
        let name = Database::normalize(name)?;
        let n = name.as_slice();
        let steps: [&dyn Fn() -> Vec<Module>; 7] = [
            &|| self.lookup_config_alias(n),
            &|| self.modules_of_index(self.db.lookup_moddep(n), None),
            &|| self.modules_of_index(self.db.lookup_symbol(n), Some(n)),
            &|| self.lookup_command(n),
            &|| self.modules_of_index(self.db.lookup_alias(n), Some(n)),
            &|| self.modules_of_index(self.db.lookup_builtin(n), None),
            &|| self.modules_of_index(self.db.lookup_builtin_alias(n), Some(n)),
        ];
        for step in steps {
            let found = step();
            if !found.is_empty() {
                return Ok(found);
            }
        }
        Ok(Vec::new())
    }

    /// The dependencies of a module from `modules.dep.bin`, deepest first (the line read
    /// right to left).
    pub fn dependencies(&self, module: &Module) -> Vec<Module> {
        match self.db.dep_line(&module.name) {
            Some(line) => line
                .deps
                .iter()
                .rev()
                .map(|d| self.module_by_path(d))
                .collect(),
            None => Vec::new(),
        }
    }

    /// The configuration options of a module: every `options` entry naming it or its
    /// alias, joined by single spaces (empty entries skipped).
    pub fn config_options(&self, module: &Module) -> Vec<u8> {
        let mut out: Vec<u8> = Vec::new();
        for o in &self.config.options {
            let matches = o.module == module.name || Some(&o.module) == module.alias.as_ref();
            if !matches || o.options.is_empty() {
                continue;
            }
            if !out.is_empty() {
                out.push(b' ');
            }
            out.extend_from_slice(&o.options);
        }
        out
    }

    /// The install command of a module: fixed by step 4, else the first entry whose
    /// pattern matches its name (a step-4 `remove` entry leaves the install command to
    /// the pattern search, and the other way round).
    pub fn install_command(&self, module: &Module) -> Option<Vec<u8>> {
        match &module.command {
            Some(FixedCommand::Install(c)) => return Some(c.clone()),
            Some(FixedCommand::Remove(_)) | None => {}
        }
        let entry = self
            .config
            .installs
            .iter()
            .find(|c| fnmatch(&c.module, &module.name));
        entry.map(|c| c.command.clone())
    }

    /// The remove command of a module (like [`Loader::install_command`]).
    pub fn remove_command(&self, module: &Module) -> Option<Vec<u8>> {
        match &module.command {
            Some(FixedCommand::Remove(c)) => return Some(c.clone()),
            Some(FixedCommand::Install(_)) | None => {}
        }
        let entry = self
            .config
            .removes
            .iter()
            .find(|c| fnmatch(&c.module, &module.name));
        entry.map(|c| c.command.clone())
    }

    /// Whether some `blacklist` entry names the module.
    pub fn is_blacklisted(&self, module: &Module) -> bool {
        self.config.blacklists.contains(&module.name)
    }

    /// The resolved pre and post softdeps of the first matching `softdep` entry. Names that
    /// resolve to nothing are skipped; names whose lookup fails are reported and skipped.
    pub fn softdeps(&self, module: &Module, events: Events<'_>) -> (Vec<Module>, Vec<Module>) {
        let entry = self
            .config
            .softdeps
            .iter()
            .find(|s| fnmatch(&s.module, &module.name));
        let Some(entry) = entry else {
            return (Vec::new(), Vec::new());
        };
        let mut resolve = |which| {
            let mut out = Vec::new();
            for name in entry.list(which) {
                match self.lookup(name) {
                    Ok(found) => out.extend(found),
                    Err(_) => events(Event::Notice(Notice::DependencyLookupFailed {
                        name: name.to_vec(),
                    })),
                }
            }
            out
        };
        let pre = resolve(SoftdepList::Pre);
        let post = resolve(SoftdepList::Post);
        (pre, post)
    }
}

/// The command-line parameters of the requested module: words joined by single spaces; a
/// `key=value` word whose value holds a space and is not quoted becomes `key="value"`.
pub fn join_parameters(words: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, word) in words.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        match word.iter().position(|&b| b == b'=') {
            Some(eq)
                if word[eq + 1..].contains(&b' ')
                    && !matches!(word.get(eq + 1), Some(b'"' | b'\'')) =>
            {
                out.extend_from_slice(&word[..=eq]);
                out.push(b'"');
                out.extend_from_slice(&word[eq + 1..]);
                out.push(b'"');
            }
            _ => out.extend_from_slice(word),
        }
    }
    out
}

/// Final options: configuration options, then a space and the command-line parameters
/// (a trailing space when there are configuration options but no parameters).
pub fn merge_options(config: &[u8], parameters: &[u8]) -> Vec<u8> {
    if config.is_empty() {
        return parameters.to_vec();
    }
    let mut out = config.to_vec();
    out.push(b' ');
    out.extend_from_slice(parameters);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_with_spaces_are_quoted() {
        let words = vec![b"x=1".to_vec(), b"sp=x y".to_vec(), b"q=\"a b\"".to_vec()];
        assert_eq!(join_parameters(&words), b"x=1 sp=\"x y\" q=\"a b\"");
        assert_eq!(join_parameters(&[b"a b".to_vec()]), b"a b");
    }

    #[test]
    fn options_merge_keeps_kmods_trailing_space() {
        assert_eq!(merge_options(b"a=1", b""), b"a=1 ");
        assert_eq!(merge_options(b"a=1", b"b=2"), b"a=1 b=2");
        assert_eq!(merge_options(b"", b"b=2"), b"b=2");
        assert_eq!(merge_options(b"", b""), b"");
    }
}
