//! The errnos of the load path, kernel-internal ones included (`ERESTARTSYS`), with their
//! names as the testbed records them and the conversion to what user space sees.

use serde::Serialize;
use std::fmt;

/// An error a module system call (or `request_module`) returns in the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Errno {
    EPERM,
    ENOENT,
    EINTR,
    ENOEXEC,
    ENOMEM,
    EBUSY,
    EEXIST,
    ENODEV,
    EINVAL,
    ETXTBSY,
    ETIME,
    EOPNOTSUPP,
    EWOULDBLOCK,
    /// Kernel-internal 512: a signal interrupted a restartable wait.
    ERESTARTSYS,
}

impl Errno {
    /// Every errno, for parsing.
    const ALL: [Errno; 14] = [
        Errno::EPERM,
        Errno::ENOENT,
        Errno::EINTR,
        Errno::ENOEXEC,
        Errno::ENOMEM,
        Errno::EBUSY,
        Errno::EEXIST,
        Errno::ENODEV,
        Errno::EINVAL,
        Errno::ETXTBSY,
        Errno::ETIME,
        Errno::EOPNOTSUPP,
        Errno::EWOULDBLOCK,
        Errno::ERESTARTSYS,
    ];

    /// The errno's name (`EEXIST`).
    pub fn name(self) -> &'static str {
        match self {
            Errno::EPERM => "EPERM",
            Errno::ENOENT => "ENOENT",
            Errno::EINTR => "EINTR",
            Errno::ENOEXEC => "ENOEXEC",
            Errno::ENOMEM => "ENOMEM",
            Errno::EBUSY => "EBUSY",
            Errno::EEXIST => "EEXIST",
            Errno::ENODEV => "ENODEV",
            Errno::EINVAL => "EINVAL",
            Errno::ETXTBSY => "ETXTBSY",
            Errno::ETIME => "ETIME",
            Errno::EOPNOTSUPP => "EOPNOTSUPP",
            Errno::EWOULDBLOCK => "EWOULDBLOCK",
            Errno::ERESTARTSYS => "ERESTARTSYS",
        }
    }

    /// Parses a name (`EEXIST`).
    pub fn parse(name: &str) -> Option<Errno> {
        Errno::ALL.iter().copied().find(|e| e.name() == name)
    }

    /// What user space sees (`ERESTARTSYS` becomes `EINTR` without `SA_RESTART`).
    pub fn to_sys(self) -> modkit_sys::Errno {
        use modkit_sys::Errno as E;
        match self {
            Errno::EPERM => E::PERM,
            Errno::ENOENT => E::NOENT,
            Errno::EINTR | Errno::ERESTARTSYS => E::INTR,
            Errno::ENOEXEC => E::NOEXEC,
            Errno::ENOMEM => E::NOMEM,
            Errno::EBUSY => E::BUSY,
            Errno::EEXIST => E::EXIST,
            Errno::ENODEV => E::NODEV,
            Errno::EINVAL => E::INVAL,
            Errno::ETXTBSY => E::TXTBSY,
            Errno::ETIME => E::TIME,
            Errno::EOPNOTSUPP => E::OPNOTSUPP,
            Errno::EWOULDBLOCK => E::WOULDBLOCK,
        }
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
