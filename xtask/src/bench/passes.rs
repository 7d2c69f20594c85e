//! Single passes beside the rounds: BPF run time per program, the
//! drop-counter proof, and the replay of a synthetic recording.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::Serialize;

use super::SETTLE;
use super::child::{Proc, check_interrupted};
use super::host::{
    ProgCounts, SysctlGuard, prog_counts, status_number, task_cpu_ns, unpin_command,
};
use super::plan::{
    BPF_STATS_CONFIGS, BPF_STATS_WORKLOADS, CONFIGS, Probe, REPLAY_EVENTS, REPLAY_LIVE,
    REPLAY_RUNS, REPLAY_SANDBOXES, STALL_MS, STALL_OPS, STALL_RING_KIB,
};
use super::probe::{Launcher, ProbeResult, ProgRow, Traced, final_stats};
use super::results::Outcome;
use super::workloads::Runner;

/// The BPF pass's configuration of programs that do nothing (bpftrace `{ }`).
pub const FLOOR: &str = "floor";

/// One workload under one configuration with `kernel.bpf_stats_enabled=1`.
#[derive(Serialize)]
pub struct BpfPass {
    pub workload: &'static str,
    pub config: &'static str,
    pub ops: u64,
    /// All programs together over the workload only (fdinfo before/after).
    pub runs_per_op: f64,
    pub ns_per_op: f64,
    /// The tracer's own per-program figures (final stats line, whole run;
    /// fdinfo by prog id when the line has none); empty for bpftrace.
    pub programs: Vec<ProgRow>,
}

/// BPF run time per program and per op: each BPF_STATS_WORKLOADS under
/// the tracer with and without the filter and under bpftrace, and the
/// floor: the same tracepoints with programs that do nothing.
pub fn bpf_stats(
    probes: &Launcher,
    runner: &Runner,
    quick: bool,
    with_bpftrace: bool,
) -> Result<Vec<BpfPass>> {
    check_interrupted()?;
    let _guard = SysctlGuard::set("/proc/sys/kernel/bpf_stats_enabled", "1")?;
    let mut passes = Vec::new();
    for &(workload, full, quick_ops) in BPF_STATS_WORKLOADS {
        let ops = if quick { quick_ops } else { full };
        for cfg in CONFIGS
            .iter()
            .filter(|c| BPF_STATS_CONFIGS.contains(&c.name))
            .filter(|c| with_bpftrace || c.probe != Probe::Bpftrace)
        {
            let Some(t) = probes.start(cfg)? else {
                continue;
            };
            let (pass, result, after) = measure(t, runner, workload, ops, cfg.name)?;
            let programs = match cfg.probe {
                Probe::Tracer => result.programs.unwrap_or_else(|| {
                    after
                        .iter()
                        .map(|p| {
                            ProgRow::new(format!("prog id {}", p.id), p.run_count, p.run_time_ns)
                        })
                        .collect()
                }),
                _ => Vec::new(),
            };
            passes.push(BpfPass { programs, ..pass });
        }
        if with_bpftrace {
            let (pass, ..) = measure(probes.floor()?, runner, workload, ops, FLOOR)?;
            passes.push(pass);
        }
    }
    eprintln!("bench: bpf_stats pass done");
    Ok(passes)
}

/// `workload` under `t`, once it settled: all its programs' runs and run
/// time per op over the workload only (no per-program rows), what it said
/// at its end, and its counters after the workload.
fn measure(
    mut t: Traced,
    runner: &Runner,
    workload: &'static str,
    ops: u64,
    config: &'static str,
) -> Result<(BpfPass, ProbeResult, Vec<ProgCounts>)> {
    std::thread::sleep(SETTLE);
    let before = prog_counts(t.pid())?;
    runner.bin(workload, ops)?;
    t.quiesce();
    let after = prog_counts(t.pid())?;
    let result = t.finish()?;
    let (runs, ns) = delta(&before, &after);
    let pass = BpfPass {
        workload,
        config,
        ops,
        runs_per_op: runs as f64 / ops as f64,
        ns_per_op: ns as f64 / ops as f64,
        programs: Vec::new(),
    };
    Ok((pass, result, after))
}

/// Runs and run time of every program between two readings.
fn delta(before: &[ProgCounts], after: &[ProgCounts]) -> (u64, u64) {
    after.iter().fold((0, 0), |(r, n), p| {
        let b = before.iter().find(|b| b.id == p.id);
        (
            r + p.run_count.saturating_sub(b.map_or(0, |b| b.run_count)),
            n + p.run_time_ns.saturating_sub(b.map_or(0, |b| b.run_time_ns)),
        )
    })
}

#[derive(Serialize)]
pub struct Stall {
    pub ops: u64,
    pub expected: u64,
    pub delivered: u64,
    pub dropped: u64,
}

/// fork-exec into a small ring whose reader sleeps first: drops must be
/// counted, and delivered + dropped must add up to what happened.
pub fn stall(probes: &Launcher, runner: &Runner) -> Result<Stall> {
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
    let mut t = probes.tracer(&args).context(
        "the tracer with --ring-kib and --debug-stall-ms (hidden flags; is this tracer too old?)",
    )?;
    // SIGINT during the stall would find no handler yet: stop after it.
    t.hold_until(Instant::now() + Duration::from_millis(STALL_MS + 1000));
    runner.bin("fork-exec", STALL_OPS)?;
    let r = t.finish()?;
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
pub struct Idle {
    pub seconds: f64,
    /// CPU per second of an idle `tracer --json` (every thread).
    pub cpu_ms_per_s: f64,
    /// Wakeups of its event loop per second (the main thread's voluntary
    /// context switches).
    pub wakeups_per_s: f64,
}

/// What `tracer --json` costs while nothing happens: the fixed cost a node
/// pays between pods (timer wakeups, the once-a-second counters).
pub fn idle(probes: &Launcher, seconds: u64) -> Result<Idle> {
    check_interrupted()?;
    let t = probes.tracer(&["--json"])?;
    let pid = t.pid();
    let switches = || status_number(&pid.to_string(), "voluntary_ctxt_switches:").unwrap_or(0);
    // Past its start-up work (the /proc walk, the first counters).
    std::thread::sleep(Duration::from_secs(1));
    let (cpu0, sw0, t0) = (task_cpu_ns(pid), switches(), Instant::now());
    std::thread::sleep(Duration::from_secs(seconds));
    let (cpu1, sw1, took) = (task_cpu_ns(pid), switches(), t0.elapsed().as_secs_f64());
    t.finish()?;
    let idle = Idle {
        seconds: took,
        cpu_ms_per_s: cpu1.saturating_sub(cpu0) as f64 / 1e6 / took,
        wakeups_per_s: sw1.saturating_sub(sw0) as f64 / took,
    };
    eprintln!(
        "bench: idle: {:.2} ms CPU/s, {:.1} wakeups/s",
        idle.cpu_ms_per_s, idle.wakeups_per_s
    );
    Ok(idle)
}

#[derive(Serialize)]
pub struct Replay {
    pub events: u64,
    pub sandboxes: u64,
    pub seconds: f64,
    pub events_per_s: f64,
    pub cpu_s: f64,
    pub peak_rss_mib: f64,
    pub file_mib: f64,
    /// Instructions per event replaying a tenth of the load under
    /// valgrind: unlike wall time, the same from run to run.
    pub instructions_per_event: Outcome<f64>,
}

/// `tracer bench-recording` writes a synthetic recording into `out_dir`;
/// `tracer report FILE --json` replays it.
pub fn replay(tracer: &Path, out_dir: &Path) -> Result<Replay> {
    check_interrupted()?;
    let file = out_dir.join("replay.trace");
    let file_s = file.to_string_lossy().into_owned();
    bench_recording(tracer, &file_s, 1)?;
    let file_mib = fs::metadata(&file)
        .map(|m| m.len() as f64 / (1 << 20) as f64)
        .unwrap_or(0.0);
    // On disk before it is read: writeback of the fresh file would compete
    // with the replay for the CPUs.
    fs::File::open(&file)
        .and_then(|f| f.sync_all())
        .with_context(|| format!("sync {}", file.display()))?;
    // The median of a few replays: one varies by ±10 % in this VM.
    let mut runs = Vec::new();
    for _ in 0..REPLAY_RUNS {
        runs.push(replay_once(tracer, &file_s)?);
    }
    runs.sort_by(|a, b| a.seconds.total_cmp(&b.seconds));
    let r = runs.swap_remove(runs.len() / 2);
    eprintln!(
        "bench: replay: {} events in {:.2} s (median of {REPLAY_RUNS})",
        r.events, r.seconds
    );
    let _ = fs::remove_file(&file);
    let instructions = replay_instructions(tracer, out_dir);
    if let Ok(per_event) = &instructions {
        eprintln!("bench: replay: {per_event:.0} instructions per event (valgrind)");
    }
    Ok(Replay {
        file_mib,
        instructions_per_event: instructions.into(),
        ..r
    })
}

/// `tracer bench-recording` of the replay's load divided by `part` into `file`.
fn bench_recording(tracer: &Path, file: &str, part: u64) -> Result<()> {
    crate::command::run(Command::new(tracer).args([
        "bench-recording",
        "-o",
        file,
        "--sandboxes",
        &(REPLAY_SANDBOXES / part).to_string(),
        "--events",
        &(REPLAY_EVENTS / part).to_string(),
        "--live",
        &(REPLAY_LIVE / part).to_string(),
    ]))
    .context("tracer bench-recording (a hidden command; is this tracer too old?)")
}

/// The replay's instructions per event, counted by valgrind (cachegrind
/// without its cache model) over a tenth of the load.
fn replay_instructions(tracer: &Path, out_dir: &Path) -> Result<f64> {
    check_interrupted()?;
    let file = out_dir.join("replay-small.trace");
    let file_s = file.to_string_lossy().into_owned();
    bench_recording(tracer, &file_s, 10)?;
    let mut cmd = Command::new("valgrind");
    cmd.args(["--tool=cachegrind", "--cache-sim=no"])
        .arg("--cachegrind-out-file=/dev/null")
        .arg(tracer)
        .args(["report", &file_s, "--json"])
        .stdin(Stdio::null());
    // As the timed replays run: with more than one CPU the frames are
    // read on a thread of their own (another code path, other counts).
    unpin_command(&mut cmd);
    let out = cmd.output();
    let _ = fs::remove_file(&file);
    let out = out.context("valgrind is not installed (Debian `valgrind`)")?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        let why = stderr.lines().last().unwrap_or_default();
        bail!("valgrind tracer report failed ({}): {why}", out.status);
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    let last: Vec<String> = lines[lines.len().saturating_sub(4)..]
        .iter()
        .map(|l| l.to_string())
        .collect();
    let events = final_stats(&last)?.events;
    let refs = cachegrind_refs(&stderr).context("no instruction count in valgrind's output")?;
    if events == 0 {
        bail!("the replay counted no events");
    }
    Ok(refs as f64 / events as f64)
}

/// The instructions executed, from cachegrind's summary
/// (`==123== I   refs:      697,373,593`).
fn cachegrind_refs(stderr: &str) -> Option<u64> {
    let line = stderr
        .lines()
        .find(|l| l.contains("I   refs:") || l.contains("I refs:"))?;
    let digits: String = line
        .rsplit(':')
        .next()?
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// One `tracer report FILE --json`.
fn replay_once(tracer: &Path, file: &str) -> Result<Replay> {
    check_interrupted()?;
    let mut cmd = Command::new(tracer);
    cmd.args(["report", file, "--json"]);
    // Every CPU, as a user runs it (not this harness's one): the replay
    // reads the file on one thread while another decodes and models.
    unpin_command(&mut cmd);
    let mut proc = Proc::spawn(cmd, "tracer report", |_| false)?;
    let ended = proc.wait_exit(Duration::from_secs(600))?;
    ended.check_success("tracer report")?;
    let events = final_stats(&ended.stdout.last_lines())
        .map(|s| s.events)
        .unwrap_or(REPLAY_EVENTS);
    let seconds = ended.wall.as_secs_f64();
    Ok(Replay {
        events,
        sandboxes: REPLAY_SANDBOXES,
        seconds,
        events_per_s: events as f64 / seconds,
        cpu_s: ended.cpu_ns as f64 / 1e9,
        peak_rss_mib: ended.peak_kib() as f64 / 1024.0,
        file_mib: 0.0,
        instructions_per_event: Outcome::Failed {
            error: "not counted".into(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::cachegrind_refs;

    #[test]
    fn the_instruction_count_is_read_from_cachegrinds_summary() {
        let stderr = "==25767== Cachegrind, a high-precision tracing profiler\n\
                      ==25767== Command: tracer report small.trace --json\n\
                      ==25767== \n\
                      ==25767== I   refs:      697,373,593\n";
        assert_eq!(cachegrind_refs(stderr), Some(697_373_593));
        assert_eq!(cachegrind_refs("==1== error: no such file\n"), None);
        assert_eq!(cachegrind_refs("==1== I   refs:\n"), None);
    }
}
