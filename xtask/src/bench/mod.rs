//! `cargo xtask bench`: what the tracer costs, side by side with no tracer,
//! with bpftrace on the same tracepoints, and with an `lsns`-style /proc
//! poller (the other way to answer the same questions).
//!
//! Every workload runs in rounds; within a round every configuration runs
//! once, in a fixed order (none, live, record, all, bpftrace, the pollers), so slow drift
//! of the machine hits them all alike. A tracer is started, awaited until
//! ready, the workload runs, the tracer gets SIGINT and is reaped with
//! `wait4` (CPU time; peak RSS from its VmHWM, polled); its stdout is piped
//! through us, counted and discarded but for the last lines (the final
//! `stats`). Workloads run on CPU 0, tracers on CPU 1. Then three single
//! passes: per-program BPF run times (`kernel.bpf_stats_enabled`), the
//! drop-counter proof (a small ring buffer and a stalled reader), and the
//! replay of a synthetic recording; and the pollers' coverage pass (which
//! namespaces the tracer saw made did a poller notice, how late).
//! Results: target/bench/bench.{md,json}.
//!
//! - `plan`: the configurations and workloads (data);
//! - `host`: CPUs, pinning, /proc readings, sysctls;
//! - `child`: child processes, their output and their end;
//! - `probe`: the tracer, bpftrace or a poller under measurement;
//! - `poller`: the /proc poller itself (`xtask bench-poller`);
//! - `workloads`, `podman`: what runs meanwhile;
//! - `passes`, `peer`: the single passes;
//! - `results`, `markdown`: medians and targets, and their two renderings.

mod child;
mod host;
mod markdown;
mod passes;
mod peer;
mod plan;
mod podman;
mod poller;
mod probe;
mod results;
mod workloads;

use std::fs;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use child::{check_interrupted, install_interrupt_handler};
use plan::{CONFIGS, Config, Kind, Probe, TRACER_CPU, WORKLOADS, Workload};
use probe::Launcher;
use results::{Meta, Outcome, Run, Summary};
use workloads::Runner;

pub use poller::run as poller;

/// Let the previous run's teardown (program detach, netns cleanup) finish.
const SETTLE: Duration = Duration::from_millis(150);

pub struct Options {
    pub quick: bool,
    /// Override the number of rounds.
    pub rounds: Option<usize>,
    /// Only these workloads (all when empty).
    pub only: Vec<String>,
    pub tracer: PathBuf,
    pub workload: PathBuf,
    /// A release build of this xtask, run as `bench-poller`.
    pub poller: PathBuf,
    pub out_dir: PathBuf,
}

pub fn run(opts: Options) -> Result<()> {
    if !crate::command::is_root() {
        bail!("the benchmark loads eBPF programs and makes namespaces: run it as root");
    }
    for (bin, build) in [
        (&opts.poller, "cargo build --release -p xtask"),
        (
            &opts.workload,
            "cargo build --release -p tracer-tests --bin bench-workload",
        ),
    ] {
        if !bin.exists() {
            bail!(
                "{} is missing: build it ({build}), or run without --no-build",
                bin.display()
            );
        }
    }
    install_interrupt_handler();
    let started = Instant::now();
    let pinned = host::cpu_count() >= 2;
    if pinned {
        // Threads made from here on (readers) and tracers inherit it.
        host::pin_self(&[TRACER_CPU]).context("pin the harness to CPU 1")?;
    }
    let foreign = host::foreign_tracers();
    if !foreign.is_empty() {
        eprintln!(
            "bench: warning: other tracers are running ({}): their programs slow every workload, the untraced baseline too; stop them for figures worth keeping",
            foreign.join(", ")
        );
    }
    let load_at_start = host::loadavg();
    fs::create_dir_all(&opts.out_dir)
        .with_context(|| format!("create {}", opts.out_dir.display()))?;
    let probes = Launcher::new(&opts.tracer, &opts.poller, &opts.out_dir)?;
    let mut bpftrace_missing = tool_missing("bpftrace", &["--version"]);
    let podman = podman::Podman::setup(&opts.out_dir).map_err(|e| format!("{e:#}"));
    let runner = Runner::new(opts.workload.clone(), pinned, podman);
    for why in [bpftrace_missing.as_ref(), runner.podman_missing()]
        .into_iter()
        .flatten()
    {
        eprintln!("bench: {why}");
    }

    let workloads: Vec<&Workload> = WORKLOADS
        .iter()
        .filter(|w| opts.only.is_empty() || opts.only.iter().any(|o| o == w.name))
        .collect();
    if workloads.is_empty() {
        bail!("no workload matches {:?}", opts.only);
    }
    let rounds = opts.rounds.unwrap_or(plan::default_rounds(opts.quick));
    let mut runs = Vec::new();
    for w in &workloads {
        if w.kind == Kind::Pods
            && let Some(why) = runner.podman_missing()
        {
            eprintln!("bench: skipping {}: {why}", w.name);
            continue;
        }
        let ops = w.ops(opts.quick);
        if w.kind == Kind::Bin {
            // Unmeasured: page cache, allocator and slab caches warm for round 0's `none`.
            runner
                .bin(w.name, ops)
                .with_context(|| format!("warm-up of {}", w.name))?;
        }
        for round in 0..rounds {
            for cfg in CONFIGS {
                if cfg.probe == Probe::Bpftrace && bpftrace_missing.is_some() {
                    continue;
                }
                if !cfg.runs_on(w) {
                    continue;
                }
                match measure(&probes, &runner, w, cfg, ops, round) {
                    Ok(run) => runs.push(run),
                    // bpftrace that fails to start is n/a, not the end of the bench.
                    Err(e) if cfg.probe == Probe::Bpftrace && e.is::<StartFailed>() => {
                        let why = format!("bpftrace failed to start ({e:#}): its column is n/a");
                        eprintln!("bench: {why}");
                        bpftrace_missing = Some(why);
                    }
                    Err(e) => return Err(e),
                }
            }
        }
    }
    let bpf_stats: Outcome<_> =
        passes::bpf_stats(&probes, &runner, opts.quick, bpftrace_missing.is_none()).into();
    let stall: Outcome<_> = passes::stall(&probes, &runner).into();
    let idle: Outcome<_> = passes::idle(&probes, if opts.quick { 2 } else { 5 }).into();
    let replay: Outcome<_> = passes::replay(&opts.tracer, &opts.out_dir).into();
    let names: Vec<&str> = workloads.iter().map(|w| w.name).collect();
    let peer: Outcome<_> = peer::pass(&probes, &runner, &opts.out_dir, opts.quick, &names).into();
    let cells = results::cells(&workloads, &runs, |w, cfg| match (cfg.probe, w.kind) {
        (_, Kind::Pods) if runner.podman_missing().is_some() => runner.podman_missing().cloned(),
        (Probe::Bpftrace, _) => bpftrace_missing.clone(),
        _ if !cfg.runs_on(w) => Some(format!("not run for {}", w.name)),
        _ => None,
    });
    let summary = Summary {
        meta: Meta {
            mode: if opts.quick { "quick" } else { "full" },
            rounds,
            elapsed_s: started.elapsed().as_secs_f64(),
            kernel: host::kernel_release(),
            cpus: host::cpu_count(),
            pinned,
            harness_peak_rss_mib: host::own_peak_rss_mib(),
            load: [load_at_start, host::loadavg()],
        },
        targets: results::targets(&cells, &bpf_stats, &stall, &replay),
        highest_clean_rate: results::highest_clean_rate(&cells),
        cells,
        peer,
        bpf_stats,
        stall,
        idle,
        replay,
        stray_processes: host::stray_tracers(probes.tracer_path()),
        runs,
    };
    markdown::write_outputs(&opts.out_dir, &summary)
}

/// `Some(reason)` when `tool` cannot be run.
fn tool_missing(tool: &str, args: &[&str]) -> Option<String> {
    match Command::new(tool).args(args).output() {
        Ok(o) if o.status.success() => None,
        Ok(o) => Some(format!("{tool} {} failed ({})", args.join(" "), o.status)),
        Err(e) => Some(format!("{tool} is not installed ({e}): its column is n/a")),
    }
}

/// The probe of a configuration did not start.
#[derive(Debug)]
struct StartFailed(anyhow::Error);

impl std::fmt::Display for StartFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#}", self.0)
    }
}

impl std::error::Error for StartFailed {}

/// One workload under one configuration.
fn measure(
    probes: &Launcher,
    runner: &Runner,
    w: &Workload,
    cfg: &Config,
    ops: u64,
    round: usize,
) -> Result<Run> {
    check_interrupted()?;
    std::thread::sleep(SETTLE);
    let foreign = host::foreign_tracers();
    let mut traced = probes.start(cfg).map_err(StartFailed)?;
    let sample = runner
        .run(w, ops, round)
        .with_context(|| format!("workload {} under {}", w.name, cfg.name))?;
    if let Some(t) = traced.as_mut() {
        t.quiesce();
    }
    let probe = traced.map(probe::Traced::finish).transpose()?;
    let run = Run {
        workload: w.name,
        config: cfg.name,
        round,
        ops: sample.ops,
        seconds: sample.seconds,
        ops_per_s: sample.ops as f64 / sample.seconds,
        probe,
        foreign,
    };
    eprintln!("bench: {}", run.progress_line());
    Ok(run)
}
