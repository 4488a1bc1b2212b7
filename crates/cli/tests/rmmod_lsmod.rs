//! rmmod and lsmod on fixture `/sys` and `/proc` trees (MODKIT_SYS, MODKIT_PROC): kmod
//! cannot be pointed at fake trees, so the expected texts are kmod 30's formats
//! (kmod-tools §9, §10), checked by hand against the spec. Only the paths where rmmod
//! stops before `delete_module` are run, so nothing reaches the running kernel.

use std::path::Path;
use std::process::Command;

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let f = Fixture { dir };
        f.module("busy", "live", Some("2"), &[]);
        f.module("held", "live", Some("1"), &["busy", "other"]);
        f.module("idle", "live", Some("0"), &[]);
        f.module("nounload", "live", None, &[]);
        std::fs::create_dir_all(f.sys().join("module/parametersonly/parameters")).unwrap();
        std::fs::write(f.sys().join("module/idle/coresize"), "12345\n").unwrap();
        std::fs::create_dir_all(f.proc()).unwrap();
        std::fs::write(
            f.proc().join("modules"),
            "held 16384 1 busy,other, Live 0x0\nbusy 20480 2 - Live 0x0\nidle 4096 0 - Live 0x0\n\
             vanished 8192 0 - Live 0x0\n",
        )
        .unwrap();
        f
    }

    fn sys(&self) -> std::path::PathBuf {
        self.dir.path().join("sys")
    }

    fn proc(&self) -> std::path::PathBuf {
        self.dir.path().join("proc")
    }

    fn module(&self, name: &str, state: &str, refcnt: Option<&str>, holders: &[&str]) {
        let d = self.sys().join("module").join(name);
        std::fs::create_dir_all(d.join("holders")).unwrap();
        std::fs::write(d.join("initstate"), format!("{state}\n")).unwrap();
        if let Some(r) = refcnt {
            std::fs::write(d.join("refcnt"), format!("{r}\n")).unwrap();
        }
        for h in holders {
            std::fs::create_dir_all(d.join("holders").join(h)).unwrap();
        }
    }

    fn run(&self, tool: &str, args: &[&str]) -> (i32, String, String) {
        use std::os::unix::process::CommandExt;
        let out = Command::new(assert_cmd::cargo::cargo_bin("modkit"))
            .arg0(tool)
            .args(args)
            .env("MODKIT_SYS", self.sys())
            .env("MODKIT_PROC", self.proc())
            .env("MODKIT_MODULE_DIRECTORY", self.dir.path().join("nolib"))
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

#[test]
fn rmmod_checks_in_kmods_order_and_goes_on() {
    let f = Fixture::new();
    let (status, out, err) = f.run(
        "rmmod",
        &[
            "held",
            "busy",
            "nounload",
            "absent",
            "/no/such/dir/held-x.ko",
        ],
    );
    assert_eq!(status, 1);
    assert_eq!(out, "");
    let mut lines: Vec<&str> = err.lines().collect();
    // holders come in directory order: compare the first line as a set of names
    let first = lines.remove(0);
    assert!(
        first == "rmmod: ERROR: Module held is in use by: busy other"
            || first == "rmmod: ERROR: Module held is in use by: other busy",
        "{first}"
    );
    assert_eq!(
        lines,
        vec![
            "rmmod: ERROR: Module busy is in use",
            "rmmod: ERROR: Module unloading is not supported",
            "rmmod: ERROR: Module absent is not currently loaded",
            "rmmod: ERROR: Module /no/such/dir/held_x is not currently loaded",
        ]
    );
}

#[test]
fn rmmod_directory_without_holders_reports_libkmods_error() {
    let f = Fixture::new();
    let (status, _, err) = f.run("rmmod", &["parametersonly"]);
    assert_eq!(status, 1);
    assert_eq!(
        err,
        "rmmod: ERROR: ../libkmod/libkmod-module.c:1998 kmod_module_get_holders() could not open \
         '/sys/module/parametersonly/holders': No such file or directory\n\
         rmmod: ERROR: Module unloading is not supported\n"
    );
}

#[test]
fn lsmod_formats_proc_modules_with_sysfs_values() {
    let f = Fixture::new();
    let (status, out, err) = f.run("lsmod", &[]);
    assert_eq!((status, err.as_str()), (0, ""));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "Module                  Size  Used by");
    // C format `%-19s %8ld  %d`, then the holders
    let held = format!("{:<19} {:>8}  1", "held", 16384);
    assert!(
        lines[1] == format!("{held} busy,other") || lines[1] == format!("{held} other,busy"),
        "{}",
        lines[1]
    );
    assert_eq!(lines[2], "busy                   20480  2");
    assert_eq!(lines[3], "idle                   12345  0");
    assert_eq!(lines[4], "vanished                8192  -2");
    assert_eq!(lines.len(), 5);
}

#[test]
fn lsmod_takes_no_arguments_and_needs_proc_modules() {
    let f = Fixture::new();
    assert_eq!(
        f.run("lsmod", &["-v"]),
        (1, String::new(), "Usage: lsmod\n".into())
    );
    std::fs::remove_file(f.proc().join("modules")).unwrap();
    let (status, _, err) = f.run("lsmod", &[]);
    assert_eq!(status, 1);
    assert!(err.ends_with("Error: could not get list of modules: No such file or directory\n"));
    assert!(Path::new(&f.proc()).is_dir());
}
