//! Probes of several requested modules at once (`modprobe -a A B C`) as one dependency
//! graph: the probe lists of every request are merged into tasks, one per module name, so a
//! module several probes need is inserted once, and modules that do not depend on each
//! other are inserted at once by [`crate::parallel`]. Every insertion still goes through
//! the shared loading context, which keeps other processes' probes of the same modules to
//! one insertion.
//!
//! Each probe keeps its own answer: the first failure of a required step in its list's
//! order (EEXIST counting as done, but for the requested module under `--first-time`),
//! and its messages in its list's order. What differs from probes one after the other:
//! a step of a failed probe that had already started when the failure came still ends,
//! and a module two probes need is tried once, so its failure is reported once.

use std::collections::HashMap;

use crate::parallel::{self, Done, Task};
use crate::plan::Step;
use crate::probe::{step_verdict, ProbeOptions, Probed};
use crate::resolve::Module;
use crate::{Errno, Event, Kernel, Loader};

/// One probe's events (in the order a probe alone would give them) and its answer.
pub type ProbeOutcome = (Vec<Event>, Result<Probed, Errno>);

/// How a task ended: its events and its step's result.
type TaskEnd = Done<(Vec<Event>, Result<(), Errno>)>;

/// A request's probe list, or its answer when no step is needed.
enum Planned {
    Decided(Result<Probed, Errno>),
    List(Vec<Step>),
}

/// The merged graph: one task per module name and, per request, the task of each entry.
struct Merged<'s> {
    tasks: Vec<Task>,
    steps: Vec<&'s Step>,
    entries: Vec<Vec<usize>>,
}

fn merge(plans: &[Planned]) -> Merged<'_> {
    let mut by_name: HashMap<&[u8], usize> = HashMap::new();
    let mut m = Merged {
        tasks: Vec::new(),
        steps: Vec::new(),
        entries: Vec::new(),
    };
    for (r, plan) in plans.iter().enumerate() {
        let Planned::List(list) = plan else {
            m.entries.push(Vec::new());
            continue;
        };
        let ids: Vec<usize> = list
            .iter()
            .map(|step| {
                *by_name.entry(&step.module.name).or_insert_with(|| {
                    m.tasks.push(Task::default());
                    m.steps.push(step);
                    m.tasks.len() - 1
                })
            })
            .collect();
        for (step, &t) in list.iter().zip(&ids) {
            let task = &mut m.tasks[t];
            task.wanted.push((r, step.required));
            for a in &step.after {
                let edge = (ids[a.index], a.hard);
                if edge.0 != t && !task.after.contains(&edge) {
                    task.after.push(edge);
                }
            }
        }
        m.entries.push(ids);
    }
    m
}

impl<K: Kernel + Sync> Loader<K> {
    /// Probes every module of `requests` (no parameters: `modprobe -a`) on at most `limit`
    /// threads; `None` when the merged lists order two modules both ways (softdeps), and
    /// the caller probes one module after the other instead.
    pub fn probe_all(
        &self,
        requests: &[&Module],
        opts: ProbeOptions,
        limit: usize,
    ) -> Option<Vec<ProbeOutcome>> {
        let mut planning: Vec<Vec<Event>> = vec![Vec::new(); requests.len()];
        let plans: Vec<Planned> = requests
            .iter()
            .zip(&mut planning)
            .map(|(m, events)| match self.admit(m, opts) {
                Some(decided) => Planned::Decided(decided),
                None => Planned::List(self.probe_list_with_edges(
                    m,
                    opts.ignore_commands,
                    &mut |e| events.push(e),
                )),
            })
            .collect();
        let merged = merge(&plans);
        if !parallel::acyclic(&merged.tasks) {
            return None;
        }
        let mut done = parallel::run(
            &merged.tasks,
            requests.len(),
            limit,
            |t| {
                let mut events = Vec::new();
                let r = self.do_step(merged.steps[t], b"", opts, &mut |e| events.push(e));
                (events, r)
            },
            |(_, r)| !matches!(r, Ok(()) | Err(Errno::EXIST)),
        );
        let outcomes = requests
            .iter()
            .zip(&plans)
            .zip(&merged.entries)
            .zip(planning)
            .map(|(((m, plan), ids), mut events)| match plan {
                Planned::Decided(answer) => (events, *answer),
                Planned::List(list) => {
                    let answer = answer_of(m, list, ids, &mut done, &mut events, opts);
                    (events, answer)
                }
            })
            .collect();
        Some(outcomes)
    }
}

/// A request's answer from its tasks' ends, taking each task's events the first time a
/// request lists it.
fn answer_of(
    module: &Module,
    list: &[Step],
    ids: &[usize],
    done: &mut [TaskEnd],
    events: &mut Vec<Event>,
    opts: ProbeOptions,
) -> Result<Probed, Errno> {
    let mut first_failure = None;
    let mut skipped = false;
    for (step, &t) in list.iter().zip(ids) {
        match &mut done[t] {
            Done::Ran((task_events, result)) => {
                events.append(task_events);
                let is_requested = step.module.key() == module.key();
                if let Err(e) = step_verdict(step, is_requested, *result, opts) {
                    first_failure.get_or_insert(e);
                }
            }
            Done::Skipped => skipped |= step.required,
        }
    }
    match (first_failure, skipped) {
        (Some(e), _) => Err(e),
        // A step skipped with no failure of this probe's own: a failure of a task it
        // shares with another probe (which reports it) stopped it.
        (None, true) => Err(shared_failure(list, ids, done)),
        (None, false) => Ok(Probed::Done),
    }
}

/// The errno of the first failed task among a list's entries (any step).
fn shared_failure(list: &[Step], ids: &[usize], done: &[TaskEnd]) -> Errno {
    list.iter()
        .zip(ids)
        .find_map(|(_, &t)| match &done[t] {
            Done::Ran((_, Err(e))) if *e != Errno::EXIST => Some(*e),
            _ => None,
        })
        .unwrap_or(Errno::CANCELED)
}
