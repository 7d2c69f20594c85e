//! Ground truth from `podman inspect` and `podman pod inspect`, typed.

use std::fs;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::Podman;
use crate::support::clock::rfc3339_ns;

impl Podman {
    /// What `podman inspect` knows about a container.
    pub fn inspect_container(&self, id: &str) -> ContainerTruth {
        let text = self.run(&["container", "inspect", id]);
        // An array of exactly one.
        let [raw]: [RawContainer; 1] = parse(&text, &format!("podman inspect {id}"));
        ContainerTruth::from_raw(raw)
    }

    /// What `podman pod inspect` knows about a pod.
    pub fn inspect_pod(&self, name: &str) -> PodTruth {
        let text = self.run(&["pod", "inspect", name]);
        let what = format!("podman pod inspect {name}");
        // podman 4.3 prints one object; later versions an array of them.
        let raw = match parse::<OneOrMany<RawPod>>(&text, &what) {
            OneOrMany::One(p) => p,
            OneOrMany::Many(v) => v
                .into_iter()
                .next()
                .unwrap_or_else(|| panic!("{what}: an empty array")),
        };
        PodTruth {
            id: raw.id,
            name: raw.name,
            state: raw.state,
            infra_container_id: raw.infra_container_id,
            shared_namespaces: raw.shared_namespaces.unwrap_or_default(),
            cgroup_path: raw.cgroup_path.filter(|s| !s.is_empty()),
            containers: raw
                .containers
                .unwrap_or_default()
                .into_iter()
                .map(|c| PodMember {
                    id: c.id,
                    name: c.name,
                    state: c.state,
                })
                .collect(),
        }
    }
}

fn parse<T: DeserializeOwned>(text: &str, what: &str) -> T {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{what}: unexpected shape ({e}):\n{text}"))
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

/// Ground truth on one container from `podman inspect`.
#[derive(Clone, Debug)]
pub struct ContainerTruth {
    pub id: String,
    pub name: String,
    /// The pod's id (empty outside a pod).
    pub pod_id: String,
    pub is_infra: bool,
    /// `created`, `running`, `exited`, ...
    pub status: String,
    pub running: bool,
    /// The container's pid 1, as seen from the host (0 once it exited).
    pub pid: u32,
    /// conmon's pid (0 once the container exited).
    pub conmon_pid: u32,
    pub exit_code: i32,
    /// Unix nanoseconds; `None` for Go's zero time (never happened).
    pub created_ns: Option<i64>,
    pub started_at_ns: Option<i64>,
    pub finished_at_ns: Option<i64>,
    /// The entrypoint and its arguments.
    pub path: String,
    pub args: Vec<String>,
    /// The pod's netns bind mount (`/run/netns/netns-<uuid>`), when any.
    pub sandbox_key: Option<String>,
    /// That netns's inode, from `stat` of the bind mount (if it still exists).
    pub netns_inode: Option<u64>,
    /// The container's cgroup (present while it runs).
    pub cgroup_path: Option<String>,
    /// `HostConfig.{Network,Ipc,UTS,Pid}Mode`: `container:<infra id>` for
    /// a namespace joined from the pod's infra container.
    pub network_mode: String,
    pub ipc_mode: String,
    pub uts_mode: String,
    pub pid_mode: String,
}

impl ContainerTruth {
    fn from_raw(r: RawContainer) -> ContainerTruth {
        let sandbox_key = r
            .network_settings
            .and_then(|n| n.sandbox_key)
            .filter(|s| !s.is_empty());
        let netns_inode = sandbox_key.as_deref().and_then(|p| {
            use std::os::unix::fs::MetadataExt;
            fs::metadata(p).ok().map(|m| m.ino())
        });
        let hc = r.host_config.unwrap_or_default();
        ContainerTruth {
            name: r.name,
            pod_id: r.pod.unwrap_or_default(),
            is_infra: r.is_infra.unwrap_or(false),
            status: r.state.status,
            running: r.state.running,
            pid: r.state.pid.max(0) as u32,
            conmon_pid: r.state.conmon_pid.unwrap_or(0).max(0) as u32,
            exit_code: r.state.exit_code,
            created_ns: podman_time(&r.created, &r.id, "Created"),
            started_at_ns: podman_time(&r.state.started_at, &r.id, "StartedAt"),
            finished_at_ns: podman_time(&r.state.finished_at, &r.id, "FinishedAt"),
            path: r.path.unwrap_or_default(),
            args: r.args.unwrap_or_default(),
            sandbox_key,
            netns_inode,
            cgroup_path: r.state.cgroup_path.filter(|s| !s.is_empty()),
            network_mode: hc.network_mode.unwrap_or_default(),
            ipc_mode: hc.ipc_mode.unwrap_or_default(),
            uts_mode: hc.uts_mode.unwrap_or_default(),
            pid_mode: hc.pid_mode.unwrap_or_default(),
            id: r.id,
        }
    }

    /// `running for [started, finished]`, in Unix ns; panics if podman has
    /// not recorded both.
    pub fn lifetime_ns(&self) -> (i64, i64) {
        match (self.started_at_ns, self.finished_at_ns) {
            (Some(s), Some(f)) => (s, f),
            _ => panic!("container {} has no start and finish: {self:?}", self.name),
        }
    }
}

/// Ground truth on a pod from `podman pod inspect`.
#[derive(Clone, Debug)]
pub struct PodTruth {
    pub id: String,
    pub name: String,
    /// `Created`, `Running`, `Exited`, ...
    pub state: String,
    pub infra_container_id: String,
    /// Which namespaces its containers share (podman's default: uts, ipc, net).
    pub shared_namespaces: Vec<String>,
    /// The pod's parent cgroup.
    pub cgroup_path: Option<String>,
    pub containers: Vec<PodMember>,
}

#[derive(Clone, Debug)]
pub struct PodMember {
    pub id: String,
    pub name: String,
    pub state: String,
}

/// A podman timestamp in Unix ns; `None` for Go's zero time
/// (`0001-01-01T00:00:00Z`: "not yet"). Panics on anything unparsable.
fn podman_time(s: &str, id: &str, field: &str) -> Option<i64> {
    let ns = rfc3339_ns(s)
        .unwrap_or_else(|e| panic!("container {id}: {field} {s:?} is not RFC 3339: {e}"));
    if ns <= 0 {
        // Go's zero time, or anything before 1970: not a real event here.
        return None;
    }
    Some(i64::try_from(ns).unwrap_or_else(|_| panic!("{field} {s:?} out of range")))
}

// ---- podman's JSON (only the fields used; unknown ones are ignored) -----

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawContainer {
    id: String,
    name: String,
    created: String,
    path: Option<String>,
    args: Option<Vec<String>>,
    state: RawState,
    pod: Option<String>,
    is_infra: Option<bool>,
    network_settings: Option<RawNetwork>,
    host_config: Option<RawHostConfig>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawState {
    status: String,
    running: bool,
    pid: i64,
    conmon_pid: Option<i64>,
    exit_code: i32,
    started_at: String,
    finished_at: String,
    cgroup_path: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawNetwork {
    sandbox_key: Option<String>,
}

#[derive(Deserialize, Default)]
struct RawHostConfig {
    #[serde(rename = "NetworkMode")]
    network_mode: Option<String>,
    #[serde(rename = "IpcMode")]
    ipc_mode: Option<String>,
    #[serde(rename = "UTSMode")]
    uts_mode: Option<String>,
    #[serde(rename = "PidMode")]
    pid_mode: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawPod {
    id: String,
    name: String,
    state: String,
    #[serde(rename = "InfraContainerID", default)]
    infra_container_id: String,
    shared_namespaces: Option<Vec<String>>,
    cgroup_path: Option<String>,
    containers: Option<Vec<RawPodMember>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawPodMember {
    id: String,
    name: String,
    state: String,
}

#[test]
fn go_zero_time_is_never() {
    assert_eq!(podman_time("0001-01-01T00:00:00Z", "x", "FinishedAt"), None);
    assert_eq!(
        podman_time("2026-11-28T07:33:09.946303039Z", "x", "StartedAt"),
        Some(1_795_851_189_946_303_039)
    );
}
