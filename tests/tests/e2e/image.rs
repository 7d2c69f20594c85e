//! The container image of `cargo xtask image` (FROM scratch, the static
//! tracer) run as deploy/daemonset.yaml runs it: privileged, in the host's
//! pid namespace, the node's /proc at /host/proc (`HOST_PROC`), BTF,
//! tracefs, cgroups and /run/netns (rslave) mounted. It must rebuild a
//! podman pod made outside it exactly as the host sees it: the pause's
//! and containers' pids, its namespaces, its cgroup ids.
//!
//! Then the DaemonSet's own pod template through `podman kube play`, as far
//! as this podman goes: 4.3 has no DaemonSet kind and ignores `hostPID`
//! (containers/podman#17168, in 4.5), so the tracer there must refuse to
//! run with a clear reason; from 4.5 on it must trace.

use std::fs;
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::json::Lines;
use crate::support::podman::Podman;
use crate::support::procfs::ns_inodes;
use crate::support::{shared_dir, unique_name};

/// The image under test; `cargo xtask test` builds it and says which.
fn image() -> String {
    std::env::var("TRACER_IMAGE").expect(
        "TRACER_IMAGE is not set: run the end-to-end tests with `cargo xtask test` \
         (it builds the image with `cargo xtask image`)",
    )
}

/// The mounts and flags of deploy/daemonset.yaml, as `podman run` options.
fn daemonset_like() -> Vec<String> {
    // hostPath DirectoryOrCreate.
    fs::create_dir_all("/run/netns").expect("create /run/netns");
    [
        "--privileged",
        "--pid=host",
        "--read-only",
        "--env=HOST_PROC=/host/proc",
        "--volume=/proc:/host/proc:ro",
        "--volume=/sys/kernel/btf:/sys/kernel/btf:ro",
        "--volume=/sys/kernel/tracing:/sys/kernel/tracing",
        "--volume=/sys/fs/cgroup:/sys/fs/cgroup:ro",
        "--volume=/run/netns:/run/netns:ro,rslave",
    ]
    .map(String::from)
    .to_vec()
}

/// A container removed (forcefully) when dropped.
struct Ctr<'a> {
    pm: &'a Podman,
    name: String,
}

impl Drop for Ctr<'_> {
    fn drop(&mut self) {
        let _ = self.pm.output(&["rm", "-f", "-t", "0", &self.name]);
    }
}

impl Ctr<'_> {
    /// stdout of `podman logs`.
    fn logs(&self) -> String {
        let out = self.pm.output(&["logs", &self.name]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn stderr_logs(&self) -> String {
        let out = self.pm.output(&["logs", &self.name]);
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// Wait until the logs hold a line with `needle`.
    fn wait_log(&self, needle: &str, within: Duration) {
        let deadline = Instant::now() + within;
        while !self.logs().contains(needle) && !self.stderr_logs().contains(needle) {
            assert!(
                Instant::now() < deadline,
                "{}: no {needle:?} in its log within {within:?}:\n{}{}",
                self.name,
                self.logs(),
                self.stderr_logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

#[test]
fn a_daemonset_like_container_traces_a_pod_made_outside_it() {
    let pm = Podman::setup();
    let image = image();
    let ctr = Ctr {
        pm: &pm,
        name: unique_name("tracer-image"),
    };
    let mut run = vec![
        "run".to_string(),
        "-d".into(),
        format!("--name={}", ctr.name),
    ];
    run.extend(daemonset_like());
    // --duration: a safety net should the test die with it running.
    run.extend([image, "--json".into(), "--duration".into(), "90".into()]);
    pm.run(&run);
    ctr.wait_log("\"type\":\"ready\"", Duration::from_secs(30));

    // A pod the tracer did not start, made by the host's podman.
    let name = unique_name("image-pod");
    let pod = pm.pod(&name);
    pod.start();
    let app = pm.run_detached(&name, &format!("{name}-app"), &["sleep", "1000"]);
    pm.wait_exec(&app, "sleep");
    let out = pm.exec(&format!("{name}-app"), &["true"]);
    assert!(out.status.success(), "{out:?}");
    let infra = pm.inspect_container(&pod.inspect().infra_container_id);
    let app_truth = pm.inspect_container(&app);
    let infra_ns = ns_inodes(infra.pid);
    pod.stop();
    let pod_id = pod.id.clone();
    pod.remove();

    // SIGTERM, as the kubelet stops it: the report comes, then it exits.
    std::thread::sleep(Duration::from_millis(300));
    pm.run(&["stop", "-t", "30", &ctr.name]);
    let lines = Lines::from_output(ctr.logs().as_bytes());
    lines.assert_lossless();
    let report = lines.report();
    let sb = report
        .sandboxes
        .iter()
        .find(|s| s.pod.as_deref() == Some(pod_id.as_str()))
        .unwrap_or_else(|| panic!("no sandbox for pod {pod_id} in {report:?}"));
    // The node's pids and namespaces, seen from inside the container.
    assert_eq!(sb.pause().pid, infra.pid, "{sb:?}");
    for kind in ["net", "ipc", "uts"] {
        assert_eq!(sb.namespace(kind).inum, infra_ns[kind], "{kind}: {sb:?}");
    }
    let net = sb
        .namespace("net")
        .created
        .as_ref()
        .expect("netns creation");
    assert_eq!(
        (net.comm.as_str(), net.syscall.as_str()),
        ("podman", "unshare")
    );
    let c = sb
        .containers
        .iter()
        .find(|c| {
            c.cgroup.as_ref().and_then(|g| g.container_id.as_deref()) == Some(app_truth.id.as_str())
        })
        .unwrap_or_else(|| panic!("no container {} in {sb:?}", app_truth.id));
    assert_eq!(c.pid, app_truth.pid);
    assert_eq!(c.argv, ["sleep", "1000"]);
    assert_eq!(c.exit, Some(137), "SIGKILLed by pod stop");
    assert_eq!(c.execs.len(), 1, "{c:?}");
    assert_eq!(c.execs[0].argv, ["true"]);
}

/// deploy/daemonset.yaml.
fn daemonset_yaml() -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/daemonset.yaml");
    fs::read_to_string(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
}

/// The DaemonSet's pod template as a Pod named `name`: the lines under
/// `template:`, four spaces less indented.
fn pod_of_template(ds: &str, name: &str) -> String {
    let mut lines = ds.lines().skip_while(|l| *l != "  template:");
    assert!(lines.next().is_some(), "no `  template:` in the DaemonSet");
    let mut pod = String::from("apiVersion: v1\nkind: Pod\n");
    for l in lines.take_while(|l| *l != "---") {
        let l = l.strip_prefix("    ").unwrap_or(l);
        pod.push_str(l);
        pod.push('\n');
        if l == "metadata:" {
            pod.push_str(&format!("  name: {name}\n"));
        }
    }
    pod
}

/// `podman version`'s client version as (major, minor).
fn podman_version(pm: &Podman) -> (u32, u32) {
    let v = pm.run(&["version", "--format", "{{.Client.Version}}"]);
    let mut it = v.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    (it.next().unwrap_or(0), it.next().unwrap_or(0))
}

#[test]
fn podman_kube_play_runs_the_daemonsets_pod_template_as_far_as_podman_goes() {
    let pm = Podman::setup();
    let ds = daemonset_yaml();
    // What node agents' DaemonSets have, and this one must keep.
    for needed in [
        "kind: DaemonSet",
        "hostPID: true",
        "privileged: true",
        "name: HOST_PROC",
        "path: /proc",
        "path: /sys/kernel/btf",
        "path: /sys/kernel/tracing",
        "path: /sys/fs/cgroup",
        "path: /run/netns",
        "mountPropagation: HostToContainer",
        "path: /run/containerd/containerd.sock",
    ] {
        assert!(
            ds.contains(needed),
            "deploy/daemonset.yaml lacks {needed:?}"
        );
    }
    let version = podman_version(&pm);
    let name = unique_name("tracer-kube");
    let dir = shared_dir("image").join(&name);
    fs::create_dir_all(&dir).expect("make the test dir");
    // The CRI socket's hostPath must be a socket: a stand-in of our own.
    let sock = dir.join("cri.sock");
    let _listener = UnixListener::bind(&sock).expect("bind a stand-in CRI socket");
    let mut pod = pod_of_template(&ds, &name)
        .replace(
            "image: localhost/tracer:0.1.0",
            &format!("image: {}", image()),
        )
        .replace(
            "path: /run/containerd/containerd.sock",
            &format!("path: {}", sock.display()),
        )
        // --duration: a safety net, as above.
        .replace(
            r#"args: ["--json", "--metrics", "0.0.0.0:9464"]"#,
            r#"args: ["--json", "--duration", "60"]"#,
        );
    // podman publishes containerPorts on the host: parallel runs would
    // collide on 9464; a real DaemonSet publishes nothing on the node.
    let ports = "      ports:\n        - name: metrics\n          containerPort: 9464\n          protocol: TCP\n";
    assert!(
        pod.contains(ports),
        "the template's ports block moved:\n{pod}"
    );
    pod = pod.replace(ports, "");
    let yaml = dir.join("pod.yaml");
    fs::write(&yaml, &pod).expect("write the pod");
    let yaml_s = yaml.to_str().expect("UTF-8 path").to_string();

    // The DaemonSet as it is: podman < 4.6 has no such kind.
    let whole = dir.join("daemonset.yaml");
    fs::write(
        &whole,
        ds.replace(
            "path: /run/containerd/containerd.sock",
            &format!("path: {}", sock.display()),
        ),
    )
    .expect("write the DaemonSet");
    let whole_s = whole.to_str().expect("UTF-8");
    let out = pm.output(&["kube", "play", "--start=false", whole_s]);
    if out.status.success() {
        let _ = pm.output(&["kube", "down", whole_s]);
    }
    if version < (4, 6) {
        assert!(
            !out.status.success()
                && String::from_utf8_lossy(&out.stderr)
                    .contains("does not contain any supported kube kind"),
            "podman {version:?} on a DaemonSet: {out:?}"
        );
    }

    let guard = KubeDown {
        pm: &pm,
        yaml: yaml_s.clone(),
    };
    pm.run(&["kube", "play", &yaml_s]);
    let ctr = Ctr {
        pm: &pm,
        name: format!("{name}-tracer"),
    };
    // podman 4.3's inspect reads /proc/<pid>/cgroup of a running container:
    // the tracer in it refuses to run (no hostPID) and may be exiting just
    // then ("no such process"). Asked again, it answers for the exited one.
    let inspect = |fmt: &str| {
        let args = ["container", "inspect", "--format", fmt, &ctr.name];
        for _ in 0..5 {
            let out = pm.output(&args);
            if out.status.success() {
                return String::from_utf8_lossy(&out.stdout).trim().to_string();
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        pm.run(&args)
    };
    // What podman honours of the template.
    assert_eq!(inspect("{{.HostConfig.Privileged}}"), "true");
    assert_eq!(inspect("{{.HostConfig.ReadonlyRootfs}}"), "true");
    let mounts = inspect("{{range .Mounts}}{{.Destination}}:{{.Propagation}}:{{.RW}} {{end}}");
    for m in [
        "/host/proc:rprivate:false",
        "/sys/kernel/btf:rprivate:false",
        "/sys/kernel/tracing:rprivate:true",
        "/sys/fs/cgroup:rprivate:false",
        "/run/netns:rslave:false",
        "/run/containerd/containerd.sock:rprivate:false",
    ] {
        assert!(mounts.split(' ').any(|x| x == m), "{m} not in {mounts}");
    }
    assert!(inspect("{{.Config.Env}}").contains("HOST_PROC=/host/proc"));
    let pid_mode = inspect("{{.HostConfig.PidMode}}");
    if version < (4, 5) {
        // Where podman 4.3 stops: hostPID is ignored, and the tracer says why it cannot run.
        assert_eq!(pid_mode, "private", "podman {version:?}");
        ctr.wait_log("pid namespace of its own", Duration::from_secs(30));
    } else {
        assert_eq!(pid_mode, "host", "podman {version:?}");
        ctr.wait_log("\"type\":\"ready\"", Duration::from_secs(30));
    }
    drop(ctr);
    drop(guard);
    let _ = fs::remove_dir_all(&dir);
}

/// `podman kube down` of a played file when dropped.
struct KubeDown<'a> {
    pm: &'a Podman,
    yaml: String,
}

impl Drop for KubeDown<'_> {
    fn drop(&mut self) {
        let _ = self.pm.output(&["kube", "down", &self.yaml]);
    }
}
