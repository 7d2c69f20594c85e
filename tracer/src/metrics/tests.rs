//! Metrics fed as the pipeline feeds them, read back as OpenMetrics text.

use super::*;
use crate::decode::Event;
use crate::stats::KernelStats;
use crate::testkit::{Driver, Feed, Maker, PAUSE_NS, POD, app_container, app_ns, podman_pause};

/// A driver that also feeds metrics, as the pipeline does.
struct Fed {
    w: Driver,
    m: Metrics,
}

impl Feed for Fed {
    fn maker(&mut self) -> &mut Maker {
        &mut self.w.make
    }

    fn feed(&mut self, ev: Event) {
        self.m.event(&ev);
        for l in self.w.m.event(&ev) {
            self.m.lifecycle(&self.w.m, &l);
        }
    }
}

/// The value of the sample `name` (with its labels, as written).
fn value(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
}

fn pod() -> Fed {
    let mut f = Fed {
        w: Driver::new(),
        m: Metrics::new(&[("kernel", "6.18".into())]),
    };
    let pause = podman_pause(&mut f, (601, 600), 710, POD);
    let app = app_container(&mut f, 810, POD, &["sleep", "1000"]);
    let job = app_container(&mut f, 850, POD, &["true"]);
    f.exit(job, "app", 0, app_ns(POD, 850));
    let text = f.m.encode();
    assert_eq!(value(&text, "tracer_live_sandboxes"), 1.0);
    assert_eq!(value(&text, "tracer_live_containers"), 1.0);
    f.exit(pause, "catatonit", 0, PAUSE_NS);
    f.exit(app, "app", 137, app_ns(POD, 810));
    f
}

#[test]
fn a_pod_is_counted_from_start_to_end() {
    let f = pod();
    let t = f.m.encode();
    assert!(t.ends_with("# EOF\n"), "{t}");
    assert_eq!(value(&t, "tracer_sandboxes_created_total"), 1.0);
    assert_eq!(value(&t, "tracer_sandboxes_ended_total"), 1.0);
    assert_eq!(value(&t, "tracer_containers_started_total"), 2.0);
    assert_eq!(value(&t, "tracer_live_sandboxes"), 0.0);
    assert_eq!(value(&t, "tracer_live_containers"), 0.0);
    // podman's thread, runc's stage 1 of the pause, two containers' stage 1.
    assert_eq!(value(&t, "tracer_events_total{kind=\"unshare\"}"), 4.0);
    assert!(value(&t, "tracer_events_total{kind=\"exec\"}") >= 3.0);
    assert_eq!(value(&t, "tracer_events_total{kind=\"clone_failed\"}"), 0.0);
    assert!(t.contains("tracer_build_info{version=\""), "{t}");
    assert!(t.contains("kernel=\"6.18\""), "{t}");
    // No label names a pod.
    assert!(!t.contains("pod="), "{t}");
}

#[test]
fn phases_are_observed_once_per_sandbox_on_the_kubelet_buckets() {
    let f = pod();
    let t = f.m.encode();
    for phase in [
        "namespaces_to_pause",
        "pause_to_first_container",
        "lifetime",
    ] {
        let count = format!("tracer_sandbox_phase_seconds_count{{phase=\"{phase}\"}}");
        assert_eq!(value(&t, &count), 1.0, "{phase}");
        for le in ["0.005", "0.25", "10.0", "+Inf"] {
            let bucket =
                format!("tracer_sandbox_phase_seconds_bucket{{le=\"{le}\",phase=\"{phase}\"}}");
            assert!(t.contains(&bucket), "{bucket} in\n{t}");
        }
    }
    // The fixtures step 1 ms per event: every phase is well under 1 s.
    let sum = value(
        &t,
        "tracer_sandbox_phase_seconds_sum{phase=\"namespaces_to_pause\"}",
    );
    let want = f.w.m.durations(0).namespaces_to_pause_ns.unwrap() as f64 / 1e9;
    assert!((sum - want).abs() < 1e-9, "{sum} vs {want}");
}

#[test]
fn losses_follow_the_stats() {
    let m = Metrics::new(&[]);
    let mut st = Stats {
        events: 10,
        decode_errors: 1,
        unread: 2,
        kernel: KernelStats {
            ringbuf_full: 5,
            filtered: 7,
            ..KernelStats::default()
        },
        ..Stats::default()
    };
    m.stats(&st);
    st.kernel.ringbuf_full = 8;
    m.stats(&st);
    m.stats(&st);
    let t = m.encode();
    assert_eq!(
        value(&t, "tracer_lost_events_total{reason=\"ring_buffer_full\"}"),
        8.0
    );
    assert_eq!(
        value(&t, "tracer_lost_events_total{reason=\"undecodable\"}"),
        1.0
    );
    assert_eq!(
        value(&t, "tracer_lost_events_total{reason=\"unread\"}"),
        2.0
    );
    assert_eq!(
        value(&t, "tracer_lost_events_total{reason=\"pending_full\"}"),
        0.0
    );
    assert_eq!(value(&t, "tracer_filtered_events_total"), 7.0);
}

#[test]
fn pods_older_than_the_trace_are_live_from_the_start() {
    let f = pod();
    let m = Metrics::new(&[]);
    m.seed(&f.w.m);
    // The pod above ended: nothing is live.
    assert_eq!(value(&m.encode(), "tracer_live_sandboxes"), 0.0);
    let mut g = Fed {
        w: Driver::new(),
        m: Metrics::new(&[]),
    };
    podman_pause(&mut g, (601, 600), 710, POD);
    app_container(&mut g, 810, POD, &["sleep", "1000"]);
    let m = Metrics::new(&[]);
    m.seed(&g.w.m);
    let t = m.encode();
    assert_eq!(value(&t, "tracer_live_sandboxes"), 1.0);
    assert_eq!(value(&t, "tracer_live_containers"), 1.0);
}

#[test]
fn http_answers_metrics_and_nothing_else() {
    let m = Metrics::new(&[]);
    let ok = String::from_utf8(serve::response("GET", "/metrics", &m)).unwrap();
    assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
    assert!(ok.contains("Content-Type: application/openmetrics-text; version=1.0.0"));
    let body = ok.split("\r\n\r\n").nth(1).unwrap();
    assert!(ok.contains(&format!("Content-Length: {}\r\n", body.len())));
    assert!(body.ends_with("# EOF\n"));
    let head = serve::response("HEAD", "/metrics", &m);
    assert!(String::from_utf8(head).unwrap().ends_with("\r\n\r\n"));
    let nf = String::from_utf8(serve::response("GET", "/etc/passwd", &m)).unwrap();
    assert!(nf.starts_with("HTTP/1.1 404 Not Found\r\n"));
    let post = String::from_utf8(serve::response("POST", "/metrics", &m)).unwrap();
    assert!(post.starts_with("HTTP/1.1 404"));
}
