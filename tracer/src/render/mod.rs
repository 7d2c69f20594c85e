//! The last stage: values → output lines. One [`Render`] trait, one
//! implementation per format ([`Text`], [`Json`], and for the report
//! alone [`Perfetto`] and [`Html`], drawn from one [`timeline`]); each renders raw
//! events, lifecycle [`Step`]s, counters and the [`Report`] from those
//! values alone, never from the model. A new view (a timeline, metrics)
//! is one more implementation, chosen in [`renderer`].
//!
//! Every JSON line has a `type` (schema: docs/json.md).

mod html;
mod json;
mod perfetto;
mod text;
pub mod timeline;

use std::io::{self, Write};

use crate::clock::Clock;
use crate::decode::{DecodeError, Event, Unread};
use crate::kernel::Info;
use crate::report::{Report, Step, Story};
use crate::stats::{ProgStat, Stats};
pub use html::Html;
pub use json::Json;
pub use perfetto::Perfetto;
pub use text::{Text, dur};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    /// Chrome JSON trace events (ui.perfetto.dev): the report's timeline.
    Perfetto,
    /// One self-contained page: the timeline and the report's tables.
    Html,
}

/// One output format. Each method writes whole lines to `out` (and does
/// not flush: the caller decides when).
pub trait Render<W: Write> {
    /// The programs are attached and the self-test passed.
    fn ready(&mut self, out: &mut W, info: &Info) -> io::Result<()>;
    /// One raw kernel event (`--raw`), with what the kernel could not read.
    fn event(&mut self, out: &mut W, ev: &Event, unread: Unread) -> io::Result<()>;
    /// A record that could not be decoded: reported, counted, not fatal.
    fn decode_error(&mut self, out: &mut W, err: &DecodeError, len: usize) -> io::Result<()>;
    /// One step of a sandbox's life.
    fn step(&mut self, out: &mut W, step: &Step) -> io::Result<()>;
    /// Loss counters: on change while live, and once at the end (`last`),
    /// with the programs' run times where the kernel keeps them.
    fn stats(
        &mut self,
        out: &mut W,
        stats: &Stats,
        last: bool,
        programs: &[ProgStat],
    ) -> io::Result<()>;
    /// The report at the end of the trace.
    fn report(&mut self, out: &mut W, report: &Report) -> io::Result<()>;
    /// One namespace's or sandbox's story (`--pod`, `--netns`), in place
    /// of the report. Formats without a story view write nothing.
    fn story(&mut self, _out: &mut W, _story: &Story) -> io::Result<()> {
        Ok(())
    }
}

/// The renderer for a format; `clock` turns event times into wall-clock time.
pub fn renderer<W: Write>(format: Format, clock: Clock) -> Box<dyn Render<W>> {
    match format {
        Format::Text => Box::new(Text::new(clock)),
        Format::Json => Box::new(Json::new(clock)),
        Format::Perfetto => Box::new(Perfetto),
        Format::Html => Box::new(Html),
    }
}

#[cfg(test)]
mod tests;
