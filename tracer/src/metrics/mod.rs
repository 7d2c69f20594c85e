//! `--metrics ADDR`: what the tracer sees, as Prometheus/OpenMetrics
//! text (`prometheus-client`), served by [`serve`] on its own task.
//!
//! The event path only bumps atomics through handles made here at start
//! (no label lookup, no lock): a counter per event kind, the lifecycle
//! counters and gauges. Histograms take a lock, once per sandbox phase.
//! Loss counters follow the pipeline's [`Stats`] once a second. No label
//! names a pod (cardinality): per-pod facts are in the report.
//!
//! Phase histograms use the kubelet's buckets (those of
//! `kubelet_run_podsandbox_duration_seconds`, Prometheus' defaults), so
//! that the two line up on one dashboard.
//!
//! To add a metric (leaked namespaces once the model counts them, say):
//! one handle in [`Metrics`], registered in [`Metrics::new`], bumped in
//! [`Metrics::lifecycle`] or [`Metrics::stats`].

mod serve;

use std::sync::Mutex;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

pub use serve::{Server, bind};

use crate::decode::{Cause, Event};
use crate::model::{Lifecycle, Model, What};
use crate::stats::Stats;

/// `kubelet_run_podsandbox_duration_seconds`' buckets (component-base
/// `metrics.DefBuckets`, Prometheus' default buckets), in seconds.
pub const KUBELET_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

type Labels = Vec<(&'static str, &'static str)>;

fn phase_histogram() -> Histogram {
    Histogram::new(KUBELET_BUCKETS)
}

/// One counter per event kind, by `Event::name`.
struct ByKind {
    fork: Counter,
    exec: Counter,
    exit: Counter,
    unshare: Counter,
    setns: Counter,
    clone_failed: Counter,
    mount: Counter,
    signal: Counter,
    oom_victim: Counter,
    cgroup_mkdir: Counter,
    visitor: Counter,
}

/// Counters that follow the pipeline's [`Stats`]: the last values seen.
struct Followed {
    last: Stats,
    ring_buffer_full: Counter,
    undecodable: Counter,
    pending_full: Counter,
    pending_missing: Counter,
    read_failed: Counter,
    unread: Counter,
    filtered: Counter,
}

pub struct Metrics {
    registry: Registry,
    events: ByKind,
    followed: Mutex<Followed>,
    sandboxes_created: Counter,
    sandboxes_ended: Counter,
    containers_started: Counter,
    exec_sessions: Counter,
    leaks: Counter,
    visits: Counter,
    live_sandboxes: Gauge,
    live_containers: Gauge,
    namespaces_to_pause: Histogram,
    pause_to_first_container: Histogram,
    lifetime: Histogram,
}

fn secs(ns: u64) -> f64 {
    ns as f64 / 1e9
}

impl Metrics {
    /// Every metric registered; `info` becomes `tracer_build_info`'s labels.
    pub fn new(info: &[(&'static str, String)]) -> Metrics {
        let mut r = Registry::with_prefix("tracer");
        let mut build: Vec<(&'static str, String)> =
            vec![("version", env!("CARGO_PKG_VERSION").to_string())];
        build.extend(info.iter().cloned());
        r.register(
            "build",
            "The tracer's version and the kernel it traces",
            Info::new(build),
        );

        let events = Family::<Labels, Counter>::default();
        r.register("events", "Kernel events received, by kind", events.clone());
        let kind = |k: &'static str| events.get_or_create(&vec![("kind", k)]).clone();
        let by_kind = ByKind {
            fork: kind("fork"),
            exec: kind("exec"),
            exit: kind("exit"),
            unshare: kind("unshare"),
            setns: kind("setns"),
            clone_failed: kind("clone_failed"),
            mount: kind("mount"),
            signal: kind("signal"),
            oom_victim: kind("oom_victim"),
            cgroup_mkdir: kind("cgroup_mkdir"),
            visitor: kind("visitor"),
        };

        let lost = Family::<Labels, Counter>::default();
        r.register(
            "lost_events",
            "Events lost or damaged, by reason: ring_buffer_full (the kernel could not queue \
             them), undecodable, pending_full and pending_missing (a syscall's entry state not \
             kept or not seen), read_failed (clone3 arguments unreadable), unread (a field the \
             kernel could not read)",
            lost.clone(),
        );
        let reason = |k: &'static str| lost.get_or_create(&vec![("reason", k)]).clone();
        let filtered = Counter::default();
        r.register(
            "filtered_events",
            "Host tasks' fork/exec/exit kept in the kernel by the filter (not lost)",
            filtered.clone(),
        );
        let followed = Followed {
            last: Stats::default(),
            ring_buffer_full: reason("ring_buffer_full"),
            undecodable: reason("undecodable"),
            pending_full: reason("pending_full"),
            pending_missing: reason("pending_missing"),
            read_failed: reason("read_failed"),
            unread: reason("unread"),
            filtered,
        };

        let counter = |r: &mut Registry, name: &str, help: &str| {
            let c = Counter::default();
            r.register(name, help, c.clone());
            c
        };
        let sandboxes_created = counter(
            &mut r,
            "sandboxes_created",
            "Pod sandboxes seen starting (a pause's exec, or containers joining pinned namespaces)",
        );
        let sandboxes_ended = counter(
            &mut r,
            "sandboxes_ended",
            "Pod sandboxes ended (pause gone, every container left)",
        );
        let containers_started = counter(
            &mut r,
            "containers_started",
            "Containers that joined a sandbox",
        );
        let exec_sessions = counter(
            &mut r,
            "exec_sessions",
            "Exec sessions that entered a container",
        );
        let leaks = counter(
            &mut r,
            "leaks",
            "Namespaces of a pod whose tasks are all gone, still pinned after the grace (LEAK)",
        );
        let visits = counter(
            &mut r,
            "visits",
            "Visitors (CNI plugins, nsenter, runtime threads) that entered a pod's namespaces",
        );
        let gauge = |r: &mut Registry, name: &str, help: &str| {
            let g = Gauge::default();
            r.register(name, help, g.clone());
            g
        };
        let live_sandboxes = gauge(
            &mut r,
            "live_sandboxes",
            "Pod sandboxes running now (including those older than the trace)",
        );
        let live_containers = gauge(
            &mut r,
            "live_containers",
            "Containers running in pod sandboxes now",
        );

        let phases =
            Family::<Labels, Histogram, fn() -> Histogram>::new_with_constructor(phase_histogram);
        r.register(
            "sandbox_phase_seconds",
            "Pod sandbox phases, on the buckets of kubelet_run_podsandbox_duration_seconds: \
             namespaces_to_pause (first namespace made → pause exec), pause_to_first_container \
             (pause exec → first container's setns), lifetime (first namespace → sandbox ended)",
            phases.clone(),
        );
        let phase = |p: &'static str| phases.get_or_create(&vec![("phase", p)]).clone();
        Metrics {
            events: by_kind,
            followed: Mutex::new(followed),
            sandboxes_created,
            sandboxes_ended,
            containers_started,
            exec_sessions,
            leaks,
            visits,
            live_sandboxes,
            live_containers,
            namespaces_to_pause: phase("namespaces_to_pause"),
            pause_to_first_container: phase("pause_to_first_container"),
            lifetime: phase("lifetime"),
            registry: r,
        }
    }

    /// What is running when the trace starts (the start-up /proc walk).
    pub fn seed(&self, m: &Model) {
        for sb in m.sandboxes.ids() {
            let s = &m.sandboxes[sb];
            if s.ended_ns.is_none() {
                self.live_sandboxes.inc();
            }
            let running = s
                .containers
                .iter()
                .filter(|&&c| m.containers.get(c).is_some_and(|c| c.left_ns.is_none()))
                .count();
            self.live_containers.inc_by(running as i64);
        }
    }

    /// One decoded kernel event.
    pub fn event(&self, ev: &Event) {
        let e = &self.events;
        match ev {
            Event::Fork(_) => e.fork.inc(),
            Event::Exec(_) => e.exec.inc(),
            Event::Exit(_) => e.exit.inc(),
            Event::Unshare(_) => e.unshare.inc(),
            Event::Setns(_) => e.setns.inc(),
            Event::CloneFailed(_) => e.clone_failed.inc(),
            Event::Mount(_) => e.mount.inc(),
            Event::Cause(Cause::Signal(_)) => e.signal.inc(),
            Event::Cause(Cause::Oom(_)) => e.oom_victim.inc(),
            Event::Cause(Cause::CgroupMkdir(_)) => e.cgroup_mkdir.inc(),
            Event::Visitor(_) => e.visitor.inc(),
        };
    }

    /// One lifecycle step, with the model that made it (for durations).
    pub fn lifecycle(&self, m: &Model, l: &Lifecycle) {
        let Some(s) = m.sandboxes.get(l.sandbox) else {
            return;
        };
        match &l.what {
            What::PauseStarted { .. } => {
                self.sandboxes_created.inc();
                self.live_sandboxes.inc();
                if let Some(d) = m.durations(l.sandbox).namespaces_to_pause_ns {
                    self.namespaces_to_pause.observe(secs(d));
                }
            }
            What::SandboxWithoutPause { .. } => {
                self.sandboxes_created.inc();
                self.live_sandboxes.inc();
            }
            What::ContainerJoined { .. } => {
                self.containers_started.inc();
                self.live_containers.inc();
                // The sandbox's first container: the one just joined.
                if s.containers.len() == 1
                    && let Some(d) = m.durations(l.sandbox).pause_to_first_join_ns
                {
                    self.pause_to_first_container.observe(secs(d));
                }
            }
            What::ExecJoined { .. } => {
                self.exec_sessions.inc();
            }
            What::Left {
                exec_session: false,
                ..
            } => {
                self.live_containers.dec();
            }
            What::SandboxEnded => {
                self.sandboxes_ended.inc();
                self.live_sandboxes.dec();
                if let Some(d) = m.durations(l.sandbox).lifetime_ns {
                    self.lifetime.observe(secs(d));
                }
            }
            What::Leak { .. } => {
                self.leaks.inc();
            }
            What::Visit { .. } => {
                self.visits.inc();
            }
            What::Left { .. }
            | What::PinAdded { .. }
            | What::PinRemoved { .. }
            | What::VisitLeft { .. }
            | What::NamespaceCreated { .. }
            | What::PauseExited { .. }
            | What::NamespaceEmpty { .. }
            // Seeded from the model already (see `seed`).
            | What::SandboxRunning => {}
        }
    }

    /// The pipeline's counters now: the loss counters follow them.
    pub fn stats(&self, now: &Stats) {
        let Ok(mut f) = self.followed.lock() else {
            return;
        };
        let (was, k, wk) = (f.last, &now.kernel, f.last.kernel);
        let up = |c: &Counter, new: u64, old: u64| {
            c.inc_by(new.saturating_sub(old));
        };
        up(&f.ring_buffer_full, k.ringbuf_full, wk.ringbuf_full);
        up(&f.undecodable, now.decode_errors, was.decode_errors);
        up(&f.pending_full, k.pending_full, wk.pending_full);
        up(&f.pending_missing, k.pending_missing, wk.pending_missing);
        up(&f.read_failed, k.read_failed, wk.read_failed);
        up(&f.unread, now.unread, was.unread);
        up(&f.filtered, k.filtered, wk.filtered);
        f.last = *now;
    }

    /// Every metric as OpenMetrics text (ends with `# EOF`).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests;
