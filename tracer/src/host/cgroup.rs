//! Pods and containers from cgroup paths: the runtimes' naming conventions,
//! read without root and without asking any runtime.
//!
//! A path is read component by component; what a bare name means depends on
//! its parent (`besteffort` is a QoS class only under `kubepods`, a hex name
//! is a pod only under `libpod_parent`). The innermost match wins, so a
//! Kubernetes node inside a container (kind) yields the pod's container, not
//! the node's.

use std::cmp::Reverse;

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
    let contents = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
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

#[cfg(test)]
mod tests {
    use super::*;

    const CID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    const UID: &str = "3b8f6a2c-1d4e-4f5a-9b6c-7d8e9f0a1b2c";
    const UID_SYSTEMD: &str = "3b8f6a2c_1d4e_4f5a_9b6c_7d8e9f0a1b2c";

    fn ids(
        runtime: Option<Runtime>,
        pod: Option<&str>,
        container: Option<&str>,
        qos: Option<&str>,
    ) -> CgroupIds {
        CgroupIds {
            runtime,
            pod_uid: pod.map(str::to_owned),
            container_id: container.map(str::to_owned),
            qos: qos.map(str::to_owned),
        }
    }

    fn systemd_pod(qos: &str) -> String {
        format!("/kubepods.slice/kubepods-{qos}.slice/kubepods-{qos}-pod{UID_SYSTEMD}.slice")
    }

    #[test]
    fn systemd_driver_containerd() {
        let path = format!("{}/cri-containerd-{CID}.scope", systemd_pod("besteffort"));
        assert_eq!(
            parse_path(&path),
            ids(
                Some(Runtime::Containerd),
                Some(UID),
                Some(CID),
                Some("besteffort")
            )
        );
    }

    #[test]
    fn systemd_driver_crio_and_docker() {
        let crio = format!("{}/crio-{CID}.scope", systemd_pod("burstable"));
        assert_eq!(
            parse_path(&crio),
            ids(Some(Runtime::Crio), Some(UID), Some(CID), Some("burstable"))
        );
        let docker = format!("{}/docker-{CID}.scope", systemd_pod("besteffort"));
        assert_eq!(
            parse_path(&docker),
            ids(
                Some(Runtime::Docker),
                Some(UID),
                Some(CID),
                Some("besteffort")
            )
        );
    }

    #[test]
    fn systemd_driver_guaranteed_pod_sits_under_kubepods() {
        let path =
            format!("/kubepods.slice/kubepods-pod{UID_SYSTEMD}.slice/cri-containerd-{CID}.scope");
        assert_eq!(
            parse_path(&path),
            ids(
                Some(Runtime::Containerd),
                Some(UID),
                Some(CID),
                Some("guaranteed")
            )
        );
    }

    #[test]
    fn crio_subgroup_below_the_scope_keeps_the_container() {
        let path = format!("{}/crio-{CID}.scope/container", systemd_pod("besteffort"));
        assert_eq!(parse_path(&path).container_id.as_deref(), Some(CID));
    }

    #[test]
    fn crio_conmon_is_not_the_container() {
        let path = format!("{}/crio-conmon-{CID}.scope", systemd_pod("besteffort"));
        assert_eq!(
            parse_path(&path),
            ids(Some(Runtime::Crio), Some(UID), None, Some("besteffort"))
        );
    }

    #[test]
    fn pod_level_cgroup_has_no_container() {
        assert_eq!(
            parse_path(&systemd_pod("burstable")),
            ids(None, Some(UID), None, Some("burstable"))
        );
        assert_eq!(
            parse_path("/kubepods.slice/kubepods-besteffort.slice"),
            ids(None, None, None, Some("besteffort"))
        );
        assert_eq!(parse_path("/kubepods.slice"), CgroupIds::default());
    }

    #[test]
    fn cgroupfs_driver() {
        let path = format!("/kubepods/besteffort/pod{UID}/{CID}");
        assert_eq!(
            parse_path(&path),
            ids(
                Some(Runtime::Unknown),
                Some(UID),
                Some(CID),
                Some("besteffort")
            )
        );
        let guaranteed = format!("/kubepods/pod{UID}/{CID}");
        assert_eq!(
            parse_path(&guaranteed),
            ids(
                Some(Runtime::Unknown),
                Some(UID),
                Some(CID),
                Some("guaranteed")
            )
        );
    }

    #[test]
    fn cgroupfs_driver_with_runtime_prefixes() {
        let crio = format!("/kubepods/burstable/pod{UID}/crio-{CID}");
        assert_eq!(
            parse_path(&crio),
            ids(Some(Runtime::Crio), Some(UID), Some(CID), Some("burstable"))
        );
        let conmon = format!("/kubepods/burstable/pod{UID}/crio-conmon-{CID}");
        assert_eq!(
            parse_path(&conmon),
            ids(Some(Runtime::Crio), Some(UID), None, Some("burstable"))
        );
    }

    #[test]
    fn kubernetes_inside_a_container_reports_the_pod_not_the_node() {
        let node = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";
        let path = format!("/docker/{node}/kubepods/besteffort/pod{UID}/{CID}");
        assert_eq!(
            parse_path(&path),
            ids(
                Some(Runtime::Unknown),
                Some(UID),
                Some(CID),
                Some("besteffort")
            )
        );
        // The node itself is a plain docker (cgroupfs) container.
        assert_eq!(
            parse_path(&format!("/docker/{node}")),
            ids(Some(Runtime::Docker), None, Some(node), None)
        );
    }

    #[test]
    fn podman_systemd() {
        let path = format!("/machine.slice/libpod-{CID}.scope");
        assert_eq!(
            parse_path(&path),
            ids(Some(Runtime::Podman), None, Some(CID), None)
        );
        let conmon = format!("/machine.slice/libpod-conmon-{CID}.scope");
        assert_eq!(
            parse_path(&conmon),
            ids(Some(Runtime::Podman), None, None, None)
        );
    }

    #[test]
    fn podman_systemd_pod() {
        let pod = "aaaabbbbccccddddeeeeffff0000111122223333444455556666777788889999";
        let path = format!("/machine.slice/machine-libpod_pod_{pod}.slice/libpod-{CID}.scope");
        assert_eq!(
            parse_path(&path),
            ids(Some(Runtime::Podman), Some(pod), Some(CID), None)
        );
        let conmon =
            format!("/machine.slice/machine-libpod_pod_{pod}.slice/libpod-conmon-{CID}.scope");
        assert_eq!(
            parse_path(&conmon),
            ids(Some(Runtime::Podman), Some(pod), None, None)
        );
    }

    #[test]
    fn podman_rootless_under_the_user_slice() {
        let path = format!(
            "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{CID}.scope/container"
        );
        assert_eq!(
            parse_path(&path),
            ids(Some(Runtime::Podman), None, Some(CID), None)
        );
    }

    #[test]
    fn podman_cgroupfs() {
        let path = format!("/libpod_parent/libpod-{CID}");
        assert_eq!(
            parse_path(&path),
            ids(Some(Runtime::Podman), None, Some(CID), None)
        );
        assert_eq!(
            parse_path("/libpod_parent/conmon"),
            ids(Some(Runtime::Podman), None, None, None)
        );
    }

    #[test]
    fn non_container_paths_are_empty() {
        for path in [
            "/",
            "",
            "/user.slice/user-0.slice/session-3.scope",
            "/user.slice/user-1000.slice/user@1000.service/app.slice/dbus.service",
            "/system.slice/containerd.service",
            "/system.slice/docker.service",
            "/system.slice/crio.service",
            "/init.scope",
            // This machine's own sandbox: a 32-hex leaf that no runtime vouches for.
            "/process_api/dfc20a8cad1e4bb08f4a6e20789a44a7",
            // A hex name at the top level, or a qos name outside kubepods.
            &format!("/{CID}"),
            "/besteffort",
            &format!("/pod{UID}"),
        ] {
            assert_eq!(parse_path(path), CgroupIds::default(), "{path}");
        }
    }

    #[test]
    fn near_misses_are_not_containers() {
        for path in [
            "/system.slice/docker-.scope",
            "/system.slice/cri-containerd-.scope",
            "/machine.slice/libpod-conmon-.scope",
            "/system.slice/docker-containerd.service",
            "/kubepods/besteffort/podxyz/abc",
            "/kubepods/besteffort/pod/",
        ] {
            let got = parse_path(path);
            assert_eq!(got.container_id, None, "{path}");
            assert_eq!(got.pod_uid, None, "{path}");
        }
        // A short hex leaf under a pod is not trusted as an id.
        assert_eq!(
            parse_path(&format!("/kubepods/pod{UID}/cafe")).container_id,
            None
        );
        assert_eq!(
            parse_path("/kubepods.slice/kubepods-weird-pod1234.slice").pod_uid,
            None
        );
    }

    #[test]
    fn deleted_cgroup_is_still_read() {
        let path = format!("/machine.slice/libpod-{CID}.scope (deleted)");
        assert_eq!(parse_path(&path).container_id.as_deref(), Some(CID));
    }

    #[test]
    fn garbage_never_panics() {
        let samples = [
            "",
            "/",
            "//",
            ":::",
            "0::",
            "\0\0",
            "/kubepods/",
            "/kubepods.slice/kubepods-.slice",
            "/kubepods.slice/kubepods--pod.slice",
            "/libpod_parent//",
            "/\u{feff}é/ñ.scope",
            "/crio-.scope",
            "/.slice",
            ".scope",
            "/machine-libpod_pod_.slice",
        ];
        for s in samples {
            let _ = parse_path(s);
            let _ = parse_proc_cgroup(s);
        }
        // Every prefix of a real path, cut at any byte that is a char boundary.
        let real = format!("{}/cri-containerd-{CID}.scope", systemd_pod("besteffort"));
        for end in (0..=real.len()).filter(|&i| real.is_char_boundary(i)) {
            let _ = parse_path(&real[..end]);
            let _ = parse_proc_cgroup(&real[..end]);
        }
    }

    #[test]
    fn proc_cgroup_prefers_the_line_with_pod_and_container() {
        let text = format!(
            "12:pids:/kubepods/besteffort/pod{UID}\n\
             4:memory:/kubepods/besteffort/pod{UID}/{CID}\n\
             1:name=systemd:/\n\
             0::/\n"
        );
        assert_eq!(
            parse_proc_cgroup(&text),
            ids(
                Some(Runtime::Unknown),
                Some(UID),
                Some(CID),
                Some("besteffort")
            )
        );
    }

    #[test]
    fn proc_cgroup_fills_gaps_but_never_mixes_containers() {
        let other = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";
        // A container-only line and a pod-only line describe the same process.
        let text = format!("3:cpu:/docker/{CID}\n2:memory:/kubepods/pod{UID}\n");
        let got = parse_proc_cgroup(&text);
        assert_eq!(got.container_id.as_deref(), Some(CID));
        assert_eq!(got.pod_uid.as_deref(), Some(UID));
        // A conflicting container on a less specific line is ignored.
        let text = format!("4:memory:/kubepods/pod{UID}/{CID}\n3:cpu:/docker/{other}\n");
        assert_eq!(parse_proc_cgroup(&text).container_id.as_deref(), Some(CID));
    }

    #[test]
    fn proc_cgroup_v2_only() {
        let text = format!("0::/system.slice/docker-{CID}.scope\n");
        assert_eq!(
            parse_proc_cgroup(&text),
            ids(Some(Runtime::Docker), None, Some(CID), None)
        );
    }

    #[test]
    fn proc_cgroup_ignores_malformed_lines() {
        let text = format!(
            "garbage\nx:memory:/kubepods/pod{UID}/{CID}\n5:cpu\n6:cpu:relative/{CID}\n0::/\n"
        );
        assert_eq!(parse_proc_cgroup(&text), CgroupIds::default());
        assert_eq!(parse_proc_cgroup(""), CgroupIds::default());
    }

    /// `/proc/<pid>/cgroup` of a podman 4.3 pod's infra container (catatonit)
    /// on this project's test machine (cgroup v1 hybrid, cgroupfs manager).
    const PODMAN_INFRA: &str = "\
9:name=systemd:/libpod_parent/d69444909b3b268085ff4f3dda9f5986a84153db832615799001d0c123061881/libpod-ccbc53ef251d38cf12340f933a19c96293c9c71ad66093fc543ee96d170a7544
8:pids:/libpod_parent/d69444909b3b268085ff4f3dda9f5986a84153db832615799001d0c123061881/libpod-ccbc53ef251d38cf12340f933a19c96293c9c71ad66093fc543ee96d170a7544
7:blkio:/libpod_parent/d69444909b3b268085ff4f3dda9f5986a84153db832615799001d0c123061881/libpod-ccbc53ef251d38cf12340f933a19c96293c9c71ad66093fc543ee96d170a7544
6:freezer:/libpod_parent/d69444909b3b268085ff4f3dda9f5986a84153db832615799001d0c123061881/libpod-ccbc53ef251d38cf12340f933a19c96293c9c71ad66093fc543ee96d170a7544
5:devices:/libpod_parent/d69444909b3b268085ff4f3dda9f5986a84153db832615799001d0c123061881/libpod-ccbc53ef251d38cf12340f933a19c96293c9c71ad66093fc543ee96d170a7544
4:memory:/libpod_parent/d69444909b3b268085ff4f3dda9f5986a84153db832615799001d0c123061881/libpod-ccbc53ef251d38cf12340f933a19c96293c9c71ad66093fc543ee96d170a7544
3:cpuset:/libpod_parent/d69444909b3b268085ff4f3dda9f5986a84153db832615799001d0c123061881/libpod-ccbc53ef251d38cf12340f933a19c96293c9c71ad66093fc543ee96d170a7544
2:cpuacct:/libpod_parent/d69444909b3b268085ff4f3dda9f5986a84153db832615799001d0c123061881/libpod-ccbc53ef251d38cf12340f933a19c96293c9c71ad66093fc543ee96d170a7544
1:cpu:/libpod_parent/d69444909b3b268085ff4f3dda9f5986a84153db832615799001d0c123061881/libpod-ccbc53ef251d38cf12340f933a19c96293c9c71ad66093fc543ee96d170a7544
0::/libpod_parent/d69444909b3b268085ff4f3dda9f5986a84153db832615799001d0c123061881/libpod-ccbc53ef251d38cf12340f933a19c96293c9c71ad66093fc543ee96d170a7544
";

    /// The same machine: `sleep` run with `podman run --pod` in that pod.
    const PODMAN_APP: &str = "\
9:name=systemd:/libpod_parent/d69444909b3b268085ff4f3dda9f5986a84153db832615799001d0c123061881/libpod-b78d891ab9fa12d84b605526ff2d33c5738d6e45bf0200f2ded10a1081bb4d44
4:memory:/libpod_parent/d69444909b3b268085ff4f3dda9f5986a84153db832615799001d0c123061881/libpod-b78d891ab9fa12d84b605526ff2d33c5738d6e45bf0200f2ded10a1081bb4d44
0::/libpod_parent/d69444909b3b268085ff4f3dda9f5986a84153db832615799001d0c123061881/libpod-b78d891ab9fa12d84b605526ff2d33c5738d6e45bf0200f2ded10a1081bb4d44
";

    /// That app container's conmon: only v1 controllers other than name=systemd move it.
    const PODMAN_APP_CONMON: &str = "\
9:name=systemd:/
8:pids:/libpod_parent/d69444909b3b268085ff4f3dda9f5986a84153db832615799001d0c123061881/conmon
4:memory:/libpod_parent/d69444909b3b268085ff4f3dda9f5986a84153db832615799001d0c123061881/conmon
1:cpu:/libpod_parent/d69444909b3b268085ff4f3dda9f5986a84153db832615799001d0c123061881/conmon
0::/
";

    /// A container run without a pod, and its conmon.
    const PODMAN_SOLO: &str = "\
9:name=systemd:/libpod_parent/libpod-909d011c998a622cc472389b041f0c98c43b146e9456fc09e4aa9ab7c60a4a3d
4:memory:/libpod_parent/libpod-909d011c998a622cc472389b041f0c98c43b146e9456fc09e4aa9ab7c60a4a3d
0::/libpod_parent/libpod-909d011c998a622cc472389b041f0c98c43b146e9456fc09e4aa9ab7c60a4a3d
";
    const PODMAN_SOLO_CONMON: &str = "9:name=systemd:/\n4:memory:/libpod_parent/conmon\n0::/\n";

    const REAL_POD: &str = "d69444909b3b268085ff4f3dda9f5986a84153db832615799001d0c123061881";

    #[test]
    fn real_podman_pod_infra_and_app() {
        let infra = "ccbc53ef251d38cf12340f933a19c96293c9c71ad66093fc543ee96d170a7544";
        assert_eq!(
            parse_proc_cgroup(PODMAN_INFRA),
            ids(Some(Runtime::Podman), Some(REAL_POD), Some(infra), None)
        );
        let app = "b78d891ab9fa12d84b605526ff2d33c5738d6e45bf0200f2ded10a1081bb4d44";
        assert_eq!(
            parse_proc_cgroup(PODMAN_APP),
            ids(Some(Runtime::Podman), Some(REAL_POD), Some(app), None)
        );
    }

    #[test]
    fn real_podman_conmon_has_the_pod_but_no_container() {
        assert_eq!(
            parse_proc_cgroup(PODMAN_APP_CONMON),
            ids(Some(Runtime::Podman), Some(REAL_POD), None, None)
        );
        assert_eq!(
            parse_proc_cgroup(PODMAN_SOLO_CONMON),
            ids(Some(Runtime::Podman), None, None, None)
        );
    }

    #[test]
    fn real_podman_container_without_pod() {
        let solo = "909d011c998a622cc472389b041f0c98c43b146e9456fc09e4aa9ab7c60a4a3d";
        assert_eq!(
            parse_proc_cgroup(PODMAN_SOLO),
            ids(Some(Runtime::Podman), None, Some(solo), None)
        );
    }

    #[test]
    fn serializes_runtime_in_lowercase() {
        let json = serde_json::to_string(&ids(Some(Runtime::Crio), None, None, None)).unwrap();
        assert!(json.contains(r#""runtime":"crio""#), "{json}");
        let back: CgroupIds = serde_json::from_str(&json).unwrap();
        assert_eq!(back.runtime, Some(Runtime::Crio));
    }

    #[test]
    fn reads_own_process_and_not_a_missing_one() {
        // This process is in no container here; what matters is that it reads.
        assert!(read(std::process::id()).is_some());
        // Above the kernel's pid_max limit (4M): never a live pid.
        assert_eq!(read(u32::MAX), None);
    }
}
