//! The report's tables as HTML: per sandbox its namespaces, pause,
//! containers with their exec sessions, durations and anomalies; then
//! what was summarised and the node's counters. The same facts as the
//! text report, from the same values.

use std::fmt::Write;

use super::esc;
use crate::clock::Clock;
use crate::render::dur;
use crate::render::timeline::sandbox_name;
use crate::report::{DurStat, Report, SandboxReport};

fn t(clock: &Clock, ts: Option<u64>) -> String {
    ts.map(|ts| clock.hms(ts)).unwrap_or_else(|| "-".into())
}

fn or_dash(v: Option<impl ToString>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "-".into())
}

/// A table: `right` columns hold numbers.
fn table(o: &mut String, class: &str, header: &[&str], rows: &[Vec<String>], right: &[usize]) {
    let _ = write!(o, r#"<table class="{class}"><thead><tr>"#);
    for (i, h) in header.iter().enumerate() {
        let num = if right.contains(&i) {
            r#" class="num""#
        } else {
            ""
        };
        let _ = write!(o, "<th{num}>{}</th>", esc(h));
    }
    o.push_str("</tr></thead><tbody>");
    for r in rows {
        o.push_str("<tr>");
        for (i, c) in r.iter().enumerate() {
            let num = if right.contains(&i) {
                r#" class="num""#
            } else {
                ""
            };
            let _ = write!(o, "<td{num}>{}</td>", esc(c));
        }
        o.push_str("</tr>");
    }
    o.push_str("</tbody></table>");
}

fn namespaces(o: &mut String, s: &SandboxReport, clock: &Clock) {
    let rows: Vec<Vec<String>> = s
        .namespaces
        .iter()
        .map(|n| {
            let (when, by) = match &n.created {
                Some(c) => (
                    clock.hms(c.ts_ns),
                    format!("{} {} ({})", c.pid, c.comm, c.syscall),
                ),
                None if n.existing => ("before trace".into(), "-".into()),
                None => ("not seen".into(), "-".into()),
            };
            let pins = if n.pinned_by.is_empty() {
                "-".into()
            } else {
                n.pinned_by.join(", ")
            };
            vec![
                n.kind.name().into(),
                n.inum.to_string(),
                when,
                by,
                t(clock, n.emptied_ns),
                pins,
            ]
        })
        .collect();
    o.push_str("<h4>Namespaces</h4>");
    let header = ["kind", "inode", "created", "by", "emptied", "pinned by"];
    table(o, "namespaces", &header, &rows, &[1]);
}

fn pause(o: &mut String, s: &SandboxReport, clock: &Clock) {
    o.push_str("<h4>Pause</h4>");
    let Some(p) = &s.pause else {
        o.push_str("<p>none (containers join pinned namespaces)</p>");
        return;
    };
    let forked_by = p
        .forked_by
        .as_ref()
        .map(|b| format!("{} {}", b.pid, b.comm))
        .unwrap_or_else(|| "-".into());
    let rows = [vec![
        p.pid.to_string(),
        p.argv.join(" "),
        t(clock, p.forked_ns),
        forked_by,
        t(clock, p.started_ns),
        t(clock, p.exited_ns),
        or_dash(p.exit),
    ]];
    let header = ["pid", "command", "forked", "by", "exec", "exit", "status"];
    table(o, "pause", &header, &rows, &[0, 6]);
}

fn containers(o: &mut String, s: &SandboxReport, clock: &Clock) {
    if s.containers.is_empty() {
        return;
    }
    let mut rows = Vec::new();
    for c in &s.containers {
        let ran = c.ran_ns().map(dur);
        let joined = if c.existing {
            "before trace".into()
        } else {
            t(clock, c.joined_ns)
        };
        rows.push(vec![
            c.name.clone(),
            c.pid.to_string(),
            joined,
            t(clock, c.started_ns),
            t(clock, c.left_ns),
            or_dash(c.exit),
            or_dash(ran),
            c.argv.join(" "),
        ]);
        for e in &c.execs {
            rows.push(vec![
                format!("  exec in {}", c.name),
                e.pid.to_string(),
                String::new(),
                clock.hms(e.started_ns),
                t(clock, e.left_ns),
                or_dash(e.exit),
                or_dash(e.left_ns.and_then(|l| l.checked_sub(e.started_ns)).map(dur)),
                e.argv.join(" "),
            ]);
        }
    }
    o.push_str("<h4>Containers</h4>");
    let header = [
        "name", "pid", "joined", "started", "left", "exit", "ran", "command",
    ];
    table(o, "containers", &header, &rows, &[1, 5, 6]);
}

fn durations(o: &mut String, s: &SandboxReport) {
    let d = &s.durations;
    let ds: Vec<String> = [
        ("namespaces → pause", d.namespaces_to_pause_ns),
        ("pause → first join", d.pause_to_first_join_ns),
        ("namespaces → first join", d.namespaces_to_first_join_ns),
        ("lifetime", d.lifetime_ns),
    ]
    .into_iter()
    .filter_map(|(what, ns)| Some(format!("{what} {}", dur(ns?))))
    .collect();
    if !ds.is_empty() {
        let _ = write!(o, r#"<p class="durations">{}</p>"#, esc(&ds.join(" · ")));
    }
}

fn sandbox(o: &mut String, s: &SandboxReport, clock: &Clock) {
    let _ = write!(
        o,
        r#"<section class="sandbox" id="sb{}"><h3>{}{}</h3>"#,
        s.sandbox,
        esc(&sandbox_name(s)),
        if s.existing {
            " <small>(running before the trace)</small>"
        } else {
            ""
        }
    );
    if let Some(rt) = s.cgroup.as_ref().and_then(|g| g.runtime) {
        let _ = write!(o, "<p>runtime {}</p>", esc(&format!("{rt:?}")));
    }
    durations(o, s);
    for a in &s.anomalies {
        let _ = write!(o, r#"<p class="anomaly">anomaly: {}</p>"#, esc(a));
    }
    namespaces(o, s, clock);
    pause(o, s, clock);
    containers(o, s, clock);
    o.push_str("</section>");
}

/// Every table of the report.
pub fn tables(r: &Report) -> String {
    let clock = &r.clock();
    let mut o = String::new();
    for s in &r.sandboxes {
        sandbox(&mut o, s, clock);
    }
    let sum = &r.summarised;
    if sum.sandboxes > 0 {
        let stat = |d: &DurStat| match d.mean_ns() {
            Some(mean) => format!("{} / {} / {}", dur(d.min_ns), dur(mean), dur(d.max_ns)),
            None => "-".into(),
        };
        let _ = write!(
            o,
            r#"<section class="summary"><h3>{} older sandboxes, summarised</h3><p>{} containers, {} exec sessions, {} partial joins</p>"#,
            sum.sandboxes, sum.containers, sum.exec_sessions, sum.partial_joins
        );
        let rows = [
            vec!["namespaces → pause".into(), stat(&sum.namespaces_to_pause)],
            vec!["pause → first join".into(), stat(&sum.pause_to_first_join)],
            vec!["lifetime".into(), stat(&sum.lifetime)],
        ];
        table(
            &mut o,
            "summary",
            &["phase", "min / mean / max"],
            &rows,
            &[],
        );
        o.push_str("</section>");
    }
    let st = &r.stats;
    let k = &st.kernel;
    let rows = [
        vec!["events".into(), st.events.to_string()],
        vec![
            "dropped (ring buffer full)".into(),
            k.ringbuf_full.to_string(),
        ],
        vec!["undecodable".into(), st.decode_errors.to_string()],
        vec![
            "with unread fields".into(),
            (st.unread + k.read_failed).to_string(),
        ],
        vec![
            "syscall state lost".into(),
            (k.pending_full + k.pending_missing).to_string(),
        ],
    ];
    o.push_str(r#"<section class="stats"><h3>Counters</h3>"#);
    table(&mut o, "stats", &["counter", "value"], &rows, &[1]);
    o.push_str("</section>");
    o
}
