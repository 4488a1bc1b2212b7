//! Claims on module insertions, shared by every process on the machine: the lock files of
//! the shared loading context.
//!
//! One file per module in a run directory (`/run/modkit` by default): root-owned, mode
//! 0700, opened without following symlinks, so no other user can create, hold or poison a
//! claim. A requester claims a module by taking the file's `flock`; the kernel releases it
//! when the holder dies, so a claim never outlives its process. The file holds one record:
//! a sequence number bumped by every claimant, whether that claim is still running or done,
//! the errno it ended with, and counters for `modkit stats`.
//!
//! A requester reads the record *before* trying the lock. If the lock is busy it waits
//! (bounded) for it; once it holds the lock, a `done` record published since its first
//! read (the claim it saw running, or a later one) is the outcome of the insertion it
//! waited for, and it is taken as its own without
//! calling the kernel. A record that is still `claimed` means the claimant died: the
//! waiter takes the claim over and inserts itself.
//!
//! A failure is also shared with a requester that reaches the claim just after it was
//! published, when that requester's work began before it: the failing insertion overlapped
//! the request, as when N udev workers started at once reach a module one after another
//! (each walks the same module list, so all but the first arrive after a fast failure).
//! `RunDir::open` marks the start of a requester's work on `CLOCK_BOOTTIME`, the clock
//! every process shares; the record carries the publication time and the boot it happened
//! in (`/proc/sys/kernel/random/boot_id`), so an outcome of an earlier boot is never
//! shared. Only failures that say something about the module are shared this way, not
//! the transient ones (`lasting_failure`): a request begun after the failure claims
//! afresh, so a failure is never sticky.

use crate::Errno;
use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{self, FlockOperation, Mode, OFlags};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The size of the record at the start of a claim file.
const RECORD_LEN: usize = 256;
const MAGIC: &str = "modkit-claim-1";

/// Why the shared loading context cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ClaimError {
    #[error("{path}: {errno}")]
    Io { path: PathBuf, errno: Errno },
    #[error("{path}: is a symbolic link; refusing to use it")]
    Symlink { path: PathBuf },
    #[error("{path}: must be a directory owned by uid {uid} with mode 0700 (found uid {found_uid}, mode {mode:04o})")]
    Insecure {
        path: PathBuf,
        uid: u32,
        found_uid: u32,
        mode: u32,
    },
    #[error("{path}: not a regular file with a single link; refusing to use it")]
    NotRegular { path: PathBuf },
    #[error("invalid module name for a claim: {0:?}")]
    BadName(String),
}

impl ClaimError {
    /// The errno a caller reports for this error.
    pub fn errno(&self) -> Errno {
        match self {
            ClaimError::Io { errno, .. } => *errno,
            ClaimError::Symlink { .. } => Errno::LOOP,
            ClaimError::Insecure { .. } | ClaimError::NotRegular { .. } => Errno::PERM,
            ClaimError::BadName(_) => Errno::INVAL,
        }
    }
}

/// How an insertion ended, as published to the requesters that waited for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The claimant inserted the module (or found it loaded).
    Loaded,
    /// The insertion failed with this errno.
    Failed(Errno),
}

impl Outcome {
    fn errno_value(self) -> i32 {
        match self {
            Outcome::Loaded => 0,
            Outcome::Failed(e) => e.raw_os_error(),
        }
    }

    fn from_errno_value(v: i32) -> Outcome {
        if v == 0 {
            Outcome::Loaded
        } else {
            Outcome::Failed(Errno::from_raw_os_error(v))
        }
    }

    pub fn to_result(self) -> Result<(), Errno> {
        match self {
            Outcome::Loaded => Ok(()),
            Outcome::Failed(e) => Err(e),
        }
    }
}

/// Per-module counters kept in the claim file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClaimStats {
    /// Requests that went through the claim (claimants and waiters).
    pub requests: u64,
    /// Insertion calls made by claimants.
    pub insertions: u64,
    /// Requests answered by another requester's published outcome.
    pub shared: u64,
}

/// The record of a claim file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Record {
    seq: u64,
    /// True while a claimant works; false once it has published.
    claimed: bool,
    errno: i32,
    /// When the outcome was published (`CLOCK_BOOTTIME`, ns); 0 before any (and in
    /// records written before the field existed).
    at: u64,
    /// The boot the outcome was published in (the boot id, hex digits only); empty before
    /// any.
    boot: BootId,
    stats: ClaimStats,
}

/// The kernel's boot id without its dashes: 32 hex digits, or empty where unreadable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct BootId {
    digits: [u8; 32],
    len: u8,
}

impl BootId {
    fn parse(text: &str) -> Option<BootId> {
        let hex: Vec<u8> = text.bytes().filter(|b| *b != b'-').collect();
        if hex.len() > 32 || !hex.iter().all(u8::is_ascii_hexdigit) {
            return None;
        }
        let mut id = BootId::default();
        id.digits[..hex.len()].copy_from_slice(&hex);
        id.len = hex.len() as u8;
        Some(id)
    }

    /// This boot's id; empty when /proc is not there (then no failure is shared late).
    fn current() -> BootId {
        std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
            .ok()
            .and_then(|t| BootId::parse(t.trim()))
            .unwrap_or_default()
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.digits[..usize::from(self.len)]).unwrap_or("")
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Record {
    fn encode(&self) -> [u8; RECORD_LEN] {
        let text = format!(
            "{MAGIC} seq={} state={} errno={} at={} boot={} requests={} insertions={} shared={}\n",
            self.seq,
            if self.claimed { "claimed" } else { "done" },
            self.errno,
            self.at,
            self.boot.as_str(),
            self.stats.requests,
            self.stats.insertions,
            self.stats.shared,
        );
        let mut buf = [b' '; RECORD_LEN];
        let n = text.len().min(RECORD_LEN);
        buf[..n].copy_from_slice(&text.as_bytes()[..n]);
        buf
    }

    /// Parses a record; `None` for an empty, torn or foreign file. `at` and `boot` may be
    /// missing (records of modkit before they existed); every other field must be there.
    fn decode(bytes: &[u8]) -> Option<Record> {
        let text = std::str::from_utf8(bytes).ok()?;
        let line = text.lines().next()?;
        let mut words = line.split(' ');
        if words.next()? != MAGIC {
            return None;
        }
        let mut r = Record::default();
        let mut required = 0;
        for word in words {
            let (key, value) = word.split_once('=')?;
            match key {
                "at" => r.at = value.parse().ok()?,
                "boot" => r.boot = BootId::parse(value)?,
                _ => {
                    required += 1;
                    match key {
                        "seq" => r.seq = value.parse().ok()?,
                        "state" => r.claimed = value == "claimed",
                        "errno" => r.errno = value.parse().ok()?,
                        "requests" => r.stats.requests = value.parse().ok()?,
                        "insertions" => r.stats.insertions = value.parse().ok()?,
                        "shared" => r.stats.shared = value.parse().ok()?,
                        _ => return None,
                    }
                }
            }
        }
        (required == 6).then_some(r)
    }
}

/// The run directory of the shared loading context.
#[derive(Debug)]
pub struct RunDir {
    dir: OwnedFd,
    path: PathBuf,
    /// When this requester's work began (`CLOCK_BOOTTIME`, ns) and in which boot: lasting
    /// failures published since overlapped it and are shared.
    since: u64,
    boot: BootId,
}

/// Now on `CLOCK_BOOTTIME`, in ns: one clock for every process, counting suspend, reset at
/// boot with the run directory (a tmpfs).
fn boottime_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Boottime);
    (t.tv_sec as u64).saturating_mul(1_000_000_000) + t.tv_nsec as u64
}

fn io(path: &Path) -> impl FnOnce(Errno) -> ClaimError + '_ {
    move |errno| ClaimError::Io {
        path: path.to_owned(),
        errno,
    }
}

/// A module name usable as a file name: kmod's names are `[A-Za-z0-9_-]`.
fn check_name(module: &str) -> Result<(), ClaimError> {
    let fine = !module.is_empty()
        && module.len() <= 255
        && module
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if fine {
        Ok(())
    } else {
        Err(ClaimError::BadName(module.to_owned()))
    }
}

impl RunDir {
    /// Opens (creating it, mode 0700, when missing) the run directory at `path`. The last
    /// component must not be a symlink, and the directory must belong to the effective user
    /// with no access for group or others.
    pub fn open(path: impl Into<PathBuf>) -> Result<RunDir, ClaimError> {
        let path = path.into();
        match fs::mkdir(&path, Mode::from_raw_mode(0o700)) {
            Ok(()) | Err(Errno::EXIST) => {}
            Err(e) => return Err(io(&path)(e)),
        }
        let flags = OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::RDONLY;
        let dir = match fs::open(&path, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::LOOP) | Err(Errno::NOTDIR) if is_symlink(&path) => {
                return Err(ClaimError::Symlink { path })
            }
            Err(e) => return Err(io(&path)(e)),
        };
        let st = fs::fstat(&dir).map_err(io(&path))?;
        let uid = rustix::process::geteuid().as_raw();
        let mode = st.st_mode & 0o7777;
        if st.st_uid != uid || mode & 0o077 != 0 {
            return Err(ClaimError::Insecure {
                path,
                uid,
                found_uid: st.st_uid,
                mode,
            });
        }
        Ok(RunDir {
            dir,
            path,
            since: boottime_ns(),
            boot: BootId::current(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens the claim file of `module` (creating it), refusing symlinks and anything but
    /// a regular file with one link owned by us.
    fn open_file(&self, module: &str) -> Result<(OwnedFd, PathBuf), ClaimError> {
        check_name(module)?;
        let name = format!("{module}.claim");
        let path = self.path.join(&name);
        let flags = OFlags::RDWR | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = match fs::openat(&self.dir, &name, flags, Mode::from_raw_mode(0o600)) {
            Ok(fd) => fd,
            Err(Errno::LOOP) => return Err(ClaimError::Symlink { path }),
            Err(e) => return Err(io(&path)(e)),
        };
        let st = fs::fstat(&fd).map_err(io(&path))?;
        let regular = fs::FileType::from_raw_mode(st.st_mode) == fs::FileType::RegularFile;
        if !regular || st.st_nlink != 1 || st.st_uid != rustix::process::geteuid().as_raw() {
            return Err(ClaimError::NotRegular { path });
        }
        Ok((fd, path))
    }

    /// Requests `module`: returns the claim to insert it under, or the outcome of the
    /// insertion another requester made while this one waited. Waits at most `bound` for a
    /// busy claim; past it, [`Ticket::TimedOut`] (the caller goes on without the context).
    pub fn request(&self, module: &str, bound: Duration) -> Result<Ticket, ClaimError> {
        let (fd, path) = self.open_file(module)?;
        let before = read_record(&fd);
        let started = Instant::now();
        let mut pause = Duration::from_micros(200);
        loop {
            match fs::flock(&fd, FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => break,
                Err(Errno::WOULDBLOCK) | Err(Errno::INTR) => {}
                Err(e) => return Err(io(&path)(e)),
            }
            if started.elapsed() >= bound {
                return Ok(Ticket::TimedOut);
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(10));
        }
        let mut record = read_record(&fd).unwrap_or_default();
        record.stats.requests += 1;
        if !record.claimed && (published_since(before, &record) || self.failed_since(&record)) {
            record.stats.shared += 1;
            write_record(&fd, &record).map_err(io(&path))?;
            return Ok(Ticket::Shared(Outcome::from_errno_value(record.errno)));
        }
        // Ours: a fresh claim, or one whose claimant died before publishing.
        let took_over = record.claimed;
        record.seq += 1;
        record.claimed = true;
        write_record(&fd, &record).map_err(io(&path))?;
        Ok(Ticket::Claimant(Claim {
            fd,
            path,
            record,
            took_over,
            boot: self.boot,
        }))
    }

    /// The counters of every module that has a claim file, by module name.
    pub fn stats(&self) -> Result<Vec<(String, ClaimStats)>, ClaimError> {
        let mut out = Vec::new();
        let entries = std::fs::read_dir(&self.path).map_err(|e| ClaimError::Io {
            path: self.path.clone(),
            errno: Errno::from_io_error(&e).unwrap_or(Errno::IO),
        })?;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(module) = name.strip_suffix(".claim") else {
                continue;
            };
            if let Ok((fd, _)) = self.open_file(module) {
                if let Some(r) = read_record(&fd) {
                    out.push((module.to_owned(), r.stats));
                }
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }
}

impl RunDir {
    /// Whether the record is a lasting failure published in this boot after this
    /// requester's work began.
    fn failed_since(&self, record: &Record) -> bool {
        let failure = Outcome::from_errno_value(record.errno);
        lasting_failure(failure)
            && !self.boot.is_empty()
            && record.boot == self.boot
            && record.at >= self.since
    }
}

/// Whether a failure says something about the module (its file, its symbols, its init,
/// the hardware it wants) rather than about the moment: an interrupted wait, memory or the
/// module area running short, a busy kernel. Only such failures are shared with a
/// requester that arrives after they were published.
fn lasting_failure(outcome: Outcome) -> bool {
    match outcome {
        Outcome::Loaded => false,
        Outcome::Failed(e) => ![
            Errno::INTR,
            Errno::AGAIN,
            Errno::NOMEM,
            Errno::BUSY,
            Errno::TIMEDOUT,
        ]
        .contains(&e),
    }
}

/// Whether the `done` record `now` is an outcome published after `before` was read: the
/// claim that was running then has finished, or a later one has.
fn published_since(before: Option<Record>, now: &Record) -> bool {
    match before {
        None => now.seq > 0,
        Some(b) if b.claimed => now.seq >= b.seq,
        Some(b) => now.seq > b.seq,
    }
}

fn is_symlink(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
}

/// Reads the record; a torn read (a writer in the middle of its `pwrite`) is retried.
fn read_record(fd: &impl AsFd) -> Option<Record> {
    let mut buf = [0u8; RECORD_LEN];
    for _ in 0..3 {
        let n = rustix::io::pread(fd, &mut buf, 0).ok()?;
        if n == 0 {
            return None;
        }
        if let Some(r) = Record::decode(&buf[..n]) {
            return Some(r);
        }
    }
    None
}

fn write_record(fd: &impl AsFd, record: &Record) -> Result<(), Errno> {
    let bytes = record.encode();
    let n = rustix::io::pwrite(fd, &bytes, 0)?;
    if n == bytes.len() {
        Ok(())
    } else {
        Err(Errno::IO)
    }
}

/// What a request gets.
#[derive(Debug)]
pub enum Ticket {
    /// This requester holds the claim: it checks the kernel, inserts, and publishes.
    Claimant(Claim),
    /// Another requester's insertion ended while this one waited: its outcome.
    Shared(Outcome),
    /// The claim stayed busy past the bound.
    TimedOut,
}

/// A held claim. Dropping it without [`Claim::publish`] releases the lock with the record
/// still `claimed`, which the next requester reads as a dead claimant and takes over.
#[derive(Debug)]
pub struct Claim {
    fd: OwnedFd,
    path: PathBuf,
    record: Record,
    took_over: bool,
    /// The boot the outcome is published in.
    boot: BootId,
}

impl Claim {
    /// Whether the previous claimant died before publishing.
    pub fn took_over(&self) -> bool {
        self.took_over
    }

    /// Publishes the outcome for the requesters waiting on this claim, counting an
    /// insertion when `inserted` (the kernel was called), and releases the claim.
    pub fn publish(mut self, outcome: Outcome, inserted: bool) -> Result<(), ClaimError> {
        self.record.claimed = false;
        self.record.errno = outcome.errno_value();
        self.record.at = boottime_ns();
        self.record.boot = self.boot;
        if inserted {
            self.record.stats.insertions += 1;
        }
        write_record(&self.fd, &self.record).map_err(io(&self.path))
        // The lock goes with the descriptor.
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, PermissionsExt};
    use std::sync::{Arc, Barrier};

    fn run_dir() -> (tempfile::TempDir, RunDir) {
        let tmp = tempfile::tempdir().expect("tempdir");
        let run = RunDir::open(tmp.path().join("run")).expect("opens");
        (tmp, run)
    }

    #[test]
    fn records_round_trip_and_reject_damage() {
        let r = Record {
            seq: 7,
            claimed: true,
            errno: 17,
            at: 123_456_789,
            boot: BootId::parse("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0").unwrap(),
            stats: ClaimStats {
                requests: 3,
                insertions: 1,
                shared: 2,
            },
        };
        assert_eq!(Record::decode(&r.encode()), Some(r));
        assert_eq!(Record::decode(b""), None);
        assert_eq!(Record::decode(b"modkit-claim-1 seq=1 state=done"), None);
        assert_eq!(Record::decode(b"other seq=1"), None);
        assert_eq!(BootId::parse("not-hex"), None);
        // A record of a modkit before `at` and `boot` keeps its counters.
        let old = b"modkit-claim-1 seq=4 state=done errno=0 requests=9 insertions=1 shared=8";
        let old = Record::decode(old).expect("an older record still parses");
        assert_eq!((old.seq, old.at, old.boot), (4, 0, BootId::default()));
        assert_eq!(old.stats.shared, 8);
    }

    #[test]
    fn first_request_claims_and_a_later_one_claims_again() {
        let (_tmp, run) = run_dir();
        let Ticket::Claimant(c) = run.request("xfs", Duration::from_secs(1)).unwrap() else {
            panic!("the first request claims");
        };
        assert!(!c.took_over());
        c.publish(Outcome::Loaded, true).unwrap();
        // Nobody waited: a later request claims afresh (it will find the module live).
        assert!(matches!(
            run.request("xfs", Duration::from_secs(1)).unwrap(),
            Ticket::Claimant(_)
        ));
    }

    #[test]
    fn waiters_take_the_published_outcome_without_claiming() {
        let (_tmp, run) = run_dir();
        let run = Arc::new(run);
        let Ticket::Claimant(claim) = run.request("xfs", Duration::from_secs(5)).unwrap() else {
            panic!("claims");
        };
        let start = Arc::new(Barrier::new(9));
        let waiters: Vec<_> = (0..8)
            .map(|_| {
                let (run, start) = (Arc::clone(&run), Arc::clone(&start));
                std::thread::spawn(move || {
                    start.wait();
                    run.request("xfs", Duration::from_secs(30)).unwrap()
                })
            })
            .collect();
        start.wait();
        std::thread::sleep(Duration::from_millis(100));
        claim.publish(Outcome::Failed(Errno::NOENT), true).unwrap();
        for w in waiters {
            match w.join().unwrap() {
                Ticket::Shared(o) => assert_eq!(o, Outcome::Failed(Errno::NOENT)),
                other => panic!("a waiter got {other:?}"),
            }
        }
        let stats = run.stats().unwrap();
        assert_eq!(stats.len(), 1);
        assert_eq!(
            stats[0].1,
            ClaimStats {
                requests: 9,
                insertions: 1,
                shared: 8
            }
        );
    }

    fn fail(run: &RunDir, module: &str, errno: Errno) {
        let Ticket::Claimant(c) = run.request(module, Duration::from_secs(1)).unwrap() else {
            panic!("{module}: claims");
        };
        c.publish(Outcome::Failed(errno), true).unwrap();
    }

    fn claims(run: &RunDir, module: &str) -> bool {
        matches!(
            run.request(module, Duration::from_secs(1)).unwrap(),
            Ticket::Claimant(_)
        )
    }

    #[test]
    fn a_failure_published_during_a_request_is_shared_a_later_request_claims() {
        let (_tmp, run) = run_dir();
        // A second requester, begun now, that reaches the claim only after the failure.
        let concurrent = RunDir::open(run.path()).expect("opens");
        fail(&run, "intel_uncore", Errno::NODEV);
        match concurrent
            .request("intel_uncore", Duration::from_secs(1))
            .unwrap()
        {
            Ticket::Shared(o) => assert_eq!(o, Outcome::Failed(Errno::NODEV)),
            other => panic!("the overlapping request got {other:?}"),
        }
        // Begun after the failure: claims afresh (the device may be there now).
        let later = RunDir::open(run.path()).expect("opens");
        assert!(claims(&later, "intel_uncore"));
        // Success is never taken this way: the claimant checks the kernel instead.
        let Ticket::Claimant(c) = later.request("xfs", Duration::from_secs(1)).unwrap() else {
            panic!("claims");
        };
        c.publish(Outcome::Loaded, true).unwrap();
        assert!(claims(&concurrent, "xfs"));
    }

    #[test]
    fn transient_failures_and_failures_of_another_boot_are_not_shared_late() {
        let (_tmp, run) = run_dir();
        let concurrent = RunDir::open(run.path()).expect("opens");
        for (module, errno) in [("a", Errno::INTR), ("b", Errno::NOMEM), ("c", Errno::BUSY)] {
            fail(&run, module, errno);
            assert!(
                claims(&concurrent, module),
                "{module}: {errno:?} is retried"
            );
        }
        // A lasting failure stamped by an earlier boot, at a time inside this request.
        let (fd, _) = run.open_file("d").unwrap();
        let mut record = Record {
            seq: 1,
            errno: Errno::NODEV.raw_os_error(),
            at: boottime_ns(),
            boot: BootId::parse("00000000000000000000000000000001").unwrap(),
            ..Record::default()
        };
        write_record(&fd, &record).unwrap();
        assert!(
            claims(&concurrent, "d"),
            "another boot's failure is not shared"
        );
        // The same record of this boot is.
        record.boot = BootId::current();
        record.seq = 3;
        record.claimed = false;
        write_record(&fd, &record).unwrap();
        drop(fd);
        assert!(!BootId::current().is_empty(), "/proc gives a boot id here");
        assert!(matches!(
            concurrent.request("d", Duration::from_secs(1)).unwrap(),
            Ticket::Shared(Outcome::Failed(Errno::NODEV))
        ));
    }

    #[test]
    fn a_dead_claimant_is_taken_over() {
        let (_tmp, run) = run_dir();
        let Ticket::Claimant(c) = run.request("xfs", Duration::from_secs(1)).unwrap() else {
            panic!("claims");
        };
        drop(c); // the holder died: the lock is released, the record still says claimed
        let Ticket::Claimant(next) = run.request("xfs", Duration::from_secs(1)).unwrap() else {
            panic!("the next request takes over");
        };
        assert!(next.took_over());
    }

    #[test]
    fn a_busy_claim_times_out_after_the_bound() {
        let (_tmp, run) = run_dir();
        let _held = run.request("xfs", Duration::from_secs(1)).unwrap();
        let started = Instant::now();
        let t = run.request("xfs", Duration::from_millis(50)).unwrap();
        assert!(matches!(t, Ticket::TimedOut));
        assert!(started.elapsed() >= Duration::from_millis(50));
    }

    #[test]
    fn symlinks_and_open_directories_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let real = tmp.path().join("real");
        std::fs::create_dir(&real).unwrap();
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o700)).unwrap();
        symlink(&real, tmp.path().join("link")).unwrap();
        let err = RunDir::open(tmp.path().join("link")).unwrap_err();
        assert!(matches!(err, ClaimError::Symlink { .. }), "{err}");
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o755)).unwrap();
        let err = RunDir::open(&real).unwrap_err();
        assert!(
            matches!(err, ClaimError::Insecure { mode: 0o755, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("mode 0700"));
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o700)).unwrap();
        let run = RunDir::open(&real).unwrap();
        symlink("/etc/passwd", real.join("xfs.claim")).unwrap();
        let err = run.request("xfs", Duration::from_secs(1)).unwrap_err();
        assert!(matches!(err, ClaimError::Symlink { .. }), "{err}");
        assert_eq!(err.errno(), Errno::LOOP);
        std::fs::write(real.join("a.claim"), "").unwrap();
        std::fs::hard_link(real.join("a.claim"), tmp.path().join("planted")).unwrap();
        let err = run.request("a", Duration::from_secs(1)).unwrap_err();
        assert!(matches!(err, ClaimError::NotRegular { .. }), "{err}");
        let err = run.request("../x", Duration::from_secs(1)).unwrap_err();
        assert!(matches!(err, ClaimError::BadName(_)));
    }
}
