//! The report built from the model at the end of a trace.

use super::names::{container_id, container_name, label, sandbox_names};
use super::{ContainerRow, Report, SandboxReport, anomalies, attempts, deaths, refused, visitors};
use crate::clock::Clock;
use crate::model::{Container, Model};
use crate::stats::Stats;

/// The report of everything the model holds now.
pub fn build(m: &Model, stats: &Stats, clock: &Clock) -> Report {
    let mut sandboxes: Vec<SandboxReport> =
        m.sandboxes.ids().map(|sb| sandbox(m, sb, clock)).collect();
    attempts::fill(m, &mut sandboxes);
    let join_failures = m.join_failures_of(None);
    let creation_failures = m.creation_failures_of(None);
    let mut node = anomalies::of_node(stats);
    node.extend(join_failures.iter().map(refused::join_words));
    node.extend(creation_failures.iter().map(refused::creation_words));
    Report {
        ty: "report",
        realtime_minus_boottime_ns: clock.realtime_minus_boottime_ns,
        sandboxes,
        summarised: m.summary,
        stats: *stats,
        anomalies: node,
        join_failures,
        creation_failures,
    }
}

/// One sandbox's part of the report.
pub(super) fn sandbox(m: &Model, sb: usize, clock: &Clock) -> SandboxReport {
    let s = &m.sandboxes[sb];
    let namespaces = m.sandbox_namespaces(sb);
    let containers: Vec<ContainerRow> = s
        .containers
        .iter()
        .map(|&c| container(m, &m.containers[c]))
        .collect();
    let names = sandbox_names(m, sb);
    let runtime = s.cgroup.as_ref().and_then(|c| c.runtime);
    let mut anomalies = anomalies::of_sandbox(&containers, s.pause.as_ref(), runtime);
    anomalies.extend(anomalies::leaks(
        &namespaces,
        s.tasks_gone_ns,
        m.now_ns,
        m.ns.host.get(&crate::model::NsKind::Mnt).map(|k| k.inum),
        clock,
    ));
    anomalies.extend(deaths::anomalies(s.pause.as_ref(), &containers));
    let join_failures = m.join_failures_of(Some(sb));
    anomalies.extend(join_failures.iter().map(refused::join_words));
    let creation_failures = m.creation_failures_of(Some(sb));
    anomalies.extend(creation_failures.iter().map(refused::creation_words));
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
        last_holder: s.last_holder.clone(),
        tasks_gone_ns: s.tasks_gone_ns,
        namespaces,
        pause: s.pause.clone(),
        containers,
        durations: m.durations(sb),
        join_failures,
        creation_failures,
        anomalies,
        visitors: visitors::rows(m, sb),
        visitors_not_listed: m.visits.not_listed(sb),
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
    use crate::host::cgroup::{CgroupIds, Runtime};
    use crate::model::{Note, NsKind, What};
    use crate::report::{Step, StepWhat};
    use crate::testkit::{
        Driver, Feed, PAUSE_NS, POD, app_container, app_ns, docker_container, runc_pause,
    };

    fn report(w: &Driver) -> Report {
        build(
            &w.m,
            &Stats::default(),
            &Clock {
                realtime_minus_boottime_ns: 0,
            },
        )
    }

    /// `/proc/<pid>/cgroup` as read for a pause or container of `runtime`.
    fn cgroup(w: &mut Driver, pid: u32, runtime: Runtime) {
        w.m.note(&Note::Cgroup {
            pid,
            ids: CgroupIds {
                runtime: Some(runtime),
                container_id: Some(format!("{pid:012x}")),
                ..CgroupIds::default()
            },
        });
    }

    /// A pod made by `runtime`'s runc: the pause, a container that joins
    /// ipc and net only (Docker's way) and exits before its cgroup is read,
    /// and one that runs on.
    fn ipc_and_net_only(runtime: Runtime) -> (Driver, Report) {
        let mut w = Driver::new();
        let pause = runc_pause(&mut w);
        cgroup(&mut w, pause, runtime);
        let quick = docker_container(&mut w, 810, POD, &["sh", "-c", "exit 3"]);
        w.exit(quick, "sh", 3, app_ns(POD, 810));
        let app = docker_container(&mut w, 820, POD, &["sleep", "1000"]);
        cgroup(&mut w, app, runtime);
        let r = report(&w);
        assert_eq!(r.sandboxes.len(), 1);
        let containers = &r.sandboxes[0].containers;
        assert_eq!(containers.len(), 2);
        for c in containers {
            assert_eq!(c.joined, [NsKind::Ipc, NsKind::Net], "{c:?}");
            // The fact stays, whatever the runtime.
            assert_eq!(c.missing, [NsKind::Uts], "{c:?}");
        }
        (w, r)
    }

    #[test]
    fn a_docker_pods_containers_without_its_uts_are_no_anomaly() {
        let (w, r) = ipc_and_net_only(Runtime::Docker);
        assert_eq!(r.sandboxes[0].anomalies, Vec::<String>::new());
        // Nor are they PARTIAL as they join.
        let joins: Vec<Step> = w
            .out
            .iter()
            .filter(|l| matches!(l.what, What::ContainerJoined { .. }))
            .map(|l| Step::resolve(&w.m, l, &[]))
            .collect();
        assert_eq!(joins.len(), 2);
        for s in &joins {
            let StepWhat::ContainerJoined { partial, .. } = &s.what else {
                unreachable!("filtered on joins")
            };
            assert!(partial.is_empty(), "{s:?}");
        }
    }

    #[test]
    fn a_containerd_pods_containers_without_its_uts_are_partial_joins() {
        let (_, r) = ipc_and_net_only(Runtime::Containerd);
        let a = &r.sandboxes[0].anomalies;
        assert_eq!(a.len(), 2, "{a:?}");
        for a in a {
            assert!(
                a.ends_with("is in the pod's ipc,net but not its uts: a partial join"),
                "{a}"
            );
        }
    }

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
        let r = report(&w);
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
