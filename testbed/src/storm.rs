//! Storms (testbed.md §5.3): N loader processes, each prepared and parked on one barrier
//! pipe, are released at once by closing the pipe's write end, while the parent samples
//! /proc/meminfo in a tight loop and the tracepoints count the insertion calls.
//!
//! A loader child (`racer child`) reads its stdin, the barrier, until end-of-file. In
//! `finit`/`init` mode it then loads its files in order and prints its outcomes as one
//! JSON line; in `exec` mode it replaces itself with the external loader (kmod, modkit),
//! so no new task (and no new kernel stack) appears after the baseline. A storm that
//! outlives its timeout is killed and reported with `"timeout": true`.

use crate::insert::{self, Call, Outcome};
use crate::report::print_line;
use crate::sampler::{Extremes, Meminfo};
use crate::trace;
use modkit_sys::LinuxKernel;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// What a storm runs in each child.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Call(Call),
    Exec,
}

struct StormArgs {
    label: String,
    n: usize,
    mode: Mode,
    copies: bool,
    timeout: Duration,
    rest: Vec<String>,
}

fn parse_storm_args(args: &[String]) -> Result<StormArgs, String> {
    let mut parsed = StormArgs {
        label: String::new(),
        n: 1,
        mode: Mode::Call(Call::Finit),
        copies: false,
        timeout: Duration::from_secs(120),
        rest: Vec::new(),
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = || it.next().cloned().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--label" => parsed.label = value()?,
            "--n" => parsed.n = value()?.parse().map_err(|_| "bad --n")?,
            "--call" => {
                parsed.mode = match value()?.as_str() {
                    "exec" => Mode::Exec,
                    other => Mode::Call(Call::parse(other).ok_or("bad --call")?),
                }
            }
            "--copies" => parsed.copies = true,
            "--timeout" => {
                parsed.timeout = Duration::from_secs(value()?.parse().map_err(|_| "bad --timeout")?)
            }
            "--" => {
                parsed.rest = it.cloned().collect();
                break;
            }
            other => return Err(format!("unknown storm option {other}")),
        }
    }
    if parsed.n == 0 || parsed.rest.is_empty() {
        return Err("a storm needs --n >= 1 and something to load after --".to_owned());
    }
    Ok(parsed)
}

/// The files each child loads: the shared paths, or per-child copies in /scratch made
/// before anything is measured (a distinct inode per loader).
fn files_per_child(args: &StormArgs) -> Result<Vec<Vec<String>>, String> {
    if !args.copies {
        return Ok(vec![args.rest.clone(); args.n]);
    }
    (0..args.n)
        .map(|i| {
            let dir = format!("/scratch/copy.{i}");
            std::fs::create_dir_all(&dir).map_err(|e| format!("{dir}: {e}"))?;
            args.rest
                .iter()
                .map(|src| {
                    let name = src.rsplit('/').next().unwrap_or(src);
                    let dst = format!("{dir}/{name}");
                    std::fs::copy(src, &dst).map_err(|e| format!("copy {src}: {e}"))?;
                    Ok(dst)
                })
                .collect()
        })
        .collect()
}

fn spawn_children(
    args: &StormArgs,
    files: &[Vec<String>],
    barrier: &rustix::fd::OwnedFd,
) -> Result<Vec<Child>, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let mode = match args.mode {
        Mode::Call(Call::Finit) => "finit",
        Mode::Call(Call::Init) => "init",
        Mode::Exec => "exec",
    };
    files
        .iter()
        .map(|list| {
            let stdin = barrier.try_clone().map_err(|e| format!("dup: {e}"))?;
            Command::new(&exe)
                .arg("child")
                .arg(mode)
                .args(list)
                .stdin(Stdio::from(stdin))
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|e| format!("spawn: {e}"))
        })
        .collect()
}

/// Waits for each child's ready byte. A child that exits first failed to prepare: then
/// every child is killed before the barrier opens (none may load), and the error is the
/// failed child's message.
fn wait_ready(children: &mut [Child]) -> Result<(), String> {
    let mut failure = None;
    for child in children.iter_mut() {
        let mut byte = [0u8; 1];
        let ready = child
            .stdout
            .as_mut()
            .is_some_and(|out| out.read(&mut byte).is_ok_and(|n| n == 1));
        if !ready {
            failure = Some(read_rest(child.stderr.as_mut()));
            break;
        }
    }
    let Some(message) = failure else {
        return Ok(());
    };
    for child in children.iter_mut() {
        let _ = child.kill();
        let _ = child.wait();
    }
    Err(format!(
        "a loader failed before the barrier: {}",
        message.trim()
    ))
}

struct Finished {
    statuses: Vec<Option<ExitStatus>>,
    extremes: Extremes,
    wall: Duration,
    timed_out: bool,
}

/// Samples in a tight loop until every child has exited or the timeout has passed (then
/// the children are killed).
fn sample_until_done(
    children: &mut [Child],
    meminfo: &mut Meminfo,
    mut extremes: Extremes,
    timeout: Duration,
) -> Finished {
    let started = Instant::now();
    let mut statuses: Vec<Option<ExitStatus>> = vec![None; children.len()];
    let mut wall = Duration::ZERO;
    let mut timed_out = false;
    while statuses.iter().any(Option::is_none) {
        if let Ok(s) = meminfo.sample() {
            extremes.add(s);
        }
        for (child, status) in children.iter_mut().zip(statuses.iter_mut()) {
            if status.is_none() {
                if let Ok(Some(s)) = child.try_wait() {
                    *status = Some(s);
                    wall = started.elapsed();
                }
            }
        }
        if started.elapsed() > timeout {
            timed_out = true;
            for child in children.iter_mut() {
                let _ = child.kill();
            }
            for (child, status) in children.iter_mut().zip(statuses.iter_mut()) {
                *status = child.wait().ok();
            }
            wall = started.elapsed();
        }
    }
    if let Ok(s) = meminfo.sample() {
        extremes.add(s);
    }
    Finished {
        statuses,
        extremes,
        wall,
        timed_out,
    }
}

fn read_rest(pipe: Option<&mut impl Read>) -> String {
    let mut text = String::new();
    if let Some(p) = pipe {
        let _ = p.read_to_string(&mut text);
    }
    text
}

fn status_name(status: Option<ExitStatus>) -> String {
    match status {
        Some(s) => match (s.code(), s.signal()) {
            (Some(code), _) => code.to_string(),
            (None, Some(sig)) => format!("signal {sig}"),
            _ => "?".to_owned(),
        },
        None => "lost".to_owned(),
    }
}

/// Counts by key.
fn tally<I: IntoIterator<Item = String>>(keys: I) -> BTreeMap<String, u64> {
    let mut map = BTreeMap::new();
    for k in keys {
        *map.entry(k).or_default() += 1;
    }
    map
}

/// The children's own records of their calls (finit/init modes), as trace-like counts.
fn recorded_results(outputs: &[String]) -> BTreeMap<String, BTreeMap<String, u64>> {
    let mut results: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for call in recorded_calls(outputs) {
        let syscall = call["syscall"].as_str().unwrap_or("?").to_owned();
        let result = call["result"].as_str().unwrap_or("?").to_owned();
        *results
            .entry(syscall)
            .or_default()
            .entry(result)
            .or_default() += 1;
    }
    results
}

/// Every call the raw children reported: each child prints its calls as one JSON array
/// line; other output (the ready byte, errors) is skipped.
fn recorded_calls(outputs: &[String]) -> impl Iterator<Item = Value> + '_ {
    outputs.iter().flat_map(|o| o.lines()).flat_map(|line| {
        match serde_json::from_str::<Value>(line) {
            Ok(Value::Array(calls)) => calls,
            _ => Vec::new(),
        }
    })
}

/// `ok` and `errnos` from results by call: successes, and failures by errno name.
fn split_results(
    results: &BTreeMap<String, BTreeMap<String, u64>>,
) -> (u64, BTreeMap<String, u64>) {
    let mut ok = 0;
    let mut errnos = BTreeMap::new();
    for by_value in results.values() {
        for (value, count) in by_value {
            if value == "0" {
                ok += count;
            } else {
                *errnos.entry(value.clone()).or_default() += count;
            }
        }
    }
    (ok, errnos)
}

/// `racer storm ...`: prints one `RESULT {json}` line.
pub fn storm(args: &[String]) -> Result<(), String> {
    let args = parse_storm_args(args)?;
    let files = files_per_child(&args)?;
    // RACER_NO_TRACE: the racer's own tests run on hosts whose tracing is not ours to touch.
    let tracing = trace::available() && std::env::var_os("RACER_NO_TRACE").is_none();
    if tracing {
        trace::start()?;
    }
    let (barrier_read, barrier_write) =
        rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).map_err(|e| e.to_string())?;
    let mut children = spawn_children(&args, &files, &barrier_read)?;
    drop(barrier_read);
    wait_ready(&mut children)?;
    let mut meminfo = Meminfo::open().map_err(|e| format!("/proc/meminfo: {e}"))?;
    let baseline = meminfo
        .sample()
        .map_err(|e| format!("/proc/meminfo: {e}"))?;
    let released_ns = insert::monotonic_ns();
    drop(barrier_write);
    let done = sample_until_done(
        &mut children,
        &mut meminfo,
        Extremes::new(baseline),
        args.timeout,
    );
    let outputs: Vec<String> = children
        .iter_mut()
        .map(|c| read_rest(c.stdout.as_mut()))
        .collect();
    let errors: Vec<String> = children
        .iter_mut()
        .map(|c| read_rest(c.stderr.as_mut()))
        .collect();
    let counts = if tracing {
        Some(trace::finish()?)
    } else {
        None
    };
    let mut report = storm_report(&args, &done, &outputs, &errors, counts.as_ref());
    if matches!(args.mode, Mode::Call(_)) {
        report["call_spread_ms"] = json!(call_spread(&outputs, released_ns));
        report["calls_ms"] = json!(calls_by_loader(&outputs, released_ns));
    }
    print_line("RESULT", &report);
    Ok(())
}

/// Milliseconds after the barrier's release, to 10 µs.
fn ms_after(released_ns: u64, ns: u64) -> f64 {
    (ns.saturating_sub(released_ns) / 10_000) as f64 / 100.0
}

/// Every child's calls in its order, as `[module file name, start ms, end ms, result]`
/// after the barrier's release: what each loader did when, so that a loader held up
/// between its calls (its vCPU descheduled by the host) shows, and how long a load takes
/// with N loaders busy against a lone one.
fn calls_by_loader(outputs: &[String], released_ns: u64) -> Vec<Vec<Value>> {
    outputs
        .iter()
        .map(|o| {
            recorded_calls(std::slice::from_ref(o))
                .filter_map(|call| {
                    let file = call["file"].as_str()?;
                    let name = file.rsplit('/').next().unwrap_or(file);
                    Some(json!([
                        name,
                        ms_after(released_ns, call["start_ns"].as_u64()?),
                        ms_after(released_ns, call["end_ns"].as_u64()?),
                        call["result"].as_str()?
                    ]))
                })
                .collect()
        })
        .collect()
}

/// Per module file (by name), when the children's calls for it entered and left the
/// kernel, in milliseconds after the barrier's release: `[first start, last start, first
/// end, last end]`. How far apart N loaders reach a module, against how long one load
/// takes, is what the kernel model's timing is calibrated on.
fn call_spread(outputs: &[String], released_ns: u64) -> BTreeMap<String, [f64; 4]> {
    let ms = |ns: u64| ms_after(released_ns, ns);
    let mut spread: BTreeMap<String, [f64; 4]> = BTreeMap::new();
    for call in recorded_calls(outputs) {
        let (Some(file), Some(start), Some(end)) = (
            call["file"].as_str(),
            call["start_ns"].as_u64(),
            call["end_ns"].as_u64(),
        ) else {
            continue;
        };
        let name = file.rsplit('/').next().unwrap_or(file).to_owned();
        let (start, end) = (ms(start), ms(end));
        let s = spread.entry(name).or_insert([start, start, end, end]);
        *s = [
            s[0].min(start),
            s[1].max(start),
            s[2].min(end),
            s[3].max(end),
        ];
    }
    spread
}

fn storm_report(
    args: &StormArgs,
    done: &Finished,
    outputs: &[String],
    errors: &[String],
    counts: Option<&trace::Counts>,
) -> Value {
    let recorded = recorded_results(outputs);
    let kernel_results = counts.map_or_else(|| recorded.clone(), |c| c.results.clone());
    let (ok, errnos) = split_results(&kernel_results);
    let e = &done.extremes;
    let mut samples_of_output: Vec<&str> = outputs
        .iter()
        .chain(errors)
        .map(|s| s.trim())
        .filter(|s| !s.is_empty() && !s.starts_with('['))
        .collect();
    samples_of_output.dedup();
    samples_of_output.truncate(4);
    json!({
        "kind": "storm",
        "label": args.label,
        "call": match args.mode { Mode::Call(Call::Finit) => "finit", Mode::Call(Call::Init) => "init", Mode::Exec => "exec" },
        "argv": args.rest,
        "n": args.n,
        "copies": args.copies,
        "file_bytes": file_bytes(args),
        "ok": ok,
        "errnos": errnos,
        "kernel_results": kernel_results,
        "recorded_results": recorded,
        "traced": counts.is_some(),
        "insert_syscalls": counts.map(trace::Counts::insert_syscalls),
        "exit_status": tally(done.statuses.iter().map(|s| status_name(*s))),
        "peak_vmalloc_delta_kb": e.peak_vmalloc_used - e.baseline.vmalloc_used,
        "memfree_min_delta_kb": e.baseline.mem_free - e.min_mem_free,
        "end_vmalloc_delta_kb": e.last.vmalloc_used - e.baseline.vmalloc_used,
        "direct_map_4k_delta_kb": e.last.direct_map_4k - e.baseline.direct_map_4k,
        "baseline_vmalloc_used_kb": e.baseline.vmalloc_used,
        "samples": e.samples,
        "wall_ms": done.wall.as_secs_f64() * 1000.0,
        "timeout": done.timed_out,
        "output": samples_of_output,
    })
}

/// The sizes of the files a raw loader loads (`null` for an external loader's arguments).
fn file_bytes(args: &StormArgs) -> Value {
    match args.mode {
        Mode::Exec => Value::Null,
        Mode::Call(_) => args
            .rest
            .iter()
            .map(|p| std::fs::metadata(p).map_or(Value::Null, |m| json!(m.len())))
            .collect(),
    }
}

/// `racer child MODE ARGS...`: prepare, signal ready, wait for the barrier, then load (or
/// exec the external loader).
pub fn child(args: &[String]) -> Result<(), String> {
    let (mode, rest) = args.split_first().ok_or("child needs a mode")?;
    let kernel = LinuxKernel::default();
    let prepared = match mode.as_str() {
        "exec" => Vec::new(),
        other => {
            let call = Call::parse(other).ok_or("bad child mode")?;
            rest.iter()
                .map(|path| insert::prepare(&kernel, path, call))
                .collect::<Result<Vec<_>, _>>()?
        }
    };
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(b"R").map_err(|e| e.to_string())?;
    stdout.flush().map_err(|e| e.to_string())?;
    drop(stdout);
    let mut sink = Vec::new();
    let _ = std::io::stdin().lock().read_to_end(&mut sink);
    if mode == "exec" {
        let (program, argv) = rest.split_first().ok_or("exec needs a command")?;
        let err = Command::new(program).args(argv).exec();
        return Err(format!("exec {program}: {err}"));
    }
    let outcomes: Vec<Outcome> = prepared
        .iter()
        .map(|p| insert::insert(&kernel, p))
        .collect();
    let failed = outcomes
        .iter()
        .any(|o| !matches!(o.result, Ok(()) | Err(modkit_sys::Errno::EXIST)));
    let list: Vec<Value> = outcomes.iter().map(Outcome::to_json).collect();
    println!("\n{}", Value::Array(list));
    if failed {
        std::process::exit(1);
    }
    Ok(())
}

/// `racer run --label L -- CMD ARGS`: prints `RESULT {json}` with the command's stdout,
/// stderr, exit status and the modules loaded afterwards.
pub fn run_command(args: &[String]) -> Result<(), String> {
    let (label, command) = match args {
        [flag, label, dashes, command @ ..] if flag == "--label" && dashes == "--" => {
            (label.clone(), command)
        }
        _ => return Err("usage: racer run --label L -- CMD ARGS".to_owned()),
    };
    let (program, argv) = command.split_first().ok_or("run needs a command")?;
    let started = Instant::now();
    let out = Command::new(program)
        .args(argv)
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    let loaded = modkit_sys::Kernel::loaded_modules(&LinuxKernel::default())
        .map(|list| list.into_iter().map(|m| m.name).collect::<Vec<_>>())
        .unwrap_or_default();
    print_line(
        "RESULT",
        &json!({
            "kind": "command",
            "label": label,
            "argv": command,
            "stdout": String::from_utf8_lossy(&out.stdout),
            "stderr": String::from_utf8_lossy(&out.stderr),
            "status": status_name(Some(out.status)),
            "loaded_after": loaded,
            "wall_ms": started.elapsed().as_secs_f64() * 1000.0,
        }),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn storm_options_parse() {
        let a = parse_storm_args(&strings(&[
            "--label",
            "xfs",
            "--n",
            "4",
            "--call",
            "exec",
            "--copies",
            "--",
            "/sbin/modprobe",
            "xfs",
        ]))
        .expect("parses");
        assert_eq!(
            (a.label.as_str(), a.n, a.mode, a.copies),
            ("xfs", 4, Mode::Exec, true)
        );
        assert_eq!(a.rest, strings(&["/sbin/modprobe", "xfs"]));
        assert!(parse_storm_args(&strings(&["--n", "0", "--", "x"])).is_err());
        assert!(parse_storm_args(&strings(&["--n", "2"])).is_err());
        assert!(parse_storm_args(&strings(&["--call", "bogus", "--", "x"])).is_err());
    }

    #[test]
    fn spread_and_loader_calls_place_every_call_after_the_release() {
        let call = |file: &str, start: u64, end: u64| {
            format!("{{\"file\":\"{file}\",\"syscall\":\"finit_module\",\"result\":\"0\",\"start_ns\":{start},\"end_ns\":{end}}}")
        };
        let outputs = vec![
            format!(
                "R\n[{},{}]",
                call("/m/a.ko", 1_500_000, 9_000_000),
                call("/m/b.ko", 9_100_000, 9_200_000)
            ),
            format!(
                "R\n[{},{}]",
                call("/scratch/copy.1/a.ko", 3_250_000, 8_000_000),
                call("/scratch/copy.1/b.ko", 8_100_000, 12_000_000)
            ),
            "noise".to_owned(),
        ];
        let spread = call_spread(&outputs, 1_000_000);
        assert_eq!(spread.len(), 2);
        assert_eq!(spread["a.ko"], [0.5, 2.25, 7.0, 8.0]);
        assert_eq!(spread["b.ko"], [7.1, 8.1, 8.2, 11.0]);
        let calls = calls_by_loader(&outputs, 1_000_000);
        assert_eq!(
            calls.len(),
            3,
            "one list per child, in the children's order"
        );
        assert_eq!(calls[1][1], json!(["b.ko", 7.1, 11.0, "0"]));
        assert_eq!(calls[0][0], json!(["a.ko", 0.5, 8.0, "0"]));
        assert!(calls[2].is_empty());
    }

    #[test]
    fn results_split_into_ok_and_errnos() {
        let outputs = vec![
            "R\n[{\"syscall\":\"finit_module\",\"result\":\"0\"}]".to_owned(),
            "R\n[{\"syscall\":\"finit_module\",\"result\":\"EEXIST\"}]".to_owned(),
            "noise".to_owned(),
        ];
        let recorded = recorded_results(&outputs);
        let (ok, errnos) = split_results(&recorded);
        assert_eq!(ok, 1);
        assert_eq!(errnos["EEXIST"], 1);
        assert_eq!(
            tally(["0".to_owned(), "1".to_owned(), "0".to_owned()])["0"],
            2
        );
    }
}
