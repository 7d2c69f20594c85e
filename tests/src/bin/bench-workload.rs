//! Fixed-size workloads for `cargo xtask bench`. Each subcommand performs
//! exactly N operations, checks every one (a child's exit status, a
//! syscall's return value) and prints one JSON line:
//! `{"workload":..,"ops":N,"seconds":S,"ops_per_s":R}`.
//!
//! - `fork-exit N`: fork; the child `_exit(0)`s; wait.
//! - `fork-exec N`: fork; the child execs `/bin/busybox true` (static); wait.
//! - `ns-churn N`: in place, `unshare(CLONE_NEWUTS)` then `setns` back to the
//!   original uts namespace through a saved fd (one op = one pair; root).
//! - `netns-churn N`: fork; the child `unshare(CLONE_NEWNET)`s and exits, so
//!   one network namespace is created and freed per op (root).

use std::ffi::CString;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::time::Instant;

use anyhow::{Context, Result, bail};

/// What a static binary to exec: Debian's busybox-static.
const BUSYBOX: &str = "/bin/busybox";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (name, n) = match args.as_slice() {
        [name, n] => (
            name.as_str(),
            n.parse::<u64>()
                .with_context(|| format!("bad operation count {n:?}"))?,
        ),
        _ => bail!("usage: bench-workload fork-exit|fork-exec|ns-churn|netns-churn N"),
    };
    let op: Box<dyn FnMut() -> Result<()>> = match name {
        "fork-exit" => Box::new(fork_exit),
        "fork-exec" => Box::new(fork_exec()?),
        "ns-churn" => Box::new(ns_churn()?),
        "netns-churn" => Box::new(netns_churn),
        _ => bail!("unknown workload {name:?}"),
    };
    let seconds = time_ops(n, op).with_context(|| format!("workload {name}"))?;
    let line = serde_json::json!({
        "workload": name,
        "ops": n,
        "seconds": seconds,
        "ops_per_s": n as f64 / seconds,
    });
    println!("{line}");
    Ok(())
}

/// Run `op` n times; the wall-clock seconds it took.
fn time_ops(n: u64, mut op: impl FnMut() -> Result<()>) -> Result<f64> {
    let start = Instant::now();
    for i in 0..n {
        op().with_context(|| format!("operation {i} of {n}"))?;
    }
    Ok(start.elapsed().as_secs_f64())
}

fn check(rc: libc::c_int, what: &str) -> Result<()> {
    if rc < 0 {
        bail!("{what}: {}", std::io::Error::last_os_error());
    }
    Ok(())
}

/// Fork; the child runs `child` and `_exit`s with its result (an exec'ing
/// child returns only when the exec failed); the parent waits and requires
/// a clean `exit(0)`.
fn fork_and_wait(child: impl FnOnce() -> i32) -> Result<()> {
    // SAFETY: single-threaded program; the child only calls async-signal-safe
    // functions (_exit, unshare, execv) before it ends.
    let pid = unsafe { libc::fork() };
    check(pid, "fork")?;
    if pid == 0 {
        let code = child();
        // SAFETY: ends the forked child without running the parent's atexit handlers.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: a child of ours, a valid out-pointer.
    check(unsafe { libc::waitpid(pid, &mut status, 0) }, "waitpid")?;
    if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        bail!("child {pid} ended with wait status {status:#x}");
    }
    Ok(())
}

fn fork_exit() -> Result<()> {
    fork_and_wait(|| 0)
}

/// The exec'd program and its argv, prepared once (no allocation in the child).
fn fork_exec() -> Result<impl FnMut() -> Result<()>> {
    if !std::path::Path::new(BUSYBOX).exists() {
        bail!("{BUSYBOX} is missing: install Debian's busybox-static");
    }
    let path = CString::new(BUSYBOX)?;
    let arg0 = CString::new("true")?;
    Ok(move || {
        let argv = [arg0.as_ptr(), std::ptr::null()];
        fork_and_wait(|| {
            // SAFETY: NUL-terminated strings and a null-terminated argv.
            unsafe { libc::execv(path.as_ptr(), argv.as_ptr()) };
            127
        })
    })
}

fn uts_inode(path: &str) -> Result<u64> {
    Ok(std::fs::metadata(path)
        .with_context(|| format!("stat {path}"))?
        .ino())
}

/// unshare(CLONE_NEWUTS), then setns back through a saved fd. Every call's
/// return value is checked; that we are back in the original namespace is
/// checked on the first op and then every 1024th (a stat per op would
/// dilute what is measured).
fn ns_churn() -> Result<impl FnMut() -> Result<()>> {
    let original = File::open("/proc/self/ns/uts").context("open /proc/self/ns/uts")?;
    let original_ino = uts_inode("/proc/self/ns/uts")?;
    let mut done: u64 = 0;
    Ok(move || {
        let fd = original.as_raw_fd();
        // SAFETY: plain syscalls on our own task and an fd we own.
        check(
            unsafe { libc::unshare(libc::CLONE_NEWUTS) },
            "unshare(CLONE_NEWUTS)",
        )?;
        check(unsafe { libc::setns(fd, libc::CLONE_NEWUTS) }, "setns back")?;
        if done.is_multiple_of(1024) {
            let now = uts_inode("/proc/thread-self/ns/uts")?;
            if now != original_ino {
                bail!("setns did not return to uts {original_ino} (in {now})");
            }
        }
        done += 1;
        Ok(())
    })
}

fn netns_churn() -> Result<()> {
    fork_and_wait(|| {
        // SAFETY: a plain syscall in the forked child.
        let rc = unsafe { libc::unshare(libc::CLONE_NEWNET) };
        if rc == 0 { 0 } else { 1 }
    })
}
