//! How the report names sandboxes and containers.

use crate::model::{Container, Identity, Model, NsKind, pod_name};

/// The first 12 characters of an id, as runtimes abbreviate them. Ids
/// come from cgroup paths (live or in a recording): any text, any length.
pub fn short(id: &str) -> &str {
    match id.char_indices().nth(12) {
        Some((end, _)) => &id[..end],
        None => id,
    }
}

/// `#1 acc-ns/acc-pod` where a runtime named the pod, else `#1 pod
/// d69444909b3b`, or `#1 net 4026532301` when no pod id is known.
pub fn label(m: &Model, sb: usize) -> String {
    let Some(s) = m.sandboxes.get(sb) else {
        return format!("#{}", sb + 1);
    };
    if let Some(name) = m.sandbox_identity(sb).as_ref().and_then(pod_name) {
        return format!("#{} {name}", sb + 1);
    }
    if let Some(pod) = s.cgroup.as_ref().and_then(|c| c.pod_uid.as_deref()) {
        return format!("#{} pod {}", sb + 1, short(pod));
    }
    // Its namespaces' keys name them (in kind order, as its namespaces
    // are listed): no need to gather all they hold.
    let anchor = s
        .namespaces()
        .find(|n| n.kind == NsKind::Net)
        .or(s.namespaces().next());
    match anchor {
        Some(n) => format!("#{} {} {}", sb + 1, n.kind.name(), n.inum),
        None => format!("#{}", sb + 1),
    }
}

/// A container's name: the one its runtime gave (`app`), else its runtime
/// id where the cgroup gave one, else `c<n>`.
pub fn container_name(m: &Model, c: &Container) -> String {
    if let Some(name) = m
        .container_identity(c.id)
        .and_then(|i| i.container_name.as_deref())
    {
        return name.to_string();
    }
    match container_id(c) {
        Some(id) => short(id).to_string(),
        None => format!("c{}", c.id + 1),
    }
}

/// What the report says of who a sandbox is.
pub struct SandboxNames {
    pub pod_uid: Option<String>,
    /// `namespace/pod`.
    pub pod_name: Option<String>,
    /// `containerd 1.6.20`, else the cgroup's runtime (`containerd`, `podman`).
    pub runtime: Option<String>,
    pub identity: Option<Identity>,
}

pub fn sandbox_names(m: &Model, sb: usize) -> SandboxNames {
    let identity = m.sandbox_identity(sb);
    let cgroup = m.sandboxes.get(sb).and_then(|s| s.cgroup.as_ref());
    let from_cgroup = cgroup
        .and_then(|g| g.runtime)
        .filter(|r| *r != crate::host::cgroup::Runtime::Unknown)
        .map(|r| format!("{r:?}").to_lowercase());
    SandboxNames {
        pod_uid: cgroup
            .and_then(|g| g.pod_uid.clone())
            .or_else(|| identity.as_ref().and_then(|i| i.pod_uid.clone())),
        pod_name: identity.as_ref().and_then(pod_name),
        runtime: identity
            .as_ref()
            .and_then(|i| i.runtime.clone())
            .or(from_cgroup),
        identity,
    }
}

/// A container's runtime id, as its cgroup gave it.
pub fn container_id(c: &Container) -> Option<&str> {
    c.cgroup.as_ref().and_then(|g| g.container_id.as_deref())
}

/// `net,ipc,uts`.
pub fn kinds(k: &[NsKind]) -> String {
    k.iter().map(|k| k.name()).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_ids_of_any_length_and_alphabet_never_panic() {
        assert_eq!(short("0123456789abcdef"), "0123456789ab");
        assert_eq!(short("abc"), "abc");
        assert_eq!(short(""), "");
        // Byte 12 falls inside `é`: slicing bytes would panic here.
        assert_eq!(short("0123456789aébc"), "0123456789aé");
        assert_eq!(short("ünïcödé-ïdéntïfïér"), "ünïcödé-ïdén");
    }
}
