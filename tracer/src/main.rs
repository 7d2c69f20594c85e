//! The `tracer` command line: parse, then hand over to `tracer::cmd`.

#![deny(clippy::undocumented_unsafe_blocks)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, CommandFactory, Parser, Subcommand};

use tracer::cmd::{bench_recording, man, replay, watch};
use tracer::kernel::loader;
use tracer::model;
use tracer::pipeline::View;
use tracer::render::Format;
use tracer::report::Selector;
use tracer::testkit::synthetic;

/// Trace how pod sandboxes' namespaces are created, joined and left.
///
/// eBPF programs on clone/clone3, unshare, setns, exec and exit see every
/// namespace change on the node. The tracer rebuilds each pod sandbox from
/// them: which process created its namespaces, when its pause started,
/// when every container joined and left, how long each step took — live,
/// with a report at the end, or later from a recording.
///
/// Needs root to trace. From a checkout: `sudo -E env "PATH=$PATH" cargo xtask run`.
#[derive(Parser, Debug)]
#[command(version, args_conflicts_with_subcommands = true, after_help = EXAMPLES)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Options for the default command, `watch`.
    #[command(flatten)]
    watch: WatchArgs,
}

const EXAMPLES: &str = "\
Examples:
  tracer                            pod lifecycle lines until Ctrl-C, then the report
  tracer --raw                      every kernel event instead of pod lines
  tracer --json --duration 30       JSON lines for 30 seconds (schema: docs/json.md)
  tracer record -o pods.trace       trace and record, for `tracer report` elsewhere
  tracer report pods.trace          the report of a recording (no root needed)
  tracer report pods.trace --netns /run/netns/cni-1234
                                    one netns's story: creator, tasks, visitors, pins, verdict
  tracer --pod 3f2a9c               live lines of one pod only, then its story

  tracer report pods.trace --html pods.html        the timeline and tables as one page
  tracer report pods.trace --perfetto pods.json    the timeline for ui.perfetto.dev";

#[derive(Subcommand, Debug)]
enum Command {
    /// Trace live (the default): pod lifecycle lines, then a report.
    Watch(WatchArgs),
    /// Trace live and record everything to a file as well.
    Record {
        /// The recording to write: private (0600), never through a symbolic
        /// link; an existing file is replaced only once the trace runs.
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        #[command(flatten)]
        watch: WatchArgs,
    },
    /// Rebuild the report of a recording (offline; no root needed).
    Report {
        /// A file written by `tracer record`.
        file: PathBuf,
        /// The report as one JSON object (`type: report`).
        #[arg(long, conflicts_with_all = ["perfetto", "html"])]
        json: bool,
        /// First every recorded kernel event, as `--raw` showed them live
        /// (with `--json`, the same lines); then the report.
        #[arg(long, conflicts_with_all = ["perfetto", "html"])]
        raw: bool,
        /// Write the timeline as Chrome JSON trace events to FILE, for
        /// ui.perfetto.dev: a track per namespace, pause, container, exec.
        #[arg(long, value_name = "FILE", conflicts_with = "html")]
        perfetto: Option<PathBuf>,
        /// Write one self-contained HTML page to FILE: the timeline
        /// (zoomable) and the report's tables.
        #[arg(long, value_name = "FILE")]
        html: Option<PathBuf>,
        /// On a truncated or corrupt recording, report what came before
        /// instead of failing.
        #[arg(long)]
        lenient: bool,
        /// As for `watch`: the same value gives the live run's report.
        #[arg(long, value_name = "SECONDS", default_value_t = RETENTION_S)]
        retention: f64,
        #[command(flatten)]
        story: StoryArgs,
    },
    /// Print a shell completion script (e.g. `tracer completions bash >
    /// /etc/bash_completion.d/tracer`).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write the man pages (tracer.1 and one per command) into DIR.
    #[command(hide = true)]
    Man {
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
    /// Write a synthetic recording for the replay benchmark.
    #[command(hide = true)]
    BenchRecording {
        #[arg(short, long)]
        output: PathBuf,
        #[arg(long, default_value_t = 10_000)]
        sandboxes: u32,
        #[arg(long, default_value_t = 1_000_000)]
        events: u64,
        /// Pods running at once.
        #[arg(long, default_value_t = 1_000)]
        live: u32,
    },
}

/// One namespace's or sandbox's story instead of the whole report.
#[derive(Args, Debug, Default)]
struct StoryArgs {
    /// Only this sandbox: its lifecycle lines, then its story (creator,
    /// tasks, visitors, pins, verdict) instead of the report. ID is its
    /// number in the report, or a prefix of its pod uid or sandbox id.
    #[arg(long, value_name = "ID", conflicts_with = "netns")]
    pod: Option<String>,
    /// Only this network namespace and the sandboxes that hold it, as
    /// `--pod` does. An inode number, or a path that names it: a pin
    /// (`/run/netns/cni-…`) or `/proc/<pid>/ns/net`.
    #[arg(long, value_name = "INODE|PATH")]
    netns: Option<String>,
}

impl StoryArgs {
    fn selector(&self) -> Option<Selector> {
        match (&self.pod, &self.netns) {
            (Some(id), _) => Some(Selector::Pod(id.clone())),
            (None, Some(ns)) => Some(Selector::netns(ns)),
            (None, None) => None,
        }
    }
}

#[derive(Args, Debug)]
struct WatchArgs {
    /// Print JSON lines (one object per line, each with a "type") instead of text.
    #[arg(long)]
    json: bool,
    /// Show every kernel event instead of pod lifecycle lines.
    #[arg(long, conflicts_with = "quiet")]
    raw: bool,
    /// Print nothing while tracing; only the report at the end.
    #[arg(long, short)]
    quiet: bool,
    /// Stop by itself after this many seconds (default: run until Ctrl-C or SIGTERM).
    #[arg(long, value_name = "SECONDS")]
    duration: Option<f64>,
    /// Send every fork, exec and exit to userspace. By default those of
    /// tasks entirely in the host's net, ipc, uts and pid namespaces stay
    /// in the kernel (no pod step is among them); namespace changes always come.
    #[arg(long)]
    all: bool,
    /// Keep sandboxes that ended this long ago (trace time) in full in the
    /// report; older ones are summarised, so memory stays bounded.
    #[arg(long, value_name = "SECONDS", default_value_t = RETENTION_S)]
    retention: f64,
    /// Ask the Docker API at this socket who Docker's containers are (the
    /// kubelet's labels: pod namespace/name/uid, container names). Default:
    /// /run/docker.sock where it exists.
    #[arg(long, value_name = "PATH")]
    docker_socket: Option<PathBuf>,
    /// Ring buffer size in KiB: a power of two, at least the page size, at
    /// most 262144 (256 MiB; the kernel maps the ring twice, so it counts
    /// twice in the tracer's memory). Bigger rides out longer bursts; drops
    /// are always counted.
    #[arg(long, value_name = "KIB", default_value_t = tracer_common::EVENTS_BYTES / 1024, value_parser = ring_kib)]
    ring_kib: u32,
    /// Testing only: wait this long before reading the ring buffer.
    #[arg(long, value_name = "MS", hide = true)]
    debug_stall_ms: Option<u64>,
    /// Benchmarks only: every program returns at once (unshare's but for
    /// the tracer's self-test): what running any program at these
    /// tracepoints costs. Prints nothing of other processes.
    #[arg(long, hide = true)]
    debug_idle_programs: bool,
    /// BTF of the running kernel, for kernels without /sys/kernel/btf/vmlinux.
    #[arg(long, value_name = "PATH", default_value = loader::DEFAULT_BTF)]
    btf: PathBuf,
    /// Serve Prometheus/OpenMetrics metrics at http://ADDR/metrics (e.g.
    /// 127.0.0.1:9464): events by kind, losses, sandboxes, phase histograms.
    #[arg(long, value_name = "ADDR")]
    metrics: Option<std::net::SocketAddr>,
    /// Show the eBPF programs' own diagnostics (failed kernel reads, lost
    /// events) at this level or above; off by default, and then free.
    #[arg(long, value_name = "LEVEL", num_args = 0..=1, default_missing_value = "warn")]
    ebpf_log: Option<log::LevelFilter>,
    #[command(flatten)]
    story: StoryArgs,
    /// Ask this CRI socket for pod names (`namespace/pod`, container
    /// names, the runtime's version). Default: the first that exists of
    /// /run/containerd/containerd.sock, /run/crio/crio.sock,
    /// /run/k3s/containerd/containerd.sock, /run/cri-dockerd.sock.
    /// Without one, pods are named from their bundles' labels where found.
    #[arg(long, value_name = "PATH")]
    cri_socket: Option<PathBuf>,
}

const RETENTION_S: f64 = (model::RETENTION_NS / 1_000_000_000) as f64;

fn seconds(s: f64, what: &str) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(s)
        .map_err(|_| anyhow::anyhow!("{what} must be a non-negative number of seconds, got {s}"))
}

/// Largest `--ring-kib`: 256 MiB, which the kernel maps twice (512 MiB of
/// the tracer's memory): past any burst worth riding out.
const RING_KIB_MAX: u32 = 256 << 10;

fn ring_kib(s: &str) -> Result<u32, String> {
    // SAFETY: sysconf has no memory arguments.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    let page_kib = u32::try_from(page / 1024).unwrap_or(4).max(1);
    match s.parse::<u32>() {
        Ok(k) if k.is_power_of_two() && k >= page_kib && k <= RING_KIB_MAX => Ok(k),
        _ => Err(format!(
            "must be a power of two between {page_kib} and {RING_KIB_MAX} (KiB; 256 MiB, mapped twice by the kernel)"
        )),
    }
}

fn duration(secs: Option<f64>) -> anyhow::Result<Option<Duration>> {
    secs.map(|s| {
        Duration::try_from_secs_f64(s).map_err(|_| {
            anyhow::anyhow!("--duration must be a non-negative number of seconds, got {s}")
        })
    })
    .transpose()
}

fn init_logging(ebpf_log: Option<log::LevelFilter>) {
    // The eBPF programs log under the target "tracer" (their binary's name).
    let default = match ebpf_log {
        Some(l) => format!("warn,tracer={}", l.as_str().to_lowercase()),
        None => "warn".into(),
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default))
        .format_timestamp_micros()
        .init();
}

fn format(json: bool) -> Format {
    if json { Format::Json } else { Format::Text }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let (args, output) = match cli.command {
        Some(Command::Watch(a)) => (a, None),
        None => (cli.watch, None),
        Some(Command::Record { output, watch }) => (watch, Some(output)),
        Some(Command::Report {
            file,
            json,
            raw,
            perfetto,
            html,
            lenient,
            retention,
            story,
        }) => {
            init_logging(None);
            let (format, to) = match (perfetto, html) {
                (Some(p), _) => (Format::Perfetto, Some(p)),
                (_, Some(h)) => (Format::Html, Some(h)),
                _ => (format(json), None),
            };
            return replay::run(
                &file,
                replay::Options {
                    format,
                    to,
                    raw,
                    lenient,
                    retention: seconds(retention, "--retention")?,
                    focus: story.selector(),
                },
            );
        }
        Some(Command::Completions { shell }) => {
            // Into memory first: clap_complete panics on a failed write.
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "tracer", &mut script);
            return match std::io::Write::write_all(&mut std::io::stdout(), &script) {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
                _ => Ok(()),
            };
        }
        Some(Command::Man { dir }) => {
            man::write_pages(Cli::command(), &dir)?;
            return Ok(());
        }
        Some(Command::BenchRecording {
            output,
            sandboxes,
            events,
            live,
        }) => {
            let load = synthetic::Workload {
                sandboxes,
                events,
                live,
            };
            let n = bench_recording::write(&output, load)?;
            eprintln!(
                "tracer: wrote {n} events in {sandboxes} pods to {}",
                output.display()
            );
            return Ok(());
        }
    };
    init_logging(args.ebpf_log);
    let view = match (args.raw, args.quiet) {
        (true, _) => View::Raw,
        (_, true) => View::Quiet,
        _ => View::Pods,
    };
    watch::run(watch::WatchOptions {
        load: loader::Options {
            btf: args.btf,
            ebpf_log: args.ebpf_log,
            filter: !args.all,
            ring_bytes: args.ring_kib * 1024,
            clone_failures: view == View::Raw || args.metrics.is_some() || output.is_some(),
            idle: args.debug_idle_programs,
        },
        format: format(args.json),
        view,
        duration: duration(args.duration)?,
        output,
        stall: args.debug_stall_ms.map(Duration::from_millis),
        retention: seconds(args.retention, "--retention")?,
        docker_socket: args.docker_socket,
        focus: args.story.selector(),
        metrics: args.metrics,
        cri_socket: args.cri_socket,
    })
    .await
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tracer: error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tracer: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watch_is_the_default_and_options_parse() {
        let cli = Cli::try_parse_from(["tracer", "--json", "--duration", "1.5"]).unwrap();
        assert!(cli.command.is_none());
        assert!(cli.watch.json);
        assert_eq!(
            duration(cli.watch.duration).unwrap(),
            Some(Duration::from_millis(1500))
        );
        let cli = Cli::try_parse_from(["tracer", "watch", "--ebpf-log"]).unwrap();
        let Some(Command::Watch(w)) = cli.command else {
            panic!("not watch")
        };
        assert_eq!(w.ebpf_log, Some(log::LevelFilter::Warn));
    }

    #[test]
    fn the_ring_buffer_is_capped_and_says_why() {
        assert_eq!(ring_kib("262144"), Ok(262144));
        let e = ring_kib("1048576").unwrap_err();
        assert!(e.contains("262144") && e.contains("mapped twice"), "{e}");
        assert!(ring_kib("3").is_err() && ring_kib("12").is_err());
    }

    #[test]
    fn bad_durations_are_refused() {
        assert!(duration(Some(-1.0)).is_err());
        assert!(Cli::try_parse_from(["tracer", "--duration", "soon"]).is_err());
    }
}
