//! Recording a campaign: every record in testbed/results.json (the file the kernel model
//! validates against), and the generated part of docs/testbed.md: one table per kernel and
//! an SVG plot of the peak VmallocUsed increase against the number of loaders
//! (docs/testbed-xfs.svg). The plot is a few lines of SVG written here, not a plotting
//! library: the figure is one chart of straight lines.

use crate::util::{workspace_root, Result};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;

const BEGIN: &str = "<!-- results:begin (cargo xtask vm campaign --write) -->";
const END: &str = "<!-- results:end -->";

pub fn write(records: &[Value]) -> Result {
    write_records("results.json", records)?;
    std::fs::write(workspace_root().join("docs/testbed-xfs.svg"), plot(records))?;
    write_testbed_section(BEGIN, END, &tables(records)?)?;
    println!("xtask: wrote testbed/results.json, docs/testbed.md and docs/testbed-xfs.svg");
    Ok(())
}

/// Writes `records` to testbed/`file` (a JSON array, one record per line).
pub fn write_records(file: &str, records: &[Value]) -> Result {
    std::fs::write(
        workspace_root().join("testbed").join(file),
        json_array(records),
    )?;
    Ok(())
}

/// Replaces the generated section of docs/testbed.md between `begin` and `end`.
pub fn write_testbed_section(begin: &str, end: &str, generated: &str) -> Result {
    let path = workspace_root().join("docs/testbed.md");
    let doc = std::fs::read_to_string(&path).unwrap_or_default();
    std::fs::write(&path, splice(&doc, begin, end, generated))?;
    Ok(())
}

/// Records as a JSON array, one record per line.
pub fn json_array(records: &[Value]) -> String {
    let mut text = String::from("[\n");
    for (i, r) in records.iter().enumerate() {
        text.push_str("  ");
        text.push_str(&r.to_string());
        text.push_str(if i + 1 < records.len() { ",\n" } else { "\n" });
    }
    text.push_str("]\n");
    text
}

/// `doc` with the text between the markers `begin` and `end` replaced (or appended when
/// they are missing).
pub fn splice(doc: &str, begin: &str, end: &str, generated: &str) -> String {
    match (doc.find(begin), doc.find(end)) {
        (Some(b), Some(e)) if b < e => {
            format!("{}{begin}\n{generated}{}", &doc[..b], &doc[e..])
        }
        _ => format!("{doc}\n{begin}\n{generated}{end}\n"),
    }
}

fn counts(v: &Value) -> String {
    super::record::counts(v, " ", ", ", "–")
}

fn storm_row(r: &Value) -> String {
    let loader = match (r["loader"].as_str(), r["copies"].as_bool()) {
        (Some(l), Some(true)) => format!("{l} (copies)"),
        (Some(l), _) => l.to_owned(),
        _ => "?".to_owned(),
    };
    let status = if r["timeout"] == Value::Bool(true) {
        "**timeout**".to_owned()
    } else if let Some(e) = r["error"].as_str() {
        format!("**error**: {e}")
    } else {
        counts(&r["exit_status"])
    };
    format!(
        "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.0} | {} |\n",
        r["scenario"].as_str().unwrap_or(""),
        r["module"].as_str().unwrap_or(""),
        loader,
        r["n"],
        r["ok"],
        counts(&r["errnos"]),
        r["insert_syscalls"],
        r["peak_vmalloc_delta_kb"],
        r["memfree_min_delta_kb"],
        r["wall_ms"].as_f64().unwrap_or(0.0),
        status,
    )
}

fn tables(records: &[Value]) -> Result<String> {
    let mut by_kernel: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for r in records {
        by_kernel
            .entry(r["kernel"].as_str().unwrap_or("?").to_owned())
            .or_default()
            .push(r);
    }
    let mut out = String::new();
    for (kernel, rs) in &by_kernel {
        let first = rs[0];
        writeln!(
            out,
            "\n### {kernel} ({}; {} vCPUs; CPU `{}`)\n",
            first["kernel_package"].as_str().unwrap_or(""),
            first["vcpus"],
            first["cpu_modalias"]
                .as_str()
                .map_or("?", |m| m.split(":feature:").next().unwrap_or(m))
        )?;
        out.push_str("| scenario | module | loader | N | ok | errnos (kernel) | insertion syscalls | peak VmallocUsed Δ kB | MemFree drop kB | wall ms | exit statuses |\n");
        out.push_str("|---|---|---|---:|---:|---|---:|---:|---:|---:|---|\n");
        for r in rs.iter().filter(|r| r["kind"] == "storm") {
            out.push_str(&storm_row(r));
        }
        let commands: Vec<&&Value> = rs.iter().filter(|r| r["kind"] == "command").collect();
        if !commands.is_empty() {
            out.push_str("\nCommands (scenario 1): ");
            let parts: Vec<String> = commands
                .iter()
                .map(|r| {
                    format!(
                        "`{}` → {}",
                        r["label"].as_str().unwrap_or(""),
                        r["status"].as_str().unwrap_or("?")
                    )
                })
                .collect();
            out.push_str(&parts.join(", "));
            out.push('\n');
        }
        for r in rs.iter().filter(|r| r["kind"] == "layout") {
            let areas: Vec<String> = r["areas_settled"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|a| a["size"].to_string())
                .collect();
            writeln!(
                out,
                "\nLayout of {} after one load: module-area lines of /proc/vmallocinfo (sizes include the guard page) {}; coresize {}.",
                r["module"].as_str().unwrap_or(""),
                areas.join(" + "),
                r["coresize"]
            )?;
        }
    }
    out.push_str("\n![peak VmallocUsed against N](testbed-xfs.svg)\n\n");
    Ok(out)
}

/// (series name, points (N, peak kB)) of the xfs duplicate storms.
fn series(records: &[Value]) -> BTreeMap<String, Vec<(f64, f64)>> {
    let mut map: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for r in records
        .iter()
        .filter(|r| r["kind"] == "storm" && r["module"] == "xfs" && r["scenario"] == "duplicates")
    {
        let (Some(n), Some(peak)) = (r["n"].as_f64(), r["peak_vmalloc_delta_kb"].as_f64()) else {
            continue;
        };
        let kernel = r["kernel"].as_str().unwrap_or("?");
        let short = kernel.split('-').next().unwrap_or(kernel);
        let copies = if r["copies"] == Value::Bool(true) {
            " copies"
        } else {
            ""
        };
        let name = format!("{short} {}{copies}", r["loader"].as_str().unwrap_or("?"));
        map.entry(name).or_default().push((n, peak / 1024.0));
    }
    for points in map.values_mut() {
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    map
}

const COLOURS: &[&str] = &[
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf",
];

/// An SVG line chart: peak VmallocUsed increase (MiB) against N, one line per series.
fn plot(records: &[Value]) -> String {
    let data = series(records);
    let (w, h, left, bottom, top, right) = (760.0, 440.0, 70.0, 50.0, 30.0, 220.0);
    let max_n = data.values().flatten().map(|p| p.0).fold(1.0, f64::max);
    let max_y = data.values().flatten().map(|p| p.1).fold(1.0, f64::max) * 1.05;
    let x = |n: f64| left + (n - 1.0) / (max_n - 1.0).max(1.0) * (w - left - right);
    let y = |v: f64| h - bottom - v / max_y * (h - bottom - top);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n\
<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
<text x=\"{}\" y=\"18\" text-anchor=\"middle\">xfs: peak VmallocUsed above baseline during N concurrent loads (QEMU TCG)</text>\n\
<line x1=\"{left}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"black\"/>\n\
<line x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{}\" stroke=\"black\"/>\n\
<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">N (concurrent loaders)</text>\n\
<text x=\"16\" y=\"{}\" transform=\"rotate(-90 16 {})\" text-anchor=\"middle\">MiB</text>\n",
        w / 2.0,
        h - bottom,
        w - right,
        h - bottom,
        h - bottom,
        (left + w - right) / 2.0,
        h - 12.0,
        h / 2.0,
        h / 2.0
    );
    for n in [1.0, 2.0, 4.0, 8.0, 16.0, 32.0]
        .into_iter()
        .filter(|n| *n <= max_n)
    {
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{n}</text>",
            x(n),
            h - bottom + 16.0
        );
    }
    for i in 0..=5 {
        let v = max_y * i as f64 / 5.0;
        let _ = writeln!(
            svg,
            "<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{v:.0}</text>",
            left - 6.0,
            y(v) + 4.0
        );
    }
    for (i, (name, points)) in data.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let path: Vec<String> = points
            .iter()
            .map(|(n, v)| format!("{:.1},{:.1}", x(*n), y(*v)))
            .collect();
        let _ = writeln!(
            svg,
            "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" points=\"{}\"/>",
            path.join(" ")
        );
        for (n, v) in points {
            let _ = writeln!(
                svg,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{colour}\"/>",
                x(*n),
                y(*v)
            );
        }
        let ly = top + 18.0 * i as f64;
        let _ = writeln!(svg, "<line x1=\"{}\" y1=\"{ly}\" x2=\"{}\" y2=\"{ly}\" stroke=\"{colour}\" stroke-width=\"2\"/><text x=\"{}\" y=\"{}\">{name}</text>", w - right + 10.0, w - right + 30.0, w - right + 36.0, ly + 4.0);
    }
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn splice_replaces_only_the_generated_part() {
        let doc = format!("intro\n{BEGIN}\nold\n{END}\noutro\n");
        let out = splice(&doc, BEGIN, END, "new\n");
        assert_eq!(out, format!("intro\n{BEGIN}\nnew\n{END}\noutro\n"));
        assert!(splice("x", BEGIN, END, "y\n").ends_with(&format!("{BEGIN}\ny\n{END}\n")));
    }

    #[test]
    fn plot_has_one_line_per_series() {
        let rec = |kernel: &str, loader: &str, n: u64, peak: u64| {
            json!({"kind": "storm", "module": "xfs", "scenario": "duplicates", "kernel": kernel,
                   "loader": loader, "copies": false, "n": n, "peak_vmalloc_delta_kb": peak})
        };
        let records = vec![
            rec("6.1.0-56-amd64", "finit", 1, 6500),
            rec("6.1.0-56-amd64", "finit", 4, 26000),
            rec("6.12.117+deb13-amd64", "finit", 4, 3212),
        ];
        let s = series(&records);
        assert_eq!(
            s["6.1.0 finit"],
            vec![(1.0, 6500.0 / 1024.0), (4.0, 26000.0 / 1024.0)]
        );
        assert_eq!(plot(&records).matches("<polyline").count(), 2);
    }
}
