//! `cargo xtask dist`: what a node without cargo, nightly or bpf-linker
//! runs — in `target/dist/`: `tracer`, static (musl) with the eBPF object
//! inside; shell completions and man pages made by that very binary; and
//! all of it as one tarball.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::build;
use crate::command::{as_invoking_user, output, run, workspace};

pub const MUSL: &str = "x86_64-unknown-linux-musl";

/// rustup's musl target for the stable toolchain, added if missing.
fn ensure_musl_target() -> Result<()> {
    let installed = output(as_invoking_user("rustup").args(["target", "list", "--installed"]))
        .context("`cargo xtask dist` needs rustup to add the musl target (or add it yourself)")?;
    if installed.lines().any(|l| l.trim() == MUSL) {
        return Ok(());
    }
    println!("xtask: adding the {MUSL} target (rustup)");
    run(as_invoking_user("rustup").args(["target", "add", MUSL]))
        .with_context(|| format!("cannot add {MUSL}: run `rustup target add {MUSL}`"))
}

/// The ELF interpreter a binary asks for (`PT_INTERP`), if any: a static
/// binary has none. Reads only the ELF64 little-endian program headers.
pub fn interpreter(elf: &[u8]) -> Result<Option<String>> {
    let u16_at = |o: usize| elf.get(o..o + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let u64_at = |o: usize| {
        elf.get(o..o + 8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
    };
    if elf.get(..4) != Some(b"\x7fELF") || elf.get(4) != Some(&2) || elf.get(5) != Some(&1) {
        bail!("not a 64-bit little-endian ELF file");
    }
    let bad = || anyhow::anyhow!("truncated ELF header");
    let phoff = usize::try_from(u64_at(0x20).ok_or_else(bad)?)?;
    let phentsize = usize::from(u16_at(0x36).ok_or_else(bad)?);
    let phnum = usize::from(u16_at(0x38).ok_or_else(bad)?);
    for i in 0..phnum {
        let ph = phoff + i * phentsize;
        let p_type = elf
            .get(ph..ph + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .ok_or_else(bad)?;
        const PT_INTERP: u32 = 3;
        if p_type == PT_INTERP {
            let off = usize::try_from(u64_at(ph + 8).ok_or_else(bad)?)?;
            let size = usize::try_from(u64_at(ph + 32).ok_or_else(bad)?)?;
            let path = elf.get(off..off + size).ok_or_else(bad)?;
            let path = path.split(|&b| b == 0).next().unwrap_or(path);
            return Ok(Some(String::from_utf8_lossy(path).into_owned()));
        }
    }
    Ok(None)
}

/// `program args…` writing its stdout to `to`.
fn capture(program: &Path, args: &[&str], to: &Path) -> Result<()> {
    let out = output(Command::new(program).args(args))?;
    fs::write(to, out).with_context(|| format!("cannot write {}", to.display()))
}

/// Build the static binary and its companions into target/dist; the binary's path.
pub fn dist() -> Result<PathBuf> {
    ensure_musl_target()?;
    let obj = build::ebpf()?;
    run(build::cargo(&obj).args([
        "build",
        "--release",
        "--package",
        "tracer",
        "--target",
        MUSL,
    ]))
    .context("the static (musl) build failed")?;
    let built = workspace().join("target").join(MUSL).join("release/tracer");
    let elf = fs::read(&built).with_context(|| format!("cannot read {}", built.display()))?;
    if let Some(interp) = interpreter(&elf)? {
        bail!("{} is not static: it asks for {interp}", built.display());
    }

    let dir = workspace().join("target/dist");
    if dir.exists() {
        fs::remove_dir_all(&dir).with_context(|| format!("cannot clear {}", dir.display()))?;
    }
    fs::create_dir_all(dir.join("completions"))?;
    let bin = dir.join("tracer");
    // Without symbols: a third of the size; panics still name their place.
    let stripped = Command::new("strip")
        .arg("--strip-all")
        .arg("-o")
        .arg(&bin)
        .arg(&built)
        .status();
    if !matches!(stripped, Ok(s) if s.success()) {
        println!("xtask: no `strip` (binutils): shipping the binary with its symbols");
        fs::copy(&built, &bin)?;
    }

    for (shell, file) in [
        ("bash", "tracer.bash"),
        ("zsh", "_tracer"),
        ("fish", "tracer.fish"),
    ] {
        capture(
            &bin,
            &["completions", shell],
            &dir.join("completions").join(file),
        )?;
    }
    run(Command::new(&bin).arg("man").arg(dir.join("man")))?;

    let version = env!("CARGO_PKG_VERSION");
    let tarball = format!("tracer-{version}-{MUSL}.tar.gz");
    run(Command::new("tar").current_dir(&dir).args([
        "-czf",
        &tarball,
        "tracer",
        "completions",
        "man",
    ]))?;
    let size = fs::metadata(&bin)?.len();
    println!(
        "dist: {} ({:.1} MiB, static, eBPF inside), completions/, man/, {tarball}",
        bin.display(),
        size as f64 / (1024.0 * 1024.0)
    );
    Ok(bin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dynamic_binary_names_its_interpreter_and_a_static_one_none() {
        // This test binary is dynamic (gnu target, the tests' default).
        let me = fs::read(std::env::current_exe().unwrap()).unwrap();
        let interp = interpreter(&me).unwrap();
        assert!(
            interp.as_deref().is_some_and(|i| i.contains("ld-linux")),
            "{interp:?}"
        );
        // The same headers with PT_INTERP renamed PT_NULL: no interpreter.
        let mut copy = me.clone();
        let phoff = u64::from_le_bytes(copy[0x20..0x28].try_into().unwrap()) as usize;
        let (size, n) = (
            u16::from_le_bytes([copy[0x36], copy[0x37]]) as usize,
            u16::from_le_bytes([copy[0x38], copy[0x39]]) as usize,
        );
        for i in 0..n {
            let ph = phoff + i * size;
            if copy[ph..ph + 4] == 3u32.to_le_bytes() {
                copy[ph..ph + 4].copy_from_slice(&0u32.to_le_bytes());
            }
        }
        assert_eq!(interpreter(&copy).unwrap(), None);
        assert!(interpreter(b"#!/bin/sh\n").is_err());
        assert!(interpreter(&me[..0x30]).is_err());
    }
}
