//! Pod names from an OCI bundle: the kubelet's words that a CRI runtime
//! writes into each container's `config.json` as annotations
//! (containerd's `io.kubernetes.cri.*`, CRI-O's `io.kubernetes.cri-o.*`,
//! the kubelet's own `io.kubernetes.pod.*` labels). A file read, no
//! socket: names for the live line of a pause or container the moment it
//! starts, and where no CRI socket answers.
//!
//! The mapping ([`identity`]) takes any key/value map, so labels of the
//! same shape from elsewhere (a Docker container's, cri-dockerd's) name
//! pods the same way.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::model::{Identity, IdentityRole};

/// Where runtimes keep bundles, `{}` for the id: containerd (and k3s'),
/// CRI-O's run and storage dirs, Docker's containerd (own and system).
const BUNDLE_DIRS: [&str; 6] = [
    "/run/containerd/io.containerd.runtime.v2.task/k8s.io/{}/config.json",
    "/run/k3s/containerd/io.containerd.runtime.v2.task/k8s.io/{}/config.json",
    "/run/containers/storage/overlay-containers/{}/userdata/config.json",
    "/var/lib/containers/storage/overlay-containers/{}/userdata/config.json",
    "/run/docker/containerd/daemon/io.containerd.runtime.v2.task/moby/{}/config.json",
    "/run/containerd/io.containerd.runtime.v2.task/moby/{}/config.json",
];

/// A config.json is a few KiB to a few tens; a bigger one is not a bundle's.
const MAX_CONFIG_BYTES: u64 = 1 << 20;

mod key {
    pub const CRI_TYPE: &str = "io.kubernetes.cri.container-type";
    pub const CRI_SANDBOX_ID: &str = "io.kubernetes.cri.sandbox-id";
    pub const CRI_SANDBOX_NAME: &str = "io.kubernetes.cri.sandbox-name";
    pub const CRI_SANDBOX_NAMESPACE: &str = "io.kubernetes.cri.sandbox-namespace";
    pub const CRI_SANDBOX_UID: &str = "io.kubernetes.cri.sandbox-uid";
    pub const CRI_CONTAINER_NAME: &str = "io.kubernetes.cri.container-name";
    pub const CRIO_TYPE: &str = "io.kubernetes.cri-o.ContainerType";
    pub const CRIO_SANDBOX_ID: &str = "io.kubernetes.cri-o.SandboxID";
    pub const CRIO_KUBE_NAME: &str = "io.kubernetes.cri-o.KubeName";
    pub const CRIO_NAMESPACE: &str = "io.kubernetes.cri-o.Namespace";
    /// JSON: `{"name","uid","namespace","attempt"}` of a sandbox, `{"name","attempt"}` of a container.
    pub const CRIO_METADATA: &str = "io.kubernetes.cri-o.Metadata";
    /// JSON: the kubelet's labels (`io.kubernetes.pod.*`, `io.kubernetes.container.name`).
    pub const CRIO_LABELS: &str = "io.kubernetes.cri-o.Labels";
    pub const POD_NAME: &str = "io.kubernetes.pod.name";
    pub const POD_NAMESPACE: &str = "io.kubernetes.pod.namespace";
    pub const POD_UID: &str = "io.kubernetes.pod.uid";
    pub const CONTAINER_NAME: &str = "io.kubernetes.container.name";
    /// cri-dockerd's (and dockershim's) labels: `podsandbox` or `container`.
    pub const DOCKER_TYPE: &str = "io.kubernetes.docker.type";
    pub const DOCKER_SANDBOX_ID: &str = "io.kubernetes.sandbox.id";
}

/// CRI-O's metadata annotation.
#[derive(Default, Deserialize)]
struct Metadata {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    uid: Option<String>,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    attempt: Option<u32>,
}

/// The kubelet's words in `labels` about the sandbox or container `id`;
/// `None` when they say nothing about a pod. `source` names where the
/// map came from (`bundle`, `docker`).
pub fn identity(id: &str, labels: &BTreeMap<String, String>, source: &str) -> Option<Identity> {
    let get = |k: &str| labels.get(k).filter(|v| !v.is_empty()).cloned();
    let crio_labels: BTreeMap<String, String> = labels
        .get(key::CRIO_LABELS)
        .and_then(|j| serde_json::from_str(j).ok())
        .unwrap_or_default();
    let label = |k: &str| get(k).or_else(|| crio_labels.get(k).filter(|v| !v.is_empty()).cloned());
    let meta: Metadata = labels
        .get(key::CRIO_METADATA)
        .and_then(|j| serde_json::from_str(j).ok())
        .unwrap_or_default();
    let role = match get(key::CRI_TYPE)
        .or_else(|| get(key::CRIO_TYPE))
        .or_else(|| get(key::DOCKER_TYPE))
        .as_deref()
    {
        Some("sandbox" | "podsandbox") => IdentityRole::Sandbox,
        Some(_) => IdentityRole::Container,
        // No runtime's type: a container if the kubelet named one.
        None if label(key::CONTAINER_NAME).is_some() => IdentityRole::Container,
        None => IdentityRole::Sandbox,
    };
    let sandbox = role == IdentityRole::Sandbox;
    let meta_pod = |f: Option<String>| if sandbox { f } else { None };
    let i = Identity {
        id: id.to_string(),
        role,
        sandbox_id: (!sandbox)
            .then(|| {
                get(key::CRI_SANDBOX_ID)
                    .or_else(|| get(key::CRIO_SANDBOX_ID))
                    .or_else(|| get(key::DOCKER_SANDBOX_ID))
            })
            .flatten(),
        pod_namespace: get(key::CRI_SANDBOX_NAMESPACE)
            .or_else(|| get(key::CRIO_NAMESPACE))
            .or_else(|| meta_pod(meta.namespace.clone()))
            .or_else(|| label(key::POD_NAMESPACE)),
        pod_name: get(key::CRI_SANDBOX_NAME)
            .or_else(|| get(key::CRIO_KUBE_NAME).filter(|_| sandbox))
            .or_else(|| meta_pod(meta.name.clone()))
            .or_else(|| label(key::POD_NAME)),
        pod_uid: get(key::CRI_SANDBOX_UID)
            .or_else(|| meta_pod(meta.uid.clone()))
            .or_else(|| label(key::POD_UID)),
        attempt: if sandbox { meta.attempt } else { None },
        container_name: (!sandbox)
            .then(|| {
                get(key::CRI_CONTAINER_NAME)
                    .or_else(|| meta.name.clone())
                    .or_else(|| label(key::CONTAINER_NAME))
            })
            .flatten(),
        runtime: runtime_of(labels),
        source: source.to_string(),
    };
    let says_something = i.pod_name.is_some()
        || i.pod_uid.is_some()
        || i.container_name.is_some()
        || i.sandbox_id.is_some();
    says_something.then_some(i)
}

/// The runtime whose annotations these are, where they say it.
fn runtime_of(labels: &BTreeMap<String, String>) -> Option<String> {
    if labels.contains_key(key::CRI_TYPE) {
        Some("containerd".into())
    } else if labels.contains_key(key::CRIO_METADATA) {
        // podman writes some cri-o annotations too, never the metadata.
        Some("cri-o".into())
    } else if labels.contains_key(key::DOCKER_TYPE) {
        Some("docker".into())
    } else {
        None
    }
}

/// An id fit to be a path component: runtimes' ids are hex or
/// alphanumeric; anything else (from a cgroup path) is not looked up.
fn safe_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id != "."
        && id != ".."
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

/// Where the bundle of `id` may be: beside the bundle its runtime
/// supervisor works in (`shim`: the pid of the containerd shim or conmon
/// that parents the process), then the runtimes' usual state dirs.
pub fn candidates(id: &str, shim: Option<u32>) -> Vec<PathBuf> {
    if !safe_id(id) {
        return Vec::new();
    }
    let mut out = Vec::new();
    // containerd's shim works in the sandbox's bundle; its containers'
    // bundles are siblings. conmon works in its container's own.
    if let Some(cwd) = shim.and_then(|p| std::fs::read_link(format!("/proc/{p}/cwd")).ok()) {
        if cwd.ends_with(id) {
            out.push(cwd.join("config.json"));
        } else if let Some(parent) = cwd.parent() {
            out.push(parent.join(id).join("config.json"));
        }
    }
    out.extend(
        BUNDLE_DIRS
            .iter()
            .map(|d| PathBuf::from(d.replace("{}", id))),
    );
    out
}

/// The annotations of a config.json; `None` if it cannot be read or is not one.
pub fn annotations(path: &Path) -> Option<BTreeMap<String, String>> {
    #[derive(Deserialize)]
    struct Config {
        #[serde(default)]
        annotations: BTreeMap<String, String>,
    }
    let file = std::fs::File::open(path).ok()?;
    // Room for all of it: through `take`, std cannot know the size and
    // reads in pieces growing from 32 bytes (11 reads for podman's).
    let size = file.metadata().ok()?.len().min(MAX_CONFIG_BYTES);
    let mut text = Vec::with_capacity(size as usize + 1);
    file.take(MAX_CONFIG_BYTES).read_to_end(&mut text).ok()?;
    let c: Config = serde_json::from_slice(&text).ok()?;
    Some(c.annotations)
}

/// The identity the bundle of `id` gives, from the first bundle found.
pub fn read(id: &str, shim: Option<u32>) -> Option<Identity> {
    candidates(id, shim)
        .iter()
        .find_map(|p| annotations(p))
        .and_then(|a| identity(id, &a, "bundle"))
}

#[cfg(test)]
mod tests;
