//! `cargo xtask bench`: what the tracer costs, side by side with no tracer
//! and with bpftrace on the same tracepoints.
//!
//! Every workload runs in rounds; within a round every configuration runs
//! once, in a fixed order (none, live, record, all, bpftrace), so slow drift
//! of the machine hits them all alike. A tracer is started, awaited until
//! ready, the workload runs, the tracer gets SIGINT and is reaped with
//! `wait4` (CPU time; peak RSS from its VmHWM, polled); its stdout is piped
//! through us, counted and discarded but for the last lines (the final
//! `stats`). Workloads run on CPU 0, tracers on CPU 1. Then three single
//! passes: per-program BPF run times (`kernel.bpf_stats_enabled`), the
//! drop-counter proof (a small ring buffer and a stalled reader), and the
//! replay of a synthetic recording. Results: target/bench/bench.{md,json}.

use std::fmt::Write as _;
use std::fs;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::Serialize;
use serde_json::Value;

// ---- what is measured --------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize)]
#[serde(rename_all = "lowercase")]
enum Probe {
    None,
    Tracer,
    Bpftrace,
}

/// Which expected event count applies to a configuration.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Expect {
    Nothing,
    Filtered,
    All,
    Bpftrace,
}

struct Config {
    name: &'static str,
    probe: Probe,
    /// Tracer arguments; `{rec}` stands for the recording's path.
    args: &'static [&'static str],
    expect: Expect,
    what: &'static str,
}

const CONFIGS: &[Config] = &[
    Config {
        name: "none",
        probe: Probe::None,
        args: &[],
        expect: Expect::Nothing,
        what: "no tracer",
    },
    Config {
        name: "live",
        probe: Probe::Tracer,
        args: &["--json"],
        expect: Expect::Filtered,
        what: "`tracer --json` (pod view, in-kernel filter on)",
    },
    Config {
        name: "record",
        probe: Probe::Tracer,
        args: &["record", "-o", "{rec}", "--quiet"],
        expect: Expect::Filtered,
        what: "`tracer record -o FILE --quiet`",
    },
    Config {
        name: "all",
        probe: Probe::Tracer,
        args: &["--all", "--raw", "--json"],
        expect: Expect::All,
        what: "`tracer --all --raw --json` (filter off, every event as JSON)",
    },
    Config {
        name: "bpftrace",
        probe: Probe::Bpftrace,
        args: &[],
        expect: Expect::Bpftrace,
        what: "bpftrace on the same tracepoints, printf of comparable fields",
    },
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `bench-workload NAME N`.
    Bin,
    /// Podman pods, driven from here.
    Pods,
}

struct Workload {
    name: &'static str,
    kind: Kind,
    ops_full: u64,
    ops_quick: u64,
    /// Events per op: (tracer with the filter, tracer with --all, bpftrace lines).
    per_op: Option<(f64, f64, f64)>,
    /// A fork storm, with slowdown targets.
    storm: bool,
}

const WORKLOADS: &[Workload] = &[
    Workload {
        name: "fork-exit",
        kind: Kind::Bin,
        ops_full: 20_000,
        ops_quick: 3_000,
        per_op: Some((0.0, 2.0, 3.0)),
        storm: true,
    },
    Workload {
        name: "fork-exec",
        kind: Kind::Bin,
        ops_full: 3_000,
        ops_quick: 600,
        per_op: Some((0.0, 3.0, 4.0)),
        storm: true,
    },
    Workload {
        name: "ns-churn",
        kind: Kind::Bin,
        ops_full: 300_000,
        ops_quick: 100_000,
        per_op: Some((2.0, 2.0, 2.0)),
        storm: false,
    },
    Workload {
        name: "netns-churn",
        kind: Kind::Bin,
        ops_full: 3_000,
        ops_quick: 600,
        per_op: Some((2.0, 3.0, 4.0)),
        storm: false,
    },
    Workload {
        name: "pods",
        kind: Kind::Pods,
        ops_full: 3,
        ops_quick: 1,
        per_op: None,
        storm: false,
    },
];

/// The bpftrace peer: the tracer's tracepoints, syscalls paired per thread
/// as the tracer does, one printf per event with pid, tid, comm, flags/ret
/// and five namespace inodes. `bench-ready` comes once every probe is attached.
const BPFTRACE_SCRIPT: &str = r#"BEGIN { printf("bench-ready\n"); }
tracepoint:syscalls:sys_enter_clone { @flags[tid] = args->clone_flags; @inflight[tid] = 1; }
tracepoint:syscalls:sys_enter_clone3 { @flags[tid] = *uptr((uint64 *)args->uargs); @inflight[tid] = 1; }
tracepoint:syscalls:sys_enter_unshare { @flags[tid] = args->unshare_flags; @inflight[tid] = 1; }
tracepoint:syscalls:sys_enter_setns { @flags[tid] = args->flags; @fd[tid] = args->fd; @inflight[tid] = 1; }
tracepoint:syscalls:sys_exit_clone, tracepoint:syscalls:sys_exit_clone3,
tracepoint:syscalls:sys_exit_unshare, tracepoint:syscalls:sys_exit_setns /@inflight[tid]/ {
  printf("%s pid=%d tid=%d comm=%s flags=%lx fd=%d ret=%ld net=%u uts=%u ipc=%u mnt=%u pidc=%u\n",
    probe, pid, tid, comm, @flags[tid], @fd[tid], args->ret,
    curtask->nsproxy->net_ns->ns.inum, curtask->nsproxy->uts_ns->ns.inum, curtask->nsproxy->ipc_ns->ns.inum,
    curtask->nsproxy->mnt_ns->ns.inum, curtask->nsproxy->pid_ns_for_children->ns.inum);
  delete(@flags[tid]); delete(@fd[tid]); delete(@inflight[tid]);
}
tracepoint:sched:sched_process_fork {
  printf("fork pid=%d tid=%d comm=%s child=%d net=%u uts=%u ipc=%u mnt=%u pidc=%u\n", pid, tid, comm, args->child_pid,
    curtask->nsproxy->net_ns->ns.inum, curtask->nsproxy->uts_ns->ns.inum, curtask->nsproxy->ipc_ns->ns.inum,
    curtask->nsproxy->mnt_ns->ns.inum, curtask->nsproxy->pid_ns_for_children->ns.inum);
}
tracepoint:sched:sched_process_exec {
  printf("exec pid=%d tid=%d comm=%s file=%s old=%d net=%u uts=%u ipc=%u mnt=%u pidc=%u\n", pid, tid, comm,
    str(args->filename), args->old_pid,
    curtask->nsproxy->net_ns->ns.inum, curtask->nsproxy->uts_ns->ns.inum, curtask->nsproxy->ipc_ns->ns.inum,
    curtask->nsproxy->mnt_ns->ns.inum, curtask->nsproxy->pid_ns_for_children->ns.inum);
}
tracepoint:sched:sched_process_exit {
  printf("exit pid=%d tid=%d comm=%s code=%d group_dead=%d net=%u uts=%u ipc=%u mnt=%u pidc=%u\n", pid, tid, comm,
    curtask->exit_code, args->group_dead,
    curtask->nsproxy->net_ns->ns.inum, curtask->nsproxy->uts_ns->ns.inum, curtask->nsproxy->ipc_ns->ns.inum,
    curtask->nsproxy->mnt_ns->ns.inum, curtask->nsproxy->pid_ns_for_children->ns.inum);
}
END { clear(@flags); clear(@fd); clear(@inflight); }
"#;
/// Lines bpftrace prints that are no events: "Attaching N probes...", "bench-ready".
const BPFTRACE_PREAMBLE_LINES: u64 = 2;

const PODMAN_IMAGE: &str = "localhost/tracer-tests-busybox";
const BUSYBOX: &str = "/bin/busybox";
const CONTAINERS_CONF: &str = "# Written by cargo xtask bench (this machine's podman quirks).
[containers]
default_ulimits = [\"nofile=1024:1024\", \"nproc=4096:4096\"]

[engine]
cgroup_manager = \"cgroupfs\"
events_logger = \"file\"
";

/// The drop-counter proof: a 64 KiB ring, a reader asleep for 3 s.
const STALL_RING_KIB: u64 = 64;
const STALL_MS: u64 = 3000;
const STALL_OPS: u64 = 1500;
/// The replay benchmark's synthetic recording.
const REPLAY_SANDBOXES: u64 = 10_000;
const REPLAY_EVENTS: u64 = 1_000_000;
const REPLAY_LIVE: u64 = 1_000;

pub struct Options {
    pub quick: bool,
    /// Override the number of rounds.
    pub rounds: Option<usize>,
    /// Only these workloads (all when empty).
    pub only: Vec<String>,
    pub tracer: PathBuf,
    pub workload: PathBuf,
    pub out_dir: PathBuf,
}

// ---- the run -------------------------------------------------------------------

/// With 2+ CPUs, CPU 0 runs the workloads and CPU 1 the tracers and this
/// harness. Unpinned, a fork's child lands on the idle vCPU and waking it
/// costs more than any tracer: runs with a busy tracer came out *faster*
/// than without, by up to 25 %, and spread ±12 % (pinned: ±4 %).
const WORKLOAD_CPU: usize = 0;
const TRACER_CPU: usize = 1;

/// CPUs online (not our affinity, which pinning narrows).
fn cpu_count() -> usize {
    // SAFETY: no pointers.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    usize::try_from(n).unwrap_or(1).max(1)
}

fn cpu_set(cpus: &[usize]) -> libc::cpu_set_t {
    // SAFETY: cpu_set_t is plain bits; CPU_SET stays within it for these small numbers.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for &c in cpus {
            libc::CPU_SET(c, &mut set);
        }
        set
    }
}

fn set_affinity(set: &libc::cpu_set_t) -> std::io::Result<()> {
    // SAFETY: a valid set of the size given, for this thread/process.
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), set) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Run `cmd` on these CPUs (set between fork and exec).
fn pin_command(cmd: &mut Command, cpus: &[usize]) {
    let set = cpu_set(cpus);
    // SAFETY: sched_setaffinity is async-signal-safe.
    unsafe {
        cmd.pre_exec(move || set_affinity(&set));
    }
}

/// What the bench needs wherever it is.
struct Ctx {
    opts: Options,
    podman_conf: PathBuf,
    recording: PathBuf,
    bpftrace_script: PathBuf,
    /// Why the bpftrace column is n/a, once it is.
    bpftrace_missing: Option<String>,
    podman_missing: Option<String>,
    /// Workloads on CPU 0, tracers on CPU 1.
    pinned: bool,
    load_at_start: String,
}

fn own_peak_rss_mib() -> f64 {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let kib = s.lines().find_map(|l| l.strip_prefix("VmHWM:"))?;
            kib.trim().trim_end_matches("kB").trim().parse::<f64>().ok()
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

fn loadavg() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

pub fn run(opts: Options) -> Result<()> {
    if unsafe { libc::geteuid() } != 0 {
        bail!("the benchmark loads eBPF programs and makes namespaces: run it as root");
    }
    install_interrupt_handler();
    let started = Instant::now();
    let pinned = cpu_count() >= 2;
    if pinned {
        // Threads made from here on (readers) and tracers inherit it.
        set_affinity(&cpu_set(&[TRACER_CPU])).context("pin the harness to CPU 1")?;
    }
    fs::create_dir_all(&opts.out_dir)
        .with_context(|| format!("create {}", opts.out_dir.display()))?;
    let mut ctx = Ctx {
        podman_conf: opts.out_dir.join("containers.conf"),
        recording: opts.out_dir.join("bench.trace"),
        bpftrace_script: opts.out_dir.join("bench.bt"),
        bpftrace_missing: None,
        podman_missing: None,
        pinned,
        load_at_start: loadavg(),
        opts,
    };
    fs::write(&ctx.bpftrace_script, BPFTRACE_SCRIPT).context("write the bpftrace script")?;
    ctx.bpftrace_missing = check_tool("bpftrace", &["--version"]);
    ctx.podman_missing = setup_podman(&ctx).err().map(|e| format!("{e:#}"));
    for why in [&ctx.bpftrace_missing, &ctx.podman_missing]
        .into_iter()
        .flatten()
    {
        eprintln!("bench: {why}");
    }

    let workloads: Vec<&Workload> = WORKLOADS
        .iter()
        .filter(|w| ctx.opts.only.is_empty() || ctx.opts.only.iter().any(|o| o == w.name))
        .collect();
    if workloads.is_empty() {
        bail!("no workload matches {:?}", ctx.opts.only);
    }
    let rounds = ctx
        .opts
        .rounds
        .unwrap_or(if ctx.opts.quick { 3 } else { 5 });
    let mut runs = Vec::new();
    for w in &workloads {
        if w.kind == Kind::Pods
            && let Some(why) = &ctx.podman_missing
        {
            eprintln!("bench: skipping {}: {why}", w.name);
            continue;
        }
        if w.kind == Kind::Bin {
            // Unmeasured: page cache, allocator and slab caches warm for round 0's `none`.
            let ops = if ctx.opts.quick {
                w.ops_quick
            } else {
                w.ops_full
            };
            run_bin_workload(&ctx, w.name, ops)
                .with_context(|| format!("warm-up of {}", w.name))?;
        }
        for round in 0..rounds {
            for cfg in CONFIGS {
                if let Some(r) = measure(&mut ctx, w, cfg, round)? {
                    runs.push(r);
                }
            }
        }
    }
    let extras = Extras {
        bpf_stats: bpf_stats_pass(&ctx).map_err(|e| format!("{e:#}")),
        stall: stall_pass(&ctx).map_err(|e| format!("{e:#}")),
        replay: replay_pass(&ctx).map_err(|e| format!("{e:#}")),
    };
    let strays = stray_tracers(&ctx.opts.tracer);
    let summary = Summary::new(
        &ctx,
        &workloads,
        rounds,
        runs,
        extras,
        started.elapsed(),
        strays,
    );
    write_outputs(&ctx, &summary)
}

/// `Some(reason)` when `tool` cannot be run.
fn check_tool(tool: &str, args: &[&str]) -> Option<String> {
    match Command::new(tool).args(args).output() {
        Ok(o) if o.status.success() => None,
        Ok(o) => Some(format!("{tool} {} failed ({})", args.join(" "), o.status)),
        Err(e) => Some(format!("{tool} is not installed ({e}): its column is n/a")),
    }
}

/// One workload under one configuration: `None` when the configuration is n/a.
fn measure(ctx: &mut Ctx, w: &Workload, cfg: &Config, round: usize) -> Result<Option<Run>> {
    check_interrupted()?;
    if cfg.probe == Probe::Bpftrace && ctx.bpftrace_missing.is_some() {
        return Ok(None);
    }
    // Let the previous run's teardown (program detach, netns cleanup) finish.
    std::thread::sleep(SETTLE);
    let foreign = foreign_tracers();
    let ops = if ctx.opts.quick {
        w.ops_quick
    } else {
        w.ops_full
    };
    let mut traced = match start_config(ctx, cfg) {
        Ok(t) => t,
        Err(e) if cfg.probe == Probe::Bpftrace => {
            let why = format!("bpftrace failed to start ({e:#}): its column is n/a");
            eprintln!("bench: {why}");
            ctx.bpftrace_missing = Some(why);
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    let sample = run_workload(ctx, w, ops, round)
        .with_context(|| format!("workload {} under {}", w.name, cfg.name))?;
    if let Some(t) = traced.as_mut() {
        t.quiesce();
    }
    let probe = match traced {
        Some(t) => Some(t.finish(cfg.probe)?),
        None => None,
    };
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
    Ok(Some(run))
}

const SETTLE: Duration = Duration::from_millis(150);

/// Processes named `tracer` or `bpftrace` (called while we run none): someone
/// else's tracer adds its own in-kernel cost to every configuration.
fn foreign_tracers() -> Vec<String> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| {
            let pid = e.file_name().to_str()?.parse::<u32>().ok()?;
            let comm = fs::read_to_string(e.path().join("comm")).ok()?;
            let comm = comm.trim();
            matches!(comm, "tracer" | "bpftrace").then(|| format!("{pid} {comm}"))
        })
        .collect()
}

/// Tracers still running from this checkout's binary (there should be none).
fn stray_tracers(tracer: &Path) -> Vec<String> {
    let pattern = tracer.to_string_lossy();
    Command::new("pgrep")
        .args(["-a", "-f", &pattern])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

mod markdown;
mod passes;
mod procs;
mod results;
mod workloads;

use markdown::write_outputs;
use passes::*;
use procs::*;
use results::*;
use workloads::*;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_last_lines_across_chunks() {
        let mut t = Tail::default();
        t.feed(b"x\na\nbb");
        t.feed(b"b\nccc\nd");
        let t = t.finish();
        assert_eq!(t.lines, 5);
        assert_eq!(t.last_lines(), vec!["bbb", "ccc", "d"]);
        let mut t = Tail::default();
        t.feed(b"Lost 5 events\nx\nLost 2 events\n");
        assert_eq!(t.lost, 7);
        let big = vec![b'y'; 3 * TAIL_WINDOW];
        let mut t = Tail::default();
        t.feed(&big);
        t.feed(b"\nlast\n");
        assert_eq!(t.finish().last_lines(), vec!["last"]);
    }

    #[test]
    fn final_stats_json_and_text() {
        let json = vec![
            r#"{"type":"report"}"#.to_string(),
            r#"{"type":"stats","final":true,"events":12,"kernel":{"ringbuf_full":3}}"#.to_string(),
        ];
        assert_eq!(final_stats(&json).map(|s| (s.0, s.1)).ok(), Some((12, 3)));
        let text =
            vec!["# done: events 7, dropped 1 (ring buffer full), undecodable 0".to_string()];
        assert_eq!(final_stats(&text).map(|s| (s.0, s.1)).ok(), Some((7, 1)));
    }

    #[test]
    fn median_of_even_and_odd() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0]), Some(2.5));
        assert_eq!(median(&mut []), None);
    }
}
