//! The eBPF toolchain: nightly with rust-src, and a bpf-linker built against
//! the nightly's own libLLVM (no prebuilt one fits every nightly), kept
//! under `target/tools` so nothing global changes but rustup's component.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use crate::command::{as_invoking_user, output, run, workspace};

const BPF_LINKER_VERSION: &str = "0.13.0";

/// What the eBPF build needs.
pub struct Toolchain {
    /// The nightly's sysroot (its lib/ holds the libLLVM bpf-linker uses).
    pub sysroot: PathBuf,
    linker: PathBuf,
}

impl Toolchain {
    /// The directory to put first in PATH so that rustc finds bpf-linker.
    pub fn linker_dir(&self) -> PathBuf {
        self.linker
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default()
    }
}

/// Nightly with rust-src, and bpf-linker: installed or built when missing.
pub fn ensure() -> Result<Toolchain> {
    let sysroot = ensure_nightly()?;
    let linker = ensure_bpf_linker(&sysroot)?;
    Ok(Toolchain { sysroot, linker })
}

/// `rustup run nightly PROGRAM`, as the invoking user.
pub fn nightly(program: &str) -> Command {
    let mut c = as_invoking_user("rustup");
    c.args(["run", "nightly", program]);
    c
}

/// `x86_64_unknown_linux_gnu`, as in `CARGO_TARGET_<triple>_RUNNER`.
pub fn host_triple_env() -> Result<String> {
    let vv = output(as_invoking_user("rustc").arg("-vV"))?;
    let host = vv
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .context("rustc -vV printed no host")?;
    Ok(host.replace(['-', '.'], "_").to_uppercase())
}

/// Nightly must exist and carry rust-src (for `-Z build-std=core`).
fn ensure_nightly() -> Result<PathBuf> {
    if !nightly("rustc")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        eprintln!("xtask: installing the nightly toolchain (needed to build eBPF)");
        run(as_invoking_user("rustup").args([
            "toolchain",
            "install",
            "nightly",
            "--profile",
            "minimal",
            "--component",
            "rust-src",
        ]))
        .context("cannot install nightly: install it with `rustup toolchain install nightly --component rust-src`")?;
    }
    let sysroot = PathBuf::from(output(nightly("rustc").args(["--print", "sysroot"]))?.trim());
    if !sysroot.join("lib/rustlib/src/rust/library/core").is_dir() {
        eprintln!("xtask: adding rust-src to nightly");
        run(as_invoking_user("rustup").args([
            "component",
            "add",
            "rust-src",
            "--toolchain",
            "nightly",
        ]))
        .context("cannot add rust-src: run `rustup component add rust-src --toolchain nightly`")?;
    }
    Ok(sysroot)
}

/// The real libLLVM shared object in the nightly sysroot (not the
/// linker-script stub next to it).
fn find_libllvm(sysroot: &Path) -> Result<PathBuf> {
    let lib = sysroot.join("lib");
    let mut best = None;
    for entry in fs::read_dir(&lib).with_context(|| format!("reading {}", lib.display()))? {
        let path = entry?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if name.starts_with("libLLVM") && name.contains(".so") {
            let size = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            if size > 1 << 20 {
                best = Some(path);
            }
        }
    }
    best.with_context(|| format!("no libLLVM shared library in {}", lib.display()))
}

/// bpf-linker in `target/tools/bin`, built on first use.
fn ensure_bpf_linker(sysroot: &Path) -> Result<PathBuf> {
    let tools = workspace().join("target/tools");
    let linker = tools.join("bin/bpf-linker");
    if linker.is_file() {
        return Ok(linker);
    }
    let vv = output(nightly("rustc").arg("-vV"))?;
    let major = vv
        .lines()
        .find_map(|l| l.strip_prefix("LLVM version: "))
        .and_then(|v| v.split('.').next())
        .context("`rustc +nightly -vV` printed no LLVM version")?
        .to_string();
    let libllvm = find_libllvm(sysroot)?;
    // An LLVM prefix whose lib/ holds the nightly's libLLVM under both names llvm-sys looks for.
    let prefix = tools.join("llvm");
    let prefix_lib = prefix.join("lib");
    fs::create_dir_all(&prefix_lib)?;
    let soname = libllvm.file_name().context("libLLVM has no file name")?;
    for name in [Path::new("libLLVM.so"), Path::new(soname)] {
        let link = prefix_lib.join(name);
        let _ = fs::remove_file(&link);
        std::os::unix::fs::symlink(&libllvm, &link)
            .with_context(|| format!("linking {}", link.display()))?;
    }
    eprintln!(
        "xtask: building bpf-linker {BPF_LINKER_VERSION} against nightly's LLVM {major} (once; about a minute)"
    );
    let mut c = nightly("cargo");
    c.args(["install", "bpf-linker", "--version", BPF_LINKER_VERSION])
        .args([
            "--no-default-features",
            "--features",
            &format!("llvm-{major}"),
        ])
        .arg("--root")
        .arg(&tools)
        .env("LLVM_PREFIX", &prefix)
        .env("LD_LIBRARY_PATH", sysroot.join("lib"));
    run(&mut c).context(
        "cannot build bpf-linker: it needs crates.io and a C++ toolchain (Debian: apt-get install build-essential)",
    )?;
    Ok(linker)
}
