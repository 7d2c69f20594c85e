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

// ---- workloads ------------------------------------------------------------------

struct Sample {
    ops: u64,
    seconds: f64,
}

fn run_workload(ctx: &Ctx, w: &Workload, ops: u64, round: usize) -> Result<Sample> {
    match w.kind {
        Kind::Bin => run_bin_workload(ctx, w.name, ops),
        Kind::Pods => pod_churn(ctx, ops, round),
    }
}

fn run_bin_workload(ctx: &Ctx, name: &str, ops: u64) -> Result<Sample> {
    let bin = &ctx.opts.workload;
    let mut cmd = Command::new(bin);
    if ctx.pinned {
        pin_command(&mut cmd, &[WORKLOAD_CPU]);
    }
    let out = cmd
        .args([name, &ops.to_string()])
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot start {}", bin.display()))?;
    if !out.status.success() {
        bail!(
            "{} {name} {ops} failed ({}): {}",
            bin.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let v: Value = serde_json::from_str(text.trim())
        .with_context(|| format!("{name}: not one JSON line: {text:?}"))?;
    let done = v["ops"].as_u64().context("workload line without ops")?;
    let seconds = v["seconds"]
        .as_f64()
        .context("workload line without seconds")?;
    if done != ops || seconds <= 0.0 {
        bail!("{name}: asked for {ops} ops, it reports {done} in {seconds} s");
    }
    Ok(Sample { ops, seconds })
}

fn podman(ctx: &Ctx) -> Command {
    let mut c = Command::new("podman");
    c.env("CONTAINERS_CONF", &ctx.podman_conf)
        .stdin(Stdio::null());
    // Podman, conmon and runc use every CPU, as they would on a node.
    pin_command(&mut c, &(0..cpu_count()).collect::<Vec<_>>());
    c
}

fn podman_run(ctx: &Ctx, args: &[&str]) -> Result<String> {
    let out = podman(ctx)
        .args(args)
        .output()
        .context("cannot run podman")?;
    if !out.status.success() {
        bail!(
            "podman {} failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Write the containers.conf this machine needs; make the busybox image if missing.
fn setup_podman(ctx: &Ctx) -> Result<()> {
    if let Some(why) = check_tool("podman", &["--version"]) {
        bail!("{why}; the pods workload is n/a");
    }
    fs::write(&ctx.podman_conf, CONTAINERS_CONF).context("write containers.conf")?;
    let exists = podman(ctx)
        .args(["image", "exists", PODMAN_IMAGE])
        .status()
        .context("cannot run podman")?;
    if !exists.success() {
        import_busybox(ctx).context("making the busybox image for the pods workload")?;
    }
    Ok(())
}

/// A rootfs of busybox-static and its applet links, imported as PODMAN_IMAGE.
fn import_busybox(ctx: &Ctx) -> Result<()> {
    let scratch = ctx.opts.out_dir.join("busybox-rootfs");
    let rootfs = scratch.join("rootfs");
    let _ = fs::remove_dir_all(&scratch);
    for d in ["bin", "dev", "proc", "sys", "tmp", "etc"] {
        fs::create_dir_all(rootfs.join(d)).context("create the rootfs")?;
    }
    fs::copy(BUSYBOX, rootfs.join("bin/busybox"))
        .with_context(|| format!("copy {BUSYBOX} (install busybox-static)"))?;
    let list = Command::new(BUSYBOX)
        .arg("--list")
        .output()
        .context("busybox --list")?;
    for applet in String::from_utf8_lossy(&list.stdout).lines().map(str::trim) {
        if !applet.is_empty() && applet != "busybox" && !applet.contains('/') {
            std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet))
                .with_context(|| format!("link applet {applet}"))?;
        }
    }
    let tar = scratch.join("rootfs.tar");
    crate::run(
        Command::new("tar")
            .arg("-C")
            .arg(&rootfs)
            .arg("-cf")
            .arg(&tar)
            .arg("."),
    )?;
    let tar = tar.to_string_lossy().into_owned();
    podman_run(
        ctx,
        &[
            "import",
            "--quiet",
            "--change",
            "ENV=PATH=/bin",
            &tar,
            PODMAN_IMAGE,
        ],
    )?;
    let _ = fs::remove_dir_all(&scratch);
    Ok(())
}

/// Per pod: create + start (the infra container), run one short container
/// in it, stop, remove. A failed pod is removed before the error returns.
fn pod_churn(ctx: &Ctx, pods: u64, round: usize) -> Result<Sample> {
    let start = Instant::now();
    for i in 0..pods {
        let name = format!("tracer-bench-{}-{round}-{i}", std::process::id());
        let result = one_pod(ctx, &name);
        if result.is_err() {
            let _ = podman(ctx)
                .args(["pod", "rm", "-f", "-i", "-t", "0", &name])
                .output();
        }
        result.with_context(|| format!("pod {name}"))?;
    }
    Ok(Sample {
        ops: pods,
        seconds: start.elapsed().as_secs_f64(),
    })
}

fn one_pod(ctx: &Ctx, name: &str) -> Result<()> {
    podman_run(ctx, &["pod", "create", "--name", name])?;
    podman_run(ctx, &["pod", "start", name])?;
    podman_run(ctx, &["run", "--rm", "--pod", name, PODMAN_IMAGE, "true"])?;
    podman_run(ctx, &["pod", "stop", "-t", "1", name])?;
    podman_run(ctx, &["pod", "rm", "-f", "-t", "0", name])?;
    Ok(())
}

// ---- child processes ------------------------------------------------------------

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_interrupt(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Ctrl-C stops the bench between steps, so that every guard runs (tracers
/// killed, the bpf_stats sysctl restored). Tracers run in their own process
/// group: the terminal's SIGINT does not reach them.
fn install_interrupt_handler() {
    let handler: extern "C" fn(libc::c_int) = on_interrupt;
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores to an atomic.
        unsafe { libc::signal(sig, handler as libc::sighandler_t) };
    }
}

fn check_interrupted() -> Result<()> {
    if INTERRUPTED.load(Ordering::SeqCst) {
        bail!("interrupted");
    }
    Ok(())
}

/// What a stream said: its line count, its last lines (from a window of
/// its last bytes) and bpftrace's "Lost N events" lines. Fed in 1 MiB chunks:
/// per newline only a count and a one-byte look (memchr), so that reading
/// costs little CPU next to the workload.
#[derive(Default)]
struct Tail {
    lines: u64,
    lost: u64,
    lost_lines: u64,
    window: Vec<u8>,
    /// The window no longer starts at the stream's start.
    truncated: bool,
    /// The previous chunk ended with a newline (or nothing came yet).
    mid_line: bool,
}

const TAIL_LINES: usize = 3;
const TAIL_WINDOW: usize = 1 << 18;

impl Tail {
    fn feed(&mut self, chunk: &[u8]) {
        if !self.mid_line && chunk.first() == Some(&b'L') {
            self.count_lost(chunk);
        }
        for i in memchr::memchr_iter(b'\n', chunk) {
            self.lines += 1;
            if chunk.get(i + 1) == Some(&b'L') {
                self.count_lost(&chunk[i + 1..]);
            }
        }
        self.mid_line = chunk.last().is_some_and(|&b| b != b'\n');
        if chunk.len() >= TAIL_WINDOW {
            self.window.clear();
            self.window
                .extend_from_slice(&chunk[chunk.len() - TAIL_WINDOW..]);
            self.truncated = true;
        } else {
            self.window.extend_from_slice(chunk);
            if self.window.len() > 2 * TAIL_WINDOW {
                let cut = self.window.len() - TAIL_WINDOW;
                self.window.drain(..cut);
                self.truncated = true;
            }
        }
    }

    fn count_lost(&mut self, text: &[u8]) {
        let n = lost_events(text);
        if n > 0 {
            self.lost += n;
            self.lost_lines += 1;
        }
    }

    /// The last complete (or final unterminated) lines.
    fn last_lines(&self) -> Vec<String> {
        let mut lines: Vec<&[u8]> = self.window.split(|&b| b == b'\n').collect();
        if self.truncated && !lines.is_empty() {
            lines.remove(0); // cut somewhere in its middle
        }
        if lines.last().is_some_and(|l| l.is_empty()) {
            lines.pop();
        }
        let from = lines.len().saturating_sub(TAIL_LINES);
        lines[from..]
            .iter()
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .collect()
    }

    fn finish(mut self) -> Tail {
        if self.mid_line {
            self.lines += 1;
        }
        self
    }
}

/// bpftrace's "Lost N events" line at the start of `text`.
fn lost_events(text: &[u8]) -> u64 {
    let end = memchr::memchr(b'\n', text).unwrap_or(text.len());
    let line = String::from_utf8_lossy(&text[..end]);
    line.strip_prefix("Lost ")
        .and_then(|r| r.strip_suffix(" events"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

/// Looks for the first line for which `is_ready` holds, then sends it.
struct ReadyWatch {
    is_ready: fn(&str) -> bool,
    tx: mpsc::Sender<String>,
    pending: Vec<u8>,
}

impl ReadyWatch {
    /// True once the ready line was seen (and sent).
    fn feed(&mut self, chunk: &[u8]) -> bool {
        let mut start = 0;
        for i in memchr::memchr_iter(b'\n', chunk) {
            self.pending.extend_from_slice(&chunk[start..i]);
            start = i + 1;
            let line = String::from_utf8_lossy(&self.pending).into_owned();
            self.pending.clear();
            if (self.is_ready)(&line) {
                let _ = self.tx.send(line);
                return true;
            }
        }
        self.pending.extend_from_slice(&chunk[start..]);
        false
    }
}

/// Read `r` to its end on a thread; the ready line goes to `ready`'s channel.
fn reader(mut r: impl Read + Send + 'static, mut ready: Option<ReadyWatch>) -> JoinHandle<Tail> {
    std::thread::spawn(move || {
        let mut tail = Tail::default();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = match r.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if ready.as_mut().is_some_and(|w| w.feed(&buf[..n])) {
                ready = None;
            }
            tail.feed(&buf[..n]);
        }
        tail.finish()
    })
}

/// A started child process; killed and reaped when dropped unreaped.
struct Proc {
    pid: libc::pid_t,
    what: String,
    reaped: bool,
    started: Instant,
    /// Its VmHWM as last seen alive (KiB).
    hwm_kib: u64,
    stdout: Option<JoinHandle<Tail>>,
    stderr: Option<JoinHandle<Tail>>,
    ready: mpsc::Receiver<String>,
}

struct Ended {
    status: i32,
    cpu_ns: u64,
    /// `ru_maxrss`: never below our own RSS when we forked it.
    maxrss_kib: u64,
    /// VmHWM polled until it exited: its own peak.
    hwm_kib: u64,
    /// Since spawn.
    wall: Duration,
    stdout: Tail,
    stderr: Tail,
}

impl Ended {
    fn peak_kib(&self) -> u64 {
        if self.hwm_kib > 0 {
            self.hwm_kib
        } else {
            self.maxrss_kib
        }
    }

    fn stderr_text(&self) -> String {
        self.stderr.last_lines().join("\n")
    }
    fn check_success(&self, what: &str) -> Result<()> {
        if libc::WIFEXITED(self.status) && libc::WEXITSTATUS(self.status) == 0 {
            return Ok(());
        }
        let how = if libc::WIFSIGNALED(self.status) {
            format!("killed by signal {}", libc::WTERMSIG(self.status))
        } else {
            format!("exit status {}", libc::WEXITSTATUS(self.status))
        };
        bail!("{what} failed ({how}): {}", self.stderr_text())
    }
}

impl Proc {
    /// Start `cmd` with piped output, in its own process group, killed if we die.
    fn spawn(mut cmd: Command, what: &str, ready: fn(&str) -> bool) -> Result<Proc> {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                libc::setpgid(0, 0);
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = cmd
            .spawn()
            .with_context(|| format!("cannot start {what}"))?;
        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().context("no stdout pipe")?;
        // A 1 MiB pipe: the writer blocks less, we read bigger chunks.
        // SAFETY: a valid pipe fd; failure (pipe-max-size) only leaves 64 KiB.
        unsafe {
            libc::fcntl(
                std::os::fd::AsRawFd::as_raw_fd(&stdout),
                libc::F_SETPIPE_SZ,
                1 << 20,
            )
        };
        let stderr = child.stderr.take().context("no stderr pipe")?;
        let pid = libc::pid_t::try_from(child.id()).context("pid out of range")?;
        // `child` is dropped unwaited: from here on we reap `pid` ourselves.
        Ok(Proc {
            pid,
            what: what.to_string(),
            reaped: false,
            started: Instant::now(),
            hwm_kib: 0,
            stdout: Some(reader(
                stdout,
                Some(ReadyWatch {
                    is_ready: ready,
                    tx,
                    pending: Vec::new(),
                }),
            )),
            stderr: Some(reader(stderr, None)),
            ready: rx,
        })
    }

    /// Wait for the ready line; fail (with the child's stderr) if it ends first.
    fn wait_ready(&mut self, timeout: Duration) -> Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            check_interrupted()?;
            match self.ready.recv_timeout(Duration::from_millis(50)) {
                Ok(line) => return Ok(line),
                Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() < deadline => {}
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    bail!("{} not ready after {timeout:?}", self.what)
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let ended = self.stop(libc::SIGKILL, Duration::ZERO)?;
                    bail!(
                        "{} ended before it was ready: {}",
                        self.what,
                        ended.stderr_text()
                    );
                }
            }
        }
    }

    fn exited(&self) -> bool {
        // SAFETY: a zeroed siginfo and a child of ours; WNOWAIT leaves it unreaped.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let rc = unsafe {
            libc::waitid(
                libc::P_PID,
                self.pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            )
        };
        rc == 0 && unsafe { info.si_pid() } != 0
    }

    /// Poll until it has exited (at most `timeout`), keeping its VmHWM.
    fn watch(&mut self, timeout: Duration) {
        let t0 = Instant::now();
        loop {
            self.note_hwm();
            if self.exited() || t0.elapsed() >= timeout {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn note_hwm(&mut self) {
        if let Some(kib) = vm_hwm_kib(self.pid) {
            self.hwm_kib = self.hwm_kib.max(kib);
        }
    }

    /// Send `sig`, give it `grace` to end, then SIGKILL; reap with wait4.
    fn stop(&mut self, sig: libc::c_int, grace: Duration) -> Result<Ended> {
        self.note_hwm();
        // SAFETY: our own unreaped child: the pid cannot have been reused.
        unsafe { libc::kill(self.pid, sig) };
        self.watch(grace);
        self.reap()
    }

    /// Let it end by itself (SIGKILL after `timeout`); reap it.
    fn wait_exit(&mut self, timeout: Duration) -> Result<Ended> {
        self.watch(timeout);
        self.reap()
    }

    fn reap(&mut self) -> Result<Ended> {
        if !self.exited() {
            // SAFETY: as above.
            unsafe { libc::kill(self.pid, libc::SIGKILL) };
        }
        let mut status = 0;
        // SAFETY: zeroed rusage, valid out-pointers, our child.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        let rc = unsafe { libc::wait4(self.pid, &mut status, 0, &mut ru) };
        if rc != self.pid {
            bail!("wait4 {}: {}", self.what, std::io::Error::last_os_error());
        }
        self.reaped = true;
        let join = |h: Option<JoinHandle<Tail>>| h.and_then(|h| h.join().ok()).unwrap_or_default();
        let tv_ns = |tv: libc::timeval| tv.tv_sec as u64 * 1_000_000_000 + tv.tv_usec as u64 * 1000;
        Ok(Ended {
            status,
            cpu_ns: tv_ns(ru.ru_utime) + tv_ns(ru.ru_stime),
            maxrss_kib: ru.ru_maxrss as u64,
            hwm_kib: self.hwm_kib,
            wall: self.started.elapsed(),
            stdout: join(self.stdout.take()),
            stderr: join(self.stderr.take()),
        })
    }
}

/// The process's own peak RSS (`VmHWM`), while it lives.
fn vm_hwm_kib(pid: libc::pid_t) -> Option<u64> {
    vm_status_kib(pid, "VmHWM:")
}

/// A `kB` field of /proc/<pid>/status (`VmHWM:`, `VmRSS:`).
fn vm_status_kib(pid: libc::pid_t, field: &str) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let v = status.lines().find_map(|l| l.strip_prefix(field))?;
    v.trim().trim_end_matches("kB").trim().parse().ok()
}

impl Drop for Proc {
    fn drop(&mut self) {
        if !self.reaped {
            // SAFETY: our own unreaped child.
            unsafe {
                libc::kill(self.pid, libc::SIGKILL);
                libc::waitpid(self.pid, std::ptr::null_mut(), 0);
            }
        }
    }
}

/// CPU time of a live process so far (every thread), in ns.
fn task_cpu_ns(pid: libc::pid_t) -> u64 {
    let Ok(dir) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    dir.flatten()
        .filter_map(|t| fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// Start what `cfg` runs (nothing for `none`) and wait until it is ready.
fn start_config(ctx: &Ctx, cfg: &Config) -> Result<Option<Traced>> {
    Ok(match cfg.probe {
        Probe::None => None,
        Probe::Tracer => Some(start_tracer(ctx, cfg.args)?),
        Probe::Bpftrace => Some(start_bpftrace(ctx)?),
    })
}

/// A tracer or bpftrace under measurement.
struct Traced {
    proc: Proc,
    cpu_at_ready_ns: u64,
    /// Its CPU once it went quiet after the workload (it has caught up).
    cpu_at_quiet_ns: Option<u64>,
    /// Its RSS then (`VmRSS`): the steady state, start-up peaks excluded.
    rss_at_quiet_kib: Option<u64>,
    /// Stop only this long after ready (the stall run's reader sleeps first).
    stop_not_before: Option<Instant>,
}

fn tracer_ready(line: &str) -> bool {
    line.starts_with("{\"type\":\"ready\"")
        || line.contains("\"type\":\"ready\"")
        || line.starts_with("# tracing")
}

fn bpftrace_ready(line: &str) -> bool {
    line == "bench-ready"
}

fn start_tracer(ctx: &Ctx, args: &[&str]) -> Result<Traced> {
    let rec = ctx.recording.to_string_lossy();
    let args: Vec<String> = args.iter().map(|a| a.replace("{rec}", &rec)).collect();
    let mut cmd = Command::new(&ctx.opts.tracer);
    cmd.args(&args);
    let what = format!("tracer {}", args.join(" "));
    let mut proc = Proc::spawn(cmd, &what, tracer_ready)?;
    proc.wait_ready(Duration::from_secs(60))?;
    Ok(Traced::new(proc))
}

fn start_bpftrace(ctx: &Ctx) -> Result<Traced> {
    let mut cmd = Command::new("bpftrace");
    cmd.arg(&ctx.bpftrace_script);
    let mut proc = Proc::spawn(cmd, "bpftrace", bpftrace_ready)?;
    proc.wait_ready(Duration::from_secs(60))?;
    Ok(Traced::new(proc))
}

/// What a tracer or bpftrace cost and delivered in one run.
#[derive(Serialize, Clone)]
struct ProbeResult {
    /// Everything, start-up included.
    cpu_total_ms: f64,
    /// From ready until it went quiet after the workload: what the events cost.
    cpu_ms: f64,
    /// From SIGINT to its end: final drain, report, detaching.
    cpu_stop_ms: f64,
    /// VmHWM (falls back to `ru_maxrss` if never seen).
    peak_rss_mib: f64,
    /// VmRSS once it had caught up with the workload.
    #[serde(skip_serializing_if = "Option::is_none")]
    rss_mib: Option<f64>,
    ru_maxrss_mib: f64,
    events: u64,
    drops: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    programs: Option<Value>,
}

/// CPU use below this per poll counts as quiet.
const QUIET_NS_PER_POLL: u64 = 500_000;
const QUIET_POLL: Duration = Duration::from_millis(50);

impl Traced {
    fn new(proc: Proc) -> Traced {
        Traced {
            cpu_at_ready_ns: task_cpu_ns(proc.pid),
            cpu_at_quiet_ns: None,
            rss_at_quiet_kib: None,
            stop_not_before: None,
            proc,
        }
    }

    /// Wait (at most 2 s) until it has caught up with the workload's events.
    fn quiesce(&mut self) {
        let mut last = task_cpu_ns(self.proc.pid);
        for _ in 0..40 {
            std::thread::sleep(QUIET_POLL);
            let now = task_cpu_ns(self.proc.pid);
            self.proc.note_hwm();
            let busy = now.saturating_sub(last) >= QUIET_NS_PER_POLL;
            last = now;
            if !busy {
                break;
            }
        }
        self.cpu_at_quiet_ns = Some(last);
        self.rss_at_quiet_kib = vm_status_kib(self.proc.pid, "VmRSS:");
    }

    fn finish(mut self, probe: Probe) -> Result<ProbeResult> {
        if let Some(t) = self.stop_not_before {
            let now = Instant::now();
            if t > now {
                std::thread::sleep(t - now);
            }
        }
        let ended = self.proc.stop(libc::SIGINT, Duration::from_secs(60))?;
        let what = self.proc.what.clone();
        ended.check_success(&what)?;
        let (events, drops, programs) = match probe {
            // Every line is an event but the preamble and "Lost N events" lines.
            Probe::Bpftrace => {
                let out = &ended.stdout;
                let events = out
                    .lines
                    .saturating_sub(BPFTRACE_PREAMBLE_LINES + out.lost_lines);
                (events, out.lost + ended.stderr.lost, None)
            }
            _ => final_stats(&ended.stdout.last_lines())
                .with_context(|| format!("{what}: no final stats line"))?,
        };
        let quiet = self.cpu_at_quiet_ns.unwrap_or(ended.cpu_ns);
        Ok(ProbeResult {
            cpu_total_ms: ended.cpu_ns as f64 / 1e6,
            cpu_ms: quiet.saturating_sub(self.cpu_at_ready_ns) as f64 / 1e6,
            cpu_stop_ms: ended.cpu_ns.saturating_sub(quiet) as f64 / 1e6,
            peak_rss_mib: ended.peak_kib() as f64 / 1024.0,
            rss_mib: self.rss_at_quiet_kib.map(|k| k as f64 / 1024.0),
            ru_maxrss_mib: ended.maxrss_kib as f64 / 1024.0,
            events,
            drops,
            programs,
        })
    }
}

/// (events, ringbuf drops, programs) from the tracer's final stats line:
/// JSON (`{"type":"stats","final":true,...}`) or text (`# done: events N, dropped D ...`).
fn final_stats(last: &[String]) -> Result<(u64, u64, Option<Value>)> {
    for line in last.iter().rev() {
        if let Ok(v) = serde_json::from_str::<Value>(line)
            && v["type"] == "stats"
        {
            let events = v["events"].as_u64().context("stats without events")?;
            let drops = v["kernel"]["ringbuf_full"].as_u64().unwrap_or(0);
            let programs = v.get("programs").cloned();
            return Ok((events, drops, programs));
        }
        if let Some(rest) = line.strip_prefix("# done: events ") {
            let mut it = rest
                .split(|c: char| !c.is_ascii_digit())
                .filter(|s| !s.is_empty());
            let events = it
                .next()
                .and_then(|n| n.parse().ok())
                .context("bad # done line")?;
            let drops = it
                .next()
                .and_then(|n| n.parse().ok())
                .context("bad # done line")?;
            return Ok((events, drops, None));
        }
    }
    bail!("last lines: {last:?}")
}

// ---- single passes -----------------------------------------------------------------

#[derive(Serialize, Clone)]
struct ProgRow {
    name: String,
    run_count: u64,
    run_time_ns: u64,
    ns_per_run: f64,
}

/// One workload under one configuration with `kernel.bpf_stats_enabled=1`.
#[derive(Serialize)]
struct BpfPass {
    workload: &'static str,
    config: &'static str,
    ops: u64,
    /// All programs together over the workload only (fdinfo before/after).
    runs_per_op: f64,
    ns_per_op: f64,
    /// The tracer's own per-program figures (final stats line, whole run;
    /// fdinfo by prog id when the line has none); empty for bpftrace.
    programs: Vec<ProgRow>,
}

/// The workloads of the BPF run-time pass: (name, ops full, ops quick).
const BPF_STATS_WORKLOADS: &[(&str, u64, u64)] = &[
    ("fork-exit", 20_000, 3000),
    ("fork-exec", 3000, 600),
    ("ns-churn", 50_000, 20_000),
];

/// Restores `kernel.bpf_stats_enabled` when dropped.
struct SysctlGuard {
    path: &'static str,
    old: String,
}

impl SysctlGuard {
    fn set(path: &'static str, value: &str) -> Result<SysctlGuard> {
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
fn bpf_stats_pass(ctx: &Ctx) -> Result<Vec<BpfPass>> {
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

fn bpf_pass(
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

fn prog_row(name: String, run_count: u64, run_time_ns: u64) -> ProgRow {
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

fn programs_from_stats(v: &Value) -> Option<Vec<ProgRow>> {
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
fn fdinfo_programs(pid: libc::pid_t) -> Result<Vec<ProgRow>> {
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
struct Stall {
    ops: u64,
    expected: u64,
    delivered: u64,
    dropped: u64,
}

/// fork-exec into a 64 KiB ring whose reader sleeps 3 s: drops must be
/// counted, and delivered + dropped must add up to what happened.
fn stall_pass(ctx: &Ctx) -> Result<Stall> {
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
struct Replay {
    events: u64,
    sandboxes: u64,
    seconds: f64,
    events_per_s: f64,
    cpu_s: f64,
    peak_rss_mib: f64,
    file_mib: f64,
}

/// `tracer bench-recording` writes a synthetic recording; `tracer report
/// FILE --json` replays it.
fn replay_pass(ctx: &Ctx) -> Result<Replay> {
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

// ---- results ------------------------------------------------------------------------

#[derive(Serialize)]
struct Run {
    workload: &'static str,
    config: &'static str,
    round: usize,
    ops: u64,
    seconds: f64,
    ops_per_s: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    probe: Option<ProbeResult>,
    /// Other tracers (not ours) running when this run started.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    foreign: Vec<String>,
}

impl Run {
    fn progress_line(&self) -> String {
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

struct Extras {
    bpf_stats: Result<Vec<BpfPass>, String>,
    stall: Result<Stall, String>,
    replay: Result<Replay, String>,
}

/// One workload × configuration over its rounds.
#[derive(Serialize)]
struct Cell {
    workload: &'static str,
    config: &'static str,
    rounds: usize,
    ops: u64,
    ops_per_s_median: f64,
    ops_per_s_min: f64,
    ops_per_s_max: f64,
    /// 100 × (1 − median over rounds of ops/s ÷ the same round's none).
    slowdown_pct: Option<f64>,
    events_per_op: Option<f64>,
    expected_per_op: Option<f64>,
    drops: Option<u64>,
    cpu_ms_median: Option<f64>,
    cpu_stop_ms_median: Option<f64>,
    cpu_us_per_event: Option<f64>,
    peak_rss_mib: Option<f64>,
    /// Largest steady-state RSS of the rounds (after the workload).
    rss_mib: Option<f64>,
    /// Why the cell is empty.
    #[serde(skip_serializing_if = "Option::is_none")]
    na: Option<String>,
}

fn median(v: &mut [f64]) -> Option<f64> {
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
const MIN_EVENTS_PER_EVENT_FIGURE: u64 = 500;

fn cell(w: &Workload, cfg: &Config, runs: &[Run], na: Option<&String>) -> Cell {
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
struct Target {
    target: String,
    measured: String,
    /// None: could not be measured.
    ok: Option<bool>,
}

#[derive(Serialize)]
struct Summary {
    mode: &'static str,
    rounds: usize,
    elapsed_s: f64,
    kernel: String,
    cpus: usize,
    pinned: bool,
    /// This harness's own peak RSS: `ru_maxrss` of a child is at least its
    /// parent's RSS at fork, so tracer figures below this would be ours.
    harness_peak_rss_mib: f64,
    /// /proc/loadavg before and after.
    load: [String; 2],
    cells: Vec<Cell>,
    targets: Vec<Target>,
    bpf_stats: Value,
    stall: Value,
    replay: Value,
    stray_processes: Vec<String>,
    runs: Vec<Run>,
}

fn to_json<T: Serialize>(r: &Result<T, String>) -> Value {
    match r {
        Ok(v) => serde_json::to_value(v).unwrap_or(Value::Null),
        Err(e) => serde_json::json!({ "error": e }),
    }
}

impl Summary {
    fn new(
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

fn find<'a>(cells: &'a [Cell], w: &str, c: &str) -> Option<&'a Cell> {
    cells
        .iter()
        .find(|x| x.workload == w && x.config == c && x.rounds > 0)
}

/// The issue's targets, each with what was measured.
fn targets(cells: &[Cell], extras: &Extras) -> Vec<Target> {
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

// ---- output: the one place that formats -----------------------------------------------

fn write_outputs(ctx: &Ctx, s: &Summary) -> Result<()> {
    let md = markdown(s);
    let md_path = ctx.opts.out_dir.join("bench.md");
    let json_path = ctx.opts.out_dir.join("bench.json");
    fs::write(&md_path, &md).with_context(|| format!("write {}", md_path.display()))?;
    let json = serde_json::to_string_pretty(s).context("serialise the results")?;
    fs::write(&json_path, json).with_context(|| format!("write {}", json_path.display()))?;
    println!("{md}");
    println!("written: {} and {}", md_path.display(), json_path.display());
    if !s.stray_processes.is_empty() {
        bail!("tracer processes left running: {:?}", s.stray_processes);
    }
    Ok(())
}

fn opt(v: Option<f64>, prec: usize) -> String {
    v.map_or("–".into(), |x| format!("{x:.prec$}"))
}

fn mark(ok: Option<bool>) -> &'static str {
    match ok {
        Some(true) => "✓",
        Some(false) => "✗",
        None => "n/a",
    }
}

fn rate(w: &Workload, ops_per_s: f64) -> String {
    match w.kind {
        Kind::Pods => format!("{:.1}", ops_per_s * 60.0),
        Kind::Bin => format!("{ops_per_s:.0}"),
    }
}

fn markdown(s: &Summary) -> String {
    let mut m = String::new();
    let _ = writeln!(m, "# Tracer benchmark ({} mode)\n", s.mode);
    let _ = writeln!(
        m,
        "Kernel {}, {} CPUs; {} rounds per workload, configurations interleaved per round; took {:.0} s. \
         Slowdown: 1 − median over rounds of (ops/s ÷ the same round's `none`). \
         CPU: the tracer's (or bpftrace's) CPU time (all threads, /proc schedstat) from ready until it went quiet after \
         the workload, median of the rounds (start-up excluded); in brackets the CPU from SIGINT to its end (final drain, \
         report, detach; from `wait4`); per event = the first ÷ events delivered (only with ≥ {MIN_EVENTS_PER_EVENT_FIGURE} events). \
         RSS: the process's VmRSS once it caught up after the workload / its peak (VmHWM, reached at start-up while the kernel's BTF is parsed), largest of the rounds.\n",
        s.kernel, s.cpus, s.rounds, s.elapsed_s
    );
    let _ = writeln!(
        m,
        "{}Load average before/after: {} / {}.\n",
        if s.pinned {
            "Workloads pinned to CPU 0, tracers, bpftrace and this harness to CPU 1 (podman unpinned). "
        } else {
            ""
        },
        s.load[0],
        s.load[1]
    );
    let foreign: Vec<&Run> = s.runs.iter().filter(|r| !r.foreign.is_empty()).collect();
    if !foreign.is_empty() {
        let _ = writeln!(
            m,
            "**Other tracers were running during {} of {} runs** (e.g. {}): their in-kernel cost is in every column of those rounds.\n",
            foreign.len(),
            s.runs.len(),
            foreign[0].foreign.join(", ")
        );
    }
    let _ = writeln!(m, "| config | what |\n|---|---|");
    for c in CONFIGS {
        let _ = writeln!(m, "| `{}` | {} |", c.name, c.what);
    }
    m.push('\n');
    for w in WORKLOADS {
        let cells: Vec<&Cell> = s.cells.iter().filter(|c| c.workload == w.name).collect();
        if cells.is_empty() {
            continue;
        }
        let unit = if w.kind == Kind::Pods {
            "pods/min"
        } else {
            "ops/s"
        };
        let what = if w.kind == Kind::Pods { "pods" } else { "ops" };
        let _ = writeln!(m, "## {} ({} {what} per run)\n", w.name, cells[0].ops);
        let _ = writeln!(
            m,
            "| config | {unit} median (min–max) | slowdown | events/op (expected) | drops | CPU ms (stop) | CPU µs/event | RSS MiB after / peak |"
        );
        let _ = writeln!(m, "|---|---|---|---|---|---|---|---|");
        for c in cells {
            if let Some(na) = &c.na {
                let _ = writeln!(m, "| `{}` | n/a ({na}) | | | | | | |", c.config);
                continue;
            }
            let _ = writeln!(
                m,
                "| `{}` | {} ({}–{}) | {} | {} ({}) | {} | {} | {} | {} / {} |",
                c.config,
                rate(w, c.ops_per_s_median),
                rate(w, c.ops_per_s_min),
                rate(w, c.ops_per_s_max),
                c.slowdown_pct.map_or("–".into(), |v| format!("{v:.1} %")),
                opt(c.events_per_op, 2),
                opt(c.expected_per_op, 0),
                c.drops.map_or("–".into(), |d| d.to_string()),
                match (c.cpu_ms_median, c.cpu_stop_ms_median) {
                    (Some(run), Some(stop)) => format!("{run:.1} ({stop:.1})"),
                    _ => "–".into(),
                },
                opt(c.cpu_us_per_event, 2),
                opt(c.rss_mib, 1),
                opt(c.peak_rss_mib, 1),
            );
        }
        let ratio = find(&s.cells, w.name, "all")
            .zip(find(&s.cells, w.name, "bpftrace"))
            .and_then(|(a, b)| Some(b.cpu_us_per_event? / a.cpu_us_per_event?));
        if let Some(r) = ratio {
            let _ = writeln!(
                m,
                "\nbpftrace CPU per event ÷ tracer (`all`) CPU per event: **{r:.1}×**"
            );
        }
        m.push('\n');
    }
    let _ = writeln!(m, "## Targets\n\n| target | measured | |\n|---|---|---|");
    for t in &s.targets {
        let _ = writeln!(m, "| {} | {} | {} |", t.target, t.measured, mark(t.ok));
    }
    m.push('\n');
    markdown_extras(&mut m, s);
    markdown_notes(&mut m, s);
    m
}

fn markdown_extras(m: &mut String, s: &Summary) {
    markdown_bpf_stats(m, &s.bpf_stats, &s.cells);
    let _ = writeln!(
        m,
        "\n## Drop-counter proof (fork-exec, `--ring-kib {STALL_RING_KIB} --debug-stall-ms {STALL_MS}`, `--all`)\n"
    );
    match (s.stall["delivered"].as_u64(), s.stall["dropped"].as_u64()) {
        (Some(d), Some(x)) => {
            let _ = writeln!(
                m,
                "| ops | expected events (3/op) | delivered | dropped | delivered + dropped |\n|---|---|---|---|---|\n| {} | {} | {d} | {x} | {} |",
                s.stall["ops"],
                s.stall["expected"],
                d + x
            );
        }
        _ => {
            let _ = writeln!(m, "n/a: {}", s.stall["error"].as_str().unwrap_or("?"));
        }
    }
    let _ = writeln!(
        m,
        "\n## Replay (`tracer bench-recording --sandboxes {REPLAY_SANDBOXES} --events {REPLAY_EVENTS} --live {REPLAY_LIVE}`, then `tracer report FILE --json`)\n"
    );
    match s.replay["events_per_s"].as_f64() {
        Some(eps) => {
            let f = |k: &str| s.replay[k].as_f64().unwrap_or(0.0);
            let _ = writeln!(
                m,
                "| events | file MiB | wall s | events/s | CPU s | peak RSS MiB |\n|---|---|---|---|---|---|\n| {} | {:.1} | {:.2} | {eps:.0} | {:.2} | {:.1} |",
                s.replay["events"],
                f("file_mib"),
                f("seconds"),
                f("cpu_s"),
                f("peak_rss_mib")
            );
        }
        None => {
            let _ = writeln!(m, "n/a: {}", s.replay["error"].as_str().unwrap_or("?"));
        }
    }
    m.push('\n');
}

fn markdown_bpf_stats(m: &mut String, b: &Value, cells: &[Cell]) {
    let _ = writeln!(m, "## BPF run time (`kernel.bpf_stats_enabled=1`)\n");
    let Some(passes) = b.as_array() else {
        let _ = writeln!(m, "n/a: {}\n", b["error"].as_str().unwrap_or("?"));
        return;
    };
    let _ = writeln!(
        m,
        "All programs together, over the workload only (fdinfo before/after); share = BPF time ÷ the time \
         of one op under `none` (median above): the in-kernel part of the slowdown, free of run-to-run noise.\n\n\
         | workload | ops | config | program runs/op | BPF ns/op | share of a `none` op |\n|---|---|---|---|---|---|"
    );
    for p in passes {
        let workload = p["workload"].as_str().unwrap_or("?");
        let ns = p["ns_per_op"].as_f64().unwrap_or(0.0);
        let share = find(cells, workload, "none").map(|c| ns * c.ops_per_s_median / 1e7);
        let _ = writeln!(
            m,
            "| {workload} | {} | `{}` | {:.1} | {ns:.0} | {} |",
            p["ops"],
            p["config"].as_str().unwrap_or("?"),
            p["runs_per_op"].as_f64().unwrap_or(0.0),
            share.map_or("–".into(), |v| format!("{v:.2} %"))
        );
    }
    // Per program: one column per tracer pass, "ns/run (runs)".
    let tracer_passes: Vec<&Value> = passes
        .iter()
        .filter(|p| p["programs"].as_array().is_some_and(|a| !a.is_empty()))
        .collect();
    let mut names: Vec<&str> = tracer_passes
        .iter()
        .flat_map(|p| p["programs"].as_array().into_iter().flatten())
        .filter_map(|r| r["name"].as_str())
        .collect();
    names.sort_unstable();
    names.dedup();
    let _ = write!(
        m,
        "\nThe tracer's programs, ns per run (runs), whole run from its final stats line:\n\n| program |"
    );
    for p in &tracer_passes {
        let _ = write!(
            m,
            " {} `{}` |",
            p["workload"].as_str().unwrap_or("?"),
            p["config"].as_str().unwrap_or("?")
        );
    }
    let _ = writeln!(m, "\n|---|{}", "---|".repeat(tracer_passes.len()));
    for name in names {
        let _ = write!(m, "| {name} |");
        for p in &tracer_passes {
            let row = p["programs"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|r| r["name"].as_str() == Some(name));
            let cell = match row {
                Some(r) if r["run_count"].as_u64().unwrap_or(0) > 0 => format!(
                    "{:.0} ({})",
                    r["ns_per_run"].as_f64().unwrap_or(0.0),
                    r["run_count"]
                ),
                _ => "–".into(),
            };
            let _ = write!(m, " {cell} |");
        }
        m.push('\n');
    }
}

fn markdown_notes(m: &mut String, s: &Summary) {
    let _ = writeln!(
        m,
        "## Notes\n\n\
         - Expected events per op. fork-exit: the fork and the exit (2) with `--all`; 0 with the filter, \
         the child never leaves the host namespaces. fork-exec: fork + exec + exit (3) with `--all`, 0 filtered. \
         ns-churn: one unshare and one setns per op (2), never filtered (namespace changes always come). \
         netns-churn: the child's unshare(CLONE_NEWNET) and its exit in a non-host netns (2) with the filter, \
         plus its fork from the host (3) with `--all`. bpftrace prints one line per sched fork/exec/exit and one per \
         *paired* clone/unshare/setns exit (the child's return from clone has no entry: not printed): \
         fork-exit 3, fork-exec 4, ns-churn 2, netns-churn 4. Measured events include whatever else ran on the \
         machine during the run, hence slightly above expected.\n\
         - ns-churn is an artificial storm: ~1 µs per unshare+setns pair untraced, ~2 M events/s offered. \
         Its slowdown is mostly the programs' own run time (BPF table: more BPF ns per op than the op itself).\n\
         - Run-to-run spread (the `none` min–max) is a few %: a slowdown inside it, negative ones included, is noise. \
         The BPF table's share column measures the in-kernel cost directly.\n\
         - bpftrace runs with its default (line-buffered) output; its lines are counted through a pipe; \
         its start-up (LLVM) CPU and its exit (≈ 0.2 s) are excluded like the tracer's.\n\
         - Every tracer and bpftrace writes into a 1 MiB pipe read by this harness in 1 MiB chunks (only the line \
         count and the last lines kept), on CPU 1 beside them. Peak RSS is the process's own `VmHWM`, polled until \
         it exits; `ru_maxrss` (in bench.json) is never below the harness's RSS at fork ({:.1} MiB here).\n",
        s.harness_peak_rss_mib
    );
    if !s.stray_processes.is_empty() {
        let _ = writeln!(
            m,
            "- **tracer processes left running:** {:?}\n",
            s.stray_processes
        );
    }
}

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
