//! The model fed with each runtime's way of making a pod, as the kernel
//! shows it (event sequences follow runc's nsexec, containerd's CRI
//! netns handling, CRI-O's pinns and podman).

use super::*;
use crate::decode::Event;
use crate::host::proc::ProcSnapshot;
use crate::testkit::make::Maker;
use std::collections::BTreeSet;
use tracer_common::{
    CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWUTS, Kind as EvKind,
};
use tracer_common::{Ns, NsSet};

const CLONE_PARENT: u64 = 0x8000;
const SIGCHLD: u64 = 17;

/// Namespaces of a task: (net, ipc, uts, mnt, pid, pid_for_children).
#[derive(Clone, Copy)]
struct S {
    net: u32,
    ipc: u32,
    uts: u32,
    mnt: u32,
    pid: u32,
    pfc: u32,
}

const HOST: S = S {
    net: 100,
    ipc: 101,
    uts: 102,
    mnt: 103,
    pid: 104,
    pfc: 104,
};

impl S {
    fn set(self) -> NsSet {
        let mut n = NsSet::default();
        n.inum[Ns::Net as usize] = self.net;
        n.inum[Ns::Ipc as usize] = self.ipc;
        n.inum[Ns::Uts as usize] = self.uts;
        n.inum[Ns::Mnt as usize] = self.mnt;
        n.inum[Ns::Pid as usize] = self.pid;
        n.inum[Ns::PidForChildren as usize] = self.pfc;
        n.inum[Ns::User as usize] = 105;
        n.inum[Ns::Cgroup as usize] = 106;
        n.inum[Ns::Time as usize] = 107;
        // ns_id as the kernel would have it: unique per namespace.
        for i in 0..tracer_common::NS_COUNT {
            n.id[i] = u64::from(n.inum[i]) + 10_000;
        }
        n
    }
}

/// Builds events with rising timestamps (1 ms apart).
struct W {
    make: Maker,
    m: Model,
    out: Vec<Lifecycle>,
    /// Drop what the in-kernel filter drops: fork/exec/exit of tasks in
    /// the host's net, ipc, uts and pid namespaces (unless a fork made new ones).
    filter: bool,
}

impl W {
    fn new() -> W {
        let mut m = Model::new();
        m.seed(
            &[snap(1, 0, "systemd", &["/sbin/init"], HOST)],
            &HOST.set(),
            0,
        );
        W {
            make: Maker::new(1_000_000_000, 1_000_000),
            m,
            out: Vec::new(),
            filter: false,
        }
    }

    fn filtered() -> W {
        W {
            filter: true,
            ..W::new()
        }
    }

    fn feed(&mut self, ev: Event) {
        let host = |n: &NsSet| {
            [Ns::Net, Ns::Ipc, Ns::Uts, Ns::Pid, Ns::PidForChildren]
                .iter()
                .all(|&s| n.inum[s as usize] == HOST.set().inum[s as usize])
        };
        let dropped = match &ev {
            Event::Fork(e) => e.flags & tracer_common::CLONE_NEW_MASK == 0 && host(&e.ns),
            Event::Exec(e) => host(&e.ns),
            Event::Exit(e) => host(&e.ns),
            _ => false,
        };
        if self.filter && dropped {
            return;
        }
        let out = self.m.event(&ev);
        self.out.extend(out);
    }

    /// `caller` (tid = pid) clones `child` with `flags`; the child starts in `ns`.
    fn fork(&mut self, caller: u32, child: u32, name: &str, flags: u64, caller_ns: S, ns: S) {
        let ev = self
            .make
            .fork(caller, child, name, flags, &caller_ns.set(), &ns.set());
        self.feed(ev);
    }

    #[allow(clippy::too_many_arguments)]
    fn change(
        &mut self,
        kind: EvKind,
        tid: u32,
        tgid: u32,
        name: &str,
        flags: u64,
        before: S,
        after: S,
    ) {
        let ev = self.make.ns_change(
            kind == EvKind::Setns,
            tid,
            tgid,
            name,
            flags,
            &before.set(),
            &after.set(),
        );
        self.feed(ev);
    }

    fn unshare(&mut self, pid: u32, name: &str, flags: u64, before: S, after: S) {
        self.change(EvKind::Unshare, pid, pid, name, flags, before, after);
    }

    fn setns(&mut self, pid: u32, name: &str, nstype: u64, before: S, after: S) {
        self.change(EvKind::Setns, pid, pid, name, nstype, before, after);
    }

    fn exec(&mut self, pid: u32, name: &str, file: &str, args: &[&str], ns: S) {
        let ev = self.make.exec(pid, name, file, args, &ns.set());
        self.feed(ev);
    }

    fn exit(&mut self, pid: u32, name: &str, status: u32, ns: S) {
        let ev = self.make.exit(pid, name, status, &ns.set());
        self.feed(ev);
    }

    fn names(&self) -> Vec<&'static str> {
        self.out.iter().map(|l| what_name(&l.what)).collect()
    }
}

fn what_name(w: &What) -> &'static str {
    match w {
        What::NamespaceCreated { .. } => "ns",
        What::PauseStarted { .. } => "pause",
        What::SandboxWithoutPause { .. } => "nopause",
        What::ContainerJoined { .. } => "join",
        What::ExecJoined { .. } => "exec",
        What::Left {
            exec_session: true, ..
        } => "exec-left",
        What::Left { .. } => "left",
        What::PauseExited { .. } => "pause-exit",
        What::NamespaceEmpty { .. } => "empty",
        What::SandboxEnded => "end",
    }
}

fn snap(pid: u32, ppid: u32, comm: &str, argv: &[&str], ns: S) -> ProcSnapshot {
    let set = ns.set();
    ProcSnapshot {
        pid,
        ppid,
        start_boot_ns: 0,
        comm: comm.into(),
        argv: argv.iter().map(|s| s.to_string()).collect(),
        exe: argv.first().map(|s| s.to_string()),
        ns_inum: set.inum,
        ns_id: set.id,
        cgroup: None,
    }
}

/// runc creates a container: stage 1 (`runc:[1:CHILD]`, pid `s1`) setns'es
/// into `join` (pairs of nstype and the namespaces after), unshares
/// `unshare` into `after`, clones stage 2 (`s1 + 1`, CLONE_PARENT) which
/// execs `argv`. Returns the stage-2 pid.
fn runc(
    w: &mut W,
    s1: u32,
    joins: &[(u64, S)],
    unshare: Option<(u64, S)>,
    argv: &[&str],
    comm: &str,
) -> u32 {
    let mut cur = HOST;
    w.fork(
        s1 - 1,
        s1,
        "runc:[1:CHILD]",
        CLONE_PARENT | SIGCHLD,
        HOST,
        HOST,
    );
    for &(nstype, after) in joins {
        w.setns(s1, "runc:[1:CHILD]", nstype, cur, after);
        cur = after;
    }
    if let Some((flags, after)) = unshare {
        w.unshare(s1, "runc:[1:CHILD]", flags, cur, after);
        cur = after;
    }
    // Stage 2 lives in stage 1's pid_for_children.
    let s2_ns = S {
        pid: cur.pfc,
        ..cur
    };
    w.fork(
        s1,
        s1 + 1,
        "runc:[1:CHILD]",
        CLONE_PARENT | SIGCHLD,
        cur,
        s2_ns,
    );
    w.exit(s1, "runc:[1:CHILD]", 0, cur);
    w.exec(s1 + 1, comm, argv[0], argv, s2_ns);
    s1 + 1
}

const POD: S = S {
    net: 200,
    ipc: 202,
    uts: 201,
    mnt: 300,
    pid: 104,
    pfc: 303,
};
const PAUSE_NS: S = S { pid: 303, ..POD };
const APP: S = S {
    mnt: 4810,
    pid: 5810,
    pfc: 5810,
    ..POD
};

/// The namespaces of the app container whose stage 1 is `s1`: the pod's
/// net, ipc, uts and a mount and pid namespace of its own.
fn app_ns(s1: u32) -> S {
    S {
        mnt: 4000 + s1,
        pid: 5000 + s1,
        pfc: 5000 + s1,
        ..POD
    }
}

/// The app container's stage 1: join the pause's net, ipc, uts; unshare mnt and pid.
fn app_container(w: &mut W, s1: u32, argv: &[&str]) -> u32 {
    let own = app_ns(s1);
    let j1 = S {
        net: POD.net,
        ..HOST
    };
    let j2 = S { ipc: POD.ipc, ..j1 };
    let j3 = S { uts: POD.uts, ..j2 };
    runc(
        w,
        s1,
        &[(CLONE_NEWNET, j1), (CLONE_NEWIPC, j2), (CLONE_NEWUTS, j3)],
        Some((
            CLONE_NEWNS | CLONE_NEWPID,
            S {
                mnt: own.mnt,
                pfc: own.pfc,
                ..j3
            },
        )),
        argv,
        "app",
    )
}

fn creator(m: &Model, sb: usize, kind: NsKind) -> (u32, String, &'static str) {
    let n = m
        .sandbox_namespaces(sb)
        .into_iter()
        .find(|n| n.kind == kind)
        .expect("namespace in sandbox");
    let c = n.created.expect("creation seen");
    (c.pid, c.comm, c.syscall)
}

#[test]
fn containerd_netns_by_a_thread_then_runc_pause_then_app_and_exec() {
    containerd_pod(W::new());
}

#[test]
fn containerd_pod_with_the_kernel_filter_on() {
    // The same story when host tasks' fork/exec/exit never arrive.
    containerd_pod(W::filtered());
}

/// runc alone makes the whole pod (dockershim's way): stage 1 (710)
/// unshares net, mnt, uts, ipc and pid; stage 2 execs /pause. Returns its pid.
fn runc_pause(w: &mut W) -> u32 {
    runc(
        w,
        710,
        &[],
        Some((
            CLONE_NEWNET | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID,
            POD,
        )),
        &["/pause"],
        "pause",
    )
}

/// A runtime's thread `tid` of `pid` makes the pod's netns, bind-mounts it
/// and goes back to the host's (containerd's CRI, podman). Returns the host
/// namespaces with that netns.
fn runtime_makes_netns(w: &mut W, tid: u32, pid: u32, comm: &str) -> S {
    let t = S {
        net: POD.net,
        ..HOST
    };
    w.change(EvKind::Unshare, tid, pid, comm, CLONE_NEWNET, HOST, t);
    w.change(EvKind::Setns, tid, pid, comm, CLONE_NEWNET, t, HOST);
    t
}

fn containerd_pod(mut w: W) {
    runtime_makes_netns(&mut w, 501, 500, "containerd");
    // The pause: stage 1 joins that netns, unshares ipc/uts/mnt/pid; stage 2 execs /pause.
    let pause = runc(
        &mut w,
        710,
        &[(
            CLONE_NEWNET,
            S {
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
    let app = app_container(&mut w, 810, &["/bin/app", "--serve"]);
    // kubectl exec: stage 1 joins everything of the app, including mnt and pid.
    let e1 = S {
        net: POD.net,
        ..HOST
    };
    let e2 = S {
        ipc: POD.ipc,
        uts: POD.uts,
        ..e1
    };
    let e3 = S {
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
    let mut w = W::new();
    let pause = runc_pause(&mut w);
    let app = app_container(&mut w, 810, &["/app"]);
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
    podman_pod(W::new());
}

#[test]
fn podman_pod_with_the_kernel_filter_on() {
    podman_pod(W::filtered());
}

fn podman_pod(mut w: W) {
    let t = runtime_makes_netns(&mut w, 1501, 1500, "podman");
    let pause = runc(
        &mut w,
        710,
        &[(CLONE_NEWNET, t)],
        Some((
            CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID,
            POD,
        )),
        &["/catatonit", "-P"],
        "catatonit",
    );
    app_container(&mut w, 810, &["sleep", "1000"]);
    app_container(&mut w, 820, &["sleep", "1000"]);
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
    crio_without_infra(W::new());
}

#[test]
fn crio_without_infra_with_the_kernel_filter_on() {
    crio_without_infra(W::filtered());
}

fn crio_without_infra(mut w: W) {
    w.unshare(
        1000,
        "pinns",
        CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS,
        HOST,
        S {
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
        S {
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
    let app = app_container(&mut w, 810, &["/app"]);
    assert_eq!(w.m.sandboxes.len(), 1);
    assert!(w.m.sandboxes[0].pause.is_none());
    assert!(w.names().contains(&"nopause"));
    for kind in [NsKind::Net, NsKind::Ipc, NsKind::Uts] {
        assert_eq!(creator(&w.m, 0, kind), (1000, "pinns".into(), "unshare"));
    }
    assert_eq!(w.m.containers[0].pid, app);
    assert!(w.m.containers[0].missing.is_empty());
    // A second container joins the same sandbox, not a new one.
    app_container(&mut w, 820, &["/sidecar"]);
    assert_eq!(w.m.sandboxes.len(), 1);
    assert_eq!(w.m.sandboxes[0].containers, [0, 1]);
}

#[test]
fn crio_with_infra_pause_joins_the_pins() {
    let mut w = W::new();
    let pinned = S {
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
    let j1 = S {
        net: POD.net,
        ..HOST
    };
    let j2 = S { ipc: POD.ipc, ..j1 };
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
    let mut w = W::new();
    runc_pause(&mut w);
    let j1 = S {
        net: POD.net,
        ..HOST
    };
    runc(
        &mut w,
        810,
        &[(CLONE_NEWNET, j1)],
        Some((
            CLONE_NEWNS | CLONE_NEWPID,
            S {
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
    let mut w = W::new();
    for pid in 2000..2050 {
        w.fork(1, pid, "bash", SIGCHLD, HOST, HOST);
        w.exec(pid, "ls", "/bin/ls", &["ls"], HOST);
        w.exit(pid, "ls", 0, HOST);
    }
    // `unshare -n true`, and `ip netns exec` into a named netns.
    let own = S { net: 900, ..HOST };
    w.fork(1, 3000, "bash", SIGCHLD, HOST, HOST);
    w.unshare(3000, "unshare", CLONE_NEWNET, HOST, own);
    w.exec(3000, "true", "/bin/true", &["true"], own);
    w.exit(3000, "true", 0, own);
    w.fork(1, 3001, "ip", SIGCHLD, HOST, HOST);
    w.setns(3001, "ip", CLONE_NEWNET, HOST, S { net: 901, ..HOST });
    w.exec(3001, "ping", "/bin/ping", &["ping"], S { net: 901, ..HOST });
    // Even a process called pause in host namespaces is no pod.
    w.fork(1, 3002, "bash", SIGCHLD, HOST, HOST);
    w.exec(3002, "pause", "/usr/bin/pause", &["pause"], HOST);
    assert!(w.m.sandboxes.is_empty());
    assert!(w.m.containers.is_empty());
    assert!(w.out.is_empty(), "{:?}", w.out);
}

#[test]
fn a_reused_pid_is_never_its_predecessor() {
    let mut w = W::new();
    runc_pause(&mut w);
    let app = app_container(&mut w, 810, &["/app"]);
    // The app's exit was lost (say, a full ring buffer); its pid comes back on the host.
    w.fork(1, app, "bash", SIGCHLD, HOST, HOST);
    w.exec(app, "ls", "/bin/ls", &["ls"], HOST);
    w.exit(app, "ls", 0, HOST);
    assert!(
        w.m.containers[0].left_ns.is_none(),
        "the host process's exit is not the container's"
    );
    assert!(!w.names().contains(&"left"));
}

#[test]
fn existing_pods_are_found_by_the_start_up_walk() {
    let mut m = Model::new();
    m.seed(
        &[
            snap(1, 0, "systemd", &["/sbin/init"], HOST),
            snap(50, 1, "conmon", &["/usr/bin/conmon"], HOST),
            snap(51, 50, "catatonit", &["/catatonit", "-P"], PAUSE_NS),
            snap(60, 1, "conmon", &["/usr/bin/conmon"], HOST),
            snap(61, 60, "sleep", &["sleep", "1000"], APP),
            snap(62, 61, "sh", &["sh"], APP),
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
    let mut w = W {
        make: Maker::new(10, 1_000_000),
        m,
        out: Vec::new(),
        filter: true,
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
    let mut w = W::new();
    runc_pause(&mut w);
    // netavark (podman's network tool) enters the pod's netns by fd, runs
    // iptables there from the host's mount namespace, and goes back.
    let inside = S {
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
    assert_eq!(w.names(), ["ns", "ns", "ns", "ns", "ns", "pause"]);
}

#[test]
fn ended_sandboxes_are_summarised_after_the_retention() {
    let mut w = W::new();
    w.m.retention_ns = 50_000_000; // 50 ms of trace time (events are 1 ms apart)
    for i in 0..40u32 {
        let pod = S {
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
        let j = S {
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
                S {
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
            S {
                mnt: 30_000 + i,
                ..j
            },
        );
        w.exit(
            pause,
            "pause",
            0,
            S {
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
        S {
            net: 10_000,
            ..HOST
        },
    );
}

#[test]
fn a_namespace_churn_does_not_grow_the_table() {
    let mut w = W::filtered();
    // 60,000 unshare(CLONE_NEWUTS) + setns back by one host process, within a second.
    w.make.step_ns = 5_000;
    for i in 0..60_000u32 {
        let own = S {
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
