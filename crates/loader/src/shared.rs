//! The shared loading context: however many requesters, in however many processes, ask for
//! a module at once, one of them inserts it and every other one takes that insertion's
//! result, success or the same error, without calling the kernel: the 6.5 kernel's
//! idempotent `finit_module` across processes, on every kernel version and for both
//! insertion calls.
//!
//! Per module, a requester:
//! 1. waits (bounded) while the kernel shows the module `coming`: it is being inserted by
//!    someone, so it is never inserted again;
//! 2. requests the module's claim (`modkit_sys::RunDir`): the claimant checks the kernel
//!    state once more, inserts, and publishes the outcome; requesters that arrived while the
//!    claim was held take that outcome; a claimant that died is taken over;
//! 3. past the bound (a module whose init requests itself, a stuck claimant), goes on as kmod
//!    would, inserting itself, and says so.

use std::time::{Duration, Instant};

use modkit_sys::{ClaimError, InitState, Outcome, RunDir, Ticket};

use crate::{Errno, Event, Events, Kernel, Loader, Notice};

/// The run directory of the shared loading context, unless MODKIT_RUN_DIR says otherwise.
pub const DEFAULT_RUN_DIR: &str = "/run/modkit";

/// The context and its bounds.
#[derive(Debug)]
pub struct Shared {
    run: RunDir,
    /// How long a requester waits for another's claim.
    pub claim_bound: Duration,
    /// How long a requester waits for a module in state `coming`.
    pub coming_bound: Duration,
}

impl Shared {
    /// Opens the context in `dir` with the default bounds (60 s each: longer than any
    /// module init the kernel itself waits for in `request_module`, shorter than a hang).
    pub fn open(dir: impl Into<std::path::PathBuf>) -> Result<Shared, ClaimError> {
        Ok(Shared {
            run: RunDir::open(dir)?,
            claim_bound: Duration::from_secs(60),
            coming_bound: Duration::from_secs(60),
        })
    }

    pub fn run_dir(&self) -> &RunDir {
        &self.run
    }
}

/// How a shared insertion went, for the caller's bookkeeping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// This requester called the kernel.
    Inserted,
    /// Another requester's published outcome.
    Shared,
    /// The kernel already had it (live, or coming and then live).
    AlreadyLoaded,
    /// The bound passed; this requester inserted without the context.
    Unshared,
}

impl<K: Kernel> Loader<K> {
    /// Inserts module `name` through the shared loading context (`insert` makes the kernel
    /// call); without a context, just calls `insert`.
    pub fn insert_shared(
        &self,
        name: &str,
        events: Events<'_>,
        insert: impl FnOnce() -> Result<(), Errno>,
    ) -> (Result<(), Errno>, Via) {
        let Some(shared) = &self.shared else {
            return (insert(), Via::Inserted);
        };
        match self.wait_while_coming(name, shared.coming_bound) {
            Some(InitState::Live) => return (Err(Errno::EXIST), Via::AlreadyLoaded),
            Some(InitState::Coming) => events(Event::Notice(Notice::SharedContext {
                name: name.as_bytes().to_vec(),
                message: format!(
                    "still coming after {} s; going on",
                    shared.coming_bound.as_secs_f64()
                ),
                warning: true,
            })),
            _ => {}
        }
        match shared.run.request(name, shared.claim_bound) {
            Err(err) => {
                events(Event::Notice(Notice::SharedContext {
                    name: name.as_bytes().to_vec(),
                    message: err.to_string(),
                    warning: false,
                }));
                (Err(err.errno()), Via::Inserted)
            }
            Ok(Ticket::Shared(outcome)) => (outcome.to_result(), Via::Shared),
            Ok(Ticket::TimedOut) => {
                events(Event::Notice(Notice::SharedContext {
                    name: name.as_bytes().to_vec(),
                    message: format!(
                        "waited {} s for another loader's claim; inserting without it",
                        shared.claim_bound.as_secs_f64()
                    ),
                    warning: true,
                }));
                (insert(), Via::Unshared)
            }
            Ok(Ticket::Claimant(claim)) => {
                // Only the kernel's own module states: a sysfs directory without
                // `initstate` (built-in, or another kernel's tree) is inserted as kmod
                // inserts it, and the kernel answers for it.
                if matches!(
                    self.kernel.initstate(name),
                    Ok(Some(InitState::Live | InitState::Coming))
                ) {
                    let _ = claim.publish(Outcome::Loaded, false);
                    return (Err(Errno::EXIST), Via::AlreadyLoaded);
                }
                let result = insert();
                let outcome = match result {
                    Ok(()) | Err(Errno::EXIST) => Outcome::Loaded,
                    Err(e) => Outcome::Failed(e),
                };
                let _ = claim.publish(outcome, true);
                (result, Via::Inserted)
            }
        }
    }

    /// Polls the module's state while it is `coming`, up to `bound`; returns the last
    /// state seen (`None`: not loaded).
    fn wait_while_coming(&self, name: &str, bound: Duration) -> Option<InitState> {
        let started = Instant::now();
        let mut pause = Duration::from_millis(1);
        loop {
            let state = self.kernel.initstate(name).ok().flatten();
            if state != Some(InitState::Coming) || started.elapsed() >= bound {
                return state;
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(50));
        }
    }
}
