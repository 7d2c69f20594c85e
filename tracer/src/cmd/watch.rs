//! `tracer watch` and `tracer record`: load, self-test, take the state at
//! start, then stream events through the pipeline until Ctrl-C, SIGTERM,
//! SIGHUP, `--duration` or the end of stdout's reader, and end with the report.
//!
//! Stdout is written by a thread of its own through a bounded queue
//! ([`crate::pipeline::sink`]): a stdout nobody reads never stops the
//! tracer, and a signal stops it within a second whatever stdout does.
//! The recording is flushed every second, so a crash (SIGKILL, OOM) loses
//! at most the last second; a failed write to it is said at once, tracing
//! goes on, and the run ends with the report and a non-zero exit.

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use aya::maps::{MapData, PerCpuArray, RingBuf};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::mpsc;

use tracer_common::{NsSet, Offsets, QUIET_WAKE_NS};

use super::record::{self, Target};
use super::ticker::Ticker;
use crate::clock::{self, Clock};
use crate::decode::supported_slots;
use crate::host::docker::{self, DockerNames};
use crate::host::{cri, ns, proc, system};
use crate::kernel::wake_slot::WakeSlot;
use crate::kernel::{self, Info, Loaded, counters, loader, selftest};
use crate::metrics::{self, Metrics};
use crate::model::{Identity, Model, Note};
use crate::pipeline::sink::{self, Queued};
use crate::pipeline::{Namer, Output, Pipeline, Source, View};
use crate::render::{Format, renderer};
use crate::report::Selector;
use crate::stats::KernelStats;

pub struct WatchOptions {
    pub load: loader::Options,
    pub format: Format,
    pub view: View,
    pub duration: Option<Duration>,
    /// Record to this file as well (`tracer record`).
    pub output: Option<PathBuf>,
    /// Wait this long before reading anything (to prove the drop counter).
    pub stall: Option<Duration>,
    /// Keep ended sandboxes in full this long, then summarise them.
    pub retention: Duration,
    /// The Docker API's socket for names (`None`: the default, where it exists).
    pub docker_socket: Option<PathBuf>,
    /// `--pod` / `--netns`: that story's lines only, and the story at the end.
    pub focus: Option<Selector>,
    /// Serve Prometheus metrics here (`--metrics`).
    pub metrics: Option<SocketAddr>,
    /// Ask this CRI socket for pod names (default: the first that exists
    /// of [`cri::DEFAULT_SOCKETS`]).
    pub cri_socket: Option<PathBuf>,
}

/// How often the ring buffer is read without a wakeup while records come:
/// the live view's latency for a trickle of events, and how late a
/// short-lived container's bundle is read for its names (at 200 ms, a
/// containerd job's was already gone). The kernel wakes us for the first
/// record after a quiet spell of this length ([`QUIET_WAKE_NS`]).
const DRAIN_EVERY: Duration = Duration::from_nanos(QUIET_WAKE_NS);
/// The timer's period once a tick found the ring empty: the kernel wakes
/// us for the next record, so this is only for the chores (verdicts due,
/// `--duration`, the counters). An idle tracer woke 20 times a second.
const IDLE_EVERY: Duration = Duration::from_millis(500);
/// At the end, how long names still being asked for are waited for.
const NAMES_GRACE: Duration = Duration::from_millis(500);
/// From a stop signal to the exit, whatever stdout does.
const STOP_WITHIN: Duration = Duration::from_millis(750);

type Live = Pipeline<Queued, File>;

/// Why the trace stopped.
#[derive(Clone, Copy, Debug)]
enum Stop {
    /// SIGINT, SIGTERM or SIGHUP, at this moment: exit within a second.
    Signal(Instant),
    Duration,
    /// Stdout's reader went away (`tracer | head`).
    OutputClosed,
}

/// The signals that stop a trace.
struct Signals {
    int: Signal,
    term: Signal,
    hup: Signal,
}

impl Signals {
    fn install() -> Result<Self> {
        let on =
            |kind, name| signal(kind).with_context(|| format!("installing the {name} handler"));
        Ok(Self {
            int: on(SignalKind::interrupt(), "SIGINT")?,
            term: on(SignalKind::terminate(), "SIGTERM")?,
            hup: on(SignalKind::hangup(), "SIGHUP")?,
        })
    }

    async fn recv(&mut self) {
        tokio::select! {
            _ = self.int.recv() => {}
            _ = self.term.recv() => {}
            _ = self.hup.recv() => {}
        }
    }
}

pub async fn run(opts: WatchOptions) -> Result<()> {
    // First: a signal from now on stops the trace cleanly (during the
    // start, as soon as it has begun).
    let mut signals = Signals::install()?;
    // Declared first, dropped last: after the programs are detached.
    let mut _unmount = None;
    let host = ns::read_host_namespaces();
    // Inside a container, /proc/self/status cannot tell (its NSpid starts
    // at the container's own pid namespace); the node's namespaces can.
    let pid = |n: &NsSet| n.inum[tracer_common::Ns::Pid as usize];
    if !system::in_root_pid_ns()
        || (pid(&host) != 0 && pid(&ns::ns_set("/proc/self")) != pid(&host))
    {
        anyhow::bail!(
            "the tracer runs in a pid namespace of its own, but kernel events carry the \
             node's pids: run it in the node's pid namespace (Kubernetes: hostPID: true; \
             podman/docker: --pid=host)"
        );
    }
    // Listen before loading anything: a taken port fails at once.
    let server = match opts.metrics {
        Some(addr) => Some(metrics::bind(addr).await?),
        None => None,
    };
    // The path is checked and the new file made before anything is loaded;
    // an existing recording is replaced only once the trace runs.
    let target = opts.output.as_deref().map(record::create).transpose()?;
    let Loaded {
        ebpf,
        mut events,
        stats: stats_map,
        last_wake,
        logger,
        info,
        offsets,
        unmount,
    } = kernel::load(&opts.load, &host)?;
    _unmount = unmount;
    let mut backlog = Vec::new();
    selftest::run(&mut events, &mut backlog)?;
    let (sink, output) = sink::stdout().context("starting the output thread")?;
    let (namer, names) = names(&opts);
    let mut pipeline = start(&opts, &info, &offsets, &host, target, sink)?.with_namer(namer);
    pipeline.name_existing()?;
    if let Some(server) = server {
        let m = Arc::new(Metrics::new(&[
            ("kernel", info.kernel.clone()),
            ("ns_id", info.ns_id.to_string()),
        ]));
        pipeline = pipeline.with_metrics(m.clone());
        if let Some(at) = server.local_addr() {
            eprintln!("tracer: metrics at http://{at}/metrics");
        }
        server.spawn(m);
    }
    let streams = Streams {
        events,
        stats: &stats_map,
        looks: Looks(last_wake),
        logger,
        names,
    };
    let stop = match stream(
        &opts,
        &info,
        streams,
        backlog,
        &mut pipeline,
        &mut signals,
        &output.shared,
    )
    .await
    {
        Ok(stop) => stop,
        Err(e) => {
            // What was recorded so far stays readable (`--lenient`).
            pipeline.flush_recording();
            return Err(e);
        }
    };
    pipeline.set_kernel_stats(counters::read_kernel(&stats_map));
    pipeline.set_output_dropped(output.shared.dropped_lines());
    output.shared.unbounded();
    let (sink, rec) = pipeline.finish(&counters::programs(&ebpf))?;
    drop(sink); // closes the queue: the output thread ends once it is written
    drop(ebpf); // detaches every program
    let written = wait_output(&output, stop, &mut signals).await;
    let path = opts.output.as_deref().unwrap_or(Path::new("-"));
    let dropped = output.shared.dropped_lines();
    if dropped > 0 {
        eprintln!(
            "tracer: warning: {dropped} lines of output were not written: stdout did not keep up"
        );
    }
    if let Some(e) = output.shared.error() {
        eprintln!("tracer: warning: writing to stdout failed: {e}");
    }
    if !written {
        eprintln!("tracer: warning: stopped before stdout took the report");
    }
    match rec {
        Some(Ok(_)) => eprintln!(
            "tracer: recorded to {} (read it with `tracer report {}`)",
            path.display(),
            path.display()
        ),
        Some(Err(f)) => {
            return Err(anyhow!(
                "the recording {} is incomplete: {f} (`tracer report --lenient {}` reads what it holds)",
                path.display(),
                path.display()
            ));
        }
        None => {}
    }
    Ok(())
}

/// Wait for stdout to take the report: as long as it takes after
/// `--duration` (a signal meanwhile cuts it short), never past a second
/// after a stop signal. Whether all was written.
async fn wait_output(output: &sink::Output, stop: Stop, signals: &mut Signals) -> bool {
    let mut deadline = match stop {
        Stop::Signal(at) => Some(at + STOP_WITHIN),
        Stop::Duration | Stop::OutputClosed => None,
    };
    loop {
        if output.done() {
            return true;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return false;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(10)) => {}
            _ = signals.recv() => {
                let soon = Instant::now() + STOP_WITHIN;
                deadline = Some(deadline.map_or(soon, |d| d.min(soon)));
            }
        }
    }
}

/// Who names pods: bundles always, and every resolver that has a socket
/// to ask (CRI; the Docker API), each a task beside the event loop that
/// answers on one shared channel.
fn names(opts: &WatchOptions) -> (Namer, Names) {
    let (tx, rx) = mpsc::channel(cri::ANSWERS);
    let mut asks = Vec::new();
    match cri::choose(opts.cri_socket.as_deref()) {
        Ok(socket) => asks.push(cri::spawn(&socket, tx.clone())),
        Err(why) => cri::say_no_names(&why),
    }
    let docker = DockerNames::open(opts.docker_socket.clone()).map(|d| {
        let (ask, busy) = docker::spawn(d, tx.clone());
        asks.push(ask.clone());
        DockerWaiting { ask, busy }
    });
    // With no resolver, every `tx` is gone here and `rx` closes at once.
    drop(tx);
    let names = Names {
        answers: Some(rx),
        docker,
    };
    (Namer::new(asks), names)
}

/// The identities the resolvers answer, and how to tell whether the
/// Docker API still has some on their way.
struct Names {
    /// `None` once every resolver stopped.
    answers: Option<mpsc::Receiver<Identity>>,
    docker: Option<DockerWaiting>,
}

struct DockerWaiting {
    ask: mpsc::Sender<cri::Ask>,
    busy: Arc<std::sync::atomic::AtomicUsize>,
}

impl Names {
    /// Questions to the Docker API not answered yet (queued or out).
    fn waiting(&self) -> usize {
        self.docker.as_ref().map_or(0, |d| {
            let queued = d.ask.max_capacity() - d.ask.capacity();
            queued + d.busy.load(std::sync::atomic::Ordering::Acquire)
        })
    }

    /// At the end of a trace: the answers in, and those still on their way
    /// from the Docker API, waiting at most `within`. (CRI is not waited
    /// for: it answers what it knows at once, and retries only ids it
    /// does not know yet.)
    async fn settle(&mut self, pipeline: &mut Live, within: Duration) -> Result<()> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let Some(rx) = self.answers.as_mut() else {
                return Ok(());
            };
            while let Ok(i) = rx.try_recv() {
                pipeline.note(&Note::Identity(i))?;
            }
            if self.waiting() == 0 || tokio::time::Instant::now() >= deadline {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// The state at start, taken with the programs attached (whatever happens
/// meanwhile is in the ring buffer, so nothing falls between), and the
/// pipeline that goes on from it. The recording's header is on disk, and
/// the recording in place, before this returns.
fn start(
    opts: &WatchOptions,
    info: &Info,
    offsets: &Offsets,
    host: &NsSet,
    target: Option<Target>,
    sink: Queued,
) -> Result<Live> {
    let clock = Clock::sample();
    let started = clock::boot_now_ns();
    let snapshot = proc::scan();
    let mut model = Model::new();
    model.retention_ns = opts.retention.as_nanos().try_into().unwrap_or(u64::MAX);
    model.seed(&snapshot, host, started);
    let source = Source {
        clock,
        supported: supported_slots(offsets),
        live: true,
    };
    // Loading parsed the kernel's BTF twice (ours and aya's): give that back
    // (glibc only; musl's allocator, in the static build, has no such call).
    // SAFETY: no arguments but a size; glibc's allocator is in use.
    #[cfg(target_env = "gnu")]
    unsafe {
        libc::malloc_trim(0)
    };
    let recorder = match target {
        Some(mut t) => {
            let r = record::start(&t, &info.kernel, &source, started, host, snapshot)?;
            t.commit()?;
            Some(r)
        }
        None => None,
    };
    let out = Output {
        render: renderer(opts.format, clock),
        sink,
        view: opts.view,
    };
    let mut pipeline = Pipeline::new(model, source, out, recorder);
    if let Some(sel) = &opts.focus {
        pipeline.focus(sel.clone());
    }
    Ok(pipeline)
}

/// What the kernel side hands over while tracing.
struct Streams<'a> {
    events: RingBuf<MapData>,
    stats: &'a PerCpuArray<MapData, u64>,
    looks: Looks,
    logger: Option<Logger>,
    /// Identities the resolvers found (until they stop).
    names: Names,
}

/// The reader's half of the kernel's quiet-spell wakeup ([`QUIET_WAKE_NS`]):
/// while the drain timer runs, each look at the ring is noted, so that a
/// record the next tick reads anyway wakes no one (a trickle of records
/// woke the reader twice a period: the kernel, then the timer); once a
/// tick found nothing, 0 is noted, so that the next record wakes it at once.
struct Looks(WakeSlot);

impl Looks {
    /// Note a look at the ring; `timer_on`: the drain timer keeps its short period.
    fn note(&mut self, timer_on: bool) {
        let at = if timer_on { clock::boot_now_ns() } else { 0 };
        // A failed write (never seen; the slot is mapped where it can be)
        // leaves the last value: a wakeup too many, or a record read at the
        // next tick (within 500 ms) instead of at once. The next look writes
        // again.
        self.0.set(at);
    }
}

/// Records read from the ring at a time, before the output is flushed and
/// the loop serves its signals and timers again. A storm that outruns us
/// never lets the ring run empty: one drain to empty then held all the
/// output of that time (214 MiB seen) and kept a stop signal waiting.
const DRAIN_BATCH: usize = 4096;

/// What a drain found.
struct Drained {
    /// Records read.
    read: usize,
    /// The ring ran empty.
    empty: bool,
}

/// Read up to [`DRAIN_BATCH`] records, then flush their output.
fn drain(ring: &mut RingBuf<MapData>, pipeline: &mut Live) -> Result<Drained> {
    let mut read = 0;
    let mut empty = false;
    while read < DRAIN_BATCH {
        let Some(item) = ring.next() else {
            empty = true;
            break;
        };
        pipeline.event(&item)?;
        read += 1;
    }
    pipeline.flush()?;
    Ok(Drained { read, empty })
}

type Logger = aya_log::EbpfLogger<&'static dyn log::Log>;
type Ring = AsyncFd<RingBuf<MapData>>;

/// The ring buffer and the eBPF log, watched by the async runtime.
fn register(
    events: RingBuf<MapData>,
    logger: Option<Logger>,
) -> Result<(Ring, Option<AsyncFd<Logger>>)> {
    // SAFETY: the ring buffer owns its map fd and never replaces or closes it while registered.
    let ring = unsafe { AsyncFd::register_with_interest(events, Interest::READABLE) }
        .map_err(|e| anyhow::anyhow!("watching the ring buffer: {}", e.into_parts().1))?;
    let logger = match logger {
        Some(l) => Some(
            // SAFETY: the logger owns its map fd and never replaces or closes it while registered.
            unsafe { AsyncFd::register_with_interest(l, Interest::READABLE) }
                .map_err(|e| anyhow::anyhow!("watching the eBPF log: {}", e.into_parts().1))?,
        ),
        None => None,
    };
    Ok((ring, logger))
}

/// What the loop says at most once: loss counters as they move, the
/// recording's first failure.
struct Said {
    /// The kernel's counters when a loss was last said.
    reported: KernelStats,
    failure: bool,
}

impl Said {
    /// Once a second: the kernel's loss counters (said as soon as they
    /// move), the recording flushed, its first failure said.
    fn once_a_second(
        &mut self,
        opts: &WatchOptions,
        stats: &PerCpuArray<MapData, u64>,
        pipeline: &mut Live,
        out: &sink::Shared,
    ) -> Result<()> {
        let kernel = counters::read_kernel(stats);
        pipeline.set_kernel_stats(kernel);
        pipeline.set_output_dropped(out.dropped_lines());
        if kernel.lost_more_than(&self.reported) {
            pipeline.stats_line()?;
            self.reported = kernel;
        }
        pipeline.flush_recording();
        if !self.failure
            && let Some(f) = pipeline.recording_failure()
        {
            let path = opts.output.as_deref().unwrap_or(Path::new("-"));
            eprintln!(
                "tracer: error: the recording {}: {f}; tracing goes on without it, the report follows",
                path.display()
            );
            self.failure = true;
        }
        Ok(())
    }
}

/// What the loop does once a drain period (at a tick, or at a wakeup
/// that long after the last time): verdicts due, stdout's end,
/// `--duration`, and once a second the slow work.
struct Chores {
    /// When they were last done.
    last: Instant,
    /// When the once-a-second work was last done.
    second: Instant,
    deadline: Option<Instant>,
    said: Said,
}

impl Chores {
    /// The timer's period while nothing comes: [`IDLE_EVERY`], or less to
    /// stop at `--duration` on time.
    fn idle_period(&self) -> Duration {
        let left = self
            .deadline
            .map_or(IDLE_EVERY, |d| d.saturating_duration_since(Instant::now()));
        left.clamp(DRAIN_EVERY, IDLE_EVERY)
    }

    /// Do them; why the trace stops, if it does.
    fn run(
        &mut self,
        opts: &WatchOptions,
        stats: &PerCpuArray<MapData, u64>,
        pipeline: &mut Live,
        out: &sink::Shared,
    ) -> Result<Option<Stop>> {
        self.last = Instant::now();
        // Verdicts due while no event came (a leak's grace).
        pipeline.tick(clock::boot_now_ns())?;
        if out.closed() {
            return Ok(Some(Stop::OutputClosed));
        }
        if self.second.elapsed() >= Duration::from_secs(1) {
            self.second = Instant::now();
            self.said.once_a_second(opts, stats, pipeline, out)?;
        }
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(Some(Stop::Duration));
        }
        Ok(None)
    }
}

/// The event loop; ends after a final drain of the ring buffer.
async fn stream(
    opts: &WatchOptions,
    info: &Info,
    streams: Streams<'_>,
    backlog: Vec<Vec<u8>>,
    pipeline: &mut Live,
    signals: &mut Signals,
    out: &sink::Shared,
) -> Result<Stop> {
    pipeline.ready(info)?;
    pipeline.running_at_start()?;
    if let Some(stall) = opts.stall {
        tokio::time::sleep(stall).await;
    }
    for rec in &backlog {
        pipeline.event(rec)?;
    }
    pipeline.flush()?;

    let (mut ring, mut logger) = register(streams.events, streams.logger)?;
    let mut names = streams.names;
    let mut looks = streams.looks;
    let deadline = opts.duration.map(|d| Instant::now() + d);
    // The programs wake us when a thirty-second of the ring waits, or for
    // the first record after a quiet spell (see tracer-ebpf's `wakeup`);
    // the rest of a trickle is picked up by this timer. It is the loop's
    // only timer: once a second it also does the slow work, and it checks
    // `--duration`.
    let mut timer = Ticker::new(DRAIN_EVERY).context("starting the drain timer")?;
    let mut chores = Chores {
        last: Instant::now(),
        second: Instant::now(),
        deadline,
        said: Said {
            reported: pipeline.stats().kernel,
            failure: false,
        },
    };

    // The last drain stopped at its batch: the ring holds more, and no
    // wakeup may come for it (the kernel wakes us as it crosses its mark).
    let mut more = false;
    // The timer's period: longer once a tick found nothing.
    let mut period = DRAIN_EVERY;
    let stop = loop {
        tokio::select! {
            guard = ring.readable_mut() => {
                let mut guard = guard.context("waiting on the ring buffer")?;
                more = !drain(guard.get_inner_mut(), pipeline)?.empty;
                guard.clear_ready();
                // Drained: the next tick a period from now. A flow that
                // wakes us at least this often needs no tick at all (a
                // wakeup each, ≈ 30–50 µs); the chores come with it.
                period = DRAIN_EVERY;
                timer.set_period(period).context("setting the drain timer")?;
                looks.note(true);
                if chores.last.elapsed() >= DRAIN_EVERY
                    && let Some(stop) = chores.run(opts, streams.stats, pipeline, out)?
                {
                    break stop;
                }
            }
            () = std::future::ready(()), if more => {
                more = !drain(ring.get_mut(), pipeline)?.empty;
            }
            passed = timer.tick() => {
                passed.context("reading the drain timer")?;
                let d = drain(ring.get_mut(), pipeline)?;
                more = !d.empty;
                // Nothing came for a period: the next record wakes us.
                let want = if d.read == 0 { chores.idle_period() } else { DRAIN_EVERY };
                if want != period {
                    period = want;
                    timer.set_period(period).context("setting the drain timer")?;
                }
                looks.note(period == DRAIN_EVERY);
                // A record that came after this drain but before the note
                // (within a period of the last look) woke no one, and the
                // timer now sleeps long: look once more.
                more |= period != DRAIN_EVERY;
                if let Some(stop) = chores.run(opts, streams.stats, pipeline, out)? {
                    break stop;
                }
            }
            guard = async {
                match logger.as_mut() {
                    Some(l) => l.readable_mut().await,
                    None => std::future::pending().await,
                }
            } => {
                let mut guard = guard.context("waiting on the eBPF log")?;
                guard.get_inner_mut().flush();
                guard.clear_ready();
            }
            answer = async {
                match names.answers.as_mut() {
                    Some(n) => n.recv().await,
                    None => std::future::pending().await,
                }
            } => match answer {
                Some(i) => pipeline.note(&Note::Identity(i))?,
                // Every resolver stopped (and said why).
                None => names.answers = None,
            },
            _ = signals.recv() => break Stop::Signal(Instant::now()),
        }
    };
    // Drain what arrived before the stop (within a bound: a storm may
    // still be filling the ring), and the names asked for.
    let until = Instant::now() + STOP_WITHIN / 2;
    while !drain(ring.get_mut(), pipeline)?.empty && Instant::now() < until {}
    names.settle(pipeline, NAMES_GRACE).await?;
    Ok(stop)
}
