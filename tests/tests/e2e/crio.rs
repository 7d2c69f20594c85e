//! CRI-O's way with real runc (issue 8, "Measured" 2): pins made by a
//! pinns-like `unshare`, containers as runc bundles joining them, with and
//! without an infra container, short-lived container first and overlapping.
//!
//! Checks come in three blocks:
//! - today's schema, facts the tracer already gets right (pins' namespaces,
//!   their creator, the pause, the containers and their exits);
//! - today's schema, what issue 8 fixes: a sandbox does not END while its
//!   pins still hold its namespaces, nobody joins an ended sandbox, no stale
//!   pin at the end (these fail on the code before issue 8);
//! - ISSUE 8 NEW FIELDS (see `support::pod_json` for the shapes): each pin
//!   with its mount namespace, maker and remover, `freed_ns`, the
//!   `pin_added`/`pin_removed` steps, and which holder went last.

use std::collections::BTreeSet;
use std::time::Instant;

use serde_json::Value;

use crate::support::checks::Checks;
use crate::support::crio_pod::{self, CrioPodTruth, Infra, Order};
use crate::support::host::Window;
use crate::support::pins::PIN_KINDS;
use crate::support::pod_json::{
    array, lifecycle_of, ns_of, pin_entry, report, sandboxes_holding, steps, strings, u,
};
use crate::support::tracer::Tracer;

/// How long after a step the tracer may stamp what it caused (an END
/// decided on the event of the last pin's unmount, or after reading
/// mountinfo to confirm no copy is left).
pub const SLACK_NS: u64 = 250_000_000;

#[test]
fn crio_without_infra_init_container_first() {
    check_crio_pod(Infra::None, Order::ShortFirst);
}

#[test]
fn crio_without_infra_overlapping() {
    check_crio_pod(Infra::None, Order::Overlapping);
}

#[test]
fn crio_with_infra_init_container_first() {
    check_crio_pod(Infra::Pause, Order::ShortFirst);
}

#[test]
fn crio_with_infra_overlapping() {
    check_crio_pod(Infra::Pause, Order::Overlapping);
}

fn in_window(t: &Value, w: Window) -> bool {
    u(t).is_some_and(|t| w.contains(t))
}

fn in_window_late(t: &Value, w: Window) -> bool {
    u(t).is_some_and(|t| w.contains_late(t, SLACK_NS))
}

fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

fn check_crio_pod(infra: Infra, order: Order) {
    let name = format!("CRI-O's way with runc: infra {infra:?}, {order:?}");
    let t0 = Instant::now();
    let tracer = Tracer::start(&[]);
    let ready_after = t0.elapsed();
    let with_ids = tracer.ready.ns_id;
    let t1 = Instant::now();
    let truth = crio_pod::crio_pod(infra, order);
    let scenario = t1.elapsed();
    let out = tracer.stop();
    out.assert_lossless();
    let lines = out.values();
    eprintln!(
        "{name}: tracer ready after {ready_after:?}, scenario {scenario:?}, total {:?}",
        t0.elapsed()
    );
    let mut c = Checks::new(&name);
    let report = report(&lines);
    let net = truth.pin("net");
    let holding = sandboxes_holding(report, "net", net.inum, net.id.filter(|_| with_ids));
    c.eq("one sandbox holds the pinned netns", holding.len(), 1);
    let Some(sb) = holding.first().copied() else {
        eprintln!("{report}");
        c.finish();
        return;
    };
    today_facts(&mut c, sb, &truth, infra, with_ids);
    lifetime_by_pins(&mut c, sb, &lines, &truth);
    pins_ledger(&mut c, sb, &lines, &truth);
    if !c.all_passed() {
        eprintln!("sandbox: {sb}");
        for l in lifecycle_of(&lines, &sb["sandbox"]) {
            eprintln!("  step: {l}");
        }
    }
    c.finish();
}

/// Today's schema, facts the tracer already has.
fn today_facts(c: &mut Checks, sb: &Value, t: &CrioPodTruth, infra: Infra, with_ids: bool) {
    for kind in PIN_KINDS {
        let pin = t.pin(kind);
        let ns = ns_of(sb, kind);
        c.eq(
            &format!("{kind}: the pin's inode"),
            u(&ns["inum"]),
            Some(pin.inum),
        );
        if with_ids {
            c.eq(&format!("{kind}: the pin's ns_id"), u(&ns["id"]), pin.id);
        }
        let cr = &ns["created"];
        c.eq(
            &format!("{kind}: created by the pinns-like unshare"),
            u(&cr["pid"]),
            Some(u64::from(t.creator_pid)),
        );
        c.eq(
            &format!("{kind}: created by unshare(2)"),
            cr["syscall"].as_str(),
            Some("unshare"),
        );
        c.check(
            &format!("{kind}: created while the pins were made"),
            in_window(&cr["ts_ns"], t.created),
            format_args!("{} not in {:?}", cr["ts_ns"], t.created),
        );
    }
    match (&t.infra, infra) {
        (Some(p), Infra::Pause) => {
            // The pause's own namespaces (runc stage 1 made them) are the sandbox's.
            for kind in ["mnt", "pid"] {
                c.eq(
                    &format!("{kind}: the pause's"),
                    u(&ns_of(sb, kind)["inum"]),
                    p.ns.get(kind).copied(),
                );
            }
            c.eq(
                "the sandbox's container id is the infra's (crio-<id> cgroup)",
                sb["cgroup"]["container_id"].as_str(),
                Some(p.id.as_str()),
            );
            let pause = &sb["pause"];
            c.eq("pause pid", u(&pause["pid"]), Some(u64::from(p.pid)));
            c.eq("pause argv", strings(&pause["argv"]), p.argv.clone());
            c.eq(
                "pause exit (SIGTERM, handled)",
                pause["exit"].as_i64(),
                Some(0),
            );
            c.check(
                "pause started (exec) inside runc create+start",
                in_window(&pause["started_ns"], p.started),
                format_args!("{} not in {:?}", pause["started_ns"], p.started),
            );
            c.check(
                "pause exited between the kill and runc seeing it stopped",
                in_window(&pause["exited_ns"], p.exited),
                format_args!("{} not in {:?}", pause["exited_ns"], p.exited),
            );
        }
        _ => c.check(
            "no pause (drop_infra_ctr)",
            sb["pause"].is_null(),
            &sb["pause"],
        ),
    }
    let got = array(&sb["containers"]);
    c.eq(
        "both containers are in this one sandbox (the second joins the same)",
        got.len(),
        t.containers.len(),
    );
    for (i, (g, w)) in got.iter().zip(&t.containers).enumerate() {
        let who = format!("container {i} ({}, pid {})", w.name, w.pid);
        c.eq(&format!("{who}: pid"), u(&g["pid"]), Some(u64::from(w.pid)));
        c.eq(&format!("{who}: argv"), strings(&g["argv"]), w.argv.clone());
        let joined: BTreeSet<String> = strings(&g["joined"]).into_iter().collect();
        c.check(
            &format!("{who}: joined net, ipc, uts"),
            ["net", "ipc", "uts"].iter().all(|k| joined.contains(*k)),
            format_args!("{joined:?}"),
        );
        c.check(
            &format!("{who}: nothing missing"),
            array(&g["missing"]).is_empty(),
            &g["missing"],
        );
        c.eq(
            &format!("{who}: exit"),
            g["exit"].as_i64(),
            Some(i64::from(w.exit)),
        );
        c.eq(
            &format!("{who}: id from its crio-<id> cgroup"),
            g["cgroup"]["container_id"].as_str(),
            Some(w.id.as_str()),
        );
        c.check(
            &format!("{who}: joined and started while runc ran it"),
            in_window(&g["joined_ns"], w.started) && in_window(&g["started_ns"], w.started),
            format_args!(
                "joined {} started {} not in {:?}",
                g["joined_ns"], g["started_ns"], w.started
            ),
        );
        c.check(
            &format!("{who}: left when it exited"),
            in_window(&g["left_ns"], w.exited),
            format_args!("{} not in {:?}", g["left_ns"], w.exited),
        );
    }
    c.eq(
        "the pod uid from the cgroup",
        sb["pod"].as_str(),
        Some(t.pod_uid.as_str()),
    );
    c.eq(
        "the runtime from the cgroup",
        sb["cgroup"]["runtime"].as_str(),
        Some("crio"),
    );
}

/// Today's schema, what issue 8 changes: the pins anchor the sandbox.
fn lifetime_by_pins(c: &mut Checks, sb: &Value, lines: &[Value], t: &CrioPodTruth) {
    let last = t.last_removed();
    let ended = u(&sb["ended_ns"]);
    let true_life = last.from_ns.saturating_sub(t.created.from_ns);
    let first_created = PIN_KINDS
        .iter()
        .filter_map(|k| u(&ns_of(sb, k)["created"]["ts_ns"]))
        .min();
    let reported_life = ended.zip(first_created).map(|(e, f)| e.saturating_sub(f));
    eprintln!(
        "lifetime: pins made → last pin removed {:.0} ms; reported (first creation → END) {}",
        ms(true_life),
        reported_life.map_or("no END".into(), |l| format!("{:.0} ms", ms(l)))
    );
    c.check(
        "the sandbox ended within the trace",
        ended.is_some(),
        &sb["ended_ns"],
    );
    let Some(ended) = ended else { return };
    c.check(
        "no END while the pins still hold its namespaces",
        ended >= last.from_ns,
        format_args!(
            "END {:.0} ms before the last pin was unmounted",
            ms(last.from_ns.saturating_sub(ended))
        ),
    );
    c.check(
        "END when the last pin went",
        ended <= last.to_ns + SLACK_NS,
        format_args!(
            "END {:.0} ms after it",
            ms(ended.saturating_sub(last.to_ns))
        ),
    );
    for (i, g) in array(&sb["containers"]).iter().enumerate() {
        c.check(
            &format!("container {i} joined before the END (no join into an ended sandbox)"),
            u(&g["joined_ns"]).is_some_and(|j| j < ended),
            format_args!("joined {} END {ended}", g["joined_ns"]),
        );
    }
    // The live story: one END, nothing of the pod after it.
    let story = lifecycle_of(lines, &sb["sandbox"]);
    let ends: Vec<usize> = story
        .iter()
        .enumerate()
        .filter(|(_, l)| l["event"] == "sandbox_ended")
        .map(|(i, _)| i)
        .collect();
    c.eq("one sandbox_ended line", ends.len(), 1);
    if let Some(&end) = ends.first() {
        let after: Vec<&str> = story[end + 1..]
            .iter()
            .filter_map(|l| l["event"].as_str())
            .filter(|e| {
                matches!(
                    *e,
                    "container_joined" | "exec_joined" | "left" | "pause_started" | "pause_exited"
                )
            })
            .collect();
        c.check(
            "no join, leave or pause step after sandbox_ended",
            after.is_empty(),
            format_args!("{after:?}"),
        );
    }
    // The pins were gone before the trace ended: nothing may still be listed.
    for kind in PIN_KINDS {
        let ns = ns_of(sb, kind);
        c.check(
            &format!("{kind}: no stale pin at the end (pinned_by empty)"),
            array(&ns["pinned_by"]).is_empty(),
            &ns["pinned_by"],
        );
    }
    c.check(
        "no anomaly",
        array(&sb["anomalies"]).is_empty(),
        &sb["anomalies"],
    );
}

/// ISSUE 8 NEW FIELDS: the pins as kernel events, in the report and live.
fn pins_ledger(c: &mut Checks, sb: &Value, lines: &[Value], t: &CrioPodTruth) {
    let no = &sb["sandbox"];
    for pin in &t.pins {
        let kind = pin.kind;
        let path = pin.path.to_string_lossy();
        let removed = pin.removed.expect("the harness removed every pin");
        let ns = ns_of(sb, kind);
        let entry = pin_entry(ns, &path, t.host_mnt);
        c.check(
            &format!("[issue 8] {kind}: pins[] lists {path} in the host mount ns"),
            entry.is_some(),
            &ns["pins"],
        );
        if let Some(e) = entry {
            c.eq(
                &format!("[issue 8] {kind}: pin made by the pinns-like unshare"),
                (u(&e["made"]["pid"]), e["made"]["comm"].as_str()),
                (Some(u64::from(t.creator_pid)), Some("unshare")),
            );
            c.check(
                &format!("[issue 8] {kind}: pin made while the pins were made"),
                in_window(&e["made"]["ts_ns"], t.created),
                &e["made"],
            );
            c.eq(
                &format!("[issue 8] {kind}: pin removed by us (umount2)"),
                u(&e["removed"]["pid"]),
                Some(u64::from(t.remover_pid)),
            );
            c.check(
                &format!("[issue 8] {kind}: pin removed at the umount"),
                in_window(&e["removed"]["ts_ns"], removed),
                format_args!("{} not in {removed:?}", e["removed"]),
            );
        }
        c.check(
            &format!("[issue 8] {kind}: freed_ns at the unmount of its pin"),
            in_window_late(&ns["freed_ns"], removed),
            format_args!("{} vs {removed:?}", ns["freed_ns"]),
        );
        for (event, w) in [("pin_added", t.created), ("pin_removed", removed)] {
            let found = steps(lines, no, event).into_iter().any(|l| {
                l["path"] == path.as_ref() && l["kind"] == kind && in_window(&l["ts_ns"], w)
            });
            c.check(
                &format!("[issue 8] {kind}: a live {event} step for {path}"),
                found,
                "none",
            );
        }
    }
    let last = t
        .pins
        .iter()
        .filter_map(|p| Some((p.removed?, p)))
        .max_by_key(|(w, _)| w.from_ns)
        .map(|(_, p)| p.path.to_string_lossy().into_owned());
    for (what, holder) in [
        ("report", &sb["last_holder"]),
        (
            "sandbox_ended step",
            steps(lines, no, "sandbox_ended")
                .first()
                .map_or(&Value::Null, |l| &l["last_holder"]),
        ),
    ] {
        c.check(
            &format!("[issue 8] {what}: last_holder is the last pin removed"),
            holder["kind"] == "pin" && holder["path"].as_str() == last.as_deref(),
            format_args!("{holder} (want pin {last:?})"),
        );
    }
}
