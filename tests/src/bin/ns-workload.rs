//! A namespace workload with known ground truth, for the end-to-end tests.
//!
//! Steps, in order: clone a child with CLONE_NEWNET|CLONE_NEWUTS|CLONE_NEWIPC;
//! unshare(CLONE_NEWNET); setns into the child's network namespace; run
//! /bin/true (fork + exec); let the clone child exit with status 7. Each step
//! records pids and `/proc/<pid>/ns/*` inodes; the report is one JSON object
//! on stdout. Must run as root (it creates namespaces).

use std::collections::BTreeMap;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;

use anyhow::{Context, Result, bail};
use serde::Serialize;

const NAMESPACES: [&str; 9] = [
    "mnt",
    "uts",
    "ipc",
    "pid",
    "pid_for_children",
    "net",
    "user",
    "cgroup",
    "time",
];
pub const CHILD_EXIT: i32 = 7;

#[derive(Serialize)]
struct Report {
    pid: u32,
    ns_start: BTreeMap<&'static str, u64>,
    clone_flags: u64,
    clone_child: u32,
    clone_child_ns: BTreeMap<&'static str, u64>,
    unshare_flags: u64,
    ns_after_unshare: BTreeMap<&'static str, u64>,
    setns_fd: i32,
    setns_nstype: u64,
    ns_after_setns: BTreeMap<&'static str, u64>,
    exec_pid: u32,
    exec_path: &'static str,
    exec_status: i32,
    clone_child_status: i32,
}

fn ns_of(pid: &str) -> Result<BTreeMap<&'static str, u64>> {
    let mut m = BTreeMap::new();
    for n in NAMESPACES {
        let md = std::fs::metadata(format!("/proc/{pid}/ns/{n}"))
            .with_context(|| format!("reading /proc/{pid}/ns/{n}"))?;
        m.insert(n, md.ino());
    }
    Ok(m)
}

fn check(rc: libc::c_int, what: &str) -> Result<()> {
    if rc < 0 {
        bail!("{what}: {}", std::io::Error::last_os_error());
    }
    Ok(())
}

/// The clone child: wait until the parent closes the pipe, then exit 7.
extern "C" fn child_main(arg: *mut libc::c_void) -> libc::c_int {
    let pipe = arg.cast::<[libc::c_int; 2]>();
    let mut b = [0u8; 1];
    // SAFETY: the parent's pipe array is alive while it waits for us (our
    // copy of its memory, in fact: no CLONE_VM). Close our write end so
    // the parent's close is the one that ends the read.
    unsafe {
        libc::close((*pipe)[1]);
        libc::read((*pipe)[0], b.as_mut_ptr().cast(), 1);
    }
    CHILD_EXIT
}

fn wait_status(pid: libc::pid_t) -> Result<i32> {
    let mut status = 0;
    // SAFETY: valid out-pointer.
    check(
        unsafe { libc::waitpid(pid, &mut status, libc::__WALL) },
        "waitpid",
    )?;
    Ok(status)
}

fn main() -> Result<()> {
    let me = std::process::id();
    let ns_start = ns_of("self")?;

    // 1. clone into new net, uts and ipc namespaces.
    let mut pipe = [0; 2];
    // SAFETY: valid two-int array.
    check(unsafe { libc::pipe(pipe.as_mut_ptr()) }, "pipe")?;
    let clone_flags = (libc::CLONE_NEWNET | libc::CLONE_NEWUTS | libc::CLONE_NEWIPC) as u64;
    let mut stack = vec![0u8; 256 * 1024];
    // SAFETY: the stack outlives the child (we wait for it); the stack grows down from its end.
    let child = unsafe {
        libc::clone(
            child_main,
            stack.as_mut_ptr().add(stack.len()).cast(),
            clone_flags as libc::c_int | libc::SIGCHLD,
            (&raw mut pipe).cast(),
        )
    };
    check(child, "clone")?;
    let clone_child_ns = ns_of(&child.to_string())?;

    // 2. unshare the network namespace.
    let unshare_flags = libc::CLONE_NEWNET as u64;
    // SAFETY: plain syscall.
    check(
        unsafe { libc::unshare(unshare_flags as libc::c_int) },
        "unshare",
    )?;
    let ns_after_unshare = ns_of("self")?;

    // 3. setns into the child's network namespace.
    let target =
        File::open(format!("/proc/{child}/ns/net")).context("opening the child's netns")?;
    let setns_fd = target.as_raw_fd();
    let setns_nstype = libc::CLONE_NEWNET as u64;
    // SAFETY: a valid namespace fd.
    check(
        unsafe { libc::setns(setns_fd, setns_nstype as libc::c_int) },
        "setns",
    )?;
    let ns_after_setns = ns_of("self")?;
    drop(target);

    // 4. fork + exec.
    let exec_path = "/bin/true";
    let mut proc = std::process::Command::new(exec_path)
        .spawn()
        .context("spawning /bin/true")?;
    let exec_pid = proc.id();
    let exec_status = proc.wait()?.code().unwrap_or(-1);

    // 5. let the clone child exit.
    // SAFETY: closing our own pipe fds.
    unsafe {
        libc::close(pipe[1]);
        libc::close(pipe[0]);
    }
    let clone_child_status = wait_status(child)?;
    drop(stack);

    let report = Report {
        pid: me,
        ns_start,
        clone_flags,
        clone_child: child as u32,
        clone_child_ns,
        unshare_flags,
        ns_after_unshare,
        setns_fd,
        setns_nstype,
        ns_after_setns,
        exec_pid,
        exec_path,
        exec_status,
        clone_child_status,
    };
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}
