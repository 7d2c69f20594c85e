//! A story as text: its steps as the live view printed them, then each
//! namespace's ledger and each sandbox as the report shows it.

use std::fmt::Write;

use super::report::{line, pin_table, sandbox, table};
use super::{step, visits};
use crate::clock::Clock;
use crate::report::Story;
use crate::report::story::NsStory;

fn namespace(o: &mut String, n: &NsStory, clock: &Clock) {
    let id = if n.id != 0 {
        format!(" (id {})", n.id)
    } else {
        String::new()
    };
    let _ = writeln!(o, "\nNamespace {} {}{id}", n.kind.name(), n.inum);
    let created = match &n.created {
        Some(c) => format!(
            "{} by {} {} ({})",
            clock.hms(c.ts_ns),
            c.pid,
            c.comm,
            c.syscall
        ),
        None if n.existing => "before the trace".into(),
        None => format!("not seen (first seen {})", clock.hms(n.first_seen_ns)),
    };
    line(o, "created", &created);
    let tasks = if n.tasks.is_empty() {
        "none".to_string()
    } else {
        n.tasks
            .iter()
            .map(|t| format!("{} {}", t.pid, t.comm))
            .collect::<Vec<_>>()
            .join(", ")
    };
    line(o, "tasks now", &tasks);
    if let Some(e) = n.emptied_ns {
        line(o, "emptied", &clock.hms(e));
    }
    pin_table(o, n.pins.iter().map(|p| (n.kind, p)), clock);
    if let Some(f) = n.freed_ns {
        line(o, "freed", &clock.hms(f));
    }
    if !n.sandboxes.is_empty() {
        let s: Vec<String> = n.sandboxes.iter().map(|s| format!("#{s}")).collect();
        line(o, "sandboxes", &s.join(", "));
    }
    if !n.visitors.is_empty() {
        let rows = visits::rows(&n.visitors, 0, clock);
        table(o, "visitors", &super::visits::HEADER, rows, &[1, 6]);
    }
    line(o, "verdict", &n.verdict);
}

/// The story as text, from its values alone.
pub fn text(s: &Story) -> String {
    let clock = &s.clock();
    let mut o = String::new();
    let _ = writeln!(
        o,
        "\n=== story: {} — {} namespace(s), {} sandbox(es) ===",
        s.selector,
        s.namespaces.len(),
        s.sandboxes.len()
    );
    if s.namespaces.is_empty() && s.sandboxes.is_empty() {
        let _ = writeln!(o, "nothing in the trace answers to {}", s.selector);
        return o;
    }
    if !s.steps.is_empty() {
        let _ = writeln!(o);
        for st in &s.steps {
            let _ = writeln!(o, "{}", step::line(st, clock));
        }
        if s.steps_not_kept > 0 {
            let _ = writeln!(o, "… and {} later steps not kept", s.steps_not_kept);
        }
    }
    for n in &s.namespaces {
        namespace(&mut o, n, clock);
    }
    for sb in &s.sandboxes {
        sandbox(&mut o, sb, clock);
    }
    o
}
