//! The loader against a recording fake kernel, on a synthetic module tree whose indexes
//! are written by modkit's depmod: resolution, probe lists, insertion paths (finit flags,
//! compressed files, ENOSYS fallback, force stripping), EEXIST and state rules, install
//! commands, blacklist, softdep loops and removal.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use modkit_config::modprobe_d::{ModprobeConfig, Syntax};
use modkit_depmod::database::Database;
use modkit_elf::synth::ModuleBuilder;
use modkit_elf::{Binding, Compression};
use modkit_loader::insert::Force;
use modkit_loader::probe::{ProbeOptions, Probed};
use modkit_loader::remove::{RemoveError, RemoveOptions};
use modkit_loader::{Event, Loader, Module, Notice};
use modkit_sys::{
    DeleteFlags, Errno, FinitFlags, InitState, Kernel, KernelCompression, LoadedModule,
};

const VERSION: &str = "1.0";

/// One system call the fake saw.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Call {
    Finit {
        name: String,
        params: String,
        flags: u32,
    },
    Init {
        name: String,
        params: String,
        vermagic: bool,
    },
    Delete {
        name: String,
        force: bool,
    },
}

#[derive(Default)]
struct State {
    calls: Vec<Call>,
    states: HashMap<String, InitState>,
    refcnt: HashMap<String, u32>,
    holders: HashMap<String, Vec<String>>,
    fail: HashMap<String, Errno>,
    /// delete_module answers EAGAIN this many times first.
    busy: u32,
}

/// A kernel that records calls and keeps module states in memory.
#[derive(Default)]
struct Fake {
    state: Mutex<State>,
    compression: Option<KernelCompression>,
    no_finit: bool,
}

fn modinfo_name(image: &[u8]) -> (String, bool) {
    let m = modkit_elf::Module::parse(image).expect("a module image");
    let info = m.modinfo().expect("modinfo");
    let name = info
        .iter()
        .find(|(k, _)| *k == b"name")
        .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
        .unwrap_or_default();
    let vermagic = info.iter().any(|(k, _)| *k == b"vermagic");
    (name, vermagic)
}

impl Fake {
    fn with(self, f: impl FnOnce(&mut State)) -> Fake {
        f(&mut self.state.lock().unwrap());
        self
    }

    fn calls(&self) -> Vec<Call> {
        self.state.lock().unwrap().calls.clone()
    }

    fn load(&self, name: &str, call: Call) -> Result<(), Errno> {
        let mut s = self.state.lock().unwrap();
        s.calls.push(call);
        if let Some(&e) = s.fail.get(name) {
            return Err(e);
        }
        if s.states.contains_key(name) {
            return Err(Errno::EXIST);
        }
        s.states.insert(name.to_owned(), InitState::Live);
        Ok(())
    }
}

impl Kernel for Fake {
    fn finit_module(&self, file: &File, params: &str, flags: FinitFlags) -> Result<(), Errno> {
        if self.no_finit {
            return Err(Errno::NOSYS);
        }
        let mut bytes = Vec::new();
        let mut f = file.try_clone().unwrap();
        f.read_to_end(&mut bytes).unwrap();
        // The kernel reads at offsets of its own: the caller's file offset is unchanged.
        f.rewind().unwrap();
        let image = modkit_elf::decompress(&bytes).unwrap();
        let (name, _) = modinfo_name(&image);
        let call = Call::Finit {
            name: name.clone(),
            params: params.to_owned(),
            flags: flags.0,
        };
        self.load(&name, call)
    }

    fn init_module(&self, image: &[u8], params: &str) -> Result<(), Errno> {
        let (name, vermagic) = modinfo_name(image);
        let call = Call::Init {
            name: name.clone(),
            params: params.to_owned(),
            vermagic,
        };
        self.load(&name, call)
    }

    fn delete_module(&self, name: &str, flags: DeleteFlags) -> Result<(), Errno> {
        let mut s = self.state.lock().unwrap();
        s.calls.push(Call::Delete {
            name: name.to_owned(),
            force: flags.force,
        });
        if let Some(&e) = s.fail.get(name) {
            return Err(e);
        }
        if s.busy > 0 {
            s.busy -= 1;
            return Err(Errno::AGAIN);
        }
        s.states.remove(name).map(|_| ()).ok_or(Errno::NOENT)
    }

    fn initstate(&self, name: &str) -> Result<Option<InitState>, Errno> {
        Ok(self.state.lock().unwrap().states.get(name).copied())
    }

    fn loaded_modules(&self) -> Result<Vec<LoadedModule>, Errno> {
        Ok(Vec::new())
    }

    fn holders(&self, name: &str) -> Result<Vec<String>, Errno> {
        let s = self.state.lock().unwrap();
        Ok(s.holders.get(name).cloned().unwrap_or_default())
    }

    fn refcnt(&self, name: &str) -> Result<u32, Errno> {
        let s = self.state.lock().unwrap();
        match s.states.contains_key(name) {
            true => Ok(s.refcnt.get(name).copied().unwrap_or(0)),
            false => Err(Errno::NOENT),
        }
    }

    fn compression(&self) -> Option<KernelCompression> {
        self.compression
    }
}

/// The synthetic tree: `base` exports `fb`; `mid` uses it and exports `fm`; `top` uses
/// `fm`; `xz` is compressed; `alpha` has an alias; `nameless` is listed nowhere.
struct Tree {
    tmp: tempfile::TempDir,
}

fn module(name: &str) -> ModuleBuilder {
    ModuleBuilder::new()
        .modinfo("license", "GPL")
        .modinfo("vermagic", "1.0 SMP mod_unload")
        .modinfo("name", name)
        .version(0x1234, "module_layout")
}

impl Tree {
    fn new() -> Tree {
        let tmp = tempfile::tempdir().unwrap();
        let t = Tree { tmp };
        t.put("kernel/base.ko", module("base").export("fb", 1).build());
        t.put(
            "kernel/mid.ko",
            module("mid")
                .undefined("fb", Binding::Global)
                .export("fm", 2)
                .build(),
        );
        t.put(
            "kernel/top.ko",
            module("top").undefined("fm", Binding::Global).build(),
        );
        t.put(
            "kernel/xz.ko.xz",
            module("xz").compression(Compression::Xz).build(),
        );
        t.put(
            "kernel/alpha.ko",
            module("alpha").modinfo("alias", "pci:v0000ABCDd*").build(),
        );
        t.put("kernel/p1.ko", module("p1").build());
        t.put("kernel/p2.ko", module("p2").build());
        std::fs::write(t.dir().join("modules.builtin"), "kernel/bin.ko\n").unwrap();
        let opts = modkit_depmod::Options {
            basedir: t.root().to_path_buf(),
            version: VERSION.into(),
            config_paths: Some(vec![t.root().join("none")]),
            ..Default::default()
        };
        struct Quiet;
        impl modkit_depmod::Reporter for Quiet {
            fn message(&mut self, _: modkit_depmod::Level, _: &str) {}
            fn stdout(&mut self, _: &[u8]) {}
        }
        modkit_depmod::run(&opts, &mut Quiet).expect("depmod");
        t
    }

    fn root(&self) -> &Path {
        self.tmp.path()
    }

    fn dir(&self) -> PathBuf {
        self.root().join("lib/modules").join(VERSION)
    }

    fn put(&self, rel: &str, bytes: Vec<u8>) {
        let p = self.dir().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }

    fn loader(&self, config: &str, kernel: Fake) -> Loader<Fake> {
        let mut cfg = ModprobeConfig::default();
        cfg.parse_file(
            Path::new("t.conf"),
            config.as_bytes(),
            Syntax::default(),
            &mut |e| panic!("config: {e}"),
        );
        Loader::new(Database::open(self.dir()), cfg, kernel)
    }
}

fn names(ms: &[Module]) -> Vec<String> {
    ms.iter()
        .map(|m| String::from_utf8_lossy(&m.name).into_owned())
        .collect()
}

fn one(l: &Loader<Fake>, name: &str) -> Module {
    let found = l.lookup(name.as_bytes()).unwrap();
    assert_eq!(found.len(), 1, "{name}: {found:?}");
    found.into_iter().next().unwrap()
}

/// Probe and collect the action lines as modprobe -D shows them.
fn probe(l: &Loader<Fake>, name: &str, opts: ProbeOptions) -> (Result<Probed, Errno>, Vec<String>) {
    let m = one(l, name);
    let mut lines = Vec::new();
    let r = l.probe(&m, b"", opts, &mut |e| lines.push(show(e)));
    (r, lines)
}

fn show(e: Event) -> String {
    let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    match e {
        Event::Insmod { path, options } => format!(
            "insmod {} {}",
            path.file_name().unwrap().to_string_lossy(),
            s(&options)
        ),
        Event::Install { command, options } => format!("install {} {}", s(&command), s(&options)),
        Event::Builtin { name } => format!("builtin {}", s(&name)),
        Event::Rmmod { name } => format!("rmmod {}", s(&name)),
        Event::Remove { command } => format!("remove {}", s(&command)),
        Event::Notice(n) => format!("notice {n:?}"),
    }
}

fn dry() -> ProbeOptions {
    ProbeOptions {
        ignore_loaded: true,
        dry_run: true,
        ..Default::default()
    }
}

#[test]
fn resolution_order_config_alias_first_then_indexes() {
    let t = Tree::new();
    let l = t.loader("alias mid p1\ninstall cmdonly echo\n", Fake::default());
    assert_eq!(names(&l.lookup(b"mid").unwrap()), vec!["p1"]);
    assert_eq!(names(&l.lookup(b"top").unwrap()), vec!["top"]);
    assert_eq!(names(&l.lookup(b"symbol:fb").unwrap()), vec!["base"]);
    let cmd = l.lookup(b"cmdonly").unwrap();
    assert_eq!(names(&cmd), vec!["cmdonly"]);
    assert!(cmd[0].path.is_none());
    let alias = l.lookup(b"pci:v0000ABCDd00001111").unwrap();
    assert_eq!(names(&alias), vec!["alpha"]);
    assert_eq!(
        alias[0].alias.as_deref(),
        Some(&b"pci:v0000ABCDd00001111"[..])
    );
    let builtin = l.lookup(b"bin").unwrap();
    assert!(builtin[0].builtin);
    assert!(l.lookup(b"nothing").unwrap().is_empty());
    assert!(l.lookup(b"bad[").is_err());
}

#[test]
fn dependencies_first_deepest_first_with_trailing_space() {
    let t = Tree::new();
    let l = t.loader("options top a=1\n", Fake::default());
    let (r, lines) = probe(&l, "top", dry());
    assert_eq!(r, Ok(Probed::Done));
    assert_eq!(
        lines,
        vec!["insmod base.ko ", "insmod mid.ko ", "insmod top.ko a=1 "]
    );
}

#[test]
fn softdeps_surround_and_loops_end() {
    let t = Tree::new();
    let l = t.loader(
        "softdep top pre: p1 post: p2\nsoftdep p1 pre: top\nsoftdep p2 post: p1 top\n",
        Fake::default(),
    );
    let (_, lines) = probe(&l, "top", dry());
    assert_eq!(
        lines,
        vec![
            "insmod base.ko ",
            "insmod mid.ko ",
            "insmod p1.ko ",
            "insmod top.ko ",
            "insmod p2.ko "
        ]
    );
}

#[test]
fn softdep_disables_the_install_command_and_i_ignores_own_only() {
    let t = Tree::new();
    let l = t.loader(
        "install top /bin/false\nsoftdep top pre: p1\ninstall mid echo mid\n",
        Fake::default(),
    );
    let (_, lines) = probe(&l, "top", dry());
    assert_eq!(lines.last().unwrap(), "insmod top.ko ");
    assert!(lines.contains(&"install echo mid ".to_string()));
    let opts = ProbeOptions {
        ignore_commands: true,
        ..dry()
    };
    let (_, lines) = probe(&l, "top", opts);
    assert!(!lines.contains(&"insmod p1.ko ".to_string()));
    assert!(lines.contains(&"install echo mid ".to_string()));
}

#[test]
fn real_insertion_uses_finit_and_records_options() {
    let t = Tree::new();
    let l = t.loader("options top a=1\n", Fake::default());
    let m = one(&l, "top");
    let r = l.probe(&m, b"b=2", ProbeOptions::default(), &mut |_| {});
    assert_eq!(r, Ok(Probed::Done));
    let calls = l.kernel.calls();
    assert_eq!(calls.len(), 3);
    assert_eq!(
        calls[2],
        Call::Finit {
            name: "top".into(),
            params: "a=1 b=2".into(),
            flags: 0
        }
    );
    // Everything is live now: a second probe does nothing, --first-time fails.
    let again = l.probe(&m, b"", ProbeOptions::default(), &mut |_| {});
    assert_eq!(again, Ok(Probed::AlreadyLoaded));
    let first = ProbeOptions {
        fail_on_loaded: true,
        ..Default::default()
    };
    assert_eq!(l.probe(&m, b"", first, &mut |_| {}), Err(Errno::EXIST));
    assert_eq!(l.kernel.calls().len(), 3);
}

#[test]
fn compressed_files_and_kernel_decompression() {
    let t = Tree::new();
    // The kernel cannot decompress: userspace decompression and init_module.
    let l = t.loader("", Fake::default());
    let force = ProbeOptions {
        force: Force {
            modversion: true,
            vermagic: true,
        },
        ..Default::default()
    };
    l.probe(&one(&l, "xz"), b"", force, &mut |_| {}).unwrap();
    assert_eq!(
        l.kernel.calls(),
        vec![Call::Init {
            name: "xz".into(),
            params: "".into(),
            vermagic: false
        }]
    );
    // The kernel decompresses xz: finit with COMPRESSED_FILE and the force flags.
    let k = Fake {
        compression: Some(KernelCompression::Xz),
        ..Default::default()
    };
    let l = t.loader("", k);
    l.probe(&one(&l, "xz"), b"", force, &mut |_| {}).unwrap();
    assert_eq!(
        l.kernel.calls(),
        vec![Call::Finit {
            name: "xz".into(),
            params: "".into(),
            flags: 7
        }]
    );
}

#[test]
fn enosys_falls_back_to_init_module() {
    let t = Tree::new();
    let k = Fake {
        no_finit: true,
        ..Default::default()
    };
    let l = t.loader("", k);
    l.probe(&one(&l, "p1"), b"x=1", ProbeOptions::default(), &mut |_| {})
        .unwrap();
    assert_eq!(
        l.kernel.calls(),
        vec![Call::Init {
            name: "p1".into(),
            params: "x=1".into(),
            vermagic: true
        }]
    );
}

#[test]
fn a_failing_dependency_stops_and_leaves_nothing_after_it() {
    let t = Tree::new();
    let k = Fake::default().with(|s| {
        s.fail.insert("mid".into(), Errno::NOEXEC);
    });
    let l = t.loader("softdep top pre: p2\nsoftdep mid pre: p1\n", k);
    let mut notices = Vec::new();
    let r = l.probe(&one(&l, "top"), b"", ProbeOptions::default(), &mut |e| {
        notices.push(e)
    });
    assert_eq!(r, Err(Errno::NOEXEC));
    let loaded: Vec<String> = l
        .kernel
        .calls()
        .iter()
        .map(|c| match c {
            Call::Finit { name, .. } | Call::Init { name, .. } | Call::Delete { name, .. } => {
                name.clone()
            }
        })
        .collect();
    assert_eq!(loaded, vec!["base", "p1", "mid"]);
    assert!(matches!(
        notices.last(),
        Some(Event::Notice(Notice::InsertFailed {
            errno: Errno::NOEXEC,
            ..
        }))
    ));
}

#[test]
fn failing_softdep_is_ignored() {
    let t = Tree::new();
    let k = Fake::default().with(|s| {
        s.fail.insert("p1".into(), Errno::INVAL);
    });
    let l = t.loader("softdep top pre: p1\n", k);
    let r = l.probe(&one(&l, "top"), b"", ProbeOptions::default(), &mut |_| {});
    assert_eq!(r, Ok(Probed::Done));
    assert_eq!(l.kernel.initstate("top"), Ok(Some(InitState::Live)));
}

#[test]
fn eexist_race_counts_as_success() {
    let t = Tree::new();
    let k = Fake::default().with(|s| {
        s.fail.insert("p1".into(), Errno::EXIST);
    });
    let l = t.loader("", k);
    let r = l.probe(&one(&l, "p1"), b"", ProbeOptions::default(), &mut |_| {});
    assert_eq!(r, Ok(Probed::Done));
    let first = ProbeOptions {
        fail_on_loaded: true,
        ..Default::default()
    };
    let r = l.probe(&one(&l, "p1"), b"", first, &mut |_| {});
    assert_eq!(r, Err(Errno::EXIST));
}

#[test]
fn coming_is_not_in_kernel() {
    let t = Tree::new();
    let k = Fake::default().with(|s| {
        s.states.insert("p1".into(), InitState::Coming);
    });
    let l = t.loader("", k);
    let r = l.probe(&one(&l, "p1"), b"", ProbeOptions::default(), &mut |_| {});
    // The kernel answers EEXIST for the duplicate: success.
    assert_eq!(r, Ok(Probed::Done));
    assert_eq!(l.kernel.calls().len(), 1);
}

#[test]
fn blacklist_only_through_an_alias_unless_b() {
    let t = Tree::new();
    let l = t.loader("blacklist alpha\nblacklist p1\n", Fake::default());
    let (r, lines) = probe(&l, "pci:v0000ABCDd00000001", dry());
    assert_eq!((r, lines.len()), (Ok(Probed::Blacklisted), 0));
    let (r, _) = probe(&l, "p1", dry());
    assert_eq!(r, Ok(Probed::Done));
    let b = ProbeOptions {
        blacklist: true,
        ..dry()
    };
    assert_eq!(probe(&l, "p1", b).0, Ok(Probed::Blacklisted));
}

#[test]
fn install_command_failure_is_einval_with_a_notice() {
    let t = Tree::new();
    let l = t.loader(
        "install p1 exit 5 $CMDLINE_OPTS\noptions p1 z=1\n",
        Fake::default(),
    );
    let mut events = Vec::new();
    let r = l.probe(&one(&l, "p1"), b"", ProbeOptions::default(), &mut |e| {
        events.push(e)
    });
    assert_eq!(r, Err(Errno::INVAL));
    assert!(
        events.contains(&Event::Notice(Notice::InstallCommandFailed {
            command: b"exit 5 z=1 ".to_vec(),
            name: b"p1".to_vec(),
            retcode: 5
        }))
    );
    assert!(l.kernel.calls().is_empty());
}

#[test]
fn module_without_file_or_command() {
    let t = Tree::new();
    let l = t.loader("alias zzz nosuchmod\n", Fake::default());
    let (r, lines) = probe(&l, "zzz", dry());
    assert_eq!((r, lines.len()), (Ok(Probed::Done), 0));
    let mut events = Vec::new();
    let m = one(&l, "zzz");
    let r = l.probe(&m, b"", ProbeOptions::default(), &mut |e| events.push(e));
    assert_eq!(r, Err(Errno::NOENT));
    assert_eq!(
        events,
        vec![Event::Notice(Notice::ModuleNotFoundByName {
            name: b"nosuchmod".to_vec()
        })]
    );
}

fn live(names: &[&str]) -> Fake {
    Fake::default().with(|s| {
        for n in names {
            s.states.insert((*n).into(), InitState::Live);
        }
    })
}

#[test]
fn removal_with_unused_dependencies() {
    let t = Tree::new();
    let k = live(&["top", "mid", "base"]).with(|s| {
        s.refcnt.insert("base".into(), 1);
    });
    let l = t.loader("", k);
    let mut lines = Vec::new();
    l.remove(&one(&l, "top"), RemoveOptions::default(), &mut |e| {
        lines.push(show(e))
    })
    .unwrap();
    // Single pass in load order: base is still used by mid at that moment.
    assert_eq!(lines, vec!["rmmod top", "rmmod mid"]);
    assert_eq!(l.kernel.initstate("base"), Ok(Some(InitState::Live)));
}

#[test]
fn removal_errors() {
    let t = Tree::new();
    let k = live(&["p1"]).with(|s| {
        s.refcnt.insert("p1".into(), 2);
    });
    let l = t.loader("remove p2 exit 1\n", k);
    let opts = RemoveOptions::default();
    let r = l.remove(&one(&l, "p1"), opts, &mut |_| {});
    assert_eq!(r, Err(RemoveError::InUse(b"p1".to_vec())));
    let r = l.remove(&one(&l, "top"), opts, &mut |_| {});
    assert_eq!(r, Ok(()));
    let first = RemoveOptions {
        first_time: true,
        ..opts
    };
    let r = l.remove(&one(&l, "top"), first, &mut |_| {});
    assert_eq!(r, Err(RemoveError::NotInKernel(b"top".to_vec())));
    let r = l.remove(&one(&l, "bin"), opts, &mut |_| {});
    assert_eq!(r, Err(RemoveError::Builtin(b"bin".to_vec())));
    let r = l.remove(&one(&l, "p2"), opts, &mut |_| {});
    assert_eq!(r, Err(RemoveError::CommandFailed(b"p2".to_vec())));
}

#[test]
fn remove_holders_and_softdeps_in_reverse() {
    let t = Tree::new();
    let k = live(&["base", "xz", "alpha", "p1", "p2"]).with(|s| {
        s.holders
            .insert("base".into(), vec!["xz".into(), "alpha".into()]);
    });
    let l = t.loader("softdep base pre: p1 post: p2\n", k);
    let opts = RemoveOptions {
        remove_holders: true,
        force: true,
        ..Default::default()
    };
    let mut lines = Vec::new();
    l.remove(&one(&l, "base"), opts, &mut |e| lines.push(show(e)))
        .unwrap();
    assert_eq!(
        lines,
        vec![
            "rmmod p2",
            "rmmod alpha",
            "rmmod xz",
            "rmmod base",
            "rmmod p1"
        ]
    );
    assert!(l
        .kernel
        .calls()
        .iter()
        .all(|c| matches!(c, Call::Delete { force: true, .. })));
}

/// kmod 30 removes the holders of the named module only, not the holders' holders: a
/// holder that is itself held stops the removal as in use.
#[test]
fn remove_holders_is_one_level() {
    let t = Tree::new();
    let k = live(&["base", "mid", "top"]).with(|s| {
        s.holders.insert("base".into(), vec!["mid".into()]);
        s.holders.insert("mid".into(), vec!["top".into()]);
        s.refcnt.insert("mid".into(), 1);
    });
    let l = t.loader("", k);
    let opts = RemoveOptions {
        remove_holders: true,
        ..Default::default()
    };
    let mut lines = Vec::new();
    let r = l.remove(&one(&l, "base"), opts, &mut |e| lines.push(show(e)));
    assert_eq!(r, Err(RemoveError::InUse(b"mid".to_vec())));
    assert!(lines.is_empty(), "{lines:?}");
    assert_eq!(l.kernel.initstate("top"), Ok(Some(InitState::Live)));
}

/// Under --wait the library's "could not remove" notice is not given: the tool words the
/// error (kmod 30).
#[test]
fn delete_failure_under_wait_has_no_library_notice() {
    let t = Tree::new();
    let k = live(&["p1"]).with(|s| {
        s.fail.insert("p1".into(), Errno::NOSYS);
    });
    let l = t.loader("", k);
    let opts = RemoveOptions {
        wait: Some(std::time::Duration::from_secs(5)),
        ..Default::default()
    };
    let mut events = Vec::new();
    let r = l.remove(&one(&l, "p1"), opts, &mut |e| events.push(e));
    assert!(matches!(
        r,
        Err(RemoveError::Delete {
            errno: Errno::NOSYS,
            ..
        })
    ));
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Event::Notice(Notice::CouldNotRemove { .. }))),
        "{events:?}"
    );
}

#[test]
fn delete_failure_is_reported() {
    let t = Tree::new();
    let k = live(&["p1"]).with(|s| {
        s.fail.insert("p1".into(), Errno::BUSY);
    });
    let l = t.loader("", k);
    let mut events = Vec::new();
    let r = l.remove(&one(&l, "p1"), RemoveOptions::default(), &mut |e| {
        events.push(e)
    });
    assert!(matches!(
        r,
        Err(RemoveError::Delete {
            errno: Errno::BUSY,
            ..
        })
    ));
    assert!(events.contains(&Event::Notice(Notice::CouldNotRemove {
        name: b"p1".to_vec(),
        errno: Errno::BUSY
    })));
}

#[test]
fn softdep_loop_under_removal_ends() {
    let t = Tree::new();
    let k = live(&["p1", "p2"]);
    let l = t.loader("softdep p1 pre: p2\nsoftdep p2 pre: p1\n", k);
    let mut lines = Vec::new();
    l.remove(&one(&l, "p1"), RemoveOptions::default(), &mut |e| {
        lines.push(show(e))
    })
    .unwrap();
    assert_eq!(lines, vec!["rmmod p1", "rmmod p2"]);
}

#[test]
fn wait_retries_eagain_until_the_module_is_free() {
    let t = Tree::new();
    let k = live(&["p1"]).with(|s| {
        s.busy = 3;
        s.refcnt.insert("p1".into(), 1);
    });
    let l = t.loader("", k);
    let opts = RemoveOptions {
        wait: Some(std::time::Duration::from_secs(5)),
        ..Default::default()
    };
    // --wait also skips the refcount check.
    l.remove(&one(&l, "p1"), opts, &mut |_| {}).unwrap();
    let deletes = l.kernel.calls().len();
    assert_eq!(deletes, 4);
    assert_eq!(l.kernel.initstate("p1"), Ok(None));
}

#[test]
fn wait_gives_up_at_the_deadline() {
    let t = Tree::new();
    let k = live(&["p1"]).with(|s| s.busy = u32::MAX);
    let l = t.loader("", k);
    let opts = RemoveOptions {
        wait: Some(std::time::Duration::from_millis(20)),
        ..Default::default()
    };
    let r = l.remove(&one(&l, "p1"), opts, &mut |_| {});
    assert!(matches!(
        r,
        Err(RemoveError::Delete {
            errno: Errno::AGAIN,
            ..
        })
    ));
}

#[test]
fn a_sysfs_directory_without_initstate_is_inserted_as_kmod_does() {
    // /sys/module/NAME without `initstate` (a built-in of the running kernel, or a kernel
    // that is not the tree's): libkmod reads it as coming, not in the kernel, and inserts;
    // the shared context must not answer for the kernel.
    let t = Tree::new();
    let k = Fake::default().with(|s| {
        s.states.insert("mid".into(), InitState::Builtin);
        s.fail.insert("mid".into(), Errno::NOSYS);
    });
    let run = tempfile::tempdir().unwrap();
    let shared = modkit_loader::shared::Shared::open(run.path().join("run")).unwrap();
    let l = t.loader("", k).with_shared(shared);
    let r = l.probe(&one(&l, "top"), b"", ProbeOptions::default(), &mut |_| {});
    assert_eq!(r, Err(Errno::NOSYS));
    let tried: Vec<String> = l
        .kernel
        .calls()
        .iter()
        .map(|c| match c {
            Call::Finit { name, .. } | Call::Init { name, .. } | Call::Delete { name, .. } => {
                name.clone()
            }
        })
        .collect();
    // finit_module, then init_module after ENOSYS, as libkmod; nothing after the failure.
    assert_eq!(tried, vec!["base", "mid", "mid"]);
}

fn finit_names(k: &Fake) -> Vec<String> {
    k.calls()
        .into_iter()
        .filter_map(|c| match c {
            Call::Finit { name, .. } => Some(name),
            _ => None,
        })
        .collect()
}

#[test]
fn probe_lists_with_edges_name_what_each_entry_follows() {
    use modkit_loader::plan::After;
    let t = Tree::new();
    let l = t.loader("softdep p1 pre: p2 post: alpha\n", Fake::default());
    let list = l.probe_list_with_edges(&one(&l, "top"), false, &mut |_| {});
    let hard = |index| After { index, hard: true };
    let order = |index| After { index, hard: false };
    assert_eq!(
        names(&list.iter().map(|s| s.module.clone()).collect::<Vec<_>>()),
        ["base", "mid", "top"]
    );
    assert_eq!(list[0].after, []);
    assert_eq!(list[1].after, [hard(0)]);
    assert_eq!(list[2].after, [hard(0), hard(1)]);
    let list = l.probe_list_with_edges(&one(&l, "p1"), false, &mut |_| {});
    let modules: Vec<Module> = list.iter().map(|s| s.module.clone()).collect();
    assert_eq!(names(&modules), ["p2", "p1", "alpha"]);
    assert_eq!(
        (list[1].after.as_slice(), list[2].after.as_slice()),
        (&[order(0)][..], &[order(1)][..])
    );
    // Without edges asked for, the list is the same and has none.
    let plain = l.probe_list(&one(&l, "p1"), false, &mut |_| {});
    assert!(plain.iter().all(|s| s.after.is_empty()));
    assert_eq!(plain.len(), 3);
}

#[test]
fn probe_all_inserts_each_module_once_after_its_dependencies() {
    let t = Tree::new();
    let l = t.loader("", Fake::default());
    let requests: Vec<Module> = ["top", "mid", "p1", "p2", "base"]
        .iter()
        .map(|n| one(&l, n))
        .collect();
    let refs: Vec<&Module> = requests.iter().collect();
    let outcomes = l
        .probe_all(&refs, ProbeOptions::default(), 4)
        .expect("no cycle");
    let answers: Vec<_> = outcomes.iter().map(|(_, r)| *r).collect();
    assert_eq!(answers, [Ok(Probed::Done); 5]);
    let calls = finit_names(&l.kernel);
    let mut sorted = calls.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        ["base", "mid", "p1", "p2", "top"],
        "each module once: {calls:?}"
    );
    let at = |n: &str| calls.iter().position(|c| c == n).unwrap();
    assert!(at("base") < at("mid") && at("mid") < at("top"), "{calls:?}");
    // Asked again: every module is live, nothing is called.
    let again = l.probe_all(&refs, ProbeOptions::default(), 4).unwrap();
    assert!(again.iter().all(|(_, r)| *r == Ok(Probed::AlreadyLoaded)));
    assert_eq!(finit_names(&l.kernel).len(), 5);
}

#[test]
fn probe_all_gives_a_failing_dependency_to_every_probe_that_needs_it_once() {
    let t = Tree::new();
    let fake = Fake::default().with(|s| {
        s.fail.insert("base".into(), Errno::NOENT);
    });
    let l = t.loader("", fake);
    let requests: Vec<Module> = ["top", "mid", "p1"].iter().map(|n| one(&l, n)).collect();
    let refs: Vec<&Module> = requests.iter().collect();
    let outcomes = l
        .probe_all(&refs, ProbeOptions::default(), 2)
        .expect("no cycle");
    let answers: Vec<_> = outcomes.iter().map(|(_, r)| *r).collect();
    assert_eq!(
        answers,
        [Err(Errno::NOENT), Err(Errno::NOENT), Ok(Probed::Done)]
    );
    let calls = finit_names(&l.kernel);
    assert_eq!(
        calls.iter().filter(|c| *c == "base").count(),
        1,
        "{calls:?}"
    );
    assert!(
        !calls.iter().any(|c| c == "mid" || c == "top"),
        "nothing above base: {calls:?}"
    );
    assert!(calls.contains(&"p1".to_owned()));
}

#[test]
fn probe_all_declines_softdeps_that_order_two_modules_both_ways() {
    let t = Tree::new();
    let l = t.loader("softdep p1 pre: p2\nsoftdep p2 pre: p1\n", Fake::default());
    let requests: Vec<Module> = ["p1", "p2"].iter().map(|n| one(&l, n)).collect();
    let refs: Vec<&Module> = requests.iter().collect();
    assert!(l.probe_all(&refs, ProbeOptions::default(), 2).is_none());
    assert!(l.kernel.calls().is_empty(), "nothing was inserted");
}

/// A loader inserting through a shared loading context in a fresh run directory, waiting
/// at most `coming` for a module in state `coming`.
fn shared_loader(
    t: &Tree,
    kernel: Fake,
    coming: std::time::Duration,
) -> (tempfile::TempDir, Loader<Fake>) {
    let run = tempfile::tempdir().unwrap();
    let mut shared = modkit_loader::shared::Shared::open(run.path().join("run")).expect("run dir");
    shared.coming_bound = coming;
    (run, t.loader("", kernel).with_shared(shared))
}

#[test]
fn a_coming_module_is_waited_for_and_never_inserted_again() {
    use std::time::Duration;
    let t = Tree::new();
    let fake = Fake::default().with(|s| {
        s.states.insert("base".into(), InitState::Coming);
    });
    let (_run, l) = shared_loader(&t, fake, Duration::from_secs(30));
    let base = one(&l, "base");
    let mut events = Vec::new();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            std::thread::sleep(Duration::from_millis(300));
            l.kernel
                .state
                .lock()
                .unwrap()
                .states
                .insert("base".into(), InitState::Live);
        });
        let r = l.probe(&base, b"", ProbeOptions::default(), &mut |e| {
            events.push(show(e))
        });
        assert_eq!(r, Ok(Probed::Done));
        assert_eq!(
            l.kernel.initstate("base"),
            Ok(Some(InitState::Live)),
            "the probe returned once the module was live, not while it was coming"
        );
    });
    assert!(
        l.kernel.calls().is_empty(),
        "no insertion call: {:?}",
        l.kernel.calls()
    );
    assert!(
        !events.iter().any(|e| e.contains("SharedContext")),
        "no warning within the bound: {events:?}"
    );
}

#[test]
fn a_module_still_coming_after_the_bound_is_reported_and_not_inserted() {
    use std::time::Duration;
    let t = Tree::new();
    let fake = Fake::default().with(|s| {
        s.states.insert("base".into(), InitState::Coming);
    });
    let (_run, l) = shared_loader(&t, fake, Duration::from_millis(50));
    let (r, events) = {
        let base = one(&l, "base");
        let mut events = Vec::new();
        let r = l.probe(&base, b"", ProbeOptions::default(), &mut |e| events.push(e));
        (r, events)
    };
    assert_eq!(
        r,
        Ok(Probed::Done),
        "its init is still running: loaded, as the kernel says"
    );
    assert!(l.kernel.calls().is_empty(), "{:?}", l.kernel.calls());
    let warned = events.iter().any(|e| {
        matches!(e, Event::Notice(Notice::SharedContext { warning: true, message, .. })
            if message.contains("still coming after 0.05 s"))
    });
    assert!(warned, "{events:?}");
}
