//! The probe list (kmod-tools §6.7): the order in which a requested module, its
//! dependencies and its softdeps are loaded.
//!
//! Dependencies come first (deepest first), each surrounded by its own softdeps; the
//! requested module comes last, surrounded by its softdeps. Module objects are identified
//! by name and alias; `visit` runs once per object, but dependencies are appended without
//! that check, so a module can appear several times (kmod prints it again under `-D`). A
//! softdep that resolves to at least one module disables the module's own install command
//! (kmod issue #446). Softdep loops end because every recursion goes through `visit`.
//!
//! For probes scheduled as a graph ([`crate::batch`]), each entry also names the earlier
//! entries it must follow: its own dependencies (`modules.dep`, hard: it cannot load
//! without them) and, in order only, its pre-softdeps and the module whose post-softdep
//! it is. Every edge points backwards in the list, so one list never has a cycle.

use std::collections::HashMap;

use crate::resolve::{Key, Module};
use crate::{Events, Kernel, Loader};

/// One entry of the probe list with the flags kmod keeps on the module object (their
/// final values once the list is complete).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub module: Module,
    /// A failure of this module stops the loop (the requested module and its
    /// dependencies); softdeps are optional.
    pub required: bool,
    /// Its install command is ignored (`-i` on the requested module, or it has softdeps).
    pub ignore_command: bool,
    /// The earlier entries this one must follow (empty unless asked for:
    /// [`Loader::probe_list_with_edges`]).
    pub after: Vec<After>,
}

/// An ordering edge of the probe list: the entry at `index` comes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct After {
    pub index: usize,
    /// A dependency (the entry cannot load unless it loaded); otherwise a softdep, whose
    /// outcome does not matter, only its order.
    pub hard: bool,
}

#[derive(Default)]
struct Flags {
    visited: bool,
    required: bool,
    ignore_command: bool,
}

struct Planner<'l, K: Kernel> {
    loader: &'l Loader<K>,
    flags: HashMap<Key, Flags>,
    list: Vec<Module>,
    /// Whether to record ordering edges (`after`), and the list's last entry per module.
    edges: bool,
    after: Vec<Vec<After>>,
    last: HashMap<Key, usize>,
}

impl<K: Kernel> Planner<'_, K> {
    fn flags(&mut self, m: &Module) -> &mut Flags {
        self.flags.entry(m.key()).or_default()
    }

    fn visit(&mut self, m: &Module, required: bool, ignore_command: bool, events: Events<'_>) {
        if self.flags(m).visited {
            return;
        }
        self.flags(m).visited = true;
        let deps = self.loader.dependencies(m);
        if required {
            self.flags(m).required = true;
            for d in &deps {
                self.flags(d).required = true;
            }
        }
        for d in &deps {
            self.add_with_softdeps(d, events);
        }
        if ignore_command {
            self.push(m, &[]);
            self.flags(m).ignore_command = true;
        } else {
            self.add_with_softdeps(m, events);
        }
    }

    fn add_with_softdeps(&mut self, m: &Module, events: Events<'_>) {
        let (pre, post) = self.loader.softdeps(m, events);
        for p in &pre {
            self.visit(p, false, false, events);
        }
        let at = self.push(m, &pre);
        self.flags(m).ignore_command = !pre.is_empty() || !post.is_empty();
        for q in &post {
            let start = self.list.len();
            self.visit(q, false, false, events);
            // A post-softdep follows its module (in order only).
            let entry = self
                .last
                .get(&q.key())
                .filter(|&&i| self.edges && i >= start);
            if let Some(entry) = entry {
                self.after[*entry].push(After {
                    index: at,
                    hard: false,
                });
            }
        }
    }

    /// Appends `m`; with edges, after its dependencies (hard) and `pre` (order only), as far
    /// as they are already in the list.
    fn push(&mut self, m: &Module, pre: &[Module]) -> usize {
        let at = self.list.len();
        let mut after = Vec::new();
        if self.edges {
            let deps = self.loader.dependencies(m);
            let hard = deps.iter().map(|d| (d, true));
            for (x, hard) in hard.chain(pre.iter().map(|p| (p, false))) {
                if let Some(&index) = self.last.get(&x.key()) {
                    after.push(After { index, hard });
                }
            }
        }
        self.list.push(m.clone());
        self.after.push(after);
        self.last.insert(m.key(), at);
        at
    }
}

impl<K: Kernel> Loader<K> {
    /// The probe list of `module`; `ignore_commands` is `-i` (the requested module's own
    /// softdeps and install command are skipped, its dependencies' are not).
    pub fn probe_list(
        &self,
        module: &Module,
        ignore_commands: bool,
        events: Events<'_>,
    ) -> Vec<Step> {
        self.plan(module, ignore_commands, false, events)
    }

    /// The probe list with each entry's ordering edges (`Step::after`).
    pub fn probe_list_with_edges(
        &self,
        module: &Module,
        ignore_commands: bool,
        events: Events<'_>,
    ) -> Vec<Step> {
        self.plan(module, ignore_commands, true, events)
    }

    fn plan(
        &self,
        module: &Module,
        ignore_commands: bool,
        edges: bool,
        events: Events<'_>,
    ) -> Vec<Step> {
        let mut planner = Planner {
            loader: self,
            flags: HashMap::new(),
            list: Vec::new(),
            edges,
            after: Vec::new(),
            last: HashMap::new(),
        };
        planner.visit(module, true, ignore_commands, events);
        let Planner {
            flags, list, after, ..
        } = planner;
        list.into_iter()
            .zip(after)
            .map(|(m, after)| {
                let f = flags.get(&m.key());
                Step {
                    required: f.is_some_and(|f| f.required),
                    ignore_command: f.is_some_and(|f| f.ignore_command),
                    module: m,
                    after,
                }
            })
            .collect()
    }
}
