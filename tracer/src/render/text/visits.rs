//! Visitors as text: the VISIT / VISIT-END line of a step, and the
//! report's visitors collapsed by command.

use std::collections::BTreeMap;

use super::dur;
use crate::clock::Clock;
use crate::report::{CniPhase, Durations, NsKind, VisitStep, VisitorRow};

fn kinds(k: &[NsKind]) -> String {
    k.iter().map(|k| k.name()).collect::<Vec<_>>().join(",")
}

/// `CNI ADD`, `CNI DEL (by time)`.
pub fn cni(c: &CniPhase) -> String {
    match c.from {
        "environ" => format!("CNI {}", c.command),
        from => format!("CNI {} (by {from})", c.command),
    }
}

/// What a visitor runs: its argv, else its comm.
fn command(comm: &str, argv: &[String]) -> String {
    if argv.is_empty() {
        comm.to_string()
    } else {
        argv.join(" ")
    }
}

fn outcome(exit: Option<i32>, how: Option<&str>) -> String {
    match (exit, how) {
        (Some(code), _) => format!("exit {code}"),
        (None, Some("exit")) => "its thread exited".into(),
        (None, Some(how)) => format!("went back by {how}"),
        (None, None) => "still inside".into(),
    }
}

/// The words of a `visit` step (`left`: of a `visit_left` step).
pub fn line(v: &VisitStep, left: bool) -> String {
    let mut t = format!("pid {} {}", v.task.pid, command(&v.task.comm, &v.argv));
    if v.tid != v.task.pid {
        t += &format!(" (thread {})", v.tid);
    }
    if let Some(c) = &v.cni {
        t += &format!("  [{}]", cni(c));
    }
    if left {
        t += &format!("  left: {}", outcome(v.exit, v.how));
    } else {
        t += &format!("  entered {}", kinds(&v.joined));
    }
    if let Some(d) = v.left_ns.and_then(|l| l.checked_sub(v.entered_ns)) {
        let what = if left { "after" } else { "for" };
        t += &format!(" {what} {}", dur(d));
        if !left {
            t += &format!(", {}", outcome(v.exit, v.how));
        }
    }
    t
}

/// One line of the collapsed table: every visit of one command and phase.
#[derive(Default)]
struct Group {
    n: usize,
    pids: Vec<u32>,
    joined: Vec<NsKind>,
    first: Option<u64>,
    last_left: Option<u64>,
    longest: Option<u64>,
    inside: usize,
}

/// The columns of [`rows`].
pub const HEADER: [&str; 8] = [
    "command", "n", "cni", "in", "first in", "last out", "longest", "pids",
];

/// The report's visitors, one row per command (and CNI phase).
pub fn rows(visitors: &[VisitorRow], not_listed: u64, clock: &Clock) -> Vec<Vec<String>> {
    let mut groups: BTreeMap<(String, String), Group> = BTreeMap::new();
    let mut order = Vec::new();
    for v in visitors {
        // A plugin's command line is its path, read or not: by its name.
        let name = match &v.cni {
            Some(_) => v.comm.clone(),
            None => command(&v.comm, &v.argv),
        };
        let key = (name, v.cni.as_ref().map(cni).unwrap_or_default());
        if !groups.contains_key(&key) {
            order.push(key.clone());
        }
        let g = groups.entry(key).or_default();
        g.n += 1;
        if !g.pids.contains(&v.pid) {
            g.pids.push(v.pid);
        }
        for k in &v.joined {
            if !g.joined.contains(k) {
                g.joined.push(*k);
            }
        }
        g.first = Some(g.first.map_or(v.entered_ns, |f| f.min(v.entered_ns)));
        match v.left_ns {
            Some(l) => {
                g.last_left = Some(g.last_left.map_or(l, |x| x.max(l)));
                let took = l.saturating_sub(v.entered_ns);
                g.longest = Some(g.longest.map_or(took, |x| x.max(took)));
            }
            None => g.inside += 1,
        }
    }
    let mut out = Vec::new();
    for key in order {
        let Some(g) = groups.get(&key) else { continue };
        let mut pids: Vec<String> = g.pids.iter().take(4).map(u32::to_string).collect();
        if g.pids.len() > 4 {
            pids.push(format!("+{}", g.pids.len() - 4));
        }
        let left = match (g.last_left, g.inside) {
            (_, n) if n > 0 => format!("{n} inside"),
            (Some(l), _) => clock.hms(l),
            (None, _) => "-".into(),
        };
        out.push(vec![
            key.0.clone(),
            g.n.to_string(),
            if key.1.is_empty() {
                "-".into()
            } else {
                key.1.clone()
            },
            kinds(&g.joined),
            g.first.map(|t| clock.hms(t)).unwrap_or_else(|| "-".into()),
            left,
            g.longest.map(dur).unwrap_or_else(|| "-".into()),
            pids.join(","),
        ]);
    }
    if not_listed > 0 {
        out.push(vec![
            format!("(and {not_listed} more, not listed)"),
            not_listed.to_string(),
        ]);
    }
    out
}

/// The start-up breakdown with its CNI phase (`namespaces +2ms CNI ADD
/// 35ms +40ms pause +20ms first join`) and the stop's CNI DEL, when
/// plugins were seen.
pub fn cni_lines(d: &Durations) -> Vec<(&'static str, String)> {
    let mut lines = Vec::new();
    if let Some(add) = d.cni_add_ns {
        let gap = |ns: Option<u64>| ns.map(|n| format!(" +{}", dur(n))).unwrap_or_default();
        let mut t = format!(
            "namespaces{} CNI ADD {}",
            gap(d.namespaces_to_cni_add_ns),
            dur(add)
        );
        if d.cni_add_to_pause_ns.is_some() {
            t += &format!("{} pause", gap(d.cni_add_to_pause_ns));
            if let Some(first) = d.pause_to_first_join_ns {
                t += &format!(" +{} first join", dur(first));
            }
        }
        lines.push(("start-up", t));
    }
    if let Some(del) = d.cni_del_ns {
        let when = match d.pause_exit_to_cni_del_ns {
            Some(n) if n >= 0 => format!(", began {} after the stop", dur(n.unsigned_abs())),
            Some(n) => format!(", began {} before the stop", dur(n.unsigned_abs())),
            None => String::new(),
        };
        lines.push(("stop", format!("CNI DEL {}{when}", dur(del))));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Task;

    fn row(pid: u32, comm: &str, entered: u64, left: Option<u64>, cni: Option<&str>) -> VisitorRow {
        VisitorRow {
            pid,
            tid: pid + 1,
            comm: comm.into(),
            argv: Vec::new(),
            joined: vec![NsKind::Net],
            entered_ns: entered,
            left_ns: left,
            exit: None,
            how: left.map(|_| "setns"),
            cni: cni.map(|c| CniPhase {
                command: c.into(),
                from: "time",
            }),
            existing: false,
        }
    }

    #[test]
    fn visitors_collapse_by_command_and_phase() {
        let clock = Clock {
            realtime_minus_boottime_ns: 0,
        };
        let rows = rows(
            &[
                row(10, "bridge", 1_000, Some(3_001_000), Some("ADD")),
                row(20, "loopback", 2_000, Some(2_500_000), Some("ADD")),
                row(30, "bridge", 5_000, Some(6_000_000), Some("ADD")),
                row(40, "bridge", 9_000_000, Some(9_500_000), Some("DEL")),
                row(50, "sleep", 10_000_000, None, None),
            ],
            2,
            &clock,
        );
        let firsts: Vec<(&str, &str, &str)> = rows
            .iter()
            .map(|r| {
                (
                    r[0].as_str(),
                    r[1].as_str(),
                    r.get(2).map_or("", String::as_str),
                )
            })
            .collect();
        assert_eq!(
            firsts,
            [
                ("bridge", "2", "CNI ADD (by time)"),
                ("loopback", "1", "CNI ADD (by time)"),
                ("bridge", "1", "CNI DEL (by time)"),
                ("sleep", "1", "-"),
                ("(and 2 more, not listed)", "2", ""),
            ]
        );
        assert_eq!(rows[0][6], "5ms", "the longest of the two");
        assert_eq!(rows[0][7], "10,30");
        assert_eq!(rows[3][5], "1 inside");
    }

    #[test]
    fn a_visit_line_says_who_where_and_how_long() {
        let mut v = VisitStep {
            task: Task::new(4000, "sleep"),
            tid: 4000,
            argv: vec!["sleep".into(), "2".into()],
            joined: vec![NsKind::Ipc, NsKind::Uts, NsKind::Net],
            entered_ns: 1_000,
            left_ns: None,
            exit: None,
            how: None,
            cni: None,
        };
        assert_eq!(line(&v, false), "pid 4000 sleep 2  entered ipc,uts,net");
        v.left_ns = Some(2_000_001_000);
        v.exit = Some(0);
        v.how = Some("exit");
        assert_eq!(line(&v, true), "pid 4000 sleep 2  left: exit 0 after 2.00s");
        let cni = VisitStep {
            task: Task::new(600, "bridge"),
            tid: 612,
            argv: Vec::new(),
            joined: vec![NsKind::Net],
            entered_ns: 0,
            left_ns: Some(3_000_000),
            exit: None,
            how: Some("setns"),
            cni: Some(CniPhase {
                command: "DEL".into(),
                from: "environ",
            }),
        };
        assert_eq!(
            line(&cni, false),
            "pid 600 bridge (thread 612)  [CNI DEL]  entered net for 3ms, went back by setns"
        );
    }
}
