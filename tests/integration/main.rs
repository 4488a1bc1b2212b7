//! The one integration test binary: differential tests of the `modkit` binary against
//! Debian's kmod 30 (the oracle), on the real Debian trees and on generated fixtures.

mod bad_input;
mod depmod;
mod harness;
mod killed;
mod links;
mod modinfo;
mod modprobe;
mod modprobe_sandboxed;
mod modprobe_synth;
mod shared_context;
mod shared_model;
mod sim;
mod synthetic;
mod testbed;
mod unreadable;
mod version;
