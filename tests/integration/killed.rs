//! A killed depmod leaves the previous index intact: on a copy of the 6.12 tree holding
//! kmod's indexes, `modkit depmod` is SIGKILLed at several points of its run; every index
//! file must then be whole (identical to the old or to the new complete version), and a
//! final full run must still give kmod's bytes.

use modkit_tests::{kmod_indexed, modkit, scratch, trees, Tree, DEPMOD_OUTPUTS};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Fractions of a full run's duration at which depmod is killed.
const KILL_POINTS: [f64; 6] = [0.05, 0.2, 0.4, 0.6, 0.8, 0.95];

fn read_outputs(dir: &Path) -> Vec<Vec<u8>> {
    DEPMOD_OUTPUTS
        .iter()
        .map(|name| {
            std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name} is missing: {e}"))
        })
        .collect()
}

fn depmod(test: &str, tree: &Tree, root: &Path) -> Option<Command> {
    let mut cmd = modkit(test, "depmod")?;
    cmd.arg("-b")
        .arg(root)
        .arg(&tree.version)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    Some(cmd)
}

/// Panics unless every output file equals its old or its new version.
fn assert_whole(dir: &Path, old: &[Vec<u8>], new: &[Vec<u8>], when: &str) {
    for (i, name) in DEPMOD_OUTPUTS.iter().enumerate() {
        let now =
            std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{when}: {name} is gone: {e}"));
        assert!(
            now == old[i] || now == new[i],
            "{when}: {name} is neither the old nor the new version ({} bytes)",
            now.len()
        );
    }
}

#[test]
fn killed_depmod_leaves_the_previous_index_intact() {
    let test = "killed_depmod";
    let Some(all) = trees(test) else { return };
    let Some(tree) = all.into_iter().find(|t| t.label == "6.12") else {
        assert!(!modkit_tests::required(), "{test}: no 6.12 tree");
        return;
    };
    let kmod = kmod_indexed(&tree);
    let old = read_outputs(&tree.module_dir_in(&kmod.root));

    let fresh = scratch("killed/new");
    tree.copy_to(&fresh);
    let started = Instant::now();
    let Some(mut full) = depmod(test, &tree, &fresh) else {
        return;
    };
    assert!(
        full.status().expect("run modkit depmod").success(),
        "{test}: full run failed"
    );
    let duration = started.elapsed();
    let new = read_outputs(&tree.module_dir_in(&fresh));

    let work = scratch("killed/work");
    tree.copy_from(&kmod.root, &work);
    let dir = tree.module_dir_in(&work);
    for point in KILL_POINTS {
        let Some(mut cmd) = depmod(test, &tree, &work) else {
            return;
        };
        let mut child = cmd.spawn().expect("start modkit depmod");
        std::thread::sleep(Duration::from_secs_f64(duration.as_secs_f64() * point));
        let _ = child.kill();
        let _ = child.wait();
        assert_whole(
            &dir,
            &old,
            &new,
            &format!("killed at {:.0} % of a run", point * 100.0),
        );
    }

    let Some(mut last) = modkit(test, "depmod") else {
        return;
    };
    last.args(["--index-layout=post-order", "-b"])
        .arg(&work)
        .arg(&tree.version);
    assert!(
        last.status().expect("run modkit depmod").success(),
        "{test}: final run failed"
    );
    let finally = read_outputs(&dir);
    for (i, name) in DEPMOD_OUTPUTS.iter().enumerate() {
        if let Some(diff) = modkit_tests::first_difference(&old[i], &finally[i]) {
            panic!("{test}: after the kills, a full run gives {name} unlike kmod 30: {diff}");
        }
    }
}
