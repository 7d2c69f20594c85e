//! Who a Docker container is in Kubernetes' words, from what the Docker
//! API says of it (`GET /containers/<id>/json`): the kubelet's labels that
//! cri-dockerd (dockershim) puts on every container, and the names it
//! gives them (`k8s_POD_<pod>_<namespace>_<uid>_<attempt>` for a sandbox,
//! `k8s_<container>_<pod>_<namespace>_<uid>_<attempt>` for a container).
//! Pure: tested on JSON.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::model::{Identity, IdentityRole};

const TYPE: &str = "io.kubernetes.docker.type";
const POD_NAME: &str = "io.kubernetes.pod.name";
const POD_NAMESPACE: &str = "io.kubernetes.pod.namespace";
const POD_UID: &str = "io.kubernetes.pod.uid";
const CONTAINER_NAME: &str = "io.kubernetes.container.name";
const SANDBOX_ID: &str = "io.kubernetes.sandbox.id";

/// The part of a container's inspect JSON that names it.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerJson {
    pub id: String,
    /// With Docker's leading `/`.
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub config: Config,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Config {
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
}

/// dockershim's name, split: `k8s_<container>_<pod>_<namespace>_<uid>_<attempt>`
/// (Kubernetes names and uids have no `_`, so the split is exact).
struct K8sName<'a> {
    container: &'a str,
    pod: &'a str,
    namespace: &'a str,
    uid: &'a str,
    attempt: Option<u32>,
}

fn k8s_name(name: &str) -> Option<K8sName<'_>> {
    let rest = name.trim_start_matches('/').strip_prefix("k8s_")?;
    let parts: Vec<&str> = rest.split('_').collect();
    let [container, pod, namespace, uid, attempt] = parts[..] else {
        return None;
    };
    Some(K8sName {
        container,
        pod,
        namespace,
        uid,
        attempt: attempt.parse().ok(),
    })
}

/// The identity of a container cri-dockerd made (source `docker`); `None`
/// for a container that is neither a pod sandbox nor a pod's container.
/// `runtime`: Docker's name and version, as `/version` gave them.
pub fn identity(c: &ContainerJson, runtime: Option<&str>) -> Option<Identity> {
    let empty = BTreeMap::new();
    let labels = c.config.labels.as_ref().unwrap_or(&empty);
    let label = |k: &str| labels.get(k).filter(|v| !v.is_empty()).cloned();
    let named = k8s_name(&c.name);
    let role = match labels.get(TYPE).map(String::as_str) {
        Some("podsandbox") => IdentityRole::Sandbox,
        Some("container") => IdentityRole::Container,
        _ => match &named {
            Some(n) if n.container == "POD" => IdentityRole::Sandbox,
            Some(_) => IdentityRole::Container,
            None => return None,
        },
    };
    let from_name =
        |f: for<'a> fn(&'a K8sName<'_>) -> &'a str| named.as_ref().map(|n| f(n).to_string());
    let sandbox = role == IdentityRole::Sandbox;
    Some(Identity {
        id: c.id.clone(),
        role,
        sandbox_id: if sandbox { None } else { label(SANDBOX_ID) },
        pod_namespace: label(POD_NAMESPACE).or_else(|| from_name(|n| n.namespace)),
        pod_name: label(POD_NAME).or_else(|| from_name(|n| n.pod)),
        pod_uid: label(POD_UID).or_else(|| from_name(|n| n.uid)),
        // A sandbox's name counts its attempts; a container's, its restarts.
        attempt: if sandbox {
            named.as_ref().and_then(|n| n.attempt)
        } else {
            None
        },
        container_name: if sandbox {
            None
        } else {
            label(CONTAINER_NAME).or_else(|| from_name(|n| n.container))
        },
        runtime: runtime.map(str::to_string),
        source: "docker".to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> ContainerJson {
        serde_json::from_str(json).unwrap()
    }

    /// What Docker 20.10 says of a pause cri-dockerd started (trimmed).
    const SANDBOX: &str = r#"{
        "Id": "04583a8e21b16b841b8921e227ebed23011820ee441981438c94594ed5d54a2f",
        "Name": "/k8s_POD_web_default_11111111-2222-3333-4444-555555555555_2",
        "State": {"Pid": 21492},
        "Config": {"Labels": {
            "io.kubernetes.container.name": "POD",
            "io.kubernetes.docker.type": "podsandbox",
            "io.kubernetes.pod.name": "web",
            "io.kubernetes.pod.namespace": "default",
            "io.kubernetes.pod.uid": "11111111-2222-3333-4444-555555555555"
        }}
    }"#;

    const CONTAINER: &str = r#"{
        "Id": "b0cd905593c394db5262b9e9b55092f76ffa6cc08eaf628b9038f882b44d178c",
        "Name": "/k8s_app_web_default_11111111-2222-3333-4444-555555555555_1",
        "Config": {"Labels": {
            "io.kubernetes.container.name": "app",
            "io.kubernetes.docker.type": "container",
            "io.kubernetes.pod.name": "web",
            "io.kubernetes.pod.namespace": "default",
            "io.kubernetes.pod.uid": "11111111-2222-3333-4444-555555555555",
            "io.kubernetes.sandbox.id": "04583a8e21b16b841b8921e227ebed23011820ee441981438c94594ed5d54a2f"
        }}
    }"#;

    #[test]
    fn a_pod_sandbox_from_the_kubelets_labels() {
        let id = identity(&parse(SANDBOX), Some("docker 20.10.24")).unwrap();
        assert_eq!(
            id,
            Identity {
                id: "04583a8e21b16b841b8921e227ebed23011820ee441981438c94594ed5d54a2f".into(),
                role: IdentityRole::Sandbox,
                sandbox_id: None,
                pod_namespace: Some("default".into()),
                pod_name: Some("web".into()),
                pod_uid: Some("11111111-2222-3333-4444-555555555555".into()),
                attempt: Some(2),
                container_name: None,
                runtime: Some("docker 20.10.24".into()),
                source: "docker".into(),
            }
        );
    }

    #[test]
    fn a_pods_container_from_the_kubelets_labels() {
        let id = identity(&parse(CONTAINER), None).unwrap();
        assert_eq!(id.role, IdentityRole::Container);
        assert_eq!(
            id.sandbox_id.as_deref(),
            Some("04583a8e21b16b841b8921e227ebed23011820ee441981438c94594ed5d54a2f")
        );
        assert_eq!(id.container_name.as_deref(), Some("app"));
        assert_eq!(
            (id.pod_namespace.as_deref(), id.pod_name.as_deref()),
            (Some("default"), Some("web"))
        );
        // The name's last field counts the container's restarts, not sandbox attempts.
        assert_eq!(id.attempt, None);
        assert_eq!(id.runtime, None);
    }

    #[test]
    fn without_labels_the_dockershim_name_says_it() {
        let c = parse(
            r#"{"Id": "abc", "Name": "/k8s_POD_web_kube-system_u-1_0", "Config": {"Labels": null}}"#,
        );
        let id = identity(&c, None).unwrap();
        assert_eq!(id.role, IdentityRole::Sandbox);
        assert_eq!(id.pod_namespace.as_deref(), Some("kube-system"));
        assert_eq!(id.pod_name.as_deref(), Some("web"));
        assert_eq!(id.pod_uid.as_deref(), Some("u-1"));
        assert_eq!(id.attempt, Some(0));
        let c = parse(r#"{"Id": "def", "Name": "/k8s_db_web_ns_u-1_3", "Config": {}}"#);
        let id = identity(&c, None).unwrap();
        assert_eq!(id.role, IdentityRole::Container);
        assert_eq!(id.container_name.as_deref(), Some("db"));
        assert_eq!(id.sandbox_id, None);
    }

    #[test]
    fn labels_win_over_the_name() {
        let c = parse(
            r#"{"Id": "x", "Name": "/k8s_a_b_c_d_0", "Config": {"Labels": {
                "io.kubernetes.docker.type": "container",
                "io.kubernetes.pod.name": "real", "io.kubernetes.container.name": ""}}}"#,
        );
        let id = identity(&c, None).unwrap();
        assert_eq!(id.pod_name.as_deref(), Some("real"));
        // An empty label says nothing: the name does.
        assert_eq!(id.container_name.as_deref(), Some("a"));
        assert_eq!(id.pod_namespace.as_deref(), Some("c"));
    }

    #[test]
    fn containers_outside_kubernetes_have_no_identity() {
        for json in [
            r#"{"Id": "x", "Name": "/web", "Config": {"Labels": {"app": "web"}}}"#,
            r#"{"Id": "x", "Name": "/k8s_too_few_parts", "Config": {}}"#,
            r#"{"Id": "x"}"#,
        ] {
            assert_eq!(identity(&parse(json), None), None, "{json}");
        }
    }
}
