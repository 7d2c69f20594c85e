//! Namespace workloads with known ground truth, for the end-to-end tests.
//! Each prints one JSON report on stdout; all need root.
//!
//! `ns-workload` (steps): clone a child with CLONE_NEWNET|CLONE_NEWUTS|
//! CLONE_NEWIPC; unshare(CLONE_NEWNET); setns into the child's network
//! namespace; run /bin/true (fork + exec); let the clone child exit with
//! status 7. Each step records pids and `/proc/<pid>/ns/*` inodes.
//!
//! `ns-workload clones`: a clone3(CLONE_NEWUTS|CLONE_NEWIPC) child that
//! exits at once; a clone(CLONE_NEWNET|CLONE_NEWUSER|CLONE_FS) the kernel
//! refuses (EINVAL); tasks nested 1 to 4 pid namespaces deep, each
//! reporting its host pid and pid namespace.
//!
//! `ns-workload migrate`: a thread unshares its network namespace 100
//! times while the main thread moves it from CPU to CPU (an unshare of a
//! netns sleeps, so some calls end on another CPU than they began on);
//! the thread's netns after each call.
//!
//! `ns-workload changes`: unshare and setns in every shape, each with the
//! namespaces before and after: several flags at once, a new pid and time
//! namespace for children, setns with no type, a refused setns, setns
//! through a pidfd into two namespaces at once, and back by typed setns.
//!
//! `ns-workload visit N`: as a CNI plugin does, N times: setns into a
//! netns of its own (made first), again (no change), and home.
//!
//! `ns-workload pod`: a pod made by hand. A "pause" (this binary, exec'd
//! through a symlink named `pause`) in fresh net, ipc, uts and mnt
//! namespaces; two "containers" that setns into its net, ipc and uts,
//! unshare a mount namespace and exec: `sh -c "exit 3"` (ends early) and
//! `sleep 30` (killed); then the pause is stopped.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;

use anyhow::{Context, Result, bail};
use tracer_tests::workload::{
    Changes, Clones, HandMadeContainer, HandMadePod, Migrate, NestedPid, NsCall, NsInodes, Steps,
};

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

fn ns_of(pid: &str) -> Result<NsInodes> {
    let mut m = NsInodes::new();
    for n in NAMESPACES {
        let md = std::fs::metadata(format!("/proc/{pid}/ns/{n}"))
            .with_context(|| format!("reading /proc/{pid}/ns/{n}"))?;
        m.insert(n.to_string(), md.ino());
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
    let arg0 = std::env::args().next().unwrap_or_default();
    if arg0.rsplit('/').next() == Some("pause") {
        // The fake pause: hold the namespaces until a signal ends us.
        loop {
            // SAFETY: plain syscall.
            unsafe { libc::pause() };
        }
    }
    match std::env::args().nth(1).as_deref() {
        Some("pod") => pod(),
        Some("clones") => clones(),
        Some("migrate") => migrate(),
        Some("changes") => changes(),
        Some("visit") => visit(),
        _ => steps(),
    }
}

/// `visit N`: a netns of its own, home again, then N times into it, into
/// it again (no change) and home.
fn visit() -> Result<()> {
    let n: u64 = std::env::args()
        .nth(2)
        .context("visit: how many times?")?
        .parse()
        .context("visit: a count")?;
    let setns = |f: &File| {
        // SAFETY: a namespace fd we hold; only this thread moves.
        check(
            unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) },
            "setns",
        )
    };
    let home = File::open("/proc/thread-self/ns/net").context("open our netns")?;
    // SAFETY: plain syscall; it moves only this thread.
    check(unsafe { libc::unshare(libc::CLONE_NEWNET) }, "unshare")?;
    let other = File::open("/proc/thread-self/ns/net").context("open the new netns")?;
    setns(&home)?;
    for _ in 0..n {
        setns(&other)?;
        setns(&other)?;
        setns(&home)?;
    }
    Ok(())
}

fn boot_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn shell_status(s: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(0))
}

/// Spawn `argv` inside the pause's net, ipc and uts namespaces, with a
/// mount namespace of its own — what a runtime does for a container.
fn container(pause: u32, argv: &[&str]) -> Result<(std::process::Child, HandMadeContainer)> {
    use std::os::unix::process::CommandExt;
    let fds: Vec<File> = ["net", "ipc", "uts"]
        .iter()
        .map(|n| File::open(format!("/proc/{pause}/ns/{n}")))
        .collect::<std::io::Result<_>>()
        .context("opening the pause's namespaces")?;
    let raw: Vec<i32> = fds.iter().map(|f| f.as_raw_fd()).collect();
    let mut cmd = std::process::Command::new(argv[0]);
    cmd.args(&argv[1..]);
    // SAFETY: only async-signal-safe syscalls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            for &fd in &raw {
                if libc::setns(fd, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            if libc::unshare(libc::CLONE_NEWNS) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        })
    };
    let from = boot_ns();
    let child = cmd.spawn().with_context(|| format!("spawning {argv:?}"))?;
    let to = boot_ns();
    let pid = child.id();
    let ns = ns_of(&pid.to_string()).unwrap_or_default();
    Ok((
        child,
        HandMadeContainer {
            pid,
            argv: argv.iter().map(|a| a.to_string()).collect(),
            spawn_from_ns: from,
            spawn_to_ns: to,
            reaped_ns: 0,
            exit: 0,
            ns,
        },
    ))
}

fn pod() -> Result<()> {
    use std::os::unix::process::CommandExt;
    // The pause is this very binary, exec'd under the name `pause`.
    let dir = std::env::temp_dir().join(format!("ns-workload-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let pause_path = dir.join("pause");
    let _ = std::fs::remove_file(&pause_path);
    std::os::unix::fs::symlink(std::env::current_exe()?, &pause_path)?;
    let mut cmd = std::process::Command::new(&pause_path);
    // SAFETY: one syscall between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let flags =
                libc::CLONE_NEWNET | libc::CLONE_NEWIPC | libc::CLONE_NEWUTS | libc::CLONE_NEWNS;
            if libc::unshare(flags) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        })
    };
    let pause_from_ns = boot_ns();
    let mut pause = cmd.spawn().context("spawning the pause")?;
    let pause_pid = pause.id();
    // Wait for its exec (its comm turns into "pause").
    for _ in 0..500 {
        if std::fs::read_to_string(format!("/proc/{pause_pid}/comm"))
            .is_ok_and(|c| c.trim() == "pause")
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    let pause_ns = ns_of(&pause_pid.to_string())?;

    let (mut early, mut early_info) = container(pause_pid, &["/bin/sh", "-c", "exit 3"])?;
    early_info.exit = shell_status(early.wait()?);
    early_info.reaped_ns = boot_ns();
    let (mut long, mut long_info) = container(pause_pid, &["/bin/sleep", "30"])?;
    std::thread::sleep(std::time::Duration::from_millis(50));
    long.kill()?;
    long_info.exit = shell_status(long.wait()?);
    long_info.reaped_ns = boot_ns();
    // SAFETY: signalling our own child.
    unsafe { libc::kill(pause_pid as libc::pid_t, libc::SIGTERM) };
    let pause_exit = shell_status(pause.wait()?);
    let _ = std::fs::remove_dir_all(&dir);

    let report = HandMadePod {
        pause_pid,
        pause_path: pause_path.display().to_string(),
        pause_ns,
        pause_from_ns,
        pause_exit,
        containers: vec![early_info, long_info],
    };
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

fn steps() -> Result<()> {
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

    let report = Steps {
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
        exec_path: exec_path.to_string(),
        exec_status,
        clone_child_status,
    };
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

fn changes() -> Result<()> {
    let open = |n: &str| {
        File::open(format!("/proc/self/ns/{n}"))
            .with_context(|| format!("opening our {n} namespace"))
    };
    let (uts, ipc, net, cgroup) = (open("uts")?, open("ipc")?, open("net")?, open("cgroup")?);

    // A child in new net and uts namespaces, entered through its pidfd.
    let mut pipe = [0; 2];
    // SAFETY: valid two-int array.
    check(unsafe { libc::pipe(pipe.as_mut_ptr()) }, "pipe")?;
    let mut stack = vec![0u8; 256 * 1024];
    // SAFETY: as in `steps`.
    let child = unsafe {
        libc::clone(
            child_main,
            stack.as_mut_ptr().add(stack.len()).cast(),
            libc::CLONE_NEWNET | libc::CLONE_NEWUTS | libc::SIGCHLD,
            (&raw mut pipe).cast(),
        )
    };
    check(child, "clone")?;
    // SAFETY: plain syscall; the child is ours and alive until we close the pipe.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, child, 0) } as libc::c_int;
    check(pidfd, "pidfd_open")?;

    // Make one call, with /proc's namespaces before and after it.
    let mut calls = Vec::new();
    let mut call = |syscall: &str, flags: libc::c_int, fd: i32, f: &dyn Fn() -> libc::c_int| {
        let before = ns_of("self")?;
        let ret = match f() {
            0 => 0,
            _ => -i64::from(std::io::Error::last_os_error().raw_os_error().unwrap_or(0)),
        };
        calls.push(NsCall {
            syscall: syscall.into(),
            flags: flags as u64,
            fd,
            ret,
            before,
            after: ns_of("self")?,
        });
        anyhow::Ok(())
    };
    let three = libc::CLONE_NEWUTS | libc::CLONE_NEWIPC | libc::CLONE_NEWCGROUP;
    // SAFETY: plain syscall.
    call("unshare", three, -1, &|| unsafe { libc::unshare(three) })?;
    // pid_for_children shows in /proc only once its first process lived:
    // fork one that exits at once.
    let for_children = libc::CLONE_NEWPID | libc::CLONE_NEWTIME;
    call("unshare", for_children, -1, &|| {
        // SAFETY: plain syscall.
        let rc = unsafe { libc::unshare(for_children) };
        // SAFETY: the child only calls _exit.
        match unsafe { libc::fork() } {
            0 => unsafe { libc::_exit(0) },
            pid if pid > 0 => drop(wait_status(pid)),
            _ => {}
        }
        rc
    })?;
    let fd = |f: &File| f.as_raw_fd();
    let setns_calls = [
        (fd(&uts), 0),
        // Refused: not a uts namespace.
        (fd(&ipc), libc::CLONE_NEWUTS),
        (pidfd, libc::CLONE_NEWNET | libc::CLONE_NEWUTS),
        (fd(&net), 0),
        (fd(&uts), libc::CLONE_NEWUTS),
        (fd(&cgroup), libc::CLONE_NEWCGROUP),
        (fd(&ipc), 0),
    ];
    for (fd, nstype) in setns_calls {
        // SAFETY: a namespace fd or pidfd we hold open.
        call("setns", nstype, fd, &|| unsafe { libc::setns(fd, nstype) })?;
    }

    // SAFETY: closing our own fds: the child exits.
    unsafe {
        libc::close(pidfd);
        libc::close(pipe[1]);
        libc::close(pipe[0]);
    }
    wait_status(child)?;
    drop(stack);
    let report = Changes {
        pid: std::process::id(),
        calls,
    };
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

/// `struct clone_args` (linux/sched.h), as clone3 takes it.
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
}

/// This process's pid as the host sees it (`/proc` is the host's) and
/// the inode of its own pid namespace.
fn host_pid_and_pid_ns() -> Result<(u32, u64)> {
    let pid = std::fs::read_link("/proc/self")?
        .to_string_lossy()
        .parse()
        .context("/proc/self is not a pid")?;
    let ns = std::fs::metadata("/proc/self/ns/pid")?.ino();
    Ok((pid, ns))
}

const NESTED_LEVELS: u32 = 4;

fn clones() -> Result<()> {
    let pid = std::process::id();
    // 1. clone3 making two namespaces; the child exits at once.
    let flags = (libc::CLONE_NEWUTS | libc::CLONE_NEWIPC) as u64;
    let args = CloneArgs {
        flags,
        exit_signal: libc::SIGCHLD as u64,
        ..Default::default()
    };
    // SAFETY: clone3 without CLONE_VM and without a stack behaves like
    // fork: the child runs on a copy of this stack and only calls _exit.
    let child = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            size_of::<CloneArgs>(),
        )
    };
    if child == 0 {
        // SAFETY: the child holds its namespaces briefly, then leaves.
        unsafe {
            libc::usleep(200_000);
            libc::_exit(0)
        };
    }
    check(child as libc::c_int, "clone3")?;
    let clone3_child_ns = ns_of(&child.to_string())?;
    wait_status(child as libc::pid_t)?;

    // 2. A namespace-making clone the kernel refuses: CLONE_NEWUSER with CLONE_FS.
    let failed_flags = (libc::CLONE_NEWNET | libc::CLONE_NEWUSER | libc::CLONE_FS) as u64;
    // SAFETY: the kernel rejects these flags before creating anything.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_clone,
            failed_flags | libc::SIGCHLD as u64,
            0,
            0,
            0,
            0,
        )
    };
    if rc == 0 {
        // SAFETY: never reached (the flags are invalid); leave at once if it is.
        unsafe { libc::_exit(0) };
    }
    if rc > 0 {
        wait_status(rc as libc::pid_t)?;
        bail!("clone({failed_flags:#x}) succeeded; it should have failed");
    }
    let failed_errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);

    // 3. Nested pid namespaces: each level unshares one and forks into it;
    // every task writes "pid level ns" to the pipe.
    let mut pipe = [0; 2];
    // SAFETY: valid out-array.
    check(unsafe { libc::pipe(pipe.as_mut_ptr()) }, "pipe")?;
    // SAFETY: fork in a single-threaded process; the children only make
    // syscalls and _exit.
    let first = unsafe { libc::fork() };
    check(first, "fork")?;
    if first == 0 {
        // SAFETY: closing our copy of the read end.
        unsafe { libc::close(pipe[0]) };
        let mut status = 0;
        for level in 1..=NESTED_LEVELS {
            // SAFETY: plain syscalls; fork as above.
            let child = unsafe {
                if libc::unshare(libc::CLONE_NEWPID) != 0 {
                    libc::_exit(10)
                }
                libc::fork()
            };
            if child < 0 {
                // SAFETY: leave with a status that says where.
                unsafe { libc::_exit(11) };
            }
            if child > 0 {
                // SAFETY: wait for the deeper levels, then leave.
                unsafe {
                    libc::waitpid(child, &mut status, 0);
                    libc::_exit(libc::WEXITSTATUS(status))
                };
            }
            let Ok((pid, ns)) = host_pid_and_pid_ns() else {
                // SAFETY: leave with a status that says where.
                unsafe { libc::_exit(12) };
            };
            let line = format!("{pid} {level} {ns}\n");
            // SAFETY: a write of a local buffer to our pipe.
            unsafe { libc::write(pipe[1], line.as_ptr().cast(), line.len()) };
        }
        // SAFETY: the deepest task leaves after a moment, so its exit is seen in its namespaces.
        unsafe {
            libc::usleep(100_000);
            libc::_exit(0)
        };
    }
    // SAFETY: closing our copy of the write end, so EOF comes when all children are gone.
    unsafe { libc::close(pipe[1]) };
    let status = wait_status(first)?;
    // SAFETY: the read end is ours; File takes ownership and closes it.
    let mut reader = unsafe { <File as std::os::fd::FromRawFd>::from_raw_fd(pipe[0]) };
    let mut text = String::new();
    std::io::Read::read_to_string(&mut reader, &mut text)?;
    if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        bail!("nested pid namespaces failed: wait status {status:#x}");
    }
    let nested = text
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            Ok(NestedPid {
                pid: f.first().context("pid")?.parse()?,
                level: f.get(1).context("level")?.parse()?,
                pid_ns: f.get(2).context("ns")?.parse()?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let report = Clones {
        pid,
        clone3_child: child as u32,
        clone3_flags: flags,
        clone3_child_ns,
        failed_flags,
        failed_errno,
        nested,
    };
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

/// The unshares of [`Migrate`].
const MIGRATE_UNSHARES: usize = 100;

fn migrate() -> Result<()> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

    let cpus = allowed_cpus()?;
    let tid = Arc::new(AtomicI32::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let worker = {
        let (tid, done) = (Arc::clone(&tid), Arc::clone(&done));
        std::thread::spawn(move || -> Result<(Vec<u64>, u64)> {
            // SAFETY: plain syscall.
            tid.store(unsafe { libc::gettid() }, Ordering::SeqCst);
            let net = || -> Result<u64> {
                Ok(std::fs::metadata("/proc/thread-self/ns/net")
                    .context("stat /proc/thread-self/ns/net")?
                    .ino())
            };
            let mut nets = vec![net()?];
            let before = migrations("thread-self")?;
            for _ in 0..MIGRATE_UNSHARES {
                // SAFETY: plain syscall; only this thread's netns changes.
                check(unsafe { libc::unshare(libc::CLONE_NEWNET) }, "unshare")?;
                nets.push(net()?);
            }
            let moved = migrations("thread-self")? - before;
            done.store(true, Ordering::SeqCst);
            Ok((nets, moved))
        })
    };
    // Move the worker to the next allowed CPU, again and again, until it is done.
    let mut i = 0;
    while !done.load(Ordering::SeqCst) {
        let t = tid.load(Ordering::SeqCst);
        if t != 0 && cpus.len() > 1 {
            // SAFETY: a zeroed cpu_set_t is empty; CPU_SET stays in bounds
            // for CPUs the kernel reported (< CPU_SETSIZE).
            unsafe {
                let mut set: libc::cpu_set_t = std::mem::zeroed();
                libc::CPU_SET(cpus[i % cpus.len()], &mut set);
                libc::sched_setaffinity(t, size_of::<libc::cpu_set_t>(), &set);
            }
            i += 1;
        }
        std::thread::sleep(std::time::Duration::from_micros(20));
    }
    let (nets, migrations) = worker
        .join()
        .map_err(|_| anyhow::anyhow!("the unsharing thread panicked"))??;
    let report = Migrate {
        tid: u32::try_from(tid.load(Ordering::SeqCst)).context("tid")?,
        nets,
        cpus: cpus.len(),
        migrations,
    };
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

/// The CPUs this process may run on.
fn allowed_cpus() -> Result<Vec<usize>> {
    // SAFETY: a zeroed cpu_set_t is a valid out-buffer of its size.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    check(
        unsafe { libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set) },
        "sched_getaffinity",
    )?;
    // SAFETY: CPU_ISSET reads within the set for i < CPU_SETSIZE.
    Ok((0..libc::CPU_SETSIZE as usize)
        .filter(|&i| unsafe { libc::CPU_ISSET(i, &set) })
        .collect())
}

/// `se.nr_migrations` of /proc/<who>/sched.
fn migrations(who: &str) -> Result<u64> {
    let path = format!("/proc/{who}/sched");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    text.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == "se.nr_migrations").then(|| v.trim().parse().ok())?
        })
        .with_context(|| format!("no se.nr_migrations in {path}"))
}
