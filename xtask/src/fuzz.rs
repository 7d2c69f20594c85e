//! `cargo xtask fuzz [--seconds N] [TARGET]`: the fuzz targets of
//! `tracer/fuzz` (`recording`: a whole `tracer report` of any bytes;
//! `decode`: one kernel record) under libFuzzer, for N seconds each.
//!
//! Seeds are real recordings (`tracer/fuzz/corpus`, made by
//! `tracer/fuzz/seeds.py` from `tracer record` runs); what libFuzzer finds
//! goes to `target/fuzz/corpus`, crashes to `tracer/fuzz/artifacts`.
//! Memory is bounded as a hostile recording must not exceed it: any single
//! allocation over 256 MiB, or 1 GiB in all, is a failure.
//!
//! Not part of `cargo xtask test`: the sanitizer build of the tracer alone
//! takes minutes (8 on this 2-core machine), far past a cheap CI budget.

use std::process::Command;

use anyhow::{Context, Result};

use crate::command::{as_invoking_user, run, workspace};
use crate::toolchain;

pub const TARGETS: &[&str] = &["recording", "decode"];

/// `cargo +nightly fuzz`, installing cargo-fuzz first when it is missing.
fn cargo_fuzz() -> Result<Command> {
    toolchain::ensure()?;
    let installed = toolchain::nightly("cargo")
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !installed {
        run(as_invoking_user("cargo").args(["install", "cargo-fuzz", "--locked"]))
            .context("installing cargo-fuzz from crates.io")?;
    }
    let mut c = toolchain::nightly("cargo");
    c.arg("fuzz").current_dir(workspace().join("tracer"));
    Ok(c)
}

pub fn run_fuzz(seconds: u64, only: Option<&str>) -> Result<()> {
    let targets: Vec<&str> = match only {
        Some(t) if TARGETS.contains(&t) => vec![t],
        Some(t) => anyhow::bail!("no fuzz target {t}: the targets are {}", TARGETS.join(", ")),
        None => TARGETS.to_vec(),
    };
    let ws = workspace();
    for t in targets {
        let found = ws.join("target/fuzz/corpus").join(t);
        std::fs::create_dir_all(&found).with_context(|| format!("creating {}", found.display()))?;
        let seeds = ws.join("tracer/fuzz/corpus").join(t);
        println!(
            "xtask: fuzzing {t} for {seconds} s (seeds: {})",
            seeds.display()
        );
        run(cargo_fuzz()?
            .args(["run", "-O", t])
            .arg(&found)
            .arg(&seeds)
            .arg("--")
            .arg(format!("-max_total_time={seconds}"))
            .args([
                "-max_len=65536",
                "-rss_limit_mb=1024",
                "-malloc_limit_mb=256",
                "-print_final_stats=1",
            ]))
        .with_context(|| {
            format!("fuzz target {t} failed (its input is in tracer/fuzz/artifacts/{t})")
        })?;
    }
    Ok(())
}
