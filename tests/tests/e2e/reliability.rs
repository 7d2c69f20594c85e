//! Nothing lost, nothing leaked (issue 10): recordings that survive a
//! crash, a failed start, a hostile path or a full disk; a terminal that
//! kernel strings cannot drive; signals that stop the tracer whatever its
//! stdout does; the capabilities it really needs; tracefs left as found.
//!
//! Several tests run the tracer in a private mount namespace (`unshare
//! -m`): they mount or unmount tracefs and tmpfs there without touching
//! the mounts of anyone else on the machine.

use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::os::fd::FromRawFd;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::support::clock::{S, boottime_ns};
use crate::support::json::{Lines, Ready};
use crate::support::podman::Podman;
use crate::support::procfs::status_number;
use crate::support::tracer::{NOBODY, require_root, tracer_bin, tracer_unprivileged};
use crate::support::{unique_name, workload};

/// A scratch directory of this test, removed at the end.
struct Scratch(PathBuf);

impl Scratch {
    fn new(what: &str) -> Scratch {
        let d = std::env::temp_dir().join(unique_name(&format!("reliability-{what}")));
        fs::create_dir_all(&d).unwrap_or_else(|e| panic!("create {}: {e}", d.display()));
        Scratch(d)
    }

    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(&self.0)
            .expect("read the scratch directory")
            .map(|e| {
                e.expect("a directory entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        v.sort();
        v
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 temp paths")
}

/// A tracer (or a command that execs it) with its stdout lines and its
/// stderr collected by threads of their own.
struct Run {
    child: Child,
    lines: Receiver<String>,
    stderr: Arc<Mutex<String>>,
    stderr_reader: Option<thread::JoinHandle<()>>,
}

impl Run {
    fn spawn(mut cmd: Command) -> Run {
        require_root();
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the tracer");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut err = child.stderr.take().expect("piped stderr");
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&stderr);
        let stderr_reader = thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .expect("stderr lock")
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Run {
            child,
            lines,
            stderr,
            stderr_reader: Some(stderr_reader),
        }
    }

    /// `tracer ARGS` itself.
    fn tracer(args: &[&str]) -> Run {
        let mut c = Command::new(tracer_bin());
        c.args(args);
        Run::spawn(c)
    }

    /// The first line, `ready` (JSON runs).
    fn ready(&self) -> Ready {
        let first = self
            .lines
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("no ready line within 30 s; stderr: {}", self.stderr()));
        Ready::parse(&first)
    }

    fn stderr(&self) -> String {
        self.stderr.lock().expect("stderr lock").clone()
    }

    fn signal(&self, sig: libc::c_int) {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as libc::pid_t, sig) };
    }

    /// Wait for the exit, at most `limit` (then SIGKILL and panic).
    fn wait(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(st) = self.child.try_wait().expect("wait for the tracer") {
                // All of stderr, up to its end.
                if let Some(r) = self.stderr_reader.take() {
                    let _ = r.join();
                }
                return st;
            }
            if Instant::now() > deadline {
                self.signal(libc::SIGKILL);
                let _ = self.child.wait();
                panic!(
                    "the tracer did not exit within {limit:?}; stderr: {}",
                    self.stderr()
                );
            }
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// Every stdout line after the exit.
    fn rest(&self) -> Vec<String> {
        // The reader thread ends at EOF.
        self.lines.iter().collect()
    }
}

/// `tracer report ARGS`: status, stdout, stderr.
fn report(args: &[&str]) -> (ExitStatus, String, String) {
    let out = Command::new(tracer_bin())
        .arg("report")
        .args(args)
        .output()
        .expect("run tracer report");
    (
        out.status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn run_true(times: usize, args: &[&str]) {
    for _ in 0..times {
        let st = Command::new("/bin/true")
            .args(args)
            .status()
            .expect("run /bin/true");
        assert!(st.success());
    }
}

/// A shell command run in a mount namespace of its own (`unshare -m`,
/// private propagation): what it mounts stays there.
fn in_private_mounts(script: &str) -> Command {
    let mut c = Command::new("unshare");
    c.args(["-m", "--propagation", "private", "sh", "-c", script]);
    c
}

/// The shell fragment that mounts tracefs unless it is (as on the host).
const MOUNT_TRACEFS: &str = "grep -q ' /sys/kernel/tracing .* - tracefs ' /proc/self/mountinfo || mount -t tracefs nodev /sys/kernel/tracing";
/// ... and the one that unmounts every tracefs stacked there.
const UNMOUNT_TRACEFS: &str = "while umount /sys/kernel/tracing 2>/dev/null; do :; done";

// ---- 1. a crash keeps the recording up to the last second ----------------

#[test]
fn a_crash_keeps_the_recording_up_to_its_last_second() {
    let dir = Scratch::new("crash");
    let trace = dir.join("pods.trace");
    let mut run = Run::tracer(&["record", "-o", s(&trace), "--json", "--duration", "120"]);
    run.ready();
    let truth = workload::hand_made_pod();
    // More than a second after the pod ended: it must be in the file.
    thread::sleep(Duration::from_millis(1600));
    run.signal(libc::SIGKILL);
    run.wait(Duration::from_secs(10));

    let (st, _, err) = report(&[s(&trace)]);
    assert!(
        !st.success(),
        "a recording without its end frame read as whole"
    );
    assert!(
        err.contains("cut short") && err.contains("--lenient"),
        "{err}"
    );
    let (st, out, err) = report(&["--lenient", "--json", s(&trace)]);
    assert!(st.success(), "{err}");
    assert!(err.contains("cut short"), "{err}");
    let lines = Lines::from_output(out.as_bytes());
    let report = lines.report();
    let sb = report
        .sandboxes
        .iter()
        .find(|sb| sb.pause.as_ref().is_some_and(|p| p.pid == truth.pause_pid))
        .unwrap_or_else(|| panic!("pause {} not in the recording: {report:?}", truth.pause_pid));
    let pids: Vec<u32> = sb.containers.iter().map(|c| c.pid).collect();
    let want: Vec<u32> = truth.containers.iter().map(|c| c.pid).collect();
    assert_eq!(pids, want);
    assert!(sb.ended_ns.is_some(), "{sb:?}");
}

#[test]
fn sighup_stops_like_sigterm_with_the_report_and_a_whole_recording() {
    let dir = Scratch::new("hup");
    let trace = dir.join("r.trace");
    let mut run = Run::tracer(&["record", "-o", s(&trace), "--json", "--duration", "120"]);
    run.ready();
    run.signal(libc::SIGHUP);
    let st = run.wait(Duration::from_secs(10));
    assert!(st.success(), "{st}; {}", run.stderr());
    let lines = Lines::parse(run.rest());
    lines.report();
    lines.final_stats();
    let (st, _, err) = report(&[s(&trace)]);
    assert!(st.success(), "{err}");
}

/// Podman pods come and go; the tracer is killed at a random moment; every
/// pod that was gone more than a second before is in the recording.
#[test]
fn a_soak_of_pod_churn_killed_at_random_loses_no_finished_pod() {
    let pm = Podman::setup();
    let dir = Scratch::new("soak");
    let trace = dir.join("soak.trace");
    let mut run = Run::tracer(&[
        "record",
        "-o",
        s(&trace),
        "--json",
        "-q",
        "--duration",
        "120",
    ]);
    run.ready();
    let stop = Arc::new(Mutex::new(false));
    let done = Arc::new(Mutex::new(Vec::<(u32, i64, String)>::new()));
    let churn = {
        let (stop, done, pm) = (Arc::clone(&stop), Arc::clone(&done), pm.clone());
        thread::spawn(move || {
            while !*stop.lock().expect("stop flag") {
                let name = unique_name("soak");
                let pod = pm.pod(&name);
                pod.start();
                let infra = pm.inspect_container(&pod.inspect().infra_container_id).pid;
                let ctr = format!("{name}-c");
                pm.run_to_exit(&name, &ctr, &["true"]);
                pod.remove();
                done.lock()
                    .expect("done list")
                    .push((infra, boottime_ns(), name));
            }
        })
    };
    // 14 to 20 s in: a moment the churn cannot line up with.
    let jitter = (boottime_ns() / 1000 % 6000) as u64;
    thread::sleep(Duration::from_millis(14_000 + jitter));
    run.signal(libc::SIGKILL);
    let killed = boottime_ns();
    *stop.lock().expect("stop flag") = true;
    run.wait(Duration::from_secs(10));
    churn.join().expect("the churn thread");

    let (st, out, err) = report(&["--lenient", "--json", s(&trace)]);
    assert!(st.success(), "{err}");
    let lines = Lines::from_output(out.as_bytes());
    let report = lines.report();
    let done = done.lock().expect("done list");
    let due: Vec<&(u32, i64, String)> = done.iter().filter(|(_, at, _)| *at < killed - S).collect();
    assert!(due.len() >= 3, "too few pods to judge: {done:?}");
    for (infra, _, name) in due {
        let sb = report
            .sandboxes
            .iter()
            .find(|sb| sb.pause.as_ref().is_some_and(|p| p.pid == *infra))
            .unwrap_or_else(|| panic!("pod {name} (infra {infra}) lost: {err}"));
        assert!(
            sb.pause.as_ref().is_some_and(|p| p.exited_ns.is_some()),
            "{name}: {sb:?}"
        );
        assert_eq!(sb.containers.len(), 1, "{name}: {sb:?}");
    }
    eprintln!(
        "soak: {} pods, {} finished more than 1 s before the kill, all recovered",
        done.len(),
        done.iter().filter(|(_, at, _)| *at < killed - S).count()
    );
}

// ---- 2. a failed start leaves an existing recording as it was ---------

#[test]
fn a_failed_start_leaves_an_existing_recording_untouched() {
    let dir = Scratch::new("failed-start");
    let old = dir.join("old.trace");
    fs::write(&old, b"an earlier recording").expect("write");
    let out = Command::new(tracer_bin())
        .args(["record", "-o", s(&old), "--btf", "/nonexistent/vmlinux"])
        .output()
        .expect("run the tracer");
    assert!(!out.status.success());
    assert_eq!(fs::read(&old).expect("read"), b"an earlier recording");
    assert_eq!(dir.names(), ["old.trace"], "nothing left beside it");

    // Without privileges, in a directory the user may write.
    fs::set_permissions(&dir.0, fs::Permissions::from_mode(0o777)).expect("chmod");
    let out = tracer_unprivileged(&["record", "-o", s(&old)]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs root"));
    assert_eq!(fs::read(&old).expect("read"), b"an earlier recording");
    assert_eq!(dir.names(), ["old.trace"]);
}

// ---- 3. never through a symbolic link ----------------------------------

#[test]
fn record_refuses_to_write_through_a_symbolic_link() {
    let dir = Scratch::new("symlink");
    let victim = dir.join("root-owned");
    fs::write(&victim, b"precious").expect("write");
    let link = dir.join("link");
    symlink(&victim, &link).expect("symlink");
    // Made by another user, as in a shared /tmp.
    std::os::unix::fs::lchown(&link, Some(NOBODY), Some(NOBODY)).expect("lchown");
    let out = Command::new(tracer_bin())
        .args(["record", "-o", s(&link), "--duration", "1", "-q"])
        .output()
        .expect("run the tracer");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("symbolic link"), "{err}");
    assert_eq!(fs::read(&victim).expect("read"), b"precious");
    assert!(
        fs::symlink_metadata(&link)
            .expect("lstat")
            .file_type()
            .is_symlink()
    );
}

// ---- 4. private whatever the umask -------------------------------------

#[test]
fn recordings_are_private_whatever_the_umask() {
    let dir = Scratch::new("umask");
    let trace = dir.join("r.trace");
    let mut c = Command::new(tracer_bin());
    c.args(["record", "-o", s(&trace), "--duration", "1", "-q"]);
    // SAFETY: umask is async-signal-safe and touches no memory.
    unsafe {
        c.pre_exec(|| {
            libc::umask(0);
            Ok(())
        });
    }
    let out = c.output().expect("run the tracer");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mode = fs::metadata(&trace).expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "mode {mode:o}");
}

// ---- 5. a terminal that kernel strings cannot drive --------------------

#[test]
fn control_characters_from_argv_never_reach_the_terminal() {
    const EVIL: &str = "\u{1b}[2J\u{1b}]0;pwned\u{7}";
    let mut run = Run::tracer(&["--raw", "--duration", "4"]);
    let banner = run
        .lines
        .recv_timeout(Duration::from_secs(30))
        .expect("the banner");
    assert!(banner.starts_with("# tracing"), "{banner}");
    // In a netns of its own: past the in-kernel filter.
    let st = Command::new("unshare")
        .args(["-n", "/bin/true", EVIL])
        .status()
        .expect("run unshare");
    assert!(st.success());
    run.wait(Duration::from_secs(20));
    let text = run.rest().join("\n");
    assert!(
        !text.contains('\u{1b}') && !text.contains('\u{7}'),
        "raw control bytes"
    );
    let line = text
        .lines()
        .find(|l| l.contains("EXEC") && l.contains("pwned"))
        .unwrap_or_else(|| panic!("no EXEC line of ours in:\n{text}"));
    assert!(
        line.contains("[/bin/true \\x1b[2J\\x1b]0;pwned\\x07]"),
        "{line}"
    );
}

#[test]
fn a_cut_argv_says_so() {
    let long = "a".repeat(400);
    let mut run = Run::tracer(&["--raw", "--json", "--duration", "4"]);
    run.ready();
    for arg in ["short-argv", long.as_str()] {
        let st = Command::new("unshare")
            .args(["-n", "/bin/echo", arg])
            .stdout(Stdio::null())
            .status()
            .expect("run unshare");
        assert!(st.success());
    }
    run.wait(Duration::from_secs(20));
    let execs: Vec<serde_json::Value> = run
        .rest()
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["event"] == "exec" && v["filename"] == "/bin/echo")
        .collect();
    let short = execs
        .iter()
        .find(|v| v["argv"][1] == "short-argv")
        .expect("the short exec");
    assert_eq!(short["argv_truncated"], false, "{short}");
    let cut = execs
        .iter()
        .find(|v| v["argv"][1].as_str().is_some_and(|a| a.starts_with("aaaa")))
        .expect("the long exec");
    assert_eq!(cut["argv_truncated"], true, "{cut}");
    assert_eq!(cut["filename_truncated"], false, "{cut}");
    let kept: usize = cut["argv"]
        .as_array()
        .expect("argv")
        .iter()
        .map(|a| a.as_str().map_or(0, str::len) + 1)
        .sum();
    assert_eq!(
        kept,
        256 + 1,
        "the first 256 bytes (the last argument has no NUL): {cut}"
    );
}

// ---- 6. write errors are named, survived, and end in a failure ---------

#[test]
fn a_full_disk_is_named_and_the_trace_goes_on_to_its_report() {
    let dir = Scratch::new("enospc");
    let mnt = dir.join("small");
    fs::create_dir(&mnt).expect("mkdir");
    let trace = mnt.join("r.trace");
    let script = format!(
        "mount -t tmpfs -o size=1m tmpfs {m} && exec {t} record -o {r} --all --raw --json --duration 120",
        m = s(&mnt),
        t = tracer_bin(),
        r = s(&trace)
    );
    let mut run = Run::spawn(in_private_mounts(&script));
    run.ready();
    // 1 MiB takes ~1,000 fork+exec+exit with --all.
    let started = Instant::now();
    while !run.stderr().contains("tracing goes on") && started.elapsed() < Duration::from_secs(30) {
        run_true(50, &[]);
    }
    run_true(50, &[]); // after the failure: still traced
    run.signal(libc::SIGINT);
    let st = run.wait(Duration::from_secs(20));
    let err = run.stderr();
    assert!(!st.success(), "a lost recording must fail the run: {err}");
    assert!(err.contains(s(&trace)), "the file is named: {err}");
    assert!(err.contains("No space left on device"), "{err}");
    let byte = err.find("byte ").map(|i| &err[i + 5..]).unwrap_or_default();
    assert!(
        byte.chars().next().is_some_and(|c| c.is_ascii_digit()),
        "the byte offset is named: {err}"
    );
    let lines = Lines::parse(
        run.rest()
            .into_iter()
            .filter(|l| l.contains("\"type\":\"report\"") || l.contains("\"type\":\"stats\"")),
    );
    lines.report();
    assert!(
        lines.final_stats().events > 1000,
        "traced on: {:?}",
        lines.final_stats()
    );
}

#[test]
fn record_to_proc_version_fails_at_once_naming_the_file() {
    let started = Instant::now();
    let out = Command::new(tracer_bin())
        .args(["record", "-o", "/proc/version", "--duration", "5", "-q"])
        .output()
        .expect("run the tracer");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("/proc/version"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "it traced first: {err}"
    );
}

// ---- 7. a stdout nobody reads never stops a signal ---------------------

#[test]
fn a_stdout_nobody_reads_neither_blocks_a_signal_nor_the_recording() {
    let dir = Scratch::new("stalled");
    let trace = dir.join("r.trace");
    // Nobody reads this pipe.
    let (stdout, _keep) = {
        let mut fds = [0; 2];
        // SAFETY: a valid array for two descriptors.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        // SAFETY: both descriptors were just made and are owned here.
        unsafe {
            (
                std::os::fd::OwnedFd::from_raw_fd(fds[1]),
                std::os::fd::OwnedFd::from_raw_fd(fds[0]),
            )
        }
    };
    let mut child = Command::new(tracer_bin())
        .args([
            "record",
            "-o",
            s(&trace),
            "--all",
            "--raw",
            "--json",
            "--duration",
            "120",
        ])
        .stdout(Stdio::from(stdout))
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the tracer");
    let run_err = child.stderr.take().expect("piped stderr");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !trace.exists() {
        assert!(Instant::now() < deadline, "the trace did not start");
        thread::sleep(Duration::from_millis(10));
    }
    // Far more than a pipe holds (64 KiB: ~100 events).
    run_true(600, &[]);
    thread::sleep(Duration::from_millis(200));
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let signalled = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        if signalled.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            panic!("SIGTERM did not stop a tracer whose stdout nobody reads");
        }
        thread::sleep(Duration::from_millis(5));
    };
    let took = signalled.elapsed();
    let mut err = String::new();
    let _ = BufReader::new(run_err).read_to_string(&mut err);
    eprintln!("stalled stdout: stopped {took:?} after SIGTERM");
    assert!(
        took < Duration::from_millis(1500),
        "stopped after {took:?}: {err}"
    );
    assert!(status.success(), "{status}: {err}");
    assert!(
        err.contains("stopped before stdout took the report") || err.contains("not written"),
        "the loss is said: {err}"
    );
    let (st, _, rerr) = report(&[s(&trace)]);
    assert!(st.success(), "the recording got its end: {rerr}");
}

/// A burst that outruns stdout's reader fills the output queue; that is
/// memory for the burst only: once the reader has caught up, the queue's
/// buffers are back with the kernel. glibc kept them until the tracer
/// trimmed its heap after a backlog: 9–10 MiB more after this burst
/// (under 1 MiB now), 53 MiB in all after an `--all` unshare storm (20 now).
#[test]
fn a_burst_into_a_slow_reader_leaves_no_memory_behind() {
    require_root();
    let mut child = Command::new(tracer_bin())
        .args(["--all", "--raw", "--json", "--duration", "120"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the tracer");
    let mut out = BufReader::new(child.stdout.take().expect("piped stdout"));
    let mut first = String::new();
    out.read_line(&mut first).expect("the ready line");
    assert!(first.contains("\"type\":\"ready\""), "{first}");
    let before = status_number(child.id(), "VmRSS:");
    // A reader slower than the burst (64 KiB each 20 ms, 3 MiB/s, about
    // half its lines): the queue fills, drains, fills again. Forks and
    // exits, not namespace changes: the other tests' tracers (filter on)
    // keep those in the kernel.
    let reader = thread::spawn(move || {
        let mut buf = vec![0u8; 64 << 10];
        let mut total = 0usize;
        loop {
            match out.read(&mut buf) {
                Ok(0) | Err(_) => return total,
                Ok(n) => total += n,
            }
            thread::sleep(Duration::from_millis(20));
        }
    });
    let burst = Command::new(env!("CARGO_BIN_EXE_bench-workload"))
        .args(["fork-exit", "30000"])
        .stdout(Stdio::null())
        .status()
        .expect("run bench-workload fork-exit");
    assert!(burst.success());
    // The queue (at most 8 MiB) drains within 3 s at that pace.
    thread::sleep(Duration::from_secs(4));
    let after = status_number(child.id(), "VmRSS:");
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let status = child.wait().expect("wait for the tracer");
    let read = reader.join().expect("the reader");
    assert!(status.success(), "{status}");
    assert!(read > 8 << 20, "the burst reached stdout: {read} bytes");
    eprintln!("burst into a slow reader: VmRSS {before} KiB before, {after} KiB after");
    assert!(
        after < before + (5 << 10),
        "VmRSS {after} KiB after the burst, {before} KiB before it"
    );
}

#[test]
fn a_reader_that_goes_away_ends_the_trace_with_a_whole_recording() {
    let dir = Scratch::new("epipe");
    let trace = dir.join("r.trace");
    let mut run = Run::tracer(&[
        "record",
        "-o",
        s(&trace),
        "--all",
        "--raw",
        "--json",
        "--duration",
        "120",
    ]);
    run.ready();
    // `| head -1`: the reader leaves after one line.
    drop(std::mem::replace(&mut run.lines, mpsc::channel().1));
    thread::sleep(Duration::from_millis(100));
    let started = Instant::now();
    let st = loop {
        if let Some(st) = run.child.try_wait().expect("wait") {
            break st;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "still running: {}",
            run.stderr()
        );
        run_true(20, &[]);
    };
    assert!(st.success(), "{st}: {}", run.stderr());
    let (st, _, err) = report(&[s(&trace)]);
    assert!(st.success(), "the recording got its end: {err}");
}

// ---- 8. -q says something only when something is lost ------------------

#[derive(Debug, Default, Deserialize, PartialEq, Eq, Clone)]
#[serde(default)]
struct Losses {
    ringbuf_full: u64,
    read_failed: u64,
    pending_full: u64,
    pending_missing: u64,
    arg_read_failed: u64,
}

/// The kernel's counters: the losses, and the records the filter kept.
#[derive(Debug, Deserialize)]
struct Kernel {
    #[serde(flatten)]
    losses: Losses,
    #[serde(default)]
    filtered: u64,
}

#[derive(Debug, Deserialize)]
struct StatsLine {
    #[serde(rename = "final")]
    last: bool,
    kernel: Kernel,
    #[serde(default)]
    output_dropped: u64,
}

#[test]
fn quiet_prints_a_stats_line_only_when_something_is_lost() {
    let mut run = Run::tracer(&["-q", "--json", "--duration", "4"]);
    run.ready();
    // Host forks: the in-kernel filter keeps them back (`filtered` moves).
    let (started, mut runs) = (Instant::now(), 0);
    while started.elapsed() < Duration::from_secs(3) {
        run_true(20, &[]);
        runs += 20;
    }
    assert!(run.wait(Duration::from_secs(20)).success());
    let stats: Vec<StatsLine> = run
        .rest()
        .iter()
        .filter(|l| l.contains("\"type\":\"stats\""))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let last = stats.last().filter(|s| s.last).expect("a final stats line");
    // Each host `true` is a fork, an exec and an exit kept in the kernel,
    // and counted there (summed over the CPUs).
    assert!(
        last.kernel.filtered >= 3 * runs,
        "{runs} host runs of true, {} records filtered: {last:?}",
        last.kernel.filtered
    );
    let mut before = Losses::default();
    for line in stats.iter().filter(|s| !s.last) {
        assert_ne!(
            line.kernel.losses, before,
            "a live stats line with no new loss: {line:?}"
        );
        before = line.kernel.losses.clone();
    }
    assert_eq!(stats.last().map(|s| s.output_dropped), Some(0));
}

// ---- 9. the capabilities it needs, and what it says without them -------

fn as_nobody_with(caps: &str, tracer_args: &str) -> Command {
    let c: Vec<String> = caps.split(',').map(|c| format!("+{c}")).collect();
    let c = c.join(",");
    in_private_mounts(&format!(
        "{MOUNT_TRACEFS} && exec setpriv --reuid={NOBODY} --regid={NOBODY} --clear-groups --inh-caps=-all,{c} --ambient-caps=-all,{c} {} {tracer_args}",
        tracer_bin()
    ))
}

#[test]
fn the_readme_caps_alone_are_told_what_is_missing() {
    // CAP_BPF + CAP_PERFMON + CAP_SYS_ADMIN, as the README said: tracefs is
    // mounted but root's (0700), and the message must say what unlocks it.
    let mut run = Run::spawn(as_nobody_with("bpf,perfmon,sys_admin", "--duration 1"));
    let st = run.wait(Duration::from_secs(30));
    let err = run.stderr();
    assert!(!st.success(), "{err}");
    assert!(
        err.contains("CAP_DAC_READ_SEARCH") && err.contains("mounted"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "one clear line: {err}");
}

#[test]
fn the_minimal_capabilities_trace_as_a_user_other_than_root() {
    let mut run = Run::spawn(as_nobody_with(
        "bpf,perfmon,dac_read_search,sys_ptrace",
        "--raw --json --duration 120",
    ));
    let ready = run.ready();
    assert_eq!(ready.pid, run.child.id(), "the tracer itself, exec'd");
    let child = Command::new("unshare")
        .args(["-n", "/bin/true"])
        .spawn()
        .expect("run unshare");
    let pid = child.id();
    assert!(child.wait_with_output().expect("wait").status.success());
    thread::sleep(Duration::from_millis(300));
    run.signal(libc::SIGINT);
    assert!(
        run.wait(Duration::from_secs(20)).success(),
        "{}",
        run.stderr()
    );
    let lines = Lines::parse(run.rest());
    assert!(
        lines
            .events()
            .any(|e| e.pid == pid && e.name() == "unshare"),
        "our unshare was traced"
    );
    assert!(
        !run.stderr().contains("CAP_"),
        "nothing missing: {}",
        run.stderr()
    );
}

#[test]
fn without_tracefs_and_cap_sys_admin_the_message_says_so() {
    let mut run = Run::spawn(in_private_mounts(&format!(
        "{UNMOUNT_TRACEFS}; exec setpriv --bounding-set=-all,+bpf,+perfmon --inh-caps=-all {} --duration 1",
        tracer_bin()
    )));
    let st = run.wait(Duration::from_secs(30));
    let err = run.stderr();
    assert!(!st.success(), "{err}");
    assert!(
        err.contains("not mounted") && err.contains("CAP_SYS_ADMIN"),
        "{err}"
    );
}

// ---- tracefs left as found ----------------------------------------------

#[test]
fn the_tracer_unmounts_the_tracefs_it_mounted() {
    let out = in_private_mounts(&format!(
        "{UNMOUNT_TRACEFS}; {} --duration 1 -q >/dev/null || exit 9; grep -c ' /sys/kernel/tracing .* - tracefs ' /proc/self/mountinfo; exit 0",
        tracer_bin()
    ))
    .output()
    .expect("run the tracer in a mount namespace");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.trim(), "0", "tracefs mounts left behind");

    // One the tracer did not mount stays.
    let out = in_private_mounts(&format!(
        "{MOUNT_TRACEFS}; {} --duration 1 -q >/dev/null || exit 9; grep -c ' /sys/kernel/tracing .* - tracefs ' /proc/self/mountinfo; exit 0",
        tracer_bin()
    ))
    .output()
    .expect("run the tracer in a mount namespace");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1");
}

// ---- `tracer report` reads regular files only ---------------------------

#[test]
fn report_refuses_a_fifo_at_once() {
    let dir = Scratch::new("fifo");
    let fifo = dir.join("fifo");
    let c = std::ffi::CString::new(s(&fifo)).expect("a path");
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let mut run = Run::tracer(&["report", s(&fifo)]);
    let st = run.wait(Duration::from_secs(5));
    let err = run.stderr();
    assert!(!st.success());
    assert!(err.contains("FIFO") && err.contains(s(&fifo)), "{err}");
    let mut run = Run::tracer(&["report", "/dev/zero"]);
    run.wait(Duration::from_secs(5));
    assert!(run.stderr().contains("a device"), "{}", run.stderr());
}
