//! One cgroup path, component by component: the runtimes' naming
//! conventions, where a bare name means what its parent says.

use super::{CgroupIds, Runtime};

/// Unit-name prefixes of each runtime, conmon's before the container's
/// (they share a stem). The same names appear as `<prefix><id>.scope` under
/// systemd and as bare directories under cgroupfs.
const PREFIXES: [(&str, Runtime, Role); 6] = [
    ("cri-containerd-", Runtime::Containerd, Role::Container),
    ("crio-conmon-", Runtime::Crio, Role::Conmon),
    ("crio-", Runtime::Crio, Role::Container),
    ("docker-", Runtime::Docker, Role::Container),
    ("libpod-conmon-", Runtime::Podman, Role::Conmon),
    ("libpod-", Runtime::Podman, Role::Container),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Container,
    Conmon,
}

/// What one path component means.
#[derive(Debug, PartialEq, Eq)]
enum Part<'a> {
    Kubepods,
    Qos(&'static str),
    /// `qos` is set when the pod's place implies it (directly under kubepods: guaranteed).
    KubePod {
        qos: Option<&'static str>,
        uid: &'a str,
    },
    PodmanPod(&'a str),
    LibpodParent,
    DockerRoot,
    Container(Runtime, &'a str),
    Conmon(Runtime),
    Other,
}

/// The parent's meaning, which decides how a bare name is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scope {
    Other,
    Kubepods,
    KubeQos,
    KubePod,
    LibpodParent,
    PodmanPod,
    Docker,
}

/// Reads one cgroup path, e.g.
/// `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod12_34.slice/cri-containerd-<id>.scope`.
pub fn parse_path(path: &str) -> CgroupIds {
    // cgroup v2 marks a removed cgroup that still has this process.
    let path = path.strip_suffix(" (deleted)").unwrap_or(path);
    let mut ids = CgroupIds::default();
    let mut scope = Scope::Other;
    for component in path.split('/').filter(|c| !c.is_empty()) {
        scope = apply(&mut ids, classify(component, scope));
    }
    ids
}

fn classify(component: &str, scope: Scope) -> Part<'_> {
    if let Some(slice) = component.strip_suffix(".slice") {
        return slice_part(slice);
    }
    let unit = component.strip_suffix(".scope").unwrap_or(component);
    if let Some(part) = runtime_unit(unit) {
        return part;
    }
    // Other systemd units (`containerd.service`, `session-1.scope`) mean nothing here.
    if component.contains('.') {
        return Part::Other;
    }
    bare_part(component, scope)
}

/// systemd slices: the kubelet's `kubepods[-<qos>][-pod<uid>].slice` and
/// podman's `machine-libpod_pod_<id>.slice`.
fn slice_part(slice: &str) -> Part<'_> {
    if slice == "kubepods" {
        return Part::Kubepods;
    }
    if let Some(rest) = slice.strip_prefix("kubepods-") {
        return kube_slice(rest);
    }
    match slice.split_once("libpod_pod_") {
        Some((_, id)) if is_prefixed_id(id) => Part::PodmanPod(id),
        _ => Part::Other,
    }
}

/// After `kubepods-`: `<qos>`, `pod<uid>` (guaranteed) or `<qos>-pod<uid>`.
fn kube_slice(rest: &str) -> Part<'_> {
    if let Some(uid) = pod_uid(rest) {
        return Part::KubePod {
            qos: Some("guaranteed"),
            uid,
        };
    }
    let (qos, pod) = match rest.split_once('-') {
        Some((qos, pod)) => (qos, Some(pod)),
        None => (rest, None),
    };
    let Some(qos) = qos_class(qos) else {
        return Part::Other;
    };
    match pod.map(pod_uid) {
        None => Part::Qos(qos),
        Some(Some(uid)) => Part::KubePod {
            qos: Some(qos),
            uid,
        },
        Some(None) => Part::Other,
    }
}

/// `<prefix><id>` of a known runtime, with `.scope` already removed.
fn runtime_unit(unit: &str) -> Option<Part<'_>> {
    PREFIXES.iter().find_map(|&(prefix, runtime, role)| {
        let id = unit.strip_prefix(prefix)?;
        is_prefixed_id(id).then_some(match role {
            Role::Container => Part::Container(runtime, id),
            Role::Conmon => Part::Conmon(runtime),
        })
    })
}

/// cgroupfs names, whose meaning depends on the parent.
fn bare_part(name: &str, scope: Scope) -> Part<'_> {
    match name {
        "kubepods" => return Part::Kubepods,
        "libpod_parent" => return Part::LibpodParent,
        "docker" => return Part::DockerRoot,
        _ => {}
    }
    match scope {
        Scope::Kubepods | Scope::KubeQos => kube_dir(name, scope),
        Scope::KubePod if is_bare_id(name) => Part::Container(Runtime::Unknown, name),
        Scope::LibpodParent if is_bare_id(name) => Part::PodmanPod(name),
        Scope::LibpodParent | Scope::PodmanPod if name == "conmon" => Part::Conmon(Runtime::Podman),
        Scope::Docker if is_bare_id(name) => Part::Container(Runtime::Docker, name),
        _ => Part::Other,
    }
}

/// Below `kubepods`: `<qos>/pod<uid>`, or `pod<uid>` for guaranteed pods.
fn kube_dir(name: &str, scope: Scope) -> Part<'_> {
    let directly_under_kubepods = scope == Scope::Kubepods;
    if directly_under_kubepods && let Some(qos) = qos_class(name) {
        return Part::Qos(qos);
    }
    match pod_uid(name) {
        Some(uid) => Part::KubePod {
            qos: directly_under_kubepods.then_some("guaranteed"),
            uid,
        },
        None => Part::Other,
    }
}

/// Records a component's meaning; returns the scope its children are read in.
fn apply(ids: &mut CgroupIds, part: Part<'_>) -> Scope {
    match part {
        Part::Kubepods => {
            // Whatever enclosed the kubelet's tree (a kind node's container) is not the pod's.
            *ids = CgroupIds::default();
            Scope::Kubepods
        }
        Part::Qos(qos) => {
            ids.qos = Some(qos.to_owned());
            Scope::KubeQos
        }
        Part::KubePod { qos, uid } => {
            if let Some(qos) = qos {
                ids.qos = Some(qos.to_owned());
            }
            ids.pod_uid = Some(uid.replace('_', "-"));
            ids.container_id = None;
            Scope::KubePod
        }
        Part::PodmanPod(id) => {
            ids.runtime = Some(Runtime::Podman);
            ids.pod_uid = Some(id.to_owned());
            ids.container_id = None;
            Scope::PodmanPod
        }
        Part::LibpodParent => Scope::LibpodParent,
        Part::DockerRoot => Scope::Docker,
        Part::Container(runtime, id) => {
            ids.runtime = Some(runtime);
            ids.container_id = Some(id.to_owned());
            Scope::Other
        }
        Part::Conmon(runtime) => {
            // conmon runs beside its container: same runtime, not the container.
            ids.runtime = Some(runtime);
            ids.container_id = None;
            Scope::Other
        }
        Part::Other => Scope::Other,
    }
}

fn qos_class(name: &str) -> Option<&'static str> {
    match name {
        "besteffort" => Some("besteffort"),
        "burstable" => Some("burstable"),
        _ => None,
    }
}

/// The UID of `pod<uid>`: hex digits with `-` (cgroupfs) or `_` (systemd).
fn pod_uid(name: &str) -> Option<&str> {
    let uid = name.strip_prefix("pod")?;
    let valid = !uid.is_empty()
        && uid.chars().any(|c| c.is_ascii_hexdigit())
        && uid
            .chars()
            .all(|c| c.is_ascii_hexdigit() || c == '-' || c == '_');
    valid.then_some(uid)
}

/// An id after a runtime's prefix: the prefix already says what it is.
fn is_prefixed_id(id: &str) -> bool {
    !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric())
}

/// A bare directory named by an id: long hex only, since nothing else vouches for it.
fn is_bare_id(name: &str) -> bool {
    name.len() >= 12 && name.chars().all(|c| c.is_ascii_hexdigit())
}
