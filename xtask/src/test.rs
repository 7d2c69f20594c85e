//! `cargo xtask test`: the system packages the tests need, the unit tests
//! (no root), then the end-to-end crate built as the user and run as root
//! against the tracer just built.

use std::process::Command;

use anyhow::{Result, bail};

use crate::command::{is_root, run};
use crate::setup::{self, Job};
use crate::{build, toolchain};

pub fn run_tests(unit_only: bool, args: &[String]) -> Result<()> {
    setup::ensure(if unit_only { Job::Build } else { Job::Test })?;
    let obj = build::ebpf()?;
    run(build::cargo(&obj).args(["test", "--workspace", "--exclude", "tracer-tests"]))?;
    if unit_only {
        return Ok(());
    }
    let bin = build::tracer(&obj)?;
    if !is_root() && Command::new("sudo").arg("-n").arg("true").status().is_err() {
        bail!("the end-to-end tests need root: run `cargo xtask test` as root or install sudo");
    }
    // Build as the user, run the test binaries as root.
    let mut c = build::cargo(&obj);
    c.args(["test", "--release", "--package", "tracer-tests", "--"])
        .args(args)
        .env("TRACER_BIN", &bin);
    if !is_root() {
        c.env(
            format!("CARGO_TARGET_{}_RUNNER", toolchain::host_triple_env()?),
            "sudo -E",
        );
    }
    run(&mut c)
}
