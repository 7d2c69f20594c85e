//! The coverage pass of the /proc poller: a workload under the tracer
//! (`--raw --json`, the ground truth: every namespace's creation with its
//! kernel time) and one poller at once. Which of the namespaces created
//! did the poller ever see, and how long after their creation?
//!
//! Matched by (kind, inode): inodes are reused once a namespace is freed,
//! so a notice goes to the latest unmatched creation of that inode before
//! it. Namespaces that existed before the poller's first walk are left out.

use std::collections::HashMap;
use std::fs::{self, File};
use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::SETTLE;
use super::child::check_interrupted;
use super::plan::{CONFIGS, PEER_WORKLOADS, Probe, WORKLOADS};
use super::poller::{KINDS, Notice};
use super::probe::Launcher;
use super::results::median;
use super::workloads::Runner;

/// One workload under the tracer and one poller.
#[derive(Serialize)]
pub struct PeerPass {
    pub workload: &'static str,
    pub config: &'static str,
    pub interval_ms: u64,
    pub ops: u64,
    /// Namespaces of the kinds the poller reads that the tracer saw made
    /// after the poller's first walk.
    pub created: u64,
    /// Of those, the ones the poller noticed.
    pub noticed: u64,
    pub created_net: u64,
    pub noticed_net: u64,
    pub coverage_pct: Option<f64>,
    pub coverage_net_pct: Option<f64>,
    /// From creation (tracer's `ts_ns`) to the end of the walk that found
    /// it (CLOCK_BOOTTIME both), over the noticed ones.
    pub late_ms_median: Option<f64>,
    pub late_ms_p90: Option<f64>,
    pub late_ms_max: Option<f64>,
    /// The same over the net namespaces only (a pod sandbox's identity).
    pub late_net_ms_median: Option<f64>,
    pub late_net_ms_max: Option<f64>,
    /// Poller notices of a new namespace the tracer saw no creation of (a
    /// process entered a namespace made earlier, e.g. pinned by a mount).
    pub unmatched_notices: u64,
    pub poller_cpu_ms: f64,
    pub tracer_cpu_ms: f64,
}

/// The poller configurations.
fn pollers() -> impl Iterator<Item = (&'static str, u64)> {
    CONFIGS.iter().filter_map(|c| match c.probe {
        Probe::Poller(ms) => Some((c.name, ms)),
        _ => None,
    })
}

/// Every PEER_WORKLOADS (of `selected`) under the tracer and each poller.
pub fn pass(
    probes: &Launcher,
    runner: &Runner,
    out_dir: &Path,
    quick: bool,
    selected: &[&str],
) -> Result<Vec<PeerPass>> {
    let mut passes = Vec::new();
    for &(name, full, quick_ops) in PEER_WORKLOADS {
        let Some(w) = WORKLOADS.iter().find(|w| w.name == name) else {
            continue;
        };
        if !selected.contains(&name) {
            continue;
        }
        if w.kind == super::plan::Kind::Pods && runner.podman_missing().is_some() {
            continue;
        }
        let ops = if quick { quick_ops } else { full };
        for (config, ms) in pollers() {
            check_interrupted()?;
            std::thread::sleep(SETTLE);
            let tracer_file = out_dir.join("peer-tracer.jsonl");
            let poller_file = out_dir.join("peer-poller.jsonl");
            let create =
                |p: &Path| File::create(p).with_context(|| format!("create {}", p.display()));
            let mut tracer = probes.tracer_teed(&["--raw", "--json"], create(&tracer_file)?)?;
            let mut poller = probes.poller(ms, Some(create(&poller_file)?))?;
            runner
                .run(w, ops, 0)
                .with_context(|| format!("workload {name} under the tracer and {config}"))?;
            poller.quiesce();
            tracer.quiesce();
            let p = poller.finish()?;
            let t = tracer.finish()?;
            let read =
                |p: &Path| fs::read_to_string(p).with_context(|| format!("read {}", p.display()));
            let creations = creations(&read(&tracer_file)?);
            let (since, notices) = notices(&read(&poller_file)?);
            let m = Matched::new(&creations, since, &notices);
            let pass = PeerPass {
                workload: name,
                config,
                interval_ms: ms,
                ops,
                created: m.created,
                noticed: m.noticed,
                created_net: m.created_net,
                noticed_net: m.noticed_net,
                coverage_pct: pct(m.noticed, m.created),
                coverage_net_pct: pct(m.noticed_net, m.created_net),
                late_ms_median: median(&mut m.late_ms.clone()),
                late_ms_p90: percentile(&m.late_ms, 0.9),
                late_ms_max: m.late_ms.iter().copied().reduce(f64::max),
                late_net_ms_median: median(&mut m.late_net_ms.clone()),
                late_net_ms_max: m.late_net_ms.iter().copied().reduce(f64::max),
                unmatched_notices: m.unmatched,
                poller_cpu_ms: p.cpu_ms,
                tracer_cpu_ms: t.cpu_ms,
            };
            eprintln!(
                "bench: peer {name} {config}: noticed {} of {} namespaces made (net {} of {}), late median {:?} ms",
                pass.noticed, pass.created, pass.noticed_net, pass.created_net, pass.late_ms_median
            );
            passes.push(pass);
        }
    }
    Ok(passes)
}

fn pct(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| 100.0 * part as f64 / whole as f64)
}

fn percentile(v: &[f64], q: f64) -> Option<f64> {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    let i = ((v.len() as f64 - 1.0) * q).round() as usize;
    v.get(i).copied()
}

/// A namespace the tracer saw made.
#[derive(Debug, PartialEq)]
struct Creation {
    kind: &'static str,
    inum: u64,
    ts_ns: u64,
}

/// The tracer's `event` lines, as far as creations go.
#[derive(Deserialize)]
struct Event {
    #[serde(default)]
    event: String,
    #[serde(default)]
    ts_ns: u64,
    #[serde(default)]
    ret: Option<i64>,
    #[serde(default)]
    changed: Vec<String>,
    #[serde(default)]
    ns: HashMap<String, u64>,
}

/// Namespaces of the poller's kinds made by a clone or an unshare that
/// succeeded (`changed`: what it made). A new pid namespace is made as
/// `pid_for_children` (by unshare, or by clone with the child's `pid`); the
/// poller sees it as `pid` of the tasks in it. A `changed` `pid` alone is a
/// fork into a pid namespace made before, not a creation.
fn creations(tracer_out: &str) -> Vec<Creation> {
    let mut out: Vec<Creation> = Vec::new();
    for line in tracer_out.lines() {
        if !line.contains(r#""type":"event""#) || !line.contains(r#""changed""#) {
            continue;
        }
        let Ok(e) = serde_json::from_str::<Event>(line) else {
            continue;
        };
        if !matches!(e.event.as_str(), "fork" | "unshare") || e.ret.is_some_and(|r| r != 0) {
            continue;
        }
        for name in e.changed.iter().filter(|n| *n != "pid") {
            let kind_name = if name == "pid_for_children" {
                "pid"
            } else {
                name
            };
            let (Some(kind), Some(&inum)) = (
                KINDS.iter().find(|k| **k == kind_name),
                e.ns.get(name.as_str()),
            ) else {
                continue;
            };
            let c = Creation {
                kind,
                inum,
                ts_ns: e.ts_ns,
            };
            if !out.contains(&c) {
                out.push(c);
            }
        }
    }
    out
}

/// The poller's first-walk time (its ready line) and its `new` notices.
fn notices(poller_out: &str) -> (u64, Vec<(String, u64, u64)>) {
    #[derive(Deserialize)]
    struct Ready {
        t_ns: u64,
    }
    let mut since = 0;
    let mut out = Vec::new();
    for line in poller_out.lines() {
        if line.contains(r#""type":"ready""#) {
            since = serde_json::from_str::<Ready>(line).map_or(0, |r| r.t_ns);
        } else if let Ok(Notice::New {
            kind, inum, t_ns, ..
        }) = serde_json::from_str(line)
        {
            out.push((kind, inum, t_ns));
        }
    }
    (since, out)
}

/// Creations against notices.
#[derive(Debug, Default)]
struct Matched {
    created: u64,
    noticed: u64,
    created_net: u64,
    noticed_net: u64,
    late_ms: Vec<f64>,
    late_net_ms: Vec<f64>,
    unmatched: u64,
}

impl Matched {
    fn new(creations: &[Creation], since: u64, notices: &[(String, u64, u64)]) -> Matched {
        let mut m = Matched::default();
        // (kind, inum) → creations (time, noticed), oldest first.
        let mut made: HashMap<(&str, u64), Vec<(u64, bool)>> = HashMap::new();
        for c in creations.iter().filter(|c| c.ts_ns >= since) {
            made.entry((c.kind, c.inum))
                .or_default()
                .push((c.ts_ns, false));
            m.created += 1;
            m.created_net += u64::from(c.kind == "net");
        }
        for v in made.values_mut() {
            v.sort_unstable();
        }
        let mut by_time: Vec<&(String, u64, u64)> = notices.iter().collect();
        by_time.sort_by_key(|n| n.2);
        for (kind, inum, t) in by_time {
            let hit = made
                .get_mut(&(kind.as_str(), *inum))
                .and_then(|v| v.iter_mut().rev().find(|(ts, seen)| *ts <= *t && !*seen));
            match hit {
                Some((ts, seen)) => {
                    *seen = true;
                    m.noticed += 1;
                    m.noticed_net += u64::from(kind == "net");
                    let late = (t - *ts) as f64 / 1e6;
                    m.late_ms.push(late);
                    if kind == "net" {
                        m.late_net_ms.push(late);
                    }
                }
                None => m.unmatched += 1,
            }
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creations_from_clone_and_unshare() {
        let out = r#"{"type":"ready"}
{"type":"event","event":"unshare","ts_ns":100,"ret":0,"changed":["net"],"ns":{"net":7,"uts":1}}
{"type":"event","event":"unshare","ts_ns":150,"ret":-1,"changed":["net"],"ns":{"net":9}}
{"type":"event","event":"fork","ts_ns":200,"changed":["pid","pid_for_children","uts"],"ns":{"pid":8,"pid_for_children":8,"uts":5}}
{"type":"event","event":"fork","ts_ns":250,"changed":["pid"],"ns":{"pid":8,"pid_for_children":8}}
{"type":"event","event":"exit","ts_ns":300,"ns":{"net":7}}
{"type":"event","event":"unshare","ts_ns":400,"ret":0,"changed":["time"],"ns":{"time":3}}"#;
        let c = creations(out);
        let got: Vec<(&str, u64, u64)> = c.iter().map(|c| (c.kind, c.inum, c.ts_ns)).collect();
        assert_eq!(got, vec![("net", 7, 100), ("pid", 8, 200), ("uts", 5, 200)]);
    }

    #[test]
    fn notices_go_to_the_latest_creation_of_a_reused_inode() {
        let made = [
            Creation {
                kind: "net",
                inum: 7,
                ts_ns: 5,
            },
            Creation {
                kind: "net",
                inum: 7,
                ts_ns: 1_000_000,
            },
            Creation {
                kind: "net",
                inum: 7,
                ts_ns: 5_000_000,
            },
            Creation {
                kind: "uts",
                inum: 9,
                ts_ns: 6_000_000,
            },
        ];
        let notices = vec![
            ("net".to_string(), 7, 3_000_000),
            ("net".to_string(), 8, 3_000_000),
        ];
        // The first creation came before the poller's first walk: not counted.
        let m = Matched::new(&made, 10, &notices);
        assert_eq!((m.created, m.noticed), (3, 1));
        assert_eq!((m.created_net, m.noticed_net), (2, 1));
        assert_eq!(m.late_ms, vec![2.0]);
        assert_eq!(m.late_net_ms, vec![2.0]);
        assert_eq!(m.unmatched, 1);
        assert_eq!(percentile(&[3.0, 1.0, 2.0], 0.9), Some(3.0));
    }

    #[test]
    fn poller_lines() {
        let out = r#"{"type":"ready","t_ns":42}
{"type":"new","kind":"net","inum":7,"t_ns":50,"pid":3,"comm":"x"}
{"type":"gone","kind":"net","inum":7,"t_ns":60}
{"type":"stats","final":true,"events":2}"#;
        assert_eq!(notices(out), (42, vec![("net".to_string(), 7, 50)]));
    }
}
