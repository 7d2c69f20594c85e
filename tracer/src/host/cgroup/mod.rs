//! Pods and containers from cgroup paths: the runtimes' naming conventions,
//! read without root and without asking any runtime.
//!
//! A path is read component by component; what a bare name means depends on
//! its parent (`besteffort` is a QoS class only under `kubepods`, a hex name
//! is a pod only under `libpod_parent`). The innermost match wins, so a
//! Kubernetes node inside a container (kind) yields the pod's container, not
//! the node's.

mod path;

use std::cmp::Reverse;

pub use path::parse_path;

/// What a process's cgroup says about its pod and container.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CgroupIds {
    /// Whose naming convention matched.
    pub runtime: Option<Runtime>,
    /// Kubernetes pod UID (dashes restored from systemd's `_`), or the podman pod id.
    pub pod_uid: Option<String>,
    /// The container's id as the runtime names it. `None` for conmon, which
    /// watches a container from outside it.
    pub container_id: Option<String>,
    /// `guaranteed`, `burstable` or `besteffort`, when the kubepods path shows it.
    pub qos: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Runtime {
    Containerd,
    Crio,
    Docker,
    Podman,
    /// A kubelet cgroupfs-driver path: `/kubepods/<qos>/pod<uid>/<id>` names no runtime.
    Unknown,
}

/// Reads the whole of `/proc/<pid>/cgroup` (v1 `N:controllers:/path` lines,
/// v2 `0::/path`). The most specific line wins; others only fill its gaps,
/// and never with a different pod or container.
pub fn parse_proc_cgroup(contents: &str) -> CgroupIds {
    let mut parsed: Vec<CgroupIds> = contents
        .lines()
        .filter_map(line_path)
        .map(parse_path)
        .collect();
    // Stable: among equals, the file's order decides.
    parsed.sort_by_key(|ids| Reverse(specificity(ids)));
    let mut lines = parsed.into_iter();
    let mut best = lines.next().unwrap_or_default();
    for other in lines {
        merge(&mut best, other);
    }
    best
}

/// Reads `/proc/<pid>/cgroup`; `None` once the process is gone.
pub fn read(pid: u32) -> Option<CgroupIds> {
    let path = super::root::proc_path(format!("{pid}/cgroup"));
    let contents = super::file::read_to_string(path).ok()?;
    Some(parse_proc_cgroup(&contents))
}

/// The path of a well-formed line; `None` for anything else.
fn line_path(line: &str) -> Option<&str> {
    let mut fields = line.splitn(3, ':');
    let hierarchy = fields.next()?;
    let _controllers = fields.next()?;
    let path = fields.next()?;
    hierarchy.parse::<u32>().ok()?;
    path.starts_with('/').then_some(path)
}

/// Pod and container count most; runtime and QoS break ties.
fn specificity(ids: &CgroupIds) -> u8 {
    2 * u8::from(ids.pod_uid.is_some())
        + 2 * u8::from(ids.container_id.is_some())
        + u8::from(ids.runtime.is_some())
        + u8::from(ids.qos.is_some())
}

fn merge(best: &mut CgroupIds, other: CgroupIds) {
    let conflicts = |a: &Option<String>, b: &Option<String>| a.is_some() && b.is_some() && a != b;
    if conflicts(&best.pod_uid, &other.pod_uid)
        || conflicts(&best.container_id, &other.container_id)
    {
        return;
    }
    best.runtime = best.runtime.or(other.runtime);
    best.pod_uid = best.pod_uid.take().or(other.pod_uid);
    best.container_id = best.container_id.take().or(other.container_id);
    best.qos = best.qos.take().or(other.qos);
}

#[cfg(test)]
mod tests;
