//! modprobe and the kernel command line, read from `$MODKIT_PROC/cmdline` (kmod always
//! reads the real /proc/cmdline, so these are checked against kmod-tools §5.4 and §5.5):
//! options and blacklist entries come after every configuration file in `-c`.

use std::process::Command;

fn modprobe(proc: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    use std::os::unix::process::CommandExt;
    let out = Command::new(assert_cmd::cargo::cargo_bin("modkit"))
        .arg0("modprobe")
        .args(args)
        .env("MODKIT_PROC", proc)
        .env_remove("MODPROBE_OPTIONS")
        .env_remove("KMOD_LOG")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn command_line_options_and_blacklist_come_last_in_show_config() {
    let tmp = tempfile::tempdir().unwrap();
    let proc = tmp.path().join("proc");
    std::fs::create_dir_all(&proc).unwrap();
    std::fs::write(
        proc.join("cmdline"),
        "quiet my-mod.p1=1 \"q-mod.s=a b\" modprobe.blacklist=aa,b-b x=y.z\n",
    )
    .unwrap();
    let conf = tmp.path().join("c.conf");
    std::fs::write(&conf, "options my_mod from_file=1\nblacklist first\n").unwrap();
    let root = tmp.path().join("root");
    let (status, out, err) = modprobe(
        &proc,
        &[
            "-d",
            root.to_str().unwrap(),
            "-S",
            "1",
            "-C",
            conf.to_str().unwrap(),
            "-c",
        ],
    );
    assert_eq!((status, err.as_str()), (0, ""));
    assert_eq!(
        out,
        "blacklist first\nblacklist aa\nblacklist b-b\noptions my_mod from_file=1\n\
         options my_mod p1=1\noptions q_mod s=\"a b\"\n\
         \n# End of configuration files. Dumping indexes now:\n\n"
    );
}

#[test]
fn command_line_options_reach_the_module() {
    let tmp = tempfile::tempdir().unwrap();
    let proc = tmp.path().join("proc");
    std::fs::create_dir_all(&proc).unwrap();
    std::fs::write(proc.join("cmdline"), "cmd-only.x=2\n").unwrap();
    let conf = tmp.path().join("c.conf");
    std::fs::write(&conf, "install cmd-only true\noptions cmd-only y=1\n").unwrap();
    let root = tmp.path().join("root");
    let (status, out, _) = modprobe(
        &proc,
        &[
            "-d",
            root.to_str().unwrap(),
            "-S",
            "1",
            "-C",
            conf.to_str().unwrap(),
            "-D",
            "cmd-only",
            "z=3",
        ],
    );
    assert_eq!(status, 0);
    assert_eq!(out, "install true y=1 x=2 z=3\n");
}
