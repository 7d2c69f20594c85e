//! The report as one self-contained HTML page: the timeline (inline SVG,
//! zoomed and panned by an inline script) above the report's tables. No
//! network: no CDN, no font, no image; it opens from a file anywhere.
//!
//! Every string from the kernel, a recording or a runtime goes through
//! [`esc`] (argv can hold anything).

mod svg;
mod tables;

use std::io::{self, Write};

use super::Render;
use super::timeline::{RowKind, Timeline};
use crate::decode::{DecodeError, Event, Unread};
use crate::kernel::Info;
use crate::report::{Report, Step};
use crate::stats::{ProgStat, Stats};

const CSS: &str = include_str!("page.css");
const JS: &str = include_str!("page.js");

/// Writes the page at the report; nothing before.
pub struct Html;

/// Text or an attribute value, escaped for HTML (and for SVG inside it).
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            // Control characters are not allowed in XML (inline SVG) text.
            c if c.is_control() && c != '\n' && c != '\t' => {
                o.push_str(&format!("\\x{:02x}", u32::from(c)))
            }
            c => o.push(c),
        }
    }
    o
}

const KINDS: [RowKind; 6] = [
    RowKind::Sandbox,
    RowKind::Creator,
    RowKind::Namespace,
    RowKind::Pause,
    RowKind::Container,
    RowKind::Exec,
];

/// The page of `report`.
pub fn page(report: &Report) -> String {
    let tl = Timeline::of(report);
    let clock = report.clock();
    let n = report.sandboxes.len();
    let mut head = format!(
        "{n} sandbox{} · {} events · {} dropped",
        if n == 1 { "" } else { "es" },
        report.stats.events,
        report.stats.kernel.ringbuf_full
    );
    if n > 0 {
        head.push_str(&format!(
            " · {} → {} UTC",
            clock.rfc3339(tl.start_ns),
            clock.hms(tl.end_ns)
        ));
    }
    if report.summarised.sandboxes > 0 {
        head.push_str(&format!(
            " · {} older sandboxes summarised (not drawn)",
            report.summarised.sandboxes
        ));
    }
    let anomalies: String = report
        .anomalies
        .iter()
        .map(|a| format!(r#"<p class="anomaly">anomaly: {}</p>"#, esc(a)))
        .collect();
    let legend: String = KINDS
        .iter()
        .map(|k| format!(r#"<span><i class="k-{0}"></i>{0}</span>"#, k.name()))
        .collect();
    format!(
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>tracer: pod sandbox timeline</title>
<style>
{CSS}</style>
</head>
<body>
<h1>Pod sandbox timeline</h1>
<p class="meta">{head} · tracer {version}</p>
{anomalies}<div class="controls"><button id="zoom-out" title="zoom out">−</button><button id="zoom-in" title="zoom in">+</button><button id="zoom-fit" title="the whole trace">fit</button><span id="window"></span><span class="hint">wheel: zoom · drag: pan · click a sandbox's band: zoom to it · double-click: fit</span></div>
<p class="legend">{legend}<span>▬ lifetime, ▂ phase, ◆ instant, dashed: still running at the end, → hand-over</span></p>
<div class="scroll">{svg}</div>
<h2>Report</h2>
{tables}
<script>
{JS}</script>
</body>
</html>
"#,
        head = esc(&head),
        version = env!("CARGO_PKG_VERSION"),
        svg = svg::svg(&tl),
        tables = tables::tables(report),
    )
}

impl<W: Write> Render<W> for Html {
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
        out.write_all(page(report).as_bytes())
    }
}

#[cfg(test)]
mod tests;
