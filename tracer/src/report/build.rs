//! The pod-level view: a line per lifecycle step while tracing, and the
//! report at the end — per sandbox, its namespaces, pause, containers,
//! the durations that matter and what does not fit the model.

use serde::Serialize;
use serde_json::{Value, json};

use crate::clock::Clock;
use crate::host::cgroup::CgroupIds;
use crate::model::ns::Kind;
use crate::model::{Container, Durations, Lifecycle, Model, Pause, SandboxNs, Summary, What};
use crate::stats::Stats;

/// `850µs`, `320ms`, `1.52s`, `3m07s`.
pub fn dur(ns: u64) -> String {
    match ns {
        0..1_000_000 => format!("{}µs", ns / 1_000),
        1_000_000..1_000_000_000 => format!("{}ms", ns / 1_000_000),
        1_000_000_000..60_000_000_000 => format!("{:.2}s", ns as f64 / 1e9),
        _ => format!("{}m{:02}s", ns / 60_000_000_000, (ns / 1_000_000_000) % 60),
    }
}

fn since(later: u64, earlier: Option<u64>) -> Option<u64> {
    earlier.and_then(|e| later.checked_sub(e))
}

fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

fn kinds(k: &[Kind]) -> String {
    k.iter().map(|k| k.name()).collect::<Vec<_>>().join(",")
}

/// `#1 pod d69444909b3b`, or `#1 net 4026532301` when no pod id is known.
pub fn label(m: &Model, sb: usize) -> String {
    let s = &m.sandboxes[sb];
    match s.cgroup.as_ref().and_then(|c| c.pod_uid.as_deref()) {
        Some(pod) => format!("#{} pod {}", sb + 1, short(pod)),
        None => {
            let anchor = m
                .sandbox_namespaces(sb)
                .into_iter()
                .find(|n| n.kind == Kind::Net)
                .or_else(|| m.sandbox_namespaces(sb).into_iter().next());
            match anchor {
                Some(n) => format!("#{} {} {}", sb + 1, n.kind.name(), n.inum),
                None => format!("#{}", sb + 1),
            }
        }
    }
}

/// A container's name: its runtime id where the cgroup gave one, else `c<n>`.
pub fn container_name(c: &Container) -> String {
    match c.cgroup.as_ref().and_then(|g| g.container_id.as_deref()) {
        Some(id) => short(id).to_string(),
        None => format!("c{}", c.id + 1),
    }
}

fn pause_of(m: &Model, sb: usize) -> Option<&Pause> {
    m.sandboxes[sb].pause.as_ref()
}

/// One readable line for a lifecycle step (no newline).
pub fn lifecycle_line(l: &Lifecycle, m: &Model, clock: &Clock) -> String {
    let sb = l.sandbox;
    let (tag, text) = match &l.what {
        What::NamespaceCreated {
            kind,
            inum,
            by,
            syscall,
        } => (
            "NS-NEW",
            format!(
                "{} {inum} created by {} {} via {syscall}",
                kind.name(),
                by.pid,
                by.comm
            ),
        ),
        What::PauseStarted { pause, argv } => {
            let p = pause_of(m, sb);
            let mut t = format!("pid {} {}", pause.pid, argv.join(" "));
            if let Some(d) = since(l.ts_ns, m.first_creation(sb)) {
                t += &format!("  (+{} after its namespaces)", dur(d));
            }
            if let Some(by) = p.and_then(|p| p.forked_by.as_ref()) {
                t += &format!("  forked by {} {}", by.pid, by.comm);
            }
            ("PAUSE", t)
        }
        What::SandboxWithoutPause { by } => (
            "SANDBOX",
            format!(
                "no pause process: pinned namespaces joined by {} {}",
                by.pid, by.comm
            ),
        ),
        What::ContainerJoined {
            container,
            task,
            argv,
            joined,
            missing,
            joined_ns,
        } => {
            let c = &m.containers[*container];
            let mut t = format!(
                "container {} pid {} {}  joined {}",
                container_name(c),
                task.pid,
                argv.join(" "),
                kinds(joined)
            );
            if !missing.is_empty() {
                t += &format!("  PARTIAL: not in {}", kinds(missing));
            }
            if let Some(d) = since(l.ts_ns, Some(*joined_ns)) {
                t += &format!("  (setns→exec {})", dur(d));
            }
            if let Some(d) = since(*joined_ns, pause_of(m, sb).and_then(|p| p.started_ns)) {
                t += &format!("  (+{} after pause)", dur(d));
            }
            ("JOIN", t)
        }
        What::ExecJoined {
            container,
            task,
            argv,
        } => (
            "EXEC",
            format!(
                "into {} pid {} {}",
                container_name(&m.containers[*container]),
                task.pid,
                argv.join(" ")
            ),
        ),
        What::Left {
            container,
            task,
            exec_session,
            exit,
            how,
        } => {
            let c = &m.containers[*container];
            let outcome = match exit {
                Some(code) => format!("exit {code}"),
                None => format!("moved out by {how}"),
            };
            let started = if *exec_session {
                c.execs
                    .iter()
                    .find(|e| e.pid == task.pid)
                    .map(|e| e.started_ns)
            } else {
                c.started_ns.or(c.joined_ns)
            };
            let ran = since(l.ts_ns, started)
                .map(|d| format!(" after {}", dur(d)))
                .unwrap_or_default();
            let what = if *exec_session {
                "exec in"
            } else {
                "container"
            };
            (
                if *exec_session { "EXEC-END" } else { "LEAVE" },
                format!(
                    "{what} {} pid {} {outcome}{ran}",
                    container_name(c),
                    task.pid
                ),
            )
        }
        What::PauseExited { pause, exit } => {
            let ran = since(l.ts_ns, pause_of(m, sb).and_then(|p| p.started_ns))
                .map(|d| format!(" after {}", dur(d)))
                .unwrap_or_default();
            ("PAUSE-END", format!("pid {} exit {exit}{ran}", pause.pid))
        }
        What::NamespaceEmpty {
            kind,
            inum,
            pinned_by,
        } => {
            let pin = if pinned_by.is_empty() {
                "nothing pins it: freed".to_string()
            } else {
                format!("still pinned by {}", pinned_by.join(", "))
            };
            (
                "NS-EMPTY",
                format!("{} {inum} has no tasks left; {pin}", kind.name()),
            )
        }
        What::SandboxEnded => {
            let s = &m.sandboxes[sb];
            let from = m
                .first_creation(sb)
                .or(pause_of(m, sb).and_then(|p| p.started_ns))
                .or((!s.existing).then_some(s.detected_ns));
            (
                "END",
                since(l.ts_ns, from)
                    .map(|d| format!("sandbox lived {}", dur(d)))
                    .unwrap_or_else(|| "sandbox ended".into()),
            )
        }
    };
    format!(
        "{} {tag:<10} {:<24} {text}",
        clock.hms(l.ts_ns),
        label(m, sb)
    )
}

/// A JSON `lifecycle` line.
pub fn lifecycle_json(l: &Lifecycle, m: &Model, clock: &Clock) -> Value {
    let mut v = json!({
        "type": "lifecycle",
        "time": clock.rfc3339(l.ts_ns),
        "sandbox": l.sandbox + 1,
        "pod": m.sandboxes[l.sandbox].cgroup.as_ref().and_then(|c| c.pod_uid.clone()),
    });
    if let (Some(o), Ok(Value::Object(w))) = (v.as_object_mut(), serde_json::to_value(l)) {
        for (k, val) in w {
            match (k.as_str(), val.as_u64()) {
                ("sandbox", _) => {}
                // Containers by the name the report gives them.
                ("container", Some(c)) => {
                    let name = usize::try_from(c)
                        .ok()
                        .and_then(|c| m.containers.get(c))
                        .map(container_name);
                    o.insert(k, name.into());
                }
                _ => {
                    o.insert(k, val);
                }
            }
        }
    }
    v
}

#[derive(Debug, PartialEq, Serialize)]
pub struct SandboxReport {
    pub sandbox: usize,
    pub pod: Option<String>,
    pub cgroup: Option<CgroupIds>,
    pub existing: bool,
    pub detected_ns: u64,
    pub ended_ns: Option<u64>,
    pub namespaces: Vec<SandboxNs>,
    pub pause: Option<Pause>,
    pub containers: Vec<ContainerReport>,
    pub durations: Durations,
    pub anomalies: Vec<String>,
}

#[derive(Debug, PartialEq, Serialize)]
pub struct ContainerReport {
    pub name: String,
    #[serde(flatten)]
    pub container: Container,
}

#[derive(Debug, PartialEq, Serialize)]
pub struct Report {
    #[serde(rename = "type")]
    pub ty: &'static str,
    /// Add to any `*_ns` time here (CLOCK_BOOTTIME) for wall-clock Unix ns.
    pub realtime_minus_boottime_ns: i128,
    pub sandboxes: Vec<SandboxReport>,
    /// Sandboxes that ended longer than the retention before the end of the trace.
    pub summarised: Summary,
    pub stats: Stats,
    /// Node-wide problems (lost events make every timeline suspect).
    pub anomalies: Vec<String>,
}

/// How long containers may outlive their pause before it is an anomaly.
const PAUSE_GRACE_NS: u64 = 5_000_000_000;

pub fn build(m: &Model, stats: &Stats, clock: &Clock) -> Report {
    let sandboxes = m
        .sandboxes
        .ids()
        .map(|sb| {
            let s = &m.sandboxes[sb];
            let namespaces = m.sandbox_namespaces(sb);
            let containers: Vec<ContainerReport> = s
                .containers
                .iter()
                .map(|&c| ContainerReport {
                    name: container_name(&m.containers[c]),
                    container: m.containers[c].clone(),
                })
                .collect();
            let durations = m.durations(sb);
            let mut anomalies = Vec::new();
            for c in &containers {
                if !c.container.missing.is_empty() {
                    anomalies.push(format!(
                        "container {} (pid {}) is in the pod's {} but not its {}: a partial join",
                        c.name,
                        c.container.pid,
                        kinds(&c.container.joined),
                        kinds(&c.container.missing)
                    ));
                }
            }
            // Runtimes that stop a pod all at once (podman) kill the pause a
            // moment before the apps; a pause gone for long while they run
            // (or still running at the end of the trace) is a crashed infra.
            if let Some(exited) = s.pause.as_ref().and_then(|p| p.exited_ns) {
                let running: Vec<&str> = containers
                    .iter()
                    .filter(|c| c.container.left_ns.is_none_or(|l| l > exited + PAUSE_GRACE_NS))
                    .map(|c| c.name.as_str())
                    .collect();
                if !running.is_empty() {
                    anomalies.push(format!(
                        "the pause exited while {} still ran (more than 5 s on, or to the end of the trace)",
                        running.join(", ")
                    ));
                }
            }
            for n in &namespaces {
                if n.emptied_ns.is_some() && !n.pinned_by.is_empty() {
                    anomalies.push(format!(
                        "{} {} has no tasks but is still pinned by {}",
                        n.kind.name(),
                        n.inum,
                        n.pinned_by.join(", ")
                    ));
                }
            }
            SandboxReport {
                sandbox: sb + 1,
                pod: s.cgroup.as_ref().and_then(|c| c.pod_uid.clone()),
                cgroup: s.cgroup.clone(),
                existing: s.existing,
                detected_ns: s.detected_ns,
                ended_ns: s.ended_ns,
                namespaces,
                pause: s.pause.clone(),
                containers,
                durations,
                anomalies,
            }
        })
        .collect();
    let mut anomalies = Vec::new();
    if stats.kernel.ringbuf_full > 0 {
        anomalies.push(format!(
            "{} events were lost (ring buffer full): timelines may miss steps",
            stats.kernel.ringbuf_full
        ));
    }
    if stats.decode_errors > 0 {
        anomalies.push(format!(
            "{} records could not be decoded",
            stats.decode_errors
        ));
    }
    Report {
        ty: "report",
        realtime_minus_boottime_ns: clock.realtime_minus_boottime_ns,
        summarised: m.summary,
        sandboxes,
        stats: *stats,
        anomalies,
    }
}

fn t(clock: &Clock, ts: Option<u64>) -> String {
    ts.map(|ts| clock.hms(ts)).unwrap_or_else(|| "-".into())
}

/// The report as text tables.
pub fn render_text(r: &Report, m: &Model, clock: &Clock) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    let _ = writeln!(
        o,
        "\n=== report: {} sandbox(es), {} events ===",
        r.sandboxes.len(),
        r.stats.events
    );
    for s in &r.sandboxes {
        let sb = s.sandbox - 1;
        let origin = if s.existing {
            "  (running before the trace)"
        } else {
            ""
        };
        let _ = writeln!(o, "\nSandbox {}{origin}", label(m, sb));
        if let Some(g) = &s.cgroup
            && let Some(rt) = g.runtime
        {
            let _ = writeln!(o, "  runtime      {rt:?}");
        }
        let _ = writeln!(
            o,
            "  namespaces   {:<6} {:<11} {:<16} {:<32} {:<16} pinned by",
            "kind", "inode", "created", "by", "emptied"
        );
        for n in &s.namespaces {
            let (when, by) = match &n.created {
                Some(c) => (
                    clock.hms(c.ts_ns),
                    format!("{} {} ({})", c.pid, c.comm, c.syscall),
                ),
                None if n.existing => ("before trace".into(), "-".into()),
                None => ("not seen".into(), "-".into()),
            };
            let _ = writeln!(
                o,
                "               {:<6} {:<11} {:<16} {:<32} {:<16} {}",
                n.kind.name(),
                n.inum,
                when,
                by,
                t(clock, n.emptied_ns),
                if n.pinned_by.is_empty() {
                    "-".into()
                } else {
                    n.pinned_by.join(", ")
                }
            );
        }
        match &s.pause {
            Some(p) => {
                let forked = match (&p.forked_by, p.forked_ns) {
                    (Some(by), Some(ts)) => {
                        format!("forked {} by {} {}, ", clock.hms(ts), by.pid, by.comm)
                    }
                    _ => String::new(),
                };
                let exit = p.exit.map(|e| format!(" (exit {e})")).unwrap_or_default();
                let _ = writeln!(
                    o,
                    "  pause        pid {} {}  {forked}exec {}, exit {}{exit}",
                    p.pid,
                    p.argv.join(" "),
                    t(clock, p.started_ns),
                    t(clock, p.exited_ns)
                );
            }
            None => {
                let _ = writeln!(o, "  pause        none (containers join pinned namespaces)");
            }
        }
        if !s.containers.is_empty() {
            let _ = writeln!(
                o,
                "  containers   {:<13} {:>7} {:<16} {:<16} {:<16} {:>5} {:>8}  command",
                "name", "pid", "joined", "started", "left", "exit", "ran"
            );
        }
        for c in &s.containers {
            let k = &c.container;
            let ran = k
                .left_ns
                .and_then(|l| since(l, k.started_ns.or(k.joined_ns)))
                .map(dur)
                .unwrap_or_else(|| "-".into());
            let _ = writeln!(
                o,
                "               {:<13} {:>7} {:<16} {:<16} {:<16} {:>5} {:>8}  {}",
                c.name,
                k.pid,
                if k.existing {
                    "before trace".into()
                } else {
                    t(clock, k.joined_ns)
                },
                t(clock, k.started_ns),
                t(clock, k.left_ns),
                k.exit.map(|e| e.to_string()).unwrap_or_else(|| "-".into()),
                ran,
                k.argv.join(" ")
            );
            for e in &k.execs {
                let _ = writeln!(
                    o,
                    "                 exec {:>7} {:<16} {:<16} {:>5}  {}",
                    e.pid,
                    clock.hms(e.started_ns),
                    t(clock, e.left_ns),
                    e.exit.map(|x| x.to_string()).unwrap_or_else(|| "-".into()),
                    e.argv.join(" ")
                );
            }
        }
        let d = &s.durations;
        let mut ds = Vec::new();
        if let Some(x) = d.namespaces_to_pause_ns {
            ds.push(format!("namespaces→pause {}", dur(x)));
        }
        if let Some(x) = d.pause_to_first_join_ns {
            ds.push(format!("pause→first join {}", dur(x)));
        }
        if let Some(x) = d.namespaces_to_first_join_ns {
            ds.push(format!("namespaces→first join {}", dur(x)));
        }
        if let Some(x) = d.lifetime_ns {
            ds.push(format!("lifetime {}", dur(x)));
        }
        if !ds.is_empty() {
            let _ = writeln!(o, "  durations    {}", ds.join(", "));
        }
        for a in &s.anomalies {
            let _ = writeln!(o, "  anomaly      {a}");
        }
    }
    let sum = &r.summarised;
    if sum.sandboxes > 0 {
        let stat = |d: &crate::model::table::DurStat| match d.mean_ns() {
            Some(mean) => format!("{}/{}/{}", dur(d.min_ns), dur(mean), dur(d.max_ns)),
            None => "-".into(),
        };
        let _ = writeln!(
            o,
            "\n{} older sandboxes (ended before the retention) summarised: {} containers, {} exec sessions, {} partial joins\n  min/mean/max  namespaces→pause {}, pause→first join {}, lifetime {}",
            sum.sandboxes,
            sum.containers,
            sum.exec_sessions,
            sum.partial_joins,
            stat(&sum.namespaces_to_pause),
            stat(&sum.pause_to_first_join),
            stat(&sum.lifetime)
        );
    }
    for a in &r.anomalies {
        let _ = writeln!(o, "\nanomaly: {a}");
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::testkit::make::Maker;
    use tracer_common::{Ns, NsSet};

    fn set(net: u32, mnt: u32) -> NsSet {
        let mut n = NsSet::default();
        for (i, v) in n.inum.iter_mut().enumerate() {
            *v = 100 + i as u32;
        }
        n.inum[Ns::Net as usize] = net;
        n.inum[Ns::Ipc as usize] = net + 1;
        n.inum[Ns::Uts as usize] = net + 2;
        n.inum[Ns::Mnt as usize] = mnt;
        n
    }

    /// A pause and one container; the pause exits `gap_s` seconds before
    /// the container leaves (`None`: the container is still running).
    fn pause_first(gap_s: Option<u64>) -> Vec<String> {
        let host = set(100, 103);
        let pod = set(200, 300);
        let app = set(200, 400);
        let mut m = Model::new();
        m.seed(&[], &host, 0);
        let mut mk = Maker::new(1_000_000_000, 1_000_000);
        let mut evs = vec![
            mk.exec(10, "pause", "/pause", &["/pause"], &pod),
            mk.ns_change(true, 20, 20, "runc:[1:CHILD]", 0, &host, &set(200, 103)),
            mk.ns_change(
                false,
                20,
                20,
                "runc:[1:CHILD]",
                0x20000,
                &set(200, 103),
                &app,
            ),
            mk.exec(20, "app", "/app", &["/app"], &app),
            mk.exit(10, "pause", 9, &pod),
        ];
        if let Some(gap) = gap_s {
            mk.ts_ns += gap * 1_000_000_000;
            evs.push(mk.exit(20, "app", 0, &app));
        }
        for e in &evs {
            m.event(e);
        }
        let r = build(
            &m,
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

    #[test]
    fn durations_read_well() {
        assert_eq!(dur(850_000), "850µs");
        assert_eq!(dur(320_000_000), "320ms");
        assert_eq!(dur(1_520_000_000), "1.52s");
        assert_eq!(dur(187_000_000_000), "3m07s");
    }
}
