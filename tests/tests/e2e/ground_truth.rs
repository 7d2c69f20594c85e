//! The harness's own clocks against the tracer's: a window that a test
//! closes on something it saw in /proc must not close before the kernel
//! event the tracer stamps for it.

use std::collections::HashMap;
use std::process::{Command, Stdio};

use crate::support::host::boot_ns;
use crate::support::json::EventKind;
use crate::support::procfs::{past_exec, try_comm};
use crate::support::tracer::Tracer;

/// CI once failed a CRI-O check by 8 µs: the harness closed the "started"
/// window when the container's comm changed, but the kernel renames a task
/// early in `execve`, before `sched_process_exec`. Polling comm alone saw
/// 40 of 300 execs before their stamp here (by up to 71 µs); `past_exec`
/// must see none.
#[test]
fn a_process_seen_past_its_exec_is_already_stamped() {
    const RUNS: usize = 200;
    let tracer = Tracer::start(&["--raw", "--all"]);
    let mut seen = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let mut child = Command::new("sleep")
            .arg("0.02")
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn sleep");
        let pid = child.id();
        // Poll as the harness does, without sleeping, to catch the gap.
        let at = loop {
            match try_comm(pid) {
                Ok(c) if c == "sleep" && past_exec(pid) => break Some(boot_ns()),
                Ok(_) => {}
                Err(_) => break None,
            }
        };
        child.wait().expect("wait for sleep");
        if let Some(at) = at {
            seen.push((pid, at));
        }
    }
    let lines = tracer.stop();
    lines.assert_lossless();
    let stamped: HashMap<u32, u64> = lines
        .events()
        .filter(|e| matches!(e.kind, EventKind::Exec { .. }) && e.comm == "sleep")
        .map(|e| (e.pid, e.ts_ns))
        .collect();
    assert!(seen.len() > RUNS / 2, "saw only {} execs", seen.len());
    let early: Vec<String> = seen
        .iter()
        .filter_map(|&(pid, at)| match stamped.get(&pid) {
            Some(&ts) if ts <= at => None,
            Some(&ts) => Some(format!("pid {pid}: seen at {at}, stamped {ts}")),
            None => Some(format!("pid {pid}: no exec event")),
        })
        .collect();
    assert!(
        early.is_empty(),
        "{} of {}: {early:?}",
        early.len(),
        seen.len()
    );
}
