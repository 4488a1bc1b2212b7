//! `cargo xtask vm phases`: where a lone load's time goes in the guest. One racer loads the
//! guest CPU's per-CPU set (N = 1) with `finit_module` and with `init_module` under the
//! function_graph tracer, limited to the load path's traceable functions
//! (testbed/scripts/trace-phases.sh); this module turns each storm's trace into one record
//! per system call — the read, the decompression, the signature check, the time to the
//! patient check, the time from `do_init_module` on, the time off the CPU — and `--write`
//! records testbed/phases.json and its table in docs/testbed.md.
//!
//! The patient check itself is inlined on both kernels; it is placed by what the tracer
//! sees around it. From 6.4 it is in `early_mod_check`, between `module_sig_check` and
//! `layout_and_allocate`, whose first traced step is `module_frob_arch_sections`: its entry
//! is the check (to the ELF checks' few microseconds). In 6.1 it is in
//! `add_unformed_module`, right after `layout_and_allocate`: the return of the last module
//! memory allocation (`module_alloc`) before `do_init_module` is the check (to the copy of
//! the sections).

use super::plan::Step;
use crate::bench::median;
use crate::util::{workspace_root, Result};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fmt::Write as _;

pub const BEGIN: &str = "<!-- phases:begin (cargo xtask vm phases --write) -->";
pub const END: &str = "<!-- phases:end -->";
const SCRIPT: &str = include_str!("../../../testbed/scripts/trace-phases.sh");
const CALLS: [&str; 2] = ["finit", "init"];

/// `rounds` rounds of one traced storm per system call, each a step of its own (a storm's
/// trace takes about 15 s to print on the serial console).
pub fn steps(rounds: usize) -> Vec<Step> {
    (1..=rounds)
        .flat_map(|r| {
            CALLS.iter().map(move |call| Step::Command {
                label: format!("phases:{call}:{r}"),
                argv: vec![
                    "/bin/sh".to_owned(),
                    "-c".to_owned(),
                    format!("CALL={call}; {SCRIPT}"),
                ],
            })
        })
        .collect()
}

/// One traced function call: when it started and, once it returned, how long it took.
#[derive(Debug)]
struct Span {
    function: String,
    start_ms: f64,
    duration_ms: Option<f64>,
}

/// One insertion system call of the trace: its spans in order, its duration and the time
/// its task spent switched out.
#[derive(Debug, Default)]
struct Syscall {
    start_ms: f64,
    total_ms: Option<f64>,
    spans: Vec<Span>,
    off_cpu_ms: f64,
}

/// A line of function_graph output with `funcgraph-abstime`, `-proc` and `-tail`:
/// ` 19.026770 |   1)   racer-136    | # 5726.341 us |    kernel_read_file();`.
struct Line<'a> {
    at_ms: f64,
    task: &'a str,
    duration_ms: Option<f64>,
    body: &'a str,
}

fn parse_line(line: &str) -> Option<Line<'_>> {
    let mut fields = line.splitn(4, '|');
    let at_ms = fields.next()?.trim().parse::<f64>().ok()? * 1000.0;
    let task = fields.next()?.trim().split_once(')')?.1.trim();
    let duration = fields.next()?.trim();
    let duration_ms = duration
        .trim_start_matches(|c: char| !c.is_ascii_digit())
        .strip_suffix(" us")
        .and_then(|d| d.trim().parse::<f64>().ok())
        .map(|us| us / 1000.0);
    Some(Line {
        at_ms,
        task,
        duration_ms,
        body: fields.next()?.trim(),
    })
}

/// The name of a function line (`f();`, `f() {`) or of a closing one (`} /* f */`).
fn function_of(body: &str) -> Option<(&str, bool)> {
    if let Some(rest) = body.strip_prefix("} /*") {
        return Some((rest.trim_end_matches("*/").trim(), false));
    }
    let (name, rest) = body.split_once("()")?;
    Some((name, rest.trim() == "{"))
}

/// A `sched_switch` comment: (the task switched out, the task switched in).
fn switch_of(body: &str) -> Option<(String, String)> {
    let rest = body.strip_prefix("/* sched_switch:")?;
    let field = |key: &str| -> Option<String> {
        let start = rest.find(key)? + key.len();
        Some(rest[start..].split_whitespace().next()?.to_owned())
    };
    Some((
        format!("{}-{}", field("prev_comm=")?, field("prev_pid=")?),
        format!("{}-{}", field("next_comm=")?, field("next_pid=")?),
    ))
}

/// The insertion system calls of a trace, in order, for every task that made them.
fn syscalls(trace: &str) -> Vec<Syscall> {
    let mut open: BTreeMap<String, Syscall> = BTreeMap::new();
    let mut switched_out: BTreeMap<String, f64> = BTreeMap::new();
    let mut done = Vec::new();
    for line in trace.lines().filter_map(parse_line) {
        if let Some((out, into)) = switch_of(line.body) {
            switched_out.insert(out, line.at_ms);
            if let (Some(since), Some(call)) = (switched_out.remove(&into), open.get_mut(&into)) {
                call.off_cpu_ms += line.at_ms - since.max(call.start_ms);
            }
            continue;
        }
        let Some((function, opens)) = function_of(line.body) else {
            continue;
        };
        let syscall = function.starts_with("__x64_sys_");
        if syscall && opens {
            let call = Syscall {
                start_ms: line.at_ms,
                ..Syscall::default()
            };
            open.insert(line.task.to_owned(), call);
            continue;
        }
        let Some(call) = open.get_mut(line.task) else {
            continue;
        };
        if syscall {
            call.total_ms = line.duration_ms;
            done.push(open.remove(line.task).unwrap_or_default());
        } else if opens || line.duration_ms.is_some() && !line.body.starts_with('}') {
            call.spans.push(Span {
                function: function.to_owned(),
                start_ms: line.at_ms,
                duration_ms: line.duration_ms,
            });
        } else if let Some(span) = call
            .spans
            .iter_mut()
            .rev()
            .find(|s| s.function == function && s.duration_ms.is_none())
        {
            span.duration_ms = line.duration_ms;
        }
    }
    done
}

impl Syscall {
    fn spent_in(&self, function: &str) -> f64 {
        self.spans
            .iter()
            .filter(|s| s.function == function)
            .filter_map(|s| s.duration_ms)
            .sum()
    }

    fn first(&self, function: &str) -> Option<&Span> {
        self.spans.iter().find(|s| s.function == function)
    }

    /// Milliseconds from the call's entry to the patient check (see the module doc), when
    /// the call got that far.
    fn to_check_ms(&self, early_check: bool) -> Option<f64> {
        if early_check {
            return Some(self.first("module_frob_arch_sections")?.start_ms - self.start_ms);
        }
        let init = self
            .first("do_init_module")
            .map_or(f64::MAX, |s| s.start_ms);
        let alloc = self
            .spans
            .iter()
            .rfind(|s| s.function == "module_alloc" && s.start_ms < init)?;
        Some(alloc.start_ms + alloc.duration_ms? - self.start_ms)
    }
}

fn ms(v: f64) -> Value {
    // `+ 0.0`: an empty sum is -0.0.
    json!((v * 100.0).round() / 100.0 + 0.0)
}

fn opt_ms(v: Option<f64>) -> Value {
    v.map_or(Value::Null, ms)
}

/// One record per system call of a traced storm's `stdout` (the script's output), matched
/// in order with the storm's own `calls_ms` (module, start, end, result).
pub fn records(kernel: &str, call: &str, round: u64, stdout: &str) -> Result<Vec<Value>> {
    let (storm, trace) = stdout
        .split_once("== trace\n")
        .ok_or("phases: no trace in the output")?;
    let calls_json = storm
        .split_once("\"calls_ms\":")
        .ok_or("phases: no calls_ms in the storm's report")?
        .1
        .trim();
    let calls: Vec<Vec<Vec<Value>>> = serde_json::from_str(calls_json)?;
    let calls = calls.into_iter().next().unwrap_or_default();
    let traced = syscalls(trace);
    if traced.len() != calls.len() {
        return Err(format!(
            "phases: {kernel} {call} round {round}: {} calls traced, {} reported",
            traced.len(),
            calls.len()
        )
        .into());
    }
    let early_check = kernel != "6.1";
    Ok(calls
        .iter()
        .zip(&traced)
        .map(|(c, t)| {
            let module = c[0].as_str().unwrap_or("").split('.').next().unwrap_or("");
            let from_init = t
                .first("do_init_module")
                .zip(t.total_ms)
                .map(|(s, total)| t.start_ms + total - s.start_ms);
            json!({
                "kernel": kernel, "call": call, "round": round,
                "module": module.replace('-', "_"), "result": c[3],
                "total_ms": opt_ms(t.total_ms),
                "read_ms": ms(t.spent_in("kernel_read_file")),
                "decompress_ms": ms(t.spent_in("module_decompress")),
                "signature_ms": ms(t.spent_in("module_sig_check")),
                "to_check_ms": opt_ms(t.to_check_ms(early_check)),
                "from_init_ms": opt_ms(from_init),
                "off_cpu_ms": ms(t.off_cpu_ms),
            })
        })
        .collect())
}

/// The phase records of the command records a `vm phases` run returned.
pub fn from_runs(runs: &[Value]) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    for run in runs {
        let label = run["label"].as_str().unwrap_or("");
        let mut parts = label.split(':').skip(1);
        let (Some(call), Some(round)) = (parts.next(), parts.next()) else {
            continue;
        };
        let kernel = run["kernel"].as_str().unwrap_or("");
        let kernel = if kernel.starts_with("6.1.") {
            "6.1"
        } else {
            "6.12"
        };
        let stdout = run["stdout"]
            .as_str()
            .ok_or_else(|| format!("phases: {label} on {kernel} has no output"))?;
        out.extend(records(kernel, call, round.parse()?, stdout)?);
    }
    Ok(out)
}

/// The successful loads of each (kernel, call), every phase's median over them, and the
/// median share of a load spent before the patient check.
pub fn table(records: &[Value]) -> String {
    let mut groups: BTreeMap<(String, String), Vec<&Value>> = BTreeMap::new();
    for r in records.iter().filter(|r| r["result"] == "0") {
        let key = (
            r["kernel"].as_str().unwrap_or("").to_owned(),
            r["call"].as_str().unwrap_or("").to_owned(),
        );
        groups.entry(key).or_default().push(r);
    }
    let mut out = String::from(
        "| kernel | call | loads | load | read | decompress | signature | to the check | check to `do_init_module` | from `do_init_module` | before the check |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for ((kernel, call), rs) in &groups {
        let over = |value: &dyn Fn(&Value) -> Option<f64>| {
            let mut v: Vec<f64> = rs.iter().filter_map(|r| value(r)).collect();
            median(&mut v)
        };
        let ms = |r: &Value, f: &str| r[f].as_f64();
        let col = |f: &str| over(&|r| ms(r, f));
        let between =
            over(&|r| Some(ms(r, "total_ms")? - ms(r, "to_check_ms")? - ms(r, "from_init_ms")?));
        let share = over(&|r| Some(ms(r, "to_check_ms")? / ms(r, "total_ms")?));
        let _ = writeln!(
            out,
            "| {kernel} | `{call}_module` | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {between:.1} | {:.1} | {:.0} % |",
            rs.len(),
            col("total_ms"),
            col("read_ms"),
            col("decompress_ms"),
            col("signature_ms"),
            col("to_check_ms"),
            col("from_init_ms"),
            share * 100.0,
        );
    }
    out.push_str(
        "\nMilliseconds, medians over the successful loads (a column's medians need not add up).\n",
    );
    out
}

/// Writes testbed/phases.json and the phases table of docs/testbed.md.
pub fn write(records: &[Value]) -> Result {
    super::docs::write_records("phases.json", records)?;
    super::docs::write_testbed_section(BEGIN, END, &table(records))?;
    println!(
        "xtask: wrote testbed/phases.json and {}",
        workspace_root().join("docs/testbed.md").display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A made-up trace of two calls in function_graph's format: a 6.12-style load whose
    /// signature check is interrupted by a switch, and one that fails before any layout.
    const TRACE: &str = "\
   10.000000 |   1)   racer-7    |               |  __x64_sys_finit_module() {
   10.000500 |   1)   racer-7    | # 1500.000 us |    kernel_read_file();
   10.002000 |   1)   racer-7    |               |    module_decompress() {
   10.003000 |   1)   racer-7    |               |      /* sched_switch: prev_comm=racer prev_pid=7 prev_prio=120 prev_state=D ==> next_comm=swapper/1 next_pid=0 next_prio=120 */
   10.007000 |   1)    <idle>-0   |               |      /* sched_switch: prev_comm=swapper/1 prev_pid=0 prev_prio=120 prev_state=R ==> next_comm=racer next_pid=7 next_prio=120 */
   10.012000 |   1)   racer-7    | * 10000.00 us |    } /* module_decompress */
   10.012100 |   1)   racer-7    |               |    load_module() {
   10.012200 |   1)   racer-7    | * 40000.00 us |      module_sig_check();
   10.053000 |   1)   racer-7    | + 20.000 us   |      module_frob_arch_sections();
   10.053100 |   1)   racer-7    | ! 300.000 us  |      execmem_alloc();
   10.070000 |   1)   racer-7    |               |      do_init_module() {
   10.070100 |   1)   racer-7    | ! 150.000 us  |        do_one_initcall();
   10.080000 |   1)   racer-7    | * 10000.00 us |      } /* do_init_module */
   10.080000 |   1)   racer-7    | * 67900.00 us |    } /* load_module */
   10.080000 |   1)   racer-7    | * 80000.00 us |  } /* __x64_sys_finit_module */
   10.090000 |   2)   racer-7    |               |  __x64_sys_finit_module() {
   10.090100 |   2)   racer-7    | ! 800.000 us  |    kernel_read_file();
   10.091000 |   2)   racer-7    | * 30000.00 us |    module_sig_check();
   10.121500 |   2)   racer-7    | * 31500.00 us |  } /* __x64_sys_finit_module */
";

    fn stdout() -> String {
        format!(
            "filter: x\n== storm\n\"calls_ms\":[[[\"a-b.ko.xz\",0.1,80.1,\"0\"],[\"c.ko.xz\",90,121.5,\"EEXIST\"]]]\n== trace\n{TRACE}"
        )
    }

    #[test]
    fn each_call_gets_its_phases() {
        let r = records("6.12", "finit", 1, &stdout()).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0]["module"], "a_b");
        assert_eq!(r[0]["total_ms"], 80.0);
        assert_eq!(r[0]["read_ms"], 1.5);
        assert_eq!(r[0]["decompress_ms"], 10.0);
        assert_eq!(r[0]["signature_ms"], 40.0);
        assert_eq!(r[0]["to_check_ms"], 53.0);
        assert_eq!(r[0]["from_init_ms"], 10.0);
        assert_eq!(r[0]["off_cpu_ms"], 4.0);
        assert_eq!(r[1]["result"], "EEXIST");
        assert_eq!(r[1]["to_check_ms"], Value::Null);
        assert_eq!(r[1]["from_init_ms"], Value::Null);
    }

    #[test]
    fn on_6_1_the_check_follows_the_last_allocation() {
        let trace = TRACE.replace("execmem_alloc", "module_alloc");
        let out = format!("== storm\n\"calls_ms\":[[[\"a.ko\",0,80,\"0\"],[\"c.ko\",90,121.5,\"EEXIST\"]]]\n== trace\n{trace}");
        let r = records("6.1", "finit", 1, &out).unwrap();
        assert_eq!(r[0]["to_check_ms"], 53.4);
    }

    #[test]
    fn a_trace_that_misses_calls_is_an_error() {
        let out = stdout().replace(
            "[\"c.ko.xz\",90,121.5,\"EEXIST\"]",
            "[\"c.ko.xz\",90,121.5,\"EEXIST\"],[\"d.ko.xz\",130,140,\"0\"]",
        );
        let err = records("6.12", "finit", 1, &out).unwrap_err().to_string();
        assert!(err.contains("2 calls traced, 3 reported"), "{err}");
    }

    #[test]
    fn the_table_gives_medians_of_the_successful_loads() {
        let r = records("6.12", "finit", 1, &stdout()).unwrap();
        let t = table(&r);
        assert!(
            t.contains("| 6.12 | `finit_module` | 1 | 80.0 | 1.5 | 10.0 | 40.0 | 53.0 | 17.0 | 10.0 | 66 % |"),
            "{t}"
        );
    }

    #[test]
    fn docs_testbed_md_shows_the_recorded_phases() {
        let read = |path: &str| std::fs::read_to_string(workspace_root().join(path)).unwrap();
        let records: Vec<Value> = serde_json::from_str(&read("testbed/phases.json")).unwrap();
        assert!(records.len() > 150, "{} recorded calls", records.len());
        let doc = read("docs/testbed.md");
        let start = doc.find(BEGIN).expect("the phases section") + BEGIN.len() + 1;
        let end = doc.find(END).expect("its end");
        assert_eq!(
            &doc[start..end],
            table(&records),
            "docs/testbed.md's phases table is not testbed/phases.json's"
        );
    }

    #[test]
    fn steps_alternate_the_calls_round_by_round() {
        let labels: Vec<String> = steps(2)
            .iter()
            .map(|s| match s {
                Step::Command { label, .. } => label.clone(),
                _ => String::new(),
            })
            .collect();
        assert_eq!(
            labels,
            [
                "phases:finit:1",
                "phases:init:1",
                "phases:finit:2",
                "phases:init:2"
            ]
        );
    }
}
