//! `racer layout --label L NAME -- FILE...`: loads a module (its dependencies first, from
//! the same list) and reports the module-area allocations the load added to
//! /proc/vmallocinfo (testbed.md §5.5), right after the load and again once the init
//! areas have been freed, with /sys/module/NAME/{coresize,initsize}.

use crate::insert::{self, Call};
use crate::report::print_line;
use modkit_sys::LinuxKernel;
use serde_json::{json, Value};
use std::time::Duration;

/// The vmallocinfo lines of module-area images (caller `load_module`): start and size.
fn module_areas() -> Result<Vec<(String, u64)>, String> {
    let text = std::fs::read_to_string("/proc/vmallocinfo")
        .map_err(|e| format!("/proc/vmallocinfo: {e}"))?;
    Ok(text
        .lines()
        .filter(|l| l.contains(" load_module+"))
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let range = f.next()?;
            let size = f.next()?.parse().ok()?;
            Some((range.split('-').next()?.to_owned(), size))
        })
        .collect())
}

/// The areas in `after` that are not in `before`, in address order.
fn added(before: &[(String, u64)], after: &[(String, u64)]) -> Vec<Value> {
    let mut new: Vec<&(String, u64)> = after.iter().filter(|a| !before.contains(a)).collect();
    new.sort();
    new.iter()
        .map(|(start, size)| json!({ "start": start, "size": size }))
        .collect()
}

fn sysfs_number(module: &str, file: &str) -> Option<u64> {
    std::fs::read_to_string(format!("/sys/module/{module}/{file}"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

pub fn layout(args: &[String]) -> Result<(), String> {
    let (label, module, files) = match args {
        [flag, label, module, dashes, files @ ..] if flag == "--label" && dashes == "--" => {
            (label, module, files)
        }
        _ => return Err("usage: racer layout --label L NAME -- FILE...".to_owned()),
    };
    let (last, deps) = files.split_last().ok_or("layout needs the module's file")?;
    let kernel = LinuxKernel::default();
    for dep in deps {
        insert::insert(&kernel, &insert::prepare(&kernel, dep, Call::Finit)?);
    }
    let before = module_areas()?;
    let outcome = insert::insert(&kernel, &insert::prepare(&kernel, last, Call::Finit)?);
    let loaded = module_areas()?;
    std::thread::sleep(Duration::from_secs(1));
    let settled = module_areas()?;
    print_line(
        "RESULT",
        &json!({
            "kind": "layout",
            "label": label,
            "module": module,
            "load": outcome.to_json(),
            "areas_after_load": added(&before, &loaded),
            "areas_settled": added(&before, &settled),
            "coresize": sysfs_number(module, "coresize"),
            "initsize": sysfs_number(module, "initsize"),
        }),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn added_areas_are_the_new_lines() {
        let a = ("0xffffffffc0000000".to_owned(), 8192);
        let b = ("0xffffffffc04b7000".to_owned(), 1974272);
        let v = added(std::slice::from_ref(&a), &[b.clone(), a.clone()]);
        assert_eq!(v, vec![json!({"start": b.0, "size": 1974272})]);
    }
}
