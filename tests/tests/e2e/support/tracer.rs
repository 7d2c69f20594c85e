//! Drive the real tracer binary: start it, wait until its programs are
//! attached, stop it with a signal, and hand back every JSON line, typed.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use super::json::{Lines, Ready};

/// `nobody`/`nogroup`.
pub const NOBODY: u32 = 65534;

/// The tracer under test; `cargo xtask test` builds it and says where.
pub fn tracer_bin() -> String {
    std::env::var("TRACER_BIN")
        .expect("TRACER_BIN is not set: run the end-to-end tests with `cargo xtask test`")
}

/// These tests load eBPF: without root they fail loudly rather than skip.
pub fn require_root() {
    // SAFETY: no arguments.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "end-to-end tests need root: run `cargo xtask test` (it uses sudo when needed)"
    );
}

/// A running `tracer ... --json`.
pub struct Tracer {
    child: Child,
    lines: mpsc::Receiver<String>,
    pub ready: Ready,
}

impl Tracer {
    /// Start `tracer ARGS --json` (the default command) and wait for its `ready` line.
    pub fn start(args: &[&str]) -> Tracer {
        Self::start_cmd(args)
    }

    /// Start `tracer ARGS --json` (a subcommand and its options first, e.g.
    /// `["record", "-o", FILE]`: clap wants the subcommand before any flag)
    /// and wait for its `ready` line.
    pub fn start_cmd(args: &[&str]) -> Tracer {
        require_root();
        let mut child = Command::new(tracer_bin())
            .args(args)
            .arg("--json")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the tracer");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let first = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the tracer printed no ready line within 30 s");
        let ready = Ready::parse(&first);
        assert_eq!(ready.pid, child.id(), "`ready` names the tracer's own pid");
        assert_eq!(ready.version, env!("CARGO_PKG_VERSION"), "{first}");
        assert!(ready.probes > 0 && !ready.kernel.is_empty(), "{first}");
        Tracer {
            child,
            lines: rx,
            ready,
        }
    }

    /// The next line, if one comes within `limit`.
    pub fn next_line(&self, limit: Duration) -> Option<String> {
        self.lines.recv_timeout(limit).ok()
    }

    /// Forget the lines printed so far.
    pub fn skip_lines(&self) {
        while self.lines.try_recv().is_ok() {}
    }

    /// SIGINT, wait for a clean exit, return every line after `ready`.
    pub fn stop(self) -> Lines {
        // Let the reader catch up with the workload's last events.
        thread::sleep(Duration::from_millis(300));
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGINT) };
        self.finish()
    }

    /// Wait for the tracer to exit by itself (e.g. `--duration`).
    pub fn finish(mut self) -> Lines {
        let status = self.child.wait().expect("wait for the tracer");
        assert!(status.success(), "tracer exited with {status}");
        Lines::parse(self.lines.iter())
    }
}

/// A test that fails before it stops its tracer leaves none running
/// (holding the test's stderr open, so that nothing waiting on it ends).
impl Drop for Tracer {
    fn drop(&mut self) {
        // Already reaped after `stop`/`finish`: std then sends nothing.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Run `tracer ARGS` as nobody:nogroup (std drops root's groups too), from `/`.
pub fn tracer_unprivileged(args: &[&str]) -> Output {
    require_root();
    Command::new(tracer_bin())
        .args(args)
        .current_dir("/")
        .uid(NOBODY)
        .gid(NOBODY)
        .output()
        .expect("run the tracer as nobody")
}
