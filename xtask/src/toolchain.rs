//! The eBPF toolchain: nightly with rust-src, and a bpf-linker built against
//! the nightly's own libLLVM (no prebuilt one fits every nightly), kept
//! under `target/tools` so nothing global changes but rustup's component.

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::{run, workspace};

const BPF_LINKER_VERSION: &str = "0.13.0";
const EBPF_TARGET: &str = "bpfel-unknown-none";

/// A command run as the user who invoked us: under `sudo`, `$SUDO_USER`
/// with their home, so builds never leave root-owned files in the checkout.
pub fn as_invoking_user(program: &str) -> Command {
    let mut c = Command::new(program);
    // Variables cargo sets for `cargo xtask` itself must not leak into nested builds.
    for v in [
        "RUSTC",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTUP_TOOLCHAIN",
        "CARGO_TARGET_DIR",
    ] {
        c.env_remove(v);
    }
    if crate::is_root()
        && let (Some(uid), Some(gid)) = (env_u32("SUDO_UID"), env_u32("SUDO_GID"))
        && uid != 0
    {
        c.uid(uid).gid(gid);
        if let Some(home) = home_of(uid) {
            c.env("HOME", home);
        }
    }
    c
}

fn env_u32(name: &str) -> Option<u32> {
    std::env::var(name).ok()?.parse().ok()
}

/// Home directory of `uid` from /etc/passwd.
fn home_of(uid: u32) -> Option<String> {
    let passwd = fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() > 5 && f[2].parse() == Ok(uid)).then(|| f[5].to_string())
    })
}

fn output(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .output()
        .with_context(|| format!("cannot start {:?}", cmd.get_program()))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn nightly(program: &str) -> Command {
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

/// Build the eBPF programs; returns the object's path.
pub fn build_ebpf() -> Result<PathBuf> {
    let sysroot = ensure_nightly()?;
    let linker = ensure_bpf_linker(&sysroot)?;
    let ws = workspace();
    let target_dir = ws.join("target/ebpf");
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = vec![linker.parent().map(Path::to_path_buf).unwrap_or_default()];
    dirs.extend(std::env::split_paths(&path));
    let mut c = nightly("cargo");
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
        .env("LD_LIBRARY_PATH", sysroot.join("lib"))
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS");
    run(&mut c).context("building the eBPF programs failed")?;
    let obj = target_dir.join(EBPF_TARGET).join("release/tracer");
    if !obj.is_file() {
        bail!("the eBPF build left no object at {}", obj.display());
    }
    Ok(obj)
}
