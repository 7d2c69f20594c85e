//! `cargo xtask`: everything between a fresh clone and a running tracer,
//! one file per job: `build` (build-ebpf, build), `run`, `test`, `fuzz`, `bench/`;
//! beside them `setup` (system packages), `toolchain` (nightly, rust-src,
//! bpf-linker) and `command` (as the user, as root, where).
//!
//! Builds always run as the invoking user (under `sudo`, as `$SUDO_USER`);
//! only the tracer and the end-to-end tests run with privilege.

mod bench;
mod build;
mod command;
mod dist;
mod fuzz;
mod image;
mod run;
mod setup;
mod test;
mod toolchain;

use anyhow::Result;
use clap::{Parser, Subcommand};

use command::{run, workspace};

#[derive(Parser)]
#[command(about = "Build, run, test and benchmark the sandbox lifecycle tracer")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Set up nightly rust-src and bpf-linker if needed, then build the eBPF programs.
    BuildEbpf,
    /// Build everything; leaves the tracer at target/release/tracer.
    Build,
    /// A static tracer (musl, eBPF inside) with shell completions and man
    /// pages, for nodes without a toolchain: target/dist/.
    Dist,
    /// The static tracer in a FROM-scratch container image (podman build):
    /// localhost/tracer:<version>; deploy/ says how a node runs it.
    Image,
    /// Build, then run the tracer as root (through `sudo -E` when not root).
    ///
    /// Arguments after `--` go to the tracer: `cargo xtask run -- --json --duration 5`.
    Run {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Install what the tests need (as root on Debian/Ubuntu), then the unit
    /// tests, then the privileged end-to-end tests against the real kernel.
    Test {
        /// Only the unit tests (no root needed).
        #[arg(long)]
        unit_only: bool,
        /// Extra arguments for the end-to-end test harness (a test name filter, say).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Fuzz the recording reader and the record decoder (nightly, cargo-fuzz;
    /// installs cargo-fuzz when missing). Crashes land in tracer/fuzz/artifacts.
    Fuzz {
        /// How long to fuzz each target.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// Only this target (recording, decode).
        target: Option<String>,
    },
    /// Measure the tracer's cost beside no tracer, bpftrace and a /proc poller
    /// (root; ~12 min, --quick ~4 min); writes target/bench/bench.md and bench.json.
    Bench {
        /// A ~2-minute smoke run: 3 rounds, small workloads, 1 pod.
        #[arg(long)]
        quick: bool,
        /// Rounds per workload (default: 5, or 3 with --quick).
        #[arg(long)]
        rounds: Option<usize>,
        /// Only these workloads (fork-exit, fork-exec, ns-churn, netns-churn, pods).
        #[arg(long, value_delimiter = ',')]
        only: Vec<String>,
        /// Use the binaries already built (target/release).
        #[arg(long, hide = true)]
        no_build: bool,
    },
    /// The bench's /proc-polling peer: walk /proc/*/ns and /proc/*/cgroup
    /// every interval, print what appeared and went (JSON lines) until SIGINT.
    #[command(hide = true)]
    BenchPoller {
        #[arg(long, default_value_t = 100)]
        interval_ms: u64,
    },
}

fn main() {
    // One clear line on failure, never a backtrace.
    if let Err(e) = dispatch(Cli::parse().cmd) {
        eprintln!("xtask: {e:#}");
        std::process::exit(1);
    }
}

fn dispatch(cmd: Cmd) -> Result<()> {
    match cmd {
        Cmd::BuildEbpf => {
            let obj = build::ebpf()?;
            println!("eBPF object: {}", obj.display());
        }
        Cmd::Build => {
            let bin = build::all()?;
            println!("tracer: {}", bin.display());
        }
        Cmd::Dist => {
            dist::dist()?;
        }
        Cmd::Image => {
            image::image()?;
        }
        Cmd::Run { args } => run::run(&args)?,
        Cmd::Test { unit_only, args } => test::run_tests(unit_only, &args)?,
        Cmd::BenchPoller { interval_ms } => {
            bench::poller(std::time::Duration::from_millis(interval_ms.max(1)))?
        }
        Cmd::Fuzz { seconds, target } => fuzz::run_fuzz(seconds, target.as_deref())?,
        Cmd::Bench {
            quick,
            rounds,
            only,
            no_build,
        } => {
            let release = workspace().join("target/release");
            if !no_build {
                setup::ensure(setup::Job::Bench)?;
                let obj = build::ebpf()?;
                build::tracer(&obj)?;
                run(build::cargo(&obj).args([
                    "build",
                    "--release",
                    "--package",
                    "tracer-tests",
                    "--bin",
                    "bench-workload",
                ]))?;
                // The poller peer, optimised as a real tool would be.
                run(build::cargo(&obj).args(["build", "--release", "--package", "xtask"]))?;
            }
            bench::run(bench::Options {
                quick,
                rounds,
                only,
                tracer: release.join("tracer"),
                workload: release.join("bench-workload"),
                poller: release.join("xtask"),
                out_dir: workspace().join("target/bench"),
            })?;
        }
    }
    Ok(())
}
