//! End-to-end: the real eBPF programs on the running kernel, driven by a
//! workload with known ground truth (`ns-workload`).

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{Tracer, assert_lossless, events, require_root, tracer_bin};
use serde_json::Value;

const CLONE_NEWNET: u64 = 0x4000_0000;
const CLONE_NEWUTS: u64 = 0x0400_0000;
const CLONE_NEWIPC: u64 = 0x0800_0000;

fn names(v: &Value) -> Vec<String> {
    let mut n: Vec<String> = v
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap_or_default().to_string())
        .collect();
    n.sort();
    n
}

fn ns(v: &Value, which: &str) -> u64 {
    v[which]
        .as_u64()
        .unwrap_or_else(|| panic!("no {which} in {v}"))
}

/// The one event of `kind` from process `pid` that satisfies `pred`.
fn find<'a>(evs: &[&'a Value], kind: &str, pid: u64, pred: impl Fn(&Value) -> bool) -> &'a Value {
    let hits: Vec<&&Value> = evs
        .iter()
        .filter(|e| e["event"] == kind && e["pid"] == pid && pred(e))
        .collect();
    assert_eq!(
        hits.len(),
        1,
        "expected one {kind} event of pid {pid}, got {hits:?}"
    );
    hits[0]
}

#[test]
fn tracer_reports_each_namespace_step_of_the_workload_in_order() {
    let tracer = Tracer::start(&["--raw"]);
    let truth = common::workload(&[]);
    let lines = tracer.stop();
    assert_lossless(&lines);
    let evs = events(&lines);

    let pid = truth["pid"].as_u64().unwrap();
    let child = truth["clone_child"].as_u64().unwrap();
    let exec_pid = truth["exec_pid"].as_u64().unwrap();

    // 1. clone: the fork event names the child, its caller, the flags, and
    // exactly the namespaces the clone created, with the child's inodes.
    let fork = find(&evs, "fork", child, |_| true);
    assert_eq!(fork["caller_pid"], pid);
    assert_eq!(fork["tid"], child);
    assert_eq!(fork["syscall"], "clone");
    let flags = fork["flags"].as_u64().unwrap();
    assert_eq!(
        flags & (CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWIPC),
        truth["clone_flags"].as_u64().unwrap()
    );
    assert_eq!(names(&fork["changed"]), ["ipc", "net", "uts"]);
    for n in ["net", "uts", "ipc", "mnt", "pid", "user"] {
        assert_eq!(
            ns(&fork["ns"], n),
            ns(&truth["clone_child_ns"], n),
            "fork ns {n}"
        );
    }

    // 2. unshare(CLONE_NEWNET): before = where we started, after = the new netns.
    let unshare = find(&evs, "unshare", pid, |e| e["flags"] == CLONE_NEWNET);
    assert_eq!(unshare["ret"], 0);
    assert_eq!(names(&unshare["flag_names"]), ["CLONE_NEWNET"]);
    assert_eq!(names(&unshare["changed"]), ["net"]);
    assert_eq!(
        ns(&unshare["ns_before"], "net"),
        ns(&truth["ns_start"], "net")
    );
    assert_eq!(
        ns(&unshare["ns"], "net"),
        ns(&truth["ns_after_unshare"], "net")
    );
    assert_ne!(ns(&unshare["ns"], "net"), ns(&truth["ns_start"], "net"));

    // 3. setns into the child's netns, with the fd and nstype we passed.
    let setns = find(&evs, "setns", pid, |_| true);
    assert_eq!(setns["fd"], truth["setns_fd"]);
    assert_eq!(setns["flags"], truth["setns_nstype"]);
    assert_eq!(setns["ret"], 0);
    assert_eq!(names(&setns["changed"]), ["net"]);
    assert_eq!(
        ns(&setns["ns_before"], "net"),
        ns(&truth["ns_after_unshare"], "net")
    );
    assert_eq!(ns(&setns["ns"], "net"), ns(&truth["clone_child_ns"], "net"));
    assert_eq!(ns(&setns["ns"], "net"), ns(&truth["ns_after_setns"], "net"));

    // 4. exec of /bin/true in a child that inherited the child's netns, then its exit.
    let exec = find(&evs, "exec", exec_pid, |_| true);
    assert_eq!(exec["filename"], truth["exec_path"]);
    assert_eq!(exec["argv"][0], truth["exec_path"]);
    assert_eq!(ns(&exec["ns"], "net"), ns(&truth["ns_after_setns"], "net"));
    let exec_exit = find(&evs, "exit", exec_pid, |e| e["group_dead"] == true);
    assert_eq!(exec_exit["exit_code"], 0);

    // 5. the clone child exits with status 7 in its own namespaces.
    let child_exit = find(&evs, "exit", child, |e| e["group_dead"] == true);
    assert_eq!(child_exit["exit_code"].as_u64().unwrap() >> 8, 7);
    assert_eq!(
        ns(&child_exit["ns"], "net"),
        ns(&truth["clone_child_ns"], "net")
    );
    assert_eq!(
        ns(&child_exit["ns"], "uts"),
        ns(&truth["clone_child_ns"], "uts")
    );

    // The steps came in the order the workload made them.
    let ts = |e: &Value| e["ts_ns"].as_u64().unwrap();
    let order = [fork, unshare, setns, exec, exec_exit, child_exit];
    for w in order.windows(2) {
        assert!(
            ts(w[0]) < ts(w[1]),
            "{} after {}",
            w[0]["event"],
            w[1]["event"]
        );
    }
    // And the kernel's never-reused ids came along (this kernel has them).
    if lines_have_ns_id(&lines) {
        assert!(unshare["ns_id"]["net"].as_u64().unwrap() > 0);
        assert_ne!(unshare["ns_id"]["net"], unshare["ns_id_before"]["net"]);
    }
}

fn lines_have_ns_id(lines: &[Value]) -> bool {
    lines
        .iter()
        .any(|l| l["type"] == "event" && l.get("ns_id").is_some())
}

#[test]
fn duration_stops_the_tracer_by_itself_with_final_counts() {
    let start = Instant::now();
    let tracer = Tracer::start(&["--duration", "1"]);
    let lines = tracer.finish();
    assert!(start.elapsed() < Duration::from_secs(20));
    assert_lossless(&lines);
    let st = common::final_stats(&lines);
    assert!(st["events"].as_u64().is_some());
}

#[test]
fn text_output_shows_an_unshare_with_its_new_netns() {
    require_root();
    let mut tracer = Command::new(tracer_bin())
        .args(["--raw", "--duration", "3"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start the tracer");
    // The text mode has no machine-readable ready line: wait for the banner.
    let stdout = tracer.stdout.take().unwrap();
    let mut reader = std::io::BufReader::new(stdout);
    let mut banner = String::new();
    std::io::BufRead::read_line(&mut reader, &mut banner).unwrap();
    assert!(banner.starts_with("# tracing"), "{banner}");
    let status = Command::new("unshare")
        .args(["-n", "sh", "-c", "readlink /proc/self/ns/net"])
        .output()
        .unwrap();
    let netns = String::from_utf8_lossy(&status.stdout);
    let inode = netns
        .trim()
        .trim_start_matches("net:[")
        .trim_end_matches(']')
        .to_string();
    assert!(inode.parse::<u64>().is_ok(), "{netns}");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut reader, &mut rest).unwrap();
    assert!(tracer.wait().unwrap().success());
    let line = rest
        .lines()
        .find(|l| l.contains("UNSHARE") && l.contains("CLONE_NEWNET"))
        .unwrap_or_else(|| panic!("no UNSHARE line in:\n{rest}"));
    assert!(line.contains(&format!("→{inode}")), "{line}");
    assert!(
        rest.lines().last().unwrap().starts_with("# done: events"),
        "{rest}"
    );
}

#[test]
fn without_privileges_the_tracer_says_what_to_do() {
    require_root();
    use std::os::unix::process::CommandExt;
    let out = Command::new(tracer_bin())
        .uid(65534)
        .gid(65534)
        .output()
        .expect("run the tracer as nobody");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("needs root") && err.contains("sudo"), "{err}");
    assert_eq!(err.lines().count(), 1, "one clear line: {err}");
}

#[test]
fn a_missing_btf_file_is_a_clear_error() {
    require_root();
    let out = Command::new(tracer_bin())
        .args(["--btf", "/nonexistent/vmlinux"])
        .output()
        .expect("run the tracer");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("/nonexistent/vmlinux") && err.contains("--btf"),
        "{err}"
    );
}

#[test]
fn a_stalled_reader_loses_events_and_says_how_many() {
    // A one-page ring buffer, a reader that sleeps at first, and a burst of
    // fork+exec+exit meanwhile (with --all, all of them are sent).
    let tracer = Tracer::start(&[
        "--all",
        "--raw",
        "--ring-kib",
        "4",
        "--debug-stall-ms",
        "1500",
    ]);
    let started = Instant::now();
    let mut runs = 0;
    while started.elapsed() < Duration::from_millis(1000) && runs < 300 {
        assert!(Command::new("/bin/true").status().unwrap().success());
        runs += 1;
    }
    // Past the stall and a tick of the loss check, so the live line is due.
    std::thread::sleep(Duration::from_millis(3000).saturating_sub(started.elapsed()));
    let lines = tracer.stop();
    let st = common::final_stats(&lines);
    let dropped = st["kernel"]["ringbuf_full"].as_u64().unwrap();
    let delivered = st["events"].as_u64().unwrap();
    assert!(dropped > 0, "a full ring buffer must be counted: {st}");
    // Each /bin/true is at least a fork, an exec and an exit: all were either delivered or counted.
    assert!(
        delivered + dropped >= 3 * runs,
        "{delivered} + {dropped} < 3 x {runs}"
    );
    // The loss was reported live, as soon as the tick saw it, not only at the end.
    assert!(
        lines.iter().any(|l| l["type"] == "stats"
            && l["final"] == false
            && l["kernel"]["ringbuf_full"].as_u64() > Some(0)),
        "no live stats line reported the drops"
    );
}
