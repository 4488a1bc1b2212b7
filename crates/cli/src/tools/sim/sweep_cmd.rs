//! `modkit sim sweep`: coldplug storms for CPU counts 1..512 across versions; prints a
//! table and a terminal plot, `--json` prints the sweep as JSON, `--out DIR` writes
//! `sweep.json`, `sweep.svg` and `sweep.png`.

use super::{plot, Args, Failure};
use crate::tools::stdout;
use modkit_sim::sweep::{sweep as run_sweep, SweepOptions};
use modkit_sim::workload::Userspace;
use modkit_sim::{Profile, Version};
use std::path::PathBuf;

const FLAGS: &[&str] = &["json", "kasan", "nosmt"];
const VALUES: &[&str] = &[
    "kasan-factor",
    "profile",
    "kernels",
    "cpus",
    "out",
    "seed",
    "threads",
    "userspace",
];

/// Parses a comma-separated list.
fn list<T: std::str::FromStr>(key: &str, text: &str) -> Result<Vec<T>, Failure>
where
    T::Err: std::fmt::Display,
{
    text.split(',')
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.trim()
                .parse()
                .map_err(|e| Failure::usage(format!("--{key}: {e}")))
        })
        .collect()
}

pub fn sweep(args: &[String]) -> Result<(), Failure> {
    let a = Args::parse(args, FLAGS, VALUES)?;
    let profile = Profile::resolve(a.get("profile").unwrap_or("skylake-sp"))?;
    let mut o = SweepOptions {
        kasan: a.flag("kasan"),
        smt: !a.flag("nosmt"),
        seed: a.num("seed")?.unwrap_or(1),
        kasan_factor: a.num("kasan-factor")?.unwrap_or(1.0),
        threads: a
            .num("threads")?
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
        ..SweepOptions::default()
    };
    if let Some(k) = a.get("kernels") {
        o.versions = list::<Version>("kernels", k)?;
    }
    if let Some(c) = a.get("cpus") {
        o.cpus = parse_cpus(c)?;
    }
    if let Some(u) = a.get("userspace") {
        o.userspace = Some(
            Userspace::parse(u)
                .ok_or_else(|| Failure::usage(format!("unknown --userspace '{u}'")))?,
        );
    }
    let s = run_sweep(&profile, &o)?;
    if let Some(dir) = a.get("out") {
        let dir = PathBuf::from(dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let json = serde_json::to_string_pretty(&s)?;
        std::fs::write(dir.join("sweep.json"), json + "\n")
            .map_err(|e| format!("{}: {e}", dir.display()))?;
        if !plot::write_plots(&s, &dir.join("sweep.svg"), &dir.join("sweep.png"))? {
            crate::texts::eprint_line(
                format!("modkit sim sweep: {}", plot::no_text_note()).as_bytes(),
            );
        }
    }
    if a.flag("json") {
        stdout(format!("{}\n", serde_json::to_string_pretty(&s)?).as_bytes());
        return Ok(());
    }
    stdout(s.table().as_bytes());
    stdout(plot::terminal(&s, 72, 20).as_bytes());
    Ok(())
}

/// `1,2,4` or `1-512` (every count) or `1-512/8` (step).
fn parse_cpus(text: &str) -> Result<Vec<u32>, Failure> {
    let mut out = Vec::new();
    for part in text.split(',').filter(|s| !s.is_empty()) {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (
                r,
                s.parse::<u32>()
                    .map_err(|_| Failure::usage(format!("--cpus: bad step in '{part}'")))?,
            ),
            None => (part, 1),
        };
        let bad = || Failure::usage(format!("--cpus: '{part}' is not a CPU count or range"));
        match range.split_once('-') {
            Some((lo, hi)) => {
                let (lo, hi): (u32, u32) = (
                    lo.parse().map_err(|_| bad())?,
                    hi.parse().map_err(|_| bad())?,
                );
                if lo == 0 || hi < lo || step == 0 {
                    return Err(bad());
                }
                out.extend((lo..=hi).step_by(step as usize));
            }
            None => {
                let n: u32 = range.parse().map_err(|_| bad())?;
                if n == 0 {
                    return Err(bad());
                }
                out.push(n);
            }
        }
    }
    if out.is_empty() {
        return Err(Failure::usage("--cpus: empty list"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_and_ranges_parse() {
        assert_eq!(parse_cpus("1,2,4").ok(), Some(vec![1, 2, 4]));
        assert_eq!(parse_cpus("1-4").ok(), Some(vec![1, 2, 3, 4]));
        assert_eq!(parse_cpus("8-32/8").ok(), Some(vec![8, 16, 24, 32]));
        assert!(parse_cpus("0").is_err());
        assert!(parse_cpus("4-1").is_err());
        assert!(parse_cpus("x").is_err());
    }
}
