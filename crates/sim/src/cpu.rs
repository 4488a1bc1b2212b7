//! CPU contention: the processors of the machine shared by every piece of work that needs
//! CPU time (a loader's read, decompression, checks, copy, relocations, formation and
//! `init`; a user-space task's work between its system calls), as a processor-sharing
//! queue. With `P` processors and `R` runnable jobs (plus `background` tasks that are
//! always runnable, such as the testbed's tight-loop sampler), every job progresses at
//! rate `min(1, P / R)`. Sleeping (on `module_wq`, in a grace period, at the barrier)
//! takes no CPU time.
//!
//! Because every runnable job progresses at the same rate, one clock of "CPU time received
//! per job" orders all their completions: a job started when that clock read `W` with `w`
//! nanoseconds of work ends when it reads `W + w`, whatever happens meanwhile. So a
//! change of the runnable count only moves the next completion, never reorders the queue.
//! Everything is deterministic.

use crate::config::Ns;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// What a finished piece of CPU work hands back: a loader's next step or a task's turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Job {
    Loader(usize),
    Task(usize),
}

/// The processors and the work in progress on them.
#[derive(Clone, Debug)]
pub struct Sharing {
    processors: f64,
    background: u32,
    /// CPU time each runnable job has received since the start (ns of work).
    received: f64,
    /// When `received` was last brought up to date.
    at: Ns,
    /// Work in progress by the value of `received` at which it ends (f64 bits: every
    /// value is non-negative, so the bits order as the numbers), then start order.
    jobs: BinaryHeap<Reverse<(u64, u64, Job)>>,
    seq: u64,
    /// Bumped whenever the next completion moves; older wake-ups are stale.
    pub generation: u64,
}

impl Sharing {
    /// `processors` shared by the jobs and `background` always-runnable tasks.
    pub fn new(processors: u32, background: u32) -> Sharing {
        Sharing {
            processors: f64::from(processors.max(1)),
            background,
            received: 0.0,
            at: 0,
            jobs: BinaryHeap::new(),
            seq: 0,
            generation: 0,
        }
    }

    /// Jobs in progress.
    pub fn running(&self) -> usize {
        self.jobs.len()
    }

    /// The rate at which each runnable job progresses now.
    pub fn rate(&self) -> f64 {
        let runnable = self.jobs.len() as f64 + f64::from(self.background);
        if runnable <= self.processors {
            1.0
        } else {
            self.processors / runnable
        }
    }

    fn advance(&mut self, now: Ns) {
        let elapsed = now.saturating_sub(self.at) as f64;
        self.received += elapsed * self.rate();
        self.at = self.at.max(now);
    }

    /// Starts `job`, which needs `work` ns of CPU time, at `now`.
    pub fn start(&mut self, now: Ns, work: Ns, job: Job) {
        self.advance(now);
        self.seq += 1;
        let end = self.received + work as f64;
        self.jobs.push(Reverse((end.to_bits(), self.seq, job)));
    }

    /// When the next job completes at the current rate.
    pub fn next_due(&self, now: Ns) -> Option<Ns> {
        let Reverse((end, ..)) = self.jobs.peek()?;
        let received = self.received + now.saturating_sub(self.at) as f64 * self.rate();
        let left = (f64::from_bits(*end) - received).max(0.0);
        Some(now + (left / self.rate()).ceil() as Ns)
    }

    /// The jobs complete at `now`, in the order they end.
    pub fn take_due(&mut self, now: Ns) -> Vec<Job> {
        self.advance(now);
        let mut due = Vec::new();
        while let Some(Reverse((end, _, job))) = self.jobs.peek().copied() {
            // `next_due` rounds the wake-up up; the slack absorbs rounding of the sums.
            if f64::from_bits(end) > self.received + 0.01 {
                break;
            }
            self.jobs.pop();
            due.push(job);
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alone_a_job_runs_at_full_speed() {
        let mut s = Sharing::new(2, 1);
        s.start(0, 1_000, Job::Loader(0));
        assert_eq!(s.next_due(0), Some(1_000));
        assert_eq!(s.take_due(999), vec![]);
        assert_eq!(s.take_due(1_000), vec![Job::Loader(0)]);
        assert_eq!(s.running(), 0);
    }

    #[test]
    fn more_runnable_jobs_than_processors_share_them() {
        // Two processors, one always-runnable task, three jobs: each gets half a CPU.
        let mut s = Sharing::new(2, 1);
        for l in 0..3 {
            s.start(0, 1_000, Job::Loader(l));
        }
        assert_eq!(s.rate(), 0.5);
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
        let mut s = Sharing::new(2, 0);
        s.start(0, 1_000, Job::Task(0));
        s.start(0, 1_000, Job::Task(1));
        s.start(0, 3_000, Job::Loader(7));
        assert_eq!(s.next_due(0), Some(1_500));
        assert_eq!(s.take_due(1_500), vec![Job::Task(0), Job::Task(1)]);
        assert_eq!(s.next_due(1_500), Some(3_500));
        assert_eq!(s.take_due(3_500), vec![Job::Loader(7)]);
    }

    #[test]
    fn a_later_job_does_not_overtake_an_earlier_equal_one() {
        let mut s = Sharing::new(1, 0);
        s.start(0, 1_000, Job::Loader(1));
        s.start(500, 600, Job::Loader(2));
        // From 500 ns both share one CPU: the first has 500 left, the second 600.
        assert_eq!(s.next_due(500), Some(1_500));
        assert_eq!(s.take_due(1_500), vec![Job::Loader(1)]);
        assert_eq!(s.next_due(1_500), Some(1_600));
    }
}
