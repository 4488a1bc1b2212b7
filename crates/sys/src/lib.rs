//! The platform boundary: the only crate that talks to the running kernel (`trait Kernel`,
//! `LinuxKernel` over rustix, /sys/module, /proc/modules) and the only one allowed `unsafe`.
//! It grows with the loader (issue 5); the module database needs nothing from it yet.
