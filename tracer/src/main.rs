//! `tracer`: a pod sandbox lifecycle tracer for Kubernetes nodes.
//!
//! Pipeline: `loader` (BTF offsets, load, attach) → ring buffer → `event`
//! (pure decode) → `output` (lines or JSON), driven by `watch`.

mod btf;
mod cgroup;
mod clock;
mod event;
mod flags;
mod loader;
mod model;
mod output;
mod procscan;
mod selftest;
mod stats;
mod watch;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::output::Format;

/// Trace how pod sandboxes' namespaces are created, joined and left.
///
/// eBPF programs on clone/clone3, unshare, setns, exec and exit report every
/// namespace change on this node with the namespaces' inode numbers (and
/// the kernel's never-reused namespace ids where it has them).
///
/// Needs root. From a checkout: `sudo -E env "PATH=$PATH" cargo xtask run`.
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
  tracer                          stream events as readable lines until Ctrl-C
  tracer --json --duration 30     JSON lines for 30 seconds (schema: docs/json.md)
  tracer --ebpf-log debug         also show the eBPF programs' own diagnostics";

#[derive(Subcommand, Debug)]
enum Command {
    /// Stream namespace events live (the default).
    Watch(WatchArgs),
}

#[derive(Args, Debug)]
struct WatchArgs {
    /// Print JSON lines (one object per line, each with a "type") instead of text.
    #[arg(long)]
    json: bool,
    /// Stop by itself after this many seconds (default: run until Ctrl-C or SIGTERM).
    #[arg(long, value_name = "SECONDS")]
    duration: Option<f64>,
    /// BTF of the running kernel, for kernels without /sys/kernel/btf/vmlinux.
    #[arg(long, value_name = "PATH", default_value = loader::DEFAULT_BTF)]
    btf: PathBuf,
    /// Show the eBPF programs' own diagnostics (failed kernel reads, lost
    /// events) at this level or above; off by default, and then free.
    #[arg(long, value_name = "LEVEL", num_args = 0..=1, default_missing_value = "warn")]
    ebpf_log: Option<log::LevelFilter>,
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

async fn run(cli: Cli) -> anyhow::Result<()> {
    let args = match cli.command {
        Some(Command::Watch(a)) => a,
        None => cli.watch,
    };
    init_logging(args.ebpf_log);
    watch::run(watch::WatchOptions {
        load: loader::Options {
            btf: args.btf,
            ebpf_log: args.ebpf_log,
        },
        format: if args.json {
            Format::Json
        } else {
            Format::Text
        },
        duration: duration(args.duration)?,
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
    fn bad_durations_are_refused() {
        assert!(duration(Some(-1.0)).is_err());
        assert!(Cli::try_parse_from(["tracer", "--duration", "soon"]).is_err());
    }
}
