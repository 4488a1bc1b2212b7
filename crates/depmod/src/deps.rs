//! Dependencies: resolving each module's needed symbols to owners (with the `-e` checks),
//! the topological sort (Kahn's algorithm with a LIFO stack), the cycle report, and the
//! transitive closure of each `modules.dep` line (kmod-formats §5.8–§5.10).

use std::collections::HashSet;

use crate::facts::ModuleFacts;
use crate::log::Log;
use crate::scan::Candidate;
use crate::symbols::{strip_prefix, SymbolTable};

/// What dependency resolution needs from the command line.
#[derive(Debug, Clone, Copy, Default)]
pub struct ResolveOptions {
    /// `-e`
    pub errsyms: bool,
    /// `-E` given: compare CRCs.
    pub check_crcs: bool,
    /// `-P`
    pub prefix: Option<u8>,
    /// `-v` given: print "needs" lines on stdout.
    pub verbose: bool,
}

/// Direct dependencies of every module (module indices, discovery order).
pub fn resolve(
    mods: &[Candidate],
    facts: &[ModuleFacts],
    table: &SymbolTable,
    opts: ResolveOptions,
    log: &mut Log<'_>,
) -> Vec<Vec<usize>> {
    let mut deps: Vec<Vec<usize>> = vec![Vec::new(); mods.len()];
    for (i, (m, f)) in mods.iter().zip(facts).enumerate() {
        let mut seen: HashSet<usize> = HashSet::new();
        for need in &f.needs {
            let name = need.name.strip_prefix(b".").unwrap_or(&need.name);
            let name = strip_prefix(name, opts.prefix);
            let Some(sym) = table.get(name) else {
                if opts.errsyms && !need.weak {
                    log.warning(&format!(
                        "{} needs unknown symbol {}",
                        m.path.display(),
                        String::from_utf8_lossy(name)
                    ));
                }
                continue;
            };
            if opts.check_crcs && opts.errsyms && !need.weak && sym.crc != need.crc {
                log.warning(&format!(
                    "{} disagrees about version of symbol {}",
                    m.path.display(),
                    String::from_utf8_lossy(name)
                ));
            }
            let Some(owner) = sym.owner else { continue };
            if seen.insert(owner) {
                if let Some(list) = deps.get_mut(i) {
                    list.push(owner);
                }
                if opts.verbose {
                    if let Some(o) = mods.get(owner) {
                        let line = format!(
                            "{} needs \"{}\": {}\n",
                            m.path.display(),
                            String::from_utf8_lossy(name),
                            o.path.display()
                        );
                        log.stdout(line.as_bytes());
                    }
                }
            }
        }
    }
    deps
}

/// Kahn's sort with a LIFO stack. Ok(dep_sort_idx per module), or Err(users left) when
/// some modules are in (or below) a cycle.
pub fn sort(deps: &[Vec<usize>]) -> Result<Vec<usize>, Vec<usize>> {
    let n = deps.len();
    let mut users = vec![0usize; n];
    for list in deps {
        for &d in list {
            if let Some(u) = users.get_mut(d) {
                *u += 1;
            }
        }
    }
    let mut stack: Vec<usize> = (0..n).filter(|&i| users.get(i) == Some(&0)).collect();
    let mut sort_idx = vec![usize::MAX; n];
    let mut k = 0;
    while let Some(src) = stack.pop() {
        if let Some(s) = sort_idx.get_mut(src) {
            *s = k;
        }
        k += 1;
        for &dst in deps.get(src).map(Vec::as_slice).unwrap_or_default() {
            if let Some(u) = users.get_mut(dst) {
                *u = u.saturating_sub(1);
                if *u == 0 {
                    stack.push(dst);
                }
            }
        }
    }
    if k < n {
        Err(users)
    } else {
        Ok(sort_idx)
    }
}

/// The cycle report: one "Cycle detected: ..." line per cycle found, and the number of
/// distinct modules in cycles (kmod-formats §5.9.1).
pub fn report_cycles(
    mods: &[Candidate],
    deps: &[Vec<usize>],
    users: &[usize],
) -> (Vec<String>, usize) {
    let mut roots: Vec<usize> = (0..mods.len())
        .filter(|&i| users.get(i).is_some_and(|&u| u > 0))
        .collect();
    let mut visited = vec![false; mods.len()];
    let mut loop_set: HashSet<usize> = HashSet::new();
    let mut lines = Vec::new();
    while !roots.is_empty() {
        let root = roots.remove(0);
        // vertices: (module, parent vertex)
        let mut arena: Vec<(usize, Option<usize>)> = vec![(root, None)];
        let mut stack: Vec<usize> = vec![0];
        while let Some(v) = stack.pop() {
            let Some(&(m, parent)) = arena.get(v) else {
                continue;
            };
            if visited.get(m) == Some(&true) && m == root {
                // the path from the root vertex down to here, closed by the root again
                // (only the root itself when it was reached from an earlier root)
                let mut path = cycle_path(&arena, parent);
                path.push(root);
                let names: Vec<String> = path
                    .iter()
                    .filter_map(|&i| mods.get(i))
                    .map(|c| String::from_utf8_lossy(&c.name).into_owned())
                    .collect();
                lines.push(format!("Cycle detected: {}", names.join(" -> ")));
                let members = path.get(..path.len().saturating_sub(1)).unwrap_or_default();
                loop_set.extend(members.iter().copied());
                roots.retain(|r| !members.contains(r));
                continue;
            }
            if on_chain(&arena, parent, m) {
                continue; // would never terminate; kmod only reaches this on such graphs
            }
            if let Some(f) = visited.get_mut(m) {
                *f = true;
            }
            let list = deps.get(m).map(Vec::as_slice).unwrap_or_default();
            if list.is_empty() {
                roots.retain(|&r| r != m);
                continue;
            }
            for &d in list {
                arena.push((d, Some(v)));
                stack.push(arena.len() - 1);
            }
        }
    }
    (lines, loop_set.len())
}

/// Modules from the root vertex down to `from` (inclusive); empty for no vertex.
fn cycle_path(arena: &[(usize, Option<usize>)], from: Option<usize>) -> Vec<usize> {
    let mut path = Vec::new();
    let mut cur = from;
    while let Some(v) = cur {
        let Some(&(m, parent)) = arena.get(v) else {
            break;
        };
        path.push(m);
        cur = parent;
    }
    path.reverse();
    path
}

/// Is module `m` already on the ancestor chain starting at vertex `from` (root excluded)?
fn on_chain(arena: &[(usize, Option<usize>)], from: Option<usize>, m: usize) -> bool {
    let mut cur = from;
    while let Some(v) = cur {
        let Some(&(am, parent)) = arena.get(v) else {
            break;
        };
        if am == m && parent.is_some() {
            return true;
        }
        if am == m && parent.is_none() {
            return false;
        }
        cur = parent;
    }
    false
}

/// The dependency list of one module: its transitive closure sorted by `dep_sort_idx`.
pub fn closure(
    start: usize,
    deps: &[Vec<usize>],
    sort_idx: &[usize],
    mark: &mut [u32],
    stamp: u32,
) -> Vec<usize> {
    let mut out = Vec::new();
    let mut stack: Vec<usize> = deps.get(start).cloned().unwrap_or_default();
    stack.reverse();
    while let Some(m) = stack.pop() {
        match mark.get_mut(m) {
            Some(s) if *s != stamp => *s = stamp,
            _ => continue,
        }
        out.push(m);
        if let Some(list) = deps.get(m) {
            stack.extend(list.iter().rev());
        }
    }
    out.sort_by_key(|&m| sort_idx.get(m).copied().unwrap_or(usize::MAX));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn mods(names: &[&str]) -> Vec<Candidate> {
        names
            .iter()
            .map(|n| Candidate {
                path: PathBuf::from(format!("/m/{n}.ko")),
                rel: Some(format!("{n}.ko").into_bytes()),
                name: n.as_bytes().to_vec(),
            })
            .collect()
    }

    #[test]
    fn kahn_lifo_order() {
        // 0 -> 1 -> 2, 3 independent
        let deps = vec![vec![1], vec![2], vec![], vec![]];
        let idx = sort(&deps).unwrap();
        // stack [0, 3]: pop 3 first
        assert_eq!(idx, vec![1, 2, 3, 0]);
    }

    #[test]
    fn closure_sorted_by_sort_index() {
        let deps = vec![vec![1, 3], vec![2], vec![], vec![2]];
        let idx = sort(&deps).unwrap();
        let mut mark = vec![0; 4];
        let c = closure(0, &deps, &idx, &mut mark, 1);
        let mut expect = vec![1, 2, 3];
        expect.sort_by_key(|&m| idx[m]);
        assert_eq!(c, expect);
        assert_eq!(*c.last().unwrap(), 2);
    }

    #[test]
    fn two_cycle_report() {
        let m = mods(&["mod_a", "mod_b"]);
        let deps = vec![vec![1], vec![0]];
        let users = sort(&deps).unwrap_err();
        let (lines, n) = report_cycles(&m, &deps, &users);
        assert_eq!(lines, vec!["Cycle detected: mod_a -> mod_b -> mod_a"]);
        assert_eq!(n, 2);
    }

    #[test]
    fn cycle_not_through_root_terminates() {
        // kmod 30 never terminates here; we do, with kmod's reporting rules
        let m = mods(&["x", "y", "z", "w"]);
        let deps = vec![vec![1], vec![0, 2], vec![3], vec![2]];
        let users = sort(&deps).unwrap_err();
        let (lines, n) = report_cycles(&m, &deps, &users);
        assert_eq!(
            lines,
            vec![
                "Cycle detected: x -> y -> x",
                "Cycle detected: z",
                "Cycle detected: w"
            ]
        );
        assert_eq!(n, 2);
    }

    #[test]
    fn module_below_a_cycle_is_reported_alone_and_not_counted() {
        // a <-> b, b -> c -> d (kmod 30 prints "Cycle detected: c" and counts 2)
        let m = mods(&["a", "b", "c", "d"]);
        let deps = vec![vec![1], vec![0, 2], vec![3], vec![]];
        let users = sort(&deps).unwrap_err();
        let (lines, n) = report_cycles(&m, &deps, &users);
        assert_eq!(
            lines,
            vec!["Cycle detected: a -> b -> a", "Cycle detected: c"]
        );
        assert_eq!(n, 2);
    }
}
