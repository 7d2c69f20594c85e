//! JSON lines: one object per line, each with a `type` (docs/json.md).

mod cause;
mod raw;
mod story;

use std::io::{self, Write};

use serde::Serialize;

use super::Render;
use crate::clock::{Clock, Rfc3339};
use crate::decode::{DecodeError, Event, Unread};
use crate::kernel::Info;
use crate::report::{Report, Step, StepWhat, Story};
use crate::stats::{ProgStat, Stats};

pub struct Json {
    clock: Clock,
    memos: raw::Memos,
}

impl Json {
    pub fn new(clock: Clock) -> Self {
        Self {
            clock,
            memos: raw::Memos::default(),
        }
    }
}

/// A `lifecycle` line.
#[derive(Serialize)]
pub(super) struct StepLine<'a> {
    #[serde(rename = "type")]
    ty: &'static str,
    time: Rfc3339,
    sandbox: usize,
    pod: &'a Option<String>,
    /// `namespace/pod`, where a runtime named it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pod_name: &'a Option<String>,
    ts_ns: u64,
    #[serde(flatten)]
    what: &'a StepWhat,
}

/// A `stats` line.
#[derive(Serialize)]
struct StatsLine<'a> {
    #[serde(rename = "type")]
    ty: &'static str,
    #[serde(rename = "final")]
    last: bool,
    #[serde(flatten)]
    stats: &'a Stats,
    #[serde(skip_serializing_if = "<[ProgStat]>::is_empty")]
    programs: &'a [ProgStat],
}

/// A step as its `lifecycle` line.
pub(super) fn step_line<'a>(clock: &Clock, step: &'a Step) -> StepLine<'a> {
    StepLine {
        ty: "lifecycle",
        time: clock.rfc3339(step.ts_ns),
        sandbox: step.sandbox,
        pod: &step.pod,
        pod_name: &step.pod_name,
        ts_ns: step.ts_ns,
        what: &step.what,
    }
}

/// `value` as one line, written straight out (a report can be large).
fn line<W: Write, T: Serialize>(out: &mut W, value: &T) -> io::Result<()> {
    serde_json::to_writer(&mut *out, value)?;
    out.write_all(b"\n")
}

impl<W: Write> Render<W> for Json {
    fn ready(&mut self, out: &mut W, info: &Info) -> io::Result<()> {
        line(
            out,
            &serde_json::json!({
                "type": "ready",
                "version": env!("CARGO_PKG_VERSION"),
                "kernel": info.kernel,
                "probes": info.probes,
                "ns_id": info.ns_id,
                "filter": info.filter,
                "pid": std::process::id(),
            }),
        )
    }

    fn event(&mut self, out: &mut W, ev: &Event, unread: Unread) -> io::Result<()> {
        raw::write_event_json(out, ev, unread, &self.clock, &mut self.memos)
    }

    fn decode_error(&mut self, out: &mut W, err: &DecodeError, len: usize) -> io::Result<()> {
        line(
            out,
            &serde_json::json!({"type": "decode_error", "error": err.to_string(), "len": len}),
        )
    }

    fn step(&mut self, out: &mut W, step: &Step) -> io::Result<()> {
        line(out, &step_line(&self.clock, step))
    }

    fn stats(
        &mut self,
        out: &mut W,
        stats: &Stats,
        last: bool,
        programs: &[ProgStat],
    ) -> io::Result<()> {
        line(
            out,
            &StatsLine {
                ty: "stats",
                last,
                stats,
                programs,
            },
        )
    }

    fn report(&mut self, out: &mut W, report: &Report) -> io::Result<()> {
        line(out, report)
    }

    fn story(&mut self, out: &mut W, s: &Story) -> io::Result<()> {
        line(out, &story::StoryLine::new(&self.clock, s))
    }
}
