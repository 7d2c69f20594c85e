//! Per-run figures, their medians per workload × configuration, and the
//! issue's targets with what was measured.

use super::*;

// ---- results ------------------------------------------------------------------------

#[derive(Serialize)]
pub(super) struct Run {
    pub(super) workload: &'static str,
    pub(super) config: &'static str,
    pub(super) round: usize,
    pub(super) ops: u64,
    pub(super) seconds: f64,
    pub(super) ops_per_s: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) probe: Option<ProbeResult>,
    /// Other tracers (not ours) running when this run started.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) foreign: Vec<String>,
}

impl Run {
    pub(super) fn progress_line(&self) -> String {
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

pub(super) struct Extras {
    pub(super) bpf_stats: Result<Vec<BpfPass>, String>,
    pub(super) stall: Result<Stall, String>,
    pub(super) replay: Result<Replay, String>,
}

/// One workload × configuration over its rounds.
#[derive(Serialize)]
pub(super) struct Cell {
    pub(super) workload: &'static str,
    pub(super) config: &'static str,
    pub(super) rounds: usize,
    pub(super) ops: u64,
    pub(super) ops_per_s_median: f64,
    pub(super) ops_per_s_min: f64,
    pub(super) ops_per_s_max: f64,
    /// 100 × (1 − median over rounds of ops/s ÷ the same round's none).
    pub(super) slowdown_pct: Option<f64>,
    pub(super) events_per_op: Option<f64>,
    pub(super) expected_per_op: Option<f64>,
    pub(super) drops: Option<u64>,
    pub(super) cpu_ms_median: Option<f64>,
    pub(super) cpu_stop_ms_median: Option<f64>,
    pub(super) cpu_us_per_event: Option<f64>,
    pub(super) peak_rss_mib: Option<f64>,
    /// Largest steady-state RSS of the rounds (after the workload).
    pub(super) rss_mib: Option<f64>,
    /// Why the cell is empty.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) na: Option<String>,
}

pub(super) fn median(v: &mut [f64]) -> Option<f64> {
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
pub(super) const MIN_EVENTS_PER_EVENT_FIGURE: u64 = 500;

pub(super) fn cell(w: &Workload, cfg: &Config, runs: &[Run], na: Option<&String>) -> Cell {
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
    let mut cpu_per_event: Vec<f64> = probes
        .iter()
        .filter(|p| p.events >= MIN_EVENTS_PER_EVENT_FIGURE)
        .map(|p| p.cpu_ms * 1000.0 / p.events as f64)
        .collect();
    let expected = w.per_op.and_then(|(f, a, b)| match cfg.expect {
        Expect::Nothing => None,
        Expect::Filtered => Some(f),
        Expect::All => Some(a),
        Expect::Bpftrace => Some(b),
    });
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
        expected_per_op: expected,
        drops: has_probe.then(|| probes.iter().map(|p| p.drops).sum()),
        cpu_ms_median: median(&mut cpu),
        cpu_stop_ms_median: median(&mut cpu_stop),
        cpu_us_per_event: median(&mut cpu_per_event),
        peak_rss_mib: probes.iter().map(|p| p.peak_rss_mib).reduce(f64::max),
        rss_mib: probes.iter().filter_map(|p| p.rss_mib).reduce(f64::max),
        na: if mine.is_empty() { na.cloned() } else { None },
    }
}

#[derive(Serialize)]
pub(super) struct Target {
    pub(super) target: String,
    pub(super) measured: String,
    /// None: could not be measured.
    pub(super) ok: Option<bool>,
}

#[derive(Serialize)]
pub(super) struct Summary {
    pub(super) mode: &'static str,
    pub(super) rounds: usize,
    pub(super) elapsed_s: f64,
    pub(super) kernel: String,
    pub(super) cpus: usize,
    pub(super) pinned: bool,
    /// This harness's own peak RSS: `ru_maxrss` of a child is at least its
    /// parent's RSS at fork, so tracer figures below this would be ours.
    pub(super) harness_peak_rss_mib: f64,
    /// /proc/loadavg before and after.
    pub(super) load: [String; 2],
    pub(super) cells: Vec<Cell>,
    pub(super) targets: Vec<Target>,
    pub(super) bpf_stats: Value,
    pub(super) stall: Value,
    pub(super) replay: Value,
    pub(super) stray_processes: Vec<String>,
    pub(super) runs: Vec<Run>,
}

pub(super) fn to_json<T: Serialize>(r: &Result<T, String>) -> Value {
    match r {
        Ok(v) => serde_json::to_value(v).unwrap_or(Value::Null),
        Err(e) => serde_json::json!({ "error": e }),
    }
}

impl Summary {
    pub(super) fn new(
        ctx: &Ctx,
        workloads: &[&Workload],
        rounds: usize,
        runs: Vec<Run>,
        extras: Extras,
        elapsed: Duration,
        strays: Vec<String>,
    ) -> Summary {
        let mut cells = Vec::new();
        for w in workloads {
            for cfg in CONFIGS {
                let na = match (cfg.probe, w.kind) {
                    (_, Kind::Pods) if ctx.podman_missing.is_some() => ctx.podman_missing.as_ref(),
                    (Probe::Bpftrace, _) => ctx.bpftrace_missing.as_ref(),
                    _ => None,
                };
                cells.push(cell(w, cfg, &runs, na));
            }
        }
        let targets = targets(&cells, &extras);
        Summary {
            mode: if ctx.opts.quick { "quick" } else { "full" },
            rounds,
            elapsed_s: elapsed.as_secs_f64(),
            kernel: fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_string())
                .unwrap_or_default(),
            cpus: cpu_count(),
            pinned: ctx.pinned,
            harness_peak_rss_mib: own_peak_rss_mib(),
            load: [ctx.load_at_start.clone(), loadavg()],
            cells,
            targets,
            bpf_stats: to_json(&extras.bpf_stats),
            stall: to_json(&extras.stall),
            replay: to_json(&extras.replay),
            stray_processes: strays,
            runs,
        }
    }
}

pub(super) fn find<'a>(cells: &'a [Cell], w: &str, c: &str) -> Option<&'a Cell> {
    cells
        .iter()
        .find(|x| x.workload == w && x.config == c && x.rounds > 0)
}

/// The targets, each with what was measured.
pub(super) fn targets(cells: &[Cell], extras: &Extras) -> Vec<Target> {
    let mut t = Vec::new();
    for w in WORKLOADS.iter().filter(|w| w.storm) {
        for (cfg, limit) in [("live", 1.0), ("record", 1.0), ("all", 5.0)] {
            let c = find(cells, w.name, cfg).and_then(|c| c.slowdown_pct);
            t.push(Target {
                target: format!("{} slowdown with `{cfg}` ≤ {limit} %", w.name),
                measured: c.map_or("n/a".into(), |s| format!("{s:.1} %")),
                ok: c.map(|s| s <= limit),
            });
        }
    }
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
    t.push(match &extras.stall {
        Ok(s) => {
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
        Err(e) => Target {
            target: "stall run: drops counted".into(),
            measured: format!("n/a: {e}"),
            ok: None,
        },
    });
    t.push(match &extras.replay {
        Ok(r) => Target {
            target: "replay ≥ 1,000,000 events/s".into(),
            measured: format!("{:.0} events/s", r.events_per_s),
            ok: Some(r.events_per_s >= 1e6),
        },
        Err(e) => Target {
            target: "replay ≥ 1,000,000 events/s".into(),
            measured: format!("n/a: {e}"),
            ok: None,
        },
    });
    t
}
