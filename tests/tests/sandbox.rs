//! End-to-end: a pod made by hand (`ns-workload pod`: a fake pause in fresh
//! namespaces, two containers that setns into it), traced by the real
//! programs; the rebuilt sandbox must match what the workload recorded.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

mod common;

use std::collections::BTreeSet;

use common::{Tracer, assert_lossless};
use serde_json::Value;

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a number: {v}"))
}

fn kinds(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|k| k.as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn a_hand_made_pod_is_rebuilt_as_the_workload_made_it() {
    hand_made_pod(&[]);
}

#[test]
fn a_hand_made_pod_is_rebuilt_the_same_without_the_kernel_filter() {
    hand_made_pod(&["--all"]);
}

fn hand_made_pod(args: &[&str]) {
    let tracer = Tracer::start(args);
    let truth = common::workload(&["pod"]);
    let lines = tracer.stop();
    assert_lossless(&lines);

    let report = lines
        .iter()
        .find(|l| l["type"] == "report")
        .expect("a report line");
    let pause_pid = u(&truth["pause_pid"]);
    let net = u(&truth["pause_ns"]["net"]);
    // Our sandbox is the one holding the pause's netns (others may run on this node).
    let sandboxes: Vec<&Value> = report["sandboxes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| {
            s["namespaces"]
                .as_array()
                .unwrap()
                .iter()
                .any(|n| n["kind"] == "net" && u(&n["inum"]) == net)
        })
        .collect();
    assert_eq!(
        sandboxes.len(),
        1,
        "one sandbox holds netns {net}: {report}"
    );
    let sb = sandboxes[0];

    // The pause, and who made its namespaces: the pause's own process, by
    // unshare, before it exec'd.
    assert_eq!(u(&sb["pause"]["pid"]), pause_pid);
    assert_eq!(sb["pause"]["argv"][0], truth["pause_path"]);
    assert_eq!(sb["pause"]["exit"], truth["pause_exit"]);
    assert_eq!(sb["existing"], false);
    for kind in ["net", "ipc", "uts"] {
        let ns = sb["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["kind"] == kind)
            .unwrap_or_else(|| panic!("no {kind} in {sb}"));
        assert_eq!(u(&ns["inum"]), u(&truth["pause_ns"][kind]), "{kind}");
        assert_eq!(u(&ns["created"]["pid"]), pause_pid, "{kind} creator");
        assert_eq!(ns["created"]["syscall"], "unshare");
        assert!(u(&ns["created"]["ts_ns"]) >= u(&truth["pause_from_ns"]));
        assert!(u(&ns["created"]["ts_ns"]) <= u(&sb["pause"]["started_ns"]));
    }

    // The two containers: pids, order, namespaces, exits, times inside the
    // windows the workload measured around each spawn.
    let got = sb["containers"].as_array().unwrap();
    let want = truth["containers"].as_array().unwrap();
    assert_eq!(got.len(), want.len(), "containers: {got:?}");
    for (g, w) in got.iter().zip(want) {
        assert_eq!(g["pid"], w["pid"]);
        assert_eq!(g["argv"], w["argv"]);
        assert_eq!(g["exit"], w["exit"]);
        assert_eq!(
            kinds(&g["joined"]),
            ["ipc", "net", "uts"].map(String::from).into()
        );
        assert!(g["missing"].as_array().unwrap().is_empty());
        let (from, to) = (u(&w["spawn_from_ns"]), u(&w["spawn_to_ns"]));
        let (joined, started, left) = (u(&g["joined_ns"]), u(&g["started_ns"]), u(&g["left_ns"]));
        assert!(
            from <= joined && joined <= started && started <= to,
            "{from} <= {joined} <= {started} <= {to}"
        );
        assert!(left > started);
    }
    assert_eq!(got[0]["exit"], 3);
    assert_eq!(got[1]["exit"], 137);
    assert!(
        u(&got[0]["left_ns"]) < u(&got[1]["joined_ns"]),
        "the early one left before the second joined"
    );
    // Ended once the pause and both containers were gone.
    let ended = u(&sb["ended_ns"]);
    assert!(ended >= u(&got[1]["left_ns"]) && ended >= u(&sb["pause"]["exited_ns"]));
    assert!(u(&sb["durations"]["pause_to_first_join_ns"]) > 0);
    assert!(
        sb["anomalies"].as_array().unwrap().is_empty(),
        "{}",
        sb["anomalies"]
    );

    // The live lines told the same story, in this order.
    let sandbox_no = &sb["sandbox"];
    let story: Vec<&str> = lines
        .iter()
        .filter(|l| l["type"] == "lifecycle" && &l["sandbox"] == sandbox_no)
        .filter_map(|l| l["event"].as_str())
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
