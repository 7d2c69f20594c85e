//! Child processes: started in their own process group, watched (readiness,
//! peak RSS, the last lines of their output) and reaped with `wait4` for
//! their CPU time. Ctrl-C stops the bench between steps.

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::host::status_number;

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_interrupt(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Ctrl-C stops the bench between steps, so that every guard runs (tracers
/// killed, the bpf_stats sysctl restored). Tracers run in their own process
/// group: the terminal's SIGINT does not reach them.
pub fn install_interrupt_handler() {
    let handler: extern "C" fn(libc::c_int) = on_interrupt;
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores to an atomic.
        unsafe { libc::signal(sig, handler as libc::sighandler_t) };
    }
}

/// SIGINT or SIGTERM came (after `install_interrupt_handler`).
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

pub fn check_interrupted() -> Result<()> {
    if interrupted() {
        bail!("interrupted");
    }
    Ok(())
}

/// What a stream said: its line count, its last lines (from a window of
/// its last bytes) and bpftrace's "Lost N events" lines. Fed in 1 MiB chunks:
/// per newline only a count and a one-byte look (memchr), so that reading
/// costs little CPU next to the workload.
#[derive(Default)]
pub struct Tail {
    pub lines: u64,
    /// Events bpftrace said it lost, and on how many lines.
    pub lost: u64,
    pub lost_lines: u64,
    window: Vec<u8>,
    /// The window no longer starts at the stream's start.
    truncated: bool,
    /// The previous chunk did not end with a newline.
    mid_line: bool,
}

/// Enough for the final stats and, while `kernel.bpf_stats_enabled=1`
/// (whoever set it), the per-program lines the tracer prints after them.
const TAIL_LINES: usize = 64;
const TAIL_WINDOW: usize = 1 << 18;

impl Tail {
    fn feed(&mut self, chunk: &[u8]) {
        if !self.mid_line && chunk.first() == Some(&b'L') {
            self.count_lost(chunk);
        }
        for i in memchr::memchr_iter(b'\n', chunk) {
            self.lines += 1;
            if chunk.get(i + 1) == Some(&b'L') {
                self.count_lost(&chunk[i + 1..]);
            }
        }
        self.mid_line = chunk.last().is_some_and(|&b| b != b'\n');
        if chunk.len() >= TAIL_WINDOW {
            self.window.clear();
            self.window
                .extend_from_slice(&chunk[chunk.len() - TAIL_WINDOW..]);
            self.truncated = true;
        } else {
            self.window.extend_from_slice(chunk);
            if self.window.len() > 2 * TAIL_WINDOW {
                let cut = self.window.len() - TAIL_WINDOW;
                self.window.drain(..cut);
                self.truncated = true;
            }
        }
    }

    fn count_lost(&mut self, text: &[u8]) {
        let n = lost_events(text);
        if n > 0 {
            self.lost += n;
            self.lost_lines += 1;
        }
    }

    /// The last complete (or final unterminated) lines.
    pub fn last_lines(&self) -> Vec<String> {
        let mut lines: Vec<&[u8]> = self.window.split(|&b| b == b'\n').collect();
        if self.truncated && !lines.is_empty() {
            lines.remove(0); // cut somewhere in its middle
        }
        if lines.last().is_some_and(|l| l.is_empty()) {
            lines.pop();
        }
        let from = lines.len().saturating_sub(TAIL_LINES);
        lines[from..]
            .iter()
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .collect()
    }

    fn finish(mut self) -> Tail {
        if self.mid_line {
            self.lines += 1;
        }
        self
    }
}

/// bpftrace's "Lost N events" line at the start of `text`.
fn lost_events(text: &[u8]) -> u64 {
    let end = memchr::memchr(b'\n', text).unwrap_or(text.len());
    let line = String::from_utf8_lossy(&text[..end]);
    line.strip_prefix("Lost ")
        .and_then(|r| r.strip_suffix(" events"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

/// Looks for the first line for which `is_ready` holds, then sends it.
struct ReadyWatch {
    is_ready: fn(&str) -> bool,
    tx: mpsc::Sender<String>,
    pending: Vec<u8>,
}

impl ReadyWatch {
    /// True once the ready line was seen (and sent).
    fn feed(&mut self, chunk: &[u8]) -> bool {
        let mut start = 0;
        for i in memchr::memchr_iter(b'\n', chunk) {
            self.pending.extend_from_slice(&chunk[start..i]);
            start = i + 1;
            let line = String::from_utf8_lossy(&self.pending).into_owned();
            self.pending.clear();
            if (self.is_ready)(&line) {
                let _ = self.tx.send(line);
                return true;
            }
        }
        self.pending.extend_from_slice(&chunk[start..]);
        false
    }
}

/// Read `r` to its end on a thread; the ready line goes to `ready`'s
/// channel; everything is copied to `tee` as well, if given.
fn reader(
    mut r: impl Read + Send + 'static,
    mut ready: Option<ReadyWatch>,
    mut tee: Option<File>,
) -> JoinHandle<Tail> {
    std::thread::spawn(move || {
        let mut tail = Tail::default();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = match r.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if ready.as_mut().is_some_and(|w| w.feed(&buf[..n])) {
                ready = None;
            }
            if let Some(f) = tee.as_mut()
                && let Err(e) = f.write_all(&buf[..n])
            {
                eprintln!("bench: copying a child's output to a file: {e}");
                tee = None;
            }
            tail.feed(&buf[..n]);
        }
        tail.finish()
    })
}

/// A started child process; killed and reaped when dropped unreaped.
pub struct Proc {
    pid: libc::pid_t,
    what: String,
    reaped: bool,
    started: Instant,
    /// Its VmHWM as last seen alive (KiB).
    hwm_kib: u64,
    stdout: Option<JoinHandle<Tail>>,
    stderr: Option<JoinHandle<Tail>>,
    ready: mpsc::Receiver<String>,
}

/// How a child ended, and what it cost.
pub struct Ended {
    status: i32,
    pub cpu_ns: u64,
    /// `ru_maxrss`: never below our own RSS when we forked it.
    pub maxrss_kib: u64,
    /// VmHWM polled until it exited: its own peak.
    hwm_kib: u64,
    /// Since spawn.
    pub wall: Duration,
    pub stdout: Tail,
    pub stderr: Tail,
}

impl Ended {
    /// Its own peak RSS (VmHWM, or `ru_maxrss` if never seen).
    pub fn peak_kib(&self) -> u64 {
        if self.hwm_kib > 0 {
            self.hwm_kib
        } else {
            self.maxrss_kib
        }
    }

    pub fn stderr_text(&self) -> String {
        self.stderr.last_lines().join("\n")
    }

    pub fn check_success(&self, what: &str) -> Result<()> {
        if libc::WIFEXITED(self.status) && libc::WEXITSTATUS(self.status) == 0 {
            return Ok(());
        }
        let how = if libc::WIFSIGNALED(self.status) {
            format!("killed by signal {}", libc::WTERMSIG(self.status))
        } else {
            format!("exit status {}", libc::WEXITSTATUS(self.status))
        };
        bail!("{what} failed ({how}): {}", self.stderr_text())
    }
}

impl Proc {
    /// Start `cmd` with piped output, in its own process group, killed if we
    /// die; `ready` tells its ready line (see [`Proc::wait_ready`]).
    pub fn spawn(cmd: Command, what: &str, ready: fn(&str) -> bool) -> Result<Proc> {
        Proc::spawn_teed(cmd, what, ready, None)
    }

    /// As [`Proc::spawn`], its stdout copied to `tee` as well.
    pub fn spawn_teed(
        mut cmd: Command,
        what: &str,
        ready: fn(&str) -> bool,
        tee: Option<File>,
    ) -> Result<Proc> {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                libc::setpgid(0, 0);
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = cmd
            .spawn()
            .with_context(|| format!("cannot start {what}"))?;
        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().context("no stdout pipe")?;
        // A 1 MiB pipe: the writer blocks less, we read bigger chunks.
        // SAFETY: a valid pipe fd; failure (pipe-max-size) only leaves 64 KiB.
        unsafe {
            libc::fcntl(
                std::os::fd::AsRawFd::as_raw_fd(&stdout),
                libc::F_SETPIPE_SZ,
                1 << 20,
            )
        };
        let stderr = child.stderr.take().context("no stderr pipe")?;
        let pid = libc::pid_t::try_from(child.id()).context("pid out of range")?;
        // `child` is dropped unwaited: from here on we reap `pid` ourselves.
        Ok(Proc {
            pid,
            what: what.to_string(),
            reaped: false,
            started: Instant::now(),
            hwm_kib: 0,
            stdout: Some(reader(
                stdout,
                Some(ReadyWatch {
                    is_ready: ready,
                    tx,
                    pending: Vec::new(),
                }),
                tee,
            )),
            stderr: Some(reader(stderr, None, None)),
            ready: rx,
        })
    }

    pub fn pid(&self) -> libc::pid_t {
        self.pid
    }

    /// What it is, for messages.
    pub fn what(&self) -> &str {
        &self.what
    }

    /// Wait for the ready line; fail (with the child's stderr) if it ends first.
    pub fn wait_ready(&mut self, timeout: Duration) -> Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            check_interrupted()?;
            match self.ready.recv_timeout(Duration::from_millis(50)) {
                Ok(line) => return Ok(line),
                Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() < deadline => {}
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    bail!("{} not ready after {timeout:?}", self.what)
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let ended = self.stop(libc::SIGKILL, Duration::ZERO)?;
                    bail!(
                        "{} ended before it was ready: {}",
                        self.what,
                        ended.stderr_text()
                    );
                }
            }
        }
    }

    fn exited(&self) -> bool {
        // SAFETY: a zeroed siginfo and a child of ours; WNOWAIT leaves it unreaped.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let rc = unsafe {
            libc::waitid(
                libc::P_PID,
                self.pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            )
        };
        rc == 0 && unsafe { info.si_pid() } != 0
    }

    /// Poll until it has exited (at most `timeout`), keeping its VmHWM.
    fn watch(&mut self, timeout: Duration) {
        let t0 = Instant::now();
        loop {
            self.note_hwm();
            if self.exited() || t0.elapsed() >= timeout {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Look at its VmHWM now (it is gone once the process exits).
    pub fn note_hwm(&mut self) {
        if let Some(kib) = status_number(&self.pid.to_string(), "VmHWM:") {
            self.hwm_kib = self.hwm_kib.max(kib);
        }
    }

    /// Send `sig`, give it `grace` to end, then SIGKILL; reap with wait4.
    pub fn stop(&mut self, sig: libc::c_int, grace: Duration) -> Result<Ended> {
        self.note_hwm();
        // SAFETY: our own unreaped child: the pid cannot have been reused.
        unsafe { libc::kill(self.pid, sig) };
        self.watch(grace);
        self.reap()
    }

    /// Let it end by itself (SIGKILL after `timeout`); reap it.
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<Ended> {
        self.watch(timeout);
        self.reap()
    }

    fn reap(&mut self) -> Result<Ended> {
        if !self.exited() {
            // SAFETY: as above.
            unsafe { libc::kill(self.pid, libc::SIGKILL) };
        }
        let mut status = 0;
        // SAFETY: zeroed rusage, valid out-pointers, our child.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        let rc = unsafe { libc::wait4(self.pid, &mut status, 0, &mut ru) };
        if rc != self.pid {
            bail!("wait4 {}: {}", self.what, std::io::Error::last_os_error());
        }
        self.reaped = true;
        let join = |h: Option<JoinHandle<Tail>>| h.and_then(|h| h.join().ok()).unwrap_or_default();
        let tv_ns = |tv: libc::timeval| tv.tv_sec as u64 * 1_000_000_000 + tv.tv_usec as u64 * 1000;
        Ok(Ended {
            status,
            cpu_ns: tv_ns(ru.ru_utime) + tv_ns(ru.ru_stime),
            maxrss_kib: ru.ru_maxrss as u64,
            hwm_kib: self.hwm_kib,
            wall: self.started.elapsed(),
            stdout: join(self.stdout.take()),
            stderr: join(self.stderr.take()),
        })
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if !self.reaped {
            // SAFETY: our own unreaped child.
            unsafe {
                libc::kill(self.pid, libc::SIGKILL);
                libc::waitpid(self.pid, std::ptr::null_mut(), 0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_last_lines_across_chunks() {
        let mut t = Tail::default();
        t.feed(b"x\na\nbb");
        t.feed(b"b\nccc\nd");
        let t = t.finish();
        assert_eq!(t.lines, 5);
        assert_eq!(t.last_lines(), vec!["x", "a", "bbb", "ccc", "d"]);
        let mut t = Tail::default();
        for i in 0..TAIL_LINES + 10 {
            t.feed(format!("line {i}\n").as_bytes());
        }
        let last = t.finish().last_lines();
        assert_eq!(last.len(), TAIL_LINES);
        assert_eq!(last.last().map(String::as_str), Some("line 73"));
        let mut t = Tail::default();
        t.feed(b"Lost 5 events\nx\nLost 2 events\n");
        assert_eq!(t.lost, 7);
        let big = vec![b'y'; 3 * TAIL_WINDOW];
        let mut t = Tail::default();
        t.feed(&big);
        t.feed(b"\nlast\n");
        assert_eq!(t.finish().last_lines(), vec!["last"]);
    }
}
