//! Many podman pods, each with a pause, two containers and busy work
//! inside, some of them running at once: the load of the replay
//! benchmark (`tracer bench-recording`) and of the pipeline bench.

use super::runtime::{Feed, SIGCHLD, app_container, app_ns, podman_pause};
use super::spaces::{HOST, Spaces};

/// How many pods, events and pods at once.
#[derive(Clone, Copy, Debug)]
pub struct Workload {
    pub sandboxes: u32,
    /// About this many events in all.
    pub events: u64,
    /// Pods running at once.
    pub live: u32,
}

/// Events to start and stop one pod (see [`start`] and [`stop`]).
const PER_POD: u64 = 27;

/// Pod `i`'s pids start here; every pod has 64.
fn base(i: u32) -> u32 {
    100_000 + i * 64
}

/// Pod `i`'s namespaces: distinct from every other pod's and the host's.
fn pod(i: u32) -> Spaces {
    let nr = 10_000_000 + i * 16;
    Spaces {
        net: nr,
        ipc: nr + 1,
        uts: nr + 2,
        mnt: nr + 3,
        pid: HOST.pid,
        pfc: nr + 4,
    }
}

/// The stage-1 pids of pod `i`'s two containers (their pids are one more).
fn apps(i: u32) -> [u32; 2] {
    [base(i) + 10, base(i) + 20]
}

/// Start pod `i`: netns by podman, the pause by runc, two containers.
fn start(w: &mut impl Feed, i: u32) {
    podman_pause(w, (base(i), base(i)), base(i) + 1, pod(i));
    let [a, b] = apps(i);
    app_container(w, a, pod(i), &["/app", "--serve"]);
    app_container(w, b, pod(i), &["/sidecar"]);
}

/// Busy work inside pod `i`'s first container: a fork, exec and exit.
fn work(w: &mut impl Feed, i: u32, n: u32) {
    let s1 = apps(i)[0];
    let (parent, ns) = (s1 + 1, app_ns(pod(i), s1));
    let child = parent + 30 + (n % 30);
    w.fork(parent, child, "app", SIGCHLD, ns, ns);
    w.exec(child, "sh", "/bin/sh", &["/bin/sh", "-c", "true"], ns);
    w.exit(child, "sh", 0, ns);
}

fn stop(w: &mut impl Feed, i: u32) {
    for s1 in apps(i) {
        w.exit(s1 + 1, "app", 137, app_ns(pod(i), s1));
    }
    let pause = Spaces {
        pid: pod(i).pfc,
        ..pod(i)
    };
    w.exit(base(i) + 2, "catatonit", 0, pause);
}

/// Feed the whole workload.
pub fn run(w: &mut impl Feed, load: Workload) {
    let sandboxes = load.sandboxes.max(1);
    let live = load.live.clamp(1, sandboxes);
    let per_pod = (load.events / u64::from(sandboxes))
        .saturating_sub(PER_POD)
        .div_ceil(3);
    for i in 0..sandboxes {
        start(w, i);
        for n in 0..per_pod {
            work(w, i, n as u32);
        }
        if i >= live {
            stop(w, i - live);
        }
    }
    for i in sandboxes.saturating_sub(live)..sandboxes {
        stop(w, i);
    }
}
