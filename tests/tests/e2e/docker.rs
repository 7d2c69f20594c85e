//! A pod made the way cri-dockerd (dockershim) makes one, on a private
//! Debian docker.io 20.10 (`support::docker`): a pause container
//! (`--ipc=shareable`, the kubelet's labels, `k8s_POD_…`), a container that
//! exits 3, a long-running one, a `docker exec`, `docker stop` of both —
//! traced once with `tracer record`, then checked subject by subject
//! against `docker inspect` (State.Pid, ExitCode, StartedAt/FinishedAt,
//! SandboxKey) and /proc.
//!
//! One run answers every test (`run()`): each `#[test]` checks one subject,
//! so a gap in one (names, pins, visitors) does not hide the others.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::clock::{MS, S, Window, timed};
use crate::support::docker::{ContainerTruth, Docker, KubePod};
use crate::support::json::{Container, Lines, Sandbox, Step};
use crate::support::procfs::{ns_inodes, wait_exec};
use crate::support::recording;
use crate::support::tracer::{Tracer, tracer_unprivileged};
use crate::support::unique_name;

/// Everything the workload saw, for the checks.
struct Run {
    pod: KubePod,
    /// Live output of `tracer record`.
    lines: Lines,
    /// `tracer report` of the recording, as nobody.
    replayed: Lines,
    /// The recording's notes (cgroups, pins, identities).
    notes: Vec<Value>,
    /// The pause while it ran, then after `docker stop`.
    pause: ContainerTruth,
    pause_after: ContainerTruth,
    /// The container that exits 3 (after its end).
    exit3: ContainerTruth,
    /// The long-running container while it ran, then after `docker stop`.
    app: ContainerTruth,
    app_after: ContainerTruth,
    /// `/proc/<pid>/ns` of the pause and of the app while they ran.
    pause_ns: std::collections::BTreeMap<String, u64>,
    app_ns: std::collections::BTreeMap<String, u64>,
    /// The inode of the SandboxKey file (dockerd's netns pin).
    sandbox_key_inode: u64,
    /// dockerd's pid, its threads, its mount namespace.
    dockerd: u32,
    dockerd_tasks: Vec<u32>,
    dockerd_mnt: u64,
    w_sandbox: Window,
    w_exit3: Window,
    w_app: Window,
    w_exec: Window,
    w_stop_app: Window,
    /// `docker stop` of the pause until the pin was gone from mountinfo.
    w_stop_pause: Window,
}

static RUN: OnceLock<Result<Run, String>> = OnceLock::new();

/// The one run, made by whichever test comes first; a failure of the
/// workload fails every test with its message.
fn run() -> &'static Run {
    let r = RUN.get_or_init(|| {
        catch_unwind(AssertUnwindSafe(workload)).map_err(|e| {
            e.downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "a panic".to_string())
        })
    });
    match r {
        Ok(run) => run,
        Err(e) => panic!("the docker pod run failed: {e}"),
    }
}

/// Is `path` a mount point in our mount namespace?
fn mounted(path: &str) -> bool {
    let text = fs::read_to_string("/proc/self/mountinfo").expect("read mountinfo");
    text.lines().any(|l| l.split(' ').nth(4) == Some(path))
}

fn workload() -> Run {
    let docker = Docker::start();
    let trace = docker.dir.join("docker.trace");
    let trace_s = trace.to_str().expect("a UTF-8 temp dir").to_string();
    // --duration: a safety net, should the test die with the tracer running.
    let socket = docker
        .socket
        .to_str()
        .expect("a UTF-8 temp dir")
        .to_string();
    let tracer = Tracer::start_cmd(&[
        "record",
        "-o",
        &trace_s,
        "--duration",
        "120",
        "--docker-socket",
        &socket,
    ]);

    let n = unique_name("web");
    let pod = KubePod {
        namespace: format!("ns-{n}"),
        name: n.clone(),
        uid: format!(
            "0000{:04x}-7e57-4d0c-8e2e-{:012x}",
            std::process::id() % 0x10000,
            {
                let t = crate::support::clock::now_unix_ns();
                u64::try_from(t).unwrap_or(0) % 0x1_0000_0000_0000
            }
        ),
        attempt: 0,
    };

    // RunPodSandbox: the pause.
    let (sandbox_id, w_sandbox) = timed(|| docker.run(&pod.sandbox_args()));
    let pause = docker.inspect(&sandbox_id);
    assert!(pause.running && pause.pid > 0, "{pause:?}");
    assert_eq!(pause.name, pod.sandbox_name());
    let label = |c: &ContainerTruth, k: &str| c.labels.get(k).cloned().unwrap_or_default();
    assert_eq!(label(&pause, "io.kubernetes.docker.type"), "podsandbox");
    assert_eq!(label(&pause, "io.kubernetes.pod.uid"), pod.uid);
    let pause_ns = ns_inodes(pause.pid);
    assert!(
        pause
            .sandbox_key
            .starts_with(&docker.exec_root.display().to_string()),
        "{pause:?}"
    );
    let sandbox_key_inode = fs::metadata(&pause.sandbox_key)
        .unwrap_or_else(|e| panic!("stat {}: {e}", pause.sandbox_key))
        .ino();
    assert_eq!(
        sandbox_key_inode, pause_ns["net"],
        "the SandboxKey is the pause's netns"
    );
    assert!(
        mounted(&pause.sandbox_key),
        "{} is no mount",
        pause.sandbox_key
    );

    // A container that exits 3, in the foreground.
    let (exit3_out, w_exit3) = timed(|| {
        docker.output(&pod.container_args(&sandbox_id, "exit3", false, &["sh", "-c", "exit 3"]))
    });
    assert_eq!(
        exit3_out.status.code(),
        Some(3),
        "docker run exit3: {}",
        String::from_utf8_lossy(&exit3_out.stderr)
    );
    let exit3 = docker.inspect(&pod.container_name("exit3"));

    // A long-running one; the window ends once its entrypoint has exec'd.
    let (app, w_app) = timed(|| {
        let id = docker.run(&pod.container_args(&sandbox_id, "app", true, &["sleep", "1000"]));
        let app = docker.inspect(&id);
        wait_exec(app.pid, "sleep");
        app
    });
    assert!(app.running && app.pid > 0, "{app:?}");
    assert_eq!(app.network_mode, format!("container:{sandbox_id}"));
    assert_eq!(app.ipc_mode, format!("container:{sandbox_id}"));
    assert_eq!(app.uts_mode, "", "cri-dockerd leaves UTSMode empty");
    assert_eq!(label(&app, "io.kubernetes.container.name"), "app");
    assert_eq!(label(&app, "io.kubernetes.sandbox.id"), sandbox_id);
    let app_ns = ns_inodes(app.pid);
    for k in ["net", "ipc"] {
        assert_eq!(app_ns[k], pause_ns[k], "app {k}");
    }
    // Docker has no --uts=container: each container has its own.
    assert_ne!(app_ns["uts"], pause_ns["uts"], "app uts");

    let (out, w_exec) = timed(|| docker.output(&["exec", &app.id, "sh", "-c", "echo hi"]));
    assert!(out.status.success(), "docker exec: {out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "hi");
    let dockerd_tasks = docker.dockerd_tasks();
    let dockerd_mnt = ns_inodes(docker.dockerd_pid())["mnt"];

    // StopPodSandbox: the containers, then the sandbox; `sleep` as pid 1
    // ignores SIGTERM and is killed after the grace.
    let ((), w_stop_app) = timed(|| {
        docker.run(&["stop", "-t", "1", &app.id]);
    });
    let ((), w_stop_pause) = timed(|| {
        docker.run(&["stop", "-t", "1", &sandbox_id]);
        // dockerd unmounts the pin a moment after the pause exits.
        let deadline = Instant::now() + Duration::from_secs(5);
        while mounted(&pause.sandbox_key) {
            assert!(
                Instant::now() < deadline,
                "dockerd did not unmount {} within 5 s",
                pause.sandbox_key
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    });
    let pause_after = docker.inspect(&sandbox_id);
    let app_after = docker.inspect(&app.id);
    assert_eq!(
        (app_after.pid, app_after.exit_code),
        (0, 137),
        "{app_after:?}"
    );
    assert_eq!(pause_after.pid, 0, "{pause_after:?}");
    // RemovePodSandbox.
    docker.run(&["rm", &exit3.id, &app.id, &sandbox_id]);
    let lines = tracer.stop();

    fs::set_permissions(&docker.dir, fs::Permissions::from_mode(0o755)).expect("chmod the dir");
    fs::set_permissions(&trace, fs::Permissions::from_mode(0o644)).expect("chmod the recording");
    let out = tracer_unprivileged(&["report", &trace_s, "--json"]);
    assert!(
        out.status.success(),
        "tracer report as nobody: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let replayed = Lines::from_output(&out.stdout);
    let notes = recording::notes(&trace);
    Run {
        notes,
        pod,
        lines,
        replayed,
        pause,
        pause_after,
        exit3,
        app,
        app_after,
        pause_ns,
        app_ns,
        sandbox_key_inode,
        dockerd: docker.dockerd_pid(),
        dockerd_tasks,
        dockerd_mnt,
        w_sandbox,
        w_exit3,
        w_app,
        w_exec,
        w_stop_app,
        w_stop_pause,
    }
}

impl Run {
    /// Our sandbox in the report: the one whose pause is docker's.
    fn sandbox(&self) -> &Sandbox {
        let report = self.lines.report();
        let ours: Vec<&Sandbox> = report
            .sandboxes
            .iter()
            .filter(|s| s.pause.as_ref().is_some_and(|p| p.pid == self.pause.pid))
            .collect();
        assert_eq!(
            ours.len(),
            1,
            "sandboxes with pause {}: {ours:?}",
            self.pause.pid
        );
        ours[0]
    }

    /// The same sandbox as untyped JSON (fields the typed report lacks).
    fn sandbox_json(&self) -> Value {
        let no = self.sandbox().sandbox;
        let report = self.lines.report_json();
        report["sandboxes"]
            .as_array()
            .and_then(|a| a.iter().find(|s| s["sandbox"] == no))
            .cloned()
            .unwrap_or_else(|| panic!("sandbox {no} in the report JSON"))
    }

    fn offset(&self) -> i64 {
        self.lines.report().realtime_minus_boottime_ns
    }

    /// The report's containers: (exit3, app).
    fn containers(&self) -> (&Container, &Container) {
        let cs = &self.sandbox().containers;
        assert_eq!(cs.len(), 2, "{cs:?}");
        let find = |pred: &dyn Fn(&Container) -> bool, what: &str| {
            cs.iter()
                .find(|c| pred(c))
                .unwrap_or_else(|| panic!("no {what} among {cs:?}"))
        };
        (
            find(&|c| c.argv == argv(&["sh", "-c", "exit 3"]), "exit3"),
            find(&|c| c.pid == self.app.pid, "app"),
        )
    }
}

fn argv(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

/// A `*_ns` the report must have, as i64.
fn ns(v: Option<u64>, what: &str) -> i64 {
    let v = v.unwrap_or_else(|| panic!("no {what}"));
    i64::try_from(v).unwrap_or_else(|_| panic!("{what}: {v} out of range"))
}

fn u(v: &Value) -> Option<u64> {
    v.as_u64()
}

fn array(v: &Value) -> &[Value] {
    v.as_array().map(Vec::as_slice).unwrap_or_default()
}

/// Every string anywhere in `v`.
fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        Value::Object(o) => o.values().for_each(|x| strings(x, out)),
        _ => {}
    }
}

fn has_string(v: &Value, want: &str) -> bool {
    let mut all = Vec::new();
    strings(v, &mut all);
    all.iter().any(|s| s == want)
}

#[test]
fn docker_pod_trace_is_lossless_and_replays_to_the_same_report() {
    let r = run();
    r.lines.assert_lossless();
    assert_eq!(
        r.replayed.report_json(),
        r.lines.report_json(),
        "the report of the recording differs from the live one"
    );
}

#[test]
fn docker_pause_and_its_namespaces_are_as_docker_inspect_says() {
    let r = run();
    let sb = r.sandbox();
    assert!(!sb.existing, "{sb:?}");
    let cgroup = sb.cgroup.as_ref().expect("the sandbox's cgroup");
    assert_eq!(cgroup.runtime.as_deref(), Some("docker"), "{sb:?}");
    assert_eq!(
        cgroup.container_id.as_deref(),
        Some(r.pause.id.as_str()),
        "{sb:?}"
    );

    let pause = sb.pause();
    assert_eq!(pause.argv, argv(&["/pause"]), "{pause:?}");
    r.w_sandbox
        .assert_contains(pause.forked_ns.expect("forked_ns"), "pause forked");
    r.w_sandbox
        .assert_contains(pause.started_ns.expect("started_ns"), "pause started");
    r.w_stop_pause
        .assert_contains(pause.exited_ns.expect("exited_ns"), "pause exited");
    assert_eq!(
        pause.exit,
        Some(r.pause_after.exit_code),
        "{pause:?} vs {:?}",
        r.pause_after
    );
    // StartedAt is stamped once `runc start` returned, and stage 2 execs
    // the pause as that returns: the exec lands just before or just after.
    let started = r.pause.started_ns.expect("StartedAt");
    let d = started - (ns(pause.started_ns, "started_ns") + r.offset());
    assert!(
        (-100 * MS..S).contains(&d),
        "StartedAt - exec = {d} ns: {pause:?}"
    );
    let finished = r.pause_after.finished_ns.expect("FinishedAt");
    let left = ns(pause.exited_ns, "exited_ns") + r.offset();
    assert!(
        (finished - left).abs() < S && left <= finished + 10 * MS,
        "exit {left} vs FinishedAt {finished}: {pause:?}"
    );

    // runc stage 1 of the pause made all five in one unshare, then forked it.
    let stage1 = pause.forked_by.as_ref().expect("forked_by");
    assert_eq!(stage1.comm, "runc:[1:CHILD]", "{pause:?}");
    let mut times = BTreeSet::new();
    for kind in ["net", "ipc", "uts", "pid", "mnt"] {
        let n = sb.namespace(kind);
        assert_eq!(
            n.inum, r.pause_ns[kind],
            "{kind}: {n:?} vs /proc/{}/ns",
            r.pause.pid
        );
        assert!(!n.existing, "{n:?}");
        let created = n.created.as_ref().expect("created");
        assert_eq!(
            (created.pid, created.syscall.as_str()),
            (stage1.pid, "unshare"),
            "{kind}: {n:?}"
        );
        r.w_sandbox
            .assert_contains(created.ts_ns, &format!("{kind} created"));
        times.insert(created.ts_ns);
    }
    assert_eq!(times.len(), 1, "one unshare made them all: {times:?}");
    assert_eq!(
        sb.namespace("net").inum,
        r.sandbox_key_inode,
        "the SandboxKey's inode ({})",
        r.pause.sandbox_key
    );
}

#[test]
fn docker_containers_join_net_and_ipc_exit_and_exec_as_docker_says() {
    let r = run();
    let (ce, ca) = r.containers();
    assert_eq!(ca.pid, r.app.pid);
    assert_eq!(ca.argv, argv(&["sleep", "1000"]));
    for (c, truth, w_join, w_leave) in [
        (ce, &r.exit3, r.w_exit3, r.w_exit3),
        (ca, &r.app_after, r.w_app, r.w_stop_app),
    ] {
        let who = &truth.name;
        let joined: BTreeSet<&str> = c.joined.iter().map(String::as_str).collect();
        assert_eq!(joined, BTreeSet::from(["ipc", "net"]), "{who}: {c:?}");
        // A fact, true of every Docker container (see the anomaly test).
        assert_eq!(c.missing, ["uts"], "{who}: {c:?}");
        assert!(!c.existing, "{who}: {c:?}");
        assert_eq!(c.exit, Some(truth.exit_code), "{who}: {c:?} vs {truth:?}");
        // The short-lived one may exit before its cgroup is read.
        let cg = c.cgroup.as_ref();
        if !std::ptr::eq(c, ce) || cg.is_some() {
            let cg = cg.expect("the app's cgroup");
            assert_eq!(
                cg.container_id.as_deref(),
                Some(truth.id.as_str()),
                "{who}: {c:?}"
            );
            assert_eq!(cg.runtime.as_deref(), Some("docker"), "{who}: {c:?}");
        }
        w_join.assert_contains(c.joined_ns.expect("joined_ns"), &format!("{who} joined"));
        w_join.assert_contains(c.started_ns.expect("started_ns"), &format!("{who} started"));
        w_leave.assert_contains(c.left_ns.expect("left_ns"), &format!("{who} left"));
        // runc's setns comes at create, before StartedAt is stamped.
        let started = truth.started_ns.expect("StartedAt");
        let d = started - (ns(c.joined_ns, "joined_ns") + r.offset());
        assert!(
            (0..S).contains(&d),
            "{who}: StartedAt - joined = {d} ns: {c:?}"
        );
        let finished = truth.finished_ns.expect("FinishedAt");
        let left = ns(c.left_ns, "left_ns") + r.offset();
        assert!(
            (finished - left).abs() < S && left <= finished + 10 * MS,
            "{who}: left {left} vs FinishedAt {finished}: {c:?}"
        );
    }
    assert_eq!((ce.exit, ca.exit), (Some(3), Some(137)));
    // /proc agrees: the app shares net and ipc with the pause, not uts or pid.
    for k in ["net", "ipc"] {
        assert_eq!(r.app_ns[k], r.pause_ns[k], "{k}");
    }
    for k in ["uts", "pid"] {
        assert_ne!(r.app_ns[k], r.pause_ns[k], "{k}");
    }

    // The exec session, into the app.
    assert!(ce.execs.is_empty(), "{ce:?}");
    assert_eq!(ca.execs.len(), 1, "{ca:?}");
    let ex = &ca.execs[0];
    assert_eq!(ex.argv, argv(&["sh", "-c", "echo hi"]), "{ex:?}");
    assert_eq!(ex.exit, Some(0), "{ex:?}");
    r.w_exec.assert_contains(ex.started_ns, "exec started");
    r.w_exec
        .assert_contains(ex.left_ns.expect("left_ns"), "exec left");

    // The live lines said so as it happened.
    let sb = r.sandbox().sandbox;
    let joined: Vec<u32> = r
        .lines
        .lifecycle()
        .filter(|l| l.sandbox == sb)
        .filter_map(|l| match &l.step {
            Step::ContainerJoined { task } => Some(task.pid),
            _ => None,
        })
        .collect();
    assert_eq!(joined.len(), 2, "{joined:?}");
    assert_eq!(joined[1], r.app.pid);
}

/// Docker shares net and ipc (pid only with shareProcessNamespace), never
/// uts: a container without the pod's uts is what this runtime does.
#[test]
fn docker_containers_are_no_partial_join_anomaly() {
    let r = run();
    let sb = r.sandbox();
    let partial: Vec<&String> = sb
        .anomalies
        .iter()
        .filter(|a| a.contains("partial join"))
        .collect();
    assert!(partial.is_empty(), "{partial:?}");
}

/// dockerd unmounts the SandboxKey 30–45 ms after the pause exits: the
/// report must not say it still pins the netns.
#[test]
fn docker_netns_pin_is_gone_once_dockerd_unmounts_it() {
    let r = run();
    let sb = r.sandbox_json();
    let key = r.pause.sandbox_key.as_str();
    let net = array(&sb["namespaces"])
        .iter()
        .find(|n| n["kind"] == "net")
        .expect("the net namespace");
    let pinned: Vec<&str> = array(&net["pinned_by"])
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(!pinned.contains(&key), "still pinned by {key}: {net}");
    let stale: Vec<&Value> = array(&sb["anomalies"])
        .iter()
        .filter(|a| a.as_str().is_some_and(|a| a.contains(key)))
        .collect();
    assert!(stale.is_empty(), "{stale:?}");
}

/// The pin's making and removal as kernel events (the holder ledger:
/// `namespaces[].pins[]`, `freed_ns`), by dockerd, in its mount namespace.
#[test]
fn docker_netns_pin_is_made_and_removed_by_dockerd() {
    let r = run();
    let sb = r.sandbox_json();
    let key = r.pause.sandbox_key.as_str();
    let net = array(&sb["namespaces"])
        .iter()
        .find(|n| n["kind"] == "net")
        .expect("the net namespace");
    let pin = array(&net["pins"])
        .iter()
        .find(|p| p["path"] == key)
        .unwrap_or_else(|| panic!("no pin {key} in the net namespace's pins: {net}"));
    assert_eq!(u(&pin["mnt_ns"]), Some(r.dockerd_mnt), "{pin}");
    let by_dockerd = |who: &Value| {
        u(&who["pid"]).is_some_and(|p| {
            p == u64::from(r.dockerd) || r.dockerd_tasks.iter().any(|&t| u64::from(t) == p)
        }) && who["comm"] == "dockerd"
    };
    let made = &pin["made"];
    assert!(by_dockerd(made), "made by dockerd ({}): {pin}", r.dockerd);
    r.w_sandbox
        .assert_contains(u(&made["ts_ns"]).expect("made.ts_ns"), "pin made");
    let removed = &pin["removed"];
    assert!(
        by_dockerd(removed),
        "removed by dockerd ({}): {pin}",
        r.dockerd
    );
    let removed_ts = u(&removed["ts_ns"]).expect("removed.ts_ns");
    r.w_stop_pause.assert_contains(removed_ts, "pin removed");
    let exited = r.sandbox().pause().exited_ns.expect("pause exited_ns");
    assert!(
        exited <= removed_ts,
        "removed before the pause exited: {pin}"
    );
    assert_eq!(
        u(&net["freed_ns"]),
        Some(removed_ts),
        "freed when unpinned: {net}"
    );
    let no = r.sandbox().sandbox;
    let lines = r.lines.values();
    let steps: Vec<&str> = lines
        .iter()
        .filter(|l| l["type"] == "lifecycle" && l["sandbox"] == no && l["path"] == key)
        .filter_map(|l| l["event"].as_str())
        .collect();
    assert_eq!(steps, ["pin_added", "pin_removed"], "live pin lines");
}

/// dockerd's own thread (libnetwork's setkey hook) and its re-exec
/// `exe set-ipv6 <SandboxKey>` enter the pod's netns: visitors, listed.
#[test]
fn docker_dockerd_visitors_are_listed() {
    let r = run();
    let sb = r.sandbox_json();
    let visitors = array(&sb["visitors"]);
    let in_net = |v: &Value| array(&v["joined"]).iter().any(|k| k == "net");
    let dockerd = visitors.iter().find(|v| {
        v["comm"] == "dockerd"
            && u(&v["pid"]).is_some_and(|p| {
                p == u64::from(r.dockerd) || r.dockerd_tasks.iter().any(|&t| u64::from(t) == p)
            })
    });
    let dockerd = dockerd.unwrap_or_else(|| {
        panic!(
            "no dockerd ({}) among the visitors: {visitors:?}",
            r.dockerd
        )
    });
    assert!(in_net(dockerd), "{dockerd}");
    r.w_sandbox.assert_contains(
        u(&dockerd["entered_ns"]).expect("entered_ns"),
        "dockerd entered",
    );
    assert!(
        u(&dockerd["left_ns"]).is_some(),
        "dockerd setns'ed back: {dockerd}"
    );

    let set_ipv6 = visitors
        .iter()
        .find(|v| {
            let a: Vec<&str> = array(&v["argv"]).iter().filter_map(Value::as_str).collect();
            // Its argv is read from /proc as the setns is processed; it lives
            // ~150 µs in there and may be gone by then: then only its comm tells.
            (a.contains(&"set-ipv6") && a.contains(&r.pause.sandbox_key.as_str()))
                || (a.is_empty() && v["comm"] == "exe")
        })
        .unwrap_or_else(|| {
            panic!(
                "no `exe set-ipv6 {}` among the visitors: {visitors:?}",
                r.pause.sandbox_key
            )
        });
    assert!(in_net(set_ipv6), "{set_ipv6}");
    // `exe` is Go: its main thread may die before the others, and the
    // group's status comes with the last thread (not the visit's): unknown
    // then, never a wrong one.
    assert!(
        set_ipv6["exit"].is_null() || set_ipv6["exit"] == 0,
        "{set_ipv6}"
    );
    r.w_sandbox.assert_contains(
        u(&set_ipv6["entered_ns"]).expect("entered_ns"),
        "set-ipv6 entered",
    );
}

/// The Docker API's word on the pause and the app (the kubelet's labels),
/// recorded as identity notes: a replay has them without the socket.
#[test]
fn docker_api_identities_are_recorded_as_notes() {
    let r = run();
    let identity = |id: &str| {
        let all: Vec<&Value> = r
            .notes
            .iter()
            .filter(|n| n["note"] == "identity" && n["id"] == id)
            .collect();
        assert_eq!(all.len(), 1, "identity notes of {id}: {all:?}");
        all[0]
    };
    let pod = |n: &Value| {
        assert_eq!(n["pod_namespace"], r.pod.namespace.as_str(), "{n}");
        assert_eq!(n["pod_name"], r.pod.name.as_str(), "{n}");
        assert_eq!(n["pod_uid"], r.pod.uid.as_str(), "{n}");
        assert_eq!(n["source"], "docker", "{n}");
        assert!(
            n["runtime"]
                .as_str()
                .is_some_and(|v| v.starts_with("docker 20.10")),
            "{n}"
        );
    };
    let sandbox = identity(&r.pause.id);
    pod(sandbox);
    assert_eq!(sandbox["role"], "sandbox", "{sandbox}");
    assert_eq!(sandbox["attempt"], 0, "{sandbox}");
    let app = identity(&r.app.id);
    pod(app);
    assert_eq!(app["role"], "container", "{app}");
    assert_eq!(app["container_name"], "app", "{app}");
    assert_eq!(app["sandbox_id"], r.pause.id.as_str(), "{app}");
    // The one that exited at once is asked about only if its cgroup was read.
    let (exit3, _) = r.containers();
    if exit3.cgroup.is_some() {
        assert_eq!(identity(&r.exit3.id)["container_name"], "exit3");
    }
}

/// The kubelet's labels (and dockershim's names) say who the pod and its
/// containers are: the report shows them, from the Docker API. (Names are
/// keyed by container id: one that exited before its cgroup was read has
/// none to be named by.)
#[test]
fn docker_pod_and_container_names_are_shown() {
    let r = run();
    let sb = r.sandbox_json();
    let mut without_containers = sb.clone();
    if let Some(o) = without_containers.as_object_mut() {
        o.remove("containers");
    }
    for want in [&r.pod.namespace, &r.pod.name, &r.pod.uid] {
        let full = format!("{}/{}", r.pod.namespace, r.pod.name);
        assert!(
            has_string(&without_containers, want) || has_string(&without_containers, &full),
            "the sandbox does not name {want}: {without_containers}"
        );
    }
    let containers = array(&sb["containers"]);
    let (exit3, _) = r.containers();
    let mut named = vec![(Some(r.app.pid), "app")];
    if exit3.cgroup.is_some() {
        named.push((None, "exit3"));
    }
    for (pid_or_argv, name) in named {
        let c = containers
            .iter()
            .find(|c| match pid_or_argv {
                Some(pid) => u(&c["pid"]) == Some(u64::from(pid)),
                None => c["argv"] == serde_json::json!(["sh", "-c", "exit 3"]),
            })
            .unwrap_or_else(|| panic!("container {name} in {containers:?}"));
        assert!(has_string(c, name), "container {name} is not named: {c}");
    }
}
