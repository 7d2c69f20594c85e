//! The report's timeline in the Chrome JSON trace-event format, which
//! ui.perfetto.dev (and chrome://tracing) opens: one process per sandbox,
//! one thread track per row of the [`Timeline`]; `X` slices for spans,
//! thread-scoped `i` instants for marks, `s`/`f` flow pairs for arrows,
//! `M` events for names and order.
//!
//! Times are µs since the timeline's start (`otherData.start_boottime_ns`
//! says when that was): relative times keep nanosecond precision in a
//! double, absolute boot times would not on a long-running node.

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde::Serialize;
use serde_json::Value;

use super::Render;
use super::timeline::{Detail, Timeline};
use crate::decode::{DecodeError, Event, Unread};
use crate::kernel::Info;
use crate::report::{Report, Step};
use crate::stats::{ProgStat, Stats};

/// Writes the whole trace at the report; nothing before.
pub struct Perfetto;

#[derive(Serialize)]
struct Trace<'a> {
    #[serde(rename = "traceEvents")]
    trace_events: Vec<TraceEvent<'a>>,
    #[serde(rename = "displayTimeUnit")]
    display_time_unit: &'static str,
    #[serde(rename = "otherData")]
    other_data: BTreeMap<&'static str, Value>,
}

/// One trace event; fields a phase does not use are left out.
#[derive(Serialize)]
struct TraceEvent<'a> {
    ph: &'static str,
    name: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    cat: &'static str,
    pid: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    tid: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ts: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dur: Option<f64>,
    /// Instant scope (`t`: the thread's track).
    #[serde(skip_serializing_if = "Option::is_none")]
    s: Option<&'static str>,
    /// Flow id.
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<usize>,
    /// Flow end binding: `e`, the enclosing slice.
    #[serde(skip_serializing_if = "Option::is_none")]
    bp: Option<&'static str>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    args: BTreeMap<&'static str, Value>,
}

impl<'a> TraceEvent<'a> {
    fn new(ph: &'static str, name: &'a str, pid: usize) -> Self {
        Self {
            ph,
            name,
            cat: "",
            pid,
            tid: None,
            ts: None,
            dur: None,
            s: None,
            id: None,
            bp: None,
            args: BTreeMap::new(),
        }
    }

    fn meta(name: &'a str, pid: usize, tid: Option<usize>, key: &'static str, v: Value) -> Self {
        let mut e = Self::new("M", name, pid);
        e.tid = tid;
        e.args.insert(key, v);
        e
    }
}

fn args(d: &Detail) -> BTreeMap<&'static str, Value> {
    let mut m = BTreeMap::new();
    for (k, v) in d {
        // A key given twice (anomalies) keeps every value.
        match m.get_mut(k) {
            Some(Value::String(prev)) => {
                prev.push_str("; ");
                prev.push_str(v);
            }
            _ => {
                m.insert(*k, Value::String(v.clone()));
            }
        }
    }
    m
}

/// The trace of `report` as one JSON object.
pub fn write<W: Write>(out: &mut W, report: &Report) -> io::Result<()> {
    let tl = Timeline::of(report);
    let us = |ns: u64| ns.saturating_sub(tl.start_ns) as f64 / 1000.0;
    let mut events = Vec::new();
    // Thread ids are unique across the whole trace and never equal a
    // process id (importers key threads by tid): processes are 1..=n,
    // threads count up from n + 1.
    let mut next_tid = tl.groups.iter().map(|g| g.sandbox).max().unwrap_or(0) + 1;
    let mut flow_id = 0;
    for g in &tl.groups {
        let pid = g.sandbox;
        events.push(TraceEvent::meta(
            "process_name",
            pid,
            None,
            "name",
            g.name.as_str().into(),
        ));
        events.push(TraceEvent::meta(
            "process_sort_index",
            pid,
            None,
            "sort_index",
            pid.into(),
        ));
        let tids: Vec<usize> = (0..g.rows.len()).map(|i| next_tid + i).collect();
        next_tid += g.rows.len();
        for (i, row) in g.rows.iter().enumerate() {
            let tid = Some(tids[i]);
            events.push(TraceEvent::meta(
                "thread_name",
                pid,
                tid,
                "name",
                row.name.as_str().into(),
            ));
            events.push(TraceEvent::meta(
                "thread_sort_index",
                pid,
                tid,
                "sort_index",
                i.into(),
            ));
            for sp in &row.spans {
                let mut e = TraceEvent::new("X", &sp.name, pid);
                e.cat = row.kind.name();
                e.tid = tid;
                e.ts = Some(us(sp.start_ns));
                e.dur = Some((sp.end_ns - sp.start_ns) as f64 / 1000.0);
                e.args = args(&sp.detail);
                if sp.open {
                    e.args
                        .insert("open", "still running at the end of the trace".into());
                }
                events.push(e);
            }
        }
        // Flow events after every slice of their tracks and before the
        // instants: an importer sorting events of equal time keeps this order.
        for f in &g.flows {
            flow_id += 1;
            for (ph, end) in [("s", f.from), ("f", f.to)] {
                let mut e = TraceEvent::new(ph, "handover", pid);
                e.cat = "flow";
                e.tid = Some(tids[end.row]);
                e.ts = Some(us(end.ts_ns));
                e.id = Some(flow_id);
                e.bp = (ph == "f").then_some("e");
                events.push(e);
            }
        }
        for (i, row) in g.rows.iter().enumerate() {
            for m in &row.marks {
                let mut e = TraceEvent::new("i", &m.name, pid);
                e.cat = row.kind.name();
                e.tid = Some(tids[i]);
                e.ts = Some(us(m.ts_ns));
                e.s = Some("t");
                e.args = args(&m.detail);
                events.push(e);
            }
        }
    }
    let clock = report.clock();
    let mut other = BTreeMap::new();
    other.insert(
        "producer",
        format!("tracer {}", env!("CARGO_PKG_VERSION")).into(),
    );
    other.insert("start_boottime_ns", tl.start_ns.into());
    other.insert("start_time", clock.rfc3339(tl.start_ns).to_string().into());
    other.insert("sandboxes", tl.groups.len().into());
    other.insert("summarised_sandboxes", report.summarised.sandboxes.into());
    let value = Trace {
        trace_events: events,
        display_time_unit: "ms",
        other_data: other,
    };
    serde_json::to_writer(&mut *out, &value)?;
    out.write_all(b"\n")
}

impl<W: Write> Render<W> for Perfetto {
    fn ready(&mut self, _: &mut W, _: &Info) -> io::Result<()> {
        Ok(())
    }

    fn event(&mut self, _: &mut W, _: &Event, _: Unread) -> io::Result<()> {
        Ok(())
    }

    fn decode_error(&mut self, _: &mut W, _: &DecodeError, _: usize) -> io::Result<()> {
        Ok(())
    }

    fn step(&mut self, _: &mut W, _: &Step) -> io::Result<()> {
        Ok(())
    }

    fn stats(&mut self, _: &mut W, _: &Stats, _: bool, _: &[ProgStat]) -> io::Result<()> {
        Ok(())
    }

    fn report(&mut self, out: &mut W, report: &Report) -> io::Result<()> {
        write(out, report)
    }
}

#[cfg(test)]
mod tests;
