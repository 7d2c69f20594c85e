//! The report as text tables.

use super::dur;
use crate::clock::Clock;
use crate::report::{DurStat, Report};

fn t(clock: &Clock, ts: Option<u64>) -> String {
    ts.map(|ts| clock.hms(ts)).unwrap_or_else(|| "-".into())
}

/// The report as text tables, from its values alone.
pub fn tables(r: &Report) -> String {
    use std::fmt::Write;
    let clock = &r.clock();
    let mut o = String::new();
    let _ = writeln!(
        o,
        "\n=== report: {} sandbox(es), {} events ===",
        r.sandboxes.len(),
        r.stats.events
    );
    for s in &r.sandboxes {
        let origin = if s.existing {
            "  (running before the trace)"
        } else {
            ""
        };
        let _ = writeln!(o, "\nSandbox {}{origin}", s.label);
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
            let k = c;
            let ran = k
                .left_ns
                .and_then(|l| l.checked_sub(k.started_ns.or(k.joined_ns)?))
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
        let stat = |d: &DurStat| match d.mean_ns() {
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
