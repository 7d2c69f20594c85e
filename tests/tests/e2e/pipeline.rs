//! The raw event pipeline: the real eBPF programs on the running kernel,
//! driven by a workload with known ground truth (`ns-workload`); the
//! tracer's start, stop, losses and errors.

use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::support::clock::{S, now_unix_ns, rfc3339_ns};
use crate::support::json::{Event, EventKind, Lines, NsMap};
use crate::support::tracer::{Tracer, require_root, tracer_bin, tracer_unprivileged};
use crate::support::unique_name;
use crate::support::workload;

const CLONE_NEWNET: u64 = 0x4000_0000;
const CLONE_NEWUTS: u64 = 0x0400_0000;
const CLONE_NEWIPC: u64 = 0x0800_0000;

fn sorted(v: &[String]) -> Vec<String> {
    let mut v = v.to_vec();
    v.sort();
    v
}

/// The one event named `name` of process `pid` for which `pred` holds.
fn find<'a>(evs: &[&'a Event], name: &str, pid: u32, pred: impl Fn(&Event) -> bool) -> &'a Event {
    let hits: Vec<&Event> = evs
        .iter()
        .copied()
        .filter(|e| e.name() == name && e.pid == pid && pred(e))
        .collect();
    assert_eq!(
        hits.len(),
        1,
        "expected one {name} event of pid {pid}, got {hits:?}"
    );
    hits[0]
}

/// A fresh path in the temp dir for a recording named after `name`.
fn temp_trace(name: &str) -> String {
    let trace = std::env::temp_dir().join(format!("{}.trace", unique_name(name)));
    trace.to_str().expect("a UTF-8 temp dir").to_string()
}

/// `tracer report TRACE ARGS`'s lines (it must succeed); the recording is
/// removed.
fn report_of(trace: &str, args: &[&str]) -> Lines {
    let out = Command::new(tracer_bin())
        .arg("report")
        .arg(trace)
        .args(args)
        .output()
        .expect("run tracer report");
    let _ = std::fs::remove_file(trace);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Lines::from_output(&out.stdout)
}

fn group_exit(e: &Event) -> Option<u32> {
    match e.kind {
        EventKind::Exit {
            exit_code,
            group_dead: true,
        } => Some(exit_code),
        _ => None,
    }
}

#[test]
fn tracer_reports_each_namespace_step_of_the_workload_in_order() {
    let tracer = Tracer::start(&["--raw"]);
    let ns_ids = tracer.ready.ns_id;
    let truth = workload::steps();
    let lines = tracer.stop();
    lines.assert_lossless();
    let evs: Vec<&Event> = lines.events().collect();
    let (pid, child, exec_pid) = (truth.pid, truth.clone_child, truth.exec_pid);

    // 1. clone: the fork event names the child, its caller, the flags, and
    // exactly the namespaces the clone created, with the child's inodes.
    let fork = find(&evs, "fork", child, |_| true);
    let EventKind::Fork {
        syscall,
        flags,
        flag_names,
        caller_pid,
        caller_tid,
        changed,
        ..
    } = &fork.kind
    else {
        unreachable!("find matched a fork")
    };
    assert_eq!(*caller_pid, pid);
    assert_eq!(*caller_tid, pid, "the workload clones from its main thread");
    assert_eq!(fork.tid, child);
    assert_eq!(fork.ppid, pid, "the clone child's parent");
    assert_eq!(syscall, "clone");
    assert_eq!(
        flags & (CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWIPC),
        truth.clone_flags
    );
    for f in ["CLONE_NEWIPC", "CLONE_NEWNET", "CLONE_NEWUTS"] {
        assert!(flag_names.iter().any(|n| n == f), "{f}: {flag_names:?}");
    }
    assert_eq!(sorted(changed), ["ipc", "net", "uts"]);
    for n in ["net", "uts", "ipc", "mnt", "pid", "user"] {
        assert_eq!(fork.ns(n), truth.clone_child_ns[n], "fork ns {n}");
    }

    // 2. unshare(CLONE_NEWNET): before = where we started, after = the new netns.
    let unshare = find(&evs, "unshare", pid, |e| e.change().flags == CLONE_NEWNET);
    let u = unshare.change();
    assert_eq!(u.syscall, "unshare");
    assert_eq!(u.ret, 0);
    assert_eq!(sorted(&u.flag_names), ["CLONE_NEWNET"]);
    assert_eq!(sorted(&u.changed), ["net"]);
    assert_eq!(u.ns_before("net"), truth.ns_start["net"]);
    assert_eq!(unshare.ns("net"), truth.ns_after_unshare["net"]);
    assert_ne!(unshare.ns("net"), truth.ns_start["net"]);

    // 3. setns into the child's netns, with the fd and nstype we passed.
    let setns = find(&evs, "setns", pid, |_| true);
    let s = setns.change();
    assert_eq!(s.syscall, "setns");
    assert_eq!(s.fd, Some(i64::from(truth.setns_fd)));
    assert_eq!(s.flags, truth.setns_nstype);
    assert_eq!(s.ret, 0);
    assert_eq!(sorted(&s.changed), ["net"]);
    assert_eq!(s.ns_before("net"), truth.ns_after_unshare["net"]);
    assert_eq!(setns.ns("net"), truth.clone_child_ns["net"]);
    assert_eq!(setns.ns("net"), truth.ns_after_setns["net"]);
    // `ns_before` names only what changed; over `ns` it gives back the
    // whole set /proc showed before each call.
    for (e, c, before) in [
        (unshare, u, &truth.ns_start),
        (setns, s, &truth.ns_after_unshare),
    ] {
        assert_eq!(c.ns_before.keys().collect::<Vec<_>>(), ["net"], "{e:?}");
        for (name, inum) in before {
            let was = c.ns_before.get(name).copied().unwrap_or_else(|| e.ns(name));
            assert_eq!(was, *inum, "{} ns_before {name}: {e:?}", e.name());
        }
    }

    // 4. exec of /bin/true in a child that inherited the child's netns, then its exit.
    let exec = find(&evs, "exec", exec_pid, |_| true);
    let EventKind::Exec {
        filename,
        argv,
        old_tid,
    } = &exec.kind
    else {
        unreachable!("find matched an exec")
    };
    assert_eq!(filename, &truth.exec_path);
    assert_eq!(argv[0], truth.exec_path);
    assert_eq!(*old_tid, exec_pid, "a single-threaded exec keeps its tid");
    assert_eq!(exec.comm, "true");
    assert_eq!(exec.ns("net"), truth.ns_after_setns["net"]);
    let exec_exit = find(&evs, "exit", exec_pid, |e| group_exit(e).is_some());
    assert_eq!(group_exit(exec_exit), Some(0));
    assert_eq!(truth.exec_status, 0);

    // 5. the clone child exits with status 7 in its own namespaces.
    let child_exit = find(&evs, "exit", child, |e| group_exit(e).is_some());
    assert_eq!(group_exit(child_exit).map(|c| c >> 8), Some(7));
    assert_eq!(truth.clone_child_status >> 8, 7);
    assert_eq!(child_exit.ns("net"), truth.clone_child_ns["net"]);
    assert_eq!(child_exit.ns("uts"), truth.clone_child_ns["uts"]);

    // The steps came in the order the workload made them.
    let order = [fork, unshare, setns, exec, exec_exit, child_exit];
    for w in order.windows(2) {
        assert!(
            w[0].ts_ns < w[1].ts_ns,
            "{} after {}",
            w[0].name(),
            w[1].name()
        );
    }
    let now = i128::from(now_unix_ns());
    for e in order {
        assert!(e.unread.is_empty(), "unread fields: {e:?}");
        assert!(e.cgroup_id > 0, "no cgroup id: {e:?}");
        let wall = rfc3339_ns(&e.time).unwrap_or_else(|err| panic!("{err}: {e:?}"));
        assert!((now - wall).abs() < 120 * i128::from(S), "{e:?}");
    }
    // And the kernel's never-reused ids came along where `ready` says it has them.
    assert_eq!(evs.iter().any(|e| e.ns_id.is_some()), ns_ids);
    if ns_ids {
        let id = |m: &Option<NsMap>| m.as_ref().and_then(|m| m.get("net").copied());
        let (after, before) = (id(&unshare.ns_id), id(&u.ns_id_before));
        assert!(after.is_some_and(|a| a > 0), "{unshare:?}");
        assert_ne!(after, before);
    }
}

#[test]
fn duration_stops_the_tracer_by_itself_with_final_counts() {
    let start = Instant::now();
    let tracer = Tracer::start(&["--duration", "1"]);
    let lines = tracer.finish();
    assert!(start.elapsed() < Duration::from_secs(20));
    // A final stats line (its counters typed, `events` among them), nothing lost.
    lines.assert_lossless();
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
    let stdout = tracer.stdout.take().expect("piped stdout");
    let mut reader = std::io::BufReader::new(stdout);
    let mut banner = String::new();
    std::io::BufRead::read_line(&mut reader, &mut banner).expect("read the banner");
    assert!(banner.starts_with("# tracing"), "{banner}");
    let status = Command::new("unshare")
        .args(["-n", "sh", "-c", "readlink /proc/self/ns/net"])
        .output()
        .expect("run unshare");
    let netns = String::from_utf8_lossy(&status.stdout);
    let inode = netns
        .trim()
        .trim_start_matches("net:[")
        .trim_end_matches(']')
        .to_string();
    assert!(inode.parse::<u64>().is_ok(), "{netns}");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut reader, &mut rest).expect("read the tracer's output");
    assert!(tracer.wait().expect("wait for the tracer").success());
    let line = rest
        .lines()
        // Other tests unshare netns at the same time: find ours by its inode.
        .find(|l| l.contains("UNSHARE") && l.contains(&format!("→{inode}")))
        .unwrap_or_else(|| panic!("no UNSHARE line into net {inode} in:\n{rest}"));
    assert!(line.contains("CLONE_NEWNET"), "{line}");
    // The final counts close the output; only the programs' run times may
    // follow them (while anyone has `kernel.bpf_stats_enabled=1`, a bench say).
    let last = rest
        .lines()
        .rev()
        .find(|l| !l.starts_with("# bpf "))
        .unwrap_or_default();
    assert!(last.starts_with("# done: events"), "{rest}");
}

#[test]
fn without_privileges_the_tracer_says_what_to_do() {
    let out = tracer_unprivileged(&[]);
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
        assert!(
            Command::new("/bin/true")
                .status()
                .expect("run /bin/true")
                .success()
        );
        runs += 1;
    }
    // Past the stall and a tick of the loss check, so the live line is due.
    std::thread::sleep(Duration::from_millis(3000).saturating_sub(started.elapsed()));
    let lines = tracer.stop();
    let st = lines.final_stats();
    let dropped = st.kernel.ringbuf_full;
    let delivered = st.events;
    assert!(dropped > 0, "a full ring buffer must be counted: {st:?}");
    // Each /bin/true is at least a fork, an exec and an exit: all were either delivered or counted.
    assert!(
        delivered + dropped >= 3 * runs,
        "{delivered} + {dropped} < 3 x {runs}"
    );
    // The loss was reported live, as soon as the tick saw it, not only at the end.
    assert!(
        lines
            .stats()
            .any(|l| !l.last && l.stats.kernel.ringbuf_full > 0),
        "no live stats line reported the drops"
    );
}

/// A refused namespace-making clone is seen at the syscall's exit: two
/// program runs at every clone on the node (parent and child), 29 % of a
/// fork+exit's BPF time. Its record makes no pod step, so those programs
/// are attached only where it is shown or kept: the raw view, the metrics,
/// a recording (the refused clone itself is checked in the next test).
#[test]
fn a_clone_exit_runs_a_program_only_where_a_refused_clone_is_shown() {
    let trace = temp_trace("clone-exit");
    let probes = |args: &[&str]| {
        let tracer = Tracer::start_cmd(args);
        let n = tracer.ready.probes;
        tracer.finish();
        n
    };
    let pods = probes(&["--duration", "1"]);
    for args in [
        &["--raw", "--duration", "1"][..],
        &["--metrics", "127.0.0.1:0", "--duration", "1"],
        &["record", "-o", &trace, "--duration", "1"],
    ] {
        assert_eq!(probes(args), pods + 2, "{args:?} vs the pod view");
    }
    let _ = std::fs::remove_file(&trace);
}

/// The reads the hot programs make without a program at the syscall's
/// entry or a helper per member: clone3's flags from the saved registers
/// and its user-space arguments; a refused clone's flags at its exit;
/// the pid namespace of tasks 1 to 4 levels deep (levels past 2 take the
/// untyped path) — each against `/proc`.
#[test]
fn clone_flags_refused_clones_and_nested_pid_namespaces_are_read_in_the_kernel() {
    let tracer = Tracer::start(&["--raw"]);
    let truth = workload::clones();
    let lines = tracer.stop();
    lines.assert_lossless();
    let evs: Vec<&Event> = lines.events().collect();

    // clone3: the flags it was given, the syscall's name, the namespaces it made.
    let fork = find(&evs, "fork", truth.clone3_child, |_| true);
    let EventKind::Fork {
        syscall,
        flags,
        changed,
        caller_pid,
        ..
    } = &fork.kind
    else {
        unreachable!("find matched a fork")
    };
    assert_eq!(syscall, "clone3");
    assert_eq!(*caller_pid, truth.pid);
    assert_eq!(flags & (CLONE_NEWUTS | CLONE_NEWIPC), truth.clone3_flags);
    assert_eq!(sorted(changed), ["ipc", "uts"]);
    for n in ["uts", "ipc", "net", "pid"] {
        assert_eq!(fork.ns(n), truth.clone3_child_ns[n], "clone3 child ns {n}");
    }

    // The refused clone: one clone_failed with its flags and errno.
    let failed = find(&evs, "clone_failed", truth.pid, |_| true);
    let c = failed.change();
    assert_eq!(c.syscall, "clone");
    assert_eq!(c.flags & truth.failed_flags, truth.failed_flags, "{c:?}");
    assert_eq!(c.ret, -i64::from(truth.failed_errno));

    // Nested pid namespaces: each task's own pid namespace, at every level.
    assert_eq!(truth.nested.len(), 4, "{:?}", truth.nested);
    for n in &truth.nested {
        let exit = evs
            .iter()
            .find(|e| e.name() == "exit" && e.tid == n.pid)
            .unwrap_or_else(|| panic!("no exit of nested task {n:?}"));
        assert_eq!(exit.ns("pid"), n.pid_ns, "level {}: {n:?}", n.level);
        let fork = find(&evs, "fork", n.pid, |_| true);
        assert_eq!(fork.ns("pid"), n.pid_ns, "fork at level {}", n.level);
    }
}

/// `tracer report --raw --json` of a recording prints the event lines the
/// live raw view printed while recording it, in the same order, then the
/// report.
#[test]
fn a_recording_replays_the_raw_lines_shown_live() {
    let trace = temp_trace("raw-replay");
    let tracer = Tracer::start_cmd(&["record", "-o", &trace, "--raw", "--all"]);
    let truth = workload::steps();
    let live = tracer.stop();
    live.assert_lossless();
    let replay = report_of(&trace, &["--raw", "--json"]);
    let events = |l: &Lines| -> Vec<serde_json::Value> {
        l.values()
            .into_iter()
            .filter(|v| v["type"] == "event")
            .collect()
    };
    let (shown, replayed) = (events(&live), events(&replay));
    assert!(
        replay
            .events()
            .any(|e| e.pid == truth.pid && e.name() == "setns"),
        "the workload's setns is not among the {} replayed events",
        replayed.len()
    );
    assert_eq!(shown.len(), replayed.len());
    for (a, b) in shown.iter().zip(&replayed) {
        assert_eq!(a, b);
    }
    let kinds: Vec<serde_json::Value> = replay.values().iter().map(|v| v["type"].clone()).collect();
    let report = kinds.iter().position(|t| t == "report");
    let last_event = kinds.iter().rposition(|t| t == "event");
    assert!(
        report > last_event,
        "the report after the events: {kinds:?}"
    );
}

/// Namespace creations the kernel refused, as the report tells them, by
/// call, types asked for, task and errno: a refused unshare in every view
/// (here the pod view, live), a refused clone where its programs run (a
/// recording, read back by `tracer report`).
#[test]
fn refused_namespace_creations_are_reported_with_their_errno() {
    let trace = temp_trace("refused");
    let live = Tracer::start(&[]);
    let recording = Tracer::start_cmd(&["record", "-o", &trace]);
    // Run `argv`, whose unshare(CLONE_NEWNET) the kernel refuses as util-linux
    // then `says`; its pid.
    let refused = |argv: &[&str], says: &str| {
        let c = Command::new(argv[0])
            .args(&argv[1..])
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run a refused unshare");
        let pid = c.id();
        let out = c.wait_with_output().expect("wait for it");
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && said.contains(says),
            "{argv:?}: {said}"
        );
        pid
    };
    // Without the privilege: EPERM.
    let eperm = refused(
        &[
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "unshare",
            "-n",
            "true",
        ],
        "Operation not permitted",
    );
    // Past a limit: ENOSPC (the user namespace's own max_net_namespaces, 0).
    let limit = "echo 0 > /proc/sys/user/max_net_namespaces && exec unshare -n true";
    let enospc = refused(
        &["unshare", "-U", "-r", "sh", "-c", limit],
        "No space left on device",
    );
    let clones = workload::clones();
    let live = live.stop();
    recording.stop();
    let replayed = report_of(&trace, &["--json"]).report_json();

    // (syscall, kinds, ret) of each refusal by `pid`, and the anomalies.
    let refusals = |report: &serde_json::Value, pid: u32| -> Vec<(String, Vec<String>, i64)> {
        let all = report["creation_failures"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        all.iter()
            .filter(|f| f["task"]["pid"] == pid)
            .map(|f| {
                let mut kinds: Vec<String> = f["kinds"]
                    .as_array()
                    .map(|k| {
                        k.iter()
                            .filter_map(|k| k.as_str())
                            .map(String::from)
                            .collect()
                    })
                    .unwrap_or_default();
                kinds.sort();
                (
                    f["syscall"].as_str().unwrap_or("").to_string(),
                    kinds,
                    f["ret"].as_i64().unwrap_or(0),
                )
            })
            .collect()
    };
    let unshare = |errno: i64| vec![("unshare".to_string(), vec!["net".to_string()], -errno)];
    let report = live.report_json();
    for (pid, errno, name) in [(eperm, 1, "EPERM"), (enospc, 28, "ENOSPC")] {
        assert_eq!(refusals(&report, pid), unshare(errno), "live: {report}");
        assert_eq!(
            refusals(&replayed, pid),
            unshare(errno),
            "replayed: {replayed}"
        );
        let words = format!("unshare(net) by {pid} unshare failed: {name}");
        let anomalies = report["anomalies"].as_array().cloned().unwrap_or_default();
        assert!(
            anomalies
                .iter()
                .any(|w| w.as_str().is_some_and(|w| w.starts_with(&words))),
            "{words} in {anomalies:?}"
        );
    }
    assert_eq!(
        refusals(&replayed, clones.pid),
        [(
            "clone".to_string(),
            vec!["net".to_string(), "user".to_string()],
            -i64::from(clones.failed_errno)
        )],
        "replayed: {replayed}"
    );
}

#[test]
fn an_unshare_that_ends_on_another_cpu_keeps_its_namespaces_before() {
    // The kernel keeps a call's namespaces-before per CPU; a call that
    // slept and was moved must still be found, with the right ones.
    let tracer = Tracer::start(&["--raw"]);
    let truth = workload::migrate();
    let lines = tracer.stop();
    lines.assert_lossless();
    assert!(truth.cpus < 2 || truth.migrations > 0, "{truth:?}");
    let unshares: Vec<&Event> = lines
        .events()
        .filter(|e| e.name() == "unshare" && e.tid == truth.tid)
        .collect();
    assert_eq!(unshares.len(), truth.nets.len() - 1, "{unshares:?}");
    for (i, (e, pair)) in unshares.iter().zip(truth.nets.windows(2)).enumerate() {
        let c = e.change();
        assert_eq!(c.ret, 0, "unshare {i}: {e:?}");
        assert_eq!(c.ns_before("net"), pair[0], "unshare {i}: {e:?}");
        assert_eq!(e.ns("net"), pair[1], "unshare {i}: {e:?}");
    }
}

/// The kernel re-reads at a call's exit only the namespaces its flags name
/// (all for an untyped setns, none for a refused call): every shape of
/// unshare and setns must still report /proc's namespaces, in every slot,
/// before and after.
#[test]
fn every_shape_of_unshare_and_setns_reports_the_namespaces_proc_shows() {
    let tracer = Tracer::start(&["--raw"]);
    let truth = workload::changes();
    let lines = tracer.stop();
    lines.assert_lossless();
    let evs: Vec<&Event> = lines
        .events()
        .filter(|e| e.tid == truth.pid && matches!(e.name(), "unshare" | "setns"))
        .collect();
    assert_eq!(evs.len(), truth.calls.len(), "{evs:?}");
    for (e, call) in evs.iter().zip(&truth.calls) {
        let c = e.change();
        assert_eq!(
            (e.name(), c.flags, c.ret),
            (call.syscall.as_str(), call.flags, call.ret),
            "{e:?}"
        );
        if call.syscall == "setns" {
            assert_eq!(c.fd, Some(i64::from(call.fd)), "{e:?}");
        }
        for (name, inum) in &call.after {
            assert_eq!(e.ns(name), *inum, "{name} after {call:?}: {e:?}");
        }
        for (name, inum) in &call.before {
            let was = c.ns_before.get(name).copied().unwrap_or_else(|| e.ns(name));
            assert_eq!(was, *inum, "{name} before {call:?}: {e:?}");
        }
        let changed: Vec<String> = call
            .after
            .iter()
            .filter(|&(name, inum)| call.before.get(name) != Some(inum))
            .map(|(name, _)| name.clone())
            .collect();
        assert_eq!(sorted(&c.changed), changed, "{e:?}");
    }
    // Each shape came: several flags, none, a refusal, a pidfd.
    let shapes = |pred: &dyn Fn(&tracer_tests::workload::NsCall) -> bool| {
        truth.calls.iter().filter(|c| pred(c)).count()
    };
    assert!(
        shapes(&|c| c.flags.count_ones() > 1 && c.ret == 0) >= 3,
        "{truth:?}"
    );
    assert!(shapes(&|c| c.flags == 0 && c.ret == 0) >= 3, "{truth:?}");
    assert!(shapes(&|c| c.ret != 0) >= 1, "{truth:?}");
}

/// unshare(CLONE_NEWUTS) and setns back, about 10 000 pairs a second, in
/// a thread of its own until `stop`; how many pairs. Paced: every tracer
/// of the tests running beside this one gets these events too.
fn paced_uts_churn(stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let uts = std::fs::File::open("/proc/thread-self/ns/uts").expect("open our uts namespace");
        let mut pairs = 0;
        while !stop.load(Ordering::Relaxed) {
            for _ in 0..10 {
                // SAFETY: no pointers; this thread's own uts namespace,
                // left for a fresh one and entered again by its fd.
                unsafe {
                    assert_eq!(libc::unshare(libc::CLONE_NEWUTS), 0);
                    assert_eq!(libc::setns(uts.as_raw_fd(), libc::CLONE_NEWUTS), 0);
                }
                pairs += 1;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        pairs
    })
}

/// Each unshare/setns exit half attaches before its enter half, so a call
/// caught between the two attaches ends with no entry seen. Such calls
/// began before the trace: started amid a stream of them, the tracer
/// counts no loss (it counted 148 `pending_missing` at this pace, and
/// thousands per start in a storm, when it did not forget them).
#[test]
fn a_tracer_started_amid_unshares_counts_no_loss() {
    require_root();
    let stop = Arc::new(AtomicBool::new(false));
    let churn = paced_uts_churn(stop.clone());
    std::thread::sleep(Duration::from_millis(100));
    let tracer = Tracer::start(&["--quiet"]);
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let pairs = churn.join().expect("the churning thread");
    let lines = tracer.stop();
    lines.assert_lossless();
    let st = lines.final_stats();
    // The tracer saw the calls that ended while it ran.
    assert!(pairs > 1000 && st.events > 1000, "{pairs} pairs, {st:?}");
    assert_eq!(st.kernel.pending_missing, 0, "{st:?}");
    assert_eq!(st.kernel.pending_full, 0, "{st:?}");
}

/// The bench's floor (`--debug-idle-programs`): every program runs and
/// returns at once (unshare's but for the tracer's self-test, which passes).
/// The same `unshare -u` that the tracer sees otherwise sends nothing
/// then, not even its fork, exec or exit.
#[test]
fn idle_programs_send_nothing_of_other_processes() {
    let seen = |args: &[&str]| {
        let tracer = Tracer::start(args);
        let pid = workload::unshare_true("-u");
        let lines = tracer.stop();
        lines.assert_lossless();
        lines.events().filter(|e| e.pid == pid).count()
    };
    assert!(seen(&["--raw", "--all"]) >= 3, "fork, unshare, exec, exit");
    assert_eq!(seen(&["--raw", "--all", "--debug-idle-programs"]), 0);
}
