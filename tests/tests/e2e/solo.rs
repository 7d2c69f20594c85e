//! Tests that need the machine to themselves: they count what the tracer
//! does (its wakeups), or time what it does after a quiet spell, which
//! every other test's pods and storms fill. `cargo xtask test` runs this
//! module after all the others, one test at a time (`--test-threads=1`).

use std::collections::BTreeSet;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use crate::support::procfs::status_number;
use crate::support::tracer::Tracer;

/// The main thread's voluntary context switches: one per wait in the
/// tracer's event loop (the loop runs on the main thread).
const SWITCHES: &str = "voluntary_ctxt_switches:";

/// A trickle of records (one every 10 ms or so, as pods starting and
/// stopping make) wakes the reader about once per 50 ms drain period: the
/// timer's tick. It woke twice a period (the kernel for the first record a
/// period after its last wakeup, then the tick for the rest; 98 times in
/// 60 periods here) until the reader noted each look at the ring for the
/// kernel, which now wakes it only for a record a period after that (60).
/// A look is a store into the map's memory, mapped into the tracer's, not
/// a `bpf()` syscall (72 syscalls in 200 unshares before, 0 now: −20 % of
/// the tracer's CPU in such a trickle).
#[test]
fn a_trickle_of_records_wakes_the_reader_once_a_period() {
    let tracer = Tracer::start(&["--raw"]);
    let pid = tracer.ready.pid;
    // Writable mappings of BPF maps: the ring's consumer page, and the slot.
    let maps =
        std::fs::read_to_string(format!("/proc/{pid}/maps")).expect("read the tracer's maps");
    let writable = maps
        .lines()
        .filter(|l| l.ends_with("anon_inode:bpf-map") && l.split(' ').nth(1) == Some("rw-s"))
        .count();
    assert_eq!(
        writable, 2,
        "the ring's consumer page and the wakeup slot are mapped:\n{maps}"
    );
    let (before, t0) = (status_number(pid, SWITCHES), Instant::now());
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
    let woke = status_number(pid, SWITCHES) - before;
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

/// An idle tracer sleeps: once a drain finds nothing, its timer slows to
/// 500 ms, and the kernel wakes it for the first record after a quiet
/// spell. A lone event after a pause must still be printed at once, never
/// a timer period late: about 2 ms here. Without the kernel's wakeup it
/// comes up to 500 ms late. (Among the other tests, their events kept the
/// tracer on its 50 ms timer, and this passed without the wakeup too.)
#[test]
fn a_lone_event_after_a_quiet_spell_is_printed_at_once() {
    let tracer = Tracer::start(&["--raw"]);
    let mut late = Vec::new();
    for _ in 0..5 {
        thread::sleep(Duration::from_millis(1200));
        tracer.skip_lines();
        let t0 = Instant::now();
        let st = Command::new("unshare")
            .args(["-u", "true"])
            .status()
            .expect("run unshare -u true");
        assert!(st.success());
        loop {
            let line = tracer
                .next_line(Duration::from_secs(5))
                .expect("an unshare line within 5 s");
            if line.contains("\"event\":\"unshare\"") && line.contains("\"comm\":\"unshare\"") {
                break;
            }
        }
        late.push(t0.elapsed());
    }
    tracer.stop();
    eprintln!("lone unshares printed after {late:?}");
    assert!(
        late.iter().all(|d| *d < Duration::from_millis(300)),
        "each unshare's line came after {late:?}"
    );
}
