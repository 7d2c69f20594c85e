//! Commands as xtask runs them: builds as the invoking user (under `sudo`,
//! `$SUDO_USER`), privileged programs as root, and the checkout they run in.

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// The checkout we were started from. `cargo run` sets CARGO_MANIFEST_DIR
/// at run time too; the value baked in at build time is only a fallback:
/// cargo's fingerprints ignore where a checkout lives, so a target/ copied
/// from another checkout keeps an xtask binary built there, which would
/// build and test that other checkout.
pub fn workspace() -> PathBuf {
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    // xtask lives one level below the workspace root.
    manifest
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

/// Run a command to completion; its stdout, or its stderr in the error.
pub fn output(cmd: &mut Command) -> Result<String> {
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
    if is_root()
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

/// Run `program` with root privileges: directly when root, else through `sudo -E`.
pub fn privileged(program: &Path) -> Command {
    if is_root() {
        Command::new(program)
    } else {
        let mut c = Command::new("sudo");
        c.arg("-E").arg(program);
        c
    }
}
