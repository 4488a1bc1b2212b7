//! What one testbed boot does: a list of steps (storms, commands, layout captures), and the
//! busybox `/init` script that runs them. Every step starts with a `STEP <i>` console line
//! so the host knows which one a hang happened in; each writes `RESULT {json}` lines
//! labelled with its index.

use super::moddb::ModDb;
use crate::util::Result;
use std::fmt::Write as _;

/// Who loads in a storm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loader {
    /// Debian's kmod 30 `modprobe`.
    Kmod,
    /// modkit's `modprobe`.
    Modkit,
    /// The racer's raw `finit_module` (flag 4 for a file the kernel decompresses).
    Finit,
    /// The racer's raw `init_module` with the image decompressed in user space.
    Init,
}

impl Loader {
    pub fn parse(text: &str) -> Option<Loader> {
        match text {
            "kmod" => Some(Loader::Kmod),
            "modkit" => Some(Loader::Modkit),
            "finit" => Some(Loader::Finit),
            "init" => Some(Loader::Init),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Loader::Kmod => "kmod",
            Loader::Modkit => "modkit",
            Loader::Finit => "finit",
            Loader::Init => "init",
        }
    }

    /// The directory of the tool links of an external loader.
    fn tool_dir(self) -> Option<&'static str> {
        match self {
            Loader::Kmod => Some("/sbin"),
            Loader::Modkit => Some("/usr/local/sbin"),
            Loader::Finit | Loader::Init => None,
        }
    }
}

/// What a storm loads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// One module (dependencies preloaded unless the scenario says otherwise).
    Module(String),
    /// The per-CPU module set of the guest's CPU: its modalias resolved by kmod in the
    /// guest; every loader loads the whole set, as udev does per CPU event.
    CpuSet,
}

impl Target {
    pub fn label(&self) -> &str {
        match self {
            Target::Module(name) => name,
            Target::CpuSet => "cpu",
        }
    }
}

/// Why a storm is run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// Duplicate loads of a module whose dependencies are loaded.
    Duplicates,
    /// The first loader fails: the dependencies are not preloaded (unknown symbols).
    FirstFails,
    /// The module's init function fails (coretemp without the DTHERM CPU feature).
    InitFails,
}

impl Scenario {
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Duplicates => "duplicates",
            Scenario::FirstFails => "first-fails",
            Scenario::InitFails => "init-fails",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Storm {
    pub loader: Loader,
    pub target: Target,
    pub n: usize,
    pub copies: bool,
    pub scenario: Scenario,
}

#[derive(Clone, Debug)]
pub enum Step {
    Storm(Storm),
    /// A command whose output, exit status and resulting module list are recorded.
    Command {
        label: String,
        argv: Vec<String>,
    },
    /// One load of a module alone, with the module-area lines it adds to /proc/vmallocinfo.
    Layout {
        module: String,
    },
}

impl Step {
    /// Seconds the host waits for this step before it declares the boot hung.
    pub fn budget_secs(&self) -> u64 {
        match self {
            Step::Storm(s) => 30 + STORM_TIMEOUT_SECS + 2 * s.n as u64,
            _ => 60,
        }
    }
}

/// The racer's own bound on one storm; past it the loaders are killed and the storm is
/// reported with `"timeout": true`.
pub const STORM_TIMEOUT_SECS: u64 = 180;

const PRELUDE: &str = r#"#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin:/sbin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
# The links udev or systemd make on a real system (devtmpfs has none): kmod static-nodes
# writes its default output by opening /dev/stdout.
ln -sf /proc/self/fd /dev/fd; ln -sf fd/0 /dev/stdin; ln -sf fd/1 /dev/stdout; ln -sf fd/2 /dev/stderr
mount -t tmpfs tmpfs /scratch
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
echo 1 > /proc/sys/kernel/kptr_restrict
racer ident
MODALIAS=$(cat /sys/devices/system/cpu/modalias)
cpuset() { /sbin/modprobe --show-depends "$MODALIAS" 2>/dev/null | awk '$1 == "insmod" && !seen[$2]++ { print $2 }'; }
"#;

/// Loads the per-CPU set once before the first step: a module of the set can stay loaded
/// after its first load in a boot (on 6.12 one keeps a reference the reset cannot drop),
/// so without this the first CPU-set storm of a boot would load one module more than the
/// others, and storms would not start from the same kernel state.
const CPU_SET_WARM_UP: &str = r#"racer load $(cpuset) >/dev/null 2>&1
racer reset
"#;

const POSTLUDE: &str = r#"echo "STEP end"
dmesg | grep -iE 'module|symbol|xfs|coretemp|elf|vmap|execmem' | tail -n 60 | sed 's/^/DMESG /'
echo "DONE"
poweroff -f
"#;

/// Single-quotes a word for the shell.
fn quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

fn guest_path(db: &ModDb, version: &str, name: &str) -> Result<String> {
    Ok(format!("/lib/modules/{version}/{}", db.path(name)?))
}

/// The modules loaded once before a storm, and kept loaded across resets.
fn preload(db: &ModDb, storm: &Storm) -> Vec<String> {
    match (&storm.target, storm.scenario) {
        (Target::Module(name), Scenario::Duplicates) => {
            let mut order = db.load_order(name);
            order.retain(|m| m != name);
            order
        }
        _ => Vec::new(),
    }
}

fn storm_lines(db: &ModDb, version: &str, index: usize, storm: &Storm) -> Result<String> {
    let mut out = String::new();
    let pre = preload(db, storm);
    // Start from a kernel holding exactly the preloaded modules (a failure scenario needs
    // its dependencies absent, whatever ran before).
    writeln!(out, "racer reset --keep {}", quote(&pre.join(",")))?;
    if !pre.is_empty() {
        let paths: Result<Vec<String>> = pre.iter().map(|m| guest_path(db, version, m)).collect();
        writeln!(out, "racer load {}", paths?.join(" "))?;
    }
    let call = match storm.loader {
        Loader::Finit => "finit",
        Loader::Init => "init",
        Loader::Kmod | Loader::Modkit => "exec",
    };
    let copies = if storm.copies { " --copies" } else { "" };
    let head = format!(
        "racer storm --label {index} --n {} --call {call}{copies} --timeout {STORM_TIMEOUT_SECS} --",
        storm.n
    );
    let what = match (storm.loader.tool_dir(), &storm.target) {
        (Some(dir), Target::Module(name)) => format!("{dir}/modprobe {}", quote(name)),
        (Some(dir), Target::CpuSet) => format!("{dir}/modprobe \"$MODALIAS\""),
        (None, Target::Module(name)) => quote(&guest_path(db, version, name)?),
        (None, Target::CpuSet) => "$(cpuset)".to_owned(),
    };
    writeln!(out, "{head} {what}")?;
    writeln!(out, "rm -rf /scratch/*")?;
    Ok(out)
}

/// Whether a boot running `steps` loads the per-CPU set once before its first step
/// ([`CPU_SET_WARM_UP`]): it does when any step is a CPU-set storm.
pub fn warms_up_cpu_set(steps: &[Step]) -> bool {
    steps.iter().any(|s| {
        matches!(
            s,
            Step::Storm(Storm {
                target: Target::CpuSet,
                ..
            })
        )
    })
}

/// The /init script running `steps` on a kernel of `version`.
pub fn init_script(db: &ModDb, version: &str, steps: &[Step]) -> Result<String> {
    let mut script = PRELUDE.to_owned();
    if warms_up_cpu_set(steps) {
        script.push_str(CPU_SET_WARM_UP);
    }
    for (index, step) in steps.iter().enumerate() {
        writeln!(script, "echo \"STEP {index}\"")?;
        match step {
            Step::Storm(storm) => script.push_str(&storm_lines(db, version, index, storm)?),
            Step::Command { argv, .. } => {
                let words: Vec<String> = argv.iter().map(|w| quote(w)).collect();
                writeln!(script, "racer run --label {index} -- {}", words.join(" "))?;
            }
            Step::Layout { module } => {
                let order: Result<Vec<String>> = db
                    .load_order(module)
                    .iter()
                    .map(|m| guest_path(db, version, m))
                    .collect();
                writeln!(script, "racer reset")?;
                writeln!(
                    script,
                    "racer layout --label {index} {} -- {}",
                    quote(module),
                    order?.join(" ")
                )?;
            }
        }
    }
    script.push_str(POSTLUDE);
    Ok(script)
}

/// The correctness sequence of scenario 1 with the tools in `dir` (kmod's or modkit's):
/// modprobe with dependencies, lsmod, modprobe -r, insmod without and with the dependency,
/// rmmod of a module in use, a missing module, a module whose init fails, a dry run.
pub fn correctness(db: &ModDb, version: &str, loader: Loader) -> Result<Vec<Step>> {
    let dir = loader
        .tool_dir()
        .ok_or("correctness needs kmod or modkit")?;
    let xfs = guest_path(db, version, "xfs")?;
    let libcrc32c = guest_path(db, version, "libcrc32c")?;
    let tool = |t: &str| format!("{dir}/{t}");
    let cmds: Vec<(&str, Vec<String>)> = vec![
        ("modprobe", vec![tool("modprobe"), "xfs".into()]),
        ("lsmod", vec![tool("lsmod")]),
        ("kmod-list", vec![tool("kmod"), "list".into()]),
        ("static-nodes", vec![tool("kmod"), "static-nodes".into()]),
        (
            "static-nodes-tmpfiles",
            vec![
                tool("kmod"),
                "static-nodes".into(),
                "--format=tmpfiles".into(),
            ],
        ),
        (
            "static-nodes-devname",
            vec![
                tool("kmod"),
                "static-nodes".into(),
                "-f".into(),
                "devname".into(),
            ],
        ),
        (
            "modprobe-r",
            vec![tool("modprobe"), "-r".into(), "xfs".into()],
        ),
        ("insmod-missing-dep", vec![tool("insmod"), xfs.clone()]),
        ("insmod-dep", vec![tool("insmod"), libcrc32c]),
        ("insmod", vec![tool("insmod"), xfs]),
        ("rmmod-in-use", vec![tool("rmmod"), "libcrc32c".into()]),
        ("rmmod", vec![tool("rmmod"), "xfs".into()]),
        ("rmmod-dep", vec![tool("rmmod"), "libcrc32c".into()]),
        (
            "modprobe-missing",
            vec![tool("modprobe"), "no_such_module".into()],
        ),
        (
            "modprobe-init-fails",
            vec![tool("modprobe"), "coretemp".into()],
        ),
        (
            "dry-run",
            vec![tool("modprobe"), "-n".into(), "-v".into(), "xfs".into()],
        ),
        ("lsmod-end", vec![tool("lsmod")]),
    ];
    Ok(cmds
        .into_iter()
        .map(|(label, argv)| Step::Command {
            label: format!("{}:{label}", loader.name()),
            argv,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> (std::path::PathBuf, ModDb) {
        let dir = std::env::temp_dir().join(format!("xtask-plan-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("modules.dep"),
            "kernel/fs/xfs/xfs.ko: kernel/lib/libcrc32c.ko\nkernel/lib/libcrc32c.ko:\n",
        )
        .unwrap();
        std::fs::write(dir.join("modules.alias"), "").unwrap();
        std::fs::write(dir.join("modules.softdep"), "").unwrap();
        let db = ModDb::read(&dir).expect("reads");
        (dir, db)
    }

    fn storm(target: Target) -> Step {
        Step::Storm(Storm {
            loader: Loader::Modkit,
            target,
            n: 4,
            copies: false,
            scenario: Scenario::Duplicates,
        })
    }

    #[test]
    fn a_boot_with_cpu_set_storms_loads_the_set_once_first() {
        let (dir, db) = db();
        let xfs = init_script(
            &db,
            "6.1.0-56-amd64",
            &[storm(Target::Module("xfs".into()))],
        )
        .unwrap();
        assert!(!xfs.contains(CPU_SET_WARM_UP));
        assert!(xfs.contains("racer reset --keep 'libcrc32c'"), "{xfs}");
        let steps = [storm(Target::Module("xfs".into())), storm(Target::CpuSet)];
        let cpu = init_script(&db, "6.1.0-56-amd64", &steps).unwrap();
        let warm = cpu.find(CPU_SET_WARM_UP).expect("warms up");
        assert!(warm < cpu.find("STEP 0").unwrap(), "before the first step");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
