//! Project chores: `cargo xtask test|bench|fuzz-build|bless`.
fn main() {}
