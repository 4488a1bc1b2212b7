//! Links the `modkit` executable at a fixed address (`-no-pie`) on dynamically linked
//! targets.
//!
//! Why: modprobe runs once per module request (udev starts hundreds at boot), so its
//! start-up is most of its cost. As a position-independent executable, the binary carries
//! about 13 000 relative relocations (every pointer in vtables, panic locations and the
//! tables of its dependencies) that the dynamic loader applies at every start, writing to
//! each of the ~62 pages of `.data.rel.ro`: 60 of the ~175 page faults and about a third
//! of the instructions of a `modprobe --show-depends` (docs/benchmarks.md). A fixed-address
//! executable has none of them. The price is that the executable itself is not placed at a
//! random address (its libraries, heap, stack and mappings still are).
//!
//! Static builds (`-C target-feature=+crt-static`, the testbed's) stay static-pie, which
//! relocates itself without a dynamic loader.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let features = std::env::var("CARGO_CFG_TARGET_FEATURE").unwrap_or_default();
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let crt_static = features.split(',').any(|f| f == "crt-static");
    if os == "linux" && !crt_static {
        println!("cargo:rustc-link-arg-bin=modkit=-no-pie");
    }
}
