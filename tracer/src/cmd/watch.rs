//! `tracer watch` and `tracer record`: load, self-test, take the state at
//! start, then stream events through the pipeline until Ctrl-C, SIGTERM or
//! `--duration`, and end with the report.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use aya::maps::{MapData, PerCpuArray, RingBuf};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

use tracer_common::{NsSet, Offsets};

use super::record;
use crate::clock::{self, Clock};
use crate::decode::supported_slots;
use crate::host::{cri, ns, proc};
use crate::kernel::{self, Info, Loaded, counters, loader, selftest};
use crate::model::Identity;
use crate::model::Model;
use crate::pipeline::{Namer, Output, Pipeline, Source, View};
use crate::render::{Format, renderer};

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
    /// Ask this CRI socket for pod names (default: the first that exists
    /// of [`cri::DEFAULT_SOCKETS`]).
    pub cri_socket: Option<PathBuf>,
}

/// How often the ring buffer is read without a wakeup: the live view's
/// latency for a trickle of events.
const DRAIN_EVERY: Duration = Duration::from_millis(50);

type Live = Pipeline<BufWriter<std::io::StdoutLock<'static>>, BufWriter<File>>;

/// Stdout closed by the reader (`tracer | head`): stop quietly.
fn closed(e: &anyhow::Error) -> bool {
    e.downcast_ref::<std::io::Error>()
        .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
}

pub async fn run(opts: WatchOptions) -> Result<()> {
    let file = opts.output.as_deref().map(record::create).transpose()?;
    let host = ns::read_host_namespaces();
    let Loaded {
        ebpf,
        mut events,
        stats: stats_map,
        logger,
        info,
        offsets,
    } = kernel::load(&opts.load, &host)?;
    let mut backlog = Vec::new();
    selftest::run(&mut events, &mut backlog)?;
    let (namer, names) = names(&opts);
    let mut pipeline = start(&opts, &info, &offsets, &host, file)?.with_namer(namer);
    pipeline.name_existing()?;
    let streams = Streams {
        events,
        stats: &stats_map,
        logger,
        names,
    };
    match stream(&opts, &info, streams, backlog, &mut pipeline).await {
        Err(e) if closed(&e) => {}
        Err(e) => return Err(e),
        Ok(()) => {
            pipeline.set_kernel_stats(counters::read_kernel(&stats_map));
            let (_, rec) = pipeline.finish(&counters::programs(&ebpf))?;
            if let (Some(mut rec), Some(path)) = (rec, &opts.output) {
                rec.flush()?;
                eprintln!(
                    "tracer: recorded to {} (read it with `tracer report {}`)",
                    path.display(),
                    path.display()
                );
            }
        }
    }
    drop(ebpf); // detaches every program
    Ok(())
}

/// Who names pods: bundles always, and the CRI socket's answers (a task
/// beside the event loop) when there is a socket to ask. Another source
/// (Docker) is one more resolver given a clone of `tx` and pushed on `asks`.
fn names(opts: &WatchOptions) -> (Namer, Option<mpsc::Receiver<Identity>>) {
    let (tx, rx) = mpsc::channel(cri::ANSWERS);
    let mut asks = Vec::new();
    match cri::choose(opts.cri_socket.as_deref()) {
        Ok(socket) => asks.push(cri::spawn(&socket, tx)),
        Err(why) => cri::say_no_names(&why),
    }
    // With no resolver, `tx` is gone here and `rx` closes at once.
    (Namer::new(asks), Some(rx))
}

/// The state at start, taken with the programs attached (whatever happens
/// meanwhile is in the ring buffer, so nothing falls between), and the
/// pipeline that goes on from it.
fn start(
    opts: &WatchOptions,
    info: &Info,
    offsets: &Offsets,
    host: &NsSet,
    file: Option<File>,
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
    // Loading parsed the kernel's BTF twice (ours and aya's): give that back.
    // SAFETY: no arguments but a size; glibc's allocator is in use.
    unsafe { libc::malloc_trim(0) };
    let recorder = match file {
        Some(f) => Some(record::start(
            f,
            &info.kernel,
            &source,
            started,
            host,
            snapshot,
        )?),
        None => None,
    };
    let out = Output {
        render: renderer(opts.format, clock),
        sink: BufWriter::with_capacity(1 << 16, std::io::stdout().lock()),
        view: opts.view,
    };
    Ok(Pipeline::new(model, source, out, recorder))
}

/// What the kernel side hands over while tracing.
struct Streams<'a> {
    events: RingBuf<MapData>,
    stats: &'a PerCpuArray<MapData, u64>,
    logger: Option<Logger>,
    /// Identities the CRI resolver found (until it stops).
    names: Option<mpsc::Receiver<Identity>>,
}

/// Every record waiting in the ring buffer, through the pipeline; how many.
fn drain(ring: &mut RingBuf<MapData>, pipeline: &mut Live) -> Result<usize> {
    let mut n = 0;
    while let Some(item) = ring.next() {
        pipeline.event(&item)?;
        n += 1;
    }
    Ok(n)
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

/// The event loop; ends after a final drain of the ring buffer.
async fn stream(
    opts: &WatchOptions,
    info: &Info,
    streams: Streams<'_>,
    backlog: Vec<Vec<u8>>,
    pipeline: &mut Live,
) -> Result<()> {
    // Signals first: a Ctrl-C from now on stops cleanly.
    let mut sigterm = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut sigint = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
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
    let deadline = tokio::time::sleep(
        opts.duration
            .unwrap_or(Duration::from_secs(u32::MAX.into())),
    );
    tokio::pin!(deadline);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    // The programs wake us only when 64 KiB wait (see tracer-ebpf's
    // `wakeup`); a trickle is picked up by this timer instead.
    let mut timer = tokio::time::interval(DRAIN_EVERY);
    timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut reported = pipeline.stats().kernel;

    loop {
        tokio::select! {
            guard = ring.readable_mut() => {
                let mut guard = guard.context("waiting on the ring buffer")?;
                drain(guard.get_inner_mut(), pipeline)?;
                guard.clear_ready();
                pipeline.flush()?;
            }
            _ = timer.tick() => {
                if drain(ring.get_mut(), pipeline)? > 0 {
                    pipeline.flush()?;
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
                match names.as_mut() {
                    Some(n) => n.recv().await,
                    None => std::future::pending().await,
                }
            } => match answer {
                Some(i) => pipeline.note(&crate::model::Note::Identity(i))?,
                // The resolver stopped (and said why).
                None => names = None,
            },
            _ = tick.tick() => {
                // Say so as soon as the kernel reports a loss.
                let kernel = counters::read_kernel(streams.stats);
                pipeline.set_kernel_stats(kernel);
                if kernel != reported {
                    pipeline.stats_line()?;
                    reported = kernel;
                }
            }
            _ = sigint.recv() => break,
            _ = sigterm.recv() => break,
            _ = &mut deadline => break,
        }
    }
    // Drain what arrived before the stop.
    drain(ring.get_mut(), pipeline)?;
    Ok(())
}
