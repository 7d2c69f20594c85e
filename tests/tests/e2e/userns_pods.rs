//! End-to-end (issue 9): a user-namespace pod (`podman pod create
//! --uidmap`; Kubernetes' `hostUsers: false` is the same shape). Its user
//! namespace is part of the sandbox, with the runc stage 1 that made it,
//! and a container's join includes it. Ground truth: /proc of the infra
//! and the container, and their uid maps.

use std::fs;
use std::os::unix::fs::MetadataExt;

use crate::support::json::Report;
use crate::support::podman::Podman;
use crate::support::tracer::Tracer;
use crate::support::unique_name;

fn ns_inode(pid: u32, kind: &str) -> u64 {
    let p = format!("/proc/{pid}/ns/{kind}");
    fs::metadata(&p)
        .unwrap_or_else(|e| panic!("stat {p}: {e}"))
        .ino()
}

/// `podman pod rm -f` at drop, panic or not.
struct Pod<'a> {
    podman: &'a Podman,
    name: String,
}

impl Drop for Pod<'_> {
    fn drop(&mut self) {
        let _ = self
            .podman
            .output(&["pod", "rm", "-f", "-i", "-t", "0", &self.name]);
    }
}

#[test]
fn a_user_namespace_pod_holds_its_user_namespace_and_joins_include_it() {
    let podman = Podman::setup();
    let tracer = Tracer::start(&[]);
    let pod = Pod {
        podman: &podman,
        name: unique_name("userns"),
    };
    podman.run(&[
        "pod",
        "create",
        "--name",
        &pod.name,
        "--uidmap",
        "0:100000:65536",
        "--gidmap",
        "0:100000:65536",
    ]);
    podman.run(&["pod", "start", &pod.name]);
    let app = podman.run_detached(&pod.name, &unique_name("userns-app"), &["sleep", "1000"]);
    podman.wait_exec(&app, "sleep");

    let infra_id = podman.inspect_pod(&pod.name).infra_container_id;
    let infra = podman.inspect_container(&infra_id).pid;
    let app_pid = podman.inspect_container(&app).pid;
    let user = ns_inode(infra, "user");
    assert_ne!(
        user,
        ns_inode(std::process::id(), "user"),
        "the pod has its own user namespace"
    );
    assert_eq!(
        ns_inode(app_pid, "user"),
        user,
        "the container is in the pod's user namespace"
    );
    let map = fs::read_to_string(format!("/proc/{app_pid}/uid_map")).expect("uid_map");
    assert_eq!(
        map.split_whitespace().collect::<Vec<_>>(),
        ["0", "100000", "65536"],
        "{map}"
    );
    podman.rm_pod(&pod.name);

    let lines = tracer.stop();
    lines.assert_lossless();
    let report: &Report = lines.report();
    let ours: Vec<_> = report
        .sandboxes
        .iter()
        .filter(|s| s.pause.as_ref().is_some_and(|p| p.pid == infra))
        .collect();
    assert_eq!(
        ours.len(),
        1,
        "the sandbox of infra pid {infra}: {:#?}",
        report.sandboxes
    );
    let sb = ours[0];
    let ns = sb.namespace("user");
    assert_eq!(ns.inum, user, "{ns:?}");
    let made = ns.created.as_ref().expect("who made the user namespace");
    assert_eq!(
        (made.comm.as_str(), made.syscall.as_str()),
        ("runc:[1:CHILD]", "unshare"),
        "{ns:?}"
    );
    let c: Vec<_> = sb.containers.iter().filter(|c| c.pid == app_pid).collect();
    assert_eq!(c.len(), 1, "{:#?}", sb.containers);
    let mut joined = c[0].joined.clone();
    joined.sort();
    assert_eq!(joined, ["ipc", "net", "user", "uts"], "{:?}", c[0]);
    assert!(c[0].missing.is_empty(), "{:?}", c[0]);
}
