//! Shared helpers of the integration tests: locating the modkit binary, the kmod oracle and
//! the Debian module trees fetched by `cargo xtask test`.
