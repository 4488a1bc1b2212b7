//! The one integration test binary: differential tests against Debian's kmod.
