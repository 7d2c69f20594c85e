//! One pipeline for live runs and recordings:
//! record bytes → decode → model → enrich (live only) → steps → render.
//!
//! What a live run learns from /proc (cgroups, namespace pins) goes into
//! the model as notes and into the recording too, so `tracer report FILE`
//! rebuilds the very same report. Steps leave the pipeline resolved
//! ([`Step`]): renderers never see the model.

mod enrich;
mod identity;

pub use identity::Namer;

use std::io::{self, Write};

use crate::clock::Clock;
use crate::decode::{Unread, decode};
use crate::kernel::Info;
use crate::model::{Model, Note};
use crate::record;
use crate::render::Render;
use crate::report::{self, Step};
use crate::stats::{KernelStats, ProgStat, Stats};

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

/// Where the pipeline's events come from, and what it knows about them.
pub struct Source {
    /// Wall clock minus CLOCK_BOOTTIME: converts the events' times.
    pub clock: Clock,
    /// Namespace slots the kernel has (see [`crate::decode::supported_slots`]).
    pub supported: u32,
    /// Read /proc for cgroups and pins as events come (live runs only).
    pub live: bool,
}

/// The output: a renderer writing into a sink that only writes.
pub struct Output<W: Write> {
    pub render: Box<dyn Render<W>>,
    pub sink: W,
    pub view: View,
}

pub struct Pipeline<W: Write, R: Write> {
    model: Model,
    stats: Stats,
    source: Source,
    out: Output<W>,
    recorder: Option<record::Writer<R>>,
    /// Names new pauses and containers (live runs; see [`Pipeline::with_namer`]).
    namer: Option<Namer>,
}

impl<W: Write, R: Write> Pipeline<W, R> {
    pub fn new(
        model: Model,
        source: Source,
        out: Output<W>,
        recorder: Option<record::Writer<R>>,
    ) -> Self {
        Self {
            model,
            stats: Stats::default(),
            source,
            out,
            recorder,
            namer: None,
        }
    }

    /// Tracing has begun.
    pub fn ready(&mut self, info: &Info) -> io::Result<()> {
        self.out.render.ready(&mut self.out.sink, info)?;
        self.out.sink.flush()
    }

    /// One line per sandbox that ran before the trace (live pod view).
    pub fn running_at_start(&mut self) -> io::Result<()> {
        if self.out.view != View::Pods {
            return Ok(());
        }
        for l in self.model.running_at_start() {
            let step = Step::resolve(&self.model, &l, &[]);
            self.out.render.step(&mut self.out.sink, &step)?;
        }
        Ok(())
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
                return self
                    .out
                    .render
                    .decode_error(&mut self.out.sink, &e, bytes.len());
            }
        };
        let unread = Unread::of(&ev, self.source.supported);
        if !unread.is_empty() {
            self.stats.unread += 1;
        }
        if self.out.view == View::Raw {
            self.out.render.event(&mut self.out.sink, &ev, unread)?;
        }
        if let Some(namer) = &mut self.namer {
            namer.observe(&ev);
        }
        let changes = self.model.event(&ev);
        if changes.is_empty() {
            return Ok(());
        }
        let mut found = if self.source.live {
            enrich::notes(&changes)
        } else {
            Vec::new()
        };
        if let Some(namer) = &mut self.namer {
            namer.notes(&ev, &changes, &mut found);
        }
        for n in &found {
            self.note(n)?;
        }
        if self.out.view == View::Pods {
            for l in &changes {
                let step = Step::resolve(&self.model, l, &found);
                self.out.render.step(&mut self.out.sink, &step)?;
            }
        }
        Ok(())
    }

    /// What userspace learned beside the events (live, or from a recording).
    pub fn note(&mut self, n: &Note) -> io::Result<()> {
        if let Some(r) = &mut self.recorder {
            r.note(n)?;
        }
        self.model.note(n);
        Ok(())
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The kernel's counters as last read (live), or as the recording ended.
    pub fn set_kernel_stats(&mut self, k: KernelStats) {
        self.stats.kernel = k;
    }

    /// A `stats` line, when a loss counter moved while tracing.
    pub fn stats_line(&mut self) -> io::Result<()> {
        let stats = self.stats;
        self.out
            .render
            .stats(&mut self.out.sink, &stats, false, &[])?;
        self.out.sink.flush()
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.sink.flush()
    }

    /// End of the trace: the report, the final counters (with the programs'
    /// run times, live) and the recording's end frame.
    pub fn finish(self, programs: &[ProgStat]) -> io::Result<(W, Option<R>)> {
        let Pipeline {
            model,
            stats,
            source,
            mut out,
            recorder,
            namer: _,
        } = self;
        let report = report::build(&model, &stats, &source.clock);
        out.render.report(&mut out.sink, &report)?;
        out.render.stats(&mut out.sink, &stats, true, programs)?;
        out.sink.flush()?;
        let rec = match recorder {
            Some(r) => Some(r.end(&stats)?),
            None => None,
        };
        Ok((out.sink, rec))
    }
}

#[cfg(test)]
mod tests;
