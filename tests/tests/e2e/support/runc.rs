//! CRI-O's way with real runc (Debian's `runc`), as issue 8 measured it:
//! a pinns-like step makes the pod's net/ipc/uts namespaces and bind-mounts
//! each onto a file (util-linux 2.38 `unshare --net=FILE --ipc=FILE
//! --uts=FILE true`, traced with strace: one process does
//! `unshare(CLONE_NEWIPC|CLONE_NEWNET|CLONE_NEWUTS)`, then
//! `mount("/proc/<its pid>/ns/<type>", FILE, NULL, MS_BIND)` per kind, and
//! exits); containers are runc bundles (busybox-static rootfs,
//! `config.json` written here) whose `linux.namespaces` join those paths and
//! make mnt and pid anew; at pod removal the pins are unmounted
//! (`umount2(MNT_DETACH)`) and removed, as CRI-O does.
//!
//! Two pod shapes: `drop_infra_ctr` (no infra process: the containers join
//! the pins) and an infra container running a static `/pause` (compiled
//! here with `cc -static`, the tracer knows a pause by that name). Every
//! scenario records ground truth from /proc, `runc state` and the clock
//! (CLOCK_BOOTTIME, the tracer's `*_ns` clock) around each step, and cleans
//! up on failure too (Drop guards: runc delete, umount, rm).

use std::collections::BTreeMap;
use std::ffi::CString;
use std::fs;
use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

// ---- clock, ids, /proc ----------------------------------------------------

/// CLOCK_BOOTTIME in ns: the clock of the tracer's `*_ns` fields.
pub fn boot_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid out-pointer to a timespec.
    let r = unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &raw mut ts) };
    assert_eq!(r, 0, "clock_gettime(CLOCK_BOOTTIME)");
    u64::try_from(ts.tv_sec).expect("boot time is positive") * 1_000_000_000
        + u64::try_from(ts.tv_nsec).expect("ns are positive")
}

/// A span of CLOCK_BOOTTIME around a step: the step happened inside it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub from_ns: u64,
    pub to_ns: u64,
}

impl Window {
    /// Time `f`.
    pub fn around<T>(f: impl FnOnce() -> T) -> (T, Window) {
        let from_ns = boot_ns();
        let v = f();
        (
            v,
            Window {
                from_ns,
                to_ns: boot_ns(),
            },
        )
    }

    pub fn contains(&self, t: u64) -> bool {
        self.from_ns <= t && t <= self.to_ns
    }

    /// `t` inside, or at most `slack_ns` after the end (for what the tracer
    /// may stamp when it notices, e.g. from an exit event it waits for).
    pub fn contains_late(&self, t: u64, slack_ns: u64) -> bool {
        self.from_ns <= t && t <= self.to_ns + slack_ns
    }
}

/// A fresh random UUID from the kernel.
pub fn uuid() -> String {
    fs::read_to_string("/proc/sys/kernel/random/uuid")
        .expect("read /proc/sys/kernel/random/uuid")
        .trim()
        .to_string()
}

/// A 64-hex-digit id, as CRI-O names containers and sandboxes.
pub fn hex_id() -> String {
    format!("{}{}", uuid(), uuid()).replace('-', "")
}

/// `net:[4026532177]` → 4026532177.
pub fn parse_ns_link(s: &str) -> Option<u64> {
    let open = s.find(":[")?;
    s[open + 2..].strip_suffix(']')?.parse().ok()
}

/// Inode of `/proc/<pid>/ns/<name>` (`self` for ours).
pub fn ns_inum(pid: &str, name: &str) -> Result<u64, String> {
    let p = format!("/proc/{pid}/ns/{name}");
    let t = fs::read_link(&p).map_err(|e| format!("{p}: {e}"))?;
    parse_ns_link(&t.to_string_lossy()).ok_or_else(|| format!("{p} -> {}", t.display()))
}

/// The namespaces a pod cares about, by `/proc/<pid>/ns` name.
pub const NS_OF_INTEREST: [&str; 5] = ["net", "ipc", "uts", "mnt", "pid"];

pub fn ns_map(pid: u32) -> Result<BTreeMap<String, u64>, String> {
    NS_OF_INTEREST
        .iter()
        .map(|n| Ok(((*n).to_string(), ns_inum(&pid.to_string(), n)?)))
        .collect()
}

/// Inode of the namespace an nsfs file (a pin) holds: `stat` of the mount
/// point gives the nsfs inode, which is the namespace's.
pub fn pin_inum(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    fs::metadata(path)
        .unwrap_or_else(|e| panic!("stat {}: {e}", path.display()))
        .ino()
}

/// `NS_GET_ID` (Linux 6.18+): the 64-bit never-reused id of a namespace
/// file's namespace; `None` on kernels without the ioctl.
pub fn pin_ns_id(path: &Path) -> Option<u64> {
    const NS_GET_ID: libc::c_ulong = (2 << 30) | (8 << 16) | (0xb7 << 8) | 0x0d;
    let f = fs::File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let mut id: u64 = 0;
    // SAFETY: a valid fd and a valid u64 out-pointer, which is what NS_GET_ID writes.
    let r = unsafe { libc::ioctl(f.as_raw_fd(), NS_GET_ID, &raw mut id) };
    (r == 0).then_some(id)
}

/// nsfs mounts in a mountinfo text: (mount point, `net:[X]` root).
pub fn nsfs_mounts(mountinfo: &str) -> Vec<(String, String)> {
    mountinfo
        .lines()
        .filter_map(|line| {
            let (pre, post) = line.split_once(" - ")?;
            (post.split(' ').next()? == "nsfs").then_some(())?;
            let mut f = pre.split(' ');
            let root = f.nth(3)?.to_string();
            Some((f.next()?.to_string(), root))
        })
        .collect()
}

/// Is `path` an nsfs mount in the mount namespace of `pid` (`self` for ours)?
/// Returns the namespace (`net:[X]`) it holds there.
pub fn nsfs_mount_in(pid: &str, path: &Path) -> Option<String> {
    let mi = fs::read_to_string(format!("/proc/{pid}/mountinfo")).ok()?;
    let want = path.to_string_lossy();
    nsfs_mounts(&mi)
        .into_iter()
        .find(|(mp, _)| *mp == want)
        .map(|(_, root)| root)
}

/// Poll `f` every few ms until it gives a value, or fail after `timeout`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let t0 = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            t0.elapsed() < timeout,
            "timed out after {timeout:?}: {what}"
        );
        thread::sleep(Duration::from_millis(3));
    }
}

/// `umount2(path, MNT_DETACH)`: how CRI-O and containerd drop a pin.
pub fn umount_detach(path: &Path) -> Result<(), String> {
    let c = CString::new(path.as_os_str().as_bytes()).map_err(|e| e.to_string())?;
    // SAFETY: a valid NUL-terminated path.
    let r = unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
    if r == 0 {
        Ok(())
    } else {
        Err(format!(
            "umount2({}, MNT_DETACH): {}",
            path.display(),
            std::io::Error::last_os_error()
        ))
    }
}

fn run_ok(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

// ---- scratch directory ------------------------------------------------------

/// `/run/tracer-test-<pid>-<uuid8>`: rootfs, bundles, runc's state, pins.
/// Removed when dropped (after the guards that unmount inside it).
pub struct Scratch {
    pub dir: PathBuf,
}

impl Scratch {
    pub fn new() -> Scratch {
        let dir = PathBuf::from(format!(
            "/run/tracer-test-{}-{}",
            std::process::id(),
            &uuid()[..8]
        ));
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        Scratch { dir }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Err(e) = fs::remove_dir_all(&self.dir) {
            eprintln!("cleanup: remove {}: {e}", self.dir.display());
        }
    }
}

// ---- the rootfs: busybox-static and a static pause --------------------------

const BUSYBOX: &str = "/bin/busybox";

/// A pause as the kubelet's: sleeps until a signal; SIGTERM/SIGINT end it
/// with status 0 (so its exit is known without being its parent); reaps.
const PAUSE_C: &str = r#"
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
static void stop(int s) { (void)s; _exit(0); }
static void reap(int s) { (void)s; while (waitpid(-1, 0, WNOHANG) > 0) {} }
int main(void) {
    signal(SIGINT, stop);
    signal(SIGTERM, stop);
    signal(SIGCHLD, reap);
    for (;;) pause();
}
"#;

/// The static pause binary, compiled once per checkout (atomically renamed
/// into place, so parallel tests share it).
pub fn pause_binary() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("crio-harness");
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    let bin = dir.join("pause");
    if bin.exists() {
        return bin;
    }
    let tag = format!("{}-{}", std::process::id(), &uuid()[..8]);
    let src = dir.join(format!("pause-{tag}.c"));
    let tmp = dir.join(format!("pause-{tag}"));
    fs::write(&src, PAUSE_C).unwrap_or_else(|e| panic!("write {}: {e}", src.display()));
    let out = Command::new("cc")
        .args(["-static", "-O2", "-o"])
        .arg(&tmp)
        .arg(&src)
        .output()
        .unwrap_or_else(|e| panic!("cannot run cc (install gcc and libc6-dev): {e}"));
    let _ = fs::remove_file(&src);
    assert!(
        out.status.success(),
        "cc -static pause.c failed (is libc6-dev installed?): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    fs::rename(&tmp, &bin).unwrap_or_else(|e| panic!("rename to {}: {e}", bin.display()));
    bin
}

/// A read-only rootfs shared by every bundle of a pod: busybox-static with
/// the few applets used, `/pause`, and the mount points runc needs.
pub fn make_rootfs(dir: &Path) -> PathBuf {
    assert!(
        Path::new(BUSYBOX).exists(),
        "{BUSYBOX} is missing: install Debian's busybox-static"
    );
    let rootfs = dir.join("rootfs");
    for d in ["bin", "dev", "proc", "sys", "tmp", "etc"] {
        let p = rootfs.join(d);
        fs::create_dir_all(&p).unwrap_or_else(|e| panic!("create {}: {e}", p.display()));
    }
    fs::copy(BUSYBOX, rootfs.join("bin/busybox")).unwrap_or_else(|e| panic!("copy {BUSYBOX}: {e}"));
    for applet in ["sh", "sleep", "true"] {
        std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet))
            .unwrap_or_else(|e| panic!("symlink {applet}: {e}"));
    }
    fs::copy(pause_binary(), rootfs.join("pause")).unwrap_or_else(|e| panic!("copy pause: {e}"));
    rootfs
}

// ---- pins (the pinns step) --------------------------------------------------

/// The pod kinds CRI-O's pinns makes, by `/proc/<pid>/ns` name.
pub const PIN_KINDS: [&str; 3] = ["net", "ipc", "uts"];

/// One pinned namespace, as ground truth.
#[derive(Clone, Debug)]
pub struct PinTruth {
    /// `net`, `ipc` or `uts`.
    pub kind: &'static str,
    pub path: PathBuf,
    pub inum: u64,
    /// `NS_GET_ID` of the pin; `None` on kernels without it.
    pub id: Option<u64>,
    /// Around its `umount2` (MNT_DETACH); `None` while mounted.
    pub removed: Option<Window>,
}

/// The pod's pins, made like CRI-O's `pinns`, unmounted as at pod removal.
pub struct Pins {
    /// The `unshare` process: it made the namespaces and mounted them.
    pub creator_pid: u32,
    /// Around the whole `unshare --net=… --ipc=… --uts=… true` run.
    pub created: Window,
    pub pins: Vec<PinTruth>,
}

impl Pins {
    /// `<dir>/{net,ipc,uts}ns/<uuid>`, as CRI-O's `/var/run/{net,ipc,uts}ns/<uuid>`.
    pub fn create(dir: &Path) -> Pins {
        let id = uuid();
        let mut cmd = Command::new("unshare");
        let mut paths = Vec::new();
        for kind in PIN_KINDS {
            let d = dir.join(format!("{kind}ns"));
            fs::create_dir_all(&d).unwrap_or_else(|e| panic!("create {}: {e}", d.display()));
            let p = d.join(&id);
            // pinns creates the file, then mounts onto it.
            fs::File::create(&p).unwrap_or_else(|e| panic!("create {}: {e}", p.display()));
            let mut arg = std::ffi::OsString::from(format!("--{kind}="));
            arg.push(&p);
            cmd.arg(arg);
            paths.push((kind, p));
        }
        cmd.arg("true").stdin(Stdio::null());
        let (out, created) = Window::around(|| {
            let child = cmd
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run unshare (util-linux): {e}"));
            let pid = child.id();
            (pid, child.wait_with_output())
        });
        let (creator_pid, out) = out;
        let out = out.unwrap_or_else(|e| panic!("wait for unshare: {e}"));
        // A guard before the check: a half-made set is unmounted too.
        let mut pins = Pins {
            creator_pid,
            created,
            pins: paths
                .iter()
                .map(|(kind, p)| PinTruth {
                    kind,
                    path: p.clone(),
                    inum: 0,
                    id: None,
                    removed: None,
                })
                .collect(),
        };
        assert!(
            out.status.success(),
            "unshare --net/--ipc/--uts=FILE failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let host_net = ns_inum("self", "net").expect("our netns");
        for pin in &mut pins.pins {
            let root = nsfs_mount_in("self", &pin.path)
                .unwrap_or_else(|| panic!("{} is not an nsfs mount", pin.path.display()));
            pin.inum = pin_inum(&pin.path);
            assert_eq!(
                root,
                format!("{}:[{}]", pin.kind, pin.inum),
                "mountinfo and stat disagree on {}",
                pin.path.display()
            );
            pin.id = pin_ns_id(&pin.path);
        }
        assert_ne!(pins.inum("net"), host_net, "the pinned netns is the host's");
        pins
    }

    pub fn get(&self, kind: &str) -> &PinTruth {
        self.pins
            .iter()
            .find(|p| p.kind == kind)
            .unwrap_or_else(|| panic!("no {kind} pin"))
    }

    pub fn inum(&self, kind: &str) -> u64 {
        self.get(kind).inum
    }

    pub fn path(&self, kind: &str) -> PathBuf {
        self.get(kind).path.clone()
    }

    /// CRI-O at pod removal: unmount each pin (MNT_DETACH) and remove its
    /// file, in pinns' order; checks our mountinfo no longer has them.
    pub fn remove(&mut self) {
        for pin in &mut self.pins {
            if pin.removed.is_some() {
                continue;
            }
            let (r, w) = Window::around(|| umount_detach(&pin.path));
            r.unwrap_or_else(|e| panic!("{e}"));
            pin.removed = Some(w);
            fs::remove_file(&pin.path)
                .unwrap_or_else(|e| panic!("remove {}: {e}", pin.path.display()));
            assert!(
                nsfs_mount_in("self", &pin.path).is_none(),
                "{} still mounted after umount",
                pin.path.display()
            );
        }
    }
}

impl Drop for Pins {
    fn drop(&mut self) {
        for pin in &self.pins {
            if pin.removed.is_none() {
                if nsfs_mount_in("self", &pin.path).is_some()
                    && let Err(e) = umount_detach(&pin.path)
                {
                    eprintln!("cleanup: {e}");
                }
                let _ = fs::remove_file(&pin.path);
            }
        }
    }
}

// ---- runc -------------------------------------------------------------------

/// What a bundle runs and which namespaces it joins by path (`/proc/<pid>/ns`
/// names: `net`, `ipc`, `uts`, `pid`); every other pod kind is made anew.
#[derive(Clone, Debug)]
pub struct Spec {
    pub args: Vec<String>,
    pub join: Vec<(&'static str, PathBuf)>,
    /// `sandbox` (the infra) or `container`, as CRI-O's annotations say.
    pub role: &'static str,
    pub name: String,
}

impl Spec {
    pub fn new(name: &str, role: &'static str, args: &[&str]) -> Spec {
        Spec {
            args: args.iter().map(|a| (*a).to_string()).collect(),
            join: Vec::new(),
            role,
            name: name.to_string(),
        }
    }

    pub fn joining(mut self, kind: &'static str, path: PathBuf) -> Spec {
        self.join.push((kind, path));
        self
    }
}

/// OCI type of a `/proc/<pid>/ns` name.
fn oci_type(kind: &str) -> &str {
    match kind {
        "net" => "network",
        "mnt" => "mount",
        other => other,
    }
}

/// A container as ground truth.
#[derive(Clone, Debug)]
pub struct CtrTruth {
    pub name: String,
    pub id: String,
    pub pid: u32,
    pub argv: Vec<String>,
    /// `/proc/<pid>/ns` while it ran.
    pub ns: BTreeMap<String, u64>,
    /// From the runtime's first step (`runc create`/`run`) to its pid known.
    pub started: Window,
    /// From when it could first exit (its sleep done, or the kill sent) to
    /// when the runtime saw it gone.
    pub exited: Window,
    /// Shell-style exit status (code, or 128 + signal).
    pub exit: i32,
}

/// A container started in the foreground (`runc run`), as conmon would
/// hold it: its status comes back when it exits.
pub struct Running {
    pub name: String,
    pub id: String,
    pub pid: u32,
    pub argv: Vec<String>,
    pub ns: BTreeMap<String, u64>,
    pub started: Window,
    child: Option<Child>,
    err_file: PathBuf,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// runc with its own state root, cgroups under a CRI-O-like pod parent
/// (`/kubepods/besteffort/pod<uid>/crio-<id>`, cgroupfs driver).
pub struct Runc {
    root: PathBuf,
    bundles: PathBuf,
    rootfs: PathBuf,
    pub pod_uid: String,
    pub sandbox_id: String,
    /// Created and not yet deleted: deleted (forcibly) on drop.
    live: Vec<String>,
}

impl Runc {
    pub fn new(scratch: &Path) -> Runc {
        let root = scratch.join("runc");
        let bundles = scratch.join("bundles");
        for d in [&root, &bundles] {
            fs::create_dir_all(d).unwrap_or_else(|e| panic!("create {}: {e}", d.display()));
        }
        Runc {
            root,
            bundles,
            rootfs: make_rootfs(scratch),
            pod_uid: uuid(),
            sandbox_id: hex_id(),
            live: Vec::new(),
        }
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new("runc");
        c.arg("--root").arg(&self.root);
        c
    }

    fn cgroup_parent(&self) -> String {
        format!("/kubepods/besteffort/pod{}", self.pod_uid)
    }

    /// Write `<bundles>/<id>/config.json` for `spec`.
    fn bundle(&self, id: &str, spec: &Spec) -> PathBuf {
        let dir = self.bundles.join(id);
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        let mut namespaces = vec![json!({"type": "pid"}), json!({"type": "mount"})];
        for kind in PIN_KINDS {
            match spec.join.iter().find(|(k, _)| *k == kind) {
                Some((_, p)) => namespaces.push(json!({"type": oci_type(kind), "path": p})),
                None => namespaces.push(json!({"type": oci_type(kind)})),
            }
        }
        if let Some((_, p)) = spec.join.iter().find(|(k, _)| *k == "pid") {
            namespaces[0] = json!({"type": "pid", "path": p});
        }
        let caps = ["CAP_KILL", "CAP_NET_BIND_SERVICE"];
        let config = json!({
            "ociVersion": "1.0.2",
            "process": {
                "terminal": false,
                "user": {"uid": 0, "gid": 0},
                "args": spec.args,
                "env": ["PATH=/bin"],
                "cwd": "/",
                "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
                "noNewPrivileges": true
            },
            "root": {"path": self.rootfs, "readonly": true},
            "mounts": [
                {"destination": "/proc", "type": "proc", "source": "proc"},
                {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
                 "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
                {"destination": "/sys", "type": "sysfs", "source": "sysfs",
                 "options": ["nosuid", "noexec", "nodev", "ro"]}
            ],
            "annotations": {
                "io.kubernetes.cri-o.ContainerType": spec.role,
                "io.kubernetes.cri-o.SandboxID": self.sandbox_id,
                "io.kubernetes.container.name": spec.name,
                "io.kubernetes.pod.name": "tracer-crio-way",
                "io.kubernetes.pod.namespace": "tracer-tests",
                "io.kubernetes.pod.uid": self.pod_uid
            },
            "linux": {
                "cgroupsPath": format!("{}/crio-{id}", self.cgroup_parent()),
                "namespaces": namespaces,
                "maskedPaths": ["/proc/kcore", "/proc/keys", "/sys/firmware"],
                "readonlyPaths": ["/proc/sys", "/proc/sysrq-trigger"]
            }
        });
        let text = serde_json::to_string_pretty(&config).expect("config.json serialises");
        fs::write(dir.join("config.json"), text)
            .unwrap_or_else(|e| panic!("write {}/config.json: {e}", dir.display()));
        dir
    }

    /// `runc state ID` as JSON.
    pub fn state(&self, id: &str) -> Value {
        let out = run_ok(self.cmd().args(["state", id]));
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("runc state {id}: {e}: {out}"))
    }

    fn status(&self, id: &str) -> String {
        self.state(id)["status"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Check what the container really joined: pod kinds by path are the
    /// pins', mnt and pid its own.
    fn namespaces_of(pid: u32, spec: &Spec) -> BTreeMap<String, u64> {
        let ns = ns_map(pid).unwrap_or_else(|e| panic!("namespaces of {pid}: {e}"));
        for (kind, path) in &spec.join {
            assert_eq!(
                ns[*kind],
                pin_inum(path),
                "pid {pid} is not in {} of {}",
                kind,
                path.display()
            );
        }
        let host_mnt = ns_inum("self", "mnt").expect("our mnt ns");
        assert_ne!(ns["mnt"], host_mnt, "pid {pid} shares our mount namespace");
        ns
    }

    /// CRI-O's infra container: `runc create` (stage 1 joins the paths,
    /// unshares the rest, stage 2 waits) then `runc start` (exec).
    pub fn create_and_start(&mut self, spec: &Spec) -> Running {
        let id = hex_id();
        let bundle = self.bundle(&id, spec);
        let err_file = bundle.join("runc.err");
        let (pid, started) = Window::around(|| {
            let err = fs::File::create(&err_file).expect("create runc.err");
            self.live.push(id.clone());
            let st = self
                .cmd()
                .args(["create", "--bundle"])
                .arg(&bundle)
                .arg(&id)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(err)
                .status()
                .expect("run runc create");
            assert!(st.success(), "runc create: {}", read_lossy(&err_file));
            run_ok(self.cmd().args(["start", &id]));
            let pid = self.state(&id)["pid"]
                .as_u64()
                .and_then(|p| u32::try_from(p).ok())
                .unwrap_or_else(|| panic!("runc state {id} has no pid"));
            // Exec'd: its comm is no more runc's.
            wait_for("the infra to exec", Duration::from_secs(5), || {
                let comm = fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
                (!comm.starts_with("runc")).then_some(())
            });
            pid
        });
        Running {
            name: spec.name.clone(),
            id,
            pid,
            argv: spec.args.clone(),
            ns: Self::namespaces_of(pid, spec),
            started,
            child: None,
            err_file,
        }
    }

    /// A container as `runc run --pid-file` in the foreground; returns once
    /// its pid is known (it is running its entrypoint).
    pub fn run(&mut self, spec: &Spec) -> Running {
        let id = hex_id();
        let bundle = self.bundle(&id, spec);
        let err_file = bundle.join("runc.err");
        let pid_file = bundle.join("pid");
        let ((child, pid), started) = Window::around(|| {
            let err = fs::File::create(&err_file).expect("create runc.err");
            self.live.push(id.clone());
            let mut child = self
                .cmd()
                .args(["run", "--bundle"])
                .arg(&bundle)
                .arg("--pid-file")
                .arg(&pid_file)
                .arg(&id)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(err)
                .spawn()
                .expect("spawn runc run");
            let pid = wait_for("runc run's pid file", Duration::from_secs(10), || {
                if let Ok(Some(st)) = child.try_wait() {
                    panic!("runc run exited early ({st}): {}", read_lossy(&err_file));
                }
                fs::read_to_string(&pid_file)
                    .ok()?
                    .trim()
                    .parse::<u32>()
                    .ok()
            });
            (child, pid)
        });
        let ns = Self::namespaces_of(pid, spec);
        Running {
            name: spec.name.clone(),
            id,
            pid,
            argv: spec.args.clone(),
            ns,
            started,
            child: Some(child),
            err_file,
        }
    }

    /// Wait for a foreground container to exit by itself; `earliest` is when
    /// it could first have exited.
    pub fn wait_exit(&mut self, mut r: Running, earliest: u64) -> CtrTruth {
        let mut child = r.child.take().expect("a foreground container");
        let st = child.wait().expect("wait for runc run");
        let to_ns = boot_ns();
        let exit = st
            .code()
            .unwrap_or_else(|| panic!("runc run killed: {st}: {}", read_lossy(&r.err_file)));
        self.forget(&r.id);
        CtrTruth {
            name: r.name.clone(),
            id: r.id.clone(),
            pid: r.pid,
            argv: r.argv.clone(),
            ns: r.ns.clone(),
            started: r.started,
            exited: Window {
                from_ns: earliest,
                to_ns,
            },
            exit,
        }
    }

    /// `runc kill ID SIG`, then wait until it is gone (foreground: runc run
    /// returns its status; the infra: `runc state` says stopped).
    /// `exit_if_detached` is the status a detached one exits with (our
    /// pause: 0 on SIGTERM), as nobody here is its parent.
    pub fn kill(&mut self, mut r: Running, sig: &str, exit_if_detached: i32) -> CtrTruth {
        let from_ns = boot_ns();
        run_ok(self.cmd().args(["kill", &r.id, sig]));
        let exit = match r.child.take() {
            Some(mut child) => {
                let st = child.wait().expect("wait for runc run");
                self.forget(&r.id);
                st.code()
                    .unwrap_or_else(|| panic!("runc run killed: {st}: {}", read_lossy(&r.err_file)))
            }
            None => {
                wait_for("the container to stop", Duration::from_secs(10), || {
                    (self.status(&r.id) == "stopped").then_some(())
                });
                self.delete(&r.id);
                exit_if_detached
            }
        };
        let to_ns = boot_ns();
        CtrTruth {
            name: r.name.clone(),
            id: r.id.clone(),
            pid: r.pid,
            argv: r.argv.clone(),
            ns: r.ns.clone(),
            started: r.started,
            exited: Window { from_ns, to_ns },
            exit,
        }
    }

    /// `runc delete ID` (stopped containers only).
    pub fn delete(&mut self, id: &str) {
        run_ok(self.cmd().args(["delete", id]));
        self.forget(id);
    }

    /// `runc run` in the foreground deletes its container itself once it exits.
    fn forget(&mut self, id: &str) {
        self.live.retain(|l| l != id);
    }
}

fn read_lossy(p: &Path) -> String {
    let mut s = String::new();
    if let Ok(mut f) = fs::File::open(p) {
        let _ = f.read_to_string(&mut s);
    }
    s
}

impl Drop for Runc {
    fn drop(&mut self) {
        for id in std::mem::take(&mut self.live) {
            let _ = self.cmd().args(["kill", &id, "KILL"]).output();
            match self.cmd().args(["delete", "--force", &id]).output() {
                Ok(o) if o.status.success() => {}
                Ok(o) => eprintln!(
                    "cleanup: runc delete --force {id}: {}",
                    String::from_utf8_lossy(&o.stderr)
                ),
                Err(e) => eprintln!("cleanup: runc delete --force {id}: {e}"),
            }
        }
        // runc removes the containers' cgroups; the pod's parent is ours.
        let parent = self.cgroup_parent();
        if let Ok(dirs) = fs::read_dir("/sys/fs/cgroup") {
            for d in dirs.flatten() {
                let p = d.path().join(parent.trim_start_matches('/'));
                if p.exists()
                    && let Err(e) = fs::remove_dir(&p)
                {
                    eprintln!("cleanup: rmdir {}: {e}", p.display());
                }
            }
        }
    }
}

// ---- the CRI-O pod ------------------------------------------------------------

/// With or without an infra container (`drop_infra_ctr = true` is CRI-O's default).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Infra {
    None,
    Pause,
}

/// The order of the pod's two containers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    /// An init container's order: the short one runs and exits, then the long one.
    ShortFirst,
    /// The long one runs; the short one starts and exits while it runs.
    Overlapping,
}

/// How long the short container lives (`sleep`), and how long the long one
/// runs before the pod is stopped.
pub const SHORT_S: &str = "0.3";
const SHORT_NS: u64 = 300_000_000;
const LONG_HOLD: Duration = Duration::from_millis(800);
/// Between the pod's last task gone and the pins' unmount: CNI DEL and the
/// runtime's bookkeeping take this long or more on a real node, and it
/// keeps "ended at the last exit" and "ended at the unmount" apart.
pub const REMOVE_GAP: Duration = Duration::from_millis(300);

/// A CRI-O pod: pins, maybe an infra, containers. Fields drop in order:
/// containers, then pins, then the directory.
pub struct CrioPod {
    pub runc: Runc,
    pub pins: Pins,
    pub infra: Option<Running>,
    _scratch: Scratch,
}

/// Ground truth of a whole CRI-O pod's life.
#[derive(Debug)]
pub struct CrioPodTruth {
    pub pod_uid: String,
    /// The `unshare` that made the namespaces.
    pub creator_pid: u32,
    pub created: Window,
    pub pins: Vec<PinTruth>,
    pub infra: Option<CtrTruth>,
    /// In the order they started.
    pub containers: Vec<CtrTruth>,
    /// Our mount namespace (the host's, where the pins live).
    pub host_mnt: u64,
    /// Our pid: who unmounted the pins.
    pub remover_pid: u32,
}

impl CrioPodTruth {
    pub fn pin(&self, kind: &str) -> &PinTruth {
        self.pins
            .iter()
            .find(|p| p.kind == kind)
            .unwrap_or_else(|| panic!("no {kind} pin"))
    }

    /// Pins made → last pin removed.
    pub fn last_removed(&self) -> Window {
        self.pins
            .iter()
            .filter_map(|p| p.removed)
            .max_by_key(|w| w.from_ns)
            .expect("the pins were removed")
    }
}

impl CrioPod {
    /// RunPodSandbox: pins, then (with an infra) the pause joining them.
    pub fn new(infra: Infra) -> CrioPod {
        let scratch = Scratch::new();
        let pins = Pins::create(&scratch.dir);
        let mut runc = Runc::new(&scratch.dir);
        let infra = (infra == Infra::Pause).then(|| {
            let spec = Self::joining_pins(&pins, Spec::new("POD", "sandbox", &["/pause"]));
            runc.create_and_start(&spec)
        });
        CrioPod {
            runc,
            pins,
            infra,
            _scratch: scratch,
        }
    }

    fn joining_pins(pins: &Pins, mut spec: Spec) -> Spec {
        for kind in PIN_KINDS {
            spec = spec.joining(kind, pins.path(kind));
        }
        spec
    }

    /// A container joining the pins (CRI-O gives containers the pin paths
    /// whether or not there is an infra), own mnt and pid.
    pub fn container(&self, name: &str, args: &[&str]) -> Spec {
        Self::joining_pins(&self.pins, Spec::new(name, "container", args))
    }

    pub fn pause_pid(&self) -> Option<u32> {
        self.infra.as_ref().map(|r| r.pid)
    }

    /// StopPodSandbox + RemovePodSandbox: the infra gets SIGTERM (our
    /// pause exits 0), then, [`REMOVE_GAP`] later, the pins are unmounted
    /// and removed.
    pub fn stop_and_remove(mut self, containers: Vec<CtrTruth>) -> CrioPodTruth {
        let infra = self.infra.take().map(|r| self.runc.kill(r, "TERM", 0));
        thread::sleep(REMOVE_GAP);
        self.pins.remove();
        CrioPodTruth {
            pod_uid: self.runc.pod_uid.clone(),
            creator_pid: self.pins.creator_pid,
            created: self.pins.created,
            pins: self.pins.pins.clone(),
            infra,
            containers,
            host_mnt: ns_inum("self", "mnt").expect("our mnt ns"),
            remover_pid: std::process::id(),
        }
    }
}

/// A whole CRI-O pod with two containers in the given order.
pub fn crio_pod(infra: Infra, order: Order) -> CrioPodTruth {
    let mut pod = CrioPod::new(infra);
    let short = pod.container("init", &["/bin/sleep", SHORT_S]);
    let long = pod.container("app", &["/bin/sleep", "30"]);
    let containers = match order {
        Order::ShortFirst => {
            let r = pod.runc.run(&short);
            let earliest = r.started.from_ns + SHORT_NS;
            let a = pod.runc.wait_exit(r, earliest);
            let r = pod.runc.run(&long);
            thread::sleep(LONG_HOLD);
            let b = pod.runc.kill(r, "KILL", 137);
            vec![a, b]
        }
        Order::Overlapping => {
            let rb = pod.runc.run(&long);
            let ra = pod.runc.run(&short);
            let earliest = ra.started.from_ns + SHORT_NS;
            let a = pod.runc.wait_exit(ra, earliest);
            thread::sleep(LONG_HOLD / 2);
            let b = pod.runc.kill(rb, "KILL", 137);
            vec![b, a]
        }
    };
    pod.stop_and_remove(containers)
}
