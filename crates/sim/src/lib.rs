//! modkit-sim: an executable model of the Linux module loader (`finit_module(2)` /
//! `init_module(2)` → `load_module()`), version by version, as specified by
//! `kernel-loader.md`. It computes what every load and every duplicate load costs: the
//! `VmallocUsed` peak, physical memory, module-area address space (with guard pages and
//! exhaustion), direct-map splits, the errno of every call, and the stats.c counters with
//! their exact debugfs text.
//!
//! Layers: [`version`] and [`config`] (inputs), [`cpu`] (processor sharing), [`profile`] (per-module facts of a Debian
//! tree), [`memory`] (address spaces), [`stats`] (stats.c), [`engine`] (the discrete-event
//! load path), [`workload`] (racers, udev coldplug, stress-ng, kmod.sh) and [`kernel`]
//! ([`SimKernel`], the model behind `modkit_sys::Kernel`), [`validate`] (comparison with
//! the testbed's measurements) and [`sweep`] (CPU-count sweeps over versions).
//!
//! Virtual time is deterministic: every random choice comes from one seeded generator.
//! The crate does no I/O except [`Profile::load`].
#![forbid(unsafe_code)]

pub mod config;
pub mod cpu;
pub mod engine;
pub mod errno;
pub mod kernel;
pub mod memory;
pub mod profile;
pub mod sizes;
pub mod stats;
pub mod sweep;
pub mod validate;
pub mod version;
pub mod workload;

pub use config::{Config, Contention, Ns, Overcommit, Stalls, Timing};
pub use engine::Engine;
pub use errno::Errno;
pub use kernel::SimKernel;

pub use profile::{ModuleFacts, Profile, ProfileError};
pub use stats::Stats;
pub use version::{UnknownVersion, Version};
pub use workload::{Report, Workload};

/// SplitMix64: a small, seedable generator (the model's only source of randomness).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}
