//! The shared loading context across real processes: many `modkit modprobe` processes
//! released at once against one stand-in kernel kept in a directory
//! (`MODKIT_KERNEL=dir:PATH`, `modkit_sys::DirKernel`), with their claims in a private run
//! directory (`MODKIT_RUN_DIR`). Checked: one insertion per module whatever the number of
//! requesters; a failing first insertion given to every waiter, with no retry; claimants
//! killed with SIGKILL at random moments, over and over, never leave a load undone or a
//! stale claim; a planted symlink and an open run directory are refused.

use modkit_elf::synth::ModuleBuilder;
use modkit_elf::Binding;
use modkit_tests::{modkit_bin, scratch, KMOD_DEPMOD};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

pub const VERSION: &str = "6.6.6-shared";
/// Modules of the fixture: a diamond (top → left, right → base) and a lone one.
pub const MODULES: &[&str] = &["base", "left", "right", "top", "lone"];

fn module(name: &str) -> ModuleBuilder {
    ModuleBuilder::new()
        .modinfo("license", "GPL")
        .modinfo("vermagic", "6.6.6 SMP mod_unload")
        .modinfo("name", name)
        .export(&format!("{name}_fn"), 0x100)
}

/// The fixture root with kmod's indexes and modkit; `None` (skipped) without either.
fn fixture(test: &str) -> Option<(PathBuf, PathBuf)> {
    let Some(bin) = modkit_bin() else {
        modkit_tests::skip(test, "no modkit binary (MODKIT_BIN)");
        return None;
    };
    Some((fixture_tree(test)?, bin))
}

/// The fixture root with kmod's indexes; `None` (skipped) without kmod's depmod.
pub fn fixture_tree(test: &str) -> Option<PathBuf> {
    if !Path::new(KMOD_DEPMOD).exists() {
        modkit_tests::skip(test, "no kmod depmod");
        return None;
    }
    let root = scratch(test);
    let dir = root.join("lib/modules").join(VERSION);
    let files = [
        ("base", module("base")),
        ("left", module("left").undefined("base_fn", Binding::Global)),
        (
            "right",
            module("right").undefined("base_fn", Binding::Global),
        ),
        (
            "top",
            module("top")
                .undefined("left_fn", Binding::Global)
                .undefined("right_fn", Binding::Global),
        ),
        ("lone", module("lone")),
    ];
    for (name, b) in files {
        let p = dir.join(format!("kernel/shared/{name}.ko"));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, b.build()).unwrap();
    }
    let out = Command::new(KMOD_DEPMOD)
        .arg("-b")
        .arg(&root)
        .arg(VERSION)
        .output()
        .unwrap();
    assert!(dir.join("modules.dep.bin").exists(), "{out:?}");
    Some(root)
}

/// A fresh stand-in kernel and run directory under `root`, insertions taking `delay_ms`.
fn fresh_kernel(root: &Path, delay_ms: u64) -> (PathBuf, PathBuf) {
    let kernel = root.join("kernel");
    let run = root.join("run");
    let _ = std::fs::remove_dir_all(&kernel);
    let _ = std::fs::remove_dir_all(&run);
    std::fs::create_dir_all(kernel.join("fail")).unwrap();
    std::fs::write(kernel.join("init_delay_ms"), delay_ms.to_string()).unwrap();
    (kernel, run)
}

/// `n` modprobe processes, each parked on one pipe until `release` closes its write end.
struct Storm {
    children: Vec<Child>,
    release: Option<std::io::PipeWriter>,
}

fn spawn(bin: &Path, root: &Path, kernel: &Path, run: &Path, n: usize, args: &[&str]) -> Storm {
    spawn_bounded(bin, root, kernel, run, n, args, "60")
}

/// [`spawn`] with the claim wait bounded to `timeout` seconds.
fn spawn_bounded(
    bin: &Path,
    root: &Path,
    kernel: &Path,
    run: &Path,
    n: usize,
    args: &[&str],
    timeout: &str,
) -> Storm {
    let (reader, writer) = std::io::pipe().unwrap();
    let children = (0..n)
        .map(|_| {
            Command::new("sh")
                .args(["-c", "read -r _; exec \"$@\"", "sh"])
                .arg(bin)
                .args(["modprobe", "-d"])
                .arg(root)
                .args(["-S", VERSION])
                .args(args)
                .env("MODKIT_KERNEL", format!("dir:{}", kernel.display()))
                .env("MODKIT_RUN_DIR", run)
                .env("MODKIT_CLAIM_TIMEOUT", timeout)
                .stdin(Stdio::from(reader.try_clone().unwrap()))
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    Storm {
        children,
        release: Some(writer),
    }
}

impl Storm {
    fn release(&mut self) {
        drop(self.release.take());
    }

    fn wait(self) -> Vec<Output> {
        self.children
            .into_iter()
            .map(|c| c.wait_with_output().unwrap())
            .collect()
    }
}

/// The stand-in kernel's log of insertion calls for `module`: (successes, other results).
fn calls(kernel: &Path, module: &str) -> (usize, Vec<String>) {
    let log = std::fs::read_to_string(kernel.join("insertions.log")).unwrap_or_default();
    let mine: Vec<&str> = log
        .lines()
        .filter(|l| l.split(' ').next() == Some(module))
        .collect();
    let ok = mine.iter().filter(|l| l.ends_with(" ok")).count();
    let other = mine
        .iter()
        .filter(|l| !l.ends_with(" ok"))
        .map(|l| (*l).to_owned())
        .collect();
    (ok, other)
}

fn live(kernel: &Path, module: &str) -> bool {
    std::fs::read_to_string(kernel.join("sys/module").join(module).join("initstate"))
        .is_ok_and(|s| s == "live\n")
}

#[test]
fn many_processes_make_one_insertion_per_module() {
    let test = "many_processes_make_one_insertion_per_module";
    let Some((root, bin)) = fixture(test) else {
        return;
    };
    let (kernel, run) = fresh_kernel(&root, 100);
    // 256 processes, as many as udev's workers on a 256-CPU machine, each probing the
    // diamond and the lone module as one dependency graph.
    let mut storm = spawn(&bin, &root, &kernel, &run, 256, &["-a", "top", "lone"]);
    storm.release();
    for out in storm.wait() {
        assert!(out.status.success(), "{out:?}");
        assert!(
            out.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for m in MODULES {
        assert_eq!(
            calls(&kernel, m),
            (1, vec![]),
            "{m}: one insertion, no duplicate"
        );
        assert!(live(&kernel, m), "{m} is live");
    }
    // `modkit stats` counts, per module, one insertion; the other requests through the
    // claim were answered by it or by the kernel's state.
    let out = Command::new(&bin)
        .args(["stats", "--json"])
        .env("MODKIT_RUN_DIR", &run)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let stats: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = stats["modules"].as_array().unwrap();
    assert_eq!(rows.len(), MODULES.len(), "{stats}");
    for row in rows {
        let (requests, insertions, shared) = (&row["requests"], &row["insertions"], &row["shared"]);
        assert_eq!(insertions, 1, "{row}");
        // The rest found the module live: before its claim (not counted), or as claimants
        // checking the kernel after the outcome was published (no call). So the requests
        // exceed the shared outcomes by at least the inserting requester's.
        assert!(
            requests.as_u64().unwrap() > shared.as_u64().unwrap(),
            "{row}"
        );
    }
    // Later requesters see the modules live and make no call at all.
    let mut late = spawn(&bin, &root, &kernel, &run, 4, &["top"]);
    late.release();
    assert!(late.wait().iter().all(|o| o.status.success()));
    assert_eq!(calls(&kernel, "top"), (1, vec![]));
}

#[test]
fn a_failing_first_insertion_is_every_waiters_error() {
    let test = "a_failing_first_insertion_is_every_waiters_error";
    let Some((root, bin)) = fixture(test) else {
        return;
    };
    let (kernel, run) = fresh_kernel(&root, 1500);
    std::fs::write(kernel.join("fail/base"), "2\n").unwrap();
    let mut storm = spawn(&bin, &root, &kernel, &run, 32, &["top"]);
    storm.release();
    for out in storm.wait() {
        assert_eq!(out.status.code(), Some(1), "{out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        // kmod's words for ENOENT from the kernel.
        assert!(
            err.contains("could not insert 'top': Unknown symbol in module"),
            "{err}"
        );
    }
    // One call reached the kernel; the waiters took its error instead of retrying.
    assert_eq!(calls(&kernel, "base"), (0, vec!["base E2".to_owned()]));
    for m in ["left", "right", "top"] {
        assert_eq!(calls(&kernel, m), (0, vec![]), "{m} never attempted");
    }
}

#[test]
fn killed_claimants_never_leave_a_load_undone() {
    let test = "killed_claimants_never_leave_a_load_undone";
    let Some((root, bin)) = fixture(test) else {
        return;
    };
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move |bound: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % bound
    };
    for round in 0..12 {
        let (kernel, run) = fresh_kernel(&root, 30);
        let mut storm = spawn(&bin, &root, &kernel, &run, 12, &["-a", "top", "lone"]);
        storm.release();
        std::thread::sleep(std::time::Duration::from_millis(next(200)));
        let victims: Vec<usize> = (0..12).filter(|_| next(3) == 0).collect();
        for &v in &victims {
            let _ = storm.children[v].kill();
        }
        for (i, out) in storm.wait().into_iter().enumerate() {
            if !victims.contains(&i) {
                assert!(out.status.success(), "round {round}: survivor {i}: {out:?}");
            }
        }
        // Whatever was killed, one more request completes at once and nothing is stale.
        let mut after = spawn(&bin, &root, &kernel, &run, 1, &["-a", "top", "lone"]);
        after.release();
        let out = after.wait().remove(0);
        assert!(out.status.success(), "round {round}: {out:?}");
        for m in MODULES {
            let (ok, other) = calls(&kernel, m);
            assert!(live(&kernel, m), "round {round}: {m} not live");
            assert!(
                ok <= 1 && other.is_empty(),
                "round {round}: {m}: {ok} ok, {other:?}"
            );
        }
    }
}

/// A claim held for longer than the bound (a module whose init requests itself, a stuck
/// claimant) delays a requester by the bound only: it then inserts as kmod would, and says so.
#[test]
fn every_wait_is_bounded() {
    let test = "every_wait_is_bounded";
    let Some((root, bin)) = fixture(test) else {
        return;
    };
    let (kernel, run) = fresh_kernel(&root, 3000);
    let mut holder = spawn(&bin, &root, &kernel, &run, 1, &["lone"]);
    holder.release();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let started = std::time::Instant::now();
    let mut late = spawn_bounded(&bin, &root, &kernel, &run, 1, &["lone"], "0.3");
    late.release();
    let out = late.wait().remove(0);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("lone: shared loading context: waited 0.3 s for another loader's claim; inserting without it"),
        "{err}"
    );
    // It went on to the kernel itself: its call ends once the holder's has committed.
    assert!(out.status.success(), "{out:?}");
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    assert!(holder.wait()[0].status.success());
    assert_eq!(calls(&kernel, "lone"), (1, vec!["lone EEXIST".to_owned()]));
}

#[test]
fn a_planted_symlink_or_an_open_run_directory_is_refused() {
    let test = "a_planted_symlink_or_an_open_run_directory_is_refused";
    let Some((root, bin)) = fixture(test) else {
        return;
    };
    let (kernel, run) = fresh_kernel(&root, 0);
    std::fs::create_dir(&run).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", run.join("lone.claim")).unwrap();
    let mut storm = spawn(&bin, &root, &kernel, &run, 1, &["lone"]);
    storm.release();
    let out = storm.wait().remove(0);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("lone.claim: is a symbolic link; refusing to use it"),
        "{err}"
    );
    assert_eq!(calls(&kernel, "lone"), (0, vec![]), "nothing inserted");

    std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o777)).unwrap();
    let mut storm = spawn(&bin, &root, &kernel, &run, 1, &["base"]);
    storm.release();
    let out = storm.wait().remove(0);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("must be a directory owned by uid"), "{err}");
    assert_eq!(calls(&kernel, "base"), (0, vec![]));
}

/// An unprivileged user can neither open the root-owned run directory nor leave anything
/// in it (run as `nobody` through setpriv, when the tests run as root).
#[test]
fn an_unprivileged_user_cannot_claim() {
    let test = "an_unprivileged_user_cannot_claim";
    let Some((root, bin)) = fixture(test) else {
        return;
    };
    if !rustix_is_root() || !Path::new("/usr/bin/setpriv").exists() {
        return modkit_tests::skip(test, "needs root and setpriv");
    }
    let (kernel, run) = fresh_kernel(&root, 0);
    std::fs::create_dir(&run).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o700)).unwrap();
    // The stand-in kernel and the tree must be readable by nobody.
    let _ = Command::new("chmod")
        .args(["-R", "a+rwX"])
        .arg(&kernel)
        .status();
    let _ = Command::new("chmod")
        .args(["-R", "a+rX"])
        .arg(root.join("lib"))
        .status();
    let out = Command::new("/usr/bin/setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(&bin)
        .args(["modprobe", "-d"])
        .arg(&root)
        .args(["-S", VERSION, "lone"])
        .env("MODKIT_KERNEL", format!("dir:{}", kernel.display()))
        .env("MODKIT_RUN_DIR", &run)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Permission denied"), "{err}");
    assert_eq!(
        std::fs::read_dir(&run).unwrap().count(),
        0,
        "no claim file left"
    );
    let _ = std::io::stdout().flush();
}

fn rustix_is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| {
        use std::os::unix::fs::MetadataExt;
        m.uid() == 0
    })
}

/// `modkit stats --json` for a claim record of xfs with three shared answers, on a tree of
/// `label`: the `saved_by_kernel` object.
fn stats_of_three_shared_xfs_answers(test: &str, label: &str) -> Option<serde_json::Value> {
    let Some(bin) = modkit_bin() else {
        modkit_tests::skip(test, "no modkit binary (MODKIT_BIN)");
        return None;
    };
    let trees = modkit_tests::trees::trees(test)?;
    let Some(tree) = trees.iter().find(|t| t.label == label) else {
        modkit_tests::skip(test, &format!("no {label} tree"));
        return None;
    };
    let indexed = modkit_tests::trees::kmod_indexed(tree);
    let root = scratch(&format!("{test}-{label}"));
    let (proc_dir, run) = (root.join("proc"), root.join("run"));
    std::fs::create_dir_all(proc_dir.join("sys/kernel")).unwrap();
    std::fs::write(
        proc_dir.join("sys/kernel/osrelease"),
        format!("{}\n", tree.version),
    )
    .unwrap();
    std::fs::create_dir_all(&run).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o700)).unwrap();
    // A record as modkit before `at=`/`boot=` wrote it: its counters still count.
    let record = "modkit-claim-1 seq=1 state=done errno=0 requests=4 insertions=1 shared=3\n";
    std::fs::write(run.join("xfs.claim"), format!("{record:<160}")).unwrap();
    let modules = indexed.root.join("lib/modules");
    let out = Command::new(&bin)
        .args(["stats", "--json"])
        .env("MODKIT_RUN_DIR", &run)
        .env("MODKIT_PROC", &proc_dir)
        .env("MODKIT_MODULE_DIRECTORY", modules)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let stats: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let xfs = &stats["modules"][0];
    assert_eq!(
        (&xfs["module"], &xfs["shared"]),
        (&serde_json::json!("xfs"), &serde_json::json!(3))
    );
    Some(xfs["saved_by_kernel"].clone())
}

fn field(v: &serde_json::Value, name: &str) -> u64 {
    v[name]
        .as_u64()
        .unwrap_or_else(|| panic!("{name} missing: {v}"))
}

/// `modkit stats` on the real Debian 6.1 xfs (uncompressed): three shared answers did not
/// cost three 6.1 duplicates of 6,500 KiB (a read buffer of the 4.2 MB file and the whole
/// layout each), three read buffers on 6.4, nothing on 6.12 (whose `finit_module` shares
/// the first result itself).
#[test]
fn stats_show_what_the_shared_answers_did_not_cost() {
    let test = "stats_show_what_the_shared_answers_did_not_cost";
    let Some(saved) = stats_of_three_shared_xfs_answers(test, "6.1") else {
        return;
    };
    let (v61, v64, v612) = (
        &saved["6.1"]["finit_module"],
        &saved["6.4"]["finit_module"],
        &saved["6.12"]["finit_module"],
    );
    assert!(
        saved["6.1"].get("init_module").is_none(),
        "an uncompressed file: {saved}"
    );
    assert_eq!(field(v61, "peak_vmalloc_kb_not_used"), 3 * 6500, "{saved}");
    let file = field(v61, "file_bytes_not_read");
    assert!(file > 3 * 4_000_000 && file < 3 * 4_400_000, "{saved}");
    assert!(
        field(v61, "layout_bytes_not_allocated") > 3 * 2_000_000,
        "{saved}"
    );
    assert_eq!(field(v64, "file_bytes_not_read"), file, "{saved}");
    assert_eq!(field(v64, "layout_bytes_not_allocated"), 0, "{saved}");
    for f in [
        "file_bytes_not_read",
        "layout_bytes_not_allocated",
        "peak_vmalloc_kb_not_used",
    ] {
        assert_eq!(field(v612, f), 0, "{f}: {saved}");
    }
}

/// On the 6.12 tree (xfs.ko.xz), kmod 30's duplicates would have been `init_module` calls
/// of the decompressed image, which the kernel's de-duplication never catches: on 6.12 the
/// shared answers saved three image copies (and, in the model's race, layouts), where
/// modkit's own `finit_module` costs nothing. The 6.1 model has no in-kernel decompression:
/// no `finit_module` figures there.
#[test]
fn stats_show_what_kmods_init_module_duplicates_would_have_cost() {
    let test = "stats_show_what_kmods_init_module_duplicates_would_have_cost";
    let Some(saved) = stats_of_three_shared_xfs_answers(test, "6.12") else {
        return;
    };
    assert!(saved["6.1"].get("finit_module").is_none(), "{saved}");
    assert!(saved["6.1"].get("init_module").is_some(), "{saved}");
    let (finit, init) = (
        &saved["6.12"]["finit_module"],
        &saved["6.12"]["init_module"],
    );
    assert_eq!(field(finit, "file_bytes_not_read"), 0, "{saved}");
    let image = field(init, "file_bytes_not_read");
    assert!(image > 3 * 4_000_000, "three decompressed images: {saved}");
    assert!(
        field(init, "peak_vmalloc_kb_not_used") > 3 * 4000,
        "{saved}"
    );
}
