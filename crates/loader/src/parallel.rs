//! Probes at once: `modprobe -a A B C` runs its probes on a pool of threads under a
//! concurrency limit. (An alias naming several modules, a CPU modalias at udev coldplug,
//! is probed in one thread: there every CPU's modprobe asks for the same set, the shared
//! loading context already spreads the work over the processes, and every extra thread
//! would cost each of them a kernel stack.) Each probe still walks its own module's
//! probe list in order (dependencies first); shared dependencies are inserted once because
//! every insertion goes through the shared loading context, where a second probe needing
//! the same module waits for the first one's outcome instead of inserting it again. A
//! thread holds a claim only while its own kernel call runs, so the pool cannot deadlock.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// The environment variable bounding the number of probes at once.
pub const JOBS_ENV: &str = "MODKIT_JOBS";

/// How many probes run at once: `MODKIT_JOBS`, else the CPUs available, at most 16.
pub fn jobs() -> usize {
    std::env::var(JOBS_ENV)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .clamp(1, 16)
}

/// `f` over every item on at most `limit` threads; the results in item order.
pub fn run<T: Sync, R: Send>(items: &[T], limit: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    if items.len() <= 1 || limit <= 1 {
        // No thread for nothing to share: each one costs a kernel stack.
        return items.iter().map(f).collect();
    }
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<R>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..limit.clamp(1, items.len().max(1)) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(i) else { break };
                let r = f(item);
                if let Ok(mut all) = results.lock() {
                    all[i] = Some(r);
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_default()
        .into_iter()
        .flatten()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    #[test]
    fn results_keep_item_order_and_the_limit_holds() {
        let running = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        let items: Vec<u64> = (0..40).collect();
        let out = run(&items, 3, |&i| {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(2 + (i % 3)));
            running.fetch_sub(1, Ordering::SeqCst);
            i * 2
        });
        assert_eq!(out, items.iter().map(|i| i * 2).collect::<Vec<_>>());
        assert!(peak.load(Ordering::SeqCst) <= 3);
        assert!(
            peak.load(Ordering::SeqCst) >= 2,
            "the pool ran probes at once"
        );
        assert!(run(&[] as &[u8], 4, |_| 1).is_empty());
    }
}
