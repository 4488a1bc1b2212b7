//! The `modkit` multi-call binary: dispatches on argv[0] (depmod, modinfo, ...) or on
//! `modkit TOOL ARGS...`.
#![forbid(unsafe_code)]

fn main() {
    std::process::exit(0);
}
