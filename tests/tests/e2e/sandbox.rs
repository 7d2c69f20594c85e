//! A pod made by hand (`ns-workload pod`: a fake pause in fresh namespaces,
//! two containers that setns into it), traced by the real programs; the
//! rebuilt sandbox must match what the workload recorded.

use std::collections::BTreeSet;

use crate::support::json::Sandbox;
use crate::support::tracer::Tracer;
use crate::support::workload;

#[test]
fn a_hand_made_pod_is_rebuilt_as_the_workload_made_it() {
    hand_made_pod(&[]);
}

#[test]
fn a_hand_made_pod_is_rebuilt_the_same_without_the_kernel_filter() {
    hand_made_pod(&["--all"]);
}

fn set(v: &[String]) -> BTreeSet<&str> {
    v.iter().map(String::as_str).collect()
}

fn hand_made_pod(args: &[&str]) {
    let tracer = Tracer::start(args);
    let truth = workload::hand_made_pod();
    let lines = tracer.stop();
    lines.assert_lossless();

    let report = lines.report();
    let pause_pid = truth.pause_pid;
    let net = truth.pause_ns["net"];
    // Our sandbox is the one holding the pause's netns (others may run on
    // this node, and a namespace freed before may have had the same inode
    // number: the kernel reuses them, so the pause's pid picks ours).
    let sandboxes: Vec<&Sandbox> = report
        .sandboxes
        .iter()
        .filter(|s| {
            s.namespaces
                .iter()
                .any(|n| n.kind == "net" && n.inum == net)
                && s.pause.as_ref().is_some_and(|p| p.pid == pause_pid)
        })
        .collect();
    assert_eq!(
        sandboxes.len(),
        1,
        "one sandbox holds netns {net} with pause {pause_pid}: {report:?}"
    );
    let sb = sandboxes[0];

    // The pause, and who made its namespaces: the pause's own process, by
    // unshare, before it exec'd.
    let pause = sb.pause();
    assert_eq!(pause.pid, pause_pid);
    assert_eq!(pause.argv[0], truth.pause_path);
    assert_eq!(pause.exit, Some(truth.pause_exit));
    assert!(!sb.existing);
    let pause_started = pause.started_ns.expect("the pause's exec was seen");
    for kind in ["net", "ipc", "uts"] {
        let ns = sb
            .namespaces
            .iter()
            .find(|n| n.kind == kind)
            .unwrap_or_else(|| panic!("no {kind} in {sb:?}"));
        assert_eq!(ns.inum, truth.pause_ns[kind], "{kind}");
        let created = ns
            .created
            .as_ref()
            .unwrap_or_else(|| panic!("{kind}: no creation: {ns:?}"));
        assert_eq!(created.pid, pause_pid, "{kind} creator");
        assert_eq!(created.syscall, "unshare");
        assert!(created.ts_ns >= truth.pause_from_ns);
        assert!(created.ts_ns <= pause_started);
    }

    // The two containers: pids, order, namespaces, exits; joins inside the
    // window the workload measured around each spawn, the exec after them
    // and before the reap (spawn() may return before the exec tracepoint).
    let got = &sb.containers;
    let want = &truth.containers;
    assert_eq!(got.len(), want.len(), "containers: {got:?}");
    for (g, w) in got.iter().zip(want) {
        assert_eq!(g.pid, w.pid);
        assert_eq!(g.argv, w.argv);
        assert_eq!(g.exit, Some(w.exit));
        assert_eq!(set(&g.joined), BTreeSet::from(["ipc", "net", "uts"]));
        assert!(g.missing.is_empty(), "{g:?}");
        let (from, to, reaped) = (w.spawn_from_ns, w.spawn_to_ns, w.reaped_ns);
        let (joined, started, left) = (
            g.joined_ns.expect("joined"),
            g.started_ns.expect("started"),
            g.left_ns.expect("left"),
        );
        assert!(from <= joined && joined <= to, "{from} <= {joined} <= {to}");
        assert!(
            joined <= started && started < left && left <= reaped,
            "{joined} <= {started} < {left} <= {reaped}"
        );
    }
    assert_eq!(got[0].exit, Some(3));
    assert_eq!(got[1].exit, Some(137));
    let (first_left, second_joined) = (got[0].left_ns, got[1].joined_ns);
    assert!(
        first_left.expect("left") < second_joined.expect("joined"),
        "the early one left before the second joined"
    );
    // Ended once the pause and both containers were gone.
    let ended = sb.ended_ns.expect("the sandbox ended");
    let pause_exited = pause.exited_ns.expect("the pause exited");
    assert!(ended >= got[1].left_ns.expect("left") && ended >= pause_exited);
    assert!(sb.durations.pause_to_first_join_ns.is_some_and(|d| d > 0));
    assert!(sb.anomalies.is_empty(), "{:?}", sb.anomalies);

    // The live lines told the same story, in this order.
    let story: Vec<&str> = lines
        .lifecycle()
        .filter(|l| l.sandbox == sb.sandbox)
        .map(|l| l.step.name())
        .filter(|e| !matches!(*e, "namespace_created" | "namespace_empty"))
        .collect();
    assert_eq!(
        story,
        [
            "pause_started",
            "container_joined",
            "left",
            "container_joined",
            "left",
            "pause_exited",
            "sandbox_ended"
        ]
    );
}
