//! The holder ledger fed with each runtime's pins, as the kernel shows
//! them (mount records) and as mountinfo shows them (the verification
//! read, from hand-kept mount tables): containerd, CRI-O's pinns, `ip
//! netns`, podman, a private-propagation leak, `open_tree` + `move_mount`,
//! a pin through an fd, and inode reuse with ids out of order.

use tracer_common::{CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWUTS, Ns};

use super::*;
use crate::clock::Clock;
use crate::report::build;
use crate::stats::Stats;
use crate::testkit::{
    Driver, Fed, Feed, HOST, MountTables, PAUSE_NS, POD, Spaces, app_container, app_ns, runc,
    runtime_pins_netns,
};

const S: u64 = 1_000_000_000;

/// A driver whose verification reads come from `tables` (host pins added
/// by the caller as the kernel would have them after each mount).
fn with_tables(filter: bool) -> Driver {
    let mut w = if filter {
        Driver::filtered()
    } else {
        Driver::new()
    };
    w.tables = Some(MountTables::default());
    w
}

fn tables(w: &mut Driver) -> &mut MountTables {
    w.tables.get_or_insert_with(MountTables::default)
}

/// `path` now pins `kind` `inum` in mount namespace `mnt` (as mountinfo lists it).
fn mounted(w: &mut Driver, mnt: u32, kind: NsKind, inum: u32, path: &str) {
    tables(w).mounts.entry(mnt).or_default().push(Nsfs {
        kind,
        inum,
        path: path.into(),
    });
}

fn unmounted(w: &mut Driver, mnt: u32, path: &str) {
    if let Some(v) = tables(w).mounts.get_mut(&mnt) {
        v.retain(|n| n.path != path);
    }
}

/// runc makes a pause whose stage 1 joins `net` and unshares the rest of [`POD`].
fn pause_joining(w: &mut Driver, s1: u32, net: Spaces) -> u32 {
    runc(
        w,
        s1,
        &[(CLONE_NEWNET, net)],
        Some((
            CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID,
            POD,
        )),
        &["/pause"],
        "pause",
    )
}

/// `ip netns add x` (pid 1200): a new netns (POD's), bind-mounted on
/// /run/netns/x, which the host's mountinfo then shows; its spaces.
fn ip_netns_add(w: &mut Driver) -> Spaces {
    let n = net_of(POD);
    mounted(w, HOST.mnt, NsKind::Net, POD.net, "/run/netns/x");
    w.unshare(1200, "ip", CLONE_NEWNET, HOST, n);
    w.bind_mount((1200, 1200), "ip", "/proc/self/ns/net", "/run/netns/x", n);
    w.setns(1200, "ip", CLONE_NEWNET, n, HOST);
    n
}

fn net_of(pod: Spaces) -> Spaces {
    Spaces {
        net: pod.net,
        ..HOST
    }
}

fn steps<'a>(w: &'a Driver, pick: impl Fn(&What) -> bool + 'a) -> Vec<&'a Lifecycle> {
    w.out.iter().filter(|l| pick(&l.what)).collect()
}

fn net_empty(w: &Driver) -> Vec<&Lifecycle> {
    steps(w, |s| {
        matches!(
            s,
            What::NamespaceEmpty {
                kind: NsKind::Net,
                ..
            }
        )
    })
}

fn pins(w: &Driver, sb: usize, kind: NsKind) -> Vec<Pin> {
    w.m.sandbox_ns(sb, kind)
        .map(|i| i.pins.clone())
        .unwrap_or_default()
}

fn report_anomalies(w: &Driver, sb: usize) -> Vec<String> {
    let clock = Clock {
        realtime_minus_boottime_ns: 0,
    };
    build(&w.m, &Stats::default(), &clock).sandboxes[sb]
        .anomalies
        .clone()
}

#[test]
fn containerd_pins_the_netns_and_unmounts_it_in_stop_pod_sandbox() {
    let mut w = with_tables(true);
    // mountinfo shows the resolved path; containerd names /var/run.
    mounted(&mut w, HOST.mnt, NsKind::Net, POD.net, "/run/netns/cni-1");
    runtime_pins_netns(
        &mut w,
        (501, 500),
        "containerd",
        POD,
        "/var/run/netns/cni-1",
    );
    let pause = pause_joining(&mut w, 710, net_of(POD));
    let app = app_container(&mut w, 810, POD, &["/app"]);
    w.exit(app, "app", 9, app_ns(POD, 810));
    w.exit(pause, "pause", 9, PAUSE_NS);
    assert_eq!(w.m.sandboxes[0].ended_ns, None, "the pin anchors it");
    assert_eq!(net_empty(&w).len(), 1, "still pinned, said once");
    // CNI DEL: the bridge plugin enters through the pin and leaves.
    w.setns(950, "bridge", CLONE_NEWNET, HOST, net_of(POD));
    w.exit(950, "bridge", 0, net_of(POD));
    assert_eq!(net_empty(&w).len(), 1, "the same state is not told again");
    unmounted(&mut w, HOST.mnt, "/run/netns/cni-1");
    w.umount(500, "containerd", "/var/run/netns/cni-1", HOST);
    let umount_ts = w.make.ts_ns;

    let s = &w.m.sandboxes[0];
    assert_eq!(s.ended_ns, Some(umount_ts));
    assert_eq!(
        s.last_holder,
        Some(Holder {
            kind: "pin",
            path: Some("/var/run/netns/cni-1".into()),
            mnt_ns: Some(HOST.mnt),
            pid: None,
            comm: None,
        })
    );
    let net = w.m.sandbox_ns(0, NsKind::Net).expect("net");
    assert_eq!(net.freed_ns, Some(umount_ts));
    let p = &net.pins;
    assert_eq!(p.len(), 1, "the read matched /run with /var/run: {p:?}");
    assert_eq!(p[0].mnt.inum, HOST.mnt);
    let made = p[0].made.as_ref().expect("made");
    assert_eq!((made.pid, made.comm.as_str()), (500, "containerd"));
    let gone = p[0].removed.as_ref().expect("removed");
    assert_eq!((gone.pid, gone.how), (Some(500), Gone::Umount));
    // Freed once, last: no step of the netns after it but the END.
    let last_empty = net_empty(&w).last().map(|l| l.ts_ns);
    assert_eq!(last_empty, Some(umount_ts));
    assert_eq!(net_empty(&w).len(), 2);
    assert!(!w.notes.is_empty(), "verification reads were made");
    assert!(steps(&w, |s| matches!(s, What::Leak { .. })).is_empty());
    assert!(report_anomalies(&w, 0).is_empty());
}

#[test]
fn crio_pins_anchor_a_sandbox_without_pause_until_the_last_unmount() {
    let mut w = with_tables(true);
    let p = Spaces {
        net: POD.net,
        ipc: POD.ipc,
        uts: POD.uts,
        ..HOST
    };
    let paths = [
        ("net", NsKind::Net, POD.net),
        ("ipc", NsKind::Ipc, POD.ipc),
        ("uts", NsKind::Uts, POD.uts),
    ];
    w.unshare(
        1000,
        "pinns",
        CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS,
        HOST,
        p,
    );
    for (name, kind, inum) in paths {
        let path = format!("/var/run/{name}ns/u1");
        mounted(&mut w, HOST.mnt, kind, inum, &path);
        w.bind_mount(
            (1000, 1000),
            "pinns",
            &format!("/proc/1000/ns/{name}"),
            &path,
            p,
        );
    }
    let made_ts = w.make.ts_ns;
    w.exit(1000, "pinns", 0, p);
    // An init container runs and exits: the pins still hold the pod.
    let init = app_container(&mut w, 810, POD, &["/init"]);
    w.exit(init, "init", 0, app_ns(POD, 810));
    assert_eq!(w.m.sandboxes.len(), 1);
    assert_eq!(w.m.sandboxes[0].ended_ns, None);
    assert!(w.m.sandboxes[0].tasks_gone_ns.is_some());
    // The pins made before the sandbox was recognised are told then, with their time.
    let added = steps(&w, |s| matches!(s, What::PinAdded { .. }));
    assert_eq!(added.len(), 3);
    assert!(added.iter().all(|l| l.ts_ns <= made_ts), "{added:?}");
    // The app joins the same sandbox; then the pod is removed.
    let app = app_container(&mut w, 820, POD, &["/app"]);
    assert_eq!(w.m.sandboxes.len(), 1);
    assert_eq!(w.m.sandboxes[0].containers, [0, 1]);
    assert_eq!(w.m.sandboxes[0].tasks_gone_ns, None);
    w.exit(app, "app", 0, app_ns(POD, 820));
    for (name, ..) in paths {
        assert_eq!(w.m.sandboxes[0].ended_ns, None, "pinned");
        let path = format!("/var/run/{name}ns/u1");
        unmounted(&mut w, HOST.mnt, &path);
        w.umount(1100, "crio", &path, HOST);
    }
    let s = &w.m.sandboxes[0];
    assert_eq!(s.ended_ns, Some(w.make.ts_ns));
    let h = s.last_holder.as_ref().expect("last holder");
    assert_eq!(
        (h.kind, h.path.as_deref()),
        ("pin", Some("/var/run/utsns/u1"))
    );
    let ends = steps(&w, |s| matches!(s, What::SandboxEnded));
    assert_eq!(ends.len(), 1);
    assert!(report_anomalies(&w, 0).is_empty());
}

#[test]
fn ip_netns_add_exec_del() {
    let mut w = with_tables(true);
    let n = ip_netns_add(&mut w);
    w.exit(1200, "ip", 0, HOST);
    let pause = pause_joining(&mut w, 710, n);
    // ip netns exec: enter, a mount namespace of its own, unmount /sys there.
    let own = Spaces { mnt: 1251, ..n };
    w.setns(1250, "ip", CLONE_NEWNET, HOST, n);
    w.unshare(1250, "ip", CLONE_NEWNS, n, own);
    w.umount(1250, "ip", "/sys", own);
    w.exec(1250, "sleep", "/bin/sleep", &["sleep", "1"], own);
    w.exit(1250, "sleep", 0, own);
    assert_eq!(pins(&w, 0, NsKind::Net).len(), 1, "/sys is no pin");
    w.exit(pause, "pause", 0, PAUSE_NS);
    assert_eq!(w.m.sandboxes[0].ended_ns, None);
    unmounted(&mut w, HOST.mnt, "/run/netns/x");
    w.umount(1260, "ip", "/run/netns/x", HOST);
    let s = &w.m.sandboxes[0];
    assert_eq!(s.ended_ns, Some(w.make.ts_ns));
    let p = pins(&w, 0, NsKind::Net);
    let gone = p[0].removed.as_ref().expect("removed");
    assert_eq!((gone.pid, gone.comm.as_deref()), (Some(1260), Some("ip")));
    let made = p[0].made.as_ref().expect("made");
    assert_eq!((made.pid, made.comm.as_str()), (1200, "ip"));
}

#[test]
fn podman_unmounts_its_netns_pin_while_the_apps_still_run() {
    let mut w = with_tables(true);
    mounted(&mut w, HOST.mnt, NsKind::Net, POD.net, "/run/netns/netns-u");
    runtime_pins_netns(&mut w, (601, 600), "podman", POD, "/run/netns/netns-u");
    let pause = runc(
        &mut w,
        710,
        &[(CLONE_NEWNET, net_of(POD))],
        Some((
            CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID,
            POD,
        )),
        &["/catatonit", "-P"],
        "catatonit",
    );
    let app = app_container(&mut w, 810, POD, &["sleep", "100"]);
    w.exit(pause, "catatonit", 0, PAUSE_NS);
    unmounted(&mut w, HOST.mnt, "/run/netns/netns-u");
    w.umount(620, "podman", "/run/netns/netns-u", HOST);
    assert_eq!(w.m.sandboxes[0].ended_ns, None, "the app still runs");
    w.exit(app, "sleep", 9, app_ns(POD, 810));
    let s = &w.m.sandboxes[0];
    assert_eq!(s.ended_ns, Some(w.make.ts_ns));
    let h = s.last_holder.as_ref().expect("last holder");
    assert_eq!((h.kind, h.pid), ("container", Some(app)));
    assert!(report_anomalies(&w, 0).is_empty());
    assert!(steps(&w, |s| matches!(s, What::Leak { .. })).is_empty());
}

/// `ip netns add`, a pause, then a process enters a private mount namespace
/// of its own (a copy of the pin); the pod stops, the runtime unmounts the
/// host pin only: the copy leaks until its holder exits.
fn leak(filter: bool) -> Driver {
    let mut w = with_tables(filter);
    let n = ip_netns_add(&mut w);
    let pause = pause_joining(&mut w, 710, n);
    // `unshare -m --propagation private sleep`: host namespaces but mnt.
    let h = Spaces { mnt: 1301, ..HOST };
    w.unshare(1300, "unshare", CLONE_NEWNS, HOST, h);
    w.exec(1300, "sleep", "/bin/sleep", &["sleep", "30"], h);
    mounted(&mut w, 1301, NsKind::Net, POD.net, "/run/netns/x");
    tables(&mut w).tasks.insert(1301, (1300, "sleep".into()));
    w.exit(pause, "pause", 0, PAUSE_NS);
    let pause_gone = w.make.ts_ns;
    let p = pins(&w, 0, NsKind::Net);
    assert_eq!(p.len(), 2, "the host pin and the holder's copy: {p:?}");
    let copy = p.iter().find(|p| p.mnt.inum == 1301).expect("the copy");
    assert_eq!((copy.made.as_ref(), copy.anchor), (None, false));
    assert_eq!(copy.holder, Some(Task::new(1300, "sleep")));
    // The runtime unmounts the host pin only: the sandbox ends; the copy stays.
    unmounted(&mut w, HOST.mnt, "/run/netns/x");
    w.umount(1400, "runtime", "/run/netns/x", HOST);
    let s = &w.m.sandboxes[0];
    assert_eq!(s.ended_ns, Some(w.make.ts_ns));
    assert_eq!(
        s.last_holder.as_ref().and_then(|h| h.mnt_ns),
        Some(HOST.mnt),
        "ended with the host pin"
    );
    let net = w.m.sandbox_ns(0, NsKind::Net).expect("net");
    assert_eq!(net.freed_ns, None, "the copy holds it");
    // Within the grace: no verdict yet; then the verdict, named.
    w.time(pause_gone + LEAK_GRACE_NS - 1);
    assert!(steps(&w, |s| matches!(s, What::Leak { .. })).is_empty());
    assert!(w.m.due(pause_gone + LEAK_GRACE_NS));
    w.time(pause_gone + LEAK_GRACE_NS + S / 2);
    let leaks = steps(&w, |s| matches!(s, What::Leak { .. }));
    assert_eq!(leaks.len(), 1, "{leaks:?}");
    assert_eq!(leaks[0].ts_ns, pause_gone + LEAK_GRACE_NS);
    let What::Leak { pin, made, .. } = &leaks[0].what else {
        unreachable!()
    };
    assert_eq!((pin.path.as_str(), pin.mnt.inum), ("/run/netns/x", 1301));
    assert_eq!(pin.holder, Some(Task::new(1300, "sleep")));
    assert_eq!(made.as_ref().map(|m| m.pid), Some(1200), "who made the pin");
    let a = report_anomalies(&w, 0);
    assert_eq!(a.len(), 1, "{a:?}");
    for part in ["LEAK", "/run/netns/x", "pid 1300 sleep", "pid 1200 ip"] {
        assert!(a[0].contains(part), "{part}: {}", a[0]);
    }
    // The holder exits: its mount namespace takes the copy; the netns is freed.
    w.exit(1300, "sleep", 9, h);
    let exit_ts = w.make.ts_ns;
    let net = w.m.sandbox_ns(0, NsKind::Net).expect("net");
    assert_eq!(net.freed_ns, Some(exit_ts));
    let copy = net.pins.iter().find(|p| p.mnt.inum == 1301).expect("copy");
    let gone = copy.removed.as_ref().expect("gone");
    assert_eq!((gone.pid, gone.how), (Some(1300), Gone::MntNsGone));
    // Told: pinned (pause exit), freed (holder exit) — and never freed before.
    let told = net_empty(&w);
    assert_eq!(told.len(), 2, "{told:?}");
    assert_eq!(told[1].ts_ns, exit_ts);
    w
}

#[test]
fn a_private_mount_namespace_copy_leaks_until_its_holder_exits() {
    leak(false);
}

/// A replay gets the notes after their event and settles at the next one
/// (or at the end): the same steps, the same report as the live run.
#[test]
fn a_replay_settles_to_the_same_steps_and_report() {
    let live = leak(false);
    let mut m = Driver::new().m;
    let mut out = Vec::new();
    for f in &live.fed {
        out.extend(m.settle());
        match f {
            Fed::Event(ev, read) => {
                out.extend(m.apply(ev));
                if let Some(r) = read {
                    m.note(&Note::Mounts(r.clone()));
                }
            }
            Fed::Time(ts) => m.note(&Note::Time { ts_ns: *ts }),
        }
    }
    out.extend(m.settle());
    assert_eq!(out, live.out);
    let clock = Clock {
        realtime_minus_boottime_ns: 0,
    };
    let json =
        |m: &Model| serde_json::to_string(&build(m, &Stats::default(), &clock)).expect("a report");
    assert_eq!(json(&m), json(&live.m));
}

#[test]
fn the_leak_is_seen_behind_the_kernel_filter_too() {
    leak(true);
}

#[test]
fn a_read_made_late_does_not_remove_a_pin_an_unmount_removes() {
    let mut w = with_tables(false);
    tables(&mut w).read_delay_ns = 40_000_000;
    let n = ip_netns_add(&mut w);
    let pause = pause_joining(&mut w, 710, n);
    // The read for the pause's exit is made after the unmount (1 ms later,
    // still in the ring buffer): it does not show the pin.
    unmounted(&mut w, HOST.mnt, "/run/netns/x");
    w.exit(pause, "pause", 0, PAUSE_NS);
    w.umount(1400, "runtime", "/run/netns/x", HOST);
    let p = pins(&w, 0, NsKind::Net);
    let gone = p[0].removed.as_ref().expect("removed");
    assert_eq!((gone.pid, gone.how), (Some(1400), Gone::Umount), "{p:?}");
    assert_eq!(w.m.sandboxes[0].ended_ns, Some(w.make.ts_ns));
}

#[test]
fn open_tree_then_move_mount_makes_a_pin() {
    let mut w = Driver::new();
    let n = net_of(POD);
    w.unshare(1700, "runtime", CLONE_NEWNET, HOST, n);
    let ev = w
        .make
        .open_tree((1700, 1700), "runtime", "/proc/1700/ns/net", 5, &n.set());
    w.feed(ev);
    assert!(pins(&w, 0, NsKind::Net).is_empty());
    let ev = w
        .make
        .move_mount((1700, 1700), "runtime", 5, "/run/netns/m", &n.set());
    w.feed(ev);
    pause_joining(&mut w, 710, n);
    let p = pins(&w, 0, NsKind::Net);
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].path, "/run/netns/m");
    assert_eq!(p[0].made.as_ref().map(|m| m.pid), Some(1700));
    let how: Vec<&str> = steps(&w, |s| matches!(s, What::PinAdded { .. }))
        .iter()
        .filter_map(|l| match &l.what {
            What::PinAdded { how, .. } => Some(*how),
            _ => None,
        })
        .collect();
    assert_eq!(how, ["mount"], "told at recognition");
}

#[test]
fn a_pin_through_an_fd_is_resolved_by_the_read_of_its_mount_point() {
    let mut w = with_tables(false);
    let n = net_of(POD);
    w.unshare(1800, "runtime", CLONE_NEWNET, HOST, n);
    w.setns(1800, "runtime", CLONE_NEWNET, n, HOST);
    mounted(&mut w, HOST.mnt, NsKind::Net, POD.net, "/run/netns/fd");
    w.bind_mount(
        (1800, 1800),
        "runtime",
        "/proc/self/fd/7",
        "/run/netns/fd",
        HOST,
    );
    let read = w.notes.last().expect("the mount point was read");
    assert_eq!(read.read[0].nsfs.len(), 1);
    let k =
        w.m.ns
            .key(NsKind::Net, POD.net, n.set().id[Ns::Net as usize], false);
    let info = &w.m.ns.info[&k];
    assert_eq!(info.pins.len(), 1, "{:?}", info.pins);
    assert_eq!(info.pins[0].made.as_ref().map(|m| m.pid), Some(1800));
}

/// Namespace ids come in per-CPU batches: a later namespace may have a
/// smaller id. After inode reuse, each pin stays with the namespace alive
/// when it was made; an old-style note goes to the one alive now.
#[test]
fn pins_follow_the_namespace_alive_not_the_largest_id() {
    let mut w = with_tables(false);
    let with_net_id = |s: Spaces, id: u64| {
        let mut set = s.set();
        set.id[Ns::Net as usize] = id;
        set
    };
    let host = HOST.set();
    let a = with_net_id(net_of(POD), 4340);
    let b = with_net_id(net_of(POD), 198);
    // Each pause makes its own ipc, uts and mnt (B's other than A's).
    let pod_of = |net: &tracer_common::NsSet, n: u32| {
        let own = Spaces {
            ipc: POD.ipc + n,
            uts: POD.uts + n,
            mnt: POD.mnt + n,
            ..POD
        };
        with_net_id(own, net.id[Ns::Net as usize])
    };
    for (set, ip, path, s1) in [
        (a, 1500, "/run/netns/a", 710),
        (b, 1600, "/run/netns/b", 720),
    ] {
        mounted(&mut w, HOST.mnt, NsKind::Net, POD.net, path);
        let ev = w
            .make
            .ns_change(false, ip, ip, "ip", CLONE_NEWNET, &host, &set);
        w.feed(ev);
        let ev = w
            .make
            .bind_mount((ip, ip), "ip", "/proc/self/ns/net", path, &set);
        w.feed(ev);
        let ev = w
            .make
            .ns_change(true, ip, ip, "ip", CLONE_NEWNET, &set, &host);
        w.feed(ev);
        // The pause joins it and makes its own ipc, uts, mnt.
        let pod = pod_of(&set, s1 - 710);
        let ev = w
            .make
            .ns_change(true, s1, s1, "pause", CLONE_NEWNET, &host, &set);
        w.feed(ev);
        let ev = w.make.ns_change(
            false,
            s1,
            s1,
            "pause",
            CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNS,
            &set,
            &pod,
        );
        w.feed(ev);
        let ev = w.make.exec(s1, "pause", "/pause", &["/pause"], &pod);
        w.feed(ev);
        if s1 == 710 {
            // Pod A goes away entirely before B's netns reuses its inode.
            let ev = w.make.exit(s1, "pause", 0, &pod);
            w.feed(ev);
            unmounted(&mut w, HOST.mnt, path);
            let ev = w.make.umount((1510, 1510), "ip", path, &host);
            w.feed(ev);
        }
    }
    assert_eq!(w.m.sandboxes.len(), 2);
    let paths = |w: &Driver, sb: usize| -> Vec<String> {
        pins(w, sb, NsKind::Net)
            .iter()
            .map(|p| p.path.clone())
            .collect()
    };
    assert_eq!(paths(&w, 0), ["/run/netns/a"]);
    assert_eq!(paths(&w, 1), ["/run/netns/b"]);
    assert!(w.m.sandboxes[0].ended_ns.is_some());
    assert!(w.m.sandboxes[1].ended_ns.is_none());
    // A recording's old note by (kind, inode) only: the alive one, B.
    w.m.note(&Note::Pins {
        kind: NsKind::Net,
        inum: POD.net,
        paths: vec!["/run/netns/b2".into()],
    });
    w.m.settle();
    assert_eq!(paths(&w, 0), ["/run/netns/a"]);
    assert_eq!(paths(&w, 1), ["/run/netns/b", "/run/netns/b2"]);
    let ids: Vec<u64> =
        w.m.sandbox_namespaces(1)
            .iter()
            .filter(|n| n.kind == NsKind::Net)
            .map(|n| n.id)
            .collect();
    assert_eq!(ids, [198]);
}

/// Notes go into recordings as JSON and come back the same.
#[test]
fn verification_reads_and_time_notes_round_trip_through_json() {
    let w = leak(false);
    let mut notes: Vec<Note> = w.notes.iter().cloned().map(Note::Mounts).collect();
    notes.push(Note::Time { ts_ns: 42 });
    for n in notes {
        let text = serde_json::to_string(&n).expect("serialises");
        let back: Note = serde_json::from_str(&text).expect("parses");
        assert_eq!(back, n, "{text}");
    }
    let old: Note =
        serde_json::from_str(r#"{"note":"pins","kind":"net","inum":7,"paths":["/run/netns/x"]}"#)
            .expect("an old recording's note");
    assert!(matches!(old, Note::Pins { inum: 7, .. }));
}

/// Pinning the host's own netns (`ip netns attach x 1`) is no pod's business.
#[test]
fn pins_of_the_host_namespaces_are_not_kept() {
    let mut w = with_tables(false);
    w.bind_mount(
        (1900, 1900),
        "ip",
        "/proc/self/ns/net",
        "/run/netns/host",
        HOST,
    );
    w.umount(1900, "ip", "/run/netns/host", HOST);
    assert!(w.notes.is_empty(), "no verification read: {:?}", w.notes);
    let host = w.m.ns.host[&NsKind::Net];
    assert!(w.m.ns.info.get(&host).is_none_or(|i| i.pins.is_empty()));
}

/// A pin that comes after the grace (a new bind mount, a copy found
/// late) is a leak at once: leak verdicts are looked for again when a pin
/// comes, not only when a deadline passes.
#[test]
fn a_pin_made_after_the_grace_is_a_leak_at_once() {
    let mut w = with_tables(false);
    let n = ip_netns_add(&mut w);
    let pause = pause_joining(&mut w, 710, n);
    w.exit(pause, "pause", 0, PAUSE_NS);
    let pause_gone = w.make.ts_ns;
    // Nobody unmounts the pin: a leak once the grace is over.
    w.time(pause_gone + LEAK_GRACE_NS + S);
    let leaks = |w: &Driver| -> Vec<(u64, String)> {
        steps(w, |s| matches!(s, What::Leak { .. }))
            .iter()
            .map(|l| match &l.what {
                What::Leak { pin, .. } => (l.ts_ns, pin.path.clone()),
                _ => unreachable!(),
            })
            .collect()
    };
    assert_eq!(
        leaks(&w),
        [(pause_gone + LEAK_GRACE_NS, "/run/netns/x".into())]
    );
    // Long after, another pin of that netns: a leak as it comes.
    mounted(&mut w, HOST.mnt, NsKind::Net, POD.net, "/run/netns/y");
    w.setns(1500, "ip", CLONE_NEWNET, HOST, n);
    w.bind_mount((1500, 1500), "ip", "/proc/self/ns/net", "/run/netns/y", n);
    let made = w.make.ts_ns;
    w.setns(1500, "ip", CLONE_NEWNET, n, HOST);
    assert_eq!(
        leaks(&w),
        [
            (pause_gone + LEAK_GRACE_NS, "/run/netns/x".into()),
            (made, "/run/netns/y".into())
        ]
    );
}
