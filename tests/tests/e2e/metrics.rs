//! `tracer --metrics`, scraped by a real Prometheus (Debian's
//! `prometheus`, started here on loopback with its own config and data
//! directory) while a podman pod starts, runs an exec and stops; the
//! counts come back through Prometheus' HTTP API.
//!
//! The tracer sees the whole node, and other tests may run pods at the
//! same time: our pod's share is checked as an increase of at least what
//! it did, and the samples of one scrape against each other.

use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::podman::Podman;
use crate::support::tracer::Tracer;
use crate::support::{shared_dir, unique_name};

/// A free loopback port (free now; the race with others is small).
fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("its address").port()
}

/// `GET path` on 127.0.0.1:port; the status code and body.
fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    let code = head.split(' ').nth(1)?.parse().ok()?;
    Some((code, body.to_string()))
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A Prometheus of our own, killed (and its data removed) on drop.
struct Prometheus {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Prometheus {
    /// Scrape `target` every second; wait until Prometheus is ready.
    fn start(target: &str) -> Prometheus {
        let dir = shared_dir("metrics").join(unique_name("prometheus"));
        fs::create_dir_all(dir.join("data")).expect("make the data dir");
        let config = dir.join("prometheus.yml");
        fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
                 scrape_configs:\n  - job_name: tracer\n    static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .expect("write the config");
        let port = free_port();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run prometheus (`cargo xtask test` installs it): {e}")
            });
        let p = Prometheus { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(30);
        while get(port, "/-/ready").map(|r| r.0) != Some(200) {
            assert!(
                Instant::now() < deadline,
                "prometheus not ready within 30 s"
            );
            sleep(Duration::from_millis(200));
        }
        p
    }

    /// The value of an instant query with one result, if it has one.
    fn query(&self, q: &str) -> Option<f64> {
        let (code, body) = get(self.port, &format!("/api/v1/query?query={}", urlencode(q)))?;
        assert_eq!(code, 200, "query {q}: {body}");
        let v: Value = serde_json::from_str(&body).expect("the API answers JSON");
        assert_eq!(v["status"], "success", "{q}: {body}");
        let result = v["data"]["result"].as_array()?;
        assert!(result.len() <= 1, "{q} has {} series: {body}", result.len());
        result.first()?["value"][1].as_str()?.parse().ok()
    }

    /// Wait until `q` has a value satisfying `ok`; that value.
    fn wait_for(&self, q: &str, ok: impl Fn(f64) -> bool) -> f64 {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(v) = self.query(q).filter(|&v| ok(v)) {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "{q} = {:?} after 20 s",
                self.query(q)
            );
            sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn prometheus_scrapes_a_pods_life() {
    let pm = Podman::setup();
    let port = free_port();
    let target = format!("127.0.0.1:{port}");
    let tracer = Tracer::start(&["--metrics", &target, "--duration", "120"]);
    let prom = Prometheus::start(&target);

    // The tracer is up and its text parses as OpenMetrics.
    prom.wait_for("up{job=\"tracer\"}", |v| v == 1.0);
    let version = env!("CARGO_PKG_VERSION");
    let build = format!("tracer_build_info{{version=\"{version}\"}}");
    assert_eq!(prom.wait_for(&build, |_| true), 1.0);
    let q = |name: &str| prom.wait_for(name, |_| true);
    let before = |name: &str| q(name);
    let created0 = before("tracer_sandboxes_created_total");
    let ended0 = before("tracer_sandboxes_ended_total");
    let containers0 = before("tracer_containers_started_total");
    let execs0 = before("tracer_exec_sessions_total");
    let lifetimes0 = before("tracer_sandbox_phase_seconds_count{phase=\"lifetime\"}");

    let name = unique_name("metrics");
    let pod = pm.pod(&name);
    pod.start();
    for c in ["a", "b"] {
        let id = pm.run_detached(&name, &format!("{name}-{c}"), &["sleep", "1000"]);
        pm.wait_exec(&id, "sleep");
    }
    // While it runs: live gauges count it.
    prom.wait_for("tracer_live_sandboxes", |v| v >= 1.0);
    prom.wait_for("tracer_live_containers", |v| v >= 2.0);
    let out = pm.exec(&format!("{name}-a"), &["true"]);
    assert!(out.status.success(), "{out:?}");
    pod.stop();
    pod.remove();

    // Our pod's share, at least (other tests' pods may add to it).
    prom.wait_for("tracer_sandboxes_created_total", |v| v >= created0 + 1.0);
    prom.wait_for("tracer_sandboxes_ended_total", |v| v >= ended0 + 1.0);
    prom.wait_for("tracer_containers_started_total", |v| {
        v >= containers0 + 2.0
    });
    prom.wait_for("tracer_exec_sessions_total", |v| v >= execs0 + 1.0);
    prom.wait_for(
        "tracer_sandbox_phase_seconds_count{phase=\"lifetime\"}",
        |v| v >= lifetimes0 + 1.0,
    );
    for phase in ["namespaces_to_pause", "pause_to_first_container"] {
        let count = format!("tracer_sandbox_phase_seconds_count{{phase=\"{phase}\"}}");
        assert!(q(&count) >= 1.0, "{phase}");
        // podman makes a pod in well under 10 s: under the kubelet's top bucket.
        let bucket =
            format!("tracer_sandbox_phase_seconds_bucket{{phase=\"{phase}\",le=\"10.0\"}}");
        assert_eq!(q(&bucket), q(&count), "{phase}: every observation ≤ 10 s");
    }
    assert!(q("tracer_events_total{kind=\"unshare\"}") >= 2.0);
    assert!(q("tracer_events_total{kind=\"setns\"}") >= 2.0);
    assert_eq!(q("sum(tracer_lost_events_total)"), 0.0, "losses");
    // Every start has been matched by its end: the gauges never go below zero.
    assert!(q("min_over_time(tracer_live_sandboxes[1m])") >= 0.0);
    assert!(q("min_over_time(tracer_live_containers[1m])") >= 0.0);
    // No label names a pod.
    let series = get(
        prom.port,
        &format!("/api/v1/series?match[]={}", urlencode("{job=\"tracer\"}")),
    )
    .expect("the series API");
    assert!(series.1.contains("tracer_events_total"), "{}", series.1);
    for label in ["\"pod\"", "\"pod_uid\"", "\"container\""] {
        assert!(!series.1.contains(label), "a {label} label: {}", series.1);
    }
    drop(prom);
    tracer.stop().assert_lossless();
}
