//! Who holds a pod's namespaces besides its tasks (issue 8, "Measured" 1
//! and 4, and the nsenter visitor): a pod on an `ip netns add` netns with an
//! `ip netns exec` visitor and `ip netns del`; the same with a
//! private-propagation holder and only a host unmount (the leak); an
//! `nsenter -t <pause> -n -i -u` visitor into a CRI-O-style pod.
//!
//! Checks are in blocks as in `crio.rs`: today's schema (already right),
//! today's schema (what issue 8 fixes), and ISSUE 8 NEW FIELDS (shapes in
//! `support::pod_json`).

use std::collections::BTreeSet;
use std::time::Instant;

use serde_json::Value;

use crate::crio::SLACK_NS;
use crate::support::checks::Checks;
use crate::support::crio_pod::{CrioPod, Infra};
use crate::support::host::Window;
use crate::support::netns::{self, NetnsPodTruth, Removal, VisitTruth, nsenter_visit};
use crate::support::pod_json::{
    array, emptied_lines, lifecycle_of, mentions_pid, ns_of, pin_entry, report, sandboxes_holding,
    steps, strings, u,
};
use crate::support::tracer::Tracer;

/// Issue 8's visitors half (VISIT steps, `visitors[]`, `ip netns exec` and
/// `nsenter` not taken for containers) is built on the `visitors` branch;
/// on the `holders` branch its checks are skipped (said so in the output).
/// Merging `visitors`: set this to true, and every check runs.
const VISITORS_LANDED: bool = true;

/// A visitor check: run once the visitors half is in (see [`VISITORS_LANDED`]).
fn visitor_check(c: &mut Checks, what: &str, ok: bool, detail: impl std::fmt::Display) {
    if VISITORS_LANDED {
        c.check(what, ok, detail);
    } else {
        eprintln!("  SKIP (visitors branch) {what}");
    }
}

/// The sandbox's anomalies; before the visitors half is in, without the
/// partial join an `ip netns exec` visitor taken for a container gives.
fn anomalies(sb: &Value) -> Vec<&Value> {
    array(&sb["anomalies"])
        .iter()
        .filter(|a| VISITORS_LANDED || !a.as_str().is_some_and(|a| a.contains("a partial join")))
        .collect()
}

fn in_window(t: &Value, w: Window) -> bool {
    u(t).is_some_and(|t| w.contains(t))
}

fn in_window_late(t: &Value, w: Window) -> bool {
    u(t).is_some_and(|t| w.contains_late(t, SLACK_NS))
}

/// Run `scenario` under a fresh tracer; the lines, and whether ns ids are known.
fn traced<T>(name: &str, scenario: impl FnOnce() -> T) -> (T, Vec<Value>, bool) {
    let t0 = Instant::now();
    let tracer = Tracer::start(&[]);
    let ready_after = t0.elapsed();
    let with_ids = tracer.ready.ns_id;
    let t1 = Instant::now();
    let truth = scenario();
    let took = t1.elapsed();
    let out = tracer.stop();
    out.assert_lossless();
    let lines = out.values();
    eprintln!(
        "{name}: tracer ready after {ready_after:?}, scenario {took:?}, total {:?}",
        t0.elapsed()
    );
    (truth, lines, with_ids)
}

fn dump(c: &Checks, sb: &Value, lines: &[Value]) {
    if !c.all_passed() {
        eprintln!("sandbox: {sb}");
        for l in lifecycle_of(lines, &sb["sandbox"]) {
            eprintln!("  step: {l}");
        }
    }
}

#[test]
fn ip_netns_add_exec_del_around_a_pod() {
    let name = "ip netns add / exec / del around a pod";
    let (t, lines, with_ids) = traced(name, || netns::ip_netns_pod(false));
    let mut c = Checks::new(name);
    let Some(sb) = netns_pod_facts(&mut c, &t, &lines, with_ids) else {
        c.finish();
        return;
    };
    let net = ns_of(sb, "net");
    // Measured 1: the pin read when the pause exited is never cleared.
    c.check(
        "net: no stale pin at the end (pinned_by empty after ip netns del)",
        array(&net["pinned_by"]).is_empty(),
        &net["pinned_by"],
    );
    c.check("no anomaly", anomalies(sb).is_empty(), &sb["anomalies"]);
    // ISSUE 8 NEW FIELDS.
    host_pin_ledger(&mut c, sb, &lines, &t, "ip");
    c.check(
        "[issue 8] net freed_ns at ip netns del",
        in_window_late(&net["freed_ns"], t.removed),
        format_args!("{} vs {:?}", net["freed_ns"], t.removed),
    );
    ended_by_the_pin(&mut c, sb, &lines, &t, t.host_mnt);
    visitor_listed(&mut c, sb, &lines, &t.visit, &["net"]);
    c.check(
        "[issue 8] no LEAK",
        !array(&sb["anomalies"])
            .iter()
            .any(|a| a.as_str().is_some_and(|a| a.contains("LEAK"))),
        &sb["anomalies"],
    );
    dump(&c, sb, &lines);
    c.finish();
}

#[test]
fn a_private_mount_copy_leaks_the_netns_until_its_holder_exits() {
    let name = "private-propagation leak of a pod's netns";
    let (t, lines, with_ids) = traced(name, || netns::ip_netns_pod(true));
    let h = t.holder.as_ref().expect("the leak scenario has a holder");
    assert!(
        h.held_after_removal,
        "harness: the holder lost its copy at the host unmount"
    );
    let mut c = Checks::new(name);
    let Some(sb) = netns_pod_facts(&mut c, &t, &lines, with_ids) else {
        c.finish();
        return;
    };
    let path = t.path.to_string_lossy().into_owned();
    // Measured 4: emptied "with nothing pinning it" while the host pin existed.
    // Racy on the code before issue 8 (it reads mountinfo up to 50 ms after
    // the pause's exit, and the host unmount follows within ~15 ms: failed in
    // 4 runs of 5 here); exact once pins are kernel events.
    for l in emptied_lines(&lines, "net", t.inum) {
        let ts = u(&l["ts_ns"]).unwrap_or(0);
        if ts < h.exited.from_ns {
            c.check(
                "net: never reported freed (pinned_by empty) while a pin or its copy held it",
                !array(&l["pinned_by"]).is_empty(),
                l,
            );
        }
    }
    let net = ns_of(sb, "net");
    c.check(
        "net: emptied (no task) once the pause exited",
        in_window_late(&net["emptied_ns"], t.pause.exited),
        format_args!("{} vs {:?}", net["emptied_ns"], t.pause.exited),
    );
    // ISSUE 8 NEW FIELDS.
    host_pin_ledger(&mut c, sb, &lines, &t, "ip");
    let copy = pin_entry(net, &path, h.mnt);
    c.check(
        "[issue 8] pins[] lists the copy in the holder's mount namespace",
        copy.is_some(),
        &net["pins"],
    );
    c.check(
        "[issue 8] freed only after the holder exited",
        in_window_late(&net["freed_ns"], h.exited),
        format_args!("{} vs {:?}", net["freed_ns"], h.exited),
    );
    let holder_pid = format!("pid {}", h.pid);
    let leak_text = array(&sb["anomalies"])
        .iter()
        .filter_map(Value::as_str)
        .find(|a| a.contains("LEAK"));
    c.check(
        "[issue 8] a LEAK anomaly naming the path, the holder pid and its command",
        leak_text
            .is_some_and(|a| a.contains(&path) && a.contains(&holder_pid) && a.contains(&h.comm)),
        &sb["anomalies"],
    );
    let holding = Window {
        from_ns: t.removed.from_ns,
        to_ns: h.exited.from_ns,
    };
    let live = steps(&lines, &sb["sandbox"], "leak");
    c.check(
        "[issue 8] a live leak step while the holder held it",
        live.iter().any(|l| {
            l["path"] == path.as_str()
                && u(&l["mnt_ns"]) == Some(h.mnt)
                && u(&l["holder"]["pid"]) == Some(u64::from(h.pid))
                && l["holder"]["comm"] == h.comm.as_str()
                && u(&l["made"]["pid"]) == Some(u64::from(t.add_pid))
                && in_window(&l["ts_ns"], holding)
        }),
        format_args!("{live:?}"),
    );
    // The sandbox itself ended with the runtime's pin; the copy is the leak.
    ended_by_the_pin(&mut c, sb, &lines, &t, t.host_mnt);
    visitor_listed(&mut c, sb, &lines, &t.visit, &["net"]);
    dump(&c, sb, &lines);
    c.finish();
}

#[test]
fn an_nsenter_visitor_into_a_pod_is_listed() {
    let name = "nsenter visitor into a CRI-O-style pod";
    let ((pod, visit), lines, with_ids) = traced(name, || {
        let mut pod = CrioPod::new(Infra::Pause);
        let app = pod.container("app", &["/bin/sleep", "30"]);
        let r = pod.runc.run(&app);
        let pause = pod.pause_pid().expect("an infra");
        let visit = nsenter_visit(pause, "1").wait();
        let app = pod.runc.kill(r, "KILL", 137);
        (pod.stop_and_remove(vec![app]), visit)
    });
    let mut c = Checks::new(name);
    c.eq("nsenter … sleep exited 0", visit.exit, 0);
    let net = pod.pin("net");
    let holding = sandboxes_holding(report(&lines), "net", net.inum, net.id.filter(|_| with_ids));
    c.eq("one sandbox holds the pinned netns", holding.len(), 1);
    let Some(sb) = holding.first().copied() else {
        c.finish();
        return;
    };
    let pause = pod.infra.as_ref().expect("an infra");
    c.eq(
        "pause pid",
        u(&sb["pause"]["pid"]),
        Some(u64::from(pause.pid)),
    );
    let ctrs = array(&sb["containers"]);
    c.eq("one container (the visitor is none)", ctrs.len(), 1);
    c.eq(
        "the container is the app",
        ctrs.first().and_then(|g| u(&g["pid"])),
        pod.containers.first().map(|a| u64::from(a.pid)),
    );
    // Today such a task vanishes: it must show up somewhere.
    let anywhere = mentions_pid(sb, visit.pid)
        || lifecycle_of(&lines, &sb["sandbox"])
            .iter()
            .any(|l| mentions_pid(l, visit.pid));
    visitor_check(
        &mut c,
        "the nsenter visitor appears in the report or the live steps",
        anywhere,
        format_args!("pid {} appears nowhere", visit.pid),
    );
    visitor_listed(&mut c, sb, &lines, &visit, &["net", "ipc", "uts"]);
    dump(&c, sb, &lines);
    c.finish();
}

/// The pod on an `ip netns` netns, today's schema; the sandbox, if found.
fn netns_pod_facts<'a>(
    c: &mut Checks,
    t: &NetnsPodTruth,
    lines: &'a [Value],
    with_ids: bool,
) -> Option<&'a Value> {
    let holding = sandboxes_holding(report(lines), "net", t.inum, t.id.filter(|_| with_ids));
    c.eq("one sandbox holds the ip netns", holding.len(), 1);
    let sb = holding.first().copied()?;
    let cr = &ns_of(sb, "net")["created"];
    c.eq(
        "net created by ip netns add",
        u(&cr["pid"]),
        Some(u64::from(t.add_pid)),
    );
    c.eq(
        "net created by unshare(2)",
        cr["syscall"].as_str(),
        Some("unshare"),
    );
    c.check(
        "net created during ip netns add",
        in_window(&cr["ts_ns"], t.added),
        format_args!("{} vs {:?}", cr["ts_ns"], t.added),
    );
    let pause = &sb["pause"];
    c.eq("pause pid", u(&pause["pid"]), Some(u64::from(t.pause.pid)));
    c.eq("pause argv", strings(&pause["argv"]), t.pause.argv.clone());
    c.eq(
        "pause exit (SIGTERM, handled)",
        pause["exit"].as_i64(),
        Some(0),
    );
    // ip netns exec unshares a mount namespace of its own: still no container.
    visitor_check(
        c,
        "the ip netns exec visitor is not taken for a container",
        array(&sb["containers"]).is_empty(),
        &sb["containers"],
    );
    Some(sb)
}

/// ISSUE 8 NEW FIELDS: the host pin of an `ip netns` netns.
fn host_pin_ledger(c: &mut Checks, sb: &Value, lines: &[Value], t: &NetnsPodTruth, maker: &str) {
    let path = t.path.to_string_lossy();
    let net = ns_of(sb, "net");
    let entry = pin_entry(net, &path, t.host_mnt);
    c.check(
        "[issue 8] net: pins[] lists the host pin",
        entry.is_some(),
        &net["pins"],
    );
    if let Some(e) = entry {
        c.eq(
            "[issue 8] net: pin made by ip netns add",
            (u(&e["made"]["pid"]), e["made"]["comm"].as_str()),
            (Some(u64::from(t.add_pid)), Some(maker)),
        );
        c.check(
            "[issue 8] net: pin made during ip netns add",
            in_window(&e["made"]["ts_ns"], t.added),
            &e["made"],
        );
        c.eq(
            "[issue 8] net: pin removed by the runtime's process",
            u(&e["removed"]["pid"]),
            Some(u64::from(t.remover_pid)),
        );
        if t.removal == Removal::IpNetnsDel {
            c.eq(
                "[issue 8] net: pin removed by ip netns del",
                e["removed"]["comm"].as_str(),
                Some(maker),
            );
        }
        c.check(
            "[issue 8] net: pin removed at its umount",
            in_window(&e["removed"]["ts_ns"], t.removed),
            format_args!("{} vs {:?}", e["removed"], t.removed),
        );
    }
    let no = &sb["sandbox"];
    for (event, w) in [("pin_added", t.added), ("pin_removed", t.removed)] {
        c.check(
            &format!("[issue 8] a live {event} step for {path}"),
            steps(lines, no, event)
                .iter()
                .any(|l| l["path"] == path.as_ref() && in_window(&l["ts_ns"], w)),
            "none",
        );
    }
}

/// ISSUE 8: anchored by its pause and its pin, the sandbox ends when the
/// last of them goes — here the host pin, after the pause.
fn ended_by_the_pin(c: &mut Checks, sb: &Value, lines: &[Value], t: &NetnsPodTruth, mnt: u64) {
    let path = t.path.to_string_lossy();
    c.check(
        "[issue 8] END when the host pin went (after the pause)",
        in_window_late(&sb["ended_ns"], t.removed),
        format_args!("{} vs {:?}", sb["ended_ns"], t.removed),
    );
    let ended = steps(lines, &sb["sandbox"], "sandbox_ended");
    let holder = ended.first().map_or(&Value::Null, |l| &l["last_holder"]);
    c.check(
        "[issue 8] sandbox_ended's last_holder is the host pin",
        holder["kind"] == "pin"
            && holder["path"] == path.as_ref()
            && u(&holder["mnt_ns"]) == Some(mnt),
        holder,
    );
}

/// ISSUE 8 NEW FIELDS: a visitor is a VISIT step and a `visitors[]` row.
fn visitor_listed(c: &mut Checks, sb: &Value, lines: &[Value], v: &VisitTruth, kinds: &[&str]) {
    if !VISITORS_LANDED {
        eprintln!(
            "  SKIP (visitors branch) the visitor {} {:?} listed",
            v.pid, v.argv
        );
        return;
    }
    let row = array(&sb["visitors"])
        .iter()
        .find(|r| u(&r["pid"]) == Some(u64::from(v.pid)));
    c.check(
        &format!("[issue 8] visitors[] lists pid {} {:?}", v.pid, v.argv),
        row.is_some(),
        &sb["visitors"],
    );
    if let Some(r) = row {
        c.eq(
            "[issue 8] visitor argv",
            strings(&r["argv"]),
            v.argv.clone(),
        );
        let joined: BTreeSet<String> = strings(&r["joined"]).into_iter().collect();
        c.check(
            &format!("[issue 8] visitor joined {kinds:?}"),
            kinds.iter().all(|k| joined.contains(*k)),
            format_args!("{joined:?}"),
        );
        c.check(
            "[issue 8] visitor entered while it was started",
            in_window(&r["entered_ns"], v.started),
            format_args!("{} vs {:?}", r["entered_ns"], v.started),
        );
        c.check(
            "[issue 8] visitor left when it exited",
            in_window(&r["left_ns"], v.ended),
            format_args!("{} vs {:?}", r["left_ns"], v.ended),
        );
        c.eq(
            "[issue 8] visitor exit",
            r["exit"].as_i64(),
            Some(i64::from(v.exit)),
        );
    }
    let live = steps(lines, &sb["sandbox"], "visit");
    c.check(
        "[issue 8] a live visit step for it",
        live.iter().any(|l| {
            u(&l["task"]["pid"]) == Some(u64::from(v.pid)) && in_window(&l["ts_ns"], v.started)
        }),
        format_args!("{live:?}"),
    );
}
