//! The model fed with each runtime's way of making a pod, as the kernel
//! shows it (event sequences follow runc's nsexec, containerd's CRI
//! netns handling, CRI-O's pinns and podman).

use super::*;
use crate::host::proc::ProcSnapshot;
use crate::testkit::{
    APP, Driver, Feed, HOST, Maker, PAUSE_NS, POD, SIGCHLD, Spaces, app_container, podman_pause,
    runc, runc_pause, runtime_makes_netns, snapshot,
};
use std::collections::BTreeSet;
use tracer_common::{CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWUTS};

fn creator(m: &Model, sb: usize, kind: NsKind) -> (u32, String, &'static str) {
    let n = m
        .sandbox_namespaces(sb)
        .into_iter()
        .find(|n| n.kind == kind)
        .expect("namespace in sandbox");
    let c = n.created.expect("creation seen");
    (c.pid, c.comm.to_string(), c.syscall)
}

#[test]
fn containerd_netns_by_a_thread_then_runc_pause_then_app_and_exec() {
    containerd_pod(Driver::new());
}

#[test]
fn containerd_pod_with_the_kernel_filter_on() {
    // The same story when host tasks' fork/exec/exit never arrive.
    containerd_pod(Driver::filtered());
}

fn containerd_pod(mut w: Driver) {
    runtime_makes_netns(&mut w, (501, 500), "containerd", POD);
    // The pause: stage 1 joins that netns, unshares ipc/uts/mnt/pid; stage 2 execs /pause.
    let pause = runc(
        &mut w,
        710,
        &[(
            CLONE_NEWNET,
            Spaces {
                net: POD.net,
                ..HOST
            },
        )],
        Some((
            CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID,
            POD,
        )),
        &["/pause"],
        "pause",
    );
    assert_eq!(w.m.sandboxes.len(), 1);
    let app = app_container(&mut w, 810, POD, &["/bin/app", "--serve"]);
    // kubectl exec: stage 1 joins everything of the app, including mnt and pid.
    let e1 = Spaces {
        net: POD.net,
        ..HOST
    };
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
    w.exit(app, "app", 3 << 8, APP);
    w.exit(pause, "pause", 9, PAUSE_NS);

    let names = w.names();
    let (story, rest) = names.split_at(names.iter().position(|n| *n == "end").unwrap() + 1);
    // The story, with the sandbox's namespaces emptying as their last members go.
    let story: Vec<_> = story.iter().filter(|n| **n != "empty").copied().collect();
    assert_eq!(
        story,
        [
            "ns",
            "ns",
            "ns",
            "ns",
            "ns",
            "pause",
            "join",
            "exec",
            "exec-left",
            "left",
            "pause-exit",
            "end"
        ]
    );
    assert!(rest.iter().all(|n| *n == "empty"), "{names:?}");
    assert_eq!(w.m.sandboxes.len(), 1);
    let sb = &w.m.sandboxes[0];
    let p = sb.pause.as_ref().unwrap();
    assert_eq!(p.pid, pause);
    assert_eq!(
        p.forked_by.as_ref().unwrap().pid,
        710,
        "pause linked to stage 1 through the clone"
    );
    assert_eq!(p.exit, Some(137));
    assert!(sb.ended_ns.is_some());
    // Who created what: the netns by containerd's thread, the rest by stage 1.
    assert_eq!(
        creator(&w.m, 0, NsKind::Net),
        (500, "containerd".into(), "unshare")
    );
    assert_eq!(
        creator(&w.m, 0, NsKind::Ipc),
        (710, "runc:[1:CHILD]".into(), "unshare")
    );
    assert_eq!(
        creator(&w.m, 0, NsKind::Uts),
        (710, "runc:[1:CHILD]".into(), "unshare")
    );
    let c = &w.m.containers[0];
    assert_eq!((c.pid, c.exit, c.existing), (app, Some(3), false));
    let joined: BTreeSet<NsKind> = c.joined.iter().copied().collect();
    assert_eq!(
        joined,
        [NsKind::Net, NsKind::Ipc, NsKind::Uts]
            .into_iter()
            .collect()
    );
    assert!(c.missing.is_empty());
    assert!(c.joined_ns.unwrap() < c.started_ns.unwrap());
    assert_eq!(c.execs.len(), 1);
    assert_eq!((c.execs[0].pid, c.execs[0].exit), (sh, Some(0)));
    assert_eq!(
        w.m.containers.len(),
        1,
        "the exec session is not a container"
    );
}

#[test]
fn dockershim_pause_runc_creates_everything() {
    let mut w = Driver::new();
    let pause = runc_pause(&mut w);
    let app = app_container(&mut w, 810, POD, &["/app"]);
    for kind in [NsKind::Net, NsKind::Ipc, NsKind::Uts] {
        assert_eq!(
            creator(&w.m, 0, kind),
            (710, "runc:[1:CHILD]".into(), "unshare")
        );
    }
    assert_eq!(w.m.sandboxes[0].pause.as_ref().unwrap().pid, pause);
    assert_eq!(w.m.containers[0].pid, app);
}

#[test]
fn podman_catatonit_infra_joins_podmans_netns() {
    podman_pod(Driver::new());
}

#[test]
fn podman_pod_with_the_kernel_filter_on() {
    podman_pod(Driver::filtered());
}

fn podman_pod(mut w: Driver) {
    let pause = podman_pause(&mut w, (1501, 1500), 710, POD);
    app_container(&mut w, 810, POD, &["sleep", "1000"]);
    app_container(&mut w, 820, POD, &["sleep", "1000"]);
    assert_eq!(w.m.sandboxes.len(), 1);
    assert_eq!(w.m.sandboxes[0].pause.as_ref().unwrap().pid, pause);
    assert_eq!(
        creator(&w.m, 0, NsKind::Net),
        (1500, "podman".into(), "unshare")
    );
    assert_eq!(w.m.containers.len(), 2);
    assert_eq!(w.m.containers[1].pid, 821);
}

#[test]
fn crio_without_infra_pinns_makes_a_sandbox_without_pause() {
    crio_without_infra(Driver::new());
}

#[test]
fn crio_without_infra_with_the_kernel_filter_on() {
    crio_without_infra(Driver::filtered());
}

fn crio_without_infra(mut w: Driver) {
    w.unshare(
        1000,
        "pinns",
        CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS,
        HOST,
        Spaces {
            net: POD.net,
            ipc: POD.ipc,
            uts: POD.uts,
            ..HOST
        },
    );
    w.exit(
        1000,
        "pinns",
        0,
        Spaces {
            net: POD.net,
            ipc: POD.ipc,
            uts: POD.uts,
            ..HOST
        },
    );
    assert!(
        w.m.sandboxes.is_empty(),
        "namespaces alone are no sandbox yet"
    );
    let app = app_container(&mut w, 810, POD, &["/app"]);
    assert_eq!(w.m.sandboxes.len(), 1);
    assert!(w.m.sandboxes[0].pause.is_none());
    assert!(w.names().contains(&"nopause"));
    for kind in [NsKind::Net, NsKind::Ipc, NsKind::Uts] {
        assert_eq!(creator(&w.m, 0, kind), (1000, "pinns".into(), "unshare"));
    }
    assert_eq!(w.m.containers[0].pid, app);
    assert!(w.m.containers[0].missing.is_empty());
    // A second container joins the same sandbox, not a new one.
    app_container(&mut w, 820, POD, &["/sidecar"]);
    assert_eq!(w.m.sandboxes.len(), 1);
    assert_eq!(w.m.sandboxes[0].containers, [0, 1]);
}

#[test]
fn crio_with_infra_pause_joins_the_pins() {
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
    let j1 = Spaces {
        net: POD.net,
        ..HOST
    };
    let j2 = Spaces { ipc: POD.ipc, ..j1 };
    let pause = runc(
        &mut w,
        710,
        &[
            (CLONE_NEWNET, j1),
            (CLONE_NEWIPC, j2),
            (CLONE_NEWUTS, pinned),
        ],
        Some((CLONE_NEWNS | CLONE_NEWPID, POD)),
        &["/pause"],
        "pause",
    );
    assert!(!w.names().contains(&"nopause"), "{:?}", w.names());
    assert_eq!(w.m.sandboxes.len(), 1);
    assert_eq!(w.m.sandboxes[0].pause.as_ref().unwrap().pid, pause);
    assert_eq!(
        creator(&w.m, 0, NsKind::Uts),
        (1000, "pinns".into(), "unshare")
    );
    assert!(w.m.containers.is_empty());
}

#[test]
fn a_container_that_joins_only_the_netns_is_a_partial_join() {
    let mut w = Driver::new();
    runc_pause(&mut w);
    let j1 = Spaces {
        net: POD.net,
        ..HOST
    };
    runc(
        &mut w,
        810,
        &[(CLONE_NEWNET, j1)],
        Some((
            CLONE_NEWNS | CLONE_NEWPID,
            Spaces {
                mnt: 400,
                pfc: 401,
                ..j1
            },
        )),
        &["/odd"],
        "odd",
    );
    let c = &w.m.containers[0];
    assert_eq!(c.joined, [NsKind::Net]);
    assert_eq!(c.missing, [NsKind::Uts, NsKind::Ipc]);
    let Some(What::ContainerJoined { missing, .. }) = w
        .out
        .iter()
        .map(|l| &l.what)
        .find(|x| matches!(x, What::ContainerJoined { .. }))
    else {
        panic!("no join")
    };
    assert_eq!(missing, &[NsKind::Uts, NsKind::Ipc]);
}

#[test]
fn host_processes_make_no_sandboxes() {
    let mut w = Driver::new();
    for pid in 2000..2050 {
        w.fork(1, pid, "bash", SIGCHLD, HOST, HOST);
        w.exec(pid, "ls", "/bin/ls", &["ls"], HOST);
        w.exit(pid, "ls", 0, HOST);
    }
    // `unshare -n true`, and `ip netns exec` into a named netns.
    let own = Spaces { net: 900, ..HOST };
    w.fork(1, 3000, "bash", SIGCHLD, HOST, HOST);
    w.unshare(3000, "unshare", CLONE_NEWNET, HOST, own);
    w.exec(3000, "true", "/bin/true", &["true"], own);
    w.exit(3000, "true", 0, own);
    w.fork(1, 3001, "ip", SIGCHLD, HOST, HOST);
    w.setns(3001, "ip", CLONE_NEWNET, HOST, Spaces { net: 901, ..HOST });
    w.exec(
        3001,
        "ping",
        "/bin/ping",
        &["ping"],
        Spaces { net: 901, ..HOST },
    );
    // Even a process called pause in host namespaces is no pod.
    w.fork(1, 3002, "bash", SIGCHLD, HOST, HOST);
    w.exec(3002, "pause", "/usr/bin/pause", &["pause"], HOST);
    assert!(w.m.sandboxes.is_empty());
    assert!(w.m.containers.is_empty());
    assert!(w.out.is_empty(), "{:?}", w.out);
}

/// Each `left` step: when, its status, how.
fn lefts(w: &Driver) -> Vec<(u64, Option<i32>, &'static str)> {
    w.out
        .iter()
        .filter_map(|l| match &l.what {
            What::Left { exit, how, .. } => Some((l.ts_ns, *exit, *how)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_reused_pid_is_never_its_predecessor() {
    let mut w = Driver::new();
    runc_pause(&mut w);
    let app = app_container(&mut w, 810, POD, &["/app"]);
    // The app's exit was lost (say, a full ring buffer); its pid comes back on the host.
    w.fork(1, app, "bash", SIGCHLD, HOST, HOST);
    let reused_ns = w.make.ts_ns;
    w.exec(app, "ls", "/bin/ls", &["ls"], HOST);
    w.exit(app, "ls", 0, HOST);
    // The container left when its pid came back, its status unknown; the
    // host process's exit is not the container's.
    assert_eq!(lefts(&w), [(reused_ns, None, "lost")]);
    assert_eq!(w.m.containers[0].left_ns, Some(reused_ns));
}

#[test]
fn a_thread_that_takes_a_lost_process_s_pid_ends_that_process() {
    let mut w = Driver::new();
    runc_pause(&mut w);
    let app = app_container(&mut w, 810, POD, &["/app"]);
    // The app's exit was lost; a host process's new thread gets its pid as
    // its thread id (pids and thread ids are one number space).
    w.fork(1, 900, "bash", SIGCHLD, HOST, HOST);
    let Event::Fork(mut e) = w
        .make
        .fork(900, app, "bash", SIGCHLD, &HOST.set(), &HOST.set())
    else {
        unreachable!("fork makes a fork")
    };
    e.hdr.tgid = 900;
    e.flags = (libc::CLONE_VM | libc::CLONE_THREAD | libc::CLONE_SIGHAND) as u64;
    let reused_ns = e.hdr.ts_ns;
    w.feed(Event::Fork(e));
    assert_eq!(lefts(&w), [(reused_ns, None, "lost")]);
    assert_eq!(w.m.containers[0].left_ns, Some(reused_ns));
}

#[test]
fn a_pause_whose_exit_was_lost_ends_when_its_pid_comes_back() {
    let mut w = Driver::new();
    let pause = runc_pause(&mut w);
    // The pause's exit was lost; its pid comes back on the host.
    w.fork(1, pause, "bash", SIGCHLD, HOST, HOST);
    let reused_ns = w.make.ts_ns;
    let exited: Vec<_> = w
        .out
        .iter()
        .filter_map(|l| match &l.what {
            What::PauseExited { pause, exit } => Some((l.ts_ns, pause.pid, *exit)),
            _ => None,
        })
        .collect();
    assert_eq!(exited, [(reused_ns, pause, None)]);
    let sb = &w.m.sandboxes[0];
    assert_eq!(sb.pause.as_ref().and_then(|p| p.exited_ns), Some(reused_ns));
    // Its namespaces lost their last task then, and the sandbox ended.
    let emptied: BTreeSet<NsKind> = w
        .out
        .iter()
        .filter_map(|l| match &l.what {
            What::NamespaceEmpty { kind, .. } => Some(*kind),
            _ => None,
        })
        .collect();
    for kind in [NsKind::Net, NsKind::Ipc, NsKind::Uts] {
        assert!(emptied.contains(&kind), "{kind:?} not emptied: {emptied:?}");
    }
    assert_eq!(sb.ended_ns, Some(reused_ns));
    assert_eq!(w.names().last(), Some(&"end"));
}

#[test]
fn a_fork_from_before_the_start_up_walk_keeps_what_the_walk_found() {
    // The pause was forked while the tracer started: the walk found it
    // running, and its fork event, from before the walk, comes after.
    let started = 5_000_000_000;
    let mut m = Model::new();
    let pause = ProcSnapshot {
        start_boot_ns: started - 10_000_000,
        ..snapshot(51, 50, "catatonit", &["/catatonit", "-P"], PAUSE_NS)
    };
    m.seed(
        &[snapshot(1, 0, "systemd", &["/sbin/init"], HOST), pause],
        &HOST.set(),
        started,
    );
    let mut w = Driver {
        make: Maker::new(started - 9_000_000, 1_000),
        m,
        ..Driver::new()
    };
    w.fork(50, 51, "conmon", SIGCHLD, HOST, PAUSE_NS);
    assert!(w.names().is_empty(), "{:?}", w.names());
    // It is still the pause: its exit is the pause's.
    w.time(started + 1_000_000_000);
    w.exit(51, "catatonit", 0, PAUSE_NS);
    assert!(w.names().contains(&"pause-exit"), "{:?}", w.names());
}

#[test]
fn existing_pods_are_found_by_the_start_up_walk() {
    let mut m = Model::new();
    m.seed(
        &[
            snapshot(1, 0, "systemd", &["/sbin/init"], HOST),
            snapshot(50, 1, "conmon", &["/usr/bin/conmon"], HOST),
            snapshot(51, 50, "catatonit", &["/catatonit", "-P"], PAUSE_NS),
            snapshot(60, 1, "conmon", &["/usr/bin/conmon"], HOST),
            snapshot(61, 60, "sleep", &["sleep", "1000"], APP),
            snapshot(62, 61, "sh", &["sh"], APP),
        ],
        &HOST.set(),
        5,
    );
    assert_eq!(m.sandboxes.len(), 1);
    assert!(m.sandboxes[0].existing);
    assert_eq!(m.sandboxes[0].pause.as_ref().unwrap().pid, 51);
    assert_eq!(
        m.containers.len(),
        1,
        "the child of the container's main process is no container"
    );
    assert_eq!((m.containers[0].pid, m.containers[0].existing), (61, true));
    // And the trace goes on from there: the existing container exits.
    let mut w = Driver {
        make: Maker::new(10, 1_000_000),
        m,
        ..Driver::filtered()
    };
    w.exit(61, "sleep", 0, APP);
    assert_eq!(w.names(), ["left"]);
}

#[test]
fn exit_statuses_read_like_a_shell() {
    assert_eq!(exit_status(3 << 8), 3);
    assert_eq!(exit_status(9), 137);
    assert_eq!(exit_status(0), 0);
}

#[test]
fn pause_recognition() {
    let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert!(is_pause("/pause", &v(&["/pause"])));
    assert!(is_pause("/catatonit", &v(&["/catatonit", "-P"])));
    assert!(is_pause(
        "/usr/libexec/podman/catatonit",
        &v(&["catatonit", "-P"])
    ));
    assert!(
        !is_pause("/catatonit", &v(&["/catatonit", "--", "sh"])),
        "catatonit as an init is no pause"
    );
    assert!(!is_pause("/bin/sh", &v(&["sh"])));
}

#[test]
fn visiting_a_pods_netns_from_the_host_is_no_container() {
    let mut w = Driver::new();
    runc_pause(&mut w);
    // netavark (podman's network tool) enters the pod's netns by fd, runs
    // iptables there from the host's mount namespace, and goes back.
    let inside = Spaces {
        net: POD.net,
        ..HOST
    };
    w.setns(4000, "netavark", CLONE_NEWNET, HOST, inside);
    w.fork(4000, 4001, "netavark", SIGCHLD, inside, inside);
    w.exec(
        4001,
        "iptables",
        "/usr/sbin/iptables",
        &["iptables", "-t", "nat", "-S"],
        inside,
    );
    w.exit(4001, "iptables", 0, inside);
    w.setns(4000, "netavark", CLONE_NEWNET, inside, HOST);
    w.fork(4000, 4002, "netavark", SIGCHLD, HOST, HOST);
    w.exec(
        4002,
        "iptables",
        "/usr/sbin/iptables",
        &["iptables", "-X"],
        HOST,
    );
    assert!(w.m.containers.is_empty(), "{:?}", w.m.containers);
    // Visitors all: iptables (announced at its exec, then gone) and
    // netavark (announced when it went back).
    assert_eq!(
        w.names(),
        [
            "ns",
            "ns",
            "ns",
            "ns",
            "ns",
            "pause",
            "visit",
            "visit-left",
            "visit"
        ]
    );
    let who: Vec<(u32, &str)> =
        w.m.visits
            .of_sandbox(0)
            .map(|v| (v.pid, v.comm.as_str()))
            .collect();
    assert_eq!(who, [(4001, "iptables"), (4000, "netavark")]);
}

#[test]
fn ended_sandboxes_are_summarised_after_the_retention() {
    let mut w = Driver::new();
    w.m.retention_ns = 50_000_000; // 50 ms of trace time (events are 1 ms apart)
    for i in 0..40u32 {
        let pod = Spaces {
            net: 10_000 + i * 10,
            ipc: 10_001 + i * 10,
            uts: 10_002 + i * 10,
            mnt: 10_003 + i * 10,
            pid: 104,
            pfc: 10_004 + i * 10,
        };
        let base = 20_000 + i * 100;
        let pause = runc(
            &mut w,
            base,
            &[],
            Some((
                CLONE_NEWNET | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID,
                pod,
            )),
            &["/pause"],
            "pause",
        );
        let j = Spaces {
            net: pod.net,
            ipc: pod.ipc,
            uts: pod.uts,
            ..HOST
        };
        let app = runc(
            &mut w,
            base + 10,
            &[(0, j)],
            Some((
                CLONE_NEWNS,
                Spaces {
                    mnt: 30_000 + i,
                    ..j
                },
            )),
            &["/app"],
            "app",
        );
        w.exit(
            app,
            "app",
            0,
            Spaces {
                mnt: 30_000 + i,
                ..j
            },
        );
        w.exit(
            pause,
            "pause",
            0,
            Spaces {
                pid: pod.pfc,
                ..pod
            },
        );
        let now = w.make.ts_ns;
        w.m.maintain(now);
    }
    assert_eq!(w.m.summary.sandboxes + w.m.sandboxes.len() as u64, 40);
    assert!(
        w.m.sandboxes.len() <= 6,
        "{} sandboxes kept",
        w.m.sandboxes.len()
    );
    assert!(w.m.summary.sandboxes >= 30);
    assert_eq!(w.m.summary.containers, w.m.summary.sandboxes);
    assert_eq!(w.m.summary.lifetime.count, w.m.summary.sandboxes);
    assert!(w.m.containers.len() <= 6);
    // Namespaces of summarised pods are forgotten too.
    assert!(
        w.m.ns.info.len() < 60,
        "{} namespaces kept",
        w.m.ns.info.len()
    );
    // A late event about a summarised pod's process does not upset anything.
    w.exit(20_000 + 2, "pause", 0, HOST);
    w.exit(
        20_011,
        "app",
        0,
        Spaces {
            net: 10_000,
            ..HOST
        },
    );
}

#[test]
fn a_namespace_churn_does_not_grow_the_table() {
    let mut w = Driver::filtered();
    // 60,000 unshare(CLONE_NEWUTS) + setns back by one host process, within a second.
    w.make.step_ns = 5_000;
    for i in 0..60_000u32 {
        let own = Spaces {
            uts: 1_000_000 + i,
            ..HOST
        };
        w.unshare(500, "churn", CLONE_NEWUTS, HOST, own);
        w.setns(500, "churn", CLONE_NEWUTS, own, HOST);
    }
    assert!(
        w.m.ns.info.len() <= 5 * super::IDLE_NS_CAP,
        "{} namespaces kept",
        w.m.ns.info.len()
    );
    assert!(w.m.sandboxes.is_empty());
}
