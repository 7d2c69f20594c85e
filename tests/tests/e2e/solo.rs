//! Tests that need the machine to themselves: they count what the tracer
//! does (its wakeups), or time what it does after a quiet spell, which
//! every other test's pods and storms fill. `cargo xtask test` runs this
//! module after all the others, one test at a time (`--test-threads=1`).

use std::collections::BTreeSet;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use tracer_common::QUIET_WAKE_NS;

use crate::support::json::EventKind;
use crate::support::procfs::status_number;
use crate::support::tracer::Tracer;

/// The main thread's voluntary context switches: one per wait in the
/// tracer's event loop (the loop runs on the main thread).
const SWITCHES: &str = "voluntary_ctxt_switches:";

/// A trickle of records (one every 10 ms or so, as pods starting and
/// stopping make) wakes the reader about once per drain period
/// ([`QUIET_WAKE_NS`]): the timer's tick. It woke twice a period (the
/// kernel for the first record a period after its last wakeup, then the
/// tick for the rest; 98 times in 60 periods of 50 ms here) until the
/// reader noted each look at the ring for the kernel, which now wakes it
/// only for a record a period after that (60). A look is a store into the
/// map's memory, mapped into the tracer's, not a `bpf()` syscall (72
/// syscalls in 200 unshares before, 0 now: −20 % of the tracer's CPU in
/// such a trickle).
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
    let periods = t0.elapsed().as_nanos() as u64 / QUIET_WAKE_NS;
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

/// A setns into a netns other than the host's (a CNI plugin's) sends the
/// plugin's argv and environment from the kernel, just before the setns:
/// its CNI command needs no /proc read while it lives, and no wakeup. A
/// plugin of 8 a pod woke the reader for its /proc (100 wakeups in 10
/// podman pods; 20 without: −19 % of the tracer's CPU). An environment
/// past what the record holds still wakes it, for /proc. Neither the way
/// back to the host's netns nor a setns that changed nothing sends one.
#[test]
fn a_visitors_facts_come_from_the_kernel_and_wake_no_one() {
    const TOLD: u64 = 30;
    const CUT: u64 = 10;
    let tracer = Tracer::start(&["--raw"]);
    let visit = |n: u64, env: &[(&str, String)]| {
        let out = Command::new(env!("CARGO_BIN_EXE_ns-workload"))
            .args(["visit", &n.to_string()])
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .spawn()
            .expect("run ns-workload visit");
        let pid = out.id();
        let st = out.wait_with_output().expect("wait for ns-workload");
        assert!(st.status.success(), "ns-workload visit: {st:?}");
        pid
    };
    let told = visit(TOLD, &[("CNI_COMMAND", "CHECK".into())]);
    // More environment than the record's 4 KiB.
    let cut = visit(
        CUT,
        &[("CNI_COMMAND", "CHECK".into()), ("BIG", "x".repeat(5000))],
    );
    let lines = tracer.stop();
    for (pid, n, complete) in [(told, TOLD, true), (cut, CUT, false)] {
        let of = |name| {
            lines
                .events()
                .filter(move |e| e.name() == name && e.pid == pid)
        };
        assert_eq!(of("setns").count() as u64, 1 + 3 * n, "every setns traced");
        let visitors: Vec<_> = of("visitor").collect();
        assert_eq!(visitors.len() as u64, n, "one visitor record per entry");
        for v in visitors {
            let EventKind::Visitor {
                argv,
                cni_command,
                complete: c,
            } = &v.kind
            else {
                unreachable!()
            };
            assert_eq!(argv[1..], ["visit", &n.to_string()], "{v:?}");
            assert_eq!(*c, complete, "{v:?}");
            let want = complete.then_some("CHECK");
            assert_eq!(cni_command.as_deref(), want, "{v:?}");
        }
    }
    let woke = lines.final_stats().kernel.wakeups;
    eprintln!("{TOLD} visits told by the kernel, {CUT} cut: {woke} wakeups");
    // A few to spare for whatever else on the machine enters a netns.
    assert!(
        (CUT..CUT + 10).contains(&woke),
        "{woke} wakeups for {CUT} setns with a cut environment (and {TOLD} without)"
    );
}

/// The first process of a new pid namespace (a container's init, a pod's
/// pause) wakes the reader at its exec: userspace reads the container's
/// bundle for its name at once, before a container that lives a few
/// milliseconds takes it away (containerd deletes it at the task's exit;
/// a job's join line once showed its id, not its name), and prints the
/// step then, not at the next drain tick. Other execs outside the host's
/// namespaces do not wake it.
#[test]
fn the_first_exec_in_a_new_pid_namespace_wakes_the_reader() {
    const INITS: u64 = 20;
    let tracer = Tracer::start(&["--raw"]);
    for _ in 0..INITS {
        // pid 1 of a new pid namespace execs `true`; then `true` in a new
        // uts namespace, by a task that is no namespace's pid 1.
        for args in [&["-p", "-f", "true"][..], &["-u", "true"]] {
            let st = Command::new("unshare")
                .args(args)
                .status()
                .expect("run unshare");
            assert!(st.success(), "unshare {args:?}");
        }
    }
    let lines = tracer.stop();
    let execs = lines
        .events()
        .filter(|e| e.name() == "exec" && e.comm == "true")
        .count() as u64;
    assert!(execs >= 2 * INITS, "{execs} execs of true traced");
    let woke = lines.final_stats().kernel.wakeups;
    eprintln!("{execs} execs of true, {INITS} by a pid namespace's first process: {woke} wakeups");
    // A few to spare for whatever else on the machine starts.
    assert!(
        (INITS..INITS + 10).contains(&woke),
        "{woke} wakeups for {INITS} first execs in a new pid namespace (of {execs} execs)"
    );
}
