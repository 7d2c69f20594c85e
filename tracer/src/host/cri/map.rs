//! CRI's answers in the tracer's words: pure functions from the runtime's
//! messages to [`Identity`].

use std::collections::HashMap;

use k8s_cri::v1 as cri;

use crate::model::{Identity, IdentityRole};

/// `containerd 1.6.20`: the name and version the runtime gives.
pub fn runtime(v: &cri::VersionResponse) -> String {
    [v.runtime_name.trim(), v.runtime_version.trim()]
        .iter()
        .filter(|s| !s.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(" ")
}

fn some(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

/// A sandbox: its metadata is the kubelet's (name, namespace, uid, attempt).
pub fn sandbox(
    id: &str,
    meta: Option<&cri::PodSandboxMetadata>,
    labels: &HashMap<String, String>,
    runtime: &str,
) -> Identity {
    let label = |k: &str| labels.get(k).and_then(|v| some(v));
    Identity {
        id: id.to_string(),
        role: IdentityRole::Sandbox,
        sandbox_id: None,
        pod_namespace: meta
            .and_then(|m| some(&m.namespace))
            .or_else(|| label("io.kubernetes.pod.namespace")),
        pod_name: meta
            .and_then(|m| some(&m.name))
            .or_else(|| label("io.kubernetes.pod.name")),
        pod_uid: meta
            .and_then(|m| some(&m.uid))
            .or_else(|| label("io.kubernetes.pod.uid")),
        attempt: meta.map(|m| m.attempt),
        container_name: None,
        runtime: some(runtime),
        source: "cri".into(),
    }
}

/// A container, with its pod from its sandbox's identity where known,
/// else from the kubelet's labels on the container.
pub fn container(c: &cri::Container, pod: Option<&Identity>, runtime: &str) -> Identity {
    let label = |k: &str| c.labels.get(k).and_then(|v| some(v));
    let from_pod = |f: fn(&Identity) -> &Option<String>| pod.and_then(|p| f(p).clone());
    Identity {
        id: c.id.clone(),
        role: IdentityRole::Container,
        sandbox_id: some(&c.pod_sandbox_id),
        pod_namespace: from_pod(|p| &p.pod_namespace)
            .or_else(|| label("io.kubernetes.pod.namespace")),
        pod_name: from_pod(|p| &p.pod_name).or_else(|| label("io.kubernetes.pod.name")),
        pod_uid: from_pod(|p| &p.pod_uid).or_else(|| label("io.kubernetes.pod.uid")),
        attempt: None,
        container_name: c
            .metadata
            .as_ref()
            .and_then(|m| some(&m.name))
            .or_else(|| label("io.kubernetes.container.name")),
        runtime: some(runtime),
        source: "cri".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> cri::PodSandboxMetadata {
        cri::PodSandboxMetadata {
            name: "acc-pod".into(),
            uid: "u-1".into(),
            namespace: "acc-ns".into(),
            attempt: 1,
        }
    }

    #[test]
    fn the_runtime_is_named_with_its_version() {
        let v = cri::VersionResponse {
            version: "0.1.0".into(),
            runtime_name: "containerd".into(),
            runtime_version: "1.6.20~ds1".into(),
            runtime_api_version: "v1".into(),
        };
        assert_eq!(runtime(&v), "containerd 1.6.20~ds1");
        let bare = cri::VersionResponse {
            runtime_name: "cri-o".into(),
            ..Default::default()
        };
        assert_eq!(runtime(&bare), "cri-o");
    }

    #[test]
    fn a_sandbox_is_named_by_its_metadata_with_its_attempt() {
        let i = sandbox("s1", Some(&meta()), &HashMap::new(), "containerd 1.6.20");
        assert_eq!(i.role, IdentityRole::Sandbox);
        assert_eq!(i.pod_namespace.as_deref(), Some("acc-ns"));
        assert_eq!(i.pod_name.as_deref(), Some("acc-pod"));
        assert_eq!(i.pod_uid.as_deref(), Some("u-1"));
        assert_eq!(i.attempt, Some(1));
        assert_eq!(i.runtime.as_deref(), Some("containerd 1.6.20"));
        assert_eq!(i.source, "cri");
        let labels = HashMap::from([("io.kubernetes.pod.name".to_string(), "l".to_string())]);
        let i = sandbox("s1", None, &labels, "");
        assert_eq!(i.pod_name.as_deref(), Some("l"));
        assert_eq!((i.attempt, i.runtime), (None, None));
    }

    #[test]
    fn a_container_takes_its_pod_from_its_sandbox_else_its_labels() {
        let c = cri::Container {
            id: "c1".into(),
            pod_sandbox_id: "s1".into(),
            metadata: Some(cri::ContainerMetadata {
                name: "job".into(),
                attempt: 0,
            }),
            labels: HashMap::from([
                (
                    "io.kubernetes.pod.name".to_string(),
                    "from-label".to_string(),
                ),
                (
                    "io.kubernetes.pod.namespace".to_string(),
                    "ns-label".to_string(),
                ),
            ]),
            ..Default::default()
        };
        let pod = sandbox("s1", Some(&meta()), &HashMap::new(), "containerd");
        let i = container(&c, Some(&pod), "containerd");
        assert_eq!(i.role, IdentityRole::Container);
        assert_eq!(i.container_name.as_deref(), Some("job"));
        assert_eq!(i.sandbox_id.as_deref(), Some("s1"));
        assert_eq!(i.pod_name.as_deref(), Some("acc-pod"));
        assert_eq!(i.pod_uid.as_deref(), Some("u-1"));
        let i = container(&c, None, "containerd");
        assert_eq!(i.pod_name.as_deref(), Some("from-label"));
        assert_eq!(i.pod_namespace.as_deref(), Some("ns-label"));
        assert_eq!(i.pod_uid, None);
    }
}
