//! What does not fit the model: the anomaly policy, per sandbox and node-wide.

use super::names::kinds;
use super::{ContainerRow, Pause, Pin, Runtime, SandboxNs};
use crate::clock::Clock;
use crate::model::LEAK_GRACE_NS;
use crate::model::pin::same_mount_point;
use crate::model::runtime;
use crate::render::dur;
use crate::stats::Stats;

/// How long containers may outlive their pause before it is an anomaly.
const PAUSE_GRACE_NS: u64 = 5_000_000_000;

/// A sandbox's anomalies: partial joins (by what its runtime shares, see
/// [`runtime`]), a pause gone while its containers ran on. `runtime`: the
/// sandbox's, from its cgroup. (Leaks: [`leaks`].)
pub fn of_sandbox(
    containers: &[ContainerRow],
    pause: Option<&Pause>,
    runtime: Option<Runtime>,
) -> Vec<String> {
    let mut anomalies = Vec::new();
    for c in containers {
        // A container that exited at once may have no cgroup of its own.
        let rt = c.cgroup.as_ref().and_then(|g| g.runtime).or(runtime);
        let partial = runtime::partial(rt, &c.missing);
        if !partial.is_empty() {
            anomalies.push(format!(
                "container {} (pid {}) is in the pod's {} but not its {}: a partial join",
                c.name,
                c.pid,
                kinds(&c.joined),
                kinds(&partial)
            ));
        }
    }
    // Runtimes that stop a pod all at once (podman) kill the pause a
    // moment before the apps; a pause gone for long while they run
    // (or still running at the end of the trace) is a crashed infra.
    if let Some(exited) = pause.and_then(|p| p.exited_ns) {
        let running: Vec<&str> = containers
            .iter()
            .filter(|c| c.left_ns.is_none_or(|l| l > exited + PAUSE_GRACE_NS))
            .map(|c| c.name.as_str())
            .collect();
        if !running.is_empty() {
            anomalies.push(format!(
                "the pause exited while {} still ran (more than 5 s on, or to the end of the trace)",
                running.join(", ")
            ));
        }
    }
    anomalies
}

/// `in mount namespace 4026532500 (pid 4242 sleep)`, or the host's.
fn where_(p: &Pin, host_mnt: Option<u32>) -> String {
    let task = p
        .holder
        .as_ref()
        .map(|t| format!(" (pid {} {})", t.pid, t.comm))
        .unwrap_or_default();
    if Some(p.mnt.inum) == host_mnt {
        format!("in the host's mount namespace {}{task}", p.mnt.inum)
    } else {
        format!("in mount namespace {}{task}", p.mnt.inum)
    }
}

/// Pins that outlived the sandbox's last task: a LEAK once the grace is
/// over (the verdict the model gave, or due at the end of the trace `now`);
/// still within the grace at the end, said so without a verdict.
pub fn leaks(
    namespaces: &[SandboxNs],
    tasks_gone: Option<u64>,
    now: u64,
    host_mnt: Option<u32>,
    clock: &Clock,
) -> Vec<String> {
    let mut out = Vec::new();
    for n in namespaces {
        let made_by = |p: &Pin| {
            let m = p.made.as_ref().or_else(|| {
                n.pins
                    .iter()
                    .filter(|o| same_mount_point(&o.path, &p.path))
                    .find_map(|o| o.made.as_ref())
            });
            match m {
                Some(m) => format!(
                    "; the pin was made by pid {} {} at {}",
                    m.pid,
                    m.comm,
                    clock.hms(m.ts_ns)
                ),
                None => "; who made the pin was not seen".into(),
            }
        };
        for p in n.pins.iter() {
            let what = format!(
                "{} {} still pinned by {} {}",
                n.kind.name(),
                n.inum,
                p.path.escape_debug(),
                where_(p, host_mnt)
            );
            let after = |at: u64| {
                tasks_gone
                    .and_then(|g| at.checked_sub(g))
                    .map(|d| format!(" {} after its pod's last task", dur(d)))
                    .unwrap_or_default()
            };
            if let Some(at) = p.leak_ns {
                let still = if p.live() {
                    "to the end of the trace".to_string()
                } else {
                    format!(
                        "until {}",
                        p.removed
                            .as_ref()
                            .map_or("-".into(), |r| clock.hms(r.ts_ns))
                    )
                };
                out.push(format!("LEAK: {what}{} ({still}){}", after(at), made_by(p)));
            } else if p.live()
                && let Some(gone) = tasks_gone
            {
                if now >= gone + LEAK_GRACE_NS {
                    out.push(format!(
                        "LEAK: {what}{} (the end of the trace){}",
                        after(now),
                        made_by(p)
                    ));
                } else {
                    out.push(format!(
                        "{what} at the end of the trace,{} (no verdict yet: a LEAK after {})",
                        after(now),
                        dur(LEAK_GRACE_NS)
                    ));
                }
            }
        }
    }
    out
}

/// Node-wide anomalies: lost events make every timeline suspect.
pub fn of_node(stats: &Stats) -> Vec<String> {
    let mut anomalies = Vec::new();
    if stats.kernel.ringbuf_full > 0 {
        anomalies.push(format!(
            "{} events were lost (ring buffer full): timelines may miss steps",
            stats.kernel.ringbuf_full
        ));
    }
    if stats.decode_errors > 0 {
        anomalies.push(format!(
            "{} records could not be decoded",
            stats.decode_errors
        ));
    }
    anomalies
}
