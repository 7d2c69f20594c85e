//! The report built from the model at the end of a trace.

use super::names::{container_id, container_name, label, sandbox_names};
use super::{ContainerRow, Report, SandboxReport, anomalies, attempts, deaths, joins};
use crate::clock::Clock;
use crate::model::{Container, Model};
use crate::stats::Stats;

/// The report of everything the model holds now.
pub fn build(m: &Model, stats: &Stats, clock: &Clock) -> Report {
    let mut sandboxes: Vec<SandboxReport> = m.sandboxes.ids().map(|sb| sandbox(m, sb)).collect();
    attempts::fill(m, &mut sandboxes);
    let join_failures = m.join_failures_of(None);
    let mut node = anomalies::of_node(stats);
    node.extend(join_failures.iter().map(joins::words));
    Report {
        ty: "report",
        realtime_minus_boottime_ns: clock.realtime_minus_boottime_ns,
        sandboxes,
        summarised: m.summary,
        stats: *stats,
        anomalies: node,
        join_failures,
    }
}

fn sandbox(m: &Model, sb: usize) -> SandboxReport {
    let s = &m.sandboxes[sb];
    let namespaces = m.sandbox_namespaces(sb);
    let containers: Vec<ContainerRow> = s
        .containers
        .iter()
        .map(|&c| container(m, &m.containers[c]))
        .collect();
    let names = sandbox_names(m, sb);
    let mut anomalies = anomalies::of_sandbox(&containers, s.pause.as_ref(), &namespaces);
    anomalies.extend(deaths::anomalies(s.pause.as_ref(), &containers));
    let join_failures = m.join_failures_of(Some(sb));
    anomalies.extend(join_failures.iter().map(joins::words));
    SandboxReport {
        sandbox: sb + 1,
        label: label(m, sb),
        pod: names.pod_uid,
        pod_name: names.pod_name,
        runtime: names.runtime,
        identity: names.identity,
        previous_attempt: None,
        next_attempt: None,
        cgroup: s.cgroup.clone(),
        existing: s.existing,
        detected_ns: s.detected_ns,
        ended_ns: s.ended_ns,
        namespaces,
        pause: s.pause.clone(),
        containers,
        durations: m.durations(sb),
        join_failures,
        anomalies,
    }
}

fn container(m: &Model, c: &Container) -> ContainerRow {
    ContainerRow {
        name: container_name(m, c),
        id: container_id(c).map(String::from),
        identity: m.container_identity(c.id).cloned(),
        pid: c.pid,
        comm: c.comm.clone(),
        argv: c.argv.clone(),
        joined_ns: c.joined_ns,
        started_ns: c.started_ns,
        left_ns: c.left_ns,
        exit: c.exit,
        killed: c.killed.clone(),
        joined: c.joined.clone(),
        missing: c.missing.clone(),
        existing: c.existing,
        cgroup: c.cgroup.clone(),
        execs: c.execs.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{Driver, Feed, PAUSE_NS, POD, app_container, app_ns, runc_pause};

    /// A pause and one container; the pause exits `gap_s` seconds before
    /// the container leaves (`None`: the container is still running).
    fn pause_first(gap_s: Option<u64>) -> Vec<String> {
        let mut w = Driver::new();
        let pause = runc_pause(&mut w);
        let app = app_container(&mut w, 810, POD, &["/app"]);
        w.exit(pause, "pause", 9, PAUSE_NS);
        if let Some(gap) = gap_s {
            w.make.ts_ns += gap * 1_000_000_000;
            w.exit(app, "app", 0, app_ns(POD, 810));
        }
        let r = build(
            &w.m,
            &Stats::default(),
            &Clock {
                realtime_minus_boottime_ns: 0,
            },
        );
        assert_eq!(r.sandboxes.len(), 1);
        assert_eq!(r.sandboxes[0].containers.len(), 1);
        r.sandboxes[0].anomalies.clone()
    }

    #[test]
    fn a_pause_gone_long_before_its_containers_is_an_anomaly() {
        assert!(
            pause_first(Some(1)).is_empty(),
            "a runtime stopping all at once is no anomaly"
        );
        assert_eq!(pause_first(Some(10)).len(), 1);
        let a = pause_first(None);
        assert!(
            a.len() == 1 && a[0].starts_with("the pause exited while c1 still ran"),
            "{a:?}"
        );
    }
}
