//! What does not fit the model: the anomaly policy, per sandbox and node-wide.

use super::names::kinds;
use super::{ContainerRow, Pause, Runtime, SandboxNs};
use crate::model::runtime;
use crate::stats::Stats;

/// How long containers may outlive their pause before it is an anomaly.
const PAUSE_GRACE_NS: u64 = 5_000_000_000;

/// A sandbox's anomalies: partial joins (by what its runtime shares, see
/// [`runtime`]), a pause gone while its containers ran on, namespaces that
/// emptied but are still pinned. `runtime`: the sandbox's, from its cgroup.
pub fn of_sandbox(
    containers: &[ContainerRow],
    pause: Option<&Pause>,
    namespaces: &[SandboxNs],
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
    for n in namespaces {
        if n.emptied_ns.is_some() && !n.pinned_by.is_empty() {
            anomalies.push(format!(
                "{} {} has no tasks but is still pinned by {}",
                n.kind.name(),
                n.inum,
                n.pinned_by.join(", ")
            ));
        }
    }
    anomalies
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
