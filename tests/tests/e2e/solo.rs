//! Tests that need the machine to themselves: they count what the tracer
//! does (its wakeups), which every other test's pods and storms add to.
//! `cargo xtask test` runs this module after all the others, alone.

use std::collections::BTreeSet;
use std::fs;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use crate::support::tracer::Tracer;

/// The tracer's main thread's voluntary context switches: one per wait
/// in its event loop (the loop runs on the main thread).
fn main_thread_switches(pid: u32) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/task/{pid}/status"))
        .expect("the tracer's main thread status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("a voluntary_ctxt_switches line")
}

/// A trickle of records (one every 10 ms or so, as pods starting and
/// stopping make) wakes the reader about once per 50 ms drain period: the
/// timer's tick. It woke twice a period (the kernel for the first record a
/// period after its last wakeup, then the tick for the rest; 98 times in
/// 60 periods here) until the reader noted each look at the ring for the
/// kernel, which now wakes it only for a record a period after that (60).
#[test]
fn a_trickle_of_records_wakes_the_reader_once_a_period() {
    let tracer = Tracer::start(&["--raw"]);
    let pid = tracer.ready.pid;
    let (before, t0) = (main_thread_switches(pid), Instant::now());
    let mut ours = BTreeSet::new();
    while t0.elapsed() < Duration::from_secs(3) {
        let mut child = Command::new("unshare")
            .args(["-u", "true"])
            .spawn()
            .expect("run unshare -u true");
        ours.insert(child.id());
        assert!(child.wait().expect("wait for unshare").success());
        thread::sleep(Duration::from_millis(10));
    }
    let woke = main_thread_switches(pid) - before;
    let periods = t0.elapsed().as_millis() as u64 / 50;
    let lines = tracer.stop();
    let traced: BTreeSet<u32> = lines
        .events()
        .filter(|e| e.name() == "unshare" && ours.contains(&e.pid))
        .map(|e| e.pid)
        .collect();
    eprintln!(
        "{} unshares in {periods} periods: the reader woke {woke} times",
        ours.len()
    );
    assert_eq!(traced, ours, "every unshare traced");
    assert!(
        woke <= periods * 5 / 4 + 5,
        "the reader woke {woke} times in {periods} drain periods"
    );
}
