//! Running the workloads: a fixed count of operations, each verified
//! (`bench-workload`), or podman pods driven from here; the time they took.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use super::host::pin_command;
use super::plan::{Kind, WORKLOAD_CPU, Workload};
use super::podman::Podman;

/// How long a workload's operations took.
pub struct Sample {
    pub ops: u64,
    pub seconds: f64,
}

/// Runs workloads: the `bench-workload` binary, and podman when it works here.
pub struct Runner {
    bin: PathBuf,
    /// Pin workloads to WORKLOAD_CPU.
    pinned: bool,
    /// Why the pods workload cannot run, if it cannot.
    podman: Result<Podman, String>,
}

/// `bench-workload`'s one line (more fields are ignored).
#[derive(Deserialize)]
struct Done {
    ops: u64,
    seconds: f64,
}

impl Runner {
    pub fn new(bin: PathBuf, pinned: bool, podman: Result<Podman, String>) -> Runner {
        Runner {
            bin,
            pinned,
            podman,
        }
    }

    /// Why the pods workload is n/a, if it is.
    pub fn podman_missing(&self) -> Option<&String> {
        self.podman.as_ref().err()
    }

    pub fn run(&self, w: &Workload, ops: u64, round: usize) -> Result<Sample> {
        match w.kind {
            Kind::Bin => self.bin(w.name, ops),
            Kind::Pods => self.pods(ops, round),
        }
    }

    /// `bench-workload NAME OPS`, checked to have done them all.
    pub fn bin(&self, name: &str, ops: u64) -> Result<Sample> {
        let mut cmd = Command::new(&self.bin);
        if self.pinned {
            pin_command(&mut cmd, &[WORKLOAD_CPU]);
        }
        let out = cmd
            .args([name, &ops.to_string()])
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("cannot start {}", self.bin.display()))?;
        if !out.status.success() {
            bail!(
                "{} {name} {ops} failed ({}): {}",
                self.bin.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let done: Done = serde_json::from_str(text.trim())
            .with_context(|| format!("{name}: not one JSON line with ops and seconds: {text:?}"))?;
        if done.ops != ops || done.seconds <= 0.0 {
            bail!(
                "{name}: asked for {ops} ops, it reports {} in {} s",
                done.ops,
                done.seconds
            );
        }
        Ok(Sample {
            ops,
            seconds: done.seconds,
        })
    }

    /// `pods` pods, one after the other.
    fn pods(&self, pods: u64, round: usize) -> Result<Sample> {
        let podman = self
            .podman
            .as_ref()
            .map_err(|why| anyhow::anyhow!("{why}"))?;
        let start = Instant::now();
        for i in 0..pods {
            podman.one_pod(&format!("tracer-bench-{}-{round}-{i}", std::process::id()))?;
        }
        Ok(Sample {
            ops: pods,
            seconds: start.elapsed().as_secs_f64(),
        })
    }
}
