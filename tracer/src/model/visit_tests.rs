//! Visitors: every task in a pod's namespaces that is not its pause, a
//! container or an exec session is listed, and nothing else is.

use tracer_common::{CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWUTS};

use super::*;
use crate::testkit::visitors::{
    cni_plugin, dockerd_visits, in_netns, ip_netns_exec, nsenter, nsenter_pid, thread_exit,
};
use crate::testkit::{
    APP, CLONE_PARENT, Driver, Feed, HOST, Maker, PAUSE_NS, POD, SIGCHLD, Spaces, app_container,
    runc, runc_pause, runtime_makes_netns, snapshot,
};

fn visits(m: &Model, sb: usize) -> Vec<&Visit> {
    m.visits.of_sandbox(sb).collect()
}

fn v(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

/// containerd's pause: stage 1 joins the netns containerd made, unshares the rest.
fn containerd_pause(w: &mut Driver) -> u32 {
    runc(
        w,
        710,
        &[(CLONE_NEWNET, in_netns(POD))],
        Some((
            CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID,
            POD,
        )),
        &["/pause"],
        "pause",
    )
}

#[test]
fn cni_add_before_the_pause_waits_for_the_sandbox_then_del_after_its_exit() {
    for mut w in [Driver::new(), Driver::filtered()] {
        runtime_makes_netns(&mut w, (501, 500), "containerd", POD);
        // RunPodSandbox: CNI ADD (loopback, then bridge on a locked thread) before the pause.
        cni_plugin(&mut w, (601, 600), "loopback", POD);
        cni_plugin(&mut w, (612, 610), "bridge", POD);
        assert!(w.m.sandboxes.is_empty());
        assert_eq!(w.m.visits.pending_len(), 2, "waiting under the netns");
        assert!(w.names().is_empty(), "nothing printed before the sandbox");
        let pause = containerd_pause(&mut w);
        // The visits come out with the sandbox, after its namespaces, before the pause.
        let names = w.names();
        assert_eq!(
            names,
            ["ns", "ns", "ns", "ns", "ns", "visit", "visit", "pause"],
            "{names:?}"
        );
        let at: Vec<u64> = w.out.iter().map(|l| l.ts_ns).collect();
        assert!(
            at[5] < at[6] && at[6] < at[7],
            "with their own times: {at:?}"
        );
        assert_eq!(w.m.visits.pending_len(), 0);
        app_container(&mut w, 810, POD, &["/app"]);
        w.exit(pause, "pause", 9, PAUSE_NS);
        // StopPodSandbox: CNI DEL through the pin, after the pause died.
        cni_plugin(&mut w, (622, 620), "bridge", POD);
        let rows = visits(&w.m, 0);
        let who: Vec<(u32, u32, &str)> = rows
            .iter()
            .map(|r| (r.pid, r.tid, r.comm.as_str()))
            .collect();
        assert_eq!(
            who,
            [
                (600, 601, "loopback"),
                (610, 612, "bridge"),
                (620, 622, "bridge")
            ]
        );
        for r in &rows {
            assert_eq!(r.joined, [NsKind::Net]);
            assert_eq!(r.how, Some("setns"));
            assert_eq!(r.left_ns.map(|l| l - r.entered_ns), Some(1_000_000));
            assert_eq!(
                r.exit, None,
                "the thread went back; the process's exit is not its"
            );
        }
        let phases: Vec<(String, &str)> = rows
            .iter()
            .map(|r| {
                let p = w.m.cni_phase(r).expect("a CNI plugin");
                (p.command, p.from)
            })
            .collect();
        assert_eq!(
            phases,
            [
                ("ADD".into(), "time"),
                ("ADD".into(), "time"),
                ("DEL".into(), "time")
            ]
        );
        assert!(w.m.containers.len() == 1, "{:?}", w.m.containers);
        let d = w.m.durations(0);
        assert_eq!(d.cni_add_ns, Some(4_000_000), "loopback in → bridge out");
        assert_eq!(d.namespaces_to_cni_add_ns, Some(2_000_000));
        assert!(d.cni_add_to_pause_ns.is_some_and(|n| n > 0));
        assert_eq!(d.cni_del_ns, Some(1_000_000));
        assert_eq!(d.pause_exit_to_cni_del_ns, Some(1_000_000));
        assert!(w.names().ends_with(&["visit"]), "{:?}", w.names());
    }
}

#[test]
fn the_plugins_own_cni_command_wins_over_time() {
    let mut w = Driver::new();
    runtime_makes_netns(&mut w, (501, 500), "containerd", POD);
    let pause = containerd_pause(&mut w);
    // A DEL before the pause's exit (a runtime tearing the network down first).
    let inside = in_netns(POD);
    w.ns_change(true, (631, 630), "bridge", CLONE_NEWNET, HOST, inside);
    assert_eq!(w.m.visits.take_asks(), [630], "its /proc is asked for");
    w.m.note(&Note::Visitor {
        pid: 630,
        argv: v(&["/usr/lib/cni/bridge"]),
        cni_command: Some("DEL".into()),
    });
    w.ns_change(true, (631, 630), "bridge", CLONE_NEWNET, inside, HOST);
    w.exit(pause, "pause", 9, PAUSE_NS);
    let r = visits(&w.m, 0)[0];
    assert_eq!(r.argv, ["/usr/lib/cni/bridge"]);
    let p = w.m.cni_phase(r).expect("a CNI plugin");
    assert_eq!((p.command.as_str(), p.from), ("DEL", "environ"));
    assert_eq!(
        w.m.durations(0).pause_exit_to_cni_del_ns,
        Some(-2_000_000),
        "DEL began before the pause's exit"
    );
}

/// The kernel sends a plugin's argv and environment just before its setns:
/// its CNI command needs no /proc read (which races the plugin's exit).
/// One whose environment was not read whole is asked for, as before.
#[test]
fn the_kernels_visitor_record_tells_a_plugin_without_proc() {
    let mut w = Driver::new();
    runtime_makes_netns(&mut w, (501, 500), "containerd", POD);
    let pause = containerd_pause(&mut w);
    let inside = in_netns(POD);
    let told = |w: &mut Driver, who, cni| {
        let argv = ["/usr/lib/cni/bridge"];
        let ev = w.maker().visitor(who, "bridge", &argv, cni, &inside.set());
        w.feed(ev);
        w.ns_change(true, who, "bridge", CLONE_NEWNET, HOST, inside);
        w.ns_change(true, who, "bridge", CLONE_NEWNET, inside, HOST);
    };
    told(&mut w, (631, 630), Some(Some("DEL")));
    assert!(w.m.visits.take_asks().is_empty(), "no /proc read");
    told(&mut w, (641, 640), None);
    assert_eq!(w.m.visits.take_asks(), [640], "cut: /proc is read");
    w.exit(pause, "pause", 9, PAUSE_NS);
    let rows = visits(&w.m, 0);
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].argv, ["/usr/lib/cni/bridge"]);
    let p = w.m.cni_phase(rows[0]).expect("a CNI plugin");
    assert_eq!((p.command.as_str(), p.from), ("DEL", "environ"));
    assert!(rows[1].argv.is_empty() && rows[1].cni_command.is_none());
}

#[test]
fn a_plugin_entering_twice_is_read_once() {
    let mut w = Driver::new();
    let pause = runc_pause(&mut w);
    let inside = in_netns(POD);
    w.ns_change(true, (612, 610), "bridge", CLONE_NEWNET, HOST, inside);
    assert_eq!(w.m.visits.take_asks(), [610]);
    w.m.note(&Note::Visitor {
        pid: 610,
        argv: v(&["/usr/lib/cni/bridge"]),
        cni_command: Some("ADD".into()),
    });
    w.ns_change(true, (612, 610), "bridge", CLONE_NEWNET, inside, HOST);
    // Its second entry: gone from /proc by then, but the first read holds.
    w.ns_change(true, (612, 610), "bridge", CLONE_NEWNET, HOST, inside);
    assert!(w.m.visits.take_asks().is_empty(), "not asked again");
    w.ns_change(true, (612, 610), "bridge", CLONE_NEWNET, inside, HOST);
    let rows: Vec<(Vec<String>, Option<String>)> = visits(&w.m, 0)
        .iter()
        .map(|r| (r.argv.clone(), r.cni_command.clone()))
        .collect();
    assert_eq!(rows.len(), 2);
    assert!(
        rows.iter()
            .all(|r| r.0 == ["/usr/lib/cni/bridge"] && r.1.as_deref() == Some("ADD"))
    );
    // A new process with that pid is not the plugin.
    w.fork(1, 610, "bash", SIGCHLD, HOST, HOST);
    w.setns(610, "nsenter", CLONE_NEWNET, HOST, inside);
    assert_eq!(w.m.visits.take_asks(), [610]);
    w.exit(pause, "pause", 9, PAUSE_NS);
}

#[test]
fn nsenter_into_a_pod_is_a_visitor_not_a_container() {
    for mut w in [Driver::new(), Driver::filtered()] {
        let pause = runc_pause(&mut w);
        app_container(&mut w, 810, POD, &["/app"]);
        let ns = nsenter(&mut w, 4000, POD, &["sleep", "2"]);
        let names = w.names();
        assert_eq!(
            names.last(),
            Some(&"visit"),
            "announced at its exec: {names:?}"
        );
        let entered = w.m.visits.of_sandbox(0).next().map(|r| r.entered_ns);
        assert_eq!(
            w.out.last().map(|l| l.ts_ns),
            entered,
            "the step is dated when it entered"
        );
        w.exit(4000, "sleep", 0, ns);
        assert_eq!(w.names().last(), Some(&"visit-left"));
        assert_eq!(w.m.containers.len(), 1, "only the app");
        let r = visits(&w.m, 0)[0].clone();
        assert_eq!((r.pid, r.comm.as_str()), (4000, "sleep"));
        assert_eq!(r.argv, ["sleep", "2"]);
        assert!(r.exec_inside);
        assert_eq!(r.joined, [NsKind::Ipc, NsKind::Uts, NsKind::Net]);
        assert_eq!((r.exit, r.how), (Some(0), Some("exit")));
        assert_eq!(w.m.cni_phase(&r), None);
        w.exit(pause, "pause", 0, PAUSE_NS);
    }
}

#[test]
fn ip_netns_exec_unshares_a_mount_namespace_and_is_still_a_visitor() {
    let mut w = Driver::new();
    runc_pause(&mut w);
    let ns = ip_netns_exec(&mut w, 4100, POD.net, 4900, &["sleep", "0.3"]);
    w.exit(4100, "sleep", 0, ns);
    assert!(w.m.containers.is_empty(), "no partial-join container");
    let r = visits(&w.m, 0)[0];
    assert_eq!((r.pid, r.argv.clone()), (4100, v(&["sleep", "0.3"])));
    assert_eq!(
        r.joined,
        [NsKind::Net],
        "its own mount namespace is no join"
    );
    assert_eq!(r.exit, Some(0));
    assert!(!w.names().contains(&"join"));
}

#[test]
fn a_hand_made_container_joining_every_pod_namespace_is_still_a_container() {
    // What the e2e `ns-workload pod` does: no runtime, but net, ipc, uts
    // and a mount namespace of its own — a container, not a visitor.
    let mut w = Driver::new();
    runc_pause(&mut w);
    let j1 = Spaces {
        net: POD.net,
        ..HOST
    };
    let j2 = Spaces { ipc: POD.ipc, ..j1 };
    let j3 = Spaces { uts: POD.uts, ..j2 };
    let own = Spaces { mnt: 4950, ..j3 };
    w.fork(1, 4200, "ns-workload", SIGCHLD, HOST, HOST);
    w.setns(4200, "ns-workload", 0, HOST, j1);
    w.setns(4200, "ns-workload", 0, j1, j2);
    w.setns(4200, "ns-workload", 0, j2, j3);
    w.unshare(4200, "ns-workload", CLONE_NEWNS, j3, own);
    w.exec(4200, "sh", "/bin/sh", &["/bin/sh"], own);
    assert_eq!(w.m.containers.len(), 1);
    assert!(visits(&w.m, 0).is_empty());
    assert_eq!(w.m.visits.open_len(), 0, "the candidate is gone");
}

#[test]
fn runtime_steps_that_make_containers_and_exec_sessions_are_no_visitors() {
    let mut w = Driver::new();
    runtime_makes_netns(&mut w, (501, 500), "containerd", POD);
    let pause = containerd_pause(&mut w);
    let app = app_container(&mut w, 810, POD, &["/app"]);
    let e1 = in_netns(POD);
    let e2 = Spaces {
        ipc: POD.ipc,
        uts: POD.uts,
        ..e1
    };
    let e3 = Spaces {
        mnt: APP.mnt,
        pfc: APP.pfc,
        ..e2
    };
    let sh = runc(
        &mut w,
        910,
        &[
            (CLONE_NEWNET, e1),
            (0, e2),
            (CLONE_NEWNS | CLONE_NEWPID, e3),
        ],
        None,
        &["/bin/sh"],
        "sh",
    );
    w.exit(sh, "sh", 0, APP);
    w.exit(app, "app", 0, APP);
    w.exit(pause, "pause", 9, PAUSE_NS);
    assert!(!w.names().contains(&"visit"), "{:?}", w.names());
    assert!(visits(&w.m, 0).is_empty());
    assert_eq!(w.m.visits.open_len(), 0);
    assert_eq!(w.m.visits.pending_len(), 0);
}

#[test]
fn a_runc_stage_1_that_fails_before_its_fork_is_listed() {
    // runc's stage 1 joins and dies (a join failure): it made nothing.
    let mut w = Driver::new();
    runc_pause(&mut w);
    w.fork(
        909,
        910,
        "runc:[1:CHILD]",
        CLONE_PARENT | SIGCHLD,
        HOST,
        HOST,
    );
    w.setns(910, "runc:[1:CHILD]", CLONE_NEWNET, HOST, in_netns(POD));
    w.exit(910, "runc:[1:CHILD]", 1 << 8, in_netns(POD));
    let r = visits(&w.m, 0)[0];
    assert_eq!((r.comm.as_str(), r.exit), ("runc:[1:CHILD]", Some(1)));
}

#[test]
fn nsenter_with_a_pid_namespace_lists_nsenter_and_what_it_forked() {
    let mut w = Driver::new();
    let pause = runc_pause(&mut w);
    let inside = nsenter_pid(&mut w, 4300, 4301, POD, &["ps"]);
    w.exit(4301, "ps", 0, inside);
    w.exit(
        4300,
        "nsenter",
        0,
        Spaces {
            pfc: POD.pfc,
            ..in_netns(POD)
        },
    );
    let rows: Vec<(u32, Vec<NsKind>, Option<i32>)> = visits(&w.m, 0)
        .iter()
        .map(|r| (r.pid, r.joined.clone(), r.exit))
        .collect();
    assert_eq!(
        rows,
        [
            (4301, vec![NsKind::Net, NsKind::Pid], Some(0)),
            (4300, vec![NsKind::Net, NsKind::Pid], Some(0))
        ]
    );
    w.exit(pause, "pause", 0, PAUSE_NS);
}

#[test]
fn nsenter_into_pinned_namespaces_makes_no_sandbox_and_waits_for_one() {
    let mut w = Driver::new();
    let pinned = Spaces {
        net: POD.net,
        ipc: POD.ipc,
        uts: POD.uts,
        ..HOST
    };
    w.unshare(
        1000,
        "pinns",
        CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS,
        HOST,
        pinned,
    );
    w.exit(1000, "pinns", 0, pinned);
    let ns = nsenter(&mut w, 4000, POD, &["ip", "addr"]);
    w.exit(4000, "ip", 0, ns);
    assert!(w.m.sandboxes.is_empty(), "a visitor makes no sandbox");
    assert_eq!(w.m.visits.pending_len(), 1);
    app_container(&mut w, 810, POD, &["/app"]);
    assert_eq!(w.m.sandboxes.len(), 1);
    let r = visits(&w.m, 0)[0];
    assert_eq!((r.pid, r.argv.clone()), (4000, v(&["ip", "addr"])));
    let names = w.names();
    let visit = names.iter().position(|n| *n == "visit");
    let nopause = names.iter().position(|n| *n == "nopause");
    assert!(visit.is_some() && nopause.is_some(), "{names:?}");
}

#[test]
fn a_visitor_inside_when_the_sandbox_appears_is_attached_and_its_leaving_printed() {
    // `ip netns exec X sleep 100` on a named netns, then a pod made on X.
    let mut w = Driver::new();
    let netns_only = in_netns(POD);
    w.unshare(300, "ip", CLONE_NEWNET, HOST, netns_only);
    w.setns(300, "ip", CLONE_NEWNET, netns_only, HOST);
    let ns = ip_netns_exec(&mut w, 4100, POD.net, 4900, &["sleep", "100"]);
    assert_eq!(w.m.visits.pending_len(), 1);
    let pause = containerd_pause(&mut w);
    w.exit(4100, "sleep", 0, ns);
    let names = w.names();
    assert_eq!(
        names.iter().filter(|n| **n == "visit").count(),
        1,
        "{names:?}"
    );
    assert_eq!(names.last(), Some(&"visit-left"));
    assert_eq!(visits(&w.m, 0)[0].left_ns, w.out.last().map(|l| l.ts_ns));
    w.exit(pause, "pause", 9, PAUSE_NS);
}

#[test]
fn dockerds_thread_and_its_re_exec_are_visitors() {
    let mut w = Driver::filtered();
    let pause = runc_pause(&mut w);
    dockerd_visits(&mut w, (2101, 2100), 2200, POD);
    let rows: Vec<(u32, u32, &str, Option<&str>)> = visits(&w.m, 0)
        .iter()
        .map(|r| (r.pid, r.tid, r.comm.as_str(), r.how))
        .collect();
    assert_eq!(
        rows,
        [
            (2100, 2101, "dockerd", Some("setns")),
            (2200, 2200, "exe", Some("exit"))
        ]
    );
    w.exit(pause, "pause", 9, PAUSE_NS);
}

#[test]
fn a_thread_that_exits_inside_ends_its_visit_without_a_status() {
    let mut w = Driver::new();
    runc_pause(&mut w);
    let inside = in_netns(POD);
    w.ns_change(true, (701, 700), "bridge", CLONE_NEWNET, HOST, inside);
    thread_exit(&mut w, (701, 700), "bridge", inside);
    let r = visits(&w.m, 0)[0];
    assert_eq!((r.tid, r.exit, r.how), (701, None, Some("exit")));
}

#[test]
fn a_containers_own_moves_are_not_visits() {
    let mut w = Driver::new();
    runc_pause(&mut w);
    let app = app_container(&mut w, 810, POD, &["/app"]);
    let own = crate::testkit::app_ns(POD, 810);
    w.setns(app, "app", CLONE_NEWNET, own, Spaces { net: 999, ..own });
    assert!(visits(&w.m, 0).is_empty());
    assert_eq!(w.m.visits.open_len(), 0);
}

#[test]
fn visits_are_bounded_per_sandbox_and_while_waiting() {
    let mut w = Driver::filtered();
    w.make.step_ns = 1_000;
    runc_pause(&mut w);
    let n = VISITS_PER_SANDBOX as u32 + 50;
    for i in 0..n {
        cni_plugin(&mut w, (20_001 + 2 * i, 20_000 + 2 * i), "bridge", POD);
    }
    assert_eq!(w.m.visits.of_sandbox(0).count(), VISITS_PER_SANDBOX);
    assert_eq!(w.m.visits.not_listed(0), 50);
    assert_eq!(w.m.visits.open_len(), 0);
    // Namespaces that never become a sandbox: waiting visits stay bounded.
    for i in 0..6_000u32 {
        let pod = Spaces {
            net: 100_000 + i,
            ..HOST
        };
        w.unshare(30_000, "ip", CLONE_NEWNET, HOST, pod);
        w.setns(30_000, "ip", CLONE_NEWNET, pod, HOST);
        cni_plugin(&mut w, (40_000, 40_000), "bridge", pod);
    }
    assert!(
        w.m.visits.pending_len() <= 4096,
        "{}",
        w.m.visits.pending_len()
    );
    let now = w.make.ts_ns + w.m.retention_ns + 1;
    w.m.maintain(now);
    assert!(
        w.m.visits.pending_len() <= super::IDLE_NS_CAP,
        "{}",
        w.m.visits.pending_len()
    );
}

#[test]
fn summarised_sandboxes_take_their_visits_with_them() {
    let mut w = Driver::new();
    w.m.retention_ns = 10_000_000;
    let pause = runc_pause(&mut w);
    cni_plugin(&mut w, (601, 600), "bridge", POD);
    w.exit(pause, "pause", 9, PAUSE_NS);
    assert_eq!(w.m.visits.of_sandbox(0).count(), 1);
    let now = w.make.ts_ns + 20_000_000;
    w.m.maintain(now);
    assert!(w.m.sandboxes.is_empty());
    assert_eq!(w.m.visits.of_sandbox(0).count(), 0);
    assert_eq!(w.m.summary.visits, 1);
}

#[test]
fn visitors_running_before_the_trace_are_found_by_the_start_up_walk() {
    let mut m = Model::new();
    let nsentered = Spaces {
        net: POD.net,
        ipc: POD.ipc,
        uts: POD.uts,
        ..HOST
    };
    let ip_exec = Spaces {
        net: POD.net,
        mnt: 4900,
        ..HOST
    };
    m.seed(
        &[
            snapshot(1, 0, "systemd", &["/sbin/init"], HOST),
            snapshot(50, 1, "conmon", &["/usr/bin/conmon"], HOST),
            snapshot(51, 50, "catatonit", &["/catatonit", "-P"], PAUSE_NS),
            snapshot(60, 1, "conmon", &["/usr/bin/conmon"], HOST),
            snapshot(61, 60, "sleep", &["sleep", "1000"], APP),
            snapshot(70, 1, "bash", &["bash"], HOST),
            // `nsenter -t 51 -n -i -u bash`, and a child of it.
            snapshot(71, 70, "bash", &["bash"], nsentered),
            snapshot(72, 71, "ping", &["ping", "x"], nsentered),
            // `ip netns exec <pod's netns> sleep 100`: a partial join with
            // a mount namespace of its own — no container.
            snapshot(80, 70, "sleep", &["sleep", "100"], ip_exec),
        ],
        &HOST.set(),
        5,
    );
    assert_eq!(m.sandboxes.len(), 1);
    let pids: Vec<u32> = m.containers.values().map(|c| c.pid).collect();
    assert_eq!(pids, [61], "only the app is a container");
    let rows: Vec<(u32, Vec<NsKind>, bool)> = m
        .visits
        .of_sandbox(0)
        .map(|v| (v.pid, v.joined.clone(), v.existing))
        .collect();
    assert_eq!(
        rows,
        [
            (71, vec![NsKind::Net, NsKind::Ipc, NsKind::Uts], true),
            (80, vec![NsKind::Net], true)
        ]
    );
    // The trace goes on: the nsenter'd shell leaves.
    let mut w = Driver {
        make: Maker::new(10, 1_000_000),
        m,
        ..Driver::filtered()
    };
    w.exit(71, "bash", 0, nsentered);
    assert_eq!(w.names(), ["visit-left"]);
    let r = w.m.visits.of_sandbox(0).next().map(|v| (v.exit, v.how));
    assert_eq!(r, Some((Some(0), Some("exit"))));
}

/// A Go visitor's `exit_group`: its main thread exits first (not the
/// group's last), another thread last with the status: the visit gets it.
#[test]
fn a_visitor_whose_main_thread_is_not_the_last_to_exit_keeps_its_status() {
    let mut w = Driver::new();
    runc_pause(&mut w);
    let ns = ip_netns_exec(&mut w, 4100, POD.net, 4900, &["set-ipv6"]);
    thread_exit(&mut w, (4100, 4100), "exe", ns);
    assert_eq!(visits(&w.m, 0)[0].exit, None, "not known yet");
    let Event::Exit(mut e) = w.maker().exit(4103, "exe", 0, &ns.set()) else {
        unreachable!()
    };
    e.hdr.tgid = 4100;
    w.feed(Event::Exit(e));
    let r = visits(&w.m, 0)[0];
    assert_eq!((r.exit, r.how), (Some(0), Some("exit")));
}
