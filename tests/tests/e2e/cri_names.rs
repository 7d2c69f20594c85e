//! Pod names when CRI cannot give them: no socket, or a socket that
//! accepts and never answers. The trace goes on at full speed and one line
//! on stderr says why names are missing (issue 9).

use std::io::{BufRead, BufReader, Read};
use std::os::unix::net::UnixListener;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::support::json::Ready;
use crate::support::tracer::{require_root, tracer_bin};
use crate::support::unique_name;
use crate::support::workload;

/// A `tracer --raw --json` whose stdout lines come with the time they
/// arrived, and whose stderr is kept.
struct Run {
    child: Child,
    lines: mpsc::Receiver<(Instant, String)>,
    stderr: thread::JoinHandle<String>,
}

impl Run {
    fn start(cri_socket: &str) -> Run {
        require_root();
        let mut child = Command::new(tracer_bin())
            .args(["--raw", "--json", "--cri-socket", cri_socket])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the tracer");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut stderr = child.stderr.take().expect("piped stderr");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send((Instant::now(), line)).is_err() {
                    break;
                }
            }
        });
        let stderr = thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s);
            s
        });
        let (_, first) = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the tracer printed no ready line within 30 s");
        Ready::parse(&first);
        Run {
            child,
            lines: rx,
            stderr,
        }
    }

    /// The first line after now for which `pred` holds, with its arrival time.
    fn wait_for(&self, within: Duration, pred: impl Fn(&serde_json::Value) -> bool) -> Instant {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let (at, line) = self
                .lines
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no such line within {within:?}"));
            let v: serde_json::Value = serde_json::from_str(&line).expect("a JSON line");
            if pred(&v) {
                return at;
            }
        }
    }

    /// SIGINT; the tracer's stderr once it exited cleanly.
    fn stop(mut self) -> String {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGINT) };
        let status = self.child.wait().expect("wait for the tracer");
        assert!(status.success(), "tracer exited with {status}");
        self.stderr.join().expect("the stderr reader")
    }
}

/// The lines of stderr that say why there are no names over CRI.
fn no_names_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.contains("no pod names over CRI"))
        .collect()
}

/// Our `unshare -n` is traced at the usual pace (the ring is drained every
/// 50 ms), also while the resolver waits on the runtime.
fn traced_promptly(run: &Run) -> Duration {
    let t = Instant::now();
    let pid = workload::unshare_true("-n");
    let at = run.wait_for(Duration::from_secs(5), |v| {
        v["type"] == "event" && v["event"] == "unshare" && v["pid"] == pid
    });
    let took = at.duration_since(t);
    eprintln!("unshare -n traced {took:?} after it started");
    took
}

#[test]
fn without_a_cri_socket_the_trace_goes_on_and_one_line_says_why() {
    let socket = format!("/run/{}.sock", unique_name("tracer-no-cri"));
    let run = Run::start(&socket);
    let took = traced_promptly(&run);
    assert!(took < Duration::from_millis(500), "traced after {took:?}");
    let stderr = run.stop();
    let said = no_names_lines(&stderr);
    assert_eq!(said.len(), 1, "one line says why: {stderr}");
    assert!(
        said[0].contains(&socket) && said[0].contains("no such socket"),
        "{}",
        said[0]
    );
}

#[test]
fn a_cri_socket_that_never_answers_costs_the_trace_nothing() {
    let path = std::env::temp_dir().join(format!("{}.sock", unique_name("tracer-silent-cri")));
    let listener = UnixListener::bind(&path).expect("bind a unix socket");
    // Accept and hold every connection, never read or write.
    let held = thread::spawn(move || {
        let mut conns = Vec::new();
        for c in listener.incoming() {
            match c {
                Ok(c) => conns.push(c),
                Err(_) => break,
            }
            if conns.len() > 16 {
                break;
            }
        }
        conns
    });
    let socket = path.to_str().expect("UTF-8 temp dir").to_string();
    let started = Instant::now();
    let run = Run::start(&socket);
    // While the resolver's first call waits (up to its 1 s bound).
    let took = traced_promptly(&run);
    assert!(
        took < Duration::from_millis(500),
        "traced after {took:?}, {:?} after the start",
        started.elapsed()
    );
    // Past the bound: the resolver has given up, and said so.
    thread::sleep(Duration::from_millis(1500));
    let took = traced_promptly(&run);
    assert!(took < Duration::from_millis(500), "traced after {took:?}");
    let stderr = run.stop();
    let said = no_names_lines(&stderr);
    assert_eq!(said.len(), 1, "one line says why: {stderr}");
    assert!(
        said[0].contains(&socket) && said[0].contains("no answer within 1s"),
        "{}",
        said[0]
    );
    let _ = std::fs::remove_file(&path);
    drop(held);
}
