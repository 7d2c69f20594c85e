//! Who a sandbox or container is in Kubernetes' words (`namespace/pod`,
//! container names), as a runtime told us: CRI, the Docker API, or the
//! kubelet's labels in an OCI bundle. One vocabulary for every source, so
//! the model and the report do not care where a name came from.

use serde::{Deserialize, Serialize};

/// What one source said about one sandbox or container, keyed by the
/// runtime's id (the id the cgroup path carries, e.g. containerd's
/// container id, docker's, CRI-O's). Recorded as a note, so a replay
/// elsewhere has the same names without the socket.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// The runtime's id of the sandbox (pause/infra) or container.
    pub id: String,
    /// `sandbox` or `container`.
    pub role: IdentityRole,
    /// The sandbox's id, for a container (links it to its pod).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_uid: Option<String>,
    /// CRI's sandbox attempt (re-created sandboxes of one pod count up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    /// Runtime name and version as it reports them (`containerd 1.6.20`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
    /// Where this came from: `cri`, `docker`, `bundle`.
    pub source: String,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentityRole {
    #[default]
    Sandbox,
    Container,
}
