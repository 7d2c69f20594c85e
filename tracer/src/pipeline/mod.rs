//! One pipeline for live runs and recordings:
//! record bytes → decode → model → enrich (live only) → steps → render.
//!
//! What a live run learns from /proc (cgroups, namespace pins) goes into
//! the model as notes and into the recording too, so `tracer report FILE`
//! rebuilds the very same report. Steps leave the pipeline resolved
//! ([`Step`]): renderers never see the model.

mod enrich;
mod identity;
pub mod sink;

pub use identity::Namer;

use std::io::{self, Write};
use std::sync::Arc;

use tracer_common::ExecEvent;

use crate::clock::Clock;
use crate::decode::{DecodeError, Event, Unread, decode_reusing};
use crate::kernel::Info;
use crate::metrics::Metrics;
use crate::model::{Lifecycle, Model, Note};
use crate::record;
use crate::render::Render;
use crate::report::story::{self, Gathered, Selector};
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
    /// `--pod` / `--netns`: only that story's lines, and the story at the end.
    focus: Option<Focus>,
    /// Replaying with a focus: the last event's steps, resolved once the
    /// notes recorded after it are in (as the live run resolved them).
    deferred: Vec<Lifecycle>,
    noted: Vec<Note>,
    /// `--metrics`: bumped as events and steps pass (atomics only).
    metrics: Option<Arc<Metrics>>,
    /// The last exec record's box, for the next one.
    spare_exec: Option<Box<ExecEvent>>,
    /// Something may be left to settle: a note came since the model last
    /// settled, or it never did (live, nothing else changes it between
    /// events).
    noted_since_settle: bool,
}

/// The question of a story and the steps that answer it so far.
struct Focus {
    sel: Selector,
    gathered: Gathered,
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
            focus: None,
            deferred: Vec::new(),
            noted: Vec::new(),
            metrics: None,
            spare_exec: None,
            noted_since_settle: true,
        }
    }

    /// Tell one namespace's or sandbox's story: lifecycle lines of the
    /// sandboxes `sel` names only, and at the end the story instead of
    /// the report.
    pub fn focus(&mut self, sel: Selector) {
        self.focus = Some(Focus {
            sel,
            gathered: Gathered::default(),
        });
    }

    /// Count into `metrics` from now on, starting from what the model holds.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        metrics.seed(&self.model);
        self.metrics = Some(metrics);
        self
    }

    /// Tracing has begun.
    pub fn ready(&mut self, info: &Info) -> io::Result<()> {
        self.out.render.ready(&mut self.out.sink, info)?;
        self.out.sink.flush()
    }

    /// One line per sandbox that ran before the trace (live pod view;
    /// with a focus, those it names).
    pub fn running_at_start(&mut self) -> io::Result<()> {
        let running = self.model.running_at_start();
        self.steps(&running, &[])
    }

    /// One record from the kernel (or a recording).
    pub fn event(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.resolve_deferred()?;
        self.stats.events += 1;
        let decoded = decode_reusing(bytes, &mut self.spare_exec);
        if let Some(r) = &mut self.recorder {
            match &decoded {
                // Of a visitor's environment, only its CNI command is kept.
                Ok(Event::Visitor(v)) => r.event(&v.bytes()),
                _ => r.event(bytes),
            }
        }
        let done = self.decoded(bytes, &decoded);
        // The exec's box takes the next exec record.
        if let Ok(Event::Exec(b)) = decoded {
            self.spare_exec = Some(b);
        }
        done
    }

    /// One record, decoded (borrowed from the result: moving an event out
    /// of it copies it).
    fn decoded(&mut self, bytes: &[u8], decoded: &Result<Event, DecodeError>) -> io::Result<()> {
        let ev = match decoded {
            Ok(ev) => ev,
            Err(e) => {
                self.stats.decode_errors += 1;
                return self
                    .out
                    .render
                    .decode_error(&mut self.out.sink, e, bytes.len());
            }
        };
        if let Some(m) = &self.metrics {
            m.event(ev);
        }
        let unread = Unread::of(ev, self.source.supported);
        if !unread.is_empty() {
            self.stats.unread += 1;
        }
        if self.out.view == View::Raw {
            self.out.render.event(&mut self.out.sink, ev, unread)?;
        }
        if let Some(namer) = &mut self.namer {
            namer.observe(ev);
        }
        // A replay's notes for the last event came after it: settle now.
        // (Live, the last event settled at once: only a note since then,
        // a resolver's answer, leaves anything to settle.)
        if !self.source.live || self.noted_since_settle {
            self.settle()?;
        }
        let changes = self.model.apply(ev);
        // Only a live run reads what the verification asks for: a replay
        // has the answer in its notes, and the request goes with the next
        // event's `apply`.
        let mounts = if self.source.live {
            self.model.wanted_mounts()
        } else {
            None
        };
        let visitors = self.model.visits.take_asks();
        if changes.is_empty() && mounts.is_none() && visitors.is_empty() {
            return self.settle_live();
        }
        self.observe(&changes);
        let mut found = if self.source.live {
            let mut found = enrich::notes(&changes, mounts.as_ref());
            found.extend(enrich::visitors(&visitors));
            found
        } else {
            Vec::new()
        };
        if let Some(namer) = &mut self.namer {
            namer.notes(ev, &changes, &mut found);
        }
        for n in &found {
            self.note(n)?;
        }
        if !self.source.live && self.focus.is_some() {
            self.deferred = changes;
            return Ok(());
        }
        self.steps(&changes, &found)?;
        self.settle_live()
    }

    /// Resolve the model's steps, after the notes read for them, into the
    /// live lines (filtered by the focus) and the story.
    fn steps(&mut self, changes: &[Lifecycle], found: &[Note]) -> io::Result<()> {
        let show = self.out.view == View::Pods;
        if !show && self.focus.is_none() {
            return Ok(());
        }
        for l in changes {
            let step = Step::resolve(&self.model, l, found);
            if let Some(f) = &mut self.focus {
                if !f.sel.matches_sandbox(&self.model, l.sandbox) {
                    continue;
                }
                f.gathered.push(step.clone());
            }
            if show {
                self.out.render.step(&mut self.out.sink, &step)?;
            }
        }
        Ok(())
    }

    /// Steps as the metrics see them: those an event made and those
    /// settling made (ends, verdicts) alike.
    fn observe(&self, changes: &[Lifecycle]) {
        if let Some(m) = &self.metrics {
            for l in changes {
                m.lifecycle(&self.model, l);
            }
        }
    }

    /// The previous event's deferred steps, with the notes that came after it.
    #[inline]
    fn resolve_deferred(&mut self) -> io::Result<()> {
        if self.deferred.is_empty() {
            return Ok(());
        }
        self.resolve_deferred_now()
    }

    #[inline(never)]
    fn resolve_deferred_now(&mut self) -> io::Result<()> {
        let changes = std::mem::take(&mut self.deferred);
        let noted = std::mem::take(&mut self.noted);
        self.steps(&changes, &noted)
    }

    /// What the facts so far add up to (states, ends, verdicts), told.
    #[inline]
    fn settle(&mut self) -> io::Result<()> {
        self.noted_since_settle = false;
        if !self.model.settle_due() {
            // Tests settle anyway, and check that nothing was left.
            #[cfg(test)]
            assert!(self.model.settle().is_empty(), "settled while not due");
            return Ok(());
        }
        self.settle_now()
    }

    #[inline(never)]
    fn settle_now(&mut self) -> io::Result<()> {
        let settled = self.model.settle();
        self.observe(&settled);
        self.steps(&settled, &[])
    }

    /// Live, an event's notes are in right after it: settle at once (a
    /// replay settles at the next event, after the recorded notes).
    fn settle_live(&mut self) -> io::Result<()> {
        if self.source.live {
            self.settle()?;
        }
        Ok(())
    }

    /// Trace time `now_ns` (CLOCK_BOOTTIME) has come without an event:
    /// verdicts due by then are given (recorded as a time note, so a replay
    /// gives them at the same point).
    pub fn tick(&mut self, now_ns: u64) -> io::Result<()> {
        self.resolve_deferred()?;
        self.settle()?;
        if self.model.due(now_ns) {
            self.note(&Note::Time { ts_ns: now_ns })?;
            self.settle()?;
            self.flush()?;
        }
        Ok(())
    }

    /// What userspace learned beside the events (live, or from a recording).
    pub fn note(&mut self, n: &Note) -> io::Result<()> {
        if let Some(r) = &mut self.recorder {
            r.note(n);
        }
        self.model.note(n);
        self.noted_since_settle = true;
        if !self.deferred.is_empty() {
            self.noted.push(n.clone());
        }
        Ok(())
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The kernel's counters as last read (live), or as the recording ended.
    pub fn set_kernel_stats(&mut self, k: KernelStats) {
        self.stats.kernel = k;
        if let Some(m) = &self.metrics {
            m.stats(&self.stats);
        }
    }

    /// A `stats` line, when a loss counter moved while tracing.
    pub fn stats_line(&mut self) -> io::Result<()> {
        let stats = self.stats;
        self.out
            .render
            .stats(&mut self.out.sink, &stats, false, &[])?;
        self.out.sink.flush()
    }

    /// Lines of live output stdout did not take (see [`sink`]).
    pub fn set_output_dropped(&mut self, lines: u64) {
        self.stats.output_dropped = lines;
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.sink.flush()
    }

    /// The recording to its file: a crash later loses nothing before this.
    pub fn flush_recording(&mut self) {
        if let Some(r) = &mut self.recorder {
            r.flush();
        }
    }

    /// The first write to the recording that failed (tracing goes on).
    pub fn recording_failure(&self) -> Option<&record::WriteFailure> {
        self.recorder.as_ref().and_then(|r| r.failure())
    }

    /// End of the trace: the recording's end frame, the report and the
    /// final counters (with the programs' run times, live).
    #[allow(clippy::type_complexity)]
    pub fn finish(
        mut self,
        programs: &[ProgStat],
    ) -> io::Result<(W, Option<Result<R, record::WriteFailure>>)> {
        self.resolve_deferred()?;
        // The end of a live trace is a time too: verdicts due by then.
        if self.source.live {
            self.note(&Note::Time {
                ts_ns: crate::clock::boot_now_ns(),
            })?;
        }
        self.settle()?;
        let Pipeline {
            model,
            stats,
            source,
            mut out,
            recorder,
            focus,
            ..
        } = self;
        // The recording first: whatever stdout does, it gets its end.
        let rec = recorder.map(|r| r.end(&stats));
        match focus {
            Some(f) => {
                let story = story::build(&model, &f.sel, f.gathered, &source.clock);
                out.render.story(&mut out.sink, &story)?;
            }
            None => {
                let report = report::build(&model, &stats, &source.clock);
                out.render.report(&mut out.sink, &report)?;
            }
        }
        out.render.stats(&mut out.sink, &stats, true, programs)?;
        out.sink.flush()?;
        Ok((out.sink, rec))
    }
}

#[cfg(test)]
mod story_tests;
#[cfg(test)]
mod tests;
