//! What each runtime shares between a pod's containers: runtime knowledge,
//! so that "a partial join" means "not what this runtime does", not
//! "differs from the podman case".
//!
//! - Docker (cri-dockerd, dockershim): containers join the pause's net and
//!   ipc (`--net=container:`, `--ipc=container:`). Docker has no
//!   `--uts=container:` and cri-dockerd leaves UTSMode empty: each
//!   container has its own uts by design.
//! - containerd's CRI, CRI-O, podman: net, ipc and uts.
//! - pid, under every runtime, only with shareProcessNamespace: never
//!   expected (and not among the pod's namespaces a join is checked against).

use super::NsKind;
use crate::host::cgroup::Runtime;

/// The pod namespaces every container of a pod joins under `runtime`.
/// Where the runtime is not known (a kubelet cgroupfs path names none),
/// only what every runtime shares: a deviation must be one for sure.
pub fn shared_kinds(runtime: Option<Runtime>) -> &'static [NsKind] {
    match runtime {
        Some(Runtime::Containerd | Runtime::Crio | Runtime::Podman) => {
            &[NsKind::Net, NsKind::Ipc, NsKind::Uts]
        }
        Some(Runtime::Docker | Runtime::Unknown) | None => &[NsKind::Net, NsKind::Ipc],
    }
}

/// The pod namespaces a container is not in although `runtime` shares
/// them: a real partial join (empty when it is what the runtime does).
pub fn partial(runtime: Option<Runtime>, missing: &[NsKind]) -> Vec<NsKind> {
    let shared = shared_kinds(runtime);
    missing
        .iter()
        .copied()
        .filter(|k| shared.contains(k))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_docker_container_without_the_pods_uts_is_what_docker_does() {
        assert!(partial(Some(Runtime::Docker), &[NsKind::Uts]).is_empty());
        assert_eq!(
            partial(Some(Runtime::Docker), &[NsKind::Uts, NsKind::Ipc]),
            [NsKind::Ipc]
        );
    }

    #[test]
    fn containerd_crio_and_podman_share_uts() {
        for rt in [Runtime::Containerd, Runtime::Crio, Runtime::Podman] {
            assert_eq!(partial(Some(rt), &[NsKind::Uts]), [NsKind::Uts], "{rt:?}");
        }
    }

    #[test]
    fn an_unknown_runtime_is_judged_by_what_every_runtime_shares() {
        for rt in [None, Some(Runtime::Unknown)] {
            assert!(partial(rt, &[NsKind::Uts]).is_empty(), "{rt:?}");
            assert_eq!(partial(rt, &[NsKind::Net]), [NsKind::Net], "{rt:?}");
        }
    }
}
