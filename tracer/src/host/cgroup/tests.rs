//! cgroup paths of every runtime and driver, real and made up.

use super::path::parse_path;
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
    let conmon = format!("/machine.slice/machine-libpod_pod_{pod}.slice/libpod-conmon-{CID}.scope");
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
    let text =
        format!("garbage\nx:memory:/kubepods/pod{UID}/{CID}\n5:cpu\n6:cpu:relative/{CID}\n0::/\n");
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
