//! The podman harness (`support::podman`) on a real pod: what it reports
//! as ground truth must hang together before other tests trust it.

use std::collections::BTreeSet;

use crate::support::clock::{S, now_unix_ns};
use crate::support::podman::{ContainerTruth, Podman};
use crate::support::procfs::{comm, ns_inodes, parse_ns_link};
use crate::support::unique_name;

fn assert_started_recently(c: &ContainerTruth) {
    let started = c
        .started_at_ns
        .unwrap_or_else(|| panic!("not started: {c:?}"));
    let created = c.created_ns.unwrap_or_else(|| panic!("no Created: {c:?}"));
    assert!(created <= started, "created after started: {c:?}");
    let age = now_unix_ns() - started;
    assert!(
        (0..120 * S).contains(&age),
        "StartedAt is {age} ns ago: {c:?}"
    );
}

#[test]
fn a_real_pod_gives_consistent_ground_truth() {
    let pm = Podman::setup();
    // Idempotent and cheap the second time.
    let again = Podman::setup();
    assert_eq!(again.conf, pm.conf);
    assert!(pm.image_exists(&pm.image));

    let name = unique_name("harness");
    let pod = pm.pod(&name);
    pod.start();

    // The pod and its infra container (`catatonit -P`).
    let pt = pod.inspect();
    assert_eq!(pt.id, pod.id);
    assert_eq!(pt.name, name);
    assert_eq!(pt.state, "Running", "{pt:?}");
    assert!(pt.cgroup_path.is_some(), "{pt:?}");
    let shared: BTreeSet<&str> = pt.shared_namespaces.iter().map(String::as_str).collect();
    assert_eq!(shared, BTreeSet::from(["ipc", "net", "uts"]), "{pt:?}");
    let infra = pm.inspect_container(&pt.infra_container_id);
    assert!(infra.is_infra && infra.running, "{infra:?}");
    assert_eq!(infra.status, "running", "{infra:?}");
    assert_eq!(infra.pod_id, pod.id);
    assert!(infra.pid > 0 && infra.conmon_pid > 0, "{infra:?}");
    assert!(
        infra.cgroup_path.is_some(),
        "running, yet no cgroup: {infra:?}"
    );
    assert_eq!(
        (infra.path.as_str(), infra.args.as_slice()),
        ("/catatonit", &["-P".to_string()][..])
    );
    assert_eq!(comm(infra.pid), "catatonit");
    assert_eq!(
        infra.finished_at_ns, None,
        "running, yet finished: {infra:?}"
    );
    // The pod lists its infra container as a running member.
    let member = pt
        .containers
        .iter()
        .find(|m| m.id == infra.id)
        .unwrap_or_else(|| panic!("the infra is not a member: {pt:?}"));
    assert_eq!(member.name, infra.name, "{pt:?}");
    assert_eq!(member.state, "running", "{pt:?}");
    assert_started_recently(&infra);
    let infra_ns = ns_inodes(infra.pid);
    let host_ns = ns_inodes(std::process::id());
    for n in ["net", "ipc", "uts", "pid", "mnt"] {
        assert_ne!(infra_ns[n], host_ns[n], "infra shares the host's {n}");
    }
    // The pod's netns is bind-mounted at the SandboxKey: the same inode.
    let key = infra.sandbox_key.clone().expect("infra has a SandboxKey");
    assert!(key.starts_with("/run/netns/"), "{key}");
    assert_eq!(infra.netns_inode, Some(infra_ns["net"]), "{infra:?}");

    // A short-lived container that exits with 3.
    let exited = pm.run_to_exit(&name, &format!("{name}-exit3"), &["sh", "-c", "exit 3"]);
    assert_eq!(exited.code, 3);
    assert_eq!(exited.stdout, "", "exit 3 prints nothing");

    // Two long-running ones.
    let names = [format!("{name}-a"), format!("{name}-b")];
    let ids: Vec<String> = names
        .iter()
        .map(|n| {
            let id = pm.run_detached(&name, n, &["sleep", "1000"]);
            // Its pid 1 (inspect's pid) execs `sleep`, soon if not yet.
            pm.wait_exec(&id, "sleep");
            id
        })
        .collect();
    let apps: Vec<ContainerTruth> = ids.iter().map(|id| pm.inspect_container(id)).collect();
    let mut app_ns = Vec::new();
    for (app, n) in apps.iter().zip(&names) {
        assert_eq!(&app.name, n);
        assert!(app.running && !app.is_infra && app.pid > 0, "{app:?}");
        assert_eq!(app.pod_id, pod.id);
        assert_eq!(comm(app.pid), "sleep");
        assert_started_recently(app);
        assert!(app.started_at_ns >= infra.started_at_ns);
        let joined = format!("container:{}", infra.id);
        assert_eq!(
            (&app.network_mode, &app.ipc_mode, &app.uts_mode),
            (&joined, &joined, &joined)
        );
        assert_eq!(app.pid_mode, "private");
        assert_eq!(app.sandbox_key.as_ref(), Some(&key));
        let ns = ns_inodes(app.pid);
        for shared in ["net", "ipc", "uts"] {
            assert_eq!(ns[shared], infra_ns[shared], "{n}: {shared} not the pod's");
        }
        for own in ["mnt", "pid"] {
            assert_ne!(ns[own], infra_ns[own], "{n}: {own} is the infra's");
            assert_ne!(ns[own], host_ns[own], "{n}: {own} is the host's");
        }
        app_ns.push(ns);
    }
    assert_ne!(app_ns[0]["mnt"], app_ns[1]["mnt"]);
    assert_ne!(app_ns[0]["pid"], app_ns[1]["pid"]);

    // An exec session runs in the container's namespaces, as its pid 1's
    // sibling: it sees `sleep` as pid 1.
    let out = pm.exec(
        &names[0],
        &[
            "sh",
            "-c",
            "cat /proc/1/comm; readlink /proc/self/ns/net; readlink /proc/self/ns/mnt",
        ],
    );
    assert!(out.status.success(), "exec: {out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert_eq!(lines[0], "sleep");
    assert_eq!(parse_ns_link(lines[1]), Some(infra_ns["net"]), "{text}");
    assert_eq!(parse_ns_link(lines[2]), Some(app_ns[0]["mnt"]), "{text}");
    let failed = pm.exec(&names[1], &["sh", "-c", "exit 5"]);
    assert_eq!(failed.status.code(), Some(5));

    // The exited container: inspect still knows its times and status.
    let e = pm.inspect_container(&exited.id);
    assert_eq!(
        (e.status.as_str(), e.running, e.pid),
        ("exited", false, 0),
        "{e:?}"
    );
    assert_eq!(e.exit_code, 3);
    // StartedAt is podman's clock after `runc start` returned; FinishedAt
    // is when conmon wrote the exit file. A container that exits at once
    // can thus "finish" before it "started" (seen here under load): only
    // require the two to be close.
    let (started, finished) = e.lifetime_ns();
    assert!((finished - started).abs() < 5 * S, "{e:?}");
    assert!(e.started_at_ns >= infra.started_at_ns);
    assert!(e.started_at_ns <= apps[0].started_at_ns);
    assert_started_recently(&e);

    // Stop: every container finishes; sleep (pid 1, SIGTERM ignored) is
    // killed after the 1 s grace time.
    pod.stop();
    for id in &ids {
        let c = pm.inspect_container(id);
        assert_eq!((c.status.as_str(), c.pid), ("exited", 0), "{c:?}");
        assert_eq!(c.exit_code, 137, "SIGKILLed: {c:?}");
        let (s, f) = c.lifetime_ns();
        assert!(s < f, "{c:?}");
    }
    let infra_after = pm.inspect_container(&infra.id);
    assert_eq!(infra_after.pid, 0);
    let (s, f) = infra_after.lifetime_ns();
    assert_eq!(Some(s), infra.started_at_ns);
    assert!(f > s);
    assert!(
        !std::path::Path::new(&format!("/proc/{}", infra.pid)).exists()
            || comm(infra.pid) != "catatonit",
        "the infra process outlived pod stop"
    );

    pod.remove();
    assert!(
        !pm.output(&["pod", "exists", &name]).status.success(),
        "pod {name} still exists after pod rm"
    );
}
