//! Runs kmod and modkit under the same changed conditions, which neither tool can be told
//! about on its command line: a private mount namespace (`unshare -m`, root only) in which
//! some paths are replaced — a directory bound over another (a stand-in `/sys/module`), or
//! a fresh `/dev` holding only `null` and a `log` socket that the test listens on — or an
//! unprivileged user (`setpriv`), for whom `chmod 000` files are really unreadable.
//!
//! Nothing is changed outside the namespace: mount points are created on a new tmpfs or in
//! the test's scratch directory, never in the host's `/dev`.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The shell script run inside the namespace: `bind SRC DST` and `devlog SOCKET HOLD`
/// operations up to `--`, then the command.
const SCRIPT: &str = r#"set -e
mount --make-rprivate /
while [ "$1" != "--" ]; do
  case "$1" in
    bind) mount --bind "$2" "$3" ;;
    devlog)
      : > "$3"
      mount --bind /dev/null "$3"
      mount -t tmpfs modkit-dev /dev
      : > /dev/null
      : > /dev/log
      mount --bind "$3" /dev/null
      mount --bind "$2" /dev/log ;;
    *) echo "sandbox: unknown operation $1" >&2; exit 125 ;;
  esac
  shift 3
done
shift
exec "$@"
"#;

/// Mount operations for one namespace.
#[derive(Debug, Clone, Default)]
pub struct Mounts {
    ops: Vec<[PathBuf; 3]>,
}

impl Mounts {
    pub fn new() -> Mounts {
        Mounts::default()
    }

    /// Bind the directory or file `src` over `dst` (which must exist).
    pub fn bind(mut self, src: &Path, dst: &Path) -> Mounts {
        self.ops
            .push([PathBuf::from("bind"), src.to_path_buf(), dst.to_path_buf()]);
        self
    }

    /// A fresh `/dev` with `null` and, as `log`, the socket bound at `socket`; `hold` is a
    /// scratch file used to carry `/dev/null` over.
    pub fn dev_log(mut self, socket: &Path, hold: &Path) -> Mounts {
        self.ops.push([
            PathBuf::from("devlog"),
            socket.to_path_buf(),
            hold.to_path_buf(),
        ]);
        self
    }

    /// A command running `program` in the namespace; append its arguments with `.args`.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new("unshare");
        cmd.args(["-m", "sh", "-c", SCRIPT, "sh"]);
        for op in &self.ops {
            cmd.args(op);
        }
        cmd.arg("--").arg(program);
        cmd
    }
}

/// Whether this host lets the tests make mount namespaces (root, `unshare` installed).
pub fn namespaces_available() -> bool {
    Mounts::new()
        .command("true")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The user the unprivileged runs use.
pub const UNPRIVILEGED: &str = "nobody";

/// A command running `program` as [`UNPRIVILEGED`] (no supplementary groups).
pub fn unprivileged(program: impl AsRef<OsStr>) -> Command {
    let mut cmd = Command::new("setpriv");
    cmd.args([
        "--reuid",
        UNPRIVILEGED,
        "--regid",
        "nogroup",
        "--clear-groups",
    ])
    .arg(program);
    cmd
}

/// Whether this host can run commands as [`UNPRIVILEGED`] (root, `setpriv` installed).
pub fn unprivileged_available() -> bool {
    unprivileged("true")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
