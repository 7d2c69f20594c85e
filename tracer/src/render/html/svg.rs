//! The timeline as inline SVG: a label column, one band per sandbox, one
//! line per row, spans as bars, marks as diamonds, flows as arrows.
//!
//! Every element placed in time carries its times (`data-a`, `data-b`, ns
//! since the timeline's start): the page's script moves them on zoom. The
//! SVG as written shows the whole trace, script or not.

use std::fmt::Write;

use super::esc;
use crate::render::timeline::{Detail, Group, Row, Timeline};

pub const WIDTH: u32 = 1400;
/// Left of the plot: row labels.
pub const LABEL_W: u32 = 330;
const RIGHT_PAD: u32 = 16;
const AXIS_H: u32 = 28;
const GROUP_H: u32 = 22;
const ROW_H: u32 = 18;

fn plot_w() -> f64 {
    f64::from(WIDTH - LABEL_W - RIGHT_PAD)
}

/// `<title>` text: a name, then `key: value` lines.
fn title(name: &str, d: &Detail) -> String {
    let mut t = esc(name);
    for (k, v) in d {
        let _ = write!(t, "\n{}: {}", esc(k), esc(v));
    }
    t
}

struct Scale {
    start_ns: u64,
    span_ns: f64,
}

impl Scale {
    fn rel(&self, ns: u64) -> u64 {
        ns.saturating_sub(self.start_ns)
    }
    fn x(&self, ns: u64) -> f64 {
        f64::from(LABEL_W) + self.rel(ns) as f64 / self.span_ns * plot_w()
    }
}

/// The SVG of `tl`: the whole trace in view.
pub fn svg(tl: &Timeline) -> String {
    let sc = Scale {
        start_ns: tl.start_ns,
        span_ns: (tl.end_ns.saturating_sub(tl.start_ns)).max(1) as f64,
    };
    let rows: u32 = tl.groups.iter().map(|g| g.rows.len() as u32).sum();
    let height = AXIS_H + tl.groups.len() as u32 * GROUP_H + rows * ROW_H + 8;
    let mut o = String::new();
    let _ = write!(
        o,
        r#"<svg id="timeline" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" data-span-ns="{}" data-plot-x="{LABEL_W}" data-plot-w="{}">"#,
        tl.end_ns.saturating_sub(tl.start_ns),
        plot_w()
    );
    let _ = write!(
        o,
        r#"<defs><clipPath id="plot"><rect x="{LABEL_W}" y="0" width="{}" height="{height}"/></clipPath><marker id="arrow" viewBox="0 0 8 8" refX="7" refY="4" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L8,4 L0,8 z" class="arrowhead"/></marker></defs>"#,
        plot_w()
    );
    let _ = write!(
        o,
        r#"<g id="axis" transform="translate(0,{})"></g>"#,
        AXIS_H - 6
    );
    let mut y = AXIS_H;
    for g in tl.groups.iter() {
        group(&mut o, g, &sc, &mut y);
    }
    o.push_str("</svg>");
    o
}

fn group(o: &mut String, g: &Group, sc: &Scale, y: &mut u32) {
    let (a, b) = g
        .rows
        .iter()
        .flat_map(|r| &r.spans)
        .fold((u64::MAX, 0), |(a, b), s| {
            (a.min(s.start_ns), b.max(s.end_ns))
        });
    let (a, b) = if a > b {
        (0, 0)
    } else {
        (sc.rel(a), sc.rel(b))
    };
    let _ = write!(
        o,
        r#"<g class="group" id="g{}" data-sandbox="{}" data-name="{}">"#,
        g.sandbox,
        g.sandbox,
        esc(&g.name)
    );
    let _ = write!(
        o,
        r#"<rect class="band" x="0" y="{}" width="{WIDTH}" height="{GROUP_H}" data-a="{a}" data-b="{b}"><title>{} — click to zoom to it</title></rect><text class="group-name" x="6" y="{}">{}</text>"#,
        *y,
        esc(&g.name),
        *y + 15,
        esc(&g.name)
    );
    *y += GROUP_H;
    let top = *y;
    for (i, row) in g.rows.iter().enumerate() {
        draw_row(o, row, sc, top + i as u32 * ROW_H);
    }
    // Flows over the rows they join.
    o.push_str(r#"<g class="flows" clip-path="url(#plot)">"#);
    for f in &g.flows {
        let y1 = top + f.from.row as u32 * ROW_H + ROW_H / 2;
        let y2 = top + f.to.row as u32 * ROW_H + ROW_H / 2;
        let (x1, x2) = (sc.x(f.from.ts_ns), sc.x(f.to.ts_ns));
        let _ = write!(
            o,
            r#"<path class="flow" data-a="{}" data-b="{}" data-y1="{y1}" data-y2="{y2}" d="{}" marker-end="url(#arrow)"/>"#,
            sc.rel(f.from.ts_ns),
            sc.rel(f.to.ts_ns),
            flow_path(x1, y1, x2, y2)
        );
    }
    o.push_str("</g></g>");
    *y += g.rows.len() as u32 * ROW_H;
}

/// A gentle S from one row to another (the script draws the same shape).
fn flow_path(x1: f64, y1: u32, x2: f64, y2: u32) -> String {
    let mid = (f64::from(y1) + f64::from(y2)) / 2.0;
    format!("M{x1:.1},{y1} C{x1:.1},{mid:.1} {x2:.1},{mid:.1} {x2:.1},{y2}")
}

fn draw_row(o: &mut String, row: &Row, sc: &Scale, y: u32) {
    let kind = row.kind.name();
    let _ = write!(
        o,
        r#"<g class="row k-{kind}" data-kind="{kind}" data-name="{}"><rect class="stripe" x="0" y="{y}" width="{WIDTH}" height="{ROW_H}"/><text class="row-name" x="14" y="{}">{}<title>{}</title></text><g clip-path="url(#plot)">"#,
        esc(&row.name),
        y + 13,
        esc(&clip(&row.name, 48)),
        esc(&row.name)
    );
    for sp in &row.spans {
        let (x1, x2) = (sc.x(sp.start_ns), sc.x(sp.end_ns));
        let (by, bh) = if sp.depth == 0 {
            (y + 3, 12)
        } else {
            (y + 10, 5)
        };
        let open = if sp.open { " open" } else { "" };
        let _ = write!(
            o,
            r#"<rect class="span d{} k-{kind}{open}" data-kind="{kind}" data-a="{}" data-b="{}" x="{x1:.1}" y="{by}" width="{:.1}" height="{bh}" rx="2"><title>{}</title></rect>"#,
            sp.depth,
            sc.rel(sp.start_ns),
            sc.rel(sp.end_ns),
            (x2 - x1).max(2.0),
            title(&sp.name, &sp.detail)
        );
    }
    let my = y + ROW_H / 2;
    for m in &row.marks {
        let x = sc.x(m.ts_ns);
        let _ = write!(
            o,
            r#"<path class="mark" data-a="{}" data-y="{my}" transform="translate({x:.1},{my})" d="M0,-4 L4,0 L0,4 L-4,0 z"><title>{}</title></path>"#,
            sc.rel(m.ts_ns),
            title(&m.name, &m.detail)
        );
    }
    o.push_str("</g></g>");
}

/// At most `n` characters, with `…` when cut.
fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        return s.to_string();
    }
    let mut c: String = s.chars().take(n - 1).collect();
    c.push('…');
    c
}
