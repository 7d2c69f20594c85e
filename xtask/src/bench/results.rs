//! Per-run figures, their medians per workload × configuration, and the
//! targets with what was measured: the data bench.md and bench.json show.

use std::fmt::Write as _;

use serde::Serialize;

use super::passes::{BpfPass, FLOOR, Idle, Replay, Stall};
use super::peer::PeerPass;
use super::plan::{CONFIGS, Config, IDLE, Probe, WORKLOADS, Workload};
use super::probe::ProbeResult;

/// One workload under one configuration in one round.
#[derive(Serialize)]
pub struct Run {
    pub workload: &'static str,
    pub config: &'static str,
    pub round: usize,
    pub ops: u64,
    pub seconds: f64,
    pub ops_per_s: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probe: Option<ProbeResult>,
    /// Other tracers (not ours) running when this run started.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub foreign: Vec<String>,
}

impl Run {
    pub fn progress_line(&self) -> String {
        let mut s = format!(
            "{:<11} {:<8} round {}: {:>10.1} ops/s",
            self.workload, self.config, self.round, self.ops_per_s
        );
        if let Some(p) = &self.probe {
            let _ = write!(
                s,
                "  events {} drops {} cpu {:.1} ms rss {:.1} MiB",
                p.events, p.drops, p.cpu_ms, p.peak_rss_mib
            );
        }
        if !self.foreign.is_empty() {
            let _ = write!(s, "  (other tracers running: {})", self.foreign.join(", "));
        }
        s
    }
}

/// A single pass's result, or why it has none (`{"error": ...}` in JSON).
#[derive(Serialize)]
#[serde(untagged)]
pub enum Outcome<T> {
    Done(T),
    Failed { error: String },
}

impl<T> From<anyhow::Result<T>> for Outcome<T> {
    fn from(r: anyhow::Result<T>) -> Self {
        match r {
            Ok(v) => Outcome::Done(v),
            Err(e) => Outcome::Failed {
                error: format!("{e:#}"),
            },
        }
    }
}

/// One workload × configuration over its rounds.
#[derive(Serialize)]
pub struct Cell {
    pub workload: &'static str,
    pub config: &'static str,
    pub rounds: usize,
    pub ops: u64,
    pub ops_per_s_median: f64,
    pub ops_per_s_min: f64,
    pub ops_per_s_max: f64,
    /// 100 × (1 − median over rounds of ops/s ÷ the same round's none).
    pub slowdown_pct: Option<f64>,
    pub events_per_op: Option<f64>,
    pub expected_per_op: Option<f64>,
    pub drops: Option<u64>,
    pub cpu_ms_median: Option<f64>,
    pub cpu_stop_ms_median: Option<f64>,
    pub cpu_us_per_event: Option<f64>,
    pub peak_rss_mib: Option<f64>,
    /// Largest steady-state RSS of the rounds (after the workload).
    pub rss_mib: Option<f64>,
    /// A poller's walk of /proc, median over its walks' medians.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub walk_us_median: Option<f64>,
    /// Processes it walked (most of the rounds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub processes: Option<u64>,
    /// Why the cell is empty.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub na: Option<String>,
}

pub fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// Too few events for a per-event figure to mean anything.
pub const MIN_EVENTS_PER_EVENT_FIGURE: u64 = 500;

fn cell(w: &Workload, cfg: &Config, runs: &[Run], na: Option<String>) -> Cell {
    let mine: Vec<&Run> = runs
        .iter()
        .filter(|r| r.workload == w.name && r.config == cfg.name)
        .collect();
    let mut ops_s: Vec<f64> = mine.iter().map(|r| r.ops_per_s).collect();
    let mut ratios: Vec<f64> = mine
        .iter()
        .filter_map(|r| {
            let base = runs
                .iter()
                .find(|b| b.workload == w.name && b.config == "none" && b.round == r.round)?;
            Some(r.ops_per_s / base.ops_per_s)
        })
        .collect();
    let probes: Vec<&ProbeResult> = mine.iter().filter_map(|r| r.probe.as_ref()).collect();
    let has_probe = !probes.is_empty();
    let mut per_op: Vec<f64> = mine
        .iter()
        .filter_map(|r| Some(r.probe.as_ref()?.events as f64 / r.ops as f64))
        .collect();
    let mut cpu: Vec<f64> = probes.iter().map(|p| p.cpu_ms).collect();
    let mut cpu_stop: Vec<f64> = probes.iter().map(|p| p.cpu_stop_ms).collect();
    // A poller's notices are no events: its CPU goes to walking /proc.
    let is_poller = matches!(cfg.probe, Probe::Poller(_));
    let mut cpu_per_event: Vec<f64> = probes
        .iter()
        .filter(|p| !is_poller && p.events >= MIN_EVENTS_PER_EVENT_FIGURE)
        .map(|p| p.cpu_ms * 1000.0 / p.events as f64)
        .collect();
    Cell {
        workload: w.name,
        config: cfg.name,
        rounds: mine.len(),
        ops: mine.first().map_or(0, |r| r.ops),
        ops_per_s_median: median(&mut ops_s).unwrap_or(0.0),
        ops_per_s_min: ops_s.iter().copied().fold(f64::INFINITY, f64::min),
        ops_per_s_max: ops_s.iter().copied().fold(0.0, f64::max),
        slowdown_pct: if cfg.probe == Probe::None {
            None
        } else {
            median(&mut ratios).map(|m| (1.0 - m) * 100.0)
        },
        events_per_op: median(&mut per_op),
        expected_per_op: w.expected_per_op(cfg.expect),
        drops: has_probe.then(|| probes.iter().map(|p| p.drops).sum()),
        cpu_ms_median: median(&mut cpu),
        cpu_stop_ms_median: median(&mut cpu_stop),
        cpu_us_per_event: median(&mut cpu_per_event),
        peak_rss_mib: probes.iter().map(|p| p.peak_rss_mib).reduce(f64::max),
        rss_mib: probes.iter().filter_map(|p| p.rss_mib).reduce(f64::max),
        walk_us_median: median(
            &mut probes
                .iter()
                .filter_map(|p| Some(p.poller.as_ref()?.scan_us_median))
                .collect::<Vec<_>>(),
        ),
        processes: probes
            .iter()
            .filter_map(|p| Some(p.poller.as_ref()?.processes))
            .max(),
        na: if mine.is_empty() { na } else { None },
    }
}

/// A cell per workload × configuration; `na` says why one has no runs.
pub fn cells(
    workloads: &[&Workload],
    runs: &[Run],
    na: impl Fn(&Workload, &Config) -> Option<String>,
) -> Vec<Cell> {
    workloads
        .iter()
        .flat_map(|w| CONFIGS.iter().map(move |cfg| (w, cfg)))
        .map(|(w, cfg)| cell(w, cfg, runs, na(w, cfg)))
        .collect()
}

pub fn find<'a>(cells: &'a [Cell], w: &str, c: &str) -> Option<&'a Cell> {
    cells
        .iter()
        .find(|x| x.workload == w && x.config == c && x.rounds > 0)
}

#[derive(Serialize)]
pub struct Target {
    pub target: String,
    pub measured: String,
    /// None: could not be measured.
    pub ok: Option<bool>,
}

/// About the run as a whole.
#[derive(Serialize)]
pub struct Meta {
    pub mode: &'static str,
    pub rounds: usize,
    pub elapsed_s: f64,
    pub kernel: String,
    pub cpus: usize,
    pub pinned: bool,
    /// This harness's own peak RSS: `ru_maxrss` of a child is at least its
    /// parent's RSS at fork, so tracer figures below this would be ours.
    pub harness_peak_rss_mib: f64,
    /// /proc/loadavg before and after.
    pub load: [String; 2],
}

/// Everything bench.json holds.
#[derive(Serialize)]
pub struct Summary {
    #[serde(flatten)]
    pub meta: Meta,
    pub cells: Vec<Cell>,
    /// The pollers' coverage pass.
    pub peer: Outcome<Vec<PeerPass>>,
    /// The highest event rate the tracer took without a drop.
    pub highest_clean_rate: Option<CleanRate>,
    pub targets: Vec<Target>,
    pub bpf_stats: Outcome<Vec<BpfPass>>,
    pub stall: Outcome<Stall>,
    pub idle: Outcome<Idle>,
    pub replay: Outcome<Replay>,
    pub stray_processes: Vec<String>,
    pub runs: Vec<Run>,
}

/// The targets, each with what was measured.
pub fn targets(
    cells: &[Cell],
    bpf: &Outcome<Vec<BpfPass>>,
    stall: &Outcome<Stall>,
    replay: &Outcome<Replay>,
) -> Vec<Target> {
    let mut t = Vec::new();
    t.push(fork_exit_bpf_target(bpf));
    for w in WORKLOADS.iter().filter(|w| w.storm) {
        for (cfg, limit) in [("live", 1.0), ("record", 1.0), ("all", 5.0)] {
            let c = find(cells, w.name, cfg).and_then(|c| c.slowdown_pct);
            let measured = c.map_or("n/a".into(), |s| {
                match share_words(cells, bpf, w.name, cfg) {
                    Some(share) => format!("{s:.1} % ({share})"),
                    None => format!("{s:.1} %"),
                }
            });
            t.push(Target {
                target: format!("{} slowdown with `{cfg}` ≤ {limit} %", w.name),
                measured,
                ok: c.map(|s| s <= limit),
            });
        }
    }
    let storm = find(cells, "ns-churn", "live").and_then(|c| c.slowdown_pct);
    let floor = find(cells, "ns-churn", IDLE).and_then(|c| c.slowdown_pct);
    t.push(Target {
        target: "unshare+setns storm (ns-churn) slowdown with `live` ≤ 20 %".into(),
        measured: match (storm, floor) {
            (Some(s), Some(f)) => {
                let share = share_words(cells, bpf, "ns-churn", "live")
                    .map_or(String::new(), |w| format!("; {w}"));
                format!("{s:.1} % (its programs returning at once, `{IDLE}`: {f:.1} %{share})")
            }
            (Some(s), None) => format!("{s:.1} %"),
            _ => "n/a".into(),
        },
        ok: storm.map(|s| s <= 20.0),
    });
    let peak = cells
        .iter()
        .filter(|c| matches!(c.config, "live" | "record" | "all"))
        .filter_map(|c| Some((c, c.peak_rss_mib?)))
        .min_by(|a, b| a.1.total_cmp(&b.1));
    t.push(Target {
        target:
            "start-up peak RSS (VmHWM) ≤ 20 MiB (least of the tracer's runs: storms add their own)"
                .into(),
        measured: peak.map_or("n/a".into(), |(c, p)| {
            format!("{p:.1} MiB ({}/{})", c.workload, c.config)
        }),
        ok: peak.map(|(_, p)| p <= 20.0),
    });
    let drops: Vec<String> = cells
        .iter()
        .filter(|c| c.config != "bpftrace" && c.drops.unwrap_or(0) > 0)
        .map(|c| format!("{}/{}: {}", c.workload, c.config, c.drops.unwrap_or(0)))
        .collect();
    t.push(Target {
        target: "zero drops (tracer) outside the stall run".into(),
        measured: if drops.is_empty() {
            "0".into()
        } else {
            drops.join(", ")
        },
        ok: Some(drops.is_empty()),
    });
    t.push(match highest_clean_rate(cells) {
        Some(r) => Target {
            target: "drops: 0, at the highest event rate this machine reaches (tracer, median of rounds)"
                .into(),
            measured: format!(
                "{:.0} events/s without a drop ({}/`{}`: {:.0} ops/s × {:.2} events/op)",
                r.events_per_s, r.workload, r.config, r.ops_per_s, r.events_per_op
            ),
            ok: Some(drops.is_empty()),
        },
        None => Target {
            target: "drops: 0, at the highest event rate this machine reaches".into(),
            measured: "n/a: no tracer run without drops".into(),
            ok: None,
        },
    });
    let all_cpu: Vec<(&str, f64)> = cells
        .iter()
        .filter(|c| c.config == "all")
        .filter_map(|c| Some((c.workload, c.cpu_us_per_event?)))
        .collect();
    let worst = all_cpu.iter().map(|x| x.1).reduce(f64::max);
    t.push(Target {
        target: "userspace ≤ 1 µs CPU per event with `--all --raw --json` (worst workload)".into(),
        measured: all_cpu
            .iter()
            .map(|(w, v)| format!("{w} {v:.2}"))
            .collect::<Vec<_>>()
            .join(", "),
        ok: worst.map(|v| v <= 1.0),
    });
    let ratios: Vec<(&str, f64)> = cells
        .iter()
        .filter(|c| c.config == "all")
        .filter_map(|c| {
            let b = find(cells, c.workload, "bpftrace")?.cpu_us_per_event?;
            Some((c.workload, b / c.cpu_us_per_event?))
        })
        .collect();
    let least = ratios.iter().map(|x| x.1).reduce(f64::min);
    t.push(Target {
        target: "≥ 5× less CPU per event than bpftrace (`all` vs bpftrace, worst workload)".into(),
        measured: ratios
            .iter()
            .map(|(w, v)| format!("{w} {v:.1}×"))
            .collect::<Vec<_>>()
            .join(", "),
        ok: least.map(|v| v >= 5.0),
    });
    // Judged on the steady state (after the workload): the start-up peak,
    // while the kernel's BTF is parsed, is shown beside it in the tables.
    let mut rss: Vec<(&Cell, f64)> = cells
        .iter()
        .filter(|c| matches!(c.config, "live" | "record" | "all"))
        .filter_map(|c| Some((c, c.rss_mib?)))
        .collect();
    rss.sort_by(|a, b| b.1.total_cmp(&a.1));
    let least = rss.iter().map(|x| x.1).reduce(f64::min);
    t.push(Target {
        target: "tracer RSS ≤ 25 MiB after the workload (every run; start-up peak in the tables)"
            .into(),
        measured: match (rss.first(), least) {
            (Some((c, max)), Some(min)) => format!(
                "{max:.1} MiB ({}/{}); least {min:.1} MiB",
                c.workload, c.config
            ),
            _ => "n/a".into(),
        },
        ok: rss.first().map(|x| x.1 <= 25.0),
    });
    t.push(match stall {
        Outcome::Done(s) => {
            let sum = s.delivered + s.dropped;
            // Background tasks add a few events; none may be missing.
            let close = (sum as f64) >= s.expected as f64 * 0.98
                && (sum as f64) <= s.expected as f64 * 1.1 + 200.0;
            Target {
                target: "stall run: drops counted, delivered + dropped ≈ expected".into(),
                measured: format!(
                    "{} + {} = {sum} vs ≥ {}",
                    s.delivered, s.dropped, s.expected
                ),
                ok: Some(s.dropped > 0 && close),
            }
        }
        Outcome::Failed { error } => Target {
            target: "stall run: drops counted".into(),
            measured: format!("n/a: {error}"),
            ok: None,
        },
    });
    t.push(match replay {
        Outcome::Done(r) => Target {
            target: "replay ≥ 3,000,000 events/s".into(),
            measured: format!("{:.0} events/s", r.events_per_s),
            ok: Some(r.events_per_s >= 3e6),
        },
        Outcome::Failed { error } => Target {
            target: "replay ≥ 3,000,000 events/s".into(),
            measured: format!("n/a: {error}"),
            ok: None,
        },
    });
    t
}

/// The BPF programs' run time per op under `config` (the bpf_stats pass)
/// as a percentage of an op's untraced time (the `none` median): what the
/// programs themselves add, which a slowdown of a percent or two cannot
/// show through this VM's ±10 % from round to round.
fn bpf_share(
    cells: &[Cell],
    bpf: &Outcome<Vec<BpfPass>>,
    workload: &str,
    config: &str,
) -> Option<f64> {
    let Outcome::Done(passes) = bpf else {
        return None;
    };
    let pass = passes
        .iter()
        .find(|p| p.workload == workload && p.config == config)?;
    let none = find(cells, workload, "none")?.ops_per_s_median;
    (none > 0.0).then(|| 100.0 * pass.ns_per_op * none / 1e9)
}

/// [`bpf_share`] in the words of the Targets table.
fn share_words(
    cells: &[Cell],
    bpf: &Outcome<Vec<BpfPass>>,
    workload: &str,
    config: &str,
) -> Option<String> {
    bpf_share(cells, bpf, workload, config)
        .map(|b| format!("its BPF programs' own run time: {b:.2} % of an untraced op, bpf_stats"))
}

/// BPF time per fork+exit with the default filter: as bpf_stats counts
/// it, and above the floor (what any program costs per run there).
fn fork_exit_bpf_target(bpf: &Outcome<Vec<BpfPass>>) -> Target {
    let target = "BPF time per fork+exit, default filter (`live`, bpf_stats) ≤ 200 ns".to_string();
    let na = |why: &str| Target {
        target: target.clone(),
        measured: format!("n/a: {why}"),
        ok: None,
    };
    let Outcome::Done(passes) = bpf else {
        return na("no BPF pass");
    };
    let pass = |config| {
        passes
            .iter()
            .find(|p| p.workload == "fork-exit" && p.config == config)
    };
    let Some(live) = pass("live") else {
        return na("no fork-exit `live` pass");
    };
    let above = pass(FLOOR)
        .filter(|f| f.runs_per_op > 0.0)
        .map(|f| live.ns_per_op - live.runs_per_op * f.ns_per_op / f.runs_per_op);
    let idle = pass(IDLE).map(|i| i.ns_per_op);
    let mut measured = format!("{:.0} ns in {:.1} runs", live.ns_per_op, live.runs_per_op);
    if let Some(a) = above {
        measured += &format!("; {a:.0} ns above the floor of running any program there");
    }
    if let Some(i) = idle {
        measured += &format!("; its programs returning at once (`{IDLE}`): {i:.0} ns");
    }
    Target {
        target,
        measured,
        ok: Some(live.ns_per_op <= 200.0),
    }
}

/// The most events per second a tracer configuration delivered with no drop.
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct CleanRate {
    pub workload: &'static str,
    pub config: &'static str,
    pub ops_per_s: f64,
    pub events_per_op: f64,
    pub events_per_s: f64,
}

/// Over the tracer's cells without drops: events/op × ops/s (medians).
pub fn highest_clean_rate(cells: &[Cell]) -> Option<CleanRate> {
    let tracer: Vec<&str> = CONFIGS
        .iter()
        .filter(|c| c.probe == Probe::Tracer)
        .map(|c| c.name)
        .collect();
    cells
        .iter()
        .filter(|c| tracer.contains(&c.config) && c.drops == Some(0))
        .filter_map(|c| {
            let per_op = c.events_per_op?;
            Some(CleanRate {
                workload: c.workload,
                config: c.config,
                ops_per_s: c.ops_per_s_median,
                events_per_op: per_op,
                events_per_s: per_op * c.ops_per_s_median,
            })
        })
        .max_by(|a, b| a.events_per_s.total_cmp(&b.events_per_s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_even_and_odd() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0]), Some(2.5));
        assert_eq!(median(&mut []), None);
    }

    fn cell(workload: &'static str, config: &'static str, ops_per_s: f64) -> Cell {
        Cell {
            workload,
            config,
            rounds: 5,
            ops: 1000,
            ops_per_s_median: ops_per_s,
            ops_per_s_min: ops_per_s,
            ops_per_s_max: ops_per_s,
            slowdown_pct: None,
            events_per_op: None,
            expected_per_op: None,
            drops: None,
            cpu_ms_median: None,
            cpu_stop_ms_median: None,
            cpu_us_per_event: None,
            peak_rss_mib: None,
            rss_mib: None,
            walk_us_median: None,
            processes: None,
            na: None,
        }
    }

    #[test]
    fn the_bpf_share_is_the_programs_time_over_an_untraced_op() {
        // 10 000 ops/s untraced: 100 µs an op; 300 ns of BPF per op is 0.3 %.
        let cells = [cell("fork-exit", "none", 10_000.0)];
        let pass = |config| BpfPass {
            workload: "fork-exit",
            config,
            ops: 1000,
            runs_per_op: 3.0,
            ns_per_op: 300.0,
            programs: Vec::new(),
        };
        let bpf: Outcome<Vec<BpfPass>> = Ok(vec![pass("live")]).into();
        let share = bpf_share(&cells, &bpf, "fork-exit", "live");
        assert!(share.is_some_and(|s| (s - 0.3).abs() < 1e-9), "{share:?}");
        // No pass for that configuration, or no untraced runs: none.
        assert_eq!(bpf_share(&cells, &bpf, "fork-exit", "record"), None);
        assert_eq!(bpf_share(&cells, &bpf, "fork-exec", "live"), None);
        let failed: Outcome<Vec<BpfPass>> = Err(anyhow::anyhow!("no bpf_stats")).into();
        assert_eq!(bpf_share(&cells, &failed, "fork-exit", "live"), None);
    }

    #[test]
    fn a_failed_pass_is_an_error_object_in_json() {
        let failed: Outcome<Stall> = Err(anyhow::anyhow!("no tracer")).into();
        assert_eq!(
            serde_json::to_string(&failed).ok().as_deref(),
            Some(r#"{"error":"no tracer"}"#)
        );
        let done: Outcome<Vec<u8>> = Ok(vec![1]).into();
        assert_eq!(serde_json::to_string(&done).ok().as_deref(), Some("[1]"));
    }
}
