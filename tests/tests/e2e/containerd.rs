//! End-to-end: containerd driven over CRI exactly as the kubelet drives it
//! (RunPodSandbox, CreateContainer/StartContainer of `job` and `app`,
//! ExecSync, StopContainer, StopPodSandbox, RemoveContainer,
//! RemovePodSandbox), traced with `tracer record`; the report is checked
//! against CRI's own ground truth (status with `verbose`) and /proc.
//!
//! The last checks are the holders issue's: once RemovePodSandbox has
//! unmounted the netns pin, the report must say the netns was freed, not
//! that `/run/netns/cni-…` still pins it.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, Instant};

use k8s_cri::v1::ContainerState;
use serde::Deserialize;

use crate::common::{Tracer, assert_lossless, require_root, tracer_bin};
use crate::support::containerd::{BUSYBOX_IMAGE, Containerd, build_images, ensure_installed};
use crate::support::cri::{ContainerTruth, SandboxTruth};

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

#[derive(Debug, Deserialize)]
struct Container {
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

// ---- the test -------------------------------------------------------------

#[test]
fn a_containerd_pod_over_cri_is_traced_as_cri_sees_it() {
    let t0 = Instant::now();
    require_root();
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
    // A failed CRI call says why, with containerd's own last words.
    macro_rules! ok {
        ($e:expr) => {
            $e.unwrap_or_else(|e| panic!("{e:#}\n{}", ctrd.log_tail()))
        };
    }
    let sandbox_config = pod.config();
    let busybox = ok!(cri.image_id(BUSYBOX_IMAGE));

    let trace = std::env::temp_dir().join(format!("tracer-cri-{}.trace", std::process::id()));
    let trace_s = trace.to_str().expect("a UTF-8 temp dir").to_string();
    // --duration: a safety net, should the test die with the tracer running.
    let tracer = Tracer::start_cmd(&["record", "-o", &trace_s, "--duration", "120"]);
    let t_traced = Instant::now();

    // ---- the kubelet's calls, with their ground truth -------------------
    let (sandbox_id, w_run) = timed(|| ok!(cri.run_pod_sandbox(&sandbox_config)));
    let sb_truth: SandboxTruth = ok!(cri.pod_sandbox_status(&sandbox_id));
    require(
        sb_truth.ready && sb_truth.pid > 0,
        "sandbox ready",
        &sb_truth,
    );
    require(
        sb_truth.netns_path.contains("/netns/cni-"),
        "netns path",
        &sb_truth,
    );
    let pause_pid = sb_truth.pid;
    // Read now: the pause is gone by the time the report is checked.
    let pause_inodes: BTreeMap<&str, u64> = ["net", "ipc", "uts", "pid", "mnt"]
        .into_iter()
        .map(|k| (k, ns_inode(&format!("/proc/{pause_pid}/ns/{k}"))))
        .collect();
    let pause_ns = |k: &str| pause_inodes[k];
    let netns_inode = ns_inode(&sb_truth.netns_path);
    assert_eq!(
        pause_ns("net"),
        netns_inode,
        "the pause's netns is the pinned one"
    );
    let pin_name = sb_truth
        .netns_path
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_string();
    assert_eq!(
        host_mounts_named(&pin_name).len(),
        1,
        "the netns pin is mounted once on the host"
    );

    let start = |name: &str, cmd: &[&str]| -> String {
        let id = ok!(cri.create_container(
            &sandbox_id,
            pod.container(name, &busybox, cmd),
            &sandbox_config,
        ));
        ok!(cri.start_container(&id));
        id
    };
    let job_cmd = ["sh", "-c", "exit 3"];
    let (job_id, w_job) = timed(|| {
        let id = start("job", &job_cmd);
        ok!(cri.wait_exited(&id, Duration::from_secs(10)));
        id
    });
    let job: ContainerTruth = ok!(cri.container_status(&job_id));
    // containerd forgets the pid of an exited task (0): the job is known
    // by its cgroup below.
    require(
        job.exit_code == 3 && job.name == "job",
        "job exited 3",
        &job,
    );

    let app_cmd = ["sleep", "3600"];
    let (app_id, w_app) = timed(|| start("app", &app_cmd));
    let app: ContainerTruth = ok!(cri.container_status(&app_id));
    require(
        app.state == ContainerState::ContainerRunning && app.pid > 0,
        "app running",
        &app,
    );
    for k in ["net", "ipc", "uts"] {
        assert_eq!(
            ns_inode(&format!("/proc/{}/ns/{k}", app.pid)),
            pause_ns(k),
            "app shares the pod's {k}"
        );
    }
    for k in ["pid", "mnt"] {
        assert_ne!(
            ns_inode(&format!("/proc/{}/ns/{k}", app.pid)),
            pause_ns(k),
            "app has its own {k}"
        );
    }

    let (ps, w_exec) = timed(|| ok!(cri.exec_sync(&app_id, &["ps"], 10)));
    require(
        ps.exit_code == 0 && ps.stdout.contains("sleep 3600"),
        "ps in app",
        &ps,
    );

    // SIGTERM, SIGKILL after 1 s: sleep is pid 1 of its pid namespace and
    // has no SIGTERM handler, so the kernel drops SIGTERM: only SIGKILL ends it.
    let ((), w_stop_app) = timed(|| ok!(cri.stop_container(&app_id, 1)));
    let app_after: ContainerTruth = ok!(cri.container_status(&app_id));
    require(
        app_after.state == ContainerState::ContainerExited && app_after.exit_code == 137,
        "app SIGKILLed after the grace period",
        &app_after,
    );

    // StopPodSandbox SIGKILLs the pause, runs CNI DEL through the pin and
    // then unmounts and removes the pin (containerd's sandbox_stop.go).
    let ((), w_stop_sb) = timed(|| ok!(cri.stop_pod_sandbox(&sandbox_id)));
    let sb_stopped = ok!(cri.pod_sandbox_status(&sandbox_id));
    require(
        !sb_stopped.ready && sb_stopped.netns_closed,
        "sandbox stopped, its netns closed",
        &sb_stopped,
    );
    // Ground truth of the holders issue: no pin is left anywhere we can see.
    assert!(
        !Path::new(&sb_truth.netns_path).exists(),
        "{} still exists after StopPodSandbox",
        sb_truth.netns_path
    );
    assert_eq!(
        host_mounts_named(&pin_name),
        Vec::<String>::new(),
        "the netns pin is still mounted on the host after StopPodSandbox"
    );
    ok!(cri.remove_container(&job_id));
    ok!(cri.remove_container(&app_id));
    ok!(cri.remove_pod_sandbox(&sandbox_id));
    let workload = t_traced.elapsed();
    let lines = tracer.stop();
    eprintln!(
        "CRI workload {workload:?}; tracer stopped at {:?} since the start",
        t0.elapsed()
    );

    // ---- the report against the ground truth ----------------------------
    assert_lossless(&lines);
    let report_lines: Vec<&serde_json::Value> =
        lines.iter().filter(|v| v["type"] == "report").collect();
    assert_eq!(report_lines.len(), 1, "report lines");
    let report: Report = serde_json::from_value(report_lines[0].clone())
        .unwrap_or_else(|e| panic!("the report's shape ({e}): {}", report_lines[0]));
    let offset = report.realtime_minus_boottime_ns;
    let ours: Vec<&Sandbox> = report
        .sandboxes
        .iter()
        .filter(|s| s.pod.as_deref() == Some(uid.as_str()))
        .collect();
    assert_eq!(ours.len(), 1, "sandboxes of pod {uid}: {ours:#?}");
    let sb = ours[0];
    assert!(!sb.existing, "{sb:?}");
    let cg = sb.cgroup.as_ref().expect("the sandbox's cgroup");
    assert_eq!(cg.pod_uid.as_deref(), Some(uid.as_str()), "{cg:?}");
    assert_eq!(cg.qos.as_deref(), Some("besteffort"), "{cg:?}");
    assert_eq!(
        cg.container_id.as_deref(),
        Some(sandbox_id.as_str()),
        "{cg:?}"
    );
    assert!(
        sb_truth
            .cgroups_path
            .ends_with(&format!("pod{uid}/{sandbox_id}")),
        "CRI's cgroup path: {sb_truth:?}"
    );

    // The pause: forked by the runc stage 1 that made its namespaces,
    // SIGKILLed by StopPodSandbox.
    let pause = sb.pause.as_ref().expect("the pause");
    assert_eq!(pause.pid, pause_pid, "{pause:?}");
    assert_eq!(pause.argv, argv(&["/pause"]), "{pause:?}");
    assert_eq!(pause.comm, "pause", "{pause:?}");
    w_run.contains(pause.forked_ns, "pause forked");
    w_run.and_exec().contains(pause.started_ns, "pause started");
    w_stop_sb.contains(pause.exited_ns, "pause exited");
    assert_eq!(pause.exit, Some(137), "StopPodSandbox SIGKILLs the pause");
    let stage1 = pause.forked_by.as_ref().expect("who forked the pause");
    assert!(stage1.comm.starts_with("runc"), "{stage1:?}");

    // Its namespaces: net made by a containerd thread (the one CRI pinned),
    // the rest by runc stage 1 in one unshare.
    let net = sb.ns("net");
    assert_eq!(net.inum, netns_inode, "the netns CRI reports: {net:?}");
    assert!(!net.existing, "{net:?}");
    let made = net.created.as_ref().expect("who made the netns");
    assert_eq!(
        (made.pid, made.comm.as_str(), made.syscall.as_str()),
        (ctrd.pid(), "containerd", "unshare"),
        "{net:?}"
    );
    w_run.contains(Some(made.ts_ns), "netns created");
    for kind in ["ipc", "uts"] {
        let ns = sb.ns(kind);
        assert_eq!(ns.inum, pause_ns(kind), "{ns:?}");
        let made = ns.created.as_ref().expect("who made it");
        assert_eq!(
            (made.pid, made.syscall.as_str()),
            (stage1.pid, "unshare"),
            "{kind}: {ns:?}"
        );
        w_run.contains(Some(made.ts_ns), &format!("{kind} created"));
    }
    // The pause's own pid and mnt namespaces, where the report lists them.
    for kind in ["pid", "mnt"] {
        for ns in sb.namespaces.iter().filter(|n| n.kind == kind) {
            assert_eq!(ns.inum, pause_ns(kind), "{ns:?}");
            let made = ns.created.as_ref().expect("who made it");
            assert_eq!(made.pid, stage1.pid, "{kind}: {ns:?}");
        }
    }

    // The containers, in the order the kubelet started them.
    assert_eq!(sb.containers.len(), 2, "{:#?}", sb.containers);
    let (cj, ca) = (&sb.containers[0], &sb.containers[1]);
    for (c, truth, w_join, w_leave) in [(cj, &job, w_job, w_job), (ca, &app, w_app, w_stop_app)] {
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
            assert_eq!(cg.pod_uid.as_deref(), Some(uid.as_str()), "{who}");
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
    assert_eq!(cj.argv, argv(&job_cmd), "{cj:?}");
    assert_eq!(cj.exit, Some(3), "{cj:?}");
    assert_near(job.finished_at_ns, cj.left_ns, offset, "job finished");
    assert_eq!(ca.argv, argv(&app_cmd), "{ca:?}");
    assert!(ca.cgroup.is_some(), "app's cgroup: {ca:?}");
    assert_eq!(ca.exit, Some(app_after.exit_code), "{ca:?}");
    assert_near(app_after.finished_at_ns, ca.left_ns, offset, "app finished");

    // One exec session (ExecSync `ps`), into app.
    assert!(cj.execs.is_empty(), "{cj:?}");
    assert_eq!(ca.execs.len(), 1, "{ca:?}");
    let ex = &ca.execs[0];
    assert_eq!(ex.argv, argv(&["ps"]), "{ex:?}");
    assert_eq!(ex.exit, Some(0), "{ex:?}");
    w_exec.contains(Some(ex.started_ns), "exec started");
    w_exec.contains(ex.left_ns, "exec left");

    // The recording gives the same report.
    let out = std::process::Command::new(tracer_bin())
        .args(["report", &trace_s, "--json"])
        .output()
        .expect("run tracer report");
    assert!(
        out.status.success(),
        "tracer report: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let replayed: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|v: &serde_json::Value| v["type"] == "report")
        .collect();
    assert_eq!(
        replayed.iter().collect::<Vec<_>>(),
        report_lines,
        "the recording's report differs from the live one"
    );
    let _ = fs::remove_file(&trace);

    // ---- what fails on today's code ---------------------------------------
    // The holders issue (#8): StopPodSandbox unmounted the pin (checked on
    // the host above), so the netns was freed then; the report and the live
    // view must say so. Today the report keeps the stale pin, with an
    // anomaly: pins are read from the tracer's mountinfo when an event is
    // processed, kept only when non-empty, and never cleared.
    w_stop_sb.contains(net.emptied_ns, "netns emptied");
    assert!(sb.ended_ns.is_some(), "the sandbox ended: {sb:?}");
    assert_eq!(
        net.pinned_by,
        Vec::<String>::new(),
        "report: the netns is still pinned by {} though StopPodSandbox unmounted it (in {w_stop_sb:?})",
        sb_truth.netns_path
    );
    // Live: "freed" is said once, last, within StopPodSandbox (today the
    // lines say "still pinned" after the unmount, or "freed" too early,
    // before a CNI plugin re-enters through the pin, depending on when the
    // tracer happens to read mountinfo).
    let net_empty: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|v| {
            v["type"] == "lifecycle"
                && v["event"] == "namespace_empty"
                && v["inum"].as_u64() == Some(netns_inode)
        })
        .collect();
    assert!(!net_empty.is_empty(), "no NS-EMPTY line for the netns");
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
    w_stop_sb.contains(
        net_empty[net_empty.len() - 1]["ts_ns"].as_i64(),
        "the netns freed (live)",
    );
    assert_eq!(
        sb.anomalies,
        Vec::<String>::new(),
        "the sandbox's anomalies"
    );
    // Found here: a container that lives under a millisecond (the job) has
    // no cgroup in the report: the tracer reads /proc/<pid>/cgroup when it
    // processes the event, after the task is gone; the event's cgroup id
    // would tell. Without it the container has no id, so no CRI name.
    let cg = cj.cgroup.as_ref().unwrap_or_else(|| {
        panic!("the job container has no cgroup (its CRI id is {job_id}): {cj:?}")
    });
    assert_eq!(cg.container_id.as_deref(), Some(job_id.as_str()), "{cj:?}");
    eprintln!("whole test: {:?}", t0.elapsed());
}
