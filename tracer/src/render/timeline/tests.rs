//! The timeline of a podman-like pod (and a second one still running):
//! rows, nesting, flows.

use tracer_common::{CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWUTS};

use super::*;
use crate::clock::Clock;
use crate::report::build;
use crate::stats::Stats;
use crate::testkit::{
    APP, Driver, Feed, HOST, PAUSE_NS, POD, Spaces, app_container, app_ns, podman_pause, runc,
};

/// A second pod: its own namespaces (the fixtures' numbers + 1000).
const POD2: Spaces = Spaces {
    net: 1200,
    ipc: 1202,
    uts: 1201,
    mnt: 1300,
    pid: 104,
    pfc: 1303,
};

/// A podman pod: infra, an app with an exec session, a job that exits 3,
/// all stopped; then a second pod whose app still runs at the end.
pub(crate) fn sample_report() -> Report {
    let mut w = Driver::new();
    let pause = podman_pause(&mut w, (601, 600), 710, POD);
    let app = app_container(&mut w, 810, POD, &["sleep", "1000"]);
    let job = app_container(&mut w, 850, POD, &["sh", "-c", "exit 3"]);
    w.exit(job, "app", 3 << 8, app_ns(POD, 850));
    // podman exec: stage 1 joins every namespace of the app.
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
            (CLONE_NEWIPC | CLONE_NEWUTS, e2),
            (CLONE_NEWNS | CLONE_NEWPID, e3),
        ],
        None,
        &["ps"],
        "ps",
    );
    w.exit(sh, "ps", 0, APP);
    w.exit(pause, "catatonit", 0, PAUSE_NS);
    w.exit(app, "app", 137, APP);
    // The second pod, left running.
    let t = Spaces {
        net: POD2.net,
        ..HOST
    };
    w.ns_change(false, (1601, 1600), "podman", CLONE_NEWNET, HOST, t);
    w.ns_change(true, (1601, 1600), "podman", CLONE_NEWNET, t, HOST);
    runc(
        &mut w,
        1710,
        &[(CLONE_NEWNET, t)],
        Some((
            CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID,
            POD2,
        )),
        &["/catatonit", "-P"],
        "catatonit",
    );
    app_container(&mut w, 1810, POD2, &["sleep", "1000"]);
    build(
        &w.m,
        &Stats::default(),
        &Clock {
            realtime_minus_boottime_ns: 1_700_000_000_000_000_000,
        },
    )
}

/// Two spans on one row either do not overlap or one holds the other.
pub(crate) fn nest(a: (u64, u64), b: (u64, u64)) -> bool {
    a.1 <= b.0 || b.1 <= a.0 || (a.0 <= b.0 && b.1 <= a.1) || (b.0 <= a.0 && a.1 <= b.1)
}

fn kinds(g: &Group) -> Vec<&'static str> {
    g.rows.iter().map(|r| r.kind.name()).collect()
}

#[test]
fn a_pod_has_a_row_per_namespace_creator_pause_container_and_exec() {
    let r = sample_report();
    let tl = Timeline::of(&r);
    assert_eq!(tl.groups.len(), 2);
    let g = &tl.groups[0];
    assert_eq!(g.name, r.sandboxes[0].label);
    assert_eq!(
        kinds(g),
        [
            "sandbox",
            "creator",
            "creator",
            "namespace",
            "namespace",
            "namespace",
            "namespace",
            "namespace",
            "pause",
            "container",
            "exec",
            "container"
        ]
    );
    let names: Vec<&str> = g.rows.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names[1], "creator 600/601 podman");
    assert_eq!(names[2], "creator 710 runc:[1:CHILD]");
    assert_eq!(names[8], "pause 711 /catatonit -P");
    assert!(names[9].starts_with("container c") && names[9].ends_with("sleep 1000"));
    assert_eq!(names[10], "exec 911 in c1");
    // The pause: a lifetime, its fork → exec and its running phase.
    let pause = &g.rows[8];
    let spans: Vec<(&str, u8)> = pause
        .spans
        .iter()
        .map(|s| (s.name.as_str(), s.depth))
        .collect();
    assert_eq!(
        spans,
        [("pause 711", 0), ("fork → exec", 1), ("running", 1)]
    );
    assert!(pause.marks.iter().any(|m| m.name == "exit 0"));
    // The app was SIGKILLed; the job exited 3.
    assert!(
        g.rows[9]
            .marks
            .iter()
            .any(|m| m.name == "exit 137 (signal 9)")
    );
    assert!(g.rows[11].marks.iter().any(|m| m.name == "exit 3"));
}

#[test]
fn spans_nest_on_every_row_and_stay_in_the_timeline() {
    let tl = Timeline::of(&sample_report());
    assert!(tl.start_ns < tl.end_ns);
    for g in &tl.groups {
        for row in &g.rows {
            for (i, a) in row.spans.iter().enumerate() {
                assert!(a.start_ns <= a.end_ns, "{row:?}");
                assert!(
                    tl.start_ns <= a.start_ns && a.end_ns <= tl.end_ns,
                    "{row:?}"
                );
                if a.depth == 1 {
                    assert!(
                        row.spans.iter().any(|p| p.depth == 0
                            && p.start_ns <= a.start_ns
                            && a.end_ns <= p.end_ns),
                        "a phase outside every lifetime: {row:?}"
                    );
                }
                for b in &row.spans[i + 1..] {
                    assert!(
                        nest((a.start_ns, a.end_ns), (b.start_ns, b.end_ns)),
                        "{} and {} overlap on {}",
                        a.name,
                        b.name,
                        row.name
                    );
                }
            }
            for m in &row.marks {
                assert!(tl.start_ns <= m.ts_ns && m.ts_ns <= tl.end_ns, "{m:?}");
            }
        }
    }
}

#[test]
fn what_still_runs_at_the_end_is_open_to_the_end() {
    let tl = Timeline::of(&sample_report());
    let g = &tl.groups[1];
    let app = g
        .rows
        .iter()
        .find(|r| r.kind == RowKind::Container)
        .expect("the second pod's app");
    assert!(app.spans[0].open);
    assert_eq!(app.spans[0].end_ns, tl.end_ns);
    let sandbox = &g.rows[0];
    assert!(sandbox.spans[0].open);
    // The first pod ended: nothing of it is open.
    for row in &tl.groups[0].rows {
        assert!(row.spans.iter().all(|s| !s.open), "{row:?}");
    }
}

#[test]
fn flows_run_from_the_creators_to_the_pause_to_each_container() {
    let tl = Timeline::of(&sample_report());
    let g = &tl.groups[0];
    let kind = |e: End| g.rows[e.row].kind;
    let pairs: Vec<(RowKind, RowKind)> =
        g.flows.iter().map(|f| (kind(f.from), kind(f.to))).collect();
    assert_eq!(
        pairs,
        [
            (RowKind::Creator, RowKind::Pause),
            (RowKind::Creator, RowKind::Pause),
            (RowKind::Pause, RowKind::Container),
            (RowKind::Pause, RowKind::Container),
        ]
    );
    for f in &g.flows {
        assert!(f.from.ts_ns <= f.to.ts_ns, "{f:?}");
        for e in [f.from, f.to] {
            let s = &g.rows[e.row].spans[e.span];
            assert!(
                s.start_ns <= e.ts_ns && e.ts_ns <= s.end_ns,
                "{f:?} outside {s:?}"
            );
        }
    }
    // From the pause's fork → exec, not its whole life.
    let from_pause = g.flows[2].from;
    assert_eq!(
        g.rows[from_pause.row].spans[from_pause.span].name,
        "fork → exec"
    );
}

#[test]
fn a_pinned_namespace_outlives_its_tasks() {
    let mut r = sample_report();
    let net = r.sandboxes[0]
        .namespaces
        .iter_mut()
        .find(|n| n.kind == NsKind::Net)
        .expect("a netns");
    net.pinned_by = vec!["/run/netns/netns-1".into()];
    let tl = Timeline::of(&r);
    let row = tl.groups[0]
        .rows
        .iter()
        .find(|r| r.name.starts_with("net "))
        .expect("the net row");
    assert_eq!(row.spans.len(), 2);
    assert_eq!(row.spans[1].name, "pinned by /run/netns/netns-1");
    assert!(row.spans[1].open && row.spans[1].end_ns == tl.end_ns);
    assert_eq!(row.marks[0].name, "emptied; still pinned");
}

#[test]
fn an_empty_report_is_an_empty_timeline() {
    let mut r = sample_report();
    r.sandboxes.clear();
    let tl = Timeline::of(&r);
    assert!(tl.groups.is_empty());
    assert_eq!((tl.start_ns, tl.end_ns), (0, 0));
}

#[test]
fn a_pause_whose_exit_was_lost_ends_without_a_status() {
    let mut w = Driver::new();
    let pause = podman_pause(&mut w, (601, 600), 710, POD);
    // Its exit was lost; its pid came back on the host.
    w.fork(1, pause, "bash", crate::testkit::SIGCHLD, HOST, HOST);
    let clock = Clock {
        realtime_minus_boottime_ns: 0,
    };
    let tl = Timeline::of(&build(&w.m, &Stats::default(), &clock));
    let row = tl.groups[0]
        .rows
        .iter()
        .find(|r| r.kind == RowKind::Pause)
        .expect("the pause's row");
    assert!(!row.spans[0].open, "{row:?}");
    let marks: Vec<&str> = row.marks.iter().map(|m| m.name.as_str()).collect();
    assert!(marks.contains(&"exit not seen"), "{marks:?}");
}
