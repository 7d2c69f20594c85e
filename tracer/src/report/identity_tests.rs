//! Names from runtimes (identity notes) in steps and the report, and
//! re-created sandboxes linked as attempts.

use tracer_common::{CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWUTS};

use super::{Step, StepWhat, build};
use crate::clock::Clock;
use crate::host::cgroup::{CgroupIds, Runtime};
use crate::model::{Identity, IdentityRole, Note, NsKind, What};
use crate::stats::Stats;
use crate::testkit::{
    Driver, Feed, PAUSE_NS, POD, Spaces, app_container, app_ns, runc, runc_pause,
};

const UID: &str = "acc0c0de-0000-4000-8000-000000000001";

fn cgroup(pid: u32, id: &str) -> Note {
    Note::Cgroup {
        pid,
        ids: CgroupIds {
            runtime: Some(Runtime::Unknown),
            pod_uid: Some(UID.into()),
            container_id: Some(id.into()),
            qos: Some("besteffort".into()),
        },
    }
}

fn sandbox(id: &str, attempt: u32) -> Note {
    Note::Identity(Identity {
        id: id.into(),
        role: IdentityRole::Sandbox,
        pod_namespace: Some("acc-ns".into()),
        pod_name: Some("acc-pod".into()),
        pod_uid: Some(UID.into()),
        attempt: Some(attempt),
        runtime: Some("containerd 1.6.20".into()),
        source: "cri".into(),
        ..Identity::default()
    })
}

fn container(id: &str, sandbox_id: &str, name: &str) -> Note {
    Note::Identity(Identity {
        id: id.into(),
        role: IdentityRole::Container,
        sandbox_id: Some(sandbox_id.into()),
        pod_namespace: Some("acc-ns".into()),
        pod_name: Some("acc-pod".into()),
        container_name: Some(name.into()),
        source: "bundle".into(),
        ..Identity::default()
    })
}

fn report(w: &Driver) -> super::Report {
    build(
        &w.m,
        &Stats::default(),
        &Clock {
            realtime_minus_boottime_ns: 0,
        },
    )
}

#[test]
fn steps_and_the_report_lead_with_the_pod_and_container_names() {
    let mut w = Driver::new();
    let pause = runc_pause(&mut w);
    w.m.note(&cgroup(pause, "sb1"));
    w.m.note(&sandbox("sb1", 0));
    let app = app_container(&mut w, 810, POD, &["/app"]);
    w.m.note(&cgroup(app, "c1"));
    w.m.note(&container("c1", "sb1", "app"));
    w.exit(app, "app", 3 << 8, app_ns(POD, 810));

    let left = w
        .out
        .iter()
        .find(|l| matches!(l.what, What::Left { .. }))
        .expect("the app left");
    let step = Step::resolve(&w.m, left, &[]);
    assert_eq!(step.label, "#1 acc-ns/acc-pod");
    assert_eq!(step.pod_name.as_deref(), Some("acc-ns/acc-pod"));
    assert_eq!(step.pod.as_deref(), Some(UID));
    let StepWhat::Left {
        container,
        container_id,
        ..
    } = &step.what
    else {
        panic!("{step:?}")
    };
    assert_eq!(
        (container.as_str(), container_id.as_deref()),
        ("app", Some("c1"))
    );

    let r = report(&w);
    let s = &r.sandboxes[0];
    assert_eq!(s.label, "#1 acc-ns/acc-pod");
    assert_eq!(s.pod_name.as_deref(), Some("acc-ns/acc-pod"));
    assert_eq!(s.runtime.as_deref(), Some("containerd 1.6.20"));
    assert_eq!(s.identity.as_ref().and_then(|i| i.attempt), Some(0));
    let c = &s.containers[0];
    assert_eq!((c.name.as_str(), c.id.as_deref()), ("app", Some("c1")));
    assert_eq!(
        c.identity.as_ref().map(|i| i.source.as_str()),
        Some("bundle")
    );
}

#[test]
fn a_sandbox_without_its_own_identity_is_named_through_its_containers() {
    let mut w = Driver::new();
    let _pause = runc_pause(&mut w);
    let app = app_container(&mut w, 810, POD, &["/app"]);
    w.m.note(&cgroup(app, "c1"));
    w.m.note(&container("c1", "sb1", "app"));
    let s = &report(&w).sandboxes[0];
    assert_eq!(s.pod_name.as_deref(), Some("acc-ns/acc-pod"));
    assert_eq!(s.identity.as_ref().map(|i| i.id.as_str()), Some("sb1"));
    // The cgroupfs driver names no runtime, and no runtime said which.
    assert_eq!(s.runtime, None);
}

#[test]
fn without_names_the_cgroup_ids_stay() {
    let mut w = Driver::new();
    let pause = runc_pause(&mut w);
    w.m.note(&cgroup(pause, "sb1"));
    let app = app_container(&mut w, 810, POD, &["/app"]);
    w.m.note(&cgroup(app, "0123456789abcdef"));
    let s = &report(&w).sandboxes[0];
    assert_eq!(s.label, "#1 pod acc0c0de-000");
    assert_eq!(s.pod_name, None);
    assert_eq!(s.containers[0].name, "0123456789ab");
    assert_eq!(
        s.containers[0].id.as_deref(),
        Some("0123456789abcdef"),
        "the full id"
    );
}

/// The second sandbox of the pod, as the kubelet re-creates it: new
/// namespaces, a new pause, attempt 1.
const POD2: Spaces = Spaces {
    net: 210,
    ipc: 212,
    uts: 211,
    mnt: 310,
    pid: 104,
    pfc: 313,
};

#[test]
fn a_re_created_sandbox_follows_the_killed_one() {
    let mut w = Driver::new();
    let first = runc_pause(&mut w);
    w.m.note(&cgroup(first, "sb1"));
    w.m.note(&sandbox("sb1", 0));
    // SIGKILL: wait status 9.
    w.exit(first, "pause", 9, PAUSE_NS);
    let all = CLONE_NEWNET | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID;
    let second = runc(&mut w, 720, &[], Some((all, POD2)), &["/pause"], "pause");
    w.m.note(&cgroup(second, "sb2"));
    w.m.note(&sandbox("sb2", 1));

    let r = report(&w);
    assert_eq!(r.sandboxes.len(), 2);
    let (a, b) = (&r.sandboxes[0], &r.sandboxes[1]);
    assert_eq!(a.previous_attempt, None);
    assert_eq!(a.next_attempt, Some(2));
    let p = b.previous_attempt.as_ref().expect("linked");
    assert_eq!(
        (p.sandbox, p.attempt, p.pause_exit),
        (1, Some(0), Some(137))
    );
    assert!(p.pause_exited_ns.is_some() && p.ended_ns.is_some(), "{p:?}");
    assert_eq!(
        b.anomalies,
        [
            "the pod's sandbox was re-created (attempt 1): #1 (attempt 0) ended with its pause killed by SIGKILL"
        ]
    );
    assert!(a.anomalies.is_empty(), "{:?}", a.anomalies);
}

#[test]
fn a_pause_killed_by_a_signal_names_its_sender_and_an_oom_kill_is_an_anomaly() {
    let mut w = Driver::new();
    let pause = runc_pause(&mut w);
    let app = app_container(&mut w, 810, POD, &["/app"]);
    // The OOM killer chooses the app, then sends it SIGKILL itself.
    let ev = w
        .make
        .oom((812, "stress"), (app, "app"), &app_ns(POD, 810).set());
    w.feed(ev);
    let ev = w
        .make
        .signal((812, "stress"), (app, "app"), 9, &app_ns(POD, 810).set());
    w.feed(ev);
    w.exit(app, "app", 9, app_ns(POD, 810));
    // A SIGTERM the pause survived, then runc's SIGKILL.
    let ev = w
        .make
        .signal((900, "runc"), (pause, "pause"), 15, &PAUSE_NS.set());
    w.feed(ev);
    let ev = w
        .make
        .signal((901, "runc"), (pause, "pause"), 9, &PAUSE_NS.set());
    w.feed(ev);
    w.exit(pause, "pause", 9, PAUSE_NS);

    let r = report(&w);
    let s = &r.sandboxes[0];
    let k = s
        .pause
        .as_ref()
        .and_then(|p| p.killed.as_ref())
        .expect("who killed the pause");
    assert_eq!(
        (k.signal, k.by.pid, k.by.comm.as_str(), k.oom),
        (9, 901, "runc", false)
    );
    let c = s.containers[0].killed.as_ref().expect("who killed the app");
    assert_eq!((c.signal, c.by.pid, c.oom), (9, 812, true));
    assert_eq!(
        s.anomalies,
        ["container c1 (pid 811) was OOM-killed (invoked by 812 stress)"]
    );
    let ended = w
        .out
        .iter()
        .find(|l| matches!(l.what, What::PauseExited { .. }))
        .expect("the pause exited");
    let StepWhat::PauseExited { killed, .. } = Step::resolve(&w.m, ended, &[]).what else {
        panic!("not a pause exit")
    };
    assert_eq!(killed.map(|k| k.by.pid), Some(901));
}

#[test]
fn a_signal_that_is_not_what_the_process_died_of_names_nobody() {
    let mut w = Driver::new();
    let pause = runc_pause(&mut w);
    // SIGTERM (the pause exits 0 on it) is no killer; nor is a signal to
    // a process that is neither pause nor container.
    let ev = w
        .make
        .signal((900, "kubelet"), (pause, "pause"), 15, &PAUSE_NS.set());
    w.feed(ev);
    let ev = w
        .make
        .signal((900, "kubelet"), (77, "other"), 9, &PAUSE_NS.set());
    w.feed(ev);
    w.exit(pause, "pause", 0, PAUSE_NS);
    let p = report(&w).sandboxes[0].pause.clone().expect("pause");
    assert_eq!((p.exit, p.killed), (Some(0), None));
}

#[test]
fn an_oom_killed_pause_is_an_anomaly_of_its_own() {
    let mut w = Driver::new();
    let pause = runc_pause(&mut w);
    let ev = w
        .make
        .oom((1, "systemd"), (pause, "pause"), &PAUSE_NS.set());
    w.feed(ev);
    w.exit(pause, "pause", 9, PAUSE_NS);
    let s = &report(&w).sandboxes[0];
    assert_eq!(
        s.anomalies,
        [format!(
            "the pause (pid {pause}) was OOM-killed (invoked by 1 systemd): the pod's sandbox is gone"
        )]
    );
}

/// A `setns` the kernel refused, as runc's stage 1 of a container of `POD`
/// whose net join went through: `nstype` ipc, errno `ret`.
fn failed_setns(w: &mut Driver, s1: u32, before: Spaces, nstype: u64, ret: i64) {
    let mut ev = w.make.ns_change(
        true,
        s1,
        s1,
        "runc:[1:CHILD]",
        nstype,
        &before.set(),
        &before.set(),
    );
    if let crate::decode::Event::Setns(e) = &mut ev {
        e.ret = ret;
    }
    w.feed(ev);
}

#[test]
fn a_join_the_kernel_refused_is_kept_with_its_sandbox_or_the_node() {
    let mut w = Driver::new();
    let _pause = runc_pause(&mut w);
    // Stage 1 of a container: net joined, ipc refused.
    let j1 = Spaces {
        net: POD.net,
        ..crate::testkit::HOST
    };
    w.fork(
        899,
        900,
        "runc:[1:CHILD]",
        0,
        crate::testkit::HOST,
        crate::testkit::HOST,
    );
    w.setns(
        900,
        "runc:[1:CHILD]",
        CLONE_NEWNET,
        crate::testkit::HOST,
        j1,
    );
    failed_setns(&mut w, 900, j1, CLONE_NEWIPC, -22);
    // A task that joined nothing yet: the node's.
    failed_setns(&mut w, 950, crate::testkit::HOST, 0, -1);

    let r = report(&w);
    let s = &r.sandboxes[0];
    assert_eq!(s.join_failures.len(), 1, "{:?}", s.join_failures);
    let f = &s.join_failures[0];
    assert_eq!(
        (f.task.pid, f.kind, f.ret),
        (900, Some(crate::model::NsKind::Ipc), -22)
    );
    assert!(
        s.anomalies
            .contains(&"setns(ipc) by 900 runc:[1:CHILD] failed: EINVAL".to_string()),
        "{:?}",
        s.anomalies
    );
    assert_eq!(r.join_failures.len(), 1);
    assert_eq!(
        r.anomalies,
        ["setns(any) by 950 runc:[1:CHILD] failed: EPERM"]
    );
}

/// An `unshare` or clone the kernel refused (`ret`), asking for `flags`.
fn failed_creation(
    w: &mut Driver,
    tid: u32,
    name: &str,
    clone: bool,
    flags: u64,
    ret: i64,
    ns: Spaces,
) {
    let mut ev = w
        .make
        .ns_change(false, tid, tid, name, flags, &ns.set(), &ns.set());
    if let crate::decode::Event::Unshare(e) = &mut ev {
        e.ret = ret;
        if clone {
            e.syscall = tracer_common::syscall::CLONE;
            ev = crate::decode::Event::CloneFailed(*e);
        }
    }
    w.feed(ev);
}

#[test]
fn a_creation_the_kernel_refused_is_kept_with_its_sandbox_or_the_node() {
    let mut w = Driver::new();
    let _pause = runc_pause(&mut w);
    // A pod's namespaces refused (max_net_namespaces reached): the node's.
    let host = crate::testkit::HOST;
    failed_creation(
        &mut w,
        960,
        "pinns",
        false,
        CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS,
        -28,
        host,
    );
    // clone(): SIGCHLD in the low byte is no CLONE_NEWTIME.
    failed_creation(&mut w, 961, "crun", true, CLONE_NEWNET | 17, -1, host);
    // Neither a namespace asked for nor a failure: not kept.
    failed_creation(&mut w, 962, "unshare", false, 0x400, -22, host);
    failed_creation(&mut w, 963, "unshare", false, CLONE_NEWNET, 0, host);
    // Stage 1 of a container, in the pod's netns, refused its own mnt and pid.
    let j1 = Spaces {
        net: POD.net,
        ..host
    };
    w.fork(899, 900, "runc:[1:CHILD]", 0, host, host);
    w.setns(900, "runc:[1:CHILD]", CLONE_NEWNET, host, j1);
    failed_creation(
        &mut w,
        900,
        "runc:[1:CHILD]",
        false,
        CLONE_NEWNS | CLONE_NEWPID,
        -1,
        j1,
    );

    let r = report(&w);
    let s = &r.sandboxes[0];
    assert_eq!(s.creation_failures.len(), 1, "{:?}", s.creation_failures);
    let f = &s.creation_failures[0];
    assert_eq!(
        (f.task.pid, f.syscall, f.kinds.as_slice(), f.ret),
        (900, "unshare", &[NsKind::Mnt, NsKind::Pid][..], -1)
    );
    assert!(
        s.anomalies
            .contains(&"unshare(mnt,pid) by 900 runc:[1:CHILD] failed: EPERM".to_string()),
        "{:?}",
        s.anomalies
    );
    let node: Vec<(u32, &str, &[NsKind])> = r
        .creation_failures
        .iter()
        .map(|f| (f.task.pid, f.syscall, f.kinds.as_slice()))
        .collect();
    assert_eq!(
        node,
        [
            (960, "unshare", &[NsKind::Uts, NsKind::Ipc, NsKind::Net][..]),
            (961, "clone", &[NsKind::Net][..]),
        ]
    );
    assert_eq!(
        r.anomalies,
        [
            "unshare(uts,ipc,net) by 960 pinns failed: ENOSPC \
             (a limit in /proc/sys/user/max_*_namespaces reached)",
            "clone(net) by 961 crun failed: EPERM"
        ]
    );
}

#[test]
fn a_sandbox_running_before_the_trace_gets_one_line_with_its_names() {
    use crate::testkit::snapshot;
    let mut m = crate::model::Model::new();
    let host = crate::testkit::HOST;
    let mut pause = snapshot(500, 1, "pause", &["/pause"], PAUSE_NS);
    pause.cgroup = match cgroup(500, "sb1") {
        Note::Cgroup { ids, .. } => Some(ids),
        _ => None,
    };
    let app = snapshot(600, 1, "app", &["/app"], app_ns(POD, 590));
    m.seed(
        &[snapshot(1, 0, "systemd", &["/sbin/init"], host), pause, app],
        &host.set(),
        7,
    );
    m.note(&sandbox("sb1", 0));
    let steps = m.running_at_start();
    assert_eq!(steps.len(), 1);
    let step = Step::resolve(&m, &steps[0], &[]);
    assert_eq!((step.ts_ns, step.label.as_str()), (7, "#1 acc-ns/acc-pod"));
    let StepWhat::SandboxRunning { pause, containers } = step.what else {
        panic!("{step:?}")
    };
    assert_eq!(pause.map(|p| p.pid), Some(500));
    assert_eq!(containers, ["c1"]);
}
