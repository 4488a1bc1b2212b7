//! An existing module database (`modules.*.bin` and friends) opened for name lookups, as
//! modinfo and modprobe use it (kmod-tools §6.4).
