//! `tracer watch`: load, self-test, then stream events from the ring buffer
//! to the output until Ctrl-C, SIGTERM or `--duration`.

use std::io::{BufWriter, Write};
use std::time::Duration;

use anyhow::{Context, Result};
use aya::maps::{MapData, PerCpuArray, RingBuf};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::signal::unix::{SignalKind, signal};

use crate::clock::Clock;
use crate::event::{decode, supported_slots, unread};
use crate::loader::{self, Loaded};
use crate::output::{Format, Printer};
use crate::selftest;
use crate::stats::{self, Stats};

pub struct WatchOptions {
    pub load: loader::Options,
    pub format: Format,
    pub duration: Option<Duration>,
}

/// Decode one record and hand it to the output; bad records are counted and
/// reported, never fatal.
fn handle<W: Write>(bytes: &[u8], out: &mut Printer<W>, st: &mut Stats) -> std::io::Result<()> {
    st.events += 1;
    match decode(bytes) {
        Ok(ev) => {
            if !unread(&ev, out.supported()).is_empty() {
                st.unread += 1;
            }
            out.event(&ev)
        }
        Err(e) => {
            st.decode_errors += 1;
            out.decode_error(&e, bytes.len())
        }
    }
}

/// Stdout closed by the reader (`tracer | head`): stop quietly.
fn closed(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::BrokenPipe
}

pub async fn run(opts: WatchOptions) -> Result<()> {
    let Loaded {
        ebpf,
        mut events,
        stats: stats_map,
        logger,
        info,
        offsets,
    } = loader::load(&opts.load)?;
    let mut backlog = Vec::new();
    selftest::run(&mut events, &mut backlog)?;

    let clock = Clock::sample();
    let stdout = std::io::stdout().lock();
    let supported = supported_slots(&offsets);
    let mut out = Printer::new(
        BufWriter::with_capacity(1 << 16, stdout),
        opts.format,
        clock,
        supported,
    );
    let mut st = Stats::default();
    let result = stream(
        &opts, &info, events, &stats_map, logger, backlog, &mut out, &mut st,
    )
    .await;
    drop(ebpf); // detaches every program
    match result {
        Err(e) if e.downcast_ref::<std::io::Error>().is_some_and(closed) => Ok(()),
        other => other,
    }
}

/// The event loop; ends with a final drain and the loss counts.
#[allow(clippy::too_many_arguments)]
async fn stream<W: Write>(
    opts: &WatchOptions,
    info: &loader::Info,
    events: RingBuf<MapData>,
    stats_map: &PerCpuArray<MapData, u64>,
    logger: Option<aya_log::EbpfLogger<&'static dyn log::Log>>,
    backlog: Vec<Vec<u8>>,
    out: &mut Printer<W>,
    st: &mut Stats,
) -> Result<()> {
    out.ready(info)?;
    for rec in &backlog {
        handle(rec, out, st)?;
    }
    out.flush()?;

    // SAFETY: both own their map fd and never replace or close it while registered.
    let mut ring = unsafe { AsyncFd::register_with_interest(events, Interest::READABLE) }
        .map_err(|e| anyhow::anyhow!("watching the ring buffer: {}", e.into_parts().1))?;
    let mut logger = match logger {
        Some(l) => Some(
            unsafe { AsyncFd::register_with_interest(l, Interest::READABLE) }
                .map_err(|e| anyhow::anyhow!("watching the eBPF log: {}", e.into_parts().1))?,
        ),
        None => None,
    };
    let mut sigterm = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut sigint = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let deadline = tokio::time::sleep(
        opts.duration
            .unwrap_or(Duration::from_secs(u32::MAX.into())),
    );
    tokio::pin!(deadline);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut reported = st.kernel;

    loop {
        tokio::select! {
            guard = ring.readable_mut() => {
                let mut guard = guard.context("waiting on the ring buffer")?;
                let rb = guard.get_inner_mut();
                while let Some(item) = rb.next() {
                    handle(&item, out, st)?;
                }
                guard.clear_ready();
                out.flush()?;
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
            _ = tick.tick() => {
                // Say so as soon as the kernel reports a loss.
                st.kernel = stats::read_kernel(stats_map);
                if st.kernel != reported {
                    out.stats(st, false)?;
                    reported = st.kernel;
                }
            }
            _ = sigint.recv() => break,
            _ = sigterm.recv() => break,
            _ = &mut deadline => break,
        }
    }
    // Drain what arrived before the stop, then report the final counts.
    let rb = ring.get_mut();
    while let Some(item) = rb.next() {
        handle(&item, out, st)?;
    }
    st.kernel = stats::read_kernel(stats_map);
    out.stats(st, true)?;
    Ok(())
}
