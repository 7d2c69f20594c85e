//! Child processes: tracers, bpftrace and workloads started, watched
//! (CPU, RSS, readiness, the last lines of their output) and reaped.

use super::*;

// ---- child processes ------------------------------------------------------------

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_interrupt(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Ctrl-C stops the bench between steps, so that every guard runs (tracers
/// killed, the bpf_stats sysctl restored). Tracers run in their own process
/// group: the terminal's SIGINT does not reach them.
pub(super) fn install_interrupt_handler() {
    let handler: extern "C" fn(libc::c_int) = on_interrupt;
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores to an atomic.
        unsafe { libc::signal(sig, handler as libc::sighandler_t) };
    }
}

pub(super) fn check_interrupted() -> Result<()> {
    if INTERRUPTED.load(Ordering::SeqCst) {
        bail!("interrupted");
    }
    Ok(())
}

/// What a stream said: its line count, its last lines (from a window of
/// its last bytes) and bpftrace's "Lost N events" lines. Fed in 1 MiB chunks:
/// per newline only a count and a one-byte look (memchr), so that reading
/// costs little CPU next to the workload.
#[derive(Default)]
pub(super) struct Tail {
    pub(super) lines: u64,
    pub(super) lost: u64,
    pub(super) lost_lines: u64,
    pub(super) window: Vec<u8>,
    /// The window no longer starts at the stream's start.
    pub(super) truncated: bool,
    /// The previous chunk ended with a newline (or nothing came yet).
    pub(super) mid_line: bool,
}

pub(super) const TAIL_LINES: usize = 3;
pub(super) const TAIL_WINDOW: usize = 1 << 18;

impl Tail {
    pub(super) fn feed(&mut self, chunk: &[u8]) {
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

    pub(super) fn count_lost(&mut self, text: &[u8]) {
        let n = lost_events(text);
        if n > 0 {
            self.lost += n;
            self.lost_lines += 1;
        }
    }

    /// The last complete (or final unterminated) lines.
    pub(super) fn last_lines(&self) -> Vec<String> {
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

    pub(super) fn finish(mut self) -> Tail {
        if self.mid_line {
            self.lines += 1;
        }
        self
    }
}

/// bpftrace's "Lost N events" line at the start of `text`.
pub(super) fn lost_events(text: &[u8]) -> u64 {
    let end = memchr::memchr(b'\n', text).unwrap_or(text.len());
    let line = String::from_utf8_lossy(&text[..end]);
    line.strip_prefix("Lost ")
        .and_then(|r| r.strip_suffix(" events"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

/// Looks for the first line for which `is_ready` holds, then sends it.
pub(super) struct ReadyWatch {
    pub(super) is_ready: fn(&str) -> bool,
    pub(super) tx: mpsc::Sender<String>,
    pub(super) pending: Vec<u8>,
}

impl ReadyWatch {
    /// True once the ready line was seen (and sent).
    pub(super) fn feed(&mut self, chunk: &[u8]) -> bool {
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

/// Read `r` to its end on a thread; the ready line goes to `ready`'s channel.
pub(super) fn reader(
    mut r: impl Read + Send + 'static,
    mut ready: Option<ReadyWatch>,
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
            tail.feed(&buf[..n]);
        }
        tail.finish()
    })
}

/// A started child process; killed and reaped when dropped unreaped.
pub(super) struct Proc {
    pub(super) pid: libc::pid_t,
    pub(super) what: String,
    pub(super) reaped: bool,
    pub(super) started: Instant,
    /// Its VmHWM as last seen alive (KiB).
    pub(super) hwm_kib: u64,
    pub(super) stdout: Option<JoinHandle<Tail>>,
    pub(super) stderr: Option<JoinHandle<Tail>>,
    pub(super) ready: mpsc::Receiver<String>,
}

pub(super) struct Ended {
    pub(super) status: i32,
    pub(super) cpu_ns: u64,
    /// `ru_maxrss`: never below our own RSS when we forked it.
    pub(super) maxrss_kib: u64,
    /// VmHWM polled until it exited: its own peak.
    pub(super) hwm_kib: u64,
    /// Since spawn.
    pub(super) wall: Duration,
    pub(super) stdout: Tail,
    pub(super) stderr: Tail,
}

impl Ended {
    pub(super) fn peak_kib(&self) -> u64 {
        if self.hwm_kib > 0 {
            self.hwm_kib
        } else {
            self.maxrss_kib
        }
    }

    pub(super) fn stderr_text(&self) -> String {
        self.stderr.last_lines().join("\n")
    }
    pub(super) fn check_success(&self, what: &str) -> Result<()> {
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
    /// Start `cmd` with piped output, in its own process group, killed if we die.
    pub(super) fn spawn(mut cmd: Command, what: &str, ready: fn(&str) -> bool) -> Result<Proc> {
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
            )),
            stderr: Some(reader(stderr, None)),
            ready: rx,
        })
    }

    /// Wait for the ready line; fail (with the child's stderr) if it ends first.
    pub(super) fn wait_ready(&mut self, timeout: Duration) -> Result<String> {
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

    pub(super) fn exited(&self) -> bool {
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
    pub(super) fn watch(&mut self, timeout: Duration) {
        let t0 = Instant::now();
        loop {
            self.note_hwm();
            if self.exited() || t0.elapsed() >= timeout {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    pub(super) fn note_hwm(&mut self) {
        if let Some(kib) = vm_hwm_kib(self.pid) {
            self.hwm_kib = self.hwm_kib.max(kib);
        }
    }

    /// Send `sig`, give it `grace` to end, then SIGKILL; reap with wait4.
    pub(super) fn stop(&mut self, sig: libc::c_int, grace: Duration) -> Result<Ended> {
        self.note_hwm();
        // SAFETY: our own unreaped child: the pid cannot have been reused.
        unsafe { libc::kill(self.pid, sig) };
        self.watch(grace);
        self.reap()
    }

    /// Let it end by itself (SIGKILL after `timeout`); reap it.
    pub(super) fn wait_exit(&mut self, timeout: Duration) -> Result<Ended> {
        self.watch(timeout);
        self.reap()
    }

    pub(super) fn reap(&mut self) -> Result<Ended> {
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

/// The process's own peak RSS (`VmHWM`), while it lives.
pub(super) fn vm_hwm_kib(pid: libc::pid_t) -> Option<u64> {
    vm_status_kib(pid, "VmHWM:")
}

/// A `kB` field of /proc/<pid>/status (`VmHWM:`, `VmRSS:`).
pub(super) fn vm_status_kib(pid: libc::pid_t, field: &str) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let v = status.lines().find_map(|l| l.strip_prefix(field))?;
    v.trim().trim_end_matches("kB").trim().parse().ok()
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

/// CPU time of a live process so far (every thread), in ns.
pub(super) fn task_cpu_ns(pid: libc::pid_t) -> u64 {
    let Ok(dir) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    dir.flatten()
        .filter_map(|t| fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// Start what `cfg` runs (nothing for `none`) and wait until it is ready.
pub(super) fn start_config(ctx: &Ctx, cfg: &Config) -> Result<Option<Traced>> {
    Ok(match cfg.probe {
        Probe::None => None,
        Probe::Tracer => Some(start_tracer(ctx, cfg.args)?),
        Probe::Bpftrace => Some(start_bpftrace(ctx)?),
    })
}

/// A tracer or bpftrace under measurement.
pub(super) struct Traced {
    pub(super) proc: Proc,
    pub(super) cpu_at_ready_ns: u64,
    /// Its CPU once it went quiet after the workload (it has caught up).
    pub(super) cpu_at_quiet_ns: Option<u64>,
    /// Its RSS then (`VmRSS`): the steady state, start-up peaks excluded.
    pub(super) rss_at_quiet_kib: Option<u64>,
    /// Stop only this long after ready (the stall run's reader sleeps first).
    pub(super) stop_not_before: Option<Instant>,
}

pub(super) fn tracer_ready(line: &str) -> bool {
    line.starts_with("{\"type\":\"ready\"")
        || line.contains("\"type\":\"ready\"")
        || line.starts_with("# tracing")
}

pub(super) fn bpftrace_ready(line: &str) -> bool {
    line == "bench-ready"
}

pub(super) fn start_tracer(ctx: &Ctx, args: &[&str]) -> Result<Traced> {
    let rec = ctx.recording.to_string_lossy();
    let args: Vec<String> = args.iter().map(|a| a.replace("{rec}", &rec)).collect();
    let mut cmd = Command::new(&ctx.opts.tracer);
    cmd.args(&args);
    let what = format!("tracer {}", args.join(" "));
    let mut proc = Proc::spawn(cmd, &what, tracer_ready)?;
    proc.wait_ready(Duration::from_secs(60))?;
    Ok(Traced::new(proc))
}

pub(super) fn start_bpftrace(ctx: &Ctx) -> Result<Traced> {
    let mut cmd = Command::new("bpftrace");
    cmd.arg(&ctx.bpftrace_script);
    let mut proc = Proc::spawn(cmd, "bpftrace", bpftrace_ready)?;
    proc.wait_ready(Duration::from_secs(60))?;
    Ok(Traced::new(proc))
}

/// What a tracer or bpftrace cost and delivered in one run.
#[derive(Serialize, Clone)]
pub(super) struct ProbeResult {
    /// Everything, start-up included.
    pub(super) cpu_total_ms: f64,
    /// From ready until it went quiet after the workload: what the events cost.
    pub(super) cpu_ms: f64,
    /// From SIGINT to its end: final drain, report, detaching.
    pub(super) cpu_stop_ms: f64,
    /// VmHWM (falls back to `ru_maxrss` if never seen).
    pub(super) peak_rss_mib: f64,
    /// VmRSS once it had caught up with the workload.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) rss_mib: Option<f64>,
    pub(super) ru_maxrss_mib: f64,
    pub(super) events: u64,
    pub(super) drops: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) programs: Option<Value>,
}

/// CPU use below this per poll counts as quiet.
pub(super) const QUIET_NS_PER_POLL: u64 = 500_000;
pub(super) const QUIET_POLL: Duration = Duration::from_millis(50);

impl Traced {
    pub(super) fn new(proc: Proc) -> Traced {
        Traced {
            cpu_at_ready_ns: task_cpu_ns(proc.pid),
            cpu_at_quiet_ns: None,
            rss_at_quiet_kib: None,
            stop_not_before: None,
            proc,
        }
    }

    /// Wait (at most 2 s) until it has caught up with the workload's events.
    pub(super) fn quiesce(&mut self) {
        let mut last = task_cpu_ns(self.proc.pid);
        for _ in 0..40 {
            std::thread::sleep(QUIET_POLL);
            let now = task_cpu_ns(self.proc.pid);
            self.proc.note_hwm();
            let busy = now.saturating_sub(last) >= QUIET_NS_PER_POLL;
            last = now;
            if !busy {
                break;
            }
        }
        self.cpu_at_quiet_ns = Some(last);
        self.rss_at_quiet_kib = vm_status_kib(self.proc.pid, "VmRSS:");
    }

    pub(super) fn finish(mut self, probe: Probe) -> Result<ProbeResult> {
        if let Some(t) = self.stop_not_before {
            let now = Instant::now();
            if t > now {
                std::thread::sleep(t - now);
            }
        }
        let ended = self.proc.stop(libc::SIGINT, Duration::from_secs(60))?;
        let what = self.proc.what.clone();
        ended.check_success(&what)?;
        let (events, drops, programs) = match probe {
            // Every line is an event but the preamble and "Lost N events" lines.
            Probe::Bpftrace => {
                let out = &ended.stdout;
                let events = out
                    .lines
                    .saturating_sub(BPFTRACE_PREAMBLE_LINES + out.lost_lines);
                (events, out.lost + ended.stderr.lost, None)
            }
            _ => final_stats(&ended.stdout.last_lines())
                .with_context(|| format!("{what}: no final stats line"))?,
        };
        let quiet = self.cpu_at_quiet_ns.unwrap_or(ended.cpu_ns);
        Ok(ProbeResult {
            cpu_total_ms: ended.cpu_ns as f64 / 1e6,
            cpu_ms: quiet.saturating_sub(self.cpu_at_ready_ns) as f64 / 1e6,
            cpu_stop_ms: ended.cpu_ns.saturating_sub(quiet) as f64 / 1e6,
            peak_rss_mib: ended.peak_kib() as f64 / 1024.0,
            rss_mib: self.rss_at_quiet_kib.map(|k| k as f64 / 1024.0),
            ru_maxrss_mib: ended.maxrss_kib as f64 / 1024.0,
            events,
            drops,
            programs,
        })
    }
}

/// (events, ringbuf drops, programs) from the tracer's final stats line:
/// JSON (`{"type":"stats","final":true,...}`) or text (`# done: events N, dropped D ...`).
pub(super) fn final_stats(last: &[String]) -> Result<(u64, u64, Option<Value>)> {
    for line in last.iter().rev() {
        if let Ok(v) = serde_json::from_str::<Value>(line)
            && v["type"] == "stats"
        {
            let events = v["events"].as_u64().context("stats without events")?;
            let drops = v["kernel"]["ringbuf_full"].as_u64().unwrap_or(0);
            let programs = v.get("programs").cloned();
            return Ok((events, drops, programs));
        }
        if let Some(rest) = line.strip_prefix("# done: events ") {
            let mut it = rest
                .split(|c: char| !c.is_ascii_digit())
                .filter(|s| !s.is_empty());
            let events = it
                .next()
                .and_then(|n| n.parse().ok())
                .context("bad # done line")?;
            let drops = it
                .next()
                .and_then(|n| n.parse().ok())
                .context("bad # done line")?;
            return Ok((events, drops, None));
        }
    }
    bail!("last lines: {last:?}")
}
