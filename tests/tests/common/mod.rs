//! Drive the real tracer binary: start it, wait until its programs are
//! attached, stop it with a signal, and hand back every JSON line.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use serde_json::Value;

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

pub struct Tracer {
    child: Child,
    lines: mpsc::Receiver<String>,
    pub ready: Value,
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
        let ready: Value = serde_json::from_str(&first).expect("ready line is JSON");
        assert_eq!(ready["type"], "ready", "first line: {first}");
        Tracer {
            child,
            lines: rx,
            ready,
        }
    }

    /// SIGINT, wait for a clean exit, return every line after `ready`.
    pub fn stop(self) -> Vec<Value> {
        // Let the reader catch up with the workload's last events.
        thread::sleep(Duration::from_millis(300));
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGINT) };
        self.finish()
    }

    /// Wait for the tracer to exit by itself (e.g. `--duration`).
    pub fn finish(mut self) -> Vec<Value> {
        let status = self.child.wait().expect("wait for the tracer");
        assert!(status.success(), "tracer exited with {status}");
        self.lines
            .iter()
            .map(|l| serde_json::from_str(&l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect()
    }
}

/// Run `ns-workload ARGS` and return its JSON report: the ground truth.
pub fn workload(args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_ns-workload"))
        .args(args)
        .output()
        .expect("run the workload");
    assert!(
        out.status.success(),
        "workload failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("workload report")
}

/// The `type: event` lines.
pub fn events(lines: &[Value]) -> Vec<&Value> {
    lines.iter().filter(|v| v["type"] == "event").collect()
}

/// The final `stats` line.
pub fn final_stats(lines: &[Value]) -> &Value {
    lines
        .iter()
        .rev()
        .find(|v| v["type"] == "stats" && v["final"] == true)
        .expect("the tracer printed final stats")
}

/// Every line says the kernel lost nothing and everything decoded.
pub fn assert_lossless(lines: &[Value]) {
    let st = final_stats(lines);
    assert_eq!(st["kernel"]["ringbuf_full"], 0, "drops: {st}");
    assert_eq!(st["decode_errors"], 0, "undecodable records: {st}");
    assert!(
        !lines.iter().any(|v| v["type"] == "decode_error"),
        "decode errors reported"
    );
}
pub mod podman;
