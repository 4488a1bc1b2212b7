//! CPU contention: the processors of the machine shared by every piece of work that needs
//! CPU time (a loader's read, decompression, checks, copy, relocations, formation and
//! `init`; a user-space task's work between its system calls), as a processor-sharing
//! queue. With `P` processors and `R` runnable jobs (plus `background` tasks that are
//! always runnable, such as the testbed's tight-loop sampler), every job progresses at
//! rate `min(1, P / R)`; user-space work may run as if there were another number of
//! processors (`Contention::user_processors`). Sleeping (on `module_wq`, in a grace
//! period, at the barrier) takes no CPU time.
//!
//! Because every runnable job of a kind progresses at the same rate, one clock of "CPU
//! time received per job" per kind orders its completions: a job started when that clock
//! read `W` with `w` nanoseconds of work ends when it reads `W + w`, whatever happens
//! meanwhile. So a change of the runnable count only moves the next completion, never
//! reorders a queue. Everything is deterministic.

use crate::config::Ns;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// What a finished piece of CPU work hands back: a loader's next step or a task's turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Job {
    Loader(usize),
    Task(usize),
}

/// Work of one kind (a loader's work in the kernel, or a task's in user space): the
/// processors it runs as if it had, and the CPU time each of its runnable jobs has
/// received since the start.
#[derive(Clone, Debug)]
struct Queue {
    processors: f64,
    received: f64,
    /// Work in progress by the value of `received` at which it ends (f64 bits: every
    /// value is non-negative, so the bits order as the numbers), then start order.
    jobs: BinaryHeap<Reverse<(u64, u64, Job)>>,
}

impl Queue {
    fn new(processors: u32) -> Queue {
        Queue {
            processors: f64::from(processors.max(1)),
            received: 0.0,
            jobs: BinaryHeap::new(),
        }
    }

    /// This kind's rate with `runnable` jobs and background tasks in all.
    fn rate(&self, runnable: f64) -> f64 {
        if runnable <= self.processors {
            1.0
        } else {
            self.processors / runnable
        }
    }
}

/// The processors and the work in progress on them.
#[derive(Clone, Debug)]
pub struct Sharing {
    kernel: Queue,
    user: Queue,
    background: u32,
    /// When the queues' `received` were last brought up to date.
    at: Ns,
    seq: u64,
    /// Bumped whenever the next completion moves; older wake-ups are stale.
    pub generation: u64,
}

impl Sharing {
    /// `processors` shared by the jobs and `background` always-runnable tasks, user-space
    /// work running as if there were `user_processors`.
    pub fn new(processors: u32, user_processors: u32, background: u32) -> Sharing {
        Sharing {
            kernel: Queue::new(processors),
            user: Queue::new(user_processors),
            background,
            at: 0,
            seq: 0,
            generation: 0,
        }
    }

    /// Jobs in progress.
    pub fn running(&self) -> usize {
        self.kernel.jobs.len() + self.user.jobs.len()
    }

    fn runnable(&self) -> f64 {
        self.running() as f64 + f64::from(self.background)
    }

    /// The rates at which each runnable job progresses now: in the kernel, in user space.
    pub fn rates(&self) -> (f64, f64) {
        let r = self.runnable();
        (self.kernel.rate(r), self.user.rate(r))
    }

    fn advance(&mut self, now: Ns) {
        let elapsed = now.saturating_sub(self.at) as f64;
        let (kernel, user) = self.rates();
        self.kernel.received += elapsed * kernel;
        self.user.received += elapsed * user;
        self.at = self.at.max(now);
    }

    /// Starts `job`, which needs `work` ns of CPU time, at `now`.
    pub fn start(&mut self, now: Ns, work: Ns, job: Job) {
        self.advance(now);
        self.seq += 1;
        let queue = match job {
            Job::Loader(_) => &mut self.kernel,
            Job::Task(_) => &mut self.user,
        };
        let end = queue.received + work as f64;
        queue.jobs.push(Reverse((end.to_bits(), self.seq, job)));
    }

    /// When the next job completes at the current rates.
    pub fn next_due(&self, now: Ns) -> Option<Ns> {
        let (kernel, user) = self.rates();
        let elapsed = now.saturating_sub(self.at) as f64;
        [(&self.kernel, kernel), (&self.user, user)]
            .into_iter()
            .filter_map(|(q, rate)| {
                let Reverse((end, ..)) = q.jobs.peek()?;
                let left = (f64::from_bits(*end) - q.received - elapsed * rate).max(0.0);
                Some(now + (left / rate).ceil() as Ns)
            })
            .min()
    }

    /// The jobs complete at `now`, in the order they end on their kind's clock (with one
    /// rate for both kinds, the order they end), then started.
    pub fn take_due(&mut self, now: Ns) -> Vec<Job> {
        self.advance(now);
        let mut due = Vec::new();
        for q in [&mut self.kernel, &mut self.user] {
            while let Some(Reverse((end, seq, job))) = q.jobs.peek().copied() {
                // `next_due` rounds the wake-up up; the slack absorbs rounding of the sums.
                if f64::from_bits(end) > q.received + 0.01 {
                    break;
                }
                q.jobs.pop();
                due.push((end, seq, job));
            }
        }
        due.sort_unstable();
        due.into_iter().map(|(.., job)| job).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alone_a_job_runs_at_full_speed() {
        let mut s = Sharing::new(2, 2, 1);
        s.start(0, 1_000, Job::Loader(0));
        assert_eq!(s.next_due(0), Some(1_000));
        assert_eq!(s.take_due(999), vec![]);
        assert_eq!(s.take_due(1_000), vec![Job::Loader(0)]);
        assert_eq!(s.running(), 0);
    }

    #[test]
    fn more_runnable_jobs_than_processors_share_them() {
        // Two processors, one always-runnable task, three jobs: each gets half a CPU.
        let mut s = Sharing::new(2, 2, 1);
        for l in 0..3 {
            s.start(0, 1_000, Job::Loader(l));
        }
        assert_eq!(s.rates(), (0.5, 0.5));
        assert_eq!(s.next_due(0), Some(2_000));
        assert_eq!(
            s.take_due(2_000),
            vec![Job::Loader(0), Job::Loader(1), Job::Loader(2)]
        );
    }

    #[test]
    fn a_job_speeds_up_when_others_end() {
        // Two processors, no background: jobs of 1 000 and 3 000 ns with a third of 1 000.
        // Three share two CPUs (rate 2/3) until the short ones end at 1 500 ns; the long
        // one has then received 1 000 and needs 2 000 more alone.
        let mut s = Sharing::new(2, 2, 0);
        s.start(0, 1_000, Job::Task(0));
        s.start(0, 1_000, Job::Task(1));
        s.start(0, 3_000, Job::Loader(7));
        assert_eq!(s.next_due(0), Some(1_500));
        assert_eq!(s.take_due(1_500), vec![Job::Task(0), Job::Task(1)]);
        assert_eq!(s.next_due(1_500), Some(3_500));
        assert_eq!(s.take_due(3_500), vec![Job::Loader(7)]);
    }

    #[test]
    fn user_space_work_runs_as_if_on_its_own_processors() {
        // Three processors, two for user space, one background task: two loaders' and
        // two tasks' jobs make 5 runnable; kernel work progresses at 3/5, user space 2/5.
        let mut s = Sharing::new(3, 2, 1);
        s.start(0, 3_000, Job::Loader(0));
        s.start(0, 3_000, Job::Loader(1));
        s.start(0, 2_000, Job::Task(0));
        s.start(0, 2_000, Job::Task(1));
        assert_eq!(s.rates(), (0.6, 0.4));
        assert_eq!(s.next_due(0), Some(5_000));
        // All four end at 5 000 ns; ties go by their kind's clock (here the work), then start.
        assert_eq!(
            s.take_due(5_000),
            vec![Job::Task(0), Job::Task(1), Job::Loader(0), Job::Loader(1)]
        );
        // Alone a task runs at full speed whatever its processors.
        s.start(5_000, 1_000, Job::Task(2));
        assert_eq!(s.next_due(5_000), Some(6_000));
    }

    #[test]
    fn a_later_job_does_not_overtake_an_earlier_equal_one() {
        let mut s = Sharing::new(1, 1, 0);
        s.start(0, 1_000, Job::Loader(1));
        s.start(500, 600, Job::Loader(2));
        // From 500 ns both share one CPU: the first has 500 left, the second 600.
        assert_eq!(s.next_due(500), Some(1_500));
        assert_eq!(s.take_due(1_500), vec![Job::Loader(1)]);
        assert_eq!(s.next_due(1_500), Some(1_600));
    }
}
