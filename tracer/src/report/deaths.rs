//! Deaths that are anomalies of their own: a pause or container the OOM
//! killer chose (an OOM-killed pause takes its whole pod down).

use super::{ContainerRow, Pause};

pub fn anomalies(pause: Option<&Pause>, containers: &[ContainerRow]) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(p) = pause
        && let Some(k) = p.killed.as_ref().filter(|k| k.oom)
    {
        out.push(format!(
            "the pause (pid {}) was OOM-killed (invoked by {} {}): the pod's sandbox is gone",
            p.pid, k.by.pid, k.by.comm
        ));
    }
    for c in containers {
        if let Some(k) = c.killed.as_ref().filter(|k| k.oom) {
            out.push(format!(
                "container {} (pid {}) was OOM-killed (invoked by {} {})",
                c.name, c.pid, k.by.pid, k.by.comm
            ));
        }
    }
    out
}
