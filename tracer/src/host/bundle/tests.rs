use super::*;

fn map(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
    kv.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

const SB: &str = "5f0c3d9a8b7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a";

/// What containerd 1.6's CRI writes into a sandbox's config.json.
#[test]
fn a_containerd_sandbox_bundle_names_its_pod() {
    let a = map(&[
        ("io.kubernetes.cri.container-type", "sandbox"),
        ("io.kubernetes.cri.sandbox-id", SB),
        ("io.kubernetes.cri.sandbox-log-directory", "/var/log/pods/x"),
        ("io.kubernetes.cri.sandbox-name", "acc-pod"),
        ("io.kubernetes.cri.sandbox-namespace", "acc-ns"),
        (
            "io.kubernetes.cri.sandbox-uid",
            "acc0c0de-0000-4000-8000-000000000001",
        ),
    ]);
    let i = identity(SB, &a, "bundle").expect("named");
    assert_eq!(i.role, IdentityRole::Sandbox);
    assert_eq!(i.id, SB);
    assert_eq!(i.sandbox_id, None, "a sandbox is its own");
    assert_eq!(i.pod_namespace.as_deref(), Some("acc-ns"));
    assert_eq!(i.pod_name.as_deref(), Some("acc-pod"));
    assert_eq!(
        i.pod_uid.as_deref(),
        Some("acc0c0de-0000-4000-8000-000000000001")
    );
    assert_eq!(i.container_name, None);
    assert_eq!(i.attempt, None, "containerd's annotations carry no attempt");
    assert_eq!(i.runtime.as_deref(), Some("containerd"));
    assert_eq!(i.source, "bundle");
}

#[test]
fn a_containerd_container_bundle_names_it_and_its_sandbox() {
    let a = map(&[
        ("io.kubernetes.cri.container-name", "job"),
        ("io.kubernetes.cri.container-type", "container"),
        ("io.kubernetes.cri.image-name", "localhost/busybox:1"),
        ("io.kubernetes.cri.sandbox-id", SB),
        ("io.kubernetes.cri.sandbox-name", "acc-pod"),
        ("io.kubernetes.cri.sandbox-namespace", "acc-ns"),
        ("io.kubernetes.cri.sandbox-uid", "u-1"),
    ]);
    let i = identity("c0ffee", &a, "bundle").expect("named");
    assert_eq!(i.role, IdentityRole::Container);
    assert_eq!(i.container_name.as_deref(), Some("job"));
    assert_eq!(i.sandbox_id.as_deref(), Some(SB));
    assert_eq!(
        (i.pod_namespace.as_deref(), i.pod_name.as_deref()),
        (Some("acc-ns"), Some("acc-pod"))
    );
    assert_eq!(i.pod_uid.as_deref(), Some("u-1"));
}

/// CRI-O: the pod in its metadata and labels (JSON strings), the type and
/// sandbox id as annotations of their own; the attempt only here.
#[test]
fn cri_o_annotations_give_the_attempt_and_the_kubelets_labels() {
    let sandbox = map(&[
        ("io.kubernetes.cri-o.ContainerType", "sandbox"),
        ("io.kubernetes.cri-o.KubeName", "web"),
        ("io.kubernetes.cri-o.Namespace", "shop"),
        (
            "io.kubernetes.cri-o.Metadata",
            r#"{"name":"web","uid":"u-9","namespace":"shop","attempt":2}"#,
        ),
        ("io.kubernetes.cri-o.SandboxID", "s9"),
    ]);
    let i = identity("s9", &sandbox, "bundle").expect("named");
    assert_eq!(i.role, IdentityRole::Sandbox);
    assert_eq!(i.pod_name.as_deref(), Some("web"));
    assert_eq!(i.pod_namespace.as_deref(), Some("shop"));
    assert_eq!(i.pod_uid.as_deref(), Some("u-9"));
    assert_eq!(i.attempt, Some(2));
    assert_eq!(i.runtime.as_deref(), Some("cri-o"));

    let container = map(&[
        ("io.kubernetes.cri-o.ContainerType", "container"),
        ("io.kubernetes.cri-o.SandboxID", "s9"),
        (
            "io.kubernetes.cri-o.Metadata",
            r#"{"name":"nginx","attempt":4}"#,
        ),
        (
            "io.kubernetes.cri-o.Labels",
            r#"{"io.kubernetes.container.name":"nginx","io.kubernetes.pod.name":"web","io.kubernetes.pod.namespace":"shop","io.kubernetes.pod.uid":"u-9"}"#,
        ),
    ]);
    let i = identity("c9", &container, "bundle").expect("named");
    assert_eq!(i.role, IdentityRole::Container);
    assert_eq!(i.container_name.as_deref(), Some("nginx"));
    assert_eq!(i.sandbox_id.as_deref(), Some("s9"));
    assert_eq!(
        i.pod_name.as_deref(),
        Some("web"),
        "from the labels, not the metadata"
    );
    assert_eq!(i.pod_namespace.as_deref(), Some("shop"));
    assert_eq!(i.pod_uid.as_deref(), Some("u-9"));
    assert_eq!(
        i.attempt, None,
        "a container's attempt is not its sandbox's"
    );
}

/// cri-dockerd's labels on a Docker container: the same mapping.
#[test]
fn kubelet_labels_alone_name_a_container() {
    let a = map(&[
        ("io.kubernetes.docker.type", "container"),
        ("io.kubernetes.sandbox.id", "p1"),
        ("io.kubernetes.container.name", "app"),
        ("io.kubernetes.pod.name", "acc-pod"),
        ("io.kubernetes.pod.namespace", "acc-ns"),
        ("io.kubernetes.pod.uid", "u-1"),
    ]);
    let i = identity("d1", &a, "docker").expect("named");
    assert_eq!(i.role, IdentityRole::Container);
    assert_eq!(i.container_name.as_deref(), Some("app"));
    assert_eq!(i.sandbox_id.as_deref(), Some("p1"));
    assert_eq!(i.runtime.as_deref(), Some("docker"));
    let pause = map(&[
        ("io.kubernetes.docker.type", "podsandbox"),
        ("io.kubernetes.pod.name", "acc-pod"),
    ]);
    assert_eq!(
        identity("p1", &pause, "docker").map(|i| i.role),
        Some(IdentityRole::Sandbox)
    );
}

/// podman writes a few cri-o annotations (type, sandbox id) but names no
/// Kubernetes pod and is not CRI-O.
#[test]
fn podman_bundles_are_not_taken_for_cri_o() {
    let a = map(&[
        ("io.kubernetes.cri-o.ContainerType", "container"),
        ("io.kubernetes.cri-o.SandboxID", "infra1"),
        ("io.kubernetes.cri-o.TTY", "false"),
        ("io.podman.annotations.autoremove", "FALSE"),
    ]);
    let i = identity("p2", &a, "bundle").expect("the sandbox id is worth keeping");
    assert_eq!(i.runtime, None);
    assert_eq!(i.pod_name, None);
    assert_eq!(i.sandbox_id.as_deref(), Some("infra1"));
}

#[test]
fn nothing_about_a_pod_is_no_identity() {
    assert_eq!(identity("x", &BTreeMap::new(), "bundle"), None);
    let a = map(&[
        ("org.opencontainers.image.stopSignal", "15"),
        ("io.kubernetes.cri.sandbox-name", ""),
        ("io.kubernetes.cri-o.Metadata", "{not json"),
    ]);
    assert_eq!(identity("x", &a, "bundle"), None);
}

#[test]
fn ids_that_are_not_path_components_are_never_looked_up() {
    for bad in ["", ".", "..", "../etc", "a/b", "a\0b", &"f".repeat(129)] {
        assert!(candidates(bad, None).is_empty(), "{bad:?}");
    }
    let c = candidates(SB, None);
    assert_eq!(c.len(), BUNDLE_DIRS.len());
    assert_eq!(
        c[0],
        PathBuf::from(format!(
            "/run/containerd/io.containerd.runtime.v2.task/k8s.io/{SB}/config.json"
        ))
    );
}

#[test]
fn a_config_json_gives_its_annotations_and_anything_else_none() {
    let dir = std::env::temp_dir().join(format!("tracer-bundle-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let good = dir.join("config.json");
    std::fs::write(
        &good,
        r#"{"ociVersion":"1.0.2","process":{"args":["/pause"]},"annotations":{"io.kubernetes.cri.container-type":"sandbox","io.kubernetes.cri.sandbox-name":"p"}}"#,
    )
    .expect("write");
    let a = annotations(&good).expect("read");
    assert_eq!(
        a.get("io.kubernetes.cri.sandbox-name").map(String::as_str),
        Some("p")
    );
    let bare = dir.join("bare.json");
    std::fs::write(&bare, r#"{"ociVersion":"1.0.2"}"#).expect("write");
    assert_eq!(annotations(&bare), Some(BTreeMap::new()));
    let junk = dir.join("junk.json");
    std::fs::write(&junk, "not json").expect("write");
    assert_eq!(annotations(&junk), None);
    assert_eq!(annotations(&dir.join("absent.json")), None);
    let _ = std::fs::remove_dir_all(&dir);
}
