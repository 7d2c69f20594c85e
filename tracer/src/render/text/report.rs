//! The report as text: per sandbox, its namespaces and containers as
//! tables, the pause, durations and anomalies as labelled lines.

use std::fmt::Write;

use comfy_table::{CellAlignment, Table, presets};

use super::{dur, escape};
use crate::clock::Clock;
use crate::report::{DurStat, NsKind, Pin, Report, SandboxReport};

/// Labels of a sandbox's lines, in a column this wide.
const LABEL: usize = 11;

fn t(clock: &Clock, ts: Option<u64>) -> String {
    ts.map(|ts| clock.hms(ts)).unwrap_or_else(|| "-".into())
}

fn or_dash(v: Option<impl ToString>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "-".into())
}

/// A borderless table under `label`, columns two spaces apart; the
/// columns in `right` aligned right (numbers).
pub(super) fn table(
    o: &mut String,
    label: &str,
    header: &[&str],
    rows: Vec<Vec<String>>,
    right: &[usize],
) {
    let mut tb = Table::new();
    tb.load_style(presets::NOTHING);
    let mut head = vec![format!("{label:<LABEL$}")];
    head.extend(header.iter().map(|h| h.to_string()));
    tb.set_header(head);
    for row in rows {
        let mut cells = vec![String::new()];
        cells.extend(row.iter().map(|c| escape(c).into_owned()));
        tb.add_row(cells);
    }
    for (i, col) in tb.column_iter_mut().enumerate() {
        col.set_padding((0, 2));
        if i > 0 && right.contains(&(i - 1)) {
            col.set_cell_alignment(CellAlignment::Right);
        }
    }
    for line in tb.lines() {
        let _ = writeln!(o, "  {}", line.trim_end());
    }
}

/// A labelled line: `  pause        pid 2985 …`.
pub(super) fn line(o: &mut String, label: &str, text: &str) {
    let _ = writeln!(o, "  {label:<LABEL$}  {}", escape(text));
}

fn namespaces(o: &mut String, s: &SandboxReport, clock: &Clock) {
    let rows = s
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
            let kind = n.kind.name().to_string();
            vec![
                kind,
                n.inum.to_string(),
                when,
                by,
                t(clock, n.emptied_ns),
                t(clock, n.freed_ns),
                pins,
            ]
        })
        .collect();
    let header = [
        "kind",
        "inode",
        "created",
        "by",
        "emptied",
        "freed",
        "pinned by (at the end)",
    ];
    table(o, "namespaces", &header, rows, &[]);
}

/// Every pin of the sandbox's namespaces: where, who made it, how it went.
fn pins(o: &mut String, s: &SandboxReport, clock: &Clock) {
    let all = s
        .namespaces
        .iter()
        .flat_map(|n| n.pins.iter().map(move |p| (n.kind, p)));
    pin_table(o, all, clock);
}

/// A table of pins (with their namespace's kind), if there are any.
pub(super) fn pin_table<'a>(
    o: &mut String,
    pins: impl Iterator<Item = (NsKind, &'a Pin)>,
    clock: &Clock,
) {
    let mut rows = Vec::new();
    {
        for (kind, p) in pins {
            let made = match (&p.made, p.found_ns) {
                (Some(m), _) => format!("{} by {} {}", clock.hms(m.ts_ns), m.pid, m.comm),
                (None, Some(f)) => format!("found {}", clock.hms(f)),
                (None, None) => "-".into(),
            };
            let removed = match &p.removed {
                Some(r) => {
                    let by = r
                        .pid
                        .map(|pid| format!(" by {pid} {}", r.comm.as_deref().unwrap_or("")))
                        .unwrap_or_default();
                    format!("{} {}{by}", clock.hms(r.ts_ns), r.how.name())
                }
                None => "still there".into(),
            };
            let holder = p
                .holder
                .as_ref()
                .map(|t| format!(" (pid {} {})", t.pid, t.comm))
                .unwrap_or_default();
            rows.push(vec![
                kind.name().to_string(),
                p.path.escape_debug().to_string(),
                format!("{}{holder}", p.mnt.inum),
                made,
                removed,
            ]);
        }
    }
    if !rows.is_empty() {
        let header = ["kind", "path", "mount ns", "made", "removed"];
        table(o, "pins", &header, rows, &[]);
    }
}

fn pause(o: &mut String, s: &SandboxReport, clock: &Clock) {
    let Some(p) = &s.pause else {
        line(o, "pause", "none (containers join pinned namespaces)");
        return;
    };
    let forked = match (&p.forked_by, p.forked_ns) {
        (Some(by), Some(ts)) => format!("forked {} by {} {}, ", clock.hms(ts), by.pid, by.comm),
        _ => String::new(),
    };
    let exit = p
        .exit
        .map(|e| match &p.killed {
            Some(k) => format!(" (exit {e}, {})", super::cause::kill(k)),
            None => format!(" (exit {e})"),
        })
        .unwrap_or_default();
    let text = format!(
        "pid {} {}  {forked}exec {}, exit {}{exit}",
        p.pid,
        p.argv.join(" "),
        t(clock, p.started_ns),
        t(clock, p.exited_ns)
    );
    line(o, "pause", &text);
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
            or_dash(c.exit) + &super::cause::killed_by(c.killed.as_ref()),
            or_dash(ran),
            c.argv.join(" "),
        ]);
        for e in &c.execs {
            rows.push(vec![
                "  exec".into(),
                e.pid.to_string(),
                String::new(),
                clock.hms(e.started_ns),
                t(clock, e.left_ns),
                or_dash(e.exit),
                String::new(),
                e.argv.join(" "),
            ]);
        }
    }
    let header = [
        "name", "pid", "joined", "started", "left", "exit", "ran", "command",
    ];
    table(o, "containers", &header, rows, &[1, 5, 6]);
}

fn visitors(o: &mut String, s: &SandboxReport, clock: &Clock) {
    if s.visitors.is_empty() && s.visitors_not_listed == 0 {
        return;
    }
    let rows = super::visits::rows(&s.visitors, s.visitors_not_listed, clock);
    table(o, "visitors", &super::visits::HEADER, rows, &[1, 6]);
}

fn durations(o: &mut String, s: &SandboxReport) {
    let d = &s.durations;
    let ds: Vec<String> = [
        ("namespaces→pause", d.namespaces_to_pause_ns),
        ("pause→first join", d.pause_to_first_join_ns),
        ("namespaces→first join", d.namespaces_to_first_join_ns),
        ("lifetime", d.lifetime_ns),
    ]
    .into_iter()
    .filter_map(|(what, ns)| Some(format!("{what} {}", dur(ns?))))
    .collect();
    if !ds.is_empty() {
        line(o, "durations", &ds.join(", "));
    }
    for (label, text) in super::visits::cni_lines(d) {
        line(o, label, &text);
    }
}

pub(super) fn sandbox(o: &mut String, s: &SandboxReport, clock: &Clock) {
    let origin = if s.existing {
        "  (running before the trace)"
    } else {
        ""
    };
    let _ = writeln!(o, "\nSandbox {}{origin}", escape(&s.label));
    for (label, text) in super::pod::lines(s, clock) {
        line(o, label, &text);
    }
    namespaces(o, s, clock);
    pins(o, s, clock);
    pause(o, s, clock);
    containers(o, s, clock);
    visitors(o, s, clock);
    durations(o, s);
    if let Some(h) = &s.last_holder {
        line(
            o,
            "ended",
            &format!(
                "{}, last holder: {}",
                t(clock, s.ended_ns),
                super::step::holder(h)
            ),
        );
    }
    for a in &s.anomalies {
        line(o, "anomaly", a);
    }
}

/// The report as text, from its values alone.
pub fn tables(r: &Report) -> String {
    let clock = &r.clock();
    let mut o = String::new();
    let _ = writeln!(
        o,
        "\n=== report: {} sandbox(es), {} events ===",
        r.sandboxes.len(),
        r.stats.events
    );
    for s in &r.sandboxes {
        sandbox(&mut o, s, clock);
    }
    let sum = &r.summarised;
    if sum.sandboxes > 0 {
        let stat = |d: &DurStat| match d.mean_ns() {
            Some(mean) => format!("{}/{}/{}", dur(d.min_ns), dur(mean), dur(d.max_ns)),
            None => "-".into(),
        };
        let _ = writeln!(
            o,
            "\n{} older sandboxes (ended before the retention) summarised: {} containers, {} exec sessions, {} partial joins, {} visits\n  min/mean/max  namespaces→pause {}, pause→first join {}, lifetime {}",
            sum.sandboxes,
            sum.containers,
            sum.exec_sessions,
            sum.partial_joins,
            sum.visits,
            stat(&sum.namespaces_to_pause),
            stat(&sum.pause_to_first_join),
            stat(&sum.lifetime)
        );
    }
    for a in &r.anomalies {
        let _ = writeln!(o, "\nanomaly: {}", escape(a));
    }
    o
}
