//! The page: self-contained, escaped, with a row per thing and the tables.

use super::*;
use crate::render::timeline::tests::sample_report;

#[test]
fn the_page_is_self_contained() {
    let p = page(&sample_report());
    assert!(p.starts_with("<!DOCTYPE html>"));
    assert!(p.contains("<svg id=\"timeline\""));
    assert!(p.trim_end().ends_with("</html>"));
    // Nothing is fetched: the only URL is the SVG namespace's name.
    let without_ns = p.replace("http://www.w3.org/2000/svg", "");
    for needle in ["http:", "https:", "src=", "<link", "@import", "url(http"] {
        assert!(!without_ns.contains(needle), "{needle} in the page");
    }
}

#[test]
fn rows_and_tables_name_the_pod() {
    let r = sample_report();
    let p = page(&r);
    let s = &r.sandboxes[0];
    assert!(p.contains(&format!("data-name=\"{}\"", esc(&s.label))));
    assert!(p.contains("data-kind=\"pause\" data-name=\"pause 711 /catatonit -P\""));
    assert_eq!(p.matches("<g class=\"row k-container\"").count(), 3);
    assert_eq!(p.matches("<g class=\"row k-exec\"").count(), 1);
    assert_eq!(p.matches("<path class=\"flow\"").count(), 4 + 3);
    assert_eq!(p.matches("<section class=\"sandbox\"").count(), 2);
    assert!(p.contains("<td>sleep 1000</td>"));
}

#[test]
fn hostile_strings_are_escaped() {
    let mut r = sample_report();
    let c = &mut r.sandboxes[0].containers[0];
    c.argv = vec!["<script>alert(1)</script>".into(), "\"'&\u{1b}[2J".into()];
    let p = page(&r);
    assert!(!p.contains("<script>alert"));
    assert!(p.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(p.contains("&quot;&#39;&amp;\\x1b[2J"));
    assert!(!p.contains('\u{1b}'));
    // One script: the page's own.
    assert_eq!(p.matches("<script>").count(), 1);
}

#[test]
fn spans_are_placed_by_time_across_the_plot() {
    let p = page(&sample_report());
    // The earliest span starts at the plot's left edge; one ends at its right.
    assert!(p.contains("data-a=\"0\" data-b="));
    let lefts: Vec<f64> = p
        .match_indices(" x=\"")
        .filter_map(|(i, _)| p[i + 4..].split('"').next()?.parse().ok())
        .collect();
    assert!(
        lefts.iter().any(|&x| x == f64::from(svg::LABEL_W)),
        "{lefts:?}"
    );
    assert!(
        lefts.iter().all(|&x| x <= f64::from(svg::WIDTH)),
        "{lefts:?}"
    );
}
