//! `cargo xtask build-ebpf` and `cargo xtask build`: the eBPF object (with
//! the nightly toolchain), then the tracer with that object embedded.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::command::{as_invoking_user, run, workspace};
use crate::setup::{self, Job};
use crate::toolchain;

const EBPF_TARGET: &str = "bpfel-unknown-none";

/// Build the eBPF programs; returns the object's path. Every build starts
/// here, so the build's own packages (a C++ compiler for bpf-linker, protoc
/// for the CRI client) are checked here: `cargo xtask run` on a fresh
/// machine installs them as `cargo xtask test` does.
pub fn ebpf() -> Result<PathBuf> {
    setup::ensure(Job::Build)?;
    let tc = toolchain::ensure()?;
    let ws = workspace();
    let target_dir = ws.join("target/ebpf");
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = vec![tc.linker_dir()];
    dirs.extend(std::env::split_paths(&path));
    let mut c = toolchain::nightly("cargo");
    c.current_dir(ws.join("tracer-ebpf"))
        .args([
            "build",
            "--release",
            "--target",
            EBPF_TARGET,
            "-Z",
            "build-std=core",
        ])
        .arg("--target-dir")
        .arg(&target_dir)
        .env("PATH", std::env::join_paths(dirs)?)
        .env("LD_LIBRARY_PATH", tc.sysroot.join("lib"))
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS");
    run(&mut c).context("building the eBPF programs failed")?;
    let obj = target_dir.join(EBPF_TARGET).join("release/tracer");
    if !obj.is_file() {
        bail!("the eBPF build left no object at {}", obj.display());
    }
    Ok(obj)
}

/// `cargo` in the workspace with the eBPF object wired in, run as the invoking user.
pub fn cargo(obj: &Path) -> Command {
    let mut c = as_invoking_user("cargo");
    c.current_dir(workspace()).env("TRACER_EBPF_OBJ", obj);
    c
}

/// The tracer, release build; returns the binary's path.
pub fn tracer(obj: &Path) -> Result<PathBuf> {
    run(cargo(obj).args(["build", "--release", "--package", "tracer"]))?;
    Ok(workspace().join("target/release/tracer"))
}

/// Both: what `cargo xtask build` leaves behind.
pub fn all() -> Result<PathBuf> {
    tracer(&ebpf()?)
}
