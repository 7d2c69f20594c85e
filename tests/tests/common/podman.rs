//! Drive real podman pods for end-to-end tests, and read podman's own view
//! of them (`podman inspect`, `/proc/<pid>/ns`) as ground truth.
//!
//! Every podman call goes through [`Podman::cmd`], which points podman at a
//! containers.conf carrying this machine's quirks (see DESIGN.md, "Facts of
//! these machines"): without them runc fails to set rlimits.
//!
//! Names are shared with every other podman user of the machine (other test
//! binaries, other people): make them unique with [`unique_name`], and own
//! a pod through [`PodGuard`] so that it is removed even when a test panics.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::io::Write;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use serde::Deserialize;

/// The test image: Debian's busybox-static, imported by [`Podman::setup`].
pub const IMAGE: &str = "localhost/tracer-tests-busybox";
/// Where Debian's busybox-static puts its binary.
const BUSYBOX: &str = "/bin/busybox";

/// The containers.conf this machine needs.
const CONTAINERS_CONF: &str = r#"# Written by the tracer-tests podman harness.
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
"#;

/// A handle on podman as configured for these tests. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Podman {
    /// The containers.conf given to every podman call.
    pub conf: PathBuf,
    /// The harness's directory (under cargo's target/tmp), shared by the
    /// processes of this checkout: the conf, the lock, import scratch.
    pub dir: PathBuf,
    /// The image containers run by default.
    pub image: String,
}

static SETUP: OnceLock<Podman> = OnceLock::new();

impl Podman {
    /// Write the containers.conf and make sure the busybox image exists.
    ///
    /// Safe to call from every test: once per process (a `OnceLock`), and
    /// the image import is serialised across processes with `flock` on a
    /// lock file, so parallel test threads and test binaries never import
    /// twice or see a half-made image. Fast once the image exists.
    pub fn setup() -> Podman {
        SETUP.get_or_init(Self::setup_once).clone()
    }

    fn setup_once() -> Podman {
        super::require_root();
        let dir = harness_dir();
        // One conf for every process, replaced atomically: a reader never
        // sees it half-written.
        let conf = dir.join("containers.conf");
        let tmp = dir.join(format!("containers.conf.{}", std::process::id()));
        fs::write(&tmp, CONTAINERS_CONF).unwrap_or_else(|e| panic!("write {}: {e}", tmp.display()));
        fs::rename(&tmp, &conf).unwrap_or_else(|e| panic!("install {}: {e}", conf.display()));
        let podman = Podman {
            conf,
            dir,
            image: IMAGE.to_string(),
        };
        let _lock = FileLock::acquire(&podman.dir.join("image.lock"));
        if !podman.image_exists(IMAGE) {
            podman.import_busybox(IMAGE);
        }
        podman
    }

    /// A podman command with this harness's containers.conf.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new("podman");
        c.env("CONTAINERS_CONF", &self.conf)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    }

    /// Run podman with `args`; its output, whatever the exit status.
    pub fn output<S: AsRef<OsStr>>(&self, args: &[S]) -> Output {
        self.cmd()
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run podman (is it installed?): {e}"))
    }

    /// Run podman with `args`, panic with its stderr unless it succeeds;
    /// its stdout, trimmed.
    pub fn run<S: AsRef<OsStr>>(&self, args: &[S]) -> String {
        let out = self.output(args);
        if !out.status.success() {
            panic!(
                "podman {} failed ({}):\n{}{}",
                show_args(args),
                out.status,
                String::from_utf8_lossy(&out.stderr),
                String::from_utf8_lossy(&out.stdout),
            );
        }
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    pub fn image_exists(&self, image: &str) -> bool {
        self.output(&["image", "exists", image]).status.success()
    }

    /// Build a rootfs from Debian's busybox-static (the binary and one
    /// symlink per applet), tar it and `podman import` it as `image`.
    fn import_busybox(&self, image: &str) {
        assert!(
            Path::new(BUSYBOX).exists(),
            "{BUSYBOX} is missing: install Debian's busybox-static"
        );
        // Scratch of this process (we hold the lock anyway).
        let scratch = self.dir.join(format!("import-{}", std::process::id()));
        let _ = fs::remove_dir_all(&scratch);
        let rootfs = scratch.join("rootfs");
        for d in ["bin", "dev", "proc", "sys", "tmp", "etc"] {
            let p = rootfs.join(d);
            fs::create_dir_all(&p).unwrap_or_else(|e| panic!("create {}: {e}", p.display()));
        }
        fs::copy(BUSYBOX, rootfs.join("bin/busybox"))
            .unwrap_or_else(|e| panic!("copy {BUSYBOX}: {e}"));
        let list = Command::new(BUSYBOX)
            .arg("--list")
            .output()
            .unwrap_or_else(|e| panic!("{BUSYBOX} --list: {e}"));
        assert!(list.status.success(), "{BUSYBOX} --list failed");
        let applets = String::from_utf8_lossy(&list.stdout);
        let mut n = 0;
        for applet in applets.lines().map(str::trim) {
            if applet.is_empty() || applet == "busybox" || applet.contains('/') {
                continue;
            }
            let link = rootfs.join("bin").join(applet);
            std::os::unix::fs::symlink("busybox", &link)
                .unwrap_or_else(|e| panic!("symlink {}: {e}", link.display()));
            n += 1;
        }
        assert!(
            n > 50,
            "{BUSYBOX} --list gave only {n} applets: not busybox-static?"
        );
        let tar = scratch.join("rootfs.tar");
        let st = Command::new("tar")
            .arg("-C")
            .arg(&rootfs)
            .arg("-cf")
            .arg(&tar)
            .arg(".")
            .status()
            .unwrap_or_else(|e| panic!("run tar: {e}"));
        assert!(st.success(), "tar of {} failed: {st}", rootfs.display());
        self.run(&[
            OsStr::new("import"),
            OsStr::new("--quiet"),
            OsStr::new("--change"),
            OsStr::new("ENV=PATH=/bin"),
            tar.as_os_str(),
            OsStr::new(image),
        ]);
        let _ = fs::remove_dir_all(&scratch);
        assert!(
            self.image_exists(image),
            "podman import said yes but {image} does not exist"
        );
    }

    // ---- pods ----------------------------------------------------------

    /// `podman pod create --name NAME`; the pod id.
    pub fn pod_create(&self, name: &str) -> String {
        self.run(&["pod", "create", "--name", name])
    }

    /// Create a pod owned by the returned guard: removed (forcefully) when
    /// the guard drops, panic or not.
    pub fn pod(&self, name: &str) -> PodGuard {
        let id = self.pod_create(name);
        PodGuard {
            podman: self.clone(),
            name: name.to_string(),
            id,
        }
    }

    /// `podman pod start NAME`: starts the infra container (`catatonit -P`).
    pub fn pod_start(&self, name: &str) {
        self.run(&["pod", "start", name]);
    }

    /// `podman pod stop -t 1 NAME`. `sleep` as pid 1 of its pid namespace
    /// ignores SIGTERM, so podman's default 10 s wait would be wasted:
    /// after one second podman sends SIGKILL.
    pub fn pod_stop(&self, name: &str) {
        self.pod_stop_timeout(name, 1);
    }

    pub fn pod_stop_timeout(&self, name: &str, secs: u32) {
        self.run(&["pod", "stop", "-t", &secs.to_string(), name]);
    }

    /// `podman pod rm -f -t 0 NAME`: stops (SIGKILL) and removes everything.
    pub fn pod_rm(&self, name: &str) {
        self.run(&["pod", "rm", "-f", "-t", "0", name]);
    }

    // ---- containers ----------------------------------------------------

    /// `podman run -d --pod POD --name NAME IMAGE ARGS...`; the container id.
    pub fn run_detached(&self, pod: &str, name: &str, args: &[&str]) -> String {
        let mut a = vec!["run", "-d", "--pod", pod, "--name", name, &self.image];
        a.extend_from_slice(args);
        self.run(&a)
    }

    /// `podman run --pod POD --name NAME IMAGE ARGS...` in the foreground,
    /// for a container that exits by itself; its id and exit status. The
    /// container is kept (no `--rm`) so that it can still be inspected.
    pub fn run_to_exit(&self, pod: &str, name: &str, args: &[&str]) -> Exited {
        let mut a = vec!["run", "--pod", pod, "--name", name, &self.image];
        a.extend_from_slice(args);
        let out = self.output(&a);
        let code = out.status.code().unwrap_or(-1);
        // 125: podman itself failed; 126/127: the command could not run.
        if matches!(code, -1 | 125 | 126 | 127) {
            panic!(
                "podman {} failed ({}):\n{}",
                show_args(&a),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let id = self.run(&["container", "inspect", "--format", "{{.Id}}", name]);
        Exited {
            id,
            code,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        }
    }

    /// `podman exec CTR ARGS...`; its output, whatever the command's exit
    /// status (panics only when podman itself failed).
    pub fn exec(&self, ctr: &str, args: &[&str]) -> Output {
        let mut a = vec!["exec", ctr];
        a.extend_from_slice(args);
        let out = self.output(&a);
        if matches!(out.status.code(), None | Some(125..=127)) {
            panic!(
                "podman {} failed ({}):\n{}",
                show_args(&a),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        out
    }

    // ---- ground truth --------------------------------------------------

    /// `podman container inspect ID`, raw.
    pub fn inspect_container_json(&self, id: &str) -> serde_json::Value {
        let text = self.run(&["container", "inspect", id]);
        first_of_array(&text, id)
    }

    /// `podman pod inspect NAME`, raw.
    pub fn inspect_pod_json(&self, name: &str) -> serde_json::Value {
        let text = self.run(&["pod", "inspect", name]);
        // podman 4.3 prints one object; later versions an array of them.
        match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(serde_json::Value::Array(mut v)) if !v.is_empty() => v.swap_remove(0),
            Ok(v @ serde_json::Value::Object(_)) => v,
            Ok(v) => panic!("podman pod inspect {name}: unexpected JSON {v}"),
            Err(e) => panic!("podman pod inspect {name}: not JSON ({e}):\n{text}"),
        }
    }

    /// What `podman inspect` knows about a container.
    pub fn inspect_container(&self, id: &str) -> ContainerTruth {
        let v = self.inspect_container_json(id);
        let raw: RawContainer = serde_json::from_value(v.clone())
            .unwrap_or_else(|e| panic!("podman inspect {id}: unexpected shape ({e}):\n{v:#}"));
        ContainerTruth::from_raw(raw)
    }

    /// What `podman pod inspect` knows about a pod.
    pub fn inspect_pod(&self, name: &str) -> PodTruth {
        let v = self.inspect_pod_json(name);
        let raw: RawPod = serde_json::from_value(v.clone()).unwrap_or_else(|e| {
            panic!("podman pod inspect {name}: unexpected shape ({e}):\n{v:#}")
        });
        PodTruth {
            id: raw.id,
            name: raw.name,
            state: raw.state,
            infra_container_id: raw.infra_container_id,
            shared_namespaces: raw.shared_namespaces.unwrap_or_default(),
            cgroup_path: raw.cgroup_path,
            containers: raw
                .containers
                .unwrap_or_default()
                .into_iter()
                .map(|c| PodMember {
                    id: c.id,
                    name: c.name,
                    state: c.state,
                })
                .collect(),
        }
    }
}

/// A pod that is removed (`pod rm -f`) when this guard drops.
pub struct PodGuard {
    podman: Podman,
    pub name: String,
    pub id: String,
}

impl PodGuard {
    pub fn start(&self) {
        self.podman.pod_start(&self.name);
    }
    pub fn stop(&self) {
        self.podman.pod_stop(&self.name);
    }
    pub fn inspect(&self) -> PodTruth {
        self.podman.inspect_pod(&self.name)
    }
    /// Remove now (and not again at drop); panics if podman fails.
    pub fn remove(mut self) {
        self.podman.pod_rm(&self.name);
        self.name.clear();
    }
}

impl Drop for PodGuard {
    fn drop(&mut self) {
        if self.name.is_empty() {
            return;
        }
        let out = self
            .podman
            .output(&["pod", "rm", "-f", "-i", "-t", "0", &self.name]);
        if !out.status.success() {
            // Never panic in drop (it may run during a panic): say it.
            eprintln!(
                "podman harness: could not remove pod {}: {}",
                self.name,
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

/// A container that ran to its end.
#[derive(Clone, Debug)]
pub struct Exited {
    pub id: String,
    /// The container's exit status, as `podman run` passes it on.
    pub code: i32,
    pub stdout: String,
}

/// Ground truth on one container from `podman inspect`.
#[derive(Clone, Debug)]
pub struct ContainerTruth {
    pub id: String,
    pub name: String,
    /// The pod's id (empty outside a pod).
    pub pod_id: String,
    pub is_infra: bool,
    /// `created`, `running`, `exited`, ...
    pub status: String,
    pub running: bool,
    /// The container's pid 1, as seen from the host (0 once it exited).
    pub pid: u32,
    /// conmon's pid (0 once the container exited).
    pub conmon_pid: u32,
    pub exit_code: i32,
    /// Unix nanoseconds; `None` for Go's zero time (never happened).
    pub created_ns: Option<i64>,
    pub started_at_ns: Option<i64>,
    pub finished_at_ns: Option<i64>,
    /// The entrypoint and its arguments.
    pub path: String,
    pub args: Vec<String>,
    /// The pod's netns bind mount (`/run/netns/netns-<uuid>`), when any.
    pub sandbox_key: Option<String>,
    /// That netns's inode, from `stat` of the bind mount (if it still exists).
    pub netns_inode: Option<u64>,
    /// The container's cgroup (present while it runs).
    pub cgroup_path: Option<String>,
    /// `HostConfig.{Network,Ipc,UTS,Pid}Mode`: `container:<infra id>` for
    /// a namespace joined from the pod's infra container.
    pub network_mode: String,
    pub ipc_mode: String,
    pub uts_mode: String,
    pub pid_mode: String,
}

impl ContainerTruth {
    fn from_raw(r: RawContainer) -> ContainerTruth {
        let sandbox_key = r
            .network_settings
            .and_then(|n| n.sandbox_key)
            .filter(|s| !s.is_empty());
        let netns_inode = sandbox_key.as_deref().and_then(|p| {
            use std::os::unix::fs::MetadataExt;
            fs::metadata(p).ok().map(|m| m.ino())
        });
        let hc = r.host_config.unwrap_or_default();
        ContainerTruth {
            name: r.name,
            pod_id: r.pod.unwrap_or_default(),
            is_infra: r.is_infra.unwrap_or(false),
            status: r.state.status,
            running: r.state.running,
            pid: r.state.pid.max(0) as u32,
            conmon_pid: r.state.conmon_pid.unwrap_or(0).max(0) as u32,
            exit_code: r.state.exit_code,
            created_ns: podman_time(&r.created, &r.id, "Created"),
            started_at_ns: podman_time(&r.state.started_at, &r.id, "StartedAt"),
            finished_at_ns: podman_time(&r.state.finished_at, &r.id, "FinishedAt"),
            path: r.path.unwrap_or_default(),
            args: r.args.unwrap_or_default(),
            sandbox_key,
            netns_inode,
            cgroup_path: r.state.cgroup_path.filter(|s| !s.is_empty()),
            network_mode: hc.network_mode.unwrap_or_default(),
            ipc_mode: hc.ipc_mode.unwrap_or_default(),
            uts_mode: hc.uts_mode.unwrap_or_default(),
            pid_mode: hc.pid_mode.unwrap_or_default(),
            id: r.id,
        }
    }

    /// `running for [started, finished]`, in unix ns; panics if podman has
    /// not recorded both.
    pub fn lifetime_ns(&self) -> (i64, i64) {
        match (self.started_at_ns, self.finished_at_ns) {
            (Some(s), Some(f)) => (s, f),
            _ => panic!("container {} has no start and finish: {self:?}", self.name),
        }
    }
}

/// Ground truth on a pod from `podman pod inspect`.
#[derive(Clone, Debug)]
pub struct PodTruth {
    pub id: String,
    pub name: String,
    pub state: String,
    pub infra_container_id: String,
    /// Which namespaces its containers share (podman's default: uts, ipc, net).
    pub shared_namespaces: Vec<String>,
    pub cgroup_path: Option<String>,
    pub containers: Vec<PodMember>,
}

#[derive(Clone, Debug)]
pub struct PodMember {
    pub id: String,
    pub name: String,
    pub state: String,
}

// ---- podman's JSON (only the fields used; unknown ones are ignored) -----

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawContainer {
    id: String,
    name: String,
    created: String,
    path: Option<String>,
    args: Option<Vec<String>>,
    state: RawState,
    pod: Option<String>,
    is_infra: Option<bool>,
    network_settings: Option<RawNetwork>,
    host_config: Option<RawHostConfig>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawState {
    status: String,
    running: bool,
    pid: i64,
    conmon_pid: Option<i64>,
    exit_code: i32,
    started_at: String,
    finished_at: String,
    cgroup_path: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawNetwork {
    sandbox_key: Option<String>,
}

#[derive(Deserialize, Default)]
struct RawHostConfig {
    #[serde(rename = "NetworkMode")]
    network_mode: Option<String>,
    #[serde(rename = "IpcMode")]
    ipc_mode: Option<String>,
    #[serde(rename = "UTSMode")]
    uts_mode: Option<String>,
    #[serde(rename = "PidMode")]
    pid_mode: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawPod {
    id: String,
    name: String,
    state: String,
    #[serde(rename = "InfraContainerID", default)]
    infra_container_id: String,
    shared_namespaces: Option<Vec<String>>,
    cgroup_path: Option<String>,
    containers: Option<Vec<RawPodMember>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawPodMember {
    id: String,
    name: String,
    state: String,
}

fn first_of_array(text: &str, what: &str) -> serde_json::Value {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Array(mut v)) if v.len() == 1 => v.swap_remove(0),
        Ok(v) => panic!("podman inspect {what}: expected one object, got {v}"),
        Err(e) => panic!("podman inspect {what}: not JSON ({e}):\n{text}"),
    }
}

/// A podman timestamp in unix ns; `None` for Go's zero time
/// (`0001-01-01T00:00:00Z`: "not yet"). Panics on anything unparsable.
pub fn podman_time(s: &str, id: &str, field: &str) -> Option<i64> {
    let ns = parse_rfc3339_ns(s)
        .unwrap_or_else(|e| panic!("container {id}: {field} {s:?} is not RFC 3339: {e}"));
    if ns <= 0 {
        // Go's zero time, or anything before 1970: not a real event here.
        return None;
    }
    Some(i64::try_from(ns).unwrap_or_else(|_| panic!("{field} {s:?} out of range")))
}

/// Parse an RFC 3339 timestamp as Go's `time.RFC3339Nano` writes it
/// (`2026-11-28T07:33:09.946303039Z`; the fraction has 0 to 9 digits, Go
/// drops trailing zeros; the zone is `Z` or `±hh:mm`) into nanoseconds since
/// the Unix epoch. `i128`: Go's zero time (year 1) does not fit an `i64`.
pub fn parse_rfc3339_ns(s: &str) -> Result<i128, String> {
    fn num(s: &str, what: &str) -> Result<i64, String> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("bad {what} {s:?}"));
        }
        s.parse::<i64>()
            .map_err(|e| format!("bad {what} {s:?}: {e}"))
    }
    let b = s.as_bytes();
    if b.len() < 20 {
        return Err("too short".into());
    }
    if b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return Err("not YYYY-MM-DDTHH:MM:SS".into());
    }
    let year = num(&s[0..4], "year")?;
    let month = num(&s[5..7], "month")?;
    let day = num(&s[8..10], "day")?;
    let hour = num(&s[11..13], "hour")?;
    let min = num(&s[14..16], "minute")?;
    let sec = num(&s[17..19], "second")?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return Err(format!("no such date {}", &s[0..10]));
    }
    if hour > 23 || min > 59 || sec > 60 {
        return Err(format!("no such time {}", &s[11..19]));
    }
    let mut rest = &s[19..];
    let mut nanos: i64 = 0;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || digits > 9 {
            return Err(format!("fraction of {digits} digits"));
        }
        nanos = num(&frac[..digits], "fraction")? * 10_i64.pow(9 - digits as u32);
        rest = &frac[digits..];
    }
    let offset_s: i64 = match rest {
        "Z" | "z" => 0,
        _ => {
            let ob = rest.as_bytes();
            if ob.len() != 6 || !matches!(ob[0], b'+' | b'-') || ob[3] != b':' {
                return Err(format!("bad zone {rest:?}"));
            }
            let oh = num(&rest[1..3], "zone hour")?;
            let om = num(&rest[4..6], "zone minute")?;
            if oh > 23 || om > 59 {
                return Err(format!("bad zone {rest:?}"));
            }
            let o = oh * 3600 + om * 60;
            if ob[0] == b'-' { -o } else { o }
        }
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + min * 60 + sec - offset_s;
    Ok(i128::from(secs) * 1_000_000_000 + i128::from(nanos))
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The current wall-clock time in unix ns (to compare with podman's times).
pub fn now_unix_ns() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970");
    i64::try_from(d.as_nanos()).expect("time fits i64")
}

// ---- namespaces ----------------------------------------------------------

/// The namespaces `/proc/<pid>/ns` lists.
pub const NS_NAMES: [&str; 10] = [
    "cgroup",
    "ipc",
    "mnt",
    "net",
    "pid",
    "pid_for_children",
    "time",
    "time_for_children",
    "user",
    "uts",
];

/// Inode numbers of `/proc/<pid>/ns/*` (`net` → 4026532177, ...), every
/// name the kernel has. Panics if the process is gone: record them while
/// the container runs (its pid is 0 in `podman inspect` once it exited).
pub fn ns_inodes(pid: u32) -> BTreeMap<String, u64> {
    try_ns_inodes(pid).unwrap_or_else(|e| panic!("namespaces of pid {pid}: {e}"))
}

pub fn try_ns_inodes(pid: u32) -> Result<BTreeMap<String, u64>, String> {
    if pid == 0 {
        return Err("pid 0 (the container is not running)".into());
    }
    let mut m = BTreeMap::new();
    for name in NS_NAMES {
        let p = format!("/proc/{pid}/ns/{name}");
        match fs::read_link(&p) {
            Ok(target) => {
                let t = target.to_string_lossy();
                m.insert(
                    name.to_string(),
                    parse_ns_link(&t).ok_or_else(|| format!("{p} -> {t}"))?,
                );
            }
            // An older kernel without this namespace type.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && name != "net" => {}
            Err(e) => return Err(format!("{p}: {e}")),
        }
    }
    Ok(m)
}

/// `net:[4026532177]` → 4026532177.
pub fn parse_ns_link(s: &str) -> Option<u64> {
    let open = s.find(":[")?;
    s[open + 2..].strip_suffix(']')?.parse().ok()
}

// ---- small helpers -------------------------------------------------------

/// A name no other process or test uses: `PREFIX-<pid>-<n>-<time>`.
pub fn unique_name(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let t = now_unix_ns() / 1_000_000 % 1_000_000;
    format!("{prefix}-{}-{n}-{t}", std::process::id())
}

fn show_args<S: AsRef<OsStr>>(args: &[S]) -> String {
    args.iter()
        .map(|a| a.as_ref().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The harness's directory, shared by every process of this checkout.
fn harness_dir() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("podman-harness");
    fs::create_dir_all(&d).unwrap_or_else(|e| panic!("create {}: {e}", d.display()));
    d
}

/// An exclusive `flock` held until dropped (or the process dies).
struct FileLock(fs::File);

impl FileLock {
    fn acquire(path: &Path) -> FileLock {
        let mut f = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .unwrap_or_else(|e| panic!("open lock {}: {e}", path.display()));
        // SAFETY: a valid open descriptor.
        let r = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) };
        if r != 0 {
            panic!(
                "flock {}: {}",
                path.display(),
                std::io::Error::last_os_error()
            );
        }
        let _ = writeln!(f, "{}", std::process::id());
        FileLock(f)
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        // SAFETY: a valid open descriptor.
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}
