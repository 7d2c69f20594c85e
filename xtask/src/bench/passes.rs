//! Single passes: BPF run times per program, the drop-counter proof, the replay.

use super::*;

// ---- single passes -----------------------------------------------------------------

#[derive(Serialize, Clone)]
pub(super) struct ProgRow {
    pub(super) name: String,
    pub(super) run_count: u64,
    pub(super) run_time_ns: u64,
    pub(super) ns_per_run: f64,
}

/// One workload under one configuration with `kernel.bpf_stats_enabled=1`.
#[derive(Serialize)]
pub(super) struct BpfPass {
    pub(super) workload: &'static str,
    pub(super) config: &'static str,
    pub(super) ops: u64,
    /// All programs together over the workload only (fdinfo before/after).
    pub(super) runs_per_op: f64,
    pub(super) ns_per_op: f64,
    /// The tracer's own per-program figures (final stats line, whole run;
    /// fdinfo by prog id when the line has none); empty for bpftrace.
    pub(super) programs: Vec<ProgRow>,
}

/// The workloads of the BPF run-time pass: (name, ops full, ops quick).
pub(super) const BPF_STATS_WORKLOADS: &[(&str, u64, u64)] = &[
    ("fork-exit", 20_000, 3000),
    ("fork-exec", 3000, 600),
    ("ns-churn", 50_000, 20_000),
];

/// Restores `kernel.bpf_stats_enabled` when dropped.
pub(super) struct SysctlGuard {
    pub(super) path: &'static str,
    pub(super) old: String,
}

impl SysctlGuard {
    pub(super) fn set(path: &'static str, value: &str) -> Result<SysctlGuard> {
        let old = fs::read_to_string(path).with_context(|| format!("read {path}"))?;
        fs::write(path, value).with_context(|| format!("write {path}"))?;
        Ok(SysctlGuard {
            path,
            old: old.trim().to_string(),
        })
    }
}

impl Drop for SysctlGuard {
    fn drop(&mut self) {
        if let Err(e) = fs::write(self.path, &self.old) {
            eprintln!(
                "bench: could not restore {} to {}: {e}",
                self.path, self.old
            );
        }
    }
}

/// BPF run time per program and per op: fork-exec and ns-churn under the
/// tracer with and without the filter and under bpftrace.
pub(super) fn bpf_stats_pass(ctx: &Ctx) -> Result<Vec<BpfPass>> {
    check_interrupted()?;
    let _guard = SysctlGuard::set("/proc/sys/kernel/bpf_stats_enabled", "1")?;
    let mut passes = Vec::new();
    for &(workload, full, quick) in BPF_STATS_WORKLOADS {
        let ops = if ctx.opts.quick { quick } else { full };
        for cfg in CONFIGS
            .iter()
            .filter(|c| matches!(c.name, "live" | "all" | "bpftrace"))
        {
            if cfg.probe == Probe::Bpftrace && ctx.bpftrace_missing.is_some() {
                continue;
            }
            if let Some(t) = start_config(ctx, cfg)? {
                passes.push(bpf_pass(ctx, t, cfg, workload, ops)?);
            }
        }
    }
    eprintln!("bench: bpf_stats pass done");
    Ok(passes)
}

pub(super) fn bpf_pass(
    ctx: &Ctx,
    mut t: Traced,
    cfg: &Config,
    workload: &'static str,
    ops: u64,
) -> Result<BpfPass> {
    std::thread::sleep(SETTLE);
    let before = fdinfo_programs(t.proc.pid)?;
    run_bin_workload(ctx, workload, ops)?;
    t.quiesce();
    let after = fdinfo_programs(t.proc.pid)?;
    let result = t.finish(cfg.probe)?;
    let (runs, ns) = after.iter().fold((0, 0), |(r, n), p| {
        let b = before.iter().find(|b| b.name == p.name);
        (
            r + p.run_count.saturating_sub(b.map_or(0, |b| b.run_count)),
            n + p.run_time_ns.saturating_sub(b.map_or(0, |b| b.run_time_ns)),
        )
    });
    let programs = match cfg.probe {
        Probe::Tracer => result
            .programs
            .as_ref()
            .and_then(programs_from_stats)
            .unwrap_or(after),
        _ => Vec::new(),
    };
    Ok(BpfPass {
        workload,
        config: cfg.name,
        ops,
        runs_per_op: runs as f64 / ops as f64,
        ns_per_op: ns as f64 / ops as f64,
        programs,
    })
}

pub(super) fn prog_row(name: String, run_count: u64, run_time_ns: u64) -> ProgRow {
    ProgRow {
        name,
        run_count,
        run_time_ns,
        ns_per_run: if run_count > 0 {
            run_time_ns as f64 / run_count as f64
        } else {
            0.0
        },
    }
}

pub(super) fn programs_from_stats(v: &Value) -> Option<Vec<ProgRow>> {
    let rows: Vec<ProgRow> = v
        .as_array()?
        .iter()
        .filter_map(|p| {
            Some(prog_row(
                p["name"].as_str()?.to_string(),
                p["run_count"].as_u64()?,
                p["run_time_ns"].as_u64()?,
            ))
        })
        .collect();
    (!rows.is_empty()).then_some(rows)
}

/// BPF programs held by `pid`, from its fdinfo (named by prog id: fdinfo has no names).
pub(super) fn fdinfo_programs(pid: libc::pid_t) -> Result<Vec<ProgRow>> {
    let dir = format!("/proc/{pid}/fdinfo");
    let mut rows = Vec::new();
    for e in fs::read_dir(&dir)
        .with_context(|| format!("read {dir}"))?
        .flatten()
    {
        let Ok(text) = fs::read_to_string(e.path()) else {
            continue;
        };
        let field = |k: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(k))
                .map(|v| v.trim().to_string())
        };
        if let (Some(id), Some(cnt), Some(ns)) =
            (field("prog_id:"), field("run_cnt:"), field("run_time_ns:"))
        {
            rows.push(prog_row(
                format!("prog id {id}"),
                cnt.parse().unwrap_or(0),
                ns.parse().unwrap_or(0),
            ));
        }
    }
    Ok(rows)
}

#[derive(Serialize)]
pub(super) struct Stall {
    pub(super) ops: u64,
    pub(super) expected: u64,
    pub(super) delivered: u64,
    pub(super) dropped: u64,
}

/// fork-exec into a 64 KiB ring whose reader sleeps 3 s: drops must be
/// counted, and delivered + dropped must add up to what happened.
pub(super) fn stall_pass(ctx: &Ctx) -> Result<Stall> {
    check_interrupted()?;
    let ring = STALL_RING_KIB.to_string();
    let stall = STALL_MS.to_string();
    let args = [
        "--all",
        "--raw",
        "--json",
        "--ring-kib",
        &ring,
        "--debug-stall-ms",
        &stall,
    ];
    let mut t = start_tracer(ctx, &args).context(
        "the tracer with --ring-kib and --debug-stall-ms (hidden flags; is this tracer too old?)",
    )?;
    // SIGINT during the stall would find no handler yet: stop after it.
    t.stop_not_before = Some(Instant::now() + Duration::from_millis(STALL_MS + 1000));
    run_bin_workload(ctx, "fork-exec", STALL_OPS)?;
    let r = t.finish(Probe::Tracer)?;
    eprintln!(
        "bench: stall pass: {} delivered, {} dropped",
        r.events, r.drops
    );
    Ok(Stall {
        ops: STALL_OPS,
        expected: 3 * STALL_OPS,
        delivered: r.events,
        dropped: r.drops,
    })
}

#[derive(Serialize)]
pub(super) struct Replay {
    pub(super) events: u64,
    pub(super) sandboxes: u64,
    pub(super) seconds: f64,
    pub(super) events_per_s: f64,
    pub(super) cpu_s: f64,
    pub(super) peak_rss_mib: f64,
    pub(super) file_mib: f64,
}

/// `tracer bench-recording` writes a synthetic recording; `tracer report
/// FILE --json` replays it.
pub(super) fn replay_pass(ctx: &Ctx) -> Result<Replay> {
    check_interrupted()?;
    let file = ctx.opts.out_dir.join("replay.trace");
    let file_s = file.to_string_lossy().into_owned();
    let (sandboxes, events) = (REPLAY_SANDBOXES.to_string(), REPLAY_EVENTS.to_string());
    crate::run(Command::new(&ctx.opts.tracer).args([
        "bench-recording",
        "-o",
        &file_s,
        "--sandboxes",
        &sandboxes,
        "--events",
        &events,
        "--live",
        &REPLAY_LIVE.to_string(),
    ]))
    .context("tracer bench-recording (a hidden command; is this tracer too old?)")?;
    let file_mib = fs::metadata(&file)
        .map(|m| m.len() as f64 / (1 << 20) as f64)
        .unwrap_or(0.0);
    let mut cmd = Command::new(&ctx.opts.tracer);
    cmd.args(["report", &file_s, "--json"]);
    let mut proc = Proc::spawn(cmd, "tracer report", |_| false)?;
    let ended = proc.wait_exit(Duration::from_secs(600))?;
    ended.check_success("tracer report")?;
    let events = final_stats(&ended.stdout.last_lines())
        .map(|s| s.0)
        .unwrap_or(REPLAY_EVENTS);
    let seconds = ended.wall.as_secs_f64();
    eprintln!("bench: replay: {events} events in {seconds:.2} s");
    Ok(Replay {
        events,
        sandboxes: REPLAY_SANDBOXES,
        seconds,
        events_per_s: events as f64 / seconds,
        cpu_s: ended.cpu_ns as f64 / 1e9,
        peak_rss_mib: ended.peak_kib() as f64 / 1024.0,
        file_mib,
    })
}
