//! Text: one readable line per raw event or lifecycle step, `#` lines for
//! status, tables for the report.

mod cause;
mod escape;
mod pod;
mod raw;
mod report;
mod step;
mod story;
mod visits;

use std::io::{self, Write};

pub use escape::escape;

use super::Render;
use crate::clock::Clock;
use crate::decode::{DecodeError, Event, Unread};
use crate::kernel::Info;
use crate::report::{Report, Step, Story};
use crate::stats::{ProgStat, Stats};

pub struct Text {
    clock: Clock,
}

impl Text {
    pub fn new(clock: Clock) -> Self {
        Self { clock }
    }
}

/// `850µs`, `320ms`, `1.52s`, `3m07s`.
pub fn dur(ns: u64) -> String {
    match ns {
        0..1_000_000 => format!("{}µs", ns / 1_000),
        1_000_000..1_000_000_000 => format!("{}ms", ns / 1_000_000),
        1_000_000_000..60_000_000_000 => format!("{:.2}s", ns as f64 / 1e9),
        _ => format!("{}m{:02}s", ns / 60_000_000_000, (ns / 1_000_000_000) % 60),
    }
}

impl<W: Write> Render<W> for Text {
    fn ready(&mut self, out: &mut W, info: &Info) -> io::Result<()> {
        writeln!(
            out,
            "# tracing {} probes (kernel {}, ns_id {}, {}); Ctrl-C to stop",
            info.probes,
            escape(&info.kernel),
            if info.ns_id { "yes" } else { "no" },
            if info.filter {
                "host tasks filtered in the kernel"
            } else {
                "all tasks"
            }
        )
    }

    fn event(&mut self, out: &mut W, ev: &Event, unread: Unread) -> io::Result<()> {
        // The line's own words are plain: escaping all of it escapes the
        // kernel's strings in it.
        writeln!(out, "{}", escape(&raw::text_line(ev, unread, &self.clock)))
    }

    fn decode_error(&mut self, out: &mut W, err: &DecodeError, len: usize) -> io::Result<()> {
        writeln!(out, "# undecodable record ({len} bytes): {err}")
    }

    fn step(&mut self, out: &mut W, step: &Step) -> io::Result<()> {
        writeln!(out, "{}", escape(&step::line(step, &self.clock)))
    }

    fn stats(
        &mut self,
        out: &mut W,
        s: &Stats,
        last: bool,
        programs: &[ProgStat],
    ) -> io::Result<()> {
        let output = if s.output_dropped > 0 {
            format!(
                ", output lines dropped {} (stdout did not keep up)",
                s.output_dropped
            )
        } else {
            String::new()
        };
        writeln!(
            out,
            "# {}events {}, dropped {} (ring buffer full), undecodable {}, with unread fields {}, arguments unread {}, syscall state lost {}{output}",
            if last { "done: " } else { "" },
            s.events,
            s.kernel.ringbuf_full,
            s.decode_errors,
            s.unread + s.kernel.read_failed,
            s.kernel.arg_read_failed,
            s.kernel.pending_full + s.kernel.pending_missing
        )?;
        for p in programs.iter().filter(|p| p.run_count > 0) {
            writeln!(
                out,
                "# bpf {}: {} runs, {} ns/run",
                p.name,
                p.run_count,
                p.run_time_ns / p.run_count
            )?;
        }
        Ok(())
    }

    fn report(&mut self, out: &mut W, r: &Report) -> io::Result<()> {
        writeln!(out, "{}", report::tables(r).trim_end())
    }

    fn story(&mut self, out: &mut W, s: &Story) -> io::Result<()> {
        writeln!(out, "{}", story::text(s).trim_end())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_well() {
        assert_eq!(dur(850_000), "850µs");
        assert_eq!(dur(320_000_000), "320ms");
        assert_eq!(dur(1_520_000_000), "1.52s");
        assert_eq!(dur(187_000_000_000), "3m07s");
    }
}
