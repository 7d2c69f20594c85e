//! One pipeline for live runs and recordings:
//! record bytes → decode → model → (enrich from /proc, live only) → output.
//!
//! What a live run learns from /proc (cgroups, namespace pins) goes into
//! the model as notes and into the recording too, so `tracer report FILE`
//! rebuilds the very same report.

use std::io::{self, Write};

use crate::clock::Clock;
use crate::decode::{decode, unread};
use crate::host::{cgroup, pins};
use crate::model::{Lifecycle, Model, Note, What};
use crate::record;
use crate::render::{Format, Printer};
use crate::report as pods;
use crate::stats::{ProgStat, Stats};

/// What the live output shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum View {
    /// Pod lifecycle lines (SANDBOX, PAUSE, JOIN, …).
    Pods,
    /// Every kernel event.
    Raw,
    /// Nothing until the report.
    Quiet,
}

pub struct Session<W: Write, R: Write> {
    pub model: Model,
    pub stats: Stats,
    /// The programs' run times, for the final counters (live runs).
    pub programs: Vec<ProgStat>,
    out: Printer<W>,
    view: View,
    recorder: Option<record::Writer<R>>,
    /// Read /proc for cgroups and pins (live runs only).
    live: bool,
}

impl<W: Write, R: Write> Session<W, R> {
    pub fn new(
        model: Model,
        out: Printer<W>,
        view: View,
        recorder: Option<record::Writer<R>>,
        live: bool,
    ) -> Self {
        Self {
            model,
            stats: Stats::default(),
            programs: Vec::new(),
            out,
            view,
            recorder,
            live,
        }
    }

    pub fn printer(&mut self) -> &mut Printer<W> {
        &mut self.out
    }

    /// One record from the kernel (or a recording).
    pub fn event(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stats.events += 1;
        if let Some(r) = &mut self.recorder {
            r.event(bytes)?;
        }
        let ev = match decode(bytes) {
            Ok(ev) => ev,
            Err(e) => {
                self.stats.decode_errors += 1;
                return self.out.decode_error(&e, bytes.len());
            }
        };
        if !unread(&ev, self.out.supported()).is_empty() {
            self.stats.unread += 1;
        }
        if self.view == View::Raw {
            self.out.event(&ev)?;
        }
        let mut steps = self.model.event(&ev);
        if self.live {
            self.enrich(&mut steps)?;
        }
        if self.view == View::Pods {
            for l in &steps {
                self.lifecycle(l)?;
            }
        }
        Ok(())
    }

    /// Read what the kernel events cannot tell: the cgroup of each new
    /// pause or container, and what still pins a namespace that emptied.
    fn enrich(&mut self, steps: &mut [Lifecycle]) -> io::Result<()> {
        for pid in Model::cgroup_wanted(steps) {
            if let Some(ids) = cgroup::read(pid) {
                self.note(&Note::Cgroup { pid, ids })?;
            }
        }
        for l in steps.iter_mut() {
            if let What::NamespaceEmpty {
                kind,
                inum,
                pinned_by,
            } = &mut l.what
            {
                let paths = pins::read(kind.name(), *inum);
                if !paths.is_empty() {
                    pinned_by.clone_from(&paths);
                    self.note(&Note::Pins {
                        kind: *kind,
                        inum: *inum,
                        paths,
                    })?;
                }
            }
        }
        Ok(())
    }

    pub fn note(&mut self, n: &Note) -> io::Result<()> {
        if let Some(r) = &mut self.recorder {
            r.note(n)?;
        }
        self.model.note(n);
        Ok(())
    }

    fn lifecycle(&mut self, l: &Lifecycle) -> io::Result<()> {
        let clock = *self.out.clock();
        let line = match self.out.format() {
            Format::Text => pods::lifecycle_line(l, &self.model, &clock),
            Format::Json => pods::lifecycle_json(l, &self.model, &clock).to_string(),
        };
        self.out.line(&line)
    }

    /// End of the trace: the report, and the recording's end frame.
    pub fn finish(self) -> io::Result<(Printer<W>, Option<R>)> {
        let Session {
            model,
            stats,
            programs,
            mut out,
            recorder,
            ..
        } = self;
        let clock: Clock = *out.clock();
        let report = pods::build(&model, &stats, &clock);
        match out.format() {
            Format::Text => {
                let text = pods::render_text(&report, &model, &clock);
                out.line(text.trim_end())?;
            }
            Format::Json => out.json(&report)?,
        }
        out.stats(&stats, true, &programs)?;
        let rec = match recorder {
            Some(r) => Some(r.end(&stats)?),
            None => None,
        };
        Ok((out, rec))
    }
}
