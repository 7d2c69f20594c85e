//! The tracer's JSON lines (docs/json.md), deserialised into types so that
//! tests assert on fields, not on `serde_json::Value` lookups. Only what
//! docs/json.md promises is read; fields the tracer adds later are ignored,
//! and line or event kinds these types do not know yet parse as `Other`.

mod event;
mod lifecycle;
mod report;

pub use event::{Event, EventKind};
pub use lifecycle::{Lifecycle, Step, Task};
pub use report::{Container, Report, Sandbox};

use std::collections::BTreeMap;

use serde::Deserialize;

/// Namespace inodes (or ids) by `/proc/<pid>/ns` name.
pub type NsMap = BTreeMap<String, u64>;

/// One line of `tracer --json`.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Line {
    Ready(Ready),
    Event(Box<Event>),
    Lifecycle(Lifecycle),
    Stats(StatsLine),
    Report(Box<Report>),
    DecodeError(DecodeError),
    #[serde(other)]
    Other,
}

/// `type: ready`: the programs are attached and the self-test passed.
#[derive(Clone, Debug, Deserialize)]
pub struct Ready {
    pub version: String,
    pub kernel: String,
    pub probes: u32,
    pub ns_id: bool,
    pub pid: u32,
}

impl Ready {
    /// The first line of a run: it must be `ready`.
    pub fn parse(line: &str) -> Ready {
        match parse_line(line) {
            Line::Ready(r) => r,
            other => panic!("the first line is not `ready`: {other:?}\n{line}"),
        }
    }
}

/// Loss counters, as in a `stats` line and in the report.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Stats {
    pub events: u64,
    pub decode_errors: u64,
    pub unread: u64,
    pub kernel: KernelStats,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct KernelStats {
    /// Events lost: the ring buffer was full.
    pub ringbuf_full: u64,
    pub read_failed: u64,
    pub pending_full: u64,
    pub pending_missing: u64,
    /// Times a program woke the reader at once.
    pub wakeups: u64,
}

/// `type: stats`: live when a counter changes, once at the end (`final`).
#[derive(Clone, Debug, Deserialize)]
pub struct StatsLine {
    #[serde(rename = "final")]
    pub last: bool,
    #[serde(flatten)]
    pub stats: Stats,
}

/// `type: decode_error`.
#[derive(Clone, Debug, Deserialize)]
pub struct DecodeError {
    pub error: String,
    pub len: u64,
}

fn parse_line(line: &str) -> Line {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not a tracer JSON line ({e}): {line}"))
}

/// Every line of a run (after `ready`), typed, with the text kept for
/// comparisons that must see every field.
#[derive(Debug)]
pub struct Lines {
    pub lines: Vec<Line>,
    text: Vec<String>,
}

impl Lines {
    pub fn parse(text: impl IntoIterator<Item = String>) -> Lines {
        let text: Vec<String> = text.into_iter().collect();
        let lines = text.iter().map(|l| parse_line(l)).collect();
        Lines { lines, text }
    }

    /// Lines printed by `tracer report FILE --json` (or any JSON-lines output).
    pub fn from_output(stdout: &[u8]) -> Lines {
        Lines::parse(String::from_utf8_lossy(stdout).lines().map(str::to_string))
    }

    /// The raw kernel events (`--raw`).
    pub fn events(&self) -> impl Iterator<Item = &Event> {
        self.lines.iter().filter_map(|l| match l {
            Line::Event(e) => Some(&**e),
            _ => None,
        })
    }

    /// The lifecycle steps (the default view).
    pub fn lifecycle(&self) -> impl Iterator<Item = &Lifecycle> {
        self.lines.iter().filter_map(|l| match l {
            Line::Lifecycle(l) => Some(l),
            _ => None,
        })
    }

    pub fn stats(&self) -> impl Iterator<Item = &StatsLine> {
        self.lines.iter().filter_map(|l| match l {
            Line::Stats(s) => Some(s),
            _ => None,
        })
    }

    /// The final `stats` line.
    pub fn final_stats(&self) -> &Stats {
        self.stats()
            .filter(|s| s.last)
            .last()
            .map(|s| &s.stats)
            .expect("the tracer printed final stats")
    }

    /// The one `report` line.
    pub fn report(&self) -> &Report {
        let reports: Vec<&Report> = self
            .lines
            .iter()
            .filter_map(|l| match l {
                Line::Report(r) => Some(&**r),
                _ => None,
            })
            .collect();
        assert_eq!(reports.len(), 1, "report lines: {reports:?}");
        reports[0]
    }

    /// The one `report` line as untyped JSON: every field, known here or not.
    pub fn report_json(&self) -> serde_json::Value {
        let at = self
            .lines
            .iter()
            .position(|l| matches!(l, Line::Report(_)))
            .expect("a report line");
        serde_json::from_str(&self.text[at]).expect("the report line is JSON")
    }

    /// Every line as untyped JSON, in order (harnesses that look up fields
    /// the typed structs do not carry yet).
    pub fn values(&self) -> Vec<serde_json::Value> {
        self.text
            .iter()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect()
    }

    /// The kernel lost nothing and everything decoded.
    pub fn assert_lossless(&self) {
        let st = self.final_stats();
        assert_eq!(st.kernel.ringbuf_full, 0, "drops: {st:?}");
        assert_eq!(st.decode_errors, 0, "undecodable records: {st:?}");
        let errors: Vec<String> = self
            .lines
            .iter()
            .filter_map(|l| match l {
                Line::DecodeError(e) => Some(format!("{} ({} bytes)", e.error, e.len)),
                _ => None,
            })
            .collect();
        assert!(errors.is_empty(), "decode errors reported: {errors:?}");
    }
}
