//! End-to-end: containerd driven over CRI exactly as the kubelet drives it
//! (RunPodSandbox, CreateContainer/StartContainer of `job` and `app`,
//! ExecSync, StopContainer, StopPodSandbox, RemoveContainer,
//! RemovePodSandbox), traced with `tracer record`; the report is checked
//! against CRI's own ground truth (status with `verbose`) and /proc.
//! The tracer asks the same CRI socket for names (issue 9): the report and
//! the live lines name `acc-ns/acc-pod`, `job`, `app` and `containerd
//! <version>`, and so does the recording, replayed by nobody with no socket.
//! A container that lives under a millisecond (`job`) still has its cgroup.
//!
//! The last checks are the holders issue's (#8): the CNI plugins are the
//! pod's visitors, `report --pod` tells its story, and once StopPodSandbox
//! has unmounted the netns pin, the report must say the netns was freed,
//! not that `/run/netns/cni-…` still pins it.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

use k8s_cri::v1::ContainerState;
use serde::Deserialize;

use crate::support::containerd::{BUSYBOX_IMAGE, Containerd, build_images, ensure_installed};
use crate::support::cri::{ContainerTruth, Cri, PodSpec, SandboxTruth};
use crate::support::json::Lines;
use crate::support::tracer::{Tracer, require_root, tracer_bin, tracer_unprivileged};

const MS: i64 = 1_000_000;
const S: i64 = 1_000_000_000;

// ---- the report, typed (the fields these checks read; docs/json.md) ------

#[derive(Debug, Deserialize)]
struct Report {
    realtime_minus_boottime_ns: i64,
    sandboxes: Vec<Sandbox>,
}

#[derive(Debug, Deserialize)]
struct Sandbox {
    pod: Option<String>,
    /// `namespace/pod`, as the runtime named it.
    pod_name: Option<String>,
    /// `containerd <version>`.
    runtime: Option<String>,
    identity: Option<Identity>,
    cgroup: Option<Cgroup>,
    existing: bool,
    ended_ns: Option<i64>,
    namespaces: Vec<Namespace>,
    pause: Option<Pause>,
    containers: Vec<Container>,
    anomalies: Vec<String>,
}

#[derive(Debug, Deserialize, PartialEq)]
struct Cgroup {
    runtime: Option<String>,
    pod_uid: Option<String>,
    container_id: Option<String>,
    qos: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Namespace {
    kind: String,
    inum: u64,
    created: Option<Creation>,
    existing: bool,
    emptied_ns: Option<i64>,
    pinned_by: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct Creation {
    ts_ns: i64,
    pid: u32,
    comm: String,
    syscall: String,
}

#[derive(Debug, Deserialize)]
struct Task {
    pid: u32,
    comm: String,
}

#[derive(Debug, Deserialize)]
struct Pause {
    pid: u32,
    comm: String,
    argv: Vec<String>,
    started_ns: Option<i64>,
    forked_ns: Option<i64>,
    forked_by: Option<Task>,
    exited_ns: Option<i64>,
    exit: Option<i32>,
}

/// What the runtime said about a sandbox or container.
#[derive(Debug, Deserialize)]
struct Identity {
    id: String,
    role: String,
    pod_namespace: Option<String>,
    pod_name: Option<String>,
    pod_uid: Option<String>,
    attempt: Option<u32>,
    container_name: Option<String>,
    sandbox_id: Option<String>,
    source: String,
}

#[derive(Debug, Deserialize)]
struct Container {
    /// The runtime's name for it (`job`), else a short id.
    name: String,
    /// Its runtime id, in full.
    id: Option<String>,
    identity: Option<Identity>,
    pid: u32,
    argv: Vec<String>,
    joined_ns: Option<i64>,
    started_ns: Option<i64>,
    left_ns: Option<i64>,
    exit: Option<i32>,
    joined: Vec<String>,
    missing: Vec<String>,
    existing: bool,
    cgroup: Option<Cgroup>,
    execs: Vec<ExecSession>,
}

#[derive(Debug, Deserialize)]
struct ExecSession {
    argv: Vec<String>,
    started_ns: i64,
    left_ns: Option<i64>,
    exit: Option<i32>,
}

impl Sandbox {
    /// The one namespace of this kind.
    fn ns(&self, kind: &str) -> &Namespace {
        let all: Vec<&Namespace> = self.namespaces.iter().filter(|n| n.kind == kind).collect();
        assert_eq!(all.len(), 1, "{kind} namespaces of the sandbox: {all:?}");
        all[0]
    }
}

// ---- clocks ---------------------------------------------------------------

/// CLOCK_BOOTTIME in ns: the clock of the tracer's `*_ns` fields.
fn boottime_ns() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid timespec to fill.
    let r = unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    assert_eq!(r, 0, "clock_gettime(CLOCK_BOOTTIME)");
    ts.tv_sec * S + ts.tv_nsec
}

/// The CLOCK_BOOTTIME interval a CRI call ran in: whatever the kernel did
/// for it has a timestamp inside.
#[derive(Clone, Copy, Debug)]
struct Window {
    from: i64,
    to: i64,
}

impl Window {
    /// `runc start` only opens the init's exec fifo and returns: the
    /// entrypoint's execve can land just after the CRI call has returned.
    fn and_exec(self) -> Window {
        Window {
            from: self.from,
            to: self.to + 100 * MS,
        }
    }

    fn contains(&self, ts: Option<i64>, what: &str) {
        let ts = ts.unwrap_or_else(|| panic!("{what}: no time"));
        assert!(
            (self.from..=self.to).contains(&ts),
            "{what}: {ts} is outside the CRI call's window {self:?}"
        );
    }
}

fn timed<T>(f: impl FnOnce() -> T) -> (T, Window) {
    let from = boottime_ns();
    let t = f();
    (
        t,
        Window {
            from,
            to: boottime_ns(),
        },
    )
}

/// A namespace's inode, through any path that names it (`/proc/<pid>/ns/net`,
/// a bind mount such as `/var/run/netns/cni-…`).
fn ns_inode(path: &str) -> u64 {
    fs::metadata(path)
        .unwrap_or_else(|e| panic!("stat {path}: {e}"))
        .ino()
}

fn argv(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

fn kinds(k: &[String]) -> BTreeSet<&str> {
    k.iter().map(String::as_str).collect()
}

/// Mount points in the host's mount namespace whose path ends with `name`.
fn host_mounts_named(name: &str) -> Vec<String> {
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_else(|e| panic!("read /proc/self/mountinfo: {e}"))
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|p| p.ends_with(name))
        .map(String::from)
        .collect()
}

/// CRI's StartedAt/FinishedAt (Unix ns) against what the tracer saw.
fn assert_near(unix_ns: i64, traced_boot_ns: Option<i64>, offset: i64, what: &str) {
    let traced = traced_boot_ns.unwrap_or_else(|| panic!("{what}: not traced")) + offset;
    let d = traced - unix_ns;
    assert!(
        d.abs() < S,
        "{what}: traced {traced} vs CRI {unix_ns}: {} ms apart",
        d / MS
    );
}

fn require(cond: bool, what: &str, status: &impl std::fmt::Debug) {
    assert!(cond, "{what}: {status:?}");
}

// ---- the kubelet's calls, with their ground truth ---------------------------

const JOB_CMD: [&str; 3] = ["sh", "-c", "exit 3"];
const APP_CMD: [&str; 2] = ["sleep", "3600"];

/// The CRI calls of one pod, each failure with containerd's last words.
struct Kubelet<'a> {
    cri: &'a Cri,
    ctrd: &'a Containerd,
    pod: PodSpec,
    image: String,
}

impl Kubelet<'_> {
    fn ok<T>(&self, r: anyhow::Result<T>) -> T {
        r.unwrap_or_else(|e| panic!("{e:#}\n{}", self.ctrd.log_tail()))
    }

    fn start(&self, sandbox_id: &str, name: &str, cmd: &[&str]) -> String {
        let config = self.pod.container(name, &self.image, cmd);
        let id = self.ok(self
            .cri
            .create_container(sandbox_id, config, &self.pod.config()));
        self.ok(self.cri.start_container(&id));
        id
    }
}

/// When each CRI call ran (CLOCK_BOOTTIME).
struct Windows {
    run: Window,
    job: Window,
    app: Window,
    exec: Window,
    stop_app: Window,
    stop_sandbox: Window,
}

/// What CRI and /proc said, read while it was true.
struct Truth {
    containerd_pid: u32,
    uid: String,
    sandbox: SandboxTruth,
    /// The pause's namespaces by /proc name, read while it ran.
    pause_ns: BTreeMap<&'static str, u64>,
    /// The inode of the netns path CRI reports.
    netns_inode: u64,
    job: ContainerTruth,
    app: ContainerTruth,
    app_stopped: ContainerTruth,
    w: Windows,
}

/// RunPodSandbox, job (exits 3), app (sleeps), ExecSync `ps` in app,
/// StopContainer app, StopPodSandbox, RemoveContainer ×2, RemovePodSandbox.
fn run_the_pod(k: &Kubelet) -> Truth {
    let (sandbox_id, w_run) = timed(|| k.ok(k.cri.run_pod_sandbox(&k.pod.config())));
    let sandbox = k.ok(k.cri.pod_sandbox_status(&sandbox_id));
    require(sandbox.ready && sandbox.pid > 0, "sandbox ready", &sandbox);
    require(
        sandbox.netns_path.contains("/netns/cni-"),
        "netns path",
        &sandbox,
    );
    let pause_ns: BTreeMap<&'static str, u64> = ["net", "ipc", "uts", "pid", "mnt"]
        .into_iter()
        .map(|kind| (kind, ns_inode(&format!("/proc/{}/ns/{kind}", sandbox.pid))))
        .collect();
    let netns_inode = ns_inode(&sandbox.netns_path);
    assert_eq!(
        pause_ns["net"], netns_inode,
        "the pause's netns is the pinned one"
    );
    assert_eq!(
        host_mounts_named(&sandbox.netns_path_name()).len(),
        1,
        "the netns pin is mounted once on the host"
    );

    let (job_id, w_job) = timed(|| {
        let id = k.start(&sandbox_id, "job", &JOB_CMD);
        k.ok(k.cri.wait_exited(&id, Duration::from_secs(10)));
        id
    });
    let job = k.ok(k.cri.container_status(&job_id));
    // containerd forgets the pid of an exited task (0): the job is known by
    // its cgroup.
    require(
        job.exit_code == 3 && job.name == "job",
        "job exited 3",
        &job,
    );

    let (app_id, w_app) = timed(|| k.start(&sandbox_id, "app", &APP_CMD));
    let app = k.ok(k.cri.container_status(&app_id));
    require(
        app.state == ContainerState::ContainerRunning && app.pid > 0,
        "app running",
        &app,
    );
    for kind in ["net", "ipc", "uts", "pid", "mnt"] {
        let shared = ns_inode(&format!("/proc/{}/ns/{kind}", app.pid)) == pause_ns[kind];
        let should = matches!(kind, "net" | "ipc" | "uts");
        assert_eq!(shared, should, "app shares the pause's {kind}: {should}");
    }

    let (ps, w_exec) = timed(|| k.ok(k.cri.exec_sync(&app_id, &["ps"], 10)));
    require(
        ps.exit_code == 0 && ps.stdout.contains("sleep 3600"),
        "ps in app",
        &ps,
    );

    // SIGTERM, SIGKILL after 1 s: sleep is pid 1 of its pid namespace and
    // has no SIGTERM handler, so the kernel drops SIGTERM: only SIGKILL ends it.
    let ((), w_stop_app) = timed(|| k.ok(k.cri.stop_container(&app_id, 1)));
    let app_stopped = k.ok(k.cri.container_status(&app_id));
    require(
        app_stopped.state == ContainerState::ContainerExited && app_stopped.exit_code == 137,
        "app SIGKILLed after the grace period",
        &app_stopped,
    );

    // StopPodSandbox SIGKILLs the pause, runs CNI DEL through the pin, then
    // unmounts and removes the pin (containerd's sandbox_stop.go).
    let ((), w_stop_sandbox) = timed(|| k.ok(k.cri.stop_pod_sandbox(&sandbox_id)));
    let stopped = k.ok(k.cri.pod_sandbox_status(&sandbox_id));
    require(
        !stopped.ready && stopped.netns_closed,
        "sandbox stopped, its netns closed",
        &stopped,
    );
    // The holders issue's ground truth: no pin left anywhere we can see.
    assert!(
        !Path::new(&sandbox.netns_path).exists(),
        "{} still exists after StopPodSandbox",
        sandbox.netns_path
    );
    assert_eq!(
        host_mounts_named(&sandbox.netns_path_name()),
        Vec::<String>::new(),
        "the netns pin is still mounted on the host after StopPodSandbox"
    );
    k.ok(k.cri.remove_container(&job_id));
    k.ok(k.cri.remove_container(&app_id));
    k.ok(k.cri.remove_pod_sandbox(&sandbox_id));
    Truth {
        containerd_pid: k.ctrd.pid(),
        uid: k.pod.uid.clone(),
        sandbox,
        pause_ns,
        netns_inode,
        job,
        app,
        app_stopped,
        w: Windows {
            run: w_run,
            job: w_job,
            app: w_app,
            exec: w_exec,
            stop_app: w_stop_app,
            stop_sandbox: w_stop_sandbox,
        },
    }
}

// ---- the report against the ground truth -----------------------------------

/// The pod's identity from the cgroup, the pause, and who made which namespace.
fn check_sandbox(sb: &Sandbox, t: &Truth) {
    assert!(!sb.existing, "{sb:?}");
    let cg = sb.cgroup.as_ref().expect("the sandbox's cgroup");
    assert_eq!(cg.pod_uid.as_deref(), Some(t.uid.as_str()), "{cg:?}");
    assert_eq!(cg.qos.as_deref(), Some("besteffort"), "{cg:?}");
    assert_eq!(
        cg.container_id.as_deref(),
        Some(t.sandbox.id.as_str()),
        "{cg:?}"
    );
    assert!(
        t.sandbox
            .cgroups_path
            .ends_with(&format!("pod{}/{}", t.uid, t.sandbox.id)),
        "CRI's cgroup path: {:?}",
        t.sandbox
    );

    // The pause: forked by the runc stage 1 that made its namespaces,
    // SIGKILLed by StopPodSandbox.
    let pause = sb.pause.as_ref().expect("the pause");
    assert_eq!(pause.pid, t.sandbox.pid, "{pause:?}");
    assert_eq!(pause.argv, argv(&["/pause"]), "{pause:?}");
    assert_eq!(pause.comm, "pause", "{pause:?}");
    t.w.run.contains(pause.forked_ns, "pause forked");
    t.w.run
        .and_exec()
        .contains(pause.started_ns, "pause started");
    t.w.stop_sandbox.contains(pause.exited_ns, "pause exited");
    assert_eq!(pause.exit, Some(137), "StopPodSandbox SIGKILLs the pause");
    let stage1 = pause.forked_by.as_ref().expect("who forked the pause");
    assert_eq!(stage1.comm, "runc:[1:CHILD]", "{stage1:?}");

    // net made by a containerd thread (the netns CRI pinned); ipc, uts and
    // the pause's own pid and mnt by runc stage 1 in one unshare.
    let net = sb.ns("net");
    assert_eq!(net.inum, t.netns_inode, "the netns CRI reports: {net:?}");
    assert!(!net.existing, "{net:?}");
    let made = net.created.as_ref().expect("who made the netns");
    assert_eq!(
        (made.pid, made.comm.as_str(), made.syscall.as_str()),
        (t.containerd_pid, "containerd", "unshare"),
        "{net:?}"
    );
    t.w.run.contains(Some(made.ts_ns), "netns created");
    for kind in ["ipc", "uts", "pid", "mnt"] {
        let ns = sb.ns(kind);
        assert_eq!(ns.inum, t.pause_ns[kind], "{ns:?}");
        let made = ns.created.as_ref().expect("who made it");
        assert_eq!(
            (made.pid, made.syscall.as_str()),
            (stage1.pid, "unshare"),
            "{kind}: {ns:?}"
        );
        t.w.run
            .contains(Some(made.ts_ns), &format!("{kind} created"));
    }
}

/// Both containers, in the order the kubelet started them, and the exec.
fn check_containers(sb: &Sandbox, t: &Truth, offset: i64) {
    assert_eq!(sb.containers.len(), 2, "{:#?}", sb.containers);
    let (cj, ca) = (&sb.containers[0], &sb.containers[1]);
    let both = [
        (cj, &t.job, t.w.job, t.w.job),
        (ca, &t.app, t.w.app, t.w.stop_app),
    ];
    for (c, truth, w_join, w_leave) in both {
        let who = &truth.name;
        if truth.pid != 0 {
            assert_eq!(c.pid, truth.pid, "{who}: {c:?}");
        }
        assert_eq!(
            kinds(&c.joined),
            BTreeSet::from(["ipc", "net", "uts"]),
            "{who}: {c:?}"
        );
        assert!(c.missing.is_empty(), "{who}: {c:?}");
        assert!(!c.existing, "{who}: {c:?}");
        // (The job's cgroup is checked last: today it is missing.)
        if let Some(cg) = &c.cgroup {
            assert_eq!(cg.container_id.as_deref(), Some(truth.id.as_str()), "{who}");
            assert_eq!(cg.pod_uid.as_deref(), Some(t.uid.as_str()), "{who}");
        }
        w_join.contains(c.joined_ns, &format!("{who} joined"));
        w_join
            .and_exec()
            .contains(c.started_ns, &format!("{who} started"));
        w_leave.contains(c.left_ns, &format!("{who} left"));
        assert_near(
            truth.started_at_ns,
            c.started_ns,
            offset,
            &format!("{who} started"),
        );
    }
    assert_eq!(cj.argv, argv(&JOB_CMD), "{cj:?}");
    assert_eq!(cj.exit, Some(3), "{cj:?}");
    assert_near(t.job.finished_at_ns, cj.left_ns, offset, "job finished");
    assert_eq!(ca.argv, argv(&APP_CMD), "{ca:?}");
    assert!(ca.cgroup.is_some(), "app's cgroup: {ca:?}");
    assert_eq!(ca.exit, Some(t.app_stopped.exit_code), "{ca:?}");
    assert_near(
        t.app_stopped.finished_at_ns,
        ca.left_ns,
        offset,
        "app finished",
    );

    // One exec session (ExecSync `ps`), into app.
    assert!(cj.execs.is_empty(), "{cj:?}");
    assert_eq!(ca.execs.len(), 1, "{ca:?}");
    let ex = &ca.execs[0];
    assert_eq!(ex.argv, argv(&["ps"]), "{ex:?}");
    assert_eq!(ex.exit, Some(0), "{ex:?}");
    t.w.exec.contains(Some(ex.started_ns), "exec started");
    t.w.exec.contains(ex.left_ns, "exec left");
}

/// `tracer report` of the recording, run by nobody with no socket, gives
/// the live report: the names are in the recording.
fn check_replay(trace: &str, live: &serde_json::Value) {
    fs::set_permissions(trace, fs::Permissions::from_mode(0o644)).expect("chmod the recording");
    let out = tracer_unprivileged(&["report", trace, "--json"]);
    assert!(
        out.status.success(),
        "tracer report as nobody: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let replayed = Lines::from_output(&out.stdout).report_json();
    assert_eq!(
        &replayed, live,
        "the recording's report differs from the live one"
    );
    let names = &replayed["sandboxes"];
    assert!(
        names
            .to_string()
            .contains("\"pod_name\":\"acc-ns/acc-pod\""),
        "the replay names the pod: {names}"
    );
}

/// Issue 9: the pod and its containers by the names CRI gave them, the
/// runtime by its name and version, ids still there.
fn check_names(sb: &Sandbox, t: &Truth, version: &str) {
    assert_eq!(sb.pod_name.as_deref(), Some("acc-ns/acc-pod"), "{sb:?}");
    assert_eq!(
        sb.runtime.as_deref(),
        Some(format!("containerd {version}").as_str()),
        "the runtime by name and version, with the cgroupfs driver"
    );
    let i = sb.identity.as_ref().expect("the sandbox's identity");
    assert_eq!(i.id, t.sandbox.id, "{i:?}");
    assert_eq!(i.role, "sandbox", "{i:?}");
    assert_eq!(
        (i.pod_namespace.as_deref(), i.pod_name.as_deref()),
        (Some("acc-ns"), Some("acc-pod")),
        "{i:?}"
    );
    assert_eq!(i.pod_uid.as_deref(), Some(t.uid.as_str()), "{i:?}");
    assert_eq!(i.attempt, Some(0), "CRI's attempt: {i:?}");
    assert!(
        i.source.split('+').any(|s| s == "cri"),
        "CRI answered: {i:?}"
    );
    let names: Vec<(&str, Option<&str>)> = sb
        .containers
        .iter()
        .map(|c| (c.name.as_str(), c.id.as_deref()))
        .collect();
    assert_eq!(
        names,
        [
            ("job", Some(t.job.id.as_str())),
            ("app", Some(t.app.id.as_str()))
        ],
        "containers by name, ids kept"
    );
    for c in &sb.containers {
        let i = c.identity.as_ref().expect("the container's identity");
        assert_eq!(i.role, "container", "{i:?}");
        assert_eq!(i.container_name.as_deref(), Some(c.name.as_str()), "{i:?}");
        assert_eq!(
            i.sandbox_id.as_deref(),
            Some(t.sandbox.id.as_str()),
            "{i:?}"
        );
    }
}

/// The live lines name the pod from its pause's start on (the bundle's
/// labels are read at once; CRI answers later), and each container.
fn check_live_names(lines: &[serde_json::Value], t: &Truth) {
    let ours: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|v| v["type"] == "lifecycle" && v["pod"] == t.uid.as_str())
        .collect();
    let pause = ours
        .iter()
        .find(|v| v["event"] == "pause_started")
        .expect("a pause_started line");
    assert_eq!(pause["pod_name"], "acc-ns/acc-pod", "{pause}");
    let joins: Vec<(&str, &str)> = ours
        .iter()
        .filter(|v| v["event"] == "container_joined")
        .map(|v| {
            (
                v["container"].as_str().unwrap_or_default(),
                v["container_id"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        joins,
        [("job", t.job.id.as_str()), ("app", t.app.id.as_str())],
        "the join lines name both containers"
    );
}

/// The holders issue (#8): StopPodSandbox unmounted the pin (checked on the
/// host), so the netns was freed then; the report and the live view must
/// say so. Today the report keeps the stale pin, with an anomaly: pins are
/// read from the tracer's mountinfo when an event is processed, kept only
/// when non-empty, and never cleared.
fn check_netns_freed(sb: &Sandbox, lines: &[serde_json::Value], t: &Truth) {
    let net = sb.ns("net");
    t.w.stop_sandbox.contains(net.emptied_ns, "netns emptied");
    assert!(sb.ended_ns.is_some(), "the sandbox ended: {sb:?}");
    assert_eq!(
        net.pinned_by,
        Vec::<String>::new(),
        "report: the netns is still pinned by {} though StopPodSandbox unmounted it (in {:?})",
        t.sandbox.netns_path,
        t.w.stop_sandbox
    );
    // Live: "freed" is said once, last, within StopPodSandbox. Today the
    // lines say "still pinned" after the unmount, or "freed" too early
    // (before a CNI plugin re-enters through the pin), depending on when
    // the tracer happens to read mountinfo.
    let net_empty: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|v| {
            v["type"] == "lifecycle"
                && v["event"] == "namespace_empty"
                && v["inum"].as_u64() == Some(t.netns_inode)
        })
        .collect();
    let Some(last) = net_empty.last() else {
        panic!("no NS-EMPTY line for the netns");
    };
    let freed: Vec<usize> = net_empty
        .iter()
        .enumerate()
        .filter(|(_, v)| v["pinned_by"] == serde_json::json!([]))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(
        freed,
        [net_empty.len() - 1],
        "live: the netns must be said freed once, by its last NS-EMPTY: {net_empty:#?}"
    );
    t.w.stop_sandbox
        .contains(last["ts_ns"].as_i64(), "the netns freed (live)");
    assert_eq!(
        sb.anomalies,
        Vec::<String>::new(),
        "the sandbox's anomalies"
    );
}

/// A container that lives under a millisecond (the job) is gone before the
/// tracer processes its exec, so /proc/<pid>/cgroup cannot tell; the exec's
/// cgroup id, whose path the kernel announced at `cgroup_mkdir`, does. (It
/// had no cgroup before issue 9, and so no id and no CRI name.)
fn check_job_cgroup(sb: &Sandbox, t: &Truth) {
    let cj = &sb.containers[0];
    let cg = cj.cgroup.as_ref().unwrap_or_else(|| {
        panic!(
            "the job container has no cgroup (its CRI id is {}): {cj:?}",
            t.job.id
        )
    });
    assert_eq!(
        cg.container_id.as_deref(),
        Some(t.job.id.as_str()),
        "{cj:?}"
    );
}

/// The holders issue's visitors (#8): the CNI plugins containerd runs are
/// visits of the pod — ADD during RunPodSandbox, before the pause; DEL
/// during StopPodSandbox, after the pause's exit (it enters through the
/// pin) — and nothing the kubelet made (containers, the exec session) is.
fn check_cni_visits(report: &serde_json::Value, uid: &str, lines: &[serde_json::Value], t: &Truth) {
    let sb = report["sandboxes"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["pod"] == uid))
        .expect("our sandbox in the report");
    let visitors = sb["visitors"].as_array().cloned().unwrap_or_default();
    let phase = |v: &serde_json::Value| v["cni"]["command"].as_str().map(str::to_string);
    for v in &visitors {
        eprintln!(
            "visitor pid {} tid {} {} {:?} joined {} cni {} entered {} for {:?} ns",
            v["pid"],
            v["tid"],
            v["comm"],
            v["argv"],
            v["joined"],
            v["cni"],
            v["entered_ns"],
            v["left_ns"]
                .as_i64()
                .zip(v["entered_ns"].as_i64())
                .map(|(l, e)| l - e)
        );
    }
    let of = |cmd: &str| -> Vec<&serde_json::Value> {
        visitors
            .iter()
            .filter(|v| phase(v).as_deref() == Some(cmd))
            .collect()
    };
    let (add, del) = (of("ADD"), of("DEL"));
    let comms = |vs: &[&serde_json::Value]| -> BTreeSet<String> {
        vs.iter()
            .filter_map(|v| v["comm"].as_str().map(str::to_string))
            .collect()
    };
    assert!(
        comms(&add).contains("bridge") && comms(&add).contains("loopback"),
        "CNI ADD by the bridge and loopback plugins: {visitors:#?}"
    );
    assert!(
        comms(&del).contains("bridge"),
        "CNI DEL by the bridge plugin: {visitors:#?}"
    );
    let pause_started = sb["pause"]["started_ns"].as_i64();
    let pause_exited = sb["pause"]["exited_ns"].as_i64();
    for v in &add {
        t.w.run
            .contains(v["entered_ns"].as_i64(), "CNI ADD entered");
        t.w.run.contains(v["left_ns"].as_i64(), "CNI ADD left");
        assert!(
            v["entered_ns"].as_i64() < pause_started,
            "containerd 1.6 runs CNI ADD before the pause: {v}"
        );
        assert_eq!(v["joined"], serde_json::json!(["net"]), "{v}");
    }
    for v in &del {
        t.w.stop_sandbox
            .contains(v["entered_ns"].as_i64(), "CNI DEL entered");
        assert!(
            v["entered_ns"].as_i64() > pause_exited,
            "CNI DEL after the pause's exit, through the pin: {v}"
        );
    }
    assert_eq!(
        add.len() + del.len(),
        visitors.len(),
        "every visitor of this pod is a CNI plugin: {visitors:#?}"
    );
    let from: Vec<&str> = visitors
        .iter()
        .filter_map(|v| v["cni"]["from"].as_str())
        .collect();
    eprintln!(
        "CNI phase told by: {} environ, {} time (of {})",
        from.iter().filter(|f| **f == "environ").count(),
        from.iter().filter(|f| **f == "time").count(),
        from.len()
    );
    let d = &sb["durations"];
    eprintln!("durations: {d}");
    assert!(d["cni_add_ns"].as_i64().is_some_and(|n| n > 0), "{d}");
    assert!(
        d["cni_add_to_pause_ns"].as_i64().is_some_and(|n| n > 0),
        "{d}"
    );
    assert!(d["namespaces_to_cni_add_ns"].as_i64().is_some(), "{d}");
    assert!(d["cni_del_ns"].as_i64().is_some(), "{d}");
    assert!(
        d["pause_exit_to_cni_del_ns"]
            .as_i64()
            .is_some_and(|n| n > 0),
        "{d}"
    );
    // Live: a visit line for each, in this sandbox.
    let no = &sb["sandbox"];
    let live: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["type"] == "lifecycle" && l["sandbox"] == *no && l["event"] == "visit")
        .collect();
    assert_eq!(live.len(), visitors.len(), "visit lines: {live:#?}");
}

/// `tracer report FILE --pod UID --json`: the story of our pod alone.
fn check_story(trace: &str, t: &Truth) {
    let out = std::process::Command::new(tracer_bin())
        .args(["report", trace, "--json", "--pod", &t.uid])
        .output()
        .expect("tracer report --pod");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let story: serde_json::Value = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["type"] == "story")
        .expect("a story line");
    assert_eq!(
        story["sandboxes"].as_array().map(Vec::len),
        Some(1),
        "{story}"
    );
    let net = story["namespaces"]
        .as_array()
        .and_then(|n| n.iter().find(|n| n["kind"] == "net"))
        .expect("the pod's netns in its story");
    assert_eq!(net["inum"].as_u64(), Some(t.netns_inode), "{net}");
    assert_eq!(
        net["created"]["pid"].as_u64(),
        Some(u64::from(t.containerd_pid)),
        "{net}"
    );
    let steps = story["steps"].as_array().cloned().unwrap_or_default();
    assert!(
        steps.iter().any(|s| s["event"] == "pause_started")
            && steps.iter().any(|s| s["event"] == "visit"),
        "{steps:#?}"
    );
    assert!(
        steps.iter().all(|s| s["pod"] == t.uid.as_str()),
        "only our pod's steps: {steps:#?}"
    );
}

// ---- the test ---------------------------------------------------------------

#[test]
fn a_containerd_pod_over_cri_is_traced_as_cri_sees_it() {
    let t0 = Instant::now();
    require_root();
    let _turn = crate::pod_deaths::containerd_turn();
    ensure_installed().unwrap_or_else(|e| panic!("{e:#}"));
    let scratch = std::env::temp_dir().join(format!("tracer-cri-images-{}", std::process::id()));
    let _ = fs::remove_dir_all(&scratch);
    fs::create_dir_all(&scratch).unwrap_or_else(|e| panic!("mkdir {}: {e}", scratch.display()));
    let images = build_images(&scratch).unwrap_or_else(|e| panic!("{e:#}"));
    let mut ctrd = Containerd::start(&images).unwrap_or_else(|e| panic!("{e:#}"));
    let _ = fs::remove_dir_all(&scratch);
    let cri = ctrd.cri().unwrap_or_else(|e| panic!("{e:#}"));
    let version = cri.version().unwrap_or_else(|e| panic!("{e:#}"));
    eprintln!(
        "containerd {} (CRI {}) ready in {:?}",
        version.runtime_version,
        version.runtime_api_version,
        t0.elapsed()
    );
    // A fixed-form uid, unique per run: two runs at once must not share pods.
    let uid = format!("acc0c0de-0000-4000-8000-{:012x}", std::process::id());
    let pod = ctrd.pod("acc-ns", "acc-pod", &uid);
    let image = cri
        .image_id(BUSYBOX_IMAGE)
        .unwrap_or_else(|e| panic!("{e:#}"));
    let kubelet = Kubelet {
        cri: &cri,
        ctrd: &ctrd,
        pod,
        image,
    };

    let trace = std::env::temp_dir().join(format!("tracer-cri-{}.trace", std::process::id()));
    let trace_s = trace.to_str().expect("a UTF-8 temp dir").to_string();
    // --duration: a safety net, should the test die with the tracer running.
    let socket = ctrd
        .socket
        .to_str()
        .expect("a UTF-8 socket path")
        .to_string();
    let tracer = Tracer::start_cmd(&[
        "record",
        "-o",
        &trace_s,
        "--duration",
        "120",
        "--cri-socket",
        &socket,
    ]);
    let t_traced = Instant::now();
    let truth = run_the_pod(&kubelet);
    let workload = t_traced.elapsed();
    let lines = tracer.stop();
    eprintln!(
        "CRI calls {workload:?}; tracer stopped {:?} after the test's start",
        t0.elapsed()
    );

    lines.assert_lossless();
    let values = lines.values();
    let report_json = lines.report_json();
    let report: Report = serde_json::from_value(report_json.clone())
        .unwrap_or_else(|e| panic!("the report's shape ({e}): {report_json}"));
    let ours: Vec<&Sandbox> = report
        .sandboxes
        .iter()
        .filter(|s| s.pod.as_deref() == Some(uid.as_str()))
        .collect();
    assert_eq!(ours.len(), 1, "sandboxes of pod {uid}: {ours:#?}");
    let sb = ours[0];
    check_sandbox(sb, &truth);
    check_containers(sb, &truth, report.realtime_minus_boottime_ns);
    check_names(sb, &truth, &version.runtime_version);
    check_live_names(&values, &truth);
    check_job_cgroup(sb, &truth);
    check_replay(&trace_s, &report_json);
    check_story(&trace_s, &truth);
    let _ = fs::remove_file(&trace);
    check_cni_visits(&report_json, &uid, &values, &truth);

    // Issue 8's checks.
    check_netns_freed(sb, &values, &truth);
    eprintln!("whole test: {:?}", t0.elapsed());
}
