//! A private Docker for end-to-end tests: Debian's docker.io 20.10 with a
//! containerd of its own (own sockets, roots, exec-root, pid file, no
//! daemon.json of the machine), no bridge, no iptables — nothing leaves the
//! machine — and two images made here: a static pause (`gcc -static`) and
//! busybox-static. Stopped and cleaned up on drop, also when a test panics.
//!
//! What dockerd needs on these machines (see DESIGN.md): the cgroupfs
//! driver (PID 1 is not systemd); no `--oom-score-adj` or raised
//! `--ulimit`s (root lacks CAP_SYS_RESOURCE). `/usr/bin/docker` is the
//! 20.10 client; a newer one may sit earlier in PATH, so it is called by
//! its full path.
//!
//! [`KubePod`] makes pods the way cri-dockerd (dockershim) does.
//!
//! The daemons die with the thread that started them (`PR_SET_PDEATHSIG`):
//! start and drop a `Docker` in one thread.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::clock::rfc3339_ns;
use super::containerd::PAUSE_C;
use super::{rootfs, tracer::require_root, unique_name};

/// The 20.10 client that goes with Debian's dockerd.
pub const DOCKER: &str = "/usr/bin/docker";
/// The sandbox image: a static pause, as `k8s.gcr.io/pause` but built here.
pub const PAUSE_IMAGE: &str = "tracer-e2e/pause:1";
/// Debian's busybox-static with its applet links; `PATH=/bin`.
pub const BUSYBOX_IMAGE: &str = "tracer-e2e/busybox:1";

/// A running dockerd over its own containerd.
pub struct Docker {
    /// Everything of this instance lives here (removed on drop).
    pub dir: PathBuf,
    /// dockerd's API socket (`docker -H unix://…`, the tracer's `--docker-socket`).
    pub socket: PathBuf,
    /// dockerd's `--exec-root`: pod netns pins are `<exec-root>/netns/<id>`.
    pub exec_root: PathBuf,
    containerd_socket: PathBuf,
    containerd: Child,
    dockerd: Child,
}

impl Docker {
    /// Start containerd, then dockerd on it; wait until the API answers;
    /// import the two images. Panics (with the daemons' logs) if any step fails.
    pub fn start() -> Docker {
        require_root();
        let dir = std::env::temp_dir().join(unique_name("tracer-docker"));
        let _ = fs::remove_dir_all(&dir);
        mkdir(&dir);
        let containerd_socket = dir.join("containerd.sock");
        let config = dir.join("containerd.toml");
        write(&config, &containerd_toml(&dir, &containerd_socket));
        let containerd = spawn(
            Command::new("containerd").arg("--config").arg(&config),
            &dir.join("containerd.log"),
        );
        let socket = dir.join("docker.sock");
        let exec_root = dir.join("exec");
        // Our own daemon.json: the machine's /etc/docker/daemon.json is not
        // ours, and dockerd 20.10 would write its trust key to /etc/docker.
        let daemon_json = dir.join("daemon.json");
        let config = serde_json::json!({"deprecated-key-path": dir.join("key.json")});
        write(&daemon_json, &format!("{config}\n"));
        // Until dockerd runs, this guard stops containerd should we panic.
        let mut half = HalfStarted {
            containerd: Some(containerd),
            dir: dir.clone(),
        };
        wait_for(&containerd_socket, Duration::from_secs(20), || {
            half.exited().map(|s| format!("containerd exited with {s}"))
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", log_tail(&dir.join("containerd.log"))));
        let dockerd = spawn(
            Command::new("dockerd")
                .arg("--config-file")
                .arg(&daemon_json)
                .arg("--data-root")
                .arg(dir.join("data"))
                .arg("--exec-root")
                .arg(&exec_root)
                .arg("--pidfile")
                .arg(dir.join("dockerd.pid"))
                .arg("--host")
                .arg(format!("unix://{}", socket.display()))
                .arg("--containerd")
                .arg(&containerd_socket)
                .args([
                    "--iptables=false",
                    "--ip6tables=false",
                    "--ip-masq=false",
                    "--bridge=none",
                    "--userland-proxy=false",
                    "--exec-opt",
                    "native.cgroupdriver=cgroupfs",
                ]),
            &dir.join("dockerd.log"),
        );
        let containerd = half.containerd.take().expect("containerd is still ours");
        let docker = Docker {
            dir,
            socket,
            exec_root,
            containerd_socket,
            containerd,
            dockerd,
        };
        docker.wait_serving(Duration::from_secs(30));
        docker.import_images();
        docker
    }

    /// dockerd's pid (its threads and re-execs visit the pods' netns).
    pub fn dockerd_pid(&self) -> u32 {
        self.dockerd.id()
    }

    /// dockerd's threads now (a visit comes from one of them).
    pub fn dockerd_tasks(&self) -> Vec<u32> {
        let Ok(dir) = fs::read_dir(format!("/proc/{}/task", self.dockerd.id())) else {
            return Vec::new();
        };
        dir.flatten()
            .filter_map(|e| e.file_name().to_str()?.parse().ok())
            .collect()
    }

    /// A `docker` command talking to this daemon.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(DOCKER);
        c.arg("--host")
            .arg(format!("unix://{}", self.socket.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    }

    /// `docker ARGS`; its output, whatever the exit status.
    pub fn output<S: AsRef<str>>(&self, args: &[S]) -> Output {
        self.cmd()
            .args(args.iter().map(AsRef::as_ref))
            .output()
            .unwrap_or_else(|e| panic!("cannot run {DOCKER} (docker.io installed?): {e}"))
    }

    /// `docker ARGS`, which must succeed; its stdout, trimmed.
    pub fn run<S: AsRef<str>>(&self, args: &[S]) -> String {
        let out = self.output(args);
        if !out.status.success() {
            panic!(
                "docker {} failed ({}):\n{}{}\n{}",
                show(args),
                out.status,
                String::from_utf8_lossy(&out.stderr),
                String::from_utf8_lossy(&out.stdout),
                self.log_tail()
            );
        }
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// What `docker inspect` knows about a container.
    pub fn inspect(&self, id: &str) -> ContainerTruth {
        let text = self.run(&["container", "inspect", id]);
        let [raw]: [RawContainer; 1] = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("docker inspect {id}: unexpected shape ({e}):\n{text}"));
        ContainerTruth::from_raw(raw)
    }

    /// The end of dockerd's and containerd's logs, for error messages.
    pub fn log_tail(&self) -> String {
        log_tail(&self.dir.join("dockerd.log")) + &log_tail(&self.dir.join("containerd.log"))
    }

    fn wait_serving(&self, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let out = self.output(&["version", "--format", "{{.Server.Version}}"]);
            if out.status.success() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "dockerd did not answer within {within:?}: {}\n{}",
                String::from_utf8_lossy(&out.stderr),
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The pause (compiled here, static) and busybox, by `docker import`.
    fn import_images(&self) {
        let pause_root = self.dir.join("pause-rootfs");
        mkdir(&pause_root);
        let src = self.dir.join("pause.c");
        write(&src, PAUSE_C);
        let st = Command::new("gcc")
            .args(["-static", "-O2", "-o"])
            .arg(pause_root.join("pause"))
            .arg(&src)
            .status()
            .unwrap_or_else(|e| panic!("run gcc (build-essential): {e}"));
        assert!(st.success(), "gcc -static pause.c failed: {st}");
        let pause_tar = self.dir.join("pause.tar");
        tar(&pause_root, &pause_tar);
        let busybox_tar = rootfs::busybox_tar(&self.dir.join("busybox"));
        for (tar, change, image) in [
            (&pause_tar, r#"ENTRYPOINT ["/pause"]"#, PAUSE_IMAGE),
            (&busybox_tar, "ENV PATH=/bin", BUSYBOX_IMAGE),
        ] {
            let tar = tar.to_str().expect("a UTF-8 temp dir");
            self.run(&["import", "--change", change, tar, image]);
        }
    }

    /// containerd-shim processes of our containerd (they outlive it).
    fn shims(&self) -> Vec<i32> {
        let needle = self.containerd_socket.to_string_lossy().into_owned();
        let Ok(dir) = fs::read_dir("/proc") else {
            return Vec::new();
        };
        dir.flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
            .filter(|pid| {
                let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                let cmdline = String::from_utf8_lossy(&cmdline);
                cmdline.contains("containerd-shim") && cmdline.contains(&needle)
            })
            .collect()
    }
}

impl Drop for Docker {
    fn drop(&mut self) {
        // Containers left by a failed test: docker stops and unmounts them.
        let left = self.output(&["ps", "-aq"]);
        let ids: Vec<String> = String::from_utf8_lossy(&left.stdout)
            .split_whitespace()
            .map(String::from)
            .collect();
        if !ids.is_empty() {
            let mut args = vec!["rm".to_string(), "-f".to_string()];
            args.extend(ids);
            let out = self.output(&args);
            if !out.status.success() {
                eprintln!(
                    "docker clean-up: rm -f: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
        stop(&mut self.dockerd, Duration::from_secs(10));
        stop(&mut self.containerd, Duration::from_secs(5));
        for shim in self.shims() {
            eprintln!("docker clean-up: killing leftover shim {shim}");
            // SAFETY: a shim of our containerd, found by its socket.
            unsafe { libc::kill(shim, libc::SIGKILL) };
        }
        clean_dir(&self.dir);
    }
}

/// containerd before dockerd runs: stopped and cleaned if `start` panics in between.
struct HalfStarted {
    containerd: Option<Child>,
    dir: PathBuf,
}

impl HalfStarted {
    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.containerd.as_mut()?.try_wait().ok().flatten()
    }
}

impl Drop for HalfStarted {
    fn drop(&mut self) {
        if let Some(mut c) = self.containerd.take() {
            stop(&mut c, Duration::from_secs(5));
            clean_dir(&self.dir);
        }
    }
}

/// A pod as the kubelet names it, made the way cri-dockerd makes one.
#[derive(Clone, Debug)]
pub struct KubePod {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub attempt: u32,
}

impl KubePod {
    /// dockershim's sandbox name: `k8s_POD_<pod>_<namespace>_<uid>_<attempt>`.
    pub fn sandbox_name(&self) -> String {
        self.container_name("POD")
    }

    /// dockershim's container name: `k8s_<container>_<pod>_<namespace>_<uid>_<attempt>`.
    pub fn container_name(&self, container: &str) -> String {
        format!(
            "k8s_{container}_{}_{}_{}_{}",
            self.name, self.namespace, self.uid, self.attempt
        )
    }

    /// The kubelet's labels every container of the pod carries.
    fn labels(&self, container: &str, docker_type: &str) -> Vec<String> {
        [
            ("io.kubernetes.pod.name", self.name.as_str()),
            ("io.kubernetes.pod.namespace", self.namespace.as_str()),
            ("io.kubernetes.pod.uid", self.uid.as_str()),
            ("io.kubernetes.container.name", container),
            ("io.kubernetes.docker.type", docker_type),
        ]
        .iter()
        .flat_map(|(k, v)| ["--label".to_string(), format!("{k}={v}")])
        .collect()
    }

    /// `docker run -d` of the pause as cri-dockerd's RunPodSandbox does it:
    /// ipc shareable, net none (CNI would plug it), the pod's labels. Not
    /// done (they fail here): `--oom-score-adj=-998`, `--cgroup-parent`
    /// under kubepods (so the cgroup is dockerd's own `/docker/<id>`).
    pub fn sandbox_args(&self) -> Vec<String> {
        let mut a = vec![
            "run".to_string(),
            "-d".to_string(),
            "--name".to_string(),
            self.sandbox_name(),
            "--ipc=shareable".to_string(),
            "--net=none".to_string(),
        ];
        a.extend(self.labels("POD", "podsandbox"));
        a.push(PAUSE_IMAGE.to_string());
        a
    }

    /// `docker run` of a container as cri-dockerd's CreateContainer and
    /// StartContainer do it: the sandbox's net and ipc (pid only with
    /// shareProcessNamespace; Docker has no `--uts=container:`), the pod's
    /// labels and `io.kubernetes.sandbox.id`. Detached (`-d`) or not.
    pub fn container_args(
        &self,
        sandbox_id: &str,
        container: &str,
        detach: bool,
        cmd: &[&str],
    ) -> Vec<String> {
        let mut a = vec!["run".to_string()];
        if detach {
            a.push("-d".to_string());
        }
        a.extend([
            "--name".to_string(),
            self.container_name(container),
            format!("--net=container:{sandbox_id}"),
            format!("--ipc=container:{sandbox_id}"),
            "--label".to_string(),
            format!("io.kubernetes.sandbox.id={sandbox_id}"),
        ]);
        a.extend(self.labels(container, "container"));
        a.push(BUSYBOX_IMAGE.to_string());
        a.extend(cmd.iter().map(|s| s.to_string()));
        a
    }
}

/// Ground truth on one container from `docker inspect`.
#[derive(Clone, Debug)]
pub struct ContainerTruth {
    pub id: String,
    /// Without docker's leading `/`.
    pub name: String,
    pub running: bool,
    /// The container's pid 1 as the host sees it (0 once it exited).
    pub pid: u32,
    pub exit_code: i32,
    /// Unix ns; `None` for Go's zero time (never happened).
    pub started_ns: Option<i64>,
    pub finished_ns: Option<i64>,
    /// Where dockerd pins the netns (`<exec-root>/netns/<id>`; the
    /// sandbox's, empty for containers in another's netns).
    pub sandbox_key: String,
    pub labels: BTreeMap<String, String>,
    pub network_mode: String,
    pub ipc_mode: String,
    pub uts_mode: String,
}

impl ContainerTruth {
    fn from_raw(raw: RawContainer) -> ContainerTruth {
        let time = |s: &str| {
            let ns = rfc3339_ns(s).unwrap_or_else(|e| panic!("docker time {s:?}: {e}"));
            // Go's zero time is before 1970: never.
            (ns > 0).then(|| i64::try_from(ns).expect("a time before 2262"))
        };
        ContainerTruth {
            name: raw.name.trim_start_matches('/').to_string(),
            id: raw.id,
            running: raw.state.running,
            pid: raw.state.pid,
            exit_code: raw.state.exit_code,
            started_ns: time(&raw.state.started_at),
            finished_ns: time(&raw.state.finished_at),
            sandbox_key: raw.network_settings.sandbox_key,
            labels: raw.config.labels.unwrap_or_default(),
            network_mode: raw.host_config.network_mode,
            ipc_mode: raw.host_config.ipc_mode,
            uts_mode: raw.host_config.uts_mode,
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawContainer {
    id: String,
    name: String,
    state: RawState,
    config: RawConfig,
    host_config: RawHostConfig,
    network_settings: RawNetwork,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawState {
    running: bool,
    pid: u32,
    exit_code: i32,
    started_at: String,
    finished_at: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawConfig {
    labels: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawHostConfig {
    network_mode: String,
    ipc_mode: String,
    #[serde(rename = "UTSMode")]
    uts_mode: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawNetwork {
    sandbox_key: String,
}

fn containerd_toml(dir: &Path, socket: &Path) -> String {
    let d = dir.display();
    let s = socket.display();
    // dockerd needs no CRI: without the plugin containerd starts faster
    // and wants no CNI.
    format!(
        r#"version = 2
root = "{d}/containerd-root"
state = "{d}/containerd-state"
disabled_plugins = [
  "io.containerd.grpc.v1.cri",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper",
]

[grpc]
  address = "{s}"

[ttrpc]
  address = "{s}.ttrpc"

[plugins."io.containerd.internal.v1.opt"]
  path = "{d}/containerd-opt"
"#
    )
}

/// Start a daemon with its output in `log`, dying with this thread.
fn spawn(cmd: &mut Command, log: &Path) -> Child {
    let file = fs::File::create(log).unwrap_or_else(|e| panic!("create {}: {e}", log.display()));
    let err = file.try_clone().expect("dup the log file");
    cmd.stdin(Stdio::null()).stdout(file).stderr(err);
    // SAFETY: prctl is async-signal-safe. Should the test die without
    // unwinding (abort, SIGKILL), the daemon goes too.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        })
    };
    cmd.spawn()
        .unwrap_or_else(|e| panic!("start {:?} (docker.io installed?): {e}", cmd.get_program()))
}

/// Wait until `path` exists; `dead` says why not when the daemon died.
fn wait_for(
    path: &Path,
    within: Duration,
    mut dead: impl FnMut() -> Option<String>,
) -> Result<(), String> {
    let deadline = Instant::now() + within;
    while !path.exists() {
        if let Some(why) = dead() {
            return Err(why);
        }
        if Instant::now() > deadline {
            return Err(format!("no {} within {within:?}", path.display()));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// SIGTERM, wait up to `grace`, then SIGKILL.
fn stop(child: &mut Child, grace: Duration) {
    if matches!(child.try_wait(), Ok(Some(_))) {
        return;
    }
    // SAFETY: signalling our own child, not yet reaped.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let deadline = Instant::now() + grace;
    while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Unmount whatever is still mounted below `dir` (overlays, shm, netns
/// pins), deepest first, and remove it.
fn clean_dir(dir: &Path) {
    let prefix = format!("{}/", dir.display());
    let text = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut points: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|p| p.starts_with(&prefix))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for point in points {
        if let Ok(c) = std::ffi::CString::new(point) {
            // SAFETY: a valid C string; MNT_DETACH does not block.
            unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        }
    }
    if let Err(e) = fs::remove_dir_all(dir) {
        eprintln!("docker clean-up: rm -r {}: {e}", dir.display());
    }
}

fn log_tail(log: &Path) -> String {
    let text = fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let from = lines.len().saturating_sub(20);
    let mut s = format!("{}, last lines:\n", log.display());
    for l in &lines[from..] {
        let _ = writeln!(s, "  {l}");
    }
    s
}

fn mkdir(p: &Path) {
    fs::create_dir_all(p).unwrap_or_else(|e| panic!("mkdir {}: {e}", p.display()));
}

fn write(p: &Path, text: &str) {
    fs::write(p, text).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
}

fn tar(dir: &Path, out: &Path) {
    let st = Command::new("tar")
        .arg("-C")
        .arg(dir)
        .arg("-cf")
        .arg(out)
        .arg(".")
        .status()
        .unwrap_or_else(|e| panic!("run tar: {e}"));
    assert!(st.success(), "tar of {} failed: {st}", dir.display());
}

fn show<S: AsRef<str>>(args: &[S]) -> String {
    args.iter().map(AsRef::as_ref).collect::<Vec<_>>().join(" ")
}
