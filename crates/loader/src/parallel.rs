//! The dependency-graph scheduler: runs a set of tasks, each after the tasks it must
//! follow, on a pool of threads under a concurrency limit, each task once.
//!
//! `modprobe -a A B C` builds one graph of every module its probes need ([`crate::batch`]):
//! a module shared by several probes is one task, so it is inserted once, and modules
//! that do not depend on each other load at once. Tasks belong to requests (the probes); a
//! task that fails fails the requests that need it, and a task whose every request has
//! failed is not started, as a probe's loop stops at its first failure. A task also is not
//! started when a task it hard-depends on failed or was not started (a module never loads
//! without its dependencies); an order-only edge (a softdep) just waits.
//!
//! Ready tasks start in index order, so one thread runs them in the order of the lists
//! they came from. An alias naming several modules (a CPU modalias at udev coldplug) is
//! not spread over threads: there every CPU's modprobe asks for the same set, the shared
//! loading context already spreads the insertions over the processes, and each extra
//! thread would cost every process a kernel stack.

use std::collections::BTreeSet;
use std::sync::{Condvar, Mutex};

/// The environment variable bounding the number of tasks run at once.
pub const JOBS_ENV: &str = "MODKIT_JOBS";

/// How many tasks run at once: `MODKIT_JOBS`, else the CPUs available, at most 16.
pub fn jobs() -> usize {
    std::env::var(JOBS_ENV)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .clamp(1, 16)
}

/// One task of the graph.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Task {
    /// The tasks that must end first: (task, hard). A hard one must also succeed.
    pub after: Vec<(usize, bool)>,
    /// The requests that need this task: (request, required). A required task's failure
    /// fails the request.
    pub wanted: Vec<(usize, bool)>,
}

/// How a task ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Done<R> {
    Ran(R),
    /// Not started: a hard prerequisite failed, or every request needing it failed.
    Skipped,
}

/// Whether the edges of `tasks` form no cycle (Kahn's algorithm), so [`run`] can end.
pub fn acyclic(tasks: &[Task]) -> bool {
    let mut waiting: Vec<usize> = tasks.iter().map(|t| t.after.len()).collect();
    let dependents = dependents(tasks);
    let mut ready: Vec<usize> = (0..tasks.len()).filter(|&i| waiting[i] == 0).collect();
    let mut seen = 0;
    while let Some(t) = ready.pop() {
        seen += 1;
        for &(d, _) in &dependents[t] {
            waiting[d] -= 1;
            if waiting[d] == 0 {
                ready.push(d);
            }
        }
    }
    seen == tasks.len()
}

fn dependents(tasks: &[Task]) -> Vec<Vec<(usize, bool)>> {
    let mut out = vec![Vec::new(); tasks.len()];
    for (i, t) in tasks.iter().enumerate() {
        for &(before, hard) in &t.after {
            out[before].push((i, hard));
        }
    }
    out
}

struct State<R> {
    waiting: Vec<usize>,
    doomed: Vec<bool>,
    failed_requests: Vec<bool>,
    ready: BTreeSet<usize>,
    results: Vec<Option<Done<R>>>,
    running: usize,
    finished: usize,
}

struct Graph<'a, R, W, F> {
    tasks: &'a [Task],
    dependents: Vec<Vec<(usize, bool)>>,
    state: Mutex<State<R>>,
    changed: Condvar,
    work: W,
    failed: F,
}

impl<R, W, F> Graph<'_, R, W, F>
where
    W: Fn(usize) -> R,
    F: Fn(&R) -> bool,
{
    /// Whether task `t` is not to start: a hard prerequisite failed, or every request that
    /// needs it has failed.
    fn skip(&self, s: &State<R>, t: usize) -> bool {
        let wanted = &self.tasks[t].wanted;
        s.doomed[t] || (!wanted.is_empty() && wanted.iter().all(|&(r, _)| s.failed_requests[r]))
    }

    /// Records the end of `t` (`failed`: it failed or was skipped) and readies the tasks
    /// waiting for it.
    fn finish(&self, s: &mut State<R>, t: usize, done: Done<R>, failed: bool) {
        if failed && matches!(done, Done::Ran(_)) {
            for &(r, required) in &self.tasks[t].wanted {
                s.failed_requests[r] |= required;
            }
        }
        s.results[t] = Some(done);
        s.finished += 1;
        for &(d, hard) in &self.dependents[t] {
            s.doomed[d] |= hard && failed;
            s.waiting[d] -= 1;
            if s.waiting[d] == 0 {
                s.ready.insert(d);
            }
        }
        self.changed.notify_all();
    }

    /// One worker: takes ready tasks until every task has ended.
    fn worker(&self) {
        let Ok(mut s) = self.state.lock() else { return };
        loop {
            if s.finished == self.tasks.len() {
                return;
            }
            let Some(t) = s.ready.pop_first() else {
                if s.running == 0 {
                    return; // nothing can become ready: a cycle the caller did not rule out
                }
                s = match self.changed.wait(s) {
                    Ok(s) => s,
                    Err(_) => return,
                };
                continue;
            };
            if self.skip(&s, t) {
                self.finish(&mut s, t, Done::Skipped, true);
                continue;
            }
            s.running += 1;
            drop(s);
            let r = (self.work)(t);
            let failed = (self.failed)(&r);
            s = match self.state.lock() {
                Ok(s) => s,
                Err(_) => return,
            };
            s.running -= 1;
            self.finish(&mut s, t, Done::Ran(r), failed);
        }
    }
}

/// Runs `work` for every task of an acyclic graph ([`acyclic`]) on at most `limit`
/// threads; `failed` says whether a result is a failure. `requests` is the number of
/// requests the tasks' `wanted` lists name. Returns each task's end, in task order (a task
/// left over by a cycle is [`Done::Skipped`]).
pub fn run<R, W, F>(
    tasks: &[Task],
    requests: usize,
    limit: usize,
    work: W,
    failed: F,
) -> Vec<Done<R>>
where
    R: Send,
    W: Fn(usize) -> R + Sync,
    F: Fn(&R) -> bool + Sync,
{
    let waiting: Vec<usize> = tasks.iter().map(|t| t.after.len()).collect();
    let graph = Graph {
        tasks,
        dependents: dependents(tasks),
        state: Mutex::new(State {
            ready: (0..tasks.len()).filter(|&i| waiting[i] == 0).collect(),
            waiting,
            doomed: vec![false; tasks.len()],
            failed_requests: vec![false; requests],
            results: (0..tasks.len()).map(|_| None).collect(),
            running: 0,
            finished: 0,
        }),
        changed: Condvar::new(),
        work,
        failed,
    };
    let threads = limit.clamp(1, tasks.len().max(1));
    if threads == 1 {
        // No thread for one task at a time: each one costs a kernel stack.
        graph.worker();
    } else {
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| graph.worker());
            }
        });
    }
    let state = graph.state.into_inner().unwrap_or_else(|e| e.into_inner());
    state
        .results
        .into_iter()
        .map(|r| r.unwrap_or(Done::Skipped))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    fn task(after: &[(usize, bool)], wanted: &[(usize, bool)]) -> Task {
        Task {
            after: after.to_vec(),
            wanted: wanted.to_vec(),
        }
    }

    /// The order tasks started in, and the peak of tasks running at once.
    struct Trace {
        started: Mutex<Vec<usize>>,
        running: AtomicUsize,
        peak: AtomicUsize,
    }

    impl Trace {
        fn new() -> Trace {
            Trace {
                started: Mutex::new(Vec::new()),
                running: AtomicUsize::new(0),
                peak: AtomicUsize::new(0),
            }
        }

        fn enter(&self, t: usize) {
            self.started.lock().unwrap().push(t);
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.peak.fetch_max(now, Ordering::SeqCst);
        }

        fn leave(&self) {
            self.running.fetch_sub(1, Ordering::SeqCst);
        }

        fn position(&self, t: usize) -> usize {
            let started = self.started.lock().unwrap();
            started.iter().position(|&s| s == t).expect("started")
        }
    }

    #[test]
    fn a_diamond_runs_each_task_once_after_its_prerequisites() {
        // 0 ← 1, 0 ← 2, {1, 2} ← 3: two requests sharing 0.
        let tasks = [
            task(&[], &[(0, true), (1, true)]),
            task(&[(0, true)], &[(0, true)]),
            task(&[(0, true)], &[(1, true)]),
            task(&[(1, true), (2, true)], &[(0, true)]),
        ];
        assert!(acyclic(&tasks));
        let trace = Trace::new();
        let runs: Vec<AtomicUsize> = (0..4).map(|_| AtomicUsize::new(0)).collect();
        let done = run(
            &tasks,
            2,
            4,
            |t| {
                trace.enter(t);
                runs[t].fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(20));
                trace.leave();
                t * 10
            },
            |_| false,
        );
        assert_eq!(
            done,
            [Done::Ran(0), Done::Ran(10), Done::Ran(20), Done::Ran(30)]
        );
        assert!(runs.iter().all(|r| r.load(Ordering::SeqCst) == 1));
        assert_eq!(trace.position(0), 0);
        assert_eq!(trace.position(3), 3);
        assert_eq!(
            trace.peak.load(Ordering::SeqCst),
            2,
            "1 and 2 ran at once, never more than the graph allows"
        );
    }

    #[test]
    fn the_limit_bounds_the_tasks_at_once() {
        let tasks: Vec<Task> = (0..24).map(|i| task(&[], &[(i, true)])).collect();
        let trace = Trace::new();
        let done = run(
            &tasks,
            24,
            3,
            |t| {
                trace.enter(t);
                std::thread::sleep(Duration::from_millis(2));
                trace.leave();
                t
            },
            |_| false,
        );
        assert_eq!(done.len(), 24);
        assert!(trace.peak.load(Ordering::SeqCst) <= 3);
        assert!(trace.peak.load(Ordering::SeqCst) >= 2, "tasks ran at once");
    }

    #[test]
    fn one_thread_runs_ready_tasks_in_index_order() {
        let tasks = [
            task(&[], &[(0, true)]),
            task(&[], &[(0, true)]),
            task(&[(0, true)], &[(0, true)]),
        ];
        let trace = Trace::new();
        run(&tasks, 1, 1, |t| trace.enter(t), |_| false);
        assert_eq!(*trace.started.lock().unwrap(), [0, 1, 2]);
    }

    #[test]
    fn a_failure_skips_hard_dependents_and_the_failed_requests_other_tasks() {
        // Request 0 needs 0 (which fails), 1 (after 0 in order only) and 2 (hard on 0);
        // request 1 needs 3 (after 0 in order only) and 2 optionally.
        let tasks = [
            task(&[], &[(0, true)]),
            task(&[(0, false)], &[(0, true)]),
            task(&[(0, true)], &[(0, true), (1, false)]),
            task(&[(0, false)], &[(1, true)]),
        ];
        let done = run(&tasks, 2, 1, |t| t, |&t| t == 0);
        assert_eq!(
            done,
            [Done::Ran(0), Done::Skipped, Done::Skipped, Done::Ran(3)]
        );
    }

    #[test]
    fn an_optional_failure_fails_no_request() {
        // 0 is a softdep (not required) of request 0, which then needs 1 after it.
        let tasks = [task(&[], &[(0, false)]), task(&[(0, false)], &[(0, true)])];
        let done = run(&tasks, 1, 2, |t| t, |&t| t == 0);
        assert_eq!(done, [Done::Ran(0), Done::Ran(1)]);
    }

    #[test]
    fn cycles_are_found_and_never_hang() {
        let tasks = [task(&[(1, true)], &[]), task(&[(0, true)], &[])];
        assert!(!acyclic(&tasks));
        let done = run(&tasks, 0, 2, |t| t, |_| false);
        assert_eq!(done, [Done::Skipped, Done::Skipped]);
        assert!(run(&[] as &[Task], 0, 4, |t| t, |_| false).is_empty());
    }
}
