//! The report as a timeline: per sandbox, one row per thing that lives
//! for a while (its namespaces, the tasks that created them, the pause,
//! each container, each exec session), with spans for lifetimes and
//! phases, marks for instants (joins, exits, a namespace emptied), and
//! flows creator → pause → containers. Built from the [`Report`] alone;
//! the Perfetto and HTML renderers draw this same value.
//!
//! Spans on one row nest: a lifetime at depth 0, its phases at depth 1,
//! each inside its parent (checked by the tests). Open spans (still
//! running when the trace ended) end at the timeline's end.

use std::collections::BTreeMap;

use crate::model::NsKind;
use crate::report::{ContainerRow, ExecSession, Pause, Report, SandboxNs, SandboxReport};

use super::dur;

/// What a row stands for. A new kind of row (visitors, pins) is one more
/// variant here and one builder below; renderers style rows by [`RowKind::name`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowKind {
    /// The sandbox as a whole and its start-up phases.
    Sandbox,
    /// A task that created some of the sandbox's namespaces (runc's stage 1,
    /// a runtime's thread, pinns).
    Creator,
    Namespace,
    Pause,
    Container,
    Exec,
}

impl RowKind {
    pub fn name(self) -> &'static str {
        match self {
            RowKind::Sandbox => "sandbox",
            RowKind::Creator => "creator",
            RowKind::Namespace => "namespace",
            RowKind::Pause => "pause",
            RowKind::Container => "container",
            RowKind::Exec => "exec",
        }
    }
}

/// Key/value details shown with a span or mark (Perfetto args, HTML tooltips).
pub type Detail = Vec<(&'static str, String)>;

#[derive(Clone, Debug, PartialEq)]
pub struct Span {
    pub name: String,
    pub start_ns: u64,
    pub end_ns: u64,
    /// 0: a lifetime; 1: a phase inside it.
    pub depth: u8,
    /// Still going when the trace ended: `end_ns` is the timeline's end.
    pub open: bool,
    pub detail: Detail,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Mark {
    pub name: String,
    pub ts_ns: u64,
    pub detail: Detail,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub kind: RowKind,
    pub name: String,
    pub spans: Vec<Span>,
    pub marks: Vec<Mark>,
}

/// One end of a flow: a span of a row, and a time inside that span.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct End {
    pub row: usize,
    pub span: usize,
    pub ts_ns: u64,
}

/// An arrow from one span to another in the same sandbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flow {
    pub from: End,
    pub to: End,
}

/// One sandbox's rows.
#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    /// The report's sandbox number (1-based).
    pub sandbox: usize,
    pub name: String,
    pub rows: Vec<Row>,
    pub flows: Vec<Flow>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Timeline {
    /// The earliest and latest times in the report (CLOCK_BOOTTIME ns).
    pub start_ns: u64,
    pub end_ns: u64,
    pub groups: Vec<Group>,
}

/// The name a sandbox goes by: the report's label (`#1 pod d69444909b3b`).
/// Where the report knows `namespace/pod`, that name belongs here.
pub fn sandbox_name(s: &SandboxReport) -> String {
    s.label.clone()
}

impl Timeline {
    pub fn of(report: &Report) -> Timeline {
        let (start_ns, end_ns) = bounds(report);
        let groups = report
            .sandboxes
            .iter()
            .map(|s| Builder::new(s, start_ns, end_ns).build())
            .collect();
        Timeline {
            start_ns,
            end_ns,
            groups,
        }
    }
}

/// Every time the report holds, for the timeline's bounds.
fn times(s: &SandboxReport) -> Vec<u64> {
    let mut t = vec![s.detected_ns];
    t.extend(s.ended_ns);
    for n in &s.namespaces {
        t.extend(n.created.as_ref().map(|c| c.ts_ns));
        t.extend(n.emptied_ns);
    }
    if let Some(p) = &s.pause {
        t.extend(
            [p.forked_ns, p.started_ns, p.exited_ns]
                .into_iter()
                .flatten(),
        );
    }
    for c in &s.containers {
        t.extend([c.joined_ns, c.started_ns, c.left_ns].into_iter().flatten());
        for e in &c.execs {
            t.push(e.started_ns);
            t.extend(e.left_ns);
        }
    }
    t
}

fn bounds(r: &Report) -> (u64, u64) {
    let all: Vec<u64> = r.sandboxes.iter().flat_map(times).collect();
    match (all.iter().min(), all.iter().max()) {
        (Some(&a), Some(&b)) => (a, b),
        _ => (0, 0),
    }
}

fn exit_name(exit: Option<i32>) -> String {
    match exit {
        Some(e) if e > 128 => format!("exit {e} (signal {})", e - 128),
        Some(e) => format!("exit {e}"),
        None => "left".into(),
    }
}

fn kinds(k: &[NsKind]) -> String {
    k.iter().map(|k| k.name()).collect::<Vec<_>>().join(",")
}

struct Builder<'a> {
    s: &'a SandboxReport,
    start_ns: u64,
    end_ns: u64,
    rows: Vec<Row>,
    flows: Vec<Flow>,
}

impl<'a> Builder<'a> {
    fn new(s: &'a SandboxReport, start_ns: u64, end_ns: u64) -> Self {
        Self {
            s,
            start_ns,
            end_ns,
            rows: Vec::new(),
            flows: Vec::new(),
        }
    }

    fn build(mut self) -> Group {
        self.sandbox_row();
        let creators = self.creator_rows();
        for n in &self.s.namespaces {
            self.namespace_row(n);
        }
        let pause = self.s.pause.as_ref().map(|p| self.pause_row(p));
        // Creators hand over to the pause; without one (CRI-O's pinned
        // namespaces), straight to the containers.
        let mut containers = Vec::new();
        for c in &self.s.containers {
            containers.push(self.container_row(c));
            for e in &c.execs {
                self.exec_row(c, e);
            }
        }
        match pause {
            Some(p) => {
                for &c in &creators {
                    self.flow(c, p.row, 0);
                }
                if let Some(startup) = p.startup {
                    for &c in &containers {
                        self.flow(p.row, c, startup);
                    }
                }
            }
            None => {
                for &cr in &creators {
                    for &c in &containers {
                        self.flow(cr, c, 0);
                    }
                }
            }
        }
        Group {
            sandbox: self.s.sandbox,
            name: sandbox_name(self.s),
            rows: self.rows,
            flows: self.flows,
        }
    }

    /// A flow from span `from_span` of row `from` to the lifetime of row
    /// `to`, when both are known and the arrow goes forward in time.
    fn flow(&mut self, from: usize, to: usize, from_span: usize) {
        let (Some(a), Some(b)) = (
            self.rows[from].spans.get(from_span),
            self.rows[to].spans.first(),
        ) else {
            return;
        };
        // Inside both spans: the middle of the source, just after the
        // target's start (a slice's very first instant is ambiguous to
        // importers that sort begin and flow events of one timestamp).
        let from_ts = a.start_ns + (a.end_ns - a.start_ns) / 2;
        let to_ts = b.start_ns + u64::from(b.end_ns > b.start_ns);
        if b.start_ns < a.start_ns || from_ts > to_ts {
            return;
        }
        self.flows.push(Flow {
            from: End {
                row: from,
                span: from_span,
                ts_ns: from_ts,
            },
            to: End {
                row: to,
                span: 0,
                ts_ns: to_ts,
            },
        });
    }

    fn push(&mut self, row: Row) -> usize {
        self.rows.push(row);
        self.rows.len() - 1
    }

    /// A lifetime from `start` (or the timeline's start: before the
    /// trace) to `end` (or the timeline's end: still going).
    fn life(&self, name: String, start: Option<u64>, end: Option<u64>, detail: Detail) -> Span {
        let start_ns = start.unwrap_or(self.start_ns);
        Span {
            name,
            start_ns,
            end_ns: end.unwrap_or(self.end_ns).max(start_ns),
            depth: 0,
            open: end.is_none(),
            detail,
        }
    }

    /// A phase `[start, end]` clamped into `parent` (kernel times of
    /// different tasks can disagree by a little); none when unknown or empty.
    fn phase(parent: &Span, name: &str, start: Option<u64>, end: Option<u64>) -> Option<Span> {
        let (a, b) = (start?, end?);
        let a = a.clamp(parent.start_ns, parent.end_ns);
        let b = b.clamp(parent.start_ns, parent.end_ns);
        (b > a).then(|| Span {
            name: name.to_string(),
            start_ns: a,
            end_ns: b,
            depth: 1,
            open: false,
            detail: vec![("took", dur(b - a))],
        })
    }

    fn sandbox_row(&mut self) {
        let s = self.s;
        let first_ns = s
            .namespaces
            .iter()
            .filter_map(|n| n.created.as_ref().map(|c| c.ts_ns))
            .min();
        let pause_exec = s.pause.as_ref().and_then(|p| p.started_ns);
        let first_join = s.containers.iter().filter_map(|c| c.joined_ns).min();
        let start = if s.existing {
            None
        } else {
            first_ns.or(pause_exec).or(Some(s.detected_ns))
        };
        let mut detail = vec![("sandbox", s.sandbox.to_string())];
        detail.extend(s.pod.clone().map(|p| ("pod uid", p)));
        if s.existing {
            detail.push(("existing", "running before the trace".into()));
        }
        detail.extend(s.durations.lifetime_ns.map(|d| ("lifetime", dur(d))));
        detail.extend(s.anomalies.iter().map(|a| ("anomaly", a.clone())));
        let life = self.life("sandbox".into(), start, s.ended_ns, detail);
        let mut spans = vec![life.clone()];
        spans.extend(Self::phase(
            &life,
            "namespaces → pause",
            first_ns,
            pause_exec,
        ));
        spans.extend(Self::phase(
            &life,
            "pause → first join",
            pause_exec,
            first_join,
        ));
        let mut marks = Vec::new();
        if let Some(t) = s.ended_ns {
            marks.push(Mark {
                name: "sandbox ended".into(),
                ts_ns: t,
                detail: Vec::new(),
            });
        }
        self.push(Row {
            kind: RowKind::Sandbox,
            name: "sandbox".into(),
            spans,
            marks,
        });
    }

    /// One row per task that created namespaces of the sandbox: from its
    /// first creation to its last, or to its fork of the pause.
    fn creator_rows(&mut self) -> Vec<usize> {
        let mut by_task: BTreeMap<(u32, u32), (String, Vec<&SandboxNs>)> = BTreeMap::new();
        for n in &self.s.namespaces {
            if let Some(c) = &n.created {
                by_task
                    .entry((c.pid, c.tid))
                    .or_insert_with(|| (c.comm.to_string(), Vec::new()))
                    .1
                    .push(n);
            }
        }
        let mut rows = Vec::new();
        for ((pid, tid), (comm, made)) in by_task {
            let mut made = made;
            made.sort_by_key(|n| n.created.as_ref().map(|c| c.ts_ns));
            let first = made
                .iter()
                .filter_map(|n| n.created.as_ref().map(|c| c.ts_ns))
                .min();
            let last = made
                .iter()
                .filter_map(|n| n.created.as_ref().map(|c| c.ts_ns))
                .max();
            let forked_pause = self.s.pause.as_ref().and_then(|p| {
                let by = p.forked_by.as_ref()?;
                (by.pid == pid || by.pid == tid).then_some(p.forked_ns?)
            });
            let end = last.max(forked_pause);
            let who = if pid == tid {
                format!("{pid} {comm}")
            } else {
                format!("{pid}/{tid} {comm}")
            };
            let names: Vec<&str> = made.iter().map(|n| n.kind.name()).collect();
            let detail = vec![("task", who.clone()), ("created", names.join(","))];
            let mut marks: Vec<Mark> = made
                .iter()
                .filter_map(|n| {
                    let c = n.created.as_ref()?;
                    Some(Mark {
                        name: format!("{} {} {}", c.syscall, n.kind.name(), n.inum),
                        ts_ns: c.ts_ns,
                        detail: vec![("namespace", format!("{} {}", n.kind.name(), n.inum))],
                    })
                })
                .collect();
            if let (Some(t), Some(p)) = (forked_pause, &self.s.pause) {
                marks.push(Mark {
                    name: format!("fork pause {}", p.pid),
                    ts_ns: t,
                    detail: Vec::new(),
                });
            }
            let span = Span {
                name: format!("creates {}", names.join(",")),
                ..self.life(String::new(), first, end, detail)
            };
            rows.push(self.push(Row {
                kind: RowKind::Creator,
                name: format!("creator {who}"),
                spans: vec![span],
                marks,
            }));
        }
        rows
    }

    fn namespace_row(&mut self, n: &SandboxNs) {
        let name = format!("{} {}", n.kind.name(), n.inum);
        let mut detail = vec![("namespace", name.clone())];
        if n.id != 0 {
            detail.push(("ns_id", n.id.to_string()));
        }
        match &n.created {
            Some(c) => detail.push((
                "created by",
                format!("{} {} ({})", c.pid, c.comm, c.syscall),
            )),
            None if n.existing => detail.push(("created", "before the trace".into())),
            None => detail.push(("created", "not seen".into())),
        }
        let created = n.created.as_ref().map(|c| c.ts_ns);
        let start = if n.existing { None } else { created };
        let mut spans = vec![self.life(name.clone(), start, n.emptied_ns, detail)];
        let mut marks = Vec::new();
        if let Some(t) = n.emptied_ns {
            let pinned = !n.pinned_by.is_empty();
            marks.push(Mark {
                name: if pinned {
                    "emptied; still pinned".into()
                } else {
                    "emptied; freed".into()
                },
                ts_ns: t,
                detail: Vec::new(),
            });
            if pinned {
                // It outlives its tasks: a bind mount holds it.
                spans.push(Span {
                    name: format!("pinned by {}", n.pinned_by.join(", ")),
                    start_ns: t,
                    end_ns: self.end_ns.max(t),
                    depth: 0,
                    open: true,
                    detail: vec![("pinned by", n.pinned_by.join(", "))],
                });
            }
        }
        self.push(Row {
            kind: RowKind::Namespace,
            name,
            spans,
            marks,
        });
    }

    fn pause_row(&mut self, p: &Pause) -> PauseRow {
        let cmd = p.argv.join(" ");
        let mut detail = vec![("pid", p.pid.to_string()), ("command", cmd.clone())];
        if let Some(by) = &p.forked_by {
            detail.push(("forked by", format!("{} {}", by.pid, by.comm)));
        }
        detail.extend(p.exit.map(|e| ("exit", e.to_string())));
        let start = p.forked_ns.or(p.started_ns);
        let life = self.life(format!("pause {}", p.pid), start, p.exited_ns, detail);
        let mut spans = vec![life.clone()];
        let startup = Self::phase(&life, "fork → exec", p.forked_ns, p.started_ns).map(|s| {
            spans.push(s);
            spans.len() - 1
        });
        let run_end = Some(p.exited_ns.unwrap_or(life.end_ns));
        spans.extend(Self::phase(&life, "running", p.started_ns, run_end));
        let mut marks = Vec::new();
        if let Some(t) = p.started_ns {
            marks.push(Mark {
                name: format!("exec {cmd}"),
                ts_ns: t,
                detail: Vec::new(),
            });
        }
        if let Some(t) = p.exited_ns {
            // A pause never moves away: no status is an exit that was lost.
            let name = p
                .exit
                .map_or("exit not seen".into(), |e| exit_name(Some(e)));
            marks.push(Mark {
                name,
                ts_ns: t,
                detail: Vec::new(),
            });
        }
        let row = self.push(Row {
            kind: RowKind::Pause,
            name: format!("pause {} {cmd}", p.pid),
            spans,
            marks,
        });
        PauseRow { row, startup }
    }

    fn container_row(&mut self, c: &ContainerRow) -> usize {
        let cmd = c.argv.join(" ");
        let mut detail = vec![
            ("container", c.name.clone()),
            ("pid", c.pid.to_string()),
            ("command", cmd.clone()),
            ("joined", kinds(&c.joined)),
        ];
        if !c.missing.is_empty() {
            detail.push(("not in", kinds(&c.missing)));
        }
        if c.existing {
            detail.push(("existing", "running before the trace".into()));
        }
        detail.extend(c.exit.map(|e| ("exit", e.to_string())));
        let start = if c.existing {
            None
        } else {
            c.joined_ns.or(c.started_ns)
        };
        let life = self.life(c.name.clone(), start, c.left_ns, detail);
        let mut spans = vec![life.clone()];
        spans.extend(Self::phase(
            &life,
            "setns → exec",
            c.joined_ns,
            c.started_ns,
        ));
        let run_end = Some(c.left_ns.unwrap_or(life.end_ns));
        spans.extend(Self::phase(&life, "running", c.started_ns, run_end));
        let mut marks = Vec::new();
        if let Some(t) = c.joined_ns {
            marks.push(Mark {
                name: format!("join {}", kinds(&c.joined)),
                ts_ns: t,
                detail: Vec::new(),
            });
        }
        if let Some(t) = c.left_ns {
            marks.push(Mark {
                name: exit_name(c.exit),
                ts_ns: t,
                detail: Vec::new(),
            });
        }
        self.push(Row {
            kind: RowKind::Container,
            name: format!("container {} {cmd}", c.name),
            spans,
            marks,
        })
    }

    fn exec_row(&mut self, c: &ContainerRow, e: &ExecSession) {
        let cmd = e.argv.join(" ");
        let mut detail = vec![
            ("pid", e.pid.to_string()),
            ("in", c.name.clone()),
            ("command", cmd.clone()),
        ];
        detail.extend(e.exit.map(|x| ("exit", x.to_string())));
        let span = self.life(format!("exec {cmd}"), Some(e.started_ns), e.left_ns, detail);
        let mut marks = vec![Mark {
            name: "enter".into(),
            ts_ns: e.started_ns,
            detail: Vec::new(),
        }];
        if let Some(t) = e.left_ns {
            marks.push(Mark {
                name: exit_name(e.exit),
                ts_ns: t,
                detail: Vec::new(),
            });
        }
        self.push(Row {
            kind: RowKind::Exec,
            name: format!("exec {} in {}", e.pid, c.name),
            spans: vec![span],
            marks,
        });
    }
}

struct PauseRow {
    row: usize,
    /// Its fork → exec span, where both are known: flows to containers leave it.
    startup: Option<usize>,
}

#[cfg(test)]
pub(crate) mod tests;
