//! `cargo xtask`: everything between a fresh clone and a running tracer.
//!
//! Builds always run as the invoking user (under `sudo`, as `$SUDO_USER`);
//! only the tracer and the end-to-end tests run with privilege.

mod bench;
mod toolchain;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

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
    /// Build, then run the tracer as root (through `sudo -E` when not root).
    ///
    /// Arguments after `--` go to the tracer: `cargo xtask run -- --json --duration 5`.
    Run {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Unit tests, then the privileged end-to-end tests against the real kernel.
    Test {
        /// Only the unit tests (no root needed).
        #[arg(long)]
        unit_only: bool,
        /// Extra arguments for the end-to-end test harness (a test name filter, say).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Measure the tracer's cost beside no tracer and bpftrace (root; ~6 min,
    /// --quick ~2 min); writes target/bench/bench.md and bench.json.
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
}

pub fn workspace() -> PathBuf {
    // xtask lives one level below the workspace root.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

pub fn is_root() -> bool {
    // SAFETY: no arguments, cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Run a command to completion; fail with its command line if it fails.
pub fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd
        .status()
        .with_context(|| format!("cannot start {:?}", cmd.get_program()))?;
    if !status.success() {
        bail!("{cmd:?} failed ({status})");
    }
    Ok(())
}

/// `cargo` with the eBPF object wired in, run as the invoking user.
fn cargo(obj: &Path) -> Command {
    let mut c = toolchain::as_invoking_user("cargo");
    c.current_dir(workspace()).env("TRACER_EBPF_OBJ", obj);
    c
}

fn build(obj: &Path) -> Result<PathBuf> {
    run(cargo(obj).args(["build", "--release", "--package", "tracer"]))?;
    Ok(workspace().join("target/release/tracer"))
}

/// Run `program` with root privileges: directly when root, else through `sudo -E`.
fn privileged(program: &Path) -> Command {
    if is_root() {
        Command::new(program)
    } else {
        let mut c = Command::new("sudo");
        c.arg("-E").arg(program);
        c
    }
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::BuildEbpf => {
            let obj = toolchain::build_ebpf()?;
            println!("eBPF object: {}", obj.display());
        }
        Cmd::Build => {
            let obj = toolchain::build_ebpf()?;
            let bin = build(&obj)?;
            println!("tracer: {}", bin.display());
        }
        Cmd::Run { args } => {
            let obj = toolchain::build_ebpf()?;
            let bin = build(&obj)?;
            // The tracer's own exit code is ours: Ctrl-C ends both cleanly.
            let status = privileged(&bin)
                .args(&args)
                .status()
                .with_context(|| format!("cannot start {}", bin.display()))?;
            std::process::exit(status.code().unwrap_or(1));
        }
        Cmd::Test { unit_only, args } => {
            let obj = toolchain::build_ebpf()?;
            run(cargo(&obj).args(["test", "--workspace", "--exclude", "tracer-tests"]))?;
            if unit_only {
                return Ok(());
            }
            let bin = build(&obj)?;
            if !is_root() && Command::new("sudo").arg("-n").arg("true").status().is_err() {
                bail!(
                    "the end-to-end tests need root: run `cargo xtask test` as root or install sudo"
                );
            }
            // Build as the user, run the test binaries as root.
            let mut c = cargo(&obj);
            c.args(["test", "--release", "--package", "tracer-tests", "--"])
                .args(&args)
                .env("TRACER_BIN", &bin);
            if !is_root() {
                c.env(
                    format!("CARGO_TARGET_{}_RUNNER", toolchain::host_triple_env()?),
                    "sudo -E",
                );
            }
            run(&mut c)?;
        }
        Cmd::Bench {
            quick,
            rounds,
            only,
            no_build,
        } => {
            let release = workspace().join("target/release");
            if !no_build {
                let obj = toolchain::build_ebpf()?;
                build(&obj)?;
                run(cargo(&obj).args([
                    "build",
                    "--release",
                    "--package",
                    "tracer-tests",
                    "--bin",
                    "bench-workload",
                ]))?;
            }
            bench::run(bench::Options {
                quick,
                rounds,
                only,
                tracer: release.join("tracer"),
                workload: release.join("bench-workload"),
                out_dir: workspace().join("target/bench"),
            })?;
        }
    }
    Ok(())
}
